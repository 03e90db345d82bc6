/*
 * probe.c: the doctor's network side. One libevent loop drives every
 * endpoint through its stages; each stage has its own timer, so a slow or
 * black-holed endpoint costs its own timeout and nobody else's.
 *
 * Per endpoint (struct probe), the states and who moves between them:
 *
 *   probe_start ─► DNS (dns_start) ──► TCP (tcp_start/tcp_try)
 *                     │ no DNS needed ──┘        │
 *                     │                 proxy? ──┴► PROXY (proxy_start)
 *                     │                               │
 *                     │                  TLS (tls_start/tls_step) ◄──┘
 *                     │                     │ handshake done: diagnose
 *                     │                     ├─ need.app ─► APP (app_start)
 *                     ▼                     ▼
 *                 advance() ◄── conn closed (conn_close) ◄───┘
 *                     │  cki_doc_diagnose(): a report, or a need:
 *                     ├─ nosni/legacy ─► a new connection (conn_begin)
 *                     ├─ quiet ────────► a connection that sends nothing
 *                     │                  (quiet_start: an ambiguous reset)
 *                     ├─ aia_url ─────► AIA (aia_start, evhttp)
 *                     └─ report ──────► probe_finish ─► launch() next
 *
 * Invariants:
 *  1. At most cfg->parallel probes are active at once: probes are a pool
 *     of that many slots, reused from endpoint to endpoint, and a finished
 *     endpoint keeps only its report text (memory stays flat).
 *  2. Every wait is bounded: a stage timer is armed before any I/O wait,
 *     and its expiry ends the stage (DNS, TCP, proxy, TLS: a failure; the
 *     application exchange and extra evidence: no answer).
 *  3. OpenSSL never decides: SSL_VERIFY_NONE, and the chain is judged
 *     afterwards by doctor_diag.c against the device's store.
 *  4. The probe only records facts into struct cki_obs; it never names a
 *     diagnosis code.
 *  5. probe_finish never recurses into launch() while launch() runs, so a
 *     thousand endpoints that fail at once do not grow the stack.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/buffer.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "doctor_int.h"

enum { PASS_MAIN = 0, PASS_NOSNI = 1, PASS_LEGACY = 2, PASS_QUIET = 3 };
enum {
	C_IDLE = 0,
	C_CONNECT,
	C_PROXY_WRITE,
	C_PROXY_READ,
	C_TLS,
	C_APP_WRITE,
	C_APP_READ,
	C_QUIET
};

/* The silent connection of an ambiguous reset waits this long for the
 * peer to reset it anyway. */
#define QUIET_WAIT_MS 1000

/* How long the one application exchange may wait for an answer: enough
 * for a post-handshake alert or an HTTP head, short enough that a
 * silent non-HTTP service costs little. */
#define APP_WAIT_MS 1500

struct conn {
	int fd;
	struct event *io;
	short io_what;
	SSL *ssl;
	struct cki_hs *hs;
	int pass;
	int state;
	size_t addr_i;
	char buf[CKI_DOC_MAX_HTTP_HEAD];
	size_t blen, boff;
	int64_t t0; /* when this connection began */
};

struct probe {
	struct cki_doc_run *run;
	const struct cki_endpoint *ep;
	size_t idx;
	struct cki_obs obs;
	const struct cki_proxy *proxy;
	struct cki_proxy own_proxy;
	struct sockaddr_storage addrs[CKI_DOC_MAX_ADDRS];
	socklen_t alen[CKI_DOC_MAX_ADDRS];
	char atext[CKI_DOC_MAX_ADDRS][64];
	size_t naddr;
	struct event *timer;
	int stage; /* enum cki_stage being timed */
	int64_t stage_t0;
	struct conn c;
	struct evdns_getaddrinfo_request *gai;
	/* --dns: our own UDP query (probe_dns.c) */
	int dfd;
	struct event *dev, *dretry;
	uint16_t dns_id, qtype;
	unsigned char qbuf[300];
	size_t qlen;
	bool dns_sync; /* a DNS callback ran synchronously */
	struct evhttp_connection *hc;
	struct evhttp_request *hreq;
	struct event *defer; /* runs after the AIA callback returns */
	int64_t aia_t0;
	SSL_CTX *ssl;
	int rounds;
	bool active;
};

struct cki_doc_run {
	const struct cki_doc_cfg *cfg;
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *legacy;
	struct probe *p;
	size_t nslots;
	size_t next, inflight, done;
	char **results;
	struct cki_doc_meta *meta;
	bool launching;
	bool nomem;
	int local_errno; /* EMFILE/ENFILE: this process, not a server */
	char local_ep[CKI_DOC_MAX_HOST + 8];
};

static void advance(struct probe *p, json_t *result, struct cki_need *need);
static void tls_step(struct probe *p);
static void app_step(struct probe *p);
static void conn_begin(struct probe *p, int pass);
static void launch(struct cki_doc_run *r);
static void aia_start(struct probe *p, const char *url);

/* ---- time and timers ----------------------------------------------------- */

static void on_timer(evutil_socket_t fd, short what, void *arg);

static void
stage_begin(struct probe *p, int stage, int ms)
{
	struct timeval tv;

	p->stage = stage;
	p->stage_t0 = cki_mono_ms();
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(p->timer, &tv);
}

static void
stage_end(struct probe *p, int stage)
{
	int64_t el = cki_mono_ms() - p->stage_t0;

	evtimer_del(p->timer);
	if (p->c.pass == PASS_MAIN || stage == CKI_ST_EXTRA ||
	    stage == CKI_ST_DNS) {
		if (p->obs.ms[stage] < 0)
			p->obs.ms[stage] = 0;
		p->obs.ms[stage] += el;
	} else {
		if (p->obs.ms[CKI_ST_EXTRA] < 0)
			p->obs.ms[CKI_ST_EXTRA] = 0;
		p->obs.ms[CKI_ST_EXTRA] += el;
	}
}

/* ---- connection plumbing --------------------------------------------------
 */

static void on_io(evutil_socket_t fd, short what, void *arg);

static void
conn_wait(struct probe *p, short what)
{
	struct conn *c = &p->c;

	if (c->io != NULL && c->io_what != what) {
		event_free(c->io);
		c->io = NULL;
	}
	if (c->io == NULL) {
		c->io = event_new(p->run->base, c->fd, what, on_io, p);
		c->io_what = what;
	}
	if (c->io == NULL || event_add(c->io, NULL) != 0)
		p->run->nomem = true;
}

static void
conn_close(struct probe *p)
{
	struct conn *c = &p->c;

	if (c->io != NULL)
		event_free(c->io);
	if (c->ssl != NULL) {
		/* RFC 8446 6.1: say goodbye, but never wait for it. */
		if (c->hs != NULL && c->hs->done && !c->hs->reset) {
			ERR_clear_error();
			SSL_shutdown(c->ssl);
		}
		SSL_free(c->ssl);
	}
	if (c->fd >= 0)
		close(c->fd);
	OPENSSL_cleanse(c->buf, sizeof(c->buf));
	c->io = NULL;
	c->ssl = NULL;
	c->fd = -1;
	c->state = C_IDLE;
	c->blen = c->boff = 0;
	ERR_clear_error();
}

/* ---- finishing ------------------------------------------------------------
 */

static void
udp_close(struct probe *p)
{
	if (p->dev != NULL)
		event_free(p->dev);
	if (p->dretry != NULL)
		event_free(p->dretry);
	if (p->dfd >= 0)
		close(p->dfd);
	p->dev = p->dretry = NULL;
	p->dfd = -1;
}

static void
probe_free(struct probe *p)
{
	conn_close(p);
	if (p->timer != NULL)
		event_free(p->timer);
	p->timer = NULL;
	if (p->gai != NULL)
		evdns_getaddrinfo_cancel(p->gai);
	p->gai = NULL;
	udp_close(p);
	if (p->hreq != NULL)
		evhttp_cancel_request(p->hreq);
	p->hreq = NULL;
	if (p->hc != NULL)
		evhttp_connection_free(p->hc);
	p->hc = NULL;
	if (p->defer != NULL)
		event_free(p->defer);
	p->defer = NULL;
	cki_proxy_clear(&p->own_proxy);
	cki_obs_clear(&p->obs);
}

