/*
 * test_ca_crl.c: lib/ca/ca_crl.c: the CA's CRL, read back and checked by
 * the real `openssl crl -verify` and `openssl verify -crl_check`: expired
 * entries dropped, reasons, a CRL number that grows, 10,000 entries, and
 * refusals of bad entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca_fixture.h"
#include "ca_int.h"
#include "testutil.h"

static char dir[64];
static char cadir[128];

static int
setup(void **state)
{
	(void)state;
	if (cafix_new(dir, sizeof(dir), "cacrl", "CRL Test CA", NULL) != 0)
		return -1;
	snprintf(cadir, sizeof(cadir), "%s/ca", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return cafix_free(dir, NULL);
}

static void
write_file(const char *name, const void *data, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static X509_CRL *
parse(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;

	return d2i_X509_CRL(NULL, &p, (long)len);
}

static long
crl_number(X509_CRL *crl)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	long v;

	assert_non_null(n);
	v = ASN1_INTEGER_get(n);
	ASN1_INTEGER_free(n);
	return v;
}

static void
test_crl_openssl(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca = NULL;
	char good[33], bad[33], old[33];
	ck_ca_revoked list[2];
	uint8_t *der = NULL, *der2 = NULL;
	size_t len, len2;
	X509_CRL *crl, *crl2;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(ck_ca_load(ctx, cadir, &ca), CK_OK);
	cafix_issue(ctx, ca, dir, "good.example.test", good);
	cafix_issue(ctx, ca, dir, "bad.example.test", bad);
	cafix_issue(ctx, ca, dir, "old.example.test", old);
	list[0] = (ck_ca_revoked){
	    bad, now - 60, CK_CA_REASON_KEY_COMPROMISE, now + 86400};
	/* old: revoked, but expired yesterday: dropped from the CRL */
	list[1] = (ck_ca_revoked){
	    old, now - 3 * 86400, CK_CA_REASON_SUPERSEDED, now - 86400};
	assert_int_equal(ck_ca_crl(ctx, ca, list, 2, 0, &der, &len), CK_OK);
	assert_non_null(crl = parse(der, len));
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 1);
	assert_non_null(X509_CRL_get0_nextUpdate(crl));
	write_file("crl.der", der, len);
	assert_int_equal(run_in(dir,
	                     "openssl crl -inform DER -in crl.der -out crl.pem "
	                     "-CAfile ca/ca.pem -noout -verify 2>&1 | "
	                     "grep -q 'verify OK'"),
	    0);
	assert_int_equal(
	    run_in(dir, "openssl crl -inform DER -in crl.der -out crl.pem"), 0);
	assert_int_equal(run_in(dir,
	                     "openssl crl -in crl.pem -noout -text | grep -q "
	                     "'Key Compromise'"),
	    0);
	/* verify -crl_check: good passes, bad is revoked (exit 2). */
	assert_int_equal(run_in(dir,
	                     "openssl verify -crl_check -CAfile ca/root.pem "
	                     "-untrusted ca/ca.pem -CRLfile crl.pem "
	                     "good.example.test.pem >/dev/null"),
	    0);
	assert_int_equal(run_in(dir,
	                     "openssl verify -crl_check -CAfile ca/root.pem "
	                     "-untrusted ca/ca.pem -CRLfile crl.pem "
	                     "bad.example.test.pem 2>&1 | grep -q 'certificate "
	                     "revoked'"),
	    0);
	/* The number grows, even within one second. */
	assert_int_equal(ck_ca_crl(ctx, ca, NULL, 0, 60, &der2, &len2), CK_OK);
	assert_non_null(crl2 = parse(der2, len2));
	assert_true(crl_number(crl2) > crl_number(crl));
	assert_true(crl_number(crl) >= (long)now);
	X509_CRL_free(crl);
	X509_CRL_free(crl2);
	free(der);
	free(der2);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
}

static void
test_crl_10k(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca = NULL;
	ck_ca_revoked *list = calloc(10000, sizeof(*list));
	char(*serials)[33] = calloc(10000, 33);
	uint8_t *der = NULL;
	size_t len, i;
	X509_CRL *crl;
	time_t now = time(NULL);

	(void)state;
	assert_int_equal(ck_ca_load(ctx, cadir, &ca), CK_OK);
	for (i = 0; i < 10000; i++) {
		snprintf(serials[i], 33, "4%031zx", i * 7919);
		list[i] = (ck_ca_revoked){serials[i], now - 100, (int)(i % 6),
		    i < 2000 ? now - 1 : now + 86400};
	}
	assert_int_equal(ck_ca_crl(ctx, ca, list, 10000, 0, &der, &len), CK_OK);
	assert_non_null(crl = parse(der, len));
	assert_int_equal(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)), 8000);
	assert_int_equal(
	    X509_CRL_verify(crl, X509_get0_pubkey(ca->cert->x509)), 1);
	X509_CRL_free(crl);
	free(der);
	free(list);
	free(serials);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
}

static void
test_crl_refusals(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca = NULL;
	uint8_t *der = NULL;
	size_t len;
	ck_ca_revoked bad_reason = {
	    "4a0b00112233445566778899aabbccdd", 1, 7, 0};
	ck_ca_revoked bad_serial = {"4a0b", 1, 1, 0};

	(void)state;
	assert_int_equal(ck_ca_load(ctx, cadir, &ca), CK_OK);
	assert_int_equal(
	    ck_ca_crl(ctx, ca, &bad_reason, 1, 0, &der, &len), CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(ctx), "not a CRLReason"));
	assert_int_equal(
	    ck_ca_crl(ctx, ca, &bad_serial, 1, 0, &der, &len), CK_E_USAGE);
	assert_null(der);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_crl_openssl, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crl_10k, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crl_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
