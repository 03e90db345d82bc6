/*
 * test_bundle.c: lib/core/bundle.c: the container the loader fills. One
 * list per object type, in the order the objects came, each with its
 * origin; the bundle owns what is in it; merge moves, add copies; bad
 * types and indexes give nothing, never a crash.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "testutil.h"

static X509 *
read_x509(const char *file)
{
	FILE *fp = fopen(pki(file), "r");
	X509 *x;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static ck_cert *
cert(const char *file)
{
	ck_cert *c = cki_cert_wrap(read_x509(file));

	assert_non_null(c);
	return c;
}

static ck_key *
key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	ck_key *w;

	assert_non_null(k);
	assert_non_null(w = cki_key_wrap(k));
	return w;
}

static void
push(ck_bundle *b, ck_obj_type t, void *obj, const char *origin)
{
	assert_int_equal(cki_bundle_push(b, t, obj, origin), CK_OK);
}

/* Nothing in an empty or NULL bundle, and nothing at a bad type or index. */
static void
test_empty_and_bounds(void **state)
{
	ck_bundle *b = ck_bundle_new();

	(void)state;
	assert_non_null(b);
	for (int t = 0; t < 4; t++) {
		assert_int_equal(ck_bundle_count(b, (ck_obj_type)t), 0);
		assert_null(ck_bundle_origin(b, (ck_obj_type)t, 0));
		assert_int_equal(ck_bundle_count(NULL, (ck_obj_type)t), 0);
	}
	assert_null(ck_bundle_get0_cert(b, 0));
	assert_null(ck_bundle_get0_key(b, 0));
	assert_null(ck_bundle_get0_cert(NULL, 0));
	push(b, CK_OBJ_CERT, cert("root-ca.pem"), "root");
	/* Negative: past the end, other types, types out of range. */
	assert_null(ck_bundle_get0_cert(b, 1));
	assert_null(ck_bundle_get0_key(b, 0));
	assert_null(ck_bundle_origin(b, CK_OBJ_CERT, 1));
	assert_null(ck_bundle_origin(b, CK_OBJ_KEY, 0));
	assert_int_equal(ck_bundle_count(b, (ck_obj_type)4), 0);
	assert_int_equal(ck_bundle_count(b, (ck_obj_type)-1), 0);
	assert_null(cki_bundle_get(b, (ck_obj_type)4, 0));
	assert_null(cki_bundle_get(b, (ck_obj_type)-1, 0));
	assert_null(ck_bundle_origin(b, (ck_obj_type)7, 0));
	assert_null(ck_bundle_origin(NULL, CK_OBJ_CERT, 0));
	assert_null(ck_cert_dup(NULL));
	assert_null(ck_key_dup(NULL));
	ck_bundle_free(b);
	ck_bundle_free(NULL);
	ck_cert_free(NULL);
	ck_key_free(NULL);
}

/* The order and the origins survive growing past the first allocation;
 * a NULL origin reads as "". */
static void
test_order_and_origin(void **state)
{
	static const char *const files[] = {
	    "root-ca.pem", "int-ca.pem", "leaf.pem", "other-root.pem"};
	ck_bundle *b = ck_bundle_new();
	X509 *want[20];
	char o[32];

	(void)state;
	for (size_t i = 0; i < 20; i++) {
		ck_cert *c = cert(files[i % 4]);

		want[i] = c->x509;
		snprintf(o, sizeof(o), "block %zu", i + 1);
		push(b, CK_OBJ_CERT, c, o);
	}
	push(b, CK_OBJ_KEY, key(), NULL);
	assert_int_equal(ck_bundle_count(b, CK_OBJ_CERT), 20);
	assert_int_equal(ck_bundle_count(b, CK_OBJ_KEY), 1);
	assert_int_equal(ck_bundle_count(b, CK_OBJ_CSR), 0);
	for (size_t i = 0; i < 20; i++) {
		snprintf(o, sizeof(o), "block %zu", i + 1);
		assert_ptr_equal(ck_bundle_get0_cert(b, i)->x509, want[i]);
		assert_string_equal(ck_bundle_origin(b, CK_OBJ_CERT, i), o);
	}
	assert_string_equal(ck_bundle_origin(b, CK_OBJ_KEY, 0), "");
	ck_bundle_free(b);
}

/* add copies: the bundle keeps its handle when the caller frees theirs,
 * and the origin says "added". */
