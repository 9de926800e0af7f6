/*
 * fingerprint: one pass over a statement's text; see fingerprint.h.
 *
 * Three layers, each linear in the input:
 *   lexer   - PostgreSQL's lexical rules (scan.l), yields one token at a time
 *             and remembers the first slash-star comment as the tag;
 *   normalizer - turns tokens into the normalized stream: literals become a
 *             placeholder, constant lists collapse, per-call names become "_";
 *   hash    - hierarchical: every ( ... ) or [ ... ] group has its own running
 *             hash, folded into its parent as one value when it closes. So a
 *             group can be replaced (collapsed) or dropped (a repeated VALUES
 *             row) when its end is seen, without buffering or re-reading, and
 *             the display text is rolled back by truncating it to a mark.
 */
#include "fingerprint.h"

#include <string.h>

/* ---- character classes (table driven) ---- */

enum { C_SPACE = 1, C_NL = 2, C_IDSTART = 4, C_IDCONT = 8, C_DIGIT = 16, C_OP = 32 };

static const uint8_t cclass[256] = {
	[' '] = C_SPACE, ['\t'] = C_SPACE, ['\f'] = C_SPACE, ['\v'] = C_SPACE,
	['\n'] = C_SPACE | C_NL, ['\r'] = C_SPACE | C_NL,
	['0' ... '9'] = C_DIGIT | C_IDCONT,
	['A' ... 'Z'] = C_IDSTART | C_IDCONT,
	['a' ... 'z'] = C_IDSTART | C_IDCONT,
	['_'] = C_IDSTART | C_IDCONT,
	[0x80 ... 0xff] = C_IDSTART | C_IDCONT,
	['$'] = C_IDCONT,
	['~'] = C_OP, ['!'] = C_OP, ['@'] = C_OP, ['#'] = C_OP, ['^'] = C_OP,
	['&'] = C_OP, ['|'] = C_OP, ['`'] = C_OP, ['?'] = C_OP, ['+'] = C_OP,
	['-'] = C_OP, ['*'] = C_OP, ['/'] = C_OP, ['%'] = C_OP, ['<'] = C_OP,
	['>'] = C_OP, ['='] = C_OP,
};

#define IS(c, cls) (cclass[(unsigned char)(c)] & (cls))

static inline unsigned char lower(unsigned char c)
{
	return (unsigned char)(c + (((unsigned)(c - 'A') < 26u) << 5));
}

static int hexval(unsigned char c)
{
	if (IS(c, C_DIGIT))
		return c - '0';
	c = lower(c);
	return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* ---- hashing ---- */

#define FNV_OFF 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

/* Salts that keep token classes apart ("select" the word vs "select" quoted). */
#define V_SEED 0x5047534946540001ULL /* "PGSIFT" + format version 1 */
#define V_WORD 0x9ae16a3b2f90404fULL
#define V_QIDENT 0xc2b2ae3d27d4eb4fULL
#define V_CONST 0x165667b19e3779f9ULL
#define V_OP 0xd6e8feb86659fd93ULL
#define V_NAME 0xa0761d6478bd642fULL
#define V_GROUP 0xe7037ed1a0b428dbULL
#define V_CONSTLIST 0x8ebc6af09c88c6e3ULL
#define V_CONSTROW 0x589965cc75374cc3ULL
#define V_ROW 0x1d8e4e27c47d124fULL

/* One step of the token-stream hash: a bijection of h for a fixed v. */
static inline uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 32);
}

static uint64_t finish(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

/* ---- keywords: only the words the normalizer treats specially ---- */

#define KF_EXPR 0x100     /* an expression may follow: "-" after it is unary */
#define KF_PSPACE 0x200   /* display "kw (" rather than "fn(" */
#define KF_RESERVED 0x400 /* reserved: "kw" quoted is not the same as kw bare */
#define KWV(id, flags) ((unsigned)(id) | (unsigned)(flags))
#define KW_ID(v) ((v)&0xff)

#define B_(c, i) ((uint64_t)(unsigned char)(c) << (8 * (i)))
#define K8(a, b, c, d, e, f, g, h) \
	(B_(a, 0) | B_(b, 1) | B_(c, 2) | B_(d, 3) | B_(e, 4) | B_(f, 5) | B_(g, 6) | B_(h, 7))
#define K7(a, b, c, d, e, f, g) K8(a, b, c, d, e, f, g, 0)
#define K6(a, b, c, d, e, f) K8(a, b, c, d, e, f, 0, 0)
#define K5(a, b, c, d, e) K8(a, b, c, d, e, 0, 0, 0)
#define K4(a, b, c, d) K8(a, b, c, d, 0, 0, 0, 0)
#define K3(a, b, c) K8(a, b, c, 0, 0, 0, 0, 0)
#define K2(a, b) K8(a, b, 0, 0, 0, 0, 0, 0)

/* s[0..n) equals the lower-case keyword kw, ignoring ASCII case */
static bool word_eq(const char *s, const char *kw, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s[i]) != (unsigned char)kw[i])
			return false;
	return true;
}


#include "fingerprint_kw.h"

static unsigned kw_lookup(const char *s, size_t n, uint64_t packed)
{
	if (n <= 8)
		return kw_short(packed);
	return n <= 17 ? kw_long(s, n) : 0;
}

/* ---- lexer ---- */

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

struct lex {
	const char *s;
	size_t len, pos;
	bool prev_operand; /* last token ends an operand: a "-" after it is binary */
	bool partial;
	bool have_tag;
	size_t tag_off, tag_len;
	/* the current token */
	enum tok_type type;
	size_t start, end;
	uint64_t h;  /* words: word_hash(); ops: FNV of the text */
	uint64_t first; /* words: first 8 bytes in lower case */
	unsigned kw; /* words: KWV() or 0 */
};

static void lex_init(struct lex *lx, const char *s, size_t len, size_t pos)
{
	lx->s = s;
	lx->len = len;
	lx->pos = pos;
	lx->prev_operand = false;
	lx->partial = false;
	lx->have_tag = false;
	lx->tag_off = lx->tag_len = 0;
}

/* Nested slash-star comment starting at i; returns the index after it. */
static size_t skip_block_comment(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t start = i + 2, depth = 1;
	for (i = start; i + 1 < lx->len; i++) {
		if (s[i] == '/' && s[i + 1] == '*') {
			depth++;
			i++;
		} else if (s[i] == '*' && s[i + 1] == '/') {
			i++;
			if (--depth == 0)
				break;
		}
	}
	bool closed = depth == 0;
	size_t end = closed ? i + 1 : lx->len;
	if (!closed)
		lx->partial = true;
	if (!lx->have_tag) {
		lx->have_tag = true;
		lx->tag_off = start;
		lx->tag_len = (closed ? end - 2 : end) - start;
	}
	return end;
}

static size_t skip_blank(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	while (i < lx->len) {
		if (IS(s[i], C_SPACE)) {
			i++;
		} else if (s[i] == '-' && i + 1 < lx->len && s[i + 1] == '-') {
			while (i < lx->len && !IS(s[i], C_NL))
				i++;
		} else if (s[i] == '/' && i + 1 < lx->len && s[i + 1] == '*') {
			i = skip_block_comment(lx, i);
		} else {
			break;
		}
	}
	return i;
}

