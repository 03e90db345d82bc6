/*
 * identity_store.c: the identity on disk, and the one path every change
 * takes.
 *
 * Layout (HOME/identity):
 *
 *   .lock                     flock(2): one changer at a time
 *   current -> versions/ID    what services read; replaced by rename(2)
 *   versions/ID/              one complete identity (files below)
 *   versions/.tmp-ID.PID/     a version being written (removed on recovery)
 *   backups/ID/               copies of earlier versions
 *   backups/.tmp-ID.PID/      a backup being written
 *   pending/key.pem, csr.pem  the key of the last CSR, until install
 *
 * A version directory holds cert.pem, key.pem (0600), chain.pem (the
 * intermediates, no root), fullchain.pem (leaf + intermediates),
 * bundle.pem (key, then the full chain; 0600), identity.p12 (key and full
 * chain; 0600), root.pem (when the root is known) and meta.json. IDs are
 * "YYYYMMDDTHHMMSSZ-" + the first 12 hex digits of the certificate's
 * SHA-256, with "-N" added on a clash. Versions are never modified once
 * written.
 *
 * The change path (cki_commit), and what a crash at each point leaves:
 *
 *   write versions/.tmp-NEW   ─► crash: current = OLD; .tmp removed later
 *   rename to versions/NEW    ─► crash: current = OLD; NEW removed later
 *   copy OLD to backups/.tmp  ─► crash: current = OLD
 *   rename to backups/BID     ─► crash: current = OLD (and a spare backup)
 *   write .change (marker)    ─► crash: current = OLD
 *   symlink current.tmp.PID,
 *   rename over current       ─► crash: current = NEW, OLD backed up;
 *                                the next command rolls back (below)
 *   self-test on current/     ─► fails: flip back to OLD ("rolled back")
 *   on_change                 ─► fails: flip back to OLD, on_change again
 *   remove .change            ─► the change is settled (committed)
 *   remove versions/OLD, prune backups
 *
 * The marker HOME/identity/.change names the change whose self-test and
 * on_change have not finished yet:
 *
 *   certkit identity change 1
 *   old OLDID          (empty: there was no identity)
 *   new NEWID
 *   backup BID         (empty: nothing was backed up)
 *   action ACTION
 *
 * A process killed in that window (kill -9 during a slow on_change) leaves
 * it behind. Every command that opens the identity (ck_identity_new:
 * status, ensure, install, reset, restore, export, ...) finds it and
 * settles it (cki_settle) before anything else: when `current` is NEW it
 * rolls back to OLD as a failed on_change would (flip, remove NEW and its
 * backup, run on_change again with CERTKIT_IDENTITY_ACTION=rollback); when
 * it is OLD the change never became visible. It says so in the command's
 * report ("recovered") and through ck_identity_recovered().
 *
 * Invariants:
 *  1. `current` always names a complete version: a version directory is
 *     written, each file fsync'd and the directory fsync'd, before it is
 *     renamed into versions/ and before `current` may point at it.
 *  2. The version `current` leaves is backed up before `current` moves.
 *  3. Every step that fails before the flip removes what it wrote, so a
 *     failed change (a full disk) leaves everything as it was.
 *  4. Nothing here reads the real clock for validity: only IDs and
 *     timestamps of events use time(NULL).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "encode_int.h"
#include "identity_int.h"

#define LOCK_TIMEOUT_MS 30000
#define SELFTEST_TIMEOUT_MS 10000

/* The files of a version, in the order they are written. meta.json is
 * last: a directory with meta.json is complete. */
static const char *const FILES[] = {"key.pem", "cert.pem", "chain.pem",
    "fullchain.pem", "bundle.pem", "identity.p12", "root.pem", "meta.json"};
#define NFILES (sizeof(FILES) / sizeof(FILES[0]))

void
cki_crash_point(const char *step)
{
	const char *at = getenv("CERTKIT_IDENTITY_CRASH_AT");

	if (at != NULL && strcmp(at, step) == 0)
		_exit(9);
}

ck_status
cki_id_path(ck_identity *id, char *out, const char *fmt, ...)
{
	char rel[CKI_PATH];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(rel))
		return cki_err(
		    id->ctx, CK_E_USAGE, "%s: path too long", id->dir);
	n = snprintf(out, CKI_PATH, "%s%s%s", id->dir, rel[0] ? "/" : "", rel);
	if (n < 0 || n >= CKI_PATH)
		return cki_err(
		    id->ctx, CK_E_USAGE, "%s/%s: path too long", id->dir, rel);
	return CK_OK;
}

void
cki_material_free(struct cki_material *m)
{
	if (m == NULL)
		return;
	EVP_PKEY_free(m->key);
	X509_free(m->leaf);
	sk_X509_pop_free(m->chain, X509_free);
	X509_free(m->root);
	json_decref(m->meta);
	memset(m, 0, sizeof(*m));
}

bool
cki_current_id(ck_identity *id, char out[256])
{
	char path[CKI_PATH], target[CKI_PATH];
	ssize_t n;

	out[0] = '\0';
	if (cki_id_path(id, path, "current") != CK_OK)
		return false;
	if ((n = readlink(path, target, sizeof(target) - 1)) == -1)
		return errno == ENOENT;
	target[n] = '\0';
	if (strncmp(target, "versions/", 9) != 0 || strlen(target + 9) >= 256 ||
	    strchr(target + 9, '/') != NULL || target[9] == '\0')
		return false;
	memcpy(out, target + 9, strlen(target + 9) + 1);
	return true;
}

/* ---- reading ------------------------------------------------------------ */

/* dir/name; cki_material_read checks dir's length first. */
static void
join(char out[CKI_PATH], const char *dir, const char *name)
{
	if ((size_t)snprintf(out, CKI_PATH, "%s/%s", dir, name) >= CKI_PATH)
		out[0] = '\0';
}

