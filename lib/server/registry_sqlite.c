/*
 * registry_sqlite.c: the SQLite backend of the registry (registry_be.h),
 * the default: HOME/server/registry.db.
 *
 * The on-disk format (schema version 1, created only by migrate()):
 *
 *   schema_version(version)             one row: 1
 *   clients(id PK, spki UNIQUE, name, subject, sans, cert_sha256,
 *           state TEXT CHECK IN (pending, approved, rejected, suspended,
 *           revoked), policy, reason,
 *           conflict_of REFERENCES clients(id) ON DELETE SET NULL,
 *           version, first_seen, last_seen, changed, agent_version, facts)
 *   audit(seq AUTOINCREMENT, time, client_id, spki, who, action, why,
 *         from_state, to_state)       triggers refuse UPDATE and DELETE
 *
 * Schema version 2 adds (registry_be.h, invariant 6):
 *
 *   requests(id PK, client_id, spki, csr, state CHECK IN (pending, issued),
 *            names, serial, created, changed)
 *   certs(serial PK, client_id, spki, not_before, not_after, revoked_at,
 *         reason, der BLOB)
 *   tokens(sha256 PK, uses_left, expires, created)
 *   (schema 3) nodes(name PK, role, seen, ca_chain), crl(id PK = 1, number,
 *         built_at, digest, der BLOB)
 *
 * Times are unix seconds; states are the words of cki_reg_state_name(), so
 * an admin can read the file with the sqlite3 shell.
 *
 * Invariants:
 *  1. The file is created mode 0600 (its -wal and -shm copy that mode) in a
 *     0700 directory, in WAL mode (persistent), so readers never wait for
 *     the writer.
 *  2. Every connection sets busy_timeout and foreign_keys; every write is
 *     one BEGIN IMMEDIATE transaction, so the write lock is taken up front
 *     and a busy database is a clear CK_E_LOCKED, never a deadlock.
 *  3. open() never creates anything: a missing file or schema is an error
 *     saying "run: certkit registry migrate".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "registry_be.h"

struct sq {
	ck_ctx *ctx;
	sqlite3 *db;
	char *path;
	int busy_ms;
	sqlite3_stmt *touch; /* kept: a presence batch runs every second */
};

#define COLS                                                                   \
	"id, spki, name, subject, sans, cert_sha256, state, policy, reason, "  \
	"coalesce(conflict_of, ''), version, first_seen, last_seen, changed, " \
	"agent_version, facts"

static const char schema_v1[] =
    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
    "CREATE TABLE clients ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " spki TEXT NOT NULL UNIQUE CHECK (length(spki) = 64),"
    " name TEXT, subject TEXT, sans TEXT,"
    " cert_sha256 TEXT NOT NULL DEFAULT '',"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'approved',"
    "  'rejected', 'suspended', 'revoked')),"
    " policy TEXT, reason TEXT,"
    " conflict_of TEXT REFERENCES clients(id) ON DELETE SET NULL,"
    " version INTEGER NOT NULL DEFAULT 1,"
    " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL DEFAULT 0,"
    " changed INTEGER NOT NULL,"
    " agent_version TEXT, facts TEXT);"
    "CREATE INDEX clients_name ON clients(name);"
    "CREATE INDEX clients_state ON clients(state, changed);"
    "CREATE INDEX clients_conflict ON clients(conflict_of);"
    "CREATE TABLE audit ("
    " seq INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL,"
    " client_id TEXT NOT NULL, spki TEXT NOT NULL, who TEXT NOT NULL,"
    " action TEXT NOT NULL, why TEXT, from_state TEXT, to_state TEXT);"
    "CREATE INDEX audit_time ON audit(time);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN"
    " SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN"
    " SELECT RAISE(ABORT, 'audit rows are append-only'); END;"
    "INSERT INTO schema_version VALUES (1);";

/* 1 -> 2: the enrollment tables (clients and audit unchanged). */
static const char schema_v2[] =
    "CREATE TABLE requests ("
    " id TEXT PRIMARY KEY NOT NULL, client_id TEXT NOT NULL,"
    " spki TEXT NOT NULL CHECK (length(spki) = 64), csr TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('pending', 'issued')),"
    " names TEXT, serial TEXT,"
    " created INTEGER NOT NULL, changed INTEGER NOT NULL);"
    "CREATE INDEX requests_spki ON requests(spki, created);"
    "CREATE TABLE certs ("
    " serial TEXT PRIMARY KEY NOT NULL, client_id TEXT NOT NULL,"
    " spki TEXT NOT NULL, not_before INTEGER NOT NULL,"
    " not_after INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0,"
    " reason INTEGER NOT NULL DEFAULT 0, der BLOB NOT NULL);"
    "CREATE INDEX certs_client ON certs(client_id, not_before);"
    "CREATE INDEX certs_spki ON certs(spki, not_before);"
    "CREATE INDEX certs_revoked ON certs(revoked_at, not_after);"
    "CREATE TABLE tokens ("
    " sha256 TEXT PRIMARY KEY NOT NULL, uses_left INTEGER NOT NULL,"
    " expires INTEGER NOT NULL, created INTEGER NOT NULL);"
    "UPDATE schema_version SET version = 2;";

