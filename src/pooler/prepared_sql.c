/*
 * prepared_sql: see prepared_sql.h.
 */
#include "pooler/prepared_sql.h"

#include <string.h>
#include <strings.h>

#include "analyzer/fingerprint.h"
#include "pooler/prepared.h"

/* Case-insensitive search for the lower-case word w. */
static bool memmem_ci(const uint8_t *p, size_t n, const char *w)
{
	size_t wl = strlen(w);

	for (size_t i = 0; i + wl <= n; i++)
		if ((p[i] | 0x20) == (uint8_t)w[0] && strncasecmp((const char *)p + i, w, wl) == 0)
			return true;
	return false;
}

/* Past blanks (PostgreSQL's: space, \t \n \r \f \v) and comments from p[i] */
static size_t skip_blank(const char *p, size_t i, size_t n)
{
	for (;;) {
		while (i < n && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r')))
			i++;
		if (i + 1 < n && p[i] == '-' && p[i + 1] == '-') {
			/* to the end of the line: \n or \r, as PostgreSQL's lexer */
			while (i < n && p[i] != '\n' && p[i] != '\r')
				i++;
			continue;
		}
		if (i + 1 < n && p[i] == '/' && p[i + 1] == '*') {
			int depth = 1;
			i += 2;
			while (i < n && depth > 0) {
				if (i + 1 < n && p[i] == '/' && p[i + 1] == '*') {
					depth++;
					i += 2;
				} else if (i + 1 < n && p[i] == '*' && p[i + 1] == '/') {
					depth--;
					i += 2;
				} else {
					i++;
				}
			}
			continue;
		}
		return i;
	}
}

/* Is the '_' at p[u] (u >= 6) the end of "pgsift_", any case? */
static inline bool internal_at(const char *p, size_t u)
{
	static const char pre[] = PS_NAME_PREFIX;
	const uint8_t *w = (const uint8_t *)p + u - 6;

	return (w[5] | 0x20) == (uint8_t)pre[5] && (w[4] | 0x20) == (uint8_t)pre[4] &&
	       (w[3] | 0x20) == (uint8_t)pre[3] && (w[2] | 0x20) == (uint8_t)pre[2] &&
	       (w[1] | 0x20) == (uint8_t)pre[1] && (w[0] | 0x20) == (uint8_t)pre[0];
}

/* Does the text name one of pgsift's internal statements ("pgsift_...",
 * any case)? Such a text may only reach a server when it cannot run or
 * drop one (see ps_sql_internal_refused()). */
bool ps_sql_mentions_internal(const uint8_t *p, size_t n)
{
	const uint8_t *u = p + (n > 6 ? 6 : n), *end = p + n;

	/* every '_' is looked at (names are full of them): the letters before
	 * it, compared here rather than by a call */
	while ((u = memchr(u, '_', (size_t)(end - u))) != NULL) {
		if (internal_at((const char *)p, (size_t)(u - p)))
			return true;
		u++;
	}
	return false;
}

static bool is_word_byte(char c);
static inline bool session_at(const char *p, size_t n, size_t at);

bool ps_sql_scan_names(const uint8_t *p, size_t n, bool *session)
{
	const uint8_t *u = p + (n > 3 ? 3 : n), *end = p + n;
	bool internal = false;

	*session = false;
	while ((u = memchr(u, '_', (size_t)(end - u))) != NULL) {
		size_t at = (size_t)(u - p);
		internal = internal || (at >= 6 && internal_at((const char *)p, at));
		*session = *session || session_at((const char *)p, n, at);
		u++;
	}
	return internal;
}
_Static_assert(sizeof(PS_NAME_PREFIX) == 8, "ps_sql_mentions_internal() compares six letters and '_'");

static bool is_word_byte(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       (unsigned char)c >= 0x80;
}

/* Does "set_config" or "_advisory_lock" (any case) sit at the '_' p[at]?
 * (session_sql.h: calls that change session state.) */
static inline bool session_at(const char *p, size_t n, size_t at)
{
	static const char sc[] = "set_config", al[] = "_advisory_lock";
	char c2 = at + 2 < n ? (char)(p[at + 2] | 0x20) : 0;

	/* "_co" or "_ad": most '_'s fail here, at one compare */
	if (c2 != 'o' && c2 != 'd')
		return false;
	if (at >= 3 && at + 7 <= n && (p[at + 1] | 0x20) == 'c') {
		for (size_t k = 0; k < 10; k++)
			if ((p[at - 3 + k] | 0x20) != sc[k] && k != 3)
				return false;
		return true;
	}
	if (at + 14 <= n && (p[at + 1] | 0x20) == 'a' && (p[at + 2] | 0x20) == 'd') {
		for (size_t k = 1; k < 14; k++)
			if ((p[at + k] | 0x20) != al[k] && al[k] != '_')
				return false;
		return p[at + 9] == '_';
	}
	return false;
}

bool ps_sql_plain(const char *p, size_t avail, size_t *n)
{
	size_t i = 0;
	const char *semi, *u, *end;
	char c0, c1, c2;

	/* libc's strnlen() and memchr() go through 32 bytes a step: three
	 * passes with them cost less than one of our own (measured with a
	 * one-pass SSE2 scan: 40 more instructions a query) */
	*n = strnlen(p, avail);
	end = p + *n;
	while (i < *n && p[i] == ' ')
		i++;
	c0 = i < *n ? (char)(p[i] | 0x20) : 0;
	c1 = i + 1 < *n ? (char)(p[i + 1] | 0x20) : 0;
	c2 = i + 2 < *n ? (char)(p[i + 2] | 0x20) : 0;
	/* what may start PREPARE, EXECUTE, DEALLOCATE or DISCARD (not END,
	 * DELETE, DROP, EXPLAIN) is for ps_sql_first_cmd(); SET, RESET,
	 * CREATE, LISTEN, UNLISTEN, DECLARE for session_sql.h */
	switch (c0) { /* a jump table: one branch for the usual SELECT/INSERT/UPDATE */
	case 'p':
		if (c1 == 'r')
			return false;
		break;
	case 'e':
		if (c1 == 'x')
			return false;
		break;
	case 'd':
		if (c1 == 'i' || (c1 == 'e' && (c2 == 'a' || c2 == 'c')))
			return false;
		break;
	case 's':
		if (c1 == 'e' && c2 == 't' && !(i + 3 < *n && is_word_byte(p[i + 3])))
			return false;
		break;
	case 'r':
		if (c1 == 'e' && c2 == 's')
			return false;
		break;
	case 'c':
		if (c1 == 'r')
			return false;
		break;
	case 'l':
		if (c1 == 'i')
			return false;
		break;
	case 'u': /* UNLISTEN */
		if (c1 == 'n')
			return false;
		break;
	default:
		if (c0 < 'a' || c0 > 'z')
			return false;
		break;
	}
	/* one statement: a ';' only at the end, blanks after it */
	if ((semi = memchr(p, ';', *n)) != NULL)
		for (const char *b = semi + 1; b < end; b++)
			if (*b != ' ' && !(*b >= '\t' && *b <= '\r'))
				return false;
	/* no "pgsift_", set_config or pg_advisory_lock */
	for (u = p + (*n > 6 ? 6 : *n); (u = memchr(u, '_', (size_t)(end - u))) != NULL; u++)
		if (internal_at(p, (size_t)(u - p)) || session_at(p, *n, (size_t)(u - p)))
			return false;
	return true;
}

bool ps_sql_session_start(const char *p, size_t n)
{
	size_t i = 0;
	char c0, c1, c2;

	while (i < n && p[i] == ' ')
		i++;
	c0 = i < n ? (char)(p[i] | 0x20) : 0;
	c1 = i + 1 < n ? (char)(p[i + 1] | 0x20) : 0;
	c2 = i + 2 < n ? (char)(p[i + 2] | 0x20) : 0;
	return c0 < 'a' || c0 > 'z' || (c0 == 'd' && (c1 == 'i' || (c1 == 'e' && (c2 == 'a' || c2 == 'c')))) ||
	       (c0 == 's' && c1 == 'e' && c2 == 't' && !(i + 3 < n && is_word_byte(p[i + 3]))) ||
	       (c0 == 'r' && c1 == 'e' && c2 == 's') || (c0 == 'c' && c1 == 'r') || (c0 == 'l' && c1 == 'i') ||
	       (c0 == 'u' && c1 == 'n') || (c0 == 'p' && c1 == 'r');
}

/* A text that names an internal statement and could EXECUTE or DEALLOCATE
 * it (also inside CREATE TABLE AS or EXPLAIN) is refused. */
bool ps_sql_internal_refused(const uint8_t *p, size_t n)
{
	return ps_sql_mentions_internal(p, n) && (memmem_ci(p, n, "execute") || memmem_ci(p, n, "deallocate"));
}

static bool is_ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       (unsigned char)c >= 0x80 || c == '$';
}

