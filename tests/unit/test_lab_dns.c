/*
 * test_lab_dns.c: the lab's DNS message parser and responder (lab_dns.c):
 * well-formed queries, every malformation the parser must refuse
 * (truncation, compression loops and forward pointers, oversized names and
 * labels, reserved label types), the replies, and the zone's answers.
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "lab_int.h"

/* A query message: header (ID 0xbeef, RD, QDCOUNT qd) + body bytes. */
static size_t
msg(uint8_t *out, uint16_t flags, uint16_t qd, const uint8_t *body, size_t blen)
{
	uint8_t h[12] = {0xbe, 0xef, (uint8_t)(flags >> 8),
	    (uint8_t)(flags & 0xff), (uint8_t)(qd >> 8), (uint8_t)qd, 0, 0, 0,
	    0, 0, 0};

	memcpy(out, h, 12);
	memcpy(out + 12, body, blen);
	return 12 + blen;
}

/* Encodes "a.b.c" + QTYPE A, QCLASS IN. */
static size_t
question(uint8_t *out, const char *name)
{
	size_t pos = 0;
	const char *p = name;

	while (*p != '\0') {
		size_t l = strcspn(p, ".");

		out[pos++] = (uint8_t)l;
		memcpy(out + pos, p, l);
		pos += l;
		p += l;
		if (*p == '.')
			p++;
	}
	out[pos++] = 0;
	memcpy(out + pos, "\x00\x01\x00\x01", 4);
	return pos + 4;
}

struct bad_case {
	const char *what;
	uint16_t flags, qd;
	const uint8_t *body;
	size_t blen;
	const char *why; /* the start of the reason */
};

static void
test_parse_good(void **state)
{
	uint8_t body[300], pkt[400];
	struct cki_dns_query q;
	size_t n;

	(void)state;
	n = msg(pkt, 0x0100, 1, body, question(body, "Ok.LAB.test"));
	assert_null(cki_dns_parse_query(pkt, n, &q));
	assert_string_equal(q.name, "ok.lab.test");
	assert_int_equal(q.id, 0xbeef);
	assert_int_equal(q.qtype, CKI_DNS_TYPE_A);
	assert_int_equal(q.qclass, CKI_DNS_CLASS_IN);

	/* The root name. */
	n = msg(pkt, 0, 1, (const uint8_t *)"\x00\x00\x01\x00\x01", 5);
	assert_null(cki_dns_parse_query(pkt, n, &q));
	assert_string_equal(q.name, "");

	/* An EDNS OPT record after the question (ARCOUNT 1, RFC 6891) is
	 * ignored, not an error. */
	n = question(body, "ok.lab.test");
	memcpy(body + n, "\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00", 11);
	n = msg(pkt, 0x0100, 1, body, n + 11);
	pkt[11] = 1;
	assert_null(cki_dns_parse_query(pkt, n, &q));
	assert_string_equal(q.name, "ok.lab.test");
}

static void
test_parse_limits(void **state)
{
	uint8_t body[600], pkt[700];
	struct cki_dns_query q;
	size_t pos = 0, n;

	(void)state;
	/* 255 octets exactly (RFC 1035 2.3.4): 3 labels of 63, one of 61,
	 * and the root: 3*64 + 62 + 1. */
	for (int i = 0; i < 3; i++) {
		body[pos++] = 63;
		memset(body + pos, 'a', 63);
		pos += 63;
	}
	body[pos++] = 61;
	memset(body + pos, 'b', 61);
	pos += 61;
	body[pos++] = 0;
	memcpy(body + pos, "\x00\x01\x00\x01", 4);
	n = msg(pkt, 0, 1, body, pos + 4);
	assert_null(cki_dns_parse_query(pkt, n, &q));
	assert_int_equal(strlen(q.name), 253);

	/* One more octet in the last label: 256. */
	pos = 0;
	for (int i = 0; i < 3; i++) {
		body[pos++] = 63;
		memset(body + pos, 'a', 63);
		pos += 63;
	}
	body[pos++] = 62;
	memset(body + pos, 'b', 62);
	pos += 62;
	body[pos++] = 0;
	memcpy(body + pos, "\x00\x01\x00\x01", 4);
	n = msg(pkt, 0, 1, body, pos + 4);
	assert_non_null(cki_dns_parse_query(pkt, n, &q));

	/* Five full labels: far over, refused before the buffer could
	 * overflow. */
	pos = 0;
	for (int i = 0; i < 5; i++) {
		body[pos++] = 63;
		memset(body + pos, 'c', 63);
		pos += 63;
	}
	body[pos++] = 0;
	memcpy(body + pos, "\x00\x01\x00\x01", 4);
	n = msg(pkt, 0, 1, body, pos + 4);
	assert_string_equal(
	    cki_dns_parse_query(pkt, n, &q), "name longer than 255 octets");
}

