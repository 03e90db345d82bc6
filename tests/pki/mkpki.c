/*
 * mkpki: writes the certkit test PKI (see tests/pki/README.md).
 *
 *   mkpki OUTDIR                 write every certificate, key and CRL
 *   mkpki --leaves N OUTDIR      ... plus OUTDIR/many-leaves.pem with N leaves
 *
 * Every date is fixed, so the PKI does not depend on the clock; tests pin the
 * verification time to 2026-06-01T00:00:00Z. Serial numbers are derived from
 * the file stem (SHA-256, first 16 bytes), so they are stable across runs.
 * Keys (and ECDSA signatures) are fresh random values on every run.
 *
 * Standalone C11; links only libcrypto; OpenSSL 3.0 non-deprecated API only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

static const char *outdir;

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("mkpki: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ERR_print_errors_fp(stderr);
	exit(1);
}

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond))                                                   \
			die(__VA_ARGS__);                                      \
	} while (0)

/* ---- dates ------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static long long
days_from_civil(int y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Midnight UTC of the given date. */
static time_t
utc(int y, int m, int d)
{
	return (time_t)(days_from_civil(y, m, d) * 86400LL);
}

static void
set_time(ASN1_TIME *t, time_t when, const char *what)
{
	CHECK(
	    t != NULL && ASN1_TIME_set(t, when) != NULL, "cannot set %s", what);
}

/* ---- files ------------------------------------------------------------ */

static FILE *
open_out(const char *name, char *path, size_t pathlen)
{
	FILE *fp;
	int n = snprintf(path, pathlen, "%s/%s", outdir, name);

	CHECK(
	    n > 0 && (size_t)n < pathlen, "path too long: %s/%s", outdir, name);
	fp = fopen(path, "wb");
	CHECK(fp != NULL, "cannot create %s: %s", path, strerror(errno));
	return fp;
}

static void
close_out(FILE *fp, const char *path)
{
	CHECK(fflush(fp) == 0 && !ferror(fp), "error writing %s: %s", path,
	    strerror(errno));
	CHECK(fclose(fp) == 0, "error closing %s: %s", path, strerror(errno));
}

static void
write_key(const char *stem, EVP_PKEY *key)
{
	char name[256], path[4096];
	FILE *fp;

	snprintf(name, sizeof(name), "%s.key", stem);
	fp = open_out(name, path, sizeof(path));
	CHECK(PEM_write_PKCS8PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL),
	    "cannot write %s", path);
	close_out(fp, path);
}

/* Writes NAME containing the given certificates, in order (NULL ends). */
static void
write_certs(const char *name, ...)
{
	char path[4096];
	FILE *fp = open_out(name, path, sizeof(path));
	va_list ap;
	X509 *x;

	va_start(ap, name);
	while ((x = va_arg(ap, X509 *)) != NULL)
		CHECK(PEM_write_X509(fp, x), "cannot write %s", path);
	va_end(ap);
	close_out(fp, path);
}

/* ---- keys ------------------------------------------------------------- */

static EVP_PKEY *
ec_key(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	CHECK(k != NULL, "cannot generate EC P-256 key");
	return k;
}

static EVP_PKEY *
rsa_key(size_t bits)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);

	CHECK(k != NULL, "cannot generate RSA-%zu key", bits);
	return k;
}

/* ---- certificates ----------------------------------------------------- */

/* 16 bytes of SHA-256(label), top bit cleared and second bit set, so the
 * serial is positive, exactly 16 bytes long and stable across runs. */
static ASN1_INTEGER *
serial_for(const char *label)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_INTEGER *ai;
	BIGNUM *bn;

	CHECK(EVP_Digest(label, strlen(label), md, &mdlen, EVP_sha256(), NULL),
	    "cannot hash serial label %s", label);
	md[0] = (unsigned char)((md[0] & 0x7f) | 0x40);
	bn = BN_bin2bn(md, 16, NULL);
	CHECK(bn != NULL, "cannot make serial for %s", label);
	ai = BN_to_ASN1_INTEGER(bn, NULL);
	CHECK(ai != NULL, "cannot make serial for %s", label);
	BN_free(bn);
	return ai;
}

