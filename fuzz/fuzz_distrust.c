/*
 * fuzz_distrust.c: a distrust entry (HOME/trust/distrust/NAME) and the
 * fingerprints `trust distrust` and `trust remove` take, on arbitrary
 * text. The input is split at its first NUL: the part before is the entry's
 * file name (also fed to the fingerprint reader), the rest its content.
 * Reaches (lib/trust/trust.c): cki_distrust_entry_parse -> distrust_name, field
 * (reason, date, subject), the path load_distrust takes; cki_fp_parse.
 *
 * Oracles besides the sanitizers: an accepted name is "sha256-" or
 * "spki-" and 64 lower-case hex digits, and its hex is exactly those
 * digits; a field read from the content is non-empty, one line, trimmed;
 * an accepted fingerprint is 64 lower-case hex digits.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trust_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool
lower_hex64(const char *h)
{
	if (strlen(h) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!isxdigit((unsigned char)h[i]) ||
		    isupper((unsigned char)h[i]))
			return false;
	return true;
}

static void
check_field(const char *v)
{
	size_t n;

	if (v == NULL)
		return;
	n = strlen(v);
	if (n == 0 || strchr(v, '\n') != NULL || isspace((unsigned char)v[0]) ||
	    isspace((unsigned char)v[n - 1]))
		abort();
}

static void
entry(const char *name, const char *text, size_t len)
{
	struct cki_distrust e;
	const char *want;

	if (!cki_distrust_entry_parse(name, text, len, &e))
		return;
	want = e.kind == CKI_PIN_SPKI ? "spki-" : "sha256-";
	if (strncmp(name, want, strlen(want)) != 0 || !lower_hex64(e.hex) ||
	    strcmp(name + strlen(want), e.hex) != 0)
		abort();
	check_field(e.reason);
	check_field(e.date);
	check_field(e.subject);
	cki_distrust_entry_clear(&e);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t nlen = nul != NULL ? (size_t)(nul - data) : size;
	char *name, *text = NULL, out[65];
	size_t tlen = nul != NULL ? size - nlen - 1 : 0;
	enum cki_pin kind;
	bool explicit_kind;

	if (size > 8192 || (name = malloc(nlen + 1)) == NULL)
		return 0;
	memcpy(name, data, nlen);
	name[nlen] = '\0';
	/* The content exactly sized and not NUL-terminated, as
	 * cki_read_file's buffer may be. */
	if ((text = malloc(tlen ? tlen : 1)) == NULL)
		goto out;
	if (tlen > 0)
		memcpy(text, nul + 1, tlen);
	entry(name, text, tlen);
	if (cki_fp_parse(name, out, &kind, &explicit_kind) && !lower_hex64(out))
		abort();
out:
	free(text);
	free(name);
	return 0;
}
