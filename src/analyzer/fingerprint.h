/*
 * fingerprint: the shape of one SQL statement, computed in one pass over its
 * text with a lexer that follows PostgreSQL's lexical rules.
 *
 * Pure module: no libevent, no libpq, no allocation, no global mutable
 * state. Work is linear in the input length; the only scratch space is a
 * fixed-size stack frame (FP_DEPTH_MAX nesting levels) and the caller's
 * struct fp_result. Input is always (pointer, length): it need not be
 * NUL-terminated and may stop in the middle of a token (a network buffer, a
 * truncated log line); nothing past ptr[len - 1] is ever read.
 *
 * What the fingerprint ignores: whitespace, comments, the case of unquoted
 * words, the values of literals (strings of every form, numbers, dollar-quoted
 * bodies, TRUE/FALSE, $n parameters, a unary minus before a number), the
 * length of constant lists (IN (...), ARRAY[...], EXECUTE arguments), how many
 * constant VALUES rows there are, names that change per call (savepoint,
 * prepared statement, cursor and temporary table names, shown as "_"), and
 * column aliases (AS name in a select or RETURNING list, still shown). NULL,
 * casts, quoted identifiers with upper case, and everything else stay.
 * doc/fingerprint.md has the details, the hash, and where this differs from
 * libpg_query and why.
 *
 * Speed: the hash alone (FP_OPT_NO_TEXT | FP_OPT_NO_TAG) is the fast path,
 * for every query; the display text is worth computing only for a
 * fingerprint not seen before. Both give the same hash.
 */
#ifndef PGSIFT_FINGERPRINT_H
#define PGSIFT_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FP_TEXT_MAX 1024 /* normalized text kept, bytes, NUL included */
#define FP_TAG_MAX 256   /* first comment kept, bytes, NUL included */
#define FP_KV_MAX 8      /* sqlcommenter pairs kept */
#define FP_KEY_MAX 32    /* bytes per decoded key, NUL included */
#define FP_VALUE_MAX 128 /* bytes per decoded value, NUL included */
#define FP_DEPTH_MAX 64  /* ( and [ nesting tracked; deeper ones are plain tokens */
#define FP_CLI_MAX_INPUT (64u << 20) /* --fingerprint refuses larger inputs */

/* What a statement is, from its first keyword (WITH is its own kind: the
 * verb after the CTEs is not looked for). */
enum fp_kind {
	FP_KIND_EMPTY,    /* no token at all (only comments or blanks) */
	FP_KIND_SELECT,   /* SELECT, VALUES, TABLE, or a parenthesized select */
	FP_KIND_INSERT,
	FP_KIND_UPDATE,
	FP_KIND_DELETE,
	FP_KIND_MERGE,
	FP_KIND_WITH,
	FP_KIND_COPY,
	FP_KIND_DDL,      /* CREATE ALTER DROP TRUNCATE COMMENT GRANT REVOKE REINDEX REFRESH */
	FP_KIND_TXN,      /* BEGIN START COMMIT END ROLLBACK ABORT SAVEPOINT RELEASE, 2PC */
	FP_KIND_SET,      /* SET RESET DISCARD: session state */
	FP_KIND_PREPARED, /* PREPARE EXECUTE DEALLOCATE (SQL-level prepared statements) */
	FP_KIND_CURSOR,   /* DECLARE FETCH MOVE CLOSE */
	FP_KIND_LISTEN,   /* LISTEN UNLISTEN NOTIFY */
	FP_KIND_OTHER,    /* SHOW EXPLAIN VACUUM ANALYZE LOCK DO CALL ... */
};

/* fp_result.flags */
#define FP_PARTIAL 0x01       /* input ended inside a quote, comment or dollar quote */
#define FP_TRUNCATED 0x02     /* text cut at a token boundary before FP_TEXT_MAX */
#define FP_TAG_TRUNCATED 0x04 /* tag, a key, a value or the pair list was cut */
#define FP_COLLAPSED 0x08     /* a constant list or repeated VALUES rows collapsed */
#define FP_NAME_STRIPPED 0x10 /* a savepoint/prepared/cursor name became "_" */

/* fp_compute options */
#define FP_OPT_NO_TEXT 0x01 /* skip the display text (text_len 0, nparams still counted) */
#define FP_OPT_NO_TAG 0x02  /* skip copying and parsing the first comment */

struct fp_kv {
	char key[FP_KEY_MAX];     /* URL-decoded, NUL-terminated */
	char value[FP_VALUE_MAX]; /* unescaped and URL-decoded, NUL-terminated */
};

/* Everything known about one statement. Fixed size (about 2.6 KB): the
 * caller owns it, typically one per event loop, reused for every query. */
