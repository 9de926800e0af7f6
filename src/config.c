/*
 * config: see config.h.
 *
 * Reading: inih parses sections and key = value, but Debian's inih cuts
 * lines at 200 bytes and treats indented lines as continuations. We feed it
 * through our own line reader (ini_parse_stream), which hands inih every
 * line left-trimmed and, for a longer key = value line, hands it a short
 * stand-in "key = \x01N" whose full value we keep aside; the handler swaps
 * the real value back. So no line is ever split, and line numbers are ours.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_FILE (16u << 20)	/* refuse config files above 16 MB */
#define LONG_MARK '\x01'

enum stype { ST_STR, ST_INT, ST_BOOL, ST_TIME, ST_POOLMODE, ST_AUTHTYPE, ST_OCTAL, ST_SSLMODE };

struct setting {
	const char *name;
	uint8_t type;
	uint8_t flags;
	size_t off;
	const char *def;
	int64_t min, max;
};

#define S_(name, type, flags, def, min, max) { #name, type, flags, offsetof(struct config, name), def, min, max }
#define R SET_RELOAD

static const struct setting settings[] = {
	S_(listen_addr, ST_STR, 0, "", 0, 0),
	S_(listen_port, ST_INT, 0, "6432", 1, 65535),
	S_(listen_backlog, ST_INT, 0, "128", 1, 65535),
	S_(unix_socket_dir, ST_STR, 0, "/tmp", 0, 0),
	S_(unix_socket_mode, ST_OCTAL, 0, "0777", 0, 0777),
	S_(auth_type, ST_AUTHTYPE, R, "md5", 0, 0),
	S_(auth_file, ST_STR, R, "", 0, 0),
	S_(admin_users, ST_STR, R, "", 0, 0),
	S_(stats_users, ST_STR, R, "", 0, 0),
	S_(pool_mode, ST_POOLMODE, R, "session", 0, 0),
	S_(max_client_conn, ST_INT, R, "100", 1, 1000000),
	S_(default_pool_size, ST_INT, R, "20", 1, 100000),
	S_(min_pool_size, ST_INT, R, "0", 0, 100000),
	S_(reserve_pool_size, ST_INT, R, "0", 0, 100000),
	S_(reserve_pool_timeout, ST_TIME, R, "5", 0, 0),
	S_(max_db_connections, ST_INT, R, "0", 0, 1000000),
	S_(max_user_connections, ST_INT, R, "0", 0, 1000000),
	S_(server_lifetime, ST_TIME, R, "3600", 0, 0),
	S_(server_idle_timeout, ST_TIME, R, "600", 0, 0),
	S_(server_connect_timeout, ST_TIME, R, "15", 0, 0),
	S_(server_login_retry, ST_TIME, R, "15", 0, 0),
	S_(server_reset_query, ST_STR, R, "DISCARD ALL", 0, 0),
	S_(server_reset_query_always, ST_BOOL, R, "0", 0, 0),
	S_(server_check_query, ST_STR, R, "select 1", 0, 0),
	S_(server_check_delay, ST_TIME, R, "30", 0, 0),
	S_(query_timeout, ST_TIME, R, "0", 0, 0),
	S_(query_wait_timeout, ST_TIME, R, "120", 0, 0),
	S_(client_idle_timeout, ST_TIME, R, "0", 0, 0),
	S_(client_login_timeout, ST_TIME, R, "60", 0, 0),
	S_(idle_transaction_timeout, ST_TIME, R, "0", 0, 0),
	S_(ignore_startup_parameters, ST_STR, R, "", 0, 0),
	S_(track_extra_parameters, ST_STR, 0, "IntervalStyle", 0, 0),
	S_(max_packet_size, ST_INT, R, "2147483647", 1024, INT_MAX),
	S_(pkt_buf, ST_INT, 0, "4096", 512, 16 << 20),
	S_(logfile, ST_STR, R, "", 0, 0),
	S_(pidfile, ST_STR, 0, "", 0, 0),
	S_(log_connections, ST_BOOL, R, "1", 0, 0),
	S_(log_disconnections, ST_BOOL, R, "1", 0, 0),
	S_(log_pooler_errors, ST_BOOL, R, "1", 0, 0),
	S_(log_stats, ST_BOOL, R, "1", 0, 0),
	S_(stats_period, ST_TIME, R, "60", 0, 0),
	S_(verbose, ST_INT, R, "0", 0, 5),
	S_(client_tls_sslmode, ST_SSLMODE, R, "disable", 0, 0),
	S_(client_tls_key_file, ST_STR, R, "", 0, 0),
	S_(client_tls_cert_file, ST_STR, R, "", 0, 0),
	S_(client_tls_ca_file, ST_STR, R, "", 0, 0),
	S_(client_tls_protocols, ST_STR, R, "secure", 0, 0),
	S_(client_tls_ciphers, ST_STR, R, "default", 0, 0),
	S_(server_tls_sslmode, ST_SSLMODE, R, "prefer", 0, 0),
	S_(server_tls_key_file, ST_STR, R, "", 0, 0),
	S_(server_tls_cert_file, ST_STR, R, "", 0, 0),
	S_(server_tls_ca_file, ST_STR, R, "", 0, 0),
	S_(server_tls_protocols, ST_STR, R, "secure", 0, 0),
	S_(server_tls_ciphers, ST_STR, R, "default", 0, 0),
	S_(analyzer, ST_BOOL, R, "1", 0, 0),
	S_(max_fingerprints, ST_INT, 0, "5000", 1, 1000000),
	S_(log_query_samples, ST_BOOL, R, "0", 0, 0),
	S_(max_prepared_statements, ST_INT, R, "200", 0, 100000),
	S_(advisor_target_wait_ms, ST_INT, R, "5", 0, 3600000),
	S_(advisor_window, ST_TIME, R, "300", 0, 0),
	S_(advisor_min_transactions, ST_INT, R, "100", 1, INT_MAX),
	S_(advisor_headroom, ST_INT, R, "10", 0, 1000),
	S_(nplusone_min_repeats, ST_INT, R, "5", 0, 1000000),
	S_(nplusone_think_time_ms, ST_INT, R, "10", 0, 3600000),
	S_(slow_query_ms, ST_INT, R, "500", -1, INT_MAX),
	S_(slow_query_log_size, ST_INT, 0, "1000", 1, 1000000),
	S_(slow_query_explain, ST_BOOL, R, "1", 0, 0),
	S_(slow_query_explain_interval, ST_TIME, R, "60", 0, 0),
	S_(slow_query_explain_rate, ST_INT, R, "30", 0, 100000),
	S_(idle_in_transaction_warn_ms, ST_INT, R, "5000", 0, INT_MAX),
};
#undef R
#define NSETTINGS ((int)(sizeof(settings) / sizeof(settings[0])))

