/*
 * identity_gen.c: what certkit makes itself: keys, the self-signed default
 * certificate and certificate signing requests.
 *
 * The self-signed default (every field chosen for a client that is strict):
 *   version      v3
 *   serial       16 random bytes, positive (RFC 5280 section 4.1.2.2; the
 *                CA/B Baseline Requirements ask for 64 bits of entropy)
 *   subject      CN = the first name (a copy: RFC 6125 section 6.4.4
 *                clients read the SAN); empty with a critical SAN when the
 *                name does not fit the CN's 64 characters (RFC 5280
 *                section 4.2.1.6)
 *   validity     now - 1 hour (clock skew on the clients) to now + days
 *   extensions   basicConstraints critical CA:FALSE; keyUsage critical
 *                digitalSignature (+ keyEncipherment for RSA, RFC 5246
 *                section 7.4.7.1 RSA key transport); extendedKeyUsage
 *                serverAuth, clientAuth; subjectKeyIdentifier; SAN with
 *                every DNS name and IP address
 *   signature    ECDSA or RSA with SHA-256
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "identity_int.h"

/* ub-common-name, RFC 5280 appendix A.1. */
#define CN_MAX 64

EVP_PKEY *
cki_keygen(ck_ctx *ctx, int keytype)
{
	EVP_PKEY *k = NULL;

	ERR_clear_error();
	switch (keytype) {
	case CKI_KEY_EC_P256:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		break;
	case CKI_KEY_RSA_2048:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
		break;
	case CKI_KEY_RSA_3072:
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
		break;
	default:
		cki_err(ctx, CK_E_USAGE, "unknown key type %d", keytype);
		return NULL;
	}
	if (k == NULL)
		cki_err(ctx, CK_E_INTERNAL, "cannot generate a %s key: %s",
		    cki_keytype_name(keytype), cki_ossl_reason());
	return k;
}

void
cki_key_desc(EVP_PKEY *k, char *out, size_t size)
{
	char group[64];
	const char *nist;

	if (k == NULL) {
		snprintf(out, size, "none");
		return;
	}
	switch (EVP_PKEY_get_base_id(k)) {
	case EVP_PKEY_RSA:
		snprintf(out, size, "RSA %d", EVP_PKEY_get_bits(k));
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_utf8_string_param(k,
		        OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
		        NULL) != 1) {
			snprintf(out, size, "EC %d", EVP_PKEY_get_bits(k));
			break;
		}
		nist = EC_curve_nid2nist(OBJ_sn2nid(group));
		snprintf(out, size, "EC %s", nist != NULL ? nist : group);
		break;
	case EVP_PKEY_ED25519: snprintf(out, size, "Ed25519"); break;
	case EVP_PKEY_DSA:
		snprintf(out, size, "DSA %d", EVP_PKEY_get_bits(k));
		break;
	default:
		snprintf(out, size, "%s %d",
		    OBJ_nid2sn(EVP_PKEY_get_base_id(k)), EVP_PKEY_get_bits(k));
	}
}

/* "DNS:a,DNS:b,IP:1.2.3.4" for X509V3_EXT_conf_nid. */
static char *
san_text(const struct cki_names *n)
{
	size_t len = 1;
	char *s, *p;

	for (size_t i = 0; i < n->dns.n; i++)
		len += strlen(n->dns.v[i]) + 5;
	for (size_t i = 0; i < n->ip.n; i++)
		len += strlen(n->ip.v[i]) + 4;
	if ((s = malloc(len)) == NULL)
		return NULL;
	p = s;
	*p = '\0';
	for (size_t i = 0; i < n->dns.n; i++)
		p += snprintf(p, len - (size_t)(p - s), "%sDNS:%s",
		    p == s ? "" : ",", n->dns.v[i]);
	for (size_t i = 0; i < n->ip.n; i++)
		p += snprintf(p, len - (size_t)(p - s), "%sIP:%s",
		    p == s ? "" : ",", n->ip.v[i]);
	return s;
}

static const char *
first_name(const struct cki_names *n)
{
	if (n->dns.n > 0)
		return n->dns.v[0];
	if (n->ip.n > 0)
		return n->ip.v[0];
	return NULL;
}

