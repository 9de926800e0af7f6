/*
 * Unit tests for config.c: the pgbouncer.ini grammar (read through inih and
 * config.c's own line reader), defaults, value parsers, diagnostics with
 * line numbers, long and indented lines, [databases]/[users] connection
 * strings, validation, SET, and copying settings across a reload.
 *
 * TAP output: the plan comes first, so results are collected in memory and
 * printed at the end. Every text is handed to config_load_string() as a
 * heap copy of exactly its length (no NUL after it), so AddressSanitizer
 * reports any read past the end. Everything is freed (LeakSanitizer runs at
 * exit).
 */
#include "util/config.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include <unistd.h>

#define PATH "test.ini"
#define SEC_TRUST "[pgsift]\nauth_type = trust\n"	/* lines 1-2 of many texts */

/* ---- TAP ---- */


/* The condition is evaluated once, before the message arguments. */
static void is_int(long long got, long long want, const char *name)
{
	if (!tap_ok(got == want, "%s", name))
		tap_diag("got %lld, want %lld", got, want);
}

static void is_str(const char *got, const char *want, const char *name)
{
	bool same = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);

	if (!tap_ok(same, "%s", name)) {
		if (got && strlen(got) > 200)
			tap_diag("got %zu bytes \"%.60s...\"", strlen(got), got);
		else
			tap_diag("got %s%s%s", got ? "\"" : "", got ? got : "NULL", got ? "\"" : "");
		if (want && strlen(want) > 200)
			tap_diag("want %zu bytes \"%.60s...\"", strlen(want), want);
		else
			tap_diag("want %s%s%s", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
	}
}

/* ---- helpers ---- */

static char *xstrdup(const char *s)
{
	char *c = strdup(s);
	if (!c)
		abort();
	return c;
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vasprintf(&s, f, ap);
	va_end(ap);
	if (n < 0)
		abort();
	return s;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memset(s, c, n);
	s[n] = 0;
	return s;
}

struct fx {
	struct config cfg;
	struct config_diag diag;
	bool ok;
};

/* Loads text[0..len) from an exact-length heap copy. */
static void load_n(struct fx *f, const char *text, size_t len)
{
	char *buf = malloc(len ? len : 1);

	if (!buf)
		abort();
	memcpy(buf, text, len);
	memset(&f->diag, 0, sizeof(f->diag));
	f->ok = config_load_string(buf, len, PATH, &f->cfg, &f->diag);
	free(buf);
}

static void load(struct fx *f, const char *text)
{
	load_n(f, text, strlen(text));
}

static void done(struct fx *f)
{
	config_free(&f->cfg);
	config_diag_free(&f->diag);
}

static void dump_diag(const struct config_diag *d)
{
	for (int i = 0; i < d->nerrors; i++)
		tap_diag("error: %s", d->errors[i]);
	for (int i = 0; i < d->nwarnings; i++)
		tap_diag("warning: %s", d->warnings[i]);
}

static bool list_has(char *const *list, int n, const char *needle)
{
	for (int i = 0; i < n; i++)
		if (strstr(list[i], needle))
			return true;
	return false;
}

static bool list_has2(char *const *list, int n, const char *a, const char *b)
{
	for (int i = 0; i < n; i++)
		if (strstr(list[i], a) && strstr(list[i], b))
			return true;
	return false;
}

/* The load succeeded with no errors and no warnings. */
static void clean(struct fx *f, const char *name)
{
	if (!tap_ok(f->ok && f->diag.nerrors == 0 && f->diag.nwarnings == 0, "%s: loads cleanly", name))
		dump_diag(&f->diag);
}

/* Exactly one error, and it contains both a and b. */
static void one_error(struct fx *f, const char *a, const char *b, const char *name)
{
	bool good = !f->ok && f->diag.nerrors == 1 && strstr(f->diag.errors[0], a) && strstr(f->diag.errors[0], b);
	if (!tap_ok(good, "%s", name)) {
		tap_diag("want one error containing \"%s\" and \"%s\"", a, b);
		dump_diag(&f->diag);
	}
}

static const char *value_of(const struct config *cfg, const char *name, char *buf, size_t len)
{
	int i = config_setting_find(name);
	if (i < 0)
		return "(no such setting)";
	return config_setting_value(cfg, i, buf, len);
}

/* ---- defaults ---- */

static void test_defaults(void)
{
	struct fx f;
	struct config d;
	char a[4096], b[4096], name[160];

	load(&f, "[pgsift]\n");
	/* md5 is the default auth_type and needs an auth_file: the only error */
	one_error(&f, PATH ": auth_type md5 needs auth_file", "md5", "empty [pgsift]: only error is md5 without auth_file");
	ok(f.diag.nwarnings == 0, "empty [pgsift]: no warnings");
	ok(config_setting_count() >= 40, "settings table has %d entries", config_setting_count());
	for (int i = 0; i < config_setting_count(); i++) {
		snprintf(name, sizeof(name), "default of %s is \"%s\"", config_setting_name(i), config_setting_default(i));
		is_str(config_setting_value(&f.cfg, i, a, sizeof(a)), config_setting_default(i), name);
	}
	is_int(f.cfg.listen_port, 6432, "listen_port default 6432");
	is_int(f.cfg.pool_mode, POOL_SESSION, "pool_mode default session");
	is_int(f.cfg.auth_type, AUTHT_MD5, "auth_type default md5");
	is_int(f.cfg.default_pool_size, 20, "default_pool_size default 20");
	is_int(f.cfg.query_wait_timeout, 120000000, "query_wait_timeout default 120 s = 120000000 us");
	is_int(f.cfg.server_lifetime, 3600000000LL, "server_lifetime default 3600 s");
	is_int(f.cfg.reserve_pool_timeout, 5000000, "reserve_pool_timeout default 5 s");
	is_int(f.cfg.unix_socket_mode, 0777, "unix_socket_mode default 0777");
	is_int(f.cfg.max_packet_size, 2147483647, "max_packet_size default INT_MAX");
	ok(f.cfg.log_connections && !f.cfg.server_reset_query_always, "boolean defaults");
	is_str(f.cfg.server_reset_query, "DISCARD ALL", "server_reset_query default");
	is_str(f.cfg.unix_socket_dir, "/tmp", "unix_socket_dir default");
	is_str(f.cfg.path, PATH, "cfg->path is the path given");
	is_int(f.cfg.ndbs + f.cfg.nusers, 0, "no databases or users");

	config_init_defaults(&d);
	bool same = true;
	for (int i = 0; i < config_setting_count(); i++)
		if (strcmp(config_setting_value(&d, i, a, sizeof(a)), config_setting_value(&f.cfg, i, b, sizeof(b))))
			same = false;
	ok(same, "config_init_defaults equals an empty [pgsift] load");
	config_free(&d);
	done(&f);

	load(&f, "");
	one_error(&f, "auth_type md5 needs auth_file", PATH, "empty text: only the validation error");
	done(&f);
}

/* ---- sections and duplicates ---- */

