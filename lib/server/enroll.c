/*
 * enroll.c: the enrollment decisions of `certkit serve` (enroll_int.h):
 * a CSR in, the client found or recorded by its SPKI, and the answer:
 * pending, issued (signed here, then recorded), or refused.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "enroll_int.h"
#include "strbuf.h"

#define ISSUE_TRIES 3 /* signings per request when a serial collides */
#define BUSY_MS 250   /* the registry's busy timeout for this handle */
#define MAX_NAMES 32  /* names in one certificate */
#define SIGN_RETRY 2  /* Retry-After while a signer signs (s) */
#define NO_SIGNER 10  /* Retry-After when no signer is up (s) */

/* A parsed CSR and what the registry needs of it. */
struct csr {
	X509_REQ *req;
	char spki[65];
	char *name; /* CN, else the first SAN (escaped) */
	char *sans; /* "DNS:a, IP:192.0.2.1" (escaped) or NULL */
	char *pem;  /* as stored in the request */
	char *subject;
};

static void
csr_clear(struct csr *c)
{
	X509_REQ_free(c->req);
	free(c->name);
	free(c->sans);
	free(c->pem);
	free(c->subject);
	memset(c, 0, sizeof(*c));
}

void
cki_enroll_res_clear(struct cki_enroll_res *r)
{
	cki_cert_row_clear(&r->cert);
	memset(r, 0, sizeof(*r));
	r->state = -1;
}