static X509 *
read_cert(ck_ctx *ctx, const char *path)
{
	BIO *b = BIO_new_file(path, "r");
	X509 *x = NULL;

	if (b == NULL) {
		cki_err(ctx, CK_E_IO, "%s: cannot read: %s", path,
		    errno ? strerror(errno) : "unknown error");
		return NULL;
	}
	if ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL)
		cki_err(ctx, CK_E_FORMAT,
		    "%s: expected a PEM certificate, "
		    "found none: %s",
		    path, cki_ossl_reason());
	BIO_free(b);
	return x;
}

static json_t *
read_meta(const char *path)
{
	json_error_t e;
	json_t *j = json_load_file(path, 0, &e);

	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

ck_status
cki_current_read_light(ck_identity *id, X509 **leaf, json_t **meta)
{
	char path[CKI_PATH];
	ck_status rv;

	*leaf = NULL;
	*meta = NULL;
	if ((rv = cki_id_path(id, path, "current/cert.pem")) != CK_OK)
		return rv;
	if ((*leaf = read_cert(id->ctx, path)) == NULL)
		return id->ctx->status;
	if ((rv = cki_id_path(id, path, "current/meta.json")) != CK_OK) {
		X509_free(*leaf);
		*leaf = NULL;
		return rv;
	}
	*meta = read_meta(path); /* absent: not made by certkit */
	return CK_OK;
}

ck_status
cki_material_read(ck_identity *id, const char *dir, struct cki_material *m)
{
	char path[CKI_PATH];
	BIO *b = NULL;
	X509 *x;
	ck_status rv = CK_E_FORMAT;

	memset(m, 0, sizeof(*m));
	if (strlen(dir) > CKI_PATH - 32)
		return cki_err(id->ctx, CK_E_USAGE, "%s: path too long", dir);
	if ((m->chain = sk_X509_new_null()) == NULL)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	join(path, dir, "cert.pem");
	if ((m->leaf = read_cert(id->ctx, path)) == NULL) {
		rv = id->ctx->status;
		goto err;
	}
	join(path, dir, "key.pem");
	if ((b = BIO_new_file(path, "r")) == NULL) {
		rv = cki_err(id->ctx, CK_E_IO, "%s: cannot read: %s", path,
		    strerror(errno ? errno : EIO));
		goto err;
	}
	if ((m->key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) == NULL) {
		cki_err(id->ctx, CK_E_FORMAT,
		    "%s: expected an unencrypted "
		    "PEM private key, found none",
		    path);
		goto err;
	}
	BIO_free(b);
	join(path, dir, "chain.pem");
	if ((b = BIO_new_file(path, "r")) != NULL) {
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(m->chain, x)) {
				X509_free(x);
				rv = cki_err(
				    id->ctx, CK_E_NOMEM, "out of memory");
				goto err;
			}
		ERR_clear_error(); /* the end of the file */
	}
	BIO_free(b);
	b = NULL;
	join(path, dir, "root.pem");
	if (access(path, F_OK) == 0 &&
	    (m->root = read_cert(id->ctx, path)) == NULL) {
		rv = id->ctx->status;
		goto err;
	}
	join(path, dir, "meta.json");
	if ((m->meta = read_meta(path)) == NULL &&
	    (m->meta = json_object()) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	return CK_OK;
err:
	BIO_free(b);
	cki_material_free(m);
	return rv;
}

ck_status
cki_p12_password(ck_identity *id, char **pw)
{
	ck_status rv;

	*pw = NULL;
	if (id->conf.p12_password_file == NULL) {
		if ((*pw = strdup(CKI_ID_DEFAULT_P12_PASSWORD)) == NULL)
			return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		return CK_OK;
	}
	rv = cki_read_first_line(id->ctx, id->conf.p12_password_file, pw);
	if (rv != CK_OK)
		rv = cki_err(id->ctx, rv, "[identity] p12_password_file: %s",
		    id->ctx->err);
	return rv;
}

/* ---- locking and recovery ----------------------------------------------- */

ck_status
cki_lock(ck_identity *id)
{
	char path[CKI_PATH];
	struct timespec ts = {0, 50 * 1000000L};
	ck_status rv;
	int fd;

	if (id->lock_fd != -1)
		return CK_OK;
	if ((rv = cki_mkdirs(id->ctx, id->dir, 0755)) != CK_OK)
		return rv;
	if ((rv = cki_id_path(id, path, ".lock")) != CK_OK)
		return rv;
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1)
		return cki_err(id->ctx, CK_E_IO,
		    "%s: cannot open the lock: "
		    "%s",
		    path, strerror(errno));
	for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) == -1; waited += 50) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			close(fd);
			return cki_err(id->ctx, CK_E_IO, "%s: cannot lock: %s",
			    path, strerror(errno));
		}
		if (waited >= LOCK_TIMEOUT_MS) {
			close(fd);
			return cki_err(id->ctx, CK_E_LOCKED,
			    "%s: another certkit has been changing the "
			    "identity for %d seconds; try again when it is "
			    "done",
			    path, LOCK_TIMEOUT_MS / 1000);
		}
		nanosleep(&ts, NULL);
	}
	id->lock_fd = fd;
	return CK_OK;
}

void
cki_unlock(ck_identity *id)
{
	if (id->lock_fd == -1)
		return;
	close(id->lock_fd); /* releases the flock */
	id->lock_fd = -1;
}

/* Removes a directory of plain files (the only kind we make). */
static int
rmtree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[CKI_PATH];
	int rv = 0;

	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(p, sizeof(p), "%s/%s", path, e->d_name) >=
		        sizeof(p) ||
		    unlink(p) == -1)
			rv = -1;
	}
	closedir(d);
	if (rmdir(path) == -1)
		rv = -1;
	return rv;
}

