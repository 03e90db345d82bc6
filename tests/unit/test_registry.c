/*
 * test_registry.c: the registry (lib/server/registry.c) on every backend.
 *
 * One table of cases (`cases`), run by one table of drivers (`drivers`):
 * each case gets a fresh, migrated registry of the driver. A driver is a
 * way to make a target and, for the cases that need the storage itself, to
 * hold its write lock and to stamp a schema version. Issue 12 adds
 * PostgreSQL as one more line of `drivers`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "registry_int.h"
#include "testutil.h"

/* ---- drivers ------------------------------------------------------------ */

struct env;
struct driver {
	const char *name;
	/* Makes a fresh target (not migrated) under dir. */
	void (*target)(struct env *e, const char *dir);
	/* Takes the write lock from another connection, until unlock(). */
	void (*lock)(struct env *e);
	void (*unlock)(struct env *e);
	/* Stamps the schema version (to test a mismatch). */
	void (*stamp)(struct env *e, int version);
	void (*cleanup)(struct env *e);
	/* NULL if always there; else says why the driver is skipped. */
	const char *(*missing)(void);
};

struct env {
	const struct driver *drv;
	ck_ctx *ctx;
	cki_registry *r;
	char dir[64];
	char target[256];
	sqlite3 *holder; /* sqlite: the connection holding the lock */
	PGconn *pg;      /* postgresql: the connection holding the lock */
	char db[64];     /* postgresql: this case's database */
};

static void
sqlite_target(struct env *e, const char *dir)
{
	snprintf(e->target, sizeof(e->target), "%s/server/registry.db", dir);
}

static void
sqlite_lock(struct env *e)
{
	assert_int_equal(sqlite3_open(e->target, &e->holder), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(e->holder, "BEGIN IMMEDIATE", NULL, NULL, NULL),
	    SQLITE_OK);
}

static void
sqlite_unlock(struct env *e)
{
	sqlite3_exec(e->holder, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(e->holder);
	e->holder = NULL;
}

static void
sqlite_stamp(struct env *e, int version)
{
	sqlite3 *db = NULL;
	char sql[80];

	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
	    version);
	assert_int_equal(sqlite3_open(e->target, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
sqlite_cleanup(struct env *e)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
}

/* postgresql: CERTKIT_TEST_PG is a superuser conninfo without dbname
 * (tests/interop/registry_pg.sh starts a server and runs this test with
 * it); each case gets a database of its own. */
static const char *
pg_missing(void)
{
	const char *v = getenv("CERTKIT_TEST_PG");

	return v != NULL && v[0] != '\0'
	    ? NULL
	    : "CERTKIT_TEST_PG is not set (tests/interop/registry_pg.sh runs "
	      "this test against a PostgreSQL it starts)";
}

/* Runs sql on database db as the superuser. */
static void
pg_admin(const char *db, const char *sql)
{
	char ci[512];
	PGconn *c;
	PGresult *res;

	snprintf(ci, sizeof(ci), "%s dbname=%s", getenv("CERTKIT_TEST_PG"), db);
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("postgresql %s: %s", ci, PQerrorMessage(c));
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("postgresql %s: %s", sql, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
}

static void
pg_target(struct env *e, const char *dir)
{
	static int n;
	char sql[128];

	(void)dir;
	snprintf(e->db, sizeof(e->db), "ckreg_%ld_%d", (long)getpid(), n++);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", e->db);
	pg_admin("postgres", sql);
	snprintf(e->target, sizeof(e->target), "%s dbname=%s",
	    getenv("CERTKIT_TEST_PG"), e->db);
}

/* Another connection holds the clients table against writers (EXCLUSIVE
 * lets plain readers through), as a long admin transaction would. */
static void
pg_lock(struct env *e)
{
	PGresult *res;

	e->pg = PQconnectdb(e->target);
	assert_int_equal(PQstatus(e->pg), CONNECTION_OK);
	res = PQexec(e->pg, "BEGIN; LOCK TABLE clients IN EXCLUSIVE MODE");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
}

static void
pg_unlock(struct env *e)
{
	PQclear(PQexec(e->pg, "ROLLBACK"));
	PQfinish(e->pg);
	e->pg = NULL;
}

static void
pg_stamp(struct env *e, int version)
{
	char sql[80];

	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
	    version);
	pg_admin(e->db, sql);
}

static void
pg_cleanup(struct env *e)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "DROP DATABASE %s WITH (FORCE)", e->db);
	pg_admin("postgres", sql);
	sqlite_cleanup(e);
}

static const struct driver drivers[] = {
    {"sqlite", sqlite_target, sqlite_lock, sqlite_unlock, sqlite_stamp,
        sqlite_cleanup, NULL},
    {"postgresql", pg_target, pg_lock, pg_unlock, pg_stamp, pg_cleanup,
        pg_missing},
};

/* ---- helpers ------------------------------------------------------------ */

static const struct cki_actor admin = {"admin:test", "checked by hand"};
static const struct cki_actor pairing = {"server", NULL};

/* An SPKI of 64 hex digits starting with `head`, padded with `fill`. */
static void
mkspki(char out[65], const char *head, char fill)
{
	size_t n = strlen(head);

	memset(out, fill, 64);
	memcpy(out, head, n);
	out[64] = '\0';
}