static void
probe_finish(struct probe *p, json_t *result)
{
	struct cki_doc_run *r = p->run;

	if (!p->active) {
		json_decref(result);
		return;
	}
	p->active = false;
	/* Keep the report as compact text: a tree per endpoint would make
	 * memory grow with the endpoint count. */
	if (result != NULL) {
		cki_doc_meta_of(result, &r->meta[p->idx]);
		r->results[p->idx] =
		    json_dumps(result, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(result);
	}
	if (r->results[p->idx] == NULL && r->local_errno == 0)
		r->nomem = true;
	probe_free(p);
	r->inflight--;
	r->done++;
	if (r->cfg->progress != NULL)
		r->cfg->progress(r->done, r->cfg->nep, r->cfg->progress_arg);
	if (!r->launching)
		launch(r);
	if (r->done == r->cfg->nep)
		event_base_loopexit(r->base, NULL);
}

/* A socket could not be made because this process (EMFILE) or the system
 * (ENFILE) is out of descriptors: a local error, never a finding about the
 * server. The run stops and says so (cki_doc_probe_all). */
static bool
local_fail(struct probe *p, int e)
{
	struct cki_doc_run *r = p->run;

	if (e != EMFILE && e != ENFILE)
		return false;
	if (r->local_errno == 0) {
		r->local_errno = e;
		snprintf(r->local_ep, sizeof(r->local_ep),
		    strchr(p->ep->host, ':') ? "[%s]:%u" : "%s:%u", p->ep->host,
		    p->ep->port);
	}
	conn_close(p);
	udp_close(p);
	probe_finish(p, NULL);
	event_base_loopexit(r->base, NULL);
	return true;
}

/* Diagnose with what is known now and act on the answer. */
static void
diagnose(struct probe *p)
{
	struct cki_need need;
	bool nomem = false;
	json_t *res;

	res = cki_doc_diagnose(p->run->cfg->env, p->ep, &p->obs, &need, &nomem);
	if (res == NULL && nomem) {
		p->run->nomem = true;
		probe_finish(p, NULL);
		return;
	}
	advance(p, res, &need);
}

/* The current connection is over; what next? */
static void
conn_done(struct probe *p)
{
	conn_close(p);
	diagnose(p);
}

static void
advance(struct probe *p, json_t *result, struct cki_need *need)
{
	if (result != NULL) {
		conn_close(p);
		probe_finish(p, result);
		return;
	}
	if (++p->rounds > 12) {
		/* Bounded: every need is asked at most once or a few times;
		 * this cannot happen unless diagnose loops. */
		p->run->nomem = true;
		probe_finish(p, NULL);
		return;
	}
	if (need->app) {
		if (p->c.ssl != NULL && p->c.hs == &p->obs.main &&
		    p->obs.main.done) {
			struct conn *c = &p->c;
			bool h2 = strcmp(c->hs->alpn, "h2") == 0;
			int n;

			c->hs->app_tried = true;
			c->hs->h2 = h2;
			if (h2) {
				/* RFC 9113 3.4: the preface and an empty
				 * SETTINGS frame. */
				static const char preface[] =
				    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				    "\0\0\0\4\0\0\0\0\0";

				memcpy(c->buf, preface, sizeof(preface) - 1);
				c->blen = sizeof(preface) - 1;
			} else {
				/* GET, not HEAD: the answer to a HEAD has no
				 * body (RFC 9110 9.3.2), and a refused or
				 * pending client's reason is in it (RFC
				 * 9457). Only such a body is read. */
				n = snprintf(c->buf, sizeof(c->buf),
				    "GET / HTTP/1.1\r\nHost: %s%s%s\r\n"
				    "User-Agent: certkit-doctor/%s\r\n"
				    "Connection: close\r\n\r\n",
				    p->ep->is_ip && strchr(p->ep->host, ':')
				        ? "["
				        : "",
				    p->ep->host,
				    p->ep->is_ip && strchr(p->ep->host, ':')
				        ? "]"
				        : "",
				    CERTKIT_VERSION);
				c->blen = n > 0 ? (size_t)n : 0;
			}
			c->boff = 0;
			c->state = C_APP_WRITE;
			stage_begin(p, CKI_ST_APP,
			    p->run->cfg->timeout_ms < APP_WAIT_MS
			        ? p->run->cfg->timeout_ms
			        : APP_WAIT_MS);
			app_step(p);
			return;
		}
		/* The connection is gone: the exchange cannot happen. */
		p->obs.main.app_tried = true;
		conn_done(p);
		return;
	}
	conn_close(p);
	if (need->nosni) {
		p->obs.nosni.attempted = true;
		conn_begin(p, PASS_NOSNI);
		return;
	}
	if (need->legacy) {
		p->obs.legacy.attempted = true;
		conn_begin(p, PASS_LEGACY);
		return;
	}
	if (need->quiet) {
		p->obs.quiet.attempted = true;
		conn_begin(p, PASS_QUIET);
		return;
	}
	if (need->aia_url[0] != '\0') {
		aia_start(p, need->aia_url);
		return;
	}
	p->run->nomem = true;
	probe_finish(p, NULL);
}

/* ---- DNS ------------------------------------------------------------------
 */

static void
add_addr(struct probe *p, const char *ip, uint16_t port)
{
	if (p->naddr == CKI_DOC_MAX_ADDRS)
		return;
	if (!cki_net_sockaddr(
	        ip, port, &p->addrs[p->naddr], &p->alen[p->naddr]))
		return;
	snprintf(p->atext[p->naddr], sizeof(p->atext[0]),
	    strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
	p->naddr++;
}

static void tcp_start(struct probe *p);

static uint16_t
target_port(const struct probe *p)
{
	return p->proxy != NULL ? p->proxy->port : p->ep->port;
}

static bool
all_sinkhole(const struct cki_obs *o)
{
	for (size_t i = 0; i < o->ndns; i++) {
		const char *a = o->dns_answers[i];

		if (!(strcmp(a, "0.0.0.0") == 0 || strncmp(a, "127.", 4) == 0 ||
		        strcmp(a, "::") == 0 || strcmp(a, "::1") == 0))
			return false;
	}
	return o->ndns > 0;
}

static void
dns_done(struct probe *p, int rcode, bool timeout)
{
	struct cki_obs *o = &p->obs;

	stage_end(p, CKI_ST_DNS);
	o->dns_rcode = rcode;
	o->dns_timeout = timeout;
	for (size_t i = 0; i < p->naddr && i < CKI_DOC_MAX_ADDRS; i++) {
		/* Strip the ":port" added by add_addr. */
		char *s = o->dns_answers[i];
		char *colon;

		snprintf(s, sizeof(o->dns_answers[0]), "%s",
		    p->atext[i][0] == '[' ? p->atext[i] + 1 : p->atext[i]);
		if ((colon = strrchr(s, ':')) != NULL)
			*colon = '\0';
		if ((colon = strrchr(s, ']')) != NULL)
			*colon = '\0';
	}
	o->ndns = p->naddr;
	/* A public name answered with a sinkhole address is not connected
	 * to: the answer is the finding (doctor_diag.c). */
	if (p->naddr == 0 ||
	    (!o->dns_for_proxy && p->ep->expect == CKI_EXPECT_PUBLIC &&
	        all_sinkhole(o))) {
		diagnose(p);
		return;
	}
	tcp_start(p);
}

static void
gai_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct probe *p = arg;
	char buf[64];
	int rcode = 0;

	p->gai = NULL;
	p->dns_sync = true;
	/* On failure res is NULL, and evutil_freeaddrinfo(NULL) crashes. */
	if (result == EVUTIL_EAI_CANCEL || !p->active) {
		if (res != NULL)
			evutil_freeaddrinfo(res);
		return;
	}
	/* IPv4 first: fewer networks route IPv6. */
	for (int fam = 0; fam < 2; fam++)
		for (struct evutil_addrinfo *a = res; a != NULL;
		     a = a->ai_next) {
			if (fam == 0 && a->ai_family == AF_INET)
				inet_ntop(AF_INET,
				    &((struct sockaddr_in *)a->ai_addr)
				         ->sin_addr,
				    buf, sizeof(buf));
			else if (fam == 1 && a->ai_family == AF_INET6)
				inet_ntop(AF_INET6,
				    &((struct sockaddr_in6 *)a->ai_addr)
				         ->sin6_addr,
				    buf, sizeof(buf));
			else
				continue;
			add_addr(p, buf, target_port(p));
		}
	if (res != NULL)
		evutil_freeaddrinfo(res);
	if (result == EVUTIL_EAI_NONAME)
		rcode = DNS_ERR_NOTEXIST;
	else if (result == EVUTIL_EAI_NODATA)
		rcode = DNS_ERR_NODATA;
	else if (result == EVUTIL_EAI_AGAIN)
		rcode = DNS_ERR_TIMEOUT;
	else if (result != 0)
		rcode = DNS_ERR_SERVERFAILED;
	dns_done(p, rcode, rcode == DNS_ERR_TIMEOUT);
}

static bool
ensure_dns(struct cki_doc_run *r)
{
	const struct cki_doc_cfg *cfg = r->cfg;
	char t[32];

	if (r->dns != NULL)
		return true;
	/* Without --dns: /etc/resolv.conf and /etc/hosts, as the device's
	 * libc would. With --dns: that server only, nothing else. */
	r->dns = evdns_base_new(r->base,
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE |
	        (cfg->dns == NULL ? EVDNS_BASE_INITIALIZE_NAMESERVERS : 0));
	if (r->dns == NULL)
		return false;
	if (cfg->dns != NULL &&
	    evdns_base_nameserver_sockaddr_add(r->dns,
	        (const struct sockaddr *)cfg->dns, cfg->dns_len, 0) != 0) {
		/* Not half made: a base without the server would be reused
		 * by the next call as if it were ready. */
		evdns_base_free(r->dns, 0);
		r->dns = NULL;
		return false;
	}
	/* Two tries within the stage's timeout; never mark the server down
	 * (one silent name must not fail the others); no 0x20 case games
	 * (RFC draft-vixie-dnsext-dns0x20), which some resolvers mangle. */
	snprintf(t, sizeof(t), "%d.%03d", cfg->timeout_ms / 2000,
	    (cfg->timeout_ms / 2) % 1000);
	evdns_base_set_option(r->dns, "timeout:", t);
	evdns_base_set_option(r->dns, "attempts:", "2");
	evdns_base_set_option(r->dns, "max-timeouts:", "255");
	evdns_base_set_option(r->dns, "randomize-case:", "0");
	return true;
}

static void udp_send(struct probe *p);

static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	unsigned char m[1500];
	char addrs[CKI_DOC_MAX_ADDRS][64];
	size_t n = 0;
	int rcode = 0;
	bool tc = false;

	(void)fd;
	(void)what;
	for (;;) {
		ssize_t r = recv(p->dfd, m, sizeof(m), MSG_DONTWAIT);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0) {
			/* ECONNREFUSED: ICMP port unreachable (RFC 1122
			 * 4.1.3.3): nothing listens at the server's port. */
			udp_close(p);
			dns_done(p, CKI_DNS_UNREACHABLE, true);
			return;
		}
		if (cki_dns_reply(m, (size_t)r, p->dns_id, p->obs.dns_name,
		        p->qtype, &rcode, &tc, addrs, CKI_DOC_MAX_ADDRS, &n))
			break;
		/* Not a reply to our question: keep waiting. */
	}
	udp_close(p);
	for (size_t i = 0; i < n; i++)
		add_addr(p, addrs[i], target_port(p));
	if (rcode == 0 && n == 0 && p->qtype == 1) {
		/* NODATA for A (RFC 2308 2.2): ask for AAAA. */
		p->qtype = 28;
		udp_send(p);
		return;
	}
	dns_done(p, rcode == 0 && n == 0 ? DNS_ERR_NODATA : rcode, false);
}

