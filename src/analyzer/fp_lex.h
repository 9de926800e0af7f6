/*
 * fp_lex: the lexer of the fingerprint module (internal header, used by
 * fingerprint.c and its tests only). PostgreSQL's lexical rules (scan.l):
 * character classes, tokens, the keywords the normalizer acts on, and the
 * word and operator hashes that the fingerprint is built from.
 *
 * The tokens every statement is made of (blanks, words, punctuation, short
 * operators) are lexed by fp_lex_next(), inline, so that the normalizer's
 * loop makes no call for them; strings, numbers, comments, dollar quotes
 * and longer operators go through fp_lex_slow() in fp_lex.c.
 *
 * Nothing outside s[0..len) is read; a token cut by the end of the input
 * ends there and sets partial.
 */
#ifndef PGSIFT_FP_LEX_H
#define PGSIFT_FP_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#define FP_LIKELY(x) __builtin_expect(!!(x), 1)
#define FP_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- character classes ---- */

enum { C_SPACE = 1, C_NL = 2, C_IDSTART = 4, C_IDCONT = 8, C_DIGIT = 16, C_OP = 32, C_NUMX = 64 };
/* C_NUMX: . _ e E, which may continue a number */
extern const uint8_t fp_cclass[256];
#define IS(c, cls) (fp_cclass[(unsigned char)(c)] & (cls))

/* What a byte starts: fp_lex_next()'s dispatch, and the normalizer's. */
enum {
	CS_OTHER,  /* a one-byte operator: \ { } and control bytes */
	CS_SPACE,
	CS_WORD,   /* letters, _, bytes >= 0x80 */
	CS_PREFIX, /* e b x n u: a word, or E'' B'' X'' N'' U&'' U&"" */
	CS_OPEN,   /* ( [ */
	CS_CLOSE,  /* ) ] */
	CS_COMMA,
	CS_SEMI,
	CS_DOT,
	CS_COLON,
	CS_OP,     /* operator characters other than - and / */
	CS_DIGIT,
	CS_QUOTE,  /* ' */
	CS_DQUOTE, /* " */
	CS_SLOW,   /* $ - /: fp_lex_slow() */
};

/* The class of every byte, once, as designated initializers: X(OTHER) is
 * CS_OTHER in fp_cstart[] and a label in the normalizer's jump table. Every
 * byte is listed (no entry may be left out: the jump table has no default). */
#define FP_CSTART(X)                                                                                  \
	[0x00 ... 0x08] = X(OTHER), [0x09 ... 0x0d] = X(SPACE), [0x0e ... 0x1f] = X(OTHER),           \
	[' '] = X(SPACE), ['!'] = X(OP), ['"'] = X(DQUOTE), ['#'] = X(OP), ['$'] = X(SLOW),           \
	['%'] = X(OP), ['&'] = X(OP), ['\''] = X(QUOTE), ['('] = X(OPEN), [')'] = X(CLOSE),            \
	['*'] = X(OP), ['+'] = X(OP), [','] = X(COMMA), ['-'] = X(SLOW), ['.'] = X(DOT),              \
	['/'] = X(SLOW), ['0' ... '9'] = X(DIGIT), [':'] = X(COLON), [';'] = X(SEMI),                 \
	['<' ... '@'] = X(OP), ['A'] = X(WORD), ['B'] = X(PREFIX), ['C' ... 'D'] = X(WORD),           \
	['E'] = X(PREFIX), ['F' ... 'M'] = X(WORD), ['N'] = X(PREFIX), ['O' ... 'T'] = X(WORD),       \
	['U'] = X(PREFIX), ['V' ... 'W'] = X(WORD), ['X'] = X(PREFIX), ['Y' ... 'Z'] = X(WORD),       \
	['['] = X(OPEN), ['\\'] = X(OTHER), [']'] = X(CLOSE), ['^'] = X(OP), ['_'] = X(WORD),         \
	['`'] = X(OP), ['a'] = X(WORD), ['b'] = X(PREFIX), ['c' ... 'd'] = X(WORD),                   \
	['e'] = X(PREFIX), ['f' ... 'm'] = X(WORD), ['n'] = X(PREFIX), ['o' ... 't'] = X(WORD),       \
	['u'] = X(PREFIX), ['v' ... 'w'] = X(WORD), ['x'] = X(PREFIX), ['y' ... 'z'] = X(WORD),       \
	['{'] = X(OTHER), ['|'] = X(OP), ['}'] = X(OTHER), ['~'] = X(OP), [0x7f] = X(OTHER),          \
	[0x80 ... 0xff] = X(WORD)
#define FP_CS_VALUE(k) CS_##k
extern const uint8_t fp_cstart[256];

