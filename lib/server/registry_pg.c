/*
 * registry_pg.c: the PostgreSQL backend of the registry (registry_be.h),
 * for several primaries on one database (docs/PRIMARIES.md).
 *
 * The target is a libpq URI ("postgresql://host/db") or a keyword
 * conninfo ("host=/run/postgresql dbname=certkit", or the same after
 * "postgresql:"). The password comes from PGPASSFILE or the server's
 * registry_password_file (libpq's passfile, pgpass format); one written in
 * the target is refused, so it never shows in ps, a log or an error.
 *
 * The schema (created only by migrate(); the server's role needs only
 * SELECT, INSERT, UPDATE, DELETE and USAGE on the sequences):
 *
 *   schema_version(version)
 *   clients(...)          as SQLite's, plus seen_by (the node that last
 *                         saw the client)
 *   audit(seq bigserial, ...)     a trigger refuses UPDATE, DELETE and
 *                                 TRUNCATE
 *   registry_epoch(revocation_epoch)   one row, bumped by a trigger when a
 *                         client's version changes or its row goes, in the
 *                         same transaction; the trigger also NOTIFYs
 *                         certkit_registry with "ID STATE" (delivered at
 *                         commit)
 *   schema 2: requests, certs (der bytea), tokens, as SQLite's
 *                         (registry_be.h)
 *   schema 3: nodes (signers' presence), crl (the shared CRL), as SQLite's
 *
 * Invariants:
 *  1. Every write is one SERIALIZABLE transaction with lock_timeout set to
 *     the busy time; get() inside it reads with FOR UPDATE. A
 *     serialization failure (40001) or deadlock (40P01) is CK_E_CONFLICT
 *     with retryable() true: registry.c runs the transaction again after a
 *     backoff. A lock wait past the busy time (55P03) is CK_E_LOCKED.
 *  2. The change token is the revocation_epoch (it moves only at commit,
 *     so a reader never sees it before the change). The connection whose
 *     notify_fd() is asked LISTENs on the channels asked: certkit_registry
 *     (the clients' trigger; the server's poll) and certkit_enroll (a
 *     request recorded, a CRL stored: NOTIFYed in the same statement;
 *     enrollment's own connection), so the server reads the epoch, or
 *     runs the signers' jobs, as soon as a notification arrives, the
 *     250 ms poll and the 1 s sweep being the fallback for one lost on
 *     reconnect. Every result's notifications are freed at once (none
 *     pile up).
 *  3. A lost connection is CK_E_NETWORK "registry unavailable"; the next
 *     call outside a transaction reconnects, at most once a second, so a
 *     dead database never stalls the server's loop for long.
 *  4. now() is the database's clock (unless the ctx has a fixed time, for
 *     tests), so expiry decisions do not depend on each primary's clock.
 *  5. job() takes a session advisory lock: one primary runs a
 *     single-writer job until it closes (unlocking them) or its
 *     connection ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pq_dl.h"

#include "registry_be.h"

struct pg {
	ck_ctx *ctx;
	PGconn *conn;
	char *conninfo;
	char label[160]; /* "postgresql host/dbname", no secrets */
	int busy_ms;
	bool in_tx, retry;
	unsigned listen; /* the channels LISTENed (CKI_REG_NOTE_*, since
	                    notify_fd() asked; again after a reconnect) */
	bool notified;   /* a notification freed since notified() */
	time_t last_connect;
	unsigned conn_gen; /* connections made: the notify fd may be reused */
	char node[64];
	char held[4][32]; /* the jobs whose advisory lock this session holds */
	int nheld;
};

#define PG_CHANNEL "certkit_registry"
#define PG_ENROLL "certkit_enroll" /* "request ID", "crl N" */
#define PG_LOCK_MIGRATE 0x63657274 /* "cert": migrate's advisory lock */

#define COLS                                                                   \
	"id, spki, name, subject, sans, cert_sha256, state, policy, reason, "  \
	"coalesce(conflict_of, ''), version, first_seen, last_seen, changed, " \
	"agent_version, facts"

static const char schema_v1[] =
    "CREATE TABLE schema_version (version integer NOT NULL);"
    "CREATE TABLE clients ("
    " id text PRIMARY KEY,"
    " spki text NOT NULL UNIQUE CHECK (length(spki) = 64),"
    " name text, subject text, sans text,"
    " cert_sha256 text NOT NULL DEFAULT '',"
    " state text NOT NULL CHECK (state IN ('pending', 'approved',"
    "  'rejected', 'suspended', 'revoked')),"
    " policy text, reason text,"
    " conflict_of text REFERENCES clients(id) ON DELETE SET NULL,"
    " version bigint NOT NULL DEFAULT 1,"
    " first_seen bigint NOT NULL, last_seen bigint NOT NULL DEFAULT 0,"
    " changed bigint NOT NULL,"
    " agent_version text, facts text, seen_by text);"
    "CREATE INDEX clients_name ON clients(name);"
    "CREATE INDEX clients_state ON clients(state, changed);"
    "CREATE INDEX clients_conflict ON clients(conflict_of);"
    "CREATE TABLE audit ("
    " seq bigserial PRIMARY KEY, time bigint NOT NULL,"
    " client_id text NOT NULL, spki text NOT NULL, who text NOT NULL,"
    " action text NOT NULL, why text, from_state text, to_state text);"
    "CREATE INDEX audit_time ON audit(time);"
    "CREATE FUNCTION certkit_audit_append_only() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " RAISE EXCEPTION 'audit rows are append-only'; END $$;"
    "CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit"
    " FOR EACH ROW EXECUTE FUNCTION certkit_audit_append_only();"
    "CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit"
    " FOR EACH STATEMENT EXECUTE FUNCTION certkit_audit_append_only();"
    "CREATE TABLE registry_epoch (revocation_epoch bigint NOT NULL);"
    "INSERT INTO registry_epoch VALUES (1);"
    "CREATE FUNCTION certkit_epoch() RETURNS trigger"
    " LANGUAGE plpgsql AS $$ BEGIN"
    " UPDATE registry_epoch SET revocation_epoch = revocation_epoch + 1;"
    " IF TG_OP = 'DELETE' THEN"
    "  PERFORM pg_notify('" PG_CHANNEL "', OLD.id || ' removed');"
    " ELSE PERFORM pg_notify('" PG_CHANNEL "', NEW.id || ' ' || NEW.state);"
    " END IF; RETURN NULL; END $$;"
    "CREATE TRIGGER clients_epoch_update AFTER UPDATE ON clients"
    " FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version)"
    " EXECUTE FUNCTION certkit_epoch();"
    "CREATE TRIGGER clients_epoch_delete AFTER DELETE ON clients"
    " FOR EACH ROW EXECUTE FUNCTION certkit_epoch();"
    "INSERT INTO schema_version VALUES (1);";

