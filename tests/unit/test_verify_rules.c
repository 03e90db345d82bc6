/*
 * test_verify_rules.c: the policy rules of lib/verify/verify_rules.c, through
 * cki_verify_chain, over certificates made here at test time (a root, an
 * intermediate and a leaf, each row changing one of them) and verified at
 * the pinned time.
 *
 * Every rule has a failing form and a passing form, and each row runs under
 * both policies:
 *  - compat: OpenSSL's verdict (compat_valid), the rule as a warning;
 *  - strict: the rule as an error, and the verdict invalid;
 *  - a passing form gives no policy finding at all (none has evidence
 *    "rule") and the verdict OpenSSL gives.
 * Then: no CN fallback under strict, IPs compared by value, notAfter
 * inclusive (RFC 5280 4.1.2.5), the public suffix list missing, the setter
 * and the parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/dsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ck_internal.h"
#include "testutil.h"
#include "verify_int.h"

#define YEAR INT64_C(31536000)

enum keyk { K_P256 = 0, K_P224, K_P192, K_RSA2048, K_RSA2052, K_DSA, K_N };

/* One certificate; NULL/0 fields take the role's default. */
struct def {
	const char *cn; /* "" for an empty subject */
	enum keyk key;
	const char *serial; /* hex; "-5" negative */
	bool v1;
	int64_t not_after;    /* 0: a year after the pinned time */
	const char *exts[10]; /* "name=value"; exts[0] != NULL replaces the
	                         role's extensions */
	bool akid_other;      /* an AKI keyid that is not its SKI */
};

enum role { ROOT, INTER, LEAF };

static const struct def def_root = {"Rules Root", K_P256, NULL, false, 0,
    {"basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash"},
    false};
static const struct def def_int = {"Rules Int", K_P256, NULL, false, 0,
    {"basicConstraints=critical,CA:TRUE",
        "keyUsage=critical,keyCertSign,cRLSign", "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid:always"},
    false};
static const struct def def_leaf = {"leaf.rules.test", K_P256, NULL, false, 0,
    {"basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",
        "extendedKeyUsage=serverAuth", "subjectKeyIdentifier=hash",
        "authorityKeyIdentifier=keyid:always",
        "subjectAltName=DNS:leaf.rules.test,IP:192.0.2.10,IP:2001:db8::10"},
    false};

/* ---- making certificates ------------------------------------------------ */

static EVP_PKEY *keys[3][K_N];

static EVP_PKEY *
dsa_key(void)
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new_from_name(NULL, "DSA", NULL);
	EVP_PKEY *params = NULL, *key = NULL;
	EVP_PKEY_CTX *kc;

	assert_non_null(pc);
	assert_int_equal(EVP_PKEY_paramgen_init(pc), 1);
	assert_int_equal(EVP_PKEY_CTX_set_dsa_paramgen_bits(pc, 2048), 1);
	assert_int_equal(EVP_PKEY_paramgen(pc, &params), 1);
	kc = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
	assert_int_equal(EVP_PKEY_keygen_init(kc), 1);
	assert_int_equal(EVP_PKEY_keygen(kc, &key), 1);
	EVP_PKEY_CTX_free(kc);
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(params);
	return key;
}

static EVP_PKEY *
key_for(enum role r, enum keyk k)
{
	if (keys[r][k] != NULL)
		return keys[r][k];
	switch (k) {
	case K_P256: keys[r][k] = EVP_EC_gen("prime256v1"); break;
	case K_P224: keys[r][k] = EVP_EC_gen("secp224r1"); break;
	case K_P192: keys[r][k] = EVP_EC_gen("prime192v1"); break;
	case K_RSA2048: keys[r][k] = EVP_RSA_gen(2048); break;
	case K_RSA2052: keys[r][k] = EVP_RSA_gen(2052); break;
	case K_DSA: keys[r][k] = dsa_key(); break;
	case K_N: break;
	}
	assert_non_null(keys[r][k]);
	return keys[r][k];
}

static void
set_serial(X509 *x, const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai;

	assert_true(BN_hex2bn(&bn, hex) > 0);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	assert_non_null(ai);
	assert_int_equal(X509_set_serialNumber(x, ai), 1);
	ASN1_INTEGER_free(ai);
	BN_free(bn);
}

static void
add_exts(X509 *x, X509 *issuer, const struct def *d, const struct def *dflt)
{
	const char *const *exts = d->exts[0] != NULL ? d->exts : dflt->exts;
	X509V3_CTX v3;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	for (int i = 0; i < 10 && exts[i] != NULL; i++) {
		char name[64];
		const char *eq = strchr(exts[i], '=');
		X509_EXTENSION *e;

		assert_non_null(eq);
		snprintf(
		    name, sizeof(name), "%.*s", (int)(eq - exts[i]), exts[i]);
		e = X509V3_EXT_nconf(NULL, &v3, name, eq + 1);
		if (e == NULL)
			fail_msg("cannot make %s", exts[i]);
		assert_int_equal(X509_add_ext(x, e, -1), 1);
		X509_EXTENSION_free(e);
	}
	if (d->akid_other) {
		AUTHORITY_KEYID *ak = AUTHORITY_KEYID_new();

		ak->keyid = ASN1_OCTET_STRING_new();
		ASN1_OCTET_STRING_set(
		    ak->keyid, (const unsigned char *)"12345678", 8);
		assert_int_equal(X509_add1_ext_i2d(
		                     x, NID_authority_key_identifier, ak, 0, 0),
		    1);
		AUTHORITY_KEYID_free(ak);
	}
}

/* Makes the certificate of `role` from d (NULL: the default), issued by
 * issuer with ikey (NULL: self-signed). */
