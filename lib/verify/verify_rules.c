/*
 * verify_rules.c: the RFC 5280 and CA/Browser Forum Baseline Requirements
 * rules OpenSSL 3.0 leaves unchecked, which Chrome, Go's crypto/x509,
 * rustls/webpki, Java or Python (OpenSSL's X509_STRICT) enforce.
 *
 *   chain as OpenSSL built it (leaf first), params, CRLs
 *        │
 *        ▼
 *   check_cert() per certificate, check_leaf(), check_top(), check_crls()
 *        │ a rule broken
 *        ▼
 *   one finding per (rule, certificate): its own code (codes.c), the
 *   section it comes from, a one-line reason, the clients known to refuse
 *   it (evidence "refused_by") and what to do
 *
 * Invariants:
 *  1. Under CK_POLICY_STRICT every finding is an error and makes the
 *     verdict invalid (cki_verify_chain); under CK_POLICY_COMPAT the same
 *     findings are warnings (the codes' lowerable form) and the verdict is
 *     OpenSSL's alone. leaf_no_eku is reported under STRICT only.
 *  2. The rules read the certificates only; they never change what OpenSSL
 *     decided about the chain, they add to it.
 *  3. The section of the RFC or the BR a rule comes from is cited at the
 *     line that checks it, and is the finding's evidence "rule".
 *  4. The public suffix list is read at run time, only when a leaf has a
 *     wildcard name, from CERTKIT_PUBLIC_SUFFIX_LIST or Debian's
 *     publicsuffix package; missing, it is an error (CK_E_NOTFOUND), never
 *     a silent pass.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ck_internal.h"
#include "strbuf.h"
#include "verify_int.h"

/* Who refuses what (evidence "refused_by"), as far as known. */
#define CHROME "Chrome"
#define GO "Go crypto/x509"
#define RUSTLS "rustls/webpki"
#define JAVA "Java"
#define PYTHON "Python 3.13 ssl (X509_STRICT)"

struct rules {
	ck_ctx *ctx;
	const struct cki_verify_params *p;
	STACK_OF(X509) * chain;
	json_t *findings;
	size_t broken;
	bool strict;
	bool nomem;
	ck_status st;    /* an error that is not a finding (public suffixes) */
	unsigned report; /* CKI_REPORT_VERIFY, or CKI_REPORT_SHOW (one
	                    certificate of a bundle: ck_rules_check) */
	size_t index;    /* SHOW: the certificate's index, from 1 */
	int root;        /* SHOW: 1 the certificate is a root, 0 not; -1
	                    (VERIFY): the top of the chain may be one */
};

/* One rule broken: what a finding needs besides the certificate. */
struct broken {
	const char *code;
	const char *rule;       /* "RFC 5280 4.2.1.2" */
	const char *refused[5]; /* NULL-terminated */
	const char *reason;     /* one line, may hold escaped names */
	const char *remedy;
};

/* ---- the findings ------------------------------------------------------- */

static json_t *
refused_json(const struct broken *b, struct cki_sb *words)
{
	json_t *arr = json_array();
	size_t n = 0;

	while (n < 5 && b->refused[n] != NULL)
		n++;
	for (size_t i = 0; arr != NULL && i < n; i++) {
		json_array_append_new(arr, json_string(b->refused[i]));
		cki_sb_printf(words, "%s%s",
		    i == 0           ? ""
		        : i + 1 == n ? " and "
		                     : ", ",
		    b->refused[i]);
	}
	return arr;
}

/* The keys a verify finding has about its certificate. */
static int
verify_keys(json_t *f, int depth, X509 *x)
{
	char *sub =
	    x != NULL ? cki_name_oneline(X509_get_subject_name(x)) : NULL;
	char fp[65] = "";
	ck_cert c = {x};
	int bad = 0;

	if (x != NULL)
		ck_cert_sha256(&c, fp);
	bad |= json_object_set_new(f, "depth", json_integer(depth));
	bad |= json_object_set_new(
	    f, "subject", cki_json_str(sub != NULL ? sub : ""));
	bad |= json_object_set_new(f, "sha256", json_string(fp));
	free(sub);
	return bad;
}

/* The summary: show's names the certificate by index and label first. */
static void
summary(const struct rules *r, const struct broken *b, X509 *x,
    const struct cki_sb *who, struct cki_sb *sum)
{
	if (r->report == CKI_REPORT_SHOW) {
		ck_cert c = {x};
		char *label = ck_cert_label(&c);

		cki_sb_printf(sum, "certificate %zu \"%s\": ", r->index,
		    label != NULL ? label : "?");
		ck_free(label);
	}
	if (who->n > 0)
		cki_sb_printf(sum, "%s refuse%s this certificate: %s.", who->p,
		    b->refused[1] == NULL ? "s" : "", b->reason);
	else
		cki_sb_printf(sum, "%s.", b->reason);
	cki_sb_printf(sum, " (%s)", b->rule);
}

/* Adds the finding for `b` about x at depth (x NULL: about no certificate;
 * never under SHOW). */
static void
emit(struct rules *r, const struct broken *b, int depth, X509 *x)
{
	struct cki_sb who = CKI_SB_INIT(CKI_SB_MSG_MAX);
	struct cki_sb sum = CKI_SB_INIT(CKI_SB_MSG_MAX);
	json_t *refused = refused_json(b, &who), *f = NULL;
	bool show = r->report == CKI_REPORT_SHOW;
	int bad = refused == NULL;

	summary(r, b, x, &who, &sum);
	if (!bad && !sum.failed)
		f = cki_finding_new(r->report, b->code, !r->strict, sum.p,
		    b->remedy,
		    CKI_OLD_MESSAGE | (show ? CKI_OLD_FIX : CKI_OLD_REMEDY));
	bad |= f == NULL;
	if (!bad) {
		/* show: the certificate in evidence and under its own key,
		 * as show's other findings have it (lib/pki/chain.c). */
		bad |= show ? cki_finding_evidence(f, "certificates",
		                  json_pack("[I]", (json_int_t)r->index))
		            : verify_keys(f, depth, x);
		bad |= cki_finding_evidence(f, "rule", json_string(b->rule));
		bad |= cki_finding_evidence(f, "refused_by", refused);
		refused = NULL;
		bad |= cki_finding_evidence(
		    f, "policy", json_string(r->strict ? "strict" : "compat"));
		if (show)
			bad |= json_object_set_new(f, "certificates",
			    json_pack("[I]", (json_int_t)r->index));
		bad |= json_array_append_new(r->findings, f);
		f = NULL;
	}
	if (bad)
		r->nomem = true;
	else
		r->broken++;
	json_decref(refused);
	json_decref(f);
	cki_sb_free(&who);
	cki_sb_free(&sum);
}