/* 1 -> 2: the enrollment tables (registry_be.h; clients and audit
 * unchanged). requests.seq orders two requests of one second. */
static const char schema_v2[] =
    "CREATE TABLE requests ("
    " id text PRIMARY KEY, client_id text NOT NULL,"
    " spki text NOT NULL CHECK (length(spki) = 64), csr text NOT NULL,"
    " state text NOT NULL CHECK (state IN ('pending', 'issued')),"
    " names text, serial text,"
    " created bigint NOT NULL, changed bigint NOT NULL,"
    " seq bigserial NOT NULL);"
    "CREATE INDEX requests_spki ON requests(spki, created);"
    "CREATE TABLE certs ("
    " serial text PRIMARY KEY, client_id text NOT NULL,"
    " spki text NOT NULL, not_before bigint NOT NULL,"
    " not_after bigint NOT NULL, revoked_at bigint NOT NULL DEFAULT 0,"
    " reason integer NOT NULL DEFAULT 0, der bytea NOT NULL);"
    "CREATE INDEX certs_client ON certs(client_id, not_before);"
    "CREATE INDEX certs_spki ON certs(spki, not_before);"
    "CREATE INDEX certs_revoked ON certs(revoked_at, not_after);"
    "CREATE TABLE tokens ("
    " sha256 text PRIMARY KEY, uses_left bigint NOT NULL,"
    " expires bigint NOT NULL, created bigint NOT NULL);"
    "UPDATE schema_version SET version = 2;";

/* 2 -> 3: signers' presence and the shared CRL (registry_be.h). */
static const char schema_v3[] =
    "CREATE TABLE nodes ("
    " name text PRIMARY KEY, role text NOT NULL CHECK (role IN ('signer',"
    " 'none')), seen bigint NOT NULL, ca_chain text);"
    "CREATE TABLE crl ("
    " id integer PRIMARY KEY CHECK (id = 1), number bigint NOT NULL,"
    " built_at bigint NOT NULL, digest text NOT NULL, der bytea NOT NULL);"
    "UPDATE schema_version SET version = 3;";

static const char *
pg_conninfo(const char *target)
{
	if (strncmp(target, "postgresql:", 11) == 0 &&
	    strncmp(target, "postgresql://", 13) != 0)
		return target + 11;
	return target;
}

/* A URI, "postgresql:CONNINFO", or a conninfo starting with a keyword. */
static bool
pg_claims(const char *target)
{
	static const char *const kw[] = {
	    "host=", "hostaddr=", "dbname=", "service=", "user=", "port="};

	if (strncmp(target, "postgresql:", 11) == 0 ||
	    strncmp(target, "postgres://", 11) == 0)
		return true;
	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (strncmp(target, kw[i], strlen(kw[i])) == 0)
			return true;
	return false;
}

/* The SQLSTATE of a failed result, or "". */
static const char *
sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return s != NULL ? s : "";
}

/* The error of a failed call, as a ck_status (invariants 1 and 3). */
static ck_status
pg_fail(struct pg *p, const PGresult *res)
{
	const char *st = sqlstate(res);
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";
	char m[CKI_ERRLEN / 2];
	size_t n;

	if (msg[0] == '\0')
		msg = PQerrorMessage(p->conn);
	snprintf(m, sizeof(m), "%s", msg);
	for (char *c = m; *c != '\0'; c++) /* one line for the logs */
		if (*c == '\n' || *c == '\t')
			*c = ' ';
	n = strlen(m);
	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
		m[--n] = '\0';
	p->retry = strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0;
	if (p->retry)
		return cki_err(p->ctx, CK_E_CONFLICT,
		    "registry %s: concurrent transaction (%s); try again",
		    p->label, st);
	if (strcmp(st, "55P03") == 0 || strcmp(st, "57014") == 0)
		return cki_err(p->ctx, CK_E_LOCKED,
		    "registry locked: %s is held by another transaction "
		    "(waited %d ms); try again later",
		    p->label, p->busy_ms);
	if (strcmp(st, "23505") == 0)
		return cki_err(
		    p->ctx, CK_E_EXISTS, "registry %s: %s", p->label, m);
	if (PQstatus(p->conn) != CONNECTION_OK)
		return cki_err(p->ctx, CK_E_NETWORK,
		    "registry unavailable: %s: %s", p->label, m);
	return cki_err(p->ctx, CK_E_IO, "registry %s: %s", p->label, m);
}

static ck_status pg_connect(struct pg *p);

/* Frees the notifications libpq queued while reading a result: the epoch
 * read after them covers them. */
static void
drain(struct pg *p)
{
	PGnotify *n;

	while ((n = PQnotifies(p->conn)) != NULL) {
		PQfreemem(n);
		p->notified = true;
	}
}

static PGresult *
pg_send(struct pg *p, const char *sql, int n, const char *const *v)
{
	/* Without parameters, several statements may go in one string. */
	return n == 0 ? PQexec(p->conn, sql)
	              : PQexecParams(p->conn, sql, n, NULL, v, NULL, NULL, 0);
}

/* Runs sql with text parameters; *out (if not NULL) gets the result. A
 * connection found dead by a statement outside a transaction (the server
 * restarted since the last call) is made again and the statement sent once
 * more: nothing of it was done. */
static ck_status
pg_query(
    struct pg *p, const char *sql, int n, const char *const *v, PGresult **out)
{
	PGresult *res = pg_send(p, sql, n, v);
	ExecStatusType t = PQresultStatus(res);
	ck_status rv = CK_OK;

	drain(p);
	if (t == PGRES_FATAL_ERROR && PQstatus(p->conn) == CONNECTION_BAD &&
	    !p->in_tx && time(NULL) - p->last_connect >= 1 &&
	    pg_connect(p) == CK_OK) {
		PQclear(res);
		res = pg_send(p, sql, n, v);
		t = PQresultStatus(res);
	}

	if (out != NULL)
		*out = NULL;
	if (t != PGRES_COMMAND_OK && t != PGRES_TUPLES_OK) {
		rv = pg_fail(p, res);
		PQclear(res);
		return rv;
	}
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return rv;
}

static ck_status
pg_exec(struct pg *p, const char *sql)
{
	return pg_query(p, sql, 0, NULL, NULL);
}

