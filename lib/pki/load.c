/*
 * load.c: one loader for every format an admin is handed.
 *
 * The content decides the format, never the file name:
 *
 *    bytes ──► empty? ──────────────────────────────► error "file is empty"
 *      │
 *      ├──► contains "-----BEGIN " ──► PEM: split into blocks (load_pem)
 *      │        each block by its label: CERTIFICATE, X509 CRL,
 *      │        CERTIFICATE REQUEST, PKCS7, *PRIVATE KEY
 *      │
 *      ├──► starts with an ASN.1 SEQUENCE ──► DER (load_der), tried in
 *      │        order: certificate, CRL, CSR, PKCS#7, PKCS#12,
 *      │        encrypted PKCS#8, private key; each parse must consume
 *      │        the whole file
 *      │
 *      └──► anything else ──► error naming the first bytes and a guess at
 *               what the file is (HTML, JSON, OpenSSH, ZIP, text)
 *
 * Guarantees:
 *  1. A PEM file may have any number of blocks of mixed types, CRLF or LF
 *     line ends, a UTF-8 BOM, text before/between/after blocks, and
 *     whitespace at line ends. Blocks are numbered from 1 in messages.
 *  2. A block that is damaged stops the load with a message naming the block:
 *     a silently shorter chain is worse than an error.
 *  3. The password is asked for only when a file needs one, and at most once
 *     per load (ctx.c remembers it). Empty and absent PKCS#12 passwords are
 *     tried before any prompt.
 *  4. Legacy PKCS#12 (RC2-40 / 3DES, as Windows and IIS export) loads
 *     OpenSSL's legacy provider on demand.
 *  5. No file can pin the CPU: every key derivation cost it asks for (the
 *     PKCS#12 MAC, its encrypted safes and shrouded key bags, an encrypted
 *     PKCS#8 key; PBES1, PBKDF2 or scrypt) is checked against a bound
 *     before that derivation runs.
 *  6. No file can exhaust the memory of a small device: one input holds at
 *     most CKI_LOAD_MAX_OBJECTS objects (certificates, keys, CSRs and CRLs
 *     together) and CKI_MAX_FILE bytes. A parsed certificate costs OpenSSL
 *     about 6 KB, several times its PEM text; with the report streamed one
 *     certificate at a time (ck_describe_each), `certkit show` of any one
 *     input stays under 512 MiB. A PEM file is refused on its block count
 *     before anything in it is parsed.
 */
#include <ctype.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "ck_internal.h"

#define WHAT_WE_READ "a certificate, key, CSR, CRL, PKCS#7 or PKCS#12 file"
/* Objects one input may hold (guarantee 6); man/certkit-show.md says it. */
#define CKI_LOAD_MAX_OBJECTS 25000
#define TOO_MANY                                                               \
	"certkit reads at most %d objects (certificates, keys, CSRs and "      \
	"CRLs) from one input, to bound its memory; split the file"

/* ---- password plumbing ------------------------------------------------- */

struct pwstate {
	ck_ctx *ctx;
	const char *what;
	bool asked; /* OpenSSL wanted a password */
	bool none;  /* ...and no source could give one */
};

static int
pem_pw_cb(char *buf, int size, int rwflag, void *u)
{
	struct pwstate *pw = u;
	int n;

	(void)rwflag;
	pw->asked = true;
	n = cki_password(pw->ctx, pw->what, buf, (size_t)size);
	if (n < 0) {
		pw->none = true;
		return -1;
	}
	return n;
}

static ck_status
push(ck_ctx *ctx, ck_bundle *b, ck_obj_type t, void *obj, const char *origin)
{
	size_t n = ck_bundle_count(b, CK_OBJ_CERT) +
	    ck_bundle_count(b, CK_OBJ_KEY) + ck_bundle_count(b, CK_OBJ_CSR) +
	    ck_bundle_count(b, CK_OBJ_CRL);

	if (obj == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	if (n >= CKI_LOAD_MAX_OBJECTS) {
		cki_obj_free(t, obj);
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: too many objects: this is object %zu; " TOO_MANY,
		    origin, n + 1, CKI_LOAD_MAX_OBJECTS);
	}
	if (cki_bundle_push(b, t, obj, origin) != CK_OK) {
		cki_obj_free(t, obj);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	return CK_OK;
}

static ck_status
push_x509(ck_ctx *ctx, ck_bundle *b, X509 *x, const char *origin)
{
	return push(ctx, b, CK_OBJ_CERT, cki_cert_wrap(x), origin);
}

static ck_status
push_pkey(ck_ctx *ctx, ck_bundle *b, EVP_PKEY *k, const char *origin)
{
	return push(ctx, b, CK_OBJ_KEY, cki_key_wrap(k), origin);
}

/* ---- PKCS#7 ------------------------------------------------------------ */

static ck_status
take_pkcs7(ck_ctx *ctx, ck_bundle *b, PKCS7 *p7, const char *origin)
{
	STACK_OF(X509) *certs = NULL;
	STACK_OF(X509_CRL) *crls = NULL;
	char o[512];
	ck_status st;

	if (PKCS7_type_is_signed(p7)) {
		certs = p7->d.sign->cert;
		crls = p7->d.sign->crl;
	} else if (PKCS7_type_is_signedAndEnveloped(p7)) {
		certs = p7->d.signed_and_enveloped->cert;
		crls = p7->d.signed_and_enveloped->crl;
	} else {
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: PKCS#7 of a type that carries no certificates "
		    "(expected signedData, as in .p7b/.p7c files)",
		    origin);
	}
	for (int i = 0; i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		snprintf(o, sizeof(o), "%s, certificate %d", origin, i + 1);
		if (!X509_up_ref(x))
			return cki_err(
			    ctx, CK_E_INTERNAL, "X509_up_ref failed");
		if ((st = push_x509(ctx, b, x, o)) != CK_OK)
			return st;
	}
	for (int i = 0; i < sk_X509_CRL_num(crls); i++) {
		X509_CRL *c = sk_X509_CRL_value(crls, i);

		snprintf(o, sizeof(o), "%s, CRL %d", origin, i + 1);
		if (!X509_CRL_up_ref(c))
			return cki_err(
			    ctx, CK_E_INTERNAL, "X509_CRL_up_ref failed");
		if ((st = push(ctx, b, CK_OBJ_CRL, c, o)) != CK_OK)
			return st;
	}
	/* An absent set is a NULL stack, whose count is -1: a one-certificate
	 * .p7b has no CRL set at all. */
	if (sk_X509_num(certs) <= 0 && sk_X509_CRL_num(crls) <= 0)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: PKCS#7 bundle holds no certificates and no CRLs",
		    origin);
	return CK_OK;
}

