/*
 * test_verify.c: ck_verify and cki_verify_chain (lib/verify/verify.c) over the
 * test PKI, at the pinned time.
 *
 * Table-driven: each row is a certificate, the anchors, intermediates, CRLs
 * and parameters, and the verdict and first finding that must come out.
 * Then the security properties:
 *  - a chain with an error is never reported valid, whatever a borrowed
 *    store's callback or flags say (test_never_valid_*);
 *  - the verdict agrees with a bare X509_verify_cert() run with the same
 *    parameters for every row (test_agrees_with_openssl);
 *  - --ip and --host are always checked, each on its own;
 * and the negative cases of every setter and of the system store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "ck_internal.h"
#include "strbuf.h"
#include "testutil.h"
#include "verify_int.h"

#define ANY CK_PURPOSE_ANY
#define SRV CK_PURPOSE_SERVER
#define CLI CK_PURPOSE_CLIENT
/* 2020-06-01T00:00:00Z */
#define T2020 INT64_C(1590969600)

struct row {
	const char *name;
	const char *cert;
	const char *roots; /* NULL: root-ca.pem */
	const char *unt1, *unt2;
	const char *crl1, *crl2;
	const char *host, *ip, *email;
	ck_purpose purpose;
	int64_t at; /* 0: PINNED_TIME */
	int depth;  /* --max-depth, -1: none */
	int valid;
	const char *code; /* first finding */
	int fdepth;       /* its depth */
	const char *msg;  /* fragment of its message or remedy */
};

static const struct row rows[] = {
    {"leaf ok", "leaf.pem", NULL, "int-ca.pem", NULL, NULL, NULL, NULL, NULL,
        NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"chain in the file", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"p7b chain", "chain.p7b", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        SRV, 0, -1, 1, NULL, 0, NULL},
    {"host exact", "chain.pem", NULL, NULL, NULL, NULL, NULL,
        "device.example.test", NULL, NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"host wildcard", "chain.pem", NULL, NULL, NULL, NULL, NULL,
        "x.cams.example.test", NULL, NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"host case-insensitive", "chain.pem", NULL, NULL, NULL, NULL, NULL,
        "DEVICE.Example.TEST", NULL, NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"host mismatch", "chain.pem", NULL, NULL, NULL, NULL, NULL, "other.test",
        NULL, NULL, SRV, 0, -1, 0, "hostname_mismatch", 0,
        "host name 'other.test': it names DNS:device.example.test, "
        "DNS:*.cams.example.test, IP:192.0.2.10"},
    {"wildcard covers one label only", "chain.pem", NULL, NULL, NULL, NULL,
        NULL, "a.b.cams.example.test", NULL, NULL, SRV, 0, -1, 0,
        "hostname_mismatch", 0, NULL},
    {"wildcard does not cover the bare domain", "chain.pem", NULL, NULL, NULL,
        NULL, NULL, "cams.example.test", NULL, NULL, SRV, 0, -1, 0,
        "hostname_mismatch", 0, NULL},
    {"ip v4", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL, "192.0.2.10",
        NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"ip v4 mismatch", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL,
        "192.0.2.11", NULL, SRV, 0, -1, 0, "hostname_mismatch", 0,
        "IP address '192.0.2.11'"},
    {"ip v6", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL, "2001:db8::10",
        NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"ip v6 mismatch", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL,
        "2001:db8::11", NULL, SRV, 0, -1, 0, "hostname_mismatch", 0,
        "IP:2001:db8::10"},
    {"email", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        "admin@example.test", SRV, 0, -1, 1, NULL, 0, NULL},
    {"email mismatch", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        "root@example.test", SRV, 0, -1, 0, "hostname_mismatch", 0,
        "email address 'root@example.test'"},
    {"expired", "leaf-expired.pem", NULL, "int-ca.pem", NULL, NULL, NULL, NULL,
        NULL, NULL, SRV, 0, -1, 0, "cert_expired", 0,
        "expired on 2021-01-01T00:00:00Z"},
    {"not yet valid", "leaf-notyet.pem", NULL, "int-ca.pem", NULL, NULL, NULL,
        NULL, NULL, NULL, SRV, 0, -1, 0, "cert_not_yet_valid", 0,
        "valid only from 2030-01-01T00:00:00Z"},
    {"self-signed leaf", "leaf-selfsigned.pem", NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, SRV, 0, -1, 0, "self_signed_leaf", 0, NULL},
    {"self-signed leaf pinned as a root", "leaf-selfsigned.pem",
        "leaf-selfsigned.pem", NULL, NULL, NULL, NULL, NULL, NULL, NULL, SRV, 0,
        -1, 1, NULL, 0, NULL},
    /* other-leaf's issuer is nowhere, as for a missing intermediate;
     * but it is an end entity with no caIssuers pointer, which is what a
     * device certificate issued straight from a private root looks like:
     * untrusted_root (see classify_missing_issuer in lib/verify/verify.c). */
    {"issued by an unknown root", "other-leaf.pem", NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, SRV, 0, -1, 0, "untrusted_root", 0,
        "its issuer 'C = US, O = certkit tests, CN = Other Untrusted Root' is "
        "neither"},
    {"untrusted self-signed root in the chain", "other-leaf.pem", NULL,
        "other-root.pem", NULL, NULL, NULL, NULL, NULL, NULL, SRV, 0, -1, 0,
        "untrusted_root", 1, "self-signed root"},
    {"chain climbs to a root not trusted", "chain.pem", "other-root.pem", NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, SRV, 0, -1, 0, "untrusted_root", 1,
        "CN = certkit Test Root CA"},
    {"intermediate missing (gap)", "gap.pem", NULL, NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, SRV, 0, -1, 0, "incomplete_chain", 0,
        "downloaded from http://127.0.0.1:8080/int-ca.der"},
    {"intermediate missing (leaf alone)", "leaf.pem", NULL, NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, SRV, 0, -1, 0, "incomplete_chain", 0,
        "'C = US, O = certkit tests, CN = certkit Test Issuing CA', was "
        "not found"},
    {"revoked", "leaf-revoked.pem", NULL, "int-ca.pem", NULL, "int-ca.crl",
        "root-ca.crl", NULL, NULL, NULL, SRV, 0, -1, 0, "revoked", 0,
        "revoked on 2026-02-01T00:00:00Z (reason: "
        "keyCompromise)"},
    {"revoked, DER CRLs", "leaf-revoked.pem", NULL, "int-ca.pem", NULL,
        "int-ca.crl.der", "root-ca.crl.der", NULL, NULL, NULL, SRV, 0, -1, 0,
        "revoked", 0, NULL},
    {"not revoked", "chain.pem", NULL, NULL, NULL, "int-ca.crl", "root-ca.crl",
        NULL, NULL, NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"revoked passes without CRLs", "leaf-revoked.pem", NULL, "int-ca.pem",
        NULL, NULL, NULL, NULL, NULL, NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"leaf CRL missing", "chain.pem", NULL, NULL, NULL, "root-ca.crl", NULL,
        NULL, NULL, NULL, SRV, 0, -1, 0, "crl_missing", 0,
        "http://127.0.0.1:8080/int.crl"},
    {"intermediate CRL missing", "chain.pem", NULL, NULL, NULL, "int-ca.crl",
        NULL, NULL, NULL, NULL, SRV, 0, -1, 0, "crl_missing", 1,
        "CN = certkit Test Root CA"},
    {"CRLs stale at the time", "chain.pem", NULL, NULL, NULL, "int-ca.crl",
        "root-ca.crl", NULL, NULL, NULL, SRV, INT64_C(1830297600), -1, 0,
        "crl_expired", 0, "2027-01-01T00:00:00Z"},
    {"client cert used as server", "leaf-client.pem", NULL, "int-ca.pem", NULL,
        NULL, NULL, NULL, NULL, NULL, SRV, 0, -1, 0, "bad_usage", 0,
        "extendedKeyUsage is clientAuth"},
    {"client cert as client", "leaf-client.pem", NULL, "int-ca.pem", NULL, NULL,
        NULL, NULL, NULL, NULL, CLI, 0, -1, 1, NULL, 0, NULL},
    {"client cert, any purpose", "leaf-client.pem", NULL, "int-ca.pem", NULL,
        NULL, NULL, NULL, NULL, NULL, ANY, 0, -1, 1, NULL, 0, NULL},
    {"code signing as server", "leaf-ca-eku-codesign.pem", NULL, "int-ca.pem",
        NULL, NULL, NULL, NULL, NULL, NULL, SRV, 0, -1, 0, "bad_usage", 0,
        "codeSigning"},
    {"code signing as client", "leaf-ca-eku-codesign.pem", NULL, "int-ca.pem",
        NULL, NULL, NULL, NULL, NULL, NULL, CLI, 0, -1, 0, "bad_usage", 0,
        NULL},
    {"name constraints violated", "nc-leaf-bad.pem", NULL, "nc-ca.pem", NULL,
        NULL, NULL, NULL, NULL, NULL, SRV, 0, -1, 0, "name_constraints", 0,
        "permits DNS:.allowed.test"},
    {"name constraints kept", "nc-leaf-ok.pem", NULL, "nc-ca.pem", NULL, NULL,
        NULL, NULL, NULL, NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"path length exceeded", "sub-leaf.pem", NULL, "int-ca.pem", "sub-ca.pem",
        NULL, NULL, NULL, NULL, NULL, SRV, 0, -1, 0, "path_length", 2,
        "at most 0 CA certificates below it"},
    {"bad signature", "leaf-badsig.pem", NULL, "int-ca.pem", NULL, NULL, NULL,
        NULL, NULL, NULL, SRV, 0, -1, 0, "invalid_signature", 0, NULL},
    {"SHA-1 signature", "leaf-sha1.pem", NULL, "int-ca.pem", NULL, NULL, NULL,
        NULL, NULL, NULL, SRV, 0, -1, 0, "weak_signature", 0,
        "ecdsa-with-SHA1"},
    {"RSA-1024 key", "leaf-weakkey.pem", NULL, "int-ca.pem", NULL, NULL, NULL,
        NULL, NULL, NULL, SRV, 0, -1, 0, "weak_key", 0,
        "RSA key has 1024 bits"},
    {"intermediate as the only anchor", "leaf.pem", "int-ca.pem", NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, SRV, 0, -1, 1, NULL, 0, NULL},
    {"--at in the past: expired leaf valid", "leaf-expired.pem", NULL,
        "int-ca.pem", NULL, NULL, NULL, NULL, NULL, NULL, SRV, T2020, -1, 1,
        NULL, 0, NULL},
    {"--at in the past: leaf not yet valid", "chain.pem", NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, SRV, T2020, -1, 0, "cert_not_yet_valid",
        0, NULL},
    {"max depth 0", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        SRV, 0, 0, 0, "chain_too_long", 1, "than the 0 allowed"},
    {"max depth 1", "chain.pem", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
        SRV, 0, 1, 1, NULL, 0, NULL},
    {"max depth 0, intermediate as anchor", "leaf.pem", "int-ca.pem", NULL,
        NULL, NULL, NULL, NULL, NULL, NULL, SRV, 0, 0, 1, NULL, 0, NULL},
};

