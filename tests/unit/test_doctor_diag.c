/*
 * test_doctor_diag.c: lib/doctor/doctor_diag.c with synthetic observations:
 * every network-level code from recorded facts, and the chain codes (the
 * error-20 family, dates, names, keys, pins, client authentication) from the
 * test PKI, at the pinned time. No network: the need-for-evidence loop is
 * driven by hand, as probe.c would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "testutil.h"
#include "doctor_int.h"

static X509 *
load(const char *file)
{
	FILE *f = fopen(pki(file), "r");
	X509 *x;

	if (f == NULL)
		fail_msg("%s: cannot open", pki(file));
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		fail_msg("%s: not a PEM certificate", pki(file));
	return x;
}

static STACK_OF(X509) * stack(const char *const *files)
{
	STACK_OF(X509) *s = sk_X509_new_null();

	for (size_t i = 0; files != NULL && files[i] != NULL; i++)
		sk_X509_push(s, load(files[i]));
	return s;
}

/* The device's clock (--at) and certkit's build date for the next env_make:
 * PINNED_TIME, and a build date half a year before it, unless a test sets
 * them. A fixed build date: no result may depend on when the test was
 * built. */
static int64_t g_now, g_build;

struct env {
	struct cki_diag_env e;
	STACK_OF(X509) * tcerts, *ref;
	X509_STORE *store;
};

static void
env_make(struct env *v, const char *const *trust, const char *const *ref)
{
	memset(v, 0, sizeof(*v));
	v->tcerts = stack(trust);
	v->ref = stack(ref);
	v->store = X509_STORE_new();
	for (int i = 0; i < sk_X509_num(v->tcerts); i++)
		X509_STORE_add_cert(v->store, sk_X509_value(v->tcerts, i));
	v->e.trust = v->store;
	v->e.trust_certs = v->tcerts;
	v->e.trust_source = "test trust";
	v->e.ref = v->ref;
	v->e.ref_source = "test reference";
	v->e.now = g_now != 0 ? g_now : PINNED_TIME;
	v->e.at_given = true;
	v->e.build_time =
	    g_build != 0 ? g_build : PINNED_TIME - INT64_C(183) * 86400;
	v->e.timeout_ms = 1000;
}

static void
env_free(struct env *v)
{
	sk_X509_pop_free(v->tcerts, X509_free);
	sk_X509_pop_free(v->ref, X509_free);
	X509_STORE_free(v->store);
}

static void
ep_make(struct cki_endpoint *ep, const char *host, int expect)
{
	bool ip;

	memset(ep, 0, sizeof(*ep));
	snprintf(ep->host, sizeof(ep->host), "%s", host);
	ep->port = 443;
	cki_net_valid_host(host, &ip);
	ep->is_ip = ip;
	ep->expect = expect;
}

/* A completed handshake that presented these certificates. */
static void
hs_done(struct cki_hs *h, const char *const *chain)
{
	h->attempted = true;
	h->done = true;
	h->hello_sent = true;
	h->server_hello = true;
	snprintf(h->version, sizeof(h->version), "TLSv1.3");
	snprintf(h->cipher, sizeof(h->cipher), "TLS_AES_128_GCM_SHA256");
	h->chain = stack(chain);
}

/* Runs the diagnosis, answering its needs the way the probe would when
 * nothing more can be learned (no AIA server, no HTTP answer), unless the
 * test already filled them in. */
static json_t *
run(struct env *v, struct cki_endpoint *ep, struct cki_obs *o)
{
	for (int round = 0; round < 8; round++) {
		struct cki_need need;
		bool nomem = false;
		json_t *r = cki_doc_diagnose(&v->e, ep, o, &need, &nomem);

		if (r != NULL)
			return r;
		assert_false(nomem);
		if (need.app)
			o->main.app_tried = true;
		if (need.nosni)
			o->nosni.attempted = true;
		if (need.legacy)
			o->legacy.attempted = true;
		if (need.quiet)
			o->quiet.attempted = true;
		if (need.aia_url[0] != '\0') {
			struct cki_aia *a = &o->aia[o->naia++];

			snprintf(a->url, sizeof(a->url), "%s", need.aia_url);
			snprintf(a->result, sizeof(a->result), "HTTP 404");
		}
	}
	fail_msg("the diagnosis keeps asking for evidence");
	return NULL;
}

static const char *
code(json_t *r)
{
	return json_string_value(json_object_get(
	    json_array_get(json_object_get(r, "diagnosis"), 0), "code"));
}

static const char *
status(json_t *r)
{
	return json_string_value(json_object_get(r, "status"));
}

static json_t *
evidence(json_t *r)
{
	return json_object_get(
	    json_array_get(json_object_get(r, "diagnosis"), 0), "evidence");
}

static const char *
ev_s(json_t *r, const char *k)
{
	return json_string_value(json_object_get(evidence(r), k));
}

static const char *
summary(json_t *r)
{
	return json_string_value(json_object_get(
	    json_array_get(json_object_get(r, "diagnosis"), 0), "summary"));
}

/* The diagnosis entry with this code, or NULL. */
static json_t *
entry(json_t *r, const char *c)
{
	json_t *l = json_object_get(r, "diagnosis");

	for (size_t i = 0; i < json_array_size(l); i++)
		if (strcmp(json_string_value(
		               json_object_get(json_array_get(l, i), "code")),
		        c) == 0)
			return json_array_get(l, i);
	return NULL;
}

