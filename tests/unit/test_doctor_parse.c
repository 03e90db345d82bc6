/*
 * test_doctor_parse.c: lib/doctor/doctor_parse.c: endpoints, --resolve, --dns,
 * proxy URLs, NO_PROXY, pins, HTTP heads and dates. Table-driven, with the
 * inputs an admin gets wrong.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "doctor_int.h"

static void
test_endpoints(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		const char *host;
		unsigned port;
		bool ip;
		const char *err; /* fragment of the message */
	} t[] = {
	    {"nxvms.com", true, "nxvms.com", 443, false, NULL},
	    {"NXVMS.com:8443", true, "nxvms.com", 8443, false, NULL},
	    {"api.astarte.zpecloud.com.", true, "api.astarte.zpecloud.com.",
	        443, false, NULL},
	    {"192.0.2.7:2560", true, "192.0.2.7", 2560, true, NULL},
	    {"[2001:db8::1]:8443", true, "2001:db8::1", 8443, true, NULL},
	    {"[::1]", true, "::1", 443, true, NULL},
	    {"::1", true, "::1", 443, true, NULL},
	    {"https://primary-host/safeq", true, "primary-host", 443, false,
	        NULL},
	    {"HTTPS://cams.example.test:7001/api?x=1", true,
	        "cams.example.test", 7001, false, NULL},
	    {"svc_gw.example.test", true, "svc_gw.example.test", 443, false,
	        NULL},
	    /* negative */
	    {"", false, NULL, 0, false, "empty"},
	    {"host:0", false, NULL, 0, false, "not a port"},
	    {"host:65536", false, NULL, 0, false, "not a port"},
	    {"host:https", false, NULL, 0, false, "not a port"},
	    {"host:", false, NULL, 0, false, "not a port"},
	    {"ftp://host", false, NULL, 0, false, "only https://"},
	    {"https://user@host/", false, NULL, 0, false, "credentials"},
	    {"bad host", false, NULL, 0, false, "HOST[:PORT]"},
	    {"[::1", false, NULL, 0, false, "closing"},
	    {"[192.0.2.1]:443", false, NULL, 0, false, "not an IPv6"},
	    {"[::1]x", false, NULL, 0, false, "PORT"},
	    {"-bad.example", false, NULL, 0, false, "not a host name"},
	    {"a..b", false, NULL, 0, false, "not a host name"},
	    {"bad-.example", false, NULL, 0, false, "not a host name"},
	    {"1:2:3", false, NULL, 0, false, "not a host name or an IP"},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     ".example",
	        false, NULL, 0, false, "not a host name"},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cki_hostport hp;
		bool ok;

		err[0] = '\0';
		ok = cki_net_parse_endpoint(t[i].in, &hp, err, sizeof(err));
		if (ok != t[i].ok)
			fail_msg("'%s': expected %s, got %s (%s)", t[i].in,
			    t[i].ok ? "ok" : "error", ok ? "ok" : "error", err);
		if (ok) {
			assert_string_equal(hp.host, t[i].host);
			assert_int_equal(hp.port, t[i].port);
			assert_int_equal(hp.is_ip, t[i].ip);
		} else if (strstr(err, t[i].err) == NULL) {
			fail_msg("'%s': message '%s' lacks '%s'", t[i].in, err,
			    t[i].err);
		}
	}
}

static void
test_resolve(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		size_t n;
		const char *first;
	} t[] = {
	    {"nxvms.com:443:127.0.0.1", true, 1, "127.0.0.1"},
	    {"nxvms.com:443:[::1]", true, 1, "::1"},
	    {"nxvms.com:443:192.0.2.1,[2001:db8::2]", true, 2, "192.0.2.1"},
	    {"nxvms.com:443", false, 0, NULL},
	    {"nxvms.com:x:127.0.0.1", false, 0, NULL},
	    {"nxvms.com:443:host.example", false, 0, NULL},
	    {"nxvms.com:443:", false, 0, NULL},
	    {"nxvms.com:443:1.2.3.4,", false, 0, NULL},
	    {"bad host:443:1.2.3.4", false, 0, NULL},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cki_hostport hp;
		char **a = NULL;
		size_t n = 0;
		bool ok = cki_doc_parse_resolve(
		    t[i].in, &hp, &a, &n, err, sizeof(err));

		if (ok != t[i].ok)
			fail_msg("'%s': expected %s (%s)", t[i].in,
			    t[i].ok ? "ok" : "error", err);
		if (ok) {
			assert_int_equal(n, t[i].n);
			assert_string_equal(a[0], t[i].first);
			assert_int_equal(hp.port, 443);
		} else {
			assert_null(a);
			assert_true(strstr(err, t[i].in) != NULL ||
			    strstr(err, "not") != NULL);
		}
		for (size_t k = 0; k < n; k++)
			free(a[k]);
		free(a);
	}
}

