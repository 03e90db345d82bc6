/*
 * doctor_diag.c: from what a probe observed to a root cause.
 *
 * Pure: everything comes in through struct cki_obs (the facts), struct
 * cki_endpoint (what the admin expects) and struct cki_diag_env (the
 * device's store, the reference roots, the clock). When a fact is missing
 * (the issuer behind an AIA URL, the certificate served without SNI, the
 * HTTP Date), cki_doc_diagnose() says so in struct cki_need and returns
 * NULL; the probe gathers it and calls again. Each call starts from scratch,
 * so the result depends on the facts only.
 *
 * The order of the questions (the first failing stage decides the status):
 *
 *   DNS answered? ──no──► dns_failure | dns_timeout | dns_sinkhole   offline
 *   TCP connected? ─no──► tcp_refused | tcp_timeout | tcp_reset      offline
 *                         (to a proxy: proxy_failure)
 *   proxy said 2xx? ─no─► proxy_auth_required | proxy_failure        offline
 *   TLS completed? ─no──► handshake_timeout | tls_reset | not_tls |
 *                         tls_protocol_mismatch | tls_cipher_mismatch |
 *                         client_cert_required | client_cert_rejected |
 *                         hostname_mismatch (unrecognized_name) |
 *                         tls_handshake_failed                  unreachable
 *   chain, name, time, key, signature, revocation, pins, client auth:
 *                         each failing check adds an error      unreachable
 *   nothing failed ─────► ok (+ warnings)                           online
 *
 * The error-20 family ("unable to get local issuer certificate") is split
 * by walking up from the top of the chain OpenSSL could build:
 *
 *   top is self-signed and only the leaf ──► self_signed_leaf
 *   top is a root the reference has ───────► missing_root
 *   issuer of top in reference / AIA:
 *       an intermediate ──► incomplete_chain, add it, walk on
 *       a reference root ──► missing_root
 *   nothing found: inspection vendor, public endpoint or pin mismatch
 *                                         ──► tls_interception
 *                  top is self-signed     ──► untrusted_root
 *                  otherwise: the server omits an issuer no store has
 *                  (the failed AIA fetch in the evidence)
 *                                         ──► incomplete_chain
 *
 * An expired root in the store (or an expired cross-sign) with a valid
 * reference root that would replace it is expired_root_in_store.
 *
 * The name: a placeholder (a default name such as localhost, or a
 * self-signed certificate the server also gives without SNI) is
 * fallback_certificate; any other certificate for another name is
 * hostname_mismatch, even when the server gives it without SNI too (its
 * only certificate, or a default shown for a site it did not load: that
 * reading goes into the evidence).
 *
 * The clock: a certificate not valid yet is clock_skew when the device's
 * own trust anchor is not valid yet either, when the clock (real or --at)
 * reads before the day certkit was built, or when the server's HTTP Date
 * makes the certificate valid.
 */
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "doctor_int.h"
#include "reference_int.h"
#include "verify_int.h"

const char *const cki_stage_names[CKI_ST_COUNT] = {
    "none", "dns", "tcp", "proxy", "tls", "client_auth", "evidence"};

/* ---- small tables -------------------------------------------------------- */

/*
 * SSL-inspection products, matched as whole words in the subject and issuer
 * of the presented certificates. Names that are also public CAs (Symantec,
 * Cloudflare, Trend Micro's old CA) are deliberately absent.
 */
static const struct {
	const char *word;
	const char *vendor;
} vendors[] = {
    {"zscaler", "Zscaler"},
    {"fortinet", "Fortinet FortiGate"},
    {"fortigate", "Fortinet FortiGate"},
    {"palo alto", "Palo Alto Networks"},
    {"paloalto", "Palo Alto Networks"},
    {"pan-os", "Palo Alto Networks"},
    {"blue coat", "Blue Coat / Symantec ProxySG"},
    {"bluecoat", "Blue Coat / Symantec ProxySG"},
    {"proxysg", "Blue Coat / Symantec ProxySG"},
    {"ssl visibility", "Symantec SSL Visibility"},
    {"cisco umbrella", "Cisco Umbrella"},
    {"umbrella", "Cisco Umbrella"},
    {"opendns", "Cisco Umbrella"},
    {"netskope", "Netskope"},
    {"sophos", "Sophos"},
    {"check point", "Check Point"},
    {"checkpoint", "Check Point"},
    {"forcepoint", "Forcepoint"},
    {"websense", "Forcepoint"},
    {"barracuda", "Barracuda"},
    {"mcafee", "McAfee / Skyhigh"},
    {"skyhigh", "McAfee / Skyhigh"},
    {"kaspersky", "Kaspersky"},
    {"eset", "ESET"},
    {"avast", "Avast / AVG"},
    {"avg", "Avast / AVG"},
    {"bitdefender", "Bitdefender"},
    {"mitmproxy", "mitmproxy"},
    {"fiddler", "Fiddler"},
    {"do_not_trust", "Fiddler"},
    {"charles proxy", "Charles Proxy"},
    {"charlesproxy", "Charles Proxy"},
    {"burp", "Burp Suite"},
    {"portswigger", "Burp Suite"},
    {"sonicwall", "SonicWall"},
    {"watchguard", "WatchGuard"},
    {"untangle", "Untangle"},
    {"iboss", "iboss"},
    {"menlo security", "Menlo Security"},
    {"cato networks", "Cato Networks"},
    {"lightspeed", "Lightspeed Systems"},
    {"securly", "Securly"},
    {"contentkeeper", "ContentKeeper"},
    {"smoothwall", "Smoothwall"},
    {"cyberoam", "Sophos (Cyberoam)"},
    {"squid", "Squid ssl-bump"},
};

static bool
word_at(const char *hay, size_t i, size_t n)
{
	bool before = i == 0 || !isalnum((unsigned char)hay[i - 1]);
	bool after = !isalnum((unsigned char)hay[i + n]);

	return before && after;
}

const char *
cki_doc_inspection_vendor(const char *name)
{
	size_t hl;

	if (name == NULL)
		return NULL;
	hl = strlen(name);
	for (size_t v = 0; v < sizeof(vendors) / sizeof(vendors[0]); v++) {
		size_t n = strlen(vendors[v].word);

		for (size_t i = 0; i + n <= hl; i++)
			if (strncasecmp(name + i, vendors[v].word, n) == 0 &&
			    word_at(name, i, n))
				return vendors[v].vendor;
	}
	return NULL;
}

bool
cki_doc_default_name(const char *name)
{
	static const char *const names[] = {"localhost",
	    "localhost.localdomain", "localhost6", "ip6-localhost",
	    "localdomain", "example.com", "example.org", "default", "server",
	    "router", "self-signed", "selfsigned", "unconfigured", "changeme",
	    "your.domain.com", "www.example.com", "invalid", "127.0.0.1", "::1",
	    "0.0.0.0"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(name, names[i]) == 0)
			return true;
	return strncasecmp(name, "localhost.", 10) == 0;
}

const char *
cki_doc_alert_name(int desc)
{
	/* RFC 8446 6 and RFC 5246 7.2 */
	switch (desc) {
	case 0: return "close_notify";
	case 10: return "unexpected_message";
	case 20: return "bad_record_mac";
	case 22: return "record_overflow";
	case 40: return "handshake_failure";
	case 42: return "bad_certificate";
	case 43: return "unsupported_certificate";
	case 44: return "certificate_revoked";
	case 45: return "certificate_expired";
	case 46: return "certificate_unknown";
	case 47: return "illegal_parameter";
	case 48: return "unknown_ca";
	case 49: return "access_denied";
	case 50: return "decode_error";
	case 51: return "decrypt_error";
	case 70: return "protocol_version";
	case 71: return "insufficient_security";
	case 80: return "internal_error";
	case 86: return "inappropriate_fallback";
	case 90: return "user_canceled";
	case 109: return "missing_extension";
	case 110: return "unsupported_extension";
	case 112: return "unrecognized_name";
	case 113: return "bad_certificate_status_response";
	case 115: return "unknown_psk_identity";
	case 116: return "certificate_required";
	case 120: return "no_application_protocol";
	}
	return "unknown_alert";
}

int64_t
cki_doc_build_time(void)
{
	/* __DATE__ is "Mmm dd yyyy", __TIME__ "hh:mm:ss" (C11 6.10.8.1). */
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	const char *d = __DATE__, *t = __TIME__;
	char mon[4] = {d[0], d[1], d[2], '\0'};
	const char *m = strstr(months, mon);
	int mo = m != NULL ? (int)(m - months) / 3 + 1 : 1;
	int day = (d[4] == ' ' ? 0 : d[4] - '0') * 10 + (d[5] - '0');
	int y = (d[7] - '0') * 1000 + (d[8] - '0') * 100 + (d[9] - '0') * 10 +
	    (d[10] - '0');
	int64_t days = cki_days_from_civil(y, (unsigned)mo, (unsigned)day);

	return days * 86400 + ((t[0] - '0') * 10 + (t[1] - '0')) * 3600 +
	    ((t[3] - '0') * 10 + (t[4] - '0')) * 60 +
	    ((t[6] - '0') * 10 + (t[7] - '0'));
}

/* ---- observation lifetime ------------------------------------------------ */

void
cki_hs_clear(struct cki_hs *h)
{
	sk_X509_pop_free(h->chain, X509_free);
	free(h->ocsp);
	free(h->http_body);
	memset(h, 0, sizeof(*h));
	h->alert_in = -1;
	h->alert_out = -1;
	h->hello_acked = -1;
}

void
cki_obs_init(struct cki_obs *o)
{
	memset(o, 0, sizeof(*o));
	o->dns_rcode = -1;
	o->main.alert_in = o->main.alert_out = -1;
	o->nosni.alert_in = o->nosni.alert_out = -1;
	o->legacy.alert_in = o->legacy.alert_out = -1;
	o->main.hello_acked = o->nosni.hello_acked = -1;
	o->legacy.hello_acked = -1;
	o->quiet.alert_in = o->quiet.alert_out = -1;
	o->quiet.hello_acked = -1;
	for (int i = 0; i < CKI_ST_COUNT; i++)
		o->ms[i] = -1;
}

void
cki_obs_clear(struct cki_obs *o)
{
	cki_hs_clear(&o->main);
	cki_hs_clear(&o->nosni);
	cki_hs_clear(&o->legacy);
	cki_hs_clear(&o->quiet);
	sk_X509_pop_free(o->fetched, X509_free);
	cki_obs_init(o);
}

/* ---- certificates -------------------------------------------------------- */

/* SHA-256, fetched once (OpenSSL 3 otherwise looks it up per call). */
static const EVP_MD *
sha256(void)
{
	static EVP_MD *md;

	if (md == NULL)
		md = EVP_MD_fetch(NULL, "SHA2-256", NULL);
	return md != NULL ? md : EVP_sha256();
}

static void
x_fp(X509 *x, char out[65])
{
	unsigned char md[32];
	unsigned int n = 0;

	if (!X509_digest(x, sha256(), md, &n) || n != 32)
		out[0] = '\0';
	else
		cki_hex(md, 32, out);
}

static bool
x_spki_raw(X509 *x, unsigned char md[32])
{
	unsigned char *der = NULL;
	int len;
	bool ok;

	/* RFC 7469 2.4: the pin is over the DER SubjectPublicKeyInfo. */
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der);
	ok = len > 0 && EVP_Digest(der, (size_t)len, md, NULL, sha256(), NULL);
	OPENSSL_free(der);
	return ok;
}

static void
x_spki(X509 *x, char out[65])
{
	unsigned char md[32];

	if (x_spki_raw(x, md))
		cki_hex(md, 32, out);
	else
		out[0] = '\0';
}

/* The common name, else O, else OU, else the one-line name. */
static char *
name_label(const X509_NAME *n)
{
	static const int nids[] = {
	    NID_commonName, NID_organizationName, NID_organizationalUnitName};

	for (size_t k = 0; k < 3; k++) {
		int i = X509_NAME_get_index_by_NID(n, nids[k], -1);
		unsigned char *u = NULL;
		int len;
		char *out;

		if (i < 0)
			continue;
		len = ASN1_STRING_to_UTF8(
		    &u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, i)));
		if (len <= 0) {
			OPENSSL_free(u);
			continue;
		}
		out = strndup((char *)u, (size_t)len);
		OPENSSL_free(u);
		return out;
	}
	return cki_name_oneline(n);
}

static char *
x_label(X509 *x)
{
	return name_label(X509_get_subject_name(x));
}

/* ASN1_TIME to seconds since the epoch, without allocating (it runs
 * several times per endpoint on the success path). */