static bool
add_ext(X509 *x, X509_REQ *req, STACK_OF(X509_EXTENSION) * *sk, int nid,
    const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	bool ok;

	X509V3_set_ctx(&v3, x, x, req, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return false;
	ok = x != NULL ? X509_add_ext(x, e, -1) == 1
	               : X509v3_add_ext(sk, e, -1) != NULL;
	X509_EXTENSION_free(e);
	return ok;
}

static bool
name_from_first(X509_NAME *name, const struct cki_names *n)
{
	const char *cn = first_name(n);

	if (strlen(cn) > CN_MAX)
		return true; /* the SAN alone carries it (and is critical) */
	return X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	           (const unsigned char *)cn, -1, -1, 0) == 1;
}

X509 *
cki_selfsign(ck_ctx *ctx, EVP_PKEY *key, const struct cki_names *n, long days,
    time_t now)
{
	unsigned char rnd[16];
	BIGNUM *bn = NULL;
	X509 *x = NULL;
	X509_NAME *name = NULL;
	char *san = NULL, sanval[16] = "";
	bool rsa = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA;

	ERR_clear_error();
	if (first_name(n) == NULL) {
		cki_err(ctx, CK_E_USAGE,
		    "no name for the certificate: this device has no hostname "
		    "and no address was found; set names or ips in [identity] "
		    "of certkit.conf, or add a name or an address");
		return NULL;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto ossl;
	rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x40); /* positive, 16 B */
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    (bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto ossl;
	if ((name = X509_NAME_new()) == NULL || !name_from_first(name, n) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name))
		goto ossl;
	if (X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0, &now) == NULL)
		goto ossl;
	if (!X509_set_pubkey(x, key))
		goto ossl;
	if ((san = san_text(n)) == NULL)
		goto ossl;
	if (X509_NAME_entry_count(name) == 0)
		snprintf(sanval, sizeof(sanval), "critical,");
	{
		char buf[8192];

		if ((size_t)snprintf(buf, sizeof(buf), "%s%s", sanval, san) >=
		    sizeof(buf)) {
			cki_err(ctx, CK_E_USAGE,
			    "too many names for one "
			    "certificate (%zu names, %zu addresses)",
			    n->dns.n, n->ip.n);
			goto err;
		}
		if (!add_ext(x, NULL, NULL, NID_basic_constraints,
		        "critical,CA:FALSE") ||
		    !add_ext(x, NULL, NULL, NID_key_usage,
		        rsa ? "critical,digitalSignature,keyEncipherment"
		            : "critical,digitalSignature") ||
		    !add_ext(x, NULL, NULL, NID_ext_key_usage,
		        "serverAuth,clientAuth") ||
		    !add_ext(
		        x, NULL, NULL, NID_subject_key_identifier, "hash") ||
		    !add_ext(x, NULL, NULL, NID_subject_alt_name, buf))
			goto ossl;
	}
	if (X509_sign(x, key, EVP_sha256()) <= 0)
		goto ossl;
	BN_free(bn);
	X509_NAME_free(name);
	free(san);
	return x;
ossl:
	cki_err_keep(ctx, CK_E_INTERNAL,
	    "cannot make the self-signed "
	    "certificate: %s",
	    cki_ossl_reason());
err:
	BN_free(bn);
	X509_NAME_free(name);
	X509_free(x);
	free(san);
	return NULL;
}

