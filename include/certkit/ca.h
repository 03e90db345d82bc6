/*
 * ca.h: certkit's issuing CA, the one `certkit serve` signs enrolled
 * clients' certificates with (`certkit ca`, certkit-ca(1)).
 *
 * The CA lives in a directory (HOME/ca): the issuing key (mode 0600), its
 * certificate, the root's certificate and, unless it was exported with
 * `--root-out`, the root's key. It is made in one atomic step: a crash
 * leaves no CA or the whole CA.
 *
 * These are pure functions over the CA's material: the registry (who is
 * approved, what is revoked) belongs to the caller, which passes what it
 * knows in (approved names, revoked lists, a status callback for OCSP).
 *
 * Invariants:
 *  1. Serials are 16 random bytes (positive), never a counter; the caller's
 *     store (the registry's UNIQUE constraint) is the backstop.
 *  2. An issued certificate carries only clientAuth, and only the names the
 *     caller approved: nothing of the CSR but its public key is copied.
 *  3. A CRL's number always grows, across processes (it is kept in the
 *     CA's directory).
 */
#ifndef CERTKIT_CA_H
#define CERTKIT_CA_H

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_ca ck_ca;

typedef enum ck_ca_key {
	CK_CA_KEY_EC_P256 = 0, /* the default */
	CK_CA_KEY_RSA_3072 = 1,
} ck_ca_key;

/* The default lifetime of an issued certificate, in days. */
#define CK_CA_CERT_DAYS 90
/* Bytes of a serial, and the length of its hex form (lower case). */
#define CK_CA_SERIAL_LEN 16
#define CK_CA_SERIAL_HEX (2 * CK_CA_SERIAL_LEN + 1)

typedef struct ck_ca_init_opts {
	const char *name;     /* CN of the issuing CA; NULL: "certkit CA" */
	ck_ca_key key;        /* the type of both keys */
	const char *root_out; /* NULL, or a new file (mode 0600) that gets the
	                         root's key, which is then not kept */
} ck_ca_init_opts;

/*
 * Makes a CA in `dir` (created, mode 0700; its parent must exist): a
 * self-signed root (20 years) and an issuing CA (10 years, pathlen 0)
 * signed by it. CK_E_EXISTS if dir holds a CA already; with root_out,
 * CK_E_EXISTS if that file exists. *out may be NULL.
 */
ck_status ck_ca_init(
    ck_ctx *ctx, const char *dir, const ck_ca_init_opts *o, ck_ca **out) CK_WUR;
/* Loads the CA of `dir`: CK_E_NOTFOUND if there is none (no ca.pem). */
ck_status ck_ca_load(ck_ctx *ctx, const char *dir, ck_ca **out) CK_WUR;
void ck_ca_free(ck_ca *ca);

/* The lifetime of what ck_ca_issue makes (1..3650; default 90). */
ck_status ck_ca_set_cert_days(ck_ca *ca, int days) CK_WUR;
/* The URLs issued certificates point to: the CRL distribution point and
 * the OCSP responder (authorityInfoAccess). NULL: none (the default). */
ck_status ck_ca_set_urls(
    ck_ca *ca, const char *crl_url, const char *ocsp_url) CK_WUR;

/* The issuing CA's and the root's certificates (borrowed). */
const ck_cert *ck_ca_get0_cert(const ck_ca *ca);
const ck_cert *ck_ca_get0_root(const ck_ca *ca);
/* The issuing CA then the root, PEM (caller frees with ck_free). */
ck_status ck_ca_chain_pem(ck_ctx *ctx, const ck_ca *ca, char **pem) CK_WUR;
/*
 * A certs-only PKCS#7 (DER, RFC 7030 section 4.1.3 / 4.2.3): the
 * certificate `der` (may be NULL) then the issuing CA and the root. For
 * EST's cacerts and simpleenroll answers. Caller frees *out (ck_free).
 */
ck_status ck_ca_pkcs7(ck_ctx *ctx, const ck_ca *ca, const uint8_t *der,
    size_t der_len, uint8_t **out, size_t *out_len) CK_WUR;
/* The JSON report of `certkit ca show` (docs/json.md, "ca"). */
ck_status ck_ca_show(ck_ctx *ctx, const ck_ca *ca, char **json) CK_WUR;

/* What ck_ca_issue made. Free its der with ck_ca_issued_clear. */
typedef struct ck_ca_issued {
	uint8_t *der; /* the certificate, DER */
	size_t der_len;
	char serial[CK_CA_SERIAL_HEX]; /* lower-case hex, 32 digits */
	char spki[65];                 /* SHA-256 of the SPKI, hex */
	char sha256[65];               /* SHA-256 of the certificate, hex */
	int64_t not_before, not_after;
} ck_ca_issued;

