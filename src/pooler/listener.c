/*
 * listener: see listener.h.
 */
#include "pooler/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "pooler/client.h"
#include "util/log.h"

#define ACCEPT_BATCH 64

struct listener {
	struct sift *sift;
	int fd;
	bool paused;
	char *unix_path;
	struct event ev;
};

static void peer_from_sockaddr(const struct sockaddr_storage *ss, struct peer_addr *pa)
{
	memset(pa, 0, sizeof(*pa));
	pa->family = (uint8_t)ss->ss_family;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
		pa->port = ntohs(in->sin_port);
		memcpy(pa->a, &in->sin_addr, 4);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
		pa->port = ntohs(in6->sin6_port);
		memcpy(pa->a, &in6->sin6_addr, 16);
	} else
		pa->family = AF_UNIX;
}

static void accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	struct sift *s = l->sift;
	int one = 1;

	(void)what;
	sift_now(s);
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct peer_addr pa;
		int cfd = accept4(fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				log_error("accept: %s: not accepting for a moment", strerror(errno));
				event_del(&l->ev);
				l->paused = true;
			} else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_error("accept: %s", strerror(errno));
			return;
		}
		if (ss.ss_family != AF_UNIX)
			setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		peer_from_sockaddr(&ss, &pa);
		client_accept(s, cfd, &pa);
	}
}

static bool add_listener(struct sift *s, int fd, const char *unix_path)
{
	struct listener *l = calloc(1, sizeof(*l)), **nl;

	nl = realloc(s->listeners, sizeof(*nl) * (size_t)(s->nlisteners + 1));
	if (!l || !nl) {
		free(l);
		if (nl)
			s->listeners = nl;
		close(fd);
		return false;
	}
	s->listeners = nl;
	l->sift = s;
	l->fd = fd;
	l->unix_path = unix_path ? strdup(unix_path) : NULL;
	event_assign(&l->ev, s->base, fd, EV_READ | EV_PERSIST, accept_cb, l);
	event_add(&l->ev, NULL);
	nl[s->nlisteners++] = l;
	return true;
}

static int bind_listen(struct sift *s, const struct sockaddr *sa, socklen_t len, char *err, size_t errlen)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* several pgsift processes on one port: the kernel spreads connections */
	if (sa->sa_family != AF_UNIX && s->cfg.so_reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
		snprintf(err, errlen, "so_reuseport: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, sa, len) != 0 || listen(fd, s->cfg.listen_backlog) != 0) {
		snprintf(err, errlen, "%s: %s", sa->sa_family == AF_UNIX ? "unix socket" : "bind/listen", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static bool open_tcp(struct sift *s, const char *addr, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE }, *res, *ai;
	char port[16], e[256];
	int rc, opened = 0;

	snprintf(port, sizeof(port), "%d", s->cfg.listen_port);
	rc = getaddrinfo(strcmp(addr, "*") == 0 ? NULL : addr, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen_addr %s: %s", addr, gai_strerror(rc));
		return false;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		int fd = bind_listen(s, ai->ai_addr, ai->ai_addrlen, e, sizeof(e));
		if (fd < 0) {
			/* "*" on a host without IPv6 still listens on IPv4 */
			if (strcmp(addr, "*") == 0 && ai->ai_family == AF_INET6)
				continue;
			snprintf(err, errlen, "listen_addr %s port %s: %s", addr, port, e);
			freeaddrinfo(res);
			return false;
		}
		if (!add_listener(s, fd, NULL)) {
			snprintf(err, errlen, "out of memory");
			freeaddrinfo(res);
			return false;
		}
		opened++;
	}
	freeaddrinfo(res);
	if (!opened)
		snprintf(err, errlen, "listen_addr %s: no address to listen on", addr);
	return opened > 0;
}

/* Does a process accept connections on this socket file? */
static bool unix_socket_live(const struct sockaddr_un *un)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return false;
	live = connect(fd, (const struct sockaddr *)un, sizeof(*un)) == 0 || errno == EAGAIN;
	close(fd);
	return live;
}

static bool open_unix(struct sift *s, char *err, size_t errlen)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char e[256];
	int fd;

	if (snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", s->cfg.unix_socket_dir, s->cfg.listen_port) >=
	    (int)sizeof(un.sun_path)) {
		snprintf(err, errlen, "unix_socket_dir path too long");
		return false;
	}
	/* a stale socket file from a crashed run would make bind fail; one a
	 * running process answers on is not ours to take (as PgBouncer) */
	if (unix_socket_live(&un)) {
		snprintf(err, errlen, "unix socket %s is in use by another process", un.sun_path);
		return false;
	}
	unlink(un.sun_path);
	fd = bind_listen(s, (struct sockaddr *)&un, sizeof(un), e, sizeof(e));
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", un.sun_path, e);
		return false;
	}
	if (chmod(un.sun_path, (mode_t)s->cfg.unix_socket_mode) != 0)
		log_warning("chmod %s: %s", un.sun_path, strerror(errno));
	if (!add_listener(s, fd, un.sun_path)) {
		snprintf(err, errlen, "out of memory");
		return false;
	}
	return true;
}

bool listener_open_all(struct sift *s, char *err, size_t errlen)
{
	const char *la = s->cfg.listen_addr;
	char buf[1024], *tok, *save = NULL;

	if (la && *la) {
		snprintf(buf, sizeof(buf), "%s", la);
		for (tok = strtok_r(buf, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
			if (!open_tcp(s, tok, err, errlen)) {
				listener_close_all(s);
				return false;
			}
	}
	if (s->cfg.unix_socket_dir && *s->cfg.unix_socket_dir && !open_unix(s, err, errlen)) {
		listener_close_all(s);
		return false;
	}
	return true;
}

bool listener_chown(struct sift *s, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	for (int i = 0; i < s->nlisteners; i++) {
		const char *path = s->listeners[i]->unix_path;
		if (path && lchown(path, uid, gid) != 0) {
			snprintf(err, errlen, "cannot give unix socket %s to uid %d: %s", path, (int)uid, strerror(errno));
			return false;
		}
	}
	return true;
}

static void listener_free(struct listener *l)
{
	event_del(&l->ev);
	close(l->fd);
	if (l->unix_path) {
		unlink(l->unix_path);
		free(l->unix_path);
	}
	free(l);
}

void listener_close_all(struct sift *s)
{
	for (int i = 0; i < s->nlisteners; i++)
		listener_free(s->listeners[i]);
	free(s->listeners);
	s->listeners = NULL;
	s->nlisteners = 0;
}

void listener_close_tcp(struct sift *s)
{
	int kept = 0;

	for (int i = 0; i < s->nlisteners; i++) {
		if (s->listeners[i]->unix_path)
			s->listeners[kept++] = s->listeners[i];
		else
			listener_free(s->listeners[i]);
	}
	s->nlisteners = kept;
}

void listener_suspend(struct sift *s, bool on)
{
	for (int i = 0; i < s->nlisteners; i++) {
		struct listener *l = s->listeners[i];
		if (on && !l->paused)
			event_del(&l->ev);
		else if (!on && !l->paused)
			event_add(&l->ev, NULL);
	}
	if (!on)
		listener_resume(s);
}

void listener_resume(struct sift *s)
{
	if (s->suspended)
		return;
	for (int i = 0; i < s->nlisteners; i++)
		if (s->listeners[i]->paused) {
			s->listeners[i]->paused = false;
			event_add(&s->listeners[i]->ev, NULL);
		}
}
