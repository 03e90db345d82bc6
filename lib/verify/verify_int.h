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
 *     Under p->policy == CK_POLICY_STRICT the verdict also needs no rule
 *     of verify_rules.c broken on the chain that run built: the rules read
 *     the chain, they never change what OpenSSL decided. RFC 5280 4.1.2.5
 *     (notAfter inclusive): when the run at t failed only because t is a
 *     certificate's notAfter second, the verdict is the run at t - 1.
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
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "ck_internal.h"

/*
 * The settings every verification of certkit states here, once:
 *
 * CKI_VERIFY_SECURITY_LEVEL: OpenSSL's security level 2, 112-bit security
 * (SP 800-131A): RSA/DSA/DH keys >= 2048 bits, EC >= 224, no SHA-1 or MD5
 * signatures below the anchor. ck_verify() and the identity install use it;
 * a higher level the store asks for stays.
 *
 * CKI_VERIFY_SECURITY_LEVEL_NONE: no level: OpenSSL then reports no key or
 * digest as too weak. The doctor uses it: it reports weak keys and
 * signatures itself (weak_key with the key's bits, weak_signature only
 * below a trust anchor), and a level in its path validation would make a
 * weak chain "not valid" and change which root cause it gives first
 * (tls_interception's warning form needs a valid chain).
 *
 * CKI_VERIFY_PEER_DEPTH: the most intermediates the doctor accepts in a
 * chain a server sends (10: no real server chain comes close; a longer one
 * is reported, not followed). ck_verify() takes its depth from the caller
 * (--max-depth), else OpenSSL's default, CKI_VERIFY_DEFAULT_DEPTH.
 */
#define CKI_VERIFY_SECURITY_LEVEL 2
#define CKI_VERIFY_SECURITY_LEVEL_NONE (-1)
#define CKI_VERIFY_PEER_DEPTH 10
#define CKI_VERIFY_DEFAULT_DEPTH 100

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
	int security_level; /* CKI_VERIFY_SECURITY_LEVEL (the default) or
	                       CKI_VERIFY_SECURITY_LEVEL_NONE (the doctor) */
	ck_policy policy; /* COMPAT (the default) or STRICT (verify_rules.c) */
};

#define CKI_VERIFY_PARAMS_INIT                                                 \
	{                                                                      \
		0, NULL, NULL, NULL, CK_PURPOSE_SERVER, NULL, -1, false, NULL, \
		    NULL, CKI_VERIFY_SECURITY_LEVEL, CK_POLICY_COMPAT          \
	}

/*
 * The report fields (names, dates, digests) of the last few CA
 * certificates seen, and their chain entries: verifying many leaves under
 * the same intermediates computes them once. Optional; safe to share
 * between threads. A report made with a cache shares the CA certificates'
 * chain entries and its "parameters" (reference counts) with the cache and
 * other reports: read it, never modify it.
 */
