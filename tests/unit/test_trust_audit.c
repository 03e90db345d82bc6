/*
 * test_trust_audit.c: every finding code of ck_trust_audit() (lib/
 * trust_audit.c), each from a store built to show it, and a clean store.
 * Certificates are made here with chosen names, dates, keys and flags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "trust_int.h"

#define DAY INT64_C(86400)

struct fx {
	char home[256];
	char sys[300];
	ck_ctx *ctx;
	ck_trust *t;
};

static EVP_PKEY *
ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

/* A self-signed certificate with the given subject, dates and flags. */
static X509 *
mkcert(const char *o, const char *cn, int64_t nb, int64_t na, bool ca,
    EVP_PKEY *key)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	X509V3_CTX v3;
	X509_EXTENSION *ext;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(nb & 0xffffff) + 1);
	if (o != NULL)
		X509_NAME_add_entry_by_txt(
		    n, "O", MBSTRING_UTF8, (const unsigned char *)o, -1, -1, 0);
	X509_NAME_add_entry_by_txt(
	    n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_NAME_free(n);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na);
	X509_set_pubkey(x, key);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static void
save(const char *path, X509 *const *xs, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		PEM_write_X509(f, xs[i]);
	fclose(f);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	EVP_PKEY *k = ec_key();
	X509 *root = mkcert("Example", "Example Root", PINNED_TIME - 400 * DAY,
	    PINNED_TIME + 4000 * DAY, true, k);

	snprintf(f->home, sizeof(f->home), "/tmp/certkit-test-audit.XXXXXX");
	assert_non_null(mkdtemp(f->home));
	snprintf(f->sys, sizeof(f->sys), "%s/system.pem", f->home);
	save(f->sys, &root, 1);
	X509_free(root);
	EVP_PKEY_free(k);
	f->ctx = ck_ctx_new();
	ck_ctx_set_time(f->ctx, PINNED_TIME);
	assert_int_equal(ck_trust_new(f->ctx, f->home, &f->t), CK_OK);
	assert_int_equal(ck_trust_set_system_bundle(f->t, f->sys), CK_OK);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[400];

	ck_trust_free(f->t);
	ck_ctx_free(f->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->home);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
add_x509(struct fx *f, X509 *x, const char *alias)
{
	ck_bundle *b = ck_bundle_new();
	ck_cert c = {x};
	char *json = NULL;

	assert_int_equal(ck_bundle_add_cert(b, &c), CK_OK);
	assert_int_equal(
	    ck_trust_add(f->t, b, alias, CK_TRUST_INSECURE_ANY_CERT, &json),
	    CK_OK);
	ck_free(json);
	ck_bundle_free(b);
}

static json_t *
audit(struct fx *f, const char *const *req, size_t nreq, const char *profile,
    int *clean)
{
	char *json = NULL;
	json_t *doc;

	assert_int_equal(
	    ck_trust_audit(f->t, req, nreq, profile, &json, clean), CK_OK);
	doc = json_loads(json, 0, NULL);
	assert_non_null(doc);
	ck_free(json);
	return doc;
}

/* The first finding with `code`, or NULL. */
static json_t *
find(json_t *doc, const char *code)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(doc, "findings"), i,
	    o) if (strcmp(json_string_value(json_object_get(o, "code")),
	               code) == 0) return o;
	return NULL;
}

static const char *
field(json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
rebuild(struct fx *f)
{
	char *json = NULL;

	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_OK);
	ck_free(json);
}

static void
test_clean(void **state)
{
	struct fx *f = *state;
	int clean = 0;
	json_t *doc;

	rebuild(f);
	doc = audit(f, NULL, 0, NULL, &clean);
	assert_int_equal(clean, 1);
	assert_int_equal(json_array_size(json_object_get(doc, "findings")), 0);
	json_decref(doc);
}

