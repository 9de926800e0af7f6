/*
 * prepared: protocol-level named prepared statements in transaction (and
 * statement) pooling mode.
 *
 * A client's statement names map to shared statements, deduplicated by
 * (query text, parameter types) and known to servers under an internal
 * name ("pgsift_<id>"). Each server remembers which statements it has,
 * bounded by max_prepared_statements with least-recently-used eviction.
 * Parse of a statement the server already has is answered by pgsift;
 * Bind and Describe of one it lacks are preceded by a Parse whose reply
 * the client never sees.
 *
 * To keep the reply stream exactly what PostgreSQL would have sent, every
 * message passed to a server pushes what reply it expects onto the
 * server's reply queue (struct ps_rq): the server relay pairs each reply
 * with the head of that queue, drops the replies to pgsift's own messages,
 * answers for the messages pgsift did not forward at their place in the
 * stream, and, after an error, skips what PostgreSQL skips until the next
 * Sync. doc/prepared.md describes the behaviour and its limits.
 *
 * prepared.c is the reply queue and the relay's hooks; the tables are in
 * prepared_map.c, the reading of SQL text (PREPARE, DEALLOCATE, ...) in
 * prepared_sql.c.
 */
#ifndef PGSIFT_PREPARED_H
#define PGSIFT_PREPARED_H

#include <stdbool.h>
#include <stdint.h>

#include "util/list.h"

struct sift;
struct client;
struct server;
struct iobuf;

#define PS_NAME_PREFIX "pgsift_"

/* A statement shared by every client that prepared the same text. */
struct ps_stmt {
	struct ps_stmt *hnext;		/* registry chain */
	uint64_t hash;
	uint64_t id;
	uint32_t refs;			/* client names, server copies, queued replies */
	uint32_t nclients, nservers;
	uint32_t body_len;
	uint64_t client_parses, server_parses, binds;
	const void *ok_pool;		/* a pool whose server last parsed it without error */
	char name[24];			/* the internal name */
	uint8_t body[];			/* Parse body after the name: query, NUL, types */
};

struct ps_registry {
	struct ps_stmt **b;
	uint32_t mask, count;
	uint64_t next_id;
};

/* One entry of a server's reply queue. */
struct ps_rq_ent {
	uint8_t kind;
	uint8_t flags;
	struct ps_stmt *st;		/* referenced; NULL when none */
	char *aux;			/* client name, prepared error, or command tag */
	char cname[64];			/* Bind/Describe: the client's name for st (PostgreSQL's 63 bytes) */
};

struct ps_scan;

/* The kinds of reply queue entries */
enum ps_rq_kind {
	RQ_ONE,		/* Parse, Bind or Close passed on: one reply or an error */
	RQ_DESC_S,	/* Describe statement: ParameterDescription, then RowDescription or NoData */
	RQ_DESC_P,	/* Describe portal: RowDescription or NoData */
	RQ_EXEC,	/* Execute: rows, then CommandComplete/EmptyQuery/PortalSuspended */
	RQ_SYNC,	/* Sync: ReadyForQuery */
	RQ_QUERY,	/* Query or FunctionCall: everything up to ReadyForQuery */
	RQ_FAKE_PARSE,	/* not forwarded: pgsift answers ParseComplete */
	RQ_FAKE_CLOSE,	/* not forwarded: pgsift answers CloseComplete */
	RQ_HIDE_PARSE,	/* pgsift's own Parse: its ParseComplete is dropped */
	RQ_HIDE_CLOSE	/* pgsift's own Close (an eviction): its CloseComplete is dropped */
};

#define PS_LITE_MAX 16 /* a power of two, no more than the queue's first capacity */

struct ps_rq {
	struct ps_rq_ent *e;
	uint32_t head, n, cap;
	struct ps_scan *scan;		/* the text of a message being relayed as it comes, or NULL */
	uint32_t scan_left;		/* bytes of that message not yet read by scan */
	bool err;			/* an error: PostgreSQL skips to the next Sync */
	bool pop;			/* the reply being relayed completes the head */
	bool stalled;			/* the client waits for uncertain entries to resolve */
	uint32_t uncertain;		/* entries whose effect depends on PostgreSQL not skipping them */
	uint32_t fakes;			/* entries pgsift answers itself */
	uint32_t since_barrier;		/* entries pushed after the last Sync */
	uint32_t deferred;		/* entries that change the client's names when answered */
	/* entries without flags, statement or text pushed while the queue
	 * was empty (the usual unnamed statement, portal, Sync and plain
	 * query): their kinds only, replies counted by ps_lite_reply();
	 * they become queue entries before anything else is pushed, or
	 * when a reply needs more (an error, COPY) */
	uint8_t lite[PS_LITE_MAX];
	uint8_t lite_head, lite_n;
	struct ps_rq_ent *undo;		/* skipped entries, undone in reverse at the Sync */
	uint32_t nundo, capundo;
	uint8_t pop_flags;
};

struct ps_server;			/* statements a server has (lazy) */
struct ps_client;			/* a client's statement names (lazy) */

/* What the relay does with a message after ps_client_message(). */
enum ps_act {
	PS_PASS,	/* relay it as usual */
	PS_USED,	/* *used bytes of it were consumed; relay the rest */
	PS_STOP,	/* wait (more bytes, or room in an output queue) */
	PS_CLOSED	/* the client was closed */
};

void ps_registry_free(struct sift *s);