/*
 * Signs a client certificate for the CSR `csr` (DER or PEM; its signature
 * must verify: proof of possession). The subject is CN = names[0]; the SAN
 * holds exactly `names` (each a DNS name or an IP address literal), never
 * what else the CSR asks for. n may be 0 only if `cn` is given (a client
 * known by a label, no SAN). Key usage digitalSignature (+ keyEncipherment
 * for RSA), extendedKeyUsage clientAuth only, AKI/SKI, and the URLs of
 * ck_ca_set_urls. Validity: now - 5 min to now + cert days, and never
 * beyond the issuing CA's notAfter. CK_E_FORMAT for a bad CSR, CK_E_USAGE
 * for a bad name.
 */
ck_status ck_ca_issue(ck_ctx *ctx, const ck_ca *ca, const uint8_t *csr,
    size_t csr_len, const char *cn, const char *const *names, size_t n,
    ck_ca_issued *out) CK_WUR;
void ck_ca_issued_clear(ck_ca_issued *is);

/* Serial text (hex, any case, optional colons) -> the canonical form of
 * ck_ca_issued.serial. False if it is not a serial. */
int ck_ca_serial_norm(const char *in, char out[CK_CA_SERIAL_HEX]);

/* RFC 5280 section 5.3.1 CRLReason codes (also RFC 6960's). */
enum {
	CK_CA_REASON_UNSPECIFIED = 0,
	CK_CA_REASON_KEY_COMPROMISE = 1,
	CK_CA_REASON_CA_COMPROMISE = 2,
	CK_CA_REASON_AFFILIATION_CHANGED = 3,
	CK_CA_REASON_SUPERSEDED = 4,
	CK_CA_REASON_CESSATION = 5,
	CK_CA_REASON_HOLD = 6,
	CK_CA_REASON_PRIVILEGE_WITHDRAWN = 9,
};

/* One revoked certificate, as the caller's store knows it. */
typedef struct ck_ca_revoked {
	const char *serial; /* hex, as in ck_ca_issued.serial */
	int64_t revoked_at; /* seconds since the epoch */
	int reason;         /* CK_CA_REASON_*; < 0: no reason given */
	int64_t not_after;  /* of the certificate: once past, it is dropped */
} ck_ca_revoked;

/*
 * A DER CRL (v2) of the `n` revoked certificates, signed by the issuing CA:
 * entries whose certificate has expired are left out (RFC 5280 section
 * 3.3: the CRL stays small), thisUpdate now, nextUpdate now + next_secs
 * (<= 0: 1 day), AKI, and a CRL number greater than any this CA's
 * directory has given before. Caller frees *der with ck_free.
 */
ck_status ck_ca_crl(ck_ctx *ctx, ck_ca *ca, const ck_ca_revoked *list, size_t n,
    int64_t next_secs, uint8_t **der, size_t *der_len) CK_WUR;
/* The same with the CRL number the caller's store gives (several servers
 * sharing one CA and one store): *number > 0 is used as is; 0 takes the
 * directory's next, as ck_ca_crl, and *number gets it. */
ck_status ck_ca_crl_number(ck_ctx *ctx, ck_ca *ca, const ck_ca_revoked *list,
    size_t n, int64_t next_secs, uint64_t *number, uint8_t **der,
    size_t *der_len) CK_WUR;

/* The answer of an OCSP status lookup. */
typedef enum ck_ca_cert_state {
	CK_CA_GOOD = 0,
	CK_CA_REVOKED = 1,
	CK_CA_UNKNOWN = 2, /* not a certificate this CA issued */
} ck_ca_cert_state;

/* The lookup the OCSP responder calls for each serial asked about (of
 * this CA: others are never looked up). On CK_CA_REVOKED
 * it also sets *revoked_at and *reason (< 0: none). Non-CK_OK: the
 * responder answers internalError. */
typedef ck_status (*ck_ca_status_fn)(void *arg, const char *serial,
    ck_ca_cert_state *state, int64_t *revoked_at, int *reason);

/*
 * An RFC 6960 responder: `req` (a DER OCSPRequest) in, a DER OCSPResponse
 * out, signed by the issuing CA (section 4.2.2.2: the CA itself), the
 * request's nonce echoed, thisUpdate now, nextUpdate now + next_secs
 * (<= 0: 1 hour). A request that does not parse gets a malformedRequest
 * response (still CK_OK: the response is the answer), one about another
 * CA's certificates an unauthorized response (RFC 5019 section 2.2.3), a
 * failing lookup internalError. Caller frees *resp with ck_free.
 */
ck_status ck_ca_ocsp_respond(ck_ctx *ctx, const ck_ca *ca, const uint8_t *req,
    size_t req_len, ck_ca_status_fn lookup, void *arg, int64_t next_secs,
    uint8_t **resp, size_t *resp_len) CK_WUR;

#ifdef __cplusplus
}
#endif

#endif /* CERTKIT_CA_H */
