/*
 * trivial_tls.c: the least a mutual-TLS HTTP/1.1 server can do on this
 * machine, to measure bench/mtls_load.c's own limit and the floor of a
 * server's cost: libevent and bufferevent_openssl (as certkit serve),
 * TLS 1.3, the client certificate required and verified against CAFILE
 * by OpenSSL, and to every request (keep-alive) a fixed "200 ok". No
 * routes, no registry, no logs.
 *
 *   trivial_tls -c CERT -k KEY -a CAFILE [-p PORT]
 *
 * Prints "port=N" on stdout when it listens (PORT 0, the default, is a
 * free one), then serves until SIGTERM or SIGINT. Built by bench/serve.sh:
 * cc -O2 trivial_tls.c -levent_openssl -levent -lssl -lcrypto.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

static const char answer[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: 3\r\n\r\nok\n";

struct conn {
	size_t need; /* body bytes to skip */
	int in_head;
};

static void
conn_free(struct bufferevent *bev, struct conn *c)
{
	bufferevent_free(bev);
	free(c);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		if (c->in_head) {
			struct evbuffer_ptr e =
			    evbuffer_search(in, "\r\n\r\n", 4, NULL);
			const char *h, *p;
			size_t hl;

			if (e.pos < 0) {
				if (evbuffer_get_length(in) > 16384)
					conn_free(bev, c);
				return;
			}
			hl = (size_t)e.pos + 4;
			h = (const char *)evbuffer_pullup(in, (ssize_t)hl);
			c->need = 0;
			if ((p = strcasestr(h, "\r\nContent-Length:")) !=
			        NULL &&
			    p < h + hl)
				c->need = strtoul(p + 17, NULL, 10);
			evbuffer_drain(in, hl);
			c->in_head = 0;
		}
		if (evbuffer_get_length(in) < c->need) {
			c->need -= evbuffer_get_length(in);
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		evbuffer_drain(in, c->need);
		c->in_head = 1;
		bufferevent_write(bev, answer, sizeof(answer) - 1);
		if (evbuffer_get_length(in) == 0)
			return;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		conn_free(bev, arg);
}

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	SSL *ssl = SSL_new(arg);
	struct conn *c = calloc(1, sizeof(*c));
	struct bufferevent *bev = NULL;
	int one = 1;

	(void)sa;
	(void)salen;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ssl != NULL && c != NULL)
		bev = bufferevent_openssl_socket_new(evconnlistener_get_base(l),
		    fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		SSL_free(ssl);
		free(c);
		close(fd);
		return;
	}
	c->in_head = 1;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_setcb(bev, read_cb, NULL, event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static SSL_CTX *
make_ctx(const char *cert, const char *key, const char *ca)
{
	SSL_CTX *s = SSL_CTX_new(TLS_server_method());

	if (s == NULL || SSL_CTX_use_certificate_chain_file(s, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_load_verify_locations(s, ca, NULL) != 1) {
		ERR_print_errors_fp(stderr);
		SSL_CTX_free(s);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(s, TLS1_3_VERSION);
	SSL_CTX_set_verify(
	    s, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(s, (const unsigned char *)"trivial", 7);
	return s;
}

static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

int
main(int argc, char **argv)
{
	const char *cert = NULL, *key = NULL, *ca = NULL;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sin);
	struct event_base *base;
	struct evconnlistener *l;
	struct event *sigs[2];
	struct rlimit rl;
	SSL_CTX *ctx;
	int ch, port = 0;

	while ((ch = getopt(argc, argv, "c:k:a:p:")) != -1) {
		switch (ch) {
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'a': ca = optarg; break;
		case 'p': port = (int)strtol(optarg, NULL, 10); break;
		default: cert = NULL; break;
		}
	}
	if (cert == NULL || key == NULL || ca == NULL) {
		fprintf(stderr,
		    "usage: trivial_tls -c CERT -k KEY -a CAFILE "
		    "[-p PORT]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((ctx = make_ctx(cert, key, ca)) == NULL ||
	    (base = event_base_new()) == NULL)
		return 1;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	l = evconnlistener_new_bind(base, accept_cb, ctx,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 4096,
	    (struct sockaddr *)&sin, sizeof(sin));
	if (l == NULL ||
	    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sin, &sl))
		return 1;
	printf("port=%d\n", ntohs(sin.sin_port));
	fflush(stdout);
	sigs[0] = evsignal_new(base, SIGTERM, stop_cb, base);
	sigs[1] = evsignal_new(base, SIGINT, stop_cb, base);
	evsignal_add(sigs[0], NULL);
	evsignal_add(sigs[1], NULL);
	event_base_dispatch(base);
	event_free(sigs[0]);
	event_free(sigs[1]);
	evconnlistener_free(l);
	event_base_free(base);
	SSL_CTX_free(ctx);
	return 0;
}
