/*
 * proto: PostgreSQL v3 wire-protocol framing and message building.
 *
 * Pure module (no sockets, no libevent, no libpq). Building goes into a
 * growable struct pktbuf; reading goes through struct msg_reader, which
 * bounds every access by the message length and records the first error
 * instead of reading past the end.
 */
#ifndef PGSIFT_PROTO_H
#define PGSIFT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_V3 196608u		/* 3.0 */
#define PROTO_SSL_REQUEST 80877103u
#define PROTO_GSSENC_REQUEST 80877104u
#define PROTO_CANCEL_REQUEST 80877102u
#define PROTO_MAX_STARTUP 10000u	/* as PostgreSQL's MAX_STARTUP_PACKET_LENGTH */
#define PROTO_HDR 5u			/* type byte + int32 length */
#define PROTO_SMALL_MESSAGE_MAX 10000u	/* Close, Describe, Flush, Sync: PostgreSQL's PQ_SMALL_MESSAGE_LIMIT */

/* Authentication request codes ('R' messages). */
enum {
	AUTH_OK = 0,
	AUTH_CLEARTEXT = 3,
	AUTH_MD5 = 5,
	AUTH_SASL = 10,
	AUTH_SASL_CONTINUE = 11,
	AUTH_SASL_FINAL = 12
};

/* A growable output buffer. On allocation failure or when growing past
 * max it sets failed and drops further writes; the caller checks failed
 * once when it is done building. */
struct pktbuf {
	uint8_t *data;
	uint32_t len, cap, max;
	uint32_t msg_start;	/* offset of the message being built */
	bool failed;
};

void pkt_init(struct pktbuf *pb, uint32_t max);
void pkt_free(struct pktbuf *pb);
/* Forgets the content; keeps the allocation. */
static inline void pkt_reset(struct pktbuf *pb)
{
	pb->len = 0;
}
void pkt_put(struct pktbuf *pb, const void *p, size_t n);
void pkt_put_u8(struct pktbuf *pb, uint8_t v);
void pkt_put_u16(struct pktbuf *pb, uint16_t v);
void pkt_put_u32(struct pktbuf *pb, uint32_t v);
/* Writes s and its terminating NUL. */
void pkt_put_str(struct pktbuf *pb, const char *s);
/* Writes s and its NUL with every byte that is not part of valid UTF-8
 * written as \xNN: text pgsift builds from what a client sent (a name, a
 * console command) must not send invalid bytes back. */
void pkt_put_text(struct pktbuf *pb, const char *s);
/* Starts a message; type 0 starts an untyped (startup-style) packet. */
void pkt_begin(struct pktbuf *pb, uint8_t type);
/* Patches the length of the message started by pkt_begin(). */
void pkt_end(struct pktbuf *pb);

/* Complete messages, appended to pb (message and detail via pkt_put_text). */
void proto_error(struct pktbuf *pb, bool fatal, const char *sqlstate, const char *msg);
/* The same with a DETAIL field (NULL: none). */
void proto_error_detail(struct pktbuf *pb, bool fatal, const char *sqlstate, const char *msg, const char *detail);
void proto_notice(struct pktbuf *pb, const char *msg, const char *detail);
void proto_param_status(struct pktbuf *pb, const char *name, const char *value);
void proto_ready(struct pktbuf *pb, char status);
void proto_auth(struct pktbuf *pb, uint32_t code, const void *extra, size_t extra_len);
void proto_backend_key(struct pktbuf *pb, uint32_t pid, uint32_t key);
void proto_query(struct pktbuf *pb, const char *sql);
void proto_terminate(struct pktbuf *pb);
void proto_cancel_request(struct pktbuf *pb, uint32_t pid, uint32_t key);
/* NegotiateProtocolVersion: newest minor we speak plus unknown _pq_ options. */
void proto_negotiate(struct pktbuf *pb, uint32_t minor, const char *const *opts, int nopts);

/* Bounded reader over one message body. */
struct msg_reader {
	const uint8_t *p;
	size_t len, pos;
	bool bad;
};

static inline void mr_init(struct msg_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->pos = 0;
	r->bad = false;
}

uint8_t mr_u8(struct msg_reader *r);
uint16_t mr_u16(struct msg_reader *r);
uint32_t mr_u32(struct msg_reader *r);
/* Returns a pointer to a NUL-terminated string inside the message, or ""
 * (and sets bad) when no NUL is found before the end. */
const char *mr_str(struct msg_reader *r);
/* Returns n bytes or NULL (and sets bad). */
const uint8_t *mr_bytes(struct msg_reader *r, size_t n);
static inline size_t mr_left(const struct msg_reader *r)
{
	return r->len - r->pos;
}

static inline uint32_t proto_get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Fields of an ErrorResponse/NoticeResponse body. Pointers into the body;
 * missing fields are "". */
struct proto_err_fields {
	const char *severity;
	const char *sqlstate;
	const char *message;
};
void proto_parse_error(const uint8_t *body, size_t len, struct proto_err_fields *out);

/* Quotes value as an SQL literal into out ('...' or E'...'); false when it
 * does not fit. */
bool proto_quote_literal(const char *value, char *out, size_t outlen)
	__attribute__((warn_unused_result));

/* Is this a message type a frontend may send after startup? (Inline: the
 * relay asks for every message.) */
static inline bool proto_client_type_valid(uint8_t type)
{
	switch (type) {
	case 'Q': case 'P': case 'B': case 'E': case 'D': case 'C': case 'S': case 'H':
	case 'F': case 'd': case 'c': case 'f': case 'X':
		return true;
	default:
		return false;
	}
}

#endif
