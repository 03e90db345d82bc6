/*
 * doctor.c: the connection doctor's public API (include/certkit/doctor.h):
 * collecting endpoints and settings, loading the device's store and the
 * reference roots, running the probes (probe.c) and assembling the report
 * (schema "doctor" in docs/json.md).
 *
 * Invariants:
 *  1. Setters validate and copy their input at once, so a bad --resolve or
 *     proxy URL is a usage error before anything touches the network.
 *  2. The reference set only explains failures; it never makes an endpoint
 *     online (doctor_diag.c verifies against the device's store alone).
 *  3. ck_doctor_run() returns CK_OK whenever it produced a report, whatever
 *     the endpoints' status; errors are for bad input and broken machinery.
 *  4. The report never contains a password: proxy URLs are shown with
 *     "***", keys are never read into it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "doctor_int.h"
#include "reference_int.h"
#include "verify_int.h"

struct cki_resolve {
	struct cki_hostport hp;
	char **addrs;
	size_t naddrs;
};

struct ck_doctor {
	ck_ctx *ctx;
	struct cki_endpoint *eps;
	size_t n, cap;
	char *trust;
	char *reference;
	struct cki_resolve *res;
	size_t nres;
	char *proxy; /* NULL: from the environment */
	bool proxy_set;
	char *cert, *key;
	struct sockaddr_storage dns;
	socklen_t dns_len;
	bool dns_set;
	char dns_text[96];
	bool public_;
	ck_policy policy;
	bool https_optional; /* --https if-available */
	int timeout_ms;
	int parallel;
	ck_doctor_progress_cb progress;
	void *progress_arg;
};

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; v != NULL && i < n; i++)
		free(v[i]);
	free(v);
}

ck_status
ck_doctor_new(ck_ctx *ctx, ck_doctor **out)
{
	ck_doctor *d;

	if (ctx == NULL || out == NULL)
		return CK_E_USAGE;
	cki_begin(ctx);
	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	d->ctx = ctx;
	d->timeout_ms = CKI_DOC_DEFAULT_TIMEOUT_MS;
	d->parallel = CKI_DOC_DEFAULT_PARALLEL;
	*out = d;
	return CK_OK;
}

void
ck_doctor_free(ck_doctor *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n; i++)
		cki_endpoint_clear(&d->eps[i]);
	free(d->eps);
	for (size_t i = 0; i < d->nres; i++)
		strv_free(d->res[i].addrs, d->res[i].naddrs);
	free(d->res);
	free(d->trust);
	free(d->reference);
	if (d->proxy != NULL)
		OPENSSL_clear_free(d->proxy, strlen(d->proxy));
	free(d->cert);
	free(d->key);
	free(d);
}

ck_status
ck_doctor_add_endpoint(ck_doctor *d, const char *spec)
{
	struct cki_endpoint e;
	struct cki_hostport hp;
	char why[300];
	ck_status st;

	cki_begin(d->ctx);
	if (!cki_net_parse_endpoint(spec, &hp, why, sizeof(why)))
		return cki_err(d->ctx, CK_E_USAGE, "endpoint '%s': %s",
		    spec ? spec : "", why);
	memset(&e, 0, sizeof(e));
	memcpy(e.host, hp.host, sizeof(e.host));
	e.port = hp.port;
	e.is_ip = hp.is_ip;
	e.cli = true;
	if ((e.origin = strdup("command line")) == NULL)
		return cki_err(d->ctx, CK_E_NOMEM, "out of memory");
	if ((st = cki_doc_push_endpoint(d->ctx, &d->eps, &d->n, &d->cap, &e)) !=
	    CK_OK)
		cki_endpoint_clear(&e);
	return st;
}

ck_status
ck_doctor_load_profile(ck_doctor *d, const char *path)
{
	cki_begin(d->ctx);
	if (path == NULL)
		return cki_err(d->ctx, CK_E_USAGE, "no profile file given");
	return cki_doc_load_profile(d->ctx, path, &d->eps, &d->n, &d->cap);
}