static void test_sections(void)
{
	struct fx f;
	const struct db_conf *db;

	load(&f, "[pgbouncer]\nauth_type = trust\nlisten_port = 7000\npool_mode = transaction\n");
	clean(&f, "[pgbouncer] section");
	is_int(f.cfg.listen_port, 7000, "[pgbouncer] is read like [pgsift]: listen_port");
	is_int(f.cfg.pool_mode, POOL_TRANSACTION, "[pgbouncer] is read like [pgsift]: pool_mode");
	done(&f);

	load(&f, "[PgSift]\nauth_type = trust\nlisten_port = 7001\n[DataBases]\nd1 = host=h1\n[USERS]\nu1 = pool_mode=statement\n"
		 "[PGBOUNCER]\nverbose = 3\n");
	clean(&f, "mixed-case sections");
	is_int(f.cfg.listen_port, 7001, "[PgSift] case-insensitive");
	is_int(f.cfg.verbose, 3, "[PGBOUNCER] case-insensitive");
	ok(config_find_db(&f.cfg, "d1") != NULL, "[DataBases] case-insensitive");
	ok(config_find_user(&f.cfg, "u1") != NULL, "[USERS] case-insensitive");
	done(&f);

	load(&f, SEC_TRUST "listen_port = 7000\nlisten_port = 7002\nserver_reset_query = A\nserver_reset_query = B\n"
			   "[pgbouncer]\nlisten_port = 7003\n");
	clean(&f, "duplicate settings");
	is_int(f.cfg.listen_port, 7003, "later duplicate setting wins (across [pgsift]/[pgbouncer])");
	is_str(f.cfg.server_reset_query, "B", "later duplicate string setting wins");
	done(&f);

	load(&f, SEC_TRUST "[databases]\nd = host=first port=1111\ne = host=e\nd = host=second\n");
	clean(&f, "duplicate database");
	is_int(f.cfg.ndbs, 2, "duplicate database replaces the entry");
	db = config_find_db(&f.cfg, "d");
	is_str(db ? db->host : NULL, "second", "later duplicate database wins: host");
	is_int(db ? db->port : -1, 5432, "later duplicate database wins: port not merged from the first");
	is_int(db ? db->line : -1, 6, "duplicate database: line of the later entry");
	ok(config_find_db(&f.cfg, "D") == NULL, "database names are case-sensitive");
	ok(config_find_db(&f.cfg, "nosuch") == NULL, "config_find_db: unknown name -> NULL");
	done(&f);

	load(&f, SEC_TRUST "[users]\nu = pool_mode=session max_user_connections=3\nu = pool_mode=transaction\n");
	clean(&f, "duplicate user");
	is_int(f.cfg.nusers, 1, "duplicate user replaces the entry");
	is_int(config_find_user(&f.cfg, "u") ? config_find_user(&f.cfg, "u")->pool_mode : -9, POOL_TRANSACTION,
	       "later duplicate user wins: pool_mode");
	is_int(config_find_user(&f.cfg, "u") ? config_find_user(&f.cfg, "u")->max_user_connections : -9, -1,
	       "later duplicate user wins: max_user_connections unset");
	ok(config_find_user(&f.cfg, "nosuch") == NULL, "config_find_user: unknown name -> NULL");
	done(&f);

	load(&f, SEC_TRUST "[peers]\n1 = host=peer1\n2 = host=/run/p2 port=6500 pool_size=3\n1 = host=/run/p1\n");
	ok(f.ok && f.diag.nerrors == 0 && f.cfg.npeers == 2, "[peers]: two entries, a later duplicate replaces");
	ok(config_find_peer(&f.cfg, 1) && !strcmp(config_find_peer(&f.cfg, 1)->host, "/run/p1") &&
		   config_find_peer(&f.cfg, 1)->port == 6432 && config_find_peer(&f.cfg, 1)->pool_size == -1,
	   "[peers] 1: host, default port, no pool_size");
	ok(config_find_peer(&f.cfg, 2) && config_find_peer(&f.cfg, 2)->port == 6500 &&
		   config_find_peer(&f.cfg, 2)->pool_size == 3, "[peers] 2: port and pool_size");
	ok(config_find_peer(&f.cfg, 3) == NULL, "config_find_peer: unknown id -> NULL");
	done(&f);
	load(&f, SEC_TRUST "[peers]\n0 = host=x\n");
	one_error(&f, PATH ":4: peer \"0\": a peer's name is its peer_id", "65535", "[peers]: 0 is no peer_id");
	done(&f);
	load(&f, SEC_TRUST "[peers]\n1 = port=1\n");
	one_error(&f, PATH ":4: peer \"1\": host is missing", "host", "[peers]: host is required");
	done(&f);
	load(&f, SEC_TRUST "[peers]\n1 = host=x user=y\n");
	one_error(&f, "unknown key \"user\"", "pool_size", "[peers]: unknown key refused");
	done(&f);
}

/* ---- value parsers ---- */

struct tcase {
	const char *text;
	long long want;		/* -1: must be refused */
};

static void test_time_values(void)
{
	static const struct tcase cases[] = {
		{ "15", 15000000 },	{ "1.5", 1500000 },	{ "250ms", 250000 },	 { "2min", 120000000 },
		{ "1h", 3600000000LL }, { "1d", 86400000000LL }, { "3s", 3000000 },	 { "10us", 10 },
		{ "0", 0 },		{ "0.25", 250000 },	{ "2MIN", 120000000 },	 { "5x", -1 },
		{ "10 sec", -1 },	{ "", -1 },		{ "-1", -1 },		 { "abc", -1 },
		{ "ms", -1 },		{ "1.5.5", -1 },	{ "nan", -1 },		 { "inf", -1 },
		{ "1000000000d", -1 },	{ "  ", -1 },		{ " ", -1 },		 { "0.0000001", -1 },
		{ "0.4us", -1 },	{ "0.0001ms", -1 },	{ "0.0", 0 },		 { "0ms", 0 },
		{ "0.6us", 1 },		{ " 2 ", 2000000 },
	};
	struct config cfg;
	char err[256], name[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_init_defaults(&cfg);
		err[0] = 0;
		bool r = config_set(&cfg, "query_timeout", cases[i].text, err, sizeof(err));
		if (cases[i].want >= 0) {
			snprintf(name, sizeof(name), "time \"%s\" = %lld us", cases[i].text, cases[i].want);
			is_int(r ? cfg.query_timeout : -2, cases[i].want, name);
		} else {
			/* "1000000000d" is 8.64e19 us, beyond int64: it must not wrap or saturate silently */
			snprintf(name, sizeof(name), "time \"%s\" refused, query_timeout unchanged", cases[i].text);
			if (!tap_ok(!r && cfg.query_timeout == 0 && strstr(err, "time"), "%s", name))
				tap_diag("returned %d, query_timeout %lld, err \"%s\"", r, (long long)cfg.query_timeout, err);
		}
		config_free(&cfg);
	}

	struct fx f;
	char b[64];
	load(&f, SEC_TRUST "query_wait_timeout = 2min\nserver_idle_timeout = 250ms\nclient_idle_timeout = 1d\nstats_period = 1.5\n");
	clean(&f, "time values in a file");
	is_int(f.cfg.query_wait_timeout, 120000000, "file: query_wait_timeout = 2min");
	is_int(f.cfg.server_idle_timeout, 250000, "file: server_idle_timeout = 250ms");
	is_int(f.cfg.client_idle_timeout, 86400000000LL, "file: client_idle_timeout = 1d");
	is_str(value_of(&f.cfg, "server_idle_timeout", b, sizeof(b)), "0.25", "250ms formats as 0.25");
	is_str(value_of(&f.cfg, "stats_period", b, sizeof(b)), "1.5", "1.5 formats as 1.5");
	is_str(value_of(&f.cfg, "query_wait_timeout", b, sizeof(b)), "120", "2min formats as 120");
	done(&f);

	load(&f, SEC_TRUST "query_timeout = 5 fortnights\n");
	one_error(&f, PATH ":3: query_timeout:", "invalid time", "file: bad time unit is an error on its line");
	is_int(f.cfg.query_timeout, 0, "bad time leaves the default");
	done(&f);
}

static void test_bool_values(void)
{
	static const struct { const char *text; int want; } cases[] = {
		{ "0", 0 }, { "1", 1 }, { "on", 1 }, { "off", 0 }, { "true", 1 }, { "false", 0 }, { "yes", 1 }, { "no", 0 },
		{ "ON", 1 }, { "False", 0 }, { "YES", 1 }, { "maybe", -1 }, { "2", -1 }, { "", -1 }, { "y", -1 },
	};
	struct config cfg;
	char err[256], name[160];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int start = 0; start < 2; start++) {
			config_init_defaults(&cfg);
			cfg.server_reset_query_always = start;
			err[0] = 0;
			bool r = config_set(&cfg, "server_reset_query_always", cases[i].text, err, sizeof(err));
			if (cases[i].want >= 0) {
				snprintf(name, sizeof(name), "bool \"%s\" = %d (from %d)", cases[i].text, cases[i].want, start);
				is_int(r ? cfg.server_reset_query_always : -2, cases[i].want, name);
			} else {
				snprintf(name, sizeof(name), "bool \"%s\" refused, value unchanged (%d)", cases[i].text, start);
				ok(!r && cfg.server_reset_query_always == start && strstr(err, "invalid boolean"), "%s", name);
			}
			config_free(&cfg);
		}
	}

	struct fx f;
	load(&f, SEC_TRUST "log_connections = off\nlog_stats = no\nserver_reset_query_always = yes\nlog_pooler_errors = maybe\n");
	one_error(&f, PATH ":6: log_pooler_errors:", "invalid boolean \"maybe\"", "file: bad boolean error on line 6");
	ok(!f.cfg.log_connections && !f.cfg.log_stats && f.cfg.server_reset_query_always && f.cfg.log_pooler_errors,
	   "file: good booleans applied, bad one left at default");
	done(&f);
}