static void
test_parse_bad(void **state)
{
	static const uint8_t ok[] = "\x02ok\x03lab\x04test\x00\x00\x01\x00\x01";
	static const struct bad_case cases[] = {
	    {"a response", 0x8100, 1, ok, sizeof(ok) - 1, "a response"},
	    {"opcode STATUS", 0x1000, 1, ok, sizeof(ok) - 1,
	        "not a standard query"},
	    {"no question", 0, 0, ok, sizeof(ok) - 1, "expected exactly"},
	    {"two questions", 0, 2, ok, sizeof(ok) - 1, "expected exactly"},
	    {"no body", 0, 1, (const uint8_t *)"", 0, "truncated name"},
	    {"label past the end", 0, 1, (const uint8_t *)"\x05ok", 3,
	        "truncated label"},
	    {"no terminator", 0, 1, (const uint8_t *)"\x02ok", 3,
	        "truncated name"},
	    {"no QTYPE/QCLASS", 0, 1, (const uint8_t *)"\x02ok\x00\x00", 5,
	        "truncated question"},
	    {"pointer to itself", 0, 1,
	        (const uint8_t *)"\xc0\x0c\x00\x01\x00\x01", 6,
	        "bad compression pointer"},
	    {"label then loop back", 0, 1,
	        (const uint8_t *)"\x01"
	                         "a\xc0\x0c\x00\x01\x00\x01",
	        8, "bad compression pointer"},
	    {"pointer forward", 0, 1,
	        (const uint8_t *)"\xc0\x0e\x01"
	                         "a\x00\x00\x01\x00\x01",
	        9, "bad compression pointer"},
	    {"pointer into the header", 0, 1,
	        (const uint8_t *)"\xc0\x02\x00\x01\x00\x01", 6,
	        "bad compression pointer"},
	    {"pointer cut in half", 0, 1, (const uint8_t *)"\xc0", 1,
	        "truncated compression pointer"},
	    {"label type 0x40", 0, 1,
	        (const uint8_t *)"\x41"
	                         "a\x00\x00\x01\x00\x01",
	        7, "reserved label type"},
	    {"label type 0x80", 0, 1,
	        (const uint8_t *)"\x81"
	                         "a\x00\x00\x01\x00\x01",
	        7, "reserved label type"},
	    {"a NUL in a label", 0, 1,
	        (const uint8_t *)"\x02o\x00\x00\x00\x01\x00\x01", 8,
	        "label holds"},
	    {"a dot in a label", 0, 1,
	        (const uint8_t *)"\x03o.k\x00\x00\x01\x00\x01", 9,
	        "label holds"},
	    {"a space in a label", 0, 1,
	        (const uint8_t *)"\x03o k\x00\x00\x01\x00\x01", 9,
	        "label holds"},
	};
	uint8_t pkt[600];
	struct cki_dns_query q;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		size_t n = msg(pkt, c->flags, c->qd, c->body, c->blen);
		const char *why = cki_dns_parse_query(pkt, n, &q);

		if (why == NULL || strncmp(why, c->why, strlen(c->why)) != 0)
			fail_msg("%s: expected '%s', got '%s'", c->what, c->why,
			    why != NULL ? why : "(accepted)");
	}
	/* Short headers, every length. */
	for (size_t n = 0; n < CKI_DNS_HDRLEN; n++)
		assert_string_equal(
		    cki_dns_parse_query(pkt, n, &q), "truncated header");
}

static void
test_parse_random(void **state)
{
	uint8_t pkt[600];
	struct cki_dns_query q;
	uint32_t x = 0x12345678;

	(void)state;
	/* Garbage never crashes the parser or overruns q.name (ASan). Half
	 * the packets get a plausible header so the name code runs. */
	for (int i = 0; i < 200000; i++) {
		size_t n;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		n = x % sizeof(pkt);
		for (size_t k = 0; k < n; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			pkt[k] = (uint8_t)x;
			if ((x & 0x30) == 0 && k >= 12)
				pkt[k] = (uint8_t)(x % 64);
		}
		if ((i & 1) && n >= 12) {
			pkt[2] = 1;
			pkt[3] = 0;
			pkt[4] = 0;
			pkt[5] = 1;
		}
		if (cki_dns_parse_query(pkt, n, &q) == NULL)
			assert_true(strlen(q.name) <= CKI_DNS_MAXNAME);
	}
}

