/*
 * trust.c: the layered trust store: its layout, its lock, reading its
 * inputs, and the changes (add, remove, distrust).
 *
 * The effective store is the system roots, plus the custom anchors, minus
 * the distrusted certificates. Everything lives under HOME/trust:
 *
 *   trust/
 *     .lock                 flock(2) target; holds the pid of the writer
 *     .journal              the change in progress (trust_journal.c)
 *     anchors/ALIAS.pem     one custom anchor per file (format A)
 *     distrust/KIND-HEX     one distrust entry per file (format B)
 *     truststore.password   PKCS#12 password, mode 0600 (optional; first
 *                           line; absent means "changeit")
 *     generations/NNNNNN/   one complete build of the outputs:
 *         ca-bundle.pem       PEM bundle, "# label" line before each cert
 *         certs/HHHHHHHH.N    OpenSSL hashed directory (regular files)
 *         truststore.p12      PKCS#12, every cert a Java trusted entry
 *         manifest.json       what was built, when, from what
 *     out -> generations/NNNNNN   a symlink: the only commit point
 *
 * Format A, an anchor file: a PEM certificate, preceded by comment lines
 * ("# alias: ...", "# subject: ...", "# added: ...", "# from: ..."). The
 * alias is the file name without ".pem"; the comments are informative
 * only. Any format the loader reads is accepted, but the file must hold
 * exactly one certificate. Files whose names start with "." or end in "~",
 * and the atomic writer's "*.tmp.PID" files, are ignored; any other name
 * that does not end in ".pem" is an error (it would otherwise be silently
 * left out, as update-ca-certificates does with files not named *.crt).
 *
 * Format B, a distrust entry: the name is "sha256-" or "spki-" followed by
 * 64 lower-case hex digits: the SHA-256 of the DER certificate, or of its
 * DER SubjectPublicKeyInfo (RFC 7469 section 2.4, which matches every
 * certificate of that key). The name alone decides what is distrusted.
 * The content is informative "key: value" lines ("reason", "date",
 * "subject"); "#" lines and unknown keys are ignored. Any other name is an
 * error, for the same reason as above.
 *
 * Invariants:
 *  1. A change (add, remove, distrust) holds the exclusive lock from before
 *     it reads the inputs until the outputs are rebuilt; readers take the
 *     shared lock. The lock is waited for at most lock_timeout_ms, then the
 *     call fails with CK_E_LOCKED naming the holder.
 *  2. A change is all or nothing: if the rebuild fails, the input files it
 *     wrote are removed (or restored) before the error is returned; if the
 *     process is killed, the next one to take the lock rolls the change
 *     back from its journal (trust_journal.c), readers included.
 *  3. The outputs always come from one in-memory effective set, and are
 *     published by one rename(2) of the "out" symlink (trust_build.c).
 *  4. Distrust wins over every layer: a distrusted certificate never
 *     reaches an output, whichever layer brings it back.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "trust_int.h"

/* ---- small helpers ------------------------------------------------------ */

#define RECOVERED                                                              \
	"a change that was killed before it finished was found and rolled "    \
	"back: the inputs and the outputs are as they were before it"

static char *
pjoin(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

int64_t
cki_mtime_ns(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == -1)
		return 0;
	return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

ck_status
cki_trust_json_out(ck_trust *t, json_t *doc, char **json)
{
	*json = NULL;
	if (doc == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	if (t->recovered && json_is_object(doc))
		json_object_set_new(doc, "recovered", json_string(RECOVERED));
	*json = json_dumps(doc, JSON_COMPACT);
	json_decref(doc);
	if (*json == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

json_t *
cki_trust_cert_json(const struct cki_tcert *c, int64_t now)
{
	char *label = cki_x509_label(c->x);
	char *subj = cki_name_oneline(X509_get_subject_name(c->x));
	char *iss = cki_name_oneline(X509_get_issuer_name(c->x));
	char nb[32], na[32], key[96];
	int64_t tnb = 0, tna = 0;
	int rsa;
	json_t *o, *src;

	cki_asn1_time(X509_get0_notBefore(c->x), &tnb);
	cki_asn1_time(X509_get0_notAfter(c->x), &tna);
	cki_fmt_time(tnb, nb);
	cki_fmt_time(tna, na);
	cki_x509_key(c->x, key, sizeof(key), &rsa);
	src = json_array();
	if (c->src & CKI_SRC_SYSTEM)
		json_array_append_new(src, json_string("system"));
	if (c->src & CKI_SRC_CUSTOM)
		json_array_append_new(src, json_string("custom"));
	o = json_pack("{s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:s, s:s, s:s, s:b,"
	              " s:b, s:s, s:o}",
	    "alias", c->alias, "label", label, "subject", subj, "issuer", iss,
	    "sha256", c->fp, "spki_sha256", c->spki, "not_before", nb,
	    "not_after", na, "validity", cki_x509_validity(c->x, now), "is_ca",
	    X509_check_ca(c->x) != 0, "self_signed",
	    X509_self_signed(c->x, 0) == 1, "key", key, "source", src);
	if (o != NULL && c->distrusted != NULL)
		json_object_set_new(o, "distrusted",
		    json_pack("{s:s, s:s?, s:s?}", "by",
		        c->distrusted->kind == CKI_PIN_SPKI ? "spki" : "sha256",
		        "reason", c->distrusted->reason, "date",
		        c->distrusted->date));
	free(label);
	free(subj);
	free(iss);
	return o;
}

/* ---- open / free -------------------------------------------------------- */

ck_status
ck_trust_new(ck_ctx *ctx, const char *home, ck_trust **out)
{
	ck_trust *t = NULL;
	ck_status rv = CK_E_NOMEM;

	cki_begin(ctx);
	*out = NULL;
	if (home == NULL || home[0] == '\0')
		return cki_err(
		    ctx, CK_E_USAGE, "no state directory given (home)");
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto err;
	t->ctx = ctx;
	t->lock_fd = -1;
	t->lock_timeout_ms = 10000;
	if ((t->dir = pjoin(home, "trust")) == NULL ||
	    (t->anchors = pjoin(t->dir, "anchors")) == NULL ||
	    (t->distrust = pjoin(t->dir, "distrust")) == NULL ||
	    (t->gens = pjoin(t->dir, "generations")) == NULL ||
	    (t->out = pjoin(t->dir, "out")) == NULL ||
	    (t->bundle = pjoin(t->out, "ca-bundle.pem")) == NULL ||
	    (t->certs = pjoin(t->out, "certs")) == NULL ||
	    (t->p12 = pjoin(t->out, "truststore.p12")) == NULL ||
	    (t->pwfile = pjoin(t->dir, "truststore.password")) == NULL)
		goto err;
	*out = t;
	return CK_OK;
err:
	ck_trust_free(t);
	return cki_err(ctx, rv, "out of memory");
}

void
ck_trust_free(ck_trust *t)
{
	if (t == NULL)
		return;
	cki_trust_unlock(t);
	free(t->dir);
	free(t->anchors);
	free(t->distrust);
	free(t->gens);
	free(t->out);
	free(t->bundle);
	free(t->certs);
	free(t->p12);
	free(t->pwfile);
	free(t->system);
	free(t);
}

ck_status
ck_trust_set_system_bundle(ck_trust *t, const char *path)
{
	char *p = NULL;

	cki_begin(t->ctx);
	if (path != NULL && (p = strdup(path)) == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	free(t->system);
	t->system = p;
	return CK_OK;
}

void
ck_trust_set_lock_timeout_ms(ck_trust *t, int ms)
{
	t->lock_timeout_ms = ms < 0 ? 0 : ms;
}

const char *
ck_trust_dir(const ck_trust *t)
{
	return t->dir;
}

const char *
ck_trust_bundle_path(const ck_trust *t)
{
	return t->bundle;
}

const char *
ck_trust_certs_path(const ck_trust *t)
{
	return t->certs;
}

const char *
ck_trust_p12_path(const ck_trust *t)
{
	return t->p12;
}

/* ---- the lock ----------------------------------------------------------- */

/*
 * flock(2) on trust/.lock. The writer leaves its pid in the file, so the
 * error can name it. Readers take a shared lock so that they never read the
 * anchors while a change is half-applied; when the store does not exist
 * yet there is nothing to protect and no lock is taken.
 */
/* Waits (at most lock_timeout_ms) for flock(fd, op). */
static ck_status
lock_wait(ck_trust *t, int fd, int op, const char *path)
{
	struct timespec nap = {0, 20 * 1000 * 1000};
	char pid[32];
	int waited = 0;

	while (flock(fd, op | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK && errno != EINTR)
			return cki_err(t->ctx, CK_E_IO, "%s: flock failed: %s",
			    path, strerror(errno));
		if (waited >= t->lock_timeout_ms) {
			ssize_t r = pread(fd, pid, sizeof(pid) - 1, 0);

			pid[r > 0 ? r : 0] = '\0';
			pid[strcspn(pid, "\r\n")] = '\0';
			return cki_err(t->ctx, CK_E_LOCKED,
			    "%s: another process is changing the trust store "
			    "(%s%s); waited %d ms. Try again when it has "
			    "finished; `fuser %s` shows who holds it",
			    path, pid[0] ? "pid " : "holder unknown", pid,
			    t->lock_timeout_ms, path);
		}
		nanosleep(&nap, NULL);
		waited += 20;
	}
	return CK_OK;
}

/* A change that a killed process left half-done (trust_journal.c) is
 * rolled back by whoever takes the lock next; a reader takes the
 * exclusive lock for it, then goes back to the shared one. */
/* A journal's temporary file that a writer killed while writing the
 * journal left (nothing else had changed yet). Under the exclusive lock no
 * writer is alive, so any such file is garbage. */
static void
drop_journal_temps(ck_trust *t)
{
	DIR *d = opendir(t->dir);
	struct dirent *de;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".journal.tmp.", 13) == 0 &&
		    (size_t)snprintf(path, sizeof(path), "%s/%s", t->dir,
		        de->d_name) < sizeof(path))
			(void)unlink(path);
	closedir(d);
}

static ck_status
recover_if_needed(ck_trust *t, bool exclusive, const char *lockpath)
{
	char jpath[PATH_MAX];
	ck_status rv;

	if (exclusive)
		drop_journal_temps(t);

	snprintf(jpath, sizeof(jpath), "%s/.journal", t->dir);
	if (access(jpath, F_OK) == -1) {
		snprintf(jpath, sizeof(jpath), "%s/.journal.done", t->dir);
		if (access(jpath, F_OK) == -1)
			return CK_OK;
	}
	if (!exclusive &&
	    (rv = lock_wait(t, t->lock_fd, LOCK_EX, lockpath)) != CK_OK)
		return rv;
	rv = cki_trust_recover(t);
	if (!exclusive && rv == CK_OK)
		rv = lock_wait(t, t->lock_fd, LOCK_SH, lockpath);
	return rv;
}

ck_status
cki_trust_lock(ck_trust *t, bool exclusive)
{
	char path[PATH_MAX], pid[32];
	int fd;
	ck_status st;

	if (t->lock_fd != -1)
		return CK_OK;
	if (snprintf(path, sizeof(path), "%s/.lock", t->dir) >=
	    (int)sizeof(path))
		return cki_err(t->ctx, CK_E_USAGE, "%s: path too long", t->dir);
	if (exclusive && (st = cki_mkdirs(t->ctx, t->dir, 0755)) != CK_OK)
		return st;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd == -1 && !exclusive && (errno == EACCES || errno == EROFS))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1 && !exclusive && errno == ENOENT)
		return CK_OK;
	if (fd == -1)
		return cki_err(t->ctx, CK_E_IO,
		    "%s: cannot open the lock file: %s", path, strerror(errno));
	if ((st = lock_wait(t, fd, exclusive ? LOCK_EX : LOCK_SH, path)) !=
	    CK_OK) {
		close(fd);
		return st;
	}
	if (exclusive) {
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

		if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) != n)
			(void)0; /* the pid is only a hint for the message */
	}
	t->lock_fd = fd;
	if ((st = recover_if_needed(t, exclusive, path)) != CK_OK)
		cki_trust_unlock(t);
	return st;
}