/* Body of a '...' string from i (after the opening quote) with '' and, when
 * esc, backslash escapes; follows PostgreSQL's continuation of a string
 * across a newline ('a'\n'b' is one literal). Returns the index after it. */
static size_t lex_string_body(struct lex *lx, size_t i, bool esc)
{
	const char *s = lx->s;
	for (;;) {
		while (i < lx->len && s[i] != '\'')
			i += (esc && s[i] == '\\') ? 2 : 1;
		if (i >= lx->len) {
			lx->partial = true;
			return lx->len;
		}
		if (i + 1 < lx->len && s[i + 1] == '\'') {
			i += 2;
			continue;
		}
		size_t j = ++i;
		bool newline = false;
		while (j < lx->len && IS(s[j], C_SPACE))
			newline |= IS(s[j++], C_NL) != 0;
		if (!newline || j >= lx->len || s[j] != '\'')
			return i;
		i = j + 1;
	}
}

/* "..." identifier body from i (after the quote); "" is a quote. */
static size_t lex_qident_body(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	for (;;) {
		const char *q = i < lx->len ? memchr(s + i, '"', lx->len - i) : NULL;
		if (!q) {
			lx->partial = true;
			return lx->len;
		}
		i = (size_t)(q - s) + 1;
		if (i < lx->len && s[i] == '"')
			i++;
		else
			return i;
	}
}

/* After a U&'...' or U&"..." body: an optional UESCAPE 'c' belongs to it. */
static size_t lex_uescape(struct lex *lx, size_t i)
{
	size_t j = skip_blank(lx, i);
	if (j + 7 <= lx->len && word_eq(lx->s + j, "uescape", 7) &&
	    (j + 7 == lx->len || !IS(lx->s[j + 7], C_IDCONT))) {
		size_t k = skip_blank(lx, j + 7);
		if (k < lx->len && lx->s[k] == '\'')
			return lex_string_body(lx, k + 1, false);
	}
	return i;
}

static size_t digits(const char *s, size_t i, size_t len, unsigned base)
{
	/* digits with single '_' separators between them (PostgreSQL 16) */
	for (;;) {
		size_t j = (i < len && s[i] == '_') ? i + 1 : i;
		if (j >= len)
			return i;
		int d = hexval((unsigned char)s[j]);
		if (d < 0 || (unsigned)d >= base)
			return i;
		i = j + 1;
	}
}

/* Number at i (a digit, or '.' before a digit). Returns the index after it. */
static size_t lex_number(const char *s, size_t i, size_t len)
{
	if (s[i] == '0' && i + 1 < len) {
		unsigned char p = lower((unsigned char)s[i + 1]);
		unsigned base = p == 'x' ? 16 : p == 'o' ? 8 : p == 'b' ? 2 : 0;
		if (base) {
			size_t j = digits(s, i + 2, len, base);
			if (j > i + 2)
				return j;
			return i + 1;
		}
	}
	if (s[i] != '.')
		i = digits(s, i + 1, len, 10);
	if (i < len && s[i] == '.' && !(i + 1 < len && s[i + 1] == '.')) {
		i++;
		if (i < len && IS(s[i], C_DIGIT))
			i = digits(s, i + 1, len, 10);
	}
	if (i + 1 < len && lower((unsigned char)s[i]) == 'e') {
		size_t j = i + 1;
		if (s[j] == '+' || s[j] == '-')
			j++;
		if (j < len && IS(s[j], C_DIGIT))
			i = digits(s, j + 1, len, 10);
	}
	return i;
}

/* $n, $tag$...$tag$, or a lone '$'. */
static void lex_dollar(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t j = i + 1;
	lx->type = TK_CONST;
	if (j < lx->len && IS(s[j], C_DIGIT)) {
		while (j < lx->len && IS(s[j], C_DIGIT))
			j++;
		lx->end = j;
		return;
	}
	if (j < lx->len && IS(s[j], C_IDSTART))
		while (j < lx->len && IS(s[j], C_IDCONT) && s[j] != '$')
			j++;
	if (j >= lx->len || s[j] != '$') {
		lx->type = TK_OP;
		lx->end = i + 1;
		lx->h = fnv(FNV_OFF, "$", 1);
		return;
	}
	/* delimiter s[i..j]; a '$' inside the body ends any partial match,
	 * so the search is linear */
	size_t dlen = j - i + 1;
	for (size_t k = j + 1; k < lx->len;) {
		const char *d = memchr(s + k, '$', lx->len - k);
		if (!d)
			break;
		k = (size_t)(d - s);
		if (lx->len - k >= dlen && memcmp(s + k, s + i, dlen) == 0) {
			lx->end = k + dlen;
			return;
		}
		k++;
	}
	lx->partial = true;
	lx->end = lx->len;
}

/* Operator run at i: stops before a comment start; a trailing + or - is cut
 * unless the run holds one of ~!@#%^&|`? (scan.l's rule), so "=-1" is "=" "-1". */
static size_t op_end(const char *s, size_t i, size_t len)
{
	size_t j = i + 1;
	while (j < len && IS(s[j], C_OP)) {
		if ((s[j] == '-' && j + 1 < len && s[j + 1] == '-') ||
		    (s[j] == '/' && j + 1 < len && s[j + 1] == '*'))
			break;
		j++;
	}
	size_t n = j - i;
	if (n > 1 && (s[i + n - 1] == '+' || s[i + n - 1] == '-')) {
		bool special = false;
		for (size_t k = i; k < i + n - 1; k++)
			special |= strchr("~!@#^&|`?%", s[k]) != NULL;
		while (!special && n > 1 && (s[i + n - 1] == '+' || s[i + n - 1] == '-'))
			n--;
	}
	return i + n;
}

static void lex_op(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t j = op_end(s, i, lx->len);
	lx->type = TK_OP;
	lx->end = j;
	if (j - i == 1 && s[i] == '-' && !lx->prev_operand) {
		/* unary minus before a number: part of the literal */
		size_t k = i + 1;
		while (k < lx->len && IS(s[k], C_SPACE))
			k++;
		if (k < lx->len && (IS(s[k], C_DIGIT) ||
				    (s[k] == '.' && k + 1 < lx->len && IS(s[k + 1], C_DIGIT)))) {
			lx->type = TK_CONST;
			lx->end = lex_number(s, k, lx->len);
			return;
		}
	}
	if (j - i == 2 && s[i] == '!' && s[i + 1] == '=')
		lx->h = fnv(FNV_OFF, "<>", 2); /* the parser's spelling */
	else
		lx->h = fnv(FNV_OFF, s + i, j - i);
}

