/*
 * test_trust_fetch.c: ck_fetch_chain() (lib/net/fetch.c) against lying and
 * silent peers and a refusing proxy, served by a thread on 127.0.0.1. The
 * happy path (a real openssl s_server, a CONNECT proxy) is in
 * tests/interop/trust.sh.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "ck_internal.h"
#include "certkit/fetch.h"

/* Test seams in lib/net/fetch.c (not exported, not in a header). */
void cki_fetch_test_dns_delay(int ms);
int cki_fetch_test_dns_jobs(void);
ck_status cki_fetch_test_resolve(ck_ctx *ctx, const char *host,
    const char *port, int timeout_ms, struct addrinfo **res);

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits (bounded) until every lookup job fetch.c started has been freed,
 * including those a caller gave up on. */
static void
assert_dns_jobs_freed(int within_ms)
{
	int64_t end = now_ms() + within_ms;
	struct timespec tick = {0, 20 * 1000000};

	while (cki_fetch_test_dns_jobs() != 0 && now_ms() < end)
		nanosleep(&tick, NULL);
	assert_int_equal(cki_fetch_test_dns_jobs(), 0);
}

struct peer {
	int lfd;
	char port[8];
	const char *reply; /* sent after reading the request; NULL: silent */
	char got[2048];    /* the request it read */
	pthread_t th;
};

static void *
serve(void *arg)
{
	struct peer *p = arg;
	char buf[2048];
	int c = accept(p->lfd, NULL, NULL);

	if (c == -1)
		return NULL;
	if (p->reply != NULL) {
		ssize_t n = recv(c, buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		memcpy(p->got, buf, sizeof(p->got));
		(void)send(c, p->reply, strlen(p->reply), MSG_NOSIGNAL);
		close(c);
	} else {
		sleep(3); /* silent: the client must give up first */
		close(c);
	}
	return NULL;
}

static void
peer_start(struct peer *p, const char *reply)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);

	p->reply = reply;
	p->got[0] = '\0';
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(p->lfd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(p->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->lfd, 4), 0);
	assert_int_equal(getsockname(p->lfd, (struct sockaddr *)&sa, &len), 0);
	snprintf(p->port, sizeof(p->port), "%u", ntohs(sa.sin_port));
	assert_int_equal(pthread_create(&p->th, NULL, serve, p), 0);
}

static void
peer_stop(struct peer *p)
{
	shutdown(p->lfd, SHUT_RDWR);
	pthread_join(p->th, NULL);
	close(p->lfd);
}

static void
test_bad_arguments(void **state)
{
	static const struct {
		const char *host, *port;
		const char *msg;
	} cases[] = {
	    {"", "443", "expected a host name"},
	    {"127.0.0.1", "0", "is not a number from 1 to 65535"},
	    {"127.0.0.1", "70000", "is not a number from 1 to 65535"},
	    {"127.0.0.1", "https", "is not a number"},
	    /* would forge a header in the CONNECT request */
	    {"dev.example.test\r\nX-Evil: 1", "443", "control character"},
	    {"dev example", "443", "control character"},
	};
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_bundle *b = NULL;

		assert_int_equal(ck_fetch_chain(ctx, cases[i].host,
		                     cases[i].port, NULL, 1000, &b),
		    CK_E_USAGE);
		assert_null(b);
		assert_non_null(strstr(ck_ctx_error(ctx), cases[i].msg));
	}
	ck_ctx_free(ctx);
}

static void
test_refused_and_unresolvable(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;

	(void)state;
	unsetenv("HTTPS_PROXY");
	unsetenv("https_proxy");
	assert_int_equal(ck_fetch_chain(ctx, "127.0.0.1", "1", NULL, 2000, &b),
	    CK_E_NETWORK);
	assert_non_null(
	    strstr(ck_ctx_error(ctx), "127.0.0.1:1: cannot connect"));
	assert_int_equal(
	    ck_fetch_chain(ctx, "nonexistent.invalid", "443", NULL, 2000, &b),
	    CK_E_NETWORK);
	assert_non_null(strstr(ck_ctx_error(ctx), "cannot resolve"));
	ck_ctx_free(ctx);
}