static inline unsigned char fp_lower(unsigned char c)
{
	return (unsigned char)(c + (((unsigned)(c - 'A') < 26u) << 5));
}

/* s[0..n) equals the lower-case word w, ignoring ASCII case */
static inline bool fp_word_eq(const char *s, const char *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (fp_lower((unsigned char)s[i]) != (unsigned char)w[i])
			return false;
	return true;
}

/* A byte of a quoted identifier as the display text shows it, and as it is
 * hashed, so that the text fingerprints as the statement does: blanks
 * become a space, other control bytes '?' (the text stays one line). */
static inline unsigned char fp_safe_byte(unsigned char c)
{
	return IS(c, C_SPACE) ? ' ' : (c < 0x20 || c == 0x7f) ? '?' : c;
}

/* value of a hex digit, or -1 */
static inline int fp_hexval(unsigned char c)
{
	if (IS(c, C_DIGIT))
		return c - '0';
	c = fp_lower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* ---- hashing ---- */

#define FNV_OFF 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL
#define V_WORD 0x9ae16a3b2f90404fULL
#define V_QIDENT 0xc2b2ae3d27d4eb4fULL

/* One step of the token-stream hash: a bijection of h for a fixed v, and
 * of v for a fixed h. */
static inline uint64_t fp_mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}

static inline uint64_t fp_fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

/* Byte i of the input at bits 8i..8i+7 whatever the machine's byte order,
 * so that words hash (and fingerprints come out) the same everywhere. */
static inline uint64_t fp_le64(uint64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(x);
#else
	return x;
#endif
}

static inline uint32_t fp_le32(uint32_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap32(x);
#else
	return x;
#endif
}

static inline uint16_t fp_le16(uint16_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap16(x);
#else
	return x;
#endif
}

/* fp_low_bytes[n]: the low n bytes of a 64-bit word set (a load, not a
 * variable shift: a word's bytes packed without the ones after it) */
extern const uint64_t fp_low_bytes[9];

#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

/* ASCII upper case to lower case in 8 bytes at once; other bytes unchanged */
static inline uint64_t fp_swar_lower(uint64_t x)
{
	uint64_t h = x & ~HIGHS;
	uint64_t ge_a = h + 0x3f * ONES; /* high bit: byte >= 'A' */
	uint64_t gt_z = h + 0x25 * ONES; /* high bit: byte > 'Z' */
	return x | ((ge_a & ~gt_z & ~x & HIGHS) >> 2);
}

/* High bit of each byte of x that may continue an identifier:
 * [A-Za-z0-9_$] and bytes >= 0x80. No carry crosses a byte. */
static inline uint64_t fp_swar_ident(uint64_t x)
{
	uint64_t y = x & ~HIGHS, l = y | 0x20 * ONES;
	uint64_t alpha = (l + 0x1f * ONES) & ~(l + 0x05 * ONES);  /* 'a' <= l <= 'z' */
	uint64_t digit = (y + 0x50 * ONES) & ~(y + 0x46 * ONES);  /* '0' <= y <= '9' */
	uint64_t under = ~((y ^ 0x5f * ONES) + 0x7f * ONES);      /* y == '_' */
	uint64_t dollar = ~((y ^ 0x24 * ONES) + 0x7f * ONES);     /* y == '$' */
	return (x | alpha | digit | under | dollar) & HIGHS;
}

/* The 8 bytes s[i..i+8) packed little-endian, those at or past len as 0.
 * Near the end of an input of 8 bytes or more, the last 8 bytes are read
 * and shifted: nothing outside s[0..len) is read, without a byte loop. */
static inline uint64_t fp_load_upto(const char *s, size_t i, size_t len)
{
	uint64_t x = 0;
	if (FP_LIKELY(len - i >= 8)) {
		memcpy(&x, s + i, 8);
		return fp_le64(x);
	}
	if (i >= len)
		return 0;
	if (len >= 8) {
		memcpy(&x, s + len - 8, 8);
		return fp_le64(x) >> (8 * (8 - (len - i)));
	}
	/* 1 to 7 bytes: two loads that may overlap (the same bytes then) */
	size_t r = len - i;
	if (r >= 4) {
		uint32_t a, b;
		memcpy(&a, s + i, 4);
		memcpy(&b, s + len - 4, 4);
		return fp_le32(a) | (uint64_t)fp_le32(b) << (8 * (r - 4));
	}
	if (r >= 2) {
		uint16_t a, b;
		memcpy(&a, s + i, 2);
		memcpy(&b, s + len - 2, 2);
		return fp_le16(a) | (uint64_t)fp_le16(b) << (8 * (r - 2));
	}
	return (unsigned char)s[i];
}

