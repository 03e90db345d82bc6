/*
 * identity_check.c: what install checks before it changes anything.
 *
 * Each problem is one finding with a stable code and a severity:
 *
 *   error    never installed, not even with the insecure switch: the
 *            server would not work, or not for the names the admin
 *            configured
 *   warning  installed only with ck_identity_set_insecure_accept_warnings
 *            (--insecure-accept-warnings): some clients may fail
 *   info     said, never blocks
 *
 *   code                        sev      why
 *   key_mismatch                error    the key is not the certificate's
 *   leaf_is_ca                  error    a CA certificate is no server's
 *   expired / not_yet_valid     error    RFC 5280 section 4.1.2.5
 *   expires_soon                warning  under 30 days left
 *   no_san                      error    names only in the CN: current
 *                                        clients ignore the CN (RFC 6125
 *                                        section 6.4.4; CA/B BR 7.1.4.2)
 *   name_not_covered            error    a configured name or address
 *   detected_name_not_covered   warning  a detected one (a new DHCP lease
 *                                        should not block an install)
 *   eku_no_server_auth          error    RFC 5280 section 4.2.1.12
 *   eku_no_client_auth          error    the same, for a client identity
 *                                        (which skips the name checks)
 *   ku_no_digital_signature     error    RFC 8446 section 4.4.2.4 (RSA
 *                                        with keyEncipherment: warning,
 *                                        TLS 1.2 RSA key exchange only)
 *   weak_key                    error    RSA < 2048, EC < 256, DSA
 *   weak_signature              error    MD5 / SHA-1 on the leaf or an
 *                                        intermediate (a root's own
 *                                        signature is never checked)
 *   bad_signature               error    an issuer was given, but its key
 *                                        does not verify the signature
 *   chain_incomplete            warning  an issuer was found nowhere
 *   chain_invalid               error    OpenSSL's verifier rejects the
 *                                        chain built (e.g. an expired
 *                                        intermediate), and every other
 *                                        path (verify_path.h)
 *   alternate_path              info     the chain built fails, another
 *                                        path is valid: it is installed
 *                                        (a cross-sign to an expired root)
 *   unrelated_certificate       warning  given, but not in the chain:
 *                                        left out
 *   chain_completed             info     an issuer came from a store
 *   chain_reordered             info     given out of order (identity.c)
 *   crlf_input                  info     CRLF line ends (identity.c)
 *   self_signed                 info     clients must trust it directly
 *
 * The chain is built leaf upwards: each issuer is looked for first among
 * the certificates given, then in the device's trust store output
 * (HOME/trust/out/ca-bundle.pem), then in the system store
 * ($SSL_CERT_FILE, else OpenSSL's default file). A candidate is an issuer
 * when the names and key identifiers match and its key verifies the
 * signature (RFC 5280 section 6.1.3).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "identity_int.h"
#include "reference_int.h"
#include "verify_int.h"

#define MAX_DEPTH 10
#define SOON_DAYS 30

static void
vfinding(struct cki_idfindings *f, enum cki_severity sev, const char *code,
    const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (sev == CKI_SEV_ERROR)
		f->errors++;
	else if (sev == CKI_SEV_WARNING)
		f->warnings++;
	json_array_append_new(f->arr,
	    cki_finding_new(CKI_REPORT_IDENTITY, code, sev == CKI_SEV_WARNING,
	        msg, NULL, CKI_OLD_MESSAGE));
}

void
cki_finding(struct cki_idfindings *f, const char *code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfinding(
	    f, cki_code_severity(CKI_REPORT_IDENTITY, code), code, fmt, ap);
	va_end(ap);
}

void
cki_finding_lowered(
    struct cki_idfindings *f, const char *code, const char *fmt, ...)
{
	const struct cki_code *c = cki_code_find(CKI_REPORT_IDENTITY, code);
	va_list ap;

	va_start(ap, fmt);
	vfinding(f, c != NULL && c->lowerable ? CKI_SEV_WARNING : CKI_SEV_ERROR,
	    code, fmt, ap);
	va_end(ap);
}

const char *
cki_kind_of(X509 *leaf)
{
	return X509_self_signed(leaf, 1) == 1 ? CKI_KIND_SELF : CKI_KIND_CA;
}

/* "CN" else the one-line subject, for messages. An empty CN is no CN
 * (cki_x509_common_name), so it never shows as "". */
