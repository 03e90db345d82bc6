/*
 * test_encode.c: lib/pki/encode.c: every format written is read back (by the
 * loader and by OpenSSL directly) with the same objects in the same order;
 * PKCS#12 protection is what the header promises; every bundle a format
 * cannot hold is refused with a message that says why; ck_write_bundle's
 * modes; ck_bundle_select.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "encode_int.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------------
 */

/* Loads and merges up to four PKI files ("" ends the list early). */
static ck_bundle *
load(ck_ctx *ctx, const char *const files[4])
{
	ck_bundle *all = ck_bundle_new();

	assert_non_null(all);
	for (int i = 0; i < 4 && files[i] != NULL && files[i][0] != '\0'; i++) {
		ck_bundle *b = NULL;

		if (ck_load_file(ctx, pki(files[i]), &b) != CK_OK)
			fail_msg("loading %s: %s", files[i], ck_ctx_error(ctx));
		assert_int_equal(ck_bundle_merge(all, b), CK_OK);
		ck_bundle_free(b);
	}
	return all;
}

static ck_bundle *
load1(ck_ctx *ctx, const char *file)
{
	const char *const f[4] = {file, NULL, NULL, NULL};

	return load(ctx, f);
}

/* Every certificate's SHA-256, in order, joined by ",". */
static void
fingerprints(const ck_bundle *b, char *out, size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		char fp[65];

		ck_cert_sha256(ck_bundle_get0_cert(b, i), fp);
		off += (size_t)snprintf(
		    out + off, size - off, "%s%s", i ? "," : "", fp);
		assert_true(off < size);
	}
}

static ck_ctx *
ctx_pw(const char *pw)
{
	ck_ctx *ctx = ck_ctx_new();

	assert_non_null(ctx);
	if (pw != NULL)
		assert_int_equal(ck_ctx_set_password(ctx, pw), CK_OK);
	ck_ctx_set_time(ctx, PINNED_TIME);
	return ctx;
}

/* ---- round trips -----------------------------------------------------------
 */

static const struct rt_case {
	const char *name;
	const char *in[4];
	const char *in_pw; /* to read the input */
	ck_format fmt;
	ck_write_opts wo;   /* given to the writer through the public setters */
	unsigned legacy;    /* ck_write_opts_set_p12_legacy */
	const char *out_pw; /* to read the output back */
	size_t certs, keys, csrs, crls;
	const char *first_label; /* the PEM output starts with this */
} rt_cases[] = {
    {"fullchain PEM", {"fullchain.pem"}, NULL, CK_FMT_PEM, {0}, 0, NULL, 3, 0,
        0, 0, "-----BEGIN CERTIFICATE-----\n"},
    {"CRLF + BOM + noisy PEM come out clean",
        {"crlf.pem", "bom.pem", "noisy.pem"}, NULL, CK_FMT_PEM, {0}, 0, NULL, 7,
        0, 0, 0, "-----BEGIN CERTIFICATE-----\n"},
    {"mixed PEM keeps every object", {"mixed.pem"}, NULL, CK_FMT_PEM, {0}, 0,
        NULL, 2, 1, 1, 1, "-----BEGIN CERTIFICATE-----\n"},
    {"PEM key encrypted", {"leaf.key", "leaf.pem"}, NULL, CK_FMT_PEM,
        {.password = "n3w"}, 0, "n3w", 1, 1, 0, 0,
        "-----BEGIN CERTIFICATE-----\n"},
    {"PEM from legacy p12", {"leaf-legacy.p12"}, "secret", CK_FMT_PEM, {0}, 0,
        NULL, 3, 1, 0, 0, NULL},
    {"DER certificate", {"leaf.pem"}, NULL, CK_FMT_DER, {0}, 0, NULL, 1, 0, 0,
        0, NULL},
    {"DER CRL", {"int-ca.crl"}, NULL, CK_FMT_DER, {0}, 0, NULL, 0, 0, 0, 1,
        NULL},
    {"DER CSR", {"leaf.csr"}, NULL, CK_FMT_DER, {0}, 0, NULL, 0, 0, 1, 0, NULL},
    {"DER key", {"leaf-trad.key"}, NULL, CK_FMT_DER, {0}, 0, NULL, 0, 1, 0, 0,
        NULL},
    {"DER key encrypted", {"leaf-pkcs8-enc.key"}, "secret", CK_FMT_DER,
        {.password = "other"}, 0, "other", 0, 1, 0, 0, NULL},
    {"P7B PEM", {"fullchain.pem"}, NULL, CK_FMT_P7B, {.p7b_pem = 1}, 0, NULL, 3,
        0, 0, 0, "-----BEGIN PKCS7-----\n"},
    {"P7B DER with CRLs", {"chain.pem", "int-ca.crl", "root-ca.crl"}, NULL,
        CK_FMT_P7B, {0}, 0, NULL, 2, 0, 0, 2, NULL},
    /* These two need load.c to count an absent SET OF as empty
     * (sk_X509_num(NULL) is -1): Windows exports single-certificate
     * .p7b files. */
    {"P7B of one certificate", {"leaf.pem"}, NULL, CK_FMT_P7B, {0}, 0, NULL, 1,
        0, 0, 0, NULL},
    {"P7B of CRLs only", {"int-ca.crl"}, NULL, CK_FMT_P7B, {0}, 0, NULL, 0, 0,
        0, 1, NULL},
    {"P12 modern", {"leaf.p12"}, "secret", CK_FMT_P12, {.password = "pw2"}, 0,
        "pw2", 3, 1, 0, 0, NULL},
    {"P12 legacy", {"leaf.p12"}, "secret", CK_FMT_P12, {.password = "pw2"}, 1,
        "pw2", 3, 1, 0, 0, NULL},
    {"P12 from PEM pieces", {"leaf.pem", "int-ca.pem", "leaf.key"}, NULL,
        CK_FMT_P12, {.password = "x", .name = "cam-7"}, 0, "x", 2, 1, 0, 0,
        NULL},
    {"P12 certificates only", {"fullchain.pem"}, NULL, CK_FMT_P12,
        {.password = "changeit", .java_trusted = 1}, 0, "changeit", 3, 0, 0, 0,
        NULL},
    {"P12 no password", {"leaf.key", "chain.pem"}, NULL, CK_FMT_P12, {0}, 0,
        NULL, 2, 1, 0, 0, NULL},
};