static void res_set(struct cki_enroll_res *r, int status, const char *type,
    const char *title, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* A fresh answer (r may hold garbage). */
static void
res_init(struct cki_enroll_res *r)
{
	memset(r, 0, sizeof(*r));
	r->state = -1;
}

static void
res_set(struct cki_enroll_res *r, int status, const char *type,
    const char *title, const char *fmt, ...)
{
	va_list ap;

	r->status = status;
	r->type = type;
	snprintf(r->title, sizeof(r->title), "%s", title);
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* A registry or CA error as the answer: 503 when the registry is busy or
 * unreachable (PostgreSQL down: CK_E_NETWORK; still contended after the
 * retries: CK_E_CONFLICT). */
static void
res_fail(cki_enroll *e, struct cki_enroll_res *r, ck_status st)
{
	if (st == CK_E_LOCKED || st == CK_E_IO || st == CK_E_NETWORK ||
	    st == CK_E_CONFLICT) {
		res_set(r, 503, "registry_unavailable", "registry unavailable",
		    "%s", ck_ctx_error(e->ctx));
		r->retry_after = 5;
	} else if (st == CK_E_LIMIT) {
		res_set(r, 503, "pending_limit", "pending limit", "%s",
		    ck_ctx_error(e->ctx));
		r->retry_after = e->conf->retry_after;
	} else if (st == CK_E_FORMAT || st == CK_E_USAGE) {
		res_set(r, 400, "bad_request", "bad request", "%s",
		    ck_ctx_error(e->ctx));
	} else {
		res_set(r, 500, "internal_error", "internal error", "%s",
		    ck_ctx_error(e->ctx));
	}
}

/* HOME/ca by the `ca` key: loaded unless none; required by signer. */
static ck_status
load_ca(cki_enroll *e, const struct cki_server_conf *conf)
{
	char dir[4096];
	ck_status rv;

	if (conf->ca_mode == CKI_CA_NONE)
		return CK_OK;
	snprintf(dir, sizeof(dir), "%s/ca", conf->home);
	rv = ck_ca_load(e->ctx, dir, &e->ca);
	if (rv == CK_E_NOTFOUND && conf->ca_mode == CKI_CA_SIGNER)
		return cki_err(e->ctx, CK_E_NOTFOUND,
		    "[server] ca = signer and %s holds no CA: run certkit ca "
		    "init, or copy the signers' CA directory there",
		    dir);
	if (rv == CK_E_NOTFOUND) {
		ck_ctx_clear_error(e->ctx);
		return CK_OK;
	}
	if (rv != CK_OK)
		return rv;
	if ((rv = ck_ca_set_cert_days(e->ca, (int)conf->cert_days)) != CK_OK)
		return rv;
	if (conf->public_url != NULL) {
		char crl[4200], ocsp[4200];

		snprintf(crl, sizeof(crl), "%s/crl", conf->public_url);
		snprintf(ocsp, sizeof(ocsp), "%s/ocsp", conf->public_url);
		rv = ck_ca_set_urls(e->ca, crl, ocsp);
	}
	return rv;
}

ck_status
cki_enroll_new(
    ck_ctx *ctx, const struct cki_server_conf *conf, cki_enroll **out)
{
	cki_enroll *e = calloc(1, sizeof(*e));
	ck_status rv;

	*out = NULL;
	if (e == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	e->ctx = ctx;
	e->conf = conf;
	e->note_fd = -1;
	if ((rv = load_ca(e, conf)) != CK_OK ||
	    (rv = cki_registry_open(ctx, cki_server_conf_registry(conf),
	         BUSY_MS, &e->reg)) != CK_OK)
		goto err;
	/* no CA on a registry of its own (SQLite): enrollment off */
	if (e->ca == NULL && !cki_registry_shared(e->reg))
		goto err;
	if ((rv = cki_enroll_role(e)) != CK_OK)
		goto err;
	*out = e;
	e = NULL;
err:
	cki_enroll_free(e);
	return rv;
}

void
cki_enroll_free(cki_enroll *e)
{
	if (e == NULL)
		return;
	cki_enroll_role_free(e);
	if (e->ev_note != NULL)
		event_free(e->ev_note);
	ck_ca_free(e->ca);
	cki_registry_close(e->reg);
	free(e->crl);
	free(e);
}

void
cki_enroll_drop(cki_enroll *e)
{
	if (e != NULL)
		e->seen_at = 0; /* no "stopped" presence (enroll_int.h) */
	cki_enroll_free(e);
}

void
cki_enroll_replace(cki_enroll **cur, cki_enroll *ne)
{
	if (ne != NULL && ne->ca != NULL)
		cki_enroll_drop(*cur); /* ne announces the same node */
	else
		cki_enroll_free(*cur);
	*cur = ne;
}

/* ---- the CSR -------------------------------------------------------------
 */

/* "DNS:a, IP:192.0.2.1" of the CSR's subjectAltName request, or NULL. */
static char *
csr_sans(X509_REQ *req)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *gs = NULL;
	struct cki_sb sb = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char ip[INET6_ADDRSTRLEN];
	int n = 0;

	for (int i = 0; exts != NULL && i < sk_X509_EXTENSION_num(exts); i++) {
		X509_EXTENSION *x = sk_X509_EXTENSION_value(exts, i);

		if (OBJ_obj2nid(X509_EXTENSION_get_object(x)) ==
		    NID_subject_alt_name)
			gs = X509V3_EXT_d2i(x);
	}
	for (int i = 0; gs != NULL && i < sk_GENERAL_NAME_num(gs); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gs, i);
		const ASN1_STRING *s = g->type == GEN_DNS ? g->d.dNSName
		    : g->type == GEN_IPADD                ? g->d.iPAddress
		                                          : NULL;
		int len = s != NULL ? ASN1_STRING_length(s) : 0;

		if (s == NULL)
			continue;
		if (g->type == GEN_DNS) {
			cki_sb_printf(&sb, "%sDNS:", n++ ? ", " : "");
			cki_sb_esc(&sb, ASN1_STRING_get0_data(s), (size_t)len);
		} else if ((len == 4 || len == 16) &&
		    inet_ntop(len == 4 ? AF_INET : AF_INET6,
		        ASN1_STRING_get0_data(s), ip, sizeof(ip)) != NULL) {
			cki_sb_printf(&sb, "%sIP:%s", n++ ? ", " : "", ip);
		}
	}
	GENERAL_NAMES_free(gs);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (n == 0) {
		cki_sb_free(&sb);
		return NULL;
	}
	return cki_sb_take(&sb);
}

/* The CN of the CSR's subject (escaped), else the first SAN's value. */
static char *
csr_name(X509_REQ *req, const char *sans)
{
	X509_NAME *nm = X509_REQ_get_subject_name(req);
	int i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
	const char *p, *end;

	if (i >= 0) {
		ASN1_STRING *s =
		    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i));

		return cki_esc_dup((const char *)ASN1_STRING_get0_data(s),
		    (size_t)ASN1_STRING_length(s));
	}
	if (sans == NULL || (p = strchr(sans, ':')) == NULL)
		return NULL;
	p++;
	end = strstr(p, ", ");
	return strndup(p, end != NULL ? (size_t)(end - p) : strlen(p));
}

