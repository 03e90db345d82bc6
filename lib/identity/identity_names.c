/*
 * identity_names.c: the names the device's certificate must carry.
 *
 * Two sources, in this order (the first name becomes the CN of a default):
 *  1. configured: [identity] names / ips, or --name / --ip, which replace
 *     them;
 *  2. detected: the FQDN, the hostname, and every non-loopback, non-link-
 *     local address of an interface that is up. CERTKIT_HOSTNAME (a comma
 *     list of names) and CERTKIT_IPS (a comma list of addresses) replace
 *     detection, for tests and containers; detect_names / detect_ips = no
 *     turn it off.
 *
 * Guarantees:
 *  1. Detection never hangs: the FQDN lookup is asynchronous and abandoned
 *     after CKI_FQDN_TIMEOUT_MS; a failed lookup just adds nothing.
 *  2. Coverage is judged on the SAN only (RFC 6125 section 6.4.4: a client
 *     that finds a DNS-ID never looks at the CN), so a name that is only in
 *     the CN counts as missing.
 */
#define _GNU_SOURCE 1
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "identity_int.h"

#define CKI_FQDN_TIMEOUT_MS 1500

bool
cki_ip_canon(const char *in, char *out, size_t size)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, in, buf) == 1)
		return inet_ntop(AF_INET, buf, out, (socklen_t)size) != NULL;
	if (inet_pton(AF_INET6, in, buf) == 1)
		return inet_ntop(AF_INET6, buf, out, (socklen_t)size) != NULL;
	return false;
}

bool
cki_dns_valid(const char *s)
{
	size_t len = strlen(s), label = 0;

	/* RFC 1035 section 2.3.1 (LDH labels of 1..63, 253 in all), plus a
	 * leading "*." label (RFC 6125 section 6.4.3). */
	if (len == 0 || len > 253)
		return false;
	if (s[0] == '*') {
		if (s[1] != '.' || s[2] == '\0')
			return false;
		s += 2;
	}
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (label == 0 || label > 63 || p[-1] == '-')
				return false;
			if (*p == '\0')
				return true;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
		if (label == 0 && *p == '-')
			return false;
		label++;
	}
}

void
cki_names_free(struct cki_names *n)
{
	if (n == NULL)
		return;
	cki_strlist_clear(&n->dns);
	cki_strlist_clear(&n->ip);
	cki_strlist_clear(&n->det_dns);
	cki_strlist_clear(&n->det_ip);
}

/* A comma list from the environment; each item checked. */
static ck_status
env_list(ck_ctx *ctx, const char *var, const char *val, bool ip,
    struct cki_strlist *out)
{
	const char *p = val;

