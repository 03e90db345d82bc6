/*
 * revocation_int.h: revocation of client certificates for `certkit serve`
 * (revocation.c: the CRL set; ocsp_client.c: the OCSP checker).
 *
 * The server hands over the verified chain of a client (leaf first, up to
 * and including the trust anchor) and gets one verdict for the whole chain:
 * every certificate but the anchor is checked, not only the leaf.
 *
 *   CRLs (crl = FILE...): loaded at start, re-read when a file changes
 *   (size, mtime or inode; checked at most once a second), without a
 *   restart. A CRL past its nextUpdate is still used and is reported as a
 *   warning (cki_revo_warnings()), never a silent refusal of every client.
 *   A file that became unreadable or damaged keeps the last good copy, with
 *   a warning.
 *
 *   OCSP (ocsp = off | soft-fail | hard-fail; ocsp_responder = URL overrides
 *   the AIA): asynchronous on the server's event loop (evhttp POST,
 *   RFC 6960 Appendix A), with a nonce (RFC 8954); a response without the
 *   nonce is accepted only when the responder never echoes one. Responses
 *   are cached per certificate until their nextUpdate (or 1 hour when they
 *   carry none). Under soft-fail an unreachable responder accepts with a
 *   warning; under hard-fail it refuses. libevent writes the request with
 *   writev(2), which raises SIGPIPE on a responder that closed early: the
 *   server ignores SIGPIPE (the doctor blocks it around its loop).
 *
 * Invariants:
 *  1. A check never blocks the event loop: cki_revo_check() answers at once
 *     from the CRLs and the cache, or later through `done`.
 *  2. A revoked certificate in a CRL is revoked whatever OCSP says.
 *  3. Every verdict names its source and, when revoked, the reason
 *     ("certificate revoked (OCSP, keyCompromise)").
 *  4. cki_revo_generation() changes when a CRL is reloaded (or the own
 *     CA's CRL is fed anew, cki_revo_set_own()), so the server
 *     drops the decisions it cached from the old one. Generations are
 *     unique in the process: a new checker (SIGHUP) never repeats one.
 *  5. What a reload or an OCSP answer newly revokes is kept as news
 *     (cki_revo_news_match()) until the server has looked up its live
 *     connections in it, so those of a revoked certificate are closed;
 *     a CRL that revokes nothing new costs no lookup.
 */
#ifndef CERTKIT_REVOCATION_INT_H
#define CERTKIT_REVOCATION_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "server_conf.h"

struct event_base;

enum cki_revo_result {
	CKI_REVO_GOOD = 0,    /* every certificate checked and good, or no
	                         check configured */
	CKI_REVO_REVOKED,     /* one is revoked */
	CKI_REVO_UNKNOWN,     /* hard-fail: no usable answer */
	CKI_REVO_SOFT_FAILED, /* soft-fail: no usable answer, accepted */
};

struct cki_revo_verdict {
	enum cki_revo_result result;
	int depth;           /* the certificate concerned (0 = leaf), or -1 */
	const char *source;  /* "crl", "ocsp", or NULL */
	int reason;          /* CRL reason code (RFC 5280 5.3.1), -1 if none */
	char detail[256];    /* one line: "certificate revoked (OCSP,
	                        keyCompromise)", "OCSP responder
	                        http://... unreachable: ..." */
	int64_t valid_until; /* the verdict may be reused until then */
};

typedef struct cki_revo cki_revo;
typedef struct cki_revo_req cki_revo_req;

/* Loads the CRL files and sets up OCSP from conf. An unreadable CRL at
 * start is an error naming the file. */
ck_status cki_revo_new(ck_ctx *ctx, const struct cki_server_conf *conf,
    struct event_base *base, cki_revo **out);
void cki_revo_free(cki_revo *rv);

/* Re-reads changed CRL files (at most once a second; cki_revo_check()
 * calls it too); true if any was reloaded. cki_revo_reload() looks at the
 * files now, whenever it was last done (SIGHUP, tests). */
bool cki_revo_refresh(cki_revo *rv);
bool cki_revo_reload(cki_revo *rv);
/* The whole time an OCSP request may take (default 5000 ms). */
void cki_revo_set_ocsp_timeout(cki_revo *rv, int ms);
/* Requests sent to responders so far (tests: the cache avoids one). */
uint64_t cki_revo_ocsp_requests(const cki_revo *rv);
uint64_t cki_revo_generation(const cki_revo *rv);

/* Checks chain (leaf first; the last one is the anchor and is not checked).
 * Returns 1 and fills *v when the answer is known now (CRL, cache, OCSP
 * off); returns 0 when `done` will be called later (then *req is the
 * handle, which cki_revo_cancel() drops before `done` runs); -1 when out of
 * memory. The chain is copied (up_ref) as needed. */
/* `done` runs from the event loop, never inside cki_revo_check(); it must
 * not call cki_revo_free() (other checks may be answered by the same
 * OCSP response after it). */
typedef void (*cki_revo_done)(void *arg, const struct cki_revo_verdict *v);
int cki_revo_check(cki_revo *rv, STACK_OF(X509) * chain, int64_t now,
    cki_revo_done done, void *arg, struct cki_revo_verdict *v,
    cki_revo_req **req);
