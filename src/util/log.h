/*
 * log: leveled log lines to stderr, a log file and/or syslog.
 *
 * Two formats (log_format):
 *  text: "2026-01-02 03:04:05.678 UTC [pid] LEVEL prefix: message", as
 *        PgBouncer writes them; connection lines carry a prefix such as
 *        "C-12 siftdb/alice@127.0.0.1:5000"; structured events are written
 *        as "event: key=value key=\"a value\" ...".
 *  json: one JSON object per line: time, level, pid, event, the fields of
 *        the event (client_addr, database, user, ...) and msg when the line
 *        has a message.
 * The sink is process-wide (set from the config at start and on reload).
 */
#ifndef PGSIFT_LOG_H
#define PGSIFT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_FATAL,
	LOG_ERROR,
	LOG_WARNING,
	LOG_INFO,	/* printed as LOG, like PgBouncer */
	LOG_DEBUG,	/* verbose >= 1 */
	LOG_NOISE	/* verbose >= 2 */
};

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* A field of a structured line. Strings longer than LOG_VALUE_MAX bytes are
 * cut (on a character boundary) and end in "...". NULL strings are left
 * out. */
#define LOG_VALUE_MAX 1000
enum log_kv_type { LKV_STR, LKV_INT, LKV_DOUBLE, LKV_BOOL, LKV_TIME /* wall-clock usec, 0: left out */ };
struct log_kv {
	const char *key;
	uint8_t type;		/* enum log_kv_type */
	union {
		const char *s;
		int64_t i;
		double d;
	} v;
};
#define LKV_S(k, x) ((struct log_kv){ .key = (k), .type = LKV_STR, .v.s = (x) })
#define LKV_I(k, x) ((struct log_kv){ .key = (k), .type = LKV_INT, .v.i = (int64_t)(x) })
#define LKV_D(k, x) ((struct log_kv){ .key = (k), .type = LKV_DOUBLE, .v.d = (x) })

/* (Re)opens the sink. logfile NULL or "" logs to stderr only; quiet drops
 * stderr output (as pgbouncer -q). Returns false and keeps the previous
 * sink when the file cannot be opened; *errbuf says why. */
bool log_setup(const char *logfile, int verbose, bool quiet, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Sets the verbosity without touching the sink (used by SET verbose). */
void log_set_verbose(int verbose);

/* Sets the line format (enum log_format). */
void log_set_format(int format);

/* Sends lines to syslog too (on), under ident and the facility of that
 * index in log_syslog_facilities (log_syslog.h), or stops (off). */
void log_set_syslog(bool on, const char *ident, int facility);

bool log_enabled(enum log_level lvl);

void log_msg(enum log_level lvl, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A line about one connection: in text, "prefix: message" as log_msg; in
 * JSON, event and the fields (database, user, client_addr...) and msg. */
void log_conn(enum log_level lvl, const char *event, const char *prefix, const struct log_kv *kv, int nkv,
	      const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* A structured event with no message: "event: key=value ..." in text. */
void log_event(enum log_level lvl, const char *event, const struct log_kv *kv, int nkv);

/* Closes the log file and syslog, if open. */
void log_close(void);

#define log_fatal(...) log_msg(LOG_FATAL, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, NULL, __VA_ARGS__); } while (0)
#define log_noise(...) do { if (log_enabled(LOG_NOISE)) log_msg(LOG_NOISE, NULL, __VA_ARGS__); } while (0)

#endif