/* The only value of a one-row, one-column result as an integer. */
static ck_status
pg_int(struct pg *p, const char *sql, int n, const char *const *v, int64_t *out)
{
	PGresult *res = NULL;
	ck_status rv;

	*out = 0;
	if ((rv = pg_query(p, sql, n, v, &res)) != CK_OK)
		return rv;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		*out = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return CK_OK;
}

static void
pg_close(void *impl)
{
	struct pg *p = impl;

	if (p == NULL)
		return;
	/* Hand the single-writer jobs over now: the server drops a closed
	 * session's locks only when its backend exits, a moment after
	 * PQfinish() returns, so the next primary would wait a sweep. */
	if (p->nheld > 0 && !p->in_tx && p->conn != NULL &&
	    PQstatus(p->conn) == CONNECTION_OK)
		PQclear(PQexec(p->conn, "SELECT pg_advisory_unlock_all()"));
	PQfinish(p->conn);
	free(p->conninfo);
	free(p);
}

/* "host/dbname" for messages, from the conninfo without the password;
 * refuses a password written in it. */
static ck_status
pg_label(ck_ctx *ctx, const char *conninfo, char *out, size_t size)
{
	PQconninfoOption *o, *opts;
	const char *host = "local", *db = NULL, *user = NULL;
	char *err = NULL;
	ck_status rv = CK_OK;

	if ((opts = PQconninfoParse(conninfo, &err)) == NULL) {
		rv = cki_err(ctx, CK_E_USAGE,
		    "registry: not a PostgreSQL connection string: %s",
		    err != NULL ? err : "out of memory");
		PQfreemem(err);
		return rv;
	}
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "password") == 0)
			rv = cki_err(ctx, CK_E_USAGE,
			    "registry: the connection string holds a password; "
			    "put it in registry_password_file or PGPASSFILE "
			    "(pgpass format) instead");
		else if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
		else if (strcmp(o->keyword, "user") == 0)
			user = o->val;
	}
	snprintf(out, size, "postgresql %s/%s", host,
	    db != NULL ? db : (user != NULL ? user : "(default)"));
	PQconninfoFree(opts);
	return rv;
}

/* Connects (or reconnects), bounds every wait and LISTENs again if it
 * did (only the server's polling connection does: a connection that
 * LISTENs queues every notification until read). The defaults
 * come before dbname (the target), so the admin's conninfo overrides them.
 * A vanished database host is noticed within seconds (tcp_user_timeout,
 * keepalives, statement_timeout), not after TCP's minutes. */
static ck_status
pg_connect(struct pg *p)
{
	const char *kw[] = {"connect_timeout", "application_name",
	    "tcp_user_timeout", "keepalives_idle", "keepalives_interval",
	    "keepalives_count", "dbname", NULL};
	char app[64], sql[128];
	const char *val[] = {
	    "3", app, "3000", "5", "2", "2", p->conninfo, NULL};
	ck_status rv;

	/* pg_stat_activity names the primary: "certkit HOST PID". */
	snprintf(
	    app, sizeof(app), "certkit %.40s %ld", p->node, (long)getpid());
	snprintf(sql, sizeof(sql), "%s%sSET statement_timeout = %d",
	    p->listen & CKI_REG_NOTE_CLIENTS ? "LISTEN " PG_CHANNEL "; " : "",
	    p->listen & CKI_REG_NOTE_ENROLL ? "LISTEN " PG_ENROLL "; " : "",
	    p->busy_ms + 5000);
	p->last_connect = time(NULL);
	p->conn_gen++;
	p->nheld = 0; /* a new session holds no advisory lock */
	PQfinish(p->conn);
	p->conn = PQconnectdbParams(kw, val, 1);
	p->in_tx = false;
	if (p->conn == NULL)
		return cki_err(p->ctx, CK_E_NOMEM, "out of memory");
	if (PQstatus(p->conn) != CONNECTION_OK)
		return pg_fail(p, NULL);
	rv = pg_exec(p, sql);
	return rv;
}

/* Outside a transaction, a broken connection is made again (invariant
 * 3). */
static ck_status
pg_ready(struct pg *p)
{
	if (p->conn != NULL && PQstatus(p->conn) == CONNECTION_OK)
		return CK_OK;
	if (p->in_tx)
		return cki_err(p->ctx, CK_E_NETWORK,
		    "registry unavailable: %s: connection lost", p->label);
	if (time(NULL) - p->last_connect < 1)
		return cki_err(p->ctx, CK_E_NETWORK,
		    "registry unavailable: %s: connection lost; trying again "
		    "within a second",
		    p->label);
	return pg_connect(p);
}

static ck_status
pg_version(struct pg *p, int *v)
{
	int64_t n = 0;
	ck_status rv;

	*v = 0;
	if ((rv = pg_int(p,
	         "SELECT count(*) FROM pg_tables WHERE tablename "
	         "= 'schema_version' AND schemaname = "
	         "current_schema()",
	         0, NULL, &n)) != CK_OK ||
	    n == 0)
		return rv;
	rv = pg_int(p, "SELECT max(version) FROM schema_version", 0, NULL, &n);
	*v = (int)n;
	return rv;
}

static ck_status
pg_new(ck_ctx *ctx, const char *target, int busy_ms, struct pg **out)
{
	struct pg *p;
	ck_status rv;

	*out = NULL;
	if ((rv = cki_pq_load(ctx)) != CK_OK)
		return rv;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->conninfo = strdup(pg_conninfo(target))) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	p->ctx = ctx;
	p->busy_ms = busy_ms;
	if (gethostname(p->node, sizeof(p->node) - 1) != 0)
		snprintf(p->node, sizeof(p->node), "unknown");
	if ((rv = pg_label(ctx, p->conninfo, p->label, sizeof(p->label))) !=
	        CK_OK ||
	    (rv = pg_connect(p)) != CK_OK)
		goto err;
	*out = p;
	p = NULL;
err:
	pg_close(p);
	return rv;
}

static ck_status
pg_open(ck_ctx *ctx, const char *target, int busy_ms, void **impl)
{
	struct pg *p = NULL;
	ck_status rv;
	int v = 0;

	*impl = NULL;
	if ((rv = pg_new(ctx, target, busy_ms, &p)) != CK_OK)
		return rv;
	if ((rv = pg_version(p, &v)) != CK_OK)
		goto err;
	if (v == 0)
		rv = cki_err(ctx, CK_E_NOTFOUND,
		    "registry %s has no schema; run: certkit registry migrate",
		    p->label);
	else if (v != CKI_REG_SCHEMA)
		rv = cki_err(ctx, CK_E_FORMAT,
		    "registry %s has schema version %d, this certkit expects "
		    "%d; %s",
		    p->label, v, CKI_REG_SCHEMA,
		    v < CKI_REG_SCHEMA ? "run: certkit registry migrate"
		                       : "use a newer certkit");
	if (rv != CK_OK)
		goto err;
	*impl = p;
	p = NULL;
err:
	pg_close(p);
	return rv;
}

