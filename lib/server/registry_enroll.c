/*
 * registry_enroll.c: the enrollment side of the registry (schema 2,
 * registry_int.h "enrollment"): requests, issued certificates, tokens. The
 * same on every backend; the backends (registry_be.h) store the rows.
 *
 * Invariants:
 *  1. Nothing here signs: the server signs outside any transaction and
 *     records the result with cki_registry_issue(), whose transaction
 *     checks the request is still pending (two polls of one request record
 *     one certificate) and whose serial is unique (a duplicate is
 *     CK_E_EXISTS and the server signs again).
 *  2. A token is never stored: only the SHA-256 (hex) of its text.
 *     Spending a use is one conditional update (uses left, not expired).
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "registry_be.h"

static ck_status
random_hex(ck_ctx *ctx, size_t bytes, char *out)
{
	unsigned char rnd[32];

	if (bytes > sizeof(rnd) || RAND_bytes(rnd, (int)bytes) != 1)
		return cki_err(ctx, CK_E_INTERNAL,
		    "cannot draw random bytes: %s", cki_ossl_reason());
	cki_hex(rnd, bytes, out);
	return CK_OK;
}

/* Runs one write transaction of fn (again while the backend calls its
 * failure transient: PostgreSQL 40001, 40P01). */
static ck_status
in_tx(cki_registry *r, ck_status (*fn)(cki_registry *r, void *arg), void *arg)
{
	ck_status rv;

	for (int i = 0;; i++) {
		if ((rv = r->ops->begin(r->impl)) != CK_OK)
			return rv;
		if ((rv = fn(r, arg)) == CK_OK)
			rv = r->ops->commit(r->impl);
		else
			r->ops->rollback(r->impl);
		if (!cki_reg_again(r, rv, i))
			return rv;
	}
}

static ck_status
req_insert_tx(cki_registry *r, void *arg)
{
	return r->ops->req_insert(r->impl, arg);
}

ck_status
cki_registry_request_new(
    cki_registry *r, const struct cki_ereq *q, struct cki_ereq *out)
{
	struct cki_ereq row = *q;
	ck_status rv;
	bool found = false;

	row.state = CKI_EREQ_PENDING;
	row.serial[0] = '\0';
	row.created = row.changed = cki_registry_now(r);
	if (q->csr == NULL || strlen(q->spki) != 64)
		return cki_err(r->ctx, CK_E_USAGE,
		    "enrollment request: a CSR and its SPKI are required");
	if ((rv = random_hex(r->ctx, CKI_REG_ID_LEN / 2, row.id)) != CK_OK ||
	    (rv = in_tx(r, req_insert_tx, &row)) != CK_OK)
		return rv;
	if (out == NULL)
		return CK_OK;
	if ((rv = r->ops->req_get(r->impl, row.id, NULL, out, &found)) ==
	        CK_OK &&
	    !found)
		rv = cki_err(r->ctx, CK_E_INTERNAL,
		    "enrollment request %s vanished after its insert", row.id);
	return rv;
}

ck_status
cki_registry_request_get(cki_registry *r, const char *id, const char *spki,
    struct cki_ereq *out, bool *found)
{
	*found = false;
	if (id == NULL && spki == NULL)
		return cki_err(r->ctx, CK_E_USAGE,
		    "enrollment request: an id or an SPKI is required");
	return r->ops->req_get(r->impl, id, spki, out, found);
}

struct issue_arg {
	const char *req_id;
	const struct cki_cert_row *c;
	const struct cki_actor *who;
	bool *already;
};

static ck_status
issue_tx(cki_registry *r, void *arg)
{
	struct issue_arg *a = arg;
	struct cki_ereq q = {0};
	struct cki_client c = {0};
	bool found = false;
	ck_status rv;

	if (a->req_id != NULL) {
		if ((rv = r->ops->req_get(
		         r->impl, a->req_id, NULL, &q, &found)) != CK_OK)
			goto err;
		if (found && q.state == CKI_EREQ_ISSUED) {
			*a->already = true;
			rv = CK_E_CONFLICT; /* rolls back; cleared below */
			goto err;
		}
	}
	if ((rv = r->ops->cert_insert(r->impl, a->c)) != CK_OK)
		goto err;
	if (a->req_id != NULL &&
	    (rv = r->ops->req_issue(r->impl, a->req_id, a->c->serial,
	         cki_registry_now(r))) != CK_OK)
		goto err;
	snprintf(c.id, sizeof(c.id), "%s", a->c->client_id);
	snprintf(c.spki, sizeof(c.spki), "%s", a->c->spki);
	rv =
	    cki_reg_audit(r, &c, a->req_id ? "issue" : "renew", -1, -1, a->who);
err:
	cki_ereq_clear(&q);
	return rv;
}