/* Lower-case bytes s[0..n) packed little-endian, n <= 8; reads nothing at
 * or past end. */
static inline uint64_t fp_load8(const char *s, size_t n, const char *end)
{
	uint64_t x = 0;
	if (end - s >= 8) {
		memcpy(&x, s, 8);
		x = fp_le64(x);
		if (n < 8)
			x &= (1ULL << (8 * n)) - 1;
	} else {
		for (size_t k = 0; k < n; k++)
			x |= (uint64_t)(unsigned char)s[k] << (8 * k);
	}
	return fp_swar_lower(x);
}

/*
 * The hash of a word of n bytes folded to lower case, from its bytes packed
 * 8 at a time (c0, c1, ...; the last one zero-padded): a word of up to 8
 * bytes is mix(V_WORD ^ n, c0), one step; a longer one is mix(... mix(
 * mix(V_WORD, c0), c1) ..., n), so that it is hashed while it is scanned.
 * Words have no NUL byte, so (n, c0) is one-to-one with the short words.
 */
static inline uint64_t fp_word_short(size_t n, uint64_t c0)
{
	return fp_mix(V_WORD ^ n, c0);
}

/* fp_word_short() or the long form of s[0..n); *first gets c0 (the
 * keyword lookup key). end: the end of the input. */
uint64_t fp_word_hash(const char *s, size_t n, const char *end, uint64_t *first);


/* ---- keywords: only the words the normalizer treats specially ---- */

#define KF_EXPR 0x100     /* an expression may follow: "-" after it is unary */
#define KF_PSPACE 0x200   /* display "kw (" rather than "fn(" */
#define KF_RESERVED 0x400 /* reserved: "kw" quoted is not the same as kw bare */
#define KF_ACT 0x800      /* the normalizer acts on it past the statement head */
#define KF_SEL 0x1000     /* starts a select or RETURNING list */
#define KF_ENDSEL 0x2000  /* a clause that ends a select list */
/* a word the normalizer treats specially anywhere in a statement (the
 * others matter only in the first words, when step_slow() looks at them) */
#define KW_ACTS(id) \
	((id) == KW_TRUE || (id) == KW_FALSE || (id) == KW_NULL || (id) == KW_DEFAULT || (id) == KW_IN || \
	 (id) == KW_VALUES || (id) == KW_ARRAY || (id) == KW_WITH || (id) == KW_AS)
#define KWV(id, flags) ((unsigned)(id) | (unsigned)(flags) | (KW_ACTS(id) ? KF_ACT : 0))
#define KW_ID(v) ((v)&0xff)

enum kw_id {
	KW_NONE, KW_OTHER, KW_TRUE, KW_FALSE, KW_NULL, KW_DEFAULT, KW_IN, KW_VALUES, KW_ARRAY,
	KW_SELECT, KW_TABLE, KW_INSERT, KW_UPDATE, KW_DELETE, KW_MERGE, KW_WITH, KW_COPY, KW_CREATE,
	KW_ALTER, KW_DROP, KW_TRUNCATE, KW_COMMENT, KW_GRANT, KW_REVOKE, KW_REINDEX, KW_REFRESH,
	KW_SECURITY, KW_IMPORT, KW_BEGIN, KW_START, KW_COMMIT, KW_END, KW_ROLLBACK, KW_ABORT,
	KW_SAVEPOINT, KW_RELEASE, KW_PREPARE, KW_EXECUTE, KW_DEALLOCATE, KW_DECLARE, KW_FETCH,
	KW_MOVE, KW_CLOSE, KW_SET, KW_RESET, KW_DISCARD, KW_LISTEN, KW_UNLISTEN, KW_NOTIFY, KW_TO,
	KW_ALL, KW_TRANSACTION, KW_WORK, KW_NEXT, KW_PRIOR, KW_FIRST, KW_LAST, KW_ABSOLUTE,
	KW_RELATIVE, KW_FORWARD, KW_BACKWARD, KW_FROM, KW_FUNCTION, KW_PROCEDURE, KW_OR, KW_REPLACE,
	KW_CASE, KW_AS,
};

/* One keyword: its first and second 8 bytes, packed as fp_load8() does and
 * zero-padded. */
struct fp_kw {
	uint64_t first, second;
	uint16_t val; /* KWV() */
	uint8_t n;
	const char *word;
};

#include "analyzer/fingerprint_kw.h"

extern const struct fp_kw fp_kw_ents[KW_COUNT + 1]; /* [0]: matches nothing */
extern const uint8_t fp_kw_index[1 << KW_BITS];

