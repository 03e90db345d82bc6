/*
 * mtls_load.c: a load generator for mutual-TLS HTTP/1.1 servers (nginx with
 * ssl_verify_client on, certkit serve, bench/trivial_tls.c), on libevent
 * and bufferevent_openssl. TLS 1.3 only, a client certificate on every
 * connection.
 *
 *   mtls_load -p PORT -C CERT -K KEY [options]
 *     -m full|resume|hold  full: connect, full handshake, -q requests,
 *                          close, again; resume: the same with the
 *                          previous connection's session (a TLS 1.3
 *                          ticket: read with the first answer); hold:
 *                          open -c connections, one request each, keep
 *                          them (idle), then heartbeats every -i seconds
 *                          for -t seconds when -i is given
 *     -c N         connections in flight (default 16)
 *     -t SECONDS   measuring window (default 5), after -w SECONDS warm-up
 *     -n TOTAL     instead of -t: stop after TOTAL connections (full)
 *     -q N         requests per connection (default 1)
 *     -u PATH      request path (default /api/v1/status); hold mode's
 *                  heartbeats POST /api/v1/heartbeat (-U to change)
 *     -G CA:KEY    a fresh P-256 key and certificate signed by CA for each
 *                  connection (-N of them, made before the run): unknown
 *                  clients; "-G self" makes them self-signed
 *     -P PID       the server's process: its CPU (utime+stime from
 *                  /proc/PID/stat) over the window, and in hold mode its
 *                  RSS growth per connection (VmRSS)
 *     -s NAME      SNI (default localhost); -h ADDRESS (default 127.0.0.1)
 *
 * Prints one line of key=value on stdout: the window, connections and
 * handshakes (resumed among them), requests, their HTTP statuses, errors,
 * the rate, p50/p99 of connection latency (connect to the first answer,
 * handshake included) and request latency (request to answer), the
 * server's CPU per handshake or per request, and this process's own CPU
 * per handshake (its limit: a core gives at most 1000/gen_cpu_ms_per_conn
 * handshakes a second). Progress and errors on stderr. Every wait is
 * bounded: the run ends at the window's end, or -n, or after 120 s.
 *
 * Built by bench/serve.sh: cc -O2 mtls_load.c -levent_openssl -levent
 * -lssl -lcrypto.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define MAX_LAT 4000000 /* samples kept per kind */
#define HARD_LIMIT_S 120
#define MAX_HEAD 65536

enum { M_FULL, M_RESUME, M_HOLD };

struct opts {
	const char *host, *sni, *cert, *key, *gen, *path, *hb_path;
	int port, conc, mode, reqs, nkeys, pid;
	double secs, warmup, interval;
	long total;
};

struct ident {
	X509 *cert;
	EVP_PKEY *key;
};

struct lat {
	uint32_t *v; /* microseconds */
	size_t n, cap;
};

struct run;

struct slot {
	struct run *r;
	struct bufferevent *bev;
	SSL_SESSION *sess;
	struct event *hb;
	int64_t t_conn, t_req;
	int nreq;
	size_t need;
	int status;  /* of the answer being read */
	int64_t due; /* a heartbeat fell due while an answer was awaited */
	bool in_head, first, close_after, active, busy;
};

struct snap {
	int64_t t_us;
	long server_ticks;
	double self_ms;
};

struct run {
	struct opts o;
	struct event_base *base;
	SSL_CTX *ctx;
	struct sockaddr_in sa;
	struct slot *s;
	struct ident *ids;
	int nids, next_id;
	bool measuring, stopping;
	long started, conns, resumed, reqs, st2xx, st202, st4xx, st5xx, errs;
	long up, dropped, active;
	long rss_base, rss_held;
	struct lat clat, rlat;
	struct snap a, b;
	char body[256];
};

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
lat_add(struct lat *l, int64_t us)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 4096;
		uint32_t *v;

		if (cap > MAX_LAT ||
		    (v = realloc(l->v, cap * sizeof(*v))) == NULL)
			return;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static double
lat_pct(struct lat *l, double p)
{
	if (l->n == 0)
		return 0;
	qsort(l->v, l->n, sizeof(*l->v), cmp_u32);
	return l->v[(size_t)(p * (double)(l->n - 1))] / 1000.0;
}

/* ---- the server's CPU and memory ----------------------------------------- */

static long
server_ticks(int pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;
	size_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* proc(5): the command is in parentheses and may hold spaces; utime
	 * and stime are fields 14 and 15, the 12th and 13th after it. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	        &ut, &st) != 2)
		return 0;
	return (long)(ut + st);
}

