/*
 * admin: see admin.h. This file parses console commands, answers SHOW and
 * builds result sets; the control commands are in admin_ctl.c.
 *
 * Result sets are built from a column-type string, as in PgBouncer:
 * 's' text, 'i' int4, 'q' int8, 'N' numeric (an unsigned 64-bit value),
 * 'D' numeric (a double, three decimals; NaN or infinite is NULL),
 * 'I' int4 (negative is NULL).
 * Every value is sent in text format.
 */
#include "surfaces/admin.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>

#include "pooler/advisor_pool.h"
#include "surfaces/admin_cmd.h"
#include "surfaces/admin_rs.h"
#include "pooler/client.h"
#include "util/log.h"
#include "pooler/objects.h"
#include "pooler/pool.h"
#include "pooler/server.h"
#include "pooler/tls.h"

#define ADMIN_QUERY_MAX 4096

static uint32_t type_oid(char t)
{
	switch (t) {
	case 'i':
	case 'I':
		return 23;
	case 'q':
		return 20;
	case 'N':
	case 'D':
		return 1700;
	default:
		return 25;
	}
}

static int16_t type_len(char t)
{
	return t == 'i' || t == 'I' ? 4 : t == 'q' ? 8 : -1;
}

/* Starts a result set: types has one letter per column, then the names. */
void rs_begin(struct rs *rs, struct client *cl, const char *types, ...)
{
	struct pktbuf *pb = &cl->c.gen;
	va_list ap;

	rs->cl = cl;
	rs->pb = pb;
	rs->types = types;
	rs->nrows = 0;
	pkt_begin(pb, 'T');
	pkt_put_u16(pb, (uint16_t)strlen(types));
	va_start(ap, types);
	for (const char *t = types; *t; t++) {
		pkt_put_str(pb, va_arg(ap, const char *));
		pkt_put_u32(pb, 0);
		pkt_put_u16(pb, 0);
		pkt_put_u32(pb, type_oid(*t));
		pkt_put_u16(pb, (uint16_t)type_len(*t));
		pkt_put_u32(pb, 0xffffffffu);
		pkt_put_u16(pb, 0);
	}
	va_end(ap);
	pkt_end(pb);
}

static void put_text(struct pktbuf *pb, const char *v)
{
	if (!v) {
		pkt_put_u32(pb, 0xffffffffu);
		return;
	}
	pkt_put_u32(pb, (uint32_t)strlen(v));
	pkt_put(pb, v, strlen(v));
}

/* One row; arguments follow the type string: 's' const char * (NULL is
 * SQL NULL), 'i' int, 'q' int64_t, 'N' uint64_t. */
void rs_row(struct rs *rs, ...)
{
	struct pktbuf *pb = rs->pb;
	char num[32];
	va_list ap;

	pkt_begin(pb, 'D');
	pkt_put_u16(pb, (uint16_t)strlen(rs->types));
	va_start(ap, rs);
	for (const char *t = rs->types; *t; t++) {
		switch (*t) {
		case 'i':
			snprintf(num, sizeof(num), "%d", va_arg(ap, int));
			put_text(pb, num);
			break;
		case 'q':
			snprintf(num, sizeof(num), "%" PRId64, va_arg(ap, int64_t));
			put_text(pb, num);
			break;
		case 'N':
			snprintf(num, sizeof(num), "%" PRIu64, va_arg(ap, uint64_t));
			put_text(pb, num);
			break;
		case 'D': {
			double d = va_arg(ap, double);
			snprintf(num, sizeof(num), "%.3f", d);
			put_text(pb, isfinite(d) ? num : NULL);
			break;
		}
		case 'I': {
			int v = va_arg(ap, int);
			snprintf(num, sizeof(num), "%d", v);
			put_text(pb, v >= 0 ? num : NULL);
			break;
		}
		default:
			put_text(pb, va_arg(ap, const char *));
			break;
		}
	}
	va_end(ap);
	pkt_end(pb);
	rs->nrows++;
}

void command_complete(struct pktbuf *pb, const char *tag)
{
	pkt_begin(pb, 'C');
	pkt_put_str(pb, tag);
	pkt_end(pb);
}

void rs_end(struct rs *rs)
{
	char tag[32];
	snprintf(tag, sizeof(tag), "SHOW");
	command_complete(rs->pb, tag);
}

