/*
 * server_int.h: what the networking of `certkit serve` shares (server.c,
 * server_tls.c, server_http.c, server_log.c). The decisions are authz's
 * (authz_int.h); this side only carries them to the wire.
 *
 *   server.c       ck_server_*: the event loop, listeners, signals (SIGHUP
 *                  reload, SIGTERM/SIGINT stop), readiness (NOTIFY_SOCKET,
 *                  the ready fd), the list of live connections and the
 *                  1-second sweep that ends slow or stuck ones
 *   server_tls.c   the SSL_CTX: identity, protocol policy, client
 *                  certificate requested (optional) and checked through
 *                  cki_authz_verify()
 *   server_http.c  evhttp: the route table, problem+json, Retry-After
 *   server_log.c   one line per event: key=value, or JSON
 *
 * Invariants:
 *  1. A connection's struct cki_conn lives exactly as long as its SSL (it
 *     is the SSL's ex_data and freed with it), so nothing outlives what it
 *     points at.
 *  2. A connection is ended only by shutdown(2) of its socket: evhttp sees
 *     the end and frees everything itself, whatever state it is in.
 *  3. Every request is decided by cki_authz_decide(); nothing is cached
 *     here but the handshake's verification result.
 */
#ifndef CERTKIT_SERVER_INT_H
#define CERTKIT_SERVER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "authz_int.h"
#include "ck_internal.h"
#include "server_conf.h"

struct event_base;
struct event;
struct evhttp;
struct evhttp_request;
struct evhttp_connection;
struct bufferevent;

/* Limits against slow or hostile peers (man certkit-serve, "Limits"). */
#define CKI_SRV_MAX_HEADERS 16384  /* bytes of request head */
#define CKI_SRV_MAX_BODY 65536     /* bytes of request body */
#define CKI_SRV_HANDSHAKE_MS 10000 /* accept to first byte of data */
#define CKI_SRV_REQUEST_MS 10000   /* first byte to whole request */
#define CKI_SRV_IDLE_MIN_S 60      /* idle keep-alive, at least */
/* Event priorities (lower first): timers, signals, listeners and the
 * connections of approved clients at CKI_SRV_PRIO_KNOWN (libevent's
 * default, the middle one); handshakes and connections not yet served
 * at CKI_SRV_PRIO_NEW, so a flood of new keys waits behind the approved
 * clients' requests, not they behind it; and one callback at
 * CKI_SRV_PRIO_NEW between two polls (cki_srv_base_new), so a request
 * that arrives while handshakes are ready waits for one of them at
 * most, not all. */
#define CKI_SRV_PRIOS 3
#define CKI_SRV_ONE_RECORD 16384 /* answers up to this go as one record */
#define CKI_SRV_PRIO_KNOWN 1
#define CKI_SRV_PRIO_NEW 2

/* ---- server_log.c ------------------------------------------------------- */
typedef struct cki_slogger cki_slogger;
enum cki_slog_level { CKI_LOG_INFO = 0, CKI_LOG_WARN, CKI_LOG_ERROR };
cki_slogger *cki_slog_new(int fd, bool json);
void cki_slog_free(cki_slogger *l);
/* One event: key/value pairs of strings, ended by NULL. A NULL value is
 * left out. Values are escaped (cki_esc) and quoted when needed. */
void cki_slog(cki_slogger *l, enum cki_slog_level lv, const char *event, ...)
    __attribute__((sentinel));
/* The same with the pairs of a JSON object (strings, numbers, booleans). */
void cki_slog_json(
    cki_slogger *l, enum cki_slog_level lv, const char *event, json_t *kv);

/* ---- the server --------------------------------------------------------- */

/* One TLS connection (the SSL's ex_data). */
struct cki_conn {
	struct cki_srv *srv;
	struct cki_conn *prev, *next; /* srv->conns */
	struct bufferevent *bev;
	struct evhttp_connection *evcon; /* known from its first request */
	struct cki_vresult *vr;          /* the handshake's, a reference */
	struct cki_req *busy;            /* the request being decided */
	char addr[64];                   /* "192.0.2.1:50000" */
	char spki[65];                   /* the peer key's, "" until known */
	int64_t accepted_ms;
	int64_t req_start_ms; /* first byte of the current request, or 0 */
	bool handshake_done, closing;
	bool known; /* served once: at CKI_SRV_PRIO_KNOWN */
	unsigned requests;
};

/* A request waiting for its decision. */
struct cki_req {
	struct cki_conn *conn;
	struct evhttp_request *req;
	const struct cki_route *route;
	cki_authz_req *areq;
};

/* One route; issue 11's enrollment routes join this table. */
struct cki_route {
	int method; /* EVHTTP_REQ_GET, ... */
	const char *path;
	bool auth; /* only an approved client (decided per request) */
	/* Answers the request; d is the decision (NULL when !auth). */
	void (*fn)(struct cki_srv *s, struct evhttp_request *req,
	    struct cki_conn *c, const struct cki_decision *d);
	bool prefix; /* path is a prefix ending in '/': /api/v1/requests/ */
};

