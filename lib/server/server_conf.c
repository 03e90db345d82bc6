/*
 * server_conf.c: the [server] section of certkit.conf (server_conf.h).
 *
 * Defaults first, then the file; every key is validated here, once, so the
 * modules that read struct cki_server_conf never see a bad value. Files
 * named by the section (p12, client_ca, crl) are not opened here: `certkit
 * clients` reads this section too and must not fail because a keystore is
 * unreadable; the server opens them at start and names them on error.
 *
 * Guarantees:
 *  1. Every error names FILE:LINE, the key, what was expected and what was
 *     found.
 *  2. The caller gets a whole configuration or an error (and nothing to
 *     free).
 *  3. Relative file names are taken relative to HOME, so a configuration
 *     means the same from any working directory.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "server_conf.h"

static const char S[] = "server";

/* The defaults: forward-secret AEAD suites only. */
#define DEF_CIPHERSUITES                                                       \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                       \
	"TLS_CHACHA20_POLY1305_SHA256"
#define DEF_CIPHERS                                                            \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define DEF_GROUPS "X25519:P-256:P-384"

static const char *const policies[] = {
    "pairing", "trusted-ca", "trusted-ca+pairing"};
static const char *const ocsp_modes[] = {"off", "soft-fail", "hard-fail"};

const char *
cki_policy_name(enum cki_client_policy p)
{
	return (unsigned)p < 3 ? policies[p] : "unknown";
}

const char *
cki_ocsp_mode_name(enum cki_ocsp_mode m)
{
	return (unsigned)m < 3 ? ocsp_modes[m] : "unknown";
}

void
cki_server_conf_free(struct cki_server_conf *c)
{
	if (c == NULL)
		return;
	free(c->home);
	free(c->conf_name);
	cki_strlist_clear(&c->listen);
	free(c->p12);
	free(c->p12_password_file);
	free(c->ciphersuites);
	free(c->ciphers);
	free(c->groups);
	cki_strlist_clear(&c->client_ca);
	free(c->ocsp_responder);
	free(c->public_url);
	cki_strlist_clear(&c->crl);
	free(c->registry);
	free(c->registry_path);
	memset(c, 0, sizeof(*c));
}

/* HOME/rel, or a copy of an absolute name. */
static char *
home_path(const char *home, const char *name)
{
	char *p;
	size_t n;

	if (name[0] == '/')
		return strdup(name);
	n = strlen(home) + strlen(name) + 2;
	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "%s/%s", home, name);
	return p;
}

ck_status
cki_server_conf_defaults(
    ck_ctx *ctx, const char *home, struct cki_server_conf *out)
{
	memset(out, 0, sizeof(*out));
	out->id_source = CKI_SRV_ID_DEVICE;
	out->min_proto = TLS1_2_VERSION;
	out->max_proto = TLS1_3_VERSION;
	out->policy = CKI_POLICY_PAIRING;
	out->ocsp = CKI_OCSP_OFF;
	out->pending_ttl = CKI_SRV_DEFAULT_PENDING_TTL;
	out->max_pending = CKI_SRV_DEFAULT_MAX_PENDING;
	out->heartbeat = CKI_SRV_DEFAULT_HEARTBEAT;
	out->retry_after = CKI_SRV_DEFAULT_RETRY_AFTER;
	out->renew_grace = CKI_SRV_DEFAULT_RENEW_GRACE;
	if ((out->home = strdup(home)) == NULL ||
	    (out->conf_name = home_path(home, "certkit.conf")) == NULL ||
	    cki_strlist_add(&out->listen, "*:" CKI_SRV_DEFAULT_PORT) != CK_OK ||
	    (out->ciphersuites = strdup(DEF_CIPHERSUITES)) == NULL ||
	    (out->ciphers = strdup(DEF_CIPHERS)) == NULL ||
	    (out->groups = strdup(DEF_GROUPS)) == NULL ||
	    (out->registry = strdup("sqlite")) == NULL ||
	    (out->registry_path = home_path(home, "server/registry.db")) ==
	        NULL) {
		cki_server_conf_free(out);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	return CK_OK;
}

/* ---- value checks ------------------------------------------------------- */

/* "ADDR:PORT": ADDR is "*", an IPv4 address, "[IPv6]" or a host name;
 * PORT 0..65535 (0: any free port, for tests). */
static bool
listen_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	const char *p;
	char *end;
	long port;

	if (colon == NULL || colon == s || colon[1] == '\0')
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || errno != 0 || port < 0 || port > 65535 ||
	    !isdigit((unsigned char)colon[1]))
		return false;
	if (s[0] == '[')
		return colon[-1] == ']' && colon - s > 2;
	for (p = s; p < colon; p++)
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-' &&
		    *p != '*')
			return false;
	return true;
}

