/*
 * test_probe_dns.c: lib/net/probe_dns.c: the --dns query and the parsing of
 * replies, including spoofed, truncated and looping messages.
 */
#include <string.h>

#include "testutil.h"
#include "doctor_int.h"

static void
test_query(void **state)
{
	static const unsigned char want[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01,
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 2, 'o', 'k', 3, 'l', 'a', 'b',
	    4, 't', 'e', 's', 't', 0, 0x00, 0x01, 0x00, 0x01};
	unsigned char buf[300];
	char big[300];

	(void)state;
	assert_int_equal(
	    cki_dns_query("ok.lab.test", 1, 0x1234, buf, sizeof(buf)),
	    sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	/* An absolute name is the same question. */
	assert_int_equal(
	    cki_dns_query("ok.lab.test.", 1, 0x1234, buf, sizeof(buf)),
	    sizeof(want));
	/* Names that cannot be encoded. */
	assert_int_equal(cki_dns_query("", 1, 1, buf, sizeof(buf)), 0);
	assert_int_equal(cki_dns_query("a..b", 1, 1, buf, sizeof(buf)), 0);
	memset(big, 'a', 64);
	big[64] = '\0';
	assert_int_equal(cki_dns_query(big, 1, 1, buf, sizeof(buf)), 0);
	assert_int_equal(cki_dns_query("ok.lab.test", 1, 1, buf, 10), 0);
}

/* A reply to the query above with `rcode` and optional answers. */
static size_t
reply(unsigned char *m, uint16_t id, int rcode, int answers, bool compress)
{
	size_t n = cki_dns_query("ok.lab.test", 1, id, m, 512);

	m[2] = 0x81;                          /* QR, RD */
	m[3] = (unsigned char)(0x80 | rcode); /* RA */
	m[7] = (unsigned char)answers;
	for (int i = 0; i < answers; i++) {
		if (compress) {
			m[n++] = 0xc0;
			m[n++] = 12; /* pointer to the question name */
		} else {
			memcpy(m + n, "\x02ok\x03lab\x04test", 13);
			n += 13;
		}
		memcpy(m + n, "\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04", 10);
		n += 10;
		m[n++] = 127;
		m[n++] = 0;
		m[n++] = 0;
		m[n++] = (unsigned char)(1 + i);
	}
	return n;
}

static void
test_reply(void **state)
{
	unsigned char m[512];
	char addrs[4][64];
	size_t len, n;
	int rcode;
	bool tc;

	(void)state;
	len = reply(m, 7, 0, 2, true);
	assert_true(cki_dns_reply(
	    m, len, 7, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	assert_int_equal(rcode, 0);
	assert_int_equal(n, 2);
	assert_string_equal(addrs[0], "127.0.0.1");
	assert_string_equal(addrs[1], "127.0.0.2");
	len = reply(m, 7, 0, 1, false);
	assert_true(cki_dns_reply(
	    m, len, 7, "OK.Lab.Test", 1, &rcode, &tc, addrs, 4, &n));
	assert_int_equal(n, 1);
	/* NXDOMAIN, SERVFAIL, REFUSED keep their codes. */
	for (int rc = 2; rc <= 5; rc++) {
		len = reply(m, 9, rc, 0, true);
		assert_true(cki_dns_reply(
		    m, len, 9, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
		assert_int_equal(rcode, rc);
		assert_int_equal(n, 0);
	}
	/* Not ours: another ID, another question, a query, a short header. */
	len = reply(m, 7, 0, 1, true);
	assert_false(cki_dns_reply(
	    m, len, 8, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	assert_false(cki_dns_reply(
	    m, len, 7, "other.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	assert_false(cki_dns_reply(
	    m, len, 7, "ok.lab.test", 28, &rcode, &tc, addrs, 4, &n));
	m[2] &= 0x7f;
	assert_false(cki_dns_reply(
	    m, len, 7, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	assert_false(cki_dns_reply(
	    m, 11, 7, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	/* Truncated answers: what was complete is kept, nothing overruns. */
	len = reply(m, 7, 0, 2, true);
	for (size_t cut = 30; cut < len; cut++)
		assert_true(cki_dns_reply(m, cut, 7, "ok.lab.test", 1, &rcode,
		                &tc, addrs, 4, &n) &&
		    n <= 2);
	/* A pointer forward (or to itself) is refused, not followed. */
	len = reply(m, 7, 0, 1, true);
	m[30] = 0xc0;
	m[31] = 30;
	assert_true(cki_dns_reply(
	    m, len, 7, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	assert_int_equal(n, 0);
	/* TC is reported. */
	len = reply(m, 7, 0, 1, true);
	m[2] |= 0x02;
	assert_true(cki_dns_reply(
	    m, len, 7, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	assert_true(tc);
	/* At most `max` addresses. */
	len = reply(m, 7, 0, 3, true);
	assert_true(cki_dns_reply(
	    m, len, 7, "ok.lab.test", 1, &rcode, &tc, addrs, 1, &n));
	assert_int_equal(n, 1);
}

/* Records that answer another name are not answers: a server (or a spoofer)
 * adding an A record for some other name must not redirect the probe. A
 * CNAME chain from the question is followed. */
static void
test_reply_owner(void **state)
{
	unsigned char m[512];
	char addrs[4][64];
	size_t len, n;
	int rcode;
	bool tc;

	(void)state;
	/* One answer owned by "evil.test", not by "ok.lab.test". */
	len = cki_dns_query("ok.lab.test", 1, 7, m, 512);
	m[2] = 0x81;
	m[3] = 0x80;
	m[7] = 1;
	memcpy(m + len,
	    "\x04"
	    "evil"
	    "\x04"
	    "test"
	    "\x00",
	    11);
	len += 11;
	memcpy(m + len,
	    "\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x01", 14);
	len += 14;
	assert_true(cki_dns_reply(
	    m, len, 7, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	assert_int_equal(n, 0);

	/* ok.lab.test CNAME cdn.test; cdn.test A 10.0.0.2: followed. */
	len = cki_dns_query("ok.lab.test", 1, 8, m, 512);
	m[2] = 0x81;
	m[3] = 0x80;
	m[7] = 2;
	m[len++] = 0xc0;
	m[len++] = 12;
	memcpy(m + len, "\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x0a", 10);
	len += 10;
	memcpy(m + len,
	    "\x03"
	    "cdn\x04test\x00",
	    10);
	len += 10;
	memcpy(m + len,
	    "\x03"
	    "cdn\x04test\x00",
	    10);
	len += 10;
	memcpy(m + len,
	    "\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00\x00\x02", 14);
	len += 14;
	assert_true(cki_dns_reply(
	    m, len, 8, "ok.lab.test", 1, &rcode, &tc, addrs, 4, &n));
	assert_int_equal(n, 1);
	assert_string_equal(addrs[0], "10.0.0.2");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_reply),
	    cmocka_unit_test(test_reply_owner),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