static int64_t
x_time(const ASN1_TIME *t)
{
	struct tm tm;
	int64_t y, era, days;
	unsigned yoe, doy, doe, m;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
		return 0;
	y = (int64_t)tm.tm_year + 1900;
	m = (unsigned)tm.tm_mon + 1;
	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 +
	    (unsigned)tm.tm_mday - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = era * 146097 + (int64_t)doe - 719468;
	return days * 86400 + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

static bool
x_self_signed(X509 *x)
{
	return X509_self_signed(x, 1) == 1;
}

/* Names and key identifiers only (EXFLAG_SS), no signature check: for
 * the success path, where the verifier has already checked signatures. */
static bool
x_looks_self_signed(X509 *x)
{
	return (X509_get_extension_flags(x) & EXFLAG_SS) != 0;
}

/* Same subject and same key: the same CA for path building, whatever its
 * validity dates or serial (a re-issued root, RFC 5280 6.1). */
static bool
x_same_ca(X509 *a, X509 *b)
{
	return X509_NAME_cmp(
	           X509_get_subject_name(a), X509_get_subject_name(b)) == 0 &&
	    EVP_PKEY_eq(X509_get0_pubkey(a), X509_get0_pubkey(b)) == 1;
}

/* The reference roots: the file given, else the embedded set, parsed the
 * first time a diagnosis needs it (reference.c caches it). */
static const STACK_OF(X509) * ref_roots(const struct cki_diag_env *env)
{
	return env->ref != NULL ? env->ref : cki_reference_certs();
}

static X509 *
list_find_ca(const STACK_OF(X509) * l, X509 *x)
{
	for (int i = 0; i < sk_X509_num(l); i++)
		if (x_same_ca(sk_X509_value(l, i), x))
			return sk_X509_value(l, i);
	return NULL;
}

/* Is this very certificate (not only its CA) in l? */
static bool
list_has(const STACK_OF(X509) * l, X509 *x)
{
	for (int i = 0; i < sk_X509_num(l); i++)
		if (X509_cmp(sk_X509_value(l, i), x) == 0)
			return true;
	return false;
}

/* The issuer of x in l, preferring one valid at `now`. */
static X509 *
list_find_issuer(const STACK_OF(X509) * l, X509 *x, int64_t now)
{
	X509 *any = NULL;

	for (int i = 0; i < sk_X509_num(l); i++) {
		X509 *c = sk_X509_value(l, i);

		if (c == x || !cki_x509_issued_by(x, c))
			continue;
		if (x_time(X509_get0_notBefore(c)) <= now &&
		    now <= x_time(X509_get0_notAfter(c)))
			return c;
		if (any == NULL)
			any = c;
	}
	return any;
}

static json_t *
cert_ref(X509 *x)
{
	char fp[65], *subj = cki_name_oneline(X509_get_subject_name(x));
	char *label = x_label(x);
	json_t *o;

	x_fp(x, fp);
	o = json_pack("{s:s, s:s, s:s}", "name", label ? label : "", "subject",
	    subj ? subj : "", "sha256", fp);
	free(subj);
	free(label);
	return o;
}

/* ---- verification -------------------------------------------------------- */

/* An error of the device's verdict (borrowed from struct vres's run). */
struct verr {
	int err;
	int depth;
	X509 *cert;
};

#define VRES_MAX_ERRORS 24
struct vres {
	bool ok;
	struct verr e[VRES_MAX_ERRORS];
	int ne;
	STACK_OF(X509) * built; /* res.chain */
	struct cki_verify_result res;
};

static void
vres_free(struct vres *r)
{
	cki_verify_result_clear(&r->res);
	memset(r, 0, sizeof(*r));
}

/*
 * The device's view: RFC 5280 6.1 path validation of leaf, with untrusted
 * intermediates, against `store`, at env->now, for a TLS server (RFC 5280
 * 4.2.1.12 serverAuth), by the verify module (cki_verify_search: when
 * OpenSSL's first chain fails, the other paths are tried as verify does,
 * and r->res.alternate says which passed), recording every error. The name is
 * checked separately (RFC 6125), and so are weak keys and signatures
 * (diag_weak): hence no security level (CKI_VERIFY_SECURITY_LEVEL_NONE,
 * verify_int.h says why).
 */
static bool
verify_run_policy(const struct cki_diag_env *env, X509_STORE *store, X509 *leaf,
    STACK_OF(X509) * untrusted, ck_policy pol, struct vres *r)
{
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;

	memset(r, 0, sizeof(*r));
	p.policy = pol;
	p.time = env->now;
	p.purpose = CK_PURPOSE_SERVER;
	p.max_depth = CKI_VERIFY_PEER_DEPTH;
	p.security_level = CKI_VERIFY_SECURITY_LEVEL_NONE;
	if (cki_verify_search(
	        NULL, store, leaf, untrusted, &p, true, &r->res) != CK_OK)
		return false;
	for (size_t i = 0; i < r->res.nerr && r->ne < VRES_MAX_ERRORS; i++) {
		r->e[r->ne].err = r->res.err[i].err;
		r->e[r->ne].depth = r->res.err[i].depth;
		r->e[r->ne].cert = r->res.err[i].cert;
		r->ne++;
	}
	r->built = r->res.chain;
	r->ok = r->res.ok;
	return true;
}

/* The explanations' runs (other stores, other intermediates): OpenSSL's
 * answer alone. */
static bool
verify_run(const struct cki_diag_env *env, X509_STORE *store, X509 *leaf,
    STACK_OF(X509) * untrusted, struct vres *r)
{
	return verify_run_policy(
	    env, store, leaf, untrusted, CK_POLICY_COMPAT, r);
}

static const struct verr *
vfind(const struct vres *r, int err, int min_depth)
{
	for (int i = 0; i < r->ne; i++)
		if (r->e[i].err == err && r->e[i].depth >= min_depth)
			return &r->e[i];
	return NULL;
}

/*
 * The classification is the verify module's (cki_verify_code): the
 * error-20 family is every error whose code is about a missing or
 * untrusted issuer. An anchor the store explicitly rejects (aux trust) is
 * not: it is a chain_invalid of its own, not a missing root.
 */
static bool
is_untrusted_err(int e)
{
	const char *k = cki_verify_code(e);

	if (e == X509_V_ERR_CERT_REJECTED)
		return false;
	return strcmp(k, "incomplete_chain") == 0 ||
	    strcmp(k, "untrusted_root") == 0 ||
	    strcmp(k, "self_signed_leaf") == 0;
}

static bool
is_time_err(int e)
{
	const char *k = cki_verify_code(e);

	return strcmp(k, "cert_expired") == 0 ||
	    strcmp(k, "cert_not_yet_valid") == 0;
}

/* Weak keys and digests are diag_weak's (OpenSSL reports them only at a
 * security level, which the doctor does not set). */
static bool
is_weak_err(int e)
{
	const char *k = cki_verify_code(e);

	return strcmp(k, "weak_key") == 0 || strcmp(k, "weak_signature") == 0;
}

static const struct verr *
vfind_untrusted(const struct vres *r)
{
	for (int i = 0; i < r->ne; i++)
		if (is_untrusted_err(r->e[i].err))
			return &r->e[i];
	return NULL;
}

/* A store with the device's certificates plus `extra` (may be NULL). */
static X509_STORE *
store_with(const struct cki_diag_env *env, STACK_OF(X509) * extra)
{
	X509_STORE *s = X509_STORE_new();

	if (s == NULL)
		return NULL;
	for (int i = 0; i < sk_X509_num(env->trust_certs); i++)
		X509_STORE_add_cert(s, sk_X509_value(env->trust_certs, i));
	for (int i = 0; i < sk_X509_num(extra); i++)
		X509_STORE_add_cert(s, sk_X509_value(extra, i));
	ERR_clear_error(); /* duplicates are not errors */
	return s;
}

/* ---- the diagnosis list -------------------------------------------------- */

struct dx {
	const char *code;
	const char *severity;
	int rank;
	char summary[600];
	json_t *evidence;
	json_t *remedies;
	json_t *commands;
};

#define DX_MAX 24
struct dxl {
	struct dx v[DX_MAX];
	size_t n;
	bool nomem;
};

enum {
	R_NET = 0,
	R_INTERCEPT = 10,
	R_FALLBACK = 20,
	R_CLOCK = 30,
	R_INCOMPLETE = 40,
	R_MISSING = 41,
	R_EXPROOT = 42,
	R_UNTRUSTED = 43,
	R_SELFSIGNED = 44,
	R_REVOKED = 45,
	R_TIME = 50,
	R_NAME = 60,
	R_WEAK = 70,
	R_INVALID = 80,
	R_CLIENT = 90,
	R_WARN = 200,
	R_INFO = 300,
};

/*
 * The severity is the code table's (codes.c), never the caller's: dx_add
 * gives the table's, dx_add_lowered the warning form of a code the table
 * marks lowerable (clock_skew, missing_root, tls_interception).
 */
static const char *
dx_severity(const char *code, bool lowered)
{
	const struct cki_code *k = cki_code_find(CKI_REPORT_DOCTOR, code);

	assert(k != NULL && (!lowered || k->lowerable));
	if (k == NULL)
		return "error";
	if (lowered && k->lowerable)
		return "warning";
	return cki_severity_name(k->severity);
}

static struct dx *
dx_vadd(struct dxl *l, const char *code, bool lowered, int rank,
    const char *fmt, va_list ap)
{
	static struct dx sink;
	struct dx *d;

	if (l->n == DX_MAX) {
		/* Never more than DX_MAX; extra findings go to a sink whose
		 * JSON is dropped. */
		json_decref(sink.evidence);
		json_decref(sink.remedies);
		json_decref(sink.commands);
		memset(&sink, 0, sizeof(sink));
		d = &sink;
	} else {
		d = &l->v[l->n++];
	}
	memset(d, 0, sizeof(*d));
	d->code = code;
	d->severity = dx_severity(code, lowered);
	d->rank = rank;
	vsnprintf(d->summary, sizeof(d->summary), fmt, ap);
	d->evidence = json_object();
	d->remedies = json_array();
	d->commands = json_array();
	if (d->evidence == NULL || d->remedies == NULL || d->commands == NULL)
		l->nomem = true;
	return d;
}

static struct dx *dx_add(struct dxl *l, const char *code, int rank,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static struct dx *dx_add_lowered(struct dxl *l, const char *code, int rank,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static struct dx *
dx_add(struct dxl *l, const char *code, int rank, const char *fmt, ...)
{
	struct dx *d;
	va_list ap;

	va_start(ap, fmt);
	d = dx_vadd(l, code, false, rank, fmt, ap);
	va_end(ap);
	return d;
}

static struct dx *
dx_add_lowered(struct dxl *l, const char *code, int rank, const char *fmt, ...)
{
	struct dx *d;
	va_list ap;

	va_start(ap, fmt);
	d = dx_vadd(l, code, true, rank, fmt, ap);
	va_end(ap);
	return d;
}

static void rem(struct dx *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
rem(struct dx *d, const char *fmt, ...)
{
	char buf[800];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(d->remedies, json_string(buf));
}

/* A remedy that certkit carries out: the command is also listed alone. */
static void remcmd(struct dx *d, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
remcmd(struct dx *d, const char *what, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	json_array_append_new(d->commands, json_string(buf));
	rem(d, "%s: %s", what, buf);
}

static void
ev_str(struct dx *d, const char *k, const char *v)
{
	if (v != NULL)
		json_object_set_new(d->evidence, k, cki_json_str(v));
}

static void
ev_int(struct dx *d, const char *k, long long v)
{
	json_object_set_new(d->evidence, k, json_integer(v));
}

static void
ev_cert(struct dx *d, const char *k, X509 *x)
{
	if (x != NULL)
		json_object_set_new(d->evidence, k, cert_ref(x));
}

static void
ev_time(struct dx *d, const char *k, int64_t t)
{
	char buf[32];

	cki_fmt_time(t, buf);
	ev_str(d, k, buf);
}

static void
dxl_free(struct dxl *l)
{
	for (size_t i = 0; i < l->n; i++) {
		json_decref(l->v[i].evidence);
		json_decref(l->v[i].remedies);
		json_decref(l->v[i].commands);
	}
	l->n = 0;
}

static bool
dxl_has(const struct dxl *l, const char *code)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].code, code) == 0)
			return true;
	return false;
}

static void
dxl_drop(struct dxl *l, const char *code)
{
	size_t w = 0;

	for (size_t i = 0; i < l->n; i++) {
		if (strcmp(l->v[i].code, code) == 0) {
			json_decref(l->v[i].evidence);
			json_decref(l->v[i].remedies);
			json_decref(l->v[i].commands);
			continue;
		}
		l->v[w++] = l->v[i];
	}
	l->n = w;
}

static int
sev_order(const char *s)
{
	return strcmp(s, "error") == 0 ? 0 : strcmp(s, "warning") == 0 ? 1 : 2;
}

static int
dx_cmp(const void *a, const void *b)
{
	const struct dx *x = a, *y = b;
	int sx = sev_order(x->severity), sy = sev_order(y->severity);

	/* "ok" leads when nothing failed; warnings follow it. */
	if (strcmp(x->code, "ok") == 0 || strcmp(y->code, "ok") == 0)
		return strcmp(x->code, "ok") == 0 ? -1 : 1;

	if (sx != sy)
		return sx - sy;
	return x->rank - y->rank;
}

/* ---- shared context of one diagnosis ------------------------------------ */

struct dctx {
	const struct cki_diag_env *env;
	const struct cki_endpoint *ep;
	struct cki_obs *obs;
	struct cki_need *need;
	struct dxl *l;
	char hp[CKI_DOC_MAX_HOST + 16]; /* "host:port" for commands */
	bool is_public;
};

static const char *
hs_stage_word(int st)
{
	return st >= 0 && st < CKI_ST_COUNT ? cki_stage_names[st] : "?";
}

/* Printable text of the first bytes a non-TLS peer sent. */
static void
first_text(const struct cki_hs *h, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < h->nfirst && n + 1 < size; i++) {
		unsigned char c = h->first[i];

		if (c == '\r' || c == '\n') {
			if (n > 0)
				break;
			continue;
		}
		out[n++] = isprint(c) ? (char)c : '.';
	}
	out[n] = '\0';
}

static void
first_hex(const struct cki_hs *h, char *out, size_t size)
{
	size_t n = h->nfirst < 16 ? h->nfirst : 16;

	if (size < 2 * n + 1)
		n = (size - 1) / 2;
	cki_hex(h->first, n, out);
}

/* RFC 8446 5.1: a record starts with a content type 20..24 and, in every
 * version, legacy_record_version major 3. */
static bool
looks_tls(const struct cki_hs *h)
{
	if (h->nfirst == 0)
		return true;
	if (h->first[0] < 20 || h->first[0] > 24)
		return false;
	return h->nfirst < 2 || h->first[1] == 3;
}

/* ---- DNS, TCP, proxy ----------------------------------------------------- */

static bool
sinkhole_addr(const char *a)
{
	return strcmp(a, "0.0.0.0") == 0 || strncmp(a, "127.", 4) == 0 ||
	    strcmp(a, "::") == 0 || strcmp(a, "::1") == 0;
}

static void
dns_evidence(struct dctx *c, struct dx *d)
{
	json_t *a = json_array();

	ev_str(d, "name", c->obs->dns_name);
	ev_str(d, "server", c->obs->dns_server);
	for (size_t i = 0; i < c->obs->ndns; i++)
		json_array_append_new(a, json_string(c->obs->dns_answers[i]));
	json_object_set_new(d->evidence, "answers", a);
}

static const char *
rcode_name(int rc)
{
	/* evdns's DNS_ERR_* values: RFC 1035 4.1.1 RCODEs, then its own. */
	switch (rc) {
	case 0: return "NOERROR";
	case 1: return "FORMERR";
	case 2: return "SERVFAIL";
	case 3: return "NXDOMAIN";
	case 4: return "NOTIMP";
	case 5: return "REFUSED";
	case 65: return "TRUNCATED";
	case 67: return "TIMEOUT";
	case 70: return "NODATA";
	}
	return "ERROR";
}

static bool
diag_dns(struct dctx *c)
{
	struct cki_obs *o = c->obs;
	struct dx *d;
	bool all_sink;

	if (!o->dns_used)
		return false;
	if (o->dns_for_proxy && (o->dns_timeout || o->ndns == 0)) {
		d = dx_add(c->l, "proxy_failure", R_NET,
		    "the proxy's name %s cannot be resolved (%s)", o->dns_name,
		    o->dns_timeout ? "no DNS answer"
		                   : rcode_name(o->dns_rcode));
		dns_evidence(c, d);
		ev_str(d, "proxy", o->proxy ? o->proxy->display : NULL);
		rem(d,
		    "Check the proxy setting (--proxy, HTTPS_PROXY): the "
		    "proxy host name must resolve on this network");
		rem(d,
		    "Give the proxy as an IP address to take DNS out of the "
		    "path");
		return true;
	}
	if (o->dns_timeout) {
		if (o->dns_rcode == CKI_DNS_UNREACHABLE)
			d = dx_add(c->l, "dns_timeout", R_NET,
			    "the DNS server %s does not answer: its port is "
			    "closed (ICMP port unreachable)",
			    o->dns_server);
		else
			d = dx_add(c->l, "dns_timeout", R_NET,
			    "no answer from the DNS server for %s within %d ms",
			    o->dns_name, c->env->timeout_ms);
		dns_evidence(c, d);
		rem(d,
		    "Check that the device has a working DNS server "
		    "(/etc/resolv.conf or its network settings) and that UDP "
		    "and TCP port 53 to it are open");
		rem(d,
		    "Compare with another resolver: certkit doctor --dns "
		    "ADDRESS %s",
		    c->hp);
		return true;
	}
	if (o->ndns == 0) {
		const char *rc = rcode_name(o->dns_rcode);

		d = dx_add(c->l, "dns_failure", R_NET,
		    strcmp(rc, "NXDOMAIN") == 0
		        ? "the name %s does not exist in DNS (NXDOMAIN)"
		        : strcmp(rc, "SERVFAIL") == 0
		        ? "the DNS server failed to resolve %s (SERVFAIL)"
		        : "DNS has no address for %s (%s)",
		    o->dns_name, rc);
		dns_evidence(c, d);
		ev_str(d, "rcode", rc);
		rem(d, "Check the spelling of %s in the device's settings",
		    o->dns_name);
		if (strcmp(rc, "SERVFAIL") == 0)
			rem(d,
			    "SERVFAIL is the resolver's own failure (often "
			    "DNSSEC or an unreachable upstream): try another "
			    "DNS server");
		else
			rem(d,
			    "If the name is right, the network's DNS does "
			    "not know it: a split-horizon or filtering DNS "
			    "hides it; ask the network admin or use another "
			    "DNS server");
		return true;
	}
	all_sink = true;
	for (size_t i = 0; i < o->ndns; i++)
		if (!sinkhole_addr(o->dns_answers[i]))
			all_sink = false;
	if (all_sink && c->is_public && !o->dns_for_proxy) {
		d = dx_add(c->l, "dns_sinkhole", R_NET,
		    "DNS answered %s for the public name %s: the name is "
		    "blocked by a filtering DNS (sinkhole)",
		    o->dns_answers[0], o->dns_name);
		dns_evidence(c, d);
		rem(d,
		    "Ask the network admin to allow %s in the DNS filter "
		    "(Pi-hole, DNS firewall, Umbrella, content filter)",
		    o->dns_name);
		rem(d,
		    "Or point the device at a DNS server that does not "
		    "filter this name");
		return true;
	}
	return false;
}

static void
errno_evidence(struct dx *d, int e)
{
	if (e != 0) {
		ev_str(d, "errno", strerror(e));
		ev_int(d, "errno_value", e);
	}
}

static bool
diag_tcp(struct dctx *c, const struct cki_hs *h)
{
	struct cki_obs *o = c->obs;
	struct dx *d;

	if (h->failed_stage != CKI_ST_TCP)
		return false;
	if (o->via_proxy) {
		d = dx_add(c->l, "proxy_failure", R_NET,
		    "cannot reach the proxy %s: %s", o->address,
		    h->timed_out ? "no answer (timeout)"
		                 : strerror(h->err_no ? h->err_no : EIO));
		ev_str(d, "proxy", o->proxy ? o->proxy->display : NULL);
		ev_str(d, "address", o->address);
		errno_evidence(d, h->err_no);
		rem(d,
		    "Check the proxy address and port (--proxy, "
		    "HTTPS_PROXY, the profile's proxy =)");
		rem(d,
		    "Check that the proxy service is running and that the "
		    "device may reach it");
		return true;
	}
	if (h->timed_out) {
		d = dx_add(c->l, "tcp_timeout", R_NET,
		    "no answer from %s within %d ms: the packets are silently "
		    "dropped",
		    o->address, c->env->timeout_ms);
		ev_str(d, "address", o->address);
		ev_int(d, "timeout_ms", c->env->timeout_ms);
		rem(d,
		    "A firewall drops the connection: allow outgoing TCP to "
		    "%s (port %u) on the site firewall",
		    o->address, c->ep->port);
		rem(d,
		    "If the site requires a web proxy, give it with --proxy "
		    "or HTTPS_PROXY");
		return true;
	}
	if (h->err_no == ECONNREFUSED) {
		d = dx_add(c->l, "tcp_refused", R_NET,
		    "%s refused the connection: nothing listens on port %u "
		    "there, or a firewall rejects it",
		    o->address, c->ep->port);
		ev_str(d, "address", o->address);
		errno_evidence(d, h->err_no);
		rem(d, "Check that the service runs and listens on port %u",
		    c->ep->port);
		rem(d, "Check the port number in the device's settings");
		rem(d,
		    "A firewall may be rejecting the connection: allow TCP "
		    "to %s",
		    o->address);
		return true;
	}
	if (h->err_no == ECONNRESET) {
		d = dx_add(c->l, "tcp_reset", R_NET,
		    "%s reset the connection while it was being set up",
		    o->address);
		ev_str(d, "address", o->address);
		errno_evidence(d, h->err_no);
		rem(d,
		    "A firewall rejects the connection with a reset: allow "
		    "TCP to %s",
		    o->address);
		return true;
	}
	d = dx_add(c->l, "tcp_refused", R_NET, "cannot connect to %s: %s",
	    o->address, strerror(h->err_no ? h->err_no : EIO));
	ev_str(d, "address", o->address);
	errno_evidence(d, h->err_no);
	rem(d,
	    "Check the network route from the device to %s (gateway, "
	    "VLAN, firewall)",
	    o->address);
	return true;
}