void admin_welcome(struct client *cl, const char *client_encoding, const char *application_name)
{
	struct pktbuf *pb = &cl->c.gen;

	proto_param_status(pb, "server_version", PACKAGE_VERSION "/pgsift");
	proto_param_status(pb, "server_encoding", "UTF8");
	proto_param_status(pb, "client_encoding", client_encoding ? client_encoding : "UTF8");
	proto_param_status(pb, "DateStyle", "ISO, MDY");
	proto_param_status(pb, "TimeZone", "UTC");
	proto_param_status(pb, "integer_datetimes", "on");
	proto_param_status(pb, "standard_conforming_strings", "on");
	proto_param_status(pb, "is_superuser", "off");
	proto_param_status(pb, "application_name", application_name ? application_name : "");
}

/* ---- SHOW commands ---- */

static void show_help(struct client *cl)
{
	proto_notice(&cl->c.gen, "Console usage",
		     "\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
		     "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|LISTS\n"
		     "\tSHOW QUERIES|ANALYZER|PREPARED_STATEMENTS|POOL_ADVICE\n"
		     "\tSHOW NPLUSONE|SLOW|SLOW_PLANS|HAZARDS\n"
		     "\tRESET QUERIES\n"
		     "\tSET key = arg\n"
		     "\tSET pool_size|reserve_pool_size|min_pool_size = N|default FOR DATABASE db\n"
		     "\tRELOAD\n"
		     "\tPAUSE [<db>]\n"
		     "\tRESUME [<db>]\n"
		     "\tDISABLE <db>\n"
		     "\tENABLE <db>\n"
		     "\tRECONNECT [<db>]\n"
		     "\tWAIT_CLOSE [<db>]\n"
		     "\tKILL [<db>]\n"
		     "\tKILL_CLIENT <id>\n"
		     "\tSHUTDOWN [WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS]");
	command_complete(&cl->c.gen, "SHOW");
}

static void show_version(struct client *cl)
{
	struct rs rs;

	rs_begin(&rs, cl, "s", "version");
	rs_row(&rs, "pgsift " PACKAGE_VERSION);
	rs_end(&rs);
}

static void show_config(struct client *cl)
{
	struct sift *s = cl->sift;
	char val[1024];
	struct rs rs;

	rs_begin(&rs, cl, "ssss", "key", "value", "default", "changeable");
	for (int i = 0; i < config_setting_count(); i++)
		rs_row(&rs, config_setting_name(i), config_setting_value(&s->cfg, i, val, sizeof(val)),
		       config_setting_default(i), config_setting_changeable(i) ? "yes" : "no");
	rs_end(&rs);
}

static int db_client_count(const struct sift *s, const struct db *db)
{
	const struct list *it;
	int n = 0;

	list_for_each(it, &s->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		if (p->db == db)
			n += (int)(list_count(&p->idle_clients) + list_count(&p->active_clients) +
				   list_count(&p->waiting_clients) + list_count(&p->login_clients));
	}
	return n;
}

static void show_databases(struct client *cl)
{
	struct sift *s = cl->sift;
	struct list *it;
	struct rs rs;

	rs_begin(&rs, cl, "ssissiiiissiiiiii", "name", "host", "port", "database", "force_user", "pool_size",
		 "min_pool_size", "reserve_pool_size", "server_lifetime", "pool_mode", "load_balance_hosts",
		 "max_connections", "current_connections", "max_client_connections", "current_client_connections",
		 "paused", "disabled");
	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		const struct db_conf *dc = &db->conf;
		if (db->removed || db->template)
			continue;
		if (db->admin) {
			rs_row(&rs, "pgsift", NULL, s->cfg.listen_port, "pgsift", "pgsift", 2, 0, 0, 0, "statement",
			       NULL, 0, 0, 0, (int)list_count(&s->admin_clients), 0, 0);
			continue;
		}
		rs_row(&rs, db->name, dc->host, dc->port, dc->dbname, dc->user,
		       dc->pool_size >= 0 ? dc->pool_size : s->cfg.default_pool_size,
		       dc->min_pool_size >= 0 ? dc->min_pool_size : s->cfg.min_pool_size,
		       dc->reserve_pool_size >= 0 ? dc->reserve_pool_size : s->cfg.reserve_pool_size,
		       (int)(s->cfg.server_lifetime / 1000000),
		       dc->pool_mode >= 0 ? config_pool_mode_name(dc->pool_mode) : NULL, NULL,
		       dc->max_db_connections >= 0 ? dc->max_db_connections : s->cfg.max_db_connections, db->nservers,
		       0, db_client_count(s, db), db->paused || db->killed ? 1 : 0,
		       db->disabled ? 1 : 0);
	}
	rs_end(&rs);
}