/* A first contact of `name` with the key `spki`; returns the row. */
static struct cki_client
contact(struct env *e, const char *spki, const char *name,
    enum cki_reg_state st, ck_status want)
{
	struct cki_client c = {0}, out = {0};

	snprintf(c.spki, sizeof(c.spki), "%s", spki);
	c.name = (char *)(uintptr_t)name;
	c.subject = (char *)(uintptr_t) "CN = device";
	c.sans = (char *)(uintptr_t) "DNS:device.example";
	c.policy = (char *)(uintptr_t)(st == CKI_REG_APPROVED ? "trusted-ca"
	                                                      : "pairing");
	if (cki_registry_first_contact(e->r, &c, st, 3, &pairing, &out) != want)
		fail_msg("first contact of %s: %s", name, ck_ctx_error(e->ctx));
	return out;
}

static void
act(struct env *e, const char *id, enum cki_reg_action a, ck_status want,
    const char *msg)
{
	struct cki_client after = {0};
	ck_status st = cki_registry_act(e->r, id, a, -1, &admin, &after);

	if (st != want || (msg && strstr(ck_ctx_error(e->ctx), msg) == NULL))
		fail_msg("%s %s: status %d (%s), want %d '%s'",
		    cki_reg_action_name(a), id, st, ck_ctx_error(e->ctx), want,
		    msg ? msg : "");
	cki_client_clear(&after);
}

static enum cki_reg_state
state_of(struct env *e, const char *spki, bool *found)
{
	struct cki_client c = {0};
	enum cki_reg_state s;

	assert_int_equal(cki_registry_get_spki(e->r, spki, &c, found), CK_OK);
	s = c.state;
	cki_client_clear(&c);
	return s;
}

static int
count_audit_cb(void *arg, const struct cki_audit *a)
{
	(void)a;
	(*(int *)arg)++;
	return 0;
}

static int
audit_rows(struct env *e)
{
	int n = 0;

	assert_int_equal(
	    cki_registry_audit(e->r, 0, count_audit_cb, &n), CK_OK);
	return n;
}

/* ---- the cases ---------------------------------------------------------- */

static void
c_open_unmigrated(struct env *e)
{
	cki_registry *r = NULL;

	assert_int_equal(
	    cki_registry_open(e->ctx, e->target, 100, &r), CK_E_NOTFOUND);
	assert_non_null(
	    strstr(ck_ctx_error(e->ctx), "run: certkit registry migrate"));
	assert_null(r);
}

static void
c_migrate_twice(struct env *e)
{
	int from = -1;

	assert_int_equal(cki_registry_migrate(e->ctx, e->target, &from), CK_OK);
	assert_int_equal(from, CKI_REG_SCHEMA);
	assert_string_equal(cki_registry_backend(e->r), e->drv->name);
}

static void
c_schema_mismatch(struct env *e)
{
	cki_registry *r = NULL;
	int from = 0;

	e->drv->stamp(e, CKI_REG_SCHEMA + 1);
	assert_int_equal(
	    cki_registry_open(e->ctx, e->target, 100, &r), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(e->ctx), "schema version 3"));
	assert_int_equal(
	    cki_registry_migrate(e->ctx, e->target, &from), CK_E_FORMAT);
	assert_int_equal(from, CKI_REG_SCHEMA + 1);
}

static void
c_first_contact_pending(struct env *e)
{
	char spki[65];
	struct cki_client a, b;

	mkspki(spki, "aa", '1');
	a = contact(e, spki, "dev1", CKI_REG_PENDING, CK_OK);
	assert_int_equal(a.state, CKI_REG_PENDING);
	assert_int_equal(strlen(a.id), CKI_REG_ID_LEN);
	assert_string_equal(a.policy, "pairing");
	assert_int_equal(a.conflict_of[0], '\0');
	assert_int_equal(audit_rows(e), 1);
	assert_string_equal(cki_client_status_label(&a, a.last_seen + 10, 30),
	    "Requesting Pairing");
	assert_string_equal(
	    cki_client_status_label(&a, a.last_seen + 61, 30), "Pending");
	/* The same key again: the same row, nothing written. */
	b = contact(e, spki, "dev1", CKI_REG_PENDING, CK_OK);
	assert_string_equal(a.id, b.id);
	assert_int_equal(audit_rows(e), 1);
	cki_client_clear(&a);
	cki_client_clear(&b);
}

static void
c_first_contact_policy(struct env *e)
{
	char spki[65];
	struct cki_client a;

	mkspki(spki, "bb", '2');
	a = contact(e, spki, "dev2", CKI_REG_APPROVED, CK_OK);
	assert_int_equal(a.state, CKI_REG_APPROVED);
	assert_string_equal(a.policy, "trusted-ca");
	assert_string_equal(
	    cki_client_status_label(&a, a.last_seen + 10, 30), "Online");
	assert_string_equal(
	    cki_client_status_label(&a, a.last_seen + 61, 30), "Offline");
	a.last_seen = 0;
	assert_string_equal(
	    cki_client_status_label(&a, 100, 30), "Never Connected");
	cki_client_clear(&a);
	/* Bad input is refused before anything is written. */
	mkspki(spki, "BB", '2');
	cki_client_clear(&a);
	a = contact(e, spki, "x", CKI_REG_PENDING, CK_E_USAGE);
	a = contact(e, "abc", "x", CKI_REG_PENDING, CK_E_USAGE);
	a = contact(e, spki, "x", CKI_REG_REVOKED, CK_E_USAGE);
	assert_int_equal(audit_rows(e), 1);
}

