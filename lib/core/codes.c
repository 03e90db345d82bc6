/*
 * codes.c: the one table of every finding and diagnosis code certkit emits.
 *
 * Each code is a stable identifier (docs/json.md, stability rule 2): one
 * root cause, never reused for another meaning (BearSSL's named statuses).
 * A row says which reports use it (a bit per report), its severity there,
 * and what it means, in one line. A code whose meaning and severity are the
 * same in several reports (cert_expired in show, verify and the doctor) is
 * ONE row with several report bits; a name whose severity differs by report
 * (weak_key: a warning in show, an error when verifying) has one row per
 * severity.
 *
 * Invariants:
 *  1. (report, code) identifies at most one row (the unit test test_codes
 *     checks the whole table).
 *  2. The severity of a finding is the row's. Only a row with `lowerable`
 *     may also appear as a warning (the doctor's clock_skew, missing_root
 *     and tls_interception have warning forms).
 *  3. docs/json.md lists exactly these codes per report: the CTest test
 *     lint_codes_docs compares it with `codes_dump` (tests/lint/codes.sh).
 */
#include <string.h>

#include "ck_internal.h"

#define SH CKI_REPORT_SHOW
#define VE CKI_REPORT_VERIFY
#define DO CKI_REPORT_DOCTOR
#define AU CKI_REPORT_AUDIT
#define ID CKI_REPORT_IDENTITY
#define SV CKI_REPORT_SERVER
#define E CKI_SEV_ERROR
#define W CKI_SEV_WARNING
#define I CKI_SEV_INFO

