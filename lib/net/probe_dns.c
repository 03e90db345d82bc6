/*
 * probe_dns.c: the doctor's own DNS messages (RFC 1035 4.1), used with
 * --dns ADDR. libevent's evdns folds SERVFAIL into a timeout and retries
 * it (evdns.c: "treat this as a timeout"); the doctor must tell NXDOMAIN,
 * SERVFAIL, REFUSED, no data and silence apart, so it builds the query and
 * reads the reply itself. Pure functions; the socket work is in probe.c.
 *
 * Guarantees:
 *  1. A reply is accepted only if its ID, QR bit, question name, type and
 *     class match the query (RFC 5452 9.1: a spoofed or stale reply is
 *     ignored, not misreported).
 *  2. Every length read from the message is checked against its end;
 *     compression pointers may only point backwards (no loops).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "net_int.h"

#define DNS_HDR 12

size_t
cki_dns_query(const char *name, uint16_t qtype, uint16_t id, unsigned char *buf,
    size_t size)
{
	size_t off = DNS_HDR, nl = strlen(name);
	const char *p = name;

	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	if (nl == 0 || nl > 253 || size < DNS_HDR + nl + 2 + 4)
		return 0;
	memset(buf, 0, DNS_HDR);
	buf[0] = (unsigned char)(id >> 8);
	buf[1] = (unsigned char)id;
	buf[2] = 0x01; /* RD: recursion desired */
	buf[5] = 1;    /* QDCOUNT */
	while (p < name + nl) {
		const char *dot = memchr(p, '.', (size_t)(name + nl - p));
		size_t ll =
		    dot != NULL ? (size_t)(dot - p) : (size_t)(name + nl - p);

		if (ll == 0 || ll > 63)
			return 0;
		buf[off++] = (unsigned char)ll;
		memcpy(buf + off, p, ll);
		off += ll;
		p += ll + (dot != NULL ? 1 : 0);
	}
	buf[off++] = 0;
	buf[off++] = (unsigned char)(qtype >> 8);
	buf[off++] = (unsigned char)qtype;
	buf[off++] = 0;
	buf[off++] = 1; /* class IN */
	return off;
}

/* Reads a (possibly compressed) name at *off into out (dotted, no final
 * dot); advances *off past it. */
static bool
read_name(
    const unsigned char *m, size_t len, size_t *off, char *out, size_t size)
{
	size_t o = *off, n = 0, end = 0;
	bool jumped = false;
	int hops = 0;

	for (;;) {
		unsigned char l;

		if (o >= len)
			return false;
		l = m[o];
		if ((l & 0xc0) == 0xc0) {
			size_t ptr;

			if (o + 1 >= len || ++hops > 32)
				return false;
			ptr = ((size_t)(l & 0x3f) << 8) | m[o + 1];
			if (ptr >= o)
				return false; /* only backwards */
			if (!jumped)
				end = o + 2;
			jumped = true;
			o = ptr;
			continue;
		}
		if (l & 0xc0)
			return false;
		o++;
		if (l == 0)
			break;
		if (o + l > len || n + l + 2 > size)
			return false;
		if (n > 0)
			out[n++] = '.';
		memcpy(out + n, m + o, l);
		n += l;
		o += l;
	}
	out[n] = '\0';
	*off = jumped ? end : o;
	return true;
}

static uint16_t
u16(const unsigned char *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

bool
cki_dns_reply(const unsigned char *m, size_t len, uint16_t id, const char *name,
    uint16_t qtype, int *rcode, bool *truncated, char (*addrs)[64], size_t max,
    size_t *n)
{
	char qn[256], want[256];
	size_t off = DNS_HDR, wl;
	uint16_t qd, an;

	*n = 0;
	if (len < DNS_HDR || u16(m) != id || !(m[2] & 0x80))
		return false;
	qd = u16(m + 4);
	an = u16(m + 6);
	*rcode = m[3] & 0x0f;
	*truncated = (m[2] & 0x02) != 0;
	if (qd != 1)
		return false;
	snprintf(want, sizeof(want), "%s", name);
	wl = strlen(want);
	if (wl > 0 && want[wl - 1] == '.')
		want[wl - 1] = '\0';
	if (!read_name(m, len, &off, qn, sizeof(qn)) || off + 4 > len ||
	    strcasecmp(qn, want) != 0 || u16(m + off) != qtype ||
	    u16(m + off + 2) != 1)
		return false;
	off += 4;
	/* Only records owned by the question's name, or by a name a CNAME of
	 * it points to (RFC 1034 3.6.2), are answers to it. */
	char owners[8][256];
	size_t nown = 1;

	memcpy(owners[0], want, sizeof(owners[0]));
	for (uint16_t i = 0; i < an; i++) {
		uint16_t type, cls, rdlen;
		bool owned = false;

		if (!read_name(m, len, &off, qn, sizeof(qn)) || off + 10 > len)
			return true; /* keep what was read */
		type = u16(m + off);
		cls = u16(m + off + 2);
		rdlen = u16(m + off + 8);
		off += 10;
		if (off + rdlen > len)
			return true;
		for (size_t k = 0; k < nown && !owned; k++)
			owned = strcasecmp(qn, owners[k]) == 0;
		if (owned && cls == 1 && type == 5 && nown < 8) {
			size_t roff = off;

			if (read_name(m, len, &roff, owners[nown],
			        sizeof(owners[0])) &&
			    roff == off + rdlen)
				nown++;
		}
		if (owned && cls == 1 && type == qtype && *n < max &&
		    ((type == 1 && rdlen == 4) || (type == 28 && rdlen == 16)))
			if (inet_ntop(type == 1 ? AF_INET : AF_INET6, m + off,
			        addrs[*n], 64) != NULL)
				(*n)++;
		off += rdlen;
	}
	return true;
}
