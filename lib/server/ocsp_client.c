/*
 * ocsp_client.c: the OCSP status of client certificates for `certkit
 * serve` (RFC 6960), asked asynchronously on the server's event loop.
 * revocation.c is its only user; the contract is in revocation_int.h.
 *
 *   cki_ocsp_check(cert, issuer)
 *     ├─ cache hit, still before its valid_until ─────► answer now
 *     ├─ a fetch for that certificate under way ──────► wait on it
 *     ├─ no URL, https URL, responder in back-off ────► NOANSWER now
 *     └─ fetch_start: OCSP request with a nonce, POST (Appendix A.1)
 *          fetch_cb: HTTP 200 → parse_answer ─┐
 *          fetch_timeout (the whole deadline) ┴─► fetch_finish: cache,
 *             responder state, every waiter's `done`; the connection is
 *             freed from the event loop afterwards (fetch_free_cb)
 *
 * A response is used only when (parse_answer, check_response):
 *  1. it is a successful BasicOCSPResponse whose signer is the issuer
 *     itself or a responder certificate the issuer signed with EKU
 *     id-kp-OCSPSigning (RFC 6960 4.2.2.2; OCSP_basic_verify with the
 *     issuer as the only trust anchor);
 *  2. its nonce equals the request's (RFC 8954). A response without a nonce
 *     is accepted only from a responder that never echoed one: once it
 *     did, a missing nonce is refused as a possible replay;
 *  3. it covers the certificate's CertID, its thisUpdate is not more than
 *     CKI_OCSP_SKEW in the future and its nextUpdate not more than that in
 *     the past (RFC 6960 4.2.2.1, 3.2).
 * An answer (good, revoked) is cached until nextUpdate, or 1 hour without
 * one. `unknown` and every failure are NOANSWER, and not cached; a
 * responder that could not be reached or gave no answer (not one unusable
 * for a certificate) is left alone for CKI_OCSP_BACKOFF seconds.
 *
 * `done` is never called from inside cki_ocsp_check(), only from the event
 * loop; a `done` must not free the cki_ocsp.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "revocation_int.h"

#define OCSP_BUCKETS 1024
#define OCSP_DEFAULT_TIMEOUT_MS 5000
#define OCSP_DEFAULT_TTL 3600

struct responder {
	char *url;
	bool echoes_nonce;  /* it has echoed a nonce once (rule 2) */
	int64_t fail_until; /* back-off: no request before then */
	char last_err[200]; /* "" when its last answer was usable */
	struct responder *next;
};

struct centry {
	unsigned char key[32]; /* the certificate's SHA-256 */
	struct cki_ocsp_answer a;
	struct centry *next;
};

struct cki_ocsp_wait {
	struct fetch *f;
	cki_ocsp_done done;
	void *arg;
	struct cki_ocsp_wait *next;
};

struct fetch {
	cki_ocsp *oc;
	unsigned char key[32];
	struct responder *resp;
	OCSP_REQUEST *req;
	OCSP_CERTID *id;
	X509 *issuer;
	int64_t now0, mono0; /* the check's clock when it started */
	struct evhttp_connection *hc;
	struct evhttp_request *hreq;
	struct event *timer; /* the deadline */
	struct event *defer; /* frees it from the loop once finished */
	bool finished;
	struct cki_ocsp_wait *waiters;
	struct fetch *prev, *next;
};

struct cki_ocsp {
	struct event_base *base;
	struct evdns_base *dns;
	char *responder; /* ocsp_responder, or NULL: the AIA */
	int timeout_ms;
	uint64_t nreq;
	struct responder *resps;
	struct centry *bucket[OCSP_BUCKETS];
	size_t ncache;
	struct fetch *fetches;
};