static ck_status
set_str(ck_ctx *ctx, char **dst, const char *v)
{
	char *c = NULL;

	if (v != NULL && (c = strdup(v)) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	free(*dst);
	*dst = c;
	return CK_OK;
}

ck_status
ck_doctor_set_trust(ck_doctor *d, const char *path)
{
	struct stat st;

	cki_begin(d->ctx);
	if (path != NULL && stat(path, &st) != 0)
		return cki_err(d->ctx, CK_E_IO,
		    "%s: the trust store does not "
		    "exist (%s): expected a CA bundle file or a directory of "
		    "CA certificates",
		    path, strerror(errno));
	return set_str(d->ctx, &d->trust, path);
}

ck_status
ck_doctor_set_reference(ck_doctor *d, const char *path)
{
	struct stat st;

	cki_begin(d->ctx);
	if (path != NULL && stat(path, &st) != 0)
		return cki_err(d->ctx, CK_E_IO,
		    "%s: the reference set does not "
		    "exist (%s)",
		    path, strerror(errno));
	return set_str(d->ctx, &d->reference, path);
}

ck_status
ck_doctor_add_resolve(ck_doctor *d, const char *spec)
{
	struct cki_resolve r, *nr;
	char why[300];

	cki_begin(d->ctx);
	memset(&r, 0, sizeof(r));
	if (spec == NULL ||
	    !cki_doc_parse_resolve(
	        spec, &r.hp, &r.addrs, &r.naddrs, why, sizeof(why)))
		return cki_err(
		    d->ctx, CK_E_USAGE, "resolve: %s", spec ? why : "no value");
	if ((nr = realloc(d->res, (d->nres + 1) * sizeof(*nr))) == NULL) {
		strv_free(r.addrs, r.naddrs);
		return cki_err(d->ctx, CK_E_NOMEM, "out of memory");
	}
	d->res = nr;
	d->res[d->nres++] = r;
	return CK_OK;
}

ck_status
ck_doctor_set_proxy(ck_doctor *d, const char *url)
{
	struct cki_proxy p;
	char why[300];
	char *c = NULL;

	cki_begin(d->ctx);
	if (url != NULL && url[0] != '\0') {
		if (!cki_net_parse_proxy(url, &p, why, sizeof(why)))
			return cki_err(d->ctx, CK_E_USAGE, "proxy: %s", why);
		cki_proxy_clear(&p);
	}
	if (url != NULL && (c = strdup(url)) == NULL)
		return cki_err(d->ctx, CK_E_NOMEM, "out of memory");
	if (d->proxy != NULL)
		OPENSSL_clear_free(d->proxy, strlen(d->proxy));
	d->proxy = c;
	d->proxy_set = url != NULL;
	return CK_OK;
}

ck_status
ck_doctor_set_client_identity(
    ck_doctor *d, const char *cert_path, const char *key_path)
{
	ck_status st;

	cki_begin(d->ctx);
	if (cert_path == NULL && key_path != NULL)
		return cki_err(d->ctx, CK_E_USAGE,
		    "client key %s needs the "
		    "client certificate (cert_path)",
		    key_path);
	if ((st = set_str(d->ctx, &d->cert, cert_path)) != CK_OK)
		return st;
	return set_str(d->ctx, &d->key, key_path);
}

ck_status
ck_doctor_set_dns(ck_doctor *d, const char *addr)
{
	char why[300];

	cki_begin(d->ctx);
	if (addr == NULL) {
		d->dns_set = false;
		return CK_OK;
	}
	if (!cki_net_parse_dns(addr, &d->dns, &d->dns_len, why, sizeof(why)))
		return cki_err(d->ctx, CK_E_USAGE, "dns: %s", why);
	d->dns_set = true;
	snprintf(d->dns_text, sizeof(d->dns_text), "%s", addr);
	return CK_OK;
}

void
ck_doctor_set_public(ck_doctor *d, int public_)
{
	d->public_ = public_ != 0;
}

ck_status
ck_doctor_set_policy(ck_doctor *d, ck_policy p)
{
	if (p != CK_POLICY_COMPAT && p != CK_POLICY_STRICT)
		return cki_err(d->ctx, CK_E_USAGE,
		    "unknown policy %d: expected compat or strict", (int)p);
	d->policy = p;
	return CK_OK;
}

ck_status
ck_doctor_set_https(ck_doctor *d, const char *mode)
{
	if (mode != NULL && strcmp(mode, "required") == 0)
		d->https_optional = false;
	else if (mode != NULL && strcmp(mode, "if-available") == 0)
		d->https_optional = true;
	else {
		char shown[64] = "";

		if (mode != NULL)
			cki_esc(shown, sizeof(shown), mode, strlen(mode));
		return cki_err(d->ctx, CK_E_USAGE,
		    "https: expected required or if-available, found \"%s\"",
		    shown);
	}
	return CK_OK;
}

void
ck_doctor_set_timeout_ms(ck_doctor *d, int ms)
{
	d->timeout_ms = ms < CK_TIMEOUT_MIN_MS ? CK_TIMEOUT_MIN_MS
	    : ms > CK_TIMEOUT_MAX_MS           ? CK_TIMEOUT_MAX_MS
	                                       : ms;
}

void
ck_doctor_set_parallel(ck_doctor *d, int n)
{
	d->parallel = n < 1            ? 1
	    : n > CKI_DOC_MAX_PARALLEL ? CKI_DOC_MAX_PARALLEL
	                               : n;
}

void
ck_doctor_set_progress_cb(ck_doctor *d, ck_doctor_progress_cb cb, void *arg)
{
	d->progress = cb;
	d->progress_arg = arg;
}

/* ---- stores
 * ------------------------------------------------------------------ */

static ck_status
add_bundle_certs(
    ck_ctx *ctx, const char *path, STACK_OF(X509) * out, bool expect)
{
	ck_bundle *b = NULL;
	ck_status st;

	st = expect ? ck_load_expect(ctx, path, CK_OBJ_CERT, &b)
	            : ck_load_file(ctx, path, &b);
	if (st != CK_OK)
		return st;
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		X509 *x = ck_bundle_get0_cert(b, i)->x509;

		if (!X509_up_ref(x) || !sk_X509_push(out, x)) {
			X509_free(x);
			ck_bundle_free(b);
			return cki_err(ctx, CK_E_NOMEM, "out of memory");
		}
	}
	ck_bundle_free(b);
	return CK_OK;
}

