/*
 * hba: see hba.h. Both files are read whole (bounded), split into lines
 * (a backslash at the end of a line continues it, as in PostgreSQL), and
 * each line into fields, each field a comma-separated list of names that
 * may be double-quoted ("" inside quotes is one "). A quoted keyword is a
 * plain name.
 */
#include "pooler/hba.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HBA_MAX_FILE (4u << 20)	/* refuse rule files above 4 MB */
#define HBA_MAX_FIELDS 16
#define HBA_MAX_ITEMS 1024	/* names on one line */
#define HBA_NAME_MAX 63		/* PostgreSQL's NAMEDATALEN - 1 */

enum { NAME_ALL = 1, NAME_SAMEUSER = 2, NAME_REPLICATION = 4 };
enum { RULE_LOCAL, RULE_HOST, RULE_HOSTSSL, RULE_HOSTNOSSL };

struct hba_names {
	char **v;
	int n;
	uint8_t flags;
};

struct hba_rule {
	uint8_t type, method, family;
	bool addr_all;
	uint8_t addr[16], mask[16];
	struct hba_names db, user;
	char *map;
	int line;
};

struct ident_line {
	char *map, *sys, *pg;
	bool pg_all;
};

struct hba {
	struct hba_rule *rules;
	int n;
	struct ident_line *ids;
	int nids;
};

struct item {
	char *s;
	bool quoted;
};

/* One line split into fields: field f is it[first[f]] .. it[first[f] + count[f] - 1]. */
struct fields {
	struct item it[HBA_MAX_ITEMS];
	int first[HBA_MAX_FIELDS], count[HBA_MAX_FIELDS];
	int n;
};

/* A whole file, NUL-terminated; NULL with err set. */
static char *read_file(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *text = NULL;
	size_t got = 0;

	if (!f) {
		snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(errno));
		return NULL;
	}
	if (!(text = malloc(HBA_MAX_FILE + 1)))
		snprintf(err, errlen, "%s %s: out of memory", what, path);
	else if ((got = fread(text, 1, HBA_MAX_FILE + 1, f)) > HBA_MAX_FILE || ferror(f)) {
		snprintf(err, errlen, "%s %s: %s", what, path, ferror(f) ? strerror(errno) : "larger than 4 MB");
		free(text);
		text = NULL;
	}
	fclose(f);
	if (text)
		text[got] = 0;
	return text;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One name at *pp; *term gets the character that ended it (NUL, blank,
 * comma or '#'), *pp the position after it. */
static bool read_item(char **pp, struct item *it, char *term, const char **why)
{
	char *p = *pp, *out = p;

	it->s = p;
	it->quoted = false;
	while (*p && !is_blank(*p) && *p != ',' && *p != '#') {
		if (*p != '"') {
			*out++ = *p++;
			continue;
		}
		it->quoted = true;
		for (p++;; p++) {
			if (!*p) {
				*why = "unterminated quoted name";
				return false;
			}
			if (*p == '"' && p[1] != '"')
				break;
			if (*p == '"')
				p++;
			*out++ = *p;
		}
		p++;
	}
	*term = *p;
	if (out == it->s && !it->quoted) {
		*why = "empty name in a list";
		return false;
	}
	if (out - it->s > HBA_NAME_MAX) {
		*why = "name longer than 63 bytes";
		return false;
	}
	*out = 0; /* may overwrite the terminator: it is in *term */
	*pp = *term ? p + 1 : p;
	return true;
}

/* Splits line (changed in place) into fields; false with why. */
static bool split_line(char *p, struct fields *fs, const char **why)
{
	int nit = 0;

	fs->n = 0;
	for (;;) {
		int f;
		while (is_blank(*p))
			p++;
		if (!*p || *p == '#')
			return true;
		if (fs->n == HBA_MAX_FIELDS) {
			*why = "too many fields";
			return false;
		}
		f = fs->n++;
		fs->first[f] = nit;
		fs->count[f] = 0;
		for (;;) {
			char term;
			if (nit == HBA_MAX_ITEMS) {
				*why = "too many names on one line";
				return false;
			}
			if (!read_item(&p, &fs->it[nit], &term, why))
				return false;
			nit++;
			fs->count[f]++;
			if (term == 0 || term == '#')
				return true;
			if (term != ',') { /* a blank: "a , b" goes on */
				while (is_blank(*p))
					p++;
				if (*p != ',')
					break;
				p++;
			}
			while (is_blank(*p))
				p++;
			if (!*p || *p == '#') {
				*why = "a list ends with a comma";
				return false;
			}
		}
	}
}

