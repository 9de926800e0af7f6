/*
 * conn: see conn.h.
 */
#include "pooler/conn.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "util/log.h"

void conn_init(struct conn *c, struct event_base *base, struct iobuf_pool *bufs, int fd, uint8_t kind,
	       event_callback_fn cb, void *arg)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->kind = kind;
	c->bufs = bufs;
	c->base = base;
	pkt_init(&c->gen, 1u << 30);
	event_assign(&c->ev, base, fd, EV_READ | EV_PERSIST, cb, arg);
}

void conn_update_to(struct conn *c, short want)
{
	if (want != c->ev_flags) {
		if (c->ev_flags)
			event_del(&c->ev);
		c->ev_flags = want;
		if (!want)
			return;
		event_assign(&c->ev, c->base, c->fd, want | EV_PERSIST, event_get_callback(&c->ev),
			     event_get_callback_arg(&c->ev));
		if (event_add(&c->ev, NULL) != 0) {
			log_error("event_add failed for fd %d", c->fd);
			c->ev_flags = 0;
			return;
		}
	}
	/* decrypted bytes wait in OpenSSL, not in the socket: epoll would not
	 * say so */
	if ((want & EV_READ) && c->tls && SSL_pending(c->tls) > 0)
		event_active(&c->ev, EV_READ, 0);
}

/* Moves the unprocessed bytes of c->in into a new buffer of cap bytes. */
static bool move_tail(struct conn *c, uint32_t cap)
{
	struct iobuf *b = c->in, *nb = iobuf_get_cap(c->bufs, cap);
	uint32_t left = b->end - b->pos;

	if (!nb)
		return false;
	memcpy(nb->data, b->data + b->pos, left);
	nb->end = left;
	iobuf_put(c->bufs, b);
	c->in = nb;
	return true;
}

/* Makes room at the end of c->in; false when no buffer can be had. */
static bool make_room(struct conn *c)
{
	struct iobuf *b = c->in;
	uint32_t left;

	if (!b) {
		c->in = iobuf_get(c->bufs);
		return c->in != NULL;
	}
	left = b->end - b->pos;
	if (b->refs > 1) {
		/* still being sent from: keep the unprocessed tail in a new buffer */
		if (!move_tail(c, left > c->bufs->size ? left : c->bufs->size))
			return false;
	} else if (b->pos > 0) {
		memmove(b->data, b->data + b->pos, left);
		b->pos = 0;
		b->end = left;
	}
	return c->in->end < c->in->cap;
}

/* What an SSL_read() or SSL_write() that returned n means for the caller;
 * *wants_write: OpenSSL waits for the socket to take bytes */
static enum conn_io tls_result(struct conn *c, int n, bool *wants_write)
{
	*wants_write = false;
	switch (SSL_get_error(c->tls, n)) {
	case SSL_ERROR_WANT_READ:
		return CONN_IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*wants_write = true;
		return CONN_IO_AGAIN;
	case SSL_ERROR_ZERO_RETURN: /* the peer closed TLS (close_notify) */
		return CONN_IO_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == EINTR || errno == EAGAIN)
			return CONN_IO_AGAIN;
		if (n == 0 || errno == 0 || errno == ECONNRESET)
			return CONN_IO_EOF;
		return CONN_IO_ERROR;
	default: /* a protocol error: the handshake failed, a bad record */
		ERR_clear_error();
		errno = EPROTO;
		return CONN_IO_ERROR;
	}
}

/* conn_read() through TLS: the handshake first, when it is not done */
static enum conn_io tls_read(struct conn *c)
{
	uint32_t room = c->in->cap - c->in->end;
	int n;

	c->tls_wants_write = false;
	ERR_clear_error();
	errno = 0;
	n = SSL_read(c->tls, c->in->data + c->in->end, room > INT32_MAX ? INT32_MAX : (int)room);
	if (n > 0) {
		c->in->end += (uint32_t)n;
		return CONN_IO_OK;
	}
	return tls_result(c, n, &c->tls_wants_write);
}

enum conn_io conn_read(struct conn *c)
{
	ssize_t n;

	/* no room means no memory (or a full buffer nobody will drain): give up
	 * on this connection rather than spin on a readable socket */
	if (!make_room(c)) {
		errno = ENOMEM;
		return CONN_IO_ERROR;
	}
	if (c->tls)
		return tls_read(c);
	do
		n = recv(c->fd, c->in->data + c->in->end, c->in->cap - c->in->end, 0);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		c->in->end += (uint32_t)n;
		return CONN_IO_OK;
	}
	if (n == 0)
		return CONN_IO_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return CONN_IO_AGAIN;
	return CONN_IO_ERROR;
}

bool conn_reserve_in(struct conn *c, uint32_t need)
{
	return !c->in || c->in->cap >= need || move_tail(c, need);
}

bool conn_queue_relay_seg(struct conn *dst, struct iobuf *b, uint32_t off, uint32_t len)
{
	struct outseg *last = dst->nseg ? &dst->seg[dst->nseg - 1] : NULL;

	if (len == 0)
		return true;
	if (dst->src && dst->src != b)
		return false;
	if (last && !last->gen && last->off + last->len == off) {
		last->len += len;
		return true;
	}
	if (dst->nseg == CONN_MAX_SEG)
		return false;
	if (!dst->src)
		dst->src = iobuf_ref(b);
	dst->seg[dst->nseg++] = (struct outseg){ .off = off, .len = len, .gen = 0 };
	return true;
}

