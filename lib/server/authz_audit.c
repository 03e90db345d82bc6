/*
 * authz_audit.c: the incremental half of following the registry
 * (authz_sync.c): when the change token moves, only the clients named by
 * the audit rows written since the last read are read again, not every row.
 * A flood of first contacts (each one moves the token: the writer thread
 * has its own connection) then costs one row read per new client, not the
 * whole registry per poll.
 *
 *   cursor      rows with time >= audit_since are read (time is the
 *               registry's clock); audit_since trails the latest row seen
 *               by CKI_AUTHZ_AUDIT_LAG seconds (SQLite: _SQLITE), for
 *               the transactions that commit after a later one
 *               (PostgreSQL stamps a row with its transaction's start;
 *               a row later still is read by the full read every
 *               CKI_AUTHZ_RESYNC_RUNS minutes); the rows applied are known
 *               by seq (aseen) until they fall behind the cursor
 *   a row       its client is read again by SPKI and replaces the cached
 *               row (gone: removed); a first contact already in the cache
 *               under the same id (the writer put it there) is skipped;
 *               replace-key, discard and remove also re-read the cached
 *               rows of the same id (the old key) or that were its
 *               conflicts (conflict_of is cleared)
 *
 * Invariants:
 *  1. Every authorisation change writes an audit row in its transaction
 *     (registry_int.h 3), so the rows read are every change since.
 *  2. Applying a row twice changes nothing, so a failed read leaves the
 *     cursor and aseen as they were and the next poll reads them again;
 *     what was applied stays (it is the registry's state).
 *  3. As the full read: the unwritten presence is kept, and the close
 *     callback runs after the cache holds the new rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authz_priv.h"

/* What the audit rows since the cursor name. */
struct touched {
	cki_authz *a;
	struct cki_aseen *rows; /* new rows: seq, time */
	size_t nrows, caprows;
	struct cki_hmap spki; /* SPKI -> (void *)1: clients to read again */
	char (*ids)[CKI_REG_ID_LEN + 1]; /* ids whose other rows to read */
	size_t nids, capids;
	int64_t latest;
	bool nomem;
};

/* SQLite commits one writer at a time and stamps a row inside its write
 * lock: only the rows of the same second come late. PostgreSQL stamps a
 * row with its transaction's start, which may wait on a lock. */
static int64_t
lag(const cki_authz *a)
{
	return strcmp(cki_registry_backend(a->reg), "sqlite") == 0
	    ? CKI_AUTHZ_AUDIT_LAG_SQLITE
	    : CKI_AUTHZ_AUDIT_LAG;
}

static int
cmp_seq(const void *x, const void *y)
{
	const struct cki_aseen *p = x, *q = y;

	return p->seq < q->seq ? -1 : p->seq > q->seq;
}

static bool
applied(const cki_authz *a, int64_t seq)
{
	struct cki_aseen k = {seq, 0};

	return a->naseen > 0 &&
	    bsearch(&k, a->aseen, a->naseen, sizeof(*a->aseen), cmp_seq) !=
	    NULL;
}

static int
grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap != 0 ? *cap * 2 : 64;
	void *p;

	if (n < *cap)
		return 0;
	if ((p = realloc(*v, c * size)) == NULL)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

static bool
moves_rows(const char *action)
{
	return action != NULL &&
	    (strcmp(action, "replace-key") == 0 ||
	        strcmp(action, "discard") == 0 ||
	        strcmp(action, "remove") == 0);
}

/* A first contact the cache holds already (under the same id). */
static bool
known_contact(const cki_authz *a, const struct cki_audit *r)
{
	const struct cki_client *c = cki_hmap_get(&a->clients, r->spki);

	return r->from_state == NULL && c != NULL &&
	    strcmp(c->id, r->client_id) == 0;
}

static int
take_row(void *arg, const struct cki_audit *r)
{
	struct touched *t = arg;
	void *old = NULL;

	if (applied(t->a, r->seq))
		return 0;
	if (grow((void **)&t->rows, &t->caprows, t->nrows, sizeof(*t->rows)))
		goto nomem;
	t->rows[t->nrows++] = (struct cki_aseen){r->seq, r->time};
	if (r->time > t->latest)
		t->latest = r->time;
	if (moves_rows(r->action) && r->client_id[0] != '\0') {
		if (grow(
		        (void **)&t->ids, &t->capids, t->nids, sizeof(*t->ids)))
			goto nomem;
		memcpy(t->ids[t->nids++], r->client_id, sizeof(*t->ids));
	}
	if (r->spki[0] == '\0' || known_contact(t->a, r))
		return 0;
	if (cki_hmap_put(&t->spki, r->spki, (void *)1, &old) != 0)
		goto nomem;
	return 0;
nomem:
	t->nomem = true;
	return 1;
}

