/*
 * encode.c: serialising a bundle as PEM, DER, PKCS#7 or PKCS#12, and writing
 * it atomically (ck_encode_bundle, ck_write_bundle).
 *
 * What each format holds, and in what order (the bundle's order is kept
 * within each type; ck_bundle_normalize() decides it beforehand if asked):
 *
 *   PEM      certificates, then CSRs, then CRLs, then private keys. Blocks
 *            separated by nothing, LF line ends, no text: the form every
 *            server (nginx, Apache, HAProxy) expects of a "fullchain" file,
 *            with the key last when it shares the file. Keys are PKCS#8
 *            ("PRIVATE KEY"), or encrypted PKCS#8 ("ENCRYPTED PRIVATE KEY",
 *            PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC, RFC 8018) when
 *            wo->password is set.
 *   DER      exactly one object: a certificate, CRL, CSR or PKCS#8 key
 *            (encrypted as above with a password). Anything else is an error
 *            that counts what the bundle holds.
 *   PKCS#7   a degenerate signedData (RFC 2315 section 9.1, RFC 5652
 *            section 5: no signers, no content) with the certificates and
 *            CRLs: ".p7b". PEM ("PKCS7") or DER by wo->p7b_pem. It cannot
 *            carry keys or CSRs; asking is an error, never a silent drop.
 *   PKCS#12  at most one private key, which must belong to the first
 *            certificate, plus every certificate (RFC 7292). Built bag by bag
 *            (not with PKCS12_create) so certificate bags can carry Java's
 *            trusted-key-usage attribute. Protection:
 *              modern  PBES2 + PBKDF2-HMAC-SHA256 + AES-256-CBC for the key
 *                      and the certificates, HMAC-SHA256 MAC, 2048
 *                      iterations: OpenSSL 3's defaults.
 *              legacy  pbeWithSHAAnd3-KeyTripleDES-CBC for both, SHA-1 MAC
 *                      (ck_write_opts_set_p12_legacy): what Windows Server 2016
 * and Java 8 read. Needs no legacy provider. none    wo->password NULL: no
 * encryption and no MAC (openssl pkcs12 -nomac -keypbe NONE -certpbe NONE).
 *
 * Invariants:
 *  1. ck_write_bundle writes through ck_write_file_atomic(): the target is
 *     either untouched or wholly replaced. Mode 0600 when the file holds a
 *     private key (even encrypted), 0644 otherwise.
 *  2. Every buffer that held a private key or a password is wiped before it
 *     is freed.
 *  3. Nothing in the bundle is dropped silently: what a format cannot carry is
 *     an error naming what and why. Callers choose what to write with
 *     ck_bundle_select().
 *  4. An empty password is refused (ck_write_password_check, one message):
 *     a PKCS#12 file under "" keeps its key readable by anyone and its MAC
 *     proves nothing, and an encrypted key under "" is no better. "None" is
 *     asked for with a NULL password, never with "".
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "encode_int.h"

/* OpenSSL 3's `pkcs12 -export` defaults for both the PBKDF2 and the MAC. */
#define P12_ITER PKCS12_DEFAULT_ITER

static const char *const TYPE_ONE[] = {
    "certificate", "private key", "CSR", "CRL"};
static const char *const TYPE_MANY[] = {
    "certificates", "private keys", "CSRs", "CRLs"};

const char *
cki_format_name(ck_format fmt)
{
	switch (fmt) {
	case CK_FMT_PEM: return "PEM";
	case CK_FMT_DER: return "DER";
	case CK_FMT_P12: return "PKCS#12";
	case CK_FMT_P7B: return "PKCS#7";
	}
	return "?";
}

int
cki_encode_holds_key(const ck_bundle *b, ck_format fmt)
{
	return fmt != CK_FMT_P7B && ck_bundle_count(b, CK_OBJ_KEY) > 0;
}

