/*
 * identity.c: the device's own certificate: the public API of
 * certkit/identity.h.
 *
 * Lifecycle of the identity (each arrow is one call through cki_commit(),
 * see identity_store.c for what a crash at each step leaves):
 *
 *            init / ensure (none)            install (CA-issued)
 *   (none) ─────────────────────► DEFAULT ───────────────────────► ISSUED
 *                                  │   ▲                            │  ▲
 *          ensure: expired, in the │   │ reset / restore      reset │  │
 * install renewal window, or a    ▼   │                            ▼  │ restore
 *          name not covered ──► DEFAULT (new key)                DEFAULT
 *
 * ensure never leaves ISSUED: it only reports that a human must act.
 *
 * Guarantees:
 *  1. ensure's nothing-to-do path reads certkit.conf, two small files and
 *     the device's names: no lock, no key generation, no network beyond the
 *     bounded FQDN lookup.
 *  2. install, restore and init check everything first and change nothing
 *     when a check fails; insecure_accept_warnings accepts warnings,
 *     never errors.
 *  3. Key material never appears in a report or a message.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "encode_int.h"
#include "identity_int.h"

/* ---- opening and options ------------------------------------------------ */

static ck_status
check_conf_names(ck_identity *id)
{
	char canon[64];
	int line = 0;

	(void)cki_config_get(id->cfg, "identity", "names", &line);
	for (size_t i = 0; i < id->conf.names.n; i++)
		if (!cki_dns_valid(id->conf.names.v[i]))
			return cki_err(id->ctx, CK_E_FORMAT,
			    "%s:%d: [identity] names: expected DNS names "
			    "separated by commas, found '%s'",
			    cki_config_name(id->cfg), line,
			    id->conf.names.v[i]);
	(void)cki_config_get(id->cfg, "identity", "ips", &line);
	for (size_t i = 0; i < id->conf.ips.n; i++) {
		char *c;

		if (!cki_ip_canon(id->conf.ips.v[i], canon, sizeof(canon)))
			return cki_err(id->ctx, CK_E_FORMAT,
			    "%s:%d: [identity] ips: expected IPv4 or IPv6 "
			    "addresses separated by commas, found '%s'",
			    cki_config_name(id->cfg), line, id->conf.ips.v[i]);
		if ((c = strdup(canon)) == NULL)
			return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		free(id->conf.ips.v[i]);
		id->conf.ips.v[i] = c;
	}
	return CK_OK;
}

/* "agent" or "agent/identity": no empty, hidden or ".." component. */
static bool
plain_subdir(const char *s)
{
	if (s[0] == '\0' || s[0] == '/')
		return false;
	for (const char *p = s; *p; p++)
		if ((p == s || p[-1] == '/') && (*p == '.' || *p == '/'))
			return false;
	return s[strlen(s) - 1] != '/';
}