void
cki_trust_unlock(ck_trust *t)
{
	if (t->lock_fd == -1)
		return;
	(void)flock(t->lock_fd, LOCK_UN);
	close(t->lock_fd);
	t->lock_fd = -1;
}

ck_status
cki_trust_lock_load(ck_trust *t, bool exclusive, struct cki_tstate **s)
{
	ck_status rv;

	*s = NULL;
	if ((rv = cki_trust_lock(t, exclusive)) != CK_OK)
		return rv;
	if ((rv = cki_trust_state_load(t, s)) != CK_OK)
		cki_trust_unlock(t);
	return rv;
}

/* ---- reading the inputs ------------------------------------------------- */

/* Editor backups, dotfiles and the atomic writer's temporaries. */
static bool
ignored_name(const char *n)
{
	size_t len = strlen(n);

	return n[0] == '.' || (len > 0 && n[len - 1] == '~') ||
	    strstr(n, ".tmp.") != NULL;
}

static int
anchor_cmp(const void *a, const void *b)
{
	const struct cki_anchor *x = a, *y = b;

	return strcasecmp(x->alias, y->alias);
}

static ck_status
load_anchors(ck_trust *t, struct cki_tstate *s)
{
	DIR *d;
	struct dirent *de;
	ck_bundle *b = NULL;
	size_t cap = 0;
	ck_status rv = CK_OK;

	if ((d = opendir(t->anchors)) == NULL) {
		if (errno == ENOENT)
			return CK_OK;
		return cki_err(t->ctx, CK_E_IO, "%s: cannot read directory: %s",
		    t->anchors, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		struct cki_anchor *a;
		size_t len = strlen(de->d_name);
		char *path;

		if (ignored_name(de->d_name))
			continue;
		if ((path = pjoin(t->anchors, de->d_name)) == NULL) {
			rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		if (len <= 4 || strcmp(de->d_name + len - 4, ".pem") != 0) {
			rv = cki_err(t->ctx, CK_E_FORMAT,
			    "%s: not named ALIAS.pem; certkit reads only .pem "
			    "files in %s. Rename it, or add it with `certkit "
			    "trust add FILE` and delete it",
			    path, t->anchors);
			free(path);
			goto err;
		}
		if ((rv = ck_load_file(t->ctx, path, &b)) != CK_OK) {
			free(path);
			goto err;
		}
		if (ck_bundle_count(b, CK_OBJ_CERT) != 1) {
			rv = cki_err(t->ctx, CK_E_FORMAT,
			    "%s: an anchor file must hold exactly one "
			    "certificate; it holds %zu. Move it away and add "
			    "it "
			    "with `certkit trust add`, which splits bundles",
			    path, ck_bundle_count(b, CK_OBJ_CERT));
			free(path);
			goto err;
		}
		if (s->nanchors == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct cki_anchor *na =
			    realloc(s->anchors, ncap * sizeof(*na));

			if (na == NULL) {
				free(path);
				rv = cki_err(
				    t->ctx, CK_E_NOMEM, "out of memory");
				goto err;
			}
			s->anchors = na;
			cap = ncap;
		}
		a = &s->anchors[s->nanchors];
		memset(a, 0, sizeof(*a));
		a->path = path;
		a->alias = strndup(de->d_name, len - 4);
		a->x = ck_bundle_get0_cert(b, 0)->x509;
		if (a->alias == NULL || !X509_up_ref(a->x)) {
			a->x = NULL;
			free(a->alias);
			free(path);
			rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		s->nanchors++;
		cki_x509_fp(a->x, a->fp);
		cki_x509_spki(a->x, a->spki);
		ck_bundle_free(b);
		b = NULL;
	}
	if (s->nanchors > 1)
		qsort(s->anchors, s->nanchors, sizeof(*s->anchors), anchor_cmp);
err:
	ck_bundle_free(b);
	closedir(d);
	return rv;
}

static char *
field(const char *text, const char *key)
{
	size_t klen = strlen(key);

	for (const char *p = text; p != NULL && *p != '\0';) {
		const char *eol = strchr(p, '\n');
		size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);

		if (len > klen && strncasecmp(p, key, klen) == 0 &&
		    p[klen] == ':') {
			const char *v = p + klen + 1;
			size_t vl = len - klen - 1;

			while (vl > 0 && isspace((unsigned char)*v)) {
				v++;
				vl--;
			}
			while (vl > 0 && isspace((unsigned char)v[vl - 1]))
				vl--;
			return vl > 0 ? strndup(v, vl) : NULL;
		}
		p = eol != NULL ? eol + 1 : NULL;
	}
	return NULL;
}

static void
distrust_clear(struct cki_distrust *e)
{
	free(e->path);
	free(e->reason);
	free(e->date);
	free(e->subject);
	memset(e, 0, sizeof(*e));
}

/* Parses a distrust entry's name into kind and hex (format B). */
static bool
distrust_name(const char *n, enum cki_pin *kind, char hex[65])
{
	const char *h;

	if (strncmp(n, "sha256-", 7) == 0) {
		*kind = CKI_PIN_CERT;
		h = n + 7;
	} else if (strncmp(n, "spki-", 5) == 0) {
		*kind = CKI_PIN_SPKI;
		h = n + 5;
	} else {
		return false;
	}
	if (strlen(h) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)h[i]) ||
		    isupper((unsigned char)h[i]))
			return false;
	memcpy(hex, h, 65);
	return true;
}

