/*
 * lab_pki.c: the certificates of `certkit lab`, made at start-up with
 * OpenSSL in a few milliseconds (EC P-256 keys; RSA only where a weak key is
 * the point).
 *
 * The hierarchy (the doctor must tell each branch apart):
 *
 *   certkit Lab Public Root X1 ──► certkit Lab Public CA R3 ──► most leaves
 *        (store + reference)           (served by the AIA server)
 *
 *   certkit Lab Old Root CA X3 ──► Root X2 (cross-sign) ─┐
 *        (store only, EXPIRED)                           ├► Issuing CA E1
 *   certkit Lab Root X2 (reference only) ────────────────┘
 *        modelled on DST Root CA X3 / ISRG Root X1 (September 2021)
 *
 *   certkit Lab Services Root G2 (reference only) ──► Services CA G2
 *        modelled on "Starfield Root Certificate Authority - G2"
 *
 *   Zscaler Root CA ──► Zscaler Intermediate Root CA (zscaler.net)
 *        an SSL-inspection CA in no reference (the ZPE Cloud article)
 *
 *   Acme-CA-Root ──► Acme-CA-Intermediate          a private PKI (SAFEQ)
 *   certkit Lab Device CA ──► client certificates  (mutual TLS)
 *   Rogue Device CA ──► a client certificate no server trusts
 *
 * Every certificate issued by a public-like CA carries an AIA caIssuers URL
 * (RFC 5280 4.2.2.1) pointing at the lab's AIA server, so the lab binds that
 * server before it makes the PKI.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "lab_int.h"

#define DAY 86400L

static const struct ca_spec {
	const char *file;    /* served at AIA/ca/FILE; NULL: no AIA */
	const char *subject; /* "C=US/O=.../CN=..." */
	int issuer;          /* LAB_CA_SELF or the issuing CA */
	int key_of;          /* reuse that CA's key (a cross-sign), or -1 */
	long nb_days, na_days;
	int pathlen; /* -1: none */
} cas[LAB_CA_COUNT] = {
    [LAB_CA_X1] = {"x1.der",
        "C=US/O=certkit Lab Trust Services/CN=certkit Lab Public Root X1",
        LAB_CA_SELF, -1, -400, 7300, -1},
    [LAB_CA_R3] = {"r3.der",
        "C=US/O=certkit Lab Trust Services/CN=certkit Lab Public CA R3",
        LAB_CA_X1, -1, -200, 1095, 0},
    [LAB_CA_OLD] = {"x3.der",
        "O=certkit Lab Digital Signature Trust Co./"
        "CN=certkit Lab Old Root CA X3",
        LAB_CA_SELF, -1, -7300, -30, -1},
    [LAB_CA_X2] = {"x2.der",
        "C=US/O=certkit Lab Security Research Group/"
        "CN=certkit Lab Root X2",
        LAB_CA_SELF, -1, -1000, 7300, -1},
    [LAB_CA_X2X] = {"x2-cross.der",
        "C=US/O=certkit Lab Security Research Group/"
        "CN=certkit Lab Root X2",
        LAB_CA_OLD, LAB_CA_X2, -900, 365, -1},
    [LAB_CA_E1] = {"e1.der",
        "C=US/O=certkit Lab Security Research Group/"
        "CN=certkit Lab Issuing CA E1",
        LAB_CA_X2, -1, -200, 1095, 0},
    [LAB_CA_G2] = {"g2.der",
        "C=US/ST=Arizona/L=Scottsdale/O=certkit Lab Services, Inc./"
        "CN=certkit Lab Services Root Certificate Authority - G2",
        LAB_CA_SELF, -1, -3000, 7300, -1},
    [LAB_CA_G2I] = {"g2-secure.der",
        "C=US/ST=Arizona/L=Scottsdale/O=certkit Lab Services, Inc./"
        "CN=certkit Lab Services Secure CA - G2",
        LAB_CA_G2, -1, -300, 1500, 0},
    [LAB_CA_ZS] = {NULL,
        "C=US/ST=California/L=San Jose/O=Zscaler Inc./OU=Zscaler Inc./"
        "CN=Zscaler Root CA",
        LAB_CA_SELF, -1, -2000, 5000, -1},
    [LAB_CA_ZSI] = {NULL,
        "C=US/ST=California/L=San Jose/O=Zscaler Inc./OU=Zscaler Inc./"
        "CN=Zscaler Intermediate Root CA (zscaler.net)",
        LAB_CA_ZS, -1, -1000, 3000, 0},
    [LAB_CA_ACME] = {NULL, "O=Acme Corp/OU=IT/CN=Acme-CA-Root", LAB_CA_SELF, -1,
        -800, 3650, -1},
    [LAB_CA_ACMEI] = {NULL, "O=Acme Corp/OU=IT/CN=Acme-CA-Intermediate",
        LAB_CA_ACME, -1, -700, 1825, 0},
    [LAB_CA_DEV] = {NULL, "O=certkit Lab/CN=certkit Lab Device CA", LAB_CA_SELF,
        -1, -400, 3650, 0},
    [LAB_CA_ROGUE] = {NULL, "O=Unknown Vendor/CN=Rogue Device CA", LAB_CA_SELF,
        -1, -400, 3650, 0},
};