/* Keys PgBouncer knows that pgsift ignores with a warning instead of the
 * generic "unknown key" one, so a pgbouncer.ini reads as expected. */
static const char *const pgbouncer_only[] = {
	"user", "syslog", "syslog_ident", "syslog_facility", "so_reuseport", "server_round_robin",
	"tcp_keepalive", "tcp_keepcnt", "tcp_keepidle", "tcp_keepintvl", "tcp_user_timeout",
	"tcp_defer_accept", "tcp_socket_buffer", "dns_max_ttl", "dns_nxdomain_ttl", "dns_zone_check_period",
	"resolv_conf", "client_tls_ecdhcurve", "client_tls_dheparams", "client_tls13_ciphers", "server_tls13_ciphers",
	"auth_hba_file",
	"auth_query", "auth_user", "auth_dbname", "application_name_add_host", "conffile",
	"service_name", "job_name", "disable_pqexec", "suspend_timeout", "autodb_idle_timeout",
	"server_fast_close", "sbuf_loopcnt", "unix_socket_group",
	"peer_id", "query_wait_notify", "stats_users_prefix", NULL
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

void config_diag_free(struct config_diag *d)
{
	for (int i = 0; i < d->nerrors; i++)
		free(d->errors[i]);
	for (int i = 0; i < d->nwarnings; i++)
		free(d->warnings[i]);
	free(d->errors);
	free(d->warnings);
	memset(d, 0, sizeof(*d));
}

/* ---- value parsing ---- */

static bool parse_int(const char *v, int64_t min, int64_t max, int64_t *out, char *err, size_t errlen)
{
	char *end;
	long long x;

	errno = 0;
	x = strtoll(v, &end, 10);
	if (end == v) {
		snprintf(err, errlen, "invalid integer \"%s\"", v);
		return false;
	}
	while (isspace((unsigned char)*end))
		end++;
	if (errno || *end) {
		snprintf(err, errlen, "invalid integer \"%s\"", v);
		return false;
	}
	if (x < min || x > max) {
		snprintf(err, errlen, "value %lld out of range [%lld, %lld]", x, (long long)min, (long long)max);
		return false;
	}
	*out = x;
	return true;
}

static bool parse_bool(const char *v, bool *out, char *err, size_t errlen)
{
	static const char *const t[] = { "1", "on", "true", "yes" }, *const f[] = { "0", "off", "false", "no" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, t[i]) == 0)
			return (*out = true);
		if (strcasecmp(v, f[i]) == 0) {
			*out = false;
			return true;
		}
	}
	snprintf(err, errlen, "invalid boolean \"%s\" (use 0/1, on/off, true/false, yes/no)", v);
	return false;
}

