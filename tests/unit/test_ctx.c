/*
 * test_ctx.c: the context (lib/core/ctx.c): error discipline, password sources,
 * and RFC 3339 time parsing.
 */
#include <stdio.h>
#include <string.h>

#include "ck_internal.h"
#include "testutil.h"

struct timerow {
	const char *text;
	ck_status status;
	int64_t want;
};

static const struct timerow timerows[] = {
    {"2026-06-01T00:00:00Z", CK_OK, INT64_C(1780272000)},
    {"2026-06-01", CK_OK, INT64_C(1780272000)},
    {"2026-06-01t00:00:00z", CK_OK, INT64_C(1780272000)},
    {"2026-06-01T02:00:00+02:00", CK_OK, INT64_C(1780272000)},
    {"2026-05-31T19:00:00-05:00", CK_OK, INT64_C(1780272000)},
    {"2026-06-01T00:00:00.123Z", CK_OK, INT64_C(1780272000)},
    {"1970-01-01T00:00:00Z", CK_OK, 0},
    {"2024-02-29", CK_OK, INT64_C(1709164800)},
    {"2000-03-01T00:00:00Z", CK_OK, INT64_C(951868800)},
    {"2026-13-01", CK_E_USAGE, 0},
    {"2026-02-30", CK_E_USAGE, 0},
    {"2026-06-01T24:00:00Z", CK_E_USAGE, 0},
    {"2026-06-01T00:00:00", CK_E_USAGE, 0}, /* no zone: ambiguous */
    {"yesterday", CK_E_USAGE, 0},
    {"", CK_E_USAGE, 0},
    {"2026-06-01Tjunk", CK_E_USAGE, 0},
    {"2026-06-01T00:00:00Zjunk", CK_E_USAGE, 0},
};