/* "3 certificates and 1 CRL", or "nothing". */
static void
describe_counts(const ck_bundle *b, char *out, size_t size)
{
	size_t off = 0, parts = 0, total = 0;
	int n;

	out[0] = '\0';
	for (int t = 0; t < 4; t++)
		total += ck_bundle_count(b, (ck_obj_type)t) > 0;
	for (int t = 0; t < 4 && off < size; t++) {
		size_t c = ck_bundle_count(b, (ck_obj_type)t);

		if (c == 0)
			continue;
		parts++;
		n = snprintf(out + off, size - off, "%s%zu %s",
		    parts == 1           ? ""
		        : parts == total ? " and "
		                         : ", ",
		    c, c == 1 ? TYPE_ONE[t] : TYPE_MANY[t]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (parts == 0)
		snprintf(out, size, "nothing");
}

static const char *
pw_or_null(const ck_write_opts *wo)
{
	return wo != NULL ? wo->password : NULL;
}

/* Invariant 4: the one message for an empty password, by format. */
static ck_status
empty_password(ck_ctx *ctx, ck_format fmt)
{
	if (fmt == CK_FMT_P12)
		return cki_err(ctx, CK_E_USAGE,
		    "the PKCS#12 password is empty: a PKCS#12 file under an "
		    "empty password keeps its private key readable by anyone "
		    "and its MAC proves nothing (Java cannot open it either); "
		    "give a real password");
	return cki_err(ctx, CK_E_USAGE,
	    "the password to encrypt the %s private key is empty: it would "
	    "protect nothing; give a real password, or none to write the "
	    "key unencrypted",
	    cki_format_name(fmt));
}

ck_status
ck_write_password_check(ck_ctx *ctx, ck_format fmt, const char *password)
{
	cki_begin(ctx);
	if (password != NULL && password[0] == '\0')
		return empty_password(ctx, fmt);
	if (password != NULL && strlen(password) > CK_PASSWORD_MAX)
		return cki_err(ctx, CK_E_USAGE,
		    "the password is %zu bytes long; certkit takes at most %d, "
		    "and could not open the file again",
		    strlen(password), CK_PASSWORD_MAX);
	return CK_OK;
}

/* Moves a memory BIO's contents into a malloc'ed buffer (ck_free() frees
 * it), wiping the BIO's copy. */
static ck_status
bio_take(ck_ctx *ctx, BIO *bio, uint8_t **out, size_t *len)
{
	BUF_MEM *mem = NULL;
	uint8_t *p;

	BIO_get_mem_ptr(bio, &mem);
	if (mem == NULL || mem->length == 0)
		return cki_err(ctx, CK_E_INTERNAL,
		    "encoding produced no output (%s)", cki_ossl_reason());
	if ((p = malloc(mem->length)) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	memcpy(p, mem->data, mem->length);
	*out = p;
	*len = mem->length;
	/* BIO_free -> BUF_MEM_free wipes with OPENSSL_clear_free. */
	return CK_OK;
}

static ck_status
write_key(ck_ctx *ctx, BIO *bio, const ck_key *k, const char *origin,
    const char *pw, int pem)
{
	/* RFC 5958 OneAsymmetricKey; encrypted: RFC 5958 section 3 with PBES2
	 * (RFC 8018 section 6.2), whose PRF OpenSSL 3 sets to HMAC-SHA256. */
	const EVP_CIPHER *enc = pw != NULL ? EVP_aes_256_cbc() : NULL;
	int klen = pw != NULL ? (int)strlen(pw) : 0;
	int ok;

	if (pem)
		ok = PEM_write_bio_PKCS8PrivateKey(
		    bio, k->pkey, enc, (const char *)pw, klen, NULL, NULL);
	else
		ok = i2d_PKCS8PrivateKey_bio(
		    bio, k->pkey, enc, (const char *)pw, klen, NULL, NULL);
	if (!ok)
		return cki_err(ctx, CK_E_INTERNAL,
		    "%s: cannot encode the private key as PKCS#8 (%s)", origin,
		    cki_ossl_reason());
	return CK_OK;
}

/* ---- PEM ----------------------------------------------------------------- */

static ck_status
encode_pem(ck_ctx *ctx, const ck_bundle *b, const ck_write_opts *wo, BIO *bio)
{
	const char *pw = pw_or_null(wo);
	ck_status st;

	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		ck_cert *c = cki_bundle_get(b, CK_OBJ_CERT, i);

		if (!PEM_write_bio_X509(bio, c->x509))
			goto fail;
	}
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CSR); i++)
		if (!PEM_write_bio_X509_REQ(
		        bio, cki_bundle_get(b, CK_OBJ_CSR, i)))
			goto fail;
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CRL); i++)
		if (!PEM_write_bio_X509_CRL(
		        bio, cki_bundle_get(b, CK_OBJ_CRL, i)))
			goto fail;
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_KEY); i++) {
		st = write_key(ctx, bio, cki_bundle_get(b, CK_OBJ_KEY, i),
		    ck_bundle_origin(b, CK_OBJ_KEY, i), pw, 1);
		if (st != CK_OK)
			return st;
	}
	return CK_OK;