static X509_NAME *
make_name(const char *cn, const char *org)
{
	X509_NAME *n = X509_NAME_new();

	CHECK(n != NULL, "out of memory");
	CHECK(X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC,
	          (const unsigned char *)"US", -1, -1, 0) &&
	        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	            (const unsigned char *)org, -1, -1, 0) &&
	        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
	            (const unsigned char *)cn, -1, -1, 0),
	    "cannot build name CN=%s", cn);
	return n;
}

struct ext {
	int nid;
	const char *value; /* OpenSSL config syntax, e.g. "critical,CA:TRUE" */
};

/* Builds one extension for subject (issued by issuer; issuer == subject for
 * self-signed). */
static X509_EXTENSION *
make_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	e = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	CHECK(e != NULL, "cannot build extension %s = %s", OBJ_nid2sn(nid),
	    value);
	return e;
}

static void
add_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509_EXTENSION *e = make_ext(issuer, subject, nid, value);

	CHECK(X509_add_ext(subject, e, -1), "cannot add extension %s",
	    OBJ_nid2sn(nid));
	X509_EXTENSION_free(e);
}

struct certspec {
	const char *stem; /* output file stem (also the serial label) */
	const char *cn;
	const char *org; /* NULL: "certkit tests" */
	time_t not_before, not_after;
	const struct ext *exts; /* ends with nid 0 */
	const EVP_MD *md;       /* NULL: SHA-256 */
};

/* Makes, signs and writes STEM.pem and STEM.key. issuer == NULL means
 * self-signed. */
static X509 *
make_cert(
    const struct certspec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	X509_NAME *name;
	ASN1_INTEGER *serial;
	const struct ext *e;
	char file[256];

	CHECK(x != NULL, "out of memory");
	CHECK(X509_set_version(x, X509_VERSION_3), "cannot set version");
	serial = serial_for(s->stem);
	CHECK(X509_set_serialNumber(x, serial), "cannot set serial of %s",
	    s->stem);
	ASN1_INTEGER_free(serial);
	name = make_name(s->cn, s->org != NULL ? s->org : "certkit tests");
	CHECK(X509_set_subject_name(x, name), "cannot set subject of %s",
	    s->stem);
	CHECK(X509_set_issuer_name(
	          x, issuer != NULL ? X509_get_subject_name(issuer) : name),
	    "cannot set issuer of %s", s->stem);
	X509_NAME_free(name);
	set_time(X509_getm_notBefore(x), s->not_before, "notBefore");
	set_time(X509_getm_notAfter(x), s->not_after, "notAfter");
	CHECK(X509_set_pubkey(x, key), "cannot set public key of %s", s->stem);
	for (e = s->exts; e != NULL && e->nid != 0; e++)
		add_ext(issuer != NULL ? issuer : x, x, e->nid, e->value);
	CHECK(X509_sign(x, issuer_key != NULL ? issuer_key : key,
	          s->md != NULL ? s->md : EVP_sha256()) > 0,
	    "cannot sign %s", s->stem);

	snprintf(file, sizeof(file), "%s.pem", s->stem);
	write_certs(file, x, (X509 *)NULL);
	write_key(s->stem, key);
	return x;
}

/* Makes and writes an end-entity certificate with a fresh key (RSA of
 * rsa_bits, or EC P-256 when rsa_bits is 0), then frees both. */
static void
make_leaf(const struct certspec *s, size_t rsa_bits, X509 *issuer,
    EVP_PKEY *issuer_key)
{
	EVP_PKEY *key = rsa_bits != 0 ? rsa_key(rsa_bits) : ec_key();

	X509_free(make_cert(s, key, issuer, issuer_key));
	EVP_PKEY_free(key);
}

/* ---- CRLs ------------------------------------------------------------- */