static long
server_rss_kib(int pid)
{
	char path[64], line[256];
	long kib = 0;
	FILE *f;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmRSS: %ld", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

static void
take_snap(struct run *r, struct snap *s)
{
	struct rusage ru;

	s->t_us = now_us();
	s->server_ticks = server_ticks(r->o.pid);
	getrusage(RUSAGE_SELF, &ru);
	s->self_ms = ru.ru_utime.tv_sec * 1000.0 +
	    ru.ru_utime.tv_usec / 1000.0 + ru.ru_stime.tv_sec * 1000.0 +
	    ru.ru_stime.tv_usec / 1000.0;
}

/* ---- identities ------------------------------------------------------------
 */

static bool
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;
	bool ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return false;
	ok = X509_add_ext(x, e, -1) == 1;
	X509_EXTENSION_free(e);
	return ok;
}

/* A fresh P-256 key and a client certificate for it, signed by ca/cakey
 * (self-signed when ca is NULL). */
static bool
make_ident(struct ident *id, int i, X509 *ca, EVP_PKEY *cakey)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	char cn[64];
	bool ok;

	id->key = EVP_EC_gen("P-256");
	snprintf(cn, sizeof(cn), "bench-unknown-%d-%d", (int)getpid(), i);
	ok = x != NULL && n != NULL && id->key != NULL &&
	    X509_set_version(x, 2) &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1000000 + i) &&
	    X509_NAME_add_entry_by_txt(
	        n, "CN", MBSTRING_ASC, (unsigned char *)cn, -1, -1, 0) &&
	    X509_set_subject_name(x, n) &&
	    X509_set_issuer_name(
	        x, ca != NULL ? X509_get_subject_name(ca) : n) &&
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
	    X509_set_pubkey(x, id->key) &&
	    add_ext(
	        x, ca != NULL ? ca : x, NID_basic_constraints, "CA:FALSE") &&
	    add_ext(x, ca != NULL ? ca : x, NID_key_usage,
	        "critical,digitalSignature") &&
	    add_ext(x, ca != NULL ? ca : x, NID_ext_key_usage, "clientAuth") &&
	    X509_sign(x, ca != NULL ? cakey : id->key, EVP_sha256()) > 0;
	X509_NAME_free(n);
	if (!ok)
		X509_free(x);
	id->cert = ok ? x : NULL;
	return ok;
}

static bool
make_idents(struct run *r)
{
	X509 *ca = NULL;
	EVP_PKEY *cakey = NULL;
	char *spec = NULL, *colon;
	FILE *f;
	bool ok = true;

	if (strcmp(r->o.gen, "self") != 0) {
		spec = strdup(r->o.gen);
		if (spec == NULL || (colon = strchr(spec, ':')) == NULL) {
			fprintf(stderr, "mtls_load: -G wants CA:KEY or self\n");
			free(spec);
			return false;
		}
		*colon = '\0';
		if ((f = fopen(spec, "r")) != NULL) {
			ca = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
		if ((f = fopen(colon + 1, "r")) != NULL) {
			cakey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
			fclose(f);
		}
		if (ca == NULL || cakey == NULL) {
			fprintf(stderr, "mtls_load: cannot read %s or %s\n",
			    spec, colon + 1);
			ok = false;
		}
	}
	if (ok &&
	    (r->ids = calloc((size_t)r->o.nkeys, sizeof(*r->ids))) == NULL)
		ok = false;
	for (int i = 0; ok && i < r->o.nkeys; i++, r->nids++)
		ok = make_ident(&r->ids[i], i, ca, cakey);
	X509_free(ca);
	EVP_PKEY_free(cakey);
	free(spec);
	return ok;
}

/* ---- connections ------------------------------------------------------------
 */

static void slot_start(struct slot *s);
static void send_request(struct slot *s, bool heartbeat);

static void
restart_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	slot_start(arg);
}

static void
check_done(struct run *r)
{
	if (r->active == 0)
		event_base_loopbreak(r->base);
}

/* The connection is over: free it, and in full/resume mode start the next
 * one from the event loop (never recursively). */