/* ---- helpers ------------------------------------------------------------ */

/* New options on ctx (NULL: the test fails where it is used). */
static ck_verify_opts *
vopts(ck_ctx *ctx)
{
	ck_verify_opts *o = NULL;

	if (ck_verify_opts_new(ctx, &o) != CK_OK)
		return NULL;
	return o;
}

static ck_verify_opts *
opts_for(ck_ctx *ctx, const struct row *r)
{
	ck_verify_opts *o = vopts(ctx);

	assert_non_null(o);
	assert_int_equal(ck_verify_opts_add_roots(
	                     o, pki(r->roots ? r->roots : "root-ca.pem")),
	    CK_OK);
	if (r->unt1)
		assert_int_equal(
		    ck_verify_opts_add_untrusted(o, pki(r->unt1)), CK_OK);
	if (r->unt2)
		assert_int_equal(
		    ck_verify_opts_add_untrusted(o, pki(r->unt2)), CK_OK);
	if (r->crl1)
		assert_int_equal(
		    ck_verify_opts_add_crl(o, pki(r->crl1)), CK_OK);
	if (r->crl2)
		assert_int_equal(
		    ck_verify_opts_add_crl(o, pki(r->crl2)), CK_OK);
	if (r->host)
		assert_int_equal(ck_verify_opts_set_host(o, r->host), CK_OK);
	if (r->ip)
		assert_int_equal(ck_verify_opts_set_ip(o, r->ip), CK_OK);
	if (r->email)
		assert_int_equal(ck_verify_opts_set_email(o, r->email), CK_OK);
	ck_verify_opts_set_purpose(o, r->purpose);
	ck_verify_opts_set_max_depth(o, r->depth);
	return o;
}

/* Runs one row through the public API; returns the parsed report. */
static json_t *
run_row(const struct row *r, int *valid)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_verify_opts *o;
	ck_bundle *b = NULL;
	char *json = NULL;
	json_t *rep;

	assert_non_null(ctx);
	ck_ctx_set_time(ctx, r->at ? r->at : PINNED_TIME);
	o = opts_for(ctx, r);
	assert_int_equal(ck_load_file(ctx, pki(r->cert), &b), CK_OK);
	if (ck_verify(ctx, o, b, &json, valid) != CK_OK)
		fail_msg("%s: %s", r->name, ck_ctx_error(ctx));
	rep = json_loads(json, 0, NULL);
	assert_non_null(rep);
	ck_free(json);
	ck_bundle_free(b);
	ck_verify_opts_free(o);
	ck_ctx_free(ctx);
	return rep;
}

