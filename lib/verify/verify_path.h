/*
 * verify_path.h: path building that tries alternatives (verify_path.c).
 *
 * OpenSSL builds ONE chain: at each step it takes the first issuer that
 * fits (the trust store first, then the untrusted certificates in order)
 * and never goes back on it. A chain that fails on something another
 * issuer of the same name and key would avoid (an expired cross-signing
 * root, an intermediate's name constraints, a path length, a weak or
 * revoked intermediate) is refused even when a valid chain exists: the
 * DST Root CA X3 / ISRG Root X1 cross-sign. RFC 4158 (path building) says
 * to try the other candidates; Chrome, Go, rustls/webpki and Java do.
 *
 * Contract:
 *  1. The verdict stays an OpenSSL run with certkit's parameters: each
 *     candidate path is verified by the caller's verifier (verify.c:
 *     setup_xsc and X509_verify_cert) with an untrusted set holding only
 *     that path's intermediates. Nothing here decides alone.
 *  2. Bounded: at most CKI_PATH_MAX paths verified, CKI_PATH_STEPS issuer
 *     candidates looked at and CKI_PATH_LEN certificates in a path, so a
 *     mesh of cross-signs costs a bounded time.
 *  3. Only when pass 1 failed on an error another issuer could avoid
 *     (cki_path_worth_trying); a valid chain never pays for this.
 *
 * Callers: cki_verify_chain() (ck_verify: certkit verify) and
 * cki_verify_search() (verify_int.h: the doctor, the identity install),
 * both in verify.c; the verifier they hand in is cki_verify_run(), which
 * never searches.
 */
#ifndef CERTKIT_VERIFY_PATH_H
#define CERTKIT_VERIFY_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "verify_int.h"

#define CKI_PATH_MAX 64     /* candidate paths verified, at most */
#define CKI_PATH_STEPS 4096 /* issuer candidates looked at, at most */
#define CKI_PATH_LEN 32     /* certificates in one path, the leaf included */

struct cki_path_choice {
	STACK_OF(X509) * untrusted; /* the passing path's intermediates,
	                               leaf's issuer first (certificates
	                               borrowed from the search's input);
	                               NULL: none passed */
	size_t tried;               /* candidate paths verified */
	bool bounded;               /* stopped at a bound, not exhausted */
};

/* True for pass 1's first error `err` at `depth` when another issuer could
 * avoid it. */
bool cki_path_worth_trying(int err, int depth);

/*
 * Verifies `leaf` with `untrusted` (a candidate path's intermediates) as
 * the untrusted set: *ok set when OpenSSL says valid. The caller's
 * verifier (verify.c), so that this file calls none of it (no file cycle).
 */
typedef ck_status cki_path_verify_fn(
    void *arg, STACK_OF(X509) * untrusted, bool *ok);

/*
 * Enumerates the candidate paths from `leaf` to an anchor, depth first:
 * issuers by subject name and key identifiers (X509_check_issued), from
 * `anchors` (each ends a path) and `untrusted`, at most `max_depth`
 * intermediates (< 0: no limit but CKI_PATH_LEN); verifies each with `fn`
 * until one passes. CK_OK with *out filled (free it with
 * cki_path_choice_clear), or `fn`'s error status. `ctx` may be NULL
 * (errors are then only returned).
 */
ck_status cki_path_search(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, int max_depth, cki_path_verify_fn *fn,
    void *arg, struct cki_path_choice *out);
void cki_path_choice_clear(struct cki_path_choice *c);

/*
 * The info finding "alternate_path" for a verdict reached on another path:
 * evidence "path" (the chain's SHA-256 digests, leaf first), "paths_tried"
 * and "first_failure" (the code and depth of pass 1's error). NULL when
 * out of memory.
 */
json_t *cki_path_finding(const struct cki_path_choice *c,
    STACK_OF(X509) * chain, const char *first_code, int first_depth);

#endif /* CERTKIT_VERIFY_PATH_H */
