/*
 * config: see config.h. The settings, their values, connection strings;
 * reading a file is config_file.c.
 */
#include "util/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log_syslog.h"

enum stype { ST_STR, ST_INT, ST_BOOL, ST_TIME, ST_POOLMODE, ST_AUTHTYPE, ST_OCTAL, ST_SSLMODE, ST_ENUM, ST_RATIO };

struct setting {
	const char *name;
	uint8_t type;
	uint8_t flags;
	size_t off;
	const char *def;
	int64_t min, max;
	const char *const *names;	/* ST_ENUM: the values, NULL-terminated; stored as their index;
					 * ST_RATIO: words allowed besides 0..1, stored as -1 - index */
};

/* PgBouncer's: the password of a role that may log in, NULL once expired */
#define CONFIG_DEFAULT_AUTH_QUERY                                                                         \
	"SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid " \
	"WHERE rolname=$1 AND rolcanlogin"

#define S_(name, type, flags, def, min, max) { #name, type, flags, offsetof(struct config, name), def, min, max, NULL }
#define E_(name, flags, def, names) { #name, ST_ENUM, flags, offsetof(struct config, name), def, 0, 0, names }

static const char *const log_format_names[] = { "text", "json", NULL };
static const char *const http_auth_names[] = { "none", "basic", NULL };
static const char *const trace_sample_names[] = { "parent", "off", NULL };
static const char *const no_names[] = { NULL };
#define F_(name, flags, def, names) { #name, ST_RATIO, flags, offsetof(struct config, name), def, 0, 0, names }
#define R SET_RELOAD

