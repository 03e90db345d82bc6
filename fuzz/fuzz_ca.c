/*
 * fuzz_ca.c: what the issuing CA reads from the network: an OCSP request
 * (POST /ocsp) and a CSR (the enrollment routes), on arbitrary bytes.
 * Reaches (lib/ca/ca_ocsp.c): ck_ca_ocsp_respond -> d2i_OCSP_REQUEST ->
 * answer_all (issuer check, cid_serial, the lookup, nonce copy, signing);
 * (lib/ca/ca_issue.c): ck_ca_issue -> parse_csr (DER or PEM, the proof of
 * possession) -> check_key -> the certificate.
 *
 * Oracles besides the sanitizers: the responder always answers with a DER
 * OCSPResponse that parses; a serial handed to the lookup is 32 lower-case
 * hex digits; an issued certificate parses and has exactly the one
 * approved name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "ca_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ck_ca *the_ca;

static ck_status
lookup(void *arg, const char *serial, ck_ca_cert_state *st, int64_t *at,
    int *reason)
{
	char norm[CK_CA_SERIAL_HEX];

	(void)arg;
	if (!ck_ca_serial_norm(serial, norm) || strcmp(norm, serial) != 0)
		abort();
	*st = serial[31] < '8' ? CK_CA_GOOD : CK_CA_REVOKED;
	*at = 1780272000;
	*reason = serial[31] - '0';
	return CK_OK;
}

static ck_ca *
ca_once(ck_ctx *ctx)
{
	static const char *const files[] = {
	    "ca.key", "ca.pem", "root.key", "root.pem"};
	char dir[64] = "/tmp/certkit-fuzzca.XXXXXX", cadir[80], path[128];
	ck_ca_init_opts o = {.name = "fuzz CA"};
	size_t i;

	if (the_ca != NULL || mkdtemp(dir) == NULL)
		return the_ca;
	snprintf(cadir, sizeof(cadir), "%s/ca", dir);
	if (ck_ca_init(ctx, cadir, &o, &the_ca) != CK_OK)
		abort();
	/* The CA stays in memory; its files are not needed (no CRL here). */
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", cadir, files[i]);
		(void)unlink(path);
	}
	(void)rmdir(cadir);
	(void)rmdir(dir);
	return the_ca;
}

static void
check_issued(const ck_ca_issued *is)
{
	const unsigned char *p = is->der;
	X509 *x = d2i_X509(NULL, &p, (long)is->der_len);
	GENERAL_NAMES *gens;

	if (x == NULL)
		abort();
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (gens == NULL || sk_GENERAL_NAME_num(gens) != 1)
		abort();
	GENERAL_NAMES_free(gens);
	X509_free(x);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *names[] = {"gw.fuzz.test"};
	ck_ctx *ctx = ck_ctx_new();
	ck_ca *ca;
	uint8_t *resp = NULL;
	const unsigned char *p;
	size_t len = 0;
	OCSP_RESPONSE *r;
	ck_ca_issued is;

	if (ctx == NULL || (ca = ca_once(ctx)) == NULL)
		abort();
	if (ck_ca_ocsp_respond(
	        ctx, ca, data, size, lookup, NULL, 0, &resp, &len) == CK_OK) {
		p = resp;
		if ((r = d2i_OCSP_RESPONSE(NULL, &p, (long)len)) == NULL)
			abort();
		OCSP_RESPONSE_free(r);
	}
	free(resp);
	if (ck_ca_issue(ctx, ca, data, size, NULL, names, 1, &is) == CK_OK)
		check_issued(&is);
	ck_ca_issued_clear(&is);
	ck_ctx_free(ctx);
	return 0;
}