/* 2 -> 3: signers' presence and the shared CRL (registry_be.h). */
static const char schema_v3[] =
    "CREATE TABLE nodes ("
    " name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('signer',"
    " 'none')), seen INTEGER NOT NULL, ca_chain TEXT);"
    "CREATE TABLE crl ("
    " id INTEGER PRIMARY KEY CHECK (id = 1), number INTEGER NOT NULL,"
    " built_at INTEGER NOT NULL, digest TEXT NOT NULL, der BLOB NOT NULL);"
    "UPDATE schema_version SET version = 3;";

static const char *
sq_path(const char *target)
{
	return strncmp(target, "sqlite:", 7) == 0 ? target + 7 : target;
}

static bool
sq_claims(const char *target)
{
	return strncmp(target, "sqlite:", 7) == 0 ||
	    strstr(target, "://") == NULL;
}

/* The error of the last call on db: LOCKED for a busy database, else IO. */
static ck_status
sq_fail(ck_ctx *ctx, sqlite3 *db, const char *path, int busy_ms, int rc)
{
	int prim = rc & 0xff;

	if (prim == SQLITE_BUSY || prim == SQLITE_LOCKED)
		return cki_err(ctx, CK_E_LOCKED,
		    "registry locked: %s is held by another process (waited "
		    "%d ms); try again later",
		    path, busy_ms);
	if (rc == SQLITE_CONSTRAINT_UNIQUE ||
	    rc == SQLITE_CONSTRAINT_PRIMARYKEY)
		return cki_err(ctx, CK_E_EXISTS, "registry %s: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	return cki_err(ctx, CK_E_IO, "registry %s: %s", path,
	    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
}

static ck_status
fail(struct sq *s, int rc)
{
	return sq_fail(s->ctx, s->db, s->path, s->busy_ms, rc);
}

/* Runs SQL without results. */
static ck_status
sq_exec(struct sq *s, const char *sql)
{
	int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? CK_OK : fail(s, rc);
}

static ck_status
sq_prepare(struct sq *s, const char *sql, sqlite3_stmt **st)
{
	int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);

	return rc == SQLITE_OK ? CK_OK : fail(s, rc);
}

static void
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v == NULL)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}

static char *
col_dup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	return v != NULL ? strdup((const char *)v) : NULL;
}

static void
col_copy(sqlite3_stmt *st, int i, char *out, size_t size)
{
	const unsigned char *v = sqlite3_column_text(st, i);

	snprintf(out, size, "%s", v != NULL ? (const char *)v : "");
}

/* One row of COLS into c (cleared first). */
static void
read_row(sqlite3_stmt *st, struct cki_client *c)
{
	const unsigned char *state = sqlite3_column_text(st, 6);
	int sv = cki_reg_state_parse(state != NULL ? (const char *)state : "");

	cki_client_clear(c);
	col_copy(st, 0, c->id, sizeof(c->id));
	col_copy(st, 1, c->spki, sizeof(c->spki));
	c->name = col_dup(st, 2);
	c->subject = col_dup(st, 3);
	c->sans = col_dup(st, 4);
	col_copy(st, 5, c->cert_sha256, sizeof(c->cert_sha256));
	c->state = sv < 0 ? CKI_REG_PENDING : (enum cki_reg_state)sv;
	c->policy = col_dup(st, 7);
	c->reason = col_dup(st, 8);
	col_copy(st, 9, c->conflict_of, sizeof(c->conflict_of));
	c->version = sqlite3_column_int64(st, 10);
	c->first_seen = sqlite3_column_int64(st, 11);
	c->last_seen = sqlite3_column_int64(st, 12);
	c->changed = sqlite3_column_int64(st, 13);
	c->agent_version = col_dup(st, 14);
	c->facts = col_dup(st, 15);
}