static void
label(X509 *x, char *out, size_t size)
{
	char *cn = cki_x509_common_name(x);
	char *one =
	    cn != NULL ? cn : cki_name_oneline(X509_get_subject_name(x));

	snprintf(out, size, "\"%s\"", one != NULL ? one : "?");
	free(one);
}

static STACK_OF(X509) * load_pem_file(const char *path)
{
	STACK_OF(X509) *sk = NULL;
	BIO *b;
	X509 *x;

	if (path == NULL || access(path, R_OK) != 0)
		return NULL;
	if ((b = BIO_new_file(path, "r")) == NULL)
		return NULL;
	if ((sk = sk_X509_new_null()) != NULL)
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(sk, x))
				X509_free(x);
	ERR_clear_error();
	BIO_free(b);
	return sk;
}

static X509 *
find_issuer(STACK_OF(X509) * pool, X509 *x, X509 *skip)
{
	for (int i = 0; i < sk_X509_num(pool); i++) {
		X509 *c = sk_X509_value(pool, i);

		if (c != skip && X509_cmp(c, x) != 0 &&
		    cki_x509_issued_by(x, c))
			return c;
	}
	return NULL;
}

/* A certificate named as x's issuer whose signature check fails. */
static X509 *
named_issuer(STACK_OF(X509) * pool, X509 *x, X509 *skip)
{
	for (int i = 0; i < sk_X509_num(pool); i++) {
		X509 *c = sk_X509_value(pool, i);

		if (c != skip && X509_check_issued(c, x) == X509_V_OK &&
		    !cki_x509_issued_by(x, c))
			return c;
	}
	return NULL;
}

static bool
is_root(X509 *x)
{
	return X509_self_signed(x, 1) == 1;
}

static bool
weak_md(int mdnid)
{
	return mdnid == NID_md5 || mdnid == NID_sha1 || mdnid == NID_md4 ||
	    mdnid == NID_md2 || mdnid == NID_md5_sha1;
}

static void
check_signature(struct cki_idfindings *f, X509 *x, const char *what)
{
	int mdnid = NID_undef, pknid = NID_undef, secbits = -1;
	uint32_t flags = 0;
	char l[300];

	if (!X509_get_signature_info(x, &mdnid, &pknid, &secbits, &flags))
		return;
	if (weak_md(mdnid)) {
		label(x, l, sizeof(l));
		cki_finding(f, "weak_signature",
		    "%s %s is signed with %s, which clients reject (collisions "
		    "are practical); ask the CA to reissue it with SHA-256",
		    what, l, OBJ_nid2sn(mdnid));
	}
}

static void
check_key(struct cki_idfindings *f, X509 *leaf)
{
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	char desc[64];
	int id, bits;

	if (pk == NULL)
		return;
	id = EVP_PKEY_get_base_id(pk);
	bits = EVP_PKEY_get_bits(pk);
	cki_key_desc(pk, desc, sizeof(desc));
	/* NIST SP 800-131A rev. 2: 112-bit security at least, whatever the
	 * key type (RSA-PSS included). */
	if (EVP_PKEY_get_security_bits(pk) < 112 ||
	    (id == EVP_PKEY_EC && bits < 256) || id == EVP_PKEY_DSA)
		cki_finding(f, "weak_key",
		    "the certificate's key is %s; at least RSA 2048 or EC "
		    "P-256 is needed (clients at OpenSSL security level 2 "
		    "refuse it): make a new CSR with certkit identity csr",
		    desc);
}