static const struct setting settings[] = {
	S_(listen_addr, ST_STR, 0, "", 0, 0),
	S_(listen_port, ST_INT, 0, "6432", 1, 65535),
	S_(listen_backlog, ST_INT, 0, "128", 1, 65535),
	S_(unix_socket_dir, ST_STR, 0, "/tmp", 0, 0),
	S_(unix_socket_mode, ST_OCTAL, 0, "0777", 0, 0777),
	S_(so_reuseport, ST_BOOL, 0, "0", 0, 0),
	S_(peer_id, ST_INT, R, "0", 0, 65535),
	S_(auth_type, ST_AUTHTYPE, R, "md5", 0, 0),
	S_(auth_file, ST_STR, R, "", 0, 0),
	S_(auth_hba_file, ST_STR, R, "", 0, 0),
	S_(auth_ident_file, ST_STR, R, "", 0, 0),
	S_(auth_fail_limit, ST_INT, R, "20", 0, 1000000),
	S_(auth_fail_window, ST_TIME, R, "60", 0, 0),
	S_(admin_users, ST_STR, R, "", 0, 0),
	S_(stats_users, ST_STR, R, "", 0, 0),
	S_(auth_user, ST_STR, R, "", 0, 0),
	S_(auth_query, ST_STR, R, CONFIG_DEFAULT_AUTH_QUERY, 0, 0),
	S_(auth_dbname, ST_STR, R, "", 0, 0),
	S_(pool_mode, ST_POOLMODE, R, "session", 0, 0),
	S_(max_client_conn, ST_INT, R, "100", 1, 1000000),
	S_(default_pool_size, ST_INT, R, "20", 1, 100000),
	S_(min_pool_size, ST_INT, R, "0", 0, 100000),
	S_(reserve_pool_size, ST_INT, R, "0", 0, 100000),
	S_(reserve_pool_timeout, ST_TIME, R, "5", 0, 0),
	S_(max_db_connections, ST_INT, R, "0", 0, 1000000),
	S_(max_user_connections, ST_INT, R, "0", 0, 1000000),
	S_(max_db_client_connections, ST_INT, R, "0", 0, 1000000),
	S_(max_user_client_connections, ST_INT, R, "0", 0, 1000000),
	S_(server_lifetime, ST_TIME, R, "3600", 0, 0),
	S_(server_idle_timeout, ST_TIME, R, "600", 0, 0),
	S_(server_connect_timeout, ST_TIME, R, "15", 0, 0),
	S_(server_login_retry, ST_TIME, R, "15", 0, 0),
	S_(suspend_timeout, ST_TIME, R, "10", 0, 0),
	S_(server_reset_query, ST_STR, R, "DISCARD ALL", 0, 0),
	S_(server_reset_query_always, ST_BOOL, R, "0", 0, 0),
	S_(server_check_query, ST_STR, R, "<empty>", 0, 0),
	S_(server_check_delay, ST_TIME, R, "30", 0, 0),
	S_(server_fast_close, ST_BOOL, R, "0", 0, 0),
	S_(pool_idle_timeout, ST_TIME, R, "0", 0, 0),
	S_(query_timeout, ST_TIME, R, "0", 0, 0),
	S_(query_timeout_cancel, ST_BOOL, R, "1", 0, 0),
	S_(query_wait_timeout, ST_TIME, R, "120", 0, 0),
	S_(query_wait_notify, ST_TIME, R, "5", 0, 0),
	S_(client_idle_timeout, ST_TIME, R, "0", 0, 0),
	S_(client_login_timeout, ST_TIME, R, "60", 0, 0),
	S_(idle_transaction_timeout, ST_TIME, R, "0", 0, 0),
	S_(transaction_timeout, ST_TIME, R, "0", 0, 0),
	S_(ignore_startup_parameters, ST_STR, R, "", 0, 0),
	S_(track_extra_parameters, ST_STR, 0, "IntervalStyle", 0, 0),
	S_(pin_session_state, ST_BOOL, R, "1", 0, 0),
	S_(max_pinned_per_pool, ST_INT, R, "0", 0, 100000),
	S_(max_packet_size, ST_INT, R, "2147483647", 1024, INT_MAX),
	S_(pkt_buf, ST_INT, 0, "4096", 1, 16 << 20),
	S_(notify_buffer, ST_INT, R, "1048576", 16384, INT_MAX),
	S_(logfile, ST_STR, R, "", 0, 0),
	S_(pidfile, ST_STR, 0, "", 0, 0),
	S_(user, ST_STR, 0, "", 0, 0),
	S_(login_notify_message, ST_STR, R, "", 0, 0),
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
	S_(stats_bucket_seconds, ST_INT, R, "60", 1, 86400),
	S_(stats_buckets, ST_INT, R, "60", 1, 100000),
	S_(stats_history_memory, ST_INT, R, "64", 1, 65536),
	S_(admin_sql_timeout, ST_TIME, R, "2", 0, 0),
	S_(admin_sql_memory, ST_INT, R, "64", 1, 65536),
	E_(log_format, R, "text", log_format_names),
	S_(syslog, ST_BOOL, R, "0", 0, 0),
	S_(syslog_ident, ST_STR, R, "pgsift", 0, 0),
	E_(syslog_facility, R, "daemon", log_syslog_facilities),
	S_(http_listen_addr, ST_STR, 0, "127.0.0.1", 0, 0),
	S_(http_port, ST_INT, 0, "0", 0, 65535),
	E_(http_auth, R, "none", http_auth_names),
	S_(http_tls, ST_BOOL, 0, "0", 0, 0),
	S_(http_max_connections, ST_INT, 0, "32", 1, 10000),
	S_(http_timeout, ST_TIME, 0, "10", 0, 0),
	S_(metrics_pgbouncer_names, ST_BOOL, R, "0", 0, 0),
	S_(metrics_top_fingerprints, ST_INT, R, "100", 0, 100000),
	S_(otlp_endpoint, ST_STR, R, "", 0, 0),
	S_(otlp_service_name, ST_STR, R, "pgsift", 0, 0),
	S_(otlp_batch_spans, ST_INT, R, "512", 1, 100000),
	S_(otlp_flush_interval, ST_TIME, R, "1", 0, 0),
	S_(otlp_queue_spans, ST_INT, R, "10000", 1, 10000000),
	S_(otlp_timeout, ST_TIME, R, "10", 0, 0),
	F_(trace_sample, R, "parent", trace_sample_names),
	F_(trace_untraced_ratio, R, "0", no_names),
	S_(trace_always_slow, ST_BOOL, R, "1", 0, 0),
};
#undef R
#define NSETTINGS ((int)(sizeof(settings) / sizeof(settings[0])))

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
	/* !(x >= 0) also refuses NaN; end == v: no number (blank included) */
	if (errno || end == v || !(x >= 0)) {
		snprintf(err, errlen, "invalid time \"%s\" (seconds, or a number with ms/s/min/h/d)", v);
		return false;
	}
	while (isspace((unsigned char)*end))
		end++;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcasecmp(end, units[i].u) == 0) {
			double us = x * units[i].mul + 0.5;
			if (!(us < 1e17)) { /* about 3000 years: anything above is a typo */
				snprintf(err, errlen, "time \"%s\" is too large", v);
				return false;
			}
			/* 0 turns many timeouts off: only when that is what was written */
			if (us < 1 && x > 0) {
				snprintf(err, errlen, "time \"%s\" is below 1 microsecond; write 0 to turn it off", v);
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
static const char *const auth_type_names[] = { "trust", "any", "plain", "md5", "scram-sha-256", "cert", "hba", "peer" };
#define N_AUTH_TYPES 8
static const char *const sslmode_names[] = { "disable", "allow", "prefer", "require", "verify-ca", "verify-full" };
static const char *const load_balance_names[] = { "round-robin", "disable" };

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
	int i = name_index(v, auth_type_names, N_AUTH_TYPES);

	if (i >= 0)
		return (*out = i), true;
	if (!strcasecmp(v, "pam") || !strcasecmp(v, "ldap"))
		snprintf(err, errlen, "auth_type \"%s\" is not supported by pgsift (use trust, any, plain, md5, scram-sha-256, cert, hba or peer)", v);
	else
		snprintf(err, errlen, "invalid auth_type \"%s\" (trust, any, plain, md5, scram-sha-256, cert, hba or peer)", v);
	return false;
}

const char *config_load_balance_name(int lb)
{
	return lb >= 0 && lb < 2 ? load_balance_names[lb] : "round-robin";
}

const char *config_pool_mode_name(int mode)
{
	return mode >= 0 && mode < 3 ? pool_mode_names[mode] : "?";
}

const char *config_auth_type_name(int type)
{
	return type >= 0 && type < N_AUTH_TYPES ? auth_type_names[type] : "?";
}

static bool parse_enum(const struct setting *s, const char *v, int *out, char *err, size_t errlen)
{
	int n = 0, i;
	size_t k = 0;

	while (s->names[n])
		n++;
	if ((i = name_index(v, s->names, n)) >= 0)
		return (*out = i), true;
	k = (size_t)snprintf(err, errlen, "invalid value \"%s\" (", v);
	for (int j = 0; j < n && k < errlen; j++)
		k += (size_t)snprintf(err + k, errlen - k, "%s%s", s->names[j], j + 1 < n ? ", " : ")");
	return false;
}

/* A ratio 0..1, or one of the setting's words (stored as -1 - index). */
static bool parse_ratio(const struct setting *s, const char *v, double *out, char *err, size_t errlen)
{
	char *end;
	double x;

	for (int i = 0; s->names[i]; i++)
		if (strcasecmp(v, s->names[i]) == 0)
			return (*out = -1.0 - i), true;
	errno = 0;
	x = strtod(v, &end);
	if (errno || end == v || *end || !(x >= 0 && x <= 1)) {
		snprintf(err, errlen, "invalid value \"%s\" (a ratio from 0 to 1%s%s)", v, s->names[0] ? ", or " : "",
			 s->names[0] ? s->names[0] : "");
		return false;
	}
	*out = x;
	return true;
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
	case ST_ENUM:
		return parse_enum(s, v, (int *)p, err, errlen);
	case ST_RATIO:
		return parse_ratio(s, v, (double *)p, err, errlen);
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
	case ST_ENUM:
		snprintf(out, outlen, "%s", s->names[*(const int *)p]);
		break;
	case ST_RATIO:
		if (*(const double *)p < 0)
			snprintf(out, outlen, "%s", s->names[(int)(-1.0 - *(const double *)p)]);
		else
			snprintf(out, outlen, "%g", *(const double *)p);
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
	case ST_RATIO:
		*(double *)d = *(const double *)sv;
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

/* A time of a [databases] or [users] entry; -1, PgBouncer's "not set",
 * leaves the global setting in force. */
static bool entry_time(const char *key, const char *val, usec_t *out, char *err, size_t errlen)
{
	char e[160];

	if (!strcmp(val, "-1")) {
		*out = -1;
		return true;
	}
	if (!parse_time(val, out, e, sizeof(e)))
		return snprintf(err, errlen, "%s: %s", key, e), false;
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
		{ "auth_user", offsetof(struct db_conf, auth_user) }, { "auth_query", offsetof(struct db_conf, auth_query) },
		{ "auth_dbname", offsetof(struct db_conf, auth_dbname) },
	};
	int lb;
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
	if (!strcasecmp(key, "max_db_client_connections"))
		return db_int(key, val, 0, 1000000, &dc->max_db_client_connections, err, errlen);
	if (!strcasecmp(key, "pool_mode"))
		return parse_pool_mode(val, &dc->pool_mode, err, errlen);
	if (!strcasecmp(key, "server_lifetime"))
		return entry_time(key, val, &dc->server_lifetime, err, errlen);
	if (!strcasecmp(key, "query_wait_timeout"))
		return entry_time(key, val, &dc->query_wait_timeout, err, errlen);
	if (!strcasecmp(key, "load_balance_hosts")) {
		if ((lb = name_index(val, load_balance_names, 2)) < 0)
			return snprintf(err, errlen, "invalid load_balance_hosts \"%s\" (round-robin or disable)", val), false;
		dc->load_balance_hosts = lb;
		return true;
	}
	snprintf(err, errlen, "unknown connection parameter \"%s\"", key);
	return false;
}

static void db_conf_init(struct db_conf *dc)
{
	memset(dc, 0, sizeof(*dc));
	dc->port = 5432;
	dc->pool_size = dc->min_pool_size = dc->reserve_pool_size = dc->max_db_connections = -1;
	dc->max_db_client_connections = dc->pool_mode = dc->load_balance_hosts = -1;
	dc->server_lifetime = dc->query_wait_timeout = -1;
}

void config_db_conf_free(struct db_conf *dc)
{
	char **strs[] = { &dc->name, &dc->host, &dc->dbname, &dc->user, &dc->password, &dc->connect_query,
			  &dc->application_name, &dc->client_encoding, &dc->datestyle, &dc->timezone,
			  &dc->auth_user, &dc->auth_query, &dc->auth_dbname };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		free(*strs[i]);
		*strs[i] = NULL;
	}
}