static void
slot_end(struct slot *s, bool error)
{
	struct run *r = s->r;
	struct timeval zero = {0, 0};

	if (error && r->measuring && !r->stopping)
		r->errs++;
	if (s->bev != NULL) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

		if (!error) {
			/* A close_notify, as a client does; without it
			 * SSL_free marks the session not resumable. */
			(void)SSL_shutdown(ssl);
			ERR_clear_error();
		}
		if (r->o.mode == M_RESUME && !error) {
			SSL_SESSION_free(s->sess);
			s->sess = SSL_get1_session(ssl);
		}
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->hb != NULL)
		evtimer_del(s->hb);
	if (r->o.mode == M_HOLD) {
		if (s->active)
			r->dropped++;
		s->active = false;
		r->active--;
		check_done(r);
		return;
	}
	if (event_base_once(r->base, -1, EV_TIMEOUT, restart_cb, s, &zero) !=
	    0) {
		s->active = false;
		r->active--;
		check_done(r);
	}
}

static void
on_answer(struct slot *s, int status)
{
	struct run *r = s->r;
	int64_t t = now_us();
	bool count = r->measuring && !r->stopping;

	if (count) {
		r->reqs++;
		if (status == 202)
			r->st202++;
		else if (status >= 200 && status < 300)
			r->st2xx++;
		else if (status >= 400 && status < 500)
			r->st4xx++;
		else
			r->st5xx++;
		lat_add(&r->rlat, t - s->t_req);
		if (s->first)
			lat_add(&r->clat, t - s->t_conn);
	}
	if (s->first && r->o.mode == M_HOLD)
		r->up++;
	s->first = false;
	s->busy = false;
	s->nreq++;
	if (r->o.mode == M_HOLD) {
		/* A heartbeat that fell due meanwhile goes now, its latency
		 * counted from when it was due (no coordinated omission). */
		if (s->due != 0) {
			send_request(s, true);
			s->t_req = s->due;
			s->due = 0;
		}
		return; /* idle until the next heartbeat */
	}
	if (s->nreq < r->o.reqs && !s->close_after)
		send_request(s, false);
	else
		slot_end(s, false);
}

/* Parses the status and Content-Length of a complete head. */
static int
parse_head(struct slot *s, const char *h, size_t len)
{
	int status = 0;

	s->need = 0;
	s->close_after = false;
	if (len < 12 || sscanf(h, "HTTP/%*d.%*d %d", &status) != 1)
		return -1;
	for (const char *p = h; p != NULL && p < h + len;
	     p = memchr(p, '\n', (size_t)(h + len - p))) {
		p += *p == '\n';
		if (strncasecmp(p, "Content-Length:", 15) == 0)
			s->need = strtoul(p + 15, NULL, 10);
		else if (strncasecmp(p, "Connection:", 11) == 0 &&
		    strncasecmp(p + 11, " close", 6) == 0)
			s->close_after = true;
	}
	return status;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct slot *s = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		if (s->in_head) {
			struct evbuffer_ptr e =
			    evbuffer_search(in, "\r\n\r\n", 4, NULL);
			size_t hl;

			if (e.pos < 0) {
				if (evbuffer_get_length(in) > MAX_HEAD)
					slot_end(s, true);
				return;
			}
			hl = (size_t)e.pos + 4;
			s->status = parse_head(
			    s, (char *)evbuffer_pullup(in, (ssize_t)hl), hl);
			evbuffer_drain(in, hl);
			if (s->status < 0) {
				slot_end(s, true);
				return;
			}
			s->in_head = false;
		}
		if (evbuffer_get_length(in) < s->need) {
			s->need -= evbuffer_get_length(in);
			evbuffer_drain(in, evbuffer_get_length(in));
			return;
		}
		evbuffer_drain(in, s->need);
		s->need = 0;
		s->in_head = true;
		on_answer(s, s->status);
		/* The slot may have moved on (a new connection). */
		if (s->bev != bev || evbuffer_get_length(in) == 0)
			return;
	}
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct slot *s = arg;
	struct run *r = s->r;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		if (r->measuring && !r->stopping) {
			r->conns++;
			if (SSL_session_reused(
			        bufferevent_openssl_get_ssl(bev)))
				r->resumed++;
		}
		send_request(s, false);
		return;
	}
	/* We end a connection ourselves after its last answer: an error
	 * or a close before that is an error (in hold mode, a drop). */
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF))
		slot_end(s, true);
}

static void
send_request(struct slot *s, bool heartbeat)
{
	struct run *r = s->r;
	const char *body = heartbeat ? r->body : "";

	s->t_req = now_us();
	s->in_head = true;
	s->busy = true;
	evbuffer_add_printf(bufferevent_get_output(s->bev),
	    "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mtls_load\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    heartbeat ? "POST" : "GET", heartbeat ? r->o.hb_path : r->o.path,
	    r->o.sni, strlen(body), body);
}

