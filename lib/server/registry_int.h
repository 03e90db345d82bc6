/*
 * registry_int.h: the registry of clients, behind one interface with two
 * backends (SQLite here; PostgreSQL comes with issue 12, so nothing in this
 * interface may assume SQLite).
 *
 * A client is identified by the SHA-256 of its SubjectPublicKeyInfo (64
 * lower-case hex), never by a certificate hash: re-signing the same key does
 * not make a new client, and a new key is never the old client.
 *
 * Two axes per client (docs/json.md, "clients"):
 *   authorisation (stored; changed only by an admin or a policy)
 *
 *        (first contact, pairing)          approve
 *     ──────────────────────────► pending ─────────► approved ◄──┐
 *                                    │ reject            │ suspend│ resume
 *                                    ▼                   ▼        │
 *                                 rejected            suspended ──┘
 *     approved / suspended ── revoke ──► revoked (final)
 *     any ── remove ──► (row gone; audit row stays)
 *     pending ── pending_ttl passed ──► (row gone, audited "expired")
 *
 *   presence (observed, derived from last_seen and the state):
 *     never_connected, online, offline, requesting_pairing.
 *
 * Invariants:
 *  1. At most one row per SPKI (a unique constraint).
 *  2. A known name with a new key is a *conflict* row (conflict_of = the
 *     existing client's id), never a replacement and never a second
 *     approved identity. replace-key moves the new key onto the existing
 *     client and deletes the conflict row; discard deletes the conflict row.
 *  3. Every change is a compare-and-swap on `version` (the row's version
 *     must still be the one read) and writes an append-only audit row (who,
 *     what, when, why) in the same transaction.
 *  4. At most max_pending pending rows; the insert that would exceed it
 *     fails with CK_E_LIMIT and writes nothing.
 *  5. The schema is versioned; opening checks the version and refuses a
 *     mismatch. Only cki_registry_migrate() creates or alters tables.
 *  6. Presence (last_seen, agent version, facts) is written in batches by
 *     the server; a presence write never changes `version`.
 *  7. (registry.c) A conflict is against a live client of the same name:
 *     pending, approved or suspended and not itself a conflict row; a
 *     revoked or rejected name may come back with a new key as a plain
 *     request. A conflict row whose client is removed becomes a plain
 *     pending request (conflict_of cleared). A conflict row cannot be
 *     approved: replace-key or discard (or reject) it.
 *  8. first_seen is the first contact; last_seen the last contact of any
 *     kind (first contact included); never_connected is last_seen == 0.
 */
#ifndef CERTKIT_REGISTRY_INT_H
#define CERTKIT_REGISTRY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "ck_internal.h"

#define CKI_REG_SCHEMA                                                         \
	3 /* 1: clients, audit; 2: + enrollment; 3: + nodes, crl */
#define CKI_REG_ID_LEN 16 /* hex digits of a client id */

enum cki_reg_state {
	CKI_REG_PENDING = 0,
	CKI_REG_APPROVED,
	CKI_REG_REJECTED,
	CKI_REG_SUSPENDED,
	CKI_REG_REVOKED,
};

enum cki_presence {
	CKI_PRES_NEVER_CONNECTED = 0,
	CKI_PRES_ONLINE,
	CKI_PRES_OFFLINE,
	CKI_PRES_REQUESTING_PAIRING,
};

/* One client row. Strings are owned by the struct (cki_client_clear()). */
struct cki_client {
	char id[CKI_REG_ID_LEN + 1]; /* random, lower-case hex */
	char spki[65];
	char *name;           /* the CN, else the first SAN, else NULL */
	char *subject;        /* one-line subject of the last certificate */
	char *sans;           /* "DNS:a, IP:1.2.3.4" of the last certificate */
	char cert_sha256[65]; /* the last certificate seen, or "" */
	enum cki_reg_state state;
	char *policy; /* who decided: "admin", "trusted-ca", "pairing" */
	char *reason; /* the reason of the last change, or NULL */
	char conflict_of[CKI_REG_ID_LEN + 1]; /* "" unless a conflict row */
	int64_t version; /* bumped by every authorisation change */
	int64_t first_seen, last_seen; /* unix time; 0 = never */
	int64_t changed;     /* time of the last authorisation change */
	char *agent_version; /* from heartbeats, or NULL */
	char *facts;         /* JSON object text from heartbeats, or NULL */
};
void cki_client_clear(struct cki_client *c);
/* Presence at `now`, given the heartbeat interval (offline after 2x). */
enum cki_presence cki_client_presence(
    const struct cki_client *c, int64_t now, long heartbeat);