static int count_used(const struct sift *s, const struct pool *p)
{
	const struct list *it;
	int n = 0;

	list_for_each(it, &p->idle_servers) {
		const struct server *sv = list_entry(it, struct server, node);
		n += s->now - sv->last_used > s->cfg.server_check_delay;
	}
	return n;
}

static int count_sending_cancels(const struct pool *p)
{
	const struct list *it;
	int n = 0;

	list_for_each(it, &p->active_servers)
		n += !list_empty(&list_entry(it, struct server, node)->cancels);
	return n;
}

static void show_pools(struct client *cl)
{
	struct sift *s = cl->sift;
	struct list *it;
	struct rs rs;

	rs_begin(&rs, cl, "ssiiiiiiiiiiiiiss", "database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req",
		 "cl_waiting_cancel_req", "sv_active", "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used",
		 "sv_tested", "sv_login", "maxwait", "maxwait_us", "pool_mode", "load_balance_hosts");
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		int64_t maxwait = 0;
		int used = count_used(s, p);
		if (!list_empty(&p->waiting_clients))
			maxwait = s->now - list_entry(p->waiting_clients.next, struct client, node)->wait_start;
		rs_row(&rs, p->db->name, p->user->name,
		       (int)(list_count(&p->idle_clients) + list_count(&p->active_clients)),
		       (int)(list_count(&p->waiting_clients) + list_count(&p->login_clients)), 0, 0,
		       (int)list_count(&p->active_servers), count_sending_cancels(p),
		       (int)list_count(&p->canceling_servers), (int)list_count(&p->idle_servers) - used, used,
		       (int)list_count(&p->tested_servers), (int)list_count(&p->new_servers),
		       (int)(maxwait / 1000000), (int)(maxwait % 1000000), config_pool_mode_name(pool_mode_of(s, p)),
		       NULL);
	}
	rs_row(&rs, "pgsift", "pgsift", (int)list_count(&s->admin_clients), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	       "statement", NULL);
	rs_end(&rs);
}

