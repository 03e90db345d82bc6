/*
 * authz_sync.c: how the decision engine follows the registry without ever
 * waiting on it in a request (authz_int.h, invariants 1 to 3).
 *
 *   every 250 ms   cki_authz_poll() (and at once when the registry's
 *                  notify_fd is readable: PostgreSQL's NOTIFY from another
 *                  primary): CRL files re-read if changed (a new
 *                  revocation generation drops the verification cache);
 *                  the registry's change token read; if it moved, the
 *                  clients named by the audit rows since the last read
 *                  re-read (cki_authz_sync_rows, authz_audit.c; every row
 *                  after an outage: cki_authz_load_rows) and each client
 *                  that left `approved` passed to the close callback
 *   every second   cki_authz_flush(): the presence seen since the last
 *                  batch, written in one transaction
 *   every minute   cki_authz_expire(): pending rows past pending_ttl
 *                  deleted (audited by the registry), then those rows
 *                  re-read; every CKI_AUTHZ_RESYNC_RUNS minutes every row
 *
 * Invariants:
 *  1. Fail-static: a failed read or write leaves the cache as it was (an
 *     approved client stays approved from memory); the poll retries on its
 *     next run, the batch keeps its entries for the next second.
 *  2. The token is read before the rows, so a change committed while the
 *     rows are read moves the token again and is read on the next poll.
 *  3. Presence in memory is newer than the registry's: a re-read keeps the
 *     later last_seen, agent version and facts of an unwritten entry.
 *  4. The close callback runs after the new cache is in place, so a callback
 *     that asks for a decision sees the new state.
 *  5. The health callback runs once when a poll fails after one that
 *     worked, once when one works again (then the rows are re-read whatever
 *     the token says).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "authz_priv.h"

static void
seen_free(void *p)
{
	struct cki_seen_ent *e = p;

	if (e == NULL)
		return;
	free(e->agent_version);
	free(e->facts);
	free(e);
}

void
cki_authz_note_error(cki_authz *a)
{
	snprintf(
	    a->last_error, sizeof(a->last_error), "%s", ck_ctx_error(a->ctx));
}

void
cki_authz_bump(cki_authz *a)
{
	a->gen++;
	cki_caset_flush(a->cas);
}

static int
load_one(void *arg, const struct cki_client *c)
{
	struct cki_hmap *m = arg;
	struct cki_client *d = cki_client_dup(c);
	void *old = NULL;

	if (d == NULL || cki_hmap_put(m, d->spki, d, &old) != 0) {
		cki_client_free(d);
		return 1;
	}
	cki_client_free(old);
	return 0;
}

/* Invariant 3: the unwritten presence onto the fresh rows. */
static void
keep_seen(void *arg, const char *spki, void *val)
{
	struct cki_client *c = cki_hmap_get(arg, spki);

	if (c != NULL)
		cki_seen_keep(val, c);
}

struct closing {
	const struct cki_hmap *fresh;
	char (*spki)[65];
	size_t n;
};

static void
find_closing(void *arg, const char *spki, void *val)
{
	struct closing *cl = arg;
	const struct cki_client *was = val, *now;

	if (was->state != CKI_REG_APPROVED)
		return;
	now = cki_hmap_get(cl->fresh, spki);
	if (now == NULL || now->state != CKI_REG_APPROVED)
		memcpy(cl->spki[cl->n++], spki, 65);
}

ck_status
cki_authz_load_rows(cki_authz *a)
{
	struct cki_hmap fresh = {0}, old;
	struct closing cl = {&fresh, NULL, 0};
	ck_status st;
	size_t i;

	/* The cursor first: a change committed meanwhile is read again. */
	st = cki_authz_audit_mark(a);
	if (st == CK_OK)
		st = cki_registry_each(a->reg, -1, load_one, &fresh);
	if (st == CK_OK && a->clients.n > 0 &&
	    (cl.spki = calloc(a->clients.n, sizeof(*cl.spki))) == NULL)
		st = cki_err(a->ctx, CK_E_NOMEM, "registry: out of memory");
	if (st != CK_OK) {
		cki_authz_note_error(a);
		cki_hmap_clear(&fresh, cki_client_free);
		goto err;
	}
	cki_hmap_each(&a->seen, keep_seen, &fresh);
	cki_hmap_each(&a->clients, find_closing, &cl);
	old = a->clients;
	a->clients = fresh;
	cki_hmap_clear(&old, cki_client_free);
	a->n.loads++;
	for (i = 0; i < cl.n; i++) {
		a->n.closes++;
		if (a->close_fn != NULL)
			a->close_fn(a->close_arg, cl.spki[i]);
	}
err:
	free(cl.spki);
	return st;
}