static void answer_fail(struct cki_ocsp_answer *a, int64_t until,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
answer_fail(struct cki_ocsp_answer *a, int64_t until, const char *fmt, ...)
{
	va_list ap;

	a->status = CKI_OCSP_NOANSWER;
	a->reason = -1;
	a->valid_until = until;
	va_start(ap, fmt);
	vsnprintf(a->detail, sizeof(a->detail), fmt, ap);
	va_end(ap);
}

/* ---- the cache ----------------------------------------------------------- */

static size_t
bucket_of(const unsigned char key[32])
{
	return ((size_t)key[0] << 8 | key[1]) % OCSP_BUCKETS;
}

static bool
cache_get(cki_ocsp *oc, const unsigned char key[32], int64_t now,
    struct cki_ocsp_answer *a)
{
	struct centry **pp = &oc->bucket[bucket_of(key)], *e;

	while ((e = *pp) != NULL) {
		if (e->a.valid_until <= now) { /* expired: drop it */
			*pp = e->next;
			free(e);
			oc->ncache--;
			continue;
		}
		if (memcmp(e->key, key, 32) == 0) {
			*a = e->a;
			return true;
		}
		pp = &e->next;
	}
	return false;
}

static void
cache_put(
    cki_ocsp *oc, const unsigned char key[32], const struct cki_ocsp_answer *a)
{
	struct centry *e;
	size_t b = bucket_of(key);

	if (oc->ncache >= CKI_OCSP_MAX_CACHE ||
	    (e = calloc(1, sizeof(*e))) == NULL)
		return; /* full: answers are asked again, never wrong */
	memcpy(e->key, key, 32);
	e->a = *a;
	e->next = oc->bucket[b];
	oc->bucket[b] = e;
	oc->ncache++;
}

/* ---- responders ---------------------------------------------------------- */

static struct responder *
responder_get(cki_ocsp *oc, const char *url)
{
	struct responder *r;

	for (r = oc->resps; r != NULL; r = r->next)
		if (strcmp(r->url, url) == 0)
			return r;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->url = strdup(url)) == NULL) {
		free(r);
		return NULL;
	}
	r->next = oc->resps;
	oc->resps = r;
	return r;
}

/* The URL to ask about x: ocsp_responder, else the first http:// OCSP URL
 * of its AIA. NULL (and *why) when there is none. Caller frees. */
static char *
ocsp_url(cki_ocsp *oc, X509 *x, char *why, size_t size)
{
	STACK_OF(OPENSSL_STRING) * aia;
	char *url = NULL;

	if (oc->responder != NULL)
		return strdup(oc->responder);
	snprintf(why, size,
	    "no OCSP URL: the certificate has no AIA OCSP entry and "
	    "ocsp_responder is not set");
	aia = X509_get1_ocsp(x);
	for (int i = 0; i < sk_OPENSSL_STRING_num(aia) && url == NULL; i++) {
		const char *u = sk_OPENSSL_STRING_value(aia, i);

		if (strncmp(u, "http://", 7) == 0)
			url = strdup(u);
		else
			snprintf(why, size,
			    "only an https OCSP URL, which certkit does not "
			    "ask: set ocsp_responder");
	}
	X509_email_free(aia);
	return url;
}

/* ---- parsing a response -------------------------------------------------- */

/* Rule 1: signed by the issuer or its delegated responder. */
static bool
signer_ok(struct fetch *f, OCSP_BASICRESP *bs, int64_t now)
{
	X509_STORE *store = X509_STORE_new();
	STACK_OF(X509) *certs = sk_X509_new_null();
	X509_VERIFY_PARAM *pm;
	bool ok = false;

	if (store == NULL || certs == NULL ||
	    !X509_STORE_add_cert(store, f->issuer) ||
	    !sk_X509_push(certs, f->issuer))
		goto err;
	/* The issuer is the anchor, whether a root or an intermediate. */
	pm = X509_STORE_get0_param(store);
	X509_VERIFY_PARAM_set_flags(pm, X509_V_FLAG_PARTIAL_CHAIN);
	X509_VERIFY_PARAM_set_time(pm, (time_t)now);
	ok = OCSP_basic_verify(bs, certs, store, 0) == 1;
err:
	sk_X509_free(certs);
	X509_STORE_free(store);
	ERR_clear_error();
	return ok;
}

/* Rule 2 (RFC 8954). */
static bool
nonce_ok(
    struct fetch *f, OCSP_BASICRESP *bs, struct cki_ocsp_answer *a, int64_t now)
{
	int rc = OCSP_check_nonce(f->req, bs);

	if (rc == 1) {
		f->resp->echoes_nonce = true;
		return true;
	}
	if (rc == -1 && !f->resp->echoes_nonce)
		return true; /* a responder that never echoes one */
	answer_fail(a, now, "OCSP responder %s: %s", f->resp->url,
	    rc == 0 ? "the response's nonce is not the request's"
	            : "the response has no nonce, though the responder "
	              "echoed one before (a replayed answer?)");
	return false;
}

