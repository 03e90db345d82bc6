/*
 * server.c: `certkit serve` (include/certkit/server.h): the event loop.
 *
 *   start    configuration (server_conf.c), SSL_CTX (server_tls.c), authz
 *            (registry, client_ca, revocation; authz_int.h), evhttp
 *            (server_http.c), listeners, then READY=1 to $NOTIFY_SOCKET
 *            (sd_notify's datagram, written here: no libsystemd) and to
 *            the ready fd
 *   SIGHUP   a new configuration, SSL_CTX, authz settings and
 *            enrollment (HOME/ca read again: a CA made or replaced since)
 *            are built beside the old; if all succeed they replace it
 *            (new connections use them, open ones keep theirs), else the
 *            old stay and the error is logged. `listen` changes need a
 *            restart (logged).
 *   SIGTERM  the listeners close, the loop ends, presence is flushed.
 *   sweep    once a second: a connection that has not finished its
 *            handshake within CKI_SRV_HANDSHAKE_MS, or a request within
 *            CKI_SRV_REQUEST_MS of its first byte (slowloris), is ended.
 *
 * Guarantees:
 *  1. The server never serves another certificate than the configured
 *     identity: any error loading it stops the start (or keeps the old one
 *     on a reload).
 *  2. A client that stops being approved has its connections ended within
 *     one authz poll (250 ms) of the change being seen; so has a
 *     certificate newly revoked by a CRL (re-read within 1 s of its change)
 *     or an OCSP answer (on_revoked).
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include "certkit/server.h"
#include "enroll_int.h"
#include "server_int.h"

struct ck_server {
	struct cki_srv s;
	char *home;
};

ck_status
ck_server_new(ck_ctx *ctx, const char *home, ck_server **out)
{
	ck_server *srv;
	ck_status rv;

	cki_begin(ctx);
	*out = NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL ||
	    (srv->home = strdup(home)) == NULL) {
		free(srv);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	srv->s.ctx = ctx;
	srv->s.log_fd = 2;
	srv->s.ready_fd = -1;
	if ((rv = cki_server_conf_load(ctx, home, &srv->s.conf)) != CK_OK) {
		free(srv->home);
		free(srv);
		return rv;
	}
	*out = srv;
	return CK_OK;
}

static void
srv_stop_all(struct cki_srv *s)
{
	if (s->http != NULL)
		evhttp_free(s->http); /* frees every connection */
	s->http = NULL;
	cki_authz_free(s->authz);
	s->authz = NULL;
	cki_enroll_free(s->enroll);
	s->enroll = NULL;
	if (s->sweep)
		event_free(s->sweep);
	if (s->sig_hup)
		event_free(s->sig_hup);
	if (s->sig_term)
		event_free(s->sig_term);
	if (s->sig_int)
		event_free(s->sig_int);
	s->sweep = s->sig_hup = s->sig_term = s->sig_int = NULL;
	SSL_CTX_free(s->ssl);
	s->ssl = NULL;
	if (s->base != NULL)
		event_base_free(s->base);
	s->base = NULL;
	cki_slog_free(s->log);
	s->log = NULL;
}

void
ck_server_free(ck_server *srv)
{
	if (srv == NULL)
		return;
	srv_stop_all(&srv->s);
	cki_server_conf_free(&srv->s.conf);
	cki_strlist_clear(&srv->s.listen);
	free(srv->home);
	free(srv);
}

ck_status
ck_server_add_listen(ck_server *srv, const char *addr)
{
	struct cki_config *cfg = NULL;
	struct cki_server_conf tmp;
	char text[320];
	ck_status rv;

	cki_begin(srv->s.ctx);
	/* The same check as the file's, through the same parser. */
	snprintf(text, sizeof(text), "[server]\nlisten = %s\n", addr);
	if (strchr(addr, '\n') != NULL || strchr(addr, ',') != NULL ||
	    strlen(addr) > 256 ||
	    cki_config_load_mem(
	        srv->s.ctx, "--listen", text, strlen(text), &cfg) != CK_OK ||
	    cki_server_conf_parse(srv->s.ctx, srv->home, cfg, &tmp) != CK_OK) {
		cki_config_free(cfg);
		return cki_err(srv->s.ctx, CK_E_USAGE,
		    "--listen %s: expected ADDR:PORT (*:8443, 127.0.0.1:0, "
		    "[::1]:8443)",
		    addr);
	}
	cki_server_conf_free(&tmp);
	cki_config_free(cfg);
	if ((rv = cki_strlist_add(&srv->s.listen, addr)) != CK_OK)
		return cki_err(srv->s.ctx, rv, "out of memory");
	srv->s.listen_set = true;
	return CK_OK;
}