/* The schema version of an open database: 0 when there is none. */
static ck_status
sq_version(struct sq *s, int *v)
{
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int rc;

	*v = 0;
	if ((rv = sq_prepare(s,
	         "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
	         "AND name = 'schema_version'",
	         &st)) != CK_OK)
		return rv;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = fail(s, rc);
		goto err;
	}
	if (sqlite3_column_int(st, 0) == 0)
		goto err;
	sqlite3_finalize(st);
	st = NULL;
	if ((rv = sq_prepare(
	         s, "SELECT max(version) FROM schema_version", &st)) != CK_OK)
		goto err;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		rv = fail(s, rc);
		goto err;
	}
	*v = sqlite3_column_int(st, 0);
err:
	sqlite3_finalize(st);
	return rv;
}

static void
sq_close(void *impl)
{
	struct sq *s = impl;

	if (s == NULL)
		return;
	sqlite3_finalize(s->touch);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

/* Opens the file (flags: SQLITE_OPEN_*) with the connection settings. */
static ck_status
sq_connect(ck_ctx *ctx, const char *path, int busy_ms, struct sq **out)
{
	struct sq *s = calloc(1, sizeof(*s));
	ck_status rv = CK_OK;
	int rc;

	*out = NULL;
	if (s == NULL || (s->path = strdup(path)) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	s->ctx = ctx;
	s->busy_ms = busy_ms;
	rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		rv = fail(s, rc);
		goto err;
	}
	sqlite3_busy_timeout(s->db, busy_ms);
	sqlite3_extended_result_codes(s->db, 1);
	if ((rv = sq_exec(s, "PRAGMA foreign_keys = ON")) != CK_OK)
		goto err;
	*out = s;
	s = NULL;
err:
	sq_close(s);
	return rv;
}

static ck_status
sq_open(ck_ctx *ctx, const char *target, int busy_ms, void **impl)
{
	const char *path = sq_path(target);
	struct sq *s = NULL;
	struct stat sb;
	ck_status rv;
	int v;

	*impl = NULL;
	if (stat(path, &sb) != 0)
		return cki_err(ctx, errno == ENOENT ? CK_E_NOTFOUND : CK_E_IO,
		    "registry %s: %s; run: certkit registry migrate", path,
		    strerror(errno));
	if ((rv = sq_connect(ctx, path, busy_ms, &s)) != CK_OK)
		return rv;
	if ((rv = sq_version(s, &v)) != CK_OK)
		goto err;
	if (v == 0) {
		rv = cki_err(ctx, CK_E_NOTFOUND,
		    "registry %s has no schema; run: certkit registry migrate",
		    path);
		goto err;
	}
	if (v != CKI_REG_SCHEMA) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "registry %s has schema version %d, this certkit expects "
		    "%d; %s",
		    path, v, CKI_REG_SCHEMA,
		    v < CKI_REG_SCHEMA ? "run: certkit registry migrate"
		                       : "use a newer certkit");
		goto err;
	}
	*impl = s;
	s = NULL;
err:
	sq_close(s);
	return rv;
}

/* Creates the directory (0700) and the file (0600) if missing. */
static ck_status
sq_create_file(ck_ctx *ctx, const char *path)
{
	char *dir = strdup(path);
	char *slash;
	ck_status rv = CK_OK;
	int fd;

	if (dir == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	slash = strrchr(dir, '/');
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		if ((rv = cki_mkdirs(ctx, dir, 0700)) != CK_OK)
			goto err;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		rv = cki_err(ctx, CK_E_IO, "registry %s: cannot create: %s",
		    path, strerror(errno));
		goto err;
	}
	close(fd);
err:
	free(dir);
	return rv;
}

static ck_status
sq_migrate(ck_ctx *ctx, const char *target, int *from)
{
	const char *path = sq_path(target);
	struct sq *s = NULL;
	ck_status rv;

	*from = 0;
	if ((rv = sq_create_file(ctx, path)) != CK_OK)
		return rv;
	if ((rv = sq_connect(ctx, path, 5000, &s)) != CK_OK)
		return rv;
	if ((rv = sq_exec(s, "PRAGMA journal_mode = WAL")) != CK_OK ||
	    (rv = sq_exec(s, "BEGIN IMMEDIATE")) != CK_OK)
		goto err;
	if ((rv = sq_version(s, from)) != CK_OK)
		goto rollback;
	if (*from > CKI_REG_SCHEMA) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "registry %s has schema version %d, newer than this "
		    "certkit's %d; use a newer certkit",
		    path, *from, CKI_REG_SCHEMA);
		goto rollback;
	}
	if (*from == 0 && (rv = sq_exec(s, schema_v1)) != CK_OK)
		goto rollback;
	if (*from < 2 && (rv = sq_exec(s, schema_v2)) != CK_OK)
		goto rollback;
	if (*from < 3 && (rv = sq_exec(s, schema_v3)) != CK_OK)
		goto rollback;
	rv = sq_exec(s, "COMMIT");
	goto err;