static X509 *
make(enum role role, const struct def *d, X509 *issuer, EVP_PKEY *ikey)
{
	const struct def *dflt = role == ROOT ? &def_root
	    : role == INTER                   ? &def_int
	                                      : &def_leaf;
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	EVP_PKEY *k;
	const char *cn;

	if (d == NULL)
		d = dflt;
	k = key_for(role, d->key);
	cn = d->cn != NULL ? d->cn : dflt->cn;
	assert_int_equal(X509_set_version(x, d->v1 ? 0 : 2), 1);
	set_serial(x, d->serial != NULL ? d->serial : "1A2B3C4D");
	if (cn[0] != '\0')
		assert_int_equal(
		    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
		        (const unsigned char *)cn, -1, -1, 0),
		    1);
	assert_int_equal(X509_set_subject_name(x, n), 1);
	assert_int_equal(
	    X509_set_issuer_name(
	        x, issuer != NULL ? X509_get_subject_name(issuer) : n),
	    1);
	X509_NAME_free(n);
	assert_non_null(ASN1_TIME_set(
	    X509_getm_notBefore(x), (time_t)(PINNED_TIME - YEAR)));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x),
	    (time_t)(d->not_after != 0 ? d->not_after : PINNED_TIME + YEAR)));
	assert_int_equal(X509_set_pubkey(x, k), 1);
	if (!d->v1)
		add_exts(x, issuer != NULL ? issuer : x, d, dflt);
	assert_true(X509_sign(x, ikey != NULL ? ikey : k, EVP_sha256()) > 0);
	return x;
}

static X509_CRL *
make_crl(X509 *issuer, EVP_PKEY *ikey, bool number)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();

	assert_int_equal(X509_CRL_set_version(crl, X509_CRL_VERSION_2), 1);
	assert_int_equal(
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)), 1);
	ASN1_TIME_set(t, (time_t)(PINNED_TIME - 86400));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, t), 1);
	ASN1_TIME_set(t, (time_t)(PINNED_TIME + 86400));
	assert_int_equal(X509_CRL_set1_nextUpdate(crl, t), 1);
	if (number) {
		ASN1_INTEGER *num = ASN1_INTEGER_new();

		ASN1_INTEGER_set(num, 7);
		assert_int_equal(
		    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0), 1);
		ASN1_INTEGER_free(num);
	}
	assert_true(X509_CRL_sign(crl, ikey, EVP_sha256()) > 0);
	ASN1_TIME_free(t);
	return crl;
}

/* ---- the table ------------------------------------------------------------
 */

struct rrow {
	const char *name;
	const struct def *root, *inter, *leaf;
	const char *host, *ip;
	int crls; /* 0: none; 1: both with cRLNumber; 2: the leaf's without */
	const char *code; /* the rule broken; NULL: a passing form */
	int depth;        /* its depth */
	int compat_valid; /* OpenSSL's verdict */
	const char *also; /* another code both policies report, or NULL */
	bool strict_only; /* no warning form (leaf_no_eku) */
};

#define LEAF_EXTS(...)                                                         \
	(&(const struct def){                                                  \
	    NULL, K_P256, NULL, false, 0, {__VA_ARGS__}, false})
#define INT_EXTS(...)                                                          \
	(&(const struct def){NULL, K_P256, NULL, false, 0,                     \
	    {"keyUsage=critical,keyCertSign,cRLSign",                          \
	        "authorityKeyIdentifier=keyid:always", __VA_ARGS__},           \
	    false})
#define ROOT_EXTS(...)                                                         \
	(&(const struct def){NULL, K_P256, NULL, false, 0,                     \
	    {"basicConstraints=critical,CA:TRUE",                              \
	        "keyUsage=critical,keyCertSign,cRLSign",                       \
	        "subjectKeyIdentifier=hash", __VA_ARGS__},                     \
	    false})
#define LEAF_BASE                                                              \
	"basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature",     \
	    "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid:always"
#define LEAF_KEY(k)                                                            \
	(&(const struct def){NULL, k, NULL, false, 0, {NULL}, false})
#define LEAF_SERIAL(s)                                                         \
	(&(const struct def){NULL, K_P256, s, false, 0, {NULL}, false})
