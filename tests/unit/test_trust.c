/*
 * test_trust.c: the trust store (lib/trust/trust.c, lib/trust/trust_build.c):
 * layout, add/remove/distrust, all-or-nothing changes, the lock, the outputs.
 * The audit is in test_trust_audit.c.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "trust_fixture.h"
#include "trust_int.h"

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
cat_files(const char *out, const char *const *in)
{
	FILE *o = fopen(out, "w");

	assert_non_null(o);
	for (; *in != NULL; in++) {
		char *t = read_text(*in);

		assert_non_null(t);
		fputs(t, o);
		free(t);
	}
	fclose(o);
}

static ck_bundle *
load(ck_ctx *ctx, const char *path)
{
	ck_bundle *b = NULL;

	assert_int_equal(ck_load_file(ctx, path, &b), CK_OK);
	return b;
}

static size_t
count_certs(ck_ctx *ctx, const char *path)
{
	ck_bundle *b = NULL;
	size_t n;

	if (ck_load_file(ctx, path, &b) != CK_OK)
		return 0;
	n = ck_bundle_count(b, CK_OBJ_CERT);
	ck_bundle_free(b);
	return n;
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
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static json_t *
add_file(struct fx *f, const char *path, const char *alias, unsigned flags,
    ck_status want)
{
	ck_bundle *b = load(f->ctx, path);
	char *json = NULL;
	json_t *doc = NULL;

	assert_int_equal(ck_trust_add(f->t, b, alias, flags, &json), want);
	if (want == CK_OK) {
		doc = json_loads(json, 0, NULL);
		assert_non_null(doc);
	}
	ck_free(json);
	ck_bundle_free(b);
	return doc;
}

static void
fp_of(ck_ctx *ctx, const char *path, char fp[65], char spki[65])
{
	ck_bundle *b = load(ctx, path);

	ck_cert_sha256(ck_bundle_get0_cert(b, 0), fp);
	if (spki != NULL)
		ck_cert_spki_sha256(ck_bundle_get0_cert(b, 0), spki);
	ck_bundle_free(b);
}

static bool
bundle_has(ck_ctx *ctx, const char *bundle, const char *fp)
{
	ck_bundle *b = NULL;
	bool hit = false;

	if (ck_load_file(ctx, bundle, &b) != CK_OK)
		return false;
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		char h[65];

		ck_cert_sha256(ck_bundle_get0_cert(b, i), h);
		hit |= strcmp(h, fp) == 0;
	}
	ck_bundle_free(b);
	return hit;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_add_builds_three_consistent_outputs(void **state)
{
	struct fx *f = *state;
	char path[600], link[64], fp[65];
	json_t *doc = add_file(f, pki("int-ca.pem"), NULL, 0, CK_OK);
	ck_bundle *p12 = NULL;
	struct stat st;
	ssize_t n;
	X509 *x;
	FILE *pf;
	int ok;

	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(doc, "added"), 0), "alias")),
	    "certkit-test-issuing-ca");
	/* an intermediate gets a warning about partial chains */
	assert_int_equal(json_array_size(json_object_get(doc, "warnings")), 1);
	json_decref(doc);
	snprintf(path, sizeof(path),
	    "%s/trust/anchors/"
	    "certkit-test-issuing-ca.pem",
	    f->home);
	assert_int_equal(stat(path, &st), 0);
	/* out is a symlink to a generation */
	snprintf(path, sizeof(path), "%s/trust/out", f->home);
	n = readlink(path, link, sizeof(link) - 1);
	assert_true(n > 0);
	link[n] = '\0';
	assert_string_equal(link, "generations/000001");
	/* the same three certificates in each output */
	assert_int_equal(count_certs(f->ctx, ck_trust_bundle_path(f->t)), 3);
	assert_int_equal(count_dir(ck_trust_certs_path(f->t)), 3);
	assert_int_equal(ck_ctx_set_password(f->ctx, "changeit"), CK_OK);
	assert_int_equal(
	    ck_load_file(f->ctx, ck_trust_p12_path(f->t), &p12), CK_OK);
	assert_int_equal(ck_bundle_count(p12, CK_OBJ_CERT), 3);
	ck_bundle_free(p12);
	/* the hashed name is OpenSSL's subject hash */
	pf = fopen(pki("int-ca.pem"), "r");
	x = PEM_read_X509(pf, NULL, NULL, NULL);
	fclose(pf);
	snprintf(path, sizeof(path), "%s/%08lx.0", ck_trust_certs_path(f->t),
	    X509_NAME_hash_ex(X509_get_subject_name(x), NULL, NULL, &ok));
	X509_free(x);
	fp_of(f->ctx, pki("int-ca.pem"), fp, NULL);
	assert_true(bundle_has(f->ctx, path, fp));
	/* a second change makes generation 2 and removes generation 1 */
	json_decref(add_file(f, pki("nc-ca.pem"), "nc", 0, CK_OK));
	snprintf(path, sizeof(path), "%s/trust/generations", f->home);
	assert_int_equal(count_dir(path), 1);
	assert_int_equal(count_certs(f->ctx, ck_trust_bundle_path(f->t)), 4);
}