static bool
diag_proxy(struct dctx *c, const struct cki_hs *h)
{
	struct cki_obs *o = c->obs;
	struct dx *d;

	if (h->failed_stage != CKI_ST_PROXY)
		return false;
	if (o->proxy_status == 407) {
		bool sent = o->proxy != NULL && o->proxy->auth != NULL;

		d = dx_add(c->l, "proxy_auth_required", R_NET,
		    sent ? "the proxy %s rejected the credentials (407 Proxy "
		           "Authentication Required)"
		         : "the proxy %s requires a "
		           "user name and password (407 Proxy Authentication "
		           "Required)",
		    o->proxy ? o->proxy->display : o->address);
		ev_str(d, "proxy", o->proxy ? o->proxy->display : NULL);
		ev_int(d, "status", 407);
		ev_str(d, "status_line", o->proxy_line);
		ev_str(d, "proxy_authenticate",
		    o->proxy_authn[0] ? o->proxy_authn : NULL);
		json_object_set_new(
		    d->evidence, "credentials_sent", json_boolean(sent));
		if (o->proxy_authn[0] != '\0' &&
		    strncasecmp(o->proxy_authn, "Basic", 5) != 0)
			rem(d,
			    "The proxy asks for '%s', which certkit and "
			    "most devices cannot do: ask for an exception "
			    "(no authentication) for this device or these "
			    "destinations",
			    o->proxy_authn);
		rem(d,
		    sent ? "Correct the user name or password in the proxy "
		           "URL: http://USER:PASSWORD@%s:%u"
		         : "Add the credentials "
		           "to the proxy URL: http://USER:PASSWORD@%s:%u",
		    o->proxy ? o->proxy->host : "PROXY",
		    o->proxy ? o->proxy->port : 0);
		rem(d,
		    "Or ask the proxy admin to let this device through "
		    "without authentication");
		return true;
	}
	d = dx_add(c->l, "proxy_failure", R_NET,
	    o->proxy_garbage ? "%s does not answer like an HTTP proxy"
	        : h->timed_out
	        ? "the proxy %s did not answer the CONNECT request"
	        : o->proxy_status != 0
	        ? "the proxy %s refused to connect to the "
	          "endpoint"
	        : "the proxy %s closed the connection",
	    o->proxy ? o->proxy->display : o->address);
	ev_str(d, "proxy", o->proxy ? o->proxy->display : NULL);
	if (o->proxy_status != 0) {
		ev_int(d, "status", o->proxy_status);
		ev_str(d, "status_line", o->proxy_line);
	}
	errno_evidence(d, h->err_no);
	if (o->proxy_status == 403)
		rem(d,
		    "The proxy's policy forbids %s: ask the proxy admin to "
		    "allow CONNECT to %s",
		    c->hp, c->hp);
	else if (o->proxy_status == 502 || o->proxy_status == 504 ||
	    o->proxy_status == 503)
		rem(d,
		    "The proxy itself cannot reach %s (HTTP %d): the "
		    "problem is beyond the proxy (its DNS, its firewall, or "
		    "the service is down)",
		    c->hp, o->proxy_status);
	else if (o->proxy_garbage)
		rem(d,
		    "Check the proxy port: it is not an HTTP proxy (a SOCKS "
		    "proxy or another service?)");
	else
		rem(d, "Check the proxy's logs and its policy for %s", c->hp);
	rem(d,
	    "Test without the proxy if the network allows it: "
	    "certkit doctor --proxy '' %s",
	    c->hp);
	return true;
}

/* ---- TLS handshake failures --------------------------------------------- */

static bool
client_alert(int a)
{
	return a == 42 || a == 43 || a == 44 || a == 45 || a == 46 || a == 48 ||
	    a == 49 || a == 116;
}

static struct dx *
diag_client_cert_required(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d = dx_add(c->l, "client_cert_required", R_CLIENT,
	    "%s requires a client certificate (mutual TLS) and none "
	    "was sent",
	    c->hp);

	if (h->alert_in >= 0) {
		ev_str(d, "alert", cki_doc_alert_name(h->alert_in));
		ev_int(d, "alert_value", h->alert_in);
	}
	json_object_set_new(d->evidence, "certificate_requested",
	    json_boolean(h->cert_request));
	rem(d,
	    "Give the device's identity: certkit doctor --cert "
	    "CERT --key KEY %s (or client_cert/client_key in the profile)",
	    c->hp);
	rem(d,
	    "Make sure the device has its client certificate installed "
	    "and selected for this service (the 'Requesting Pairing' or "
	    "enrolment step)");
	if (c->is_public)
		rem(d,
		    "Mutual TLS cannot pass through SSL inspection: if "
		    "a firewall inspects this traffic, exclude %s from "
		    "inspection",
		    c->ep->host);
	return d;
}

/* Remedies for the refusals a certkit server names in its problem type
 * (RFC 9457; docs/json.md "Problem types"). False for another type. */
static bool
problem_remedies(struct dctx *c, struct dx *d, const char *type)
{
	if (strcmp(type, "issuer_not_trusted") == 0 ||
	    strcmp(type, "certificate_revoked") == 0) {
		rem(d,
		    strcmp(type, "certificate_revoked") == 0
		        ? "The certificate was revoked: enrol the device "
		          "again to get a new one"
		        : "The server does not trust the CA that issued the "
		          "device's certificate: add it to the server's "
		          "client_ca, or enrol the device with that CA");
	} else if (strcmp(type, "client_rejected") == 0 ||
	    strcmp(type, "client_suspended") == 0 ||
	    strcmp(type, "client_revoked") == 0) {
		rem(d,
		    "An admin of %s decided this: ask them (on the "
		    "server: certkit clients show with the device's key, "
		    "certkit clients audit for who and why)",
		    c->hp);
		if (strcmp(type, "client_suspended") == 0)
			rem(d,
			    "If the suspension is over, the admin resumes "
			    "the device: certkit clients resume ID");
	} else if (strcmp(type, "revocation_unavailable") == 0) {
		rem(d,
		    "The server cannot learn whether the certificate is "
		    "revoked (its OCSP responder or CRL is out of reach, "
		    "and it fails hard): check the server's access to its "
		    "OCSP responder");
	} else {
		return false;
	}
	return true;
}

static struct dx *diag_client_cert_rejected(struct dctx *c,
    const struct cki_hs *h, const char *reason, const char *why);

/* What a server said in the body of a refusal or a pending answer: RFC
 * 9457 problem details, or certkit serve's 202 body {"state": "pending",
 * "spki_sha256": ..., "retry_after": N}. Peer text, escaped. */
struct answer {
	char type[64];    /* "type": certkit's are bare codes */
	char detail[256]; /* "detail", else "title" */
	char state[32];
	char spki[72];
	long long retry_after; /* the body's, else the header's; -1: none */
	bool problem;          /* application/problem+json with a type */
};

static void
answer_str(json_t *o, const char *k, char *out, size_t size)
{
	const char *v = json_string_value(json_object_get(o, k));

	if (v != NULL && out[0] == '\0')
		(void)cki_esc(out, size, v, strlen(v));
}

static bool
read_answer(const struct cki_hs *h, struct answer *a)
{
	json_t *j, *ra;
	const char *t = h->http_retry_after;

	memset(a, 0, sizeof(*a));
	a->retry_after = -1;
	if (h->http_body == NULL || h->http_body_len == 0)
		return false;
	j = json_loadb(h->http_body, h->http_body_len, 0, NULL);
	if (!json_is_object(j)) {
		json_decref(j);
		return false;
	}
	answer_str(j, "type", a->type, sizeof(a->type));
	answer_str(j, "detail", a->detail, sizeof(a->detail));
	answer_str(j, "title", a->detail, sizeof(a->detail));
	answer_str(j, "state", a->state, sizeof(a->state));
	answer_str(j, "spki_sha256", a->spki, sizeof(a->spki));
	ra = json_object_get(j, "retry_after");
	if (json_is_integer(ra) && json_integer_value(ra) >= 0)
		a->retry_after = (long long)json_integer_value(ra);
	/* RFC 9110 10.2.3: delay-seconds (an HTTP-date is not used here). */
	if (a->retry_after < 0 && t[0] != '\0' && strlen(t) < 10 &&
	    strspn(t, "0123456789") == strlen(t))
		a->retry_after = strtoll(t, NULL, 10);
	a->problem = a->type[0] != '\0' &&
	    strncasecmp(h->http_ctype, "application/problem+json", 24) == 0;
	json_decref(j);
	return true;
}

/* A pairing request the server holds for an admin (certkit serve's 202,
 * ZPE's "Requesting Pairing"): the device is offline until approved. */
static void
diag_pending(struct dctx *c, const struct cki_hs *h, const struct answer *a)
{
	struct dx *d = dx_add(c->l, "client_pending_approval", R_CLIENT,
	    "%s holds this device's pairing request: an admin must approve "
	    "it before the device can connect",
	    c->hp);

	ev_int(d, "http_status", h->http_status);
	ev_str(d, "spki_sha256", a->spki[0] ? a->spki : NULL);
	if (a->retry_after >= 0)
		ev_int(d, "retry_after", a->retry_after);
	rem(d,
	    "On the server, approve the device: certkit clients approve ID "
	    "(certkit clients show %.16s gives its ID); first compare the "
	    "key fingerprint %s with the device's",
	    a->spki[0] ? a->spki : "SPKI-PREFIX",
	    a->spki[0] ? a->spki : "(spki_sha256)");
	rem(d,
	    "The device retries by itself%s: nothing to change on the "
	    "device",
	    a->retry_after >= 0 ? " (Retry-After)" : "");
}

/* The server said why in the HTTP body (RFC 9457 problem details, or the
 * pending answer). False when it did not. */
static bool
diag_server_answer(struct dctx *c, const struct cki_hs *h)
{
	struct answer a;
	struct dx *d;

	if (!read_answer(h, &a))
		return false;
	if (h->http_status == 202 && strcmp(a.state, "pending") == 0) {
		diag_pending(c, h, &a);
		return true;
	}
	if ((h->http_status != 401 && h->http_status != 403) || !a.problem)
		return false;
	if (!h->cert_sent || strcmp(a.type, "client_cert_required") == 0) {
		d = diag_client_cert_required(c, h);
		ev_int(d, "http_status", h->http_status);
	} else {
		d = diag_client_cert_rejected(
		    c, h, a.type, a.detail[0] ? a.detail : a.type);
	}
	ev_str(d, "problem_type", a.type);
	ev_str(d, "detail", a.detail[0] ? a.detail : NULL);
	return true;
}

static struct dx *
diag_client_cert_rejected(
    struct dctx *c, const struct cki_hs *h, const char *reason, const char *why)
{
	struct dx *d = dx_add(c->l, "client_cert_rejected", R_CLIENT,
	    "%s refused the device's client certificate: %s", c->hp, why);

	ev_str(d, "reason", reason);
	if (h->alert_in >= 0) {
		ev_str(d, "alert", cki_doc_alert_name(h->alert_in));
		ev_int(d, "alert_value", h->alert_in);
	}
	if (h->http_status != 0) {
		ev_int(d, "http_status", h->http_status);
		ev_str(d, "http_reason", h->http_reason);
	}
	if (strcmp(reason, "unknown_ca") == 0) {
		rem(d,
		    "The server does not trust the CA that issued the "
		    "device's certificate: import that CA (root and "
		    "intermediates) into the server's trusted client CAs");
		rem(d,
		    "Or enrol the device again to get a certificate from "
		    "the CA the server trusts");
		rem(d,
		    "If SSL inspection sits in the path, mutual TLS cannot "
		    "work through it: exclude %s from inspection",
		    c->ep->host);
	} else if (strcmp(reason, "expired") == 0) {
		rem(d,
		    "Renew the device's certificate: certkit identity "
		    "renew (or re-enrol the device)");
		rem(d,
		    "Check the device's clock: a clock far ahead makes a "
		    "valid certificate look expired to nobody but itself; a "
		    "server sees the real dates");
	} else if (strcmp(reason, "revoked") == 0) {
		rem(d,
		    "The certificate was revoked: enrol the device again "
		    "to get a new one");
	} else if (strcmp(reason, "not_authorised") == 0) {
		rem(d,
		    "The TLS handshake succeeded, but the service does not "
		    "accept this device: authorise or pair it in the "
		    "service's console (e.g. approve the pending device)");
		rem(d,
		    "Check that the certificate's subject is the one the "
		    "service expects for this device");
	} else if (!problem_remedies(c, d, reason)) {
		rem(d,
		    "Check the server's log for why the certificate was "
		    "refused, and that it is the device's current identity");
	}
	return d;
}

/* The peer took the connection and then said nothing. */
static void
diag_handshake_timeout(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d;

	d = dx_add(c->l, "handshake_timeout", R_NET,
	    "%s accepted the TCP connection, then sent nothing for "
	    "%d ms: a black hole or a stalled middlebox",
	    c->obs->address, c->env->timeout_ms);
	ev_str(d, "address", c->obs->address);
	ev_int(d, "bytes_received", (long long)h->bytes_in);
	ev_int(d, "timeout_ms", c->env->timeout_ms);
	rem(d,
	    "A firewall or IPS in the path accepts connections and "
	    "then stalls TLS: check its logs for %s",
	    c->ep->host);
	rem(d,
	    "Check that the port really serves TLS (some services "
	    "wait for the client to speak another protocol)");
}

/* Another protocol answered. */
static void
diag_not_tls(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d;
	char text[80], hex[40];

	first_text(h, text, sizeof(text));
	first_hex(h, hex, sizeof(hex));
	d = dx_add(c->l, "not_tls", R_NET,
	    "%s does not speak TLS: it answered \"%s\"", c->obs->address, text);
	ev_str(d, "first_bytes", text);
	ev_str(d, "first_bytes_hex", hex);
	if (strncmp(text, "HTTP/", 5) == 0 || text[0] == '<') {
		rem(d,
		    "The port serves plain HTTP: use the HTTPS port "
		    "of the service, or enable HTTPS on it");
		rem(d,
		    "A captive portal or a transparent proxy answers "
		    "with HTTP too: open a browser on this network "
		    "and complete any login page");
	} else if (strncmp(text, "SSH-", 4) == 0) {
		rem(d, "The port serves SSH: check the port number");
	} else {
		rem(d,
		    "Check the port number: another protocol "
		    "answers there");
	}
}

/* --https if-available: the device serves plain HTTP on the port, which
 * its configuration allows. A warning: what crosses it is in clear. */
static void
diag_plain_http(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d;
	char text[80];

	first_text(h, text, sizeof(text));
	d = dx_add(c->l, "plain_http", R_WARN,
	    "%s answers plain HTTP, not TLS: allowed by --https "
	    "if-available, but credentials and video cross the network "
	    "in clear",
	    c->obs->address);
	ev_str(d, "first_bytes", text);
	ev_str(d, "https", "if-available");
	rem(d,
	    "Enable HTTPS on the device (and then require it) so that "
	    "logins and streams are encrypted");
}

static bool
plain_http(const struct cki_hs *h)
{
	char text[80];

	first_text(h, text, sizeof(text));
	return strncmp(text, "HTTP/", 5) == 0 || text[0] == '<';
}

/* The server refused the client certificate the device sent, with an
 * alert. */
static void
diag_client_cert_alert(struct dctx *c, const struct cki_hs *h)
{
	int a = h->alert_in;
	const char *reason = a == 48 ? "unknown_ca"
	    : a == 45                ? "expired"
	    : a == 44                ? "revoked"
	    : a == 49                ? "access_denied"
	                             : "bad_certificate";

	diag_client_cert_rejected(c, h, reason,
	    a == 48       ? "its issuer is not a CA the server trusts "
	                    "(unknown_ca)"
	        : a == 45 ? "the server says it has expired"
	        : a == 44 ? "the server says it is revoked"
	                  : cki_doc_alert_name(a));
}