/* The hex SHA-256 of a key's SubjectPublicKeyInfo. */
static bool
pkey_spki(EVP_PKEY *k, char out[65])
{
	unsigned char *der = NULL, md[32];
	unsigned int mdlen = 0;
	int n = i2d_PUBKEY(k, &der);
	bool ok = n > 0 &&
	    EVP_Digest(der, (size_t)n, md, &mdlen, EVP_sha256(), NULL) == 1;

	OPENSSL_free(der);
	if (ok)
		cki_hex(md, sizeof(md), out);
	return ok;
}

static char *
csr_pem(X509_REQ *req)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p = NULL, *out = NULL;
	long n;

	if (b != NULL && PEM_write_bio_X509_REQ(b, req) == 1 &&
	    (n = BIO_get_mem_data(b, &p)) > 0)
		out = strndup(p, (size_t)n);
	BIO_free(b);
	return out;
}

/* Parses and checks a CSR (DER or PEM): its signature must verify. */
static bool
csr_parse(
    const uint8_t *in, size_t len, struct csr *c, struct cki_enroll_res *r)
{
	const unsigned char *p = in;
	EVP_PKEY *k;

	memset(c, 0, sizeof(*c));
	if (len > 10 && memcmp(in, "-----BEGIN", 10) == 0) {
		BIO *b = BIO_new_mem_buf(in, (int)len);

		c->req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
	} else {
		c->req = d2i_X509_REQ(NULL, &p, (long)len);
	}
	if (c->req == NULL) {
		res_set(r, 400, "bad_request", "bad request",
		    "expected a PKCS#10 certificate request (DER in base64, or "
		    "PEM), found %zu bytes that do not parse",
		    len);
		return false;
	}
	k = X509_REQ_get0_pubkey(c->req);
	if (k == NULL || X509_REQ_verify(c->req, k) != 1 ||
	    !pkey_spki(k, c->spki)) {
		res_set(r, 400, "bad_request", "bad request",
		    "the certificate request's signature does not verify with "
		    "its own key (no proof of possession)");
		return false;
	}
	c->sans = csr_sans(c->req);
	c->name = csr_name(c->req, c->sans);
	c->subject = cki_name_oneline(X509_REQ_get_subject_name(c->req));
	c->pem = csr_pem(c->req);
	if (c->name == NULL) {
		res_set(r, 400, "bad_request", "bad request",
		    "the certificate request names nothing: expected a CN or a "
		    "subjectAltName (DNS or IP)");
		return false;
	}
	snprintf(r->spki, sizeof(r->spki), "%s", c->spki);
	return c->pem != NULL;
}

/* ---- issuing -------------------------------------------------------------
 */

/* Splits "DNS:a, IP:b" into names (pointers into buf). */
static size_t
split_names(char *buf, const char *names[MAX_NAMES])
{
	size_t n = 0;
	char *p = buf, *end;

	while (p != NULL && *p != '\0' && n < MAX_NAMES) {
		end = strstr(p, ", ");
		if (end != NULL)
			*end = '\0';
		if (strncmp(p, "DNS:", 4) == 0 || strncmp(p, "IP:", 3) == 0)
			names[n++] = strchr(p, ':') + 1;
		p = end != NULL ? end + 2 : NULL;
	}
	return n;
}

