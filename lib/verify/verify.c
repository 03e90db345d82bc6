/*
 * verify.c: ck_verify: OpenSSL's verifier, wrapped carefully and explained.
 *
 * certkit does not re-implement path validation (RFC 5280 section 6.1):
 * X509_verify_cert() decides. certkit's job is to hand it every parameter
 * (time, name, purpose, CRLs, depth, security level), to read the answer,
 * and to turn each OpenSSL error into a stable code with a sentence that says
 * what is wrong and one that says what to do.
 *
 *   leaf, untrusted, anchors, params
 *        │
 *        ▼
 *   setup_xsc(): one X509_STORE_CTX with OUR parameters
 *        │
 *        ▼
 *   pass 1: X509_verify_cert(), strict_cb (records, returns ok unchanged)
 *        │ ok ─────────────────────────────► report: valid, chain as built
 *        │ failed
 *        ▼
 *   pass 2: a fresh X509_STORE_CTX, collect_cb (records every error and
 *           returns 1 so OpenSSL carries on), result IGNORED
 *        │
 *        ▼
 *   report: invalid; findings = pass 1's error first, then pass 2's,
 *           one per (code, depth); chain as pass 2 built it
 *
 * Invariants:
 *  1. *valid is set from pass 1 only. collect_cb, which turns failures into
 *     "carry on", never runs in a context whose result is used as a verdict
 *     (test_verify.c: test_never_valid_*).
 *  2. Flags a borrowed X509_STORE carries that weaken checks are cleared and
 *     its verify callback is replaced (verify_int.h, contract 2).
 *  3. Every X509_V_ERR_* maps to one code (err_map); a code certkit has no
 *     words for becomes "malformed" with OpenSSL's own text as evidence.
 *  4. Every finding names the certificate (subject, SHA-256, depth) and
 *     carries OpenSSL's error number and text.
 *  5. Text taken from certificates (names, URLs) is escaped before it goes
 *     into a message: a certificate cannot write to the admin's terminal.
 *  6. The policy's rules (verify_rules.c) come after OpenSSL's findings:
 *     warnings under compat, errors under strict that make *valid 0
 *     (apply_rules()); under strict a host name never matches the CN.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "ck_internal.h"
#include "jsondump.h"
#include "strbuf.h"
#include "verify_int.h"
#include "verify_path.h"

/* Names of a certificate listed in a message before "and N more". */
#define MAX_NAMES_LISTED 12

/* ---- the code map ------------------------------------------------------- */

/* Pseudo-code for "the issuer was not found": the chain decides whether
 * that is incomplete_chain, untrusted_root or invalid_ca (classify()). */
#define CODE_ISSUER "issuer?"
/* Not a verdict: pass 1 stopped for a reason that is certkit's or the
 * machine's, not the certificate's. */
#define CODE_INTERNAL "internal!"

static const struct {
	int err;
	const char *code;
} err_map[] = {
    {X509_V_ERR_UNSPECIFIED, CODE_INTERNAL},
    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, CODE_ISSUER},
    {X509_V_ERR_UNABLE_TO_GET_CRL, "crl_missing"},
    {X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE, "invalid_signature"},
    {X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE, "crl_invalid"},
    {X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY, "malformed"},
    {X509_V_ERR_CERT_SIGNATURE_FAILURE, "invalid_signature"},
    {X509_V_ERR_CRL_SIGNATURE_FAILURE, "crl_invalid"},
    {X509_V_ERR_CERT_NOT_YET_VALID, "cert_not_yet_valid"},
    {X509_V_ERR_CERT_HAS_EXPIRED, "cert_expired"},
    {X509_V_ERR_CRL_NOT_YET_VALID, "crl_not_yet_valid"},
    {X509_V_ERR_CRL_HAS_EXPIRED, "crl_expired"},
    {X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD, "malformed"},
    {X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD, "malformed"},
    {X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD, "crl_invalid"},
    {X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD, "crl_invalid"},
    {X509_V_ERR_OUT_OF_MEM, CODE_INTERNAL},
    {X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, "self_signed_leaf"},
    {X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, "untrusted_root"},
    {X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, CODE_ISSUER},
    {X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, CODE_ISSUER},
    {X509_V_ERR_CERT_CHAIN_TOO_LONG, "chain_too_long"},
    {X509_V_ERR_CERT_REVOKED, "revoked"},
    {X509_V_ERR_NO_ISSUER_PUBLIC_KEY, "malformed"},
    {X509_V_ERR_PATH_LENGTH_EXCEEDED, "path_length"},
    {X509_V_ERR_INVALID_PURPOSE, "bad_usage"},
    {X509_V_ERR_CERT_UNTRUSTED, "untrusted_root"},
    {X509_V_ERR_CERT_REJECTED, "untrusted_root"},
    {X509_V_ERR_SUBJECT_ISSUER_MISMATCH, CODE_ISSUER},
    {X509_V_ERR_AKID_SKID_MISMATCH, CODE_ISSUER},
    {X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH, CODE_ISSUER},
    {X509_V_ERR_KEYUSAGE_NO_CERTSIGN, "invalid_ca"},
    {X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, "crl_invalid"},
    {X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION, "malformed"},
    {X509_V_ERR_KEYUSAGE_NO_CRL_SIGN, "crl_invalid"},
    {X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION, "crl_invalid"},
    {X509_V_ERR_INVALID_NON_CA, "malformed"},
    {X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED, "path_length"},
    {X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE, "bad_usage"},
    {X509_V_ERR_PROXY_CERTIFICATES_NOT_ALLOWED, "bad_usage"},
    {X509_V_ERR_INVALID_EXTENSION, "malformed"},
    {X509_V_ERR_INVALID_POLICY_EXTENSION, "malformed"},
    {X509_V_ERR_NO_EXPLICIT_POLICY, "bad_usage"},
    {X509_V_ERR_DIFFERENT_CRL_SCOPE, "crl_missing"},
    {X509_V_ERR_UNSUPPORTED_EXTENSION_FEATURE, "malformed"},
    {X509_V_ERR_UNNESTED_RESOURCE, "malformed"},
    {X509_V_ERR_PERMITTED_VIOLATION, "name_constraints"},
    {X509_V_ERR_EXCLUDED_VIOLATION, "name_constraints"},
    {X509_V_ERR_SUBTREE_MINMAX, "name_constraints"},
    {X509_V_ERR_APPLICATION_VERIFICATION, "malformed"},
    {X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE, "name_constraints"},
    {X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX, "name_constraints"},
    {X509_V_ERR_UNSUPPORTED_NAME_SYNTAX, "name_constraints"},
    {X509_V_ERR_CRL_PATH_VALIDATION_ERROR, "crl_invalid"},
    {X509_V_ERR_PATH_LOOP, "malformed"},
    {X509_V_ERR_SUITE_B_INVALID_VERSION, "malformed"},
    {X509_V_ERR_SUITE_B_INVALID_ALGORITHM, "weak_key"},
    {X509_V_ERR_SUITE_B_INVALID_CURVE, "weak_key"},
    {X509_V_ERR_SUITE_B_INVALID_SIGNATURE_ALGORITHM, "weak_signature"},
    {X509_V_ERR_SUITE_B_LOS_NOT_ALLOWED, "weak_key"},
    {X509_V_ERR_SUITE_B_CANNOT_SIGN_P_384_WITH_P_256, "weak_signature"},
    {X509_V_ERR_HOSTNAME_MISMATCH, "hostname_mismatch"},
    {X509_V_ERR_EMAIL_MISMATCH, "hostname_mismatch"},
    {X509_V_ERR_IP_ADDRESS_MISMATCH, "hostname_mismatch"},
    {X509_V_ERR_DANE_NO_MATCH, "untrusted_root"},
    {X509_V_ERR_EE_KEY_TOO_SMALL, "weak_key"},
    {X509_V_ERR_CA_KEY_TOO_SMALL, "weak_key"},
    {X509_V_ERR_CA_MD_TOO_WEAK, "weak_signature"},
    {X509_V_ERR_INVALID_CALL, CODE_INTERNAL},
    {X509_V_ERR_STORE_LOOKUP, CODE_INTERNAL},
    {X509_V_ERR_NO_VALID_SCTS, "malformed"},
    {X509_V_ERR_PROXY_SUBJECT_NAME_VIOLATION, "malformed"},
    {X509_V_ERR_OCSP_VERIFY_NEEDED, "revoked"},
    {X509_V_ERR_OCSP_VERIFY_FAILED, "revoked"},
    {X509_V_ERR_OCSP_CERT_UNKNOWN, "revoked"},
    {X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM, "invalid_signature"},
    {X509_V_ERR_SIGNATURE_ALGORITHM_MISMATCH, "invalid_signature"},
    {X509_V_ERR_SIGNATURE_ALGORITHM_INCONSISTENCY, "malformed"},
    {X509_V_ERR_INVALID_CA, "invalid_ca"},
    {X509_V_ERR_PATHLEN_INVALID_FOR_NON_CA, "malformed"},
    {X509_V_ERR_PATHLEN_WITHOUT_KU_KEY_CERT_SIGN, "malformed"},
    {X509_V_ERR_KU_KEY_CERT_SIGN_INVALID_FOR_NON_CA, "malformed"},
    {X509_V_ERR_ISSUER_NAME_EMPTY, "malformed"},
    {X509_V_ERR_SUBJECT_NAME_EMPTY, "malformed"},
    {X509_V_ERR_MISSING_AUTHORITY_KEY_IDENTIFIER, "malformed"},
    {X509_V_ERR_MISSING_SUBJECT_KEY_IDENTIFIER, "malformed"},
    {X509_V_ERR_EMPTY_SUBJECT_ALT_NAME, "malformed"},
    {X509_V_ERR_EMPTY_SUBJECT_SAN_NOT_CRITICAL, "malformed"},
    {X509_V_ERR_CA_BCONS_NOT_CRITICAL, "malformed"},
    {X509_V_ERR_AUTHORITY_KEY_IDENTIFIER_CRITICAL, "malformed"},
    {X509_V_ERR_SUBJECT_KEY_IDENTIFIER_CRITICAL, "malformed"},
    {X509_V_ERR_CA_CERT_MISSING_KEY_USAGE, "malformed"},
    {X509_V_ERR_EXTENSIONS_REQUIRE_VERSION_3, "malformed"},
    {X509_V_ERR_EC_KEY_EXPLICIT_PARAMS, "malformed"},
};

static const char *
map_code(int err)
{
	for (size_t i = 0; i < sizeof(err_map) / sizeof(err_map[0]); i++)
		if (err_map[i].err == err)
			return err_map[i].code;
	return "malformed";
}

const char *
cki_verify_code(int err)
{
	const char *c = map_code(err);

	if (strcmp(c, CODE_ISSUER) == 0)
		return "incomplete_chain";
	if (strcmp(c, CODE_INTERNAL) == 0)
		return "malformed";
	return c;
}

/* ---- text ---------------------------------------------------------------
 * The builders are cki_sb (strbuf.h), each with a maximum of
 * CKI_SB_MSG_MAX: a finding's text that would pass it fails the
 * verification (build_findings()), it is never cut short. */

/* The text so far ("" when nothing was appended). */
static const char *
sb_text(const struct cki_sb *b)
{
	return b->p != NULL ? b->p : "";
}

/* A part made on the side failed: so does the text it is for. */
static void
sb_inherit(struct cki_sb *b, const struct cki_sb *part)
{
	if (part->failed) {
		b->failed = true;
		b->too_large = b->too_large || part->too_large;
	}
}

/* ---- reading certificates ----------------------------------------------- */

static char *
subject_of(const X509 *x)
{
	char *s = x != NULL ? cki_name_oneline(X509_get_subject_name(x)) : NULL;

	return s != NULL ? s : strdup("(unknown)");
}

static char *
issuer_of(const X509 *x)
{
	char *s = x != NULL ? cki_name_oneline(X509_get_issuer_name(x)) : NULL;

	return s != NULL ? s : strdup("(unknown)");
}

static void
cert_sha256(X509 *x, char out[65])
{
	ck_cert c = {x};

	out[0] = '\0';
	if (x != NULL)
		ck_cert_sha256(&c, out);
}

static void
cert_spki_sha256(X509 *x, char out[65])
{
	ck_cert c = {x};

	out[0] = '\0';
	if (x != NULL)
		ck_cert_spki_sha256(&c, out);
}

/* "2026-06-01T00:00:00Z" straight from the ASN.1 time (RFC 5280 4.1.2.5
 * times are UTC), without a round trip through seconds. */
static void
asn1_time_text(const ASN1_TIME *t, char out[32])
{
	struct tm tm;

	if (t == NULL || !ASN1_TIME_to_tm(t, &tm) ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "(unreadable date)");
}

/* The prefix length of a network mask (255.255.255.0: 24), or -1 when its
 * one bits are not all leading. */
static int
mask_prefix(const unsigned char *m, int len)
{
	int prefix = 0;

	while (prefix < len * 8 && (m[prefix / 8] & (0x80 >> (prefix % 8))))
		prefix++;
	for (int i = prefix; i < len * 8; i++)
		if (m[i / 8] & (0x80 >> (i % 8)))
			return -1;
	return prefix;
}

/* "DNS:a.example", "IP:192.0.2.1", "email:x@y", "URI:..."; for name
 * constraints an IP comes with its mask (RFC 5280 4.2.1.10), as a prefix
 * length ("IP:192.0.2.0/24", as show prints it) when it is one. */