/* A file, or every certificate file of a directory (hashed or not). */
static ck_status
load_certs(ck_ctx *ctx, const char *path, STACK_OF(X509) * out)
{
	struct stat st;
	DIR *dir;
	struct dirent *de;
	size_t files = 0;
	ck_status rv = CK_OK;

	if (stat(path, &st) != 0)
		return cki_err(ctx, CK_E_IO, "%s: %s", path, strerror(errno));
	/* The trust store yields certificates, or it is verify's input error
	 * (cki_no_anchors). */
	if (S_ISREG(st.st_mode) && st.st_size == 0)
		return cki_no_anchors(ctx, path, false, 0);
	if (!S_ISDIR(st.st_mode))
		return add_bundle_certs(ctx, path, out, true);
	if ((dir = opendir(path)) == NULL)
		return cki_err(ctx, CK_E_IO,
		    "%s: cannot read the directory: %s", path, strerror(errno));
	while ((de = readdir(dir)) != NULL && files < 20000) {
		char full[4096];
		struct stat fs;

		if (de->d_name[0] == '.')
			continue;
		snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (stat(full, &fs) != 0 || !S_ISREG(fs.st_mode))
			continue;
		files++;
		/* A store directory may hold other files (a README, a
		 * .crl): skip what holds no certificate. */
		if (add_bundle_certs(ctx, full, out, false) == CK_E_NOMEM) {
			rv = CK_E_NOMEM;
			break;
		}
	}
	closedir(dir);
	ck_ctx_clear_error(ctx);
	if (rv != CK_OK)
		return cki_err(ctx, rv, "out of memory");
	if (sk_X509_num(out) == 0)
		return cki_no_anchors(ctx, path, true, files);
	return CK_OK;
}