/* The word at p[*i] (letters, digits, _), lower-cased into out. */
static bool word(const char *p, size_t *i, size_t n, char *out, size_t outlen)
{
	size_t k = 0;

	while (*i < n && is_ident_char(p[*i])) {
		if (k + 1 < outlen)
			out[k++] = (char)(p[*i] >= 'A' && p[*i] <= 'Z' ? p[*i] + 32 : p[*i]);
		else
			return false;
		(*i)++;
	}
	out[k] = 0;
	return k > 0;
}

/* An identifier, as PostgreSQL reads it: unquoted ones in lower case,
 * "quoted" ones as written. */
static bool ident(const char *p, size_t *i, size_t n, char *out, size_t outlen)
{
	size_t k = 0;

	if (*i < n && p[*i] == '"') {
		for ((*i)++; *i < n; (*i)++) {
			if (p[*i] == '"') {
				if (*i + 1 < n && p[*i + 1] == '"') {
					(*i)++;
				} else {
					(*i)++;
					out[k] = 0;
					return k > 0;
				}
			}
			if (k + 1 >= outlen)
				return false;
			out[k++] = p[*i];
		}
		return false;
	}
	return word(p, i, n, out, outlen);
}

/* What the first statement of sql is, when it is one pgsift must handle;
 * name gets the DEALLOCATE's statement name. */
