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
			while (i < n && p[i] != '\n')
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
_Static_assert(sizeof(PS_NAME_PREFIX) == 8, "ps_sql_mentions_internal() compares six letters and '_'");

bool ps_sql_plain(const char *p, size_t avail, size_t *n)
{
	size_t i = 0;
	const char *semi, *u, *end;
	char c0, c1, c2;

	/* libc's strnlen() and memchr() go through 32 bytes a step: three
	 * passes with them cost less than one of our own */
	*n = strnlen(p, avail);
	end = p + *n;
	while (i < *n && p[i] == ' ')
		i++;
	c0 = i < *n ? (char)(p[i] | 0x20) : 0;
	c1 = i + 1 < *n ? (char)(p[i + 1] | 0x20) : 0;
	c2 = i + 2 < *n ? (char)(p[i + 2] | 0x20) : 0;
	/* what may start PREPARE, EXECUTE, DEALLOCATE or DISCARD (not END,
	 * DELETE, DROP, EXPLAIN) is for ps_sql_first_cmd() */
	if (c0 < 'a' || c0 > 'z' || (c0 == 'p' && c1 == 'r') || (c0 == 'e' && c1 == 'x') ||
	    (c0 == 'd' && (c1 == 'i' || (c1 == 'e' && c2 == 'a'))))
		return false;
	/* one statement: a ';' only at the end, blanks after it */
	if ((semi = memchr(p, ';', *n)) != NULL)
		for (const char *b = semi + 1; b < end; b++)
			if (*b != ' ' && !(*b >= '\t' && *b <= '\r'))
				return false;
	/* no "pgsift_" */
	for (u = p + (*n > 6 ? 6 : *n); (u = memchr(u, '_', (size_t)(end - u))) != NULL; u++)
		if (internal_at(p, (size_t)(u - p)))
			return false;
	return true;
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
	size_t pos = 0, off, len;
	char name[8];
	const char *semi = memchr(p, ';', n);

	if (!semi || skip_blank(p, (size_t)(semi - p) + 1, n) == n)
		return false; /* one statement */
	while (fp_next_statement(p, n, &pos, &off, &len))
		if (ps_sql_first_cmd(p + off, len, name, sizeof(name)) == PS_SQL_PREPARE)
			return true;
	return false;
}
