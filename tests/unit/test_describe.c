/*
 * test_describe.c: lib/pki/describe.c: the "show" report.
 *
 * Every field of a certificate is checked on leaf.pem (its names, dates,
 * serials and extensions are fixed by tests/pki/README.md), digests against
 * names.c's independent accessors, then CSRs, CRLs, key matching, weak
 * signatures and keys, and the damaged inputs a report must survive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "chain_int.h"

#define MAXF 6

static ck_bundle *
load_all(ck_ctx *ctx, const char *const *files)
{
	ck_bundle *all = ck_bundle_new(), *one = NULL;

	assert_non_null(all);
	for (int i = 0; i < MAXF && files[i] != NULL; i++) {
		if (ck_load_file(ctx, pki(files[i]), &one) != CK_OK)
			fail_msg("%s: %s", files[i], ck_ctx_error(ctx));
		assert_int_equal(ck_bundle_merge(all, one), CK_OK);
		ck_bundle_free(one);
	}
	return all;
}

/* Describes the files at time t and returns the parsed report. */
static json_t *
describe_at(int64_t t, const char *const *files)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b;
	char *text = NULL;
	json_t *doc;
	json_error_t e;

	assert_non_null(ctx);
	assert_int_equal(ck_ctx_set_password(ctx, "secret"), CK_OK);
	ck_ctx_set_time(ctx, t);
	b = load_all(ctx, files);
	if (ck_describe(ctx, b, &text) != CK_OK)
		fail_msg("ck_describe: %s", ck_ctx_error(ctx));
	doc = json_loads(text, 0, &e);
	if (doc == NULL)
		fail_msg("bad JSON: %s", e.text);
	ck_free(text);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
	return doc;
}

#define DESCRIBE(...)                                                          \
	describe_at(PINNED_TIME, (const char *const[MAXF]){__VA_ARGS__})

static json_t *
cert(json_t *doc, size_t i)
{
	json_t *c = json_array_get(json_object_get(doc, "certificates"), i);

	assert_non_null(c);
	return c;
}

