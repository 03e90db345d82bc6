/*
 * describe.c: ck_describe(), the report behind `certkit show`.
 *
 * One JSON document describes everything in a bundle: each certificate
 * (names, dates, extensions, digests), each private key (and which
 * certificates it belongs to, never its material), each CSR and each CRL,
 * then the chain analysis of lib/pki/chain.c and a list of findings with stable
 * codes. The schema ("show") is in docs/json.md; the tool renders its
 * text from this same document.
 *
 * Invariants:
 *  1. Cost is linear in the number of objects (plus O(n log n) sorts): keys
 *     are matched to certificates through a sorted index of public-key
 *     digests, CRL entries through OpenSSL's sorted revoked list.
 *  2. Every time judgement uses cki_now(ctx), so --at gives reproducible
 *     output.
 *  3. Bytes from a certificate that are not printable ASCII or UTF-8 (an
 *     embedded NUL in a dNSName, say) are shown as \xNN, never dropped or
 *     passed through.
 *  4. Long lists are capped (CRL entries at CKI_DESCRIBE_MAX_REVOKED, key
 *     matches at CKI_DESCRIBE_MAX_MATCHES) with the full count alongside;
 *     a certificate's "keys" lists at most CKI_DESCRIBE_MAX_MATCHES, and a
 *     report at most CKI_DESCRIBE_MAX_PAIRS key-certificate pairs (and as
 *     many CSR-key pairs).
 *  5. Memory is bounded by the certificates themselves: ck_describe_each
 *     hands the report over one certificate at a time and builds the
 *     chain member as text, so no tree of the whole report exists (it cost
 *     about 13 KB per certificate, twice what OpenSSL's X509 does).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "chain_int.h"

#define CKI_DESCRIBE_MAX_REVOKED 1000
#define CKI_DESCRIBE_MAX_MATCHES 100
/* Key-certificate pairs listed in one report, over all keys and
 * certificates (each pair costs a JSON object): n copies of a key and its
 * certificate would otherwise list 100 * n. Counts stay complete. */
#define CKI_DESCRIBE_MAX_PAIRS 10000
/* Below these sizes a key is weak (NIST SP 800-57 part 1, table 2: 112-bit
 * security needs RSA/DSA 2048 and EC 224). */
#define WEAK_RSA_BITS 2048
#define WEAK_EC_BITS 224

struct pubkey_ix {
	unsigned char md[32];
	size_t pos;
};

struct revocation {
	long crl;          /* CRL position, -1: not revoked */
	X509_REVOKED *rev; /* owned by the CRL */
};

struct desc {
	ck_ctx *ctx;
	const ck_bundle *b;
	int64_t now;
	ck_cert *const *certs;
	char *const *corigin;
	size_t ncert;
	struct cki_chain *ch;
	struct cki_findings fs;    /* findings about single objects */
	unsigned char (*spki)[32]; /* per certificate: SHA-256 of its SPKI */
	bool *spki_ok;
	struct pubkey_ix *pubix;    /* certificates by SPKI digest */
	int fallback_scans;         /* key-to-certificate linear scans left */
	size_t pairs_listed;        /* key matches and certificate keys */
	size_t csr_pairs_listed;    /* CSR keys */
	struct pubkey_ix *keyix;    /* private keys by SPKI digest */
	json_t **cert_keys;         /* per certificate: matching key indices */
	struct revocation *revoked; /* per certificate */
	long *crl_signer;           /* per CRL: issuing certificate or -1 */
	signed char *crl_sig_ok;    /* per CRL: 1, 0, or -1 (not checked) */
};

/* ---- JSON helpers: every setter takes the value's reference and records a
 * failure in *bad, so a builder checks once at the end. ------------------- */

static void
put(json_t *o, const char *k, json_t *v, int *bad)
{
	if (json_object_set_new(o, k, v) != 0)
		*bad = 1;
}

static void
push(json_t *a, json_t *v, int *bad)
{
	if (json_array_append_new(a, v) != 0)
		*bad = 1;
}

/* Bytes from an IA5String/OCTET STRING, through the one escaper. */
static void
sb_bytes(struct cki_sb *sb, const unsigned char *p, int len)
{
	cki_sb_esc(sb, p, len > 0 ? (size_t)len : 0);
}

static json_t *
jsb(struct cki_sb *sb)
{
	char *s = cki_sb_take(sb);
	json_t *j = s != NULL ? cki_json_str(s) : NULL;

	free(s);
	return j;
}

/* Takes a malloc'd string. */
static json_t *
jown(char *s)
{
	json_t *j = cki_json_str(s);

	free(s);
	return j;
}

static json_t *
jtime(int64_t t)
{
	char buf[32];

	cki_fmt_time(t, buf);
	return json_string(buf);
}

static json_t *
jasn1_time(const ASN1_TIME *t)
{
	int64_t v;

	if (t == NULL || !cki_asn1_time(t, &v))
		return json_null();
	return jtime(v);
}

static json_t *
jhex_colon(const unsigned char *p, size_t len)
{
	return jown(cki_hex_colon(p, len));
}

static json_t *
jname(const X509_NAME *n)
{
	return jown(cki_name_oneline(n));
}

/* A serial number or CRL number as colon hex, as openssl prints it. */
static json_t *
jserial(const ASN1_INTEGER *ai)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
	unsigned char *buf = NULL;
	int len;
	json_t *j = NULL;
	char *hex;

	if (bn == NULL)
		return NULL;
	len = BN_num_bytes(bn);
	if ((buf = malloc(len > 0 ? (size_t)len : 1)) == NULL)
		goto out;
	if (len == 0) {
		buf[0] = 0; /* serial 0: "00" */
		len = 1;
	} else {
		BN_bn2bin(bn, buf);
	}
	if ((hex = cki_hex_colon(buf, (size_t)len)) == NULL)
		goto out;
	if (BN_is_negative(bn)) {
		/* RFC 5280 4.1.2.2 requires a positive serial; show the sign
		 * rather than hide a malformed one. */
		struct cki_sb sb = CKI_SB_INIT(CKI_SB_MSG_MAX);

		cki_sb_printf(&sb, "-%s", hex);
		free(hex);
		j = jsb(&sb);
	} else {
		j = jown(hex);
	}
out:
	free(buf);
	BN_free(bn);
	return j;
}

static json_t *
jdecimal(const ASN1_INTEGER *ai)
{
	BIGNUM *bn = ASN1_INTEGER_to_BN(ai, NULL);
	char *dec = bn != NULL ? BN_bn2dec(bn) : NULL;
	json_t *j = dec != NULL ? json_string(dec) : NULL;

	OPENSSL_free(dec);
	BN_free(bn);
	return j;
}

static json_t *
jobj(const ASN1_OBJECT *o, int dotted)
{
	char buf[128];

	if (OBJ_obj2txt(buf, sizeof(buf), o, dotted) <= 0)
		return json_string("?");
	return json_string(buf);
}

/* ---- general names (RFC 5280 4.2.1.6) ------------------------------------ */

/* An IP address, or for a name constraint an address and mask (RFC 5280
 * 4.2.1.10: 8 or 32 octets), as text. */