void
ck_server_set_log_json(ck_server *srv, int on)
{
	srv->s.log_json = on != 0;
}

void
ck_server_set_log_fd(ck_server *srv, int fd)
{
	srv->s.log_fd = fd;
}

void
ck_server_set_ready_fd(ck_server *srv, int fd)
{
	srv->s.ready_fd = fd;
}

/* ---- listeners ------------------------------------------------------------
 */

/* Splits "ADDR:PORT" into a host for evhttp_bind_socket ("*" is "::" and
 * 0.0.0.0) and a port. */
static bool
split_addr(const char *a, char *host, size_t size, unsigned *port)
{
	const char *colon = strrchr(a, ':');
	size_t hl;

	if (colon == NULL)
		return false;
	*port = (unsigned)strtoul(colon + 1, NULL, 10);
	hl = (size_t)(colon - a);
	if (a[0] == '[' && hl >= 2) {
		a++;
		hl -= 2;
	}
	if (hl >= size)
		return false;
	memcpy(host, a, hl);
	host[hl] = '\0';
	return true;
}

/* Records the bound address of a listener in s->bound. */
static void
note_bound(struct cki_srv *s, struct evhttp_bound_socket *h)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?", one[96];
	unsigned port = 0;
	size_t n = strlen(s->bound);

	if (getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&ss,
	        &len) != 0)
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(one, sizeof(one), "[%s]:%u", host, port);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(one, sizeof(one), "%s:%u", host, port);
	}
	snprintf(s->bound + n, sizeof(s->bound) - n, "%s%s", n ? "," : "", one);
	cki_slog(s->log, CKI_LOG_INFO, "listening", "addr", one, NULL);
}

/* TCP_NODELAY on the listener, which the accepted sockets inherit: an
 * answer written right after a TLS 1.3 session ticket must not wait for
 * the client's delayed ACK of the ticket (Nagle: about 40 ms per resumed
 * connection). */
static void
no_delay(struct evhttp_bound_socket *h)
{
	int one = 1;

	(void)setsockopt(evhttp_bound_socket_get_fd(h), IPPROTO_TCP,
	    TCP_NODELAY, &one, sizeof(one));
}

static ck_status
bind_one(struct cki_srv *s, const char *a)
{
	char host[256];
	unsigned port;
	struct evhttp_bound_socket *h;

	if (!split_addr(a, host, sizeof(host), &port))
		return cki_err(s->ctx, CK_E_USAGE, "%s: expected ADDR:PORT", a);
	if (strcmp(host, "*") == 0) {
		/* Both families; "::" alone may be v6-only on this host. */
		if ((h = evhttp_bind_socket_with_handle(
		         s->http, "0.0.0.0", (ev_uint16_t)port)) == NULL)
			return cki_err(s->ctx, CK_E_NETWORK,
			    "listen %s: cannot bind 0.0.0.0:%u: %s", a, port,
			    strerror(errno));
		no_delay(h);
		note_bound(s, h);
		if (port == 0) /* "*:0": the same port for both */
			return CK_OK;
		if ((h = evhttp_bind_socket_with_handle(
		         s->http, "::", (ev_uint16_t)port)) != NULL) {
			no_delay(h);
			note_bound(s, h);
		}
		return CK_OK;
	}
	if ((h = evhttp_bind_socket_with_handle(
	         s->http, host, (ev_uint16_t)port)) == NULL)
		return cki_err(s->ctx, CK_E_NETWORK,
		    "listen %s: cannot bind: %s", a, strerror(errno));
	no_delay(h);
	note_bound(s, h);
	return CK_OK;
}

/* ---- readiness --------------------------------------------------------------
 */

/* sd_notify(3)'s protocol: one datagram to $NOTIFY_SOCKET (a path, or
 * "@name" for the abstract namespace). */
