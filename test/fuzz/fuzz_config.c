/*
 * libFuzzer target for the configuration parser (src/util/config.c, a pure
 * module): config_load_string() on any bytes, as a config file or a RELOAD
 * may bring them. Every input is copied into a heap block of exactly its
 * size, so that AddressSanitizer catches a read past the end; LeakSanitizer
 * checks that a refused file leaks nothing. Invariants (abort on failure):
 *   - a file that loads has no error diagnostics, and one that does not has
 *     at least one, each "file:line: text" and one line (the file is
 *     fuzz.ini, or one a %include line names: the parser reads it);
 *   - every setting of a loaded file renders (SHOW CONFIG) as a
 *     NUL-terminated string, and setting it back to that value is accepted
 *     and gives the same value (what RELOAD and SET rely on);
 *   - every [databases] entry can be found again by its name.
 *
 * Build and run: FUZZ_TARGET=config test/fuzz/run.sh [seconds].
 */
#include "util/config.h"

#include "fuzz_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "FILE:LINE: " at the start of msg, FILE not empty */
static bool names_a_line(const char *msg)
{
	const char *p = strstr(msg, ": ");

	while (p && p > msg) {
		const char *q = p;
		while (q > msg && q[-1] >= '0' && q[-1] <= '9')
			q--;
		if (q < p && q - 1 > msg && q[-1] == ':')
			return true;
		p = strstr(p + 2, ": ");
	}
	return false;
}

/* include: the input has a %include line, whose file's diagnostics name it */
static void check_diag_lines(char **msgs, int n, bool include)
{
	for (int i = 0; i < n; i++) {
		CHECK(msgs[i] != NULL, "a diagnostic is NULL");
		CHECK(strchr(msgs[i], '\n') == NULL, "a diagnostic spans lines");
		CHECK(strncmp(msgs[i], "fuzz.ini:", 9) == 0 || (include && names_a_line(msgs[i])),
		      "a diagnostic does not name file:line");
	}
}

static void check_settings(struct config *cfg)
{
	char v1[1024], v2[1024], err[256];

	for (int i = 0; i < config_setting_count(); i++) {
		const char *name = config_setting_name(i);
		const char *v = config_setting_value(cfg, i, v1, sizeof(v1));
		CHECK(name != NULL && v != NULL, "a setting has no name or value");
		CHECK(v != v1 || memchr(v, 0, sizeof(v1)) != NULL, "a value is not terminated");
		if (v != v1) {
			snprintf(v1, sizeof(v1), "%s", v);
			v = v1;
		}
		if (!config_set(cfg, name, v, err, sizeof(err)))
			continue; /* some settings are not changeable at run time */
		CHECK(strcmp(config_setting_value(cfg, i, v2, sizeof(v2)), v1) == 0,
		      "a setting set to its own value changed");
	}
	for (int i = 0; i < cfg->ndbs; i++)
		CHECK(config_find_db(cfg, cfg->dbs[i].name) != NULL, "a database entry cannot be found by its name");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct config_diag diag;
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	memset(&diag, 0, sizeof(diag));
	bool ok = config_load_string(text, size, "fuzz.ini", &cfg, &diag);
	bool include = size >= 8 && memmem(text, size, "%include", 8) != NULL;
	check_diag_lines(diag.errors, diag.nerrors, include);
	check_diag_lines(diag.warnings, diag.nwarnings, include);
	CHECK(ok == (diag.nerrors == 0), "success and error diagnostics disagree");
	if (ok)
		check_settings(&cfg);
	config_free(&cfg);
	config_diag_free(&diag);
	free(text);
	return 0;
}
