/*
 * fetch.h: fetching what a TLS server presents, without judging it.
 *
 * Used by `certkit trust add --from HOST[:PORT]` (the ZPE article's
 * "Option 4": trust the inspection CA a firewall presents) and by anything
 * that needs to show a server's chain before deciding what to trust.
 */
#ifndef CERTKIT_FETCH_H
#define CERTKIT_FETCH_H

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Connects to host:port and returns the certificate chain the server
 * presents, in the order it sent it (the leaf first).
 *
 * THIS DOES NOT VERIFY ANYTHING. It fetches only: no chain, name, date or
 * revocation check is made, and the result must never be trusted because
 * it was fetched. Show it to a person (with fingerprints) and let them
 * decide.
 *
 *  - SNI carries `host` unless it is an IP literal (RFC 6066 section 3).
 *  - connect_addr, when not NULL, is the address to connect to instead of
 *    resolving host (curl's --resolve); no proxy is used then.
 *  - Otherwise HTTPS_PROXY / https_proxy ("http://[user:pass@]host:port")
 *    is used through an HTTP CONNECT tunnel (RFC 9110 section 9.3.6),
 *    unless NO_PROXY / no_proxy names the host ("*", a host, or a domain
 *    suffix; comma-separated).
 *  - timeout_ms bounds name lookup, connecting, the proxy and the
 *    handshake together (<= 0 means 10000; else clamped to
 *    CK_TIMEOUT_MIN_MS..CK_TIMEOUT_MAX_MS).
 *  - A peer that hangs up is an error, never a SIGPIPE: the library sends
 *    with MSG_NOSIGNAL whatever the caller's signal disposition.
 *  - A server that requires a client certificate still presents its chain
 *    first; that chain is returned even though the handshake then fails.
 *
 * Errors: CK_E_NETWORK (naming the peer and the stage: resolve, connect,
 * proxy, TLS), CK_E_USAGE for a bad host or port.
 */
ck_status ck_fetch_chain(ck_ctx *ctx, const char *host, const char *port,
    const char *connect_addr, int timeout_ms, ck_bundle **chain) CK_WUR;

/*
 * Splits an endpoint as ck_fetch_chain() and the doctor take it: "host",
 * "host:port", "[v6]:port", a bare IPv6 address, or
 * "https://host[:port][/path]". host gets the name or address (no
 * brackets, lower-case; CK_HOST_MAX bytes are always enough), port the
 * port ("443" when none is given).
 *
 * Errors: CK_E_USAGE naming the endpoint and what is wrong with it (an
 * empty host, a name that is not RFC 1123, a port outside 1-65535, ...).
 */
#define CK_HOST_MAX 256
ck_status ck_endpoint_split(ck_ctx *ctx, const char *endpoint, char *host,
    size_t host_size, char port[6]) CK_WUR;

#ifdef __cplusplus
}
#endif
#endif /* CERTKIT_FETCH_H */