static void test_int_values(void)
{
	static const struct { const char *name, *text; long long want; } cases[] = {
		{ "listen_port", "1", 1 },
		{ "listen_port", "65535", 65535 },
		{ "listen_port", "0", -1 },
		{ "listen_port", "65536", -1 },
		{ "listen_port", "-5", -1 },
		{ "listen_port", "12abc", -1 },
		{ "listen_port", "abc", -1 },
		{ "listen_port", "", -1 },
		{ "listen_port", "99999999999999999999", -1 },
		{ "verbose", "5", 5 },
		{ "verbose", "6", -1 },
		{ "verbose", " ", -1 },	/* blank is not a number */
		{ "max_packet_size", "1023", -1 },
		{ "max_packet_size", "1024", 1024 },
		{ "max_packet_size", "2147483648", -1 },
		{ "pkt_buf", "511", 511 },	/* any positive value, as PgBouncer (buffers stay >= 16 kB) */
		{ "pkt_buf", "0", -1 },
		{ "pkt_buf", "16777216", 16777216 },
		{ "pkt_buf", "16777217", -1 },
		{ "notify_buffer", "16383", -1 },
		{ "notify_buffer", "16384", 16384 },
		{ "min_pool_size", "0", 0 },
		{ "default_pool_size", "0", -1 },
		{ "max_client_conn", "1000001", -1 },
	};
	char err[256], name[200], before[64], after[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config cfg;
		config_init_defaults(&cfg);
		value_of(&cfg, cases[i].name, before, sizeof(before));
		err[0] = 0;
		bool r = config_set(&cfg, cases[i].name, cases[i].text, err, sizeof(err));
		value_of(&cfg, cases[i].name, after, sizeof(after));
		if (cases[i].want >= 0) {
			snprintf(name, sizeof(name), "int %s = \"%s\" accepted", cases[i].name, cases[i].text);
			ok(r && atoll(after) == cases[i].want, "%s", name);
		} else {
			snprintf(name, sizeof(name), "int %s = \"%s\" refused, unchanged", cases[i].name, cases[i].text);
			if (!tap_ok(!r && strcmp(before, after) == 0 && err[0], "%s", name))
				tap_diag("returned %d, value \"%s\" (was \"%s\"), err \"%s\"", r, after, before, err);
		}
		config_free(&cfg);
	}

	struct fx f;
	load(&f, SEC_TRUST "listen_port = 65536\n");
	one_error(&f, PATH ":3: listen_port: value 65536 out of range [1, 65535]", "", "file: out-of-range int message");
	is_int(f.cfg.listen_port, 6432, "file: out-of-range int leaves default");
	done(&f);

	struct config cfg;
	config_init_defaults(&cfg);
	ok(config_set(&cfg, "unix_socket_mode", "0700", err, sizeof(err)) && cfg.unix_socket_mode == 0700, "octal 0700");
	ok(config_set(&cfg, "unix_socket_mode", "755", err, sizeof(err)) && cfg.unix_socket_mode == 0755, "octal 755");
	ok(!config_set(&cfg, "unix_socket_mode", "0789", err, sizeof(err)) && cfg.unix_socket_mode == 0755, "octal 0789 refused");
	ok(!config_set(&cfg, "unix_socket_mode", "01000", err, sizeof(err)) && cfg.unix_socket_mode == 0755, "octal 01000 refused");
	ok(!config_set(&cfg, "unix_socket_mode", "", err, sizeof(err)) && cfg.unix_socket_mode == 0755, "octal empty refused");
	config_free(&cfg);
}

static void test_enum_values(void)
{
	static const struct { const char *text; int want; } pm[] = {
		{ "session", POOL_SESSION }, { "transaction", POOL_TRANSACTION }, { "statement", POOL_STATEMENT },
		{ "Transaction", POOL_TRANSACTION }, { "bogus", -1 }, { "", -1 }, { "sessions", -1 },
	};
	static const struct { const char *text; int want; } at[] = {
		{ "trust", AUTHT_TRUST }, { "any", AUTHT_ANY }, { "plain", AUTHT_PLAIN }, { "md5", AUTHT_MD5 },
		{ "scram-sha-256", AUTHT_SCRAM }, { "MD5", AUTHT_MD5 }, { "cert", AUTHT_CERT }, { "scram", -1 },
		{ "bogus", -1 }, { "hba", AUTHT_HBA }, { "HBA", AUTHT_HBA }, { "peer", AUTHT_PEER },
	};
	char err[256], name[160];
	struct config cfg;

	for (size_t i = 0; i < sizeof(pm) / sizeof(pm[0]); i++) {
		config_init_defaults(&cfg);
		cfg.pool_mode = POOL_STATEMENT + 7;	/* sentinel */
		bool r = config_set(&cfg, "pool_mode", pm[i].text, err, sizeof(err));
		snprintf(name, sizeof(name), "pool_mode \"%s\" %s", pm[i].text, pm[i].want >= 0 ? "accepted" : "refused");
		if (pm[i].want >= 0)
			ok(r && cfg.pool_mode == pm[i].want, "%s", name);
		else
			ok(!r && cfg.pool_mode == POOL_STATEMENT + 7 && strstr(err, "invalid pool_mode"), "%s", name);
		config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		config_init_defaults(&cfg);
		bool r = config_set(&cfg, "auth_type", at[i].text, err, sizeof(err));
		snprintf(name, sizeof(name), "auth_type \"%s\" %s", at[i].text, at[i].want >= 0 ? "accepted" : "refused");
		if (at[i].want >= 0)
			ok(r && cfg.auth_type == at[i].want, "%s", name);
		else
			ok(!r && cfg.auth_type == AUTHT_MD5 && strstr(err, "invalid auth_type"), "%s", name);
		config_free(&cfg);
	}
	static const char *const refused[] = { "pam", "ldap", "LDAP" };
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		char want[128];
		config_init_defaults(&cfg);
		snprintf(want, sizeof(want), "auth_type \"%s\" is not supported by pgsift", refused[i]);
		bool r = config_set(&cfg, "auth_type", refused[i], err, sizeof(err));
		if (!tap_ok(!r && cfg.auth_type == AUTHT_MD5 && strstr(err, want), "auth_type \"%s\" refused as unsupported", refused[i]))
			tap_diag("err \"%s\"", err);
		config_free(&cfg);
	}
	is_str(config_pool_mode_name(POOL_STATEMENT), "statement", "config_pool_mode_name");
	is_str(config_pool_mode_name(3), "?", "config_pool_mode_name out of range");
	is_str(config_auth_type_name(AUTHT_SCRAM), "scram-sha-256", "config_auth_type_name");
	is_str(config_auth_type_name(-1), "?", "config_auth_type_name out of range");

	struct fx f;
	load(&f, "[pgsift]\nauth_type = pam\nauth_file = /dev/null\n");
	one_error(&f, PATH ":2: auth_type: auth_type \"pam\" is not supported by pgsift", "scram-sha-256",
		  "file: auth_type = pam refused with its message and line");
	done(&f);
	load(&f, "[pgsift]\nauth_type = hba\n");
	one_error(&f, "auth_type hba needs auth_hba_file", "hba", "file: auth_type = hba without auth_hba_file refused");
	done(&f);
}

/* ---- diagnostics and their line numbers ---- */

static void test_diagnostics(void)
{
	struct fx f;

	load(&f, "; comment\n# comment\n[pgsift]\nauth_type = trust\n\nlisten_port = 7000\npool_mode = sometimes\nverbose = 1\n");
	one_error(&f, PATH ":7: pool_mode: invalid pool_mode \"sometimes\"", "", "invalid value on line 7 says \":7:\"");
	is_int(f.cfg.verbose, 1, "parsing continues after an invalid value");
	done(&f);

	load(&f, SEC_TRUST "[nonsense]\nfoo = bar\n[pgsift]\nverbose = 2\n");
	one_error(&f, PATH ":3: unknown section [nonsense]", "", "unknown section is an error naming it with its line");
	is_int(f.cfg.verbose, 2, "keys after an unknown section's end are read");
	ok(f.diag.nwarnings == 0, "keys inside an unknown section give no extra diagnostics");
	done(&f);

	load(&f, SEC_TRUST "\nbogus_key = 1\nverbose = 1\n");
	ok(f.ok && f.diag.nerrors == 0, "unknown key is not an error");
	ok(f.diag.nwarnings == 1 && list_has2(f.diag.warnings, f.diag.nwarnings, PATH ":4:", "\"bogus_key\""),
	   "unknown key is a warning with its line");
	done(&f);

	load(&f, SEC_TRUST "dns_max_ttl = 30\n");
	ok(f.ok && f.diag.nerrors == 0 && f.diag.nwarnings == 1 &&
		   list_has2(f.diag.warnings, 1, PATH ":3: setting \"dns_max_ttl\"", "not supported by pgsift"),
	   "PgBouncer-only key dns_max_ttl is a warning");
	done(&f);

	/* client TLS: the mode is checked, and what it needs */
	load(&f, SEC_TRUST "client_tls_sslmode = sometimes\n");
	one_error(&f, PATH ":3: client_tls_sslmode", "invalid TLS mode \"sometimes\"", "an unknown client_tls_sslmode");
	done(&f);
	load(&f, SEC_TRUST "client_tls_sslmode = Require\nclient_tls_cert_file = c.crt\n");
	one_error(&f, "client_tls_sslmode require needs client_tls_key_file", "", "require without a key file");
	done(&f);
	load(&f, SEC_TRUST "client_tls_sslmode = verify-ca\nclient_tls_cert_file = c.crt\nclient_tls_key_file = c.key\n");
	one_error(&f, "client_tls_sslmode verify-ca needs client_tls_ca_file", "", "verify-ca without a CA file");
	done(&f);
	load(&f, SEC_TRUST "server_tls_key_file = k.pem\n");
	one_error(&f, "server_tls_key_file and server_tls_cert_file go together", "", "a server key without a certificate");
	done(&f);
	load(&f, SEC_TRUST "client_tls_sslmode = prefer\nclient_tls_cert_file = c.crt\nclient_tls_key_file = c.key\n");
	clean(&f, "prefer with a key and a certificate");
	is_int(f.cfg.client_tls_sslmode, SSLMODE_PREFER, "client_tls_sslmode prefer");
	done(&f);

	load(&f, "listen_port = 7000\n[pgsift]\nauth_type = trust\n");
	one_error(&f, PATH ":1: \"listen_port\" is outside any section", "", "key outside any section is an error");
	is_int(f.cfg.listen_port, 6432, "key outside any section is not applied");
	done(&f);

	load(&f, SEC_TRUST "listen_port = 7000\nthis line has no equals sign\nverbose = 4\n");
	one_error(&f, PATH ":4: syntax error", "", "line without \"=\" is an error with its line");
	is_int(f.cfg.verbose, 4, "parsing continues after a line without \"=\"");
	done(&f);

	load(&f, SEC_TRUST "[databases\nd = host=x\n");
	one_error(&f, PATH ":3: section header without \"]\"", "", "section header without ] reported once");
	done(&f);

	/* each broken header is reported once, whichever comes first */
	load(&f, SEC_TRUST "[databases\nd = host=x\n[users\n");
	if (!tap_ok(f.diag.nerrors == 2 && list_has(f.diag.errors, 2, PATH ":3:") && list_has(f.diag.errors, 2, PATH ":5:"),
		    "two section headers without ]: one error for each line"))
		dump_diag(&f.diag);
	done(&f);

	load(&f, SEC_TRUST "verbose = 2\n[databases]\nbad = port=x\n[pgsift]\nlisten_port = 0\n");
	ok(!f.ok && f.diag.nerrors == 2 && list_has(f.diag.errors, 2, PATH ":5: database \"bad\"") &&
		   list_has(f.diag.errors, 2, PATH ":7: listen_port"),
	   "several errors are all collected, each with its line");
	done(&f);

	load(&f, SEC_TRUST "min_pool_size = 30\n");
	ok(f.ok && f.diag.nwarnings == 1 && list_has(f.diag.warnings, 1, "min_pool_size (30) is larger than default_pool_size (20)"),
	   "min_pool_size > default_pool_size is a warning");
	done(&f);
}

