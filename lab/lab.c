/*
 * lab.c: `certkit lab`, local endpoints that each reproduce one diagnosis
 * code of the doctor, and the files that describe them.
 *
 * ck_lab_start():
 *   1. creates the event base and binds the AIA server (certificates name
 *      its URL, so it comes first);
 *   2. makes the PKI (lab_pki.c);
 *   3. binds the DNS server, the proxies and every endpoint (lab_net.c);
 *   4. writes DIR/profile.ini, trust.pem, reference.pem, lab.json, lab.env
 *      and the client identities, each atomically;
 *   5. starts the lab thread, which runs the loop until ck_lab_stop().
 * Everything is bound before anything is written, so a script that sees
 * lab.env can connect at once (the kernel queues connections until the
 * loop accepts them).
 *
 * The table below is the lab: one row per endpoint. Its `name` is the
 * profile section, its `code` the doctor's expected primary diagnosis, its
 * `status` the expected endpoint status, and `evidence` strings that the
 * doctor's primary diagnosis must mention (tests/interop/lab_codes.sh).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lab_int.h"
#include "strbuf.h"

/* clang-format off */
#define Z "." CKI_LAB_ZONE
#define LEAF(iss, name, nb, na) { (iss), (name), (name), (nb), (na), 0, 0, 0 }
#define CHAIN_NONE { LAB_CA_END }
#define CHAIN_R3 { LAB_CA_R3, LAB_CA_END }
#define TLS_OK(h) .kind = LAB_K_TLS, .host = (h), .has_leaf = 1, \
	.leaf = LEAF(LAB_CA_R3, (h), -10, 90), .chain = CHAIN_R3
/* clang-format on */