/* Rule 3, and the status. */
static void
status_of(
    struct fetch *f, OCSP_BASICRESP *bs, struct cki_ocsp_answer *a, int64_t now)
{
	int st = -1, reason = -1;
	ASN1_GENERALIZEDTIME *rev = NULL, *thisu = NULL, *nextu = NULL;
	int64_t tu = 0, nu = 0;
	const char *u = f->resp->url;

	if (OCSP_resp_find_status(
	        bs, f->id, &st, &reason, &rev, &thisu, &nextu) != 1) {
		answer_fail(a, now,
		    "OCSP responder %s: the response does not cover the "
		    "certificate",
		    u);
		return;
	}
	if (!cki_asn1_time(thisu, &tu) || tu > now + CKI_OCSP_SKEW ||
	    (nextu != NULL &&
	        (!cki_asn1_time(nextu, &nu) || nu < now - CKI_OCSP_SKEW))) {
		answer_fail(a, now, "OCSP responder %s: the response is %s", u,
		    tu > now + CKI_OCSP_SKEW ? "from the future (thisUpdate)"
		                             : "out of date (nextUpdate)");
		return;
	}
	if (st == V_OCSP_CERTSTATUS_UNKNOWN) {
		answer_fail(a, now,
		    "OCSP responder %s: the certificate is unknown to it", u);
		return;
	}
	a->status =
	    st == V_OCSP_CERTSTATUS_GOOD ? CKI_OCSP_GOOD : CKI_OCSP_REVOKED;
	a->reason = st == V_OCSP_CERTSTATUS_REVOKED ? reason : -1;
	a->valid_until = nextu != NULL ? nu : now + OCSP_DEFAULT_TTL;
	snprintf(a->detail, sizeof(a->detail), "OCSP responder %s", u);
}

static void
parse_answer(struct fetch *f, const unsigned char *p, size_t len, int64_t now,
    struct cki_ocsp_answer *a)
{
	OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
	OCSP_BASICRESP *bs = NULL;
	int st;

	if (resp == NULL) {
		answer_fail(a, now,
		    "OCSP responder %s: HTTP 200, but %zu bytes that are not "
		    "an OCSP response",
		    f->resp->url, len);
		goto err;
	}
	if ((st = OCSP_response_status(resp)) !=
	    OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		answer_fail(a, now, "OCSP responder %s: responseStatus %s",
		    f->resp->url, OCSP_response_status_str(st));
		goto err;
	}
	if ((bs = OCSP_response_get1_basic(resp)) == NULL) {
		answer_fail(a, now,
		    "OCSP responder %s: not a basic OCSP response",
		    f->resp->url);
		goto err;
	}
	if (!signer_ok(f, bs, now)) {
		answer_fail(a, now,
		    "OCSP responder %s: the response is not signed by the "
		    "issuer or a responder it authorised (id-kp-OCSPSigning)",
		    f->resp->url);
		goto err;
	}
	/* After the signature: only a genuine answer marks the responder as
	 * one that echoes nonces. */
	if (!nonce_ok(f, bs, a, now))
		goto err;
	status_of(f, bs, a, now);
err:
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
}

/* ---- fetches ------------------------------------------------------------- */

static void
fetch_free(struct fetch *f)
{
	struct cki_ocsp_wait *w;

	if (f == NULL)
		return;
	if (f->hreq != NULL)
		evhttp_cancel_request(f->hreq);
	if (f->hc != NULL)
		evhttp_connection_free(f->hc);
	if (f->timer != NULL)
		event_free(f->timer);
	if (f->defer != NULL)
		event_free(f->defer);
	while ((w = f->waiters) != NULL) {
		f->waiters = w->next;
		free(w);
	}
	if (f->prev != NULL)
		f->prev->next = f->next;
	else if (f->oc->fetches == f)
		f->oc->fetches = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	OCSP_REQUEST_free(f->req);
	OCSP_CERTID_free(f->id);
	X509_free(f->issuer);
	free(f);
}

static void
fetch_free_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fetch_free(arg);
}