static const struct cki_code codes[] = {
    /* Certificates and chains: shared by several reports. */
    {"cert_expired", SH | VE | DO, E, false,
        "a certificate is past its notAfter"},
    {"cert_not_yet_valid", SH | VE | DO, E, false,
        "a certificate's notBefore is in the future"},
    {"hostname_mismatch", VE | DO, E, false,
        "the name asked for is not in the certificate (RFC 6125)"},
    {"self_signed_leaf", VE | DO, E, false,
        "the leaf is self-signed and not a trust anchor"},
    {"untrusted_root", VE | DO, E, false,
        "the chain ends at a root that is not a trust anchor"},
    {"incomplete_chain", VE | DO, E, false,
        "an intermediate is missing: the leaf's issuer is nowhere"},
    {"weak_signature", VE | DO | ID, E, false,
        "signed with under 112-bit security (MD5, SHA-1)"},
    {"weak_key", VE | DO | ID, E, false,
        "a key under 112-bit security (RSA < 2048)"},
    {"revoked", VE | DO, E, false,
        "a CRL or stapled OCSP response revokes the certificate"},
    {"key_mismatch", SH | ID, E, false,
        "a private key matches none of the certificates given"},
    {"chain_invalid", DO | ID, E, false,
        "any other RFC 5280 violation of the chain"},
    {"expires_soon", DO | ID, W, false, "a certificate expires within 30 days"},

    /* show (describe.c, chain.c) */
    {"leaf_not_first", SH, E, false,
        "the first certificate is a CA though the bundle has a leaf"},
    {"gap", SH, E, false,
        "an intermediate is missing between two certificates"},
    {"reversed_order", SH, W, false,
        "every issuer comes before what it issued"},
    {"out_of_order", SH, W, false,
        "a certificate is not directly followed by its issuer"},
    {"duplicate", SH, W, false, "an exact copy of an earlier certificate"},
    {"multiple_leaves", SH, W, false, "more than one end-entity certificate"},
    {"unrelated", SH, W, false,
        "a certificate with no issuer or subject in the bundle"},
    {"root_included", SH, I, false, "a self-signed root in a bundle"},
    {"cert_revoked", SH, E, false, "listed in a CRL of the bundle"},
    {"weak_signature", SH, W, false, "an MD5 or SHA-1 signature"},
    {"weak_key", SH, W, false, "RSA/DSA under 2048 bits, EC under 224"},
    {"csr_bad_signature", SH, E, false, "the CSR's signature does not verify"},
    {"crl_stale", SH | SV, W, false, "the CRL is past its nextUpdate"},
    {"crl_not_yet_valid", SH, W, false,
        "the CRL's lastUpdate is in the future"},
    {"crl_bad_signature", SH, E, false,
        "the CRL issuer's certificate does not verify the CRL"},

    /* verify (verify.c) */
    {"crl_missing", VE, E, false, "no CRL of the certificate's issuer"},
    {"crl_expired", VE, E, false, "the issuer's CRL is past its nextUpdate"},
    {"crl_not_yet_valid", VE, E, false,
        "the issuer's CRL starts after the verification time"},
    {"crl_invalid", VE, E, false, "the CRL cannot be used"},
    {"bad_usage", VE, E, false,
        "the certificate is not allowed for the purpose (EKU, keyUsage)"},
    {"name_constraints", VE, E, false,
        "a CA's name constraints exclude the certificate's names"},
    {"path_length", VE, E, false, "a CA's pathLenConstraint is exceeded"},
    {"invalid_signature", VE, E, false,
        "the signature does not verify with the issuer's key"},
    {"invalid_ca", VE, E, false, "a certificate used as a CA is not one"},
    {"chain_too_long", VE, E, false,
        "more intermediates than the maximum depth allows"},
    {"malformed", VE, E, false, "anything else OpenSSL refuses"},
    {"alternate_path", VE, I, false,
        "the first chain built failed; another chain is valid and chosen"},

    /* verify --policy and show --policy (verify_rules.c): errors under
     * strict, warnings (lowerable) under compat. ip_not_canonical is about
     * the address asked for: verify only. */
    {"cn_only_name", SH | VE, E, true,
        "the host name is only in the CN, no DNS/IP SAN (RFC 6125 6.4.4)"},
    {"ip_not_canonical", VE, E, true,
        "the IP address asked for is not in inet_pton form"},
    {"bad_serial", SH | VE, E, true,
        "the serial is zero, negative or over 20 octets (RFC 5280 4.1.2.2)"},
    {"cert_old_version", SH | VE, E, true,
        "a v1 certificate below the root (RFC 5280 4.1.2.1)"},
    {"ca_no_ski", SH | VE, E, true,
        "a CA without subjectKeyIdentifier (RFC 5280 4.2.1.2)"},
    {"ca_basic_constraints_not_critical", SH | VE, E, true,
        "a CA's basicConstraints is not critical (RFC 5280 4.2.1.9)"},
    {"ca_empty_subject", SH | VE, E, true,
        "a CA with an empty subject (RFC 5280 4.1.2.6)"},
    {"name_constraints_not_critical", SH | VE, E, true,
        "nameConstraints not critical (RFC 5280 4.2.1.10)"},
    {"policy_constraints_not_critical", SH | VE, E, true,
        "policyConstraints not critical (RFC 5280 4.2.1.11)"},
    {"dsa_key", SH | VE, E, true, "a DSA key (BR 6.1.5)"},
    {"ec_curve", SH | VE, E, true,
        "an EC key not on P-256, P-384 or P-521 (BR 6.1.5)"},
    {"rsa_modulus", SH | VE, E, true,
        "an RSA modulus not a multiple of 8 bits (BR 6.1.5)"},
    {"san_not_critical", SH | VE, E, true,
        "an empty subject with a non-critical SAN (RFC 5280 4.2.1.6)"},
    {"aia_malformed", SH | VE, E, true,
        "authorityInfoAccess critical, undecodable or not URIs (RFC 5280 "
        "4.2.2.1)"},
    {"leaf_no_aki", SH | VE, E, true,
        "a leaf without authorityKeyIdentifier (RFC 5280 4.2.1.1)"},
    {"leaf_key_cert_sign", SH | VE, E, true,
        "a leaf that is no CA with keyCertSign (RFC 5280 4.2.1.3)"},
    {"leaf_any_eku", SH | VE, E, true,
        "a leaf with anyExtendedKeyUsage (BR 7.1.2.7.10)"},
    {"leaf_eku_critical", SH | VE, E, true,
        "a leaf with a critical EKU (BR 7.1.2.7.10)"},
    {"leaf_no_eku", SH | VE, E, false,
        "a leaf without EKU, under strict only (BR 7.1.2.7.10)"},
    {"wildcard_public_suffix", SH | VE, E, true,
        "a wildcard over a public suffix (BR 3.2.2.6)"},
    {"dns_name_malformed", SH | VE, E, true,
        "a SAN or name-constraint dNSName not in preferred name syntax (RFC "
        "5280 4.2.1.6)"},
    {"root_aki", SH | VE, E, true,
        "a root's AKI has issuer/serial or differs from its SKI (RFC 5280 "
        "4.2.1.1)"},
    {"root_eku", SH | VE, E, true,
        "a root with extendedKeyUsage (BR 7.1.2.1.2)"},
    {"crl_no_number", SH | VE, E, true,
        "a CRL without cRLNumber (RFC 5280 5.2.3)"},

    /* doctor (doctor_diag.c) */
    {"ok", DO, I, false, "every check passed"},
    {"dns_failure", DO, E, false, "NXDOMAIN, SERVFAIL, REFUSED or no address"},
    {"dns_timeout", DO, E, false, "no DNS answer within the timeout"},
    {"dns_sinkhole", DO, E, false, "a public name answered a sinkhole address"},
    {"tcp_refused", DO, E, false, "connection refused, or no route"},
    {"tcp_timeout", DO, E, false, "SYN silently dropped"},
    {"tcp_reset", DO, E, false, "reset before the TLS handshake"},
    {"proxy_failure", DO, E, false, "the proxy is unreachable or refused"},
    {"proxy_auth_required", DO, E, false,
        "the proxy asks for authentication (407)"},
    {"handshake_timeout", DO, E, false, "TCP accepted, then no TLS answer"},
    {"tls_reset", DO, E, false, "reset after the peer took the ClientHello"},
    {"not_tls", DO, E, false, "the peer answered with something not TLS"},
    {"tls_protocol_mismatch", DO, E, false, "no common TLS version"},
    {"tls_cipher_mismatch", DO, E, false,
        "no common cipher suite, group or signature algorithm"},
    {"tls_handshake_failed", DO, E, false, "any other handshake failure"},
    {"client_cert_required", DO, E, false,
        "the server requires a client certificate"},
    {"client_cert_rejected", DO, E, false,
        "the server refused the client certificate"},
    {"client_pending_approval", DO, E, false,
        "the server holds the device's pairing request for an admin"},
    {"clock_skew", DO, E, true, "the device's clock is wrong"},
    {"fallback_certificate", DO, E, false,
        "the server answered with a placeholder certificate"},
    {"missing_root", DO, E, true,
        "the chain leads to a reference root the store lacks"},
    {"expired_root_in_store", DO, E, false,
        "the chain ends at an expired root a valid one would replace"},
    {"tls_interception", DO, E, true,
        "re-signed by an inspecting CA, or failing the pins"},
    {"root_in_chain", DO, W, false, "the server sends its root"},
    {"chain_order", DO, W, false, "the server sends its chain out of order"},
    {"weak_tls", DO, W, false, "no forward secrecy, or a CBC suite"},
    {"ocsp_invalid", DO, W, false, "a stapled OCSP response cannot be used"},
    {"alternate_path", DO, W, false,
        "valid only through another chain than the first built; clients "
        "that do not search fail"},
    {"plain_http", DO, W, false,
        "--https if-available: the device answers plain HTTP, not TLS"},

    /* trust audit (trust_audit.c) */
    {"expired_anchor", AU, E, false, "an effective certificate has expired"},
    {"expiring_anchor", AU, W, false, "an anchor expires within 90 days"},
    {"not_yet_valid_anchor", AU, E, false, "an anchor is not valid yet"},
    {"weak_anchor_key", AU, E, false, "an anchor's RSA key is under 2048 bits"},
    {"non_ca_anchor", AU, W, false, "an anchor is not a CA"},
    {"duplicate_anchor", AU, W, false,
        "one key trusted under several certificates"},
    {"missing_required_root", AU, E, false, "a required root is not present"},
    {"distrusted_present", AU, E, false,
        "a distrusted certificate sits in the outputs"},
    {"outputs_stale", AU, W, false, "the outputs do not match their inputs"},

    /* identity (identity.c, identity_check.c) */
    {"leaf_is_ca", ID, E, false, "the certificate to install is a CA"},
    {"expired", ID, E, false, "the identity's certificate has expired"},
    {"not_yet_valid", ID, E, false,
        "the identity's certificate is not valid yet"},
    {"no_san", ID, E, false, "the certificate has no subjectAltName"},
    {"name_not_covered", ID, E, false,
        "a configured name is not in the certificate"},
    {"eku_no_server_auth", ID, E, false, "the EKU lacks serverAuth"},
    {"eku_no_client_auth", ID, E, false,
        "a client identity's EKU lacks clientAuth"},
    {"ku_no_digital_signature", ID, E, true,
        "the keyUsage lacks digitalSignature"},
    {"bad_signature", ID, E, false, "a chain signature does not verify"},
    {"detected_name_not_covered", ID, W, false,
        "a detected name is not in the certificate"},
    {"chain_incomplete", ID, W, false, "the chain does not reach a root"},
    {"unrelated_certificate", ID, W, false,
        "a certificate of the input is not in the chain"},
    {"chain_completed", ID, I, false, "intermediates were added to the chain"},
    {"alternate_path", ID, I, false,
        "the chain first built fails; another path is valid and installed"},
    {"chain_reordered", ID, I, false, "the chain was put in order"},
    {"crlf_input", ID, I, false, "the input had CRLF line ends"},
    {"self_signed", ID, I, false, "the certificate is self-signed"},
    {"no_identity", ID, E, false, "no identity exists"},
    {"not_managed", ID, E, false, "the identity directory is not certkit's"},
    {"damaged", ID, E, false, "the current identity cannot be read"},
    {"renewal_due", ID, W, false, "the renewal window has started"},
    {"names_not_covered", ID, W, false, "the device's names are not covered"},
    {"key_exposed", ID, E, false, "the private key file is readable by others"},
    /* certkit serve: the `type` of a problem+json answer (RFC 9457), the
     * same words the doctor reports on the client side. */
    {"client_cert_required", SV, E, false,
        "401: the request came without a client certificate"},
    {"pending_approval", SV, W, false,
        "202: the client's key waits for an admin's approval"},
    {"pending_signature", SV, W, false,
        "202: approved; a primary with the CA key signs the request"},
    {"client_rejected", SV, E, false, "403: an admin rejected the client"},
    {"client_suspended", SV, E, false, "403: an admin suspended the client"},
    {"client_revoked", SV, E, false, "403: an admin revoked the client"},
    {"certificate_revoked", SV, E, false,
        "403: a CRL or OCSP revokes a certificate of the client's chain"},
    {"issuer_not_trusted", SV, E, false,
        "403: trusted-ca policy and the chain does not verify to client_ca"},
    {"revocation_unavailable", SV, E, false,
        "403: ocsp = hard-fail and no usable OCSP answer"},
    {"pending_limit", SV, E, false,
        "503: max_pending requests are already waiting"},
    {"registry_unavailable", SV, E, false,
        "503: the registry cannot record a new client now"},
    {"no_signer", SV, E, false,
        "503: no primary with the CA key (ca = signer) is up"},
    {"not_found", SV, E, false, "404: no such resource"},
    {"method_not_allowed", SV, E, false,
        "405: the resource takes another method"},
    {"bad_request", SV, E, false, "400: the request is malformed"},
    {"payload_too_large", SV, E, false, "413: the body is over the limit"},
    {"token_invalid", SV, E, false,
        "403: the enrollment token is unknown, used up or expired"},
    {"certificate_expired", SV, E, false,
        "403: simplereenroll with a certificate past renew_grace or not "
        "the newest"},
    {"internal_error", SV, E, false, "500: the server failed to answer"},

    /* server warnings (revocation.c, ocsp_client.c) */
    {"crl_unusable", SV, W, false,
        "a crl file cannot be read or parsed; its last good copy is used"},
    {"ocsp_unavailable", SV, W, false,
        "an OCSP responder gave no usable answer"},
};