fail:
	return cki_err(
	    ctx, CK_E_INTERNAL, "cannot encode PEM (%s)", cki_ossl_reason());
}

/* ---- DER ----------------------------------------------------------------- */

static ck_status
encode_der(ck_ctx *ctx, const ck_bundle *b, const ck_write_opts *wo, BIO *bio)
{
	size_t total = 0;
	char what[160];
	int ok = 0;

	for (int t = 0; t < 4; t++)
		total += ck_bundle_count(b, (ck_obj_type)t);
	if (total != 1) {
		describe_counts(b, what, sizeof(what));
		/* A DER file is one ASN.1 value (X.690 section 10); there is no
		 * way to concatenate several and have readers find them. */
		return cki_err(ctx, CK_E_USAGE,
		    "DER holds exactly one object, but the bundle has %s; "
		    "select one, or write a chain as PEM or PKCS#7 (.p7b)",
		    what);
	}
	if (ck_bundle_count(b, CK_OBJ_CERT) == 1) {
		ck_cert *c = cki_bundle_get(b, CK_OBJ_CERT, 0);

		ok = i2d_X509_bio(bio, c->x509);
	} else if (ck_bundle_count(b, CK_OBJ_CRL) == 1) {
		ok = i2d_X509_CRL_bio(bio, cki_bundle_get(b, CK_OBJ_CRL, 0));
	} else if (ck_bundle_count(b, CK_OBJ_CSR) == 1) {
		ok = i2d_X509_REQ_bio(bio, cki_bundle_get(b, CK_OBJ_CSR, 0));
	} else {
		return write_key(ctx, bio, cki_bundle_get(b, CK_OBJ_KEY, 0),
		    ck_bundle_origin(b, CK_OBJ_KEY, 0), pw_or_null(wo), 0);
	}
	if (!ok)
		return cki_err(ctx, CK_E_INTERNAL, "cannot encode DER (%s)",
		    cki_ossl_reason());
	return CK_OK;
}

/* ---- PKCS#7 -------------------------------------------------------------- */

static ck_status
encode_p7b(ck_ctx *ctx, const ck_bundle *b, const ck_write_opts *wo, BIO *bio)
{
	PKCS7 *p7 = NULL;
	ck_status rv = CK_E_INTERNAL;
	int ok;

	if (ck_bundle_count(b, CK_OBJ_KEY) > 0 ||
	    ck_bundle_count(b, CK_OBJ_CSR) > 0) {
		int key = ck_bundle_count(b, CK_OBJ_KEY) > 0;

		return cki_err(ctx, CK_E_USAGE,
		    "PKCS#7 (.p7b) carries certificates and CRLs only, but "
		    "the bundle has %s (%s); write %s separately",
		    key ? "a private key" : "a CSR",
		    ck_bundle_origin(b, key ? CK_OBJ_KEY : CK_OBJ_CSR, 0),
		    key ? "the key" : "the CSR");
	}
	if (ck_bundle_count(b, CK_OBJ_CERT) + ck_bundle_count(b, CK_OBJ_CRL) ==
	    0)
		return cki_err(ctx, CK_E_USAGE,
		    "PKCS#7: nothing to write: the bundle holds no "
		    "certificates and no CRLs");
	/* RFC 2315 section 9.1 / RFC 5652 section 5.1: a "degenerate"
	 * signedData, version 1, digestAlgorithms and signerInfos empty, and
	 * an id-data contentInfo with the content absent. */
	if ((p7 = PKCS7_new()) == NULL ||
	    !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data) ||
	    !PKCS7_set_detached(p7, 1))
		goto ossl;
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		ck_cert *c = cki_bundle_get(b, CK_OBJ_CERT, i);

		if (!PKCS7_add_certificate(p7, c->x509))
			goto ossl;
	}
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CRL); i++)
		if (!PKCS7_add_crl(p7, cki_bundle_get(b, CK_OBJ_CRL, i)))
			goto ossl;
	ok = wo != NULL && wo->p7b_pem ? PEM_write_bio_PKCS7(bio, p7)
	                               : i2d_PKCS7_bio(bio, p7);
	if (!ok)
		goto ossl;
	rv = CK_OK;
	goto err;
