/*
 * test_trust_build.c: lib/trust/trust_build.c: a build writes one complete
 * generation (ca-bundle.pem, certs/, truststore.p12, manifest.json) from
 * one effective set and publishes it with one rename; a failing build
 * leaves the previous generation published and nothing behind; exports
 * never write over an input.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "testutil.h"
#include "trust_fixture.h"
#include "trust_int.h"

/* One build as a change runs it: locked, on the state just read. */
static ck_status
build(struct fx *f, json_t **report)
{
	struct cki_tstate *s = NULL;
	ck_status rv;

	*report = json_object();
	if ((rv = cki_trust_lock_load(f->t, true, &s)) != CK_OK)
		return rv;
	rv = cki_trust_build(f->t, s, *report);
	cki_trust_state_free(s);
	cki_trust_unlock(f->t);
	return rv;
}

static long
report_int(const json_t *r, const char *key)
{
	const json_t *v = json_object_get(r, key);

	if (!json_is_integer(v))
		fail_msg("report has no integer %s", key);
	return (long)json_integer_value(v);
}

/* The generation `out` points at, "" if none. */
static void
published(struct fx *f, char out[64])
{
	char link[PATH_MAX];
	ssize_t n = readlink(f->t->out, link, sizeof(link) - 1);

	out[0] = '\0';
	if (n > 0) {
		link[n] = '\0';
		snprintf(out, 64, "%.63s", link);
	}
}

static size_t
count_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