static bool
has_code(json_t *r, const char *c)
{
	return entry(r, c) != NULL;
}

/* ---- network and handshake facts ------------------------------------------
 */

enum net_case {
	NX_NXDOMAIN,
	NX_SERVFAIL,
	NX_DNS_TIMEOUT,
	NX_SINKHOLE,
	NX_REFUSED,
	NX_TCP_TIMEOUT,
	NX_PROXY_DOWN,
	NX_PROXY_407,
	NX_PROXY_403,
	NX_HS_TIMEOUT,
	NX_NOT_TLS,
	NX_PROTO,
	NX_CIPHER,
	NX_CERT_REQ,
	NX_UNKNOWN_CA,
	NX_EXPIRED_CLIENT,
	NX_TCP_RESET,
	NX_TLS_RESET,
	NX_RESET_QUIET,
	NX_SNI_ALERT,
	NX_OTHER_ALERT,
};

static const struct {
	enum net_case c;
	int expect;
	const char *code, *status, *key, *value;
} net[] = {
    {NX_NXDOMAIN, 0, "dns_failure", "offline", "rcode", "NXDOMAIN"},
    {NX_SERVFAIL, 0, "dns_failure", "offline", "rcode", "SERVFAIL"},
    {NX_DNS_TIMEOUT, 0, "dns_timeout", "offline", "name", "svc.example"},
    {NX_SINKHOLE, CKI_EXPECT_PUBLIC, "dns_sinkhole", "offline", "name",
        "svc.example"},
    {NX_REFUSED, 0, "tcp_refused", "offline", "address", "192.0.2.1:443"},
    {NX_TCP_TIMEOUT, 0, "tcp_timeout", "offline", "address", "192.0.2.1:443"},
    {NX_PROXY_DOWN, 0, "proxy_failure", "offline", "proxy", "http://p:3128"},
    {NX_PROXY_407, 0, "proxy_auth_required", "offline", "proxy_authenticate",
        "Basic realm=\"x\""},
    {NX_PROXY_403, 0, "proxy_failure", "offline", "status_line",
        "HTTP/1.1 403 Forbidden"},
    {NX_HS_TIMEOUT, 0, "handshake_timeout", "unreachable", "address",
        "192.0.2.1:443"},
    {NX_NOT_TLS, 0, "not_tls", "unreachable", "first_bytes",
        "HTTP/1.1 400 Bad Request"},
    {NX_PROTO, 0, "tls_protocol_mismatch", "unreachable", "server_version",
        "TLSv1"},
    {NX_CIPHER, 0, "tls_cipher_mismatch", "unreachable", "alert",
        "handshake_failure"},
    {NX_CERT_REQ, 0, "client_cert_required", "unreachable", "alert",
        "certificate_required"},
    {NX_UNKNOWN_CA, 0, "client_cert_rejected", "unreachable", "reason",
        "unknown_ca"},
    {NX_EXPIRED_CLIENT, 0, "client_cert_rejected", "unreachable", "reason",
        "expired"},
    {NX_TCP_RESET, 0, "tcp_reset", "offline", "event", "reset"},
    {NX_TLS_RESET, 0, "tls_reset", "unreachable", "silent_connection",
        "left open (the peer waits for the hello)"},
    {NX_RESET_QUIET, 0, "tcp_reset", "offline", "silent_connection", "reset"},
    {NX_SNI_ALERT, 0, "hostname_mismatch", "unreachable", "alert",
        "unrecognized_name"},
    {NX_OTHER_ALERT, 0, "tls_handshake_failed", "unreachable", "alert",
        "internal_error"},
};