/* ---- PKCS#12 ----------------------------------------------------------- */

/*
 * Decides the password of a PKCS#12 file. Files made with an empty password
 * use either "" or no password at all in the MAC (RFC 7292 appendix B.1
 * leaves it to the implementation), so both are tried before asking.
 * Returns the password in buf (or sets *nullpw) and CK_OK, or an error.
 */
static ck_status
p12_password(ck_ctx *ctx, PKCS12 *p12, const char *name, char *buf, size_t size,
    bool *nullpw)
{
	int n;

	*nullpw = false;
	buf[0] = '\0';
	if (!PKCS12_mac_present(p12)) {
		/* No integrity MAC: bags may still be encrypted with a
		 * password; the caller asks when decryption needs it. */
		if (cki_have_password(ctx) &&
		    cki_password(ctx, name, buf, size) >= 0)
			return CK_OK;
		*nullpw = true;
		return CK_OK;
	}
	if (PKCS12_verify_mac(p12, NULL, 0)) {
		*nullpw = true;
		return CK_OK;
	}
	if (PKCS12_verify_mac(p12, "", 0))
		return CK_OK;
	n = cki_password(ctx, name, buf, size);
	if (n < 0)
		return cki_err(ctx, CK_E_PASSWORD,
		    "%s: PKCS#12 file is protected by a password, "
		    "and " CKI_NO_PASSWORD,
		    name);
	if (!PKCS12_verify_mac(p12, buf, n)) {
		/* The MAC digest itself may need the legacy provider (MD5
		 * MACs); retry once with it before blaming the password. */
		ERR_clear_error();
		if (!cki_load_legacy_provider(ctx) ||
		    !PKCS12_verify_mac(p12, buf, n))
			return cki_err(ctx, CK_E_PASSWORD,
			    "%s: wrong password, or the file is damaged "
			    "(MAC check failed)",
			    name);
	}
	return CK_OK;
}

/*
 * The MAC's iteration count comes from the file (RFC 7292 appendix B.2 and
 * C): a hostile file can ask for 2^31-1 rounds, hours of CPU per password
 * tried. Real files use 1 to a few hundred thousand (OpenSSL 2048, Java
 * 10000), so anything above this is refused before any key derivation.
 */
#define CKI_P12_MAX_ITER 1000000

static ck_status
p12_check_iterations(ck_ctx *ctx, PKCS12 *p12, const char *name)
{
	const ASN1_INTEGER *iter = NULL;
	long n;

	if (!PKCS12_mac_present(p12))
		return CK_OK;
	PKCS12_get0_mac(NULL, NULL, NULL, &iter, p12);
	n = iter != NULL ? ASN1_INTEGER_get(iter) : 1; /* absent: 1 */
	if (n < 1 || n > CKI_P12_MAX_ITER)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: the PKCS#12 MAC asks for %ld key-derivation "
		    "iterations; certkit refuses more than %d (real files use "
		    "a few thousand), since opening it would take hours",
		    name, n, CKI_P12_MAX_ITER);
	return CK_OK;
}

/*
 * The password-based encryption of a PKCS#12 safe or bag and of an encrypted
 * PKCS#8 key carries its own cost, also chosen by the file: PBES1 (RFC 8018
 * 6.1, and RFC 7292 appendix C for pbeWithSHAAnd...) a PBEParameter
 * iteration count, PBES2 (RFC 8018 6.2) with PBKDF2 (RFC 8018 5.2) a
 * PBKDF2-params iteration count, PBES2 with scrypt (RFC 7914 section 7) a
 * cost N, block size r and parallelism p. Each is checked against the same
 * bound before anything is decrypted. Default scrypt as written by
 * 'openssl pkcs8 -scrypt' is N=16384 r=8 p=1 (N*r*p = 2^17); 2^22 leaves
 * room for stronger settings and is still about a second of work.
 */
#define CKI_SCRYPT_MAX_WORK (UINT64_C(1) << 22)
/* Each encryption of a PKCS#12 file is bounded alone, but a file may hold
 * any number of safes and bags: their costs (iterations, scrypt N*r*p)
 * added up are bounded too. Real files hold two encryptions of 2048. */
#define CKI_PBE_MAX_TOTAL INT64_C(8000000)

/* The count of an INTEGER, or INT64_MAX if it does not fit (too large to
 * run either way). */
static int64_t
asn1_count(const ASN1_INTEGER *a)
{
	int64_t v;

	if (a == NULL)
		return 1;
	if (!ASN1_INTEGER_get_int64(&v, a))
		v = INT64_MAX;
	return v;
}

static ck_status
iter_refuse(ck_ctx *ctx, const char *what, const char *kdf, int64_t n)
{
	return cki_err(ctx, CK_E_FORMAT,
	    "%s: its %s encryption asks for %lld key-derivation iterations; "
	    "certkit refuses more than %d (real files use a few thousand), "
	    "since opening it would take hours",
	    what, kdf, (long long)n, CKI_P12_MAX_ITER);
}

