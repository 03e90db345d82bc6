/*
 * test_revocation.c: lib/server/revocation.c (the CRL set) and
 * lib/server/ocsp_client.c (the OCSP client) against a PKI made at test
 * time (tests/unit/revocation_pki.sh), CRLs made here, and real `openssl
 * ocsp` responders (a delegated responder, one without id-kp-OCSPSigning)
 * plus a replaying HTTP server on the test's own event loop.
 *
 * One setup for the whole file: the PKI, the responders. Each test fills a
 * struct cki_server_conf by hand (conf_make).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "ck_internal.h"
#include "revocation_int.h"

static char dir[256];
static pid_t responders[2];
static char url_good[64], url_notocsp[64];
static struct event_base *base;

/* ---- helpers ------------------------------------------------------------- */

static const char *
path_of(const char *name)
{
	static char buf[4][512];
	static int slot;
	char *out = buf[slot++ % 4];

	snprintf(out, sizeof(buf[0]), "%s/%s", dir, name);
	return out;
}

/* NAME.pem */
static X509 *
load_cert(const char *stem)
{
	char name[64];
	FILE *f;
	X509 *x;

	snprintf(name, sizeof(name), "%s.pem", stem);
	f = fopen(path_of(name), "r");
	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *
load_key(const char *name)
{
	FILE *f = fopen(path_of(name), "r");
	EVP_PKEY *k;

	assert_non_null(f);
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(k);
	return k;
}

/* A chain leaf .. root by stems ("good", "int", "root"). */
static STACK_OF(X509) * chain_of(const char *a, const char *b, const char *c)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	sk_X509_push(sk, load_cert(a));
	sk_X509_push(sk, load_cert(b));
	sk_X509_push(sk, load_cert(c));
	return sk;
}

struct rev {
	long serial;
	int reason;
};

/* Writes NAME: a CRL of `issuer` (stem) signed with `signer`'s key (the
 * issuer's unless testing a forgery), next update `next_h` hours from
 * now (negative: stale), listing `revs`. */
static void
make_crl(const char *name, const char *issuer, const char *signer, int next_h,
    const struct rev *revs, size_t nrev)
{
	X509 *ca = load_cert(issuer);
	char keyname[64];
	EVP_PKEY *key;
	X509_CRL *crl = X509_CRL_new();
	time_t now = time(NULL);
	ASN1_TIME *t = ASN1_TIME_adj(NULL, now, 0, -3600);
	ASN1_TIME *n = ASN1_TIME_adj(NULL, now, 0, (long)next_h * 3600);
	char tmp[600];
	FILE *f;

	snprintf(keyname, sizeof(keyname), "%s.key", signer);
	key = load_key(keyname);
	X509_CRL_set_version(crl, X509_CRL_VERSION_2);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	X509_CRL_set1_lastUpdate(crl, t);
	X509_CRL_set1_nextUpdate(crl, n);
	for (size_t i = 0; i < nrev; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *sn = ASN1_INTEGER_new();
		ASN1_ENUMERATED *e = ASN1_ENUMERATED_new();

		ASN1_INTEGER_set(sn, revs[i].serial);
		X509_REVOKED_set_serialNumber(r, sn);
		X509_REVOKED_set_revocationDate(r, t);
		ASN1_ENUMERATED_set(e, revs[i].reason);
		X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, e, 0, 0);
		X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(sn);
		ASN1_ENUMERATED_free(e);
	}
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
	/* Written aside and renamed: a reader sees the old or the new. */
	snprintf(tmp, sizeof(tmp), "%s.tmp", path_of(name));
	assert_non_null(f = fopen(tmp, "w"));
	assert_true(PEM_write_X509_CRL(f, crl));
	fclose(f);
	assert_int_equal(rename(tmp, path_of(name)), 0);
	ASN1_TIME_free(t);
	ASN1_TIME_free(n);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
	X509_free(ca);
}

static void
conf_make(struct cki_server_conf *c, enum cki_ocsp_mode mode,
    const char *responder, const char *crl1, const char *crl2)
{
	memset(c, 0, sizeof(*c));
	c->ocsp = mode;
	c->ocsp_responder = responder != NULL ? strdup(responder) : NULL;
	if (crl1 != NULL)
		assert_int_equal(
		    cki_strlist_add(&c->crl, path_of(crl1)), CK_OK);
	if (crl2 != NULL)
		assert_int_equal(
		    cki_strlist_add(&c->crl, path_of(crl2)), CK_OK);
}

