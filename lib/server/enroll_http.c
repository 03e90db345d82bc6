/*
 * enroll_http.c: the enrollment routes of `certkit serve` (enroll_int.h;
 * shapes in docs/json.md, "enroll"):
 *
 *   GET  /.well-known/est/cacerts        certs-only PKCS#7, base64
 *   POST /.well-known/est/simpleenroll   base64 PKCS#10 in (or PEM);
 *                                        "Authorization: Bearer TOKEN"
 *                                        optional; PKCS#7 out (200), 202
 *                                        + Retry-After, or a problem
 *   POST /.well-known/est/simplereenroll the same, authenticated by the
 *                                        current certificate (TLS)
 *   POST /api/v1/enroll                  {"csr": PEM, "token": T} in,
 *                                        JSON out
 *   GET  /api/v1/requests/ID             the request's JSON answer now
 *
 * Every answer but a certificate is JSON (problem+json when refused).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "enroll_int.h"
#include "server_int.h"

#define EST_P7 "application/pkcs7-mime; smime-type=certs-only"

bool
cki_srv_enroll_off(struct cki_srv *s, struct evhttp_request *req)
{
	if (s->enroll != NULL)
		return false;
	cki_srv_problem(s, req, 404, "not_found", "not found",
	    "enrollment is off: this server has no CA (run: certkit ca init, "
	    "then reload the server: SIGHUP)",
	    NULL);
	return true;
}

uint8_t *
cki_srv_b64_decode(const uint8_t *in, size_t len, size_t *out_len)
{
	char *t = malloc(len + 1);
	uint8_t *out = NULL;
	size_t n = 0;
	int m;

	if (t == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if (in[i] != ' ' && in[i] != '\t' && in[i] != '\r' &&
		    in[i] != '\n')
			t[n++] = (char)in[i];
	t[n] = '\0';
	if (n == 0 || n % 4 != 0 || (out = malloc(n / 4 * 3 + 1)) == NULL)
		goto err;
	if ((m = EVP_DecodeBlock(out, (unsigned char *)t, (int)n)) < 0) {
		free(out);
		out = NULL;
		goto err;
	}
	*out_len = (size_t)m - (t[n - 1] == '=') - (t[n - 2] == '=');
err:
	free(t);
	return out;
}

/* Base64 in lines of 64 (RFC 7030 section 4: Content-Transfer-Encoding
 * base64). */
static char *
b64_encode(const uint8_t *in, size_t len, size_t *out_len)
{
	EVP_ENCODE_CTX *e = EVP_ENCODE_CTX_new();
	char *out = malloc(len / 48 * 66 + 70);
	int n = 0, m = 0;

	if (e == NULL || out == NULL || len > 1024 * 1024) {
		free(out);
		out = NULL;
		goto err;
	}
	EVP_EncodeInit(e);
	if (EVP_EncodeUpdate(e, (unsigned char *)out, &n, in, (int)len) != 1) {
		free(out);
		out = NULL;
		goto err;
	}
	EVP_EncodeFinal(e, (unsigned char *)out + n, &m);
	*out_len = (size_t)(n + m);
err:
	EVP_ENCODE_CTX_free(e);
	return out;
}