/* A web server where a TLS server was expected. */
static void
test_plain_http_peer(void **state)
{
	struct peer p;
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;

	(void)state;
	peer_start(&p, "HTTP/1.1 400 Bad Request\r\n\r\n");
	assert_int_equal(
	    ck_fetch_chain(ctx, "localhost", p.port, "127.0.0.1", 3000, &b),
	    CK_E_NETWORK);
	assert_null(b);
	assert_non_null(strstr(ck_ctx_error(ctx), "did not answer with TLS"));
	peer_stop(&p);
	ck_ctx_free(ctx);
}

/* A peer that accepts and says nothing: the deadline holds. */
static void
test_silent_peer_times_out(void **state)
{
	struct peer p;
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	time_t t0 = time(NULL);

	(void)state;
	peer_start(&p, NULL);
	assert_int_equal(
	    ck_fetch_chain(ctx, "127.0.0.1", p.port, NULL, 500, &b),
	    CK_E_NETWORK);
	assert_true(time(NULL) - t0 <= 2);
	assert_non_null(
	    strstr(ck_ctx_error(ctx), "did not finish within 500 ms"));
	peer_stop(&p);
	ck_ctx_free(ctx);
}

static void
test_proxy(void **state)
{
	static const struct {
		const char *reply;
		const char *msg;
	} cases[] = {
	    {"HTTP/1.1 403 Forbidden\r\n\r\n", "refused CONNECT"},
	    {"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n",
	        "http://user:pass@proxy:port"},
	    {"SSH-2.0-OpenSSH_9.2\r\n\r\n", "expected an HTTP answer"},
	};
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct peer p;
		char url[64];
		ck_bundle *b = NULL;

		peer_start(&p, cases[i].reply);
		snprintf(url, sizeof(url), "http://127.0.0.1:%s", p.port);
		setenv("HTTPS_PROXY", url, 1);
		unsetenv("NO_PROXY");
		assert_int_equal(ck_fetch_chain(ctx, "device.example.test",
		                     "443", NULL, 3000, &b),
		    CK_E_NETWORK);
		assert_non_null(strstr(ck_ctx_error(ctx), cases[i].msg));
		assert_non_null(strstr(ck_ctx_error(ctx), "proxy 127.0.0.1"));
		peer_stop(&p);
	}
	/* malformed proxy settings are usage errors */
	setenv("HTTPS_PROXY", "https://127.0.0.1:1", 1);
	{
		ck_bundle *b = NULL;

		assert_int_equal(ck_fetch_chain(ctx, "x.example.test", "443",
		                     NULL, 1000, &b),
		    CK_E_USAGE);
		assert_non_null(strstr(ck_ctx_error(ctx), "only http://"));
		setenv("HTTPS_PROXY", "socks5://127.0.0.1:1", 1);
		assert_int_equal(ck_fetch_chain(ctx, "x.example.test", "443",
		                     NULL, 1000, &b),
		    CK_E_USAGE);
		/* NO_PROXY covers the host: the proxy is never used */
		setenv("NO_PROXY", "localhost, .example.test", 1);
		assert_int_equal(ck_fetch_chain(ctx, "nonexistent.example.test",
		                     "443", NULL, 1000, &b),
		    CK_E_NETWORK);
		assert_non_null(strstr(ck_ctx_error(ctx), "cannot resolve"));
	}
	unsetenv("HTTPS_PROXY");
	unsetenv("NO_PROXY");
	ck_ctx_free(ctx);
}

/* The proxy password is never printed, and its %-escapes are decoded
 * before it is sent (RFC 3986 2.1, as curl does). */
