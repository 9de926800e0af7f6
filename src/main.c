/*
 * main: arguments, the event loop's context, signals, reload and shutdown.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "surfaces/admin.h"
#include "surfaces/admin_sql.h"
#include "surfaces/http.h"
#include "surfaces/otlp.h"
#include "surfaces/log_events.h"
#include "views/view.h"
#include "pooler/auth.h"
#include "pooler/auth_limit.h"
#include "pooler/auth_query.h"
#include "pooler/client.h"
#include "pooler/hba.h"
#include "analyzer/fingerprint.h"
#include "pooler/listener.h"
#include "util/log.h"
#include "util/pidfile.h"
#include "pooler/objects.h"
#include "pooler/pool.h"
#include "pooler/server.h"
#include "pooler/suspend.h"
#include "pooler/tls.h"
#include "util/config_compat.h"

#define JANITOR_USEC 200000
#define MIN_IOBUF 16384		/* a whole startup packet fits; see pkt_buf in doc/config.md */
#define FREE_IOBUFS 1024	/* idle buffers kept for reuse */
#define KEEP_IOBUFS 64		/* ... however long it has been quiet */

static uint32_t iobuf_size(const struct config *cfg)
{
	return cfg->pkt_buf < MIN_IOBUF ? MIN_IOBUF : (uint32_t)cfg->pkt_buf;
}

/* The TLS contexts cfg asks for replace the running ones (NULL for a leg
 * whose mode is disable). Sessions already open keep the context they were
 * made with (OpenSSL counts its references), so a new certificate serves
 * new connections only. false, with the reason in err: nothing changed. */
bool sift_tls_setup(struct sift *s, const struct config *cfg, char *err, size_t errlen)
{
	struct ssl_ctx_st *client = NULL, *server = NULL;

	if (!tls_check_lists(cfg, err, errlen))
		return false;
	if (cfg->client_tls_sslmode != SSLMODE_DISABLE && !(client = tls_server_ctx(cfg, err, errlen)))
		return false;
	if (cfg->server_tls_sslmode != SSLMODE_DISABLE && !(server = tls_client_ctx(cfg, err, errlen))) {
		tls_ctx_free(client);
		return false;
	}
	tls_ctx_free(s->client_tls);
	tls_ctx_free(s->server_tls);
	s->client_tls = client;
	s->server_tls = server;
	return true;
}

/* log_format and syslog*: the log sink's format and its syslog leg. */
static void log_apply(const struct sift *s)
{
	log_set_format(s->cfg.log_format);
	log_set_syslog(s->cfg.syslog, s->cfg.syslog_ident, s->cfg.syslog_facility);
}

static bool streq_null(const char *a, const char *b)
{
	return (!a || !*a) ? (!b || !*b) : (b && !strcmp(a, b));
}

/* Do a and b log in to servers differently (TLS)? */
static bool server_tls_changed(const struct config *a, const struct config *b)
{
	return a->server_tls_sslmode != b->server_tls_sslmode ||
	       !streq_null(a->server_tls_key_file, b->server_tls_key_file) ||
	       !streq_null(a->server_tls_cert_file, b->server_tls_cert_file) ||
	       !streq_null(a->server_tls_ca_file, b->server_tls_ca_file) ||
	       !streq_null(a->server_tls_protocols, b->server_tls_protocols) ||
	       !streq_null(a->server_tls_ciphers, b->server_tls_ciphers);
}

/* auth_type hba: reads cfg's rule files into *out (NULL for other auth
 * types). false, with the reason in err, when they cannot be used. */
static bool load_hba(const struct config *cfg, struct hba **out, char *err, size_t errlen)
{
	*out = NULL;
	if (cfg->auth_type != AUTHT_HBA)
		return true;
	if (!cfg->auth_hba_file || !*cfg->auth_hba_file) {
		snprintf(err, errlen, "auth_type hba needs auth_hba_file");
		return false;
	}
	if (!(*out = hba_load(cfg->auth_hba_file, cfg->auth_ident_file, err, errlen)))
		return false;
	log_debug("auth_hba_file %s: %d rules", cfg->auth_hba_file, hba_count(*out));
	return true;
}

/* SET auth_type, auth_hba_file or auth_ident_file: the rules are read
 * again (a file that cannot be used refuses the SET), and the client TLS
 * context follows (hba asks for client certificates). */
