/*
 * test_lab_pki.c: the lab's PKI (lab_pki.c). Each property a diagnosis
 * depends on is checked with OpenSSL itself: the expired old root and its
 * cross-sign, AIA URLs only on public-like CAs, the inspection CA's vendor
 * name, SHA-1 and RSA-1024 leaves, the Device CA's CRL, and a stapleable
 * OCSP response that verifies and says "revoked".
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "lab_int.h"

#define AIA "http://127.0.0.1:1"

static struct cki_lab_pki *lp;

static int
setup(void **state)
{
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	if (ctx == NULL || cki_lab_pki_new(ctx, AIA, &lp) != CK_OK)
		return -1;
	ck_ctx_free(ctx);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	cki_lab_pki_free(lp);
	return 0;
}

/* The caIssuers URL of x, or "" (caller frees nothing: static buffer). */
static const char *
ca_issuers(X509 *x)
{
	static char buf[256];
	AUTHORITY_INFO_ACCESS *aia =
	    X509_get_ext_d2i(x, NID_info_access, NULL, NULL);

	buf[0] = '\0';
	for (int i = 0; aia != NULL && i < sk_ACCESS_DESCRIPTION_num(aia);
	     i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);

		if (OBJ_obj2nid(ad->method) == NID_ad_ca_issuers &&
		    ad->location->type == GEN_URI)
			snprintf(buf, sizeof(buf), "%s",
			    (const char *)ASN1_STRING_get0_data(
			        ad->location->d.uniformResourceIdentifier));
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	return buf;
}

static int
verify(X509 *leaf, const int *anchors, const int *untrusted)
{
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	X509_STORE_CTX *vc = X509_STORE_CTX_new();
	int err;

	for (int i = 0; anchors[i] != LAB_CA_END; i++)
		X509_STORE_add_cert(st, lp->ca[anchors[i]].cert);
	for (int i = 0; untrusted[i] != LAB_CA_END; i++)
		sk_X509_push(chain, lp->ca[untrusted[i]].cert);
	X509_STORE_CTX_init(vc, st, leaf, chain);
	err = X509_verify_cert(vc) == 1 ? X509_V_OK
	                                : X509_STORE_CTX_get_error(vc);
	X509_STORE_CTX_free(vc);
	sk_X509_free(chain);
	X509_STORE_free(st);
	return err;
}

static void
test_cas(void **state)
{
	time_t now = time(NULL);

	(void)state;
	for (int i = 0; i < LAB_CA_COUNT; i++) {
		assert_non_null(lp->ca[i].cert);
		assert_int_equal(X509_check_ca(lp->ca[i].cert), 1);
	}
	/* The old root is expired; its cross-sign of Root X2 is not, and it
	 * carries Root X2's key (the ISRG Root X1 cross-sign). */
	assert_true(X509_cmp_time(
	                X509_get0_notAfter(lp->ca[LAB_CA_OLD].cert), &now) < 0);
	assert_true(X509_cmp_time(
	                X509_get0_notAfter(lp->ca[LAB_CA_X2X].cert), &now) > 0);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(lp->ca[LAB_CA_X2].cert),
	                     X509_get0_pubkey(lp->ca[LAB_CA_X2X].cert)),
	    1);
	assert_int_equal(
	    X509_check_issued(lp->ca[LAB_CA_OLD].cert, lp->ca[LAB_CA_X2X].cert),
	    X509_V_OK);
	/* AIA on public-like issuers only (RFC 5280 4.2.2.1). */
	assert_string_equal(
	    ca_issuers(lp->ca[LAB_CA_R3].cert), AIA "/ca/x1.der");
	assert_string_equal(
	    ca_issuers(lp->ca[LAB_CA_G2I].cert), AIA "/ca/g2.der");
	assert_string_equal(ca_issuers(lp->ca[LAB_CA_ZSI].cert), "");
	assert_string_equal(ca_issuers(lp->ca[LAB_CA_ACMEI].cert), "");
	assert_null(cki_lab_ca_file(LAB_CA_ZS));
	assert_null(cki_lab_ca_file(-1));
	assert_null(cki_lab_ca_file(LAB_CA_COUNT));
	assert_string_equal(cki_lab_ca_file(LAB_CA_R3), "r3.der");
	{
		char *o = X509_NAME_oneline(
		    X509_get_subject_name(lp->ca[LAB_CA_ZS].cert), NULL, 0);

		assert_non_null(strstr(o, "O=Zscaler Inc."));
		assert_non_null(strstr(o, "CN=Zscaler Root CA"));
		OPENSSL_free(o);
	}
}