/* ---- reading certificates ----------------------------------------------- */

static bool
is_self_signed(X509 *x)
{
	return (X509_get_extension_flags(x) & EXFLAG_SS) != 0;
}

static bool
is_ca(X509 *x)
{
	return (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
}

/* -1: the extension is absent; else 1 when critical, 0 when not. */
static int
ext_critical(X509 *x, int nid)
{
	int loc = X509_get_ext_by_NID(x, nid, -1);

	return loc < 0 ? -1 : X509_EXTENSION_get_critical(X509_get_ext(x, loc));
}

/* The top of the chain is a root when it names itself its issuer (its
 * AKI may be what makes OpenSSL doubt it is self-signed: root_aki). */
static bool
is_root(const struct rules *r, int depth, X509 *x)
{
	if (r->root >= 0)
		return r->root == 1;
	return depth == sk_X509_num(r->chain) - 1 && depth > 0 &&
	    X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) ==
	    0;
}

/* ---- DNS names ---------------------------------------------------------- */

/* Why `s` is no DNS name in the preferred name syntax (RFC 1034 3.5, RFC
 * 1123 2.1; RFC 5280 4.2.1.6 requires it of a dNSName), or NULL: labels
 * of letters, digits and '-', 1 to 63 octets, not starting or ending with
 * '-', 253 octets in all. A SAN may start with the wildcard label "*." (BR
 * 7.1.2.7.12), a name constraint with '.' (RFC 5280 4.2.1.10), which may
 * also be empty. *go: Go's crypto/x509 refuses it too (domainToReverseLabels:
 * an empty label, or an octet outside 33..126). No allocation. */
static const char *
dns_flaw(const char *s, size_t len, bool constraint, bool *go)
{
	const char *flaw = NULL;
	size_t total = len, lab = 0;

	*go = false;
	if (constraint && len > 0 && s[0] == '.')
		s++, len--;
	else if (!constraint && len > 2 && s[0] == '*' && s[1] == '.')
		s += 2, len -= 2;
	if (len == 0)
		return constraint ? NULL : "it is empty";
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';

		if (c != '.') {
			*go = *go || c < 33 || c > 126;
			if (flaw == NULL &&
			    !(c == '-' || (c >= '0' && c <= '9') ||
			        ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')))
				flaw =
				    "a character other than a letter, a digit "
				    "or '-'";
			lab++;
			continue;
		}
		if (lab == 0) {
			*go = true;
			if (flaw == NULL)
				flaw = i == 0 ? "an empty label (a leading dot)"
				    : i == len
				    ? "an empty label (a trailing dot)"
				    : "an empty label (two dots in a row)";
		} else if (flaw == NULL && lab > 63) {
			flaw = "a label longer than 63 octets";
		} else if (flaw == NULL &&
		    (s[i - lab] == '-' || s[i - 1] == '-')) {
			flaw = "a label starting or ending with '-'";
		}
		lab = 0;
	}
	if (flaw == NULL && total > 253)
		flaw = "it is longer than 253 octets";
	return flaw;
}

/* The finding dns_name_malformed about x: `what` ("subjectAltName
 * dNSName") `s` has the flaw; `others` more names have one too. */
static void
emit_dns(struct rules *r, int depth, X509 *x, const char *what,
    const GENERAL_NAME *gn, const char *flaw, bool go, int others)
{
	struct cki_sb why = CKI_SB_INIT(CKI_SB_MSG_MAX);
	struct broken b = {"dns_name_malformed",
	    "RFC 5280 4.2.1.6, BR 7.1.2.7.12", {go ? GO : NULL, NULL}, NULL,
	    "Reissue it with host names of letters, digits and '-' in labels "
	    "of 1 to 63 octets, without a leading or trailing dot (an IDN as "
	    "its xn-- A-label; a wildcard only as the whole leftmost label)."};

	cki_sb_printf(&why, "its %s '", what);
	cki_sb_esc(&why, (const char *)ASN1_STRING_get0_data(gn->d.ia5),
	    (size_t)ASN1_STRING_length(gn->d.ia5));
	cki_sb_printf(&why,
	    "' is not in the preferred name syntax: %s, so name constraints "
	    "and host name checks may read it as another name",
	    flaw);
	if (others > 0)
		cki_sb_printf(&why, " (and %d more name%s)", others,
		    others == 1 ? "" : "s");
	b.reason = why.p != NULL ? why.p : "a DNS name is malformed";
	emit(r, &b, depth, x);
	cki_sb_free(&why);
}

/* Does a CA of the chain above the leaf carry nameConstraints? (Go checks
 * the leaf's DNS names' syntax only then.) */
static bool
chain_constrained(const struct rules *r)
{
	bool found = false;

	for (int d = 1; !found && d < sk_X509_num(r->chain); d++)
		found = ext_critical(sk_X509_value(r->chain, d),
		            NID_name_constraints) >= 0;
	return found;
}

/* RFC 5280 4.2.1.6: "the name MUST be in the 'preferred name syntax', as
 * specified by Section 3.5 of [RFC1034] and as modified by Section 2.1 of
 * [RFC1123]"; BR 7.1.2.7.12: each dNSName is a P-Label or Non-Reserved LDH
 * label sequence, a wildcard only as the leftmost label. */
static void
check_dns_names(struct rules *r, X509 *x, const GENERAL_NAMES *gens)
{
	const GENERAL_NAME *first = NULL;
	const char *flaw = NULL;
	bool go = false;
	int others = 0;

	for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const char *f;
		bool g;

		if (gn->type != GEN_DNS ||
		    (f = dns_flaw(
		         (const char *)ASN1_STRING_get0_data(gn->d.ia5),
		         (size_t)ASN1_STRING_length(gn->d.ia5), false, &g)) ==
		        NULL)
			continue;
		if (first == NULL) {
			first = gn;
			flaw = f;
		} else {
			others++;
		}
		go = go || g;
	}
	/* Go refuses them only under a CA's name constraints. */
	if (first != NULL)
		emit_dns(r, 0, x, "subjectAltName dNSName", first, flaw,
		    go && r->report == CKI_REPORT_VERIFY &&
		        chain_constrained(r),
		    others);
}