static const struct client_spec {
	int issuer;
	const char *cn;
	long nb_days, na_days;
} clients[LAB_CLIENT_COUNT] = {
    [LAB_CLIENT_NONE] = {-1, NULL, 0, 0},
    [LAB_CLIENT_PAIRED] = {LAB_CA_DEV, "nvr-0001.lab.test", -10, 365},
    [LAB_CLIENT_UNKNOWN] = {LAB_CA_ROGUE, "nvr-0002.lab.test", -10, 365},
    [LAB_CLIENT_EXPIRED] = {LAB_CA_DEV, "nvr-0003.lab.test", -400, -35},
    [LAB_CLIENT_REVOKED] = {LAB_CA_DEV, "nvr-0004.lab.test", -10, 365},
    [LAB_CLIENT_UNPAIRED] = {LAB_CA_DEV, "nvr-0005.lab.test", -10, 365},
};

const char *
cki_lab_ca_file(int ca)
{
	if (ca < 0 || ca >= LAB_CA_COUNT)
		return NULL;
	return cas[ca].file;
}

void
cki_lab_id_clear(struct cki_lab_id *id)
{
	X509_free(id->cert);
	EVP_PKEY_free(id->key);
	id->cert = NULL;
	id->key = NULL;
}

void
cki_lab_pki_free(struct cki_lab_pki *p)
{
	if (p == NULL)
		return;
	for (int i = 0; i < LAB_CA_COUNT; i++)
		cki_lab_id_clear(&p->ca[i]);
	for (int i = 0; i < LAB_CLIENT_COUNT; i++)
		cki_lab_id_clear(&p->client[i]);
	X509_CRL_free(p->dev_crl);
	free(p);
}

/* "C=US/O=Acme/CN=x" -> X509_NAME. Values never contain '/'. */
static X509_NAME *
parse_name(const char *spec)
{
	X509_NAME *n = X509_NAME_new();
	const char *p = spec;

	if (n == NULL)
		return NULL;
	while (*p != '\0') {
		char field[16], value[128];
		const char *eq = strchr(p, '='), *end;
		size_t fl, vl;

		if (eq == NULL)
			goto err;
		end = strchr(eq, '/');
		if (end == NULL)
			end = eq + strlen(eq);
		fl = (size_t)(eq - p);
		vl = (size_t)(end - eq - 1);
		if (fl == 0 || fl >= sizeof(field) || vl >= sizeof(value))
			goto err;
		memcpy(field, p, fl);
		field[fl] = '\0';
		memcpy(value, eq + 1, vl);
		value[vl] = '\0';
		if (!X509_NAME_add_entry_by_txt(n, field, MBSTRING_UTF8,
		        (const unsigned char *)value, -1, -1, 0))
			goto err;
		p = *end == '/' ? end + 1 : end;
	}
	return n;
err:
	X509_NAME_free(n);
	return NULL;
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value)) == NULL)
		return 0;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok;
}

static int
set_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	int ok = 0;

	/* RFC 5280 4.1.2.2: positive, at most 20 octets, unique per CA. */
	if (RAND_bytes(b, sizeof(b)) != 1)
		return 0;
	b[0] = (unsigned char)((b[0] & 0x7f) | 0x40);
	if ((bn = BN_bin2bn(b, sizeof(b), NULL)) != NULL)
		ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

