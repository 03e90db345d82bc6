/*
 * authz_int.h: who may do what on `certkit serve` (authz.c, authz_cache.c,
 * authz_verify.c). The networking (server*.c) asks; this module decides,
 * from the registry (registry_int.h), the client_ca store and revocation
 * (revocation_int.h).
 *
 * The decision for a request, re-made on every request (a resumed session
 * carries the old handshake, not the current registry):
 *
 *   no certificate ───────────────────────────► 401 client_cert_required
 *   SPKI in the cache:
 *     approved ──(CA-verified? revocation)──► 200, or 403 certificate_revoked
 *     pending / conflict ───────────────────► 202 pending_approval
 *     rejected / suspended / revoked ───────► 403 client_rejected |
 *                                             client_suspended | client_revoked
 *   unknown SPKI, by client_policy:
 *     chain verifies to client_ca (trusted-ca, trusted-ca+pairing)
 *        ──(revocation good)──► approved by "trusted-ca" ─► 200
 *     otherwise, pairing or trusted-ca+pairing ─► pending ─► 202
 *     otherwise, trusted-ca ──────────────────► 403 issuer_not_trusted
 *   registry unwritable (locked, down) for a new client ─► 503 + Retry-After
 *   max_pending reached ──────────────────────► 503 pending_limit
 *
 * Invariants:
 *  1. Approved clients are decided from memory: a locked or unreachable
 *     registry never refuses one (fail-static), and no request waits on a
 *     registry write (first contacts go through a writer thread).
 *  2. The cache follows the registry within 1 s: the change token is polled
 *     every 250 ms and the changed rows are re-read. A client that leaves
 *     `approved` (or is removed) is passed to the close callback, so its live
 *     connections are closed. A certificate newly revoked (a CRL reload,
 *     the own CA's new CRL, an OCSP answer) goes to the revoked callback
 *     within one poll, so its live connections are closed too.
 *  3. Presence (heartbeats, last_seen) is kept in memory and flushed to the
 *     registry in one batch a second; a heartbeat never waits on a write.
 *  4. A certificate's chain verification against client_ca is cached by the
 *     certificate's SHA-256 and dropped on any change of client_ca, the CRLs
 *     (cki_revo_generation()) or a reload.
 */
#ifndef CERTKIT_AUTHZ_INT_H
#define CERTKIT_AUTHZ_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "registry_int.h"
#include "server_conf.h"

struct event_base;

/* The result of verifying a client's chain against client_ca, shared
 * (refcounted) between the cache and the connections using it. */
struct cki_vresult {
	int refs;
	int error; /* X509_V_OK, or X509_V_ERR_* */
	int error_depth;
	char rule[96];          /* verify_policy = strict: the first rule broken
	                           ("ca_no_ski, RFC 5280 4.2.1.2"; error is then
	                           X509_V_ERR_UNSPECIFIED); else "" */
	STACK_OF(X509) * chain; /* leaf .. anchor when error == X509_V_OK */
	char spki[65];          /* the leaf's */
	char cert_sha256[65];
	uint64_t generation; /* the cache generation it belongs to */
};
void cki_vresult_free(struct cki_vresult *r); /* drops one reference */

/* What the server knows of the peer when a request arrives. */
struct cki_peer {
	X509 *leaf;             /* NULL: no certificate sent */
	struct cki_vresult *vr; /* borrowed; NULL if none */
	const char *addr;       /* "192.0.2.1:50000", for the log */
};

struct cki_decision {
	int status;       /* 200, 202, 401, 403, 503 */
	const char *type; /* problem type (docs/json.md), NULL on 200 */
	char title[96];   /* "pending approval", ... */
	char detail[256]; /* one line, the reason */
	long retry_after; /* seconds, 0: none */
	char client_id[CKI_REG_ID_LEN + 1];
	char spki[65];
	enum cki_reg_state state; /* when known */
	bool known;
};

typedef struct cki_authz cki_authz;
typedef struct cki_authz_req cki_authz_req;

/* Opens the registry (short busy timeout), loads every client into memory,
 * builds the client_ca store and the revocation checker, and arms its
 * timers on `base`. */