/* ASCII upper case to lower case in 8 bytes at once; other bytes unchanged */
static inline uint64_t swar_lower(uint64_t x)
{
	uint64_t h = x & 0x7f7f7f7f7f7f7f7fULL;
	uint64_t ge_a = h + 0x3f3f3f3f3f3f3f3fULL; /* high bit: byte >= 'A' */
	uint64_t gt_z = h + 0x2525252525252525ULL; /* high bit: byte > 'Z' */
	return x | ((ge_a & ~gt_z & ~x & 0x8080808080808080ULL) >> 2);
}

/* Byte i of the input at bits 8i..8i+7 whatever the machine's byte order,
 * so that words hash (and fingerprints come out) the same everywhere. */
static inline uint64_t le64(uint64_t x)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	return __builtin_bswap64(x);
#else
	return x;
#endif
}

/* Lower-case bytes s[0..n) packed little-endian, n <= 8; never reads past
 * end (the end of the input). */
static inline uint64_t load8(const char *s, size_t n, const char *end)
{
	uint64_t x = 0;
	if (end - s >= 8) {
		memcpy(&x, s, 8);
		x = le64(x);
		if (n < 8)
			x &= (1ULL << (8 * n)) - 1;
	} else {
		for (size_t k = 0; k < n; k++)
			x |= (uint64_t)(unsigned char)s[k] << (8 * k);
	}
	return swar_lower(x);
}

/* Hash of a word folded to lower case, 8 bytes per step; *first gets the
 * first 8 bytes (the keyword lookup key for short words). */
static uint64_t word_hash(const char *s, size_t n, const char *end, uint64_t *first)
{
	uint64_t h = mix(V_WORD, n);
	*first = load8(s, n < 8 ? n : 8, end);
	h = mix(h, *first);
	for (size_t k = 8; k < n; k += 8)
		h = mix(h, load8(s + k, n - k < 8 ? n - k : 8, end));
	return h;
}

static void lex_word(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t j = i + 1;
	while (j < lx->len && IS(s[j], C_IDCONT))
		j++;
	lx->type = TK_WORD;
	lx->end = j;
	lx->h = word_hash(s + i, j - i, s + lx->len, &lx->first);
	lx->kw = kw_lookup(s + i, j - i, lx->first);
}

/* E'', B'', X'', N'', U&'' strings and U&"" identifiers; false if s[i] is
 * an ordinary word start. */
static bool lex_prefixed(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	if (i + 1 >= lx->len || (s[i + 1] != '\'' && s[i + 1] != '&'))
		return false; /* the common case: an ordinary word */
	unsigned char c = lower((unsigned char)s[i]);
	if (s[i + 1] == '\'' && (c == 'e' || c == 'b' || c == 'x' || c == 'n')) {
		lx->type = TK_CONST;
		lx->end = lex_string_body(lx, i + 2, c == 'e');
		return true;
	}
	if (c == 'u' && i + 2 < lx->len && s[i + 1] == '&' && (s[i + 2] == '\'' || s[i + 2] == '"')) {
		bool str = s[i + 2] == '\'';
		size_t j = str ? lex_string_body(lx, i + 3, false) : lex_qident_body(lx, i + 3);
		lx->type = str ? TK_CONST : TK_QIDENT;
		lx->end = lex_uescape(lx, j);
		return true;
	}
	return false;
}

static void lex_punct(struct lex *lx, size_t i)
{
	const char *s = lx->s;
	char c = s[i];
	lx->end = i + 1;
	lx->h = (unsigned char)c;
	switch (c) {
	case '(': case '[': lx->type = TK_OPEN; return;
	case ')': case ']': lx->type = TK_CLOSE; return;
	case ',': lx->type = TK_COMMA; return;
	case ';': lx->type = TK_SEMI; return;
	case '.':
		lx->type = TK_DOT;
		if (i + 1 < lx->len && s[i + 1] == '.') {
			lx->type = TK_OP;
			lx->end = i + 2;
			lx->h = fnv(FNV_OFF, "..", 2);
		}
		return;
	case ':':
		if (i + 1 < lx->len && s[i + 1] == ':') {
			lx->type = TK_CAST;
			lx->end = i + 2;
			return;
		}
		lx->end = (i + 1 < lx->len && s[i + 1] == '=') ? i + 2 : i + 1;
		break;
	default:
		break;
	}
	lx->type = TK_OP;
	lx->h = fnv(FNV_OFF, s + i, lx->end - i);
}

/* Next token into lx->type/start/end/h/kw; TK_EOF at the end of input. */
static void lex_next(struct lex *lx)
{
	const char *s = lx->s;
	size_t i = lx->pos;
	while (i < lx->len && s[i] == ' ')
		i++; /* the common case, without a call */
	if (i < lx->len && (IS(s[i], C_SPACE) || s[i] == '-' || s[i] == '/'))
		i = skip_blank(lx, i);
	lx->start = i;
	lx->kw = 0;
	if (i >= lx->len) {
		lx->type = TK_EOF;
		lx->end = lx->pos = lx->len;
		return;
	}
	unsigned char c = (unsigned char)s[i];
	if (IS(c, C_IDSTART)) {
		if (!lex_prefixed(lx, i))
			lex_word(lx, i);
	} else if (IS(c, C_DIGIT) || (c == '.' && i + 1 < lx->len && IS(s[i + 1], C_DIGIT))) {
		lx->type = TK_CONST;
		lx->end = lex_number(s, i, lx->len);
	} else if (c == '\'') {
		lx->type = TK_CONST;
		lx->end = lex_string_body(lx, i + 1, false);
	} else if (c == '"') {
		lx->type = TK_QIDENT;
		lx->end = lex_qident_body(lx, i + 1);
	} else if (c == '$') {
		lex_dollar(lx, i);
	} else if (IS(c, C_OP)) {
		lex_op(lx, i);
	} else {
		lex_punct(lx, i);
	}
	lx->pos = lx->end;
	lx->prev_operand = lx->type == TK_QIDENT || lx->type == TK_CONST || lx->type == TK_CLOSE ||
			   (lx->type == TK_WORD && !(lx->kw & KF_EXPR));
}

/* ---- normalizer ---- */

enum frame_kind {
	FK_GROUP, /* anything else: call arguments, subquery, column list */
	FK_LIST,  /* IN ( ... ), EXECUTE name ( ... ): constant lists collapse */
	FK_ARRAY, /* ARRAY[ ... ]: a constant array becomes one placeholder */
	FK_ROW,   /* a VALUES row */
	FK_TUPLE, /* ( ... ) or [ ... ] as an element of one of the above */
};

/* Is the current element of a list a constant? A constant is a literal,
 * NULL, DEFAULT or a constant tuple, optionally cast ("$1::int[]"). */
enum elem_state { ES_START, ES_CONST, ES_CAST, ES_TYPE, ES_BAD };

/* Display state to roll back to. */
struct mark {
	size_t tlen;
	unsigned nparams;
	uint8_t last;
};

/* What the last displayed token was, for spacing. */
enum { D_NONE, D_WORD, D_CLOSE, D_CONST, D_OTHER };