static void
check_usage(struct cki_idfindings *f, X509 *leaf, bool client)
{
	uint32_t ex = X509_get_extension_flags(leaf);
	bool rsa = EVP_PKEY_get_base_id(X509_get0_pubkey(leaf)) == EVP_PKEY_RSA;

	if ((ex & EXFLAG_CA) && X509_check_ca(leaf) != 0)
		cki_finding(f, "leaf_is_ca",
		    "the certificate is a CA certificate (basicConstraints "
		    "CA:TRUE), not a server certificate: was the CA's own "
		    "certificate given as the server's?");
	/* RFC 5280 section 4.2.1.12: when EKU is present, it limits use. */
	if (client && (ex & EXFLAG_XKUSAGE) &&
	    !(X509_get_extended_key_usage(leaf) &
	        (XKU_SSL_CLIENT | XKU_ANYEKU)))
		cki_finding(f, "eku_no_client_auth",
		    "the certificate's extended key usage lacks clientAuth; "
		    "the primary refuses it for a client: ask for a TLS "
		    "client certificate");
	else if (!client && (ex & EXFLAG_XKUSAGE) &&
	    !(X509_get_extended_key_usage(leaf) &
	        (XKU_SSL_SERVER | XKU_ANYEKU)))
		cki_finding(f, "eku_no_server_auth",
		    "the certificate's extended key usage lacks serverAuth; "
		    "clients refuse it for a server: ask the CA for a TLS "
		    "server certificate");
	if ((ex & EXFLAG_KUSAGE) &&
	    !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE)) {
		if (rsa && (X509_get_key_usage(leaf) & KU_KEY_ENCIPHERMENT))
			cki_finding_lowered(f, "ku_no_digital_signature",
			    "the certificate's key usage lacks "
			    "digitalSignature: only TLS 1.2 RSA key exchange "
			    "works, TLS 1.3 and ECDHE clients fail");
		else
			cki_finding(f, "ku_no_digital_signature",
			    "the certificate's key usage lacks "
			    "digitalSignature, which a TLS server key needs "
			    "(RFC 8446 section 4.4.2.4)");
	}
}

static void
check_validity(ck_identity *id, struct cki_idfindings *f, X509 *leaf)
{
	int64_t nb = 0, na = 0, now = (int64_t)cki_now(id->ctx);
	char t[32];

	cki_asn1_time(X509_get0_notBefore(leaf), &nb);
	cki_asn1_time(X509_get0_notAfter(leaf), &na);
	if (now < nb) {
		cki_fmt_time(nb, t);
		cki_finding(f, "not_yet_valid",
		    "the certificate is not valid before %s; check this "
		    "device's clock (date -u) or wait",
		    t);
	} else if (now > na) {
		cki_fmt_time(na, t);
		cki_finding(f, "expired",
		    "the certificate expired on %s; ask the CA for a new one",
		    t);
	} else if (na - now < SOON_DAYS * 86400LL) {
		cki_fmt_time(na, t);
		cki_finding(f, "expires_soon",
		    "the certificate expires on %s, in %lld days", t,
		    (long long)((na - now) / 86400));
	}
}

