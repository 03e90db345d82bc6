/*
 * test_load.c: the loader (lib/pki/load.c) over every form in the test PKI, and
 * its error messages. Table-driven: each row is a file, the password source,
 * and what must come out.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

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

/* ---- encryption cost bounds (PBES1, PBES2/PBKDF2, scrypt) ------------- */

/* Sets the cost in alg (a PBES1 or PBES2 AlgorithmIdentifier) to n: the
 * iteration count, or scrypt's N. The structure is unpacked, changed and
 * packed again, so the result is a well-formed file asking for n. */
static void
forge_alg(X509_ALGOR *alg, long n)
{
	if (OBJ_obj2nid(alg->algorithm) == NID_pbes2) {
		PBE2PARAM *pbe2 = ASN1_TYPE_unpack_sequence(
		    ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);

		assert_non_null(pbe2);
		if (OBJ_obj2nid(pbe2->keyfunc->algorithm) == NID_id_scrypt) {
			SCRYPT_PARAMS *sp = ASN1_TYPE_unpack_sequence(
			    ASN1_ITEM_rptr(SCRYPT_PARAMS),
			    pbe2->keyfunc->parameter);

			assert_non_null(sp);
			assert_int_equal(
			    ASN1_INTEGER_set(sp->costParameter, n), 1);
			assert_non_null(ASN1_TYPE_pack_sequence(
			    ASN1_ITEM_rptr(SCRYPT_PARAMS), sp,
			    &pbe2->keyfunc->parameter));
			SCRYPT_PARAMS_free(sp);
		} else {
			PBKDF2PARAM *kdf = ASN1_TYPE_unpack_sequence(
			    ASN1_ITEM_rptr(PBKDF2PARAM),
			    pbe2->keyfunc->parameter);

			assert_non_null(kdf);
			assert_int_equal(ASN1_INTEGER_set(kdf->iter, n), 1);
			assert_non_null(
			    ASN1_TYPE_pack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
			        kdf, &pbe2->keyfunc->parameter));
			PBKDF2PARAM_free(kdf);
		}
		assert_non_null(ASN1_TYPE_pack_sequence(
		    ASN1_ITEM_rptr(PBE2PARAM), pbe2, &alg->parameter));
		PBE2PARAM_free(pbe2);
	} else {
		PBEPARAM *pbe = ASN1_TYPE_unpack_sequence(
		    ASN1_ITEM_rptr(PBEPARAM), alg->parameter);

		assert_non_null(pbe);
		assert_int_equal(ASN1_INTEGER_set(pbe->iter, n), 1);
		assert_non_null(ASN1_TYPE_pack_sequence(
		    ASN1_ITEM_rptr(PBEPARAM), pbe, &alg->parameter));
		PBEPARAM_free(pbe);
	}
}

static X509_ALGOR *
sig_alg(const X509_SIG *sig)
{
	const X509_ALGOR *alg = NULL;

	X509_SIG_get0(sig, &alg, NULL);
	assert_non_null(alg);
	return (X509_ALGOR *)(uintptr_t)alg; /* the file's to forge */
}

enum forge {
	F_P12_ENCSAFE,  /* the encrypted (certificate) safe of a PKCS#12 */
	F_P12_SHROUDED, /* the shrouded key bag in a plain PKCS#12 safe */
	F_P12_INNER,    /* a shrouded key bag moved into an encrypted safe */
	F_P12_MANY,     /* the encrypted safe, forged, then copied 8 times */
	F_PKCS8_DER,    /* an encrypted PKCS#8 key, DER */
	F_PKCS8_PEM,    /* the same, PEM */
	F_PKCS8_SCRYPT, /* a PKCS#8 key under PBES2/scrypt, PEM */
};

/* Bags of the safes of p12, forged as kind says; the file is re-MACed with
 * "secret" so only the cost, never the MAC, can stop it. */
