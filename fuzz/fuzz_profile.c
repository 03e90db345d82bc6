/*
 * fuzz_profile.c: a doctor profile (`doctor --profile FILE`) on arbitrary
 * bytes, as cki_doc_load_profile reads it after cki_read_file.
 * Reaches (lib/doctor/doctor_profile.c): cki_doc_load_profile_mem -> parse ->
 * ini_parse_stream (inih) -> reader, handler -> start_section,
 * finish_section, each_item -> add_pin (cki_doc_parse_pin), add_root,
 * add_addr (cki_doc_parse_resolve), resolve_path; and through the host
 * and proxy keys cki_net_parse_endpoint and cki_net_parse_proxy
 * (lib/net/hostport.c, lib/net/proxy.c).
 *
 * Oracles besides the sanitizers: a profile is all or nothing (an error
 * adds no endpoint); every endpoint added has a valid host, a port and a
 * name.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "doctor_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ck_ctx *ctx;
	struct cki_endpoint *eps = NULL;
	size_t n = 0, cap = 0;
	char *text;
	bool ip;

	if (size > 65536 || (ctx = ck_ctx_new()) == NULL)
		return 0;
	/* Exactly sized and not NUL-terminated, as cki_read_file's buffer
	 * may be: ASan sees any read past len. */
	if ((text = malloc(size ? size : 1)) == NULL)
		goto out;
	memcpy(text, data, size);
	if (cki_doc_load_profile_mem(
	        ctx, "fuzz.ini", text, size, &eps, &n, &cap) != CK_OK) {
		if (n != 0)
			abort();
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (eps[i].port == 0 || eps[i].name == NULL ||
		    !cki_net_valid_host(eps[i].host, &ip))
			abort();
out:
	for (size_t i = 0; i < n; i++)
		cki_endpoint_clear(&eps[i]);
	free(eps);
	free(text);
	ck_ctx_free(ctx);
	return 0;
}