static void
c_transitions(struct env *e)
{
	char spki[65];
	struct cki_client a;
	bool found;

	mkspki(spki, "cc", '3');
	a = contact(e, spki, "dev3", CKI_REG_PENDING, CK_OK);
	act(e, a.id, CKI_ACT_SUSPEND, CK_E_USAGE, "is pending: cannot suspend");
	act(e, a.id, CKI_ACT_RESUME, CK_E_USAGE, "is pending");
	act(e, a.id, CKI_ACT_REVOKE, CK_E_USAGE, "is pending");
	act(e, a.id, CKI_ACT_REPLACE_KEY, CK_E_USAGE, "not a conflict");
	act(e, a.id, CKI_ACT_APPROVE, CK_OK, NULL);
	assert_int_equal(state_of(e, spki, &found), CKI_REG_APPROVED);
	act(e, a.id, CKI_ACT_APPROVE, CK_E_USAGE, "is approved");
	act(e, a.id, CKI_ACT_SUSPEND, CK_OK, NULL);
	assert_int_equal(state_of(e, spki, &found), CKI_REG_SUSPENDED);
	act(e, a.id, CKI_ACT_RESUME, CK_OK, NULL);
	act(e, a.id, CKI_ACT_REVOKE, CK_OK, NULL);
	assert_int_equal(state_of(e, spki, &found), CKI_REG_REVOKED);
	act(e, a.id, CKI_ACT_RESUME, CK_E_USAGE, "is revoked");
	act(e, a.id, CKI_ACT_APPROVE, CK_E_USAGE, "is revoked");
	act(e, "0123456789abcdef", CKI_ACT_APPROVE, CK_E_NOTFOUND, "no client");
	/* pending + 4 changes; the refusals wrote nothing. */
	assert_int_equal(audit_rows(e), 5);
	act(e, a.id, CKI_ACT_REMOVE, CK_OK, NULL);
	state_of(e, spki, &found);
	assert_false(found);
	assert_int_equal(audit_rows(e), 6);
	/* rejected */
	cki_client_clear(&a);
	a = contact(e, spki, "dev3", CKI_REG_PENDING, CK_OK);
	act(e, a.id, CKI_ACT_REJECT, CK_OK, NULL);
	act(e, a.id, CKI_ACT_APPROVE, CK_E_USAGE, "is rejected");
	cki_client_clear(&a);
}

static void
c_cas(struct env *e)
{
	char spki[65];
	struct cki_client a, after = {0};
	cki_registry *r2 = NULL;

	mkspki(spki, "dd", '4');
	a = contact(e, spki, "dev4", CKI_REG_PENDING, CK_OK);
	assert_int_equal(a.version, 1);
	/* Another handle changes the row first. */
	assert_int_equal(
	    cki_registry_open(e->ctx, e->target, 1000, &r2), CK_OK);
	assert_int_equal(
	    cki_registry_act(r2, a.id, CKI_ACT_APPROVE, 1, &admin, &after),
	    CK_OK);
	assert_int_equal(after.version, 2);
	cki_registry_close(r2);
	/* The stale version loses and writes nothing. */
	assert_int_equal(
	    cki_registry_act(e->r, a.id, CKI_ACT_REJECT, 1, &admin, &after),
	    CK_E_CONFLICT);
	assert_int_equal(audit_rows(e), 2);
	assert_int_equal(
	    cki_registry_act(e->r, a.id, CKI_ACT_SUSPEND, 2, &admin, &after),
	    CK_OK);
	assert_int_equal(after.version, 3);
	assert_int_equal(after.state, CKI_REG_SUSPENDED);
	assert_string_equal(after.policy, "admin");
	assert_string_equal(after.reason, "checked by hand");
	cki_client_clear(&a);
	cki_client_clear(&after);
}

static void
c_conflict(struct env *e)
{
	char k1[65], k2[65], k3[65];
	struct cki_client a, b, c, got = {0};
	bool found;

	mkspki(k1, "e1", '5');
	mkspki(k2, "e2", '5');
	mkspki(k3, "e3", '5');
	a = contact(e, k1, "dev5", CKI_REG_PENDING, CK_OK);
	act(e, a.id, CKI_ACT_APPROVE, CK_OK, NULL);
	/* Same name, new key: a conflict entry, never approved by policy. */
	b = contact(e, k2, "dev5", CKI_REG_APPROVED, CK_OK);
	assert_int_equal(b.state, CKI_REG_PENDING);
	assert_string_equal(b.conflict_of, a.id);
	assert_string_equal(
	    cki_client_status_label(&b, b.last_seen, 30), "Conflict");
	act(e, b.id, CKI_ACT_APPROVE, CK_E_USAGE, "use replace-key");
	act(e, b.id, CKI_ACT_REPLACE_KEY, CK_OK, NULL);
	/* The known client has the new key; the old key is unknown. */
	assert_int_equal(state_of(e, k2, &found), CKI_REG_APPROVED);
	assert_int_equal(cki_registry_get_spki(e->r, k2, &got, &found), CK_OK);
	assert_string_equal(got.id, a.id);
	assert_int_equal(got.version, 3);
	state_of(e, k1, &found);
	assert_false(found);
	/* Another one, discarded. */
	c = contact(e, k3, "dev5", CKI_REG_PENDING, CK_OK);
	assert_string_equal(c.conflict_of, a.id);
	act(e, c.id, CKI_ACT_DISCARD, CK_OK, NULL);
	state_of(e, k3, &found);
	assert_false(found);
	/* A conflict whose client is removed becomes a plain request. */
	cki_client_clear(&c);
	c = contact(e, k3, "dev5", CKI_REG_PENDING, CK_OK);
	act(e, a.id, CKI_ACT_REMOVE, CK_OK, NULL);
	act(e, c.id, CKI_ACT_APPROVE, CK_OK, NULL);
	cki_client_clear(&a);
	cki_client_clear(&b);
	cki_client_clear(&c);
	cki_client_clear(&got);
}