static const char *
s(json_t *o, const char *path)
{
	/* "a.b" walks objects. */
	char key[64];
	const char *dot;

	while ((dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		o = json_object_get(o, key);
		path = dot + 1;
	}
	o = json_object_get(o, path);
	if (!json_is_string(o))
		fail_msg("%s is not a string", path);
	return json_string_value(o);
}

/* The JSON array as "a|b|c", to compare lists in one assertion. */
static const char *
list(json_t *o, const char *path)
{
	static char buf[1024];
	char key[64];
	const char *dot;
	size_t i, off = 0;
	json_t *v;

	while ((dot = strchr(path, '.')) != NULL) {
		snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
		o = json_object_get(o, key);
		path = dot + 1;
	}
	o = json_object_get(o, path);
	if (!json_is_array(o))
		fail_msg("%s is not an array", path);
	buf[0] = '\0';
	json_array_foreach(o, i, v)
	{
		if (json_is_integer(v))
			off += (size_t)snprintf(buf + off, sizeof(buf) - off,
			    "%s%lld", i ? "|" : "",
			    (long long)json_integer_value(v));
		else
			off += (size_t)snprintf(buf + off, sizeof(buf) - off,
			    "%s%s", i ? "|" : "", json_string_value(v));
	}
	return buf;
}

static long long
n(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", key);
	return (long long)json_integer_value(v);
}

/* The codes of the report's findings, "a b c". */
static const char *
codes(json_t *doc)
{
	static char buf[512];
	json_t *f;
	size_t i, off = 0;

	buf[0] = '\0';
	json_array_foreach(json_object_get(doc, "findings"), i, f) off +=
	    (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%s", i ? " " : "",
	        json_string_value(json_object_get(f, "code")));
	return buf;
}

static void
test_leaf_every_field(void **state)
{
	json_t *doc = DESCRIBE("leaf.pem"), *c = cert(doc, 0);
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	char hex[65];

	(void)state;
	assert_string_equal(s(doc, "report"), "show");
	assert_int_equal(n(doc, "version"), 2);
	assert_string_equal(s(doc, "at"), "2026-06-01T00:00:00Z");
	assert_int_equal(n(c, "index"), 1);
	assert_non_null(
	    strstr(s(c, "origin"), "leaf.pem: block 1 (CERTIFICATE)"));
	assert_string_equal(s(c, "subject"),
	    "C = US, O = certkit tests, CN = device.example.test");
	assert_string_equal(s(c, "label"), "device.example.test");
	assert_string_equal(s(c, "issuer"),
	    "C = US, O = certkit tests, CN = certkit Test Issuing CA");
	/* First 16 bytes of SHA-256("leaf"), top bits 01 (README). */
	assert_string_equal(
	    s(c, "serial"), "5F:91:16:1F:43:43:3E:49:A6:DE:6D:B6:80:D7:9F:60");
	assert_int_equal(n(c, "version"), 3);
	assert_string_equal(s(c, "not_before"), "2025-01-01T00:00:00Z");
	assert_string_equal(s(c, "not_after"), "2027-01-01T00:00:00Z");
	assert_string_equal(s(c, "validity"), "valid");
	assert_int_equal(n(c, "days_left"), 214);
	assert_null(json_object_get(c, "days_expired"));
	assert_string_equal(
	    list(c, "sans.dns"), "device.example.test|*.cams.example.test");
	/* IPv6 in its RFC 5952 form, not hex bytes. */
	assert_string_equal(list(c, "sans.ip"), "192.0.2.10|2001:db8::10");
	assert_string_equal(list(c, "sans.email"), "admin@example.test");
	assert_string_equal(
	    list(c, "sans.uri"), "https://device.example.test/");
	assert_string_equal(list(c, "sans.other"), "");
	assert_string_equal(s(c, "public_key.type"), "EC");
	assert_string_equal(s(c, "public_key.curve"), "P-256");
	assert_int_equal(n(json_object_get(c, "public_key"), "bits"), 256);
	assert_true(json_is_false(
	    json_object_get(json_object_get(c, "public_key"), "weak")));
	assert_string_equal(s(c, "signature.algorithm"), "ecdsa-with-SHA256");
	assert_string_equal(s(c, "signature.hash"), "SHA256");
	assert_true(json_is_false(
	    json_object_get(json_object_get(c, "signature"), "weak")));
	assert_string_equal(list(c, "key_usage"), "digitalSignature");
	assert_string_equal(
	    list(c, "extended_key_usage"), "serverAuth|clientAuth");
	assert_true(json_is_false(
	    json_object_get(json_object_get(c, "basic_constraints"), "ca")));
	assert_true(json_is_null(json_object_get(
	    json_object_get(c, "basic_constraints"), "path_len")));
	assert_int_equal(strlen(s(c, "ski")), 20 * 3 - 1);
	assert_string_equal(
	    list(c, "aia.ca_issuers"), "http://127.0.0.1:8080/int-ca.der");
	assert_string_equal(list(c, "aia.ocsp"), "");
	assert_string_equal(list(c, "crl_distribution_points"),
	    "http://127.0.0.1:8080/int.crl");
	assert_true(json_is_null(json_object_get(c, "name_constraints")));
	/* Digests agree with names.c's own accessors. */
	assert_int_equal(ck_load_file(ctx, pki("leaf.pem"), &b), CK_OK);
	ck_cert_sha256(ck_bundle_get0_cert(b, 0), hex);
	assert_string_equal(s(c, "sha256"), hex);
	assert_int_equal(strlen(s(c, "sha256_fingerprint")), 95);
	assert_int_equal(strncasecmp(s(c, "sha256_fingerprint"), hex, 2), 0);
	ck_cert_spki_sha256(ck_bundle_get0_cert(b, 0), hex);
	assert_string_equal(s(c, "spki_sha256"), hex);
	assert_int_equal(strlen(s(c, "spki_sha256_base64")), 44);
	assert_true(json_is_false(json_object_get(c, "self_signed")));
	assert_true(json_is_false(json_object_get(c, "is_ca")));
	assert_string_equal(s(c, "role"), "leaf");
	assert_string_equal(list(c, "keys"), "");
	assert_true(json_is_null(json_object_get(c, "revoked")));
	assert_string_equal(codes(doc), "");
	assert_int_equal(n(json_object_get(doc, "summary"), "errors"), 0);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
	json_decref(doc);
}

static void
test_ca_fields(void **state)
{
	json_t *doc =
	    DESCRIBE("leaf.pem", "int-ca.pem", "root-ca.pem", "nc-ca.pem");
	json_t *leaf = cert(doc, 0), *in = cert(doc, 1), *root = cert(doc, 2),
	       *nc = cert(doc, 3);

	(void)state;
	/* The leaf's AKI is its issuer's SKI (RFC 5280 4.2.1.1). */
	assert_string_equal(s(leaf, "aki"), s(in, "ski"));
	assert_string_equal(s(in, "role"), "intermediate");
	assert_true(json_is_true(json_object_get(in, "is_ca")));
	assert_int_equal(
	    n(json_object_get(in, "basic_constraints"), "path_len"), 0);
	assert_string_equal(list(in, "key_usage"), "keyCertSign|cRLSign");
	assert_string_equal(list(in, "aia.ocsp"), "http://127.0.0.1:8080/ocsp");
	assert_string_equal(list(in, "crl_distribution_points"),
	    "http://127.0.0.1:8080/root.crl");
	assert_string_equal(s(root, "role"), "root");
	assert_true(json_is_true(json_object_get(root, "self_signed")));
	assert_true(json_is_true(json_object_get(
	    json_object_get(root, "basic_constraints"), "critical")));
	assert_true(json_is_null(json_object_get(
	    json_object_get(root, "basic_constraints"), "path_len")));
	assert_string_equal(s(root, "public_key.type"), "RSA");
	assert_int_equal(n(json_object_get(root, "public_key"), "bits"), 2048);
	assert_true(json_is_null(
	    json_object_get(json_object_get(root, "public_key"), "curve")));
	assert_string_equal(
	    s(root, "signature.algorithm"), "sha256WithRSAEncryption");
	assert_string_equal(
	    list(nc, "name_constraints.permitted"), "DNS:.allowed.test");
	assert_string_equal(list(nc, "name_constraints.excluded"), "");
	/* The chain block: links and order. */
	assert_string_equal(
	    list(json_object_get(doc, "chain"), "order"), "1|2|3|4");
	json_decref(doc);
}

struct validity_case {
	const char *file;
	int64_t at;
	const char *validity;
	const char *days_key;
	long long days;
	const char *codes;
};

static void
test_validity(void **state)
{
	static const struct validity_case cases[] = {
	    {"leaf.pem", PINNED_TIME, "valid", "days_left", 214, ""},
	    /* 2021-01-01 to 2026-06-01 */
	    {"leaf-expired.pem", PINNED_TIME, "expired", "days_expired", 1977,
	        "cert_expired"},
	    /* 2026-06-01 to 2030-01-01, rounded up */
	    {"leaf-notyet.pem", PINNED_TIME, "not_yet_valid",
	        "days_until_valid", 1310, "cert_not_yet_valid"},
	    /* the last second is still valid (RFC 5280 4.1.2.5) */
	    {"leaf.pem", INT64_C(1798761600), "valid", "days_left", 0, ""},
	    {"leaf.pem", INT64_C(1798761601), "expired", "days_expired", 0,
	        "cert_expired"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct validity_case *v = &cases[i];
		json_t *doc =
		    describe_at(v->at, (const char *const[MAXF]){v->file});
		json_t *c = cert(doc, 0);

		assert_string_equal(s(c, "validity"), v->validity);
		if (n(c, v->days_key) != v->days)
			fail_msg("%s at %lld: %s = %lld, expected %lld",
			    v->file, (long long)v->at, v->days_key,
			    n(c, v->days_key), v->days);
		assert_string_equal(codes(doc), v->codes);
		json_decref(doc);
	}
}

static void
test_weak(void **state)
{
	json_t *doc = DESCRIBE(
	    "leaf-sha1.pem", "leaf-weakkey.pem", "leaf-selfsigned.pem");
	json_t *sha1 = cert(doc, 0), *wk = cert(doc, 1), *f;

	(void)state;
	assert_string_equal(s(sha1, "signature.algorithm"), "ecdsa-with-SHA1");
	assert_string_equal(s(sha1, "signature.hash"), "SHA1");
	assert_true(json_is_true(
	    json_object_get(json_object_get(sha1, "signature"), "weak")));
	assert_true(json_is_true(
	    json_object_get(json_object_get(wk, "public_key"), "weak")));
	assert_int_equal(n(json_object_get(wk, "public_key"), "bits"), 1024);
	/* Warnings, sorted after errors; each names its certificate. */
	assert_string_equal(codes(doc),
	    "weak_signature weak_key "
	    "multiple_leaves unrelated");
	f = json_array_get(json_object_get(doc, "findings"), 0);
	assert_string_equal(s(f, "severity"), "warning");
	assert_non_null(
	    strstr(s(f, "message"), "certificate 1 \"sha1.example.test\""));
	assert_string_equal(list(f, "certificates"), "1");
	json_decref(doc);
}

static void
test_csr(void **state)
{
	json_t *doc = DESCRIBE("leaf.csr", "leaf.key"), *r, *k;

	(void)state;
	r = json_array_get(json_object_get(doc, "csrs"), 0);
	assert_non_null(r);
	assert_string_equal(s(r, "subject"),
	    "C = US, O = certkit tests, CN = device.example.test");
	assert_string_equal(list(r, "sans.dns"), "device.example.test");
	assert_string_equal(list(r, "sans.ip"), "192.0.2.10");
	assert_string_equal(s(r, "public_key.type"), "EC");
	assert_string_equal(s(r, "signature.algorithm"), "ecdsa-with-SHA256");
	assert_true(json_is_true(json_object_get(r, "signature_valid")));
	assert_string_equal(list(r, "keys"), "1");
	k = json_array_get(json_object_get(doc, "keys"), 0);
	assert_string_equal(s(k, "spki_sha256"), s(r, "spki_sha256"));
	/* No certificates: a lone key is not a mismatch. */
	assert_string_equal(codes(doc), "");
	json_decref(doc);
	doc = DESCRIBE("leaf.csr.der");
	r = json_array_get(json_object_get(doc, "csrs"), 0);
	assert_true(json_is_true(json_object_get(r, "signature_valid")));
	json_decref(doc);
}

static void
test_crl(void **state)
{
	json_t *doc = DESCRIBE("int-ca.crl"), *r, *e;

	(void)state;
	r = json_array_get(json_object_get(doc, "crls"), 0);
	assert_string_equal(s(r, "issuer"),
	    "C = US, O = certkit tests, CN = certkit Test Issuing CA");
	assert_string_equal(s(r, "last_update"), "2026-01-01T00:00:00Z");
	assert_string_equal(s(r, "next_update"), "2027-01-01T00:00:00Z");
	assert_string_equal(s(r, "status"), "current");
	assert_string_equal(s(r, "number"), "1");
	assert_int_equal(n(r, "revoked_total"), 1);
	e = json_array_get(json_object_get(r, "revoked"), 0);
	assert_string_equal(
	    s(e, "serial"), "76:15:B9:61:50:A7:CE:FE:DF:44:67:93:24:46:27:C3");
	assert_string_equal(s(e, "date"), "2026-02-01T00:00:00Z");
	assert_string_equal(s(e, "reason"), "keyCompromise");
	/* Without its issuer, the signature is not judged. */
	assert_true(json_is_null(json_object_get(r, "issuer_certificate")));
	assert_true(json_is_null(json_object_get(r, "signature_valid")));
	json_decref(doc);

	/* With the issuer and the revoked certificate. */
	doc = DESCRIBE("leaf-revoked.pem", "int-ca.pem", "int-ca.crl.der");
	r = json_array_get(json_object_get(doc, "crls"), 0);
	assert_int_equal(n(r, "issuer_certificate"), 2);
	assert_true(json_is_true(json_object_get(r, "signature_valid")));
	e = json_object_get(cert(doc, 0), "revoked");
	assert_int_equal(n(e, "crl"), 1);
	assert_string_equal(s(e, "reason"), "keyCompromise");
	assert_string_equal(codes(doc), "cert_revoked");
	assert_int_equal(n(json_object_get(doc, "summary"), "errors"), 1);
	json_decref(doc);

	/* After nextUpdate the CRL is stale (RFC 5280 5.1.2.5). */
	doc = describe_at(INT64_C(1830297600), /* 2028-01-01 */
	    (const char *const[MAXF]){"root-ca.crl"});
	r = json_array_get(json_object_get(doc, "crls"), 0);
	assert_string_equal(s(r, "status"), "stale");
	assert_int_equal(n(r, "revoked_total"), 0);
	assert_string_equal(codes(doc), "crl_stale");
	json_decref(doc);
}

static void
test_key_matching(void **state)
{
	json_t *doc = DESCRIBE("fullchain.pem", "leaf.key"), *k, *m;

	(void)state;
	k = json_array_get(json_object_get(doc, "keys"), 0);
	assert_non_null(strstr(s(k, "origin"), "leaf.key: block 1"));
	assert_string_equal(s(k, "public_key.type"), "EC");
	assert_int_equal(n(k, "matches_total"), 1);
	m = json_array_get(json_object_get(k, "matches"), 0);
	assert_int_equal(n(m, "index"), 1);
	assert_string_equal(s(m, "subject"),
	    "C = US, O = certkit tests, CN = device.example.test");
	assert_string_equal(list(cert(doc, 0), "keys"), "1");
	assert_string_equal(list(cert(doc, 1), "keys"), "");
	/* The key's SPKI digest is the certificate's pin. */
	assert_string_equal(
	    s(k, "spki_sha256"), s(cert(doc, 0), "spki_sha256"));
	/* Never any key material in the report: not even the first line of
	 * the key's base64. */
	{
		char *text = json_dumps(doc, 0), line[128] = "";
		FILE *f = fopen(pki("leaf.key"), "r");

		assert_non_null(f);
		assert_non_null(fgets(line, sizeof(line), f)); /* BEGIN */
		assert_non_null(fgets(line, sizeof(line), f));
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		assert_true(strlen(line) > 40);
		assert_null(strstr(text, line));
		free(text);
	}
	json_decref(doc);

	/* A key and a certificate that do not belong together. */
	doc = DESCRIBE("other-leaf.pem", "leaf.key");
	assert_string_equal(codes(doc), "key_mismatch");
	k = json_array_get(json_object_get(doc, "findings"), 0);
	assert_string_equal(s(k, "severity"), "error");
	assert_string_equal(list(k, "keys"), "1");
	json_decref(doc);

	/* The same key from PKCS#12 and from a traditional file. */
	doc = DESCRIBE("leaf.p12", "leaf-trad.key");
	assert_int_equal(
	    n(json_array_get(
	          json_object_get(
	              json_array_get(json_object_get(doc, "keys"), 1),
	              "matches"),
	          0),
	        "index"),
	    1);
	assert_int_equal(
	    n(json_array_get(json_object_get(doc, "keys"), 1), "matches_total"),
	    1);
	assert_string_equal(list(cert(doc, 0), "keys"), "1|2");
	json_decref(doc);
}

static void
test_chain_block(void **state)
{
	json_t *doc = DESCRIBE("reversed.pem"), *chain, *f;

	(void)state;
	assert_string_equal(
	    codes(doc), "leaf_not_first reversed_order root_included");
	chain = json_object_get(doc, "chain");
	assert_string_equal(list(chain, "order"), "3|2|1");
	f = json_array_get(json_object_get(doc, "findings"), 0);
	assert_string_equal(s(f, "severity"), "error");
	assert_non_null(strstr(s(f, "fix"), "certkit convert --normalize"));
	assert_int_equal(n(json_object_get(doc, "summary"), "errors"), 1);
	assert_int_equal(n(json_object_get(doc, "summary"), "warnings"), 1);
	assert_int_equal(n(json_object_get(doc, "summary"), "infos"), 1);
	json_decref(doc);
}

/* ---- damaged input built here -------------------------------------------- */

static X509 *
make_cert(EVP_PKEY *k, const char *cn, GENERAL_NAMES *san)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();

	assert_true(X509_set_version(x, X509_VERSION_3));
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_NAME_add_entry_by_txt(
	    nm, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	assert_true(X509_set_subject_name(x, nm));
	assert_true(X509_set_issuer_name(x, nm));
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), 1735689600));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), 1798761600));
	assert_true(X509_set_pubkey(x, k));
	if (san != NULL)
		assert_true(
		    X509_add1_ext_i2d(x, NID_subject_alt_name, san, 0, 0));
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	X509_NAME_free(nm);
	return x;
}