static bool apply_auth_setting(struct sift *s, char *errout, size_t errlen)
{
	struct hba *h;

	if (!load_hba(&s->cfg, &h, errout, errlen))
		return false;
	hba_free(s->hba);
	s->hba = h;
	return sift_tls_setup(s, &s->cfg, errout, errlen);
}

bool sift_apply_setting(struct sift *s, const char *name, char *errout, size_t errlen)
{
	char err[256];

	if (!strncmp(name, "client_tls_", 11))
		return sift_tls_setup(s, &s->cfg, errout, errlen);
	if (!strcmp(name, "auth_type") || !strcmp(name, "auth_hba_file") || !strcmp(name, "auth_ident_file"))
		return apply_auth_setting(s, errout, errlen);
	if (!strncmp(name, "server_tls_", 11)) {
		if (!sift_tls_setup(s, &s->cfg, errout, errlen))
			return false;
		pool_server_config_changed(s);
		return true;
	}
	if (!strcmp(name, "verbose"))
		log_set_verbose(s->cfg.verbose);
	else if (!strcmp(name, "log_format") || !strncmp(name, "syslog", 6))
		log_apply(s);
	else if (!strcmp(name, "analyzer") && s->cfg.analyzer)
		an_resync_all(s);
	else if (!strcmp(name, "log_query_samples") && !s->cfg.log_query_samples)
		an_drop_samples(&s->an); /* literals must not outlive the setting */
	else if (!strcmp(name, "logfile") && !log_setup(s->cfg.logfile, s->cfg.verbose, s->quiet, err, sizeof(err)))
		log_error("%s", err);
	else if (!strcmp(name, "default_pool_size") || !strcmp(name, "reserve_pool_size") || !strcmp(name, "min_pool_size"))
		pool_resize(s, NULL);
	else if (!strncmp(name, "stats_bucket", 12) || !strcmp(name, "stats_history_memory")) {
		if (!an_history_setup(s)) {
			snprintf(errout, errlen, "out of memory for the statistics history");
			return false;
		}
	}
	return true;
}

static void print_diag(const struct config_diag *d, bool to_stderr)
{
	for (int i = 0; i < d->nwarnings; i++)
		log_warning("%s", d->warnings[i]);
	for (int i = 0; i < d->nerrors; i++) {
		if (to_stderr)
			fprintf(stderr, "%s\n", d->errors[i]);
		log_error("%s", d->errors[i]);
	}
}

/* Keeps settings that need a restart at their running values. */
static void keep_restart_settings(struct config *nc, const struct config *old)
{
	char a[4096], b[4096];

	for (int i = 0; i < config_setting_count(); i++) {
		if (config_setting_changeable(i))
			continue;
		config_setting_value(old, i, a, sizeof(a));
		config_setting_value(nc, i, b, sizeof(b));
		if (strcmp(a, b) == 0)
			continue;
		log_warning("%s changed in the config file; it takes effect only after a restart", config_setting_name(i));
		if (!config_copy_setting(nc, old, i))
			log_error("cannot keep the running value of %s", config_setting_name(i));
	}
}

static void load_auth_file(struct sift *s)
{
	char err[512];

	if (s->cfg.auth_file && *s->cfg.auth_file) {
		if (!auth_load_file(s, s->cfg.auth_file, err, sizeof(err)))
			log_error("%s", err);
	} else
		auth_clear(s);
}