rollback:
	sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
err:
	sq_close(s);
	return rv;
}

static ck_status
sq_begin(void *impl)
{
	return sq_exec(impl, "BEGIN IMMEDIATE");
}

static ck_status
sq_commit(void *impl)
{
	struct sq *s = impl;
	ck_status rv = sq_exec(s, "COMMIT");

	if (rv != CK_OK)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

static void
sq_rollback(void *impl)
{
	struct sq *s = impl;

	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Steps a statement that returns client rows, calling cb on each. */
static ck_status
step_rows(struct sq *s, sqlite3_stmt *st, cki_client_cb cb, void *arg)
{
	struct cki_client c = {0};
	ck_status rv = CK_OK;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(st, &c);
		if (cb(arg, &c) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = fail(s, rc);
	cki_client_clear(&c);
	return rv;
}

static ck_status
sq_get(void *impl, enum cki_reg_key k, const char *val, struct cki_client *out,
    bool *found)
{
	static const char *const sql[] = {
	    "SELECT " COLS " FROM clients WHERE id = ?1",
	    "SELECT " COLS " FROM clients WHERE spki = ?1",
	    "SELECT " COLS " FROM clients WHERE name = ?1 AND conflict_of IS "
	    "NULL AND state IN ('pending', 'approved', 'suspended') ORDER BY "
	    "first_seen, id LIMIT 1",
	};
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int rc;

	*found = false;
	cki_client_clear(out);
	if ((rv = sq_prepare(s, sql[k], &st)) != CK_OK)
		return rv;
	bind_text(st, 1, val);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_row(st, out);
		*found = true;
	} else if (rc != SQLITE_DONE) {
		rv = fail(s, rc);
	}
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_select(
    void *impl, const struct cki_reg_query *q, cki_client_cb cb, void *arg)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "SELECT " COLS " FROM clients WHERE (?1 IS NULL OR state = "
	         "?1) AND (?2 IS NULL OR substr(id, 1, length(?2)) = ?2 OR "
	         "substr(spki, 1, length(?2)) = ?2) AND (?3 <= 0 OR changed < "
	         "?3) ORDER BY first_seen, id LIMIT ?4",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, q->state < 0 ? NULL : cki_reg_state_name(q->state));
	bind_text(st, 2, q->prefix);
	sqlite3_bind_int64(st, 3, q->changed_before);
	sqlite3_bind_int64(st, 4, q->limit > 0 ? q->limit : -1);
	rv = step_rows(s, st, cb, arg);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_count(void *impl, int state, long *n)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int rc;

	*n = 0;
	/* Two statements: "?1 IS NULL OR state = ?1" scans every row (the
	 * first contact counts the pending ones), "state = ?1" walks the
	 * index clients_state. */
	if ((rv = sq_prepare(s,
	         state < 0 ? "SELECT count(*) FROM clients"
	                   : "SELECT count(*) FROM clients WHERE state = ?1",
	         &st)) != CK_OK)
		return rv;
	if (state >= 0)
		bind_text(st, 1, cki_reg_state_name(state));
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n = (long)sqlite3_column_int64(st, 0);
	else
		rv = fail(s, rc);
	sqlite3_finalize(st);
	return rv;
}

/* Binds the columns update() and insert() share as ?1..?10. */
static void
bind_auth(sqlite3_stmt *st, const struct cki_client *c)
{
	bind_text(st, 1, c->id);
	bind_text(st, 2, c->spki);
	bind_text(st, 3, c->name);
	bind_text(st, 4, c->subject);
	bind_text(st, 5, c->sans);
	bind_text(st, 6, c->cert_sha256);
	bind_text(st, 7, cki_reg_state_name(c->state));
	bind_text(st, 8, c->policy);
	bind_text(st, 9, c->reason);
	bind_text(st, 10, c->conflict_of[0] != '\0' ? c->conflict_of : NULL);
	sqlite3_bind_int64(st, 11, c->changed);
}

/* Runs a write statement; *changes gets the rows it changed. */
static ck_status
step_write(struct sq *s, sqlite3_stmt *st, int *changes)
{
	int rc = sqlite3_step(st);

	if (rc != SQLITE_DONE)
		return fail(s, rc);
	if (changes != NULL)
		*changes = sqlite3_changes(s->db);
	return CK_OK;
}

static ck_status
sq_insert(void *impl, const struct cki_client *c)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "INSERT INTO clients (id, spki, name, subject, sans, "
	         "cert_sha256, state, policy, reason, conflict_of, changed, "
	         "version, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, "
	         "?6, ?7, ?8, ?9, ?10, ?11, 1, ?12, ?13)",
	         &st)) != CK_OK)
		return rv;
	bind_auth(st, c);
	sqlite3_bind_int64(st, 12, c->first_seen);
	sqlite3_bind_int64(st, 13, c->last_seen);
	rv = step_write(s, st, NULL);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_load(void *impl, const struct cki_client *c)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "INSERT INTO clients (id, spki, name, subject, sans, "
	         "cert_sha256, state, policy, reason, conflict_of, changed, "
	         "version, first_seen, last_seen, agent_version, facts) VALUES "
	         "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
	         "?14, "
	         "?15, ?16)",
	         &st)) != CK_OK)
		return rv;
	bind_auth(st, c);
	sqlite3_bind_int64(st, 12, c->version);
	sqlite3_bind_int64(st, 13, c->first_seen);
	sqlite3_bind_int64(st, 14, c->last_seen);
	bind_text(st, 15, c->agent_version);
	bind_text(st, 16, c->facts);
	rv = step_write(s, st, NULL);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_update(void *impl, const struct cki_client *c, int64_t expect)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int n = 0;

	if ((rv = sq_prepare(s,
	         "UPDATE clients SET spki = ?2, name = ?3, subject = ?4, sans "
	         "= ?5, cert_sha256 = ?6, state = ?7, policy = ?8, reason = "
	         "?9, conflict_of = ?10, changed = ?11, version = ?12 + 1 "
	         "WHERE id = ?1 AND version = ?12",
	         &st)) != CK_OK)
		return rv;
	bind_auth(st, c);
	sqlite3_bind_int64(st, 12, expect);
	if ((rv = step_write(s, st, &n)) == CK_OK && n != 1)
		rv = cki_err(s->ctx, CK_E_CONFLICT,
		    "client %s changed while it was being updated (expected "
		    "version %lld)",
		    c->id, (long long)expect);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_remove(void *impl, const char *id, int64_t expect)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int n = 0;

	if ((rv = sq_prepare(s,
	         "DELETE FROM clients WHERE id = ?1 AND version = ?2", &st)) !=
	    CK_OK)
		return rv;
	bind_text(st, 1, id);
	sqlite3_bind_int64(st, 2, expect);
	if ((rv = step_write(s, st, &n)) == CK_OK && n != 1)
		rv = cki_err(s->ctx, CK_E_CONFLICT,
		    "client %s changed while it was being removed (expected "
		    "version %lld)",
		    id, (long long)expect);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_touch(void *impl, const struct cki_seen *v)
{
	struct sq *s = impl;
	sqlite3_stmt *st = s->touch;
	ck_status rv;

	/* Prepared once per connection (parsing it was most of a row's
	 * cost); reset after each use. */
	if (st == NULL &&
	    (rv = sq_prepare(s,
	         "UPDATE clients SET last_seen = max(last_seen, ?2), "
	         "agent_version = coalesce(?3, agent_version), facts = "
	         "coalesce(?4, facts) WHERE spki = ?1",
	         &st)) != CK_OK)
		return rv;
	s->touch = st;
	bind_text(st, 1, v->spki);
	sqlite3_bind_int64(st, 2, v->time);
	bind_text(st, 3, v->agent_version);
	bind_text(st, 4, v->facts);
	rv = step_write(s, st, NULL);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

static ck_status
sq_audit_add(void *impl, const struct cki_audit *a)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "INSERT INTO audit (time, client_id, spki, who, action, why, "
	         "from_state, to_state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, "
	         "?8)",
	         &st)) != CK_OK)
		return rv;
	sqlite3_bind_int64(st, 1, a->time);
	bind_text(st, 2, a->client_id);
	bind_text(st, 3, a->spki);
	bind_text(st, 4, a->who);
	bind_text(st, 5, a->action);
	bind_text(st, 6, a->why);
	bind_text(st, 7, a->from_state);
	bind_text(st, 8, a->to_state);
	rv = step_write(s, st, NULL);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_audit_each(void *impl, int64_t since, cki_audit_cb cb, void *arg)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	struct cki_audit a = {0};
	ck_status rv;
	int rc;

	if ((rv = sq_prepare(s,
	         "SELECT seq, time, client_id, spki, who, action, why, "
	         "from_state, to_state FROM audit WHERE time >= ?1 ORDER BY "
	         "seq",
	         &st)) != CK_OK)
		return rv;
	sqlite3_bind_int64(st, 1, since);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		cki_audit_clear(&a);
		a.seq = sqlite3_column_int64(st, 0);
		a.time = sqlite3_column_int64(st, 1);
		col_copy(st, 2, a.client_id, sizeof(a.client_id));
		col_copy(st, 3, a.spki, sizeof(a.spki));
		a.who = col_dup(st, 4);
		a.action = col_dup(st, 5);
		a.why = col_dup(st, 6);
		a.from_state = col_dup(st, 7);
		a.to_state = col_dup(st, 8);
		if (cb(arg, &a) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = fail(s, rc);
	cki_audit_clear(&a);
	sqlite3_finalize(st);
	return rv;
}

