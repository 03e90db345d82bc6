/*
 * ca_show.c: what the CA shows of itself: its chain as PEM, the certs-only
 * PKCS#7 of EST (RFC 7030 section 4.1.3), and the report of `certkit ca
 * show` (docs/json.md, "ca").
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/pkcs7.h>

#include "ca_int.h"

ck_status
ck_ca_chain_pem(ck_ctx *ctx, const ck_ca *ca, char **pem)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	ck_status rv = CK_OK;

	cki_begin(ctx);
	*pem = NULL;
	if (b == NULL || !PEM_write_bio_X509(b, ca->cert->x509) ||
	    !PEM_write_bio_X509(b, ca->root->x509)) {
		rv = cki_err(ctx, CK_E_INTERNAL,
		    "cannot encode the CA chain: %s", cki_ossl_reason());
	} else {
		len = BIO_get_mem_data(b, &data);
		if ((*pem = malloc((size_t)len + 1)) == NULL)
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		else {
			memcpy(*pem, data, (size_t)len);
			(*pem)[len] = '\0';
		}
	}
	BIO_free(b);
	return rv;
}

/* A certs-only SignedData: no content, no signers, the certificates. */
static PKCS7 *
certs_only(X509 *leaf, const ck_ca *ca)
{
	PKCS7 *p7 = PKCS7_new();

	if (p7 == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data) ||
	    (leaf != NULL && !PKCS7_add_certificate(p7, leaf)) ||
	    !PKCS7_add_certificate(p7, ca->cert->x509) ||
	    !PKCS7_add_certificate(p7, ca->root->x509)) {
		PKCS7_free(p7);
		return NULL;
	}
	return p7;
}

ck_status
ck_ca_pkcs7(ck_ctx *ctx, const ck_ca *ca, const uint8_t *der, size_t der_len,
    uint8_t **out, size_t *out_len)
{
	const unsigned char *p = der;
	X509 *leaf = NULL;
	PKCS7 *p7 = NULL;
	unsigned char *enc = NULL;
	int n = 0;
	ck_status rv = CK_OK;

	cki_begin(ctx);
	*out = NULL;
	*out_len = 0;
	if (der != NULL && (leaf = d2i_X509(NULL, &p, (long)der_len)) == NULL)
		return cki_err(ctx, CK_E_FORMAT,
		    "PKCS#7: expected a DER certificate, found none (%s)",
		    cki_ossl_reason());
	if ((p7 = certs_only(leaf, ca)) == NULL ||
	    (n = i2d_PKCS7(p7, &enc)) <= 0)
		rv = cki_err(ctx, CK_E_INTERNAL, "cannot make the PKCS#7: %s",
		    cki_ossl_reason());
	else if ((*out = malloc((size_t)n)) == NULL)
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
	else {
		memcpy(*out, enc, (size_t)n);
		*out_len = (size_t)n;
	}
	OPENSSL_free(enc);
	PKCS7_free(p7);
	X509_free(leaf);
	return rv;
}

static json_t *
cert_json(X509 *x)
{
	char fp[65], spki[65], serial[CK_CA_SERIAL_HEX], nb[32], na[32];
	char *subject = cki_name_oneline(X509_get_subject_name(x));
	char *issuer = cki_name_oneline(X509_get_issuer_name(x));
	int64_t t0 = 0, t1 = 0;
	json_t *o;

	cki_x509_fp(x, fp);
	cki_x509_spki(x, spki);
	cki_ca_serial_hex(x, serial);
	(void)cki_asn1_time(X509_get0_notBefore(x), &t0);
	(void)cki_asn1_time(X509_get0_notAfter(x), &t1);
	cki_fmt_time(t0, nb);
	cki_fmt_time(t1, na);
	o = json_pack("{s:o, s:o, s:s, s:s, s:s, s:s, s:s}", "subject",
	    cki_json_str(subject), "issuer", cki_json_str(issuer), "serial",
	    serial, "sha256", fp, "spki_sha256", spki, "not_before", nb,
	    "not_after", na);
	free(subject);
	free(issuer);
	return o;
}

ck_status
ck_ca_show(ck_ctx *ctx, const ck_ca *ca, char **json)
{
	char key[64], *cn = cki_x509_common_name(ca->cert->x509);
	json_t *doc;
	int rsa_bits;

	cki_begin(ctx);
	*json = NULL;
	cki_x509_key(ca->cert->x509, key, sizeof(key), &rsa_bits);
	doc = json_pack("{s:i, s:o, s:o, s:s, s:i, s:s, s:o, s:o, s:o, s:o}",
	    "version", 1, "dir", cki_json_str(ca->dir), "name",
	    cki_json_str(cn), "key", key, "cert_days", ca->days, "root_key",
	    ca->root_key_kept ? "kept" : "exported", "issuing",
	    cert_json(ca->cert->x509), "root", cert_json(ca->root->x509),
	    "crl_url", cki_json_str(ca->crl_url), "ocsp_url",
	    cki_json_str(ca->ocsp_url));
	free(cn);
	if (doc == NULL ||
	    (*json = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) ==
	        NULL) {
		json_decref(doc);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	json_decref(doc);
	return CK_OK;
}