/* ---- per certificate ---------------------------------------------------- */

static void
check_version(struct rules *r, int depth, X509 *x)
{
	static const struct broken b = {"cert_old_version",
	    "RFC 5280 4.1.2.1, BR 7.1.1", {RUSTLS, GO, NULL},
	    "it is a version 1 certificate: it cannot carry extensions, so it "
	    "can be no CA and names no host in a subjectAltName",
	    "Reissue it as a version 3 certificate with the extensions "
	    "RFC 5280 requires."};

	/* RFC 5280 4.1.2.1: v3 when extensions are used; BR 7.1.1: v3. A
	 * self-signed root is the anchor itself: its version is not read. */
	if (X509_get_version(x) != X509_VERSION_3 && !is_root(r, depth, x))
		emit(r, &b, depth, x);
}

static void
check_serial(struct rules *r, int depth, X509 *x)
{
	const ASN1_INTEGER *s = X509_get0_serialNumber(x);
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s), octets;
	bool zero = true;
	struct broken b = {"bad_serial", "RFC 5280 4.1.2.2", {NULL}, NULL,
	    "Have the certificate reissued with a positive serial number of "
	    "at most 20 octets (BR 7.1: 64 random bits or more)."};

	for (int i = 0; i < len; i++)
		zero = zero && d[i] == 0;
	/* DER adds a leading 0x00 to a positive number whose top bit is set. */
	octets = len + (len > 0 && (d[0] & 0x80) != 0);
	/* RFC 5280 4.1.2.2: "a positive integer", "MUST NOT use serialNumber
	 * values longer than 20 octets". */
	if (ASN1_STRING_type(s) == V_ASN1_NEG_INTEGER) {
		b.refused[0] = GO;
		b.reason = "its serial number is negative";
	} else if (zero) {
		b.reason = "its serial number is zero";
	} else if (octets > 20) {
		b.refused[0] = CHROME;
		b.reason = "its serial number is longer than 20 octets";
	} else {
		return;
	}
	emit(r, &b, depth, x);
}

static void
check_ca(struct rules *r, int depth, X509 *x)
{
	static const struct broken ski = {"ca_no_ski", "RFC 5280 4.2.1.2",
	    {PYTHON, NULL},
	    "the CA certificate has no subjectKeyIdentifier, which every CA "
	    "certificate must carry",
	    "Reissue the CA certificate with subjectKeyIdentifier = hash."};
	static const struct broken bc = {"ca_basic_constraints_not_critical",
	    "RFC 5280 4.2.1.9", {PYTHON, NULL},
	    "the CA certificate's basicConstraints is not marked critical",
	    "Reissue the CA certificate with basicConstraints = critical, "
	    "CA:TRUE."};
	static const struct broken empty = {"ca_empty_subject",
	    "RFC 5280 4.1.2.6", {PYTHON, NULL},
	    "the CA certificate's subject is empty: the certificates it "
	    "issues name no issuer",
	    "Reissue the CA certificate with a subject name (at least a CN)."};

	if (!is_ca(x))
		return;
	/* RFC 5280 4.2.1.2: "MUST appear in all conforming CA certificates". */
	if (X509_get0_subject_key_id(x) == NULL)
		emit(r, &ski, depth, x);
	/* RFC 5280 4.2.1.9: "MUST appear as a critical extension in all CA
	 * certificates that contain public keys used to validate digital
	 * signatures on certificates". */
	if (ext_critical(x, NID_basic_constraints) == 0)
		emit(r, &bc, depth, x);
	/* RFC 5280 4.1.2.6: a CA's subject is the issuer of what it signs,
	 * which "MUST contain a non-empty distinguished name" (4.1.2.4). */
	if (X509_NAME_entry_count(X509_get_subject_name(x)) == 0)
		emit(r, &empty, depth, x);
}

/* RFC 5280 4.2.1.10: a dNSName subtree is a DNS name, to which labels
 * may be added on the left ('.' first: subdomains only); 4.2.1.6's syntax
 * applies. Go's crypto/x509 refuses to parse such a certificate. */
static void
check_nc_names(struct rules *r, int depth, X509 *x)
{
	NAME_CONSTRAINTS *nc =
	    X509_get_ext_d2i(x, NID_name_constraints, NULL, NULL);
	STACK_OF(GENERAL_SUBTREE) * sets[2] = {NULL, NULL};
	const GENERAL_NAME *first = NULL;
	const char *flaw = NULL;
	bool go = false;
	int others = 0;

	if (nc == NULL)
		return;
	sets[0] = nc->permittedSubtrees;
	sets[1] = nc->excludedSubtrees;
	for (int k = 0; k < 2; k++)
		for (int i = 0; i < sk_GENERAL_SUBTREE_num(sets[k]); i++) {
			const GENERAL_NAME *gn =
			    sk_GENERAL_SUBTREE_value(sets[k], i)->base;
			const char *f;
			bool g;

			if (gn->type != GEN_DNS ||
			    (f = dns_flaw(
			         (const char *)ASN1_STRING_get0_data(gn->d.ia5),
			         (size_t)ASN1_STRING_length(gn->d.ia5), true,
			         &g)) == NULL)
				continue;
			if (first == NULL) {
				first = gn;
				flaw = f;
			} else {
				others++;
			}
			go = go || g;
		}
	if (first != NULL)
		emit_dns(r, depth, x, "nameConstraints dNSName subtree", first,
		    flaw, go, others);
	NAME_CONSTRAINTS_free(nc);
}

