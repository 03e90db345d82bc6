/*
 * trust.h: the device's layered trust store (certkit trust) and the
 * reference set of well-known public roots embedded at build time.
 *
 * The effective store is the system roots, plus the custom anchors, minus
 * the distrusted certificates. From it certkit writes three outputs that are
 * always consistent with each other and are replaced together, atomically:
 * a PEM bundle, an OpenSSL hashed directory and a Java-readable PKCS#12
 * truststore. The on-disk layout is documented in lib/trust/trust.c and in
 * certkit-trust(1).
 *
 * Every call that changes the store takes the store's lock, applies the
 * change and rebuilds the outputs before it returns. Reports are JSON
 * (docs/json.md: "trust list", "trust change", "trust rebuild",
 * "trust audit"); the caller frees them with ck_free().
 */
#ifndef CERTKIT_TRUST_H
#define CERTKIT_TRUST_H

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_trust ck_trust;

/*
 * Opens the trust store kept under `home` (the state directory: the store
 * is home/trust). Nothing is created until the first change. The ck_trust
 * keeps `ctx` (borrowed) and reports every error on it.
 */
ck_status ck_trust_new(ck_ctx *ctx, const char *home, ck_trust **out) CK_WUR;
void ck_trust_free(ck_trust *t);

/* The read-only system bundle. NULL (the default): $SSL_CERT_FILE, else
 * /etc/ssl/certs/ca-certificates.crt. Copied. */
ck_status ck_trust_set_system_bundle(ck_trust *t, const char *path) CK_WUR;
/* How long a change waits for another certkit process (default 10000). */
void ck_trust_set_lock_timeout_ms(ck_trust *t, int ms);

/* Paths of the store (owned by t): the store directory, and the outputs. */
const char *ck_trust_dir(const ck_trust *t);
const char *ck_trust_bundle_path(const ck_trust *t); /* out/ca-bundle.pem */
const char *ck_trust_certs_path(const ck_trust *t);  /* out/certs */
const char *ck_trust_p12_path(const ck_trust *t);    /* out/truststore.p12 */

typedef enum ck_trust_source {
	CK_TRUST_EFFECTIVE = 0,  /* what the outputs hold */
	CK_TRUST_SYSTEM = 1,     /* the system bundle, as read */
	CK_TRUST_CUSTOM = 2,     /* the custom anchors */
	CK_TRUST_DISTRUSTED = 3, /* the distrust entries */
} ck_trust_source;

/* Lists one layer (schema "trust list"). */
ck_status ck_trust_list(ck_trust *t, ck_trust_source src, char **json) CK_WUR;

/* The effective store, computed now from its inputs (not from the
 * outputs). Caller frees with ck_bundle_free(). */
ck_status ck_trust_effective(ck_trust *t, ck_bundle **out) CK_WUR;

/* ck_trust_add flags. */
/* Turns off the checks that a new anchor can anchor a chain: accepts a
 * non-CA certificate (a pinned leaf), an expired one or one not valid yet.
 * Insecure: such an anchor trusts one exact certificate, or nothing. */
#define CK_TRUST_INSECURE_ANY_CERT 0x1

/*
 * Adds every certificate of `b` as a custom anchor, one file each (keys and
 * other objects are ignored). `alias` names the first one; the others get
 * ALIAS-2, ALIAS-3... Without an alias, each is named after its common name.
 * All or nothing: if one certificate is refused (not a CA, distrusted, an
 * alias clash), nothing is added. A certificate that is already an anchor
 * is a no-op reported as "unchanged". Schema "trust change".
 */
ck_status ck_trust_add(ck_trust *t, const ck_bundle *b, const char *alias,
    unsigned int flags, char **json) CK_WUR;
/* Removes a custom anchor by alias (case-insensitive) or SHA-256. */
ck_status ck_trust_remove(
    ck_trust *t, const char *alias_or_fp, char **json) CK_WUR;
/*
 * Distrusts a certificate: `what` is an alias, a certificate SHA-256, or an
 * SPKI SHA-256 ("spki:HEX" for a pin that matches every certificate with
 * that key). Hex may be in any case, with or without colons. `reason` may
 * be NULL.
 */
ck_status ck_trust_distrust(
    ck_trust *t, const char *what, const char *reason, char **json) CK_WUR;
/* Distrusts every expired certificate of the effective store. */
ck_status ck_trust_distrust_expired(
    ck_trust *t, const char *reason, char **json) CK_WUR;
/* Removes a distrust entry (by the value it was made with, or an alias). */
ck_status ck_trust_undistrust(
    ck_trust *t, const char *what, char **json) CK_WUR;

/* Rebuilds the three outputs from the inputs (schema "trust rebuild"). */
ck_status ck_trust_rebuild(ck_trust *t, char **json) CK_WUR;

/*
 * The PKCS#12 truststore's password, kept in trust/truststore.password
 * (mode 0600). NULL or "" restores the default, "changeit". Takes effect at
 * the next rebuild.
 */
ck_status ck_trust_set_truststore_password(
    ck_trust *t, const char *password) CK_WUR;

/*
 * Audits the store (schema "trust audit"). `require` lists roots that must
 * be in the effective store and valid (a name, matched case-insensitively
 * against the subject, or a SHA-256); `profile` (may be NULL) is a doctor
 * profile whose sections' required_roots are added. *clean is 1 when there
 * is no finding.
 */
ck_status ck_trust_audit(ck_trust *t, const char *const *require,
    size_t nrequire, const char *profile, char **json, int *clean) CK_WUR;

/* Writes the effective store to `path`, atomically: a PEM bundle
 * (CK_FMT_PEM), or a PKCS#12 truststore (CK_FMT_P12; password NULL means
 * "changeit"). */
ck_status ck_trust_export(
    ck_trust *t, ck_format fmt, const char *path, const char *password) CK_WUR;
/* Writes the effective store as an OpenSSL hashed directory (HHHHHHHH.N
 * files) at `path`, which must not exist or be empty. */
ck_status ck_trust_export_dir(ck_trust *t, const char *path) CK_WUR;

/* ------------------------------------------------------------------------
 * The reference set: Mozilla's roots as Debian ships them, embedded at
 * build time, or a PEM file given at run time.
 * ------------------------------------------------------------------------ */

/* Number of roots in the embedded reference set. */
size_t ck_reference_count(void);

/*
 * Every root of the reference set (`file`, or the embedded set when NULL)
 * whose subject contains `query` (case-insensitively), or whose SHA-256 is
 * `query`. An empty result is CK_E_NOTFOUND. Caller frees *matches.
 */
ck_status ck_reference_find(ck_ctx *ctx, const char *file, const char *query,
    ck_bundle **matches) CK_WUR;
/*
 * Exactly one root: an exact common-name match wins over substring matches;
 * more than one candidate is CK_E_USAGE with every candidate named.
 */
ck_status ck_reference_get(
    ck_ctx *ctx, const char *file, const char *query, ck_cert **out) CK_WUR;

#ifdef __cplusplus
}
#endif
#endif /* CERTKIT_TRUST_H */
