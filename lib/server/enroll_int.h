/*
 * enroll_int.h: enrollment on `certkit serve` (issue 11): the EST subset
 * (RFC 7030) and its JSON twin, the CRL and the OCSP responder of the
 * server's own CA (HOME/ca, lib/ca).
 *
 *   enroll.c       the decisions: a CSR in, an answer out (pending,
 *                  issued, refused), renewal, signing outside any registry
 *                  transaction
 *   enroll_http.c  the routes: /.well-known/est/..., /api/v1/enroll,
 *                  /api/v1/requests/ID (docs/json.md, "enroll")
 *   enroll_revo.c  GET /crl (DER, rebuilt when the revoked set changes),
 *                  POST /ocsp (RFC 6960)
 *   enroll_role.c  signers and non-signers on a shared registry: the
 *                  signers' presence, the CA chain a non-signer learns
 *                  from the registry
 *   enroll_signer.c the tick: presence, the jobs "sign" and "crl"; the
 *                  same jobs woken by the registry's notifications
 *
 * A request is tied to its client by the CSR's SPKI; the client's state
 * decides the answer:
 *
 *   unknown SPKI ── token ok ─────────────► approved by "token" ─► issued
 *                ── TLS chain to client_ca, policy trusted-ca[+pairing]
 *                                         ► approved "trusted-ca" ► issued
 *                ── policy allows pairing ► pending ─► 202 Retry-After
 *                ── otherwise ─────────────► 403 issuer_not_trusted
 *   pending ── (certkit clients approve) ──► approved: signed on the next
 *              poll (POST again, or GET /api/v1/requests/ID)
 *   rejected / suspended / revoked ────────► 403 client_<state>
 *
 * Invariants:
 *  1. Signing happens here, in the server process, never inside a registry
 *     transaction; cki_registry_issue() records it (unique serial: sign
 *     again; request issued meanwhile: answer with that certificate).
 *  2. What is issued names only what the admin saw and approved: the
 *     client's name and SANs in the registry (for a new client, those of
 *     its CSR), never more of a later CSR.
 *  3. Without a CA (no HOME/ca, or ca = none) on SQLite every route here
 *     answers 404 not_found. On a shared registry (PostgreSQL) such a
 *     primary is a non-signer: it records requests and serves the stored
 *     CRL; a signer (ca = signer, HOME/ca) signs them (job "sign") and
 *     builds the CRL (job "crl"); with no signer seen lately a non-signer
 *     answers enrollment with 503 no_signer + Retry-After. A renewal on a
 *     non-signer is checked there as on a signer, then queued as a
 *     request (202 pending_signature; asked again, the certificate a
 *     signer issued for it).
 *  4. The registry handle is this module's own (one thread: the loop);
 *     a busy registry is 503 registry_unavailable with Retry-After, never
 *     a wait longer than its short busy timeout.
 */
#ifndef CERTKIT_ENROLL_INT_H
#define CERTKIT_ENROLL_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <openssl/x509.h>

#include "certkit/ca.h"
#include "registry_int.h"
#include "server_conf.h"

struct cki_enroll {
	ck_ctx *ctx;
	const struct cki_server_conf *conf; /* the server's, swapped on HUP */
	ck_ca *ca;                          /* NULL: a non-signer */
	cki_registry *reg;
	/* The CRL served (enroll_revo.c): the registry's stored copy. */
	uint8_t *crl;
	size_t crl_len;
	int64_t crl_read;    /* when it was read from the registry */
	uint64_t crl_token;  /* signer: change token at the last check */
	int64_t crl_checked; /* signer: when the revoked list was checked */
	/* Signers and non-signers (enroll_signer.c). */
	char node[96];          /* "HOST PID" */
	int64_t seen_at;        /* signer: presence written; else: read */
	bool signer_up;         /* non-signer: a signer was seen lately */
	char *chain_pem;        /* non-signer: the signers' CA chain */
	STACK_OF(X509) * chain; /* the same, parsed */
	/* The registry's notifications (enroll_signer.c). */
	struct event_base *base; /* NULL: not watched (the tick only) */
	struct event *ev_note;
	int note_fd;
};
typedef struct cki_enroll cki_enroll;

/* Loads HOME/ca and opens the registry. No CA is not an error: *out is
 * NULL and enrollment is off. conf is borrowed (the server's). */
ck_status cki_enroll_new(
    ck_ctx *ctx, const struct cki_server_conf *conf, cki_enroll **out);