static void
check_constraints(struct rules *r, int depth, X509 *x)
{
	static const struct broken nc = {"name_constraints_not_critical",
	    "RFC 5280 4.2.1.10", {NULL},
	    "its nameConstraints extension is not marked critical, so a "
	    "client that does not know it may ignore it",
	    "Reissue the CA certificate with nameConstraints marked "
	    "critical."};
	static const struct broken pc = {"policy_constraints_not_critical",
	    "RFC 5280 4.2.1.11", {NULL},
	    "its policyConstraints extension is not marked critical",
	    "Reissue the CA certificate with policyConstraints marked "
	    "critical."};

	/* RFC 5280 4.2.1.10: "Conforming CAs MUST mark this extension as
	 * critical". */
	if (ext_critical(x, NID_name_constraints) == 0)
		emit(r, &nc, depth, x);
	if (ext_critical(x, NID_name_constraints) >= 0)
		check_nc_names(r, depth, x);
	/* RFC 5280 4.2.1.11: "Conforming CAs MUST mark this extension as
	 * critical". */
	if (ext_critical(x, NID_policy_constraints) == 0)
		emit(r, &pc, depth, x);
}

static void
check_key(struct rules *r, int depth, X509 *x)
{
	ASN1_OBJECT *alg = NULL;
	X509_ALGOR *pa = NULL;
	const ASN1_OBJECT *pobj = NULL;
	const void *pval = NULL;
	int ptype = V_ASN1_UNDEF, kn, cn = NID_undef, bits;
	struct broken b = {NULL, "BR 6.1.5", {NULL}, NULL,
	    "Generate a new key (RSA 2048 or more, or EC P-256 or P-384) and "
	    "have the certificate reissued for it."};
	struct cki_sb why = CKI_SB_INIT(CKI_SB_MSG_MAX);

	/* The key's algorithm and curve from the SubjectPublicKeyInfo
	 * (RFC 5280 4.1.2.7, RFC 5480 2.1.1): no key object needed. */
	if (!X509_PUBKEY_get0_param(
	        &alg, NULL, NULL, &pa, X509_get_X509_PUBKEY(x)))
		return;
	kn = OBJ_obj2nid(alg);
	if (pa != NULL)
		X509_ALGOR_get0(&pobj, &ptype, &pval, pa);
	if (kn == NID_X9_62_id_ecPublicKey && ptype == V_ASN1_OBJECT)
		cn = OBJ_obj2nid(pval);
	/* BR 6.1.5: RSA, or ECDSA on P-256, P-384 or P-521; nothing else. */
	if (kn == NID_dsa) {
		b.code = "dsa_key";
		b.reason =
		    "its key is a DSA key, which browsers and modern TLS "
		    "libraries no longer verify";
		b.refused[0] = CHROME;
		b.refused[1] = GO;
		b.refused[2] = RUSTLS;
	} else if (kn == NID_X9_62_id_ecPublicKey) {
		if (cn == NID_X9_62_prime256v1 || cn == NID_secp384r1 ||
		    cn == NID_secp521r1)
			return;
		b.code = "ec_curve";
		cki_sb_printf(&why,
		    "its EC key is on the curve %s; only P-256, P-384 and "
		    "P-521 are allowed",
		    cn != NID_undef ? OBJ_nid2sn(cn)
		                    : "of explicit parameters");
		b.reason =
		    why.p != NULL ? why.p : "its EC curve is not allowed";
		b.refused[0] = CHROME;
		b.refused[1] = GO;
		b.refused[2] = RUSTLS;
		b.refused[3] = JAVA;
	} else if ((kn == NID_rsaEncryption || kn == NID_rsassaPss) &&
	    (bits = EVP_PKEY_get_bits(X509_get0_pubkey(x))) % 8 != 0) {
		/* BR 6.1.5: "the modulus size, when encoded, is at least 2048
		 * bits, and the modulus size, in bits, is evenly divisible by
		 * 8". */
		b.code = "rsa_modulus";
		cki_sb_printf(&why,
		    "its RSA modulus has %d bits, not a multiple of 8", bits);
		b.reason =
		    why.p != NULL ? why.p : "its RSA modulus is odd-sized";
	} else {
		return;
	}
	emit(r, &b, depth, x);
	cki_sb_free(&why);
}

