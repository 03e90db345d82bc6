/*
 * agent_enroll.c: enrollment through the primary's EST routes (RFC 7030).
 *
 *   POST /.well-known/est/simpleenroll     base64 PKCS#10 in (the CSR of a
 *                                          new key), no client certificate
 *   POST /.well-known/est/simplereenroll   the same, authenticated by the
 *                                          current client certificate
 *   GET  /.well-known/est/cacerts          the primary's CA, for the chain
 *
 * 200: a base64 certs-only PKCS#7 (the new certificate); 202 + Retry-After:
 * pending an admin's approval; 403: a problem document (rejected, revoked).
 * The key is made by the identity module (ck_identity_csr on the client
 * identity HOME/agent/identity, kept pending there) and the CSR kept in
 * HOME/agent/request.csr, so that a later run resumes the same request
 * (the same SPKI the admin sees) instead of starting another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "agent_int.h"
#include "certkit/identity.h"
#include "identity_int.h"

void
cki_enroll_out_clear(struct cki_enroll_out *o)
{
	json_decref(o->problem);
	json_decref(o->install);
	memset(o, 0, sizeof(*o));
}

/* SHA-256 of the key's DER SubjectPublicKeyInfo: the SPKI the primary
 * knows the client by. */
static bool
spki_sha256(EVP_PKEY *k, unsigned char md[32])
{
	unsigned char *der = NULL;
	int n = k != NULL ? i2d_PUBKEY(k, &der) : -1;
	bool ok = n > 0 &&
	    EVP_Digest(der, (size_t)n, md, NULL, EVP_sha256(), NULL) == 1;

	OPENSSL_free(der);
	return ok;
}

