/*
 * trust_export.c: ck_trust_export() and ck_trust_export_dir(), the
 * effective store written where the caller asks, in the same formats as
 * the outputs (trust_build.c).
 *
 * Guarantees:
 *  1. An export reads the state under the shared lock (trust.c) and writes
 *     after releasing it; the file is replaced atomically.
 *  2. It never writes over one of its own inputs (the system bundle) or
 *     into the store, and a hashed directory only into a new or empty one.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>

#include "trust_int.h"

static ck_status
load_locked(ck_trust *t, struct cki_tstate **s)
{
	ck_status rv;

	if ((rv = cki_trust_lock_load(t, false, s)) == CK_OK)
		cki_trust_unlock(t);
	return rv;
}

/* An export never writes over one of its own inputs: the system bundle
 * (export --out /etc/ssl/certs/ca-certificates.crt would fold the custom
 * anchors into the system layer for good) or the store's own files. */
static ck_status
export_target_ok(ck_trust *t, const struct cki_tstate *s, const char *path)
{
	if (s->system_path != NULL && cki_same_file(path, s->system_path))
		return cki_err(t->ctx, CK_E_USAGE,
		    "%s: is the system bundle, an input of the store; "
		    "exporting over it would make every custom anchor a "
		    "system root that `trust remove` cannot take out. Export "
		    "to another path",
		    path);
	if (cki_path_under(path, t->dir))
		return cki_err(t->ctx, CK_E_USAGE,
		    "%s: is inside the trust store %s; the outputs there are "
		    "rebuilt by certkit. Export to a path outside it",
		    path, t->dir);
	return CK_OK;
}

ck_status
ck_trust_export(
    ck_trust *t, ck_format fmt, const char *path, const char *password)
{
	struct cki_tstate *s = NULL;
	STACK_OF(X509) *sk = NULL;
	BIO *bio = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	char *data;
	ck_status rv;

	cki_begin(t->ctx);
	if (fmt != CK_FMT_PEM && fmt != CK_FMT_P12)
		return cki_err(t->ctx, CK_E_USAGE,
		    "the trust store exports as PEM, a PKCS#12 truststore or a "
		    "hashed directory; not as %s",
		    fmt == CK_FMT_DER ? "DER" : "PKCS#7");
	if ((rv = load_locked(t, &s)) != CK_OK)
		return rv;
	if ((rv = export_target_ok(t, s, path)) != CK_OK)
		goto err;
	if ((sk = cki_trust_effective_stack(s)) == NULL) {
		rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if (sk_X509_num(sk) == 0) {
		rv = cki_err(t->ctx, CK_E_NOTFOUND,
		    "the effective store is empty (no system bundle at %s and "
		    "no anchors): nothing to export",
		    s->system_path);
		goto err;
	}
	if (fmt == CK_FMT_PEM) {
		if ((bio = BIO_new(BIO_s_mem())) == NULL) {
			rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		if ((rv = cki_trust_make_bundle(t, s, bio)) != CK_OK)
			goto err;
		len = (size_t)BIO_get_mem_data(bio, &data);
		rv = ck_write_file_atomic(t->ctx, path, data, len, 0644);
	} else {
		if ((rv = cki_trust_make_p12(t, sk,
		         password != NULL ? password : CKI_TRUST_DEFAULT_P12PW,
		         &buf, &len)) != CK_OK)
			goto err;
		rv = ck_write_file_atomic(t->ctx, path, buf, len, 0644);
	}
err:
	free(buf);
	BIO_free(bio);
	sk_X509_free(sk);
	cki_trust_state_free(s);
	return rv;
}

ck_status
ck_trust_export_dir(ck_trust *t, const char *path)
{
	struct cki_tstate *s = NULL;
	STACK_OF(X509) *sk = NULL;
	DIR *d;
	struct dirent *de;
	ck_status rv;

	cki_begin(t->ctx);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL)
			if (strcmp(de->d_name, ".") != 0 &&
			    strcmp(de->d_name, "..") != 0)
				break;
		closedir(d);
		if (de != NULL)
			return cki_err(t->ctx, CK_E_EXISTS,
			    "%s: the directory is not empty; export a hashed "
			    "directory into a new or empty one (certkit never "
			    "deletes files it did not write)",
			    path);
	} else if (errno != ENOENT) {
		return cki_err(
		    t->ctx, CK_E_IO, "%s: %s", path, strerror(errno));
	}
	if ((rv = load_locked(t, &s)) != CK_OK)
		return rv;
	rv = export_target_ok(t, s, path);
	if (rv == CK_OK && (sk = cki_trust_effective_stack(s)) == NULL)
		rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	else if (rv == CK_OK)
		rv = cki_trust_write_hashed_dir(
		    t->ctx, sk, path, NULL, NULL, NULL);
	sk_X509_free(sk);
	cki_trust_state_free(s);
	return rv;
}
