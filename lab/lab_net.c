/*
 * lab_net.c: the lab's servers, all on one libevent loop on 127.0.0.1.
 *
 *   TLS endpoints      bufferevent_openssl; answer one HTTP request
 *   plaintext HTTP     answers 400 to whatever arrives (not_tls)
 *   silent             accepts, reads, never writes (handshake_timeout)
 *   TLS reset          reads one whole TLS record, then RST (tls_reset)
 *   TCP reset          RST right after accept (tcp_reset)
 *   refused            a bound socket that never listens: SYN -> RST
 *   black hole         listen(fd, 0) with its one queue slot taken by a
 *                      connection of our own that is never accepted, so
 *                      Linux drops further SYNs (tcp_timeout)
 *   CONNECT proxies    relay / 407 / 403 / 502 (RFC 9110 9.3.6, 15.5.8)
 *   AIA server         evhttp: /ca/FILE (DER), POST /ocsp
 *
 * A connection's life (struct cki_lab_conn):
 *
 *   accept ──► reading ──(request complete)──► flushing ──(drained)──► free
 *                 │                                 ▲
 *                 └──(EOF, error, 30 s idle)────────┴─────────────────► free
 *
 * Every live connection is on lab->conns, so ck_lab_stop() frees the ones
 * the loop left behind.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>

#include "lab_int.h"

#define MAX_HEAD 16384
#define IDLE_SECONDS 30
#define LINGER_SECONDS 2

enum role { R_TLS, R_HTTP, R_SILENT, R_TLS_RESET, R_PROXY };

struct cki_lab_conn {
	struct cki_lab_conn *prev, *next;
	ck_lab *lab;
	struct cki_lab_ep *ep;
	struct cki_lab_proxy_srv *px;
	int role;
	struct bufferevent *bev; /* the client */
	struct bufferevent *up;  /* proxy: the upstream */
	char target[300];        /* proxy: "host:port" */
	int tunnel;              /* proxy: 200 sent, relaying */
	evutil_socket_t fd;      /* accepted endpoints own fd and ssl */
	SSL *ssl;
	struct event *linger; /* closing: draining the peer */
};

void
cki_lab_http_date(time_t t, char out[40])
{
	struct tm tm;

	/* RFC 9110 5.6.7: IMF-fixdate, always GMT, English names. */
	static const char *const wd[] = {
	    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const mo[] = {"Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

	if (gmtime_r(&t, &tm) == NULL) {
		snprintf(out, 40, "Thu, 01 Jan 1970 00:00:00 GMT");
		return;
	}
	snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", wd[tm.tm_wday],
	    tm.tm_mday, mo[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

/* ---- connections ------------------------------------------------------- */

static struct cki_lab_conn *
conn_new(ck_lab *lab, int role)
{
	struct cki_lab_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->lab = lab;
	c->role = role;
	c->fd = -1;
	c->next = lab->conns;
	if (lab->conns != NULL)
		lab->conns->prev = c;
	lab->conns = c;
	return c;
}

static void
conn_free(struct cki_lab_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->lab->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->up != NULL)
		bufferevent_free(c->up);
	if (c->linger != NULL)
		event_free(c->linger);
	/* After bufferevent_free: without BEV_OPT_CLOSE_ON_FREE libevent
	 * never touches the SSL or the fd again. */
	SSL_free(c->ssl);
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

static void
linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cki_lab_conn *c = arg;
	char buf[4096];
	ssize_t r;

	if (what & EV_TIMEOUT) {
		conn_free(c);
		return;
	}
	r = recv(fd, buf, sizeof(buf), 0);
	if (r > 0 || (r == -1 && (errno == EAGAIN || errno == EINTR)))
		return;
	conn_free(c);
}

/*
 * Closes the way a careful server does: FIN after the last byte we sent
 * (the response, or the TLS alert that rejects a client certificate), then
 * read and drop what the peer still sends until it closes, for at most
 * LINGER_SECONDS. close() with unread bytes would send RST instead
 * (RFC 9293 3.6: an abort), and a client that is still writing its request
 * would see the reset, not our alert or response.
 */
static void
conn_linger(struct cki_lab_conn *c)
{
	struct timeval tv = {LINGER_SECONDS, 0};

	if (c->fd < 0) {
		conn_free(c);
		return;
	}
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	(void)shutdown(c->fd, SHUT_WR);
	if ((c->linger = event_new(c->lab->base, c->fd, EV_READ | EV_PERSIST,
	         linger_cb, c)) == NULL ||
	    event_add(c->linger, &tv) != 0)
		conn_free(c);
}

static void
tls_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	/* RFC 8446 6.1: close_notify before closing, so the client sees an
	 * orderly end of the response, not a truncation. */
	if (ssl != NULL && SSL_is_init_finished(ssl)) {
		ERR_clear_error();
		(void)SSL_shutdown(ssl);
		ERR_clear_error();
	}
}

static void event_cb(struct bufferevent *bev, short what, void *arg);

static void
drained_cb(struct bufferevent *bev, void *arg)
{
	struct cki_lab_conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) != 0)
		return;
	if (c->role == R_TLS)
		tls_close_notify(bev);
	conn_linger(c);
}

