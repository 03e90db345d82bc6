/*
 * trust_audit.c: `certkit trust audit`: what is wrong with the store, each
 * finding under a stable code (docs/json.md, "trust audit").
 *
 *   code                   severity  checked on
 *   ---------------------  --------  -----------------------------------
 *   expired_anchor         error     every effective certificate
 *   expiring_anchor        warning   every effective certificate (90 days)
 *   not_yet_valid_anchor   error     every effective certificate
 *   weak_anchor_key        error     RSA under 2048 bits
 *   non_ca_anchor          warning   no basicConstraints CA:TRUE
 *   duplicate_anchor       warning   one key under several certificates
 *   missing_required_root  error     --require / profile required_roots
 *   distrusted_present     error     out/ca-bundle.pem and out/certs/ as
 *                                    they are on disk (edited by hand)
 *   outputs_stale          warning   outputs missing, older than their
 *                                    inputs, or changed after the build
 *
 * Any finding makes the store "not clean". The audit reads; it never
 * changes anything, and each finding carries the command that fixes it.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "reference_int.h"
#include "config_int.h"
#include "trust_int.h"

#define EXPIRING_DAYS 90

/* Roots retired in favour of a successor with another name and key. */
static const struct {
	const char *old, *successor;
} successors[] = {
    {"DST Root CA X3", "ISRG Root X1"},
    {"AddTrust External CA Root", "USERTrust RSA Certification Authority"},
    {"GlobalSign Root CA - R2", "GlobalSign Root CA - R3"},
    {"Baltimore CyberTrust Root", "DigiCert Global Root G2"},
};

struct audit {
	ck_trust *t;
	const struct cki_tstate *s;
	int64_t now;
	json_t *findings;
};

/* Sets o[k] = v and evidence[k] = v (the certificate fields are both, the
 * top-level ones kept as they were). */
static void
cert_field(json_t *o, const char *k, json_t *v)
{
	if (v == NULL)
		return;
	(void)cki_finding_evidence(o, k, json_incref(v));
	json_object_set_new(o, k, v);
}

static void
finding(struct audit *a, const char *code, const struct cki_tcert *c,
    const char *message, const char *fix)
{
	json_t *o = cki_finding_new(CKI_REPORT_AUDIT, code, false, message, fix,
	    CKI_OLD_MESSAGE | (fix != NULL ? CKI_OLD_FIX : 0));

	if (o == NULL)
		return;
	if (c != NULL) {
		char *label = cki_x509_label(c->x);
		char *subj = cki_name_oneline(X509_get_subject_name(c->x));

		cert_field(o, "label", json_string(label ? label : ""));
		cert_field(o, "subject", json_string(subj ? subj : ""));
		cert_field(o, "sha256", json_string(c->fp));
		if (c->alias != NULL)
			cert_field(o, "alias", json_string(c->alias));
		cert_field(o, "source",
		    json_string(
		        (c->src & CKI_SRC_CUSTOM) ? "custom" : "system"));
		free(label);
		free(subj);
	}
	json_array_append_new(a->findings, o);
}

static int64_t
not_after(X509 *x)
{
	int64_t t = 0;

	cki_asn1_time(X509_get0_notAfter(x), &t);
	return t;
}

static int64_t
not_before(X509 *x)
{
	int64_t t = 0;

	cki_asn1_time(X509_get0_notBefore(x), &t);
	return t;
}

/* How to take a certificate out of the effective store. */
static void
fix_remove(const struct cki_tcert *c, const char *why, char *buf, size_t size)
{
	if (c->src == CKI_SRC_CUSTOM)
		snprintf(buf, size, "certkit trust remove %s", c->alias);
	else
		snprintf(buf, size, "certkit trust distrust %s --reason '%s'",
		    c->fp, why);
}

static bool
cn_is(X509 *x, const char *name)
{
	char *cn = cki_x509_common_name(x);
	bool r = cn != NULL && strcasecmp(cn, name) == 0;

	free(cn);
	return r;
}

/* A valid certificate that replaces the expired `c`: a known successor,
 * one with the same subject, or one from the same organisation. */
