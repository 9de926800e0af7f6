/*
 * admin: the SQL console on the virtual database "pgsift" (or "pgbouncer"),
 * with PgBouncer's commands and SHOW column sets (doc/admin.md).
 */
#ifndef PGSIFT_ADMIN_H
#define PGSIFT_ADMIN_H

#include "pooler/sift.h"

/* Appends the console's ParameterStatus set to the client's output. */
void admin_welcome(struct client *cl, const char *client_encoding, const char *application_name);

/* Processes what a console client sent (simple query protocol). */
void admin_input(struct client *cl);

/* Answers PAUSE commands whose wait is over (called periodically). */
void admin_janitor(struct sift *s);

struct view;

/* SHOW name: the view's rows as a PgBouncer-style result set (every value
 * in text format), appended to the client's output. */
void admin_show_view(struct client *cl, const struct view *v);
/* Its two halves (the extended protocol sends them apart): the
 * RowDescription, and the DataRows with CommandComplete. */
void admin_show_rowdesc(struct pktbuf *pb, const struct view *v);
void admin_show_rows(struct client *cl, const struct view *v);

/* The console as the pooler calls it (sift->console). */
extern const struct console_ops admin_console_ops;

#endif
