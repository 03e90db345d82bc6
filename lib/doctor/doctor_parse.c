/*
 * doctor_parse.c: the doctor's small parsers and its endpoint list. Pure
 * functions: no I/O, no global state, every input bounded, every one
 * covered by tests/unit/test_doctor_parse.c with its negative cases.
 *
 *   --resolve  "HOST:PORT:ADDR[,ADDR]" (curl)
 *   pins       SPKI SHA-256 (RFC 7469 2.4) as hex or base64
 *   HTTP       the status line, a few headers, and the Date (RFC 9110)
 *   endpoints  the list doctor.c and doctor_profile.c both fill
 *
 * Host names, host:port, endpoints, --dns, proxy URLs and NO_PROXY are
 * parsed by the net module (lib/net/hostport.c, lib/net/proxy.c), which the
 * blocking fetch uses too.
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

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- the endpoint list --------------------------------------------------- */

void
cki_endpoint_clear(struct cki_endpoint *e)
{
	if (e == NULL)
		return;
	free(e->name);
	free(e->origin);
	free(e->pins);
	free(e->client_cert);
	free(e->client_key);
	strv_free(e->required_roots, e->nrequired);
	if (e->proxy != NULL)
		OPENSSL_clear_free(e->proxy, strlen(e->proxy));
	strv_free(e->addrs, e->naddrs);
	memset(e, 0, sizeof(*e));
}

ck_status
cki_doc_push_endpoint(ck_ctx *ctx, struct cki_endpoint **eps, size_t *n,
    size_t *cap, struct cki_endpoint *e)
{
	if (*n >= CKI_DOC_MAX_ENDPOINTS)
		return cki_err(ctx, CK_E_USAGE, "more than %d endpoints",
		    CKI_DOC_MAX_ENDPOINTS);
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct cki_endpoint *ne = realloc(*eps, nc * sizeof(*ne));

		if (ne == NULL)
			return cki_err(ctx, CK_E_NOMEM, "out of memory");
		*eps = ne;
		*cap = nc;
	}
	/* Moves e: the caller's copy is left empty. */
	(*eps)[(*n)++] = *e;
	memset(e, 0, sizeof(*e));
	return CK_OK;
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
	if (!cki_net_set_host(hp, spec, (size_t)(c1 - spec), err, errlen))
		return false;
	if (!cki_net_parse_port(c1 + 1, (size_t)(c2 - c1 - 1), &hp->port)) {
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
		if (!cki_net_is_ipv4(a) && !cki_net_is_ipv6(a)) {
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

/* Content-Length (RFC 9112 6.3: digits only; anything else is none) and
 * Transfer-Encoding: chunked. */
static void
header_extra(struct cki_http_head *h, const char *line, const char *colon,
    const char *nl)
{
	char v[64];
	size_t nlen = (size_t)(colon - line);

	if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		long long n = 0;
		size_t i;

		copy_value(v, sizeof(v), colon + 1, (size_t)(nl - colon - 1));
		for (i = 0; v[i] != '\0' && i < 15; i++) {
			if (!isdigit((unsigned char)v[i]))
				break;
			n = n * 10 + (v[i] - '0');
		}
		h->content_length = i > 0 && v[i] == '\0' ? n : -1;
	} else if (nlen == 17 &&
	    strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		copy_value(v, sizeof(v), colon + 1, (size_t)(nl - colon - 1));
		for (size_t i = 0; v[i] != '\0' && !h->chunked; i++)
			h->chunked = strncasecmp(v + i, "chunked", 7) == 0;
	}
}

int
cki_doc_parse_http_head(const char *buf, size_t len, struct cki_http_head *h)
{
	const char *end = NULL, *line, *nl;
	size_t i;

	memset(h, 0, sizeof(*h));
	h->content_length = -1;
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
		HDR("Content-Type", content_type)
		HDR("Retry-After", retry_after)
#undef HDR
		header_extra(h, line, colon, nl);
	}
	return 1;
}

bool
cki_doc_http_wants_body(const struct cki_http_head *h)
{
	const char *t = h->content_type;

	if (h->status != 202 && h->status != 401 && h->status != 403)
		return false;
	if (h->chunked || h->content_length == 0)
		return false;
	/* RFC 9110 8.3.1: the media type is case-insensitive, parameters
	 * follow a ';'. */
	return (strncasecmp(t, "application/json", 16) == 0 &&
	           (t[16] == '\0' || t[16] == ';' || t[16] == ' ')) ||
	    (strncasecmp(t, "application/problem+json", 24) == 0 &&
	        (t[24] == '\0' || t[24] == ';' || t[24] == ' '));
}
