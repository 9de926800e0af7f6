/*
 * fp_lex: the tokens of PostgreSQL's lexical rules (scan.l) that
 * fp_lex_next() does not lex inline; see fp_lex.h.
 */
#define FP_KW_DATA /* fingerprint_kw.h: the keyword tables live here */
#include "analyzer/fp_lex.h"

#include "analyzer/fingerprint.h"

const uint8_t fp_cclass[256] = {
	[' '] = C_SPACE, ['\t'] = C_SPACE, ['\f'] = C_SPACE, ['\v'] = C_SPACE,
	['\n'] = C_SPACE | C_NL, ['\r'] = C_SPACE | C_NL,
	['0' ... '9'] = C_DIGIT | C_IDCONT,
	['A' ... 'D'] = C_IDSTART | C_IDCONT, ['F' ... 'Z'] = C_IDSTART | C_IDCONT,
	['a' ... 'd'] = C_IDSTART | C_IDCONT, ['f' ... 'z'] = C_IDSTART | C_IDCONT,
	['E'] = C_IDSTART | C_IDCONT | C_NUMX, ['e'] = C_IDSTART | C_IDCONT | C_NUMX,
	['_'] = C_IDSTART | C_IDCONT | C_NUMX, ['.'] = C_NUMX,
	[0x80 ... 0xff] = C_IDSTART | C_IDCONT,
	['$'] = C_IDCONT,
	['~'] = C_OP, ['!'] = C_OP, ['@'] = C_OP, ['#'] = C_OP, ['^'] = C_OP,
	['&'] = C_OP, ['|'] = C_OP, ['`'] = C_OP, ['?'] = C_OP, ['+'] = C_OP,
	['-'] = C_OP, ['*'] = C_OP, ['/'] = C_OP, ['%'] = C_OP, ['<'] = C_OP,
	['>'] = C_OP, ['='] = C_OP,
};

const uint8_t fp_cstart[256] = {FP_CSTART(FP_CS_VALUE)};

const uint64_t fp_low_bytes[9] = {
	0, 0xff, 0xffff, 0xffffff, 0xffffffffULL, 0xffffffffffULL, 0xffffffffffffULL, 0xffffffffffffffULL, ~0ULL,
};

uint64_t fp_word_hash(const char *s, size_t n, const char *end, uint64_t *first)
{
	*first = fp_load8(s, n < 8 ? n : 8, end);
	if (n <= 8)
		return fp_word_short(n, *first);
	uint64_t h = fp_mix(V_WORD, *first);
	for (size_t k = 8; k < n; k += 8)
		h = fp_mix(h, fp_load8(s + k, n - k < 8 ? n - k : 8, end));
	return fp_mix(h, n);
}

/* Are the bytes of x under the high bits in high all [a-z0-9_] or >= 0x80?
 * No carry crosses a byte. */
static inline bool plain_bytes(uint64_t x, uint64_t high)
{
	uint64_t y = x & ~HIGHS;
	uint64_t alpha = (y + 0x1f * ONES) & ~(y + 0x05 * ONES); /* 'a' <= y <= 'z' */
	uint64_t digit = (y + 0x50 * ONES) & ~(y + 0x46 * ONES); /* '0' <= y <= '9' */
	uint64_t under = ~((y ^ 0x5f * ONES) + 0x7f * ONES);     /* y == '_' */
	return ((x | alpha | digit | under) & high) == high;
}

/* FNV of s[0..k) as the display text shows it (fp_safe_byte()) */
static uint64_t safe_fnv(const char *s, size_t k)
{
	uint64_t h = FNV_OFF;
	for (size_t i = 0; i < k; i++)
		h = (h ^ fp_safe_byte((unsigned char)s[i])) * FNV_PRIME;
	return h;
}

/* lx->h of the quoted identifier lx->start..lx->end: the hash of the bare
 * word if it is the same identifier (a reserved word quoted is not), else
 * one of its text as written. */
static void qident_hash(struct fp_lex *lx)
{
	const char *t = lx->s + lx->start;
	size_t k = lx->end - lx->start;
	bool closed = k >= 2 && t[0] == '"' && t[k - 1] == '"';
	const char *s = t + 1;
	size_t n = closed ? k - 2 : 0;
	bool plain = n > 0 && n <= 63 && IS(s[0], C_IDSTART);
	for (size_t i = 0; plain && i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		plain = IS(c, C_IDCONT) && c != '$' && !(c >= 'A' && c <= 'Z');
	}
	uint64_t first;
	if (plain)
		lx->h = fp_word_hash(s, n, lx->s + lx->len, &first);
	if (plain && (fp_kw_lookup_h(lx->h, s, n, first) & KF_RESERVED))
		plain = false;
	if (!plain)
		lx->h = V_QIDENT ^ safe_fnv(t, k);
}