static void
sb_general_name(struct cki_sb *b, const GENERAL_NAME *gn)
{
	const ASN1_STRING *s;
	char ip[INET6_ADDRSTRLEN], mask[INET6_ADDRSTRLEN];
	char *dn;

	switch (gn->type) {
	case GEN_DNS:
	case GEN_EMAIL:
	case GEN_URI:
		s = gn->d.ia5;
		cki_sb_printf(b, "%s:",
		    gn->type == GEN_DNS         ? "DNS"
		        : gn->type == GEN_EMAIL ? "email"
		                                : "URI");
		cki_sb_esc(
		    b, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
		break;
	case GEN_IPADD:
		s = gn->d.ip;
		if (ASN1_STRING_length(s) == 4 || ASN1_STRING_length(s) == 16) {
			inet_ntop(
			    ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6,
			    ASN1_STRING_get0_data(s), ip, sizeof(ip));
			cki_sb_printf(b, "IP:%s", ip);
		} else if (ASN1_STRING_length(s) == 8 ||
		    ASN1_STRING_length(s) == 32) {
			int half = ASN1_STRING_length(s) / 2;
			int af = half == 4 ? AF_INET : AF_INET6;

			int prefix =
			    mask_prefix(ASN1_STRING_get0_data(s) + half, half);

			inet_ntop(af, ASN1_STRING_get0_data(s), ip, sizeof(ip));
			inet_ntop(af, ASN1_STRING_get0_data(s) + half, mask,
			    sizeof(mask));
			if (prefix >= 0)
				cki_sb_printf(b, "IP:%s/%d", ip, prefix);
			else
				cki_sb_printf(b, "IP:%s/%s", ip, mask);
		} else {
			cki_sb_printf(
			    b, "IP:(%d bytes)", ASN1_STRING_length(s));
		}
		break;
	case GEN_DIRNAME:
		dn = cki_name_oneline(gn->d.directoryName);
		cki_sb_printf(b, "DirName:%s", dn != NULL ? dn : "?");
		free(dn);
		break;
	default: cki_sb_printf(b, "(a name of type %d)", gn->type); break;
	}
}

/* The subjectAltName entries, as a JSON array of strings and into b as a
 * list; the CN stands in when there is no SAN (OpenSSL then matches it). */
static json_t *
san_list(X509 *x, struct cki_sb *b)
{
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	json_t *arr = json_array();
	int n = sk_GENERAL_NAME_num(gens);

	for (int i = 0; arr != NULL && i < n; i++) {
		struct cki_sb one = CKI_SB_INIT(CKI_SB_MSG_MAX);

		sb_general_name(&one, sk_GENERAL_NAME_value(gens, i));
		sb_inherit(b, &one);
		json_array_append_new(arr, json_string(sb_text(&one)));
		if (i < MAX_NAMES_LISTED)
			cki_sb_printf(b, "%s%s", i ? ", " : "", sb_text(&one));
		cki_sb_free(&one);
	}
	if (n > MAX_NAMES_LISTED)
		cki_sb_printf(b, " and %d more", n - MAX_NAMES_LISTED);
	if (n <= 0) {
		char *cn = NULL;
		ck_cert c = {x};

		cn = ck_cert_common_name(&c);
		if (cn != NULL) {
			cki_sb_printf(
			    b, "no subjectAltName, only the common name '");
			cki_sb_esc(b, (const unsigned char *)cn, strlen(cn));
			cki_sb_printf(b, "'");
		} else {
			cki_sb_printf(b, "no names at all");
		}
		free(cn);
	}
	GENERAL_NAMES_free(gens);
	return arr;
}

/* URIs of one access method of the authorityInfoAccess extension (RFC 5280
 * 4.2.2.1), e.g. the caIssuers URL where the issuer certificate lives. */
static json_t *
aia_uris(X509 *x, int method, struct cki_sb *first)
{
	AUTHORITY_INFO_ACCESS *aia =
	    X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	json_t *arr = json_array();

	for (int i = 0; arr != NULL && i < sk_ACCESS_DESCRIPTION_num(aia);
	     i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);
		struct cki_sb one = CKI_SB_INIT(CKI_SB_MSG_MAX);

		if (OBJ_obj2nid(ad->method) != method ||
		    ad->location->type != GEN_URI)
			continue;
		cki_sb_esc(&one, ASN1_STRING_get0_data(ad->location->d.ia5),
		    (size_t)ASN1_STRING_length(ad->location->d.ia5));
		sb_inherit(first, &one);
		json_array_append_new(arr, json_string(sb_text(&one)));
		if (first->n == 0)
			cki_sb_printf(first, "%s", sb_text(&one));
		cki_sb_free(&one);
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	return arr;
}

/* The first URI of the cRLDistributionPoints extension (RFC 5280 4.2.1.13). */
static void
cdp_uri(X509 *x, struct cki_sb *out)
{
	STACK_OF(DIST_POINT) *dps =
	    X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);

	for (int i = 0; out->n == 0 && i < sk_DIST_POINT_num(dps); i++) {
		DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

		if (dp->distpoint == NULL || dp->distpoint->type != 0)
			continue;
		for (int j = 0;
		     j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname);
		     j++) {
			GENERAL_NAME *gn = sk_GENERAL_NAME_value(
			    dp->distpoint->name.fullname, j);

			if (gn->type == GEN_URI) {
				cki_sb_esc(out,
				    ASN1_STRING_get0_data(gn->d.ia5),
				    (size_t)ASN1_STRING_length(gn->d.ia5));
				break;
			}
		}
	}
	sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
}

/* "serverAuth, clientAuth", or "" when the certificate has no EKU. */
static void
eku_text(X509 *x, struct cki_sb *b)
{
	EXTENDED_KEY_USAGE *eku =
	    X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	char oid[80];

	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++) {
		ASN1_OBJECT *o = sk_ASN1_OBJECT_value(eku, i);
		int nid = OBJ_obj2nid(o);

		if (nid != NID_undef)
			snprintf(oid, sizeof(oid), "%s", OBJ_nid2sn(nid));
		else if (OBJ_obj2txt(oid, sizeof(oid), o, 1) <= 0)
			snprintf(oid, sizeof(oid), "?");
		cki_sb_printf(b, "%s%s", i ? ", " : "", oid);
	}
	EXTENDED_KEY_USAGE_free(eku);
}

/* RFC 5280 5.3.1 CRLReason. */
static const char *
crl_reason_name(long r)
{
	switch (r) {
	case 0: return "unspecified";
	case 1: return "keyCompromise";
	case 2: return "cACompromise";
	case 3: return "affiliationChanged";
	case 4: return "superseded";
	case 5: return "cessationOfOperation";
	case 6: return "certificateHold";
	case 8: return "removeFromCRL";
	case 9: return "privilegeWithdrawn";
	case 10: return "aACompromise";
	}
	return "not given";
}

/* ---- recording what OpenSSL says ---------------------------------------- */

/* One error: struct cki_verify_err (verify_int.h). */
#define rec cki_verify_err

struct recorder {
	struct rec *r;
	size_t n, cap;
	bool oom;
};

static void
recorder_free(struct recorder *rc)
{
	for (size_t i = 0; i < rc->n; i++) {
		X509_free(rc->r[i].cert);
		X509_CRL_free(rc->r[i].crl);
	}
	free(rc->r);
	rc->r = NULL;
	rc->n = rc->cap = 0;
}

static void
record(struct recorder *rc, int err, int depth, X509 *cert, X509_CRL *crl)
{
	struct rec *r;

	if (rc->n == rc->cap) {
		size_t cap = rc->cap ? rc->cap * 2 : 8;
		struct rec *nr = realloc(rc->r, cap * sizeof(*nr));

		if (nr == NULL) {
			rc->oom = true;
			return;
		}
		rc->r = nr;
		rc->cap = cap;
	}
	r = &rc->r[rc->n];
	r->err = err;
	r->depth = depth;
	r->cert = cert != NULL && X509_up_ref(cert) ? cert : NULL;
	r->crl = crl != NULL && X509_CRL_up_ref(crl) ? crl : NULL;
	rc->n++;
}

/* Errors about the CRL OpenSSL is checking at that moment: only then is
 * X509_STORE_CTX_get0_current_crl() the CRL the error is about (for "no
 * CRL found" it may be a stale pointer). */
static bool
about_current_crl(int err)
{
	switch (err) {
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
	case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
	case X509_V_ERR_CERT_REVOKED:
	case X509_V_ERR_KEYUSAGE_NO_CRL_SIGN:
	case X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
	case X509_V_ERR_CRL_PATH_VALIDATION_ERROR: return true;
	}
	return false;
}

static void
record_from(X509_STORE_CTX *xsc)
{
	struct recorder *rc = X509_STORE_CTX_get_app_data(xsc);
	int err = X509_STORE_CTX_get_error(xsc);
	int depth = X509_STORE_CTX_get_error_depth(xsc);
	X509 *cert = X509_STORE_CTX_get_current_cert(xsc);

	if (cert == NULL)
		cert = sk_X509_value(X509_STORE_CTX_get0_chain(xsc), depth);
	record(rc, err, depth, cert,
	    about_current_crl(err) ? X509_STORE_CTX_get0_current_crl(xsc)
	                           : NULL);
}

/* Pass 1. Returns OpenSSL's decision unchanged: the verdict. */
static int
strict_cb(int ok, X509_STORE_CTX *xsc)
{
	if (!ok)
		record_from(xsc);
	return ok;
}

/* Pass 2, diagnostics only: records the error and tells OpenSSL to carry
 * on, so that every problem of the chain is seen, not just the first.
 * Its context's result is never a verdict (invariant 1). */
static int
collect_cb(int ok, X509_STORE_CTX *xsc)
{
	if (!ok)
		record_from(xsc);
	return 1;
}

/* ---- one verification run ------------------------------------------------ */

/*
 * A store can replace the verifier's own steps (X509_STORE_set_verify,
 * set_check_issued, ...): a replaced step may skip a check, and
 * X509_STORE_CTX offers no way back to OpenSSL's built-in one. Such a store
 * is refused rather than trusted (verify_int.h, contract 2).
 */
static bool
store_is_plain(X509_STORE *s)
{
	return X509_STORE_get_verify(s) == NULL &&
	    X509_STORE_get_get_issuer(s) == NULL &&
	    X509_STORE_get_check_issued(s) == NULL &&
	    X509_STORE_get_check_revocation(s) == NULL &&
	    X509_STORE_get_get_crl(s) == NULL &&
	    X509_STORE_get_check_crl(s) == NULL &&
	    X509_STORE_get_cert_crl(s) == NULL &&
	    X509_STORE_get_check_policy(s) == NULL &&
	    X509_STORE_get_lookup_certs(s) == NULL &&
	    X509_STORE_get_lookup_crls(s) == NULL;
}

static ck_status
check_params(ck_ctx *ctx, const struct cki_verify_params *p)
{
	int names = (p->host != NULL) + (p->ip != NULL) + (p->email != NULL);

	if (names > 1)
		return cki_err(ctx, CK_E_USAGE,
		    "a host name, an IP address and an email address cannot be "
		    "checked together: give one of them");
	/* An empty name would make OpenSSL skip the check altogether. */
	if ((p->host != NULL && p->host[0] == '\0') ||
	    (p->ip != NULL && p->ip[0] == '\0') ||
	    (p->email != NULL && p->email[0] == '\0'))
		return cki_err(ctx, CK_E_USAGE,
		    "the name to check is empty: give a host name, an IP "
		    "address or an email address");
	if (p->purpose != CK_PURPOSE_SERVER &&
	    p->purpose != CK_PURPOSE_CLIENT && p->purpose != CK_PURPOSE_ANY)
		return cki_err(
		    ctx, CK_E_USAGE, "unknown purpose %d", (int)p->purpose);
	return CK_OK;
}

/*
 * Makes an X509_STORE_CTX that checks everything certkit promises. Every
 * setter's result is checked: a parameter that did not take would be a
 * check silently skipped.
 */