static void
net_setup(enum net_case c, struct cki_obs *o, struct cki_proxy *px)
{
	struct cki_hs *h = &o->main;

	snprintf(o->address, sizeof(o->address), "192.0.2.1:443");
	h->attempted = true;
	h->hello_sent = true;
	switch (c) {
	case NX_NXDOMAIN:
	case NX_SERVFAIL:
	case NX_DNS_TIMEOUT:
		o->address[0] = '\0';
		o->dns_used = true;
		o->dns_name = "svc.example";
		o->dns_server = "127.0.0.1:53";
		o->dns_rcode = c == NX_NXDOMAIN ? 3 : c == NX_SERVFAIL ? 2 : 67;
		o->dns_timeout = c == NX_DNS_TIMEOUT;
		break;
	case NX_SINKHOLE:
		o->dns_used = true;
		o->dns_name = "svc.example";
		o->dns_server = "127.0.0.1:53";
		o->dns_rcode = 0;
		snprintf(o->dns_answers[0], 64, "0.0.0.0");
		o->ndns = 1;
		break;
	case NX_REFUSED:
		h->failed_stage = CKI_ST_TCP;
		h->err_no = ECONNREFUSED;
		break;
	case NX_TCP_TIMEOUT:
		h->failed_stage = CKI_ST_TCP;
		h->timed_out = true;
		break;
	case NX_PROXY_DOWN:
	case NX_PROXY_407:
	case NX_PROXY_403:
		o->via_proxy = true;
		o->proxy = px;
		if (c == NX_PROXY_DOWN) {
			h->failed_stage = CKI_ST_TCP;
			h->err_no = ECONNREFUSED;
		} else {
			h->failed_stage = CKI_ST_PROXY;
			o->proxy_status = c == NX_PROXY_407 ? 407 : 403;
			snprintf(o->proxy_line, sizeof(o->proxy_line), "%s",
			    c == NX_PROXY_407 ? "HTTP/1.1 407 Proxy "
			                        "Authentication Required"
			                      : "HTTP/1.1 403 Forbidden");
			if (c == NX_PROXY_407)
				snprintf(o->proxy_authn, sizeof(o->proxy_authn),
				    "Basic realm=\"x\"");
		}
		break;
	case NX_HS_TIMEOUT:
		h->failed_stage = CKI_ST_TLS;
		h->timed_out = true;
		break;
	case NX_NOT_TLS:
		h->failed_stage = CKI_ST_TLS;
		memcpy(h->first, "HTTP/1.1 400 Bad Request\r\n", 26);
		h->nfirst = 26;
		h->bytes_in = 26;
		break;
	case NX_PROTO:
		h->failed_stage = CKI_ST_TLS;
		h->alert_in = 70;
		o->legacy.attempted = o->legacy.done = true;
		snprintf(o->legacy.version, 16, "TLSv1");
		snprintf(o->legacy.cipher, 64, "ECDHE-RSA-AES128-SHA");
		break;
	case NX_CIPHER:
		h->failed_stage = CKI_ST_TLS;
		h->alert_in = 40;
		break;
	case NX_CERT_REQ:
		h->failed_stage = CKI_ST_TLS;
		h->server_hello = h->cert_request = true;
		h->alert_in = 116;
		break;
	case NX_UNKNOWN_CA:
	case NX_EXPIRED_CLIENT:
		h->failed_stage = CKI_ST_TLS;
		h->server_hello = h->cert_request = h->cert_sent = true;
		h->alert_in = c == NX_UNKNOWN_CA ? 48 : 45;
		break;
	case NX_TCP_RESET:
		/* Reset before the peer's TCP acknowledged the hello. */
		h->failed_stage = CKI_ST_TLS;
		h->reset = true;
		h->err_no = ECONNRESET;
		h->hello_acked = 1;
		break;
	case NX_TLS_RESET:
	case NX_RESET_QUIET:
		h->failed_stage = CKI_ST_TLS;
		h->reset = true;
		h->err_no = ECONNRESET;
		h->hello_acked = 300;
		/* The silent connection: left open, or reset too. */
		o->quiet.attempted = true;
		o->quiet.timed_out = c == NX_TLS_RESET;
		o->quiet.reset = c == NX_RESET_QUIET;
		break;
	case NX_SNI_ALERT:
		h->failed_stage = CKI_ST_TLS;
		h->alert_in = 112;
		break;
	case NX_OTHER_ALERT:
		h->failed_stage = CKI_ST_TLS;
		h->server_hello = true;
		h->alert_in = 80;
		break;
	}
}

static void
test_network_codes(void **state)
{
	struct env v;
	struct cki_proxy px;

	(void)state;
	memset(&px, 0, sizeof(px));
	snprintf(px.host, sizeof(px.host), "p");
	px.port = 3128;
	px.display = (char *)"http://p:3128";
	env_make(&v, NULL, NULL);
	for (size_t i = 0; i < sizeof(net) / sizeof(net[0]); i++) {
		struct cki_endpoint ep;
		struct cki_obs o;
		json_t *r;

		ep_make(&ep, "svc.example", net[i].expect);
		cki_obs_init(&o);
		net_setup(net[i].c, &o, &px);
		r = run(&v, &ep, &o);
		if (strcmp(code(r), net[i].code) != 0 ||
		    strcmp(status(r), net[i].status) != 0)
			fail_msg("case %zu: expected %s/%s, got %s/%s", i,
			    net[i].code, net[i].status, code(r), status(r));
		if (ev_s(r, net[i].key) == NULL ||
		    strcmp(ev_s(r, net[i].key), net[i].value) != 0)
			fail_msg("case %zu (%s): evidence %s = '%s', expected "
			         "'%s'",
			    i, net[i].code, net[i].key,
			    ev_s(r, net[i].key) ? ev_s(r, net[i].key)
			                        : "(none)",
			    net[i].value);
		/* Every error comes with a remedy. */
		assert_true(
		    json_array_size(json_object_get(
		        json_array_get(json_object_get(r, "diagnosis"), 0),
		        "remedies")) > 0);
		json_decref(r);
		cki_obs_clear(&o);
	}
	env_free(&v);
}

/* A sinkhole answer is only a finding for a name expected to be public. */
static void
test_sinkhole_needs_public(void **state)
{
	struct env v;
	struct cki_endpoint ep;
	struct cki_obs o;
	json_t *r;

	(void)state;
	env_make(&v, NULL, NULL);
	ep_make(&ep, "svc.example", CKI_EXPECT_PRIVATE);
	cki_obs_init(&o);
	net_setup(NX_SINKHOLE, &o, NULL);
	o.main.failed_stage = CKI_ST_TCP;
	o.main.err_no = ECONNREFUSED;
	r = run(&v, &ep, &o);
	assert_string_equal(code(r), "tcp_refused");
	json_decref(r);
	cki_obs_clear(&o);
	env_free(&v);
}

/* ---- chains ----------------------------------------------------------------
 */

static const char *const ROOT[] = {"root-ca.pem", NULL};
static const char *const ROOT_INT[] = {"root-ca.pem", "int-ca.pem", NULL};
static const char *const OTHER[] = {"other-root.pem", NULL};
static const char *const LEAF_INT[] = {"leaf.pem", "int-ca.pem", NULL};
static const char *const LEAF[] = {"leaf.pem", NULL};