static void
sb_ip(struct cki_sb *sb, const ASN1_OCTET_STRING *ip)
{
	const unsigned char *p = ASN1_STRING_get0_data(ip);
	int len = ASN1_STRING_length(ip), alen = len, prefix = 0;
	char buf[INET6_ADDRSTRLEN];
	bool contiguous = true;

	if (len == 8 || len == 32)
		alen = len / 2;
	if ((alen != 4 && alen != 16) ||
	    inet_ntop(alen == 4 ? AF_INET : AF_INET6, p, buf, sizeof(buf)) ==
	        NULL) {
		cki_sb_printf(sb, "(%d bytes: ", len);
		for (int i = 0; i < len; i++)
			cki_sb_printf(sb, "%02x", p[i]);
		cki_sb_printf(sb, ")");
		return;
	}
	cki_sb_printf(sb, "%s", buf);
	if (alen == len)
		return;
	for (int i = 0; i < alen; i++) {
		for (int bit = 7; bit >= 0; bit--) {
			if (p[alen + i] & (1 << bit)) {
				if (prefix != i * 8 + (7 - bit))
					contiguous = false;
				prefix++;
			}
		}
	}
	if (contiguous) {
		cki_sb_printf(sb, "/%d", prefix);
	} else {
		inet_ntop(
		    alen == 4 ? AF_INET : AF_INET6, p + alen, buf, sizeof(buf));
		cki_sb_printf(sb, "/%s", buf);
	}
}

/* "DNS:name", "IP:addr", "email:..", "URI:..", "DirName:..", "RID:..",
 * "othername:OID:value". With bare set, the four common types come
 * without their prefix. */
static json_t *
jgeneral_name(const GENERAL_NAME *g, bool bare)
{
	struct cki_sb sb = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char *s;

	switch (g->type) {
	case GEN_DNS:
		cki_sb_printf(&sb, "%s", bare ? "" : "DNS:");
		sb_bytes(&sb, ASN1_STRING_get0_data(g->d.dNSName),
		    ASN1_STRING_length(g->d.dNSName));
		break;
	case GEN_EMAIL:
		cki_sb_printf(&sb, "%s", bare ? "" : "email:");
		sb_bytes(&sb, ASN1_STRING_get0_data(g->d.rfc822Name),
		    ASN1_STRING_length(g->d.rfc822Name));
		break;
	case GEN_URI:
		cki_sb_printf(&sb, "%s", bare ? "" : "URI:");
		sb_bytes(&sb,
		    ASN1_STRING_get0_data(g->d.uniformResourceIdentifier),
		    ASN1_STRING_length(g->d.uniformResourceIdentifier));
		break;
	case GEN_IPADD:
		cki_sb_printf(&sb, "%s", bare ? "" : "IP:");
		sb_ip(&sb, g->d.iPAddress);
		break;
	case GEN_DIRNAME:
		s = cki_name_oneline(g->d.directoryName);
		cki_sb_printf(&sb, "DirName:%s", s ? s : "?");
		free(s);
		break;
	case GEN_RID: {
		char buf[128];

		if (OBJ_obj2txt(buf, sizeof(buf), g->d.registeredID, 1) <= 0)
			buf[0] = '\0';
		cki_sb_printf(&sb, "RID:%s", buf);
		break;
	}
	case GEN_OTHERNAME: {
		char buf[128];
		const ASN1_TYPE *v = g->d.otherName->value;

		/* e.g. a Microsoft UPN (1.3.6.1.4.1.311.20.2.3). */
		if (OBJ_obj2txt(buf, sizeof(buf), g->d.otherName->type_id, 0) <=
		    0)
			buf[0] = '\0';
		cki_sb_printf(&sb, "othername:%s", buf);
		if (v != NULL &&
		    (v->type == V_ASN1_UTF8STRING ||
		        v->type == V_ASN1_IA5STRING)) {
			cki_sb_printf(&sb, ":");
			sb_bytes(&sb,
			    ASN1_STRING_get0_data(v->value.asn1_string),
			    ASN1_STRING_length(v->value.asn1_string));
		}
		break;
	}
	case GEN_X400: cki_sb_printf(&sb, "X400Name"); break;
	case GEN_EDIPARTY: cki_sb_printf(&sb, "EdiPartyName"); break;
	default: cki_sb_printf(&sb, "unknown name type %d", g->type); break;
	}
	return jsb(&sb);
}

/* {"dns":[],"ip":[],"email":[],"uri":[],"other":[]} */
static json_t *
jsans(const GENERAL_NAMES *gens)
{
	json_t *o = json_object(), *dns = json_array(), *ip = json_array(),
	       *email = json_array(), *uri = json_array(),
	       *other = json_array();
	int bad = o == NULL;

	for (int i = 0; !bad && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		json_t *to = g->type == GEN_DNS ? dns
		    : g->type == GEN_IPADD      ? ip
		    : g->type == GEN_EMAIL      ? email
		    : g->type == GEN_URI        ? uri
		                                : other;

		push(to, jgeneral_name(g, to != other), &bad);
	}
	put(o, "dns", dns, &bad);
	put(o, "ip", ip, &bad);
	put(o, "email", email, &bad);
	put(o, "uri", uri, &bad);
	put(o, "other", other, &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- keys and signatures ------------------------------------------------- */

static const char *
pkey_type(const EVP_PKEY *pk)
{
	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA: return "RSA";
	case EVP_PKEY_RSA_PSS: return "RSA-PSS";
	case EVP_PKEY_EC: return "EC";
	case EVP_PKEY_ED25519: return "Ed25519";
	case EVP_PKEY_ED448: return "Ed448";
	case EVP_PKEY_X25519: return "X25519";
	case EVP_PKEY_X448: return "X448";
	case EVP_PKEY_DSA: return "DSA";
	case EVP_PKEY_DH: return "DH";
	default: break;
	}
	{
		const char *n = EVP_PKEY_get0_type_name(pk);

		return n != NULL ? n : "unknown";
	}
}

static bool
pkey_weak(const EVP_PKEY *pk)
{
	int bits = EVP_PKEY_get_bits(pk);

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
	case EVP_PKEY_DSA: return bits < WEAK_RSA_BITS;
	case EVP_PKEY_EC: return bits < WEAK_EC_BITS;
	default: return false;
	}
}