static ck_status
setup_xsc(ck_ctx *ctx, X509_STORE_CTX **out, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p, time_t t,
    X509_STORE_CTX_verify_cb cb, struct recorder *rc)
{
	X509_STORE_CTX *xsc;
	X509_VERIFY_PARAM *vp;
	unsigned long clear;
	ck_status st = CK_E_INTERNAL;

	*out = NULL;
	if ((xsc = X509_STORE_CTX_new()) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	if (!X509_STORE_CTX_init(xsc, anchors, leaf, untrusted)) {
		cki_err(ctx, CK_E_INTERNAL, "cannot set up verification: %s",
		    cki_ossl_reason());
		goto err;
	}
	X509_STORE_CTX_set_verify_cb(xsc, cb);
	if (!X509_STORE_CTX_set_app_data(xsc, rc))
		goto ossl;
	vp = X509_STORE_CTX_get0_param(xsc);
	/* Invariant 2: nothing inherited from the store may weaken the
	 * checks. */
	clear = X509_V_FLAG_IGNORE_CRITICAL | X509_V_FLAG_NO_CHECK_TIME |
	    X509_V_FLAG_ALLOW_PROXY_CERTS | X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_CRL_CHECK_ALL | X509_V_FLAG_PARTIAL_CHAIN;
	if (!X509_VERIFY_PARAM_clear_flags(vp, clear))
		goto ossl;
	/* RFC 5280 6.1.1 (a)/(b): the time of validation, also used for the
	 * CRLs' thisUpdate/nextUpdate (6.3.3 (a)). */
	X509_VERIFY_PARAM_set_time(vp, t);
	/* CKI_VERIFY_SECURITY_LEVEL (112 bits): RSA < 2048 -> weak_key,
	 * SHA-1/MD5 signatures -> weak_signature. A higher level the store
	 * asks for stays. */
	if (p->security_level != CKI_VERIFY_SECURITY_LEVEL_NONE &&
	    X509_VERIFY_PARAM_get_auth_level(vp) < p->security_level)
		X509_VERIFY_PARAM_set_auth_level(vp, p->security_level);
	if (p->partial_chain &&
	    !X509_VERIFY_PARAM_set_flags(vp, X509_V_FLAG_PARTIAL_CHAIN))
		goto ossl;
	if (sk_X509_CRL_num(p->crls) > 0) {
		/* RFC 5280 6.3: every certificate of the path, not just the
		 * leaf. */
		X509_STORE_CTX_set0_crls(xsc, p->crls);
		if (!X509_VERIFY_PARAM_set_flags(
		        vp, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
			goto ossl;
	}
	X509_VERIFY_PARAM_set_depth(
	    vp, p->max_depth >= 0 ? p->max_depth : CKI_VERIFY_DEFAULT_DEPTH);
	/* Clear any names the store's parameters carried, then set ours. */
	if (!X509_VERIFY_PARAM_set1_host(vp, NULL, 0) ||
	    !X509_VERIFY_PARAM_set1_email(vp, NULL, 0) ||
	    !X509_VERIFY_PARAM_set1_ip(vp, NULL, 0))
		goto ossl;
	if (p->host != NULL) {
		/* RFC 6125 6.4.3: a wildcard matches one whole left-most label
		 * only, never "w*.example.com". */
		X509_VERIFY_PARAM_set_hostflags(vp,
		    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
		        (p->policy == CK_POLICY_STRICT
		                ? X509_CHECK_FLAG_NEVER_CHECK_SUBJECT
		                : 0));
		if (!X509_VERIFY_PARAM_set1_host(
		        vp, p->host, strlen(p->host))) {
			st = cki_err(ctx, CK_E_USAGE,
			    "'%s' cannot be used as a host name to check",
			    p->host);
			goto err;
		}
	}
	if (p->ip != NULL && !X509_VERIFY_PARAM_set1_ip_asc(vp, p->ip)) {
		st = cki_err(ctx, CK_E_USAGE,
		    "'%s' is not an IP address: expected IPv4 like 192.0.2.10 "
		    "or IPv6 like 2001:db8::10",
		    p->ip);
		goto err;
	}
	if (p->email != NULL &&
	    !X509_VERIFY_PARAM_set1_email(vp, p->email, strlen(p->email))) {
		st = cki_err(ctx, CK_E_USAGE,
		    "'%s' cannot be used as an email address to check",
		    p->email);
		goto err;
	}
	if (p->purpose != CK_PURPOSE_ANY &&
	    !X509_STORE_CTX_set_purpose(xsc,
	        p->purpose == CK_PURPOSE_SERVER ? X509_PURPOSE_SSL_SERVER
	                                        : X509_PURPOSE_SSL_CLIENT))
		goto ossl;
	*out = xsc;
	return CK_OK;
ossl:
	st = cki_err(ctx, CK_E_INTERNAL,
	    "cannot set a verification "
	    "parameter: %s",
	    cki_ossl_reason());
err:
	X509_STORE_CTX_free(xsc);
	return st;
}

/* ---- explaining one finding ---------------------------------------------- */

struct explain {
	ck_ctx *ctx;
	const struct cki_verify_params *p;
	time_t t;
	X509_STORE_CTX *xsc; /* pass 2's context: its chain and store */
	STACK_OF(X509) * untrusted;
	const char *anchors; /* "the trust anchors", ... */
};

static int
jadd(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v) == 0 ? 0 : 1;
}

/* json_string() refuses invalid UTF-8; certificate text may be anything. */
static json_t *
jstr(const char *s)
{
	json_t *j = json_string(s != NULL ? s : "");
	char *copy;

	if (j != NULL || s == NULL)
		return j;
	if ((copy = strdup(s)) == NULL)
		return NULL;
	for (char *q = copy; *q; q++)
		if ((unsigned char)*q >= 0x80)
			*q = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

/* What the certificate was checked for, as words. */
static void
purpose_words(const struct cki_verify_params *p, struct cki_sb *b)
{
	if (p->purpose == CK_PURPOSE_CLIENT)
		cki_sb_printf(b, "a TLS client (extendedKeyUsage clientAuth)");
	else
		cki_sb_printf(b, "a TLS server (extendedKeyUsage serverAuth)");
}

/*
 * Certificates named like the missing issuer, in the anchors and the
 * intermediates, and why none of them was taken (X509_check_issued's
 * reason). Returns the most telling reason, or X509_V_OK if none was found.
 */
static int
issuer_candidates(struct explain *e, X509 *c, struct cki_sb *why)
{
	const X509_NAME *in = X509_get_issuer_name(c);
	STACK_OF(X509) * found;
	int reason = X509_V_OK;

	found = X509_STORE_CTX_get1_certs(e->xsc, in);
	if (found == NULL)
		found = sk_X509_new_null();
	for (int i = 0; found != NULL && i < sk_X509_num(e->untrusted); i++) {
		X509 *u = sk_X509_value(e->untrusted, i);

		if (X509_NAME_cmp(X509_get_subject_name(u), in) == 0 &&
		    X509_up_ref(u) && !sk_X509_push(found, u))
			X509_free(u);
	}
	for (int i = 0; i < sk_X509_num(found); i++) {
		X509 *cand = sk_X509_value(found, i);
		int r = X509_check_issued(cand, c);
		char fp[65];

		if (r == X509_V_OK) {
			EVP_PKEY *pk = X509_get0_pubkey(cand);

			if (pk != NULL && X509_verify(c, pk) == 1)
				continue; /* it is the issuer: not the problem
				           */
			r = X509_V_ERR_CERT_SIGNATURE_FAILURE;
		}
		cert_sha256(cand, fp);
		cki_sb_printf(why,
		    " A certificate with that name is present "
		    "(SHA-256 %.16s...) but cannot be its issuer: %s.",
		    fp,
		    r == X509_V_ERR_AKID_SKID_MISMATCH
		        ? "its key identifier differs from the one this "
		          "certificate "
		          "names, so it is another key (an older or newer "
		          "version of "
		          "that CA)"
		        : r == X509_V_ERR_KEYUSAGE_NO_CERTSIGN
		        ? "its keyUsage does not allow signing certificates "
		          "(keyCertSign)"
		        : r == X509_V_ERR_CERT_SIGNATURE_FAILURE
		        ? "this certificate's signature does not verify with "
		          "its key"
		        : X509_verify_cert_error_string(r));
		if (reason == X509_V_OK || r == X509_V_ERR_KEYUSAGE_NO_CERTSIGN)
			reason = r;
		break; /* one is enough to explain */
	}
	sk_X509_pop_free(found, X509_free);
	return reason;
}

/*
 * The issuer of `c` (the top of the chain as built) is nowhere. Which root
 * cause that is cannot be read from OpenSSL's error (it is the same for a
 * missing intermediate and for a root that is not trusted); it is decided
 * here, and the message says what is known either way:
 *
 *  - a certificate with the right name exists but lacks keyCertSign:
 *    invalid_ca;
 *  - c is itself a CA: the chain climbed through the intermediates given
 *    and stopped below the root, which is not an anchor: untrusted_root;
 *  - c is an end entity that names where its issuer can be downloaded
 *    (AIA caIssuers, RFC 5280 4.2.2.1): that is how CAs with intermediates
 *    publish them, and a server not sending its intermediate is the common
 *    fault: incomplete_chain;
 *  - c is an end entity with no such pointer: typical of a device
 *    certificate issued straight from a private root (a camera maker's, an
 *    NVR's own), which is not among the anchors: untrusted_root.
 */
static const char *
classify_missing_issuer(struct explain *e, X509 *c, struct cki_sb *msg,
    struct cki_sb *fix, json_t *f)
{
	struct cki_sb url = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char *sub = subject_of(c), *iss = issuer_of(c);
	json_t *urls = aia_uris(c, NID_ad_ca_issuers, &url);
	int reason = issuer_candidates(e, c, msg);
	const char *code;
	int bad = 0;

	if (reason == X509_V_ERR_KEYUSAGE_NO_CERTSIGN)
		code = "invalid_ca";
	else if (X509_check_ca(c) != 0)
		code = "untrusted_root";
	else if (url.n > 0)
		code = "incomplete_chain";
	else
		code = "untrusted_root";

	/* Put the candidate sentence (already in msg) after the main one. */
	{
		struct cki_sb lead = CKI_SB_INIT(CKI_SB_MSG_MAX);

		if (strcmp(code, "incomplete_chain") == 0)
			cki_sb_printf(&lead,
			    "The issuer of this certificate, '%s', was "
			    "not found: it is neither among the intermediate "
			    "certificates given nor among %s.",
			    iss, e->anchors);
		else if (strcmp(code, "invalid_ca") == 0)
			cki_sb_printf(&lead,
			    "The certificate that should have issued "
			    "this one, '%s', is not allowed to act as a CA.",
			    iss);
		else
			cki_sb_printf(&lead,
			    "The chain stops at '%s': its issuer "
			    "'%s' is neither among %s nor among the "
			    "intermediate certificates given.",
			    sub, iss, e->anchors);
		if (url.n > 0)
			cki_sb_printf(&lead,
			    " This certificate says its issuer can be "
			    "downloaded from %s.",
			    sb_text(&url));
		cki_sb_printf(&lead, "%s", sb_text(msg));
		sb_inherit(&lead, msg);
		cki_sb_free(msg);
		*msg = lead;
	}
	if (strcmp(code, "incomplete_chain") == 0)
		cki_sb_printf(fix,
		    "Add the intermediate CA certificate '%s' to the "
		    "chain the server sends, after its own certificate (or "
		    "give "
		    "it with --untrusted)%s%s.",
		    iss, url.n ? "; it can be downloaded from " : "",
		    sb_text(&url));
	else if (strcmp(code, "invalid_ca") == 0)
		cki_sb_printf(fix,
		    "Use the CA's proper certificate (one with "
		    "basicConstraints CA:TRUE and keyUsage keyCertSign), or "
		    "have "
		    "this certificate reissued by a real CA.");
	else
		cki_sb_printf(fix,
		    "If '%s' is a CA you trust (your own, the device "
		    "maker's, or a TLS-inspecting firewall's), add its "
		    "certificate with --roots after checking its fingerprint; "
		    "if "
		    "it is an intermediate CA, add it with --untrusted or to "
		    "the "
		    "chain the server sends.",
		    iss);
	sb_inherit(fix, &url);
	cki_sb_free(&url);
	bad |= jadd(f, "missing_issuer", jstr(iss));
	bad |= jadd(f, "ca_issuers", urls);
	if (bad)
		code = NULL;
	free(sub);
	free(iss);
	return code;
}

/* The CRL entry for `x`, from the CRL OpenSSL was checking, or from the
 * CRLs given that the certificate's issuer published. */
static X509_REVOKED *
find_revoked(const struct explain *e, X509 *x, X509_CRL *crl, X509_CRL **from)
{
	X509_REVOKED *rev = NULL;

	*from = NULL;
	if (crl != NULL && X509_CRL_get0_by_cert(crl, &rev, x) == 1) {
		*from = crl;
		return rev;
	}
	for (int i = 0; i < sk_X509_CRL_num(e->p->crls); i++) {
		X509_CRL *c = sk_X509_CRL_value(e->p->crls, i);

		if (X509_NAME_cmp(
		        X509_CRL_get_issuer(c), X509_get_issuer_name(x)) == 0 &&
		    X509_CRL_get0_by_cert(c, &rev, x) == 1) {
			*from = c;
			return rev;
		}
	}
	return NULL;
}

/* Text of the CRL a finding is about: "the CRL of 'ISSUER'". */
static char *
crl_issuer_text(X509_CRL *crl, X509 *x)
{
	char *s =
	    crl != NULL ? cki_name_oneline(X509_CRL_get_issuer(crl)) : NULL;

	return s != NULL ? s : issuer_of(x);
}

/*
 * Fills message, remedy and the code-specific fields of one finding.
 * Returns the final code, or NULL if memory ran out.
 */
/* What an explanation works from (explain_one()). */
struct excase {
	const struct explain *e;
	const struct rec *r; /* r->cert is never NULL here */
	const char *code;
	struct cki_sb *msg, *fix; /* the message and the remedy */
	json_t *f;                /* the finding, for the fields a code adds */
};

static int
ex_cert_expired(const struct excase *c)
{
	const struct explain *e = c->e;
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	char when[32], now[32];
	int64_t v;

	cki_fmt_time((int64_t)e->t, now);
	cki_asn1_time(X509_get0_notAfter(x), &v);
	cki_fmt_time(v, when);
	cki_sb_printf(msg,
	    "The certificate expired on %s, %lld days before "
	    "the time of verification (%s).",
	    when, (long long)(((int64_t)e->t - v) / 86400), now);
	if (r->depth == 0)
		cki_sb_printf(fix,
		    "Renew the certificate and install the "
		    "new one on the device; if the date looks wrong, "
		    "check the clock of the machine that verifies.");
	else
		cki_sb_printf(fix,
		    "Get the CA's current certificate and put "
		    "it in the chain in place of this expired one.");
	return 0;
}

static int
ex_cert_not_yet_valid(const struct excase *c)
{
	const struct explain *e = c->e;
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	char when[32], now[32];
	int64_t v;

	cki_fmt_time((int64_t)e->t, now);
	cki_asn1_time(X509_get0_notBefore(x), &v);
	cki_fmt_time(v, when);
	cki_sb_printf(msg,
	    "The certificate is valid only from %s, %lld days "
	    "after the time of verification (%s).",
	    when, (long long)((v - (int64_t)e->t + 86399) / 86400), now);
	cki_sb_printf(fix,
	    "Check the clock of the machine that verifies (an "
	    "appliance without NTP often runs years behind); if the "
	    "clock is right, have the certificate reissued with a "
	    "current start date.");
	return 0;
}

static int
ex_hostname_mismatch(const struct excase *c)
{
	const struct explain *e = c->e;
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	json_t *f = c->f;
	X509 *x = r->cert;
	int bad = 0;
	struct cki_sb names = CKI_SB_INIT(CKI_SB_MSG_MAX);
	json_t *sans = san_list(x, &names), *asked = json_object();
	const char *kind = e->p->host ? "host name"
	    : e->p->ip                ? "IP address"
	                              : "email address";
	const char *want = e->p->host ? e->p->host
	    : e->p->ip                ? e->p->ip
	    : e->p->email             ? e->p->email
	                              : "?";

	cki_sb_printf(msg, "The certificate is not valid for the %s '", kind);
	cki_sb_esc(msg, (const unsigned char *)want, strlen(want));
	cki_sb_printf(msg, "': it names %s.", sb_text(&names));
	sb_inherit(msg, &names);
	cki_sb_free(&names);
	cki_sb_printf(fix,
	    "Connect using one of the names the certificate "
	    "lists, or have it reissued with '");
	cki_sb_esc(fix, (const unsigned char *)want, strlen(want));
	cki_sb_printf(fix, "' in its subjectAltName (RFC 6125 6.4).");
	if (asked != NULL)
		bad |= jadd(asked,
		    e->p->host     ? "host"
		        : e->p->ip ? "ip"
		                   : "email",
		    jstr(want));
	bad |= jadd(f, "requested", asked);
	bad |= jadd(f, "sans", sans);
	return bad;
}

static int
ex_self_signed_leaf(const struct excase *c)
{
	const struct explain *e = c->e;
	struct cki_sb *msg = c->msg, *fix = c->fix;

	cki_sb_printf(msg,
	    "The certificate is self-signed (it is its own "
	    "issuer) and is not among %s.",
	    e->anchors);
	cki_sb_printf(fix,
	    "If you trust this device, add this very "
	    "certificate with --roots after checking its fingerprint "
	    "(pinning); better, give the device a certificate issued "
	    "by "
	    "your CA.");
	return 0;
}

static int
ex_untrusted_root(const struct excase *c)
{
	const struct explain *e = c->e;
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	char *sub = subject_of(r->cert);

	if (r->err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
		cki_sb_printf(msg,
		    "The chain ends at the self-signed root "
		    "'%s', which is not among %s.",
		    sub, e->anchors);
	else
		cki_sb_printf(msg,
		    "'%s' is in the trust store but is not "
		    "trusted for this purpose (%s).",
		    sub, X509_verify_cert_error_string(r->err));
	cki_sb_printf(fix,
	    "If this is a CA you trust (your own, the device "
	    "maker's, or a TLS-inspecting firewall's), add it with "
	    "--roots after checking its fingerprint; otherwise the "
	    "peer "
	    "sends the wrong chain, or the connection is intercepted.");
	free(sub);
	return 0;
}

static int
ex_weak_signature(const struct excase *c)
{
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	int md = 0, pk = 0, bits = 0;
	uint32_t fl = 0;

	X509_get_signature_info(x, &md, &pk, &bits, &fl);
	cki_sb_printf(msg,
	    "The certificate is signed with %s, which gives "
	    "%d bits of security, below the 112 bits required (SHA-1 "
	    "and MD5 signatures can be forged).",
	    OBJ_nid2ln(X509_get_signature_nid(x)), bits);
	cki_sb_printf(fix,
	    "Have the certificate reissued with a SHA-256 (or "
	    "stronger) signature.");
	return 0;
}

static int
ex_weak_key(const struct excase *c)
{
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	EVP_PKEY *pk = X509_get0_pubkey(x);

	cki_sb_printf(msg,
	    "The certificate's %s key has %d bits (%d bits of "
	    "security), below the 112 bits required: RSA keys need at "
	    "least 2048 bits.",
	    pk ? EVP_PKEY_get0_type_name(pk) : "public",
	    pk ? EVP_PKEY_get_bits(pk) : 0,
	    pk ? EVP_PKEY_get_security_bits(pk) : 0);
	cki_sb_printf(fix,
	    "Generate a new key (RSA 2048 or more, or EC "
	    "P-256) and have the certificate reissued for it.");
	return 0;
}

static int
ex_revoked(const struct excase *c)
{
	const struct explain *e = c->e;
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	json_t *f = c->f;
	X509 *x = r->cert;
	char when[32];
	int bad = 0;

	X509_CRL *from = NULL;
	X509_REVOKED *rev = find_revoked(e, x, r->crl, &from);
	char *ci = crl_issuer_text(from, x);

	if (rev != NULL) {
		ASN1_ENUMERATED *re =
		    X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);
		long reason = re != NULL ? ASN1_ENUMERATED_get(re) : -1;
		const char *rn = crl_reason_name(reason);

		ASN1_ENUMERATED_free(re);
		asn1_time_text(X509_REVOKED_get0_revocationDate(rev), when);
		cki_sb_printf(msg,
		    "The certificate was revoked on %s (reason: "
		    "%s), according to the CRL of '%s'.",
		    when, rn, ci);
		bad |= jadd(f, "revocation_date", jstr(when));
		bad |= jadd(f, "revocation_reason", jstr(rn));
		cki_sb_printf(fix,
		    "Stop using this certificate: install a "
		    "newly issued one%s.",
		    reason == 1 ? ", with a new key, since the old key was "
		                  "compromised"
		                : "");
	} else {
		cki_sb_printf(msg,
		    "The certificate is revoked, according to "
		    "the CRL of '%s'.",
		    ci);
		cki_sb_printf(fix,
		    "Stop using this certificate: install a "
		    "newly issued one.");
	}
	free(ci);
	return bad;
}

static int
ex_crl_missing(const struct excase *c)
{
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	char *iss = issuer_of(r->cert);
	struct cki_sb cdp = CKI_SB_INIT(CKI_SB_MSG_MAX);

	cdp_uri(x, &cdp);
	if (r->err == X509_V_ERR_DIFFERENT_CRL_SCOPE)
		cki_sb_printf(msg,
		    "The CRLs given do not cover this "
		    "certificate (their scope differs), so whether it "
		    "is revoked is unknown.");
	else
		cki_sb_printf(msg,
		    "Revocation checking is on, but no CRL "
		    "from this certificate's issuer '%s' was given, so "
		    "whether it is revoked is unknown.",
		    iss);
	cki_sb_printf(fix, "Give the current CRL of '%s' with --crl%s%s.", iss,
	    cdp.n ? " (the certificate says it is published at " : "",
	    sb_text(&cdp));
	if (cdp.n)
		cki_sb_printf(fix, ")");
	sb_inherit(fix, &cdp);
	cki_sb_free(&cdp);
	free(iss);
	return 0;
}

static int
ex_crl_expired(const struct excase *c)
{
	const struct explain *e = c->e;
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	const char *code = c->code;
	X509 *x = r->cert;
	char when[32], now[32];
	char *ci = crl_issuer_text(r->crl, x);
	bool exp = strcmp(code, "crl_expired") == 0;

	cki_fmt_time((int64_t)e->t, now);
	if (r->crl != NULL)
		asn1_time_text(exp ? X509_CRL_get0_nextUpdate(r->crl)
		                   : X509_CRL_get0_lastUpdate(r->crl),
		    when);
	else
		snprintf(when, sizeof(when), "(unknown)");
	if (exp)
		cki_sb_printf(msg,
		    "The CRL of '%s' was due to be replaced on "
		    "%s (nextUpdate) and is stale at %s: it cannot "
		    "show "
		    "whether the certificate is revoked.",
		    ci, when, now);
	else
		cki_sb_printf(msg,
		    "The CRL of '%s' is valid only from %s "
		    "(lastUpdate), after the time of verification %s.",
		    ci, when, now);
	cki_sb_printf(fix,
	    exp ? "Download the CA's current CRL and give that "
	          "with --crl."
	        : "Check the clock of the machine that "
	          "verifies, or give the CRL in force at that time.");
	free(ci);
	return 0;
}

static int
ex_crl_invalid(const struct excase *c)
{
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	char *ci = crl_issuer_text(r->crl, x);

	cki_sb_printf(msg, "The CRL of '%s' cannot be used: %s.", ci,
	    X509_verify_cert_error_string(r->err));
	cki_sb_printf(fix,
	    "Download the CRL again from the CA that issued "
	    "the certificate; a damaged or forged CRL is refused.");
	free(ci);
	return 0;
}

static int
ex_bad_usage(const struct excase *c)
{
	const struct explain *e = c->e;
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	struct cki_sb eku = CKI_SB_INIT(CKI_SB_MSG_MAX);
	struct cki_sb want = CKI_SB_INIT(CKI_SB_MSG_MAX);

	eku_text(x, &eku);
	purpose_words(e->p, &want);
	if (r->err == X509_V_ERR_KEYUSAGE_NO_DIGITAL_SIGNATURE)
		cki_sb_printf(msg,
		    "The certificate's keyUsage does not "
		    "include digitalSignature, which this use needs.");
	else if (r->depth > 0)
		cki_sb_printf(msg,
		    "This CA certificate may not be used in a "
		    "chain for %s: its extendedKeyUsage allows only "
		    "%s.",
		    sb_text(&want), eku.n ? sb_text(&eku) : "other uses");
	else
		cki_sb_printf(msg,
		    "The certificate may not be used as %s: "
		    "its extendedKeyUsage is %s.",
		    sb_text(&want),
		    eku.n ? sb_text(&eku)
		          : "missing or its keyUsage forbids it");
	cki_sb_printf(fix,
	    "Have the certificate reissued with the usage it "
	    "is needed for (serverAuth for a TLS server, clientAuth "
	    "for "
	    "a client), or verify with the right --purpose.");
	sb_inherit(msg, &eku);
	sb_inherit(msg, &want);
	cki_sb_free(&eku);
	cki_sb_free(&want);
	return 0;
}

/* A certificate that holds `gn` as its only name (an empty subject, one
 * subjectAltName): NAME_CONSTRAINTS_check() on it judges that one name as
 * it would in the certificate (RFC 5280 6.1.3 (b), (c)). */
static X509 *
nc_probe(const GENERAL_NAME *gn)
{
	X509 *p = X509_new(), *rv = NULL;
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *dup = GENERAL_NAME_dup(gn);

	if (p == NULL || gens == NULL || dup == NULL ||
	    !sk_GENERAL_NAME_push(gens, dup))
		goto err;
	dup = NULL;
	if (X509_add1_ext_i2d(
	        p, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
		goto err;
	/* NAME_CONSTRAINTS_check() reads the names OpenSSL caches. */
	X509_check_purpose(p, -1, 0);
	rv = p;
	p = NULL;
err:
	GENERAL_NAME_free(dup);
	GENERAL_NAMES_free(gens);
	X509_free(p);
	return rv;
}

/* Whether `gn` (or with cn, the CN of x as OpenSSL reads it) breaks the
 * name constraints of a CA above depth in the chain. */
static bool
nc_outside(STACK_OF(X509) * chain, int depth, const GENERAL_NAME *gn, X509 *x)
{
	X509 *probe = gn != NULL ? nc_probe(gn) : NULL;
	bool out = false;
	int rv = X509_V_OK;

	for (int i = depth + 1; i < sk_X509_num(chain) && !out; i++) {
		NAME_CONSTRAINTS *nc = X509_get_ext_d2i(
		    sk_X509_value(chain, i), NID_name_constraints, NULL, NULL);

		if (nc == NULL)
			continue;
		if (gn == NULL)
			rv = NAME_CONSTRAINTS_check_CN(x, nc);
		else if (probe != NULL)
			rv = NAME_CONSTRAINTS_check(probe, nc);
		/* Not the errors about the constraints' or the name's form. */
		out = rv == X509_V_ERR_PERMITTED_VIOLATION ||
		    rv == X509_V_ERR_EXCLUDED_VIOLATION;
		NAME_CONSTRAINTS_free(nc);
	}
	X509_free(probe);
	return out;
}

/* Adds `label` + the text of `gn` (or `text`) to the list of names. */
static void
nc_list(json_t *arr, struct cki_sb *b, const char *label,
    const GENERAL_NAME *gn, const ASN1_STRING *text)
{
	struct cki_sb one = CKI_SB_INIT(CKI_SB_MSG_MAX);

	cki_sb_printf(&one, "%s", label);
	if (gn != NULL)
		sb_general_name(&one, gn);
	else
		cki_sb_esc(&one, ASN1_STRING_get0_data(text),
		    (size_t)ASN1_STRING_length(text));
	sb_inherit(b, &one);
	if (json_array_size(arr) < MAX_NAMES_LISTED)
		cki_sb_printf(
		    b, "%s%s", json_array_size(arr) ? ", " : "", sb_text(&one));
	json_array_append_new(arr, jstr(sb_text(&one)));
	cki_sb_free(&one);
}

/* The names of x that its CAs' name constraints refuse, as OpenSSL checks
 * them (NAME_CONSTRAINTS_check, _check_CN): each subjectAltName, the
 * subject as a DirName and each subject emailAddress, and for a leaf
 * without a DNS name the CN, unless the host flags say never the subject.
 * Into b as a list, and as a JSON array. */
static json_t *
nc_names_outside(const struct explain *e, int depth, X509 *x, struct cki_sb *b)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(e->xsc);
	GENERAL_NAMES *gens =
	    X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	X509_NAME *subj = X509_get_subject_name(x);
	json_t *arr = json_array();
	bool dns = false;
	GENERAL_NAME tmp;

	for (int i = 0; arr != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(gens, i);

		dns = dns || gn->type == GEN_DNS;
		if (nc_outside(chain, depth, gn, x))
			nc_list(arr, b, "", gn, NULL);
	}
	tmp.type = GEN_DIRNAME;
	tmp.d.directoryName = subj;
	if (arr != NULL && X509_NAME_entry_count(subj) > 0 &&
	    nc_outside(chain, depth, &tmp, x))
		nc_list(arr, b, "", &tmp, NULL);
	tmp.type = GEN_EMAIL;
	for (int i = -1; arr != NULL &&
	     (i = X509_NAME_get_index_by_NID(
	          subj, NID_pkcs9_emailAddress, i)) >= 0;) {
		tmp.d.rfc822Name =
		    X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, i));
		if (nc_outside(chain, depth, &tmp, x))
			nc_list(
			    arr, b, "emailAddress:", NULL, tmp.d.rfc822Name);
	}
	if (arr != NULL && depth == 0 && !dns &&
	    (X509_VERIFY_PARAM_get_hostflags(
	         X509_STORE_CTX_get0_param(e->xsc)) &
	        X509_CHECK_FLAG_NEVER_CHECK_SUBJECT) == 0 &&
	    nc_outside(chain, depth, NULL, x)) {
		int i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);

		if (i >= 0)
			nc_list(arr, b, "CN:", NULL,
			    X509_NAME_ENTRY_get_data(
			        X509_NAME_get_entry(subj, i)));
	}
	if (json_array_size(arr) > MAX_NAMES_LISTED)
		cki_sb_printf(b, " and %zu more",
		    json_array_size(arr) - MAX_NAMES_LISTED);
	GENERAL_NAMES_free(gens);
	return arr;
}

static int
ex_name_constraints(const struct excase *c)
{
	const struct explain *e = c->e;
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	json_t *f = c->f;
	X509 *x = r->cert;
	int bad = 0;
	struct cki_sb names = CKI_SB_INIT(CKI_SB_MSG_MAX);
	struct cki_sb rules = CKI_SB_INIT(CKI_SB_MSG_MAX);
	struct cki_sb out = CKI_SB_INIT(CKI_SB_MSG_MAX);
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(e->xsc);
	json_t *sans = san_list(x, &names);
	json_t *outside = nc_names_outside(e, r->depth, x, &out);

	for (int i = r->depth + 1; i < sk_X509_num(chain); i++) {
		X509 *ca = sk_X509_value(chain, i);
		NAME_CONSTRAINTS *nc =
		    X509_get_ext_d2i(ca, NID_name_constraints, NULL, NULL);
		char *cs;

		if (nc == NULL)
			continue;
		cs = subject_of(ca);
		cki_sb_printf(
		    &rules, "%s'%s' permits ", rules.n ? "; " : "", cs);
		for (int j = 0;
		     j < sk_GENERAL_SUBTREE_num(nc->permittedSubtrees); j++) {
			if (j)
				cki_sb_printf(&rules, ", ");
			sb_general_name(&rules,
			    sk_GENERAL_SUBTREE_value(nc->permittedSubtrees, j)
			        ->base);
		}
		if (sk_GENERAL_SUBTREE_num(nc->permittedSubtrees) <= 0)
			cki_sb_printf(&rules, "any name");
		for (int j = 0;
		     j < sk_GENERAL_SUBTREE_num(nc->excludedSubtrees); j++) {
			cki_sb_printf(&rules, j ? ", " : " and excludes ");
			sb_general_name(&rules,
			    sk_GENERAL_SUBTREE_value(nc->excludedSubtrees, j)
			        ->base);
		}
		free(cs);
		NAME_CONSTRAINTS_free(nc);
	}
	cki_sb_printf(msg,
	    "The certificate names %s, outside what its CA may "
	    "issue for (name constraints, RFC 5280 4.2.1.10)%s%s.",
	    json_array_size(outside) ? sb_text(&out) : sb_text(&names),
	    rules.n ? ": " : "", sb_text(&rules));
	sb_inherit(msg, json_array_size(outside) ? &out : &names);
	sb_inherit(msg, &rules);
	cki_sb_free(&names);
	cki_sb_free(&rules);
	cki_sb_free(&out);
	cki_sb_printf(fix,
	    "Have it issued with names inside the CA's "
	    "permitted names, or by a CA that may issue for these "
	    "names.");
	bad |= jadd(f, "sans", sans);
	bad |= jadd(f, "outside", outside);
	return bad;
}

static int
ex_path_length(const struct excase *c)
{
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	char *sub = subject_of(r->cert);
	long pl = X509_get_pathlen(x);

	cki_sb_printf(msg,
	    "This CA allows at most %ld CA certificate%s below "
	    "it (basicConstraints pathLenConstraint, RFC 5280 "
	    "4.2.1.9), but the chain has %d.",
	    pl, pl == 1 ? "" : "s", r->depth > 0 ? r->depth - 1 : 0);
	cki_sb_printf(fix,
	    "Have the leaf issued by a CA that is allowed to "
	    "issue it (directly by '%s', or by a CA within its path "
	    "length).",
	    sub);
	free(sub);
	return 0;
}

static int
ex_invalid_signature(const struct excase *c)
{
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;
	X509 *x = r->cert;
	char *iss = issuer_of(r->cert);

	if (r->err == X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM)
		cki_sb_printf(msg,
		    "The certificate's signature algorithm "
		    "(%s) is not supported, so its signature cannot be "
		    "checked.",
		    OBJ_nid2ln(X509_get_signature_nid(x)));
	else
		cki_sb_printf(msg,
		    "The certificate's signature does not "
		    "verify with the key of its issuer '%s': it was "
		    "altered, damaged in transfer, or signed by "
		    "another "
		    "CA of the same name.",
		    iss);
	cki_sb_printf(fix,
	    "Get an intact copy of the certificate and of its "
	    "issuer's; if the error stays, the issuer certificate in "
	    "the chain is the wrong one.");
	free(iss);
	return 0;
}

static int
ex_invalid_ca(const struct excase *c)
{
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;

	cki_sb_printf(msg,
	    "This certificate is used as a CA (it issued the "
	    "one below it) but is not allowed to be one: %s.",
	    r->err == X509_V_ERR_KEYUSAGE_NO_CERTSIGN
	        ? "its keyUsage lacks keyCertSign"
	        : "it lacks basicConstraints CA:TRUE");
	cki_sb_printf(fix,
	    "Issue certificates only from a real CA "
	    "certificate (basicConstraints CA:TRUE, keyUsage "
	    "keyCertSign), and put that CA in the chain.");
	return 0;
}

static int
ex_chain_too_long(const struct excase *c)
{
	const struct explain *e = c->e;
	struct cki_sb *msg = c->msg, *fix = c->fix;

	cki_sb_printf(msg,
	    "The chain needs more intermediate certificates "
	    "than the %d allowed (--max-depth).",
	    e->p->max_depth);
	cki_sb_printf(fix,
	    "Raise --max-depth if this chain is expected, or "
	    "find why the chain is so long (a loop of cross-signed "
	    "CAs).");
	return 0;
}

static int
ex_malformed(const struct excase *c)
{
	const struct rec *r = c->r;
	struct cki_sb *msg = c->msg, *fix = c->fix;

	cki_sb_printf(msg, "OpenSSL rejects this certificate: %s.",
	    X509_verify_cert_error_string(r->err));
	cki_sb_printf(fix,
	    "Have the certificate reissued in line with RFC "
	    "5280; the issuing software or CA produced a certificate "
	    "standard software refuses.");
	return 0;
}

/* The explanation of each code, by code (explain_one()). Each fills the
 * message and the remedy, and may add fields to the finding `f`; returns
 * non-zero when a field could not be added. */
typedef int explain_fn(const struct excase *c);

static const struct {
	const char *code;
	explain_fn *fn;
} explainers[] = {
    {"cert_expired", ex_cert_expired},
    {"cert_not_yet_valid", ex_cert_not_yet_valid},
    {"hostname_mismatch", ex_hostname_mismatch},
    {"self_signed_leaf", ex_self_signed_leaf},
    {"untrusted_root", ex_untrusted_root},
    {"weak_signature", ex_weak_signature},
    {"weak_key", ex_weak_key},
    {"revoked", ex_revoked},
    {"crl_missing", ex_crl_missing},
    {"crl_expired", ex_crl_expired},
    {"crl_not_yet_valid", ex_crl_expired},
    {"crl_invalid", ex_crl_invalid},
    {"bad_usage", ex_bad_usage},
    {"name_constraints", ex_name_constraints},
    {"path_length", ex_path_length},
    {"invalid_signature", ex_invalid_signature},
    {"invalid_ca", ex_invalid_ca},
    {"chain_too_long", ex_chain_too_long},
    {"malformed", ex_malformed},
};

/*
 * Explains one error: the final code (NULL: out of memory), its message in
 * msg, its remedy in fix, and the fields the code adds in f.
 */
static const char *
explain_one(struct explain *e, const struct rec *r, const char *code,
    struct cki_sb *out_msg, struct cki_sb *out_fix, json_t *f)
{
	struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX);
	struct cki_sb fix = CKI_SB_INIT(CKI_SB_MSG_MAX);
	explain_fn *fn = ex_malformed;
	int bad = 0;

	if (r->cert == NULL) {
		/* OpenSSL named no certificate: say what it said. */
		code = cki_verify_code(r->err);
		cki_sb_printf(&msg, "OpenSSL reports: %s.",
		    X509_verify_cert_error_string(r->err));
		cki_sb_printf(&fix,
		    "Check the chain with 'certkit show' and the "
		    "options given; this error names no certificate.");
	} else if (strcmp(code, CODE_ISSUER) == 0) {
		code = classify_missing_issuer(e, r->cert, &msg, &fix, f);
	} else {
		struct excase c = {e, r, NULL, &msg, &fix, f};

		for (size_t i = 0;
		     i < sizeof(explainers) / sizeof(explainers[0]); i++)
			if (strcmp(explainers[i].code, code) == 0)
				fn = explainers[i].fn;
		/* A code without an explanation of its own is malformed. */
		if (fn == ex_malformed)
			code = "malformed";
		c.code = code;
		bad |= fn(&c);
	}
	*out_msg = msg;
	*out_fix = fix;
	return bad ? NULL : code;
}

