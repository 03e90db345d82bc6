/*
 * fuzz_pkcs12.c: PKCS#12 parsing on arbitrary bytes.
 * Reaches: ck_load_mem -> load_der -> take_pkcs12 -> p12_password (MAC checks
 * with NULL, "" and a given password) -> PKCS12_parse, including the legacy
 * provider retry. The input is forced to look like DER so that every input
 * reaches the PKCS#12 path rather than the garbage classifier.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certkit/certkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ck_ctx *ctx;
	ck_bundle *b = NULL;
	uint8_t *buf;

	if (size > 1 << 20 || (buf = malloc(size + 1)) == NULL)
		return 0;
	buf[0] = 0x30; /* an ASN.1 SEQUENCE, as every PKCS#12 file starts */
	memcpy(buf + 1, data, size);
	if ((ctx = ck_ctx_new()) != NULL &&
	    ck_ctx_set_password(ctx, "secret") == CK_OK &&
	    ck_load_mem(ctx, "fuzz.p12", buf, size + 1, &b) == CK_OK)
		ck_bundle_free(b);
	ck_ctx_free(ctx);
	free(buf);
	return 0;
}
