/*
 * test_ca.c: lib/ca/ca.c and ca_issue.c: the CA's directory (atomic init,
 * key modes, --root-out, refusal to replace a CA, load) and what it issues
 * (clientAuth only, only the approved names, 16-byte serials, a chain that
 * verifies, refusals of bad CSRs and names).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "ca_int.h"
#include "testutil.h"

static char home[64];
static char cadir[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(home, sizeof(home), "/tmp/certkit-ca.XXXXXX");
	if (mkdtemp(home) == NULL)
		return -1;
	snprintf(cadir, sizeof(cadir), "%s/ca", home);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	return system(cmd) == 0 ? 0 : -1;
}

static mode_t
mode_of(const char *dir, const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &st) == -1)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

/* A DER CSR for a fresh key, asking for `san` (config text) too. */
static uint8_t *
make_csr(const char *alg, const char *san, size_t *len, EVP_PKEY **keyout)
{
	EVP_PKEY *k = strcmp(alg, "RSA") == 0
	    ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
	    : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_REQ *req = X509_REQ_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	X509_NAME *name = X509_REQ_get_subject_name(req);
	unsigned char *der = NULL;
	uint8_t *out;
	int n;

	assert_non_null(k);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"evil.example", -1, -1, 0);
	if (san != NULL) {
		X509_EXTENSION *e =
		    X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
		assert_non_null(e);
		sk_X509_EXTENSION_push(exts, e);
		X509_REQ_add_extensions(req, exts);
	}
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	assert_int_equal(X509_REQ_set_pubkey(req, k), 1);
	assert_true(X509_REQ_sign(req, k, EVP_sha256()) > 0);
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	out = malloc((size_t)n);
	memcpy(out, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	X509_REQ_free(req);
	if (keyout != NULL)
		*keyout = k;
	else
		EVP_PKEY_free(k);
	return out;
}

static X509 *
der_x509(const ck_ca_issued *is)
{
	const unsigned char *p = is->der;

	return d2i_X509(NULL, &p, (long)is->der_len);
}

static void
test_init_files_and_modes(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca_init_opts o = {.name = "Test CA", .key = CK_CA_KEY_EC_P256};
	ck_ca *ca = NULL, *again = NULL;

	(void)state;
	umask(022);
	assert_int_equal(ck_ca_init(ctx, cadir, &o, &ca), CK_OK);
	assert_int_equal(mode_of(cadir, "ca.key"), 0600);
	assert_int_equal(mode_of(cadir, "root.key"), 0600);
	assert_int_equal(mode_of(cadir, "ca.pem"), 0644);
	assert_int_equal(mode_of(cadir, "root.pem"), 0644);
	assert_int_equal(mode_of(home, "ca") & 0077, 0);
	assert_true(ca->root_key_kept);
	assert_true(ck_cert_is_ca(ck_ca_get0_cert(ca)));
	assert_true(
	    ck_cert_issued_by(ck_ca_get0_cert(ca), ck_ca_get0_root(ca)));
	assert_true(ck_cert_is_self_signed(ck_ca_get0_root(ca)));
	/* A second init never replaces the key. */
	assert_int_equal(ck_ca_init(ctx, cadir, &o, &again), CK_E_EXISTS);
	assert_null(again);
	assert_non_null(strstr(ck_ctx_error(ctx), "exists already"));
	/* Load gives the same CA. */
	assert_int_equal(ck_ca_load(ctx, cadir, &again), CK_OK);
	assert_int_equal(X509_cmp(again->cert->x509, ca->cert->x509), 0);
	assert_int_equal(EVP_PKEY_eq(again->key, ca->key), 1);
	ck_ca_free(again);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
}

static void
test_init_root_out(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	char out[160];
	ck_ca_init_opts o = {.key = CK_CA_KEY_RSA_3072, .root_out = out};
	ck_ca *ca = NULL;

	(void)state;
	snprintf(out, sizeof(out), "%s/offline-root.key", home);
	assert_int_equal(ck_ca_init(ctx, cadir, &o, &ca), CK_OK);
	assert_int_equal(mode_of(home, "offline-root.key"), 0600);
	assert_int_equal(mode_of(cadir, "root.key"), (mode_t)-1);
	assert_false(ca->root_key_kept);
	assert_int_equal(EVP_PKEY_get_bits(ca->key), 3072);
	ck_ca_free(ca);
	/* An existing --root-out file is refused before anything is made. */
	snprintf(cadir, sizeof(cadir), "%s/ca2", home);
	assert_int_equal(ck_ca_init(ctx, cadir, &o, NULL), CK_E_EXISTS);
	assert_int_equal(access(cadir, F_OK), -1);
	snprintf(cadir, sizeof(cadir), "%s/ca", home);
	ck_ctx_free(ctx);
}

