/*
 * ca_issue.c: the client certificates certkit's CA signs for enrolled
 * devices.
 *
 * What an issued certificate holds (nothing of the CSR but its key):
 *   version      v3
 *   serial       16 random bytes, positive (ca.c, cki_ca_serial)
 *   subject      CN = the given label, else the first approved name
 *   validity     now - 5 min (clock skew) to now + cert days (default 90),
 *                never beyond the issuing CA's notAfter
 *   extensions   basicConstraints critical CA:FALSE; keyUsage critical
 *                digitalSignature (+ keyEncipherment for RSA);
 *                extendedKeyUsage clientAuth only; SKI; AKI keyid; SAN =
 *                exactly the approved names (DNS or IP); the CA's CRL
 *                distribution point and OCSP URL (AIA) when set
 *   signature    the issuing CA's key, SHA-256
 *
 * Invariants:
 *  1. The CSR's signature must verify with its own key (proof of
 *     possession, RFC 2986 section 3; RFC 7030 section 3.4).
 *  2. Names are checked here and put in as GeneralNames, never through
 *     OpenSSL's config text, so a name cannot smuggle another entry.
 *  3. ck_ca_issue reads the CA only: several threads may issue at once.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca_int.h"

#define CN_MAX 64
#define DNS_MAX 253
#define SKEW_SECS 300

static X509_REQ *
parse_csr(ck_ctx *ctx, const uint8_t *csr, size_t len)
{
	X509_REQ *req = NULL;
	const unsigned char *p = csr;
	EVP_PKEY *pub;
	BIO *b;

	if (csr == NULL || len == 0 || len > 65536) {
		cki_err(ctx, CK_E_FORMAT,
		    "CSR: expected 1 to 65536 bytes, found %zu", len);
		return NULL;
	}
	if (len > 10 && memcmp(csr, "-----BEGIN", 10) == 0) {
		if ((b = BIO_new_mem_buf(csr, (int)len)) != NULL)
			req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		BIO_free(b);
	} else {
		req = d2i_X509_REQ(NULL, &p, (long)len);
		if (req != NULL && p != csr + len) {
			X509_REQ_free(req);
			req = NULL; /* trailing bytes: not one DER CSR */
		}
	}
	if (req == NULL) {
		cki_err(ctx, CK_E_FORMAT,
		    "CSR: expected a PKCS#10 request (DER or PEM), found "
		    "none (%s)",
		    cki_ossl_reason());
		return NULL;
	}
	/* RFC 2986 section 3: the request is signed with its own key. */
	if ((pub = X509_REQ_get0_pubkey(req)) == NULL ||
	    X509_REQ_verify(req, pub) != 1) {
		cki_err(ctx, CK_E_FORMAT,
		    "CSR: its signature does not verify with its own key (no "
		    "proof of possession)");
		X509_REQ_free(req);
		return NULL;
	}
	return req;
}

/* A weak key is refused rather than certified. */
static ck_status
check_key(ck_ctx *ctx, EVP_PKEY *k)
{
	int id = EVP_PKEY_get_base_id(k), bits = EVP_PKEY_get_bits(k);

	if (id == EVP_PKEY_RSA && bits < 2048)
		return cki_err(ctx, CK_E_REFUSED,
		    "CSR: an RSA key of %d bits; expected at least 2048", bits);
	if (id == EVP_PKEY_EC && bits < 256)
		return cki_err(ctx, CK_E_REFUSED,
		    "CSR: an EC key of %d bits; expected at least 256", bits);
	if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC && id != EVP_PKEY_ED25519)
		return cki_err(ctx, CK_E_REFUSED,
		    "CSR: a %s key; expected RSA, EC or Ed25519",
		    OBJ_nid2sn(id));
	return CK_OK;
}

/* A host name: LDH labels (and '_'), 1..63 each, 253 in all; no wildcard
 * (a client is one device). */
