/*
 * config_file: reading a configuration file (see config.h).
 *
 * inih parses sections and key = value, but Debian's inih cuts lines at 200
 * bytes and treats indented lines as continuations. We feed it through our
 * own line reader (ini_parse_stream), which hands inih every line
 * left-trimmed and, for a longer key = value line, hands it a short
 * stand-in "key = \x01N" whose full value we keep aside; the handler swaps
 * the real value back. So no line is ever split, and line numbers are ours.
 * %include lines are followed here too.
 */
#include "util/config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_FILE (16u << 20)	/* refuse config files above 16 MB */
#define LONG_MARK '\x01'

/* Keys PgBouncer knows that pgsift ignores with a warning instead of the
 * generic "unknown key" one, so a pgbouncer.ini reads as expected. */
static const char *const pgbouncer_only[] = {
	"syslog", "syslog_ident", "syslog_facility", "so_reuseport", "server_round_robin",
	"tcp_keepalive", "tcp_keepcnt", "tcp_keepidle", "tcp_keepintvl", "tcp_user_timeout",
	"tcp_defer_accept", "tcp_socket_buffer", "dns_max_ttl", "dns_nxdomain_ttl", "dns_zone_check_period",
	"resolv_conf", "client_tls_ecdhcurve", "client_tls_dheparams", "client_tls13_ciphers", "server_tls13_ciphers",
	"application_name_add_host", "conffile",
	"service_name", "job_name", "disable_pqexec", "autodb_idle_timeout",
	"sbuf_loopcnt", "unix_socket_group", "stats_users_prefix", "scram_iterations",
	"cancel_wait_timeout", NULL
};

/* ---- diagnostics ---- */

static void diag_add(char ***list, int *n, const char *fmt, va_list ap)
{
	char buf[1024];
	char **nl;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	nl = realloc(*list, sizeof(char *) * (size_t)(*n + 1));
	if (!nl)
		return;
	*list = nl;
	nl[*n] = strdup(buf);
	if (nl[*n])
		(*n)++;
}

static void __attribute__((format(printf, 2, 3))) diag_error(struct config_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(&d->errors, &d->nerrors, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 2, 3))) diag_warning(struct config_diag *d, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_add(&d->warnings, &d->nwarnings, fmt, ap);
	va_end(ap);
}

/* ---- reading the file through inih ---- */

enum section { SEC_NONE, SEC_DATABASES, SEC_USERS, SEC_PEERS, SEC_MAIN, SEC_IGNORED, SEC_UNKNOWN };

#define INCLUDE_DEPTH_MAX 10	/* %include inside %include, so deep at most */

/* A file being read: the one given, or one a %include line opened. */
struct reader_file {
	const char *path;
	const char *text;
	size_t len, pos;
	int lineno;
	char *own_path, *own_text; /* an included file's, freed when it ends */
};

struct reader {
	struct reader_file f;	/* the file lines come from now */
	struct reader_file outer[INCLUDE_DEPTH_MAX]; /* the files that include it */
	int depth;
	enum section section;	/* as in PgBouncer, a section goes on across files */
	struct config *cfg;
	struct config_diag *diag;
	char **longvals;	/* values of lines too long for inih */
	int nlong;
};

static enum section section_kind(const char *name, size_t n)
{
	static const struct { const char *name; enum section s; } map[] = {
		{ "databases", SEC_DATABASES }, { "users", SEC_USERS }, { "pgsift", SEC_MAIN },
		{ "pgbouncer", SEC_MAIN }, { "peers", SEC_PEERS },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strlen(map[i].name) == n && strncasecmp(name, map[i].name, n) == 0)
			return map[i].s;
	return SEC_UNKNOWN;
}

/* Notes the section a "[name]" line opens, reporting unknown ones; false
 * (reported) when the line has no "]". */
static bool reader_section(struct reader *rd, const char *line, size_t n)
{
	const char *end = memchr(line, ']', n);

	if (!end) {
		diag_error(rd->diag, "%s:%d: section header without \"]\"", rd->f.path, rd->f.lineno);
		rd->section = SEC_UNKNOWN;
		return false;
	}
	rd->section = section_kind(line + 1, (size_t)(end - line - 1));
	if (rd->section == SEC_UNKNOWN)
		diag_error(rd->diag, "%s:%d: unknown section [%.*s]", rd->f.path, rd->f.lineno, (int)(end - line - 1),
			   line + 1);
	else if (rd->section == SEC_IGNORED)
		diag_warning(rd->diag, "%s:%d: section [%.*s] is not supported by pgsift and is ignored", rd->f.path,
			     rd->f.lineno, (int)(end - line - 1), line + 1);
	return true;
}