bool sift_reload(struct sift *s)
{
	struct hba *hba;
	struct config nc;
	struct config_diag d = { 0 };
	char err[512];

	log_info("reloading %s", s->config_path);
	if (!config_load_file(s->config_path, &nc, &d)) {
		print_diag(&d, false);
		log_error("reload refused: %s has errors; the running configuration is kept", s->config_path);
		config_diag_free(&d);
		config_free(&nc);
		return false;
	}
	print_diag(&d, false);
	config_diag_free(&d);
	keep_restart_settings(&nc, &s->cfg);
	if (!load_hba(&nc, &hba, err, sizeof(err))) {
		log_error("%s", err);
		log_error("reload refused: the auth_hba_file or auth_ident_file has errors; the running configuration is kept");
		config_free(&nc);
		return false;
	}
	/* certificates are read again on every reload (files renewed in place) */
	if (!sift_tls_setup(s, &nc, err, sizeof(err))) {
		log_error("TLS setup failed: %s; reload refused, the running configuration is kept", err);
		hba_free(hba);
		config_free(&nc);
		return false;
	}
	hba_free(s->hba);
	s->hba = hba;
	if (server_tls_changed(&s->cfg, &nc))
		pool_server_config_changed(s);
	config_free(&s->cfg);
	s->cfg = nc;
	if (!s->cfg.log_query_samples)
		an_drop_samples(&s->an);
	if (!log_setup(s->cfg.logfile, s->cfg.verbose, s->quiet, err, sizeof(err)))
		log_error("%s", err);
	log_apply(s);
	if (!db_sync_config(s, err, sizeof(err)))
		log_error("applying databases: %s", err);
	load_auth_file(s);
	if (!an_history_setup(s))
		log_error("out of memory applying the history settings; the history keeps its old shape");
	return true;
}

void sift_shutdown(struct sift *s, int mode)
{
	if (mode <= s->shutdown && mode != SHUTDOWN_NOW)
		return;
	if (suspend_end(s)) /* a shutdown waits for sockets that must be read */
		log_info("RESUME (suspended) for the shutdown");
	/* new connections are refused from now on; the Unix socket stays for
	 * the console until the exit, as in PgBouncer */
	if (s->shutdown == SHUTDOWN_NONE)
		listener_close_tcp(s);
	s->shutdown = mode;
	if (mode == SHUTDOWN_WAIT_SERVERS)
		pool_shutdown_waiting(s);
	log_info("shutdown requested: %s", mode == SHUTDOWN_NOW ? "now" :
		 mode == SHUTDOWN_WAIT_SERVERS ? "after running transactions" : "after clients disconnect");
	if (mode == SHUTDOWN_NOW)
		event_base_loopbreak(s->base);
}

/* ---- periodic work ---- */

static void stats_period(struct sift *s)
{
	double secs = (double)s->cfg.stats_period / 1e6;
	struct list *it;

	if (secs <= 0 || s->now - s->last_stats < s->cfg.stats_period)
		return;
	s->last_stats = s->now;
	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		struct stats t, *p = &db->stats_prev, *a = &db->stats_avg;
		uint64_t xacts, queries, assigns;
		if (db->admin || db->template)
			continue;
		pool_db_totals(s, db, &t);
		xacts = t.xact_count - p->xact_count;
		queries = t.query_count - p->query_count;
		assigns = t.server_assignment_count - p->server_assignment_count;
		a->server_assignment_count = (uint64_t)(assigns / secs);
		a->xact_count = (uint64_t)(xacts / secs);
		a->query_count = (uint64_t)(queries / secs);
		a->bytes_recv = (uint64_t)((t.bytes_recv - p->bytes_recv) / secs);
		a->bytes_sent = (uint64_t)((t.bytes_sent - p->bytes_sent) / secs);
		a->xact_time = xacts ? (t.xact_time - p->xact_time) / xacts : 0;
		a->query_time = queries ? (t.query_time - p->query_time) / queries : 0;
		a->wait_time = assigns ? (t.wait_time - p->wait_time) / assigns : 0;
		a->client_parse_count = (uint64_t)((t.client_parse_count - p->client_parse_count) / secs);
		a->server_parse_count = (uint64_t)((t.server_parse_count - p->server_parse_count) / secs);
		a->bind_count = (uint64_t)((t.bind_count - p->bind_count) / secs);
		a->client_login_count = (uint64_t)((t.client_login_count - p->client_login_count) / secs);
		*p = t;
		if (s->cfg.log_stats && !db->removed)
			log_info("stats: %s: %llu xacts/s, %llu queries/s, in %llu B/s, out %llu B/s, xact %llu us, query %llu us, wait %llu us",
				 db->name, (unsigned long long)a->xact_count, (unsigned long long)a->query_count,
				 (unsigned long long)a->bytes_recv, (unsigned long long)a->bytes_sent,
				 (unsigned long long)a->xact_time, (unsigned long long)a->query_time,
				 (unsigned long long)a->wait_time);
	}
}