static void
check_names(struct cki_idfindings *f, X509 *leaf, const struct cki_names *n)
{
	struct cki_strlist dns = {0}, ip = {0};

	(void)cki_san_lists(leaf, &dns, &ip);
	if (dns.n + ip.n == 0) {
		cki_finding(f, "no_san",
		    "the certificate has no subject alternative names; "
		    "clients ignore the CN (RFC 6125 section 6.4.4, and every "
		    "current browser), so it matches no name: ask the CA to "
		    "put the names in the SAN");
		goto out;
	}
	for (size_t i = 0; i < n->dns.n; i++) {
		bool conf = i < n->nconf_dns;

		if (cki_covers_dns(leaf, n->dns.v[i]))
			continue;
		cki_finding(f,
		    conf ? "name_not_covered" : "detected_name_not_covered",
		    "the certificate does not cover the %s name %s; clients "
		    "that use it will fail%s",
		    conf ? "configured" : "detected", n->dns.v[i],
		    conf ? " (remove it from names "
		           "in certkit.conf, or get a certificate with it)"
		         : "");
	}
	for (size_t i = 0; i < n->ip.n; i++) {
		bool conf = i < n->nconf_ip;

		if (cki_covers_ip(leaf, n->ip.v[i]))
			continue;
		cki_finding(f,
		    conf ? "name_not_covered" : "detected_name_not_covered",
		    "the certificate does not cover the %s address %s; "
		    "clients that connect to it will fail%s",
		    conf ? "configured" : "detected", n->ip.v[i],
		    conf ? " (remove "
		           "it from ips in certkit.conf, or get a certificate "
		           "with "
		           "it)"
		         : "");
	}
out:
	cki_strlist_clear(&dns);
	cki_strlist_clear(&ip);
}

/* Under the strict policy (ck_identity_set_policy), the first rule of
 * verify_rules.c the chain breaks. */
static void
policy_finding(struct cki_idfindings *f, json_t *rules)
{
	json_t *r = json_array_get(rules, 0);
	const char *code = json_string_value(json_object_get(r, "code"));
	const char *sum = json_string_value(json_object_get(r, "summary"));

	if (code != NULL)
		cki_finding(f, "chain_invalid",
		    "the chain breaks the strict policy (%s): %s", code,
		    sum != NULL ? sum : "");
}

/* Where a missing issuer is looked for, in this order; loaded on first
 * need. The reference roots are borrowed (reference.c owns them): sk[2]
 * is a shallow copy of that stack. */
struct issuer_stores {
	ck_identity *id;
	bool loaded;
	STACK_OF(X509) * sk[3];
};

static const char *const store_name[3] = {"the device's trust store",
    "the system store",
    "certkit's reference roots (Mozilla's, embedded at build time)"};

static void
stores_load(struct issuer_stores *st)
{
	char trustp[CKI_PATH];
	const char *sys = getenv("SSL_CERT_FILE");

	st->loaded = true;
	if (cki_id_path(st->id, trustp, "../trust/out/ca-bundle.pem") == CK_OK)
		st->sk[0] = load_pem_file(trustp);
	st->sk[1] =
	    load_pem_file(sys != NULL ? sys : X509_get_default_cert_file());
	st->sk[2] = sk_X509_dup(cki_reference_certs());
}

static void
stores_free(struct issuer_stores *st)
{
	sk_X509_pop_free(st->sk[0], X509_free);
	sk_X509_pop_free(st->sk[1], X509_free);
	sk_X509_free(st->sk[2]); /* borrowed certificates */
}

/* Is this very certificate in l? */
static bool
in_list(STACK_OF(X509) * l, X509 *x)
{
	for (int i = 0; i < sk_X509_num(l); i++)
		if (X509_cmp(sk_X509_value(l, i), x) == 0)
			return true;
	return false;
}

/* Is this certificate, or another of the same CA (subject and key), on
 * m's chain? */
static bool
ca_on_chain(const struct cki_material *m, X509 *x)
{
	for (int i = -1; i < sk_X509_num(m->chain); i++) {
		X509 *c = i < 0 ? m->root : sk_X509_value(m->chain, i);

		if (c != NULL &&
		    X509_NAME_cmp(X509_get_subject_name(c),
		        X509_get_subject_name(x)) == 0 &&
		    EVP_PKEY_eq(X509_get0_pubkey(c), X509_get0_pubkey(x)) == 1)
			return true;
	}
	return false;
}