static void
c_max_pending(struct env *e)
{
	char k[65];
	struct cki_client c;
	long n = 0;
	int before;

	for (int i = 0; i < 3; i++) {
		char head[8];

		snprintf(head, sizeof(head), "f%d", i);
		mkspki(k, head, '6');
		c = contact(e, k, NULL, CKI_REG_PENDING, CK_OK);
		cki_client_clear(&c);
	}
	before = audit_rows(e);
	mkspki(k, "f9", '6');
	c = contact(e, k, NULL, CKI_REG_PENDING, CK_E_LIMIT);
	assert_non_null(strstr(ck_ctx_error(e->ctx), "max_pending 3"));
	assert_int_equal(cki_registry_count(e->r, CKI_REG_PENDING, &n), CK_OK);
	assert_int_equal(n, 3);
	assert_int_equal(audit_rows(e), before);
	/* The limit is on the pending queue only. */
	c = contact(e, k, NULL, CKI_REG_APPROVED, CK_OK);
	cki_client_clear(&c);
}

static void
c_find(struct env *e)
{
	char k1[65], k2[65];
	struct cki_client a, b, got = {0};

	mkspki(k1, "abcd1", '7');
	mkspki(k2, "abcd2", '7');
	a = contact(e, k1, "dev7a", CKI_REG_PENDING, CK_OK);
	b = contact(e, k2, "dev7b", CKI_REG_PENDING, CK_OK);
	assert_int_equal(cki_registry_find(e->r, "ABCD1", &got), CK_OK);
	assert_string_equal(got.id, a.id);
	assert_int_equal(cki_registry_find(e->r, b.id, &got), CK_OK);
	assert_string_equal(got.spki, k2);
	assert_int_equal(cki_registry_find(e->r, "abcd", &got), CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(e->ctx), "ambiguous"));
	assert_non_null(strstr(ck_ctx_error(e->ctx), a.id));
	assert_non_null(strstr(ck_ctx_error(e->ctx), "dev7b"));
	assert_int_equal(cki_registry_find(e->r, "abc", &got), CK_E_USAGE);
	assert_int_equal(cki_registry_find(e->r, "zzzz", &got), CK_E_USAGE);
	assert_int_equal(
	    cki_registry_find(e->r, "0000000", &got), CK_E_NOTFOUND);
	cki_client_clear(&a);
	cki_client_clear(&b);
	cki_client_clear(&got);
}

static void
c_expire(struct env *e)
{
	char k1[65], k2[65];
	struct cki_client a, b;
	size_t n = 9;
	bool found;

	ck_ctx_set_time(e->ctx, 1000000);
	mkspki(k1, "99", '8');
	mkspki(k2, "98", '8');
	a = contact(e, k1, "old", CKI_REG_PENDING, CK_OK);
	b = contact(e, k2, "approved", CKI_REG_APPROVED, CK_OK);
	ck_ctx_set_time(e->ctx, 1000000 + 100);
	assert_int_equal(
	    cki_registry_expire(e->r, 1000000 + 100, 100, &n), CK_OK);
	assert_int_equal(n, 0); /* exactly the ttl: not yet */
	assert_int_equal(
	    cki_registry_expire(e->r, 1000000 + 101, 100, &n), CK_OK);
	assert_int_equal(n, 1);
	state_of(e, k1, &found);
	assert_false(found);
	state_of(e, k2, &found);
	assert_true(found);
	assert_int_equal(audit_rows(e), 3);
	cki_client_clear(&a);
	cki_client_clear(&b);
}

static void
c_presence(struct env *e)
{
	char k[65];
	struct cki_client a, got = {0};
	struct cki_seen s = {.time = 5000000000, .agent_version = "1.2"};
	bool found;

	mkspki(k, "77", '9');
	a = contact(e, k, "dev9", CKI_REG_APPROVED, CK_OK);
	memcpy(s.spki, k, sizeof(s.spki));
	s.facts = "{\"os\":\"linux\"}";
	assert_int_equal(cki_registry_presence(e->r, &s, 1), CK_OK);
	assert_int_equal(cki_registry_get_spki(e->r, k, &got, &found), CK_OK);
	assert_int_equal(got.last_seen, 5000000000);
	assert_int_equal(got.version, a.version); /* not an authz change */
	assert_string_equal(got.agent_version, "1.2");
	/* An older time never moves last_seen back; NULL keeps values. */
	s.time = 10;
	s.agent_version = NULL;
	assert_int_equal(cki_registry_presence(e->r, &s, 1), CK_OK);
	assert_int_equal(cki_registry_get_spki(e->r, k, &got, &found), CK_OK);
	assert_int_equal(got.last_seen, 5000000000);
	assert_string_equal(got.agent_version, "1.2");
	assert_string_equal(got.facts, "{\"os\":\"linux\"}");
	cki_client_clear(&a);
	cki_client_clear(&got);
}