/* {"type":"EC","bits":256,"curve":"P-256","weak":false} */
static json_t *
jpkey(const EVP_PKEY *pk)
{
	json_t *o = json_object();
	int bad = o == NULL;
	char group[80];

	if (pk == NULL) {
		json_decref(o);
		return json_null();
	}
	put(o, "type", json_string(pkey_type(pk)), &bad);
	put(o, "bits", json_integer(EVP_PKEY_get_bits(pk)), &bad);
	if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_EC &&
	    EVP_PKEY_get_utf8_string_param(
	        pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL)) {
		/* "prime256v1" is better known as P-256 (FIPS 186-4). */
		const char *nist = EC_curve_nid2nist(OBJ_txt2nid(group));

		put(o, "curve", json_string(nist != NULL ? nist : group), &bad);
	} else {
		put(o, "curve", json_null(), &bad);
	}
	put(o, "weak", json_boolean(pkey_weak(pk)), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static bool
md_weak(int mdnid)
{
	/* MD5 and SHA-1 collisions are practical (RFC 6151, SHAttered);
	 * OpenSSL rejects them at security level 1 and above. */
	return mdnid == NID_md5 || mdnid == NID_sha1 || mdnid == NID_md4 ||
	    mdnid == NID_md2 || mdnid == NID_md5_sha1;
}

/* {"algorithm":"ecdsa-with-SHA256","hash":"SHA256","weak":false} */
static json_t *
jsig(const X509_ALGOR *alg, int mdnid, bool weak)
{
	json_t *o = json_object();
	int bad = o == NULL;

	put(o, "algorithm", alg != NULL ? jobj(alg->algorithm, 0) : json_null(),
	    &bad);
	put(o, "hash",
	    mdnid != NID_undef ? json_string(OBJ_nid2sn(mdnid)) : json_null(),
	    &bad);
	put(o, "weak", json_boolean(weak), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The hash inside a signature algorithm (sha256WithRSAEncryption ->
 * SHA256); RSA-PSS parameters are decoded by X509_get_signature_info. */
static int
sig_md(X509 *x, const X509_ALGOR *alg)
{
	int mdnid = NID_undef, pknid = NID_undef;

	if (x != NULL && X509_get_signature_info(x, &mdnid, &pknid, NULL, NULL))
		return mdnid;
	if (alg != NULL &&
	    OBJ_find_sigid_algs(OBJ_obj2nid(alg->algorithm), &mdnid, &pknid))
		return mdnid;
	return NID_undef;
}

/* SHA-256 of a key's SubjectPublicKeyInfo, encoded from the EVP_PKEY: the
 * same bytes as in the certificate of that key, unless the certificate
 * chose another point format (key_json then falls back to comparing keys).
 */
static bool
pub_digest(const EVP_PKEY *pk, unsigned char md[32])
{
	unsigned char *der = NULL;
	int len = pk != NULL ? i2d_PUBKEY(pk, &der) : -1;
	bool ok = len > 0 &&
	    EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL);

	OPENSSL_free(der);
	return ok;
}

static int
cmp_pub(const void *a, const void *b)
{
	const struct pubkey_ix *x = a, *y = b;
	int c = memcmp(x->md, y->md, 32);

	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* ---- certificates -------------------------------------------------------- */

static json_t *
jkey_usage(X509 *x)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} ku[] = {
	    /* RFC 5280 4.2.1.3, in bit order. */
	    {KU_DIGITAL_SIGNATURE, "digitalSignature"},
	    {KU_NON_REPUDIATION, "nonRepudiation"},
	    {KU_KEY_ENCIPHERMENT, "keyEncipherment"},
	    {KU_DATA_ENCIPHERMENT, "dataEncipherment"},
	    {KU_KEY_AGREEMENT, "keyAgreement"},
	    {KU_KEY_CERT_SIGN, "keyCertSign"},
	    {KU_CRL_SIGN, "cRLSign"},
	    {KU_ENCIPHER_ONLY, "encipherOnly"},
	    {KU_DECIPHER_ONLY, "decipherOnly"},
	};
	uint32_t bits;
	json_t *a;
	int bad = 0;

	if (!(X509_get_extension_flags(x) & EXFLAG_KUSAGE))
		return json_null(); /* absent: any usage (RFC 5280 4.2.1.3) */
	bits = X509_get_key_usage(x);
	if ((a = json_array()) == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(ku) / sizeof(ku[0]); i++)
		if (bits & ku[i].bit)
			push(a, json_string(ku[i].name), &bad);
	if (bad) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *
jeku(const EXTENDED_KEY_USAGE *eku)
{
	json_t *a;
	int bad = 0;

	if (eku == NULL)
		return json_null();
	if ((a = json_array()) == NULL)
		return NULL;
	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		const ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
		int nid = OBJ_obj2nid(o);

		/* Short names for the known ones ("serverAuth"), the dotted
		 * OID for the rest. */
		push(a,
		    nid != NID_undef ? json_string(OBJ_nid2sn(nid))
		                     : jobj(o, 1),
		    &bad);
	}
	if (bad) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *
jbasic_constraints(X509 *x)
{
	int crit = -1;
	BASIC_CONSTRAINTS *bc =
	    X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	json_t *o;
	int bad = 0;
	int64_t pl;

	if (bc == NULL)
		return json_null();
	if ((o = json_object()) == NULL) {
		BASIC_CONSTRAINTS_free(bc);
		return NULL;
	}
	put(o, "ca", json_boolean(bc->ca != 0), &bad);
	if (bc->pathlen != NULL && ASN1_INTEGER_get_int64(&pl, bc->pathlen))
		put(o, "path_len", json_integer((json_int_t)pl), &bad);
	else
		put(o, "path_len", json_null(), &bad);
	put(o, "critical", json_boolean(crit == 1), &bad);
	BASIC_CONSTRAINTS_free(bc);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* URIs of a GENERAL_NAMES as bare strings, other names prefixed. */
static void
push_names(json_t *a, const GENERAL_NAMES *gens, int *bad)
{
	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		push(a, jgeneral_name(g, g->type == GEN_URI), bad);
	}
}

/* RFC 5280 4.2.2.1: {"ca_issuers":[...],"ocsp":[...]} */
static json_t *
jaia(X509 *x)
{
	AUTHORITY_INFO_ACCESS *aia =
	    X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	json_t *o = json_object(), *cai = json_array(), *ocsp = json_array();
	int bad = o == NULL;

	for (int i = 0; aia != NULL && i < sk_ACCESS_DESCRIPTION_num(aia);
	     i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		int nid = OBJ_obj2nid(ad->method);

		if (nid == NID_ad_ca_issuers)
			push(cai,
			    jgeneral_name(
			        ad->location, ad->location->type == GEN_URI),
			    &bad);
		else if (nid == NID_ad_OCSP)
			push(ocsp,
			    jgeneral_name(
			        ad->location, ad->location->type == GEN_URI),
			    &bad);
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	put(o, "ca_issuers", cai, &bad);
	put(o, "ocsp", ocsp, &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* RFC 5280 4.2.1.13: the full names of every distribution point. */
static json_t *
jcdp(X509 *x)
{
	STACK_OF(DIST_POINT) *cdp =
	    X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
	json_t *a = json_array();
	int bad = a == NULL;

	for (int i = 0; cdp != NULL && i < sk_DIST_POINT_num(cdp); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(cdp, i);

		if (dp->distpoint != NULL && dp->distpoint->type == 0)
			push_names(a, dp->distpoint->name.fullname, &bad);
		push_names(a, dp->CRLissuer, &bad);
	}
	CRL_DIST_POINTS_free(cdp);
	if (bad) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static json_t *
jsubtrees(const STACK_OF(GENERAL_SUBTREE) * st, int *bad)
{
	json_t *a = json_array();

	if (a == NULL) {
		*bad = 1;
		return NULL;
	}
	for (int i = 0; i < sk_GENERAL_SUBTREE_num(st); i++)
		push(a,
		    jgeneral_name(sk_GENERAL_SUBTREE_value(st, i)->base, false),
		    bad);
	return a;
}

/* RFC 5280 4.2.1.10: {"permitted":[...],"excluded":[...]} or null. */
static json_t *
jname_constraints(X509 *x)
{
	NAME_CONSTRAINTS *nc =
	    X509_get_ext_d2i(x, NID_name_constraints, NULL, NULL);
	json_t *o;
	int bad = 0;

	if (nc == NULL)
		return json_null();
	if ((o = json_object()) == NULL) {
		NAME_CONSTRAINTS_free(nc);
		return NULL;
	}
	put(o, "permitted", jsubtrees(nc->permittedSubtrees, &bad), &bad);
	put(o, "excluded", jsubtrees(nc->excludedSubtrees, &bad), &bad);
	NAME_CONSTRAINTS_free(nc);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
joctets_colon(const ASN1_OCTET_STRING *s)
{
	if (s == NULL)
		return json_null();
	return jhex_colon(
	    ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
}

/* The days phrases use the same rounding as the tool's
 * tool_validity_phrase(): whole days left or gone, rounded down; days to
 * wait, rounded up. */
static void
put_validity(json_t *o, int64_t nb, int64_t na, int64_t now, int *bad)
{
	put(o, "not_before", jtime(nb), bad);
	put(o, "not_after", jtime(na), bad);
	if (now < nb) {
		put(o, "validity", json_string("not_yet_valid"), bad);
		put(o, "days_until_valid",
		    json_integer((json_int_t)((nb - now + 86399) / 86400)),
		    bad);
	} else if (now > na) {
		put(o, "validity", json_string("expired"), bad);
		put(o, "days_expired",
		    json_integer((json_int_t)((now - na) / 86400)), bad);
	} else {
		put(o, "validity", json_string("valid"), bad);
		put(o, "days_left",
		    json_integer((json_int_t)((na - now) / 86400)), bad);
	}
}

static json_t *
cert_json(struct desc *d, size_t i)
{
	X509 *x = d->certs[i]->x509;
	const struct cki_chain_pos *p = &d->ch->pos[i];
	json_t *o = json_object();
	int bad = o == NULL, crit = -1;
	const X509_ALGOR *alg = NULL;
	char hex[65], b64[45];
	int mdnid;
	GENERAL_NAMES *san;
	EXTENDED_KEY_USAGE *eku;

	put(o, "index", json_integer((json_int_t)i + 1), &bad);
	put(o, "origin", cki_json_str(d->corigin[i]), &bad);
	put(o, "subject", jname(X509_get_subject_name(x)), &bad);
	put(o, "label", jown(cki_cert_label(d->certs[i])), &bad);
	put(o, "issuer", jname(X509_get_issuer_name(x)), &bad);
	put(o, "serial", jserial(X509_get0_serialNumber(x)), &bad);
	put(o, "version", json_integer(X509_get_version(x) + 1), &bad);
	put_validity(o, ck_cert_not_before(d->certs[i]),
	    ck_cert_not_after(d->certs[i]), d->now, &bad);

	san = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
	put(o, "sans", jsans(san), &bad);
	GENERAL_NAMES_free(san);

	put(o, "public_key", jpkey(X509_get0_pubkey(x)), &bad);
	X509_get0_signature(NULL, &alg, x);
	mdnid = sig_md(x, alg);
	/* A self-signed certificate's own signature is never checked by a
	 * verifier (RFC 5280 6.1: the anchor is trusted as given), so its
	 * hash does not matter. */
	put(o, "signature", jsig(alg, mdnid, md_weak(mdnid) && !p->self_signed),
	    &bad);
	put(o, "key_usage", jkey_usage(x), &bad);
	eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	put(o, "extended_key_usage", jeku(eku), &bad);
	EXTENDED_KEY_USAGE_free(eku);
	put(o, "basic_constraints", jbasic_constraints(x), &bad);
	put(o, "ski", joctets_colon(X509_get0_subject_key_id(x)), &bad);
	put(o, "aki", joctets_colon(X509_get0_authority_key_id(x)), &bad);
	put(o, "aia", jaia(x), &bad);
	put(o, "crl_distribution_points", jcdp(x), &bad);
	put(o, "name_constraints", jname_constraints(x), &bad);

	put(o, "sha256_fingerprint", jhex_colon(p->sha256, 32), &bad);
	cki_hex(p->sha256, 32, hex);
	put(o, "sha256", json_string(hex), &bad);
	/* The pin is over the certificate's own SPKI bytes (RFC 7469 2.4). */
	if (d->spki_ok[i]) {
		cki_hex(d->spki[i], 32, hex);
		EVP_EncodeBlock((unsigned char *)b64, d->spki[i], 32);
		put(o, "spki_sha256", json_string(hex), &bad);
		put(o, "spki_sha256_base64", json_string(b64), &bad);
	} else {
		put(o, "spki_sha256", json_null(), &bad);
		put(o, "spki_sha256_base64", json_null(), &bad);
	}
	put(o, "self_signed", json_boolean(p->self_signed), &bad);
	put(o, "is_ca", json_boolean(p->is_ca), &bad);
	put(o, "role", json_string(cki_role_name(p->role)), &bad);
	put(o, "keys",
	    d->cert_keys[i] != NULL ? json_incref(d->cert_keys[i])
	                            : json_array(),
	    &bad);
	if (d->revoked[i].crl >= 0) {
		const X509_REVOKED *r = d->revoked[i].rev;
		json_t *rv = json_object();
		ASN1_ENUMERATED *reason =
		    X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);

		put(rv, "crl", json_integer(d->revoked[i].crl + 1), &bad);
		put(rv, "date", jasn1_time(X509_REVOKED_get0_revocationDate(r)),
		    &bad);
		put(rv, "reason",
		    reason != NULL ? json_string(cki_crl_reason_name(
		                         ASN1_ENUMERATED_get(reason)))
		                   : json_null(),
		    &bad);
		ASN1_ENUMERATED_free(reason);
		put(o, "revoked", rv, &bad);
	} else {
		put(o, "revoked", json_null(), &bad);
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- keys ---------------------------------------------------------------- */

static ck_status
index_certs_by_key(struct desc *d)
{
	if (d->ncert == 0)
		return CK_OK;
	if ((d->pubix = malloc(d->ncert * sizeof(*d->pubix))) == NULL ||
	    (d->spki = malloc(d->ncert * sizeof(*d->spki))) == NULL ||
	    (d->spki_ok = calloc(d->ncert, sizeof(*d->spki_ok))) == NULL)
		return CK_E_NOMEM;
	for (size_t i = 0; i < d->ncert; i++) {
		unsigned char *der = NULL;
		int len = i2d_X509_PUBKEY(
		    X509_get_X509_PUBKEY(d->certs[i]->x509), &der);

		/* The certificate's own encoding (cached by OpenSSL), not a
		 * re-encoding: that costs a provider round trip per
		 * certificate. */
		d->spki_ok[i] = len > 0 &&
		    EVP_Digest(
		        der, (size_t)len, d->spki[i], NULL, EVP_sha256(), NULL);
		OPENSSL_free(der);
		if (!d->spki_ok[i])
			memset(d->spki[i], 0, 32);
		memcpy(d->pubix[i].md, d->spki[i], 32);
		d->pubix[i].pos = i;
	}
	qsort(d->pubix, d->ncert, sizeof(*d->pubix), cmp_pub);
	return CK_OK;
}

/* The private keys by the digest of their public key, so that n CSRs and
 * n keys are matched in n log n, not n * n. */
static ck_status
index_keys(struct desc *d)
{
	size_t n = ck_bundle_count(d->b, CK_OBJ_KEY);

	if (n == 0)
		return CK_OK;
	if ((d->keyix = calloc(n, sizeof(*d->keyix))) == NULL)
		return CK_E_NOMEM;
	for (size_t k = 0; k < n; k++) {
		if (!pub_digest(
		        ck_bundle_get0_key(d->b, k)->pkey, d->keyix[k].md))
			memset(d->keyix[k].md, 0, 32);
		d->keyix[k].pos = k;
	}
	qsort(d->keyix, n, sizeof(*d->keyix), cmp_pub);
	return CK_OK;
}

/* The first entry of ix[0..n) with digest md (n if none). */
static size_t
ix_first(const struct pubkey_ix *ix, size_t n, const unsigned char md[32])
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (memcmp(ix[mid].md, md, 32) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
record_match(
    struct desc *d, size_t k, size_t i, json_t *m, size_t *total, int *bad)
{
	json_t *e;

	if (d->cert_keys[i] == NULL && (d->cert_keys[i] = json_array()) == NULL)
		*bad = 1;
	/* A certificate lists at most as many keys as a key certificates:
	 * n copies of a key and its certificate must not cost n * n. */
	if (json_array_size(d->cert_keys[i]) < CKI_DESCRIBE_MAX_MATCHES &&
	    d->pairs_listed < CKI_DESCRIBE_MAX_PAIRS) {
		d->pairs_listed++;
		push(d->cert_keys[i], json_integer((json_int_t)k + 1), bad);
	}
	if ((*total)++ >= CKI_DESCRIBE_MAX_MATCHES ||
	    d->pairs_listed >= CKI_DESCRIBE_MAX_PAIRS)
		return;
	d->pairs_listed++;
	e = json_object();
	put(e, "index", json_integer((json_int_t)i + 1), bad);
	put(e, "subject", jname(X509_get_subject_name(d->certs[i]->x509)), bad);
	push(m, e, bad);
}

/* The certificates holding key k's public key: candidates by SPKI digest,
 * confirmed with EVP_PKEY_eq. */
static json_t *
key_json(struct desc *d, size_t k, size_t *nmatch)
{
	const ck_key *key = ck_bundle_get0_key(d->b, k);
	json_t *o = json_object(), *m = json_array();
	int bad = o == NULL || m == NULL;
	unsigned char md[32];
	char hex[65];
	size_t total = 0;

	*nmatch = 0;
	put(o, "index", json_integer((json_int_t)k + 1), &bad);
	put(o, "origin", cki_json_str(ck_bundle_origin(d->b, CK_OBJ_KEY, k)),
	    &bad);
	put(o, "public_key", jpkey(key->pkey), &bad);
	if (pub_digest(key->pkey, md)) {
		size_t lo = 0, hi = d->ncert;

		cki_hex(md, 32, hex);
		put(o, "spki_sha256", json_string(hex), &bad);
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (memcmp(d->pubix[mid].md, md, 32) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* Equal digests are sorted by position: file order. Past
		 * the listed matches an equal SPKI digest is the same key
		 * and is only counted (EVP_PKEY_eq costs microseconds). */
		for (; lo < d->ncert && memcmp(d->pubix[lo].md, md, 32) == 0;
		     lo++)
			if (total >= CKI_DESCRIBE_MAX_MATCHES ||
			    ck_key_matches_cert(
			        key, d->certs[d->pubix[lo].pos]))
				record_match(
				    d, k, d->pubix[lo].pos, m, &total, &bad);
	} else {
		put(o, "spki_sha256", json_null(), &bad);
	}
	/* A certificate may encode the same key differently (a compressed EC
	 * point): compare keys one by one, for a bounded number of keys so
	 * that many keys and many certificates stay linear. */
	if (total == 0 && d->fallback_scans > 0) {
		d->fallback_scans--;
		for (size_t i = 0; i < d->ncert; i++)
			if (ck_key_matches_cert(key, d->certs[i]))
				record_match(d, k, i, m, &total, &bad);
	}
	*nmatch = total;
	put(o, "matches", m, &bad);
	put(o, "matches_total", json_integer((json_int_t)total), &bad);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- CSRs (RFC 2986) ------------------------------------------------------
 */

static json_t *
csr_json(struct desc *d, size_t k, bool *sig_ok)
{
	X509_REQ *req = cki_bundle_get(d->b, CK_OBJ_CSR, k);
	EVP_PKEY *pk = X509_REQ_get0_pubkey(req);
	const X509_ALGOR *alg = NULL;
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
	GENERAL_NAMES *san = exts != NULL
	    ? X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL)
	    : NULL;
	json_t *o = json_object(), *keys = json_array();
	int bad = o == NULL || keys == NULL, mdnid;
	unsigned char md[32];
	char hex[65];

	X509_REQ_get0_signature(req, NULL, &alg);
	mdnid = sig_md(NULL, alg);
	/* The CSR is signed with its own key, which proves the requester
	 * holds it (RFC 2986 section 3). */
	*sig_ok = pk != NULL && X509_REQ_verify(req, pk) == 1;
	put(o, "index", json_integer((json_int_t)k + 1), &bad);
	put(o, "origin", cki_json_str(ck_bundle_origin(d->b, CK_OBJ_CSR, k)),
	    &bad);
	put(o, "subject", jname(X509_REQ_get_subject_name(req)), &bad);
	put(o, "sans", jsans(san), &bad);
	put(o, "public_key", jpkey(pk), &bad);
	put(o, "signature", jsig(alg, mdnid, md_weak(mdnid)), &bad);
	put(o, "signature_valid", json_boolean(*sig_ok), &bad);
	if (pk != NULL && pub_digest(pk, md)) {
		size_t nk = ck_bundle_count(d->b, CK_OBJ_KEY);

		cki_hex(md, 32, hex);
		put(o, "spki_sha256", json_string(hex), &bad);
		/* Which private keys of the bundle the request was made
		 * from (at most CKI_DESCRIBE_MAX_MATCHES, in file order). */
		for (size_t i = ix_first(d->keyix, nk, md); d->keyix != NULL &&
		     i < nk && memcmp(d->keyix[i].md, md, 32) == 0 &&
		     json_array_size(keys) < CKI_DESCRIBE_MAX_MATCHES &&
		     d->csr_pairs_listed < CKI_DESCRIBE_MAX_PAIRS;
		     i++) {
			size_t kp = d->keyix[i].pos;

			if (EVP_PKEY_eq(
			        ck_bundle_get0_key(d->b, kp)->pkey, pk) == 1) {
				d->csr_pairs_listed++;
				push(keys, json_integer((json_int_t)kp + 1),
				    &bad);
			}
		}
	} else {
		put(o, "spki_sha256", json_null(), &bad);
	}
	put(o, "keys", keys, &bad);
	GENERAL_NAMES_free(san);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- CRLs (RFC 5280 section 5) ------------------------------------------- */

/* Finds the certificate that signed CRL k: same name as the CRL issuer and
 * its key verifies the CRL signature. */
static void
find_crl_signer(struct desc *d, size_t k)
{
	X509_CRL *crl = cki_bundle_get(d->b, CK_OBJ_CRL, k);
	const X509_NAME *iss = X509_CRL_get_issuer(crl);
	int tried = 0;

	d->crl_signer[k] = -1;
	d->crl_sig_ok[k] = -1;
	for (size_t i = 0; i < d->ncert && tried < CKI_CHAIN_MAX_CANDIDATES;
	     i++) {
		X509 *x = d->certs[i]->x509;
		EVP_PKEY *pk;

		if (X509_NAME_cmp(X509_get_subject_name(x), iss) != 0 ||
		    (pk = X509_get0_pubkey(x)) == NULL)
			continue;
		tried++;
		d->crl_sig_ok[k] = 0;
		if (X509_CRL_verify(crl, pk) == 1) {
			d->crl_signer[k] = (long)i;
			d->crl_sig_ok[k] = 1;
			return;
		}
		if (d->crl_signer[k] < 0)
			d->crl_signer[k] =
			    (long)i; /* named, but did not sign */
	}
}

static json_t *
crl_json(struct desc *d, size_t k, int *status)
{
	X509_CRL *crl = cki_bundle_get(d->b, CK_OBJ_CRL, k);
	STACK_OF(X509_REVOKED) *revs = X509_CRL_get_REVOKED(crl);
	const ASN1_TIME *lu = X509_CRL_get0_lastUpdate(crl);
	const ASN1_TIME *nu = X509_CRL_get0_nextUpdate(crl);
	const X509_ALGOR *alg = NULL;
	ASN1_INTEGER *num =
	    X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	AUTHORITY_KEYID *akid =
	    X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	json_t *o = json_object(), *list = json_array();
	int bad = o == NULL || list == NULL, n = sk_X509_REVOKED_num(revs);
	int64_t tlu = 0, tnu = 0;
	int mdnid;

	if (n < 0)
		n = 0; /* no revokedCertificates at all (RFC 5280 5.1.2.6) */
	X509_CRL_get0_signature(crl, NULL, &alg);
	mdnid = sig_md(NULL, alg);
	put(o, "index", json_integer((json_int_t)k + 1), &bad);
	put(o, "origin", cki_json_str(ck_bundle_origin(d->b, CK_OBJ_CRL, k)),
	    &bad);
	put(o, "issuer", jname(X509_CRL_get_issuer(crl)), &bad);
	put(o, "last_update", jasn1_time(lu), &bad);
	put(o, "next_update", jasn1_time(nu), &bad);
	/* RFC 5280 5.1.2.5: a CRL past its nextUpdate is stale; one whose
	 * thisUpdate is in the future is not valid yet. */
	*status = 0;
	if (lu != NULL && cki_asn1_time(lu, &tlu) && tlu > d->now)
		*status = 2;
	else if (nu != NULL && cki_asn1_time(nu, &tnu) && d->now > tnu)
		*status = 1;
	put(o, "status",
	    json_string(*status == 2 ? "not_yet_valid"
	            : *status == 1   ? "stale"
	                             : "current"),
	    &bad);
	put(o, "number", num != NULL ? jdecimal(num) : json_null(), &bad);
	put(o, "aki", akid != NULL ? joctets_colon(akid->keyid) : json_null(),
	    &bad);
	put(o, "signature", jsig(alg, mdnid, md_weak(mdnid)), &bad);
	put(o, "issuer_certificate",
	    d->crl_signer[k] >= 0 && d->crl_sig_ok[k]
	        ? json_integer(d->crl_signer[k] + 1)
	        : json_null(),
	    &bad);
	put(o, "signature_valid",
	    d->crl_sig_ok[k] < 0 ? json_null()
	                         : json_boolean(d->crl_sig_ok[k] == 1),
	    &bad);
	put(o, "revoked_total", json_integer(n), &bad);
	for (int i = 0; i < n && i < CKI_DESCRIBE_MAX_REVOKED; i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(revs, i);
		ASN1_ENUMERATED *reason =
		    X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
		json_t *e = json_object();

		put(e, "serial", jserial(X509_REVOKED_get0_serialNumber(r)),
		    &bad);
		put(e, "date", jasn1_time(X509_REVOKED_get0_revocationDate(r)),
		    &bad);
		put(e, "reason",
		    reason != NULL ? json_string(cki_crl_reason_name(
		                         ASN1_ENUMERATED_get(reason)))
		                   : json_null(),
		    &bad);
		ASN1_ENUMERATED_free(reason);
		push(list, e, &bad);
	}
	put(o, "revoked", list, &bad);
	put(o, "revoked_truncated", json_boolean(n > CKI_DESCRIBE_MAX_REVOKED),
	    &bad);
	ASN1_INTEGER_free(num);
	AUTHORITY_KEYID_free(akid);
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Certificates of the bundle listed in one of its CRLs. A CRL applies to
 * the certificates of its issuer (RFC 5280 5.1.2.3; indirect CRLs are not
 * considered). */
static void
find_revocations(struct desc *d)
{
	size_t ncrl = ck_bundle_count(d->b, CK_OBJ_CRL);

	for (size_t i = 0; i < d->ncert; i++) {
		d->revoked[i].crl = -1;
		for (size_t k = 0; k < ncrl; k++) {
			X509_REVOKED *r = NULL;

			/* A CRL whose signature failed proves nothing. */
			if (d->crl_sig_ok[k] == 0)
				continue;
			if (X509_CRL_get0_by_cert(
			        cki_bundle_get(d->b, CK_OBJ_CRL, k), &r,
			        d->certs[i]->x509) == 1 &&
			    r != NULL) {
				d->revoked[i].crl = (long)k;
				d->revoked[i].rev = r;
				break;
			}
		}
	}
}

/* ---- findings about single objects --------------------------------------- */

struct idxlist {
	size_t *v;
	size_t n;
};

static ck_status
add_cert_finding(struct desc *d, const char *code, const struct idxlist *l,
    const char *verb, const char *fix)
{
	struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX);

	if (l->n == 0)
		return CK_OK;
	cki_sb_cert_list(&msg, d->certs, l->v, l->n);
	cki_sb_printf(&msg, " %s", verb);
	return cki_findings_add(&d->fs, code, cki_sb_take(&msg), strdup(fix),
	    CK_OBJ_CERT, l->v, l->n);
}

static ck_status
cert_findings(struct desc *d, struct idxlist *l)
{
	ck_status rv;
	char when[32];

	/* Expired (RFC 5280 4.1.2.5). The first one gets its date. */
	l->n = 0;
	for (size_t i = 0; i < d->ncert; i++)
		if (d->ch->pos[i].dup_of < 0 &&
		    d->now > ck_cert_not_after(d->certs[i]))
			l->v[l->n++] = i;
	if (l->n > 0) {
		struct cki_sb verb = CKI_SB_INIT(CKI_SB_MSG_MAX);
		int64_t na = ck_cert_not_after(d->certs[l->v[0]]);
		char *v;

		cki_fmt_time(na, when);
		if (l->n == 1)
			cki_sb_printf(&verb, "expired on %s, %lld days ago",
			    when, (long long)((d->now - na) / 86400));
		else
			cki_sb_printf(&verb, "have expired");
		cki_sb_printf(&verb, "; clients reject an expired certificate");
		if ((v = cki_sb_take(&verb)) == NULL)
			return CK_E_NOMEM;
		rv = add_cert_finding(d, "cert_expired", l, v,
		    "Renew it with the CA that issued it and install the new "
		    "certificate (and chain) in its place.");
		free(v);
		if (rv != CK_OK)
			return rv;
	}
	l->n = 0;
	for (size_t i = 0; i < d->ncert; i++)
		if (d->ch->pos[i].dup_of < 0 &&
		    d->now < ck_cert_not_before(d->certs[i]))
			l->v[l->n++] = i;
	if (l->n > 0) {
		struct cki_sb verb = CKI_SB_INIT(CKI_SB_MSG_MAX);
		char *v;

		cki_fmt_time(ck_cert_not_before(d->certs[l->v[0]]), when);
		cki_sb_printf(
		    &verb, "%s not valid yet", l->n == 1 ? "is" : "are");
		if (l->n == 1)
			cki_sb_printf(&verb, " (valid from %s)", when);
		if ((v = cki_sb_take(&verb)) == NULL)
			return CK_E_NOMEM;
		rv = add_cert_finding(d, "cert_not_yet_valid", l, v,
		    "Check this machine's clock (NTP) and the one that "
		    "issued the certificate; if both are right, wait until its "
		    "start date or reissue it.");
		free(v);
		if (rv != CK_OK)
			return rv;
	}
	l->n = 0;
	for (size_t i = 0; i < d->ncert; i++)
		if (d->ch->pos[i].dup_of < 0 && d->revoked[i].crl >= 0)
			l->v[l->n++] = i;
	if ((rv = add_cert_finding(d, "cert_revoked", l,
	         l->n == 1 ? "is listed as revoked in a CRL of this bundle"
	                   : "are listed as revoked in a CRL of this bundle",
	         "Replace it: make a new key and get a new certificate from "
	         "the CA; a revoked certificate cannot be reinstated.")) !=
	    CK_OK)
		return rv;
	l->n = 0;
	for (size_t i = 0; i < d->ncert; i++) {
		X509 *x = d->certs[i]->x509;
		const X509_ALGOR *alg = NULL;

		X509_get0_signature(NULL, &alg, x);
		if (d->ch->pos[i].dup_of < 0 && !d->ch->pos[i].self_signed &&
		    md_weak(sig_md(x, alg)))
			l->v[l->n++] = i;
	}
	if ((rv = add_cert_finding(d, "weak_signature", l,
	         l->n == 1 ? "is signed with MD5 or SHA-1, which OpenSSL 3 "
	                     "rejects at security level 1 and above"
	                   : "are signed with MD5 or SHA-1, which OpenSSL 3 "
	                     "rejects at security level 1 and above",
	         "Have the CA reissue it with a SHA-256 signature.")) != CK_OK)
		return rv;
	l->n = 0;
	for (size_t i = 0; i < d->ncert; i++) {
		EVP_PKEY *pk = X509_get0_pubkey(d->certs[i]->x509);

		if (d->ch->pos[i].dup_of < 0 && pk != NULL && pkey_weak(pk))
			l->v[l->n++] = i;
	}
	return add_cert_finding(d, "weak_key", l,
	    l->n == 1 ? "has a key below 112-bit strength (RSA under 2048 "
	                "bits or EC under 224)"
	              : "have keys below 112-bit strength (RSA under 2048 bits "
	                "or EC under 224)",
	    "Make a new key (EC P-256 or RSA 2048 or more) and a new "
	    "certificate for it.");
}

static ck_status
other_finding(struct desc *d, const char *code, ck_obj_type t, size_t k,
    const char *what, const char *fix)
{
	struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX);

	cki_sb_printf(&msg, "%s", ck_bundle_origin(d->b, t, k));
	cki_sb_printf(&msg, " %s", what);
	return cki_findings_add(
	    &d->fs, code, cki_sb_take(&msg), strdup(fix), t, &k, 1);
}

/* ---- the report ---------------------------------------------------------- */

static void
desc_free(struct desc *d)
{
	cki_chain_free(d->ch);
	cki_findings_clear(&d->fs);
	free(d->pubix);
	free(d->keyix);
	free(d->spki);
	free(d->spki_ok);
	for (size_t i = 0; d->cert_keys != NULL && i < d->ncert; i++)
		json_decref(d->cert_keys[i]);
	free(d->cert_keys);
	free(d->revoked);
	free(d->crl_signer);
	free(d->crl_sig_ok);
}

/* Findings of both lists, errors first, then warnings, then infos. */
static ck_status
all_findings(struct desc *d, json_t *arr, size_t count[3])
{
	for (int sev = CKI_SEV_ERROR; sev <= CKI_SEV_INFO; sev++) {
		const struct cki_findings *lists[2] = {
		    &d->fs, &d->ch->findings};

		for (int l = 0; l < 2; l++) {
			for (size_t i = 0; i < lists[l]->n; i++) {
				struct cki_findings one = {
				    &lists[l]->f[i], 1, 1};

				if ((int)lists[l]->f[i].severity != sev)
					continue;
				count[sev]++;
				if (cki_findings_json(&one, arr) != CK_OK)
					return CK_E_NOMEM;
			}
		}
	}
	return CK_OK;
}

/* The members of the report other than "certificates", in the order
 * ck_describe_each delivers them. */
enum part {
	P_REPORT,
	P_VERSION,
	P_AT,
	P_SUMMARY,
	P_KEYS,
	P_CSRS,
	P_CRLS,
	P_CHAIN,
	P_FINDINGS,
	P_N
};
static const char *const part_name[P_N] = {"report", "version", "at", "summary",
    "keys", "csrs", "crls", "chain", "findings"};

static void
parts_free(json_t *parts[P_N])
{
	for (int i = 0; i < P_N; i++)
		json_decref(parts[i]);
}

/* Keys first: matching fills cert_keys, which certificates list. */
static ck_status
keys_part(struct desc *d, json_t *keys)
{
	int bad = 0;

	for (size_t k = 0; k < ck_bundle_count(d->b, CK_OBJ_KEY); k++) {
		size_t nmatch = 0;

		push(keys, key_json(d, k, &nmatch), &bad);
		if (bad)
			return CK_E_NOMEM;
		if (nmatch == 0 && d->ncert > 0 &&
		    other_finding(d, "key_mismatch", CK_OBJ_KEY, k,
		        "matches none of the certificates given: it is not "
		        "the key of any of them",
		        "Find the certificate issued for this key (its "
		        "spki_sha256 equals the key's), or make a "
		        "new CSR from this key and have it signed.") != CK_OK)
			return CK_E_NOMEM;
	}
	return CK_OK;
}

static ck_status
csrs_part(struct desc *d, json_t *csrs)
{
	int bad = 0;

	for (size_t k = 0; k < ck_bundle_count(d->b, CK_OBJ_CSR); k++) {
		bool ok = false;

		push(csrs, csr_json(d, k, &ok), &bad);
		if (bad)
			return CK_E_NOMEM;
		if (!ok &&
		    other_finding(d, "csr_bad_signature", CK_OBJ_CSR, k,
		        "has a signature that does not verify "
		        "with its own public key: it is damaged or was altered",
		        "Make the CSR again from the private key; a CA rejects "
		        "this one.") != CK_OK)
			return CK_E_NOMEM;
	}
	return CK_OK;
}

static ck_status
crls_part(struct desc *d, json_t *crls)
{
	int bad = 0;

	for (size_t k = 0; k < ck_bundle_count(d->b, CK_OBJ_CRL); k++) {
		int status = 0;

		push(crls, crl_json(d, k, &status), &bad);
		if (bad)
			return CK_E_NOMEM;
		if (status == 1 &&
		    other_finding(d, "crl_stale", CK_OBJ_CRL, k,
		        "is past its nextUpdate time; verifiers that check "
		        "revocation reject it (RFC 5280 6.3.3)",
		        "Download a fresh CRL from the CA (the URL is in the "
		        "certificates' CRL distribution points).") != CK_OK)
			return CK_E_NOMEM;
		if (status == 2 &&
		    other_finding(d, "crl_not_yet_valid", CK_OBJ_CRL, k,
		        "has a lastUpdate time in the future",
		        "Check this machine's clock (NTP) and the CA's.") !=
		        CK_OK)
			return CK_E_NOMEM;
		if (d->crl_sig_ok[k] == 0 &&
		    other_finding(d, "crl_bad_signature", CK_OBJ_CRL, k,
		        "names an issuer present in the bundle "
		        "whose key does not verify its signature",
		        "Get the CRL again from the CA that issued it; this "
		        "copy "
		        "is damaged or belongs to another CA of the same "
		        "name.") != CK_OK)
			return CK_E_NOMEM;
	}
	return CK_OK;
}

static json_t *
summary_part(struct desc *d, const size_t count[3])
{
	json_t *summary = json_object();
	int bad = summary == NULL;

	put(summary, "certificates", json_integer((json_int_t)d->ncert), &bad);
	put(summary, "keys",
	    json_integer((json_int_t)ck_bundle_count(d->b, CK_OBJ_KEY)), &bad);
	put(summary, "csrs",
	    json_integer((json_int_t)ck_bundle_count(d->b, CK_OBJ_CSR)), &bad);
	put(summary, "crls",
	    json_integer((json_int_t)ck_bundle_count(d->b, CK_OBJ_CRL)), &bad);
	put(summary, "errors", json_integer((json_int_t)count[0]), &bad);
	put(summary, "warnings", json_integer((json_int_t)count[1]), &bad);
	put(summary, "infos", json_integer((json_int_t)count[2]), &bad);
	if (bad) {
		json_decref(summary);
		summary = NULL;
	}
	return summary;
}

/* Everything but the certificates' own reports: the analysis, the keys,
 * CSRs and CRLs, the findings and the summary. */
static ck_status
prepare(struct desc *d, struct idxlist *l, json_t *parts[P_N])
{
	size_t ncrl = ck_bundle_count(d->b, CK_OBJ_CRL), count[3] = {0, 0, 0};
	ck_status rv;

	if ((rv = cki_chain_analyze(
	         d->ctx, d->certs, d->corigin, d->ncert, &d->ch)) != CK_OK)
		return rv;
	if ((d->cert_keys = calloc(d->ncert + 1, sizeof(*d->cert_keys))) ==
	        NULL ||
	    (d->revoked = calloc(d->ncert + 1, sizeof(*d->revoked))) == NULL ||
	    (d->crl_signer = calloc(ncrl + 1, sizeof(*d->crl_signer))) ==
	        NULL ||
	    (d->crl_sig_ok = calloc(ncrl + 1, sizeof(*d->crl_sig_ok))) ==
	        NULL ||
	    (l->v = malloc((d->ncert + 1) * sizeof(*l->v))) == NULL ||
	    index_certs_by_key(d) != CK_OK || index_keys(d) != CK_OK)
		return CK_E_NOMEM;
	for (size_t k = 0; k < ncrl; k++)
		find_crl_signer(d, k);
	find_revocations(d);
	if (cert_findings(d, l) != CK_OK)
		return CK_E_NOMEM;
	for (int i = P_KEYS; i <= P_CRLS; i++)
		if ((parts[i] = json_array()) == NULL)
			return CK_E_NOMEM;
	if ((parts[P_FINDINGS] = json_array()) == NULL ||
	    keys_part(d, parts[P_KEYS]) != CK_OK ||
	    csrs_part(d, parts[P_CSRS]) != CK_OK ||
	    crls_part(d, parts[P_CRLS]) != CK_OK ||
	    all_findings(d, parts[P_FINDINGS], count) != CK_OK ||
	    (parts[P_SUMMARY] = summary_part(d, count)) == NULL ||
	    (parts[P_REPORT] = json_string("show")) == NULL ||
	    (parts[P_VERSION] = json_integer(CKI_REPORT_VERSION)) == NULL ||
	    (parts[P_AT] = jtime(d->now)) == NULL)
		return CK_E_NOMEM;
	return CK_OK;
}

/* Hands one member (compact JSON, in ASCII: the values stay exact and no
 * raw byte of a certificate reaches a terminal through it) to the caller,
 * freeing its tree first: the caller may build its own from the text. */
static ck_status
deliver(ck_describe_fn fn, void *user, const char *member, json_t **v)
{
	char *s = *v != NULL ? json_dumps(*v,
	                           JSON_COMPACT | JSON_PRESERVE_ORDER |
	                               JSON_ENCODE_ANY | JSON_ENSURE_ASCII)
	                     : NULL;
	ck_status rv;

	json_decref(*v);
	*v = NULL;
	if (s == NULL)
		return CK_E_NOMEM;
	rv = fn(user, member, s);
	free(s);
	return rv;
}

ck_status
ck_describe_each(ck_ctx *ctx, const ck_bundle *b, ck_describe_fn fn, void *user)
{
	struct desc d;
	json_t *parts[P_N] = {NULL};
	struct idxlist l = {NULL, 0};
	ck_status rv;

	cki_begin(ctx);
	memset(&d, 0, sizeof(d));
	if (b == NULL || fn == NULL)
		return cki_err(ctx, CK_E_USAGE,
		    "ck_describe: no bundle or no "
		    "output");
	d.ctx = ctx;
	d.b = b;
	d.now = (int64_t)cki_now(ctx);
	d.certs = (ck_cert *const *)b->list[CK_OBJ_CERT].obj;
	d.corigin = b->list[CK_OBJ_CERT].origin;
	d.ncert = b->list[CK_OBJ_CERT].n;
	d.fallback_scans = 16;
	if ((rv = prepare(&d, &l, parts)) != CK_OK)
		goto err;
	for (int i = 0; i < P_N && rv == CK_OK; i++) {
		char *text;

		if (i != P_CHAIN) {
			rv = deliver(fn, user, part_name[i], &parts[i]);
			continue;
		}
		/* The chain as text: its tree costs a kilobyte per
		 * certificate. */
		if ((text = cki_chain_json_text(d.ch)) == NULL)
			rv = CK_E_NOMEM;
		else
			rv = fn(user, part_name[i], text);
		free(text);
	}
	/* One certificate's report at a time: the whole document of a large
	 * bundle would cost ten times its certificates (see ck_describe). */
	for (size_t i = 0; i < d.ncert && rv == CK_OK; i++) {
		json_t *c = cert_json(&d, i);

		rv = deliver(fn, user, "certificates", &c);
	}
err:
	if (rv == CK_E_NOMEM)
		cki_err_keep(ctx, CK_E_NOMEM,
		    "out of memory while describing "
		    "the bundle");
	else if (rv != CK_OK)
		cki_err_keep(ctx, rv, "describing the bundle stopped: %s",
		    ck_status_name(rv));
	parts_free(parts);
	free(l.v);
	desc_free(&d);
	return rv;
}

/* ck_describe's collector: the document in its schema order, built in one
 * string as the members arrive. The members after "certificates" are kept
 * aside until the last certificate. */
struct collect {
	struct cki_sb out;
	char *tail[P_N];
	size_t ncert;
};

static ck_status
collect(void *user, const char *member, const char *json)
{
	struct collect *c = user;
	int i = 0;

	if (strcmp(member, "certificates") == 0) {
		cki_sb_printf(&c->out, "%s%s", c->ncert++ ? "," : "", json);
		return c->out.failed ? CK_E_NOMEM : CK_OK;
	}
	while (i < P_N && strcmp(part_name[i], member) != 0)
		i++;
	if (i == P_N)
		return CK_E_INTERNAL;
	if (i <= P_SUMMARY) {
		cki_sb_printf(&c->out, "%s\"%s\":%s%s", i == 0 ? "{" : ",",
		    member, json, i == P_SUMMARY ? ",\"certificates\":[" : "");
		return c->out.failed ? CK_E_NOMEM : CK_OK;
	}
	return (c->tail[i] = strdup(json)) != NULL ? CK_OK : CK_E_NOMEM;
}

ck_status
ck_describe(ck_ctx *ctx, const ck_bundle *b, char **json)
{
	struct collect c;
	ck_status rv;

	memset(&c, 0, sizeof(c));
	cki_sb_init(&c.out, CKI_SB_REPORT_MAX);
	if (json != NULL)
		*json = NULL;
	if (json == NULL) {
		cki_begin(ctx);
		return cki_err(ctx, CK_E_USAGE,
		    "ck_describe: no bundle or no "
		    "output pointer");
	}
	if ((rv = ck_describe_each(ctx, b, collect, &c)) == CK_OK) {
		cki_sb_printf(&c.out, "]");
		for (int i = P_KEYS; i < P_N; i++)
			cki_sb_printf(
			    &c.out, ",\"%s\":%s", part_name[i], c.tail[i]);
		cki_sb_printf(&c.out, "}");
		if (c.out.too_large)
			rv = cki_err(ctx, CK_E_REFUSED,
			    "the report of this bundle would pass %zu MiB; "
			    "ck_describe_each reports it member by member",
			    CKI_SB_REPORT_MAX >> 20);
		else if ((*json = cki_sb_take(&c.out)) == NULL)
			rv = cki_err(ctx, CK_E_NOMEM,
			    "out of memory while describing the bundle");
	}
	cki_sb_free(&c.out);
	for (int i = 0; i < P_N; i++)
		free(c.tail[i]);
	return rv;
}

char *
ck_cert_label(const ck_cert *c)
{
	char *s = cki_cert_label(c), *out = NULL;
	json_t *j = s != NULL ? cki_json_str(s) : NULL;

	if (json_string_value(j) != NULL)
		out = strdup(json_string_value(j));
	json_decref(j);
	free(s);
	return out;
}