struct frame {
	uint64_t sig;   /* hash of the tokens inside */
	struct mark mark; /* before the opening token (before ARRAY for FK_ARRAY) */
	uint8_t kind, elem, open;
	uint16_t cast_br; /* '[' open inside a cast: "::int[]" */
	unsigned nelem;
	/* VALUES rows directly inside this frame */
	bool values, have_row, comma;
	uint64_t prev_row;
	struct mark comma_mark;
};

/* statement head rules (depth 0): names that change per call, SET values */
enum head {
	H_NONE, H_NAME, H_RELEASE, H_ROLLBACK, H_ROLLBACK_TO, H_PREPARE, H_EXECUTE,
	H_EXEC_ARGS, H_DEALLOC, H_CLOSE, H_FETCH, H_SET, H_SET_SESSION, H_SET_TIME, H_SETVAL,
	H_NOISE,
};

/* flags about the previous token */
enum { P_IN = 1, P_VALUES = 2, P_ROWCLOSE = 4 };

struct norm {
	struct lex lx;
	struct fp_result *out;
	size_t cap;         /* text bytes usable */
	size_t tlen;        /* logical text length */
	size_t tvalid;      /* bytes of it in out->text (a prefix, at a token boundary) */
	uint8_t last;       /* D_* */
	unsigned nparams;
	unsigned depth, overflow;
	unsigned ntok;
	enum head head;
	bool set_const;
	bool pending_semi, pending_array;
	struct mark array_mark;
	unsigned prev, cur; /* P_* */
	struct frame fr[FP_DEPTH_MAX + 1];
};

static inline struct frame *top(struct norm *n)
{
	return &n->fr[n->depth];
}

static inline void emit(struct norm *n, uint64_t v)
{
	struct frame *f = top(n);
	f->sig = mix(f->sig, v);
}

static struct mark mark_now(const struct norm *n)
{
	struct mark m = {n->tlen, n->nparams, n->last};
	return m;
}

static void rollback(struct norm *n, struct mark m)
{
	n->tlen = m.tlen;
	if (n->tvalid > m.tlen)
		n->tvalid = m.tlen;
	n->nparams = m.nparams;
	n->last = m.last;
}

enum { M_RAW, M_FOLD, M_SAFE }; /* as is, lower case, control bytes as '?' */

/* Appends the token s[0..k), after a space when sp; a token that does not
 * fit is dropped whole, and so is everything after it (tvalid stops). */
static void put(struct norm *n, bool sp, const char *s, size_t k, int mode)
{
	if (n->tvalid == n->tlen && n->tlen + sp + k <= n->cap) {
		char *d = n->out->text + n->tlen;
		*d = ' ';
		d += sp;
		size_t i = 0;
		if (mode == M_FOLD && k <= 8 && n->tlen + sp + 8 <= FP_TEXT_MAX) {
			uint64_t x = le64(n->lx.first); /* a short word, lowered by the lexer */
			memcpy(d, &x, 8);
		} else if (mode == M_FOLD) { /* longer words: 8 bytes at a time */
			for (; i + 8 <= k; i += 8) {
				uint64_t x = le64(load8(s + i, 8, n->lx.s + n->lx.len));
				memcpy(d + i, &x, 8);
			}
			for (; i < k; i++)
				d[i] = (char)lower((unsigned char)s[i]);
		} else if (mode == M_SAFE) {
			for (; i < k; i++)
				d[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i];
		} else {
			memcpy(d, s, k);
		}
		n->tvalid += sp + k;
	}
	n->tlen += sp + k;
}

/* Writes a token with the single space that separates it from the previous
 * one, unless punctuation glues them. */
static void show(struct norm *n, const char *s, size_t k, int mode, uint8_t cls)
{
	char c = s[0];
	bool glue = n->last == D_NONE || c == ')' || c == ']' || c == ',' || (c == '.' && k == 1) ||
		    (c == ':' && k == 2 && s[1] == ':') || (c == '(' && n->last == D_WORD) ||
		    (c == '[' && (n->last == D_WORD || n->last == D_CLOSE || n->last == D_CONST));
	if (glue && (c == '.' || c == ':') && n->tvalid && (n->out->text[n->tvalid - 1] == '.' ||
							   n->out->text[n->tvalid - 1] == ':'))
		glue = false; /* ". ." is not "..", ": ::" is not ":::" */
	put(n, !glue, s, k, mode);
	n->last = cls;
}

static void show_tok(struct norm *n, uint8_t cls)
{
	struct lex *lx = &n->lx;
	show(n, lx->s + lx->start, lx->end - lx->start, M_RAW, cls);
}

static void show_param(struct norm *n)
{
	char buf[12];
	size_t k = sizeof buf;
	unsigned v = ++n->nparams;
	do
		buf[--k] = (char)('0' + v % 10);
	while ((v /= 10) && k > 1);
	buf[--k] = '$';
	show(n, buf + k, sizeof buf - k, M_RAW, D_CONST);
}

/* hash of a lower-case word given as a C string */
static uint64_t word_const(const char *w)
{
	uint64_t first;
	size_t k = strlen(w);
	return word_hash(w, k, w + k, &first);
}

static void show_word_text(struct norm *n, const char *w)
{
	emit(n, word_const(w));
	show(n, w, strlen(w), M_RAW, D_WORD);
}

/* ---- list element tracking ---- */

static void elem_const(struct frame *f)
{
	if (f->elem != ES_BAD)
		f->elem = f->elem == ES_START ? ES_CONST : ES_BAD;
}

static void elem_type(struct frame *f)
{
	if (f->elem != ES_BAD)
		f->elem = (f->elem == ES_CAST || f->elem == ES_TYPE) ? ES_TYPE : ES_BAD;
}

static void elem_step(struct frame *f, enum tok_type t)
{
	if (f->elem == ES_BAD || f->cast_br)
		return;
	if (t == TK_CAST && (f->elem == ES_CONST || f->elem == ES_TYPE))
		f->elem = ES_CAST;
	else if (t == TK_DOT && f->elem == ES_TYPE)
		f->elem = ES_CAST;
	else if (t == TK_COMMA && (f->elem == ES_CONST || f->elem == ES_TYPE)) {
		f->elem = ES_START;
		f->nelem++;
	} else
		f->elem = ES_BAD;
}

static void push(struct norm *n, uint8_t kind, struct mark m)
{
	struct frame *f = &n->fr[++n->depth];
	f->sig = V_GROUP;
	f->mark = m;
	f->kind = kind;
	f->elem = kind == FK_GROUP ? ES_BAD : ES_START;
	f->open = (uint8_t)n->lx.s[n->lx.start];
	f->cast_br = 0;
	f->nelem = 0;
	f->values = f->have_row = f->comma = false;
}

/* ---- tokens ---- */

static void tok_const(struct norm *n)
{
	elem_const(top(n));
	emit(n, V_CONST);
	show_param(n);
}

static void show_word(struct norm *n, const char *text, size_t k)
{
	unsigned kw = n->lx.kw;
	show(n, text, k, M_FOLD, (kw & KF_PSPACE) ? D_OTHER : D_WORD);
}

static void flush_array(struct norm *n)
{
	n->pending_array = false;
	emit(n, word_const("array"));
	top(n)->elem = ES_BAD; /* ARRAY(subquery) or a column named array */
}

