/*
 * identity.h: the device's own TLS certificate (certkit identity).
 *
 * The identity lives under HOME/identity/ (HOME is $CERTKIT_HOME):
 *
 *   current -> versions/<id>/      the one services read (symlink)
 *   versions/<id>/                 cert.pem, key.pem (0600), chain.pem,
 *                                  fullchain.pem, bundle.pem (0600),
 *                                  identity.p12 (0600), root.pem (when
 *                                  known), meta.json
 *   backups/<time>-<sha256>/       earlier versions, newest kept
 *   pending/                       the key of the last CSR, until install
 *
 * Every change (init, ensure, install, restore, reset) follows one path:
 * validate, write the new version completely, back up the old one, flip
 * `current` atomically, run an in-process TLS self-test, run the configured
 * on_change command, and roll back by flipping `current` back if either
 * fails. A crash at any point leaves `current` at the whole old identity or
 * the whole new one.
 *
 * Reports are JSON (schemas "identity-*" in docs/json.md). *json is set
 * whenever a report exists, including when install refuses its input
 * (CK_E_REFUSED: the report lists each problem).
 */
#ifndef CERTKIT_IDENTITY_H
#define CERTKIT_IDENTITY_H

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_identity ck_identity;

/*
 * Opens the identity under home/identity and reads the [identity] section of
 * home/certkit.conf (an invalid file is an error naming the line). Nothing is
 * created until a command changes the identity. ctx must outlive the handle.
 */
ck_status ck_identity_new(
    ck_ctx *ctx, const char *home, ck_identity **out) CK_WUR;
/*
 * The same machinery (layout, atomic install, backups, rollback, CSR) for a
 * TLS client identity kept in home/subdir (e.g. "agent/identity"; no
 * component empty or starting with '.'): install requires clientAuth instead of
 * serverAuth, does not require the device's names in the certificate (the
 * primary's admin approves which), the self-test checks the clientAuth purpose,
 * and the device's on_change command is not run.
 */
ck_status ck_identity_new_client(ck_ctx *ctx, const char *home,
    const char *subdir, ck_identity **out) CK_WUR;
void ck_identity_free(ck_identity *id);

/*
 * Command-line overrides of the configuration. The first add_name (add_ip)
 * replaces the configured names (ips); names and addresses detected on the
 * device are still added unless detection is off.
 */
ck_status ck_identity_add_name(ck_identity *id, const char *dns) CK_WUR;
ck_status ck_identity_add_ip(ck_identity *id, const char *ip) CK_WUR;
/* "ec-p256", "rsa-2048" or "rsa-3072". */
ck_status ck_identity_set_key_type(ck_identity *id, const char *type) CK_WUR;
/* Lifetime of a new self-signed default, 1..825 days. */
ck_status ck_identity_set_days(ck_identity *id, int days) CK_WUR;
/* Renewal window in days (default: a third of the certificate's life). */
ck_status ck_identity_set_renew_before(ck_identity *id, int days) CK_WUR;
/* init: replace an existing identity, as reset does (default 0). */
void ck_identity_set_replace(ck_identity *id, int on);
/* install and restore: accept a certificate whose checks found warnings
 * (never errors). Insecure: some clients may fail (default 0). */
void ck_identity_set_insecure_accept_warnings(ck_identity *id, int on);
/* install and restore: verify the chain under this policy (certkit.h,
 * ck_policy; default CK_POLICY_COMPAT). Under STRICT a chain that breaks a
 * rule of the strict policy is the error chain_invalid. */
ck_status ck_identity_set_policy(ck_identity *id, ck_policy p) CK_WUR;

/* What the device's identity is and whether it still fits the device. */
ck_status ck_identity_status(ck_identity *id, char **json) CK_WUR;
/* Creates the self-signed default; CK_E_EXISTS if an identity exists
 * (unless replace is set: then it replaces it like reset). */
ck_status ck_identity_init(ck_identity *id, char **json) CK_WUR;
/*
 * Creates the default if there is none, regenerates the default when it has
 * expired, is within the renewal window or no longer covers the device's
 * names; never replaces a CA-issued identity. Returns CK_OK when a verdict
 * was reached; the report's "attention" list is non-empty when a human must
 * act (a CA-issued identity expiring or not covering the device).
 */
ck_status ck_identity_ensure(ck_identity *id, char **json) CK_WUR;
/*
 * Makes a new key (kept pending until install) and writes a CSR to out_path
 * atomically. Every name goes into the SAN; the CN is a copy of the first
 * name unless `subject` ("/C=US/O=x/CN=y" or "C=US, O=x, CN=y") is given.
 */
ck_status ck_identity_csr(ck_identity *id, const char *subject,
    const char *out_path, char **json) CK_WUR;
/*
 * Validates and installs a certificate. cert_path may be PEM, DER or
 * PKCS#12 (the password comes from the ctx); key_path NULL uses a key found
 * in cert_path, else the pending CSR key, else the current key; chain_path
 * may be NULL.
 */
ck_status ck_identity_install(ck_identity *id, const char *cert_path,
    const char *key_path, const char *chain_path, char **json) CK_WUR;
/* Lists the backups, newest first. */
ck_status ck_identity_backups(ck_identity *id, char **json) CK_WUR;
/* Makes a backup current again (an id or a unique prefix of one). */
ck_status ck_identity_restore(
    ck_identity *id, const char *backup_id, char **json) CK_WUR;
/* Replaces the identity with a fresh self-signed default. */
ck_status ck_identity_reset(ck_identity *id, char **json) CK_WUR;
/*
 * Writes the current identity to path atomically: CK_FMT_PEM the full
 * chain (with_key: the key first, file mode 0600), CK_FMT_DER the
 * certificate, CK_FMT_P12 key and chain (password: the ctx password if one
 * is set, else the configured p12 password).
 */
ck_status ck_identity_export(
    ck_identity *id, ck_format fmt, int with_key, const char *path) CK_WUR;

/*
 * A change that a killed process left unconfirmed (killed during the
 * self-test or on_change) is settled by ck_identity_new: rolled back to the
 * previous identity, with on_change run again (action "rollback"). This
 * returns what was done, one sentence, or NULL when there was nothing to
 * settle. The JSON reports carry it too, as "recovered".
 */
const char *ck_identity_recovered(const ck_identity *id);

#ifdef __cplusplus
}
#endif
#endif /* CERTKIT_IDENTITY_H */