/* The cached rows of a moved id (its old key) or that were its conflicts. */
static void
take_ids(void *arg, const char *spki, void *val)
{
	struct touched *t = arg;
	const struct cki_client *c = val;
	void *old = NULL;

	for (size_t i = 0; i < t->nids; i++)
		if (strcmp(c->id, t->ids[i]) == 0 ||
		    strcmp(c->conflict_of, t->ids[i]) == 0) {
			if (cki_hmap_put(&t->spki, spki, (void *)1, &old) != 0)
				t->nomem = true;
			return;
		}
}

struct refresh {
	cki_authz *a;
	char (*closing)[65];
	size_t nclosing;
	ck_status st;
};

/* Reads one client again into the cache (keeping the unwritten
 * presence); an approved one that is no more goes to closing. */
static void
refresh_one(void *arg, const char *spki, void *val)
{
	struct refresh *f = arg;
	cki_authz *a = f->a;
	struct cki_client row = {0}, *was, *dup = NULL;
	bool found = false, gone;
	void *old = NULL;

	(void)val;
	if (f->st != CK_OK)
		return;
	if ((f->st = cki_registry_get_spki(a->reg, spki, &row, &found)) !=
	    CK_OK)
		goto err;
	if (found &&
	    ((dup = cki_client_dup(&row)) == NULL ||
	        cki_hmap_put(&a->clients, spki, dup, &old) != 0)) {
		f->st = cki_err(a->ctx, CK_E_NOMEM, "registry: out of memory");
		cki_client_free(dup);
		goto err;
	}
	was = found ? old : cki_hmap_del(&a->clients, spki);
	if (found) {
		if (was != NULL && was->last_seen > dup->last_seen)
			dup->last_seen = was->last_seen;
		cki_seen_keep(cki_hmap_get(&a->seen, spki), dup);
	}
	gone = !found || dup->state != CKI_REG_APPROVED;
	if (was != NULL && was->state == CKI_REG_APPROVED && gone)
		memcpy(f->closing[f->nclosing++], spki, 65);
	cki_client_free(was);
	a->n.refreshed++;
err:
	cki_client_clear(&row);
}

/* The applied rows join aseen; those behind the new cursor leave it. */
static ck_status
advance(cki_authz *a, struct touched *t)
{
	int64_t since = a->audit_since;
	size_t n = 0, i;
	struct cki_aseen *v;

	if (t->latest - lag(a) > since)
		since = t->latest - lag(a);
	v = realloc(a->aseen, (a->naseen + t->nrows + 1) * sizeof(*v));
	if (v == NULL)
		return cki_err(a->ctx, CK_E_NOMEM, "registry: out of memory");
	a->aseen = v;
	for (i = 0; i < a->naseen; i++)
		if (v[i].time >= since)
			v[n++] = v[i];
	for (i = 0; i < t->nrows; i++)
		if (t->rows[i].time >= since)
			v[n++] = t->rows[i];
	qsort(v, n, sizeof(*v), cmp_seq);
	a->naseen = n;
	a->audit_since = since;
	return CK_OK;
}

static void
touched_clear(struct touched *t)
{
	free(t->rows);
	free(t->ids);
	cki_hmap_clear(&t->spki, NULL);
}

ck_status
cki_authz_sync_rows(cki_authz *a)
{
	struct touched t = {.a = a, .latest = a->audit_since};
	struct refresh f = {a, NULL, 0, CK_OK};
	ck_status st;

	st = cki_registry_audit(a->reg, a->audit_since, take_row, &t);
	if (st == CK_OK && t.nomem)
		st = cki_err(a->ctx, CK_E_NOMEM, "registry: out of memory");
	if (st == CK_OK && t.nids > 0)
		cki_hmap_each(&a->clients, take_ids, &t);
	if (st == CK_OK && t.spki.n > 0 &&
	    (f.closing = calloc(t.spki.n, sizeof(*f.closing))) == NULL)
		st = cki_err(a->ctx, CK_E_NOMEM, "registry: out of memory");
	if (st != CK_OK)
		goto err;
	cki_hmap_each(&t.spki, refresh_one, &f);
	if ((st = f.st) == CK_OK)
		st = advance(a, &t);
	a->n.syncs++;
	for (size_t i = 0; i < f.nclosing; i++) {
		a->n.closes++;
		if (a->close_fn != NULL)
			a->close_fn(a->close_arg, f.closing[i]);
	}
err:
	if (st != CK_OK) /* cki_authz_note_error(), without a call loop */
		snprintf(a->last_error, sizeof(a->last_error), "%s",
		    ck_ctx_error(a->ctx));
	free(f.closing);
	touched_clear(&t);
	return st;
}

ck_status
cki_authz_audit_mark(cki_authz *a)
{
	struct touched t = {.a = a};
	ck_status st;

	free(a->aseen);
	a->aseen = NULL;
	a->naseen = 0;
	a->audit_since = cki_registry_now(a->reg) - lag(a);
	t.latest = a->audit_since + lag(a);
	st = cki_registry_audit(a->reg, a->audit_since, take_row, &t);
	if (st == CK_OK && t.nomem)
		st = cki_err(a->ctx, CK_E_NOMEM, "registry: out of memory");
	if (st == CK_OK)
		st = advance(a, &t);
	touched_clear(&t);
	return st;
}