static const struct cki_lab_spec specs[] = {
    /* ---- success ---- */
    {.name = "ok",
        .code = "ok",
        .status = "online",
        .what = "a valid chain to a root in the device's store",
        TLS_OK("ok" Z)},
    {.name = "ok_client_cert",
        .code = "ok",
        .status = "online",
        .what = "mutual TLS with a client certificate the server accepts",
        TLS_OK("mtls-ok" Z),
        .client_auth = 1,
        .client = LAB_CLIENT_PAIRED},
    {.name = "ok_via_proxy",
        .code = "ok",
        .status = "online",
        .what = "the ok endpoint through a working HTTP CONNECT proxy",
        .kind = LAB_K_ALIAS,
        .host = "ok" Z,
        .target = "ok",
        .proxy = LAB_PX_OK},
    /* ---- the error-20 family ---- */
    {.name = "incomplete_chain",
        .code = "incomplete_chain",
        .status = "unreachable",
        .what = "the server omits its intermediate; the AIA URL serves it",
        .kind = LAB_K_TLS,
        .host = "incomplete-chain" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_R3, "incomplete-chain" Z, -10, 90),
        .chain = CHAIN_NONE,
        .evidence = "certkit Lab Public CA R3"},
    {.name = "incomplete_chain_private",
        .code = "incomplete_chain",
        .status = "unreachable",
        .what = "the server omits its private intermediate, which no store "
                "has and no AIA URL names",
        .kind = LAB_K_TLS,
        .host = "incomplete-private" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_ACMEI, "incomplete-private" Z, -10, 365),
        .chain = CHAIN_NONE,
        .evidence = "Acme-CA-Intermediate|the server must send it"},
    {.name = "missing_root",
        .code = "missing_root",
        .status = "unreachable",
        .what = "the chain ends at a public root the device's store lacks",
        .kind = LAB_K_TLS,
        .host = "missing-root" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_G2I, "missing-root" Z, -10, 90),
        .chain = {LAB_CA_G2I, LAB_CA_END},
        .required_roots =
            "certkit Lab Services Root Certificate Authority - G2",
        .evidence = "certkit Lab Services Root Certificate Authority - G2"},
    {.name = "expired_root_in_store",
        .code = "expired_root_in_store",
        .status = "unreachable",
        .what = "the store holds only the expired old root (DST Root CA X3 "
                "case); the new root is missing",
        .kind = LAB_K_TLS,
        .host = "expired-root" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_E1, "expired-root" Z, -10, 90),
        .chain = {LAB_CA_E1, LAB_CA_X2X, LAB_CA_END},
        .evidence = "certkit Lab Old Root CA X3|certkit Lab Root X2"},
    {.name = "tls_interception",
        .code = "tls_interception",
        .status = "unreachable",
        .what = "a public service re-signed by an SSL-inspection CA "
                "(Zscaler)",
        .kind = LAB_K_TLS,
        .host = "cloud" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_ZSI, "cloud" Z, -1, 60),
        .chain = {LAB_CA_ZSI, LAB_CA_END},
        .expect = "public",
        .direct = 1,
        .evidence = "Zscaler Intermediate Root CA"},
    {.name = "tls_interception_pin",
        .code = "tls_interception",
        .status = "unreachable",
        .what = "the same re-signed service, caught by the profile's pin",
        .kind = LAB_K_ALIAS,
        .host = "cloud" Z,
        .target = "tls_interception",
        .pin_x1 = 1,
        .evidence = "Zscaler Intermediate Root CA"},
    {.name = "untrusted_root",
        .code = "untrusted_root",
        .status = "unreachable",
        .what = "a private CA (Acme-CA-Root) the device does not trust",
        .kind = LAB_K_TLS,
        .host = "untrusted-root" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_ACMEI, "untrusted-root" Z, -10, 365),
        .chain = {LAB_CA_ACMEI, LAB_CA_ACME, LAB_CA_END},
        .evidence = "Acme-CA-Root"},
    /* ---- the server's certificate ---- */
    {.name = "cert_expired",
        .code = "cert_expired",
        .status = "unreachable",
        .what = "the server's certificate expired "
                "5 days ago",
        .kind = LAB_K_TLS,
        .host = "cert-expired" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_R3, "cert-expired" Z, -95, -5),
        .chain = CHAIN_R3,
        .evidence = "cert-expired" Z},
    {.name = "cert_not_yet_valid",
        .code = "cert_not_yet_valid",
        .status = "unreachable",
        .what = "the certificate starts in 10 days; the server's clock "
                "agrees with ours",
        .kind = LAB_K_TLS,
        .host = "cert-not-yet-valid" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_R3, "cert-not-yet-valid" Z, 10, 100),
        .chain = CHAIN_R3,
        .evidence = "cert-not-yet-valid" Z},
    {.name = "clock_skew",
        .code = "clock_skew",
        .status = "unreachable",
        .what = "the certificate starts in 20 days and the server's HTTP "
                "Date is 45 days ahead: our clock is wrong",
        .kind = LAB_K_TLS,
        .host = "clock-skew" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_R3, "clock-skew" Z, 20, 110),
        .chain = CHAIN_R3,
        .date_skew_days = 45},
    {.name = "self_signed_leaf",
        .code = "self_signed_leaf",
        .status = "unreachable",
        .what = "a self-signed server certificate (a factory default)",
        .kind = LAB_K_TLS,
        .host = "self-signed" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_SELF, "self-signed" Z, -10, 3650),
        .chain = CHAIN_NONE,
        .evidence = "self-signed" Z},
    {.name = "hostname_mismatch",
        .code = "hostname_mismatch",
        .status = "unreachable",
        .what = "the site's valid certificate names another host "
                "(other.lab.test)",
        .kind = LAB_K_TLS,
        .host = "hostname-mismatch" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_R3, "portal" Z, -10, 90),
        .chain = CHAIN_R3,
        .sni_name = "hostname-mismatch" Z,
        .sni_leaf = LEAF(LAB_CA_R3, "other" Z, -10, 90),
        .evidence = "other" Z},
    {.name = "hostname_mismatch_only_cert",
        .code = "hostname_mismatch",
        .status = "unreachable",
        .what = "the server's only certificate, with or without SNI, names "
                "another host (other.lab.test)",
        .kind = LAB_K_TLS,
        .host = "only-cert" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_R3, "other" Z, -10, 90),
        .chain = CHAIN_R3,
        .evidence = "other" Z "|same_without_sni"},
    {.name = "fallback_certificate",
        .code = "fallback_certificate",
        .status = "unreachable",
        .what = "unknown SNI gets the server's fallback \"localhost\" "
                "certificate (SAFEQ's keystore failed to load)",
        .kind = LAB_K_TLS,
        .host = "fallback" Z,
        .has_leaf = 1,
        .leaf = LEAF(LAB_CA_SELF, "localhost", -10, 3650),
        .chain = CHAIN_NONE,
        .sni_name = "printer" Z,
        .sni_leaf = LEAF(LAB_CA_R3, "printer" Z, -10, 90),
        .evidence = "localhost"},
    {.name = "weak_signature",
        .code = "weak_signature",
        .status = "unreachable",
        .what = "the certificate is signed with SHA-1",
        .kind = LAB_K_TLS,
        .host = "weak-signature" Z,
        .has_leaf = 1,
        .leaf = {LAB_CA_R3, "weak-signature" Z, "weak-signature" Z, -10, 90, 1,
            0, 0},
        .chain = CHAIN_R3,
        .weak = 1,
        .evidence = "sha1"},
    {.name = "weak_key",
        .code = "weak_key",
        .status = "unreachable",
        .what = "the certificate has a 1024-bit RSA key",
        .kind = LAB_K_TLS,
        .host = "weak-key" Z,
        .has_leaf = 1,
        .leaf = {LAB_CA_R3, "weak-key" Z, "weak-key" Z, -10, 90, 0, 1024, 0},
        .chain = CHAIN_R3,
        .weak = 1,
        .evidence = "1024"},
    {.name = "revoked",
        .code = "revoked",
        .status = "unreachable",
        .what = "the stapled OCSP response says the certificate is revoked",
        .kind = LAB_K_TLS,
        .host = "revoked" Z,
        .has_leaf = 1,
        .leaf = {LAB_CA_R3, "revoked" Z, "revoked" Z, -10, 90, 0, 0, 1},
        .chain = CHAIN_R3,
        .staple_revoked = 1,
        .evidence = "ocsp"},
    /* ---- client authentication ---- */
    {.name = "client_cert_required",
        .code = "client_cert_required",
        .status = "unreachable",
        .what = "the server requires a client certificate; none is "
                "configured",
        TLS_OK("mtls-required" Z),
        .client_auth = 1},
    {.name = "client_cert_rejected",
        .code = "client_cert_rejected",
        .status = "unreachable",
        .what = "the client certificate's CA is unknown to the server",
        TLS_OK("mtls-unknown-ca" Z),
        .client_auth = 1,
        .client = LAB_CLIENT_UNKNOWN,
        .evidence = "unknown ca"},
    {.name = "client_cert_rejected_expired",
        .code = "client_cert_rejected",
        .status = "unreachable",
        .what = "the client certificate expired",
        TLS_OK("mtls-expired" Z),
        .client_auth = 1,
        .client = LAB_CLIENT_EXPIRED,
        .evidence = "expired"},
    {.name = "client_cert_rejected_revoked",
        .code = "client_cert_rejected",
        .status = "unreachable",
        .what = "the client certificate is on the Device CA's CRL",
        TLS_OK("mtls-revoked" Z),
        .client_auth = 1,
        .client = LAB_CLIENT_REVOKED,
        .evidence = "revoked"},
    {.name = "client_cert_rejected_unauthorized",
        .code = "client_cert_rejected",
        .status = "unreachable",
        .what = "TLS succeeds, then HTTP 403 \"Requesting Pairing\": the "
                "device is not authorised",
        TLS_OK("mtls-pairing" Z),
        .client_auth = 1,
        .client = LAB_CLIENT_UNPAIRED,
        .http_status = 403,
        .evidence = "403"},
    /* ---- the handshake ---- */
    {.name = "tls_protocol_mismatch",
        .code = "tls_protocol_mismatch",
        .status = "unreachable",
        .what = "the server speaks only TLS 1.0",
        TLS_OK("tls10" Z),
        .weak = 1,
        .proto_min = TLS1_VERSION,
        .proto_max = TLS1_VERSION,
        .evidence = "TLSv1"},
    {.name = "tls_cipher_mismatch",
        .code = "tls_cipher_mismatch",
        .status = "unreachable",
        .what = "TLS 1.2 with one cipher suite no client offers "
                "(ECDHE-ECDSA-NULL-SHA)",
        TLS_OK("cipher" Z),
        .weak = 1,
        .proto_min = TLS1_2_VERSION,
        .proto_max = TLS1_2_VERSION,
        .ciphers = "ECDHE-ECDSA-NULL-SHA",
        .evidence = "ECDHE-ECDSA-NULL-SHA"},
    {.name = "not_tls",
        .code = "not_tls",
        .status = "unreachable",
        .what = "plaintext HTTP on the port",
        .kind = LAB_K_HTTP,
        .host = "not-tls" Z,
        .evidence = "http"},
    {.name = "handshake_timeout",
        .code = "handshake_timeout",
        .status = "unreachable",
        .what = "accepts TCP, then never answers the ClientHello",
        .kind = LAB_K_SILENT,
        .host = "silent" Z},
    {.name = "tls_reset",
        .code = "tls_reset",
        .status = "unreachable",
        .what = "reads the ClientHello, then resets the connection",
        .kind = LAB_K_TLS_RESET,
        .host = "tls-reset" Z},
    /* ---- TCP ---- */
    {.name = "tcp_reset",
        .code = "tcp_reset",
        .status = "offline",
        .what = "accepts, then resets before any data",
        .kind = LAB_K_TCP_RESET},
    {.name = "tcp_refused",
        .code = "tcp_refused",
        .status = "offline",
        .what = "nothing listens on the port",
        .kind = LAB_K_REFUSED,
        .evidence = "refused"},
    {.name = "tcp_timeout",
        .code = "tcp_timeout",
        .status = "offline",
        .what = "SYNs are silently dropped (a full accept queue)",
        .kind = LAB_K_BLACKHOLE},
    /* ---- DNS (the lab's DNS server) ---- */
    {.name = "dns_failure",
        .code = "dns_failure",
        .status = "offline",
        .what = "the name does not exist (NXDOMAIN)",
        .kind = LAB_K_ALIAS,
        .host = "nxdomain" Z,
        .target = "ok",
        .evidence = "nxdomain"},
    {.name = "dns_failure_servfail",
        .code = "dns_failure",
        .status = "offline",
        .what = "the DNS server answers SERVFAIL",
        .kind = LAB_K_ALIAS,
        .host = "servfail" Z,
        .target = "ok",
        .evidence = "servfail"},
    {.name = "dns_timeout",
        .code = "dns_timeout",
        .status = "offline",
        .what = "the DNS server never answers for this name",
        .kind = LAB_K_ALIAS,
        .host = "timeout" Z,
        .target = "ok",
        .evidence = "timeout.lab.test"},
    {.name = "dns_sinkhole",
        .code = "dns_sinkhole",
        .status = "offline",
        .what = "a public name answered with 0.0.0.0 (a DNS filter)",
        .kind = LAB_K_ALIAS,
        .host = "sinkhole" Z,
        .target = "ok",
        .expect = "public",
        .evidence = "0.0.0.0"},
    /* ---- proxies ---- */
    {.name = "proxy_auth_required",
        .code = "proxy_auth_required",
        .status = "offline",
        .what = "the proxy demands Basic credentials (407)",
        .kind = LAB_K_ALIAS,
        .host = "ok" Z,
        .target = "ok",
        .proxy = LAB_PX_AUTH,
        .evidence = "407"},
    {.name = "proxy_failure",
        .code = "proxy_failure",
        .status = "offline",
        .what = "the proxy refuses CONNECT (403)",
        .kind = LAB_K_ALIAS,
        .host = "ok" Z,
        .target = "ok",
        .proxy = LAB_PX_DENY,
        .evidence = "403"},
    {.name = "proxy_failure_upstream",
        .code = "proxy_failure",
        .status = "offline",
        .what = "the proxy cannot reach the server (502)",
        .kind = LAB_K_ALIAS,
        .target = "tcp_refused",
        .proxy = LAB_PX_OK,
        .evidence = "502"},
    {.name = "proxy_failure_unreachable",
        .code = "proxy_failure",
        .status = "offline",
        .what = "nothing listens on the proxy's port",
        .kind = LAB_K_ALIAS,
        .host = "ok" Z,
        .target = "ok",
        .proxy = LAB_PX_DEAD},
};

