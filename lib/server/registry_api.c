/*
 * registry_api.c: the public registry API (include/certkit/registry.h):
 * the admin's view of lib/server's registry, as JSON reports
 * (docs/json.md: "clients", "client", "client change", "audit",
 * "registry migrate").
 *
 * Invariants:
 *  1. The registry is found the way `certkit serve` finds it: the [server]
 *     section of HOME/certkit.conf (cki_server_conf_load(): registry, and
 *     heartbeat for presence), so a broken file stops here too, named.
 *  2. Every admin change is audited as "admin:USER", USER being the name of
 *     the effective uid (or "uid N" when it has none).
 *  3. Strings from outside (names, subjects, reasons) go into reports
 *     through cki_json_str(); the tool escapes them for a terminal.
 */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "certkit/registry.h"
#include "registry_int.h"
#include "revocation_int.h"
#include "server_conf.h"

struct ck_registry {
	ck_ctx *ctx;
	cki_registry *r;
	struct cki_server_conf conf;
	const char *target; /* in conf */
	long heartbeat;
};

/* Loads the [server] section; *target: the registry it names (as authz.c
 * opens it). */
static ck_status
load_conf(ck_ctx *ctx, const char *home, struct cki_server_conf *conf,
    const char **target)
{
	ck_status rv;

	if (home == NULL || home[0] == '\0')
		return cki_err(ctx, CK_E_USAGE, "no state directory given");
	if ((rv = cki_server_conf_load(ctx, home, conf)) != CK_OK)
		return rv;
	*target =
	    conf->registry == NULL || strcmp(conf->registry, "sqlite") == 0
	    ? conf->registry_path
	    : conf->registry;
	return CK_OK;
}