static bool
is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return false;
	for (; *s; s++)
		if (!strchr("0123456789abcdef", *s))
			return false;
	return true;
}

/* Every finding and chain entry has the documented fields. */
static void
check_shape(const struct row *r, const json_t *rep, int valid)
{
	const json_t *findings = json_object_get(rep, "findings");
	const json_t *chain = json_object_get(rep, "chain");
	const json_t *params = json_object_get(rep, "parameters");
	const json_t *f, *c;
	size_t i;

	assert_true(json_is_boolean(json_object_get(rep, "valid")));
	assert_int_equal(json_is_true(json_object_get(rep, "valid")), valid);
	assert_true(json_is_array(findings));
	assert_true(json_is_array(chain));
	assert_true(json_array_size(chain) >= 1);
	/* Never valid with a finding, never invalid without one. */
	assert_int_equal(json_array_size(findings) == 0, valid);
	json_array_foreach(findings, i, f)
	{
		const json_t *oe = json_object_get(f, "openssl_error");

		assert_true(
		    strlen(json_string_value(json_object_get(f, "code"))) > 0);
		assert_string_equal(
		    json_string_value(json_object_get(f, "severity")), "error");
		assert_true(json_is_integer(json_object_get(f, "depth")));
		assert_non_null(
		    json_string_value(json_object_get(f, "subject")));
		assert_true(
		    is_hex64(json_string_value(json_object_get(f, "sha256"))));
		assert_true(strlen(json_string_value(
		                json_object_get(f, "message"))) > 20);
		assert_true(strlen(json_string_value(
		                json_object_get(f, "remedy"))) > 20);
		assert_true(
		    json_integer_value(json_object_get(oe, "code")) > 0);
		assert_non_null(json_string_value(json_object_get(oe, "text")));
	}
	json_array_foreach(chain, i, c)
	{
		assert_int_equal(
		    json_integer_value(json_object_get(c, "depth")),
		    (json_int_t)i);
		assert_true(
		    is_hex64(json_string_value(json_object_get(c, "sha256"))));
		assert_true(is_hex64(
		    json_string_value(json_object_get(c, "spki_sha256"))));
		assert_non_null(
		    json_string_value(json_object_get(c, "not_before")));
		assert_true(json_is_boolean(json_object_get(c, "anchor")));
	}
	if (valid)
		assert_true(json_is_true(json_object_get(
		    json_array_get(chain, json_array_size(chain) - 1),
		    "anchor")));
	assert_true(json_is_false(
	                json_object_get(json_array_get(chain, 0), "anchor")) ||
	    r->roots != NULL);
	assert_string_equal(json_string_value(json_object_get(params, "time")),
	    r->at == T2020 ? "2020-06-01T00:00:00Z"
	        : r->at    ? json_string_value(json_object_get(params, "time"))
	                   : "2026-06-01T00:00:00Z");
	assert_int_equal(json_is_true(json_object_get(params, "crl_check")),
	    r->crl1 != NULL);
	assert_true(json_is_true(json_object_get(params, "partial_chain")));
	assert_int_equal(
	    json_integer_value(json_object_get(params, "security_level")), 2);
}

/* ---- the table ---------------------------------------------------------- */

static void
test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		int valid = -1;
		json_t *rep = run_row(r, &valid), *f;
		const char *msg, *fix;

		if (valid != r->valid)
			fail_msg("%s: valid=%d, expected %d: %s", r->name,
			    valid, r->valid, json_dumps(rep, 0));
		check_shape(r, rep, valid);
		if (r->code == NULL) {
			json_decref(rep);
			continue;
		}
		f = json_array_get(json_object_get(rep, "findings"), 0);
		if (strcmp(json_string_value(json_object_get(f, "code")),
		        r->code) != 0 ||
		    json_integer_value(json_object_get(f, "depth")) !=
		        r->fdepth)
			fail_msg("%s: first finding %s at depth %lld, expected "
			         "%s at %d",
			    r->name,
			    json_string_value(json_object_get(f, "code")),
			    (long long)json_integer_value(
			        json_object_get(f, "depth")),
			    r->code, r->fdepth);
		msg = json_string_value(json_object_get(f, "message"));
		fix = json_string_value(json_object_get(f, "remedy"));
		if (r->msg != NULL && strstr(msg, r->msg) == NULL &&
		    strstr(fix, r->msg) == NULL)
			fail_msg("%s: message and remedy lack '%s': %s / %s",
			    r->name, r->msg, msg, fix);
		json_decref(rep);
	}
}

/* All problems, not only the first: an expired certificate for the wrong
 * host gives both findings, and the chain is reported as far as built. */
static void
test_all_findings(void **state)
{
	static const struct row r = {"expired, wrong host", "leaf-expired.pem",
	    NULL, "int-ca.pem", NULL, NULL, NULL, "wrong.example.test", NULL,
	    NULL, SRV, 0, -1, 0, NULL, 0, NULL};
	int valid = -1;
	json_t *rep = run_row(&r, &valid);
	const json_t *fs = json_object_get(rep, "findings"), *f;
	bool expired = false, host = false;
	size_t i;

	(void)state;
	assert_int_equal(valid, 0);
	json_array_foreach(fs, i, f)
	{
		const char *c = json_string_value(json_object_get(f, "code"));

		expired |= strcmp(c, "cert_expired") == 0;
		host |= strcmp(c, "hostname_mismatch") == 0;
	}
	assert_true(expired);
	assert_true(host);
	assert_int_equal(json_array_size(json_object_get(rep, "chain")), 3);
	json_decref(rep);

	/* The revoked finding carries the CRL's date and reason. */
	{
		static const struct row rv = {"revoked", "leaf-revoked.pem",
		    NULL, "int-ca.pem", NULL, "int-ca.crl", "root-ca.crl", NULL,
		    NULL, NULL, SRV, 0, -1, 0, NULL, 0, NULL};

		rep = run_row(&rv, &valid);
		f = json_array_get(json_object_get(rep, "findings"), 0);
		assert_string_equal(
		    json_string_value(json_object_get(f, "revocation_date")),
		    "2026-02-01T00:00:00Z");
		assert_string_equal(
		    json_string_value(json_object_get(f, "revocation_reason")),
		    "keyCompromise");
		json_decref(rep);
	}
	/* The mismatch lists what was asked and the SANs present. */
	{
		static const struct row hm = {"ip", "chain.pem", NULL, NULL,
		    NULL, NULL, NULL, NULL, "192.0.2.11", NULL, SRV, 0, -1, 0,
		    NULL, 0, NULL};

		rep = run_row(&hm, &valid);
		f = json_array_get(json_object_get(rep, "findings"), 0);
		assert_string_equal(json_string_value(json_object_get(
		                        json_object_get(f, "requested"), "ip")),
		    "192.0.2.11");
		assert_int_equal(
		    json_array_size(json_object_get(f, "sans")), 6);
		json_decref(rep);
	}
}