/* Seconds with optional fraction, or a number with a unit. */
static bool parse_time(const char *v, usec_t *out, char *err, size_t errlen)
{
	static const struct { const char *u; double mul; } units[] = {
		{ "", 1e6 }, { "us", 1 }, { "ms", 1e3 }, { "s", 1e6 }, { "min", 60e6 }, { "h", 3600e6 }, { "d", 86400e6 },
	};
	char *end;
	double x;

	errno = 0;
	x = strtod(v, &end);
	while (isspace((unsigned char)*end))
		end++;
	/* !(x >= 0) also refuses NaN */
	if (errno || end == v || !(x >= 0)) {
		snprintf(err, errlen, "invalid time \"%s\" (seconds, or a number with ms/s/min/h/d)", v);
		return false;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].u) == 0) {
			double us = x * units[i].mul + 0.5;
			if (!(us < 1e17)) { /* about 3000 years: anything above is a typo */
				snprintf(err, errlen, "time \"%s\" is too large", v);
				return false;
			}
			*out = (usec_t)us;
			return true;
		}
	}
	snprintf(err, errlen, "invalid time unit in \"%s\" (use ms, s, min, h or d)", v);
	return false;
}

static const char *const pool_mode_names[] = { "session", "transaction", "statement" };
static const char *const auth_type_names[] = { "trust", "any", "plain", "md5", "scram-sha-256" };
static const char *const sslmode_names[] = { "disable", "allow", "prefer", "require", "verify-ca", "verify-full" };

/* The index of v among names[0..n) (case-insensitive), or -1 */
static int name_index(const char *v, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcasecmp(v, names[i]) == 0)
			return i;
	return -1;
}

static bool parse_sslmode(const char *v, int *out, char *err, size_t errlen)
{
	int i = name_index(v, sslmode_names, 6);

	if (i >= 0)
		return (*out = i), true;
	snprintf(err, errlen, "invalid TLS mode \"%s\" (disable, allow, prefer, require, verify-ca or verify-full)", v);
	return false;
}

const char *config_sslmode_name(int mode)
{
	return mode >= 0 && mode < 6 ? sslmode_names[mode] : "?";
}

static bool parse_pool_mode(const char *v, int *out, char *err, size_t errlen)
{
	int i = name_index(v, pool_mode_names, 3);

	if (i >= 0)
		return (*out = i), true;
	snprintf(err, errlen, "invalid pool_mode \"%s\" (session, transaction or statement)", v);
	return false;
}

