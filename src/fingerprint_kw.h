/*
 * fingerprint_kw.h: the keyword table of src/fingerprint.c, included by it
 * alone (like PostgreSQL's kwlist.h). Words of up to 8 bytes are matched as a
 * packed lower-case uint64_t by a switch, which the compiler turns into a few
 * comparisons and which rejects duplicates; longer ones by length, then text.
 *
 * Flags: KF_EXPR - an expression may follow (a "-" after it is unary);
 * KF_PSPACE - shown as "kw (" rather than "fn("; KF_RESERVED - a reserved
 * word: quoted, it is a different identifier from the bare word.
 * Needs K2..K8, KWV, KF_* and word_eq() from fingerprint.c.
 */
#ifndef PGSIFT_FINGERPRINT_KW_H
#define PGSIFT_FINGERPRINT_KW_H

/* the keywords the normalizer acts on; KW_OTHER: a keyword known only for its flags */
enum kw_id {
	KW_NONE, KW_OTHER, KW_TRUE, KW_FALSE, KW_NULL, KW_DEFAULT, KW_IN, KW_VALUES, KW_ARRAY,
	KW_SELECT, KW_TABLE, KW_INSERT, KW_UPDATE, KW_DELETE, KW_MERGE, KW_WITH, KW_COPY, KW_CREATE,
	KW_ALTER, KW_DROP, KW_TRUNCATE, KW_COMMENT, KW_GRANT, KW_REVOKE, KW_REINDEX, KW_REFRESH,
	KW_SECURITY, KW_IMPORT, KW_BEGIN, KW_START, KW_COMMIT, KW_END, KW_ROLLBACK, KW_ABORT,
	KW_SAVEPOINT, KW_RELEASE, KW_PREPARE, KW_EXECUTE, KW_DEALLOCATE, KW_DECLARE, KW_FETCH,
	KW_MOVE, KW_CLOSE, KW_SET, KW_RESET, KW_DISCARD, KW_LISTEN, KW_UNLISTEN, KW_NOTIFY, KW_TO,
	KW_ALL, KW_TRANSACTION, KW_WORK, KW_NEXT, KW_PRIOR, KW_FIRST, KW_LAST, KW_ABSOLUTE,
	KW_RELATIVE, KW_FORWARD, KW_BACKWARD, KW_FROM, KW_FUNCTION, KW_PROCEDURE, KW_OR, KW_REPLACE,
	KW_CASE,
};
static unsigned kw_short(uint64_t p)
{
	switch (p) {
	case K5('a','b','o','r','t'): return KWV(KW_ABORT, 0);
	case K8('a','b','s','o','l','u','t','e'): return KWV(KW_ABSOLUTE, KF_EXPR);
	case K3('a','l','l'): return KWV(KW_ALL, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K5('a','l','t','e','r'): return KWV(KW_ALTER, 0);
	case K7('a','n','a','l','y','s','e'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('a','n','a','l','y','z','e'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K3('a','n','d'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K3('a','n','y'): return KWV(KW_OTHER, KF_EXPR|KF_RESERVED);
	case K5('a','r','r','a','y'): return KWV(KW_ARRAY, KF_RESERVED);
	case K2('a','s'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K3('a','s','c'): return KWV(KW_OTHER, KF_RESERVED);
	case K8('b','a','c','k','w','a','r','d'): return KWV(KW_BACKWARD, KF_EXPR);
	case K5('b','e','g','i','n'): return KWV(KW_BEGIN, 0);
	case K7('b','e','t','w','e','e','n'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE);
	case K6('b','i','n','a','r','y'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('b','o','t','h'): return KWV(KW_OTHER, KF_RESERVED);
	case K2('b','y'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE);
	case K4('c','a','s','e'): return KWV(KW_CASE, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K4('c','a','s','t'): return KWV(KW_OTHER, KF_RESERVED);
	case K5('c','h','e','c','k'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K5('c','l','o','s','e'): return KWV(KW_CLOSE, 0);
	case K7('c','o','l','l','a','t','e'): return KWV(KW_OTHER, KF_RESERVED);
	case K6('c','o','l','u','m','n'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('c','o','m','m','e','n','t'): return KWV(KW_COMMENT, 0);
	case K6('c','o','m','m','i','t'): return KWV(KW_COMMIT, 0);
	case K8('c','o','n','f','l','i','c','t'): return KWV(KW_OTHER, KF_PSPACE);
	case K4('c','o','p','y'): return KWV(KW_COPY, KF_PSPACE);
	case K6('c','r','e','a','t','e'): return KWV(KW_CREATE, KF_RESERVED);
	case K5('c','r','o','s','s'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('d','e','c','l','a','r','e'): return KWV(KW_DECLARE, 0);
	case K7('d','e','f','a','u','l','t'): return KWV(KW_DEFAULT, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K6('d','e','l','e','t','e'): return KWV(KW_DELETE, 0);
	case K4('d','e','s','c'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('d','i','s','c','a','r','d'): return KWV(KW_DISCARD, 0);
	case K8('d','i','s','t','i','n','c','t'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K2('d','o'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K4('d','r','o','p'): return KWV(KW_DROP, 0);
	case K4('e','l','s','e'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K3('e','n','d'): return KWV(KW_END, KF_RESERVED);
	case K6('e','s','c','a','p','e'): return KWV(KW_OTHER, KF_EXPR);
	case K6('e','x','c','e','p','t'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K7('e','x','e','c','u','t','e'): return KWV(KW_EXECUTE, 0);
	case K6('e','x','i','s','t','s'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE);
	case K7('e','x','p','l','a','i','n'): return KWV(KW_OTHER, KF_PSPACE);
	case K5('f','a','l','s','e'): return KWV(KW_FALSE, KF_RESERVED);
	case K5('f','e','t','c','h'): return KWV(KW_FETCH, KF_EXPR|KF_RESERVED);
	case K6('f','i','l','t','e','r'): return KWV(KW_OTHER, KF_PSPACE);
	case K5('f','i','r','s','t'): return KWV(KW_FIRST, 0);
	case K3('f','o','r'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('f','o','r','e','i','g','n'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('f','o','r','w','a','r','d'): return KWV(KW_FORWARD, KF_EXPR);
	case K6('f','r','e','e','z','e'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('f','r','o','m'): return KWV(KW_FROM, KF_PSPACE|KF_RESERVED);
	case K4('f','u','l','l'): return KWV(KW_OTHER, KF_RESERVED);
	case K8('f','u','n','c','t','i','o','n'): return KWV(KW_FUNCTION, 0);
	case K5('g','r','a','n','t'): return KWV(KW_GRANT, KF_RESERVED);
	case K5('g','r','o','u','p'): return KWV(KW_OTHER, KF_RESERVED);
	case K6('h','a','v','i','n','g'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K5('i','l','i','k','e'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K6('i','m','p','o','r','t'): return KWV(KW_IMPORT, 0);
	case K2('i','n'): return KWV(KW_IN, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K7('i','n','c','l','u','d','e'): return KWV(KW_OTHER, KF_PSPACE);
	case K5('i','n','n','e','r'): return KWV(KW_OTHER, KF_RESERVED);
	case K6('i','n','s','e','r','t'): return KWV(KW_INSERT, 0);
	case K4('i','n','t','o'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K2('i','s'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K6('i','s','n','u','l','l'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('j','o','i','n'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K3('k','e','y'): return KWV(KW_OTHER, KF_PSPACE);
	case K4('l','a','s','t'): return KWV(KW_LAST, 0);
	case K7('l','a','t','e','r','a','l'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K7('l','e','a','d','i','n','g'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('l','e','f','t'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('l','i','k','e'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K5('l','i','m','i','t'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K6('l','i','s','t','e','n'): return KWV(KW_LISTEN, 0);
	case K8('m','a','x','v','a','l','u','e'): return KWV(KW_OTHER, KF_EXPR);
	case K5('m','e','r','g','e'): return KWV(KW_MERGE, 0);
	case K8('m','i','n','v','a','l','u','e'): return KWV(KW_OTHER, KF_EXPR);
	case K4('m','o','v','e'): return KWV(KW_MOVE, KF_EXPR);
	case K7('n','a','t','u','r','a','l'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('n','e','x','t'): return KWV(KW_NEXT, 0);
	case K3('n','o','t'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K6('n','o','t','i','f','y'): return KWV(KW_NOTIFY, 0);
	case K7('n','o','t','n','u','l','l'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('n','u','l','l'): return KWV(KW_NULL, KF_RESERVED);
	case K6('o','f','f','s','e','t'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K2('o','n'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K4('o','n','l','y'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K2('o','r'): return KWV(KW_OR, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K5('o','r','d','e','r'): return KWV(KW_OTHER, KF_RESERVED);
	case K5('o','u','t','e','r'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('o','v','e','r'): return KWV(KW_OTHER, KF_PSPACE);
	case K8('o','v','e','r','l','a','p','s'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('p','l','a','c','i','n','g'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('p','r','e','p','a','r','e'): return KWV(KW_PREPARE, 0);
	case K7('p','r','i','m','a','r','y'): return KWV(KW_OTHER, KF_RESERVED);
	case K5('p','r','i','o','r'): return KWV(KW_PRIOR, 0);
	case K7('r','e','f','r','e','s','h'): return KWV(KW_REFRESH, 0);
	case K7('r','e','i','n','d','e','x'): return KWV(KW_REINDEX, 0);
	case K8('r','e','l','a','t','i','v','e'): return KWV(KW_RELATIVE, KF_EXPR);
	case K7('r','e','l','e','a','s','e'): return KWV(KW_RELEASE, 0);
	case K7('r','e','p','l','a','c','e'): return KWV(KW_REPLACE, 0);
	case K5('r','e','s','e','t'): return KWV(KW_RESET, 0);
	case K7('r','e','s','t','a','r','t'): return KWV(KW_OTHER, KF_EXPR);
	case K6('r','e','t','u','r','n'): return KWV(KW_OTHER, KF_EXPR);
	case K6('r','e','v','o','k','e'): return KWV(KW_REVOKE, 0);
	case K5('r','i','g','h','t'): return KWV(KW_OTHER, KF_RESERVED);
	case K8('r','o','l','l','b','a','c','k'): return KWV(KW_ROLLBACK, 0);
	case K8('s','e','c','u','r','i','t','y'): return KWV(KW_SECURITY, 0);
	case K6('s','e','l','e','c','t'): return KWV(KW_SELECT, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K3('s','e','t'): return KWV(KW_SET, KF_PSPACE);
	case K7('s','i','m','i','l','a','r'): return KWV(KW_OTHER, KF_EXPR|KF_RESERVED);
	case K4('s','o','m','e'): return KWV(KW_OTHER, KF_EXPR|KF_RESERVED);
	case K5('s','t','a','r','t'): return KWV(KW_START, KF_EXPR);
	case K5('t','a','b','l','e'): return KWV(KW_TABLE, KF_PSPACE|KF_RESERVED);
	case K4('t','h','e','n'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K2('t','o'): return KWV(KW_TO, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K8('t','r','a','i','l','i','n','g'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('t','r','u','e'): return KWV(KW_TRUE, KF_RESERVED);
	case K8('t','r','u','n','c','a','t','e'): return KWV(KW_TRUNCATE, 0);
	case K5('u','n','i','o','n'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K6('u','n','i','q','u','e'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K8('u','n','l','i','s','t','e','n'): return KWV(KW_UNLISTEN, 0);
	case K6('u','p','d','a','t','e'): return KWV(KW_UPDATE, 0);
	case K4('u','s','e','r'): return KWV(KW_OTHER, KF_RESERVED);
	case K5('u','s','i','n','g'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K6('v','a','c','u','u','m'): return KWV(KW_OTHER, KF_PSPACE);
	case K6('v','a','l','u','e','s'): return KWV(KW_VALUES, KF_PSPACE);
	case K8('v','a','r','i','a','d','i','c'): return KWV(KW_OTHER, KF_RESERVED);
	case K7('v','e','r','b','o','s','e'): return KWV(KW_OTHER, KF_RESERVED);
	case K4('w','h','e','n'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K5('w','h','e','r','e'): return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K6('w','i','n','d','o','w'): return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
	case K4('w','i','t','h'): return KWV(KW_WITH, KF_EXPR|KF_PSPACE|KF_RESERVED);
	case K6('w','i','t','h','i','n'): return KWV(KW_OTHER, KF_PSPACE);
	case K4('w','o','r','k'): return KWV(KW_WORK, 0);
	default: return 0;
	}
}
static unsigned kw_long(const char *s, size_t n)
{
	switch (n) {
	case 9:
		if (word_eq(s, "collation", 9)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "increment", 9)) return KWV(KW_OTHER, KF_EXPR);
		if (word_eq(s, "initially", 9)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "intersect", 9)) return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
		if (word_eq(s, "localtime", 9)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "procedure", 9)) return KWV(KW_PROCEDURE, 0);
		if (word_eq(s, "returning", 9)) return KWV(KW_OTHER, KF_EXPR|KF_PSPACE|KF_RESERVED);
		if (word_eq(s, "savepoint", 9)) return KWV(KW_SAVEPOINT, 0);
		if (word_eq(s, "symmetric", 9)) return KWV(KW_OTHER, KF_EXPR|KF_RESERVED);
		return 0;
	case 10:
		if (word_eq(s, "asymmetric", 10)) return KWV(KW_OTHER, KF_EXPR|KF_RESERVED);
		if (word_eq(s, "constraint", 10)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "deallocate", 10)) return KWV(KW_DEALLOCATE, 0);
		if (word_eq(s, "deferrable", 10)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "references", 10)) return KWV(KW_OTHER, KF_PSPACE|KF_RESERVED);
		return 0;
	case 11:
		if (word_eq(s, "system_user", 11)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "tablesample", 11)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "transaction", 11)) return KWV(KW_TRANSACTION, 0);
		return 0;
	case 12:
		if (word_eq(s, "concurrently", 12)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "current_date", 12)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "current_role", 12)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "current_time", 12)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "current_user", 12)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "session_user", 12)) return KWV(KW_OTHER, KF_RESERVED);
		return 0;
	case 13:
		if (word_eq(s, "authorization", 13)) return KWV(KW_OTHER, KF_RESERVED);
		return 0;
	case 14:
		if (word_eq(s, "current_schema", 14)) return KWV(KW_OTHER, KF_RESERVED);
		if (word_eq(s, "localtimestamp", 14)) return KWV(KW_OTHER, KF_RESERVED);
		return 0;
	case 15:
		if (word_eq(s, "current_catalog", 15)) return KWV(KW_OTHER, KF_RESERVED);
		return 0;
	case 17:
		if (word_eq(s, "current_timestamp", 17)) return KWV(KW_OTHER, KF_RESERVED);
		return 0;
	default: return 0;
	}
}

#endif
