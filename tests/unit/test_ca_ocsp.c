/*
 * test_ca_ocsp.c: lib/ca/ca_ocsp.c: the OCSP responder core, between real
 * `openssl ocsp -reqout` requests and `openssl ocsp -respin` checks: good,
 * revoked with its reason, unknown (a serial the store does not know, and
 * another CA's certificate), the nonce echoed, malformed requests and a
 * failing lookup.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "ca_fixture.h"
#include "ca_int.h"
#include "testutil.h"

static char dir[64];
static ck_ca *ca;
static char good[33], bad[33];

static int
setup(void **state)
{
	ck_ctx *ctx;

	(void)state;
	if (cafix_new(dir, sizeof(dir), "caocsp", "OCSP Test CA", &ca) != 0)
		return -1;
	ctx = ck_ctx_new();
	cafix_issue(ctx, ca, dir, "good", good);
	cafix_issue(ctx, ca, dir, "bad", bad);
	/* ours, but not in the store */
	cafix_issue(ctx, ca, dir, "stranger", NULL);
	ck_ctx_free(ctx);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return cafix_free(dir, ca);
}

static int lookups;

/* The store: good is good, bad revoked (keyCompromise), others unknown. */
static ck_status
lookup(void *arg, const char *serial, ck_ca_cert_state *st, int64_t *at,
    int *reason)
{
	(void)arg;
	lookups++;
	if (strcmp(serial, good) == 0) {
		*st = CK_CA_GOOD;
	} else if (strcmp(serial, bad) == 0) {
		*st = CK_CA_REVOKED;
		*at = 1780272000;
		*reason = CK_CA_REASON_KEY_COMPROMISE;
	} else {
		*st = CK_CA_UNKNOWN;
	}
	return CK_OK;
}

static ck_status
lookup_fails(void *arg, const char *serial, ck_ca_cert_state *st, int64_t *at,
    int *reason)
{
	(void)arg, (void)serial, (void)st, (void)at, (void)reason;
	return CK_E_IO;
}

static uint8_t *
slurp(const char *name, size_t *len)
{
	char path[256];
	uint8_t *buf = malloc(65536);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "rb"));
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

/* openssl makes the request for CERT (issued by ISSUER), our responder
 * answers, openssl checks the answer against the root; the output of the
 * check is in check.out. */
static void
round_trip(const char *cert, const char *issuer, ck_ca_status_fn fn)
{
	ck_ctx *ctx = ck_ctx_new();
	uint8_t *req, *resp = NULL;
	size_t len, rlen;
	FILE *f;
	char path[256];

	assert_int_equal(run_in(dir,
	                     "openssl ocsp -issuer %s -cert %s -reqout req.der "
	                     ">/dev/null 2>&1",
	                     issuer, cert),
	    0);
	req = slurp("req.der", &len);
	assert_int_equal(
	    ck_ca_ocsp_respond(ctx, ca, req, len, fn, NULL, 0, &resp, &rlen),
	    CK_OK);
	snprintf(path, sizeof(path), "%s/resp.der", dir);
	assert_non_null(f = fopen(path, "wb"));
	fwrite(resp, 1, rlen, f);
	fclose(f);
	/* The signature and the nonce (openssl compares the request's with
	 * the response's); then the status (openssl would make a new request
	 * with -cert, so -no_nonce there). */
	(void)run_in(dir,
	    "{ openssl ocsp -reqin req.der -respin resp.der -CAfile "
	    "ca/root.pem && openssl ocsp -respin resp.der -issuer %s "
	    "-cert %s -CAfile ca/root.pem -no_nonce; } >check.out 2>&1",
	    issuer, cert);
	/* A request with another nonce: openssl must see the mismatch. */
	if (strcmp(issuer, "ca/ca.pem") != 0)
		goto out;
	assert_int_equal(run_in(dir,
	                     "openssl ocsp -issuer %s -cert %s -reqout "
	                     "other.der >/dev/null 2>&1 && openssl ocsp -reqin "
	                     "other.der -respin resp.der -CAfile ca/root.pem "
	                     "2>&1 | grep -q 'Nonce Verify error'",
	                     issuer, cert),
	    0);
out:
	free(req);
	free(resp);
	ck_ctx_free(ctx);
}