static ck_status
pg_migrate(ck_ctx *ctx, const char *target, int *from)
{
	struct pg *p = NULL;
	ck_status rv;

	*from = 0;
	if ((rv = pg_new(ctx, target, 30000, &p)) != CK_OK)
		return rv;
	if ((rv = pg_exec(p, "BEGIN")) != CK_OK ||
	    (rv = pg_exec(p, "SELECT pg_advisory_xact_lock(1667592820)")) !=
	        CK_OK ||
	    (rv = pg_version(p, from)) != CK_OK)
		goto err;
	if (*from > CKI_REG_SCHEMA) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "registry %s has schema version %d, newer than this "
		    "certkit's %d; use a newer certkit",
		    p->label, *from, CKI_REG_SCHEMA);
		goto err;
	}
	if ((*from == 0 && (rv = pg_exec(p, schema_v1)) != CK_OK) ||
	    (*from < 2 && (rv = pg_exec(p, schema_v2)) != CK_OK) ||
	    (*from < 3 && (rv = pg_exec(p, schema_v3)) != CK_OK))
		goto err;
	rv = pg_exec(p, "COMMIT");
err:
	if (rv != CK_OK && p->conn != NULL)
		PQclear(PQexec(p->conn, "ROLLBACK"));
	pg_close(p);
	return rv;
}

static ck_status
pg_begin(void *impl)
{
	struct pg *p = impl;
	char sql[96];
	ck_status rv;

	p->retry = false;
	if ((rv = pg_ready(p)) != CK_OK)
		return rv;
	snprintf(sql, sizeof(sql),
	    "BEGIN ISOLATION LEVEL SERIALIZABLE; SET LOCAL lock_timeout = %d",
	    p->busy_ms > 0 ? p->busy_ms : 1);
	if ((rv = pg_exec(p, sql)) != CK_OK) {
		PQclear(PQexec(p->conn, "ROLLBACK"));
		return rv;
	}
	p->in_tx = true;
	return CK_OK;
}

static ck_status
pg_commit(void *impl)
{
	struct pg *p = impl;
	ck_status rv = pg_exec(p, "COMMIT");

	if (rv != CK_OK)
		PQclear(PQexec(p->conn, "ROLLBACK"));
	p->in_tx = false;
	return rv;
}

static void
pg_rollback(void *impl)
{
	struct pg *p = impl;

	if (p->in_tx && PQstatus(p->conn) == CONNECTION_OK)
		PQclear(PQexec(p->conn, "ROLLBACK"));
	p->in_tx = false;
}

static bool
pg_retryable(void *impl)
{
	return ((struct pg *)impl)->retry;
}

static char *
val_dup(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL
	                                  : strdup(PQgetvalue(res, row, col));
}

static void
val_copy(const PGresult *res, int row, int col, char *out, size_t size)
{
	snprintf(out, size, "%s", PQgetvalue(res, row, col));
}

static int64_t
val_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* One row of COLS into c (cleared first). */
static void
read_row(const PGresult *res, int i, struct cki_client *c)
{
	int sv = cki_reg_state_parse(PQgetvalue(res, i, 6));

	cki_client_clear(c);
	val_copy(res, i, 0, c->id, sizeof(c->id));
	val_copy(res, i, 1, c->spki, sizeof(c->spki));
	c->name = val_dup(res, i, 2);
	c->subject = val_dup(res, i, 3);
	c->sans = val_dup(res, i, 4);
	val_copy(res, i, 5, c->cert_sha256, sizeof(c->cert_sha256));
	c->state = sv < 0 ? CKI_REG_PENDING : (enum cki_reg_state)sv;
	c->policy = val_dup(res, i, 7);
	c->reason = val_dup(res, i, 8);
	val_copy(res, i, 9, c->conflict_of, sizeof(c->conflict_of));
	c->version = val_int(res, i, 10);
	c->first_seen = val_int(res, i, 11);
	c->last_seen = val_int(res, i, 12);
	c->changed = val_int(res, i, 13);
	c->agent_version = val_dup(res, i, 14);
	c->facts = val_dup(res, i, 15);
}

/* Runs a query returning client rows, calling cb on each. */
static ck_status
query_rows(struct pg *p, const char *sql, int n, const char *const *v,
    cki_client_cb cb, void *arg)
{
	struct cki_client c = {0};
	PGresult *res = NULL;
	ck_status rv;

	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p, sql, n, v, &res)) != CK_OK)
		return rv;
	for (int i = 0; i < PQntuples(res); i++) {
		read_row(res, i, &c);
		if (cb(arg, &c) != 0)
			break;
	}
	cki_client_clear(&c);
	PQclear(res);
	return CK_OK;
}

static ck_status
pg_get(void *impl, enum cki_reg_key k, const char *val, struct cki_client *out,
    bool *found)
{
	static const char *const sql[][2] = {
	    {"SELECT " COLS " FROM clients WHERE id = $1",
	        "SELECT " COLS " FROM clients WHERE id = $1 FOR UPDATE"},
	    {"SELECT " COLS " FROM clients WHERE spki = $1",
	        "SELECT " COLS " FROM clients WHERE spki = $1 FOR UPDATE"},
	    {"SELECT " COLS " FROM clients WHERE name = $1 AND conflict_of IS "
	     "NULL AND state IN ('pending', 'approved', 'suspended') ORDER BY "
	     "first_seen, id LIMIT 1",
	        "SELECT " COLS " FROM clients WHERE name = $1 AND conflict_of "
	        "IS NULL AND state IN ('pending', 'approved', 'suspended') "
	        "ORDER BY first_seen, id LIMIT 1 FOR UPDATE"},
	};
	struct pg *p = impl;
	PGresult *res = NULL;
	ck_status rv;

	*found = false;
	cki_client_clear(out);
	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p, sql[k][p->in_tx], 1, &val, &res)) != CK_OK)
		return rv;
	if (PQntuples(res) > 0) {
		read_row(res, 0, out);
		*found = true;
	}
	PQclear(res);
	return CK_OK;
}