/* `transport`: the responder could not be reached or did not answer
 * (back-off), as opposed to an answer unusable for this certificate. */
static void
fetch_finish(
    struct fetch *f, struct cki_ocsp_answer *a, int64_t now, bool transport)
{
	struct cki_ocsp_wait *w;
	struct timeval zero = {0, 0};

	f->finished = true;
	event_del(f->timer);
	if (a->status == CKI_OCSP_NOANSWER) {
		a->valid_until = now + CKI_OCSP_BACKOFF;
		if (transport)
			f->resp->fail_until = a->valid_until;
		snprintf(f->resp->last_err, sizeof(f->resp->last_err), "%s",
		    a->detail);
	} else {
		f->resp->fail_until = 0;
		f->resp->last_err[0] = '\0';
		cache_put(f->oc, f->key, a);
	}
	while ((w = f->waiters) != NULL) {
		f->waiters = w->next;
		w->done(w->arg, a);
		free(w);
	}
	/* The connection cannot be freed inside its own callback. */
	if (evtimer_add(f->defer, &zero) != 0)
		fetch_free(f);
}

static int64_t
fetch_now(const struct fetch *f)
{
	return f->now0 + (cki_mono_ms() - f->mono0) / 1000;
}

static void
fetch_cb(struct evhttp_request *req, void *arg)
{
	struct fetch *f = arg;
	int64_t now = fetch_now(f);
	struct cki_ocsp_answer a;
	int code;
	bool transport = true;

	if (f->hreq == NULL)
		return; /* the deadline came first */
	f->hreq = NULL;
	code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	if (code == 0) {
		answer_fail(&a, now,
		    "OCSP responder %s unreachable: no HTTP answer "
		    "(connection failed or closed)",
		    f->resp->url);
	} else if (code != 200) {
		answer_fail(&a, now, "OCSP responder %s answered HTTP %d",
		    f->resp->url, code);
	} else {
		struct evbuffer *b = evhttp_request_get_input_buffer(req);
		size_t len = evbuffer_get_length(b);
		unsigned char *data = evbuffer_pullup(b, -1);

		if (data == NULL) {
			answer_fail(&a, now,
			    "OCSP responder %s: an empty answer", f->resp->url);
		} else {
			parse_answer(f, data, len, now, &a);
			transport = false;
		}
	}
	fetch_finish(f, &a, now, transport);
}

static void
fetch_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct fetch *f = arg;
	int64_t now = fetch_now(f);
	struct cki_ocsp_answer a;

	(void)fd;
	(void)what;
	if (f->hreq != NULL) {
		evhttp_cancel_request(f->hreq);
		f->hreq = NULL;
	}
	answer_fail(&a, now,
	    "OCSP responder %s unreachable: no answer within %d ms",
	    f->resp->url, f->oc->timeout_ms);
	fetch_finish(f, &a, now, true);
}

static struct fetch *
fetch_new(cki_ocsp *oc, X509 *cert, X509 *issuer, const unsigned char *key,
    struct responder *resp, int64_t now)
{
	struct fetch *f = calloc(1, sizeof(*f));
	OCSP_CERTID *id2 = NULL;

	if (f == NULL)
		return NULL;
	f->oc = oc;
	memcpy(f->key, key, 32);
	f->resp = resp;
	f->now0 = now;
	f->mono0 = cki_mono_ms();
	if (X509_up_ref(issuer))
		f->issuer = issuer;
	if (f->issuer == NULL ||
	    (f->id = OCSP_cert_to_id(NULL, cert, issuer)) == NULL ||
	    (f->req = OCSP_REQUEST_new()) == NULL ||
	    (id2 = OCSP_CERTID_dup(f->id)) == NULL ||
	    OCSP_request_add0_id(f->req, id2) == NULL)
		goto err;
	id2 = NULL;
	/* RFC 8954: a fresh 32-byte nonce. */
	if (!OCSP_request_add1_nonce(f->req, NULL, 32) ||
	    (f->timer = evtimer_new(oc->base, fetch_timeout, f)) == NULL ||
	    (f->defer = evtimer_new(oc->base, fetch_free_cb, f)) == NULL)
		goto err;
	if ((f->next = oc->fetches) != NULL)
		f->next->prev = f;
	oc->fetches = f;
	return f;
err:
	OCSP_CERTID_free(id2);
	fetch_free(f);
	ERR_clear_error();
	return NULL;
}