static void
c_change_token(struct env *e)
{
	char k[65];
	struct cki_client a, after = {0};
	uint64_t t1 = 0, t2 = 0;
	cki_registry *r2 = NULL;

	mkspki(k, "66", 'a');
	a = contact(e, k, "deva", CKI_REG_PENDING, CK_OK);
	assert_int_equal(cki_registry_change_token(e->r, &t1), CK_OK);
	assert_int_equal(cki_registry_change_token(e->r, &t2), CK_OK);
	assert_true(t1 == t2);
	assert_int_equal(
	    cki_registry_open(e->ctx, e->target, 1000, &r2), CK_OK);
	assert_int_equal(
	    cki_registry_act(r2, a.id, CKI_ACT_APPROVE, -1, &admin, &after),
	    CK_OK);
	cki_registry_close(r2);
	assert_int_equal(cki_registry_change_token(e->r, &t2), CK_OK);
	assert_true(t1 != t2);
	cki_client_clear(&a);
	cki_client_clear(&after);
}

static void
c_locked(struct env *e)
{
	char k[65];
	struct cki_client a;
	cki_registry *r2 = NULL;
	bool found;

	mkspki(k, "55", 'b');
	a = contact(e, k, "devb", CKI_REG_PENDING, CK_OK);
	assert_int_equal(cki_registry_open(e->ctx, e->target, 200, &r2), CK_OK);
	e->drv->lock(e);
	assert_int_equal(
	    cki_registry_act(r2, a.id, CKI_ACT_APPROVE, -1, &admin, NULL),
	    CK_E_LOCKED);
	assert_non_null(strstr(ck_ctx_error(e->ctx), "registry locked"));
	/* Readers are not blocked by the writer. */
	assert_int_equal(state_of(e, k, &found), CKI_REG_PENDING);
	e->drv->unlock(e);
	assert_int_equal(
	    cki_registry_act(r2, a.id, CKI_ACT_APPROVE, -1, &admin, NULL),
	    CK_OK);
	cki_registry_close(r2);
	cki_client_clear(&a);
}

static int
collect_cb(void *arg, const struct cki_client *c)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static void
c_each_and_audit(struct env *e)
{
	char k1[65], k2[65];
	struct cki_client a, b;
	int n = 0;

	mkspki(k1, "44", 'c');
	mkspki(k2, "43", 'c');
	a = contact(e, k1, "devc1", CKI_REG_PENDING, CK_OK);
	b = contact(e, k2, "devc2", CKI_REG_APPROVED, CK_OK);
	assert_int_equal(cki_registry_each(e->r, -1, collect_cb, &n), CK_OK);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(
	    cki_registry_each(e->r, CKI_REG_APPROVED, collect_cb, &n), CK_OK);
	assert_int_equal(n, 1);
	n = 0;
	assert_int_equal(
	    cki_registry_audit(e->r, INT64_MAX, count_audit_cb, &n), CK_OK);
	assert_int_equal(n, 0);
	cki_client_clear(&a);
	cki_client_clear(&b);
}

/* Fills a registry with every kind of row: approved with presence, a
 * conflict row, revoked, pending; returns the approved one. */
static struct cki_client
fill(struct env *e)
{
	char k[4][65];
	struct cki_client a, b;
	struct cki_seen s = {.time = 4000000000, .agent_version = "2.0"};

	for (int i = 0; i < 4; i++) {
		char head[8];

		snprintf(head, sizeof(head), "c%d", i);
		mkspki(k[i], head, 'd');
	}
	a = contact(e, k[0], "gw-a", CKI_REG_PENDING, CK_OK);
	act(e, a.id, CKI_ACT_APPROVE, CK_OK, NULL);
	act(e, a.id, CKI_ACT_SUSPEND, CK_OK, NULL);
	act(e, a.id, CKI_ACT_RESUME, CK_OK, NULL);
	memcpy(s.spki, k[0], sizeof(s.spki));
	s.facts = "{\"os\":\"linux\"}";
	assert_int_equal(cki_registry_presence(e->r, &s, 1), CK_OK);
	b = contact(e, k[1], "gw-a", CKI_REG_PENDING, CK_OK); /* conflict */
	cki_client_clear(&b);
	b = contact(e, k[2], "gw-r", CKI_REG_APPROVED, CK_OK);
	act(e, b.id, CKI_ACT_REVOKE, CK_OK, NULL);
	cki_client_clear(&b);
	b = contact(e, k[3], NULL, CKI_REG_PENDING, CK_OK);
	cki_client_clear(&b);
	cki_client_clear(&a);
	assert_int_equal(
	    cki_registry_get_spki(e->r, k[0], &a, &(bool){0}), CK_OK);
	return a;
}

/* Copies e's registry into a fresh SQLite file and from there into a
 * fresh target of e's own driver (on PostgreSQL: both directions). */