/* The server refused the TLS versions offered. */
static bool
version_refused(const struct cki_hs *h)
{
	int a = h->alert_in;

	return a == 70 || h->ssl_reason_code == SSL_R_UNSUPPORTED_PROTOCOL ||
	    h->ssl_reason_code == SSL_R_NO_PROTOCOLS_AVAILABLE ||
	    h->ssl_reason_code == SSL_R_VERSION_TOO_LOW ||
	    h->ssl_reason_code == SSL_R_WRONG_SSL_VERSION ||
	    h->ssl_reason_code == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION ||
	    (h->ssl_reason_code == SSL_R_WRONG_VERSION_NUMBER &&
	        h->nfirst >= 2 && h->first[1] == 3);
}

/* The server refused the cipher suites, groups or signature algorithms
 * offered. */
static bool
cipher_refused(const struct cki_hs *h)
{
	int a = h->alert_in;

	return a == 71 || (a == 40 && !h->server_hello) ||
	    h->ssl_reason_code == SSL_R_NO_CIPHERS_AVAILABLE ||
	    h->ssl_reason_code == SSL_R_NO_SHARED_CIPHER ||
	    h->ssl_reason_code == SSL_R_WRONG_CIPHER_RETURNED ||
	    h->ssl_reason_code == SSL_R_NO_SHARED_GROUPS ||
	    h->ssl_reason_code == SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM;
}

/* No shared TLS version: asks for the legacy probe first, which says
 * what the server does speak. */
static void
diag_protocol_mismatch(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d;
	int a = h->alert_in;

	if (!c->obs->legacy.attempted) {
		c->need->legacy = true;
		return;
	}
	d = dx_add(c->l, "tls_protocol_mismatch", R_NET,
	    c->obs->legacy.done ? "%s speaks only %s, which modern "
	                          "clients refuse (TLS 1.2 or 1.3 is required)"
	                        : "%s and the device share no TLS version%s",
	    c->hp, c->obs->legacy.done ? c->obs->legacy.version : "");
	if (a >= 0)
		ev_str(d, "alert", cki_doc_alert_name(a));
	if (h->ssl_reason[0])
		ev_str(d, "openssl", h->ssl_reason);
	ev_str(d, "client_offers", "TLSv1.2, TLSv1.3");
	if (c->obs->legacy.done) {
		ev_str(d, "server_version", c->obs->legacy.version);
		ev_str(d, "server_cipher", c->obs->legacy.cipher);
	}
	rem(d,
	    "Update the server's firmware or TLS settings to enable "
	    "TLS 1.2 (RFC 8996 deprecates TLS 1.0 and 1.1)");
	rem(d,
	    "If the server cannot be updated, put a TLS-terminating "
	    "reverse proxy in front of it");
}

/* No shared cipher suite: asks for the legacy probe first. */
static void
diag_cipher_mismatch(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d;
	int a = h->alert_in;

	if (!c->obs->legacy.attempted) {
		c->need->legacy = true;
		return;
	}
	d = dx_add(c->l, "tls_cipher_mismatch", R_NET,
	    c->obs->legacy.done ? "%s accepts only weak ciphers (it "
	                          "chose %s with %s)"
	                        : "%s and the device share no cipher "
	                          "suite, group or signature algorithm%s%s",
	    c->hp, c->obs->legacy.done ? c->obs->legacy.cipher : "",
	    c->obs->legacy.done ? c->obs->legacy.version : "");
	if (a >= 0)
		ev_str(d, "alert", cki_doc_alert_name(a));
	if (h->ssl_reason[0])
		ev_str(d, "openssl", h->ssl_reason);
	if (c->obs->legacy.done) {
		ev_str(d, "server_version", c->obs->legacy.version);
		ev_str(d, "server_cipher", c->obs->legacy.cipher);
	}
	rem(d,
	    "Enable modern cipher suites on the server (ECDHE with "
	    "AES-GCM or ChaCha20-Poly1305; RFC 9325 4.2)");
	rem(d,
	    "Update the server's firmware if it offers no modern "
	    "suite");
}

/* unrecognized_name: no certificate for the name sent (SNI). */
static void
diag_unrecognized_name(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d;
	int a = h->alert_in;

	d = dx_add(c->l, "hostname_mismatch", R_NAME,
	    "%s has no certificate for the name %s "
	    "(unrecognized_name)",
	    c->obs->address, c->ep->host);
	ev_str(d, "alert", cki_doc_alert_name(a));
	ev_str(d, "sni", c->ep->host);
	rem(d,
	    "Use the name the server is configured for, or add %s "
	    "to the server's virtual hosts / certificate",
	    c->ep->host);
}

/* The peer reset or closed the connection without an alert.
 * tcp_reset: the peer reset before its TCP even acknowledged
 * our ClientHello (TCP_INFO bytes_acked counts the SYN as 1;
 * an accept-and-abort service, a firewall's
 * reject); tls_reset: it took the ClientHello, then reset or
 * closed (an SNI filter, a TLS stack that gives up). */
static void
diag_reset(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d;
	bool before = h->bytes_in == 0 &&
	    (!h->hello_sent || (h->hello_acked >= 0 && h->hello_acked <= 1));
	const struct cki_hs *q = &c->obs->quiet;

	if (h->cert_request && !h->cert_sent && h->bytes_in > 0) {
		diag_client_cert_required(c, h);
		return;
	}
	/* The hello was taken and nothing came back: would the peer
	 * reset a connection that says nothing? Then it resets
	 * whatever is sent (TCP level); else it reacted to the
	 * hello (TLS level). */
	if (!before && h->bytes_in == 0 && h->reset) {
		if (!q->attempted) {
			c->need->quiet = true;
			return;
		}
		before = q->reset || (q->eof && q->bytes_in == 0);
	}
	d = dx_add(c->l, before ? "tcp_reset" : "tls_reset", R_NET,
	    before ? "%s %s the connection before answering "
	             "the TLS hello"
	           : "%s %s the connection in the middle of "
	             "the TLS handshake",
	    c->obs->address, h->reset ? "reset" : "closed");
	ev_str(d, "address", c->obs->address);
	ev_str(d, "event", h->reset ? "reset" : "closed");
	errno_evidence(d, h->err_no);
	ev_int(d, "bytes_received", (long long)h->bytes_in);
	json_object_set_new(
	    d->evidence, "client_hello_sent", json_boolean(h->hello_sent));
	if (h->hello_acked >= 0)
		json_object_set_new(d->evidence, "client_hello_acknowledged",
		    json_boolean(h->hello_acked > 1));
	if (q->attempted)
		ev_str(d, "silent_connection",
		    q->reset     ? "reset"
		        : q->eof ? "closed"
		        : q->timed_out
		        ? "left open (the peer waits for the hello)"
		        : "could not connect");
	if (c->obs->via_proxy)
		rem(d,
		    "The proxy %s drops the tunnel: check its policy "
		    "for %s",
		    c->obs->proxy ? c->obs->proxy->display : "", c->ep->host);
	rem(d,
	    "A firewall or IPS that filters by name (SNI) resets "
	    "such connections: check its logs and allow %s",
	    c->ep->host);
	rem(d,
	    "Check that the service is healthy: overloaded or "
	    "crashing services accept and drop connections");
}

/* Any other handshake failure: the alert or OpenSSL's reason. */
static void
diag_handshake_failed(struct dctx *c, const struct cki_hs *h)
{
	struct dx *d;
	int a = h->alert_in;

	d = dx_add(c->l, "tls_handshake_failed", R_NET,
	    "the TLS handshake with %s failed: %s", c->hp,
	    a >= 0                 ? cki_doc_alert_name(a)
	        : h->ssl_reason[0] ? h->ssl_reason
	                           : "unknown reason");
	if (a >= 0) {
		ev_str(d, "alert", cki_doc_alert_name(a));
		ev_int(d, "alert_value", a);
	}
	if (h->ssl_reason[0])
		ev_str(d, "openssl", h->ssl_reason);
	if (h->alert_out >= 0)
		ev_str(d, "alert_sent", cki_doc_alert_name(h->alert_out));
	rem(d,
	    "Check the server's TLS log for this connection: the alert "
	    "says what it refused");
}

static bool
diag_tls(struct dctx *c, struct cki_hs *h)
{
	int a = h->alert_in;

	if (h->failed_stage != CKI_ST_TLS)
		return false;
	if (h->timed_out)
		diag_handshake_timeout(c, h);
	else if (!looks_tls(h) && c->env->https_optional && plain_http(h))
		diag_plain_http(c, h);
	else if (!looks_tls(h))
		diag_not_tls(c, h);
	else if (a == 116 ||
	    (h->cert_request && !h->cert_sent &&
	        (a == 40 || a == 42 || a == 46 || a == 49))) {
		if (h->cert_sent)
			diag_client_cert_rejected(c, h, "not_sent",
			    "the server still asks for a certificate");
		else
			diag_client_cert_required(c, h);
	} else if (h->cert_sent && client_alert(a))
		diag_client_cert_alert(c, h);
	else if (version_refused(h))
		diag_protocol_mismatch(c, h);
	else if (cipher_refused(h))
		diag_cipher_mismatch(c, h);
	else if (a == 112)
		diag_unrecognized_name(c, h);
	else if ((h->reset || h->eof) && a < 0)
		diag_reset(c, h);
	else
		diag_handshake_failed(c, h);
	return true;
}

/* ---- client authentication after the handshake -------------------------- */

static void
diag_client_auth(struct dctx *c, const struct cki_hs *h)
{
	int a = h->alert_in;

	if (a >= 0 && h->alert_after_hs && a != 0) {
		/* RFC 8446 4.4.2.4: a TLS 1.3 server checks the client's
		 * certificate after the handshake; its alert arrives with the
		 * first read. */
		if (a == 116 || (!h->cert_sent && client_alert(a))) {
			if (h->cert_sent)
				diag_client_cert_rejected(c, h, "not_sent",
				    "the server still asks for one");
			else
				diag_client_cert_required(c, h);
		} else if (h->cert_sent && client_alert(a)) {
			diag_client_cert_rejected(c, h,
			    a == 48       ? "unknown_ca"
			        : a == 45 ? "expired"
			        : a == 44 ? "revoked"
			        : a == 49 ? "access_denied"
			                  : "bad_certificate",
			    a == 48       ? "its issuer is not a CA the server "
			                    "trusts (unknown_ca)"
			        : a == 45 ? "the server says "
			                    "it has expired"
			        : a == 44 ? "the server says it "
			                    "is revoked"
			                  : cki_doc_alert_name(a));
		} else {
			struct dx *d =
			    dx_add(c->l, "tls_handshake_failed", R_CLIENT,
			        "%s ended the connection with "
			        "alert %s after the handshake",
			        c->hp, cki_doc_alert_name(a));

			ev_str(d, "alert", cki_doc_alert_name(a));
			rem(d, "Check the server's log for this connection");
		}
		return;
	}
	if (diag_server_answer(c, h))
		return;
	if (h->cert_sent && (h->http_status == 401 || h->http_status == 403)) {
		diag_client_cert_rejected(c, h, "not_authorised",
		    h->http_status == 401
		        ? "HTTP 401: the device is not "
		          "authorised (not paired or not approved)"
		        : "HTTP 403: "
		          "the device is not authorised (not paired or not "
		          "approved)");
		return;
	}
	if (h->cert_request && !h->cert_sent && h->app_tried &&
	    (h->reset || h->eof) && h->http_status == 0)
		diag_client_cert_required(c, h);
}

/* ---- the chain ----------------------------------------------------------- */

struct chainx {
	STACK_OF(X509) * presented; /* borrowed */
	X509 *leaf;
	struct vres v;               /* the device's verdict */
	STACK_OF(X509) * completion; /* intermediates found (borrowed refs) */
	const char *completion_src[8];
	X509 *missing_root; /* from the reference (borrowed) */
	X509 *unknown_top;  /* top with no known issuer */
	bool explained;     /* the untrusted family is explained */
};

/* Does any SPKI pin of the endpoint match a certificate in these lists? */
static bool
pins_match(
    const struct cki_endpoint *ep, STACK_OF(X509) * a, STACK_OF(X509) * b)
{
	STACK_OF(X509) * lists[2] = {a, b};

	for (int l = 0; l < 2; l++)
		for (int i = 0; i < sk_X509_num(lists[l]); i++) {
			unsigned char md[32];

			if (!x_spki_raw(sk_X509_value(lists[l], i), md))
				continue;
			for (size_t p = 0; p < ep->npins; p++)
				if (memcmp(md, ep->pins[p], 32) == 0)
					return true;
		}
	return false;
}

/* The vendor named by an O, OU or CN attribute of a name; the entries are
 * read directly (no one-line rendering on the success path). */
static const char *
name_vendor(const X509_NAME *n)
{
	for (int i = 0; i < X509_NAME_entry_count(n); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
		unsigned char *u = NULL;
		const char *v = NULL;
		int len;

		if (nid != NID_commonName && nid != NID_organizationName &&
		    nid != NID_organizationalUnitName)
			continue;
		len = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));
		if (len > 0 && memchr(u, '\0', (size_t)len) == NULL)
			v = cki_doc_inspection_vendor((char *)u);
		OPENSSL_free(u);
		if (v != NULL)
			return v;
	}
	return NULL;
}

/* The inspection vendor named by any presented certificate, and the
 * certificate that names it (the issuing CA). */
static const char *
chain_vendor(STACK_OF(X509) * chain, X509 **who)
{
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *x = sk_X509_value(chain, i);
		/* The leaf's own subject names the site, not the proxy: only
		 * its issuer counts. */
		const char *v =
		    i == 0 ? NULL : name_vendor(X509_get_subject_name(x));

		if (v == NULL)
			v = name_vendor(X509_get_issuer_name(x));
		if (v != NULL) {
			*who = i == 0 && sk_X509_num(chain) > 1
			    ? sk_X509_value(chain, 1)
			    : x;
			return v;
		}
	}
	return NULL;
}

static void
pins_evidence(struct dctx *c, struct dx *d, struct chainx *x)
{
	json_t *want = json_array(), *got = json_array();
	char hex[65];

	for (size_t p = 0; p < c->ep->npins; p++) {
		cki_hex(c->ep->pins[p], 32, hex);
		json_array_append_new(want, json_string(hex));
	}
	for (int i = 0; i < sk_X509_num(x->presented); i++) {
		x_spki(sk_X509_value(x->presented, i), hex);
		json_array_append_new(got, json_string(hex));
	}
	json_object_set_new(d->evidence, "pins_expected", want);
	json_object_set_new(d->evidence, "spki_presented", got);
}

static void
diag_interception(struct dctx *c, struct chainx *x, const char *vendor,
    X509 *who, bool pin_fail, bool chain_ok)
{
	X509 *ca = who != NULL ? who : x->unknown_top;
	char *label = ca != NULL ? x_label(ca) : NULL;
	char fp[65] = "";
	struct dx *d;

	if (ca != NULL)
		x_fp(ca, fp);
	d = dx_add(c->l, "tls_interception", R_INTERCEPT,
	    "the connection to %s is intercepted: %s re-signs it%s%s%s", c->hp,
	    label ? label : "an unknown CA", vendor ? " (" : "",
	    vendor ? vendor : "",
	    vendor ? " SSL inspection)"
	        : pin_fail
	        ? " (the configured pins do not match)"
	        : " (a CA in no public reference, on a public service)");
	ev_cert(d, "inspecting_ca", ca);
	ev_str(d, "vendor", vendor);
	ev_str(d, "expect",
	    c->is_public                              ? "public"
	        : c->ep->expect == CKI_EXPECT_PRIVATE ? "private"
	                                              : "unknown");
	json_object_set_new(
	    d->evidence, "chain_trusted_by_device", json_boolean(chain_ok));
	if (c->ep->npins > 0)
		pins_evidence(c, d, x);
	rem(d,
	    "1. Exclude %s from SSL/TLS inspection on the firewall "
	    "(SSL deep inspection / traffic inspection settings)",
	    c->ep->host);
	rem(d,
	    "2. Or make the firewall use an inspection certificate signed "
	    "by a publicly trusted CA");
	rem(d,
	    "3. Or move the device to a network without SSL inspection "
	    "(another uplink, or a cellular connection)");
	if (fp[0] != '\0')
		remcmd(d,
		    "4. Or trust the inspection CA on the device, after "
		    "checking its SHA-256 fingerprint with the firewall admin",
		    "certkit trust add --from %s   # expect SHA-256 %s", c->hp,
		    fp);
	else
		rem(d,
		    "4. Or trust the inspection CA on the device: get its "
		    "certificate from the firewall admin and run certkit trust "
		    "add FILE");
	rem(d,
	    "Mutual TLS (client certificates) cannot pass through "
	    "inspection: if this service authenticates the device, option 4 "
	    "will not help; use 1 or 3");
	if (pin_fail)
		rem(d,
		    "The service pins its CA: only options 1 and 3 restore "
		    "the connection");
	free(label);
}