int config_split_hosts(const char *host, char *buf, const char **out, int max)
{
	int n = 0;
	char *p = buf;

	strcpy(buf, host);
	for (;;) {
		char *comma = strchr(p, ','), *e;
		if (comma)
			*comma = 0;
		while (isspace((unsigned char)*p))
			p++;
		for (e = p + strlen(p); e > p && isspace((unsigned char)e[-1]);)
			*--e = 0;
		if (!*p || n == max)
			return -1;
		out[n++] = p;
		if (!comma)
			return n;
		p = comma + 1;
	}
}

/* A host list has no empty entry and at most CONFIG_MAX_HOSTS of them. */
static bool hosts_valid(const char *host, char *err, size_t errlen)
{
	const char *hosts[CONFIG_MAX_HOSTS];
	char *buf = malloc(strlen(host) + 1);
	int n = buf ? config_split_hosts(host, buf, hosts, CONFIG_MAX_HOSTS) : -2;

	free(buf);
	if (n == -2)
		snprintf(err, errlen, "out of memory");
	else if (n < 0)
		snprintf(err, errlen, "host: an empty entry or more than %d hosts in \"%s\"", CONFIG_MAX_HOSTS, host);
	return n > 0;
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
	if (r >= 0 && dc->host && !hosts_valid(dc->host, err, errlen))
		r = -1;
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

/* Applies one key of a [users] entry; false with the reason in err. */
static bool user_set_key(struct user_conf *uc, const char *key, const char *val, char *err, size_t errlen)
{
	static const struct { const char *k; size_t off; int max; } ints[] = {
		{ "pool_size", offsetof(struct user_conf, pool_size), 100000 },
		{ "reserve_pool_size", offsetof(struct user_conf, reserve_pool_size), 100000 },
		{ "max_user_connections", offsetof(struct user_conf, max_user_connections), 1000000 },
		{ "max_user_client_connections", offsetof(struct user_conf, max_user_client_connections), 1000000 },
	};

	static const struct { const char *k; size_t off; } times[] = {
		{ "query_timeout", offsetof(struct user_conf, query_timeout) },
		{ "query_wait_timeout", offsetof(struct user_conf, query_wait_timeout) },
		{ "idle_transaction_timeout", offsetof(struct user_conf, idle_transaction_timeout) },
		{ "transaction_timeout", offsetof(struct user_conf, transaction_timeout) },
		{ "client_idle_timeout", offsetof(struct user_conf, client_idle_timeout) },
	};

	if (!strcasecmp(key, "pool_mode"))
		return parse_pool_mode(val, &uc->pool_mode, err, errlen);
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++)
		if (!strcasecmp(key, times[i].k))
			return entry_time(key, val, (usec_t *)((char *)uc + times[i].off), err, errlen);
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		if (!strcasecmp(key, ints[i].k))
			return db_int(key, val, 0, ints[i].max, (int *)((char *)uc + ints[i].off), err, errlen);
	snprintf(err, errlen, "unknown user parameter \"%s\"", key);
	return false;
}