static const char *const client_file[LAB_CLIENT_COUNT] = {
    NULL,
    "paired",
    "unknown-ca",
    "expired",
    "revoked",
    "unpaired",
};

const struct cki_lab_spec *
cki_lab_specs(size_t *n)
{
	*n = sizeof(specs) / sizeof(specs[0]);
	return specs;
}

/* ---- text files (lib/core/strbuf.c builds them) ----------------------- */

/* Single-quoted for sh: ' becomes '\''. */
static void
sb_shquote(struct cki_sb *b, const char *s)
{
	cki_sb_printf(b, "'");
	for (; *s != '\0'; s++) {
		if (*s == '\'')
			cki_sb_printf(b, "'\\''");
		else
			cki_sb_printf(b, "%c", *s);
	}
	cki_sb_printf(b, "'");
}

static char *
path_join(const char *dir, const char *file)
{
	size_t n = strlen(dir) + strlen(file) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", dir, file);
	return p;
}

/* ---- the files --------------------------------------------------------- */

static const char *
ep_proxy(const ck_lab *lab, const struct cki_lab_spec *s)
{
	return s->proxy != LAB_PX_NONE ? lab->px[s->proxy].url : NULL;
}

static ck_status
write_text(ck_lab *lab, const char *file, const char *text, size_t len,
    unsigned int mode)
{
	char *path = path_join(lab->dir, file);
	ck_status rv;

	if (path == NULL)
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	rv = ck_write_file_atomic(lab->ctx, path, text, len, mode);
	free(path);
	return rv;
}