static size_t
count_pem(const char *path)
{
	char *t = read_text(path), *p = t;
	size_t n = 0;

	assert_non_null(t);
	while ((p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL) {
		n++;
		p++;
	}
	free(t);
	return n;
}

static X509 *
read_x509(const char *path)
{
	FILE *fp = fopen(path, "r");
	X509 *x;

	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

/* The SHA-256 fingerprint of the test PKI's certificate FILE. */
static void
fp_hex(const char *file, char hex[65])
{
	X509 *x = read_x509(pki(file));
	unsigned char md[32];
	unsigned int n = 0;

	assert_true(X509_digest(x, EVP_sha256(), md, &n));
	cki_hex(md, 32, hex);
	X509_free(x);
}

/* The certificates in a PKCS#12 truststore, or -1 if it does not open with
 * password pw. */
static int
p12_count(const char *path, const char *pw)
{
	FILE *fp = fopen(path, "rb");
	PKCS12 *p12;
	EVP_PKEY *k = NULL;
	X509 *c = NULL;
	STACK_OF(X509) *ca = NULL;
	int n = -1;

	assert_non_null(fp);
	p12 = d2i_PKCS12_fp(fp, NULL);
	fclose(fp);
	assert_non_null(p12);
	if (PKCS12_parse(p12, pw, &k, &c, &ca))
		n = sk_X509_num(ca) + (c != NULL);
	EVP_PKEY_free(k);
	X509_free(c);
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return n;
}

/* The three outputs hold the same certificates: the two system roots. */
static void
test_first_build(void **state)
{
	struct fx *f = *state;
	json_t *r, *m, *certs;
	char gen[64], path[PATH_MAX], hex[65];
	const char *roots[] = {"root-ca.pem", "other-root.pem"};

	assert_int_equal(build(f, &r), CK_OK);
	assert_int_equal(report_int(r, "generation"), 1);
	assert_int_equal(report_int(r, "count"), 2);
	assert_int_equal(report_int(r, "system"), 2);
	assert_int_equal(report_int(r, "custom"), 0);
	assert_int_equal(report_int(r, "distrusted_excluded"), 0);
	assert_int_equal(report_int(r, "certs_reused"), 0);
	json_decref(r);
	published(f, gen);
	assert_string_equal(gen, "generations/000001");
	assert_int_equal(count_pem(f->t->bundle), 2);
	assert_int_equal(count_dir(f->t->certs), 2);
	assert_int_equal(p12_count(f->t->p12, "changeit"), 2);
	assert_int_equal(p12_count(f->t->p12, "wrong"), -1);
	/* certs/: subject-hash names, as `openssl rehash` makes them. */
	for (size_t i = 0; i < 2; i++) {
		X509 *x = read_x509(pki(roots[i]));
		unsigned long h = X509_NAME_hash_ex(
		    X509_get_subject_name(x), NULL, NULL, NULL);
		struct stat st;

		snprintf(path, sizeof(path), "%s/%08lx.0", f->t->certs, h);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			fail_msg("%s: not a regular file", path);
		X509_free(x);
	}
	/* The manifest lists what the outputs hold, and the bundle's hash. */
	snprintf(path, sizeof(path), "%s/manifest.json", f->t->out);
	assert_non_null(m = json_load_file(path, 0, NULL));
	assert_int_equal(report_int(m, "generation"), 1);
	assert_int_equal(report_int(m, "count"), 2);
	certs = json_object_get(m, "certificates");
	assert_int_equal(json_array_size(certs), 2);
	{
		char *b = read_text(f->t->bundle);
		unsigned char md[32];

		assert_true(
		    EVP_Digest(b, strlen(b), md, NULL, EVP_sha256(), NULL));
		cki_hex(md, 32, hex);
		free(b);
	}
	assert_string_equal(
	    json_string_value(json_object_get(m, "ca_bundle_sha256")), hex);
	json_decref(m);
}

/* A second build publishes generation 2, removes generation 1, and links
 * the unchanged files of certs/ instead of writing them again. */
static void
test_next_build(void **state)
{
	struct fx *f = *state;
	json_t *r;
	char gen[64];

	assert_int_equal(build(f, &r), CK_OK);
	json_decref(r);
	assert_int_equal(build(f, &r), CK_OK);
	assert_int_equal(report_int(r, "generation"), 2);
	assert_int_equal(report_int(r, "certs_reused"), 2);
	json_decref(r);
	published(f, gen);
	assert_string_equal(gen, "generations/000002");
	assert_int_equal(count_dir(f->t->gens), 1);
	assert_int_equal(count_pem(f->t->bundle), 2);
}

/* A distrusted root is in none of the three outputs. */
static void
test_distrusted_excluded(void **state)
{
	struct fx *f = *state;
	X509 *x = read_x509(pki("other-root.pem"));
	char hex[65], *json = NULL;
	json_t *r;

	fp_hex("other-root.pem", hex);
	assert_int_equal(ck_trust_distrust(f->t, hex, "test", &json), CK_OK);
	ck_free(json);
	assert_int_equal(build(f, &r), CK_OK);
	assert_int_equal(report_int(r, "count"), 1);
	assert_int_equal(report_int(r, "distrusted_excluded"), 1);
	json_decref(r);
	assert_int_equal(count_pem(f->t->bundle), 1);
	assert_int_equal(count_dir(f->t->certs), 1);
	assert_int_equal(p12_count(f->t->p12, "changeit"), 1);
	{
		char *b = read_text(f->t->bundle), *pem, *one;
		BIO *bio = BIO_new(BIO_s_mem());
		long len;

		assert_true(PEM_write_bio_X509(bio, x));
		len = BIO_get_mem_data(bio, &pem);
		assert_non_null(one = strndup(pem, (size_t)len));
		assert_null(strstr(b, one));
		free(one);
		BIO_free(bio);
		free(b);
	}
	X509_free(x);
}

/* A build that fails at any write, fsync or rename: the previous
 * generation stays published, unchanged, and the new one is removed. */
static void
test_fault_keeps_previous(void **state)
{
	static const char *const faults[] = {
	    "write", "fsync", "fsyncdir", "rename"};
	struct fx *f = *state;
	json_t *r;
	char gen[64], *before, *after;

	assert_int_equal(build(f, &r), CK_OK);
	json_decref(r);
	before = read_text(f->t->bundle);
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		setenv("CERTKIT_FAULT", faults[i], 1);
		if (build(f, &r) == CK_OK)
			fail_msg("fault %s: the build succeeded", faults[i]);
		unsetenv("CERTKIT_FAULT");
		json_decref(r);
		published(f, gen);
		assert_string_equal(gen, "generations/000001");
		assert_int_equal(count_dir(f->t->gens), 1);
		after = read_text(f->t->bundle);
		assert_string_equal(after, before);
		free(after);
		assert_int_equal(p12_count(f->t->p12, "changeit"), 2);
	}
	free(before);
}

/* `out` that certkit did not make is refused, and nothing is left. */
static void
test_out_not_a_link(void **state)
{
	struct fx *f = *state;
	json_t *r;

	assert_int_equal(mkdir(f->t->dir, 0755), 0);
	assert_int_equal(mkdir(f->t->out, 0755), 0);
	assert_int_equal(build(f, &r), CK_E_REFUSED);
	json_decref(r);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "not the symbolic link"));
	assert_int_equal(count_dir(f->t->gens), 0);
	assert_int_equal(count_dir(f->t->out), 0);
}