/* Signs csr_pem for client c with its approved names, and records it
 * (against request req_id, or a renewal when NULL). */
static void
sign(cki_enroll *e, const struct cki_client *c, const char *csr_pem,
    const char *req_id, const char *who, struct cki_enroll_res *r)
{
	struct cki_actor actor = {"server", who};
	char *buf = strdup(c->sans != NULL ? c->sans : "");
	const char *names[MAX_NAMES];
	ck_ca_issued is = {0};
	ck_status st = CK_OK;
	bool already = false;
	size_t n;

	if (buf == NULL) {
		res_fail(e, r, cki_err(e->ctx, CK_E_NOMEM, "out of memory"));
		return;
	}
	n = split_names(buf, names);
	for (int i = 0; i < ISSUE_TRIES; i++) {
		struct cki_cert_row row = {0};

		ck_ca_issued_clear(&is);
		if ((st = ck_ca_issue(e->ctx, e->ca, (const uint8_t *)csr_pem,
		         strlen(csr_pem), c->name, names, n, &is)) != CK_OK)
			break;
		memcpy(row.serial, is.serial, sizeof(is.serial));
		memcpy(row.client_id, c->id, sizeof(row.client_id));
		memcpy(row.spki, is.spki, sizeof(row.spki));
		row.not_before = is.not_before;
		row.not_after = is.not_after;
		row.der = is.der;
		row.der_len = is.der_len;
		st = cki_registry_issue(e->reg, req_id, &row, &actor, &already);
		if (st != CK_E_EXISTS)
			break;
	}
	free(buf);
	if (st == CK_OK && already) {
		struct cki_ereq q = {0};
		bool found = false;

		if ((st = cki_registry_request_get(
		         e->reg, req_id, NULL, &q, &found)) == CK_OK)
			st = cki_registry_cert_get(
			    e->reg, q.serial, &r->cert, &found);
		cki_ereq_clear(&q);
	} else if (st == CK_OK) {
		memcpy(r->cert.serial, is.serial, sizeof(is.serial));
		memcpy(r->cert.client_id, c->id, sizeof(r->cert.client_id));
		memcpy(r->cert.spki, is.spki, sizeof(r->cert.spki));
		r->cert.not_before = is.not_before;
		r->cert.not_after = is.not_after;
		r->cert.der = is.der;
		r->cert.der_len = is.der_len;
		is.der = NULL;
	}
	ck_ca_issued_clear(&is);
	if (st != CK_OK)
		res_fail(e, r, st);
	else
		r->status = 200;
}

/* The answer for client c and its request q, by the client's state. */
static void
answer(cki_enroll *e, const struct cki_client *c, const struct cki_ereq *q,
    struct cki_enroll_res *r)
{
	bool found = false;
	ck_status st;

	snprintf(r->req_id, sizeof(r->req_id), "%s", q->id);
	snprintf(r->client_id, sizeof(r->client_id), "%s", c->id);
	snprintf(r->spki, sizeof(r->spki), "%s", c->spki);
	r->state = (int)c->state;
	switch (c->state) {
	case CKI_REG_PENDING:
		res_set(r, 202, "pending_approval", "pending approval", "%s",
		    c->conflict_of[0] != '\0'
		        ? "pending approval: this name is known with another "
		          "key; an admin must replace-key or discard"
		        : "pending approval by an admin of this server");
		r->retry_after = e->conf->retry_after;
		return;
	case CKI_REG_REJECTED:
		res_set(r, 403, "client_rejected", "client rejected",
		    "rejected by an admin");
		return;
	case CKI_REG_SUSPENDED:
		res_set(r, 403, "client_suspended", "client suspended",
		    "suspended by an admin");
		return;
	case CKI_REG_REVOKED:
		res_set(r, 403, "client_revoked", "client revoked",
		    "revoked by an admin");
		return;
	case CKI_REG_APPROVED: break;
	}
	if (q->state != CKI_EREQ_ISSUED && e->ca == NULL) {
		res_set(r, 202, "pending_signature", "pending signature",
		    "approved; a signer of this site signs the request (poll "
		    "again)");
		r->retry_after = SIGN_RETRY;
		return;
	}
	if (q->state != CKI_EREQ_ISSUED) {
		sign(e, c, q->csr, q->id, "enrollment", r);
		return;
	}
	st = cki_registry_cert_get(e->reg, q->serial, &r->cert, &found);
	if (st != CK_OK)
		res_fail(e, r, st);
	else if (!found)
		res_set(r, 500, "internal_error", "internal error",
		    "request %s names certificate %s, which is not recorded",
		    q->id, q->serial);
	else
		r->status = 200;
}

