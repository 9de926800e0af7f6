/*
 * log: see log.h. One write(2) per line so lines from a crash or from a
 * second process appending to the same file never interleave mid-line.
 */
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Process-wide sink; written only by log_setup()/log_close(). */
static struct {
	int fd;
	int verbose;
	bool quiet;
} sink = { -1, 0, false };

static const char *const level_names[] = { "FATAL", "ERROR", "WARNING", "LOG", "DEBUG", "NOISE" };

bool log_setup(const char *logfile, int verbose, bool quiet, char *errbuf, size_t errlen)
{
	int fd = -1;

	if (logfile && *logfile) {
		fd = open(logfile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(errbuf, errlen, "cannot open logfile %s: %s", logfile, strerror(errno));
			return false;
		}
	}
	if (sink.fd >= 0)
		close(sink.fd);
	sink.fd = fd;
	sink.verbose = verbose;
	sink.quiet = quiet;
	return true;
}

void log_set_verbose(int verbose)
{
	sink.verbose = verbose;
}

bool log_enabled(enum log_level lvl)
{
	return lvl <= LOG_INFO || (int)lvl - (int)LOG_INFO <= sink.verbose;
}

void log_close(void)
{
	if (sink.fd >= 0)
		close(sink.fd);
	sink.fd = -1;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

void log_msg(enum log_level lvl, const char *prefix, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	size_t n;
	va_list ap;

	if (!log_enabled(lvl))
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03d UTC [%d] %s ", (int)(tv.tv_usec / 1000),
			      (int)getpid(), level_names[lvl]);
	if (prefix && n < sizeof(line))
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s: ", prefix);
	if (n < sizeof(line)) {
		va_start(ap, fmt);
		int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (sink.fd >= 0)
		write_all(sink.fd, line, n);
	if (!sink.quiet)
		write_all(STDERR_FILENO, line, n);
}