/* Keeps the value of a "key = value" line aside and writes the stand-in
 * line "key = \x01N" for inih into str. Used for lines too long for inih's
 * buffer and for values inih would cut at an inline " ;" comment (PgBouncer
 * has no inline comments, so a value may contain ';'). */
static bool reader_stash_value(struct reader *rd, const char *line, size_t n, char *str, int num)
{
	const char *eq = memchr(line, '=', n), *v, *e = line + n, *k = line;
	char **nl;
	size_t klen;

	if (!eq) {
		diag_error(rd->diag, "%s:%d: syntax error (expected [section] or key = value)", rd->f.path, rd->f.lineno);
		snprintf(str, (size_t)num, "#\n");
		return true;
	}
	klen = (size_t)(eq - k);
	while (klen && isspace((unsigned char)k[klen - 1]))
		klen--;
	if (klen + 16 >= (size_t)num) {
		diag_error(rd->diag, "%s:%d: key too long", rd->f.path, rd->f.lineno);
		snprintf(str, (size_t)num, "#\n");
		return true;
	}
	for (v = eq + 1; v < e && isspace((unsigned char)*v); v++)
		;
	while (e > v && isspace((unsigned char)e[-1]))
		e--;
	nl = realloc(rd->longvals, sizeof(char *) * (size_t)(rd->nlong + 1));
	if (!nl || !(nl[rd->nlong] = strndup(v, (size_t)(e - v)))) {
		if (nl)
			rd->longvals = nl;
		return false;
	}
	rd->longvals = nl;
	snprintf(str, (size_t)num, "%.*s = %c%d\n", (int)klen, k, LONG_MARK, rd->nlong++);
	return true;
}

/* Would inih take part of this line for an inline comment? */
static bool has_inline_semicolon(const char *line, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (line[i] == ';' && (line[i - 1] == ' ' || line[i - 1] == '\t'))
			return true;
	return false;
}

/* The regular file at path, at most CONFIG_MAX_FILE bytes, as a heap copy
 * of *len bytes (and a NUL); NULL with the reason in err otherwise. Opened
 * without blocking, so that a FIFO named by mistake is refused, not waited
 * on. */
static char *read_config_file(const char *path, size_t *len, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;
	char *text = NULL;
	size_t got = 0;

	if (fd < 0) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > CONFIG_MAX_FILE) {
		snprintf(err, errlen, "not a regular file of at most 16 MB");
		close(fd);
		return NULL;
	}
	text = malloc((size_t)st.st_size + 1);
	while (text && got < (size_t)st.st_size) {
		ssize_t r = read(fd, text + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!text || got != (size_t)st.st_size) {
		free(text);
		snprintf(err, errlen, "read error");
		return NULL;
	}
	text[got] = 0;
	*len = got;
	return text;
}

/* A "%include file" line: the file's lines are read in its place, in the
 * section in force (PgBouncer's rule; a relative name is taken from the
 * working directory, as PgBouncer does). */
static void reader_include(struct reader *rd, const char *line, size_t n)
{
	const char *name = line + 8, *end = line + n;
	char err[256], *path, *text;
	size_t len;

	if (n < 8 || memcmp(line, "%include", 8) != 0 || (n > 8 && !isspace((unsigned char)line[8]))) {
		diag_error(rd->diag, "%s:%d: unknown directive \"%.*s\" (only %%include is known)", rd->f.path,
			   rd->f.lineno, (int)(n > 40 ? 40 : n), line);
		return;
	}
	while (name < end && isspace((unsigned char)*name))
		name++;
	while (end > name && isspace((unsigned char)end[-1]))
		end--;
	if (name == end) {
		diag_error(rd->diag, "%s:%d: %%include needs a file name", rd->f.path, rd->f.lineno);
		return;
	}
	if (rd->depth == INCLUDE_DEPTH_MAX) {
		diag_error(rd->diag, "%s:%d: %%include nested more than %d deep (does a file include itself?)",
			   rd->f.path, rd->f.lineno, INCLUDE_DEPTH_MAX);
		return;
	}
	if (!(path = strndup(name, (size_t)(end - name)))) {
		diag_error(rd->diag, "%s:%d: out of memory", rd->f.path, rd->f.lineno);
		return;
	}
	if (!(text = read_config_file(path, &len, err, sizeof(err)))) {
		diag_error(rd->diag, "%s:%d: %%include %s: %s", rd->f.path, rd->f.lineno, path, err);
		free(path);
		return;
	}
	rd->outer[rd->depth++] = rd->f;
	rd->f = (struct reader_file){ .path = path, .text = text, .len = len, .own_path = path, .own_text = text };
}