static void
test_chains(void **state)
{
	static const int x1[] = {LAB_CA_X1, LAB_CA_END};
	static const int old[] = {LAB_CA_X1, LAB_CA_OLD, LAB_CA_END};
	static const int x2[] = {LAB_CA_X2, LAB_CA_END};
	static const int r3[] = {LAB_CA_R3, LAB_CA_END};
	static const int none[] = {LAB_CA_END};
	static const int e1x[] = {LAB_CA_E1, LAB_CA_X2X, LAB_CA_END};
	struct cki_lab_leaf_spec ok = {
	    LAB_CA_R3, "ok.lab.test", "ok.lab.test", -1, 30, 0, 0, 0};
	struct cki_lab_leaf_spec dst = {
	    LAB_CA_E1, "e.lab.test", "e.lab.test", -1, 30, 0, 0, 0};
	struct cki_lab_id a = {0}, b = {0};
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	assert_int_equal(cki_lab_leaf(ctx, lp, &ok, &a), CK_OK);
	assert_int_equal(verify(a.cert, x1, r3), X509_V_OK);
	assert_int_equal(verify(a.cert, x1, none),
	    X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
	assert_string_equal(ca_issuers(a.cert), AIA "/ca/r3.der");
	/* The DST Root CA X3 case: fails on the expired root in the store,
	 * verifies once the new root is there. */
	assert_int_equal(cki_lab_leaf(ctx, lp, &dst, &b), CK_OK);
	assert_int_equal(verify(b.cert, old, e1x), X509_V_ERR_CERT_HAS_EXPIRED);
	assert_int_equal(verify(b.cert, x2, e1x), X509_V_OK);
	cki_lab_id_clear(&a);
	cki_lab_id_clear(&b);
	ck_ctx_free(ctx);
}

static void
test_leaves(void **state)
{
	static const struct {
		struct cki_lab_leaf_spec s;
		int sig_nid, bits, self, future;
	} cases[] = {
	    {{LAB_CA_R3, "a", "a", -1, 30, 1, 0, 0}, NID_ecdsa_with_SHA1, 256,
	        0, 0},
	    {{LAB_CA_R3, "b", "b", -1, 30, 0, 1024, 0}, NID_ecdsa_with_SHA256,
	        1024, 0, 0}, /* R3 is EC */
	    {{LAB_CA_SELF, "c", "c", -1, 30, 0, 0, 0}, NID_ecdsa_with_SHA256,
	        256, 1, 0},
	    {{LAB_CA_R3, "d", "d", 10, 30, 0, 0, 0}, NID_ecdsa_with_SHA256, 256,
	        0, 1},
	};
	ck_ctx *ctx = ck_ctx_new();
	time_t now = time(NULL);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cki_lab_id id = {0};

		assert_int_equal(
		    cki_lab_leaf(ctx, lp, &cases[i].s, &id), CK_OK);
		assert_int_equal(
		    X509_get_signature_nid(id.cert), cases[i].sig_nid);
		assert_int_equal(EVP_PKEY_get_bits(id.key), cases[i].bits);
		assert_int_equal(
		    X509_check_host(id.cert, cases[i].s.san, 0, 0, NULL), 1);
		assert_int_equal(
		    (X509_get_extension_flags(id.cert) & EXFLAG_SS) != 0,
		    cases[i].self);
		assert_int_equal(
		    X509_cmp_time(X509_get0_notBefore(id.cert), &now) > 0,
		    cases[i].future);
		cki_lab_id_clear(&id);
	}
	ck_ctx_free(ctx);
}

static void
test_leaf_errors(void **state)
{
	char cn[300];
	struct cki_lab_leaf_spec s = {LAB_CA_R3, cn, NULL, -1, 30, 0, 0, 0};
	struct cki_lab_id id = {0};
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	/* A name no certificate can carry (CN is at most 64 characters,
	 * RFC 5280 A.1): an error naming it, nothing allocated. */
	memset(cn, 'x', sizeof(cn) - 1);
	cn[sizeof(cn) - 1] = '\0';
	assert_int_equal(cki_lab_leaf(ctx, lp, &s, &id), CK_E_INTERNAL);
	assert_non_null(
	    strstr(ck_ctx_error(ctx), "cannot make the certificate"));
	assert_null(id.cert);
	assert_null(id.key);
	ck_ctx_free(ctx);
}