/* The options of a table row, made the way an embedder makes them. */
static ck_write_opts *
public_opts(ck_ctx *ctx, const ck_write_opts *row, unsigned legacy)
{
	ck_write_opts *wo = NULL;

	assert_int_equal(ck_write_opts_new(ctx, &wo), CK_OK);
	assert_int_equal(ck_write_opts_set_password(wo, row->password), CK_OK);
	assert_int_equal(ck_write_opts_set_name(wo, row->name), CK_OK);
	ck_write_opts_set_java_trusted(wo, row->java_trusted);
	ck_write_opts_set_p7b_pem(wo, row->p7b_pem);
	ck_write_opts_set_p12_legacy(wo, (int)legacy);
	return wo;
}

static void
test_round_trips(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rt_cases) / sizeof(rt_cases[0]); i++) {
		const struct rt_case *c = &rt_cases[i];
		ck_ctx *ctx = ctx_pw(c->in_pw), *rctx = ctx_pw(c->out_pw);
		ck_bundle *in = load(ctx, c->in), *back = NULL;
		char fa[1024], fb[1024];
		uint8_t *buf = NULL;
		size_t len = 0;
		ck_status st;

		ck_write_opts *wo = public_opts(ctx, &c->wo, c->legacy);

		st = ck_encode_bundle(ctx, in, c->fmt, wo, &buf, &len);
		ck_write_opts_free(wo);
		if (st != CK_OK)
			fail_msg("%s: %s", c->name, ck_ctx_error(ctx));
		assert_true(len > 0);
		if (c->first_label != NULL &&
		    strncmp((char *)buf, c->first_label,
		        strlen(c->first_label)) != 0)
			fail_msg("%s: output starts %.40s", c->name, buf);
		/* Clean PEM: no CR, no BOM, nothing between blocks. */
		if (c->fmt == CK_FMT_PEM ||
		    (c->fmt == CK_FMT_P7B && c->wo.p7b_pem)) {
			assert_null(memchr(buf, '\r', len));
			assert_true(buf[0] == '-');
		}
		st = ck_load_mem(rctx, c->name, buf, len, &back);
		if (st != CK_OK)
			fail_msg("%s: reading back: %s", c->name,
			    ck_ctx_error(rctx));
		assert_int_equal(ck_bundle_count(back, CK_OBJ_CERT), c->certs);
		assert_int_equal(ck_bundle_count(back, CK_OBJ_KEY), c->keys);
		assert_int_equal(ck_bundle_count(back, CK_OBJ_CSR), c->csrs);
		assert_int_equal(ck_bundle_count(back, CK_OBJ_CRL), c->crls);
		fingerprints(in, fa, sizeof(fa));
		fingerprints(back, fb, sizeof(fb));
		if (strcmp(fa, fb) != 0)
			fail_msg("%s: certificates differ:\n in  %s\n out %s",
			    c->name, fa, fb);
		if (c->keys > 0 && c->certs > 0)
			assert_true(
			    ck_key_matches_cert(ck_bundle_get0_key(back, 0),
			        ck_bundle_get0_cert(back, 0)));
		free(buf);
		ck_bundle_free(in);
		ck_bundle_free(back);
		ck_ctx_free(ctx);
		ck_ctx_free(rctx);
	}
}