static const struct cki_tcert *
replacement(struct audit *a, const struct cki_tcert *c)
{
	const struct cki_tstate *s = a->s;
	char *org = cki_x509_subject_field(c->x, NID_organizationName);
	const struct cki_tcert *best = NULL;

	for (size_t k = 0;
	     k < sizeof(successors) / sizeof(successors[0]) && best == NULL;
	     k++) {
		if (!cn_is(c->x, successors[k].old))
			continue;
		for (size_t i = 0; i < s->nall && best == NULL; i++)
			if (s->all[i].distrusted == NULL &&
			    cn_is(s->all[i].x, successors[k].successor) &&
			    strcmp(cki_x509_validity(s->all[i].x, a->now),
			        "valid") == 0)
				best = &s->all[i];
	}
	for (size_t i = 0; i < s->nall && best == NULL; i++) {
		const struct cki_tcert *o = &s->all[i];
		char *oorg;

		if (o == c || o->distrusted != NULL ||
		    strcmp(cki_x509_validity(o->x, a->now), "valid") != 0 ||
		    X509_check_ca(o->x) == 0)
			continue;
		if (X509_NAME_cmp(X509_get_subject_name(o->x),
		        X509_get_subject_name(c->x)) == 0) {
			best = o;
			break;
		}
		oorg = cki_x509_subject_field(o->x, NID_organizationName);
		if (org != NULL && oorg != NULL && strcmp(org, oorg) == 0)
			best = o;
		free(oorg);
	}
	free(org);
	return best;
}

static void
check_validity(
    struct audit *a, const struct cki_tcert *c, size_t nnotyet, size_t neff)
{
	char date[32], msg[1024], fix[256], *label = cki_x509_label(c->x);
	const char *v = cki_x509_validity(c->x, a->now);
	const struct cki_tcert *r;

	if (strcmp(v, "expired") == 0) {
		cki_fmt_time(not_after(c->x), date);
		fix_remove(c, "expired", fix, sizeof(fix));
		if ((r = replacement(a, c)) != NULL) {
			char *rl = cki_x509_label(r->x);

			snprintf(msg, sizeof(msg),
			    "\"%s\" expired on %s. It still sits next to "
			    "\"%s\", "
			    "which is valid: current clients build the path "
			    "to \"%s\", but older ones (OpenSSL 1.0.x, GnuTLS "
			    "before 3.6.14, old Java and Android) can pick the "
			    "path through the expired root and fail with "
			    "\"certificate has expired\". Take it out",
			    label ? label : "?", date, rl ? rl : "?",
			    rl ? rl : "?");
			free(rl);
		} else {
			snprintf(msg, sizeof(msg),
			    "\"%s\" expired on %s: no chain through it "
			    "verifies, and older clients that pick it over a "
			    "newer root fail with \"certificate has expired\". "
			    "Take it out, and add its successor if you need "
			    "one",
			    label ? label : "?", date);
		}
		finding(a, "expired_anchor", c, msg, fix);
	} else if (strcmp(v, "not_yet_valid") == 0) {
		cki_fmt_time(not_before(c->x), date);
		snprintf(msg, sizeof(msg),
		    "\"%s\" is not valid until %s; clients reject chains "
		    "through it until then.%s",
		    label ? label : "?", date,
		    nnotyet * 2 > neff
		        ? " Most of the store is \"not yet "
		          "valid\": the device clock is probably wrong (check "
		          "`date -u`, NTP, the RTC battery)"
		        : "");
		fix_remove(c, "not yet valid", fix, sizeof(fix));
		finding(a, "not_yet_valid_anchor", c, msg,
		    nnotyet * 2 > neff ? "set the clock (e.g. timedatectl "
		                         "set-ntp true)"
		                       : fix);
	} else if (not_after(c->x) - a->now < (int64_t)EXPIRING_DAYS * 86400) {
		long days = (long)((not_after(c->x) - a->now) / 86400);

		cki_fmt_time(not_after(c->x), date);
		snprintf(msg, sizeof(msg),
		    "\"%s\" expires on %s (in %ld day%s); chains through it "
		    "stop verifying then. Add its successor before that date",
		    label ? label : "?", date, days, days == 1 ? "" : "s");
		finding(a, "expiring_anchor", c, msg,
		    "certkit trust add SUCCESSOR.pem (from the CA), or "
		    "certkit trust add --reference NAME");
	}
	free(label);
}

