/*
 * registry.h: the registry of clients of `certkit serve`, for the admin
 * tool (certkit clients, certkit registry).
 *
 * A client is identified by the SHA-256 of its public key (SPKI, 64
 * lower-case hex digits) and has two axes: its authorisation (pending,
 * approved, rejected, suspended, revoked), changed only by an admin or a
 * policy, and its presence (never_connected, online, offline,
 * requesting_pairing), observed. The registry lives in
 * HOME/server/registry.db (SQLite); its schema is created only by
 * ck_registry_migrate(). Reports are JSON (docs/json.md: "clients",
 * "client", "client change", "audit", "registry migrate"); the caller
 * frees them with ck_free().
 */
#ifndef CERTKIT_REGISTRY_H
#define CERTKIT_REGISTRY_H

#include <stdbool.h>
#include <stdint.h>

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_registry ck_registry;

/* Opens the registry of `home`. A missing or older schema fails with
 * CK_E_NOTFOUND / CK_E_FORMAT and "run: certkit registry migrate". A change
 * waits up to lock_ms for another process holding the registry's write
 * lock, then fails with CK_E_LOCKED ("registry locked"). The ck_registry
 * keeps `ctx` (borrowed) and reports every error on it. */
ck_status ck_registry_open(
    ck_ctx *ctx, const char *home, int lock_ms, ck_registry **out) CK_WUR;
void ck_registry_free(ck_registry *reg);

/* Creates or upgrades the registry's schema ("registry migrate"). */
ck_status ck_registry_migrate(
    ck_ctx *ctx, const char *home, char **json) CK_WUR;

/* Copies the registry of `home` to `other` (export) or `other` into the
 * registry of `home` (import): "sqlite:FILE" or a path, "postgresql://..."
 * or a PostgreSQL conninfo (the password from PGPASSFILE). The destination
 * is migrated first and must hold no row; every client and audit row is
 * copied in one transaction, then counted and each client's version
 * compared: "registry copy". */
ck_status ck_registry_copy(ck_ctx *ctx, const char *home, const char *other,
    bool to_other, char **json) CK_WUR;

/* Every client, or those in `state` ("pending", ...; NULL: all):
 * "clients". */
ck_status ck_registry_list(
    ck_registry *reg, const char *state, char **json) CK_WUR;
/* One client by id or id/SPKI prefix (at least 4 hex digits, unique):
 * "client". An ambiguous prefix is CK_E_USAGE naming the candidates. */
ck_status ck_registry_show(
    ck_registry *reg, const char *id, char **json) CK_WUR;
/* An admin action on one client (id or unique prefix): "approve",
 * "reject", "suspend", "resume", "revoke", "remove", "replace-key",
 * "discard"; reason may be NULL. The audit row names the user running it
 * ("admin:USER"). "client change". An impossible transition is CK_E_USAGE
 * naming the state found. */
ck_status ck_registry_act(ck_registry *reg, const char *id, const char *action,
    const char *reason, char **json) CK_WUR;
/* Audit rows at or after `since` (unix time), oldest first: "audit". */
ck_status ck_registry_audit(
    ck_registry *reg, int64_t since, char **json) CK_WUR;
/* A new enrollment token (`certkit clients token create`) good for `uses`
 * enrollments within ttl_seconds: "token" ({"token", "uses", "ttl",
 * "expires", "expires_unix"}). The token's text is in this report only:
 * the registry keeps its SHA-256. */
ck_status ck_registry_token_create(
    ck_registry *reg, long uses, long ttl_seconds, char **json) CK_WUR;

#ifdef __cplusplus
}
#endif

#endif /* CERTKIT_REGISTRY_H */
