/*
 * doctor_parse.c: the doctor's small parsers. Pure functions: no I/O, no
 * global state, every input bounded, every one covered by
 * tests/unit/test_doctor_parse.c with its negative cases.
 *
 *   endpoint   "host", "host:port", "[v6]:port", "v6", "https://host/..."
 *   --resolve  "HOST:PORT:ADDR[,ADDR]" (curl)
 *   --dns      "ADDR[:PORT]"
 *   proxy      "http://[user:pass@]host[:port]" (RFC 9110 9.3.6 CONNECT)
 *   NO_PROXY   curl's matching rules
 *   pins       SPKI SHA-256 (RFC 7469 2.4) as hex or base64
 *   HTTP       the status line, a few headers, and the Date (RFC 9110)
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "doctor_int.h"

static bool
parse_port(const char *s, size_t n, uint16_t *out)
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

static bool
is_ipv4(const char *s)
{
	struct in_addr a;

	return inet_pton(AF_INET, s, &a) == 1;
}

static bool
is_ipv6(const char *s)
{
	struct in6_addr a;

	return inet_pton(AF_INET6, s, &a) == 1;
}

bool
cki_doc_valid_host(const char *host, bool *is_ip)
{
	size_t len = strlen(host), label = 0;

	*is_ip = false;
	if (len == 0 || len >= CKI_DOC_MAX_HOST)
		return false;
	if (is_ipv4(host) || is_ipv6(host)) {
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

static bool
set_host(
    struct cki_hostport *out, const char *h, size_t n, char *err, size_t errlen)
{
	char tmp[CKI_DOC_MAX_HOST];

	if (n == 0) {
		snprintf(err, errlen, "the host name is empty");
		return false;
	}
	if (n >= sizeof(tmp)) {
		snprintf(err, errlen,
		    "the host name is longer than %d "
		    "characters",
		    CKI_DOC_MAX_HOST - 1);
		return false;
	}
	memcpy(tmp, h, n);
	tmp[n] = '\0';
	if (!cki_doc_valid_host(tmp, &out->is_ip)) {
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

/* "host", "host:port", "[v6]", "[v6]:port", bare "v6". */
static bool
parse_hostport(const char *s, size_t n, uint16_t def_port,
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
		if (!set_host(out, s + 1, (size_t)(rb - s - 1), err, errlen))
			return false;
		if (!is_ipv6(out->host)) {
			snprintf(err, errlen,
			    "'%s' in brackets is not an IPv6 "
			    "address",
			    out->host);
			return false;
		}
		rest = n - (size_t)(rb - s) - 1;
		if (rest == 0)
			return true;
		if (rb[1] != ':' || !parse_port(rb + 2, rest - 1, &out->port)) {
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
		if (!set_host(out, s, n, err, errlen))
			return false;
		if (!is_ipv6(out->host)) {
			snprintf(err, errlen,
			    "'%.*s' is not an IPv6 address "
			    "(write [ADDRESS]:PORT for a port)",
			    (int)n, s);
			return false;
		}
		return true;
	}
	if (colon == NULL)
		return set_host(out, s, n, err, errlen);
	if (!set_host(out, s, (size_t)(colon - s), err, errlen))
		return false;
	if (!parse_port(colon + 1, n - (size_t)(colon - s) - 1, &out->port)) {
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
cki_doc_parse_endpoint(
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
		return parse_hostport(h, n, 443, out, err, errlen);
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
	return parse_hostport(spec, n, 443, out, err, errlen);
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

bool
cki_doc_parse_resolve(const char *spec, struct cki_hostport *hp, char ***addrs,
    size_t *naddrs, char *err, size_t errlen)
{
	const char *c1, *c2, *p;
	char **v = NULL;
	size_t n = 0;

	*addrs = NULL;
	*naddrs = 0;
	memset(hp, 0, sizeof(*hp));
	/* HOST:PORT:ADDR; HOST is never bracketed, ADDR may be. */
	if ((c1 = strchr(spec, ':')) == NULL ||
	    (c2 = strchr(c1 + 1, ':')) == NULL) {
		snprintf(err, errlen,
		    "'%s': expected HOST:PORT:ADDRESS, "
		    "as in curl --resolve",
		    spec);
		return false;
	}
	if (!set_host(hp, spec, (size_t)(c1 - spec), err, errlen))
		return false;
	if (!parse_port(c1 + 1, (size_t)(c2 - c1 - 1), &hp->port)) {
		snprintf(err, errlen, "'%s': '%.*s' is not a port (1-65535)",
		    spec, (int)(c2 - c1 - 1), c1 + 1);
		return false;
	}
	for (p = c2 + 1;;) {
		size_t len = strcspn(p, ",");
		char a[CKI_DOC_MAX_HOST];
		char **nv;

		if (len > 1 && p[0] == '[' && p[len - 1] == ']') {
			p++;
			len -= 2;
		}
		if (len == 0 || len >= sizeof(a)) {
			snprintf(err, errlen,
			    "'%s': an address is empty or too "
			    "long",
			    spec);
			goto err;
		}
		memcpy(a, p, len);
		a[len] = '\0';
		if (!is_ipv4(a) && !is_ipv6(a)) {
			snprintf(err, errlen, "'%s': '%s' is not an IP address",
			    spec, a);
			goto err;
		}
		if (n == CKI_DOC_MAX_ADDRS) {
			snprintf(err, errlen, "'%s': more than %d addresses",
			    spec, CKI_DOC_MAX_ADDRS);
			goto err;
		}
		if ((nv = realloc(v, (n + 1) * sizeof(*v))) == NULL)
			goto nomem;
		v = nv;
		if ((v[n] = strdup(a)) == NULL)
			goto nomem;
		n++;
		p += len;
		if (*p == ']')
			p++;
		if (*p == '\0')
			break;
		if (*p != ',') {
			snprintf(err, errlen,
			    "'%s': expected ',' between "
			    "addresses",
			    spec);
			goto err;
		}
		p++;
	}
	*addrs = v;
	*naddrs = n;
	return true;
nomem:
	snprintf(err, errlen, "out of memory");
err:
	strv_free(v, n);
	return false;
}

bool
cki_doc_sockaddr(
    const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (is_ipv4(ip)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, ip, &s4->sin_addr);
		*len = sizeof(*s4);
		return true;
	}
	if (is_ipv6(ip)) {
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
cki_doc_parse_dns(const char *spec, struct sockaddr_storage *ss, socklen_t *len,
    char *err, size_t errlen)
{
	struct cki_hostport hp;

	if (!parse_hostport(spec, strlen(spec), 53, &hp, err, errlen))
		return false;
	if (!hp.is_ip) {
		snprintf(err, errlen,
		    "'%s': the DNS server must be an IP "
		    "address (a name would need DNS to be found)",
		    spec);
		return false;
	}
	return cki_doc_sockaddr(hp.host, hp.port, ss, len);
}

void
cki_proxy_clear(struct cki_proxy *p)
{
	if (p == NULL)
		return;
	if (p->auth != NULL)
		OPENSSL_clear_free(p->auth, strlen(p->auth));
	free(p->display);
	memset(p, 0, sizeof(*p));
}

/* RFC 3986 2.1 percent-decoding of userinfo, in place. */
static bool
pct_decode(char *s)
{
	char *w = s;

	for (char *r = s; *r != '\0'; r++) {
		if (*r == '%') {
			int hi, lo;

			if (!isxdigit((unsigned char)r[1]) ||
			    !isxdigit((unsigned char)r[2]))
				return false;
			hi = isdigit((unsigned char)r[1])
			    ? r[1] - '0'
			    : tolower((unsigned char)r[1]) - 'a' + 10;
			lo = isdigit((unsigned char)r[2])
			    ? r[2] - '0'
			    : tolower((unsigned char)r[2]) - 'a' + 10;
			/* A %00 would cut the credentials short. */
			if (hi == 0 && lo == 0)
				return false;
			*w++ = (char)(hi * 16 + lo);
			r += 2;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
	return true;
}

/* The URL as it may be shown: a password in its userinfo (RFC 3986 3.2.1)
 * becomes "***", so an error message never prints it. */
static void
redact_url(const char *url, char *out, size_t size)
{
	const char *auth = strstr(url, "://"), *at = NULL, *colon;
	size_t n;

	auth = auth != NULL ? auth + 3 : url;
	n = strcspn(auth, "/?#");
	for (const char *q = auth; q < auth + n; q++)
		if (*q == '@')
			at = q;
	colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon == NULL) {
		snprintf(out, size, "%s", url);
		return;
	}
	snprintf(out, size, "%.*s:***%s", (int)(colon - url), url, at);
}

bool
cki_doc_parse_proxy(
    const char *url, struct cki_proxy *out, char *err, size_t errlen)
{
	const char *p = url, *at, *end;
	struct cki_hostport hp;
	char *ui = NULL, shown[CKI_DOC_MAX_HOST + 64];
	size_t uisz = 0;
	bool ok = false;
	size_t n;

	memset(out, 0, sizeof(*out));
	redact_url(url, shown, sizeof(shown));
	if (strncasecmp(p, "http://", 7) == 0) {
		p += 7;
	} else if (strstr(p, "://") != NULL) {
		snprintf(err, errlen,
		    "'%s': only http:// proxies are "
		    "supported (HTTP CONNECT, RFC 9110 9.3.6)",
		    shown);
		return false;
	}
	n = strcspn(p, "/?#");
	end = p + n;
	if (*end != '\0' && strcmp(end, "/") != 0) {
		snprintf(err, errlen, "'%s': a proxy URL has no path", shown);
		return false;
	}
	at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	if (at != NULL) {
		char *colon;
		size_t ul = (size_t)(at - p);
		unsigned char *b64;
		size_t ulen;

		uisz = ul + 1;
		if ((ui = malloc(uisz)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return false;
		}
		memcpy(ui, p, ul);
		ui[ul] = '\0';
		colon = strchr(ui, ':');
		if (colon == NULL || colon == ui) {
			snprintf(err, errlen,
			    "proxy URL: expected "
			    "http://USER:PASSWORD@HOST:PORT");
			goto out;
		}
		/* Decode user and password separately, then join them:
		 * decoding shrinks each part. */
		*colon = '\0';
		if (!pct_decode(ui) || !pct_decode(colon + 1)) {
			snprintf(err, errlen,
			    "proxy URL: bad %%-escape in the "
			    "user name or password");
			goto out;
		}
		ulen = strlen(ui);
		memmove(ui + ulen + 1, colon + 1, strlen(colon + 1) + 1);
		ui[ulen] = ':';
		/* Basic credentials are base64("user:pass") (RFC 7617 2). */
		ulen = strlen(ui);
		if ((b64 = malloc(4 * ((ulen + 2) / 3) + 1)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		EVP_EncodeBlock(b64, (unsigned char *)ui, (int)ulen);
		out->auth = (char *)b64;
		p = at + 1;
	}
	if (!parse_hostport(p, (size_t)(end - p), 1080, &hp, err, errlen)) {
		/* Name the (redacted) URL the bad host or port is in. */
		char inner[256];

		snprintf(inner, sizeof(inner), "%s", err);
		snprintf(err, errlen, "'%s': %s", shown, inner);
		goto out;
	}
	memcpy(out->host, hp.host, sizeof(out->host));
	out->port = hp.port;
	out->is_ip = hp.is_ip;
	{
		char buf[CKI_DOC_MAX_HOST + 64];
		const char *lb = strchr(hp.host, ':') ? "[" : "";
		const char *rb = strchr(hp.host, ':') ? "]" : "";

		if (ui != NULL) {
			size_t ul = strcspn(ui, ":");

			snprintf(buf, sizeof(buf), "http://%.*s:***@%s%s%s:%u",
			    (int)ul, ui, lb, hp.host, rb, hp.port);
		} else {
			snprintf(buf, sizeof(buf), "http://%s%s%s:%u", lb,
			    hp.host, rb, hp.port);
		}
		if ((out->display = strdup(buf)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	ok = true;
out:
	if (ui != NULL)
		OPENSSL_clear_free(ui, uisz);
	if (!ok)
		cki_proxy_clear(out);
	return ok;
}

/* ---- NO_PROXY ------------------------------------------------------------ */

static bool
cidr_match(const char *net, int bits, const char *host)
{
	unsigned char a[16], b[16];
	int af, len;

	if (is_ipv4(net) && is_ipv4(host)) {
		af = AF_INET;
		len = 4;
	} else if (is_ipv6(net) && is_ipv6(host)) {
		af = AF_INET6;
		len = 16;
	} else {
		return false;
	}
	if (bits < 0 || bits > len * 8)
		return false;
	inet_pton(af, net, a);
	inet_pton(af, host, b);
	for (int i = 0; i < len && bits > 0; i++, bits -= 8) {
		unsigned char mask =
		    bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));

		if ((a[i] & mask) != (b[i] & mask))
			return false;
	}
	return true;
}

static bool
no_proxy_entry(const char *e, size_t n, const char *host, uint16_t port)
{
	char buf[CKI_DOC_MAX_HOST];
	char *slash, *colon, *name = buf;
	uint16_t eport = 0;
	size_t hl, nl;

	if (n == 0 || n >= sizeof(buf))
		return false;
	memcpy(buf, e, n);
	buf[n] = '\0';
	if (strcmp(buf, "*") == 0)
		return true;
	/* [v6]:port, v6 (bare), host:port */
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');

		if (rb == NULL)
			return false;
		*rb = '\0';
		name = buf + 1;
		if (rb[1] == ':' && !parse_port(rb + 2, strlen(rb + 2), &eport))
			return false;
	} else if ((colon = strchr(buf, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		*colon = '\0';
		if (!parse_port(colon + 1, strlen(colon + 1), &eport))
			return false;
	}
	if (eport != 0 && eport != port)
		return false;
	if ((slash = strchr(name, '/')) != NULL) {
		long bits;
		char *endp;

		*slash = '\0';
		errno = 0;
		bits = strtol(slash + 1, &endp, 10);
		/* Range-check before the cast: "/4294967304" is no "/8". */
		if (errno != 0 || *endp != '\0' || endp == slash + 1 ||
		    bits < 0 || bits > 128)
			return false;
		return cidr_match(name, (int)bits, host);
	}
	if (is_ipv4(name) || is_ipv6(name)) {
		unsigned char a[16], b[16];
		int af = is_ipv4(name) ? AF_INET : AF_INET6;

		return inet_pton(af, name, a) == 1 &&
		    inet_pton(af, host, b) == 1 &&
		    memcmp(a, b, af == AF_INET ? 4 : 16) == 0;
	}
	/* An IP address is matched by address or range only, never as a name
	 * suffix: "0.0.1" must not cover 10.0.0.1 (curl does the same). */
	if (is_ipv4(host) || is_ipv6(host))
		return false;
	/* curl: a leading "." (or "*.") is ignored; the entry matches the
	 * name itself and every name below it, on a label boundary. */
	if (name[0] == '*' && name[1] == '.')
		name += 2;
	else if (name[0] == '.')
		name++;
	nl = strlen(name);
	if (nl > 0 && name[nl - 1] == '.')
		name[--nl] = '\0';
	hl = strlen(host);
	if (hl > 0 && host[hl - 1] == '.')
		hl--;
	if (nl == 0 || nl > hl)
		return false;
	if (strncasecmp(host + hl - nl, name, nl) != 0)
		return false;
	return hl == nl || host[hl - nl - 1] == '.';
}

bool
cki_doc_no_proxy_match(const char *no_proxy, const char *host, uint16_t port)
{
	const char *p = no_proxy;

	if (p == NULL)
		return false;
	while (*p != '\0') {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n > 0 && no_proxy_entry(p, n, host, port))
			return true;
		p += n;
	}
	return false;
}

/* ---- pins ---------------------------------------------------------------- */

bool
cki_doc_parse_pin(const char *s, unsigned char out[32])
{
	char hex[65];
	size_t n = 0;

	if (strncasecmp(s, "sha256/", 7) == 0)
		s += 7;
	else if (strncasecmp(s, "pin-sha256:", 11) == 0)
		s += 11;
	else if (strncasecmp(s, "spki:", 5) == 0)
		s += 5;
	if (*s == '"')
		s++;
	/* Hex, with or without colons. */
	for (const char *p = s; *p != '\0' && *p != '"'; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || n == 64) {
			n = 0;
			break;
		}
		hex[n++] = (char)tolower((unsigned char)*p);
	}
	if (n == 64) {
		for (size_t i = 0; i < 32; i++) {
			int hi = isdigit((unsigned char)hex[2 * i])
			    ? hex[2 * i] - '0'
			    : hex[2 * i] - 'a' + 10;
			int lo = isdigit((unsigned char)hex[2 * i + 1])
			    ? hex[2 * i + 1] - '0'
			    : hex[2 * i + 1] - 'a' + 10;

			out[i] = (unsigned char)(hi * 16 + lo);
		}
		return true;
	}
	/* base64 of 32 bytes: 44 characters ending in one '=' (RFC 7469). */
	{
		unsigned char buf[48];
		size_t len = strcspn(s, "\"");

		if (len != 44 || s[43] != '=' || s[42] == '=')
			return false;
		for (size_t i = 0; i < 43; i++)
			if (!isalnum((unsigned char)s[i]) && s[i] != '+' &&
			    s[i] != '/')
				return false;
		if (EVP_DecodeBlock(buf, (const unsigned char *)s, 44) != 33)
			return false;
		memcpy(out, buf, 32);
		return true;
	}
}

/* ---- HTTP ---------------------------------------------------------------- */

static int
month_index(const char *m)
{
	static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

	for (int i = 0; i < 12; i++)
		if (strncmp(m, names[i], 3) == 0)
			return i + 1;
	return 0;
}

static bool
two(const char *s, int *v)
{
	if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)s[1]))
		return false;
	*v = (s[0] - '0') * 10 + (s[1] - '0');
	return true;
}

static bool
hms(const char *s, int *h, int *m, int *sec)
{
	return two(s, h) && s[2] == ':' && two(s + 3, m) && s[5] == ':' &&
	    two(s + 6, sec) && *h < 24 && *m < 60 && *sec < 61;
}

bool
cki_doc_parse_http_date(const char *s, int64_t *out)
{
	int d = 0, mo, h, mi, se, y = 0;
	const char *p;

	while (*s == ' ' || *s == '\t')
		s++;
	if ((p = strchr(s, ',')) != NULL) {
		p++;
		while (*p == ' ')
			p++;
		if (isdigit((unsigned char)p[0]) && p[1] != '\0' &&
		    p[2] == ' ') {
			/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
			if (!two(p, &d) || (mo = month_index(p + 3)) == 0 ||
			    p[6] != ' ')
				return false;
			for (int i = 0; i < 4; i++) {
				if (!isdigit((unsigned char)p[7 + i]))
					return false;
				y = y * 10 + (p[7 + i] - '0');
			}
			if (p[11] != ' ' || !hms(p + 12, &h, &mi, &se) ||
			    strncmp(p + 20, " GMT", 4) != 0)
				return false;
		} else {
			/* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
			int yy;

			if (!two(p, &d) || p[2] != '-' ||
			    (mo = month_index(p + 3)) == 0 || p[6] != '-' ||
			    !two(p + 7, &yy) || p[9] != ' ' ||
			    !hms(p + 10, &h, &mi, &se) ||
			    strncmp(p + 18, " GMT", 4) != 0)
				return false;
			/* RFC 9110 5.6.7: a two-digit year more than 50 years
			 * in the future is in the past century. */
			y = yy < 70 ? 2000 + yy : 1900 + yy;
		}
	} else {
		/* asctime: "Sun Nov  6 08:49:37 1994" */
		if (strlen(s) < 24 || (mo = month_index(s + 4)) == 0 ||
		    s[7] != ' ')
			return false;
		d = s[8] == ' '
		    ? 0
		    : (isdigit((unsigned char)s[8]) ? s[8] - '0' : -100);
		if (!isdigit((unsigned char)s[9]))
			return false;
		d = d * 10 + (s[9] - '0');
		if (d < 0 || s[10] != ' ' || !hms(s + 11, &h, &mi, &se) ||
		    s[19] != ' ')
			return false;
		for (int i = 0; i < 4; i++) {
			if (!isdigit((unsigned char)s[20 + i]))
				return false;
			y = y * 10 + (s[20 + i] - '0');
		}
	}
	if (d < 1 || d > 31 || y < 1970)
		return false;
	*out = cki_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
	    h * 3600 + mi * 60 + se;
	return true;
}

static void
copy_value(char *dst, size_t size, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (
	    n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
		n--;
	if (n >= size)
		n = size - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = isprint((unsigned char)v[i]) ? v[i] : '?';
	dst[n] = '\0';
}

int
cki_doc_parse_http_head(const char *buf, size_t len, struct cki_http_head *h)
{
	const char *end = NULL, *line, *nl;
	size_t i;

	memset(h, 0, sizeof(*h));
	/* RFC 9112 4: status-line = HTTP-version SP status-code SP reason */
	if (len >= 5 && memcmp(buf, "HTTP/", 5) != 0)
		return -1;
	if (len < 5)
		return memcmp(buf, "HTTP/", len) == 0 ? 0 : -1;
	for (i = 0; i + 1 < len; i++) {
		if (buf[i] == '\n' && buf[i + 1] == '\n') {
			end = buf + i + 2;
			break;
		}
		if (i + 3 < len && memcmp(buf + i, "\r\n\r\n", 4) == 0) {
			end = buf + i + 4;
			break;
		}
	}
	if (end == NULL)
		return 0;
	h->head_len = (size_t)(end - buf);
	/* RFC 9112 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT; the status
	 * line ends no earlier than after the 3-digit code, so the reason's
	 * length below cannot go negative. */
	nl = memchr(buf, '\n', h->head_len);
	if (h->head_len < 12 || nl == NULL || nl < buf + 12 ||
	    !isdigit((unsigned char)buf[5]) || buf[6] != '.' ||
	    !isdigit((unsigned char)buf[7]) || buf[8] != ' ' ||
	    !isdigit((unsigned char)buf[9]) ||
	    !isdigit((unsigned char)buf[10]) ||
	    !isdigit((unsigned char)buf[11]))
		return -1;
	h->status =
	    (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	copy_value(
	    h->reason, sizeof(h->reason), buf + 12, (size_t)(nl - buf - 12));
	for (line = nl + 1; line < end; line = nl + 1) {
		const char *colon;
		size_t ll;

		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			break;
		ll = (size_t)(nl - line);
		colon = memchr(line, ':', ll);
		if (colon == NULL)
			continue;
#define HDR(name, field)                                                       \
	if ((size_t)(colon - line) == sizeof(name) - 1 &&                      \
	    strncasecmp(line, name, sizeof(name) - 1) == 0)                    \
		copy_value(h->field, sizeof(h->field), colon + 1,              \
		    (size_t)(nl - colon - 1));
		HDR("Date", date)
		HDR("Proxy-Authenticate", proxy_auth)
		HDR("Location", location)
#undef HDR
	}
	return 1;
}