/* The truststore password: the file's first line; an unreadable one fails
 * the build before anything is published. */
static void
test_p12_password(void **state)
{
	struct fx *f = *state;
	json_t *r;
	FILE *o;

	assert_int_equal(mkdir(f->t->dir, 0755), 0);
	assert_int_equal(mkdir(f->t->pwfile, 0700), 0);
	assert_int_not_equal(build(f, &r), CK_OK);
	json_decref(r);
	assert_int_equal(count_dir(f->t->gens), 0);
	assert_int_equal(rmdir(f->t->pwfile), 0);
	assert_non_null(o = fopen(f->t->pwfile, "w"));
	fputs("s3cret\n", o);
	fclose(o);
	assert_int_equal(build(f, &r), CK_OK);
	json_decref(r);
	assert_int_equal(p12_count(f->t->p12, "s3cret"), 2);
	assert_int_equal(p12_count(f->t->p12, "changeit"), -1);
}

/* Exports: PEM, PKCS#12 and a hashed directory; never over an input, never
 * into a non-empty directory, never DER, never an empty store. */
static void
test_export(void **state)
{
	struct fx *f = *state;
	char path[400], *sys_before, *sys_after;
	json_t *r;

	snprintf(path, sizeof(path), "%s/export.pem", f->home);
	assert_int_equal(ck_trust_export(f->t, CK_FMT_PEM, path, NULL), CK_OK);
	assert_int_equal(count_pem(path), 2);
	snprintf(path, sizeof(path), "%s/export.p12", f->home);
	assert_int_equal(ck_trust_export(f->t, CK_FMT_P12, path, "pw"), CK_OK);
	assert_int_equal(p12_count(path, "pw"), 2);
	snprintf(path, sizeof(path), "%s/hashed", f->home);
	assert_int_equal(ck_trust_export_dir(f->t, path), CK_OK);
	assert_int_equal(count_dir(path), 2);
	/* Negative: a non-empty directory, DER, the system bundle, the
	 * store itself. */
	assert_int_equal(ck_trust_export_dir(f->t, path), CK_E_EXISTS);
	assert_int_equal(
	    ck_trust_export(f->t, CK_FMT_DER, path, NULL), CK_E_USAGE);
	sys_before = read_text(f->sys);
	assert_int_equal(
	    ck_trust_export(f->t, CK_FMT_PEM, f->sys, NULL), CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "system bundle"));
	sys_after = read_text(f->sys);
	assert_string_equal(sys_after, sys_before);
	free(sys_before);
	free(sys_after);
	assert_int_equal(build(f, &r), CK_OK);
	json_decref(r);
	snprintf(path, sizeof(path), "%s/trust/x.pem", f->home);
	assert_int_equal(
	    ck_trust_export(f->t, CK_FMT_PEM, path, NULL), CK_E_USAGE);
	assert_int_equal(access(path, F_OK), -1);
	/* An empty store (every root distrusted) has nothing to export. */
	for (size_t i = 0; i < 2; i++) {
		char hex[65], *json = NULL;

		fp_hex(i == 0 ? "root-ca.pem" : "other-root.pem", hex);
		assert_int_equal(
		    ck_trust_distrust(f->t, hex, "test", &json), CK_OK);
		ck_free(json);
	}
	snprintf(path, sizeof(path), "%s/empty.pem", f->home);
	assert_int_equal(
	    ck_trust_export(f->t, CK_FMT_PEM, path, NULL), CK_E_NOTFOUND);
	assert_int_equal(access(path, F_OK), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_first_build, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_next_build, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_distrusted_excluded, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_fault_keeps_previous, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_out_not_a_link, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_p12_password, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_export, trustfix_setup, trustfix_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
