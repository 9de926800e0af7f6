/*
 * fp_skel: the key of a statement's text up to the values of its literals;
 * see fp_skel_key() in fingerprint.h.
 *
 * The key hashes the text as a sequence of gaps (the bytes between two
 * literals, as they are) and literals (only their class, number or
 * string), every gap with its length, so two texts have the same key (up
 * to a 64-bit collision) exactly when they differ only inside literals.
 * Such texts fingerprint the same: the lexer (fp_lex.c) makes one constant
 * of each literal whatever its value, and the normalizer looks at a
 * constant's class only. The scanner here is fp_lex's lexer reduced to
 * what decides where a literal starts and ends; what it does not follow
 * exactly (comments, dollar quotes, prefixed strings and names, numbers with a '.',
 * an exponent or a base, an unterminated quote) makes it give up: the
 * caller then fingerprints the text.
 */
#include "analyzer/fingerprint.h"

#include "analyzer/fp_lex.h"

#define SK_SEED 0x536b656c65746f6eULL /* "Skeleton" */
#define SK_LITS 0x4c69746572616c73ULL /* "Literals" */
#define SK_CHUNK 0xa0761d6478bd642fULL
#define SK_MARK 0xe7037ed1a0b428dbULL
#define SK_NUMBER 1
#define SK_STRING 2

/* The 128-bit product of a and b, folded: one multiplication for 16 bytes
 * (wyhash's mix) */
static inline uint64_t sk_mum(uint64_t a, uint64_t b)
{
#if defined(__SIZEOF_INT128__)
	__uint128_t p = (__uint128_t)a * b;
	return (uint64_t)p ^ (uint64_t)(p >> 64);
#else
	uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
	uint64_t lo = (ll & 0xffffffffu) | mid << 32;
	uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	return lo ^ hi;
#endif
}

/* A chunk of k bytes (1..16), lo and hi its first and second 8 bytes
 * (zero past k): its length goes in, so chunks are told apart */
static inline uint64_t sk_chunk(uint64_t h, uint64_t lo, uint64_t hi, size_t k)
{
	return sk_mum(lo ^ h, hi ^ (SK_CHUNK + k));
}

static inline uint64_t sk_mix(uint64_t h, uint64_t w)
{
	h = (h ^ w) * 0xff51afd7ed558ccdULL;
	return h ^ (h >> 32);
}

/* Bits of the bytes among the 16 at v that the scanner must look at:
 * digits, quotes, '$', '-' and '/' */
static inline unsigned sk_special16(const char *v)
{
#if defined(__SSE2__)
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	__m128i m = FP_RANGE16(x, '/', '9'); /* '/' and the digits */
	m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\'')), _mm_cmpeq_epi8(x, _mm_set1_epi8('"'))));
	m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('$')), _mm_cmpeq_epi8(x, _mm_set1_epi8('-'))));
	return (unsigned)_mm_movemask_epi8(m);
#else
	unsigned m = 0;
	for (unsigned k = 0; k < 16; k++) {
		unsigned char c = (unsigned char)v[k];
		m |= (unsigned)(IS(c, C_DIGIT) || c == '\'' || c == '"' || c == '$' || c == '-' || c == '/') << k;
	}
	return m;
#endif
}

/* The end of the run of digits at s[i] */
static inline size_t sk_digits(const char *s, size_t i, size_t n)
{
	while (i < n && IS(s[i], C_DIGIT))
		i++;
	return i;
}

/* sk_digits() of a run that starts at s[i], 16 bytes at a time, or 8 near
 * the end of the text */
static inline size_t sk_digits16(const char *s, size_t i, size_t n)
{
#if defined(__SSE2__)
	while (n - i >= 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		unsigned m = ~(unsigned)_mm_movemask_epi8(FP_RANGE16(x, '0', '9'));
		if (m & 0xffff)
			return i + (unsigned)__builtin_ctz(m);
		i += 16;
	}
#endif
	while (i < n) {
		/* a byte is a digit when (byte ^ '0') < 10: the high bit of each
		 * byte of nd is set for the others (no carry crosses a byte) */
		uint64_t y = fp_load_upto(s, i, n) ^ (0x30 * ONES), nd;
		size_t k = n - i < 8 ? n - i : 8;
		nd = (((y & ~HIGHS) + 0x76 * ONES) | y) & HIGHS;
		nd |= ~fp_low_bytes[k] & HIGHS; /* past the text: no digit */
		if (nd)
			return i + ((unsigned)__builtin_ctzll(nd) >> 3);
		i += 8;
	}
	return n;
}