static bool parse_auth_type(const char *v, int *out, char *err, size_t errlen)
{
	int i = name_index(v, auth_type_names, 5);

	if (i >= 0)
		return (*out = i), true;
	if (!strcasecmp(v, "hba") || !strcasecmp(v, "cert") || !strcasecmp(v, "pam"))
		snprintf(err, errlen, "auth_type \"%s\" is not supported by pgsift (use trust, any, plain, md5 or scram-sha-256)", v);
	else
		snprintf(err, errlen, "invalid auth_type \"%s\" (trust, any, plain, md5 or scram-sha-256)", v);
	return false;
}

const char *config_pool_mode_name(int mode)
{
	return mode >= 0 && mode < 3 ? pool_mode_names[mode] : "?";
}

const char *config_auth_type_name(int type)
{
	return type >= 0 && type < 5 ? auth_type_names[type] : "?";
}

/* Applies text to setting s of cfg; cfg unchanged on error. */
static bool setting_apply(const struct setting *s, struct config *cfg, const char *v, char *err, size_t errlen)
{
	void *p = (char *)cfg + s->off;
	int64_t i;

	switch (s->type) {
	case ST_STR: {
		char *copy = strdup(v);
		if (!copy) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
		free(*(char **)p);
		*(char **)p = copy;
		return true;
	}
	case ST_INT:
		if (!parse_int(v, s->min, s->max, &i, err, errlen))
			return false;
		*(int *)p = (int)i;
		return true;
	case ST_OCTAL: {
		char *end;
		long x = strtol(v, &end, 8);
		if (!*v || *end || x < 0 || x > s->max) {
			snprintf(err, errlen, "invalid octal mode \"%s\"", v);
			return false;
		}
		*(int *)p = (int)x;
		return true;
	}
	case ST_BOOL:
		return parse_bool(v, (bool *)p, err, errlen);
	case ST_TIME:
		return parse_time(v, (usec_t *)p, err, errlen);
	case ST_POOLMODE:
		return parse_pool_mode(v, (int *)p, err, errlen);
	case ST_AUTHTYPE:
		return parse_auth_type(v, (int *)p, err, errlen);
	case ST_SSLMODE:
		return parse_sslmode(v, (int *)p, err, errlen);
	}
	return false;
}

int config_setting_count(void)
{
	return NSETTINGS;
}

const char *config_setting_name(int i)
{
	return settings[i].name;
}

const char *config_setting_default(int i)
{
	return settings[i].def;
}

bool config_setting_changeable(int i)
{
	return settings[i].flags & SET_RELOAD;
}

int config_setting_find(const char *name)
{
	for (int i = 0; i < NSETTINGS; i++)
		if (strcasecmp(settings[i].name, name) == 0)
			return i;
	return -1;
}

/* Seconds, with as many decimals as the microseconds need. */
static void format_time(usec_t t, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%lld.%06lld", (long long)(t / 1000000), (long long)(t % 1000000));

	while (n > 0 && (size_t)n < outlen && out[n - 1] == '0')
		out[--n] = 0;
	if (n > 0 && (size_t)n < outlen && out[n - 1] == '.')
		out[--n] = 0;
}

const char *config_setting_value(const struct config *cfg, int i, char *out, size_t outlen)
{
	const struct setting *s = &settings[i];
	const void *p = (const char *)cfg + s->off;

	switch (s->type) {
	case ST_STR:
		snprintf(out, outlen, "%s", *(char *const *)p ? *(char *const *)p : "");
		break;
	case ST_INT:
		snprintf(out, outlen, "%d", *(const int *)p);
		break;
	case ST_OCTAL:
		snprintf(out, outlen, "0%o", *(const int *)p);
		break;
	case ST_BOOL:
		snprintf(out, outlen, "%d", *(const bool *)p ? 1 : 0);
		break;
	case ST_TIME:
		format_time(*(const usec_t *)p, out, outlen);
		break;
	case ST_POOLMODE:
		snprintf(out, outlen, "%s", config_pool_mode_name(*(const int *)p));
		break;
	case ST_AUTHTYPE:
		snprintf(out, outlen, "%s", config_auth_type_name(*(const int *)p));
		break;
	case ST_SSLMODE:
		snprintf(out, outlen, "%s", config_sslmode_name(*(const int *)p));
		break;
	}
	return out;
}