static ck_status
pbe_check(ck_ctx *ctx, const X509_ALGOR *alg, const char *what, int64_t *total)
{
	const ASN1_OBJECT *oid;
	const void *pv;
	int ptype, nid;
	PBEPARAM *pbe = NULL;
	PBE2PARAM *pbe2 = NULL;
	PBKDF2PARAM *kdf = NULL;
	SCRYPT_PARAMS *sp = NULL;
	ck_status st = CK_OK;
	int64_t n = 0;

	if (alg == NULL)
		goto out;
	X509_ALGOR_get0(&oid, &ptype, &pv, alg);
	nid = OBJ_obj2nid(oid);
	if (nid == NID_pbes2) {
		pbe2 = ASN1_TYPE_unpack_sequence(
		    ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
		if (pbe2 == NULL || pbe2->keyfunc == NULL)
			goto damaged;
		nid = OBJ_obj2nid(pbe2->keyfunc->algorithm);
		if (nid == NID_id_pbkdf2) {
			kdf = ASN1_TYPE_unpack_sequence(
			    ASN1_ITEM_rptr(PBKDF2PARAM),
			    pbe2->keyfunc->parameter);
			if (kdf == NULL)
				goto damaged;
			n = asn1_count(kdf->iter);
			if (n > CKI_P12_MAX_ITER)
				st = iter_refuse(ctx, what, "PBKDF2", n);
		} else if (nid == NID_id_scrypt) {
			uint64_t N, r, p;

			sp = ASN1_TYPE_unpack_sequence(
			    ASN1_ITEM_rptr(SCRYPT_PARAMS),
			    pbe2->keyfunc->parameter);
			if (sp == NULL ||
			    !ASN1_INTEGER_get_uint64(&N, sp->costParameter) ||
			    !ASN1_INTEGER_get_uint64(&r, sp->blockSize) ||
			    !ASN1_INTEGER_get_uint64(
			        &p, sp->parallelizationParameter))
				goto damaged;
			/* Each factor is checked first so the product
			 * cannot overflow. */
			if (N < 2 || r < 1 || p < 1 ||
			    N > CKI_SCRYPT_MAX_WORK ||
			    r > CKI_SCRYPT_MAX_WORK ||
			    p > CKI_SCRYPT_MAX_WORK ||
			    N * r > CKI_SCRYPT_MAX_WORK ||
			    N * r * p > CKI_SCRYPT_MAX_WORK)
				st = cki_err(ctx, CK_E_FORMAT,
				    "%s: its scrypt encryption asks for cost "
				    "N=%llu r=%llu p=%llu; certkit refuses "
				    "N*r*p above %llu (real files use "
				    "N=16384 r=8 p=1), since opening it would "
				    "take hours",
				    what, (unsigned long long)N,
				    (unsigned long long)r,
				    (unsigned long long)p,
				    (unsigned long long)CKI_SCRYPT_MAX_WORK);
			else
				n = (int64_t)(N * r * p);
		}
		/* Any other KDF: OpenSSL has none, and decryption fails
		 * with its own message. */
		goto sum;
	}
	/* PBES1 and the PKCS#12 PBEs all take a PBEParameter; other
	 * algorithms are not password-based and cost nothing to derive. */
	if (!EVP_PBE_find(EVP_PBE_TYPE_OUTER, nid, NULL, NULL, NULL))
		goto out;
	pbe =
	    ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBEPARAM), alg->parameter);
	if (pbe == NULL)
		goto damaged;
	n = asn1_count(pbe->iter);
	if (n > CKI_P12_MAX_ITER)
		st = iter_refuse(ctx, what, OBJ_nid2sn(nid), n);
sum:
	/* A count below 1 costs one round (or fails) in OpenSSL. */
	if (st == CK_OK && total != NULL && n > 0 &&
	    (*total += n) > CKI_PBE_MAX_TOTAL)
		st = cki_err(ctx, CK_E_FORMAT,
		    "%s: with it the file asks for %lld key-derivation "
		    "iterations in all; certkit refuses more than %lld (real "
		    "files use a few thousand), since opening it would take "
		    "hours",
		    what, (long long)*total, (long long)CKI_PBE_MAX_TOTAL);
	goto out;
damaged:
	st = cki_err(ctx, CK_E_FORMAT,
	    "%s: its password-based encryption parameters are damaged "
	    "(expected RFC 8018 PBES1 or PBES2 parameters)",
	    what);
out:
	PBEPARAM_free(pbe);
	PBE2PARAM_free(pbe2);
	PBKDF2PARAM_free(kdf);
	SCRYPT_PARAMS_free(sp);
	return st;
}

/* Checks the shrouded key bags in bags, descending into nested
 * safeContents bags (RFC 7292 4.2.6). */
static ck_status
p12_check_bags(ck_ctx *ctx, const STACK_OF(PKCS12_SAFEBAG) * bags,
    const char *where, int depth, int64_t *total)
{
	char what[700];
	ck_status st = CK_OK;

	for (int i = 0; st == CK_OK && i < sk_PKCS12_SAFEBAG_num(bags); i++) {
		const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, i);
		const X509_ALGOR *alg = NULL;

		switch (PKCS12_SAFEBAG_get_nid(bag)) {
		case NID_pkcs8ShroudedKeyBag:
			X509_SIG_get0(
			    PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
			snprintf(what, sizeof(what), "%s, shrouded key bag %d",
			    where, i + 1);
			st = pbe_check(ctx, alg, what, total);
			break;
		case NID_safeContentsBag:
			/* The ASN.1 decoder already bounds nesting; depth
			 * is a second guard. */
			if (depth >= 8)
				break;
			snprintf(
			    what, sizeof(what), "%s, bag %d", where, i + 1);
			st = p12_check_bags(ctx, PKCS12_SAFEBAG_get0_safes(bag),
			    what, depth + 1, total);
			break;
		default: break;
		}
	}
	return st;
}