/* The only keyword a word whose fp_word_hash() is wh can be: a perfect hash
 * on the hash the lexer computes anyway (see fingerprint_kwgen.py). */
static inline const struct fp_kw *fp_kw_slot(uint64_t wh)
{
	return &fp_kw_ents[fp_kw_index[(wh >> KW_SHIFT) & ((1u << KW_BITS) - 1)]];
}

/* KWV() of a word of up to 7 bytes, lower case in first, hash wh: the zero
 * bytes that pad first give its length (a word has no NUL byte), and a
 * keyword of 8 bytes or more has none, so one comparison decides. */
static inline unsigned fp_kw_short_h(uint64_t wh, uint64_t first)
{
	const struct fp_kw *e = fp_kw_slot(wh);
	return e->first == first ? e->val : 0;
}

/* KWV() of a word of 8 to 16 bytes whose first and second 8 bytes, lower
 * case and zero-padded, are first and second; hash wh. */
static inline unsigned fp_kw_mid_h(uint64_t wh, size_t n, uint64_t first, uint64_t second)
{
	const struct fp_kw *e = fp_kw_slot(wh);
	return (e->n == n && e->first == first && e->second == second) ? e->val : 0;
}

/* KWV() of the word s[0..n) whose hash is wh and first 8 bytes, lower
 * case, are first; 0 if it is not a keyword. */
static inline unsigned fp_kw_lookup_h(uint64_t wh, const char *s, size_t n, uint64_t first)
{
	if (n > KW_MAXLEN)
		return 0;
	uint64_t second = n > 8 ? fp_load8(s + 8, n < 16 ? n - 8 : 8, s + n) : 0;
	const struct fp_kw *e = fp_kw_slot(wh);
	if (e->n != n || e->first != first || e->second != second)
		return 0;
	if (n > 16 && !fp_word_eq(s + 16, e->word + 16, n - 16))
		return 0;
	return e->val;
}

/* fp_kw_lookup_h() and fp_kw_short_h() for a word not hashed yet */
static inline unsigned fp_kw_lookup(const char *s, size_t n, uint64_t first)
{
	return fp_kw_lookup_h(fp_word_hash(s, n, s + n, &first), s, n, first);
}

static inline unsigned fp_kw_short(uint64_t first)
{
	size_t n = 0;
	while (n < 8 && (first >> (8 * n)) & 0xff)
		n++;
	return fp_kw_short_h(fp_word_short(n, first), first);
}


/* ---- the normalized text (fingerprint.h: fp_result.text) ---- */

/* What the last displayed token was, for spacing. */
enum { D_NONE, D_WORD, D_CLOSE, D_CONST, D_OTHER };
enum { M_RAW, M_FOLD, M_SAFE }; /* a token shown as is, in lower case, fp_safe_byte() */

struct fp_text {
	char *buf;    /* fp_result.text */
	size_t cap;   /* bytes usable: FP_TEXT_MAX - 1, or 0 for no text */
	size_t len;   /* logical length */
	size_t valid; /* bytes of it in buf (a prefix, at a token boundary) */
	uint8_t last; /* D_* */
};

/* Appends the token s[0..k) with the single space that separates it from
 * the previous one, unless punctuation glues them; cls: D_* of the token.
 * M_FOLD: a word, whose lower-case first 8 bytes are first (end: the end
 * of the input). A token that does not fit is dropped, and so is everything
 * after it. */
void fp_text_show(struct fp_text *t, const char *s, size_t k, int mode, uint8_t cls, uint64_t first,
		  const char *end);

/* Appends the placeholder $nparams */
void fp_text_param(struct fp_text *t, unsigned nparams);

/* ---- tokens ---- */

enum tok_type {
	TK_EOF,
	TK_WORD,   /* unquoted identifier or keyword */
	TK_QIDENT, /* "quoted" or U&"quoted" identifier */
	TK_CONST,  /* any string, number, dollar-quoted body, $n */
	TK_OP,     /* operators and stray characters */
	TK_OPEN,   /* ( [ */
	TK_CLOSE,  /* ) ] */
	TK_COMMA,
	TK_SEMI,
	TK_DOT,
	TK_CAST, /* :: */
};

struct fp_lex {
	const char *s;
	size_t len;
	bool partial;
	bool have_tag;
	size_t tag_off, tag_len;
	/* the current token; type and kw are the previous token's until
	 * fp_lex_next() returns (a "-" after an operand is binary) */
	enum tok_type type;
	size_t start, end;
	/* words: fp_word_hash(); TK_OP: FNV of the text; TK_QIDENT: the
	 * word's hash if "name" is the same as name, else V_QIDENT ^ FNV */
	uint64_t h;
	uint64_t first; /* words: first 8 bytes in lower case */
	unsigned kw;    /* words: KWV() or 0; other tokens: stale */
};