static void
udp_retry(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	/* One retransmission, halfway through the stage (RFC 1035 4.2.1
	 * leaves the interval to the resolver). */
	if (p->dfd >= 0)
		(void)send(p->dfd, p->qbuf, p->qlen, MSG_NOSIGNAL);
}

static void
udp_send(struct probe *p)
{
	const struct cki_doc_cfg *cfg = p->run->cfg;
	struct timeval half;
	unsigned char rnd[2];

	if (RAND_bytes(rnd, 2) != 1) {
		rnd[0] = (unsigned char)cki_mono_ms();
		rnd[1] = (unsigned char)(cki_mono_ms() >> 8);
	}
	/* RFC 5452 4.3: an unpredictable ID. */
	p->dns_id = (uint16_t)((rnd[0] << 8) | rnd[1]);
	p->qlen = cki_dns_query(
	    p->obs.dns_name, p->qtype, p->dns_id, p->qbuf, sizeof(p->qbuf));
	p->dfd = socket(
	    cfg->dns->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->qlen == 0 || p->dfd < 0 ||
	    connect(p->dfd, (const struct sockaddr *)cfg->dns, cfg->dns_len) !=
	        0 ||
	    send(p->dfd, p->qbuf, p->qlen, MSG_NOSIGNAL) < 0 ||
	    (p->dev = event_new(p->run->base, p->dfd, EV_READ | EV_PERSIST,
	         udp_read, p)) == NULL ||
	    event_add(p->dev, NULL) != 0 ||
	    (p->dretry = evtimer_new(p->run->base, udp_retry, p)) == NULL) {
		int e = errno;

		if (p->dfd < 0 && local_fail(p, e))
			return;
		udp_close(p);
		dns_done(p,
		    e == ECONNREFUSED ? CKI_DNS_UNREACHABLE : DNS_ERR_UNKNOWN,
		    e == ECONNREFUSED);
		return;
	}
	half.tv_sec = cfg->timeout_ms / 2000;
	half.tv_usec = (cfg->timeout_ms / 2 % 1000) * 1000;
	evtimer_add(p->dretry, &half);
}