/* The chain ends at a self-signed root the device does not trust. */
static void
diag_untrusted_root(struct dctx *c, X509 *root)
{
	char *label = x_label(root);
	char fp[65];
	struct dx *d;

	x_fp(root, fp);
	d = dx_add(c->l, "untrusted_root", R_UNTRUSTED,
	    "%s uses a private CA the device does not trust: %s", c->hp,
	    label ? label : "?");
	ev_cert(d, "root", root);
	ev_str(d, "trust_store", c->env->trust_source);
	remcmd(d,
	    "Confirm the fingerprint with the server's admin, then "
	    "trust this CA",
	    "certkit trust add --from %s   # expect "
	    "SHA-256 %s",
	    c->hp, fp);
	rem(d,
	    "Or install a certificate from a publicly trusted CA on the "
	    "server");
	free(label);
}

static void
diag_missing_root(
    struct dctx *c, X509 *root, const char *severity, const char *why)
{
	char *label = x_label(root);
	char fp[65];
	struct dx *d;

	x_fp(root, fp);
	if (strcmp(severity, "error") == 0)
		d = dx_add(c->l, "missing_root", R_MISSING,
		    "%s%s\"%s\" is missing from the device's trust store "
		    "(the public root this chain leads to)",
		    why ? why : "", why ? ": " : "", label ? label : "?");
	else
		d = dx_add_lowered(c->l, "missing_root", R_WARN,
		    "%s%s\"%s\" is missing from the device's trust store",
		    why ? why : "", why ? ": " : "", label ? label : "?");
	ev_cert(d, "root", root);
	ev_str(d, "trust_store", c->env->trust_source);
	ev_str(d, "found_in", c->env->ref_source);
	remcmd(d, "Install it from the reference set",
	    "certkit trust add --reference \"%s\"", label ? label : fp);
	rem(d,
	    "On Windows: certmgr.msc, Trusted Root Certification "
	    "Authorities, import the root; on appliances: update the "
	    "firmware or its CA bundle");
	free(label);
}

/*
 * Why the issuer of `orphan` (the chain's top, not self-signed, its issuer
 * in no store) could not be had, into why[]; its caIssuers URL (RFC 5280
 * 4.2.2.1) into url[] ("" when it names none) and what fetching it gave
 * into *a (NULL when it was not fetched).
 */
static void
orphan_why(const struct dctx *c, X509 *orphan, char *why, size_t wsize,
    char url[512], const struct cki_aia **a)
{
	AUTHORITY_INFO_ACCESS *aia =
	    X509_get_ext_d2i(orphan, NID_info_access, NULL, NULL);

	url[0] = '\0';
	*a = NULL;
	for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia) && !url[0]; i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		const ASN1_IA5STRING *u;

		if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers ||
		    ad->location->type != GEN_URI)
			continue;
		u = ad->location->d.uniformResourceIdentifier;
		snprintf(url, 512, "%.*s", ASN1_STRING_length(u),
		    (const char *)ASN1_STRING_get0_data(u));
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	for (size_t k = 0; url[0] != '\0' && k < c->obs->naia; k++)
		if (strcmp(c->obs->aia[k].url, url) == 0)
			*a = &c->obs->aia[k];
	if (url[0] == '\0')
		snprintf(why, wsize,
		    "its certificate names no URL to fetch it from (AIA "
		    "caIssuers)");
	else if (*a == NULL)
		snprintf(why, wsize,
		    "the device could not fetch it from %s: %s", url,
		    strncasecmp(url, "http://", 7) != 0 ? "not an http:// URL"
		                                        : "not fetched");
	else if ((*a)->ok)
		snprintf(why, wsize,
		    "the device could not fetch it from %s: the answer holds "
		    "no certificate that issued the chain's top",
		    url);
	else
		snprintf(why, wsize,
		    "the device could not fetch it from %s: %s", url,
		    (*a)->result);
}

/* The server omits intermediates: those found (x->completion), and, when
 * `orphan` is set, the issuer of the chain's top that nobody here has. */
static void
diag_incomplete(struct dctx *c, struct chainx *x, bool verifies, X509 *orphan)
{
	X509 *first = sk_X509_value(x->completion, 0);
	char *label = first != NULL ? x_label(first) : NULL;
	char *iss =
	    orphan != NULL ? name_label(X509_get_issuer_name(orphan)) : NULL;
	char why[700] = "", url[512] = "";
	const struct cki_aia *a = NULL;
	json_t *miss = json_array();
	struct dx *d;

	if (orphan != NULL)
		orphan_why(c, orphan, why, sizeof(why), url, &a);
	if (first == NULL) {
		char *top = x_label(orphan);

		d = dx_add(c->l, "incomplete_chain", R_INCOMPLETE,
		    "%s does not send \"%s\", the issuer of \"%s\": the "
		    "server must send it; %s",
		    c->hp, iss ? iss : "?", top ? top : "?", why);
		free(top);
	} else if (orphan != NULL)
		d = dx_add(c->l, "incomplete_chain", R_INCOMPLETE,
		    "%s does not send its intermediate certificate \"%s\" nor "
		    "its issuer \"%s\": the server must send them; %s",
		    c->hp, label ? label : "?", iss ? iss : "?", why);
	else
		d = dx_add(c->l, "incomplete_chain", R_INCOMPLETE,
		    "%s does not send its intermediate certificate \"%s\"%s",
		    c->hp, label ? label : "?",
		    verifies ? "; the chain verifies once it is "
		               "completed"
		             : "");
	for (int i = 0; i < sk_X509_num(x->completion); i++) {
		json_t *r = cert_ref(sk_X509_value(x->completion, i));

		json_object_set_new(r, "found_in",
		    json_string(x->completion_src[i < 8 ? i : 7]));
		json_array_append_new(miss, r);
	}
	json_object_set_new(d->evidence, "missing", miss);
	json_object_set_new(
	    d->evidence, "verifies_once_completed", json_boolean(verifies));
	ev_int(d, "certificates_sent", sk_X509_num(x->presented));
	if (orphan != NULL) {
		char *subj = cki_name_oneline(X509_get_issuer_name(orphan));

		ev_str(d, "missing_issuer", iss);
		ev_str(d, "missing_issuer_subject", subj);
		ev_cert(d, "top", orphan);
		if (url[0] != '\0') {
			ev_str(d, "aia_url", url);
			ev_str(d, "aia_result",
			    a != NULL ? a->result : "not fetched");
		}
		free(subj);
	}
	rem(d,
	    "Fix the server: configure the full chain (the leaf followed by "
	    "its intermediates, e.g. fullchain.pem rather than cert.pem)");
	rem(d,
	    "Browsers hide this by fetching the intermediate themselves; "
	    "devices and most TLS libraries do not");
	if (orphan != NULL)
		rem(d,
		    "If \"%s\" is the root of a private CA rather than an "
		    "intermediate, the device must trust it: get it from the "
		    "server's admin, check its fingerprint, then run: certkit "
		    "trust add CA-FILE",
		    iss ? iss : "?");
	remcmd(d, "Check the server after the fix", "certkit doctor %s", c->hp);
	free(label);
	free(iss);
}

/* The server's certificate is self-signed and the device does not trust
 * it. */
static void
diag_self_signed_leaf(struct dctx *c, struct chainx *x)
{
	char fp[65];
	struct dx *d;

	x_fp(x->leaf, fp);
	d = dx_add(c->l, "self_signed_leaf", R_SELFSIGNED,
	    "%s presents a self-signed "
	    "certificate%s",
	    c->hp,
	    c->is_public ? "; a public "
	                   "service never does: something else answers "
	                   "(a captive portal, a proxy, a misrouted "
	                   "name)"
	                 : " (the device's factory default)");
	ev_cert(d, "certificate", x->leaf);
	rem(d,
	    "Best: install a certificate from the site's CA "
	    "or a public CA on %s",
	    c->ep->host);
	remcmd(d,
	    "Or, for a device you control, pin this exact "
	    "certificate after checking its fingerprint",
	    "certkit trust add --insecure-any-cert --from %s   # expect "
	    "SHA-256 %s",
	    c->hp, fp);
	rem(d,
	    "If the certificate has expired, have the server "
	    "generate a new one (for Nx Witness: delete "
	    "default.pem / cert.pem and restart the server)");
}

/* The verdict once explain_untrusted() has walked up the chain. */
static void
untrusted_verdict(struct dctx *c, struct chainx *x, bool verifies,
    bool pin_fail, const char *vendor, X509 *who)
{
	X509 *orphan = NULL;

	/* A top that is not self-signed, whose issuer nobody here has: the
	 * server omits it (unless interception explains it better). */
	if (x->unknown_top != NULL && !x_self_signed(x->unknown_top) &&
	    vendor == NULL && !pin_fail && !c->is_public) {
		orphan = x->unknown_top;
		x->unknown_top = NULL;
	}
	if (sk_X509_num(x->completion) > 0 || orphan != NULL)
		diag_incomplete(c, x, verifies, orphan);
	if (x->missing_root != NULL) {
		diag_missing_root(c, x->missing_root, "error",
		    sk_X509_num(x->completion) > 0 ? "and then" : NULL);
	} else if (x->unknown_top != NULL) {
		bool leaf_only =
		    x->unknown_top == x->leaf && x_self_signed(x->leaf);

		if (vendor != NULL || pin_fail ||
		    (c->is_public && !leaf_only)) {
			diag_interception(c, x, vendor, who, pin_fail, false);
		} else if (leaf_only) {
			diag_self_signed_leaf(c, x);
		} else {
			diag_untrusted_root(c, x->unknown_top);
		}
	}
}

/*
 * Explains the error-20 family (see the diagram at the top). May set
 * need->aia_url and return without a verdict.
 */
static void
explain_untrusted(struct dctx *c, struct chainx *x, bool pin_fail,
    const char *vendor, X509 *who)
{
	const struct cki_diag_env *env = c->env;
	STACK_OF(X509) *untrusted = NULL;
	struct vres v;
	bool verifies = false, have_v = false;
	X509 *top = NULL;

	if ((untrusted = sk_X509_dup(x->presented)) == NULL)
		return;
	for (int round = 0; round < 8; round++) {
		const struct verr *ue;
		X509 *iss;
		const char *src;

		if (have_v)
			vres_free(&v);
		if (!verify_run(env, env->trust, x->leaf, untrusted, &v))
			break;
		have_v = true;
		if (v.ok || (ue = vfind_untrusted(&v)) == NULL) {
			verifies = vfind_untrusted(&v) == NULL;
			break;
		}
		top = sk_X509_value(v.built, sk_X509_num(v.built) - 1);
		if (x_self_signed(top)) {
			if (sk_X509_num(v.built) == 1) {
				/* A self-signed leaf; nothing above it. */
				x->unknown_top = top;
				break;
			}
			if (list_find_ca(ref_roots(env), top) != NULL) {
				x->missing_root =
				    list_find_ca(ref_roots(env), top);
			} else {
				x->unknown_top = top;
			}
			break;
		}
		src = env->ref_source;
		iss = list_find_issuer(ref_roots(env), top, env->now);
		if (iss == NULL) {
			src = "AIA";
			iss = list_find_issuer(c->obs->fetched, top, env->now);
		}
		if (iss == NULL) {
			/* RFC 5280 4.2.2.1: caIssuers names where the issuer
			 * can be fetched. Ask for it once per URL. */
			AUTHORITY_INFO_ACCESS *aia =
			    X509_get_ext_d2i(top, NID_info_access, NULL, NULL);

			for (int i = 0; i < sk_ACCESS_DESCRIPTION_num(aia);
			     i++) {
				ACCESS_DESCRIPTION *ad =
				    sk_ACCESS_DESCRIPTION_value(aia, i);
				const char *url;
				bool tried = false;

				if (OBJ_obj2nid(ad->method) !=
				        NID_ad_ca_issuers ||
				    ad->location->type != GEN_URI)
					continue;
				url = (const char *)ASN1_STRING_get0_data(
				    ad->location->d.uniformResourceIdentifier);
				if (strncasecmp(url, "http://", 7) != 0)
					continue;
				for (size_t k = 0; k < c->obs->naia; k++)
					if (strcmp(c->obs->aia[k].url, url) ==
					    0)
						tried = true;
				if (!tried && c->obs->naia < CKI_DOC_MAX_AIA &&
				    strlen(url) < sizeof(c->need->aia_url)) {
					snprintf(c->need->aia_url,
					    sizeof(c->need->aia_url), "%s",
					    url);
					break;
				}
			}
			AUTHORITY_INFO_ACCESS_free(aia);
			if (c->need->aia_url[0] != '\0')
				goto out;
			x->unknown_top = top;
			break;
		}
		if (x_self_signed(iss)) {
			if (strcmp(src, "AIA") == 0)
				x->unknown_top = iss;
			else
				x->missing_root = iss;
			break;
		}
		/* An intermediate the server should have sent. */
		if (sk_X509_num(x->completion) < 8)
			x->completion_src[sk_X509_num(x->completion)] = src;
		sk_X509_push(x->completion, iss);
		sk_X509_push(untrusted, iss);
	}
	x->explained = true;
	untrusted_verdict(c, x, verifies, pin_fail, vendor, who);
out:
	if (have_v)
		vres_free(&v);
	sk_X509_free(untrusted);
}

/* An expired root in the store, or an expired cross-sign, and a valid
 * reference root that replaces it (the DST Root CA X3 / ISRG Root X1
 * case). Returns true when diagnosed. */
static bool
explain_expired_ca(struct dctx *c, struct chainx *x)
{
	const struct cki_diag_env *env = c->env;
	const struct verr *e = vfind(&x->v, X509_V_ERR_CERT_HAS_EXPIRED, 1);
	X509 *expired, *alt = NULL, *below = NULL;
	STACK_OF(X509) *extra = NULL;
	X509_STORE *s = NULL;
	struct vres v2;
	char *el, *al;
	char fp[65];
	bool in_store, ok = false;
	struct dx *d;
	int idx;

	if (e == NULL || e->cert == NULL)
		return false;
	expired = e->cert;
	idx = e->depth;
	in_store = list_find_ca(env->trust_certs, expired) != NULL &&
	    x_self_signed(expired);
	if (idx > 0 && idx - 1 < sk_X509_num(x->v.built))
		below = sk_X509_value(x->v.built, idx - 1);
	/* The alternative: a valid reference root that is the self-signed
	 * twin (same subject and key) of the expired certificate or of a
	 * cross-signed certificate below it, or that issues one of them. */
	for (int b = idx; b >= 0 && alt == NULL; b--) {
		X509 *cb = b < sk_X509_num(x->v.built)
		    ? sk_X509_value(x->v.built, b)
		    : NULL;

		if (cb == NULL)
			continue;
		for (int i = 0; i < sk_X509_num(ref_roots(env)) && alt == NULL;
		     i++) {
			X509 *r = sk_X509_value(ref_roots(env), i);

			if (x_time(X509_get0_notAfter(r)) < env->now ||
			    x_time(X509_get0_notBefore(r)) > env->now ||
			    X509_cmp(r, cb) == 0)
				continue;
			if (x_same_ca(r, cb) ||
			    (b < idx && cki_x509_issued_by(cb, r)))
				alt = r;
		}
	}
	(void)below;
	if (alt == NULL)
		return false;
	if (list_find_ca(env->trust_certs, alt) != NULL)
		return false;
	/* Prove it: the chain verifies with the alternative added. */
	if ((extra = sk_X509_new_null()) == NULL || !sk_X509_push(extra, alt) ||
	    (s = store_with(env, extra)) == NULL)
		goto out;
	if (verify_run(env, s, x->leaf, x->presented, &v2)) {
		ok = vfind(&v2, X509_V_ERR_CERT_HAS_EXPIRED, 1) == NULL &&
		    vfind_untrusted(&v2) == NULL;
		vres_free(&v2);
	}
	if (!ok)
		goto out;
	el = x_label(expired);
	al = x_label(alt);
	d = dx_add(c->l, "expired_root_in_store", R_EXPROOT,
	    "the chain ends at \"%s\", which expired on %.10s%s, and its "
	    "replacement \"%s\" is missing from the device's store",
	    el ? el : "?", "",
	    in_store ? " (in the device's store)" : " (a cross-sign)",
	    al ? al : "?");
	{
		char t[32];

		cki_fmt_time(x_time(X509_get0_notAfter(expired)), t);
		snprintf(d->summary, sizeof(d->summary),
		    "the chain ends at "
		    "\"%s\", which expired on %.10s%s, and its replacement "
		    "\"%s\" is missing from the device's store",
		    el ? el : "?", t,
		    in_store ? " (it is in the device's store)"
		             : " (a cross-signed certificate)",
		    al ? al : "?");
	}
	ev_cert(d, "expired", expired);
	ev_time(d, "expired_on", x_time(X509_get0_notAfter(expired)));
	ev_cert(d, "replacement", alt);
	json_object_set_new(
	    d->evidence, "expired_in_store", json_boolean(in_store));
	x_fp(expired, fp);
	remcmd(d, "Install the replacement root",
	    "certkit trust add --reference \"%s\"", al ? al : "?");
	if (in_store)
		remcmd(d,
		    "Then remove the expired root, which older TLS "
		    "clients keep choosing",
		    "certkit trust distrust %s", fp);
	rem(d,
	    "On Windows: certmgr.msc, Trusted Root Certification "
	    "Authorities: delete \"%s\" and make sure \"%s\" is present",
	    el ? el : "?", al ? al : "?");
	free(el);
	free(al);
	x->explained = true;
out:
	X509_STORE_free(s);
	sk_X509_free(extra);
	return x->explained;
}