void
cki_recover(ck_identity *id)
{
	char cur[256], path[CKI_PATH];
	DIR *d;
	struct dirent *e;

	if (!cki_current_id(id, cur))
		return; /* current is something we did not make: touch nothing
		         */
	if ((d = opendir(id->dir)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if ((strncmp(e->d_name, "current.tmp.", 12) == 0 ||
			        strncmp(e->d_name, ".change.tmp.", 12) == 0) &&
			    cki_id_path(id, path, "%s", e->d_name) == CK_OK)
				(void)unlink(path);
		closedir(d);
	}
	if (cki_id_path(id, path, "backups") == CK_OK &&
	    (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL)
			if (strncmp(e->d_name, ".tmp-", 5) == 0 &&
			    cki_id_path(id, path, "backups/%s", e->d_name) ==
			        CK_OK)
				(void)rmtree(path);
		closedir(d);
	}
	/* Versions nothing points at are leftovers of an interrupted change:
	 * either not yet current (the change never happened) or already
	 * backed up (invariant 2). */
	if (cki_id_path(id, path, "versions") == CK_OK &&
	    (d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0 ||
			    strcmp(e->d_name, cur) == 0)
				continue;
			if (cki_id_path(id, path, "versions/%s", e->d_name) ==
			    CK_OK)
				(void)rmtree(path);
		}
		closedir(d);
	}
}

/* ---- writing ------------------------------------------------------------ */

/* Writes one file of a directory nobody reads yet: create, write, fsync. */
static ck_status
write_new(ck_ctx *ctx, const char *dir, const char *name, const void *data,
    size_t len, unsigned int mode)
{
	char path[CKI_PATH];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    sizeof(path))
		return cki_err(
		    ctx, CK_E_USAGE, "%s/%s: path too long", dir, name);
	return cki_write_new(ctx, path, data, len, mode, true);
}

/* A ck_bundle view of the material: key (if with_key), leaf, chain. */
static ck_bundle *
bundle_of(const struct cki_material *m, bool with_key, bool with_leaf,
    bool with_chain)
{
	ck_bundle *b = ck_bundle_new();
	ck_key *k;
	ck_cert *c;

	if (b == NULL)
		return NULL;
	if (with_key) {
		if (!EVP_PKEY_up_ref(m->key) ||
		    (k = cki_key_wrap(m->key)) == NULL)
			goto err;
		if (cki_bundle_push(b, CK_OBJ_KEY, k, "identity key") !=
		    CK_OK) {
			ck_key_free(k);
			goto err;
		}
	}
	for (int i = with_leaf ? -1 : 0;
	     with_chain ? i < sk_X509_num(m->chain) : i < 0; i++) {
		X509 *x = i < 0 ? m->leaf : sk_X509_value(m->chain, i);

		if (!X509_up_ref(x) || (c = cki_cert_wrap(x)) == NULL)
			goto err;
		if (cki_bundle_push(b, CK_OBJ_CERT, c, "identity") != CK_OK) {
			ck_cert_free(c);
			goto err;
		}
	}
	return b;
err:
	ck_bundle_free(b);
	return NULL;
}

static ck_status
encode(ck_identity *id, const struct cki_material *m, bool key, bool leaf,
    bool chain, ck_format fmt, const char *password, uint8_t **out, size_t *len)
{
	ck_write_opts wo = {.password = password, .name = "identity"};
	ck_bundle *b = bundle_of(m, key, leaf, chain);
	ck_status rv;

	*out = NULL;
	*len = 0;
	if (b == NULL)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	if (ck_bundle_count(b, CK_OBJ_CERT) + ck_bundle_count(b, CK_OBJ_KEY) ==
	    0) {
		ck_bundle_free(b);
		return CK_OK; /* an empty chain.pem */
	}
	rv = ck_encode_bundle(id->ctx, b, fmt, &wo, out, len);
	ck_bundle_free(b);
	return rv;
}

static void
wipe(uint8_t *p, size_t len)
{
	if (p != NULL)
		OPENSSL_clear_free(p, len);
}