static void
dns_start(struct probe *p, const char *name)
{
	struct cki_doc_run *r = p->run;
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *g;

	p->obs.dns_used = true;
	p->obs.dns_name = name;
	p->obs.dns_server = r->cfg->dns_display;
	stage_begin(p, CKI_ST_DNS, r->cfg->timeout_ms);
	if (r->cfg->dns == NULL && !ensure_dns(r)) {
		dns_done(p, DNS_ERR_UNKNOWN, false);
		return;
	}
	p->dns_sync = false;
	if (r->cfg->dns != NULL) {
		p->qtype = 1;
		udp_send(p);
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	g = evdns_getaddrinfo(r->dns, name, NULL, &hints, gai_cb, p);
	/* The callback may already have run (a hosts-file hit). */
	if (!p->dns_sync)
		p->gai = g;
}

/* ---- TCP ------------------------------------------------------------------
 */

static void proxy_start(struct probe *p);
static void tls_start(struct probe *p);

static void
conn_fail(struct probe *p, int stage, int err, bool timeout)
{
	struct cki_hs *h = p->c.hs;

	if (!timeout && stage != CKI_ST_NONE)
		stage_end(p, stage);
	h->failed_stage = stage;
	if (err != 0 && h->err_no == 0)
		h->err_no = err;
	if (err == ECONNRESET || err == EPIPE)
		h->reset = true;
	h->timed_out = h->timed_out || timeout;
	conn_done(p);
}

static void
tcp_try(struct probe *p)
{
	struct conn *c = &p->c;
	const struct sockaddr_storage *sa = &p->addrs[c->addr_i];
	int one = 1;

	if (c->pass == PASS_MAIN)
		snprintf(p->obs.address, sizeof(p->obs.address), "%s",
		    p->atext[c->addr_i]);
	c->fd = socket(
	    sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		if (!local_fail(p, errno))
			conn_fail(p, CKI_ST_TCP, errno, false);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = C_CONNECT;
	if (connect(c->fd, (const struct sockaddr *)sa, p->alen[c->addr_i]) ==
	    0) {
		on_io(c->fd, EV_WRITE, p);
		return;
	}
	if (errno != EINPROGRESS) {
		int e = errno;

		if (c->addr_i + 1 < p->naddr) {
			close(c->fd);
			c->fd = -1;
			c->addr_i++;
			tcp_try(p);
			return;
		}
		conn_fail(p, CKI_ST_TCP, e, false);
		return;
	}
	conn_wait(p, EV_WRITE);
}

static void
tcp_start(struct probe *p)
{
	p->c.addr_i = 0;
	stage_begin(p, CKI_ST_TCP, p->run->cfg->timeout_ms);
	tcp_try(p);
}

static void
quiet_start(struct probe *p)
{
	int ms = p->run->cfg->timeout_ms < QUIET_WAIT_MS
	    ? p->run->cfg->timeout_ms
	    : QUIET_WAIT_MS;

	/* Say nothing and see whether the peer resets anyway. */
	stage_begin(p, CKI_ST_EXTRA, ms);
	p->c.state = C_QUIET;
	conn_wait(p, EV_READ);
}

static void
quiet_io(struct probe *p)
{
	struct conn *c = &p->c;
	struct cki_hs *h = c->hs;
	ssize_t n;

	n = recv(c->fd, h->first, sizeof(h->first), MSG_DONTWAIT);
	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		conn_wait(p, EV_READ);
		return;
	}
	if (n > 0) {
		h->nfirst = (size_t)n;
		h->bytes_in = (size_t)n;
	} else if (n == 0) {
		h->eof = true;
	} else {
		h->err_no = errno;
		h->reset = errno == ECONNRESET || errno == EPIPE;
	}
	stage_end(p, CKI_ST_EXTRA);
	conn_done(p);
}

static void
after_connect(struct probe *p)
{
	if (p->c.pass == PASS_QUIET)
		quiet_start(p);
	else
		tls_start(p);
}

static void
tcp_connected(struct probe *p)
{
	stage_end(p, CKI_ST_TCP);
	if (p->proxy != NULL)
		proxy_start(p);
	else
		after_connect(p);
}

/* ---- proxy CONNECT (RFC 9110 9.3.6) ------------------------------------- */

static void
proxy_start(struct probe *p)
{
	struct conn *c = &p->c;
	const char *target = p->ep->naddrs > 0 ? p->ep->addrs[0] : p->ep->host;
	bool v6 = strchr(target, ':') != NULL;
	int n;

	stage_begin(p, CKI_ST_PROXY, p->run->cfg->timeout_ms);
	n = snprintf(c->buf, sizeof(c->buf),
	    "CONNECT %s%s%s:%u HTTP/1.1\r\nHost: %s%s%s:%u\r\n"
	    "User-Agent: certkit-doctor/%s\r\n%s%s%s\r\n",
	    v6 ? "[" : "", target, v6 ? "]" : "", p->ep->port, v6 ? "[" : "",
	    target, v6 ? "]" : "", p->ep->port, CERTKIT_VERSION,
	    p->proxy->auth != NULL ? "Proxy-Authorization: Basic " : "",
	    p->proxy->auth != NULL ? p->proxy->auth : "",
	    p->proxy->auth != NULL ? "\r\n" : "");
	c->blen = n > 0 && (size_t)n < sizeof(c->buf) ? (size_t)n : 0;
	c->boff = 0;
	c->state = C_PROXY_WRITE;
	on_io(c->fd, EV_WRITE, p);
}

static void
proxy_io(struct probe *p)
{
	struct conn *c = &p->c;
	struct cki_http_head h;
	ssize_t n;
	int rc;

	if (c->state == C_PROXY_WRITE) {
		while (c->boff < c->blen) {
			n = send(c->fd, c->buf + c->boff, c->blen - c->boff,
			    MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 &&
			    (errno == EAGAIN || errno == EWOULDBLOCK)) {
				conn_wait(p, EV_WRITE);
				return;
			}
			if (n <= 0) {
				conn_fail(p, CKI_ST_PROXY, errno, false);
				return;
			}
			c->boff += (size_t)n;
		}
		/* The request held the credentials: wipe it. */
		OPENSSL_cleanse(c->buf, c->blen);
		c->blen = c->boff = 0;
		c->state = C_PROXY_READ;
	}
	for (;;) {
		if (c->blen == sizeof(c->buf)) {
			if (c->pass == PASS_MAIN)
				p->obs.proxy_garbage = true;
			conn_fail(p, CKI_ST_PROXY, 0, false);
			return;
		}
		/* Read only the head: nothing follows a 2xx until we speak. */
		n = recv(c->fd, c->buf + c->blen, sizeof(c->buf) - c->blen, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_wait(p, EV_READ);
			return;
		}
		if (n <= 0) {
			if (n == 0)
				c->hs->eof = true;
			if (c->pass == PASS_MAIN && c->blen > 0 &&
			    cki_doc_parse_http_head(c->buf, c->blen, &h) < 0)
				p->obs.proxy_garbage = true;
			conn_fail(p, CKI_ST_PROXY, n < 0 ? errno : 0, false);
			return;
		}
		c->blen += (size_t)n;
		rc = cki_doc_parse_http_head(c->buf, c->blen, &h);
		if (rc == 0)
			continue;
		if (c->pass == PASS_MAIN) {
			p->obs.proxy_garbage = rc < 0;
			if (rc > 0) {
				size_t ll = strcspn(c->buf, "\r\n");

				p->obs.proxy_status = h.status;
				snprintf(p->obs.proxy_line,
				    sizeof(p->obs.proxy_line), "%.*s",
				    (int)(ll < 127 ? ll : 127), c->buf);
				snprintf(p->obs.proxy_authn,
				    sizeof(p->obs.proxy_authn), "%s",
				    h.proxy_auth);
			}
		}
		if (rc < 0 || h.status < 200 || h.status > 299) {
			conn_fail(p, CKI_ST_PROXY, 0, false);
			return;
		}
		c->blen = 0;
		stage_end(p, CKI_ST_PROXY);
		after_connect(p);
		return;
	}
}

/* ---- TLS ------------------------------------------------------------------
 */

/* After a reset: did the peer's TCP acknowledge any of our bytes? */
static void
record_acked(BIO *b, struct cki_hs *h)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int fd = -1;

	memset(&ti, 0, sizeof(ti));
	if (BIO_get_fd(b, &fd) > 0 && fd >= 0 &&
	    getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
	    len >= offsetof(struct tcp_info, tcpi_bytes_acked) +
	            sizeof(ti.tcpi_bytes_acked))
		h->hello_acked = (long long)ti.tcpi_bytes_acked;
}

/* Records the bytes the peer sends and the errno of a failing call, which
 * SSL_get_error() flattens. */
static long
capture_cb(BIO *b, int oper, const char *argp, size_t len, int argi, long argl,
    int ret, size_t *processed)
{
	struct conn *c = (struct conn *)BIO_get_callback_arg(b);
	struct cki_hs *h = c != NULL ? c->hs : NULL;

	(void)len;
	(void)argi;
	(void)argl;
	if (h == NULL)
		return ret;
	if (oper == (BIO_CB_READ | BIO_CB_RETURN)) {
		if (ret > 0 && processed != NULL && *processed > 0) {
			size_t n = *processed;

			if (h->nfirst < sizeof(h->first)) {
				size_t k = sizeof(h->first) - h->nfirst;

				if (k > n)
					k = n;
				memcpy(h->first + h->nfirst, argp, k);
				h->nfirst += k;
			}
			h->bytes_in += n;
		} else if (!BIO_should_retry(b)) {
			if (errno == ECONNRESET || errno == EPIPE) {
				h->reset = true;
				h->err_no = errno;
				record_acked(b, h);
			} else if (ret == 0) {
				record_acked(b, h);
				h->eof = true;
			} else if (errno != 0 && h->err_no == 0) {
				h->err_no = errno;
			}
		}
	} else if (oper == (BIO_CB_WRITE | BIO_CB_RETURN)) {
		if (ret > 0)
			h->hello_sent = true;
		else if (!BIO_should_retry(b) &&
		    (errno == ECONNRESET || errno == EPIPE)) {
			h->reset = true;
			h->err_no = errno;
			record_acked(b, h);
		}
	}
	return ret;
}