static json_t *
describe_bundle(ck_bundle *b)
{
	ck_ctx *ctx = ck_ctx_new();
	char *text = NULL;
	json_t *doc;

	ck_ctx_set_time(ctx, PINNED_TIME);
	if (ck_describe(ctx, b, &text) != CK_OK)
		fail_msg("ck_describe: %s", ck_ctx_error(ctx));
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	ck_free(text);
	ck_ctx_free(ctx);
	return doc;
}

/* A NUL inside a dNSName (the classic "bank.com\0.evil" trick) and a
 * non-UTF-8 URI are shown escaped, never cut or passed through. */
static void
test_hostile_names(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *dns = GENERAL_NAME_new(), *uri = GENERAL_NAME_new(),
	             *ip = GENERAL_NAME_new();
	ASN1_IA5STRING *a = ASN1_IA5STRING_new(), *u = ASN1_IA5STRING_new();
	ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();
	ck_bundle *b = ck_bundle_new();
	json_t *doc;

	(void)state;
	assert_true(ASN1_STRING_set(a, "bank.test\0.evil.test", 20));
	assert_true(ASN1_STRING_set(u, "http://\xff/", 9));
	assert_true(
	    ASN1_OCTET_STRING_set(o, (const unsigned char *)"\x01\x02\x03", 3));
	GENERAL_NAME_set0_value(dns, GEN_DNS, a);
	GENERAL_NAME_set0_value(uri, GEN_URI, u);
	GENERAL_NAME_set0_value(ip, GEN_IPADD, o);
	sk_GENERAL_NAME_push(gens, dns);
	sk_GENERAL_NAME_push(gens, uri);
	sk_GENERAL_NAME_push(gens, ip);
	assert_int_equal(
	    cki_bundle_push(b, CK_OBJ_CERT,
	        cki_cert_wrap(make_cert(k, "hostile", gens)), "x: block 1"),
	    CK_OK);
	doc = describe_bundle(b);
	assert_string_equal(
	    list(cert(doc, 0), "sans.dns"), "bank.test\\x00.evil.test");
	assert_string_equal(list(cert(doc, 0), "sans.uri"), "http://\\xff/");
	/* An IP of impossible length shows its bytes. */
	assert_string_equal(list(cert(doc, 0), "sans.ip"), "(3 bytes: 010203)");
	json_decref(doc);
	GENERAL_NAMES_free(gens);
	ck_bundle_free(b);
	EVP_PKEY_free(k);
}