/* Frees the connection once `bev` has written everything it holds. */
static void
finish_after_flush(struct cki_lab_conn *c, struct bufferevent *bev)
{
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
		drained_cb(bev, c);
		return;
	}
	bufferevent_disable(bev, EV_READ);
	bufferevent_setcb(bev, NULL, drained_cb, event_cb, c);
	bufferevent_enable(bev, EV_WRITE);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	/* bufferevent_openssl reports the finished handshake this way. */
	if (what & BEV_EVENT_CONNECTED)
		return;
	/* Idle: the peer is stuck. EOF or error (a failed handshake whose
	 * alert is on its way): close gracefully. */
	if (what & BEV_EVENT_TIMEOUT)
		conn_free(arg);
	else
		conn_linger(arg);
}

static void
idle_timeout(struct bufferevent *bev)
{
	struct timeval tv = {IDLE_SECONDS, 0};

	bufferevent_set_timeouts(bev, &tv, &tv);
}

static void
respond(struct cki_lab_conn *c, int status, const char *reason,
    const char *extra_headers, long skew_days, const char *body)
{
	char date[40];

	cki_lab_http_date(time(NULL) + skew_days * 86400L, date);
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 %d %s\r\n"
	    "Date: %s\r\n"
	    "Server: certkit-lab\r\n"
	    "%s"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s",
	    status, reason, date, extra_headers != NULL ? extra_headers : "",
	    strlen(body), body);
	finish_after_flush(c, c->bev);
}

/* ---- TLS endpoints ----------------------------------------------------- */

static void
tls_read_cb(struct bufferevent *bev, void *arg)
{
	struct cki_lab_conn *c = arg;
	const struct cki_lab_spec *s = c->ep->spec;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char body[256];

	if (end.pos < 0) {
		if (evbuffer_get_length(in) > MAX_HEAD)
			conn_free(c);
		return;
	}
	evbuffer_drain(in, evbuffer_get_length(in));
	if (s->http_status == 403) {
		/* The SAFEQ / ZPE "Requesting Pairing" case: TLS succeeded,
		 * the application refuses this client. */
		snprintf(body, sizeof(body),
		    "Requesting Pairing: this device's certificate is valid "
		    "but not authorised; approve it on the server.\n");
		respond(c, 403, "Forbidden", NULL, 0, body);
		return;
	}
	snprintf(
	    body, sizeof(body), "certkit lab: %s (%s)\n", s->name, s->what);
	respond(c, 200, "OK", NULL, s->date_skew_days, body);
}