/* The end of the quoted run that starts at s[i] (a quote q), with doubled
 * quotes inside; 0 when it does not end. */
static inline size_t sk_quoted(const char *s, size_t i, size_t n, char q)
{
	for (i++; i < n;) {
		const char *e = memchr(s + i, q, n - i);
		if (!e)
			return 0;
		i = (size_t)(e - s) + 1;
		if (i >= n || s[i] != q)
			return i;
		i++;
	}
	return 0;
}

/* What the byte at p (flagged by sk_special16()) starts: a literal (its
 * class, *end its end), or 0 for bytes that stay in the gap (*end: the end
 * of those looked at); -1 for a text fp_skel_key() does not take. */
static inline int sk_special(const char *s, size_t p, size_t n, size_t *end)
{
	unsigned char c = (unsigned char)s[p], prev = p ? (unsigned char)s[p - 1] : ' ';

	if (IS(c, C_DIGIT)) {
		*end = sk_digits(s, p + 1, n);
		if (IS(prev, C_IDCONT)) /* inside a name, or $n */
			return 0;
		/* 1.5, 1e5, 0x1F, 1_000, 5abc: fp_lex's other number rules */
		return *end < n && (IS(s[*end], C_IDCONT) || s[*end] == '.') ? -1 : SK_NUMBER;
	}
	if (c == '\'') /* E'' B'' X'' N'' U&'': other rules for the body */
		return IS(prev, C_IDCONT) || prev == '&' || !(*end = sk_quoted(s, p, n, '\'')) ? -1 : SK_STRING;
	if (c == '"') /* a name (U&"": its UESCAPE '!' is part of it) */
		return prev == '&' || !(*end = sk_quoted(s, p, n, '"')) ? -1 : 0;
	*end = p + 1;
	if (c == '$') /* $n, or a '$' inside a name; else a dollar quote */
		return IS(prev, C_IDCONT) || (p + 1 < n && IS(s[p + 1], C_DIGIT)) ? 0 : -1;
	/* '-' or '/': an operator, unless a comment starts */
	return p + 1 < n && s[p + 1] == (c == '-' ? '-' : '*') ? -1 : 0;
}

/* The k bytes at s + w (k <= 16, w + k <= n) as two words, zero-padded;
 * reads nothing outside s[0..n) */
static inline void sk_words(const char *s, size_t w, size_t k, size_t n, uint64_t *lo, uint64_t *hi)
{
	if (n - w >= 16) {
		memcpy(lo, s + w, 8);
		memcpy(hi, s + w + 8, 8);
		*lo = fp_le64(*lo);
		*hi = fp_le64(*hi);
		if (k < 16) {
			*lo &= fp_low_bytes[k < 8 ? k : 8];
			*hi &= k > 8 ? fp_low_bytes[k - 8] : 0;
		}
		return;
	}
	*lo = fp_load_upto(s, w, w + k);
	*hi = k > 8 ? fp_load_upto(s, w + 8, w + k) : 0;
}

/* lits, fp_skel_key()'s hash of the literals, with the literal s[a..b) */
static inline uint64_t sk_lit(uint64_t h, const char *s, size_t a, size_t b)
{
	uint64_t lo, hi;

	if (b - a <= 8) /* most numbers: one word */
		return sk_chunk(h, fp_load_upto(s, a, b), 0, b - a);
	for (; b - a > 16; a += 16) {
		sk_words(s, a, 16, b, &lo, &hi);
		h = sk_chunk(h, lo, hi, 16);
	}
	sk_words(s, a, b - a, b, &lo, &hi);
	return sk_chunk(h, lo, hi, b - a);
}

/* The text is hashed in chunks of 16 bytes from the start of each gap
 * (and a shorter one before a literal and at the end), a literal as its
 * class: where a chunk ends depends on the gap's bytes only, so texts that
 * differ only inside literals are hashed alike. */