static void
test_proxy_credentials(void **state)
{
	static const struct {
		const char *url, *msg;
	} bad[] = {
	    {"https://admin:s3cret@127.0.0.1:1", "admin:***@127.0.0.1"},
	    {"socks5://admin:s3cret@127.0.0.1:1", "admin:***@127.0.0.1"},
	    {"http://admin:s3cret@127.0.0.1:http", "admin:***@127.0.0.1:http"},
	    {"http://admin:s3cret@127.0.0.1:0", "admin:***@"},
	    {"http://admin:s3cret@[::1:1", "unclosed"},
	    {"http://admin:s3cret%zz@127.0.0.1:1", "%-escape"},
	    {"http://admin:s3cret%00x@127.0.0.1:1", "%-escape"},
	};
	ck_ctx *ctx = ck_ctx_new();
	struct peer p;
	char url[96];
	ck_bundle *b = NULL;

	(void)state;
	unsetenv("NO_PROXY");
	unsetenv("no_proxy");
	unsetenv("https_proxy");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("HTTPS_PROXY", bad[i].url, 1);
		assert_int_equal(ck_fetch_chain(ctx, "x.example.test", "443",
		                     NULL, 1000, &b),
		    CK_E_USAGE);
		assert_null(b);
		if (strstr(ck_ctx_error(ctx), bad[i].msg) == NULL ||
		    strstr(ck_ctx_error(ctx), "s3cret") != NULL)
			fail_msg("%s: expected '%s' and no password, got: %s",
			    bad[i].url, bad[i].msg, ck_ctx_error(ctx));
	}
	/* base64("admin:p@ss w") is YWRtaW46cEBzcyB3 (RFC 7617 2). */
	peer_start(&p, "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n");
	snprintf(
	    url, sizeof(url), "http://admin:p%%40ss%%20w@127.0.0.1:%s", p.port);
	setenv("HTTPS_PROXY", url, 1);
	assert_int_equal(
	    ck_fetch_chain(ctx, "x.example.test", "443", NULL, 3000, &b),
	    CK_E_NETWORK);
	peer_stop(&p);
	assert_non_null(
	    strstr(p.got, "Proxy-Authorization: Basic YWRtaW46cEBzcyB3\r\n"));
	assert_null(strstr(ck_ctx_error(ctx), "p%40ss"));
	unsetenv("HTTPS_PROXY");
	ck_ctx_free(ctx);
}

/* IP literals never reach the resolver: even a resolver that would take
 * 5 s (the seam delays every real lookup) leaves them unaffected. */
static void
test_ip_literal_skips_resolver(void **state)
{
	static const char *const lits[] = {"127.0.0.1", "::1"};
	struct peer p;
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	int64_t t0;

	(void)state;
	unsetenv("HTTPS_PROXY");
	unsetenv("https_proxy");
	cki_fetch_test_dns_delay(5000);
	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		struct addrinfo *res = NULL;

		t0 = now_ms();
		assert_int_equal(
		    cki_fetch_test_resolve(ctx, lits[i], "443", 200, &res),
		    CK_OK);
		assert_non_null(res);
		assert_true(now_ms() - t0 < 100);
		assert_int_equal(cki_fetch_test_dns_jobs(), 0);
		freeaddrinfo(res);
	}
	/* the whole fetch against a test peer reaches the TLS stage */
	peer_start(&p, "HTTP/1.1 400 Bad Request\r\n\r\n");
	t0 = now_ms();
	assert_int_equal(
	    ck_fetch_chain(ctx, "127.0.0.1", p.port, NULL, 3000, &b),
	    CK_E_NETWORK);
	assert_null(b);
	assert_true(now_ms() - t0 < 2000);
	assert_non_null(strstr(ck_ctx_error(ctx), "did not answer with TLS"));
	peer_stop(&p);
	cki_fetch_test_dns_delay(0);
	ck_ctx_free(ctx);
}

/* A name lookup (localhost, from /etc/hosts) within its deadline works;
 * one that cannot finish in time fails at the deadline, names the host,
 * and its job is still freed once the lookup ends (ASan/LSan watch). */