static int
status_cb(SSL *ssl, void *arg)
{
	struct cki_lab_ep *ep = arg;
	unsigned char *copy;

	if (ep->ocsp == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	/* RFC 6066 8: the staple goes in CertificateStatus (TLS 1.2) or the
	 * leaf's status_request extension (RFC 8446 4.4.2.1). */
	if ((copy = OPENSSL_memdup(ep->ocsp, ep->ocsp_len)) == NULL)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	if (!SSL_set_tlsext_status_ocsp_resp(ssl, copy, (long)ep->ocsp_len)) {
		OPENSSL_free(copy);
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	}
	return SSL_TLSEXT_ERR_OK;
}

static int
sni_cb(SSL *ssl, int *alert, void *arg)
{
	struct cki_lab_ep *ep = arg;
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	(void)alert;
	/* A server with one named site: that name gets its certificate;
	 * anything else, and no SNI at all, the default one. */
	if (name != NULL && strcasecmp(name, ep->spec->sni_name) == 0)
		SSL_set_SSL_CTX(ssl, ep->ssl_named);
	return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *
server_ctx(ck_lab *lab, const struct cki_lab_spec *s,
    const struct cki_lab_leaf_spec *leafspec, const int *chain, X509 **leaf_out)
{
	const struct cki_lab_pki *p = lab->pki;
	struct cki_lab_id leaf = {0};
	SSL_CTX *c;
	int ok = 0;

	if ((c = SSL_CTX_new(TLS_server_method())) == NULL)
		goto ossl;
	/* Weak keys, SHA-1 and TLS 1.0 exist only at level 0 in OpenSSL 3. */
	if (s->weak)
		SSL_CTX_set_security_level(c, 0);
	if ((s->proto_min != 0 &&
	        !SSL_CTX_set_min_proto_version(c, s->proto_min)) ||
	    (s->proto_max != 0 &&
	        !SSL_CTX_set_max_proto_version(c, s->proto_max)) ||
	    (s->ciphers != NULL && !SSL_CTX_set_cipher_list(c, s->ciphers)))
		goto ossl;
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
	(void)SSL_CTX_set_num_tickets(c, 0);
	if (cki_lab_leaf(lab->ctx, p, leafspec, &leaf) != CK_OK)
		goto err;
	if (SSL_CTX_use_certificate(c, leaf.cert) != 1 ||
	    SSL_CTX_use_PrivateKey(c, leaf.key) != 1 ||
	    SSL_CTX_check_private_key(c) != 1)
		goto ossl;
	for (int i = 0; i < 4 && chain[i] != LAB_CA_END; i++)
		if (!SSL_CTX_add1_chain_cert(c, p->ca[chain[i]].cert))
			goto ossl;
	if (s->client_auth) {
		X509_STORE *st = SSL_CTX_get_cert_store(c);

		/* RFC 8446 4.3.2 / RFC 5246 7.4.4: ask for a certificate
		 * from the Device CA and refuse the handshake without one;
		 * check the Device CA's CRL (revoked devices). */
		if (!X509_STORE_add_cert(st, p->ca[LAB_CA_DEV].cert) ||
		    !X509_STORE_add_crl(st, p->dev_crl) ||
		    !X509_STORE_set_flags(st, X509_V_FLAG_CRL_CHECK) ||
		    !SSL_CTX_add_client_CA(c, p->ca[LAB_CA_DEV].cert))
			goto ossl;
		SSL_CTX_set_verify(
		    c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	if (leaf_out != NULL) {
		*leaf_out = leaf.cert;
		leaf.cert = NULL;
	}
	ok = 1;
	goto err;
ossl:
	cki_err_keep(lab->ctx, CK_E_INTERNAL,
	    "lab: cannot set up the TLS server for %s: %s", s->name,
	    cki_ossl_reason());
err:
	cki_lab_id_clear(&leaf);
	if (!ok) {
		SSL_CTX_free(c);
		c = NULL;
	}
	return c;
}

static ck_status
tls_setup(ck_lab *lab, struct cki_lab_ep *ep)
{
	const struct cki_lab_spec *s = ep->spec;
	X509 *leaf = NULL;
	ck_status rv;

	if ((ep->ssl = server_ctx(lab, s, &s->leaf, s->chain, &leaf)) == NULL)
		return cki_err_keep(
		    lab->ctx, CK_E_INTERNAL, "lab: cannot set up %s", s->name);
	if (s->staple_revoked) {
		rv = cki_lab_ocsp_response(lab->ctx, lab->pki, s->leaf.issuer,
		    leaf, 1, &ep->ocsp, &ep->ocsp_len);
		if (rv == CK_OK &&
		    (lab->ocsp_der = malloc(ep->ocsp_len)) == NULL)
			rv = cki_err(lab->ctx, CK_E_NOMEM, "out of memory");
		if (rv != CK_OK) {
			X509_free(leaf);
			return rv;
		}
		/* The AIA server's /ocsp answers the same for this serial. */
		memcpy(lab->ocsp_der, ep->ocsp, ep->ocsp_len);
		lab->ocsp_len = ep->ocsp_len;
		{
			const ASN1_INTEGER *sn = X509_get0_serialNumber(leaf);
			int n = ASN1_STRING_length(sn);

			if (n > 0 && n <= (int)sizeof(lab->ocsp_serial)) {
				memcpy(lab->ocsp_serial,
				    ASN1_STRING_get0_data(sn), (size_t)n);
				lab->ocsp_serial_len = n;
			}
		}
		SSL_CTX_set_tlsext_status_cb(ep->ssl, status_cb);
		SSL_CTX_set_tlsext_status_arg(ep->ssl, ep);
	}
	X509_free(leaf);
	if (s->sni_name != NULL) {
		static const int named_chain[] = {LAB_CA_R3, LAB_CA_END};

		if ((ep->ssl_named = server_ctx(
		         lab, s, &s->sni_leaf, named_chain, NULL)) == NULL)
			return cki_err_keep(lab->ctx, CK_E_INTERNAL,
			    "lab: cannot set up %s", s->name);
		SSL_CTX_set_tlsext_servername_callback(ep->ssl, sni_cb);
		SSL_CTX_set_tlsext_servername_arg(ep->ssl, ep);
	}
	return CK_OK;
}

/* ---- raw behaviours ---------------------------------------------------- */

static void
rst_close(evutil_socket_t fd)
{
	struct linger lg = {1, 0};

	/* SO_LINGER {on, 0}: close() sends RST instead of FIN (RFC 9293
	 * 3.6: an abort). */
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static void
plain_read_cb(struct bufferevent *bev, void *arg)
{
	struct cki_lab_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	switch (c->role) {
	case R_HTTP:
		/* A plaintext web server (or captive portal) answers a TLS
		 * ClientHello with an HTTP error. */
		evbuffer_drain(in, evbuffer_get_length(in));
		respond(c, 400, "Bad Request", NULL, 0,
		    "400 Bad Request: this port speaks plain HTTP, not TLS.\n");
		break;
	case R_SILENT: evbuffer_drain(in, evbuffer_get_length(in)); break;
	case R_TLS_RESET: {
		unsigned char hdr[5];
		size_t need;

		/* RFC 8446 5.1: a record is a 5-byte header and length. */
		if (evbuffer_copyout(in, hdr, 5) != 5)
			return;
		need = 5 + (((size_t)hdr[3] << 8) | hdr[4]);
		if (evbuffer_get_length(in) < need &&
		    evbuffer_get_length(in) < MAX_HEAD)
			return;
		{
			struct linger lg = {1, 0};

			/* SO_LINGER {on, 0}: conn_free's close() aborts. */
			(void)setsockopt(
			    c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		conn_free(c);
		break;
	}
	default: break;
	}
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct cki_lab_ep *ep = arg;
	ck_lab *lab = ep->lab;
	struct cki_lab_conn *c = NULL;
	int role;

	(void)l;
	(void)sa;
	(void)salen;
	switch (ep->spec->kind) {
	case LAB_K_TCP_RESET: rst_close(fd); return;
	case LAB_K_TLS: role = R_TLS; break;
	case LAB_K_HTTP: role = R_HTTP; break;
	case LAB_K_SILENT: role = R_SILENT; break;
	case LAB_K_TLS_RESET: role = R_TLS_RESET; break;
	default: close(fd); return;
	}
	if ((c = conn_new(lab, role)) == NULL) {
		close(fd);
		return;
	}
	c->ep = ep;
	c->fd = fd; /* the connection owns fd and ssl (conn_free) */
	if (role == R_TLS) {
		if ((c->ssl = SSL_new(ep->ssl)) == NULL ||
		    (c->bev = bufferevent_openssl_socket_new(lab->base, fd,
		         c->ssl, BUFFEREVENT_SSL_ACCEPTING, 0)) == NULL) {
			conn_free(c);
			return;
		}
		bufferevent_setcb(c->bev, tls_read_cb, NULL, event_cb, c);
	} else {
		if ((c->bev = bufferevent_socket_new(lab->base, fd, 0)) ==
		    NULL) {
			conn_free(c);
			return;
		}
		bufferevent_setcb(c->bev, plain_read_cb, NULL, event_cb, c);
	}
	idle_timeout(c->bev);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- the CONNECT proxies ----------------------------------------------- */

static void relay_cb(struct bufferevent *bev, void *arg);

static void
relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct cki_lab_conn *c = arg;
	struct bufferevent *other = bev == c->bev ? c->up : c->bev;

	(void)what;
	/* One side ended: pass on what it sent, then close once the other
	 * side has written it. */
	if (other != NULL)
		evbuffer_add_buffer(
		    bufferevent_get_output(other), bufferevent_get_input(bev));
	if (bev == c->bev) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	} else {
		bufferevent_free(c->up);
		c->up = NULL;
	}
	if (other == NULL) {
		conn_free(c);
		return;
	}
	finish_after_flush(c, other);
}

static void
relay_cb(struct bufferevent *bev, void *arg)
{
	struct cki_lab_conn *c = arg;
	struct bufferevent *other = bev == c->bev ? c->up : c->bev;

	evbuffer_add_buffer(
	    bufferevent_get_output(other), bufferevent_get_input(bev));
}

static void
upstream_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct cki_lab_conn *c = arg;
	char body[400];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->tunnel = 1;
		/* RFC 9110 9.3.6: any 2xx means the tunnel is open. */
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "HTTP/1.1 200 Connection established\r\n\r\n");
		/* Bytes the client sent after its request go through. */
		evbuffer_add_buffer(bufferevent_get_output(c->up),
		    bufferevent_get_input(c->bev));
		bufferevent_setcb(c->bev, relay_cb, NULL, relay_event_cb, c);
		bufferevent_setcb(c->up, relay_cb, NULL, relay_event_cb, c);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
		bufferevent_enable(c->up, EV_READ | EV_WRITE);
		return;
	}
	snprintf(body, sizeof(body),
	    "502 Bad Gateway: the proxy cannot connect to %s: the upstream "
	    "refused or did not answer\n",
	    c->target);
	bufferevent_free(c->up);
	c->up = NULL;
	bufferevent_enable(c->bev, EV_WRITE);
	respond(c, 502, "Bad Gateway", NULL, 0, body);
}

static int
basic_ok(const char *value)
{
	static const char want[] = "Basic bGFiOmxhYi1wcm94eS1zZWNyZXQ=";

	/* base64("lab:lab-proxy-secret"); RFC 7617 2. The scheme name is
	 * case-insensitive (RFC 9110 11.1). */
	while (*value == ' ' || *value == '\t')
		value++;
	return strncasecmp(value, want, 6) == 0 &&
	    strcmp(value + 6, want + 6) == 0;
}

static void
proxy_head_cb(struct bufferevent *bev, void *arg)
{
	struct cki_lab_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	char *line = NULL, method[16], target[300], version[16], host[256];
	char body[400];
	int auth = 0, port;
	long lport;
	char *colon, *ep;
	struct sockaddr_in sin;

	if (end.pos < 0) {
		if (evbuffer_get_length(in) > MAX_HEAD)
			respond(c, 431, "Request Header Fields Too Large", NULL,
			    0, "request head too large\n");
		return;
	}
	bufferevent_setcb(bev, NULL, NULL, event_cb, c);
	if ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) == NULL ||
	    sscanf(line, "%15s %299s %15s", method, target, version) != 3) {
		free(line);
		respond(c, 400, "Bad Request", NULL, 0,
		    "expected: CONNECT host:port HTTP/1.1\n");
		return;
	}
	free(line);
	while ((line = evbuffer_readln(in, NULL, EVBUFFER_EOL_CRLF)) != NULL) {
		int blank = line[0] == '\0';

		if (strncasecmp(line, "Proxy-Authorization:", 20) == 0)
			auth = basic_ok(line + 20);
		free(line);
		if (blank)
			break;
	}
	snprintf(c->target, sizeof(c->target), "%s", target);
	if (strcmp(method, "CONNECT") != 0) {
		respond(c, 405, "Method Not Allowed", "Allow: CONNECT\r\n", 0,
		    "this proxy only tunnels: use CONNECT host:port\n");
		return;
	}
	if (c->px->kind == LAB_PX_DENY) {
		snprintf(body, sizeof(body),
		    "403 Forbidden: CONNECT to %s is blocked by policy "
		    "(certkit lab proxy)\n",
		    target);
		respond(c, 403, "Forbidden", NULL, 0, body);
		return;
	}
	if (c->px->kind == LAB_PX_AUTH && !auth) {
		/* RFC 9110 15.5.8: 407 carries Proxy-Authenticate. */
		respond(c, 407, "Proxy Authentication Required",
		    "Proxy-Authenticate: Basic realm=\"certkit lab proxy\"\r\n",
		    0, "407: this proxy needs a user name and password\n");
		return;
	}
	/* host:port; the lab resolves its own zone, nothing else. */
	if ((colon = strrchr(target, ':')) == NULL ||
	    (size_t)(colon - target) >= sizeof(host)) {
		respond(c, 400, "Bad Request", NULL, 0,
		    "expected CONNECT host:port\n");
		return;
	}
	memcpy(host, target, (size_t)(colon - target));
	host[colon - target] = '\0';
	errno = 0;
	lport = strtol(colon + 1, &ep, 10);
	if (errno != 0 || *ep != '\0' || lport < 1 || lport > 65535) {
		respond(c, 400, "Bad Request", NULL, 0, "bad port\n");
		return;
	}
	port = (int)lport;
	for (char *h = host; *h != '\0'; h++)
		if (*h >= 'A' && *h <= 'Z')
			*h = (char)(*h - 'A' + 'a');
	if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "localhost") != 0 &&
	    cki_lab_dns_lookup(host) != CKI_LAB_DNS_ADDR) {
		snprintf(body, sizeof(body),
		    "502 Bad Gateway: the proxy cannot resolve %s\n", host);
		respond(c, 502, "Bad Gateway", NULL, 0, body);
		return;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	bufferevent_disable(bev, EV_READ);
	if ((c->up = bufferevent_socket_new(
	         c->lab->base, -1, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		conn_free(c);
		return;
	}
	bufferevent_setcb(c->up, NULL, NULL, upstream_event_cb, c);
	idle_timeout(c->up);
	if (bufferevent_socket_connect(
	        c->up, (struct sockaddr *)&sin, sizeof(sin)) != 0)
		upstream_event_cb(c->up, BEV_EVENT_ERROR, c);
}

static void
proxy_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct cki_lab_proxy_srv *px = arg;
	struct cki_lab_conn *c;

	(void)l;
	(void)sa;
	(void)salen;
	if ((c = conn_new(px->lab, R_PROXY)) == NULL) {
		close(fd);
		return;
	}
	c->px = px;
	if ((c->bev = bufferevent_socket_new(
	         px->lab->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		close(fd);
		conn_free(c);
		return;
	}
	bufferevent_setcb(c->bev, proxy_head_cb, NULL, event_cb, c);
	idle_timeout(c->bev);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- sockets ----------------------------------------------------------- */

static ck_status
bound_socket(ck_lab *lab, const char *what, evutil_socket_t *fdp, int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	evutil_socket_t fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: %s: cannot create a socket: %s", what,
		    strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) == -1) {
		close(fd);
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: %s: cannot bind on 127.0.0.1: %s", what,
		    strerror(errno));
	}
	*fdp = fd;
	*port = ntohs(sin.sin_port);
	return CK_OK;
}

static ck_status
listener(ck_lab *lab, const char *what, evconnlistener_cb cb, void *arg,
    struct evconnlistener **out, int *port)
{
	evutil_socket_t fd;
	ck_status rv;

	if ((rv = bound_socket(lab, what, &fd, port)) != CK_OK)
		return rv;
	if (evutil_make_socket_nonblocking(fd) != 0) {
		close(fd);
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: %s: cannot make the socket non-blocking", what);
	}
	*out = evconnlistener_new(lab->base, cb, arg,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 128, fd);
	if (*out == NULL) {
		close(fd);
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: %s: cannot listen on 127.0.0.1:%d: %s", what, *port,
		    strerror(errno));
	}
	return CK_OK;
}