#define CKI_VERIFY_CACHE_SLOTS 8
struct cki_verify_cache {
	CRYPTO_RWLOCK *lock;
	struct {
		X509 *x; /* a reference is held */
		json_t *fields;
		json_t *entry; /* NULL, or its entry at depth, anchor */
		int depth;
		bool anchor;
	} slot[CKI_VERIFY_CACHE_SLOTS];
	unsigned int next;
	/* CA certificates that break no rule of verify_rules.c at their
	 * place (root or not), checked once per bulk run. */
	struct {
		X509 *x; /* a reference is held */
		bool root;
	} clean[CKI_VERIFY_CACHE_SLOTS];
	unsigned int next_clean;
	/* The report's "parameters" object of the last call (shared like
	 * the entries), and the inputs it was made from. */
	struct {
		json_t *json; /* NULL: none yet */
		time_t t;
		char *host, *ip, *email, *anchors; /* copies; NULL as given */
		int purpose, max_depth, security_level, policy;
		bool crl_check, partial_chain;
	} params;
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
 * One error OpenSSL met: its X509_V_ERR_* value, the depth and certificate
 * it is about (up-referenced; the chain's certificate at that depth when
 * OpenSSL names none) and, for an error about a CRL, that CRL.
 */
struct cki_verify_err {
	int err;
	int depth;
	X509 *cert;
	X509_CRL *crl;
};

/* What one path validation found (cki_verify_run). */
struct cki_verify_result {
	bool ok;                    /* valid: X509_verify_cert() said 1 and no
	                               error was met */
	struct cki_verify_err *err; /* the errors, in the order met */
	size_t nerr;
	STACK_OF(X509) * chain; /* the chain as built, leaf first; may be
	                           NULL */
	json_t *rules;          /* under CK_POLICY_STRICT, the findings of
	                           verify_rules.c (any makes ok false); empty under
	                           COMPAT; never NULL on CK_OK */
	json_t *alternate;      /* cki_verify_search() only: the info finding
	                           "alternate_path" (verify_path.h:
	                           cki_path_finding) when the result is
	                           another path's than OpenSSL's first; else
	                           NULL */
};

/*
 * The verifier without the explanations, for the modules that classify
 * the errors themselves (the doctor) or need only the first (the
 * identity install). The same checks as cki_verify_chain() (contract 2,
 * the same X509_STORE_CTX set-up), in one run: with every_error, every
 * error is recorded and OpenSSL carries on, so the built chain is as long
 * as it can be and the result is a diagnosis, not a verdict (contract 1);
 * without it, the run stops at the first error, which is the reason.
 * `ctx` may be NULL (the doctor's diagnosis is pure): errors are then only
 * returned. CK_OK or an error status (nothing to free then); on CK_OK free
 * *out with cki_verify_result_clear().
 */
ck_status cki_verify_run(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p,
    bool every_error, struct cki_verify_result *out);
void cki_verify_result_clear(struct cki_verify_result *r);

/*
 * cki_verify_run() with the path building that tries alternatives
 * (verify_path.h), for the doctor and the identity install, as
 * cki_verify_chain() does it for verify: one cki_verify_run() as asked;
 * when it fails and its first error is one another issuer could avoid
 * (cki_path_worth_trying), the candidate paths through `anchors` and
 * `untrusted` are each verified by a cki_verify_run() that never searches
 * (every_error false, the same parameters at the same time), at most
 * CKI_PATH_MAX of them. When one passes, cki_verify_run() is made again,
 * as asked, with that path's intermediates as the untrusted set: that
 * run is *out, with out->alternate set. Otherwise *out is the first
 * run's, as without the search. Under CK_POLICY_STRICT a path passes
 * only with no rule broken. Same status and ownership as
 * cki_verify_run().
 */
ck_status cki_verify_search(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p,
    bool every_error, struct cki_verify_result *out);

/*
 * The stable finding code for an X509_V_ERR_* value, as cki_verify_chain
 * reports it ("cert_expired", ...). Codes whose meaning depends on the
 * chain (an issuer that cannot be found) give their default here:
 * "incomplete_chain". Never NULL; unknown values give "malformed".
 */
const char *cki_verify_code(int x509_v_err);

/*
 * verify_rules.c: the RFC 5280 and CA/B Forum BR rules OpenSSL leaves
 * unchecked. Checks `chain` (leaf first, as built) and p->crls, and appends
 * one finding (schema "verify") per rule broken to `findings`: an error
 * under p->policy == CK_POLICY_STRICT, the code's warning form under
 * COMPAT. *broken: how many were appended. An error status only for what
 * is not a finding: out of memory, or the public suffix list missing when
 * a wildcard name needs it (CK_E_NOTFOUND naming the file).
 */
ck_status cki_verify_rules(ck_ctx *ctx, STACK_OF(X509) * chain,
    const struct cki_verify_params *p, json_t *findings, size_t *broken);

/* Is the DNS name (len bytes) a public suffix ("com", "co.uk")? From
 * $CERTKIT_PUBLIC_SUFFIX_LIST, else Debian's publicsuffix package; its
 * absence is CK_E_NOTFOUND, never a silent "no". */
ck_status cki_public_suffix(
    ck_ctx *ctx, const char *name, size_t len, bool *out);

/*
 * RFC 5280 4.1.2.5 counts notAfter as valid; OpenSSL 3.0 counts it as
 * expired. True when a run at time t failed only for that: its error is
 * X509_V_ERR_CERT_HAS_EXPIRED on `cert`, whose notAfter is exactly t. The
 * verdict then comes from a run at t - 1 (cki_verify_chain).
 */
bool cki_verify_at_not_after(int err, X509 *cert, time_t t);

#endif /* CERTKIT_VERIFY_INT_H */