static ck_status
identity_open(ck_ctx *ctx, const char *home, const char *sub, bool client,
    ck_identity **out)
{
	ck_identity *id;
	ck_status rv;
	int n;

	cki_begin(ctx);
	*out = NULL;
	if (home == NULL || home[0] == '\0')
		return cki_err(ctx, CK_E_USAGE, "no state directory given");
	if (!plain_subdir(sub))
		return cki_err(ctx, CK_E_USAGE,
		    "%s: expected a directory under the state directory "
		    "(names not starting with '.', separated by '/')",
		    sub);
	if ((id = calloc(1, sizeof(*id))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	id->ctx = ctx;
	id->lock_fd = -1;
	id->client = client;
	n = snprintf(id->home, sizeof(id->home), "%s", home);
	if (n < 0 || (size_t)n >= sizeof(id->home) ||
	    (size_t)snprintf(id->dir, sizeof(id->dir), "%s/%s", home, sub) >=
	        sizeof(id->dir)) {
		rv = cki_err(ctx, CK_E_USAGE, "%s: path too long", home);
		goto err;
	}
	if ((rv = cki_config_load(ctx, home, &id->cfg)) != CK_OK ||
	    (rv = cki_config_identity(ctx, id->cfg, &id->conf)) != CK_OK ||
	    (rv = check_conf_names(id)) != CK_OK)
		goto err;
	if (client) {
		/* The device's on_change hook is for its server identity. */
		free(id->conf.on_change);
		id->conf.on_change = NULL;
	}
	if ((rv = cki_settle(id)) != CK_OK)
		goto err;
	*out = id;
	return CK_OK;
err:
	ck_identity_free(id);
	return rv;
}

ck_status
ck_identity_new(ck_ctx *ctx, const char *home, ck_identity **out)
{
	return identity_open(ctx, home, "identity", false, out);
}

ck_status
ck_identity_new_client(
    ck_ctx *ctx, const char *home, const char *subdir, ck_identity **out)
{
	return identity_open(ctx, home, subdir, true, out);
}

void
ck_identity_free(ck_identity *id)
{
	if (id == NULL)
		return;
	cki_unlock(id);
	json_decref(id->recovered);
	cki_identity_conf_free(&id->conf);
	cki_config_free(id->cfg);
	free(id);
}

ck_status
ck_identity_add_name(ck_identity *id, const char *dns)
{
	cki_begin(id->ctx);
	if (dns == NULL || !cki_dns_valid(dns))
		return cki_err(id->ctx, CK_E_USAGE,
		    "name '%s': expected a "
		    "DNS name such as nvr01.example.com (letters, digits, "
		    "hyphens and dots; a leading '*.' is allowed)",
		    dns != NULL ? dns : "");
	if (!id->names_set) {
		cki_strlist_clear(&id->conf.names);
		id->names_set = true;
	}
	if (cki_strlist_add(&id->conf.names, dns) != CK_OK)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

ck_status
ck_identity_add_ip(ck_identity *id, const char *ip)
{
	char canon[64];

	cki_begin(id->ctx);
	if (ip == NULL || !cki_ip_canon(ip, canon, sizeof(canon)))
		return cki_err(id->ctx, CK_E_USAGE,
		    "ip '%s': expected an "
		    "IPv4 or IPv6 address such as 192.0.2.10 or 2001:db8::10",
		    ip != NULL ? ip : "");
	if (!id->ips_set) {
		cki_strlist_clear(&id->conf.ips);
		id->ips_set = true;
	}
	if (cki_strlist_add(&id->conf.ips, canon) != CK_OK)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

ck_status
ck_identity_set_key_type(ck_identity *id, const char *type)
{
	int kt;

	cki_begin(id->ctx);
	if (type == NULL || (kt = cki_keytype_parse(type)) < 0)
		return cki_err(id->ctx, CK_E_USAGE,
		    "key type '%s': expected "
		    "ec-p256, rsa-2048 or rsa-3072",
		    type != NULL ? type : "");
	id->conf.key = kt;
	return CK_OK;
}

ck_status
ck_identity_set_days(ck_identity *id, int days)
{
	cki_begin(id->ctx);
	if (days < 1 || days > 825)
		return cki_err(id->ctx, CK_E_USAGE,
		    "days %d: expected 1 to "
		    "825 (the longest lifetime Apple clients accept)",
		    days);
	id->conf.days = days;
	return CK_OK;
}

ck_status
ck_identity_set_renew_before(ck_identity *id, int days)
{
	cki_begin(id->ctx);
	if (days < 0 || days > 824)
		return cki_err(id->ctx, CK_E_USAGE,
		    "renew_before %d: "
		    "expected 0 to 824 days",
		    days);
	id->conf.renew_before = days;
	return CK_OK;
}

void
ck_identity_set_replace(ck_identity *id, int on)
{
	id->replace = on != 0;
}

ck_status
ck_identity_set_policy(ck_identity *id, ck_policy p)
{
	if (p != CK_POLICY_COMPAT && p != CK_POLICY_STRICT)
		return cki_err(id->ctx, CK_E_USAGE,
		    "unknown policy %d: expected compat or strict", (int)p);
	id->policy = p;
	return CK_OK;
}

void
ck_identity_set_insecure_accept_warnings(ck_identity *id, int on)
{
	id->insecure_warnings = on != 0;
}

/* ---- shared helpers ----------------------------------------------------- */

const char *
ck_identity_recovered(const ck_identity *id)
{
	return id->recovered != NULL
	    ? json_string_value(json_object_get(id->recovered, "message"))
	    : NULL;
}

static ck_status
report_out(ck_identity *id, json_t *report, char **json)
{
	char *s;

	if (id->recovered != NULL && json_is_object(report))
		json_object_set(report, "recovered", id->recovered);
	/* The report's schema: "version" names the identity version here,
	 * so the schema's is "schema_version" (docs/json.md). */
	if (json_is_object(report))
		json_object_set_new(
		    report, "schema_version", json_integer(CKI_REPORT_VERSION));
	s = json_dumps(report, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(report);
	if (s == NULL)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	*json = s;
	return CK_OK;
}

static json_t *
strlist_json(const struct cki_strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

static void
x509_sha256(X509 *x, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	if (!X509_digest(x, EVP_sha256(), md, &n) || n != 32) {
		out[0] = '\0';
		return;
	}
	cki_hex(md, 32, out);
}

static void
spki_sha256(EVP_PKEY *k, char out[65])
{
	unsigned char *der = NULL, md[32];
	int len = i2d_PUBKEY(k, &der);

	out[0] = '\0';
	if (len > 0 &&
	    EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL))
		cki_hex(md, 32, out);
	OPENSSL_free(der);
}

static const char *
meta_str(json_t *meta, const char *key)
{
	return meta != NULL ? json_string_value(json_object_get(meta, key))
	                    : NULL;
}

/* The renewal window of a certificate, in seconds. */
static int64_t
window_of(ck_identity *id, int64_t nb, int64_t na)
{
	if (id->conf.renew_before >= 0)
		return (int64_t)id->conf.renew_before * 86400;
	return (na - nb) / 3;
}

/*
 * A default made from command-line names keeps them: they count as
 * configured when ensure later renews it (unless overridden again).
 */
static ck_status
adopt_requested(ck_identity *id, json_t *meta)
{
	json_t *req = meta != NULL ? json_object_get(meta, "requested") : NULL;
	json_t *v;
	size_t i;

	if (req == NULL)
		return CK_OK;
	if (!id->names_set)
		json_array_foreach(
		    json_object_get(req, "dns"), i, v) if (json_is_string(v) &&
		    cki_dns_valid(json_string_value(v)) &&
		    cki_strlist_add(&id->conf.names, json_string_value(v)) !=
		        CK_OK) return cki_err(id->ctx, CK_E_NOMEM,
		    "out of memory");
	if (!id->ips_set)
		json_array_foreach(json_object_get(req, "ip"), i, v)
		{
			char c[64];

			if (json_is_string(v) &&
			    cki_ip_canon(json_string_value(v), c, sizeof(c)) &&
			    cki_strlist_add(&id->conf.ips, c) != CK_OK)
				return cki_err(
				    id->ctx, CK_E_NOMEM, "out of memory");
		}
	return CK_OK;
}

/* The facts about a certificate that status, ensure and every change
 * report share. */
static json_t *
cert_json(ck_identity *id, X509 *leaf, json_t *meta)
{
	int64_t nb = 0, na = 0, now = (int64_t)cki_now(id->ctx);
	char nbs[32], nas[32], ra[32], fp[65], kd[64];
	struct cki_strlist dns = {0}, ip = {0};
	char *subj = cki_name_oneline(X509_get_subject_name(leaf));
	char *iss = cki_name_oneline(X509_get_issuer_name(leaf));
	const char *kind = meta_str(meta, "kind");
	json_t *o;

	cki_asn1_time(X509_get0_notBefore(leaf), &nb);
	cki_asn1_time(X509_get0_notAfter(leaf), &na);
	cki_fmt_time(nb, nbs);
	cki_fmt_time(na, nas);
	cki_fmt_time(na - window_of(id, nb, na), ra);
	x509_sha256(leaf, fp);
	cki_key_desc(X509_get0_pubkey(leaf), kd, sizeof(kd));
	(void)cki_san_lists(leaf, &dns, &ip);
	o = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:{s:o, s:o}, s:s, s:s, "
	              "s:I, s:b, s:s}",
	    "kind", kind != NULL ? kind : cki_kind_of(leaf), "subject", subj,
	    "issuer", iss, "sha256", fp, "key", kd, "names", "dns",
	    strlist_json(&dns), "ip", strlist_json(&ip), "not_before", nbs,
	    "not_after", nas, "days_left", (json_int_t)((na - now) / 86400),
	    "expired", now > na, "renew_after", ra);
	free(subj);
	free(iss);
	cki_strlist_clear(&dns);
	cki_strlist_clear(&ip);
	return o;
}

static json_t *
names_json(const struct cki_names *n)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "dns", strlist_json(&n->dns),
	    "ip", strlist_json(&n->ip), "detected_dns",
	    strlist_json(&n->det_dns), "detected_ip", strlist_json(&n->det_ip));
}

/* ---- the self-signed default -------------------------------------------- */

static ck_status
make_default(ck_identity *id, const struct cki_names *n, const char *action,
    json_t *report)
{
	struct cki_material m = {0};
	struct cki_strlist dns = {0}, ip = {0};
	char fp[65], kd[64], now[32];
	json_t *req = NULL;
	ck_status rv;

	if ((m.key = cki_keygen(id->ctx, id->conf.key)) == NULL) {
		rv = id->ctx->status;
		goto err;
	}
	cki_crash_point("keygen");
	if ((m.leaf = cki_selfsign(
	         id->ctx, m.key, n, id->conf.days, cki_now(id->ctx))) == NULL) {
		rv = id->ctx->status;
		goto err;
	}
	if ((m.chain = sk_X509_new_null()) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	x509_sha256(m.leaf, fp);
	cki_key_desc(m.key, kd, sizeof(kd));
	cki_fmt_time((int64_t)time(NULL), now);
	(void)cki_san_lists(m.leaf, &dns, &ip);
	if (id->names_set || id->ips_set)
		req = json_pack("{s:o, s:o}", "dns",
		    id->names_set ? strlist_json(&id->conf.names)
		                  : json_array(),
		    "ip",
		    id->ips_set ? strlist_json(&id->conf.ips) : json_array());
	m.meta = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:o, s:o}, s:o*}",
	    "kind", CKI_KIND_DEFAULT, "created", now, "source", action,
	    "sha256", fp, "key", kd, "names", "dns", strlist_json(&dns), "ip",
	    strlist_json(&ip), "requested", req);
	if (m.meta == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = cki_lock(id)) != CK_OK)
		goto err;
	cki_recover(id);
	rv = cki_commit(id, &m, action, n, report);
	if (rv == CK_OK && json_is_true(json_object_get(report, "changed")))
		json_object_set_new(
		    report, "identity", cert_json(id, m.leaf, m.meta));