static void
conf_clear(struct cki_server_conf *c)
{
	free(c->ocsp_responder);
	cki_strlist_clear(&c->crl);
}

static bool
has_code(json_t *arr, const char *code, const char *in_summary)
{
	size_t i;
	json_t *f;

	json_array_foreach(arr, i, f)
	{
		const char *s =
		    json_string_value(json_object_get(f, "summary"));

		if (strcmp(json_string_value(json_object_get(f, "code")),
		        code) == 0 &&
		    (in_summary == NULL || strstr(s, in_summary) != NULL))
			return true;
	}
	return false;
}

/* ---- waiting for a verdict ----------------------------------------------- */

struct waiter {
	bool called;
	struct cki_revo_verdict v;
};

static void
on_done(void *arg, const struct cki_revo_verdict *v)
{
	struct waiter *w = arg;

	w->called = true;
	w->v = *v;
}

/* Runs the loop until `done` (at most 10 s). */
static void
wait_for(struct waiter *w)
{
	int64_t end = cki_mono_ms() + 10000;

	while (!w->called && cki_mono_ms() < end)
		event_base_loop(base, EVLOOP_ONCE);
	assert_true(w->called);
}

/* The verdict on chain, now or after the loop ran. */
static struct cki_revo_verdict
check(cki_revo *rv, STACK_OF(X509) * chain, bool expect_async)
{
	struct waiter w = {false, {0}};
	cki_revo_req *req = NULL;
	int rc = cki_revo_check(rv, chain, time(NULL), on_done, &w, &w.v, &req);

	assert_int_equal(rc, expect_async ? 0 : 1);
	if (rc == 0) {
		assert_non_null(req);
		wait_for(&w);
	} else {
		assert_null(req);
	}
	return w.v;
}

static cki_revo *
revo_new(const struct cki_server_conf *c)
{
	ck_ctx *ctx = ck_ctx_new();
	cki_revo *rv = NULL;

	assert_int_equal(cki_revo_new(ctx, c, base, &rv), CK_OK);
	ck_ctx_free(ctx);
	return rv;
}

/* ---- set-up: the PKI and the responders ---------------------------------- */

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_int_equal(system(cmd), 0);
}

/* Starts `openssl ocsp` signing with `signer` (stem) for int's
 * certificates; its stdout (ACCEPT [::]:PORT) goes to a file. Returns the
 * port, waiting at most 5 s. */
