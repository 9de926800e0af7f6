/*
 * tap: the few TAP helpers the unit test programs share.
 *
 * Results are collected in memory and printed after the plan ("1..N" first,
 * as consumers like test/run expect); tap_end() prints them and returns the
 * exit status. One test program is one translation unit, so everything here
 * is static.
 */
#ifndef PGSIFT_TAP_H
#define PGSIFT_TAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static FILE *tap;
static char *tap_buf;
static size_t tap_len;
static int tests_run, tests_failed;

static inline void tap_begin(void)
{
	tap = open_memstream(&tap_buf, &tap_len);
	if (!tap)
		exit(2);
}

static void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void tap_diag(const char *fmt, ...)
{
	va_list ap;

	fputs("# ", tap);
	va_start(ap, fmt);
	vfprintf(tap, fmt, ap);
	va_end(ap);
	fputc('\n', tap);
}

static bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static bool tap_ok(bool cond, const char *fmt, ...)
{
	va_list ap;

	tests_run++;
	if (!cond)
		tests_failed++;
	fprintf(tap, "%s %d - ", cond ? "ok" : "not ok", tests_run);
	va_start(ap, fmt);
	vfprintf(tap, fmt, ap);
	va_end(ap);
	fputc('\n', tap);
	return cond;
}

/* One check whose result the caller does not need. */
#define ok(cond, ...)                                \
	do {                                         \
		bool ok_cond_ = (cond);              \
		(void)tap_ok(ok_cond_, __VA_ARGS__); \
	} while (0)

/* Prints the plan and the results; returns the exit status. */
static inline int tap_end(void)
{
	fclose(tap);
	printf("1..%d\n%s", tests_run, tap_buf);
	if (tests_failed)
		printf("# %d of %d tests failed\n", tests_failed, tests_run);
	free(tap_buf);
	return tests_failed ? 1 : 0;
}

#endif
