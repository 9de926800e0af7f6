/*
 * Floors of two other designs of the fingerprint's hash-only path, timed in
 * one run with fp_compute() and libpg_query's pg_query_fingerprint() over a
 * corpus (contrib/bench/fp_floor.sh; doc/fingerprint.md, "Speed"). Not
 * fingerprints: each skeleton does only part of what a fingerprint needs,
 * so its time is a lower bound for a complete version of its design.
 *
 *   token      a token-at-a-time lexer that takes token boundaries from bit
 *              masks of 64 bytes (SSE2) instead of scanning each token; every
 *              token hashed as format 2 hashes it (word hash and keyword
 *              lookup, one running mix a token); no normalizer rule (no list
 *              collapsing, statement heads, aliases, unary minus), comments
 *              skipped without nesting, no E'' escapes nor dollar quotes.
 *   stream     no token loop (AVX-512 VBMI2, skipped on other machines): 64
 *              bytes at a time are classified, blanks squeezed to one,
 *              strings, numbers and $n replaced by one byte, the rest folded
 *              to lower case and compressed (vpcompressb) into a canonical
 *              stream, hashed 32 bytes at a time in four lanes. Nothing of
 *              the normalizer, nor the rule that keeps a blank only between
 *              two words, nor quotes inside "..", E'' escapes, comments.
 *   stream+kw  the same, and every word looked up in the keyword table, as
 *              the normalizer's rules need.
 *
 * The statements are those of CORPUS that libpg_query parses (as for
 * test/oracle/run.sh --bench).
 *
 *   fp_floor CORPUS [TRIALS]         best and median of interleaved trials
 *   fp_floor CORPUS --only NAME N    N passes of one (or "none"), untimed,
 *                                    for valgrind --tool=callgrind
 */
#define _GNU_SOURCE /* memmem */
#include "analyzer/fingerprint.h"
#include "analyzer/fp_lex.h"
#include "bench_clock.h"

#include <pg_query.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define V_SEED 0x5047534946540002ULL
#define V_CONST 0x165667b19e3779f9ULL
#define V_OP 0xd6e8feb86659fd93ULL

/* ---- token: bit masks of 64 bytes, one token at a time ---- */

struct block {
	uint64_t id, nonblank; /* a bit per byte at base */
	const char *p;         /* the 64 bytes (the input, or pad) */
	size_t base;
	char lw[64] __attribute__((aligned(16)));  /* the bytes in lower case */
	char pad[80] __attribute__((aligned(16))); /* the last bytes, zero-padded */
};

static inline void classify(struct block *b, const char *s, size_t len, size_t base)
{
	const char *p = s + base;
	uint64_t valid = ~0ULL, id = 0, blank = 0;
	if (len - base < 64) {
		memset(b->pad, 0, sizeof b->pad);
		memcpy(b->pad, p, len - base);
		p = b->pad;
		valid = (1ULL << (len - base)) - 1;
	}
	b->p = p;
	b->base = base;
	for (int k = 0; k < 4; k++) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k)), alpha;
		__m128i idv = fp_ident16(x, &alpha);
		__m128i bl = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(' ')), FP_RANGE16(x, 9, 13));
		_mm_store_si128((__m128i *)(void *)(b->lw + 16 * k), fp_lower16(x, alpha));
		id |= (uint64_t)(unsigned)_mm_movemask_epi8(idv) << (16 * k);
		blank |= (uint64_t)(unsigned)_mm_movemask_epi8(bl) << (16 * k);
	}
	b->id = id;
	b->nonblank = ~blank & valid;
}

/* to the end of a '...' string (with '') whose body starts at i */
static size_t skip_string(const char *s, size_t len, size_t i)
{
	for (;;) {
		const char *q = memchr(s + i, '\'', len - i);
		if (!q)
			return len;
		i = (size_t)(q - s) + 1;
		if (i >= len || s[i] != '\'')
			return i;
		i++;
	}
}