static void
make_crl(const char *file, X509 *issuer, EVP_PKEY *issuer_key, X509 *revoked)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509V3_CTX ctx;
	X509_EXTENSION *aki;
	char path[4096];
	FILE *fp;

	CHECK(crl != NULL && t != NULL && num != NULL, "out of memory");
	CHECK(X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
	        X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)),
	    "cannot start CRL %s", file);
	set_time(t, utc(2026, 1, 1), "CRL lastUpdate");
	CHECK(X509_CRL_set1_lastUpdate(crl, t), "cannot set CRL lastUpdate");
	set_time(t, utc(2027, 1, 1), "CRL nextUpdate");
	CHECK(X509_CRL_set1_nextUpdate(crl, t), "cannot set CRL nextUpdate");

	if (revoked != NULL) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();

		CHECK(r != NULL && reason != NULL, "out of memory");
		CHECK(X509_REVOKED_set_serialNumber(
		          r, X509_get_serialNumber(revoked)),
		    "cannot set revoked serial");
		set_time(t, utc(2026, 2, 1), "revocation date");
		CHECK(X509_REVOKED_set_revocationDate(r, t),
		    "cannot set revocation date");
		CHECK(ASN1_ENUMERATED_set(reason, 1) && /* keyCompromise */
		        X509_REVOKED_add1_ext_i2d(
		            r, NID_crl_reason, reason, 0, 0),
		    "cannot set revocation reason");
		ASN1_ENUMERATED_free(reason);
		CHECK(
		    X509_CRL_add0_revoked(crl, r), "cannot add revoked entry");
	}

	CHECK(ASN1_INTEGER_set(num, 1) &&
	        X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0),
	    "cannot set CRL number");
	X509V3_set_ctx(&ctx, issuer, NULL, NULL, crl, 0);
	aki = X509V3_EXT_nconf_nid(
	    NULL, &ctx, NID_authority_key_identifier, "keyid:always");
	CHECK(aki != NULL && X509_CRL_add_ext(crl, aki, -1),
	    "cannot add CRL authorityKeyIdentifier");
	X509_EXTENSION_free(aki);

	CHECK(X509_CRL_sort(crl), "cannot sort CRL");
	CHECK(X509_CRL_sign(crl, issuer_key, EVP_sha256()) > 0,
	    "cannot sign CRL %s", file);
	fp = open_out(file, path, sizeof(path));
	CHECK(PEM_write_X509_CRL(fp, crl), "cannot write %s", path);
	close_out(fp, path);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
}

/* ---- leaf-badsig ------------------------------------------------------ */

/* leaf's DER with the last byte (the end of the signature) flipped. */
static void
write_badsig(X509 *leaf)
{
	unsigned char *der = NULL;
	int len = i2d_X509(leaf, &der);
	char path[4096];
	FILE *fp;

	CHECK(len > 0, "cannot encode leaf");
	der[len - 1] ^= 0x01;
	fp = open_out("leaf-badsig.pem", path, sizeof(path));
	CHECK(PEM_write(fp, "CERTIFICATE", "", der, len), "cannot write %s",
	    path);
	close_out(fp, path);
	OPENSSL_free(der);
}

/* ---- many-leaves.pem -------------------------------------------------- */

/*
 * N leaves sharing one key. For speed a single X509 object is reused: only
 * the serial, subject and SAN change between leaves, and X509_sign re-encodes
 * the TBSCertificate each time. (OpenSSL 3.0's X509_set_pubkey alone costs
 * ~0.2 ms, as it round-trips the key through the encoder/decoder machinery;
 * signing is ~0.04 ms.)
 */