static void
test_add_same_twice_is_noop(void **state)
{
	struct fx *f = *state;
	char path[400];
	json_t *doc;

	json_decref(add_file(f, pki("int-ca.pem"), "corp", 0, CK_OK));
	/* DER, with another alias: still the same certificate */
	doc = add_file(f, pki("int-ca.der"), "other", 0, CK_OK);
	assert_int_equal(json_array_size(json_object_get(doc, "added")), 0);
	assert_int_equal(json_array_size(json_object_get(doc, "unchanged")), 1);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(doc, "unchanged"), 0), "alias")),
	    "corp");
	json_decref(doc);
	snprintf(path, sizeof(path), "%s/trust/anchors", f->home);
	assert_int_equal(count_dir(path), 1);
}

static void
test_add_refusals(void **state)
{
	static const struct {
		const char *file;
		const char *alias;
		ck_status want;
		const char *msg;
	} cases[] = {
	    {"leaf.pem", NULL, CK_E_REFUSED, "is not a CA certificate"},
	    {"chain.pem", NULL, CK_E_REFUSED, "insecure_any_cert flag"},
	    {"root-ca.pem", "", CK_E_USAGE, "is not a valid alias"},
	    {"root-ca.pem", "-dash", CK_E_USAGE, "is not a valid alias"},
	    {"root-ca.pem", "a/b", CK_E_USAGE, "is not a valid alias"},
	    {"root-ca.pem", "a b", CK_E_USAGE, "is not a valid alias"},
	    {"root-ca.pem",
	        "x123456789x123456789x123456789x123456789"
	        "x123456789x123456789x1234",
	        CK_E_USAGE, "not a valid alias"},
	};
	struct fx *f = *state;
	char path[400];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		add_file(
		    f, pki(cases[i].file), cases[i].alias, 0, cases[i].want);
		assert_non_null(strstr(ck_ctx_error(f->ctx), cases[i].msg));
	}
	/* nothing was written by any of them, not even the CA of chain.pem */
	snprintf(path, sizeof(path), "%s/trust/anchors", f->home);
	assert_int_equal(count_dir(path), 0);
	/* CK_TRUST_INSECURE_ANY_CERT pins the leaf */
	json_decref(add_file(
	    f, pki("leaf.pem"), "pinned", CK_TRUST_INSECURE_ANY_CERT, CK_OK));
	assert_int_equal(count_dir(path), 1);
	/* an expired CA: refused without CK_TRUST_INSECURE_ANY_CERT (root-ca
	 * ends in 2040) */
	ck_ctx_set_time(f->ctx, INT64_C(2240611200));
	add_file(f, pki("root-ca.pem"), "old", 0, CK_E_REFUSED);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "is expired"));
	json_decref(add_file(
	    f, pki("root-ca.pem"), "old", CK_TRUST_INSECURE_ANY_CERT, CK_OK));
	assert_int_equal(count_dir(path), 2);
}