static struct evdns_base *
dns_for(cki_ocsp *oc, const char *host)
{
	unsigned char addr[16];

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1)
		return NULL;
	/* Without one (no resolv.conf), evhttp resolves with a blocking
	 * getaddrinfo(). */
	if (oc->dns == NULL)
		oc->dns =
		    evdns_base_new(oc->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	return oc->dns;
}

static int
fetch_headers(struct fetch *f, const char *host, int port)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(f->hreq);
	unsigned char *der = NULL;
	char hostport[300];
	int len, bad;

	snprintf(
	    hostport, sizeof(hostport), port > 0 ? "%s:%d" : "%s", host, port);
	bad = evhttp_add_header(h, "Host", hostport) != 0;
	bad |= evhttp_add_header(
	           h, "Content-Type", "application/ocsp-request") != 0;
	bad |= evhttp_add_header(h, "Accept", "application/ocsp-response") != 0;
	bad |= evhttp_add_header(
	           h, "User-Agent", "certkit-serve/" CERTKIT_VERSION) != 0;
	bad |= evhttp_add_header(h, "Connection", "close") != 0;
	if (bad || (len = i2d_OCSP_REQUEST(f->req, &der)) <= 0)
		return -1;
	bad = evbuffer_add(evhttp_request_get_output_buffer(f->hreq), der,
	          (size_t)len) != 0;
	OPENSSL_free(der);
	return bad ? -1 : 0;
}

/* POSTs the request (RFC 6960 A.1.1); -1 and *why when it cannot. */
static int
fetch_send(struct fetch *f, char *why, size_t size)
{
	cki_ocsp *oc = f->oc;
	struct evhttp_uri *u = evhttp_uri_parse(f->resp->url);
	const char *host, *path, *q;
	char target[1024], addr[256];
	int port, rv = -1;
	struct timeval tv = {
	    oc->timeout_ms / 1000, (oc->timeout_ms % 1000) * 1000};

	if (u == NULL || (host = evhttp_uri_get_host(u)) == NULL) {
		snprintf(why, size, "not a valid URL");
		goto err;
	}
	port = evhttp_uri_get_port(u);
	path = evhttp_uri_get_path(u);
	q = evhttp_uri_get_query(u);
	snprintf(target, sizeof(target), "%s%s%s", path && *path ? path : "/",
	    q ? "?" : "", q ? q : "");
	/* evhttp keeps an IPv6 literal's brackets (RFC 3986 3.2.2): the
	 * Host header wants them, the connection does not. */
	snprintf(addr, sizeof(addr), "%.*s",
	    host[0] == '[' ? (int)strlen(host) - 2 : (int)strlen(host),
	    host + (host[0] == '['));
	snprintf(why, size, "out of memory");
	f->hc = evhttp_connection_base_new(oc->base, dns_for(oc, addr), addr,
	    (unsigned short)(port > 0 ? port : 80));
	if (f->hc == NULL ||
	    (f->hreq = evhttp_request_new(fetch_cb, f)) == NULL)
		goto err;
	evhttp_connection_set_timeout(f->hc, (oc->timeout_ms + 999) / 1000);
	evhttp_connection_set_retries(f->hc, 0);
	evhttp_connection_set_max_body_size(f->hc, CKI_OCSP_MAX_BODY);
	if (fetch_headers(f, host, port) != 0)
		goto err;
	if (evhttp_make_request(f->hc, f->hreq, EVHTTP_REQ_POST, target)) {
		f->hreq = NULL; /* freed by evhttp_make_request */
		snprintf(why, size, "the request could not be sent");
		goto err;
	}
	oc->nreq++;
	rv = evtimer_add(f->timer, &tv);
err:
	evhttp_uri_free(u);
	return rv;
}

/* ---- the interface ------------------------------------------------------- */

static int
wait_on(struct fetch *f, cki_ocsp_done done, void *arg, cki_ocsp_wait **out)
{
	cki_ocsp_wait *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -1;
	w->f = f;
	w->done = done;
	w->arg = arg;
	w->next = f->waiters;
	f->waiters = w;
	*out = w;
	return 0;
}