static void
check_san_aia(struct rules *r, int depth, X509 *x)
{
	static const struct broken san = {"san_not_critical",
	    "RFC 5280 4.2.1.6", {PYTHON, NULL},
	    "its subject is empty and its subjectAltName, then its only name, "
	    "is not marked critical",
	    "Reissue it with the subjectAltName marked critical, or with a "
	    "subject name."};
	static const struct broken aia = {"aia_malformed", "RFC 5280 4.2.2.1",
	    {NULL},
	    "its authorityInfoAccess extension is malformed: it is critical, "
	    "cannot be decoded, or an OCSP or caIssuers location is not a URI",
	    "Reissue it with a non-critical authorityInfoAccess whose "
	    "locations are http URIs."};
	AUTHORITY_INFO_ACCESS *ad;
	int crit;
	bool bad = false;

	/* RFC 5280 4.2.1.6: with an empty subject "the subjectAltName
	 * extension MUST be critical". */
	if (X509_NAME_entry_count(X509_get_subject_name(x)) == 0 &&
	    ext_critical(x, NID_subject_alt_name) == 0)
		emit(r, &san, depth, x);
	/* RFC 5280 4.2.2.1: "MUST mark this extension as non-critical";
	 * accessLocation of caIssuers and OCSP is a URI. */
	if ((crit = ext_critical(x, NID_info_access)) < 0)
		return;
	ad = X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	bad = crit == 1 || ad == NULL;
	for (int i = 0; !bad && i < sk_ACCESS_DESCRIPTION_num(ad); i++) {
		ACCESS_DESCRIPTION *d = sk_ACCESS_DESCRIPTION_value(ad, i);
		int m = OBJ_obj2nid(d->method);

		if ((m == NID_ad_OCSP || m == NID_ad_ca_issuers) &&
		    (d->location->type != GEN_URI ||
		        ASN1_STRING_length(d->location->d.ia5) == 0 ||
		        memchr(ASN1_STRING_get0_data(d->location->d.ia5), ':',
		            (size_t)ASN1_STRING_length(d->location->d.ia5)) ==
		            NULL))
			bad = true;
	}
	AUTHORITY_INFO_ACCESS_free(ad);
	if (bad)
		emit(r, &aia, depth, x);
}

/* ---- the leaf ----------------------------------------------------------- */

/* True when the leaf has a dNSName or iPAddress in its subjectAltName. */
static bool
has_san_name(const GENERAL_NAMES *gens)
{
	bool found = false;

	for (int i = 0; !found && i < sk_GENERAL_NAME_num(gens); i++) {
		int t = sk_GENERAL_NAME_value(gens, i)->type;

		found = t == GEN_DNS || t == GEN_IPADD;
	}
	return found;
}

static void
check_leaf_names(struct rules *r, X509 *x, const GENERAL_NAMES *gens)
{
	static const struct broken cn = {"cn_only_name",
	    "RFC 6125 6.4.4, BR 7.1.2.7.12", {CHROME, GO, RUSTLS, NULL},
	    "the name is only in the CN, with no DNS or IP subjectAltName",
	    "Reissue the certificate with the host names (DNS:) and "
	    "addresses (IP:) in its subjectAltName."};
	static const struct broken ip = {"ip_not_canonical", "RFC 5280 4.2.1.6",
	    {NULL},
	    "the IP address asked for is not written in standard form (leading "
	    "zeros, hex or a short form); compared by value, it is not an IP "
	    "address",
	    "Give the address in standard form (192.0.2.10, 2001:db8::10)."};
	unsigned char buf[16];

	/* RFC 6125 6.4.4: the CN is checked only when there is no SAN name
	 * of the type asked for; BR 7.1.2.7.12: the SAN MUST be present and
	 * the CN, if any, repeats one of its names. Strict clients never read
	 * the CN (cki_verify_chain: X509_CHECK_FLAG_NEVER_CHECK_SUBJECT). */
	if (!has_san_name(gens) && r->p->purpose != CK_PURPOSE_CLIENT) {
		char *name = cki_x509_common_name(x);

		if (name != NULL)
			emit(r, &cn, 0, x);
		free(name);
	}
	/* RFC 5280 4.2.1.6: an iPAddress is the address's octets: a text
	 * form inet_pton(3) refuses is no address. */
	if (r->p->ip != NULL && inet_pton(AF_INET, r->p->ip, buf) != 1 &&
	    inet_pton(AF_INET6, r->p->ip, buf) != 1)
		emit(r, &ip, 0, x);
}

static void
check_leaf_usage(struct rules *r, X509 *x)
{
	static const struct broken aki = {"leaf_no_aki", "RFC 5280 4.2.1.1",
	    {PYTHON, NULL},
	    "it has no authorityKeyIdentifier, so its issuer must be found "
	    "by name alone",
	    "Reissue it with authorityKeyIdentifier = keyid."};
	static const struct broken kcs = {"leaf_key_cert_sign",
	    "RFC 5280 4.2.1.3", {PYTHON, NULL},
	    "it is not a CA, yet its keyUsage allows signing certificates "
	    "(keyCertSign)",
	    "Reissue it without keyCertSign in its keyUsage."};
	static const struct broken any = {"leaf_any_eku", "BR 7.1.2.7.10",
	    {NULL}, "its extendedKeyUsage holds anyExtendedKeyUsage",
	    "Reissue it with serverAuth (or clientAuth) only."};
	static const struct broken crit = {"leaf_eku_critical", "BR 7.1.2.7.10",
	    {NULL}, "its extendedKeyUsage is marked critical",
	    "Reissue it with a non-critical extendedKeyUsage."};
	static const struct broken none = {"leaf_no_eku", "BR 7.1.2.7.10",
	    {NULL},
	    "it has no extendedKeyUsage, so it may be used for anything",
	    "Reissue it with extendedKeyUsage serverAuth (or clientAuth)."};
	uint32_t ku = X509_get_key_usage(x);

	/* RFC 5280 4.2.1.1: "MUST be included in all certificates generated
	 * by conforming CAs" but self-signed ones. */
	if (!is_self_signed(x) && X509_get0_authority_key_id(x) == NULL)
		emit(r, &aki, 0, x);
	/* RFC 5280 4.2.1.3: keyCertSign only when cA is asserted. */
	if (!is_ca(x) && ku != UINT32_MAX && (ku & KU_KEY_CERT_SIGN) != 0)
		emit(r, &kcs, 0, x);
	/* BR 7.1.2.7.10: anyExtendedKeyUsage MUST NOT be present, the
	 * extension is not critical, and it is present. */
	if ((X509_get_extended_key_usage(x) & XKU_ANYEKU) != 0 &&
	    (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) != 0)
		emit(r, &any, 0, x);
	if (ext_critical(x, NID_ext_key_usage) == 1)
		emit(r, &crit, 0, x);
	if (r->strict && ext_critical(x, NID_ext_key_usage) < 0)
		emit(r, &none, 0, x);
}