/* DER output is the exact DER of the object: byte-identical to the files
 * gen.sh made with openssl. */
static void
test_der_is_exact(void **state)
{
	static const struct {
		const char *in, *der;
	} cases[] = {
	    {"leaf.pem", "leaf.der"},
	    {"root-ca.pem", "root-ca.der"},
	    {"int-ca.crl", "int-ca.crl.der"},
	    {"leaf.csr", "leaf.csr.der"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_ctx *ctx = ctx_pw(NULL);
		ck_bundle *b = load1(ctx, cases[i].in);
		uint8_t *buf = NULL, *want = NULL;
		size_t len = 0, wlen = 0;

		assert_int_equal(
		    ck_encode_bundle(ctx, b, CK_FMT_DER, NULL, &buf, &len),
		    CK_OK);
		assert_int_equal(
		    cki_read_file(ctx, pki(cases[i].der), &want, &wlen), CK_OK);
		assert_int_equal(len, wlen);
		assert_memory_equal(buf, want, len);
		free(buf);
		free(want);
		ck_bundle_free(b);
		ck_ctx_free(ctx);
	}
}

/* PEM order: certificates, CSRs, CRLs, keys (servers want the key last). */
static void
test_pem_order(void **state)
{
	ck_ctx *ctx = ctx_pw(NULL);
	ck_bundle *b = load1(ctx, "mixed.pem");
	uint8_t *buf = NULL;
	size_t len = 0;
	const char *s, *cert, *csr, *crl, *key;

	(void)state;
	assert_int_equal(
	    ck_encode_bundle(ctx, b, CK_FMT_PEM, NULL, &buf, &len), CK_OK);
	assert_non_null(buf = realloc(buf, len + 1));
	buf[len] = '\0';
	s = (const char *)buf;
	cert = strstr(s, "BEGIN CERTIFICATE-----");
	csr = strstr(s, "BEGIN CERTIFICATE REQUEST");
	crl = strstr(s, "BEGIN X509 CRL");
	key = strstr(s, "BEGIN PRIVATE KEY");
	assert_true(cert == s + 5);
	assert_true(cert != NULL && csr != NULL && crl != NULL && key != NULL);
	assert_true(cert < csr && csr < crl && crl < key);
	assert_null(strstr(s, "ENCRYPTED"));
	free(buf);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* An encrypted key cannot be read without its password, and the wrong one
 * is refused. */
static void
test_encrypted_key_needs_password(void **state)
{
	static const ck_format fmts[] = {CK_FMT_PEM, CK_FMT_DER};

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		ck_ctx *ctx = ctx_pw(NULL), *none = ctx_pw(NULL),
		       *wrong = ctx_pw("wrong");
		ck_bundle *b = load1(ctx, "leaf.key"), *back = NULL;
		ck_write_opts wo = {.password = "right"};
		uint8_t *buf = NULL;
		size_t len = 0;

		assert_int_equal(
		    ck_encode_bundle(ctx, b, fmts[i], &wo, &buf, &len), CK_OK);
		if (fmts[i] == CK_FMT_PEM)
			assert_non_null(
			    strstr((char *)buf, "BEGIN ENCRYPTED PRIVATE KEY"));
		assert_int_equal(
		    ck_load_mem(none, "k", buf, len, &back), CK_E_PASSWORD);
		assert_int_equal(
		    ck_load_mem(wrong, "k", buf, len, &back), CK_E_PASSWORD);
		assert_null(back);
		free(buf);
		ck_bundle_free(b);
		ck_ctx_free(ctx);
		ck_ctx_free(none);
		ck_ctx_free(wrong);
	}
}

/* ---- PKCS#12 internals -----------------------------------------------------
 */

static PKCS12 *
encode_p12(const char *const files[4], const ck_write_opts *wo)
{
	ck_ctx *ctx = ctx_pw("secret");
	ck_bundle *b = load(ctx, files);
	uint8_t *buf = NULL;
	size_t len = 0;
	const unsigned char *p;
	PKCS12 *p12;

	if (ck_encode_bundle(ctx, b, CK_FMT_P12, wo, &buf, &len) != CK_OK)
		fail_msg("%s", ck_ctx_error(ctx));
	p = buf;
	p12 = d2i_PKCS12(NULL, &p, (long)len);
	assert_non_null(p12);
	assert_true(p == buf + len);
	free(buf);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
	return p12;
}

static const struct {
	const char *name;
	int legacy;
	int mac_nid;  /* NID_undef: no MAC */
	int cert_pbe; /* the encryptedData's algorithm; NID_undef: plain */
} prot_cases[] = {
    {"pw", 0, NID_sha256, NID_pbes2},
    {"pw", 1, NID_sha1, NID_pbe_WithSHA1And3_Key_TripleDES_CBC},
    {NULL, 0, NID_undef, NID_undef},
};

static void
test_p12_protection(void **state)
{
	static const char *const files[4] = {"leaf.p12"};

	(void)state;
	for (size_t i = 0; i < sizeof(prot_cases) / sizeof(prot_cases[0]);
	     i++) {
		ck_write_opts wo = {.password = prot_cases[i].name,
		    .p12_legacy = prot_cases[i].legacy};
		PKCS12 *p12 = encode_p12(files, &wo);
		STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
		int found_enc = NID_undef;

		assert_non_null(safes);
		if (prot_cases[i].mac_nid == NID_undef) {
			assert_false(PKCS12_mac_present(p12));
		} else {
			const X509_ALGOR *macalg = NULL;
			const ASN1_INTEGER *iter = NULL;
			const ASN1_OBJECT *obj;

			assert_true(PKCS12_mac_present(p12));
			assert_true(PKCS12_verify_mac(p12, "pw", 2));
			assert_false(PKCS12_verify_mac(p12, "px", 2));
			PKCS12_get0_mac(NULL, &macalg, NULL, &iter, p12);
			X509_ALGOR_get0(&obj, NULL, NULL, macalg);
			assert_int_equal(
			    OBJ_obj2nid(obj), prot_cases[i].mac_nid);
			assert_true(ASN1_INTEGER_get(iter) >= 2048);
		}
		for (int j = 0; j < sk_PKCS7_num(safes); j++) {
			PKCS7 *p7 = sk_PKCS7_value(safes, j);

			if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
				const X509_ALGOR *alg =
				    p7->d.encrypted->enc_data->algorithm;

				found_enc = OBJ_obj2nid(alg->algorithm);
			}
		}
		assert_int_equal(found_enc, prot_cases[i].cert_pbe);
		sk_PKCS7_pop_free(safes, PKCS7_free);
		PKCS12_free(p12);
	}
}