ossl:
	rv = cki_err(ctx, CK_E_INTERNAL, "cannot build the PKCS#7 bundle (%s)",
	    cki_ossl_reason());
err:
	PKCS7_free(p7);
	return rv;
}

/* ---- PKCS#12 ------------------------------------------------------------- */

/* The friendly name of certificate i: its CN (else its subject), made unique
 * within the file, since Java and Windows use it as the entry's alias. */
static char *
cert_alias(const ck_bundle *b, size_t i, char **taken)
{
	ck_cert *c = cki_bundle_get(b, CK_OBJ_CERT, i);
	char *base = ck_cert_common_name(c), *name = NULL;

	if (base == NULL || base[0] == '\0') {
		free(base);
		base = ck_cert_subject(c);
	}
	if (base == NULL)
		return NULL;
	for (int n = 1; n < 10000; n++) {
		size_t sz = strlen(base) + 16;
		bool dup = false;

		free(name);
		if ((name = malloc(sz)) == NULL)
			break;
		if (n == 1)
			snprintf(name, sz, "%s", base);
		else
			snprintf(name, sz, "%s (%d)", base, n);
		for (size_t j = 0; j < i && !dup; j++)
			dup = taken[j] != NULL && strcmp(taken[j], name) == 0;
		if (!dup)
			break;
	}
	free(base);
	return name;
}

/*
 * Marks a certificate bag trusted for Java: the attribute Oracle's
 * PKCS12KeyStore reads (and OpenSSL 3.2's `pkcs12 -jdktrust` writes), whose
 * value is the set of extended key usages the certificate is trusted for;
 * anyExtendedKeyUsage (RFC 5280 section 4.2.1.12) means "for everything".
 */
static bool
add_jdk_trust(PKCS12_SAFEBAG *bag)
{
	ASN1_OBJECT *any = OBJ_txt2obj(CKI_OID_ANY_EKU, 1);
	bool ok;

	if (any == NULL)
		return false;
	/* len -1: `bytes` is the ASN1_OBJECT itself (X509_ATTRIBUTE_set1_data).
	 */
	ok = PKCS12_add1_attr_by_txt(bag, CKI_OID_JDK_TRUSTED_KEY_USAGE,
	         V_ASN1_OBJECT, (const unsigned char *)any, -1) == 1;
	ASN1_OBJECT_free(any);
	return ok;
}