/*
 * The other paths' material: every self-signed certificate of m's chain,
 * the files given and the issuer stores is an anchor (build_chain takes a
 * root from any of them), besides `anchor`, the first run's; every other
 * certificate is a candidate intermediate, m's chain first. False when out
 * of memory.
 */
static bool
path_material(const struct cki_material *m, STACK_OF(X509) * given,
    struct issuer_stores *st, X509 *anchor, X509_STORE *anchors,
    STACK_OF(X509) * cands)
{
	STACK_OF(X509) * lists[5] = {m->chain, given, NULL, NULL, NULL};
	bool ok = X509_STORE_add_cert(anchors, anchor) == 1;

	if (!st->loaded)
		stores_load(st);
	for (int s = 0; s < 3; s++)
		lists[2 + s] = st->sk[s];
	for (int l = 0; ok && l < 5; l++)
		for (int i = 0; ok && i < sk_X509_num(lists[l]); i++) {
			X509 *x = sk_X509_value(lists[l], i);

			if (X509_cmp(x, m->leaf) == 0 || in_list(cands, x))
				continue;
			ok = is_root(x) ? X509_STORE_add_cert(anchors, x) == 1
			                : sk_X509_push(cands, x) > 0;
		}
	ERR_clear_error(); /* duplicates in the store are not errors */
	return ok;
}

/* m's chain and root become those of `chain` (leaf first, as verified):
 * the intermediates, and the top when it is self-signed. False when out of
 * memory (m unchanged). */
static bool
adopt_path(struct cki_material *m, STACK_OF(X509) * chain)
{
	STACK_OF(X509) *nc = sk_X509_new_null();
	int n = sk_X509_num(chain);
	X509 *top = n > 1 ? sk_X509_value(chain, n - 1) : NULL;
	int last = top != NULL && is_root(top) ? n - 1 : n;

	if (nc == NULL || (last < n && !X509_up_ref(top)))
		goto err;
	for (int i = 1; i < last; i++) {
		X509 *x = sk_X509_value(chain, i);

		if (!X509_up_ref(x))
			goto err;
		if (!sk_X509_push(nc, x)) {
			X509_free(x);
			goto err;
		}
	}
	sk_X509_pop_free(m->chain, X509_free);
	X509_free(m->root);
	m->chain = nc;
	m->root = last < n ? top : NULL;
	return true;
err:
	if (last < n && top != NULL && nc != NULL)
		X509_free(top);
	sk_X509_pop_free(nc, X509_free);
	return false;
}

/*
 * The info finding alternate_path, after adopt_path(): the first chain's
 * failure `first`, the chain installed (evidence "path", SHA-256 digests
 * leaf first, as verify's), the certificates given that it leaves out, and
 * chain_completed said again for the certificates of the new path that
 * come from the stores (the first chain's are dropped).
 */
