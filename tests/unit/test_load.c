/*
 * test_load.c: the loader (lib/load.c) over every form in the test PKI, and
 * its error messages. Table-driven: each row is a file, the password source,
 * and what must come out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pkcs12.h>

#include "ck_internal.h"
#include "testutil.h"

struct row {
	const char *file;
	const char *password; /* NULL: no password source */
	ck_status status;
	size_t certs, keys, csrs, crls;
	const char *msg; /* fragment of the error message, or of origin 0 */
};

static const struct row rows[] = {
    /* PEM in every shape an admin is handed. */
    {"leaf.pem", NULL, CK_OK, 1, 0, 0, 0, "block 1 (CERTIFICATE)"},
    {"chain.pem", NULL, CK_OK, 2, 0, 0, 0, NULL},
    {"fullchain.pem", NULL, CK_OK, 3, 0, 0, 0, NULL},
    {"crlf.pem", NULL, CK_OK, 3, 0, 0, 0, NULL},
    {"bom.pem", NULL, CK_OK, 2, 0, 0, 0, NULL},
    {"noisy.pem", NULL, CK_OK, 2, 0, 0, 0, NULL},
    {"reversed.pem", NULL, CK_OK, 3, 0, 0, 0, NULL},
    {"dup.pem", NULL, CK_OK, 3, 0, 0, 0, NULL},
    {"mixed.pem", NULL, CK_OK, 2, 1, 1, 1, NULL},
    {"leaf.csr", NULL, CK_OK, 0, 0, 1, 0, "CERTIFICATE REQUEST"},
    {"int-ca.crl", NULL, CK_OK, 0, 0, 0, 1, "X509 CRL"},
    /* DER. */
    {"leaf.der", NULL, CK_OK, 1, 0, 0, 0, "DER certificate"},
    {"int-ca.crl.der", NULL, CK_OK, 0, 0, 0, 1, "DER CRL"},
    {"leaf.csr.der", NULL, CK_OK, 0, 0, 1, 0, "DER CSR"},
    {"leaf.key.der", NULL, CK_OK, 0, 1, 0, 0, "DER private key"},
    /* PKCS#7. */
    {"chain.p7b", NULL, CK_OK, 3, 0, 0, 0, "(PKCS7), certificate 1"},
    {"chain.p7b.der", NULL, CK_OK, 3, 0, 0, 0, "DER PKCS#7"},
    /* PKCS#12: modern, legacy (RC2-40/3DES), empty and no password. */
    {"leaf.p12", "secret", CK_OK, 3, 1, 0, 0, NULL},
    {"leaf-legacy.p12", "secret", CK_OK, 3, 1, 0, 0, NULL},
    {"leaf-empty.p12", NULL, CK_OK, 3, 1, 0, 0, NULL},
    {"leaf-nopass.p12", NULL, CK_OK, 3, 1, 0, 0, NULL},
    {"leaf-nopass.p12", "secret", CK_OK, 3, 1, 0, 0, NULL},
    {"certs-only.p12", "secret", CK_OK, 3, 0, 0, 0, NULL},
    {"leaf.p12", NULL, CK_E_PASSWORD, 0, 0, 0, 0,
        "PKCS#12 file is protected by a password"},
    {"leaf.p12", "wrong", CK_E_PASSWORD, 0, 0, 0, 0,
        "wrong password, or the file is damaged (MAC check failed)"},
    {"leaf-legacy.p12", "wrong", CK_E_PASSWORD, 0, 0, 0, 0, "MAC check failed"},
    /* Keys: PKCS#8 plain and encrypted, traditional RSA and EC. */
    {"leaf.key", NULL, CK_OK, 0, 1, 0, 0, "(PRIVATE KEY)"},
    {"root-ca-trad.key", NULL, CK_OK, 0, 1, 0, 0, "RSA PRIVATE KEY"},
    {"leaf-trad.key", NULL, CK_OK, 0, 1, 0, 0, "EC PRIVATE KEY"},
    {"leaf-pkcs8-enc.key", "secret", CK_OK, 0, 1, 0, 0, NULL},
    {"leaf-trad-enc.key", "secret", CK_OK, 0, 1, 0, 0, NULL},
    {"leaf-pkcs8-enc.key", NULL, CK_E_PASSWORD, 0, 0, 0, 0,
        "(ENCRYPTED PRIVATE KEY) is encrypted"},
    {"leaf-pkcs8-enc.key", "wrong", CK_E_PASSWORD, 0, 0, 0, 0,
        "wrong password"},
    {"leaf-trad-enc.key", "wrong", CK_E_PASSWORD, 0, 0, 0, 0, "wrong password"},
    /* Errors that name the file, what was expected and what was found. */
    {"truncated.pem", NULL, CK_E_FORMAT, 0, 0, 0, 0,
        "truncated.pem: block 2 (CERTIFICATE) is truncated: no END line"},
    {"html.der", NULL, CK_E_FORMAT, 0, 0, 0, 0,
        "html.der: not a certificate, key, CSR, CRL, PKCS#7 or PKCS#12 "
        "file (starts with 3c 68 74 6d: looks like HTML"},
    {"empty.pem", NULL, CK_E_FORMAT, 0, 0, 0, 0, "the file is empty"},
    {"random.bin", NULL, CK_E_FORMAT, 0, 0, 0, 0, "not a certificate"},
    {"text.txt", NULL, CK_E_FORMAT, 0, 0, 0, 0,
        "looks like text with no PEM block in it"},
    {"leaf-pub.pem", NULL, CK_E_FORMAT, 0, 0, 0, 0, "holds only PUBLIC KEY"},
    {"no-such-file.pem", NULL, CK_E_IO, 0, 0, 0, 0,
        "no-such-file.pem: no such file"},
};