/* Next logical line of *text (continuations joined, changed in place);
 * *lineno: its first physical line, *next_lineno: the one after it. NULL
 * at the end. */
static char *next_line(char **text, int *lineno, int *next_lineno)
{
	char *start = *text, *p = start;

	if (!*start)
		return NULL;
	*lineno = *next_lineno;
	for (;;) {
		char *nl = strchr(p, '\n');
		char *end = nl ? nl : p + strlen(p);
		char *last = end;
		(*next_lineno)++;
		while (last > p && last[-1] == '\r')
			last--;
		if (nl && last > p && last[-1] == '\\') {
			last[-1] = ' ';
			*nl = ' ';
			p = nl + 1;
			continue;
		}
		if (nl)
			*nl = 0;
		*text = nl ? nl + 1 : end;
		return start;
	}
}

static const struct item *single(const struct fields *fs, int f, const char *what, const char **why)
{
	if (f >= fs->n) {
		*why = what;
		return NULL;
	}
	if (fs->count[f] != 1) {
		*why = "a list where one word belongs";
		return NULL;
	}
	return &fs->it[fs->first[f]];
}

static bool kw(const struct item *it, const char *word)
{
	return !it->quoted && strcmp(it->s, word) == 0;
}

static bool add_name(struct hba_names *nm, const char *s)
{
	char **nv = realloc(nm->v, sizeof(*nv) * (size_t)(nm->n + 1));

	if (!nv)
		return false;
	nm->v = nv;
	if (!(nv[nm->n] = strdup(s)))
		return false;
	nm->n++;
	return true;
}

/* @file: names separated by blanks, commas and lines, relative to the
 * directory of the rule file. */
static bool read_name_file(struct hba_names *nm, const char *name, const char *base, char *why, size_t wl)
{
	char path[4096], err[512], *text, *cur, *line;
	const char *slash = strrchr(base, '/');
	struct fields *fs = malloc(sizeof(*fs));
	const char *bad = NULL;
	int lineno = 0, next = 1;
	bool ok = true;

	if (name[0] == '/' || !slash)
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - base), base, name);
	if (!fs || !(text = read_file(path, "names file", err, sizeof(err)))) {
		snprintf(why, wl, "%s", fs ? err : "out of memory");
		free(fs);
		return false;
	}
	cur = text;
	while (ok && (line = next_line(&cur, &lineno, &next))) {
		if (!split_line(line, fs, &bad)) {
			snprintf(why, wl, "%s:%d: %s", path, lineno, bad);
			ok = false;
		}
		for (int i = 0; ok && fs->n && i < fs->first[fs->n - 1] + fs->count[fs->n - 1]; i++)
			if (!(ok = add_name(nm, fs->it[i].s)))
				snprintf(why, wl, "out of memory");
	}
	free(text);
	free(fs);
	return ok;
}

static bool parse_names(struct hba_names *nm, const struct fields *fs, int f, bool is_db, const char *path,
			char *why, size_t wl)
{
	for (int i = fs->first[f]; i < fs->first[f] + fs->count[f]; i++) {
		const struct item *it = &fs->it[i];
		if (kw(it, "all"))
			nm->flags |= NAME_ALL;
		else if (is_db && kw(it, "sameuser"))
			nm->flags |= NAME_SAMEUSER;
		else if (is_db && kw(it, "replication"))
			nm->flags |= NAME_REPLICATION;
		else if (!it->quoted && (!strcmp(it->s, "samerole") || !strcmp(it->s, "samegroup") || it->s[0] == '+')) {
			snprintf(why, wl, "\"%s\": group membership is not supported", it->s);
			return false;
		} else if (!it->quoted && it->s[0] == '@') {
			if (!read_name_file(nm, it->s + 1, path, why, wl))
				return false;
		} else if (!add_name(nm, it->s)) {
			snprintf(why, wl, "out of memory");
			return false;
		}
	}
	return true;
}

