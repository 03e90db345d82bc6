/*
 * server_http.c: the HTTP side of `certkit serve` (evhttp over
 * bufferevent_openssl).
 *
 *   GET  /healthz            200 {"status":"ok"}, no client needed
 *   GET  /api/v1/status      the caller's own registry view (also GET /)
 *   POST /api/v1/heartbeat   an approved client's presence
 *
 * and the enrollment routes of enroll_http.c and enroll_revo.c (EST,
 * /api/v1/enroll, /api/v1/requests/ID, /crl, /ocsp). A path not in the table
 * is 404 not_found; a known path with another method is 405
 * method_not_allowed with Allow.
 *
 * Every authenticated request is decided by cki_authz_decide(): at once, or
 * later (an OCSP answer), while the request waits in a struct cki_req. A
 * refusal is application/problem+json (RFC 9457): {"type", "title",
 * "status", "detail", "code", "spki_sha256", "state"}, with Retry-After
 * when the decision has one. A pending client gets 202 with {"state":
 * "pending", "spki_sha256", "retry_after"} and the same fields.
 *
 * Limits: a request head of at most CKI_SRV_MAX_HEADERS bytes (evhttp's
 * own limit), a body of at most CKI_SRV_MAX_BODY (413 payload_too_large),
 * and the time limits of the sweep (server.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>

#include "server_int.h"

static void route_health(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
static void route_status(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);
static void route_heartbeat(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d);

static const struct cki_route routes[] = {
    {EVHTTP_REQ_GET, "/healthz", false, route_health, false},
    {EVHTTP_REQ_GET, "/api/v1/status", true, route_status, false},
    /* The root is the caller's state too: what a browser or `certkit
     * doctor` (GET /) asks learns why it is refused or pending. */
    {EVHTTP_REQ_GET, "/", true, route_status, false},
    {EVHTTP_REQ_POST, "/api/v1/heartbeat", true, route_heartbeat, false},
    /* Enrollment (enroll_http.c, enroll_revo.c): 404 without HOME/ca. */
    {EVHTTP_REQ_GET, "/.well-known/est/cacerts", false, cki_route_cacerts,
        false},
    {EVHTTP_REQ_POST, "/.well-known/est/simpleenroll", false,
        cki_route_simpleenroll, false},
    {EVHTTP_REQ_POST, "/.well-known/est/simplereenroll", false,
        cki_route_simplereenroll, false},
    {EVHTTP_REQ_POST, "/api/v1/enroll", false, cki_route_enroll_json, false},
    {EVHTTP_REQ_GET, "/api/v1/requests/", false, cki_route_request, true},
    {EVHTTP_REQ_GET, "/crl", false, cki_route_crl, false},
    {EVHTTP_REQ_POST, "/ocsp", false, cki_route_ocsp, false},
    {EVHTTP_REQ_GET, "/ocsp/", false, cki_route_ocsp_get, true},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* ---- answers ------------------------------------------------------------ */

/* 202: the client waits for an admin. */
static void
send_pending(struct evhttp_request *req, const struct cki_decision *d)
{
	json_t *o =
	    cki_srv_decision_doc(202, d->type ? d->type : "pending_approval",
	        d->title[0] ? d->title : "pending approval", d->detail, d);

	if (o != NULL)
		json_object_set_new(o, "state", json_string("pending"));
	cki_srv_retry_after(req, d);
	cki_srv_send_json(req, 202, "Accepted", "application/json", o);
	json_decref(o);
}

/* ---- the routes -----------------------------------------------------------
 */

static void
route_health(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    const struct cki_decision *d)
{
	json_t *o = json_pack("{s:s}", "status", "ok");

	(void)s;
	(void)c;
	(void)d;
	cki_srv_send_json(req, 200, "OK", "application/json", o);
	json_decref(o);
}

static void
route_status(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    const struct cki_decision *d)
{
	json_t *o = cki_authz_status_json(s->authz, d);

	(void)c;
	cki_srv_send_json(req, 200, "OK", "application/json", o);
	json_decref(o);
}

/* The body as a JSON object: {"agent_version": "...", "facts": {...}}
 * (both optional). NULL after answering 400 or 413. */