ck_status cki_authz_new(ck_ctx *ctx, const struct cki_server_conf *conf,
    struct event_base *base, cki_authz **out);
/* Flushes presence, then frees. */
void cki_authz_free(cki_authz *a);
/* SIGHUP: takes the new configuration (policy, client_ca, CRLs, OCSP,
 * limits). On error the old one stays and the message is on ctx. */
ck_status cki_authz_reload(cki_authz *a, const struct cki_server_conf *conf);

/* The handshake's certificate check (SSL_CTX_set_cert_verify_callback):
 * verifies leaf + untrusted against client_ca, or takes the cached result.
 * Never fails the handshake: a client without a trusted chain may still be
 * paired. Returns a new reference, or NULL when out of memory. On a resumed
 * session (no chain), pass untrusted = NULL: the cached result is used when
 * there is one. */
struct cki_vresult *cki_authz_verify(
    cki_authz *a, X509 *leaf, STACK_OF(X509) * untrusted);

/* Decides a request. Returns 1 when *d is filled now; 0 when `done` will be
 * called from the loop (an OCSP answer pending, or a new client's first
 * contact being written by the writer thread, authz_writer.c), with *req
 * its handle for cki_authz_cancel(); -1 when out of memory. A known client
 * is always answered now unless OCSP must be asked. Without an event_base
 * (cki_authz_new(.., NULL, ..): tests) first contacts are written inline.
 * cki_authz_free() drops the requests still waiting without `done`. */
typedef void (*cki_authz_done)(void *arg, const struct cki_decision *d);
int cki_authz_decide(cki_authz *a, const struct cki_peer *p,
    cki_authz_done done, void *arg, struct cki_decision *d,
    cki_authz_req **req);
void cki_authz_cancel(cki_authz_req *req);

/* An approved client's heartbeat: memory only (flushed in batches). */
void cki_authz_heartbeat(cki_authz *a, const char *spki,
    const char *agent_version, const char *facts_json);

/* The server's own CA and its current CRL (DER) for the revocation
 * checker (cki_revo_set_own()); a new CRL drops the cached decisions at
 * once. A damaged CRL is ignored: the last good one stays. */
void cki_authz_set_own_ca(
    cki_authz *a, X509 *ca, const uint8_t *der, size_t len);

/* Called with the SPKI of each client that stopped being approved. */
typedef void (*cki_authz_close_fn)(void *arg, const char *spki);
void cki_authz_set_close_cb(cki_authz *a, cki_authz_close_fn fn, void *arg);

/* Called when certificates were newly revoked (cki_revo_news(): a CRL
 * reloaded or fed anew listing new entries, an OCSP responder answering
 * "revoked"), from the poll (every 250 ms) or cki_authz_set_own_ca(): the
 * server passes each live connection's verification result to
 * cki_authz_revoked() and ends those it names. A CRL that revokes nothing
 * new calls nothing. */
typedef void (*cki_authz_revoked_fn)(void *arg);
void cki_authz_set_revoked_cb(cki_authz *a, cki_authz_revoked_fn fn, void *arg);
/* Inside that callback: true, with the reason in why ("certificate
 * revoked (CRL, keyCompromise)"), when vr's verified chain holds a newly
 * revoked certificate. A lookup of its serials; a hit is confirmed as a
 * request's check would (the CRL's signature), nothing is asked. */
bool cki_authz_revoked(
    cki_authz *a, const struct cki_vresult *vr, char *why, size_t size);

/* Called once when the registry becomes unreachable (up false, with the
 * error) and once when it answers again (up true, error NULL), so the
 * server logs an outage once and its end once. */
typedef void (*cki_authz_health_fn)(void *arg, bool up, const char *error);
void cki_authz_set_health_cb(cki_authz *a, cki_authz_health_fn fn, void *arg);

/* The caller's own registry view for GET /api/v1/status: a JSON object
 * (docs/json.md, "status"), new reference. */
json_t *cki_authz_status_json(cki_authz *a, const struct cki_decision *d);
/* Counters and warnings for the log and --check-config. */
json_t *cki_authz_info(cki_authz *a);

#endif /* CERTKIT_AUTHZ_INT_H */
