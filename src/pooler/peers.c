/*
 * peers: see peers.h.
 */
#include "pooler/peers.h"

#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "pooler/server.h"
#include "util/log.h"

/* Where peer pc listens: its Unix socket when host is a directory, else
 * host and port (a name is looked up here, as server host names are). */
static bool peer_address(const struct peer_conf *pc, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL;
	char port[8];

	memset(ss, 0, sizeof(*ss));
	if (pc->host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		un->sun_family = AF_UNIX;
		if ((size_t)snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", pc->host, pc->port) >=
		    sizeof(un->sun_path))
			return false;
		*len = sizeof(*un);
		return true;
	}
	snprintf(port, sizeof(port), "%d", pc->port);
	if (getaddrinfo(pc->host, port, &hints, &res) != 0 || !res)
		return false;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

bool peer_cancel_route(struct sift *s, uint32_t pid, uint32_t *key)
{
	int own = s->cfg.peer_id, to = peer_key_id(pid);
	const struct peer_conf *pc;
	struct sockaddr_storage ss;
	socklen_t len;

	if (own <= 0)
		return false;
	if (to == own) {
		*key |= PEER_TTL_MASK;
		return false;
	}
	if ((*key & PEER_TTL_MASK) == 0) {
		log_warning("cancel request for peer %d dropped: forwarded too many times", to);
		return true;
	}
	if (!(pc = config_find_peer(&s->cfg, to))) {
		log_warning("cancel request for peer %d dropped: no such entry in [peers]", to);
		return true;
	}
	if (!peer_address(pc, &ss, &len)) {
		log_warning("cancel request for peer %d dropped: cannot resolve %s", to, pc->host);
		return true;
	}
	if (server_cancel_to(s, &ss, len, pid, *key - 1))
		log_debug("cancel request forwarded to peer %d", to);
	return true;
}