/* The server's connections: in WAL mode, synchronous = NORMAL syncs the
 * WAL at checkpoints, not at each commit. The database stays consistent;
 * a power loss (not a crash of the process) may lose this connection's
 * last commits: first contacts and presence, which the clients repeat.
 * The admin tool's connections stay FULL (an approval is durable). */
static ck_status
sq_relax(void *impl)
{
	return sq_exec(impl, "PRAGMA synchronous = NORMAL");
}

/* PRAGMA data_version: changes when another connection commits. */
static ck_status
sq_token(void *impl, uint64_t *tok)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int rc;

	if ((rv = sq_prepare(s, "PRAGMA data_version", &st)) != CK_OK)
		return rv;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*tok = (uint64_t)sqlite3_column_int64(st, 0);
	else
		rv = fail(s, rc);
	sqlite3_finalize(st);
	return rv;
}

/* ---- enrollment (schema 2) ---------------------------------------------- */

#define REQ_COLS                                                               \
	"id, client_id, spki, csr, names, state, coalesce(serial, ''), "       \
	"created, changed"

static void
read_req(sqlite3_stmt *st, struct cki_ereq *q)
{
	const unsigned char *state = sqlite3_column_text(st, 5);

	cki_ereq_clear(q);
	col_copy(st, 0, q->id, sizeof(q->id));
	col_copy(st, 1, q->client_id, sizeof(q->client_id));
	col_copy(st, 2, q->spki, sizeof(q->spki));
	q->csr = col_dup(st, 3);
	q->names = col_dup(st, 4);
	q->state = state != NULL && strcmp((const char *)state, "issued") == 0
	    ? CKI_EREQ_ISSUED
	    : CKI_EREQ_PENDING;
	col_copy(st, 6, q->serial, sizeof(q->serial));
	q->created = sqlite3_column_int64(st, 7);
	q->changed = sqlite3_column_int64(st, 8);
}