static void make_mask(uint8_t *mask, int bits, int len)
{
	memset(mask, 0, 16);
	for (int i = 0; i < len; i++, bits -= 8)
		mask[i] = bits >= 8 ? 0xff : bits > 0 ? (uint8_t)(0xff << (8 - bits)) : 0;
}

/* The address field at *f (and the mask after it, without /bits). */
static bool parse_addr(struct hba_rule *r, const struct fields *fs, int *f, char *why, size_t wl)
{
	const char *bad = NULL;
	const struct item *it = single(fs, (*f)++, "no address", &bad), *m;
	char buf[HBA_NAME_MAX + 1], *slash, *end;
	int len;
	long bits = -1;

	if (!it)
		return snprintf(why, wl, "%s", bad), false;
	if (kw(it, "all"))
		return (r->addr_all = true);
	if (kw(it, "samehost") || kw(it, "samenet")) {
		snprintf(why, wl, "%s is not supported (write the addresses)", it->s);
		return false;
	}
	snprintf(buf, sizeof(buf), "%s", it->s);
	if ((slash = strchr(buf, '/'))) {
		*slash = 0;
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || bits < 0)
			bits = 999;
	}
	if (inet_pton(AF_INET, buf, r->addr) == 1)
		r->family = AF_INET, len = 4;
	else if (inet_pton(AF_INET6, buf, r->addr) == 1)
		r->family = AF_INET6, len = 16;
	else {
		snprintf(why, wl, "invalid address \"%s\" (host names are not supported: write an address with /bits)",
			 it->s);
		return false;
	}
	if (bits > len * 8) {
		snprintf(why, wl, "invalid prefix length in \"%s\"", it->s);
		return false;
	}
	if (bits >= 0)
		make_mask(r->mask, (int)bits, len);
	else if (!(m = single(fs, (*f)++, "an address needs /bits or a mask", &bad)) ||
		 inet_pton(r->family, m->s, r->mask) != 1) {
		snprintf(why, wl, "%s", m ? "invalid mask (write the address with /bits, or a mask of the same family)"
					  : bad);
		return false;
	}
	for (int i = 0; i < len; i++)
		r->addr[i] &= r->mask[i];
	return true;
}

static const char *const method_names[] = { "trust", "reject", "md5", "password", "scram-sha-256", "cert",
					     "peer", NULL };

static bool parse_method(struct hba_rule *r, const struct fields *fs, int f, char *why, size_t wl)
{
	const char *bad = NULL;
	const struct item *it = single(fs, f, "no authentication method", &bad);

	if (!it)
		return snprintf(why, wl, "%s", bad), false;
	for (int i = 0; method_names[i]; i++)
		if (kw(it, method_names[i])) {
			r->method = (uint8_t)i;
			break;
		} else if (!method_names[i + 1]) {
			snprintf(why, wl, "authentication method \"%s\" is not supported (%s)", it->s,
				 "trust, reject, md5, password, scram-sha-256, cert, peer");
			return false;
		}
	if (r->method == HBA_PEER && r->type != RULE_LOCAL) {
		snprintf(why, wl, "peer works on local lines only");
		return false;
	}
	for (f++; f < fs->n; f++) {
		if (!(it = single(fs, f, "", &bad)) || it->quoted || strncmp(it->s, "map=", 4) || !it->s[4]) {
			snprintf(why, wl, "unknown option \"%s\" (only map=name is supported)", it ? it->s : "");
			return false;
		}
		if (r->method != HBA_CERT && r->method != HBA_PEER) {
			snprintf(why, wl, "map= applies to cert and peer only");
			return false;
		}
		free(r->map);
		if (!(r->map = strdup(it->s + 4)))
			return snprintf(why, wl, "out of memory"), false;
	}
	return true;
}

