/*
 * proxy.c: HTTP proxy URLs and NO_PROXY, shared by the blocking fetch
 * (fetch.c) and the doctor. Pure functions, covered by
 * tests/unit/test_doctor_parse.c.
 *
 *   proxy      "http://[user:pass@]host[:port]" (RFC 9110 9.3.6 CONNECT)
 *   NO_PROXY   curl's matching rules
 *
 * Guarantees: a password never appears in an error message or in
 * cki_proxy.display ("***"), and the Basic credentials are wiped when the
 * proxy is cleared.
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

#include "net_int.h"

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
cki_net_parse_proxy(
    const char *url, struct cki_proxy *out, char *err, size_t errlen)
{
	const char *p = url, *at, *end;
	struct cki_hostport hp;
	char *ui = NULL, shown[CKI_NET_MAX_HOST + 64];
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
	if (!cki_net_parse_hostport(
	        p, (size_t)(end - p), 1080, &hp, err, errlen)) {
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
		char buf[CKI_NET_MAX_HOST + 64];
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

	if (cki_net_is_ipv4(net) && cki_net_is_ipv4(host)) {
		af = AF_INET;
		len = 4;
	} else if (cki_net_is_ipv6(net) && cki_net_is_ipv6(host)) {
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
	char buf[CKI_NET_MAX_HOST];
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
		if (rb[1] == ':' &&
		    !cki_net_parse_port(rb + 2, strlen(rb + 2), &eport))
			return false;
	} else if ((colon = strchr(buf, ':')) != NULL &&
	    strchr(colon + 1, ':') == NULL) {
		*colon = '\0';
		if (!cki_net_parse_port(colon + 1, strlen(colon + 1), &eport))
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
	if (cki_net_is_ipv4(name) || cki_net_is_ipv6(name)) {
		unsigned char a[16], b[16];
		int af = cki_net_is_ipv4(name) ? AF_INET : AF_INET6;

		return inet_pton(af, name, a) == 1 &&
		    inet_pton(af, host, b) == 1 &&
		    memcmp(a, b, af == AF_INET ? 4 : 16) == 0;
	}
	/* An IP address is matched by address or range only, never as a name
	 * suffix: "0.0.1" must not cover 10.0.0.1 (curl does the same). */
	if (cki_net_is_ipv4(host) || cki_net_is_ipv6(host))
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
cki_net_no_proxy_match(const char *no_proxy, const char *host, uint16_t port)
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