static void
alternate_finding(struct cki_idfindings *f, const struct cki_material *m,
    STACK_OF(X509) * given, struct issuer_stores *st,
    const struct cki_verify_result *res, const struct cki_verify_err *first)
{
	char pw[600] = "", lo[400] = "", l[300], fl[300] = "?", msg[1400];
	json_t *ev = json_object_get(res->alternate, "evidence");
	json_t *path = json_array(), *out = json_array(), *fd;
	char *iss;

	for (size_t i = json_array_size(f->arr); i-- > 0;) {
		const char *c = json_string_value(
		    json_object_get(json_array_get(f->arr, i), "code"));

		if (c != NULL && strcmp(c, "chain_completed") == 0)
			json_array_remove(f->arr, i);
	}
	for (int i = 0; path != NULL && i < sk_X509_num(res->chain); i++) {
		X509 *x = sk_X509_value(res->chain, i);
		char fp[65];

		cki_x509_fp(x, fp);
		json_array_append_new(path, json_string(fp));
		label(x, l, sizeof(l));
		snprintf(pw + strlen(pw), sizeof(pw) - strlen(pw), "%s%s",
		    i > 0 ? " < " : "", l);
		for (int src = 0; i > 0 && src < 3; src++)
			if (!in_list(given, x) && in_list(st->sk[src], x)) {
				char bl[300];

				label(sk_X509_value(res->chain, i - 1), bl,
				    sizeof(bl));
				cki_finding(f, "chain_completed",
				    "the issuer of %s, %s, was taken from %s",
				    bl, l, store_name[src]);
				break;
			}
	}
	for (int i = 0; out != NULL && i < sk_X509_num(given); i++) {
		X509 *x = sk_X509_value(given, i);
		char fp[65];

		if (X509_cmp(x, m->leaf) == 0 || in_list(res->chain, x))
			continue;
		cki_x509_fp(x, fp);
		json_array_append_new(out, json_string(fp));
		label(x, l, sizeof(l));
		iss = cki_name_oneline(X509_get_issuer_name(x));
		snprintf(lo + strlen(lo), sizeof(lo) - strlen(lo),
		    "%s%s (issued by \"%s\")",
		    lo[0] != '\0' ? ", " : "; left out: ", l,
		    iss != NULL ? iss : "?");
		free(iss);
	}
	if (first->cert != NULL)
		label(first->cert, fl, sizeof(fl));
	snprintf(msg, sizeof(msg),
	    "the chain first built fails at certificate %d %s (%s); another "
	    "path is valid and is installed: %s%s",
	    first->depth + 1, fl, X509_verify_cert_error_string(first->err), pw,
	    lo);
	fd = cki_finding_new(CKI_REPORT_IDENTITY, "alternate_path", false, msg,
	    NULL, CKI_OLD_MESSAGE);
	/* cki_finding_evidence() takes its value even when it fails. */
	if (fd != NULL &&
	    (cki_finding_evidence(fd, "path", json_incref(path)) != 0 ||
	        cki_finding_evidence(fd, "left_out", json_incref(out)) != 0 ||
	        cki_finding_evidence(fd, "paths_tried",
	            json_incref(json_object_get(ev, "paths_tried"))) != 0 ||
	        cki_finding_evidence(fd, "first_failure",
	            json_pack("{s:s, s:i}", "code", cki_verify_code(first->err),
	                "depth", first->depth)) != 0 ||
	        json_array_append_new(f->arr, fd) != 0))
		json_decref(fd);
	json_decref(path);
	json_decref(out);
}

/*
 * The first chain built fails at `first`: the other paths through
 * everything build_chain could take (cki_verify_search). When one is
 * valid, it becomes m's chain (installed as fullchain), with the finding
 * alternate_path. True then.
 */
static bool
other_path(struct cki_idfindings *f, struct cki_material *m,
    STACK_OF(X509) * given, struct issuer_stores *st, X509 *anchor,
    const struct cki_verify_params *p, const struct cki_verify_err *first)
{
	X509_STORE *anchors = X509_STORE_new();
	STACK_OF(X509) *cands = sk_X509_new_null();
	struct cki_verify_result res = {0};
	bool adopted = false;

	if (anchors == NULL || cands == NULL ||
	    !path_material(m, given, st, anchor, anchors, cands) ||
	    cki_verify_search(NULL, anchors, m->leaf, cands, p, false, &res) !=
	        CK_OK ||
	    !res.ok || !adopt_path(m, res.chain))
		goto out;
	alternate_finding(f, m, given, st, &res, first);
	adopted = true;
out:
	cki_verify_result_clear(&res);
	sk_X509_free(cands); /* borrowed certificates */
	X509_STORE_free(anchors);
	ERR_clear_error();
	return adopted;
}

/*
 * The verify module's verdict (cki_verify_run) on the chain built, at the
 * context's time, for a TLS server, at CKI_VERIFY_SECURITY_LEVEL: it
 * covers every certificate of the chain, not only the leaf checked above,
 * so a weak intermediate is refused. Without a root, the top of the chain
 * is the anchor (partial chain). The first error is the reason, unless
 * another path is valid (other_path: then *alt). Under the strict policy
 * the other path must keep its rules too.
 */