bool config_set(struct config *cfg, const char *name, const char *value, char *err, size_t errlen)
{
	int i = config_setting_find(name);

	if (i < 0) {
		snprintf(err, errlen, "unknown setting \"%s\"", name);
		return false;
	}
	return setting_apply(&settings[i], cfg, value, err, errlen);
}

bool config_copy_setting(struct config *dst, const struct config *src, int i)
{
	const struct setting *st = &settings[i];
	void *d = (char *)dst + st->off;
	const void *sv = (const char *)src + st->off;

	switch (st->type) {
	case ST_STR: {
		const char *v = *(char *const *)sv;
		char *copy = v ? strdup(v) : NULL;
		if (v && !copy)
			return false;
		free(*(char **)d);
		*(char **)d = copy;
		return true;
	}
	case ST_BOOL:
		*(bool *)d = *(const bool *)sv;
		return true;
	case ST_TIME:
		*(usec_t *)d = *(const usec_t *)sv;
		return true;
	default: /* the int-typed ones */
		*(int *)d = *(const int *)sv;
		return true;
	}
}

void config_init_defaults(struct config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	for (int i = 0; i < NSETTINGS; i++)
		if (!setting_apply(&settings[i], cfg, settings[i].def, err, sizeof(err)))
			abort(); /* a broken default is a programming error */
}

bool config_list_contains(const char *list, const char *name)
{
	size_t n = strlen(name);

	if (!list)
		return false;
	for (const char *p = list; *p;) {
		const char *e;
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		e = p;
		while (*e && *e != ',')
			e++;
		const char *t = e;
		while (t > p && isspace((unsigned char)t[-1]))
			t--;
		if ((size_t)(t - p) == n && strncasecmp(p, name, n) == 0)
			return true;
		p = e;
	}
	return false;
}

/* ---- [databases] / [users] connection strings ---- */

/* Reads the next key=value pair of a libpq-style string. Values may be
 * single-quoted with backslash escapes. Returns 1 on a pair, 0 at the end,
 * -1 on a syntax error (err set). key/val are written into caller buffers. */
static int next_pair(const char **pp, char *key, size_t keylen, char *val, size_t vallen, char *err,
		     size_t errlen)
{
	const char *p = *pp;
	size_t k = 0, v = 0;

	while (isspace((unsigned char)*p))
		p++;
	if (!*p)
		return 0;
	while (*p && *p != '=' && !isspace((unsigned char)*p)) {
		if (k + 1 >= keylen)
			return snprintf(err, errlen, "parameter name too long"), -1;
		key[k++] = *p++;
	}
	key[k] = 0;
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '=')
		return snprintf(err, errlen, "missing \"=\" after \"%s\"", key), -1;
	p++;
	while (isspace((unsigned char)*p))
		p++;
	if (*p == '\'') {
		for (p++; *p && *p != '\''; p++) {
			if (*p == '\\' && p[1])
				p++;
			if (v + 1 >= vallen)
				return snprintf(err, errlen, "value of \"%s\" too long", key), -1;
			val[v++] = *p;
		}
		if (*p != '\'')
			return snprintf(err, errlen, "unterminated quoted value for \"%s\"", key), -1;
		p++;
	} else {
		while (*p && !isspace((unsigned char)*p)) {
			if (*p == '\\' && p[1])
				p++;
			if (v + 1 >= vallen)
				return snprintf(err, errlen, "value of \"%s\" too long", key), -1;
			val[v++] = *p++;
		}
	}
	val[v] = 0;
	*pp = p;
	return 1;
}