static void
write_many_leaves(long n, X509 *ica, EVP_PKEY *ica_key)
{
	static const struct ext fixed[] = {
	    {NID_basic_constraints, "CA:FALSE"},
	    {NID_key_usage, "critical,digitalSignature"},
	    {NID_ext_key_usage, "serverAuth"},
	    {NID_subject_key_identifier, "hash"},
	    {NID_authority_key_identifier, "keyid:always"},
	};
	EVP_PKEY *key = ec_key();
	X509 *x = X509_new();
	char path[4096], label[64], cn[64], san[80];
	size_t i;
	FILE *fp;
	long k;

	CHECK(x != NULL, "out of memory");
	CHECK(X509_set_version(x, X509_VERSION_3) &&
	        X509_set_issuer_name(x, X509_get_subject_name(ica)) &&
	        X509_set_pubkey(x, key),
	    "cannot start the bench leaf template");
	set_time(X509_getm_notBefore(x), utc(2025, 1, 1), "notBefore");
	set_time(X509_getm_notAfter(x), utc(2027, 1, 1), "notAfter");
	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		add_ext(ica, x, fixed[i].nid, fixed[i].value);
	write_key("many-leaves", key);

	fp = open_out("many-leaves.pem", path, sizeof(path));
	for (k = 1; k <= n; k++) {
		X509_NAME *name;
		ASN1_INTEGER *serial;
		int loc;

		snprintf(cn, sizeof(cn), "leaf%05ld.bench.test", k);
		snprintf(label, sizeof(label), "many-leaves/%ld", k);
		snprintf(san, sizeof(san), "DNS:%s", cn);
		serial = serial_for(label);
		CHECK(X509_set_serialNumber(x, serial), "cannot set serial");
		ASN1_INTEGER_free(serial);
		name = make_name(cn, "certkit tests");
		CHECK(X509_set_subject_name(x, name),
		    "cannot set subject of %s", cn);
		X509_NAME_free(name);
		loc = X509_get_ext_by_NID(x, NID_subject_alt_name, -1);
		if (loc >= 0)
			X509_EXTENSION_free(X509_delete_ext(x, loc));
		add_ext(ica, x, NID_subject_alt_name, san);
		CHECK(X509_sign(x, ica_key, EVP_sha256()) > 0, "cannot sign %s",
		    cn);
		CHECK(PEM_write_X509(fp, x), "cannot write %s", path);
	}
	close_out(fp, path);
	X509_free(x);
	EVP_PKEY_free(key);
}

/* ---- the PKI ---------------------------------------------------------- */

#define URL "http://127.0.0.1:8080/"

static const struct ext root_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
    {0, NULL},
};

static const struct ext int_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {NID_info_access,
        "caIssuers;URI:" URL "root-ca.der,"
        "OCSP;URI:" URL "ocsp"},
    {NID_crl_distribution_points, "URI:" URL "root.crl"},
    {0, NULL},
};

static const struct ext nc_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {NID_name_constraints, "critical,permitted;DNS:.allowed.test"},
    {0, NULL},
};

static const struct ext sub_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {0, NULL},
};

