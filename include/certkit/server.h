/*
 * server.h: `certkit serve`, the primary server (lib/server).
 *
 * One process on libevent serving HTTP/1.1 + JSON over TLS. Clients
 * authenticate with a certificate (requested, optional at the TLS layer)
 * and are identified by the SHA-256 of their public key; every request is
 * decided again against the registry (HOME/server/registry.db, created by
 * `certkit registry migrate`). Configuration: the [server] section of
 * HOME/certkit.conf (man certkit-serve).
 *
 * Routes: GET /healthz, GET /api/v1/status, POST /api/v1/heartbeat.
 * Refusals are application/problem+json (RFC 9457) with a stable `type`
 * (docs/json.md, "problem").
 *
 * Signals while ck_server_run() runs: SIGHUP reloads the configuration,
 * the identity and the CA and CRL files without dropping connections (a
 * bad new configuration is logged and the old one kept); SIGTERM and
 * SIGINT stop it.
 */
#ifndef CERTKIT_SERVER_H
#define CERTKIT_SERVER_H

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_server ck_server;

/* Reads HOME/certkit.conf's [server] section (an error names FILE:LINE).
 * Nothing is opened or bound until ck_server_run(). ctx must outlive the
 * server. */
ck_status ck_server_new(ck_ctx *ctx, const char *home, ck_server **out) CK_WUR;
void ck_server_free(ck_server *srv);

/* "ADDR:PORT" ("*:8443", "127.0.0.1:0", "[::1]:8443"). The first call
 * replaces the configured `listen` list; later ones add to it. Port 0
 * binds a free port (logged, and written to the ready fd). */
ck_status ck_server_add_listen(ck_server *srv, const char *addr) CK_WUR;
/* Log one JSON object per line instead of key=value (default 0). */
void ck_server_set_log_json(ck_server *srv, int on);
/* Where the log goes (default 2, standard error). The fd is not closed. */
void ck_server_set_log_fd(ck_server *srv, int fd);
/* When every listener is bound, writes "READY=1 listen=ADDR:PORT[,...]\n"
 * to fd and closes it (for scripts and tests; systemd's NOTIFY_SOCKET is
 * honoured as well). -1: none (default). */
void ck_server_set_ready_fd(ck_server *srv, int fd);

/* The effective configuration and TLS policy, as JSON (docs/json.md,
 * "serve-config"), after loading the identity: a wrong keystore password,
 * an unreadable file or a key that does not match its certificate is an
 * error naming the file, as at start. */
ck_status ck_server_check_config(ck_server *srv, char **json) CK_WUR;

/* Binds, serves, and returns CK_OK after SIGTERM or SIGINT; an error when
 * it cannot start (the identity, a listener, the registry), naming what
 * failed. SIGPIPE is ignored while it runs (a peer gone is EPIPE); the
 * previous disposition is restored when it returns. */
ck_status ck_server_run(ck_server *srv) CK_WUR;

#ifdef __cplusplus
}
#endif

#endif /* CERTKIT_SERVER_H */