enum ps_sql_cmd ps_sql_first_cmd(const char *p, size_t n, char *name, size_t namelen)
{
	char w[16];
	size_t i = skip_blank(p, 0, n);
	enum ps_sql_cmd cmd;
	char c0 = i < n ? (char)(p[i] | 0x20) : 0;

	if (c0 != 'p' && c0 != 'e' && c0 != 'd')
		return PS_SQL_OTHER; /* PREPARE, EXECUTE, DEALLOCATE, DISCARD */
	if (!word(p, &i, n, w, sizeof(w)))
		return PS_SQL_OTHER;
	if (strcmp(w, "execute") == 0)
		return PS_SQL_PREPARE;
	if (strcmp(w, "prepare") == 0) {
		/* PREPARE TRANSACTION (two-phase commit) is something else */
		i = skip_blank(p, i, n);
		return word(p, &i, n, w, sizeof(w)) && strcmp(w, "transaction") == 0 ? PS_SQL_OTHER : PS_SQL_PREPARE;
	}
	if (strcmp(w, "discard") == 0) {
		i = skip_blank(p, i, n);
		if (!word(p, &i, n, w, sizeof(w)) || strcmp(w, "all") != 0)
			return PS_SQL_OTHER;
		cmd = PS_SQL_DISCARD_ALL;
	} else if (strcmp(w, "deallocate") == 0) {
		size_t at;
		i = skip_blank(p, i, n);
		at = i;
		if (word(p, &i, n, w, sizeof(w)) && strcmp(w, "prepare") == 0)
			at = skip_blank(p, i, n);
		i = at;
		if (!ident(p, &i, n, name, namelen))
			return PS_SQL_OTHER;
		cmd = p[at] != '"' && strcmp(name, "all") == 0 ? PS_SQL_DEALLOCATE_ALL : PS_SQL_DEALLOCATE;
	} else {
		return PS_SQL_OTHER;
	}
	/* only a statement on its own is taken over */
	i = skip_blank(p, i, n);
	if (i < n && p[i] == ';')
		i = skip_blank(p, i + 1, n);
	return i == n ? cmd : PS_SQL_OTHER;
}

/* Does a later statement of a simple query start with PREPARE or EXECUTE
 * (ps_sql_first_cmd() looked at the first one)? */
bool ps_sql_has_prepare(const char *p, size_t n)
{
	size_t pos = 0, off, len, i;
	char name[8];
	const char *semi = memchr(p, ';', n);

	if (!semi)
		return false; /* one statement */
	/* only blanks after the first ';': one statement (but not a comment:
	 * that ';' may be inside a string, and the comment's start too) */
	for (i = (size_t)(semi - p) + 1; i < n && (p[i] == ' ' || (p[i] >= '\t' && p[i] <= '\r'));)
		i++;
	if (i == n)
		return false;
	while (fp_next_statement(p, n, &pos, &off, &len))
		if (ps_sql_first_cmd(p + off, len, name, sizeof(name)) == PS_SQL_PREPARE)
			return true;
	return false;
}