static void
test_name_lookup_deadline(void **state)
{
	static const struct {
		int delay_ms, timeout_ms;
		ck_status want;
	} cases[] = {
	    {0, 2000, CK_OK},
	    {300, 2000, CK_OK}, /* slow but in time */
	    {1500, 300, CK_E_NETWORK},
	    {1500, 1, CK_E_NETWORK},
	};
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addrinfo *res = NULL;
		char want[64];
		int64_t t0 = now_ms(), took;
		ck_status st;

		cki_fetch_test_dns_delay(cases[i].delay_ms);
		st = cki_fetch_test_resolve(
		    ctx, "localhost", "443", cases[i].timeout_ms, &res);
		took = now_ms() - t0;
		if (st != cases[i].want)
			fail_msg("case %zu: got %d (%s)", i, (int)st,
			    ck_ctx_error(ctx));
		if (st == CK_OK) {
			assert_non_null(res);
			assert_true(took >= cases[i].delay_ms);
			freeaddrinfo(res);
		} else {
			assert_null(res);
			assert_true(took <= cases[i].timeout_ms + 500);
			snprintf(want, sizeof(want), "within %d ms",
			    cases[i].timeout_ms);
			assert_non_null(strstr(ck_ctx_error(ctx), want));
			assert_non_null(strstr(ck_ctx_error(ctx),
			    "localhost: cannot resolve localhost"));
			assert_non_null(
			    strstr(ck_ctx_error(ctx), "DNS server"));
		}
		assert_dns_jobs_freed(cases[i].delay_ms + 2000);
	}
	cki_fetch_test_dns_delay(0);
	ck_ctx_free(ctx);
}

/* Through ck_fetch_chain: the lookup shares the one --timeout; with a
 * proxy only the proxy's name is looked up, and its lookup is bounded. */
static void
test_fetch_lookup_timeout(void **state)
{
	struct peer p;
	char url[64];
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	int64_t t0;

	(void)state;
	unsetenv("HTTPS_PROXY");
	unsetenv("https_proxy");
	unsetenv("NO_PROXY");
	unsetenv("no_proxy");
	cki_fetch_test_dns_delay(3000);
	t0 = now_ms();
	assert_int_equal(ck_fetch_chain(ctx, "localhost", "443", NULL, 400, &b),
	    CK_E_NETWORK);
	assert_true(now_ms() - t0 <= 400 + 500);
	assert_null(b);
	assert_non_null(strstr(ck_ctx_error(ctx),
	    "localhost:443: cannot resolve localhost: the name lookup did "
	    "not finish within 400 ms"));
	/* proxy named by its name: that lookup is bounded too */
	setenv("HTTPS_PROXY", "http://localhost:1", 1);
	t0 = now_ms();
	assert_int_equal(
	    ck_fetch_chain(ctx, "device.example.test", "443", NULL, 400, &b),
	    CK_E_NETWORK);
	assert_true(now_ms() - t0 <= 400 + 500);
	assert_non_null(strstr(ck_ctx_error(ctx), "cannot resolve localhost"));
	assert_non_null(strstr(ck_ctx_error(ctx), "via proxy localhost:1"));
	/* proxy by address: the target's name is never looked up here (the
	 * 3 s seam would blow the deadline), the proxy gets it verbatim */
	peer_start(&p, "HTTP/1.1 403 Forbidden\r\n\r\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%s", p.port);
	setenv("HTTPS_PROXY", url, 1);
	t0 = now_ms();
	assert_int_equal(
	    ck_fetch_chain(ctx, "device.example.test", "443", NULL, 2000, &b),
	    CK_E_NETWORK);
	assert_true(now_ms() - t0 < 1000);
	assert_non_null(strstr(ck_ctx_error(ctx), "refused CONNECT"));
	peer_stop(&p);
	assert_non_null(strstr(p.got, "CONNECT device.example.test:443 "));
	unsetenv("HTTPS_PROXY");
	cki_fetch_test_dns_delay(0);
	assert_dns_jobs_freed(5000);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_arguments),
	    cmocka_unit_test(test_refused_and_unresolvable),
	    cmocka_unit_test(test_plain_http_peer),
	    cmocka_unit_test(test_silent_peer_times_out),
	    cmocka_unit_test(test_proxy),
	    cmocka_unit_test(test_proxy_credentials),
	    cmocka_unit_test(test_ip_literal_skips_resolver),
	    cmocka_unit_test(test_name_lookup_deadline),
	    cmocka_unit_test(test_fetch_lookup_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