static void
test_alias_clash_is_case_insensitive(void **state)
{
	struct fx *f = *state;

	json_decref(add_file(f, pki("int-ca.pem"), "Corp-CA", 0, CK_OK));
	add_file(f, pki("nc-ca.pem"), "corp-ca", 0, CK_E_EXISTS);
	assert_non_null(strstr(ck_ctx_error(f->ctx),
	    "alias 'corp-ca' is "
	    "taken by the anchor 'Corp-CA'"));
	/* derived aliases step aside instead */
	json_decref(add_file(f, pki("int-ca.pem"), NULL, 0, CK_OK));
}

static void
test_many_certs_one_anchor_each(void **state)
{
	struct fx *f = *state;
	const char *in[] = {
	    pki("int-ca.pem"), pki("nc-ca.pem"), pki("sub-ca.pem"), NULL};
	char path[400], many[400];
	json_t *doc;

	snprintf(many, sizeof(many), "%s/many.pem", f->home);
	cat_files(many, in);
	doc = add_file(f, many, "site", 0, CK_OK);
	assert_int_equal(json_array_size(json_object_get(doc, "added")), 3);
	json_decref(doc);
	for (int i = 0; i < 3; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/trust/anchors/site%s.pem",
		    f->home,
		    i == 0       ? ""
		        : i == 1 ? "-2"
		                 : "-3");
		assert_int_equal(stat(path, &st), 0);
	}
	/* CRLF and BOM input through the loader: crlf.pem is leaf+int+root */
	json_decref(add_file(
	    f, pki("crlf.pem"), "crlf", CK_TRUST_INSECURE_ANY_CERT, CK_OK));
}

static void
test_remove(void **state)
{
	struct fx *f = *state;
	char fp[65], rootfp[65], *json = NULL;

	json_decref(add_file(f, pki("int-ca.pem"), "corp", 0, CK_OK));
	fp_of(f->ctx, pki("int-ca.pem"), fp, NULL);
	fp_of(f->ctx, pki("root-ca.pem"), rootfp, NULL);
	assert_true(bundle_has(f->ctx, ck_trust_bundle_path(f->t), fp));
	assert_int_equal(ck_trust_remove(f->t, "nope", &json), CK_E_NOTFOUND);
	assert_int_equal(ck_trust_remove(f->t, rootfp, &json), CK_E_REFUSED);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "certkit trust distrust"));
	assert_int_equal(ck_trust_remove(f->t, "CORP", &json), CK_OK);
	ck_free(json);
	assert_false(bundle_has(f->ctx, ck_trust_bundle_path(f->t), fp));
	assert_int_equal(count_dir(ck_trust_certs_path(f->t)), 2);
	/* by fingerprint, with colons and upper case */
	json_decref(add_file(f, pki("int-ca.pem"), "corp", 0, CK_OK));
	{
		char colon[200];
		size_t n = 0;

		for (int i = 0; i < 64; i += 2) {
			colon[n++] = fp[i];
			colon[n++] = fp[i + 1];
			colon[n++] = ':';
		}
		colon[n - 1] = '\0';
		for (size_t i = 0; i < n; i++)
			if (colon[i] >= 'a' && colon[i] <= 'f')
				colon[i] = (char)(colon[i] - 32);
		assert_int_equal(ck_trust_remove(f->t, colon, &json), CK_OK);
		ck_free(json);
	}
	assert_false(bundle_has(f->ctx, ck_trust_bundle_path(f->t), fp));
}