/* ---- enrolling -----------------------------------------------------------
 */

/* A non-signer with no signer seen lately: 503 no_signer (true). */
static bool
no_signer(cki_enroll *e, struct cki_enroll_res *r)
{
	if (e->ca != NULL || e->signer_up)
		return false;
	res_set(r, 503, "no_signer", "no signer",
	    "no signer is up: this primary has no CA key (ca = none) and no "
	    "primary with ca = signer has been seen in the registry lately");
	r->retry_after = NO_SIGNER;
	return true;
}

/* The state of a new client: by token, CA-verified TLS, or the policy. */
static bool
new_state(cki_enroll *e, const char *token, bool ca_verified,
    enum cki_reg_state *st, const char **policy, struct cki_enroll_res *r)
{
	bool ok = false;
	ck_status rv;

	*st = CKI_REG_PENDING;
	*policy = "pairing";
	if (token != NULL) {
		if ((rv = cki_registry_token_use(e->reg, token, &ok)) !=
		    CK_OK) {
			res_fail(e, r, rv);
			return false;
		}
		if (!ok) {
			res_set(r, 403, "token_invalid", "token invalid",
			    "the enrollment token is unknown, used up or "
			    "expired");
			return false;
		}
		*st = CKI_REG_APPROVED;
		*policy = "token";
	} else if (ca_verified && e->conf->policy != CKI_POLICY_PAIRING) {
		*st = CKI_REG_APPROVED;
		*policy = "trusted-ca";
	} else if (e->conf->policy == CKI_POLICY_TRUSTED_CA) {
		res_set(r, 403, "issuer_not_trusted", "issuer not trusted",
		    "client_policy is trusted-ca and the TLS client "
		    "certificate does not verify to client_ca (or none was "
		    "sent); enroll with a token instead");
		return false;
	}
	return true;
}

/* The client of spki: found, or recorded now (first contact). */
static bool
find_client(cki_enroll *e, const struct csr *csr, const char *token,
    bool ca_verified, struct cki_client *c, struct cki_enroll_res *r)
{
	struct cki_client in = {0};
	struct cki_actor who = {"server", "enrollment request"};
	enum cki_reg_state st;
	const char *policy = NULL;
	bool found = false, ok = false;
	ck_status rv;

	if ((rv = cki_registry_get_spki(e->reg, csr->spki, c, &found)) !=
	    CK_OK) {
		res_fail(e, r, rv);
		return false;
	}
	if (found && token != NULL && c->state == CKI_REG_PENDING &&
	    c->conflict_of[0] == '\0') {
		struct cki_actor tok = {"token", "one-time enrollment token"};

		if ((rv = cki_registry_token_use(e->reg, token, &ok)) ==
		        CK_OK &&
		    ok)
			rv = cki_registry_act(
			    e->reg, c->id, CKI_ACT_APPROVE, -1, &tok, c);
		if (rv == CK_OK && !ok)
			res_set(r, 403, "token_invalid", "token invalid",
			    "the enrollment token is unknown, used up or "
			    "expired");
		else if (rv != CK_OK)
			res_fail(e, r, rv);
		return rv == CK_OK && ok;
	}
	if (found)
		return true;
	if (!new_state(e, token, ca_verified, &st, &policy, r))
		return false;
	in.policy = (char *)(uintptr_t)policy; /* lent, not freed */
	memcpy(in.spki, csr->spki, sizeof(in.spki));
	in.name = csr->name;
	in.subject = csr->subject;
	in.sans = csr->sans;
	if (st == CKI_REG_APPROVED)
		who.why = policy;
	rv = cki_registry_first_contact(
	    e->reg, &in, st, e->conf->max_pending, &who, c);
	if (rv != CK_OK)
		res_fail(e, r, rv);
	return rv == CK_OK;
}

