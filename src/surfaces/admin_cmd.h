/*
 * admin_cmd: what the console's parser (admin.c) and its control commands
 * (admin_ctl.c) share. Internal to the console.
 */
#ifndef PGSIFT_ADMIN_CMD_H
#define PGSIFT_ADMIN_CMD_H

#include <stdbool.h>
#include <strings.h>

#include "pooler/sift.h"

/* One word of a console command: a bare word, '=', or a quoted string. */
struct tok {
	char v[256];
	bool quoted;
};

/* t is the bare word w (any case) */
static inline bool is_word(const struct tok *t, const char *w)
{
	return !t->quoted && strcasecmp(t->v, w) == 0;
}

/* An ErrorResponse (severity ERROR) to the console client */
void admin_err(struct client *cl, const char *sqlstate, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A CommandComplete with tag */
void command_complete(struct pktbuf *pb, const char *tag);

/* The console waits before it answers (cl->admin_wait): PAUSE and
 * WAIT_CLOSE until admin_janitor() sees their condition hold, SQL until
 * the worker's answer is back (admin_ext.c). */
enum { ADMIN_WAIT_NONE, ADMIN_WAIT_PAUSE, ADMIN_WAIT_CLOSE, ADMIN_WAIT_SQL, ADMIN_WAIT_SUSPEND };

/* Runs one console command of the simple query protocol (not SQL);
 * appends its reply, without ReadyForQuery, to the client's output. */
void admin_command(struct client *cl, const char *q, size_t len);

/* The control commands: t[0] is the command's word, n the number of words.
 * Each answers (CommandComplete or ErrorResponse) or, for PAUSE, SUSPEND
 * and WAIT_CLOSE, leaves the answer to admin_janitor(). */
void cmd_pause(struct client *cl, const struct tok *t, int n);
void cmd_resume(struct client *cl, const struct tok *t, int n);
void cmd_suspend(struct client *cl, int n);
void cmd_disable(struct client *cl, const struct tok *t, int n, bool disable);
void cmd_reconnect(struct client *cl, const struct tok *t, int n);
void cmd_wait_close(struct client *cl, const struct tok *t, int n);
void cmd_kill(struct client *cl, const struct tok *t, int n);
void cmd_kill_client(struct client *cl, const struct tok *t, int n);
void cmd_set(struct client *cl, const struct tok *t, int n);
void cmd_shutdown(struct client *cl, const struct tok *t, int n);

#endif
