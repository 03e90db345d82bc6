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

/* The verdict on chain at `now`, now or after the loop ran. */
static struct cki_revo_verdict
check_at(cki_revo *rv, STACK_OF(X509) * chain, int64_t now, bool expect_async)
{
	struct waiter w = {false, {0}};
	cki_revo_req *req = NULL;
	int rc = cki_revo_check(rv, chain, now, on_done, &w, &w.v, &req);

	if (rc != (expect_async ? 0 : 1))
		print_message("unexpected: %s\n", w.v.detail);
	assert_int_equal(rc, expect_async ? 0 : 1);
	if (rc == 0) {
		assert_non_null(req);
		wait_for(&w);
	} else {
		assert_null(req);
	}
	return w.v;
}

static struct cki_revo_verdict
check(cki_revo *rv, STACK_OF(X509) * chain, bool expect_async)
{
	return check_at(rv, chain, time(NULL), expect_async);
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
	run("openssl crl -in %s/int.crl -outform DER -out %s/int.crl.der", dir,
	    dir);
	/* Responses to replay: with the nonce of another request, and
	 * without a nonce. */
	run("cd %s && openssl ocsp -issuer int.pem -cert good.pem -url %s "
	    "-respout replay.der -noverify >/dev/null 2>&1 && "
	    "openssl ocsp -issuer int.pem -cert good.pem -url %s -no_nonce "
	    "-respout nononce.der -noverify >/dev/null 2>&1",
	    dir, url_good, url_good);
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

/* The DER of the CRL file NAME (PEM), malloc'd. */
static uint8_t *
crl_der(const char *name, size_t *len)
{
	FILE *f = fopen(path_of(name), "r");
	X509_CRL *crl;
	uint8_t *der = NULL;
	int n;

	assert_non_null(f);
	assert_non_null(crl = PEM_read_X509_CRL(f, NULL, NULL, NULL));
	fclose(f);
	assert_true((n = i2d_X509_CRL(crl, &der)) > 0);
	X509_CRL_free(crl);
	*len = (size_t)n;
	return der;
}

/* The server's own CA (cki_revo_set_own): under hard-fail, its
 * certificates are answered from its CRL at once, never over OCSP; a new CRL
 * changes the generation, the same bytes do not, a damaged one is
 * refused and the last stays; a reload's checker takes it over. */
static void
test_own_ca(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv, *rv2;
	STACK_OF(X509) *good = chain_of("good", "int", "root");
	STACK_OF(X509) *bad = chain_of("revoked", "int", "root");
	X509 *ca = load_cert("int");
	struct cki_revo_verdict v;
	uint8_t *empty, *listed;
	size_t elen, llen;
	uint64_t g;

	(void)state;
	make_crl("own0.crl", "int", "int", 24, NULL, 0);
	make_crl("own1.crl", "int", "int", 24, (struct rev[]){{0x2002, 1}}, 1);
	empty = crl_der("own0.crl", &elen);
	listed = crl_der("own1.crl", &llen);
	conf_make(&c, CKI_OCSP_HARD_FAIL, NULL, NULL, NULL);
	rv = revo_new(&c);
	g = cki_revo_generation(rv);
	assert_int_equal(cki_revo_set_own(rv, ca, empty, elen), CK_OK);
	assert_true(cki_revo_generation(rv) != g);
	v = check(rv, good, false);
	assert_int_equal(v.result, CKI_REVO_GOOD);
	assert_int_equal(check(rv, bad, false).result, CKI_REVO_GOOD);
	g = cki_revo_generation(rv);
	assert_int_equal(cki_revo_set_own(rv, ca, empty, elen), CK_OK);
	assert_int_equal(cki_revo_generation(rv), g);
	assert_int_equal(cki_revo_set_own(rv, ca, listed, llen), CK_OK);
	assert_true(cki_revo_generation(rv) != g);
	v = check(rv, bad, false);
	assert_int_equal(v.result, CKI_REVO_REVOKED);
	assert_string_equal(v.source, "crl");
	g = cki_revo_generation(rv);
	assert_int_not_equal(cki_revo_set_own(rv, ca, listed, llen - 1), CK_OK);
	assert_int_equal(cki_revo_generation(rv), g);
	assert_int_equal(check(rv, bad, false).result, CKI_REVO_REVOKED);
	assert_int_equal(check(rv, good, false).result, CKI_REVO_GOOD);
	rv2 = revo_new(&c);
	cki_revo_take_own(rv2, rv);
	cki_revo_free(rv);
	assert_int_equal(check(rv2, bad, false).result, CKI_REVO_REVOKED);
	assert_int_equal(check(rv2, good, false).result, CKI_REVO_GOOD);
	assert_int_equal(cki_revo_ocsp_requests(rv2), 0);
	cki_revo_free(rv2);
	OPENSSL_free(empty);
	OPENSSL_free(listed);
	X509_free(ca);
	sk_X509_pop_free(good, X509_free);
	sk_X509_pop_free(bad, X509_free);
	conf_clear(&c);
}

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
	conf_make(&c, CKI_OCSP_OFF, NULL, "root.crl", "int.crl.der"); /* DER */
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
	{
		cki_revo *other = revo_new(&c);

		assert_int_not_equal(cki_revo_generation(other), gen);
		cki_revo_free(other);
	}
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
	/* The server's path: cki_revo_check() looks again itself, at most
	 * once a second. */
	gen = cki_revo_generation(rv);
	/* Made aside (openssl may take over a second on a loaded machine),
	 * then renamed in just after a look, so the next check is within
	 * the second. */
	make_crl("next.crl", "int", "int", 24, (struct rev[]){{0x2001, 1}}, 1);
	(void)cki_revo_reload(rv);
	assert_int_equal(rename(path_of("next.crl"), path_of("live.crl")), 0);
	assert_int_equal(check(rv, ch, false).result, CKI_REVO_GOOD);
	nanosleep(&(struct timespec){1, 100 * 1000000}, NULL);
	assert_int_equal(check(rv, ch, false).result, CKI_REVO_REVOKED);
	assert_int_not_equal(cki_revo_generation(rv), gen);
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* The news (cki_revo_news_match): a reload that lists nothing new makes
 * none; one that lists a certificate makes news of it alone, matched by
 * its chain and not by another; a forged CRL's entry is news but matches
 * nothing (its signature); an OCSP "revoked" is news; the own CA's new
 * CRL too. */
static void
test_news(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *good = chain_of("good", "int", "root");
	STACK_OF(X509) *bad = chain_of("revoked", "int", "root");
	STACK_OF(X509) *unknown = chain_of("unknown", "int", "root");
	X509 *ca = load_cert("int");
	struct cki_revo_verdict v;
	uint8_t *empty, *listed;
	size_t elen, llen;

	(void)state;
	make_crl("news.crl", "int", "int", 24, (struct rev[]){{0x2002, 1}}, 1);
	conf_make(&c, CKI_OCSP_OFF, NULL, "news.crl", NULL);
	rv = revo_new(&c);
	assert_int_equal(cki_revo_news(rv), 0); /* the first load: none */
	make_crl("news.crl", "int", "int", 24, (struct rev[]){{0x2002, 1}}, 1);
	assert_true(cki_revo_reload(rv));
	assert_int_equal(cki_revo_news(rv), 0); /* nothing new */
	make_crl("news.crl", "int", "int", 24,
	    (struct rev[]){{0x2002, 1}, {0x2001, 4}}, 2);
	assert_true(cki_revo_reload(rv));
	assert_int_equal(cki_revo_news(rv), 1);
	assert_true(cki_revo_news_match(rv, good, &v));
	assert_string_equal(v.detail, "certificate revoked (CRL, superseded)");
	assert_false(cki_revo_news_match(rv, bad, &v)); /* not new */
	cki_revo_news_clear(rv);
	assert_false(cki_revo_news_match(rv, good, &v));
	/* Signed by another key: news, but no match (its signature). */
	make_crl("news.crl", "int", "int2", 24,
	    (struct rev[]){{0x2002, 1}, {0x2001, 4}, {0x2003, 1}}, 3);
	assert_true(cki_revo_reload(rv));
	assert_int_equal(cki_revo_news(rv), 1);
	assert_false(cki_revo_news_match(rv, unknown, &v));
	cki_revo_free(rv);
	conf_clear(&c);
	/* OCSP: a fresh "revoked" is news. */
	conf_make(&c, CKI_OCSP_SOFT_FAIL, NULL, "root.crl", NULL);
	rv = revo_new(&c);
	assert_int_equal(check(rv, bad, true).result, CKI_REVO_REVOKED);
	assert_int_equal(cki_revo_news(rv), 1);
	assert_true(cki_revo_news_match(rv, bad, &v));
	assert_string_equal(v.source, "ocsp");
	assert_false(cki_revo_news_match(rv, good, &v));
	cki_revo_news_clear(rv);
	/* The own CA: what its new CRL adds. */
	make_crl("own0.crl", "int", "int", 24, NULL, 0);
	make_crl("own1.crl", "int", "int", 24, (struct rev[]){{0x2001, 1}}, 1);
	empty = crl_der("own0.crl", &elen);
	listed = crl_der("own1.crl", &llen);
	assert_int_equal(cki_revo_set_own(rv, ca, empty, elen), CK_OK);
	assert_int_equal(cki_revo_news(rv), 0);
	assert_int_equal(cki_revo_set_own(rv, ca, listed, llen), CK_OK);
	assert_int_equal(cki_revo_news(rv), 1);
	assert_true(cki_revo_news_match(rv, good, &v));
	assert_string_equal(v.source, "crl");
	cki_revo_free(rv);
	OPENSSL_free(empty);
	OPENSSL_free(listed);
	X509_free(ca);
	sk_X509_pop_free(good, X509_free);
	sk_X509_pop_free(bad, X509_free);
	sk_X509_pop_free(unknown, X509_free);
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

/* ---- OCSP ---------------------------------------------------------------- */

static bool
ipv6_loopback(void)
{
	struct sockaddr_in6 sa = {0};
	int fd = socket(AF_INET6, SOCK_STREAM, 0);
	bool ok;

	sa.sin6_family = AF_INET6;
	sa.sin6_addr = in6addr_loopback;
	ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A good answer is cached: the second check asks nobody. int has no OCSP
 * URL; root's CRL covers it. */
static void
test_ocsp_good_then_cached(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	conf_make(&c, CKI_OCSP_HARD_FAIL, NULL, "root.crl", NULL);
	rv = revo_new(&c);
	v = check(rv, ch, true);
	assert_int_equal(v.result, CKI_REVO_GOOD);
	assert_true(v.valid_until > time(NULL) + 500); /* -nmin 10 */
	assert_int_equal(cki_revo_ocsp_requests(rv), 1);
	v = check(rv, ch, false);
	assert_int_equal(v.result, CKI_REVO_GOOD);
	assert_int_equal(cki_revo_ocsp_requests(rv), 1);
	cki_revo_free(rv);
	conf_clear(&c);
	/* An IPv6 literal (openssl ocsp listens on [::]) for ocsp_responder,
	 * when the machine has ::1. */
	if (ipv6_loopback()) {
		char url6[64];

		snprintf(url6, sizeof(url6), "http://[::1]:%s",
		    strrchr(url_good, ':') + 1);
		conf_make(&c, CKI_OCSP_HARD_FAIL, url6, "root.crl", NULL);
		rv = revo_new(&c);
		v = check(rv, ch, true);
		/* int is asked too, and cannot be answered: covered. */
		assert_int_equal(v.result, CKI_REVO_GOOD);
		cki_revo_free(rv);
	}
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

static void
test_ocsp_revoked(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("revoked", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	conf_make(&c, CKI_OCSP_SOFT_FAIL, NULL, "root.crl", NULL);
	rv = revo_new(&c);
	v = check(rv, ch, true);
	assert_int_equal(v.result, CKI_REVO_REVOKED);
	assert_string_equal(v.source, "ocsp");
	assert_int_equal(v.depth, 0);
	assert_int_equal(v.reason, 1);
	assert_string_equal(
	    v.detail, "certificate revoked (OCSP, keyCompromise)");
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* "unknown" is no answer: refused under hard-fail. */
static void
test_ocsp_unknown(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("unknown", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	conf_make(&c, CKI_OCSP_HARD_FAIL, NULL, "root.crl", NULL);
	rv = revo_new(&c);
	v = check(rv, ch, true);
	assert_int_equal(v.result, CKI_REVO_UNKNOWN);
	assert_int_equal(v.depth, 0);
	assert_non_null(strstr(v.detail, "unknown to it"));
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* A CA without an OCSP URL and without a CRL of its issuer: no answer.
 * With the CRL (the other tests), it is covered. */
static void
test_ocsp_uncovered_intermediate(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	conf_make(&c, CKI_OCSP_HARD_FAIL, NULL, NULL, NULL);
	rv = revo_new(&c);
	v = check(rv, ch, true);
	assert_int_equal(v.result, CKI_REVO_UNKNOWN);
	assert_int_equal(v.depth, 1);
	assert_string_equal(v.detail,
	    "revocation unknown (hard-fail): no OCSP URL: the certificate "
	    "has no AIA OCSP entry and ocsp_responder is not set");
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* A port that refuses (bound, not listening) × the three modes. */
static void
test_ocsp_unreachable(void **state)
{
	static const enum cki_ocsp_mode modes[] = {
	    CKI_OCSP_OFF, CKI_OCSP_SOFT_FAIL, CKI_OCSP_HARD_FAIL};
	static const enum cki_revo_result want[] = {
	    CKI_REVO_GOOD, CKI_REVO_SOFT_FAILED, CKI_REVO_UNKNOWN};
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char url[64];

	(void)state;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(
	    url, sizeof(url), "http://127.0.0.1:%d/ocsp", ntohs(sa.sin_port));
	for (size_t m = 0; m < 3; m++) {
		struct cki_server_conf c;
		STACK_OF(X509) *ch = chain_of("good", "int", "root");
		cki_revo *rv;
		struct cki_revo_verdict v;
		json_t *w;

		conf_make(&c, modes[m], url, "root.crl", NULL);
		rv = revo_new(&c);
		v = check(rv, ch, modes[m] != CKI_OCSP_OFF);
		assert_int_equal(v.result, want[m]);
		if (modes[m] != CKI_OCSP_OFF) {
			assert_non_null(strstr(v.detail, "unreachable"));
			assert_non_null(strstr(v.detail, url));
			w = cki_revo_warnings(rv, time(NULL));
			assert_true(has_code(w, "ocsp_unavailable", url));
			json_decref(w);
			/* Back-off: answered at once, nobody asked. Both
			 * leaf and int were (ocsp_responder is for all). */
			assert_int_equal(check(rv, ch, false).result, want[m]);
			assert_int_equal(cki_revo_ocsp_requests(rv), 2);
		}
		cki_revo_free(rv);
		sk_X509_pop_free(ch, X509_free);
		conf_clear(&c);
	}
	close(fd);
}

/* A responder that takes the connection and never answers: bounded. */
static void
test_ocsp_timeout(void **state)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct cki_server_conf c;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	cki_revo *rv;
	struct cki_revo_verdict v;
	char url[64];
	int64_t t0;

	(void)state;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
	conf_make(&c, CKI_OCSP_HARD_FAIL, url, "root.crl", NULL);
	rv = revo_new(&c);
	cki_revo_set_ocsp_timeout(rv, 300);
	t0 = cki_mono_ms();
	v = check(rv, ch, true);
	assert_true(cki_mono_ms() - t0 < 3000);
	assert_int_equal(v.result, CKI_REVO_UNKNOWN);
	assert_non_null(strstr(v.detail, "no answer within 300 ms"));
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
	close(fd);
}

/* A responder signing with a certificate int issued without
 * id-kp-OCSPSigning is not authorised (RFC 6960 4.2.2.2). */
static void
test_ocsp_unauthorised_signer(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("revoked", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	conf_make(&c, CKI_OCSP_HARD_FAIL, url_notocsp, "root.crl", NULL);
	rv = revo_new(&c);
	v = check(rv, ch, true);
	assert_int_equal(v.result, CKI_REVO_UNKNOWN);
	assert_non_null(strstr(v.detail, "not signed by the issuer"));
	cki_revo_free(rv);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* ---- nonces: a server on the test's loop ----------------------------------
 */

struct fake {
	struct evhttp *http;
	char url[64];
	const char *mode; /* "forward": to the real responder; else a file */
};

static void
fake_cb(struct evhttp_request *req, void *arg)
{
	struct fake *fk = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evbuffer_new();
	const char *file = fk->mode;
	FILE *f;
	unsigned char buf[8192];
	size_t n;

	if (strcmp(fk->mode, "forward") == 0) {
		f = fopen(path_of("fwd-req.der"), "w");
		fwrite(evbuffer_pullup(in, -1), 1, evbuffer_get_length(in), f);
		fclose(f);
		run("cd %s && openssl ocsp -reqin fwd-req.der -url %s "
		    "-respout fwd-resp.der -noverify >/dev/null 2>&1",
		    dir, url_good);
		file = "fwd-resp.der";
	}
	f = fopen(path_of(file), "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	evbuffer_add(out, buf, n);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/ocsp-response");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
fake_start(struct fake *fk)
{
	struct evhttp_bound_socket *h;
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	fk->http = evhttp_new(base);
	assert_non_null(fk->http);
	h = evhttp_bind_socket_with_handle(fk->http, "127.0.0.1", 0);
	assert_non_null(h);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(h),
	                     (struct sockaddr *)&sa, &len),
	    0);
	snprintf(fk->url, sizeof(fk->url), "http://127.0.0.1:%d/",
	    ntohs(sa.sin_port));
	evhttp_set_gencb(fk->http, fake_cb, fk);
}

/* A response made for another request (another nonce) is refused. */
static void
test_ocsp_replayed_nonce(void **state)
{
	struct fake fk = {NULL, "", "replay.der"};
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	fake_start(&fk);
	conf_make(&c, CKI_OCSP_HARD_FAIL, fk.url, "root.crl", NULL);
	rv = revo_new(&c);
	v = check(rv, ch, true);
	assert_int_equal(v.result, CKI_REVO_UNKNOWN);
	assert_non_null(strstr(v.detail, "nonce is not the request's"));
	cki_revo_free(rv);
	evhttp_free(fk.http);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* Without a nonce: accepted from a responder that never echoed one,
 * refused once it has. */
static void
test_ocsp_missing_nonce(void **state)
{
	struct fake fk = {NULL, "", "nononce.der"};
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *good = chain_of("good", "int", "root");
	STACK_OF(X509) *revd = chain_of("revoked", "int", "root");
	struct cki_revo_verdict v;

	(void)state;
	fake_start(&fk);
	conf_make(&c, CKI_OCSP_HARD_FAIL, fk.url, "root.crl", NULL);
	rv = revo_new(&c);
	assert_int_equal(check(rv, good, true).result, CKI_REVO_GOOD);
	cki_revo_free(rv);
	rv = revo_new(&c);
	fk.mode = "forward"; /* the real responder echoes the nonce */
	assert_int_equal(check(rv, revd, true).result, CKI_REVO_REVOKED);
	fk.mode = "nononce.der";
	v = check(rv, good, true);
	assert_int_equal(v.result, CKI_REVO_UNKNOWN);
	assert_non_null(strstr(v.detail, "has no nonce"));
	cki_revo_free(rv);
	evhttp_free(fk.http);
	sk_X509_pop_free(good, X509_free);
	sk_X509_pop_free(revd, X509_free);
	conf_clear(&c);
}

/* nextUpdate is checked with CKI_OCSP_SKEW to spare (the responder's
 * -nmin 10: nextUpdate is 10 minutes after thisUpdate). */
static void
test_ocsp_validity_window(void **state)
{
	struct fake fk = {NULL, "", "nononce.der"};
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	int64_t now = time(NULL);
	struct cki_revo_verdict v;

	(void)state;
	fake_start(&fk);
	conf_make(&c, CKI_OCSP_HARD_FAIL, fk.url, "root.crl", NULL);
	rv = revo_new(&c);
	v = check_at(rv, ch, now + 600 + CKI_OCSP_SKEW + 60, true);
	assert_int_equal(v.result, CKI_REVO_UNKNOWN);
	assert_non_null(strstr(v.detail, "out of date (nextUpdate)"));
	/* Within the skew after nextUpdate: still good. (A thisUpdate in the
	 * future cannot be made here: the certificates start now.) */
	v = check_at(rv, ch, now + 600 + CKI_OCSP_SKEW - 60, true);
	assert_int_equal(v.result, CKI_REVO_GOOD);
	cki_revo_free(rv);
	evhttp_free(fk.http);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

/* A cancelled check never calls back; freeing with checks pending is
 * clean (ASan). Two checks of one certificate make one request. */
static void
test_ocsp_cancel_and_share(void **state)
{
	struct cki_server_conf c;
	cki_revo *rv;
	STACK_OF(X509) *ch = chain_of("good", "int", "root");
	struct waiter w1 = {false, {0}}, w2 = {false, {0}};
	cki_revo_req *r1, *r2;
	int64_t end = cki_mono_ms() + 10000;

	(void)state;
	conf_make(&c, CKI_OCSP_HARD_FAIL, NULL, "root.crl", NULL);
	rv = revo_new(&c);
	assert_int_equal(
	    cki_revo_check(rv, ch, time(NULL), on_done, &w1, &w1.v, &r1), 0);
	assert_int_equal(
	    cki_revo_check(rv, ch, time(NULL), on_done, &w2, &w2.v, &r2), 0);
	assert_int_equal(cki_revo_ocsp_requests(rv), 1);
	cki_revo_cancel(r1);
	sk_X509_pop_free(ch, X509_free); /* the request holds its own */
	wait_for(&w2);
	assert_int_equal(w2.v.result, CKI_REVO_GOOD);
	while (
	    cki_mono_ms() < end && event_base_loop(base, EVLOOP_NONBLOCK) == 0)
		;
	assert_false(w1.called);
	ch = chain_of("revoked", "int", "root");
	assert_int_equal(
	    cki_revo_check(rv, ch, time(NULL), on_done, &w1, &w1.v, &r1), 0);
	cki_revo_free(rv); /* pending: dropped */
	assert_false(w1.called);
	sk_X509_pop_free(ch, X509_free);
	conf_clear(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_crl_good),
	    cmocka_unit_test(test_own_ca),
	    cmocka_unit_test(test_crl_revoked_leaf),
	    cmocka_unit_test(test_crl_revoked_intermediate),
	    cmocka_unit_test(test_crl_forged_ignored),
	    cmocka_unit_test(test_crl_stale),
	    cmocka_unit_test(test_crl_reload),
	    cmocka_unit_test(test_news),
	    cmocka_unit_test(test_crl_damaged_keeps_last_good),
	    cmocka_unit_test(test_crl_missing_at_start),
	    cmocka_unit_test(test_ocsp_good_then_cached),
	    cmocka_unit_test(test_ocsp_revoked),
	    cmocka_unit_test(test_ocsp_unknown),
	    cmocka_unit_test(test_ocsp_uncovered_intermediate),
	    cmocka_unit_test(test_ocsp_unreachable),
	    cmocka_unit_test(test_ocsp_timeout),
	    cmocka_unit_test(test_ocsp_unauthorised_signer),
	    cmocka_unit_test(test_ocsp_replayed_nonce),
	    cmocka_unit_test(test_ocsp_missing_nonce),
	    cmocka_unit_test(test_ocsp_validity_window),
	    cmocka_unit_test(test_ocsp_cancel_and_share),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