static const struct ext leaf_exts[] = {
    {NID_basic_constraints, "CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "serverAuth,clientAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {NID_subject_alt_name,
        "DNS:device.example.test,"
        "DNS:*.cams.example.test,IP:192.0.2.10,IP:2001:db8::10,"
        "email:admin@example.test,URI:https://device.example.test/"},
    {NID_info_access, "caIssuers;URI:" URL "int-ca.der"},
    {NID_crl_distribution_points, "URI:" URL "int.crl"},
    {0, NULL},
};

/* Common shape of the simple leaves: CA:FALSE, digitalSignature, EKU, SKI,
 * AKI and a single DNS SAN. */
#define SIMPLE_LEAF(name, eku, san)                                            \
	static const struct ext name[] = {                                     \
	    {NID_basic_constraints, "CA:FALSE"},                               \
	    {NID_key_usage, "critical,digitalSignature"},                      \
	    {NID_ext_key_usage, eku},                                          \
	    {NID_subject_key_identifier, "hash"},                              \
	    {NID_authority_key_identifier, "keyid:always"},                    \
	    {NID_subject_alt_name, san},                                       \
	    {0, NULL},                                                         \
	}

SIMPLE_LEAF(expired_exts, "serverAuth", "DNS:expired.example.test");
SIMPLE_LEAF(notyet_exts, "serverAuth", "DNS:future.example.test");
SIMPLE_LEAF(client_exts, "clientAuth", "DNS:gateway-01.example.test");
SIMPLE_LEAF(weak_exts, "serverAuth", "DNS:weakkey.example.test");
SIMPLE_LEAF(sha1_exts, "serverAuth", "DNS:sha1.example.test");
SIMPLE_LEAF(other_leaf_exts, "serverAuth", "DNS:other.example.test");
SIMPLE_LEAF(revoked_exts, "serverAuth", "DNS:revoked.example.test");
SIMPLE_LEAF(nc_ok_exts, "serverAuth", "DNS:ok.allowed.test");
SIMPLE_LEAF(nc_bad_exts, "serverAuth", "DNS:evil.example.test");
SIMPLE_LEAF(sub_leaf_exts, "serverAuth", "DNS:deep.example.test");
SIMPLE_LEAF(weakint_exts, "serverAuth", "DNS:weakint.example.test");
SIMPLE_LEAF(pss_exts, "serverAuth", "DNS:pss.example.test");
SIMPLE_LEAF(codesign_exts, "codeSigning", "DNS:codesign.example.test");

/* The name only in the CN, no subjectAltName: what verify --policy strict
 * refuses (cn_only_name) and compat warns about. */
static const struct ext cn_only_exts[] = {
    {NID_basic_constraints, "CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "serverAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
    {0, NULL},
};

/* Self-signed end-entity: no keyUsage, so OpenSSL treats it as self-signed
 * (a keyUsage without keyCertSign would make it merely "self-issued"). */
static const struct ext selfsigned_exts[] = {
    {NID_basic_constraints, "CA:FALSE"},
    {NID_ext_key_usage, "serverAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_subject_alt_name, "DNS:selfsigned.example.test"},
    {0, NULL},
};

/* ---- hostile names ---------------------------------------------------- */

/*
 * The bytes a hostile server puts in its names to attack a terminal: a
 * window title (OSC 0 ... BEL), a clear screen (CSI 2J), CR/LF to forge a
 * line, a NUL to cut a C string, a raw C1 CSI (0x9b) and its UTF-8 form
 * (U+009B), and a right-to-left override (U+202E).
 */
#define HOSTILE_CN                                                             \
	"evil\x1b]0;PWNED\x07\x1b[2J\r\nFAKE: ONLINE\x00tail\xc2\x9b"          \
	"31m\xe2\x80\xae"
#define HOSTILE_O "O\x1b[31mred\x7f\r\nFAKE: ORG"

static X509_NAME *
hostile_name(const char *cn, size_t cnlen)
{
	X509_NAME *n = X509_NAME_new();

	CHECK(n != NULL, "out of memory");
	CHECK(X509_NAME_add_entry_by_txt(n, "C", MBSTRING_ASC,
	          (const unsigned char *)"US", -1, -1, 0) &&
	        X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	            (const unsigned char *)HOSTILE_O, -1, -1, 0) &&
	        X509_NAME_add_entry_by_txt(n, "CN", V_ASN1_UTF8STRING,
	            (const unsigned char *)cn, (int)cnlen, -1, 0),
	    "cannot build a hostile name");
	return n;
}

/* A SAN dNSName (IA5String, bytes as given) with ESC, BEL, CR, LF and a raw
 * 0x9b. */
static void
add_hostile_san(X509 *x)
{
	static const char dns[] =
	    "x\x1b]2;TITLE\x07\r\nFAKE: ONLINE\x9b.example.test";
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

	CHECK(gens != NULL && gn != NULL && ia5 != NULL &&
	        ASN1_STRING_set(ia5, dns, (int)sizeof(dns) - 1),
	    "out of memory");
	GENERAL_NAME_set0_value(gn, GEN_DNS, ia5);
	CHECK(sk_GENERAL_NAME_push(gens, gn), "out of memory");
	CHECK(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, 0) == 1,
	    "cannot add a hostile SAN");
	GENERAL_NAMES_free(gens);
}

/* hostile-ca.pem (a self-signed CA) and hostile-leaf.pem (issued by it,
 * with a hostile SAN); both with HOSTILE_CN and HOSTILE_O, and keys. */
static void
make_hostile(time_t nb, time_t na)
{
	static const char cn[] = HOSTILE_CN;
	EVP_PKEY *cakey = ec_key(), *key = ec_key();
	X509 *ca = X509_new(), *x = X509_new();
	X509_NAME *n = hostile_name(cn, sizeof(cn) - 1);
	ASN1_INTEGER *serial;

	CHECK(ca != NULL && x != NULL, "out of memory");
	for (int i = 0; i < 2; i++) {
		X509 *c = i == 0 ? ca : x;

		serial = serial_for(i == 0 ? "hostile-ca" : "hostile-leaf");
		CHECK(X509_set_version(c, X509_VERSION_3) &&
		        X509_set_serialNumber(c, serial) &&
		        X509_set_subject_name(c, n) &&
		        X509_set_issuer_name(c, n) &&
		        X509_set_pubkey(c, i == 0 ? cakey : key),
		    "cannot build a hostile certificate");
		ASN1_INTEGER_free(serial);
		set_time(X509_getm_notBefore(c), nb, "notBefore");
		set_time(X509_getm_notAfter(c), na, "notAfter");
	}
	add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE");
	add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_ext(ca, ca, NID_subject_key_identifier, "hash");
	add_ext(ca, x, NID_basic_constraints, "CA:FALSE");
	add_ext(ca, x, NID_ext_key_usage, "serverAuth");
	add_ext(ca, x, NID_authority_key_identifier, "keyid:always");
	add_hostile_san(x);
	CHECK(X509_sign(ca, cakey, EVP_sha256()) > 0 &&
	        X509_sign(x, cakey, EVP_sha256()) > 0,
	    "cannot sign a hostile certificate");
	write_certs("hostile-ca.pem", ca, (X509 *)NULL);
	write_certs("hostile-leaf.pem", x, (X509 *)NULL);
	write_certs("hostile-chain.pem", x, ca, (X509 *)NULL);
	write_key("hostile-ca", cakey);
	write_key("hostile-leaf", key);
	X509_NAME_free(n);
	X509_free(ca);
	X509_free(x);
	EVP_PKEY_free(cakey);
	EVP_PKEY_free(key);
}

static void
usage(void)
{
	fputs("usage: mkpki [--leaves N] OUTDIR\n", stderr);
	exit(1);
}

/* One CA: its certificate and key. */
struct ca {
	X509 *cert;
	EVP_PKEY *key;
};

static void
ca_free(struct ca *c)
{
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
}

/* The root and the issuing CA every other certificate hangs off. */
static void
make_cas(struct ca *root, struct ca *ica)
{
	time_t y2020 = utc(2020, 1, 1), y2035 = utc(2035, 1, 1);
	time_t y2040 = utc(2040, 1, 1);

	root->key = rsa_key(2048);
	root->cert =
	    make_cert(&(struct certspec){"root-ca", "certkit Test Root CA",
	                  NULL, y2020, y2040, root_exts, NULL},
	        root->key, NULL, NULL);
	ica->key = ec_key();
	ica->cert =
	    make_cert(&(struct certspec){"int-ca", "certkit Test Issuing CA",
	                  NULL, y2020, y2035, int_exts, NULL},
	        ica->key, root->cert, root->key);
}

/* The leaf, its chain files, and its variants (dates, usage, strength). */
static void
make_leaves(const struct ca *root, const struct ca *ica)
{
	time_t y2020 = utc(2020, 1, 1), y2021 = utc(2021, 1, 1);
	time_t y2025 = utc(2025, 1, 1), y2027 = utc(2027, 1, 1);
	time_t y2030 = utc(2030, 1, 1), y2031 = utc(2031, 1, 1);
	EVP_PKEY *leaf_key = ec_key();
	X509 *leaf;

	leaf = make_cert(&(struct certspec){"leaf", "device.example.test", NULL,
	                     y2025, y2027, leaf_exts, NULL},
	    leaf_key, ica->cert, ica->key);
	write_badsig(leaf);
	write_certs("chain.pem", leaf, ica->cert, (X509 *)NULL);
	write_certs("fullchain.pem", leaf, ica->cert, root->cert, (X509 *)NULL);
	X509_free(leaf);
	EVP_PKEY_free(leaf_key);

	make_leaf(&(struct certspec){"leaf-expired", "expired.example.test",
	              NULL, y2020, y2021, expired_exts, NULL},
	    0, ica->cert, ica->key);
	make_leaf(&(struct certspec){"leaf-notyet", "future.example.test", NULL,
	              y2030, y2031, notyet_exts, NULL},
	    0, ica->cert, ica->key);
	make_leaf(
	    &(struct certspec){"leaf-selfsigned", "selfsigned.example.test",
	        NULL, y2025, y2027, selfsigned_exts, NULL},
	    0, NULL, NULL);
	make_leaf(&(struct certspec){"leaf-client", "gateway-01", NULL, y2025,
	              y2027, client_exts, NULL},
	    0, ica->cert, ica->key);
	make_leaf(&(struct certspec){"leaf-weakkey", "weakkey.example.test",
	              NULL, y2025, y2027, weak_exts, NULL},
	    1024, ica->cert, ica->key);
	make_leaf(&(struct certspec){"leaf-sha1", "sha1.example.test", NULL,
	              y2025, y2027, sha1_exts, EVP_sha1()},
	    0, ica->cert, ica->key);
	make_leaf(
	    &(struct certspec){"leaf-ca-eku-codesign", "codesign.example.test",
	        NULL, y2025, y2027, codesign_exts, NULL},
	    0, ica->cert, ica->key);
	make_leaf(&(struct certspec){"leaf-cn-only", "cnonly.example.test",
	              NULL, y2025, y2027, cn_only_exts, NULL},
	    0, ica->cert, ica->key);
}

/* An untrusted hierarchy, and the revoked leaf with both CRLs. */
static void
make_other_and_revoked(const struct ca *root, const struct ca *ica)
{
	time_t y2020 = utc(2020, 1, 1), y2025 = utc(2025, 1, 1);
	time_t y2027 = utc(2027, 1, 1), y2040 = utc(2040, 1, 1);
	struct ca other, revoked;

	other.key = ec_key();
	other.cert =
	    make_cert(&(struct certspec){"other-root", "Other Untrusted Root",
	                  NULL, y2020, y2040, root_exts, NULL},
	        other.key, NULL, NULL);
	make_leaf(&(struct certspec){"other-leaf", "other.example.test", NULL,
	              y2025, y2027, other_leaf_exts, NULL},
	    0, other.cert, other.key);

	revoked.key = ec_key();
	revoked.cert =
	    make_cert(&(struct certspec){"leaf-revoked", "revoked.example.test",
	                  NULL, y2025, y2027, revoked_exts, NULL},
	        revoked.key, ica->cert, ica->key);
	make_crl("int-ca.crl", ica->cert, ica->key, revoked.cert);
	make_crl("root-ca.crl", root->cert, root->key, NULL);
	ca_free(&other);
	ca_free(&revoked);
}

/* Name constraints and a path length the sub CA violates. */
static void
make_constrained(const struct ca *root, const struct ca *ica)
{
	time_t y2020 = utc(2020, 1, 1), y2025 = utc(2025, 1, 1);
	time_t y2027 = utc(2027, 1, 1), y2035 = utc(2035, 1, 1);
	struct ca nc, sub;

	nc.key = ec_key();
	nc.cert =
	    make_cert(&(struct certspec){"nc-ca", "certkit Constrained CA",
	                  NULL, y2020, y2035, nc_exts, NULL},
	        nc.key, root->cert, root->key);
	make_leaf(&(struct certspec){"nc-leaf-ok", "ok.allowed.test", NULL,
	              y2025, y2027, nc_ok_exts, NULL},
	    0, nc.cert, nc.key);
	make_leaf(&(struct certspec){"nc-leaf-bad", "evil.example.test", NULL,
	              y2025, y2027, nc_bad_exts, NULL},
	    0, nc.cert, nc.key);

	sub.key = ec_key();
	sub.cert = make_cert(
	    &(struct certspec){"sub-ca", "certkit Sub CA (violates pathlen)",
	        NULL, y2020, y2035, sub_exts, NULL},
	    sub.key, ica->cert, ica->key);
	make_leaf(&(struct certspec){"sub-leaf", "deep.example.test", NULL,
	              y2025, y2027, sub_leaf_exts, NULL},
	    0, sub.cert, sub.key);
	ca_free(&nc);
	ca_free(&sub);
}

/* Keys under 112-bit security that a check by key type can miss: an
 * RSA-1024 intermediate, and a 1024-bit RSA-PSS leaf. */
static void
make_weak(const struct ca *root, const struct ca *ica)
{
	time_t y2020 = utc(2020, 1, 1), y2025 = utc(2025, 1, 1);
	time_t y2027 = utc(2027, 1, 1), y2035 = utc(2035, 1, 1);
	EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
	EVP_PKEY *pss_key = NULL;
	struct ca weak;

	weak.key = rsa_key(1024);
	weak.cert = make_cert(
	    &(struct certspec){"weak-int-ca", "certkit Weak RSA-1024 CA", NULL,
	        y2020, y2035, int_exts, NULL},
	    weak.key, root->cert, root->key);
	make_leaf(&(struct certspec){"leaf-weakint", "weakint.example.test",
	              NULL, y2025, y2027, weakint_exts, NULL},
	    0, weak.cert, weak.key);
	CHECK(kc != NULL && EVP_PKEY_keygen_init(kc) > 0 &&
	        EVP_PKEY_CTX_set_rsa_keygen_bits(kc, 1024) > 0 &&
	        EVP_PKEY_generate(kc, &pss_key) > 0 && pss_key != NULL,
	    "cannot generate RSA-PSS-1024 key");
	EVP_PKEY_CTX_free(kc);
	X509_free(
	    make_cert(&(struct certspec){"leaf-pss1024", "pss.example.test",
	                  NULL, y2025, y2027, pss_exts, NULL},
	        pss_key, ica->cert, ica->key));
	EVP_PKEY_free(pss_key);
	ca_free(&weak);
}

/* `mkpki OUTDIR` or `mkpki --leaves N OUTDIR`: sets outdir, returns N
 * (0 without --leaves), exits 1 on a bad N. */
static long
parse_args(int argc, char **argv)
{
	long leaves = 0;
	char *end;

	if (argc == 4 && strcmp(argv[1], "--leaves") == 0) {
		errno = 0;
		leaves = strtol(argv[2], &end, 10);
		if (errno != 0 || end == argv[2] || *end != '\0' ||
		    leaves < 1 || leaves > 1000000) {
			fprintf(stderr,
			    "mkpki: --leaves wants 1..1000000, "
			    "not '%s'\n",
			    argv[2]);
			exit(1);
		}
		outdir = argv[3];
	} else if (argc == 2 && argv[1][0] != '-') {
		outdir = argv[1];
	} else {
		usage();
	}
	return leaves;
}

int
main(int argc, char **argv)
{
	long leaves = parse_args(argc, argv);
	struct ca root, ica;

	make_cas(&root, &ica);
	make_leaves(&root, &ica);
	make_other_and_revoked(&root, &ica);
	make_constrained(&root, &ica);
	make_weak(&root, &ica);
	make_hostile(utc(2025, 1, 1), utc(2027, 1, 1));
	if (leaves > 0)
		write_many_leaves(leaves, ica.cert, ica.key);
	ca_free(&ica);
	ca_free(&root);
	return 0;
}