static void
test_distrust_survives_system_update(void **state)
{
	struct fx *f = *state;
	char fp[65], spki[65], *json = NULL, path[400];
	const char *sys2[] = {
	    pki("root-ca.pem"), pki("other-root.pem"), pki("int-ca.pem"), NULL};
	json_t *doc;

	fp_of(f->ctx, pki("other-root.pem"), fp, spki);
	assert_int_equal(ck_trust_distrust(f->t, fp, "test", &json), CK_OK);
	doc = json_loads(json, 0, NULL);
	ck_free(json);
	assert_true(json_is_true(json_object_get(doc, "matches_now")));
	json_decref(doc);
	assert_false(bundle_has(f->ctx, ck_trust_bundle_path(f->t), fp));
	snprintf(
	    path, sizeof(path), "%s/trust/distrust/sha256-%s", f->home, fp);
	assert_int_equal(access(path, F_OK), 0);
	/* the system bundle is "updated" and still carries it */
	cat_files(f->sys, sys2);
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_OK);
	ck_free(json);
	assert_false(bundle_has(f->ctx, ck_trust_bundle_path(f->t), fp));
	assert_int_equal(count_certs(f->ctx, ck_trust_bundle_path(f->t)), 2);
	/* distrusting twice is a no-op */
	assert_int_equal(ck_trust_distrust(f->t, fp, NULL, &json), CK_OK);
	assert_non_null(strstr(json, "already distrusted"));
	ck_free(json);
	/* adding it as an anchor is refused, naming the undo */
	add_file(f, pki("other-root.pem"), NULL, 0, CK_E_REFUSED);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "--undo"));
	/* undo */
	assert_int_equal(ck_trust_undistrust(f->t, fp, &json), CK_OK);
	ck_free(json);
	assert_true(bundle_has(f->ctx, ck_trust_bundle_path(f->t), fp));
	/* an SPKI pin catches the certificate by its key */
	snprintf(path, sizeof(path), "spki:%s", spki);
	assert_int_equal(ck_trust_distrust(f->t, path, NULL, &json), CK_OK);
	ck_free(json);
	assert_false(bundle_has(f->ctx, ck_trust_bundle_path(f->t), fp));
	/* garbage is a usage error */
	assert_int_equal(
	    ck_trust_distrust(f->t, "xyz", NULL, &json), CK_E_USAGE);
	assert_int_equal(ck_trust_undistrust(f->t, "aa", &json), CK_E_USAGE);
}

static void
test_distrust_expired(void **state)
{
	struct fx *f = *state;
	char *json = NULL;
	json_t *doc;

	json_decref(add_file(f, pki("int-ca.pem"), "corp", 0, CK_OK));
	/* at 2036 int-ca (to 2035) has expired; the roots (2040) have not */
	ck_ctx_set_time(f->ctx, INT64_C(2082758400));
	assert_int_equal(ck_trust_distrust_expired(f->t, NULL, &json), CK_OK);
	doc = json_loads(json, 0, NULL);
	ck_free(json);
	assert_int_equal(
	    json_array_size(json_object_get(doc, "distrusted")), 1);
	json_decref(doc);
	assert_int_equal(count_certs(f->ctx, ck_trust_bundle_path(f->t)), 2);
}

/* A failing write or rename leaves inputs and outputs as they were. */
static void
test_fault_leaves_everything(void **state)
{
	static const char *const faults[] = {"write", "fsync", "rename"};
	struct fx *f = *state;
	char path[400], *before, *after, *json = NULL;

	json_decref(add_file(f, pki("int-ca.pem"), "corp", 0, CK_OK));
	before = read_text(ck_trust_bundle_path(f->t));
	for (size_t i = 0; i < 3; i++) {
		setenv("CERTKIT_FAULT", faults[i], 1);
		add_file(f, pki("nc-ca.pem"), "nc", 0, CK_E_IO);
		assert_non_null(strstr(ck_ctx_error(f->ctx),
		    "nothing was "
		    "changed"));
		assert_int_equal(ck_trust_remove(f->t, "corp", &json), CK_E_IO);
		unsetenv("CERTKIT_FAULT");
		after = read_text(ck_trust_bundle_path(f->t));
		assert_string_equal(before, after);
		free(after);
		snprintf(path, sizeof(path), "%s/trust/anchors", f->home);
		assert_int_equal(count_dir(path), 1);
		snprintf(path, sizeof(path), "%s/trust/generations", f->home);
		assert_int_equal(count_dir(path), 1);
	}
	free(before);
}

static void
test_lock_timeout(void **state)
{
	struct fx *f = *state;
	char path[600], *json = NULL;
	int fd;

	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_OK);
	ck_free(json);
	snprintf(path, sizeof(path), "%s/trust/.lock", f->home);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);
	ck_trust_set_lock_timeout_ms(f->t, 100);
	add_file(f, pki("int-ca.pem"), NULL, 0, CK_E_LOCKED);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "another process"));
	close(fd);
	json_decref(add_file(f, pki("int-ca.pem"), NULL, 0, CK_OK));
}

