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

enum { C_SPACE = 1, C_NL = 2, C_IDSTART = 4, C_IDCONT = 8, C_DIGIT = 16, C_OP = 32 };
extern const uint8_t fp_cclass[256];
#define IS(c, cls) (fp_cclass[(unsigned char)(c)] & (cls))

/* What a byte starts (fp_lex_next's dispatch). */
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
	for (size_t k = 0; k < len - i; k++)
		x |= (uint64_t)(unsigned char)s[i + k] << (8 * k);
	return x;
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

/* One keyword: first and last 8 bytes, packed as fp_load8() does (last is
 * 0 for words of up to 8 bytes). */
struct fp_kw {
	uint64_t first, last;
	uint16_t val; /* KWV() */
	uint8_t n;
	const char *word;
};

#include "fingerprint_kw.h"

extern const struct fp_kw fp_kw_ents[KW_COUNT + 1]; /* [0]: matches nothing */
extern const uint8_t fp_kw_index[1 << KW_BITS];

/* KWV() of a word of up to 7 bytes, lower case in first: the zero bytes
 * that pad first give its length (a word has no NUL byte), and a keyword
 * of 8 bytes or more has none, so one comparison decides. */
static inline unsigned fp_kw_short(uint64_t first)
{
	const struct fp_kw *e = &fp_kw_ents[fp_kw_index[(first * KW_MULT) >> (64 - KW_BITS)]];
	return e->first == first ? e->val : 0;
}

/* KWV() of a word of 9 to 16 bytes whose first and last 8 bytes, lower
 * case, are first and last (they overlap below 16). */
static inline unsigned fp_kw_mid(size_t n, uint64_t first, uint64_t last)
{
	const struct fp_kw *e =
		&fp_kw_ents[fp_kw_index[((first ^ last * KW_TAILMUL) * KW_MULT) >> (64 - KW_BITS)]];
	return (e->n == n && e->first == first && e->last == last) ? e->val : 0;
}

/* KWV() of the word s[0..n) whose first 8 bytes, lower case, are first;
 * 0 if it is not a keyword. A perfect hash (see fingerprint_kwgen.py). */
static inline __attribute__((always_inline)) unsigned fp_kw_lookup(const char *s, size_t n, uint64_t first)
{
	uint64_t key = first, last = 0;
	if (n > 8) {
		if (n > KW_MAXLEN)
			return 0;
		last = fp_load8(s + n - 8, 8, s + n);
		key ^= last * KW_TAILMUL;
	}
	const struct fp_kw *e = &fp_kw_ents[fp_kw_index[(key * KW_MULT) >> (64 - KW_BITS)]];
	if (e->n != n || e->first != first || e->last != last)
		return 0;
	if (n > 16 && !fp_word_eq(s + 8, e->word + 8, n - 16))
		return 0;
	return e->val;
}


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

/* A word of 8 bytes or more, or near the end of the input, at i. */
void fp_lex_long_word(struct fp_lex *lx, size_t i);

#if defined(__SSE2__)
/* A word of n bytes, 8 <= n < 16, at i; x: the 16 bytes at i. */
void fp_lex_word16(struct fp_lex *lx, size_t i, unsigned n, __m128i x);
#endif

/* A word starting at i (s[i] starts an identifier): its end, hash, first
 * 8 bytes and keyword value. */
static inline __attribute__((always_inline)) void fp_lex_word(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	unsigned n;
	uint64_t first;
#if defined(__SSE2__)
	if (FP_LIKELY(lx->len - i >= 16)) {
		/* 16 bytes classified at once; the constants are memory operands */
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i l = _mm_or_si128(x, _mm_set1_epi8(0x20));
		__m128i alpha = _mm_cmplt_epi8(_mm_add_epi8(l, _mm_set1_epi8((char)(0x80 - 'a'))),
					       _mm_set1_epi8((char)(26 - 128)));
		__m128i digit = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - '0'))),
					       _mm_set1_epi8((char)(10 - 128)));
		__m128i id = _mm_or_si128(_mm_or_si128(alpha, digit), _mm_cmplt_epi8(x, _mm_setzero_si128()));
		id = _mm_or_si128(id, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('_')),
						    _mm_cmpeq_epi8(x, _mm_set1_epi8('$'))));
		n = (unsigned)__builtin_ctz(~(unsigned)_mm_movemask_epi8(id));
		if (FP_LIKELY(n < 8)) { /* the common case: a word of up to 7 bytes */
			__m128i up = _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - 'A'))),
						    _mm_set1_epi8((char)(26 - 128)));
			x = _mm_or_si128(x, _mm_and_si128(up, _mm_set1_epi8(0x20)));
			first = fp_le64((uint64_t)_mm_cvtsi128_si64(x)) & ((1ULL << (8 * n)) - 1);
			goto short_word;
		}
		if (n < 16) {
			fp_lex_word16(lx, i, n, x);
			return;
		}
		fp_lex_long_word(lx, i);
		return;
	}