static void
test_dns(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		unsigned port;
	} t[] = {
	    {"127.0.0.1", true, 53},
	    {"127.0.0.1:5353", true, 5353},
	    {"[::1]:53", true, 53},
	    {"::1", true, 53},
	    {"dns.example:53", false, 0},
	    {"127.0.0.1:0", false, 0},
	    {"", false, 0},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		bool ok =
		    cki_net_parse_dns(t[i].in, &ss, &len, err, sizeof(err));

		if (ok != t[i].ok)
			fail_msg("'%s': expected %s (%s)", t[i].in,
			    t[i].ok ? "ok" : "error", err);
		if (ok) {
			unsigned port = ss.ss_family == AF_INET
			    ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
			    : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);

			assert_int_equal(port, t[i].port);
		}
	}
}

static void
test_proxy(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		const char *host;
		unsigned port;
		const char *auth; /* base64, or NULL */
		const char *display;
	} t[] = {
	    {"http://proxy.corp:3128", true, "proxy.corp", 3128, NULL,
	        "http://proxy.corp:3128"},
	    {"proxy.corp:8080", true, "proxy.corp", 8080, NULL,
	        "http://proxy.corp:8080"},
	    {"http://proxy.corp", true, "proxy.corp", 1080, NULL,
	        "http://proxy.corp:1080"},
	    /* base64("admin:p@ss w") */
	    {"http://admin:p%40ss%20w@10.0.0.1:3128/", true, "10.0.0.1", 3128,
	        "YWRtaW46cEBzcyB3", "http://admin:***@10.0.0.1:3128"},
	    {"http://[::1]:3128", true, "::1", 3128, NULL, "http://[::1]:3128"},
	    {"https://proxy:3128", false, NULL, 0, NULL, NULL},
	    {"socks5://proxy:1080", false, NULL, 0, NULL, NULL},
	    {"http://admin@proxy:3128", false, NULL, 0, NULL, NULL},
	    {"http://proxy:3128/path", false, NULL, 0, NULL, NULL},
	    {"http://a:b%zz@proxy:1", false, NULL, 0, NULL, NULL},
	    {"http://a:b%00c@proxy:1", false, NULL, 0, NULL, NULL},
	    {"http://proxy:99999", false, NULL, 0, NULL, NULL},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cki_proxy p;
		bool ok = cki_net_parse_proxy(t[i].in, &p, err, sizeof(err));

		if (ok != t[i].ok)
			fail_msg("'%s': expected %s (%s)", t[i].in,
			    t[i].ok ? "ok" : "error", err);
		if (ok) {
			assert_string_equal(p.host, t[i].host);
			assert_int_equal(p.port, t[i].port);
			if (t[i].auth == NULL)
				assert_null(p.auth);
			else
				assert_string_equal(p.auth, t[i].auth);
			assert_string_equal(p.display, t[i].display);
			/* Never the password in what is shown. */
			assert_null(strstr(p.display, "p@ss"));
		}
		cki_proxy_clear(&p);
	}
}

/* A rejected proxy URL is quoted in the error: never with its password. */
static void
test_proxy_errors_hide_password(void **state)
{
	static const char *const bad[] = {
	    "https://admin:s3cret@proxy:3128",
	    "socks5://admin:s3cret@proxy:1080",
	    "http://admin:s3cret@proxy:3128/path",
	    "admin:s3cret@proxy:3128?x",
	    "http://admin:s3cret@proxy:99999",
	    "http://admin:s3cret@bad_host-:1",
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cki_proxy p;

		err[0] = '\0';
		assert_false(cki_net_parse_proxy(bad[i], &p, err, sizeof(err)));
		assert_null(p.auth);
		if (err[0] == '\0' || strstr(err, "s3cret") != NULL)
			fail_msg("'%s': the error shows the password: %s",
			    bad[i], err);
		cki_proxy_clear(&p);
	}
}