struct mk {
	const char *subject;
	X509 *issuer; /* NULL: self-signed */
	EVP_PKEY *issuer_key;
	const char *issuer_file; /* AIA caIssuers file, or NULL */
	EVP_PKEY *key;           /* the subject's key */
	long nb_days, na_days;
	int ca, pathlen;
	const char *san;
	const char *eku; /* "serverAuth" / "clientAuth" */
	int sha1;
	int ocsp;
};

static X509 *
mkcert(const struct cki_lab_pki *p, const struct mk *m)
{
	X509 *x = NULL;
	X509_NAME *subj = NULL;
	time_t now = time(NULL);
	char buf[256];
	int ok = 0;

	if ((x = X509_new()) == NULL || (subj = parse_name(m->subject)) == NULL)
		goto err;
	if (!X509_set_version(x, X509_VERSION_3) || !set_serial(x) ||
	    !X509_set_subject_name(x, subj) ||
	    !X509_set_issuer_name(x,
	        m->issuer != NULL ? X509_get_subject_name(m->issuer) : subj) ||
	    X509_time_adj_ex(
	        X509_getm_notBefore(x), (int)m->nb_days, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)m->na_days, 0, &now) ==
	        NULL ||
	    !X509_set_pubkey(x, m->key))
		goto err;
	if (m->ca) {
		if (m->pathlen >= 0)
			snprintf(buf, sizeof(buf),
			    "critical,CA:TRUE,pathlen:%d", m->pathlen);
		else
			snprintf(buf, sizeof(buf), "critical,CA:TRUE");
		if (!add_ext(x, m->issuer, NID_basic_constraints, buf) ||
		    !add_ext(x, m->issuer, NID_key_usage,
		        "critical,keyCertSign,cRLSign,digitalSignature"))
			goto err;
	} else {
		const char *ku = EVP_PKEY_get_base_id(m->key) == EVP_PKEY_RSA
		    ? "critical,digitalSignature,keyEncipherment"
		    : "critical,digitalSignature";

		if (!add_ext(x, m->issuer, NID_basic_constraints,
		        "critical,CA:FALSE") ||
		    !add_ext(x, m->issuer, NID_key_usage, ku))
			goto err;
	}
	if (m->eku != NULL && !add_ext(x, m->issuer, NID_ext_key_usage, m->eku))
		goto err;
	if (m->san != NULL) {
		snprintf(buf, sizeof(buf), "DNS:%s", m->san);
		if (!add_ext(x, m->issuer, NID_subject_alt_name, buf))
			goto err;
	}
	if (!add_ext(x, x, NID_subject_key_identifier, "hash"))
		goto err;
	if (m->issuer != NULL &&
	    !add_ext(x, m->issuer, NID_authority_key_identifier, "keyid"))
		goto err;
	/* RFC 5280 4.2.2.1: where to fetch the issuer, and the responder. */
	if (m->issuer_file != NULL) {
		if (m->ocsp)
			snprintf(buf, sizeof(buf),
			    "caIssuers;URI:%s/ca/%s,OCSP;URI:%s/ocsp",
			    p->aia_base, m->issuer_file, p->aia_base);
		else
			snprintf(buf, sizeof(buf), "caIssuers;URI:%s/ca/%s",
			    p->aia_base, m->issuer_file);
		if (!add_ext(x, m->issuer, NID_info_access, buf))
			goto err;
	}
	if (X509_sign(x, m->issuer_key != NULL ? m->issuer_key : m->key,
	        m->sha1 ? EVP_sha1() : EVP_sha256()) == 0)
		goto err;
	ok = 1;
err:
	X509_NAME_free(subj);
	if (!ok) {
		X509_free(x);
		x = NULL;
	}
	return x;
}

static EVP_PKEY *
genkey(int rsa_bits)
{
	if (rsa_bits > 0)
		return EVP_RSA_gen((unsigned int)rsa_bits);
	return EVP_EC_gen("P-256");
}