/* What a burst of clients left behind goes back to the system: idle
 * buffers beyond the recent need, and (glibc) the free heap pages, once a
 * megabyte of buffers has gone since the last time (the clients' own
 * structures went with them). */
static void release_memory(struct sift *s)
{
	s->freed_bufs += iobuf_pool_decay(&s->bufs, KEEP_IOBUFS);
	if ((uint64_t)s->freed_bufs * s->bufs.size < (1u << 20))
		return;
	s->freed_bufs = 0;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

static void janitor_cb(evutil_socket_t fd, short what, void *arg)
{
	struct sift *s = arg;

	(void)fd;
	(void)what;
	sift_now(s);
	s->wall_offset = sift_wall_usec() - s->now; /* follows clock adjustments */
	pool_janitor(s);
	admin_janitor(s);
	an_janitor(s);
	stats_period(s);
	release_memory(s);
	listener_resume(s);
	if ((s->shutdown == SHUTDOWN_WAIT_SERVERS && pool_db_active_servers(s, NULL) == 0) ||
	    (s->shutdown == SHUTDOWN_WAIT_CLIENTS && s->nclients == 0)) {
		log_info("shutdown: nothing left to wait for");
		event_base_loopbreak(s->base);
	}
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct sift *s = arg;

	(void)what;
	sift_now(s);
	switch (sig) {
	case SIGHUP:
		(void)sift_reload(s);
		break;
	case SIGTERM:
		log_info("got SIGTERM");
		sift_shutdown(s, s->shutdown == SHUTDOWN_WAIT_CLIENTS ? SHUTDOWN_NOW : SHUTDOWN_WAIT_CLIENTS);
		break;
	case SIGINT:
		log_info("got SIGINT");
		sift_shutdown(s, s->shutdown == SHUTDOWN_WAIT_SERVERS ? SHUTDOWN_NOW : SHUTDOWN_WAIT_SERVERS);
		break;
	case SIGQUIT:
		log_info("got SIGQUIT");
		sift_shutdown(s, SHUTDOWN_NOW);
		break;
	case SIGUSR1: /* PgBouncer's: PAUSE of every database */
		log_info("got SIGUSR1, pausing all activity");
		pool_pause_all(s);
		break;
	case SIGUSR2: /* ... and RESUME */
		if (s->shutdown != SHUTDOWN_NONE) {
			log_info("got SIGUSR2 while shutting down, ignoring");
			break;
		}
		log_info("got SIGUSR2, continuing from PAUSE");
		pool_resume_all(s);
		break;
	default:
		break;
	}
}

/* ---- start and stop ---- */

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			log_warning("cannot raise the file descriptor limit: %s", strerror(errno));
	}
}

/* Who pgsift runs as. As PgBouncer: never as root; root may start it with
 * -u USER, and then it opens its listening sockets (a port below 1024, say)
 * and switches to USER before it reads anything a client sends. */
struct run_as {
	bool change;		/* switch after binding */
	uid_t uid;
	gid_t gid;
	char name[64];
};

/* Refuses root without -u, and -u root; looks the -u user up. Startup
 * errors go to stderr: the log is not open yet. */
static bool check_user(const char *user, struct run_as *ra)
{
	bool root = geteuid() == 0 || getuid() == 0;
	struct passwd *pw;

	memset(ra, 0, sizeof(*ra));
	if (!user) {
		if (!root)
			return true;
		fprintf(stderr, "pgsift: refusing to run as root: start pgsift as an unprivileged user, or as root with "
				"-u USER or the setting user = USER (pgsift then switches to USER once its listening "
				"sockets are open)\n");
		return false;
	}
	if (!(pw = getpwnam(user)) || strlen(user) >= sizeof(ra->name)) {
		fprintf(stderr, "pgsift: -u %s: no such user\n", user);
		return false;
	}
	if (pw->pw_uid == 0) {
		fprintf(stderr, "pgsift: -u %s: pgsift does not run as root; name an unprivileged user\n", user);
		return false;
	}
	if (!root && geteuid() != pw->pw_uid) {
		fprintf(stderr, "pgsift: -u %s: only root can switch to another user\n", user);
		return false;
	}
	ra->change = geteuid() != pw->pw_uid;
	ra->uid = pw->pw_uid;
	ra->gid = pw->pw_gid;
	strcpy(ra->name, user);
	return true;
}