static json_t *
chain_case(const char *const *trust, const char *const *ref, const char *host,
    int expect, const char *const *chain,
    void (*tweak)(struct cki_obs *, struct cki_endpoint *))
{
	struct env v;
	struct cki_endpoint ep;
	struct cki_obs o;
	json_t *r;

	env_make(&v, trust, ref);
	ep_make(&ep, host, expect);
	cki_obs_init(&o);
	snprintf(o.address, sizeof(o.address), "127.0.0.1:443");
	hs_done(&o.main, chain);
	if (tweak != NULL)
		tweak(&o, &ep);
	r = run(&v, &ep, &o);
	free(ep.pins);
	cki_obs_clear(&o);
	env_free(&v);
	return r;
}

static void
test_ok(void **state)
{
	json_t *r =
	    chain_case(ROOT, ROOT, "device.example.test", 0, LEAF_INT, NULL);

	(void)state;
	assert_string_equal(code(r), "ok");
	assert_string_equal(status(r), "online");
	assert_int_equal(json_array_size(json_object_get(r, "chain")), 2);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(r, "chain"), 1), "subject")),
	    "C = US, O = certkit tests, CN = certkit Test Issuing CA");
	json_decref(r);
	/* A wildcard SAN matches one label (RFC 6125 6.4.3). */
	r = chain_case(ROOT, ROOT, "nvr1.cams.example.test", 0, LEAF_INT, NULL);
	assert_string_equal(code(r), "ok");
	json_decref(r);
	r = chain_case(ROOT, ROOT, "192.0.2.10", 0, LEAF_INT, NULL);
	assert_string_equal(code(r), "ok");
	json_decref(r);
}

static void
test_incomplete_chain(void **state)
{
	json_t *r =
	    chain_case(ROOT, ROOT_INT, "device.example.test", 0, LEAF, NULL);
	json_t *miss;

	(void)state;
	assert_string_equal(code(r), "incomplete_chain");
	assert_string_equal(status(r), "unreachable");
	assert_true(json_is_true(
	    json_object_get(evidence(r), "verifies_once_completed")));
	miss = json_array_get(json_object_get(evidence(r), "missing"), 0);
	assert_string_equal(json_string_value(json_object_get(miss, "name")),
	    "certkit Test Issuing CA");
	json_decref(r);
	/* Not in the reference: the AIA URL is asked for; when it fails,
	 * the chain's top (not self-signed) still lacks its issuer: the
	 * server must send it. Never untrusted_root, whose fix would be to
	 * trust a CA nobody has the file for. */
	r = chain_case(ROOT, ROOT, "device.example.test", 0, LEAF, NULL);
	assert_string_equal(code(r), "incomplete_chain");
	assert_non_null(json_object_get(r, "aia"));
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(r, "aia"), 0), "url")),
	    "http://127.0.0.1:8080/int-ca.der");
	assert_string_equal(
	    ev_s(r, "missing_issuer"), "certkit Test Issuing CA");
	assert_string_equal(
	    ev_s(r, "aia_url"), "http://127.0.0.1:8080/int-ca.der");
	assert_string_equal(ev_s(r, "aia_result"), "HTTP 404");
	assert_non_null(strstr(summary(r),
	    "the server must send it; the device could not fetch it from "
	    "http://127.0.0.1:8080/int-ca.der: HTTP 404"));
	assert_false(has_code(r, "untrusted_root"));
	json_decref(r);
	/* No AIA URL at all: the same, saying so. */
	r = chain_case(ROOT, ROOT, "deep.example.test", 0,
	    (const char *const[]){"sub-leaf.pem", NULL}, NULL);
	assert_string_equal(code(r), "incomplete_chain");
	assert_string_equal(
	    ev_s(r, "missing_issuer"), "certkit Sub CA (violates pathlen)");
	assert_null(ev_s(r, "aia_url"));
	assert_non_null(strstr(summary(r), "names no URL"));
	json_decref(r);
	/* On a public service the same unknown issuer is interception. */
	r = chain_case(
	    ROOT, ROOT, "device.example.test", CKI_EXPECT_PUBLIC, LEAF, NULL);
	assert_string_equal(code(r), "tls_interception");
	json_decref(r);
}

static void
aia_fetched(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	/* As if the AIA fetch had returned int-ca. */
	o->fetched = stack((const char *const[]){"int-ca.pem", NULL});
	snprintf(o->aia[0].url, sizeof(o->aia[0].url),
	    "http://127.0.0.1:8080/int-ca.der");
	snprintf(o->aia[0].result, sizeof(o->aia[0].result), "ok");
	o->aia[0].ok = true;
	o->naia = 1;
}

static void
test_incomplete_chain_aia(void **state)
{
	json_t *r =
	    chain_case(ROOT, ROOT, "device.example.test", 0, LEAF, aia_fetched);
	json_t *miss;

	(void)state;
	assert_string_equal(code(r), "incomplete_chain");
	miss = json_array_get(json_object_get(evidence(r), "missing"), 0);
	assert_string_equal(
	    json_string_value(json_object_get(miss, "found_in")), "AIA");
	json_decref(r);
}