static inline void fp_lex_init(struct fp_lex *lx, const char *s, size_t len, size_t pos)
{
	lx->s = s;
	lx->len = len;
	lx->end = pos; /* where the next token is looked for */
	lx->partial = false;
	lx->have_tag = false;
	lx->tag_off = lx->tag_len = 0;
	lx->type = TK_EOF;
	lx->kw = 0;
}

/* Lexes the token at i whose first byte is not handled inline (and comments
 * and blanks before the next token). */
void fp_lex_slow(struct fp_lex *lx, size_t i);

/* psql's rule for SQL-standard function bodies, for the statement
 * splitter: after CREATE [OR REPLACE] FUNCTION|PROCEDURE, BEGIN ... END
 * (CASE ... END inside) holds ';'. Start zeroed; feed every token with
 * fp_lex_atomic(); a ';' splits only while begin_depth is 0. */
struct fp_atomic {
	unsigned nwords, paren;
	int begin_depth;
	bool create_fn;
	unsigned first[4];
};

void fp_lex_atomic(struct fp_atomic *a, const struct fp_lex *lx);

struct fp_result;

/* Sets the tag of *out from the first comment's inside s[0..k): trimmed,
 * control bytes as ' ', cut at FP_TAG_MAX - 1 (FP_TAG_TRUNCATED), and the
 * sqlcommenter (key='value') or marginalia (key:value) pairs in it. */
void fp_lex_tag(const char *s, size_t k, struct fp_result *out);

/* The index after the '...' string or "..." identifier whose body starts
 * at i (after the quote); partial is set if it does not end. */
size_t fp_lex_string(struct fp_lex *lx, size_t i);
size_t fp_lex_qident(struct fp_lex *lx, size_t i);

/* A scanned word: what fp_word_hash() and fp_kw_lookup() give for it. */
struct fp_word {
	uint64_t first; /* the first 8 bytes in lower case, zero-padded */
	uint64_t h;     /* fp_word_hash() */
	unsigned kw;    /* KWV() or 0 */
};

/* A word of 8 bytes or more, or near the end of the input, at i: sets *w
 * and returns its end. */
size_t fp_word_long(const char *s, size_t i, size_t len, struct fp_word *w);

#if defined(__SSE2__)
/* The first n bytes of v, the others zero (n <= 16) */
static inline __m128i fp_keep16(__m128i v, unsigned n)
{
	static const uint8_t ones[32] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	};
	return _mm_and_si128(v, _mm_loadu_si128((const __m128i *)(const void *)(ones + 16 - n)));
}

/* x + a < b, bytewise, signed: with a = 0x80 - lo, b = (hi - lo + 1) - 128,
 * the bytes in [lo, hi] */
#define FP_RANGE16(x, lo, hi)                                                         \
	_mm_cmplt_epi8(_mm_add_epi8((x), _mm_set1_epi8((char)(0x80 - (lo)))),         \
		       _mm_set1_epi8((char)((hi) - (lo) + 1 - 128)))

/* The bytes of x that may continue an identifier ([A-Za-z0-9_$] and bytes
 * >= 0x80) as 0xff; *alpha gets the letters. */
static inline __m128i fp_ident16(__m128i x, __m128i *alpha)
{
	*alpha = FP_RANGE16(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z');
	__m128i id = _mm_or_si128(_mm_or_si128(*alpha, FP_RANGE16(x, '0', '9')), _mm_cmplt_epi8(x, _mm_setzero_si128()));
	return _mm_or_si128(id, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('_')), _mm_cmpeq_epi8(x, _mm_set1_epi8('$'))));
}

/* x in lower case, given its letters */
static inline __m128i fp_lower16(__m128i x, __m128i alpha)
{
	return _mm_or_si128(x, _mm_and_si128(alpha, _mm_set1_epi8(0x20)));
}

/* *w for the word whose n bytes, 8 <= n < 16, lower case, are v (the bytes
 * of v past n are zero) */
static inline void fp_word16(__m128i v, unsigned n, struct fp_word *w)
{
	uint64_t c0 = fp_le64((uint64_t)_mm_cvtsi128_si64(v));
	uint64_t c1 = fp_le64((uint64_t)_mm_cvtsi128_si64(_mm_srli_si128(v, 8)));
	w->first = c0;
	w->h = n == 8 ? fp_word_short(8, c0) : fp_mix(fp_mix(fp_mix(V_WORD, c0), c1), n);
	w->kw = fp_kw_mid_h(w->h, n, c0, c1);
}
#endif