/* The HTTP Date says the certificate is valid on the server's clock. */
static bool
valid_at(X509 *leaf, int64_t t)
{
	return t != 0 && x_time(X509_get0_notBefore(leaf)) <= t &&
	    t <= x_time(X509_get0_notAfter(leaf));
}

static void
diag_clock(struct dctx *c, X509 *leaf, const char *why, bool nyv)
{
	const struct cki_hs *h = &c->obs->main;
	struct dx *d;
	char t[32];

	cki_fmt_time(c->env->now, t);
	d = dx_add(c->l, "clock_skew", R_CLOCK,
	    "the device's clock is wrong (%s), not the certificate: it reads "
	    "%s",
	    why, t);
	ev_time(d, "local_time", c->env->now);
	if (h->http_date != 0) {
		ev_time(d, "server_time", h->http_date);
		ev_int(
		    d, "skew_seconds", (long long)(c->env->now - h->http_date));
	}
	ev_time(d, "certkit_built", c->env->build_time);
	ev_time(d, nyv ? "cert_not_before" : "cert_not_after",
	    nyv ? x_time(X509_get0_notBefore(leaf))
	        : x_time(X509_get0_notAfter(leaf)));
	ev_cert(d, "certificate", leaf);
	rem(d,
	    "Set the device's clock: enable NTP (e.g. timedatectl "
	    "set-ntp true) and check that UDP port 123 is open");
	rem(d, "A clock that resets at power loss needs a new RTC battery");
	rem(d,
	    "TLS checks dates, so every secure connection fails until "
	    "the clock is right");
}

/* A certificate of the device's own store that is not valid yet at
 * env->now, or NULL. */
static X509 *
nyv_anchor(const struct dctx *c, const struct chainx *x)
{
	const STACK_OF(X509) *tc = c->env->trust_certs;

	for (int i = 0; i < x->v.ne; i++) {
		if (x->v.e[i].err != X509_V_ERR_CERT_NOT_YET_VALID ||
		    x->v.e[i].cert == NULL)
			continue;
		for (int k = 0; k < sk_X509_num(tc); k++)
			if (X509_cmp(sk_X509_value(tc, k), x->v.e[i].cert) == 0)
				return x->v.e[i].cert;
	}
	return NULL;
}

/* "the server's", "the root" (a self-signed top) or "an intermediate"
 * for the certificate at depth in the chain the device built. */
static const char *
depth_word(const struct chainx *x, int depth)
{
	X509 *cert = sk_X509_value(x->v.built, depth);

	if (depth == 0)
		return "the server's";
	if (depth == sk_X509_num(x->v.built) - 1 && cert != NULL &&
	    x_looks_self_signed(cert))
		return "the root";
	return "an intermediate";
}

/*
 * A certificate not valid yet means a wrong clock when the device's own
 * trust anchor is not valid yet either (nobody installs a root before its
 * time), or when the clock (the real one or --at, which stands for the
 * device's) reads before the day certkit was built. Returns true when
 * diagnosed.
 */
static bool
nyv_clock(struct dctx *c, struct chainx *x, X509 *cert)
{
	X509 *anchor = nyv_anchor(c, x);
	char why[400], t[32];

	if (anchor != NULL) {
		char *label = x_label(anchor);

		cki_fmt_time(x_time(X509_get0_notBefore(anchor)), t);
		snprintf(why, sizeof(why),
		    "its own trust anchor \"%s\" is not valid until %.10s",
		    label ? label : "?", t);
		free(label);
		diag_clock(c, anchor, why, true);
		return true;
	}
	if (c->env->now < c->env->build_time - 86400) {
		diag_clock(c, cert,
		    "it is earlier than the day this "
		    "certkit was built",
		    true);
		return true;
	}
	return false;
}

static void
diag_time(struct dctx *c, struct chainx *x)
{
	const struct cki_hs *h = &c->obs->main;
	const struct verr *nyv = vfind(&x->v, X509_V_ERR_CERT_NOT_YET_VALID, 0);
	const struct verr *exp = vfind(&x->v, X509_V_ERR_CERT_HAS_EXPIRED, 0);
	struct dx *d;
	char t[32];

	if (nyv != NULL) {
		X509 *cert = nyv->cert;
		int64_t nb = x_time(X509_get0_notBefore(cert));
		char *label;

		if (nyv_clock(c, x, cert))
			return;
		if (h->http_date != 0 && valid_at(cert, h->http_date) &&
		    llabs((long long)(h->http_date - c->env->now)) >
		        CKI_DOC_SKEW_TOLERANCE_S) {
			diag_clock(c, cert,
			    "the server's HTTP Date is "
			    "different",
			    true);
			return;
		}
		cki_fmt_time(nb, t);
		label = x_label(cert);
		d = dx_add(c->l, "cert_not_yet_valid", R_TIME,
		    "%s certificate \"%s\" is not valid until %s",
		    depth_word(x, nyv->depth), label ? label : "?", t);
		free(label);
		ev_cert(d, "certificate", cert);
		ev_int(d, "depth", nyv->depth);
		ev_str(d, "not_before", t);
		ev_time(d, "local_time", c->env->now);
		if (h->http_date != 0)
			ev_time(d, "server_time", h->http_date);
		rem(d,
		    "Check the device's clock first: if it is right, the "
		    "server installed a certificate too early; install one "
		    "valid now");
	}
	if (exp != NULL && (exp->depth == 0 || !x->explained)) {
		X509 *cert = exp->cert;
		int64_t na = x_time(X509_get0_notAfter(cert));
		char *label = x_label(cert);

		if (exp->depth == 0 && h->http_date != 0 &&
		    valid_at(cert, h->http_date) &&
		    llabs((long long)(h->http_date - c->env->now)) >
		        CKI_DOC_SKEW_TOLERANCE_S) {
			free(label);
			diag_clock(c, cert,
			    "the server's HTTP Date is "
			    "different",
			    false);
			return;
		}
		cki_fmt_time(na, t);
		d = dx_add(c->l, "cert_expired", R_TIME,
		    "%s certificate \"%s\" expired on %.10s (%lld days ago)",
		    depth_word(x, exp->depth), label ? label : "?", t,
		    (long long)((c->env->now - na) / 86400));
		ev_cert(d, "certificate", cert);
		ev_int(d, "depth", exp->depth);
		ev_str(d, "not_after", t);
		ev_time(d, "local_time", c->env->now);
		if (exp->depth == 0) {
			rem(d,
			    "Renew the server's certificate and install it "
			    "on %s",
			    c->ep->host);
			rem(d,
			    "For a device's self-generated certificate: "
			    "have it generate a new one (for Nx Witness: stop "
			    "the server, delete default.pem / cert.pem, start "
			    "it)");
		} else {
			rem(d,
			    "The server sends an expired CA certificate: "
			    "install the current chain from its CA on the "
			    "server");
		}
		free(label);
	}
}

/* hostname_mismatch for the certificate a server also gives without SNI:
 * it may be its default one, shown because the site's was not loaded. */
static void
name_other_reading(struct dctx *c, struct dx *d)
{
	char buf[400];

	snprintf(buf, sizeof(buf),
	    "the server gives the same certificate without SNI: it may be its "
	    "default certificate, shown because none is loaded for %s",
	    c->ep->host);
	ev_str(d, "other_reading", buf);
	rem(d,
	    "If %s should have its own certificate on this server, it is not "
	    "loaded: check the certificate/keystore path, that the file is "
	    "readable by the service, and its password; then restart the "
	    "service",
	    c->ep->host);
}

/* The leaf's DNS and IP SANs and CN ("DNS:x", "IP:x", "CN:x"); sets
 * *is_default when one of them is a default name (localhost, ...). */
static json_t *
leaf_names(X509 *leaf, bool *is_default)
{
	STACK_OF(GENERAL_NAME) * sans;
	json_t *names = json_array();

	sans = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; i < sk_GENERAL_NAME_num(sans); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, i);
		char buf[300];

		if (g->type == GEN_DNS) {
			snprintf(buf, sizeof(buf), "DNS:%.*s",
			    ASN1_STRING_length(g->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
			if (cki_doc_default_name(buf + 4))
				*is_default = true;
		} else if (g->type == GEN_IPADD) {
			const unsigned char *ip =
			    ASN1_STRING_get0_data(g->d.iPAddress);
			int l = ASN1_STRING_length(g->d.iPAddress);
			char ipb[64] = "?";

			if (l == 4)
				inet_ntop(AF_INET, ip, ipb, sizeof(ipb));
			else if (l == 16)
				inet_ntop(AF_INET6, ip, ipb, sizeof(ipb));
			snprintf(buf, sizeof(buf), "IP:%s", ipb);
			if (cki_doc_default_name(ipb))
				*is_default = true;
		} else {
			continue;
		}
		json_array_append_new(names, json_string(buf));
	}
	GENERAL_NAMES_free(sans);
	{
		char *cn = NULL;
		X509_NAME *n = X509_get_subject_name(leaf);
		int i = X509_NAME_get_index_by_NID(n, NID_commonName, -1);

		if (i >= 0) {
			unsigned char *u = NULL;
			int len = ASN1_STRING_to_UTF8(&u,
			    X509_NAME_ENTRY_get_data(
			        X509_NAME_get_entry(n, i)));

			if (len > 0)
				cn = strndup((char *)u, (size_t)len);
			OPENSSL_free(u);
		}
		if (cn != NULL) {
			char buf[300];

			if (cki_doc_default_name(cn))
				*is_default = true;
			snprintf(buf, sizeof(buf), "CN:%s", cn);
			json_array_append_new(names, json_string(buf));
			free(cn);
		}
	}
	return names;
}

/* The server answers with a placeholder certificate (see diag_name). Takes
 * `names`. */
static void
diag_fallback(struct dctx *c, X509 *leaf, json_t *names, bool is_default)
{
	const struct cki_endpoint *ep = c->ep;
	struct dx *d;

	d = dx_add(c->l, "fallback_certificate", R_FALLBACK,
	    "%s answers with its %s certificate instead of one for %s",
	    c->obs->address,
	    is_default ? "default (localhost/factory)"
	               : "default (self-signed, no-SNI)",
	    ep->host);
	ev_cert(d, "certificate", leaf);
	json_object_set_new(d->evidence, "certificate_names", names);
	ev_str(d, "requested", ep->host);
	ev_str(d, "why",
	    is_default ? "the certificate names a "
	                 "default host (localhost or a factory name)"
	               : "a self-signed certificate, the one the "
	                 "server returns without SNI");
	rem(d,
	    "The server did not load the certificate configured for "
	    "%s: check the certificate/keystore path, that the file "
	    "is readable by the service, and its password; then "
	    "restart the service",
	    ep->host);
	rem(d,
	    "For SAFEQ Cloud: check default-keystore-file and "
	    "default-keystore-password in application.conf");
	rem(d,
	    "If the server has several sites, add %s to the "
	    "certificate or virtual host it serves",
	    ep->host);
	remcmd(d, "Check the result", "certkit doctor %s", c->hp);
}

static bool
diag_name(struct dctx *c, struct chainx *x)
{
	const struct cki_endpoint *ep = c->ep;
	X509 *leaf = x->leaf;
	json_t *names;
	bool is_default = false, same_nosni = false, nosni_known = false;
	bool placeholder;
	char fp[65];
	int rc;
	struct dx *d;

	/* RFC 6125 6.4 (names) / RFC 5280 4.2.1.6 (IP SANs); OpenSSL's
	 * matcher, as the device would run it, with no partial wildcards. */
	if (ep->is_ip)
		rc = X509_check_ip_asc(leaf, ep->host, 0);
	else
		rc = X509_check_host(leaf, ep->host, 0,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL);
	if (rc == 1)
		return true;
	names = leaf_names(leaf, &is_default);
	x_fp(leaf, fp);
	if (!is_default && !ep->is_ip) {
		/* Is it the certificate the server also gives without SNI
		 * (RFC 6066 3): its default, not one for this name? */
		if (!c->obs->nosni.attempted) {
			c->need->nosni = true;
			json_decref(names);
			return false;
		}
		if (c->obs->nosni.done &&
		    sk_X509_num(c->obs->nosni.chain) > 0) {
			char fp2[65];

			x_fp(sk_X509_value(c->obs->nosni.chain, 0), fp2);
			same_nosni = strcmp(fp, fp2) == 0;
			nosni_known = true;
		}
	}
	/* A placeholder: a default name, or the server's self-signed
	 * certificate that it also gives without SNI. A CA-issued certificate
	 * for another name is a name to fix, even when it is the only one
	 * the server has (the same without SNI): nothing tells that from a
	 * default certificate shown for a site that was not loaded, so that
	 * reading goes into the evidence. */
	placeholder = is_default || (same_nosni && x_self_signed(leaf));
	if (placeholder) {
		diag_fallback(c, leaf, names, is_default);
		return false;
	}
	d = dx_add(c->l, "hostname_mismatch", R_NAME,
	    "the certificate of %s is not valid for the name %s", c->hp,
	    ep->host);
	ev_cert(d, "certificate", leaf);
	json_object_set_new(d->evidence, "certificate_names", names);
	ev_str(d, "requested", ep->host);
	if (nosni_known)
		json_object_set_new(
		    d->evidence, "same_without_sni", json_boolean(same_nosni));
	if (ep->is_ip)
		rem(d,
		    "The device connects by IP address, and the certificate "
		    "has no IP SAN for %s: configure the device with a name "
		    "the certificate covers, or reissue the certificate with "
		    "an IP SAN",
		    ep->host);
	else
		rem(d,
		    "Connect with a name the certificate covers, or reissue "
		    "the certificate with %s in its subjectAltName",
		    ep->host);
	rem(d,
	    "Modern clients ignore the CN: the name must be in the "
	    "subjectAltName (RFC 6125 6.4.4)");
	if (same_nosni)
		name_other_reading(c, d);
	return false;
}

static bool
nid_weak_md(int md)
{
	return md == NID_md5 || md == NID_sha1 || md == NID_md4 ||
	    md == NID_md2;
}

static void
diag_weak(struct dctx *c, struct chainx *x)
{
	STACK_OF(X509) *l = sk_X509_num(x->v.built) >= sk_X509_num(x->presented)
	    ? x->v.built
	    : x->presented;

	for (int i = 0; i < sk_X509_num(l); i++) {
		X509 *cert = sk_X509_value(l, i);
		int md = 0, pk = 0, secbits = 0, bits;
		uint32_t fl = 0;
		EVP_PKEY *key = X509_get0_pubkey(cert);
		struct dx *d;

		/* A trust anchor's self-signature is never checked
		 * (RFC 5280 6.1.1): its digest does not matter. */
		if (!x_looks_self_signed(cert) &&
		    X509_get_signature_info(cert, &md, &pk, &secbits, &fl) &&
		    (nid_weak_md(md) || (secbits > 0 && secbits < 112)) &&
		    !dxl_has(c->l, "weak_signature")) {
			char *label = x_label(cert);

			d = dx_add(c->l, "weak_signature", R_WEAK,
			    "\"%s\" is signed with %s, which TLS clients "
			    "refuse",
			    label ? label : "?",
			    OBJ_nid2sn(md != 0 ? md : NID_undef));
			ev_cert(d, "certificate", cert);
			ev_int(d, "depth", i);
			ev_str(d, "digest", OBJ_nid2sn(md));
			ev_int(d, "security_bits", secbits);
			rem(d,
			    "Reissue the certificate with SHA-256 (RFC 9155 "
			    "deprecates SHA-1 signatures)");
			free(label);
		}
		if (key != NULL &&
		    (bits = EVP_PKEY_get_security_bits(key)) > 0 &&
		    bits < 112 && !dxl_has(c->l, "weak_key")) {
			char *label = x_label(cert);

			d = dx_add(c->l, "weak_key", R_WEAK,
			    "\"%s\" has a %d-bit %s key (%d bits of security; "
			    "at least 112 are required)",
			    label ? label : "?", EVP_PKEY_get_bits(key),
			    OBJ_nid2sn(EVP_PKEY_get_base_id(key)), bits);
			ev_cert(d, "certificate", cert);
			ev_int(d, "depth", i);
			ev_int(d, "key_bits", EVP_PKEY_get_bits(key));
			ev_int(d, "security_bits", bits);
			rem(d,
			    "Generate a new key of at least RSA 2048 or EC "
			    "P-256 and reissue the certificate");
			free(label);
		}
	}
}

