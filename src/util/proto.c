/*
 * proto: see proto.h.
 */
#include "util/proto.h"

#include <stdlib.h>
#include <string.h>

void pkt_init(struct pktbuf *pb, uint32_t max)
{
	memset(pb, 0, sizeof(*pb));
	pb->max = max;
}

void pkt_free(struct pktbuf *pb)
{
	free(pb->data);
	pb->data = NULL;
	pb->len = pb->cap = 0;
	pb->failed = false;
}

static bool pkt_reserve(struct pktbuf *pb, size_t n)
{
	size_t need = (size_t)pb->len + n, cap;
	uint8_t *d;

	if (pb->failed)
		return false;
	if (need <= pb->cap)
		return true;
	if (need > pb->max) {
		pb->failed = true;
		return false;
	}
	cap = pb->cap ? pb->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > pb->max)
		cap = pb->max;
	d = realloc(pb->data, cap);
	if (!d) {
		pb->failed = true;
		return false;
	}
	pb->data = d;
	pb->cap = (uint32_t)cap;
	return true;
}

void pkt_put(struct pktbuf *pb, const void *p, size_t n)
{
	if (n == 0 || !pkt_reserve(pb, n))
		return;
	memcpy(pb->data + pb->len, p, n);
	pb->len += (uint32_t)n;
}

void pkt_put_u8(struct pktbuf *pb, uint8_t v)
{
	pkt_put(pb, &v, 1);
}

void pkt_put_u16(struct pktbuf *pb, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	pkt_put(pb, b, 2);
}

void pkt_put_u32(struct pktbuf *pb, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	pkt_put(pb, b, 4);
}

void pkt_put_str(struct pktbuf *pb, const char *s)
{
	pkt_put(pb, s, strlen(s) + 1);
}

void pkt_begin(struct pktbuf *pb, uint8_t type)
{
	if (type)
		pkt_put_u8(pb, type);
	pb->msg_start = pb->len;
	pkt_put_u32(pb, 0);
}

void pkt_end(struct pktbuf *pb)
{
	uint32_t n;

	if (pb->failed)
		return;
	n = pb->len - pb->msg_start;
	pb->data[pb->msg_start] = (uint8_t)(n >> 24);
	pb->data[pb->msg_start + 1] = (uint8_t)(n >> 16);
	pb->data[pb->msg_start + 2] = (uint8_t)(n >> 8);
	pb->data[pb->msg_start + 3] = (uint8_t)n;
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid
 * (overlong, surrogate, above U+10FFFF, cut short). */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp, min;
	size_t len;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f, min = 0x80;
	else if ((s[0] & 0xf0) == 0xe0)
		len = 3, cp = s[0] & 0x0f, min = 0x800;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	return cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? 0 : len;
}

void pkt_put_text(struct pktbuf *pb, const char *text)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)text;
	size_t n = strlen(text), run = 0;

	while (run < n) {
		size_t l = utf8_len(s + run, n - run);
		if (l) {
			run += l;
			continue;
		}
		char esc[4] = { '\\', 'x', hex[s[run] >> 4], hex[s[run] & 15] };
		pkt_put(pb, s, run);
		pkt_put(pb, esc, sizeof(esc));
		s += run + 1;
		n -= run + 1;
		run = 0;
	}
	pkt_put(pb, s, n);
	pkt_put_u8(pb, 0);
}

static void put_err_like(struct pktbuf *pb, uint8_t type, const char *sev, const char *sqlstate,
			 const char *msg, const char *detail)
{
	pkt_begin(pb, type);
	pkt_put_u8(pb, 'S');
	pkt_put_str(pb, sev);
	pkt_put_u8(pb, 'V');
	pkt_put_str(pb, sev);
	pkt_put_u8(pb, 'C');
	pkt_put_str(pb, sqlstate);
	pkt_put_u8(pb, 'M');
	pkt_put_text(pb, msg);
	if (detail) {
		pkt_put_u8(pb, 'D');
		pkt_put_text(pb, detail);
	}
	pkt_put_u8(pb, 0);
	pkt_end(pb);
}

void proto_error(struct pktbuf *pb, bool fatal, const char *sqlstate, const char *msg)
{
	put_err_like(pb, 'E', fatal ? "FATAL" : "ERROR", sqlstate, msg, NULL);
}

void proto_error_detail(struct pktbuf *pb, bool fatal, const char *sqlstate, const char *msg, const char *detail)
{
	put_err_like(pb, 'E', fatal ? "FATAL" : "ERROR", sqlstate, msg, detail);
}