static bool set_str(char **dst, const char *v)
{
	char *c = strdup(v);
	if (!c)
		return false;
	free(*dst);
	*dst = c;
	return true;
}

static bool db_int(const char *key, const char *val, int min, int max, int *out, char *err, size_t errlen)
{
	int64_t x;
	char e[160];

	if (!parse_int(val, min, max, &x, e, sizeof(e))) {
		snprintf(err, errlen, "%s: %s", key, e);
		return false;
	}
	*out = (int)x;
	return true;
}

static bool db_set_key(struct db_conf *dc, const char *key, const char *val, char *err, size_t errlen)
{
	struct { const char *k; size_t off; } strs[] = {
		{ "dbname", offsetof(struct db_conf, dbname) }, { "host", offsetof(struct db_conf, host) },
		{ "user", offsetof(struct db_conf, user) }, { "password", offsetof(struct db_conf, password) },
		{ "connect_query", offsetof(struct db_conf, connect_query) },
		{ "application_name", offsetof(struct db_conf, application_name) },
		{ "client_encoding", offsetof(struct db_conf, client_encoding) },
		{ "datestyle", offsetof(struct db_conf, datestyle) }, { "timezone", offsetof(struct db_conf, timezone) },
	};
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (strcasecmp(key, strs[i].k) == 0) {
			if (!set_str((char **)((char *)dc + strs[i].off), val))
				return snprintf(err, errlen, "out of memory"), false;
			return true;
		}
	if (!strcasecmp(key, "port"))
		return db_int(key, val, 1, 65535, &dc->port, err, errlen);
	if (!strcasecmp(key, "pool_size"))
		return db_int(key, val, 0, 100000, &dc->pool_size, err, errlen);
	if (!strcasecmp(key, "min_pool_size"))
		return db_int(key, val, 0, 100000, &dc->min_pool_size, err, errlen);
	if (!strcasecmp(key, "reserve_pool_size") || !strcasecmp(key, "reserve_pool"))
		return db_int(key, val, 0, 100000, &dc->reserve_pool_size, err, errlen);
	if (!strcasecmp(key, "max_db_connections"))
		return db_int(key, val, 0, 1000000, &dc->max_db_connections, err, errlen);
	if (!strcasecmp(key, "pool_mode"))
		return parse_pool_mode(val, &dc->pool_mode, err, errlen);
	snprintf(err, errlen, "unknown connection parameter \"%s\"", key);
	return false;
}

static void db_conf_init(struct db_conf *dc)
{
	memset(dc, 0, sizeof(*dc));
	dc->port = 5432;
	dc->pool_size = dc->min_pool_size = dc->reserve_pool_size = dc->max_db_connections = -1;
	dc->pool_mode = -1;
}

void config_db_conf_free(struct db_conf *dc)
{
	char **strs[] = { &dc->name, &dc->host, &dc->dbname, &dc->user, &dc->password, &dc->connect_query,
			  &dc->application_name, &dc->client_encoding, &dc->datestyle, &dc->timezone };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}

bool config_parse_db(const char *name, const char *connstr, struct db_conf *dc, char *err, size_t errlen)
{
	char key[64], *val;
	const char *p = connstr;
	size_t vallen = strlen(connstr) + 1;
	int r;

	db_conf_init(dc);
	val = malloc(vallen);
	if (!val || !set_str(&dc->name, name)) {
		free(val);
		snprintf(err, errlen, "out of memory");
		return false;
	}
	while ((r = next_pair(&p, key, sizeof(key), val, vallen, err, errlen)) > 0)
		if (!db_set_key(dc, key, val, err, errlen)) {
			r = -1;
			break;
		}
	free(val);
	if (r < 0) {
		config_db_conf_free(dc);
		return false;
	}
	return true;
}