struct fp_result {
	uint64_t hash;      /* the fingerprint: covers the whole statement */
	enum fp_kind kind;
	unsigned flags;     /* FP_PARTIAL ... */
	unsigned nparams;   /* placeholders $1..$n in the normalized text */
	size_t text_len;    /* strlen(text) */
	/* Normalized display text: tokens separated by one space (none inside
	 * "a.b", "x::t", "f(", "(x)", "a, b"), unquoted words in lower case,
	 * constants as $1..$n numbered left to right. Inside quoted identifiers
	 * blanks become ' ' and other control bytes '?' (hashed the same way),
	 * so the text is always one line and fingerprints as the statement. */
	char text[FP_TEXT_MAX];
	size_t tag_len;     /* strlen(tag) */
	char tag[FP_TAG_MAX]; /* inside of the first slash-star comment, trimmed */
	unsigned nkv;
	/* sqlcommenter (key='value', URL-encoded, \' escaped) or marginalia
	 * (key:value) pairs parsed from the tag, in order of appearance */
	struct fp_kv kv[FP_KV_MAX];
};

/*
 * Fingerprints one statement sql[0..len). Never fails: incomplete input is
 * fingerprinted as far as it goes and flagged FP_PARTIAL. A trailing ';' is
 * ignored; a statement list should be split with fp_next_statement first.
 * Sets every field of *out (bytes past text_len and tag_len, and pairs past
 * nkv, are left unspecified); reads nothing outside sql[0..len).
 */
void fp_compute(const char *sql, size_t len, unsigned opts, struct fp_result *out);

/*
 * Statement iterator over a simple-query text (several statements separated
 * by ';'). Start with *pos = 0. Each call sets *off and *stmt_len to the next
 * statement (leading comments included, blanks and the ';' excluded) and
 * advances *pos; statements with no token (";;", a lone comment) are
 * skipped. Returns false, with *pos == len, when no statement is left. A ';'
 * inside quotes, comments, dollar quotes, or a CREATE FUNCTION ... BEGIN
 * ATOMIC body does not split.
 */
bool fp_next_statement(const char *text, size_t len, size_t *pos, size_t *off,
		       size_t *stmt_len) __attribute__((warn_unused_result));

/*
 * Statements that come back with other values. fp_skel_key() gives a key
 * of the text sql[0..len) that two texts share exactly when they differ
 * only in the values of their literals (numbers of plain digits and '...'
 * strings; up to a 64-bit hash collision). Texts that share it have the
 * same fingerprint, kind, nparams and flags, so a cache of fp_compute()'s
 * results keyed by it saves the lexer for them. *lits gets a hash of the
 * literal values (the key and it together tell texts apart), and at, unless
 * NULL, where the literals are. Returns false, setting nothing useful, for
 * a text it does not take: one with a comment, a dollar quote, an E'' B''
 * X'' N'' or U&'' string or U&"" name, a number with a '.', an exponent, a
 * base or a '_', an unterminated quote; with at, also one longer than
 * 65,535 bytes or with more than FP_LITS_MAX literals. Reads nothing
 * outside sql[0..len).
 *
 * fp_skel_same() tells without hashing whether text b has the key of text
 * a (whose literals fp_skel_key() put in at): the same bytes between the
 * literals and literals of the same classes. Then it sets *lits as
 * fp_skel_key(b) would, unless lits is NULL (no hashing then).
 * fp_skel_prefix() hashes the bytes before the first digit or quote (at
 * most FP_SKEL_PREFIX): texts with the same key have the same prefix hash,
 * so it can pick the cache slot where b may find a.
 */
#define FP_LITS_MAX 32
#define FP_SKEL_PREFIX 64

struct fp_lits {
	unsigned n;
	uint32_t strings; /* bit i set: literal i is a string, else a number */
	uint16_t off[FP_LITS_MAX], len[FP_LITS_MAX];
};

bool fp_skel_key(const char *sql, size_t len, uint64_t *key, uint64_t *lits, struct fp_lits *at)
	__attribute__((warn_unused_result));
bool fp_skel_same(const char *a, size_t alen, const struct fp_lits *at, const char *b, size_t blen, uint64_t *lits)
	__attribute__((warn_unused_result));
uint64_t fp_skel_prefix(const char *sql, size_t len);

/* Writes the 16 lowercase hex digits of hash and a NUL into out. */
void fp_hex(uint64_t hash, char out[17]);

/* Value of the first sqlcommenter/marginalia pair named key (exact match),
 * or NULL. The pointer is into r. */
const char *fp_tag_get(const struct fp_result *r, const char *key);

/* "select", "insert", ... "other"; a static string. */
const char *fp_kind_name(enum fp_kind kind);

/*
 * pgsift --fingerprint [FILE...]: reads each FILE ("-" or no FILE: standard
 * input) whole, splits it into statements and prints per statement
 * "<16 hex>\t<normalized text>\n" on stdout. Inputs over FP_CLI_MAX_INPUT are
 * refused. Returns the exit status: 0, or 1 after a message on stderr when a
 * file could not be read (the other files are still processed).
 */
int fp_cli_main(int nfiles, char **files);

#endif