static void
test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		ck_ctx *ctx = ck_ctx_new();
		ck_bundle *b = NULL;
		ck_status st;

		assert_non_null(ctx);
		if (r->password != NULL)
			assert_int_equal(
			    ck_ctx_set_password(ctx, r->password), CK_OK);
		st = ck_load_file(ctx, pki(r->file), &b);
		if (st != r->status)
			fail_msg("%s (pw %s): status %s, expected %s: %s",
			    r->file, r->password ? r->password : "-",
			    ck_status_name(st), ck_status_name(r->status),
			    ck_ctx_error(ctx));
		if (st == CK_OK) {
			assert_int_equal(
			    ck_bundle_count(b, CK_OBJ_CERT), r->certs);
			assert_int_equal(
			    ck_bundle_count(b, CK_OBJ_KEY), r->keys);
			assert_int_equal(
			    ck_bundle_count(b, CK_OBJ_CSR), r->csrs);
			assert_int_equal(
			    ck_bundle_count(b, CK_OBJ_CRL), r->crls);
			if (r->msg != NULL) {
				const char *o = NULL;

				for (int t = 0; t < 4 && o == NULL; t++)
					o = ck_bundle_origin(
					    b, (ck_obj_type)t, 0);
				assert_non_null(o);
				if (strstr(o, r->msg) == NULL)
					fail_msg("%s: origin '%s' lacks '%s'",
					    r->file, o, r->msg);
			}
		} else {
			assert_null(b);
			assert_int_equal(ck_ctx_status(ctx), r->status);
			if (strstr(ck_ctx_error(ctx), r->msg) == NULL)
				fail_msg("%s: message '%s' lacks '%s'", r->file,
				    ck_ctx_error(ctx), r->msg);
		}
		ck_bundle_free(b);
		ck_ctx_free(ctx);
	}
}

/* The PKCS#12 password is asked for once, even though the MAC and every
 * encrypted bag need it. */
static int calls;

static int
counting_cb(char *buf, size_t size, const char *what, void *arg)
{
	(void)what;
	(void)arg;
	calls++;
	snprintf(buf, size, "secret");
	return 6;
}