/* One table row per code: what to add to the store, what to expect. */
static void
test_each_code(void **state)
{
	static const struct {
		const char *code;
		const char *severity;
		const char *msg;
	} codes[] = {
	    {"expired_anchor", "error", "expired on"},
	    {"expiring_anchor", "warning", "in 30 days"},
	    {"not_yet_valid_anchor", "error", "is not valid until"},
	    {"weak_anchor_key", "error", "RSA 1024"},
	    {"non_ca_anchor", "warning", "not a CA certificate"},
	    {"duplicate_anchor", "warning", "one key is trusted"},
	};
	struct fx *f = *state;
	EVP_PKEY *k = ec_key(), *rsa = EVP_RSA_gen(1024), *shared = ec_key();
	EVP_PKEY *k4 = ec_key();
	X509 *x[7];
	int clean = 1;
	json_t *doc;

	assert_non_null(rsa);
	x[0] = mkcert("Old Co", "Old Root", PINNED_TIME - 3000 * DAY,
	    PINNED_TIME - 10 * DAY, true, k);
	x[1] = mkcert("Soon Co", "Soon Root", PINNED_TIME - 3000 * DAY,
	    PINNED_TIME + 30 * DAY + 3600, true, k);
	x[2] = mkcert("Future Co", "Future Root", PINNED_TIME + 10 * DAY,
	    PINNED_TIME + 3000 * DAY, true, k);
	x[3] = mkcert("Weak Co", "Weak Root", PINNED_TIME - DAY,
	    PINNED_TIME + 3000 * DAY, true, rsa);
	x[4] = mkcert(NULL, "pinned.example.test", PINNED_TIME - DAY,
	    PINNED_TIME + 300 * DAY, false, k4);
	x[5] = mkcert("Dup Co", "Dup Root A", PINNED_TIME - DAY,
	    PINNED_TIME + 3000 * DAY, true, shared);
	x[6] = mkcert("Dup Co", "Dup Root B", PINNED_TIME - DAY,
	    PINNED_TIME + 3000 * DAY, true, shared);
	for (int i = 0; i < 7; i++) {
		char alias[16];

		snprintf(alias, sizeof(alias), "a%d", i);
		add_x509(f, x[i], alias);
	}
	doc = audit(f, NULL, 0, NULL, &clean);
	assert_int_equal(clean, 0);
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		json_t *o = find(doc, codes[i].code);

		assert_non_null(o);
		assert_string_equal(field(o, "severity"), codes[i].severity);
		assert_non_null(strstr(field(o, "message"), codes[i].msg));
		assert_non_null(field(o, "fix"));
	}
	/* custom anchors are fixed by removing them */
	assert_non_null(strstr(field(find(doc, "expired_anchor"), "fix"),
	    "certkit trust remove a0"));
	json_decref(doc);
	for (int i = 0; i < 7; i++)
		X509_free(x[i]);
	EVP_PKEY_free(k4);
	EVP_PKEY_free(k);
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(shared);
}

/* The Nx case: DST Root CA X3 expired next to ISRG Root X1, both system
 * roots; the audit explains older clients and gives the distrust. */
static void
test_expired_next_to_replacement(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k1 = ec_key(), *k2 = ec_key();
	X509 *x[2];
	char fp[65], want[200];
	int clean;
	json_t *doc, *o;

	x[0] = mkcert("Digital Signature Trust Co.", "DST Root CA X3",
	    INT64_C(969973200), INT64_C(1633010715), true, k1);
	x[1] = mkcert("Internet Security Research Group", "ISRG Root X1",
	    INT64_C(1433416800), INT64_C(2064300000), true, k2);
	save(f->sys, x, 2);
	rebuild(f);
	doc = audit(f, NULL, 0, NULL, &clean);
	o = find(doc, "expired_anchor");
	assert_non_null(o);
	assert_non_null(strstr(field(o, "message"), "\"ISRG Root X1\""));
	assert_non_null(strstr(field(o, "message"), "older ones"));
	cki_x509_fp(x[0], fp);
	snprintf(want, sizeof(want), "certkit trust distrust %s", fp);
	assert_non_null(strstr(field(o, "fix"), want));
	json_decref(doc);
	/* the fix works: after it the audit is clean */
	{
		char *json = NULL;

		assert_int_equal(
		    ck_trust_distrust(f->t, fp, "expired", &json), CK_OK);
		ck_free(json);
	}
	doc = audit(f, NULL, 0, NULL, &clean);
	assert_int_equal(clean, 1);
	json_decref(doc);
	X509_free(x[0]);
	X509_free(x[1]);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
}