/* 200 with a certs-only PKCS#7 of der (may be NULL) and the CA chain. */
static void
send_p7(struct cki_srv *s, struct evhttp_request *req, const uint8_t *der,
    size_t len)
{
	uint8_t *p7 = NULL;
	size_t p7len = 0, n = 0;
	char *b64 = NULL;
	ck_status rv;

	if ((rv = cki_enroll_pkcs7(s->enroll, der, len, &p7, &p7len)) ==
	    CK_E_NOTFOUND) { /* a non-signer: no signer's chain yet */
		struct cki_decision d = {
		    .status = 503, .type = "no_signer", .retry_after = 10};

		cki_srv_problem(s, req, 503, "no_signer", "no signer",
		    ck_ctx_error(s->ctx), &d);
		goto out;
	}
	if (rv != CK_OK || (b64 = b64_encode(p7, p7len, &n)) == NULL) {
		cki_srv_problem(s, req, 500, "internal_error", "internal error",
		    ck_ctx_error(s->ctx), NULL);
		goto out;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Transfer-Encoding", "base64");
	cki_srv_send_bytes(req, 200, EST_P7, b64, n);
out:
	ck_free(p7);
	free(b64);
}

/* The decision fields a problem or a 202 carries. */
static void
res_decision(const struct cki_enroll_res *r, struct cki_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->status = r->status;
	d->type = r->type;
	d->retry_after = r->retry_after;
	snprintf(d->spki, sizeof(d->spki), "%s", r->spki);
	snprintf(d->client_id, sizeof(d->client_id), "%s", r->client_id);
	d->known = r->state >= 0;
	d->state = r->state >= 0 ? (enum cki_reg_state)r->state : 0;
}

static void
log_enroll(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    const struct cki_enroll_res *r)
{
	char st[16];

	snprintf(st, sizeof(st), "%d", r->status);
	cki_slog(s->log, r->status < 400 ? CKI_LOG_INFO : CKI_LOG_WARN,
	    "enroll", "peer", c->addr, "path", evhttp_request_get_uri(req),
	    "status", st, "spki", r->spki[0] ? r->spki : NULL, "client",
	    r->client_id[0] ? r->client_id : NULL, "request",
	    r->req_id[0] ? r->req_id : NULL, "serial",
	    r->cert.serial[0] ? r->cert.serial : NULL, "problem", r->type,
	    "detail", r->status != 200 && r->detail[0] ? r->detail : NULL,
	    NULL);
}

/* A refusal or a 202, the same for EST and JSON: problem fields, the
 * request id and its Location. */
static void
send_not_issued(struct cki_srv *s, struct evhttp_request *req,
    const struct cki_enroll_res *r)
{
	struct cki_decision d;
	json_t *o;
	char *txt;
	char loc[64], ra[32];
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	res_decision(r, &d);
	if (r->status != 202) {
		cki_srv_problem(
		    s, req, r->status, r->type, r->title, r->detail, &d);
		return;
	}
	o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:I}", "state",
	    "pending", "type", r->type, "code", r->type, "status", 202, "title",
	    r->title, "detail", r->detail, "spki_sha256", r->spki, "request",
	    r->req_id, "retry_after", (json_int_t)r->retry_after);
	txt = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	snprintf(loc, sizeof(loc), "/api/v1/requests/%s", r->req_id);
	snprintf(ra, sizeof(ra), "%ld", r->retry_after);
	evhttp_add_header(h, "Location", loc);
	evhttp_add_header(h, "Retry-After", ra);
	if (txt != NULL)
		cki_srv_send_bytes(
		    req, 202, "application/json", txt, strlen(txt));
	else
		evhttp_send_error(req, 500, "Internal Server Error");
	free(txt);
	json_decref(o);
}

/* The Bearer token of the Authorization header, or NULL. */
static const char *
bearer(struct evhttp_request *req)
{
	const char *v = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");

	if (v == NULL || strncasecmp(v, "Bearer ", 7) != 0)
		return NULL;
	v += 7;
	while (*v == ' ')
		v++;
	return *v != '\0' ? v : NULL;
}

static bool
ca_verified(const struct cki_conn *c)
{
	return c->vr != NULL && c->vr->error == X509_V_OK;
}

/* The body of an EST POST: base64 DER (RFC 7030 section 4.2.1) or PEM. */
static uint8_t *
est_csr(struct cki_srv *s, struct evhttp_request *req, size_t *n)
{
	size_t len = 0;
	const uint8_t *p = cki_srv_body(s, req, &len);
	uint8_t *out = NULL;

	if (p == NULL)
		return NULL;
	if (len > 10 && memcmp(p, "-----BEGIN", 10) == 0) {
		if ((out = malloc(len)) != NULL) {
			memcpy(out, p, len);
			*n = len;
		}
	} else {
		out = cki_srv_b64_decode(p, len, n);
	}
	if (out == NULL)
		cki_srv_problem(s, req, 400, "bad_request", "bad request",
		    "expected a base64 application/pkcs10 body (RFC 7030 "
		    "section 4.2.1)",
		    NULL);
	return out;
}

void
cki_route_cacerts(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d)
{
	(void)c;
	(void)d;
	if (!cki_srv_enroll_off(s, req))
		send_p7(s, req, NULL, 0);
}

static void
est_enroll(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    bool renew)
{
	struct cki_enroll_res r;
	size_t n = 0;
	uint8_t *csr;
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

	if (cki_srv_enroll_off(s, req) || (csr = est_csr(s, req, &n)) == NULL)
		return;
	if (renew)
		cki_enroll_renew(s->enroll,
		    ssl ? SSL_get0_peer_certificate(ssl) : NULL, csr, n, &r);
	else
		cki_enroll_csr(
		    s->enroll, csr, n, bearer(req), ca_verified(c), &r);
	log_enroll(s, req, c, &r);
	if (r.status == 200)
		send_p7(s, req, r.cert.der, r.cert.der_len);
	else
		send_not_issued(s, req, &r);
	cki_enroll_res_clear(&r);
	free(csr);
}

void
cki_route_simpleenroll(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d)
{
	(void)d;
	est_enroll(s, req, c, false);
}

void
cki_route_simplereenroll(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d)
{
	(void)d;
	est_enroll(s, req, c, true);
}

