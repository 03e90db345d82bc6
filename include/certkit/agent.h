/*
 * agent.h: the agent of a device paired with a certkit primary (certkit
 * agent).
 *
 * The agent makes a key (0600) and a CSR with the device's names, sends it
 * to the primary's EST enrollment (RFC 7030: simpleenroll), polls while the
 * request is pending (honouring Retry-After), installs the certificate into
 * its own client identity (HOME/agent/identity/, through the identity module's
 * atomic install), renews at two thirds of the lifetime (simplereenroll),
 * and sends heartbeats. Its state (never_connected, requesting_pairing,
 * online, offline, revoked) and why are kept in HOME/agent/state.json; when
 * the primary cannot be reached the agent runs the doctor on its own link
 * and keeps the primary diagnosis. The link to the primary is always TLS.
 *
 * Configuration: the [agent] section of HOME/certkit.conf (primary,
 * primary_ca | primary_pin | trust, heartbeat, https). Reports are JSON
 * (docs/json.md "agent status", "agent enroll"); the caller frees them with
 * ck_free().
 */
#ifndef CERTKIT_AGENT_H
#define CERTKIT_AGENT_H

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_agent ck_agent;

/* Reads the [agent] section of home/certkit.conf (an invalid key or value
 * is an error naming FILE:LINE). ctx must outlive the handle. */
ck_status ck_agent_new(ck_ctx *ctx, const char *home, ck_agent **out) CK_WUR;
void ck_agent_free(ck_agent *a);

/* A one-time enrollment token (certkit clients token create on the
 * primary), sent with the first request as "Authorization: Bearer". */
ck_status ck_agent_set_token(ck_agent *a, const char *token) CK_WUR;

/*
 * Sends the enrollment request (or resumes the pending one) and polls for
 * up to wait_s seconds. *installed is 1 when a certificate was installed.
 * With renew set, asks for a new certificate now (simplereenroll with the
 * current one). CK_OK whenever an answer was recorded in the state (pending,
 * rejected, offline are outcomes, see *json's "state"); an error when the
 * agent could not act (no primary configured, an unwritable home).
 */
ck_status ck_agent_enroll(
    ck_agent *a, int wait_s, int renew, char **json, int *installed) CK_WUR;

/* One cycle of the service: enroll, renew or heartbeat as due, then
 * records the state. *next_s is when the next cycle is due (seconds). */
ck_status ck_agent_step(ck_agent *a, long *next_s) CK_WUR;

/* The service: steps until SIGTERM or SIGINT, then returns CK_OK. */
ck_status ck_agent_run(ck_agent *a) CK_WUR;

/* The recorded state with the installed certificate. */
ck_status ck_agent_status(ck_agent *a, char **json) CK_WUR;

#ifdef __cplusplus
}
#endif
#endif /* CERTKIT_AGENT_H */