/* Nothing but the CA's parent directory in home. */
static int
entries(const char *dir)
{
	char cmd[256];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A '%s' | wc -l", dir);
	if ((p = popen(cmd, "r")) != NULL) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

/* A failed write, sync or rename (a full disk, a crash) leaves no CA, no
 * half-made directory and no exported root key. */
static void
test_init_atomic(void **state)
{
	static const char *const faults[] = {"write", "fsync", "rename"};
	ck_ctx *ctx = ck_ctx_new();
	char out[160];
	ck_ca_init_opts o = {.root_out = out};
	ck_ca *ca = NULL;
	size_t i;

	(void)state;
	snprintf(out, sizeof(out), "%s/root.key", home);
	for (i = 0; i < 3; i++) {
		setenv("CERTKIT_FAULT", faults[i], 1);
		assert_int_equal(ck_ca_init(ctx, cadir, &o, &ca), CK_E_IO);
		assert_null(ca);
		assert_int_equal(entries(home), 0);
	}
	unsetenv("CERTKIT_FAULT");
	assert_int_equal(ck_ca_init(ctx, cadir, &o, NULL), CK_OK);
	assert_int_equal(entries(home), 2);
	ck_ctx_free(ctx);
}

static void
test_load_missing(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca = NULL;

	(void)state;
	assert_int_equal(ck_ca_load(ctx, cadir, &ca), CK_E_NOTFOUND);
	assert_null(ca);
	ck_ctx_free(ctx);
}

static ck_ca *
new_ca(ck_ctx *ctx)
{
	ck_ca_init_opts o = {.name = "Issuing", .key = CK_CA_KEY_EC_P256};
	ck_ca *ca = NULL;

	assert_int_equal(ck_ca_init(ctx, cadir, &o, &ca), CK_OK);
	return ca;
}

/* The approved names and nothing else of the CSR. */
static void
check_san(X509 *x)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	GENERAL_NAME *g;
	int type;

	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 2);
	g = sk_GENERAL_NAME_value(gens, 0);
	assert_string_equal(
	    ASN1_STRING_get0_data(GENERAL_NAME_get0_value(g, &type)),
	    "gw1.example.test");
	assert_int_equal(type, GEN_DNS);
	g = sk_GENERAL_NAME_value(gens, 1);
	(void)GENERAL_NAME_get0_value(g, &type);
	assert_int_equal(type, GEN_IPADD);
	GENERAL_NAMES_free(gens);
}

static void
test_issue_client_cert(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca = new_ca(ctx);
	const char *names[] = {"gw1.example.test", "192.0.2.7"};
	ck_ca_issued is;
	size_t len;
	uint8_t *csr =
	    make_csr("EC", "DNS:evil.example,DNS:bank.example", &len, NULL);
	X509 *x;
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *sc = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	char cn[80];

	(void)state;
	ck_ctx_set_time(ctx, 0);
	assert_int_equal(ck_ca_set_urls(ca, "http://primary.test:8443/crl",
	                     "http://primary.test:8443/ocsp"),
	    CK_OK);
	assert_int_equal(
	    ck_ca_issue(ctx, ca, csr, len, NULL, names, 2, &is), CK_OK);
	assert_int_equal(strlen(is.serial), 32);
	assert_true(is.not_after - is.not_before == 90 * 86400 + 300);
	assert_non_null(x = der_x509(&is));
	check_san(x);
	X509_NAME_get_text_by_NID(
	    X509_get_subject_name(x), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "gw1.example.test");
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_CLIENT);
	assert_int_equal(X509_check_ca(x), 0);
	assert_non_null(X509_get0_authority_key_id(x));
	assert_non_null(X509_get0_subject_key_id(x));
	assert_true(
	    X509_get_ext_by_NID(x, NID_crl_distribution_points, -1) >= 0);
	assert_true(X509_get_ext_by_NID(x, NID_info_access, -1) >= 0);
	/* It verifies up to the root, for clientAuth. */
	X509_STORE_add_cert(st, ca->root->x509);
	sk_X509_push(chain, ca->cert->x509);
	X509_STORE_CTX_init(sc, st, x, chain);
	X509_STORE_CTX_set_purpose(sc, X509_PURPOSE_SSL_CLIENT);
	assert_int_equal(X509_verify_cert(sc), 1);
	X509_STORE_CTX_free(sc);
	sk_X509_free(chain);
	X509_STORE_free(st);
	X509_free(x);
	ck_ca_issued_clear(&is);
	free(csr);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
}