static void
c_copy(struct env *e)
{
	struct env e2 = {.drv = e->drv, .ctx = e->ctx};
	struct cki_client a = fill(e), got = {0};
	static unsigned char der[4] = {0x30, 0x02, 0x05, 0x00};
	struct cki_cert_row cert = {.not_before = 100,
	                        .not_after = 200,
	                        .revoked_at = 150,
	                        .reason = 1,
	                        .der = der,
	                        .der_len = 4},
	                    gc = {0};
	char file[300];
	cki_registry *sq = NULL;
	size_t nc = 0, na = 0;
	bool found = false, already = false;
	int from;

	snprintf(cert.serial, sizeof(cert.serial), "0a1b");
	memcpy(cert.client_id, a.id, sizeof(cert.client_id));
	memcpy(cert.spki, a.spki, sizeof(cert.spki));
	assert_int_equal(
	    cki_registry_issue(e->r, NULL, &cert, &admin, &already), CK_OK);
	cki_client_clear(&a);
	assert_int_equal(
	    cki_registry_get_spki(e->r, cert.spki, &a, &found), CK_OK);

	snprintf(file, sizeof(file), "%s/copy.db", e->dir);
	assert_int_equal(cki_registry_migrate(e->ctx, file, &from), CK_OK);
	assert_int_equal(cki_registry_open(e->ctx, file, 1000, &sq), CK_OK);
	assert_int_equal(cki_registry_copy(e->r, sq, &nc, &na), CK_OK);
	assert_int_equal(nc, 4);
	assert_int_equal(na, (size_t)audit_rows(e));
	/* Not into a registry that holds rows. */
	assert_int_equal(cki_registry_copy(e->r, sq, &nc, &na), CK_E_EXISTS);
	assert_non_null(strstr(ck_ctx_error(e->ctx), "not empty"));
	/* Back into a fresh registry of e's driver. */
	snprintf(e2.dir, sizeof(e2.dir), "%s", e->dir);
	e->drv->target(&e2, e->dir);
	snprintf(e2.target + strlen(e2.target),
	    sizeof(e2.target) - strlen(e2.target), "%s",
	    strcmp(e->drv->name, "sqlite") == 0 ? ".2" : "");
	assert_int_equal(cki_registry_migrate(e->ctx, e2.target, &from), CK_OK);
	assert_int_equal(
	    cki_registry_open(e->ctx, e2.target, 1000, &e2.r), CK_OK);
	assert_int_equal(cki_registry_copy(sq, e2.r, &nc, &na), CK_OK);
	assert_int_equal(nc, 4);
	assert_int_equal(
	    cki_registry_get_spki(e2.r, a.spki, &got, &found), CK_OK);
	assert_true(found);
	assert_string_equal(got.id, a.id);
	assert_int_equal(got.version, a.version);
	assert_int_equal(got.last_seen, 4000000000);
	assert_string_equal(got.facts, "{\"os\":\"linux\"}");
	assert_string_equal(got.agent_version, "2.0");
	assert_int_equal(audit_rows(e), (int)na);
	/* The certificate went both ways, DER and revocation intact. */
	assert_int_equal(
	    cki_registry_cert_get(e2.r, "0a1b", &gc, &found), CK_OK);
	assert_true(found);
	assert_int_equal(gc.der_len, 4);
	assert_memory_equal(gc.der, der, 4);
	assert_int_equal(gc.revoked_at, 150);
	assert_int_equal(gc.reason, 1);
	cki_cert_row_clear(&gc);
	cki_registry_close(e2.r);
	cki_registry_close(sq);
	if (strcmp(e->drv->name, "sqlite") != 0)
		e->drv->cleanup(&e2); /* its database (and the shared dir) */
	cki_client_clear(&a);
	cki_client_clear(&got);
}

/* ---- enrollment (schema 2) ---------------------------------------------- */

static struct cki_cert_row
mkcert(const char *serial, const char *client_id, const char *spki, int64_t nb)
{
	static unsigned char der[3] = {0x30, 0x01, 0x00};
	struct cki_cert_row c = {0};

	snprintf(c.serial, sizeof(c.serial), "%s", serial);
	snprintf(c.client_id, sizeof(c.client_id), "%s", client_id);
	snprintf(c.spki, sizeof(c.spki), "%s", spki);
	c.not_before = nb;
	c.not_after = nb + 90 * 86400;
	c.der = der; /* borrowed: never cleared */
	c.der_len = sizeof(der);
	return c;
}