static ck_status
pg_select(
    void *impl, const struct cki_reg_query *q, cki_client_cb cb, void *arg)
{
	char before[24], limit[24];
	const char *v[4] = {q->state < 0 ? NULL : cki_reg_state_name(q->state),
	    q->prefix, before, limit};

	snprintf(before, sizeof(before), "%lld", (long long)q->changed_before);
	snprintf(limit, sizeof(limit), "%ld", q->limit > 0 ? q->limit : -1L);
	return query_rows(impl,
	    "SELECT " COLS " FROM clients WHERE ($1::text IS NULL OR state = "
	    "$1) AND ($2::text IS NULL OR starts_with(id, $2) OR "
	    "starts_with(spki, $2)) AND ($3::bigint <= 0 OR changed < $3) "
	    "ORDER BY first_seen, id LIMIT CASE WHEN $4::bigint < 0 THEN NULL "
	    "ELSE $4::bigint END",
	    4, v, cb, arg);
}

static ck_status
pg_count(void *impl, int state, long *n)
{
	struct pg *p = impl;
	const char *v = state < 0 ? NULL : cki_reg_state_name(state);
	int64_t x = 0;
	ck_status rv;

	*n = 0;
	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_int(p,
	         "SELECT count(*) FROM clients WHERE $1::text IS NULL OR "
	         "state = $1",
	         1, &v, &x)) != CK_OK)
		return rv;
	*n = (long)x;
	return CK_OK;
}

/* The parameters insert() and update() share as $1..$11 (buffers in t). */
struct auth_vals {
	const char *v[14];
	char changed[24], n12[24], n13[24];
};

static void
auth_vals(struct auth_vals *t, const struct cki_client *c)
{
	t->v[0] = c->id;
	t->v[1] = c->spki;
	t->v[2] = c->name;
	t->v[3] = c->subject;
	t->v[4] = c->sans;
	t->v[5] = c->cert_sha256;
	t->v[6] = cki_reg_state_name(c->state);
	t->v[7] = c->policy;
	t->v[8] = c->reason;
	t->v[9] = c->conflict_of[0] != '\0' ? c->conflict_of : NULL;
	snprintf(t->changed, sizeof(t->changed), "%lld", (long long)c->changed);
	t->v[10] = t->changed;
	t->v[11] = t->n12;
	t->v[12] = t->n13;
	t->v[13] = NULL;
}

/* Runs a write; *n gets the rows it changed. */
static ck_status
pg_write(struct pg *p, const char *sql, int n, const char *const *v, long *rows)
{
	PGresult *res = NULL;
	ck_status rv;

	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p, sql, n, v, &res)) != CK_OK)
		return rv;
	if (rows != NULL)
		*rows = strtol(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return CK_OK;
}

static ck_status
pg_insert(void *impl, const struct cki_client *c)
{
	struct auth_vals t;

	auth_vals(&t, c);
	snprintf(t.n12, sizeof(t.n12), "%lld", (long long)c->first_seen);
	snprintf(t.n13, sizeof(t.n13), "%lld", (long long)c->last_seen);
	return pg_write(impl,
	    "INSERT INTO clients (id, spki, name, subject, sans, cert_sha256, "
	    "state, policy, reason, conflict_of, changed, version, first_seen, "
	    "last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, "
	    "1, $12, $13)",
	    13, t.v, NULL);
}

static ck_status
pg_load(void *impl, const struct cki_client *c)
{
	struct auth_vals t;
	char ver[24];
	const char *v[16];

	auth_vals(&t, c);
	snprintf(t.n12, sizeof(t.n12), "%lld", (long long)c->first_seen);
	snprintf(t.n13, sizeof(t.n13), "%lld", (long long)c->last_seen);
	snprintf(ver, sizeof(ver), "%lld", (long long)c->version);
	memcpy(v, t.v, 13 * sizeof(v[0]));
	v[13] = ver;
	v[14] = c->agent_version;
	v[15] = c->facts;
	return pg_write(impl,
	    "INSERT INTO clients (id, spki, name, subject, sans, cert_sha256, "
	    "state, policy, reason, conflict_of, changed, first_seen, "
	    "last_seen, version, agent_version, facts) VALUES ($1, $2, $3, $4, "
	    "$5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
	    16, v, NULL);
}

static ck_status
pg_update(void *impl, const struct cki_client *c, int64_t expect)
{
	struct pg *p = impl;
	struct auth_vals t;
	long n = 0;
	ck_status rv;

	auth_vals(&t, c);
	snprintf(t.n12, sizeof(t.n12), "%lld", (long long)expect);
	rv = pg_write(p,
	    "UPDATE clients SET spki = $2, name = $3, subject = $4, sans = $5, "
	    "cert_sha256 = $6, state = $7, policy = $8, reason = $9, "
	    "conflict_of = $10, changed = $11, version = $12::bigint + 1 "
	    "WHERE id = $1 AND version = $12",
	    12, t.v, &n);
	if (rv == CK_OK && n != 1)
		rv = cki_err(p->ctx, CK_E_CONFLICT,
		    "client %s changed while it was being updated (expected "
		    "version %lld)",
		    c->id, (long long)expect);
	return rv;
}

static ck_status
pg_remove(void *impl, const char *id, int64_t expect)
{
	struct pg *p = impl;
	char ver[24];
	const char *v[2] = {id, ver};
	long n = 0;
	ck_status rv;

	snprintf(ver, sizeof(ver), "%lld", (long long)expect);
	rv = pg_write(
	    p, "DELETE FROM clients WHERE id = $1 AND version = $2", 2, v, &n);
	if (rv == CK_OK && n != 1)
		rv = cki_err(p->ctx, CK_E_CONFLICT,
		    "client %s changed while it was being removed (expected "
		    "version %lld)",
		    id, (long long)expect);
	return rv;
}

static ck_status
pg_touch(void *impl, const struct cki_seen *s)
{
	struct pg *p = impl;
	char t[24];
	const char *v[5] = {s->spki, t, s->agent_version, s->facts, p->node};

	snprintf(t, sizeof(t), "%lld", (long long)s->time);
	return pg_write(p,
	    "UPDATE clients SET last_seen = greatest(last_seen, $2::bigint), "
	    "agent_version = coalesce($3, agent_version), facts = "
	    "coalesce($4, facts), seen_by = $5 WHERE spki = $1",
	    5, v, NULL);
}

