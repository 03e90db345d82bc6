/*
 * names.c: turning X.509 names, times and digests into text, and the
 * read-only certificate accessors of the public API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ck_internal.h"

/* ---- the escaper of untrusted text (ck_internal.h) ----------------------- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), with its code
 * point in *cp; 0 if the bytes there are not valid UTF-8 (RFC 3629 section
 * 4: no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t
utf8_seq(const unsigned char *p, size_t n, unsigned long *cp)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (len > n)
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	*cp = p[0] & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3f);
	}
	return len;
}

/* Bytes at p to copy as they are (1..4), or 0: escape the byte p[0] (and
 * *esc_len bytes in all, the whole of a character that must not show). */
static size_t
keep_len(const unsigned char *p, size_t n, size_t *esc_len)
{
	unsigned long cp = 0;
	size_t len;

	*esc_len = 1;
	if (p[0] >= 0x20 && p[0] < 0x7f)
		return 1;
	if (p[0] < 0x80 || (len = utf8_seq(p, n, &cp)) == 0)
		return 0;
	if (cp <= 0x9f || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069)) {
		*esc_len = len;
		return 0;
	}
	return len;
}

size_t
cki_esc(char *out, size_t size, const char *s, size_t len)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t need = 0, off = 0, i = 0, k, e;
	bool fits = size > 0;

	while (i < len) {
		/* Printable ASCII, most of any text: the whole run at once. */
		for (k = 0; i + k < len && p[i + k] >= 0x20 && p[i + k] < 0x7f;
		     k++)
			;
		if (k > 0 || (k = keep_len(p + i, len - i, &e)) > 0) {
			if (fits && off + k < size) {
				memcpy(out + off, p + i, k);
				off += k;
			} else {
				fits = false;
			}
			need += k;
			i += k;
			continue;
		}
		for (size_t j = 0; j < e; j++, i++) {
			if (fits && off + 4 < size) {
				out[off++] = '\\';
				out[off++] = 'x';
				out[off++] = hx[p[i] >> 4];
				out[off++] = hx[p[i] & 15];
			} else {
				fits = false;
			}
			need += 4;
		}
	}
	if (size > 0)
		out[off] = '\0';
	return need;
}

char *
cki_esc_dup(const char *s, size_t len)
{
	size_t need = cki_esc(NULL, 0, s, len);
	char *out = malloc(need + 1);

	if (out != NULL)
		(void)cki_esc(out, need + 1, s, len);
	return out;
}

json_t *
cki_json_str(const char *s)
{
	json_t *j;
	char *esc;

	if (s == NULL)
		return json_null();
	if ((j = json_string(s)) != NULL)
		return j;
	if ((esc = cki_esc_dup(s, strlen(s))) == NULL)
		return NULL;
	j = json_string(esc);
	free(esc);
	return j;
}

char *
ck_text_escape(const char *s)
{
	return cki_esc_dup(s != NULL ? s : "", s != NULL ? strlen(s) : 0);
}

/* A byte X509_NAME_print_ex() writes as it is, under the flags below, at
 * any place in a value (not first or last: ' '; not first: '#'), and that
 * the escaper keeps: letters, digits and punctuation outside RFC 2253's
 * specials (,+"\\<>;). */
static bool
plain_char(unsigned char c, bool edge)
{
	static const char punct[] = "-._:/@()'=*!?%&~";

	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	if (c == ' ' || c == '#')
		return !edge;
	return c != '\0' && memchr(punct, c, sizeof(punct) - 1) != NULL;
}

/* Length of the entry's value if it prints as its own bytes: a non-empty
 * PrintableString, UTF8String or IA5String of plain_char bytes; else -1. */
static int
plain_value(const ASN1_STRING *v)
{
	const unsigned char *d = ASN1_STRING_get0_data(v);
	int n = ASN1_STRING_length(v), t = ASN1_STRING_type(v);

	if (n <= 0 ||
	    (t != V_ASN1_PRINTABLESTRING && t != V_ASN1_UTF8STRING &&
	        t != V_ASN1_IA5STRING) ||
	    !plain_char(d[0], true) || !plain_char(d[n - 1], true))
		return -1;
	for (int i = 1; i < n - 1; i++)
		if (!plain_char(d[i], false))
			return -1;
	return n;
}