/* Counts certificate bags carrying the Java trust attribute, and checks the
 * friendly names. */
static int
trusted_bags(PKCS12 *p12, const char *pw, char names[4][128])
{
	STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
	ASN1_OBJECT *oid = OBJ_txt2obj(CKI_OID_JDK_TRUSTED_KEY_USAGE, 1);
	int n = 0, k = 0;

	assert_non_null(safes);
	for (int j = 0; j < sk_PKCS7_num(safes); j++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, j);
		STACK_OF(PKCS12_SAFEBAG) * bags;

		bags = OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted
		    ? PKCS12_unpack_p7encdata(p7, pw, -1)
		    : PKCS12_unpack_p7data(p7);
		assert_non_null(bags);
		for (int b = 0; b < sk_PKCS12_SAFEBAG_num(bags); b++) {
			PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, b);
			const STACK_OF(X509_ATTRIBUTE) * at;
			char *fn;

			if (PKCS12_SAFEBAG_get_nid(bag) != NID_certBag)
				continue;
			at = PKCS12_SAFEBAG_get0_attrs(bag);
			if (X509at_get_attr_by_OBJ(at, oid, -1) >= 0) {
				X509_ATTRIBUTE *a = X509at_get_attr(
				    at, X509at_get_attr_by_OBJ(at, oid, -1));
				ASN1_TYPE *v = X509_ATTRIBUTE_get0_type(a, 0);

				/* The value is anyExtendedKeyUsage. */
				assert_int_equal(
				    ASN1_TYPE_get(v), V_ASN1_OBJECT);
				assert_int_equal(OBJ_obj2nid(v->value.object),
				    NID_anyExtendedKeyUsage);
				n++;
			}
			fn = PKCS12_get_friendlyname(bag);
			if (k < 4)
				snprintf(names[k++], 128, "%s", fn ? fn : "");
			OPENSSL_free(fn);
		}
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	ASN1_OBJECT_free(oid);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	return n;
}

