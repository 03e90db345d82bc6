/*
 * authz_priv.h: what the files of the decision engine share (authz.c uses
 * authz_sync.c, authz_cache.c and authz_verify.c; none of those calls
 * back into authz.c).
 *
 *   authz_sync.c    following the registry: the change-token poll, the
 *                   presence batches, the pending expiry (the timers)
 *   authz_writer.c  the first contacts, written by a thread with its own
 *                   registry connection, so a new key never makes the
 *                   event loop wait on the registry
 *   authz_cache.c   a hash map keyed by 64-hex digests (SPKI or certificate
 *                   SHA-256), and copies of registry rows
 *   authz_verify.c  the client_ca store and the verification cache
 *
 * Invariants:
 *  1. A map key is a SHA-256 in lower-case hex: its first 16 digits are
 *     already uniform, so they are the hash.
 *  2. The verification cache holds one reference on each cki_vresult; a
 *     hit hands out another. Flushing drops the cache's references only, so
 *     a connection's result stays valid (and stale: its generation differs).
 */
#ifndef CERTKIT_AUTHZ_PRIV_H
#define CERTKIT_AUTHZ_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "authz_int.h"
#include "config_int.h"
#include "registry_int.h"
#include "revocation_int.h"

/* ---- authz_cache.c ------------------------------------------------------ */
struct cki_hnode;
struct cki_hmap {
	struct cki_hnode **b;
	size_t nb, n;
};
/* The value under key, or NULL. */
void *cki_hmap_get(const struct cki_hmap *m, const char *key);
/* Sets key to val; *old gets the value it replaces (or NULL). -1: out of
 * memory (nothing changed). */
int cki_hmap_put(struct cki_hmap *m, const char *key, void *val, void **old);
/* Removes key; returns its value, or NULL. */
void *cki_hmap_del(struct cki_hmap *m, const char *key);
/* Calls fn on every entry (fn must not change the map). */
void cki_hmap_each(const struct cki_hmap *m,
    void (*fn)(void *arg, const char *key, void *val), void *arg);
/* Empties the map, passing each value to freefn (may be NULL). */
void cki_hmap_clear(struct cki_hmap *m, void (*freefn)(void *val));

/* A deep copy of a registry row (free with cki_client_free()); NULL when
 * out of memory. */
struct cki_client *cki_client_dup(const struct cki_client *c);
void cki_client_free(void *c);

/* Presence seen and not yet written (cki_authz.seen, by SPKI). */
struct cki_seen_ent {
	int64_t time;
	char *agent_version, *facts;
};
/* Puts e (may be NULL) onto c when it is newer than c's last_seen. */
void cki_seen_keep(const struct cki_seen_ent *e, struct cki_client *c);
/* Sets a string field to a copy of s (NULL clears). -1: out of memory. */
int cki_client_set_str(char **field, const char *s);

/* ---- authz_verify.c ----------------------------------------------------- */
typedef struct cki_caset cki_caset;

/* Loads the client_ca files (any format lib/pki reads). Self-signed
 * certificates are the anchors; an intermediate goes to the untrusted set,
 * unless its issuer is not among the files: then the admin imported it to
 * be the anchor, and it is one (X509_V_FLAG_PARTIAL_CHAIN, which changes
 * nothing for the chains through an imported root). No file: an empty set,
 * against which nothing verifies. `policy` is the verification's
 * ([server] verify_policy): under CK_POLICY_STRICT a rule of verify_rules.c
 * broken fails it (struct cki_vresult's rule). */
ck_status cki_caset_new(ck_ctx *ctx, const struct cki_strlist *files,
    ck_policy policy, cki_caset **out);
void cki_caset_free(cki_caset *cs);
/* Verifies leaf (+ untrusted, may be NULL) as a TLS client certificate, or
 * takes the cached result for the certificate's SHA-256. A cached failure
 * is reused only for the same untrusted chain (or none). NULL: out of
 * memory. */
struct cki_vresult *cki_caset_verify(cki_caset *cs, ck_ctx *ctx, X509 *leaf,
    STACK_OF(X509) * untrusted, uint64_t generation);
/* Drops every cached result. */
void cki_caset_flush(cki_caset *cs);
/* The one-line subject of a verified chain's anchor (free()), or NULL. */
char *cki_vresult_anchor(const struct cki_vresult *r);
/* {"roots", "intermediates", "partial_chain", "cached", "hits",
 * "misses"}. */
json_t *cki_caset_info(const cki_caset *cs);

/* ---- authz_writer.c ----------------------------------------------------- */
struct cki_authz_req;

/* One first contact to write. The input is set by the event loop's thread,
 * the output by the writer's; waiters is the loop's only. */
struct cki_fc_job {
	struct cki_client
	    in; /* spki, cert_sha256, name, subject, sans, policy */
	enum cki_reg_state state;
	char who[16];
	char why[320];
	long max_pending;
	ck_status st;          /* the result */
	struct cki_client out; /* the row kept, when st == CK_OK */
	char err[256];         /* the message, when st != CK_OK */
	struct cki_authz_req *waiters;
	struct cki_fc_job *next;
};
void cki_fc_job_free(struct cki_fc_job *j);

typedef struct cki_writer cki_writer;
typedef void (*cki_writer_done)(void *arg, struct cki_fc_job *j);
/* Opens a second registry connection on `target` and starts the thread;
 * each finished job is handed to done(arg, job) on base's loop, which then
 * owns it. */