char *
cki_name_oneline_plain(const X509_NAME *name)
{
	int cnt = X509_NAME_entry_count(name);
	size_t need = 1, off = 0;
	char *out;

	if (cnt <= 0)
		return NULL;
	for (int i = 0; i < cnt; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		const char *sn = nid != NID_undef ? OBJ_nid2sn(nid) : NULL;
		int vlen = plain_value(X509_NAME_ENTRY_get_data(e));

		/* A multi-valued RDN prints with " + ": OpenSSL's case. */
		if (sn == NULL || vlen < 0 ||
		    (i > 0 &&
		        X509_NAME_ENTRY_set(e) ==
		            X509_NAME_ENTRY_set(
		                X509_NAME_get_entry(name, i - 1))))
			return NULL;
		need += (i > 0 ? 2 : 0) + strlen(sn) + 3 + (size_t)vlen;
	}
	if ((out = malloc(need)) == NULL)
		return NULL;
	for (int i = 0; i < cnt; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
		const char *sn =
		    OBJ_nid2sn(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)));
		size_t sl = strlen(sn), vl = (size_t)ASN1_STRING_length(v);

		if (i > 0) {
			memcpy(out + off, ", ", 2);
			off += 2;
		}
		memcpy(out + off, sn, sl);
		memcpy(out + off + sl, " = ", 3);
		memcpy(out + off + sl + 3, ASN1_STRING_get0_data(v), vl);
		off += sl + 3 + vl;
	}
	out[off] = '\0';
	return out;
}

/* The name as OpenSSL prints it (C0 controls already as \XX), then through
 * the escaper, which also catches C1 controls and bidi overrides in UTF-8.
 * Most names need neither: cki_name_oneline_plain writes those directly
 * (a BIO and X509_NAME_print_ex cost 20,000 instructions a name, a tenth
 * of what verify --each adds to OpenSSL per leaf). */
char *
cki_name_oneline(const X509_NAME *name)
{
	BIO *bio;
	BUF_MEM *mem;
	char *out;

	if ((out = cki_name_oneline_plain(name)) != NULL)
		return out;
	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	/* XN_FLAG_ONELINE with UTF-8 output is exactly what `openssl s_client`
	 * prints at "depth=N": "C = US, O = Example, CN = host". */
	if (X509_NAME_print_ex(bio, name, 0,
	        (XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB) |
	            ASN1_STRFLGS_UTF8_CONVERT) >= 0) {
		BIO_get_mem_ptr(bio, &mem);
		out = cki_esc_dup(mem->data, mem->length);
	}
	BIO_free(bio);
	return out;
}

void
cki_hex(const unsigned char *buf, size_t len, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = hx[buf[i] >> 4];
		out[2 * i + 1] = hx[buf[i] & 15];
	}
	out[2 * len] = '\0';
}

char *
cki_hex_colon(const unsigned char *buf, size_t len)
{
	static const char hx[] = "0123456789ABCDEF";
	char *out;

	if ((out = malloc(len * 3 + 1)) == NULL)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		out[3 * i] = hx[buf[i] >> 4];
		out[3 * i + 1] = hx[buf[i] & 15];
		out[3 * i + 2] = i + 1 < len ? ':' : '\0';
	}
	return out;
}

bool
cki_asn1_time(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;
	int days, secs;
	ASN1_TIME *epoch;
	bool ok;

	*out = 0;
	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return false;
	if ((epoch = ASN1_TIME_set(NULL, 0)) == NULL)
		return false;
	ok = ASN1_TIME_diff(&days, &secs, epoch, t) == 1;
	ASN1_TIME_free(epoch);
	if (ok)
		*out = (int64_t)days * 86400 + secs;
	return ok;
}

void
cki_fmt_time(int64_t t, char out[32])
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "@%lld", (long long)t);
}

/* RFC 5280 5.3.1 CRLReason; 7 is unused. */
const char *
cki_crl_reason_name(long r)
{
	static const char *const names[] = {"unspecified", "keyCompromise",
	    "cACompromise", "affiliationChanged", "superseded",
	    "cessationOfOperation", "certificateHold", "unused(7)",
	    "removeFromCRL", "privilegeWithdrawn", "aACompromise"};

	if (r < 0 || r >= (long)(sizeof(names) / sizeof(names[0])))
		return "unknown";
	return names[r];
}

char *
ck_cert_subject(const ck_cert *c)
{
	return cki_name_oneline(X509_get_subject_name(c->x509));
}

char *
ck_cert_issuer(const ck_cert *c)
{
	return cki_name_oneline(X509_get_issuer_name(c->x509));
}