static ck_status
pg_audit_add(void *impl, const struct cki_audit *a)
{
	char t[24];
	const char *v[8] = {t, a->client_id, a->spki, a->who, a->action, a->why,
	    a->from_state, a->to_state};

	snprintf(t, sizeof(t), "%lld", (long long)a->time);
	return pg_write(impl,
	    "INSERT INTO audit (time, client_id, spki, who, action, why, "
	    "from_state, to_state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
	    8, v, NULL);
}

static void
read_audit(const PGresult *res, int i, struct cki_audit *a)
{
	cki_audit_clear(a);
	a->seq = val_int(res, i, 0);
	a->time = val_int(res, i, 1);
	val_copy(res, i, 2, a->client_id, sizeof(a->client_id));
	val_copy(res, i, 3, a->spki, sizeof(a->spki));
	a->who = val_dup(res, i, 4);
	a->action = val_dup(res, i, 5);
	a->why = val_dup(res, i, 6);
	a->from_state = val_dup(res, i, 7);
	a->to_state = val_dup(res, i, 8);
}

static ck_status
pg_audit_each(void *impl, int64_t since, cki_audit_cb cb, void *arg)
{
	struct pg *p = impl;
	struct cki_audit a = {0};
	PGresult *res = NULL;
	char t[24];
	const char *v = t;
	ck_status rv;

	snprintf(t, sizeof(t), "%lld", (long long)since);
	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p,
	         "SELECT seq, time, client_id, spki, who, action, why, "
	         "from_state, to_state FROM audit WHERE time >= $1 ORDER BY "
	         "seq",
	         1, &v, &res)) != CK_OK)
		return rv;
	for (int i = 0; i < PQntuples(res); i++) {
		read_audit(res, i, &a);
		if (cb(arg, &a) != 0)
			break;
	}
	cki_audit_clear(&a);
	PQclear(res);
	return CK_OK;
}

/* The revocation epoch; the notifications that arrived are consumed (the
 * epoch read after them covers them). */
static ck_status
pg_token(void *impl, uint64_t *tok)
{
	struct pg *p = impl;
	int64_t e = 0;
	ck_status rv;

	if ((rv = pg_ready(p)) != CK_OK)
		return rv;
	if (PQconsumeInput(p->conn) == 1)
		drain(p);
	if ((rv = pg_int(p, "SELECT revocation_epoch FROM registry_epoch", 0,
	         NULL, &e)) == CK_OK)
		*tok = (uint64_t)e;
	return rv;
}

/* The database's clock (invariant 4). */
static ck_status
pg_now(void *impl, int64_t *now)
{
	struct pg *p = impl;
	ck_status rv;

	if ((rv = pg_ready(p)) != CK_OK)
		return rv;
	return pg_int(
	    p, "SELECT extract(epoch FROM now())::bigint", 0, NULL, now);
}

/* A single-writer job: true if this connection holds (or now took) its
 * session advisory lock (invariant 5). */
static ck_status
pg_job(void *impl, const char *name, bool *mine)
{
	struct pg *p = impl;
	int64_t got = 0;
	ck_status rv;

	*mine = false;
	if ((rv = pg_ready(p)) != CK_OK)
		return rv;
	for (int i = 0; i < p->nheld; i++)
		if (strcmp(p->held[i], name) == 0) {
			*mine = true;
			return CK_OK;
		}
	if ((rv = pg_int(p,
	         "SELECT CASE WHEN pg_try_advisory_lock(hashtext('certkit:' "
	         "|| $1)) THEN 1 ELSE 0 END",
	         1, &name, &got)) != CK_OK)
		return rv;
	if (got == 1 && p->nheld < 4)
		snprintf(p->held[p->nheld++], sizeof(p->held[0]), "%s", name);
	*mine = got == 1;
	return CK_OK;
}

/* The socket of this connection, which LISTENs on the channels of chans
 * from the first call on. */
static int
pg_notify_fd(void *impl, unsigned chans)
{
	struct pg *p = impl;

	if (p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK || p->in_tx)
		return -1;
	if ((chans & CKI_REG_NOTE_CLIENTS) &&
	    !(p->listen & CKI_REG_NOTE_CLIENTS)) {
		if (pg_exec(p, "LISTEN " PG_CHANNEL) != CK_OK)
			return -1;
		p->listen |= CKI_REG_NOTE_CLIENTS;
	}
	if ((chans & CKI_REG_NOTE_ENROLL) &&
	    !(p->listen & CKI_REG_NOTE_ENROLL)) {
		if (pg_exec(p, "LISTEN " PG_ENROLL) != CK_OK)
			return -1;
		p->listen |= CKI_REG_NOTE_ENROLL;
	}
	return PQsocket(p->conn);
}

static bool
pg_notified(void *impl)
{
	struct pg *p = impl;
	bool was = p->notified;

	p->notified = false;
	return was;
}

static unsigned
pg_conn_gen(void *impl)
{
	return ((struct pg *)impl)->conn_gen;
}

/* ---- enrollment (schema 2) --------------------------------------------- */

#define REQ_COLS                                                               \
	"id, client_id, spki, csr, names, state, coalesce(serial, ''), "       \
	"created, changed"

static ck_status
pg_req_insert(void *impl, const struct cki_ereq *q)
{
	char t[24];
	const char *v[6] = {q->id, q->client_id, q->spki, q->csr, q->names, t};

	snprintf(t, sizeof(t), "%lld", (long long)q->created);
	/* the signers wake at the commit (enroll_signer.c) */
	return pg_write(impl,
	    "WITH r AS (INSERT INTO requests (id, client_id, spki, csr, names, "
	    "state, created, changed) VALUES ($1, $2, $3, $4, $5, 'pending', "
	    "$6, $6) RETURNING id) SELECT pg_notify('" PG_ENROLL
	    "', 'request ' || id) FROM r",
	    6, v, NULL);
}

static ck_status
pg_req_get(void *impl, const char *id, const char *spki, struct cki_ereq *out,
    bool *found)
{
	struct pg *p = impl;
	PGresult *res = NULL;
	const char *v = id != NULL ? id : spki;
	ck_status rv;

	*found = false;
	cki_ereq_clear(out);
	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p,
	         id != NULL ? "SELECT " REQ_COLS " FROM requests WHERE id = $1"
	                    : "SELECT " REQ_COLS " FROM requests WHERE spki = "
	                      "$1 ORDER BY created DESC, seq DESC LIMIT 1",
	         1, &v, &res)) != CK_OK)
		return rv;
	if (PQntuples(res) > 0) {
		val_copy(res, 0, 0, out->id, sizeof(out->id));
		val_copy(res, 0, 1, out->client_id, sizeof(out->client_id));
		val_copy(res, 0, 2, out->spki, sizeof(out->spki));
		out->csr = val_dup(res, 0, 3);
		out->names = val_dup(res, 0, 4);
		out->state = strcmp(PQgetvalue(res, 0, 5), "issued") == 0
		    ? CKI_EREQ_ISSUED
		    : CKI_EREQ_PENDING;
		val_copy(res, 0, 6, out->serial, sizeof(out->serial));
		out->created = val_int(res, 0, 7);
		out->changed = val_int(res, 0, 8);
		*found = true;
	}
	PQclear(res);
	return CK_OK;
}