/* Writes every file of m into the new directory `dir`, then fsyncs it. */
static ck_status
write_version(ck_identity *id, const struct cki_material *m, const char *dir)
{
	uint8_t *keyp = NULL, *cert = NULL, *chain = NULL, *full = NULL,
	        *bundle = NULL, *p12 = NULL, *root = NULL;
	size_t keyl = 0, certl = 0, chainl = 0, fulll = 0, bundlel = 0,
	       p12l = 0, rootl = 0;
	char *meta = NULL, *pw = NULL;
	ck_ctx *ctx = id->ctx;
	ck_status rv;

	if ((rv = cki_p12_password(id, &pw)) != CK_OK)
		goto err;
	if ((rv = encode(id, m, true, false, false, CK_FMT_PEM, NULL, &keyp,
	         &keyl)) != CK_OK ||
	    (rv = encode(id, m, false, true, false, CK_FMT_PEM, NULL, &cert,
	         &certl)) != CK_OK ||
	    (rv = encode(id, m, false, false, true, CK_FMT_PEM, NULL, &chain,
	         &chainl)) != CK_OK ||
	    (rv = encode(id, m, false, true, true, CK_FMT_PEM, NULL, &full,
	         &fulll)) != CK_OK ||
	    (rv = encode(id, m, true, true, true, CK_FMT_P12, pw, &p12,
	         &p12l)) != CK_OK)
		goto err;
	if (m->root != NULL) {
		struct cki_material r = {0};

		r.leaf = m->root;
		if ((rv = encode(id, &r, false, true, false, CK_FMT_PEM, NULL,
		         &root, &rootl)) != CK_OK)
			goto err;
	}
	/* bundle.pem: the key, then the full chain (the Nx default.pem and
	 * HAProxy crt form). */
	if ((bundle = malloc(keyl + fulll + 1)) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	memcpy(bundle, keyp, keyl);
	memcpy(bundle + keyl, full, fulll);
	bundlel = keyl + fulll;
	if ((meta = json_dumps(
	         m->meta, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if (mkdir(dir, 0755) == -1) {
		rv = cki_err(ctx, CK_E_IO, "%s: cannot create directory: %s",
		    dir, strerror(errno));
		goto err;
	}
	if ((rv = write_new(ctx, dir, "key.pem", keyp, keyl, 0600)) != CK_OK)
		goto err;
	cki_crash_point("version-partial");
	if ((rv = write_new(ctx, dir, "cert.pem", cert, certl, 0644)) !=
	        CK_OK ||
	    (rv = write_new(ctx, dir, "chain.pem", chain, chainl, 0644)) !=
	        CK_OK ||
	    (rv = write_new(ctx, dir, "fullchain.pem", full, fulll, 0644)) !=
	        CK_OK ||
	    (rv = write_new(ctx, dir, "bundle.pem", bundle, bundlel, 0600)) !=
	        CK_OK ||
	    (rv = write_new(ctx, dir, "identity.p12", p12, p12l, 0600)) !=
	        CK_OK ||
	    (m->root != NULL &&
	        (rv = write_new(ctx, dir, "root.pem", root, rootl, 0644)) !=
	            CK_OK) ||
	    (rv = write_new(ctx, dir, "meta.json", meta, strlen(meta), 0644)) !=
	        CK_OK)
		goto err;
	rv = cki_fsync_dir(ctx, dir);
err:
	wipe(keyp, keyl);
	wipe(bundle, bundlel);
	wipe(p12, p12l);
	free(cert);
	free(chain);
	free(full);
	free(root);
	free(meta);
	if (pw != NULL)
		OPENSSL_clear_free(pw, strlen(pw));
	return rv;
}

/* Copies a version directory's files into the new directory dst. */
static ck_status
copy_version(ck_identity *id, const char *src, const char *dst)
{
	ck_status rv = CK_OK;

	if (mkdir(dst, 0700) == -1)
		return cki_err(id->ctx, CK_E_IO,
		    "%s: cannot create "
		    "directory: %s",
		    dst, strerror(errno));
	for (size_t i = 0; i < NFILES && rv == CK_OK; i++) {
		char path[CKI_PATH];
		uint8_t *buf = NULL;
		size_t len = 0;
		struct stat st;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", src,
		        FILES[i]) >= sizeof(path) ||
		    stat(path, &st) == -1)
			continue; /* root.pem, or a version made by hand */
		if ((rv = cki_read_file(id->ctx, path, &buf, &len)) != CK_OK)
			break;
		rv = write_new(
		    id->ctx, dst, FILES[i], buf, len, st.st_mode & 0777);
		wipe(buf, len);
		if (i == 0)
			cki_crash_point("backup-partial");
	}
	if (rv == CK_OK)
		rv = cki_fsync_dir(id->ctx, dst);
	return rv;
}

/* Points `current` at versions/vid (empty: removes it), atomically. */
static ck_status
flip(ck_identity *id, const char *vid)
{
	char tmp[CKI_PATH], cur[CKI_PATH], target[300];
	ck_status rv;

	if ((rv = cki_id_path(id, cur, "current")) != CK_OK ||
	    (rv = cki_id_path(id, tmp, "current.tmp.%ld", (long)getpid())) !=
	        CK_OK)
		return rv;
	if (vid[0] == '\0') {
		if (unlink(cur) == -1 && errno != ENOENT)
			return cki_err(id->ctx, CK_E_IO,
			    "%s: cannot remove: "
			    "%s",
			    cur, strerror(errno));
		return cki_fsync_dir(id->ctx, id->dir);
	}
	snprintf(target, sizeof(target), "versions/%s", vid);
	(void)unlink(tmp);
	if (symlink(target, tmp) == -1)
		return cki_err(id->ctx, CK_E_IO,
		    "%s: cannot create the "
		    "symlink: %s",
		    tmp, strerror(errno));
	cki_crash_point("flip-symlink");
	/* rename(2) replaces the old link atomically: a reader sees the old
	 * target or the new one, never no `current`. */
	return cki_replace(id->ctx, tmp, cur, id->dir);
}

/* "20261122T043100Z" (UTC, real clock: this names an event on disk). */
static void
stamp(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y%m%dT%H%M%SZ", &tm);
}

/* versions/ID or backups/ID that does not exist yet. */
static ck_status
fresh_id(ck_identity *id, const char *sub, X509 *x, char out[128])
{
	char ts[32], fp[65], path[CKI_PATH];
	unsigned char md[32];
	unsigned int n = 0;
	ck_status rv;

	stamp(ts);
	if (x == NULL) /* backing up a damaged version: no certificate */
		snprintf(fp, sizeof(fp), "damaged");
	else if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32)
		return cki_err(id->ctx, CK_E_INTERNAL,
		    "cannot hash the "
		    "certificate");
	else
		cki_hex(md, 32, fp);
	for (int i = 1; i < 1000; i++) {
		if (i == 1)
			snprintf(out, 128, "%s-%.12s", ts, fp);
		else
			snprintf(out, 128, "%s-%.12s-%d", ts, fp, i);
		if ((rv = cki_id_path(id, path, "%s/%s", sub, out)) != CK_OK)
			return rv;
		if (access(path, F_OK) == -1 && errno == ENOENT)
			return CK_OK;
	}
	return cki_err(id->ctx, CK_E_EXISTS,
	    "%s/%s/%s: too many versions "
	    "in one second",
	    id->dir, sub, ts);
}

struct bk {
	char name[256];
	struct timespec mtime;
};

static int
bk_newest_first(const void *a, const void *b)
{
	const struct bk *x = a, *y = b;

	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec < y->mtime.tv_sec ? 1 : -1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec < y->mtime.tv_nsec ? 1 : -1;
	return -strcmp(x->name, y->name);
}

/* The backups, newest first. */
static struct bk *
list_backups(ck_identity *id, size_t *np)
{
	char path[CKI_PATH];
	struct bk *v = NULL;
	size_t n = 0, cap = 0;
	DIR *d;
	struct dirent *e;

	*np = 0;
	if (cki_id_path(id, path, "backups") != CK_OK ||
	    (d = opendir(path)) == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		char p[CKI_PATH];

		if (e->d_name[0] == '.' || strlen(e->d_name) >= 256)
			continue;
		if (cki_id_path(id, p, "backups/%s", e->d_name) != CK_OK ||
		    stat(p, &st) == -1 || !S_ISDIR(st.st_mode))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct bk *nv = realloc(v, nc * sizeof(*nv));

			if (nv == NULL)
				break;
			v = nv;
			cap = nc;
		}
		memcpy(v[n].name, e->d_name, strlen(e->d_name) + 1);
		v[n].mtime = st.st_mtim;
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), bk_newest_first);
	*np = n;
	return v;
}