#define SAN_OK "subjectAltName=DNS:leaf.rules.test"
/* A leaf whose SAN is `san`: dns_name_malformed when bad. */
#define DNS_ROW(name, san, bad)                                                \
	{                                                                      \
		name, NULL, NULL,                                              \
		    LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth",        \
		        "subjectAltName=" san),                                \
		    NULL, NULL, 0, (bad) ? "dns_name_malformed" : NULL, 0, 1,  \
		    NULL, false                                                \
	}
#define LABEL61 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LABEL63 LABEL61 "bb"

static const struct rrow rows[] = {
    {"all rules kept", NULL, NULL, NULL, "leaf.rules.test", NULL, 0, NULL, 0, 1,
        NULL, false},
    /* RFC 6125 6.4.4: the name only in the CN. */
    {"CN-only leaf", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth"), NULL, NULL, 0,
        "cn_only_name", 0, 1, NULL, false},
    {"DNS SAN leaf", NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, 1, NULL, false},
    {"client leaf, CN only", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=clientAuth"), NULL, NULL, 0,
        NULL, 0, 1, NULL, false},
    /* RFC 5280 4.2.1.6: IPs by value. */
    {"IP with a leading zero", NULL, NULL, NULL, NULL, "192.0.2.010", 0,
        "ip_not_canonical", 0, 1, NULL, false},
    {"IP in standard form", NULL, NULL, NULL, NULL, "192.0.2.10", 0, NULL, 0, 1,
        NULL, false},
    {"IPv6 in upper case, same value", NULL, NULL, NULL, NULL,
        "2001:DB8:0:0::10", 0, NULL, 0, 1, NULL, false},
    /* RFC 5280 4.1.2.2 */
    {"serial zero", NULL, NULL, LEAF_SERIAL("0"), NULL, NULL, 0, "bad_serial",
        0, 1, NULL, false},
    {"serial negative", NULL, NULL, LEAF_SERIAL("-5"), NULL, NULL, 0,
        "bad_serial", 0, 1, NULL, false},
    {"serial of 21 octets", NULL, NULL,
        LEAF_SERIAL("0102030405060708090A0B0C0D0E0F101112131415"), NULL, NULL,
        0, "bad_serial", 0, 1, NULL, false},
    {"serial of 20 octets", NULL, NULL,
        LEAF_SERIAL("7102030405060708090A0B0C0D0E0F1011121314"), NULL, NULL, 0,
        NULL, 0, 1, NULL, false},
    /* RFC 5280 4.1.2.1 */
    {"v1 leaf", NULL, NULL,
        (&(const struct def){NULL, K_P256, NULL, true, 0, {NULL}, false}), NULL,
        NULL, 0, "cert_old_version", 0, 1, NULL, false},
    /* RFC 5280 4.2.1.2 */
    {"CA without SKI", NULL, INT_EXTS("basicConstraints=critical,CA:TRUE"),
        LEAF_EXTS("basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature", "extendedKeyUsage=serverAuth",
            SAN_OK),
        NULL, NULL, 0, "ca_no_ski", 1, 1, NULL, false},
    /* RFC 5280 4.2.1.9 */
    {"CA basicConstraints not critical", NULL,
        INT_EXTS("basicConstraints=CA:TRUE", "subjectKeyIdentifier=hash"), NULL,
        NULL, NULL, 0, "ca_basic_constraints_not_critical", 1, 1, NULL, false},
    /* RFC 5280 4.2.1.1 */
    {"leaf without AKI", NULL, NULL,
        LEAF_EXTS("basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature", "subjectKeyIdentifier=hash",
            "extendedKeyUsage=serverAuth", SAN_OK),
        NULL, NULL, 0, "leaf_no_aki", 0, 1, NULL, false},
    /* RFC 5280 4.2.1.3 */
    {"leaf with keyCertSign", NULL, NULL,
        LEAF_EXTS("basicConstraints=CA:FALSE",
            "keyUsage=critical,digitalSignature,keyCertSign",
            "subjectKeyIdentifier=hash", "authorityKeyIdentifier=keyid:always",
            "extendedKeyUsage=serverAuth", SAN_OK),
        NULL, NULL, 0, "leaf_key_cert_sign", 0, 1, NULL, false},
    /* RFC 5280 4.2.1.10 */
    {"name constraints not critical", NULL,
        INT_EXTS("basicConstraints=critical,CA:TRUE",
            "subjectKeyIdentifier=hash",
            "nameConstraints=permitted;DNS:rules.test"),
        NULL, NULL, NULL, 0, "name_constraints_not_critical", 1, 1, NULL,
        false},
    {"name constraints critical", NULL,
        INT_EXTS("basicConstraints=critical,CA:TRUE",
            "subjectKeyIdentifier=hash",
            "nameConstraints=critical,permitted;DNS:rules.test,"
            "permitted;IP:192.0.2.0/255.255.255.0,"
            "permitted;IP:2001:db8::/ffff:ffff::"),
        NULL, NULL, NULL, 0, NULL, 0, 1, NULL, false},
    /* RFC 5280 4.2.1.11 */
    {"policy constraints not critical", NULL,
        INT_EXTS("basicConstraints=critical,CA:TRUE",
            "subjectKeyIdentifier=hash",
            "policyConstraints=inhibitPolicyMapping:0"),
        NULL, NULL, NULL, 0, "policy_constraints_not_critical", 1, 1, NULL,
        false},
    {"policy constraints critical", NULL,
        INT_EXTS("basicConstraints=critical,CA:TRUE",
            "subjectKeyIdentifier=hash",
            "policyConstraints=critical,inhibitPolicyMapping:0"),
        NULL, NULL, NULL, 0, NULL, 0, 1, NULL, false},
    /* BR 6.1.5 */
    {"DSA leaf", NULL, NULL, LEAF_KEY(K_DSA), NULL, NULL, 0, "dsa_key", 0, 1,
        NULL, false},
    {"P-224 leaf", NULL, NULL, LEAF_KEY(K_P224), NULL, NULL, 0, "ec_curve", 0,
        1, NULL, false},
    {"P-192 leaf", NULL, NULL, LEAF_KEY(K_P192), NULL, NULL, 0, "ec_curve", 0,
        0, "weak_key", false},
    {"RSA 2052 leaf", NULL, NULL, LEAF_KEY(K_RSA2052), NULL, NULL, 0,
        "rsa_modulus", 0, 1, NULL, false},
    {"RSA 2048 leaf", NULL, NULL, LEAF_KEY(K_RSA2048), NULL, NULL, 0, NULL, 0,
        1, NULL, false},
    /* BR 3.2.2.6 */
    {"wildcard over co.uk", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth",
            "subjectAltName=DNS:*.co.uk"),
        NULL, NULL, 0, "wildcard_public_suffix", 0, 1, NULL, false},
    {"wildcard over a TLD", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth",
            "subjectAltName=DNS:*.test"),
        NULL, NULL, 0, "wildcard_public_suffix", 0, 1, NULL, false},
    {"wildcard under a registered domain", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth",
            "subjectAltName=DNS:*.example.co.uk"),
        "www.example.co.uk", NULL, 0, NULL, 0, 1, NULL, false},
    /* RFC 5280 4.2.1.6, RFC 1034 3.5, RFC 1123 2.1: preferred name
     * syntax in SAN dNSNames and name-constraint subtrees. */
    DNS_ROW("DNS name with a trailing dot", "DNS:leaf.rules.test.", true),
    DNS_ROW("DNS name with a leading dot", "DNS:.rules.test", true),
    DNS_ROW("DNS name with an empty label", "DNS:leaf..rules.test", true),
    DNS_ROW("DNS name with an underscore", "DNS:a_b.rules.test", true),
    DNS_ROW("DNS name with a space", "DNS:a b.rules.test", true),
    DNS_ROW("DNS label starting with '-'", "DNS:-a.rules.test", true),
    DNS_ROW("DNS label ending with '-'", "DNS:a-.rules.test", true),
    DNS_ROW("DNS label of 64 octets", "DNS:" LABEL63 "a.rules.test", true),
    DNS_ROW("DNS name of 254 octets",
        "DNS:" LABEL63 "." LABEL63 "." LABEL63 "." LABEL61 "b", true),
    DNS_ROW("wildcard not a whole label", "DNS:a*.rules.test", true),
    DNS_ROW("wildcard not leftmost", "DNS:a.*.rules.test", true),
    DNS_ROW("one bad name of two", "DNS:leaf.rules.test,DNS:bad.test.", true),
    DNS_ROW("DNS names in preferred syntax",
        "DNS:leaf.rules.test,DNS:xn--bcher-kva.rules.test,DNS:123.45.rules."
        "test,DNS:a-b.c--d.rules.test,DNS:LEAF.Rules.Test,DNS:*.rules.test,"
        "DNS:localhost",
        false),
    DNS_ROW("DNS label of 63 octets, name of 253",
        "DNS:" LABEL63 "." LABEL63 "." LABEL63 "." LABEL61, false),
    {"name constraint with a trailing dot", NULL,
        INT_EXTS("basicConstraints=critical,CA:TRUE",
            "subjectKeyIdentifier=hash",
            "nameConstraints=critical,excluded;DNS:bad.rules.test."),
        NULL, NULL, NULL, 0, "dns_name_malformed", 1, 1, NULL, false},
    {"name constraint with an underscore", NULL,
        INT_EXTS("basicConstraints=critical,CA:TRUE",
            "subjectKeyIdentifier=hash",
            "nameConstraints=critical,permitted;DNS:.rules.test,"
            "excluded;DNS:a_b.rules.test"),
        NULL, NULL, NULL, 0, "dns_name_malformed", 1, 1, NULL, false},
    {"name constraints in both forms", NULL,
        INT_EXTS("basicConstraints=critical,CA:TRUE",
            "subjectKeyIdentifier=hash",
            "nameConstraints=critical,permitted;DNS:.rules.test,"
            "permitted;DNS:rules.test,excluded;DNS:bad.rules.test"),
        NULL, NULL, NULL, 0, NULL, 0, 1, NULL, false},
    /* RFC 5280 4.1.2.6 */
    {"CA with an empty subject", NULL,
        (&(const struct def){"", K_P256, NULL, false, 0, {NULL}, false}), NULL,
        NULL, NULL, 0, "ca_empty_subject", 1, 1, NULL, false},
    /* RFC 5280 4.2.1.6 */
    {"empty subject, SAN not critical", NULL, NULL,
        (&(const struct def){"", K_P256, NULL, false, 0,
            {LEAF_BASE, "extendedKeyUsage=serverAuth", SAN_OK}, false}),
        NULL, NULL, 0, "san_not_critical", 0, 1, NULL, false},
    {"empty subject, SAN critical", NULL, NULL,
        (&(const struct def){"", K_P256, NULL, false, 0,
            {LEAF_BASE, "extendedKeyUsage=serverAuth",
                "subjectAltName=critical,DNS:leaf.rules.test"},
            false}),
        NULL, NULL, 0, NULL, 0, 1, NULL, false},
    /* RFC 5280 4.2.1.1: a root's AKI. OpenSSL itself does not take a root
     * whose AKI keyid is not its SKI as self-signed: invalid either way. */
    {"root AKI in issuer/serial form",
        ROOT_EXTS("authorityKeyIdentifier="
                  "keyid,issuer:always"),
        NULL, NULL, NULL, NULL, 0, "root_aki", 2, 1, NULL, false},
    {"root AKI keyid not its SKI",
        (&(const struct def){NULL, K_P256, NULL, false, 0,
            {"basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
                "subjectKeyIdentifier=hash"},
            true}),
        NULL, NULL, NULL, NULL, 0, "root_aki", 2, 0, NULL, false},
    {"root AKI keyid equal to its SKI",
        ROOT_EXTS("authorityKeyIdentifier=keyid:always"), NULL, NULL, NULL,
        NULL, 0, NULL, 0, 1, NULL, false},
    /* BR 7.1.2.1.2 */
    {"root with EKU", ROOT_EXTS("extendedKeyUsage=serverAuth"), NULL, NULL,
        NULL, NULL, 0, "root_eku", 2, 1, NULL, false},
    /* BR 7.1.2.7.10 */
    {"leaf with anyExtendedKeyUsage", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth,anyExtendedKeyUsage",
            SAN_OK),
        NULL, NULL, 0, "leaf_any_eku", 0, 1, NULL, false},
    {"leaf with critical EKU", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=critical,serverAuth", SAN_OK),
        NULL, NULL, 0, "leaf_eku_critical", 0, 1, NULL, false},
    {"leaf without EKU", NULL, NULL, LEAF_EXTS(LEAF_BASE, SAN_OK), NULL, NULL,
        0, "leaf_no_eku", 0, 1, NULL, true},
    /* RFC 5280 4.2.2.1; OpenSSL refuses a critical AIA itself (it does
     * not process it). */
    {"AIA critical", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth", SAN_OK,
            "authorityInfoAccess=critical,caIssuers;URI:http://"
            "127.0.0.1/int.der"),
        NULL, NULL, 0, "aia_malformed", 0, 0, "malformed", false},
    {"AIA OCSP not a URI", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth", SAN_OK,
            "authorityInfoAccess=OCSP;DNS:ocsp.rules.test"),
        NULL, NULL, 0, "aia_malformed", 0, 1, NULL, false},
    {"AIA well formed", NULL, NULL,
        LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth", SAN_OK,
            "authorityInfoAccess=caIssuers;URI:http://127.0.0.1/int.der,"
            "OCSP;URI:http://127.0.0.1/ocsp"),
        NULL, NULL, 0, NULL, 0, 1, NULL, false},
    /* RFC 5280 5.2.3 */
    {"CRL without cRLNumber", NULL, NULL, NULL, NULL, NULL, 2, "crl_no_number",
        0, 1, NULL, false},
    {"CRLs with cRLNumber", NULL, NULL, NULL, NULL, NULL, 1, NULL, 0, 1, NULL,
        false},
};