static bool
dns_ok(const char *s)
{
	size_t n = strlen(s), label = 0;
	const char *p;

	if (n == 0 || n > DNS_MAX || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (p = s; *p != '\0'; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-' ||
		    *p == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* One approved name as a GeneralName: an IP literal, else a DNS name. */
static GENERAL_NAME *
general_name(ck_ctx *ctx, const char *name)
{
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *dns = NULL;
	GENERAL_NAME *g = NULL;

	if (name == NULL) {
		cki_err(ctx, CK_E_USAGE, "approved names: a NULL name");
		return NULL;
	}
	if ((ip = a2i_IPADDRESS(name)) == NULL && !dns_ok(name)) {
		cki_err(ctx, CK_E_USAGE,
		    "approved name '%s': expected a host name or an IP address",
		    name);
		return NULL;
	}
	if ((g = GENERAL_NAME_new()) == NULL)
		goto oom;
	if (ip != NULL) {
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		return g;
	}
	if ((dns = ASN1_IA5STRING_new()) == NULL ||
	    !ASN1_STRING_set(dns, name, (int)strlen(name)))
		goto oom;
	GENERAL_NAME_set0_value(g, GEN_DNS, dns);
	return g;
oom:
	cki_err(ctx, CK_E_NOMEM, "out of memory");
	ASN1_OCTET_STRING_free(ip);
	ASN1_IA5STRING_free(dns);
	GENERAL_NAME_free(g);
	return NULL;
}

static ck_status
add_san(ck_ctx *ctx, X509 *x, const char *const *names, size_t n)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *g;
	ck_status rv = CK_OK;
	size_t i;

	if (gens == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	for (i = 0; i < n && rv == CK_OK; i++) {
		if ((g = general_name(ctx, names[i])) == NULL)
			rv = ck_ctx_status(ctx);
		else if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		}
	}
	if (rv == CK_OK &&
	    X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) != 1)
		rv = cki_err(ctx, CK_E_INTERNAL, "cannot add the SAN: %s",
		    cki_ossl_reason());
	GENERAL_NAMES_free(gens);
	return rv;
}

static ck_status
set_subject(ck_ctx *ctx, X509 *x, const char *cn)
{
	X509_NAME *name = X509_get_subject_name(x);

	if (cn == NULL || *cn == '\0' || strlen(cn) > CN_MAX)
		return cki_err(ctx, CK_E_USAGE,
		    "certificate name '%s': expected 1 to %d characters",
		    cn != NULL ? cn : "", CN_MAX);
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0) != 1)
		return cki_err(ctx, CK_E_USAGE,
		    "certificate name '%s': not a valid common name (%s)", cn,
		    cki_ossl_reason());
	return CK_OK;
}

/* now - skew .. min(now + days, the CA's notAfter). */
static bool
set_validity(const ck_ca *ca, X509 *x, time_t now)
{
	const ASN1_TIME *ca_end = X509_get0_notAfter(ca->cert->x509);
	int64_t end;

	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -SKEW_SECS, &now) ==
	        NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), ca->days, 0, &now) == NULL)
		return false;
	if (cki_asn1_time(ca_end, &end) &&
	    end < (int64_t)now + 86400LL * ca->days)
		return X509_set1_notAfter(x, ca_end) == 1;
	return true;
}