const char *cki_reg_state_name(enum cki_reg_state s);
int cki_reg_state_parse(const char *s); /* -1 if unknown */
const char *cki_presence_name(enum cki_presence p);
/* "Never Connected", "Requesting Pairing", "Online", "Offline",
 * "Revoked", ... : the words the field articles use. */
const char *cki_client_status_label(
    const struct cki_client *c, int64_t now, long heartbeat);

/* A client as JSON (docs/json.md, "client"): for `certkit clients` and any
 * route that shows a client its own row. NULL only when out of memory
 * (registry_api.c). */
json_t *cki_client_json(
    const struct cki_client *c, int64_t now, long heartbeat);

/* Who made a change, for the audit row. */
struct cki_actor {
	const char *who; /* "admin:root" (the uid's name), "server", "policy" */
	const char *why; /* --reason, or what the policy saw; may be NULL */
};

/* One audit row. */
struct cki_audit {
	int64_t seq, time;
	char client_id[CKI_REG_ID_LEN + 1];
	char spki[65];
	char *who, *action, *why; /* action: "pending", "approve", ... */
	char *from_state, *to_state;
};
void cki_audit_clear(struct cki_audit *a);

/* A handle keeps the ctx given to cki_registry_open() (borrowed) and
 * reports every error of its calls there. One handle is one connection:
 * use it from one thread at a time. */
typedef struct cki_registry cki_registry;

/* Opens the registry named by `target` ("sqlite:PATH" or a plain PATH; a
 * "postgresql://" URL or a PostgreSQL conninfo). Fails with a clear message
 * if the schema is missing ("run: certkit registry migrate") or of another
 * version. busy_ms bounds how long one call waits for a lock held by
 * another process (the server uses a short one and retries later; the admin
 * tool a long one). */
ck_status cki_registry_open(
    ck_ctx *ctx, const char *target, int busy_ms, cki_registry **out);
void cki_registry_close(cki_registry *r);
/* For the server's own connections (first contacts, presence): a commit
 * need not be on the disk when it returns (SQLite: synchronous = NORMAL
 * under WAL; a power loss may lose the last ones, never the database's
 * consistency). Connections that record admin decisions or issued
 * certificates do not call it. */
ck_status cki_registry_relax(cki_registry *r);
/* Creates or upgrades the schema to CKI_REG_SCHEMA. *from gets the version
 * found (0: none). Creates the file's directory (0700) if needed. */
ck_status cki_registry_migrate(ck_ctx *ctx, const char *target, int *from);

/* Lookups. *found is false (and CK_OK returned) when there is no row. */
ck_status cki_registry_get_spki(
    cki_registry *r, const char *spki, struct cki_client *out, bool *found);
/* An id or SPKI prefix (at least 4 hex digits), unique like git's: an
 * ambiguous prefix is an error listing the candidates. */
ck_status cki_registry_find(
    cki_registry *r, const char *prefix, struct cki_client *out);

/* Every row (state < 0: any), in first_seen order. cb returns non-zero to
 * stop. */
typedef int (*cki_client_cb)(void *arg, const struct cki_client *c);
ck_status cki_registry_each(
    cki_registry *r, int state, cki_client_cb cb, void *arg);

/* First contact of an unknown SPKI: inserts a row in `state` (pending, or
 * approved by a policy) with its audit row. If another client has the same
 * name, the row is inserted as a conflict of it (conflict_of set, state
 * pending). A pending insert beyond max_pending fails with CK_E_LIMIT.
 * If the SPKI is already known, nothing is written and *out is that row.
 * `c` gives spki, name, subject, sans, cert_sha256. */
ck_status cki_registry_first_contact(cki_registry *r,
    const struct cki_client *c, enum cki_reg_state state, long max_pending,
    const struct cki_actor *who, struct cki_client *out);

/* The admin actions. Each reads the row, checks the transition (an
 * impossible one is CK_E_USAGE naming the state found), and writes it as a
 * compare-and-swap on `expect_version` (-1: the version just read). A lost
 * race is CK_E_CONFLICT. */
enum cki_reg_action {
	CKI_ACT_APPROVE = 0,
	CKI_ACT_REJECT,
	CKI_ACT_SUSPEND,
	CKI_ACT_RESUME,
	CKI_ACT_REVOKE,
	CKI_ACT_REMOVE,
	CKI_ACT_REPLACE_KEY, /* on a conflict row */
	CKI_ACT_DISCARD,     /* on a conflict row */
};
const char *cki_reg_action_name(enum cki_reg_action a);
ck_status cki_registry_act(cki_registry *r, const char *id,
    enum cki_reg_action a, int64_t expect_version, const struct cki_actor *who,
    struct cki_client *after);

