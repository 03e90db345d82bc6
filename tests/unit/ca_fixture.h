/*
 * ca_fixture.h: a CA of lib/ca in a temporary directory, for the unit
 * tests of the ca module (test_ca_crl.c, test_ca_ocsp.c, test_ca_show.c;
 * compiled into test_ca_* only, tests/CMakeLists.txt).
 */
#ifndef CERTKIT_CA_FIXTURE_H
#define CERTKIT_CA_FIXTURE_H

#include <stddef.h>

#include "certkit/ca.h"

/* Makes the directory /tmp/certkit-TAG.XXXXXX into dir (dlen bytes) and a
 * CA named NAME in dir/ca (ck_ca_init); opened into *ca unless ca is NULL.
 * 0, or -1 on any failure (a cmocka setup's answer). */
int cafix_new(
    char *dir, size_t dlen, const char *tag, const char *name, ck_ca **ca);
/* Frees ca (may be NULL) and removes dir; 0 or -1 (a cmocka teardown's). */
int cafix_free(const char *dir, ck_ca *ca);
/* Issues a client certificate for NAME, of a new P-256 key, by ca into
 * dir/NAME.pem (PEM); its serial into serial unless NULL. Asserts. */
void cafix_issue(ck_ctx *ctx, const ck_ca *ca, const char *dir,
    const char *name, char serial[33]);

#endif
