/*
 * trust_build.c: writing the trust store's three outputs from a state the
 * caller has loaded under the lock (trust.c); it takes no lock itself.
 *
 * The outputs of one build are a generation, a directory that is complete
 * before anyone can see it; publishing it is one rename(2):
 *
 *   state        what is on disk                      made by
 *   ----------   ----------------------------------   ----------------------
 *   stable       out -> generations/N (complete)
 *     |          + generations/N+1/ being written     write_generation()
 *     v
 *   written      generations/N+1 complete, fsynced
 *     |          + out.tmp.PID -> generations/N+1     publish()
 *     v
 *   flipped      rename(out.tmp.PID, out): readers     publish()
 *     |          now resolve out/... into N+1
 *     v
 *   stable       generations/N removed                remove_stale()
 *
 * Guarantees:
 *  1. The three outputs (ca-bundle.pem, certs/, truststore.p12) come from
 *     one in-memory effective set, so they always hold the same
 *     certificates.
 *  2. A crash (or kill -9, or a failing write, fsync or rename) anywhere
 *     leaves "out" pointing at a complete generation: the old one or the
 *     new one. Leftover, unpublished generations are removed by the next
 *     build.
 *  3. The hashed directory holds regular files, not links, so a removed
 *     anchor can never leave a dangling link; names are
 *     X509_NAME_hash_ex(subject).N, as `openssl rehash` makes them.
 *
 * Test hook: CERTKIT_TRUST_SLEEP_AFTER=N (1 bundle, 2 certs, 3 p12, 4
 * published) prints a line to stderr and sleeps 30 s after that step, so a
 * test can kill -9 the build there.
 */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>

#include "encode_int.h"
#include "trust_int.h"

#define GEN_DIGITS 6

/* ---- inputs ------------------------------------------------------------- */

ck_status
cki_trust_p12_password(ck_trust *t, char **pw)
{
	*pw = NULL;
	if (access(t->pwfile, F_OK) == -1) {
		if ((*pw = strdup(CKI_TRUST_DEFAULT_P12PW)) == NULL)
			return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
		return CK_OK;
	}
	return cki_read_first_line(t->ctx, t->pwfile, pw);
}

STACK_OF(X509) * cki_trust_effective_stack(const struct cki_tstate *s)
{
	STACK_OF(X509) *sk = sk_X509_new_reserve(NULL, (int)s->nall);

	if (sk == NULL)
		return NULL;
	for (size_t i = 0; i < s->nall; i++)
		if (s->all[i].distrusted == NULL)
			sk_X509_push(
			    sk, s->all[i].x); /* reserved: cannot fail */
	return sk;
}

/* ---- serialising -------------------------------------------------------- */

/* The PEM bundle: a "# label" line, then the certificate. PEM readers
 * (OpenSSL, GnuTLS, Go, Java's CertificateFactory) skip text between
 * blocks (RFC 7468 section 2). */
ck_status
cki_trust_make_bundle(ck_trust *t, const struct cki_tstate *s, BIO *bio)
{
	for (size_t i = 0; i < s->nall; i++) {
		const struct cki_tcert *c = &s->all[i];
		char *label;

		if (c->distrusted != NULL)
			continue;
		label = cki_x509_label(c->x);
		if (BIO_printf(bio, "# %s%s%s\n", c->alias ? c->alias : "",
		        c->alias ? ": " : "", label ? label : "") <= 0 ||
		    !PEM_write_bio_X509(bio, c->x)) {
			free(label);
			return cki_err(t->ctx, CK_E_INTERNAL,
			    "cannot encode the bundle (%s)", cki_ossl_reason());
		}
		free(label);
	}
	return CK_OK;
}