/* Drops root for good: the user's groups, then its gid and uid. */
static bool switch_user(const struct run_as *ra)
{
	if (!ra->change)
		return true;
	if (initgroups(ra->name, ra->gid) != 0 || setgid(ra->gid) != 0 || setuid(ra->uid) != 0) {
		log_fatal("cannot switch to user %s: %s", ra->name, strerror(errno));
		return false;
	}
	if (setuid(0) == 0) {
		log_fatal("could become root again after switching to user %s", ra->name);
		return false;
	}
	log_info("switched to user %s", ra->name);
	return true;
}

/* Files root creates before the switch go to the user, so that it can
 * reopen them (RELOAD) and a later start as that user can write them. */
static bool give_files(struct sift *s, struct pidfile *pf, const struct run_as *ra, bool log_created)
{
	char err[512];

	if (!ra->change)
		return true;
	if (!pidfile_chown(pf, ra->uid, ra->gid, err, sizeof(err)) ||
	    !listener_chown(s, ra->uid, ra->gid, err, sizeof(err))) {
		log_fatal("%s", err);
		return false;
	}
	if (log_created && lchown(s->cfg.logfile, ra->uid, ra->gid) != 0) {
		log_fatal("cannot give logfile %s to user %s: %s", s->cfg.logfile, ra->name, strerror(errno));
		return false;
	}
	return true;
}

static bool daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return false;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return false;
	if ((fd = open("/dev/null", O_RDWR)) >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return true;
}

static bool setup_events(struct sift *s)
{
	static const int sigs[7] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, 0 };
	struct event_config *ec = event_config_new();
	struct timeval tv = { 0, JANITOR_USEC };

	if (!ec)
		return false;
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK);
	s->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (!s->base)
		return false;
	for (int i = 0; sigs[i]; i++)
		if (!(s->ev_sig[i] = evsignal_new(s->base, sigs[i], signal_cb, s)) || event_add(s->ev_sig[i], NULL) != 0)
			return false;
	s->ev_janitor = event_new(s->base, -1, EV_PERSIST, janitor_cb, s);
	s->ev_reap = event_new(s->base, -1, 0, sift_reap_cb, s);
	return s->ev_janitor && s->ev_reap && event_add(s->ev_janitor, &tv) == 0;
}

static void sift_init_lists(struct sift *s)
{
	list_init(&s->dbs);
	list_init(&s->users);
	list_init(&s->pools);
	list_init(&s->login_clients);
	list_init(&s->admin_clients);
	list_init(&s->free_clients);
	list_init(&s->free_servers);
	list_init(&s->orphan_cancels);
	list_init(&s->aq_conns);
}

static void close_all_clients(struct list *l, const char *sqlstate)
{
	while (!list_empty(l))
		client_close(list_entry(l->next, struct client, node), sqlstate, "pgsift is shutting down");
}

/* Closes every connection and frees everything (so leak checkers see a
 * clean exit). */
static void sift_cleanup(struct sift *s, struct pidfile *pf)
{
	struct list *it;

	listener_close_all(s);
	http_stop(s); /* the last to stop: it answered while pgsift drained */
	otlp_stop(s);
	close_all_clients(&s->login_clients, NULL);
	close_all_clients(&s->admin_clients, "57P01");
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		struct list *cls[] = { &p->active_clients, &p->waiting_clients, &p->idle_clients, &p->login_clients };
		struct list *svs[] = { &p->active_servers, &p->idle_servers, &p->tested_servers, &p->new_servers,
				       &p->canceling_servers };
		for (size_t i = 0; i < 4; i++)
			close_all_clients(cls[i], "57P01");
		for (size_t i = 0; i < 5; i++)
			while (!list_empty(svs[i]))
				server_close(list_entry(svs[i]->next, struct server, node), "pgsift is shutting down");
	}
	while (!list_empty(&s->orphan_cancels))
		cancel_req_free(list_entry(s->orphan_cancels.next, struct cancel_req, node));
	auth_query_free_all(s);
	sift_reap_cb(-1, 0, s);
	objects_free_all(s);
	ps_registry_free(s);
	an_free(&s->an);
	auth_limit_free(s);
	admin_sql_shutdown(s); /* after the console clients left: no job has a client */
	for (int i = 0; i < 7; i++)
		if (s->ev_sig[i])
			event_free(s->ev_sig[i]);
	if (s->ev_janitor)
		event_free(s->ev_janitor);
	if (s->ev_reap)
		event_free(s->ev_reap);
	if (s->base)
		event_base_free(s->base);
	iobuf_pool_destroy(&s->bufs);
	tls_ctx_free(s->client_tls);
	tls_ctx_free(s->server_tls);
	pidfile_release(pf); /* only the one this process locked */
	config_free(&s->cfg);
	hba_free(s->hba);
	free(s->config_path);
}