static ck_status
pg_req_issue(void *impl, const char *id, const char *serial, int64_t now)
{
	struct pg *p = impl;
	char t[24];
	const char *v[3] = {id, serial, t};
	long n = 0;
	ck_status rv;

	snprintf(t, sizeof(t), "%lld", (long long)now);
	rv = pg_write(p,
	    "UPDATE requests SET state = 'issued', serial = $2, changed = $3 "
	    "WHERE id = $1 AND state = 'pending'",
	    3, v, &n);
	if (rv == CK_OK && n != 1)
		rv = cki_err(p->ctx, CK_E_CONFLICT,
		    "enrollment request %s is no longer pending", id);
	return rv;
}

static ck_status
pg_cert_insert(void *impl, const struct cki_cert_row *c)
{
	struct pg *p = impl;
	char nb[24], na[24], ra[24], re[16], *hex;
	const char *v[8] = {c->serial, c->client_id, c->spki, nb, na, ra, re};
	ck_status rv;

	if ((hex = malloc(2 * c->der_len + 1)) == NULL)
		return cki_err(p->ctx, CK_E_NOMEM, "out of memory");
	cki_hex(c->der, c->der_len, hex);
	v[7] = hex;
	snprintf(nb, sizeof(nb), "%lld", (long long)c->not_before);
	snprintf(na, sizeof(na), "%lld", (long long)c->not_after);
	snprintf(ra, sizeof(ra), "%lld", (long long)c->revoked_at);
	snprintf(re, sizeof(re), "%d", c->reason);
	rv = pg_write(p,
	    "INSERT INTO certs (serial, client_id, spki, not_before, "
	    "not_after, revoked_at, reason, der) VALUES ($1, $2, $3, $4, $5, "
	    "$6, $7, decode($8, 'hex'))",
	    8, v, NULL);
	free(hex);
	return rv;
}

/* One certs row (der as hex) into c; false when out of memory. */
static bool
read_cert(const PGresult *res, int i, struct cki_cert_row *c)
{
	const char *hex = PQgetvalue(res, i, 7);
	size_t n = strlen(hex) / 2;

	cki_cert_row_clear(c);
	val_copy(res, i, 0, c->serial, sizeof(c->serial));
	val_copy(res, i, 1, c->client_id, sizeof(c->client_id));
	val_copy(res, i, 2, c->spki, sizeof(c->spki));
	c->not_before = val_int(res, i, 3);
	c->not_after = val_int(res, i, 4);
	c->revoked_at = val_int(res, i, 5);
	c->reason = (int)val_int(res, i, 6);
	if (n == 0)
		return true;
	if ((c->der = malloc(n)) == NULL)
		return false;
	for (size_t k = 0; k < n; k++) {
		unsigned int b = 0;

		sscanf(hex + 2 * k, "%2x", &b);
		c->der[k] = (unsigned char)b;
	}
	c->der_len = n;
	return true;
}

static ck_status
pg_cert_select(
    void *impl, const struct cki_cert_query *q, cki_cert_cb cb, void *arg)
{
	struct pg *p = impl;
	struct cki_cert_row c = {0};
	PGresult *res = NULL;
	char rev[4], exp[24], lim[24];
	const char *v[6] = {q->serial, q->client_id, q->spki, rev, exp, lim};
	ck_status rv;

	snprintf(rev, sizeof(rev), "%d", q->revoked ? 1 : 0);
	snprintf(exp, sizeof(exp), "%lld", (long long)q->expires_after);
	snprintf(lim, sizeof(lim), "%ld", q->limit > 0 ? q->limit : -1L);
	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p,
	         "SELECT serial, client_id, spki, not_before, not_after, "
	         "revoked_at, reason, encode(der, 'hex') FROM certs WHERE "
	         "($1::text IS NULL OR serial = $1) AND ($2::text IS NULL OR "
	         "client_id = $2) AND ($3::text IS NULL OR spki = $3) AND "
	         "($4::int = 0 OR revoked_at > 0) AND not_after >= $5::bigint "
	         "ORDER BY not_before DESC, serial LIMIT CASE WHEN $6::bigint "
	         "< 0 THEN NULL ELSE $6::bigint END",
	         6, v, &res)) != CK_OK)
		return rv;
	for (int i = 0; i < PQntuples(res); i++) {
		if (!read_cert(res, i, &c)) {
			rv = cki_err(p->ctx, CK_E_NOMEM, "out of memory");
			break;
		}
		if (cb(arg, &c) != 0)
			break;
	}
	cki_cert_row_clear(&c);
	PQclear(res);
	return rv;
}

static ck_status
pg_cert_revoke(void *impl, const char *client_id, int64_t when, int reason)
{
	char t[24], r[16];
	const char *v[3] = {client_id, t, r};

	snprintf(t, sizeof(t), "%lld", (long long)when);
	snprintf(r, sizeof(r), "%d", reason);
	return pg_write(impl,
	    "UPDATE certs SET revoked_at = $2, reason = $3 WHERE client_id = "
	    "$1 AND revoked_at = 0",
	    3, v, NULL);
}

static ck_status
pg_token_insert(
    void *impl, const char *sha256, long uses, int64_t expires, int64_t created)
{
	char u[24], e[24], c[24];
	const char *v[4] = {sha256, u, e, c};

	snprintf(u, sizeof(u), "%ld", uses);
	snprintf(e, sizeof(e), "%lld", (long long)expires);
	snprintf(c, sizeof(c), "%lld", (long long)created);
	return pg_write(impl,
	    "INSERT INTO tokens (sha256, uses_left, expires, created) VALUES "
	    "($1, $2, $3, $4)",
	    4, v, NULL);
}