/*
 * Checks the cost of every password-based encryption in the file before
 * PKCS12_parse runs any: the authSafe's encrypted safes (RFC 7292 5.1,
 * PKCS#7 encryptedData) and the shrouded key bags of the plain safes.
 * Shrouded key bags inside an encrypted safe are visible only after that
 * safe is decrypted: when pw is given (have_pw), the safe, whose own cost
 * is checked first, is decrypted with it here and its bags checked too; a
 * safe that does not decrypt is left to PKCS12_parse, which fails on it.
 */
static ck_status
p12_check_pbe(
    ck_ctx *ctx, PKCS12 *p12, const char *name, const char *pw, bool have_pw)
{
	char what[600];
	STACK_OF(PKCS7) *safes = NULL;
	STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
	ck_status st = CK_OK;
	int64_t total = 0;

	if ((safes = PKCS12_unpack_authsafes(p12)) == NULL)
		goto out; /* PKCS12_parse reports the damage */
	for (int i = 0; st == CK_OK && i < sk_PKCS7_num(safes); i++) {
		PKCS7 *p7 = sk_PKCS7_value(safes, i);

		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
		bags = NULL;
		if (PKCS7_type_is_data(p7)) {
			snprintf(what, sizeof(what), "%s: PKCS#12 safe %d",
			    name, i + 1);
			bags = PKCS12_unpack_p7data(p7);
		} else if (PKCS7_type_is_encrypted(p7)) {
			snprintf(what, sizeof(what),
			    "%s: PKCS#12 encrypted safe %d", name, i + 1);
			if (p7->d.encrypted == NULL ||
			    p7->d.encrypted->enc_data == NULL)
				continue; /* PKCS12_parse reports it */
			st = pbe_check(ctx,
			    p7->d.encrypted->enc_data->algorithm, what, &total);
			if (st != CK_OK || !have_pw)
				continue;
			ERR_clear_error();
			bags = PKCS12_unpack_p7encdata(p7, pw, -1);
			if (bags == NULL && cki_load_legacy_provider(ctx))
				bags = PKCS12_unpack_p7encdata(p7, pw, -1);
			ERR_clear_error();
		}
		if (bags != NULL)
			st = p12_check_bags(ctx, bags, what, 0, &total);
	}
out:
	sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	return st;
}

/* PKCS12_parse with one candidate password, after p12_check_pbe has
 * checked the cost of every encryption that password opens; retried with
 * the legacy provider, since RC2-40-CBC and friends live there only and
 * Windows and IIS still export them by default. A refused cost is left in
 * *st, and no later candidate is tried. */
static bool
p12_try(ck_ctx *ctx, PKCS12 *p12, const char *name, const char *pw,
    EVP_PKEY **key, X509 **cert, STACK_OF(X509) * *ca, ck_status *st)
{
	if (*st != CK_OK ||
	    (*st = p12_check_pbe(ctx, p12, name, pw, true)) != CK_OK)
		return false;
	ERR_clear_error();
	if (PKCS12_parse(p12, pw, key, cert, ca))
		return true;
	ERR_clear_error();
	return cki_load_legacy_provider(ctx) &&
	    PKCS12_parse(p12, pw, key, cert, ca);
}

static ck_status
take_pkcs12(ck_ctx *ctx, ck_bundle *b, PKCS12 *p12, const char *name)
{
	char pw[1024], o[512];
	bool nullpw, ok;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *ca = NULL;
	ck_status st;

	if ((st = p12_check_iterations(ctx, p12, name)) != CK_OK ||
	    (st = p12_check_pbe(ctx, p12, name, NULL, false)) != CK_OK ||
	    (st = p12_password(ctx, p12, name, pw, sizeof(pw), &nullpw)) !=
	        CK_OK)
		goto out;
	if (PKCS12_mac_present(p12)) {
		ok = p12_try(
		    ctx, p12, name, nullpw ? NULL : pw, &key, &cert, &ca, &st);
	} else {
		/* Without a MAC nothing tells the password in advance: try
		 * none, empty, then the one given. */
		ok = p12_try(ctx, p12, name, NULL, &key, &cert, &ca, &st) ||
		    p12_try(ctx, p12, name, "", &key, &cert, &ca, &st) ||
		    (!nullpw &&
		        p12_try(ctx, p12, name, pw, &key, &cert, &ca, &st));
	}
	if (st != CK_OK)
		goto out;
	if (!ok) {
		if (nullpw && !cki_have_password(ctx))
			st = cki_err(ctx, CK_E_PASSWORD,
			    "%s: PKCS#12 contents are encrypted, "
			    "and " CKI_NO_PASSWORD,
			    name);
		else
			st = cki_err(ctx, CK_E_FORMAT,
			    "%s: PKCS#12 contents cannot be decrypted (%s); "
			    "the password may be wrong or the file damaged",
			    name, cki_ossl_reason());
		goto out;
	}
	if (key != NULL) {
		snprintf(o, sizeof(o), "%s: PKCS#12 private key", name);
		st = push_pkey(ctx, b, key, o);
		key = NULL;
		if (st != CK_OK)
			goto out;
	}
	if (cert != NULL) {
		snprintf(o, sizeof(o), "%s: PKCS#12 certificate (key's)", name);
		st = push_x509(ctx, b, cert, o);
		cert = NULL;
		if (st != CK_OK)
			goto out;
	}
	for (int i = 0; i < sk_X509_num(ca); i++) {
		snprintf(
		    o, sizeof(o), "%s: PKCS#12 certificate %d", name, i + 1);
		st = push_x509(ctx, b, sk_X509_value(ca, i), o);
		(void)sk_X509_set(ca, i, NULL);
		if (st != CK_OK)
			goto out;
	}
	if (ck_bundle_count(b, CK_OBJ_CERT) + ck_bundle_count(b, CK_OBJ_KEY) ==
	    0)
		st = cki_err(ctx, CK_E_FORMAT,
		    "%s: PKCS#12 file holds no certificates and no keys", name);
	else
		st = CK_OK;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(ca, X509_free);
	return st;
}