bool fp_skel_key(const char *s, size_t n, uint64_t *key, uint64_t *lits, struct fp_lits *at)
{
	uint64_t h = SK_SEED, lh = SK_LITS, lo, hi;
	size_t w = 0, from = 0; /* the window s[w..w+16); bytes before from are looked at */

	if (at) {
		if (n > UINT16_MAX)
			return false;
		at->n = 0;
		at->strings = 0;
	}

	while (w < n) {
		size_t k = n - w, end = 0;
		unsigned m;
		int cls = 0;
		if (k >= 16) {
			k = 16;
			m = sk_special16(s + w);
		} else if (n >= 16) { /* the last 16 bytes, those before w shifted out */
			m = sk_special16(s + n - 16) >> (16 - k);
		} else {
			char tail[16] __attribute__((aligned(16))) = { 0 }; /* a zero byte is not special */
			fp_copy16(tail, s, w, n);
			m = sk_special16(tail);
		}
		if (from > w)
			m &= ~0u << (from - w); /* from - w < 16 */
		while (m) {
			size_t p = w + (unsigned)__builtin_ctz(m);
			if ((cls = sk_special(s, p, n, &end)) != 0) {
				if (cls < 0)
					return false;
				k = p - w; /* the gap's bytes before the literal */
				break;
			}
			from = end;
			m = end - w >= 16 ? 0 : m & (~0u << (end - w));
		}
		if (k) {
			sk_words(s, w, k, n, &lo, &hi);
			h = sk_chunk(h, lo, hi, k);
		}
		if (cls) {
			if (at) {
				if (at->n == FP_LITS_MAX)
					return false;
				at->off[at->n] = (uint16_t)(w + k);
				at->len[at->n] = (uint16_t)(end - (w + k));
				at->strings |= (uint32_t)(cls == SK_STRING) << at->n;
				at->n++;
			}
			h = sk_mix(h, SK_MARK + (unsigned)cls);
			lh = sk_lit(lh, s, w + k, end);
			w = from = end;
			continue;
		}
		/* windows inside a name looked at whole */
		for (w += 16; from > w && from - w >= 16; w += 16) {
			sk_words(s, w, 16, n, &lo, &hi);
			h = sk_chunk(h, lo, hi, 16);
		}
	}
	*key = sk_mix(h, SK_SEED);
	*lits = lh;
	return true;
}

bool fp_skel_same(const char *a, size_t alen, const struct fp_lits *at, const char *b, size_t blen, uint64_t *lits)
{
	uint64_t lh = SK_LITS;
	size_t pa = 0, pb = 0, end;

	for (unsigned i = 0; i < at->n; i++) {
		size_t gap = at->off[i] - pa;
		/* the same bytes up to the literal, then a literal of its class */
		if (blen - pb <= gap || memcmp(a + pa, b + pb, gap) != 0)
			return false;
		pb += gap;
		if (at->strings & (1u << i)) {
			if (b[pb] != '\'' || !(end = sk_quoted(b, pb, blen, '\'')))
				return false;
		} else {
			if (!IS(b[pb], C_DIGIT))
				return false;
			end = sk_digits16(b, pb, blen);
		}
		/* what follows is compared as the next gap: a byte that would have
		 * made a's literal end elsewhere, or no literal at all, differs */
		if (lits)
			lh = sk_lit(lh, b, pb, end);
		pa = at->off[i] + at->len[i];
		pb = end;
	}
	if (alen - pa != blen - pb || memcmp(a + pa, b + pb, alen - pa) != 0)
		return false;
	if (lits)
		*lits = lh;
	return true;
}

/* Bits of the digits and quotes among the 16 bytes at v */
static inline unsigned sk_digit_quote16(const char *v)
{
#if defined(__SSE2__)
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	return (unsigned)_mm_movemask_epi8(_mm_or_si128(FP_RANGE16(x, '0', '9'), _mm_cmpeq_epi8(x, _mm_set1_epi8('\''))));
#else
	unsigned m = 0;
	for (unsigned k = 0; k < 16; k++)
		m |= (unsigned)(IS(v[k], C_DIGIT) || v[k] == '\'') << k;
	return m;
#endif
}

uint64_t fp_skel_prefix(const char *s, size_t n)
{
	uint64_t h = SK_SEED, lo, hi;
	size_t i = 0, left;
	char tail[16] __attribute__((aligned(16)));
	const char *v;
	unsigned m, k;

	for (;; i += 16) {
		if (i >= FP_SKEL_PREFIX || i >= n)
			return sk_mix(h, i);
		left = n - i;
		v = s + i;
		if (left < 16) {
			memset(tail, 0, sizeof(tail)); /* a zero byte is neither */
			fp_copy16(tail, s, i, n);
			v = tail;
		}
		memcpy(&lo, v, 8);
		memcpy(&hi, v + 8, 8);
		lo = fp_le64(lo);
		hi = fp_le64(hi);
		m = sk_digit_quote16(v);
		if (m || left <= 16)
			break;
		h = sk_chunk(h, lo, hi, 16);
	}
	k = m ? (unsigned)__builtin_ctz(m) : (unsigned)left;
	if (k < 16) {
		lo &= fp_low_bytes[k < 8 ? k : 8];
		hi &= k > 8 ? fp_low_bytes[k - 8] : 0;
	}
	return sk_chunk(h, lo, hi, i + k);
}
