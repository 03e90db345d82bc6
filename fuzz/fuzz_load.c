/*
 * fuzz_load.c: the loader on arbitrary bytes.
 * Reaches: ck_load_mem -> load_pem (block splitter, every PEM label parser),
 * load_der (certificate, CRL, CSR, PKCS#7, PKCS#12, PKCS#8, key sniffing),
 * not_ours (garbage classification), then ck_describe on what loaded.
 * A fixed password is set so encrypted inputs are exercised too.
 */
#include <stdint.h>
#include <stdlib.h>

#include "certkit/certkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = NULL;
	char *json = NULL;

	if (ctx == NULL)
		return 0;
	if (ck_ctx_set_password(ctx, "secret") != CK_OK)
		goto out;
	ck_ctx_set_time(ctx, INT64_C(1780272000));
	if (ck_load_mem(ctx, "fuzz", data, size, &b) == CK_OK) {
		if (ck_describe(ctx, b, &json) == CK_OK)
			ck_free(json);
		if (ck_bundle_normalize(ctx, b) != CK_OK)
			goto out;
	}
out:
	ck_bundle_free(b);
	ck_ctx_free(ctx);
	return 0;
}
