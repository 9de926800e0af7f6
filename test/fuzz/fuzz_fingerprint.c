/*
 * libFuzzer target for the fingerprint module (src/analyzer/fingerprint.c,
 * src/analyzer/fp_lex.c): fp_compute() with and without the display text,
 * fp_next_statement() as the pooler and `pgsift --fingerprint` split a
 * simple-query message, and the normalized text fed back in.
 *
 * Every input is copied into a heap block of exactly its size, so that
 * AddressSanitizer catches a read past the end. Invariants (abort on
 * failure):
 *   - the text is NUL-terminated at text_len, shorter than FP_TEXT_MAX, one
 *     line; the tag and the pairs are NUL-terminated within their arrays;
 *   - FP_OPT_NO_TEXT | FP_OPT_NO_TAG gives the same hash, kind, nparams;
 *   - the normalized text, fingerprinted again, gives the same hash (unless
 *     it was cut, FP_TRUNCATED, or the input ended early, FP_PARTIAL);
 *   - the statement iterator moves forward, returns non-empty statements
 *     inside the input and in order, trimmed of blanks, and ends at len;
 *   - texts with the same fp_skel_key() have the same fingerprint, kind,
 *     nparams and flags (the input against copies with its literals
 *     changed); fp_skel_same() says so exactly for them, and their
 *     fp_skel_prefix() is the same.
 *
 * Build and run: test/fuzz/run.sh [seconds].
 */
#include "analyzer/fingerprint.h"

#include "fuzz_check.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct fp_result full, quick, again;

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char *exact_copy(const char *p, size_t n)
{
	char *c = malloc(n ? n : 1);
	if (!c)
		abort();
	memcpy(c, p, n);
	return c;
}

static void check_result(const struct fp_result *r)
{
	CHECK(r->text_len < FP_TEXT_MAX && r->text[r->text_len] == 0, "text NUL-terminated in bounds");
	CHECK(strlen(r->text) == r->text_len, "text_len is strlen(text)");
	CHECK(memchr(r->text, '\n', r->text_len) == NULL && memchr(r->text, '\r', r->text_len) == NULL,
	      "text is one line");
	CHECK(r->tag_len < FP_TAG_MAX && r->tag[r->tag_len] == 0 && strlen(r->tag) == r->tag_len, "tag");
	CHECK(r->nkv <= FP_KV_MAX, "pair count");
	for (unsigned i = 0; i < r->nkv; i++) {
		CHECK(memchr(r->kv[i].key, 0, FP_KEY_MAX) != NULL, "key NUL-terminated");
		CHECK(memchr(r->kv[i].value, 0, FP_VALUE_MAX) != NULL, "value NUL-terminated");
	}
	CHECK(r->kind <= FP_KIND_OTHER && fp_kind_name(r->kind) != NULL, "kind");
}

/* One statement s[0..n), n exact: all the invariants of fp_compute(). */
static void one_statement(const char *s, size_t n)
{
	fp_compute(s, n, 0, &full);
	check_result(&full);
	fp_compute(s, n, FP_OPT_NO_TEXT | FP_OPT_NO_TAG, &quick);
	CHECK(quick.hash == full.hash, "FP_OPT_NO_TEXT gives the same hash");
	CHECK(quick.kind == full.kind && quick.nparams == full.nparams, "same kind and nparams");
	CHECK(quick.text_len == 0 && quick.text[0] == 0, "no text with FP_OPT_NO_TEXT");
	CHECK((quick.flags & FP_PARTIAL) == (full.flags & FP_PARTIAL), "same FP_PARTIAL");
	if (!(full.flags & (FP_TRUNCATED | FP_PARTIAL))) {
		char *t = exact_copy(full.text, full.text_len);
		fp_compute(t, full.text_len, FP_OPT_NO_TAG, &again);
		free(t);
		if (again.hash != full.hash)
			fprintf(stderr, "text: %s\nagain: %s\n", full.text, again.text);
		CHECK(again.hash == full.hash, "the normalized text re-fingerprints to the same hash");
	}
}

/* fp_skel_key(): texts with the same key have the same fingerprint. The
 * text is mutated where a literal may be (every digit changed, every digit
 * doubled, each byte after a quote replaced) and compared with the
 * original whenever the keys are equal. */
static void skeleton(const char *s, size_t n)
{
	uint64_t k0, l0, k1, l1, l2;
	static struct fp_lits at;
	char *m;

	if (!fp_skel_key(s, n, &k0, &l0, &at))
		return;
	fp_compute(s, n, FP_OPT_NO_TEXT, &full);
	for (int variant = 0; variant < 3; variant++) {
		size_t k = 0;
		m = malloc(2 * n + 1);
		if (!m)
			abort();
		for (size_t i = 0; i < n; i++) {
			char c = s[i];
			bool digit = c >= '0' && c <= '9';
			if (variant == 0 && digit)
				c = (char)('0' + (c - '0' + 7) % 10);
			if (variant == 1 && digit)
				m[k++] = c;
			if (variant == 2 && i > 0 && s[i - 1] == '\'' && c != '\'')
				c = c == 'q' ? 'r' : 'q';
			m[k++] = c;
		}
		char *t = exact_copy(m, k);
		free(m);
		bool took = fp_skel_key(t, k, &k1, &l1, NULL), same = fp_skel_same(s, n, &at, t, k, &l2);
		CHECK(same == (took && k1 == k0) && (!same || l2 == l1),
		      "fp_skel_same() is the same as comparing fp_skel_key()s");
		CHECK(!same || fp_skel_prefix(s, n) == fp_skel_prefix(t, k), "the same key, the same prefix hash");
		if (took && k1 == k0) {
			fp_compute(t, k, FP_OPT_NO_TEXT, &quick);
			CHECK(quick.hash == full.hash && quick.kind == full.kind && quick.nparams == full.nparams &&
				      quick.flags == full.flags,
			      "texts with the same skeleton key have the same fingerprint");
		}
		free(t);
	}
}

/* The statements of a simple-query text, as the pooler and the CLI split it. */
static void statements(const char *text, size_t len)
{
	size_t pos = 0, last_end = 0, off, n;
	unsigned count = 0;
	while (fp_next_statement(text, len, &pos, &off, &n)) {
		CHECK(off >= last_end && off + n <= len && off + n <= pos, "statement inside the input, in order");
		CHECK(n > 0 && !blank(text[off]) && !blank(text[off + n - 1]), "statement trimmed, not empty");
		CHECK(pos <= len && pos > off, "the iterator moves forward");
		last_end = off + n;
		char *s = exact_copy(text + off, n);
		one_statement(s, n);
		fp_compute(s, n, FP_OPT_NO_TAG, &full); /* what --fingerprint prints */
		check_result(&full);
		free(s);
		CHECK(++count <= len, "no more statements than bytes");
	}
	CHECK(pos == len, "the iterator ends at the end");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = exact_copy((const char *)data, size);
	one_statement(text, size);
	skeleton(text, size);
	statements(text, size);
	free(text);
	return 0;
}