/* ---- running a row --------------------------------------------------------
 */

static json_t *
verify_row(const struct rrow *r, ck_policy pol, int *valid)
{
	X509 *root = make(ROOT, r->root, NULL, NULL);
	EVP_PKEY *rk = key_for(ROOT, r->root ? r->root->key : K_P256);
	X509 *in = make(INTER, r->inter, root, rk);
	EVP_PKEY *ik = key_for(INTER, r->inter ? r->inter->key : K_P256);
	X509 *leaf = make(LEAF, r->leaf, in, ik);
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *unt = sk_X509_new_null();
	STACK_OF(X509_CRL) *crls = sk_X509_CRL_new_null();
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	ck_ctx *ctx = ck_ctx_new();
	json_t *rep = NULL;

	assert_int_equal(X509_STORE_add_cert(st, root), 1);
	assert_true(sk_X509_push(unt, in) > 0);
	if (r->crls) {
		sk_X509_CRL_push(crls, make_crl(root, rk, true));
		sk_X509_CRL_push(crls, make_crl(in, ik, r->crls == 1));
	}
	p.time = PINNED_TIME;
	p.host = r->host;
	p.ip = r->ip;
	p.crls = crls;
	p.policy = pol;
	if (strcmp(r->name, "client leaf, CN only") == 0)
		p.purpose = CK_PURPOSE_CLIENT;
	if (cki_verify_chain(ctx, st, leaf, unt, &p, &rep, valid) != CK_OK)
		fail_msg("%s: %s", r->name, ck_ctx_error(ctx));
	sk_X509_CRL_pop_free(crls, X509_CRL_free);
	sk_X509_free(unt);
	X509_STORE_free(st);
	X509_free(leaf);
	X509_free(in);
	X509_free(root);
	ck_ctx_free(ctx);
	return rep;
}

