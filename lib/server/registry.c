/*
 * registry.c: the registry's logic, the same on every backend
 * (registry_int.h): the authorisation state machine, ids, first contact
 * (conflicts, max_pending), the admin actions as compare-and-swaps with
 * their audit rows, prefixes, presence labels. The backends
 * (registry_be.h) only store rows.
 *
 * The transitions (cki_registry_act(), table `trans` below):
 *
 *     action       from                    to
 *     approve      pending (not conflict)  approved
 *     reject       pending                 rejected
 *     suspend      approved                suspended
 *     resume       suspended               approved
 *     revoke       approved, suspended     revoked (final)
 *     remove       any                     (row deleted)
 *     replace-key  pending conflict row    its client takes the new key;
 *                                          the conflict row is deleted
 *     discard      pending conflict row    (row deleted)
 *
 * Invariants:
 *  1. Every write is one backend transaction: the row is read, the
 *     transition checked, the row written as a compare-and-swap on its
 *     version and the audit row added, or nothing is.
 *  2. A conflict is decided inside the first contact's transaction (a
 *     live client of the same name exists), so two first contacts cannot
 *     both miss it.
 *  3. A lost compare-and-swap with expect_version -1 is retried (a few
 *     times, re-reading and re-checking the transition); with an explicit
 *     version it is CK_E_CONFLICT.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "registry_be.h"

/* The backends, tried in order (SQLite takes any path, so it is last). */
static const struct cki_reg_ops *const backends[] = {
    &cki_reg_pg_ops,
    &cki_reg_sqlite_ops,
};

#define CAS_TRIES 5
#define TX_TRIES 10 /* runs of a transaction the backend calls transient */
#define FIND_MAX 10 /* candidates named in an ambiguous-prefix error */

#define ST(s) (1u << (s))
#define ANY_STATE 0x1fu
static const struct {
	unsigned from; /* ST() bits */
	int to;        /* the new state; -1: the row goes */
} trans[] = {
    [CKI_ACT_APPROVE] = {ST(CKI_REG_PENDING), CKI_REG_APPROVED},
    [CKI_ACT_REJECT] = {ST(CKI_REG_PENDING), CKI_REG_REJECTED},
    [CKI_ACT_SUSPEND] = {ST(CKI_REG_APPROVED), CKI_REG_SUSPENDED},
    [CKI_ACT_RESUME] = {ST(CKI_REG_SUSPENDED), CKI_REG_APPROVED},
    [CKI_ACT_REVOKE] = {ST(CKI_REG_APPROVED) | ST(CKI_REG_SUSPENDED),
        CKI_REG_REVOKED},
    [CKI_ACT_REMOVE] = {ANY_STATE, -1},
    [CKI_ACT_REPLACE_KEY] = {ST(CKI_REG_PENDING), -1},
    [CKI_ACT_DISCARD] = {ST(CKI_REG_PENDING), -1},
};

/* A deep copy (dst cleared first). */
static ck_status
client_copy(ck_ctx *ctx, struct cki_client *dst, const struct cki_client *src)
{
	char **s[] = {&dst->name, &dst->subject, &dst->sans, &dst->policy,
	    &dst->reason, &dst->agent_version, &dst->facts};

	if (dst == src)
		return CK_OK;
	cki_client_clear(dst);
	*dst = *src;
	for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
		if (*s[i] != NULL && (*s[i] = strdup(*s[i])) == NULL) {
			for (size_t j = i + 1; j < sizeof(s) / sizeof(s[0]);
			     j++)
				*s[j] = NULL;
			cki_client_clear(dst);
			return cki_err(ctx, CK_E_NOMEM, "out of memory");
		}
	return CK_OK;
}

/* Replaces *field with a copy of v (NULL allowed). */
static ck_status
set_str(ck_ctx *ctx, char **field, const char *v)
{
	char *n = NULL;

	if (v != NULL && (n = strdup(v)) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	free(*field);
	*field = n;
	return CK_OK;
}

static bool
is_hex(const char *s, size_t min, size_t max)
{
	size_t n = strlen(s);

	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

static bool
is_spki(const char *s)
{
	if (!is_hex(s, 64, 64))
		return false;
	for (; *s != '\0'; s++)
		if (isupper((unsigned char)*s))
			return false;
	return true;
}

static ck_status
pick_backend(ck_ctx *ctx, const char *target, const struct cki_reg_ops **ops)
{
	*ops = NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i]->claims(target)) {
			*ops = backends[i];
			return CK_OK;
		}
	return cki_err(ctx, CK_E_USAGE,
	    "registry '%s': expected a path, sqlite:PATH, a postgresql:// URL "
	    "or a PostgreSQL conninfo",
	    target);
}

