/*
 * registry_be.h: what a registry backend implements (registry.c holds the
 * logic; a backend only stores rows).
 *
 * registry.c owns everything that must behave the same on every backend:
 * the state machine, ids, conflicts, limits, audit rows, prefixes. A
 * backend (registry_sqlite.c; the PostgreSQL one of issue 12) provides
 * storage primitives and one write transaction at a time, and adds one line
 * to the table in registry.c.
 *
 * Invariants a backend keeps:
 *  1. begin() starts a write transaction that excludes other writers
 *     (SQLite: BEGIN IMMEDIATE; PostgreSQL: SERIALIZABLE or a row lock), and
 *     gives up after the busy time with CK_E_LOCKED and "registry locked".
 *  2. insert() fails with CK_E_EXISTS on a known SPKI (a unique constraint,
 *     never a check then an insert).
 *  3. update() and remove() are compare-and-swaps: they match the row's id
 *     AND version, and return CK_E_CONFLICT when no row matched. update()
 *     writes version = expect + 1 and never touches the presence columns.
 *  4. The audit table takes inserts only (the backend refuses updates and
 *     deletes of it at the storage level: SQLite triggers).
 *  5. A conflict row's conflict_of becomes "" when its client is removed
 *     (ON DELETE SET NULL).
 *  6. The optional ops may be NULL: retryable() says the last failure was
 *     a transient one (a serialization failure or deadlock) that running
 *     the whole transaction again may cure; now() gives the storage's clock
 *     (shared by every primary); job() says whether this connection runs a
 *     single-writer job (one holder among every connection to the
 *     storage); notify_fd() is a descriptor that becomes readable when
 *     another connection committed a change of the kinds asked
 *     (CKI_REG_NOTE_*, registry_int.h; -1: none).
 *  7. (schema 2) cert_insert() fails with CK_E_EXISTS on a known serial (a
 *     unique constraint); req_issue() is a compare-and-swap on the request
 *     being pending (CK_E_CONFLICT otherwise); token_use() decrements
 *     uses_left only where uses_left > 0 AND expires > now, in one
 *     statement, and says whether a row matched.
 *
 * The schema 2 tables (names and columns a backend keeps, for an admin's
 * SQL and for the PostgreSQL backend):
 *   requests(id PK, client_id, spki, csr TEXT (PEM), state 'pending' |
 *            'issued', names, serial, created, changed)
 *   certs(serial PK (lower-case hex), client_id, spki, not_before,
 *         not_after, revoked_at (0: not), reason (CRLReason), der BLOB)
 *   tokens(sha256 PK (hex of the token text), uses_left, expires, created)
 * No foreign keys to clients: a certificate row outlives its client (the
 * CRL and OCSP still need it) and a request is tied by spki, not by row.
 * Migration 1 -> 2 only adds these tables (clients and audit unchanged).
 *
 * The schema 3 tables (migration 2 -> 3 only adds them):
 *   nodes(name PK, role 'signer' | 'none', seen, ca_chain TEXT (PEM))
 *   crl(id PK = 1, number, built_at, digest, der BLOB): one row, replaced
 *       only by a CRL of a greater number (crl_put: *stored false else)
 */
#ifndef CERTKIT_REGISTRY_BE_H
#define CERTKIT_REGISTRY_BE_H

#include "registry_int.h"

/* The key of get(). BY_NAME finds a live (pending, approved or suspended)
 * client that is not itself a conflict row. */
enum cki_reg_key { CKI_REG_BY_ID, CKI_REG_BY_SPKI, CKI_REG_BY_NAME };

/* A selection of rows for select(). */
struct cki_reg_query {
	int state;              /* < 0: any */
	const char *prefix;     /* lower-case hex of an id or SPKI, or NULL */
	int64_t changed_before; /* > 0: only rows changed before this time */
	long limit;             /* <= 0: no limit */
};