static bool
add_exts(const ck_ca *ca, X509 *x, bool rsa)
{
	X509 *issuer = ca->cert->x509;
	char buf[1100];

	if (!cki_ca_ext(
	        x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
	    !cki_ca_ext(x, issuer, NID_key_usage,
	        rsa ? "critical,digitalSignature,keyEncipherment"
	            : "critical,digitalSignature") ||
	    !cki_ca_ext(x, issuer, NID_ext_key_usage, "clientAuth") ||
	    !cki_ca_ext(x, issuer, NID_subject_key_identifier, "hash") ||
	    !cki_ca_ext(
	        x, issuer, NID_authority_key_identifier, "keyid:always"))
		return false;
	/* URLs were checked by ck_ca_set_urls: no ',' and printable ASCII. */
	if (ca->crl_url != NULL &&
	    (snprintf(buf, sizeof(buf), "URI:%s", ca->crl_url) >=
	            (int)sizeof(buf) ||
	        !cki_ca_ext(x, issuer, NID_crl_distribution_points, buf)))
		return false;
	if (ca->ocsp_url != NULL &&
	    (snprintf(buf, sizeof(buf), "OCSP;URI:%s", ca->ocsp_url) >=
	            (int)sizeof(buf) ||
	        !cki_ca_ext(x, issuer, NID_info_access, buf)))
		return false;
	return true;
}

static ck_status
fill_issued(ck_ctx *ctx, X509 *x, ck_ca_issued *out)
{
	unsigned char *der = NULL;
	int len;

	if ((len = i2d_X509(x, &der)) <= 0)
		return cki_err(
		    ctx, CK_E_INTERNAL, "cannot encode: %s", cki_ossl_reason());
	if ((out->der = malloc((size_t)len)) == NULL) {
		OPENSSL_free(der);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	memcpy(out->der, der, (size_t)len);
	OPENSSL_free(der);
	out->der_len = (size_t)len;
	cki_ca_serial_hex(x, out->serial);
	cki_x509_spki(x, out->spki);
	cki_x509_fp(x, out->sha256);
	(void)cki_asn1_time(X509_get0_notBefore(x), &out->not_before);
	(void)cki_asn1_time(X509_get0_notAfter(x), &out->not_after);
	return CK_OK;
}

ck_status
ck_ca_issue(ck_ctx *ctx, const ck_ca *ca, const uint8_t *csr, size_t csr_len,
    const char *cn, const char *const *names, size_t n, ck_ca_issued *out)
{
	X509_REQ *req = NULL;
	X509 *x = NULL;
	EVP_PKEY *pub;
	ck_status rv;

	cki_begin(ctx);
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (ca == NULL || out == NULL || (n > 0 && names == NULL) ||
	    (n == 0 && cn == NULL))
		return cki_err(ctx, CK_E_USAGE,
		    "ck_ca_issue: expected a CA, an output and a name");
	if ((req = parse_csr(ctx, csr, csr_len)) == NULL)
		return ck_ctx_status(ctx);
	pub = X509_REQ_get0_pubkey(req);
	if ((rv = check_key(ctx, pub)) != CK_OK)
		goto err;
	rv = CK_E_INTERNAL;
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !cki_ca_serial(x) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(ca->cert->x509)) ||
	    !set_validity(ca, x, cki_now(ctx)) || !X509_set_pubkey(x, pub))
		goto ossl;
	if ((rv = set_subject(ctx, x, cn != NULL ? cn : names[0])) != CK_OK ||
	    (n > 0 && (rv = add_san(ctx, x, names, n)) != CK_OK))
		goto err;
	rv = CK_E_INTERNAL;
	if (!add_exts(ca, x, EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA) ||
	    X509_sign(x, ca->key, EVP_sha256()) <= 0)
		goto ossl;
	rv = fill_issued(ctx, x, out);
	goto err;
ossl:
	cki_err_keep(ctx, CK_E_INTERNAL, "cannot make the certificate: %s",
	    cki_ossl_reason());
err:
	X509_REQ_free(req);
	X509_free(x);
	return rv;
}

void
ck_ca_issued_clear(ck_ca_issued *is)
{
	if (is == NULL)
		return;
	free(is->der);
	memset(is, 0, sizeof(*is));
}

int
ck_ca_serial_norm(const char *in, char out[CK_CA_SERIAL_HEX])
{
	size_t n = 0;
	const char *p;

	if (in == NULL)
		return 0;
	for (p = in; *p != '\0'; p++) {
		if (*p == ':')
			continue;
		if (!isxdigit((unsigned char)*p) || n >= CK_CA_SERIAL_HEX - 1)
			return 0;
		out[n++] = (char)tolower((unsigned char)*p);
	}
	out[n] = '\0';
	return n == CK_CA_SERIAL_HEX - 1;
}