/* ---- the root ----------------------------------------------------------- */

static void
check_root(struct rules *r, int depth, X509 *x)
{
	static const struct broken aki = {"root_aki", "RFC 5280 4.2.1.1",
	    {NULL},
	    "the root's authorityKeyIdentifier uses the issuer and serial "
	    "form, or its key identifier differs from the root's own",
	    "Reissue the root without authorityKeyIdentifier, or with "
	    "keyid only, equal to its subjectKeyIdentifier."};
	static const struct broken eku = {"root_eku", "BR 7.1.2.1.2", {NULL},
	    "the root carries an extendedKeyUsage, which limits every chain "
	    "under it in ways clients read differently",
	    "Reissue the root without extendedKeyUsage."};
	const ASN1_OCTET_STRING *akid = X509_get0_authority_key_id(x);
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(x);

	/* RFC 5280 4.2.1.1: in a self-signed certificate the key identifier
	 * may be given, and is then its subjectKeyIdentifier; BR 7.1.2.1.3:
	 * authorityCertIssuer and authorityCertSerialNumber MUST NOT be
	 * present. */
	if (X509_get0_authority_issuer(x) != NULL ||
	    X509_get0_authority_serial(x) != NULL ||
	    (akid != NULL &&
	        (skid == NULL || ASN1_OCTET_STRING_cmp(akid, skid) != 0)))
		emit(r, &aki, depth, x);
	/* BR 7.1.2.1.2: a root's extKeyUsage MUST NOT be present. */
	if (ext_critical(x, NID_ext_key_usage) >= 0)
		emit(r, &eku, depth, x);
}

/* ---- the CRLs ----------------------------------------------------------- */

static void
check_crls(struct rules *r)
{
	static const struct broken b = {"crl_no_number", "RFC 5280 5.2.3",
	    {NULL}, "a CRL of this certificate's issuer has no cRLNumber",
	    "Have the CA publish its CRLs with a cRLNumber extension."};

	for (int i = 0; i < sk_X509_CRL_num(r->p->crls); i++) {
		X509_CRL *crl = sk_X509_CRL_value(r->p->crls, i);
		ASN1_INTEGER *num;
		int depth = -1;

		/* RFC 5280 5.2.3: "CRL issuers conforming to this profile
		 * MUST include this extension in all CRLs". */
		num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
		ASN1_INTEGER_free(num);
		if (num != NULL)
			continue;
		for (int d = 0; depth < 0 && d < sk_X509_num(r->chain); d++)
			if (X509_NAME_cmp(X509_CRL_get_issuer(crl),
			        X509_get_issuer_name(
			            sk_X509_value(r->chain, d))) == 0)
				depth = d;
		if (depth >= 0)
			emit(r, &b, depth, sk_X509_value(r->chain, depth));
	}
}

/* ---- the public suffix list --------------------------------------------
 *
 * Format (https://publicsuffix.org/list/): one rule a line, UTF-8; "//"
 * starts a comment line; a rule ends at the first white space. "a.b" is
 * a suffix, "*.b" makes every label under b one, "!x.b" is an exception
 * to such a wildcard; the implicit rule "*" makes every top-level domain
 * a suffix. Loaded once per path, kept for the process.
 */

#define PSL_DEFAULT "/usr/share/publicsuffix/public_suffix_list.dat"
#define PSL_MAX_BYTES ((long)16 * 1024 * 1024)

static struct {
	CRYPTO_RWLOCK *lock;
	char *path;   /* the file the rules came from */
	char **rules; /* sorted, lower case */
	size_t n;
} psl;
static CRYPTO_ONCE psl_once = CRYPTO_ONCE_STATIC_INIT;

static void
psl_init(void)
{
	psl.lock = CRYPTO_THREAD_lock_new();
}

static int
psl_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
psl_drop(void)
{
	for (size_t i = 0; i < psl.n; i++)
		free(psl.rules[i]);
	free(psl.rules);
	free(psl.path);
	psl.rules = NULL;
	psl.path = NULL;
	psl.n = 0;
}

/* Reads `path` into psl (held under the write lock). */
static ck_status
psl_load(ck_ctx *ctx, const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[512];
	size_t cap = 0;
	ck_status st = CK_OK;

	psl_drop();
	if (fp == NULL)
		return cki_err(ctx, errno == ENOENT ? CK_E_NOTFOUND : CK_E_IO,
		    "%s: cannot read the public suffix list: %s; a wildcard "
		    "name cannot be checked without it: install the "
		    "publicsuffix package, or set CERTKIT_PUBLIC_SUFFIX_LIST "
		    "to the list",
		    path, strerror(errno));
	while (st == CK_OK && fgets(line, sizeof(line), fp) != NULL) {
		size_t len = strcspn(line, " \t\r\n");

		if (len == 0 || (line[0] == '/' && line[1] == '/'))
			continue;
		line[len] = '\0';
		for (size_t i = 0; i < len; i++)
			line[i] = (char)tolower((unsigned char)line[i]);
		if (psl.n == cap) {
			size_t nc = cap ? cap * 2 : 1024;
			char **nr = realloc(psl.rules, nc * sizeof(*nr));

			if (nr == NULL)
				break;
			psl.rules = nr;
			cap = nc;
		}
		if ((psl.rules[psl.n] = strdup(line)) == NULL)
			break;
		psl.n++;
	}
	if (ferror(fp) || !feof(fp))
		st = cki_err(ctx, ferror(fp) ? CK_E_IO : CK_E_NOMEM,
		    "%s: cannot read the public suffix list: %s", path,
		    ferror(fp) ? strerror(errno) : "out of memory");
	else if (psl.n == 0)
		st = cki_err(ctx, CK_E_FORMAT,
		    "%s: no rule in the public suffix list; expected the "
		    "publicsuffix.org list",
		    path);
	else if ((psl.path = strdup(path)) == NULL)
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
	fclose(fp);
	if (st != CK_OK)
		psl_drop();
	else
		qsort(psl.rules, psl.n, sizeof(*psl.rules), psl_cmp);
	return st;
}

