/*
 * Unit tests of hba: the pg_hba.conf reading (lists, quoting, masks,
 * continuation lines, @file) and the first-match choice, and the errors
 * that name a line. TAP output.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pooler/hba.h"
#include "tap.h"

static char dir[] = "/tmp/pgsift-hba-XXXXXX";

static const char *put(const char *name, const char *text)
{
	static char path[4][256];
	static int i;
	char *p = path[i++ % 4];
	FILE *f;

	snprintf(p, 256, "%s/%s", dir, name);
	if (!(f = fopen(p, "w")) || fputs(text, f) < 0 || fclose(f) != 0)
		exit(2);
	return p;
}

/* The method chosen for a login; -1: none matches. */
static int pick(const struct hba *h, const char *addr, bool tls, const char *db, const char *user)
{
	uint8_t a[16];
	struct hba_login l = { .tls = tls, .db = db, .user = user, .addr = a };
	const char *map;
	int method, line;

	if (!addr)
		l.local = true;
	else if (inet_pton(AF_INET, addr, a) == 1)
		l.family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		l.family = AF_INET6;
	return hba_match(h, &l, &method, &map, &line) ? method : -1;
}

static void test_rules(void)
{
	char err[512];
	(void)put("names", "# the app users\nweb1, web2\nweb3\n"); /* @names below */
	const char *ident = put("ident", "m  alice  \"bob\"\nm  carol  all\n");
	const char *rules = put("hba", "# TYPE DB USER ADDRESS METHOD\n\n"
				       "local  all  alice  peer map=m\n"
				       "host   \"all\"  x  10.0.0.0/8  trust\n"
				       "hostssl all all 10.0.0.0/8 cert\n"
				       "hostnossl db1,db2  u1 , u2  11.0.0.0  255.0.0.0  md5\n"
				       "host sameuser @names 12.0.0.0/8 \\\n    password\n"
				       "host \"q\"\"q\" all ::1/128 scram-sha-256 # comment\n"
				       "host all all all reject\n");
	struct hba *h = hba_load(rules, ident, err, sizeof(err));

	if (!tap_ok(h != NULL, "a file with every supported form loads")) {
		tap_diag("%s", err);
		return;
	}
	tap_ok(hba_count(h) == 7, "seven rules (the continued line is one)");
	tap_ok(pick(h, NULL, false, "any", "alice") == HBA_PEER, "local line for the Unix socket");
	tap_ok(pick(h, NULL, false, "any", "bob") == -1, "no local line for bob: none matches");
	tap_ok(pick(h, "10.1.2.3", false, "all", "x") == HBA_TRUST, "a quoted \"all\" is a database named all");
	tap_ok(pick(h, "10.1.2.3", false, "db1", "x") == HBA_REJECT, "... and matches no other database");
	tap_ok(pick(h, "10.1.2.3", true, "db1", "y") == HBA_CERT, "hostssl with TLS");
	tap_ok(pick(h, "11.9.9.9", false, "db2", "u2") == HBA_MD5, "lists with blanks around commas, separate mask");
	tap_ok(pick(h, "11.9.9.9", true, "db2", "u2") == HBA_REJECT, "hostnossl skips TLS");
	tap_ok(pick(h, "12.0.0.1", false, "web2", "web2") == HBA_PASSWORD, "sameuser and @file");
	tap_ok(pick(h, "12.0.0.1", false, "web1", "web2") == HBA_REJECT, "sameuser needs the same name");
	tap_ok(pick(h, "::1", false, "q\"q", "z") == HBA_SCRAM, "\"\" in quotes, IPv6");
	tap_ok(pick(h, "::2", false, "q\"q", "z") == HBA_REJECT, "/128 is one address");
	tap_ok(hba_ident_allows(h, "m", "alice", "bob"), "the map lets alice in as bob");
	tap_ok(!hba_ident_allows(h, "m", "alice", "carol"), "... and not as carol");
	tap_ok(hba_ident_allows(h, "m", "carol", "anyone"), "all as the user name");
	tap_ok(!hba_ident_allows(h, "other", "carol", "anyone"), "another map");
	hba_free(h);
}

static void refused(const char *text, const char *ident, const char *want)
{
	char err[512] = "";
	struct hba *h = hba_load(put("bad", text), ident ? put("badident", ident) : NULL, err, sizeof(err));

	if (!tap_ok(!h && strstr(err, want), "refused: %s", want))
		tap_diag("got \"%s\"", h ? "(loaded)" : err);
	hba_free(h);
}

static void test_errors(void)
{
	refused("host all all 1.2.3.4/33 md5\n", NULL, "bad:1: invalid prefix length");
	refused("\nhost all all db.example.org md5\n", NULL, "bad:2: invalid address");
	refused("host all all 1.2.3.4 md5\n", NULL, "invalid mask");
	refused("local all all ldap\n", NULL, "authentication method \"ldap\" is not supported");
	refused("host all all all peer\n", NULL, "peer works on local lines only");
	refused("local all all md5 map=x\n", NULL, "map= applies to cert and peer only");
	refused("local all all peer clientcert=1\n", NULL, "unknown option");
	refused("local all all peer map=x\n", NULL, "map \"x\" is not in auth_ident_file");
	refused("local samerole all trust\n", NULL, "group membership is not supported");
	refused("local all +grp trust\n", NULL, "group membership is not supported");
	refused("local all all,\n", NULL, "a list ends with a comma");
	refused("local \"all all trust\n", NULL, "unterminated quoted name");
	refused("hostgssenc all all all trust\n", NULL, "unknown record type");
	refused("local all trust\n", NULL, "too few fields");
	refused("local @missing all trust\n", NULL, "cannot open names file");
	refused("local all all trust\n", "m /^(.*)$ x\n", "badident:1: regular expressions are not supported");
	refused("local all all trust\n", "m a\n", "a line is: map system-user pg-user");
}

int main(void)
{
	tap_begin();
	if (!mkdtemp(dir))
		return 2;
	test_rules();
	test_errors();
	{
		char cmd[300];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			tap_diag("could not remove %s", dir);
	}
	return tap_end();
}