static void
test_clients_crl(void **state)
{
	X509_REVOKED *rev = NULL;
	time_t now = time(NULL);

	(void)state;
	assert_null(lp->client[LAB_CLIENT_NONE].cert);
	for (int i = 1; i < LAB_CLIENT_COUNT; i++)
		assert_int_equal(X509_check_purpose(lp->client[i].cert,
		                     X509_PURPOSE_SSL_CLIENT, 0),
		    1);
	assert_true(X509_cmp_time(
	                X509_get0_notAfter(lp->client[LAB_CLIENT_EXPIRED].cert),
	                &now) < 0);
	assert_int_equal(X509_check_issued(lp->ca[LAB_CA_ROGUE].cert,
	                     lp->client[LAB_CLIENT_UNKNOWN].cert),
	    X509_V_OK);
	assert_int_equal(X509_CRL_verify(lp->dev_crl,
	                     X509_get0_pubkey(lp->ca[LAB_CA_DEV].cert)),
	    1);
	assert_int_equal(
	    X509_CRL_get0_by_serial(lp->dev_crl, &rev,
	        X509_get0_serialNumber(lp->client[LAB_CLIENT_REVOKED].cert)),
	    1);
	assert_int_equal(
	    X509_CRL_get0_by_serial(lp->dev_crl, &rev,
	        X509_get0_serialNumber(lp->client[LAB_CLIENT_PAIRED].cert)),
	    0);
}

static void
test_ocsp(void **state)
{
	struct cki_lab_leaf_spec s = {
	    LAB_CA_R3, "r.lab.test", "r.lab.test", -1, 30, 0, 0, 1};
	struct cki_lab_id id = {0};
	ck_ctx *ctx = ck_ctx_new();
	uint8_t *der = NULL;
	size_t len = 0;
	const unsigned char *p;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;
	OCSP_CERTID *cid;
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *certs = sk_X509_new_null();
	int status = -1, reason = -1;

	(void)state;
	assert_int_equal(cki_lab_leaf(ctx, lp, &s, &id), CK_OK);
	for (int revoked = 1; revoked >= 0; revoked--) {
		assert_int_equal(cki_lab_ocsp_response(ctx, lp, LAB_CA_R3,
		                     id.cert, revoked, &der, &len),
		    CK_OK);
		p = der;
		assert_non_null(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len));
		assert_int_equal(OCSP_response_status(resp),
		    OCSP_RESPONSE_STATUS_SUCCESSFUL);
		assert_non_null(bs = OCSP_response_get1_basic(resp));
		/* RFC 6960 4.2.2.2: signed by the issuing CA itself. */
		X509_STORE_add_cert(st, lp->ca[LAB_CA_X1].cert);
		sk_X509_push(certs, lp->ca[LAB_CA_R3].cert);
		assert_int_equal(OCSP_basic_verify(bs, certs, st, 0), 1);
		cid = OCSP_cert_to_id(
		    EVP_sha1(), id.cert, lp->ca[LAB_CA_R3].cert);
		assert_int_equal(OCSP_resp_find_status(bs, cid, &status,
		                     &reason, NULL, NULL, NULL),
		    1);
		assert_int_equal(status,
		    revoked ? V_OCSP_CERTSTATUS_REVOKED
		            : V_OCSP_CERTSTATUS_GOOD);
		if (revoked)
			assert_int_equal(
			    reason, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
		OCSP_CERTID_free(cid);
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		free(der);
		der = NULL;
		sk_X509_pop(certs);
	}
	sk_X509_free(certs);
	X509_STORE_free(st);
	cki_lab_id_clear(&id);
	ck_ctx_free(ctx);
}

static void
test_pem(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	char *buf = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(
	    cki_lab_pem_cert(ctx, lp->ca[LAB_CA_X1].cert, &buf, &len), CK_OK);
	assert_int_equal(
	    cki_lab_pem_cert(ctx, lp->ca[LAB_CA_X2].cert, &buf, &len), CK_OK);
	assert_int_equal(strlen(buf), len);
	assert_int_equal(strncmp(buf, "-----BEGIN CERTIFICATE-----", 27), 0);
	assert_non_null(strstr(buf + 27, "-----BEGIN CERTIFICATE-----"));
	free(buf);
	buf = NULL;
	len = 0;
	assert_int_equal(
	    cki_lab_pem_key(ctx, lp->client[1].key, &buf, &len), CK_OK);
	assert_int_equal(strncmp(buf, "-----BEGIN PRIVATE KEY-----", 27), 0);
	OPENSSL_cleanse(buf, len);
	free(buf);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cas),
	    cmocka_unit_test(test_chains),
	    cmocka_unit_test(test_leaves),
	    cmocka_unit_test(test_leaf_errors),
	    cmocka_unit_test(test_clients_crl),
	    cmocka_unit_test(test_ocsp),
	    cmocka_unit_test(test_pem),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