/* The current file has ended: back to the one that included it. */
static void reader_pop(struct reader *rd)
{
	free(rd->f.own_path);
	free(rd->f.own_text);
	rd->f = rd->outer[--rd->depth];
}

/* inih's line source: one whole line per call, left-trimmed. Lines that
 * inih would refuse are reported here and handed over as comments, so that
 * inih, which counts lines across included files, never reports one. */
static char *reader_next(char *str, int num, void *stream)
{
	struct reader *rd = stream;
	const char *line, *nl;
	size_t n;

	while (rd->f.pos >= rd->f.len) {
		if (rd->depth == 0)
			return NULL;
		reader_pop(rd);
	}
	line = rd->f.text + rd->f.pos;
	nl = memchr(line, '\n', rd->f.len - rd->f.pos);
	n = nl ? (size_t)(nl - line) : rd->f.len - rd->f.pos;
	rd->f.pos += n + (nl ? 1 : 0);
	rd->f.lineno++;
	if (n && line[n - 1] == '\r')
		n--;
	if (rd->f.lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
		line += 3; /* a UTF-8 byte order mark */
		n -= 3;
	}
	while (n && (*line == ' ' || *line == '\t')) {
		line++;
		n--;
	}
	if (memchr(line, 0, n)) {
		diag_error(rd->diag, "%s:%d: line contains a NUL byte", rd->f.path, rd->f.lineno);
		snprintf(str, (size_t)num, "#\n");
		return str;
	}
	if (n == 0 || *line == ';' || *line == '#') {
		snprintf(str, (size_t)num, "#\n");
		return str;
	}
	if (*line == '%') {
		reader_include(rd, line, n);
		snprintf(str, (size_t)num, "#\n");
		return str;
	}
	if (*line == '[') {
		if (reader_section(rd, line, n))
			snprintf(str, (size_t)num, "%.*s\n", n + 2 <= (size_t)num ? (int)n : 0, line);
		else
			snprintf(str, (size_t)num, "#\n");
		return str;
	}
	if (!memchr(line, '=', n) && !memchr(line, ':', n)) {
		diag_error(rd->diag, "%s:%d: syntax error (expected [section] or key = value)", rd->f.path, rd->f.lineno);
		snprintf(str, (size_t)num, "#\n");
		return str;
	}
	if (n + 2 <= (size_t)num && !has_inline_semicolon(line, n)) {
		memcpy(str, line, n);
		str[n] = '\n';
		str[n + 1] = 0;
		return str;
	}
	return reader_stash_value(rd, line, n, str, num) ? str : NULL;
}

static bool is_pgbouncer_only(const char *name)
{
	for (int i = 0; pgbouncer_only[i]; i++)
		if (strcasecmp(name, pgbouncer_only[i]) == 0)
			return true;
	return false;
}

static void handle_main(struct reader *rd, const char *name, const char *value)
{
	char err[512];
	int i = config_setting_find(name);

	if (i < 0) {
		if (is_pgbouncer_only(name))
			diag_warning(rd->diag, "%s:%d: setting \"%s\" is not supported by pgsift and is ignored",
				     rd->f.path, rd->f.lineno, name);
		else
			diag_warning(rd->diag, "%s:%d: unknown setting \"%s\" ignored", rd->f.path, rd->f.lineno, name);
		return;
	}
	if (!config_set(rd->cfg, config_setting_name(i), value, err, sizeof(err)))
		diag_error(rd->diag, "%s:%d: %s: %s", rd->f.path, rd->f.lineno, config_setting_name(i), err);
}

/* A name in double quotes ("my db", with "" for a quote) is unquoted into
 * buf; other names are returned as they are. */
static const char *unquote_name(const char *name, char *buf, size_t buflen)
{
	size_t n = strlen(name), k = 0;

	if (n < 2 || name[0] != '"' || name[n - 1] != '"')
		return name;
	for (size_t i = 1; i + 1 < n && k + 1 < buflen; i++) {
		if (name[i] == '"' && name[i + 1] == '"')
			i++;
		buf[k++] = name[i];
	}
	buf[k] = 0;
	return buf;
}