static void
check_key_and_ca(struct audit *a, const struct cki_tcert *c)
{
	char msg[1024], fix[256], key[96], *label = cki_x509_label(c->x);
	int bits;

	cki_x509_key(c->x, key, sizeof(key), &bits);
	/* NIST SP 800-131A: RSA under 2048 bits is disallowed; OpenSSL's
	 * security level 2 (Debian's default) rejects such chains. */
	if (bits > 0 && bits < 2048) {
		snprintf(msg, sizeof(msg),
		    "\"%s\" has a %s key: OpenSSL at security level 2 "
		    "(Debian's default) and current browsers and Java reject "
		    "chains through it, and the key can be factored",
		    label ? label : "?", key);
		fix_remove(c, "weak key", fix, sizeof(fix));
		finding(a, "weak_anchor_key", c, msg, fix);
	}
	/* RFC 5280 section 4.2.1.9: only a CA certificate signs others. */
	if (X509_check_ca(c->x) == 0) {
		snprintf(msg, sizeof(msg),
		    "\"%s\" is not a CA certificate: it verifies nothing but "
		    "itself (a pinned leaf). If the service renews it, "
		    "connections fail; trust the CA that issues it instead",
		    label ? label : "?");
		fix_remove(c, "not a CA", fix, sizeof(fix));
		finding(a, "non_ca_anchor", c, msg, fix);
	}
	free(label);
}

static void
check_duplicates(struct audit *a)
{
	const struct cki_tstate *s = a->s;

	for (size_t i = 0; i < s->nall; i++) {
		const struct cki_tcert *c = &s->all[i];
		char msg[1536], fix[256];
		size_t used, n = 1;
		bool first = true;
		char *label;

		if (c->distrusted != NULL)
			continue;
		/* Report each group once, at its first member. */
		for (size_t j = 0; j < i && first; j++)
			if (s->all[j].distrusted == NULL &&
			    strcmp(s->all[j].spki, c->spki) == 0)
				first = false;
		if (!first)
			continue;
		label = cki_x509_label(c->x);
		used = (size_t)snprintf(msg, sizeof(msg),
		    "one key is trusted under several certificates: "
		    "\"%s\"%s%s%s",
		    label ? label : "?", c->alias ? " (alias " : "",
		    c->alias ? c->alias : "", c->alias ? ")" : "");
		free(label);
		fix[0] = '\0';
		for (size_t j = i + 1; j < s->nall; j++) {
			const struct cki_tcert *o = &s->all[j];

			if (o->distrusted != NULL ||
			    strcmp(o->spki, c->spki) != 0)
				continue;
			n++;
			label = cki_x509_label(o->x);
			if (used < sizeof(msg))
				used += (size_t)snprintf(msg + used,
				    sizeof(msg) - used, ", \"%s\"%s%s%s",
				    label ? label : "?",
				    o->alias ? " (alias " : "",
				    o->alias ? o->alias : "",
				    o->alias ? ")" : "");
			free(label);
			if (fix[0] == '\0')
				fix_remove(
				    o, "duplicate key", fix, sizeof(fix));
		}
		if (n < 2)
			continue;
		if (used < sizeof(msg))
			snprintf(msg + used, sizeof(msg) - used,
			    ". Trusting the key once is enough; keep the "
			    "newest "
			    "certificate and take the others out");
		finding(a, "duplicate_anchor", c, msg, fix);
	}
}

/* ---- required roots ----------------------------------------------------- */

struct reqlist {
	char **q;
	size_t n, cap;
	bool oom;
};