void cki_enroll_free(cki_enroll *e);
/* SIGHUP: HOME/ca is read again by building a whole new cki_enroll with
 * cki_enroll_new() beside the old (a CA created by `certkit ca init`
 * since the start, or replaced). cki_enroll_replace() then frees *cur and
 * puts ne there; cki_enroll_drop() frees one that is not used (the reload
 * failed elsewhere). Neither writes the signer's "stopped" presence: the
 * node is the same process, which a new copy with a CA goes on announcing
 * (one without a CA lets the old copy say so). */
void cki_enroll_replace(cki_enroll **cur, cki_enroll *ne);
void cki_enroll_drop(cki_enroll *e);

/* The answer to an enrollment call. */
struct cki_enroll_res {
	int status;       /* 200, 202, 400, 401, 403, 404, 503 */
	const char *type; /* problem type unless 200 */
	char title[64];
	char detail[256];
	long retry_after;
	char req_id[CKI_REG_ID_LEN + 1];
	char client_id[CKI_REG_ID_LEN + 1];
	char spki[65];
	int state;                /* the client's cki_reg_state, -1: none */
	struct cki_cert_row cert; /* on 200 */
};
void cki_enroll_res_clear(struct cki_enroll_res *r);

/* Each of the three fills *res (garbage before, clear it after).
 * simpleenroll / POST /api/v1/enroll: a CSR (DER or PEM), an optional
 * token, and whether the TLS client chain verified to client_ca. */
void cki_enroll_csr(cki_enroll *e, const uint8_t *csr, size_t len,
    const char *token, bool ca_verified, struct cki_enroll_res *res);
/* GET /api/v1/requests/ID: the request's answer now (signs it if its
 * client was approved meanwhile). */
void cki_enroll_poll(cki_enroll *e, const char *id, struct cki_enroll_res *res);
/* simplereenroll: leaf is the TLS client certificate (NULL: none). */
void cki_enroll_renew(cki_enroll *e, X509 *leaf, const uint8_t *csr, size_t len,
    struct cki_enroll_res *res);

/* enroll_revo.c: the current CRL (rebuilt if the revoked set changed or
 * it is half-way to its nextUpdate); borrowed. */
ck_status cki_enroll_crl(cki_enroll *e, const uint8_t **der, size_t *len);
/* An OCSP response (DER) for a DER request; caller frees with ck_free. */
ck_status cki_enroll_ocsp(cki_enroll *e, const uint8_t *req, size_t len,
    uint8_t **resp, size_t *resp_len);

/* enroll_signer.c. Each second (the server's sweep): a signer records its
 * presence, signs what is approved and waiting (job "sign") and rebuilds
 * the stored CRL (job "crl"); a non-signer reads whether a signer is up.
 * e may be NULL. */
void cki_enroll_tick(cki_enroll *e);
/* Watches the registry's notifications on base (PostgreSQL LISTEN on this
 * module's connection; nothing on SQLite), so that the jobs run when
 * another primary commits: a signer signs a request recorded anywhere, or
 * approved, at once, and rebuilds the CRL at once after a revoke; every
 * primary drops its read copy of the CRL when a new one is stored. The
 * tick stays the fallback (a notification lost on a reconnect) and arms
 * the watch again after one. e may be NULL; cki_enroll_free() ends it. */
void cki_enroll_watch(cki_enroll *e, struct event_base *base);
/* enroll_role.c. After statements on e's registry outside the watch (the
 * routes): a notification they read (and so took from the socket) runs
 * the watch's callback on the next turn of the loop. e may be NULL. */
void cki_enroll_kick(cki_enroll *e);
/* enroll_role.c: a signer's presence written (every 2 s), or a
 * non-signer's view of the signers read. */
void cki_enroll_presence(cki_enroll *e, int64_t now);
/* After the CA is loaded (or not): the role, the first presence. */
ck_status cki_enroll_role(cki_enroll *e);
void cki_enroll_role_free(cki_enroll *e);
/* The issuing CA's certificate (the signers' on a non-signer; NULL while
 * unknown). Borrowed. */
X509 *cki_enroll_ca_x509(cki_enroll *e);
/* ck_ca_pkcs7 / ck_ca_chain_pem of this primary's CA or, on a
 * non-signer, of the signers' chain. Caller frees with ck_free. */
ck_status cki_enroll_pkcs7(cki_enroll *e, const uint8_t *der, size_t len,
    uint8_t **out, size_t *out_len);
ck_status cki_enroll_chain_pem(cki_enroll *e, char **pem);
/* enroll_revo.c: the signer holding job "crl" stores a new CRL when the
 * revoked set changed or the stored one is half-way to its nextUpdate. */
ck_status cki_enroll_crl_job(cki_enroll *e);

#endif /* CERTKIT_ENROLL_INT_H */