void fmt_time(int64_t wall_usec, char *out, size_t outlen)
{
	time_t t = (time_t)(wall_usec / 1000000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* Converts a monotonic timestamp to wall-clock microseconds. */
static int64_t mono_to_wall(const struct sift *s, int64_t mono)
{
	return sift_wall_usec() - (s->now - mono);
}

static void local_addr_of(int fd, char *out, size_t outlen, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct peer_addr pa = { 0 };

	*port = 0;
	snprintf(out, outlen, "unix");
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		pa.family = AF_INET;
		memcpy(pa.a, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		pa.family = AF_INET6;
		memcpy(pa.a, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		*port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	} else
		return;
	peer_addr_str(&pa, out, outlen);
}

#define CONN_COLS "ssssssisissiiississii"
#define CONN_NAMES "type", "user", "database", "replication", "state", "addr", "port", "local_addr", "local_port", \
	"connect_time", "request_time", "wait", "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls", \
	"application_name", "prepared_statements", "id"

static void client_row(struct rs *rs, const struct sift *s, const struct client *cl)
{
	char addr[64], laddr[64], ct[40], rt[40], ptr[32], link[32], tls[96];
	int lport;
	int64_t wait = cl->state == CL_WAITING ? s->now - cl->wait_start : 0;
	const struct istr *app = s->nparams > 4 ? cl->vals.v[4] : NULL;

	local_addr_of(cl->c.fd, laddr, sizeof(laddr), &lport);
	fmt_time(cl->connect_time, ct, sizeof(ct));
	fmt_time(mono_to_wall(s, cl->request_time), rt, sizeof(rt));
	snprintf(ptr, sizeof(ptr), "%p", (const void *)cl);
	if (cl->server)
		snprintf(link, sizeof(link), "%p", (const void *)cl->server);
	else
		link[0] = 0;
	rs_row(rs, "C", cl->user ? cl->user->name : "", cl->db ? cl->db->name : "", "none", client_state_name(cl),
	       peer_addr_str(&cl->addr, addr, sizeof(addr)), (int)cl->addr.port, laddr, lport, ct, rt,
	       (int)(wait / 1000000), (int)(wait % 1000000), 0, ptr, link, 0, tls_describe(cl->c.tls, tls, sizeof(tls)),
	       app ? app->s : "", (int)ps_client_count(cl), (int)cl->id);
}

static void client_list_rows(struct rs *rs, const struct sift *s, const struct list *l)
{
	const struct list *it;

	list_for_each(it, l)
		client_row(rs, s, list_entry(it, struct client, node));
}

static void show_clients(struct client *cl)
{
	struct sift *s = cl->sift;
	struct list *it;
	struct rs rs;

	rs_begin(&rs, cl, CONN_COLS, CONN_NAMES);
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		client_list_rows(&rs, s, &p->active_clients);
		client_list_rows(&rs, s, &p->waiting_clients);
		client_list_rows(&rs, s, &p->idle_clients);
		client_list_rows(&rs, s, &p->login_clients);
	}
	client_list_rows(&rs, s, &s->admin_clients);
	rs_end(&rs);
}

static void server_rows(struct rs *rs, const struct sift *s, const struct list *l)
{
	const struct list *it;

	list_for_each(it, l) {
		const struct server *sv = list_entry(it, struct server, node);
		const struct db *db = sv->pool->db;
		char laddr[64], ct[40], rt[40], ptr[32], link[32], tls[96];
		const struct istr *app = sv->client && s->nparams > 4 ? sv->client->vals.v[4] : NULL;
		const char *state = server_state_name(sv);
		if (sv->state == SV_IDLE && s->now - sv->last_used > s->cfg.server_check_delay)
			state = "used";
		else if (sv->state == SV_ACTIVE && !list_empty(&sv->cancels))
			state = "active_cancel";
		peer_addr_str(&sv->local, laddr, sizeof(laddr));
		fmt_time(sv->connect_time, ct, sizeof(ct));
		fmt_time(mono_to_wall(s, sv->last_used ? sv->last_used : sv->created), rt, sizeof(rt));
		snprintf(ptr, sizeof(ptr), "%p", (const void *)sv);
		if (sv->client)
			snprintf(link, sizeof(link), "%p", (const void *)sv->client);
		else
			link[0] = 0;
		rs_row(rs, "S", sv->pool->user->name, db->name, "none", state,
		       db->conf.host && db->conf.host[0] != '/' ? db->conf.host : "unix", db->conf.port, laddr,
		       (int)sv->local.port, ct, rt, 0, 0, server_expired(sv) ? 1 : 0, ptr, link, (int)sv->backend_pid,
		       tls_describe(sv->c.tls, tls, sizeof(tls)), app ? app->s : "", (int)ps_server_count(sv), (int)sv->id);
	}
}

static void show_servers(struct client *cl)
{
	struct sift *s = cl->sift;
	struct list *it;
	struct rs rs;

	rs_begin(&rs, cl, CONN_COLS, CONN_NAMES);
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		server_rows(&rs, s, &p->active_servers);
		server_rows(&rs, s, &p->idle_servers);
		server_rows(&rs, s, &p->tested_servers);
		server_rows(&rs, s, &p->new_servers);
		server_rows(&rs, s, &p->canceling_servers);
	}
	rs_end(&rs);
}

/* ---- statistics ---- */

enum stats_view { STATS_ALL, STATS_TOTALS, STATS_AVERAGES };

static void show_stats(struct client *cl, enum stats_view view)
{
	struct sift *s = cl->sift;
	struct list *it;
	struct rs rs;

	if (view == STATS_ALL)
		rs_begin(&rs, cl, "sNNNNNNNNNNNNNNNNNNNNNN", "database", "total_server_assignment_count",
			 "total_xact_count", "total_query_count", "total_received", "total_sent", "total_xact_time",
			 "total_query_time", "total_wait_time", "total_client_parse_count", "total_server_parse_count",
			 "total_bind_count", "avg_server_assignment_count", "avg_xact_count", "avg_query_count",
			 "avg_recv", "avg_sent", "avg_xact_time", "avg_query_time", "avg_wait_time",
			 "avg_client_parse_count", "avg_server_parse_count", "avg_bind_count");
	else
		rs_begin(&rs, cl, "sNNNNNNNNNNN", "database", "server_assignment_count", "xact_count", "query_count",
			 "bytes_received", "bytes_sent", "xact_time", "query_time", "wait_time",
			 view == STATS_TOTALS ? "client_parse_count" : "avg_client_parse_count",
			 view == STATS_TOTALS ? "server_parse_count" : "avg_server_parse_count",
			 view == STATS_TOTALS ? "bind_count" : "avg_bind_count");
	list_for_each(it, &s->dbs) {
		struct db *db = list_entry(it, struct db, node);
		struct stats t;
		const struct stats *a = &db->stats_avg;
		if (db->admin || db->removed || db->template)
			continue;
		pool_db_totals(s, db, &t);
		if (view == STATS_ALL)
			rs_row(&rs, db->name, t.server_assignment_count, t.xact_count, t.query_count, t.bytes_recv,
			       t.bytes_sent, t.xact_time, t.query_time, t.wait_time, t.client_parse_count,
			       t.server_parse_count, t.bind_count, a->server_assignment_count, a->xact_count,
			       a->query_count, a->bytes_recv, a->bytes_sent, a->xact_time, a->query_time, a->wait_time,
			       a->client_parse_count, a->server_parse_count, a->bind_count);
		else {
			const struct stats *v = view == STATS_TOTALS ? &t : a;
			rs_row(&rs, db->name, v->server_assignment_count, v->xact_count, v->query_count, v->bytes_recv,
			       v->bytes_sent, v->xact_time, v->query_time, v->wait_time, v->client_parse_count,
			       v->server_parse_count, v->bind_count);
		}
	}
	rs_end(&rs);
}

static void show_lists(struct client *cl)
{
	struct sift *s = cl->sift;
	const struct list *it;
	int used_clients = 0, used_servers = 0, login = (int)list_count(&s->login_clients);
	struct rs rs;

	list_for_each(it, &s->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		used_clients += (int)(list_count(&p->idle_clients) + list_count(&p->active_clients) +
				      list_count(&p->waiting_clients) + list_count(&p->login_clients));
		used_servers += p->nservers;
	}
	used_clients += (int)list_count(&s->admin_clients);
	rs_begin(&rs, cl, "si", "list", "items");
	rs_row(&rs, "databases", (int)list_count(&s->dbs));
	rs_row(&rs, "users", (int)list_count(&s->users));
	rs_row(&rs, "peers", 0);
	rs_row(&rs, "pools", (int)list_count(&s->pools));
	rs_row(&rs, "peer_pools", 0);
	rs_row(&rs, "free_clients", (int)list_count(&s->free_clients));
	rs_row(&rs, "used_clients", used_clients + login);
	rs_row(&rs, "login_clients", login);
	rs_row(&rs, "free_servers", (int)list_count(&s->free_servers));
	rs_row(&rs, "used_servers", used_servers);
	rs_row(&rs, "dns_names", 0);
	rs_row(&rs, "dns_zones", 0);
	rs_row(&rs, "dns_queries", 0);
	rs_row(&rs, "dns_pending", 0);
	rs_end(&rs);
}

static int user_client_count(const struct sift *s, const struct user *u)
{
	const struct list *it, *j;
	int n = 0;

	list_for_each(it, &s->pools) {
		const struct pool *p = list_entry(it, struct pool, node);
		const struct list *lists[] = { &p->idle_clients, &p->active_clients, &p->waiting_clients,
					       &p->login_clients };
		for (size_t i = 0; i < 4; i++)
			list_for_each(j, lists[i])
				n += list_entry(j, struct client, node)->user == u;
	}
	return n;
}

static void show_users(struct client *cl)
{
	struct sift *s = cl->sift;
	struct list *it;
	struct rs rs;

	rs_begin(&rs, cl, "ssssiiii", "name", "pool_size", "reserve_pool_size", "pool_mode", "max_user_connections",
		 "current_connections", "max_user_client_connections", "current_client_connections");
	list_for_each(it, &s->users) {
		struct user *u = list_entry(it, struct user, node);
		rs_row(&rs, u->name, "", "", u->pool_mode >= 0 ? config_pool_mode_name(u->pool_mode) : NULL,
		       u->max_user_connections >= 0 ? u->max_user_connections : s->cfg.max_user_connections, u->nservers,
		       0, user_client_count(s, u));
	}
	rs_end(&rs);
}

/* ---- prepared statements ---- */

static void prepared_row(void *arg, const struct ps_stmt *st)
{
	struct rs *rs = arg;
	const char *query = (const char *)st->body;
	size_t qlen = strnlen(query, st->body_len);
	int nparams = 0;
	char hex[17];
	struct fp_result *fr = &rs->cl->sift->an.fr;

	if (qlen + 3 <= st->body_len)
		nparams = st->body[qlen + 1] << 8 | st->body[qlen + 2];
	fp_compute(query, qlen, FP_OPT_NO_TEXT | FP_OPT_NO_TAG, fr);
	fp_hex(fr->hash, hex);
	rs_row(rs, st->name, query, nparams, (int)st->nclients, (int)st->nservers, (int64_t)st->client_parses,
	       (int64_t)st->server_parses, (int64_t)st->binds, hex);
}

static void show_prepared_statements(struct client *cl)
{
	struct rs rs;

	rs_begin(&rs, cl, "ssiiiqqqs", "name", "query", "params", "clients", "servers", "client_parses",
		 "server_parses", "binds", "fingerprint");
	ps_foreach(cl->sift, prepared_row, &rs);
	rs_end(&rs);
}

/* ---- the analyzer ---- */

static void error_codes(const struct qentry *e, char *out, size_t outlen)
{
	size_t n = 0;

	out[0] = 0;
	for (int i = 0; i < QSTATS_ERR_SLOTS && n < outlen; i++)
		if (e->err[i].count)
			n += (size_t)snprintf(out + n, outlen - n, "%s%s:%llu", n ? " " : "", e->err[i].sqlstate,
					      (unsigned long long)e->err[i].count);
	if (e->err_other && n < outlen)
		snprintf(out + n, outlen - n, "%sother:%llu", n ? " " : "", (unsigned long long)e->err_other);
}

/* The database and user objects an entry was keyed with. */
static const char *entry_db(const struct qentry *e)
{
	return ((const struct db *)e->db)->name;
}

static const char *entry_user(const struct qentry *e)
{
	return ((const struct user *)e->user)->name;
}

static void show_queries(struct client *cl)
{
	struct sift *s = cl->sift;
	struct qentry **list;
	size_t n = qstats_sorted(&s->an.qs, &list);
	struct rs rs;

	rs_begin(&rs, cl, "ssssqDDDDDDDDqqsDsssssss", "fingerprint", "database", "user", "kind", "calls", "total_ms",
		 "mean_ms", "min_ms", "max_ms", "stddev_ms", "p50_ms", "p95_ms", "p99_ms", "rows", "errors",
		 "error_codes", "wait_ms", "first_seen", "last_seen", "application_name", "tag", "query", "sample",
		 "partial");
	for (size_t i = 0; i < n; i++) {
		const struct qentry *e = list[i];
		char hex[17], codes[160], first[40], last[40];
		fp_hex(e->fp, hex);
		error_codes(e, codes, sizeof(codes));
		fmt_time(e->first_seen, first, sizeof(first));
		fmt_time(e->last_seen, last, sizeof(last));
		rs_row(&rs, hex, entry_db(e), entry_user(e), fp_kind_name((enum fp_kind)e->kind), (int64_t)e->calls,
		       e->total_us / 1e3, e->calls ? (double)e->total_us / (double)e->calls / 1e3 : 0.0,
		       e->calls ? e->min_us / 1e3 : 0.0, e->max_us / 1e3, qstats_stddev_us(e) / 1e3,
		       hist_quantile(&e->hist, 0.50) / 1e3, hist_quantile(&e->hist, 0.95) / 1e3,
		       hist_quantile(&e->hist, 0.99) / 1e3, (int64_t)e->rows, (int64_t)e->errors, codes,
		       e->wait_us / 1e3, first, last, qstats_top_app(e), e->tag, e->text, e->sample,
		       e->partial ? "yes" : "no");
	}
	free(list);
	rs_end(&rs);
}

static void show_analyzer(struct client *cl)
{
	struct sift *s = cl->sift;
	struct rs rs;

	rs_begin(&rs, cl, "siiqqq", "analyzer", "fingerprints", "max_fingerprints", "evictions", "statements",
		 "untracked");
	rs_row(&rs, s->cfg.analyzer ? "on" : "off", (int)s->an.qs.used, (int)s->an.qs.max, (int64_t)s->an.qs.evictions,
	       (int64_t)s->an.statements, (int64_t)s->an.untracked);
	rs_end(&rs);
}

/* ---- the pool sizing advisor (doc/advisor.md) ---- */

static void show_pool_advice(struct client *cl)
{
	struct sift *s = cl->sift;
	struct list *it;
	struct rs rs;

	rs_begin(&rs, cl, "sssiiiDqDDDDDDDDDDDiDqDqDDDqDDDDiDqqqIIsIDDss", "database", "user", "pool_mode", "pool_size",
		 "reserve_pool_size", "servers", "window_s", "xacts", "arrival_rate", "arrival_cv2", "hold_mean_ms",
		 "hold_p50_ms", "hold_p95_ms", "hold_p99_ms", "hold_cv2", "wait_p50_ms", "wait_p95_ms", "wait_p99_ms", "busy_mean", "busy_peak",
		 "utilization", "queued", "queued_ms", "reserve_used", "connects_per_min", "login_ms", "total_s",
		 "total_xacts", "total_arrival_rate", "total_hold_p50_ms", "total_hold_p99_ms", "total_wait_p99_ms",
		 "total_busy_peak", "total_utilization", "total_queued", "total_reserve_used", "total_connects",
		 "pg_max_connections", "pg_connections", "pg_status", "recommended_size", "predicted_wait_p99_ms",
		 "current_predicted_wait_p99_ms", "confidence", "reason");
	list_for_each(it, &s->pools) {
		struct pool *p = list_entry(it, struct pool, node);
		struct advisor_row r;
		const struct adv_measure *w = &r.win, *a = &r.all;
		advisor_report(p, &r);
		rs_row(&rs, p->db->name, p->user->name, config_pool_mode_name(pool_mode_of(s, p)), r.size, r.reserve,
		       r.servers, w->seconds, (int64_t)w->xacts, w->arrival_rate, w->arrival_cv2, w->hold_mean_ms,
		       w->hold_p50_ms, w->hold_p95_ms, w->hold_p99_ms, w->hold_cv2, w->wait_p50_ms, w->wait_p95_ms, w->wait_p99_ms, w->busy_mean,
		       w->busy_peak, w->utilization, (int64_t)w->queued, w->queued_ms, (int64_t)w->reserve_used,
		       w->connects_per_min, w->login_mean_ms, a->seconds, (int64_t)a->xacts, a->arrival_rate,
		       a->hold_p50_ms, a->hold_p99_ms, a->wait_p99_ms, a->busy_peak, a->utilization, (int64_t)a->queued,
		       (int64_t)a->reserve_used, (int64_t)(a->connects_per_min * a->seconds / 60 + 0.5), r.pg_max,
		       r.pg_used, r.pg_status, r.advice.advised ? r.advice.recommended : -1,
		       r.advice.predicted_p99_ms, r.advice.current_p99_ms, r.confidence, r.advice.reason);
	}
	rs_end(&rs);
}

/* ---- commands ---- */

#define MAX_TOKENS 8

/* Splits a console command into words, '=' and quoted strings. Returns the
 * number of tokens or -1 on a syntax error (unterminated quote, too many or
 * too long tokens, text after ';'). */
static int tokenize(const char *q, size_t len, struct tok *t, int max)
{
	const char *p = q, *end = q + len;
	int n = 0;

	while (p < end && *p) {
		size_t k = 0;
		if (isspace((unsigned char)*p)) {
			p++;
			continue;
		}
		if (*p == ';') {
			for (p++; p < end && *p; p++)
				if (!isspace((unsigned char)*p))
					return -1;
			break;
		}
		if (n == max)
			return -1;
		t[n].quoted = false;
		if (*p == '=') {
			strcpy(t[n].v, "=");
			p++;
		} else if (*p == '\'' || *p == '"') {
			char qc = *p++;
			for (;; p++) {
				if (p >= end || !*p)
					return -1;
				if (*p == qc && (p + 1 >= end || p[1] != qc))
					break;
				if (*p == qc)
					p++;
				if (k + 1 >= sizeof(t[n].v))
					return -1;
				t[n].v[k++] = *p;
			}
			p++;
			t[n].v[k] = 0;
			t[n].quoted = true;
		} else {
			while (p < end && *p && !isspace((unsigned char)*p) && *p != '=' && *p != ';') {
				if (k + 1 >= sizeof(t[n].v))
					return -1;
				t[n].v[k++] = *p++;
			}
			t[n].v[k] = 0;
		}
		n++;
	}
	return n;
}

void admin_err(struct client *cl, const char *sqlstate, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	proto_error(&cl->c.gen, false, sqlstate, msg);
}

static void cmd_show(struct client *cl, const struct tok *t, int n)
{
	static const struct {
		const char *name;
		void (*fn)(struct client *);
	} shows[] = {
		{ "help", show_help }, { "version", show_version }, { "config", show_config },
		{ "databases", show_databases }, { "pools", show_pools }, { "clients", show_clients },
		{ "servers", show_servers }, { "lists", show_lists }, { "users", show_users },
		{ "queries", show_queries }, { "analyzer", show_analyzer }, { "pool_advice", show_pool_advice },
		{ "prepared_statements", show_prepared_statements },
		{ "nplusone", show_nplusone }, { "slow", show_slow }, { "slow_plans", show_slow_plans }, { "hazards", show_hazards },
	};

	if (n != 2) {
		admin_err(cl, "42601", "SHOW needs one argument; use SHOW HELP");
		return;
	}
	for (size_t i = 0; i < sizeof(shows) / sizeof(shows[0]); i++)
		if (is_word(&t[1], shows[i].name)) {
			shows[i].fn(cl);
			return;
		}
	if (is_word(&t[1], "stats"))
		show_stats(cl, STATS_ALL);
	else if (is_word(&t[1], "stats_totals"))
		show_stats(cl, STATS_TOTALS);
	else if (is_word(&t[1], "stats_averages"))
		show_stats(cl, STATS_AVERAGES);
	else
		admin_err(cl, "42601", "unknown SHOW argument \"%s\"; use SHOW HELP", t[1].v);
}

/* Runs one console command; appends its reply to the client's output. */
static void admin_exec(struct client *cl, const char *q, size_t len)
{
	struct tok t[MAX_TOKENS];
	int n = tokenize(q, len, t, MAX_TOKENS);

	if (n < 0) {
		admin_err(cl, "42601", "invalid command syntax; use SHOW HELP");
		return;
	}
	if (n == 0) {
		pkt_begin(&cl->c.gen, 'I');
		pkt_end(&cl->c.gen);
		return;
	}
	if (is_word(&t[0], "show")) {
		cmd_show(cl, t, n);
		return;
	}
	if (cl->stats_only) {
		admin_err(cl, "42501", "admin access needed");
		return;
	}
	if (is_word(&t[0], "pause"))
		cmd_pause(cl, t, n);
	else if (is_word(&t[0], "resume"))
		cmd_resume(cl, t, n);
	else if (is_word(&t[0], "kill"))
		cmd_kill(cl, t, n);
	else if (is_word(&t[0], "kill_client"))
		cmd_kill_client(cl, t, n);
	else if (is_word(&t[0], "disable") || is_word(&t[0], "enable"))
		cmd_disable(cl, t, n, is_word(&t[0], "disable"));
	else if (is_word(&t[0], "reconnect"))
		cmd_reconnect(cl, t, n);
	else if (is_word(&t[0], "wait_close"))
		cmd_wait_close(cl, t, n);
	else if (is_word(&t[0], "set"))
		cmd_set(cl, t, n);
	else if (is_word(&t[0], "shutdown"))
		cmd_shutdown(cl, t, n);
	else if (is_word(&t[0], "reset") && n == 2 && is_word(&t[1], "queries")) {
		qstats_reset(&cl->sift->an.qs);
		an_drop_samples(&cl->sift->an); /* and SHOW SLOW's literals */
		command_complete(&cl->c.gen, "RESET");
	}
	else if (is_word(&t[0], "reload") && n == 1) {
		if (sift_reload(cl->sift))
			command_complete(&cl->c.gen, "RELOAD");
		else
			admin_err(cl, "F0000", "RELOAD failed: the configuration file has errors (see the log); the running configuration is kept");
	} else
		admin_err(cl, "42601", "invalid command \"%s\"; use SHOW HELP", t[0].v);
}

void admin_input(struct client *cl)
{
	struct iobuf *b;
	uint32_t mark = conn_gen_mark(&cl->c);

	while (!cl->admin_wait && (b = cl->c.in) && b->end - b->pos >= PROTO_HDR) {
		uint8_t type = b->data[b->pos];
		uint32_t len = proto_get_u32(b->data + b->pos + 1);
		if (len < 4 || len > ADMIN_QUERY_MAX) {
			client_close(cl, "08P01", len < 4 ? "invalid message length" : "command too long for the admin console");
			return;
		}
		if (b->end - b->pos < len + 1)
			break;
		b->pos += len + 1;
		if (type == 'X') {
			client_close(cl, NULL, "client close request");
			return;
		}
		if (type != 'Q') {
			client_close(cl, "08P01", "the admin console supports only the simple query protocol");
			return;
		}
		admin_exec(cl, (const char *)b->data + b->pos - len + 4, len - 4);
		if (cl->state == CL_FREE)
			return;
		if (!cl->admin_wait)
			proto_ready(&cl->c.gen, 'I');
	}
	if (!conn_gen_commit(&cl->c, mark) || conn_flush(&cl->c) == CONN_IO_ERROR) {
		client_close(cl, NULL, "cannot send console results");
		return;
	}
	conn_trim(&cl->c);
	conn_update(&cl->c);
}

const struct console_ops admin_console_ops = { admin_welcome, admin_input };