void cki_revo_cancel(cki_revo_req *req);

/* The server's own CA (HOME/ca): ca is its issuing certificate, der its
 * current CRL (built from the registry, enroll_revo.c). Certificates that
 * CA issued are answered from that CRL, the CA itself is good, and neither
 * is asked over OCSP (what it issues names public_url's https:// OCSP URL,
 * which this checker does not ask). Fed again when the revoked set
 * changes: a CRL that differs changes the generation; the same bytes are
 * a no-op. A damaged CRL keeps the last one (error on the checker's own
 * context). ca is up-referenced. */
ck_status cki_revo_set_own(
    cki_revo *rv, X509 *ca, const uint8_t *der, size_t len);
/* A reload's new checker takes the old one's own CA and CRL. */
void cki_revo_take_own(cki_revo *dst, cki_revo *src);

/* The news: certificates revoked since cki_revo_news_clear(), by a CRL
 * reloaded or fed anew (the entries its last copy lacked) or by an OCSP
 * responder's fresh answer. A CRL that revokes nothing new makes none.
 * cki_revo_news() counts them; cki_revo_news_match() is true, with *v,
 * when a certificate of chain (leaf .. anchor, the anchor not checked) is
 * among them and revoked: a lookup of its serial, then for a CRL's the
 * same check as cki_revo_check()'s (the CRL's signature by the issuer in
 * chain). Never asks a responder. */
size_t cki_revo_news(const cki_revo *rv);
bool cki_revo_news_match(
    cki_revo *rv, STACK_OF(X509) * chain, struct cki_revo_verdict *v);
void cki_revo_news_clear(cki_revo *rv);
/* A reload's new checker: what its CRL files list that none of old's
 * did becomes its news (a `crl =` file added by SIGHUP). */
void cki_revo_news_since(cki_revo *rv, const cki_revo *old);

/* Warnings to show in the log and in `certkit clients`: a CRL past its
 * nextUpdate, a CRL that failed to reload, a responder that stopped
 * answering. An array of finding objects (cki_finding_new()), new
 * reference. */
json_t *cki_revo_warnings(cki_revo *rv, int64_t now);

/* The same CRL warnings without a running server: reads conf's CRL files
 * once (for `certkit clients list` and `serve --check-config`). An array
 * of findings, new reference; NULL when out of memory. */
json_t *cki_revo_conf_warnings(
    ck_ctx *ctx, const struct cki_server_conf *conf, int64_t now);

/* ---- ocsp_client.c: the OCSP half, used by revocation.c only ---------- */

/*
 * One certificate's OCSP status from its issuer, RFC 6960. A fetch per
 * certificate at a time (later askers wait on it); answers cached by the
 * certificate's SHA-256 until nextUpdate (1 hour without one, CKI_OCSP_
 * MAX_CACHE entries). A responder that failed is not asked again for
 * CKI_OCSP_BACKOFF seconds (each check fails at once meanwhile), so a dead
 * responder under a flood costs one connection, not one per client.
 */
#define CKI_OCSP_MAX_BODY (64 * 1024)
#define CKI_OCSP_MAX_CACHE 65536
#define CKI_OCSP_BACKOFF 10
#define CKI_OCSP_SKEW 300 /* seconds allowed on thisUpdate/nextUpdate */

enum cki_ocsp_status {
	CKI_OCSP_GOOD = 0,
	CKI_OCSP_REVOKED,
	CKI_OCSP_NOANSWER, /* unreachable, unusable, unknown, no URL */
};

struct cki_ocsp_answer {
	enum cki_ocsp_status status;
	int reason;          /* when revoked, -1 if not given */
	int64_t valid_until; /* cache it until then */
	char detail[200];    /* why NOANSWER, or the responder */
};

typedef struct cki_ocsp cki_ocsp;
typedef struct cki_ocsp_wait cki_ocsp_wait;
typedef void (*cki_ocsp_done)(void *arg, const struct cki_ocsp_answer *a);

/* base may be NULL only when nothing will be fetched (tests). */
cki_ocsp *cki_ocsp_new(struct event_base *base, const char *responder);
void cki_ocsp_free(cki_ocsp *oc);
void cki_ocsp_set_timeout(cki_ocsp *oc, int ms);
uint64_t cki_ocsp_requests(const cki_ocsp *oc);
/* 1: *a filled now (cache, no URL, backoff); 0: `done` later, *w its handle
 * for cki_ocsp_cancel(); -1: out of memory. */
int cki_ocsp_check(cki_ocsp *oc, X509 *cert, X509 *issuer, int64_t now,
    cki_ocsp_done done, void *arg, struct cki_ocsp_answer *a,
    cki_ocsp_wait **w);
void cki_ocsp_cancel(cki_ocsp_wait *w);
/* Appends an ocsp_unavailable finding per responder whose last answer
 * failed; non-zero when out of memory. */
int cki_ocsp_warnings(cki_ocsp *oc, json_t *arr);

#endif /* CERTKIT_REVOCATION_INT_H */