/*
 * The black hole. listen(fd, 0) leaves one slot in Linux's accept queue
 * (it is full when the count exceeds the backlog); our own connection
 * takes it and is never accepted, so tcp_conn_request() drops every later
 * SYN and the client retransmits until it gives up: a silent drop, as a
 * firewall's DROP rule gives. No privilege, no packet filter needed.
 */
static ck_status
blackhole(ck_lab *lab, struct cki_lab_ep *ep)
{
	struct sockaddr_in sin;
	ck_status rv;

	if ((rv = bound_socket(lab, ep->spec->name, &ep->fd, &ep->port)) !=
	    CK_OK)
		return rv;
	if (listen(ep->fd, 0) == -1)
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: %s: listen failed: %s", ep->spec->name,
		    strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)ep->port);
	if ((ep->filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	        -1 ||
	    connect(ep->filler, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: %s: cannot fill the accept queue: %s", ep->spec->name,
		    strerror(errno));
	return CK_OK;
}

/* ---- AIA --------------------------------------------------------------- */

static void
aia_cb(struct evhttp_request *req, void *arg)
{
	ck_lab *lab = arg;
	const char *path = evhttp_request_get_uri(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	/* RFC 6960 4.2.1: responseStatus unauthorized (6), no body. */
	static const uint8_t unauthorized[] = {0x30, 0x03, 0x0a, 0x01, 0x06};

	if (evhttp_request_get_command(req) == EVHTTP_REQ_GET &&
	    strncmp(path, "/ca/", 4) == 0) {
		for (int i = 0; i < LAB_CA_COUNT; i++) {
			const char *f = cki_lab_ca_file(i);

			if (f == NULL || lab->aia_der[i] == NULL ||
			    strcmp(path + 4, f) != 0)
				continue;
			/* RFC 5280 4.2.2.1: a DER certificate; RFC 2585 4.1
			 * names its media type. */
			evhttp_add_header(
			    hdr, "Content-Type", "application/pkix-cert");
			evbuffer_add(out, lab->aia_der[i], lab->aia_len[i]);
			evhttp_send_reply(req, 200, "OK", NULL);
			return;
		}
	}
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST &&
	    strcmp(path, "/ocsp") == 0) {
		struct evbuffer *in = evhttp_request_get_input_buffer(req);
		size_t n = evbuffer_get_length(in);
		unsigned char *body = evbuffer_pullup(in, (ev_ssize_t)n);
		const unsigned char *pp = body;
		OCSP_REQUEST *oreq = NULL;
		int match = 0;

		if (body != NULL && n < 65536 &&
		    (oreq = d2i_OCSP_REQUEST(NULL, &pp, (long)n)) != NULL &&
		    OCSP_request_onereq_count(oreq) > 0) {
			ASN1_INTEGER *sn = NULL;
			OCSP_ONEREQ *one = OCSP_request_onereq_get0(oreq, 0);

			if (OCSP_id_get0_info(NULL, NULL, NULL, &sn,
			        OCSP_onereq_get0_id(one)) &&
			    sn != NULL && lab->ocsp_serial_len > 0 &&
			    ASN1_STRING_length(sn) == lab->ocsp_serial_len &&
			    memcmp(ASN1_STRING_get0_data(sn), lab->ocsp_serial,
			        (size_t)lab->ocsp_serial_len) == 0)
				match = 1;
		}
		OCSP_REQUEST_free(oreq);
		evhttp_add_header(
		    hdr, "Content-Type", "application/ocsp-response");
		if (match)
			evbuffer_add(out, lab->ocsp_der, lab->ocsp_len);
		else
			evbuffer_add(out, unauthorized, sizeof(unauthorized));
		evhttp_send_reply(req, 200, "OK", NULL);
		return;
	}
	evhttp_add_header(hdr, "Content-Type", "text/plain");
	evbuffer_add_printf(out,
	    "not found: the AIA server serves /ca/FILE "
	    "and POST /ocsp\n");
	evhttp_send_reply(req, 404, "Not Found", NULL);
}

ck_status
cki_lab_bind_aia(ck_lab *lab)
{
	struct evhttp_bound_socket *h;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	if ((lab->http = evhttp_new(lab->base)) == NULL)
		return cki_err(lab->ctx, CK_E_INTERNAL,
		    "lab: cannot create the AIA server");
	evhttp_set_allowed_methods(
	    lab->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
	evhttp_set_timeout(lab->http, IDLE_SECONDS);
	evhttp_set_gencb(lab->http, aia_cb, lab);
	if ((h = evhttp_bind_socket_with_handle(lab->http, "127.0.0.1", 0)) ==
	        NULL ||
	    getsockname(evhttp_bound_socket_get_fd(h), (struct sockaddr *)&sin,
	        &sl) == -1)
		return cki_err(lab->ctx, CK_E_NETWORK,
		    "lab: cannot bind the AIA server on 127.0.0.1: %s",
		    strerror(errno));
	snprintf(lab->aia, sizeof(lab->aia), "http://127.0.0.1:%u",
	    (unsigned)ntohs(sin.sin_port));
	return CK_OK;
}

/* ---- start / free ------------------------------------------------------ */

static ck_status
proxies(ck_lab *lab)
{
	static const char *const names[LAB_PX_COUNT] = {
	    NULL, "proxy", "auth proxy", "deny proxy", "dead proxy"};
	ck_status rv;

	for (int k = LAB_PX_OK; k < LAB_PX_COUNT; k++) {
		struct cki_lab_proxy_srv *px = &lab->px[k];

		px->lab = lab;
		px->kind = k;
		if (k == LAB_PX_DEAD)
			rv = bound_socket(
			    lab, names[k], &px->dead_fd, &px->port);
		else
			rv = listener(lab, names[k], proxy_accept_cb, px,
			    &px->lst, &px->port);
		if (rv != CK_OK)
			return rv;
		snprintf(
		    px->url, sizeof(px->url), "http://127.0.0.1:%d", px->port);
	}
	return CK_OK;
}

ck_status
cki_lab_net_endpoints(ck_lab *lab)
{
	ck_status rv;

	if ((rv = proxies(lab)) != CK_OK)
		return rv;
	for (size_t i = 0; i < lab->nep; i++) {
		struct cki_lab_ep *ep = &lab->ep[i];
		const struct cki_lab_spec *s = ep->spec;

		switch (s->kind) {
		case LAB_K_TLS:
			if ((rv = tls_setup(lab, ep)) != CK_OK)
				return rv;
			/* FALLTHROUGH */
		case LAB_K_HTTP:
		case LAB_K_SILENT:
		case LAB_K_TLS_RESET:
		case LAB_K_TCP_RESET:
			rv = listener(
			    lab, s->name, accept_cb, ep, &ep->lst, &ep->port);
			break;
		case LAB_K_REFUSED:
			/* Bound, so no other program takes the port; never
			 * listening, so a SYN gets RST (RFC 9293 3.10.7.1). */
			rv = bound_socket(lab, s->name, &ep->fd, &ep->port);
			break;
		case LAB_K_BLACKHOLE: rv = blackhole(lab, ep); break;
		case LAB_K_ALIAS: rv = CK_OK; break;
		}
		if (rv != CK_OK)
			return rv;
	}
	return CK_OK;
}

void
cki_lab_net_free(ck_lab *lab)
{
	while (lab->conns != NULL)
		conn_free(lab->conns);
	for (int k = 0; k < LAB_PX_COUNT; k++) {
		if (lab->px[k].lst != NULL)
			evconnlistener_free(lab->px[k].lst);
		lab->px[k].lst = NULL;
		if (lab->px[k].dead_fd >= 0)
			close(lab->px[k].dead_fd);
		lab->px[k].dead_fd = -1;
	}
	for (size_t i = 0; i < lab->nep; i++) {
		struct cki_lab_ep *ep = &lab->ep[i];

		if (ep->lst != NULL)
			evconnlistener_free(ep->lst);
		ep->lst = NULL;
		if (ep->filler >= 0)
			close(ep->filler);
		if (ep->fd >= 0)
			close(ep->fd);
		ep->filler = ep->fd = -1;
		SSL_CTX_free(ep->ssl);
		SSL_CTX_free(ep->ssl_named);
		ep->ssl = ep->ssl_named = NULL;
		free(ep->ocsp);
		ep->ocsp = NULL;
	}
	if (lab->http != NULL)
		evhttp_free(lab->http);
	lab->http = NULL;
	if (lab->dns_ev != NULL)
		event_free(lab->dns_ev);
	lab->dns_ev = NULL;
	if (lab->dns_fd >= 0)
		close(lab->dns_fd);
	lab->dns_fd = -1;
}