struct cki_reg_ops {
	const char *name;
	/* True if this backend serves `target`. */
	bool (*claims)(const char *target);
	ck_status (*open)(
	    ck_ctx *ctx, const char *target, int busy_ms, void **impl);
	void (*close)(void *impl);
	ck_status (*migrate)(ck_ctx *ctx, const char *target, int *from);
	ck_status (*begin)(void *impl);
	ck_status (*commit)(void *impl);
	void (*rollback)(void *impl);
	ck_status (*get)(void *impl, enum cki_reg_key k, const char *val,
	    struct cki_client *out, bool *found);
	ck_status (*select)(void *impl, const struct cki_reg_query *q,
	    cki_client_cb cb, void *arg);
	ck_status (*count)(void *impl, int state, long *n);
	ck_status (*insert)(void *impl, const struct cki_client *c);
	ck_status (*update)(
	    void *impl, const struct cki_client *c, int64_t expect);
	ck_status (*remove)(void *impl, const char *id, int64_t expect);
	ck_status (*touch)(void *impl, const struct cki_seen *s);
	ck_status (*audit_add)(void *impl, const struct cki_audit *a);
	ck_status (*audit_each)(
	    void *impl, int64_t since, cki_audit_cb cb, void *arg);
	ck_status (*token)(void *impl, uint64_t *tok);
	bool (*retryable)(void *impl);
	ck_status (*now)(void *impl, int64_t *now);
	ck_status (*job)(void *impl, const char *name, bool *mine);
	int (*notify_fd)(void *impl, unsigned chans); /* CKI_REG_NOTE_* */
	/* May be NULL. Whether a notification was read (and freed) since the
	 * last call, by any statement: its socket is no longer readable. */
	bool (*notified)(void *impl);
	/* May be NULL. Changes each time the connection is made again: a
	 * notify_fd() of the same number may be another socket. */
	unsigned (*conn_gen)(void *impl);
	/* May be NULL. The server's own connections: commits need not reach
	 * the disk before returning (SQLite: synchronous = NORMAL in WAL). */
	ck_status (*relax)(void *impl);
	/* Inserts a row exactly as given (version, times, presence): for
	 * cki_registry_copy(), inside begin()..commit(). */
	ck_status (*load)(void *impl, const struct cki_client *c);
	/* Enrollment (schema 2). req_get: by id, or (id NULL) the newest
	 * request of spki (created DESC, then the latest inserted). The
	 * rows passed to cert_select's cb (der included) are the backend's,
	 * valid during the call; order not_before DESC, then serial; filters
	 * of struct cki_cert_query ANDed (revoked: revoked_at > 0;
	 * expires_after: not_after >= it). cert_revoke sets revoked_at and
	 * reason only where revoked_at = 0. */
	ck_status (*req_insert)(void *impl, const struct cki_ereq *q);
	ck_status (*req_get)(void *impl, const char *id, const char *spki,
	    struct cki_ereq *out, bool *found);
	ck_status (*req_issue)(
	    void *impl, const char *id, const char *serial, int64_t now);
	ck_status (*cert_insert)(void *impl, const struct cki_cert_row *c);
	ck_status (*cert_select)(void *impl, const struct cki_cert_query *q,
	    cki_cert_cb cb, void *arg);
	/* Marks every unrevoked certificate of the client revoked. */
	ck_status (*cert_revoke)(
	    void *impl, const char *client_id, int64_t when, int reason);
	ck_status (*token_insert)(void *impl, const char *sha256, long uses,
	    int64_t expires, int64_t created);
	ck_status (*token_use)(
	    void *impl, const char *sha256, int64_t now, bool *ok);
	/* Signers and the shared CRL (schema 3), each one statement. */
	ck_status (*node_put)(void *impl, const char *name, const char *role,
	    int64_t seen, const char *chain);
	ck_status (*node_signer)(
	    void *impl, int64_t since, bool *up, char **chain);
	ck_status (*crl_get)(void *impl, struct cki_crl_row *out, bool *found);
	ck_status (*crl_put)(
	    void *impl, const struct cki_crl_row *c, bool *stored);
	ck_status (*req_ready)(
	    void *impl, char (*ids)[CKI_REG_ID_LEN + 1], size_t max, size_t *n);
};

extern const struct cki_reg_ops cki_reg_sqlite_ops;
extern const struct cki_reg_ops cki_reg_pg_ops;

/* A handle (registry.c; registry_enroll.c shares it). */
struct cki_registry {
	ck_ctx *ctx;
	const struct cki_reg_ops *ops;
	void *impl;
};

/* True if a failed transaction (try i, from 0) should run again: the
 * backend calls its failure transient (retryable()); waits a backoff with
 * jitter first. */
bool cki_reg_again(cki_registry *r, ck_status rv, int i);

/* Adds the audit row of one change to row c, inside the caller's
 * transaction (registry.c). from/to: a state, or -1. */
ck_status cki_reg_audit(cki_registry *r, const struct cki_client *c,
    const char *action, int from, int to, const struct cki_actor *who);

#endif /* CERTKIT_REGISTRY_BE_H */
