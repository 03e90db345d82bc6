/*
 * lab_dns.c: the lab's DNS server, a tiny authoritative responder for the
 * zone "lab.test" on UDP 127.0.0.1, so the doctor's DNS stage can be tested
 * without the machine's resolver.
 *
 * By name it answers A 127.0.0.1 (every lab endpoint), NXDOMAIN
 * (nxdomain.lab.test and unknown names), SERVFAIL (servfail.lab.test),
 * A 0.0.0.0 (sinkhole.lab.test, the answer DNS filters give for blocked
 * names) or nothing at all (timeout.lab.test). Names outside the zone get
 * REFUSED: the lab is no open resolver.
 *
 * The parser treats every packet as hostile (RFC 1035 4.1):
 *  1. Every read is bounds-checked against the datagram length.
 *  2. A name is at most 255 octets on the wire and labels at most 63
 *     (RFC 1035 2.3.4); the 0x40/0x80 label types are refused.
 *  3. A compression pointer (RFC 1035 4.1.4) must point strictly before the
 *     run of labels that contains it, so every jump goes backwards and a
 *     loop cannot form; jumps are also capped.
 */
#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "lab_int.h"

#define MAX_JUMPS 16

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)(v & 0xff);
}

const char *
cki_dns_parse_query(const uint8_t *pkt, size_t len, struct cki_dns_query *q)
{
	size_t pos = CKI_DNS_HDRLEN, seq_start = CKI_DNS_HDRLEN, after = 0;
	size_t wire = 0, out = 0;
	int jumps = 0;

	memset(q, 0, sizeof(*q));
	if (len < CKI_DNS_HDRLEN)
		return "truncated header";
	q->id = get16(pkt);
	q->flags = get16(pkt + 2);
	/* RFC 1035 4.1.1: QR=0 is a query; OPCODE 0 a standard query. */
	if (q->flags & 0x8000)
		return "a response, not a query";
	if (((q->flags >> 11) & 0xf) != 0)
		return "not a standard query";
	if (get16(pkt + 4) != 1)
		return "expected exactly one question";
	for (;;) {
		uint8_t l;

		if (pos >= len)
			return "truncated name";
		l = pkt[pos];
		if ((l & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len)
				return "truncated compression pointer";
			target = ((size_t)(l & 0x3f) << 8) | pkt[pos + 1];
			if (after == 0)
				after = pos + 2;
			/* Invariant 3: strictly backwards, into the message
			 * body, before the labels already read. */
			if (target < CKI_DNS_HDRLEN || target >= seq_start ||
			    ++jumps > MAX_JUMPS)
				return "bad compression pointer";
			pos = seq_start = target;
			continue;
		}
		if ((l & 0xc0) != 0)
			return "reserved label type";
		wire += (size_t)l + 1;
		if (wire > CKI_DNS_MAXNAME)
			return "name longer than 255 octets";
		if (l == 0) {
			pos++;
			break;
		}
		if (pos + 1 + l > len)
			return "truncated label";
		if (out != 0)
			q->name[out++] = '.';
		for (size_t i = 0; i < l; i++) {
			unsigned char c = pkt[pos + 1 + i];

			/* Host names (RFC 1123 2.1) and the odd underscore;
			 * anything else cannot be in the lab's zone. */
			if (!isalnum(c) && c != '-' && c != '_')
				return "label holds a byte no host name has";
			q->name[out++] = (char)tolower(c);
		}
		pos += 1 + l;
	}
	q->name[out] = '\0';
	if (after == 0)
		after = pos;
	if (after + 4 > len)
		return "truncated question";
	q->qtype = get16(pkt + after);
	q->qclass = get16(pkt + after + 2);
	return NULL;
}