/* Drops duplicates (same DER) so lists stay short. */
static void
dedup(STACK_OF(X509) * l)
{
	for (int i = 0; i < sk_X509_num(l); i++)
		for (int j = sk_X509_num(l) - 1; j > i; j--)
			if (X509_cmp(
			        sk_X509_value(l, i), sk_X509_value(l, j)) == 0)
				X509_free(sk_X509_delete(l, j));
}

static ck_status
load_trust(ck_doctor *d, STACK_OF(X509) * *certs, X509_STORE **store, char *src,
    size_t srclen)
{
	STACK_OF(X509) *l = sk_X509_new_null();
	X509_STORE *s = NULL;
	ck_status st;

	if (l == NULL)
		return cki_err(d->ctx, CK_E_NOMEM, "out of memory");
	if (d->trust != NULL) {
		if ((st = load_certs(d->ctx, d->trust, l)) != CK_OK)
			goto err;
		snprintf(src, srclen, "%s", d->trust);
	} else {
		/* The system store, honouring SSL_CERT_FILE / SSL_CERT_DIR as
		 * OpenSSL does (X509_get_default_cert_file_env(3)). */
		const char *f = getenv(X509_get_default_cert_file_env());
		const char *dir = getenv(X509_get_default_cert_dir_env());
		struct stat sb;

		if (f == NULL)
			f = X509_get_default_cert_file();
		if (dir == NULL)
			dir = X509_get_default_cert_dir();
		if (stat(f, &sb) == 0 && S_ISREG(sb.st_mode)) {
			if ((st = load_certs(d->ctx, f, l)) != CK_OK)
				goto err;
			snprintf(src, srclen, "the system store (%s)", f);
		} else if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) {
			if ((st = load_certs(d->ctx, dir, l)) != CK_OK)
				goto err;
			snprintf(src, srclen, "the system store (%s)", dir);
		} else {
			st = cki_err(d->ctx, CK_E_IO,
			    "no trust store: %s and %s "
			    "do not exist; give one (the trust setting)",
			    f, dir);
			goto err;
		}
	}
	dedup(l);
	if ((s = X509_STORE_new()) == NULL) {
		st = cki_err(d->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	for (int i = 0; i < sk_X509_num(l); i++)
		X509_STORE_add_cert(s, sk_X509_value(l, i));
	ERR_clear_error();
	*certs = l;
	*store = s;
	return CK_OK;
err:
	sk_X509_pop_free(l, X509_free);
	return st;
}

static ck_status
load_reference(ck_doctor *d, STACK_OF(X509) * *out, char *src, size_t srclen)
{
	STACK_OF(X509) *l = NULL;
	ck_status st;

	if (d->reference != NULL) {
		if ((l = sk_X509_new_null()) == NULL)
			return cki_err(d->ctx, CK_E_NOMEM, "out of memory");
		if ((st = load_certs(d->ctx, d->reference, l)) != CK_OK) {
			sk_X509_pop_free(l, X509_free);
			return st;
		}
		snprintf(src, srclen, "%s", d->reference);
	} else if (cki_reference_pem_len > 0) {
		/* The embedded Mozilla set, so a device whose own store is
		 * damaged can still be explained. Left NULL here: the
		 * diagnosis parses it (once per process) only when a failure
		 * needs explaining, not at every start. */
		snprintf(src, srclen,
		    "the reference set (Mozilla roots, %u, embedded)",
		    cki_reference_files);
	} else {
		const char *f = X509_get_default_cert_file();

		if ((l = sk_X509_new_null()) == NULL)
			return cki_err(d->ctx, CK_E_NOMEM, "out of memory");
		if (load_certs(d->ctx, f, l) != CK_OK)
			ck_ctx_clear_error(d->ctx);
		snprintf(src, srclen,
		    "the system bundle %s (this build embeds "
		    "no reference set)",
		    f);
	}
	dedup(l);
	*out = l;
	return CK_OK;
}

/* A client identity: the certificate (and chain) and its key, from any
 * format the loader reads (a .p12 with both, or PEM files). */
static ck_status
load_identity(ck_ctx *ctx, const char *cert, const char *key,
    const char *origin, SSL_CTX **out)
{
	ck_bundle *cb = NULL, *kb = NULL;
	ck_key *k = NULL;
	ck_cert *leaf = NULL;
	SSL_CTX *s = NULL;
	ck_status st;

	*out = NULL;
	if ((st = ck_load_file(ctx, cert, &cb)) != CK_OK)
		goto err;
	if (ck_bundle_count(cb, CK_OBJ_CERT) == 0) {
		st = cki_err(ctx, CK_E_FORMAT,
		    "%s: expected the client "
		    "certificate, found no certificate (%s)",
		    cert, origin);
		goto err;
	}
	if (key != NULL && strcmp(key, cert) != 0) {
		if ((st = ck_load_file(ctx, key, &kb)) != CK_OK)
			goto err;
		k = ck_bundle_get0_key(kb, 0);
	} else {
		k = ck_bundle_get0_key(cb, 0);
	}
	if (k == NULL) {
		st = cki_err(ctx, CK_E_FORMAT,
		    "%s: holds no private key: give "
		    "the client key (key_path, or client_key in the profile)",
		    key != NULL ? key : cert);
		goto err;
	}
	for (size_t i = 0; i < ck_bundle_count(cb, CK_OBJ_CERT); i++)
		if (ck_key_matches_cert(k, ck_bundle_get0_cert(cb, i)))
			leaf = ck_bundle_get0_cert(cb, i);
	if (leaf == NULL) {
		st = cki_err(ctx, CK_E_FORMAT,
		    "%s: the private key does not "
		    "belong to any certificate in %s",
		    key != NULL ? key : cert, cert);
		goto err;
	}
	if ((s = cki_doc_ssl_ctx(ctx, false)) == NULL) {
		st = CK_E_INTERNAL;
		goto err;
	}
	if (SSL_CTX_use_certificate(s, leaf->x509) != 1 ||
	    SSL_CTX_use_PrivateKey(s, k->pkey) != 1 ||
	    SSL_CTX_check_private_key(s) != 1) {
		st = cki_err(ctx, CK_E_FORMAT,
		    "%s: OpenSSL refuses the client "
		    "certificate or key: %s",
		    cert, cki_ossl_reason());
		goto err;
	}
	/* RFC 8446 4.4.2: send the intermediates after the leaf. */
	for (size_t i = 0; i < ck_bundle_count(cb, CK_OBJ_CERT); i++) {
		ck_cert *c = ck_bundle_get0_cert(cb, i);

		if (c != leaf && !X509_self_signed(c->x509, 0))
			SSL_CTX_add1_chain_cert(s, c->x509);
	}
	ERR_clear_error();
	*out = s;
	s = NULL;
	st = CK_OK;
err:
	SSL_CTX_free(s);
	ck_bundle_free(cb);
	ck_bundle_free(kb);
	return st;
}

/* ---- the run
 * ------------------------------------------------------------------ */

struct idcache {
	const char *cert, *key;
	SSL_CTX *ssl;
};

static json_t *
summary_json(const struct cki_doc_meta *m, size_t n, int64_t elapsed_ms,
    bool *all_online)
{
	size_t on = 0, un = 0, off = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(m[i].status, "online") == 0)
			on++;
		else if (strcmp(m[i].status, "offline") == 0)
			off++;
		else
			un++;
	}
	*all_online = un == 0 && off == 0;
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "online", (json_int_t)on,
	    "unreachable", (json_int_t)un, "offline", (json_int_t)off, "total",
	    (json_int_t)n, "elapsed_ms", (json_int_t)elapsed_ms);
}