static ck_status
bad(ck_ctx *ctx, const cki_config *cfg, const char *key, const char *expected,
    const char *found)
{
	int line = 0;

	cki_config_get(cfg, S, key, &line);
	return cki_err(ctx, CK_E_FORMAT,
	    "%s:%d: [server] %s: expected %s, found '%s'", cki_config_name(cfg),
	    line, key, expected, found);
}

/* A duration: digits with an optional s, m, h or d suffix. */
static ck_status
get_duration(ck_ctx *ctx, const cki_config *cfg, const char *key, long min,
    long max, long *out)
{
	const char *v = cki_config_get(cfg, S, key, NULL);
	char *end, expected[128];
	long n, mul = 1;

	if (v == NULL)
		return CK_OK;
	snprintf(expected, sizeof(expected),
	    "a duration from %lds to %lds (a number with s, m, h or d)", min,
	    max);
	errno = 0;
	n = strtol(v, &end, 10);
	if (end == v || errno != 0 || n < 0 || !isdigit((unsigned char)v[0]))
		return bad(ctx, cfg, key, expected, v);
	if (*end != '\0') {
		switch (tolower((unsigned char)*end)) {
		case 's': mul = 1; break;
		case 'm': mul = 60; break;
		case 'h': mul = 3600; break;
		case 'd': mul = 86400; break;
		default: return bad(ctx, cfg, key, expected, v);
		}
		if (end[1] != '\0')
			return bad(ctx, cfg, key, expected, v);
	}
	if (n > LONG_MAX / mul || n * mul < min || n * mul > max)
		return bad(ctx, cfg, key, expected, v);
	*out = n * mul;
	return CK_OK;
}

/* The index of v in words[0..n), or -1. */
static int
get_word(const cki_config *cfg, const char *key, const char *const *words,
    int n, const char **found)
{
	const char *v = cki_config_get(cfg, S, key, NULL);

	*found = v;
	if (v == NULL)
		return -2;
	for (int i = 0; i < n; i++)
		if (strcasecmp(v, words[i]) == 0)
			return i;
	return -1;
}

static int
proto_parse(const char *v)
{
	if (strcasecmp(v, "TLSv1.2") == 0 || strcmp(v, "1.2") == 0 ||
	    strcasecmp(v, "TLS1.2") == 0)
		return TLS1_2_VERSION;
	if (strcasecmp(v, "TLSv1.3") == 0 || strcmp(v, "1.3") == 0 ||
	    strcasecmp(v, "TLS1.3") == 0)
		return TLS1_3_VERSION;
	return -1;
}

static ck_status
get_protocols(ck_ctx *ctx, const cki_config *cfg, struct cki_server_conf *c)
{
	static const char *const keys[] = {"min_protocol", "max_protocol"};
	int *dst[] = {&c->min_proto, &c->max_proto};
	int line;

	for (int i = 0; i < 2; i++) {
		const char *v = cki_config_get(cfg, S, keys[i], NULL);

		if (v == NULL)
			continue;
		if ((*dst[i] = proto_parse(v)) < 0)
			return bad(ctx, cfg, keys[i], "TLSv1.2 or TLSv1.3", v);
	}
	if (c->min_proto > c->max_proto) {
		cki_config_get(cfg, S, "min_protocol", &line);
		return cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: [server] min_protocol (TLSv1.3) is above "
		    "max_protocol (TLSv1.2); no protocol would be left",
		    cki_config_name(cfg), line);
	}
	return CK_OK;
}

/* ciphersuites, ciphers and groups: each must be accepted by OpenSSL and
 * leave something to negotiate. */