static void
c_enroll_issue(struct env *e)
{
	char spki[65];
	struct cki_client a;
	struct cki_ereq in = {0}, q = {0}, g = {0};
	struct cki_cert_row c1, c2, got = {0};
	bool found = false, already = true;

	mkspki(spki, "e1", '5');
	a = contact(e, spki, "deve1", CKI_REG_PENDING, CK_OK);
	snprintf(in.spki, sizeof(in.spki), "%s", spki);
	snprintf(in.client_id, sizeof(in.client_id), "%s", a.id);
	in.csr = (char *)(uintptr_t) "-----BEGIN CERTIFICATE REQUEST-----";
	in.names = (char *)(uintptr_t) "DNS:deve1";
	assert_int_equal(cki_registry_request_new(e->r, &in, &q), CK_OK);
	assert_int_equal(q.state, CKI_EREQ_PENDING);
	assert_string_equal(q.names, "DNS:deve1");
	assert_int_equal(
	    cki_registry_request_get(e->r, NULL, spki, &g, &found), CK_OK);
	assert_true(found);
	assert_string_equal(g.id, q.id);
	c1 = mkcert("0a0b", a.id, spki, 1000);
	assert_int_equal(
	    cki_registry_issue(e->r, q.id, &c1, &pairing, &already), CK_OK);
	assert_false(already);
	/* A second poll signed again: nothing written, the first stays. */
	c2 = mkcert("0c0d", a.id, spki, 1001);
	assert_int_equal(
	    cki_registry_issue(e->r, q.id, &c2, &pairing, &already), CK_OK);
	assert_true(already);
	assert_int_equal(
	    cki_registry_request_get(e->r, q.id, NULL, &g, &found), CK_OK);
	assert_int_equal(g.state, CKI_EREQ_ISSUED);
	assert_string_equal(g.serial, "0a0b");
	assert_int_equal(
	    cki_registry_cert_get(e->r, "0c0d", &got, &found), CK_OK);
	assert_false(found);
	/* A serial already known is refused (the unique backstop). */
	c2 = mkcert("0a0b", a.id, spki, 1002);
	assert_int_equal(
	    cki_registry_issue(e->r, NULL, &c2, &pairing, &already),
	    CK_E_EXISTS);
	assert_int_equal(
	    cki_registry_cert_get(e->r, "0a0b", &got, &found), CK_OK);
	assert_true(found);
	assert_int_equal(got.der_len, 3);
	assert_int_equal(got.not_before, 1000);
	cki_cert_row_clear(&got);
	cki_ereq_clear(&q);
	cki_ereq_clear(&g);
	cki_client_clear(&a);
}

static int
count_cert_cb(void *arg, const struct cki_cert_row *c)
{
	(void)c;
	(*(int *)arg)++;
	return 0;
}

static int
revoked_certs(struct env *e, const char *client_id)
{
	struct cki_cert_query q = {.client_id = client_id, .revoked = true};
	int n = 0;

	assert_int_equal(
	    cki_registry_certs(e->r, &q, count_cert_cb, &n), CK_OK);
	return n;
}

static void
c_enroll_revoke(struct env *e)
{
	char k1[65], k2[65];
	struct cki_client a, b;
	struct cki_cert_row c;
	struct cki_cert_row got = {0};
	bool found = false, already = false;

	mkspki(k1, "e2", '6');
	mkspki(k2, "e3", '6');
	a = contact(e, k1, "deve2", CKI_REG_APPROVED, CK_OK);
	b = contact(e, k2, "deve3", CKI_REG_APPROVED, CK_OK);
	c = mkcert("01", a.id, k1, 1000);
	assert_int_equal(
	    cki_registry_issue(e->r, NULL, &c, &admin, &already), CK_OK);
	c = mkcert("02", a.id, k1, 2000);
	assert_int_equal(
	    cki_registry_issue(e->r, NULL, &c, &admin, &already), CK_OK);
	c = mkcert("03", b.id, k2, 2000);
	assert_int_equal(
	    cki_registry_issue(e->r, NULL, &c, &admin, &already), CK_OK);
	assert_int_equal(revoked_certs(e, a.id), 0);
	act(e, a.id, CKI_ACT_REVOKE, CK_OK, NULL);
	assert_int_equal(revoked_certs(e, a.id), 2);
	assert_int_equal(revoked_certs(e, b.id), 0);
	assert_int_equal(
	    cki_registry_cert_get(e->r, "02", &got, &found), CK_OK);
	assert_true(got.revoked_at > 0);
	assert_int_equal(got.reason, 0);
	cki_cert_row_clear(&got);
	/* Removal revokes too (cessationOfOperation), and the rows stay. */
	act(e, b.id, CKI_ACT_REMOVE, CK_OK, NULL);
	assert_int_equal(revoked_certs(e, b.id), 1);
	assert_int_equal(
	    cki_registry_cert_get(e->r, "03", &got, &found), CK_OK);
	assert_int_equal(got.reason, 5);
	cki_cert_row_clear(&got);
	cki_client_clear(&a);
	cki_client_clear(&b);
}

static void
c_tokens(struct env *e)
{
	char tok[65], tok2[65];
	int64_t exp = 0;
	bool ok = false;

	assert_int_equal(
	    cki_registry_token_new(e->r, 0, 60, tok, &exp), CK_E_USAGE);
	assert_int_equal(
	    cki_registry_token_new(e->r, 1, 3600, tok, &exp), CK_OK);
	assert_int_equal(strlen(tok), 64);
	assert_true(exp >= (int64_t)cki_now(e->ctx) + 3599);
	assert_int_equal(cki_registry_token_use(e->r, tok, &ok), CK_OK);
	assert_true(ok);
	assert_int_equal(cki_registry_token_use(e->r, tok, &ok), CK_OK);
	assert_false(ok);
	assert_int_equal(cki_registry_token_use(e->r, "nope", &ok), CK_OK);
	assert_false(ok);
	assert_int_equal(cki_registry_token_new(e->r, 2, 1, tok2, &exp), CK_OK);
	assert_int_equal(cki_registry_token_use(e->r, tok2, &ok), CK_OK);
	assert_true(ok);
	sleep(2); /* past its 1 s lifetime: expired, one use still left */
	assert_int_equal(cki_registry_token_use(e->r, tok2, &ok), CK_OK);
	assert_false(ok);
}