json_t *
cki_backups_json(ck_identity *id)
{
	json_t *arr = json_array();
	size_t n;
	struct bk *v = list_backups(id, &n);

	if (arr == NULL) {
		free(v);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		char path[CKI_PATH], nb[32], na[32], bt[32], fp[65];
		X509 *x;
		json_t *meta, *o;
		char *subj;
		int64_t t;

		if (cki_id_path(id, path, "backups/%s/cert.pem", v[i].name) !=
		        CK_OK ||
		    (x = read_cert(id->ctx, path)) == NULL) {
			ck_ctx_clear_error(id->ctx);
			json_array_append_new(arr,
			    json_pack("{s:s, s:s}", "id", v[i].name, "error",
			        "cert.pem is missing or "
			        "damaged"));
			continue;
		}
		snprintf(path + strlen(path) - strlen("cert.pem"),
		    sizeof(path) - (strlen(path) - strlen("cert.pem")),
		    "meta.json");
		meta = read_meta(path);
		cki_asn1_time(X509_get0_notBefore(x), &t);
		cki_fmt_time(t, nb);
		cki_asn1_time(X509_get0_notAfter(x), &t);
		cki_fmt_time(t, na);
		cki_fmt_time((int64_t)v[i].mtime.tv_sec, bt);
		{
			unsigned char md[32];
			unsigned int mdl = 0;

			X509_digest(x, EVP_sha256(), md, &mdl);
			cki_hex(md, 32, fp);
		}
		subj = cki_name_oneline(X509_get_subject_name(x));
		o = json_pack("{s:s, s:s, s:s?, s:s, s:s, s:s, s:s}", "id",
		    v[i].name, "backed_up", bt, "subject", subj, "kind",
		    meta != NULL &&
		            json_is_string(json_object_get(meta, "kind"))
		        ? json_string_value(json_object_get(meta, "kind"))
		        : "unknown",
		    "not_before", nb, "not_after", na, "sha256", fp);
		free(subj);
		json_decref(meta);
		X509_free(x);
		json_array_append_new(arr, o);
	}
	free(v);
	return arr;
}

/* Removes the oldest backups beyond keep_backups; lists them in `pruned`. */
static void
prune(ck_identity *id, json_t *pruned)
{
	size_t n;
	struct bk *v = list_backups(id, &n);

	for (size_t i = (size_t)id->conf.keep_backups; i < n; i++) {
		char path[CKI_PATH];

		if (cki_id_path(id, path, "backups/%s", v[i].name) == CK_OK &&
		    rmtree(path) == 0)
			json_array_append_new(pruned, json_string(v[i].name));
	}
	free(v);
}

/* The certificate the self-test trusts: the root when known, else the top
 * of the chain, else the leaf (self-signed). */
static X509 *
anchor_of(const struct cki_material *m)
{
	if (m->root != NULL)
		return m->root;
	if (sk_X509_num(m->chain) > 0)
		return sk_X509_value(m->chain, sk_X509_num(m->chain) - 1);
	return m->leaf;
}

/* Required names the certificate covers (what the self-test checks). */
static ck_status
names_to_check(ck_identity *id, X509 *x, const struct cki_names *n,
    struct cki_strlist *dns, struct cki_strlist *ip)
{
	for (size_t i = 0; n != NULL && i < n->dns.n; i++)
		if (cki_covers_dns(x, n->dns.v[i]) &&
		    cki_strlist_add(dns, n->dns.v[i]) != CK_OK)
			goto nomem;
	for (size_t i = 0; n != NULL && i < n->ip.n; i++)
		if (cki_covers_ip(x, n->ip.v[i]) &&
		    cki_strlist_add(ip, n->ip.v[i]) != CK_OK)
			goto nomem;
	if (dns->n + ip->n == 0 && cki_san_lists(x, dns, ip) != CK_OK)
		goto nomem;
	return CK_OK;
nomem:
	return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
}

/* ---- the unsettled-change marker ---------------------------------------- */

#define CHANGE_HEADER "certkit identity change 1\n"

static ck_status
marker_write(ck_identity *id, const char *old, const char *vid, const char *bid,
    const char *action)
{
	char path[CKI_PATH], text[1024];
	int n;
	ck_status rv;

	if ((rv = cki_id_path(id, path, ".change")) != CK_OK)
		return rv;
	n = snprintf(text, sizeof(text),
	    CHANGE_HEADER "old %s\nnew %s\nbackup %s\naction %s\n", old, vid,
	    bid, action);
	if (n < 0 || (size_t)n >= sizeof(text))
		return cki_err(
		    id->ctx, CK_E_INTERNAL, "change marker too long");
	return ck_write_file_atomic(id->ctx, path, text, (size_t)n, 0644);
}

