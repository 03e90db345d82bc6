/*
 * fuzz_dn.c: the subject parser of `identity csr --subject DN`, on
 * arbitrary text.
 * Reaches (lib/identity/identity_gen.c): cki_parse_dn (the "/C=US/O=x" and
 * "C=US, O=x" forms, backslash escapes) -> dn_add (attribute names,
 * dotted OIDs, the C length rule) -> X509_NAME_add_entry_by_NID.
 *
 * Oracles besides the sanitizers: an accepted name has at least one entry
 * and no more entries than the text has '=' signs; a refused one leaves an
 * error message.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "identity_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ck_ctx *ctx;
	X509_NAME *name;
	char *s;
	int eq = 0;

	if (size > 4096 || (ctx = ck_ctx_new()) == NULL)
		return 0;
	/* A C string cut at the first NUL, exactly sized for ASan. */
	if ((s = malloc(size + 1)) == NULL)
		goto out;
	memcpy(s, data, size);
	s[size] = '\0';
	for (const char *p = s; *p != '\0'; p++)
		eq += *p == '=';
	if ((name = cki_parse_dn(ctx, s)) != NULL) {
		int n = X509_NAME_entry_count(name);

		if (n < 1 || n > eq)
			abort();
		X509_NAME_free(name);
	} else if (ck_ctx_error(ctx) == NULL || ck_ctx_error(ctx)[0] == '\0') {
		abort();
	}
out:
	free(s);
	ck_ctx_free(ctx);
	return 0;
}