static void
test_parse_time(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(timerows) / sizeof(timerows[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		int64_t t = -1;
		ck_status st = ck_parse_time(ctx, timerows[i].text, &t);

		if (st != timerows[i].status)
			fail_msg("'%s': %s, expected %s", timerows[i].text,
			    ck_status_name(st),
			    ck_status_name(timerows[i].status));
		if (st == CK_OK)
			assert_int_equal(t, timerows[i].want);
		else
			assert_non_null(
			    strstr(ck_ctx_error(ctx), "expected RFC 3339"));
		ck_ctx_free(ctx);
	}
}

static void
test_error_discipline(void **state)
{
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	assert_string_equal(ck_ctx_error(ctx), "");
	cki_err(ctx, CK_E_FORMAT, "%s: specific", "f.pem");
	/* A generic wrapper never hides the deeper message. */
	assert_int_equal(
	    cki_err_keep(ctx, CK_E_INTERNAL, "generic"), CK_E_FORMAT);
	assert_string_equal(ck_ctx_error(ctx), "f.pem: specific");
	/* Each public call starts clean. */
	cki_begin(ctx);
	assert_int_equal(ck_ctx_status(ctx), CK_OK);
	assert_string_equal(ck_ctx_error(ctx), "");
	assert_string_equal(ck_status_name(CK_E_PASSWORD), "password");
	assert_string_equal(ck_status_name((ck_status)999), "unknown");
	ck_ctx_free(ctx);
	ck_ctx_free(NULL);
}

/* A message names files and quotes peers: it is one line of safe text
 * (cki_esc), and wrapping it escapes nothing twice. */
static void
test_error_escaped(void **state)
{
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	cki_err(ctx, CK_E_IO, "%s: no such file",
	    "/tmp/evil\x1b]0;T\x07\nFAKE: ONLINE\xff.pem");
	assert_string_equal(ck_ctx_error(ctx),
	    "/tmp/evil\\x1b]0;T\\x07\\x0aFAKE: ONLINE\\xff.pem: no such file");
	cki_err(ctx, CK_E_IO, "wrapped: %s", ctx->err);
	assert_string_equal(ck_ctx_error(ctx),
	    "wrapped: /tmp/evil\\x1b]0;T\\x07\\x0aFAKE: ONLINE\\xff.pem: no "
	    "such file");
	ck_ctx_free(ctx);
}

/* Callers wrap the deeper message in a new one by passing ctx->err as an
 * argument (identity restore, p12_password_file): the formatter must not
 * read the buffer it is writing. */
static void
test_error_wraps_itself(void **state)
{
	static const char *const inner[] = {
	    "f.pem: file is empty", "", "x", "pw: no such file or directory"};
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	for (size_t i = 0; i < sizeof(inner) / sizeof(inner[0]); i++) {
		char want[CKI_ERRLEN], big[CKI_ERRLEN + 64];

		/* The deeper message last, as identity restore wraps it. */
		cki_begin(ctx);
		cki_err(ctx, CK_E_IO, "%s", inner[i]);
		cki_err(ctx, CK_E_FORMAT, "backup %s cannot be restored: %s",
		    "B1", ctx->err);
		snprintf(want, sizeof(want), "backup B1 cannot be restored: %s",
		    inner[i]);
		assert_string_equal(ck_ctx_error(ctx), want);
		assert_int_equal(ck_ctx_status(ctx), CK_E_FORMAT);
		/* ...and first. */
		cki_err(ctx, CK_E_IO, "%s", inner[i]);
		cki_err(ctx, CK_E_IO, "%s (%s)", ctx->err, "B1");
		snprintf(want, sizeof(want), "%s (B1)", inner[i]);
		assert_string_equal(ck_ctx_error(ctx), want);
		/* An over-long wrapped message is cut, never overrun. */
		memset(big, 'a', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		cki_err(ctx, CK_E_IO, "%s", big);
		cki_err(ctx, CK_E_IO, "wrap: %s", ctx->err);
		assert_int_equal(strlen(ck_ctx_error(ctx)), CKI_ERRLEN - 1);
		assert_int_equal(strncmp(ck_ctx_error(ctx), "wrap: aaa", 9), 0);
	}
	ck_ctx_free(ctx);
}

static void
test_password_sources(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	char buf[8];

	(void)state;
	assert_false(cki_have_password(ctx));
	assert_int_equal(cki_password(ctx, "x", buf, sizeof(buf)), -1);
	assert_int_equal(ck_ctx_set_password(ctx, "secret"), CK_OK);
	assert_int_equal(cki_password(ctx, "x", buf, sizeof(buf)), 6);
	assert_string_equal(buf, "secret");
	/* Too long for the buffer: refused, never truncated. */
	assert_int_equal(ck_ctx_set_password(ctx, "muchtoolong"), CK_OK);
	assert_int_equal(cki_password(ctx, "x", buf, sizeof(buf)), -1);
	assert_int_equal(ck_ctx_set_password(ctx, NULL), CK_OK);
	assert_false(cki_have_password(ctx));
	ck_ctx_free(ctx);
}

static void
test_clock(void **state)
{
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	assert_int_equal(ck_ctx_time(ctx), 0);
	ck_ctx_set_time(ctx, PINNED_TIME);
	assert_int_equal((int64_t)cki_now(ctx), PINNED_TIME);
	ck_ctx_free(ctx);
}

/* ck_version is the project's version (the soname and certkit.pc
 * carry the same); ck_crypto_version names OpenSSL; ck_wipe clears. */
static void
test_version(void **state)
{
	char buf[8] = "secret!";
	int major, minor, patch, n = 0;

	(void)state;
	assert_string_equal(ck_version(), CERTKIT_VERSION);
	assert_int_equal(
	    sscanf(ck_version(), "%d.%d.%d%n", &major, &minor, &patch, &n), 3);
	assert_int_equal((size_t)n, strlen(ck_version()));
	assert_true(strncmp(ck_crypto_version(), "OpenSSL 3.", 10) == 0);
	ck_wipe(buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0);
	ck_wipe(NULL, 5);
}

/* The one days-from-civil (ctx.c; the doctor's HTTP dates and build time
 * use it too), against timegm-free known values, around leap days and
 * before the epoch, and day by day against a running count. */
static void
test_days_from_civil(void **state)
{
	static const struct {
		int64_t y;
		unsigned m, d;
		int64_t want;
	} rows[] = {
	    {1970, 1, 1, 0},
	    {1969, 12, 31, -1},
	    {2000, 2, 29, 11016},
	    {2000, 3, 1, 11017},
	    {2024, 2, 29, 19782},
	    {2100, 3, 1, 47541},
	    {1600, 1, 1, -135140},
	    {0, 3, 1, -719468},
	};
	static const unsigned mdays[] = {
	    31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int64_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(
		    cki_days_from_civil(rows[i].y, rows[i].m, rows[i].d),
		    rows[i].want);
	for (int64_t y = 1970; y < 2110; y++)
		for (unsigned m = 1; m <= 12; m++) {
			bool leap =
			    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
			unsigned last = mdays[m - 1] + (m == 2 && leap);

			for (unsigned d = 1; d <= last; d++)
				assert_int_equal(
				    cki_days_from_civil(y, m, d), n++);
		}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_time),
	    cmocka_unit_test(test_error_discipline),
	    cmocka_unit_test(test_error_wraps_itself),
	    cmocka_unit_test(test_error_escaped),
	    cmocka_unit_test(test_password_sources),
	    cmocka_unit_test(test_clock),
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_days_from_civil),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