static void
test_issue_serials_differ(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca = new_ca(ctx);
	const char *names[] = {"gw.example.test"};
	char seen[50][CK_CA_SERIAL_HEX];
	ck_ca_issued is;
	size_t len, i, j;
	uint8_t *csr = make_csr("RSA", NULL, &len, NULL);
	X509 *x;

	(void)state;
	for (i = 0; i < 50; i++) {
		assert_int_equal(
		    ck_ca_issue(ctx, ca, csr, len, NULL, names, 1, &is), CK_OK);
		memcpy(seen[i], is.serial, sizeof(seen[i]));
		assert_non_null(x = der_x509(&is));
		/* 16 bytes, positive: the top bit clear */
		assert_int_equal(
		    ASN1_STRING_length(X509_get0_serialNumber(x)), 16);
		assert_true(is.serial[0] >= '4' && is.serial[0] <= '7');
		assert_true(X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT);
		X509_free(x);
		ck_ca_issued_clear(&is);
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	free(csr);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
}

struct worker {
	const ck_ca *ca;
	const uint8_t *csr;
	size_t len;
	ck_status st;
	char serial[CK_CA_SERIAL_HEX];
};

static void *
issue_one(void *arg)
{
	struct worker *w = arg;
	const char *names[] = {"gw.example.test"};
	ck_ctx *ctx = ck_ctx_new();
	ck_ca_issued is;

	w->st = ck_ca_issue(ctx, w->ca, w->csr, w->len, NULL, names, 1, &is);
	memcpy(w->serial, is.serial, sizeof(w->serial));
	ck_ca_issued_clear(&is);
	ck_ctx_free(ctx);
	return NULL;
}

/* 20 issuances at once on one CA (the server's threads): 20 serials. */
static void
test_issue_concurrent(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca = new_ca(ctx);
	struct worker w[20];
	pthread_t t[20];
	size_t len, i, j;
	uint8_t *csr = make_csr("EC", NULL, &len, NULL);

	(void)state;
	for (i = 0; i < 20; i++) {
		w[i] = (struct worker){ca, csr, len, CK_E_INTERNAL, ""};
		assert_int_equal(
		    pthread_create(&t[i], NULL, issue_one, &w[i]), 0);
	}
	for (i = 0; i < 20; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	for (i = 0; i < 20; i++) {
		assert_int_equal(w[i].st, CK_OK);
		assert_int_equal(strlen(w[i].serial), 32);
		for (j = 0; j < i; j++)
			assert_string_not_equal(w[i].serial, w[j].serial);
	}
	free(csr);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
}

static void
test_issue_refusals(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca = new_ca(ctx);
	const char *bad[] = {"gw.example.test,DNS:bank.example"};
	const char *wild[] = {"*.example.test"};
	const char *ok[] = {"gw.example.test"};
	ck_ca_issued is;
	size_t len;
	uint8_t *csr = make_csr("EC", NULL, &len, NULL);

	(void)state;
	assert_int_equal(
	    ck_ca_issue(ctx, ca, csr, len, NULL, bad, 1, &is), CK_E_USAGE);
	assert_null(is.der);
	assert_int_equal(
	    ck_ca_issue(ctx, ca, csr, len, NULL, wild, 1, &is), CK_E_USAGE);
	assert_int_equal(
	    ck_ca_issue(ctx, ca, csr, len, NULL, NULL, 0, &is), CK_E_USAGE);
	/* A damaged CSR: the signature no longer verifies. */
	csr[len - 5] ^= 0x55;
	assert_int_equal(
	    ck_ca_issue(ctx, ca, csr, len, NULL, ok, 1, &is), CK_E_FORMAT);
	assert_int_equal(
	    ck_ca_issue(ctx, ca, (const uint8_t *)"junk", 4, NULL, ok, 1, &is),
	    CK_E_FORMAT);
	/* A label alone: a CN, no SAN. */
	csr[len - 5] ^= 0x55;
	assert_int_equal(
	    ck_ca_issue(ctx, ca, csr, len, "client-17", NULL, 0, &is), CK_OK);
	ck_ca_issued_clear(&is);
	free(csr);
	ck_ca_free(ca);
	ck_ctx_free(ctx);
}

static void
test_serial_norm(void **state)
{
	char out[CK_CA_SERIAL_HEX];

	(void)state;
	assert_true(ck_ca_serial_norm(
	    "4A:0B:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD", out));
	assert_string_equal(out, "4a0b00112233445566778899aabbccdd");
	assert_false(ck_ca_serial_norm("4a0b", out));
	assert_false(
	    ck_ca_serial_norm("zz0b00112233445566778899aabbccdd", out));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_init_files_and_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_init_root_out, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_atomic, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_issue_client_cert, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_issue_serials_differ, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_issue_concurrent, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_issue_refusals, setup, teardown),
	    cmocka_unit_test(test_serial_norm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