static bool
psl_has(const char *prefix, const char *name, size_t len)
{
	char key[300];
	const char *k = key;

	if (strlen(prefix) + len >= sizeof(key))
		return false;
	snprintf(key, sizeof(key), "%s%.*s", prefix, (int)len, name);
	return bsearch(&k, psl.rules, psl.n, sizeof(*psl.rules), psl_cmp) !=
	    NULL;
}

/* Is the (lower-case) domain a public suffix? Under the read lock. */
static bool
psl_match(const char *d, size_t len)
{
	const char *dot = memchr(d, '.', len);

	if (psl_has("!", d, len))
		return false;
	if (psl_has("", d, len))
		return true;
	if (dot == NULL)
		return true; /* the implicit "*" rule: a top-level domain */
	return psl_has("*.", dot + 1, len - (size_t)(dot + 1 - d));
}

ck_status
cki_public_suffix(ck_ctx *ctx, const char *name, size_t len, bool *out)
{
	const char *env = getenv("CERTKIT_PUBLIC_SUFFIX_LIST");
	const char *path = env != NULL && env[0] ? env : PSL_DEFAULT;
	char d[256];
	ck_status st = CK_OK;

	*out = false;
	if (len == 0 || len >= sizeof(d) || memchr(name, '\0', len) != NULL)
		return CK_OK; /* no DNS name: OpenSSL refuses to match it */
	for (size_t i = 0; i < len; i++)
		d[i] = (char)tolower((unsigned char)name[i]);
	d[len] = '\0';
	if (len > 0 && d[len - 1] == '.')
		d[--len] = '\0';
	if (!CRYPTO_THREAD_run_once(&psl_once, psl_init) || psl.lock == NULL)
		return cki_err(ctx, CK_E_INTERNAL, "cannot make a lock");
	if (!CRYPTO_THREAD_write_lock(psl.lock))
		return cki_err(ctx, CK_E_INTERNAL, "cannot take a lock");
	if (psl.path == NULL || strcmp(psl.path, path) != 0)
		st = psl_load(ctx, path);
	if (st == CK_OK)
		*out = psl_match(d, len);
	CRYPTO_THREAD_unlock(psl.lock);
	return st;
}

/* ---- cki_verify_rules --------------------------------------------------- */

static void
check_wildcards(struct rules *r, X509 *x, const GENERAL_NAMES *gens)
{
	for (int i = 0; r->st == CK_OK && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);
		const char *s;
		size_t len;
		bool suffix = false;

		if (gn->type != GEN_DNS)
			continue;
		s = (const char *)ASN1_STRING_get0_data(gn->d.ia5);
		len = (size_t)ASN1_STRING_length(gn->d.ia5);
		if (len < 3 || s[0] != '*' || s[1] != '.')
			continue;
		r->st = cki_public_suffix(r->ctx, s + 2, len - 2, &suffix);
		if (r->st == CK_OK && suffix) {
			struct cki_sb why = CKI_SB_INIT(CKI_SB_MSG_MAX);
			struct broken b = {"wildcard_public_suffix",
			    "BR 3.2.2.6", {CHROME, NULL}, NULL,
			    "Reissue it for names under a domain you own "
			    "(*.example.com), never over a public suffix."};

			cki_sb_printf(&why, "its wildcard name '");
			cki_sb_esc(&why, s, len);
			cki_sb_printf(&why,
			    "' covers every domain under a public suffix");
			b.reason = why.p != NULL ? why.p
			                         : "a wildcard is "
			                           "over a public suffix";
			emit(r, &b, 0, x);
			cki_sb_free(&why);
		}
	}
}

/* ---- the CA certificates already found clean ----------------------------
 * In bulk verification every leaf has the same intermediates and root:
 * their rules are checked once (struct cki_verify_cache, "clean"). */

static bool
known_clean(struct cki_verify_cache *c, X509 *x, bool root)
{
	bool found = false;

	if (c == NULL || !CRYPTO_THREAD_read_lock(c->lock))
		return false;
	for (unsigned int i = 0; !found && i < CKI_VERIFY_CACHE_SLOTS; i++)
		found = c->clean[i].x == x && c->clean[i].root == root;
	CRYPTO_THREAD_unlock(c->lock);
	return found;
}

static void
note_clean(struct cki_verify_cache *c, X509 *x, bool root)
{
	unsigned int i;

	if (c == NULL || !CRYPTO_THREAD_write_lock(c->lock))
		return;
	if (X509_up_ref(x)) {
		i = c->next_clean++ % CKI_VERIFY_CACHE_SLOTS;
		X509_free(c->clean[i].x);
		c->clean[i].x = x;
		c->clean[i].root = root;
	}
	CRYPTO_THREAD_unlock(c->lock);
}

/* The rules of one certificate that depend on it and its place only. */
static void
check_cert(struct rules *r, int d, X509 *x)
{
	bool root = is_root(r, d, x);
	size_t before = r->broken;

	if (d > 0 && known_clean(r->p->cache, x, root))
		return;
	check_version(r, d, x);
	check_serial(r, d, x);
	check_ca(r, d, x);
	check_constraints(r, d, x);
	check_key(r, d, x);
	check_san_aia(r, d, x);
	if (root)
		check_root(r, d, x);
	if (d > 0 && r->broken == before && !r->nomem)
		note_clean(r->p->cache, x, root);
}