static void
notify(const char *msg)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	socklen_t len;
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (n = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return;
	(void)sendto(
	    fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
	close(fd);
}

static void
announce_ready(struct cki_srv *s)
{
	char msg[640];

	snprintf(msg, sizeof(msg),
	    "READY=1\nMAINPID=%ld\nSTATUS=listening on %s", (long)getpid(),
	    s->bound);
	notify(msg);
	if (s->ready_fd >= 0) {
		int n =
		    snprintf(msg, sizeof(msg), "READY=1 listen=%s\n", s->bound);

		if (n > 0 && write(s->ready_fd, msg, (size_t)n) < 0)
			cki_slog(s->log, CKI_LOG_WARN, "ready_fd", "error",
			    strerror(errno), NULL);
		close(s->ready_fd);
		s->ready_fd = -1;
	}
}

/* ---- events
 * ------------------------------------------------------------------ */

/* authz: a client stopped being approved; end its connections. */
static void
on_unapproved(void *arg, const char *spki)
{
	struct cki_srv *s = arg;

	for (struct cki_conn *c = s->conns; c != NULL; c = c->next) {
		if (strcmp(c->spki, spki) != 0 || c->closing)
			continue;
		s->closed_by_admin++;
		cki_conn_end(c, "client no longer approved");
	}
}

/* authz: certificates were newly revoked (a CRL reloaded or fed anew, an
 * OCSP answer); end the connections whose chain holds one. */
static void
on_revoked(void *arg)
{
	struct cki_srv *s = arg;
	char why[256];

	for (struct cki_conn *c = s->conns; c != NULL; c = c->next) {
		if (c->closing || c->vr == NULL ||
		    !cki_authz_revoked(s->authz, c->vr, why, sizeof(why)))
			continue;
		s->closed_revoked++;
		cki_conn_end(c, why);
	}
}

/* authz: the registry went away or came back; logged once each. */
static void
on_registry_health(void *arg, bool up, const char *error)
{
	struct cki_srv *s = arg;

	if (up)
		cki_slog(s->log, CKI_LOG_INFO, "registry", "state", "up",
		    "note", "reachable again; rows re-read", NULL);
	else
		cki_slog(s->log, CKI_LOG_ERROR, "registry", "state", "down",
		    "error", error, "note",
		    "serving approved clients from memory; new clients get 503",
		    NULL);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct cki_srv *s = arg;
	int64_t now = cki_mono_ms();

	(void)fd;
	(void)what;
	cki_enroll_tick(s->enroll);
	cki_srv_feed_own_crl(s);
	for (struct cki_conn *c = s->conns; c != NULL; c = c->next) {
		if (c->closing)
			continue;
		if (!c->handshake_done && c->bev != NULL) {
			SSL *ssl = bufferevent_openssl_get_ssl(c->bev);

			c->handshake_done = ssl && SSL_is_init_finished(ssl);
		}
		if (!c->handshake_done &&
		    now - c->accepted_ms > CKI_SRV_HANDSHAKE_MS) {
			s->ended_slow++;
			cki_conn_end(c, "TLS handshake not finished in time");
		} else if (c->req_start_ms != 0 && c->busy == NULL &&
		    now - c->req_start_ms > CKI_SRV_REQUEST_MS) {
			s->ended_slow++;
			cki_conn_end(c, "request not complete in time");
		}
	}
}

static void
on_stop(evutil_socket_t sig, short what, void *arg)
{
	struct cki_srv *s = arg;

	char served[24], refused[24], unapproved[24], revoked[24], slow[24];

	(void)what;
	snprintf(served, sizeof(served), "%" PRIu64, s->served);
	snprintf(refused, sizeof(refused), "%" PRIu64, s->refused);
	snprintf(
	    unapproved, sizeof(unapproved), "%" PRIu64, s->closed_by_admin);
	snprintf(revoked, sizeof(revoked), "%" PRIu64, s->closed_revoked);
	snprintf(slow, sizeof(slow), "%" PRIu64, s->ended_slow);
	cki_slog(s->log, CKI_LOG_INFO, "stop", "signal",
	    sig == SIGINT ? "SIGINT" : "SIGTERM", "served", served, "refused",
	    refused, "closed_unapproved", unapproved, "closed_revoked", revoked,
	    "ended_slow", slow, NULL);
	notify("STOPPING=1");
	s->stopping = true;
	event_base_loopexit(s->base, NULL);
}

/* SIGHUP: everything new is built first; only a whole success replaces the
 * old. */
static void
on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct cki_srv *s = arg;
	struct cki_server_conf nc;
	SSL_CTX *ssl = NULL;
	cki_enroll *ne = NULL;
	ck_status rv;

	(void)sig;
	(void)what;
	notify("RELOADING=1");
	if ((rv = cki_server_conf_load(s->ctx, s->conf.home, &nc)) != CK_OK)
		goto err;
	/* HOME/ca too (enroll_int.h): built whole before anything is kept */
	if ((rv = cki_srv_tls_new(s->ctx, &nc, s, &ssl)) != CK_OK ||
	    (rv = cki_enroll_new(s->ctx, &nc, &ne)) != CK_OK ||
	    (rv = cki_authz_reload(s->authz, &nc)) != CK_OK) {
		SSL_CTX_free(ssl);
		cki_enroll_drop(ne);
		cki_server_conf_free(&nc);
		goto err;
	}
	if (!s->listen_set &&
	    (nc.listen.n != s->conf.listen.n ||
	        !cki_strlist_has(&nc.listen, s->listen.v[0])))
		cki_slog(s->log, CKI_LOG_WARN, "reload", "note",
		    "listen changes take effect at the next start", NULL);
	SSL_CTX_free(s->ssl);
	s->ssl = ssl;
	cki_server_conf_free(&s->conf);
	s->conf = nc;
	cki_enroll_replace(&s->enroll, ne);
	if (s->enroll != NULL)
		s->enroll->conf = &s->conf; /* borrowed: the server's */
	cki_enroll_watch(s->enroll, s->base);
	cki_srv_feed_own_crl(s);
	cki_slog(s->log, CKI_LOG_INFO, "reload", "result", "ok", "enrollment",
	    s->enroll == NULL ? "off (no HOME/ca)" : "on", NULL);
	notify("READY=1");
	return;
err:
	cki_slog(s->log, CKI_LOG_ERROR, "reload", "result", "failed", "kept",
	    "the previous configuration", "error", ck_ctx_error(s->ctx), NULL);
	notify("READY=1");
}