/* RFC 6960 4.2: the stapled response (RFC 6066 8). */
static void
diag_ocsp(struct dctx *c, struct chainx *x, json_t *tls)
{
	const struct cki_hs *h = &c->obs->main;
	const unsigned char *p = h->ocsp;
	OCSP_RESPONSE *resp = NULL;
	OCSP_BASICRESP *bs = NULL;
	OCSP_CERTID *id = NULL;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisu = NULL, *nextu = NULL;
	X509 *issuer;
	int status = -1, reason = -1;
	const char *word = "none";
	struct dx *d;

	if (h->ocsp == NULL || h->ocsp_len == 0) {
		json_object_set_new(tls, "ocsp_stapled", json_false());
		return;
	}
	json_object_set_new(tls, "ocsp_stapled", json_true());
	issuer = sk_X509_num(x->v.built) > 1 ? sk_X509_value(x->v.built, 1)
	    : sk_X509_num(x->presented) > 1  ? sk_X509_value(x->presented, 1)
	                                     : NULL;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)h->ocsp_len)) == NULL ||
	    OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (bs = OCSP_response_get1_basic(resp)) == NULL) {
		word = "unusable";
		d = dx_add(c->l, "ocsp_invalid", R_WARN,
		    "the stapled OCSP response of %s cannot be used", c->hp);
		rem(d, "Check the server's OCSP stapling configuration");
		goto out;
	}
	if (issuer != NULL &&
	    (id = OCSP_cert_to_id(NULL, x->leaf, issuer)) != NULL)
		OCSP_resp_find_status(
		    bs, id, &status, &reason, &rev, &thisu, &nextu);
	if (status < 0) {
		word = "unknown";
		d = dx_add(c->l, "ocsp_invalid", R_WARN,
		    "the stapled OCSP response of %s does not cover its "
		    "certificate",
		    c->hp);
		rem(d, "Check the server's OCSP stapling configuration");
		goto out;
	}
	/* A response dated in the future is not believed (RFC 6960 4.2.2.1
	 * thisUpdate; 5 minutes of clock tolerance, as OCSP_check_validity). */
	if (thisu != NULL && x_time(thisu) > c->env->now + 300) {
		d = dx_add(c->l, "ocsp_invalid", R_WARN,
		    "the stapled OCSP response of %s is dated in the future",
		    c->hp);
		ev_time(d, "this_update", x_time(thisu));
		rem(d, "Check the clocks of the server and of this device");
		word = "unverified";
	}
	{
		/* The signature must chain to the device's store (RFC 6960
		 * 4.2.2.2); the store's time is the diagnosis time. */
		X509_STORE *s = store_with(c->env, NULL);
		STACK_OF(X509) *certs = sk_X509_dup(x->presented);
		int ok = 0;

		if (s != NULL && certs != NULL) {
			X509_VERIFY_PARAM_set_time(
			    X509_STORE_get0_param(s), (time_t)c->env->now);
			ok = OCSP_basic_verify(bs, certs, s, 0);
		}
		X509_STORE_free(s);
		sk_X509_free(certs);
		ERR_clear_error();
		if (ok <= 0) {
			d = dx_add(c->l, "ocsp_invalid", R_WARN,
			    "the stapled OCSP response of %s is not signed by "
			    "a trusted responder",
			    c->hp);
			rem(d,
			    "Check the server's OCSP stapling "
			    "configuration");
			word = "unverified";
		}
	}
	/* Only a verified, current response may say "revoked": anyone on the
	 * path can staple a forged one. An unverified one was warned about. */
	if (status == V_OCSP_CERTSTATUS_REVOKED &&
	    strcmp(word, "unverified") == 0) {
		/* nothing more: the warning above says why it is ignored */
	} else if (status == V_OCSP_CERTSTATUS_REVOKED) {
		word = "revoked";
		d = dx_add(c->l, "revoked", R_REVOKED,
		    "the certificate of %s is revoked (stapled OCSP response)",
		    c->hp);
		ev_cert(d, "certificate", x->leaf);
		if (rev != NULL)
			ev_time(d, "revoked_at", x_time(rev));
		if (reason >= 0)
			ev_str(d, "reason", OCSP_crl_reason_str(reason));
		rem(d,
		    "The server's certificate was revoked by its CA: "
		    "install a new certificate on %s",
		    c->ep->host);
	} else if (status == V_OCSP_CERTSTATUS_GOOD) {
		if (strcmp(word, "unverified") != 0)
			word = "good";
		if (nextu != NULL && x_time(nextu) < c->env->now) {
			d = dx_add(c->l, "ocsp_invalid", R_WARN,
			    "the stapled OCSP response of %s is out of date",
			    c->hp);
			ev_time(d, "next_update", x_time(nextu));
			rem(d,
			    "The server keeps stapling an old response: "
			    "check that it can reach its CA's OCSP responder");
		}
	} else {
		word = "unknown";
	}
out:
	json_object_set_new(tls, "ocsp", json_string(word));
	OCSP_CERTID_free(id);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
}

static void
diag_warnings(struct dctx *c, struct chainx *x)
{
	const struct cki_hs *h = &c->obs->main;
	int n = sk_X509_num(x->presented);
	STACK_OF(X509) *l = x->v.built;
	struct dx *d;

	for (int i = 0; i < sk_X509_num(l); i++) {
		X509 *cert = sk_X509_value(l, i);
		int64_t na = x_time(X509_get0_notAfter(cert));
		int64_t left = na - c->env->now;

		if (left >= 0 && left < CKI_DOC_EXPIRY_WARN_DAYS * 86400LL) {
			char *label = x_label(cert);
			char t[32];

			cki_fmt_time(na, t);
			d = dx_add(c->l, "expires_soon", R_WARN,
			    "\"%s\" expires in %lld days (%.10s)",
			    label ? label : "?", (long long)(left / 86400), t);
			ev_cert(d, "certificate", cert);
			ev_int(d, "depth", i);
			ev_int(d, "days_left", (long long)(left / 86400));
			rem(d,
			    i == 0 ? "Renew the server's certificate now"
			           : "Plan for the CA certificate's "
			             "replacement: check "
			             "that the device trusts its successor");
			free(label);
		}
	}
	for (int i = 1; i < n; i++) {
		X509 *cert = sk_X509_value(x->presented, i);

		if (x_looks_self_signed(cert)) {
			d = dx_add(c->l, "root_in_chain", R_WARN,
			    "the server sends its root certificate too");
			ev_cert(d, "root", cert);
			rem(d,
			    "Harmless but wasteful, and clients that do not "
			    "trust this root report error 19 (self-signed "
			    "certificate in chain) instead of 20: drop the "
			    "root "
			    "from the server's chain file");
			break;
		}
	}
	for (int i = 0; i + 1 < n; i++) {
		if (X509_check_issued(sk_X509_value(x->presented, i + 1),
		        sk_X509_value(x->presented, i)) != X509_V_OK) {
			/* RFC 8446 4.4.2 allows any order after the leaf, but
			 * older clients need leaf-to-root order (RFC 5246
			 * 7.4.2). */
			d = dx_add(c->l, "chain_order", R_WARN,
			    "the server's chain is not in order (certificate "
			    "%d is not issued by %d)",
			    i, i + 1);
			rem(d,
			    "List the leaf first, then each issuer in turn, "
			    "in the server's chain file");
			break;
		}
	}
	if (h->cipher[0] != '\0' && strcmp(h->version, "TLSv1.3") != 0 &&
	    (strstr(h->cipher, "ECDHE") == NULL &&
	        strstr(h->cipher, "DHE") == NULL)) {
		d = dx_add(c->l, "weak_tls", R_WARN,
		    "%s uses %s without forward secrecy", c->hp, h->cipher);
		ev_str(d, "cipher", h->cipher);
		ev_str(d, "version", h->version);
		rem(d,
		    "Prefer ECDHE cipher suites on the server (RFC 9325 "
		    "4.1)");
	} else if (h->cipher[0] != '\0' && strstr(h->cipher, "CBC") == NULL &&
	    strcmp(h->version, "TLSv1.3") != 0 &&
	    strstr(h->cipher, "GCM") == NULL &&
	    strstr(h->cipher, "CHACHA") == NULL &&
	    strstr(h->cipher, "CCM") == NULL) {
		d = dx_add(c->l, "weak_tls", R_WARN,
		    "%s uses the CBC cipher suite %s", c->hp, h->cipher);
		ev_str(d, "cipher", h->cipher);
		rem(d,
		    "Prefer AEAD cipher suites (AES-GCM, "
		    "ChaCha20-Poly1305) on the server (RFC 9325 4.2)");
	}
	if (h->http_date != 0 && !dxl_has(c->l, "clock_skew") &&
	    llabs((long long)(h->http_date - c->env->now)) >
	        CKI_DOC_SKEW_TOLERANCE_S) {
		d = dx_add_lowered(c->l, "clock_skew", R_WARN,
		    "the device's clock differs from %s's by %lld seconds",
		    c->ep->host, (long long)(c->env->now - h->http_date));
		ev_time(d, "local_time", c->env->now);
		ev_time(d, "server_time", h->http_date);
		rem(d, "Enable NTP on the device");
	}
}

/* The device store lacks a root the profile says the service needs. */
static void
diag_required_roots(struct dctx *c)
{
	for (size_t i = 0; i < c->ep->nrequired; i++) {
		const char *want = c->ep->required_roots[i];
		bool have = false;
		X509 *ref = NULL;

		for (int k = 0; k < sk_X509_num(c->env->trust_certs) && !have;
		     k++) {
			X509 *t = sk_X509_value(c->env->trust_certs, k);
			char *label = x_label(t);

			if (label != NULL && strcasecmp(label, want) == 0 &&
			    x_time(X509_get0_notAfter(t)) >= c->env->now)
				have = true;
			free(label);
		}
		if (have)
			continue;
		for (int k = 0;
		     k < sk_X509_num(ref_roots(c->env)) && ref == NULL; k++) {
			X509 *r = sk_X509_value(ref_roots(c->env), k);
			char *label = x_label(r);

			if (label != NULL && strcasecmp(label, want) == 0)
				ref = r;
			free(label);
		}
		if (ref != NULL && !dxl_has(c->l, "missing_root")) {
			diag_missing_root(c, ref, "warning",
			    "the profile says this service needs it");
		} else if (ref == NULL) {
			struct dx *d =
			    dx_add_lowered(c->l, "missing_root", R_WARN,
			        "the required root \"%s\" is missing from "
			        "the device's store, and the reference set "
			        "does not "
			        "know it either",
			        want);

			ev_str(d, "root_name", want);
			rem(d,
			    "Check the name in the profile's required_roots "
			    "(it is matched against the roots' common names)");
		}
	}
}

/* ---- the report ---------------------------------------------------------- */

static const char *
err_word(int e)
{
	return X509_verify_cert_error_string(e);
}

static json_t *
chain_json(struct chainx *x, const struct cki_diag_env *env)
{
	json_t *a = json_array();

	for (int i = 0; i < sk_X509_num(x->presented); i++) {
		X509 *c = sk_X509_value(x->presented, i);
		char *s = cki_name_oneline(X509_get_subject_name(c));
		char *is = cki_name_oneline(X509_get_issuer_name(c));
		char nb[32], na[32], fp[65], spki[65];
		json_t *o;

		cki_fmt_time(x_time(X509_get0_notBefore(c)), nb);
		cki_fmt_time(x_time(X509_get0_notAfter(c)), na);
		x_fp(c, fp);
		x_spki(c, spki);
		o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "depth", i,
		    "subject", s ? s : "", "issuer", is ? is : "", "not_before",
		    nb, "not_after", na, "sha256", fp, "spki_sha256", spki);
		free(s);
		free(is);
		if (o == NULL)
			continue;
		/* The s_client "verify error:num=N:..." for this certificate.
		 */
		for (int k = 0; k < x->v.ne; k++) {
			if (x->v.e[k].cert != NULL &&
			    X509_cmp(x->v.e[k].cert, c) == 0) {
				json_object_set_new(o, "verify_error",
				    json_integer(x->v.e[k].err));
				json_object_set_new(o, "verify_error_text",
				    json_string(err_word(x->v.e[k].err)));
				break;
			}
		}
		(void)env;
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *
dxl_json(struct dxl *l)
{
	json_t *a = json_array();

	qsort(l->v, l->n, sizeof(l->v[0]), dx_cmp);
	for (size_t i = 0; i < l->n; i++) {
		struct dx *d = &l->v[i];
		/* The finding model (report.c); the doctor's evidence and
		 * remedies were gathered on the way. */
		json_t *o = cki_finding_new(CKI_REPORT_DOCTOR, d->code,
		    strcmp(d->severity, "warning") == 0, d->summary, NULL, 0);

		if (o == NULL || json_object_set(o, "evidence", d->evidence) ||
		    json_object_set(o, "remedies", d->remedies)) {
			json_decref(o);
			continue;
		}
		if (json_array_size(d->commands) > 0)
			json_object_set(o, "commands", d->commands);
		json_array_append_new(a, o);
	}
	return a;
}

static bool
any_error(const struct dxl *l)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].severity, "error") == 0)
			return true;
	return false;
}

static const char *
status_of(const struct dxl *l)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *c = l->v[i].code;

		if (strcmp(l->v[i].severity, "error") != 0)
			continue;
		if (strncmp(c, "dns_", 4) == 0 || strncmp(c, "tcp_", 4) == 0 ||
		    strncmp(c, "proxy_", 6) == 0)
			return "offline";
	}
	return any_error(l) ? "unreachable" : "online";
}

static json_t *
timings_json(const struct cki_obs *o)
{
	json_t *t = json_object();

	for (int i = CKI_ST_DNS; i < CKI_ST_COUNT; i++)
		if (o->ms[i] >= 0)
			json_object_set_new(
			    t, cki_stage_names[i], json_integer(o->ms[i]));
	return t;
}

static json_t *
tls_json(const struct cki_hs *h)
{
	json_t *t = json_object();

	if (h->done) {
		json_object_set_new(t, "version", json_string(h->version));
		json_object_set_new(t, "cipher", json_string(h->cipher));
		json_object_set_new(
		    t, "alpn", h->alpn[0] ? json_string(h->alpn) : json_null());
		json_object_set_new(t, "client_certificate_requested",
		    json_boolean(h->cert_request));
		json_object_set_new(
		    t, "client_certificate_sent", json_boolean(h->cert_sent));
		if (h->http_status != 0)
			json_object_set_new(
			    t, "http_status", json_integer(h->http_status));
	}
	return t;
}

static void
endpoint_head(json_t *o, const struct cki_endpoint *ep,
    const struct cki_obs *obs, const char *hp, bool is_public)
{
	json_object_set_new(o, "endpoint", json_string(hp));
	json_object_set_new(
	    o, "name", ep->name ? json_string(ep->name) : json_null());
	json_object_set_new(o, "host", json_string(ep->host));
	json_object_set_new(o, "port", json_integer(ep->port));
	json_object_set_new(o, "expect",
	    json_string(is_public                      ? "public"
	            : ep->expect == CKI_EXPECT_PRIVATE ? "private"
	                                               : "unknown"));
	json_object_set_new(o, "address",
	    obs->address[0] ? json_string(obs->address) : json_null());
	json_object_set_new(o, "proxy",
	    obs->proxy != NULL ? json_string(obs->proxy->display)
	                       : json_null());
	if (obs->dns_used) {
		json_t *a = json_array();

		for (size_t i = 0; i < obs->ndns; i++)
			json_array_append_new(
			    a, json_string(obs->dns_answers[i]));
		json_object_set_new(o, "dns",
		    json_pack("{s:s, s:s, s:o}", "server",
		        obs->dns_server ? obs->dns_server : "", "name",
		        obs->dns_name ? obs->dns_name : "", "answers", a));
	}
	if (obs->naia > 0) {
		json_t *a = json_array();

		for (size_t i = 0; i < obs->naia; i++)
			json_array_append_new(a,
			    json_pack("{s:s, s:s, s:b}", "url", obs->aia[i].url,
			        "result", obs->aia[i].result, "ok",
			        obs->aia[i].ok));
		json_object_set_new(o, "aia", a);
	}
}

/* What the diagnosis does after a stage. */
enum dnext {
	D_GO_ON,   /* the next stage */
	D_REPORT,  /* the findings so far are the report */
	D_PENDING, /* more evidence first (need says which) */
	D_NOMEM,
};