static void
msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
    SSL *ssl, void *arg)
{
	struct conn *c = arg;
	struct cki_hs *h = c->hs;
	const unsigned char *b = buf;

	(void)version;
	if (h == NULL || len == 0)
		return;
	if (content_type == SSL3_RT_ALERT && len >= 2) {
		/* RFC 8446 6: level, description. */
		if (write_p) {
			if (h->alert_out < 0 && b[1] != 0)
				h->alert_out = b[1];
		} else if (b[1] == 0) {
			h->eof = true;
		} else if (h->alert_in < 0) {
			h->alert_in = b[1];
			h->alert_in_level = b[0];
			h->alert_after_hs = SSL_is_init_finished(ssl);
		}
	} else if (content_type == SSL3_RT_HANDSHAKE) {
		if (!write_p && b[0] == SSL3_MT_SERVER_HELLO)
			h->server_hello = true;
		else if (!write_p && b[0] == SSL3_MT_CERTIFICATE_REQUEST)
			h->cert_request = true;
		/* Our Certificate: empty is 7 bytes in TLS 1.2 (RFC 5246
		 * 7.4.6), 8 in TLS 1.3 (RFC 8446 4.4.2). */
		else if (write_p && b[0] == SSL3_MT_CERTIFICATE && len > 8)
			h->cert_sent = true;
	}
}

static SSL_CTX *
legacy_ctx(struct cki_doc_run *r)
{
	if (r->legacy == NULL)
		r->legacy = cki_doc_ssl_ctx(r->cfg->ctx, true);
	return r->legacy;
}

static void
tls_start(struct probe *p)
{
	struct conn *c = &p->c;
	SSL_CTX *ctx = c->pass == PASS_LEGACY ? legacy_ctx(p->run) : p->ssl;
	BIO *bio;

	stage_begin(p, CKI_ST_TLS, p->run->cfg->timeout_ms);
	c->state = C_TLS;
	if (ctx == NULL || (c->ssl = SSL_new(ctx)) == NULL ||
	    (bio = cki_bio_new_socket(c->fd)) == NULL) {
		p->run->nomem = true;
		conn_fail(p, CKI_ST_TLS, 0, false);
		return;
	}
	BIO_set_callback_ex(bio, capture_cb);
	BIO_set_callback_arg(bio, (char *)c);
	SSL_set_bio(c->ssl, bio, bio);
	SSL_set_msg_callback(c->ssl, msg_cb);
	SSL_set_msg_callback_arg(c->ssl, c);
	/* RFC 6066 3: SNI always, but never an IP literal. The no-SNI pass
	 * asks what the server answers to a client that sends none. */
	if (c->pass != PASS_NOSNI && !p->ep->is_ip)
		SSL_set_tlsext_host_name(c->ssl, p->ep->host);
	/* RFC 6066 8: ask for a stapled OCSP response. */
	if (c->pass == PASS_MAIN)
		SSL_set_tlsext_status_type(c->ssl, TLSEXT_STATUSTYPE_ocsp);
	SSL_set_connect_state(c->ssl);
	tls_step(p);
}

static void
tls_fail(struct probe *p, int sslerr)
{
	struct cki_hs *h = p->c.hs;
	unsigned long e = ERR_peek_last_error();

	/* OpenSSL stops at the first 5 bytes of something that is not a
	 * TLS record (RFC 8446 5.1); read a little more of it for the
	 * evidence ("HTTP/1.1 400 Bad Request"). */
	if (h->nfirst > 0 && h->nfirst < sizeof(h->first) &&
	    (h->first[0] < 20 || h->first[0] > 24)) {
		ssize_t n = recv(p->c.fd, h->first + h->nfirst,
		    sizeof(h->first) - h->nfirst, MSG_DONTWAIT);

		if (n > 0) {
			h->nfirst += (size_t)n;
			h->bytes_in += (size_t)n;
		}
	}

	if (e != 0) {
		const char *rs = ERR_reason_error_string(e);

		h->ssl_reason_code =
		    ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
		snprintf(h->ssl_reason, sizeof(h->ssl_reason), "%s",
		    rs != NULL ? rs : "unknown");
		if (h->ssl_reason_code == SSL_R_UNEXPECTED_EOF_WHILE_READING)
			h->eof = true;
	}
	if (sslerr == SSL_ERROR_SYSCALL && h->err_no == 0 && !h->reset)
		h->eof = true;
	conn_fail(p, CKI_ST_TLS, 0, false);
}

static void
tls_done(struct probe *p)
{
	struct conn *c = &p->c;
	struct cki_hs *h = c->hs;
	const unsigned char *alpn = NULL, *ocsp = NULL;
	unsigned int alen = 0;
	long olen;
	STACK_OF(X509) * chain;

	stage_end(p, CKI_ST_TLS);
	h->done = true;
	snprintf(h->version, sizeof(h->version), "%s", SSL_get_version(c->ssl));
	snprintf(h->cipher, sizeof(h->cipher), "%s",
	    SSL_CIPHER_get_name(SSL_get_current_cipher(c->ssl)));
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	if (alen > 0 && alen < sizeof(h->alpn)) {
		memcpy(h->alpn, alpn, alen);
		h->alpn[alen] = '\0';
	}
	/* The client side's chain includes the leaf (SSL_get_peer_cert_chain
	 * (3)). */
	if ((chain = SSL_get_peer_cert_chain(c->ssl)) != NULL)
		h->chain = X509_chain_up_ref(chain);
	if (c->pass == PASS_MAIN &&
	    (olen = SSL_get_tlsext_status_ocsp_resp(c->ssl, &ocsp)) > 0 &&
	    ocsp != NULL && (h->ocsp = malloc((size_t)olen)) != NULL) {
		memcpy(h->ocsp, ocsp, (size_t)olen);
		h->ocsp_len = (size_t)olen;
	}
	if (c->pass != PASS_MAIN) {
		conn_done(p);
		return;
	}
	/* Diagnose while the connection is open: it may want one
	 * application exchange on it. */
	diagnose(p);
}

/* After a TLS call returned r: true if OpenSSL must read or write on the
 * socket first (the step is then re-armed for that event); *e is the
 * SSL_get_error(3) code either way. */
static bool
tls_would_block(struct probe *p, int r, int *e)
{
	*e = SSL_get_error(p->c.ssl, r);
	if (*e == SSL_ERROR_WANT_READ)
		conn_wait(p, EV_READ);
	else if (*e == SSL_ERROR_WANT_WRITE)
		conn_wait(p, EV_WRITE);
	else
		return false;
	return true;
}

static void
tls_step(struct probe *p)
{
	struct conn *c = &p->c;
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_connect(c->ssl);
	if (r == 1) {
		tls_done(p);
		return;
	}
	if (tls_would_block(p, r, &e))
		return;
	tls_fail(p, e);
}

/* ---- the application exchange -------------------------------------------- */

static void app_keep_body(
    struct cki_hs *h, const struct conn *c, const struct cki_http_head *hh);

static void
app_finish(struct probe *p)
{
	struct conn *c = &p->c;
	struct cki_hs *h = c->hs;
	struct cki_http_head hh;

	stage_end(p, CKI_ST_APP);
	if (!h->h2 && c->blen > 0 &&
	    cki_doc_parse_http_head(c->buf, c->blen, &hh) > 0) {
		h->http_status = hh.status;
		snprintf(
		    h->http_reason, sizeof(h->http_reason), "%s", hh.reason);
		if (hh.date[0] != '\0' &&
		    !cki_doc_parse_http_date(hh.date, &h->http_date))
			h->http_date = 0;
		snprintf(h->http_ctype, sizeof(h->http_ctype), "%s",
		    hh.content_type);
		snprintf(h->http_retry_after, sizeof(h->http_retry_after), "%s",
		    hh.retry_after);
		app_keep_body(h, c, &hh);
	}
	conn_done(p);
}