/* ---- scanners: the common tokens, from a view of the input ----
 * A scanner reads 16 bytes (17 for a quoted identifier) at v, a view of the
 * input at the token: s + i itself, or, near the end of the input, a copy
 * of the last bytes followed by zeros. A zero byte ends every token they
 * scan, so none has a case for the end of the input. Each returns the
 * token's length, or 0 when it is not the common case (the general lexer
 * then takes it from its start). */

#define FP_VIEW_MAX 17 /* bytes a scanner reads */

/* The last bytes of the input, s[base..len), at most 16, zero-padded. */
struct fp_tail {
	char buf[48] __attribute__((aligned(16)));
	size_t base;
};

/* Copies s[from..len), at most 16 bytes, to buf (zeroed) without a byte
 * loop: two loads that may overlap. */
static inline void fp_copy16(char *buf, const char *s, size_t from, size_t len)
{
	size_t r = len - from;
	s += from;
	if (r >= 8) {
		memcpy(buf, s, 8);
		memcpy(buf + r - 8, s + r - 8, 8);
	} else if (r >= 4) {
		memcpy(buf, s, 4);
		memcpy(buf + r - 4, s + r - 4, 4);
	} else if (r >= 2) {
		memcpy(buf, s, 2);
		memcpy(buf + r - 2, s + r - 2, 2);
	} else if (r) {
		buf[0] = s[0];
	}
}

static inline void fp_tail_init(struct fp_tail *t, const char *s, size_t len)
{
	memset(t->buf, 0, sizeof t->buf);
	t->base = len > 16 ? len - 16 : 0;
	fp_copy16(t->buf, s, t->base, len);
}

/* s + i when need (<= FP_VIEW_MAX) bytes are there, else the tail's copy */
static inline const char *fp_view(const char *s, size_t len, const struct fp_tail *t, size_t i, size_t need)
{
	return FP_LIKELY(len - i >= need) ? s + i : t->buf + (i - t->base);
}

/* The bytes classified at once (fp_scan_word()'s *idm), and the longest
 * word fp_hash_word() takes */
#if defined(__SSE2__)
#define FP_WORD_WIN 16
#define FP_HASH_MAX 15
#else
#define FP_WORD_WIN 8
#define FP_HASH_MAX 7
#endif

/* *w for the word of n bytes at v, 0 < n <= FP_HASH_MAX */
static inline __attribute__((always_inline)) void fp_hash_word(const char *v, unsigned n, struct fp_word *w)
{
	uint64_t first;
#if defined(__SSE2__)
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	x = fp_lower16(x, FP_RANGE16(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 'z'));
	if (FP_UNLIKELY(n >= 8)) {
		fp_word16(fp_keep16(x, n), n, w);
		return;
	}
	first = fp_le64((uint64_t)_mm_cvtsi128_si64(x)) & fp_low_bytes[n]; /* the bytes past the word out */
#else
	memcpy(&first, v, 8);
	first = fp_swar_lower(fp_le64(first) & ((1ULL << (8 * n)) - 1));
#endif
	w->first = first;
	w->h = fp_word_short(n, first);
	w->kw = fp_kw_short_h(w->h, first);
}

#if defined(__SSE2__)
/* *w for the word of n bytes at lv, 0 < n < 16, already in lower case,
 * from a window that fp_scan_word() or fp_ident_run16w() stored (lv + 16
 * bytes are readable; the bytes past the word are not looked at) */
static inline __attribute__((always_inline)) void fp_hash_lowered(const char *lv, unsigned n, struct fp_word *w)
{
	uint64_t c0;
	memcpy(&c0, lv, 8);
	c0 = fp_le64(c0);
	if (FP_UNLIKELY(n >= 8)) {
		uint64_t c1 = 0;
		if (n > 8) {
			memcpy(&c1, lv + 8, 8);
			c1 = fp_le64(c1) & fp_low_bytes[n - 8]; /* the bytes past the word out */
		}
		w->first = c0;
		w->h = n == 8 ? fp_word_short(8, c0) : fp_mix(fp_mix(fp_mix(V_WORD, c0), c1), n);
		w->kw = fp_kw_mid_h(w->h, n, c0, c1);
		return;
	}
	c0 &= fp_low_bytes[n];
	w->first = c0;
	w->h = fp_word_short(n, c0);
	w->kw = fp_kw_short_h(w->h, c0);
}
#endif

/* The word at v (v[0] starts an identifier): sets *w and returns its
 * length; 0 for a word of 16 bytes or more (8 without SSE2): fp_word_long().
 * *idm gets a bit per byte of v that may continue an identifier (16 bits;
 * 8 without SSE2: FP_WORD_WIN), and with SSE2 lw[0..16) (16-byte aligned)
 * the 16 bytes in lower case, so that a word that starts among them is
 * found and hashed without reading them again (fp_hash_lowered()). Inline,
 * so that *w stays in registers. */
