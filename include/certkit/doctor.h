/*
 * doctor.h: the connection doctor (certkit doctor). The lab that reproduces
 * every failure it diagnoses (certkit lab) is in lab.h, not in libcertkit.
 *
 * The doctor tests endpoints concurrently on one libevent loop through the
 * stages DNS, TCP, proxy CONNECT, TLS, chain, name, revocation and client
 * authentication, and names the root cause of each failure with a stable
 * code (docs/json.md, "doctor"). A failed endpoint is a result, not an error:
 * ck_doctor_run() returns CK_OK when it produced a report.
 */
#ifndef CERTKIT_DOCTOR_H
#define CERTKIT_DOCTOR_H

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_doctor ck_doctor;

/* A doctor with no endpoints. It keeps ctx (borrowed) and reports every
 * error on it. */
ck_status ck_doctor_new(ck_ctx *ctx, ck_doctor **out) CK_WUR;
void ck_doctor_free(ck_doctor *d);

/* "host[:port]" (default 443), "[v6]:port", or an https:// URL. */
ck_status ck_doctor_add_endpoint(ck_doctor *d, const char *spec) CK_WUR;
/* INI profile: one section per endpoint (host, port, expect, pin,
 * client_cert, client_key, required_roots). */
ck_status ck_doctor_load_profile(ck_doctor *d, const char *path) CK_WUR;
/* The device's trust store (file or directory). Default: certkit's effective
 * store when it exists, else the system store. */
ck_status ck_doctor_set_trust(ck_doctor *d, const char *path) CK_WUR;
/* Well-known public roots used only to explain failures. Default: the
 * reference set embedded at build time. */
ck_status ck_doctor_set_reference(ck_doctor *d, const char *path) CK_WUR;
/* curl-style "HOST:PORT:ADDR". */
ck_status ck_doctor_add_resolve(ck_doctor *d, const char *spec) CK_WUR;
/* "http://[user:pass@]host:port". NULL: from HTTPS_PROXY, honouring
 * NO_PROXY. "" disables the proxy. */
ck_status ck_doctor_set_proxy(ck_doctor *d, const char *url) CK_WUR;
ck_status ck_doctor_set_client_identity(
    ck_doctor *d, const char *cert_path, const char *key_path) CK_WUR;
/* "ADDR[:PORT]": send DNS queries there instead of the system resolver. */
ck_status ck_doctor_set_dns(ck_doctor *d, const char *addr) CK_WUR;
/* Treat the command-line endpoints as public cloud services. */
void ck_doctor_set_public(ck_doctor *d, int public_);
/* The verification policy of the endpoints whose profile section sets
 * none (certkit.h, ck_policy; default CK_POLICY_COMPAT). Under STRICT a
 * chain that breaks a rule of the policy is diagnosed chain_invalid. */
ck_status ck_doctor_set_policy(ck_doctor *d, ck_policy p) CK_WUR;
/*
 * "required" (default): a device that answers plain HTTP instead of TLS is a
 * failure (not_tls). "if-available" (for devices where HTTPS is optional,
 * exacqVision's "HTTPS If Available"): it is reported as plain_http, a
 * warning. Anything else is CK_E_USAGE.
 */
ck_status ck_doctor_set_https(ck_doctor *d, const char *mode) CK_WUR;
/* Per-stage timeout in milliseconds (default 5000), clamped to
 * CK_TIMEOUT_MIN_MS..CK_TIMEOUT_MAX_MS. */
void ck_doctor_set_timeout_ms(ck_doctor *d, int ms);
/* Connections in flight at once (default 32; 1 to 1024). The run lowers it
 * to what the descriptor limit (RLIMIT_NOFILE) leaves room for; running out
 * of descriptors anyway fails the run with CK_E_IO, never a finding. */
void ck_doctor_set_parallel(ck_doctor *d, int n);
/* Called after each endpoint finishes: done of total. */
typedef void (*ck_doctor_progress_cb)(size_t done, size_t total, void *arg);
void ck_doctor_set_progress_cb(
    ck_doctor *d, ck_doctor_progress_cb cb, void *arg);

/* Runs every endpoint. *json is the report (caller frees with ck_free());
 * *all_online is 1 when every endpoint is online. */
ck_status ck_doctor_run(ck_doctor *d, char **json, int *all_online) CK_WUR;

#ifdef __cplusplus
}
#endif
#endif /* CERTKIT_DOCTOR_H */