static uint64_t floor_token(const char *s, size_t len)
{
	struct block b;
	uint64_t h = V_SEED;
	size_t pos = 0;
	if (!len)
		return h;
	classify(&b, s, len, 0);
	for (;;) {
		size_t rel = pos - b.base;
		if (rel >= 48) { /* 16 bytes ahead at least: a word of up to 15 */
			if (pos >= len)
				break;
			classify(&b, s, len, pos);
			rel = 0;
		}
		uint64_t m = b.nonblank >> rel;
		if (!m) {
			pos = b.base + 64;
			if (pos >= len)
				break;
			continue;
		}
		rel += (size_t)__builtin_ctzll(m);
		pos = b.base + rel;
		unsigned char c = (unsigned char)b.p[rel];
		struct fp_word w;
		unsigned k;
		switch (fp_cstart[c]) {
		case CS_PREFIX:
		case CS_WORD:
			k = (unsigned)__builtin_ctzll(~(b.id >> rel));
			if (k > FP_HASH_MAX) {
				pos = fp_word_long(s, pos, len, &w);
			} else {
				fp_hash_lowered(b.lw + rel, k, &w);
				pos += k;
			}
			h = fp_mix(h, w.h ^ w.kw);
			break;
		case CS_DIGIT:
			pos += (unsigned)__builtin_ctzll(~(b.id >> rel));
			if (pos < len && s[pos] == '.')
				for (pos++; pos < len && IS(s[pos], C_IDCONT);)
					pos++;
			h = fp_mix(h, V_CONST);
			break;
		case CS_QUOTE:
			pos = skip_string(s, len, pos + 1);
			h = fp_mix(h, V_CONST);
			break;
		case CS_DQUOTE: {
			const char *q = memchr(s + pos + 1, '"', len - pos - 1);
			size_t e = q ? (size_t)(q - s) : len;
			k = (unsigned)(e - pos - 1);
			if (k > 0 && k <= FP_HASH_MAX && rel + 1 + k < 64) {
				fp_hash_lowered(b.lw + rel + 1, k, &w);
				h = fp_mix(h, w.h);
			} else {
				h = fp_mix(h, fp_fnv(FNV_OFF, s + pos, e - pos));
			}
			pos = e + 1;
			break;
		}
		case CS_SLOW:
			if (c == '$' && pos + 1 < len && IS(s[pos + 1], C_DIGIT)) {
				for (pos += 2; pos < len && IS(s[pos], C_DIGIT);)
					pos++;
				h = fp_mix(h, V_CONST);
				break;
			}
			if (c == '-' && pos + 1 < len && s[pos + 1] == '-') {
				const char *q = memchr(s + pos, '\n', len - pos);
				pos = q ? (size_t)(q - s) : len;
				break;
			}
			if (c == '/' && pos + 1 < len && s[pos + 1] == '*') {
				const char *q = memmem(s + pos + 2, len - pos - 2, "*/", 2);
				pos = q ? (size_t)(q - s) + 2 : len;
				break;
			}
			h = fp_mix(h, V_OP ^ c);
			pos++;
			break;
		case CS_COLON:
			if (pos + 1 < len && s[pos + 1] == ':') {
				h = fp_mix(h, V_OP ^ ':');
				pos += 2;
				break;
			}
			/* fallthrough */
		default:
			h = fp_mix(h, V_OP ^ c);
			pos++;
			break;
		}
	}
	return h;
}

/* ---- stream: no token loop (AVX-512 VBMI2) ---- */

#define STREAM_TARGET __attribute__((target("avx512f,avx512bw,avx512vbmi2,pclmul,bmi,bmi2,popcnt")))

/* bit i: the parity of the set bits of q at or below i */
STREAM_TARGET static inline uint64_t prefix_xor(uint64_t q)
{
	__m128i r = _mm_clmulepi64_si128(_mm_set_epi64x(0, (long long)q), _mm_set1_epi8((char)0xff), 0);
	return (uint64_t)_mm_cvtsi128_si64(r);
}