static void
test_p12_java_trust_and_names(void **state)
{
	static const char *const certs[4] = {"fullchain.pem"};
	static const char *const withkey[4] = {"leaf.key", "fullchain.pem"};
	static const char *const twice[4] = {"int-ca.pem", "int-ca.pem"};
	ck_write_opts wo = {.password = "changeit", .java_trusted = 1};
	char names[4][128];
	PKCS12 *p12;

	(void)state;
	/* Certificates only: every bag trusted, named by CN. */
	p12 = encode_p12(certs, &wo);
	assert_int_equal(trusted_bags(p12, "changeit", names), 3);
	assert_string_equal(names[0], "device.example.test");
	assert_string_equal(names[1], "certkit Test Issuing CA");
	assert_string_equal(names[2], "certkit Test Root CA");
	PKCS12_free(p12);
	/* Without the flag: none. */
	wo.java_trusted = 0;
	p12 = encode_p12(certs, &wo);
	assert_int_equal(trusted_bags(p12, "changeit", names), 0);
	PKCS12_free(p12);
	/* With a key: the key's certificate is its entry, not a trust anchor;
	 * the name given wins over the CN. */
	wo.java_trusted = 1;
	wo.name = "nvr-01";
	p12 = encode_p12(withkey, &wo);
	assert_int_equal(trusted_bags(p12, "changeit", names), 2);
	assert_string_equal(names[0], "nvr-01");
	PKCS12_free(p12);
	/* Two certificates with one CN get distinct aliases. */
	wo.name = NULL;
	p12 = encode_p12(twice, &wo);
	assert_int_equal(trusted_bags(p12, "changeit", names), 2);
	assert_string_equal(names[0], "certkit Test Issuing CA");
	assert_string_equal(names[1], "certkit Test Issuing CA (2)");
	PKCS12_free(p12);
}

/* PKCS12_parse pairs key and certificate through localKeyId and hands the
 * friendly name back as the certificate's alias. */
static void
test_p12_pairing(void **state)
{
	static const char *const files[4] = {
	    "leaf.pem", "int-ca.pem", "leaf.key"};
	ck_write_opts wo = {.password = "pw"};
	PKCS12 *p12 = encode_p12(files, &wo);
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	unsigned char *alias;
	int alen = 0;

	(void)state;
	assert_true(PKCS12_parse(p12, "pw", &key, &cert, &ca));
	assert_non_null(key);
	assert_non_null(cert);
	assert_int_equal(X509_check_private_key(cert, key), 1);
	assert_int_equal(sk_X509_num(ca), 1);
	alias = X509_alias_get0(cert, &alen);
	assert_non_null(alias);
	assert_int_equal(alen, (int)strlen("device.example.test"));
	assert_memory_equal(alias, "device.example.test", (size_t)alen);
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
}

/* ---- refusals --------------------------------------------------------------
 */