static void
test_reply(void **state)
{
	uint8_t body[300], pkt[400], out[CKI_DNS_MAXMSG], small[64];
	static const uint8_t addr[4] = {127, 0, 0, 1};
	struct cki_dns_query q;
	size_t n, qlen;

	(void)state;
	qlen = question(body, "ok.lab.test");
	n = msg(pkt, 0x0100, 1, body, qlen);
	assert_null(cki_dns_parse_query(pkt, n, &q));
	n = cki_dns_build_reply(&q, CKI_DNS_NOERROR, addr, out, sizeof(out));
	assert_int_equal(n, 12 + qlen + 16);
	assert_int_equal(out[0], 0xbe);
	assert_int_equal(out[1], 0xef);
	assert_int_equal(out[2], 0x85); /* QR, AA, RD */
	assert_int_equal(out[3], 0x00);
	assert_int_equal(out[7], 1); /* ANCOUNT */
	assert_memory_equal(out + 12, body, qlen);
	assert_memory_equal(out + 12 + qlen, "\xc0\x0c\x00\x01\x00\x01", 6);
	assert_memory_equal(out + n - 4, addr, 4);

	n = cki_dns_build_reply(&q, CKI_DNS_NXDOMAIN, NULL, out, sizeof(out));
	assert_int_equal(n, 12 + qlen);
	assert_int_equal(out[3] & 0xf, CKI_DNS_NXDOMAIN);
	assert_int_equal(out[7], 0);
	/* No room: nothing written. */
	assert_int_equal(
	    cki_dns_build_reply(&q, 0, addr, small, sizeof(small)), 0);

	/* FORMERR keeps the ID, answers no question; NOTIMP for other
	 * opcodes; never an answer to a response or a short header. */
	n = msg(pkt, 0x0100, 0, body, 0);
	assert_int_equal(cki_dns_build_formerr(pkt, n, out, sizeof(out)), 12);
	assert_int_equal(out[0], 0xbe);
	assert_int_equal(out[3] & 0xf, CKI_DNS_FORMERR);
	assert_int_equal(out[5], 0);
	n = msg(pkt, 0x2000, 1, body, 0);
	assert_int_equal(cki_dns_build_formerr(pkt, n, out, sizeof(out)), 12);
	assert_int_equal(out[3] & 0xf, CKI_DNS_NOTIMP);
	n = msg(pkt, 0x8000, 1, body, 0);
	assert_int_equal(cki_dns_build_formerr(pkt, n, out, sizeof(out)), 0);
	assert_int_equal(cki_dns_build_formerr(pkt, 11, out, sizeof(out)), 0);
}

static void
test_lookup(void **state)
{
	static const struct {
		const char *name;
		enum cki_lab_dns_answer a;
	} cases[] = {
	    {"ok.lab.test", CKI_LAB_DNS_ADDR},
	    {"cloud.lab.test", CKI_LAB_DNS_ADDR},
	    {"other.lab.test", CKI_LAB_DNS_ADDR},
	    {"printer.lab.test", CKI_LAB_DNS_ADDR},
	    {"nxdomain.lab.test", CKI_LAB_DNS_NXDOMAIN},
	    {"nobody.lab.test", CKI_LAB_DNS_NXDOMAIN},
	    {"lab.test", CKI_LAB_DNS_NXDOMAIN},
	    {"servfail.lab.test", CKI_LAB_DNS_SERVFAIL},
	    {"timeout.lab.test", CKI_LAB_DNS_SILENT},
	    {"sinkhole.lab.test", CKI_LAB_DNS_SINKHOLE},
	    {"example.com", CKI_LAB_DNS_REFUSED},
	    {"xlab.test", CKI_LAB_DNS_REFUSED},
	    {"lab.test.evil", CKI_LAB_DNS_REFUSED},
	    {"", CKI_LAB_DNS_REFUSED},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cki_lab_dns_lookup(cases[i].name) != cases[i].a)
			fail_msg("%s: expected answer %d, got %d",
			    cases[i].name, cases[i].a,
			    cki_lab_dns_lookup(cases[i].name));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_parse_random),
	    cmocka_unit_test(test_reply),
	    cmocka_unit_test(test_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