/* ---- long, indented and unusual lines ---- */

static void test_long_lines(void)
{
	struct fx f;
	const struct db_conf *db;
	char *app, *line, *text;

	/* a 600+ byte [databases] line, keys at the far end */
	app = repeat('a', 560);
	line = fmt("mydb = host=db.example.com port=6543 dbname=realdb user=appuser password=secret application_name=%s "
		   "pool_size=7 min_pool_size=2 reserve_pool=3 max_db_connections=9 pool_mode=transaction timezone=UTC",
		   app);
	text = fmt(SEC_TRUST "[databases]\n%s\nother = host=h2\n", line);
	ok(strlen(line) >= 600, "long line is %zu bytes", strlen(line));
	load(&f, text);
	clean(&f, "600-byte [databases] line");
	is_int(f.cfg.ndbs, 2, "600-byte line: both databases");
	db = config_find_db(&f.cfg, "mydb");
	ok(db != NULL, "600-byte line: mydb present");
	if (db) {
		is_str(db->host, "db.example.com", "600-byte line: host");
		is_int(db->port, 6543, "600-byte line: port");
		is_str(db->dbname, "realdb", "600-byte line: dbname");
		is_str(db->user, "appuser", "600-byte line: user");
		is_str(db->password, "secret", "600-byte line: password");
		is_str(db->application_name, app, "600-byte line: 560-byte application_name intact");
		is_int(db->pool_size, 7, "600-byte line: pool_size=7 after the long value");
		is_int(db->min_pool_size, 2, "600-byte line: min_pool_size");
		is_int(db->reserve_pool_size, 3, "600-byte line: reserve_pool");
		is_int(db->max_db_connections, 9, "600-byte line: max_db_connections");
		is_int(db->pool_mode, POOL_TRANSACTION, "600-byte line: pool_mode");
		is_str(db->timezone, "UTC", "600-byte line: timezone (last key)");
		is_int(db->line, 4, "600-byte line: line number 4");
	}
	db = config_find_db(&f.cfg, "other");
	is_int(db ? db->line : -1, 5, "line after the long line is line 5");
	is_str(db ? db->host : NULL, "h2", "line after the long line parsed");
	done(&f);
	free(app);
	free(line);
	free(text);

	/* 3000 bytes */
	app = repeat('b', 2900);
	line = fmt("big = host=bighost application_name='%s' connect_query='SELECT 1' client_encoding=UTF8 datestyle=ISO pool_size=11",
		   app);
	text = fmt(SEC_TRUST "[databases]\n%s\n", line);
	ok(strlen(line) >= 3000, "3000-byte line is %zu bytes", strlen(line));
	load(&f, text);
	clean(&f, "3000-byte line");
	db = config_find_db(&f.cfg, "big");
	is_str(db ? db->host : NULL, "bighost", "3000-byte line: host");
	is_str(db ? db->application_name : NULL, app, "3000-byte line: application_name intact");
	is_str(db ? db->connect_query : NULL, "SELECT 1", "3000-byte line: connect_query");
	is_str(db ? db->client_encoding : NULL, "UTF8", "3000-byte line: client_encoding");
	is_str(db ? db->datestyle : NULL, "ISO", "3000-byte line: datestyle");
	is_int(db ? db->pool_size : -9, 11, "3000-byte line: pool_size at the end");
	done(&f);
	free(app);
	free(line);
	free(text);

	/* no inline comments (as in PgBouncer): " ;" is part of the value, so a
	 * connection string goes on after it, long line or short */
	app = repeat('c', 400);
	text = fmt(SEC_TRUST "[databases]\ncm = host=h application_name=%s connect_query='SELECT 1 ; SELECT 2' pool_size=7\n", app);
	load(&f, text);
	clean(&f, "long line with \" ;\" inside a value");
	db = config_find_db(&f.cfg, "cm");
	is_int(db ? db->pool_size : -9, 7, "long line: key after \" ;\" is read");
	is_str(db ? db->connect_query : NULL, "SELECT 1 ; SELECT 2", "long line: \" ;\" kept inside the value");
	is_str(db ? db->application_name : NULL, app, "long line with \" ;\": application_name intact");
	done(&f);
	free(text);
	free(app);
	load(&f, SEC_TRUST "[databases]\nsc = host=h connect_query='SELECT 1 ; SELECT 2' pool_size=3\n");
	clean(&f, "short line with \" ;\" inside a value");
	db = config_find_db(&f.cfg, "sc");
	is_int(db ? db->pool_size : -9, 3, "short line: key after \" ;\" is read");
	is_str(db ? db->connect_query : NULL, "SELECT 1 ; SELECT 2", "short line: \" ;\" kept inside the value");
	done(&f);

	/* long [pgsift] value with a comment */
	app = repeat('q', 300);
	text = fmt(SEC_TRUST "server_reset_query = SELECT '%s'   ; SELECT 2   \nverbose = 1\n", app);
	line = fmt("SELECT '%s'   ; SELECT 2", app);
	load(&f, text);
	clean(&f, "long [pgsift] value");
	is_str(f.cfg.server_reset_query, line, "long [pgsift] value exact, trailing spaces stripped");
	is_int(f.cfg.verbose, 1, "key after a long [pgsift] line");
	done(&f);
	free(text);
	free(line);
	free(app);

	/* long comments */
	app = repeat('x', 500);
	text = fmt(SEC_TRUST "; %s\n# %s = 1\n   ; %s\n;%s\nverbose = 3\n", app, app, app, app);
	load(&f, text);
	clean(&f, "long comment lines");
	is_int(f.cfg.verbose, 3, "long comment lines ignored");
	done(&f);
	free(text);

	/* line numbers after a long line: our error and inih's own */
	text = fmt(SEC_TRUST "[databases]\nlong = host=h application_name=%s\nfine = host=f\nbad = host=b port=0\n", app);
	load(&f, text);
	one_error(&f, PATH ":6: database \"bad\"", "port", "error 2 lines after a long line reports line 6");
	done(&f);
	free(text);
	text = fmt(SEC_TRUST "[databases]\nlong = host=h application_name=%s\nfine = host=f\nno equals here\n", app);
	load(&f, text);
	one_error(&f, PATH ":6: syntax error", "", "inih's syntax error 2 lines after a long line reports line 6");
	done(&f);
	free(text);
	text = fmt(SEC_TRUST "[databases]\nlong = host=h application_name=%s\r\nfine = host=f\r\nbad = host=b port=0\r\n", app);
	load(&f, text);
	one_error(&f, PATH ":6: database \"bad\"", "port", "CRLF: error 2 lines after a long line reports line 6");
	done(&f);
	free(text);

	/* a long line that cannot be key = value */
	text = fmt(SEC_TRUST "%s\nverbose = 2\n", app);
	load(&f, text);
	one_error(&f, PATH ":3: syntax error", "", "long line without \"=\" is an error with its line");
	is_int(f.cfg.verbose, 2, "parsing continues after it");
	done(&f);
	free(text);

	/* a value that starts with ';' is a value, short or long */
	load(&f, SEC_TRUST "admin_users = ; nobody\n");
	is_str(f.ok ? f.cfg.admin_users : "(load failed)", "; nobody", "short line: value starting with ';' kept");
	done(&f);
	text = fmt(SEC_TRUST "admin_users = ; %s\n", app);
	line = fmt("; %s", app);
	load(&f, text);
	is_str(f.ok ? f.cfg.admin_users : "(load failed)", line, "long line: value starting with ';' kept");
	done(&f);
	free(line);
	free(text);
	free(app);

	/* lengths around inih's 200-byte buffer */
	for (size_t len = 195; len <= 205; len++) {
		size_t vlen = len - strlen("admin_users = ");
		char *v = repeat('u', vlen);
		text = fmt(SEC_TRUST "admin_users = %s\nverbose = 1\n", v);
		load(&f, text);
		ok(f.ok && f.diag.nerrors == 0 && f.cfg.admin_users && strcmp(f.cfg.admin_users, v) == 0 && f.cfg.verbose == 1,
		   "%zu-byte line read whole", len);
		done(&f);
		free(text);
		text = fmt(SEC_TRUST "admin_users = %s\r\n  verbose = 1\r\n", v);
		load(&f, text);
		ok(f.ok && f.diag.nerrors == 0 && f.cfg.admin_users && strcmp(f.cfg.admin_users, v) == 0 && f.cfg.verbose == 1,
		   "%zu-byte line + CRLF read whole", len);
		done(&f);
		free(text);
		free(v);
	}
}

