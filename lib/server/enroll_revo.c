/*
 * enroll_revo.c: revocation of what the server's CA issued (enroll_int.h):
 *
 *   GET  /crl    the DER CRL (application/pkix-crl) of the registry's
 *                revoked certificates (expired ones left out by lib/ca)
 *   POST /ocsp   an RFC 6960 responder (application/ocsp-request in,
 *                application/ocsp-response out), status from the registry
 *
 * Invariants:
 *  1. The CRL is rebuilt only when the revoked list changed (a digest of
 *     its rows, checked when the registry's change token moved) or when
 *     half of its validity has passed; otherwise the same bytes are served
 *     (the CRL number grows only with a new CRL).
 *  2. OCSP answers from the registry at the time of the request: a
 *     `certkit clients revoke` is seen by the next request.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <openssl/evp.h>

#include "enroll_int.h"
#include "server_int.h"

#define CRL_NEXT (24 * 3600L) /* nextUpdate - thisUpdate */

struct revoked {
	ck_ca_revoked *v;
	char (*serials)[65];
	size_t n, cap;
	EVP_MD_CTX *md;
	bool oom;
};

static int
revoked_cb(void *arg, const struct cki_cert_row *c)
{
	struct revoked *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 64;
		ck_ca_revoked *v = realloc(l->v, cap * sizeof(*v));
		char(*s)[65] = v ? realloc(l->serials, cap * 65) : NULL;

		if (v != NULL)
			l->v = v;
		if (s == NULL) {
			l->oom = true;
			return 1;
		}
		l->serials = s;
		l->cap = cap;
	}
	memcpy(l->serials[l->n], c->serial, 65);
	l->v[l->n] =
	    (ck_ca_revoked){NULL, c->revoked_at, c->reason, c->not_after};
	EVP_DigestUpdate(l->md, c->serial, strlen(c->serial));
	EVP_DigestUpdate(l->md, &c->revoked_at, sizeof(c->revoked_at));
	EVP_DigestUpdate(l->md, &c->reason, sizeof(c->reason));
	l->n++;
	return 0;
}

/* The revoked, unexpired certificates and the digest of the list. */
static ck_status
load_revoked(cki_enroll *e, struct revoked *l, char digest[65])
{
	struct cki_cert_query q = {
	    .revoked = true, .expires_after = (int64_t)cki_now(e->ctx)};
	unsigned char md[32];
	unsigned int n = 0;
	ck_status rv;

	if ((l->md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(l->md, EVP_sha256(), NULL) != 1)
		return cki_err(e->ctx, CK_E_NOMEM, "out of memory");
	if ((rv = cki_registry_certs(e->reg, &q, revoked_cb, l)) != CK_OK)
		return rv;
	if (l->oom || EVP_DigestFinal_ex(l->md, md, &n) != 1)
		return cki_err(e->ctx, CK_E_NOMEM, "out of memory");
	cki_hex(md, sizeof(md), digest);
	for (size_t i = 0; i < l->n; i++)
		l->v[i].serial = l->serials[i];
	return CK_OK;
}

static void
revoked_free(struct revoked *l)
{
	free(l->v);
	free(l->serials);
	EVP_MD_CTX_free(l->md);
}

ck_status
cki_enroll_crl(cki_enroll *e, const uint8_t **der, size_t *len)
{
	struct revoked l = {0};
	char digest[65];
	uint64_t tok = 0;
	int64_t now = (int64_t)cki_now(e->ctx);
	uint8_t *crl = NULL;
	size_t n = 0;
	ck_status rv;

	if ((rv = cki_registry_change_token(e->reg, &tok)) != CK_OK)
		return rv;
	if (e->crl != NULL && tok == e->crl_token &&
	    now - e->crl_built < CRL_NEXT / 2)
		goto out;
	if ((rv = load_revoked(e, &l, digest)) != CK_OK)
		goto err;
	e->crl_token = tok;
	if (e->crl != NULL && strcmp(digest, e->crl_digest) == 0 &&
	    now - e->crl_built < CRL_NEXT / 2)
		goto out;
	if ((rv = ck_ca_crl(e->ctx, e->ca, l.v, l.n, CRL_NEXT, &crl, &n)) !=
	    CK_OK)
		goto err;
	ck_free(e->crl);
	e->crl = crl;
	e->crl_len = n;
	e->crl_built = now;
	memcpy(e->crl_digest, digest, sizeof(digest));
out:
	*der = e->crl;
	*len = e->crl_len;
err:
	revoked_free(&l);
	return rv;
}

/* The OCSP responder's lookup: the registry's row of the serial. */
static ck_status
ocsp_lookup(void *arg, const char *serial, ck_ca_cert_state *state,
    int64_t *revoked_at, int *reason)
{
	cki_enroll *e = arg;
	struct cki_cert_row c = {0};
	bool found = false;
	ck_status rv = cki_registry_cert_get(e->reg, serial, &c, &found);

	*state = !found         ? CK_CA_UNKNOWN
	    : c.revoked_at != 0 ? CK_CA_REVOKED
	                        : CK_CA_GOOD;
	*revoked_at = c.revoked_at;
	*reason = c.reason;
	cki_cert_row_clear(&c);
	return rv;
}

ck_status
cki_enroll_ocsp(cki_enroll *e, const uint8_t *req, size_t len, uint8_t **resp,
    size_t *resp_len)
{
	return ck_ca_ocsp_respond(
	    e->ctx, e->ca, req, len, ocsp_lookup, e, 3600, resp, resp_len);
}

void
cki_route_crl(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    const struct cki_decision *d)
{
	const uint8_t *der = NULL;
	size_t n = 0;

	(void)c;
	(void)d;
	if (cki_srv_enroll_off(s, req))
		return;
	if (cki_enroll_crl(s->enroll, &der, &n) != CK_OK) {
		cki_slog(s->log, CKI_LOG_ERROR, "crl", "error",
		    ck_ctx_error(s->ctx), NULL);
		cki_srv_problem(s, req, 503, "registry_unavailable",
		    "registry unavailable", ck_ctx_error(s->ctx), NULL);
		return;
	}
	cki_srv_send_bytes(req, 200, "application/pkix-crl", der, n);
}

void
cki_route_ocsp(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d)
{
	const uint8_t *body;
	uint8_t *resp = NULL;
	size_t len = 0, n = 0;

	(void)c;
	(void)d;
	if (cki_srv_enroll_off(s, req) ||
	    (body = cki_srv_body(s, req, &len)) == NULL)
		return;
	if (cki_enroll_ocsp(s->enroll, body, len, &resp, &n) != CK_OK) {
		cki_srv_problem(s, req, 500, "internal_error", "internal error",
		    ck_ctx_error(s->ctx), NULL);
		return;
	}
	cki_srv_send_bytes(req, 200, "application/ocsp-response", resp, n);
	ck_free(resp);
}