static ck_status
p12_check(ck_ctx *ctx, const ck_bundle *b)
{
	size_t nkeys = ck_bundle_count(b, CK_OBJ_KEY);
	size_t ncerts = ck_bundle_count(b, CK_OBJ_CERT);
	ck_key *k;
	ck_cert *c0;
	char *sub = NULL;

	if (ck_bundle_count(b, CK_OBJ_CRL) > 0 ||
	    ck_bundle_count(b, CK_OBJ_CSR) > 0) {
		int crl = ck_bundle_count(b, CK_OBJ_CRL) > 0;

		return cki_err(ctx, CK_E_USAGE,
		    "PKCS#12 output carries certificates and a private key "
		    "only, but the bundle has %s (%s)",
		    crl ? "a CRL" : "a CSR",
		    ck_bundle_origin(b, crl ? CK_OBJ_CRL : CK_OBJ_CSR, 0));
	}
	if (nkeys + ncerts == 0)
		return cki_err(ctx, CK_E_USAGE,
		    "PKCS#12: nothing to write: the bundle holds no "
		    "certificates and no private key");
	if (nkeys > 1)
		return cki_err(ctx, CK_E_USAGE,
		    "PKCS#12 output takes one private key, but the bundle has "
		    "%zu (%s; %s)",
		    nkeys, ck_bundle_origin(b, CK_OBJ_KEY, 0),
		    ck_bundle_origin(b, CK_OBJ_KEY, 1));
	if (nkeys == 0)
		return CK_OK;
	k = cki_bundle_get(b, CK_OBJ_KEY, 0);
	if (ncerts == 0)
		return cki_err(ctx, CK_E_USAGE,
		    "PKCS#12: the private key (%s) needs its certificate; "
		    "no certificate was given (add the file that holds it)",
		    ck_bundle_origin(b, CK_OBJ_KEY, 0));
	c0 = cki_bundle_get(b, CK_OBJ_CERT, 0);
	if (ck_key_matches_cert(k, c0))
		return CK_OK;
	/* RFC 7292 leaves pairing to localKeyId; every reader (Windows,
	 * Java, OpenSSL's PKCS12_parse) then takes the first certificate whose
	 * key matches as "the" certificate, so the pair must lead. */
	sub = ck_cert_subject(c0);
	for (size_t i = 1; i < ncerts; i++) {
		if (ck_key_matches_cert(k, cki_bundle_get(b, CK_OBJ_CERT, i))) {
			cki_err(ctx, CK_E_USAGE,
			    "PKCS#12: the private key (%s) does not belong to "
			    "the first certificate (%s, subject %s) but to "
			    "certificate %zu (%s); put its certificate first "
			    "(normalize the bundle)",
			    ck_bundle_origin(b, CK_OBJ_KEY, 0),
			    ck_bundle_origin(b, CK_OBJ_CERT, 0),
			    sub ? sub : "?", i + 1,
			    ck_bundle_origin(b, CK_OBJ_CERT, i));
			free(sub);
			return CK_E_USAGE;
		}
	}
	cki_err(ctx, CK_E_USAGE,
	    "PKCS#12: the private key (%s) does not belong to the certificate "
	    "(%s, subject %s), nor to any other certificate given; "
	    "check that the key and the certificate are from the same "
	    "request",
	    ck_bundle_origin(b, CK_OBJ_KEY, 0),
	    ck_bundle_origin(b, CK_OBJ_CERT, 0), sub ? sub : "?");
	free(sub);
	return CK_E_USAGE;
}