/* The cross-endpoint check needs the reports as trees; it is rare (every
 * endpoint out of date), so they are parsed back only then. */
static ck_status
cross_check(ck_ctx *ctx, const struct cki_diag_env *env, char **results,
    struct cki_doc_meta *meta, size_t n)
{
	json_t *eps;
	ck_status st = CK_OK;

	if (!cki_doc_cross_needed(meta, n))
		return CK_OK;
	if ((eps = json_array()) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_loads(results[i], 0, NULL);

		if (e == NULL || json_array_append_new(eps, e) != 0) {
			st = cki_err(ctx, CK_E_INTERNAL,
			    "cannot re-read an "
			    "endpoint report");
			goto out;
		}
	}
	cki_doc_cross_check(env, eps);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(eps, i);
		char *t = json_dumps(
		    e, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);

		if (t == NULL) {
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto out;
		}
		free(results[i]);
		results[i] = t;
		cki_doc_meta_of(e, &meta[i]);
	}
out:
	json_decref(eps);
	return st;
}

/* {"endpoints":[R0,R1,...], TAIL...}: the endpoint reports are spliced
 * in as text, never held as one tree, one per line so that a large report
 * reads and greps well without re-indenting. */
static char *
assemble(char **results, size_t n, const char *tail)
{
	size_t len = strlen("{\"endpoints\":[\n\n],") + strlen(tail), off = 0;
	char *out;

	for (size_t i = 0; i < n; i++)
		len += strlen(results[i]) + 2;
	if ((out = malloc(len + 1)) == NULL)
		return NULL;
	off += (size_t)snprintf(out, len + 1, "{\"endpoints\":[\n");
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(results[i]);

		if (i > 0) {
			out[off++] = ',';
			out[off++] = '\n';
		}
		memcpy(out + off, results[i], l);
		off += l;
	}
	out[off++] = '\n';
	out[off++] = ']';
	/* tail is a JSON object: replace its '{' with ','. */
	out[off++] = ',';
	memcpy(out + off, tail + 1, strlen(tail + 1) + 1);
	return out;
}