/* Is the feature on for this link (max_prepared_statements > 0 and not
 * session mode)? Decided when a server is linked to a client. */
bool ps_wanted(const struct sift *s, const struct server *sv);

/* A message from cl for sv, whole when it fits the buffer (len is its
 * length field, avail the bytes at b->pos). */
enum ps_act ps_client_message(struct client *cl, struct server *sv, struct iobuf *b, uint8_t type, uint32_t len,
			      uint32_t *used);

/* The largest Parse (of a named statement: its text is kept to be shared)
 * or Bind (whose names do not fit the buffer) that pgsift reads whole;
 * longer ones close the client with 54000. Other messages, and a simple
 * query or unnamed Parse of any size, stream through the buffer. */
#define PS_WHOLE_MAX (4u << 20)

/* The rest of a message whose text pgsift checks as it streams
 * (sv->rq.scan): n bytes at b->pos, before they are relayed. PS_PASS:
 * relay them. When they end the message and its text is refused (it names
 * one of pgsift's statements, or has SQL PREPARE or EXECUTE): PS_USED, a
 * simple query was relayed with its end made to fail, and the client gets
 * the refusal as an ERROR in place of the server's; PS_CLOSED, for a
 * Parse, the client was closed (FATAL), and its server, which has only part
 * of the message, with it. PS_STOP: wait for the server to drain. */
enum ps_act ps_stream(struct client *cl, struct server *sv, struct iobuf *b, uint32_t n);

/* A message from a client that has no server. Parse of a statement its
 * pool's servers parsed before, Close of a statement, and the Sync or
 * Flush after them are answered by pgsift (PS_USED: the whole message was
 * consumed); PS_PASS: it needs a server; PS_STOP: wait for more bytes. */
enum ps_act ps_local(struct client *cl, struct iobuf *b, uint8_t type, uint32_t len);

/* Does a reply of this type complete an entry of this kind (the kinds the
 * server answers: RQ_ONE to RQ_QUERY)? */
static inline bool ps_rq_completes(uint8_t kind, uint8_t type)
{
	switch (kind) {
	case RQ_ONE:
		return type == '1' || type == '2' || type == '3';
	case RQ_DESC_S:
	case RQ_DESC_P:
		return type == 'T' || type == 'n';
	case RQ_EXEC:
		return type == 'C' || type == 'I' || type == 's';
	case RQ_SYNC:
	case RQ_QUERY:
		return type == 'Z';
	default:
		return false;
	}
}

/* A reply while only lite entries are queued (rq.n == 0, rq.lite_n > 0),
 * as ps_reply() would take it for entries without flags: true when done
 * (rq.pop says it completes the head: ps_lite_pop() once it is relayed);
 * false: ps_reply() must see it. */
static inline bool ps_lite_reply(struct ps_rq *q, uint8_t type)
{
	switch (type) {
	case 'E': /* errors and COPY need the queue */
	case 'G':
		return false;
	case 'N':
	case 'A':
	case 'S':
	case 'D':
		return true;
	default:
		break;
	}
	q->pop = ps_rq_completes(q->lite[q->lite_head], type);
	return true;
}

static inline void ps_lite_pop(struct ps_rq *q)
{
	q->pop = false;
	q->lite_head = (uint8_t)((q->lite_head + 1) & (PS_LITE_MAX - 1));
	q->lite_n--;
}

/* A reply from sv (linked to cl) at its header, body holding avail bytes
 * (the whole body for the types the relay waits for). PS_PASS: relay it,
 * then call ps_reply_done(); PS_USED: it was dropped (or replaced); PS_STOP:
 * the client's output is full. */
enum ps_act ps_reply(struct server *sv, struct client *cl, uint8_t type, const uint8_t *body, uint32_t avail);
void ps_reply_done(struct server *sv, struct client *cl);
/* pgsift sent a Query of its own in the client's place (a refusal,
 * client.c): its replies go to the client like a Query's. false: out of
 * memory. */
bool ps_own_query(struct server *sv) __attribute__((warn_unused_result));

/* The client's input waits (stalled) until the replies to earlier batches
 * tell whether their prepared-statement changes happened: true when that
 * is over and the client should be resumed. */
bool ps_unstalled(struct server *sv);

/* Answers what can be answered now (pgsift's own replies at the head of
 * the queue, and what PostgreSQL skips after an error). false when the
 * client's output is full. */
bool ps_advance_slow(struct server *sv, struct client *cl);
static inline bool ps_advance_q(struct ps_rq *q, struct server *sv, struct client *cl)
{
	return (!q->err && !q->fakes) || ps_advance_slow(sv, cl);
}
#define ps_advance(sv, cl) ps_advance_q(&(sv)->rq, (sv), (cl))

/* A CommandComplete tag seen from sv (relayed or from our own query):
 * DISCARD ALL and DEALLOCATE ALL drop every statement the server had. */
void ps_server_tag(struct server *sv, const uint8_t *body, uint32_t len);

/* The server is closed, or its link ends. */
void ps_server_free(struct server *sv);
void ps_server_unlinked(struct server *sv);
void ps_client_free(struct client *cl);

/* Counts for the admin console. */
uint32_t ps_client_count(const struct client *cl);
uint32_t ps_server_count(const struct server *sv);
/* Calls fn for every statement in the registry. */
void ps_foreach(struct sift *s, void (*fn)(void *arg, const struct ps_stmt *st), void *arg);

#endif