/* A DER certificate as PEM text. */
static char *
der_pem(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x = d2i_X509(NULL, &p, (long)len);
	BIO *b = BIO_new(BIO_s_mem());
	char *m = NULL, *out = NULL;
	long n;

	if (x != NULL && b != NULL && PEM_write_bio_X509(b, x) == 1 &&
	    (n = BIO_get_mem_data(b, &m)) > 0)
		out = strndup(m, (size_t)n);
	X509_free(x);
	BIO_free(b);
	return out;
}

/* 200 of the JSON routes: the certificate and the CA chain, PEM. */
static void
send_issued_json(struct cki_srv *s, struct evhttp_request *req,
    const struct cki_enroll_res *r)
{
	char *pem = der_pem(r->cert.der, r->cert.der_len), *chain = NULL;
	json_t *o = NULL;
	char *txt = NULL;

	if (pem == NULL || cki_enroll_chain_pem(s->enroll, &chain) != CK_OK) {
		cki_srv_problem(s, req, 500, "internal_error", "internal error",
		    ck_ctx_error(s->ctx), NULL);
		goto out;
	}
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "state",
	    "issued", "request", r->req_id, "client_id", r->client_id,
	    "spki_sha256", r->spki, "serial", r->cert.serial, "not_before",
	    (json_int_t)r->cert.not_before, "not_after",
	    (json_int_t)r->cert.not_after, "certificate", pem, "chain", chain);
	txt = o ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	if (txt != NULL)
		cki_srv_send_bytes(
		    req, 200, "application/json", txt, strlen(txt));
	else
		evhttp_send_error(req, 500, "Internal Server Error");
out:
	json_decref(o);
	free(txt);
	free(pem);
	ck_free(chain);
}

static void
send_json_res(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    const struct cki_enroll_res *r)
{
	log_enroll(s, req, c, r);
	if (r->status == 200)
		send_issued_json(s, req, r);
	else
		send_not_issued(s, req, r);
}

/* {"csr": PEM or base64 DER, "token": T}: the CSR's bytes, or NULL after
 * answering 400. */
static uint8_t *
json_csr(struct cki_srv *s, struct evhttp_request *req, char **token, size_t *n)
{
	size_t len = 0;
	const uint8_t *p = cki_srv_body(s, req, &len);
	json_t *doc = p ? json_loadb((const char *)p, len, 0, NULL) : NULL;
	json_t *csr = json_object_get(doc, "csr");
	json_t *tok = json_object_get(doc, "token");
	const char *v = json_string_value(csr);
	uint8_t *out = NULL;

	if (p == NULL)
		return NULL;
	if (v != NULL && strncmp(v, "-----BEGIN", 10) == 0) {
		if ((out = (uint8_t *)strdup(v)) != NULL)
			*n = strlen(v);
	} else if (v != NULL) {
		out = cki_srv_b64_decode((const uint8_t *)v, strlen(v), n);
	}
	if (out == NULL || (tok != NULL && !json_is_string(tok)))
		cki_srv_problem(s, req, 400, "bad_request", "bad request",
		    "expected {\"csr\": PEM or base64 DER, \"token\": "
		    "optional string}",
		    NULL);
	else if (tok != NULL &&
	    (*token = strdup(json_string_value(tok))) == NULL)
		cki_srv_problem(s, req, 500, "internal_error", "internal error",
		    "out of memory", NULL);
	if (out != NULL && tok != NULL && *token == NULL) {
		free(out);
		out = NULL;
	}
	json_decref(doc);
	return out;
}

void
cki_route_enroll_json(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d)
{
	struct cki_enroll_res r;
	char *token = NULL;
	size_t n = 0;
	uint8_t *csr;

	(void)d;
	if (cki_srv_enroll_off(s, req) ||
	    (csr = json_csr(s, req, &token, &n)) == NULL)
		return;
	cki_enroll_csr(
	    s->enroll, csr, n, token ? token : bearer(req), ca_verified(c), &r);
	send_json_res(s, req, c, &r);
	cki_enroll_res_clear(&r);
	free(csr);
	free(token);
}

void
cki_route_request(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : "";
	const char *id = strrchr(path, '/') + 1;
	struct cki_enroll_res r;

	(void)d;
	if (cki_srv_enroll_off(s, req))
		return;
	if (strlen(id) != CKI_REG_ID_LEN ||
	    strspn(id, "0123456789abcdef") != CKI_REG_ID_LEN) {
		cki_srv_problem(s, req, 404, "not_found", "not found",
		    "a request id is 16 lower-case hex digits", NULL);
		return;
	}
	cki_enroll_poll(s->enroll, id, &r);
	send_json_res(s, req, c, &r);
	cki_enroll_res_clear(&r);
}