/* ---- security properties ---------------------------------------------- */

static X509 *
load_x509(const char *file)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	X509 *x;

	assert_int_equal(ck_load_file(ctx, pki(file), &b), CK_OK);
	x = ck_bundle_get0_cert(b, 0)->x509;
	X509_up_ref(x);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
	return x;
}

static int
always_ok_cb(int ok, X509_STORE_CTX *xsc)
{
	(void)ok;
	(void)xsc;
	return 1;
}

/* A borrowed store whose callback accepts everything and whose flags turn
 * the checks off must not make a bad chain valid (verify_int.h, 2). */
static void
test_never_valid_hostile_store(void **state)
{
	static const struct {
		const char *leaf, *root;
		const char *host;
		int64_t at;
	} bad[] = {
	    {"leaf-expired.pem", "root-ca.pem", NULL, 0},
	    {"leaf-selfsigned.pem", "root-ca.pem", NULL, 0},
	    {"other-leaf.pem", "root-ca.pem", NULL, 0},
	    {"leaf.pem", "other-root.pem", NULL, 0},
	    {"leaf-badsig.pem", "root-ca.pem", NULL, 0},
	    {"leaf.pem", "root-ca.pem", "other.test", 0},
	    {"leaf.pem", "root-ca.pem", NULL, T2020},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		X509_STORE *store = X509_STORE_new();
		X509 *leaf = load_x509(bad[i].leaf),
		     *root = load_x509(bad[i].root);
		X509 *inter = load_x509("int-ca.pem");
		STACK_OF(X509) *unt = sk_X509_new_null();
		struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
		json_t *rep = NULL;
		int valid = -1;

		ck_ctx_set_time(ctx, PINNED_TIME);
		assert_true(X509_STORE_add_cert(store, root));
		sk_X509_push(unt, inter);
		X509_STORE_set_verify_cb(store, always_ok_cb);
		X509_STORE_set_flags(store,
		    X509_V_FLAG_NO_CHECK_TIME | X509_V_FLAG_IGNORE_CRITICAL |
		        X509_V_FLAG_PARTIAL_CHAIN);
		/* A host the store's own parameters carry must not replace
		 * ours either. */
		X509_VERIFY_PARAM_set1_host(
		    X509_STORE_get0_param(store), "device.example.test", 0);
		p.host = bad[i].host;
		p.time = bad[i].at;
		assert_int_equal(
		    cki_verify_chain(ctx, store, leaf, unt, &p, &rep, &valid),
		    CK_OK);
		if (valid != 0)
			fail_msg("%s with %s was reported valid", bad[i].leaf,
			    bad[i].root);
		assert_false(json_is_true(json_object_get(rep, "valid")));
		assert_true(
		    json_array_size(json_object_get(rep, "findings")) > 0);
		json_decref(rep);
		sk_X509_pop_free(unt, X509_free);
		X509_free(leaf);
		X509_free(root);
		X509_STORE_free(store);
		ck_ctx_free(ctx);
	}
}

static int
skip_everything(X509_STORE_CTX *xsc)
{
	(void)xsc;
	return 1;
}

/* A store that replaces OpenSSL's own verification step (here: the
 * signature and time checks) is refused, not used. */
static void
test_store_with_custom_steps(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	X509_STORE *store = X509_STORE_new();
	X509 *leaf = load_x509("leaf-badsig.pem"),
	     *root = load_x509("int-ca.pem");
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	json_t *rep = NULL;
	int valid = -1;

	(void)state;
	X509_STORE_add_cert(store, root);
	X509_STORE_set_verify(store, skip_everything);
	p.partial_chain = true;
	p.time = PINNED_TIME;
	assert_int_equal(
	    cki_verify_chain(ctx, store, leaf, NULL, &p, &rep, &valid),
	    CK_E_USAGE);
	assert_null(rep);
	assert_int_equal(valid, 0);
	assert_non_null(strstr(ck_ctx_error(ctx), "replaces"));
	X509_free(leaf);
	X509_free(root);
	X509_STORE_free(store);
	ck_ctx_free(ctx);
}

/* For every row of the table, the verdict is what a bare
 * X509_verify_cert() with the same parameters says: certkit adds
 * explanations, never a different answer. */
static void
test_agrees_with_openssl(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		ck_ctx *ctx = ck_ctx_new();
		ck_bundle *b = NULL, *rb = NULL, *tmp = NULL;
		X509_STORE *store = X509_STORE_new();
		X509_STORE_CTX *xsc = X509_STORE_CTX_new();
		X509_VERIFY_PARAM *vp;
		STACK_OF(X509) *unt = sk_X509_new_null();
		STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
		const char *ufiles[] = {r->unt1, r->unt2};
		const char *cfiles[] = {r->crl1, r->crl2};
		int bare, ours = -1;
		json_t *rep;

		assert_int_equal(ck_load_file(ctx, pki(r->cert), &b), CK_OK);
		assert_int_equal(
		    ck_load_file(
		        ctx, pki(r->roots ? r->roots : "root-ca.pem"), &rb),
		    CK_OK);
		for (size_t j = 0; j < ck_bundle_count(rb, CK_OBJ_CERT); j++)
			X509_STORE_add_cert(
			    store, ck_bundle_get0_cert(rb, j)->x509);
		for (size_t j = 1; j < ck_bundle_count(b, CK_OBJ_CERT); j++) {
			X509 *x = ck_bundle_get0_cert(b, j)->x509;

			X509_up_ref(x);
			sk_X509_push(unt, x);
		}
		for (int k = 0; k < 2; k++) {
			if (ufiles[k] == NULL)
				continue;
			assert_int_equal(
			    ck_load_file(ctx, pki(ufiles[k]), &tmp), CK_OK);
			for (size_t j = 0;
			     j < ck_bundle_count(tmp, CK_OBJ_CERT); j++) {
				X509 *x = ck_bundle_get0_cert(tmp, j)->x509;

				X509_up_ref(x);
				sk_X509_push(unt, x);
			}
			ck_bundle_free(tmp);
		}
		for (int k = 0; k < 2; k++) {
			if (cfiles[k] == NULL)
				continue;
			assert_int_equal(
			    ck_load_file(ctx, pki(cfiles[k]), &tmp), CK_OK);
			X509_CRL_up_ref(cki_bundle_get(tmp, CK_OBJ_CRL, 0));
			sk_X509_CRL_push(
			    crls, cki_bundle_get(tmp, CK_OBJ_CRL, 0));
			ck_bundle_free(tmp);
		}
		X509_STORE_CTX_init(
		    xsc, store, ck_bundle_get0_cert(b, 0)->x509, unt);
		vp = X509_STORE_CTX_get0_param(xsc);
		X509_VERIFY_PARAM_set_time(
		    vp, (time_t)(r->at ? r->at : PINNED_TIME));
		X509_VERIFY_PARAM_set_auth_level(vp, 2);
		X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN);
		if (r->crl1) {
			X509_STORE_CTX_set0_crls(xsc, crls);
			X509_VERIFY_PARAM_set_flags(vp,
			    X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
		}
		if (r->depth >= 0)
			X509_VERIFY_PARAM_set_depth(vp, r->depth);
		if (r->host) {
			X509_VERIFY_PARAM_set_hostflags(
			    vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
			X509_VERIFY_PARAM_set1_host(vp, r->host, 0);
		}
		if (r->ip)
			X509_VERIFY_PARAM_set1_ip_asc(vp, r->ip);
		if (r->email)
			X509_VERIFY_PARAM_set1_email(vp, r->email, 0);
		if (r->purpose != ANY)
			X509_STORE_CTX_set_purpose(xsc,
			    r->purpose == SRV ? X509_PURPOSE_SSL_SERVER
			                      : X509_PURPOSE_SSL_CLIENT);
		bare = X509_verify_cert(xsc);
		rep = run_row(r, &ours);
		if (bare != ours)
			fail_msg(
			    "%s: certkit says %d, X509_verify_cert says %d "
			    "(%s)",
			    r->name, ours, bare,
			    X509_verify_cert_error_string(
			        X509_STORE_CTX_get_error(xsc)));
		json_decref(rep);
		X509_STORE_CTX_free(xsc);
		X509_STORE_free(store);
		sk_X509_pop_free(unt, X509_free);
		sk_X509_CRL_pop_free(crls, X509_CRL_free);
		ck_bundle_free(b);
		ck_bundle_free(rb);
		ck_ctx_free(ctx);
	}
}

