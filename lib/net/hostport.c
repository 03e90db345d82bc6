/*
 * hostport.c: host names, ports and socket addresses, as every connection
 * of the library names them. Pure functions: no I/O, no global state, every
 * input bounded; tests/unit/test_doctor_parse.c covers each with its
 * negative cases.
 *
 *   host       a DNS name (RFC 1123 2.1, '_' allowed) or an IP literal
 *   host:port  "host", "host:port", "[v6]", "[v6]:port", bare "v6"
 *   endpoint   the same, or "https://host[:port][/path]"
 *   --dns      "ADDR[:PORT]"
 *
 * Guarantees: a host is stored lower-case (RFC 4343) and without brackets;
 * a port is 1-65535; an error names the text that is wrong and what was
 * expected.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "net_int.h"
#include "certkit/fetch.h"

bool
cki_net_parse_port(const char *s, size_t n, uint16_t *out)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

bool
cki_net_is_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

bool
cki_net_is_ipv6(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1;
}

bool
cki_net_valid_host(const char *host, bool *is_ip)
{
	size_t len = strlen(host), label = 0;

	*is_ip = false;
	if (len == 0 || len >= CKI_NET_MAX_HOST)
		return false;
	if (cki_net_is_ipv4(host) || cki_net_is_ipv6(host)) {
		*is_ip = true;
		return true;
	}
	/* RFC 1123 2.1 host names; '_' is accepted because appliances use it
	 * in service names. A trailing dot (absolute name) is allowed. */
	if (len > 254 || (len == 254 && host[253] != '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)host[i];

		if (c == '.') {
			if (label == 0 && !(i == len - 1 && i > 0))
				return false;
			label = 0;
			continue;
		}
		if (!isalnum(c) && c != '-' && c != '_')
			return false;
		if (c == '-' &&
		    (label == 0 || i + 1 == len || host[i + 1] == '.'))
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

bool
cki_net_set_host(
    struct cki_hostport *out, const char *h, size_t n, char *err, size_t errlen)
{
	char tmp[CKI_NET_MAX_HOST];

	if (n == 0) {
		snprintf(err, errlen, "the host name is empty");
		return false;
	}
	if (n >= sizeof(tmp)) {
		snprintf(err, errlen,
		    "the host name is longer than %d "
		    "characters",
		    CKI_NET_MAX_HOST - 1);
		return false;
	}
	memcpy(tmp, h, n);
	tmp[n] = '\0';
	if (!cki_net_valid_host(tmp, &out->is_ip)) {
		snprintf(err, errlen,
		    "'%s' is not a host name or an IP "
		    "address",
		    tmp);
		return false;
	}
	/* Names compare case-insensitively (RFC 4343); keep them lower-case
	 * so SNI, the name check and the report agree. */
	for (size_t i = 0; i < n; i++)
		tmp[i] = (char)tolower((unsigned char)tmp[i]);
	memcpy(out->host, tmp, n + 1);
	return true;
}

bool
cki_net_parse_hostport(const char *s, size_t n, uint16_t def_port,
    struct cki_hostport *out, char *err, size_t errlen)
{
	const char *colon;

	memset(out, 0, sizeof(*out));
	out->port = def_port;
	if (n > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', n);
		size_t rest;

		if (rb == NULL) {
			snprintf(err, errlen, "unclosed '[': no closing ']'");
			return false;
		}
		if (!cki_net_set_host(
		        out, s + 1, (size_t)(rb - s - 1), err, errlen))
			return false;
		if (!cki_net_is_ipv6(out->host)) {
			snprintf(err, errlen,
			    "'%s' in brackets is not an IPv6 "
			    "address",
			    out->host);
			return false;
		}
		rest = n - (size_t)(rb - s) - 1;
		if (rest == 0)
			return true;
		if (rb[1] != ':' ||
		    !cki_net_parse_port(rb + 2, rest - 1, &out->port)) {
			snprintf(err, errlen,
			    "expected ':PORT' (1-65535) after "
			    "']', found '%.*s'",
			    (int)rest, rb + 1);
			return false;
		}
		out->has_port = true;
		return true;
	}
	colon = memchr(s, ':', n);
	if (colon != NULL &&
	    memchr(colon + 1, ':', n - (size_t)(colon - s) - 1) != NULL) {
		/* Two colons and no brackets: a bare IPv6 address, no port. */
		if (!cki_net_set_host(out, s, n, err, errlen))
			return false;
		if (!cki_net_is_ipv6(out->host)) {
			snprintf(err, errlen,
			    "'%.*s' is not an IPv6 address "
			    "(write [ADDRESS]:PORT for a port)",
			    (int)n, s);
			return false;
		}
		return true;
	}
	if (colon == NULL)
		return cki_net_set_host(out, s, n, err, errlen);
	if (!cki_net_set_host(out, s, (size_t)(colon - s), err, errlen))
		return false;
	if (!cki_net_parse_port(
	        colon + 1, n - (size_t)(colon - s) - 1, &out->port)) {
		snprintf(err, errlen,
		    "'%.*s' is not a port: expected a "
		    "number from 1 to 65535",
		    (int)(n - (size_t)(colon - s) - 1), colon + 1);
		return false;
	}
	out->has_port = true;
	return true;
}

bool
cki_net_parse_endpoint(
    const char *spec, struct cki_hostport *out, char *err, size_t errlen)
{
	size_t n;

	if (spec == NULL || spec[0] == '\0') {
		snprintf(err, errlen,
		    "the endpoint is empty: expected "
		    "HOST[:PORT] or https://HOST[:PORT]");
		return false;
	}
	if (strncasecmp(spec, "https://", 8) == 0) {
		const char *h = spec + 8;

		n = strcspn(h, "/?#");
		if (memchr(h, '@', n) != NULL) {
			snprintf(err, errlen,
			    "'%s': credentials in the URL "
			    "are not supported",
			    spec);
			return false;
		}
		return cki_net_parse_hostport(h, n, 443, out, err, errlen);
	}
	if (strstr(spec, "://") != NULL) {
		snprintf(err, errlen,
		    "'%s': only https:// URLs can be tested "
		    "(the doctor speaks TLS)",
		    spec);
		return false;
	}
	n = strlen(spec);
	if (strcspn(spec, "/?# \t") != n) {
		snprintf(err, errlen, "'%s' is not HOST[:PORT]", spec);
		return false;
	}
	return cki_net_parse_hostport(spec, n, 443, out, err, errlen);
}

bool
cki_net_sockaddr(
    const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (cki_net_is_ipv4(ip)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
		*len = sizeof(*s4);
		return true;
	}
	if (cki_net_is_ipv6(ip)) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &s6->sin6_addr);
		*len = sizeof(*s6);
		return true;
	}
	return false;
}

