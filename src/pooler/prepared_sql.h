/*
 * prepared_sql: what a simple query's text (or an unnamed Parse's) means to
 * pgsift's prepared statement tracking (prepared.c): SQL-level PREPARE and
 * EXECUTE, DEALLOCATE, DISCARD ALL, and texts that name one of pgsift's
 * internal statements. Pure: no libevent, no libpq; unit-tested by
 * test/unit/test_prepared_sql.c.
 *
 * Every function reads p[0..n) and nothing else; p need not be
 * NUL-terminated.
 */
#ifndef PGSIFT_PREPARED_SQL_H
#define PGSIFT_PREPARED_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ps_sql_cmd {
	PS_SQL_OTHER,
	PS_SQL_PREPARE,	       /* PREPARE name AS ... or EXECUTE name (not PREPARE TRANSACTION) */
	PS_SQL_DEALLOCATE,     /* DEALLOCATE [PREPARE] name, alone */
	PS_SQL_DEALLOCATE_ALL, /* DEALLOCATE [PREPARE] ALL, alone */
	PS_SQL_DISCARD_ALL,    /* DISCARD ALL, alone */
};

/* What the first statement of p[0..n) is, past blanks and comments.
 * DEALLOCATE and DISCARD ALL count only as a statement on their own (a
 * trailing ';' and blanks allowed); PREPARE and EXECUTE wherever they
 * start the text. name (namelen bytes) gets the DEALLOCATE's statement name
 * as PostgreSQL reads it (lower case unless quoted); a longer name gives
 * PS_SQL_OTHER. */
enum ps_sql_cmd ps_sql_first_cmd(const char *p, size_t n, char *name, size_t namelen);

/* Does a statement after the first of a multi-statement text start with
 * PREPARE or EXECUTE? */
bool ps_sql_has_prepare(const char *p, size_t n);

/* Does the text mention "pgsift_" (any case), the prefix of pgsift's
 * internal statement names? */
bool ps_sql_mentions_internal(const uint8_t *p, size_t n);

/* A text that mentions an internal statement and could EXECUTE or
 * DEALLOCATE it (also inside CREATE TABLE AS or EXPLAIN): refused. */
bool ps_sql_internal_refused(const uint8_t *p, size_t n);

/* The usual simple query, told in one pass: true when p[0..*n) (*n: the
 * bytes before the first NUL among p[0..avail)) is certainly PS_SQL_OTHER,
 * has no statement after the first, and does not mention an internal
 * statement: it starts (past spaces) with a letter, not with PR, EX, DI
 * or DEA (any case), has no ';' but one followed by spaces only, and no
 * "pgsift_". false
 * says nothing: ask the functions above. Reads nothing past p[avail - 1]. */
bool ps_sql_plain(const char *p, size_t avail, size_t *n) __attribute__((warn_unused_result));
/* (ps_sql_plain() also says false when the text may change session state
 * (session_sql.h): it starts with SET, RESET, CREATE, LISTEN, UNLISTEN or DECLARE, or
 * mentions set_config or pg_advisory_lock, so that a true spares the relay
 * ss_sql_maybe()'s pass.) */

/* Could a statement starting like p[0..n) change session state
 * (session_sql.h)? true for SET, RESET, CREATE, LISTEN, UNLISTEN, DECLARE, DISCARD,
 * PREPARE and texts that do not start with a letter. */
bool ps_sql_session_start(const char *p, size_t n) __attribute__((warn_unused_result));
/* ps_sql_mentions_internal() and, in the same pass, whether the text
 * mentions set_config or pg_advisory_lock (*session). */
bool ps_sql_scan_names(const uint8_t *p, size_t n, bool *session) __attribute__((warn_unused_result));
/* The same checks on a text that arrives in pieces: a simple query or an
 * unnamed Parse larger than the buffer is relayed as it comes, never held
 * whole. Feed the pieces in order (the text ends at its first NUL, as
 * strnlen() ends it for the functions above); at the end, ps_scan_result()
 * says what they would say of the whole text:
 *   PS_SCAN_INTERNAL  ps_sql_internal_refused();
 *   PS_SCAN_PREPARE   a statement starts with PREPARE (not PREPARE
 *                     TRANSACTION) or EXECUTE (ps_sql_first_cmd() and
 *                     ps_sql_has_prepare(); statements are split at ';'
 *                     outside quotes, dollar quotes and comments, and a
 *                     BEGIN ATOMIC body at its ';' too, which can only
 *                     find more);
 *   PS_SCAN_OK        neither.
 * No allocation; about 100 bytes of state. */
enum ps_scan_result { PS_SCAN_OK, PS_SCAN_INTERNAL, PS_SCAN_PREPARE };

struct ps_scan {
	uint8_t lex;		/* where the text is: plain, a quote, a comment */
	uint8_t at;		/* where the statement's first words are */
	uint8_t wlen;		/* bytes of the word being read (capped) */
	uint8_t taglen;		/* dollar-quote tag being read, or open */
	uint8_t match;		/* bytes of the closing tag matched so far */
	uint8_t ident_len;	/* bytes of the identifier the last byte ended (capped) */
	uint8_t prev;		/* the last byte */
	uint8_t ntail;
	bool prepare, internal, exec_word, ended;
	uint32_t depth;		/* nested block comments */
	char word[12];
	uint8_t tag[64];
	uint8_t tail[9];	/* the last bytes, for names split across pieces */
};

void ps_scan_init(struct ps_scan *sc);
void ps_scan_feed(struct ps_scan *sc, const uint8_t *p, size_t n);
enum ps_scan_result ps_scan_result(struct ps_scan *sc);

#endif