static json_t *
read_body(struct cki_srv *s, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	json_error_t je;
	json_t *doc;

	if (n > CKI_SRV_MAX_BODY) {
		cki_srv_problem(s, req, 413, "payload_too_large",
		    "payload too large", "the body is over 65536 bytes", NULL);
		return NULL;
	}
	if (n == 0)
		return json_object();
	doc = json_loadb((const char *)evbuffer_pullup(in, -1), n,
	    JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL || !json_is_object(doc)) {
		char detail[256];

		snprintf(detail, sizeof(detail),
		    "expected a JSON object, found %s",
		    doc == NULL ? je.text : "another JSON value");
		cki_srv_problem(
		    s, req, 400, "bad_request", "bad request", detail, NULL);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static void
route_heartbeat(struct cki_srv *s, struct evhttp_request *req,
    struct cki_conn *c, const struct cki_decision *d)
{
	json_t *doc = read_body(s, req), *ver, *facts;
	char *ftext = NULL, body[160];
	int n;

	(void)c;
	if (doc == NULL)
		return;
	ver = json_object_get(doc, "agent_version");
	facts = json_object_get(doc, "facts");
	if ((ver != NULL && !json_is_string(ver)) ||
	    (facts != NULL && !json_is_object(facts))) {
		cki_srv_problem(s, req, 400, "bad_request", "bad request",
		    "agent_version must be a string and facts an object", d);
		json_decref(doc);
		return;
	}
	if (facts != NULL)
		ftext = json_dumps(facts, JSON_COMPACT | JSON_SORT_KEYS);
	cki_authz_heartbeat(
	    s->authz, d->spki, ver ? json_string_value(ver) : NULL, ftext);
	/* What cki_srv_send_json() would send for {"state", "spki_sha256",
	 * "heartbeat"} (the SPKI is hex: nothing to escape), without
	 * building and dumping a JSON object for every heartbeat. */
	n = snprintf(body, sizeof(body),
	    "{\"state\":\"approved\",\"spki_sha256\":\"%s\",\"heartbeat\":%"
	    "lld}\n",
	    d->spki, (long long)s->conf.heartbeat);
	cki_srv_send_bytes(req, 200, "application/json", body, (size_t)n);
	json_decref(doc);
	free(ftext);
}

/* ---- deciding -------------------------------------------------------------
 */

static void
log_request(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    const struct cki_decision *d)
{
	char st[16];

	snprintf(st, sizeof(st), "%d", d->status);
	cki_slog(s->log, d->status == 200 ? CKI_LOG_INFO : CKI_LOG_WARN,
	    "request", "peer", c->addr, "path", evhttp_request_get_uri(req),
	    "status", st, "spki", d->spki[0] ? d->spki : NULL, "client",
	    d->client_id[0] ? d->client_id : NULL, "problem", d->type, "detail",
	    d->detail[0] ? d->detail : NULL, NULL);
}

static void
answer(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    const struct cki_route *rt, const struct cki_decision *d)
{
	/* An approved heartbeat is presence, written to the registry in
	 * batches: not a log line each (10,000 clients every 30 s would be
	 * most of the server's work). Its refusals are logged. */
	if (d->status != 200 || rt->fn != route_heartbeat)
		log_request(s, req, c, d);
	if (d->status == 200) {
		s->served++;
		/* An approved client's connection goes before the new ones
		 * (set again on a later request if the event was busy). */
		if (!c->known && c->bev != NULL &&
		    bufferevent_priority_set(c->bev, CKI_SRV_PRIO_KNOWN) == 0)
			c->known = true;
		rt->fn(s, req, c, d);
		return;
	}
	s->refused++;
	if (d->status == 202)
		send_pending(req, d);
	else
		cki_srv_problem(s, req, d->status,
		    d->type ? d->type : "client_rejected",
		    d->title[0] ? d->title : cki_srv_reason(d->status),
		    d->detail, d);
}

void
cki_req_drop(struct cki_req *r)
{
	if (r == NULL)
		return;
	if (r->areq != NULL)
		cki_authz_cancel(r->areq);
	if (r->conn != NULL && r->conn->busy == r)
		r->conn->busy = NULL;
	free(r);
}

static void
decided(void *arg, const struct cki_decision *d)
{
	struct cki_req *r = arg;
	struct cki_conn *c = r->conn;

	r->areq = NULL; /* done: nothing to cancel */
	c->busy = NULL;
	answer(c->srv, r->req, c, r->route, d);
	free(r);
}

/* The connection is being freed. A request still waiting for its decision
 * is dropped with it: evhttp frees the request itself (evhttp_free at the
 * stop). evhttp's contract for a peer gone at EOF or timeout is to detach
 * the request (its connection NULL) and leave it to us; libevent 2.1 pauses
 * reading while a request is answered, so that was not seen in the tests
 * (serve_async: the peer's end shows when the late answer is written), but
 * such a request would be ours to free. */
static void
on_close(struct evhttp_connection *evcon, void *arg)
{
	struct cki_conn *c = arg;
	struct cki_req *r = c->busy;
	SSL *ssl = c->bev ? bufferevent_openssl_get_ssl(c->bev) : NULL;

	(void)evcon;
	c->evcon = NULL;
	/* The session stays resumable (SSL_free drops a session from the
	 * cache unless a shutdown was sent; evhttp sends none), except when
	 * the server ended the connection (revoked, suspended...). */
	if (ssl != NULL && !c->closing)
		SSL_set_shutdown(
		    ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
	if (r == NULL)
		return;
	if (evhttp_request_get_connection(r->req) == NULL)
		evhttp_request_free(r->req);
	cki_req_drop(r);
}

/* "ADDR:PORT" of the peer, for the log. */
static void
conn_addr(struct cki_conn *c)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (c->addr[0] != '\0' || fd < 0 ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(c->addr, sizeof(c->addr), "%s:%u", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(c->addr, sizeof(c->addr), "[%s]:%u", host, port);
	}
}

/* The connection of a request, learnt at its first request. */
static struct cki_conn *
conn_of(struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev =
	    evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
	SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
	struct cki_conn *c =
	    ssl ? SSL_get_ex_data(ssl, cki_conn_index()) : NULL;

	if (c != NULL && c->evcon == NULL) {
		c->evcon = evcon;
		c->handshake_done = true;
		conn_addr(c);
		evhttp_connection_set_closecb(evcon, on_close, c);
	}
	return c;
}

static void
decide(struct cki_srv *s, struct evhttp_request *req, struct cki_conn *c,
    const struct cki_route *rt)
{
	SSL *ssl = bufferevent_openssl_get_ssl(c->bev);
	X509 *leaf = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
	struct cki_peer p = {leaf, c->vr, c->addr};
	struct cki_decision d;
	struct cki_req *r = calloc(1, sizeof(*r));
	int got;

	if (r == NULL) {
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	if (leaf != NULL && c->vr == NULL) /* resumed: the cached result */
		p.vr = c->vr = cki_authz_verify(s->authz, leaf, NULL);
	if (leaf != NULL && c->spki[0] == '\0')
		cki_x509_spki(leaf, c->spki);
	memset(&d, 0, sizeof(d));
	*r = (struct cki_req){c, req, rt, NULL};
	got = cki_authz_decide(s->authz, &p, decided, r, &d, &r->areq);
	if (got == 0) {
		c->busy = r;
		return;
	}
	free(r);
	if (got < 0)
		evhttp_send_error(req, 500, "Internal Server Error");
	else
		answer(s, req, c, rt, &d);
}

static bool
route_match(const struct cki_route *rt, const char *path)
{
	size_t n = strlen(rt->path);

	if (!rt->prefix)
		return strcmp(rt->path, path) == 0;
	return strncmp(rt->path, path, n) == 0 && path[n] != '\0' &&
	    strchr(path + n, '/') == NULL;
}

static void
route_not_found(struct cki_srv *s, struct evhttp_request *req, const char *path)
{
	char allow[64] = "";
	bool known = false;

	for (size_t i = 0; i < NROUTES; i++) {
		if (!route_match(&routes[i], path))
			continue;
		known = true;
		snprintf(allow, sizeof(allow), "%s",
		    routes[i].method == EVHTTP_REQ_GET ? "GET" : "POST");
	}
	if (!known) {
		cki_srv_problem(s, req, 404, "not_found", "not found",
		    "no such resource on this server", NULL);
		return;
	}
	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Allow", allow);
	cki_srv_problem(s, req, 405, "method_not_allowed", "method not allowed",
	    "this resource takes another method", NULL);
}

static void
dispatch(struct evhttp_request *req, void *arg)
{
	struct cki_srv *s = arg;
	struct cki_conn *c = conn_of(req);
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	int m = evhttp_request_get_command(req);

	if (c == NULL) {
		/* Not a TLS connection of ours: evhttp falls back to plain
		 * TCP when cki_srv_bevcb() fails (out of memory). Never
		 * answer in clear: end it. */
		struct evhttp_connection *evcon =
		    evhttp_request_get_connection(req);
		struct bufferevent *bev =
		    evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;

		if (bev != NULL && bufferevent_getfd(bev) >= 0)
			shutdown(bufferevent_getfd(bev), SHUT_RDWR);
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	c->req_start_ms = 0; /* the whole request is in */
	c->requests++;
	if (c->closing || s->stopping)
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Connection", "close");
	if (path == NULL || path[0] != '/') {
		cki_srv_problem(s, req, 400, "bad_request", "bad request",
		    "the request target is not an absolute path", NULL);
		return;
	}
	for (size_t i = 0; i < NROUTES; i++) {
		if (routes[i].method != m || !route_match(&routes[i], path))
			continue;
		if (!routes[i].auth)
			routes[i].fn(s, req, c, NULL);
		else
			decide(s, req, c, &routes[i]);
		return;
	}
	route_not_found(s, req, path);
}

/* ---- the connection's ex_data ------------------------------------------- */

static void
conn_ex_free(
    void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
	struct cki_conn *c = ptr;

	(void)parent;
	(void)ad;
	(void)idx;
	(void)argl;
	(void)argp;
	if (c == NULL)
		return;
	if (c->busy != NULL)
		cki_req_drop(c->busy);
	if (c->srv != NULL) {
		if (c->prev != NULL)
			c->prev->next = c->next;
		else if (c->srv->conns == c)
			c->srv->conns = c->next;
		if (c->next != NULL)
			c->next->prev = c->prev;
		c->srv->nconns--;
	}
	cki_vresult_free(c->vr);
	free(c);
}

int
cki_conn_index(void)
{
	static int idx = -1;

	if (idx < 0)
		idx = SSL_get_ex_new_index(
		    0, "certkit conn", NULL, NULL, conn_ex_free);
	return idx;
}

/* ---- connections ----------------------------------------------------------
 */

/* Marks the start of a request: the first byte after an idle time. */
static void
input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	struct cki_conn *c = arg;

	(void)buf;
	if (info->n_added > 0 && c->req_start_ms == 0)
		c->req_start_ms = cki_mono_ms();
}

/* Keeps a small answer in one piece: evhttp adds the head and the body
 * as separate chains, and bufferevent_openssl writes each chain as its
 * own TLS record (with SSL_MODE_RELEASE_BUFFERS, its own buffer and its
 * own send). One record per answer instead of two. */
static void
output_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
	(void)arg;
	if (info->n_added > 0 && evbuffer_get_length(buf) <= CKI_SRV_ONE_RECORD)
		(void)evbuffer_pullup(buf, -1);
}

struct bufferevent *
cki_srv_bevcb(struct event_base *base, void *arg)
{
	struct cki_srv *s = arg;
	struct cki_conn *c = calloc(1, sizeof(*c));
	SSL *ssl = SSL_new(s->ssl);
	struct bufferevent *bev = NULL;

	if (c == NULL || ssl == NULL ||
	    SSL_set_ex_data(ssl, cki_conn_index(), c) != 1) {
		free(c);
		SSL_free(ssl);
		return NULL;
	}
	c->srv = s;
	c->accepted_ms = cki_mono_ms();
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl); /* frees c through its ex_data */
		return NULL;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	(void)bufferevent_priority_set(bev, CKI_SRV_PRIO_NEW);
	c->bev = bev;
	evbuffer_add_cb(bufferevent_get_input(bev), input_cb, c);
	evbuffer_add_cb(bufferevent_get_output(bev), output_cb, c);
	return bev;
}

void
cki_conn_end(struct cki_conn *c, const char *why)
{
	evutil_socket_t fd = c->bev ? bufferevent_getfd(c->bev) : -1;

	if (c->closing)
		return;
	c->closing = true;
	conn_addr(c);
	cki_slog(c->srv->log, CKI_LOG_INFO, "close", "peer", c->addr, "spki",
	    c->spki[0] ? c->spki : NULL, "reason", why, NULL);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
}

ck_status
cki_srv_http_new(struct cki_srv *s)
{
	struct timeval idle = {s->conf.heartbeat * 3, 0};

	if (idle.tv_sec < CKI_SRV_IDLE_MIN_S)
		idle.tv_sec = CKI_SRV_IDLE_MIN_S;
	if ((s->http = evhttp_new(s->base)) == NULL)
		return cki_err(s->ctx, CK_E_NOMEM, "out of memory");
	evhttp_set_bevcb(s->http, cki_srv_bevcb, s);
	evhttp_set_gencb(s->http, dispatch, s);
	evhttp_set_max_headers_size(s->http, CKI_SRV_MAX_HEADERS);
	/* evhttp refuses larger bodies with its own page; up to this size the
	 * route answers 413 problem+json itself. */
	evhttp_set_max_body_size(s->http, 4 * CKI_SRV_MAX_BODY);
	evhttp_set_timeout_tv(s->http, &idle);
	evhttp_set_allowed_methods(s->http,
	    EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
	        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	return CK_OK;
}