/* --resolve and --public apply to the matching endpoints. */
static ck_status
apply_resolve(ck_doctor *d)
{
	for (size_t i = 0; i < d->n; i++) {
		struct cki_endpoint *e = &d->eps[i];

		if (e->cli && d->public_ && e->expect == CKI_EXPECT_UNKNOWN)
			e->expect = CKI_EXPECT_PUBLIC;
		for (size_t r = 0; r < d->nres && e->naddrs == 0; r++) {
			if (strcasecmp(d->res[r].hp.host, e->host) != 0 ||
			    d->res[r].hp.port != e->port)
				continue;
			if ((e->addrs = calloc(
			         d->res[r].naddrs, sizeof(char *))) == NULL)
				return cki_err(
				    d->ctx, CK_E_NOMEM, "out of memory");
			for (size_t k = 0; k < d->res[r].naddrs; k++) {
				if ((e->addrs[k] = strdup(
				         d->res[r].addrs[k])) == NULL) {
					e->naddrs = k;
					return cki_err(d->ctx, CK_E_NOMEM,
					    "out of memory");
				}
			}
			e->naddrs = d->res[r].naddrs;
		}
	}
	return CK_OK;
}

/* The proxy: --proxy, else HTTPS_PROXY (curl reads the lower-case
 * name first), with NO_PROXY. */
static ck_status
pick_proxy(ck_doctor *d, struct cki_proxy *proxy, bool *have_proxy,
    const char **no_proxy)
{
	const char *env_proxy = NULL;
	char why[300];

	if (d->proxy_set) {
		if (d->proxy[0] != '\0') {
			if (!cki_net_parse_proxy(
			        d->proxy, proxy, why, sizeof(why)))
				return cki_err(
				    d->ctx, CK_E_USAGE, "proxy: %s", why);
			*have_proxy = true;
		}
	} else {
		env_proxy = getenv("https_proxy");
		if (env_proxy == NULL || env_proxy[0] == '\0')
			env_proxy = getenv("HTTPS_PROXY");
		*no_proxy = getenv("no_proxy");
		if (*no_proxy == NULL || (*no_proxy)[0] == '\0')
			*no_proxy = getenv("NO_PROXY");
		if (env_proxy != NULL && env_proxy[0] != '\0') {
			if (!cki_net_parse_proxy(
			        env_proxy, proxy, why, sizeof(why)))
				return cki_err(d->ctx, CK_E_USAGE,
				    "HTTPS_PROXY: "
				    "%s",
				    why);
			*have_proxy = true;
		}
	}
	return CK_OK;
}

