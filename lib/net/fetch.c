/*
 * fetch.c: ck_fetch_chain(), a blocking TLS client that only fetches the
 * certificate chain a server presents. It never verifies (see fetch.h):
 * its output is shown to a person, who decides what to trust.
 *
 *   resolve ──► connect (non-blocking, poll) ──► [proxy CONNECT] ──► TLS
 *   handshake (SNI, verification off) ──► the peer's chain
 *
 * One deadline covers name lookup, connect, proxy and handshake. Every
 * failure names the peer, the stage and what was seen.
 *
 * Name lookup: an IP literal never touches the resolver (AI_NUMERICHOST).
 * A name goes to glibc's getaddrinfo_a() (in libc since glibc 2.34), so a
 * dead DNS server cannot add its own retries (5 s x attempts x servers,
 * resolv.conf(5)) to the caller's timeout. Its completion callback runs in
 * a thread of its own; the job (gaicb, name, hints, result) is shared by
 * that callback and the caller, and whichever of the two finishes last
 * frees it, so a caller that gave up leaks nothing and nothing writes
 * freed memory. With a proxy only the proxy's name is resolved here: the
 * target's name is the proxy's to resolve (RFC 9110 9.3.6).
 */
#define _GNU_SOURCE 1 /* getaddrinfo_a, gai_cancel */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "net_int.h"
#include "certkit/fetch.h"

static bool
is_ip(const char *h)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, h, buf) == 1 ||
	    inet_pton(AF_INET6, h, buf) == 1;
}

static bool
port_ok(const char *p)
{
	char *end;
	long v;

	if (p == NULL || *p == '\0')
		return false;
	errno = 0;
	v = strtol(p, &end, 10);
	return errno == 0 && *end == '\0' && v >= 1 && v <= 65535;
}

/* NO_PROXY, read and matched exactly as the doctor does (curl's rules:
 * names and suffixes, IP addresses, CIDR ranges, ports; the lower-case
 * variable first), so `trust add --from` and `doctor` agree. */
static bool
no_proxy_for(const char *host, const char *port)
{
	const char *np = getenv("no_proxy");
	char *end;
	long p;

	if (np == NULL || np[0] == '\0')
		np = getenv("NO_PROXY");
	if (np == NULL || np[0] == '\0')
		return false;
	errno = 0;
	p = strtol(port, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		p = 443;
	return cki_net_no_proxy_match(np, host, (uint16_t)p);
}

/* Waits for `events` on fd until the deadline; false on timeout. */
static bool
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = {fd, events, 0};
	int64_t left;
	int r;

	for (;;) {
		left = deadline - cki_mono_ms();
		if (left <= 0)
			return false;
		r = poll(&pfd, 1, (int)left);
		if (r > 0)
			return true;
		if (r == 0)
			return false;
		if (errno != EINTR)
			return false;
	}
}

/* One asynchronous lookup, shared by the caller and the completion
 * callback: the last of the two to let go frees it (job_free). */
struct dns_job {
	struct gaicb cb;
	struct addrinfo hints;
	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled when done */
	bool done;         /* the callback has seen the lookup finish */
	bool abandoned;    /* the caller gave up: the callback frees */
	char name[256];
	char service[8];
};

/* Test seam: the completion callback sleeps this long first, as a slow
 * DNS server would (tests/unit/test_trust_fetch.c). 0 in production. */
static atomic_int dns_test_delay_ms;
/* Jobs not yet freed (lets the tests prove an abandoned one is freed). */
static atomic_int dns_jobs_live;

static void
job_free(struct dns_job *j)
{
	if (j->cb.ar_result != NULL)
		freeaddrinfo(j->cb.ar_result);
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	free(j);
	atomic_fetch_sub(&dns_jobs_live, 1);
}