static void
spki_hex(EVP_PKEY *k, char out[65])
{
	unsigned char md[32];

	out[0] = '\0';
	if (spki_sha256(k, md))
		for (int i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static ck_status
der_b64(ck_agent *a, X509_REQ *req, char **b64, char spki[65])
{
	unsigned char *der = NULL;
	int n;

	if ((n = i2d_X509_REQ(req, &der)) <= 0)
		return cki_err(
		    a->ctx, CK_E_INTERNAL, "CSR: %s", cki_ossl_reason());
	spki_hex(X509_REQ_get0_pubkey(req), spki);
	if ((*b64 = malloc(4 * ((size_t)n + 2) / 3 + 1)) == NULL) {
		OPENSSL_free(der);
		return cki_err(a->ctx, CK_E_NOMEM, "out of memory");
	}
	EVP_EncodeBlock((unsigned char *)*b64, der, n);
	OPENSSL_free(der);
	return CK_OK;
}

/* A renewal keeps the key the primary knows the client by (its SPKI): a
 * CSR of the current key with the device's names. */
static ck_status
renew_csr(ck_agent *a, ck_identity *id, char **b64, char spki[65])
{
	char path[CKI_AGENT_PATH];
	struct cki_names n = {0};
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	FILE *f;
	ck_status rv;

	snprintf(path, sizeof(path), "%s/identity/current/key.pem", a->dir);
	if ((f = fopen(path, "r")) != NULL) {
		key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (key == NULL) {
		rv = cki_err(a->ctx, CK_E_IO,
		    "%s: expected the agent's current key, found none", path);
		goto err;
	}
	if ((rv = cki_names_collect(id, &n)) != CK_OK)
		goto err;
	if ((req = cki_make_csr(a->ctx, key, &n, NULL)) == NULL) {
		rv = CK_E_INTERNAL;
		goto err;
	}
	rv = der_b64(a, req, b64, spki);
err:
	cki_names_free(&n);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	return rv;
}

/* The CSR of the pending request (made when there is none): base64 of its
 * DER, and its key's SPKI. */
static ck_status
request_csr(ck_agent *a, ck_identity *id, bool renew, char **b64, char spki[65])
{
	char path[CKI_AGENT_PATH];
	char *json = NULL;
	X509_REQ *req = NULL;
	FILE *f;
	ck_status rv = CK_OK;

	if (renew)
		return renew_csr(a, id, b64, spki);
	snprintf(path, sizeof(path), "%s/request.csr", a->dir);
	if (access(path, R_OK) != 0 &&
	    (rv = ck_identity_csr(id, NULL, path, &json)) != CK_OK)
		goto err;
	if ((f = fopen(path, "r")) == NULL) {
		rv = cki_err(
		    a->ctx, CK_E_IO, "%s: cannot read the request", path);
		goto err;
	}
	req = PEM_read_X509_REQ(f, NULL, NULL, NULL);
	fclose(f);
	if (req == NULL) {
		rv = cki_err(a->ctx, CK_E_FORMAT,
		    "%s: expected a PEM CSR, found something else", path);
		goto err;
	}
	rv = der_b64(a, req, b64, spki);
err:
	ck_free(json);
	X509_REQ_free(req);
	return rv;
}

static char *
pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b != NULL && PEM_write_bio_X509(b, x) == 1 &&
	    (n = BIO_get_mem_data(b, &data)) > 0 &&
	    (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
	BIO_free(b);
	return out;
}

/* Appends src to *dst (both NUL-terminated; *dst may be NULL). */
static bool
append(char **dst, const char *src)
{
	size_t a = *dst ? strlen(*dst) : 0, b = strlen(src);
	char *n = realloc(*dst, a + b + 1);

	if (n == NULL)
		return false;
	memcpy(n + a, src, b + 1);
	*dst = n;
	return true;
}

/* Decodes base64 with or without line breaks. */
static unsigned char *
unbase64(const char *in, size_t len, size_t *outlen)
{
	EVP_ENCODE_CTX *e = EVP_ENCODE_CTX_new();
	unsigned char *out = malloc(len + 4);
	int n1 = 0, n2 = 0;

	if (e == NULL || out == NULL)
		goto err;
	EVP_DecodeInit(e);
	if (EVP_DecodeUpdate(e, out, &n1, (const unsigned char *)in, (int)len) <
	        0 ||
	    EVP_DecodeFinal(e, out + n1, &n2) < 0)
		goto err;
	EVP_ENCODE_CTX_free(e);
	*outlen = (size_t)(n1 + n2);
	return out;
err:
	EVP_ENCODE_CTX_free(e);
	free(out);
	return NULL;
}

ck_status
cki_agent_p7_certs(ck_ctx *ctx, const char *b64, size_t len,
    const char *key_spki, char **leaf_pem, char **rest_pem)
{
	size_t dlen = 0;
	unsigned char *der = unbase64(b64, len, &dlen);
	const unsigned char *p = der;
	PKCS7 *p7 = NULL;
	STACK_OF(X509) *certs = NULL;
	ck_status rv = CK_OK;

	*leaf_pem = *rest_pem = NULL;
	if (der == NULL || (p7 = d2i_PKCS7(NULL, &p, (long)dlen)) == NULL ||
	    !PKCS7_type_is_signed(p7) || p7->d.sign == NULL ||
	    (certs = p7->d.sign->cert) == NULL || sk_X509_num(certs) == 0) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "the primary's answer: expected a base64 certs-only PKCS#7 "
		    "(RFC 7030 section 4.2.3), found %zu bytes that are not "
		    "one",
		    len);
		goto err;
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);
		char spki[65], *pem = pem_of(x);
		bool leaf;

		spki_hex(X509_get0_pubkey(x), spki);
		leaf = *leaf_pem == NULL &&
		    (key_spki == NULL || strcmp(spki, key_spki) == 0);
		if (pem == NULL || !append(leaf ? leaf_pem : rest_pem, pem)) {
			free(pem);
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		free(pem);
	}
	if (*leaf_pem == NULL)
		rv = cki_err(ctx, CK_E_FORMAT,
		    "the primary's answer holds no certificate for the "
		    "request's key (SPKI %s)",
		    key_spki);
err:
	if (rv != CK_OK) {
		free(*leaf_pem);
		free(*rest_pem);
		*leaf_pem = *rest_pem = NULL;
	}
	PKCS7_free(p7);
	free(der);
	return rv;
}

/* The primary's CA certificates (GET cacerts), appended to *chain. A
 * primary without them leaves the chain as it is. */
static void
add_cacerts(ck_agent *a, char **chain)
{
	struct cki_agent_resp r = {0};
	char *leaf = NULL, *rest = NULL;

	if (cki_agent_http(a, "GET", "/.well-known/est/cacerts", NULL, NULL, 0,
	        false, &r) == CK_OK &&
	    r.status == 200 &&
	    cki_agent_p7_certs(a->ctx, r.body, r.len, NULL, &leaf, &rest) ==
	        CK_OK) {
		(void)append(chain, leaf);
		if (rest != NULL)
			(void)append(chain, rest);
	}
	ck_ctx_clear_error(a->ctx);
	free(leaf);
	free(rest);
	cki_agent_resp_clear(&r);
}

static ck_status
write_tmp(
    ck_agent *a, const char *name, const char *text, char path[CKI_AGENT_PATH])
{
	if ((size_t)snprintf(path, CKI_AGENT_PATH, "%s/%s", a->dir, name) >=
	    CKI_AGENT_PATH)
		return cki_err(a->ctx, CK_E_USAGE, "%s: path too long", a->dir);
	(void)unlink(path);
	return cki_write_new(a->ctx, path, text, strlen(text), 0600, false);
}

/* 200: installs the certificate of the answer into HOME/agent/identity. */
static ck_status
install(ck_agent *a, ck_identity *id, const struct cki_agent_resp *r,
    struct cki_enroll_out *o)
{
	char *leaf = NULL, *chain = NULL, *json = NULL;
	char lp[CKI_AGENT_PATH], cp[CKI_AGENT_PATH] = "";
	ck_status rv;

	if ((rv = cki_agent_p7_certs(
	         a->ctx, r->body, r->len, o->spki, &leaf, &chain)) != CK_OK)
		goto err;
	add_cacerts(a, &chain);
	if ((rv = write_tmp(a, "received.pem", leaf, lp)) != CK_OK ||
	    (chain != NULL &&
	        (rv = write_tmp(a, "received-chain.pem", chain, cp)) != CK_OK))
		goto err;
	rv = ck_identity_install(id, lp, NULL, cp[0] ? cp : NULL, &json);
	o->install = json ? json_loads(json, 0, NULL) : NULL;
	if (rv == CK_OK &&
	    json_is_false(json_object_get(o->install, "rolled_back"))) {
		o->installed = true;
		snprintf(lp, sizeof(lp), "%s/request.csr", a->dir);
		(void)unlink(lp);
	}
err:
	snprintf(lp, sizeof(lp), "%s/received.pem", a->dir);
	(void)unlink(lp);
	if (cp[0])
		(void)unlink(cp);
	ck_free(json);
	free(leaf);
	free(chain);
	return rv;
}

ck_status
cki_agent_enroll_once(ck_agent *a, bool renew, struct cki_enroll_out *o)
{
	ck_identity *id = NULL;
	struct cki_agent_resp r = {0};
	char *b64 = NULL;
	ck_status rv;

	memset(o, 0, sizeof(*o));
	o->renew = renew;
	if ((rv = ck_identity_new_client(
	         a->ctx, a->home, CKI_AGENT_IDENTITY, &id)) != CK_OK ||
	    (rv = request_csr(a, id, renew, &b64, o->spki)) != CK_OK)
		goto err;
	rv = cki_agent_http(a, "POST",
	    renew ? "/.well-known/est/simplereenroll"
	          : "/.well-known/est/simpleenroll",
	    "application/pkcs10", b64, strlen(b64), renew, &r);
	if (rv != CK_OK)
		goto err;
	o->status = r.status;
	o->retry_after = r.retry_after;
	if (strncmp(r.ctype, "application/problem+json", 24) == 0 ||
	    strncmp(r.ctype, "application/json", 16) == 0)
		o->problem = json_loadb(r.body, r.len, 0, NULL);
	if (r.status == 200)
		rv = install(a, id, &r, o);
err:
	cki_agent_resp_clear(&r);
	free(b64);
	ck_identity_free(id);
	return rv;
}

bool
cki_agent_cert_times(ck_agent *a, int64_t *nb, int64_t *na, int64_t *renew_at)
{
	char path[CKI_AGENT_PATH];
	unsigned char md[32] = {0};
	FILE *f;
	X509 *x;
	struct tm t;

	snprintf(path, sizeof(path), "%s/identity/current/cert.pem", a->dir);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL)
		return false;
	ASN1_TIME_to_tm(X509_get0_notBefore(x), &t);
	*nb = (int64_t)timegm(&t);
	ASN1_TIME_to_tm(X509_get0_notAfter(x), &t);
	*na = (int64_t)timegm(&t);
	/* md stays zero if the key cannot be encoded (the install checked
	 * it): the window's start, 2/3. */
	(void)spki_sha256(X509_get0_pubkey(x), md);
	if (renew_at != NULL)
		*renew_at = cki_agent_renew_at(*nb, *na, md);
	X509_free(x);
	return true;
}