static ck_status
arm_events(struct cki_srv *s)
{
	struct timeval sec = {1, 0};

	s->sweep = event_new(s->base, -1, EV_PERSIST, on_sweep, s);
	s->sig_hup = evsignal_new(s->base, SIGHUP, on_reload, s);
	s->sig_term = evsignal_new(s->base, SIGTERM, on_stop, s);
	s->sig_int = evsignal_new(s->base, SIGINT, on_stop, s);
	if (s->sweep == NULL || s->sig_hup == NULL || s->sig_term == NULL ||
	    s->sig_int == NULL || event_add(s->sweep, &sec) != 0 ||
	    event_add(s->sig_hup, NULL) != 0 ||
	    event_add(s->sig_term, NULL) != 0 ||
	    event_add(s->sig_int, NULL) != 0)
		return cki_err(s->ctx, CK_E_INTERNAL,
		    "cannot set up the event loop's timers and signals");
	return CK_OK;
}

/* ---- run -------------------------------------------------------------------
 */

struct event_base *
cki_srv_base_new(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base = NULL;

	if (cfg == NULL)
		return NULL;
	/* Changes of a socket's events wait for the next poll, where a
	 * disable and an enable within one iteration cancel out: evhttp
	 * stops and restarts reading around every request it answers
	 * (4 epoll_ctl calls per heartbeat otherwise). No socket is dup'ed
	 * here, the flag's one caveat. */
	(void)event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	/* One callback at CKI_SRV_PRIO_NEW per iteration, then a poll: a
	 * request of an approved client that arrived meanwhile goes before
	 * the next handshake, not after every handshake already ready. */
	if (event_config_set_max_dispatch_interval(
	        cfg, NULL, 1, CKI_SRV_PRIO_NEW) != 0 ||
	    (base = event_base_new_with_config(cfg)) == NULL ||
	    event_base_priority_init(base, CKI_SRV_PRIOS) != 0) {
		if (base != NULL)
			event_base_free(base);
		base = NULL;
	}
	event_config_free(cfg);
	return base;
}

