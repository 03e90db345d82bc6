/*
 * fuzz_config.c: certkit.conf on arbitrary bytes, as cki_config_load_file
 * reads it after cki_read_file.
 * Reaches (lib/core/config.c): cki_config_load_mem -> ini_parse_stream (inih)
 * -> reader, handler (continuation lines, quote stripping);
 * cki_config_identity -> cki_config_check_section, cki_config_list ->
 * cki_strlist_add, cki_config_long, cki_config_bool, cki_config_string,
 * cki_keytype_parse; cki_config_get.
 *
 * Oracles besides the sanitizers: a text that loads has a name; an
 * identity section that is accepted has its numbers in their ranges.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ck_ctx *ctx;
	cki_config *cfg = NULL;
	struct cki_identity_conf conf;
	char *text;
	int line = 0;

	if (size > 65536 || (ctx = ck_ctx_new()) == NULL)
		return 0;
	/* Exactly sized and not NUL-terminated, as cki_read_file's buffer
	 * may be: ASan sees any read past len. */
	if ((text = malloc(size ? size : 1)) == NULL)
		goto out;
	memcpy(text, data, size);
	if (cki_config_load_mem(ctx, "fuzz.conf", text, size, &cfg) != CK_OK)
		goto out;
	if (cki_config_name(cfg) == NULL)
		abort();
	(void)cki_config_get(cfg, "identity", "names", &line);
	memset(&conf, 0, sizeof(conf));
	if (cki_config_identity(ctx, cfg, &conf) == CK_OK &&
	    (conf.days < 1 || conf.keep_backups < 0 || conf.key < 0 ||
	        conf.key > CKI_KEY_RSA_3072))
		abort();
	cki_identity_conf_free(&conf);
out:
	cki_config_free(cfg);
	free(text);
	ck_ctx_free(ctx);
	return 0;
}