static void
test_no_proxy(void **state)
{
	static const struct {
		const char *np, *host;
		unsigned port;
		bool match;
	} t[] = {
	    {"*", "anything.example", 443, true},
	    {"example.com", "example.com", 443, true},
	    {"example.com", "api.example.com", 443, true},
	    {".example.com", "api.example.com", 443, true},
	    {".example.com", "example.com", 443, true},
	    {"*.example.com", "a.b.example.com", 443, true},
	    {"example.com", "badexample.com", 443, false},
	    {"example.com", "example.com.evil", 443, false},
	    /* An IP host is matched by address or range, never as a name. */
	    {"0.0.1", "10.0.0.1", 443, false},
	    {".0.1", "10.0.0.1", 443, false},
	    {"0.1", "10.0.0.1", 443, false},
	    {"EXAMPLE.COM", "api.example.com", 443, true},
	    {"example.com:8443", "example.com", 8443, true},
	    {"example.com:8443", "example.com", 443, false},
	    {"localhost, 127.0.0.1 ,::1", "127.0.0.1", 443, true},
	    {"localhost,127.0.0.1,::1", "::1", 443, true},
	    {"[::1]:443", "::1", 443, true},
	    {"10.0.0.0/8", "10.20.30.40", 443, true},
	    {"10.0.0.0/8", "11.0.0.1", 443, false},
	    {"192.168.1.0/24", "192.168.1.77", 443, true},
	    {"2001:db8::/32", "2001:db8:1::5", 443, true},
	    {"2001:db8::/32", "2001:db9::5", 443, false},
	    /* 2^32 + 8 bits is no /8, whatever the cast to int makes it */
	    {"10.0.0.0/4294967304", "10.20.30.40", 443, false},
	    {"10.0.0.0/-4294967288", "10.20.30.40", 443, false},
	    {"10.0.0.0/40", "10.0.0.1", 443, false},
	    {"127.0.0.1", "127.0.0.2", 443, false},
	    {"", "example.com", 443, false},
	    {",,", "example.com", 443, false},
	    {"nxvms.com,zpecloud.com", "api.astarte.zpecloud.com", 443, true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (cki_net_no_proxy_match(
		        t[i].np, t[i].host, (uint16_t)t[i].port) != t[i].match)
			fail_msg("NO_PROXY='%s' host %s:%u: expected %s",
			    t[i].np, t[i].host, t[i].port,
			    t[i].match ? "match" : "no match");
	assert_false(cki_net_no_proxy_match(NULL, "x", 1));
}

static void
test_pins(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		unsigned char first;
	} t[] = {
	    {"ab0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"
	     "1e1f",
	        true, 0xab},
	    {"AB:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:"
	     "14:15:16:17:18:19:1A:1B:1C:1D:1E:1F",
	        true, 0xab},
	    /* base64 of 32 bytes 0x00..0x1f */
	    {"sha256/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", true, 0x00},
	    {"pin-sha256:\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"",
	        true, 0x00},
	    {"spki:ab0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c"
	     "1d1e1f",
	        true, 0xab},
	    {"ab01", false, 0},
	    {"zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d"
	     "1e1f",
	        false, 0},
	    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", false, 0},
	    {"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==", false, 0},
	    {"", false, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		unsigned char pin[32];
		bool ok = cki_doc_parse_pin(t[i].in, pin);

		if (ok != t[i].ok)
			fail_msg("pin '%s': expected %s", t[i].in,
			    t[i].ok ? "ok" : "error");
		if (ok) {
			assert_int_equal(pin[0], t[i].first);
			assert_int_equal(pin[31], 0x1f);
		}
	}
}

static void
test_http_date(void **state)
{
	static const struct {
		const char *in;
		bool ok;
		int64_t t;
	} t[] = {
	    /* RFC 9110 5.6.7's three examples: 784111777 */
	    {"Sun, 06 Nov 1994 08:49:37 GMT", true, 784111777},
	    {"Sunday, 06-Nov-94 08:49:37 GMT", true, 784111777},
	    {"Sun Nov  6 08:49:37 1994", true, 784111777},
	    {"Mon, 01 Jun 2026 00:00:00 GMT", true, 1780272000},
	    {"  Mon, 01 Jun 2026 00:00:00 GMT", true, 1780272000},
	    {"Mon, 01 Jun 2026 00:00:00 UTC", false, 0},
	    {"Mon, 01 Foo 2026 00:00:00 GMT", false, 0},
	    {"Mon, 01 Jun 2026 25:00:00 GMT", false, 0},
	    {"Mon, 32 Jun 2026 00:00:00 GMT", false, 0},
	    {"yesterday", false, 0},
	    {"", false, 0},
	    /* cut short right after the day's first digit: no read past
	     * the end (each input is copied to the heap, ASan watches) */
	    {"Mon, 0", false, 0},
	    {"Mon,5", false, 0},
	    {"Mon, 01", false, 0},
	    {"Mon, 01 Jun", false, 0},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t v = 0;
		char *in = strdup(t[i].in);
		bool ok;

		assert_non_null(in);
		ok = cki_doc_parse_http_date(in, &v);
		free(in);

		if (ok != t[i].ok)
			fail_msg("date '%s': expected %s", t[i].in,
			    t[i].ok ? "ok" : "error");
		if (ok)
			assert_int_equal(v, t[i].t);
	}
}

static void
test_http_head(void **state)
{
	static const struct {
		const char *in;
		int rc, status;
		const char *date, *pauth;
	} t[] = {
	    {"HTTP/1.1 200 Connection established\r\n\r\n", 1, 200, "", ""},
	    {"HTTP/1.1 407 Proxy Authentication Required\r\n"
	     "Proxy-Authenticate: Basic realm=\"corp\"\r\n"
	     "Content-Length: 0\r\n\r\n",
	        1, 407, "", "Basic realm=\"corp\""},
	    {"HTTP/1.0 403 Forbidden\r\ndate: Mon, 01 Jun 2026 00:00:00 "
	     "GMT\r\n\r\nbody",
	        1, 403, "Mon, 01 Jun 2026 00:00:00 GMT", ""},
	    {"HTTP/1.1 200 OK\n\n", 1, 200, "", ""},
	    {"HTTP/1.1 200 OK\r\nServer: x\r\n", 0, 0, "", ""},
	    {"HTT", 0, 0, "", ""},
	    {"SSH-2.0-OpenSSH_9.2\r\n", -1, 0, "", ""},
	    {"\x16\x03\x01\x00\x05", -1, 0, "", ""},
	    {"HTTP/1.1 2x0 OK\r\n\r\n", -1, 0, "", ""},
	    {"HTTP/x.1 200 OK\r\n\r\n", -1, 0, "", ""},
	    /* A line end inside the status line, before the reason: found
	     * by fuzz_doctor_parse (the reason's length went negative). */
	    {"HTTP/1.\n 407 Pro\r\nProxy-Authenticate: Basic\r\n\r\n", -1, 0,
	        "", ""},
	    {"HTTP/1.1\n200 OK\n\n", -1, 0, "", ""},
	    {"HTTP/1.1 200\r\n\r\n", 1, 200, "", ""},
	    {"HTTP/1.1 200\n\n", 1, 200, "", ""},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cki_http_head h;
		/* Exactly sized on the heap: ASan sees any over-read. */
		size_t len = strlen(t[i].in);
		char *in = malloc(len);
		int rc;

		assert_non_null(in);
		memcpy(in, t[i].in, len);
		rc = cki_doc_parse_http_head(in, len, &h);
		free(in);

		if (rc != t[i].rc)
			fail_msg(
			    "head %zu: expected %d, got %d", i, t[i].rc, rc);
		if (rc == 1) {
			assert_int_equal(h.status, t[i].status);
			assert_string_equal(h.date, t[i].date);
			assert_string_equal(h.proxy_auth, t[i].pauth);
		}
	}
}

static void
test_http_body_wanted(void **state)
{
	static const struct {
		const char *in;
		long long clen;
		bool wants;
	} t[] = {
	    {"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
	     "Content-Length: 80\r\nRetry-After: 30\r\n\r\n",
	        80, true},
	    {"HTTP/1.1 403 Forbidden\r\ncontent-type: "
	     "Application/Problem+JSON; charset=utf-8\r\n\r\n",
	        -1, true},
	    {"HTTP/1.1 401 Unauthorized\r\nContent-Type: "
	     "application/problem+json\r\nTransfer-Encoding: chunked\r\n\r\n",
	        -1, false},
	    {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n", -1,
	        false},
	    {"HTTP/1.1 403 Forbidden\r\nContent-Type: text/html\r\n\r\n", -1,
	        false},
	    {"HTTP/1.1 403 Forbidden\r\nContent-Type: application/jsonx\r\n"
	     "\r\n",
	        -1, false},
	    {"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
	     "Content-Length: 0\r\n\r\n",
	        0, false},
	    {"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
	     "Content-Length: 1x\r\n\r\n",
	        -1, true},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cki_http_head h;

		assert_int_equal(
		    cki_doc_parse_http_head(t[i].in, strlen(t[i].in), &h), 1);
		if (h.content_length != t[i].clen ||
		    cki_doc_http_wants_body(&h) != t[i].wants)
			fail_msg("head %zu: length %lld, wants %d", i,
			    h.content_length, cki_doc_http_wants_body(&h));
	}
}

static void
test_valid_host(void **state)
{
	bool ip;

	(void)state;
	assert_true(cki_net_valid_host("a.b", &ip));
	assert_false(ip);
	assert_true(cki_net_valid_host("10.1.2.3", &ip));
	assert_true(ip);
	assert_false(cki_net_valid_host("", &ip));
	assert_false(cki_net_valid_host(".", &ip));
	assert_false(cki_net_valid_host("a b", &ip));
	assert_false(cki_net_valid_host("a/b", &ip));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_endpoints),
	    cmocka_unit_test(test_http_body_wanted),
	    cmocka_unit_test(test_resolve),
	    cmocka_unit_test(test_dns),
	    cmocka_unit_test(test_proxy),
	    cmocka_unit_test(test_proxy_errors_hide_password),
	    cmocka_unit_test(test_no_proxy),
	    cmocka_unit_test(test_pins),
	    cmocka_unit_test(test_http_date),
	    cmocka_unit_test(test_http_head),
	    cmocka_unit_test(test_valid_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
