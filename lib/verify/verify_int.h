/*
 * verify_int.h: the verifier's internal entry point, for the modules above
 * it (the doctor, the identity) that already hold OpenSSL objects.
 *
 * cki_verify_chain() runs OpenSSL's path validation (RFC 5280 section 6.1)
 * on `leaf` and explains the result. It is what ck_verify() calls after
 * turning a bundle and a ck_verify_opts into OpenSSL objects.
 *
 * Contract:
 *  1. The verdict (*valid) comes from ONE strict X509_verify_cert() run whose
 *     verify callback never changes OpenSSL's decision. Only when that run
 *     fails is a second, diagnostic run made, with a callback that records
 *     every error and carries on; its result never touches *valid.
 *  2. `anchors` is borrowed and never modified. Whatever verify callback or
 *     flags it carries are overridden: certkit sets its own callback, clears
 *     the flags that weaken checks (IGNORE_CRITICAL, NO_CHECK_TIME,
 *     ALLOW_PROXY_CERTS, and PARTIAL_CHAIN unless p->partial_chain), and
 *     sets the time, the name, the purpose, security level 2 at least
 *     (112 bits: RSA >= 2048, no SHA-1/MD5 signatures) and CRL checking
 *     itself. A store that replaces one of OpenSSL's verification steps
 *     (X509_STORE_set_verify, set_check_issued, set_get_crl, ...) is
 *     refused with CK_E_USAGE: those cannot be reset to OpenSSL's own.
 *  3. `untrusted` and p->crls are borrowed. Any non-empty p->crls turns on
 *     CRL checking for the whole chain (X509_V_FLAG_CRL_CHECK |
 *     X509_V_FLAG_CRL_CHECK_ALL): a certificate whose issuer has no CRL
 *     there is reported as crl_missing.
 *  4. A verdict, valid or not, returns CK_OK with *report set (the caller
 *     json_decref()s it; schema "verify" in docs/json.md). An
 *     error status (bad parameter, out of memory, OpenSSL failing
 *     internally) sets no report and *valid = 0.
 *
 * Typical use (the doctor, after a handshake):
 *
 *     struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
 *     p.host = "nvr.example.test";
 *     st = cki_verify_chain(ctx, store, peer_leaf, peer_chain, &p,
 *         &report, &valid);
 */
#ifndef CERTKIT_VERIFY_INT_H
#define CERTKIT_VERIFY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "ck_internal.h"

struct cki_verify_params {
	int64_t time;     /* seconds since the epoch; 0: the ctx's
	                     time (ck_ctx_set_time), else the clock */
	const char *host; /* DNS name to match; at most one of */
	const char *ip;   /* host, ip and email may be set */
	const char *email;
	ck_purpose purpose;        /* SERVER (the default), CLIENT or ANY */
	STACK_OF(X509_CRL) * crls; /* borrowed; non-empty: check revocation */
	int max_depth;             /* most intermediates allowed; < 0: OpenSSL's
	                              default (100) */
	bool partial_chain;        /* every certificate in `anchors` is an
	                              anchor, self-signed or not */
	const char *anchor_source; /* words for messages and the report, e.g.
	                              "the system store"; NULL: "the trust
	                              anchors" */
	struct cki_verify_cache *cache; /* NULL, or a cache to share between
	                             calls (bulk verification) */
};

#define CKI_VERIFY_PARAMS_INIT                                                 \
	{                                                                      \
		0, NULL, NULL, NULL, CK_PURPOSE_SERVER, NULL, -1, false, NULL, \
		    NULL                                                       \
	}

/*
 * The report fields (names, dates, digests) of the last few CA
 * certificates seen: verifying many leaves under the same intermediates
 * computes them once. Optional; safe to share between threads.
 */
#define CKI_VERIFY_CACHE_SLOTS 8
struct cki_verify_cache {
	CRYPTO_RWLOCK *lock;
	struct {
		X509 *x; /* a reference is held */
		json_t *fields;
	} slot[CKI_VERIFY_CACHE_SLOTS];
	unsigned int next;
};
struct cki_verify_cache *cki_verify_cache_new(void);
void cki_verify_cache_free(struct cki_verify_cache *c);

/*
 * The one input error for a trust store that yields no certificate, be it
 * verify's --roots or the doctor's --trust: an empty file (dir false), an
 * empty directory or one whose `files` regular files hold none. CK_E_FORMAT
 * (exit 2).
 */
ck_status cki_no_anchors(ck_ctx *ctx, const char *path, bool dir, size_t files);

/*
 * Verifies `leaf` against `anchors`, building the chain from `untrusted`
 * (may be NULL) and the anchors. See the contract above.
 */
ck_status cki_verify_chain(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p,
    json_t **report, int *valid);

/*
 * The stable finding code for an X509_V_ERR_* value, as cki_verify_chain
 * reports it ("cert_expired", ...). Codes whose meaning depends on the
 * chain (an issuer that cannot be found) give their default here:
 * "incomplete_chain". Never NULL; unknown values give "malformed".
 */
const char *cki_verify_code(int x509_v_err);

#endif /* CERTKIT_VERIFY_INT_H */