/* The JSON body of a refused or pending client, as far as it came (at
 * most CKI_DOC_MAX_HTTP_BODY bytes; a longer one is cut and will not
 * parse). */
static void
app_keep_body(
    struct cki_hs *h, const struct conn *c, const struct cki_http_head *hh)
{
	size_t n = c->blen - hh->head_len;

	if (!cki_doc_http_wants_body(hh) || n == 0)
		return;
	if (hh->content_length >= 0 && (size_t)hh->content_length < n)
		n = (size_t)hh->content_length;
	if (n > CKI_DOC_MAX_HTTP_BODY)
		n = CKI_DOC_MAX_HTTP_BODY;
	free(h->http_body);
	if ((h->http_body = malloc(n + 1)) == NULL) {
		h->http_body_len = 0;
		return;
	}
	memcpy(h->http_body, c->buf + hh->head_len, n);
	h->http_body[n] = '\0';
	h->http_body_len = n;
}

/* One answer is enough: any h2 frame (the server's SETTINGS), or an HTTP
 * head, and for a JSON refusal its body up to Content-Length (at most
 * CKI_DOC_MAX_HTTP_BODY); without a length, until the end of the
 * connection, the buffer or the stage timer. */
static bool
app_answered(const struct conn *c)
{
	struct cki_http_head hh;
	size_t want;
	int rc;

	if (c->hs->h2)
		return true;
	if ((rc = cki_doc_parse_http_head(c->buf, c->blen, &hh)) == 0)
		return false;
	if (rc < 0 || !cki_doc_http_wants_body(&hh))
		return true;
	if (hh.content_length < 0)
		return false;
	want = hh.content_length > CKI_DOC_MAX_HTTP_BODY
	    ? CKI_DOC_MAX_HTTP_BODY
	    : (size_t)hh.content_length;
	return c->blen >= hh.head_len + want;
}

static void
app_step(struct probe *p)
{
	struct conn *c = &p->c;
	int r, e;

	while (c->state == C_APP_WRITE) {
		size_t n = 0;

		ERR_clear_error();
		r = SSL_write_ex(
		    c->ssl, c->buf + c->boff, c->blen - c->boff, &n);
		if (r == 1) {
			c->boff += n;
			if (c->boff == c->blen) {
				c->state = C_APP_READ;
				c->blen = c->boff = 0;
			}
			continue;
		}
		if (tls_would_block(p, r, &e))
			return;
		app_finish(p);
		return;
	}
	for (;;) {
		size_t n = 0;

		if (c->blen == sizeof(c->buf)) {
			app_finish(p);
			return;
		}
		ERR_clear_error();
		r = SSL_read_ex(
		    c->ssl, c->buf + c->blen, sizeof(c->buf) - c->blen, &n);
		if (r == 1) {
			c->blen += n;
			if (app_answered(c)) {
				app_finish(p);
				return;
			}
			continue;
		}
		if (tls_would_block(p, r, &e))
			return;
		if (e == SSL_ERROR_ZERO_RETURN)
			c->hs->eof = true;
		app_finish(p);
		return;
	}
}

/* ---- events -----------------------------------------------------------------
 */

static void
on_io(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	struct conn *c = &p->c;

	(void)fd;
	(void)what;
	switch (c->state) {
	case C_CONNECT: {
		int err = 0;
		socklen_t el = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err == 0) {
			tcp_connected(p);
			return;
		}
		if (c->addr_i + 1 < p->naddr) {
			conn_close(p);
			c->addr_i++;
			tcp_try(p);
			return;
		}
		conn_fail(p, CKI_ST_TCP, err, false);
		return;
	}
	case C_PROXY_WRITE:
	case C_PROXY_READ: proxy_io(p); return;
	case C_TLS: tls_step(p); return;
	case C_APP_WRITE:
	case C_APP_READ: app_step(p); return;
	case C_QUIET: quiet_io(p); return;
	default: return;
	}
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;
	int stage = p->stage;

	(void)fd;
	(void)what;
	switch (stage) {
	case CKI_ST_DNS:
		udp_close(p);
		if (p->gai != NULL)
			evdns_getaddrinfo_cancel(p->gai);
		p->gai = NULL;
		p->naddr = 0;
		dns_done(p, DNS_ERR_TIMEOUT, true);
		return;
	case CKI_ST_TCP:
		stage_end(p, stage);
		if (p->c.addr_i + 1 < p->naddr) {
			conn_close(p);
			p->c.addr_i++;
			stage_begin(p, CKI_ST_TCP, p->run->cfg->timeout_ms);
			tcp_try(p);
			return;
		}
		conn_fail(p, CKI_ST_TCP, ETIMEDOUT, true);
		return;
	case CKI_ST_PROXY:
	case CKI_ST_TLS:
		stage_end(p, stage);
		conn_fail(p, stage, 0, true);
		return;
	case CKI_ST_APP:
		/* No answer is an answer: the server kept quiet. */
		app_finish(p);
		return;
	case CKI_ST_EXTRA:
		stage_end(p, stage);
		if (p->c.state == C_QUIET) {
			/* The peer waited for the hello: it is alive. */
			p->c.hs->timed_out = true;
			conn_done(p);
			return;
		}
		if (p->hreq != NULL) {
			struct evhttp_request *rq = p->hreq;

			p->hreq = NULL;
			evhttp_cancel_request(rq);
		}
		if (p->hc != NULL) {
			evhttp_connection_free(p->hc);
			p->hc = NULL;
		}
		if (p->obs.naia > 0) {
			struct cki_aia *a = &p->obs.aia[p->obs.naia - 1];

			snprintf(a->result, sizeof(a->result),
			    "no answer "
			    "within %d ms",
			    p->run->cfg->timeout_ms);
		}
		diagnose(p);
		return;
	default: return;
	}
}

/* ---- a connection (main or follow-up) ---------------------------------------
 */

static void
conn_begin(struct probe *p, int pass)
{
	struct conn *c = &p->c;

	conn_close(p);
	c->pass = pass;
	c->hs = pass == PASS_MAIN ? &p->obs.main
	    : pass == PASS_NOSNI  ? &p->obs.nosni
	    : pass == PASS_LEGACY ? &p->obs.legacy
	                          : &p->obs.quiet;
	c->hs->attempted = true;
	c->t0 = cki_mono_ms();
	if (p->naddr == 0) {
		conn_fail(p, CKI_ST_TCP, EHOSTUNREACH, false);
		return;
	}
	tcp_start(p);
}

/* ---- AIA (RFC 5280 4.2.2.1)
 * -------------------------------------------------- */

static int
parse_certs(const unsigned char *buf, size_t len, STACK_OF(X509) * out)
{
	const unsigned char *q = buf;
	X509 *x;
	BIO *bio;
	PKCS7 *p7;
	int n = 0;

	/* A DER certificate, or a "certs-only" PKCS#7 (RFC 5280 4.2.2.1),
	 * or (not standard, but seen) PEM. */
	if ((x = d2i_X509(NULL, &q, (long)len)) != NULL && q == buf + len) {
		if (!sk_X509_push(out, x))
			X509_free(x);
		else
			n++;
		return n;
	}
	X509_free(x);
	q = buf;
	if ((p7 = d2i_PKCS7(NULL, &q, (long)len)) != NULL) {
		if (PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
			for (int i = 0; i < sk_X509_num(p7->d.sign->cert);
			     i++) {
				x = sk_X509_value(p7->d.sign->cert, i);
				if (X509_up_ref(x) && !sk_X509_push(out, x))
					X509_free(x);
				else
					n++;
			}
		PKCS7_free(p7);
		return n;
	}
	if ((bio = BIO_new_mem_buf(buf, (int)len)) == NULL)
		return 0;
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(out, x))
			X509_free(x);
		else
			n++;
	}
	BIO_free(bio);
	ERR_clear_error();
	return n;
}

