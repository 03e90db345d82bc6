/* describe.c: placeholder until ck_describe lands (being written now). */
#include "ck_internal.h"

ck_status
ck_describe(ck_ctx *ctx, const ck_bundle *b, char **json)
{
	(void)b;
	*json = NULL;
	return cki_err(ctx, CK_E_INTERNAL, "not built yet");
}

ck_status
ck_bundle_normalize(ck_ctx *ctx, ck_bundle *b)
{
	(void)ctx;
	(void)b;
	return CK_OK;
}