/* ---- a text in pieces ---- */

enum {
	SC_PLAIN, SC_DASH, SC_SLASH, SC_LINE, SC_BLOCK, SC_BLOCK_STAR, SC_BLOCK_SLASH, SC_SQ, SC_SQ_END,
	SC_ESQ, SC_ESQ_ESC, SC_ESQ_END, SC_DQ, SC_DQ_END, SC_DTAG, SC_DOLLAR, SC_DCLOSE, SC_PARAM
};

/* where a statement's first words are: before its first token, in its first
 * word, after a first word PREPARE, in the word after it, past them */
enum { AT_START, AT_WORD1, AT_PREP, AT_WORD2, AT_BODY };

/* bytes that may end a statement or start what hides a ';' */
static const uint8_t scan_special[256] = { [';'] = 1, ['\''] = 1, ['"'] = 1, ['$'] = 1, ['-'] = 1, ['/'] = 1 };

void ps_scan_init(struct ps_scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->lex = SC_PLAIN;
	sc->at = AT_START;
}

/* Case-insensitive search for the lower-case word w, by memchr(). */
static bool has_ci(const uint8_t *p, size_t n, const char *w)
{
	size_t wl = strlen(w);

	for (int up = 0; up < 2; up++) {
		const uint8_t *q = p, *end = p + n;
		int c0 = up ? w[0] - 32 : w[0];
		while ((size_t)(end - q) >= wl && (q = memchr(q, c0, (size_t)(end - q) - wl + 1)) != NULL) {
			if (strncasecmp((const char *)q, w, wl) == 0)
				return true;
			q++;
		}
	}
	return false;
}

static void scan_names(struct ps_scan *sc, const uint8_t *p, size_t n)
{
	if (!sc->internal)
		sc->internal = ps_sql_mentions_internal(p, n);
	if (!sc->exec_word)
		sc->exec_word = has_ci(p, n, "execute") || has_ci(p, n, "deallocate");
}

/* ps_sql_internal_refused()'s names, also where a piece cuts one */
static void scan_mentions(struct ps_scan *sc, const uint8_t *p, size_t n)
{
	uint8_t seam[2 * sizeof(sc->tail)];
	size_t k = n < sizeof(sc->tail) ? n : sizeof(sc->tail), keep;

	memcpy(seam, sc->tail, sc->ntail);
	memcpy(seam + sc->ntail, p, k);
	if (!sc->internal || !sc->exec_word) {
		scan_names(sc, seam, sc->ntail + k);
		scan_names(sc, p, n);
	}
	/* the last bytes of seam + p */
	if (n >= sizeof(sc->tail)) {
		memcpy(sc->tail, p + n - sizeof(sc->tail), sizeof(sc->tail));
		sc->ntail = sizeof(sc->tail);
		return;
	}
	keep = sc->ntail + k < sizeof(sc->tail) ? sc->ntail + k : sizeof(sc->tail);
	memmove(sc->tail, seam + sc->ntail + k - keep, keep);
	sc->ntail = (uint8_t)keep;
}

#define WORD_IS(sc, w) ((sc)->wlen == sizeof(w) - 1 && memcmp((sc)->word, (w), sizeof(w) - 1) == 0)

/* The word being read ended: PREPARE or EXECUTE first, PREPARE's next word. */
static void word_end(struct ps_scan *sc)
{
	if (sc->at == AT_WORD1) {
		if (WORD_IS(sc, "execute"))
			sc->prepare = true;
		sc->at = WORD_IS(sc, "prepare") ? AT_PREP : AT_BODY;
	} else if (sc->at == AT_WORD2) {
		if (!WORD_IS(sc, "transaction"))
			sc->prepare = true;
		sc->at = AT_BODY;
	}
}

/* A token that is not a word: PREPARE followed by one is PREPARE name. */
static void other_token(struct ps_scan *sc)
{
	word_end(sc);
	if (sc->at == AT_PREP)
		sc->prepare = true;
	sc->at = AT_BODY;
	sc->ident_len = 0;
}

/* A blank or a comment ends a word and nothing else. */
static void scan_blank(struct ps_scan *sc)
{
	word_end(sc);
	sc->ident_len = 0;
}