static ck_status
srv_start(struct cki_srv *s)
{
	const struct cki_strlist *l =
	    s->listen_set ? &s->listen : &s->conf.listen;
	ck_status rv;

	if (!s->listen_set) {
		for (size_t i = 0; i < s->conf.listen.n; i++)
			if (cki_strlist_add(&s->listen, s->conf.listen.v[i]) !=
			    CK_OK)
				return cki_err(
				    s->ctx, CK_E_NOMEM, "out of memory");
	}
	if ((s->log = cki_slog_new(s->log_fd, s->log_json)) == NULL ||
	    (s->base = cki_srv_base_new()) == NULL)
		return cki_err(s->ctx, CK_E_NOMEM, "out of memory");
	if ((rv = cki_srv_tls_new(s->ctx, &s->conf, s, &s->ssl)) != CK_OK ||
	    (rv = cki_authz_new(s->ctx, &s->conf, s->base, &s->authz)) !=
	        CK_OK ||
	    (rv = cki_enroll_new(s->ctx, &s->conf, &s->enroll)) != CK_OK ||
	    (rv = cki_srv_http_new(s)) != CK_OK ||
	    (rv = arm_events(s)) != CK_OK)
		return rv;
	cki_authz_set_close_cb(s->authz, on_unapproved, s);
	cki_authz_set_revoked_cb(s->authz, on_revoked, s);
	cki_authz_set_health_cb(s->authz, on_registry_health, s);
	cki_enroll_watch(s->enroll, s->base);
	cki_srv_feed_own_crl(s);
	for (size_t i = 0; i < l->n; i++)
		if ((rv = bind_one(s, l->v[i])) != CK_OK)
			return rv;
	return CK_OK;
}

static void
log_start(struct cki_srv *s)
{
	X509 *x = cki_srv_tls_cert(s->ssl);
	char spki[65] = "", *subj = NULL;

	if (x != NULL) {
		cki_x509_spki(x, spki);
		subj = cki_name_oneline(X509_get_subject_name(x));
	}
	cki_slog(s->log, CKI_LOG_INFO, "start", "version", CERTKIT_VERSION,
	    "identity",
	    s->conf.id_source == CKI_SRV_ID_P12 ? s->conf.p12 : "device",
	    "subject", subj, "spki", spki[0] ? spki : NULL, "client_policy",
	    cki_policy_name(s->conf.policy), "ocsp",
	    cki_ocsp_mode_name(s->conf.ocsp), "registry",
	    s->conf.registry_path ? s->conf.registry_path : s->conf.registry,
	    "enrollment",
	    s->enroll == NULL   ? "off (no HOME/ca)"
	        : s->enroll->ca ? "on (ca = signer)"
	                        : "on (ca = none: signed by the signers)",
	    NULL);
	free(subj);
}

ck_status
ck_server_run(ck_server *srv)
{
	struct cki_srv *s = &srv->s;
	ck_status rv;

	struct sigaction ign, old;

	cki_begin(s->ctx);
	/* evhttp and the OCSP client write to sockets with writev(2): a peer
	 * gone must be EPIPE, never the end of the server. */
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGPIPE, &ign, &old);
#ifdef __GLIBC__
	/* No fastbins: each request frees dozens of small blocks (evhttp's
	 * headers, JSON) and allocates buffers of 1 KiB and more (a TLS
	 * record, an evbuffer chain), and every such allocation first merged
	 * all the fastbins back (malloc_consolidate): about 8% of the CPU of
	 * a heartbeat. tcache still serves the small ones. */
	(void)mallopt(M_MXFAST, 0);
#endif
	if ((rv = srv_start(s)) == CK_OK) {
		log_start(s);
		announce_ready(s);
		if (event_base_dispatch(s->base) < 0)
			rv = cki_err(
			    s->ctx, CK_E_INTERNAL, "the event loop failed");
	}
	srv_stop_all(s);
	sigaction(SIGPIPE, &old, NULL);
	return rv;
}

/* ---- --check-config
 * ---------------------------------------------------------- */