static void
test_missing_root(void **state)
{
	json_t *r =
	    chain_case(OTHER, ROOT, "device.example.test", 0, LEAF_INT, NULL);
	json_t *cmds;

	(void)state;
	assert_string_equal(code(r), "missing_root");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(evidence(r), "root"), "name")),
	    "certkit Test Root CA");
	cmds = json_object_get(
	    json_array_get(json_object_get(r, "diagnosis"), 0), "commands");
	assert_string_equal(json_string_value(json_array_get(cmds, 0)),
	    "certkit trust add --reference \"certkit Test Root CA\"");
	json_decref(r);
}

static void
test_untrusted_and_interception(void **state)
{
	static const char *const chain[] = {
	    "other-leaf.pem", "other-root.pem", NULL};
	json_t *r;

	(void)state;
	r = chain_case(
	    ROOT, ROOT, "other.example.test", CKI_EXPECT_PRIVATE, chain, NULL);
	assert_string_equal(code(r), "untrusted_root");
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(evidence(r), "root"), "name")),
	    "Other Untrusted Root");
	json_decref(r);
	/* The same on a public endpoint: re-signed traffic. */
	r = chain_case(
	    ROOT, ROOT, "other.example.test", CKI_EXPECT_PUBLIC, chain, NULL);
	assert_string_equal(code(r), "tls_interception");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(evidence(r), "inspecting_ca"), "name")),
	    "Other Untrusted Root");
	/* The four fixes, and the mutual-TLS warning. */
	assert_true(json_array_size(json_object_get(
	                json_array_get(json_object_get(r, "diagnosis"), 0),
	                "remedies")) >= 5);
	json_decref(r);
}

static void
pin_other(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)o;
	ep->pins = calloc(1, 32);
	ep->npins = 1;
	memset(ep->pins[0], 0x42, 32);
}

static void
pin_root(struct cki_obs *o, struct cki_endpoint *ep)
{
	X509 *root = load("root-ca.pem");
	unsigned char *der = NULL;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(root), &der);

	(void)o;
	ep->pins = calloc(1, 32);
	ep->npins = 1;
	EVP_Digest(der, (size_t)len, ep->pins[0], NULL, EVP_sha256(), NULL);
	OPENSSL_free(der);
	X509_free(root);
}

static void
test_pins(void **state)
{
	json_t *r;

	(void)state;
	/* A valid chain whose CA is not the pinned one: intercepted. */
	r = chain_case(
	    ROOT, ROOT, "device.example.test", 0, LEAF_INT, pin_other);
	assert_string_equal(code(r), "tls_interception");
	assert_non_null(json_object_get(evidence(r), "pins_expected"));
	json_decref(r);
	/* The pin of the root the chain reaches: fine. */
	r = chain_case(
	    ROOT, ROOT, "device.example.test", 0, LEAF_INT, pin_root);
	assert_string_equal(code(r), "ok");
	json_decref(r);
}

static void
test_dates(void **state)
{
	static const char *const exp[] = {
	    "leaf-expired.pem", "int-ca.pem", NULL};
	static const char *const nyv[] = {
	    "leaf-notyet.pem", "int-ca.pem", NULL};
	json_t *r;

	(void)state;
	r = chain_case(ROOT, ROOT, "expired.example.test", 0, exp, NULL);
	assert_string_equal(code(r), "cert_expired");
	assert_int_equal(
	    json_integer_value(json_object_get(evidence(r), "depth")), 0);
	json_decref(r);
	r = chain_case(ROOT, ROOT, "future.example.test", 0, nyv, NULL);
	assert_string_equal(code(r), "cert_not_yet_valid");
	assert_non_null(strstr(summary(r), "the server's certificate"));
	json_decref(r);
}

/* The device's clock in 2012: every certificate, the trust anchor in its
 * own store included, is not valid yet. */
static void
test_clock_2012(void **state)
{
	static const char *const other[] = {
	    "other-leaf.pem", "other-root.pem", NULL};
	static const char *const nyv[] = {
	    "leaf-notyet.pem", "int-ca.pem", NULL};
	json_t *r, *e;

	(void)state;
	g_now = INT64_C(1330837567);   /* 2012-03-04T05:06:07Z */
	g_build = INT64_C(1262304000); /* 2010-01-01: not the signal here */
	r = chain_case(ROOT, ROOT, "device.example.test", 0, LEAF_INT, NULL);
	assert_string_equal(code(r), "clock_skew");
	assert_string_equal(ev_s(r, "local_time"), "2012-03-04T05:06:07Z");
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(evidence(r), "certificate"), "name")),
	    "certkit Test Root CA");
	assert_non_null(strstr(summary(r), "its own trust anchor"));
	assert_false(has_code(r, "cert_not_yet_valid"));
	json_decref(r);
	/* A root the device does not have is not its clock's witness; and
	 * it is "the root", never "an intermediate". */
	r = chain_case(ROOT, ROOT, "other.example.test", 0, other, NULL);
	assert_string_equal(code(r), "untrusted_root");
	e = entry(r, "cert_not_yet_valid");
	assert_non_null(e);
	assert_non_null(strstr(json_string_value(json_object_get(e, "summary")),
	    "the root certificate \"Other Untrusted Root\""));
	json_decref(r);
	/* --at before the day certkit was built is a wrong clock too. */
	g_now = 0;
	g_build = PINNED_TIME + INT64_C(30) * 86400;
	r = chain_case(ROOT, ROOT, "future.example.test", 0, nyv, NULL);
	assert_string_equal(code(r), "clock_skew");
	assert_non_null(strstr(summary(r), "built"));
	json_decref(r);
}