static bool parse_rule(struct hba_rule *r, const struct fields *fs, const char *path, char *why, size_t wl)
{
	static const char *const types[] = { "local", "host", "hostssl", "hostnossl", NULL };
	const char *bad = NULL;
	const struct item *it = single(fs, 0, "", &bad);
	int f = 3, t;

	for (t = 0; it && types[t] && !kw(it, types[t]); t++)
		;
	if (!it || !types[t]) {
		snprintf(why, wl, "unknown record type \"%s\" (local, host, hostssl, hostnossl)",
			 it ? it->s : fs->it[0].s);
		return false;
	}
	r->type = (uint8_t)t;
	if (fs->n < 4) {
		snprintf(why, wl, "too few fields");
		return false;
	}
	if (!parse_names(&r->db, fs, 1, true, path, why, wl) || !parse_names(&r->user, fs, 2, false, path, why, wl))
		return false;
	if (t != RULE_LOCAL && !parse_addr(r, fs, &f, why, wl))
		return false;
	return parse_method(r, fs, f, why, wl);
}

static void names_free(struct hba_names *nm)
{
	for (int i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

void hba_free(struct hba *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->n; i++) {
		names_free(&h->rules[i].db);
		names_free(&h->rules[i].user);
		free(h->rules[i].map);
	}
	for (int i = 0; i < h->nids; i++) {
		free(h->ids[i].map);
		free(h->ids[i].sys);
		free(h->ids[i].pg);
	}
	free(h->rules);
	free(h->ids);
	free(h);
}

static bool hba_line(struct hba *h, const struct fields *fs, const char *path, int lineno, char *why, size_t wl)
{
	struct hba_rule *nr = realloc(h->rules, sizeof(*nr) * (size_t)(h->n + 1));

	if (!nr)
		return snprintf(why, wl, "out of memory"), false;
	h->rules = nr;
	memset(&nr[h->n], 0, sizeof(*nr));
	nr[h->n].line = lineno;
	/* counted at once: hba_free() frees what a failed parse left */
	return parse_rule(&nr[h->n++], fs, path, why, wl);
}

static bool parse_ident_line(struct hba *h, const struct fields *fs, const char *path, int lineno, char *why, size_t wl)
{
	const char *bad = "a line is: map system-user pg-user";
	const struct item *m = single(fs, 0, bad, &bad), *sys = single(fs, 1, bad, &bad), *pg = single(fs, 2, bad, &bad);
	struct ident_line *nl;

	(void)path;
	(void)lineno;
	if (!m || !sys || !pg || fs->n > 3)
		return snprintf(why, wl, "%s", fs->n > 3 ? "a line is: map system-user pg-user" : bad), false;
	if (!sys->quoted && sys->s[0] == '/')
		return snprintf(why, wl, "regular expressions are not supported"), false;
	if (!(nl = realloc(h->ids, sizeof(*nl) * (size_t)(h->nids + 1))))
		return snprintf(why, wl, "out of memory"), false;
	h->ids = nl;
	nl += h->nids++;
	nl->map = strdup(m->s);
	nl->sys = strdup(sys->s);
	nl->pg = strdup(pg->s);
	nl->pg_all = kw(pg, "all");
	if (!nl->map || !nl->sys || !nl->pg)
		return snprintf(why, wl, "out of memory"), false;
	return true;
}

/* Reads path, passing each non-empty line to fn. */
static bool read_lines(struct hba *h, const char *path, const char *what,
		       bool (*fn)(struct hba *, const struct fields *, const char *, int, char *, size_t), char *err,
		       size_t errlen)
{
	struct fields *fs = malloc(sizeof(*fs));
	char *text = fs ? read_file(path, what, err, errlen) : NULL, *cur = text, *line, why[512];
	const char *bad = NULL;
	int lineno = 0, next = 1;
	bool ok = text != NULL;

	if (!fs)
		snprintf(err, errlen, "%s %s: out of memory", what, path);
	while (ok && (line = next_line(&cur, &lineno, &next))) {
		why[0] = 0;
		if (!split_line(line, fs, &bad))
			snprintf(why, sizeof(why), "%s", bad);
		else if (fs->n == 0)
			continue;
		else
			(void)fn(h, fs, path, lineno, why, sizeof(why)); /* a failure fills why */
		if (why[0]) {
			snprintf(err, errlen, "%s %s:%d: %s", what, path, lineno, why);
			ok = false;
		}
	}
	free(text);
	free(fs);
	return ok;
}

/* Every map= names a map of the ident file. */
static bool maps_known(const struct hba *h, const char *hba_path, char *err, size_t errlen)
{
	for (int i = 0; i < h->n; i++) {
		bool found = false;
		if (!h->rules[i].map)
			continue;
		for (int j = 0; j < h->nids && !found; j++)
			found = !strcmp(h->ids[j].map, h->rules[i].map);
		if (!found) {
			snprintf(err, errlen, "auth_hba_file %s:%d: map \"%s\" is not in auth_ident_file", hba_path,
				 h->rules[i].line, h->rules[i].map);
			return false;
		}
	}
	return true;
}

struct hba *hba_load(const char *hba_path, const char *ident_path, char *err, size_t errlen)
{
	struct hba *h = calloc(1, sizeof(*h));

	if (!h) {
		snprintf(err, errlen, "out of memory reading auth_hba_file");
		return NULL;
	}
	if ((ident_path && *ident_path && !read_lines(h, ident_path, "auth_ident_file", parse_ident_line, err, errlen)) ||
	    !read_lines(h, hba_path, "auth_hba_file", hba_line, err, errlen) || !maps_known(h, hba_path, err, errlen)) {
		hba_free(h);
		return NULL;
	}
	return h;
}

/* ---- matching ---- */

static bool name_match(const struct hba_names *nm, const char *name, const char *pair)
{
	if (nm->flags & NAME_ALL)
		return true;
	if ((nm->flags & NAME_SAMEUSER) && !strcmp(name, pair))
		return true;
	for (int i = 0; i < nm->n; i++)
		if (!strcmp(nm->v[i], name))
			return true;
	return false;
}

static bool addr_match(const struct hba_rule *r, int family, const uint8_t *addr)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	int len = r->family == AF_INET ? 4 : 16;

	if (r->addr_all)
		return true;
	/* an IPv4 client seen through an IPv6 socket (::ffff:a.b.c.d) */
	if (family == AF_INET6 && r->family == AF_INET && !memcmp(addr, v4mapped, 12)) {
		addr += 12;
		family = AF_INET;
	}
	if (family != r->family)
		return false;
	for (int i = 0; i < len; i++)
		if ((addr[i] & r->mask[i]) != r->addr[i])
			return false;
	return true;
}

