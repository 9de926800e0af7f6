/*
 * log: leveled log lines to stderr and/or a log file.
 *
 * Format: "2026-01-02 03:04:05.678 UTC [pid] LEVEL prefix: message".
 * Connection lines carry a prefix such as "C-12 siftdb/alice@127.0.0.1:5000".
 * The sink is process-wide (set from the config at start and on reload).
 */
#ifndef PGSIFT_LOG_H
#define PGSIFT_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
	LOG_FATAL,
	LOG_ERROR,
	LOG_WARNING,
	LOG_INFO,	/* printed as LOG, like PgBouncer */
	LOG_DEBUG,	/* verbose >= 1 */
	LOG_NOISE	/* verbose >= 2 */
};

/* (Re)opens the sink. logfile NULL or "" logs to stderr only; quiet drops
 * stderr output (as pgbouncer -q). Returns false and keeps the previous
 * sink when the file cannot be opened; *errbuf says why. */
bool log_setup(const char *logfile, int verbose, bool quiet, char *errbuf, size_t errlen)
	__attribute__((warn_unused_result));

/* Sets the verbosity without touching the sink (used by SET verbose). */
void log_set_verbose(int verbose);

bool log_enabled(enum log_level lvl);

void log_msg(enum log_level lvl, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Closes the log file, if any. */
void log_close(void);

#define log_fatal(...) log_msg(LOG_FATAL, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, NULL, __VA_ARGS__); } while (0)
#define log_noise(...) do { if (log_enabled(LOG_NOISE)) log_msg(LOG_NOISE, NULL, __VA_ARGS__); } while (0)

#endif