/* One finding object; the common fields come first. NULL when out of
 * memory, or (*too_large) when its message or remedy would pass
 * CKI_SB_MSG_MAX. */
static json_t *
finding_json(struct explain *e, const struct rec *r, const char *mapped,
    const char **final, bool *too_large)
{
	json_t *f = NULL, *oe = json_object(), *extra = json_object(), *v;
	struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX);
	struct cki_sb fix = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char fp[65], *sub = subject_of(r->cert);
	const char *code, *k;
	int bad = 0;

	*final = NULL;
	*too_large = false;
	cert_sha256(r->cert, fp);
	if (oe == NULL || extra == NULL ||
	    (code = explain_one(e, r, mapped, &msg, &fix, extra)) == NULL)
		goto nomem;
	if (msg.failed || fix.failed) {
		*too_large = msg.too_large || fix.too_large;
		goto nomem;
	}
	/* The finding model (report.c), with the deprecated "message" and
	 * "remedy"; then depth, subject, sha256 and openssl_error; then the
	 * fields the code adds, which are its evidence too. */
	f = cki_finding_new(CKI_REPORT_VERIFY, code, false, sb_text(&msg),
	    sb_text(&fix), CKI_OLD_MESSAGE | CKI_OLD_REMEDY);
	if (f == NULL)
		goto nomem;
	bad |= jadd(f, "depth", json_integer(r->depth));
	bad |= jadd(f, "subject", jstr(sub));
	bad |= jadd(f, "sha256", json_string(fp));
	bad |= jadd(oe, "code", json_integer(r->err));
	bad |= jadd(
	    oe, "text", json_string(X509_verify_cert_error_string(r->err)));
	bad |= jadd(f, "openssl_error", oe);
	oe = NULL;
	json_object_foreach(extra, k, v)
	{
		bad |= jadd(f, k, json_incref(v));
		bad |= cki_finding_evidence(f, k, json_incref(v));
	}
	if (bad)
		goto nomem;
	json_decref(extra);
	free(sub);
	cki_sb_free(&msg);
	cki_sb_free(&fix);
	*final = code;
	return f;