ck_status
ck_registry_open(ck_ctx *ctx, const char *home, int lock_ms, ck_registry **out)
{
	ck_registry *reg = NULL;
	ck_status rv;

	cki_begin(ctx);
	*out = NULL;
	if ((reg = calloc(1, sizeof(*reg))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	reg->ctx = ctx;
	if ((rv = load_conf(ctx, home, &reg->conf, &reg->target)) != CK_OK ||
	    (rv = cki_registry_open(ctx, reg->target, lock_ms, &reg->r)) !=
	        CK_OK)
		goto err;
	reg->heartbeat = reg->conf.heartbeat;
	*out = reg;
	reg = NULL;
err:
	ck_registry_free(reg);
	return rv;
}

void
ck_registry_free(ck_registry *reg)
{
	if (reg == NULL)
		return;
	cki_registry_close(reg->r);
	cki_server_conf_free(&reg->conf);
	free(reg);
}

/* Dumps and frees doc into *json. */
static ck_status
json_out(ck_ctx *ctx, json_t *doc, char **json)
{
	*json = NULL;
	if (doc != NULL)
		*json = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (*json == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

ck_status
ck_registry_migrate(ck_ctx *ctx, const char *home, char **json)
{
	struct cki_server_conf conf;
	const char *target = NULL;
	int from = 0;
	ck_status rv;

	cki_begin(ctx);
	*json = NULL;
	memset(&conf, 0, sizeof(conf));
	if ((rv = load_conf(ctx, home, &conf, &target)) != CK_OK ||
	    (rv = cki_registry_migrate(ctx, target, &from)) != CK_OK)
		goto err;
	rv = json_out(ctx,
	    json_pack("{s:o?,s:s,s:i,s:i,s:b}", "registry",
	        cki_json_str(target), "backend",
	        cki_registry_backend_for(target), "from", from, "to",
	        CKI_REG_SCHEMA, "migrated", from != CKI_REG_SCHEMA),
	    json);
err:
	cki_server_conf_free(&conf);
	return rv;
}

/* Migrates dst, then opens src and dst and copies. */
static ck_status
copy_between(
    ck_ctx *ctx, const char *src, const char *dst, size_t *nc, size_t *na)
{
	cki_registry *a = NULL, *b = NULL;
	ck_status rv;
	int from = 0;

	if ((rv = cki_registry_open(ctx, src, 30000, &a)) != CK_OK ||
	    (rv = cki_registry_migrate(ctx, dst, &from)) != CK_OK ||
	    (rv = cki_registry_open(ctx, dst, 30000, &b)) != CK_OK)
		goto err;
	rv = cki_registry_copy(a, b, nc, na);
err:
	cki_registry_close(a);
	cki_registry_close(b);
	return rv;
}

ck_status
ck_registry_copy(ck_ctx *ctx, const char *home, const char *other,
    bool to_other, char **json)
{
	struct cki_server_conf conf;
	const char *mine = NULL, *src, *dst;
	size_t nc = 0, na = 0;
	ck_status rv;

	cki_begin(ctx);
	*json = NULL;
	memset(&conf, 0, sizeof(conf));
	if (other == NULL || other[0] == '\0')
		return cki_err(ctx, CK_E_USAGE,
		    "registry copy: expected the other registry (sqlite:FILE "
		    "or postgresql://...)");
	if ((rv = load_conf(ctx, home, &conf, &mine)) != CK_OK)
		goto err;
	src = to_other ? mine : other;
	dst = to_other ? other : mine;
	if ((rv = copy_between(ctx, src, dst, &nc, &na)) != CK_OK)
		goto err;
	rv = json_out(ctx,
	    json_pack("{s:o?,s:s,s:o?,s:s,s:I,s:I,s:b}", "from",
	        cki_json_str(src), "from_backend",
	        cki_registry_backend_for(src), "to", cki_json_str(dst),
	        "to_backend", cki_registry_backend_for(dst), "clients",
	        (json_int_t)nc, "audit", (json_int_t)na, "verified", 1),
	    json);
err:
	cki_server_conf_free(&conf);
	return rv;
}

/* A time for a report: "2026-06-01T00:00:00Z", or null for 0. */
static json_t *
jtime(int64_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	cki_fmt_time(t, buf);
	return json_string(buf);
}

static json_t *
jfacts(const char *facts)
{
	json_t *o;

	if (facts == NULL)
		return json_null();
	o = json_loads(facts, JSON_REJECT_DUPLICATES, NULL);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		return cki_json_str(facts);
	}
	return o;
}

json_t *
cki_client_json(const struct cki_client *c, int64_t now, long heartbeat)
{
	return json_pack("{s:s,s:o?,s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:I,s:o?,s:o?,"
	                 "s:o?,s:o?,s:o?,s:o?,s:o?,s:o?}",
	    "id", c->id, "name", cki_json_str(c->name), "spki_sha256", c->spki,
	    "state", cki_reg_state_name(c->state), "presence",
	    cki_presence_name(cki_client_presence(c, now, heartbeat)), "status",
	    cki_client_status_label(c, now, heartbeat), "first_seen",
	    jtime(c->first_seen), "last_seen", jtime(c->last_seen), "changed",
	    jtime(c->changed), "version", (json_int_t)c->version, "conflict_of",
	    c->conflict_of[0] ? json_string(c->conflict_of) : json_null(),
	    "policy", cki_json_str(c->policy), "reason",
	    cki_json_str(c->reason), "subject", cki_json_str(c->subject),
	    "sans", cki_json_str(c->sans), "cert_sha256",
	    c->cert_sha256[0] ? json_string(c->cert_sha256) : json_null(),
	    "agent_version", cki_json_str(c->agent_version), "facts",
	    jfacts(c->facts));
}

struct list_arg {
	json_t *arr;
	int64_t now;
	long heartbeat;
};

static int
list_cb(void *arg, const struct cki_client *c)
{
	struct list_arg *a = arg;

	return json_array_append_new(
	           a->arr, cki_client_json(c, a->now, a->heartbeat)) != 0;
}

/* The list's head; warnings: what the CRL files of [server] say now. */
static json_t *
doc_head(const ck_registry *reg, int64_t now)
{
	return json_pack("{s:o?,s:s,s:I,s:o?}", "registry",
	    cki_json_str(reg->target), "backend", cki_registry_backend(reg->r),
	    "heartbeat", (json_int_t)reg->heartbeat, "warnings",
	    cki_revo_conf_warnings(reg->ctx, &reg->conf, now));
}

ck_status
ck_registry_list(ck_registry *reg, const char *state, char **json)
{
	struct list_arg a = {
	    json_array(), (int64_t)cki_now(reg->ctx), reg->heartbeat};
	json_t *doc = NULL;
	int st = -1;
	ck_status rv;

	cki_begin(reg->ctx);
	*json = NULL;
	if (state != NULL && (st = cki_reg_state_parse(state)) < 0) {
		rv = cki_err(reg->ctx, CK_E_USAGE,
		    "expected a state (pending, approved, rejected, "
		    "suspended, revoked), found '%.80s'",
		    state);
		goto err;
	}
	if (a.arr == NULL || (doc = doc_head(reg, a.now)) == NULL) {
		rv = cki_err(reg->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = cki_registry_each(reg->r, st, list_cb, &a)) != CK_OK)
		goto err;
	json_object_set(doc, "clients", a.arr);
	rv = json_out(reg->ctx, doc, json);
	doc = NULL;
err:
	json_decref(a.arr);
	json_decref(doc);
	return rv;
}

ck_status
ck_registry_show(ck_registry *reg, const char *id, char **json)
{
	struct cki_client c = {0};
	ck_status rv;

	cki_begin(reg->ctx);
	*json = NULL;
	if ((rv = cki_registry_find(reg->r, id, &c)) != CK_OK)
		goto err;
	rv = json_out(reg->ctx,
	    json_pack("{s:o}", "client",
	        cki_client_json(
	            &c, (int64_t)cki_now(reg->ctx), reg->heartbeat)),
	    json);
err:
	cki_client_clear(&c);
	return rv;
}

/* "admin:USER" of the effective uid. */
static void
admin_name(char *out, size_t size)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(geteuid(), &pw, buf, sizeof(buf), &res) == 0 &&
	    res != NULL && res->pw_name != NULL)
		snprintf(out, size, "admin:%s", res->pw_name);
	else
		snprintf(out, size, "admin:uid %lu", (unsigned long)geteuid());
}

static int
action_parse(const char *s)
{
	for (int a = CKI_ACT_APPROVE; a <= CKI_ACT_DISCARD; a++)
		if (strcmp(s, cki_reg_action_name((enum cki_reg_action)a)) == 0)
			return a;
	return -1;
}

ck_status
ck_registry_act(ck_registry *reg, const char *id, const char *action,
    const char *reason, char **json)
{
	struct cki_client c = {0}, after = {0};
	char who[160];
	struct cki_actor actor = {who, reason};
	int a = action != NULL ? action_parse(action) : -1;
	ck_status rv;

	cki_begin(reg->ctx);
	*json = NULL;
	if (a < 0)
		return cki_err(reg->ctx, CK_E_USAGE,
		    "expected an action (approve, reject, suspend, resume, "
		    "revoke, remove, replace-key, discard), found '%.80s'",
		    action ? action : "");
	admin_name(who, sizeof(who));
	if ((rv = cki_registry_find(reg->r, id, &c)) != CK_OK ||
	    (rv = cki_registry_act(reg->r, c.id, (enum cki_reg_action)a, -1,
	         &actor, &after)) != CK_OK)
		goto err;
	rv = json_out(reg->ctx,
	    json_pack("{s:s,s:s,s:s,s:s?,s:o,s:s}", "action", action, "id",
	        c.id, "from", cki_reg_state_name(c.state), "to",
	        (a == CKI_ACT_REMOVE || a == CKI_ACT_DISCARD)
	            ? NULL
	            : cki_reg_state_name(after.state),
	        "client",
	        cki_client_json(
	            &after, (int64_t)cki_now(reg->ctx), reg->heartbeat),
	        "who", who),
	    json);
err:
	cki_client_clear(&c);
	cki_client_clear(&after);
	return rv;
}

static int
audit_cb(void *arg, const struct cki_audit *a)
{
	return json_array_append_new(arg,
	           json_pack("{s:I,s:o,s:s,s:s,s:o?,s:o?,s:o?,s:o?,s:o?}",
	               "seq", (json_int_t)a->seq, "time", jtime(a->time),
	               "client_id", a->client_id, "spki_sha256", a->spki, "who",
	               cki_json_str(a->who), "action", cki_json_str(a->action),
	               "why", cki_json_str(a->why), "from",
	               cki_json_str(a->from_state), "to",
	               cki_json_str(a->to_state))) != 0;
}

ck_status
ck_registry_audit(ck_registry *reg, int64_t since, char **json)
{
	json_t *arr = json_array();
	ck_status rv;

	cki_begin(reg->ctx);
	*json = NULL;
	if (arr == NULL)
		return cki_err(reg->ctx, CK_E_NOMEM, "out of memory");
	if ((rv = cki_registry_audit(reg->r, since, audit_cb, arr)) != CK_OK) {
		json_decref(arr);
		return rv;
	}
	return json_out(reg->ctx,
	    json_pack("{s:o?,s:o}", "registry", cki_json_str(reg->target),
	        "audit", arr),
	    json);
}

ck_status
ck_registry_token_create(
    ck_registry *reg, long uses, long ttl_seconds, char **json)
{
	char tok[65];
	int64_t expires = 0;
	ck_status rv;

	cki_begin(reg->ctx);
	*json = NULL;
	if ((rv = cki_registry_token_new(
	         reg->r, uses, ttl_seconds, tok, &expires)) != CK_OK)
		return rv;
	rv = json_out(reg->ctx,
	    json_pack("{s:s, s:I, s:I, s:o, s:I}", "token", tok, "uses",
	        (json_int_t)uses, "ttl", (json_int_t)ttl_seconds, "expires",
	        jtime(expires), "expires_unix", (json_int_t)expires),
	    json);
	OPENSSL_cleanse(tok, sizeof(tok));
	return rv;
}