/* A CSR altered after signing, and a CRL next to a certificate that has
 * the CRL issuer's name but not its key. */
static void
test_bad_signatures(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509_REQ *req = X509_REQ_new();
	X509_NAME *nm = X509_NAME_new();
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL, *crl = NULL;
	X509 *impostor;
	json_t *doc;

	(void)state;
	X509_NAME_add_entry_by_txt(
	    nm, "CN", MBSTRING_ASC, (const unsigned char *)"before", -1, -1, 0);
	assert_true(X509_REQ_set_subject_name(req, nm));
	assert_true(X509_REQ_set_pubkey(req, k));
	assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	X509_NAME_free(nm);
	nm = X509_NAME_new();
	X509_NAME_add_entry_by_txt(
	    nm, "CN", MBSTRING_ASC, (const unsigned char *)"after", -1, -1, 0);
	assert_true(X509_REQ_set_subject_name(req, nm));
	X509_NAME_free(nm);

	assert_int_equal(ck_load_file(ctx, pki("int-ca.crl"), &crl), CK_OK);
	b = ck_bundle_new();
	assert_int_equal(
	    cki_bundle_push(b, CK_OBJ_CSR, req, "x: block 1"), CK_OK);
	/* Same subject as the CRL's issuer, another key. */
	impostor = make_cert(k, "certkit Test Issuing CA", NULL);
	nm = X509_NAME_dup(
	    X509_CRL_get_issuer(cki_bundle_get(crl, CK_OBJ_CRL, 0)));
	assert_true(X509_set_subject_name(impostor, nm));
	X509_NAME_free(nm);
	assert_int_equal(cki_bundle_push(b, CK_OBJ_CERT,
	                     cki_cert_wrap(impostor), "y: block 1"),
	    CK_OK);
	assert_int_equal(ck_bundle_merge(b, crl), CK_OK);
	doc = describe_bundle(b);
	assert_true(json_is_false(
	    json_object_get(json_array_get(json_object_get(doc, "csrs"), 0),
	        "signature_valid")));
	assert_true(json_is_false(
	    json_object_get(json_array_get(json_object_get(doc, "crls"), 0),
	        "signature_valid")));
	assert_string_equal(codes(doc), "csr_bad_signature crl_bad_signature");
	json_decref(doc);
	ck_bundle_free(crl);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
	EVP_PKEY_free(k);
}