static void
forge_p12(PKCS12 *p12, enum forge kind, long n)
{
	STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
	bool done = false;

	assert_non_null(safes);
	for (int i = 0; i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);
		STACK_OF(PKCS12_SAFEBAG) * bags;

		if (PKCS7_type_is_encrypted(p7) &&
		    (kind == F_P12_ENCSAFE || kind == F_P12_MANY)) {
			forge_alg(p7->d.encrypted->enc_data->algorithm, n);
			done = true;
		}
		if (!PKCS7_type_is_data(p7) || kind == F_P12_ENCSAFE ||
		    kind == F_P12_MANY)
			continue;
		bags = PKCS12_unpack_p7data(p7);
		assert_non_null(bags);
		for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
			PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);

			if (PKCS12_SAFEBAG_get_nid(bag) !=
			    NID_pkcs8ShroudedKeyBag)
				continue;
			forge_alg(sig_alg(PKCS12_SAFEBAG_get0_pkcs8(bag)), n);
			done = true;
		}
		/* Re-pack the safe: plain, or encrypted with an ordinary
		 * cost so that its shrouded bag is visible only to a reader
		 * that decrypts the safe first. */
		p7 = kind == F_P12_INNER
		    ? PKCS12_pack_p7encdata(
		          NID_aes_256_cbc, "secret", -1, NULL, 0, 2048, bags)
		    : PKCS12_pack_p7data(bags);
		assert_non_null(p7);
		/* sk_set returns the new element, not the one replaced. */
		PKCS7_free(sk_PKCS7_value(safes, i));
		(void)sk_PKCS7_set(safes, i, p7);
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	assert_true(done);
	/* Each copy alone is within the bound; together they are not. */
	for (int i = 0; kind == F_P12_MANY && i < 8; i++) {
		PKCS7 *p7 = PKCS7_dup(sk_PKCS7_value(safes, 0));

		assert_non_null(p7);
		assert_true(sk_PKCS7_push(safes, p7) > 0);
	}
	assert_int_equal(PKCS12_pack_authsafes(p12, safes), 1);
	assert_int_equal(
	    PKCS12_set_mac(p12, "secret", -1, NULL, 0, 2048, EVP_sha256()), 1);
	sk_PKCS7_pop_free(safes, PKCS7_free);
}

/* An encrypted PKCS#8 key of the test PKI: the file's own, or the same key
 * encrypted again under scrypt with its usual cost (N=16384 r=8 p=1). */
static X509_SIG *
pkcs8_key(bool scrypt)
{
	BIO *bio =
	    BIO_new_file(pki(scrypt ? "leaf.key" : "leaf-pkcs8-enc.key"), "r");
	X509_SIG *sig;

	assert_non_null(bio);
	if (scrypt) {
		PKCS8_PRIV_KEY_INFO *p8 =
		    PEM_read_bio_PKCS8_PRIV_KEY_INFO(bio, NULL, NULL, NULL);
		X509_ALGOR *alg;

		assert_non_null(p8);
		alg = PKCS5_pbe2_set_scrypt(
		    EVP_aes_256_cbc(), NULL, 0, NULL, 16384, 8, 1);
		assert_non_null(alg);
		sig = PKCS8_set0_pbe("secret", -1, p8, alg);
		if (sig == NULL)
			X509_ALGOR_free(alg);
		PKCS8_PRIV_KEY_INFO_free(p8);
	} else {
		sig = PEM_read_bio_PKCS8(bio, NULL, NULL, NULL);
	}
	BIO_free(bio);
	assert_non_null(sig);
	return sig;
}

/* The forged file, as kind says, with cost n; *len its size. */
static uint8_t *
forged_file(enum forge kind, const char *file, long n, size_t *len)
{
	uint8_t *buf = NULL, *der = NULL, *p;
	const unsigned char *q;
	int dn = 0;

	if (kind <= F_P12_MANY) {
		ck_ctx *ctx = ck_ctx_new();
		PKCS12 *p12;

		assert_int_equal(
		    cki_read_file(ctx, pki(file), &buf, len), CK_OK);
		q = buf;
		p12 = d2i_PKCS12(NULL, &q, (long)*len);
		assert_non_null(p12);
		forge_p12(p12, kind, n);
		dn = i2d_PKCS12(p12, NULL);
		assert_true(dn > 0);
		der = p = malloc((size_t)dn);
		assert_non_null(der);
		assert_int_equal(i2d_PKCS12(p12, &p), dn);
		PKCS12_free(p12);
		free(buf);
		ck_ctx_free(ctx);
	} else {
		X509_SIG *sig = pkcs8_key(kind == F_PKCS8_SCRYPT);

		forge_alg(sig_alg(sig), n);
		if (kind == F_PKCS8_DER) {
			dn = i2d_X509_SIG(sig, NULL);
			assert_true(dn > 0);
			der = p = malloc((size_t)dn);
			assert_non_null(der);
			assert_int_equal(i2d_X509_SIG(sig, &p), dn);
		} else {
			BIO *bio = BIO_new(BIO_s_mem());
			char *data;
			long bn;

			assert_non_null(bio);
			assert_int_equal(PEM_write_bio_PKCS8(bio, sig), 1);
			bn = BIO_get_mem_data(bio, &data);
			assert_true(bn > 0);
			dn = (int)bn;
			der = malloc((size_t)dn);
			assert_non_null(der);
			memcpy(der, data, (size_t)dn);
			BIO_free(bio);
		}
		X509_SIG_free(sig);
	}
	*len = (size_t)dn;
	return der;
}