size_t
cki_dns_build_reply(const struct cki_dns_query *q, int rcode,
    const uint8_t addr4[4], uint8_t *out, size_t cap)
{
	size_t pos = CKI_DNS_HDRLEN;
	const char *p = q->name;

	if (cap < CKI_DNS_HDRLEN + CKI_DNS_MAXNAME + 1 + 4 + 16)
		return 0;
	put16(out, q->id);
	/* QR=1, AA=1, RD copied, RCODE (RFC 1035 4.1.1). */
	put16(out + 2,
	    (uint16_t)(0x8000 | 0x0400 | (q->flags & 0x0100) | (rcode & 0xf)));
	put16(out + 4, 1);
	put16(out + 6, addr4 != NULL ? 1 : 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	while (*p != '\0') {
		size_t l = strcspn(p, ".");

		if (l == 0 || l > CKI_DNS_MAXLABEL)
			return 0;
		out[pos++] = (uint8_t)l;
		memcpy(out + pos, p, l);
		pos += l;
		p += l;
		if (*p == '.')
			p++;
	}
	out[pos++] = 0;
	put16(out + pos, q->qtype);
	put16(out + pos + 2, q->qclass);
	pos += 4;
	if (addr4 != NULL) {
		put16(out + pos, 0xc000 | CKI_DNS_HDRLEN); /* the question */
		put16(out + pos + 2, CKI_DNS_TYPE_A);
		put16(out + pos + 4, CKI_DNS_CLASS_IN);
		put16(out + pos + 6, 0);
		put16(out + pos + 8, 60); /* TTL */
		put16(out + pos + 10, 4);
		memcpy(out + pos + 12, addr4, 4);
		pos += 16;
	}
	return pos;
}

size_t
cki_dns_build_formerr(const uint8_t *pkt, size_t len, uint8_t *out, size_t cap)
{
	uint16_t flags;

	if (len < CKI_DNS_HDRLEN || cap < CKI_DNS_HDRLEN)
		return 0;
	flags = get16(pkt + 2);
	if (flags & 0x8000)
		return 0; /* never answer a response: no reflection loops */
	memset(out, 0, CKI_DNS_HDRLEN);
	memcpy(out, pkt, 2);
	/* Opcodes other than QUERY are not implemented (RFC 1035 4.1.1). */
	put16(out + 2,
	    (uint16_t)(0x8000 | (flags & 0x7900) |
	        (((flags >> 11) & 0xf) != 0 ? CKI_DNS_NOTIMP
	                                    : CKI_DNS_FORMERR)));
	return CKI_DNS_HDRLEN;
}

static int
in_zone(const char *name)
{
	size_t n = strlen(name), z = strlen(CKI_LAB_ZONE);

	if (n == z)
		return strcmp(name, CKI_LAB_ZONE) == 0;
	return n > z && name[n - z - 1] == '.' &&
	    strcmp(name + n - z, CKI_LAB_ZONE) == 0;
}

enum cki_lab_dns_answer
cki_lab_dns_lookup(const char *name)
{
	static const struct {
		const char *name;
		enum cki_lab_dns_answer a;
	} special[] = {
	    {"nxdomain." CKI_LAB_ZONE, CKI_LAB_DNS_NXDOMAIN},
	    {"servfail." CKI_LAB_ZONE, CKI_LAB_DNS_SERVFAIL},
	    {"timeout." CKI_LAB_ZONE, CKI_LAB_DNS_SILENT},
	    {"sinkhole." CKI_LAB_ZONE, CKI_LAB_DNS_SINKHOLE},
	    {"printer." CKI_LAB_ZONE, CKI_LAB_DNS_ADDR},
	    {"other." CKI_LAB_ZONE, CKI_LAB_DNS_ADDR},
	    {"portal." CKI_LAB_ZONE, CKI_LAB_DNS_ADDR},
	};
	const struct cki_lab_spec *s;
	size_t n;

	if (!in_zone(name))
		return CKI_LAB_DNS_REFUSED;
	for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
		if (strcmp(name, special[i].name) == 0)
			return special[i].a;
	s = cki_lab_specs(&n);
	for (size_t i = 0; i < n; i++)
		if (s[i].host != NULL && strcmp(name, s[i].host) == 0)
			return CKI_LAB_DNS_ADDR;
	return CKI_LAB_DNS_NXDOMAIN;
}

static void
dns_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t in[4096], out[CKI_DNS_MAXMSG];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct cki_dns_query q;
	static const uint8_t loop[4] = {127, 0, 0, 1}, zero[4] = {0};
	const uint8_t *addr = NULL;
	int rcode = CKI_DNS_NOERROR;
	ssize_t r;
	size_t n;

	(void)what;
	(void)arg;
	r = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&from, &fromlen);
	if (r < 0)
		return;
	if (cki_dns_parse_query(in, (size_t)r, &q) != NULL) {
		n = cki_dns_build_formerr(in, (size_t)r, out, sizeof(out));
		goto send;
	}
	switch (cki_lab_dns_lookup(q.name)) {
	case CKI_LAB_DNS_ADDR: addr = loop; break;
	case CKI_LAB_DNS_SINKHOLE: addr = zero; break;
	case CKI_LAB_DNS_NXDOMAIN: rcode = CKI_DNS_NXDOMAIN; break;
	case CKI_LAB_DNS_SERVFAIL: rcode = CKI_DNS_SERVFAIL; break;
	case CKI_LAB_DNS_REFUSED: rcode = CKI_DNS_REFUSED; break;
	case CKI_LAB_DNS_SILENT: return; /* the point: no answer at all */
	}
	/* The name exists but has no record of that type: NOERROR with an
	 * empty answer ("no data", RFC 2308 2.2). */
	if (addr != NULL &&
	    (q.qtype != CKI_DNS_TYPE_A || q.qclass != CKI_DNS_CLASS_IN))
		addr = NULL;
	n = cki_dns_build_reply(&q, rcode, addr, out, sizeof(out));
	/* Outside the zone the lab speaks with no authority (RFC 1035
	 * 4.1.1, AA). */
	if (n > 0 && rcode == CKI_DNS_REFUSED)
		out[2] &= (uint8_t)~0x04;
send:
	if (n > 0)
		(void)sendto(fd, out, n, 0, (struct sockaddr *)&from, fromlen);
}

ck_status
cki_lab_dns_start(ck_lab *lab)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	evutil_socket_t fd;

	if ((fd = socket(
	         AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: cannot create the DNS socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		close(fd);
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: cannot bind the DNS server on 127.0.0.1: %s",
		    strerror(errno));
	}
	lab->dns_fd = fd;
	if ((lab->dns_ev = event_new(
	         lab->base, fd, EV_READ | EV_PERSIST, dns_cb, lab)) == NULL ||
	    event_add(lab->dns_ev, NULL) != 0)
		return cki_err(
		    lab->ctx, CK_E_INTERNAL, "lab: cannot arm the DNS server");
	snprintf(lab->dns, sizeof(lab->dns), "127.0.0.1:%u",
	    (unsigned)ntohs(sin.sin_port));
	return CK_OK;
}