static ck_status
encode_p12(ck_ctx *ctx, const ck_bundle *b, const ck_write_opts *wo, BIO *bio)
{
	const char *pw = pw_or_null(wo);
	bool legacy = wo != NULL && wo->p12_legacy;
	int pbe = pw == NULL ? -1
	    : legacy         ? NID_pbe_WithSHA1And3_Key_TripleDES_CBC
	                     : NID_aes_256_cbc;
	size_t ncerts = ck_bundle_count(b, CK_OBJ_CERT);
	ck_key *key = cki_bundle_get(b, CK_OBJ_KEY, 0);
	STACK_OF(PKCS12_SAFEBAG) *certbags = NULL, *keybags = NULL;
	STACK_OF(PKCS7) *safes = NULL;
	PKCS12 *p12 = NULL;
	PKCS12_SAFEBAG *bag;
	unsigned char keyid[EVP_MAX_MD_SIZE];
	unsigned int keyidlen = 0;
	char **alias = NULL, *keyname = NULL;
	ck_status rv;

	if ((rv = p12_check(ctx, b)) != CK_OK)
		return rv;
	if (ncerts > 0 && (alias = calloc(ncerts, sizeof(*alias))) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	for (size_t i = 0; i < ncerts; i++)
		alias[i] = cert_alias(b, i, alias);
	if (key != NULL) {
		ck_cert *c0 = cki_bundle_get(b, CK_OBJ_CERT, 0);

		/* localKeyId pairs the key with its certificate (RFC 7292
		 * section 4.2); a SHA-1 of the certificate, as every tool
		 * writes it. */
		if (!X509_digest(c0->x509, EVP_sha1(), keyid, &keyidlen))
			goto ossl;
		keyname =
		    strdup(wo != NULL && wo->name != NULL && wo->name[0] != '\0'
		            ? wo->name
		            : alias != NULL && alias[0] != NULL ? alias[0]
		                                                : "certkit");
		if (keyname == NULL) {
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
	}

	for (size_t i = 0; i < ncerts; i++) {
		ck_cert *c = cki_bundle_get(b, CK_OBJ_CERT, i);
		const char *fn = i == 0 && keyname != NULL ? keyname : alias[i];

		/* Not PKCS12_add_cert(): it copies the alias and key id a
		 * certificate read from another PKCS#12 carries, which would
		 * duplicate (or contradict) the attributes set here. */
		if (certbags == NULL &&
		    (certbags = sk_PKCS12_SAFEBAG_new_null()) == NULL)
			goto ossl;
		if ((bag = PKCS12_SAFEBAG_create_cert(c->x509)) == NULL)
			goto ossl;
		if (!sk_PKCS12_SAFEBAG_push(certbags, bag)) {
			PKCS12_SAFEBAG_free(bag);
			goto ossl;
		}
		if (fn != NULL && !PKCS12_add_friendlyname_utf8(bag, fn, -1))
			goto ossl;
		if (i == 0 && key != NULL) {
			if (!PKCS12_add_localkeyid(bag, keyid, (int)keyidlen))
				goto ossl;
		} else if (wo != NULL && wo->java_trusted &&
		    !add_jdk_trust(bag)) {
			/* The key's own certificate is part of its
			 * PrivateKeyEntry; every other one becomes a
			 * trustedCertEntry. */
			goto ossl;
		}
	}
	if (certbags != NULL &&
	    !PKCS12_add_safe_ex(
	        &safes, certbags, pbe, P12_ITER, pw, NULL, NULL))
		goto ossl;
	if (key != NULL) {
		/* pkcs8ShroudedKeyBag (RFC 7292 section 4.2.2), or a plain
		 * keyBag when there is no password. */
		bag = PKCS12_add_key_ex(
		    &keybags, key->pkey, 0, P12_ITER, pbe, pw, NULL, NULL);
		if (bag == NULL ||
		    !PKCS12_add_friendlyname_utf8(bag, keyname, -1) ||
		    !PKCS12_add_localkeyid(bag, keyid, (int)keyidlen))
			goto ossl;
		if (!PKCS12_add_safe_ex(
		        &safes, keybags, -1, 0, NULL, NULL, NULL))
			goto ossl;
	}
	if ((p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL)) == NULL)
		goto ossl;
	/* RFC 7292 section 5 / appendix B: the integrity MAC. Modern readers
	 * take HMAC-SHA256; old Windows and Java 8 only HMAC-SHA1. */
	if (pw != NULL &&
	    !PKCS12_set_mac(p12, pw, -1, NULL, 0, P12_ITER,
	        legacy ? EVP_sha1() : EVP_sha256()))
		goto ossl;
	if (!i2d_PKCS12_bio(bio, p12))
		goto ossl;
	rv = CK_OK;
	goto err;
ossl:
	rv = cki_err(ctx, CK_E_INTERNAL, "cannot build the PKCS#12 file (%s)",
	    cki_ossl_reason());
err:
	for (size_t i = 0; alias != NULL && i < ncerts; i++)
		free(alias[i]);
	free(alias);
	free(keyname);
	sk_PKCS12_SAFEBAG_pop_free(certbags, PKCS12_SAFEBAG_free);
	sk_PKCS12_SAFEBAG_pop_free(keybags, PKCS12_SAFEBAG_free);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	PKCS12_free(p12);
	OPENSSL_cleanse(keyid, sizeof(keyid));
	return rv;
}

/* ---- options ------------------------------------------------------------ */

ck_status
ck_write_opts_new(ck_ctx *ctx, ck_write_opts **out)
{
	cki_begin(ctx);
	if (out == NULL)
		return cki_err(
		    ctx, CK_E_USAGE, "ck_write_opts_new: out is NULL");
	if ((*out = calloc(1, sizeof(**out))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	(*out)->ctx = ctx;
	return CK_OK;
}

void
ck_write_opts_free(ck_write_opts *wo)
{
	if (wo == NULL)
		return;
	if (wo->own_password != NULL)
		OPENSSL_clear_free(wo->own_password, strlen(wo->own_password));
	free(wo->own_name);
	free(wo);
}

/* Replaces *own with a copy of s (NULL clears) and points *use at it. */
static ck_status
set_copy(
    ck_write_opts *wo, char **own, const char **use, const char *s, bool secret)
{
	char *copy = NULL;

	cki_begin(wo->ctx);
	if (s != NULL && (copy = strdup(s)) == NULL)
		return cki_err(wo->ctx, CK_E_NOMEM, "out of memory");
	if (*own != NULL && secret)
		OPENSSL_clear_free(*own, strlen(*own));
	else
		free(*own);
	*own = copy;
	*use = copy;
	return CK_OK;
}

ck_status
ck_write_opts_set_password(ck_write_opts *wo, const char *password)
{
	return set_copy(wo, &wo->own_password, &wo->password, password, true);
}

ck_status
ck_write_opts_set_name(ck_write_opts *wo, const char *name)
{
	return set_copy(wo, &wo->own_name, &wo->name, name, false);
}

void
ck_write_opts_set_java_trusted(ck_write_opts *wo, int on)
{
	wo->java_trusted = on != 0;
}

void
ck_write_opts_set_p7b_pem(ck_write_opts *wo, int on)
{
	wo->p7b_pem = on != 0;
}

void
ck_write_opts_set_p12_legacy(ck_write_opts *wo, int on)
{
	wo->p12_legacy = on != 0;
}

/* ---- entry points -------------------------------------------------------- */

static ck_status
encode(ck_ctx *ctx, const ck_bundle *b, ck_format fmt, const ck_write_opts *wo,
    uint8_t **out, size_t *len)
{
	BIO *bio = NULL;
	ck_status rv;

	*out = NULL;
	*len = 0;
	if (b == NULL)
		return cki_err(ctx, CK_E_USAGE, "no bundle to write");
	if (fmt != CK_FMT_PEM && fmt != CK_FMT_DER && fmt != CK_FMT_P12 &&
	    fmt != CK_FMT_P7B)
		return cki_err(ctx, CK_E_USAGE,
		    "unknown output format %d; expected PEM, DER, PKCS#12 or "
		    "PKCS#7",
		    (int)fmt);
	if (fmt == CK_FMT_PEM) {
		size_t total = 0;

		for (int t = 0; t < 4; t++)
			total += ck_bundle_count(b, (ck_obj_type)t);
		if (total == 0)
			return cki_err(ctx, CK_E_USAGE,
			    "PEM: nothing to write: the bundle is empty");
	}
	/* Invariant 4. PEM and DER use the password for keys only. */
	if (wo != NULL && wo->password != NULL && wo->password[0] == '\0' &&
	    (fmt == CK_FMT_P12 || ck_bundle_count(b, CK_OBJ_KEY) > 0))
		return empty_password(ctx, fmt);
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	switch (fmt) {
	case CK_FMT_PEM: rv = encode_pem(ctx, b, wo, bio); break;
	case CK_FMT_DER: rv = encode_der(ctx, b, wo, bio); break;
	case CK_FMT_P7B: rv = encode_p7b(ctx, b, wo, bio); break;
	default: rv = encode_p12(ctx, b, wo, bio); break;
	}
	if (rv == CK_OK)
		rv = bio_take(ctx, bio, out, len);
	BIO_free(bio);
	return rv;
}

ck_status
ck_encode_bundle(ck_ctx *ctx, const ck_bundle *b, ck_format fmt,
    const ck_write_opts *wo, uint8_t **out, size_t *len)
{
	cki_begin(ctx);
	return encode(ctx, b, fmt, wo, out, len);
}

/* Clear messages for the usual mistakes before the atomic writer names its
 * temporary file: a missing directory, a directory given as the file. */
static ck_status
check_target(ck_ctx *ctx, const char *path)
{
	char buf[4096];
	struct stat st;
	const char *dir;
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return cki_err(
		    ctx, CK_E_USAGE, "'%s': bad output file name", path);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return cki_err(ctx, CK_E_USAGE,
		    "%s: is a directory; give the name of the file to write",
		    path);
	memcpy(buf, path, n + 1);
	dir = dirname(buf);
	if (stat(dir, &st) == -1)
		return cki_err(ctx, CK_E_IO,
		    "%s: cannot write here: the directory %s %s", path, dir,
		    errno == ENOENT ? "does not exist" : strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return cki_err(ctx, CK_E_IO,
		    "%s: cannot write here: %s is not a directory", path, dir);
	return CK_OK;
}

ck_status
ck_write_bundle(ck_ctx *ctx, const ck_bundle *b, ck_format fmt,
    const ck_write_opts *wo, const char *path)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_status rv;

	cki_begin(ctx);
	if (path == NULL)
		return cki_err(ctx, CK_E_USAGE, "no output file given");
	if ((rv = check_target(ctx, path)) != CK_OK)
		return rv;
	if ((rv = encode(ctx, b, fmt, wo, &buf, &len)) != CK_OK)
		return rv;
	rv = ck_write_file_atomic(
	    ctx, path, buf, len, cki_encode_holds_key(b, fmt) ? 0600 : 0644);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rv;
}

/* ---- selection ----------------------------------------------------------- */

static void *
obj_ref(ck_obj_type t, void *obj)
{
	switch (t) {
	case CK_OBJ_CERT: return ck_cert_dup(obj);
	case CK_OBJ_KEY: return ck_key_dup(obj);
	case CK_OBJ_CSR: return X509_REQ_dup(obj);
	case CK_OBJ_CRL: return X509_CRL_up_ref(obj) ? obj : NULL;
	}
	return NULL;
}

static bool
key_seen(const ck_bundle *out, const ck_key *k)
{
	for (size_t i = 0; i < ck_bundle_count(out, CK_OBJ_KEY); i++) {
		ck_key *o = cki_bundle_get(out, CK_OBJ_KEY, i);

		if (EVP_PKEY_eq(o->pkey, k->pkey) == 1)
			return true;
	}
	return false;
}

ck_status
ck_bundle_select(ck_ctx *ctx, const ck_bundle *b, unsigned int types,
    size_t index, ck_bundle **out)
{
	ck_bundle *nb = NULL;
	int ntypes = 0, only = -1;
	ck_status rv = CK_E_NOMEM;

	cki_begin(ctx);
	*out = NULL;
	if (types == 0)
		types = 0xfu;
	if ((types & ~0xfu) != 0)
		return cki_err(
		    ctx, CK_E_USAGE, "unknown object types 0x%x", types);
	for (int t = 0; t < 4; t++)
		if (types & CK_SEL(t)) {
			ntypes++;
			only = t;
		}
	if (index > 0 && ntypes != 1)
		return cki_err(ctx, CK_E_USAGE,
		    "an index picks one object of one type; %d types were "
		    "asked for",
		    ntypes);
	if (index > 0 && index > ck_bundle_count(b, (ck_obj_type)only))
		return cki_err(ctx, CK_E_NOTFOUND,
		    "asked for %s %zu, but the input has %zu %s",
		    TYPE_ONE[only], index,
		    ck_bundle_count(b, (ck_obj_type)only),
		    ck_bundle_count(b, (ck_obj_type)only) == 1
		        ? TYPE_ONE[only]
		        : TYPE_MANY[only]);
	if ((nb = ck_bundle_new()) == NULL)
		goto nomem;
	for (int t = 0; t < 4; t++) {
		if (!(types & CK_SEL(t)))
			continue;
		for (size_t i = 0; i < ck_bundle_count(b, (ck_obj_type)t);
		     i++) {
			void *o = cki_bundle_get(b, (ck_obj_type)t, i), *ref;

			if (index > 0 && i + 1 != index)
				continue;
			if (t == CK_OBJ_KEY && key_seen(nb, o))
				continue;
			if ((ref = obj_ref((ck_obj_type)t, o)) == NULL)
				goto nomem;
			if (cki_bundle_push(nb, (ck_obj_type)t, ref,
			        ck_bundle_origin(b, (ck_obj_type)t, i)) !=
			    CK_OK) {
				cki_obj_free((ck_obj_type)t, ref);
				goto nomem;
			}
		}
	}
	*out = nb;
	return CK_OK;
nomem:
	ck_bundle_free(nb);
	return cki_err(ctx, rv, "out of memory");
}