ck_status cki_writer_new(ck_ctx *ctx, const char *target,
    struct event_base *base, cki_writer_done done, void *arg, cki_writer **out);
/* Queues a job (the writer owns it until done). */
void cki_writer_submit(cki_writer *w, struct cki_fc_job *j);
/* Stops the thread after the job it is writing; the jobs not handed back
 * are freed without `done`. */
void cki_writer_free(cki_writer *w);

/* ---- the engine (authz.c, authz_sync.c) -------------------------------- */
#define CKI_AUTHZ_BUSY_MS 100     /* the registry's busy timeout */
#define CKI_AUTHZ_DOWN_MS 1000    /* after a failed write, no new try */
#define CKI_AUTHZ_BUSY_RETRY 5L   /* Retry-After of a 503, seconds */
#define CKI_AUTHZ_POLL_MS 250     /* change-token poll */
#define CKI_AUTHZ_FLUSH_MS 1000   /* presence batch */
#define CKI_AUTHZ_EXPIRE_MS 60000 /* pending expiry */
#define CKI_AUTHZ_MAX_JOBS 4096   /* first contacts in flight */
#define CKI_AUTHZ_AUDIT_LAG 10    /* s of audit rows read again (commit lag) */
#define CKI_AUTHZ_AUDIT_LAG_SQLITE 2 /* the same, commits one at a time */
#define CKI_AUTHZ_RESYNC_RUNS 5      /* expiry runs between two full reads */

/* An audit row already applied to the cache (authz_sync.c). */
struct cki_aseen {
	int64_t seq, time;
};

struct cki_authz {
	ck_ctx *ctx;
	struct event_base *base;
	cki_registry *reg;
	char *target; /* the registry opened */
	cki_revo *revo;
	cki_caset *cas;
	enum cki_client_policy policy;
	long max_pending, pending_ttl, heartbeat, retry_after;
	struct cki_hmap clients; /* SPKI -> struct cki_client * (a copy) */
	struct cki_hmap seen;    /* SPKI -> presence not yet written */
	uint64_t token;          /* the registry's change token last read */
	uint64_t gen;            /* the verification cache's generation */
	uint64_t revo_gen;       /* cki_revo_generation() last seen */
	int64_t down_until;      /* cki_mono_ms(): new clients get 503 */
	struct event *ev_poll, *ev_flush, *ev_expire;
	cki_authz_close_fn close_fn;
	void *close_arg;
	cki_authz_revoked_fn revoked_fn;
	void *revoked_arg;
	cki_authz_health_fn health_fn;
	void *health_arg;
	bool reg_down;           /* the last poll failed */
	struct event *ev_notify; /* the registry's notify_fd (PostgreSQL) */
	int notify_fd;
	unsigned notify_gen;        /* cki_registry_conn_gen() when armed */
	struct cki_authz_req *reqs; /* decisions waiting (revocation, writer) */
	cki_writer *writer;         /* NULL without a loop: writes inline */
	struct cki_hmap jobs;       /* SPKI -> struct cki_fc_job in flight */
	char last_error[256];       /* the registry's last failure, for logs */
	/* The audit cursor (authz_sync.c): rows with time >= audit_since are
	 * read; those in aseen (sorted by seq) were applied already. */
	int64_t audit_since;
	struct cki_aseen *aseen;
	size_t naseen;
	unsigned expire_runs;
	struct {
		unsigned long decisions, loads, syncs, refreshed, closes,
		    flushed, flush_errors, poll_errors, expired, first_contacts;
	} n;
};

/* authz_sync.c. Re-reads every row into the cache; each client that was
 * approved and is no more (or is gone) is passed to the close callback.
 * On failure the cache stays as it was. Also sets the audit cursor. */
ck_status cki_authz_load_rows(cki_authz *a);
/* Re-reads only the clients named by the audit rows written since the
 * last read (every authorisation change writes one), with the same close
 * callbacks. On failure the cursor stays, so the next call reads them
 * again (applying a row twice changes nothing). */
ck_status cki_authz_sync_rows(cki_authz *a);
/* authz_audit.c. Sets the audit cursor to the registry's now, the rows of
 * the last CKI_AUTHZ_AUDIT_LAG seconds applied (a full read follows). */
ck_status cki_authz_audit_mark(cki_authz *a);
/* Arms the three timers on a->base (none when base is NULL: tests). */
ck_status cki_authz_arm(cki_authz *a);
/* Frees the timers and drops the presence not yet written. */
void cki_authz_disarm(cki_authz *a);
/* The poll (change token, CRL reloads), the presence batch and the pending
 * expiry, as the timers run them (tests call them directly too). */
void cki_authz_poll(cki_authz *a);
ck_status cki_authz_flush(cki_authz *a);
void cki_authz_expire(cki_authz *a);
/* Hands the revocation news to the revoked callback, then drops them
 * (authz_sync.c). */
void cki_authz_news(cki_authz *a);
/* A new generation: every cached verification is dropped. */
void cki_authz_bump(cki_authz *a);
/* Notes that a known client was seen at `now` (memory only). */
void cki_authz_seen(cki_authz *a, const char *spki, int64_t now,
    const char *agent_version, const char *facts);
/* Keeps the registry's last error message (from a->ctx). */
void cki_authz_note_error(cki_authz *a);

#endif /* CERTKIT_AUTHZ_PRIV_H */