static ck_status
pg_token_use(void *impl, const char *sha256, int64_t now, bool *ok)
{
	char t[24];
	const char *v[2] = {sha256, t};
	long n = 0;
	ck_status rv;

	*ok = false;
	snprintf(t, sizeof(t), "%lld", (long long)now);
	rv = pg_write(impl,
	    "UPDATE tokens SET uses_left = uses_left - 1 WHERE sha256 = $1 AND "
	    "uses_left > 0 AND expires > $2",
	    2, v, &n);
	if (rv == CK_OK)
		*ok = n == 1;
	return rv;
}

/* ---- signers and the shared CRL (schema 3) ----------------------------- */

static ck_status
pg_node_put(void *impl, const char *name, const char *role, int64_t seen,
    const char *chain)
{
	char t[24];
	const char *v[4] = {name, role, t, chain};

	snprintf(t, sizeof(t), "%lld", (long long)seen);
	return pg_write(impl,
	    "INSERT INTO nodes (name, role, seen, ca_chain) VALUES ($1, $2, "
	    "$3, $4) ON CONFLICT (name) DO UPDATE SET role = excluded.role, "
	    "seen = excluded.seen, ca_chain = excluded.ca_chain",
	    4, v, NULL);
}

static ck_status
pg_node_signer(void *impl, int64_t since, bool *up, char **chain)
{
	struct pg *p = impl;
	PGresult *res = NULL;
	char t[24];
	const char *v[1] = {t};
	ck_status rv;

	snprintf(t, sizeof(t), "%lld", (long long)since);
	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p,
	         "SELECT coalesce(ca_chain, '') FROM nodes WHERE role = "
	         "'signer' AND seen >= $1 ORDER BY seen DESC LIMIT 1",
	         1, v, &res)) != CK_OK)
		return rv;
	*up = PQntuples(res) > 0;
	if (*up && chain != NULL && (*chain = val_dup(res, 0, 0)) == NULL)
		rv = cki_err(p->ctx, CK_E_NOMEM, "out of memory");
	PQclear(res);
	return rv;
}

static ck_status
pg_crl_get(void *impl, struct cki_crl_row *out, bool *found)
{
	struct pg *p = impl;
	PGresult *res = NULL;
	const char *hex;
	size_t n;
	ck_status rv;

	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p,
	         "SELECT number, built_at, digest, encode(der, 'hex') FROM "
	         "crl WHERE id = 1",
	         0, NULL, &res)) != CK_OK)
		return rv;
	if (PQntuples(res) > 0) {
		out->number = (uint64_t)val_int(res, 0, 0);
		out->built_at = val_int(res, 0, 1);
		val_copy(res, 0, 2, out->digest, sizeof(out->digest));
		hex = PQgetvalue(res, 0, 3);
		n = strlen(hex) / 2;
		if ((out->der = malloc(n + 1)) == NULL) {
			rv = cki_err(p->ctx, CK_E_NOMEM, "out of memory");
			goto out;
		}
		for (size_t k = 0; k < n; k++) {
			unsigned int b = 0;

			sscanf(hex + 2 * k, "%2x", &b);
			out->der[k] = (unsigned char)b;
		}
		out->der_len = n;
		*found = true;
	}
out:
	PQclear(res);
	return rv;
}

static ck_status
pg_crl_put(void *impl, const struct cki_crl_row *c, bool *stored)
{
	struct pg *p = impl;
	char num[24], at[24], *hex;
	const char *v[4] = {num, at, c->digest};
	long n = 0;
	ck_status rv;

	if ((hex = malloc(2 * c->der_len + 1)) == NULL)
		return cki_err(p->ctx, CK_E_NOMEM, "out of memory");
	cki_hex(c->der, c->der_len, hex);
	v[3] = hex;
	snprintf(num, sizeof(num), "%llu", (unsigned long long)c->number);
	snprintf(at, sizeof(at), "%lld", (long long)c->built_at);
	/* one row when stored; every primary re-reads it at the commit */
	rv = pg_write(p,
	    "WITH c AS (INSERT INTO crl (id, number, built_at, digest, der) "
	    "VALUES (1, $1, $2, $3, decode($4, 'hex')) ON CONFLICT (id) DO "
	    "UPDATE SET number = excluded.number, built_at = "
	    "excluded.built_at, digest = excluded.digest, der = excluded.der "
	    "WHERE crl.number < excluded.number RETURNING number) SELECT "
	    "pg_notify('" PG_ENROLL "', 'crl ' || number) FROM c",
	    4, v, &n);
	free(hex);
	*stored = rv == CK_OK && n == 1;
	return rv;
}

static ck_status
pg_req_ready(void *impl, char (*ids)[CKI_REG_ID_LEN + 1], size_t max, size_t *n)
{
	struct pg *p = impl;
	PGresult *res = NULL;
	char lim[24];
	const char *v[1] = {lim};
	ck_status rv;

	snprintf(lim, sizeof(lim), "%zu", max);
	if ((rv = pg_ready(p)) != CK_OK ||
	    (rv = pg_query(p,
	         "SELECT r.id FROM requests r JOIN clients c ON c.spki = "
	         "r.spki WHERE r.state = 'pending' AND c.state = 'approved' "
	         "ORDER BY r.created, r.seq LIMIT $1",
	         1, v, &res)) != CK_OK)
		return rv;
	for (int i = 0; i < PQntuples(res) && *n < max; i++)
		val_copy(res, i, 0, ids[(*n)++], CKI_REG_ID_LEN + 1);
	PQclear(res);
	return CK_OK;
}

const struct cki_reg_ops cki_reg_pg_ops = {
    .name = "postgresql",
    .claims = pg_claims,
    .open = pg_open,
    .close = pg_close,
    .migrate = pg_migrate,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .get = pg_get,
    .select = pg_select,
    .count = pg_count,
    .insert = pg_insert,
    .update = pg_update,
    .remove = pg_remove,
    .touch = pg_touch,
    .audit_add = pg_audit_add,
    .audit_each = pg_audit_each,
    .token = pg_token,
    .retryable = pg_retryable,
    .now = pg_now,
    .job = pg_job,
    .notify_fd = pg_notify_fd,
    .notified = pg_notified,
    .conn_gen = pg_conn_gen,
    .load = pg_load,
    .req_insert = pg_req_insert,
    .req_get = pg_req_get,
    .req_issue = pg_req_issue,
    .cert_insert = pg_cert_insert,
    .cert_select = pg_cert_select,
    .cert_revoke = pg_cert_revoke,
    .token_insert = pg_token_insert,
    .token_use = pg_token_use,
    .node_put = pg_node_put,
    .node_signer = pg_node_signer,
    .crl_get = pg_crl_get,
    .crl_put = pg_crl_put,
    .req_ready = pg_req_ready,
};