static ck_status
write_pems(ck_lab *lab, const char *file, const int *cas)
{
	char *buf = NULL;
	size_t len = 0;
	ck_status rv = CK_OK;

	for (int i = 0; cas[i] != LAB_CA_END && rv == CK_OK; i++)
		rv = cki_lab_pem_cert(
		    lab->ctx, lab->pki->ca[cas[i]].cert, &buf, &len);
	if (rv == CK_OK)
		rv = write_text(lab, file, buf, len, 0644);
	free(buf);
	return rv;
}

static ck_status
write_clients(ck_lab *lab)
{
	char *dir = path_join(lab->dir, "clients"), name[64];
	ck_status rv;

	if (dir == NULL)
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	if ((rv = cki_mkdirs(lab->ctx, dir, 0700)) != CK_OK)
		goto out;
	for (int i = 1; i < LAB_CLIENT_COUNT && rv == CK_OK; i++) {
		const struct cki_lab_id *id = &lab->pki->client[i];
		char *buf = NULL;
		size_t len = 0;

		snprintf(name, sizeof(name), "clients/%s.pem", client_file[i]);
		rv = cki_lab_pem_cert(lab->ctx, id->cert, &buf, &len);
		/* The issuing CA goes along, as a device would send it. */
		if (rv == CK_OK)
			rv = cki_lab_pem_cert(lab->ctx,
			    lab->pki
			        ->ca[i == LAB_CLIENT_UNKNOWN ? LAB_CA_ROGUE
			                                     : LAB_CA_DEV]
			        .cert,
			    &buf, &len);
		if (rv == CK_OK)
			rv = write_text(lab, name, buf, len, 0644);
		free(buf);
		buf = NULL;
		len = 0;
		if (rv != CK_OK)
			break;
		snprintf(name, sizeof(name), "clients/%s.key", client_file[i]);
		rv = cki_lab_pem_key(lab->ctx, id->key, &buf, &len);
		if (rv == CK_OK)
			rv = write_text(lab, name, buf, len, 0600);
		if (buf != NULL)
			OPENSSL_cleanse(buf, len);
		free(buf);
	}
out:
	free(dir);
	return rv;
}