static X509_CRL *
mkcrl(const struct cki_lab_id *ca, X509 *revoked)
{
	X509_CRL *crl = NULL;
	X509_REVOKED *rev = NULL;
	ASN1_TIME *t = NULL;
	time_t now = time(NULL);
	int ok = 0;

	if ((crl = X509_CRL_new()) == NULL ||
	    (rev = X509_REVOKED_new()) == NULL || (t = ASN1_TIME_new()) == NULL)
		goto err;
	/* RFC 5280 5.1: v2 CRL, thisUpdate <= now < nextUpdate. */
	if (!X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)) ||
	    X509_time_adj_ex(t, -1, 0, &now) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, t) ||
	    X509_time_adj_ex(t, 30, 0, &now) == NULL ||
	    !X509_CRL_set1_nextUpdate(crl, t) ||
	    !X509_REVOKED_set_serialNumber(
	        rev, X509_get_serialNumber(revoked)) ||
	    X509_time_adj_ex(t, -2, 0, &now) == NULL ||
	    !X509_REVOKED_set_revocationDate(rev, t) ||
	    !X509_CRL_add0_revoked(crl, rev))
		goto err;
	rev = NULL;
	if (!X509_CRL_sort(crl) ||
	    X509_CRL_sign(crl, ca->key, EVP_sha256()) == 0)
		goto err;
	ok = 1;
err:
	X509_REVOKED_free(rev);
	ASN1_TIME_free(t);
	if (!ok) {
		X509_CRL_free(crl);
		crl = NULL;
	}
	return crl;
}

ck_status
cki_lab_pki_new(ck_ctx *ctx, const char *aia_base, struct cki_lab_pki **out)
{
	struct cki_lab_pki *p;
	ck_status rv = CK_E_INTERNAL;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	snprintf(p->aia_base, sizeof(p->aia_base), "%s", aia_base);
	for (int i = 0; i < LAB_CA_COUNT; i++) {
		const struct ca_spec *s = &cas[i];
		struct mk m = {0};

		if (s->key_of >= 0) {
			if (!EVP_PKEY_up_ref(p->ca[s->key_of].key))
				goto ossl;
			p->ca[i].key = p->ca[s->key_of].key;
		} else if ((p->ca[i].key = genkey(0)) == NULL) {
			goto ossl;
		}
		m.subject = s->subject;
		if (s->issuer != LAB_CA_SELF) {
			m.issuer = p->ca[s->issuer].cert;
			m.issuer_key = p->ca[s->issuer].key;
			m.issuer_file = cas[s->issuer].file;
		}
		m.key = p->ca[i].key;
		m.nb_days = s->nb_days;
		m.na_days = s->na_days;
		m.ca = 1;
		m.pathlen = s->pathlen;
		if ((p->ca[i].cert = mkcert(p, &m)) == NULL)
			goto ossl;
	}
	for (int i = 1; i < LAB_CLIENT_COUNT; i++) {
		const struct client_spec *c = &clients[i];
		struct mk m = {0};
		char subj[128];

		snprintf(subj, sizeof(subj), "O=certkit Lab/CN=%s", c->cn);
		if ((p->client[i].key = genkey(0)) == NULL)
			goto ossl;
		m.subject = subj;
		m.issuer = p->ca[c->issuer].cert;
		m.issuer_key = p->ca[c->issuer].key;
		m.key = p->client[i].key;
		m.nb_days = c->nb_days;
		m.na_days = c->na_days;
		m.san = c->cn;
		m.eku = "clientAuth";
		if ((p->client[i].cert = mkcert(p, &m)) == NULL)
			goto ossl;
	}
	if ((p->dev_crl = mkcrl(&p->ca[LAB_CA_DEV],
	         p->client[LAB_CLIENT_REVOKED].cert)) == NULL)
		goto ossl;
	*out = p;
	return CK_OK;
ossl:
	rv = cki_err(ctx, CK_E_INTERNAL, "lab: cannot make the lab's PKI: %s",
	    cki_ossl_reason());
	cki_lab_pki_free(p);
	return rv;
}

ck_status
cki_lab_leaf(ck_ctx *ctx, const struct cki_lab_pki *p,
    const struct cki_lab_leaf_spec *s, struct cki_lab_id *out)
{
	struct mk m = {0};
	char subj[160];

	out->cert = NULL;
	if ((out->key = genkey(s->rsa_bits)) == NULL)
		goto ossl;
	snprintf(subj, sizeof(subj), "C=US/O=certkit Lab/CN=%s", s->cn);
	m.subject = subj;
	if (s->issuer != LAB_CA_SELF) {
		m.issuer = p->ca[s->issuer].cert;
		m.issuer_key = p->ca[s->issuer].key;
		m.issuer_file = cas[s->issuer].file;
	}
	m.key = out->key;
	m.nb_days = s->nb_days;
	m.na_days = s->na_days;
	m.san = s->san;
	m.eku = "serverAuth";
	m.sha1 = s->sha1;
	m.ocsp = s->ocsp;
	if ((out->cert = mkcert(p, &m)) == NULL)
		goto ossl;
	return CK_OK;
ossl:
	cki_lab_id_clear(out);
	return cki_err(ctx, CK_E_INTERNAL,
	    "lab: cannot make the certificate for %s: %s", s->cn,
	    cki_ossl_reason());
}