static const struct bad_case {
	const char *name;
	const char *in[4];
	ck_format fmt;
	ck_write_opts wo;
	ck_status want;
	const char *msg;
} bad_cases[] = {
    {"DER with a chain", {"chain.pem"}, CK_FMT_DER, {0}, CK_E_USAGE,
        "the bundle has 2 certificates"},
    {"DER with mixed", {"mixed.pem"}, CK_FMT_DER, {0}, CK_E_USAGE,
        "2 certificates, 1 private key, 1 CSR and 1 CRL"},
    {"P7B with a key", {"leaf.key", "leaf.pem"}, CK_FMT_P7B, {0}, CK_E_USAGE,
        "carries certificates and CRLs only, but the bundle has "
        "a private key"},
    {"P7B with a CSR", {"leaf.csr"}, CK_FMT_P7B, {0}, CK_E_USAGE, "a CSR"},
    {"P12 with a CRL", {"chain.pem", "int-ca.crl"}, CK_FMT_P12,
        {.password = "x"}, CK_E_USAGE, "the bundle has a CRL"},
    {"P12 key without its certificate", {"leaf.key"}, CK_FMT_P12,
        {.password = "x"}, CK_E_USAGE, "needs its certificate"},
    {"P12 key of another certificate", {"other-leaf.key", "chain.pem"},
        CK_FMT_P12, {.password = "x"}, CK_E_USAGE,
        "does not belong to the certificate"},
    {"P12 key not first", {"leaf.key", "reversed.pem"}, CK_FMT_P12,
        {.password = "x"}, CK_E_USAGE, "but to certificate 3 ("},
    {"P12 two keys", {"leaf.key", "other-leaf.key", "leaf.pem"}, CK_FMT_P12,
        {.password = "x"}, CK_E_USAGE,
        "takes one private key, but the bundle has 2"},
    /* An empty password protects nothing (encode.c invariant 4). */
    {"P12 empty password", {"leaf.key", "chain.pem"}, CK_FMT_P12,
        {.password = ""}, CK_E_USAGE,
        "the PKCS#12 password is empty: a PKCS#12 file under an empty "
        "password keeps its private key readable by anyone"},
    {"P12 certificates only, empty password", {"chain.pem"}, CK_FMT_P12,
        {.password = ""}, CK_E_USAGE, "the PKCS#12 password is empty"},
    {"PEM key, empty password", {"leaf.key", "leaf.pem"}, CK_FMT_PEM,
        {.password = ""}, CK_E_USAGE,
        "the password to encrypt the PEM private key is empty"},
    {"DER key, empty password", {"leaf.key"}, CK_FMT_DER, {.password = ""},
        CK_E_USAGE, "the password to encrypt the DER private key is empty"},
    {"bad format", {"leaf.pem"}, (ck_format)9, {0}, CK_E_USAGE,
        "unknown output format 9"},
};

static void
test_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		ck_ctx *ctx = ctx_pw(NULL);
		ck_bundle *b = load(ctx, c->in);
		uint8_t *buf = (uint8_t *)"sentinel";
		size_t len = 99;
		ck_status st;

		st = ck_encode_bundle(ctx, b, c->fmt, &c->wo, &buf, &len);
		if (st != c->want || strstr(ck_ctx_error(ctx), c->msg) == NULL)
			fail_msg("%s: got %d '%s', want %d '...%s...'", c->name,
			    (int)st, ck_ctx_error(ctx), (int)c->want, c->msg);
		assert_null(buf);
		assert_int_equal(len, 0);
		ck_bundle_free(b);
		ck_ctx_free(ctx);
	}
}

static void
test_empty_bundle(void **state)
{
	static const ck_format fmts[] = {
	    CK_FMT_PEM, CK_FMT_DER, CK_FMT_P12, CK_FMT_P7B};
	ck_bundle *b = ck_bundle_new();

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		ck_ctx *ctx = ctx_pw(NULL);
		uint8_t *buf = NULL;
		size_t len = 0;

		assert_int_equal(
		    ck_encode_bundle(ctx, b, fmts[i], NULL, &buf, &len),
		    CK_E_USAGE);
		assert_true(ck_ctx_error(ctx)[0] != '\0');
		assert_null(buf);
		ck_ctx_free(ctx);
	}
	ck_bundle_free(b);
}

/* ---- ck_write_bundle -------------------------------------------------------
 */