err:
	cki_strlist_clear(&dns);
	cki_strlist_clear(&ip);
	cki_material_free(&m);
	return rv;
}

/* ---- status ------------------------------------------------------------- */

static void problem(json_t *arr, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
problem(json_t *arr, const char *code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_array_append_new(arr,
	    cki_finding_new(
	        CKI_REPORT_IDENTITY, code, false, msg, NULL, CKI_OLD_MESSAGE));
}

static size_t
count_dir(ck_identity *id, const char *sub, const char *suffix)
{
	char path[CKI_PATH];
	size_t n = 0;
	DIR *d;
	struct dirent *e;

	if (cki_id_path(id, path, "%s", sub) != CK_OK ||
	    (d = opendir(path)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), sl = strlen(suffix);

		if (e->d_name[0] != '.' && l > sl &&
		    strcmp(e->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* The chain as written: its intermediates and root. */
static void
status_chain(ck_identity *id, X509 *leaf, json_t *report, json_t *problems)
{
	char path[CKI_PATH], vdir[CKI_PATH];
	bool self = X509_self_signed(leaf, 1) == 1;
	int nchain = 0;
	char *root = NULL;

	if (cki_id_path(id, vdir, "current") == CK_OK) {
		/* Only the public files: status runs unprivileged. */
		if (cki_id_path(id, path, "current/chain.pem") != CK_OK)
			path[0] = '\0';
		{
			BIO *b = BIO_new_file(path, "r");
			X509 *x;

			while (b != NULL &&
			    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) !=
			        NULL) {
				nchain++;
				X509_free(x);
			}
			BIO_free(b);
			ERR_clear_error();
		}
		if (cki_id_path(id, path, "current/root.pem") != CK_OK)
			path[0] = '\0';
		{
			BIO *b = BIO_new_file(path, "r");
			X509 *x = b != NULL
			    ? PEM_read_bio_X509(b, NULL, NULL, NULL)
			    : NULL;

			if (x != NULL)
				root =
				    cki_name_oneline(X509_get_subject_name(x));
			X509_free(x);
			BIO_free(b);
			ERR_clear_error();
		}
	}
	json_object_set_new(report, "chain",
	    json_pack("{s:b, s:i, "
	              "s:s?, s:b}",
	        "complete", self || root != NULL, "intermediates", nchain,
	        "root", root, "self_signed", self));
	if (!self && root == NULL)
		problem(problems, "chain_incomplete",
		    "the chain does not reach a known root; clients "
		    "that lack the missing issuer will fail");
	free(root);
}

/* The key file: nobody else may read it. */
static void
status_key_mode(ck_identity *id, json_t *problems)
{
	char kp[CKI_PATH];
	struct stat st;

	if (cki_id_path(id, kp, "current/key.pem") == CK_OK &&
	    stat(kp, &st) == 0 && (st.st_mode & 077) != 0)
		problem(problems, "key_exposed",
		    "%s is readable by others (mode %03o); run chmod "
		    "600 on it",
		    kp, (unsigned)(st.st_mode & 0777));
}

/* The validity period and the names covered. */
static void
status_validity(ck_identity *id, X509 *leaf, int64_t now, bool is_default,
    size_t nmissing, json_t *problems)
{
	int64_t nb = 0, na = 0;

	cki_asn1_time(X509_get0_notBefore(leaf), &nb);
	cki_asn1_time(X509_get0_notAfter(leaf), &na);
	if (now > na)
		problem(problems, "expired",
		    "the certificate expired "
		    "%lld days ago; %s",
		    (long long)((now - na) / 86400),
		    is_default ? "certkit identity ensure renews it"
		               : "install a new one from the CA (certkit "
		                 "identity csr)");
	else if (now < nb)
		problem(problems, "not_yet_valid",
		    "the certificate is "
		    "not valid yet; check this device's clock");
	else if (na - now < window_of(id, nb, na))
		problem(problems, "renewal_due",
		    "the certificate "
		    "expires in %lld days; %s",
		    (long long)((na - now) / 86400),
		    is_default
		        ? "certkit identity ensure renews it"
		        : "get a new one from the CA (certkit identity csr)");
	if (nmissing > 0)
		problem(problems, "names_not_covered",
		    "the certificate does not cover %zu of this device's names "
		    "and addresses; %s",
		    nmissing,
		    is_default ? "certkit identity ensure regenerates it"
		               : "get a certificate that covers them (certkit "
		                 "identity csr)");
}

ck_status
ck_identity_status(ck_identity *id, char **json)
{
	char cur[256];
	struct cki_names n = {0};
	struct cki_material m = {0};
	json_t *report = NULL, *problems = NULL, *missing, *c;
	size_t nmissing = 0;
	int64_t now;
	bool is_default;
	ck_status rv;

	cki_begin(id->ctx);
	*json = NULL;
	now = (int64_t)cki_now(id->ctx);
	if ((report = json_object()) == NULL ||
	    (problems = json_array()) == NULL) {
		json_decref(report);
		json_decref(problems);
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	}
	json_object_set_new(report, "directory", cki_json_str(id->dir));
	if (!cki_current_id(id, cur)) {
		json_object_set_new(report, "present", json_false());
		problem(problems, "not_managed",
		    "%s/current is not a "
		    "symlink into versions/ that certkit made; move it away "
		    "and "
		    "run certkit identity init",
		    id->dir);
		goto done;
	}
	if (cur[0] == '\0') {
		json_object_set_new(report, "present", json_false());
		problem(problems, "no_identity",
		    "this device has no "
		    "identity yet: run certkit identity init (or ensure)");
		goto done;
	}
	json_object_set_new(report, "present", json_true());
	json_object_set_new(report, "version", json_string(cur));
	if ((rv = cki_current_read_light(id, &m.leaf, &m.meta)) != CK_OK) {
		problem(problems, "damaged",
		    "%s; restore a backup "
		    "(certkit identity backups) or run certkit identity reset",
		    id->ctx->err);
		ck_ctx_clear_error(id->ctx);
		goto done;
	}
	is_default = meta_str(m.meta, "kind") != NULL &&
	    strcmp(meta_str(m.meta, "kind"), CKI_KIND_DEFAULT) == 0;
	if (is_default && (rv = adopt_requested(id, m.meta)) != CK_OK)
		goto err;
	if ((rv = cki_names_collect(id, &n)) != CK_OK)
		goto err;
	json_object_set_new(report, "identity", cert_json(id, m.leaf, m.meta));
	json_object_set_new(report, "device", names_json(&n));
	if ((missing = cki_names_missing(m.leaf, &n, &nmissing)) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	json_object_set_new(report, "coverage",
	    json_pack(
	        "{s:b, s:o}", "complete", nmissing == 0, "missing", missing));

	status_chain(id, m.leaf, report, problems);
	status_key_mode(id, problems);
	json_object_set_new(report, "files",
	    json_pack("{s:s, s:s, s:s, s:s, "
	              "s:s, s:s}",
	        "cert", "current/cert.pem", "key", "current/key.pem", "chain",
	        "current/chain.pem", "fullchain", "current/fullchain.pem",
	        "bundle", "current/bundle.pem", "p12", "current/identity.p12"));
	json_object_set_new(report, "pending_csr_keys",
	    json_integer((json_int_t)count_dir(id, "pending", ".key.pem")));
	json_object_set_new(report, "backups",
	    json_integer((json_int_t)count_dir(id, "backups", "")));

	status_validity(id, m.leaf, now, is_default, nmissing, problems);
done:
	json_object_set_new(
	    report, "ok", json_boolean(json_array_size(problems) == 0));
	json_object_set_new(report, "problems", problems);
	problems = NULL;
	c = report;
	report = NULL;
	rv = report_out(id, c, json);
err:
	json_decref(report);
	json_decref(problems);
	cki_names_free(&n);
	cki_material_free(&m);
	return rv;
}

/*
 * The report of a commit that succeeded or was refused (a refused change
 * still says what was checked), the refusal's message and status kept;
 * any other failure passes through. Takes `report`.
 */
static ck_status
commit_report(ck_identity *id, ck_status rv, json_t *report, char **json)
{
	char *msg;
	ck_status out;

	if (rv != CK_OK && rv != CK_E_REFUSED) {
		json_decref(report);
		return rv;
	}
	msg = rv == CK_E_REFUSED ? strdup(id->ctx->err) : NULL;
	out = report_out(id, report, json);
	if (rv == CK_E_REFUSED) {
		cki_err(
		    id->ctx, CK_E_REFUSED, "%s", msg != NULL ? msg : "refused");
		out = CK_E_REFUSED;
	}
	free(msg);
	return out;
}

/* ---- init, reset, ensure ------------------------------------------------ */

/* init and reset: a new default identity, reported as `action`. */
static ck_status
new_default(ck_identity *id, const char *action, char **json)
{
	struct cki_names n = {0};
	json_t *report = NULL;
	ck_status rv;

	if ((rv = cki_names_collect(id, &n)) != CK_OK)
		return rv;
	if ((report = json_pack("{s:s}", "action", action)) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = make_default(id, &n, action, report)) != CK_OK)
		goto err;
	rv = report_out(id, report, json);
	report = NULL;
err:
	json_decref(report);
	cki_names_free(&n);
	cki_unlock(id);
	return rv;
}

ck_status
ck_identity_init(ck_identity *id, char **json)
{
	char cur[256];

	cki_begin(id->ctx);
	*json = NULL;
	if (!cki_current_id(id, cur))
		return cki_err(id->ctx, CK_E_REFUSED,
		    "%s/current is not a "
		    "symlink certkit made; move it away first",
		    id->dir);
	if (cur[0] != '\0' && !id->replace)
		return cki_err(id->ctx, CK_E_EXISTS,
		    "%s: an identity exists "
		    "already (version %s); certkit identity status shows it, "
		    "reset replaces it with a new default",
		    id->dir, cur);
	return new_default(id, "init", json);
}

ck_status
ck_identity_reset(ck_identity *id, char **json)
{
	cki_begin(id->ctx);
	*json = NULL;
	return new_default(id, "reset", json);
}

/*
 * What ensure would do about the current identity: fills reasons (why a
 * default must be regenerated) or attention (what a human must do), and
 * *regen. The cheap path: reads cert.pem and meta.json only.
 */
/* Why ensure regenerates the default: expired, renewal due, names it
 * does not cover. */
static void
ensure_default_reasons(ck_identity *id, X509 *leaf, const json_t *missing,
    int64_t now, json_t *reasons)
{
	int64_t nb = 0, na = 0;
	char t[32];

	cki_asn1_time(X509_get0_notBefore(leaf), &nb);
	cki_asn1_time(X509_get0_notAfter(leaf), &na);
	cki_fmt_time(na, t);
	if (now > na)
		json_array_append_new(reasons,
		    json_pack("s+",
		        "the "
		        "default expired on ",
		        t));
	else if (na - now < window_of(id, nb, na))
		json_array_append_new(reasons,
		    json_pack("s++",
		        "the "
		        "default expires on ",
		        t,
		        ", inside the renewal "
		        "window"));
	for (size_t i = 0; i < json_array_size(missing); i++)
		json_array_append_new(reasons,
		    json_pack("s+++", "the default does not cover the ",
		        json_string_value(json_object_get(
		            json_array_get(missing, i), "source")),
		        json_string_value(json_object_get(
		            json_array_get(missing, i), "type"))[0] == 'i'
		            ? " address "
		            : " name ",
		        json_string_value(json_object_get(
		            json_array_get(missing, i), "name"))));
}

/* Never replace what a human installed: say what to do. */
static void
ensure_installed_attention(ck_identity *id, X509 *leaf, const json_t *missing,
    int64_t now, json_t *attention)
{
	int64_t nb = 0, na = 0;

	cki_asn1_time(X509_get0_notBefore(leaf), &nb);
	cki_asn1_time(X509_get0_notAfter(leaf), &na);
	if (now > na)
		problem(attention, "expired",
		    "the installed "
		    "certificate expired %lld days ago; install a new one "
		    "(certkit identity csr, then install)",
		    (long long)((now - na) / 86400));
	else if (na - now < window_of(id, nb, na))
		problem(attention, "renewal_due",
		    "the installed "
		    "certificate expires in %lld days; get a new one from the "
		    "CA (certkit identity csr, then install)",
		    (long long)((na - now) / 86400));
	for (size_t i = 0; i < json_array_size(missing); i++) {
		json_t *mi = json_array_get(missing, i);

		problem(attention, "names_not_covered",
		    "the "
		    "installed certificate does not cover the %s %s %s; "
		    "clients using it will fail",
		    json_string_value(json_object_get(mi, "source")),
		    json_string_value(json_object_get(mi, "type"))[0] == 'i'
		        ? "address"
		        : "name",
		    json_string_value(json_object_get(mi, "name")));
	}
}

static ck_status
ensure_decide(ck_identity *id, json_t *report, json_t *reasons,
    json_t *attention, struct cki_names *n, bool *regen)
{
	char cur[256];
	X509 *leaf = NULL;
	json_t *meta = NULL, *missing = NULL;
	int64_t now = (int64_t)cki_now(id->ctx);
	size_t nmissing = 0;
	bool is_default = false;
	ck_status rv = CK_OK;

	*regen = false;
	if (!cki_current_id(id, cur)) {
		problem(attention, "not_managed",
		    "%s/current is not "
		    "a symlink certkit made; move it away and run certkit "
		    "identity ensure again",
		    id->dir);
		goto out;
	}
	if (cur[0] == '\0') {
		json_array_append_new(reasons,
		    json_string("there is no "
		                "identity yet"));
		*regen = true;
		goto names;
	}
	if (cki_current_read_light(id, &leaf, &meta) != CK_OK) {
		char p[CKI_PATH];
		json_t *m2 = NULL;

		/* A damaged default may be replaced; anything else is the
		 * admin's (it may be a CA-issued certificate). */
		if (cki_id_path(id, p, "current/meta.json") == CK_OK &&
		    (m2 = json_load_file(p, 0, NULL)) != NULL &&
		    meta_str(m2, "kind") != NULL &&
		    strcmp(meta_str(m2, "kind"), CKI_KIND_DEFAULT) == 0) {
			json_array_append_new(reasons,
			    json_pack("s+",
			        "the default is damaged: ", id->ctx->err));
			json_decref(m2);
			ck_ctx_clear_error(id->ctx);
			*regen = true;
			goto names;
		}
		json_decref(m2);
		problem(attention, "damaged",
		    "%s; restore a backup "
		    "(certkit identity backups, restore) or run certkit "
		    "identity reset",
		    id->ctx->err);
		ck_ctx_clear_error(id->ctx);
		goto out;
	}
	is_default = meta_str(meta, "kind") != NULL &&
	    strcmp(meta_str(meta, "kind"), CKI_KIND_DEFAULT) == 0;
	if (is_default && (rv = adopt_requested(id, meta)) != CK_OK)
		goto out;
names:
	if ((rv = cki_names_collect(id, n)) != CK_OK)
		goto out;
	if (leaf == NULL)
		goto out;
	json_object_set_new(report, "identity", cert_json(id, leaf, meta));
	if ((missing = cki_names_missing(leaf, n, &nmissing)) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto out;
	}
	if (is_default) {
		ensure_default_reasons(id, leaf, missing, now, reasons);
		*regen = json_array_size(reasons) > 0;
		goto out;
	}
	ensure_installed_attention(id, leaf, missing, now, attention);
out:
	json_decref(missing);
	json_decref(meta);
	X509_free(leaf);
	return rv;
}

ck_status
ck_identity_ensure(ck_identity *id, char **json)
{
	struct cki_names n = {0};
	json_t *report = NULL, *reasons = NULL, *attention = NULL;
	bool regen = false;
	ck_status rv;

	cki_begin(id->ctx);
	*json = NULL;
	report = json_pack("{s:s, s:b}", "action", "ensure", "changed", 0);
	reasons = json_array();
	attention = json_array();
	if (report == NULL || reasons == NULL || attention == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = ensure_decide(id, report, reasons, attention, &n, &regen)) !=
	    CK_OK)
		goto err;
	if (regen) {
		/* Decide again under the lock: another ensure (two services
		 * starting together) may have just done the work. */
		if ((rv = cki_lock(id)) != CK_OK)
			goto err;
		cki_names_free(&n);
		json_array_clear(reasons);
		json_array_clear(attention);
		if ((rv = ensure_decide(
		         id, report, reasons, attention, &n, &regen)) != CK_OK)
			goto err;
		if (regen &&
		    (rv = make_default(id, &n, "ensure", report)) != CK_OK)
			goto err;
	}
	json_object_set_new(report, "reasons", reasons);
	json_object_set_new(report, "attention", attention);
	reasons = attention = NULL;
	rv = report_out(id, report, json);
	report = NULL;
err:
	json_decref(report);
	json_decref(reasons);
	json_decref(attention);
	cki_names_free(&n);
	cki_unlock(id);
	return rv;
}

/* ---- csr ---------------------------------------------------------------- */

ck_status
ck_identity_csr(
    ck_identity *id, const char *subject, const char *out_path, char **json)
{
	struct cki_names n = {0};
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	BIO *kb = NULL, *rb = NULL;
	BUF_MEM *km, *rm;
	char spki[65], kpath[CKI_PATH], cpath[CKI_PATH], pdir[CKI_PATH], kd[64];
	char *subj = NULL, *text = NULL;
	json_t *report = NULL;
	bool key_written = false;
	ck_status rv;

	cki_begin(id->ctx);
	*json = NULL;
	if (out_path == NULL || out_path[0] == '\0')
		return cki_err(id->ctx, CK_E_USAGE,
		    "csr: no file to write the "
		    "request to (out_path)");
	if (cki_path_under(out_path, id->dir))
		return cki_err(id->ctx, CK_E_USAGE,
		    "csr: %s is inside the identity store %s; write the "
		    "request to a path outside it",
		    out_path, id->dir);
	if ((rv = cki_names_collect(id, &n)) != CK_OK)
		goto err;
	if ((key = cki_keygen(id->ctx, id->conf.key)) == NULL) {
		rv = id->ctx->status;
		goto err;
	}
	if ((req = cki_make_csr(id->ctx, key, &n, subject)) == NULL) {
		rv = id->ctx->status;
		goto err;
	}
	spki_sha256(key, spki);
	if ((kb = BIO_new(BIO_s_secmem())) == NULL ||
	    (rb = BIO_new(BIO_s_mem())) == NULL ||
	    !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509_REQ(rb, req)) {
		rv = cki_err(id->ctx, CK_E_INTERNAL,
		    "cannot encode the "
		    "request: %s",
		    cki_ossl_reason());
		goto err;
	}
	BIO_get_mem_ptr(kb, &km);
	BIO_get_mem_ptr(rb, &rm);
	if ((rv = cki_id_path(id, pdir, "pending")) != CK_OK ||
	    (rv = cki_id_path(id, kpath, "pending/%.16s.key.pem", spki)) !=
	        CK_OK ||
	    (rv = cki_id_path(id, cpath, "pending/%.16s.csr.pem", spki)) !=
	        CK_OK)
		goto err;
	/* The report first (paths need not be UTF-8: cki_json_str): once the
	 * CSR is out, nothing may fail and take its pending key with it. */
	subj = cki_name_oneline(X509_REQ_get_subject_name(req));
	cki_key_desc(key, kd, sizeof(kd));
	report = json_pack("{s:s, s:o, s:s?, s:o, s:s, s:o, s:s}", "action",
	    "csr", "out", cki_json_str(out_path), "subject", subj, "names",
	    names_json(&n), "key", kd, "pending_key", cki_json_str(kpath),
	    "spki_sha256", spki);
	if (report == NULL || (rv = report_out(id, report, &text)) != CK_OK) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = cki_lock(id)) != CK_OK ||
	    (rv = cki_mkdirs(id->ctx, pdir, 0700)) != CK_OK)
		goto err;
	/* The key first: a CSR sent to a CA whose key was lost is worse
	 * than a pending key nobody uses. */
	if ((rv = ck_write_file_atomic(
	         id->ctx, kpath, km->data, km->length, 0600)) != CK_OK)
		goto err;
	key_written = true;
	if ((rv = ck_write_file_atomic(
	         id->ctx, cpath, rm->data, rm->length, 0644)) != CK_OK ||
	    (rv = ck_write_file_atomic(
	         id->ctx, out_path, rm->data, rm->length, 0644)) != CK_OK)
		goto err;
	*json = text;
	text = NULL;
	key_written = false;
err:
	if (key_written) {
		(void)unlink(kpath);
		(void)unlink(cpath);
	}
	free(subj);
	free(text);
	BIO_free(kb); /* secure memory: wiped */
	BIO_free(rb);
	X509_REQ_free(req);
	EVP_PKEY_free(key);
	cki_names_free(&n);
	cki_unlock(id);
	return rv;
}

/* ---- install ------------------------------------------------------------ */

/* The pending CSR key that belongs to x; *path gets its file. */
static EVP_PKEY *
pending_key_for(ck_identity *id, X509 *x, char path[CKI_PATH])
{
	char dir[CKI_PATH];
	EVP_PKEY *k = NULL;
	DIR *d;
	struct dirent *e;

	path[0] = '\0';
	if (cki_id_path(id, dir, "pending") != CK_OK ||
	    (d = opendir(dir)) == NULL)
		return NULL;
	while (k == NULL && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		BIO *b;

		if (l < 9 || strcmp(e->d_name + l - 8, ".key.pem") != 0 ||
		    (size_t)snprintf(path, CKI_PATH, "%s/%s", dir, e->d_name) >=
		        CKI_PATH)
			continue;
		if ((b = BIO_new_file(path, "r")) != NULL)
			k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
		BIO_free(b);
		if (k != NULL && X509_check_private_key(x, k) != 1) {
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
	closedir(d);
	ERR_clear_error();
	if (k == NULL)
		path[0] = '\0';
	return k;
}

static bool
file_has_crlf(const char *path)
{
	FILE *f = fopen(path, "rb");
	int c, prev = 0;
	bool crlf = false;

	if (f == NULL)
		return false;
	while (!crlf && (c = getc(f)) != EOF) {
		crlf = prev == '\r' && c == '\n';
		prev = c;
	}
	fclose(f);
	return crlf;
}

static ck_status
add_certs(ck_identity *id, const ck_bundle *b, STACK_OF(X509) * sk)
{
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		X509 *x = ck_bundle_get0_cert(b, i)->x509;
		bool dup = false;

		for (int j = 0; j < sk_X509_num(sk) && !dup; j++)
			dup = X509_cmp(sk_X509_value(sk, j), x) == 0;
		if (dup)
			continue;
		if (!X509_up_ref(x))
			return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		if (!sk_X509_push(sk, x)) {
			X509_free(x);
			return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		}
	}
	return CK_OK;
}

/* Checks m (leaf and key set, chain and root NULL) against everything
 * install checks, then commits it. The shared end of install and
 * restore. */
static ck_status
validate_and_commit(ck_identity *id, struct cki_material *m,
    STACK_OF(X509) * given, const char *action, const char *what,
    json_t *report, json_t *findings_extra)
{
	struct cki_names n = {0};
	struct cki_idfindings f = {0};
	ck_status rv;

	f.key_from = json_string_value(json_object_get(report, "key_from"));

	if ((f.arr = json_array()) == NULL)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	if (findings_extra != NULL) {
		json_array_extend(f.arr, findings_extra);
	}
	if ((rv = cki_names_collect(id, &n)) != CK_OK)
		goto err;
	json_object_set_new(report, "device", names_json(&n));
	if ((rv = cki_check_material(id, m, given, &n, &f)) != CK_OK)
		goto err;
	json_object_set_new(report, "findings", json_incref(f.arr));
	json_object_set_new(
	    report, "errors", json_integer((json_int_t)f.errors));
	json_object_set_new(
	    report, "warnings", json_integer((json_int_t)f.warnings));
	if (f.errors > 0 || (f.warnings > 0 && !id->insecure_warnings)) {
		json_object_set_new(report, "changed", json_false());
		json_object_set_new(report, "refused", json_true());
		rv = cki_err(id->ctx, CK_E_REFUSED,
		    "%s: not %s: %zu error%s "
		    "and %zu warning%s%s; nothing was changed",
		    what,
		    strcmp(action, "restore") == 0 ? "restored" : "installed",
		    f.errors, f.errors == 1 ? "" : "s", f.warnings,
		    f.warnings == 1 ? "" : "s",
		    f.errors > 0
		        ? " (insecure_accept_warnings accepts warnings, never "
		          "errors)"
		        : " (insecure_accept_warnings accepts the warnings)");
		goto err;
	}
	json_object_set_new(report, "refused", json_false());
	if ((rv = cki_lock(id)) != CK_OK)
		goto err;
	cki_recover(id);
	if ((rv = cki_commit(id, m, action, &n, report)) != CK_OK)
		goto err;
	if (json_is_true(json_object_get(report, "changed")))
		json_object_set_new(
		    report, "identity", cert_json(id, m->leaf, m->meta));
err:
	json_decref(f.arr);
	cki_names_free(&n);
	return rv;
}

/* Leaf to root, duplicates dropped; says so when that changed the order
 * the CA's file had. */
static ck_status
install_order(
    ck_identity *id, ck_bundle *cb, const char *cert_path, json_t *extra)
{
	size_t nc = ck_bundle_count(cb, CK_OBJ_CERT);
	X509 **before = calloc(nc + 1, sizeof(*before));
	bool moved = false;

	if (before == NULL)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	for (size_t i = 0; i < nc; i++)
		before[i] = ck_bundle_get0_cert(cb, i)->x509;
	if (ck_bundle_normalize(id->ctx, cb) != CK_OK)
		ck_ctx_clear_error(id->ctx); /* the walk orders too */
	for (size_t i = 0; i < ck_bundle_count(cb, CK_OBJ_CERT); i++)
		moved = moved || ck_bundle_get0_cert(cb, i)->x509 != before[i];
	free(before);
	if (moved)
		problem(extra, "chain_reordered",
		    "%s: the "
		    "certificates were not in order; they are written "
		    "leaf first, each followed by its issuer (RFC 8446 "
		    "section 4.4.2)",
		    cert_path);
	return CK_OK;
}

/* The key: --key (KB), else one in the certificate file CB (PKCS#12 or
 * a combined PEM). The leaf: the certificate of that key, else the first
 * that is no CA; taken out of ALL. */
static ck_status
install_leaf(ck_identity *id, ck_bundle *cb, ck_bundle *kb,
    const char *cert_path, const char *key_path, STACK_OF(X509) * all,
    struct cki_material *m, const char **key_from)
{
	if (kb != NULL) {
		m->key = ck_bundle_get0_key(kb, 0)->pkey;
		*key_from = key_path;
	} else if (ck_bundle_count(cb, CK_OBJ_KEY) > 0) {
		m->key = ck_bundle_get0_key(cb, 0)->pkey;
		*key_from = cert_path;
	}
	if (m->key != NULL && !EVP_PKEY_up_ref(m->key)) {
		m->key = NULL;
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	}
	/* The leaf: the certificate of that key, else the first that is no
	 * CA. */
	for (int i = 0; m->leaf == NULL && i < sk_X509_num(all); i++) {
		X509 *x = sk_X509_value(all, i);

		if (m->key != NULL ? X509_check_private_key(x, m->key) == 1
		                   : X509_check_ca(x) == 0)
			m->leaf = x;
	}
	ERR_clear_error();
	if (m->leaf == NULL)
		m->leaf = sk_X509_value(all, 0);
	if (!X509_up_ref(m->leaf)) {
		m->leaf = NULL;
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	}
	(void)sk_X509_delete_ptr(all, m->leaf);
	X509_free(m->leaf); /* the stack's reference */
	return CK_OK;
}

/* Unless the key was given: the pending CSR key of the leaf (its path in
 * PEND), else the current identity's key when it matches. */
static ck_status
install_find_key(ck_identity *id, const char *cert_path, struct cki_material *m,
    char pend[CKI_PATH], const char **key_from)
{
	if (m->key == NULL &&
	    (m->key = pending_key_for(id, m->leaf, pend)) != NULL)
		*key_from = "the pending CSR key";
	if (m->key == NULL) {
		struct cki_material cur = {0};
		char cdir[CKI_PATH];

		if (cki_id_path(id, cdir, "current") == CK_OK &&
		    access(cdir, F_OK) == 0 &&
		    cki_material_read(id, cdir, &cur) == CK_OK &&
		    X509_check_private_key(m->leaf, cur.key) == 1) {
			m->key = cur.key;
			cur.key = NULL;
			*key_from = "the current identity's key";
		}
		ck_ctx_clear_error(id->ctx);
		ERR_clear_error();
		cki_material_free(&cur);
	}
	if (m->key == NULL)
		return cki_err(id->ctx, CK_E_USAGE,
		    "%s: no private key for "
		    "this certificate: it is not in the file, no pending CSR "
		    "key (certkit identity csr) matches it, and neither does "
		    "the current key; give the key file (key_path)",
		    cert_path);
	return CK_OK;
}

ck_status
ck_identity_install(ck_identity *id, const char *cert_path,
    const char *key_path, const char *chain_path, char **json)
{
	ck_bundle *cb = NULL, *kb = NULL, *chb = NULL;
	STACK_OF(X509) *all = NULL;
	struct cki_material m = {0};
	json_t *report = NULL, *extra = NULL;
	char pend[CKI_PATH] = "", fp[65], kd[64], now[32];
	const char *key_from = NULL;
	ck_status rv;

	cki_begin(id->ctx);
	*json = NULL;
	if (cert_path == NULL)
		return cki_err(id->ctx, CK_E_USAGE,
		    "install: no certificate "
		    "file given (cert_path)");
	if ((all = sk_X509_new_null()) == NULL ||
	    (extra = json_array()) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	/* Load everything first: a bad file changes nothing. */
	if ((rv = ck_load_file(id->ctx, cert_path, &cb)) != CK_OK)
		goto err;
	if (ck_bundle_count(cb, CK_OBJ_CERT) == 0) {
		rv = cki_err(id->ctx, CK_E_FORMAT,
		    "%s: expected a "
		    "certificate, found %s",
		    cert_path,
		    ck_bundle_count(cb, CK_OBJ_KEY)
		        ? "only a private key "
		          "(give it as the key, and the certificate as the "
		          "certificate)"
		        : ck_bundle_count(cb, CK_OBJ_CSR)
		        ? "a certificate signing "
		          "request (send it to the CA; install what comes back)"
		        : "no certificate");
		goto err;
	}
	if (key_path != NULL &&
	    (rv = ck_load_expect(id->ctx, key_path, CK_OBJ_KEY, &kb)) != CK_OK)
		goto err;
	if (chain_path != NULL &&
	    (rv = ck_load_expect(id->ctx, chain_path, CK_OBJ_CERT, &chb)) !=
	        CK_OK)
		goto err;
	if ((rv = install_order(id, cb, cert_path, extra)) != CK_OK)
		goto err;
	if ((rv = add_certs(id, cb, all)) != CK_OK ||
	    (chb != NULL && (rv = add_certs(id, chb, all)) != CK_OK))
		goto err;

	/* The key, else a pending CSR key, else the current key (a
	 * certificate renewed for the same key). */
	if ((rv = install_leaf(
	         id, cb, kb, cert_path, key_path, all, &m, &key_from)) != CK_OK)
		goto err;
	if (m.key == NULL &&
	    (rv = install_find_key(id, cert_path, &m, pend, &key_from)) !=
	        CK_OK)
		goto err;
	if (file_has_crlf(cert_path) ||
	    (chain_path != NULL && file_has_crlf(chain_path)))
		problem(extra, "crlf_input",
		    "the input has Windows "
		    "(CRLF) line ends; certkit writes LF, which every server "
		    "reads");

	x509_sha256(m.leaf, fp);
	cki_key_desc(m.key, kd, sizeof(kd));
	cki_fmt_time((int64_t)time(NULL), now);
	m.meta = json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:o, s:o, s:o}}",
	    "kind", cki_kind_of(m.leaf), "created", now, "source", "install",
	    "sha256", fp, "key", kd, "input", "cert", cki_json_str(cert_path),
	    "key", cki_json_str(key_from), "chain", cki_json_str(chain_path));
	report = json_pack("{s:s, s:o, s:o}", "action", "install", "input",
	    cki_json_str(cert_path), "key_from", cki_json_str(key_from));
	if (m.meta == NULL || report == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	rv = validate_and_commit(
	    id, &m, all, "install", cert_path, report, extra);
	if (rv == CK_OK && json_is_true(json_object_get(report, "changed")) &&
	    pend[0] != '\0') {
		/* The pending key is now the identity's key. */
		size_t l = strlen(pend);

		(void)unlink(pend);
		if (l > 8) {
			snprintf(
			    pend + l - 8, sizeof(pend) - (l - 8), ".csr.pem");
			(void)unlink(pend);
		}
	}
	rv = commit_report(id, rv, report, json);
	report = NULL;
err:
	json_decref(report);
	json_decref(extra);
	cki_material_free(&m);
	sk_X509_pop_free(all, X509_free);
	ck_bundle_free(cb);
	ck_bundle_free(kb);
	ck_bundle_free(chb);
	cki_unlock(id);
	return rv;
}

/* ---- backups, restore --------------------------------------------------- */

ck_status
ck_identity_backups(ck_identity *id, char **json)
{
	json_t *list, *report;

	cki_begin(id->ctx);
	*json = NULL;
	if ((list = cki_backups_json(id)) == NULL ||
	    (report = json_pack("{s:o, s:I, s:o}", "directory",
	         cki_json_str(id->dir), "keep",
	         (json_int_t)id->conf.keep_backups, "backups", list)) == NULL)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	return report_out(id, report, json);
}

/* The backup named `want` exactly, or the only one it is a prefix of. */
static ck_status
find_backup(ck_identity *id, const char *want, char out[256])
{
	char path[CKI_PATH], cands[512] = "";
	size_t nc = 0, off = 0;
	DIR *d;
	struct dirent *e;

	if (want[0] == '\0' || strchr(want, '/') != NULL || want[0] == '.')
		return cki_err(id->ctx, CK_E_USAGE,
		    "'%s' is not a backup id; "
		    "certkit identity backups lists them",
		    want);
	if (cki_id_path(id, path, "backups") != CK_OK ||
	    (d = opendir(path)) == NULL)
		return cki_err(id->ctx, CK_E_NOTFOUND,
		    "%s: there are no "
		    "backups yet",
		    path);
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || strlen(e->d_name) >= 256)
			continue;
		if (strcmp(e->d_name, want) == 0) {
			memcpy(out, e->d_name, strlen(e->d_name) + 1);
			nc = 1;
			break;
		}
		if (strncmp(e->d_name, want, strlen(want)) == 0) {
			int w = snprintf(cands + off, sizeof(cands) - off,
			    "%s%s", nc ? ", " : "", e->d_name);

			if (w > 0 && (size_t)w < sizeof(cands) - off)
				off += (size_t)w;
			if (nc++ == 0)
				memcpy(out, e->d_name, strlen(e->d_name) + 1);
		}
	}
	closedir(d);
	if (nc == 0)
		return cki_err(id->ctx, CK_E_NOTFOUND,
		    "%s: no backup '%s'; "
		    "certkit identity backups lists them",
		    path, want);
	if (nc > 1)
		return cki_err(id->ctx, CK_E_USAGE,
		    "'%s' matches %zu backups "
		    "(%s); give more of the id",
		    want, nc, cands);
	return CK_OK;
}