static ck_status
sq_req_insert(void *impl, const struct cki_ereq *q)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "INSERT INTO requests (id, client_id, spki, csr, names, "
	         "state, created, changed) VALUES (?1, ?2, ?3, ?4, ?5, "
	         "'pending', ?6, ?6)",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, q->id);
	bind_text(st, 2, q->client_id);
	bind_text(st, 3, q->spki);
	bind_text(st, 4, q->csr);
	bind_text(st, 5, q->names);
	sqlite3_bind_int64(st, 6, q->created);
	rv = step_write(s, st, NULL);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_req_get(void *impl, const char *id, const char *spki, struct cki_ereq *out,
    bool *found)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int rc;

	*found = false;
	cki_ereq_clear(out);
	if ((rv = sq_prepare(s,
	         id != NULL ? "SELECT " REQ_COLS " FROM requests WHERE id = ?1"
	                    : "SELECT " REQ_COLS " FROM requests WHERE spki = "
	                      "?1 ORDER BY created DESC, rowid DESC LIMIT 1",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, id != NULL ? id : spki);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_req(st, out);
		*found = true;
	} else if (rc != SQLITE_DONE) {
		rv = fail(s, rc);
	}
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_req_issue(void *impl, const char *id, const char *serial, int64_t now)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int n = 0;

	if ((rv = sq_prepare(s,
	         "UPDATE requests SET state = 'issued', serial = ?2, changed "
	         "= ?3 WHERE id = ?1 AND state = 'pending'",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, id);
	bind_text(st, 2, serial);
	sqlite3_bind_int64(st, 3, now);
	if ((rv = step_write(s, st, &n)) == CK_OK && n != 1)
		rv = cki_err(s->ctx, CK_E_CONFLICT,
		    "enrollment request %s is no longer pending", id);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_cert_insert(void *impl, const struct cki_cert_row *c)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "INSERT INTO certs (serial, client_id, spki, not_before, "
	         "not_after, revoked_at, reason, der) VALUES (?1, ?2, ?3, ?4, "
	         "?5, ?6, ?7, ?8)",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, c->serial);
	bind_text(st, 2, c->client_id);
	bind_text(st, 3, c->spki);
	sqlite3_bind_int64(st, 4, c->not_before);
	sqlite3_bind_int64(st, 5, c->not_after);
	sqlite3_bind_int64(st, 6, c->revoked_at);
	sqlite3_bind_int(st, 7, c->reason);
	sqlite3_bind_blob(st, 8, c->der, (int)c->der_len, SQLITE_TRANSIENT);
	rv = step_write(s, st, NULL);
	sqlite3_finalize(st);
	return rv;
}

/* One row of a certs select into c (cleared first); false when out of
 * memory. */
static bool
read_cert(sqlite3_stmt *st, struct cki_cert_row *c)
{
	const void *der = sqlite3_column_blob(st, 7);
	int n = sqlite3_column_bytes(st, 7);

	cki_cert_row_clear(c);
	col_copy(st, 0, c->serial, sizeof(c->serial));
	col_copy(st, 1, c->client_id, sizeof(c->client_id));
	col_copy(st, 2, c->spki, sizeof(c->spki));
	c->not_before = sqlite3_column_int64(st, 3);
	c->not_after = sqlite3_column_int64(st, 4);
	c->revoked_at = sqlite3_column_int64(st, 5);
	c->reason = sqlite3_column_int(st, 6);
	if (n <= 0 || der == NULL)
		return true;
	if ((c->der = malloc((size_t)n)) == NULL)
		return false;
	memcpy(c->der, der, (size_t)n);
	c->der_len = (size_t)n;
	return true;
}

static ck_status
sq_cert_select(
    void *impl, const struct cki_cert_query *q, cki_cert_cb cb, void *arg)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	struct cki_cert_row c = {0};
	ck_status rv;
	int rc;

	if ((rv = sq_prepare(s,
	         "SELECT serial, client_id, spki, not_before, not_after, "
	         "revoked_at, reason, der FROM certs WHERE (?1 IS NULL OR "
	         "serial = ?1) AND (?2 IS NULL OR client_id = ?2) AND (?3 IS "
	         "NULL OR spki = ?3) AND (?4 = 0 OR revoked_at > 0) AND "
	         "not_after >= ?5 ORDER BY not_before DESC, serial LIMIT ?6",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, q->serial);
	bind_text(st, 2, q->client_id);
	bind_text(st, 3, q->spki);
	sqlite3_bind_int(st, 4, q->revoked ? 1 : 0);
	sqlite3_bind_int64(st, 5, q->expires_after);
	sqlite3_bind_int64(st, 6, q->limit > 0 ? q->limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!read_cert(st, &c)) {
			rv = cki_err(s->ctx, CK_E_NOMEM, "out of memory");
			break;
		}
		if (cb(arg, &c) != 0)
			break;
	}
	if (rv == CK_OK && rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = fail(s, rc);
	cki_cert_row_clear(&c);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_cert_revoke(void *impl, const char *client_id, int64_t when, int reason)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "UPDATE certs SET revoked_at = ?2, reason = ?3 WHERE "
	         "client_id = ?1 AND revoked_at = 0",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, client_id);
	sqlite3_bind_int64(st, 2, when);
	sqlite3_bind_int(st, 3, reason);
	rv = step_write(s, st, NULL);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_token_insert(
    void *impl, const char *sha256, long uses, int64_t expires, int64_t created)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "INSERT INTO tokens (sha256, uses_left, expires, created) "
	         "VALUES (?1, ?2, ?3, ?4)",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, sha256);
	sqlite3_bind_int64(st, 2, uses);
	sqlite3_bind_int64(st, 3, expires);
	sqlite3_bind_int64(st, 4, created);
	rv = step_write(s, st, NULL);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_token_use(void *impl, const char *sha256, int64_t now, bool *ok)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int n = 0;

	*ok = false;
	if ((rv = sq_prepare(s,
	         "UPDATE tokens SET uses_left = uses_left - 1 WHERE sha256 = "
	         "?1 AND uses_left > 0 AND expires > ?2",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, sha256);
	sqlite3_bind_int64(st, 2, now);
	if ((rv = step_write(s, st, &n)) == CK_OK)
		*ok = n == 1;
	sqlite3_finalize(st);
	return rv;
}

/* ---- signers and the shared CRL (schema 3) ----------------------------- */

static ck_status
sq_node_put(void *impl, const char *name, const char *role, int64_t seen,
    const char *chain)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "INSERT INTO nodes (name, role, seen, ca_chain) VALUES (?1, "
	         "?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET role = "
	         "excluded.role, seen = excluded.seen, ca_chain = "
	         "excluded.ca_chain",
	         &st)) != CK_OK)
		return rv;
	bind_text(st, 1, name);
	bind_text(st, 2, role);
	sqlite3_bind_int64(st, 3, seen);
	bind_text(st, 4, chain);
	rv = step_write(s, st, NULL);
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_node_signer(void *impl, int64_t since, bool *up, char **chain)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int rc;

	if ((rv = sq_prepare(s,
	         "SELECT coalesce(ca_chain, '') FROM nodes WHERE role = "
	         "'signer' AND seen >= ?1 ORDER BY seen DESC LIMIT 1",
	         &st)) != CK_OK)
		return rv;
	sqlite3_bind_int64(st, 1, since);
	rc = sqlite3_step(st);
	*up = rc == SQLITE_ROW;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = fail(s, rc);
	else if (*up && chain != NULL && (*chain = col_dup(st, 0)) == NULL)
		rv = cki_err(s->ctx, CK_E_NOMEM, "out of memory");
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_crl_get(void *impl, struct cki_crl_row *out, bool *found)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	const void *der;
	int rc, n;
	ck_status rv;

	if ((rv = sq_prepare(s,
	         "SELECT number, built_at, digest, der FROM crl WHERE id = 1",
	         &st)) != CK_OK)
		return rv;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->number = (uint64_t)sqlite3_column_int64(st, 0);
		out->built_at = sqlite3_column_int64(st, 1);
		col_copy(st, 2, out->digest, sizeof(out->digest));
		der = sqlite3_column_blob(st, 3);
		n = sqlite3_column_bytes(st, 3);
		if ((out->der = malloc((size_t)n + 1)) == NULL)
			rv = cki_err(s->ctx, CK_E_NOMEM, "out of memory");
		else if (n > 0)
			memcpy(out->der, der, (size_t)n);
		out->der_len = (size_t)n;
		*found = rv == CK_OK;
	} else if (rc != SQLITE_DONE) {
		rv = fail(s, rc);
	}
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_crl_put(void *impl, const struct cki_crl_row *c, bool *stored)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int n = 0;

	*stored = false;
	if ((rv = sq_prepare(s,
	         "INSERT INTO crl (id, number, built_at, digest, der) VALUES "
	         "(1, ?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET number = "
	         "excluded.number, built_at = excluded.built_at, digest = "
	         "excluded.digest, der = excluded.der WHERE crl.number < "
	         "excluded.number",
	         &st)) != CK_OK)
		return rv;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)c->number);
	sqlite3_bind_int64(st, 2, c->built_at);
	bind_text(st, 3, c->digest);
	sqlite3_bind_blob(st, 4, c->der, (int)c->der_len, SQLITE_TRANSIENT);
	if ((rv = step_write(s, st, &n)) == CK_OK)
		*stored = n == 1;
	sqlite3_finalize(st);
	return rv;
}