/* Presence, in one transaction for the batch. */
struct cki_seen {
	char spki[65];
	int64_t time;
	const char *agent_version; /* may be NULL: unchanged */
	const char *facts;         /* JSON object text, may be NULL */
};
ck_status cki_registry_presence(
    cki_registry *r, const struct cki_seen *v, size_t n);

/* Deletes pending rows older than ttl seconds at `now` (audited as
 * "expired"); *n gets how many. A single-writer job: on a shared registry
 * (PostgreSQL) only the connection holding the "expire" job does it; the
 * others get *n = 0. */
ck_status cki_registry_expire(
    cki_registry *r, int64_t now, long ttl, size_t *n);
/* Counts rows in `state`. */
ck_status cki_registry_count(cki_registry *r, int state, long *n);

/* Audit rows with time >= since, oldest first. */
typedef int (*cki_audit_cb)(void *arg, const struct cki_audit *a);
ck_status cki_registry_audit(
    cki_registry *r, int64_t since, cki_audit_cb cb, void *arg);

/* A number that changes whenever another connection committed a change
 * (SQLite: PRAGMA data_version; PostgreSQL: a revocation epoch). The server
 * polls it to see admin changes within 1 s. */
ck_status cki_registry_change_token(cki_registry *r, uint64_t *tok);

/* Copies every client, audit row and issued certificate (schema 2; not
 * the enrollment requests and tokens, which are short-lived: a client
 * polls again, an admin makes a new token) of src into dst (export/import, e.g.
 * SQLite to PostgreSQL), in one transaction of dst, which must hold no
 * client and no audit row (else CK_E_EXISTS). Then verifies dst: the same
 * number of clients and audit rows, and each client read back with the
 * same version and state (else CK_E_INTERNAL naming the first mismatch).
 * *clients and *audits get the counts copied. */
ck_status cki_registry_copy(
    cki_registry *src, cki_registry *dst, size_t *clients, size_t *audits);

/* The registry's clock, unix seconds: the database's now() on PostgreSQL
 * (so expiry does not depend on each primary's clock), else the ctx's. */
int64_t cki_registry_now(cki_registry *r);

/* A single-writer job (`name`: "expire", "presence", "crl"): *mine is true
 * if this handle runs it. On PostgreSQL, a session advisory lock
 * (pg_try_advisory_lock): one connection among all the primaries holds it
 * until that connection ends, then the next caller takes it. Always true on
 * SQLite. */
ck_status cki_registry_job(cki_registry *r, const char *name, bool *mine);

/* A descriptor that becomes readable when another connection committed a
 * change (PostgreSQL: the LISTEN connection's socket), so the server can
 * read the change token at once; -1 when the backend has none (poll). It
 * may change after a reconnect: ask again after each poll. A wake-up, not
 * a message: read the registry (any call consumes it). _for(): of the
 * kinds in chans; cki_registry_notify_fd() is CKI_REG_NOTE_CLIENTS. */
#define CKI_REG_NOTE_CLIENTS 1u /* a client's state changed, a row went */
#define CKI_REG_NOTE_ENROLL 2u  /* an enrollment request, a stored CRL */
int cki_registry_notify_fd(cki_registry *r);
int cki_registry_notify_fd_for(cki_registry *r, unsigned chans);
/* Changes when the connection behind the descriptor is made again: the
 * kernel may give the new socket the old number, and an event still set
 * on the old one would never fire. */
unsigned cki_registry_conn_gen(cki_registry *r);
/* Whether a notification arrived since the last call: read by a statement
 * (which frees it), it no longer wakes the descriptor. A caller that acts
 * on notifications asks after its statements and acts again. */
bool cki_registry_notified(cki_registry *r);

/* The backend's name ("sqlite", "postgresql"), for logs and
 * --check-config; _for(): of the backend that serves `target`. */
const char *cki_registry_backend(const cki_registry *r);
const char *cki_registry_backend_for(const char *target);

/* ---- enrollment (schema 2; lib/server/registry_enroll.c) ----------------
 *
 * An enrollment request (a CSR) is tied to its client by the CSR's SPKI:
 * the client's state decides the answer (pending: wait; approved: the
 * server signs, outside any transaction, then records the certificate
 * with cki_registry_issue()). A certificate row outlives its client (the
 * CRL needs it). Serials are unique (the backstop of the random serials).
 * Tokens are stored as the SHA-256 of the token text, never the token.
 */
enum cki_ereq_state { CKI_EREQ_PENDING = 0, CKI_EREQ_ISSUED };

/* One enrollment request. Strings owned (cki_ereq_clear()). */
struct cki_ereq {
	char id[CKI_REG_ID_LEN + 1];
	char client_id[CKI_REG_ID_LEN + 1]; /* the client at creation */
	char spki[65];
	char *csr;   /* PEM */
	char *names; /* what is issued: "DNS:a, IP:192.0.2.1" or NULL */
	enum cki_ereq_state state;
	char serial[65]; /* the issued certificate's, "" while pending */
	int64_t created, changed;
};
void cki_ereq_clear(struct cki_ereq *q);

