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

#include "surfaces/admin_cmd.h"
#include "pooler/client.h"
#include "util/log.h"
#include "pooler/objects.h"
#include "pooler/pool.h"
#include "pooler/server.h"
#include "views/view.h"


/* ---- SHOW: a view rendered as PgBouncer's result set ---- */

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
	case 'b':
		return 16;
	default:
		return 25;
	}
}

static int16_t type_len(char t)
{
	return t == 'i' || t == 'I' ? 4 : t == 'q' ? 8 : t == 'b' ? 1 : -1;
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

struct show_sink {
	struct view_sink sink;
	struct pktbuf *pb;
};

/* One DataRow, every value in text format, as PgBouncer sends them. */
static void show_row_cb(struct view_sink *sink, const struct view_val *vals)
{
	struct pktbuf *pb = ((struct show_sink *)sink)->pb;
	const struct view *v = sink->view;
	char num[40];

	pkt_begin(pb, 'D');
	pkt_put_u16(pb, (uint16_t)v->ncols);
	for (int c = 0; c < v->ncols; c++) {
		const struct view_val *x = &vals[c];
		if (x->kind == VK_NULL) {
			put_text(pb, NULL);
			continue;
		}
		switch (v->cols[c].type) {
		case 'N':
			snprintf(num, sizeof(num), "%" PRIu64, (uint64_t)x->u.i);
			break;
		case 'D':
			snprintf(num, sizeof(num), "%.3f", x->u.d);
			if (!isfinite(x->u.d)) {
				put_text(pb, NULL);
				continue;
			}
			break;
		case 'T':
			view_fmt_time(x->u.i, num, sizeof(num));
			break;
		case 'b':
			snprintf(num, sizeof(num), "%s", x->u.i ? "t" : "f");
			break;
		case 's':
			put_text(pb, x->u.s);
			continue;
		default:
			snprintf(num, sizeof(num), "%" PRId64, x->u.i);
			break;
		}
		put_text(pb, num);
	}
	pkt_end(pb);
}

void admin_show_rowdesc(struct pktbuf *pb, const struct view *v)
{
	pkt_begin(pb, 'T');
	pkt_put_u16(pb, (uint16_t)v->ncols);
	for (int c = 0; c < v->ncols; c++) {
		pkt_put_str(pb, v->cols[c].name);
		pkt_put_u32(pb, 0);
		pkt_put_u16(pb, 0);
		pkt_put_u32(pb, type_oid(v->cols[c].type));
		pkt_put_u16(pb, (uint16_t)type_len(v->cols[c].type));
		pkt_put_u32(pb, 0xffffffffu);
		pkt_put_u16(pb, 0);
	}
	pkt_end(pb);
}

void admin_show_rows(struct client *cl, const struct view *v)
{
	struct show_sink ss = { { v, show_row_cb, 0, false }, &cl->c.gen };

	v->rows(cl->sift, &ss.sink);
	command_complete(ss.pb, "SHOW");
}

void admin_show_view(struct client *cl, const struct view *v)
{
	admin_show_rowdesc(&cl->c.gen, v);
	admin_show_rows(cl, v);
}

void command_complete(struct pktbuf *pb, const char *tag)
{
	pkt_begin(pb, 'C');
	pkt_put_str(pb, tag);
	pkt_end(pb);
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
		     "\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|LISTS|TOTALS|STATE|MEM\n"
		     "\tSHOW SOCKETS|ACTIVE_SOCKETS|DNS_HOSTS|DNS_ZONES|PEERS|PEER_POOLS\n"
		     "\tSHOW QUERIES|ANALYZER|PREPARED_STATEMENTS|LISTENERS|POOL_ADVICE\n"
		     "\tSHOW NPLUSONE|SLOW|SLOW_PLANS|HAZARDS\n"
		     "\tSHOW QUERY_HISTORY|POOL_HISTORY|QUERY_HISTOGRAM|POOL_HISTOGRAM|PROCESS\n"
		     "\tSHOW VIEWS|COLUMNS\n"
		     "\tRESET QUERIES\n"
		     "\tSET key = arg\n"
		     "\tSET pool_size|reserve_pool_size|min_pool_size = N|default FOR DATABASE db\n"
		     "\tRELOAD\n"
		     "\tPAUSE [<db>]\n"
		     "\tSUSPEND\n"
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
	const struct view *v;

	if (n != 2) {
		admin_err(cl, "42601", "SHOW needs one argument; use SHOW HELP");
		return;
	}
	if (is_word(&t[1], "help"))
		show_help(cl);
	else if (!t[1].quoted && (v = view_find(t[1].v)))
		admin_show_view(cl, v);
	else
		admin_err(cl, "42601", "unknown SHOW argument \"%s\"; use SHOW HELP", t[1].v);
}

/* Runs one console command; appends its reply to the client's output. */
void admin_command(struct client *cl, const char *q, size_t len)
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
	cl->sift->console_commands++;
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
	else if (is_word(&t[0], "suspend"))
		cmd_suspend(cl, n);
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
			admin_err(cl, "F0000", "RELOAD failed, see logs for additional details: the configuration file has errors; the running configuration is kept");
	} else
		admin_err(cl, "42601", "invalid command \"%s\"; use SHOW HELP", t[0].v);
}