static int
cert_first_cb(void *arg, const struct cki_cert_row *c)
{
	struct cki_cert_row *out = arg;

	*out = *c;
	out->der = NULL; /* not needed here */
	out->der_len = 0;
	return 1;
}

/* May an approved key whose newest certificate is `cert` (none: serial
 * "") be issued another by simpleenroll? Not when that one is revoked, or
 * expired beyond renew_grace: then an admin must approve it again. */
static bool
reissue_ok(cki_enroll *e, const struct cki_client *c,
    const struct cki_cert_row *cert, struct cki_enroll_res *r)
{
	int64_t now = (int64_t)cki_now(e->ctx);

	if (c->state != CKI_REG_APPROVED || cert->serial[0] == '\0')
		return true;
	if (cert->revoked_at != 0) {
		res_set(r, 403, "certificate_revoked", "certificate revoked",
		    "this key's certificate %s is revoked", cert->serial);
		return false;
	}
	if (now > cert->not_after + e->conf->renew_grace) {
		res_set(r, 403, "certificate_expired", "certificate expired",
		    "this key's newest certificate expired %lld days ago, "
		    "beyond renew_grace (%ld days): an admin must approve it "
		    "again (certkit clients remove %s, then approve its new "
		    "request)",
		    (long long)((now - cert->not_after) / 86400),
		    e->conf->renew_grace / 86400, c->id);
		return false;
	}
	return true;
}

/* The request to answer: the newest of this key while pending, or while
 * the key's newest certificate is good (answered with that one); else a
 * new one, within renew_grace of that certificate's expiry. */
static bool
find_request(cki_enroll *e, const struct cki_client *c, const struct csr *csr,
    struct cki_ereq *q, struct cki_enroll_res *r)
{
	struct cki_cert_query cq = {.spki = csr->spki, .limit = 1};
	struct cki_cert_row cert = {0};
	struct cki_ereq in = {0};
	bool found = false;
	ck_status rv;

	rv = cki_registry_request_get(e->reg, NULL, csr->spki, q, &found);
	if (rv == CK_OK && found && q->state == CKI_EREQ_PENDING)
		return true;
	if (rv == CK_OK)
		rv = cki_registry_certs(e->reg, &cq, cert_first_cb, &cert);
	if (rv == CK_OK && found && cert.serial[0] != '\0' &&
	    cert.revoked_at == 0 && cert.not_after > (int64_t)cki_now(e->ctx)) {
		memcpy(q->serial, cert.serial, sizeof(q->serial));
		return true;
	}
	if (rv == CK_OK && !reissue_ok(e, c, &cert, r))
		return false;
	memcpy(in.client_id, c->id, sizeof(in.client_id));
	memcpy(in.spki, csr->spki, sizeof(in.spki));
	in.csr = csr->pem;
	in.names = c->sans;
	if (rv == CK_OK)
		rv = cki_registry_request_new(e->reg, &in, q);
	if (rv != CK_OK)
		res_fail(e, r, rv);
	return rv == CK_OK;
}