/* Splits one RDN "attr=value" into the name. */
static bool
dn_add(ck_ctx *ctx, X509_NAME *name, const char *text, char *rdn)
{
	char *eq = strchr(rdn, '='), *attr, *val, *end;
	int nid;

	if (eq == NULL) {
		cki_err(ctx, CK_E_USAGE,
		    "subject '%s': expected "
		    "ATTRIBUTE=VALUE, found '%s'",
		    text, rdn);
		return false;
	}
	*eq = '\0';
	attr = rdn;
	val = eq + 1;
	while (isspace((unsigned char)*attr))
		attr++;
	for (end = attr + strlen(attr);
	     end > attr && isspace((unsigned char)end[-1]); end--)
		end[-1] = '\0';
	while (isspace((unsigned char)*val))
		val++;
	for (end = val + strlen(val);
	     end > val && isspace((unsigned char)end[-1]); end--)
		end[-1] = '\0';
	if ((nid = OBJ_txt2nid(attr)) == NID_undef) {
		cki_err(ctx, CK_E_USAGE,
		    "subject '%s': unknown attribute "
		    "'%s' (use C, ST, L, O, OU, CN, emailAddress, "
		    "serialNumber or a dotted OID)",
		    text, attr);
		return false;
	}
	if (val[0] == '\0') {
		cki_err(ctx, CK_E_USAGE,
		    "subject '%s': '%s' has an empty "
		    "value",
		    text, attr);
		return false;
	}
	if (nid == NID_countryName && strlen(val) != 2) {
		cki_err(ctx, CK_E_USAGE,
		    "subject '%s': C must be a "
		    "two-letter country code (ISO 3166), found '%s'",
		    text, val);
		return false;
	}
	ERR_clear_error();
	if (X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
	        (const unsigned char *)val, -1, -1, 0) != 1) {
		cki_err(ctx, CK_E_USAGE,
		    "subject '%s': %s='%s' is not "
		    "allowed: %s",
		    text, attr, val, cki_ossl_reason());
		return false;
	}
	return true;
}

X509_NAME *
cki_parse_dn(ck_ctx *ctx, const char *text)
{
	X509_NAME *name = X509_NAME_new();
	bool slash = text[0] == '/';
	char sep = slash ? '/' : ',';
	size_t len = strlen(text);
	char *buf = malloc(len + 1);
	const char *p = slash ? text + 1 : text;
	size_t n = 0;

	if (name == NULL || buf == NULL) {
		cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	/* Both OpenSSL's "-subj /C=US/O=x" form and the RFC 4514 style
	 * "C=US, O=x" (in the order written, first RDN first); a backslash
	 * escapes the separator. */
	for (;; p++) {
		if (*p == '\\' && p[1] != '\0') {
			buf[n++] = *++p;
			continue;
		}
		if (*p == sep || *p == '\0') {
			buf[n] = '\0';
			if (n > 0 && !dn_add(ctx, name, text, buf))
				goto err;
			n = 0;
			if (*p == '\0')
				break;
			continue;
		}
		buf[n++] = *p;
	}
	if (X509_NAME_entry_count(name) == 0) {
		cki_err(ctx, CK_E_USAGE,
		    "subject '%s': no attribute found; "
		    "expected e.g. \"/C=US/O=Example/CN=host\" or "
		    "\"C=US, O=Example, CN=host\"",
		    text);
		goto err;
	}
	free(buf);
	return name;
err:
	free(buf);
	X509_NAME_free(name);
	return NULL;
}

X509_REQ *
cki_make_csr(
    ck_ctx *ctx, EVP_PKEY *key, const struct cki_names *n, const char *subject)
{
	X509_REQ *req = NULL;
	X509_NAME *name = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	char *san = NULL;

	ERR_clear_error();
	if (first_name(n) == NULL) {
		cki_err(ctx, CK_E_USAGE,
		    "no name for the request: set names or ips in [identity] "
		    "of certkit.conf, or add a name or an address");
		return NULL;
	}
	if (subject != NULL) {
		if ((name = cki_parse_dn(ctx, subject)) == NULL)
			return NULL;
	} else if ((name = X509_NAME_new()) == NULL ||
	    !name_from_first(name, n)) {
		goto ossl;
	}
	if ((req = X509_REQ_new()) == NULL ||
	    !X509_REQ_set_version(req, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, key))
		goto ossl;
	/* RFC 2986 section 4.1 / RFC 2985 extensionRequest: the names go in
	 * the SAN, which CAs copy into the certificate. */
	if ((san = san_text(n)) == NULL ||
	    !add_ext(NULL, req, &exts, NID_subject_alt_name, san) ||
	    !X509_REQ_add_extensions(req, exts))
		goto ossl;
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0)
		goto ossl;
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	free(san);
	return req;
ossl:
	cki_err_keep(ctx, CK_E_INTERNAL, "cannot make the request: %s",
	    cki_ossl_reason());
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	free(san);
	return NULL;
}