/* The finding with `code`, or NULL. */
static json_t *
finding(json_t *rep, const char *code)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(rep, "findings"), i, f)
	{
		if (strcmp(json_string_value(json_object_get(f, "code")),
		        code) == 0)
			return f;
	}
	return NULL;
}

static size_t
policy_findings(json_t *rep)
{
	size_t i, n = 0;
	json_t *f;

	json_array_foreach(json_object_get(rep, "findings"), i, f)
	{
		if (json_object_get(json_object_get(f, "evidence"), "rule") !=
		    NULL)
			n++;
	}
	return n;
}

static void
check_rule(const struct rrow *r, json_t *rep, ck_policy pol, int valid)
{
	bool strict = pol == CK_POLICY_STRICT;
	json_t *f = finding(rep, r->code);
	json_t *ev;

	if (!strict && r->strict_only) {
		if (f != NULL || valid != r->compat_valid)
			fail_msg("%s (compat): %s reported, or wrong verdict",
			    r->name, r->code);
		return;
	}
	if (f == NULL)
		fail_msg("%s (%s): no %s finding", r->name,
		    strict ? "strict" : "compat", r->code);
	assert_string_equal(json_string_value(json_object_get(f, "severity")),
	    strict ? "error" : "warning");
	assert_int_equal(
	    json_integer_value(json_object_get(f, "depth")), r->depth);
	ev = json_object_get(f, "evidence");
	assert_true(json_is_string(json_object_get(ev, "rule")));
	assert_true(json_is_array(json_object_get(ev, "refused_by")));
	assert_non_null(strstr(json_string_value(json_object_get(f, "summary")),
	    json_string_value(json_object_get(ev, "rule"))));
	if (valid != (strict ? 0 : r->compat_valid))
		fail_msg("%s (%s): valid %d", r->name,
		    strict ? "strict" : "compat", valid);
	assert_int_equal(json_is_true(json_object_get(rep, "valid")), valid);
}

static void
test_rows(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct rrow *r = &rows[i];

		for (int pol = CK_POLICY_COMPAT; pol <= CK_POLICY_STRICT;
		     pol++) {
			int valid = -1;
			json_t *rep = verify_row(r, (ck_policy)pol, &valid);

			if (r->code != NULL) {
				check_rule(r, rep, (ck_policy)pol, valid);
			} else if (policy_findings(rep) != 0 ||
			    valid != r->compat_valid) {
				char *s = json_dumps(rep, JSON_COMPACT);

				fail_msg("%s (%d): expected no policy finding "
				         "and valid %d: %s",
				    r->name, pol, r->compat_valid, s);
			}
			if (r->also != NULL && finding(rep, r->also) == NULL)
				fail_msg("%s: no %s", r->name, r->also);
			json_decref(rep);
		}
	}
}

/* ---- names, time, the suffix list, the API ---------------------------- */

/* Verifies `leaf_def` under `pol` with host or ip; returns the report. */
static json_t *
verify_named(const struct def *leaf_def, const char *host, const char *ip,
    ck_policy pol, int *valid)
{
	struct rrow r = {"named", NULL, NULL, leaf_def, host, ip, 0, NULL, 0, 1,
	    NULL, false};

	return verify_row(&r, pol, valid);
}