static void tok_word(struct norm *n)
{
	struct lex *lx = &n->lx;
	struct frame *f = top(n);
	unsigned id = KW_ID(lx->kw);
	if (id == KW_TRUE || id == KW_FALSE) {
		tok_const(n);
		return;
	}
	if (id == KW_ARRAY) {
		/* hashed when the next token shows whether ARRAY[...] follows */
		n->pending_array = true;
		n->array_mark = mark_now(n);
	} else {
		if (id == KW_NULL || id == KW_DEFAULT)
			elem_const(f);
		else if ((lx->kw & (KF_EXPR | KF_PSPACE | KF_RESERVED)) && id != KW_WITH)
			f->elem = ES_BAD; /* not part of a type name ("timestamp with time zone") */
		else
			elem_type(f);
		emit(n, lx->h);
	}
	show_word(n, lx->s + lx->start, lx->end - lx->start);
	if (id == KW_IN)
		n->cur |= P_IN;
	if (id == KW_VALUES) {
		n->cur |= P_VALUES;
		f->values = true;
		f->have_row = f->comma = false;
	}
}

/* Reserved words quoted stay distinct; any other "lowercase_name" is the
 * same identifier as the bare word (the parser sees no difference). */
static void tok_qident(struct norm *n)
{
	struct lex *lx = &n->lx;
	const char *s = lx->s + lx->start + 1;
	size_t k = lx->end - lx->start;
	bool closed = k >= 2 && s[k - 2] == '"' && s[-1] == '"';
	size_t inner = closed ? k - 2 : k - 1;
	bool plain = closed && inner > 0 && inner <= 63 && IS(s[0], C_IDSTART);
	uint64_t packed = 0;
	for (size_t i = 0; plain && i < inner; i++) {
		unsigned char c = (unsigned char)s[i];
		plain = IS(c, C_IDCONT) && c != '$' && !(c >= 'A' && c <= 'Z');
		if (i < 8)
			packed |= (uint64_t)c << (8 * i);
	}
	if (plain && (kw_lookup(s, inner, packed) & KF_RESERVED))
		plain = false;
	elem_type(top(n));
	uint64_t first;
	emit(n, plain ? word_hash(s, inner, lx->s + lx->len, &first) : V_QIDENT ^ fnv(FNV_OFF, s - 1, k));
	show(n, lx->s + lx->start, k, M_SAFE, D_WORD);
}

static void tok_open(struct norm *n)
{
	struct lex *lx = &n->lx;
	struct frame *p = top(n);
	char ch = lx->s[lx->start];
	struct mark m = mark_now(n);
	uint8_t kind = FK_GROUP;
	if (n->pending_array && ch == '[') {
		kind = FK_ARRAY;
		m = n->array_mark;
		n->pending_array = false;
	} else if (ch == '[' && p->elem == ES_TYPE && !n->overflow) {
		p->cast_br++;
		emit(n, V_OP ^ '[');
		show_tok(n, D_NONE);
		return;
	} else if (ch == '(' && (n->prev & P_IN)) {
		kind = FK_LIST;
	} else if (ch == '(' && n->head == H_EXEC_ARGS && n->depth == 0) {
		kind = FK_LIST;
	} else if (ch == '(' && p->values && ((n->prev & P_VALUES) || p->comma)) {
		kind = FK_ROW;
	} else if (p->elem == ES_START) {
		kind = FK_TUPLE;
	} else if (!(p->elem == ES_TYPE && ch == '(')) {
		p->elem = ES_BAD; /* "(" after a cast type is its typmod */
	}
	if (n->overflow || n->depth == FP_DEPTH_MAX) {
		n->overflow++;
		p->elem = ES_BAD;
		if (kind == FK_ARRAY)
			flush_array(n);
		emit(n, V_OP ^ (unsigned char)ch);
		show_tok(n, D_NONE);
		return;
	}
	push(n, kind, m);
	show_tok(n, D_NONE);
}

/* A closing VALUES row: folded away when it equals the previous row. */
static void close_row(struct norm *n, const struct frame *f, bool isconst)
{
	struct frame *p = top(n);
	uint64_t v = isconst ? V_CONSTROW : mix(V_ROW, f->sig);
	n->cur |= P_ROWCLOSE;
	if (p->have_row && p->prev_row == v && p->comma) {
		rollback(n, p->comma_mark);
		p->comma = false;
		n->out->flags |= FP_COLLAPSED;
		return;
	}
	if (p->comma)
		emit(n, V_OP ^ ',');
	p->comma = false;
	emit(n, v);
	p->prev_row = v;
	p->have_row = true;
	if (isconst) {
		if (f->nelem > 1)
			n->out->flags |= FP_COLLAPSED;
		rollback(n, f->mark);
		show(n, "(", 1, M_RAW, D_NONE);
		show_param(n);
	}
	show(n, ")", 1, M_RAW, D_CLOSE);
}

static void tok_close(struct norm *n)
{
	struct lex *lx = &n->lx;
	char ch = lx->s[lx->start];
	if (n->overflow || n->depth == 0 || (ch == ']' && top(n)->cast_br)) {
		if (n->overflow)
			n->overflow--;
		else if (n->depth)
			top(n)->cast_br--;
		else
			top(n)->elem = ES_BAD;
		emit(n, V_OP ^ (unsigned char)ch);
		show_tok(n, D_CLOSE);
		return;
	}
	struct frame f = n->fr[n->depth--];
	struct frame *p = top(n);
	bool isconst = f.elem == ES_CONST || f.elem == ES_TYPE;
	f.nelem += isconst;
	if (f.kind == FK_ROW) {
		close_row(n, &f, isconst);
		return;
	}
	if (isconst && (f.kind == FK_LIST || f.kind == FK_ARRAY)) {
		if (f.nelem > 1)
			n->out->flags |= FP_COLLAPSED;
		rollback(n, f.mark);
		if (f.kind == FK_ARRAY) {
			elem_const(p);
			emit(n, V_CONST);
			show_param(n);
			return;
		}
		emit(n, V_CONSTLIST);
		show(n, "(", 1, M_RAW, D_NONE);
		show_param(n);
		show(n, ")", 1, M_RAW, D_CLOSE);
		return;
	}
	if (f.kind == FK_ARRAY)
		emit(n, word_const("array"));
	if (f.kind == FK_TUPLE && isconst)
		elem_const(p);
	else if (f.kind == FK_TUPLE || f.kind == FK_ARRAY)
		p->elem = ES_BAD;
	emit(n, mix(V_GROUP ^ f.open, f.sig));
	show_tok(n, D_CLOSE);
}

static void tok_comma(struct norm *n)
{
	struct frame *f = top(n);
	elem_step(f, TK_COMMA);
	if (f->values && (n->prev & P_ROWCLOSE) && !f->comma) {
		/* hashed only if the next row is not folded into the previous */
		f->comma = true;
		f->comma_mark = mark_now(n);
	} else {
		emit(n, V_OP ^ ',');
	}
	show_tok(n, D_OTHER);
}