static void test_indent_crlf_bom_nul(void)
{
	struct fx f;

	load(&f, SEC_TRUST "listen_port = 7001\n  verbose = 1\n\tadmin_users = alice\n \t listen_backlog = 50\n");
	clean(&f, "indented lines");
	is_int(f.cfg.listen_port, 7001, "indented: previous key not extended by a continuation");
	is_int(f.cfg.verbose, 1, "\"  verbose = 1\" after another key sets verbose");
	is_str(f.cfg.admin_users, "alice", "tab-indented key set");
	is_int(f.cfg.listen_backlog, 50, "space/tab-indented key set");
	done(&f);

	load(&f, SEC_TRUST "  [databases]\n  d1 = host=one\n    d2 = host=two\n\t[users]\n\tu = pool_mode=transaction\n");
	clean(&f, "indented sections");
	ok(f.cfg.ndbs == 2 && config_find_db(&f.cfg, "d2") && !strcmp(config_find_db(&f.cfg, "d2")->host, "two"),
	   "indented [databases] entries are separate entries");
	is_str(config_find_db(&f.cfg, "d1") ? config_find_db(&f.cfg, "d1")->host : NULL, "one", "d1 host not extended");
	ok(config_find_user(&f.cfg, "u") != NULL, "indented [users] header");
	done(&f);

	load(&f, "[pgsift]\r\nauth_type = trust\r\nlisten_port = 7002\r\nserver_reset_query = RESET ALL\r\n"
		 "[databases]\r\nd = host=x port=5555 password='p w'\r\nbad = port=0\r\n");
	one_error(&f, PATH ":7: database \"bad\"", "port", "CRLF: error line number");
	is_int(f.cfg.listen_port, 7002, "CRLF: int value");
	is_str(f.cfg.server_reset_query, "RESET ALL", "CRLF: string value has no \\r");
	ok(f.cfg.ndbs == 1 && f.cfg.dbs[0].port == 5555 && !strcmp(f.cfg.dbs[0].password, "p w"), "CRLF: connstring");
	done(&f);

	load(&f, "\xEF\xBB\xBF[pgsift]\nauth_type = trust\nlisten_port = 7003\n");
	if (!tap_ok(f.ok && f.diag.nerrors == 0, "UTF-8 BOM before [pgsift] on line 1: no errors"))
		dump_diag(&f.diag);
	is_int(f.cfg.listen_port, 7003, "UTF-8 BOM before [pgsift]: settings applied");
	done(&f);

	load(&f, "\xEF\xBB\xBF; written by an editor\n[pgsift]\nauth_type = trust\nlisten_port = 7004\n");
	clean(&f, "UTF-8 BOM before a comment");
	is_int(f.cfg.listen_port, 7004, "UTF-8 BOM before a comment: settings applied");
	done(&f);

	static const char nul[] = SEC_TRUST "listen_port = 70\0" "01\nverbose = 2\n";
	load_n(&f, nul, sizeof(nul) - 1);
	one_error(&f, PATH ":3:", "NUL", "NUL byte gives an error with its line");
	is_int(f.cfg.listen_port, 6432, "line with NUL not applied");
	is_int(f.cfg.verbose, 2, "parsing continues after the NUL line");
	done(&f);

	static const char nul2[] = SEC_TRUST "[databases]\n\0\nd = host=x\n";
	load_n(&f, nul2, sizeof(nul2) - 1);
	one_error(&f, PATH ":4:", "NUL", "line that is only a NUL byte: error with its line");
	ok(f.cfg.ndbs == 1 && f.cfg.dbs[0].line == 5, "line numbers continue after the NUL line");
	done(&f);

	static const char nolf[] = SEC_TRUST "verbose = 5";
	load_n(&f, nolf, sizeof(nolf) - 1);
	clean(&f, "last line without newline");
	is_int(f.cfg.verbose, 5, "last line without newline applied");
	done(&f);
}

/* ---- [databases] and [users] ---- */

static void test_connstrings(void)
{
	struct db_conf dc, dc2;
	char err[256];
	struct fx f;
	const struct db_conf *db;

	ok(config_parse_db("d", "password='a b\\'c' host = h1   port= 6000 user =u", &dc, err, sizeof(err)),
	   "config_parse_db: quoted value, escapes, spaces around =");
	is_str(dc.password, "a b'c", "quoted value with space and escaped quote");
	is_str(dc.host, "h1", "spaces around = (host = h1)");
	is_int(dc.port, 6000, "port= 6000");
	is_str(dc.user, "u", "user =u");
	is_str(dc.name, "d", "name");
	is_str(dc.dbname, NULL, "unset dbname is NULL");
	is_int(dc.pool_size, -1, "unset pool_size is -1");
	is_int(dc.pool_mode, -1, "unset pool_mode is -1");
	config_db_conf_free(&dc);

	ok(config_parse_db("all", "dbname=db1 host=/var/run/postgresql port=5433 user=bob password=pw pool_size=10 "
				  "min_pool_size=1 reserve_pool_size=2 max_db_connections=30 pool_mode=statement "
				  "connect_query='SET search_path TO app' application_name=myapp client_encoding=LATIN1 "
				  "datestyle='ISO, MDY' timezone=Europe/Paris",
			   &dc, err, sizeof(err)),
	   "config_parse_db: every key");
	is_str(dc.dbname, "db1", "key dbname");
	is_str(dc.host, "/var/run/postgresql", "key host");
	is_int(dc.port, 5433, "key port");
	is_str(dc.user, "bob", "key user");
	is_str(dc.password, "pw", "key password");
	is_int(dc.pool_size, 10, "key pool_size");
	is_int(dc.min_pool_size, 1, "key min_pool_size");
	is_int(dc.reserve_pool_size, 2, "key reserve_pool_size");
	is_int(dc.max_db_connections, 30, "key max_db_connections");
	is_int(dc.pool_mode, POOL_STATEMENT, "key pool_mode");
	is_str(dc.connect_query, "SET search_path TO app", "key connect_query");
	is_str(dc.application_name, "myapp", "key application_name");
	is_str(dc.client_encoding, "LATIN1", "key client_encoding");
	is_str(dc.datestyle, "ISO, MDY", "key datestyle");
	is_str(dc.timezone, "Europe/Paris", "key timezone");
	config_db_conf_free(&dc);

	ok(config_parse_db("r", "reserve_pool=4 HOST=Up password='' user=a\\ b", &dc, err, sizeof(err)) &&
		   dc.reserve_pool_size == 4,
	   "reserve_pool is an alias of reserve_pool_size");
	is_str(dc.host, "Up", "keys are case-insensitive, values keep their case");
	is_str(dc.password, "", "empty quoted value");
	is_str(dc.user, "a b", "backslash escape outside quotes");
	config_db_conf_free(&dc);

	ok(config_parse_db("e", "", &dc, err, sizeof(err)) && dc.port == 5432 && !dc.host, "empty connstring: defaults");
	config_db_conf_free(&dc);

	static const struct { const char *cs, *msg; } bad[] = {
		{ "port=0", "port" },
		{ "port=65536", "port" },
		{ "port=abc", "invalid integer" },
		{ "pool_size=-1", "pool_size" },
		{ "pool_size=' '", "pool_size" },	/* blank is not a number */
		{ "pool_mode=sometimes", "invalid pool_mode" },
		{ "password='abc", "unterminated" },
		{ "host=x foo=1", "unknown connection parameter \"foo\"" },
		{ "host", "missing \"=\"" },
		{ "host x", "missing \"=\"" },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa=1", "too long" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		bool r = config_parse_db("x", bad[i].cs, &dc, err, sizeof(err));
		if (!tap_ok(!r && strstr(err, bad[i].msg), "config_parse_db refuses \"%s\"", bad[i].cs))
			tap_diag("returned %d, err \"%s\"", r, err);
		if (r)
			config_db_conf_free(&dc);
		else
			ok(dc.name == NULL && dc.host == NULL, "refused \"%s\": nothing left allocated", bad[i].cs);
	}

	/* through a file */
	load(&f, SEC_TRUST "[databases]\ngood = host=g\nmydb = host=x foo=1\n* = host=fallback port=6000\n");
	one_error(&f, PATH ":5: database \"mydb\": unknown connection parameter \"foo\"", "",
		  "unknown db key: error with database name and line");
	ok(config_find_db(&f.cfg, "mydb") == NULL, "refused entry not added");
	db = config_find_db(&f.cfg, "*");
	ok(db && !strcmp(db->host, "fallback") && db->port == 6000 && db->line == 6, "\"*\" fallback entry");
	done(&f);

	load(&f, SEC_TRUST "[databases]\np = host=x port=99999\n");
	one_error(&f, PATH ":4: database \"p\": port:", "out of range", "bad port in a file");
	done(&f);

	load(&f, SEC_TRUST "[databases]\nq = host=x password='oops\n");
	one_error(&f, PATH ":4: database \"q\":", "unterminated", "unterminated quote in a file");
	done(&f);

	char *longname = repeat('n', 64);
	char *text = fmt(SEC_TRUST "[databases]\n%s = host=x\n%.63s = host=y\n", longname, longname);
	load(&f, text);
	one_error(&f, PATH ":4: database name", "too long", "64-byte database name refused");
	ok(f.cfg.ndbs == 1 && strlen(f.cfg.dbs[0].name) == 63, "63-byte database name accepted");
	done(&f);
	free(text);
	free(longname);

	/* config_db_conn_changed */
	static const struct { const char *cs; bool changed; const char *what; } ch[] = {
		{ "host=a port=5432 dbname=d user=u password=x pool_size=5", false, "identical" },
		{ "host=b port=5432 dbname=d user=u password=x pool_size=5", true, "host change" },
		{ "host=a port=5433 dbname=d user=u password=x pool_size=5", true, "port change" },
		{ "host=a port=5432 dbname=d user=u password=y pool_size=5", true, "password change" },
		{ "host=a port=5432 dbname=e user=u password=x pool_size=5", true, "dbname change" },
		{ "host=a port=5432 dbname=d user=v password=x pool_size=5", true, "user change" },
		{ "host=a port=5432 dbname=d user=u password=x pool_size=5 timezone=UTC", true, "timezone set" },
		{ "port=5432 dbname=d user=u password=x pool_size=5", true, "host unset" },
		{ "host=a port=5432 dbname=d user=u password=x pool_size=9", false, "pool_size change" },
		{ "host=a port=5432 dbname=d user=u password=x pool_size=5 pool_mode=transaction max_db_connections=3 min_pool_size=1",
		  false, "pool_mode/max_db_connections/min_pool_size change" },
	};
	if (!config_parse_db("d", ch[0].cs, &dc, err, sizeof(err)))
		abort();
	for (size_t i = 0; i < sizeof(ch) / sizeof(ch[0]); i++) {
		if (!config_parse_db("d", ch[i].cs, &dc2, err, sizeof(err)))
			abort();
		ok(config_db_conn_changed(&dc, &dc2) == ch[i].changed && config_db_conn_changed(&dc2, &dc) == ch[i].changed,
		   "config_db_conn_changed: %s -> %s", ch[i].what, ch[i].changed ? "true" : "false");
		config_db_conf_free(&dc2);
	}
	config_db_conf_free(&dc);
}