/* RFC 6125 6.4.4: compat matches the CN (and warns), strict never does. */
static void
test_no_cn_fallback(void **state)
{
	const struct def *cn_only =
	    LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth");
	int valid;
	json_t *rep;

	(void)state;
	rep = verify_named(
	    cn_only, "leaf.rules.test", NULL, CK_POLICY_COMPAT, &valid);
	assert_int_equal(valid, 1);
	assert_null(finding(rep, "hostname_mismatch"));
	assert_non_null(finding(rep, "cn_only_name"));
	json_decref(rep);
	rep = verify_named(
	    cn_only, "leaf.rules.test", NULL, CK_POLICY_STRICT, &valid);
	assert_int_equal(valid, 0);
	assert_non_null(finding(rep, "hostname_mismatch"));
	assert_non_null(finding(rep, "cn_only_name"));
	json_decref(rep);
}

/* dns_name_malformed names Go as refusing a leaf's name only under a
 * CA's name constraints, and only for what Go refuses (an empty label,
 * not an underscore); a constraint's own, always. */
static void
test_dns_refused_by(void **state)
{
	static const struct {
		const char *san, *nc;
		int depth;
		bool go;
	} cases[] = {
	    {"DNS:bad.rules.test.", NULL, 0, false},
	    {"DNS:bad.rules.test.", "excluded;DNS:bad.rules.test", 0, true},
	    {"DNS:a_b.rules.test", "excluded;DNS:bad.rules.test", 0, false},
	    {"DNS:ok.rules.test", "excluded;DNS:bad.rules.test.", 1, true},
	    {"DNS:ok.rules.test", "excluded;DNS:a_b.rules.test", 1, false},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char san[128], nc[128];
		struct def leaf = {NULL, K_P256, NULL, false, 0,
		    {LEAF_BASE, "extendedKeyUsage=serverAuth", san}, false};
		struct def in = {NULL, K_P256, NULL, false, 0,
		    {"basicConstraints=critical,CA:TRUE",
		        "keyUsage=critical,keyCertSign,cRLSign",
		        "subjectKeyIdentifier=hash",
		        "authorityKeyIdentifier=keyid:always",
		        cases[i].nc != NULL ? nc : NULL},
		    false};
		struct rrow r = {"dns", NULL, &in, &leaf, NULL, NULL, 0, NULL,
		    0, 1, NULL, false};
		json_t *rep, *f, *by;
		int valid;

		snprintf(san, sizeof(san), "subjectAltName=%s", cases[i].san);
		snprintf(nc, sizeof(nc), "nameConstraints=critical,%s",
		    cases[i].nc != NULL ? cases[i].nc : "");
		rep = verify_row(&r, CK_POLICY_STRICT, &valid);
		f = finding(rep, "dns_name_malformed");
		if (f == NULL)
			fail_msg("%s: no dns_name_malformed", cases[i].san);
		assert_int_equal(
		    json_integer_value(json_object_get(f, "depth")),
		    cases[i].depth);
		by = json_object_get(
		    json_object_get(f, "evidence"), "refused_by");
		assert_int_equal(json_array_size(by), cases[i].go ? 1 : 0);
		if (cases[i].go)
			assert_string_equal(
			    json_string_value(json_array_get(by, 0)),
			    "Go crypto/x509");
		assert_int_equal(valid, 0);
		json_decref(rep);
	}
}

/* An IP matches only an iPAddress SAN, never a CN or a DNS SAN holding the
 * same text, under either policy. */
static void
test_ip_never_cn(void **state)
{
	const struct def ip_cn = {"192.0.2.10", K_P256, NULL, false, 0,
	    {LEAF_BASE, "extendedKeyUsage=serverAuth",
	        "subjectAltName=DNS:192.0.2.10"},
	    false};
	int valid;
	json_t *rep;

	(void)state;
	for (int pol = CK_POLICY_COMPAT; pol <= CK_POLICY_STRICT; pol++) {
		rep = verify_named(
		    &ip_cn, NULL, "192.0.2.10", (ck_policy)pol, &valid);
		assert_int_equal(valid, 0);
		assert_non_null(finding(rep, "hostname_mismatch"));
		json_decref(rep);
	}
}

/* RFC 5280 4.1.2.5: valid through notAfter, inclusive; expired the second
 * after. OpenSSL 3.0 alone says "expired" at notAfter. */
static void
test_not_after_inclusive(void **state)
{
	const struct def at_end = {
	    NULL, K_P256, NULL, false, PINNED_TIME, {NULL}, false};
	const struct def before_end = {
	    NULL, K_P256, NULL, false, PINNED_TIME - 1, {NULL}, false};
	int valid;
	json_t *rep;

	(void)state;
	for (int pol = CK_POLICY_COMPAT; pol <= CK_POLICY_STRICT; pol++) {
		rep = verify_named(&at_end, NULL, NULL, (ck_policy)pol, &valid);
		assert_int_equal(valid, 1);
		assert_true(json_is_true(json_object_get(rep, "valid")));
		json_decref(rep);
		rep = verify_named(
		    &before_end, NULL, NULL, (ck_policy)pol, &valid);
		assert_int_equal(valid, 0);
		assert_non_null(finding(rep, "cert_expired"));
		json_decref(rep);
	}
}

/* The public suffix list missing is an error naming the file, not a pass;
 * a certificate without a wildcard does not need it. */