static void
test_password_asked_once(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;

	(void)state;
	calls = 0;
	ck_ctx_set_password_cb(ctx, counting_cb, NULL);
	assert_int_equal(ck_load_file(ctx, pki("leaf-legacy.p12"), &b), CK_OK);
	assert_int_equal(calls, 1);
	ck_bundle_free(b);
	/* No password is asked for a file that needs none. */
	calls = 0;
	assert_int_equal(ck_load_file(ctx, pki("leaf-empty.p12"), &b), CK_OK);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* Byte-level cases that need no file: each string in, a verdict out. */
struct memrow {
	const char *name;
	const char *data;
	size_t len; /* 0: strlen(data) */
	ck_status status;
	const char *msg;
};

static const struct memrow memrows[] = {
    {"json", "{\"cert\": 1}", 0, CK_E_FORMAT, "looks like JSON"},
    {"ssh", "ssh-ed25519 AAAAC3Nz user@host\n", 0, CK_E_FORMAT,
        "OpenSSH public key"},
    {"zip", "PK\003\004rest", 0, CK_E_FORMAT, "ZIP archive"},
    {"unknown-label", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", 0,
        CK_E_FORMAT, "block 1 (FOO): unknown PEM type"},
    {"mismatch",
        "-----BEGIN CERTIFICATE-----\nAAAA\n"
        "-----END X509 CRL-----\n",
        0, CK_E_FORMAT, "ends with a different label: END X509 CRL"},
    {"empty-block",
        "-----BEGIN CERTIFICATE-----\n"
        "-----END CERTIFICATE-----\n",
        0, CK_E_FORMAT, "block 1 (CERTIFICATE) is empty"},
    {"bad-base64",
        "-----BEGIN CERTIFICATE-----\n!!!!not base64!!!!\n"
        "-----END CERTIFICATE-----\n",
        0, CK_E_FORMAT, "block 1 (CERTIFICATE) is damaged"},
    {"nested",
        "-----BEGIN CERTIFICATE-----\nAAAA\n"
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        0, CK_E_FORMAT, "no END line before block 2"},
    {"openssh",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n"
        "-----END OPENSSH PRIVATE KEY-----\n",
        0, CK_E_FORMAT, "ssh-keygen -p -m PKCS8"},
    {"only-params",
        "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n"
        "-----END EC PARAMETERS-----\n",
        0, CK_E_FORMAT, "holds only EC PARAMETERS"},
    {"der-truncated", "\x30\x82\x01\x00\x02\x01", 6, CK_E_FORMAT,
        "DER data is truncated: its header says 260 bytes"},
    {"der-junk", "\x30\x03\x02\x01\x01", 5, CK_E_FORMAT,
        "not a certificate, key, CSR, CRL, PKCS#7 or PKCS#12 structure"},
};

static void
test_memrows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(memrows) / sizeof(memrows[0]); i++) {
		const struct memrow *r = &memrows[i];
		ck_ctx *ctx = ck_ctx_new();
		ck_bundle *b = NULL;
		ck_status st;

		st = ck_load_mem(ctx, r->name, (const uint8_t *)r->data,
		    r->len ? r->len : strlen(r->data), &b);
		if (st != r->status ||
		    strstr(ck_ctx_error(ctx), r->msg) == NULL)
			fail_msg("%s: got %s '%s', expected %s with '%s'",
			    r->name, ck_status_name(st), ck_ctx_error(ctx),
			    ck_status_name(r->status), r->msg);
		assert_null(b);
		ck_bundle_free(b);
		ck_ctx_free(ctx);
	}
}

static void
test_expect(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;

	(void)state;
	assert_int_equal(
	    ck_load_expect(ctx, pki("leaf.key"), CK_OBJ_CERT, &b), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx),
	    "leaf.key: this is a private key, not a certificate"));
	assert_int_equal(
	    ck_load_expect(ctx, pki("leaf.csr"), CK_OBJ_KEY, &b), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx),
	    "this is a certificate request (CSR), not a private key"));
	assert_int_equal(
	    ck_load_expect(ctx, pki("mixed.pem"), CK_OBJ_CRL, &b), CK_OK);
	assert_int_equal(ck_bundle_count(b, CK_OBJ_CRL), 1);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* Key and certificate from different files match; others don't. */