STREAM_TARGET static uint64_t stream(const char *s, size_t len, int kw)
{
	uint8_t buf[160] __attribute__((aligned(64)));
	size_t olen = 0;
	uint64_t h0 = V_SEED, h1 = 0x9e3779b97f4a7c15ULL, h2 = 0xc2b2ae3d27d4eb4fULL, h3 = V_CONST;
	uint64_t in_s = 0, in_d = 0, last_id = 0, last_blank = 1; /* carried from the 64 bytes before */
	const __m512i lc = _mm512_set1_epi8(0x20);
	for (size_t base = 0; base < len; base += 64) {
		size_t r = len - base;
		__mmask64 valid = r >= 64 ? ~0ULL : (1ULL << r) - 1;
		__m512i x = _mm512_maskz_loadu_epi8(valid, s + base);
		__m512i l = _mm512_or_si512(x, lc);
		uint64_t alpha = _mm512_cmp_epu8_mask(_mm512_sub_epi8(l, _mm512_set1_epi8('a')), _mm512_set1_epi8(25),
						      _MM_CMPINT_LE);
		uint64_t digit = _mm512_cmp_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8('0')), _mm512_set1_epi8(9),
						      _MM_CMPINT_LE);
		uint64_t dollar = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('$'));
		uint64_t id = alpha | digit | dollar | _mm512_movepi8_mask(x) |
			      _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('_'));
		uint64_t blank = (_mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8(' ')) |
				  _mm512_cmp_epu8_mask(_mm512_sub_epi8(x, _mm512_set1_epi8(9)), _mm512_set1_epi8(4),
						       _MM_CMPINT_LE)) &
				 valid;
		uint64_t q = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('\''));
		uint64_t dq = _mm512_cmpeq_epi8_mask(x, _mm512_set1_epi8('"'));
		/* '...': the opening quote stays (as the placeholder), the
		 * body and the closing quote go, and so does the quote of ''
		 * that reopens a string */
		uint64_t S = prefix_xor(q) ^ (0 - in_s), D = prefix_xor(dq) ^ (0 - in_d);
		in_s = S >> 63;
		in_d = D >> 63;
		uint64_t qopen = q & S, qclose = q & ~S;
		uint64_t body = (S & ~qopen) | qclose | (qopen & (qclose << 1));
		uint64_t quoted = D | dq | S | qclose;
		/* a number or $n at a token start: its first byte stays */
		uint64_t idp = (id << 1) | last_id;
		last_id = id >> 63;
		uint64_t start = ((digit & ~idp) | (dollar & ~idp & (digit >> 1))) & ~quoted;
		uint64_t number = ((id + start) ^ id) & id & ~start;
		uint64_t blankp = (blank << 1) | last_blank;
		last_blank = blank >> 63;
		uint64_t keep = valid & ~(body | number | (blank & blankp & ~quoted));
		__m512i c = _mm512_mask_mov_epi8(x, alpha & ~(D | dq), l);
		c = _mm512_mask_mov_epi8(c, start | qopen, _mm512_set1_epi8(1));
		c = _mm512_mask_mov_epi8(c, blank & ~quoted, lc);
		if (kw) {
			uint64_t word = id & ~idp & ~start & ~quoted & alpha;
			uint64_t wend = id & ~(id >> 1); /* the last byte of each run */
			uint8_t lw[72] __attribute__((aligned(64)));
			_mm512_store_si512(lw, c);
			memset(lw + 64, 0, 8);
			unsigned acts = 0;
			while (word) {
				unsigned i = (unsigned)__builtin_ctzll(word);
				word &= word - 1;
				unsigned k = (unsigned)__builtin_ctzll((wend >> i) | (1ULL << (63 - i))) + 1;
				uint64_t w8;
				memcpy(&w8, lw + i, 8);
				if (k < 8)
					w8 &= fp_low_bytes[k];
				acts |= fp_kw_short_h(fp_word_short(k, w8), w8);
			}
			h0 ^= acts;
		}
		_mm512_storeu_si512(buf + olen, _mm512_maskz_compress_epi8(keep, c));
		olen += (size_t)__builtin_popcountll(keep);
		size_t j = 0;
		for (; j + 32 <= olen; j += 32) {
			uint64_t a, b, cc, d;
			memcpy(&a, buf + j, 8);
			memcpy(&b, buf + j + 8, 8);
			memcpy(&cc, buf + j + 16, 8);
			memcpy(&d, buf + j + 24, 8);
			h0 = fp_mix(h0, a);
			h1 = fp_mix(h1, b);
			h2 = fp_mix(h2, cc);
			h3 = fp_mix(h3, d);
		}
		if (j) {
			memmove(buf, buf + j, olen - j);
			olen -= j;
		}
	}
	for (size_t j = 0; j < olen; j += 8) {
		uint64_t a = 0;
		memcpy(&a, buf + j, olen - j < 8 ? olen - j : 8);
		h0 = fp_mix(h0, a);
	}
	return fp_mix(fp_mix(fp_mix(h0, h1), h2), h3 ^ len);
}

static uint64_t floor_stream(const char *s, size_t len)
{
	return stream(s, len, 0);
}

static uint64_t floor_stream_kw(const char *s, size_t len)
{
	return stream(s, len, 1);
}

/* ---- the contenders, timed alike ---- */

static uint64_t pgsift(const char *s, size_t len)
{
	static struct fp_result r;
	fp_compute(s, len, FP_OPT_NO_TEXT | FP_OPT_NO_TAG, &r);
	return r.hash;
}

static uint64_t libpg_query(const char *s, size_t len)
{
	(void)len; /* the statements are NUL-terminated copies */
	PgQueryFingerprintResult r = pg_query_fingerprint(s);
	uint64_t h = r.fingerprint;
	pg_query_free_fingerprint_result(r);
	return h;
}

static uint64_t none(const char *s, size_t len)
{
	(void)s;
	return len;
}