static void
test_suffix_list_missing(void **state)
{
	struct rrow r = rows[0];
	X509 *root, *in, *leaf;
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *unt = sk_X509_new_null();
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	ck_ctx *ctx = ck_ctx_new();
	json_t *rep = NULL;
	int valid = 1;

	(void)state;
	r.leaf = LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth",
	    "subjectAltName=DNS:*.rules.example.com");
	root = make(ROOT, NULL, NULL, NULL);
	in = make(INTER, NULL, root, key_for(ROOT, K_P256));
	leaf = make(LEAF, r.leaf, in, key_for(INTER, K_P256));
	X509_STORE_add_cert(st, root);
	sk_X509_push(unt, in);
	p.time = PINNED_TIME;
	setenv("CERTKIT_PUBLIC_SUFFIX_LIST", "/nonexistent/psl.dat", 1);
	assert_int_equal(cki_verify_chain(ctx, st, leaf, unt, &p, &rep, &valid),
	    CK_E_NOTFOUND);
	assert_null(rep);
	assert_int_equal(valid, 0);
	assert_non_null(strstr(ck_ctx_error(ctx), "/nonexistent/psl.dat"));
	assert_non_null(strstr(ck_ctx_error(ctx), "publicsuffix"));
	/* No wildcard: the list is not read. */
	assert_int_equal(
	    cki_verify_chain(ctx, st, in, NULL, &p, &rep, &valid), CK_OK);
	json_decref(rep);
	unsetenv("CERTKIT_PUBLIC_SUFFIX_LIST");
	rep = NULL;
	assert_int_equal(
	    cki_verify_chain(ctx, st, leaf, unt, &p, &rep, &valid), CK_OK);
	assert_int_equal(valid, 1);
	json_decref(rep);
	X509_free(leaf);
	X509_free(in);
	X509_free(root);
	sk_X509_free(unt);
	X509_STORE_free(st);
	ck_ctx_free(ctx);
}

/* A CA certificate verified on its own is no leaf: no CN-only name, no
 * leaf usage rules (verify --each over a file of CA certificates). */
static void
test_ca_alone(void **state)
{
	X509 *root = make(ROOT, NULL, NULL, NULL);
	X509 *in = make(INTER, NULL, root, key_for(ROOT, K_P256));
	X509_STORE *st = X509_STORE_new();
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	ck_ctx *ctx = ck_ctx_new();
	json_t *rep = NULL;
	int valid = 0;

	(void)state;
	X509_STORE_add_cert(st, root);
	p.time = PINNED_TIME;
	p.policy = CK_POLICY_STRICT;
	p.purpose = CK_PURPOSE_ANY;
	assert_int_equal(
	    cki_verify_chain(ctx, st, in, NULL, &p, &rep, &valid), CK_OK);
	assert_int_equal(valid, 1);
	assert_int_equal(policy_findings(rep), 0);
	json_decref(rep);
	X509_free(in);
	X509_free(root);
	X509_STORE_free(st);
	ck_ctx_free(ctx);
}

/* cki_verify_run (the doctor, the identity install): under strict a rule
 * broken makes the result not ok and is in res.rules; compat keeps
 * OpenSSL's answer; notAfter is inclusive there too. */
static void
test_verify_run(void **state)
{
	const struct def cn_only = {NULL, K_P256, NULL, false, PINNED_TIME,
	    {LEAF_BASE, "extendedKeyUsage=serverAuth"}, false};
	X509 *root = make(ROOT, NULL, NULL, NULL);
	X509 *in = make(INTER, NULL, root, key_for(ROOT, K_P256));
	X509 *leaf = make(LEAF, &cn_only, in, key_for(INTER, K_P256));
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *unt = sk_X509_new_null();
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	struct cki_verify_result res;

	(void)state;
	X509_STORE_add_cert(st, root);
	sk_X509_push(unt, in);
	p.time = PINNED_TIME;
	for (int every = 0; every <= 1; every++) {
		p.policy = CK_POLICY_COMPAT;
		assert_int_equal(
		    cki_verify_run(NULL, st, leaf, unt, &p, every == 1, &res),
		    CK_OK);
		assert_true(res.ok);
		assert_int_equal(json_array_size(res.rules), 0);
		cki_verify_result_clear(&res);
		p.policy = CK_POLICY_STRICT;
		assert_int_equal(
		    cki_verify_run(NULL, st, leaf, unt, &p, every == 1, &res),
		    CK_OK);
		assert_false(res.ok);
		assert_int_equal(res.nerr, 0);
		assert_string_equal(json_string_value(json_object_get(
		                        json_array_get(res.rules, 0), "code")),
		    "cn_only_name");
		cki_verify_result_clear(&res);
	}
	sk_X509_free(unt);
	X509_STORE_free(st);
	X509_free(leaf);
	X509_free(in);
	X509_free(root);
}

/* Bulk verification shares a cache: a CA certificate found clean is not
 * checked again, one that breaks a rule is reported every time. */
static void
test_cache(void **state)
{
	const struct def *bc_weak =
	    INT_EXTS("basicConstraints=CA:TRUE", "subjectKeyIdentifier=hash");
	X509 *root = make(ROOT, NULL, NULL, NULL);
	X509 *good = make(INTER, NULL, root, key_for(ROOT, K_P256));
	X509 *bad = make(INTER, bc_weak, root, key_for(ROOT, K_P256));
	X509 *l1 = make(LEAF, NULL, good, key_for(INTER, K_P256));
	X509 *l2 = make(LEAF, NULL, bad, key_for(INTER, K_P256));
	X509_STORE *st = X509_STORE_new();
	STACK_OF(X509) *u1 = sk_X509_new_null(), *u2 = sk_X509_new_null();
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	X509_STORE_add_cert(st, root);
	sk_X509_push(u1, good);
	sk_X509_push(u2, bad);
	p.time = PINNED_TIME;
	p.cache = cki_verify_cache_new();
	for (int round = 0; round < 3; round++) {
		json_t *rep = NULL;
		int valid = 0;

		assert_int_equal(
		    cki_verify_chain(ctx, st, l1, u1, &p, &rep, &valid), CK_OK);
		assert_int_equal(policy_findings(rep), 0);
		json_decref(rep);
		rep = NULL;
		assert_int_equal(
		    cki_verify_chain(ctx, st, l2, u2, &p, &rep, &valid), CK_OK);
		assert_non_null(
		    finding(rep, "ca_basic_constraints_not_critical"));
		assert_int_equal(policy_findings(rep), 1);
		json_decref(rep);
	}
	cki_verify_cache_free(p.cache);
	sk_X509_free(u1);
	sk_X509_free(u2);
	X509_STORE_free(st);
	X509_free(l1);
	X509_free(l2);
	X509_free(good);
	X509_free(bad);
	X509_free(root);
	ck_ctx_free(ctx);
}