static const struct reg_case {
	const char *name;
	void (*fn)(struct env *e);
	bool unmigrated;
} cases[] = {
    {"open before migrate", c_open_unmigrated, true},
    {"migrate twice", c_migrate_twice, false},
    {"schema mismatch", c_schema_mismatch, false},
    {"first contact pending", c_first_contact_pending, false},
    {"first contact by policy", c_first_contact_policy, false},
    {"transitions", c_transitions, false},
    {"compare-and-swap", c_cas, false},
    {"conflict", c_conflict, false},
    {"max_pending", c_max_pending, false},
    {"find by prefix", c_find, false},
    {"expire", c_expire, false},
    {"presence", c_presence, false},
    {"change token", c_change_token, false},
    {"locked", c_locked, false},
    {"each and audit", c_each_and_audit, false},
    {"copy (export, import)", c_copy, false},
    {"enrollment request and issue", c_enroll_issue, false},
    {"revoke marks certificates", c_enroll_revoke, false},
    {"tokens", c_tokens, false},
};

static void
run_case(const struct driver *d, const struct reg_case *c)
{
	struct env e = {.drv = d};
	int from = -1;

	snprintf(e.dir, sizeof(e.dir), "/tmp/ck-reg.XXXXXX");
	assert_non_null(mkdtemp(e.dir));
	assert_non_null(e.ctx = ck_ctx_new());
	d->target(&e, e.dir);
	if (!c->unmigrated) {
		if (cki_registry_migrate(e.ctx, e.target, &from) != CK_OK ||
		    cki_registry_open(e.ctx, e.target, 1000, &e.r) != CK_OK)
			fail_msg("%s/%s: setup: %s", d->name, c->name,
			    ck_ctx_error(e.ctx));
		assert_int_equal(from, 0);
	}
	print_message("  %s: %s\n", d->name, c->name);
	c->fn(&e);
	cki_registry_close(e.r);
	ck_ctx_free(e.ctx);
	d->cleanup(&e);
}

static void
test_all(void **state)
{
	(void)state;
	for (size_t d = 0; d < sizeof(drivers) / sizeof(drivers[0]); d++) {
		const char *why =
		    drivers[d].missing ? drivers[d].missing() : NULL;

		if (why != NULL) {
			print_message("  %s: SKIP: %s\n", drivers[d].name, why);
			continue;
		}
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++)
			run_case(&drivers[d], &cases[c]);
	}
}

/* SQLite only: the file's mode, WAL, and the append-only audit. */
static void
test_sqlite_file(void **state)
{
	struct env e = {.drv = &drivers[0]};
	struct stat sb;
	sqlite3 *db = NULL;
	char dir[300];
	int from;

	(void)state;
	snprintf(e.dir, sizeof(e.dir), "/tmp/ck-reg.XXXXXX");
	assert_non_null(mkdtemp(e.dir));
	e.ctx = ck_ctx_new();
	sqlite_target(&e, e.dir);
	assert_int_equal(cki_registry_migrate(e.ctx, e.target, &from), CK_OK);
	assert_int_equal(stat(e.target, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	snprintf(dir, sizeof(dir), "%s/server", e.dir);
	assert_int_equal(stat(dir, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(sqlite3_open(e.target, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                     "INSERT INTO audit (time, client_id, spki, who, "
	                     "action) VALUES (1, 'x', 'y', 'z', 'w')",
	                     NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_not_equal(
	    sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(
	    sqlite3_exec(db, "UPDATE audit SET who = 'me'", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	ck_ctx_free(e.ctx);
	sqlite_cleanup(&e);
}

/* SQLite only: a schema 1 file is refused, then migrated to 2 in place,
 * its clients kept and the enrollment tables added. */
static void
test_sqlite_migrate_1_to_2(void **state)
{
	struct env e = {.drv = &drivers[0]};
	sqlite3 *db = NULL;
	char spki[65];
	struct cki_client a;
	bool found = false;
	int from;

	(void)state;
	snprintf(e.dir, sizeof(e.dir), "/tmp/ck-reg.XXXXXX");
	assert_non_null(mkdtemp(e.dir));
	e.ctx = ck_ctx_new();
	sqlite_target(&e, e.dir);
	assert_int_equal(cki_registry_migrate(e.ctx, e.target, &from), CK_OK);
	assert_int_equal(cki_registry_open(e.ctx, e.target, 1000, &e.r), CK_OK);
	mkspki(spki, "12", '7');
	a = contact(&e, spki, "old", CKI_REG_APPROVED, CK_OK);
	cki_registry_close(e.r);
	assert_int_equal(sqlite3_open(e.target, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
	        "DROP TABLE requests; DROP TABLE certs; DROP TABLE "
	        "tokens; UPDATE schema_version SET version = 1",
	        NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(
	    cki_registry_open(e.ctx, e.target, 100, &e.r), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(e.ctx), "run: certkit registry"));
	assert_int_equal(cki_registry_migrate(e.ctx, e.target, &from), CK_OK);
	assert_int_equal(from, 1);
	assert_int_equal(cki_registry_open(e.ctx, e.target, 1000, &e.r), CK_OK);
	assert_int_equal(state_of(&e, spki, &found), CKI_REG_APPROVED);
	assert_true(found);
	assert_int_equal(revoked_certs(&e, a.id), 0);
	cki_client_clear(&a);
	cki_registry_close(e.r);
	ck_ctx_free(e.ctx);
	sqlite_cleanup(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all),
	    cmocka_unit_test(test_sqlite_file),
	    cmocka_unit_test(test_sqlite_migrate_1_to_2),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