static ck_status
get_tls_lists(ck_ctx *ctx, const cki_config *cfg, struct cki_server_conf *c)
{
	SSL_CTX *sc = SSL_CTX_new(TLS_server_method());
	ck_status rv;

	if (sc == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	if ((rv = cki_config_string(
	         ctx, cfg, S, "ciphersuites", &c->ciphersuites)) != CK_OK ||
	    (rv = cki_config_string(ctx, cfg, S, "ciphers", &c->ciphers)) !=
	        CK_OK ||
	    (rv = cki_config_string(ctx, cfg, S, "groups", &c->groups)) !=
	        CK_OK)
		goto err;
	rv = CK_E_FORMAT;
	if (c->ciphersuites[0] == '\0' ||
	    SSL_CTX_set_ciphersuites(sc, c->ciphersuites) != 1) {
		bad(ctx, cfg, "ciphersuites",
		    "TLS 1.3 suite names separated by ':' (e.g. "
		    "TLS_AES_128_GCM_SHA256)",
		    c->ciphersuites);
		goto err;
	}
	if (c->ciphers[0] == '\0' ||
	    SSL_CTX_set_cipher_list(sc, c->ciphers) != 1) {
		bad(ctx, cfg, "ciphers",
		    "TLS 1.2 cipher names separated by ':' (e.g. "
		    "ECDHE-ECDSA-AES128-GCM-SHA256)",
		    c->ciphers);
		goto err;
	}
	if (c->groups[0] == '\0' ||
	    SSL_CTX_set1_groups_list(sc, c->groups) != 1) {
		bad(ctx, cfg, "groups",
		    "group names separated by ':' (e.g. X25519:P-256)",
		    c->groups);
		goto err;
	}
	rv = CK_OK;
err:
	ERR_clear_error();
	SSL_CTX_free(sc);
	return rv;
}

/* A list of file names, made relative to HOME. */
static ck_status
get_files(ck_ctx *ctx, const cki_config *cfg, const char *key, const char *home,
    struct cki_strlist *l)
{
	char **v = NULL;
	size_t n = 0;
	ck_status rv = CK_OK;

	if ((rv = cki_config_list(ctx, cfg, S, key, &v, &n)) != CK_OK)
		return rv;
	if (v == NULL)
		return CK_OK;
	cki_strlist_clear(l);
	for (size_t i = 0; i < n && rv == CK_OK; i++) {
		char *p = home_path(home, v[i]);

		if (p == NULL || cki_strlist_add(l, p) != CK_OK)
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		free(p);
	}
	cki_strv_free(v, n);
	return rv;
}

/* One file name, made relative to HOME. */
static ck_status
get_file(ck_ctx *ctx, const cki_config *cfg, const char *key, const char *home,
    char **out)
{
	const char *v = cki_config_get(cfg, S, key, NULL);
	char *p;

	if (v == NULL)
		return CK_OK;
	if (v[0] == '\0')
		return bad(ctx, cfg, key, "a file name", v);
	if ((p = home_path(home, v)) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	free(*out);
	*out = p;
	return CK_OK;
}

static ck_status
get_listen(ck_ctx *ctx, const cki_config *cfg, struct cki_server_conf *c)
{
	char **v = NULL;
	size_t n = 0;
	ck_status rv;

	if ((rv = cki_config_list(ctx, cfg, S, "listen", &v, &n)) != CK_OK)
		return rv;
	if (cki_config_get(cfg, S, "listen", NULL) == NULL)
		return CK_OK;
	if (n == 0)
		return bad(ctx, cfg, "listen", "ADDR:PORT (e.g. *:8443)", "");
	cki_strlist_clear(&c->listen);
	for (size_t i = 0; i < n && rv == CK_OK; i++) {
		if (!listen_valid(v[i]))
			rv = bad(ctx, cfg, "listen",
			    "ADDR:PORT, ADDR being *, an IPv4 address, "
			    "[IPv6] or a host name, PORT 0 to 65535",
			    v[i]);
		else if (cki_strlist_add(&c->listen, v[i]) != CK_OK)
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	cki_strv_free(v, n);
	return rv;
}

/* identity = device | p12; p12 alone means identity = p12. */
static ck_status
get_identity(ck_ctx *ctx, const cki_config *cfg, struct cki_server_conf *c)
{
	static const char *const words[] = {"device", "p12"};
	const char *v;
	int i = get_word(cfg, "identity", words, 2, &v), line;
	ck_status rv;

	if (i == -1)
		return bad(ctx, cfg, "identity", "device or p12", v);
	if ((rv = get_file(ctx, cfg, "p12", c->home, &c->p12)) != CK_OK ||
	    (rv = get_file(ctx, cfg, "p12_password_file", c->home,
	         &c->p12_password_file)) != CK_OK)
		return rv;
	c->id_source = i == 1 || (i == -2 && c->p12 != NULL)
	    ? CKI_SRV_ID_P12
	    : CKI_SRV_ID_DEVICE;
	if (c->id_source == CKI_SRV_ID_DEVICE) {
		if (c->p12 == NULL && c->p12_password_file == NULL)
			return CK_OK;
		cki_config_get(
		    cfg, S, c->p12 ? "p12" : "p12_password_file", &line);
		return cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: [server] identity is 'device' but %s is set; "
		    "set identity = p12 to serve the keystore, or remove it",
		    cki_config_name(cfg), line,
		    c->p12 ? "p12" : "p12_password_file");
	}
	if (c->p12 == NULL || c->p12_password_file == NULL) {
		cki_config_get(cfg, S, c->p12 ? "p12" : "identity", &line);
		return cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: [server] identity = p12 needs both p12 = FILE "
		    "and p12_password_file = FILE; %s is missing",
		    cki_config_name(cfg), line,
		    c->p12 ? "p12_password_file" : "p12");
	}
	return CK_OK;
}

static ck_status
get_client_auth(ck_ctx *ctx, const cki_config *cfg, struct cki_server_conf *c)
{
	const char *v;
	int i, line;
	ck_status rv;

	if ((i = get_word(cfg, "client_policy", policies, 3, &v)) == -1)
		return bad(ctx, cfg, "client_policy",
		    "pairing, trusted-ca or trusted-ca+pairing", v);
	if (i >= 0)
		c->policy = (enum cki_client_policy)i;
	if ((i = get_word(cfg, "ocsp", ocsp_modes, 3, &v)) == -1)
		return bad(ctx, cfg, "ocsp", "off, soft-fail or hard-fail", v);
	if (i >= 0)
		c->ocsp = (enum cki_ocsp_mode)i;
	if ((v = cki_config_get(cfg, S, "ocsp_responder", NULL)) != NULL &&
	    (strncasecmp(v, "http://", 7) != 0 || v[7] == '\0' ||
	        strpbrk(v, " \t") != NULL))
		return bad(ctx, cfg, "ocsp_responder",
		    "an http:// URL (OCSP is plain HTTP, RFC 6960)", v);
	if ((rv = cki_config_string(
	         ctx, cfg, S, "ocsp_responder", &c->ocsp_responder)) != CK_OK ||
	    (rv = get_files(ctx, cfg, "client_ca", c->home, &c->client_ca)) !=
	        CK_OK ||
	    (rv = get_files(ctx, cfg, "crl", c->home, &c->crl)) != CK_OK)
		return rv;
	if (c->policy != CKI_POLICY_PAIRING && c->client_ca.n == 0) {
		cki_config_get(cfg, S, "client_policy", &line);
		return cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: [server] client_policy = %s needs client_ca = "
		    "FILE (the CA certificates clients must chain to); none "
		    "is set",
		    cki_config_name(cfg), line, cki_policy_name(c->policy));
	}
	return CK_OK;
}