/* SIGEV_THREAD callback: runs in its own thread once the lookup ended. */
static void
dns_done(union sigval sv)
{
	struct dns_job *j = sv.sival_ptr;
	int delay = atomic_load(&dns_test_delay_ms);
	bool free_it;

	if (delay > 0) {
		struct timespec ts = {
		    delay / 1000, (long)(delay % 1000) * 1000000};

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	pthread_mutex_lock(&j->mu);
	j->done = true;
	free_it = j->abandoned;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
	if (free_it)
		job_free(j);
}

/* Waits on j->cv until j->done or the deadline; called with j->mu held. */
static void
job_wait(struct dns_job *j, int64_t deadline)
{
	while (!j->done) {
		struct timespec ts;
		int64_t left = deadline - cki_mono_ms();

		if (left <= 0)
			return;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += (time_t)(left / 1000);
		ts.tv_nsec += (long)(left % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		(void)pthread_cond_timedwait(&j->cv, &j->mu, &ts);
	}
}

/*
 * Resolves host:port before the deadline. `who` names the peer in errors,
 * timeout_ms is the caller's budget as it will be quoted. An IP literal is
 * converted without the resolver; a name is looked up asynchronously and
 * abandoned (cancelled, or left to the callback to free) at the deadline.
 */
static ck_status
resolve(ck_ctx *ctx, const char *host, const char *port, const char *who,
    int64_t deadline, int timeout_ms, struct addrinfo **res)
{
	struct addrinfo hints;
	struct dns_job *j = NULL;
	struct gaicb *list[1];
	struct sigevent sev;
	pthread_condattr_t ca;
	bool free_it = true;
	ck_status rv = CK_OK;
	int r;

	*res = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((r = getaddrinfo(host, port, &hints, res)) == 0)
		goto err; /* an IP literal: the resolver is never asked */
	*res = NULL;
	if (r != EAI_NONAME) {
		rv = cki_err(ctx, CK_E_NETWORK, "%s: cannot resolve %s: %s",
		    who, host, gai_strerror(r));
		goto err;
	}
	if (strlen(host) >= sizeof(j->name) ||
	    strlen(port) >= sizeof(j->service)) {
		rv = cki_err(ctx, CK_E_USAGE,
		    "%s: expected a host name of at most 253 characters "
		    "and a port number",
		    who);
		goto err;
	}
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	atomic_fetch_add(&dns_jobs_live, 1);
	pthread_mutex_init(&j->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->cv, &ca);
	pthread_condattr_destroy(&ca);
	memcpy(j->name, host, strlen(host) + 1);
	memcpy(j->service, port, strlen(port) + 1);
	j->hints.ai_socktype = SOCK_STREAM;
	j->hints.ai_family = AF_UNSPEC;
	j->hints.ai_flags = AI_NUMERICSERV;
	j->cb.ar_name = j->name;
	j->cb.ar_service = j->service;
	j->cb.ar_request = &j->hints;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD;
	sev.sigev_notify_function = dns_done;
	sev.sigev_value.sival_ptr = j;
	list[0] = &j->cb;
	if ((r = getaddrinfo_a(GAI_NOWAIT, list, 1, &sev)) != 0) {
		rv = cki_err(ctx, CK_E_NETWORK,
		    "%s: cannot start the name lookup of %s: %s", who, host,
		    gai_strerror(r));
		goto err; /* nothing queued: no callback will come */
	}
	pthread_mutex_lock(&j->mu);
	job_wait(j, deadline);
	if (!j->done) {
		pthread_mutex_unlock(&j->mu);
		/* Still queued: removed, and no callback will come. Running
		 * or finished: the callback will come and frees the job. */
		if (gai_cancel(&j->cb) != EAI_CANCELED) {
			pthread_mutex_lock(&j->mu);
			free_it = j->done; /* it came meanwhile */
			j->abandoned = true;
			pthread_mutex_unlock(&j->mu);
		}
		rv = cki_err(ctx, CK_E_NETWORK,
		    "%s: cannot resolve %s: the name lookup did not finish "
		    "within %d ms (the DNS server may be unreachable or slow; "
		    "check /etc/resolv.conf, or give an IP address)",
		    who, host, timeout_ms);
		goto err;
	}
	pthread_mutex_unlock(&j->mu);
	if ((r = gai_error(&j->cb)) != 0) {
		rv = cki_err(ctx, CK_E_NETWORK, "%s: cannot resolve %s: %s",
		    who, host, gai_strerror(r));
		goto err;
	}
	*res = j->cb.ar_result;
	j->cb.ar_result = NULL;
err:
	if (j != NULL && free_it)
		job_free(j);
	return rv;
}

/* Test seams (tests/unit/test_trust_fetch.c); not exported (export.map). */
void cki_fetch_test_dns_delay(int ms);
int cki_fetch_test_dns_jobs(void);
ck_status cki_fetch_test_resolve(ck_ctx *ctx, const char *host,
    const char *port, int timeout_ms, struct addrinfo **res);

void
cki_fetch_test_dns_delay(int ms)
{
	atomic_store(&dns_test_delay_ms, ms);
}

int
cki_fetch_test_dns_jobs(void)
{
	return atomic_load(&dns_jobs_live);
}

ck_status
cki_fetch_test_resolve(ck_ctx *ctx, const char *host, const char *port,
    int timeout_ms, struct addrinfo **res)
{
	cki_begin(ctx);
	return resolve(
	    ctx, host, port, host, cki_mono_ms() + timeout_ms, timeout_ms, res);
}

static ck_status
connect_to(ck_ctx *ctx, const char *host, const char *port, const char *who,
    int64_t deadline, int timeout_ms, int *fdp)
{
	struct addrinfo *res = NULL, *ai;
	char why[512] = "";
	int fd = -1;
	ck_status rv;

	*fdp = -1;
	if ((rv = resolve(ctx, host, port, who, deadline, timeout_ms, &res)) !=
	    CK_OK)
		return rv;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int err = 0;
		socklen_t el = sizeof(err);
		char addr[INET6_ADDRSTRLEN + 8] = "?";

		getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
		    NULL, 0, NI_NUMERICHOST);
		fd = socket(ai->ai_family,
		    ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			if (!wait_fd(fd, POLLOUT, deadline)) {
				snprintf(why, sizeof(why),
				    "%s: no answer within "
				    "%d ms (a firewall dropping packets?)",
				    addr, timeout_ms);
				close(fd);
				fd = -1;
				break;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) ==
			        0 &&
			    err == 0)
				break;
		} else {
			err = errno;
		}
		snprintf(why, sizeof(why), "%s: %s", addr, strerror(err));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		return cki_err(ctx, CK_E_NETWORK, "%s: cannot connect (%s)",
		    who, why[0] ? why : "no usable address");
	*fdp = fd;
	return CK_OK;
}