	while (*p != '\0') {
		char item[256], canon[64];
		size_t n;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		n = strcspn(p, ",");
		while (n > 0 && isspace((unsigned char)p[n - 1]))
			n--;
		if (n == 0)
			continue;
		if (n >= sizeof(item))
			return cki_err(ctx, CK_E_USAGE,
			    "%s: an item is longer "
			    "than %zu characters",
			    var, sizeof(item) - 1);
		memcpy(item, p, n);
		item[n] = '\0';
		p += n;
		while (*p != '\0' && *p != ',')
			p++;
		if (ip && !cki_ip_canon(item, canon, sizeof(canon)))
			return cki_err(ctx, CK_E_USAGE,
			    "%s: expected IPv4 or "
			    "IPv6 addresses separated by commas, found '%s'",
			    var, item);
		if (!ip && !cki_dns_valid(item))
			return cki_err(ctx, CK_E_USAGE,
			    "%s: expected DNS "
			    "names separated by commas, found '%s'",
			    var, item);
		if (cki_strlist_add(out, ip ? canon : item) != CK_OK)
			return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	return CK_OK;
}

/* The canonical name of `host`, or "" when the lookup fails or is slow. */
static void
fqdn_lookup(const char *host, char *out, size_t size)
{
	/* Static: a lookup we give up on keeps running in glibc's thread and
	 * still writes into these when it finishes. */
	static struct gaicb req;
	static struct addrinfo hints;
	static char name[256];
	struct gaicb *list[1] = {&req};
	struct timespec ts = {CKI_FQDN_TIMEOUT_MS / 1000,
	    (CKI_FQDN_TIMEOUT_MS % 1000) * 1000000L};
	int r;

	out[0] = '\0';
	if (req.ar_name != NULL)
		return; /* one lookup per process */
	if (strlen(host) >= sizeof(name))
		return;
	memcpy(name, host, strlen(host) + 1);
	hints.ai_flags = AI_CANONNAME;
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	req.ar_name = name;
	req.ar_request = &hints;
	if (getaddrinfo_a(GAI_NOWAIT, list, 1, NULL) != 0)
		return;
	do {
		r = gai_suspend((const struct gaicb *const *)list, 1, &ts);
	} while (r == EAI_INTR);
	if (gai_error(&req) != 0) {
		(void)gai_cancel(&req);
		return;
	}
	if (req.ar_result != NULL && req.ar_result->ai_canonname != NULL &&
	    strlen(req.ar_result->ai_canonname) < size)
		memcpy(out, req.ar_result->ai_canonname,
		    strlen(req.ar_result->ai_canonname) + 1);
	freeaddrinfo(req.ar_result);
	req.ar_result = NULL;
}

static ck_status
detect_names(ck_ctx *ctx, struct cki_strlist *out)
{
	char host[256], fqdn[256];

	if (gethostname(host, sizeof(host)) == -1)
		return CK_OK; /* no hostname: nothing to add */
	host[sizeof(host) - 1] = '\0';
	if (host[0] == '\0' || !cki_dns_valid(host))
		return CK_OK;
	fqdn[0] = '\0';
	if (strchr(host, '.') == NULL)
		fqdn_lookup(host, fqdn, sizeof(fqdn));
	/* The FQDN first: it is the better CN. "localhost" is no name of
	 * this device that a client could use from elsewhere. */
	if (fqdn[0] != '\0' && strchr(fqdn, '.') != NULL &&
	    cki_dns_valid(fqdn) && strncasecmp(fqdn, "localhost", 9) != 0 &&
	    cki_strlist_add(out, fqdn) != CK_OK)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	if (strcasecmp(host, "localhost") != 0 &&
	    cki_strlist_add(out, host) != CK_OK)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

static bool
ip_wanted(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const unsigned char *a = (const unsigned char *)&(
		    (const struct sockaddr_in *)(const void *)sa)
		                             ->sin_addr;

		/* 127/8 loopback, 169.254/16 link-local (RFC 3927), 0/8 */
		return a[0] != 127 && a[0] != 0 &&
		    !(a[0] == 169 && a[1] == 254);
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		/* fe80::/10 link-local (RFC 4291 section 2.5.6), ::1 */
		return !IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_LOOPBACK(a) &&
		    !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_V4MAPPED(a);
	}
	return false;
}

static ck_status
detect_ips(ck_ctx *ctx, struct cki_strlist *out)
{
	struct ifaddrs *ifa = NULL;
	ck_status rv = CK_OK;

	if (getifaddrs(&ifa) == -1)
		return CK_OK; /* no interfaces to list: nothing to add */
	for (struct ifaddrs *i = ifa; i != NULL; i = i->ifa_next) {
		char buf[INET6_ADDRSTRLEN];
		const void *addr;

		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) ||
		    (i->ifa_flags & IFF_LOOPBACK) || !ip_wanted(i->ifa_addr))
			continue;
		addr = i->ifa_addr->sa_family == AF_INET
		    ? (const void *)&((struct sockaddr_in *)(void *)i->ifa_addr)
		          ->sin_addr
		    : (const void *)&(
		          (struct sockaddr_in6 *)(void *)i->ifa_addr)
		          ->sin6_addr;
		if (inet_ntop(i->ifa_addr->sa_family, addr, buf, sizeof(buf)) ==
		    NULL)
			continue;
		if (cki_strlist_add(out, buf) != CK_OK) {
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
			break;
		}
	}
	freeifaddrs(ifa);
	return rv;
}