/* The name check is never dropped: an empty name, or a host and an IP at
 * once, is an error, not a check skipped. */
static void
test_params_refused(void **state)
{
	static const struct {
		const char *host, *ip, *email;
	} bad[] = {
	    {"", NULL, NULL},
	    {NULL, "", NULL},
	    {NULL, NULL, ""},
	    {"device.example.test", "192.0.2.10", NULL},
	    {"device.example.test", NULL, "admin@example.test"},
	    {NULL, "192.0.2.10", "admin@example.test"},
	    {NULL, "192.0.2.300", NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		X509_STORE *store = X509_STORE_new();
		X509 *leaf = load_x509("leaf.pem"),
		     *root = load_x509("int-ca.pem");
		struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
		json_t *rep = NULL;
		int valid = -1;

		X509_STORE_add_cert(store, root);
		p.partial_chain = true;
		p.time = PINNED_TIME;
		p.host = bad[i].host;
		p.ip = bad[i].ip;
		p.email = bad[i].email;
		assert_int_equal(
		    cki_verify_chain(ctx, store, leaf, NULL, &p, &rep, &valid),
		    CK_E_USAGE);
		assert_null(rep);
		assert_int_equal(valid, 0);
		X509_free(leaf);
		X509_free(root);
		X509_STORE_free(store);
		ck_ctx_free(ctx);
	}
}

/* --ip given, the IP is checked (and not the host); --host given, the host
 * is checked; both on a chain that is otherwise valid. */
static void
test_name_always_checked(void **state)
{
	static const struct {
		const char *host, *ip;
		int valid;
	} c[] = {
	    {NULL, "192.0.2.10", 1},
	    {NULL, "192.0.2.11", 0},
	    {NULL, "10.0.0.1", 0},
	    {NULL, "::1", 0},
	    {"device.example.test", NULL, 1},
	    {"evil.example.test", NULL, 0},
	    /* An IP literal given as a host is matched as an IP. */
	    {"192.0.2.10", NULL, 1},
	    {"192.0.2.11", NULL, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct row r = {"name", "chain.pem", NULL, NULL, NULL, NULL,
		    NULL, c[i].host, c[i].ip, NULL, SRV, 0, -1, 0, NULL, 0,
		    NULL};
		int valid = -1;
		json_t *rep = run_row(&r, &valid);

		if (valid != c[i].valid)
			fail_msg("host %s ip %s: valid=%d",
			    c[i].host ? c[i].host : "-",
			    c[i].ip ? c[i].ip : "-", valid);
		json_decref(rep);
	}
}

/* ---- setters and inputs: negative cases -------------------------------- */

static void
test_setters(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_verify_opts *o = vopts(ctx);
	ck_bundle *empty = ck_bundle_new();
	char *json = (char *)1;
	int valid = -1;

	(void)state;
	assert_int_equal(ck_verify_opts_set_host(o, ""), CK_E_USAGE);
	assert_int_equal(
	    ck_verify_opts_set_host(o, "*.example.test"), CK_E_USAGE);
	assert_int_equal(ck_verify_opts_set_host(o, "a b"), CK_E_USAGE);
	assert_int_equal(ck_verify_opts_set_host(o, NULL), CK_E_USAGE);
	assert_int_equal(
	    ck_verify_opts_set_host(o, "device.example.test"), CK_OK);
	assert_int_equal(ck_verify_opts_set_ip(o, "192.0.2.300"), CK_E_USAGE);
	assert_non_null(
	    strstr(ck_ctx_error(ctx), "'192.0.2.300' is not an IP"));
	assert_int_equal(
	    ck_verify_opts_set_ip(o, "device.example.test"), CK_E_USAGE);
	assert_int_equal(ck_verify_opts_set_ip(o, "2001:db8::10"), CK_OK);
	assert_int_equal(ck_verify_opts_set_email(o, "nope"), CK_E_USAGE);
	assert_int_equal(ck_verify_opts_set_email(o, "@x"), CK_E_USAGE);
	assert_int_equal(ck_verify_opts_set_email(o, "a@b@c"), CK_E_USAGE);
	assert_int_equal(
	    ck_verify_opts_set_email(o, "admin@example.test"), CK_OK);
	/* Roots, intermediates and CRLs that are not what they claim. */
	assert_int_equal(
	    ck_verify_opts_add_roots(o, pki("nonexistent.pem")), CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(ctx), "nonexistent.pem"));
	assert_int_equal(
	    ck_verify_opts_add_roots(o, pki("leaf.key")), CK_E_FORMAT);
	assert_non_null(strstr(
	    ck_ctx_error(ctx), "this is a private key, not a certificate"));
	assert_int_equal(
	    ck_verify_opts_add_roots(o, pki("html.der")), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx), "html.der"));
	assert_int_equal(
	    ck_verify_opts_add_untrusted(o, pki("int-ca.crl")), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx),
	    "this is a CRL, not a "
	    "certificate"));
	assert_int_equal(
	    ck_verify_opts_add_crl(o, pki("int-ca.pem")), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx), "not a CRL"));
	assert_int_equal(
	    ck_verify_opts_add_crl(o, pki("empty.pem")), CK_E_FORMAT);
	/* Nothing to verify. */
	assert_int_equal(
	    ck_verify_opts_add_roots(o, pki("root-ca.pem")), CK_OK);
	assert_int_equal(ck_verify(ctx, o, empty, &json, &valid), CK_E_USAGE);
	assert_null(json);
	assert_int_equal(valid, 0);
	ck_bundle_free(empty);
	ck_verify_opts_free(o);
	ck_verify_opts_free(NULL);
	ck_ctx_free(ctx);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