static void
req_add(struct reqlist *r, const char *text, size_t len)
{
	char *q;

	while (len > 0 && isspace((unsigned char)*text)) {
		text++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	if (len == 0)
		return;
	if (len >= 2 && text[0] == '"' && text[len - 1] == '"') {
		text++;
		len -= 2;
	}
	if (r->n == r->cap) {
		size_t ncap = r->cap ? r->cap * 2 : 8;
		char **nq = realloc(r->q, ncap * sizeof(*nq));

		if (nq == NULL) {
			r->oom = true;
			return;
		}
		r->q = nq;
		r->cap = ncap;
	}
	for (size_t i = 0; i < r->n; i++)
		if (strlen(r->q[i]) == len &&
		    strncasecmp(r->q[i], text, len) == 0)
			return;
	if ((q = strndup(text, len)) == NULL) {
		r->oom = true;
		return;
	}
	r->q[r->n++] = q;
}

/* required_roots = ISRG Root X1, DigiCert Global Root G2 (comma-separated,
 * in any section; repeated and continued keys add up), read with core's INI
 * reader (config.c), the rules certkit.conf follows. */
static ck_status
profile_roots(ck_ctx *ctx, const char *profile, struct reqlist *r)
{
	struct cki_strlist l = {0};
	cki_config *cfg = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int bad = 0;
	ck_status rv;

	if ((rv = cki_read_file(ctx, profile, &buf, &len)) != CK_OK)
		return rv;
	rv = cki_config_load_mem_at(
	    ctx, profile, (const char *)buf, len, &cfg, &bad);
	free(buf);
	if (rv == CK_E_FORMAT && bad > 0)
		rv = cki_err(ctx, CK_E_FORMAT,
		    "%s line %d: expected \"[section]\", \"key = value\" or "
		    "a comment (an INI doctor profile)",
		    profile, bad);
	if (rv == CK_OK)
		rv = cki_config_list_all(ctx, cfg, "required_roots", &l);
	for (size_t i = 0; rv == CK_OK && i < l.n; i++)
		req_add(r, l.v[i], strlen(l.v[i]));
	cki_strlist_clear(&l);
	cki_config_free(cfg);
	return rv;
}

static bool
ci_contains(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (; *hay != '\0'; hay++)
		if (strncasecmp(hay, needle, n) == 0)
			return true;
	return false;
}

static bool
req_matches(const struct cki_tcert *c, const char *q)
{
	char hex[65];
	enum cki_pin kind;
	bool ex, hit;
	char *subj;

	if (cki_fp_parse(q, hex, &kind, &ex))
		return strcmp(kind == CKI_PIN_SPKI ? c->spki : c->fp, hex) == 0;
	subj = cki_name_oneline(X509_get_subject_name(c->x));
	hit = subj != NULL && ci_contains(subj, q);
	free(subj);
	return hit;
}

static void
check_required(struct audit *a, const struct reqlist *r, json_t *out)
{
	const struct cki_tstate *s = a->s;

	for (size_t k = 0; k < r->n; k++) {
		const char *q = r->q[k];
		const struct cki_tcert *valid = NULL, *expired = NULL,
		                       *dist = NULL;
		char msg[1024], fix[512], *label = NULL;
		ck_cert *ref = NULL;
		ck_ctx *rctx;

		for (size_t i = 0; i < s->nall && valid == NULL; i++) {
			const struct cki_tcert *c = &s->all[i];

			if (!req_matches(c, q))
				continue;
			if (c->distrusted != NULL)
				dist = c;
			else if (strcmp(cki_x509_validity(c->x, a->now),
			             "valid") == 0)
				valid = c;
			else
				expired = c;
		}
		if (valid != NULL) {
			label = cki_x509_label(valid->x);
			json_array_append_new(out,
			    json_pack("{s:s, s:s, s:s?, "
			              "s:s}",
			        "query", q, "status", "present", "label", label,
			        "sha256", valid->fp));
			free(label);
			continue;
		}
		/* Can the embedded reference set supply it? */
		if ((rctx = ck_ctx_new()) != NULL) {
			if (ck_reference_get(rctx, NULL, q, &ref) != CK_OK)
				ref = NULL;
			ck_ctx_free(rctx);
		}
		if (ref != NULL)
			snprintf(fix, sizeof(fix),
			    "certkit trust add --reference \"%s\"", q);
		else
			snprintf(fix, sizeof(fix),
			    "get the root from its CA and "
			    "run: certkit trust add ROOT.pem");
		if (dist != NULL) {
			label = cki_x509_label(dist->x);
			snprintf(msg, sizeof(msg),
			    "required root \"%s\" is distrusted (%s): chains "
			    "that end at \"%s\" fail",
			    q,
			    dist->distrusted->reason ? dist->distrusted->reason
			                             : "no reason given",
			    label ? label : "?");
			snprintf(fix, sizeof(fix),
			    "certkit trust distrust --undo "
			    "%s%s",
			    dist->distrusted->kind == CKI_PIN_SPKI ? "spki:"
			                                           : "",
			    dist->distrusted->hex);
		} else if (expired != NULL) {
			label = cki_x509_label(expired->x);
			snprintf(msg, sizeof(msg),
			    "required root \"%s\" is present only as \"%s\", "
			    "which is %s: chains that need it fail",
			    q, label ? label : "?",
			    strcmp(cki_x509_validity(expired->x, a->now),
			        "expired") == 0
			        ? "expired"
			        : "not valid yet");
		} else {
			snprintf(msg, sizeof(msg),
			    "required root \"%s\" is not in the effective "
			    "store "
			    "(%s + custom anchors): services whose chains end "
			    "at "
			    "it fail with \"unable to get local issuer "
			    "certificate\"%s",
			    q, s->system_path,
			    ref != NULL ? "; the reference set has it" : "");
		}
		finding(a, "missing_required_root", dist ? dist : expired, msg,
		    fix);
		json_array_append_new(out,
		    json_pack("{s:s, s:s}", "query", q, "status",
		        dist          ? "distrusted"
		            : expired ? "invalid"
		                      : "missing"));
		free(label);
		ck_cert_free(ref);
	}
}

/* ---- the outputs as they are on disk ------------------------------------ */

static const char *
jstr(const json_t *v)
{
	const char *s = json_string_value(v);

	return s != NULL ? s : "";
}

static void
scan_output(struct audit *a, const char *path, const char *shown)
{
	const struct cki_tstate *s = a->s;
	ck_ctx *lctx = ck_ctx_new();
	ck_bundle *b = NULL;

	if (lctx == NULL || ck_load_file(lctx, path, &b) != CK_OK) {
		ck_ctx_free(lctx);
		return;
	}
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		X509 *x = ck_bundle_get0_cert(b, i)->x509;
		struct cki_tcert c = {x, "", "", 0, NULL, NULL};
		char msg[1024], fix[300], *label;

		cki_x509_fp(x, c.fp);
		cki_x509_spki(x, c.spki);
		for (size_t j = 0; j < s->ndist; j++) {
			const struct cki_distrust *e = &s->dist[j];

			if (strcmp(e->kind == CKI_PIN_SPKI ? c.spki : c.fp,
			        e->hex) != 0)
				continue;
			label = cki_x509_label(x);
			snprintf(msg, sizeof(msg),
			    "%s holds \"%s\", which is distrusted (%s); "
			    "certkit "
			    "never writes it, so the file was edited by hand "
			    "(e.g. `cat >>`). Every service reading it trusts "
			    "that certificate now",
			    shown, label ? label : "?",
			    e->reason ? e->reason : "no reason given");
			snprintf(fix, sizeof(fix),
			    "certkit trust rebuild (and "
			    "add certificates with `certkit trust add`, never "
			    "by "
			    "editing %s)",
			    shown);
			c.distrusted = e;
			finding(a, "distrusted_present", &c, msg, fix);
			free(label);
			break;
		}
	}
	ck_bundle_free(b);
	ck_ctx_free(lctx);
}