static const struct {
	const char *in[4];
	ck_format fmt;
	unsigned mode;
	mode_t umask;
} write_cases[] = {
    {{"fullchain.pem"}, CK_FMT_PEM, 0644, 077},
    {{"leaf.key"}, CK_FMT_PEM, 0600, 000},
    {{"leaf.key"}, CK_FMT_DER, 0600, 022},
    {{"leaf.p12"}, CK_FMT_P12, 0600, 000},
    {{"fullchain.pem"}, CK_FMT_P12, 0644, 022},
    {{"fullchain.pem"}, CK_FMT_P7B, 0644, 077},
};

static void
test_write_modes(void **state)
{
	char dir[] = "/tmp/certkit-encode.XXXXXX", path[128];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out", dir);
	for (size_t i = 0; i < sizeof(write_cases) / sizeof(write_cases[0]);
	     i++) {
		ck_ctx *ctx = ctx_pw("secret");
		ck_bundle *b = load(ctx, write_cases[i].in), *back = NULL;
		ck_write_opts wo = {.password = "secret"};
		mode_t old = umask(write_cases[i].umask);
		struct stat st;

		assert_int_equal(
		    ck_write_bundle(ctx, b, write_cases[i].fmt, &wo, path),
		    CK_OK);
		umask(old);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, write_cases[i].mode);
		assert_int_equal(ck_load_file(ctx, path, &back), CK_OK);
		assert_int_equal(ck_bundle_count(back, CK_OBJ_CERT),
		    ck_bundle_count(b, CK_OBJ_CERT));
		ck_bundle_free(back);
		ck_bundle_free(b);
		ck_ctx_free(ctx);
	}
	unlink(path);
	rmdir(dir);
}

static void
test_write_failures_keep_old(void **state)
{
	static const char *const faults[] = {"write", "fsync", "rename"};
	char dir[] = "/tmp/certkit-encode.XXXXXX", path[128], bad[160];
	ck_ctx *ctx = ctx_pw(NULL);
	ck_bundle *b = load1(ctx, "chain.pem");
	uint8_t *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/fullchain.pem", dir);
	assert_int_equal(
	    ck_write_file_atomic(ctx, path, "old\n", 4, 0644), CK_OK);
	assert_int_equal(cki_read_file(ctx, path, &before, &blen), CK_OK);
	for (size_t i = 0; i < 3; i++) {
		setenv("CERTKIT_FAULT", faults[i], 1);
		assert_int_equal(
		    ck_write_bundle(ctx, b, CK_FMT_PEM, NULL, path), CK_E_IO);
		unsetenv("CERTKIT_FAULT");
		assert_int_equal(
		    cki_read_file(ctx, path, &after, &alen), CK_OK);
		assert_int_equal(alen, blen);
		assert_memory_equal(after, before, blen);
		free(after);
	}
	/* An encoding failure touches nothing either. */
	assert_int_equal(
	    ck_write_bundle(ctx, b, CK_FMT_DER, NULL, path), CK_E_USAGE);
	assert_int_equal(cki_read_file(ctx, path, &after, &alen), CK_OK);
	assert_memory_equal(after, before, blen);
	free(after);
	/* A missing directory and a directory as target say so. */
	snprintf(bad, sizeof(bad), "%s/nodir/out.pem", dir);
	assert_int_equal(
	    ck_write_bundle(ctx, b, CK_FMT_PEM, NULL, bad), CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(ctx), "nodir does not exist"));
	assert_int_equal(
	    ck_write_bundle(ctx, b, CK_FMT_PEM, NULL, dir), CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(ctx), "is a directory"));
	assert_int_equal(
	    ck_write_bundle(ctx, b, CK_FMT_PEM, NULL, NULL), CK_E_USAGE);
	free(before);
	unlink(path);
	rmdir(dir);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* ---- ck_bundle_select ------------------------------------------------------
 */