static void
hb_cb(evutil_socket_t fd, short what, void *arg)
{
	struct slot *s = arg;
	struct timeval tv;

	(void)fd;
	(void)what;
	if (s->bev == NULL || s->r->stopping)
		return;
	/* One request at a time on a connection: a heartbeat due while an
	 * answer is awaited waits for it. */
	if (s->busy) {
		if (s->due == 0)
			s->due = now_us();
	} else {
		send_request(s, true);
	}
	tv.tv_sec = (long)s->r->o.interval;
	tv.tv_usec = (long)((s->r->o.interval - (double)tv.tv_sec) * 1e6);
	evtimer_add(s->hb, &tv);
}

static void
slot_start(struct slot *s)
{
	struct run *r = s->r;
	int one = 1;
	SSL *ssl;

	if (r->stopping || (r->o.total > 0 && r->started >= r->o.total)) {
		s->active = false;
		r->active--;
		check_done(r);
		return;
	}
	r->started++;
	s->nreq = 0;
	s->due = 0;
	s->busy = false;
	s->first = s->in_head = true;
	if ((ssl = SSL_new(r->ctx)) == NULL)
		goto fail;
	SSL_set_tlsext_host_name(ssl, r->o.sni);
	if (r->nids > 0) {
		struct ident *id = &r->ids[r->next_id++ % r->nids];

		SSL_use_certificate(ssl, id->cert);
		SSL_use_PrivateKey(ssl, id->key);
	}
	if (r->o.mode == M_RESUME && s->sess != NULL)
		SSL_set_session(ssl, s->sess);
	s->bev = bufferevent_openssl_socket_new(r->base, -1, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		SSL_free(ssl);
		goto fail;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
	bufferevent_setcb(s->bev, read_cb, NULL, event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->t_conn = now_us();
	if (bufferevent_socket_connect(
	        s->bev, (struct sockaddr *)&r->sa, sizeof(r->sa)) != 0)
		goto fail;
	/* No Nagle: the request follows the client's Finished at once,
	 * instead of waiting for a delayed ACK (40 ms on Linux). */
	(void)setsockopt(bufferevent_getfd(s->bev), IPPROTO_TCP, TCP_NODELAY,
	    &one, sizeof(one));
	return;
fail:
	fprintf(stderr, "mtls_load: cannot start a connection: %s\n",
	    strerror(errno));
	slot_end(s, true);
}

/* ---- the run
 * ----------------------------------------------------------------- */

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	take_snap(r, &r->b);
	r->stopping = true;
	event_base_loopbreak(r->base);
}

static void
measure_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	struct timeval tv;

	(void)fd;
	(void)what;
	take_snap(r, &r->a);
	r->measuring = true;
	if (r->o.total > 0)
		return;
	tv.tv_sec = (long)r->o.secs;
	tv.tv_usec = (long)((r->o.secs - (double)tv.tv_sec) * 1e6);
	event_base_once(r->base, -1, EV_TIMEOUT, stop_cb, r, &tv);
}

static SSL_CTX *
make_ctx(const struct opts *o)
{
	SSL_CTX *c = SSL_CTX_new(TLS_client_method());

	if (c == NULL)
		return NULL;
	SSL_CTX_set_min_proto_version(c, TLS1_3_VERSION);
	SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
	/* The generator does not judge the server: its cost stays low. */
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_CLIENT);
	if (o->mode != M_RESUME)
		SSL_CTX_set_options(c, SSL_OP_NO_TICKET);
	if (o->gen == NULL &&
	    (SSL_CTX_use_certificate_chain_file(c, o->cert) != 1 ||
	        SSL_CTX_use_PrivateKey_file(c, o->key, SSL_FILETYPE_PEM) !=
	            1)) {
		fprintf(stderr, "mtls_load: cannot load %s / %s\n", o->cert,
		    o->key);
		SSL_CTX_free(c);
		return NULL;
	}
	return c;
}