bool conn_gen_commit(struct conn *dst, uint32_t mark)
{
	struct outseg *last = dst->nseg ? &dst->seg[dst->nseg - 1] : NULL;
	uint32_t len = dst->gen.len - mark;

	if (dst->gen.failed)
		return false;
	if (len == 0)
		return true;
	if (last && last->gen && last->off + last->len == mark) {
		last->len += len;
		return true;
	}
	if (dst->nseg == CONN_MAX_SEG)
		return false;
	dst->seg[dst->nseg++] = (struct outseg){ .off = mark, .len = len, .gen = 1 };
	return true;
}

/* Forgets the sent head of the queue; releases what nothing refers to. */
static void consume(struct conn *c, size_t n)
{
	int i = 0;

	while (i < c->nseg && n >= c->seg[i].len) {
		n -= c->seg[i].len;
		i++;
	}
	if (i < c->nseg) {
		c->seg[i].off += (uint32_t)n;
		c->seg[i].len -= (uint32_t)n;
		if (i) /* sent in part: the rest moves to the front */
			memmove(c->seg, c->seg + i, sizeof(c->seg[0]) * (size_t)(c->nseg - i));
		c->nseg = (uint8_t)(c->nseg - i);
		return;
	}
	c->nseg = 0;
	if (c->src) {
		iobuf_put(c->bufs, c->src);
		c->src = NULL;
	}
	/* clients are many and mostly idle: never keep their generated bytes */
	if (c->kind == CONN_CLIENT || c->gen.cap > 16384) {
		if (c->gen.data || c->gen.failed)
			pkt_free(&c->gen);
	} else {
		pkt_reset(&c->gen);
	}
}

/* conn_flush() through TLS: segment by segment (no writev); OpenSSL may
 * take part of one and wants the rest offered again from where it stopped */
static enum conn_io tls_flush(struct conn *c)
{
	bool read_waited = c->tls_wants_write; /* a read (the handshake) wanted to write */

	c->tls_wants_write = false;
	while (c->nseg) {
		const struct outseg *sg = &c->seg[0];
		uint8_t *base = sg->gen ? c->gen.data : c->src->data;
		int n;

		ERR_clear_error();
		errno = 0;
		n = SSL_write(c->tls, base + sg->off, (int)sg->len);
		if (n <= 0) {
			bool ww; /* EV_WRITE is watched anyway while the queue is not empty */
			if (tls_result(c, n, &ww) != CONN_IO_AGAIN)
				return CONN_IO_ERROR;
			break;
		}
		consume(c, (size_t)n);
	}
	conn_update(c);
	if (read_waited && (c->ev_flags & EV_READ))
		event_active(&c->ev, EV_READ, 0); /* that read again */
	return c->nseg ? CONN_IO_AGAIN : CONN_IO_OK;
}

enum conn_io conn_flush(struct conn *c)
{
	struct iovec iov[CONN_MAX_SEG];
	struct msghdr mh = { .msg_iov = iov };
	ssize_t n;

	if (c->nseg == 0 && !c->tls_wants_write)
		return CONN_IO_OK;
	if (c->tls)
		return tls_flush(c);
	if (c->nseg == 0)
		return CONN_IO_OK;
	for (int i = 0; i < c->nseg; i++) {
		uint8_t *base = c->seg[i].gen ? c->gen.data : c->src->data;
		iov[i].iov_base = base + c->seg[i].off;
		iov[i].iov_len = c->seg[i].len;
	}
	mh.msg_iovlen = c->nseg;
	do
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return CONN_IO_ERROR;
	if (n > 0)
		consume(c, (size_t)n);
	if (c->nseg == 0) {
		if (c->ev_flags & EV_WRITE)
			conn_update(c);
		return CONN_IO_OK;
	}
	conn_update(c);
	return CONN_IO_AGAIN;
}

void conn_trim(struct conn *c)
{
	if (c->in && c->in->pos == c->in->end && c->pkt_left == 0) {
		iobuf_put(c->bufs, c->in);
		c->in = NULL;
	}
}

void conn_send_now(struct conn *c, const void *data, size_t len)
{
	if (c->fd < 0)
		return;
	if (c->tls) {
		ERR_clear_error();
		(void)SSL_write(c->tls, data, (int)len);
		ERR_clear_error();
		return;
	}
	ssize_t ignored = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)ignored;
}

void conn_close(struct conn *c)
{
	if (c->ev_flags)
		event_del(&c->ev);
	c->ev_flags = 0;
	c->want_read = false;
	if (c->tls) {
		SSL_set_quiet_shutdown(c->tls, 1); /* no close_notify: the socket goes now */
		SSL_free(c->tls);
		c->tls = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->in)
		iobuf_put(c->bufs, c->in);
	c->in = NULL;
	if (c->src)
		iobuf_put(c->bufs, c->src);
	c->src = NULL;
	c->nseg = 0;
	pkt_free(&c->gen);
	c->peer = NULL;
}
