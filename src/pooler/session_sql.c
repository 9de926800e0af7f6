/*
 * session_sql: reading SET / RESET / set_config / DISCARD ALL and the
 * statements that leave unreplayable session state. See session_sql.h.
 */
#include "pooler/session_sql.h"

#include <string.h>

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

static bool is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '$' ||
	       (unsigned char)c >= 0x80;
}

static bool is_blank(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Does p[i..n) start with the lower-case word w (any case)? */
static bool at_ci(const char *p, size_t n, size_t i, const char *w)
{
	size_t k = strlen(w);

	if (i + k > n)
		return false;
	for (size_t j = 0; j < k; j++)
		if (lower(p[i + j]) != w[j])
			return false;
	return true;
}

static bool has_ci(const char *p, size_t n, const char *w)
{
	size_t k = strlen(w);

	for (size_t i = 0; i + k <= n; i++)
		if (lower(p[i]) == w[0] && at_ci(p, n, i, w))
			return true;
	return false;
}

/* Past blanks and comments. */
static size_t skip_blank(const char *p, size_t n, size_t i)
{
	for (;;) {
		while (i < n && is_blank(p[i]))
			i++;
		if (i + 1 < n && p[i] == '-' && p[i + 1] == '-') {
			while (i < n && p[i] != '\n')
				i++;
		} else if (i + 1 < n && p[i] == '/' && p[i + 1] == '*') {
			unsigned depth = 1;
			for (i += 2; i < n && depth; i++) {
				if (i + 1 < n && p[i] == '/' && p[i + 1] == '*')
					depth++, i++;
				else if (i + 1 < n && p[i] == '*' && p[i + 1] == '/')
					depth--, i++;
			}
		} else {
			return i;
		}
	}
}

/* The word at p[i] (lower-cased into out); its length, 0 when none or too
 * long. */
static size_t word_at(const char *p, size_t n, size_t i, char *out, size_t outlen)
{
	size_t k = 0;

	while (i + k < n && is_ident(p[i + k])) {
		if (k + 1 >= outlen)
			return 0;
		out[k] = lower(p[i + k]);
		k++;
	}
	out[k] = 0;
	return k;
}

/* Reads the next word (past blanks) into w; advances *i past it. */
static bool next_word(const char *p, size_t n, size_t *i, char *w, size_t wlen)
{
	size_t k;

	*i = skip_blank(p, n, *i);
	k = word_at(p, n, *i, w, wlen);
	*i += k;
	return k > 0;
}

static bool peek_word(const char *p, size_t n, size_t i, const char *w)
{
	char buf[24];

	i = skip_blank(p, n, i);
	return word_at(p, n, i, buf, sizeof(buf)) && strcmp(buf, w) == 0;
}

/* A parameter name: ident(.ident)*, quoted parts allowed; lower case;
 * false when it has characters a replayed SET could not spell unquoted. */
static bool param_name(const char *p, size_t n, size_t *i, char *out)
{
	size_t k = 0;

	*i = skip_blank(p, n, *i);
	for (;;) {
		if (*i < n && p[*i] == '"') {
			for ((*i)++; *i < n; (*i)++) {
				char c = p[*i];
				if (c == '"' && !(*i + 1 < n && p[*i + 1] == '"'))
					break;
				if (c == '"')
					(*i)++;
				if (k + 1 >= SS_NAME_MAX || !(is_ident(c) && (unsigned char)c < 0x80))
					return false;
				out[k++] = lower(c);
			}
			if (*i >= n)
				return false;
			(*i)++;
		} else {
			size_t w = 0;
			while (*i < n && is_ident(p[*i])) {
				if (k + 1 >= SS_NAME_MAX || (unsigned char)p[*i] >= 0x80)
					return false;
				out[k++] = lower(p[(*i)++]);
				w++;
			}
			if (!w)
				return false;
		}
		if (*i < n && p[*i] == '.' && k + 1 < SS_NAME_MAX) {
			out[k++] = '.';
			(*i)++;
			continue;
		}
		out[k] = 0;
		return out[0] < '0' || out[0] > '9';
	}
}

/* Is p[i..n) blank but for one ';' and comments? */
static bool at_end(const char *p, size_t n, size_t i)
{
	i = skip_blank(p, n, i);
	if (i < n && p[i] == ';')
		i = skip_blank(p, n, i + 1);
	return i >= n;
}

/* The body of a quoted item at p[*i] (its opening quote q, doubled q
 * inside standing for one), unescaped into out: its length, with *i past
 * the closing quote; -1 when it does not end, holds a NUL, or is longer
 * than cap (unless cut: then only its first cap bytes are kept). */
static long quoted(const char *p, size_t n, size_t *i, char q, char *out, size_t cap, bool cut)
{
	size_t k = 0;

	for ((*i)++; *i < n; (*i)++) {
		if (p[*i] == q) {
			if (*i + 1 < n && p[*i + 1] == q)
				(*i)++;
			else
				break;
		}
		if (!p[*i] || (k >= cap && !cut))
			return -1;
		if (k < cap)
			out[k++] = p[*i];
	}
	if (*i >= n)
		return -1;
	(*i)++;
	return (long)k;
}

/* A plain '...' literal (no E prefix) at p[*i], unescaped into out. */
static bool literal(const char *p, size_t n, size_t *i, char *out, size_t outlen)
{
	long k;

	*i = skip_blank(p, n, *i);
	if (*i >= n || p[*i] != '\'' || (k = quoted(p, n, i, '\'', out, outlen - 1, false)) < 0)
		return false;
	out[k] = 0;
	return true;
}

static bool punct(const char *p, size_t n, size_t *i, char c)
{
	*i = skip_blank(p, n, *i);
	if (*i < n && p[*i] == c) {
		(*i)++;
		return true;
	}
	return false;
}

/* ---- splitting ---- */

/* Past a quoted part that starts at p[i] (a quote, a dollar quote or a
 * comment); i itself when none starts there. */
static size_t past_quoted(const char *p, size_t n, size_t i)
{
	char q = p[i];

	if (q == '\'' || q == '"') {
		/* E'...' strings take backslash escapes */
		bool esc = q == '\'' && i > 0 && lower(p[i - 1]) == 'e' && (i < 2 || !is_ident(p[i - 2]));
		for (i++; i < n; i++) {
			if (esc && p[i] == '\\')
				i++;
			else if (p[i] == q)
				return i + 1;
		}
		return n;
	}
	if (q == '$' && (i == 0 || !is_ident(p[i - 1]))) {
		size_t t = i + 1, tl;
		while (t < n && is_ident(p[t]) && p[t] != '$')
			t++;
		if (t >= n || p[t] != '$')
			return i;
		tl = t + 1 - i;
		for (size_t j = t + 1; j + tl <= n; j++)
			if (p[j] == '$' && memcmp(p + j, p + i, tl) == 0)
				return j + tl;
		return n;
	}
	if ((q == '-' && i + 1 < n && p[i + 1] == '-') || (q == '/' && i + 1 < n && p[i + 1] == '*'))
		return skip_blank(p, n, i);
	return i;
}

bool ss_sql_next(const char *p, size_t n, size_t *pos, size_t *off, size_t *len)
{
	size_t i = *pos;

	for (;;) {
		size_t start;
		i = skip_blank(p, n, i);
		while (i < n && p[i] == ';')
			i = skip_blank(p, n, i + 1);
		if (i >= n) {
			*pos = n;
			return false;
		}
		start = i;
		while (i < n && p[i] != ';') {
			size_t j = past_quoted(p, n, i);
			i = j > i ? j : i + 1;
		}
		*off = start;
		*len = i - start;
		*pos = i < n ? i + 1 : n;
		return true;
	}
}

/* ---- the quick check ---- */

/* Does "set_config" or "_advisory_lock" (any case) sit at the '_' p[at]?
 * Most '_'s fail at the first compare. */
static inline bool call_at(const char *p, size_t n, size_t at)
{
	char c2 = at + 2 < n ? lower(p[at + 2]) : 0;

	if (c2 != 'o' && c2 != 'd')
		return false;
	return (at >= 3 && at_ci(p, n, at - 3, "set_config")) || at_ci(p, n, at, "_advisory_lock");
}

bool ss_sql_maybe(const char *p, size_t n)
{
	const char *end = p + n, *semi, *u;
	size_t i = 0;
	char c1, c2;

	while (i < n && p[i] == ' ')
		i++;
	c1 = i + 1 < n ? lower(p[i + 1]) : 0;
	c2 = i + 2 < n ? lower(p[i + 2]) : 0;
	/* SET, RESET, DISCARD, DEALLOCATE, DECLARE, CREATE, LISTEN, UNLISTEN,
	 * PREPARE;
	 * a comment or a parenthesis first */
	switch (i < n ? lower(p[i]) : 0) {
	case 's':
		if (c1 == 'e' && c2 == 't' && !(i + 3 < n && is_ident(p[i + 3])))
			return true;
		break;
	case 'r':
		if (c1 == 'e' && c2 == 's')
			return true;
		break;
	case 'd':
		if (c1 == 'i' || c1 == 'e')
			return true;
		break;
	case 'c':
		if (c1 == 'r')
			return true;
		break;
	case 'l':
		if (c1 == 'i')
			return true;
		break;
	case 'p':
		if (c1 == 'r')
			return true;
		break;
	case 'u': /* UNLISTEN */
		if (c1 == 'n')
			return true;
		break;
	case '-':
	case '/':
	case '(':
		return true;
	default:
		break;
	}
	/* more than one statement */
	if ((semi = memchr(p, ';', n)) != NULL)
		for (const char *b = semi + 1; b < end; b++)
			if (!is_blank(*b))
				return true;
	/* set_config( or pg_advisory_lock( anywhere */
	for (u = p + (n > 3 ? 3 : n); (u = memchr(u, '_', (size_t)(end - u))) != NULL; u++)
		if (call_at(p, n, (size_t)(u - p)))
			return true;
	return false;
}

/* ---- one statement ---- */

static void dirty(struct ss_stmt *out, enum ss_dirty why)
{
	out->kind = SS_DIRTY;
	out->dirty = (unsigned char)why;
}

/* The value of SET name TO value: the rest of the statement, as SQL text
 * to replay; none when it holds a comment (a replayed SET is followed by
 * more statements). */
static bool set_value(const char *p, size_t n, size_t i, struct ss_stmt *out)
{
	size_t e = n, k;

	i = skip_blank(p, n, i);
	while (e > i && (is_blank(p[e - 1]) || p[e - 1] == ';'))
		e--;
	if (e <= i || e - i + 2 > SS_VALUE_MAX)
		return false;
	for (k = i; k < e;) {
		size_t j = past_quoted(p, e, k);
		if (j > k && (p[k] == '-' || p[k] == '/'))
			return false;
		k = j > k ? j : k + 1;
	}
	out->value[0] = 'S';
	memcpy(out->value + 1, p + i, e - i);
	out->value[e - i + 1] = 0;
	return true;
}

static void classify_set(const char *p, size_t n, size_t i, struct ss_stmt *out)
{
	char w[24];
	size_t j;

	out->tag = SS_TAG_SET;
	if (peek_word(p, n, i, "local"))
		return;
	if (peek_word(p, n, i, "session")) {
		j = i;
		(void)next_word(p, n, &j, w, sizeof(w));
		if (peek_word(p, n, j, "authorization"))
			return dirty(out, SS_D_ROLE);
		if (peek_word(p, n, j, "characteristics"))
			return dirty(out, SS_D_OTHER);
		i = j;
	}
	j = i;
	if (!next_word(p, n, &j, w, sizeof(w)))
		w[0] = 0; /* a quoted name */
	if (!strcmp(w, "role"))
		return dirty(out, SS_D_ROLE);
	if ((!strcmp(w, "time") && peek_word(p, n, j, "zone")) || !strcmp(w, "names") || !strcmp(w, "transaction") ||
	    !strcmp(w, "constraints"))
		return; /* reported (ParameterStatus) or not session state */
	if (!strcmp(w, "schema")) {
		strcpy(out->name, "search_path");
		if (!set_value(p, n, j, out))
			return dirty(out, SS_D_OTHER);
		out->kind = SS_SET;
		return;
	}
	if (!param_name(p, n, &i, out->name))
		return dirty(out, SS_D_OTHER);
	if (!strcmp(out->name, "role") || !strcmp(out->name, "session_authorization"))
		return dirty(out, SS_D_ROLE);
	if (peek_word(p, n, i, "from"))
		return; /* FROM CURRENT: only inside a function's definition */
	if (!punct(p, n, &i, '=') && !(next_word(p, n, &i, w, sizeof(w)) && !strcmp(w, "to")))
		return dirty(out, SS_D_OTHER);
	j = skip_blank(p, n, i);
	if (peek_word(p, n, j, "default") && at_end(p, n, j + 7)) {
		out->kind = SS_RESET;
		return;
	}
	if (!set_value(p, n, i, out))
		return dirty(out, SS_D_OTHER);
	out->kind = SS_SET;
}

static void classify_reset(const char *p, size_t n, size_t i, struct ss_stmt *out)
{
	char w[24];
	size_t j = i;

	out->tag = SS_TAG_RESET;
	if (!next_word(p, n, &j, w, sizeof(w)))
		return dirty(out, SS_D_OTHER);
	if (!strcmp(w, "all") && at_end(p, n, j)) {
		out->kind = SS_RESET_ALL;
		return;
	}
	if (!strcmp(w, "role") || !strcmp(w, "session") || !strcmp(w, "time"))
		return;
	if (!param_name(p, n, &i, out->name) || !at_end(p, n, i))
		return dirty(out, SS_D_OTHER);
	out->kind = SS_RESET;
}

/* SELECT [pg_catalog.]set_config('name', 'value', false) [[AS] alias] */
static bool classify_set_config(const char *p, size_t n, size_t i, struct ss_stmt *out)
{
	char w[24], name[SS_NAME_MAX];
	size_t j, k;
	bool local;

	if (peek_word(p, n, i, "pg_catalog")) {
		(void)next_word(p, n, &i, w, sizeof(w));
		if (!punct(p, n, &i, '.'))
			return false;
	}
	if (!next_word(p, n, &i, w, sizeof(w)) || strcmp(w, "set_config") || !punct(p, n, &i, '(') ||
	    !literal(p, n, &i, name, sizeof(name)) || !punct(p, n, &i, ','))
		return false;
	out->value[0] = 'L';
	if (punct(p, n, &i, '$')) { /* a parameter: its value comes with the Bind */
		size_t d = 0;
		while (i < n && p[i] >= '0' && p[i] <= '9' && d < 5)
			out->value[1 + d++] = p[i++];
		out->value[1 + d] = 0;
		out->value[0] = 'P';
		if (!d || (i < n && is_ident(p[i])))
			return false;
		if (punct(p, n, &i, ':') && !(punct(p, n, &i, ':') && next_word(p, n, &i, w, sizeof(w)) &&
					     (!strcmp(w, "text") || !strcmp(w, "varchar"))))
			return false;
	} else if (!literal(p, n, &i, out->value + 1, sizeof(out->value) - 1)) {
		return false;
	}
	if (!punct(p, n, &i, ','))
		return false;
	j = skip_blank(p, n, i);
	if (j < n && p[j] == '\'') {
		if (!literal(p, n, &j, w, sizeof(w)))
			return false;
	} else if (!next_word(p, n, &j, w, sizeof(w))) {
		return false;
	}
	local = !strcmp(w, "true") || !strcmp(w, "t") || !strcmp(w, "on") || !strcmp(w, "yes") || !strcmp(w, "1");
	if (!local && strcmp(w, "false") && strcmp(w, "f") && strcmp(w, "off") && strcmp(w, "no") && strcmp(w, "0"))
		return false;
	if (!punct(p, n, &j, ')'))
		return false;
	if (peek_word(p, n, j, "as"))
		(void)next_word(p, n, &j, w, sizeof(w));
	(void)next_word(p, n, &j, w, sizeof(w));
	if (!at_end(p, n, j))
		return false;
	k = 0;
	if (!param_name(name, strlen(name), &k, out->name) || k != strlen(name))
		return false;
	if (local)
		return true;
	out->kind = SS_SET;
	return true;
}

/* A statement name as PostgreSQL reads it ("#" first): quoted as written,
 * else lower-cased. */
static bool stmt_name(const char *p, size_t n, size_t *i, char *out)
{
	size_t k = 1;

	out[0] = '#';
	*i = skip_blank(p, n, *i);
	if (*i < n && p[*i] == '"') {
		long q = quoted(p, n, i, '"', out + 1, SS_NAME_MAX - 1, false);
		if (q <= 0)
			return false;
		k += (size_t)q;
	} else {
		while (*i < n && is_ident(p[*i])) {
			if (k + 1 >= SS_NAME_MAX + 1)
				return false;
			out[k++] = lower(p[(*i)++]);
		}
		if (k == 1)
			return false;
	}
	out[k] = 0;
	return true;
}

/* PREPARE name [(types)] AS statement: kept whole, to replay. */
static void classify_prepare(const char *p, size_t n, size_t i, struct ss_stmt *out)
{
	size_t e = n;

	out->tag = SS_TAG_PREPARE;
	if (!stmt_name(p, n, &i, out->name))
		return dirty(out, SS_D_PREPARE);
	while (e > 0 && (is_blank(p[e - 1]) || p[e - 1] == ';'))
		e--;
	if (e + 2 > SS_VALUE_MAX)
		return dirty(out, SS_D_PREPARE);
	out->kind = SS_PREPARE;
	out->value[0] = 'R';
	memcpy(out->value + 1, p, e);
	out->value[e + 1] = 0;
	if (memchr(p, 0, e))
		dirty(out, SS_D_PREPARE);
}

static void classify_deallocate(const char *p, size_t n, size_t i, struct ss_stmt *out)
{
	out->tag = SS_TAG_DEALLOCATE;
	if (peek_word(p, n, i, "prepare")) {
		char w[16];
		(void)next_word(p, n, &i, w, sizeof(w));
	}
	if (peek_word(p, n, i, "all")) {
		out->kind = SS_DEALLOCATE_ALL;
		return;
	}
	if (stmt_name(p, n, &i, out->name))
		out->kind = SS_DEALLOCATE;
}

/* A channel name as PostgreSQL reads an identifier: quoted as written,
 * else ASCII letters lower-cased; cut to 63 bytes (NAMEDATALEN - 1) at a
 * UTF-8 character's start, as PostgreSQL truncates it. */
static bool channel_name(const char *p, size_t n, size_t *i, char *out)
{
	size_t k = 0;
	bool is_quoted;

	*i = skip_blank(p, n, *i);
	is_quoted = *i < n && p[*i] == '"';
	if (is_quoted) {
		long q = quoted(p, n, i, '"', out, SS_NAME_MAX, true);
		if (q <= 0)
			return false;
		k = (size_t)q;
	} else {
		if (*i >= n || !is_ident(p[*i]) || (p[*i] >= '0' && p[*i] <= '9') || p[*i] == '$')
			return false;
		while (*i < n && is_ident(p[*i])) {
			if (k < SS_NAME_MAX)
				out[k++] = lower(p[*i]);
			(*i)++;
		}
	}
	if (k > SS_NAME_MAX - 1) { /* 63 bytes, not splitting a character */
		k = SS_NAME_MAX - 1;
		while (k > 0 && ((unsigned char)out[k] & 0xC0) == 0x80)
			k--;
	}
	out[k] = 0;
	return true;
}

/* LISTEN channel / UNLISTEN channel / UNLISTEN *: fanned out (notify.h).
 * A form pgsift cannot read leaves the server to be reset. */
static void classify_listen(const char *p, size_t n, size_t i, bool listen, struct ss_stmt *out)
{
	out->tag = listen ? SS_TAG_LISTEN : SS_TAG_UNLISTEN;
	if (!listen && punct(p, n, &i, '*')) {
		if (at_end(p, n, i))
			out->kind = SS_UNLISTEN_ALL;
		return;
	}
	if (!channel_name(p, n, &i, out->name) || !at_end(p, n, i)) {
		out->name[0] = 0;
		if (listen)
			dirty(out, SS_D_LISTEN);
		return;
	}
	out->kind = listen ? SS_LISTEN : SS_UNLISTEN;
}

static void classify_other(const char *p, size_t n, const char *w, size_t i, struct ss_stmt *out)
{
	char w2[24];

	if (!strcmp(w, "discard")) {
		out->tag = SS_TAG_DISCARD;
		if (peek_word(p, n, i, "all"))
			out->kind = SS_RESET_ALL;
	} else if (!strcmp(w, "create")) {
		size_t j = i;
		if (!next_word(p, n, &j, w2, sizeof(w2)))
			return;
		if ((!strcmp(w2, "global") || !strcmp(w2, "local")) && !next_word(p, n, &j, w2, sizeof(w2)))
			return;
		if ((!strcmp(w2, "temp") || !strcmp(w2, "temporary")) && !has_ci(p, n, "on commit drop"))
			dirty(out, SS_D_TEMP);
	} else if (!strcmp(w, "declare")) {
		if (has_ci(p, n, " hold"))
			dirty(out, SS_D_HOLD);
	} else if (!strcmp(w, "listen") || !strcmp(w, "unlisten")) {
		classify_listen(p, n, i, w[0] == 'l', out);
	} else if (!strcmp(w, "prepare")) {
		if (!peek_word(p, n, i, "transaction"))
			classify_prepare(p, n, i, out);
	} else if (!strcmp(w, "deallocate")) {
		classify_deallocate(p, n, i, out);
	} else if (!strcmp(w, "do") && has_ci(p, n, "set")) {
		/* a SET inside an anonymous block (SET, EXECUTE 'SET ...',
		 * set_config) cannot be replayed: the server is reset before
		 * another client gets it, so it never leaks (any "set" counts) */
		dirty(out, SS_D_OTHER);
	}
	if (out->kind == SS_NONE && has_ci(p, n, "set_config"))
		dirty(out, SS_D_OTHER);
	if (out->kind == SS_NONE && has_ci(p, n, "advisory_lock"))
		dirty(out, SS_D_LOCK);
}

void ss_sql_classify(const char *p, size_t n, struct ss_stmt *out)
{
	char w[24];
	size_t i = 0;

	out->kind = SS_NONE;
	out->tag = SS_TAG_ANY;
	out->dirty = SS_D_NONE;
	out->name[0] = out->value[0] = 0;
	if (!next_word(p, n, &i, w, sizeof(w)))
		return;
	if (!strcmp(w, "set"))
		classify_set(p, n, i, out);
	else if (!strcmp(w, "reset"))
		classify_reset(p, n, i, out);
	else if (!strcmp(w, "select")) {
		out->tag = SS_TAG_SELECT;
		if (!classify_set_config(p, n, i, out)) {
			out->kind = SS_NONE;
			classify_other(p, n, w, i, out);
		}
	} else
		classify_other(p, n, w, i, out);
}