/* A certificate holding a compressed EC point still matches its key, whose
 * own encoding is uncompressed: the digest index misses, the fallback
 * comparison finds it. */
static void
test_key_compressed_point(void **state)
{
	EVP_PKEY *k = EVP_EC_gen("P-256"), *kc;
	ck_bundle *b = ck_bundle_new();
	json_t *doc, *key;

	(void)state;
	assert_non_null(k);
	kc = EVP_PKEY_dup(k);
	assert_non_null(kc);
	assert_true(EVP_PKEY_set_utf8_string_param(
	    kc, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"));
	assert_int_equal(
	    cki_bundle_push(b, CK_OBJ_CERT,
	        cki_cert_wrap(make_cert(kc, "compressed", NULL)), "x: block 1"),
	    CK_OK);
	assert_true(EVP_PKEY_up_ref(k));
	assert_int_equal(
	    cki_bundle_push(b, CK_OBJ_KEY, cki_key_wrap(k), "x: block 2"),
	    CK_OK);
	doc = describe_bundle(b);
	key = json_array_get(json_object_get(doc, "keys"), 0);
	assert_int_equal(n(key, "matches_total"), 1);
	/* The encodings differ, so the digests do too. */
	assert_string_not_equal(
	    s(key, "spki_sha256"), s(cert(doc, 0), "spki_sha256"));
	assert_string_equal(codes(doc), "");
	json_decref(doc);
	ck_bundle_free(b);
	EVP_PKEY_free(kc);
	EVP_PKEY_free(k);
}

static void
test_empty_and_usage(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = ck_bundle_new();
	char *text = NULL;
	json_t *doc;

	(void)state;
	assert_int_equal(ck_describe(ctx, NULL, &text), CK_E_USAGE);
	assert_null(text);
	assert_int_equal(ck_describe(ctx, b, NULL), CK_E_USAGE);
	assert_int_equal(ck_describe(ctx, b, &text), CK_OK);
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	assert_int_equal(n(json_object_get(doc, "summary"), "certificates"), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "findings")), 0);
	assert_int_equal(json_array_size(json_object_get(
	                     json_object_get(doc, "chain"), "chains")),
	    0);
	json_decref(doc);
	ck_free(text);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* n copies of a key and its certificate: each certificate lists at most
 * 100 keys and each key at most 100 certificates, with the full count, so
 * the report is linear in n (it was n * n). */
static void
test_many_copies_of_a_key(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	const char *files[] = {"leaf.pem", "leaf.key", NULL};
	ck_bundle *one = load_all(ctx, files), *b = ck_bundle_new();
	char *text = NULL;
	json_t *doc, *c, *k;
	size_t i, listed = 0;

	(void)state;
	for (int n = 0; n < 150; n++) {
		assert_int_equal(
		    ck_bundle_add_cert(b, ck_bundle_get0_cert(one, 0)), CK_OK);
		assert_int_equal(
		    ck_bundle_add_key(b, ck_bundle_get0_key(one, 0)), CK_OK);
	}
	assert_int_equal(ck_describe(ctx, b, &text), CK_OK);
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	json_array_foreach(json_object_get(doc, "certificates"), i, c)
	{
		assert_true(json_array_size(json_object_get(c, "keys")) <= 100);
		listed += json_array_size(json_object_get(c, "keys"));
	}
	json_array_foreach(json_object_get(doc, "keys"), i, k)
	{
		assert_true(
		    json_array_size(json_object_get(k, "matches")) <= 100);
		assert_int_equal(
		    json_integer_value(json_object_get(k, "matches_total")),
		    150);
		listed += json_array_size(json_object_get(k, "matches"));
	}
	/* At most 10,000 key-certificate pairs in all (150 * 150 * 2
	 * before). */
	assert_true(listed > 0 && listed <= 10000);
	c = json_array_get(json_object_get(doc, "certificates"), 0);
	assert_int_equal(
	    json_integer_value(json_array_get(json_object_get(c, "keys"), 0)),
	    1);
	json_decref(doc);
	ck_free(text);
	ck_bundle_free(one);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* 150 copies of a key, its certificate, a CRL and a CSR made from the key
 * (mixed.pem): the CSRs list at most 100 keys each and are matched through
 * an index (it was every CSR against every key, n * n in time and memory). */
static void
test_many_csrs_and_keys(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	FILE *f = fopen(pki("mixed.pem"), "rb");
	char one[8192], *all;
	size_t n, listed = 0, i;
	ck_bundle *b = NULL;
	char *text = NULL;
	json_t *doc, *r;

	(void)state;
	assert_non_null(f);
	n = fread(one, 1, sizeof(one), f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(one));
	assert_non_null(all = malloc(n * 150));
	for (i = 0; i < 150; i++)
		memcpy(all + i * n, one, n);
	assert_int_equal(
	    ck_load_mem(ctx, "mixed150", (uint8_t *)all, n * 150, &b), CK_OK);
	free(all);
	assert_int_equal(ck_bundle_count(b, CK_OBJ_CSR), 150);
	assert_int_equal(ck_describe(ctx, b, &text), CK_OK);
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	json_array_foreach(json_object_get(doc, "csrs"), i, r)
	{
		assert_true(json_array_size(json_object_get(r, "keys")) <= 100);
		listed += json_array_size(json_object_get(r, "keys"));
	}
	r = json_array_get(json_object_get(doc, "csrs"), 0);
	assert_int_equal(
	    json_integer_value(json_array_get(json_object_get(r, "keys"), 0)),
	    1);
	assert_true(listed > 0 && listed <= 10000);
	json_decref(doc);
	ck_free(text);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

struct members {
	char order[256];
	int certs;
	int stop_at; /* stop at this certificate (1-based), 0: never */
};

static ck_status
on_member(void *user, const char *member, const char *json)
{
	struct members *m = user;
	size_t n = strlen(m->order);
	json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);

	assert_non_null(v);
	json_decref(v);
	if (strcmp(member, "certificates") != 0) {
		snprintf(m->order + n, sizeof(m->order) - n, "%s%s",
		    n > 0 ? " " : "", member);
		return CK_OK;
	}
	return ++m->certs == m->stop_at ? CK_E_IO : CK_OK;
}

/* ck_describe_each: every member but the certificates first, then one call
 * per certificate; a status from the callback stops it and is returned. */
static void
test_describe_each(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	const char *files[] = {"chain.pem", "leaf.key", NULL};
	ck_bundle *b = load_all(ctx, files);
	struct members m = {"", 0, 0};

	(void)state;
	assert_int_equal(ck_describe_each(ctx, b, on_member, &m), CK_OK);
	assert_string_equal(
	    m.order, "report version at summary keys csrs crls chain findings");
	assert_int_equal(m.certs, 2);
	memset(&m, 0, sizeof(m));
	m.stop_at = 1;
	assert_int_equal(ck_describe_each(ctx, b, on_member, &m), CK_E_IO);
	assert_int_equal(m.certs, 1);
	assert_int_equal(ck_describe_each(ctx, b, NULL, &m), CK_E_USAGE);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_leaf_every_field),
	    cmocka_unit_test(test_ca_fields),
	    cmocka_unit_test(test_validity),
	    cmocka_unit_test(test_weak),
	    cmocka_unit_test(test_csr),
	    cmocka_unit_test(test_crl),
	    cmocka_unit_test(test_key_matching),
	    cmocka_unit_test(test_chain_block),
	    cmocka_unit_test(test_hostile_names),
	    cmocka_unit_test(test_bad_signatures),
	    cmocka_unit_test(test_key_compressed_point),
	    cmocka_unit_test(test_empty_and_usage),
	    cmocka_unit_test(test_many_copies_of_a_key),
	    cmocka_unit_test(test_many_csrs_and_keys),
	    cmocka_unit_test(test_describe_each),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
