/*
 * fake_pg: a fake PostgreSQL for the client fuzz target (fuzz_client.c), on
 * a Unix socket, served by the pooler's own event loop. It answers the
 * protocol as PostgreSQL does for what the target sends: a trust login with
 * the usual ParameterStatus set; simple queries (one row, or the command's
 * tag; "err..." fails; BEGIN, COMMIT, ROLLBACK, DISCARD ALL, DEALLOCATE
 * ALL, SET, DO); Parse, Bind, Describe, Execute (with PortalSuspended for a
 * row limit), Close of named and unnamed statements and portals; after an
 * extended-protocol error it skips everything to the next Sync; a failed
 * transaction refuses with 25P02; CopyData, CopyDone, CopyFail outside COPY
 * are ignored; a CancelRequest closes the connection. It never answers
 * before it has a message whole, and reads nothing while its own answers
 * wait to be written (as PostgreSQL blocks on a full socket).
 */
#ifndef PGSIFT_FAKE_PG_H
#define PGSIFT_FAKE_PG_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdio.h>

/* Listens on dir/.s.PGSQL.5432 (once per process). false: it cannot. */
bool fake_pg_listen(const char *dir);
/* Serves connections on base until fake_pg_detach(), which closes them. */
void fake_pg_attach(struct event_base *base);
void fake_pg_detach(void);
/* The next n messages any connection reads fail (an ERROR, as PostgreSQL
 * fails them); the next connection to read a message closes instead. */
void fake_pg_fail_next(int n);
void fake_pg_drop_next(void);
/* Each connection's state, for a failure report. */
void fake_pg_dump(FILE *f);

#endif