ck_status
cki_lab_ocsp_response(ck_ctx *ctx, const struct cki_lab_pki *p, int ca,
    X509 *leaf, int revoked, uint8_t **der, size_t *len)
{
	OCSP_CERTID *id = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_RESPONSE *resp = NULL;
	ASN1_TIME *thisupd = NULL, *nextupd = NULL, *revtime = NULL;
	unsigned char *buf = NULL;
	int n;
	ck_status rv = CK_E_INTERNAL;

	*der = NULL;
	*len = 0;
	/* RFC 6960 4.1.1: CertID with SHA-1, which every client accepts. */
	if ((id = OCSP_cert_to_id(EVP_sha1(), leaf, p->ca[ca].cert)) == NULL ||
	    (bs = OCSP_BASICRESP_new()) == NULL ||
	    (thisupd = X509_gmtime_adj(NULL, -3600)) == NULL ||
	    (nextupd = X509_gmtime_adj(NULL, 7 * DAY)) == NULL ||
	    (revtime = X509_gmtime_adj(NULL, -2 * DAY)) == NULL)
		goto err;
	/* RFC 6960 4.2.1: certStatus revoked carries the time and reason. */
	if (OCSP_basic_add1_status(bs, id,
	        revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD,
	        revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1,
	        revoked ? revtime : NULL, thisupd, nextupd) == NULL)
		goto err;
	/* RFC 6960 4.2.2.2: the CA that issued the certificate signs
	 * directly; its certificate goes in `certs` for the client's check. */
	if (!OCSP_basic_sign(
	        bs, p->ca[ca].cert, p->ca[ca].key, EVP_sha256(), NULL, 0))
		goto err;
	if ((resp = OCSP_response_create(
	         OCSP_RESPONSE_STATUS_SUCCESSFUL, bs)) == NULL)
		goto err;
	if ((n = i2d_OCSP_RESPONSE(resp, &buf)) <= 0)
		goto err;
	if ((*der = malloc((size_t)n)) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(*der, buf, (size_t)n);
	*len = (size_t)n;
	rv = CK_OK;
	goto out;
err:
	rv = cki_err(ctx, CK_E_INTERNAL,
	    "lab: cannot make the OCSP response: %s", cki_ossl_reason());
out:
	OPENSSL_free(buf);
	OCSP_RESPONSE_free(resp);
	OCSP_BASICRESP_free(bs);
	OCSP_CERTID_free(id);
	ASN1_TIME_free(thisupd);
	ASN1_TIME_free(nextupd);
	ASN1_TIME_free(revtime);
	return rv;
}

static ck_status
append_bio(ck_ctx *ctx, BIO *bio, char **buf, size_t *len)
{
	BUF_MEM *mem;
	char *nb;

	BIO_get_mem_ptr(bio, &mem);
	if ((nb = realloc(*buf, *len + mem->length + 1)) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	memcpy(nb + *len, mem->data, mem->length);
	*len += mem->length;
	nb[*len] = '\0';
	*buf = nb;
	return CK_OK;
}

ck_status
cki_lab_pem_cert(ck_ctx *ctx, X509 *x, char **buf, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	ck_status rv;

	if (bio == NULL || !PEM_write_bio_X509(bio, x)) {
		BIO_free(bio);
		return cki_err(ctx, CK_E_INTERNAL, "lab: PEM encoding failed");
	}
	rv = append_bio(ctx, bio, buf, len);
	BIO_free(bio);
	return rv;
}

ck_status
cki_lab_pem_key(ck_ctx *ctx, EVP_PKEY *k, char **buf, size_t *len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	BUF_MEM *mem;
	ck_status rv;

	if (bio == NULL ||
	    !PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(bio);
		return cki_err(ctx, CK_E_INTERNAL, "lab: PEM encoding failed");
	}
	rv = append_bio(ctx, bio, buf, len);
	/* The memory BIO held the key: wipe it before it is freed. */
	BIO_get_mem_ptr(bio, &mem);
	OPENSSL_cleanse(mem->data, mem->length);
	BIO_free(bio);
	return rv;
}