void proto_notice(struct pktbuf *pb, const char *msg, const char *detail)
{
	put_err_like(pb, 'N', "NOTICE", "00000", msg, detail);
}

void proto_param_status(struct pktbuf *pb, const char *name, const char *value)
{
	pkt_begin(pb, 'S');
	pkt_put_str(pb, name);
	pkt_put_str(pb, value);
	pkt_end(pb);
}

void proto_ready(struct pktbuf *pb, char status)
{
	pkt_begin(pb, 'Z');
	pkt_put_u8(pb, (uint8_t)status);
	pkt_end(pb);
}

void proto_auth(struct pktbuf *pb, uint32_t code, const void *extra, size_t extra_len)
{
	pkt_begin(pb, 'R');
	pkt_put_u32(pb, code);
	pkt_put(pb, extra, extra_len);
	pkt_end(pb);
}

void proto_backend_key(struct pktbuf *pb, uint32_t pid, uint32_t key)
{
	pkt_begin(pb, 'K');
	pkt_put_u32(pb, pid);
	pkt_put_u32(pb, key);
	pkt_end(pb);
}

void proto_query(struct pktbuf *pb, const char *sql)
{
	pkt_begin(pb, 'Q');
	pkt_put_str(pb, sql);
	pkt_end(pb);
}

void proto_terminate(struct pktbuf *pb)
{
	pkt_begin(pb, 'X');
	pkt_end(pb);
}

void proto_cancel_request(struct pktbuf *pb, uint32_t pid, uint32_t key)
{
	pkt_begin(pb, 0);
	pkt_put_u32(pb, PROTO_CANCEL_REQUEST);
	pkt_put_u32(pb, pid);
	pkt_put_u32(pb, key);
	pkt_end(pb);
}

void proto_negotiate(struct pktbuf *pb, uint32_t minor, const char *const *opts, int nopts)
{
	pkt_begin(pb, 'v');
	pkt_put_u32(pb, (3u << 16) | minor);
	pkt_put_u32(pb, (uint32_t)nopts);
	for (int i = 0; i < nopts; i++)
		pkt_put_str(pb, opts[i]);
	pkt_end(pb);
}

uint8_t mr_u8(struct msg_reader *r)
{
	if (r->bad || r->len - r->pos < 1) {
		r->bad = true;
		return 0;
	}
	return r->p[r->pos++];
}

uint16_t mr_u16(struct msg_reader *r)
{
	const uint8_t *b = mr_bytes(r, 2);
	return b ? (uint16_t)(b[0] << 8 | b[1]) : 0;
}

uint32_t mr_u32(struct msg_reader *r)
{
	const uint8_t *b = mr_bytes(r, 4);
	return b ? proto_get_u32(b) : 0;
}

const uint8_t *mr_bytes(struct msg_reader *r, size_t n)
{
	const uint8_t *b;

	if (r->bad || r->len - r->pos < n) {
		r->bad = true;
		return NULL;
	}
	b = r->p + r->pos;
	r->pos += n;
	return b;
}

const char *mr_str(struct msg_reader *r)
{
	const uint8_t *start, *nul;

	if (r->bad) 
		return "";
	start = r->p + r->pos;
	nul = memchr(start, 0, r->len - r->pos);
	if (!nul) {
		r->bad = true;
		return "";
	}
	r->pos += (size_t)(nul - start) + 1;
	return (const char *)start;
}

void proto_parse_error(const uint8_t *body, size_t len, struct proto_err_fields *out)
{
	struct msg_reader r;

	out->severity = out->sqlstate = out->message = "";
	mr_init(&r, body, len);
	for (;;) {
		uint8_t code = mr_u8(&r);
		const char *val;

		if (r.bad || code == 0)
			return;
		val = mr_str(&r);
		if (r.bad)
			return;
		if (code == 'S' || (code == 'V' && !*out->severity))
			out->severity = val;
		else if (code == 'C')
			out->sqlstate = val;
		else if (code == 'M')
			out->message = val;
	}
}

bool proto_quote_literal(const char *value, char *out, size_t outlen)
{
	size_t n = 0;
	bool esc = strchr(value, '\\') != NULL;

	if (outlen < 3)
		return false;
	if (esc)
		out[n++] = 'E';
	out[n++] = '\'';
	for (const char *s = value; *s; s++) {
		size_t need = (*s == '\'' || (esc && *s == '\\')) ? 2 : 1;
		if (n + need + 2 > outlen)
			return false;
		if (need == 2)
			out[n++] = *s;
		out[n++] = *s;
	}
	out[n++] = '\'';
	out[n] = 0;
	return true;
}