/* The registry's clock: the storage's (shared by every primary) unless
 * the ctx has a fixed time (tests) or the backend has none. */
static int64_t
reg_now(cki_registry *r)
{
	int64_t t = 0;

	if (r->ctx->now != 0 || r->ops->now == NULL ||
	    r->ops->now(r->impl, &t) != CK_OK)
		return (int64_t)cki_now(r->ctx);
	return t;
}

/* True if a failed transaction (try `i`, from 0) is worth running again:
 * the backend calls its failure transient. Waits first, a little more
 * each time, with jitter so that two losers do not meet again. */
bool
cki_reg_again(cki_registry *r, ck_status rv, int i)
{
	unsigned char j = 0;
	long us;

	if (rv == CK_OK || r->ops->retryable == NULL ||
	    !r->ops->retryable(r->impl) || i + 1 >= TX_TRIES)
		return false;
	(void)RAND_bytes(&j, 1);
	us = (2000L << (i < 6 ? i : 6)) + (long)j * 40;
	usleep((useconds_t)(us > 100000 ? 100000 : us));
	return true;
}

ck_status
cki_registry_open(
    ck_ctx *ctx, const char *target, int busy_ms, cki_registry **out)
{
	cki_registry *r = NULL;
	ck_status rv;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	r->ctx = ctx;
	if ((rv = pick_backend(ctx, target, &r->ops)) != CK_OK ||
	    (rv = r->ops->open(ctx, target, busy_ms, &r->impl)) != CK_OK)
		goto err;
	*out = r;
	r = NULL;
err:
	free(r);
	return rv;
}

ck_status
cki_registry_relax(cki_registry *r)
{
	return r->ops->relax != NULL ? r->ops->relax(r->impl) : CK_OK;
}

void
cki_registry_close(cki_registry *r)
{
	if (r == NULL)
		return;
	r->ops->close(r->impl);
	free(r);
}

ck_status
cki_registry_migrate(ck_ctx *ctx, const char *target, int *from)
{
	const struct cki_reg_ops *ops;
	ck_status rv;

	*from = 0;
	if ((rv = pick_backend(ctx, target, &ops)) != CK_OK)
		return rv;
	return ops->migrate(ctx, target, from);
}

const char *
cki_registry_backend_for(const char *target)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (backends[i]->claims(target))
			return backends[i]->name;
	return "unknown";
}

const char *
cki_registry_backend(const cki_registry *r)
{
	return r->ops->name;
}

ck_status
cki_registry_get_spki(
    cki_registry *r, const char *spki, struct cki_client *out, bool *found)
{
	*found = false;
	if (!is_spki(spki))
		return cki_err(r->ctx, CK_E_USAGE,
		    "expected an SPKI SHA-256 of 64 lower-case hex digits, "
		    "found '%.80s'",
		    spki);
	return r->ops->get(r->impl, CKI_REG_BY_SPKI, spki, out, found);
}

/* Rows collected from a select. */
struct rows {
	struct cki_client *v;
	size_t n, cap, max;
	ck_ctx *ctx;
	ck_status st;
};

static int
rows_add(void *arg, const struct cki_client *c)
{
	struct rows *r = arg;

	if (r->max > 0 && r->n >= r->max)
		return 1;
	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 16;
		struct cki_client *v = realloc(r->v, cap * sizeof(*v));

		if (v == NULL) {
			r->st = cki_err(r->ctx, CK_E_NOMEM, "out of memory");
			return 1;
		}
		r->v = v;
		r->cap = cap;
	}
	memset(&r->v[r->n], 0, sizeof(r->v[0]));
	if ((r->st = client_copy(r->ctx, &r->v[r->n], c)) != CK_OK)
		return 1;
	r->n++;
	return 0;
}