static ck_status
sq_req_ready(void *impl, char (*ids)[CKI_REG_ID_LEN + 1], size_t max, size_t *n)
{
	struct sq *s = impl;
	sqlite3_stmt *st = NULL;
	ck_status rv;
	int rc = SQLITE_DONE;

	if ((rv = sq_prepare(s,
	         "SELECT r.id FROM requests r JOIN clients c ON c.spki = "
	         "r.spki WHERE r.state = 'pending' AND c.state = 'approved' "
	         "ORDER BY r.created, r.rowid LIMIT ?1",
	         &st)) != CK_OK)
		return rv;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		col_copy(st, 0, ids[(*n)++], CKI_REG_ID_LEN + 1);
	if (*n < max && rc != SQLITE_DONE)
		rv = fail(s, rc);
	sqlite3_finalize(st);
	return rv;
}

const struct cki_reg_ops cki_reg_sqlite_ops = {
    .name = "sqlite",
    .claims = sq_claims,
    .open = sq_open,
    .close = sq_close,
    .migrate = sq_migrate,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .get = sq_get,
    .select = sq_select,
    .count = sq_count,
    .insert = sq_insert,
    .update = sq_update,
    .remove = sq_remove,
    .touch = sq_touch,
    .audit_add = sq_audit_add,
    .audit_each = sq_audit_each,
    .token = sq_token,
    .relax = sq_relax,
    .load = sq_load,
    .req_insert = sq_req_insert,
    .req_get = sq_req_get,
    .req_issue = sq_req_issue,
    .cert_insert = sq_cert_insert,
    .cert_select = sq_cert_select,
    .cert_revoke = sq_cert_revoke,
    .token_insert = sq_token_insert,
    .token_use = sq_token_use,
    .node_put = sq_node_put,
    .node_signer = sq_node_signer,
    .crl_get = sq_crl_get,
    .crl_put = sq_crl_put,
    .req_ready = sq_req_ready,
};