static void tok_other(struct norm *n)
{
	struct lex *lx = &n->lx;
	elem_step(top(n), lx->type);
	switch (lx->type) {
	case TK_DOT:
	case TK_CAST:
		emit(n, V_OP ^ (lx->type == TK_DOT ? '.' : ':'));
		show_tok(n, D_NONE);
		return;
	case TK_SEMI: /* inside parentheses: a plain token */
		emit(n, V_OP ^ ';');
		show_tok(n, D_OTHER);
		return;
	default:
		break;
	}
	emit(n, V_OP ^ lx->h);
	if (lx->end - lx->start == 2 && lx->s[lx->start] == '!' && lx->s[lx->start + 1] == '=')
		show(n, "<>", 2, M_RAW, D_OTHER);
	else
		show_tok(n, D_OTHER);
}

/* ---- statement heads ---- */

static enum fp_kind kind_of(unsigned id)
{
	switch (id) {
	case KW_SELECT: case KW_VALUES: case KW_TABLE: return FP_KIND_SELECT;
	case KW_INSERT: return FP_KIND_INSERT;
	case KW_UPDATE: return FP_KIND_UPDATE;
	case KW_DELETE: return FP_KIND_DELETE;
	case KW_MERGE: return FP_KIND_MERGE;
	case KW_WITH: return FP_KIND_WITH;
	case KW_COPY: return FP_KIND_COPY;
	case KW_CREATE: case KW_ALTER: case KW_DROP: case KW_TRUNCATE: case KW_COMMENT:
	case KW_GRANT: case KW_REVOKE: case KW_REINDEX: case KW_REFRESH: case KW_SECURITY:
	case KW_IMPORT: return FP_KIND_DDL;
	case KW_BEGIN: case KW_START: case KW_COMMIT: case KW_END: case KW_ROLLBACK:
	case KW_ABORT: case KW_SAVEPOINT: case KW_RELEASE: return FP_KIND_TXN;
	case KW_SET: case KW_RESET: case KW_DISCARD: return FP_KIND_SET;
	case KW_PREPARE: case KW_EXECUTE: case KW_DEALLOCATE: return FP_KIND_PREPARED;
	case KW_DECLARE: case KW_FETCH: case KW_MOVE: case KW_CLOSE: return FP_KIND_CURSOR;
	case KW_LISTEN: case KW_UNLISTEN: case KW_NOTIFY: return FP_KIND_LISTEN;
	default: return FP_KIND_OTHER;
	}
}

static enum head head_of(unsigned id)
{
	switch (id) {
	case KW_SAVEPOINT: case KW_DECLARE: return H_NAME;
	case KW_RELEASE: return H_RELEASE;
	case KW_ROLLBACK: case KW_ABORT: return H_ROLLBACK;
	case KW_PREPARE: return H_PREPARE;
	case KW_EXECUTE: return H_EXECUTE;
	case KW_DEALLOCATE: return H_DEALLOC;
	case KW_CLOSE: return H_CLOSE;
	case KW_FETCH: case KW_MOVE: return H_FETCH;
	case KW_SET: return H_SET;
	case KW_BEGIN: case KW_COMMIT: case KW_END: return H_NOISE;
	default: return H_NONE;
	}
}

/* The first word. END and ABORT are shown (and hashed) as COMMIT and
 * ROLLBACK: the parser makes the same statement of them. */
static void first_word(struct norm *n)
{
	unsigned id = KW_ID(n->lx.kw);
	n->out->kind = kind_of(id);
	n->head = head_of(id);
	const char *alias = id == KW_END ? "commit" : id == KW_ABORT ? "rollback" : NULL;
	if (!alias) {
		tok_word(n);
		return;
	}
	show_word_text(n, alias);
}

static void strip_name(struct norm *n)
{
	n->out->flags |= FP_NAME_STRIPPED;
	emit(n, V_NAME);
	show(n, "_", 1, M_RAW, D_WORD);
}

static bool is_fetch_word(unsigned id)
{
	return id == KW_NEXT || id == KW_PRIOR || id == KW_FIRST || id == KW_LAST ||
	       id == KW_ABSOLUTE || id == KW_RELATIVE || id == KW_ALL || id == KW_FORWARD ||
	       id == KW_BACKWARD || id == KW_FROM || id == KW_IN;
}

static bool tok_word_is(const struct lex *lx, const char *w)
{
	size_t k = strlen(w);
	return lx->type == TK_WORD && lx->end - lx->start == k && word_eq(lx->s + lx->start, w, k);
}

/* SET name {=|TO} v1, v2 ...: bare words are values (the parser makes
 * string constants of them); a run of constants shows as one placeholder. */
static bool head_setval(struct norm *n, enum tok_type t, unsigned id)
{
	bool value = t == TK_CONST || t == TK_QIDENT ||
		     (t == TK_WORD && id != KW_DEFAULT && !tok_word_is(&n->lx, "local"));
	if (t == TK_COMMA && n->set_const)
		return true;
	if (!value) {
		n->set_const = false;
		return false;
	}
	if (!n->set_const) {
		n->set_const = true;
		emit(n, V_CONST);
		show_param(n);
	}
	return true;
}


/* SET [SESSION] name {=|TO} ..., SET TIME ZONE v, SET ROLE r: the parser
 * makes SET timezone = v of TIME ZONE, and SESSION is the default scope. */
static bool head_set(struct norm *n)
{
	struct lex *lx = &n->lx;
	bool eq = lx->type == TK_OP && lx->end - lx->start == 1 && lx->s[lx->start] == '=';
	if (n->head == H_SET_SESSION) {
		n->head = H_SET;
		if (tok_word_is(lx, "authorization") || tok_word_is(lx, "characteristics")) {
			show_word_text(n, "session");
			n->head = tok_word_is(lx, "authorization") ? H_SETVAL : H_NONE;
			return false;
		}
	} else if (n->head == H_SET_TIME) {
		n->head = H_SET;
		if (tok_word_is(lx, "zone")) {
			show_word_text(n, "timezone");
			eq = true;
		} else {
			show_word_text(n, "time");
		}
	} else if (n->ntok == 2 && tok_word_is(lx, "session")) {
		n->head = H_SET_SESSION;
		return true;
	}
	if (n->head == H_SET && n->ntok <= 3 && tok_word_is(lx, "time")) {
		n->head = H_SET_TIME;
		return true;
	}
	if (eq || KW_ID(lx->kw) == KW_TO || tok_word_is(lx, "role")) {
		n->head = H_SETVAL; /* SET x TO v is SET x = v */
		if (tok_word_is(lx, "role"))
			return false;
		emit(n, V_OP ^ fnv(FNV_OFF, "=", 1));
		show(n, "=", 1, M_RAW, D_OTHER);
		return true;
	}
	return false;
}

/* RELEASE [SAVEPOINT] x, ROLLBACK TO [SAVEPOINT] x: the parser drops the
 * noise word; it is shown always. */
