/*
 * session_sql: what a statement's text does to session state that
 * transaction pooling must carry (session.c): SET / RESET / RESET ALL /
 * set_config(name, value, false) of any parameter, DISCARD ALL, LISTEN
 * and UNLISTEN (fanned out: notify.h), and the state pgsift cannot replay (SET ROLE, temp tables, WITH HOLD cursors,
 * session advisory locks, LISTEN), which makes the server need a reset.
 *
 * Pure: no libevent, no libpq; unit-tested by test/unit/test_session_sql.c.
 * Every function reads p[0..n) and nothing else; p need not be
 * NUL-terminated.
 */
#ifndef PGSIFT_SESSION_SQL_H
#define PGSIFT_SESSION_SQL_H

#include <stdbool.h>
#include <stddef.h>

#define SS_NAME_MAX 64	 /* a parameter name, with NUL (PostgreSQL's NAMEDATALEN) */
#define SS_VALUE_MAX 8192 /* a value as kept: its form byte, text, NUL */

enum ss_kind {
	SS_NONE,      /* nothing pgsift carries (SET LOCAL, SELECT, ...) */
	SS_SET,	      /* name = value */
	SS_RESET,     /* name back to the session's default */
	SS_RESET_ALL, /* RESET ALL, DISCARD ALL */
	SS_DIRTY,     /* state pgsift does not replay: the server needs a reset */
	SS_PREPARE,   /* SQL PREPARE: name is '#' and the statement's name */
	SS_DEALLOCATE,	   /* DEALLOCATE [PREPARE] name (name as for SS_PREPARE) */
	SS_DEALLOCATE_ALL, /* DEALLOCATE [PREPARE] ALL */
	SS_LISTEN,	   /* LISTEN channel: name is the channel as PostgreSQL reads it */
	SS_UNLISTEN,	   /* UNLISTEN channel (name as for SS_LISTEN) */
	SS_UNLISTEN_ALL	   /* UNLISTEN * */
};

/* The command tag the statement completes with, to pair it with its
 * CommandComplete when statements are not counted one by one. */
enum ss_tag {
	SS_TAG_ANY, SS_TAG_SET, SS_TAG_RESET, SS_TAG_SELECT, SS_TAG_DISCARD, SS_TAG_PREPARE, SS_TAG_DEALLOCATE,
	SS_TAG_LISTEN, SS_TAG_UNLISTEN
};

/* What a dirty statement leaves (for SHOW HAZARDS' wording, not acted on). */
enum ss_dirty { SS_D_NONE, SS_D_ROLE, SS_D_TEMP, SS_D_HOLD, SS_D_LOCK, SS_D_LISTEN, SS_D_PREPARE, SS_D_OTHER };

struct ss_stmt {
	unsigned char kind;		/* enum ss_kind */
	unsigned char tag;		/* enum ss_tag */
	unsigned char dirty;		/* enum ss_dirty, for SS_DIRTY */
	/* lower case, [a-z0-9_$.] only; '#' and a statement name (as
	 * PostgreSQL reads it) for SS_PREPARE and SS_DEALLOCATE; the channel
	 * (any bytes but NUL, at most 63) for SS_LISTEN and SS_UNLISTEN */
	char name[SS_NAME_MAX + 1];
	/* value[0] is its form: 'S', SQL text to put after "SET name TO";
	 * 'L', a string as set_config() takes it; 'P', set_config()'s value
	 * is parameter $N (decimal N follows), which the Bind supplies; 'R',
	 * the whole PREPARE statement, to replay as it is */
	char value[SS_VALUE_MAX];
};

/* Could the text change session state at all? false for the usual
 * statement (one pass over the text, libc's memchr); true sends it to
 * ss_sql_next()/ss_sql_classify(). */
bool ss_sql_maybe(const char *p, size_t n) __attribute__((warn_unused_result));

/* The next statement of p[0..n) from *pos: its start *off and length *len,
 * without the ';' (blank statements skipped). false at the end. Splits at
 * ';' outside quotes, dollar quotes and comments. */
bool ss_sql_next(const char *p, size_t n, size_t *pos, size_t *off, size_t *len);

/* What one statement does. */
void ss_sql_classify(const char *p, size_t n, struct ss_stmt *out);

#endif