ck_status
cki_names_collect(ck_identity *id, struct cki_names *n)
{
	const char *eh = getenv("CERTKIT_HOSTNAME");
	const char *ei = getenv("CERTKIT_IPS");
	ck_status rv;

	memset(n, 0, sizeof(*n));
	if (eh != NULL)
		rv = env_list(
		    id->ctx, "CERTKIT_HOSTNAME", eh, false, &n->det_dns);
	else if (id->conf.detect_names)
		rv = detect_names(id->ctx, &n->det_dns);
	else
		rv = CK_OK;
	if (rv != CK_OK)
		goto err;
	if (ei != NULL)
		rv = env_list(id->ctx, "CERTKIT_IPS", ei, true, &n->det_ip);
	else if (id->conf.detect_ips)
		rv = detect_ips(id->ctx, &n->det_ip);
	if (rv != CK_OK)
		goto err;
	rv = CK_E_NOMEM;
	for (size_t i = 0; i < id->conf.names.n; i++)
		if (cki_strlist_add(&n->dns, id->conf.names.v[i]) != CK_OK)
			goto nomem;
	n->nconf_dns = n->dns.n;
	for (size_t i = 0; i < n->det_dns.n; i++)
		if (cki_strlist_add(&n->dns, n->det_dns.v[i]) != CK_OK)
			goto nomem;
	for (size_t i = 0; i < id->conf.ips.n; i++)
		if (cki_strlist_add(&n->ip, id->conf.ips.v[i]) != CK_OK)
			goto nomem;
	n->nconf_ip = n->ip.n;
	for (size_t i = 0; i < n->det_ip.n; i++)
		if (cki_strlist_add(&n->ip, n->det_ip.v[i]) != CK_OK)
			goto nomem;
	return CK_OK;
nomem:
	cki_err(id->ctx, CK_E_NOMEM, "out of memory");
err:
	cki_names_free(n);
	return rv;
}

bool
cki_covers_dns(X509 *x, const char *name)
{
	struct cki_strlist dns = {0}, ip = {0};
	bool ok;

	/* A configured wildcard is covered by the same wildcard. */
	if (strchr(name, '*') != NULL) {
		ok = cki_san_lists(x, &dns, &ip) == CK_OK &&
		    cki_strlist_has(&dns, name);
		cki_strlist_clear(&dns);
		cki_strlist_clear(&ip);
		return ok;
	}
	/* RFC 6125 section 6.4.3: a wildcard matches one whole left-most
	 * label only. */
	return X509_check_host(x, name, 0,
	           X509_CHECK_FLAG_NEVER_CHECK_SUBJECT |
	               X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
	           NULL) == 1;
}

bool
cki_covers_ip(X509 *x, const char *ip)
{
	/* RFC 5280 section 4.2.1.6: iPAddress, 4 or 16 octets. */
	return X509_check_ip_asc(x, ip, 0) == 1;
}

ck_status
cki_san_lists(X509 *x, struct cki_strlist *dns, struct cki_strlist *ip)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	ck_status rv = CK_OK;

	for (int i = 0; i < sk_GENERAL_NAME_num(gens) && rv == CK_OK; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char buf[INET6_ADDRSTRLEN + 1];
		const unsigned char *d;
		int len;

		if (g->type == GEN_DNS) {
			d = ASN1_STRING_get0_data(g->d.dNSName);
			len = ASN1_STRING_length(g->d.dNSName);
			if (len <= 0 || len > 253 ||
			    memchr(d, '\0', (size_t)len) != NULL)
				continue;
			{
				char *s = strndup((const char *)d, (size_t)len);

				if (s == NULL ||
				    cki_strlist_add(dns, s) != CK_OK)
					rv = CK_E_NOMEM;
				free(s);
			}
		} else if (g->type == GEN_IPADD) {
			d = ASN1_STRING_get0_data(g->d.iPAddress);
			len = ASN1_STRING_length(g->d.iPAddress);
			if ((len != 4 && len != 16) ||
			    inet_ntop(len == 4 ? AF_INET : AF_INET6, d, buf,
			        sizeof(buf)) == NULL)
				continue;
			if (cki_strlist_add(ip, buf) != CK_OK)
				rv = CK_E_NOMEM;
		}
	}
	GENERAL_NAMES_free(gens);
	return rv;
}

static bool
push_missing(
    json_t *arr, const char *name, const char *type, const char *source)
{
	return json_array_append_new(arr,
	           json_pack("{s:s, s:s, s:s}", "name", name, "type", type,
	               "source", source)) == 0;
}

json_t *
cki_names_missing(X509 *x, const struct cki_names *n, size_t *missing)
{
	json_t *arr = json_array();

	*missing = 0;
	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < n->dns.n; i++) {
		if (cki_covers_dns(x, n->dns.v[i]))
			continue;
		(*missing)++;
		if (!push_missing(arr, n->dns.v[i], "dns",
		        i < n->nconf_dns ? "configured" : "detected"))
			goto err;
	}
	for (size_t i = 0; i < n->ip.n; i++) {
		if (cki_covers_ip(x, n->ip.v[i]))
			continue;
		(*missing)++;
		if (!push_missing(arr, n->ip.v[i], "ip",
		        i < n->nconf_ip ? "configured" : "detected"))
			goto err;
	}
	return arr;
err:
	json_decref(arr);
	return NULL;
}