static void
test_missing_required_root(void **state)
{
	struct fx *f = *state;
	const char *req[] = {"example root", "ISRG Root X1"};
	char profile[400];
	FILE *pf;
	int clean;
	json_t *doc, *o;

	rebuild(f);
	doc = audit(f, req, 2, NULL, &clean);
	assert_int_equal(clean, 0);
	o = find(doc, "missing_required_root");
	assert_non_null(o);
	assert_non_null(strstr(field(o, "message"), "ISRG Root X1"));
	/* the embedded reference set has it: the fix is one command */
	if (ck_reference_count() > 0)
		assert_string_equal(field(o, "fix"),
		    "certkit trust add --reference \"ISRG Root X1\"");
	assert_string_equal(
	    field(
	        json_array_get(json_object_get(doc, "required"), 0), "status"),
	    "present");
	json_decref(doc);
	/* from a doctor profile */
	snprintf(profile, sizeof(profile), "%s/profile.ini", f->home);
	pf = fopen(profile, "w");
	fputs("; doctor profile\n[cloud]\nhost = cloud.example.test\n"
	      "required_roots = Example Root, DigiCert Global Root G2\n"
	      "[other]\nrequired_roots = \"Example Root\"\n",
	    pf);
	fclose(pf);
	doc = audit(f, NULL, 0, profile, &clean);
	assert_int_equal(json_array_size(json_object_get(doc, "required")), 2);
	o = find(doc, "missing_required_root");
	assert_non_null(o);
	assert_non_null(strstr(field(o, "message"), "DigiCert Global Root G2"));
	json_decref(doc);
	/* profile errors are named */
	{
		char *json = NULL;

		assert_int_equal(ck_trust_audit(f->t, NULL, 0,
		                     "/nonexistent.ini", &json, &clean),
		    CK_E_IO);
		assert_non_null(
		    strstr(ck_ctx_error(f->ctx), "/nonexistent.ini"));
		pf = fopen(profile, "w");
		fputs("[a]\nthis line is not ini\n", pf);
		fclose(pf);
		assert_int_equal(
		    ck_trust_audit(f->t, NULL, 0, profile, &json, &clean),
		    CK_E_FORMAT);
		assert_non_null(strstr(ck_ctx_error(f->ctx), "line 2"));
	}
}

static void
test_distrusted_present_and_stale(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = ec_key();
	X509 *x = mkcert("Bad Co", "Bad Root", PINNED_TIME - DAY,
	         PINNED_TIME + 3000 * DAY, true, k),
	     *y;
	char fp[65], *json = NULL;
	FILE *out;
	int clean;
	json_t *doc;

	add_x509(f, x, "bad");
	cki_x509_fp(x, fp);
	assert_int_equal(
	    ck_trust_distrust(f->t, fp, "compromised", &json), CK_OK);
	ck_free(json);
	doc = audit(f, NULL, 0, NULL, &clean);
	assert_int_equal(clean, 1);
	json_decref(doc);
	/* someone appends it to the output by hand */
	out = fopen(ck_trust_bundle_path(f->t), "a");
	PEM_write_X509(out, x);
	fclose(out);
	doc = audit(f, NULL, 0, NULL, &clean);
	assert_int_equal(clean, 0);
	assert_non_null(find(doc, "distrusted_present"));
	assert_non_null(strstr(
	    field(find(doc, "distrusted_present"), "message"), "compromised"));
	/* ...which also makes the bundle differ from what was built */
	assert_non_null(find(doc, "outputs_stale"));
	json_decref(doc);
	rebuild(f);
	doc = audit(f, NULL, 0, NULL, &clean);
	assert_int_equal(clean, 1);
	json_decref(doc);
	/* the system bundle is updated after the build: stale */
	y = mkcert("New Co", "New Root", PINNED_TIME - DAY,
	    PINNED_TIME + 3000 * DAY, true, k);
	save(f->sys, &y, 1);
	doc = audit(f, NULL, 0, NULL, &clean);
	assert_int_equal(clean, 0);
	assert_non_null(strstr(field(find(doc, "outputs_stale"), "message"),
	    "system bundle was updated"));
	json_decref(doc);
	X509_free(x);
	X509_free(y);
	EVP_PKEY_free(k);
}

static void
test_never_built_is_stale(void **state)
{
	struct fx *f = *state;
	int clean;
	json_t *doc = audit(f, NULL, 0, NULL, &clean);

	assert_int_equal(clean, 0);
	assert_non_null(strstr(field(find(doc, "outputs_stale"), "message"),
	    "have not been built"));
	json_decref(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_each_code, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_expired_next_to_replacement, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_missing_required_root, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_distrusted_present_and_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_never_built_is_stale, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