/* A PostgreSQL target with libpq's passfile = the password file appended
 * (a URI takes it as a query parameter, a conninfo as a keyword). */
static char *
pg_target(const char *v, const char *passfile)
{
	size_t n = strlen(v) + (passfile ? 2 * strlen(passfile) : 0) + 16;
	char *t = malloc(n);
	size_t len;

	if (t == NULL)
		return NULL;
	len = (size_t)snprintf(t, n, "%s", v);
	if (passfile == NULL)
		return t;
	if (strstr(v, "://") != NULL) {
		snprintf(t + len, n - len, "%spassfile=%s",
		    strchr(v, '?') ? "&" : "?", passfile);
		return t;
	}
	len += (size_t)snprintf(t + len, n - len, " passfile='");
	for (const char *c = passfile; *c != '\0'; c++) {
		if (*c == '\'' || *c == '\\')
			t[len++] = '\\';
		t[len++] = *c;
	}
	snprintf(t + len, n - len, "'");
	return t;
}

static bool
is_pg(const char *v)
{
	static const char *const pre[] = {"postgresql:", "postgres://",
	    "host=", "hostaddr=", "dbname=", "service=", "user=", "port="};

	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (strncasecmp(v, pre[i], strlen(pre[i])) == 0)
			return true;
	return false;
}

/* registry = sqlite | sqlite:PATH | postgresql://... | a libpq conninfo;
 * registry_password_file = FILE (pgpass format, for PostgreSQL). */