static void
check_outputs(struct audit *a)
{
	ck_trust *t = a->t;
	const struct cki_tstate *s = a->s;
	char path[4200], msg[1024], sum[65], when[32];
	json_t *man = NULL, *list;
	uint8_t *buf = NULL;
	size_t len = 0, nman, missing = 0, extra = 0;
	ck_ctx *lctx = ck_ctx_new();
	DIR *d;
	struct dirent *de;
	int64_t built;

	scan_output(a, t->bundle, "out/ca-bundle.pem");
	if ((d = opendir(t->certs)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(
			    path, sizeof(path), "%s/%s", t->certs, de->d_name);
			snprintf(msg, sizeof(msg), "out/certs/%s", de->d_name);
			scan_output(a, path, msg);
		}
		closedir(d);
	}
	snprintf(path, sizeof(path), "%s/manifest.json", t->out);
	if ((man = json_load_file(path, 0, NULL)) == NULL) {
		snprintf(msg, sizeof(msg),
		    "the outputs (%s) have not been "
		    "built, or are not certkit's: services reading them find "
		    "nothing or an old set",
		    t->out);
		finding(a, "outputs_stale", NULL, msg, "certkit trust rebuild");
		goto out;
	}
	built =
	    (int64_t)json_integer_value(json_object_get(man, "built_at_ns"));
	cki_fmt_time(built / 1000000000, when);
	/* Which certificates the outputs lack, and which they should not
	 * have: the precise form of "older than their inputs". */
	list = json_object_get(man, "certificates");
	nman = json_array_size(list);
	for (size_t i = 0; i < s->nall; i++) {
		bool in = false;

		for (size_t j = 0; j < nman && !in; j++)
			in = strcmp(jstr(json_object_get(
			                json_array_get(list, j), "sha256")),
			         s->all[i].fp) == 0;
		if (s->all[i].distrusted == NULL && !in)
			missing++;
		if (s->all[i].distrusted != NULL && in)
			extra++;
	}
	for (size_t j = 0; j < nman; j++) {
		const char *fp = json_string_value(
		    json_object_get(json_array_get(list, j), "sha256"));
		bool found = false;

		for (size_t i = 0; i < s->nall && !found; i++)
			found = fp != NULL && strcmp(s->all[i].fp, fp) == 0;
		if (!found)
			extra++;
	}
	if (missing > 0 || extra > 0 || s->inputs_mtime > built) {
		snprintf(msg, sizeof(msg),
		    "the outputs were built on %s and their inputs changed "
		    "since (%s): %zu certificate%s should be added and %zu "
		    "removed",
		    when,
		    s->system_mtime > built ? "the system bundle was updated"
		                            : "anchors or distrust "
		                              "entries changed",
		    missing, missing == 1 ? "" : "s", extra);
		finding(a, "outputs_stale", NULL, msg, "certkit trust rebuild");
	} else if (lctx != NULL &&
	    cki_read_file(lctx, t->bundle, &buf, &len) == CK_OK) {
		EVP_Digest(
		    buf, len, (unsigned char *)path, NULL, EVP_sha256(), NULL);
		cki_hex((unsigned char *)path, 32, sum);
		if (strcmp(sum,
		        jstr(json_object_get(man, "ca_bundle_sha256"))) != 0) {
			snprintf(msg, sizeof(msg),
			    "out/ca-bundle.pem was changed after certkit built "
			    "it on %s (edited by hand?): it no longer matches "
			    "the "
			    "store, and the next change will overwrite it",
			    when);
			finding(a, "outputs_stale", NULL, msg,
			    "certkit trust rebuild (add certificates with "
			    "`certkit trust add`)");
		}
	}
out:
	free(buf);
	ck_ctx_free(lctx);
	json_decref(man);
}