static void usage(FILE *f)
{
	fprintf(f, "pgsift " PACKAGE_VERSION " - a PostgreSQL connection pooler that tells you what your application does\n\n"
		   "Usage: pgsift [OPTION]... CONFIG.INI\n"
		   "  -d, --daemon           run in the background (needs logfile)\n"
		   "  -v, --verbose          more log output (repeatable)\n"
		   "  -q, --quiet            no log output on stderr\n"
		   "  -u, --user=USERNAME    started as root: switch to this user once the\n"
		   "                         listening sockets are open (needed as root)\n"
		   "  -V, --version          print the version and exit\n"
		   "  -h, --help             this help\n"
		   "      --list-settings    print the names of all settings and exit\n"
		   "      --describe-views   print every view's columns (doc/admin.md's tables) and exit\n"
		   "      --check-config FILE\n"
		   "                         read FILE (a pgbouncer.ini or pgsift.ini), name every\n"
		   "                         key pgsift ignores, refuses or treats differently, and exit\n"
		   "      --fingerprint [FILE]...\n"
		   "                         print the fingerprint and normalized text of each\n"
		   "                         statement in FILEs (standard input without FILE)\n");
}

static void print_note(const char *key, const char *note, void *arg)
{
	(void)arg;
	printf("differs: %s: %s\n", key, note);
}

/* --check-config: what a PgBouncer user should know before switching.
 * Exit 0 when pgsift would start with the file, 1 when it would not. */
static int check_config(const char *path)
{
	struct config cfg;
	struct config_diag d = { 0 };
	bool ok = config_load_file(path, &cfg, &d);

	for (int i = 0; i < d.nerrors; i++)
		printf("error: %s\n", d.errors[i]);
	for (int i = 0; i < d.nwarnings; i++)
		printf("ignored: %s\n", d.warnings[i]);
	if (ok)
		config_compat_notes(&cfg, print_note, NULL);
	printf("%s: pgsift %s with this file (%d errors, %d keys ignored)\n", path, ok ? "starts" : "does not start",
	       d.nerrors, d.nwarnings);
	config_diag_free(&d);
	config_free(&cfg);
	return ok ? 0 : 1;
}

struct options {
	bool daemon, quiet;
	int verbose;
	const char *user;
	const char *config;
};