const struct cki_code *
cki_codes(size_t *n)
{
	*n = sizeof(codes) / sizeof(codes[0]);
	return codes;
}

const struct cki_code *
cki_code_find(unsigned report, const char *code)
{
	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if ((codes[i].reports & report) != 0 &&
		    strcmp(codes[i].code, code) == 0)
			return &codes[i];
	return NULL;
}

enum cki_severity
cki_code_severity(unsigned report, const char *code)
{
	const struct cki_code *c = cki_code_find(report, code);

	/* An unknown code is a programming error: test_codes and the
	 * reports' tests find it; the reader still gets a finding. */
	return c != NULL ? c->severity : CKI_SEV_ERROR;
}

const char *
cki_severity_name(enum cki_severity s)
{
	switch (s) {
	case CKI_SEV_ERROR: return "error";
	case CKI_SEV_WARNING: return "warning";
	case CKI_SEV_INFO: return "info";
	}
	return "?";
}

const char *
cki_report_name(unsigned report)
{
	switch (report) {
	case CKI_REPORT_SHOW: return "show";
	case CKI_REPORT_VERIFY: return "verify";
	case CKI_REPORT_DOCTOR: return "doctor";
	case CKI_REPORT_AUDIT: return "audit";
	case CKI_REPORT_IDENTITY: return "identity";
	case CKI_REPORT_SERVER: return "server";
	}
	return "?";
}