copy_file(const char *from, const char *to)
{
	char buf[8192];
	size_t n;
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");

	assert_non_null(in);
	assert_non_null(out);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, n, out);
	fclose(in);
	fclose(out);
}

/* A directory of anchors: every file that loads counts, hashed names or
 * not; other files are skipped; a directory without certificates is an
 * error. */
static void
test_roots_dir(void **state)
{
	char dir[] = "/tmp/ck-verify-dir.XXXXXX", path[512];
	ck_ctx *ctx = ck_ctx_new();
	ck_verify_opts *o = vopts(ctx);
	ck_bundle *b = NULL;
	char *json = NULL;
	int valid = -1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/README", dir);
	write_file(path, "not a certificate\n");
	snprintf(path, sizeof(path), "%s/leaf.key", dir);
	copy_file(pki("leaf.key"), path);
	assert_int_equal(ck_verify_opts_add_roots(o, dir), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx), "none of the 2 files"));
	snprintf(path, sizeof(path), "%s/5ad8a5d6.0", dir);
	copy_file(pki("root-ca.der"), path);
	snprintf(path, sizeof(path), "%s/also-root.pem", dir);
	copy_file(pki("root-ca.pem"), path);
	assert_int_equal(ck_verify_opts_add_roots(o, dir), CK_OK);
	ck_ctx_set_time(ctx, PINNED_TIME);
	assert_int_equal(ck_load_file(ctx, pki("chain.pem"), &b), CK_OK);
	assert_int_equal(ck_verify(ctx, o, b, &json, &valid), CK_OK);
	assert_int_equal(valid, 1);
	assert_non_null(strstr(json, dir));
	ck_free(json);
	ck_bundle_free(b);
	ck_verify_opts_free(o);
	ck_ctx_free(ctx);
	unlink(path);
	snprintf(path, sizeof(path), "%s/5ad8a5d6.0", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/README", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/leaf.key", dir);
	unlink(path);
	rmdir(dir);
}

/* Without --roots: the system store, through SSL_CERT_FILE/SSL_CERT_DIR;
 * a missing or empty one is an error, never "untrusted". The system store
 * is not a partial-chain store: an intermediate in it is no anchor. */
static void
test_system_store(void **state)
{
	static const struct {
		const char *file, *dir;
		ck_status st;
		int valid;
		const char *msg;
	} c[] = {
	    {"root-ca.pem", "/nonexistent-dir", CK_OK, 1, NULL},
	    {"nonexistent.pem", "/nonexistent-dir", CK_E_IO, 0,
	        "SSL_CERT_FILE="},
	    {"text.txt", "/nonexistent-dir", CK_E_NOTFOUND, 0,
	        "system trust store is missing or empty"},
	    {"int-ca.pem", "/nonexistent-dir", CK_OK, 0, NULL},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		ck_verify_opts *o = vopts(ctx);
		ck_bundle *b = NULL;
		char *json = NULL;
		int valid = -1;
		ck_status st;

		setenv("SSL_CERT_FILE", pki(c[i].file), 1);
		setenv("SSL_CERT_DIR", c[i].dir, 1);
		ck_ctx_set_time(ctx, PINNED_TIME);
		assert_int_equal(
		    ck_load_file(ctx, pki("chain.pem"), &b), CK_OK);
		st = ck_verify(ctx, o, b, &json, &valid);
		if (st != c[i].st)
			fail_msg("%s: status %d: %s", c[i].file, st,
			    ck_ctx_error(ctx));
		assert_int_equal(valid, c[i].valid);
		if (c[i].msg)
			assert_non_null(strstr(ck_ctx_error(ctx), c[i].msg));
		if (st == CK_OK) {
			assert_non_null(
			    strstr(json, "\"partial_chain\":false"));
			assert_non_null(strstr(json, "the system trust store"));
			/* A second call reuses the store loaded once. */
			ck_free(json);
			json = NULL;
			assert_int_equal(
			    ck_verify(ctx, o, b, &json, &valid), CK_OK);
			assert_int_equal(valid, c[i].valid);
		}
		if (c[i].file[0] == 'i')
			assert_non_null(strstr(json, "\"untrusted_root\""));
		ck_free(json);
		ck_bundle_free(b);
		ck_verify_opts_free(o);
		ck_ctx_free(ctx);
	}
	unsetenv("SSL_CERT_FILE");
	unsetenv("SSL_CERT_DIR");
}

static void
test_code_map(void **state)
{
	(void)state;
	assert_string_equal(
	    cki_verify_code(X509_V_ERR_CERT_HAS_EXPIRED), "cert_expired");
	assert_string_equal(
	    cki_verify_code(X509_V_ERR_HOSTNAME_MISMATCH), "hostname_mismatch");
	assert_string_equal(cki_verify_code(X509_V_ERR_IP_ADDRESS_MISMATCH),
	    "hostname_mismatch");
	assert_string_equal(
	    cki_verify_code(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY),
	    "incomplete_chain");
	assert_string_equal(
	    cki_verify_code(X509_V_ERR_CA_MD_TOO_WEAK), "weak_signature");
	assert_string_equal(
	    cki_verify_code(X509_V_ERR_CERT_REVOKED), "revoked");
	assert_string_equal(cki_verify_code(X509_V_ERR_PERMITTED_VIOLATION),
	    "name_constraints");
	assert_string_equal(
	    cki_verify_code(X509_V_ERR_INVALID_CA), "invalid_ca");
	assert_string_equal(cki_verify_code(12345), "malformed");
}

/*
 * One verifier: cki_verify_run() (the doctor's and the identity install's
 * entry) gives the same verdict as cki_verify_chain() (ck_verify()) on the
 * same chain, and its first error has the code of verify's first finding.
 * At CKI_VERIFY_SECURITY_LEVEL_NONE (the doctor) weak keys and digests
 * are left to the caller: the weak chains verify.
 */
