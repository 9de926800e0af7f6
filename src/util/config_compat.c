/*
 * config_compat: see config_compat.h.
 *
 * The keys pgsift does not know at all are reported by the loader itself
 * (a warning naming the line); this table covers keys pgsift accepts but
 * where its behaviour differs, so a user can decide before switching.
 */
#include "util/config_compat.h"

#include <stdio.h>
#include <string.h>

struct compat_note {
	const char *key;
	bool (*applies)(const struct config *cfg);
	const char *note;
};

static bool query_timeout_cancels(const struct config *cfg)
{
	return cfg->query_timeout > 0 && cfg->query_timeout_cancel;
}

static bool small_pkt_buf(const struct config *cfg)
{
	return cfg->pkt_buf < 16384;
}

static bool has_reuseport(const struct config *cfg)
{
	return cfg->so_reuseport && cfg->peer_id == 0;
}

static bool any_timeout_per_user(const struct config *cfg)
{
	for (int i = 0; i < cfg->nusers; i++) {
		const struct user_conf *u = &cfg->users[i];
		if (u->query_timeout > 0 && cfg->query_timeout_cancel)
			return true;
	}
	return false;
}

static bool always(const struct config *cfg)
{
	(void)cfg;
	return true;
}

static const struct compat_note notes[] = {
	{ "query_timeout", query_timeout_cancels,
	  "a statement running longer is cancelled (the client gets 57014 and stays connected); PgBouncer closes "
	  "the client and its server connection. query_timeout_cancel = 0 gives PgBouncer's behaviour" },
	{ "[users] query_timeout", any_timeout_per_user,
	  "as query_timeout: the statement is cancelled, the client stays (query_timeout_cancel = 0: closed)" },
	{ "pkt_buf", small_pkt_buf,
	  "pgsift's buffers are at least 16 kB whatever pkt_buf says (a startup packet always fits)" },
	{ "so_reuseport", has_reuseport,
	  "without peer_id and [peers] a cancel request that lands on another process of the group is not "
	  "forwarded, as in PgBouncer (see doc/scale-out.md)" },
	{ "auth_type", always,
	  "pam and ldap are refused; an unknown user or a wrong password gets PostgreSQL's "
	  "'password authentication failed for user' (28P01) after the same exchange a real user gets, never "
	  "'no such user' or 'SASL authentication failed'" },
	{ "admin console", always,
	  "errors carry precise SQLSTATEs (3D000 no such database, 42601 syntax, 55000 state) where PgBouncer "
	  "sends 08P01 for all; online restart (-R) and SHOW FDS are not available" },
};

int config_compat_notes(const struct config *cfg, void (*emit)(const char *key, const char *note, void *arg),
			void *arg)
{
	int n = 0;

	for (size_t i = 0; i < sizeof(notes) / sizeof(notes[0]); i++)
		if (notes[i].applies(cfg)) {
			emit(notes[i].key, notes[i].note, arg);
			n++;
		}
	return n;
}
