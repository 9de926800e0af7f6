/*
 * hba: auth_type = hba. Reads auth_hba_file (PostgreSQL's pg_hba.conf
 * format, the part PgBouncer supports) and auth_ident_file (pg_ident.conf
 * user name maps), and picks the rule for a login.
 *
 * Supported: record types local, host, hostssl, hostnossl; database lists
 * with all, sameuser, replication and @file; user lists with all and
 * @file; addresses all, IPv4 and IPv6 with /bits or a separate mask;
 * methods trust, reject, md5, password, scram-sha-256, cert, peer; the
 * option map= (cert and peer). Anything else (samerole, +group, host
 * names, samehost, samenet, other methods and options, regular
 * expressions in the ident file) is an error naming the file and line, so
 * a rule is never half understood. Pure: no sockets, no event loop.
 */
#ifndef PGSIFT_HBA_H
#define PGSIFT_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum hba_method { HBA_TRUST, HBA_REJECT, HBA_MD5, HBA_PASSWORD, HBA_SCRAM, HBA_CERT, HBA_PEER };

struct hba;

/* A login, as the rules see it. */
struct hba_login {
	bool local;		/* Unix socket */
	bool tls;
	bool replication;	/* a physical replication connection (replication=true) */
	int family;		/* AF_INET or AF_INET6, when not local */
	const uint8_t *addr;	/* 4 or 16 bytes, network order */
	const char *db;		/* the database name the client asked for */
	const char *user;
};

/* Reads both files (ident_path may be NULL or empty: no maps). Returns
 * NULL with err set ("file:line: reason") when a file cannot be read or
 * has a line it does not understand; the caller keeps its old rules then.
 * The caller frees the result with hba_free(). */
struct hba *hba_load(const char *hba_path, const char *ident_path, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void hba_free(struct hba *h);

/* The first rule that matches l: its method, map (NULL: none) and line.
 * false when no rule matches (the login is refused, as in PostgreSQL). */
bool hba_match(const struct hba *h, const struct hba_login *l, int *method, const char **map, int *line)
	__attribute__((warn_unused_result));

/* Does the ident map named map let the system user sys (a Unix user name
 * for peer, a certificate's common name for cert) log in as pg_user? */
bool hba_ident_allows(const struct hba *h, const char *map, const char *sys, const char *pg_user);

/* Number of rules (tests, logs). */
int hba_count(const struct hba *h);

#endif