static ck_status
write_profile(ck_lab *lab)
{
	struct cki_sb b = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char pin[65] = "";
	ck_cert *x1;
	ck_status rv;

	if ((x1 = calloc(1, sizeof(*x1))) == NULL)
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	x1->x509 = lab->pki->ca[LAB_CA_X1].cert;
	ck_cert_spki_sha256(x1, pin);
	free(x1);
	cki_sb_printf(&b,
	    "# certkit lab profile: one section per endpoint, named after the\n"
	    "# diagnosis code it reproduces. Names in the %s zone resolve\n"
	    "# through the lab's DNS server only:\n"
	    "#   certkit doctor --profile %s --trust %s \\\n"
	    "#       --reference %s --dns %s\n",
	    CKI_LAB_ZONE, lab->profile, lab->trust, lab->reference, lab->dns);
	for (size_t i = 0; i < lab->nep; i++) {
		const struct cki_lab_ep *ep = &lab->ep[i];
		const struct cki_lab_spec *s = ep->spec;

		cki_sb_printf(&b, "\n[%s]\n# %s: %s\nhost = %s\nport = %d\n",
		    s->name, s->code, s->what, ep->host, ep->port);
		/* A public name must not resolve to 127.0.0.1 (that is a
		 * sinkhole): such endpoints skip DNS. */
		if (s->direct)
			cki_sb_printf(&b, "address = 127.0.0.1\n");
		if (s->expect != NULL)
			cki_sb_printf(&b, "expect = %s\n", s->expect);
		if (s->pin_x1)
			cki_sb_printf(&b, "pin = %s\n", pin);
		if (s->client != LAB_CLIENT_NONE)
			cki_sb_printf(&b,
			    "client_cert = %s/clients/%s.pem\n"
			    "client_key = %s/clients/%s.key\n",
			    lab->dir, client_file[s->client], lab->dir,
			    client_file[s->client]);
		if (s->required_roots != NULL)
			cki_sb_printf(
			    &b, "required_roots = %s\n", s->required_roots);
		if (ep_proxy(lab, s) != NULL)
			cki_sb_printf(&b, "proxy = %s\n", ep_proxy(lab, s));
	}
	if (b.failed) {
		cki_sb_free(&b);
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	}
	rv = ck_write_file_atomic(lab->ctx, lab->profile, b.p, b.n, 0644);
	cki_sb_free(&b);
	return rv;
}

static ck_status
write_env(ck_lab *lab)
{
	static const char *const names[] = {"LAB_DIR", "LAB_DNS", "LAB_AIA",
	    "LAB_PROXY", "LAB_PROXY_AUTH", "LAB_PROFILE", "LAB_TRUST",
	    "LAB_REFERENCE", "LAB_JSON"};
	struct cki_sb b = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char authurl[128];
	const char *vals[9];
	ck_status rv;

	snprintf(authurl, sizeof(authurl), "http://%s:%s@127.0.0.1:%d",
	    CKI_LAB_PROXY_USER, CKI_LAB_PROXY_PASS, lab->px[LAB_PX_AUTH].port);
	vals[0] = lab->dir;
	vals[1] = lab->dns;
	vals[2] = lab->aia;
	vals[3] = lab->px[LAB_PX_OK].url;
	vals[4] = authurl;
	vals[5] = lab->profile;
	vals[6] = lab->trust;
	vals[7] = lab->reference;
	vals[8] = lab->json_path;
	cki_sb_printf(
	    &b, "# certkit lab: source this file (. %s)\n", lab->env_path);
	for (size_t i = 0; i < 9; i++) {
		cki_sb_printf(&b, "%s=", names[i]);
		sb_shquote(&b, vals[i]);
		cki_sb_printf(&b, "\n");
	}
	cki_sb_printf(&b, "export");
	for (size_t i = 0; i < 9; i++)
		cki_sb_printf(&b, " %s", names[i]);
	cki_sb_printf(&b, "\n");
	if (b.failed) {
		cki_sb_free(&b);
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	}
	rv = ck_write_file_atomic(lab->ctx, lab->env_path, b.p, b.n, 0644);
	cki_sb_free(&b);
	return rv;
}