bool
cki_net_parse_dns(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
    char *err, size_t errlen)
{
	struct cki_hostport hp;

	if (!cki_net_parse_hostport(spec, strlen(spec), 53, &hp, err, errlen))
		return false;
	if (!hp.is_ip) {
		snprintf(err, errlen,
		    "'%s': the DNS server must be an IP "
		    "address (a name would need DNS to be found)",
		    spec);
		return false;
	}
	return cki_net_sockaddr(hp.host, hp.port, ss, len);
}

ck_status
ck_endpoint_split(ck_ctx *ctx, const char *endpoint, char *host,
    size_t host_size, char port[6])
{
	struct cki_hostport hp;
	char why[512];

	if (ctx == NULL)
		return CK_E_USAGE;
	cki_begin(ctx);
	if (endpoint == NULL || host == NULL || port == NULL)
		return cki_err(ctx, CK_E_USAGE,
		    "ck_endpoint_split: endpoint, host and port must not be "
		    "NULL");
	if (!cki_net_parse_endpoint(endpoint, &hp, why, sizeof(why)))
		return cki_err(ctx, CK_E_USAGE, "%s", why);
	if (strlen(hp.host) >= host_size)
		return cki_err(ctx, CK_E_USAGE,
		    "'%s': the host does not fit in host_size (%zu bytes)",
		    endpoint, host_size);
	snprintf(host, host_size, "%s", hp.host);
	snprintf(port, 6, "%u", (unsigned)hp.port);
	return CK_OK;
}