static json_t *
identity_json(struct cki_srv *s)
{
	X509 *x = cki_srv_tls_cert(s->ssl);
	json_t *o = json_object();
	char spki[65], fp[65], when[32];
	char *subj;
	int64_t t = 0;

	if (o == NULL || x == NULL)
		return o;
	cki_x509_spki(x, spki);
	cki_x509_fp(x, fp);
	subj = cki_name_oneline(X509_get_subject_name(x));
	json_object_set_new(o, "source",
	    json_string(
	        s->conf.id_source == CKI_SRV_ID_P12 ? "p12" : "device"));
	if (s->conf.id_source == CKI_SRV_ID_P12)
		json_object_set_new(o, "file", cki_json_str(s->conf.p12));
	json_object_set_new(o, "subject", cki_json_str(subj));
	json_object_set_new(o, "spki_sha256", json_string(spki));
	json_object_set_new(o, "cert_sha256", json_string(fp));
	if (cki_asn1_time(X509_get0_notAfter(x), &t)) {
		cki_fmt_time(t, when);
		json_object_set_new(o, "not_after", json_string(when));
	}
	free(subj);
	return o;
}

static json_t *
strlist_json(const struct cki_strlist *l)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < l->n; i++)
		json_array_append_new(a, cki_json_str(l->v[i]));
	return a;
}

static json_t *
config_json(struct cki_srv *s)
{
	const struct cki_server_conf *c = &s->conf;
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "schema", json_string("serve-config"));
	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(o, "config_file", cki_json_str(c->conf_name));
	json_object_set_new(
	    o, "listen", strlist_json(s->listen_set ? &s->listen : &c->listen));
	json_object_set_new(o, "identity", identity_json(s));
	json_object_set_new(o, "tls", cki_srv_tls_policy(s->ssl, c));
	json_object_set_new(
	    o, "client_policy", json_string(cki_policy_name(c->policy)));
	json_object_set_new(o, "client_ca", strlist_json(&c->client_ca));
	json_object_set_new(o, "verify_policy",
	    json_string(cki_verify_policy_name(c->verify_policy)));
	json_object_set_new(
	    o, "ocsp", json_string(cki_ocsp_mode_name(c->ocsp)));
	json_object_set_new(
	    o, "ocsp_responder", cki_json_str(c->ocsp_responder));
	json_object_set_new(o, "crl", strlist_json(&c->crl));
	json_object_set_new(o, "registry",
	    c->registry_path != NULL
	        ? json_pack("{s:s, s:o}", "backend", c->registry, "path",
	              cki_json_str(c->registry_path))
	        : json_pack("{s:s, s:o}", "backend", "postgresql", "target",
	              cki_json_str(c->registry)));
	json_object_set_new(o, "pending_ttl", json_integer(c->pending_ttl));
	json_object_set_new(o, "max_pending", json_integer(c->max_pending));
	json_object_set_new(o, "heartbeat", json_integer(c->heartbeat));
	json_object_set_new(o, "retry_after", json_integer(c->retry_after));
	json_object_set_new(o, "enrollment",
	    json_pack("{s:I, s:I, s:o, s:s}", "renew_grace",
	        (json_int_t)c->renew_grace, "cert_days",
	        (json_int_t)c->cert_days, "public_url",
	        cki_json_str(c->public_url), "ca",
	        c->ca_mode == CKI_CA_SIGNER     ? "signer"
	            : c->ca_mode == CKI_CA_NONE ? "none"
	                                        : "auto"));
	json_object_set_new(o, "limits",
	    json_pack("{s:i, s:i, s:i, s:i}", "max_header_bytes",
	        CKI_SRV_MAX_HEADERS, "max_body_bytes", CKI_SRV_MAX_BODY,
	        "handshake_ms", CKI_SRV_HANDSHAKE_MS, "request_ms",
	        CKI_SRV_REQUEST_MS));
	return o;
}

ck_status
ck_server_check_config(ck_server *srv, char **json)
{
	struct cki_srv *s = &srv->s;
	json_t *o = NULL;
	ck_status rv;

	cki_begin(s->ctx);
	*json = NULL;
	if ((rv = cki_srv_tls_new(s->ctx, &s->conf, NULL, &s->ssl)) != CK_OK)
		return rv;
	if ((o = config_json(s)) == NULL ||
	    (*json = json_dumps(o, JSON_INDENT(2) | JSON_ENSURE_ASCII)) == NULL)
		rv = cki_err(s->ctx, CK_E_NOMEM, "out of memory");
	json_decref(o);
	SSL_CTX_free(s->ssl);
	s->ssl = NULL;
	return rv;
}