static void
test_ocsp_good(void **state)
{
	(void)state;
	round_trip("good.pem", "ca/ca.pem", lookup);
	assert_int_equal(
	    run_in(dir, "grep -q '^Response verify OK' check.out"), 0);
	assert_int_equal(run_in(dir, "grep -q '^good.pem: good' check.out"), 0);
	/* the nonce came back: openssl says when it does not */
	assert_int_equal(run_in(dir, "grep -qi 'nonce' check.out"), 1);
}

static void
test_ocsp_revoked(void **state)
{
	(void)state;
	round_trip("bad.pem", "ca/ca.pem", lookup);
	assert_int_equal(
	    run_in(dir, "grep -q '^Response verify OK' check.out"), 0);
	assert_int_equal(
	    run_in(dir, "grep -q '^bad.pem: revoked' check.out"), 0);
	assert_int_equal(
	    run_in(dir, "grep -q 'Reason: keyCompromise' check.out"), 0);
}

static void
test_ocsp_unknown(void **state)
{
	(void)state;
	round_trip("stranger.pem", "ca/ca.pem", lookup);
	assert_int_equal(
	    run_in(dir, "grep -q '^Response verify OK' check.out"), 0);
	assert_int_equal(
	    run_in(dir, "grep -q '^stranger.pem: unknown' check.out"), 0);
	/* Another CA's certificate: unauthorized (RFC 5019 section 2.2.3),
	 * and the store is not asked. */
	lookups = 0;
	assert_int_equal(run_in(dir,
	                     "cp \"$CERTKIT_TEST_PKI/leaf.pem\" other.pem && "
	                     "cp \"$CERTKIT_TEST_PKI/int-ca.pem\" oi.pem"),
	    0);
	round_trip("other.pem", "oi.pem", lookup);
	assert_int_equal(lookups, 0);
	assert_int_equal(run_in(dir,
	                     "grep -q 'Responder Error: unauthorized' "
	                     "check.out"),
	    0);
}

static int
status_of(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	OCSP_RESPONSE *r = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	int st;

	assert_non_null(r);
	st = OCSP_response_status(r);
	OCSP_RESPONSE_free(r);
	return st;
}

static void
test_ocsp_errors(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	uint8_t *req, *resp = NULL;
	size_t len, rlen;

	(void)state;
	assert_int_equal(
	    ck_ca_ocsp_respond(ctx, ca, (const uint8_t *)"\x30\x03", 2, lookup,
	        NULL, 0, &resp, &rlen),
	    CK_OK);
	assert_int_equal(
	    status_of(resp, rlen), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	free(resp);
	assert_int_equal(run_in(dir,
	                     "openssl ocsp -issuer ca/ca.pem -cert good.pem "
	                     "-reqout req.der >/dev/null 2>&1"),
	    0);
	req = slurp("req.der", &len);
	assert_int_equal(ck_ca_ocsp_respond(ctx, ca, req, len, lookup_fails,
	                     NULL, 0, &resp, &rlen),
	    CK_OK);
	assert_int_equal(
	    status_of(resp, rlen), OCSP_RESPONSE_STATUS_INTERNALERROR);
	free(resp);
	/* trailing bytes after the request: malformed */
	req[len] = 0;
	assert_int_equal(ck_ca_ocsp_respond(ctx, ca, req, len + 1, lookup, NULL,
	                     0, &resp, &rlen),
	    CK_OK);
	assert_int_equal(
	    status_of(resp, rlen), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	free(resp);
	free(req);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ocsp_good),
	    cmocka_unit_test(test_ocsp_revoked),
	    cmocka_unit_test(test_ocsp_unknown),
	    cmocka_unit_test(test_ocsp_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