static void test_users(void)
{
	struct fx f;
	const struct user_conf *u;

	load(&f, SEC_TRUST "[users]\nalice = pool_mode=transaction max_user_connections=5\nbob = max_user_connections = 7\ncarol =\n");
	clean(&f, "[users]");
	is_int(f.cfg.nusers, 3, "[users]: three entries");
	u = config_find_user(&f.cfg, "alice");
	ok(u && u->pool_mode == POOL_TRANSACTION && u->max_user_connections == 5 && u->line == 4, "alice: pool_mode, max_user_connections, line");
	u = config_find_user(&f.cfg, "bob");
	ok(u && u->pool_mode == -1 && u->max_user_connections == 7, "bob: unset pool_mode is -1");
	u = config_find_user(&f.cfg, "carol");
	ok(u && u->pool_mode == -1 && u->max_user_connections == -1, "carol: empty entry");
	done(&f);

	load(&f, SEC_TRUST "[users]\nalice = pool_mode=transaction\ndave = bogus_key=3\n");
	one_error(&f, PATH ":5: user \"dave\": unknown user parameter \"bogus_key\"", "", "[users] unknown key: error with name and line");
	ok(config_find_user(&f.cfg, "dave") == NULL && config_find_user(&f.cfg, "alice"), "refused user not added");
	done(&f);

	load(&f, SEC_TRUST "[users]\ne = pool_mode=bogus\nf = max_user_connections=-1\ng = pool_mode='x\n");
	if (!tap_ok(f.diag.nerrors == 3 && list_has(f.diag.errors, 3, PATH ":4: user \"e\": invalid pool_mode") &&
			    list_has(f.diag.errors, 3, PATH ":5: user \"f\": max_user_connections") &&
			    list_has(f.diag.errors, 3, PATH ":6: user \"g\": unterminated"),
		    "[users] bad values: one error each"))
		dump_diag(&f.diag);
	is_int(f.cfg.nusers, 0, "[users] bad entries not added");
	done(&f);

	/* names in double quotes, with "" for a quote, for entries and users */
	load(&f, SEC_TRUST "[databases]\n\"my db\" = host=h\n\"a\"\"b\" = host=h2\n[users]\n\"Mixed User\" = pool_mode=session\n");
	clean(&f, "quoted names");
	ok(config_find_db(&f.cfg, "my db") != NULL, "quoted database name with a space");
	ok(config_find_db(&f.cfg, "a\"b") != NULL, "quoted database name with a doubled quote");
	ok(config_find_user(&f.cfg, "Mixed User") != NULL, "quoted user name");
	done(&f);
}

/* ---- validation ---- */

static void test_validation(void)
{
	struct fx f;

	load(&f, "[pgsift]\nauth_type = md5\n");
	one_error(&f, PATH ": auth_type md5 needs auth_file", "", "md5 without auth_file");
	done(&f);
	load(&f, "[pgsift]\nauth_type = scram-sha-256\nauth_file =\n");
	one_error(&f, "auth_type scram-sha-256 needs auth_file", "", "scram without auth_file (empty value)");
	done(&f);
	load(&f, "[pgsift]\nauth_type = plain\n");
	one_error(&f, "auth_type plain needs auth_file", "", "plain without auth_file");
	done(&f);
	load(&f, "[pgsift]\nauth_type = md5\nauth_file = /etc/pgsift/userlist.txt\n");
	clean(&f, "md5 with auth_file");
	is_str(f.cfg.auth_file, "/etc/pgsift/userlist.txt", "auth_file value");
	done(&f);
	load(&f, "[pgsift]\nauth_type = any\n");
	clean(&f, "auth_type any without auth_file");
	done(&f);

	load(&f, SEC_TRUST "listen_addr =\nunix_socket_dir =\n");
	one_error(&f, PATH ": neither listen_addr nor unix_socket_dir", "", "listen_addr and unix_socket_dir both empty");
	done(&f);
	load(&f, SEC_TRUST "listen_addr = *\nunix_socket_dir =\n");
	clean(&f, "listen_addr only");
	is_str(f.cfg.listen_addr, "*", "listen_addr = *");
	is_str(f.cfg.unix_socket_dir, "", "unix_socket_dir empty");
	done(&f);
}

/* ---- config_set, lookup, lists ---- */

static void snapshot(const struct config *cfg, char **out)
{
	char v[8192];
	for (int i = 0; i < config_setting_count(); i++)
		out[i] = xstrdup(config_setting_value(cfg, i, v, sizeof(v)));
}

static void free_snapshot(char **s)
{
	for (int i = 0; i < config_setting_count(); i++)
		free(s[i]);
}

