/*
 * ca.c: certkit's issuing CA on disk: init, load, show (see ca_int.h for
 * the directory's files).
 *
 * What init makes:
 *   root     CN = NAME Root, self-signed, 20 years; basicConstraints
 *            critical CA:TRUE; keyUsage critical keyCertSign, cRLSign; SKI
 *   issuing  CN = NAME, signed by the root, 10 years; basicConstraints
 *            critical CA:TRUE, pathlen:0 (it signs leaves only); keyUsage
 *            critical digitalSignature (it signs its OCSP responses itself,
 *            RFC 6960 section 4.2.2.2), keyCertSign, cRLSign; SKI, AKI
 * Both keys EC P-256 (default) or RSA 3072, serials 16 random bytes,
 * signatures with SHA-256.
 *
 * Invariants:
 *  1. init is atomic: every file is written and fsynced in DIR.new.XXXXXX,
 *     which is then renamed to DIR (and the parent fsynced): a crash leaves
 *     no CA or the whole CA, never a key without its certificate.
 *  2. A key file is created mode 0600 whatever the umask, O_EXCL.
 *  3. The root's key, when exported (--root-out), is written (and synced)
 *     before the CA is renamed into place, and never kept in DIR.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca_int.h"

#define ROOT_DAYS (20 * 365 + 5)
#define ISSUING_DAYS (10 * 365 + 2)
#define CKI_PATH 4096

bool
cki_ca_path(char *out, size_t size, const char *dir, const char *name)
{
	int n = snprintf(out, size, "%s/%s", dir, name);

	return n > 0 && (size_t)n < size;
}

bool
cki_ca_serial(X509 *x)
{
	unsigned char rnd[CK_CA_SERIAL_LEN];
	BIGNUM *bn;
	bool ok;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return false;
	rnd[0] = (unsigned char)((rnd[0] & 0x7f) | 0x40); /* positive, 16 B */
	if ((bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) == NULL)
		return false;
	ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

void
cki_ca_serial_hex(const X509 *x, char out[CK_CA_SERIAL_HEX])
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	size_t len = (size_t)ASN1_STRING_length(s);

	if (len > CK_CA_SERIAL_LEN)
		len = CK_CA_SERIAL_LEN; /* never for ours; keeps out bounded */
	cki_hex(ASN1_STRING_get0_data(s), len, out);
}

bool
cki_ca_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	bool ok;

	X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return false;
	ok = X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

/* A CA certificate for `key`, named `cn`, signed by issuer/ikey (NULL, NULL:
 * self-signed). */
static X509 *
make_ca_cert(ck_ctx *ctx, EVP_PKEY *key, const char *cn, X509 *issuer,
    EVP_PKEY *ikey, int days)
{
	X509 *x = NULL;
	X509_NAME *name = NULL;
	time_t now = cki_now(ctx);

	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !cki_ca_serial(x) || (name = X509_NAME_new()) == NULL ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	        (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(
	        x, issuer != NULL ? X509_get_subject_name(issuer) : name) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, -3600, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL ||
	    !X509_set_pubkey(x, key))
		goto ossl;
	if (!cki_ca_ext(x, issuer, NID_basic_constraints,
	        issuer != NULL ? "critical,CA:TRUE,pathlen:0"
	                       : "critical,CA:TRUE") ||
	    !cki_ca_ext(x, issuer, NID_key_usage,
	        issuer != NULL ? "critical,digitalSignature,keyCertSign,cRLSign"
	                       : "critical,keyCertSign,cRLSign") ||
	    !cki_ca_ext(x, issuer, NID_subject_key_identifier, "hash") ||
	    (issuer != NULL &&
	        !cki_ca_ext(
	            x, issuer, NID_authority_key_identifier, "keyid:always")))
		goto ossl;
	if (X509_sign(x, ikey != NULL ? ikey : key, EVP_sha256()) <= 0)
		goto ossl;
	X509_NAME_free(name);
	return x;
ossl:
	cki_err_keep(ctx, CK_E_INTERNAL,
	    "cannot make the CA certificate %s: %s", cn, cki_ossl_reason());
	X509_NAME_free(name);
	X509_free(x);
	return NULL;
}