bool config_parse_user(const char *name, const char *connstr, struct user_conf *uc, char *err, size_t errlen)
{
	char key[64], val[256];
	const char *p = connstr;
	int r;

	memset(uc, 0, sizeof(*uc));
	uc->pool_mode = uc->pool_size = uc->reserve_pool_size = -1;
	uc->max_user_connections = uc->max_user_client_connections = -1;
	uc->query_timeout = uc->query_wait_timeout = uc->idle_transaction_timeout = -1;
	uc->transaction_timeout = uc->client_idle_timeout = -1;
	if (!set_str(&uc->name, name))
		return snprintf(err, errlen, "out of memory"), false;
	while ((r = next_pair(&p, key, sizeof(key), val, sizeof(val), err, errlen)) > 0)
		if (!user_set_key(uc, key, val, err, errlen)) {
			r = -1;
			break;
		}
	if (r != 0) {
		free(uc->name);
		uc->name = NULL;
		return false;
	}
	return true;
}

/* One key=value of a [peers] entry; false with err set. */
static bool peer_set_key(struct peer_conf *pc, const char *key, const char *val, char *err, size_t errlen)
{
	bool port = !strcmp(key, "port");
	char *end;
	long n;

	if (!strcmp(key, "host") && *val) {
		if (!set_str(&pc->host, val))
			return snprintf(err, errlen, "out of memory"), false;
		return true;
	}
	if (!port && strcmp(key, "pool_size"))
		return snprintf(err, errlen, "unknown key \"%s\" (host, port, pool_size)", key), false;
	n = strtol(val, &end, 10);
	if (!*val || *end || n < (port ? 1 : 0) || n > 65535)
		return snprintf(err, errlen, "invalid %s \"%s\"", key, val), false;
	*(port ? &pc->port : &pc->pool_size) = (int)n;
	return true;
}