/* Reports a change of the registry's health once (the server logs it). */
static void
health(cki_authz *a, bool up)
{
	if (a->reg_down == !up)
		return;
	a->reg_down = !up;
	if (!up && a->ev_notify != NULL) { /* a dead socket stays readable */
		event_free(a->ev_notify);
		a->ev_notify = NULL;
		a->notify_fd = -1;
	}
	if (a->health_fn != NULL)
		a->health_fn(a->health_arg, up, up ? NULL : a->last_error);
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cki_authz_poll(arg);
}

/* Watches the registry's notify_fd (PostgreSQL LISTEN), so a change made
 * on another primary is read at once; the 250 ms poll stays the
 * fallback. */
static void
notify_arm(cki_authz *a)
{
	int fd = cki_registry_notify_fd(a->reg);
	unsigned gen = cki_registry_conn_gen(a->reg);

	if (a->base == NULL || (fd == a->notify_fd && gen == a->notify_gen))
		return;
	if (a->ev_notify != NULL)
		event_free(a->ev_notify);
	a->ev_notify = NULL;
	a->notify_fd = -1;
	if (fd < 0 ||
	    (a->ev_notify = event_new(
	         a->base, fd, EV_READ | EV_PERSIST, on_notify, a)) == NULL)
		return;
	if (event_add(a->ev_notify, NULL) != 0) {
		event_free(a->ev_notify);
		a->ev_notify = NULL;
		return;
	}
	a->notify_fd = fd;
	a->notify_gen = gen;
}

void
cki_authz_news(cki_authz *a)
{
	if (a->revo == NULL || cki_revo_news(a->revo) == 0)
		return;
	if (a->revoked_fn != NULL)
		a->revoked_fn(a->revoked_arg);
	cki_revo_news_clear(a->revo);
}

void
cki_authz_poll(cki_authz *a)
{
	uint64_t tok, g;

	if (a->revo != NULL) {
		(void)cki_revo_refresh(a->revo);
		if ((g = cki_revo_generation(a->revo)) != a->revo_gen) {
			a->revo_gen = g;
			cki_authz_bump(a);
		}
		cki_authz_news(a);
	}
	if (cki_registry_change_token(a->reg, &tok) != CK_OK) {
		a->n.poll_errors++;
		cki_authz_note_error(a);
		health(a, false);
		return;
	}
	/* Back after an outage: every row is read whatever the token says
	 * (a notification may have been lost); else the clients the audit
	 * rows name. */
	if (tok == a->token && !a->reg_down) {
		notify_arm(a);
		return;
	}
	if ((a->reg_down ? cki_authz_load_rows(a) : cki_authz_sync_rows(a)) ==
	    CK_OK) {
		a->token = tok;
		health(a, true);
		notify_arm(a);
	} else {
		a->n.poll_errors++;
		health(a, false);
	}
}

struct batch {
	struct cki_seen *v;
	size_t n;
};

static void
add_seen(void *arg, const char *spki, void *val)
{
	struct batch *b = arg;
	struct cki_seen_ent *e = val;
	struct cki_seen *s = &b->v[b->n++];

	memcpy(s->spki, spki, 65);
	s->time = e->time;
	s->agent_version = e->agent_version;
	s->facts = e->facts;
}