static void
test_key_match(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *k = NULL, *c = NULL, *o = NULL;

	(void)state;
	assert_int_equal(ck_load_file(ctx, pki("leaf-trad.key"), &k), CK_OK);
	assert_int_equal(ck_load_file(ctx, pki("leaf.der"), &c), CK_OK);
	assert_int_equal(ck_load_file(ctx, pki("other-leaf.pem"), &o), CK_OK);
	assert_true(ck_key_matches_cert(
	    ck_bundle_get0_key(k, 0), ck_bundle_get0_cert(c, 0)));
	assert_false(ck_key_matches_cert(
	    ck_bundle_get0_key(k, 0), ck_bundle_get0_cert(o, 0)));
	/* Merging moves every object and leaves the source empty. */
	assert_int_equal(ck_bundle_merge(c, k), CK_OK);
	assert_int_equal(ck_bundle_count(c, CK_OBJ_KEY), 1);
	assert_int_equal(ck_bundle_count(k, CK_OBJ_KEY), 0);
	ck_bundle_free(k);
	ck_bundle_free(c);
	ck_bundle_free(o);
	ck_ctx_free(ctx);
}

/* The accessors used by every report. */
static void
test_accessors(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	ck_cert *leaf, *inter, *root;
	char fp[65], pin[65], *s;

	(void)state;
	assert_int_equal(ck_load_file(ctx, pki("fullchain.pem"), &b), CK_OK);
	leaf = ck_bundle_get0_cert(b, 0);
	inter = ck_bundle_get0_cert(b, 1);
	root = ck_bundle_get0_cert(b, 2);
	s = ck_cert_subject(leaf);
	assert_string_equal(
	    s, "C = US, O = certkit tests, CN = device.example.test");
	ck_free(s);
	s = ck_cert_common_name(inter);
	assert_string_equal(s, "certkit Test Issuing CA");
	ck_free(s);
	ck_cert_sha256(leaf, fp);
	ck_cert_spki_sha256(leaf, pin);
	assert_int_equal(strlen(fp), 64);
	assert_int_equal(strlen(pin), 64);
	assert_string_not_equal(fp, pin);
	assert_true(ck_cert_issued_by(leaf, inter));
	assert_true(ck_cert_issued_by(inter, root));
	assert_false(ck_cert_issued_by(leaf, root));
	assert_true(ck_cert_is_self_signed(root));
	assert_false(ck_cert_is_self_signed(leaf));
	assert_true(ck_cert_is_ca(inter));
	assert_false(ck_cert_is_ca(leaf));
	/* 2025-01-01 .. 2027-01-01 (tests/pki/README.md). */
	assert_int_equal(ck_cert_not_before(leaf), INT64_C(1735689600));
	assert_int_equal(ck_cert_not_after(leaf), INT64_C(1798761600));
	s = ck_cert_to_pem(leaf);
	assert_non_null(strstr(s, "-----BEGIN CERTIFICATE-----\n"));
	ck_free(s);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* A PKCS#12 file whose MAC asks for 2^31-1 iterations is refused at once,
 * before any key derivation (it would otherwise take hours). */
static void
test_p12_iterations_bounded(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	uint8_t *buf = NULL, *der = NULL, *p;
	size_t len = 0;
	const ASN1_INTEGER *iter = NULL;
	const unsigned char *q;
	PKCS12 *p12;
	int n;

	(void)state;
	assert_int_equal(
	    cki_read_file(ctx, pki("leaf.p12"), &buf, &len), CK_OK);
	q = buf;
	p12 = d2i_PKCS12(NULL, &q, (long)len);
	assert_non_null(p12);
	PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
	assert_non_null(iter);
	/* Forge the count in place: the field is the file's to choose. */
	assert_int_equal(
	    ASN1_INTEGER_set((ASN1_INTEGER *)(uintptr_t)iter, INT32_MAX), 1);
	n = i2d_PKCS12(p12, NULL);
	assert_true(n > 0);
	der = p = malloc((size_t)n);
	assert_int_equal(i2d_PKCS12(p12, &p), n);
	assert_int_equal(ck_ctx_set_password(ctx, "secret"), CK_OK);
	assert_int_equal(
	    ck_load_mem(ctx, "hostile.p12", der, (size_t)n, &b), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx),
	    "hostile.p12: the PKCS#12 MAC asks for 2147483647 key-derivation "
	    "iterations"));
	assert_null(b);
	free(der);
	free(buf);
	PKCS12_free(p12);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_password_asked_once),
	    cmocka_unit_test(test_memrows),
	    cmocka_unit_test(test_expect),
	    cmocka_unit_test(test_key_match),
	    cmocka_unit_test(test_accessors),
	    cmocka_unit_test(test_p12_iterations_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
