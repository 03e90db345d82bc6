/*
 * fuzz_time.c: ck_parse_time (lib/core/ctx.c), the RFC 3339 reader behind
 * `--at`, on arbitrary text.
 * Reaches: ck_parse_time -> digits, days_from_civil; cki_err on a refusal.
 *
 * Oracles besides the sanitizers: an accepted time is within years 0000 to
 * 9999 (give or take a day of offset), and printing it back as a UTC
 * date-time and parsing that gives the same number.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certkit/certkit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 0000-01-01 and 10000-01-01 in seconds since 1970, +-1 day of offset. */
#define T_MIN (INT64_C(-62167219200) - 86400)
#define T_MAX (INT64_C(253402300800) + 86400)

static void
roundtrip(ck_ctx *ctx, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;
	char buf[64];
	int64_t u;

	if (t < 0 || gmtime_r(&tt, &tm) == NULL || tm.tm_year + 1900 > 9999)
		return;
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (ck_parse_time(ctx, buf, &u) != CK_OK || u != t)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ck_ctx *ctx;
	char *s;
	int64_t t = 0;

	if (size > 256 || (ctx = ck_ctx_new()) == NULL)
		return 0;
	/* A C string cut at the first NUL, exactly sized for ASan. */
	if ((s = malloc(size + 1)) == NULL)
		goto out;
	memcpy(s, data, size);
	s[size] = '\0';
	if (ck_parse_time(ctx, s, &t) == CK_OK) {
		if (t < T_MIN || t > T_MAX)
			abort();
		roundtrip(ctx, t);
	} else if (ck_ctx_error(ctx) == NULL || ck_ctx_error(ctx)[0] == '\0') {
		abort();
	}
out:
	free(s);
	ck_ctx_free(ctx);
	return 0;
}