static inline __attribute__((always_inline)) unsigned fp_scan_word(const char *v, struct fp_word *w, unsigned *idm,
								     char *lw)
{
	unsigned n;
#if defined(__SSE2__)
	__m128i alpha, x = _mm_loadu_si128((const __m128i *)(const void *)v);
	*idm = (unsigned)_mm_movemask_epi8(fp_ident16(x, &alpha));
	n = (unsigned)__builtin_ctz(~*idm);
	x = fp_lower16(x, alpha);
	_mm_store_si128((__m128i *)(void *)lw, x);
	if (FP_UNLIKELY(n == 16))
		return 0;
	if (FP_UNLIKELY(n >= 8)) {
		fp_word16(fp_keep16(x, n), n, w);
		return n;
	}
	uint64_t first = fp_le64((uint64_t)_mm_cvtsi128_si64(x)) & fp_low_bytes[n]; /* the bytes past the word out */
	w->first = first;
	w->h = fp_word_short(n, first);
	w->kw = fp_kw_short_h(w->h, first);
#else
	uint64_t x;
	(void)lw;
	memcpy(&x, v, 8);
	x = fp_le64(x);
	uint64_t id = fp_swar_ident(x);
	uint64_t stop = ~id & HIGHS;
	/* the high bit of each byte to one bit: no carry crosses */
	*idm = (unsigned)(((id >> 7) * 0x0102040810204080ULL) >> 56);
	if (!stop)
		return 0;
	n = (unsigned)__builtin_ctzll(stop) >> 3;
	fp_hash_word(v, n, w);
#endif
	return n;
}

/* The word at i into lx (type, end, first, h, kw) */
static inline __attribute__((always_inline)) void fp_lex_word(struct fp_lex *lx, size_t i)
{
	struct fp_word w;
	char buf[32] __attribute__((aligned(16))) = {0}, lw[16] __attribute__((aligned(16)));
	const char *v = lx->s + i;
	if (lx->len - i < 16) {
		fp_copy16(buf, lx->s, i, lx->len);
		v = buf;
	}
	unsigned idm, n = fp_scan_word(v, &w, &idm, lw);
	lx->type = TK_WORD;
	lx->end = FP_LIKELY(n) ? i + n : fp_word_long(lx->s, i, lx->len, &w);
	lx->first = w.first;
	lx->h = w.h;
	lx->kw = w.kw;
}

/* Digits alone at v (v[0] is a digit): not followed by '.', 'e', '_', nor
 * after "0" by a letter ("0x1F"). */
static inline unsigned fp_scan_digits(const char *v)
{
	unsigned n;
#if defined(__SSE2__)
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	n = (unsigned)__builtin_ctz(~(unsigned)_mm_movemask_epi8(FP_RANGE16(x, '0', '9')));
#else
	for (n = 1; n < 16 && IS(v[n], C_DIGIT);)
		n++;
#endif
	if (n == 16 || IS(v[n], C_NUMX) || (n == 1 && v[0] == '0' && IS(v[1], C_IDSTART)))
		return 0;
	return n;
}

/* A '...' string whose body starts at v (after the quote), closed within
 * 16 bytes, without '', not continued on another line: its body's length
 * and the closing quote. */
static inline unsigned fp_scan_string(const char *v)
{
	unsigned n;
#if defined(__SSE2__)
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	n = (unsigned)__builtin_ctz((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\''))) | 0x10000);
#else
	const char *q = memchr(v, '\'', 16);
	n = q ? (unsigned)(q - v) : 16;
#endif
	if (n >= 15)
		return 0; /* v[n + 2] is looked at */
	/* '' inside, or blanks after it that may hold a newline and a quote */
	unsigned char c = (unsigned char)v[n + 1];
	if (c == '\'' || (IS(c, C_SPACE) && (c != ' ' || IS(v[n + 2], C_SPACE) || !v[n + 2])))
		return 0;
	return n + 1;
}

/* The identifier bytes among the 16 at v, as bits; the length of the run
 * of them at v */
static inline unsigned fp_ident_run16(const char *v, unsigned *idm)
{
#if defined(__SSE2__)
	__m128i alpha;
	*idm = (unsigned)_mm_movemask_epi8(fp_ident16(_mm_loadu_si128((const __m128i *)(const void *)v), &alpha));
#else
	uint64_t x;
	memcpy(&x, v, 8);
	/* the high bit of each byte to one bit: no carry crosses */
	*idm = (unsigned)(((fp_swar_ident(fp_le64(x)) >> 7) * 0x0102040810204080ULL) >> 56);
#endif
	return (unsigned)__builtin_ctz(~*idm);
}