ck_status
ck_trust_audit(ck_trust *t, const char *const *require, size_t nrequire,
    const char *profile, char **json, int *clean)
{
	struct cki_tstate *s = NULL;
	struct reqlist req = {0};
	struct audit a = {t, NULL, 0, NULL};
	json_t *doc = NULL, *reqout;
	size_t neff = 0, nnotyet = 0, nerr = 0, nwarn = 0;
	char at[32];
	ck_status rv;

	cki_begin(t->ctx);
	*json = NULL;
	*clean = 0;
	for (size_t i = 0; i < nrequire; i++)
		req_add(&req, require[i], strlen(require[i]));
	if (profile != NULL &&
	    (rv = profile_roots(t->ctx, profile, &req)) != CK_OK)
		goto err;
	if (req.oom) {
		rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if ((rv = cki_trust_lock_load(t, false, &s)) != CK_OK)
		goto err;
	a.s = s;
	a.now = (int64_t)cki_now(t->ctx);
	cki_fmt_time(a.now, at);
	if ((a.findings = json_array()) == NULL ||
	    (reqout = json_array()) == NULL)
		goto nomem;
	for (size_t i = 0; i < s->nall; i++)
		if (s->all[i].distrusted == NULL) {
			neff++;
			nnotyet += strcmp(cki_x509_validity(s->all[i].x, a.now),
			               "not_yet_valid") == 0;
		}
	for (size_t i = 0; i < s->nall; i++) {
		if (s->all[i].distrusted != NULL)
			continue;
		check_validity(&a, &s->all[i], nnotyet, neff);
		check_key_and_ca(&a, &s->all[i]);
	}
	check_duplicates(&a);
	check_required(&a, &req, reqout);
	check_outputs(&a);
	for (size_t i = 0; i < json_array_size(a.findings); i++) {
		const char *sev = json_string_value(
		    json_object_get(json_array_get(a.findings, i), "severity"));

		if (sev != NULL && strcmp(sev, "error") == 0)
			nerr++;
		else
			nwarn++;
	}
	*clean = nerr + nwarn == 0;
	doc = json_pack("{s:i, s:o, s:s, s:o, s:b, s:{s:I, s:I, s:I}, s:o, "
	                "s:o, s:{s:I, s:I}, s:b}",
	    "version", CKI_REPORT_VERSION, "store", cki_json_str(t->dir), "at",
	    at, "system_bundle", cki_json_str(s->system_path),
	    "system_bundle_missing", s->system_missing, "counts", "effective",
	    (json_int_t)neff, "custom", (json_int_t)s->nanchors,
	    "distrust_entries", (json_int_t)s->ndist, "required", reqout,
	    "findings", a.findings, "summary", "errors", (json_int_t)nerr,
	    "warnings", (json_int_t)nwarn, "clean", *clean);
	a.findings = NULL;
	rv = cki_trust_json_out(t, doc, json);
	goto err;
nomem:
	rv = cki_err(t->ctx, CK_E_NOMEM, "out of memory");
err:
	json_decref(a.findings);
	for (size_t i = 0; i < req.n; i++)
		free(req.q[i]);
	free(req.q);
	cki_trust_state_free(s);
	cki_trust_unlock(t);
	return rv;
}