static ck_status
send_all(ck_ctx *ctx, int fd, const char *buf, size_t len, const char *who,
    int64_t deadline)
{
	while (len > 0) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w > 0) {
			buf += w;
			len -= (size_t)w;
			continue;
		}
		if (w == -1 && (errno == EAGAIN || errno == EINTR)) {
			if (!wait_fd(fd, POLLOUT, deadline))
				return cki_err(ctx, CK_E_NETWORK,
				    "%s: timed out "
				    "sending",
				    who);
			continue;
		}
		return cki_err(ctx, CK_E_NETWORK, "%s: send failed: %s", who,
		    strerror(errno));
	}
	return CK_OK;
}

/* HTTP CONNECT through the proxy (RFC 9110 section 9.3.6). */
static ck_status
tunnel(ck_ctx *ctx, int fd, const struct cki_proxy *p, const char *host,
    const char *port, int64_t deadline)
{
	char req[2048], resp[4096], who[300], auth[800] = "";
	const char *lb = strchr(host, ':') ? "[" : "", *rb = lb[0] ? "]" : "";
	size_t got = 0;
	int code = 0, n;
	ck_status rv;

	snprintf(who, sizeof(who), "proxy %s:%u", p->host, (unsigned)p->port);
	/* RFC 7617: Basic credentials (p->auth is base64 of "user:pass"). */
	if (p->auth != NULL)
		snprintf(auth, sizeof(auth),
		    "Proxy-Authorization: Basic %s\r\n", p->auth);
	n = snprintf(req, sizeof(req),
	    "CONNECT %s%s%s:%s HTTP/1.1\r\n"
	    "Host: %s%s%s:%s\r\nUser-Agent: certkit/%s\r\n%s\r\n",
	    lb, host, rb, port, lb, host, rb, port, CERTKIT_VERSION, auth);
	OPENSSL_cleanse(auth, sizeof(auth));
	if (n < 0 || (size_t)n >= sizeof(req))
		return cki_err(ctx, CK_E_USAGE, "host name too long");
	rv = send_all(ctx, fd, req, (size_t)n, who, deadline);
	OPENSSL_cleanse(req, sizeof(req));
	if (rv != CK_OK)
		return rv;
	/* Read the response head one byte at a time: nothing of the TLS
	 * stream behind it may be consumed. */
	while (got + 1 < sizeof(resp)) {
		ssize_t r = recv(fd, resp + got, 1, 0);

		if (r == 1) {
			got++;
			if (got >= 4 &&
			    memcmp(resp + got - 4, "\r\n\r\n", 4) == 0)
				break;
			continue;
		}
		if (r == 0)
			return cki_err(ctx, CK_E_NETWORK,
			    "%s: closed the "
			    "connection before answering CONNECT %s:%s",
			    who, host, port);
		if (errno == EAGAIN || errno == EINTR) {
			if (!wait_fd(fd, POLLIN, deadline))
				return cki_err(ctx, CK_E_NETWORK,
				    "%s: no answer "
				    "to CONNECT %s:%s in time",
				    who, host, port);
			continue;
		}
		return cki_err(
		    ctx, CK_E_NETWORK, "%s: %s", who, strerror(errno));
	}
	resp[got] = '\0';
	resp[strcspn(resp, "\r\n")] = '\0';
	if (sscanf(resp, "HTTP/%*d.%*d %d", &code) != 1)
		return cki_err(ctx, CK_E_NETWORK,
		    "%s: expected an HTTP answer to "
		    "CONNECT, got \"%.60s\"",
		    who, resp);
	if (code != 200)
		return cki_err(ctx, CK_E_NETWORK,
		    "%s refused CONNECT %s:%s: "
		    "\"%.100s\"%s",
		    who, host, port, resp,
		    code == 407
		        ? " (give credentials as http://user:pass@proxy:port)"
		        : "");
	return CK_OK;
}