static bool rule_match(const struct hba_rule *r, const struct hba_login *l)
{
	if (l->local != (r->type == RULE_LOCAL))
		return false;
	if (!l->local && ((r->type == RULE_HOSTSSL && !l->tls) || (r->type == RULE_HOSTNOSSL && l->tls) ||
			  !addr_match(r, l->family, l->addr)))
		return false;
	/* a physical replication connection matches the replication keyword
	 * only, as in PostgreSQL */
	if (l->replication ? !(r->db.flags & NAME_REPLICATION) : !name_match(&r->db, l->db, l->user))
		return false;
	return name_match(&r->user, l->user, l->db);
}

bool hba_match(const struct hba *h, const struct hba_login *l, int *method, const char **map, int *line)
{
	for (int i = 0; h && i < h->n; i++)
		if (rule_match(&h->rules[i], l)) {
			*method = h->rules[i].method;
			*map = h->rules[i].map;
			*line = h->rules[i].line;
			return true;
		}
	return false;
}

bool hba_ident_allows(const struct hba *h, const char *map, const char *sys, const char *pg_user)
{
	for (int i = 0; h && i < h->nids; i++) {
		const struct ident_line *il = &h->ids[i];
		if (!strcmp(il->map, map) && !strcmp(il->sys, sys) && (il->pg_all || !strcmp(il->pg, pg_user)))
			return true;
	}
	return false;
}

int hba_count(const struct hba *h)
{
	return h ? h->n : 0;
}