/* Each endpoint's client identity: the global one, else one context per
 * distinct identity, shared by endpoints (ids, *nids). */
static ck_status
load_client_ids(ck_doctor *d, SSL_CTX *global_id, struct idcache *ids,
    size_t *nids, SSL_CTX **ep_ssl)
{
	ck_status st;

	for (size_t i = 0; i < d->n; i++) {
		struct cki_endpoint *e = &d->eps[i];
		size_t k;

		if (e->client_cert == NULL) {
			ep_ssl[i] = global_id;
			continue;
		}
		/* One context per distinct identity, shared by endpoints. */
		for (k = 0; k < *nids; k++)
			if (strcmp(ids[k].cert, e->client_cert) == 0 &&
			    ((ids[k].key == NULL && e->client_key == NULL) ||
			        (ids[k].key != NULL && e->client_key != NULL &&
			            strcmp(ids[k].key, e->client_key) == 0)))
				break;
		if (k == *nids) {
			ids[k].cert = e->client_cert;
			ids[k].key = e->client_key;
			if ((st = load_identity(d->ctx, e->client_cert,
			         e->client_key, e->origin, &ids[k].ssl)) !=
			    CK_OK) {
				char msg[CKI_ERRLEN];

				snprintf(msg, sizeof(msg), "%s",
				    ck_ctx_error(d->ctx));
				return cki_err(d->ctx, st, "%s [%s]: %s",
				    e->origin ? e->origin : "profile",
				    e->name ? e->name : e->host, msg);
			}
			++*nids;
		}
		ep_ssl[i] = ids[k].ssl;
	}
	return CK_OK;
}

/* The report: the endpoint reports, then the summary and the settings. */
static ck_status
run_report(ck_doctor *d, const struct cki_diag_env *env, int parallel,
    char **results, const struct cki_doc_meta *meta, int64_t t0, char **json,
    bool *online)
{
	char at[32], *tail_s = NULL;
	json_t *tail;
	ck_status st = CK_OK;

	cki_fmt_time(env->now, at);
	tail = json_pack("{s:i, s:o, s:s, s:b, s:o, s:o, s:i, s:i}", "version",
	    CKI_REPORT_VERSION, "summary",
	    summary_json(meta, d->n, cki_mono_ms() - t0, online), "time", at,
	    "time_given", env->at_given, "trust",
	    cki_json_str(env->trust_source), "reference",
	    cki_json_str(env->ref_source), "timeout_ms", d->timeout_ms,
	    "parallel", parallel);
	if (tail == NULL ||
	    (tail_s = json_dumps(tail,
	         JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)) ==
	        NULL ||
	    (*json = assemble(results, d->n, tail_s)) == NULL) {
		st = cki_err(d->ctx, CK_E_NOMEM, "out of memory");
	}
	free(tail_s);
	json_decref(tail);
	return st;
}

