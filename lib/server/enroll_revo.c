/*
 * enroll_revo.c: revocation of what the server's CA issued (enroll_int.h):
 *
 *   GET  /crl    the DER CRL (application/pkix-crl) of the registry's
 *                revoked certificates (expired ones left out by lib/ca)
 *   POST /ocsp   an RFC 6960 responder (application/ocsp-request in,
 *                application/ocsp-response out), status from the registry
 *   GET  /ocsp/B the same with the request as URL-encoded base64 in the
 *                path (RFC 6960 appendix A.1)
 *
 * Invariants:
 *  1. The CRL is rebuilt only when the revoked list changed (a digest of
 *     its rows, checked when the registry's change token moved) or when
 *     half of its validity has passed, by one signer (job "crl"), and
 *     stored in the registry (schema 3, table crl); every primary serves
 *     the stored bytes (the CRL number grows only with a new CRL, from the
 *     stored one's, so it grows across primaries). A stored CRL that
 *     this CA did not sign (HOME/ca replaced) is rebuilt at once.
 *  2. OCSP answers from the registry at the time of the request: a
 *     `certkit clients revoke` is seen by the next request.
 *  3. The same CRL is what the server's own revocation checker uses for
 *     the clients this CA issued (cki_srv_feed_own_crl(), each second and
 *     at start): `ocsp = hard-fail` needs no OCSP round trip to itself.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "enroll_int.h"
#include "server_int.h"

#define CRL_NEXT (24 * 3600L) /* nextUpdate - thisUpdate */
#define CRL_CHECK 60          /* s between checks with no change token */
#define CRL_REREAD 1          /* s a read copy of the stored CRL is served */

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

/* True if der is a CRL of e's CA, signed by its key: a CA replaced
 * under HOME/ca (SIGHUP, restart) finds the old CA's CRL stored. */
static bool
crl_of_ca(cki_enroll *e, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *ca = cki_enroll_ca_x509(e);
	X509_CRL *crl =
	    len <= LONG_MAX ? d2i_X509_CRL(NULL, &p, (long)len) : NULL;
	bool ok = crl != NULL && ca != NULL &&
	    X509_NAME_cmp(
	        X509_CRL_get_issuer(crl), X509_get_subject_name(ca)) == 0 &&
	    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1;

	X509_CRL_free(crl);
	ERR_clear_error();
	return ok;
}

/* The signer holding job "crl" (every signer tries; on SQLite the one
 * primary holds it): a new CRL into the registry when the revoked list's
 * digest differs from the stored one's or the stored one is half-way to
 * its nextUpdate. Its number is the stored one's + 1 (the first: the CA
 * directory's next), so numbers grow across signers whatever their
 * clocks. The registry's change token says when to look again. */
ck_status
cki_enroll_crl_job(cki_enroll *e)
{
	struct cki_crl_row row = {0}, old = {0};
	struct revoked l = {0};
	uint64_t tok = 0;
	int64_t now = (int64_t)cki_now(e->ctx);
	bool mine = false, found = false;
	ck_status rv;

	if (e->ca == NULL ||
	    (rv = cki_registry_job(e->reg, "crl", &mine)) != CK_OK || !mine)
		return e->ca == NULL ? CK_OK : rv;
	if ((rv = cki_registry_change_token(e->reg, &tok)) != CK_OK)
		return rv;
	if (e->crl_checked != 0 && tok == e->crl_token &&
	    now - e->crl_checked < CRL_CHECK)
		return CK_OK;
	if ((rv = load_revoked(e, &l, row.digest)) != CK_OK ||
	    (rv = cki_registry_crl_get(e->reg, &old, &found)) != CK_OK)
		goto err;
	if (!found || strcmp(old.digest, row.digest) != 0 ||
	    now - old.built_at >= CRL_NEXT / 2 ||
	    !crl_of_ca(e, old.der, old.der_len)) {
		row.number = found ? old.number + 1 : 0;
		row.built_at = now;
		if ((rv = ck_ca_crl_number(e->ctx, e->ca, l.v, l.n, CRL_NEXT,
		         &row.number, &row.der, &row.der_len)) != CK_OK ||
		    (rv = cki_registry_crl_put(e->reg, &row)) != CK_OK)
			goto err;
		e->crl_read = 0; /* serve it at once */
	}
	e->crl_token = tok;
	e->crl_checked = now;
err:
	revoked_free(&l);
	cki_crl_row_clear(&row);
	cki_crl_row_clear(&old);
	return rv;
}