static json_t *
json_str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static ck_status
build_json(ck_lab *lab)
{
	json_t *doc = json_object(), *eps = json_array(), *px = json_object();
	json_t *counts = json_object();
	size_t online = 0, unreachable = 0, offline = 0;
	char authurl[128];

	if (doc == NULL || eps == NULL || px == NULL || counts == NULL)
		goto nomem;
	snprintf(authurl, sizeof(authurl), "http://%s:%s@127.0.0.1:%d",
	    CKI_LAB_PROXY_USER, CKI_LAB_PROXY_PASS, lab->px[LAB_PX_AUTH].port);
	json_object_set_new(px, "ok", json_string(lab->px[LAB_PX_OK].url));
	json_object_set_new(px, "auth", json_string(lab->px[LAB_PX_AUTH].url));
	json_object_set_new(px, "auth_with_credentials", json_string(authurl));
	json_object_set_new(px, "deny", json_string(lab->px[LAB_PX_DENY].url));
	json_object_set_new(px, "dead", json_string(lab->px[LAB_PX_DEAD].url));
	for (size_t i = 0; i < lab->nep; i++) {
		const struct cki_lab_ep *ep = &lab->ep[i];
		const struct cki_lab_spec *s = ep->spec;
		json_t *e = json_object(), *ev = json_array();
		char cc[PATH_MAX], ck[PATH_MAX], addr[300];
		const char *p = s->evidence;

		if (e == NULL || ev == NULL) {
			json_decref(e);
			json_decref(ev);
			goto nomem;
		}
		while (p != NULL && *p != '\0') {
			size_t n = strcspn(p, "|");

			json_array_append_new(ev, json_stringn(p, n));
			p += n;
			if (*p == '|')
				p++;
		}
		snprintf(addr, sizeof(addr), "%s:%d", ep->host, ep->port);
		json_object_set_new(e, "name", json_string(s->name));
		json_object_set_new(e, "code", json_string(s->code));
		json_object_set_new(e, "status", json_string(s->status));
		json_object_set_new(e, "endpoint", json_string(addr));
		json_object_set_new(e, "host", json_string(ep->host));
		json_object_set_new(e, "address", json_string("127.0.0.1"));
		/* Whether the doctor must ask the lab's DNS for the host. */
		json_object_set_new(
		    e, "uses_dns", json_boolean(s->host != NULL && !s->direct));
		json_object_set_new(e, "port", json_integer(ep->port));
		json_object_set_new(e, "what", json_string(s->what));
		json_object_set_new(e, "expect", json_str_or_null(s->expect));
		json_object_set_new(
		    e, "proxy", json_str_or_null(ep_proxy(lab, s)));
		if (s->client != LAB_CLIENT_NONE) {
			snprintf(cc, sizeof(cc), "%s/clients/%s.pem", lab->dir,
			    client_file[s->client]);
			snprintf(ck, sizeof(ck), "%s/clients/%s.key", lab->dir,
			    client_file[s->client]);
			json_object_set_new(e, "client_cert", json_string(cc));
			json_object_set_new(e, "client_key", json_string(ck));
		} else {
			json_object_set_new(e, "client_cert", json_null());
			json_object_set_new(e, "client_key", json_null());
		}
		json_object_set_new(e, "evidence", ev);
		if (json_array_append_new(eps, e) != 0)
			goto nomem;
		if (strcmp(s->status, "online") == 0)
			online++;
		else if (strcmp(s->status, "offline") == 0)
			offline++;
		else
			unreachable++;
	}
	json_object_set_new(counts, "online", json_integer((json_int_t)online));
	json_object_set_new(
	    counts, "unreachable", json_integer((json_int_t)unreachable));
	json_object_set_new(
	    counts, "offline", json_integer((json_int_t)offline));
	json_object_set_new(doc, "dir", json_string(lab->dir));
	json_object_set_new(doc, "profile", json_string(lab->profile));
	json_object_set_new(doc, "trust", json_string(lab->trust));
	json_object_set_new(doc, "reference", json_string(lab->reference));
	json_object_set_new(doc, "env", json_string(lab->env_path));
	json_object_set_new(doc, "zone", json_string(CKI_LAB_ZONE));
	json_object_set_new(doc, "dns", json_string(lab->dns));
	json_object_set_new(doc, "aia", json_string(lab->aia));
	json_object_set_new(doc, "proxies", px);
	px = NULL;
	json_object_set_new(doc, "endpoints", eps);
	eps = NULL;
	json_object_set_new(doc, "expected", counts);
	counts = NULL;
	lab->json = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (lab->json == NULL)
		return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
nomem:
	json_decref(doc);
	json_decref(eps);
	json_decref(px);
	json_decref(counts);
	return cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
}