static void
report(struct run *r)
{
	double secs = (double)(r->b.t_us - r->a.t_us) / 1e6;
	double tck = (double)sysconf(_SC_CLK_TCK);
	double srv_ms =
	    (double)(r->b.server_ticks - r->a.server_ticks) * 1000.0 / tck;
	double self_ms = r->b.self_ms - r->a.self_ms;
	long per = r->o.mode == M_HOLD ? r->reqs : r->conns;

	printf("mode=%s conc=%d secs=%.2f conns=%ld resumed=%ld reqs=%ld "
	       "s2xx=%ld s202=%ld s4xx=%ld s5xx=%ld errors=%ld "
	       "conn_rate=%.1f req_rate=%.1f conn_p50_ms=%.2f conn_p99_ms=%.2f "
	       "req_p50_ms=%.2f req_p99_ms=%.2f server_cpu_ms=%.0f "
	       "server_cpu_pct=%.2f server_cpu_ms_per=%.4f gen_cpu_ms_per=%.4f "
	       "up=%ld dropped=%ld rss_base_kib=%ld rss_held_kib=%ld "
	       "rss_per_conn_kib=%.2f\n",
	    r->o.mode == M_FULL         ? "full"
	        : r->o.mode == M_RESUME ? "resume"
	                                : "hold",
	    r->o.conc, secs, r->conns, r->resumed, r->reqs, r->st2xx, r->st202,
	    r->st4xx, r->st5xx, r->errs, secs > 0 ? r->conns / secs : 0,
	    secs > 0 ? r->reqs / secs : 0, lat_pct(&r->clat, 0.5),
	    lat_pct(&r->clat, 0.99), lat_pct(&r->rlat, 0.5),
	    lat_pct(&r->rlat, 0.99), srv_ms,
	    secs > 0 ? srv_ms / (secs * 10.0) : 0, per > 0 ? srv_ms / per : 0,
	    per > 0 ? self_ms / per : 0, r->up, r->dropped, r->rss_base,
	    r->rss_held,
	    r->up > 0 ? (double)(r->rss_held - r->rss_base) / r->up : 0);
}

/* ---- hold mode: many idle connections, then heartbeats ------------------- */

static void
held_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;

	(void)fd;
	(void)what;
	r->rss_held = server_rss_kib(r->o.pid);
	fprintf(stderr, "mtls_load: %ld connections held, server RSS %ld KiB\n",
	    r->up, r->rss_held);
	if (r->o.interval <= 0) {
		take_snap(r, &r->a);
		r->b = r->a;
		r->stopping = true;
		event_base_loopbreak(r->base);
		return;
	}
	/* Each connection's first heartbeat at a random point of the
	 * interval, then every interval. */
	for (int i = 0; i < r->o.conc; i++) {
		struct slot *s = &r->s[i];
		double d = r->o.interval * (double)random() / (double)RAND_MAX;
		struct timeval tv = {(long)d, (long)((d - (long)d) * 1e6)};

		if (s->bev == NULL)
			continue;
		if ((s->hb = evtimer_new(r->base, hb_cb, s)) != NULL)
			evtimer_add(s->hb, &tv);
	}
	measure_cb(-1, 0, r);
}

static void
ramp_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	struct timeval tv = {0, 10000}, settle = {1, 0};

	(void)fd;
	(void)what;
	/* At most 256 handshakes in flight: a listen backlog of 511 (nginx's
	 * default) never overflows into SYN retries. */
	while (
	    r->started < r->o.conc && r->started - r->up - r->dropped < 256) {
		struct slot *s = &r->s[r->started];

		s->active = true;
		r->active++;
		slot_start(s);
	}
	if (r->up + r->dropped >= r->o.conc) {
		event_base_once(r->base, -1, EV_TIMEOUT, held_cb, r, &settle);
		return;
	}
	event_base_once(r->base, -1, EV_TIMEOUT, ramp_cb, r, &tv);
}

/* ---- main ------------------------------------------------------------------
 */

static int
usage(void)
{
	fprintf(stderr,
	    "usage: mtls_load -p PORT -C CERT -K KEY [-m full|resume|hold] "
	    "[-c N] [-t S] [-w S] [-n TOTAL] [-q N] [-u PATH] [-U PATH] "
	    "[-i S] [-G CA:KEY|self -N N] [-P PID] [-s SNI] [-h ADDR]\n");
	return 2;
}