static ck_status
crl_read(cki_enroll *e, const uint8_t **der, size_t *len)
{
	struct cki_crl_row row = {0};
	int64_t now = (int64_t)cki_now(e->ctx);
	bool found = false;
	ck_status rv;

	if ((rv = cki_enroll_crl_job(e)) != CK_OK)
		return rv;
	if (e->crl == NULL || now - e->crl_read >= CRL_REREAD) {
		if ((rv = cki_registry_crl_get(e->reg, &row, &found)) != CK_OK)
			return rv;
		if (!found && e->crl == NULL)
			return cki_err(e->ctx, CK_E_NOTFOUND,
			    "no CRL in the registry yet: no signer (ca = "
			    "signer) has built one");
		if (found) {
			free(e->crl);
			e->crl = row.der;
			e->crl_len = row.der_len;
			row.der = NULL;
		}
		e->crl_read = now;
	}
	*der = e->crl;
	*len = e->crl_len;
	cki_crl_row_clear(&row);
	return CK_OK;
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
cki_enroll_crl(cki_enroll *e, const uint8_t **der, size_t *len)
{
	ck_status rv = crl_read(e, der, len);

	cki_enroll_kick(e);
	return rv;
}

ck_status
cki_enroll_ocsp(cki_enroll *e, const uint8_t *req, size_t len, uint8_t **resp,
    size_t *resp_len)
{
	ck_status rv;

	if (e->ca == NULL)
		return cki_err(e->ctx, CK_E_NOTFOUND,
		    "OCSP is answered by the primaries with the CA key (ca = "
		    "signer); this one has none");
	rv = ck_ca_ocsp_respond(
	    e->ctx, e->ca, req, len, ocsp_lookup, e, 3600, resp, resp_len);
	cki_enroll_kick(e);
	return rv;
}

void
cki_srv_feed_own_crl(struct cki_srv *s)
{
	const uint8_t *der = NULL;
	size_t n = 0;

	if (s->enroll == NULL || s->authz == NULL)
		return;
	if (cki_enroll_ca_x509(s->enroll) == NULL ||
	    cki_enroll_crl(s->enroll, &der, &n) != CK_OK) {
		ck_ctx_clear_error(s->ctx);
		return; /* the checker keeps the last CRL; GET /crl logs it */
	}
	cki_authz_set_own_ca(s->authz, cki_enroll_ca_x509(s->enroll), der, n);
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

/* OCSP needs the CA key: a non-signer answers 404 (true). */
static bool
ocsp_off(struct cki_srv *s, struct evhttp_request *req)
{
	if (cki_srv_enroll_off(s, req))
		return true;
	if (s->enroll->ca != NULL)
		return false;
	cki_srv_problem(s, req, 404, "not_found", "not found",
	    "OCSP is answered by the primaries with the CA key (ca = signer); "
	    "this one has none: use the CRL (GET /crl) or a signer",
	    NULL);
	return true;
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
	if (ocsp_off(s, req) || (body = cki_srv_body(s, req, &len)) == NULL)
		return;
	if (cki_enroll_ocsp(s->enroll, body, len, &resp, &n) != CK_OK) {
		cki_srv_problem(s, req, 500, "internal_error", "internal error",
		    ck_ctx_error(s->ctx), NULL);
		return;
	}
	cki_srv_send_bytes(req, 200, "application/ocsp-response", resp, n);
	ck_free(resp);
}

void
cki_route_ocsp_get(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	char *b64 = NULL;
	uint8_t *der = NULL, *resp = NULL;
	size_t n = 0, dlen = 0, rlen = 0;

	(void)c;
	(void)d;
	if (ocsp_off(s, req))
		return;
	if (path == NULL || strlen(path) <= 6 ||
	    (b64 = evhttp_uridecode(path + 6, 0, &n)) == NULL ||
	    (der = cki_srv_b64_decode((uint8_t *)b64, n, &dlen)) == NULL) {
		cki_srv_problem(s, req, 400, "bad_request", "bad request",
		    "expected GET /ocsp/ and a URL-encoded base64 OCSP request",
		    NULL);
		goto out;
	}
	if (cki_enroll_ocsp(s->enroll, der, dlen, &resp, &rlen) != CK_OK) {
		cki_srv_problem(s, req, 500, "internal_error", "internal error",
		    ck_ctx_error(s->ctx), NULL);
		goto out;
	}
	cki_srv_send_bytes(req, 200, "application/ocsp-response", resp, rlen);
out:
	free(b64);
	free(der);
	ck_free(resp);
}