static void test_set_and_lookup(void)
{
	struct config cfg;
	char err[256];
	int n = config_setting_count();
	char **before = calloc((size_t)n, sizeof(char *)), **after = calloc((size_t)n, sizeof(char *));

	if (!before || !after)
		abort();
	config_init_defaults(&cfg);
	ok(config_set(&cfg, "listen_port", "7000", err, sizeof(err)) && cfg.listen_port == 7000, "config_set listen_port");
	ok(config_set(&cfg, "LISTEN_PORT", "7001", err, sizeof(err)) && cfg.listen_port == 7001, "config_set name is case-insensitive");
	ok(config_set(&cfg, "admin_users", "x, y", err, sizeof(err)) && !strcmp(cfg.admin_users, "x, y"), "config_set string");
	ok(config_set(&cfg, "admin_users", "", err, sizeof(err)) && !strcmp(cfg.admin_users, ""), "config_set empty string");
	ok(config_set(&cfg, "query_wait_timeout", "30", err, sizeof(err)) && cfg.query_wait_timeout == 30000000, "config_set time");
	err[0] = 0;
	ok(!config_set(&cfg, "no_such_setting", "1", err, sizeof(err)) && strstr(err, "unknown setting \"no_such_setting\""),
	   "config_set unknown setting refused with a message");

	/* a bad value for every non-string setting leaves every setting unchanged */
	int refused = 0, changed = 0;
	for (int i = 0; i < n; i++) {
		snapshot(&cfg, before);
		bool r = config_set(&cfg, config_setting_name(i), "bogus!", err, sizeof(err));
		snapshot(&cfg, after);
		if (!r) {
			refused++;
			for (int j = 0; j < n; j++)
				if (strcmp(before[j], after[j])) {
					changed++;
					tap_diag("config_set(%s, bogus!) changed %s", config_setting_name(i), config_setting_name(j));
				}
		} else if (config_set(&cfg, config_setting_name(i), before[i], err, sizeof(err)) == false) {
			changed++;
		}
		free_snapshot(before);
		free_snapshot(after);
	}
	ok(refused == n - 32, "\"bogus!\" refused by every non-string setting (%d of %d)", refused, n);
	ok(changed == 0, "refused config_set leaves cfg unchanged");
	config_free(&cfg);
	free(before);
	free(after);

	int i = config_setting_find("listen_port");
	ok(i >= 0 && !strcmp(config_setting_name(i), "listen_port"), "config_setting_find exact");
	ok(config_setting_find("Listen_Port") == i && config_setting_find("LISTEN_PORT") == i, "config_setting_find case-insensitive");
	ok(config_setting_find("listen_por") == -1 && config_setting_find("") == -1 && config_setting_find("listen_port ") == -1,
	   "config_setting_find: no prefix or padded match");
	ok(!config_setting_changeable(i) && config_setting_changeable(config_setting_find("pool_mode")),
	   "config_setting_changeable: listen_port restart-only, pool_mode reloadable");

	ok(config_list_contains("alice, Bob ,carol", "bob"), "list: case and spaces");
	ok(config_list_contains("alice, Bob ,carol", "ALICE"), "list: first item");
	ok(config_list_contains("alice, Bob ,carol", "carol"), "list: last item");
	ok(config_list_contains("  alice  ,\tbob\t", "bob"), "list: tabs");
	ok(config_list_contains(",,alice,,", "alice"), "list: empty items skipped");
	ok(!config_list_contains("alice, Bob ,carol", "car"), "list: no prefix match");
	ok(!config_list_contains("alice, Bob ,carol", "alice,"), "list: no match with comma");
	ok(!config_list_contains("alicebob", "alice"), "list: no substring match");
	ok(!config_list_contains("", "alice"), "list: empty list");
	ok(!config_list_contains(NULL, "alice"), "list: NULL list");
	ok(config_list_contains("pg user, x", "pg user"), "list: item with an inner space");
}

/* ---- copying settings ---- */

static const char all_changed[] =
	"[pgsift]\n"
	"listen_addr = 127.0.0.1, ::1\nlisten_port = 7432\nlisten_backlog = 64\nunix_socket_dir = /run/pgsift\n"
	"unix_socket_mode = 0700\nso_reuseport = 1\nauth_type = scram-sha-256\nauth_file = /etc/pgsift/userlist.txt\n"
	"auth_hba_file = /etc/pgsift/hba.conf\nauth_ident_file = /etc/pgsift/ident.conf\npeer_id = 4\n"
	"auth_fail_limit = 7\nauth_fail_window = 2min\nuser = pgsift\n"
	"auth_user = lookup\nauth_query = SELECT 1\nauth_dbname = authdb\nmax_db_client_connections = 9\n"
	"max_user_client_connections = 8\nserver_fast_close = 1\nquery_timeout_cancel = 0\nquery_wait_notify = 7\n"
	"transaction_timeout = 33\nlogin_notify_message = hello\npool_idle_timeout = 60\n"
	"stats_bucket_seconds = 30\nstats_buckets = 90\nstats_history_memory = 32\nadmin_sql_timeout = 5\nadmin_sql_memory = 16\n"
	"admin_users = admin, root\nstats_users = stats\npool_mode = transaction\nmax_client_conn = 500\n"
	"default_pool_size = 30\nmin_pool_size = 2\nreserve_pool_size = 3\nreserve_pool_timeout = 2.5\n"
	"max_db_connections = 40\nmax_user_connections = 50\nserver_lifetime = 2h\nserver_idle_timeout = 250ms\n"
	"server_connect_timeout = 3\nserver_login_retry = 1min\nsuspend_timeout = 3\nserver_reset_query = RESET ALL\n"
	"server_reset_query_always = 1\nserver_check_query = select 2\nserver_check_delay = 10\n"
	"query_timeout = 300\nquery_wait_timeout = 90\nclient_idle_timeout = 1d\nclient_login_timeout = 30\n"
	"idle_transaction_timeout = 45\nignore_startup_parameters = extra_float_digits, search_path\n"
	"track_extra_parameters = search_path\npin_session_state = off\nmax_pinned_per_pool = 3\n"
	"max_packet_size = 1048576\npkt_buf = 8192\nnotify_buffer = 65536\n"
	"logfile = /var/log/pgsift.log\npidfile = /run/pgsift.pid\nlog_connections = 0\nlog_disconnections = off\n"
	"log_pooler_errors = no\nlog_stats = false\nstats_period = 15\nverbose = 2\n"
	"analyzer = off\nmax_fingerprints = 77\nlog_query_samples = on\nmax_prepared_statements = 13\n"
	"advisor_target_wait_ms = 12\nadvisor_window = 90\nadvisor_min_transactions = 7\nadvisor_headroom = 25\n"
	"nplusone_min_repeats = 8\nnplusone_think_time_ms = 25\nslow_query_ms = -1\nslow_query_log_size = 50\n"
	"slow_query_explain = off\nslow_query_explain_interval = 5min\nslow_query_explain_rate = 3\n"
	"idle_in_transaction_warn_ms = 0\nclient_tls_sslmode = verify-full\nclient_tls_key_file = /etc/k.pem\n"
	"client_tls_cert_file = /etc/c.pem\nclient_tls_ca_file = /etc/ca.pem\nclient_tls_protocols = tlsv1.3\n"
	"client_tls_ciphers = HIGH\nserver_tls_sslmode = verify-ca\nserver_tls_key_file = /etc/sk.pem\n"
	"server_tls_cert_file = /etc/sc.pem\nserver_tls_ca_file = /etc/sca.pem\nserver_tls_protocols = all\n"
	"server_tls_ciphers = HIGH:!aNULL\nlog_format = json\nsyslog = 1\nsyslog_ident = sifty\n"
	"syslog_facility = local3\nhttp_listen_addr = ::1\nhttp_port = 9187\nhttp_auth = basic\nhttp_tls = on\n"
	"http_max_connections = 7\nhttp_timeout = 3\nmetrics_pgbouncer_names = 1\nmetrics_top_fingerprints = 20\n"
	"otlp_endpoint = http://127.0.0.1:4318/v1/traces\notlp_service_name = db-proxy\notlp_batch_spans = 64\n"
	"otlp_flush_interval = 250ms\notlp_queue_spans = 500\notlp_timeout = 3\ntrace_sample = 0.5\n"
	"trace_untraced_ratio = 0.01\ntrace_always_slow = off\n";

static void test_copy_setting(void)
{
	struct fx f;
	struct config dst;
	char a[4096], b[4096], name[160];

	load(&f, all_changed);
	clean(&f, "fixture with every setting changed");
	config_init_defaults(&dst);
	for (int i = 0; i < config_setting_count(); i++) {
		const char *sv = config_setting_value(&f.cfg, i, a, sizeof(a));
		if (!tap_ok(strcmp(sv, config_setting_default(i)) != 0, "fixture sets %s to a non-default value", config_setting_name(i)))
			continue;
		snprintf(name, sizeof(name), "config_copy_setting round trip: %s = %s", config_setting_name(i), sv);
		bool r = config_copy_setting(&dst, &f.cfg, i);
		if (!tap_ok(r, "config_copy_setting(%s) returns true", config_setting_name(i)))
			continue;
		is_str(config_setting_value(&dst, i, b, sizeof(b)), sv, name);
	}
	is_int(dst.listen_port, 7432, "copied listen_port typed");
	is_int(dst.unix_socket_mode, 0700, "copied unix_socket_mode typed");
	is_int(dst.reserve_pool_timeout, 2500000, "copied reserve_pool_timeout typed");
	is_int(dst.server_idle_timeout, 250000, "copied server_idle_timeout typed");
	is_int(dst.auth_type, AUTHT_SCRAM, "copied auth_type typed");
	ok(dst.server_reset_query_always && !dst.log_stats, "copied booleans typed");
	config_free(&dst);
	done(&f);

	/* values that the text form must carry exactly */
	struct config src;
	char err[64];
	char *big = repeat('z', 5000);
	config_init_defaults(&src);
	config_init_defaults(&dst);
	if (!config_set(&src, "query_timeout", "1234567us", err, sizeof(err)) || !config_set(&src, "pidfile", big, err, sizeof(err)))
		abort();
	ok(config_copy_setting(&dst, &src, config_setting_find("query_timeout")) && dst.query_timeout == 1234567,
	   "config_copy_setting keeps 1234567us exactly (got %lld)", (long long)dst.query_timeout);
	ok(config_copy_setting(&dst, &src, config_setting_find("pidfile")) && strlen(dst.pidfile) == 5000,
	   "config_copy_setting keeps a 5000-byte string whole (got %zu bytes)", dst.pidfile ? strlen(dst.pidfile) : 0);
	config_free(&src);
	config_free(&dst);
	free(big);
}