static ck_status
handshake(ck_ctx *ctx, int fd, const char *host, const char *who,
    int64_t deadline, int timeout_ms, ck_bundle **chain)
{
	SSL_CTX *sctx = NULL;
	SSL *ssl = NULL;
	BIO *bio;
	STACK_OF(X509) * sk;
	ck_bundle *b = NULL;
	ck_status rv = CK_E_NETWORK;
	int r;

	ERR_clear_error();
	if ((sctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    (ssl = SSL_new(sctx)) == NULL) {
		rv = cki_err(ctx, CK_E_INTERNAL, "cannot set up TLS (%s)",
		    cki_ossl_reason());
		goto err;
	}
	/* Fetching, not trusting: accept whatever the server offers so that
	 * even an old appliance's chain can be shown. */
	SSL_CTX_set_verify(sctx, SSL_VERIFY_NONE, NULL);
	SSL_set_security_level(ssl, 0);
	(void)SSL_set_min_proto_version(ssl, TLS1_VERSION);
	/* RFC 6066 section 3: HostName is a DNS name, never an IP literal. */
	if (!is_ip(host) && !SSL_set_tlsext_host_name(ssl, host)) {
		rv = cki_err(
		    ctx, CK_E_USAGE, "%s: cannot send '%s' as SNI", who, host);
		goto err;
	}
	/* No SIGPIPE when the server has hung up (sockbio.c). */
	if ((bio = cki_bio_new_socket(fd)) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	SSL_set_bio(ssl, bio, bio);
	SSL_set_connect_state(ssl);
	for (;;) {
		ERR_clear_error();
		r = SSL_do_handshake(ssl);
		if (r == 1)
			break;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			if (!wait_fd(fd, POLLIN, deadline))
				goto timeout;
			continue;
		case SSL_ERROR_WANT_WRITE:
			if (!wait_fd(fd, POLLOUT, deadline))
				goto timeout;
			continue;
		default: break;
		}
		/* A server that wants a client certificate has shown its
		 * chain before it refuses us: keep it. */
		if (SSL_get0_peer_certificate(ssl) != NULL)
			break;
		if (ERR_peek_last_error() != 0 &&
		    ERR_GET_REASON(ERR_peek_last_error()) ==
		        SSL_R_WRONG_VERSION_NUMBER)
			rv = cki_err(ctx, CK_E_NETWORK,
			    "%s: the peer did not answer with TLS (is this a "
			    "TLS "
			    "port? plain HTTP answers like this)",
			    who);
		else
			rv = cki_err(ctx, CK_E_NETWORK,
			    "%s: TLS handshake failed before the server sent "
			    "its certificate (%s)",
			    who,
			    ERR_peek_last_error() ? cki_ossl_reason()
			                          : "connection closed");
		goto err;
	}
	sk = SSL_get_peer_cert_chain(ssl);
	if (sk == NULL || sk_X509_num(sk) == 0) {
		rv = cki_err(ctx, CK_E_NETWORK,
		    "%s: the server sent no "
		    "certificate (an anonymous or PSK-only server)",
		    who);
		goto err;
	}
	if ((b = ck_bundle_new()) == NULL)
		goto nomem;
	for (int i = 0; i < sk_X509_num(sk); i++) {
		X509 *x = sk_X509_value(sk, i);
		char origin[480];
		ck_cert *c;

		snprintf(origin, sizeof(origin), "%s certificate %d (depth %d)",
		    who, i + 1, i);
		if (!X509_up_ref(x) || (c = cki_cert_wrap(x)) == NULL)
			goto nomem;
		if (cki_bundle_push(b, CK_OBJ_CERT, c, origin) != CK_OK) {
			ck_cert_free(c);
			goto nomem;
		}
	}
	*chain = b;
	b = NULL;
	rv = CK_OK;
	goto err;
timeout:
	rv = cki_err(ctx, CK_E_NETWORK,
	    "%s: the TLS handshake did not finish "
	    "within %d ms (a server that speaks something else, or a slow "
	    "link)",
	    who, timeout_ms);
	goto err;
nomem:
	rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
err:
	ck_bundle_free(b);
	SSL_free(ssl);
	SSL_CTX_free(sctx);
	return rv;
}

ck_status
ck_fetch_chain(ck_ctx *ctx, const char *host, const char *port,
    const char *connect_addr, int timeout_ms, ck_bundle **chain)
{
	struct cki_proxy px = {0};
	const char *purl = NULL;
	char who[400];
	int64_t deadline;
	int fd = -1;
	ck_status rv;

	cki_begin(ctx);
	*chain = NULL;
	if (host == NULL || host[0] == '\0' || strlen(host) > 253)
		return cki_err(
		    ctx, CK_E_USAGE, "expected a host name or address");
	/* The host goes into the CONNECT request line and Host header (RFC
	 * 9110 9.3.6): a CR, LF or space there would forge headers. */
	for (const char *c = host; *c != '\0'; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return cki_err(ctx, CK_E_USAGE,
			    "expected a host name or address, found a space "
			    "or a control character at byte %zu",
			    (size_t)(c - host) + 1);
	if (port == NULL)
		port = "443";
	if (!port_ok(port))
		return cki_err(ctx, CK_E_USAGE,
		    "%s: port '%s' is not a number "
		    "from 1 to 65535",
		    host, port);
	if (timeout_ms <= 0)
		timeout_ms = 10000;
	/* The one range of network timeouts (certkit.h). */
	timeout_ms = timeout_ms < CK_TIMEOUT_MIN_MS ? CK_TIMEOUT_MIN_MS
	    : timeout_ms > CK_TIMEOUT_MAX_MS        ? CK_TIMEOUT_MAX_MS
	                                            : timeout_ms;
	deadline = cki_mono_ms() + timeout_ms;
	snprintf(who, sizeof(who), "%s%s%s:%s", strchr(host, ':') ? "[" : "",
	    host, strchr(host, ':') ? "]" : "", port);
	if (connect_addr == NULL) {
		purl = getenv("https_proxy");
		if (purl == NULL || purl[0] == '\0')
			purl = getenv("HTTPS_PROXY");
		if (purl != NULL &&
		    (purl[0] == '\0' || no_proxy_for(host, port)))
			purl = NULL;
	}
	if (purl != NULL) {
		char why[600], pport[8];

		/* The doctor's parser: one reading of proxy URLs, credentials
		 * %-decoded and never shown. */
		if (!cki_net_parse_proxy(purl, &px, why, sizeof(why))) {
			rv = cki_err(ctx, CK_E_USAGE, "proxy %s", why);
			goto err; /* px may hold the credentials: wiped there */
		}
		snprintf(pport, sizeof(pport), "%u", (unsigned)px.port);
		snprintf(who, sizeof(who), "%s%s%s:%s (via proxy %s:%s)",
		    strchr(host, ':') ? "[" : "", host,
		    strchr(host, ':') ? "]" : "", port, px.host, pport);
		if ((rv = connect_to(ctx, px.host, pport, who, deadline,
		         timeout_ms, &fd)) != CK_OK ||
		    (rv = tunnel(ctx, fd, &px, host, port, deadline)) != CK_OK)
			goto err;
	} else if ((rv = connect_to(ctx, connect_addr ? connect_addr : host,
	                port, who, deadline, timeout_ms, &fd)) != CK_OK) {
		goto err;
	}
	rv = handshake(ctx, fd, host, who, deadline, timeout_ms, chain);
err:
	cki_proxy_clear(&px); /* wipes the credentials */
	if (fd != -1)
		close(fd);
	return rv;
}
