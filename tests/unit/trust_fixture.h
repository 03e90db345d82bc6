/*
 * trust_fixture.h: a trust store (lib/trust) in a temporary home, for
 * test_trust.c and test_trust_build.c (compiled into those only,
 * tests/CMakeLists.txt).
 */
#ifndef CERTKIT_TRUST_FIXTURE_H
#define CERTKIT_TRUST_FIXTURE_H

#include "certkit/trust.h"

struct fx {
	char home[256]; /* /tmp/certkit-test-trust.XXXXXX, removed after */
	char sys[300];  /* home/system.pem: the system bundle */
	ck_ctx *ctx;    /* time pinned to PINNED_TIME */
	ck_trust *t;    /* the store of home */
};

/* cmocka setup: *state a struct fx whose system bundle holds the test
 * PKI's root-ca.pem and other-root.pem; CERTKIT_FAULT unset. Asserts. */
int trustfix_setup(void **state);
/* cmocka teardown: frees it, removes home, unsets CERTKIT_FAULT. */
int trustfix_teardown(void **state);

#endif