struct costrow {
	enum forge kind;
	const char *file; /* PKI file forged (PKCS#12 kinds) */
	const char *name; /* name the loader is given */
	long ok_cost;     /* ordinary cost: must load */
	long bad_cost;    /* forged cost: must be refused */
	size_t certs, keys;
	const char *msg; /* with cost INT32_MAX */
};

#define HUGE_MSG(what)                                                         \
	what " asks for 2147483647 key-derivation iterations; certkit "        \
	     "refuses more than 1000000"

static const struct costrow costrows[] = {
    {F_P12_ENCSAFE, "leaf.p12", "hostile.p12", 2048, INT32_MAX, 3, 1,
        "hostile.p12: PKCS#12 encrypted safe 1: " HUGE_MSG(
            "its PBKDF2 encryption")},
    {F_P12_ENCSAFE, "leaf-legacy.p12", "hostile.p12", 2048, INT32_MAX, 3, 1,
        "hostile.p12: PKCS#12 encrypted safe 1: " HUGE_MSG(
            "its PBE-SHA1-RC2-40 encryption")},
    {F_P12_SHROUDED, "leaf.p12", "hostile.p12", 2048, INT32_MAX, 3, 1,
        "hostile.p12: PKCS#12 safe 2, shrouded key bag 1: " HUGE_MSG(
            "its PBKDF2 encryption")},
    {F_P12_SHROUDED, "leaf-legacy.p12", "hostile.p12", 2048, INT32_MAX, 3, 1,
        "hostile.p12: PKCS#12 safe 2, shrouded key bag 1: " HUGE_MSG(
            "its PBE-SHA1-3DES encryption")},
    {F_P12_INNER, "leaf.p12", "hostile.p12", 2048, INT32_MAX, 3, 1,
        "hostile.p12: PKCS#12 encrypted safe 2, shrouded key bag 1: " HUGE_MSG(
            "its PBKDF2 encryption")},
    {F_PKCS8_DER, NULL, "hostile.der", 2048, INT32_MAX, 0, 1,
        "hostile.der: encrypted private key: " HUGE_MSG(
            "its PBKDF2 encryption")},
    {F_PKCS8_PEM, NULL, "hostile.key", 2048, INT32_MAX, 0, 1,
        "hostile.key: block 1 (ENCRYPTED PRIVATE KEY): " HUGE_MSG(
            "its PBKDF2 encryption")},
    {F_PKCS8_SCRYPT, NULL, "hostile.key", 16384, INT32_MAX, 0, 1,
        "hostile.key: block 1 (ENCRYPTED PRIVATE KEY): its scrypt "
        "encryption asks for cost N=2147483647 r=8 p=1; certkit refuses "
        "N*r*p above 4194304"},
    {F_P12_MANY, "leaf.p12", "hostile.p12", 2048, 1000000, 27, 1,
        "hostile.p12: PKCS#12 encrypted safe 9: with it the file asks for "
        "8002048 key-derivation iterations in all; certkit refuses more "
        "than 8000000"},
};