struct contender {
	const char *name, *what;
	uint64_t (*fn)(const char *, size_t);
	bool avx512;
	int passes; /* over the corpus, a trial */
	double t[201];
};

static struct contender all[] = {
	{"pgsift", "fp_compute(), hash only (format 2, the module)", pgsift, false, 10, {0}},
	{"token", "token floor: bit-mask lexer, no normalizer rule", floor_token, false, 10, {0}},
	{"stream", "stream floor: no token loop, no keyword lookup", floor_stream, true, 10, {0}},
	{"stream+kw", "stream floor with a keyword lookup a word", floor_stream_kw, true, 10, {0}},
	{"libpg_query", "pg_query_fingerprint()", libpg_query, false, 1, {0}},
	{"none", "the loop alone", none, false, 10, {0}},
};
#define NALL (sizeof all / sizeof all[0])

#define MAXSTMT 20000
static char *sq[MAXSTMT];
static size_t sl[MAXSTMT];
static size_t n;
static unsigned long long sink;

static void passes(const struct contender *c, int k)
{
	for (int p = 0; p < k; p++)
		for (size_t i = 0; i < n; i++)
			sink += c->fn(sq[i], sl[i]);
}

static bool load(const char *path)
{
	FILE *f = fopen(path, "rb");
	long sz;
	char *buf;
	size_t pos = 0, off, len;
	if (!f || fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
		return false;
	buf = malloc((size_t)sz + 1);
	if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
		fclose(f);
		free(buf);
		return false;
	}
	fclose(f);
	while (n < MAXSTMT && fp_next_statement(buf, (size_t)sz, &pos, &off, &len)) {
		sq[n] = malloc(len + 1);
		if (!sq[n])
			return false;
		memcpy(sq[n], buf + off, len);
		sq[n][len] = 0;
		/* as test/oracle/run.sh --bench: only what libpg_query parses */
		PgQueryFingerprintResult r = pg_query_fingerprint(sq[n]);
		if (r.error)
			free(sq[n]);
		else
			sl[n++] = len;
		pg_query_free_fingerprint_result(r);
	}
	free(buf);
	return n > 0;
}

int main(int argc, char **argv)
{
	bool avx512 = false;
	int trials = 21;
#if defined(__x86_64__)
	__builtin_cpu_init();
	avx512 = __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vbmi2");
#endif
	if (argc < 2 || !load(argv[1])) {
		fprintf(stderr, "usage: fp_floor CORPUS [TRIALS] | CORPUS --only NAME PASSES\n");
		return 2;
	}
	if (argc == 5 && strcmp(argv[2], "--only") == 0) {
		for (size_t k = 0; k < NALL; k++)
			if (strcmp(all[k].name, argv[3]) == 0 && (avx512 || !all[k].avx512)) {
				passes(&all[k], atoi(argv[4]));
				printf("%s: %zu statements (sink %llx)\n", all[k].name, n, sink & 0xf);
				return 0;
			}
		fprintf(stderr, "fp_floor: no contender %s on this machine\n", argv[3]);
		return 2;
	}
	if (argc >= 3)
		trials = atoi(argv[2]);
	if (trials < 1 || trials > 201) {
		fprintf(stderr, "fp_floor: TRIALS from 1 to 201\n");
		return 2;
	}
	for (int t = 0; t < trials; t++)
		for (size_t k = 0; k < NALL; k++) {
			if (all[k].avx512 && !avx512)
				continue;
			double t0 = now_ns();
			passes(&all[k], all[k].passes);
			all[k].t[t] = (now_ns() - t0) / ((double)all[k].passes * (double)n);
		}
	for (size_t k = 0; k < NALL; k++)
		qsort(all[k].t, (size_t)trials, sizeof(double), cmp_double);
	double lib = all[NALL - 2].t[0], libm = all[NALL - 2].t[trials / 2];
	printf("%zu statements; best (median) of %d interleaved trials, thread CPU time\n", n, trials);
	printf("%-12s %9s %9s %9s  %s\n", "", "ns/stmt", "median", "x libpg", "");
	for (size_t k = 0; k + 1 < NALL; k++) {
		if (all[k].avx512 && !avx512) {
			printf("%-12s %9s %9s %9s  %s (needs AVX-512 VBMI2)\n", all[k].name, "-", "-", "-", all[k].what);
			continue;
		}
		printf("%-12s %9.1f %9.1f %8.1fx  %s (medians %.1fx)\n", all[k].name, all[k].t[0],
		       all[k].t[trials / 2], lib / all[k].t[0], all[k].what, libm / all[k].t[trials / 2]);
	}
	printf("(sink %llx)\n", sink & 0xf);
	return 0;
}
