/*
 * test_reference.c: the reference set (lib/trust/reference.c, cmake/
 * reference.cmake): the embedded roots, lookups by name and fingerprint,
 * ambiguity, and a reference file given at run time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "reference_int.h"
#include "trust_int.h"

#define ISRG_X1                                                                \
	"96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"

static void
test_embedded_set(void **state)
{
	const STACK_OF(X509) *sk = cki_reference_certs();

	(void)state;
	assert_non_null(sk);
	/* loaded once: the same stack every time */
	assert_ptr_equal(sk, cki_reference_certs());
	if (cki_reference_files == 0)
		skip(); /* built without ca-certificates */
	/* every file became a certificate (Debian's files hold one each) */
	assert_int_equal((unsigned)sk_X509_num(sk), cki_reference_files);
	assert_int_equal(ck_reference_count(), (size_t)sk_X509_num(sk));
}

static void
test_lookups(void **state)
{
	static const struct {
		const char *query;
		ck_status want;
		const char *cn; /* expected common name, or message part */
	} cases[] = {
	    {"ISRG Root X1", CK_OK, "ISRG Root X1"},
	    {"isrg root x1", CK_OK, "ISRG Root X1"},
	    {"  ISRG Root X1 ", CK_OK, "ISRG Root X1"},
	    {ISRG_X1, CK_OK, "ISRG Root X1"},
	    {"Starfield Root Certificate Authority - G2", CK_OK,
	        "Starfield Root Certificate Authority - G2"},
	    {"DigiCert Global Root G2", CK_OK, "DigiCert Global Root G2"},
	    {"ISRG Root", CK_E_USAGE, "ISRG Root X2"},
	    {"DigiCert", CK_E_USAGE, "matches"},
	    {"No Such Root Anywhere", CK_E_NOTFOUND, "matches"},
	    {"", CK_E_USAGE, "empty"},
	    {"0000000000000000000000000000000000000000000000000000000000000000",
	        CK_E_NOTFOUND, "matches"},
	};
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	if (ck_reference_count() == 0) {
		ck_ctx_free(ctx);
		skip();
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_cert *c = NULL;
		ck_status st = ck_reference_get(ctx, NULL, cases[i].query, &c);

		assert_int_equal(st, cases[i].want);
		if (st == CK_OK) {
			char *cn = ck_cert_common_name(c);

			assert_string_equal(cn, cases[i].cn);
			free(cn);
			ck_cert_free(c);
		} else {
			assert_null(c);
			assert_non_null(strstr(ck_ctx_error(ctx), cases[i].cn));
		}
	}
	/* find lists every match */
	{
		ck_bundle *b = NULL;

		assert_int_equal(
		    ck_reference_find(ctx, NULL, "ISRG Root", &b), CK_OK);
		assert_int_equal(ck_bundle_count(b, CK_OBJ_CERT), 2);
		ck_bundle_free(b);
		assert_int_equal(
		    ck_reference_find(ctx, NULL, "zzzz nothing", &b),
		    CK_E_NOTFOUND);
		assert_null(b);
	}
	ck_ctx_free(ctx);
}

static void
test_reference_file(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_cert *c = NULL;
	char *cn;

	(void)state;
	assert_int_equal(ck_reference_get(ctx, pki("fullchain.pem"),
	                     "certkit test root", &c),
	    CK_OK);
	cn = ck_cert_common_name(c);
	assert_string_equal(cn, "certkit Test Root CA");
	free(cn);
	ck_cert_free(c);
	/* "certkit" matches all three certificates of the file */
	assert_int_equal(
	    ck_reference_get(ctx, pki("fullchain.pem"), "certkit", &c),
	    CK_E_USAGE);
	assert_int_equal(
	    ck_reference_get(ctx, "/nonexistent.pem", "x", &c), CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(ctx), "/nonexistent.pem"));
	assert_int_equal(
	    ck_reference_get(ctx, pki("leaf.key"), "x", &c), CK_E_FORMAT);
	assert_int_equal(
	    ck_reference_get(ctx, pki("html.der"), "x", &c), CK_E_FORMAT);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_embedded_set),
	    cmocka_unit_test(test_lookups),
	    cmocka_unit_test(test_reference_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
