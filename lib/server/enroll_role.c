/*
 * enroll_role.c: signers and non-signers on one shared registry
 * (enroll_int.h, docs/PRIMARIES.md "The CA key").
 *
 * The registry is the queue: every primary records enrollment requests;
 * only signers (HOME/ca, `ca = signer`) hold the CA key.
 *
 *   signer      writes its presence (nodes: role signer, its CA chain)
 *               every SEEN_EVERY s, and role none when it stops
 *   non-signer  reads whether a signer was seen in the last SIGNER_STALE
 *               s, and the signers' CA chain (for cacerts, PKCS#7 answers,
 *               the chain of the JSON answer, the revocation checker)
 *
 * The jobs a signer runs are in enroll_signer.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "enroll_int.h"

#define SEEN_EVERY 2   /* s between a signer's presence writes */
#define SIGNER_STALE 6 /* s after which a signer counts as gone */

static STACK_OF(X509) * chain_parse(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	STACK_OF(X509) *sk = sk_X509_new_null();
	X509 *x;

	while (b != NULL && sk != NULL &&
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
		if (!sk_X509_push(sk, x))
			X509_free(x);
	ERR_clear_error(); /* the end of the PEM */
	BIO_free(b);
	if (sk != NULL && sk_X509_num(sk) == 0) {
		sk_X509_free(sk);
		sk = NULL;
	}
	return sk;
}

/* A non-signer: is a signer up, and its chain (kept if unchanged). */
static ck_status
read_signer(cki_enroll *e)
{
	char *pem = NULL;
	bool up = false;
	ck_status rv;

	if ((rv = cki_registry_signer(e->reg, SIGNER_STALE, &up, &pem)) !=
	    CK_OK)
		return rv;
	e->signer_up = up;
	if (pem != NULL && pem[0] != '\0' &&
	    (e->chain_pem == NULL || strcmp(pem, e->chain_pem) != 0)) {
		STACK_OF(X509) *sk = chain_parse(pem);

		if (sk != NULL) {
			sk_X509_pop_free(e->chain, X509_free);
			free(e->chain_pem);
			e->chain = sk;
			e->chain_pem = pem;
			pem = NULL;
		}
	}
	free(pem);
	return CK_OK;
}

/* A signer: its presence, with its CA chain. */
static ck_status
write_seen(cki_enroll *e)
{
	char *pem = NULL;
	ck_status rv;

	if ((rv = ck_ca_chain_pem(e->ctx, e->ca, &pem)) == CK_OK)
		rv = cki_registry_node_seen(e->reg, e->node, "signer", pem);
	ck_free(pem);
	return rv;
}

void
cki_enroll_presence(cki_enroll *e, int64_t now)
{
	if (e->ca == NULL) {
		if (read_signer(e) != CK_OK)
			e->signer_up = false; /* the registry is down */
	} else if (cki_registry_shared(e->reg) &&
	    now - e->seen_at >= SEEN_EVERY && write_seen(e) == CK_OK) {
		e->seen_at = now; /* (alone on SQLite: nobody to tell) */
	}
}

ck_status
cki_enroll_role(cki_enroll *e)
{
	char host[64] = "";
	ck_status rv;

	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "unknown");
	snprintf(e->node, sizeof(e->node), "%s %ld", host, (long)getpid());
	if (e->ca != NULL) {
		if (!cki_registry_shared(e->reg))
			return CK_OK;
		if ((rv = write_seen(e)) == CK_OK)
			e->seen_at = (int64_t)cki_now(e->ctx);
		return rv;
	}
	return read_signer(e);
}

void
cki_enroll_role_free(cki_enroll *e)
{
	/* a signer stopping says so (one killed goes stale instead) */
	if (e->ca != NULL && e->reg != NULL && e->seen_at != 0 &&
	    cki_registry_node_seen(e->reg, e->node, "none", NULL) != CK_OK)
		ck_ctx_clear_error(e->ctx);
	sk_X509_pop_free(e->chain, X509_free);
	free(e->chain_pem);
}

/* (Here, not in enroll_signer.c, which calls enroll.c and enroll_revo.c:
 * those call this.) */
void
cki_enroll_kick(cki_enroll *e)
{
	if (e == NULL || !cki_registry_notified(e->reg))
		return;
	e->crl_read = 0;
	if (e->ev_note != NULL)
		event_active(e->ev_note, EV_READ, 0);
}

X509 *
cki_enroll_ca_x509(cki_enroll *e)
{
	if (e->ca != NULL)
		return ck_ca_get0_cert(e->ca)->x509;
	return e->chain != NULL ? sk_X509_value(e->chain, 0) : NULL;
}

ck_status
cki_enroll_chain_pem(cki_enroll *e, char **pem)
{
	*pem = NULL;
	if (e->ca != NULL)
		return ck_ca_chain_pem(e->ctx, e->ca, pem);
	if (e->chain_pem == NULL)
		return cki_err(e->ctx, CK_E_NOTFOUND,
		    "no signer has published its CA chain in the registry");
	if ((*pem = strdup(e->chain_pem)) == NULL)
		return cki_err(e->ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

/* A certs-only PKCS#7 of leaf (may be NULL) and the signers' chain. */
static ck_status
chain_pkcs7(cki_enroll *e, X509 *leaf, uint8_t **out, size_t *out_len)
{
	PKCS7 *p7 = PKCS7_new();
	unsigned char *enc = NULL;
	ck_status rv = CK_OK;
	bool ok = p7 != NULL && PKCS7_set_type(p7, NID_pkcs7_signed) &&
	    PKCS7_content_new(p7, NID_pkcs7_data) &&
	    (leaf == NULL || PKCS7_add_certificate(p7, leaf));
	int n = 0;

	for (int i = 0; ok && i < sk_X509_num(e->chain); i++)
		ok = PKCS7_add_certificate(p7, sk_X509_value(e->chain, i));
	if (!ok || (n = i2d_PKCS7(p7, &enc)) <= 0)
		rv = cki_err(e->ctx, CK_E_INTERNAL,
		    "cannot make the PKCS#7: %s", cki_ossl_reason());
	else if ((*out = malloc((size_t)n)) == NULL)
		rv = cki_err(e->ctx, CK_E_NOMEM, "out of memory");
	else {
		memcpy(*out, enc, (size_t)n);
		*out_len = (size_t)n;
	}
	OPENSSL_free(enc);
	PKCS7_free(p7);
	return rv;
}

ck_status
cki_enroll_pkcs7(cki_enroll *e, const uint8_t *der, size_t len, uint8_t **out,
    size_t *out_len)
{
	const unsigned char *p = der;
	X509 *leaf = NULL;
	ck_status rv;

	*out = NULL;
	*out_len = 0;
	if (e->ca != NULL)
		return ck_ca_pkcs7(e->ctx, e->ca, der, len, out, out_len);
	if (e->chain == NULL)
		return cki_err(e->ctx, CK_E_NOTFOUND,
		    "no signer has published its CA chain in the registry");
	if (der != NULL && (leaf = d2i_X509(NULL, &p, (long)len)) == NULL)
		return cki_err(e->ctx, CK_E_FORMAT,
		    "PKCS#7: expected a DER certificate, found none (%s)",
		    cki_ossl_reason());
	rv = chain_pkcs7(e, leaf, out, out_len);
	X509_free(leaf);
	return rv;
}