static EVP_PKEY *
ca_keygen(ck_ctx *ctx, ck_ca_key type)
{
	EVP_PKEY *k = NULL;

	ERR_clear_error();
	if (type == CK_CA_KEY_EC_P256)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (type == CK_CA_KEY_RSA_3072)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	else
		cki_err(ctx, CK_E_USAGE,
		    "unknown CA key type %d: expected ec-p256 or rsa-3072",
		    (int)type);
	if (k == NULL)
		cki_err_keep(ctx, CK_E_INTERNAL,
		    "cannot generate the CA key: %s", cki_ossl_reason());
	return k;
}

/* Writes a key (PEM PKCS#8, unencrypted: the server signs unattended) to a
 * new file, mode 0600, synced; the PEM text is wiped. */
static ck_status
write_key(ck_ctx *ctx, const char *path, EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_secmem());
	char *data;
	long len;
	ck_status rv;

	if (b == NULL ||
	    !PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)) {
		BIO_free(b);
		return cki_err(ctx, CK_E_INTERNAL,
		    "%s: cannot encode the key: %s", path, cki_ossl_reason());
	}
	len = BIO_get_mem_data(b, &data);
	rv = cki_write_new(ctx, path, data, (size_t)len, 0600, true);
	BIO_free(b); /* secmem: wiped */
	return rv;
}

static ck_status
write_cert(ck_ctx *ctx, const char *dir, const char *name, X509 *x)
{
	char path[CKI_PATH];
	BIO *b = BIO_new(BIO_s_mem());
	char *data;
	long len;
	ck_status rv;

	if (!cki_ca_path(path, sizeof(path), dir, name)) {
		BIO_free(b);
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", dir);
	}
	if (b == NULL || !PEM_write_bio_X509(b, x)) {
		BIO_free(b);
		return cki_err(ctx, CK_E_INTERNAL, "%s: cannot encode: %s",
		    path, cki_ossl_reason());
	}
	len = BIO_get_mem_data(b, &data);
	rv = cki_write_new(ctx, path, data, (size_t)len, 0644, true);
	BIO_free(b);
	return rv;
}

/* Removes the files of a half-made CA directory, then the directory. */
static void
remove_tmp(const char *dir)
{
	static const char *const files[] = {
	    "ca.key", "ca.pem", "root.pem", "root.key"};
	char path[CKI_PATH];
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (cki_ca_path(path, sizeof(path), dir, files[i]))
			(void)unlink(path);
	(void)rmdir(dir);
}

/* CK_E_EXISTS if dir holds anything (a CA, or files init would hide). */
static ck_status
check_absent(ck_ctx *ctx, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	ck_status rv = CK_OK;

	if (d == NULL)
		return errno == ENOENT
		    ? CK_OK
		    : cki_err(ctx, CK_E_IO, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		rv = cki_err(ctx, CK_E_EXISTS,
		    "%s: a CA exists already (the directory holds %s); certkit "
		    "never replaces a CA's key: remove the directory first if "
		    "you mean to start over",
		    dir, e->d_name);
		break;
	}
	closedir(d);
	return rv;
}

struct made {
	EVP_PKEY *rkey, *ikey;
	X509 *root, *cert;
};

static void
made_free(struct made *m)
{
	EVP_PKEY_free(m->rkey);
	EVP_PKEY_free(m->ikey);
	X509_free(m->root);
	X509_free(m->cert);
}