void
cki_enroll_csr(cki_enroll *e, const uint8_t *der, size_t len, const char *token,
    bool ca_verified, struct cki_enroll_res *r)
{
	struct csr csr = {0};
	struct cki_client c = {0};
	struct cki_ereq q = {0};

	res_init(r);
	if (!no_signer(e, r) && csr_parse(der, len, &csr, r) &&
	    find_client(e, &csr, token, ca_verified, &c, r) &&
	    find_request(e, &c, &csr, &q, r))
		answer(e, &c, &q, r);
	cki_ereq_clear(&q);
	cki_client_clear(&c);
	csr_clear(&csr);
	cki_enroll_kick(e);
}

void
cki_enroll_poll(cki_enroll *e, const char *id, struct cki_enroll_res *r)
{
	struct cki_client c = {0};
	struct cki_ereq q = {0};
	bool found = false;
	ck_status rv;

	res_init(r);
	if (no_signer(e, r))
		return;
	rv = cki_registry_request_get(e->reg, id, NULL, &q, &found);
	if (rv == CK_OK && found)
		rv = cki_registry_get_spki(e->reg, q.spki, &c, &found);
	if (rv != CK_OK)
		res_fail(e, r, rv);
	else if (!found)
		res_set(r, 404, "not_found", "not found",
		    "no enrollment request %s (or its client was removed)", id);
	else
		answer(e, &c, &q, r);
	cki_ereq_clear(&q);
	cki_client_clear(&c);
	cki_enroll_kick(e);
}

/* ---- renewal -------------------------------------------------------------
 */

/* The serial of x as the registry keeps it. */
static bool
leaf_serial(X509 *x, char out[CK_CA_SERIAL_HEX])
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
	char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;
	bool ok = hex != NULL && ck_ca_serial_norm(hex, out);

	OPENSSL_free(hex);
	BN_free(bn);
	return ok;
}

/* The registry row of a certificate this CA issued, checked: signed by the
 * CA, recorded, not revoked. */
static bool
renew_cert(cki_enroll *e, X509 *leaf, struct cki_cert_row *cert,
    struct cki_enroll_res *r)
{
	X509 *ca = cki_enroll_ca_x509(e);
	char serial[CK_CA_SERIAL_HEX];
	bool found = false;
	ck_status rv;

	if (ca == NULL || X509_check_issued(ca, leaf) != X509_V_OK ||
	    X509_verify(leaf, X509_get0_pubkey(ca)) != 1 ||
	    !leaf_serial(leaf, serial)) {
		res_set(r, 403, "issuer_not_trusted", "issuer not trusted",
		    "simplereenroll: the client certificate was not issued by "
		    "this server's CA");
		return false;
	}
	if ((rv = cki_registry_cert_get(e->reg, serial, cert, &found)) !=
	    CK_OK) {
		res_fail(e, r, rv);
		return false;
	}
	if (!found)
		res_set(r, 403, "issuer_not_trusted", "issuer not trusted",
		    "simplereenroll: certificate %s is not in the registry",
		    serial);
	else if (cert->revoked_at != 0)
		res_set(r, 403, "certificate_revoked", "certificate revoked",
		    "certificate revoked (registry)");
	return found && cert->revoked_at == 0;
}

static int
cert_newest_cb(void *arg, const struct cki_cert_row *c)
{
	struct cki_cert_row *out = arg;

	memcpy(out->serial, c->serial, sizeof(out->serial));
	return 1;
}

/* An expired certificate renews only within renew_grace and only if it is
 * its client's newest. */
static bool
renew_in_grace(
    cki_enroll *e, const struct cki_cert_row *cert, struct cki_enroll_res *r)
{
	struct cki_cert_query q = {.client_id = cert->client_id, .limit = 1};
	struct cki_cert_row newest = {0};
	int64_t now = (int64_t)cki_now(e->ctx);
	ck_status rv;
	bool ok;

	if (now <= cert->not_after)
		return true;
	if (now > cert->not_after + e->conf->renew_grace) {
		res_set(r, 403, "certificate_expired", "certificate expired",
		    "the certificate expired %lld days ago, beyond renew_grace "
		    "(%ld days): enroll again",
		    (long long)((now - cert->not_after) / 86400),
		    e->conf->renew_grace / 86400);
		return false;
	}
	rv = cki_registry_certs(e->reg, &q, cert_newest_cb, &newest);
	ok = rv == CK_OK && strcmp(newest.serial, cert->serial) == 0;
	if (rv != CK_OK)
		res_fail(e, r, rv);
	else if (!ok)
		res_set(r, 403, "certificate_expired", "certificate expired",
		    "the certificate expired and is not its client's newest "
		    "(%s is): renew with that one",
		    newest.serial);
	cki_cert_row_clear(&newest);
	return ok;
}