static void
test_add_copies(void **state)
{
	ck_bundle *b = ck_bundle_new();
	ck_cert *c = cert("leaf.pem");
	ck_key *k = key();
	X509 *x = c->x509;

	(void)state;
	assert_int_equal(ck_bundle_add_cert(b, c), CK_OK);
	assert_int_equal(ck_bundle_add_key(b, k), CK_OK);
	assert_ptr_not_equal(ck_bundle_get0_cert(b, 0), c);
	assert_ptr_equal(ck_bundle_get0_cert(b, 0)->x509, x);
	assert_ptr_not_equal(ck_bundle_get0_key(b, 0), k);
	ck_cert_free(c);
	ck_key_free(k);
	/* Still whole after the caller's copies are gone. */
	assert_int_equal(X509_check_private_key(ck_bundle_get0_cert(b, 0)->x509,
	                     ck_bundle_get0_key(b, 0)->pkey),
	    0);
	assert_non_null(X509_get_subject_name(ck_bundle_get0_cert(b, 0)->x509));
	assert_string_equal(ck_bundle_origin(b, CK_OBJ_CERT, 0), "added");
	assert_string_equal(ck_bundle_origin(b, CK_OBJ_KEY, 0), "added");
	ck_bundle_free(b);
}

/* merge moves every object, type by type, to the end of dst, origins
 * included, and leaves src empty and usable. */
static void
test_merge(void **state)
{
	ck_bundle *dst = ck_bundle_new(), *src = ck_bundle_new();
	ck_bundle *empty = ck_bundle_new();
	X509 *a, *b2;

	(void)state;
	push(dst, CK_OBJ_CERT, cert("leaf.pem"), "dst 1");
	push(src, CK_OBJ_CERT, cert("int-ca.pem"), "src 1");
	push(src, CK_OBJ_CERT, cert("root-ca.pem"), "src 2");
	push(src, CK_OBJ_KEY, key(), "src key");
	push(src, CK_OBJ_CSR, X509_REQ_new(), "src csr");
	push(src, CK_OBJ_CRL, X509_CRL_new(), "src crl");
	a = ((ck_cert *)cki_bundle_get(src, CK_OBJ_CERT, 0))->x509;
	b2 = ((ck_cert *)cki_bundle_get(src, CK_OBJ_CERT, 1))->x509;
	assert_int_equal(ck_bundle_merge(dst, src), CK_OK);
	assert_int_equal(ck_bundle_count(dst, CK_OBJ_CERT), 3);
	assert_int_equal(ck_bundle_count(dst, CK_OBJ_KEY), 1);
	assert_int_equal(ck_bundle_count(dst, CK_OBJ_CSR), 1);
	assert_int_equal(ck_bundle_count(dst, CK_OBJ_CRL), 1);
	assert_string_equal(ck_bundle_origin(dst, CK_OBJ_CERT, 0), "dst 1");
	assert_ptr_equal(ck_bundle_get0_cert(dst, 1)->x509, a);
	assert_ptr_equal(ck_bundle_get0_cert(dst, 2)->x509, b2);
	assert_string_equal(ck_bundle_origin(dst, CK_OBJ_CERT, 2), "src 2");
	assert_string_equal(ck_bundle_origin(dst, CK_OBJ_CRL, 0), "src crl");
	for (int t = 0; t < 4; t++)
		assert_int_equal(ck_bundle_count(src, (ck_obj_type)t), 0);
	/* src is empty, not broken: it takes objects again. */
	push(src, CK_OBJ_CERT, cert("other-root.pem"), "again");
	assert_int_equal(ck_bundle_count(src, CK_OBJ_CERT), 1);
	/* Merging nothing changes nothing. */
	assert_int_equal(ck_bundle_merge(dst, empty), CK_OK);
	assert_int_equal(ck_bundle_count(dst, CK_OBJ_CERT), 3);
	ck_bundle_free(empty);
	ck_bundle_free(src);
	ck_bundle_free(dst); /* frees the CSR and CRL too (ASan) */
}

/* The loader's bundle of a real file: the PKCS#12's key and chain. */
static void
test_loaded(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;

	(void)state;
	assert_int_equal(ck_ctx_set_password(ctx, "secret"), CK_OK);
	assert_int_equal(ck_load_file(ctx, pki("leaf.p12"), &b), CK_OK);
	assert_int_equal(ck_bundle_count(b, CK_OBJ_KEY), 1);
	assert_true(ck_bundle_count(b, CK_OBJ_CERT) >= 1);
	assert_non_null(strstr(ck_bundle_origin(b, CK_OBJ_KEY, 0), "leaf.p12"));
	ck_bundle_free(b);
	/* Negative: nothing loaded, no bundle. */
	b = NULL;
	assert_int_equal(ck_load_file(ctx, pki("random.bin"), &b), CK_E_FORMAT);
	assert_null(b);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_empty_and_bounds),
	    cmocka_unit_test(test_order_and_origin),
	    cmocka_unit_test(test_add_copies),
	    cmocka_unit_test(test_merge),
	    cmocka_unit_test(test_loaded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