/* ---- DER --------------------------------------------------------------- */

/*
 * Reads the outer TLV header. Returns the total encoded length, or 0 if the
 * header is not a valid DER SEQUENCE header.
 */
static size_t
der_total_len(const uint8_t *p, size_t len)
{
	size_t n, hdr;

	if (len < 2 || p[0] != 0x30)
		return 0;
	if (p[1] < 0x80)
		return 2 + (size_t)p[1];
	n = p[1] & 0x7f;
	if (n == 0 || n > 4 || len < 2 + n)
		return 0; /* indefinite (BER) or absurd length */
	hdr = 2 + n;
	{
		size_t body = 0;

		for (size_t i = 0; i < n; i++)
			body = (body << 8) | p[2 + i];
		return hdr + body;
	}
}

/* Each d2i attempt must consume exactly the whole input. */
#define D2I_WHOLE(out, fn, type, buf, len)                                     \
	do {                                                                   \
		const unsigned char *p_ = (buf);                               \
		(out) = fn(NULL, &p_, (long)(len));                            \
		if ((out) != NULL && p_ != (buf) + (len)) {                    \
			type##_free(out);                                      \
			(out) = NULL;                                          \
		}                                                              \
	} while (0)

static ck_status
load_der(
    ck_ctx *ctx, ck_bundle *b, const char *name, const uint8_t *buf, size_t len)
{
	char o[512];
	size_t total = der_total_len(buf, len);
	X509 *x;
	X509_CRL *crl;
	X509_REQ *req;
	PKCS7 *p7;
	PKCS12 *p12;
	X509_SIG *sig;
	EVP_PKEY *pk;
	ck_status st;

	if (total > len)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: DER data is truncated: its header says %zu bytes, "
		    "the file has %zu",
		    name, total, len);
	/* Trailing bytes after a DER object (a stray newline, say) are
	 * tolerated only if they are whitespace. */
	for (size_t i = total; total != 0 && i < len; i++)
		if (!isspace(buf[i]))
			return cki_err(ctx, CK_E_FORMAT,
			    "%s: %zu unexpected bytes after the DER object "
			    "(which ends at byte %zu)",
			    name, len - total, total);
	if (total != 0)
		len = total;

	ERR_clear_error();
	D2I_WHOLE(x, d2i_X509, X509, buf, len);
	if (x != NULL) {
		snprintf(o, sizeof(o), "%s: DER certificate", name);
		return push_x509(ctx, b, x, o);
	}
	D2I_WHOLE(crl, d2i_X509_CRL, X509_CRL, buf, len);
	if (crl != NULL) {
		snprintf(o, sizeof(o), "%s: DER CRL", name);
		return push(ctx, b, CK_OBJ_CRL, crl, o);
	}
	D2I_WHOLE(req, d2i_X509_REQ, X509_REQ, buf, len);
	if (req != NULL) {
		snprintf(o, sizeof(o), "%s: DER CSR", name);
		return push(ctx, b, CK_OBJ_CSR, req, o);
	}
	D2I_WHOLE(p7, d2i_PKCS7, PKCS7, buf, len);
	if (p7 != NULL) {
		snprintf(o, sizeof(o), "%s: DER PKCS#7", name);
		st = take_pkcs7(ctx, b, p7, o);
		PKCS7_free(p7);
		return st;
	}
	D2I_WHOLE(p12, d2i_PKCS12, PKCS12, buf, len);
	if (p12 != NULL) {
		st = take_pkcs12(ctx, b, p12, name);
		PKCS12_free(p12);
		return st;
	}
	D2I_WHOLE(sig, d2i_X509_SIG, X509_SIG, buf, len);
	if (sig != NULL) {
		/* An encrypted PKCS#8 key (RFC 5958 EncryptedPrivateKeyInfo).
		 */
		struct pwstate pw = {ctx, name, false, false};
		const X509_ALGOR *alg = NULL;
		BIO *bio;

		snprintf(o, sizeof(o), "%s: encrypted private key", name);
		X509_SIG_get0(sig, &alg, NULL);
		st = pbe_check(ctx, alg, o, NULL);
		X509_SIG_free(sig);
		if (st != CK_OK)
			return st;
		bio = BIO_new_mem_buf(buf, (int)len);
		pk = bio != NULL
		    ? d2i_PKCS8PrivateKey_bio(bio, NULL, pem_pw_cb, &pw)
		    : NULL;
		BIO_free(bio);
		if (pk == NULL && pw.none)
			return cki_err(ctx, CK_E_PASSWORD,
			    "%s: the private key is encrypted, "
			    "and " CKI_NO_PASSWORD,
			    name);
		if (pk == NULL)
			return cki_err(ctx, CK_E_PASSWORD,
			    "%s: wrong password for the encrypted private key "
			    "(%s)",
			    name, cki_ossl_reason());
		snprintf(o, sizeof(o), "%s: DER encrypted PKCS#8 key", name);
		return push_pkey(ctx, b, pk, o);
	}
	{
		const unsigned char *p = buf;

		pk = d2i_AutoPrivateKey(NULL, &p, (long)len);
		if (pk != NULL && p == buf + len) {
			snprintf(o, sizeof(o), "%s: DER private key", name);
			return push_pkey(ctx, b, pk, o);
		}
		EVP_PKEY_free(pk);
	}
	{
		const unsigned char *p = buf;

		pk = d2i_PUBKEY(NULL, &p, (long)len);
		EVP_PKEY_free(pk);
		if (pk != NULL)
			return cki_err(ctx, CK_E_FORMAT,
			    "%s: this is a public key on its own; expected %s "
			    "(a public key has no certificate or private key "
			    "to read)",
			    name, WHAT_WE_READ);
	}
	return cki_err(ctx, CK_E_FORMAT,
	    "%s: DER data that is not a certificate, key, CSR, CRL, PKCS#7 or "
	    "PKCS#12 structure (%s)",
	    name, cki_ossl_reason());
}