static void
test_run_agrees(void **state)
{
	static const struct {
		const char *leaf, *anchor, *inter;
		bool weak; /* valid at CKI_VERIFY_SECURITY_LEVEL_NONE */
	} cases[] = {
	    {"leaf.pem", "root-ca.pem", "int-ca.pem", false},
	    {"leaf-expired.pem", "root-ca.pem", "int-ca.pem", false},
	    {"leaf-selfsigned.pem", "root-ca.pem", NULL, false},
	    {"other-leaf.pem", "root-ca.pem", NULL, false},
	    {"leaf.pem", "root-ca.pem", NULL, false},
	    {"leaf-badsig.pem", "root-ca.pem", "int-ca.pem", false},
	    {"leaf-weakkey.pem", "root-ca.pem", "int-ca.pem", true},
	    {"leaf-sha1.pem", "root-ca.pem", "int-ca.pem", true},
	    {"leaf-weakint.pem", "root-ca.pem", "weak-int-ca.pem", true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		X509_STORE *store = X509_STORE_new();
		X509 *leaf = load_x509(cases[i].leaf);
		X509 *anchor = load_x509(cases[i].anchor);
		STACK_OF(X509) *unt = sk_X509_new_null();
		struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
		struct cki_verify_result first, every, none;
		json_t *rep = NULL, *f0;
		int valid = -1;

		assert_true(X509_STORE_add_cert(store, anchor));
		if (cases[i].inter != NULL)
			sk_X509_push(unt, load_x509(cases[i].inter));
		p.time = PINNED_TIME;
		assert_int_equal(
		    cki_verify_chain(ctx, store, leaf, unt, &p, &rep, &valid),
		    CK_OK);
		assert_int_equal(
		    cki_verify_run(NULL, store, leaf, unt, &p, false, &first),
		    CK_OK);
		assert_int_equal(
		    cki_verify_run(ctx, store, leaf, unt, &p, true, &every),
		    CK_OK);
		if (first.ok != (valid == 1) || every.ok != (valid == 1))
			fail_msg("%s: run %d/%d, chain %d", cases[i].leaf,
			    first.ok, every.ok, valid);
		if (!valid) {
			f0 =
			    json_array_get(json_object_get(rep, "findings"), 0);
			assert_true(first.nerr == 1 && every.nerr >= 1);
			assert_int_equal(first.err[0].err, every.err[0].err);
			assert_non_null(first.err[0].cert);
			/* The issuer family is decided from the chain. */
			if (strcmp(cki_verify_code(first.err[0].err),
			        "incomplete_chain") != 0)
				assert_string_equal(
				    cki_verify_code(first.err[0].err),
				    json_string_value(
				        json_object_get(f0, "code")));
		}
		assert_true(sk_X509_num(every.chain) >= 1);
		p.security_level = CKI_VERIFY_SECURITY_LEVEL_NONE;
		assert_int_equal(
		    cki_verify_run(NULL, store, leaf, unt, &p, true, &none),
		    CK_OK);
		if (cases[i].weak && valid != 0)
			fail_msg("%s: valid at level 2", cases[i].leaf);
		if (cases[i].weak && !none.ok)
			fail_msg("%s: not valid without a security level",
			    cases[i].leaf);
		json_decref(rep);
		cki_verify_result_clear(&first);
		cki_verify_result_clear(&every);
		cki_verify_result_clear(&none);
		sk_X509_pop_free(unt, X509_free);
		X509_free(leaf);
		X509_free(anchor);
		X509_STORE_free(store);
		ck_ctx_free(ctx);
	}
}

/* ---- the size of a finding's text -------------------------------------- */

/* A self-signed certificate whose one subjectAltName is `len` bytes of
 * 0x01, each escaped to four characters in a message. */
static X509 *
huge_san_cert(size_t len)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
	unsigned char *name = malloc(len);

	assert_true(k && x && n && gens && gn && ia5 && name);
	memset(name, 0x01, len);
	assert_true(ASN1_STRING_set(ia5, name, (int)len));
	GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	assert_true(sk_GENERAL_NAME_push(gens, gn));
	assert_true(X509_set_version(x, X509_VERSION_3));
	assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), 1));
	assert_true(X509_NAME_add_entry_by_txt(
	    n, "CN", MBSTRING_ASC, (const unsigned char *)"huge", -1, -1, 0));
	assert_true(X509_set_subject_name(x, n));
	assert_true(X509_set_issuer_name(x, n));
	assert_non_null(X509_time_adj_ex(
	    X509_getm_notBefore(x), -1, 0, &(time_t){(time_t)PINNED_TIME}));
	assert_non_null(X509_time_adj_ex(
	    X509_getm_notAfter(x), 1, 0, &(time_t){(time_t)PINNED_TIME}));
	assert_true(X509_set_pubkey(x, k));
	assert_true(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(n);
	EVP_PKEY_free(k);
	free(name);
	return x;
}

/* A message that would pass its maximum (CKI_SB_MSG_MAX) fails the
 * verification with CK_E_REFUSED, saying so; it is never cut short. The
 * same certificate with a short name is explained in full. */
static void
test_message_too_large(void **state)
{
	static const size_t lens[] = {4000, CKI_SB_MSG_MAX / 4 + 16};

	(void)state;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		X509_STORE *store = X509_STORE_new();
		X509 *x = huge_san_cert(lens[i]);
		struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
		json_t *rep = NULL, *f0;
		const char *msg;
		int valid = -1;
		ck_status st;

		assert_true(X509_STORE_add_cert(store, x));
		p.time = PINNED_TIME;
		p.host = "device.example.test";
		st = cki_verify_chain(ctx, store, x, NULL, &p, &rep, &valid);
		if (i == 0) {
			assert_int_equal(st, CK_OK);
			assert_int_equal(valid, 0);
			f0 =
			    json_array_get(json_object_get(rep, "findings"), 0);
			assert_string_equal(
			    json_string_value(json_object_get(f0, "code")),
			    "hostname_mismatch");
			msg = json_string_value(json_object_get(f0, "message"));
			assert_non_null(msg);
			/* The whole name, escaped, and the sentence's end. */
			assert_true(strlen(msg) > 4 * lens[i]);
			assert_non_null(strstr(msg, "\\x01."));
		} else {
			assert_int_equal(st, CK_E_REFUSED);
			assert_null(rep);
			assert_non_null(strstr(ck_ctx_error(ctx),
			    "the explanation of the hostname_mismatch finding "
			    "at depth 0 would pass 1 MiB"));
		}
		json_decref(rep);
		X509_free(x);
		X509_STORE_free(store);
		ck_ctx_free(ctx);
	}
}

