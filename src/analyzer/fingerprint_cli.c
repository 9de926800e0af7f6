/*
 * fingerprint_cli: "pgsift --fingerprint [FILE...]", for scripts, logs and
 * CI checks of a query's shape. One output line per statement:
 * 16 hex digits, a tab, the normalized text.
 */
#include "analyzer/fingerprint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads all of f into a malloc'ed buffer (caller frees). Returns NULL with
 * *err set to an errno value, or to EFBIG past FP_CLI_MAX_INPUT. */
static char *slurp(FILE *f, size_t *len, int *err)
{
	size_t cap = 64 * 1024, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		*err = ENOMEM;
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			if (cap > FP_CLI_MAX_INPUT) {
				free(buf);
				*err = EFBIG;
				return NULL;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				*err = ENOMEM;
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		*err = errno ? errno : EIO;
		free(buf);
		return NULL;
	}
	if (n > FP_CLI_MAX_INPUT) {
		free(buf);
		*err = EFBIG;
		return NULL;
	}
	*len = n;
	return buf;
}

static void print_statements(const char *buf, size_t len, struct fp_result *r)
{
	size_t pos = 0, off, slen;
	char hex[17];
	while (fp_next_statement(buf, len, &pos, &off, &slen)) {
		fp_compute(buf + off, slen, FP_OPT_NO_TAG, r);
		fp_hex(r->hash, hex);
		fputs(hex, stdout);
		putchar('\t');
		fwrite(r->text, 1, r->text_len, stdout);
		putchar('\n');
	}
}

/* Returns 0, or 1 after a message on stderr. */
static int fingerprint_file(const char *name, struct fp_result *r)
{
	bool is_stdin = strcmp(name, "-") == 0;
	FILE *f = is_stdin ? stdin : fopen(name, "rb");
	if (!f) {
		fprintf(stderr, "pgsift: %s: %s\n", name, strerror(errno));
		return 1;
	}
	size_t len = 0;
	int err = 0;
	char *buf = slurp(f, &len, &err);
	if (!is_stdin)
		fclose(f);
	if (!buf) {
		if (err == EFBIG)
			fprintf(stderr, "pgsift: %s: input larger than %u MB, refused\n",
				is_stdin ? "standard input" : name, FP_CLI_MAX_INPUT >> 20);
		else
			fprintf(stderr, "pgsift: %s: %s\n", is_stdin ? "standard input" : name,
				strerror(err));
		return 1;
	}
	print_statements(buf, len, r);
	free(buf);
	return 0;
}

int fp_cli_main(int nfiles, char **files)
{
	static char dash[] = "-";
	char *only_stdin[] = {dash};
	struct fp_result *r = malloc(sizeof *r);
	int rc = 0;
	if (!r) {
		fprintf(stderr, "pgsift: out of memory\n");
		return 1;
	}
	if (nfiles == 0) {
		nfiles = 1;
		files = only_stdin;
	}
	for (int i = 0; i < nfiles; i++)
		rc |= fingerprint_file(files[i], r);
	free(r);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pgsift: standard output: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}