/* DNS, TCP, the proxy and the handshake: D_GO_ON when there is a chain. */
static enum dnext
diag_connection(struct dctx *c, struct cki_hs *h)
{
	enum dnext next = D_GO_ON;

	if (diag_dns(c) || diag_tcp(c, h) || diag_proxy(c, h) ||
	    diag_tls(c, h)) {
		next = c->need->legacy || c->need->quiet ? D_PENDING : D_REPORT;
	} else if (!h->done || sk_X509_num(h->chain) == 0) {
		struct dx *d = dx_add(c->l, "tls_handshake_failed", R_NET,
		    "%s completed no TLS handshake with a certificate", c->hp);

		ev_str(d, "stage", hs_stage_word(h->failed_stage));
		rem(d, "Check that the port serves TLS with a certificate");
		next = D_REPORT;
	}
	return next;
}

/* The device's verdict on the presented chain. */
static enum dnext
diag_verify(struct dctx *c, struct chainx *x, const struct cki_hs *h)
{
	enum dnext next = D_GO_ON;

	x->presented = h->chain;
	x->leaf = sk_X509_value(h->chain, 0);
	if ((x->completion = sk_X509_new_null()) == NULL ||
	    !verify_run_policy(c->env, c->env->trust, x->leaf, h->chain,
	        c->ep->policy_set ? c->ep->policy : c->env->policy, &x->v)) {
		next = D_NOMEM;
	} else if (!h->app_tried &&
	    (h->cert_request || c->obs->have_client_cert ||
	        vfind(&x->v, X509_V_ERR_CERT_NOT_YET_VALID, 0) != NULL ||
	        vfind(&x->v, X509_V_ERR_CERT_HAS_EXPIRED, 0) != NULL)) {
		/* One application-data exchange when it can tell something:
		 * a client certificate was asked for or configured (TLS 1.3
		 * refuses it only after the handshake, RFC 8446 4.4.2.4), or
		 * a date is in question (the server's HTTP Date tells a
		 * wrong clock from a wrong date). */
		c->need->app = true;
		next = D_PENDING;
	}
	return next;
}

/* An inspecting CA the device trusts: the connection works, mutual TLS
 * cannot. */
static void
diag_inspected(struct dctx *c, const char *vendor, X509 *who)
{
	char *label = x_label(who);
	struct dx *d = dx_add_lowered(c->l, "tls_interception", R_WARN,
	    "the connection to %s is inspected by %s "
	    "(\"%s\"); the device trusts it, but mutual TLS "
	    "cannot pass through",
	    c->hp, vendor, label ? label : "?");

	ev_cert(d, "inspecting_ca", who);
	ev_str(d, "vendor", vendor);
	rem(d,
	    "If this service authenticates the device with a "
	    "certificate, exclude %s from SSL inspection",
	    c->ep->host);
	free(label);
}

/* Under the strict policy, the first rule of verify_rules.c the chain
 * breaks (verify --policy strict gives them all). */
static void
diag_policy(struct dctx *c, const struct chainx *x)
{
	json_t *f = json_array_get(x->v.res.rules, 0);
	json_t *ev = json_object_get(f, "evidence");
	const char *code = json_string_value(json_object_get(f, "code"));
	const char *sum = json_string_value(json_object_get(f, "summary"));
	const char *fix = json_string_value(
	    json_array_get(json_object_get(f, "remedies"), 0));
	json_t *by = json_object_get(ev, "refused_by");
	struct dx *d;

	if (code == NULL)
		return;
	d = dx_add(c->l, "chain_invalid", R_INVALID,
	    "the chain of %s breaks the strict policy (%s): %s", c->hp, code,
	    sum != NULL ? sum : "");
	ev_str(d, "policy_code", code);
	ev_str(d, "rule", json_string_value(json_object_get(ev, "rule")));
	if (by != NULL)
		json_object_set(d->evidence, "refused_by", by);
	ev_int(d, "depth", json_integer_value(json_object_get(f, "depth")));
	if (fix != NULL)
		rem(d, "%s", fix);
}

/* The first verify error no other family explains. */
static void
diag_chain_invalid(struct dctx *c, const struct chainx *x)
{
	if (x->v.ne == 0)
		diag_policy(c, x);
	for (int i = 0; i < x->v.ne; i++) {
		int e = x->v.e[i].err;
		struct dx *d;

		if (is_untrusted_err(e) || is_time_err(e) || is_weak_err(e))
			continue;
		d = dx_add(c->l, "chain_invalid", R_INVALID,
		    "the chain of %s is "
		    "invalid: %s (depth %d)",
		    c->hp, err_word(e), x->v.e[i].depth);
		ev_int(d, "verify_error", e);
		ev_str(d, "verify_error_text", err_word(e));
		ev_int(d, "depth", x->v.e[i].depth);
		ev_cert(d, "certificate", x->v.e[i].cert);
		rem(d,
		    "The server's certificate or its CA "
		    "violates RFC 5280 (%s): reissue it "
		    "correctly",
		    err_word(e));
		break;
	}
}

/* Clients known to take the first chain they build and never go back
 * (evidence "fails_in" of alternate_path). */
static const char *const first_chain_clients[] = {
    "OpenSSL 1.0.2 to 3.x (openssl s_client, curl, wget, Python ssl): it "
    "takes the first issuer it finds and never goes back",
    "other TLS stacks that build one chain (many embedded ones)",
};

/* Appends `"label"` of x (and ` (issued by "label")` when `issuer`) to
 * out, after `sep` when out is not empty; stops quietly when full. */
static void
words_add(char *out, size_t size, const char *sep, X509 *x, bool issuer)
{
	size_t n = strlen(out);
	char *l = x_label(x);
	char *il = issuer ? name_label(X509_get_issuer_name(x)) : NULL;
	int w = snprintf(out + n, size - n, "%s\"%s\"%s%s%s", n > 0 ? sep : "",
	    l != NULL ? l : "?", issuer ? " (issued by \"" : "",
	    issuer ? (il != NULL ? il : "?") : "", issuer ? "\")" : "");

	if (w < 0 || (size_t)w >= size - n)
		out[n] = '\0'; /* no half label */
	free(l);
	free(il);
}

/* The chain verifies only through another path than OpenSSL's first
 * (cki_verify_search): clients that do not search fail. Evidence: the
 * path used, the presented certificates left off it, the first path's
 * failure and the clients known to fail. */
static void
diag_alternate(struct dctx *c, const struct chainx *x)
{
	json_t *ev = json_object_get(x->v.res.alternate, "evidence");
	json_t *first = json_object_get(ev, "first_failure");
	json_t *path = json_array(), *off = json_array(), *who = json_array();
	char pw[300] = "", drop[300] = "";
	struct dx *d;

	if (!x->v.ok || x->v.res.alternate == NULL || path == NULL ||
	    off == NULL || who == NULL)
		goto out;
	for (int i = 0; i < sk_X509_num(x->v.built); i++) {
		json_array_append_new(
		    path, cert_ref(sk_X509_value(x->v.built, i)));
		words_add(
		    pw, sizeof(pw), " < ", sk_X509_value(x->v.built, i), false);
	}
	for (int i = 1; i < sk_X509_num(x->presented); i++) {
		X509 *p = sk_X509_value(x->presented, i);

		if (list_has(x->v.built, p))
			continue;
		json_array_append_new(off, cert_ref(p));
		words_add(drop, sizeof(drop), ", ", p, true);
	}
	for (size_t i = 0;
	     i < sizeof(first_chain_clients) / sizeof(first_chain_clients[0]);
	     i++)
		json_array_append_new(who, json_string(first_chain_clients[i]));
	d = dx_add(c->l, "alternate_path", R_WARN,
	    "the chain of %s verifies only through another path, %s, than the "
	    "first one built (which fails: %s at depth %lld); clients that do "
	    "not try other paths fail",
	    c->hp, pw, json_string_value(json_object_get(first, "code")),
	    json_integer_value(json_object_get(first, "depth")));
	json_object_set(d->evidence, "path", path);
	json_object_set(d->evidence, "not_on_path", off);
	json_object_set(
	    d->evidence, "paths_tried", json_object_get(ev, "paths_tried"));
	json_object_set(d->evidence, "first_failure", first);
	json_object_set(d->evidence, "fails_in", who);
	if (drop[0] != '\0')
		rem(d,
		    "Drop %s from the server's chain file: every client then "
		    "builds the path that works",
		    drop);
	else
		rem(d,
		    "Send the chain of the path shown (leaf first, each issuer "
		    "in turn) from the server");
out:
	json_decref(path);
	json_decref(off);
	json_decref(who);
}

/* The name, trust, dates, strength and client authentication of a chain. */
static enum dnext
diag_chain(struct dctx *c, struct chainx *x, const struct cki_hs *h)
{
	enum dnext next = D_REPORT;
	bool chain_ok = x->v.ok, pin_fail = false;
	X509 *who = NULL;
	const char *vendor = chain_vendor(h->chain, &who);

	if (c->ep->npins > 0)
		pin_fail = !pins_match(c->ep, h->chain, x->v.built);
	/* Is the name right? A fallback certificate explains everything
	 * else about this chain. */
	if (!diag_name(c, x) && c->need->nosni) {
		next = D_PENDING;
		goto out;
	}
	if (dxl_has(c->l, "fallback_certificate")) {
		diag_client_auth(c, h);
		goto out;
	}
	if (vfind_untrusted(&x->v) != NULL) {
		explain_untrusted(c, x, pin_fail, vendor, who);
		if (c->need->aia_url[0] != '\0') {
			next = D_PENDING;
			goto out;
		}
	} else if (pin_fail) {
		diag_interception(c, x, vendor, who, true, chain_ok);
	} else if (vendor != NULL && chain_ok) {
		diag_inspected(c, vendor, who);
	}
	if (!x->explained)
		explain_expired_ca(c, x);
	diag_time(c, x);
	diag_weak(c, x);
	diag_chain_invalid(c, x);
	diag_alternate(c, x);
	diag_client_auth(c, h);
	diag_warnings(c, x);
	diag_required_roots(c);
out:
	return next;
}

/* The last findings: a wrong clock explains the dates, and "ok" when
 * nothing is in error. */
static void
diag_conclude(struct dctx *c, const struct chainx *x, const struct cki_hs *h,
    bool have_chain)
{
	if (dxl_has(c->l, "clock_skew") && any_error(c->l)) {
		dxl_drop(c->l, "cert_not_yet_valid");
		dxl_drop(c->l, "cert_expired");
	}
	if (!any_error(c->l) && !dxl_has(c->l, "plain_http")) {
		struct dx *d;
		X509 *top = have_chain && sk_X509_num(x->v.built) > 0
		    ? sk_X509_value(x->v.built, sk_X509_num(x->v.built) - 1)
		    : NULL;
		char *label = top ? x_label(top) : NULL;

		d = dx_add(c->l, "ok", R_INFO,
		    "trusted connection: "
		    "%s, the chain verifies to \"%s\" and the name matches",
		    h->version, label ? label : "?");
		ev_cert(d, "root", top);
		ev_str(d, "trust_store", c->env->trust_source);
		free(label);
	}
}

/* The endpoint's report, or NULL when out of memory. */
static json_t *
diag_report(struct dctx *c, struct chainx *x, bool have_chain)
{
	const struct cki_hs *h = &c->obs->main;
	json_t *out = NULL, *chain = NULL, *tls = NULL;

	if (have_chain) {
		tls = tls_json(h);
		diag_ocsp(c, x, tls);
		chain = chain_json(x, c->env);
	}
	diag_conclude(c, x, h, have_chain);
	if (c->l->nomem || (out = json_object()) == NULL)
		goto out;
	endpoint_head(out, c->ep, c->obs, c->hp, c->is_public);
	json_object_set_new(out, "status", json_string(status_of(c->l)));
	json_object_set_new(out, "diagnosis", dxl_json(c->l));
	json_object_set_new(out, "chain", chain != NULL ? chain : json_array());
	chain = NULL;
	json_object_set_new(out, "tls", tls != NULL ? tls : json_object());
	tls = NULL;
	json_object_set_new(out, "timings_ms", timings_json(c->obs));
out:
	json_decref(chain);
	json_decref(tls);
	return out;
}

json_t *
cki_doc_diagnose(const struct cki_diag_env *env, const struct cki_endpoint *ep,
    struct cki_obs *obs, struct cki_need *need, bool *nomem)
{
	struct dctx c;
	struct dxl l;
	struct chainx x;
	json_t *out = NULL;
	bool have_chain = false;
	enum dnext next;

	memset(need, 0, sizeof(*need));
	memset(&l, 0, sizeof(l));
	memset(&x, 0, sizeof(x));
	c.env = env;
	c.ep = ep;
	c.obs = obs;
	c.need = need;
	c.l = &l;
	c.is_public = ep->expect == CKI_EXPECT_PUBLIC;
	snprintf(c.hp, sizeof(c.hp),
	    strchr(ep->host, ':') ? "[%s]:%u" : "%s:%u", ep->host, ep->port);

	next = diag_connection(&c, &obs->main);
	if (next == D_GO_ON) {
		have_chain = true;
		next = diag_verify(&c, &x, &obs->main);
	}
	if (next == D_GO_ON)
		next = diag_chain(&c, &x, &obs->main);
	if (next == D_REPORT) {
		out = diag_report(&c, &x, have_chain);
		*nomem = out == NULL;
	} else if (next == D_PENDING) {
		/* More evidence first: nothing is reported yet. With no
		 * evidence asked for, that was a lack of memory. */
		*nomem = !need->app && !need->nosni && !need->legacy &&
		    !need->quiet && need->aia_url[0] == '\0';
	} else {
		*nomem = true;
	}
	dxl_free(&l);
	vres_free(&x.v);
	sk_X509_free(x.completion);
	return out;
}

/* ---- across endpoints ---------------------------------------------------- */

static const char *
primary_code(json_t *ep)
{
	json_t *d = json_array_get(json_object_get(ep, "diagnosis"), 0);

	return json_string_value(json_object_get(d, "code"));
}

void
cki_doc_meta_of(json_t *ep, struct cki_doc_meta *m)
{
	const char *code = primary_code(ep);
	const char *st = json_string_value(json_object_get(ep, "status"));

	snprintf(m->code, sizeof(m->code), "%s", code ? code : "");
	snprintf(m->status, sizeof(m->status), "%s", st ? st : "");
	m->has_chain = json_array_size(json_object_get(ep, "chain")) > 0;
}

bool
cki_doc_cross_needed(const struct cki_doc_meta *m, size_t n)
{
	size_t with_chain = 0, nyv = 0, exp = 0;

	for (size_t i = 0; i < n; i++) {
		if (!m[i].has_chain || m[i].code[0] == '\0')
			continue;
		with_chain++;
		if (strcmp(m[i].code, "cert_not_yet_valid") == 0)
			nyv++;
		else if (strcmp(m[i].code, "cert_expired") == 0)
			exp++;
	}
	return with_chain >= 2 && (nyv == with_chain || exp == with_chain);
}

void
cki_doc_cross_check(const struct cki_diag_env *env, json_t *endpoints)
{
	size_t i, with_chain = 0, nyv = 0, exp = 0;
	json_t *ep;

	json_array_foreach(endpoints, i, ep)
	{
		const char *code = primary_code(ep);

		if (json_array_size(json_object_get(ep, "chain")) == 0 ||
		    code == NULL)
			continue;
		with_chain++;
		if (strcmp(code, "cert_not_yet_valid") == 0)
			nyv++;
		else if (strcmp(code, "cert_expired") == 0)
			exp++;
	}
	/* Several endpoints, run by different people, all out of date in
	 * the same direction: it is the device's clock. */
	if (with_chain < 2 || (nyv != with_chain && exp != with_chain))
		return;
	json_array_foreach(endpoints, i, ep)
	{
		json_t *d = json_array_get(json_object_get(ep, "diagnosis"), 0);
		json_t *ev = json_object();
		json_t *rems = json_array();
		char t[32], buf[300];

		if (d == NULL || ev == NULL || rems == NULL) {
			json_decref(ev);
			json_decref(rems);
			continue;
		}
		cki_fmt_time(env->now, t);
		snprintf(buf, sizeof(buf),
		    "the device's clock is wrong (every "
		    "one of the %zu endpoints presents a certificate %s), not "
		    "the certificates: it reads %s",
		    with_chain, nyv ? "not valid yet" : "that has expired", t);
		json_object_set(ev, "was", json_object_get(d, "code"));
		json_object_set(ev, "certificate",
		    json_object_get(
		        json_object_get(d, "evidence"), "certificate"));
		json_object_set_new(ev, "local_time", json_string(t));
		json_object_set_new(ev, "endpoints_affected",
		    json_integer((json_int_t)with_chain));
		json_array_append_new(rems,
		    json_string(
		        "Set the device's "
		        "clock: enable NTP (e.g. timedatectl set-ntp true) and "
		        "check that UDP port 123 is open"));
		json_array_append_new(rems,
		    json_string("A clock that resets "
		                "at power loss needs a new RTC battery"));
		json_object_set_new(d, "code", json_string("clock_skew"));
		json_object_set_new(d, "summary", json_string(buf));
		json_object_set_new(d, "evidence", ev);
		json_object_set_new(d, "remedies", rems);
		json_object_del(d, "commands");
	}
}