static ck_status
marker_clear(ck_identity *id)
{
	char path[CKI_PATH];
	ck_status rv;

	if ((rv = cki_id_path(id, path, ".change")) != CK_OK)
		return rv;
	if (unlink(path) == -1 && errno != ENOENT)
		return cki_err(id->ctx, CK_E_IO, "%s: cannot remove: %s", path,
		    strerror(errno));
	return cki_fsync_dir(id->ctx, id->dir);
}

/* The value of "KEY VALUE" in the marker; "" when absent or empty. An ID
 * is a file name certkit made: no '/', no leading '.'. */
static bool
marker_field(const char *text, const char *key, char *out, size_t size)
{
	size_t kl = strlen(key), n;
	const char *p;

	out[0] = '\0';
	for (p = text; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p += p != NULL) {
		if (strncmp(p, key, kl) != 0 || p[kl] != ' ')
			continue;
		p += kl + 1;
		n = strcspn(p, "\n");
		if (n >= size || memchr(p, '/', n) != NULL ||
		    (n > 0 && p[0] == '.'))
			return false;
		memcpy(out, p, n);
		out[n] = '\0';
		return true;
	}
	return true;
}

/* Rolls `current` back from vid to old, as a failed on_change does. */
static ck_status
settle_rollback(ck_identity *id, const char *old, const char *vid,
    const char *bid, json_t *rec)
{
	char p[CKI_PATH], curdir[CKI_PATH];
	ck_status rv;

	if ((rv = flip(id, old)) != CK_OK)
		return rv;
	if (cki_id_path(id, p, "versions/%s", vid) == CK_OK)
		(void)rmtree(p);
	if (bid[0] != '\0' && cki_id_path(id, p, "backups/%s", bid) == CK_OK)
		(void)rmtree(p);
	if (id->conf.on_change != NULL &&
	    cki_id_path(id, curdir, "current") == CK_OK)
		json_object_set_new(rec, "on_change_after_rollback",
		    cki_run_hook(id->conf.on_change, id->conf.on_change_timeout,
		        curdir, "rollback"));
	return CK_OK;
}

ck_status
cki_settle(ck_identity *id)
{
	char path[CKI_PATH], cur[256], old[256], vid[256], bid[256], act[64];
	char msg[1200];
	uint8_t *buf = NULL;
	size_t len = 0;
	char *text = NULL;
	bool had_lock = id->lock_fd != -1;
	json_t *rec = NULL;
	ck_status rv;

	if ((rv = cki_id_path(id, path, ".change")) != CK_OK)
		return rv;
	if (access(path, F_OK) == -1)
		return CK_OK; /* the usual case: one stat, no lock */
	if ((rv = cki_lock(id)) != CK_OK)
		return rv;
	if (access(path, F_OK) == -1)
		goto out; /* another process settled it meanwhile */
	if ((rv = cki_read_file(id->ctx, path, &buf, &len)) != CK_OK)
		goto out;
	if ((text = calloc(1, len + 1)) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto out;
	}
	memcpy(text, buf, len);
	if (strncmp(text, CHANGE_HEADER, strlen(CHANGE_HEADER)) != 0 ||
	    !marker_field(text, "old", old, sizeof(old)) ||
	    !marker_field(text, "new", vid, sizeof(vid)) ||
	    !marker_field(text, "backup", bid, sizeof(bid)) ||
	    !marker_field(text, "action", act, sizeof(act)) || vid[0] == '\0') {
		rv = cki_err(id->ctx, CK_E_FORMAT,
		    "%s: not a change marker certkit wrote; move it away",
		    path);
		goto out;
	}
	if (!cki_current_id(id, cur)) {
		rv = cki_err(id->ctx, CK_E_REFUSED,
		    "%s/current: is not a symlink into versions/ made by "
		    "certkit; move it away first",
		    id->dir);
		goto out;
	}
	if ((rec = json_pack("{s:s, s:s, s:s}", "action", act, "from", vid,
	         "to", old)) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto out;
	}
	if (strcmp(cur, vid) == 0 && old[0] != '\0') {
		if ((rv = settle_rollback(id, old, vid, bid, rec)) != CK_OK)
			goto out;
		snprintf(msg, sizeof(msg),
		    "an identity %s was killed before its self-test and "
		    "on_change finished; it was rolled back: current is %s "
		    "again (%s was removed)",
		    act, old, vid);
	} else if (strcmp(cur, vid) == 0) {
		snprintf(msg, sizeof(msg),
		    "an identity %s was killed before its self-test and "
		    "on_change finished; there is no earlier identity to go "
		    "back to, so %s stays current",
		    act, vid);
	} else {
		snprintf(msg, sizeof(msg),
		    "an identity %s was killed before it took effect; current "
		    "is still %s",
		    act, cur[0] ? cur : "(none)");
	}
	json_object_set_new(rec, "outcome",
	    json_string(strcmp(cur, vid) != 0 ? "not_applied"
	            : old[0] != '\0'          ? "rolled_back"
	                                      : "kept"));
	json_object_set_new(rec, "message", json_string(msg));
	if ((rv = marker_clear(id)) != CK_OK)
		goto out;
	cki_recover(id);
	json_decref(id->recovered);
	id->recovered = rec;
	rec = NULL;
out:
	json_decref(rec);
	free(text);
	free(buf);
	if (!had_lock)
		cki_unlock(id);
	return rv;
}

/* One change on its way through cki_commit: the versions involved, their
 * directories, and what the report says of it. */
struct commit {
	ck_identity *id;
	struct cki_material *m;
	const char *action;
	char vid[128], bid[128], old[256];
	char tmpdir[CKI_PATH], vdir[CKI_PATH], olddir[CKI_PATH];
	char btmp[CKI_PATH], bdir[CKI_PATH], curdir[CKI_PATH];
	char why[1200];
	json_t *st, *hook, *pruned;
	bool ok, flipped;
};