/* fp_ident_run16(), and with SSE2 the 16 bytes at v in lower case into
 * lw[0..16) (16-byte aligned), as fp_scan_word() does */
static inline unsigned fp_ident_run16w(const char *v, unsigned *idm, char *lw)
{
#if defined(__SSE2__)
	__m128i alpha, x = _mm_loadu_si128((const __m128i *)(const void *)v);
	*idm = (unsigned)_mm_movemask_epi8(fp_ident16(x, &alpha));
	_mm_store_si128((__m128i *)(void *)lw, fp_lower16(x, alpha));
	return (unsigned)__builtin_ctz(~*idm);
#else
	(void)lw;
	return fp_ident_run16(v, idm);
#endif
}

/* The hash of the quoted identifier whose body is the n identifier bytes
 * at v, 0 < n <= FP_HASH_MAX (q: the token in the input, quotes included):
 * the bare word's when it is the same identifier ([a-z0-9_] and bytes >=
 * 0x80, no digit first, not a reserved word), else V_QIDENT ^ FNV of the
 * text (no control byte in it to show otherwise). */
static inline uint64_t fp_qident_hash(const char *v, unsigned n, const char *q)
{
	bool plain;
#if defined(__SSE2__)
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	unsigned up = (unsigned)_mm_movemask_epi8(
		_mm_or_si128(FP_RANGE16(x, 'A', 'Z'), _mm_cmpeq_epi8(x, _mm_set1_epi8('$'))));
	plain = !(up & ((1u << n) - 1));
#else
	plain = true;
	for (unsigned k = 0; k < n; k++)
		plain &= !((v[k] >= 'A' && v[k] <= 'Z') || v[k] == '$');
#endif
	if (plain && !IS(v[0], C_DIGIT)) {
		struct fp_word w;
		fp_hash_word(v, n, &w);
		if (!(w.kw & KF_RESERVED))
			return w.h;
	}
	return V_QIDENT ^ fp_fnv(FNV_OFF, q, n + 2);
}

#if defined(__SSE2__)
/* fp_qident_hash() for a body whose bytes in lower case are at lv too (a
 * window that fp_scan_word() or fp_ident_run16w() stored): a byte that
 * lower case changes is an upper-case letter, and the bare word's hash
 * comes from lv without folding it again */
static inline uint64_t fp_qident_hash_lw(const char *v, const char *lv, unsigned n, const char *q)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	__m128i l = _mm_loadu_si128((const __m128i *)(const void *)lv);
	unsigned same = (unsigned)_mm_movemask_epi8(
		_mm_andnot_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('$')), _mm_cmpeq_epi8(x, l)));
	unsigned m = (1u << n) - 1;
	if ((same & m) == m && !IS(v[0], C_DIGIT)) {
		struct fp_word w;
		fp_hash_lowered(lv, n, &w);
		if (!(w.kw & KF_RESERVED))
			return w.h;
	}
	return V_QIDENT ^ fp_fnv(FNV_OFF, q, n + 2);
}
#endif

/* A "name" whose body starts at v (after the quote, which is q in the
 * input), closed within 16 bytes, without "" or control bytes: sets *h as
 * fp_lex_qident() does; the body's length and the closing quote. */
static inline unsigned fp_scan_qident(const char *v, const char *q, uint64_t *h)
{
	unsigned idm, p = fp_ident_run16(v, &idm);
	if (FP_LIKELY(p - 1 < FP_HASH_MAX && v[p] == '"' && v[p + 1] != '"')) {
		*h = fp_qident_hash(v, p, q);
		return p + 1;
	}
#if defined(__SSE2__)
	/* other bytes in it: closed within 16 bytes, without control bytes
	 * (hashed as displayed otherwise) */
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
	p = (unsigned)__builtin_ctz((unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('"'))) | 0x10000);
	if (p - 1 >= 15 || v[p + 1] == '"')
		return 0; /* empty, long, unterminated, or "" inside */
	__m128i ctl = _mm_or_si128(_mm_cmpeq_epi8(_mm_max_epu8(x, _mm_set1_epi8(0x1f)), _mm_set1_epi8(0x1f)),
				   _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f)));
	if ((unsigned)_mm_movemask_epi8(ctl) & ((1u << p) - 1))
		return 0;
	*h = V_QIDENT ^ fp_fnv(FNV_OFF, q, p + 2);
	return p + 1;
#else
	return 0;
#endif
}

#endif