ck_status
cki_verify_rules(ck_ctx *ctx, STACK_OF(X509) * chain,
    const struct cki_verify_params *p, json_t *findings, size_t *broken)
{
	struct rules r = {ctx, p, chain, findings, 0,
	    p->policy == CK_POLICY_STRICT, false, CK_OK, CKI_REPORT_VERIFY, 0,
	    -1};
	int n = sk_X509_num(chain);

	*broken = 0;
	for (int d = 0; d < n; d++) {
		X509 *x = sk_X509_value(chain, d);

		check_cert(&r, d, x);
		/* A CA certificate verified on its own is no leaf: it names
		 * no host and has no end-entity usage. */
		if (d == 0 && !is_ca(x)) {
			GENERAL_NAMES *gens = X509_get_ext_d2i(
			    x, NID_subject_alt_name, NULL, NULL);

			check_leaf_names(&r, x, gens);
			check_leaf_usage(&r, x);
			check_dns_names(&r, x, gens);
			check_wildcards(&r, x, gens);
			GENERAL_NAMES_free(gens);
		}
	}
	check_crls(&r);
	if (r.st != CK_OK)
		return r.st;
	if (r.nomem)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	*broken = r.broken;
	return CK_OK;
}

/* ---- ck_rules_check: each certificate of a bundle on its own ------------
 * `certkit show` has no chain to verify: each certificate is checked at
 * the place its own fields give it (a leaf: not a CA; a root: a CA that
 * names itself its issuer; else an intermediate), for the purpose its EKU
 * allows (a leaf whose EKU excludes serverAuth names no host: no
 * cn_only_name), against the CRLs of the bundle. A copy of an earlier
 * certificate is not checked again. */

struct by_cert {
	X509 *x;
	size_t pos;
};

static int
cmp_cert(const void *a, const void *b)
{
	const struct by_cert *p = a, *q = b;
	int c = X509_cmp(p->x, q->x);

	if (c != 0)
		return c;
	return p->pos < q->pos ? -1 : p->pos > q->pos;
}

/* dup[i]: certificate i is a copy of an earlier one (n log n, not n^2). */
static bool *
copies(ck_cert *const *certs, size_t n)
{
	struct by_cert *v = calloc(n + 1, sizeof(*v));
	bool *dup = calloc(n + 1, sizeof(*dup));

	if (v == NULL || dup == NULL) {
		free(v);
		free(dup);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = (struct by_cert){certs[i]->x509, i};
	qsort(v, n, sizeof(*v), cmp_cert);
	for (size_t i = 1; i < n; i++)
		dup[v[i].pos] = X509_cmp(v[i - 1].x, v[i].x) == 0;
	free(v);
	return dup;
}

/* The rules of one certificate of a bundle, as a show finding each. */
static ck_status
check_one(ck_ctx *ctx, X509 *x, size_t index, struct cki_verify_params *p,
    json_t *findings)
{
	STACK_OF(X509) *one = sk_X509_new_null();
	struct rules r = {ctx, p, one, findings, 0,
	    p->policy == CK_POLICY_STRICT, false, CK_OK, CKI_REPORT_SHOW, index,
	    0};
	uint32_t xku = X509_get_extended_key_usage(x);

	if (one == NULL || !sk_X509_push(one, x)) {
		sk_X509_free(one);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	r.root = X509_check_ca(x) != 0 &&
	    X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) ==
	        0;
	p->purpose = (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) != 0 &&
	        (xku & (XKU_SSL_SERVER | XKU_ANYEKU)) == 0
	    ? CK_PURPOSE_CLIENT
	    : CK_PURPOSE_SERVER;
	check_cert(&r, 0, x);
	if (!r.root && !is_ca(x)) {
		GENERAL_NAMES *gens =
		    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

		check_leaf_names(&r, x, gens);
		check_leaf_usage(&r, x);
		check_dns_names(&r, x, gens);
		check_wildcards(&r, x, gens);
		GENERAL_NAMES_free(gens);
	}
	check_crls(&r);
	sk_X509_free(one);
	if (r.st == CK_OK && r.nomem)
		r.st = cki_err(ctx, CK_E_NOMEM, "out of memory");
	return r.st;
}

ck_status
ck_rules_check(ck_ctx *ctx, const ck_bundle *b, ck_policy policy, char **json)
{
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	const struct cki_list *cl = NULL, *rl = NULL;
	json_t *arr = NULL;
	bool *dup = NULL;
	ck_status rv = CK_OK;

	cki_begin(ctx);
	if (json != NULL)
		*json = NULL;
	if (b == NULL || json == NULL ||
	    (policy != CK_POLICY_COMPAT && policy != CK_POLICY_STRICT))
		return cki_err(ctx, CK_E_USAGE,
		    "ck_rules_check: no bundle, no output or no policy");
	cl = &b->list[CK_OBJ_CERT];
	rl = &b->list[CK_OBJ_CRL];
	p.policy = policy;
	if ((arr = json_array()) == NULL ||
	    (dup = copies((ck_cert *const *)cl->obj, cl->n)) == NULL ||
	    (rl->n > 0 && (p.crls = sk_X509_CRL_new_null()) == NULL)) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	for (size_t i = 0; i < rl->n; i++)
		if (!sk_X509_CRL_push(p.crls, rl->obj[i])) {
			rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
	for (size_t i = 0; rv == CK_OK && i < cl->n; i++)
		if (!dup[i])
			rv = check_one(
			    ctx, ((ck_cert *)cl->obj[i])->x509, i + 1, &p, arr);
	if (rv == CK_OK &&
	    (*json = json_dumps(arr,
	         JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)) ==
	        NULL)
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
err:
	sk_X509_CRL_free(p.crls);
	free(dup);
	json_decref(arr);
	return rv;
}

/* ---- RFC 5280 4.1.2.5 ---------------------------------------------------- */

bool
cki_verify_at_not_after(int err, X509 *cert, time_t t)
{
	int64_t na;

	/* RFC 5280 4.1.2.5: "The validity period for a certificate is the
	 * period of time from notBefore through notAfter, inclusive."
	 * OpenSSL 3.0's X509_cmp_time() counts equal as before, so at
	 * exactly notAfter it says "expired". */
	return err == X509_V_ERR_CERT_HAS_EXPIRED && cert != NULL &&
	    cki_asn1_time(X509_get0_notAfter(cert), &na) && na == (int64_t)t;
}
