/*
 * log_syslog: the syslog(3) leg of the log (PgBouncer's syslog,
 * syslog_ident, syslog_facility). Apart from log.c because <syslog.h>
 * defines LOG_INFO and friends, which log.h's levels also name.
 */
#ifndef PGSIFT_LOG_SYSLOG_H
#define PGSIFT_LOG_SYSLOG_H

/* The facility names syslog_facility accepts, NULL-terminated, in the
 * order log_syslog_open() numbers them. */
extern const char *const log_syslog_facilities[];

/* Opens (or reopens) syslog under ident with facility index facility. */
void log_syslog_open(const char *ident, int facility);
/* Sends one line; level is an enum log_level. */
void log_syslog_write(int level, const char *msg);
void log_syslog_close(void);

#endif