nomem:
	json_decref(oe);
	json_decref(extra);
	json_decref(f);
	free(sub);
	cki_sb_free(&msg);
	cki_sb_free(&fix);
	return NULL;
}

/* ---- the chain and the parameters ------------------------------------------
 */

/* Adds to `o` the fields of a chain entry that depend on the certificate
 * only. `issuer`: the issuer's name as text, already made (a reference is
 * taken), or NULL to make it here. Nonzero when memory ran out. */
static int
add_cert_fields(json_t *o, X509 *x, json_t *issuer)
{
	char *sub = subject_of(x), *iss = issuer ? NULL : issuer_of(x);
	char nb[32], na[32], fp[65], spki[65];
	int bad = o == NULL;

	asn1_time_text(X509_get0_notBefore(x), nb);
	asn1_time_text(X509_get0_notAfter(x), na);
	cert_sha256(x, fp);
	cert_spki_sha256(x, spki);
	bad |= jadd(o, "subject", jstr(sub));
	bad |= jadd(o, "issuer", issuer ? json_incref(issuer) : jstr(iss));
	bad |= jadd(o, "not_before", json_string(nb));
	bad |= jadd(o, "not_after", json_string(na));
	bad |= jadd(o, "sha256", json_string(fp));
	bad |= jadd(o, "spki_sha256", json_string(spki));
	free(sub);
	free(iss);
	return bad;
}