/* Back to the pinned clock, also after a failed assertion. */
static int
reset_clock(void **state)
{
	(void)state;
	g_now = g_build = 0;
	return 0;
}

static void
server_date_2030(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	/* The server's HTTP Date says 2030-06-01: the certificate is valid
	 * there; it is our clock (2026) that is behind. */
	o->main.app_tried = true;
	o->main.http_status = 200;
	o->main.http_date = INT64_C(1906502400);
}

static void
test_clock_skew(void **state)
{
	static const char *const nyv[] = {
	    "leaf-notyet.pem", "int-ca.pem", NULL};
	json_t *r = chain_case(
	    ROOT, ROOT, "future.example.test", 0, nyv, server_date_2030);

	(void)state;
	assert_string_equal(code(r), "clock_skew");
	assert_string_equal(ev_s(r, "server_time"), "2030-06-01T00:00:00Z");
	/* The date finding is folded into the clock finding. */
	for (size_t i = 0; i < json_array_size(json_object_get(r, "diagnosis"));
	     i++)
		assert_string_not_equal(
		    json_string_value(json_object_get(
		        json_array_get(json_object_get(r, "diagnosis"), i),
		        "code")),
		    "cert_not_yet_valid");
	json_decref(r);
}

static void
nosni_other(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	o->nosni.attempted = o->nosni.done = true;
	o->nosni.chain = stack((const char *const[]){"other-leaf.pem", NULL});
}

static void
nosni_same(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	o->nosni.attempted = o->nosni.done = true;
	o->nosni.chain = stack(LEAF_INT);
}

static void
nosni_selfsigned(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	o->nosni.attempted = o->nosni.done = true;
	o->nosni.chain =
	    stack((const char *const[]){"leaf-selfsigned.pem", NULL});
}

static void
test_names(void **state)
{
	json_t *r;

	(void)state;
	/* One CA-issued certificate for another name, also without SNI: the
	 * fix is the name; that it may be the server's default certificate
	 * is the other reading, in the evidence. */
	r = chain_case(
	    ROOT, ROOT, "primary-host.example", 0, LEAF_INT, nosni_same);
	assert_string_equal(code(r), "hostname_mismatch");
	assert_true(
	    json_is_true(json_object_get(evidence(r), "same_without_sni")));
	assert_non_null(strstr(ev_s(r, "other_reading"), "default"));
	assert_false(has_code(r, "fallback_certificate"));
	json_decref(r);
	/* A self-signed certificate it also gives without SNI: the
	 * server's placeholder. */
	r = chain_case(ROOT, ROOT, "primary-host.example", 0,
	    (const char *const[]){"leaf-selfsigned.pem", NULL},
	    nosni_selfsigned);
	assert_string_equal(code(r), "fallback_certificate");
	json_decref(r);
	/* Another certificate without SNI: the one chosen does not fit. */
	r = chain_case(
	    ROOT, ROOT, "primary-host.example", 0, LEAF_INT, nosni_other);
	assert_string_equal(code(r), "hostname_mismatch");
	assert_string_equal(ev_s(r, "requested"), "primary-host.example");
	assert_true(
	    json_is_false(json_object_get(evidence(r), "same_without_sni")));
	assert_null(ev_s(r, "other_reading"));
	json_decref(r);
	/* By IP address, no SNI to compare: a mismatch. */
	r = chain_case(ROOT, ROOT, "198.51.100.7", 0, LEAF_INT, NULL);
	assert_string_equal(code(r), "hostname_mismatch");
	json_decref(r);
}

static void
strict_endpoint(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)o;
	ep->policy_set = true; /* profile: policy = strict */
	ep->policy = CK_POLICY_STRICT;
}

/* A profile's policy = strict: a chain OpenSSL accepts but the strict
 * policy refuses (the name only in the CN) is chain_invalid, with the
 * rule's code; compat keeps today's "ok". */
static void
test_policy(void **state)
{
	static const char *const cn_only[] = {
	    "leaf-cn-only.pem", "int-ca.pem", NULL};
	json_t *r;

	(void)state;
	r = chain_case(ROOT, ROOT, "cnonly.example.test", 0, cn_only, NULL);
	assert_string_equal(code(r), "ok");
	json_decref(r);
	r = chain_case(
	    ROOT, ROOT, "cnonly.example.test", 0, cn_only, strict_endpoint);
	assert_string_equal(code(r), "chain_invalid");
	assert_string_equal(ev_s(r, "policy_code"), "cn_only_name");
	assert_string_equal(ev_s(r, "rule"), "RFC 6125 6.4.4, BR 7.1.2.7.12");
	assert_non_null(strstr(summary(r), "strict policy"));
	json_decref(r);
	/* A chain that keeps every rule stays ok under strict. */
	r = chain_case(
	    ROOT, ROOT, "device.example.test", 0, LEAF_INT, strict_endpoint);
	assert_string_equal(code(r), "ok");
	json_decref(r);
}