ck_status
ck_identity_restore(ck_identity *id, const char *backup_id, char **json)
{
	struct cki_material m = {0};
	STACK_OF(X509) *given = NULL;
	json_t *report = NULL, *meta;
	char bid[256], dir[CKI_PATH];
	ck_status rv;

	cki_begin(id->ctx);
	*json = NULL;
	if ((rv = find_backup(id, backup_id != NULL ? backup_id : "", bid)) !=
	    CK_OK)
		return rv;
	if ((rv = cki_id_path(id, dir, "backups/%s", bid)) != CK_OK)
		return rv;
	if ((rv = cki_material_read(id, dir, &m)) != CK_OK)
		return cki_err(id->ctx, rv, "backup %s cannot be restored: %s",
		    bid, id->ctx->err);
	/* Rebuild and re-check the chain as install would. */
	given = m.chain;
	m.chain = NULL;
	if (m.root != NULL) {
		if (!sk_X509_push(given, m.root)) {
			rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		m.root = NULL;
	}
	meta = m.meta;
	json_object_set_new(meta, "restored_from", json_string(bid));
	json_object_set_new(meta, "source", json_string("restore"));
	if (json_object_get(meta, "kind") == NULL)
		json_object_set_new(
		    meta, "kind", json_string(cki_kind_of(m.leaf)));
	if ((report = json_pack("{s:s, s:s}", "action", "restore",
	         "backup_restored", bid)) == NULL) {
		rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	rv = validate_and_commit(id, &m, given, "restore", dir, report, NULL);
	rv = commit_report(id, rv, report, json);
	report = NULL;
err:
	json_decref(report);
	sk_X509_pop_free(given, X509_free);
	cki_material_free(&m);
	cki_unlock(id);
	return rv;
}

/* ---- export ------------------------------------------------------------- */

ck_status
ck_identity_export(
    ck_identity *id, ck_format fmt, int with_key, const char *path)
{
	struct cki_material m = {0};
	ck_bundle *b = NULL;
	ck_write_opts wo = {.name = "identity"};
	char dir[CKI_PATH], cur[256], *pw = NULL;
	ck_cert *c;
	ck_key *k;
	ck_status rv;

	cki_begin(id->ctx);
	if (path == NULL || path[0] == '\0')
		return cki_err(id->ctx, CK_E_USAGE,
		    "export: no file to write "
		    "to (path)");
	if (fmt != CK_FMT_PEM && fmt != CK_FMT_DER && fmt != CK_FMT_P12)
		return cki_err(id->ctx, CK_E_USAGE,
		    "export: the format must "
		    "be pem, der or p12");
	if (fmt == CK_FMT_DER && with_key)
		return cki_err(id->ctx, CK_E_USAGE,
		    "export: DER holds one "
		    "object; for the key too use PEM with the key, or "
		    "PKCS#12");
	if (cki_path_under(path, id->dir))
		return cki_err(id->ctx, CK_E_USAGE,
		    "export: %s is inside the identity store %s; writing it "
		    "would replace the files being exported. Export to a path "
		    "outside it",
		    path, id->dir);
	if (!cki_current_id(id, cur) || cur[0] == '\0')
		return cki_err(id->ctx, CK_E_NOTFOUND,
		    "%s: there is no "
		    "identity to export; run certkit identity init",
		    id->dir);
	if ((rv = cki_id_path(id, dir, "current")) != CK_OK ||
	    (rv = cki_material_read(id, dir, &m)) != CK_OK)
		return rv;
	if ((b = ck_bundle_new()) == NULL)
		goto nomem;
	if (fmt == CK_FMT_P12 || with_key) {
		if (!EVP_PKEY_up_ref(m.key) ||
		    (k = cki_key_wrap(m.key)) == NULL)
			goto nomem;
		if (cki_bundle_push(b, CK_OBJ_KEY, k, "identity key") !=
		    CK_OK) {
			ck_key_free(k);
			goto nomem;
		}
	}
	for (int i = -1; i < (fmt == CK_FMT_DER ? 0 : sk_X509_num(m.chain));
	     i++) {
		X509 *x = i < 0 ? m.leaf : sk_X509_value(m.chain, i);

		if (!X509_up_ref(x) || (c = cki_cert_wrap(x)) == NULL)
			goto nomem;
		if (cki_bundle_push(b, CK_OBJ_CERT, c, "identity") != CK_OK) {
			ck_cert_free(c);
			goto nomem;
		}
	}
	if (fmt == CK_FMT_P12) {
		if (id->ctx->password != NULL)
			wo.password = id->ctx->password;
		else if ((rv = cki_p12_password(id, &pw)) != CK_OK)
			goto err;
		else
			wo.password = pw;
	}
	rv = ck_write_bundle(id->ctx, b, fmt, &wo, path);
	goto err;
nomem:
	rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
err:
	if (pw != NULL)
		OPENSSL_clear_free(pw, strlen(pw));
	ck_bundle_free(b);
	cki_material_free(&m);
	return rv;
}
