/*
 * fuzz_doctor_parse.c: the doctor's text parsers on arbitrary input, as
 * they come from the command line, a profile, the environment or a peer.
 * Reaches (lib/net/hostport.c): cki_net_parse_endpoint ->
 * cki_net_parse_hostport -> cki_net_set_host -> cki_net_valid_host;
 * cki_net_parse_dns; (lib/net/proxy.c) cki_net_parse_proxy -> pct_decode,
 * redact_url; cki_net_no_proxy_match -> no_proxy_entry -> cidr_match;
 * (lib/doctor/doctor_parse.c) cki_doc_parse_resolve; cki_doc_parse_pin;
 * cki_doc_parse_http_date; cki_doc_parse_http_head (a proxy's CONNECT
 * reply, raw bytes).
 *
 * Oracles besides the sanitizers: a proxy password ("pw" plus a marker
 * byte the input cannot contain) never appears in an error or in the
 * display form; an accepted endpoint host is a valid host; an accepted
 * HTTP head is no longer than its input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
text(const char *s)
{
	struct cki_hostport hp;
	struct cki_proxy px;
	struct sockaddr_storage ss;
	socklen_t sl;
	char err[256], url[1200], **addrs = NULL;
	size_t naddrs = 0;
	unsigned char pin[32];
	int64_t t;
	bool ip;

	if (cki_net_parse_endpoint(s, &hp, err, sizeof(err)) &&
	    !cki_net_valid_host(hp.host, &ip))
		abort();
	if (cki_doc_parse_resolve(s, &hp, &addrs, &naddrs, err, sizeof(err))) {
		if (naddrs == 0 || naddrs > CKI_DOC_MAX_ADDRS)
			abort();
		for (size_t i = 0; i < naddrs; i++)
			free(addrs[i]);
		free(addrs);
	}
	(void)cki_net_parse_dns(s, &ss, &sl, err, sizeof(err));
	/* The input as the host part, behind credentials it cannot spell
	 * (0x01 never survives the text() filter). */
	snprintf(url, sizeof(url), "http://user:pw\x01@%s", s);
	err[0] = '\0';
	if (cki_net_parse_proxy(url, &px, err, sizeof(err))) {
		if (px.auth == NULL || strstr(px.display, "pw\x01") != NULL)
			abort();
	} else if (strstr(err, "pw\x01") != NULL) {
		abort();
	}
	cki_proxy_clear(&px);
	/* ...and as the whole URL, which may hold its own password. */
	if (cki_net_parse_proxy(s, &px, err, sizeof(err)))
		cki_proxy_clear(&px);
	(void)cki_net_no_proxy_match(s, "api.example.com", 443);
	(void)cki_net_no_proxy_match(s, "10.20.30.40", 8443);
	(void)cki_net_no_proxy_match(s, "2001:db8::5", 443);
	(void)cki_doc_parse_pin(s, pin);
	(void)cki_doc_parse_http_date(s, &t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cki_http_head h;
	char *s;
	int rc;

	if (size > 8192)
		return 0;
	rc = cki_doc_parse_http_head((const char *)data, size, &h);
	if (rc > 0 && (h.head_len > size || h.status < 0 || h.status > 999))
		abort();
	/* The text parsers take C strings: cut at the first NUL, and keep
	 * the marker byte out. Exactly sized, so ASan sees any over-read. */
	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	for (size_t i = 0; i < size; i++)
		if (s[i] == '\x01')
			s[i] = '.';
	text(s);
	free(s);
	return 0;
}