#endif
	{
		uint64_t x = fp_load_upto(s, i, lx->len); /* zero bytes past the end stop the word */
		uint64_t stop = ~fp_swar_ident(x) & HIGHS;
		if (FP_UNLIKELY(!stop)) {
			fp_lex_long_word(lx, i);
			return;
		}
		n = (unsigned)__builtin_ctzll(stop) >> 3; /* a word of up to 7 bytes */
		first = fp_swar_lower(x & ((1ULL << (8 * n)) - 1));
	}
#if defined(__SSE2__)
short_word:
#endif
	lx->type = TK_WORD;
	lx->end = i + n;
	lx->first = first;
	lx->h = fp_word_short(n, first);
	lx->kw = fp_kw_short(first);
}

/* Next token into lx->type/start/end/h/first/kw, and its type; TK_EOF at
 * the end. Every path returns a constant type where it can, so that a
 * switch on the result right after the (inlined) call is threaded into
 * the lexer's own dispatch: one indirect jump per token, not two. */
static inline __attribute__((always_inline)) enum tok_type fp_lex_next(struct fp_lex *lx)
{
	const char *s = lx->s;
	size_t i = lx->end, len = lx->len;
	unsigned cs;
	for (;;) {
		if (FP_UNLIKELY(i >= len)) {
			lx->type = TK_EOF;
			lx->start = lx->end = len;
			return TK_EOF;
		}
		cs = fp_cstart[(unsigned char)s[i]];
		if (cs != CS_SPACE)
			break;
		i++;
	}
	lx->start = i;
	if (FP_LIKELY(cs == CS_WORD)) { /* the most common token */
		fp_lex_word(lx, i);
		return TK_WORD;
	}
	switch (cs) {
	case CS_PREFIX:
		if (i + 1 < len && (s[i + 1] == '\'' || s[i + 1] == '&'))
			break;
		/* fall through */
	case CS_WORD:
		fp_lex_word(lx, i);
		return TK_WORD;
	case CS_OPEN:
		lx->type = TK_OPEN;
		lx->end = i + 1;
		return TK_OPEN;
	case CS_CLOSE:
		lx->type = TK_CLOSE;
		lx->end = i + 1;
		return TK_CLOSE;
	case CS_COMMA:
		lx->type = TK_COMMA;
		lx->end = i + 1;
		return TK_COMMA;
	case CS_SEMI:
		lx->type = TK_SEMI;
		lx->end = i + 1;
		return TK_SEMI;
	case CS_DOT:
		if (i + 1 < len && (s[i + 1] == '.' || IS(s[i + 1], C_DIGIT)))
			break; /* "..", or a number */
		lx->type = TK_DOT;
		lx->end = i + 1;
		return TK_DOT;
	case CS_COLON:
		if (i + 1 < len && s[i + 1] == ':') {
			lx->type = TK_CAST;
			lx->end = i + 2;
			return TK_CAST;
		}
		break;
	case CS_DIGIT: {
		size_t j = i + 1;
		while (j < len && IS(s[j], C_DIGIT))
			j++;
		if (j < len && (s[j] == '.' || s[j] == '_' || (s[j] | 0x20) == 'e' ||
				(j == i + 1 && s[i] == '0' && IS(s[j], C_IDSTART))))
			break; /* not digits alone */
		lx->type = TK_CONST;
		lx->end = j;
		return TK_CONST;
	}
	case CS_QUOTE:
		lx->type = TK_CONST;
		lx->end = fp_lex_string(lx, i + 1);
		return TK_CONST;
	case CS_DQUOTE:
		lx->type = TK_QIDENT;
		lx->end = fp_lex_qident(lx, i + 1);
		return TK_QIDENT;
	case CS_OP:
		if (i + 1 < len && IS(s[i + 1], C_OP))
			break; /* a longer operator, or a comment after it */
		lx->type = TK_OP;
		lx->h = (FNV_OFF ^ (unsigned char)s[i]) * FNV_PRIME;
		lx->end = i + 1;
		return TK_OP;
	case CS_OTHER: /* hashed as shown: a control byte as '?' */
		lx->type = TK_OP;
		lx->h = (FNV_OFF ^ fp_safe_byte((unsigned char)s[i])) * FNV_PRIME;
		lx->end = i + 1;
		return TK_OP;
	default:
		break;
	}
	fp_lex_slow(lx, i);
	return lx->type;
}

#endif