/* Row 1: the new version, complete, under a temporary name. On failure
 * nothing of it is left. */
static ck_status
commit_write_version(struct commit *c)
{
	ck_identity *id = c->id;
	char created[32], dir[CKI_PATH];
	ck_status rv;

	if ((rv = fresh_id(id, "versions", c->m->leaf, c->vid)) != CK_OK ||
	    (rv = cki_id_path(id, c->vdir, "versions/%s", c->vid)) != CK_OK ||
	    (rv = cki_id_path(id, c->tmpdir, "versions/.tmp-%s.%ld", c->vid,
	         (long)getpid())) != CK_OK ||
	    (rv = cki_id_path(id, c->curdir, "current")) != CK_OK)
		return rv;
	cki_fmt_time((int64_t)time(NULL), created);
	json_object_set_new(c->m->meta, "version", json_string(c->vid));
	json_object_set_new(c->m->meta, "written", json_string(created));
	json_object_set_new(c->m->meta, "action", json_string(c->action));
	if ((rv = cki_id_path(id, dir, "versions")) != CK_OK ||
	    (rv = cki_mkdirs(id->ctx, dir, 0755)) != CK_OK)
		return rv;
	if ((rv = write_version(id, c->m, c->tmpdir)) != CK_OK)
		(void)rmtree(c->tmpdir);
	return rv;
}

/* Row 2: renamed to versions/NEW, durably. On failure it is removed. */
static ck_status
commit_rename_version(struct commit *c)
{
	ck_identity *id = c->id;
	char dir[CKI_PATH];
	ck_status rv;

	if (cki_fault("rename") || rename(c->tmpdir, c->vdir) == -1) {
		rv = cki_err(id->ctx, CK_E_IO,
		    "%s: cannot rename into place: %s", c->vdir,
		    strerror(errno ? errno : EIO));
		(void)rmtree(c->tmpdir);
		return rv;
	}
	if ((rv = cki_fsync_dir(id->ctx, id->dir)) != CK_OK ||
	    (rv = cki_id_path(id, dir, "versions")) != CK_OK ||
	    (rv = cki_fsync_dir(id->ctx, dir)) != CK_OK)
		(void)rmtree(c->vdir);
	return rv;
}

/* Row 3: the old version copied to backups/.tmp-BID, before anything
 * points away from it (invariant 2). On failure the copy is removed. */
static ck_status
commit_copy_backup(struct commit *c)
{
	ck_identity *id = c->id;
	char p[CKI_PATH];
	X509 *ox;
	ck_status rv;

	if ((rv = cki_id_path(id, c->olddir, "versions/%s", c->old)) != CK_OK ||
	    (rv = cki_id_path(id, p, "versions/%s/cert.pem", c->old)) != CK_OK)
		return rv;
	/* A damaged old version (ensure replaces a damaged default)
	 * is still backed up, as it is. */
	if ((ox = read_cert(id->ctx, p)) == NULL)
		ck_ctx_clear_error(id->ctx);
	rv = fresh_id(id, "backups", ox, c->bid);
	X509_free(ox);
	if (rv != CK_OK ||
	    (rv = cki_id_path(id, c->bdir, "backups/%s", c->bid)) != CK_OK ||
	    (rv = cki_id_path(id, c->btmp, "backups/.tmp-%s.%ld", c->bid,
	         (long)getpid())) != CK_OK ||
	    (rv = cki_id_path(id, p, "backups")) != CK_OK ||
	    (rv = cki_mkdirs(id->ctx, p, 0700)) != CK_OK)
		return rv;
	if ((rv = copy_version(id, c->olddir, c->btmp)) != CK_OK)
		(void)rmtree(c->btmp);
	return rv;
}

/* Row 4: the backup renamed to backups/BID, durably. On failure it is
 * removed. */
static ck_status
commit_rename_backup(struct commit *c)
{
	ck_identity *id = c->id;
	char p[CKI_PATH];
	ck_status rv;

	if ((rv = cki_id_path(id, p, "backups")) != CK_OK)
		return rv;
	if (cki_fault("rename") || rename(c->btmp, c->bdir) == -1) {
		rv = cki_err(id->ctx, CK_E_IO,
		    "%s: cannot rename into "
		    "place: %s",
		    c->bdir, strerror(errno ? errno : EIO));
		(void)rmtree(c->btmp);
		return rv;
	}
	if ((rv = cki_fsync_dir(id->ctx, p)) != CK_OK)
		(void)rmtree(c->bdir);
	return rv;
}

/* Rows 5 and 6: the marker, then the flip (marker_write, flip). On
 * failure the backup and the marker are removed. */
static ck_status
commit_flip(struct commit *c)
{
	ck_status rv;

	if ((rv = marker_write(c->id, c->old, c->vid, c->bid, c->action)) !=
	        CK_OK ||
	    (rv = flip(c->id, c->vid)) != CK_OK) {
		if (c->bid[0] != '\0')
			(void)rmtree(c->bdir);
		(void)marker_clear(c->id);
		return rv;
	}
	c->flipped = true;
	return CK_OK;
}

/* Row 7: the self-test, through `current`, as a server would read it.
 * False, with the reason in c->why, when it fails or cannot run. */
static bool
commit_selftest(struct commit *c, const struct cki_names *names)
{
	ck_ctx *ctx = c->id->ctx;
	struct cki_strlist cdns = {0}, cip = {0};
	char fc[CKI_PATH], kp[CKI_PATH];
	bool sok = false;

	if (cki_id_path(c->id, fc, "current/fullchain.pem") != CK_OK ||
	    cki_id_path(c->id, kp, "current/key.pem") != CK_OK ||
	    names_to_check(c->id, c->m->leaf, names, &cdns, &cip) != CK_OK ||
	    cki_selftest(ctx, fc, kp, anchor_of(c->m), &cdns, &cip,
	        SELFTEST_TIMEOUT_MS, c->id->client, &sok, &c->st) != CK_OK) {
		snprintf(c->why, sizeof(c->why),
		    "the self-test could not "
		    "run: %s",
		    ctx->err);
		ck_ctx_clear_error(ctx);
		sok = false;
	} else if (!sok) {
		snprintf(c->why, sizeof(c->why), "the self-test failed: %s",
		    json_string_value(json_object_get(c->st, "error")));
	}
	cki_strlist_clear(&cdns);
	cki_strlist_clear(&cip);
	return sok;
}