/* Returns -1 to go on, else an exit code. */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "daemon", no_argument, NULL, 'd' }, { "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' }, { "user", required_argument, NULL, 'u' },
		{ "version", no_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' },
		{ "list-settings", no_argument, NULL, 'L' }, { "fingerprint", no_argument, NULL, 'F' },
		{ "describe-views", no_argument, NULL, 'W' }, { "check-config", required_argument, NULL, 'C' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "dvqu:Vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->daemon = true; break;
		case 'v': o->verbose++; break;
		case 'q': o->quiet = true; break;
		case 'u': o->user = optarg; break;
		case 'V': printf("pgsift " PACKAGE_VERSION "\n"); return 0;
		case 'h': usage(stdout); return 0;
		case 'L':
			for (int i = 0; i < config_setting_count(); i++)
				printf("%s\n", config_setting_name(i));
			return 0;
		case 'W':
			view_describe(stdout);
			return 0;
		case 'F':
			return fp_cli_main(argc - optind, argv + optind);
		case 'C':
			return check_config(optarg);
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 2;
	}
	o->config = argv[optind];
	return -1;
}

/* Loads the config, takes the pidfile, opens the log. false: exit 1. */
static bool sift_start_config(struct sift *s, const struct options *o, struct pidfile *pf, struct run_as *ra,
			      bool *log_created)
{
	struct config_diag d = { 0 };
	char err[512];
	bool ok;

	sift_init_lists(s);
	s->console = &admin_console_ops;
	s->on_finding = log_events_finding;
	s->config_path = strdup(o->config);
	ok = config_load_file(o->config, &s->cfg, &d);
	print_diag(&d, true);
	config_diag_free(&d);
	/* -u wins over the config's user, as in PgBouncer */
	if (!ok || !s->config_path || !check_user(o->user ? o->user : *s->cfg.user ? s->cfg.user : NULL, ra))
		return false;
	/* before anything else: a second instance must not touch the first's files */
	if (pidfile_lock(pf, s->cfg.pidfile, err, sizeof(err)) != PIDFILE_OK) {
		fprintf(stderr, "pgsift: %s\n", err);
		return false;
	}
	s->cfg.verbose += o->verbose;
	s->daemon = o->daemon;
	s->quiet = o->quiet || o->daemon;
	*log_created = s->cfg.logfile && *s->cfg.logfile && access(s->cfg.logfile, F_OK) != 0;
	if (!log_setup(s->cfg.logfile, s->cfg.verbose, s->quiet, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return false;
	}
	log_apply(s);
	if (!params_setup(s, s->cfg.track_extra_parameters, err, sizeof(err)) || !db_sync_config(s, err, sizeof(err))) {
		fprintf(stderr, "%s: %s\n", o->config, err);
		return false;
	}
	return true;
}

/* Opens everything. false: the caller exits 1. */
static bool sift_start(struct sift *s, const struct options *o, struct pidfile *pf)
{
	struct run_as ra;
	char err[512];
	bool log_created = false;

	if (!sift_start_config(s, o, pf, &ra, &log_created))
		return false;
	iobuf_pool_init(&s->bufs, iobuf_size(&s->cfg), FREE_IOBUFS);
	raise_fd_limit();
	sift_now(s);
	s->last_stats = s->now;
	s->start_wall = sift_wall_usec();
	s->wall_offset = s->start_wall - s->now;
	if (!an_init(&s->an, (uint32_t)s->cfg.max_fingerprints)) {
		log_fatal("out of memory for max_fingerprints = %d", s->cfg.max_fingerprints);
		return false;
	}
	s->an.last_decay = s->now;
	s->an.qs.export_max = (uint32_t)s->cfg.metrics_top_fingerprints; /* /metrics' top set, until the first scrape */
	if (!an_history_setup(s)) {
		log_fatal("out of memory for the statistics history");
		return false;
	}
	if (!setup_events(s)) {
		log_fatal("cannot set up the event loop");
		return false;
	}
	/* HTTP first: once the pooler's port accepts, /metrics answers too */
	if (!http_start(s, err, sizeof(err)) || !listener_open_all(s, err, sizeof(err))) {
		log_fatal("%s", err);
		return false;
	}
	if (!otlp_start(s)) {
		log_fatal("out of memory for the span exporter");
		return false;
	}
	if (!give_files(s, pf, &ra, log_created) || !switch_user(&ra))
		return false;
	/* read with the rights every RELOAD will have */
	if (!sift_tls_setup(s, &s->cfg, err, sizeof(err))) {
		log_fatal("%s: %s", o->config, err);
		return false;
	}
	auth_mock_init(&s->mock);
	load_auth_file(s);
	if (!load_hba(&s->cfg, &s->hba, err, sizeof(err))) {
		log_fatal("%s: %s", o->config, err);
		return false;
	}
	if (o->daemon && !daemonize()) {
		log_fatal("cannot go to the background");
		return false;
	}
	if (!pidfile_write(pf, err, sizeof(err))) {
		log_fatal("%s", err);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	struct sift s;
	struct options o;
	struct pidfile pf;
	int rc = parse_args(argc, argv, &o);

	if (rc >= 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	memset(&s, 0, sizeof(s));
	pidfile_init(&pf);
	if (!sift_start(&s, &o, &pf)) {
		sift_cleanup(&s, &pf);
		log_close();
		return 1;
	}
	log_info("pgsift " PACKAGE_VERSION " started, listening on port %d", s.cfg.listen_port);
	event_base_dispatch(s.base);
	log_info("pgsift exiting");
	sift_cleanup(&s, &pf);
	log_close();
	return s.exit_code;
}