ck_status
cki_authz_flush(cki_authz *a)
{
	struct batch b = {NULL, 0};
	ck_status st = CK_OK;

	if (a->seen.n == 0)
		return CK_OK;
	if ((b.v = calloc(a->seen.n, sizeof(*b.v))) == NULL)
		return cki_err(a->ctx, CK_E_NOMEM, "presence: out of memory");
	cki_hmap_each(&a->seen, add_seen, &b);
	st = cki_registry_presence(a->reg, b.v, b.n);
	if (st == CK_OK) {
		a->n.flushed += b.n;
		cki_hmap_clear(&a->seen, seen_free);
	} else {
		a->n.flush_errors++;
		cki_authz_note_error(a);
	}
	free(b.v);
	return st;
}

void
cki_authz_expire(cki_authz *a)
{
	size_t n = 0;

	/* The registry's clock: the database's on PostgreSQL. */
	if (cki_registry_expire(a->reg, cki_registry_now(a->reg),
	        a->pending_ttl, &n) != CK_OK) {
		cki_authz_note_error(a);
		return;
	}
	a->n.expired += n;
	/* This connection's own changes do not move the change token. Every
	 * CKI_AUTHZ_RESYNC_RUNS runs, a full read: a change no audit row
	 * names (presence written by another primary) is seen too. */
	if (++a->expire_runs % CKI_AUTHZ_RESYNC_RUNS == 0)
		(void)cki_authz_load_rows(a);
	else if (n > 0)
		(void)cki_authz_sync_rows(a);
}

/* Sets *field to a copy of s unless s is NULL. -1: out of memory. */
static int
keep_str(char **field, const char *s)
{
	return s == NULL ? 0 : cki_client_set_str(field, s);
}

void
cki_authz_seen(cki_authz *a, const char *spki, int64_t now,
    const char *agent_version, const char *facts)
{
	struct cki_client *c = cki_hmap_get(&a->clients, spki);
	struct cki_seen_ent *e;
	void *old = NULL;

	if (c == NULL)
		return;
	c->last_seen = now;
	(void)keep_str(&c->agent_version, agent_version);
	(void)keep_str(&c->facts, facts);
	if ((e = cki_hmap_get(&a->seen, spki)) == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return;
		if (cki_hmap_put(&a->seen, spki, e, &old) != 0) {
			free(e);
			return;
		}
	}
	e->time = now;
	(void)keep_str(&e->agent_version, agent_version);
	(void)keep_str(&e->facts, facts);
}

static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cki_authz_poll(arg);
}

static void
on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)cki_authz_flush(arg);
}

static void
on_expire(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cki_authz_expire(arg);
}

static struct event *
timer(cki_authz *a, event_callback_fn fn, long ms)
{
	struct event *ev = event_new(a->base, -1, EV_PERSIST, fn, a);
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (ev != NULL && event_add(ev, &tv) != 0) {
		event_free(ev);
		ev = NULL;
	}
	return ev;
}

ck_status
cki_authz_arm(cki_authz *a)
{
	a->notify_fd = -1;
	if (a->base == NULL)
		return CK_OK; /* tests drive the timers' work by hand */
	if ((a->ev_poll = timer(a, on_poll, CKI_AUTHZ_POLL_MS)) == NULL ||
	    (a->ev_flush = timer(a, on_flush, CKI_AUTHZ_FLUSH_MS)) == NULL ||
	    (a->ev_expire = timer(a, on_expire, CKI_AUTHZ_EXPIRE_MS)) == NULL)
		return cki_err(
		    a->ctx, CK_E_NOMEM, "authz: cannot arm its timers");
	/* Once at start too: a shared registry's single-writer job goes to a
	 * primary at once (the first to ask), not a minute later. */
	cki_authz_expire(a);
	return CK_OK;
}

void
cki_authz_disarm(cki_authz *a)
{
	if (a->ev_poll != NULL)
		event_free(a->ev_poll);
	if (a->ev_flush != NULL)
		event_free(a->ev_flush);
	if (a->ev_expire != NULL)
		event_free(a->ev_expire);
	if (a->ev_notify != NULL)
		event_free(a->ev_notify);
	a->ev_poll = a->ev_flush = a->ev_expire = a->ev_notify = NULL;
	a->notify_fd = -1;
	cki_hmap_clear(&a->seen, seen_free);
}