void
cki_ocsp_cancel(cki_ocsp_wait *w)
{
	cki_ocsp_wait **pp;

	if (w == NULL)
		return;
	for (pp = &w->f->waiters; *pp != NULL; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	free(w); /* the fetch goes on and fills the cache */
}

static struct fetch *
fetch_find(cki_ocsp *oc, const unsigned char *key)
{
	for (struct fetch *f = oc->fetches; f != NULL; f = f->next)
		if (!f->finished && memcmp(f->key, key, 32) == 0)
			return f;
	return NULL;
}

int
cki_ocsp_check(cki_ocsp *oc, X509 *cert, X509 *issuer, int64_t now,
    cki_ocsp_done done, void *arg, struct cki_ocsp_answer *a, cki_ocsp_wait **w)
{
	unsigned char key[32];
	unsigned int klen = sizeof(key);
	struct responder *resp;
	struct fetch *f;
	char why[160], *url = NULL;
	int rc = -1;

	*w = NULL;
	if (!X509_digest(cert, EVP_sha256(), key, &klen))
		return -1;
	if (cache_get(oc, key, now, a))
		return 1;
	if ((f = fetch_find(oc, key)) != NULL)
		return wait_on(f, done, arg, w);
	if ((url = ocsp_url(oc, cert, why, sizeof(why))) == NULL) {
		answer_fail(a, now + OCSP_DEFAULT_TTL, "%s", why);
		return 1;
	}
	if ((resp = responder_get(oc, url)) == NULL)
		goto err;
	rc = 1;
	if (resp->fail_until > now) {
		answer_fail(a, resp->fail_until, "%s", resp->last_err);
		goto err;
	}
	if ((f = fetch_new(oc, cert, issuer, key, resp, now)) == NULL) {
		rc = -1;
		goto err;
	}
	if (fetch_send(f, why, sizeof(why)) != 0) {
		answer_fail(a, now + CKI_OCSP_BACKOFF, "OCSP responder %s: %s",
		    url, why);
		fetch_finish(f, a, now, true);
		goto err;
	}
	rc = wait_on(f, done, arg, w);
err:
	free(url);
	return rc;
}

cki_ocsp *
cki_ocsp_new(struct event_base *base, const char *responder)
{
	cki_ocsp *oc = calloc(1, sizeof(*oc));

	if (oc == NULL)
		return NULL;
	oc->base = base;
	oc->timeout_ms = OCSP_DEFAULT_TIMEOUT_MS;
	if (responder != NULL && (oc->responder = strdup(responder)) == NULL) {
		free(oc);
		return NULL;
	}
	return oc;
}

void
cki_ocsp_free(cki_ocsp *oc)
{
	struct responder *r;

	if (oc == NULL)
		return;
	while (oc->fetches != NULL)
		fetch_free(oc->fetches);
	for (size_t b = 0; b < OCSP_BUCKETS; b++)
		while (oc->bucket[b] != NULL) {
			struct centry *e = oc->bucket[b];

			oc->bucket[b] = e->next;
			free(e);
		}
	while ((r = oc->resps) != NULL) {
		oc->resps = r->next;
		free(r->url);
		free(r);
	}
	if (oc->dns != NULL)
		evdns_base_free(oc->dns, 0);
	free(oc->responder);
	free(oc);
}

void
cki_ocsp_set_timeout(cki_ocsp *oc, int ms)
{
	oc->timeout_ms = ms > 0 ? ms : OCSP_DEFAULT_TIMEOUT_MS;
}

uint64_t
cki_ocsp_requests(const cki_ocsp *oc)
{
	return oc->nreq;
}

int
cki_ocsp_warnings(cki_ocsp *oc, json_t *arr)
{
	for (struct responder *r = oc->resps; r != NULL; r = r->next) {
		json_t *f;
		int bad;

		if (r->last_err[0] == '\0')
			continue;
		f = cki_finding_new(CKI_REPORT_SERVER, "ocsp_unavailable",
		    false, r->last_err,
		    "check that the responder runs and that this server can "
		    "reach it, or set ocsp_responder",
		    0);
		bad = f == NULL;
		bad =
		    bad || cki_finding_evidence(f, "url", cki_json_str(r->url));
		bad = bad || json_array_append_new(arr, f) != 0;
		if (bad) {
			json_decref(f);
			return -1;
		}
	}
	return 0;
}