static int
parse_opts(struct opts *o, int argc, char **argv)
{
	int ch;

	*o = (struct opts){.host = "127.0.0.1",
	    .sni = "localhost",
	    .path = "/api/v1/status",
	    .hb_path = "/api/v1/heartbeat",
	    .conc = 16,
	    .reqs = 1,
	    .secs = 5,
	    .mode = M_FULL};
	while ((ch = getopt(
	            argc, argv, "p:C:K:m:c:t:w:n:q:u:U:i:G:N:P:s:h:")) != -1) {
		switch (ch) {
		case 'p': o->port = (int)strtol(optarg, NULL, 10); break;
		case 'C': o->cert = optarg; break;
		case 'K': o->key = optarg; break;
		case 'm':
			o->mode = strcmp(optarg, "resume") == 0 ? M_RESUME
			    : strcmp(optarg, "hold") == 0       ? M_HOLD
			                                        : M_FULL;
			break;
		case 'c': o->conc = (int)strtol(optarg, NULL, 10); break;
		case 't': o->secs = strtod(optarg, NULL); break;
		case 'w': o->warmup = strtod(optarg, NULL); break;
		case 'n': o->total = strtol(optarg, NULL, 10); break;
		case 'q': o->reqs = (int)strtol(optarg, NULL, 10); break;
		case 'u': o->path = optarg; break;
		case 'U': o->hb_path = optarg; break;
		case 'i': o->interval = strtod(optarg, NULL); break;
		case 'G': o->gen = optarg; break;
		case 'N': o->nkeys = (int)strtol(optarg, NULL, 10); break;
		case 'P': o->pid = (int)strtol(optarg, NULL, 10); break;
		case 's': o->sni = optarg; break;
		case 'h': o->host = optarg; break;
		default: return -1;
		}
	}
	if (o->port <= 0 || o->conc <= 0 || o->reqs <= 0 ||
	    (o->gen == NULL && (o->cert == NULL || o->key == NULL)) ||
	    (o->gen != NULL && o->nkeys <= 0))
		return -1;
	return 0;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int
start_run(struct run *r)
{
	struct timeval w, hard = {HARD_LIMIT_S, 0}, zero = {0, 0};

	r->sa.sin_family = AF_INET;
	r->sa.sin_port = htons((uint16_t)r->o.port);
	if (inet_pton(AF_INET, r->o.host, &r->sa.sin_addr) != 1)
		return -1;
	snprintf(r->body, sizeof(r->body),
	    "{\"version\":\"mtls_load\",\"facts\":{\"bench\":true}}");
	event_base_once(r->base, -1, EV_TIMEOUT, stop_cb, r, &hard);
	if (r->o.mode == M_HOLD) {
		r->rss_base = server_rss_kib(r->o.pid);
		return event_base_once(
		    r->base, -1, EV_TIMEOUT, ramp_cb, r, &zero);
	}
	for (int i = 0; i < r->o.conc; i++) {
		r->s[i].active = true;
		r->active++;
		event_base_once(
		    r->base, -1, EV_TIMEOUT, restart_cb, &r->s[i], &zero);
	}
	w.tv_sec = (long)r->o.warmup;
	w.tv_usec = (long)((r->o.warmup - (double)w.tv_sec) * 1e6);
	return event_base_once(r->base, -1, EV_TIMEOUT, measure_cb, r, &w);
}

int
main(int argc, char **argv)
{
	struct run r;
	int rv = 1;

	memset(&r, 0, sizeof(r));
	if (parse_opts(&r.o, argc, argv) != 0)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	srandom((unsigned)getpid());
	if (r.o.gen != NULL && !make_idents(&r))
		goto out;
	if ((r.ctx = make_ctx(&r.o)) == NULL ||
	    (r.base = event_base_new()) == NULL ||
	    (r.s = calloc((size_t)r.o.conc, sizeof(*r.s))) == NULL)
		goto out;
	for (int i = 0; i < r.o.conc; i++)
		r.s[i].r = &r;
	if (start_run(&r) != 0) {
		fprintf(stderr, "mtls_load: bad address %s\n", r.o.host);
		goto out;
	}
	event_base_dispatch(r.base);
	if (!r.stopping)
		take_snap(&r, &r.b);
	r.stopping = true;
	report(&r);
	rv = r.errs > 0 && r.reqs == 0 ? 1 : 0;
out:
	ERR_print_errors_fp(stderr);
	for (int i = 0; r.s != NULL && i < r.o.conc; i++) {
		if (r.s[i].bev != NULL)
			bufferevent_free(r.s[i].bev);
		if (r.s[i].hb != NULL)
			event_free(r.s[i].hb);
		SSL_SESSION_free(r.s[i].sess);
	}
	for (int i = 0; i < r.nids; i++) {
		X509_free(r.ids[i].cert);
		EVP_PKEY_free(r.ids[i].key);
	}
	free(r.ids);
	free(r.s);
	free(r.clat.v);
	free(r.rlat.v);
	SSL_CTX_free(r.ctx);
	if (r.base != NULL)
		event_base_free(r.base);
	return rv;
}