/* ---- PEM --------------------------------------------------------------- */

struct line {
	const char *p;
	size_t n; /* without line end and trailing white space */
};

/* Next line of buf[*off..len): strips CR, leading and trailing blanks. */
static bool
next_line(const uint8_t *buf, size_t len, size_t *off, struct line *ln)
{
	size_t s = *off, e;

	if (s >= len)
		return false;
	for (e = s; e < len && buf[e] != '\n'; e++)
		;
	*off = e < len ? e + 1 : e;
	while (s < e && (buf[s] == ' ' || buf[s] == '\t'))
		s++;
	while (e > s && isspace(buf[e - 1]))
		e--;
	ln->p = (const char *)buf + s;
	ln->n = e - s;
	return true;
}

/* If the line is "-----BEGIN LABEL-----" (or END), copies LABEL. */
static bool
pem_marker(const struct line *ln, const char *kw, char *label, size_t size)
{
	size_t kwn = strlen(kw), n;

	if (ln->n < 10 + kwn + 1 || memcmp(ln->p, "-----", 5) != 0 ||
	    memcmp(ln->p + 5, kw, kwn) != 0 || ln->p[5 + kwn] != ' ' ||
	    memcmp(ln->p + ln->n - 5, "-----", 5) != 0)
		return false;
	n = ln->n - 10 - kwn - 1;
	if (n == 0 || n >= size)
		return false;
	memcpy(label, ln->p + 5 + kwn + 1, n);
	label[n] = '\0';
	return true;
}

static bool
label_is(const char *label, const char *const *set)
{
	for (; *set != NULL; set++)
		if (strcmp(label, *set) == 0)
			return true;
	return false;
}

static const char *const CERT_LABELS[] = {
    "CERTIFICATE", "X509 CERTIFICATE", "TRUSTED CERTIFICATE", NULL};
static const char *const CSR_LABELS[] = {
    "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", NULL};
static const char *const KEY_LABELS[] = {"PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
    "RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY", NULL};
/* Blocks that carry nothing certkit manages and are skipped silently. */
static const char *const SKIP_LABELS[] = {"EC PARAMETERS", "DH PARAMETERS",
    "X9.42 DH PARAMETERS", "DSA PARAMETERS", NULL};

/* Checks the encryption cost of the ENCRYPTED PRIVATE KEY block in bio
 * without consuming it. */
static ck_status
pem_pkcs8_check(ck_ctx *ctx, BIO *bio, const char *origin)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	BIO *peek = NULL;
	X509_SIG *sig = NULL;
	const X509_ALGOR *alg = NULL;
	ck_status st;

	if (n <= 0 || n > INT_MAX ||
	    (peek = BIO_new_mem_buf(data, (int)n)) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto out;
	}
	ERR_clear_error();
	if ((sig = PEM_read_bio_PKCS8(peek, NULL, NULL, NULL)) == NULL) {
		st = cki_err(ctx, CK_E_FORMAT, "%s is damaged: %s", origin,
		    cki_ossl_reason());
		goto out;
	}
	X509_SIG_get0(sig, &alg, NULL);
	st = pbe_check(ctx, alg, origin, NULL);
out:
	X509_SIG_free(sig);
	BIO_free(peek);
	return st;
}

/* Parses one clean PEM block (text in bio) according to its label. */
static ck_status
pem_block(ck_ctx *ctx, ck_bundle *b, const char *label, BIO *bio,
    const char *origin, const char *name)
{
	ck_status st;

	ERR_clear_error();
	if (label_is(label, CERT_LABELS)) {
		X509 *x = strcmp(label, "TRUSTED CERTIFICATE") == 0
		    ? PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL)
		    : PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (x == NULL)
			goto damaged;
		return push_x509(ctx, b, x, origin);
	}
	if (strcmp(label, "X509 CRL") == 0) {
		X509_CRL *c = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
		if (c == NULL)
			goto damaged;
		return push(ctx, b, CK_OBJ_CRL, c, origin);
	}
	if (label_is(label, CSR_LABELS)) {
		X509_REQ *r = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
		if (r == NULL)
			goto damaged;
		return push(ctx, b, CK_OBJ_CSR, r, origin);
	}
	if (strcmp(label, "PKCS7") == 0 || strcmp(label, "CMS") == 0) {
		PKCS7 *p7 = PEM_read_bio_PKCS7(bio, NULL, NULL, NULL);
		if (p7 == NULL)
			goto damaged;
		st = take_pkcs7(ctx, b, p7, origin);
		PKCS7_free(p7);
		return st;
	}
	if (label_is(label, KEY_LABELS)) {
		struct pwstate pw = {ctx, name, false, false};
		EVP_PKEY *k;

		/* RFC 5958 EncryptedPrivateKeyInfo: its cost is checked
		 * before the password callback runs. Traditional encrypted
		 * PEM (Proc-Type, DEK-Info) derives its key with one MD5
		 * round and needs no bound. */
		if (strcmp(label, "ENCRYPTED PRIVATE KEY") == 0 &&
		    (st = pem_pkcs8_check(ctx, bio, origin)) != CK_OK)
			return st;
		k = PEM_read_bio_PrivateKey(bio, NULL, pem_pw_cb, &pw);
		if (k == NULL && pw.none)
			return cki_err(ctx, CK_E_PASSWORD,
			    "%s is encrypted, and " CKI_NO_PASSWORD, origin);
		if (k == NULL && pw.asked)
			return cki_err(ctx, CK_E_PASSWORD,
			    "%s: wrong password, or the key is damaged (%s)",
			    origin, cki_ossl_reason());
		if (k == NULL)
			goto damaged;
		return push_pkey(ctx, b, k, origin);
	}
	if (strcmp(label, "OPENSSH PRIVATE KEY") == 0)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s is in OpenSSH's own format; convert it with "
		    "'ssh-keygen -p -m PKCS8 -f FILE'",
		    origin);
	return cki_err(ctx, CK_E_FORMAT,
	    "%s: unknown PEM type; expected CERTIFICATE, X509 CRL, "
	    "CERTIFICATE REQUEST, PKCS7 or a PRIVATE KEY",
	    origin);