static bool streq_null(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

bool config_db_conn_changed(const struct db_conf *a, const struct db_conf *b)
{
	return a->port != b->port || !streq_null(a->host, b->host) || !streq_null(a->dbname, b->dbname) ||
	       !streq_null(a->user, b->user) || !streq_null(a->password, b->password) ||
	       !streq_null(a->connect_query, b->connect_query) ||
	       !streq_null(a->application_name, b->application_name) ||
	       !streq_null(a->client_encoding, b->client_encoding) || !streq_null(a->datestyle, b->datestyle) ||
	       !streq_null(a->timezone, b->timezone);
}

static bool parse_user(const char *name, const char *connstr, struct user_conf *uc, char *err, size_t errlen)
{
	char key[64], val[256];
	const char *p = connstr;
	int r;

	memset(uc, 0, sizeof(*uc));
	uc->pool_mode = uc->max_user_connections = -1;
	if (!set_str(&uc->name, name))
		return snprintf(err, errlen, "out of memory"), false;
	while ((r = next_pair(&p, key, sizeof(key), val, sizeof(val), err, errlen)) > 0) {
		if (!strcasecmp(key, "pool_mode")) {
			if (!parse_pool_mode(val, &uc->pool_mode, err, errlen))
				break;
		} else if (!strcasecmp(key, "max_user_connections")) {
			if (!db_int(key, val, 0, 1000000, &uc->max_user_connections, err, errlen))
				break;
		} else {
			snprintf(err, errlen, "unknown user parameter \"%s\"", key);
			break;
		}
	}
	if (r != 0) {
		free(uc->name);
		uc->name = NULL;
		return false;
	}
	return true;
}

const struct db_conf *config_find_db(const struct config *cfg, const char *name)
{
	for (int i = 0; i < cfg->ndbs; i++)
		if (strcmp(cfg->dbs[i].name, name) == 0)
			return &cfg->dbs[i];
	return NULL;
}

const struct user_conf *config_find_user(const struct config *cfg, const char *name)
{
	for (int i = 0; i < cfg->nusers; i++)
		if (strcmp(cfg->users[i].name, name) == 0)
			return &cfg->users[i];
	return NULL;
}

void config_free(struct config *cfg)
{
	for (int i = 0; i < NSETTINGS; i++)
		if (settings[i].type == ST_STR) {
			char **p = (char **)((char *)cfg + settings[i].off);
			free(*p);
			*p = NULL;
		}
	for (int i = 0; i < cfg->ndbs; i++)
		config_db_conf_free(&cfg->dbs[i]);
	for (int i = 0; i < cfg->nusers; i++)
		free(cfg->users[i].name);
	free(cfg->dbs);
	free(cfg->users);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}

/* ---- reading the file through inih ---- */

enum section { SEC_NONE, SEC_DATABASES, SEC_USERS, SEC_MAIN, SEC_IGNORED, SEC_UNKNOWN };

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
		{ "pgbouncer", SEC_MAIN }, { "peers", SEC_IGNORED },
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
	if (!setting_apply(&settings[i], rd->cfg, value, err, sizeof(err)))
		diag_error(rd->diag, "%s:%d: %s: %s", rd->f.path, rd->f.lineno, settings[i].name, err);
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

	if (!parse_user(name, value, &uc, err, sizeof(err))) {
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
	if (cfg->auth_type != AUTHT_TRUST && cfg->auth_type != AUTHT_ANY && (!cfg->auth_file || !*cfg->auth_file))
		diag_error(diag, "%s: auth_type %s needs auth_file", path, config_auth_type_name(cfg->auth_type));
	if (cfg->client_tls_sslmode != SSLMODE_DISABLE &&
	    (!has_value(cfg->client_tls_key_file) || !has_value(cfg->client_tls_cert_file)))
		diag_error(diag, "%s: client_tls_sslmode %s needs client_tls_key_file and client_tls_cert_file", path,
			   config_sslmode_name(cfg->client_tls_sslmode));
	if (cfg->client_tls_sslmode >= SSLMODE_VERIFY_CA && !has_value(cfg->client_tls_ca_file))
		diag_error(diag, "%s: client_tls_sslmode %s needs client_tls_ca_file (to verify client certificates)",
			   path, config_sslmode_name(cfg->client_tls_sslmode));
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