/* A non-signer's renewal, checked like a signer's (the caller did): it
 * becomes a request that a signer signs (job "sign"), answered 202
 * pending_signature (RFC 7030 section 4.2.3). Asked again with the same
 * certificate, the answer is that request's: pending, or the certificate
 * a signer issued for it (newer than the one presented). */
static void
renew_queue(cki_enroll *e, const struct cki_client *c, const struct csr *csr,
    const struct cki_cert_row *cert, struct cki_enroll_res *r)
{
	struct cki_cert_row issued = {0};
	struct cki_ereq q = {0}, in = {0};
	bool found = false, done = false;
	ck_status rv;

	rv = cki_registry_request_get(e->reg, NULL, csr->spki, &q, &found);
	if (rv == CK_OK && found && q.state == CKI_EREQ_ISSUED &&
	    strcmp(q.serial, cert->serial) != 0)
		rv = cki_registry_cert_get(e->reg, q.serial, &issued, &done);
	done = done && issued.not_before > cert->not_before;
	if (rv == CK_OK && !(found && (q.state == CKI_EREQ_PENDING || done))) {
		memcpy(in.client_id, c->id, sizeof(in.client_id));
		memcpy(in.spki, csr->spki, sizeof(in.spki));
		in.csr = csr->pem;
		in.names = c->sans;
		cki_ereq_clear(&q);
		rv = cki_registry_request_new(e->reg, &in, &q);
	}
	if (rv != CK_OK)
		res_fail(e, r, rv);
	else
		answer(e, c, &q, r);
	cki_cert_row_clear(&issued);
	cki_ereq_clear(&q);
}

void
cki_enroll_renew(cki_enroll *e, X509 *leaf, const uint8_t *der, size_t len,
    struct cki_enroll_res *r)
{
	struct cki_cert_row cert = {0};
	struct cki_client c = {0};
	struct cki_ereq none = {0};
	struct csr csr = {0};
	ck_status rv;

	res_init(r);
	if (no_signer(e, r))
		goto out;
	if (leaf == NULL) {
		res_set(r, 401, "client_cert_required",
		    "client certificate required",
		    "simplereenroll is authenticated by the current "
		    "certificate: send it as the TLS client certificate");
		goto out;
	}
	if (!csr_parse(der, len, &csr, r) || !renew_cert(e, leaf, &cert, r) ||
	    !renew_in_grace(e, &cert, r))
		goto out;
	if ((rv = cki_registry_find(e->reg, cert.client_id, &c)) != CK_OK) {
		res_set(r, 403, "client_revoked", "client revoked",
		    "the client of this certificate is no longer registered");
		goto out;
	}
	if (c.state != CKI_REG_APPROVED) {
		answer(e, &c, &none, r);
		goto out;
	}
	if (strcmp(csr.spki, c.spki) != 0) {
		res_set(r, 400, "bad_request", "bad request",
		    "simplereenroll keeps the client's key; a new key is a new "
		    "enrollment (simpleenroll; the admin sees a key conflict)");
		goto out;
	}
	snprintf(r->client_id, sizeof(r->client_id), "%s", c.id);
	r->state = (int)c.state;
	if (e->ca == NULL)
		renew_queue(e, &c, &csr, &cert, r);
	else
		sign(e, &c, csr.pem, NULL, "renewal", r);
out:
	cki_client_clear(&c);
	cki_cert_row_clear(&cert);
	csr_clear(&csr);
	cki_enroll_kick(e);
}