static ck_status
get_registry(ck_ctx *ctx, const cki_config *cfg, struct cki_server_conf *c)
{
	const char *v = cki_config_get(cfg, S, "registry", NULL);
	char *path = NULL, *name, *pw = NULL;
	ck_status rv;

	if ((rv = get_file(ctx, cfg, "registry_password_file", c->home, &pw)) !=
	    CK_OK)
		return rv;
	if (pw != NULL && (v == NULL || !is_pg(v))) {
		free(pw);
		return bad(ctx, cfg, "registry_password_file",
		    "a PostgreSQL registry (registry = postgresql://...)",
		    v != NULL ? v : "sqlite");
	}
	if (v == NULL || strcasecmp(v, "sqlite") == 0)
		return CK_OK;
	if (is_pg(v)) {
		name = pg_target(v, pw);
		free(pw);
	} else if (strncasecmp(v, "sqlite:", 7) != 0 || v[7] == '\0') {
		return bad(ctx, cfg, "registry",
		    "sqlite, sqlite:FILE, postgresql://... or a PostgreSQL "
		    "conninfo",
		    v);
	} else {
		path = home_path(c->home, v + 7);
		name = strdup("sqlite");
	}
	if (name == NULL || (path == NULL && strcmp(name, "sqlite") == 0)) {
		free(path);
		free(name);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	free(c->registry);
	free(c->registry_path);
	c->registry = name;
	c->registry_path = path;
	return CK_OK;
}

/* public_url: how clients reach this server, for the CRL and OCSP URLs
 * put in the certificates its CA issues. */
static ck_status
get_public_url(ck_ctx *ctx, const cki_config *cfg, struct cki_server_conf *c)
{
	const char *v = cki_config_get(cfg, S, "public_url", NULL);
	size_t n = v != NULL ? strlen(v) : 0;

	if (v == NULL)
		return CK_OK;
	if ((strncasecmp(v, "https://", 8) != 0 &&
	        strncasecmp(v, "http://", 7) != 0) ||
	    strpbrk(v, " \t?#") != NULL || n < 9 || v[n - 1] == '/')
		return bad(ctx, cfg, "public_url",
		    "an https:// URL without a trailing slash, e.g. "
		    "https://primary.example:8443",
		    v);
	return cki_config_string(ctx, cfg, S, "public_url", &c->public_url);
}

ck_status
cki_server_conf_parse(ck_ctx *ctx, const char *home, const cki_config *cfg,
    struct cki_server_conf *out)
{
	static const char *const known[] = {"listen", "identity", "p12",
	    "p12_password_file", "min_protocol", "max_protocol", "ciphersuites",
	    "ciphers", "groups", "client_policy", "client_ca", "ocsp",
	    "ocsp_responder", "crl", "registry", "registry_password_file",
	    "pending_ttl", "max_pending", "heartbeat", "retry_after",
	    "renew_grace", "public_url", NULL};
	ck_status rv;

	if ((rv = cki_server_conf_defaults(ctx, home, out)) != CK_OK)
		return rv;
	free(out->conf_name);
	if ((out->conf_name = strdup(cki_config_name(cfg))) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = cki_config_check_section(ctx, cfg, S, known)) != CK_OK ||
	    (rv = get_listen(ctx, cfg, out)) != CK_OK ||
	    (rv = get_identity(ctx, cfg, out)) != CK_OK ||
	    (rv = get_protocols(ctx, cfg, out)) != CK_OK ||
	    (rv = get_tls_lists(ctx, cfg, out)) != CK_OK ||
	    (rv = get_client_auth(ctx, cfg, out)) != CK_OK ||
	    (rv = get_registry(ctx, cfg, out)) != CK_OK ||
	    (rv = get_duration(ctx, cfg, "pending_ttl", 60, 366 * 86400L,
	         &out->pending_ttl)) != CK_OK ||
	    (rv = cki_config_long(ctx, cfg, S, "max_pending", 1, 10000000L,
	         &out->max_pending)) != CK_OK ||
	    (rv = get_duration(
	         ctx, cfg, "heartbeat", 5, 86400L, &out->heartbeat)) != CK_OK ||
	    (rv = get_duration(ctx, cfg, "retry_after", 1, 86400L,
	         &out->retry_after)) != CK_OK ||
	    (rv = get_duration(ctx, cfg, "renew_grace", 0, 366 * 86400L,
	         &out->renew_grace)) != CK_OK ||
	    (rv = get_public_url(ctx, cfg, out)) != CK_OK)
		goto err;
	return CK_OK;
err:
	cki_server_conf_free(out);
	return rv;
}

ck_status
cki_server_conf_load(ck_ctx *ctx, const char *home, struct cki_server_conf *out)
{
	cki_config *cfg = NULL;
	ck_status rv;

	memset(out, 0, sizeof(*out));
	if ((rv = cki_config_load(ctx, home, &cfg)) != CK_OK)
		return rv;
	rv = cki_server_conf_parse(ctx, home, cfg, out);
	cki_config_free(cfg);
	return rv;
}