static void ident_byte(struct ps_scan *sc, uint8_t c)
{
	/* digits that start a run are a number: a '$' after one starts a
	 * dollar quote, an E after one a string */
	if (sc->ident_len < 255 && (sc->ident_len || c < '0' || c > '9'))
		sc->ident_len++;
	if (sc->at == AT_START || sc->at == AT_PREP) {
		sc->at = sc->at == AT_START ? AT_WORD1 : AT_WORD2;
		sc->wlen = 0;
	} else if (sc->at != AT_WORD1 && sc->at != AT_WORD2) {
		return;
	}
	/* longer than any word looked for: sizeof(word) marks it */
	if (sc->wlen < sizeof(sc->word))
		sc->word[sc->wlen++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

static bool tag_byte(uint8_t c, bool first)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80 ||
	       (!first && c >= '0' && c <= '9');
}

/* One byte outside quotes and comments. */
static void scan_plain(struct ps_scan *sc, uint8_t c)
{
	switch (c) {
	case ';':
		other_token(sc);
		sc->at = AT_START;
		return;
	case '\'':
		/* E'...' (one E, a word of its own): backslash escapes */
		sc->lex = sc->ident_len == 1 && (sc->prev | 0x20) == 'e' ? SC_ESQ : SC_SQ;
		other_token(sc);
		return;
	case '"':
		other_token(sc);
		sc->lex = SC_DQ;
		return;
	case '-':
		sc->lex = SC_DASH; /* a comment, or an operator: the next byte says */
		return;
	case '/':
		sc->lex = SC_SLASH;
		return;
	case '$':
		if (sc->ident_len) { /* inside a name: part of it */
			ident_byte(sc, c);
			return;
		}
		other_token(sc);
		sc->lex = SC_DTAG;
		sc->taglen = 0;
		return;
	default:
		break;
	}
	if (is_ident_char((char)c))
		ident_byte(sc, c);
	else if (c == ' ' || (c >= '\t' && c <= '\r'))
		scan_blank(sc);
	else
		other_token(sc);
}

/* One byte in a state other than plain text; false: it ended that state
 * and is to be read again as plain text. */
static bool scan_state(struct ps_scan *sc, uint8_t c)
{
	switch (sc->lex) {
	case SC_DASH:
	case SC_SLASH:
		if (c == (sc->lex == SC_DASH ? '-' : '*')) {
			sc->lex = sc->lex == SC_DASH ? SC_LINE : SC_BLOCK;
			sc->depth = 1;
			scan_blank(sc);
			return true;
		}
		other_token(sc); /* an operator */
		break;
	case SC_LINE:
		if (c == '\n' || c == '\r')
			sc->lex = SC_PLAIN;
		return true;
	case SC_BLOCK:
		sc->lex = c == '*' ? SC_BLOCK_STAR : c == '/' ? SC_BLOCK_SLASH : SC_BLOCK;
		return true;
	case SC_BLOCK_STAR:
		if (c == '/')
			sc->lex = --sc->depth ? SC_BLOCK : SC_PLAIN;
		else if (c != '*')
			sc->lex = SC_BLOCK;
		return true;
	case SC_BLOCK_SLASH:
		if (c == '*') {
			sc->depth++;
			sc->lex = SC_BLOCK;
		} else if (c != '/') {
			sc->lex = SC_BLOCK;
		}
		return true;
	case SC_SQ:
	case SC_ESQ:
		if (c == '\'')
			sc->lex = sc->lex == SC_SQ ? SC_SQ_END : SC_ESQ_END;
		else if (c == '\\' && sc->lex == SC_ESQ)
			sc->lex = SC_ESQ_ESC;
		return true;
	case SC_ESQ_ESC:
		sc->lex = SC_ESQ;
		return true;
	case SC_DQ:
		if (c == '"')
			sc->lex = SC_DQ_END;
		return true;
	case SC_SQ_END:
	case SC_ESQ_END:
	case SC_DQ_END:
		if (c == (sc->lex == SC_DQ_END ? '"' : '\'')) { /* doubled: part of it */
			sc->lex = sc->lex == SC_SQ_END ? SC_SQ : sc->lex == SC_ESQ_END ? SC_ESQ : SC_DQ;
			return true;
		}
		break;
	case SC_DTAG:
		if (c == '$') {
			sc->lex = SC_DOLLAR;
			return true;
		}
		if (tag_byte(c, sc->taglen == 0) && sc->taglen < sizeof(sc->tag)) {
			sc->tag[sc->taglen++] = c;
			return true;
		}
		if (sc->taglen == 0 && c >= '0' && c <= '9') {
			sc->lex = SC_PARAM; /* $1: a '$' right after it may start a quote */
			return true;
		}
		break; /* a lone $: no quote */
	case SC_PARAM:
		if (c >= '0' && c <= '9')
			return true;
		break;
	case SC_DOLLAR:
		if (c == '$') {
			sc->lex = SC_DCLOSE;
			sc->match = 0;
		}
		return true;
	case SC_DCLOSE:
		if (sc->match == sc->taglen && c == '$')
			sc->lex = SC_PLAIN;
		else if (sc->match < sc->taglen && c == sc->tag[sc->match])
			sc->match++;
		else if (c == '$') /* may start the closing delimiter */
			sc->match = 0;
		else
			sc->lex = SC_DOLLAR;
		return true;
	default:
		break;
	}
	sc->lex = SC_PLAIN;
	sc->ident_len = 0;
	return false;
}

/* Where the next byte that matters is, from p[i] in the current state: the
 * bodies of quotes and comments, and of a statement past its first words,
 * are skipped with memchr() or a table. */
static size_t scan_skip(const struct ps_scan *sc, const uint8_t *p, size_t i, size_t n)
{
	const uint8_t *q;

	switch (sc->lex) {
	case SC_PLAIN:
		if (sc->at != AT_BODY)
			return i;
		while (i < n && !scan_special[p[i]])
			i++;
		return i;
	case SC_SQ:
		q = memchr(p + i, '\'', n - i);
		return q ? (size_t)(q - p) : n;
	case SC_DQ:
		q = memchr(p + i, '"', n - i);
		return q ? (size_t)(q - p) : n;
	case SC_DOLLAR:
		q = memchr(p + i, '$', n - i);
		return q ? (size_t)(q - p) : n;
	case SC_LINE:
		while (i < n && p[i] != '\n' && p[i] != '\r')
			i++;
		return i;
	case SC_BLOCK:
		while (i < n && p[i] != '*' && p[i] != '/')
			i++;
		return i;
	default:
		return i;
	}
}

/* The identifier that skipped plain bytes p[i..j) leave behind (what
 * ident_byte() would have counted), capped. */
static uint8_t ident_run(const struct ps_scan *sc, const uint8_t *p, size_t i, size_t j)
{
	size_t k = j, len;

	while (k > i && is_ident_char((char)p[k - 1]))
		k--;
	if (k == i && sc->ident_len) {
		len = sc->ident_len + (j - i); /* the name went on */
	} else {
		while (k < j && p[k] >= '0' && p[k] <= '9')
			k++; /* a number, then maybe a name */
		len = j - k;
	}
	return (uint8_t)(len < 255 ? len : 255);
}

static void scan_lex(struct ps_scan *sc, const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = scan_skip(sc, p, i, n);
		if (j > i) {
			/* skipped plain bytes leave the identifier they end */
			if (sc->lex == SC_PLAIN)
				sc->ident_len = ident_run(sc, p, i, j);
			sc->prev = p[j - 1];
			i = j;
			if (i == n)
				break;
		}
		if (sc->lex == SC_PLAIN)
			scan_plain(sc, p[i]);
		else if (!scan_state(sc, p[i]))
			continue; /* read again as plain text */
		sc->prev = p[i];
		i++;
	}
}

void ps_scan_feed(struct ps_scan *sc, const uint8_t *p, size_t n)
{
	const uint8_t *nul;

	if (sc->ended)
		return;
	if ((nul = memchr(p, 0, n)) != NULL) {
		n = (size_t)(nul - p);
		sc->ended = true;
	}
	scan_mentions(sc, p, n);
	scan_lex(sc, p, n);
}

enum ps_scan_result ps_scan_result(struct ps_scan *sc)
{
	/* a '-' or '/' at the very end was an operator */
	if (sc->lex == SC_DASH || sc->lex == SC_SLASH)
		other_token(sc);
	word_end(sc);
	if (sc->at == AT_PREP)
		sc->prepare = true; /* PREPARE at the end: PREPARE with no name */
	if (sc->internal && sc->exec_word)
		return PS_SCAN_INTERNAL;
	return sc->prepare ? PS_SCAN_PREPARE : PS_SCAN_OK;
}