static ck_status
make_material(ck_ctx *ctx, const ck_ca_init_opts *o, struct made *m)
{
	const char *name = o->name != NULL ? o->name : "certkit CA";
	char rname[256];
	int n = snprintf(rname, sizeof(rname), "%s Root", name);

	/* ub-common-name, RFC 5280 appendix A.1 */
	if (*name == '\0' || strlen(name) > 59 || n < 0 ||
	    (size_t)n >= sizeof(rname))
		return cki_err(ctx, CK_E_USAGE,
		    "CA name '%s': expected 1 to 59 characters (the root is "
		    "named NAME Root, a common name holds 64)",
		    name);
	if ((m->rkey = ca_keygen(ctx, o->key)) == NULL ||
	    (m->ikey = ca_keygen(ctx, o->key)) == NULL)
		return ck_ctx_status(ctx);
	if ((m->root = make_ca_cert(
	         ctx, m->rkey, rname, NULL, NULL, ROOT_DAYS)) == NULL ||
	    (m->cert = make_ca_cert(
	         ctx, m->ikey, name, m->root, m->rkey, ISSUING_DAYS)) == NULL)
		return ck_ctx_status(ctx);
	return CK_OK;
}

static ck_status
write_material(ck_ctx *ctx, const char *tmp, const struct made *m, bool root)
{
	char path[CKI_PATH];
	ck_status rv;

	if (!cki_ca_path(path, sizeof(path), tmp, "ca.key"))
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", tmp);
	if ((rv = write_key(ctx, path, m->ikey)) != CK_OK ||
	    (rv = write_cert(ctx, tmp, "ca.pem", m->cert)) != CK_OK ||
	    (rv = write_cert(ctx, tmp, "root.pem", m->root)) != CK_OK)
		return rv;
	if (root) {
		if (!cki_ca_path(path, sizeof(path), tmp, "root.key"))
			return cki_err(
			    ctx, CK_E_USAGE, "%s: path too long", tmp);
		if ((rv = write_key(ctx, path, m->rkey)) != CK_OK)
			return rv;
	}
	return cki_fsync_dir(ctx, tmp);
}

/* The directory holding `path` (strlen(path) < CKI_PATH). */
static void
parent_of(const char *path, char out[CKI_PATH])
{
	char *slash;

	memcpy(out, path, strlen(path) + 1);
	if ((slash = strrchr(out, '/')) == NULL)
		memcpy(out, ".", 2);
	else
		*(slash == out ? slash + 1 : slash) = '\0';
}

/* The exported root key: a new file (never replaced), synced with its
 * directory, before the CA exists. */
static ck_status
export_root(ck_ctx *ctx, const char *file, EVP_PKEY *rkey)
{
	char buf[CKI_PATH];
	ck_status rv;

	if (strlen(file) >= sizeof(buf))
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", file);
	if ((rv = write_key(ctx, file, rkey)) != CK_OK)
		return rv;
	parent_of(file, buf);
	return cki_fsync_dir(ctx, buf);
}

/* A CA object; takes cert, root and key (freed on failure). */
static ck_ca *
ca_new(const char *dir, X509 *cert, X509 *root, EVP_PKEY *key, bool kept)
{
	ck_ca *ca = calloc(1, sizeof(*ca));

	if (ca == NULL || (ca->dir = strdup(dir)) == NULL) {
		free(ca);
		X509_free(cert);
		X509_free(root);
		EVP_PKEY_free(key);
		return NULL;
	}
	ca->cert = cki_cert_wrap(cert); /* frees cert on failure */
	ca->root = cki_cert_wrap(root);
	ca->key = key;
	ca->days = CK_CA_CERT_DAYS;
	ca->root_key_kept = kept;
	if (ca->cert == NULL || ca->root == NULL) {
		ck_ca_free(ca);
		return NULL;
	}
	return ca;
}

/* Checks what init needs before any key is made. */
static ck_status
init_check(ck_ctx *ctx, const char *dir, const ck_ca_init_opts *o)
{
	struct stat st;
	ck_status rv;

	if (dir == NULL || *dir == '\0' || o == NULL)
		return cki_err(ctx, CK_E_USAGE, "ck_ca_init: no directory");
	if ((rv = check_absent(ctx, dir)) != CK_OK)
		return rv;
	if (o->root_out != NULL && lstat(o->root_out, &st) == 0)
		return cki_err(ctx, CK_E_EXISTS,
		    "%s: exists; the root key is written to a new file only "
		    "(never over another file)",
		    o->root_out);
	return CK_OK;
}