static void
test_policy_api(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_verify_opts *o = NULL;
	ck_policy pol = CK_POLICY_COMPAT;

	(void)state;
	assert_int_equal(ck_verify_opts_new(ctx, &o), CK_OK);
	assert_int_equal(ck_verify_opts_set_policy(o, CK_POLICY_STRICT), CK_OK);
	assert_int_equal(
	    ck_verify_opts_set_policy(o, (ck_policy)7), CK_E_USAGE);
	assert_int_equal(
	    ck_verify_opts_set_policy(NULL, CK_POLICY_STRICT), CK_E_USAGE);
	assert_int_equal(ck_policy_parse(ctx, "strict", &pol), CK_OK);
	assert_int_equal(pol, CK_POLICY_STRICT);
	assert_int_equal(ck_policy_parse(ctx, "compat", &pol), CK_OK);
	assert_int_equal(pol, CK_POLICY_COMPAT);
	assert_int_equal(ck_policy_parse(ctx, "Strict", &pol), CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(ctx), "expected compat or strict"));
	assert_int_equal(ck_policy_parse(ctx, NULL, &pol), CK_E_USAGE);
	ck_verify_opts_free(o);
	ck_ctx_free(ctx);
}

/* ck_rules_check (certkit show --policy): each certificate of a bundle on
 * its own, in show's finding form: the CN-only leaf (certificate 3) and the
 * CRL of its issuer without cRLNumber, warnings under compat and errors
 * under strict; its copy (4) is not checked again; the clean root and
 * intermediate have none. */
static size_t
count_code(json_t *arr, const char *code, const char *sev, int index)
{
	json_t *f;
	size_t i, n = 0;

	json_array_foreach(arr, i, f)
	{
		json_t *ix = json_object_get(f, "certificates");

		if (strcmp(json_string_value(json_object_get(f, "code")),
		        code) == 0 &&
		    strcmp(json_string_value(json_object_get(f, "severity")),
		        sev) == 0 &&
		    json_integer_value(json_array_get(ix, 0)) == index &&
		    json_equal(ix,
		        json_object_get(
		            json_object_get(f, "evidence"), "certificates")))
			n++;
	}
	return n;
}

static void
test_rules_check(void **state)
{
	X509 *root = make(ROOT, NULL, NULL, NULL);
	X509 *in = make(INTER, NULL, root, key_for(ROOT, K_P256));
	X509 *leaf =
	    make(LEAF, LEAF_EXTS(LEAF_BASE, "extendedKeyUsage=serverAuth"), in,
	        key_for(INTER, K_P256));
	X509 *certs[4] = {root, in, leaf, leaf};
	X509_CRL *crl = make_crl(in, key_for(INTER, K_P256), false);
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = ck_bundle_new();
	char *out = (char *)"x";
	json_t *arr;

	(void)state;
	for (int i = 0; i < 4; i++) {
		assert_int_equal(X509_up_ref(certs[i]), 1);
		assert_int_equal(cki_bundle_push(b, CK_OBJ_CERT,
		                     cki_cert_wrap(certs[i]), "t.pem"),
		    CK_OK);
	}
	assert_int_equal(cki_bundle_push(b, CK_OBJ_CRL, crl, "t.crl"), CK_OK);
	for (int pol = CK_POLICY_COMPAT; pol <= CK_POLICY_STRICT; pol++) {
		const char *sev = pol == CK_POLICY_STRICT ? "error" : "warning";

		assert_int_equal(
		    ck_rules_check(ctx, b, (ck_policy)pol, &out), CK_OK);
		assert_non_null(arr = json_loads(out, 0, NULL));
		ck_free(out);
		assert_int_equal(json_array_size(arr), 2);
		assert_int_equal(count_code(arr, "cn_only_name", sev, 3), 1);
		assert_int_equal(count_code(arr, "crl_no_number", sev, 3), 1);
		assert_non_null(strstr(json_string_value(json_object_get(
		                           json_array_get(arr, 0), "summary")),
		    "certificate 3 \"leaf.rules.test\": "));
		json_decref(arr);
	}
	assert_int_equal(
	    ck_rules_check(ctx, b, (ck_policy)7, &out), CK_E_USAGE);
	assert_null(out);
	assert_int_equal(
	    ck_rules_check(ctx, NULL, CK_POLICY_STRICT, &out), CK_E_USAGE);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
	X509_free(leaf);
	X509_free(in);
	X509_free(root);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_no_cn_fallback),
	    cmocka_unit_test(test_ip_never_cn),
	    cmocka_unit_test(test_dns_refused_by),
	    cmocka_unit_test(test_not_after_inclusive),
	    cmocka_unit_test(test_suffix_list_missing),
	    cmocka_unit_test(test_ca_alone),
	    cmocka_unit_test(test_verify_run),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_policy_api),
	    cmocka_unit_test(test_rules_check),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	for (int r = 0; r < 3; r++)
		for (int k = 0; k < K_N; k++)
			EVP_PKEY_free(keys[r][k]);
	return rc;
}