static void
test_self_signed_and_weak(void **state)
{
	static const char *const ss[] = {"leaf-selfsigned.pem", NULL};
	static const char *const wk[] = {
	    "leaf-weakkey.pem", "int-ca.pem", NULL};
	static const char *const sha1[] = {"leaf-sha1.pem", "int-ca.pem", NULL};
	json_t *r;

	(void)state;
	r = chain_case(ROOT, ROOT, "selfsigned.example.test", 0, ss, NULL);
	assert_string_equal(code(r), "self_signed_leaf");
	json_decref(r);
	r = chain_case(ROOT, ROOT, "weakkey.example.test", 0, wk, NULL);
	assert_string_equal(code(r), "weak_key");
	assert_int_equal(
	    json_integer_value(json_object_get(evidence(r), "key_bits")), 1024);
	json_decref(r);
	r = chain_case(ROOT, ROOT, "sha1.example.test", 0, sha1, NULL);
	assert_string_equal(code(r), "weak_signature");
	assert_string_equal(ev_s(r, "digest"), "SHA1");
	json_decref(r);
}

static void
root_sent(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	sk_X509_push(o->main.chain, load("root-ca.pem"));
}

static void
test_warnings(void **state)
{
	json_t *r = chain_case(
	    ROOT, ROOT, "device.example.test", 0, LEAF_INT, root_sent);
	json_t *w = json_array_get(json_object_get(r, "diagnosis"), 1);

	(void)state;
	assert_string_equal(code(r), "ok");
	assert_string_equal(
	    json_string_value(json_object_get(w, "code")), "root_in_chain");
	assert_string_equal(
	    json_string_value(json_object_get(w, "severity")), "warning");
	json_decref(r);
}

static void
pairing_403(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	o->have_client_cert = true;
	o->main.cert_request = o->main.cert_sent = true;
	o->main.app_tried = true;
	o->main.http_status = 403;
}

static void
required_after_hs(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	/* TLS 1.3: the alert arrives with the first read (RFC 8446
	 * 4.4.2.4). */
	o->main.cert_request = true;
	o->main.app_tried = true;
	o->main.alert_in = 116;
	o->main.alert_after_hs = true;
}

static void
test_client_auth_after_handshake(void **state)
{
	json_t *r;

	(void)state;
	r = chain_case(
	    ROOT, ROOT, "device.example.test", 0, LEAF_INT, pairing_403);
	assert_string_equal(code(r), "client_cert_rejected");
	assert_string_equal(ev_s(r, "reason"), "not_authorised");
	json_decref(r);
	r = chain_case(
	    ROOT, ROOT, "device.example.test", 0, LEAF_INT, required_after_hs);
	assert_string_equal(code(r), "client_cert_required");
	json_decref(r);
}

static void
test_vendors(void **state)
{
	static const struct {
		const char *name, *vendor;
	} t[] = {
	    {"C = US, O = ZScaler, CN = zscaler.net", "Zscaler"},
	    {"O = Fortinet, CN = FortiGate CA", "Fortinet FortiGate"},
	    {"CN = Palo Alto Networks Forward Trust", "Palo Alto Networks"},
	    {"O = Blue Coat Systems, CN = ProxySG",
	        "Blue Coat / Symantec "
	        "ProxySG"},
	    {"CN = Cisco Umbrella Secondary SubCA", "Cisco Umbrella"},
	    {"O = Netskope Inc, CN = ca.example.goskope.com", "Netskope"},
	    {"CN = ESET SSL Filter CA", "ESET"},
	    {"O = AVG Technologies CZ", "Avast / AVG"},
	    {"CN = DO_NOT_TRUST_FiddlerRoot", "Fiddler"},
	    {"O = mitmproxy, CN = mitmproxy", "mitmproxy"},
	    {"CN = Kaspersky Anti-Virus Personal Root", "Kaspersky"},
	    /* not vendors */
	    {"CN = reset.example.com", NULL},
	    {"O = Let's Encrypt, CN = R3", NULL},
	    {"O = Symantec Corporation, CN = Symantec Class 3", NULL},
	    {"O = DigiCert Inc, CN = DigiCert Global Root G2", NULL},
	    {"CN = avgeek.example", NULL},
	    {"", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *v = cki_doc_inspection_vendor(t[i].name);

		if ((v == NULL) != (t[i].vendor == NULL) ||
		    (v != NULL && strcmp(v, t[i].vendor) != 0))
			fail_msg("'%s': expected %s, got %s", t[i].name,
			    t[i].vendor ? t[i].vendor : "none", v ? v : "none");
	}
	assert_null(cki_doc_inspection_vendor(NULL));
	assert_true(cki_doc_default_name("localhost"));
	assert_true(cki_doc_default_name("LOCALHOST.localdomain"));
	assert_false(cki_doc_default_name("primary-host"));
	assert_string_equal(cki_doc_alert_name(116), "certificate_required");
	assert_string_equal(cki_doc_alert_name(48), "unknown_ca");
	assert_string_equal(cki_doc_alert_name(255), "unknown_alert");
	/* Built after 2024 and not in the future of the clock. */
	assert_true(cki_doc_build_time() > INT64_C(1704067200));
}

static void
test_cross_check(void **state)
{
	static const char *const nyv[] = {
	    "leaf-notyet.pem", "int-ca.pem", NULL};
	struct env v;
	json_t *eps = json_array();
	json_t *a = chain_case(ROOT, ROOT, "future.example.test", 0, nyv, NULL);
	json_t *b = chain_case(ROOT, ROOT, "future.example.test", 0, nyv, NULL);

	(void)state;
	env_make(&v, NULL, NULL);
	json_array_append_new(eps, a);
	json_array_append_new(eps, b);
	cki_doc_cross_check(&v.e, eps);
	assert_string_equal(code(a), "clock_skew");
	assert_string_equal(code(b), "clock_skew");
	json_decref(eps);
	/* One endpoint alone proves nothing about the clock. */
	eps = json_array();
	a = chain_case(ROOT, ROOT, "future.example.test", 0, nyv, NULL);
	json_array_append_new(eps, a);
	cki_doc_cross_check(&v.e, eps);
	assert_string_equal(code(a), "cert_not_yet_valid");
	json_decref(eps);
	env_free(&v);
}

/* ---- stapled OCSP ------------------------------------------------------ */

static unsigned char *g_ocsp;
static size_t g_ocsp_len;

/* A stapled response for leaf.pem (issuer int-ca), signed by `signer`. */
static void
make_ocsp(const char *signer, const char *signer_key, int st, int64_t this_upd)
{
	X509 *leaf = load("leaf.pem"), *issuer = load("int-ca.pem");
	X509 *sx = load(signer);
	FILE *f = fopen(pki(signer_key), "r");
	EVP_PKEY *key =
	    f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
	OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
	OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
	ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)this_upd);
	ASN1_TIME *rev = ASN1_TIME_set(NULL, (time_t)(this_upd - 86400));
	OCSP_RESPONSE *resp;
	unsigned char *der = NULL;
	int n;

	if (f != NULL)
		fclose(f);
	assert_non_null(key);
	assert_non_null(OCSP_basic_add1_status(bs, id, st,
	    st == V_OCSP_CERTSTATUS_REVOKED ? OCSP_REVOKED_STATUS_KEYCOMPROMISE
	                                    : 0,
	    st == V_OCSP_CERTSTATUS_REVOKED ? rev : NULL, tu, NULL));
	assert_int_equal(
	    OCSP_basic_sign(bs, sx, key, EVP_sha256(), NULL, 0), 1);
	resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
	n = i2d_OCSP_RESPONSE(resp, &der);
	assert_true(n > 0);
	free(g_ocsp);
	g_ocsp = malloc((size_t)n);
	memcpy(g_ocsp, der, (size_t)n);
	g_ocsp_len = (size_t)n;
	OPENSSL_free(der);
	OCSP_RESPONSE_free(resp);
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	ASN1_TIME_free(tu);
	ASN1_TIME_free(rev);
	EVP_PKEY_free(key);
	X509_free(sx);
	X509_free(issuer);
	X509_free(leaf);
}