static bool head_savepoint(struct norm *n, bool name, unsigned id)
{
	n->head = H_NONE;
	if (!name)
		return false;
	show_word_text(n, "savepoint");
	if (id == KW_SAVEPOINT)
		n->head = H_NAME;
	else
		strip_name(n);
	return true;
}

/* Applies the rule of the current head state to a depth-0 token; true when
 * the token was consumed. */
static bool head_rule(struct norm *n)
{
	struct lex *lx = &n->lx;
	enum tok_type t = lx->type;
	unsigned id = t == TK_WORD ? KW_ID(lx->kw) : KW_NONE;
	bool name = t == TK_WORD || t == TK_QIDENT;
	enum head h = n->head;
	switch (h) {
	case H_NONE:
		return false;
	case H_NOISE:
	case H_ROLLBACK:
		if (id == KW_WORK || id == KW_TRANSACTION)
			return true; /* COMMIT WORK is COMMIT */
		n->head = (h == H_ROLLBACK && id == KW_TO) ? H_ROLLBACK_TO : H_NONE;
		return false;
	case H_RELEASE:
	case H_ROLLBACK_TO:
		return head_savepoint(n, name, id);
	case H_DEALLOC:
		if (id == KW_PREPARE)
			return true; /* DEALLOCATE PREPARE x is DEALLOCATE x */
		break;
	case H_PREPARE:
		if (id == KW_TRANSACTION) {
			n->out->kind = FP_KIND_TXN;
			n->head = H_NONE;
			return false;
		}
		break;
	case H_FETCH:
		if (name && !is_fetch_word(id)) {
			strip_name(n);
			return true;
		}
		return false;
	case H_SET:
	case H_SET_SESSION:
	case H_SET_TIME:
		return head_set(n);
	case H_SETVAL:
		return head_setval(n, t, id);
	case H_EXEC_ARGS:
		if (t != TK_OPEN)
			n->head = H_NONE;
		return false;
	default:
		break;
	}
	/* H_NAME, H_EXECUTE, H_CLOSE and the fall-throughs above: this token
	 * is the name, unless it is ALL (DEALLOCATE ALL, CLOSE ALL) */
	n->head = h == H_EXECUTE ? H_EXEC_ARGS : H_NONE;
	if (!name || id == KW_ALL)
		return false;
	strip_name(n);
	return true;
}

/* ---- one token through the normalizer ---- */

/* A pending VALUES comma or ARRAY word is settled by the token after it. */
static void settle(struct norm *n)
{
	struct lex *lx = &n->lx;
	struct frame *f = top(n);
	if (n->pending_array && !(lx->type == TK_OPEN && lx->s[lx->start] == '['))
		flush_array(n);
	if (n->pending_semi && !(lx->type == TK_SEMI && n->depth == 0 && !n->overflow)) {
		n->pending_semi = false;
		emit(n, V_OP ^ ';');
		show(n, ";", 1, M_RAW, D_OTHER);
	}
	if (f->values) {
		bool row = lx->type == TK_OPEN && lx->s[lx->start] == '(' &&
			   ((n->prev & P_VALUES) || f->comma);
		bool comma = lx->type == TK_COMMA && (n->prev & P_ROWCLOSE) && !f->comma;
		if (!row && !comma) {
			if (f->comma)
				emit(n, V_OP ^ ',');
			f->values = f->comma = false;
		}
	}
}

static void step(struct norm *n)
{
	struct lex *lx = &n->lx;
	if (lx->type == TK_SEMI && n->ntok == 0)
		return; /* leading ';' */
	n->prev = n->cur;
	n->cur = 0;
	settle(n);
	if (lx->type == TK_WORD && n->out->kind == FP_KIND_EMPTY) {
		if (n->ntok == 0) {
			n->ntok++;
			first_word(n);
			return;
		}
		n->out->kind = kind_of(KW_ID(lx->kw));
	}
	bool at_top = n->depth == 0 && !n->overflow;
	n->ntok++;
	if (at_top && n->head != H_NONE && head_rule(n))
		return;
	switch (lx->type) {
	case TK_CONST: tok_const(n); break;
	case TK_WORD: tok_word(n); break;
	case TK_QIDENT: tok_qident(n); break;
	case TK_OPEN: tok_open(n); break;
	case TK_CLOSE: tok_close(n); break;
	case TK_COMMA: tok_comma(n); break;
	case TK_SEMI:
		if (at_top) {
			/* a trailing ';' is not part of the shape, nor is ";;" */
			n->pending_semi = true;
			break;
		}
		tok_other(n);
		break;
	default: tok_other(n); break;
	}
}

/* ---- the first comment: tag and sqlcommenter pairs ---- */

/* URL-decodes s[0..k) (and undoes \' when unq) into a NUL-terminated
 * d[cap]; control bytes become '?'. Returns false when cut. */
static bool decode(const char *s, size_t k, bool unq, char *d, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		if (unq && c == '\\' && i + 1 < k)
			c = (unsigned char)s[++i];
		else if (c == '%' && i + 2 < k && hexval((unsigned char)s[i + 1]) >= 0 &&
			 hexval((unsigned char)s[i + 2]) >= 0) {
			c = (unsigned char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
			i += 2;
		}
		if (o + 1 >= cap) {
			d[o] = 0;
			return false;
		}
		d[o++] = (char)((c < 0x20 || c == 0x7f) ? '?' : c);
	}
	d[o] = 0;
	return true;
}

static size_t skip_sp(const char *s, size_t i, size_t k)
{
	while (i < k && IS(s[i], C_SPACE))
		i++;
	return i;
}

/* One key='value' (sqlcommenter) or key:value (marginalia) pair at *i. */
static bool parse_pair(const char *s, size_t k, size_t *i, struct fp_result *out)
{
	size_t ks = skip_sp(s, *i, k), ke = ks;
	while (ke < k && (IS(s[ke], C_IDCONT) || s[ke] == '.' || s[ke] == '-' || s[ke] == '%'))
		ke++;
	size_t j = skip_sp(s, ke, k);
	if (ke == ks || j >= k || (s[j] != '=' && s[j] != ':'))
		return false;
	bool quoted = false;
	size_t vs = skip_sp(s, j + 1, k), ve;
	if (s[j] == '=' && vs < k && s[vs] == '\'') {
		quoted = true;
		for (ve = ++vs; ve < k && s[ve] != '\''; ve++)
			ve += s[ve] == '\\';
		if (ve >= k)
			return false;
		j = ve + 1;
	} else {
		for (ve = vs; ve < k && s[ve] != ','; ve++)
			;
		j = ve;
		while (ve > vs && IS(s[ve - 1], C_SPACE))
			ve--;
	}
	struct fp_kv *kv = &out->kv[out->nkv++];
	if (!decode(s + ks, ke - ks, false, kv->key, FP_KEY_MAX) ||
	    !decode(s + vs, ve - vs, quoted, kv->value, FP_VALUE_MAX))
		out->flags |= FP_TAG_TRUNCATED;
	j = skip_sp(s, j, k);
	*i = j < k && s[j] == ',' ? j + 1 : j;
	return j >= k || s[j] == ',';
}