ck_status
ck_ca_init(ck_ctx *ctx, const char *dir, const ck_ca_init_opts *o, ck_ca **out)
{
	struct made m = {0};
	char tmp[CKI_PATH], parent[CKI_PATH];
	ck_status rv;
	bool made_tmp = false, exported = false;

	cki_begin(ctx);
	if (out != NULL)
		*out = NULL;
	if ((rv = init_check(ctx, dir, o)) != CK_OK)
		return rv;
	if (snprintf(tmp, sizeof(tmp), "%s.new.XXXXXX", dir) >=
	        (int)sizeof(tmp) ||
	    strlen(dir) >= sizeof(parent))
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", dir);
	parent_of(dir, parent);
	if ((rv = cki_mkdirs(ctx, parent, 0700)) != CK_OK ||
	    (rv = make_material(ctx, o, &m)) != CK_OK)
		goto err;
	if (mkdtemp(tmp) == NULL) {
		rv = cki_err(ctx, CK_E_IO, "%s: cannot create: %s", tmp,
		    strerror(errno));
		goto err;
	}
	made_tmp = true;
	if ((rv = write_material(ctx, tmp, &m, o->root_out == NULL)) != CK_OK)
		goto err;
	if (o->root_out != NULL &&
	    (rv = export_root(ctx, o->root_out, m.rkey)) != CK_OK)
		goto err;
	exported = o->root_out != NULL;
	if ((rv = check_absent(ctx, dir)) != CK_OK)
		goto err; /* another init won the race */
	(void)rmdir(
	    dir); /* an empty directory: rename needs it gone or empty */
	if ((rv = cki_replace(ctx, tmp, dir, parent)) != CK_OK)
		goto err;
	made_tmp = exported = false;
	if (out != NULL) {
		*out = ca_new(dir, m.cert, m.root, m.ikey, o->root_out == NULL);
		m.cert = m.root = NULL;
		m.ikey = NULL;
		if (*out == NULL) {
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
	}
	rv = CK_OK;
err:
	if (made_tmp)
		remove_tmp(tmp);
	if (exported)
		(void)unlink(o->root_out); /* the root of a CA never made */
	made_free(&m);
	return rv;
}

static X509 *
read_cert(ck_ctx *ctx, const char *dir, const char *name)
{
	char path[CKI_PATH];
	uint8_t *buf = NULL;
	size_t len;
	BIO *b = NULL;
	X509 *x = NULL;

	if (!cki_ca_path(path, sizeof(path), dir, name)) {
		cki_err(ctx, CK_E_USAGE, "%s: path too long", dir);
		return NULL;
	}
	if (cki_read_file(ctx, path, &buf, &len) != CK_OK)
		return NULL;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		cki_err(ctx, CK_E_FORMAT,
		    "%s: expected a PEM certificate, found none (%s)", path,
		    cki_ossl_reason());
	BIO_free(b);
	free(buf);
	return x;
}

static EVP_PKEY *
read_key(ck_ctx *ctx, const char *dir)
{
	char path[CKI_PATH];
	uint8_t *buf = NULL;
	size_t len = 0;
	BIO *b = NULL;
	EVP_PKEY *k = NULL;

	if (!cki_ca_path(path, sizeof(path), dir, "ca.key")) {
		cki_err(ctx, CK_E_USAGE, "%s: path too long", dir);
		return NULL;
	}
	if (cki_read_file(ctx, path, &buf, &len) != CK_OK)
		return NULL;
	if ((b = BIO_new_mem_buf(buf, (int)len)) == NULL ||
	    (k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL)
		cki_err(ctx, CK_E_FORMAT,
		    "%s: expected an unencrypted PEM private key, found none "
		    "(%s)",
		    path, cki_ossl_reason());
	BIO_free(b);
	OPENSSL_clear_free(buf, len);
	return k;
}

ck_status
ck_ca_load(ck_ctx *ctx, const char *dir, ck_ca **out)
{
	char path[CKI_PATH];
	X509 *cert = NULL, *root = NULL;
	EVP_PKEY *key = NULL;
	struct stat st;

	cki_begin(ctx);
	*out = NULL;
	if (!cki_ca_path(path, sizeof(path), dir, "ca.pem"))
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", dir);
	if (stat(path, &st) == -1 && errno == ENOENT)
		return cki_err(ctx, CK_E_NOTFOUND,
		    "%s: no CA here (no ca.pem); run 'certkit ca init'", dir);
	if ((cert = read_cert(ctx, dir, "ca.pem")) == NULL ||
	    (root = read_cert(ctx, dir, "root.pem")) == NULL ||
	    (key = read_key(ctx, dir)) == NULL)
		goto err;
	if (!cki_x509_issued_by(cert, root)) {
		cki_err(ctx, CK_E_FORMAT,
		    "%s/ca.pem: expected a certificate issued by root.pem, "
		    "found one that is not",
		    dir);
		goto err;
	}
	if (X509_check_private_key(cert, key) != 1) {
		cki_err(ctx, CK_E_FORMAT,
		    "%s/ca.key: does not match the certificate ca.pem", dir);
		goto err;
	}
	if (!cki_ca_path(path, sizeof(path), dir, "root.key"))
		goto err;
	*out = ca_new(dir, cert, root, key, stat(path, &st) == 0);
	return *out != NULL ? CK_OK : cki_err(ctx, CK_E_NOMEM, "out of memory");
err:
	X509_free(cert);
	X509_free(root);
	EVP_PKEY_free(key);
	return ck_ctx_status(ctx) != CK_OK ? ck_ctx_status(ctx) : CK_E_USAGE;
}

void
ck_ca_free(ck_ca *ca)
{
	if (ca == NULL)
		return;
	ck_cert_free(ca->cert);
	ck_cert_free(ca->root);
	EVP_PKEY_free(ca->key);
	free(ca->dir);
	free(ca->crl_url);
	free(ca->ocsp_url);
	free(ca);
}

ck_status
ck_ca_set_cert_days(ck_ca *ca, int days)
{
	if (ca == NULL || days < 1 || days > 3650)
		return CK_E_USAGE;
	ca->days = days;
	return CK_OK;
}

/* A URL for an extension: http(s), printable ASCII without ',' (the
 * OpenSSL config text of the extension splits on it). */
static bool
url_ok(const char *u)
{
	const char *p;

	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0)
		return false;
	for (p = u; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~' || *p == ',')
			return false;
	return strlen(u) < 1024;
}

ck_status
ck_ca_set_urls(ck_ca *ca, const char *crl_url, const char *ocsp_url)
{
	char *c = NULL, *o = NULL;

	if (ca == NULL || (crl_url != NULL && !url_ok(crl_url)) ||
	    (ocsp_url != NULL && !url_ok(ocsp_url)))
		return CK_E_USAGE;
	if ((crl_url != NULL && (c = strdup(crl_url)) == NULL) ||
	    (ocsp_url != NULL && (o = strdup(ocsp_url)) == NULL)) {
		free(c);
		return CK_E_NOMEM;
	}
	free(ca->crl_url);
	free(ca->ocsp_url);
	ca->crl_url = c;
	ca->ocsp_url = o;
	return CK_OK;
}

const ck_cert *
ck_ca_get0_cert(const ck_ca *ca)
{
	return ca != NULL ? ca->cert : NULL;
}

const ck_cert *
ck_ca_get0_root(const ck_ca *ca)
{
	return ca != NULL ? ca->root : NULL;
}