ck_status
cki_registry_issue(cki_registry *r, const char *req_id,
    const struct cki_cert_row *c, const struct cki_actor *who, bool *already)
{
	struct issue_arg a = {req_id, c, who, already};
	ck_status rv;

	*already = false;
	rv = in_tx(r, issue_tx, &a);
	if (*already) {
		ck_ctx_clear_error(r->ctx);
		rv = CK_OK;
	}
	return rv;
}

ck_status
cki_registry_certs(
    cki_registry *r, const struct cki_cert_query *q, cki_cert_cb cb, void *arg)
{
	return r->ops->cert_select(r->impl, q, cb, arg);
}

static int
cert_copy_cb(void *arg, const struct cki_cert_row *c)
{
	struct cki_cert_row *out = arg;

	*out = *c;
	if (c->der != NULL && (out->der = malloc(c->der_len)) != NULL)
		memcpy(out->der, c->der, c->der_len);
	else
		out->der_len = 0;
	return 1;
}

ck_status
cki_registry_cert_get(
    cki_registry *r, const char *serial, struct cki_cert_row *out, bool *found)
{
	struct cki_cert_query q = {.serial = serial, .limit = 1};
	ck_status rv;

	*found = false;
	cki_cert_row_clear(out);
	if ((rv = r->ops->cert_select(r->impl, &q, cert_copy_cb, out)) != CK_OK)
		return rv;
	*found = out->serial[0] != '\0';
	if (*found && out->der == NULL)
		rv = cki_err(r->ctx, CK_E_NOMEM, "out of memory");
	return rv;
}

/* The hex SHA-256 of a token's text. */
static ck_status
token_hash(ck_ctx *ctx, const char *tok, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	if (EVP_Digest(tok, strlen(tok), md, &n, EVP_sha256(), NULL) != 1)
		return cki_err(ctx, CK_E_INTERNAL, "cannot hash a token: %s",
		    cki_ossl_reason());
	cki_hex(md, sizeof(md), out);
	return CK_OK;
}

struct token_arg {
	char hash[65];
	long uses;
	int64_t now, expires;
	bool ok;
};

static ck_status
token_new_tx(cki_registry *r, void *arg)
{
	struct token_arg *t = arg;

	return r->ops->token_insert(
	    r->impl, t->hash, t->uses, t->expires, t->now);
}

ck_status
cki_registry_token_new(
    cki_registry *r, long uses, long ttl, char tok[65], int64_t *expires)
{
	struct token_arg t = {.uses = uses};
	ck_status rv;

	if (uses < 1 || ttl < 1)
		return cki_err(r->ctx, CK_E_USAGE,
		    "a token needs at least one use and a lifetime of at least "
		    "1 s, found %ld uses and %ld s",
		    uses, ttl);
	t.now = cki_registry_now(r);
	t.expires = t.now + ttl;
	if ((rv = random_hex(r->ctx, 32, tok)) != CK_OK ||
	    (rv = token_hash(r->ctx, tok, t.hash)) != CK_OK ||
	    (rv = in_tx(r, token_new_tx, &t)) != CK_OK)
		return rv;
	*expires = t.expires;
	return CK_OK;
}

static ck_status
token_use_tx(cki_registry *r, void *arg)
{
	struct token_arg *t = arg;

	return r->ops->token_use(r->impl, t->hash, t->now, &t->ok);
}

ck_status
cki_registry_token_use(cki_registry *r, const char *tok, bool *ok)
{
	struct token_arg t = {0};
	ck_status rv;

	*ok = false;
	t.now = cki_registry_now(r);
	if ((rv = token_hash(r->ctx, tok, t.hash)) != CK_OK ||
	    (rv = in_tx(r, token_use_tx, &t)) != CK_OK)
		return rv;
	*ok = t.ok;
	return CK_OK;
}