static void parse_tag(const char *s, size_t k, struct fp_result *out)
{
	while (k > 0 && IS(s[k - 1], C_SPACE))
		k--;
	size_t i = skip_sp(s, 0, k);
	size_t n = k - i < FP_TAG_MAX - 1 ? k - i : FP_TAG_MAX - 1;
	if (n < k - i) {
		out->flags |= FP_TAG_TRUNCATED;
		while (n > 0 && ((unsigned char)s[i + n] & 0xc0) == 0x80)
			n--; /* do not split a UTF-8 sequence */
	}
	for (size_t j = 0; j < n; j++) {
		unsigned char c = (unsigned char)s[i + j];
		out->tag[j] = (char)((c < 0x20 || c == 0x7f) ? ' ' : c);
	}
	out->tag[n] = 0;
	out->tag_len = n;
	while (i < k) {
		if (out->nkv == FP_KV_MAX) {
			out->flags |= FP_TAG_TRUNCATED;
			break;
		}
		if (!parse_pair(s, k, &i, out))
			break;
	}
}

/* ---- public ---- */

static void norm_init(struct norm *n, const char *sql, size_t len, unsigned opts,
		      struct fp_result *out)
{
	lex_init(&n->lx, sql, len, 0);
	n->out = out;
	n->cap = (opts & FP_OPT_NO_TEXT) ? 0 : FP_TEXT_MAX - 1;
	n->tlen = n->tvalid = 0;
	n->last = D_NONE;
	n->nparams = n->depth = n->overflow = n->ntok = 0;
	n->head = H_NONE;
	n->set_const = n->pending_semi = n->pending_array = false;
	n->prev = n->cur = 0;
	n->fr[0].sig = V_SEED;
	n->fr[0].kind = FK_GROUP;
	n->fr[0].elem = ES_BAD;
	n->fr[0].cast_br = 0;
	n->fr[0].values = n->fr[0].comma = n->fr[0].have_row = false;
	out->kind = FP_KIND_EMPTY;
	out->flags = 0;
	out->nkv = 0;
	out->tag_len = 0;
	out->tag[0] = 0;
}

void fp_compute(const char *sql, size_t len, unsigned opts, struct fp_result *out)
{
	struct norm n;
	norm_init(&n, sql, len, opts, out);
	for (lex_next(&n.lx); n.lx.type != TK_EOF; lex_next(&n.lx))
		step(&n);
	if (n.pending_array)
		flush_array(&n);
	if (n.head == H_SET_TIME)
		show_word_text(&n, "time"); /* held for a ZONE that did not come */
	while (n.depth > 0) { /* unbalanced: close what is open, plainly */
		struct frame f = n.fr[n.depth--];
		emit(&n, mix(V_GROUP ^ f.open, f.sig));
	}
	if (n.fr[0].comma)
		emit(&n, V_OP ^ ',');
	if (out->kind == FP_KIND_EMPTY && n.ntok > 0)
		out->kind = FP_KIND_OTHER;
	out->hash = finish(n.fr[0].sig);
	out->nparams = n.nparams;
	out->text_len = n.tvalid;
	out->text[n.tvalid] = 0;
	if (n.tvalid < n.tlen && !(opts & FP_OPT_NO_TEXT))
		out->flags |= FP_TRUNCATED;
	if (n.lx.partial)
		out->flags |= FP_PARTIAL;
	if (n.lx.have_tag && !(opts & FP_OPT_NO_TAG))
		parse_tag(sql + n.lx.tag_off, n.lx.tag_len, out);
}

/* psql's rule for SQL-standard function bodies: after CREATE [OR REPLACE]
 * FUNCTION|PROCEDURE, BEGIN ... END (CASE ... END inside) holds ';'. */
struct atomic {
	unsigned nwords, paren;
	int begin_depth;
	bool create_fn;
	unsigned first[4];
};

static void atomic_step(struct atomic *a, const struct lex *lx)
{
	if (lx->type == TK_OPEN || lx->type == TK_CLOSE) {
		a->paren += lx->type == TK_OPEN ? 1 : (a->paren > 0 ? (unsigned)-1 : 0);
		return;
	}
	if (lx->type != TK_WORD)
		return;
	unsigned id = KW_ID(lx->kw);
	if (a->nwords < 4)
		a->first[a->nwords] = id;
	a->nwords++;
	if (a->nwords == 2 || a->nwords == 4) {
		unsigned fn = a->first[a->nwords - 1];
		bool head = a->first[0] == KW_CREATE &&
			    (a->nwords == 2 || (a->first[1] == KW_OR && a->first[2] == KW_REPLACE));
		a->create_fn |= head && (fn == KW_FUNCTION || fn == KW_PROCEDURE);
	}
	if (!a->create_fn || a->paren)
		return;
	if (id == KW_BEGIN || (id == KW_CASE && a->begin_depth > 0))
		a->begin_depth++;
	else if (id == KW_END && a->begin_depth > 0)
		a->begin_depth--;
}

bool fp_next_statement(const char *text, size_t len, size_t *pos, size_t *off, size_t *stmt_len)
{
	struct lex lx;
	while (*pos < len) {
		size_t start = *pos, end = len;
		while (start < len && IS(text[start], C_SPACE))
			start++;
		struct atomic a = {0};
		bool any = false;
		lex_init(&lx, text, len, start);
		for (lex_next(&lx);; lex_next(&lx)) {
			if (lx.type == TK_EOF || (lx.type == TK_SEMI && a.begin_depth == 0)) {
				end = lx.type == TK_EOF ? len : lx.start;
				*pos = lx.end;
				break;
			}
			any = true;
			atomic_step(&a, &lx);
		}
		if (!any)
			continue;
		while (end > start && IS(text[end - 1], C_SPACE))
			end--;
		*off = start;
		*stmt_len = end - start;
		return true;
	}
	*pos = len;
	return false;
}

void fp_hex(uint64_t hash, char out[17])
{
	static const char digits16[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--, hash >>= 4)
		out[i] = digits16[hash & 15];
	out[16] = 0;
}

const char *fp_tag_get(const struct fp_result *r, const char *key)
{
	for (unsigned i = 0; i < r->nkv; i++)
		if (strcmp(r->kv[i].key, key) == 0)
			return r->kv[i].value;
	return NULL;
}

const char *fp_kind_name(enum fp_kind kind)
{
	static const char *const names[] = {
		[FP_KIND_EMPTY] = "empty", [FP_KIND_SELECT] = "select", [FP_KIND_INSERT] = "insert",
		[FP_KIND_UPDATE] = "update", [FP_KIND_DELETE] = "delete", [FP_KIND_MERGE] = "merge",
		[FP_KIND_WITH] = "with", [FP_KIND_COPY] = "copy", [FP_KIND_DDL] = "ddl",
		[FP_KIND_TXN] = "txn", [FP_KIND_SET] = "set", [FP_KIND_PREPARED] = "prepared",
		[FP_KIND_CURSOR] = "cursor", [FP_KIND_LISTEN] = "listen", [FP_KIND_OTHER] = "other",
	};
	return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "other";
}