static json_t *
cert_fields(X509 *x, json_t *issuer)
{
	json_t *o = json_object();

	if (add_cert_fields(o, x, issuer)) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* One entry of the report's chain: its depth, the certificate's fields
 * (from `fields`, or made here from x when NULL; `issuer` as for
 * add_cert_fields) and whether it is an anchor. NULL if memory ran out. */
static json_t *
chain_entry(
    int depth, const json_t *fields, X509 *x, json_t *issuer, bool anchor)
{
	json_t *o = json_object();
	int bad = o == NULL;

	bad |= jadd(o, "depth", json_integer(depth));
	if (fields != NULL)
		/* Shares the cached strings (reference counts), copies none.
		 * jansson takes no const here; it modifies nothing. */
		bad |= o != NULL &&
		    json_object_update(o, (json_t *)(uintptr_t)fields) != 0;
	else
		bad |= add_cert_fields(o, x, issuer);
	/* Certificates at and above num_untrusted came from the trust
	 * store: they are anchors (RFC 5280 6.1.1 (d)). */
	bad |= jadd(o, "anchor", json_boolean(anchor));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Two names with the same DER encoding print the same (the text is made
 * from the encoded attributes alone). */
static bool
same_name_der(const X509_NAME *a, const X509_NAME *b)
{
	const unsigned char *da = NULL, *db = NULL;
	size_t la = 0, lb = 0;

	return X509_NAME_get0_der(a, &da, &la) == 1 &&
	    X509_NAME_get0_der(b, &db, &lb) == 1 && la == lb &&
	    memcmp(da, db, la) == 0;
}

/*
 * The cache of CA certificates' fields (struct cki_verify_cache): in bulk
 * verification every leaf has the same intermediates and root, whose names
 * and digests are worth computing once, and whose whole chain entry is
 * the same at the same depth. A slot holds a reference to its certificate,
 * so the pointer cannot be reused by another one while cached. A leaf is
 * not cached, but its issuer's name usually is: the subject of a cached CA
 * certificate with the same encoded name.
 */
static json_t *
leaf_entry(struct cki_verify_cache *c, X509 *x, int depth, bool anchor)
{
	const X509_NAME *in = X509_get_issuer_name(x);
	json_t *iss = NULL, *e;
	unsigned int i;

	if (!CRYPTO_THREAD_read_lock(c->lock))
		return chain_entry(depth, NULL, x, NULL, anchor);
	for (i = 0; iss == NULL && i < CKI_VERIFY_CACHE_SLOTS; i++)
		if (c->slot[i].x != NULL &&
		    same_name_der(X509_get_subject_name(c->slot[i].x), in))
			iss = json_incref(
			    json_object_get(c->slot[i].fields, "subject"));
	CRYPTO_THREAD_unlock(c->lock);
	e = chain_entry(depth, NULL, x, iss, anchor);
	json_decref(iss);
	return e;
}

/* The chain entry of x at `depth`: a new reference, or NULL if memory ran
 * out. With a cache, a CA certificate's entry is shared with the cache and
 * with every other report that has it at the same place. */
static json_t *
cached_entry(struct cki_verify_cache *c, X509 *x, int depth, bool anchor)
{
	json_t *f = NULL, *e = NULL;
	unsigned int i;

	if (c == NULL)
		return chain_entry(depth, NULL, x, NULL, anchor);
	if (X509_check_ca(x) == 0)
		return leaf_entry(c, x, depth, anchor);
	if (!CRYPTO_THREAD_write_lock(c->lock))
		return chain_entry(depth, NULL, x, NULL, anchor);
	for (i = 0; i < CKI_VERIFY_CACHE_SLOTS && c->slot[i].x != x; i++)
		;
	if (i == CKI_VERIFY_CACHE_SLOTS) {
		if ((f = cert_fields(x, NULL)) != NULL && X509_up_ref(x)) {
			i = c->next++ % CKI_VERIFY_CACHE_SLOTS;
			X509_free(c->slot[i].x);
			json_decref(c->slot[i].fields);
			json_decref(c->slot[i].entry);
			c->slot[i].x = x;
			c->slot[i].fields = f;
			c->slot[i].entry = NULL;
			f = NULL;
		}
	}
	if (i == CKI_VERIFY_CACHE_SLOTS) /* out of memory: uncached */
		e = f != NULL ? chain_entry(depth, f, x, NULL, anchor) : NULL;
	else if (c->slot[i].entry != NULL && c->slot[i].depth == depth &&
	    c->slot[i].anchor == anchor)
		e = json_incref(c->slot[i].entry);
	else if ((e = chain_entry(depth, c->slot[i].fields, x, NULL, anchor)) !=
	    NULL) {
		json_decref(c->slot[i].entry);
		c->slot[i].entry = json_incref(e);
		c->slot[i].depth = depth;
		c->slot[i].anchor = anchor;
	}
	CRYPTO_THREAD_unlock(c->lock);
	json_decref(f);
	return e;
}

/* Drops the cached parameters and their inputs. */
static void
params_clear(struct cki_verify_cache *c)
{
	json_decref(c->params.json);
	free(c->params.host);
	free(c->params.ip);
	free(c->params.email);
	free(c->params.anchors);
	memset(&c->params, 0, sizeof(c->params));
}

struct cki_verify_cache *
cki_verify_cache_new(void)
{
	struct cki_verify_cache *c = calloc(1, sizeof(*c));

	if (c != NULL && (c->lock = CRYPTO_THREAD_lock_new()) == NULL) {
		free(c);
		c = NULL;
	}
	return c;
}

void
cki_verify_cache_free(struct cki_verify_cache *c)
{
	if (c == NULL)
		return;
	for (unsigned int i = 0; i < CKI_VERIFY_CACHE_SLOTS; i++) {
		X509_free(c->slot[i].x);
		json_decref(c->slot[i].fields);
		json_decref(c->slot[i].entry);
		X509_free(c->clean[i].x);
	}
	params_clear(c);
	CRYPTO_THREAD_lock_free(c->lock);
	free(c);
}

static json_t *
chain_json(X509_STORE_CTX *xsc, struct cki_verify_cache *cache)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(xsc);
	int nu = X509_STORE_CTX_get_num_untrusted(xsc);
	json_t *arr = json_array();

	for (int i = 0; arr != NULL && i < sk_X509_num(chain); i++) {
		json_t *o =
		    cached_entry(cache, sk_X509_value(chain, i), i, i >= nu);

		/* append_new() consumes o, even when it fails. */
		if (o == NULL || json_array_append_new(arr, o) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *
opt_str(const char *s)
{
	return s != NULL ? jstr(s) : json_null();
}

static json_t *
params_json(const struct cki_verify_params *p, time_t t, const char *anchors)
{
	json_t *o = json_object();
	char ts[32];
	int bad = o == NULL;

	cki_fmt_time((int64_t)t, ts);
	bad |= jadd(o, "time", json_string(ts));
	bad |= jadd(o, "host", opt_str(p->host));
	bad |= jadd(o, "ip", opt_str(p->ip));
	bad |= jadd(o, "email", opt_str(p->email));
	bad |= jadd(o, "purpose",
	    json_string(p->purpose == CK_PURPOSE_SERVER ? "server"
	            : p->purpose == CK_PURPOSE_CLIENT   ? "client"
	                                                : "any"));
	bad |= jadd(o, "crl_check", json_boolean(sk_X509_CRL_num(p->crls) > 0));
	bad |= jadd(o, "max_depth",
	    p->max_depth >= 0 ? json_integer(p->max_depth) : json_null());
	bad |= jadd(o, "partial_chain", json_boolean(p->partial_chain));
	bad |= jadd(o, "anchors", jstr(anchors));
	bad |= jadd(o, "security_level", json_integer(p->security_level));
	bad |= jadd(o, "policy",
	    json_string(p->policy == CK_POLICY_STRICT ? "strict" : "compat"));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* The cache's parameters were made from these inputs. */
static bool
same_str(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

static bool
params_match(const struct cki_verify_cache *c,
    const struct cki_verify_params *p, time_t t, const char *anchors)
{
	return c->params.json != NULL && c->params.t == t &&
	    same_str(c->params.host, p->host) &&
	    same_str(c->params.ip, p->ip) &&
	    same_str(c->params.email, p->email) &&
	    same_str(c->params.anchors, anchors) &&
	    c->params.purpose == (int)p->purpose &&
	    c->params.max_depth == p->max_depth &&
	    c->params.security_level == p->security_level &&
	    c->params.policy == (int)p->policy &&
	    c->params.crl_check == (sk_X509_CRL_num(p->crls) > 0) &&
	    c->params.partial_chain == p->partial_chain;
}

/* Keeps `o` as the cache's parameters for these inputs (a reference is
 * taken); keeps nothing if memory runs out. */
static void
params_keep(struct cki_verify_cache *c, json_t *o,
    const struct cki_verify_params *p, time_t t, const char *anchors)
{
	params_clear(c);
	c->params.host = p->host != NULL ? strdup(p->host) : NULL;
	c->params.ip = p->ip != NULL ? strdup(p->ip) : NULL;
	c->params.email = p->email != NULL ? strdup(p->email) : NULL;
	c->params.anchors = anchors != NULL ? strdup(anchors) : NULL;
	if ((p->host != NULL && c->params.host == NULL) ||
	    (p->ip != NULL && c->params.ip == NULL) ||
	    (p->email != NULL && c->params.email == NULL) ||
	    (anchors != NULL && c->params.anchors == NULL)) {
		params_clear(c);
		return;
	}
	c->params.json = json_incref(o);
	c->params.t = t;
	c->params.purpose = (int)p->purpose;
	c->params.max_depth = p->max_depth;
	c->params.security_level = p->security_level;
	c->params.policy = (int)p->policy;
	c->params.crl_check = sk_X509_CRL_num(p->crls) > 0;
	c->params.partial_chain = p->partial_chain;
}

/* params_json, shared through p->cache when the inputs are the same as
 * last time (bulk verification: every report has the same). */
static json_t *
cached_params(const struct cki_verify_params *p, time_t t, const char *anchors)
{
	struct cki_verify_cache *c = p->cache;
	json_t *o;

	if (c == NULL || !CRYPTO_THREAD_write_lock(c->lock))
		return params_json(p, t, anchors);
	if (params_match(c, p, t, anchors))
		o = json_incref(c->params.json);
	else if ((o = params_json(p, t, anchors)) != NULL)
		params_keep(c, o, p, t, anchors);
	CRYPTO_THREAD_unlock(c->lock);
	return o;
}

/* ---- cki_verify_chain -------------------------------------------------------
 */

/* Pass 1's error is not about the certificate: no verdict. */
static ck_status
no_verdict(ck_ctx *ctx, int err)
{
	if (err == X509_V_ERR_OUT_OF_MEM)
		return cki_err(
		    ctx, CK_E_NOMEM, "out of memory while verifying");
	return cki_err(ctx, CK_E_INTERNAL,
	    "the verifier failed without a verdict: %s (%s)",
	    X509_verify_cert_error_string(err), cki_ossl_reason());
}

static ck_status
build_findings(
    ck_ctx *ctx, struct explain *e, struct recorder *all, json_t *findings)
{
	const char **codes = NULL;
	int *depths = NULL;
	size_t nf = 0;
	ck_status st = CK_OK;

	if (all->n > 0 &&
	    ((codes = calloc(all->n, sizeof(*codes))) == NULL ||
	        (depths = calloc(all->n, sizeof(*depths))) == NULL)) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	for (size_t i = 0; i < all->n; i++) {
		const struct rec *r = &all->r[i];
		const char *mapped = map_code(r->err), *final;
		json_t *f;
		bool dup = false, too_large;

		if (strcmp(mapped, CODE_INTERNAL) == 0)
			continue; /* pass 2 only; pass 1 returned no_verdict */
		if ((f = finding_json(e, r, mapped, &final, &too_large)) ==
		    NULL) {
			st = too_large
			    ? cki_err(ctx, CK_E_REFUSED,
			          "the explanation of the %s finding at "
			          "depth %d would pass %zu MiB: the "
			          "certificate's names or extensions are too "
			          "large to report",
			          cki_verify_code(r->err), r->depth,
			          CKI_SB_MSG_MAX >> 20)
			    : cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		/* One finding per (code, depth): OpenSSL reports some causes
		 * twice (issuer not found, then leaf signature unverifiable).
		 */
		for (size_t j = 0; j < nf; j++)
			if (depths[j] == r->depth &&
			    strcmp(codes[j], final) == 0)
				dup = true;
		if (dup) {
			json_decref(f);
			continue;
		}
		if (json_array_append_new(findings, f) != 0) {
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		codes[nf] = final;
		depths[nf] = r->depth;
		nf++;
	}
err:
	free(codes);
	free(depths);
	return st;
}

/* What both entry points refuse before any verification. */
static ck_status
check_input(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    const struct cki_verify_params *p)
{
	ck_status st;

	if (anchors == NULL || leaf == NULL || p == NULL)
		return cki_err(ctx, CK_E_USAGE,
		    "nothing to verify: no trust anchors or no certificate");
	if ((st = check_params(ctx, p)) != CK_OK)
		return st;
	if (!store_is_plain(anchors))
		return cki_err(ctx, CK_E_USAGE,
		    "the trust store replaces "
		    "some of OpenSSL's verification steps with its own; "
		    "certkit verifies only with OpenSSL's");
	return CK_OK;
}

/*
 * Pass 1 at time t: the verdict (*ok) and its context. RFC 5280 4.1.2.5
 * counts notAfter itself as valid, OpenSSL 3.0 as expired: when that is
 * why the run at t failed, the verdict is a run at t - 1 (*vt), the time
 * pass 2 then uses too.
 */
static ck_status
pass1(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf, STACK_OF(X509) * untrusted,
    const struct cki_verify_params *p, time_t *vt, X509_STORE_CTX **xsc,
    struct recorder *rc, int *ok)
{
	ck_status st;

	for (int run = 0; run < 2; run++) {
		X509_STORE_CTX_free(*xsc);
		*xsc = NULL;
		recorder_free(rc);
		if ((st = setup_xsc(ctx, xsc, anchors, leaf, untrusted, p, *vt,
		         strict_cb, rc)) != CK_OK)
			return st;
		ERR_clear_error();
		*ok = X509_verify_cert(*xsc);
		if (rc->oom)
			return cki_err(ctx, CK_E_NOMEM, "out of memory");
		if (*ok == 1 || rc->n == 0 ||
		    !cki_verify_at_not_after(rc->r[0].err, rc->r[0].cert, *vt))
			break;
		(*vt)--;
	}
	return CK_OK;
}

/* The rules of verify_rules.c on the chain as built; under the strict
 * policy a rule broken makes the verdict invalid. */
static ck_status
apply_rules(ck_ctx *ctx, X509_STORE_CTX *xsc, const struct cki_verify_params *p,
    json_t *findings, int *ok)
{
	size_t broken = 0;
	ck_status st;

	st = cki_verify_rules(
	    ctx, X509_STORE_CTX_get0_chain(xsc), p, findings, &broken);
	if (st == CK_OK && broken > 0 && p->policy == CK_POLICY_STRICT)
		*ok = 0;
	return st;
}

/* Pass 1 (invariant 1) through pass1(), and its sanity: a success must be
 * a clean one (no error recorded or left on the context), a failure must
 * say why; anything else is no verdict. */
static ck_status
verdict_run(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p, time_t *vt,
    X509_STORE_CTX **xsc, struct recorder *rc, int *ok)
{
	ck_status st;

	if ((st = pass1(ctx, anchors, leaf, untrusted, p, vt, xsc, rc, ok)) !=
	    CK_OK)
		return st;
	if (*ok < 0 ||
	    (*ok == 1 &&
	        (rc->n != 0 || X509_STORE_CTX_get_error(*xsc) != X509_V_OK)) ||
	    (*ok == 0 &&
	        (rc->n == 0 ||
	            strcmp(map_code(X509_STORE_CTX_get_error(*xsc)),
	                CODE_INTERNAL) == 0)))
		return no_verdict(ctx, X509_STORE_CTX_get_error(*xsc));
	return CK_OK;
}

/* cki_path_verify_fn for verify_path.c: cki_verify_run() (pass 1's checks,
 * strict_cb) on one candidate path. */
struct path_arg {
	ck_ctx *ctx;
	X509_STORE *anchors;
	X509 *leaf;
	struct cki_verify_params p;
};

static ck_status
verify_one_path(void *arg, STACK_OF(X509) * untrusted, bool *ok)
{
	struct path_arg *a = arg;
	struct cki_verify_result res;
	ck_status st;

	*ok = false;
	if ((st = cki_verify_run(a->ctx, a->anchors, a->leaf, untrusted, &a->p,
	         false, &res)) != CK_OK)
		return st;
	*ok = res.ok;
	cki_verify_result_clear(&res);
	return CK_OK;
}

/*
 * Pass 1 failed on an error another issuer could avoid: search the other
 * paths (verify_path.c). When one passes, pass 1 is made again on that
 * path's intermediates and its run is the verdict (*xsc, *rc and *ok
 * replaced); *alt is then the alternate_path finding. Otherwise nothing
 * changes: the report is pass 1's failure, as without the search.
 */
static ck_status
other_path(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p, time_t t,
    time_t *vt, X509_STORE_CTX **xsc, struct recorder *rc, int *ok,
    json_t **alt)
{
	struct path_arg a = {ctx, anchors, leaf, *p};
	struct cki_path_choice pc;
	int err, depth;
	ck_status st;

	if (*ok != 0 || !cki_path_worth_trying(rc->r[0].err, rc->r[0].depth))
		return CK_OK;
	err = rc->r[0].err;
	depth = rc->r[0].depth;
	a.p.time = (int64_t)t;
	if ((st = cki_path_search(ctx, anchors, leaf, untrusted, p->max_depth,
	         verify_one_path, &a, &pc)) != CK_OK ||
	    pc.untrusted == NULL)
		goto done;
	X509_STORE_CTX_free(*xsc);
	*xsc = NULL;
	recorder_free(rc);
	rc->oom = false;
	*vt = t;
	if ((st = verdict_run(ctx, anchors, leaf, pc.untrusted, p, vt, xsc, rc,
	         ok)) != CK_OK)
		goto done;
	if (*ok == 1 &&
	    (*alt = cki_path_finding(&pc, X509_STORE_CTX_get0_chain(*xsc),
	         cki_verify_code(err), depth)) == NULL)
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
done:
	cki_path_choice_clear(&pc);
	return st;
}

ck_status
cki_verify_chain(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p,
    json_t **report, int *valid)
{
	struct recorder strict = {0}, diag = {0};
	X509_STORE_CTX *xsc = NULL, *dxsc = NULL;
	json_t *rep = NULL, *findings = NULL, *chain = NULL, *params = NULL;
	json_t *alt = NULL;
	const char *anchor_words = p != NULL && p->anchor_source != NULL
	    ? p->anchor_source
	    : "the trust anchors";
	time_t t, vt;
	int ok = 0;
	ck_status st;

	*report = NULL;
	*valid = 0;
	if ((st = check_input(ctx, anchors, leaf, p)) != CK_OK)
		return st;
	t = p->time != 0 ? (time_t)p->time : cki_now(ctx);
	vt = t;

	/* Pass 1: the verdict; on a failure another issuer could avoid, the
	 * verdict of the first other path that passes (verify_path.h). */
	if ((st = verdict_run(ctx, anchors, leaf, untrusted, p, &vt, &xsc,
	         &strict, &ok)) != CK_OK ||
	    (st = other_path(ctx, anchors, leaf, untrusted, p, t, &vt, &xsc,
	         &strict, &ok, &alt)) != CK_OK)
		goto err;
	if ((rep = json_object()) == NULL ||
	    (findings = json_array()) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if (ok == 1) {
		chain = chain_json(xsc, p->cache);
		/* append_new() consumes alt, even when it fails. */
		if (alt != NULL && json_array_append_new(findings, alt) != 0) {
			alt = NULL;
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		alt = NULL;
		st = apply_rules(ctx, xsc, p, findings, &ok);
	} else {
		struct explain e;

		/* Pass 2: diagnostics only (invariant 1). */
		if ((st = setup_xsc(ctx, &dxsc, anchors, leaf, untrusted, p, vt,
		         collect_cb, &diag)) != CK_OK)
			goto err;
		ERR_clear_error();
		(void)X509_verify_cert(dxsc); /* its result is not a verdict */
		ERR_clear_error();
		/* Pass 1's reason first, then everything else pass 2 saw. */
		for (size_t i = 0; i < diag.n && !strict.oom; i++)
			record(&strict, diag.r[i].err, diag.r[i].depth,
			    diag.r[i].cert, diag.r[i].crl);
		if (strict.oom || diag.oom) {
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		e.ctx = ctx;
		e.p = p;
		e.t = t;
		e.xsc = dxsc;
		e.untrusted = untrusted;
		e.anchors = anchor_words;
		if ((st = build_findings(ctx, &e, &strict, findings)) != CK_OK)
			goto err;
		chain = chain_json(dxsc, p->cache);
		st = apply_rules(ctx, dxsc, p, findings, &ok);
	}
	if (st != CK_OK)
		goto err;
	params = cached_params(p, t, anchor_words);
	{
		/* jadd() consumes its value whether it succeeds or not. */
		int bad =
		    jadd(rep, "version", json_integer(CKI_REPORT_VERSION));

		bad |= jadd(rep, "valid", json_boolean(ok == 1));

		bad |= jadd(rep, "findings", findings);
		bad |= jadd(rep, "chain", chain);
		bad |= jadd(rep, "parameters", params);
		findings = chain = params = NULL;
		if (bad) {
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
	}
	*valid = ok == 1;
	*report = rep;
	rep = NULL;
	st = CK_OK;
err:
	json_decref(rep);
	json_decref(findings);
	json_decref(chain);
	json_decref(params);
	json_decref(alt);
	X509_STORE_CTX_free(xsc);
	X509_STORE_CTX_free(dxsc);
	recorder_free(&strict);
	recorder_free(&diag);
	ERR_clear_error();
	return st;
}

ck_status
cki_verify_run(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p,
    bool every_error, struct cki_verify_result *out)
{
	struct recorder rc = {0};
	X509_STORE_CTX *xsc = NULL;
	time_t t;
	int ok;
	ck_status st;

	memset(out, 0, sizeof(*out));
	if ((st = check_input(ctx, anchors, leaf, p)) != CK_OK)
		return st;
	t = p->time != 0  ? (time_t)p->time
	    : ctx != NULL ? cki_now(ctx)
	                  : time(NULL);
	for (int run = 0; run < 2; run++) {
		X509_STORE_CTX_free(xsc);
		xsc = NULL;
		recorder_free(&rc);
		if ((st = setup_xsc(ctx, &xsc, anchors, leaf, untrusted, p, t,
		         every_error ? collect_cb : strict_cb, &rc)) != CK_OK)
			goto err;
		ERR_clear_error();
		ok = X509_verify_cert(xsc);
		if (rc.oom) {
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		/* RFC 5280 4.1.2.5: notAfter is valid (pass1()). */
		if (rc.n == 0 ||
		    !cki_verify_at_not_after(rc.r[0].err, rc.r[0].cert, t))
			break;
		t--;
	}
	out->ok = ok == 1 && rc.n == 0;
	if ((out->rules = json_array()) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	/* Its callers read no warnings: the rules run under strict only. */
	if (p->policy == CK_POLICY_STRICT &&
	    (st = apply_rules(ctx, xsc, p, out->rules, &ok)) != CK_OK) {
		json_decref(out->rules);
		out->rules = NULL;
		goto err;
	}
	out->ok = out->ok && ok == 1;
	out->chain = X509_STORE_CTX_get1_chain(xsc);
	out->err = rc.r;
	out->nerr = rc.n;
	rc.r = NULL;
	rc.n = 0;
	st = CK_OK;
err:
	X509_STORE_CTX_free(xsc);
	recorder_free(&rc);
	ERR_clear_error();
	return st;
}

void
cki_verify_result_clear(struct cki_verify_result *r)
{
	struct recorder rc = {r->err, r->nerr, r->nerr, false};

	recorder_free(&rc);
	sk_X509_pop_free(r->chain, X509_free);
	json_decref(r->rules);
	json_decref(r->alternate);
	memset(r, 0, sizeof(*r));
}

/*
 * The search of cki_verify_search() after a first run `first` that failed
 * on error `err` at `depth`: *out replaced by the run on the path that
 * passes, if any. The inner runs (verify_one_path) are cki_verify_run(),
 * which never searches: no recursion.
 */
static ck_status
search_other(struct path_arg *a, STACK_OF(X509) * untrusted, bool every_error,
    int err, int depth, struct cki_verify_result *out)
{
	struct cki_path_choice pc;
	struct cki_verify_result alt = {0};
	ck_status st;

	if ((st = cki_path_search(a->ctx, a->anchors, a->leaf, untrusted,
	         a->p.max_depth, verify_one_path, a, &pc)) != CK_OK ||
	    pc.untrusted == NULL)
		goto done;
	if ((st = cki_verify_run(a->ctx, a->anchors, a->leaf, pc.untrusted,
	         &a->p, every_error, &alt)) != CK_OK)
		goto done;
	/* The same checks as the inner run that passed: a failure now would
	 * be OpenSSL's inconsistency; the first run's result then stands. */
	if (!alt.ok)
		goto done;
	if ((alt.alternate = cki_path_finding(
	         &pc, alt.chain, cki_verify_code(err), depth)) == NULL) {
		st = cki_err(a->ctx, CK_E_NOMEM, "out of memory");
		goto done;
	}
	cki_verify_result_clear(out);
	*out = alt;
	memset(&alt, 0, sizeof(alt));
done:
	cki_verify_result_clear(&alt);
	cki_path_choice_clear(&pc);
	return st;
}

ck_status
cki_verify_search(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, const struct cki_verify_params *p,
    bool every_error, struct cki_verify_result *out)
{
	struct path_arg a;
	ck_status st;

	if ((st = cki_verify_run(ctx, anchors, leaf, untrusted, p, every_error,
	         out)) != CK_OK ||
	    out->ok || out->nerr == 0 ||
	    !cki_path_worth_trying(out->err[0].err, out->err[0].depth))
		return st;
	a.ctx = ctx;
	a.anchors = anchors;
	a.leaf = leaf;
	a.p = *p;
	/* Every path at the first run's time, even when the clock moves. */
	a.p.time = p->time != 0 ? p->time
	    : ctx != NULL       ? (int64_t)cki_now(ctx)
	                        : (int64_t)time(NULL);
	if ((st = search_other(&a, untrusted, every_error, out->err[0].err,
	         out->err[0].depth, out)) != CK_OK)
		cki_verify_result_clear(out);
	return st;
}

/* ---- ck_verify_opts
 * ---------------------------------------------------------- */

struct ck_verify_opts {
	ck_ctx *ctx;       /* borrowed: where the setters report */
	X509_STORE *store; /* the anchors given, or the system store */
	size_t nroots;     /* anchors given; 0: use the system store */
	/* Changed by ck_verify() (through a const opts) when it loads the
	 * system store the first time: hence behind a pointer, under lock. */
	struct vstate {
		bool system_loaded;
		char anchors[600]; /* words for the report */
	} * state;
	char roots_list[512];           /* the --roots paths given */
	struct cki_verify_cache *cache; /* CA certificates' report fields */
	CRYPTO_RWLOCK *lock;            /* guards the lazy system-store load */
	STACK_OF(X509) * untrusted;
	STACK_OF(X509_CRL) * crls;
	char *host, *ip, *email;
	ck_purpose purpose;
	int max_depth;
	ck_policy policy;
};

ck_status
ck_verify_opts_new(ck_ctx *ctx, ck_verify_opts **out)
{
	ck_verify_opts *o;

	if (ctx == NULL || out == NULL)
		return CK_E_USAGE;
	cki_begin(ctx);
	*out = NULL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	o->ctx = ctx;
	o->store = X509_STORE_new();
	o->lock = CRYPTO_THREAD_lock_new();
	o->state = calloc(1, sizeof(*o->state));
	o->cache = cki_verify_cache_new();
	o->untrusted = sk_X509_new_null();
	o->crls = sk_X509_CRL_new_null();
	o->purpose = CK_PURPOSE_SERVER;
	o->max_depth = -1;
	if (o->store == NULL || o->lock == NULL || o->state == NULL ||
	    o->cache == NULL || o->untrusted == NULL || o->crls == NULL) {
		ck_verify_opts_free(o);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	*out = o;
	return CK_OK;
}

void
ck_verify_opts_free(ck_verify_opts *o)
{
	if (o == NULL)
		return;
	X509_STORE_free(o->store);
	CRYPTO_THREAD_lock_free(o->lock);
	free(o->state);
	cki_verify_cache_free(o->cache);
	sk_X509_pop_free(o->untrusted, X509_free);
	sk_X509_CRL_pop_free(o->crls, X509_CRL_free);
	free(o->host);
	free(o->ip);
	free(o->email);
	free(o);
}

static ck_status
add_anchor(ck_ctx *ctx, ck_verify_opts *o, X509 *x)
{
	/* Adding the same certificate twice is not an error (OpenSSL keeps
	 * one copy): a directory often holds a file and its hash link. */
	if (!X509_STORE_add_cert(o->store, x))
		return cki_err(ctx, CK_E_INTERNAL,
		    "cannot add a trust anchor: %s", cki_ossl_reason());
	o->nroots++;
	return CK_OK;
}

static ck_status
add_bundle_anchors(ck_ctx *ctx, ck_verify_opts *o, const ck_bundle *b)
{
	ck_status st;

	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++)
		if ((st = add_anchor(
		         ctx, o, ck_bundle_get0_cert(b, i)->x509)) != CK_OK)
			return st;
	return CK_OK;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Every file of the directory that loads and holds certificates; the rest
 * (CRLs, keys, READMEs, hash links to CRLs) is skipped silently, in name
 * order so that messages are repeatable. A password-protected PKCS#12 file
 * is read with the password given, never prompted for.
 */
static ck_status
add_roots_dir(ck_ctx *ctx, ck_verify_opts *o, const char *dir)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL, path[4096];
	size_t n = 0, cap = 0, files = 0, found = 0;
	ck_ctx *quiet = NULL;
	ck_status st = CK_OK;

	if ((d = opendir(dir)) == NULL)
		return cki_err(ctx, CK_E_IO,
		    "%s: cannot read the directory: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' &&
		    (de->d_name[1] == '\0' ||
		        (de->d_name[1] == '.' && de->d_name[2] == '\0')))
			continue;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nn = realloc(names, nc * sizeof(*nn));

			if (nn == NULL) {
				st = cki_err(ctx, CK_E_NOMEM, "out of memory");
				goto err;
			}
			names = nn;
			cap = nc;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			goto err;
		}
		n++;
	}
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	if ((quiet = ck_ctx_new()) == NULL ||
	    (ctx->password != NULL &&
	        ck_ctx_set_password(quiet, ctx->password) != CK_OK)) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat sbuf;
		ck_bundle *b = NULL;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &sbuf) != 0 || !S_ISREG(sbuf.st_mode))
			continue;
		files++;
		if (ck_load_file(quiet, path, &b) != CK_OK)
			continue;
		found += ck_bundle_count(b, CK_OBJ_CERT);
		st = add_bundle_anchors(ctx, o, b);
		ck_bundle_free(b);
		if (st != CK_OK)
			goto err;
	}
	if (found == 0)
		st = cki_no_anchors(ctx, dir, true, files);
err:
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	ck_ctx_free(quiet);
	return st;
}

ck_status
cki_no_anchors(ck_ctx *ctx, const char *path, bool dir, size_t files)
{
	char why[96];

	if (!dir)
		snprintf(why, sizeof(why), "the file is empty");
	else if (files == 0)
		snprintf(why, sizeof(why), "the directory is empty");
	else
		snprintf(why, sizeof(why),
		    "none of the %zu files in the directory holds a "
		    "certificate",
		    files);
	return cki_err(ctx, CK_E_FORMAT,
	    "%s: no trust anchor in it: %s; expected CA certificates (PEM, "
	    "DER, PKCS#7 or PKCS#12) in a file or a directory of files",
	    path, why);
}

/* "the trust anchors given (a.pem, dir/)": the words messages use. */
static void
note_anchors(ck_verify_opts *o, const char *what)
{
	size_t len = strlen(o->roots_list);

	if (len + strlen(what) + 3 < sizeof(o->roots_list))
		snprintf(o->roots_list + len, sizeof(o->roots_list) - len,
		    "%s%s", len ? ", " : "", what);
	snprintf(o->state->anchors, sizeof(o->state->anchors),
	    "the trust anchors given "
	    "(%s)",
	    o->roots_list);
}

ck_status
ck_verify_opts_add_roots(ck_verify_opts *o, const char *path)
{
	ck_ctx *ctx;
	struct stat sbuf;
	ck_bundle *b = NULL;
	ck_status st;

	if (o == NULL)
		return CK_E_USAGE;
	ctx = o->ctx;
	cki_begin(ctx);
	if (path == NULL)
		return cki_err(ctx, CK_E_USAGE, "no trust anchor file given");
	if (stat(path, &sbuf) != 0)
		return cki_err(ctx, CK_E_IO, "%s: %s", path,
		    errno == ENOENT ? "no such file or directory"
		                    : strerror(errno));
	if (S_ISDIR(sbuf.st_mode)) {
		st = add_roots_dir(ctx, o, path);
	} else if (S_ISREG(sbuf.st_mode) && sbuf.st_size == 0) {
		st = cki_no_anchors(ctx, path, false, 0);
	} else {
		/* RFC 5280 6.1: whatever the file holds is an anchor, be it
		 * self-signed or not (X509_V_FLAG_PARTIAL_CHAIN). */
		if ((st = ck_load_expect(ctx, path, CK_OBJ_CERT, &b)) != CK_OK)
			return st;
		st = add_bundle_anchors(ctx, o, b);
		ck_bundle_free(b);
	}
	if (st == CK_OK)
		note_anchors(o, path);
	return st;
}

ck_status
ck_verify_opts_add_root_cert(ck_verify_opts *o, const ck_cert *c)
{
	ck_ctx *ctx;
	ck_status st;

	if (o == NULL)
		return CK_E_USAGE;
	ctx = o->ctx;
	cki_begin(ctx);
	if (c == NULL)
		return cki_err(ctx, CK_E_USAGE, "no trust anchor given");
	if ((st = add_anchor(ctx, o, c->x509)) == CK_OK)
		note_anchors(o, "a certificate");
	return st;
}

ck_status
ck_verify_opts_add_untrusted(ck_verify_opts *o, const char *path)
{
	ck_ctx *ctx;
	ck_bundle *b = NULL;
	ck_status st;

	if (o == NULL)
		return CK_E_USAGE;
	ctx = o->ctx;
	cki_begin(ctx);
	if (path == NULL)
		return cki_err(ctx, CK_E_USAGE, "no intermediate file given");
	if ((st = ck_load_expect(ctx, path, CK_OBJ_CERT, &b)) != CK_OK)
		return st;
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CERT); i++) {
		X509 *x = ck_bundle_get0_cert(b, i)->x509;

		if (!X509_up_ref(x) || !sk_X509_push(o->untrusted, x)) {
			X509_free(x);
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			break;
		}
	}
	ck_bundle_free(b);
	return st;
}

ck_status
ck_verify_opts_add_crl(ck_verify_opts *o, const char *path)
{
	ck_ctx *ctx;
	ck_bundle *b = NULL;
	ck_status st;

	if (o == NULL)
		return CK_E_USAGE;
	ctx = o->ctx;
	cki_begin(ctx);
	if (path == NULL)
		return cki_err(ctx, CK_E_USAGE, "no CRL file given");
	if ((st = ck_load_expect(ctx, path, CK_OBJ_CRL, &b)) != CK_OK)
		return st;
	for (size_t i = 0; i < ck_bundle_count(b, CK_OBJ_CRL); i++) {
		X509_CRL *c = cki_bundle_get(b, CK_OBJ_CRL, i);

		if (!X509_CRL_up_ref(c) || !sk_X509_CRL_push(o->crls, c)) {
			X509_CRL_free(c);
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			break;
		}
	}
	ck_bundle_free(b);
	return st;
}

static ck_status
set_str(char **dst, const char *s)
{
	char *copy = NULL;

	if (s != NULL && (copy = strdup(s)) == NULL)
		return CK_E_NOMEM;
	free(*dst);
	*dst = copy;
	return CK_OK;
}

static bool
is_ip_literal(const char *s)
{
	ASN1_OCTET_STRING *ip = a2i_IPADDRESS(s);

	ASN1_OCTET_STRING_free(ip);
	ERR_clear_error();
	return ip != NULL;
}

/*
 * RFC 6125 6.2.1: a reference identity is a DNS name (an IP literal is
 * matched against iPAddress names, so it is stored as an IP). A wildcard or
 * a space in the name asked for is refused: OpenSSL would compare it
 * literally, and "*.example.com" would then "match" a wildcard certificate.
 */
ck_status
ck_verify_opts_set_host(ck_verify_opts *o, const char *host)
{
	ck_status st;

	if (o == NULL || host == NULL || host[0] == '\0' || strlen(host) > 253)
		return CK_E_USAGE;
	if (is_ip_literal(host)) {
		if ((st = set_str(&o->ip, host)) != CK_OK)
			return st;
		free(o->host);
		o->host = NULL;
		return CK_OK;
	}
	for (const char *q = host; *q; q++)
		if (!isalnum((unsigned char)*q) && *q != '-' && *q != '.' &&
		    *q != '_')
			return CK_E_USAGE;
	return set_str(&o->host, host);
}

ck_status
ck_verify_opts_set_ip(ck_verify_opts *o, const char *ip)
{
	ck_ctx *ctx;

	if (o == NULL)
		return CK_E_USAGE;
	ctx = o->ctx;
	cki_begin(ctx);
	if (ip == NULL || !is_ip_literal(ip))
		return cki_err(ctx, CK_E_USAGE,
		    "'%s' is not an IP address: expected IPv4 like 192.0.2.10 "
		    "or IPv6 like 2001:db8::10",
		    ip != NULL ? ip : "");
	if (set_str(&o->ip, ip) != CK_OK)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

ck_status
ck_verify_opts_set_email(ck_verify_opts *o, const char *email)
{
	const char *at;

	if (o == NULL || email == NULL || (at = strchr(email, '@')) == NULL ||
	    at == email || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return CK_E_USAGE;
	for (const char *q = email; *q; q++)
		if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
			return CK_E_USAGE;
	return set_str(&o->email, email);
}

void
ck_verify_opts_set_purpose(ck_verify_opts *o, ck_purpose p)
{
	if (o != NULL)
		o->purpose = p;
}

void
ck_verify_opts_set_max_depth(ck_verify_opts *o, int depth)
{
	if (o != NULL)
		o->max_depth = depth;
}

ck_status
ck_verify_opts_set_policy(ck_verify_opts *o, ck_policy p)
{
	if (o == NULL)
		return CK_E_USAGE;
	cki_begin(o->ctx);
	if (p != CK_POLICY_COMPAT && p != CK_POLICY_STRICT)
		return cki_err(o->ctx, CK_E_USAGE,
		    "unknown policy %d: expected compat or strict", (int)p);
	o->policy = p;
	return CK_OK;
}

ck_status
ck_policy_parse(ck_ctx *ctx, const char *s, ck_policy *out)
{
	if (ctx == NULL || out == NULL)
		return CK_E_USAGE;
	cki_begin(ctx);
	if (s != NULL && strcmp(s, "compat") == 0)
		*out = CK_POLICY_COMPAT;
	else if (s != NULL && strcmp(s, "strict") == 0)
		*out = CK_POLICY_STRICT;
	else
		return cki_err(ctx, CK_E_USAGE,
		    "unknown policy '%s': expected compat or strict",
		    s != NULL ? s : "");
	return CK_OK;
}

/* ---- the system store
 * ---------------------------------------------------------- */

/* Entries named like OpenSSL's hashed certificates: 8 hex digits, '.', a
 * number ("5ad8a5d6.0"). */
static size_t
count_hashed(const char *dirs)
{
	char one[4096];
	size_t count = 0;
	const char *p = dirs;

	while (p != NULL && *p) {
		const char *colon = strchr(p, ':');
		size_t len = colon ? (size_t)(colon - p) : strlen(p);
		DIR *d;
		struct dirent *de;

		if (len > 0 && len < sizeof(one)) {
			memcpy(one, p, len);
			one[len] = '\0';
			if ((d = opendir(one)) != NULL) {
				while ((de = readdir(d)) != NULL) {
					const char *n = de->d_name;
					size_t i = 0;

					while (i < 8 &&
					    isxdigit((unsigned char)n[i]))
						i++;
					if (i == 8 && n[8] == '.' &&
					    isdigit((unsigned char)n[9]))
						count++;
				}
				closedir(d);
			}
		}
		p = colon ? colon + 1 : NULL;
	}
	return count;
}

/*
 * Loads the store every OpenSSL program on this machine uses:
 * SSL_CERT_FILE / SSL_CERT_DIR, else the built-in paths. OpenSSL ignores a
 * missing file or directory silently; certkit does not, since "untrusted"
 * would then be the wrong diagnosis.
 */
static ck_status
load_system_store(ck_ctx *ctx, const ck_verify_opts *o)
{
	const char *fenv = getenv(X509_get_default_cert_file_env());
	const char *denv = getenv(X509_get_default_cert_dir_env());
	const char *file =
	    fenv != NULL && fenv[0] ? fenv : X509_get_default_cert_file();
	const char *dir =
	    denv != NULL && denv[0] ? denv : X509_get_default_cert_dir();
	struct stat sbuf;
	size_t nfile, ndir;

	if (fenv != NULL && fenv[0] && stat(file, &sbuf) != 0)
		return cki_err(ctx, CK_E_IO,
		    "SSL_CERT_FILE=%s: %s; unset it or point it at a CA bundle",
		    file, strerror(errno));
	if (!X509_STORE_set_default_paths(o->store))
		return cki_err(ctx, CK_E_INTERNAL,
		    "cannot load the system "
		    "trust store: %s",
		    cki_ossl_reason());
	ERR_clear_error();
	nfile = (size_t)sk_X509_OBJECT_num(X509_STORE_get0_objects(o->store));
	ndir = count_hashed(dir);
	if (nfile == 0 && ndir == 0)
		return cki_err(ctx, CK_E_NOTFOUND,
		    "no trust anchors: the system trust store is missing or "
		    "empty (file %s, directory %s); give the CA certificates "
		    "as trust anchors (the roots setting), or install the "
		    "ca-certificates package",
		    file, dir);
	snprintf(o->state->anchors, sizeof(o->state->anchors),
	    "the system trust store (%s, %s)", file, dir);
	o->state->system_loaded = true;
	return CK_OK;
}

/* ---- ck_verify
 * ------------------------------------------------------------------- */

ck_status
ck_verify(ck_ctx *ctx, const ck_verify_opts *o, const ck_bundle *target,
    char **json, int *valid)
{
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	STACK_OF(X509) *untrusted = NULL;
	json_t *rep = NULL;
	size_t ncert;
	ck_status st = CK_OK;

	cki_begin(ctx);
	*json = NULL;
	*valid = 0;
	if (o == NULL || target == NULL)
		return cki_err(ctx, CK_E_USAGE, "no options or no certificate");
	if ((ncert = ck_bundle_count(target, CK_OBJ_CERT)) == 0)
		return cki_err(ctx, CK_E_USAGE,
		    "nothing to verify: the bundle "
		    "holds no certificate");
	if (o->nroots == 0) {
		if (!CRYPTO_THREAD_write_lock(o->lock))
			return cki_err(
			    ctx, CK_E_INTERNAL, "cannot take a lock");
		/* Loaded once, on first use; the lock makes that safe
		 * between threads sharing the opts. */
		if (!o->state->system_loaded)
			st = load_system_store(ctx, o);
		CRYPTO_THREAD_unlock(o->lock);
		if (st != CK_OK)
			return st;
	}
	/* The rest of the target, then --untrusted: RFC 5280 6.1 leaves the
	 * order to path building; OpenSSL tries them in this order. */
	if ((untrusted = sk_X509_new_reserve(
	         NULL, (int)(ncert - 1) + sk_X509_num(o->untrusted))) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	for (size_t i = 1; i < ncert; i++)
		(void)sk_X509_push(
		    untrusted, ck_bundle_get0_cert(target, i)->x509);
	for (int i = 0; i < sk_X509_num(o->untrusted); i++)
		(void)sk_X509_push(untrusted, sk_X509_value(o->untrusted, i));
	p.host = o->host;
	p.ip = o->ip;
	p.email = o->email;
	p.purpose = o->purpose;
	p.crls = o->crls;
	p.max_depth = o->max_depth;
	p.partial_chain = o->nroots > 0;
	p.anchor_source = o->state->anchors;
	p.cache = o->cache;
	p.policy = o->policy;
	if ((st = cki_verify_chain(ctx, o->store,
	         ck_bundle_get0_cert(target, 0)->x509, untrusted, &p, &rep,
	         valid)) != CK_OK)
		goto err;
	/* json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER), faster (bulk). */
	if ((*json = cki_json_compact(rep)) == NULL) {
		*valid = 0;
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
err:
	json_decref(rep);
	sk_X509_free(untrusted);
	return st;
}