static void
staple(struct cki_obs *o, struct cki_endpoint *ep)
{
	(void)ep;
	o->main.ocsp = g_ocsp;
	o->main.ocsp_len = g_ocsp_len;
	g_ocsp = NULL; /* the observation owns it now */
}

/* Only a verified, current stapled response may say "revoked": a forged
 * one (signed by a CA the device does not trust) or one dated in the future
 * is a warning, never the diagnosis. */
static void
test_stapled_ocsp(void **state)
{
	static const struct {
		const char *name, *signer, *key;
		int status;
		int64_t this_update;
		const char *primary, *ocsp;
		bool warned;
	} rows[] = {
	    {"revoked, signed by the issuer", "int-ca.pem", "int-ca.key",
	        V_OCSP_CERTSTATUS_REVOKED, PINNED_TIME - 3600, "revoked",
	        "revoked", false},
	    {"good, signed by the issuer", "int-ca.pem", "int-ca.key",
	        V_OCSP_CERTSTATUS_GOOD, PINNED_TIME - 3600, "ok", "good",
	        false},
	    {"revoked, forged by an untrusted CA", "other-root.pem",
	        "other-root.key", V_OCSP_CERTSTATUS_REVOKED, PINNED_TIME - 3600,
	        "ok", "unverified", true},
	    {"revoked, dated in the future", "int-ca.pem", "int-ca.key",
	        V_OCSP_CERTSTATUS_REVOKED, PINNED_TIME + 2 * 86400, "ok",
	        "unverified", true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *r;

		make_ocsp(rows[i].signer, rows[i].key, rows[i].status,
		    rows[i].this_update);
		r = chain_case(
		    ROOT, ROOT, "device.example.test", 0, LEAF_INT, staple);
		if (strcmp(code(r), rows[i].primary) != 0 ||
		    strcmp(json_string_value(json_object_get(
		               json_object_get(r, "tls"), "ocsp")),
		        rows[i].ocsp) != 0 ||
		    has_code(r, "ocsp_invalid") != rows[i].warned)
			fail_msg("%s: primary %s, ocsp %s, warned %d",
			    rows[i].name, code(r),
			    json_string_value(json_object_get(
			        json_object_get(r, "tls"), "ocsp")),
			    has_code(r, "ocsp_invalid"));
		json_decref(r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_network_codes),
	    cmocka_unit_test(test_sinkhole_needs_public),
	    cmocka_unit_test(test_ok),
	    cmocka_unit_test(test_incomplete_chain),
	    cmocka_unit_test(test_incomplete_chain_aia),
	    cmocka_unit_test(test_missing_root),
	    cmocka_unit_test(test_untrusted_and_interception),
	    cmocka_unit_test(test_pins),
	    cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_clock_skew),
	    cmocka_unit_test_teardown(test_clock_2012, reset_clock),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_policy),
	    cmocka_unit_test(test_self_signed_and_weak),
	    cmocka_unit_test(test_warnings),
	    cmocka_unit_test(test_client_auth_after_handshake),
	    cmocka_unit_test(test_vendors),
	    cmocka_unit_test(test_cross_check),
	    cmocka_unit_test(test_stapled_ocsp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
