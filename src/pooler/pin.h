/*
 * pin: session state pgsift cannot replay keeps the client on its server
 * (doc/session-state.md, "Pinning").
 *
 * A client that creates a temp table (not ON COMMIT DROP), a WITH HOLD
 * cursor, a session advisory lock, or runs SET ROLE / SET SESSION
 * AUTHORIZATION in transaction mode keeps its server at the end of its
 * transaction ("pinned") until that state is gone or it leaves. What is
 * there is asked of the server, not guessed from the text: when a
 * transaction ran a statement that may have created (or, for a pinned
 * client, removed) such state, pgsift sends one probe query before the
 * server would go back to the pool, and its row says what is left. A
 * client that never runs such a statement costs nothing: session.c sees
 * its statements only when their text may change session state.
 *
 * At most max_pinned_per_pool clients of a pool are pinned (or have a
 * pinning statement in flight); past it the statement that would pin is
 * refused with 53300 before it reaches the server (client.c).
 */
#ifndef PGSIFT_PIN_H
#define PGSIFT_PIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pooler/sift.h"

struct ss_stmt;

enum pin_why {
	PIN_TEMP = 1,	    /* temp relations */
	PIN_CURSOR = 2,	    /* WITH HOLD cursors */
	PIN_LOCK = 4,	    /* session advisory locks */
	PIN_ROLE = 8,	    /* SET ROLE / SET SESSION AUTHORIZATION */
	PIN_UNKNOWN = 16    /* the probe failed: kept, to be safe */
};

#define PIN_REASONS_LEN 64

/* What one classified statement (session_sql.h) of text p[0..n) would
 * pin: PIN_* bits, 0 for none. */
unsigned pin_of_stmt(const struct ss_stmt *st, const char *p, size_t n);

/* What the statements of a whole text would pin (0 for the usual text:
 * one ss_sql_maybe() pass). */
unsigned pin_of_text(const char *p, size_t n);

/* May this text of a pinned client remove its pinned state (DROP,
 * DISCARD, CLOSE, RESET, SET ROLE, ..._unlock)? */
bool pin_may_release(const char *p, size_t n);

/* A statement that may pin (why: PIN_*) went to the server: the client is
 * counted against the cap and its server probed at the transaction's end.
 * Nothing when pin_session_state is off. */
void pin_note(struct client *cl, unsigned why);

/* The most clients of pool p that may be pinned. */
int pin_cap(const struct sift *s, const struct pool *p);

/* Must a statement that would pin be refused (the pool is at its cap and
 * this client is not counted yet)? Cheap when no client of the pool is
 * pinned. */
static inline bool pin_full(const struct client *cl, const struct pool *p, const struct sift *s)
{
	return __builtin_expect(p->npinned > 0, 0) && !cl->pin_counted && p->npinned >= pin_cap(s, p);
}

/* The error text of a refusal, and the statement that makes the server
 * raise it (inside a transaction block, so that the block fails as
 * PostgreSQL fails it). */
void pin_refusal_message(const struct client *cl, char *buf, size_t len);
void pin_refusal_sql(const struct client *cl, char *buf, size_t len);

/* At a ReadyForQuery that would release the server: true when the server
 * stays with the client (it is pinned, or the probe was just sent). */
bool pin_keep(struct server *sv, struct client *cl) __attribute__((warn_unused_result));

/* The probe's reply messages (injected_reply() in server.c). */
void pin_probe_reply(struct server *sv, uint8_t type, const uint8_t *body, uint32_t len);

/* The probe is done: the client's pinned state is what it found. true
 * when the client is not pinned any more. */
bool pin_probe_done(struct server *sv, struct client *cl);

/* The client is closing: no longer counted. */
void pin_client_gone(struct client *cl);

/* "temp_table,cursor,advisory_lock,role" for the bits set; "" for none. */
const char *pin_reasons(unsigned pin, char *buf, size_t len);

/* A statement that would have pinned (why: PIN_*) was refused at the
 * cap: counted per pool and kind (SHOW HAZARDS' refused). */
void pin_refused_note(struct client *cl, unsigned why);

#endif
