/*
 * log_syslog: see log_syslog.h.
 */
#include "util/log_syslog.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>

const char *const log_syslog_facilities[] = {
	"auth", "authpriv", "daemon", "user", "local0", "local1", "local2", "local3", "local4", "local5",
	"local6", "local7", NULL,
};

static const int facility_values[] = {
	LOG_AUTH, LOG_AUTHPRIV, LOG_DAEMON, LOG_USER, LOG_LOCAL0, LOG_LOCAL1, LOG_LOCAL2, LOG_LOCAL3, LOG_LOCAL4,
	LOG_LOCAL5, LOG_LOCAL6, LOG_LOCAL7,
};

/* openlog() keeps the pointer: the ident must outlive the next openlog */
static char *ident_copy;

void log_syslog_open(const char *ident, int facility)
{
	char *copy = strdup(ident && *ident ? ident : "pgsift");
	int n = (int)(sizeof(facility_values) / sizeof(facility_values[0]));

	if (!copy)
		return;
	closelog();
	openlog(copy, LOG_PID | LOG_NDELAY, facility >= 0 && facility < n ? facility_values[facility] : LOG_DAEMON);
	free(ident_copy);
	ident_copy = copy;
}

void log_syslog_write(int level, const char *msg)
{
	/* FATAL, ERROR, WARNING, LOG, DEBUG, NOISE */
	static const int prio[] = { LOG_CRIT, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };

	if (level >= 0 && level < (int)(sizeof(prio) / sizeof(prio[0])))
		syslog(prio[level], "%s", msg);
}

void log_syslog_close(void)
{
	closelog();
	free(ident_copy);
	ident_copy = NULL;
}