static ck_status
write_files(ck_lab *lab)
{
	static const int trust[] = {LAB_CA_X1, LAB_CA_OLD, LAB_CA_END};
	static const int reference[] = {
	    LAB_CA_X1, LAB_CA_X2, LAB_CA_G2, LAB_CA_END};
	ck_status rv;
	size_t n;

	/* The device's store: the lab's everyday root, and the expired old
	 * root without its successor (the DST Root CA X3 situation). */
	if ((rv = write_pems(lab, "trust.pem", trust)) != CK_OK ||
	    (rv = write_pems(lab, "reference.pem", reference)) != CK_OK ||
	    (rv = write_clients(lab)) != CK_OK ||
	    (rv = write_profile(lab)) != CK_OK ||
	    (rv = build_json(lab)) != CK_OK)
		return rv;
	n = strlen(lab->json);
	lab->json[n] = '\n'; /* json_dumps leaves room for the NUL only */
	rv = ck_write_file_atomic(
	    lab->ctx, lab->json_path, lab->json, n + 1, 0644);
	lab->json[n] = '\0';
	if (rv != CK_OK)
		return rv;
	/* Last: its presence tells scripts that everything is in place. */
	return write_env(lab);
}

/* ---- start / stop ------------------------------------------------------ */

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	ck_lab *lab = arg;
	char c;

	(void)what;
	while (read(fd, &c, 1) == 1)
		;
	event_base_loopbreak(lab->base);
}

static void *
lab_thread(void *arg)
{
	ck_lab *lab = arg;

	(void)event_base_loop(lab->base, 0);
	return NULL;
}

static void
lab_free(ck_lab *lab)
{
	if (lab == NULL)
		return;
	cki_lab_net_free(lab);
	if (lab->wake_ev != NULL)
		event_free(lab->wake_ev);
	if (lab->base != NULL)
		event_base_free(lab->base);
	for (int i = 0; i < 2; i++)
		if (lab->wake[i] >= 0)
			close(lab->wake[i]);
	for (int i = 0; i < LAB_CA_COUNT; i++)
		OPENSSL_free(lab->aia_der[i]);
	free(lab->ocsp_der);
	cki_lab_pki_free(lab->pki);
	free(lab->json);
	free(lab->dir);
	free(lab->profile);
	free(lab->trust);
	free(lab->reference);
	free(lab->json_path);
	free(lab->env_path);
	free(lab);
}

static ck_status
setup_endpoints(ck_lab *lab)
{
	size_t n;
	const struct cki_lab_spec *s = cki_lab_specs(&n);

	if (n > CKI_LAB_MAX_EP)
		return cki_err(lab->ctx, CK_E_INTERNAL,
		    "lab: %zu endpoints, room for %d", n, CKI_LAB_MAX_EP);
	for (size_t i = 0; i < n; i++) {
		struct cki_lab_ep *ep = &lab->ep[i];

		ep->spec = &s[i];
		ep->lab = lab;
		ep->fd = ep->filler = -1;
		snprintf(ep->host, sizeof(ep->host), "%s",
		    s[i].host != NULL ? s[i].host : "127.0.0.1");
	}
	lab->nep = n;
	return CK_OK;
}

static ck_status
resolve_aliases(ck_lab *lab)
{
	for (size_t i = 0; i < lab->nep; i++) {
		struct cki_lab_ep *ep = &lab->ep[i];
		size_t j;

		if (ep->spec->kind != LAB_K_ALIAS)
			continue;
		for (j = 0; j < lab->nep; j++)
			if (lab->ep[j].spec->kind != LAB_K_ALIAS &&
			    strcmp(lab->ep[j].spec->name, ep->spec->target) ==
			        0)
				break;
		if (j == lab->nep)
			return cki_err(lab->ctx, CK_E_INTERNAL,
			    "lab: %s points at no endpoint '%s'",
			    ep->spec->name, ep->spec->target);
		ep->port = lab->ep[j].port;
	}
	return CK_OK;
}

static ck_status
aia_blobs(ck_lab *lab)
{
	for (int i = 0; i < LAB_CA_COUNT; i++) {
		unsigned char *der = NULL;
		int n;

		if (cki_lab_ca_file(i) == NULL)
			continue;
		if ((n = i2d_X509(lab->pki->ca[i].cert, &der)) <= 0)
			return cki_err(lab->ctx, CK_E_INTERNAL,
			    "lab: cannot encode %s", cki_lab_ca_file(i));
		lab->aia_der[i] = der;
		lab->aia_len[i] = (size_t)n;
	}
	return CK_OK;
}