/* The report of one bundle under fresh options (a new, empty cache). */
static char *
fresh_report(ck_ctx *ctx, const ck_bundle *b)
{
	ck_verify_opts *o = vopts(ctx);
	char *json = NULL;
	int valid;

	assert_non_null(o);
	assert_int_equal(
	    ck_verify_opts_add_roots(o, pki("root-ca.pem")), CK_OK);
	assert_int_equal(
	    ck_verify_opts_add_untrusted(o, pki("int-ca.pem")), CK_OK);
	assert_int_equal(
	    ck_verify_opts_add_untrusted(o, pki("sub-ca.pem")), CK_OK);
	assert_int_equal(ck_verify(ctx, o, b, &json, &valid), CK_OK);
	ck_verify_opts_free(o);
	return json;
}

/* Options shared by many verifications cache the CA certificates' chain
 * entries: one certificate met at another depth, or as the target itself,
 * gets its own entry, and every report equals the uncached one. */
static void
test_cache_entries(void **state)
{
	static const char *const files[] = {
	    "leaf.pem", "int-ca.pem", "sub-leaf.pem", "root-ca.pem"};
	static const int order[] = {0, 1, 2, 3, 0, 2, 1, 3, 0, 0};
	ck_bundle *b[4] = {NULL};
	ck_ctx *ctx = ck_ctx_new();
	ck_verify_opts *o;
	char *json = NULL, *want;
	int valid;

	(void)state;
	assert_non_null(ctx);
	ck_ctx_set_time(ctx, PINNED_TIME);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(
		    ck_load_file(ctx, pki(files[i]), &b[i]), CK_OK);
	assert_non_null(o = vopts(ctx));
	assert_int_equal(
	    ck_verify_opts_add_roots(o, pki("root-ca.pem")), CK_OK);
	assert_int_equal(
	    ck_verify_opts_add_untrusted(o, pki("int-ca.pem")), CK_OK);
	assert_int_equal(
	    ck_verify_opts_add_untrusted(o, pki("sub-ca.pem")), CK_OK);
	for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		const ck_bundle *t = b[order[k]];

		assert_int_equal(ck_verify(ctx, o, t, &json, &valid), CK_OK);
		want = fresh_report(ctx, t);
		if (strcmp(json, want) != 0)
			fail_msg("%s (step %zu): cached report\n%s\nwant\n%s",
			    files[order[k]], k, json, want);
		ck_free(json);
		ck_free(want);
	}
	ck_verify_opts_free(o);
	for (size_t i = 0; i < 4; i++)
		ck_bundle_free(b[i]);
	ck_ctx_free(ctx);
}

/* The settings of one step of test_cache_params, applied to options. */
struct pstep {
	const char *host, *crl;
	ck_purpose purpose;
	int depth;
	int64_t at;
	ck_policy policy;
};

static void
apply_step(ck_ctx *ctx, ck_verify_opts *o, const struct pstep *st)
{
	ck_ctx_set_time(ctx, st->at);
	if (st->host != NULL)
		assert_int_equal(ck_verify_opts_set_host(o, st->host), CK_OK);
	if (st->crl != NULL)
		assert_int_equal(
		    ck_verify_opts_add_crl(o, pki(st->crl)), CK_OK);
	ck_verify_opts_set_purpose(o, st->purpose);
	ck_verify_opts_set_max_depth(o, st->depth);
	assert_int_equal(ck_verify_opts_set_policy(o, st->policy), CK_OK);
}

/* The report's "parameters" are cached with the inputs they came from:
 * options changed between two verifications (a host of the same length
 * included, whose copy may reuse the same memory), or another time, give
 * the report fresh options give. */
static void
test_cache_params(void **state)
{
	static const struct pstep steps[] = {
	    {NULL, NULL, CK_PURPOSE_SERVER, -1, PINNED_TIME, CK_POLICY_COMPAT},
	    {"device.example.test", NULL, CK_PURPOSE_SERVER, -1, PINNED_TIME,
	        CK_POLICY_COMPAT},
	    {"wrong0.example.test", NULL, CK_PURPOSE_SERVER, -1, PINNED_TIME,
	        CK_POLICY_COMPAT},
	    {"wrong0.example.test", NULL, CK_PURPOSE_CLIENT, -1, PINNED_TIME,
	        CK_POLICY_COMPAT},
	    {"wrong0.example.test", NULL, CK_PURPOSE_CLIENT, 3, PINNED_TIME,
	        CK_POLICY_COMPAT},
	    {"wrong0.example.test", NULL, CK_PURPOSE_CLIENT, 3,
	        PINNED_TIME + 86400, CK_POLICY_COMPAT},
	    {"wrong0.example.test", NULL, CK_PURPOSE_CLIENT, 3,
	        PINNED_TIME + 86400, CK_POLICY_STRICT},
	    {"wrong0.example.test", "int-ca.crl", CK_PURPOSE_CLIENT, 3,
	        PINNED_TIME + 86400, CK_POLICY_STRICT},
	};
	ck_ctx *ctx = ck_ctx_new();
	ck_verify_opts *o, *f;
	ck_bundle *b = NULL;
	char *json = NULL, *want = NULL;
	int valid;

	(void)state;
	assert_non_null(ctx);
	assert_int_equal(ck_load_file(ctx, pki("chain.pem"), &b), CK_OK);
	assert_non_null(o = vopts(ctx));
	assert_int_equal(
	    ck_verify_opts_add_roots(o, pki("root-ca.pem")), CK_OK);
	for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
		apply_step(ctx, o, &steps[k]);
		assert_int_equal(ck_verify(ctx, o, b, &json, &valid), CK_OK);
		assert_non_null(f = vopts(ctx));
		assert_int_equal(
		    ck_verify_opts_add_roots(f, pki("root-ca.pem")), CK_OK);
		for (size_t j = 0; j <= k; j++)
			apply_step(ctx, f, &steps[j]);
		assert_int_equal(ck_verify(ctx, f, b, &want, &valid), CK_OK);
		if (strcmp(json, want) != 0)
			fail_msg("step %zu: cached report\n%s\nwant\n%s", k,
			    json, want);
		ck_free(json);
		ck_free(want);
		ck_verify_opts_free(f);
	}
	ck_verify_opts_free(o);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_all_findings),
	    cmocka_unit_test(test_never_valid_hostile_store),
	    cmocka_unit_test(test_store_with_custom_steps),
	    cmocka_unit_test(test_agrees_with_openssl),
	    cmocka_unit_test(test_params_refused),
	    cmocka_unit_test(test_name_always_checked),
	    cmocka_unit_test(test_setters),
	    cmocka_unit_test(test_roots_dir),
	    cmocka_unit_test(test_system_store),
	    cmocka_unit_test(test_code_map),
	    cmocka_unit_test(test_run_agrees),
	    cmocka_unit_test(test_message_too_large),
	    cmocka_unit_test(test_cache_entries),
	    cmocka_unit_test(test_cache_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
