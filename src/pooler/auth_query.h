/*
 * auth_query: the secret of a user who is not in auth_file, read from
 * PostgreSQL, as PgBouncer's auth_user / auth_query / auth_dbname do.
 *
 * A lookup runs the auth query (its one parameter, $1, is the user name the
 * client sent) on pgsift's own libpq connection, logged in as the auth user,
 * to the database of the auth_dbname entry (else the client's). Connections
 * are kept per (entry, database, auth user) and serve lookups one at a time,
 * in arrival order; an idle one closes after server_idle_timeout. Nothing
 * blocks the event loop: PQconnectPoll and the query are driven by socket
 * events, and every step is bounded by server_connect_timeout.
 */
#ifndef PGSIFT_AUTH_QUERY_H
#define PGSIFT_AUTH_QUERY_H

#include <stdbool.h>
#include <stddef.h>

#include "pooler/sift.h"

#define AQ_SECRET_MAX 65536	/* longest secret taken from a reply */

/* Where a lookup runs. */
struct aq_target {
	struct db *db;		/* the entry whose host list and port are used ("*" too) */
	const char *dbname;	/* database on the server */
	const char *user;	/* the auth user */
	const char *password;	/* its password; NULL: none (trust on the server) */
};

enum aq_result {
	AQ_FOUND,		/* a row: secret holds its password (NULL: SQL NULL) */
	AQ_NOT_FOUND,		/* no row: no such user */
	AQ_REFUSED,		/* the server refused the auth user's login: error has its words */
	AQ_ERROR		/* no answer: error says why (logged already) */
};

/* Queues the lookup of name for cl (the client waits in its login). The
 * answer comes later, from the event loop, as client_auth_query_done();
 * never from inside this call. false, with the reason in err, when the
 * lookup could not be queued. */
bool auth_query_start(struct client *cl, const struct aq_target *t, const char *query, const char *name,
		      char *err, size_t errlen) __attribute__((warn_unused_result));

/* cl is closing: its lookup, queued or running, is forgotten. */
void auth_query_forget(struct client *cl);

/* Closes every auth_query connection (exit). */
void auth_query_free_all(struct sift *s);

#endif