damaged:
	return cki_err(
	    ctx, CK_E_FORMAT, "%s is damaged: %s", origin, cki_ossl_reason());
}

/* A large file's text, released page by page behind the PEM parser
 * (guarantee 6): a parsed certificate costs several times its text, and
 * the text is not read again. `base` is a private anonymous mapping (NULL:
 * nothing to release); pages before `done` are wiped and returned. */
struct text_release {
	uint8_t *base;
	size_t len, done;
};

#define RELEASE_MIN (1u << 20)  /* files from this size are released */
#define RELEASE_STEP (1u << 18) /* in steps of at least this much */

static void
release_upto(struct text_release *r, const uint8_t *p)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), upto;

	if (r == NULL || r->base == NULL || pg == 0 || pg == (size_t)-1)
		return;
	upto = (size_t)(p - r->base) / pg * pg;
	if (upto < r->done + RELEASE_STEP || upto > r->len)
		return;
	/* The text may hold an unencrypted private key. */
	explicit_bzero(r->base + r->done, upto - r->done);
	(void)madvise(r->base + r->done, upto - r->done, MADV_DONTNEED);
	r->done = upto;
}

/* Refuses a PEM file of more blocks than one input may hold, before any is
 * parsed (guarantee 6): counting costs a scan, parsing 100,000 blocks
 * costs half a gigabyte. */
static ck_status
pem_count(ck_ctx *ctx, const char *name, const uint8_t *buf, size_t len)
{
	char label[80];
	size_t off = 0, blocks = 0;
	struct line ln;

	while (next_line(buf, len, &off, &ln))
		if (pem_marker(&ln, "BEGIN", label, sizeof(label)))
			blocks++;
	if (blocks <= CKI_LOAD_MAX_OBJECTS)
		return CK_OK;
	return cki_err(ctx, CK_E_FORMAT, "%s: holds %zu PEM blocks; " TOO_MANY,
	    name, blocks, CKI_LOAD_MAX_OBJECTS);
}

static ck_status
load_pem(ck_ctx *ctx, ck_bundle *b, const char *name, const uint8_t *buf,
    size_t len, struct text_release *rel, char *skipped, size_t skipped_size)
{
	char label[80], endlabel[80], origin[600];
	size_t off = 0, body = 0;
	struct line ln;
	BIO *bio = NULL;
	int block = 0;
	ck_status st = CK_OK;

	skipped[0] = '\0';
	if ((st = pem_count(ctx, name, buf, len)) != CK_OK)
		return st;
	while (next_line(buf, len, &off, &ln)) {
		if (!pem_marker(&ln, "BEGIN", label, sizeof(label)))
			continue; /* text outside blocks is allowed */
		block++;
		snprintf(origin, sizeof(origin), "%s: block %d (%s)", name,
		    block, label);
		BIO_free(bio);
		if ((bio = BIO_new(BIO_s_mem())) == NULL) {
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto out;
		}
		BIO_printf(bio, "-----BEGIN %s-----\n", label);
		body = 0;
		for (;;) {
			if (!next_line(buf, len, &off, &ln)) {
				st = cki_err(ctx, CK_E_FORMAT,
				    "%s is truncated: no END line", origin);
				goto out;
			}
			if (pem_marker(
			        &ln, "BEGIN", endlabel, sizeof(endlabel))) {
				st = cki_err(ctx, CK_E_FORMAT,
				    "%s is truncated: no END line before "
				    "block %d (%s) begins",
				    origin, block + 1, endlabel);
				goto out;
			}
			if (pem_marker(&ln, "END", endlabel, sizeof(endlabel)))
				break;
			if (ln.n > 0) {
				BIO_write(bio, ln.p, (int)ln.n);
				body++;
			}
			BIO_write(bio, "\n", 1);
		}
		if (strcmp(label, endlabel) != 0) {
			st = cki_err(ctx, CK_E_FORMAT,
			    "%s ends with a different label: END %s", origin,
			    endlabel);
			goto out;
		}
		if (body == 0) {
			st = cki_err(ctx, CK_E_FORMAT, "%s is empty", origin);
			goto out;
		}
		BIO_printf(bio, "-----END %s-----\n", label);
		if (label_is(label, SKIP_LABELS) ||
		    strcmp(label, "PUBLIC KEY") == 0 ||
		    strcmp(label, "RSA PUBLIC KEY") == 0) {
			if (skipped[0] == '\0')
				snprintf(skipped, skipped_size, "%s", label);
			continue;
		}
		if ((st = pem_block(ctx, b, label, bio, origin, name)) != CK_OK)
			goto out;
		release_upto(rel, buf + off);
	}
	if (block == 0)
		st = cki_err(ctx, CK_E_FORMAT,
		    "%s: has '-----BEGIN ' but no complete PEM BEGIN line",
		    name);
out:
	BIO_free(bio);
	return st;
}

/* ---- sniffing garbage -------------------------------------------------- */