static void
rows_free(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		cki_client_clear(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* "id1 (name1), id2 (name2)" for an ambiguous prefix. */
static ck_status
ambiguous(cki_registry *r, const char *prefix, const struct rows *rows)
{
	char list[CKI_ERRLEN / 2] = "";
	size_t len = 0;

	for (size_t i = 0; i < rows->n && len < sizeof(list); i++)
		len += (size_t)snprintf(list + len, sizeof(list) - len,
		    "%s%s (%s)", i ? ", " : "", rows->v[i].id,
		    rows->v[i].name ? rows->v[i].name : "no name");
	return cki_err(r->ctx, CK_E_USAGE,
	    "'%s' is ambiguous: it matches %s%s; give more digits", prefix,
	    list, rows->n >= FIND_MAX ? ", ..." : "");
}

ck_status
cki_registry_find(cki_registry *r, const char *prefix, struct cki_client *out)
{
	struct rows rows = {.ctx = r->ctx, .max = FIND_MAX};
	struct cki_reg_query q = {.state = -1, .limit = FIND_MAX};
	char low[65];
	ck_status rv;

	cki_client_clear(out);
	if (!is_hex(prefix, 4, 64))
		return cki_err(r->ctx, CK_E_USAGE,
		    "expected a client id or SPKI prefix (4 to 64 hex "
		    "digits), found '%.80s'",
		    prefix);
	for (size_t i = 0; prefix[i] != '\0'; i++)
		low[i] = (char)tolower((unsigned char)prefix[i]);
	low[strlen(prefix)] = '\0';
	q.prefix = low;
	if ((rv = r->ops->select(r->impl, &q, rows_add, &rows)) != CK_OK ||
	    (rv = rows.st) != CK_OK)
		goto err;
	if (rows.n == 0)
		rv = cki_err(r->ctx, CK_E_NOTFOUND,
		    "no client has an id or SPKI starting with '%s'", low);
	else if (rows.n > 1)
		rv = ambiguous(r, low, &rows);
	else
		rv = client_copy(r->ctx, out, &rows.v[0]);
err:
	rows_free(&rows);
	return rv;
}

ck_status
cki_registry_each(cki_registry *r, int state, cki_client_cb cb, void *arg)
{
	struct cki_reg_query q = {.state = state};

	return r->ops->select(r->impl, &q, cb, arg);
}

ck_status
cki_registry_count(cki_registry *r, int state, long *n)
{
	return r->ops->count(r->impl, state, n);
}

ck_status
cki_registry_audit(cki_registry *r, int64_t since, cki_audit_cb cb, void *arg)
{
	return r->ops->audit_each(r->impl, since, cb, arg);
}

ck_status
cki_registry_change_token(cki_registry *r, uint64_t *tok)
{
	return r->ops->token(r->impl, tok);
}

ck_status
cki_reg_audit(cki_registry *r, const struct cki_client *c, const char *action,
    int from, int to, const struct cki_actor *who)
{
	struct cki_audit a = {0};

	a.time = reg_now(r);
	snprintf(a.client_id, sizeof(a.client_id), "%s", c->id);
	snprintf(a.spki, sizeof(a.spki), "%s", c->spki);
	/* The backend copies; the casts only lend the strings. */
	a.who = (char *)(uintptr_t)(who->who ? who->who : "unknown");
	a.action = (char *)(uintptr_t)action;
	a.why = (char *)(uintptr_t)who->why;
	a.from_state =
	    (char *)(uintptr_t)(from < 0 ? NULL : cki_reg_state_name(from));
	a.to_state =
	    (char *)(uintptr_t)(to < 0 ? NULL : cki_reg_state_name(to));
	return r->ops->audit_add(r->impl, &a);
}

/* "admin:root" decides as "admin"; "server", "policy" as themselves. */
static const char *
decider(const struct cki_actor *who)
{
	if (who->who == NULL)
		return "unknown";
	return strncmp(who->who, "admin", 5) == 0 ? "admin" : who->who;
}

static ck_status
new_id(ck_ctx *ctx, char id[CKI_REG_ID_LEN + 1])
{
	unsigned char rnd[CKI_REG_ID_LEN / 2];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return cki_err(ctx, CK_E_INTERNAL,
		    "cannot draw a client id: %s", cki_ossl_reason());
	cki_hex(rnd, sizeof(rnd), id);
	return CK_OK;
}

/* The new row of a first contact (no conflict or limit decided yet). */
static ck_status
first_row(cki_registry *r, const struct cki_client *c, enum cki_reg_state state,
    const struct cki_actor *who, struct cki_client *row)
{
	int64_t now = reg_now(r);
	ck_status rv;

	memset(row, 0, sizeof(*row));
	snprintf(row->spki, sizeof(row->spki), "%s", c->spki);
	snprintf(
	    row->cert_sha256, sizeof(row->cert_sha256), "%s", c->cert_sha256);
	row->state = state;
	row->version = 1;
	row->first_seen = row->last_seen = row->changed = now;
	if ((rv = new_id(r->ctx, row->id)) != CK_OK ||
	    (rv = set_str(r->ctx, &row->name, c->name)) != CK_OK ||
	    (rv = set_str(r->ctx, &row->subject, c->subject)) != CK_OK ||
	    (rv = set_str(r->ctx, &row->sans, c->sans)) != CK_OK ||
	    (rv = set_str(r->ctx, &row->policy,
	         c->policy ? c->policy : decider(who))) != CK_OK ||
	    (rv = set_str(r->ctx, &row->reason, who->why)) != CK_OK)
		cki_client_clear(row);
	return rv;
}

/* Inside the transaction: known SPKI, conflict, limit, insert, audit. */
static ck_status
first_contact_tx(cki_registry *r, struct cki_client *row, long max_pending,
    const struct cki_actor *who, bool *known)
{
	struct cki_client other = {0};
	bool found = false;
	long n = 0;
	ck_status rv;

	*known = false;
	if ((rv = r->ops->get(
	         r->impl, CKI_REG_BY_SPKI, row->spki, &other, &found)) != CK_OK)
		goto err;
	if (found) {
		*known = true;
		rv = client_copy(r->ctx, row, &other);
		goto err;
	}
	if (row->name != NULL &&
	    (rv = r->ops->get(
	         r->impl, CKI_REG_BY_NAME, row->name, &other, &found)) != CK_OK)
		goto err;
	if (found) {
		snprintf(
		    row->conflict_of, sizeof(row->conflict_of), "%s", other.id);
		row->state = CKI_REG_PENDING;
	}
	if (row->state == CKI_REG_PENDING &&
	    ((rv = r->ops->count(r->impl, CKI_REG_PENDING, &n)) != CK_OK ||
	        n >= max_pending)) {
		if (rv == CK_OK)
			rv = cki_err(r->ctx, CK_E_LIMIT,
			    "pending_limit: %ld clients are pending "
			    "(max_pending %ld); new client %s refused",
			    n, max_pending, row->spki);
		goto err;
	}
	if ((rv = r->ops->insert(r->impl, row)) != CK_OK)
		goto err;
	rv = cki_reg_audit(r, row,
	    found                               ? "conflict"
	        : row->state == CKI_REG_PENDING ? "pending"
	                                        : "approve",
	    -1, (int)row->state, who);
err:
	cki_client_clear(&other);
	return rv;
}

ck_status
cki_registry_first_contact(cki_registry *r, const struct cki_client *c,
    enum cki_reg_state state, long max_pending, const struct cki_actor *who,
    struct cki_client *out)
{
	struct cki_client row = {0};
	bool known = false;
	ck_status rv;

	if (!is_spki(c->spki))
		return cki_err(r->ctx, CK_E_USAGE,
		    "first contact: expected an SPKI SHA-256 of 64 lower-case "
		    "hex digits, found '%.80s'",
		    c->spki);
	if (state != CKI_REG_PENDING && state != CKI_REG_APPROVED)
		return cki_err(r->ctx, CK_E_USAGE,
		    "first contact: a new client is pending or approved, not "
		    "%s",
		    cki_reg_state_name(state));
	for (int i = 0;; i++) {
		if ((rv = first_row(r, c, state, who, &row)) != CK_OK)
			return rv;
		if ((rv = r->ops->begin(r->impl)) != CK_OK)
			goto err;
		rv = first_contact_tx(r, &row, max_pending, who, &known);
		if (rv == CK_OK && !known)
			rv = r->ops->commit(r->impl);
		else
			r->ops->rollback(r->impl);
		if (!cki_reg_again(r, rv, i))
			break;
		cki_client_clear(&row);
	}
	if (rv == CK_OK && out != NULL)
		rv = client_copy(r->ctx, out, &row);
err:
	cki_client_clear(&row);
	return rv;
}

/* Refuses an action the row's state does not allow, saying why. */
static ck_status
check_transition(
    cki_registry *r, const struct cki_client *c, enum cki_reg_action a)
{
	const char *name = c->name ? c->name : "no name";
	bool conflict = c->conflict_of[0] != '\0';

	if ((trans[a].from & ST(c->state)) == 0)
		return cki_err(r->ctx, CK_E_USAGE,
		    "client %s (%s) is %s: cannot %s it", c->id, name,
		    cki_reg_state_name(c->state), cki_reg_action_name(a));
	if ((a == CKI_ACT_REPLACE_KEY || a == CKI_ACT_DISCARD) && !conflict)
		return cki_err(r->ctx, CK_E_USAGE,
		    "client %s (%s) is not a conflict entry: %s applies only "
		    "to one",
		    c->id, name, cki_reg_action_name(a));
	if (a == CKI_ACT_APPROVE && conflict)
		return cki_err(r->ctx, CK_E_USAGE,
		    "client %s (%s) is a new key for the known client %s: "
		    "use replace-key (the known client takes this key) or "
		    "discard",
		    c->id, name, c->conflict_of);
	return CK_OK;
}

/* replace-key: the conflict row's key moves onto its client. */
static ck_status
replace_key(cki_registry *r, const struct cki_client *c,
    const struct cki_actor *who, struct cki_client *after)
{
	struct cki_client old = {0};
	bool found = false;
	ck_status rv;

	if ((rv = r->ops->get(r->impl, CKI_REG_BY_ID, c->conflict_of, &old,
	         &found)) != CK_OK)
		goto err;
	if (!found || old.state == CKI_REG_REVOKED) {
		rv = cki_err(r->ctx, CK_E_USAGE,
		    "client %s: its known client %s is %s; approve or discard "
		    "this entry instead",
		    c->id, c->conflict_of, found ? "revoked" : "gone");
		goto err;
	}
	if ((rv = r->ops->remove(r->impl, c->id, c->version)) != CK_OK ||
	    (rv = client_copy(r->ctx, after, &old)) != CK_OK)
		goto err;
	memcpy(after->spki, c->spki, sizeof(after->spki));
	memcpy(after->cert_sha256, c->cert_sha256, sizeof(after->cert_sha256));
	after->changed = reg_now(r);
	if ((rv = set_str(r->ctx, &after->subject, c->subject)) != CK_OK ||
	    (rv = set_str(r->ctx, &after->sans, c->sans)) != CK_OK ||
	    (rv = set_str(r->ctx, &after->policy, decider(who))) != CK_OK ||
	    (rv = set_str(r->ctx, &after->reason, who->why)) != CK_OK ||
	    (rv = r->ops->update(r->impl, after, old.version)) != CK_OK)
		goto err;
	after->version = old.version + 1;
	/* The old key's certificates are superseded (4). */
	if ((rv = r->ops->cert_revoke(r->impl, old.id, after->changed, 4)) !=
	    CK_OK)
		goto err;
	rv = cki_reg_audit(
	    r, after, "replace-key", (int)old.state, (int)after->state, who);
err:
	cki_client_clear(&old);
	return rv;
}

/* The certificates of a client that is revoked or removed are revoked
 * with it (the CRL and OCSP follow): keyCompromise when the reason says
 * so, cessationOfOperation for a removal, else unspecified. */
static ck_status
revoke_certs(cki_registry *r, const struct cki_client *c, enum cki_reg_action a,
    const struct cki_actor *who)
{
	int reason = 0; /* unspecified */

	if (a != CKI_ACT_REVOKE && a != CKI_ACT_REMOVE)
		return CK_OK;
	if (who->why != NULL && strstr(who->why, "compromis") != NULL)
		reason = 1;
	else if (a == CKI_ACT_REMOVE)
		reason = 5;
	return r->ops->cert_revoke(
	    r->impl, c->id, (int64_t)cki_now(r->ctx), reason);
}

/* Inside the transaction: read, check, write, audit. */
static ck_status
act_tx(cki_registry *r, const char *id, enum cki_reg_action a, int64_t expect,
    const struct cki_actor *who, struct cki_client *after)
{
	struct cki_client c = {0};
	bool found = false;
	ck_status rv;

	if ((rv = r->ops->get(r->impl, CKI_REG_BY_ID, id, &c, &found)) != CK_OK)
		goto err;
	if (!found) {
		rv = cki_err(r->ctx, CK_E_NOTFOUND, "no client with id %s", id);
		goto err;
	}
	if (expect >= 0 && c.version != expect) {
		rv = cki_err(r->ctx, CK_E_CONFLICT,
		    "client %s changed: version %lld, expected %lld", id,
		    (long long)c.version, (long long)expect);
		goto err;
	}
	if ((rv = check_transition(r, &c, a)) != CK_OK)
		goto err;
	if (a == CKI_ACT_REPLACE_KEY) {
		rv = replace_key(r, &c, who, after);
		goto err;
	}
	if ((rv = client_copy(r->ctx, after, &c)) != CK_OK)
		goto err;
	if (trans[a].to < 0) {
		rv = r->ops->remove(r->impl, c.id, c.version);
	} else {
		after->state = (enum cki_reg_state)trans[a].to;
		after->changed = reg_now(r);
		after->version = c.version + 1;
		if ((rv = set_str(r->ctx, &after->policy, decider(who))) ==
		        CK_OK &&
		    (rv = set_str(r->ctx, &after->reason, who->why)) == CK_OK)
			rv = r->ops->update(r->impl, after, c.version);
	}
	if (rv == CK_OK)
		rv = revoke_certs(r, &c, a, who);
	if (rv == CK_OK)
		rv = cki_reg_audit(r, &c, cki_reg_action_name(a), (int)c.state,
		    trans[a].to, who);
err:
	cki_client_clear(&c);
	return rv;
}

ck_status
cki_registry_act(cki_registry *r, const char *id, enum cki_reg_action a,
    int64_t expect_version, const struct cki_actor *who,
    struct cki_client *after)
{
	struct cki_client tmp = {0};
	struct cki_client *out = after != NULL ? after : &tmp;
	ck_status rv = CK_OK;

	if ((unsigned)a >= sizeof(trans) / sizeof(trans[0]))
		return cki_err(r->ctx, CK_E_USAGE, "unknown action %d", a);
	for (int i = 0, cas = 0; cas < CAS_TRIES; i++) {
		cki_client_clear(out);
		if ((rv = r->ops->begin(r->impl)) != CK_OK)
			break;
		rv = act_tx(r, id, a, expect_version, who, out);
		/* Test hook: die as kill -9 would, the change written but not
		 * committed (tests/interop/registry_sqlite.sh). */
		if (rv == CK_OK && cki_fault("registry-commit"))
			_exit(9);
		if (rv == CK_OK)
			rv = r->ops->commit(r->impl);
		else
			r->ops->rollback(r->impl);
		if (cki_reg_again(r, rv, i))
			continue;
		if (rv != CK_E_CONFLICT || expect_version >= 0)
			break;
		cas++;
	}
	if (rv != CK_OK)
		cki_client_clear(out);
	cki_client_clear(&tmp);
	return rv;
}

ck_status
cki_registry_presence(cki_registry *r, const struct cki_seen *v, size_t n)
{
	ck_status rv;

	if (n == 0)
		return CK_OK;
	for (int t = 0;; t++) {
		if ((rv = r->ops->begin(r->impl)) != CK_OK)
			return rv;
		for (size_t i = 0; i < n && rv == CK_OK; i++)
			rv = r->ops->touch(r->impl, &v[i]);
		if (rv == CK_OK)
			rv = r->ops->commit(r->impl);
		else
			r->ops->rollback(r->impl);
		if (!cki_reg_again(r, rv, t))
			return rv;
	}
}

static ck_status
expire_tx(cki_registry *r, int64_t now, long ttl, size_t *n)
{
	struct rows rows = {.ctx = r->ctx};
	struct cki_reg_query q = {
	    .state = CKI_REG_PENDING, .changed_before = now - ttl};
	char why[64];
	struct cki_actor who = {"server", why};
	ck_status rv;

	snprintf(why, sizeof(why), "pending for more than %ld s", ttl);
	if ((rv = r->ops->select(r->impl, &q, rows_add, &rows)) != CK_OK ||
	    (rv = rows.st) != CK_OK)
		goto err;
	for (size_t i = 0; i < rows.n && rv == CK_OK; i++) {
		rv = r->ops->remove(r->impl, rows.v[i].id, rows.v[i].version);
		if (rv == CK_OK)
			rv = cki_reg_audit(r, &rows.v[i], "expired",
			    CKI_REG_PENDING, -1, &who);
	}
	if (rv == CK_OK)
		*n = rows.n;
err:
	rows_free(&rows);
	return rv;
}

ck_status
cki_registry_expire(cki_registry *r, int64_t now, long ttl, size_t *n)
{
	bool mine = false;
	ck_status rv;

	*n = 0;
	if ((rv = cki_registry_job(r, "expire", &mine)) != CK_OK || !mine)
		return rv;
	for (int i = 0;; i++) {
		*n = 0;
		if ((rv = r->ops->begin(r->impl)) != CK_OK)
			return rv;
		if ((rv = expire_tx(r, now, ttl, n)) == CK_OK)
			rv = r->ops->commit(r->impl);
		else
			r->ops->rollback(r->impl);
		if (!cki_reg_again(r, rv, i))
			break;
	}
	if (rv != CK_OK)
		*n = 0;
	return rv;
}

int64_t
cki_registry_now(cki_registry *r)
{
	return reg_now(r);
}

ck_status
cki_registry_job(cki_registry *r, const char *name, bool *mine)
{
	*mine = true;
	if (r->ops->job == NULL)
		return CK_OK;
	return r->ops->job(r->impl, name, mine);
}

int
cki_registry_notify_fd_for(cki_registry *r, unsigned chans)
{
	return r->ops->notify_fd != NULL ? r->ops->notify_fd(r->impl, chans)
	                                 : -1;
}

bool
cki_registry_notified(cki_registry *r)
{
	return r->ops->notified != NULL && r->ops->notified(r->impl);
}

unsigned
cki_registry_conn_gen(cki_registry *r)
{
	return r->ops->conn_gen != NULL ? r->ops->conn_gen(r->impl) : 0;
}

int
cki_registry_notify_fd(cki_registry *r)
{
	return cki_registry_notify_fd_for(r, CKI_REG_NOTE_CLIENTS);
}

/* ---- copy (export / import) ------------------------------------------- */

struct audits {
	struct cki_audit *v;
	size_t n, cap;
	ck_ctx *ctx;
	ck_status st;
};

static char *
dup_or_null(const char *s, bool *oom)
{
	char *d = s != NULL ? strdup(s) : NULL;

	if (s != NULL && d == NULL)
		*oom = true;
	return d;
}

static int
audits_add(void *arg, const struct cki_audit *a)
{
	struct audits *l = arg;
	struct cki_audit *d;
	bool oom = false;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct cki_audit *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			l->st = cki_err(l->ctx, CK_E_NOMEM, "out of memory");
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	d = &l->v[l->n++];
	*d = *a;
	d->who = dup_or_null(a->who, &oom);
	d->action = dup_or_null(a->action, &oom);
	d->why = dup_or_null(a->why, &oom);
	d->from_state = dup_or_null(a->from_state, &oom);
	d->to_state = dup_or_null(a->to_state, &oom);
	if (oom)
		l->st = cki_err(l->ctx, CK_E_NOMEM, "out of memory");
	return oom ? 1 : 0;
}

static void
audits_free(struct audits *l)
{
	for (size_t i = 0; i < l->n; i++)
		cki_audit_clear(&l->v[i]);
	free(l->v);
}

/* Issued certificates (schema 2), copied with the clients: the CRL needs
 * them. */
struct certs {
	struct cki_cert_row *v;
	size_t n, cap;
	ck_ctx *ctx;
	ck_status st;
};

static int
certs_add(void *arg, const struct cki_cert_row *c)
{
	struct certs *l = arg;
	struct cki_cert_row *d;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		struct cki_cert_row *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL) {
			l->st = cki_err(l->ctx, CK_E_NOMEM, "out of memory");
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	d = &l->v[l->n];
	*d = *c;
	d->der = NULL;
	if (c->der_len > 0 && (d->der = malloc(c->der_len)) == NULL) {
		l->st = cki_err(l->ctx, CK_E_NOMEM, "out of memory");
		return 1;
	}
	if (c->der_len > 0)
		memcpy(d->der, c->der, c->der_len);
	l->n++;
	return 0;
}

static void
certs_free(struct certs *l)
{
	for (size_t i = 0; i < l->n; i++)
		cki_cert_row_clear(&l->v[i]);
	free(l->v);
}

static int
count_one_cert(void *arg, const struct cki_cert_row *c)
{
	(void)c;
	(*(size_t *)arg)++;
	return 0;
}

static int
count_one_audit(void *arg, const struct cki_audit *a)
{
	(void)a;
	(*(size_t *)arg)++;
	return 0;
}

/* Inside dst's transaction: empty check, then clients (plain rows before
 * conflict rows, whose conflict_of must exist), then audit rows. */
static ck_status
copy_tx(cki_registry *dst, const struct rows *rows, const struct audits *au,
    const struct certs *ce)
{
	long n = 0;
	size_t a0 = 0;
	ck_status rv;

	if ((rv = dst->ops->count(dst->impl, -1, &n)) != CK_OK ||
	    (rv = dst->ops->audit_each(dst->impl, 0, count_one_audit, &a0)) !=
	        CK_OK)
		return rv;
	if (n != 0 || a0 != 0)
		return cki_err(dst->ctx, CK_E_EXISTS,
		    "the target registry is not empty (%ld clients, %zu audit "
		    "rows); copy only into a newly migrated registry",
		    n, a0);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < rows->n && rv == CK_OK; i++)
			if ((rows->v[i].conflict_of[0] != '\0') == (pass == 1))
				rv = dst->ops->load(dst->impl, &rows->v[i]);
	for (size_t i = 0; i < au->n && rv == CK_OK; i++)
		rv = dst->ops->audit_add(dst->impl, &au->v[i]);
	for (size_t i = 0; i < ce->n && rv == CK_OK; i++)
		rv = dst->ops->cert_insert(dst->impl, &ce->v[i]);
	return rv;
}

/* Reads dst back: counts and each client's version and state. */
static ck_status
copy_verify(
    cki_registry *dst, const struct rows *rows, size_t audits, size_t certs)
{
	struct cki_client c = {0};
	struct cki_cert_query cq = {0};
	bool found = false;
	size_t a = 0, k = 0;
	long n = 0;
	ck_status rv;

	if ((rv = dst->ops->count(dst->impl, -1, &n)) != CK_OK ||
	    (rv = dst->ops->audit_each(dst->impl, 0, count_one_audit, &a)) !=
	        CK_OK ||
	    (rv = dst->ops->cert_select(dst->impl, &cq, count_one_cert, &k)) !=
	        CK_OK)
		return rv;
	if ((size_t)n != rows->n || a != audits || k != certs)
		return cki_err(dst->ctx, CK_E_INTERNAL,
		    "copy check: the target has %ld clients, %zu audit rows "
		    "and %zu certificates, the source %zu, %zu and %zu",
		    n, a, k, rows->n, audits, certs);
	for (size_t i = 0; i < rows->n && rv == CK_OK; i++) {
		const struct cki_client *s = &rows->v[i];

		rv = dst->ops->get(dst->impl, CKI_REG_BY_ID, s->id, &c, &found);
		if (rv == CK_OK &&
		    (!found || c.version != s->version || c.state != s->state ||
		        strcmp(c.spki, s->spki) != 0))
			rv = cki_err(dst->ctx, CK_E_INTERNAL,
			    "copy check: client %s is %s in the target, "
			    "version %lld %s in the source",
			    s->id, found ? "different" : "missing",
			    (long long)s->version,
			    cki_reg_state_name(s->state));
	}
	cki_client_clear(&c);
	return rv;
}

ck_status
cki_registry_copy(
    cki_registry *src, cki_registry *dst, size_t *clients, size_t *audits)
{
	struct rows rows = {.ctx = dst->ctx};
	struct audits au = {.ctx = dst->ctx};
	struct certs ce = {.ctx = dst->ctx};
	struct cki_reg_query q = {.state = -1};
	struct cki_cert_query cq = {0};
	ck_status rv;

	*clients = *audits = 0;
	if ((rv = src->ops->select(src->impl, &q, rows_add, &rows)) != CK_OK ||
	    (rv = rows.st) != CK_OK ||
	    (rv = src->ops->audit_each(src->impl, 0, audits_add, &au)) !=
	        CK_OK ||
	    (rv = au.st) != CK_OK ||
	    (rv = src->ops->cert_select(src->impl, &cq, certs_add, &ce)) !=
	        CK_OK ||
	    (rv = ce.st) != CK_OK)
		goto err;
	if ((rv = dst->ops->begin(dst->impl)) != CK_OK)
		goto err;
	if ((rv = copy_tx(dst, &rows, &au, &ce)) == CK_OK)
		rv = dst->ops->commit(dst->impl);
	else
		dst->ops->rollback(dst->impl);
	if (rv == CK_OK &&
	    (rv = copy_verify(dst, &rows, au.n, ce.n)) == CK_OK) {
		*clients = rows.n;
		*audits = au.n;
	}
err:
	rows_free(&rows);
	audits_free(&au);
	certs_free(&ce);
	return rv;
}