static void
verify_chain(ck_identity *id, struct cki_idfindings *f, struct cki_material *m,
    STACK_OF(X509) * given, struct issuer_stores *stores, bool *alt)
{
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	struct cki_verify_result res = {0};
	X509_STORE *st = X509_STORE_new();
	X509 *anchor = m->root != NULL ? m->root
	    : sk_X509_num(m->chain) > 0
	    ? sk_X509_value(m->chain, sk_X509_num(m->chain) - 1)
	    : m->leaf;
	const struct cki_verify_err *e;
	char l[300] = "?";

	*alt = false;
	p.time = (int64_t)cki_now(id->ctx);
	p.purpose = CK_PURPOSE_SERVER;
	p.partial_chain = m->root == NULL;
	p.policy = id->policy;
	/* No ctx: a failure to verify is no finding and no error of the
	 * install (as before: the checks above stand). */
	if (st == NULL || !X509_STORE_add_cert(st, anchor) ||
	    cki_verify_run(NULL, st, m->leaf, m->chain, &p, false, &res) !=
	        CK_OK)
		goto out;
	if (res.ok)
		goto out;
	if (res.nerr == 0) {
		policy_finding(f, res.rules);
		goto out;
	}
	e = &res.err[0];
	/* The leaf's own time and usage problems are reported above with
	 * better words. */
	if (e->depth == 0 &&
	    (e->err == X509_V_ERR_CERT_HAS_EXPIRED ||
	        e->err == X509_V_ERR_CERT_NOT_YET_VALID ||
	        e->err == X509_V_ERR_INVALID_PURPOSE))
		goto out;
	if ((*alt = other_path(f, m, given, stores, anchor, &p, e)))
		goto out;
	if (e->cert != NULL)
		label(e->cert, l, sizeof(l));
	cki_finding(f, "chain_invalid",
	    "the chain does not verify at certificate %d %s: %s", e->depth + 1,
	    l, X509_verify_cert_error_string(e->err));
out:
	cki_verify_result_clear(&res);
	X509_STORE_free(st);
	ERR_clear_error();
}

/* The checks of the leaf alone. */
static void
check_leaf(ck_identity *id, const struct cki_material *m,
    const struct cki_names *n, struct cki_idfindings *f)
{
	if (!X509_check_private_key(m->leaf, m->key)) {
		ERR_clear_error();
		cki_finding(f, "key_mismatch",
		    "the private key (%s) does not belong to the certificate "
		    "(their public keys differ): give the key the CSR was "
		    "made with",
		    f->key_from != NULL ? f->key_from : "given");
	}
	check_validity(id, f, m->leaf);
	check_usage(f, m->leaf, id->client);
	check_key(f, m->leaf);
	check_signature(f, m->leaf, "the certificate");
	/* A client identity carries the names the primary's admin approved,
	 * which need not be all of the device's. */
	if (!id->client)
		check_names(f, m->leaf, n);
}

/* The issuer of CUR that the files given lack: from the stores (said as
 * chain_completed), or NULL with the finding that says why. */