static bool
has_prefix_ci(const uint8_t *buf, size_t len, const char *pfx)
{
	size_t n = strlen(pfx);

	if (len < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (tolower(buf[i]) != pfx[i])
			return false;
	return true;
}

static const char *
guess_kind(const uint8_t *buf, size_t len)
{
	size_t i = 0, printable = 0;

	while (i < len && isspace(buf[i]))
		i++;
	buf += i;
	len -= i;
	if (has_prefix_ci(buf, len, "<!doctype html") ||
	    has_prefix_ci(buf, len, "<html") ||
	    has_prefix_ci(buf, len, "<head"))
		return "looks like HTML, perhaps an error page saved instead "
		       "of the file";
	if (has_prefix_ci(buf, len, "<?xml"))
		return "looks like XML";
	if (len > 0 && (buf[0] == '{' || buf[0] == '['))
		return "looks like JSON";
	if (has_prefix_ci(buf, len, "ssh-") ||
	    has_prefix_ci(buf, len, "ecdsa-sha2-"))
		return "looks like an OpenSSH public key";
	if (len >= 4 && memcmp(buf, "PK\003\004", 4) == 0)
		return "looks like a ZIP archive: extract it first";
	if (len >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)
		return "looks like gzip data: decompress it first";
	for (size_t j = 0; j < len && j < 512; j++)
		if (isprint(buf[j]) || isspace(buf[j]) || buf[j] >= 0x80)
			printable++;
	if (len > 0 && printable == (len < 512 ? len : 512))
		return "looks like text with no PEM block in it";
	return "binary data of no known kind";
}

static ck_status
not_ours(ck_ctx *ctx, const char *name, const uint8_t *buf, size_t len)
{
	char hex[16] = "";
	size_t n = len < 4 ? len : 4;

	for (size_t i = 0, off = 0; i < n; i++)
		off += (size_t)snprintf(hex + off, sizeof(hex) - off, "%s%02x",
		    i ? " " : "", buf[i]);
	return cki_err(ctx, CK_E_FORMAT, "%s: not %s (starts with %s: %s)",
	    name, WHAT_WE_READ, hex, guess_kind(buf, len));
}

/* ---- entry points ------------------------------------------------------ */

static bool
contains(const uint8_t *buf, size_t len, const char *needle)
{
	size_t n = strlen(needle);

	if (len < n)
		return false;
	for (size_t i = 0; i + n <= len; i++)
		if (buf[i] == (uint8_t)needle[0] &&
		    memcmp(buf + i, needle, n) == 0)
			return true;
	return false;
}

static ck_status
load_mem(ck_ctx *ctx, const char *name, const uint8_t *buf, size_t len,
    struct text_release *rel, ck_bundle **out)
{
	ck_bundle *b = NULL;
	char skipped[80] = "";
	ck_status st;

	cki_begin(ctx);
	*out = NULL;
	if (name == NULL)
		name = "(input)";
	if (len == 0)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s: the file is empty; expected %s", name, WHAT_WE_READ);
	if ((b = ck_bundle_new()) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	/* A UTF-8 BOM, as Windows editors write, is not part of the data. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
		buf += 3;
		len -= 3;
	}
	if (contains(buf, len, "-----BEGIN "))
		st = load_pem(
		    ctx, b, name, buf, len, rel, skipped, sizeof(skipped));
	else if (len >= 2 && buf[0] == 0x30)
		st = load_der(ctx, b, name, buf, len);
	else
		st = not_ours(ctx, name, buf, len);
	if (st == CK_OK &&
	    ck_bundle_count(b, CK_OBJ_CERT) + ck_bundle_count(b, CK_OBJ_KEY) +
	            ck_bundle_count(b, CK_OBJ_CSR) +
	            ck_bundle_count(b, CK_OBJ_CRL) ==
	        0)
		st = cki_err(ctx, CK_E_FORMAT, "%s: holds only %s; expected %s",
		    name, skipped[0] ? skipped : "nothing usable",
		    WHAT_WE_READ);
	if (st != CK_OK) {
		ck_bundle_free(b);
		return st;
	}
	*out = b;
	return CK_OK;
}

ck_status
ck_load_mem(ck_ctx *ctx, const char *name, const uint8_t *buf, size_t len,
    ck_bundle **out)
{
	return load_mem(ctx, name, buf, len, NULL, out);
}

ck_status
ck_load_file(ck_ctx *ctx, const char *path, ck_bundle **out)
{
	struct text_release rel = {NULL, 0, 0};
	uint8_t *buf = NULL;
	size_t len = 0;
	void *m;
	ck_status st;

	cki_begin(ctx);
	*out = NULL;
	if ((st = cki_read_file(ctx, path, &buf, &len)) != CK_OK)
		return st;
	/* A large file moves to pages of its own, which the PEM parser
	 * gives back as it goes (guarantee 6). */
	if (len >= RELEASE_MIN &&
	    (m = mmap(NULL, len, PROT_READ | PROT_WRITE,
	         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) != MAP_FAILED) {
		memcpy(m, buf, len);
		OPENSSL_clear_free(buf, len);
		buf = NULL;
		rel.base = m;
		rel.len = len;
	}
	st = load_mem(
	    ctx, path, rel.base != NULL ? rel.base : buf, len, &rel, out);
	/* The text may hold an unencrypted private key. */
	if (rel.base != NULL) {
		explicit_bzero(rel.base + rel.done, len - rel.done);
		munmap(rel.base, len);
	}
	OPENSSL_clear_free(buf, len);
	return st;
}

static const char *
type_noun(ck_obj_type t)
{
	switch (t) {
	case CK_OBJ_CERT: return "a certificate";
	case CK_OBJ_KEY: return "a private key";
	case CK_OBJ_CSR: return "a certificate request (CSR)";
	case CK_OBJ_CRL: return "a CRL";
	}
	return "?";
}

ck_status
ck_load_expect(ck_ctx *ctx, const char *path, ck_obj_type want, ck_bundle **out)
{
	ck_bundle *b = NULL;
	ck_status st;

	if ((st = ck_load_file(ctx, path, &b)) != CK_OK)
		return st;
	if (ck_bundle_count(b, want) == 0) {
		ck_obj_type found = CK_OBJ_CERT;

		for (int t = 0; t < 4; t++)
			if (ck_bundle_count(b, (ck_obj_type)t) > 0) {
				found = (ck_obj_type)t;
				break;
			}
		ck_bundle_free(b);
		return cki_err(ctx, CK_E_FORMAT, "%s: this is %s, not %s", path,
		    type_noun(found), type_noun(want));
	}
	*out = b;
	return CK_OK;
}