/* ---- files ---- */

static void test_files(void)
{
	struct fx f;
	const char *missing = "/nonexistent-pgsift-dir/pgsift.ini";
	char path[] = "/tmp/pgsift_test_config_XXXXXX";
	static const char text[] = "[pgbouncer]\r\nauth_type = trust\r\nlisten_port = 7100\r\n[databases]\r\nd = host=filehost\r\n";
	int fd;

	memset(&f.diag, 0, sizeof(f.diag));
	f.ok = config_load_file(missing, &f.cfg, &f.diag);
	one_error(&f, missing, "cannot open", "config_load_file on a missing file: error mentioning the path");
	done(&f);

	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, sizeof(text) - 1) != (ssize_t)(sizeof(text) - 1) || close(fd) != 0)
		abort();
	memset(&f.diag, 0, sizeof(f.diag));
	f.ok = config_load_file(path, &f.cfg, &f.diag);
	clean(&f, "config_load_file on a temp file");
	is_int(f.cfg.listen_port, 7100, "config_load_file: setting read");
	is_str(f.cfg.path, path, "config_load_file: cfg->path");
	is_str(f.cfg.ndbs == 1 ? f.cfg.dbs[0].host : NULL, "filehost", "config_load_file: database read");
	done(&f);

	/* errors carry the file's path */
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, "[pgsift]\nauth_type = trust\nverbose = 9\n", 39) != 39 || close(fd) != 0)
		abort();
	memset(&f.diag, 0, sizeof(f.diag));
	f.ok = config_load_file(path, &f.cfg, &f.diag);
	char *want = fmt("%s:3: verbose", path);
	one_error(&f, want, "out of range", "config_load_file: error is path:line:");
	free(want);
	done(&f);

	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || close(fd) != 0)
		abort();
	memset(&f.diag, 0, sizeof(f.diag));
	f.ok = config_load_file(path, &f.cfg, &f.diag);
	one_error(&f, "auth_type md5 needs auth_file", "", "config_load_file: empty file gives defaults");
	done(&f);

	/* a sparse file above the 16 MB limit is refused before it is read */
	if (truncate(path, (16 << 20) + 1) != 0)
		abort();
	memset(&f.diag, 0, sizeof(f.diag));
	f.ok = config_load_file(path, &f.cfg, &f.diag);
	one_error(&f, path, "at most 16 MB", "config_load_file: file above 16 MB refused");
	done(&f);
	unlink(path);

	memset(&f.diag, 0, sizeof(f.diag));
	f.ok = config_load_file("/tmp", &f.cfg, &f.diag);
	ok(!f.ok && f.diag.nerrors == 1 && strstr(f.diag.errors[0], "/tmp"), "config_load_file on a directory fails");
	done(&f);
}

/* Writes text to dir/name; the path in a static buffer of the caller's */
static void put_file(const char *dir, const char *name, const char *text, char *path, size_t pathlen)
{
	int fd;

	snprintf(path, pathlen, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0)
		abort();
}

static void test_include(void)
{
	char dir[] = "/tmp/pgsift_test_include_XXXXXX", dbs[300], main_path[300], bad[300], self[300],
	     cwd[4096], *text, *want;
	struct fx f;

	if (!mkdtemp(dir) || !getcwd(cwd, sizeof(cwd)))
		abort();
	put_file(dir, "dbs.ini", "a = host=ha\n; a comment\nb = host=hb\n", dbs, sizeof(dbs));

	text = fmt(SEC_TRUST "[databases]\n%%include %s\nafter = host=hafter\n", dbs);
	load(&f, text);
	clean(&f, "%include of [databases] lines");
	is_int(f.cfg.ndbs, 3, "%include: the included entries and the one after it");
	is_str(f.cfg.ndbs == 3 ? f.cfg.dbs[1].host : NULL, "hb", "%include: an included entry's host");
	is_str(f.cfg.ndbs == 3 ? f.cfg.dbs[2].name : NULL, "after", "%include: reading goes on after it");
	done(&f);
	free(text);

	text = fmt(SEC_TRUST "   %%include   %s   \r\n", dbs);
	load(&f, text);
	ok(f.ok && f.cfg.ndbs == 0 && f.diag.nwarnings == 2, "%%include in [pgsift]: its lines are settings there (unknown ones)");
	done(&f);
	free(text);

	/* the section in force goes on across files, both ways (PgBouncer's rule) */
	put_file(dir, "main.ini", "listen_port = 7201\n[databases]\nc = host=hc\n", main_path, sizeof(main_path));
	text = fmt("[pgsift]\n%%include %s\nd = host=hd\n[pgsift]\nauth_type = trust\n", main_path);
	load(&f, text);
	clean(&f, "%include that opens a section");
	is_int(f.cfg.listen_port, 7201, "%include: a setting in the section that includes it");
	is_int(f.cfg.ndbs, 2, "%include: the section it opened goes on after it");
	done(&f);
	free(text);

	/* errors name the included file and its line */
	put_file(dir, "bad.ini", "\n\nverbose = 9\n", bad, sizeof(bad));
	text = fmt(SEC_TRUST "%%include %s\n", bad);
	load(&f, text);
	want = fmt("%s:3: verbose", bad);
	one_error(&f, want, "out of range", "an error in an included file: its path and line");
	free(want);
	done(&f);
	free(text);
	put_file(dir, "bad.ini", "[databases]\nno equals here\n", bad, sizeof(bad));
	text = fmt(SEC_TRUST "%%include %s\n[pgsift]\nverbose = 2\nno equals either\n", bad);
	load(&f, text);
	want = fmt("%s:2: syntax error", bad);
	ok(!f.ok && f.diag.nerrors == 2 && strstr(f.diag.errors[0], want) &&
	   strstr(f.diag.errors[1], PATH ":6: syntax error") && f.cfg.verbose == 2,
	   "syntax errors in and after an included file: each file's own line");
	free(want);
	done(&f);
	free(text);

	load(&f, SEC_TRUST "[databases]\n%include /nonexistent-pgsift-dir/dbs.ini\n");
	one_error(&f, PATH ":4: %include /nonexistent-pgsift-dir/dbs.ini: cannot open", "",
		  "%include of a missing file: the including line");
	done(&f);
	text = fmt(SEC_TRUST "%%include %s\n", dir);
	load(&f, text);
	one_error(&f, PATH ":3: %include", "not a regular file", "%include of a directory");
	done(&f);
	free(text);
	load(&f, SEC_TRUST "%include\n");
	one_error(&f, PATH ":3: %include needs a file name", "", "%include without a name");
	done(&f);
	load(&f, SEC_TRUST "%includes x\n%define y\n");
	ok(!f.ok && f.diag.nerrors == 2 && strstr(f.diag.errors[0], "unknown directive") &&
	   strstr(f.diag.errors[1], PATH ":4: unknown directive \"%define y\""), "unknown %% directives");
	done(&f);

	/* a file that includes itself stops at the depth limit, with one error */
	snprintf(self, sizeof(self), "%s/self.ini", dir);
	text = fmt("[databases]\ns = host=hs\n%%include %s\n", self);
	put_file(dir, "self.ini", text, self, sizeof(self));
	free(text);
	text = fmt(SEC_TRUST "%%include %s\n", self);
	load(&f, text);
	one_error(&f, "self.ini:3: %include nested more than 10 deep", "", "a file that includes itself");
	done(&f);
	free(text);

	/* a relative name is taken from the working directory, as PgBouncer does */
	if (chdir(dir) != 0)
		abort();
	load(&f, SEC_TRUST "[databases]\n%include dbs.ini\n");
	clean(&f, "%include of a relative name");
	is_int(f.cfg.ndbs, 2, "%include of a relative name: from the working directory");
	done(&f);
	if (chdir(cwd) != 0)
		abort();

	/* config_load_file() follows %include too */
	text = fmt(SEC_TRUST "[databases]\n%%include %s\n", dbs);
	put_file(dir, "main.ini", text, main_path, sizeof(main_path));
	free(text);
	memset(&f.diag, 0, sizeof(f.diag));
	f.ok = config_load_file(main_path, &f.cfg, &f.diag);
	clean(&f, "config_load_file with %include");
	is_int(f.cfg.ndbs, 2, "config_load_file: the included entries");
	is_str(f.cfg.path, main_path, "config_load_file: cfg->path is the file given");
	done(&f);

	unlink(dbs);
	unlink(main_path);
	unlink(bad);
	unlink(self);
	if (rmdir(dir) != 0)
		abort();
}

int main(void)
{
	tap_begin();

	test_defaults();
	test_sections();
	test_time_values();
	test_bool_values();
	test_int_values();
	test_enum_values();
	test_diagnostics();
	test_long_lines();
	test_indent_crlf_bom_nul();
	test_connstrings();
	test_users();
	test_validation();
	test_set_and_lookup();
	test_copy_setting();
	test_files();
	test_include();

	return tap_end();
}
