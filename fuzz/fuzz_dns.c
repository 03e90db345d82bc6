/*
 * fuzz_dns.c: the two DNS message parsers, on datagrams from a lying peer.
 * Reaches: cki_dns_reply -> read_name (lib/net/probe_dns.c: the doctor reading
 * a --dns server's answer: compression pointers, truncation, RDLENGTH) and
 * cki_dns_parse_query -> cki_dns_build_reply (lab/lab_dns.c: the lab's
 * server reading a query).
 *
 * Oracles besides the sanitizers: every address the doctor keeps is a
 * NUL-terminated string inside its slot; every query the lab accepts has a
 * name of legal host-name bytes, and the reply built from it is accepted
 * by the doctor's own reader as the answer to that question.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_int.h"
#include "lab_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
reply(const uint8_t *m, size_t len, uint16_t qtype)
{
	char addrs[CKI_DOC_MAX_ADDRS][64];
	size_t n = 0;
	int rcode = 0;
	bool tc = false;
	/* The ID is the message's own, so the header check is passed and
	 * the parse reaches the names and records. */
	uint16_t id = len >= 2 ? (uint16_t)((m[0] << 8) | m[1]) : 0;

	if (cki_dns_reply(m, len, id, "printer.lab.test", qtype, &rcode, &tc,
	        addrs, CKI_DOC_MAX_ADDRS, &n)) {
		if (n > CKI_DOC_MAX_ADDRS || rcode < 0 || rcode > 15)
			abort();
		for (size_t i = 0; i < n; i++)
			if (memchr(addrs[i], '\0', sizeof(addrs[i])) == NULL)
				abort();
	}
}

static void
query(const uint8_t *m, size_t len)
{
	struct cki_dns_query q;
	uint8_t out[CKI_DNS_MAXMSG];
	static const uint8_t addr[4] = {127, 0, 0, 1};
	char addrs[CKI_DOC_MAX_ADDRS][64];
	size_t olen, n = 0;
	int rcode = -1;
	bool tc = false;

	if (cki_dns_parse_query(m, len, &q) != NULL)
		return;
	if (strlen(q.name) > CKI_DNS_MAXNAME)
		abort();
	for (const char *p = q.name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		        *p == '-' || *p == '_' || *p == '.'))
			abort();
	olen = cki_dns_build_reply(&q, 0, addr, out, sizeof(out));
	/* The root name ("") is not a question the doctor asks, and it
	 * only ever asks in class IN. */
	if (olen == 0 || q.name[0] == '\0' || q.qclass != CKI_DNS_CLASS_IN)
		return;
	if (!cki_dns_reply(out, olen, q.id, q.name, q.qtype, &rcode, &tc, addrs,
	        CKI_DOC_MAX_ADDRS, &n) ||
	    rcode != 0)
		abort();
	if (q.qtype == CKI_DNS_TYPE_A &&
	    (n != 1 || strcmp(addrs[0], "127.0.0.1") != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > 4096)
		return 0;
	switch (data[0] % 3) {
	case 0: reply(data + 1, size - 1, 1); break;
	case 1: reply(data + 1, size - 1, 28); break;
	default: query(data + 1, size - 1); break;
	}
	return 0;
}