/* One issued certificate. der is owned (cki_cert_row_clear()). */
struct cki_cert_row {
	char serial[65]; /* lower-case hex, no leading "0x" */
	char client_id[CKI_REG_ID_LEN + 1];
	char spki[65];
	int64_t not_before, not_after;
	int64_t revoked_at; /* 0: not revoked */
	int reason;         /* RFC 5280 CRLReason when revoked */
	unsigned char *der;
	size_t der_len;
};
void cki_cert_row_clear(struct cki_cert_row *c);

/* A selection of certificates, newest (not_before) first. */
struct cki_cert_query {
	const char *serial;    /* or NULL */
	const char *client_id; /* or NULL */
	const char *spki;      /* or NULL */
	bool revoked;          /* only revoked ones */
	int64_t expires_after; /* > 0: only not_after >= this */
	long limit;            /* <= 0: no limit */
};
typedef int (*cki_cert_cb)(void *arg, const struct cki_cert_row *c);

/* A new pending request for `spki` (client_id, csr, names given in q; id,
 * state, times set here). *out gets the stored row. */
ck_status cki_registry_request_new(
    cki_registry *r, const struct cki_ereq *q, struct cki_ereq *out);
/* The request `id`, or (id NULL) the newest request of `spki`. */
ck_status cki_registry_request_get(cki_registry *r, const char *id,
    const char *spki, struct cki_ereq *out, bool *found);
/* Records a certificate the server signed, in one transaction: the row
 * (CK_E_EXISTS on a serial already known: sign again with another), the
 * request `req_id` (or NULL: a renewal) marked issued, an audit row. If
 * the request was issued meanwhile (two polls), nothing is written,
 * *already is true and the caller answers with that request's serial. */
ck_status cki_registry_issue(cki_registry *r, const char *req_id,
    const struct cki_cert_row *c, const struct cki_actor *who, bool *already);
ck_status cki_registry_certs(
    cki_registry *r, const struct cki_cert_query *q, cki_cert_cb cb, void *arg);
/* One certificate by serial (lower-case hex); *found false if unknown. */
ck_status cki_registry_cert_get(
    cki_registry *r, const char *serial, struct cki_cert_row *out, bool *found);

/* A new token of `uses` uses valid `ttl` seconds: its text (64 hex digits,
 * shown once) in tok; only its SHA-256 is stored. */
ck_status cki_registry_token_new(
    cki_registry *r, long uses, long ttl, char tok[65], int64_t *expires);
/* Spends one use of the token: *ok false (and nothing written) when it is
 * unknown, used up or expired. */
ck_status cki_registry_token_use(cki_registry *r, const char *tok, bool *ok);

/* ---- signers and the shared CRL (schema 3; registry_enroll.c) ---------
 *
 * Primaries with the CA key (`ca = signer`) record their presence in
 * nodes; the others accept enrollment requests into the registry and
 * leave the signing to them. The signer holding the job "crl" builds the
 * CRL and stores it here; every primary serves that copy.
 */
struct cki_crl_row {
	uint64_t number; /* the CRL's cRLNumber: grows with each stored CRL */
	int64_t built_at;
	char digest[65]; /* of the revoked list it holds */
	unsigned char *der;
	size_t der_len;
};
void cki_crl_row_clear(struct cki_crl_row *c);

/* Records that node `name` (role "signer" or "none") is up now (the
 * storage's clock), with its CA chain (PEM, or NULL). */
ck_status cki_registry_node_seen(
    cki_registry *r, const char *name, const char *role, const char *chain);
/* *up: a signer was seen in the last max_age seconds; *chain (may be
 * NULL) gets the CA chain PEM of the newest one (free()). */
ck_status cki_registry_signer(
    cki_registry *r, long max_age, bool *up, char **chain);
ck_status cki_registry_crl_get(
    cki_registry *r, struct cki_crl_row *out, bool *found);
/* Stores c unless the stored CRL's number is >= c->number (CK_E_CONFLICT:
 * a CRL numbers never go back). */
ck_status cki_registry_crl_put(cki_registry *r, const struct cki_crl_row *c);
/* Up to max ids of pending requests whose client is approved (oldest
 * first): what a signer has to sign. */
ck_status cki_registry_requests_ready(
    cki_registry *r, char (*ids)[CKI_REG_ID_LEN + 1], size_t max, size_t *n);
/* True when several primaries may share this registry (PostgreSQL). */
bool cki_registry_shared(const cki_registry *r);

#endif /* CERTKIT_REGISTRY_INT_H */