static void handle_db(struct reader *rd, const char *qname, const char *value)
{
	char err[512], nbuf[256];
	struct db_conf dc, *arr;
	struct config *cfg = rd->cfg;
	const char *name = unquote_name(qname, nbuf, sizeof(nbuf));

	if (strlen(name) >= 64) {
		diag_error(rd->diag, "%s:%d: database name \"%s\" too long (max 63 bytes)", rd->f.path, rd->f.lineno, name);
		return;
	}
	if (!config_parse_db(name, value, &dc, err, sizeof(err))) {
		diag_error(rd->diag, "%s:%d: database \"%s\": %s", rd->f.path, rd->f.lineno, name, err);
		return;
	}
	dc.line = rd->f.lineno;
	for (int i = 0; i < cfg->ndbs; i++)
		if (strcmp(cfg->dbs[i].name, name) == 0) { /* later duplicate wins */
			config_db_conf_free(&cfg->dbs[i]);
			cfg->dbs[i] = dc;
			return;
		}
	arr = realloc(cfg->dbs, sizeof(*arr) * (size_t)(cfg->ndbs + 1));
	if (!arr) {
		config_db_conf_free(&dc);
		diag_error(rd->diag, "%s:%d: out of memory", rd->f.path, rd->f.lineno);
		return;
	}
	cfg->dbs = arr;
	arr[cfg->ndbs++] = dc;
}

static void handle_user(struct reader *rd, const char *qname, const char *value)
{
	char err[512], nbuf[256];
	struct user_conf uc, *arr;
	struct config *cfg = rd->cfg;
	const char *name = unquote_name(qname, nbuf, sizeof(nbuf));

	if (!config_parse_user(name, value, &uc, err, sizeof(err))) {
		diag_error(rd->diag, "%s:%d: user \"%s\": %s", rd->f.path, rd->f.lineno, name, err);
		return;
	}
	uc.line = rd->f.lineno;
	for (int i = 0; i < cfg->nusers; i++)
		if (strcmp(cfg->users[i].name, name) == 0) {
			free(cfg->users[i].name);
			cfg->users[i] = uc;
			return;
		}
	arr = realloc(cfg->users, sizeof(*arr) * (size_t)(cfg->nusers + 1));
	if (!arr) {
		free(uc.name);
		diag_error(rd->diag, "%s:%d: out of memory", rd->f.path, rd->f.lineno);
		return;
	}
	cfg->users = arr;
	arr[cfg->nusers++] = uc;
}

static void handle_peer(struct reader *rd, const char *qname, const char *value)
{
	char err[512], nbuf[256];
	struct peer_conf pc, *arr;
	struct config *cfg = rd->cfg;
	const char *name = unquote_name(qname, nbuf, sizeof(nbuf));

	if (!config_parse_peer(name, value, &pc, err, sizeof(err))) {
		diag_error(rd->diag, "%s:%d: peer \"%s\": %s", rd->f.path, rd->f.lineno, name, err);
		return;
	}
	pc.line = rd->f.lineno;
	for (int i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].id == pc.id) {
			free(cfg->peers[i].host);
			cfg->peers[i] = pc;
			return;
		}
	arr = realloc(cfg->peers, sizeof(*arr) * (size_t)(cfg->npeers + 1));
	if (!arr) {
		free(pc.host);
		diag_error(rd->diag, "%s:%d: out of memory", rd->f.path, rd->f.lineno);
		return;
	}
	cfg->peers = arr;
	arr[cfg->npeers++] = pc;
}

static int on_ini_line(void *user, const char *section, const char *name, const char *value)
{
	struct reader *rd = user;
	(void)section; /* our reader tracks the section with its line number */

	if (value[0] == LONG_MARK) {
		int k = atoi(value + 1);
		if (k < 0 || k >= rd->nlong)
			return 1;
		value = rd->longvals[k];
	}
	switch (rd->section) {
	case SEC_MAIN:
		handle_main(rd, name, value);
		break;
	case SEC_DATABASES:
		handle_db(rd, name, value);
		break;
	case SEC_USERS:
		handle_user(rd, name, value);
		break;
	case SEC_PEERS:
		handle_peer(rd, name, value);
		break;
	case SEC_NONE:
		diag_error(rd->diag, "%s:%d: \"%s\" is outside any section", rd->f.path, rd->f.lineno, name);
		break;
	case SEC_IGNORED:
	case SEC_UNKNOWN:
		break;
	}
	return 1;
}