char *
cki_x509_common_name(const X509 *x)
{
	const X509_NAME *n = X509_get_subject_name(x);
	int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
	unsigned char *utf8 = NULL;
	char *out = NULL;
	int len;

	if (i < 0)
		return NULL;
	len = ASN1_STRING_to_UTF8(
	    &utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
	if (len > 0)
		out = strndup((char *)utf8, (size_t)len);
	OPENSSL_free(utf8);
	return out;
}

char *
ck_cert_common_name(const ck_cert *c)
{
	return cki_x509_common_name(c->x509);
}

/*
 * SHA-256, fetched from the default provider once per process. EVP_sha256()
 * is a legacy handle without a provider: every digest made with it fetches
 * the implementation again, taking the provider store's locks each time,
 * which dominated bulk verification. The fetched EVP_MD is immutable and
 * safe to share between threads; it lives until the process exits.
 */
static CRYPTO_ONCE sha256_once = CRYPTO_ONCE_STATIC_INIT;
static EVP_MD *sha256_md;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* NULL if the provider has no SHA-256 (then every digest is ""). */
static const EVP_MD *
sha256(void)
{
	if (!CRYPTO_THREAD_run_once(&sha256_once, sha256_fetch))
		return NULL;
	return sha256_md;
}

/* SHA-256 of `len` bytes at `der`, as 64 hex digits; "" on failure. */
static void
sha256_hex(const unsigned char *der, int len, char out[65])
{
	const EVP_MD *md = sha256();
	unsigned char dg[32];
	unsigned int n = 0;

	if (md == NULL || der == NULL || len <= 0 ||
	    !EVP_Digest(der, (size_t)len, dg, &n, md, NULL) || n != 32) {
		out[0] = '\0';
		return;
	}
	cki_hex(dg, 32, out);
}

void
ck_cert_sha256(const ck_cert *c, char out[65])
{
	unsigned char *der = NULL;
	int len;

	/* The fingerprint is over the certificate's DER encoding, as
	 * X509_digest() computes it (OpenSSL keeps the encoding it parsed). */
	len = i2d_X509(c->x509, &der);
	sha256_hex(der, len, out);
	OPENSSL_free(der);
}

void
ck_cert_spki_sha256(const ck_cert *c, char out[65])
{
	unsigned char *der = NULL;
	int len;

	/* The pin is over the DER SubjectPublicKeyInfo (RFC 7469 section 2.4).
	 */
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c->x509), &der);
	sha256_hex(der, len, out);
	OPENSSL_free(der);
}

int64_t
ck_cert_not_before(const ck_cert *c)
{
	int64_t t;

	cki_asn1_time(X509_get0_notBefore(c->x509), &t);
	return t;
}

int64_t
ck_cert_not_after(const ck_cert *c)
{
	int64_t t;

	cki_asn1_time(X509_get0_notAfter(c->x509), &t);
	return t;
}

int
ck_cert_is_ca(const ck_cert *c)
{
	return X509_check_ca(c->x509) != 0;
}

int
ck_cert_is_self_signed(const ck_cert *c)
{
	/* verify_signature = 1: a name match alone is not self-signed. */
	return X509_self_signed(c->x509, 1) == 1;
}

bool
cki_x509_issued_by(X509 *x, X509 *issuer)
{
	EVP_PKEY *pk;

	/* RFC 5280 6.1.3 (a): the names chain and the signature verifies. */
	if (X509_check_issued(issuer, x) != X509_V_OK)
		return false;
	pk = X509_get0_pubkey(issuer);
	return pk != NULL && X509_verify(x, pk) == 1;
}

int
ck_cert_issued_by(const ck_cert *c, const ck_cert *issuer)
{
	return cki_x509_issued_by(c->x509, issuer->x509);
}

char *
ck_cert_to_pem(const ck_cert *c)
{
	BIO *bio;
	BUF_MEM *mem;
	char *out = NULL;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return NULL;
	if (PEM_write_bio_X509(bio, c->x509)) {
		BIO_get_mem_ptr(bio, &mem);
		if ((out = malloc(mem->length + 1)) != NULL) {
			memcpy(out, mem->data, mem->length);
			out[mem->length] = '\0';
		}
	}
	BIO_free(bio);
	return out;
}

int
ck_key_matches_cert(const ck_key *k, const ck_cert *c)
{
	EVP_PKEY *pub = X509_get0_pubkey(c->x509);

	return pub != NULL && EVP_PKEY_eq(k->pkey, pub) == 1;
}