static void
on_alarm(int sig)
{
	static const char m[] =
	    "test_encryption_cost_bounded: a forged file "
	    "was decrypted at its forged cost (over 20 s)\n";

	(void)sig;
	(void)!write(2, m, sizeof(m) - 1);
	_exit(1);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_encryption_cost_bounded(void **state)
{
	(void)state;
	/* If a check is missing, the load runs for hours: fail instead. */
	signal(SIGALRM, on_alarm);
	alarm(20);
	for (size_t i = 0; i < sizeof(costrows) / sizeof(costrows[0]); i++) {
		const struct costrow *r = &costrows[i];
		ck_ctx *ctx = ck_ctx_new();
		ck_bundle *b = NULL;
		uint8_t *buf;
		size_t len;
		double t;

		print_message("cost row %zu: %s\n", i, r->msg);
		assert_int_equal(ck_ctx_set_password(ctx, "secret"), CK_OK);
		/* The same forging with an ordinary cost loads: the forged
		 * file is well-formed, so only the cost can stop it. */
		buf = forged_file(r->kind, r->file, r->ok_cost, &len);
		assert_int_equal(
		    ck_load_mem(ctx, r->name, buf, len, &b), CK_OK);
		assert_int_equal(ck_bundle_count(b, CK_OBJ_CERT), r->certs);
		assert_int_equal(ck_bundle_count(b, CK_OBJ_KEY), r->keys);
		ck_bundle_free(b);
		b = NULL;
		free(buf);

		buf = forged_file(r->kind, r->file, r->bad_cost, &len);
		t = now();
		assert_int_equal(
		    ck_load_mem(ctx, r->name, buf, len, &b), CK_E_FORMAT);
		t = now() - t;
		assert_null(b);
		if (strstr(ck_ctx_error(ctx), r->msg) == NULL)
			fail_msg("got \"%s\", want \"%s\"", ck_ctx_error(ctx),
			    r->msg);
		assert_true(t < 0.5);
		free(buf);
		ck_ctx_free(ctx);
	}
	alarm(0);
	signal(SIGALRM, SIG_DFL);
}

/* One input holds at most 25,000 objects (load.c guarantee 6): a PEM file
 * is refused on its block count before parsing; a PKCS#7 (a DER container)
 * when the 25,001st certificate is taken; 25,000 load. */
static void
test_object_limit(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	FILE *f = fopen(pki("leaf.pem"), "rb");
	X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
	PKCS7 *p7 = PKCS7_new();
	char one[4096], *pem;
	unsigned char *der = NULL;
	size_t n;
	int dlen;
	ck_bundle *b = NULL;

	(void)state;
	assert_non_null(x);
	rewind(f);
	n = fread(one, 1, sizeof(one), f);
	fclose(f);
	assert_true(n > 0 && n < sizeof(one));
	assert_non_null(pem = malloc(n * 25001));
	for (size_t i = 0; i < 25001; i++)
		memcpy(pem + i * n, one, n);
	assert_int_equal(
	    ck_load_mem(ctx, "big.pem", (uint8_t *)pem, n * 25001, &b),
	    CK_E_FORMAT);
	assert_null(b);
	assert_string_equal(ck_ctx_error(ctx),
	    "big.pem: holds 25001 PEM blocks; certkit reads at most 25000 "
	    "objects (certificates, keys, CSRs and CRLs) from one input, to "
	    "bound its memory; split the file");
	assert_int_equal(
	    ck_load_mem(ctx, "max.pem", (uint8_t *)pem, n * 25000, &b), CK_OK);
	assert_int_equal(ck_bundle_count(b, CK_OBJ_CERT), 25000);
	ck_bundle_free(b);
	b = NULL;
	free(pem);

	assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
	assert_int_equal(PKCS7_content_new(p7, NID_pkcs7_data), 1);
	for (int i = 0; i < 25001; i++)
		assert_int_equal(PKCS7_add_certificate(p7, x), 1);
	assert_true((dlen = i2d_PKCS7(p7, &der)) > 0);
	assert_int_equal(
	    ck_load_mem(ctx, "big.p7b", der, (size_t)dlen, &b), CK_E_FORMAT);
	assert_null(b);
	assert_non_null(strstr(ck_ctx_error(ctx), "big.p7b"));
	assert_non_null(strstr(ck_ctx_error(ctx),
	    "too many objects: this is object 25001; certkit reads at most "
	    "25000 objects"));
	OPENSSL_free(der);
	PKCS7_free(p7);
	X509_free(x);
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
	    cmocka_unit_test(test_encryption_cost_bounded),
	    cmocka_unit_test(test_object_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