static int
responder_start(int i, const char *signer)
{
	char out[64], line[256], key[64], cert[64];
	int64_t end = cki_mono_ms() + 5000;
	struct timespec tick = {0, 20 * 1000000};
	int port = 0;
	pid_t pid;

	snprintf(out, sizeof(out), "responder%d.out", i);
	snprintf(cert, sizeof(cert), "%s.pem", signer);
	snprintf(key, sizeof(key), "%s.key", signer);
	if ((pid = fork()) == 0) {
		int fd = -1;

		if (chdir(dir) != 0 ||
		    (fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
			_exit(127);
		dup2(fd, 1);
		execlp("openssl", "openssl", "ocsp", "-index", "index.txt",
		    "-port", "0", "-rsigner", cert, "-rkey", key, "-CA",
		    "int.pem", "-nmin", "10", (char *)NULL);
		_exit(127);
	}
	assert_true(pid > 0);
	responders[i] = pid;
	while (port == 0 && cki_mono_ms() < end) {
		FILE *f = fopen(path_of(out), "r");

		if (f != NULL && fgets(line, sizeof(line), f) != NULL) {
			char *c = strstr(line, "]:");

			port = c != NULL ? (int)strtol(c + 2, NULL, 10) : 0;
		}
		if (f != NULL)
			fclose(f);
		if (port == 0)
			nanosleep(&tick, NULL);
	}
	assert_true(port > 0);
	return port;
}

static int
setup(void **state)
{
	char url[64];

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* evhttp writes with writev() */
	snprintf(dir, sizeof(dir), "/tmp/ck-revo-XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	run("sh \"$CERTKIT_SRC/tests/unit/revocation_pki.sh\" %s ca", dir);
	snprintf(url_good, sizeof(url_good), "http://127.0.0.1:%d/",
	    responder_start(0, "ocsp"));
	snprintf(url_notocsp, sizeof(url_notocsp), "http://127.0.0.1:%d/",
	    responder_start(1, "notocsp"));
	snprintf(url, sizeof(url), "%s", url_good);
	run("sh \"$CERTKIT_SRC/tests/unit/revocation_pki.sh\" %s leaves %s",
	    dir, url);
	/* CRLs: root's lists int2 (cACompromise), int's lists revoked. */
	make_crl(
	    "root.crl", "root", "root", 24, (struct rev[]){{0x1002, 2}}, 1);
	make_crl("int.crl", "int", "int", 24, (struct rev[]){{0x2002, 1}}, 1);
	base = event_base_new();
	return base == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	for (int i = 0; i < 2; i++)
		if (responders[i] > 0) {
			kill(responders[i], SIGTERM);
			waitpid(responders[i], NULL, 0);
		}
	event_base_free(base);
	run("rm -rf %s", dir);
	return 0;
}

/* ---- CRLs ---------------------------------------------------------------- */

static void
test_crl_good(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	conf_make(&c, CKI_OCSP_OFF, NULL, "int.crl", "root.crl");
	rv = revo_new(&c);
	v = check(rv, ch, false);
	assert_int_equal(v.result, CKI_REVO_GOOD);
	assert_int_equal(v.depth, -1);
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

static void
test_crl_revoked_leaf(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("revoked", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	conf_make(&c, CKI_OCSP_OFF, NULL, "root.crl", "int.crl");
	rv = revo_new(&c);
	v = check(rv, ch, false);
	assert_int_equal(v.result, CKI_REVO_REVOKED);
	assert_int_equal(v.depth, 0);
	assert_int_equal(v.reason, 1);
	assert_string_equal(v.source, "crl");
	assert_string_equal(
	    v.detail, "certificate revoked (CRL, keyCompromise)");
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* Every certificate of the chain is checked, not only the leaf. */
static void
test_crl_revoked_intermediate(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("under2", "int2", "root");
	struct cki_revo_verdict v;

	(void)state;
	conf_make(&c, CKI_OCSP_OFF, NULL, "int.crl", "root.crl");
	rv = revo_new(&c);
	v = check(rv, ch, false);
	assert_int_equal(v.result, CKI_REVO_REVOKED);
	assert_int_equal(v.depth, 1);
	assert_int_equal(v.reason, 2);
	assert_string_equal(v.detail,
	    "certificate revoked (CRL, cACompromise): the CA \"int2\" "
	    "(depth 1)");
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* A CRL with int's name that int's key did not sign counts for nothing. */
static void
test_crl_forged_ignored(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	make_crl(
	    "forged.crl", "int", "int2", 24, (struct rev[]){{0x2001, 1}}, 1);
	conf_make(&c, CKI_OCSP_OFF, NULL, "forged.crl", NULL);
	rv = revo_new(&c);
	v = check(rv, ch, false);
	assert_int_equal(v.result, CKI_REVO_GOOD);
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* A CRL past its nextUpdate is still used, and is a warning, never a
 * refusal of every client. */
static void
test_crl_stale(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *good = chain_of("good", "int", "root");
	STACK_OF(X509) *bad = chain_of("revoked", "int", "root");
	ck_ctx *ctx = ck_ctx_new();
	json_t *w;

	(void)state;
	make_crl("stale.crl", "int", "int", -2, (struct rev[]){{0x2002, 1}}, 1);
	conf_make(&c, CKI_OCSP_OFF, NULL, "stale.crl", NULL);
	rv = revo_new(&c);
	assert_int_equal(check(rv, good, false).result, CKI_REVO_GOOD);
	assert_int_equal(check(rv, bad, false).result, CKI_REVO_REVOKED);
	w = cki_revo_warnings(rv, time(NULL));
	assert_int_equal(json_array_size(w), 1);
	assert_true(has_code(w, "crl_stale", "stale.crl"));
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(w, 0), "severity")),
	    "warning");
	json_decref(w);
	/* The same without a running server (certkit clients list). */
	w = cki_revo_conf_warnings(ctx, &c, time(NULL));
	assert_int_equal(json_array_size(w), 1);
	assert_true(has_code(w, "crl_stale", "CN = int"));
	json_decref(w);
	cki_revo_free(rv);
	ck_ctx_free(ctx);
	sk_X509_pop_free(good, X509_free);
	sk_X509_pop_free(bad, X509_free);
	conf_clear(&c);
}

/* The file changes: the next look takes it, without a restart; the
 * generation moves. */
static void
test_crl_reload(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	uint64_t gen;

	(void)state;
	make_crl("live.crl", "int", "int", 24, NULL, 0);
	conf_make(&c, CKI_OCSP_OFF, NULL, "live.crl", NULL);
	rv = revo_new(&c);
	gen = cki_revo_generation(rv);
	assert_int_equal(check(rv, ch, false).result, CKI_REVO_GOOD);
	assert_false(cki_revo_reload(rv)); /* unchanged */
	assert_int_equal(cki_revo_generation(rv), gen);
	make_crl("live.crl", "int", "int", 24, (struct rev[]){{0x2001, 4}}, 1);
	assert_true(cki_revo_reload(rv));
	assert_int_not_equal(cki_revo_generation(rv), gen);
	assert_string_equal(check(rv, ch, false).detail,
	    "certificate revoked (CRL, superseded)");
	/* Rewritten in place (same inode) too. */
	run("cp %s %s", path_of("int.crl"), path_of("live.crl"));
	assert_true(cki_revo_reload(rv));
	assert_int_equal(check(rv, ch, false).result, CKI_REVO_GOOD);
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* A damaged or vanished file keeps the last good copy, with a warning. */
static void
test_crl_damaged_keeps_last_good(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("revoked", "int", "root");
	uint64_t gen;
	json_t *w;

	(void)state;
	make_crl("dmg.crl", "int", "int", 24, (struct rev[]){{0x2002, 1}}, 1);
	conf_make(&c, CKI_OCSP_OFF, NULL, "dmg.crl", NULL);
	rv = revo_new(&c);
	gen = cki_revo_generation(rv);
	run("head -c 100 %s >%s.cut", path_of("dmg.crl"), path_of("dmg.crl"));
	run("mv %s.cut %s", path_of("dmg.crl"), path_of("dmg.crl"));
	assert_false(cki_revo_reload(rv));
	assert_int_equal(cki_revo_generation(rv), gen);
	assert_int_equal(check(rv, ch, false).result, CKI_REVO_REVOKED);
	w = cki_revo_warnings(rv, time(NULL));
	assert_true(has_code(w, "crl_unusable", "last good copy is used"));
	assert_true(has_code(w, "crl_unusable", "dmg.crl"));
	json_decref(w);
	run("rm %s", path_of("dmg.crl"));
	assert_false(cki_revo_reload(rv));
	assert_int_equal(check(rv, ch, false).result, CKI_REVO_REVOKED);
	make_crl("dmg.crl", "int", "int", 24, NULL, 0);
	assert_true(cki_revo_reload(rv));
	assert_int_equal(check(rv, ch, false).result, CKI_REVO_GOOD);
	w = cki_revo_warnings(rv, time(NULL));
	assert_int_equal(json_array_size(w), 0);
	json_decref(w);
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* At start an unreadable CRL is an error naming the file; without a
 * server it is a warning. */
static void
test_crl_missing_at_start(void **state)
{
	struct cki_server_conf c;
	ck_ctx *ctx = ck_ctx_new();
	cki_revo *rv = NULL;
	json_t *w;

	(void)state;
	conf_make(&c, CKI_OCSP_OFF, NULL, "int.crl", "nonexistent.crl");
	assert_int_equal(cki_revo_new(ctx, &c, base, &rv), CK_E_IO);
	assert_null(rv);
	assert_non_null(strstr(ck_ctx_error(ctx), "nonexistent.crl"));
	w = cki_revo_conf_warnings(ctx, &c, time(NULL));
	assert_int_equal(json_array_size(w), 1);
	assert_true(has_code(w, "crl_unusable", "nonexistent.crl"));
	json_decref(w);
	/* A certificate is not a CRL. */
	conf_clear(&c);
	conf_make(&c, CKI_OCSP_OFF, NULL, "good.pem", NULL);
	assert_int_equal(cki_revo_new(ctx, &c, base, &rv), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx), "not a CRL"));
	ck_ctx_free(ctx);
	conf_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crl_good),
	    cmocka_unit_test(test_crl_revoked_leaf),
	    cmocka_unit_test(test_crl_revoked_intermediate),
	    cmocka_unit_test(test_crl_forged_ignored),
	    cmocka_unit_test(test_crl_stale),
	    cmocka_unit_test(test_crl_reload),
	    cmocka_unit_test(test_crl_damaged_keeps_last_good),
	    cmocka_unit_test(test_crl_missing_at_start),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