static ck_status
load_distrust(ck_trust *t, struct cki_tstate *s)
{
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	ck_status rv = CK_OK;

	if ((d = opendir(t->distrust)) == NULL) {
		if (errno == ENOENT)
			return CK_OK;
		return cki_err(t->ctx, CK_E_IO, "%s: cannot read directory: %s",
		    t->distrust, strerror(errno));
	}
	while ((de = readdir(d)) != NULL) {
		struct cki_distrust e = {0};
		uint8_t *buf = NULL;
		size_t len = 0;
		char *text;

		if (ignored_name(de->d_name))
			continue;
		if ((e.path = pjoin(t->distrust, de->d_name)) == NULL) {
			rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		if (!distrust_name(de->d_name, &e.kind, e.hex)) {
			rv = cki_err(t->ctx, CK_E_FORMAT,
			    "%s: not a distrust entry: the name must be "
			    "sha256-HEX or spki-HEX (64 lower-case hex "
			    "digits). "
			    "Use `certkit trust distrust` to make entries",
			    e.path);
			distrust_clear(&e);
			goto err;
		}
		if ((rv = cki_read_file(t->ctx, e.path, &buf, &len)) != CK_OK) {
			distrust_clear(&e);
			goto err;
		}
		if ((text = strndup((char *)buf, len)) != NULL) {
			e.reason = field(text, "reason");
			e.date = field(text, "date");
			e.subject = field(text, "subject");
			free(text);
		}
		free(buf);
		if (s->ndist == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct cki_distrust *nd =
			    realloc(s->dist, ncap * sizeof(*nd));

			if (nd == NULL) {
				distrust_clear(&e);
				rv = cki_err(
				    t->ctx, CK_E_NOMEM, "out of memory");
				goto err;
			}
			s->dist = nd;
			cap = ncap;
		}
		s->dist[s->ndist++] = e;
	}
err:
	closedir(d);
	return rv;
}

/* The system bundle must not be certkit's own output: the anchors would
 * then become "system" roots that no removal could take out again. */
static ck_status
check_not_ours(ck_trust *t, const char *sys)
{
	char rs[PATH_MAX], rd[PATH_MAX];
	size_t n;

	if (realpath(sys, rs) == NULL || realpath(t->dir, rd) == NULL)
		return CK_OK;
	n = strlen(rd);
	if (strncmp(rs, rd, n) == 0 && (rs[n] == '/' || rs[n] == '\0'))
		return cki_err(t->ctx, CK_E_USAGE,
		    "%s: the system bundle is certkit's own output (%s); the "
		    "system roots must come from elsewhere, or removed anchors "
		    "would stay trusted. Unset SSL_CERT_FILE for certkit, or "
		    "point it at the distribution's bundle (%s)",
		    sys, rs, CKI_TRUST_DEFAULT_SYSTEM);
	return CK_OK;
}

static ck_status
load_system(ck_trust *t, struct cki_tstate *s)
{
	const char *env = getenv("SSL_CERT_FILE");
	bool dflt = false;
	ck_bundle *b = NULL;
	struct stat st;
	ck_status rv;

	if (t->system != NULL)
		s->system_path = strdup(t->system);
	else if (env != NULL && env[0] != '\0')
		s->system_path = strdup(env);
	else {
		s->system_path = strdup(CKI_TRUST_DEFAULT_SYSTEM);
		dflt = true;
	}
	if ((s->system = sk_X509_new_null()) == NULL || s->system_path == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	if (stat(s->system_path, &st) == -1 && errno == ENOENT && dflt) {
		/* No ca-certificates package: the store is the anchors. */
		s->system_missing = true;
		return CK_OK;
	}
	if ((rv = check_not_ours(t, s->system_path)) != CK_OK)
		return rv;
	if ((rv = ck_load_file(t->ctx, s->system_path, &b)) != CK_OK) {
		char msg[CKI_ERRLEN];

		snprintf(msg, sizeof(msg), "%s", ck_ctx_error(t->ctx));
		return cki_err(t->ctx, rv, "system bundle: %s", msg);
	}
	s->system_mtime = cki_mtime_ns(s->system_path);
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		X509 *x = ck_bundle_get0_cert(b, i)->x509;

		if (!X509_up_ref(x))
			goto nomem;
		if (sk_X509_push(s->system, x) <= 0) {
			X509_free(x);
			goto nomem;
		}
	}
	ck_bundle_free(b);
	return CK_OK;
nomem:
	ck_bundle_free(b);
	return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
}

static ck_status
add_all(ck_trust *t, struct cki_tstate *s, X509 *x, const char *fp,
    unsigned int src, const char *alias, size_t *cap)
{
	struct cki_tcert *c;

	for (size_t i = 0; i < s->nall; i++)
		if (memcmp(s->all[i].fp, fp, 64) == 0) {
			s->all[i].src |= src;
			if (alias != NULL && s->all[i].alias == NULL)
				s->all[i].alias = alias;
			return CK_OK;
		}
	if (s->nall == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		struct cki_tcert *na = realloc(s->all, ncap * sizeof(*na));

		if (na == NULL)
			return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
		s->all = na;
		*cap = ncap;
	}
	c = &s->all[s->nall++];
	memset(c, 0, sizeof(*c));
	c->x = x;
	memcpy(c->fp, fp, 65);
	cki_x509_spki(x, c->spki);
	c->src = src;
	c->alias = alias;
	return CK_OK;
}

ck_status
cki_trust_state_load(ck_trust *t, struct cki_tstate **out)
{
	struct cki_tstate *s;
	size_t cap = 0;
	int64_t m;
	ck_status rv;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	if ((rv = load_system(t, s)) != CK_OK ||
	    (rv = load_anchors(t, s)) != CK_OK ||
	    (rv = load_distrust(t, s)) != CK_OK)
		goto err;
	for (int i = 0; i < sk_X509_num(s->system); i++) {
		X509 *x = sk_X509_value(s->system, i);
		char fp[65];

		cki_x509_fp(x, fp);
		if ((rv = add_all(t, s, x, fp, CKI_SRC_SYSTEM, NULL, &cap)) !=
		    CK_OK)
			goto err;
	}
	for (size_t i = 0; i < s->nanchors; i++)
		if ((rv = add_all(t, s, s->anchors[i].x, s->anchors[i].fp,
		         CKI_SRC_CUSTOM, s->anchors[i].alias, &cap)) != CK_OK)
			goto err;
	for (size_t i = 0; i < s->nall; i++)
		for (size_t j = 0; j < s->ndist; j++) {
			const char *h = s->dist[j].kind == CKI_PIN_SPKI
			    ? s->all[i].spki
			    : s->all[i].fp;

			if (memcmp(h, s->dist[j].hex, 64) == 0) {
				s->all[i].distrusted = &s->dist[j];
				break;
			}
		}
	/* Newest input change: directory mtimes catch removals. */
	s->inputs_mtime = s->system_mtime;
	m = cki_mtime_ns(t->anchors);
	s->inputs_mtime = m > s->inputs_mtime ? m : s->inputs_mtime;
	m = cki_mtime_ns(t->distrust);
	s->inputs_mtime = m > s->inputs_mtime ? m : s->inputs_mtime;
	m = cki_mtime_ns(t->pwfile);
	s->inputs_mtime = m > s->inputs_mtime ? m : s->inputs_mtime;
	for (size_t i = 0; i < s->nanchors; i++) {
		m = cki_mtime_ns(s->anchors[i].path);
		s->inputs_mtime = m > s->inputs_mtime ? m : s->inputs_mtime;
	}
	for (size_t i = 0; i < s->ndist; i++) {
		m = cki_mtime_ns(s->dist[i].path);
		s->inputs_mtime = m > s->inputs_mtime ? m : s->inputs_mtime;
	}
	*out = s;
	return CK_OK;
err:
	cki_trust_state_free(s);
	return rv;
}

void
cki_trust_state_free(struct cki_tstate *s)
{
	if (s == NULL)
		return;
	free(s->system_path);
	sk_X509_pop_free(s->system, X509_free);
	for (size_t i = 0; i < s->nanchors; i++) {
		free(s->anchors[i].alias);
		free(s->anchors[i].path);
		X509_free(s->anchors[i].x);
	}
	free(s->anchors);
	for (size_t i = 0; i < s->ndist; i++)
		distrust_clear(&s->dist[i]);
	free(s->dist);
	free(s->all);
	free(s);
}

/* ---- list --------------------------------------------------------------- */

static json_t *
distrust_json(const struct cki_tstate *s, const struct cki_distrust *e)
{
	const struct cki_tcert *hit = NULL;

	for (size_t i = 0; i < s->nall && hit == NULL; i++)
		if (s->all[i].distrusted == e)
			hit = &s->all[i];
	return json_pack("{s:s, s:s, s:o, s:s?, s:s?, s:b, s:o}", "by",
	    e->kind == CKI_PIN_SPKI ? "spki" : "sha256", "value", e->hex,
	    "reason", cki_json_str(e->reason), "date", e->date, "subject",
	    e->subject, "present", hit != NULL, "file", cki_json_str(e->path));
}

static json_t *
state_header(ck_trust *t, const struct cki_tstate *s, const char *what)
{
	char now[32];

	cki_fmt_time((int64_t)cki_now(t->ctx), now);
	return json_pack("{s:s, s:o, s:o, s:b, s:s}", "source", what, "store",
	    cki_json_str(t->dir), "system_bundle", cki_json_str(s->system_path),
	    "system_bundle_missing", s->system_missing, "at", now);
}

ck_status
ck_trust_list(ck_trust *t, ck_trust_source src, char **json)
{
	static const char *const names[] = {
	    "effective", "system", "custom", "distrusted"};
	struct cki_tstate *s = NULL;
	json_t *doc = NULL, *arr;
	int64_t now;
	ck_status rv;

	cki_begin(t->ctx);
	*json = NULL;
	if ((unsigned)src > CK_TRUST_DISTRUSTED)
		return cki_err(
		    t->ctx, CK_E_USAGE, "unknown trust source %d", (int)src);
	if ((rv = cki_trust_lock_load(t, false, &s)) != CK_OK)
		return rv;
	now = (int64_t)cki_now(t->ctx);
	if ((doc = state_header(t, s, names[src])) == NULL ||
	    (arr = json_array()) == NULL)
		goto nomem;
	json_object_set_new(
	    doc, src == CK_TRUST_DISTRUSTED ? "entries" : "certificates", arr);
	if (src == CK_TRUST_DISTRUSTED) {
		for (size_t i = 0; i < s->ndist; i++)
			json_array_append_new(
			    arr, distrust_json(s, &s->dist[i]));
	} else {
		for (size_t i = 0; i < s->nall; i++) {
			const struct cki_tcert *c = &s->all[i];

			if (src == CK_TRUST_EFFECTIVE && c->distrusted != NULL)
				continue;
			if (src == CK_TRUST_SYSTEM &&
			    !(c->src & CKI_SRC_SYSTEM))
				continue;
			if (src == CK_TRUST_CUSTOM &&
			    !(c->src & CKI_SRC_CUSTOM))
				continue;
			json_array_append_new(arr, cki_trust_cert_json(c, now));
		}
	}
	json_object_set_new(
	    doc, "count", json_integer((json_int_t)json_array_size(arr)));
	rv = cki_trust_json_out(t, doc, json);
	doc = NULL;
	goto err;
nomem:
	rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
err:
	json_decref(doc);
	cki_trust_state_free(s);
	cki_trust_unlock(t);
	return rv;
}

ck_status
ck_trust_effective(ck_trust *t, ck_bundle **out)
{
	struct cki_tstate *s = NULL;
	ck_bundle *b = NULL;
	ck_status rv;

	cki_begin(t->ctx);
	*out = NULL;
	if ((rv = cki_trust_lock_load(t, false, &s)) != CK_OK)
		return rv;
	if ((b = ck_bundle_new()) == NULL)
		goto nomem;
	for (size_t i = 0; i < s->nall; i++) {
		const struct cki_tcert *c = &s->all[i];
		ck_cert *cc;
		char origin[256];

		if (c->distrusted != NULL)
			continue;
		if (!X509_up_ref(c->x))
			goto nomem;
		if ((cc = cki_cert_wrap(c->x)) == NULL)
			goto nomem;
		snprintf(origin, sizeof(origin), "%s%s",
		    c->alias != NULL ? "anchor " : "system bundle",
		    c->alias != NULL ? c->alias : "");
		if (cki_bundle_push(b, CK_OBJ_CERT, cc, origin) != CK_OK) {
			ck_cert_free(cc);
			goto nomem;
		}
	}
	*out = b;
	b = NULL;
	goto err;
nomem:
	rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
err:
	ck_bundle_free(b);
	cki_trust_state_free(s);
	cki_trust_unlock(t);
	return rv;
}

/* ---- changes ------------------------------------------------------------ */

/* keytool's rule is only "unique, case-insensitive"; ours also keeps the
 * alias a safe file name. */
static bool
alias_ok(const char *a)
{
	size_t n = strlen(a);

	if (n == 0 || n > CKI_TRUST_MAX_ALIAS || !isalnum((unsigned char)a[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)a[i]) && a[i] != '.' &&
		    a[i] != '_' && a[i] != '-')
			return false;
	return true;
}

/* "ISRG Root X1" -> "isrg-root-x1". */
static void
alias_from(X509 *x, char *out, size_t size)
{
	char *label = cki_x509_label(x);
	size_t n = 0;
	bool dash = false;

	for (const char *p = label != NULL ? label : "";
	     *p != '\0' && n + 1 < size && n < 48; p++) {
		if (isalnum((unsigned char)*p)) {
			if (dash && n > 0)
				out[n++] = '-';
			dash = false;
			if (n + 1 < size)
				out[n++] = (char)tolower((unsigned char)*p);
		} else {
			dash = true;
		}
	}
	out[n] = '\0';
	if (n == 0)
		snprintf(out, size, "anchor");
	free(label);
}

/* The anchor (in the state, or among the ones being added) holding the
 * alias, case-insensitively. */
static const char *
alias_taken(const struct cki_tstate *s, char (*newa)[CKI_TRUST_MAX_ALIAS + 8],
    size_t nnew, const char *alias)
{
	for (size_t i = 0; i < s->nanchors; i++)
		if (strcasecmp(s->anchors[i].alias, alias) == 0)
			return s->anchors[i].alias;
	for (size_t i = 0; i < nnew; i++)
		if (strcasecmp(newa[i], alias) == 0)
			return newa[i];
	return NULL;
}

static const struct cki_distrust *
distrusted_by(const struct cki_tstate *s, const char *fp, const char *spki)
{
	for (size_t j = 0; j < s->ndist; j++)
		if (memcmp(s->dist[j].kind == CKI_PIN_SPKI ? spki : fp,
		        s->dist[j].hex, 64) == 0)
			return &s->dist[j];
	return NULL;
}

static ck_status
rebuild_locked(ck_trust *t, json_t *report)
{
	struct cki_tstate *s = NULL;
	ck_status rv;

	if ((rv = cki_trust_state_load(t, &s)) != CK_OK)
		return rv;
	rv = cki_trust_build(t, s, report);
	cki_trust_state_free(s);
	return rv;
}

static ck_status
write_anchor(
    ck_trust *t, const char *path, const char *alias, X509 *x, const char *from)
{
	ck_cert c = {x};
	char *pem = ck_cert_to_pem(&c), *subj, *text = NULL, now[32];
	size_t n;
	ck_status rv;

	subj = cki_name_oneline(X509_get_subject_name(x));
	cki_fmt_time((int64_t)time(NULL), now);
	if (pem == NULL || subj == NULL)
		goto nomem;
	n = strlen(pem) + strlen(subj) + strlen(alias) + strlen(from) + 128;
	if ((text = malloc(n)) == NULL)
		goto nomem;
	n = (size_t)snprintf(text, n,
	    "# alias: %s\n# subject: %s\n"
	    "# added: %s\n# from: %s\n%s",
	    alias, subj, now, from, pem);
	/* A new file, named in the journal: no temporary name needed. */
	rv = cki_write_new(t->ctx, path, text, n, 0644, true);
	goto out;
nomem:
	rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
out:
	free(text);
	free(pem);
	free(subj);
	return rv;
}

/* The text after "the rebuild failed" when a change is rolled back. */
static ck_status
rolled_back(ck_trust *t, ck_status st)
{
	char msg[CKI_ERRLEN];

	snprintf(msg, sizeof(msg), "%s", ck_ctx_error(t->ctx));
	return cki_err(t->ctx, st,
	    "%s (nothing was changed: the outputs "
	    "and the inputs are as they were)",
	    msg);
}

ck_status
cki_trust_recover(ck_trust *t)
{
	json_t *r = json_object();
	bool found = false;
	ck_status rv;

	if ((rv = cki_tj_finish(t, &found)) != CK_OK || found)
		found = false; /* committed: nothing to say */
	else if ((rv = cki_tj_undo(t, &found)) == CK_OK && found &&
	    (rv = rebuild_locked(t, r)) == CK_OK)
		rv = cki_tj_forget(t);
	json_decref(r);
	if (rv != CK_OK) {
		char msg[CKI_ERRLEN];

		snprintf(msg, sizeof(msg), "%s", ck_ctx_error(t->ctx));
		return cki_err(t->ctx, rv,
		    "%s/.journal: a change that was killed before it finished "
		    "could not be rolled back: %s",
		    t->dir, msg);
	}
	t->recovered = found;
	return CK_OK;
}

/* A failed change: puts the inputs back as the journal says; the outputs
 * were not published (the build flips "out" last). */
static ck_status
undo_change(ck_trust *t, ck_status st)
{
	char msg[CKI_ERRLEN];
	bool found;

	snprintf(msg, sizeof(msg), "%s", ck_ctx_error(t->ctx));
	if (cki_tj_undo(t, &found) != CK_OK || cki_tj_forget(t) != CK_OK)
		return cki_err(t->ctx, st,
		    "%s; and the change could not be undone (%s): the next "
		    "certkit trust command will roll it back",
		    msg, ck_ctx_error(t->ctx));
	cki_err(t->ctx, st, "%s", msg);
	return rolled_back(t, st);
}

/* The end of every journaled change, once its inputs in DIR are written:
 * makes them durable, rebuilds the outputs into REBUILD and commits the
 * journal; on any failure the inputs are put back (undo_change). */
static ck_status
commit_change(
    ck_trust *t, struct cki_tjournal *j, const char *dir, json_t *rebuild)
{
	ck_status rv;

	if ((rv = cki_fsync_dir(t->ctx, dir)) != CK_OK)
		return undo_change(t, rv);
	cki_tj_crash_point("inputs-written");
	if ((rv = rebuild_locked(t, rebuild)) != CK_OK)
		return undo_change(t, rv);
	return cki_tj_commit(t, j);
}

/*
 * Takes the input file DIR/NAME out (remove, undistrust): journals it,
 * renames it to a dotfile (which the readers ignore), rebuilds, then
 * commits; on failure it is renamed back. rename(2) needs no free space,
 * so a full disk cannot strand the change half-done.
 */
static ck_status
set_aside(ck_trust *t, const char *sub, const char *dir, const char *path,
    json_t *rebuild)
{
	const char *base = strrchr(path, '/');
	struct cki_tjournal j;
	ck_status rv;

	base = base != NULL ? base + 1 : path;
	cki_tj_init(&j);
	if ((rv = cki_tj_add(t, &j, '-', sub, base)) != CK_OK)
		goto out;
	if ((rv = cki_tj_begin(t, &j)) != CK_OK) {
		rv = undo_change(t, rv);
		goto out;
	}
	if ((rv = cki_tj_set_aside(t, sub, base)) != CK_OK)
		rv = undo_change(t, rv);
	else
		rv = commit_change(t, &j, dir, rebuild);
out:
	cki_tj_free(&j);
	return rv;
}

/* One change to the store, run by with_locked_state: on success it sets
 * *doc to its report. S is NULL for a change that loads no state. */
typedef ck_status (*trust_change)(
    ck_trust *t, struct cki_tstate *s, void *arg, json_t **doc);

/* The argument of a change that names one entry. */
struct change_arg {
	const char *what, *reason;
};

/*
 * The tail every change shares: takes the exclusive lock, makes DIR if
 * it is not NULL, loads the state if LOAD, runs CHANGE, turns its
 * report into *json, then frees the state and unlocks, also on failure.
 */
static ck_status
with_locked_state(ck_trust *t, const char *dir, bool load, trust_change change,
    void *arg, char **json)
{
	struct cki_tstate *s = NULL;
	json_t *doc = NULL;
	ck_status rv;

	cki_begin(t->ctx);
	*json = NULL;
	if ((rv = cki_trust_lock(t, true)) != CK_OK)
		goto out;
	if (dir != NULL && (rv = cki_mkdirs(t->ctx, dir, 0755)) != CK_OK)
		goto out;
	if (load && (rv = cki_trust_state_load(t, &s)) != CK_OK)
		goto out;
	if ((rv = change(t, s, arg, &doc)) == CK_OK)
		rv = cki_trust_json_out(t, doc, json);
	else
		json_decref(doc);
out:
	cki_trust_state_free(s);
	cki_trust_unlock(t);
	return rv;
}

/* An add: its input, and the plan, the certificates to add (their index
 * in the input and their new alias). */
struct add_plan {
	const ck_bundle *b;
	const char *alias;
	unsigned int flags;
	int64_t now;
	size_t n, nnew;
	char (*newa)[CKI_TRUST_MAX_ALIAS + 8];
	size_t *newi;
};

/* Refuses input certificate I if it cannot anchor: distrusted, or (unless
 * CK_TRUST_INSECURE_ANY_CERT) not a CA or outside its validity period. */
static ck_status
add_check(ck_trust *t, const struct cki_tstate *s, const struct add_plan *p,
    size_t i, const struct cki_tcert *tc)
{
	X509 *x = ck_bundle_get0_cert(p->b, i)->x509;
	const char *origin = ck_bundle_origin(p->b, CK_OBJ_CERT, i);
	const struct cki_distrust *dist;
	char *label = cki_x509_label(x);
	const char *v;
	ck_status rv = CK_OK;

	if ((dist = distrusted_by(s, tc->fp, tc->spki)) != NULL) {
		rv = cki_err(t->ctx, CK_E_REFUSED,
		    "%s: \"%s\" is distrusted (%s%s%s); certkit will "
		    "not add it back. To trust it again, first run: "
		    "certkit trust distrust --undo %s%s",
		    origin, label ? label : "?",
		    dist->reason ? dist->reason : "no reason given",
		    dist->date ? ", " : "", dist->date ? dist->date : "",
		    dist->kind == CKI_PIN_SPKI ? "spki:" : "", dist->hex);
		goto out;
	}
	/* RFC 5280 section 4.2.1.9: only a certificate whose
	 * basicConstraints asserts cA may sign other certificates. */
	if (X509_check_ca(x) == 0 && !(p->flags & CK_TRUST_INSECURE_ANY_CERT)) {
		rv = cki_err(t->ctx, CK_E_REFUSED,
		    "%s: \"%s\" is not a CA certificate (no "
		    "basicConstraints CA:TRUE), so it cannot anchor a "
		    "chain: a server's own certificate is a leaf. Add "
		    "the CA that issued it (`certkit show` names the "
		    "issuer), or pin this exact certificate with the "
		    "insecure_any_cert flag",
		    origin, label ? label : "?");
		goto out;
	}
	v = cki_x509_validity(x, p->now);
	if (strcmp(v, "valid") != 0 &&
	    !(p->flags & CK_TRUST_INSECURE_ANY_CERT)) {
		char na[32];
		int64_t tna = 0;

		cki_asn1_time(X509_get0_notAfter(x), &tna);
		cki_fmt_time(tna, na);
		rv = cki_err(t->ctx, CK_E_REFUSED,
		    "%s: \"%s\" is %s (valid until %s); clients reject "
		    "chains through it, so it would trust nothing. Get "
		    "its replacement, or add it anyway with the "
		    "insecure_any_cert flag",
		    origin, label ? label : "?",
		    strcmp(v, "expired") == 0 ? "expired" : "not valid yet",
		    na);
	}
out:
	free(label);
	return rv;
}

/* Names the next new anchor. Aliases: keytool's rule, unique and
 * case-insensitive. */
static ck_status
add_alias(ck_trust *t, const struct cki_tstate *s, struct add_plan *p, X509 *x)
{
	char(*newa)[CKI_TRUST_MAX_ALIAS + 8] = p->newa;
	size_t nnew = p->nnew;
	const struct cki_anchor *ea = NULL;
	const char *clash;
	char *el;
	ck_status rv;

	if (p->alias == NULL) {
		char base[CKI_TRUST_MAX_ALIAS + 1];

		alias_from(x, base, sizeof(base));
		snprintf(newa[nnew], sizeof(newa[0]), "%s", base);
		/* "NAME-2", "NAME-3"...: the name is cut so that the
		 * suffix always fits (and the alias stays unique). */
		for (int k = 2;
		     alias_taken(s, newa, nnew, newa[nnew]) && k < 100000; k++)
			snprintf(newa[nnew], sizeof(newa[0]), "%.*s-%d",
			    (int)sizeof(newa[0]) - 12, base, k);
		return CK_OK;
	}
	if (nnew == 0)
		snprintf(newa[nnew], sizeof(newa[0]), "%s", p->alias);
	else
		snprintf(
		    newa[nnew], sizeof(newa[0]), "%s-%zu", p->alias, nnew + 1);
	if ((clash = alias_taken(s, newa, nnew, newa[nnew])) == NULL)
		return CK_OK;
	for (size_t j = 0; j < s->nanchors; j++)
		if (s->anchors[j].alias == clash)
			ea = &s->anchors[j];
	el = ea ? cki_x509_label(ea->x) : NULL;
	rv = cki_err(t->ctx, CK_E_EXISTS,
	    "alias '%s' is taken by the anchor '%s' "
	    "(%s, "
	    "SHA-256 %s); aliases are unique "
	    "regardless "
	    "of case. Choose another alias, or "
	    "remove "
	    "the old one first: certkit trust remove "
	    "%s",
	    newa[nnew], clash, el ? el : "being added", ea ? ea->fp : "-",
	    clash);
	free(el);
	return rv;
}

/* Step 1, the plan: skips repeats and anchors already there (they go to
 * UNCHANGED), refuses what cannot anchor, and names the new anchors.
 * Writes nothing. */
static ck_status
add_plan(ck_trust *t, const struct cki_tstate *s, struct add_plan *p,
    json_t *unchanged)
{
	ck_status rv = CK_OK;

	for (size_t i = 0; i < p->n && rv == CK_OK; i++) {
		ck_cert *cc = ck_bundle_get0_cert(p->b, i);
		struct cki_tcert tc = {cc->x509, "", "", 0, NULL, NULL};
		const char *why = NULL;
		bool dup = false;

		/* The same certificate twice in the input counts once,
		 * whether it is new or already an anchor. */
		for (size_t j = 0; j < i && !dup; j++)
			dup = X509_cmp(ck_bundle_get0_cert(p->b, j)->x509,
			          cc->x509) == 0;
		if (dup)
			continue;
		cki_x509_fp(cc->x509, tc.fp);
		cki_x509_spki(cc->x509, tc.spki);
		for (size_t j = 0; j < s->nanchors && why == NULL; j++)
			if (strcmp(s->anchors[j].fp, tc.fp) == 0) {
				tc.alias = s->anchors[j].alias;
				tc.src = CKI_SRC_CUSTOM;
				why = "already a custom anchor";
			}
		if (why != NULL) {
			json_t *o = cki_trust_cert_json(&tc, p->now);

			json_object_set_new(o, "why", json_string(why));
			json_array_append_new(unchanged, o);
			continue;
		}
		if ((rv = add_check(t, s, p, i, &tc)) == CK_OK &&
		    (rv = add_alias(t, s, p, cc->x509)) == CK_OK)
			p->newi[p->nnew++] = i;
	}
	return rv;
}

/* Step 2, the write: journals the new anchors, writes them, rebuilds and
 * commits; undoes everything on failure, and the next command does if
 * this one is killed. */
static ck_status
add_write(ck_trust *t, const struct add_plan *p, json_t *rebuild)
{
	struct cki_tjournal jr;
	size_t written = 0;
	ck_status rv;

	cki_tj_init(&jr);
	for (size_t i = 0; i < p->nnew; i++) {
		char file[CKI_TRUST_MAX_ALIAS + 16];

		snprintf(file, sizeof(file), "%s.pem", p->newa[i]);
		if ((rv = cki_tj_add(t, &jr, '+', "anchors", file)) != CK_OK)
			goto out;
	}
	if ((rv = cki_tj_begin(t, &jr)) != CK_OK)
		goto undo;
	for (written = 0; written < p->nnew; written++) {
		size_t i = p->newi[written];
		ck_cert *cc = ck_bundle_get0_cert(p->b, i);
		const char *o = ck_bundle_origin(p->b, CK_OBJ_CERT, i);
		char *path, *from = cki_esc_dup(o, strlen(o));
		char file[CKI_TRUST_MAX_ALIAS + 16];

		if (written == p->nnew / 2)
			cki_tj_crash_point("inputs-partial");
		snprintf(file, sizeof(file), "%s.pem", p->newa[written]);
		if (from == NULL || (path = pjoin(t->anchors, file)) == NULL) {
			free(from);
			goto nomem;
		}
		rv = write_anchor(t, path, p->newa[written], cc->x509, from);
		free(path);
		free(from);
		if (rv != CK_OK)
			goto undo;
	}
	rv = commit_change(t, &jr, t->anchors, rebuild);
	goto out;
nomem:
	rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	if (written == 0)
		goto out;
undo:
	rv = undo_change(t, rv);
out:
	cki_tj_free(&jr);
	return rv;
}

/* Step 3, the report: the new anchors, with a warning for a pinned leaf
 * and for an intermediate. */
static void
add_report(const struct cki_tstate *s, const struct add_plan *p, json_t *doc)
{
	json_t *added = json_object_get(doc, "added");
	json_t *warnings = json_object_get(doc, "warnings");

	for (size_t i = 0; i < p->nnew; i++) {
		ck_cert *cc = ck_bundle_get0_cert(p->b, p->newi[i]);
		struct cki_tcert tc = {
		    cc->x509, "", "", CKI_SRC_CUSTOM, p->newa[i], NULL};
		json_t *o;

		cki_x509_fp(cc->x509, tc.fp);
		cki_x509_spki(cc->x509, tc.spki);
		o = cki_trust_cert_json(&tc, p->now);
		json_object_set_new(o, "origin",
		    cki_json_str(
		        ck_bundle_origin(p->b, CK_OBJ_CERT, p->newi[i])));
		for (size_t j = 0; j < s->nall; j++)
			if (strcmp(s->all[j].fp, tc.fp) == 0)
				json_object_set_new(
				    o, "also_system", json_true());
		json_array_append_new(added, o);
		if (X509_check_ca(cc->x509) == 0)
			json_array_append_new(warnings,
			    json_pack("{s:s, s:s}", "alias", p->newa[i],
			        "message",
			        "not a CA: pinned as a trusted leaf "
			        "(insecure_any_cert); "
			        "it "
			        "trusts this one certificate only"));
		else if (X509_self_signed(cc->x509, 0) != 1)
			json_array_append_new(warnings,
			    json_pack("{s:s, s:s}", "alias", p->newa[i],
			        "message",
			        "an intermediate CA, not a root: OpenSSL "
			        "clients "
			        "(curl, nginx) still look for its root unless "
			        "they "
			        "allow partial chains; add the root too if you "
			        "have it"));
	}
}

static ck_status
add_change(ck_trust *t, struct cki_tstate *s, void *arg, json_t **doc)
{
	struct add_plan *p = arg;
	json_t *rebuild;
	ck_status rv;

	if ((*doc = json_pack("{s:s, s:[], s:[], s:[]}", "action", "add",
	         "added", "unchanged", "warnings")) == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	rv = add_plan(t, s, p, json_object_get(*doc, "unchanged"));
	/* Nothing new: the outputs already hold all of it; no rebuild, and
	 * the report has no "rebuild" (docs/json.md). */
	if (rv != CK_OK || p->nnew == 0)
		return rv;
	rebuild = json_object();
	json_object_set_new(*doc, "rebuild", rebuild);
	if ((rv = add_write(t, p, rebuild)) == CK_OK)
		add_report(s, p, *doc);
	return rv;
}

ck_status
ck_trust_add(ck_trust *t, const ck_bundle *b, const char *alias,
    unsigned int flags, char **json)
{
	struct add_plan p = {b, alias, flags, (int64_t)cki_now(t->ctx),
	    ck_bundle_count(b, CK_OBJ_CERT), 0, NULL, NULL};
	ck_status rv;

	cki_begin(t->ctx);
	*json = NULL;
	if (p.n == 0)
		return cki_err(t->ctx, CK_E_USAGE,
		    "nothing to add: the input holds no certificate");
	if (alias != NULL && !alias_ok(alias))
		return cki_err(t->ctx, CK_E_USAGE,
		    "'%s' is not a valid alias: use 1 to %d letters, digits, "
		    "'.', '_' or '-', starting with a letter or digit",
		    alias, CKI_TRUST_MAX_ALIAS);
	if ((p.newa = calloc(p.n, sizeof(*p.newa))) == NULL ||
	    (p.newi = calloc(p.n, sizeof(*p.newi))) == NULL)
		rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	else
		rv = with_locked_state(
		    t, t->anchors, true, add_change, &p, json);
	free(p.newa);
	free(p.newi);
	return rv;
}

/* Finds a custom anchor by alias or SHA-256. */
static const struct cki_anchor *
find_anchor(const struct cki_tstate *s, const char *what)
{
	char hex[65];
	enum cki_pin kind;
	bool ex;

	for (size_t i = 0; i < s->nanchors; i++)
		if (strcasecmp(s->anchors[i].alias, what) == 0)
			return &s->anchors[i];
	if (cki_fp_parse(what, hex, &kind, &ex) && kind == CKI_PIN_CERT)
		for (size_t i = 0; i < s->nanchors; i++)
			if (strcmp(s->anchors[i].fp, hex) == 0)
				return &s->anchors[i];
	return NULL;
}

static ck_status
remove_change(ck_trust *t, struct cki_tstate *s, void *arg, json_t **doc)
{
	const char *what = ((const struct change_arg *)arg)->what;
	const struct cki_anchor *a;
	char *path = NULL;
	json_t *rebuild;
	ck_status rv;

	if ((a = find_anchor(s, what)) == NULL) {
		char hex[65];
		enum cki_pin kind;
		bool ex;

		if (cki_fp_parse(what, hex, &kind, &ex))
			for (size_t i = 0; i < s->nall; i++)
				if (strcmp(s->all[i].fp, hex) == 0)
					return cki_err(t->ctx, CK_E_REFUSED,
					    "%s is a system root (from %s), "
					    "not "
					    "a custom anchor; certkit never "
					    "edits "
					    "the system bundle. To keep it out "
					    "of "
					    "the outputs, run: certkit trust "
					    "distrust %s",
					    what, s->system_path, hex);
		return cki_err(t->ctx, CK_E_NOTFOUND,
		    "no custom anchor is named or has the SHA-256 '%s' (%zu "
		    "anchor%s in %s); `certkit trust list --source custom` "
		    "lists them",
		    what, s->nanchors, s->nanchors == 1 ? "" : "s", t->anchors);
	}
	if ((path = strdup(a->path)) == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	{
		struct cki_tcert tc = {
		    a->x, "", "", CKI_SRC_CUSTOM, a->alias, NULL};

		memcpy(tc.fp, a->fp, 65);
		memcpy(tc.spki, a->spki, 65);
		if ((*doc = json_pack("{s:s, s:[o]}", "action", "remove",
		         "removed",
		         cki_trust_cert_json(&tc, (int64_t)cki_now(t->ctx)))) ==
		    NULL) {
			free(path);
			return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
		}
	}
	rebuild = json_object();
	json_object_set_new(*doc, "rebuild", rebuild);
	rv = set_aside(t, "anchors", t->anchors, path, rebuild);
	free(path);
	return rv;
}

ck_status
ck_trust_remove(ck_trust *t, const char *what, char **json)
{
	struct change_arg ca = {what, NULL};

	return with_locked_state(t, NULL, true, remove_change, &ca, json);
}

/* One distrust entry to write. */
struct newdist {
	enum cki_pin kind;
	char hex[65];
	char *subject;
};

static ck_status
write_distrust(
    ck_trust *t, const struct newdist *d, const char *reason, char **pathp)
{
	char name[80], now[32], *text = NULL, *r = NULL;
	size_t n;
	ck_status rv;

	*pathp = NULL;
	snprintf(name, sizeof(name), "%s-%s",
	    d->kind == CKI_PIN_SPKI ? "spki" : "sha256", d->hex);
	if ((*pathp = pjoin(t->distrust, name)) == NULL ||
	    (r = cki_esc_dup(reason != NULL ? reason : "",
	         reason != NULL ? strlen(reason) : 0)) == NULL)
		goto nomem;
	cki_fmt_time((int64_t)time(NULL), now);
	n = strlen(r) + (d->subject ? strlen(d->subject) : 0) + 256;
	if ((text = malloc(n)) == NULL)
		goto nomem;
	n = (size_t)snprintf(text, n,
	    "# certkit distrust entry (format: lib/trust/trust.c, format B)\n"
	    "# The file name says what is distrusted; these lines are notes.\n"
	    "subject: %s\nreason: %s\ndate: %s\n",
	    d->subject ? d->subject : "(not present when distrusted)", r, now);
	/* A new file, named in the journal: no temporary name needed. */
	rv = cki_write_new(t->ctx, *pathp, text, n, 0644, true);
	goto out;
nomem:
	rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
out:
	free(text);
	free(r);
	return rv;
}

/* Journals the entries, writes them, rebuilds and commits, adding them
 * to DOC; removes the entries on failure. */
static ck_status
apply_distrust(ck_trust *t, struct cki_tstate *s, struct newdist *nd, size_t nn,
    const char *reason, json_t *doc)
{
	struct cki_tjournal j;
	json_t *rebuild, *arr = json_object_get(doc, "distrusted");
	char *path = NULL;
	ck_status rv = CK_OK;

	(void)s;
	cki_tj_init(&j);
	for (size_t i = 0; i < nn && rv == CK_OK; i++) {
		char name[80];

		snprintf(name, sizeof(name), "%s-%s",
		    nd[i].kind == CKI_PIN_SPKI ? "spki" : "sha256", nd[i].hex);
		rv = cki_tj_add(t, &j, '+', "distrust", name);
	}
	if (rv != CK_OK || nn == 0)
		goto err;
	if ((rv = cki_mkdirs(t->ctx, t->distrust, 0755)) != CK_OK)
		goto err;
	if ((rv = cki_tj_begin(t, &j)) != CK_OK)
		goto undo;
	for (size_t i = 0; i < nn; i++) {
		if (i == nn / 2)
			cki_tj_crash_point("inputs-partial");
		rv = write_distrust(t, &nd[i], reason, &path);
		free(path);
		path = NULL;
		if (rv != CK_OK)
			goto undo;
		json_array_append_new(arr,
		    json_pack("{s:s, s:s, s:s?, s:s?}", "by",
		        nd[i].kind == CKI_PIN_SPKI ? "spki" : "sha256", "value",
		        nd[i].hex, "subject", nd[i].subject, "reason", reason));
	}
	rebuild = json_object();
	json_object_set_new(doc, "rebuild", rebuild);
	rv = commit_change(t, &j, t->distrust, rebuild);
	goto err;
undo:
	rv = undo_change(t, rv);
err:
	cki_tj_free(&j);
	return rv;
}

static ck_status
distrust_change(ck_trust *t, struct cki_tstate *s, void *arg, json_t **doc)
{
	const struct change_arg *da = arg;
	const char *what = da->what;
	const struct cki_anchor *a;
	struct newdist nd = {CKI_PIN_CERT, "", NULL};
	const struct cki_distrust *have = NULL;
	bool ex = false, found = false;
	ck_status rv;

	if ((a = find_anchor(s, what)) != NULL) {
		memcpy(nd.hex, a->fp, 65);
		found = true;
	} else if (!cki_fp_parse(what, nd.hex, &nd.kind, &ex)) {
		return cki_err(t->ctx, CK_E_USAGE,
		    "'%s' is neither a custom anchor's alias nor a SHA-256 "
		    "fingerprint (64 hex digits; \"spki:HEX\" for a key pin). "
		    "`certkit trust list` shows both",
		    what);
	}
	/* A bare fingerprint is a certificate's, unless only a key has it. */
	for (size_t i = 0; i < s->nall && !found; i++) {
		if (nd.kind == CKI_PIN_CERT &&
		    strcmp(s->all[i].fp, nd.hex) == 0)
			found = true;
		else if ((nd.kind == CKI_PIN_SPKI || !ex) &&
		    strcmp(s->all[i].spki, nd.hex) == 0) {
			nd.kind = CKI_PIN_SPKI;
			found = true;
		}
	}
	for (size_t i = 0; i < s->nall && nd.subject == NULL; i++)
		if (strcmp(
		        nd.kind == CKI_PIN_SPKI ? s->all[i].spki : s->all[i].fp,
		        nd.hex) == 0)
			nd.subject = cki_name_oneline(
			    X509_get_subject_name(s->all[i].x));
	for (size_t j = 0; j < s->ndist; j++)
		if (s->dist[j].kind == nd.kind &&
		    strcmp(s->dist[j].hex, nd.hex) == 0)
			have = &s->dist[j];
	if ((*doc = json_pack("{s:s, s:[], s:[], s:b}", "action", "distrust",
	         "distrusted", "unchanged", "matches_now", found)) == NULL)
		rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	else if (have != NULL) {
		json_array_append_new(json_object_get(*doc, "unchanged"),
		    json_pack("{s:s, s:s, s:s?, s:s, s:s?}", "by",
		        nd.kind == CKI_PIN_SPKI ? "spki" : "sha256", "value",
		        nd.hex, "subject", nd.subject, "why",
		        "already distrusted", "reason", have->reason));
		rv = apply_distrust(t, s, NULL, 0, da->reason, *doc);
	} else {
		rv = apply_distrust(t, s, &nd, 1, da->reason, *doc);
	}
	free(nd.subject);
	return rv;
}

ck_status
ck_trust_distrust(
    ck_trust *t, const char *what, const char *reason, char **json)
{
	struct change_arg da = {what, reason};

	return with_locked_state(t, NULL, true, distrust_change, &da, json);
}

static ck_status
expired_change(ck_trust *t, struct cki_tstate *s, void *arg, json_t **doc)
{
	const char *reason = ((const struct change_arg *)arg)->reason;
	struct newdist *nd = NULL;
	size_t nn = 0;
	int64_t now = (int64_t)cki_now(t->ctx);
	ck_status rv;

	if ((nd = calloc(s->nall ? s->nall : 1, sizeof(*nd))) == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	for (size_t i = 0; i < s->nall; i++) {
		bool dup = false;

		if (s->all[i].distrusted != NULL ||
		    strcmp(cki_x509_validity(s->all[i].x, now), "expired") != 0)
			continue;
		/* One entry per certificate, present in two layers or not. */
		for (size_t k = 0; k < nn && !dup; k++)
			dup = strcmp(nd[k].hex, s->all[i].fp) == 0;
		if (dup)
			continue;
		nd[nn].kind = CKI_PIN_CERT;
		memcpy(nd[nn].hex, s->all[i].fp, 65);
		nd[nn].subject =
		    cki_name_oneline(X509_get_subject_name(s->all[i].x));
		nn++;
	}
	if ((*doc = json_pack("{s:s, s:[], s:[]}", "action", "distrust",
	         "distrusted", "unchanged")) == NULL)
		rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	else
		rv = apply_distrust(
		    t, s, nd, nn, reason ? reason : "expired", *doc);
	for (size_t i = 0; i < nn; i++)
		free(nd[i].subject);
	free(nd);
	return rv;
}

ck_status
ck_trust_distrust_expired(ck_trust *t, const char *reason, char **json)
{
	struct change_arg ca = {NULL, reason};

	return with_locked_state(t, NULL, true, expired_change, &ca, json);
}

static ck_status
undistrust_change(ck_trust *t, struct cki_tstate *s, void *arg, json_t **doc)
{
	const char *what = ((const struct change_arg *)arg)->what;
	const struct cki_distrust *e = NULL;
	const struct cki_anchor *a;
	char hex[65];
	enum cki_pin kind = CKI_PIN_CERT;
	bool ex = false;
	json_t *rebuild;

	if ((a = find_anchor(s, what)) != NULL)
		memcpy(hex, a->fp, 65);
	else if (!cki_fp_parse(what, hex, &kind, &ex))
		return cki_err(t->ctx, CK_E_USAGE,
		    "'%s' is neither an alias nor a SHA-256 fingerprint; "
		    "`certkit trust list --source distrusted` lists the "
		    "entries",
		    what);
	for (size_t j = 0; j < s->ndist && e == NULL; j++)
		if (strcmp(s->dist[j].hex, hex) == 0 &&
		    (!ex || s->dist[j].kind == kind))
			e = &s->dist[j];
	if (e == NULL)
		return cki_err(t->ctx, CK_E_NOTFOUND,
		    "'%s' is not distrusted; `certkit trust list --source "
		    "distrusted` lists the entries",
		    what);
	if ((*doc = json_pack("{s:s, s:[o]}", "action", "undistrust",
	         "undistrusted", distrust_json(s, e))) == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	rebuild = json_object();
	json_object_set_new(*doc, "rebuild", rebuild);
	return set_aside(t, "distrust", t->distrust, e->path, rebuild);
}

ck_status
ck_trust_undistrust(ck_trust *t, const char *what, char **json)
{
	struct change_arg ca = {what, NULL};

	return with_locked_state(t, NULL, true, undistrust_change, &ca, json);
}

static ck_status
rebuild_change(ck_trust *t, struct cki_tstate *s, void *arg, json_t **doc)
{
	(void)s;
	(void)arg;
	if ((*doc = json_pack("{s:s}", "action", "rebuild")) == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	return rebuild_locked(t, *doc);
}

ck_status
ck_trust_rebuild(ck_trust *t, char **json)
{
	return with_locked_state(t, NULL, false, rebuild_change, NULL, json);
}

ck_status
ck_trust_set_truststore_password(ck_trust *t, const char *password)
{
	ck_status rv;

	cki_begin(t->ctx);
	if ((rv = cki_trust_lock(t, true)) != CK_OK)
		return rv;
	if (password == NULL || password[0] == '\0') {
		if (unlink(t->pwfile) == -1 && errno != ENOENT)
			rv = cki_err(t->ctx, CK_E_IO, "%s: cannot remove: %s",
			    t->pwfile, strerror(errno));
	} else if (strchr(password, '\n') != NULL) {
		rv = cki_err(t->ctx, CK_E_USAGE,
		    "the truststore password must be one line");
	} else {
		rv = ck_write_file_atomic(
		    t->ctx, t->pwfile, password, strlen(password), 0600);
	}
	cki_trust_unlock(t);
	return rv;
}

bool
cki_distrust_entry_parse(
    const char *name, const char *text, size_t len, struct cki_distrust *e)
{
	char *t;

	memset(e, 0, sizeof(*e));
	if (!distrust_name(name, &e->kind, e->hex))
		return false;
	if ((t = strndup(text, len)) != NULL) {
		e->reason = field(t, "reason");
		e->date = field(t, "date");
		e->subject = field(t, "subject");
		free(t);
	}
	return true;
}

void
cki_distrust_entry_clear(struct cki_distrust *e)
{
	distrust_clear(e);
}