static void
aia_deferred(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = arg;

	(void)fd;
	(void)what;
	if (p->hc != NULL) {
		evhttp_connection_free(p->hc);
		p->hc = NULL;
	}
	if (p->active)
		diagnose(p);
}

static void
aia_cb(struct evhttp_request *req, void *arg)
{
	struct probe *p = arg;
	struct cki_aia *a = &p->obs.aia[p->obs.naia - 1];
	struct timeval zero = {0, 0};
	int code;

	if (p->hreq == NULL)
		return; /* cancelled by the timer */
	p->hreq = NULL;
	stage_end(p, CKI_ST_EXTRA);
	code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		snprintf(a->result, sizeof(a->result),
		    "no HTTP answer "
		    "(connection failed)");
	} else if (code != 200) {
		snprintf(a->result, sizeof(a->result), "HTTP %d", code);
	} else {
		struct evbuffer *b = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(b);
		unsigned char *data = evbuffer_pullup(b, -1);
		int n;

		if (p->obs.fetched == NULL)
			p->obs.fetched = sk_X509_new_null();
		n = data != NULL && p->obs.fetched != NULL
		    ? parse_certs(data, len, p->obs.fetched)
		    : 0;
		if (n > 0) {
			a->ok = true;
			snprintf(a->result, sizeof(a->result),
			    "ok: %d "
			    "certificate%s",
			    n, n == 1 ? "" : "s");
		} else {
			snprintf(a->result, sizeof(a->result),
			    "HTTP 200, but "
			    "%zu bytes that are not a certificate",
			    len);
		}
	}
	/* The connection cannot be freed inside its own callback. */
	if (p->defer == NULL)
		p->defer = evtimer_new(p->run->base, aia_deferred, p);
	if (p->defer == NULL || evtimer_add(p->defer, &zero) != 0)
		aia_deferred(-1, 0, p);
}

static void
aia_start(struct probe *p, const char *url)
{
	struct cki_aia *a = &p->obs.aia[p->obs.naia++];
	struct evhttp_uri *u = NULL;
	const char *host, *path;
	char target[1024];
	int port, secs;

	snprintf(a->url, sizeof(a->url), "%s", url);
	snprintf(a->result, sizeof(a->result), "not fetched");
	stage_begin(p, CKI_ST_EXTRA, p->run->cfg->timeout_ms);
	if ((u = evhttp_uri_parse(url)) == NULL ||
	    (host = evhttp_uri_get_host(u)) == NULL) {
		snprintf(a->result, sizeof(a->result), "not a valid URL");
		goto fail;
	}
	port = evhttp_uri_get_port(u);
	path = evhttp_uri_get_path(u);
	snprintf(target, sizeof(target), "%s%s%s", path && *path ? path : "/",
	    evhttp_uri_get_query(u) ? "?" : "",
	    evhttp_uri_get_query(u) ? evhttp_uri_get_query(u) : "");
	if (!ensure_dns(p->run)) {
		snprintf(a->result, sizeof(a->result), "no resolver");
		goto fail;
	}
	p->hc = evhttp_connection_base_new(p->run->base, p->run->dns, host,
	    (unsigned short)(port > 0 ? port : 80));
	if (p->hc == NULL) {
		snprintf(a->result, sizeof(a->result), "cannot connect");
		goto fail;
	}
	secs = (p->run->cfg->timeout_ms + 999) / 1000;
	evhttp_connection_set_timeout(p->hc, secs);
	evhttp_connection_set_retries(p->hc, 0);
	evhttp_connection_set_max_body_size(p->hc, CKI_DOC_MAX_AIA_BODY);
	if ((p->hreq = evhttp_request_new(aia_cb, p)) == NULL) {
		snprintf(a->result, sizeof(a->result), "out of memory");
		goto fail;
	}
	evhttp_add_header(
	    evhttp_request_get_output_headers(p->hreq), "Host", host);
	evhttp_add_header(evhttp_request_get_output_headers(p->hreq),
	    "User-Agent", "certkit-doctor/" CERTKIT_VERSION);
	if (evhttp_make_request(p->hc, p->hreq, EVHTTP_REQ_GET, target) != 0) {
		/* evhttp_make_request frees the request on failure. */
		p->hreq = NULL;
		snprintf(a->result, sizeof(a->result), "request failed");
		goto fail;
	}
	evhttp_uri_free(u);
	return;
fail:
	evhttp_uri_free(u);
	stage_end(p, CKI_ST_EXTRA);
	if (p->hc != NULL) {
		evhttp_connection_free(p->hc);
		p->hc = NULL;
	}
	diagnose(p);
}

/* ---- the run
 * --------------------------------------------------------------------- */

static void
probe_start(struct probe *p)
{
	struct cki_doc_run *r = p->run;
	const struct cki_doc_cfg *cfg = r->cfg;
	const struct cki_endpoint *ep = p->ep;
	char why[256];

	cki_obs_init(&p->obs);
	p->c.fd = -1;
	p->active = true;
	r->inflight++;
	p->ssl = cfg->ep_ssl != NULL && cfg->ep_ssl[p->idx] != NULL
	    ? cfg->ep_ssl[p->idx]
	    : cfg->ssl;
	p->obs.have_client_cert =
	    cfg->ep_ssl != NULL && cfg->ep_ssl[p->idx] != NULL;
	if ((p->timer = evtimer_new(r->base, on_timer, p)) == NULL) {
		r->nomem = true;
		probe_finish(p, NULL);
		return;
	}
	/* The proxy: the endpoint's own, else the run's (an environment
	 * proxy honours NO_PROXY; an explicit one applies to all). */
	if (ep->proxy != NULL) {
		if (ep->proxy[0] != '\0' &&
		    cki_net_parse_proxy(
		        ep->proxy, &p->own_proxy, why, sizeof(why)))
			p->proxy = &p->own_proxy;
	} else if (cfg->proxy != NULL &&
	    !(cfg->proxy_from_env &&
	        cki_net_no_proxy_match(cfg->no_proxy, ep->host, ep->port))) {
		p->proxy = cfg->proxy;
	}
	p->obs.via_proxy = p->proxy != NULL;
	p->obs.proxy = p->proxy;
	p->c.pass = PASS_MAIN;
	p->c.hs = &p->obs.main;
	p->c.hs->attempted = true;
	if (p->proxy != NULL) {
		if (p->proxy->is_ip) {
			add_addr(p, p->proxy->host, p->proxy->port);
		} else {
			p->obs.dns_for_proxy = true;
			dns_start(p, p->proxy->host);
			return;
		}
	} else if (ep->naddrs > 0) {
		for (size_t i = 0; i < ep->naddrs; i++)
			add_addr(p, ep->addrs[i], ep->port);
	} else if (ep->is_ip) {
		add_addr(p, ep->host, ep->port);
	} else if (strcasecmp(ep->host, "localhost") == 0 ||
	    strcasecmp(ep->host, "localhost.") == 0) {
		/* RFC 6761 6.3: localhost is loopback, without DNS. */
		add_addr(p, "127.0.0.1", ep->port);
		add_addr(p, "::1", ep->port);
	} else {
		dns_start(p, ep->host);
		return;
	}
	conn_begin(p, PASS_MAIN);
}

static void
launch(struct cki_doc_run *r)
{
	r->launching = true;
	/* Probes are a pool of cfg->parallel slots, reused: memory does not
	 * grow with the number of endpoints. */
	for (size_t slot = 0; slot < r->nslots && r->next < r->cfg->nep &&
	     r->local_errno == 0;) {
		struct probe *p = &r->p[slot];

		if (p->active) {
			slot++;
			continue;
		}
		/* A probe that ends at once (a refused connect) leaves its
		 * slot free, and the same slot takes the next endpoint. */
		memset(p, 0, sizeof(*p));
		p->c.fd = -1;
		p->dfd = -1;
		p->run = r;
		p->ep = &r->cfg->eps[r->next];
		p->idx = r->next;
		r->next++;
		probe_start(p);
	}
	r->launching = false;
	if (r->done == r->cfg->nep || r->local_errno != 0)
		event_base_loopexit(r->base, NULL);
}