ck_status
ck_doctor_run(ck_doctor *d, char **json, int *all_online)
{
	struct cki_diag_env env;
	struct cki_doc_cfg cfg;
	struct cki_proxy proxy;
	bool have_proxy = false, online = false;
	char tsrc[1100], rsrc[1100];
	const char *no_proxy = NULL;
	STACK_OF(X509) *tcerts = NULL, *ref = NULL;
	X509_STORE *tstore = NULL;
	SSL_CTX *shared = NULL, *global_id = NULL, **ep_ssl = NULL;
	struct idcache *ids = NULL;
	size_t nids = 0;
	char **results = NULL;
	struct cki_doc_meta *meta = NULL;
	int64_t t0 = cki_mono_ms();
	ck_status st;

	cki_begin(d->ctx);
	*json = NULL;
	*all_online = 0;
	memset(&proxy, 0, sizeof(proxy));
	if (d->n == 0) {
		st = cki_err(d->ctx, CK_E_USAGE,
		    "no endpoints: add one, or load "
		    "a profile");
		goto err;
	}
	if ((st = apply_resolve(d)) != CK_OK)
		goto err;
	if ((st = load_trust(d, &tcerts, &tstore, tsrc, sizeof(tsrc))) != CK_OK)
		goto err;
	if ((st = load_reference(d, &ref, rsrc, sizeof(rsrc))) != CK_OK)
		goto err;
	if ((st = pick_proxy(d, &proxy, &have_proxy, &no_proxy)) != CK_OK)
		goto err;
	if ((shared = cki_doc_ssl_ctx(d->ctx, false)) == NULL) {
		st = CK_E_INTERNAL;
		goto err;
	}
	if (d->cert != NULL &&
	    (st = load_identity(
	         d->ctx, d->cert, d->key, "client_cert", &global_id)) != CK_OK)
		goto err;
	if ((ep_ssl = calloc(d->n, sizeof(*ep_ssl))) == NULL ||
	    (ids = calloc(d->n, sizeof(*ids))) == NULL ||
	    (results = calloc(d->n, sizeof(*results))) == NULL ||
	    (meta = calloc(d->n, sizeof(*meta))) == NULL) {
		st = cki_err(d->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((st = load_client_ids(d, global_id, ids, &nids, ep_ssl)) != CK_OK)
		goto err;
	memset(&env, 0, sizeof(env));
	env.trust = tstore;
	env.trust_certs = tcerts;
	env.trust_source = tsrc;
	env.ref = ref;
	env.ref_source = rsrc;
	env.at_given = ck_ctx_time(d->ctx) != 0;
	env.now = env.at_given ? ck_ctx_time(d->ctx) : (int64_t)time(NULL);
	env.build_time = cki_doc_build_time();
	env.timeout_ms = d->timeout_ms;
	env.policy = d->policy;
	env.https_optional = d->https_optional;

	memset(&cfg, 0, sizeof(cfg));
	cfg.ctx = d->ctx;
	cfg.eps = d->eps;
	cfg.nep = d->n;
	cfg.env = &env;
	cfg.proxy = have_proxy ? &proxy : NULL;
	cfg.proxy_from_env = !d->proxy_set;
	cfg.no_proxy = no_proxy;
	cfg.dns = d->dns_set ? &d->dns : NULL;
	cfg.dns_len = d->dns_len;
	cfg.dns_display = d->dns_set ? d->dns_text : "system resolver";
	cfg.timeout_ms = d->timeout_ms;
	cfg.parallel = cki_doc_fd_parallel(d->parallel);
	cfg.ssl = shared;
	cfg.ep_ssl = ep_ssl;
	cfg.progress = d->progress;
	cfg.progress_arg = d->progress_arg;
	if ((st = cki_doc_probe_all(&cfg, results, meta)) != CK_OK)
		goto err;
	if ((st = cross_check(d->ctx, &env, results, meta, d->n)) != CK_OK)
		goto err;
	if ((st = run_report(d, &env, cfg.parallel, results, meta, t0, json,
	         &online)) != CK_OK)
		goto err;
	*all_online = online ? 1 : 0;
	st = CK_OK;
err:
	if (results != NULL)
		for (size_t i = 0; i < d->n; i++)
			free(results[i]);
	free(results);
	free(meta);
	for (size_t i = 0; i < nids; i++)
		SSL_CTX_free(ids[i].ssl);
	free(ids);
	free(ep_ssl);
	SSL_CTX_free(global_id);
	SSL_CTX_free(shared);
	X509_STORE_free(tstore);
	sk_X509_pop_free(tcerts, X509_free);
	sk_X509_pop_free(ref, X509_free);
	cki_proxy_clear(&proxy);
	return st;
}