static bool has_value(const char *s)
{
	return s && *s;
}

static void validate(struct config *cfg, struct config_diag *diag, const char *path)
{
	if (cfg->min_pool_size > cfg->default_pool_size)
		diag_warning(diag, "%s: min_pool_size (%d) is larger than default_pool_size (%d)", path,
			     cfg->min_pool_size, cfg->default_pool_size);
	if ((!cfg->listen_addr || !*cfg->listen_addr) && (!cfg->unix_socket_dir || !*cfg->unix_socket_dir))
		diag_error(diag, "%s: neither listen_addr nor unix_socket_dir is set: nothing to listen on", path);
	if (cfg->auth_type != AUTHT_TRUST && cfg->auth_type != AUTHT_ANY && cfg->auth_type != AUTHT_CERT &&
	    cfg->auth_type != AUTHT_HBA && cfg->auth_type != AUTHT_PEER && (!cfg->auth_file || !*cfg->auth_file))
		diag_error(diag, "%s: auth_type %s needs auth_file", path, config_auth_type_name(cfg->auth_type));
	if (cfg->auth_type == AUTHT_HBA && !has_value(cfg->auth_hba_file))
		diag_error(diag, "%s: auth_type hba needs auth_hba_file", path);
	if (cfg->auth_type == AUTHT_CERT && cfg->client_tls_sslmode < SSLMODE_VERIFY_CA)
		diag_error(diag, "%s: auth_type cert needs client_tls_sslmode verify-ca or verify-full", path);
	if (cfg->client_tls_sslmode != SSLMODE_DISABLE &&
	    (!has_value(cfg->client_tls_key_file) || !has_value(cfg->client_tls_cert_file)))
		diag_error(diag, "%s: client_tls_sslmode %s needs client_tls_key_file and client_tls_cert_file", path,
			   config_sslmode_name(cfg->client_tls_sslmode));
	if (cfg->client_tls_sslmode >= SSLMODE_VERIFY_CA && !has_value(cfg->client_tls_ca_file))
		diag_error(diag, "%s: client_tls_sslmode %s needs client_tls_ca_file (to verify client certificates)",
			   path, config_sslmode_name(cfg->client_tls_sslmode));
	if (has_value(cfg->auth_dbname) && (!strcmp(cfg->auth_dbname, "pgbouncer") || !strcmp(cfg->auth_dbname, "pgsift")))
		diag_error(diag, "%s: auth_dbname: cannot use the reserved \"%s\" database as an auth_dbname", path,
			   cfg->auth_dbname);
	if (has_value(cfg->server_tls_key_file) != has_value(cfg->server_tls_cert_file))
		diag_error(diag, "%s: server_tls_key_file and server_tls_cert_file go together (the certificate pgsift shows to servers)",
			   path);
}

bool config_load_string(const char *text, size_t len, const char *path, struct config *cfg,
			struct config_diag *diag)
{
	struct reader rd = { .f = { .path = path, .text = text, .len = len }, .cfg = cfg, .diag = diag };
	int rc;

	config_init_defaults(cfg);
	cfg->path = strdup(path);
	rc = ini_parse_stream(reader_next, &rd, on_ini_line, &rd);
	/* reader_next() hands inih no line it would refuse (and inih's line
	 * numbers run across included files): rc is only ever < 0 */
	if (rc != 0)
		diag_error(diag, "%s: cannot parse (%s)", path, rc < 0 ? "out of memory" : "syntax error");
	while (rd.depth > 0) /* inih stopped inside an included file */
		reader_pop(&rd);
	for (int i = 0; i < rd.nlong; i++)
		free(rd.longvals[i]);
	free(rd.longvals);
	if (diag->nerrors == 0)
		validate(cfg, diag, path);
	return diag->nerrors == 0;
}

bool config_load_file(const char *path, struct config *cfg, struct config_diag *diag)
{
	char err[256], *text;
	size_t len;
	bool ok;

	if (!(text = read_config_file(path, &len, err, sizeof(err)))) {
		config_init_defaults(cfg);
		diag_error(diag, "%s: %s", path, err);
		return false;
	}
	ok = config_load_string(text, len, path, cfg, diag);
	free(text);
	return ok;
}
