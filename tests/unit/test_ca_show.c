/*
 * test_ca_show.c: lib/ca/ca_show.c: the CA's chain as PEM, the certs-only
 * PKCS#7 of EST (read back by `openssl pkcs7 -print_certs`) and the show
 * report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>
#include <openssl/pkcs7.h>

#include "ca_fixture.h"
#include "ca_int.h"
#include "testutil.h"

static char dir[64];
static ck_ca *ca;

static int
setup(void **state)
{
	(void)state;
	return cafix_new(dir, sizeof(dir), "cashow", "Show CA", &ca);
}

static int
teardown(void **state)
{
	(void)state;
	return cafix_free(dir, ca);
}

static int
p7_count(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)len);
	int n;

	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info), 0);
	n = sk_X509_num(p7->d.sign->cert);
	PKCS7_free(p7);
	return n;
}

static void
test_chain_and_pkcs7(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	char *pem = NULL, *p, cmd[512];
	uint8_t *der = NULL, *leaf = NULL;
	int n = 0, len;
	size_t dlen;
	FILE *f;

	(void)state;
	assert_int_equal(ck_ca_chain_pem(ctx, ca, &pem), CK_OK);
	for (p = pem; (p = strstr(p, "BEGIN CERTIFICATE")) != NULL; p++)
		n++;
	assert_int_equal(n, 2);
	/* cacerts: the issuing CA and the root */
	assert_int_equal(ck_ca_pkcs7(ctx, ca, NULL, 0, &der, &dlen), CK_OK);
	assert_int_equal(p7_count(der, dlen), 2);
	free(der);
	/* simpleenroll: the leaf first */
	len = i2d_X509(ca->root->x509, &leaf);
	assert_int_equal(
	    ck_ca_pkcs7(ctx, ca, leaf, (size_t)len, &der, &dlen), CK_OK);
	assert_int_equal(p7_count(der, dlen), 3);
	snprintf(cmd, sizeof(cmd), "%s/p7.der", dir);
	assert_non_null(f = fopen(cmd, "wb"));
	fwrite(der, 1, dlen, f);
	fclose(f);
	free(der);
	snprintf(cmd, sizeof(cmd),
	    "openssl pkcs7 -inform DER -in %s/p7.der -print_certs | grep -c "
	    "'^subject=' | grep -qx 3",
	    dir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(
	    ck_ca_pkcs7(ctx, ca, (const uint8_t *)"x", 1, &der, &dlen),
	    CK_E_FORMAT);
	OPENSSL_free(leaf);
	free(pem);
	ck_ctx_free(ctx);
}

static void
test_show(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	char *json = NULL;
	json_t *doc;

	(void)state;
	assert_int_equal(ck_ca_set_urls(ca, "http://p.test/crl", NULL), CK_OK);
	assert_int_equal(
	    ck_ca_set_urls(ca, "http://p.test/a,b", NULL), CK_E_USAGE);
	assert_int_equal(ck_ca_set_cert_days(ca, 0), CK_E_USAGE);
	assert_int_equal(ck_ca_set_cert_days(ca, 30), CK_OK);
	assert_int_equal(ck_ca_show(ctx, ca, &json), CK_OK);
	assert_non_null(doc = json_loads(json, 0, NULL));
	assert_string_equal(
	    json_string_value(json_object_get(doc, "name")), "Show CA");
	assert_int_equal(
	    json_integer_value(json_object_get(doc, "cert_days")), 30);
	assert_string_equal(json_string_value(json_object_get(doc, "crl_url")),
	    "http://p.test/crl");
	assert_true(json_is_null(json_object_get(doc, "ocsp_url")));
	assert_int_equal(strlen(json_string_value(json_object_get(
	                     json_object_get(doc, "issuing"), "serial"))),
	    32);
	json_decref(doc);
	free(json);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_and_pkcs7),
	    cmocka_unit_test(test_show),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