static X509 *
complete_issuer(struct issuer_stores *st, STACK_OF(X509) * given, X509 *cur,
    X509 *leaf, struct cki_idfindings *f)
{
	char l[300], il[300];
	X509 *iss = NULL;
	char *in;
	int src;

	if (!st->loaded)
		stores_load(st);
	for (src = 0; src < 3 && iss == NULL; src++)
		if (st->sk[src] != NULL &&
		    (iss = find_issuer(st->sk[src], cur, NULL)) != NULL)
			break;
	label(cur, l, sizeof(l));
	if (iss != NULL) {
		label(iss, il, sizeof(il));
		cki_finding(f, "chain_completed",
		    "the issuer of %s, %s, was taken from %s", l, il,
		    store_name[src]);
		return iss;
	}
	if ((iss = named_issuer(given, cur, leaf)) != NULL) {
		/* RFC 5280 section 6.1.3 (a)(1): the name matches, the
		 * signature does not. */
		label(iss, il, sizeof(il));
		cki_finding(f, "bad_signature",
		    "the signature on %s does not verify with the key of its "
		    "issuer %s: the file is damaged, or the certificate was "
		    "altered",
		    l, il);
		return NULL;
	}
	in = cki_name_oneline(X509_get_issuer_name(cur));
	cki_finding(f, "chain_incomplete",
	    "the issuer of %s, \"%s\", was found neither in the files given "
	    "nor in the trust store, the system store or certkit's reference "
	    "roots: clients that lack it will fail; give it in the chain file",
	    l, in != NULL ? in : "?");
	free(in);
	return NULL;
}

/* Builds m->chain (and m->root) from the leaf upwards. */
static ck_status
build_chain(ck_identity *id, struct cki_material *m, STACK_OF(X509) * given,
    struct issuer_stores *st, struct cki_idfindings *f)
{
	X509 *cur, *iss;
	ck_status rv = CK_OK;

	for (cur = m->leaf; sk_X509_num(m->chain) < MAX_DEPTH; cur = iss) {
		if ((iss = find_issuer(given, cur, m->leaf)) == NULL &&
		    (iss = complete_issuer(st, given, cur, m->leaf, f)) == NULL)
			break;
		if (!X509_up_ref(iss)) {
			rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
			break;
		}
		if (is_root(iss)) {
			m->root = iss;
			break;
		}
		if (!sk_X509_push(m->chain, iss)) {
			X509_free(iss);
			rv = cki_err(id->ctx, CK_E_NOMEM, "out of memory");
			break;
		}
		check_signature(f, iss, "the intermediate");
	}
	return rv;
}

/* Every certificate given that is not in the chain; after an alternate
 * path (alt), not another certificate of a CA on it: alternate_path says
 * it is left out, and why. */
static void
note_unrelated(const struct cki_material *m, STACK_OF(X509) * given,
    struct cki_idfindings *f, bool alt)
{
	char l[300];

	for (int i = 0; i < sk_X509_num(given); i++) {
		X509 *x = sk_X509_value(given, i);
		bool in = X509_cmp(x, m->leaf) == 0 ||
		    (m->root != NULL && X509_cmp(x, m->root) == 0);

		for (int j = 0; !in && j < sk_X509_num(m->chain); j++)
			in = X509_cmp(x, sk_X509_value(m->chain, j)) == 0;
		if (!in && !(alt && ca_on_chain(m, x))) {
			label(x, l, sizeof(l));
			cki_finding(f, "unrelated_certificate",
			    "certificate %s was given but is not part of the "
			    "chain; it is left out",
			    l);
		}
	}
}

ck_status
cki_check_material(ck_identity *id, struct cki_material *m,
    STACK_OF(X509) * given, const struct cki_names *n, struct cki_idfindings *f)
{
	struct issuer_stores st = {.id = id};
	ck_status rv = CK_OK;
	bool alt = false;

	check_leaf(id, m, n, f);
	if ((m->chain = sk_X509_new_null()) == NULL)
		return cki_err(id->ctx, CK_E_NOMEM, "out of memory");
	if (is_root(m->leaf)) {
		cki_finding(f, "self_signed",
		    "the certificate is self-signed: clients must trust this "
		    "certificate itself");
	} else {
		if ((rv = build_chain(id, m, given, &st, f)) != CK_OK)
			goto out;
		verify_chain(id, f, m, given, &st, &alt);
	}
	note_unrelated(m, given, f, alt);
out:
	stores_free(&st);
	return rv;
}