struct cki_srv {
	ck_ctx *ctx;
	struct cki_server_conf conf;
	struct cki_strlist listen; /* --listen, else conf.listen */
	bool listen_set;
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ssl;
	cki_authz *authz;
	struct cki_enroll *enroll; /* enroll_int.h */
	cki_slogger *log;
	struct event *sweep, *sig_hup, *sig_term, *sig_int;
	struct cki_conn *conns;
	size_t nconns;
	char bound[512]; /* "ADDR:PORT,..." as bound */
	int log_fd, ready_fd;
	bool log_json, stopping;
	uint64_t served, refused, closed_by_admin, closed_revoked, ended_slow;
};

/* ---- server.c ----------------------------------------------------------- */
/* The server's event loop: CKI_SRV_PRIOS priorities, at most one callback
 * at CKI_SRV_PRIO_NEW or lower between two polls (so what became ready at
 * a higher priority meanwhile goes first), socket changes applied at the
 * poll (EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST). NULL if out of memory. */
struct event_base *cki_srv_base_new(void);

/* ---- server_tls.c ------------------------------------------------------- */
/* A new SSL_CTX for conf: identity, policy, client certificates. Errors
 * name the file (identity, keystore, password file). */
ck_status cki_srv_tls_new(ck_ctx *ctx, const struct cki_server_conf *conf,
    struct cki_srv *s, SSL_CTX **out);
/* The identity's certificate, for --check-config and the log. */
X509 *cki_srv_tls_cert(SSL_CTX *ssl);
/* {"min","max","ciphersuites":[...],"ciphers":[...],"groups"}. */
json_t *cki_srv_tls_policy(SSL_CTX *ssl, const struct cki_server_conf *c);

/* ---- server_http.c ------------------------------------------------------ */
/* The ex_data index of struct cki_conn on an SSL (made once; in
 * server_http.c, which owns connections). */
int cki_conn_index(void);
/* Sets up evhttp on s->base with the limits and the routes. */
ck_status cki_srv_http_new(struct cki_srv *s);
/* The bufferevent callback: a TLS connection for a new socket. */
struct bufferevent *cki_srv_bevcb(struct event_base *base, void *arg);
/* ---- server_reply.c ---------------------------------------------------- */
/* A JSON document (with a newline), Cache-Control: no-store. */
void cki_srv_send_json(struct evhttp_request *req, int status,
    const char *reason, const char *ctype, json_t *doc);
const char *cki_srv_reason(int status); /* "OK", "Accepted", ... */
/* The fields a refusal and a pending answer share (docs/json.md). */
json_t *cki_srv_decision_doc(int status, const char *type, const char *title,
    const char *detail, const struct cki_decision *d);
/* Retry-After from d, when it has one. */
void cki_srv_retry_after(
    struct evhttp_request *req, const struct cki_decision *d);
/* Sends a problem+json answer (docs/json.md, "problem"). */
void cki_srv_problem(struct cki_srv *s, struct evhttp_request *req, int status,
    const char *type, const char *title, const char *detail,
    const struct cki_decision *d);
/* Ends a connection (invariant 2). */
void cki_conn_end(struct cki_conn *c, const char *why);
/* A request ended with its connection: drops the pending decision. */
void cki_req_drop(struct cki_req *r);

/* ---- enroll_http.c, enroll_revo.c (enroll_int.h) ------------------------ */
/* The enrollment routes (auth false: each checks what it needs itself). */
void cki_route_cacerts(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
void cki_route_simpleenroll(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
void cki_route_simplereenroll(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
void cki_route_enroll_json(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
void cki_route_request(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
void cki_route_crl(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
void cki_route_ocsp(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
/* Sends bytes as they are, with a Content-Type (server_reply.c). */
void cki_srv_send_bytes(struct evhttp_request *req, int status,
    const char *ctype, const void *p, size_t n);
/* The raw body (at most CKI_SRV_MAX_BODY), or NULL after answering 413. */
const uint8_t *cki_srv_body(
    struct cki_srv *s, struct evhttp_request *req, size_t *len);
/* Base64 text (whitespace ignored) to bytes (free()); NULL if it is not
 * base64 (enroll_http.c). */
uint8_t *cki_srv_b64_decode(const uint8_t *in, size_t len, size_t *out_len);
/* GET /ocsp/BASE64 (RFC 6960 appendix A.1), enroll_revo.c. */
void cki_route_ocsp_get(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
/* Gives the revocation checker the CA's current CRL (enroll_revo.c);
 * nothing without a CA. At start and from the one-second sweep. */
void cki_srv_feed_own_crl(struct cki_srv *s);
/* 404 while the server has no CA (HOME/ca); true if it answered. */
bool cki_srv_enroll_off(struct cki_srv *s, struct evhttp_request *req);

#endif /* CERTKIT_SERVER_INT_H */
