/*
 * hazards: statements whose session state does not survive transaction
 * pooling (it leaks to the next client of the server, or is lost when the
 * client's next transaction runs on another server).
 *
 * Pure module. hz_classify() looks at a statement's normalized text (as
 * fingerprint.h makes it: lower-case words, one space between tokens); the
 * table keeps one row per (kind, database, application_name, fingerprint).
 */
#ifndef PGSIFT_HAZARDS_H
#define PGSIFT_HAZARDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hz_kind {
	HZ_NONE,
	HZ_SET,			/* SET / RESET of a setting pgsift does not carry */
	HZ_LISTEN,
	HZ_ADVISORY_LOCK,	/* session-level pg_advisory_lock and friends */
	HZ_PREPARE,		/* SQL PREPARE */
	HZ_TEMP_TABLE,		/* CREATE TEMP TABLE without ON COMMIT DROP */
	HZ_HOLD_CURSOR,		/* DECLARE ... WITH HOLD */
	HZ_SET_ROLE,		/* SET ROLE / SET SESSION AUTHORIZATION (and their RESET) */
	HZ_IDLE_IN_TXN,		/* a client kept a server idle in a transaction */
	HZ_NKINDS
};

/* Is this setting carried across server connections (compared case-
 * insensitively)? */
typedef bool hz_tracked_fn(void *arg, const char *name, size_t len);

/* The hazard of one statement, from its kind (enum fp_kind) and normalized
 * text; HZ_NONE when it is safe. */
enum hz_kind hz_classify(int fp_kind, const char *text, hz_tracked_fn *tracked, void *arg);

struct hz_entry {
	enum hz_kind kind;
	uint64_t fp;
	char db[64], app[64];
	uint64_t count;
	int64_t first_seen, last_seen;	/* wall usec */
	char *text;			/* normalized text (owned, may be NULL) */
};

struct hz_table {
	struct hz_entry *e;
	uint32_t n, max;
	uint64_t dropped;
};

bool hz_table_init(struct hz_table *t, uint32_t max) __attribute__((warn_unused_result));
void hz_table_free(struct hz_table *t);
void hz_table_reset(struct hz_table *t);

/* Counts one occurrence; returns the row (is_new when created) or NULL when
 * the table is full. */
struct hz_entry *hz_record(struct hz_table *t, enum hz_kind kind, uint64_t fp, const char *db, const char *app,
			   const char *text, int64_t now, bool *is_new);

/* Rows by last_seen, newest first; caller frees *out. */
size_t hz_sorted(const struct hz_table *t, const struct hz_entry ***out);

const char *hz_kind_name(enum hz_kind k);
/* What to do instead, one line. */
const char *hz_advice(enum hz_kind k);

#endif