/* Row 8: on_change. False, with the reason in c->why, when it fails. */
static bool
commit_on_change(struct commit *c)
{
	const char *err;

	if (c->id->conf.on_change == NULL)
		return true;
	c->hook = cki_run_hook(c->id->conf.on_change,
	    c->id->conf.on_change_timeout, c->curdir, c->action);
	if (c->hook != NULL && json_is_true(json_object_get(c->hook, "ok")))
		return true;
	err = c->hook != NULL
	    ? json_string_value(json_object_get(c->hook, "error"))
	    : NULL;
	snprintf(c->why, sizeof(c->why), "on_change command %s",
	    err != NULL ? err : "failed");
	return false;
}

/* Row 10: clean up: the old version lives on in its backup. */
static void
commit_clean_up(struct commit *c)
{
	if (c->old[0] != '\0')
		(void)rmtree(c->olddir);
	prune(c->id, c->pruned);
	c->ok = true;
}

/* After the flip, a failed self-test or on_change: `current` goes back to
 * the old version and the new one and its backup are removed. */
static ck_status
commit_roll_back(struct commit *c, json_t *report)
{
	ck_identity *id = c->id;
	char p[CKI_PATH];
	ck_status rv;

	if ((rv = flip(id, c->old)) != CK_OK) {
		/* Keep everything: `current` still names a complete version,
		 * and the error says which. */
		return cki_err(id->ctx, rv,
		    "%s; and rolling back failed too: %s; current "
		    "still points at the new version %s",
		    c->why, id->ctx->err, c->vid);
	}
	c->flipped = false;
	(void)rmtree(c->vdir);
	if (c->bid[0] != '\0') {
		(void)rmtree(c->bdir); /* a copy of what is current again */
		if (cki_id_path(id, p, "backups") == CK_OK)
			(void)rmdir(p); /* only when now empty */
	}
	if (c->hook != NULL && id->conf.on_change != NULL) {
		/* The service may have half-loaded the new files. */
		json_object_set_new(report, "on_change_after_rollback",
		    cki_run_hook(id->conf.on_change, id->conf.on_change_timeout,
		        c->curdir, "rollback"));
	}
	(void)marker_clear(id);
	return CK_OK;
}

/* Before the flip, a failed step: the new version goes, and backups/ if
 * this change made it and it is still empty. */
static void
commit_undo_version(struct commit *c)
{
	char p[CKI_PATH];

	(void)rmtree(c->vdir);
	if (cki_id_path(c->id, p, "backups") == CK_OK)
		(void)rmdir(p);
}

static void
commit_report(struct commit *c, json_t *report)
{
	json_object_set_new(report, "version",
	    c->ok           ? json_string(c->vid)
	        : c->old[0] ? json_string(c->old)
	                    : json_null());
	json_object_set_new(
	    report, "previous", c->old[0] ? json_string(c->old) : json_null());
	json_object_set_new(report, "backup",
	    c->ok && c->bid[0] ? json_string(c->bid) : json_null());
	json_object_set_new(report, "changed", json_boolean(c->ok));
	json_object_set_new(report, "rolled_back",
	    json_boolean(!c->ok && c->why[0] != '\0' && !c->flipped));
	json_object_set_new(report, "rollback_reason",
	    c->why[0] ? json_string(c->why) : json_null());
	json_object_set_new(
	    report, "selftest", c->st != NULL ? c->st : json_null());
	json_object_set_new(
	    report, "on_change", c->hook != NULL ? c->hook : json_null());
	json_object_set_new(report, "pruned", c->pruned);
}

/* The change path: one step per row of the crash table at the top of
 * this file, each with its crash point. */
ck_status
cki_commit(ck_identity *id, struct cki_material *m, const char *action,
    const struct cki_names *names, json_t *report)
{
	struct commit c = {.id = id, .m = m, .action = action};
	ck_status rv;

	if ((c.pruned = json_array()) == NULL)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	if (!cki_current_id(id, c.old)) {
		rv = cki_err(id->ctx, CK_E_REFUSED,
		    "%s/current: is not a symlink "
		    "into versions/ made by certkit; move it away first",
		    id->dir);
		goto out;
	}
	if ((rv = commit_write_version(&c)) != CK_OK ||
	    (rv = commit_rename_version(&c)) != CK_OK)
		goto out;
	cki_crash_point("version-written");
	if (c.old[0] != '\0') {
		if ((rv = commit_copy_backup(&c)) != CK_OK ||
		    (rv = commit_rename_backup(&c)) != CK_OK)
			goto undo_version;
		cki_crash_point("backup-written");
	}
	if ((rv = commit_flip(&c)) != CK_OK)
		goto undo_version;
	cki_crash_point("flipped");
	if (!commit_selftest(&c, names))
		goto roll_back;
	cki_crash_point("selftest-done");
	/* Row 9: once the marker is gone the change is settled: a crash from
	 * here on keeps the new version. */
	if (!commit_on_change(&c) || marker_clear(id) != CK_OK)
		goto roll_back;
	cki_crash_point("on-change-done");
	commit_clean_up(&c);
	rv = CK_OK;
	goto out;
roll_back:
	rv = commit_roll_back(&c, report);
	goto out;
undo_version:
	commit_undo_version(&c);
out:
	commit_report(&c, report);
	return rv;
}