/* True if `path` is a regular file holding exactly `data`. */
static bool
same_content(const char *path, const char *data, size_t len)
{
	char buf[16384];
	struct stat st;
	ssize_t r;
	int fd;
	bool same;

	if (len > sizeof(buf) ||
	    (fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return false;
	same = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (size_t)st.st_size == len && (r = read(fd, buf, len)) >= 0 &&
	    (size_t)r == len && memcmp(buf, data, len) == 0;
	close(fd);
	return same;
}

/*
 * The hashed directory: HHHHHHHH.N, where HHHHHHHH is the subject name
 * hash OpenSSL's by_dir lookup computes (X509_NAME_hash_ex) and N counts
 * certificates with the same hash. A file of the previous generation
 * (`prev`) with the very same content is hard-linked instead of written:
 * creating and fsyncing 150 files is most of a rebuild's cost, and a
 * linked file is durable already. A hand-edited file differs, so it is
 * written afresh. Written files are fsynced, then the directory.
 */
ck_status
cki_trust_write_hashed_dir(ck_ctx *ctx, STACK_OF(X509) * sk, const char *dir,
    const char *prev, json_t *files, int *nlinked)
{
	unsigned long *hashes = NULL;
	char path[PATH_MAX], old[PATH_MAX];
	BIO *bio = NULL;
	int n = sk_X509_num(sk);
	ck_status rv = CK_OK;

	if ((rv = cki_mkdirs(ctx, dir, 0755)) != CK_OK)
		return rv;
	if ((hashes = calloc((size_t)(n ? n : 1), sizeof(*hashes))) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	for (int i = 0; i < n; i++) {
		X509 *x = sk_X509_value(sk, i);
		int ok = 0, seq = 0;
		char *data;
		long len;

		hashes[i] = X509_NAME_hash_ex(
		    X509_get_subject_name(x), NULL, NULL, &ok);
		if (!ok) {
			rv = cki_err(ctx, CK_E_INTERNAL,
			    "cannot hash a subject name (%s)",
			    cki_ossl_reason());
			goto err;
		}
		for (int j = 0; j < i; j++)
			seq += hashes[j] == hashes[i];
		snprintf(
		    path, sizeof(path), "%s/%08lx.%d", dir, hashes[i], seq);
		(void)BIO_reset(bio);
		if (!PEM_write_bio_X509(bio, x)) {
			rv = cki_err(ctx, CK_E_INTERNAL, "cannot encode (%s)",
			    cki_ossl_reason());
			goto err;
		}
		len = BIO_get_mem_data(bio, &data);
		snprintf(old, sizeof(old), "%s/%s", prev ? prev : "",
		    strrchr(path, '/') + 1);
		if (prev != NULL && same_content(old, data, (size_t)len) &&
		    link(old, path) == 0) {
			/* Durable already: it was fsynced when first written.
			 */
			if (nlinked != NULL)
				(*nlinked)++;
		} else if ((rv = cki_write_new(ctx, path, data, (size_t)len,
		                0644, true)) != CK_OK) {
			goto err;
		}
		if (files != NULL)
			json_array_append_new(
			    files, json_string(strrchr(path, '/') + 1));
	}
	rv = cki_fsync_dir(ctx, dir);
err:
	BIO_free(bio);
	free(hashes);
	return rv;
}

/*
 * A truststore with no entries, for a store whose every certificate is
 * distrusted: an empty authenticated safe under an integrity MAC (RFC 7292
 * section 5.1), which Java and OpenSSL open as an empty keystore. The
 * general encoder refuses an empty bundle, rightly, for files a user asks
 * for; here the outputs must exist and agree.
 */
static ck_status
empty_p12(ck_trust *t, const char *password, uint8_t **out, size_t *len)
{
	STACK_OF(PKCS7) *safes = sk_PKCS7_new_null();
	PKCS12 *p12 = NULL;
	unsigned char *der = NULL;
	int n;
	ck_status rv = CK_OK;

	*out = NULL;
	*len = 0;
	if ((rv = ck_write_password_check(t->ctx, CK_FMT_P12, password)) !=
	    CK_OK) {
		sk_PKCS7_free(safes);
		return rv;
	}
	if (safes == NULL ||
	    (p12 = PKCS12_add_safes_ex(safes, 0, NULL, NULL)) == NULL ||
	    !PKCS12_set_mac(p12, password, -1, NULL, 0, 2048, EVP_sha256()) ||
	    (n = i2d_PKCS12(p12, &der)) <= 0) {
		rv = cki_err(t->ctx, CK_E_INTERNAL,
		    "cannot build an empty PKCS#12 truststore (%s)",
		    cki_ossl_reason());
	} else if ((*out = malloc((size_t)n)) == NULL) {
		rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	} else {
		memcpy(*out, der, (size_t)n);
		*len = (size_t)n;
	}
	OPENSSL_free(der);
	PKCS12_free(p12);
	sk_PKCS7_pop_free(safes, PKCS7_free);
	return rv;
}

ck_status
cki_trust_make_p12(ck_trust *t, STACK_OF(X509) * sk, const char *password,
    uint8_t **out, size_t *len)
{
	ck_bundle *b = ck_bundle_new();
	ck_write_opts wo = {0};
	ck_status rv = CK_OK;

	if (b == NULL)
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	if (sk_X509_num(sk) == 0) {
		ck_bundle_free(b);
		return empty_p12(t, password, out, len);
	}
	for (int i = 0; i < sk_X509_num(sk); i++) {
		ck_cert c = {sk_X509_value(sk, i)};

		if (ck_bundle_add_cert(b, &c) != CK_OK) {
			rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
	}
	/* Java's PKCS12KeyStore lists a certificate without a key only if
	 * its bag carries Oracle's trusted-key-usage attribute. */
	wo.password = password;
	wo.java_trusted = 1;
	rv = ck_encode_bundle(t->ctx, b, CK_FMT_P12, &wo, out, len);
err:
	ck_bundle_free(b);
	return rv;
}

static void
test_pause(int step)
{
	const char *e = getenv("CERTKIT_TRUST_SLEEP_AFTER");
	struct timespec ts = {30, 0};

	if (e == NULL || e[0] - '0' != step || e[1] != '\0')
		return;
	fprintf(stderr, "certkit: test hook: paused after step %d (pid %ld)\n",
	    step, (long)getpid());
	fflush(stderr);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* ---- generations -------------------------------------------------------- */

static bool
gen_name(const char *n, unsigned long *num)
{
	char *end;

	if (strlen(n) != GEN_DIGITS)
		return false;
	for (int i = 0; i < GEN_DIGITS; i++)
		if (n[i] < '0' || n[i] > '9')
			return false;
	*num = strtoul(n, &end, 10);
	return *end == '\0';
}

/* Removes a generation directory: its files and its certs/ directory. */
static void
remove_gen(const char *path)
{
	DIR *d;
	struct dirent *de;
	char sub[PATH_MAX];

	if ((d = opendir(path)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			remove_gen(sub);
		else
			(void)unlink(sub);
	}
	closedir(d);
	(void)rmdir(path);
}

/* The generation "out" points at (0 if none), and the highest present. */
static void
gen_scan(ck_trust *t, unsigned long *current, unsigned long *highest)
{
	char link[PATH_MAX];
	ssize_t n;
	DIR *d;
	struct dirent *de;
	unsigned long v;

	*current = *highest = 0;
	if ((n = readlink(t->out, link, sizeof(link) - 1)) > 0) {
		const char *base;

		link[n] = '\0';
		base = strrchr(link, '/');
		if (gen_name(base != NULL ? base + 1 : link, &v))
			*current = v;
	}
	*highest = *current;
	if ((d = opendir(t->gens)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (gen_name(de->d_name, &v) && v > *highest)
			*highest = v;
	closedir(d);
}

static void
remove_stale(ck_trust *t, unsigned long keep)
{
	DIR *d;
	struct dirent *de;
	unsigned long v;
	char path[PATH_MAX];

	if ((d = opendir(t->gens)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!gen_name(de->d_name, &v) || v == keep)
			continue;
		snprintf(path, sizeof(path), "%s/%s", t->gens, de->d_name);
		remove_gen(path);
	}
	closedir(d);
}

/* Flips "out" to the new generation with one rename(2). */
static ck_status
publish(ck_trust *t, const char *gen)
{
	char tmp[PATH_MAX], target[64];
	struct stat st;

	if (lstat(t->out, &st) == 0 && !S_ISLNK(st.st_mode))
		return cki_err(t->ctx, CK_E_REFUSED,
		    "%s: is a %s, not the symbolic link certkit maintains; "
		    "move it away (mv %s %s.old) and run `certkit trust "
		    "rebuild`",
		    t->out, S_ISDIR(st.st_mode) ? "directory" : "file", t->out,
		    t->out);
	snprintf(target, sizeof(target), "generations/%s", gen);
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", t->out, (long)getpid());
	(void)unlink(tmp);
	if (symlink(target, tmp) == -1)
		return cki_err(t->ctx, CK_E_IO, "%s: cannot create link: %s",
		    tmp, strerror(errno));
	return cki_replace(t->ctx, tmp, t->out, t->dir);
}

static void
hex_sha256(const void *data, size_t len, char out[65])
{
	unsigned char md[32];

	if (!EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL)) {
		out[0] = '\0';
		return;
	}
	cki_hex(md, 32, out);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* The manifest's certificates: what the audit compares the outputs
 * with. */
static json_t *
manifest_certs(const struct cki_tstate *s)
{
	json_t *certs;

	certs = json_array();
	for (size_t i = 0; i < s->nall; i++) {
		const struct cki_tcert *c = &s->all[i];

		if (c->distrusted != NULL)
			continue;
		json_array_append_new(certs,
		    json_pack(
		        "{s:s, s:s?}", "sha256", c->fp, "alias", c->alias));
	}
	return certs;
}

/* The build's part of a change's report. */
static void
build_report(ck_trust *t, const struct cki_tstate *s, json_t *report,
    unsigned long gen, int count, int nlinked, double elapsed_ms)
{
	size_t nsys = 0, ncustom = 0, ndist = 0;

	for (size_t i = 0; i < s->nall; i++) {
		if (s->all[i].distrusted != NULL)
			ndist++;
		else if (s->all[i].src & CKI_SRC_CUSTOM)
			ncustom++;
		else
			nsys++;
	}
	json_object_set_new(
	    report, "generation", json_integer((json_int_t)gen));
	json_object_set_new(report, "count", json_integer(count));
	json_object_set_new(report, "system", json_integer((json_int_t)nsys));
	json_object_set_new(
	    report, "custom", json_integer((json_int_t)ncustom));
	json_object_set_new(
	    report, "distrusted_excluded", json_integer((json_int_t)ndist));
	json_object_set_new(
	    report, "system_bundle", cki_json_str(s->system_path));
	json_object_set_new(
	    report, "system_bundle_missing", json_boolean(s->system_missing));
	json_object_set_new(report, "outputs",
	    json_pack("{s:o, s:o, s:o}", "bundle", cki_json_str(t->bundle),
	        "certs", cki_json_str(t->certs), "p12", cki_json_str(t->p12)));
	json_object_set_new(report, "certs_reused", json_integer(nlinked));
	json_object_set_new(report, "elapsed_ms", json_real(elapsed_ms));
}

ck_status
cki_trust_build(ck_trust *t, const struct cki_tstate *s, json_t *report)
{
	STACK_OF(X509) *sk = NULL;
	BIO *bio = NULL;
	uint8_t *p12 = NULL;
	size_t p12len = 0;
	char *pw = NULL, *bundle, *mtext = NULL;
	char gen[GEN_DIGITS + 1], gdir[PATH_MAX], path[PATH_MAX + 32], bsum[65];
	char built[32], prev[PATH_MAX];
	unsigned long cur, high;
	int nlinked = 0;
	long blen;
	json_t *manifest = NULL, *files;
	double t0 = mono_ms();
	int64_t built_ns;
	ck_status rv;

	if ((rv = cki_mkdirs(t->ctx, t->gens, 0755)) != CK_OK)
		return rv;
	gen_scan(t, &cur, &high);
	if (high + 1 >= 1000000) /* wrap, never onto the current one */
		high = cur == 1 ? 1 : 0;
	snprintf(gen, sizeof(gen), "%0*lu", GEN_DIGITS, high + 1);
	snprintf(gdir, sizeof(gdir), "%s/%s", t->gens, gen);
	remove_gen(gdir); /* a leftover of a crashed build */
	if (mkdir(gdir, 0755) == -1)
		return cki_err(t->ctx, CK_E_IO, "%s: cannot create: %s", gdir,
		    strerror(errno));

	if ((sk = cki_trust_effective_stack(s)) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    (files = json_array()) == NULL)
		goto nomem;
	built_ns = now_ns();
	cki_fmt_time(built_ns / 1000000000, built);
	manifest = json_pack("{s:s, s:i, s:s, s:I, s:s, s:b, s:I, s:I, s:o}",
	    "format", "certkit-trust-generation-1", "generation",
	    (int)(high + 1), "built_at", built, "built_at_ns",
	    (json_int_t)built_ns, "system_bundle", s->system_path,
	    "system_bundle_missing", s->system_missing, "inputs_mtime_ns",
	    (json_int_t)s->inputs_mtime, "count", (json_int_t)sk_X509_num(sk),
	    "hashed_files", files);
	if (manifest == NULL)
		goto nomem;

	/* 1: the PEM bundle. */
	if ((rv = cki_trust_make_bundle(t, s, bio)) != CK_OK)
		goto err;
	blen = BIO_get_mem_data(bio, &bundle);
	hex_sha256(bundle, (size_t)blen, bsum);
	snprintf(path, sizeof(path), "%s/ca-bundle.pem", gdir);
	if ((rv = cki_write_new(
	         t->ctx, path, bundle, (size_t)blen, 0644, true)) != CK_OK)
		goto err;
	json_object_set_new(manifest, "ca_bundle_sha256", json_string(bsum));
	test_pause(1);

	/* 2: the hashed directory. */
	snprintf(path, sizeof(path), "%s/certs", gdir);
	if (cur > 0)
		snprintf(prev, sizeof(prev), "%s/%0*lu/certs", t->gens,
		    GEN_DIGITS, cur);
	if ((rv = cki_trust_write_hashed_dir(t->ctx, sk, path,
	         cur > 0 ? prev : NULL, files, &nlinked)) != CK_OK)
		goto err;
	test_pause(2);

	/* 3: the Java truststore. */
	if ((rv = cki_trust_p12_password(t, &pw)) != CK_OK ||
	    (rv = cki_trust_make_p12(t, sk, pw, &p12, &p12len)) != CK_OK)
		goto err;
	snprintf(path, sizeof(path), "%s/truststore.p12", gdir);
	if ((rv = cki_write_new(t->ctx, path, p12, p12len, 0644, true)) !=
	    CK_OK)
		goto err;
	test_pause(3);

	/* The manifest: what the audit compares the outputs with. */
	json_object_set_new(manifest, "certificates", manifest_certs(s));
	if ((mtext = json_dumps(manifest, JSON_INDENT(1))) == NULL)
		goto nomem;
	snprintf(path, sizeof(path), "%s/manifest.json", gdir);
	if ((rv = cki_write_new(
	         t->ctx, path, mtext, strlen(mtext), 0644, true)) != CK_OK ||
	    (rv = cki_fsync_dir(t->ctx, gdir)) != CK_OK ||
	    (rv = cki_fsync_dir(t->ctx, t->gens)) != CK_OK)
		goto err;

	/* The commit point. */
	if ((rv = publish(t, gen)) != CK_OK)
		goto err;
	test_pause(4);
	remove_stale(t, high + 1);
	if (report != NULL)
		build_report(t, s, report, high + 1, sk_X509_num(sk), nlinked,
		    mono_ms() - t0);
	rv = CK_OK;
	goto out;
nomem:
	rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
err:
	/* Never published: the previous generation stays in place. */
	remove_gen(gdir);
out:
	if (pw != NULL)
		OPENSSL_clear_free(pw, strlen(pw));
	free(p12);
	free(mtext);
	json_decref(manifest);
	BIO_free(bio);
	sk_X509_free(sk);
	return rv;
}