/* Index of the first byte a or b in s[i..len), or len: 16 bytes at a time
 * with SSE2, else 8 (the lowest flagged byte of each test is exact). */
static size_t find_byte2(const char *s, size_t i, size_t len, unsigned char a, unsigned char b)
{
#if defined(__SSE2__)
	for (; i < len && len - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8((char)a)),
								      _mm_cmpeq_epi8(x, _mm_set1_epi8((char)b))));
		if (m)
			return i + (unsigned)__builtin_ctz(m);
	}
#endif
	for (; i < len && len - i >= 8; i += 8) {
		uint64_t x, y;
		memcpy(&x, s + i, 8);
		x = fp_le64(x);
		y = x ^ (b * ONES);
		x ^= a * ONES;
		uint64_t z = (((x - ONES) & ~x) | ((y - ONES) & ~y)) & HIGHS;
		if (z)
			return i + ((unsigned)__builtin_ctzll(z) >> 3);
	}
	while (i < len && (unsigned char)s[i] != a && (unsigned char)s[i] != b)
		i++;
	return i;
}

/* Index of the first byte c in s[i..len), or len. */
static size_t find_byte(const char *s, size_t i, size_t len, unsigned char c)
{
	return find_byte2(s, i, len, c, c);
}

/* Nested slash-star comment starting at i; returns the index after it. */
static size_t skip_block_comment(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t start = i + 2, depth = 1;
	/* only a '/' or '*' before the last byte can start "/" "*" or "*" "/" */
	for (i = start; (i = find_byte2(s, i, lx->len - 1, '/', '*')) + 1 < lx->len; i++) {
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

static size_t skip_blank(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	while (i < lx->len) {
		if (IS(s[i], C_SPACE)) {
			i++;
		} else if (s[i] == '-' && i + 1 < lx->len && s[i + 1] == '-') {
			i = find_byte2(s, i, lx->len, '\n', '\r');
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
static size_t lex_string_body(struct fp_lex *lx, size_t i, bool esc)
{
	const char *s = lx->s;
	for (;;) {
		if (!esc)
			i = find_byte(s, i, lx->len, '\'');
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

size_t fp_lex_string(struct fp_lex *lx, size_t i)
{
	return lex_string_body(lx, i, false);
}

/* "..." identifier body from i (after the quote); "" is a quote. */
static size_t lex_qident_body(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	for (;;) {
		i = find_byte(s, i, lx->len, '"');
		if (i >= lx->len) {
			lx->partial = true;
			return lx->len;
		}
		i++;
		if (i < lx->len && s[i] == '"')
			i++;
		else
			return i;
	}
}

/* The common case, in one pass: "name" closed by a single quote, name of
 * up to 63 bytes of [a-z0-9_] and bytes >= 0x80 (the same identifier as
 * the bare word unless it is a reserved word). Returns the index after it
 * with lx->h set, or 0 if it is not that case. */
static size_t plain_qident(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s + i;
	uint64_t h = V_WORD, first = 0;
	if (i >= lx->len || !IS(s[0], C_IDSTART))
		return 0;
	for (size_t k = 0; k < 64 && i + k < lx->len; k += 8) {
		/* zero bytes past the end: neither a quote nor plain */
		uint64_t x = fp_load_upto(lx->s, i + k, lx->len), t;
		t = x ^ ('"' * ONES);
		t = (t - ONES) & ~t & HIGHS; /* lowest set bit: the first quote */
		unsigned p = t ? (unsigned)__builtin_ctzll(t) >> 3 : 8;
		uint64_t keep = p == 8 ? ~0ULL : (1ULL << (8 * p)) - 1;
		if (!plain_bytes(x & keep, HIGHS & keep))
			return 0;
		if (p == 8) {
			first = k == 0 ? x : first;
			h = fp_mix(h, x);
			continue;
		}
		size_t n = k + p;
		if ((i + n + 1 < lx->len && s[n + 1] == '"') || n == 0 || n > 63)
			return 0; /* "" inside, or an empty or overlong name */
		x &= keep;
		if (n <= 8) {
			first = k == 0 ? x : first;
			h = fp_word_short(n, first);
		} else {
			h = fp_mix(p ? fp_mix(h, x) : h, n);
		}
		if (fp_kw_lookup_h(h, s, n, first) & KF_RESERVED)
			return 0;
		lx->h = h;
		return i + n + 1;
	}
	return 0;
}

size_t fp_lex_qident(struct fp_lex *lx, size_t i)
{
	char buf[32] __attribute__((aligned(16))) = {0};
	const char *v = lx->s + i;
	if (lx->len - i < FP_VIEW_MAX) {
		fp_copy16(buf, lx->s, i, lx->len);
		v = buf;
	}
	size_t end = fp_scan_qident(v, lx->s + i - 1, &lx->h);
	if (FP_LIKELY(end))
		return i + end;
	end = plain_qident(lx, i);
	if (FP_LIKELY(end))
		return end;
	lx->end = lex_qident_body(lx, i);
	qident_hash(lx);
	return lx->end;
}

/* After a U&'...' or U&"..." body: an optional UESCAPE 'c' belongs to it. */
static size_t lex_uescape(struct fp_lex *lx, size_t i)
{
	size_t j = skip_blank(lx, i);
	if (j + 7 <= lx->len && fp_word_eq(lx->s + j, "uescape", 7) &&
	    (j + 7 == lx->len || !IS(lx->s[j + 7], C_IDCONT))) {
		size_t k = skip_blank(lx, j + 7);
		if (k < lx->len && lx->s[k] == '\'')
			return lex_string_body(lx, k + 1, false);
	}
	return i;
}

#if defined(__SSE2__)
/* A word of 16 to 31 bytes at s (32 bytes readable): its end, or 0 */
static size_t word32(const char *s, struct fp_word *w)
{
	__m128i a0, a1, x0 = _mm_loadu_si128((const __m128i *)(const void *)s);
	__m128i x1 = _mm_loadu_si128((const __m128i *)(const void *)(s + 16));
	unsigned n1 = (unsigned)__builtin_ctz(~(unsigned)_mm_movemask_epi8(fp_ident16(x1, &a1)));
	if (n1 == 16)
		return 0;
	(void)fp_ident16(x0, &a0);
	x0 = fp_lower16(x0, a0);
	x1 = fp_keep16(fp_lower16(x1, a1), n1);
	uint64_t c0 = fp_le64((uint64_t)_mm_cvtsi128_si64(x0));
	uint64_t c1 = fp_le64((uint64_t)_mm_cvtsi128_si64(_mm_srli_si128(x0, 8)));
	uint64_t c2 = fp_le64((uint64_t)_mm_cvtsi128_si64(x1));
	uint64_t c3 = fp_le64((uint64_t)_mm_cvtsi128_si64(_mm_srli_si128(x1, 8)));
	uint64_t h = fp_mix(fp_mix(V_WORD, c0), c1);
	if (n1 > 0)
		h = fp_mix(h, c2);
	if (n1 > 8)
		h = fp_mix(h, c3);
	w->first = c0;
	w->h = fp_mix(h, 16 + n1);
	w->kw = fp_kw_lookup_h(w->h, s, 16 + n1, c0);
	return 16 + n1;
}
#endif

size_t fp_word_long(const char *str, size_t i, size_t len, struct fp_word *w)
{
	const char *s = str + i, *end = str + len;
	size_t n = 0;
	uint64_t h = V_WORD, x = 0;
#if defined(__SSE2__)
	if (len - i >= 32 && (n = word32(s, w)) != 0)
		return i + n;
#endif
	/* 8 bytes at a time while they are all in the input, hashed as they
	 * are scanned */
	for (; end - (s + n) >= 8; n += 8) {
		memcpy(&x, s + n, 8);
		x = fp_le64(x);
		uint64_t stop = ~fp_swar_ident(x) & HIGHS;
		if (stop) {
			unsigned p = (unsigned)__builtin_ctzll(stop) >> 3;
			x = fp_swar_lower(x & ((1ULL << (8 * p)) - 1));
			if (n == 0)
				w->first = x;
			n += p;
			goto done;
		}
		x = fp_swar_lower(x);
		if (n == 0)
			w->first = x;
		h = fp_mix(h, x);
	}
	/* the rest, near the end of the input; x == 0: no partial chunk (words
	 * have no NUL byte) */
	size_t k = n;
	while (s + n < end && IS(s[n], C_IDCONT))
		n++;
	x = fp_load8(s + k, n - k, end); /* fewer than 8 bytes are left */
	if (k == 0)
		w->first = x;
done:
	if (n <= 8)
		w->h = fp_word_short(n, w->first);
	else
		w->h = fp_mix(x ? fp_mix(h, x) : h, n);
	w->kw = fp_kw_lookup_h(w->h, s, n, w->first);
	return i + n;
}

static size_t digits(const char *s, size_t i, size_t len, unsigned base)
{
	/* digits with single '_' separators between them (PostgreSQL 16) */
	for (;;) {
		size_t j = (i < len && s[i] == '_') ? i + 1 : i;
		if (j >= len)
			return i;
		int d = fp_hexval((unsigned char)s[j]);
		if (d < 0 || (unsigned)d >= base)
			return i;
		i = j + 1;
	}
}

/* Number at i (a digit, or '.' before a digit). Returns the index after it. */
static size_t lex_number(const char *s, size_t i, size_t len)
{
	if (s[i] != '.' && !(s[i] == '0' && i + 1 < len && IS(s[i + 1], C_IDSTART))) {
		size_t j = i + 1; /* the common case: digits alone */
		while (j < len && IS(s[j], C_DIGIT))
			j++;
		if (j >= len || (s[j] != '.' && s[j] != '_' && s[j] != 'e' && s[j] != 'E'))
			return j;
	}
	if (s[i] == '0' && i + 1 < len) {
		unsigned char p = fp_lower((unsigned char)s[i + 1]);
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
	if (i + 1 < len && fp_lower((unsigned char)s[i]) == 'e') {
		size_t j = i + 1;
		if (s[j] == '+' || s[j] == '-')
			j++;
		if (j < len && IS(s[j], C_DIGIT))
			i = digits(s, j + 1, len, 10);
	}
	return i;
}

/* $n, $tag$...$tag$, or a lone '$'. */
static void lex_dollar(struct fp_lex *lx, size_t i)
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
		lx->h = fp_fnv(FNV_OFF, "$", 1);
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

/* Does the previous token end an operand (a "-" after it is binary)? */
static bool prev_operand(const struct fp_lex *lx)
{
	return lx->type == TK_QIDENT || lx->type == TK_CONST || lx->type == TK_CLOSE ||
	       (lx->type == TK_WORD && !(lx->kw & KF_EXPR));
}

static void lex_op(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t j = op_end(s, i, lx->len);
	if (j - i == 1 && s[i] == '-' && !prev_operand(lx)) {
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
	lx->type = TK_OP;
	lx->end = j;
	if (j - i == 2 && s[i] == '!' && s[i + 1] == '=')
		lx->h = fp_fnv(FNV_OFF, "<>", 2); /* the parser's spelling */
	else
		lx->h = fp_fnv(FNV_OFF, s + i, j - i);
}

/* E'', B'', X'', N'', U&'' strings and U&"" identifiers; false if s[i] is
 * an ordinary word start. */
static bool lex_prefixed(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	if (i + 1 >= lx->len || (s[i + 1] != '\'' && s[i + 1] != '&'))
		return false;
	unsigned char c = fp_lower((unsigned char)s[i]);
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
		if (!str)
			qident_hash(lx);
		return true;
	}
	return false;
}

static void lex_punct(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	char c = s[i];
	lx->end = i + 1;
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
			lx->h = fp_fnv(FNV_OFF, "..", 2);
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
	default: /* a stray byte, hashed as shown: a control byte as '?' */
		lx->type = TK_OP;
		lx->h = (FNV_OFF ^ fp_safe_byte((unsigned char)c)) * FNV_PRIME;
		return;
	}
	lx->type = TK_OP;
	lx->h = fp_fnv(FNV_OFF, s + i, lx->end - i);
}

void fp_lex_atomic(struct fp_atomic *a, const struct fp_lex *lx)
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

void fp_lex_slow(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	if (s[i] == '-' || s[i] == '/') {
		i = skip_blank(lx, i);
		lx->start = i;
		if (i >= lx->len) {
			lx->type = TK_EOF;
			lx->end = lx->len;
			return;
		}
	}
	unsigned char c = (unsigned char)s[i];
	if (IS(c, C_DIGIT) || (c == '.' && i + 1 < lx->len && IS(s[i + 1], C_DIGIT))) {
		lx->type = TK_CONST;
		lx->end = lex_number(s, i, lx->len);
	} else if (c == '\'') {
		lx->type = TK_CONST;
		lx->end = lex_string_body(lx, i + 1, false);
	} else if (c == '"') {
		lx->type = TK_QIDENT;
		lx->end = fp_lex_qident(lx, i + 1);
	} else if (IS(c, C_IDSTART)) {
		if (!lex_prefixed(lx, i))
			fp_lex_word(lx, i);
	} else if (c == '$') {
		lex_dollar(lx, i);
	} else if (IS(c, C_OP)) {
		lex_op(lx, i);
	} else {
		lex_punct(lx, i);
	}
}

/* ---- the normalized text ---- */

/* Appends the token s[0..k), after a space when sp; a token that does not
 * fit is dropped whole, and so is everything after it (valid stops). */
static void text_put(struct fp_text *t, bool sp, const char *s, size_t k, int mode, uint64_t first,
		     const char *end)
{
	if (t->valid == t->len && t->len + sp + k <= t->cap) {
		char *d = t->buf + t->len;
		*d = ' ';
		d += sp;
		size_t i = 0;
		if (mode == M_FOLD && k <= 8 && t->len + sp + 8 <= FP_TEXT_MAX) {
			uint64_t x = fp_le64(first); /* a short word, lowered by the lexer */
			memcpy(d, &x, 8);
		} else if (mode == M_FOLD) { /* longer words: 8 bytes at a time */
			for (; i + 8 <= k; i += 8) {
				uint64_t x = fp_le64(fp_load8(s + i, 8, end));
				memcpy(d + i, &x, 8);
			}
			for (; i < k; i++)
				d[i] = (char)fp_lower((unsigned char)s[i]);
		} else if (mode == M_SAFE) {
			for (; i < k; i++)
				d[i] = (char)fp_safe_byte((unsigned char)s[i]);
		} else {
			memcpy(d, s, k);
		}
		t->valid += sp + k;
	}
	t->len += sp + k;
}

void fp_text_show(struct fp_text *t, const char *s, size_t k, int mode, uint8_t cls, uint64_t first,
		  const char *end)
{
	char c = s[0];
	bool glue = t->last == D_NONE || c == ')' || c == ']' || c == ',' || (c == '.' && k == 1) ||
		    (c == ':' && k == 2 && s[1] == ':') || (c == '(' && t->last == D_WORD) ||
		    (c == '[' && (t->last == D_WORD || t->last == D_CLOSE || t->last == D_CONST));
	if (glue && (c == '.' || c == ':') && t->valid && (t->buf[t->valid - 1] == '.' || t->buf[t->valid - 1] == ':'))
		glue = false; /* ". ." is not "..", ": ::" is not ":::" */
	text_put(t, !glue, s, k, mode, first, end);
	t->last = cls;
}

void fp_text_param(struct fp_text *t, unsigned nparams)
{
	char buf[12];
	size_t k = sizeof buf;
	unsigned v = nparams;
	do
		buf[--k] = (char)('0' + v % 10);
	while ((v /= 10) && k > 1);
	buf[--k] = '$';
	fp_text_show(t, buf + k, sizeof buf - k, M_RAW, D_CONST, 0, NULL);
}

/* ---- statements: the splitter ---- */

/* Next token into lx->type/start/end/h/first/kw, and its type; TK_EOF at
 * the end. (fp_compute() lexes in its own loop, run().) */
static enum tok_type lex_next(struct fp_lex *lx)
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

/* Does s[i..j) hold "begin" in any case (as a word or not)? */
static bool has_begin(const char *s, size_t i, size_t j)
{
	if (j < 5)
		return false;
	for (;; i++) {
		i = find_byte2(s, i, j - 4, 'b', 'B');
		if (i >= j - 4)
			return false;
		if (fp_word_eq(s + i, "begin", 5))
			return true;
	}
}

/* The first byte at or after i that may start or end a quote or a comment,
 * or end a statement (; ' " $ - /), or len */
static size_t split_skip(const char *s, size_t i, size_t len)
{
	static const uint8_t stop[256] = {[';'] = 1, ['\''] = 1, ['"'] = 1, ['$'] = 1, ['-'] = 1, ['/'] = 1};
#if defined(__SSE2__)
	for (; len - i >= 16; i += 16) {
		__m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8(';')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\''))),
					 _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('"')), _mm_cmpeq_epi8(x, _mm_set1_epi8('$'))));
		m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')), _mm_cmpeq_epi8(x, _mm_set1_epi8('/'))));
		unsigned b = (unsigned)_mm_movemask_epi8(m);
		if (b)
			return i + (unsigned)__builtin_ctz(b);
	}
#endif
	while (i < len && !stop[(unsigned char)s[i]])
		i++;
	return i;
}

/*
 * The splitter's fast path: from i, the first byte of the statement's first
 * token, the index of the ';' that ends it, or len; (size_t)-1 when the
 * token lexer must decide. Only what can hide a ';' is looked at: quotes,
 * quoted identifiers and comments (a string's '' and a name's "" are two
 * quotes in a row, and so is a string continued on the next line). An
 * E'' string (backslash escapes), a '$' (dollar quotes, $n, names with $)
 * and a "begin" anywhere (an SQL-standard function body) are left to the
 * token lexer.
 */
static size_t split_scan(struct fp_lex *lx, size_t i)
{
	const char *s = lx->s;
	size_t len = lx->len, first = i;
	for (;;) {
		i = split_skip(s, i, len);
		if (i >= len)
			break;
		char c = s[i];
		if (c == ';')
			break;
		if (c == '$') {
			/* $n, or a name's '$' before a digit: never a dollar
			 * quote's start (its tag does not start with a digit) */
			if (i + 1 < len && IS(s[i + 1], C_DIGIT)) {
				i++;
				continue;
			}
			return (size_t)-1;
		}
		if (c == '\'' || c == '"') {
			if (c == '\'' && i > first && (s[i - 1] | 0x20) == 'e')
				return (size_t)-1;
			i = find_byte(s, i + 1, len, (unsigned char)c);
			if (i < len)
				i++;
			continue;
		}
		if ((c == '-' || c == '/') && i + 1 < len && s[i + 1] == (c == '-' ? '-' : '*')) {
			i = c == '-' ? find_byte2(s, i, len, '\n', '\r') : skip_block_comment(lx, i);
			continue;
		}
		i++;
	}
	return has_begin(s, first, i) ? (size_t)-1 : i;
}

bool fp_next_statement(const char *text, size_t len, size_t *pos, size_t *off, size_t *stmt_len)
{
	struct fp_lex lx;
	while (*pos < len) {
		size_t start = *pos, end = len;
		while (start < len && IS(text[start], C_SPACE))
			start++;
		fp_lex_init(&lx, text, len, start);
		/* blanks and comments, then the fast path when it can tell */
		size_t tok = skip_blank(&lx, start);
		if (tok < len && text[tok] == ';') {
			*pos = tok + 1; /* no token: ";;", a lone comment */
			continue;
		}
		if (tok >= len) {
			*pos = len;
			break;
		}
		size_t semi = split_scan(&lx, tok);
		if (semi != (size_t)-1) {
			*pos = semi < len ? semi + 1 : len;
			end = semi;
			while (end > start && IS(text[end - 1], C_SPACE))
				end--;
			*off = start;
			*stmt_len = end - start;
			return true;
		}
		struct fp_atomic a = {0};
		bool any = false;
		fp_lex_init(&lx, text, len, start);
		for (lex_next(&lx);; lex_next(&lx)) {
			if (lx.type == TK_EOF || (lx.type == TK_SEMI && a.begin_depth == 0)) {
				end = lx.type == TK_EOF ? len : lx.start;
				*pos = lx.end;
				break;
			}
			any = true;
			fp_lex_atomic(&a, &lx);
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
		else if (c == '%' && i + 2 < k && fp_hexval((unsigned char)s[i + 1]) >= 0 &&
			 fp_hexval((unsigned char)s[i + 2]) >= 0) {
			c = (unsigned char)(fp_hexval((unsigned char)s[i + 1]) * 16 + fp_hexval((unsigned char)s[i + 2]));
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

void fp_lex_tag(const char *s, size_t k, struct fp_result *out)
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

const char *fp_tag_get(const struct fp_result *r, const char *key)
{
	for (unsigned i = 0; i < r->nkv; i++)
		if (strcmp(r->kv[i].key, key) == 0)
			return r->kv[i].value;
	return NULL;
}

void fp_hex(uint64_t hash, char out[17])
{
	static const char digits16[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--, hash >>= 4)
		out[i] = digits16[hash & 15];
	out[16] = 0;
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