static void
test_bad_inputs_on_disk(void **state)
{
	struct fx *f = *state;
	char path[600], *json = NULL;

	json_decref(add_file(f, pki("int-ca.pem"), "corp", 0, CK_OK));
	/* a .crt dropped into anchors/ is named, not silently skipped */
	snprintf(path, sizeof(path), "%s/trust/anchors/dropped.crt", f->home);
	write_text(path, "x");
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(f->ctx),
	    "dropped.crt: not named "
	    "ALIAS.pem"));
	unlink(path);
	/* editor backups are ignored */
	snprintf(path, sizeof(path), "%s/trust/anchors/corp.pem~", f->home);
	write_text(path, "x");
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_OK);
	ck_free(json);
	/* a bad distrust name */
	snprintf(path, sizeof(path), "%s/trust/distrust", f->home);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/trust/distrust/sha256-XYZ", f->home);
	write_text(path, "reason: x\n");
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "not a distrust entry"));
	unlink(path);
	/* garbage in an anchor file */
	snprintf(path, sizeof(path), "%s/trust/anchors/junk.pem", f->home);
	write_text(path, "<html>oops</html>\n");
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "junk.pem"));
	unlink(path);
	/* the system bundle missing, when named explicitly, is an error */
	assert_int_equal(
	    ck_trust_set_system_bundle(f->t, "/nonexistent.pem"), CK_OK);
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "/nonexistent.pem"));
	/* the system bundle must not be our own output */
	assert_int_equal(
	    ck_trust_set_system_bundle(f->t, ck_trust_bundle_path(f->t)),
	    CK_OK);
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "certkit's own output"));
	/* out must be our link */
	assert_int_equal(ck_trust_set_system_bundle(f->t, f->sys), CK_OK);
	snprintf(path, sizeof(path), "rm %s/trust/out && mkdir %s/trust/out",
	    f->home, f->home);
	assert_int_equal(system(path), 0);
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_E_REFUSED);
	assert_non_null(strstr(ck_ctx_error(f->ctx), "not the symbolic link"));
}

static void
test_list_and_export(void **state)
{
	struct fx *f = *state;
	char *json = NULL, path[600], fp[65];
	json_t *doc;

	json_decref(add_file(f, pki("int-ca.pem"), "corp", 0, CK_OK));
	fp_of(f->ctx, pki("other-root.pem"), fp, NULL);
	assert_int_equal(ck_trust_distrust(f->t, fp, "why", &json), CK_OK);
	ck_free(json);
	static const struct {
		ck_trust_source src;
		size_t n;
		const char *key;
	} cases[] = {
	    {CK_TRUST_EFFECTIVE, 2, "certificates"},
	    {CK_TRUST_SYSTEM, 2, "certificates"},
	    {CK_TRUST_CUSTOM, 1, "certificates"},
	    {CK_TRUST_DISTRUSTED, 1, "entries"},
	};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(
		    ck_trust_list(f->t, cases[i].src, &json), CK_OK);
		doc = json_loads(json, 0, NULL);
		ck_free(json);
		assert_int_equal(
		    json_array_size(json_object_get(doc, cases[i].key)),
		    cases[i].n);
		json_decref(doc);
	}
	assert_int_equal(
	    ck_trust_list(f->t, (ck_trust_source)9, &json), CK_E_USAGE);
	snprintf(path, sizeof(path), "%s/export.pem", f->home);
	assert_int_equal(ck_trust_export(f->t, CK_FMT_PEM, path, NULL), CK_OK);
	assert_int_equal(count_certs(f->ctx, path), 2);
	snprintf(path, sizeof(path), "%s/export.p12", f->home);
	assert_int_equal(ck_trust_export(f->t, CK_FMT_P12, path, "pw"), CK_OK);
	assert_int_equal(
	    ck_trust_export(f->t, CK_FMT_DER, path, NULL), CK_E_USAGE);
	snprintf(path, sizeof(path), "%s/exdir", f->home);
	assert_int_equal(ck_trust_export_dir(f->t, path), CK_OK);
	assert_int_equal(count_dir(path), 2);
	assert_int_equal(ck_trust_export_dir(f->t, path), CK_E_EXISTS);
	/* the effective store as a bundle */
	{
		ck_bundle *b = NULL;

		assert_int_equal(ck_trust_effective(f->t, &b), CK_OK);
		assert_int_equal(ck_bundle_count(b, CK_OBJ_CERT), 2);
		ck_bundle_free(b);
	}
}