static ck_status
start_thread(ck_lab *lab)
{
	sigset_t all, old;
	int e;

	if (pipe(lab->wake) == -1)
		return cki_err(
		    lab->ctx, CK_E_INTERNAL, "lab: pipe: %s", strerror(errno));
	if (evutil_make_socket_nonblocking(lab->wake[0]) != 0 ||
	    evutil_make_socket_closeonexec(lab->wake[0]) != 0 ||
	    evutil_make_socket_closeonexec(lab->wake[1]) != 0)
		return cki_err(lab->ctx, CK_E_INTERNAL,
		    "lab: cannot set up the wake pipe");
	if ((lab->wake_ev = event_new(lab->base, lab->wake[0],
	         EV_READ | EV_PERSIST, wake_cb, lab)) == NULL ||
	    event_add(lab->wake_ev, NULL) != 0)
		return cki_err(
		    lab->ctx, CK_E_INTERNAL, "lab: cannot arm the wake pipe");
	/* The lab thread takes no signals: SIGINT/SIGTERM belong to the
	 * program, and a write to a reset peer gives EPIPE, not a SIGPIPE
	 * that kills the process. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&lab->thread, NULL, lab_thread, lab);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0)
		return cki_err(lab->ctx, CK_E_INTERNAL,
		    "lab: cannot start the lab thread: %s", strerror(e));
	lab->running = 1;
	return CK_OK;
}

ck_status
ck_lab_start(ck_ctx *ctx, const char *dir, ck_lab **out)
{
	ck_lab *lab = NULL;
	char real[PATH_MAX];
	ck_status rv = CK_E_NOMEM;

	cki_begin(ctx);
	if (out == NULL || dir == NULL || dir[0] == '\0')
		return cki_err(ctx, CK_E_USAGE,
		    "lab: a directory for the lab's files is required");
	*out = NULL;
	if ((rv = cki_mkdirs(ctx, dir, 0700)) != CK_OK)
		return rv;
	if (realpath(dir, real) == NULL)
		return cki_err(ctx, CK_E_IO, "%s: cannot resolve the path: %s",
		    dir, strerror(errno));
	if ((lab = calloc(1, sizeof(*lab))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	lab->ctx = ctx;
	lab->wake[0] = lab->wake[1] = -1;
	lab->dns_fd = -1;
	for (int k = 0; k < LAB_PX_COUNT; k++)
		lab->px[k].dead_fd = -1;
	if ((lab->dir = strdup(real)) == NULL ||
	    (lab->profile = path_join(real, "profile.ini")) == NULL ||
	    (lab->trust = path_join(real, "trust.pem")) == NULL ||
	    (lab->reference = path_join(real, "reference.pem")) == NULL ||
	    (lab->json_path = path_join(real, "lab.json")) == NULL ||
	    (lab->env_path = path_join(real, "lab.env")) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((lab->base = event_base_new()) == NULL) {
		rv = cki_err(
		    ctx, CK_E_INTERNAL, "lab: cannot create the event loop");
		goto err;
	}
	if ((rv = setup_endpoints(lab)) != CK_OK ||
	    (rv = cki_lab_bind_aia(lab)) != CK_OK ||
	    (rv = cki_lab_pki_new(ctx, lab->aia, &lab->pki)) != CK_OK ||
	    (rv = aia_blobs(lab)) != CK_OK ||
	    (rv = cki_lab_dns_start(lab)) != CK_OK ||
	    (rv = cki_lab_net_endpoints(lab)) != CK_OK ||
	    (rv = resolve_aliases(lab)) != CK_OK ||
	    (rv = write_files(lab)) != CK_OK ||
	    (rv = start_thread(lab)) != CK_OK)
		goto err;
	/* The servers never report through ctx: the caller may free it. */
	lab->ctx = NULL;
	*out = lab;
	return CK_OK;
err:
	lab_free(lab);
	return rv;
}

void
ck_lab_stop(ck_lab *lab)
{
	if (lab == NULL)
		return;
	if (lab->running) {
		char c = 'q';
		ssize_t w;

		/* Invariant 2: one byte through the pipe; the loop breaks
		 * on its own thread, and only then do we free anything. */
		do
			w = write(lab->wake[1], &c, 1);
		while (w == -1 && errno == EINTR);
		pthread_join(lab->thread, NULL);
		lab->running = 0;
	}
	lab_free(lab);
}

const char *
ck_lab_profile(const ck_lab *lab)
{
	return lab->profile;
}

const char *
ck_lab_trust(const ck_lab *lab)
{
	return lab->trust;
}

const char *
ck_lab_reference(const ck_lab *lab)
{
	return lab->reference;
}

const char *
ck_lab_dns(const ck_lab *lab)
{
	return lab->dns;
}

const char *
ck_lab_proxy(const ck_lab *lab)
{
	return lab->px[LAB_PX_OK].url;
}

ck_status
ck_lab_describe(const ck_lab *lab, char **json)
{
	if (json == NULL)
		return CK_E_USAGE;
	*json = NULL;
	if (lab == NULL || lab->json == NULL)
		return CK_E_USAGE;
	if ((*json = strdup(lab->json)) == NULL)
		return CK_E_NOMEM;
	return CK_OK;
}