bool config_parse_peer(const char *id, const char *connstr, struct peer_conf *pc, char *err, size_t errlen)
{
	char key[64], val[256], *end;
	const char *p = connstr;
	long n = strtol(id, &end, 10);
	int r;

	memset(pc, 0, sizeof(*pc));
	pc->port = 6432;
	pc->pool_size = -1;
	if (!*id || *end || n < 1 || n > 65535)
		return snprintf(err, errlen, "a peer's name is its peer_id, a number from 1 to 65535"), false;
	pc->id = (int)n;
	while ((r = next_pair(&p, key, sizeof(key), val, sizeof(val), err, errlen)) > 0)
		if (!peer_set_key(pc, key, val, err, errlen)) {
			r = -1;
			break;
		}
	if (r == 0 && !pc->host) {
		snprintf(err, errlen, "host is missing");
		r = -1;
	}
	if (r != 0) {
		free(pc->host);
		pc->host = NULL;
		return false;
	}
	return true;
}

const struct peer_conf *config_find_peer(const struct config *cfg, int id)
{
	for (int i = 0; i < cfg->npeers; i++)
		if (cfg->peers[i].id == id)
			return &cfg->peers[i];
	return NULL;
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
	for (int i = 0; i < cfg->npeers; i++)
		free(cfg->peers[i].host);
	free(cfg->dbs);
	free(cfg->users);
	free(cfg->peers);
	free(cfg->path);
	memset(cfg, 0, sizeof(*cfg));
}