static void
test_truststore_password(void **state)
{
	struct fx *f = *state;
	char *json = NULL, path[600];
	ck_bundle *b = NULL;
	struct stat st;

	assert_int_equal(
	    ck_trust_set_truststore_password(f->t, "s3cret"), CK_OK);
	snprintf(path, sizeof(path), "%s/trust/truststore.password", f->home);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(ck_trust_rebuild(f->t, &json), CK_OK);
	ck_free(json);
	assert_int_equal(ck_ctx_set_password(f->ctx, "changeit"), CK_OK);
	assert_int_not_equal(
	    ck_load_file(f->ctx, ck_trust_p12_path(f->t), &b), CK_OK);
	assert_int_equal(ck_ctx_set_password(f->ctx, "s3cret"), CK_OK);
	assert_int_equal(
	    ck_load_file(f->ctx, ck_trust_p12_path(f->t), &b), CK_OK);
	ck_bundle_free(b);
	assert_int_equal(
	    ck_trust_set_truststore_password(f->t, "a\nb"), CK_E_USAGE);
	assert_int_equal(ck_trust_set_truststore_password(f->t, NULL), CK_OK);
	assert_int_equal(access(path, F_OK), -1);
}

static void
test_fp_parse(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		enum cki_pin kind;
	} cases[] = {
	    {"96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6",
	        true, CKI_PIN_CERT},
	    {"96:BC:EC:06:26:49:76:F3:74:60:77:9A:CF:28:C5:A7:CF:E8:A3:C0:"
	     "AA:E1:1A:8F:FC:EE:05:C0:BD:DF:08:C6",
	        true, CKI_PIN_CERT},
	    {"sha256 Fingerprint=96:BC:EC:06:26:49:76:F3:74:60:77:9A:CF:28:"
	     "C5:A7:CF:E8:A3:C0:AA:E1:1A:8F:FC:EE:05:C0:BD:DF:08:C6",
	        true, CKI_PIN_CERT},
	    {"spki:"
	     "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6",
	        true, CKI_PIN_SPKI},
	    {"96bcec06", false, CKI_PIN_CERT},
	    {"", false, CKI_PIN_CERT},
	    {"zz"
	     "bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6",
	        false, CKI_PIN_CERT},
	    {"96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c60"
	     "0",
	        false, CKI_PIN_CERT},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[65];
		enum cki_pin kind;
		bool ex;

		assert_int_equal(
		    cki_fp_parse(cases[i].in, out, &kind, &ex), cases[i].ok);
		if (cases[i].ok) {
			assert_int_equal(kind, cases[i].kind);
			assert_string_equal(out,
			    "96bcec06264976f37460779acf28c5a7"
			    "cfe8a3c0aae11a8ffcee05c0bddf08c6");
		}
	}
}

static void
test_open_errors(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_trust *t = NULL;

	(void)state;
	assert_int_equal(ck_trust_new(ctx, "", &t), CK_E_USAGE);
	assert_null(t);
	assert_int_equal(ck_trust_new(ctx, NULL, &t), CK_E_USAGE);
	ck_trust_free(NULL);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_add_builds_three_consistent_outputs, trustfix_setup,
	        trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_add_same_twice_is_noop, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_add_refusals, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_alias_clash_is_case_insensitive, trustfix_setup,
	        trustfix_teardown),
	    cmocka_unit_test_setup_teardown(test_many_certs_one_anchor_each,
	        trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_remove, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_distrust_survives_system_update, trustfix_setup,
	        trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_distrust_expired, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(test_fault_leaves_everything,
	        trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_lock_timeout, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_bad_inputs_on_disk, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_list_and_export, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_truststore_password, trustfix_setup, trustfix_teardown),
	    cmocka_unit_test(test_fp_parse),
	    cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