/* Descriptors kept free for what the run needs besides one socket per
 * endpoint in flight: the event loop and its signal pair, the resolver's
 * sockets, files the caller opens meanwhile. */
#define FD_RESERVE 16
/* Fewer free than this and libevent cannot even start (it exits the
 * process when its signal socketpair fails). */
#define FD_MIN 8

/* The descriptor limit and how many are open now (Linux /proc; else a
 * guess of FD_RESERVE). False when there is no limit. */
static bool
fd_usage(long *limit, long *open)
{
	struct rlimit rl;
	DIR *d;
	struct dirent *e;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 ||
	    rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (rlim_t)LONG_MAX)
		return false;
	*limit = (long)rl.rlim_cur;
	*open = FD_RESERVE;
	if ((d = opendir("/proc/self/fd")) == NULL)
		return true;
	*open = -1; /* the directory's own descriptor */
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			(*open)++;
	closedir(d);
	return true;
}

int
cki_doc_fd_parallel(int parallel)
{
	long limit, open, room;

	/* Each endpoint in flight holds at most one socket at a time (TCP,
	 * or the --dns query, or the AIA fetch: one after the other). */
	if (!fd_usage(&limit, &open))
		return parallel;
	room = limit - open - FD_RESERVE;
	if (room < 1)
		room = 1;
	return room < parallel ? (int)room : parallel;
}

/* A local EMFILE/ENFILE: its own error, naming the limit and the fix. */
static ck_status
local_error(const struct cki_doc_cfg *cfg, const struct cki_doc_run *r)
{
	long limit = 0, open = 0;
	char lim[64] = "";

	if (fd_usage(&limit, &open))
		snprintf(lim, sizeof(lim), ", limit %ld", limit);
	if (r->local_errno == ENFILE)
		return cki_err(cfg->ctx, CK_E_IO,
		    "cannot open a socket for %s: the system is out of file "
		    "descriptors (ENFILE): a local limit, not a finding about "
		    "the server; retry when fewer files are open",
		    r->local_ep);
	return cki_err(cfg->ctx, CK_E_IO,
	    "cannot open a socket for %s: too many open files in this "
	    "process (EMFILE%s): a local limit, not a finding about the "
	    "server; lower the parallel setting or raise ulimit -n",
	    r->local_ep, lim);
}

static ck_status
fd_precheck(const struct cki_doc_cfg *cfg)
{
	long limit, open;

	if (fd_usage(&limit, &open) && limit - open < FD_MIN)
		return cki_err(cfg->ctx, CK_E_IO,
		    "only %ld file descriptors are free (limit %ld, %ld "
		    "open): the doctor needs at least %d; raise ulimit -n",
		    limit - open < 0 ? 0 : limit - open, limit, open, FD_MIN);
	return CK_OK;
}

/* libevent writes the AIA request (evhttp) with writev(2), which takes no
 * MSG_NOSIGNAL (the TLS connections use sockbio.c): SIGPIPE is blocked in
 * this thread while the loop runs, and one that a write raised meanwhile
 * (sent to the writing thread) is taken off before the mask returns. */
static void
sigpipe_hold(sigset_t *old, bool *was_pending)
{
	sigset_t pipe, now;

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	*was_pending = sigpending(&now) == 0 && sigismember(&now, SIGPIPE) == 1;
	pthread_sigmask(SIG_BLOCK, &pipe, old);
}

static void
sigpipe_release(const sigset_t *old, bool was_pending)
{
	sigset_t pipe;
	struct timespec zero = {0, 0};

	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	if (!was_pending)
		(void)sigtimedwait(&pipe, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

ck_status
cki_doc_probe_all(
    const struct cki_doc_cfg *cfg, char **results, struct cki_doc_meta *meta)
{
	struct cki_doc_run r;
	struct event_config *ecfg;
	sigset_t oldmask;
	bool was_pending;
	ck_status rv = CK_E_NOMEM;

	memset(&r, 0, sizeof(r));
	r.cfg = cfg;
	r.results = results;
	r.meta = meta;
	if (cfg->nep == 0)
		return CK_OK;
	r.nslots =
	    (size_t)cfg->parallel < cfg->nep ? (size_t)cfg->parallel : cfg->nep;
	if ((r.p = calloc(r.nslots, sizeof(*r.p))) == NULL)
		return cki_err(cfg->ctx, CK_E_NOMEM, "out of memory");
	for (size_t i = 0; i < r.nslots; i++) {
		r.p[i].c.fd = -1;
		r.p[i].dfd = -1;
	}
	if ((rv = fd_precheck(cfg)) != CK_OK)
		goto out;
	/* The changelist folds the delete-and-add of a one-shot event that
	 * is re-armed in its own callback into nothing: no epoll_ctl per
	 * wait (libevent's EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST; no fd is
	 * ever dup()ed here, which is its one caveat). */
	if ((ecfg = event_config_new()) != NULL) {
		event_config_set_flag(
		    ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
		r.base = event_base_new_with_config(ecfg);
		event_config_free(ecfg);
	}
	if (r.base == NULL) {
		rv = cki_err(cfg->ctx, CK_E_INTERNAL,
		    "libevent: cannot create "
		    "an event loop");
		goto out;
	}
	sigpipe_hold(&oldmask, &was_pending);
	launch(&r);
	while (r.done < cfg->nep && r.local_errno == 0) {
		if (event_base_dispatch(r.base) < 0)
			break;
		if (r.done < cfg->nep && r.inflight == 0 && r.next >= cfg->nep)
			break;
		if (r.done < cfg->nep &&
		    event_base_get_num_events(r.base, EVENT_BASE_COUNT_ADDED) ==
		        0)
			break;
	}
	sigpipe_release(&oldmask, was_pending);
	if (r.local_errno != 0) {
		rv = local_error(cfg, &r);
		goto out;
	}
	if (r.done < cfg->nep) {
		rv = cki_err(cfg->ctx, CK_E_INTERNAL,
		    "the event loop stopped "
		    "with %zu of %zu endpoints unfinished",
		    cfg->nep - r.done, cfg->nep);
		goto out;
	}
	if (r.nomem) {
		rv = cki_err(cfg->ctx, CK_E_NOMEM,
		    "out of memory while "
		    "testing the endpoints");
		goto out;
	}
	rv = CK_OK;
out:
	for (size_t i = 0; i < r.nslots; i++)
		if (r.p[i].active) {
			r.p[i].active = false;
			probe_free(&r.p[i]);
		}
	if (r.dns != NULL)
		evdns_base_free(r.dns, 0);
	SSL_CTX_free(r.legacy);
	if (r.base != NULL)
		event_base_free(r.base);
	free(r.p);
	return rv;
}

/* ---- the client context
 * --------------------------------------------------------- */

SSL_CTX *
cki_doc_ssl_ctx(ck_ctx *ctx, bool legacy)
{
	/* RFC 7301: offer h2 and http/1.1, as browsers and devices do. */
	static const unsigned char alpn[] = "\x02h2\x08http/1.1";
	SSL_CTX *s = SSL_CTX_new(TLS_client_method());

	if (s == NULL) {
		cki_err(ctx, CK_E_INTERNAL,
		    "OpenSSL: cannot create a TLS "
		    "client context: %s",
		    cki_ossl_reason());
		return NULL;
	}
	/* Invariant 3: OpenSSL never aborts the handshake over the chain;
	 * doctor_diag.c judges it with the device's store. Security level
	 * 0 lets a weak key or signature through to be diagnosed. */
	SSL_CTX_set_verify(s, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_security_level(s, 0);
	SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_alpn_protos(s, alpn, sizeof(alpn) - 1);
	if (legacy) {
		/* Only to name what an old server speaks (RFC 8996 forbids
		 * using it). */
		SSL_CTX_set_min_proto_version(s, TLS1_VERSION);
		SSL_CTX_set_cipher_list(s, "ALL:COMPLEMENTOFALL:@SECLEVEL=0");
	} else {
		/* What a current device offers (RFC 9325 3.1.1). */
		SSL_CTX_set_min_proto_version(s, TLS1_2_VERSION);
	}
	ERR_clear_error();
	return s;
}