static void
test_select(void **state)
{
	ck_ctx *ctx = ctx_pw("secret");
	static const char *const files[4] = {
	    "mixed.pem", "leaf.p12", "leaf.key"};
	ck_bundle *b = load(ctx, files), *s = NULL;
	char fa[256], fb[256];

	(void)state;
	/* mixed: key, leaf, int, CRL, CSR; leaf.p12: key, leaf, int, root. */
	assert_int_equal(ck_bundle_count(b, CK_OBJ_KEY), 3);
	assert_int_equal(ck_bundle_select(ctx, b, 0, 0, &s), CK_OK);
	/* The same key three times is one key. */
	assert_int_equal(ck_bundle_count(s, CK_OBJ_KEY), 1);
	assert_int_equal(ck_bundle_count(s, CK_OBJ_CERT), 5);
	assert_int_equal(ck_bundle_count(s, CK_OBJ_CRL), 1);
	assert_int_equal(ck_bundle_count(s, CK_OBJ_CSR), 1);
	assert_string_equal(ck_bundle_origin(s, CK_OBJ_CERT, 0),
	    ck_bundle_origin(b, CK_OBJ_CERT, 0));
	ck_bundle_free(s);

	assert_int_equal(ck_bundle_select(ctx, b,
	                     CK_SEL(CK_OBJ_CRL) | CK_SEL(CK_OBJ_CSR), 0, &s),
	    CK_OK);
	assert_int_equal(ck_bundle_count(s, CK_OBJ_CERT), 0);
	assert_int_equal(
	    ck_bundle_count(s, CK_OBJ_CRL) + ck_bundle_count(s, CK_OBJ_CSR), 2);
	ck_bundle_free(s);

	assert_int_equal(
	    ck_bundle_select(ctx, b, CK_SEL(CK_OBJ_CERT), 2, &s), CK_OK);
	assert_int_equal(ck_bundle_count(s, CK_OBJ_CERT), 1);
	ck_cert_sha256(ck_bundle_get0_cert(s, 0), fa);
	ck_cert_sha256(ck_bundle_get0_cert(b, 1), fb);
	assert_string_equal(fa, fb);
	ck_bundle_free(s);

	s = (ck_bundle *)1;
	assert_int_equal(ck_bundle_select(ctx, b, CK_SEL(CK_OBJ_CERT), 6, &s),
	    CK_E_NOTFOUND);
	assert_null(s);
	assert_non_null(strstr(ck_ctx_error(ctx),
	    "asked for certificate 6, but the input has 5 certificates"));
	assert_int_equal(ck_bundle_select(ctx, b, 0, 1, &s), CK_E_USAGE);
	assert_int_equal(ck_bundle_select(ctx, b, 0x10, 0, &s), CK_E_USAGE);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* ---- normalize + write: the "clean fullchain" promise -----------------------
 */

/* With ck_bundle_normalize (lib/pki/chain.c), every messy variant of the chain
 * writes the same bytes as fullchain.pem (or chain.pem). */
static void
test_normalized_pem(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"reversed.pem", "fullchain.pem"},
	    {"crlf.pem", "fullchain.pem"},
	    {"dup.pem", "chain.pem"},
	    {"bom.pem", "chain.pem"},
	    {"noisy.pem", "chain.pem"},
	    {"fullchain.pem", "fullchain.pem"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_ctx *ctx = ctx_pw(NULL);
		ck_bundle *b = load1(ctx, cases[i].in);
		uint8_t *buf = NULL, *want = NULL;
		size_t len = 0, wlen = 0;

		assert_int_equal(ck_bundle_normalize(ctx, b), CK_OK);
		assert_int_equal(
		    ck_encode_bundle(ctx, b, CK_FMT_PEM, NULL, &buf, &len),
		    CK_OK);
		assert_int_equal(
		    cki_read_file(ctx, pki(cases[i].want), &want, &wlen),
		    CK_OK);
		if (len != wlen || memcmp(buf, want, len) != 0)
			fail_msg("%s normalized differs from %s", cases[i].in,
			    cases[i].want);
		free(buf);
		free(want);
		ck_bundle_free(b);
		ck_ctx_free(ctx);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips),
	    cmocka_unit_test(test_der_is_exact),
	    cmocka_unit_test(test_pem_order),
	    cmocka_unit_test(test_encrypted_key_needs_password),
	    cmocka_unit_test(test_p12_protection),
	    cmocka_unit_test(test_p12_java_trust_and_names),
	    cmocka_unit_test(test_p12_pairing),
	    cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_empty_bundle),
	    cmocka_unit_test(test_write_modes),
	    cmocka_unit_test(test_write_failures_keep_old),
	    cmocka_unit_test(test_select),
	    cmocka_unit_test(test_normalized_pem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
