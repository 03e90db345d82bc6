/*
 * test_strbuf.c: lib/core/strbuf.c, the one growing string: appends,
 * escaping, the maximum size (exactly reached, then passed), and sticky
 * failure.
 */
#include <stdlib.h>
#include <string.h>

#include "ck_internal.h"
#include "strbuf.h"
#include "testutil.h"

static void
test_append_and_take(void **state)
{
	struct cki_sb sb = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char *s;

	(void)state;
	/* Nothing appended: "", not NULL. */
	s = cki_sb_take(&sb);
	assert_string_equal(s, "");
	free(s);
	cki_sb_printf(&sb, "%s=%d", "port", 443);
	cki_sb_add(&sb, ", raw", 5);
	cki_sb_add(&sb, NULL, 0);
	cki_sb_esc(&sb, "\x1b[2J\n", 5);
	assert_int_equal(sb.n, strlen(sb.p));
	s = cki_sb_take(&sb);
	assert_string_equal(s, "port=443, raw\\x1b[2J\\x0a");
	free(s);
	/* take leaves an empty builder with the same maximum. */
	assert_null(sb.p);
	assert_int_equal(sb.n, 0);
	assert_int_equal(sb.max, CKI_SB_MSG_MAX);
	/* Growth across many reallocations keeps every byte. */
	for (int i = 0; i < 10000; i++)
		cki_sb_printf(&sb, "%04d", i % 10000);
	assert_false(sb.failed);
	assert_int_equal(sb.n, 40000);
	assert_memory_equal(sb.p + 4 * 9999, "9999", 5);
	cki_sb_free(&sb);
	assert_null(sb.p);
}

/* max counts the NUL: a builder of max 8 holds 7 characters. */
static void
test_maximum(void **state)
{
	struct cki_sb sb;
	char big[300];
	char *s;

	(void)state;
	cki_sb_init(&sb, 8);
	cki_sb_printf(&sb, "%s", "abc");
	cki_sb_add(&sb, "defg", 4); /* exactly 7 */
	assert_false(sb.failed);
	assert_int_equal(sb.n, 7);
	assert_true(sb.cap <= 8);
	cki_sb_add(&sb, "h", 1); /* one byte over */
	assert_true(sb.failed);
	assert_true(sb.too_large);
	/* Sticky: a later append that would fit is ignored... */
	cki_sb_printf(&sb, "%s", "");
	assert_int_equal(sb.n, 7);
	/* ...and take says the string is incomplete. */
	assert_null(cki_sb_take(&sb));
	assert_false(sb.failed);
	assert_int_equal(sb.max, 8);

	/* printf over the maximum in one go, and the escaper's growth. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cki_sb_init(&sb, 256);
	cki_sb_printf(&sb, "%s", big);
	assert_true(sb.too_large);
	assert_null(cki_sb_take(&sb));
	cki_sb_esc(&sb, "\x01\x02\x03", 3); /* 12 bytes escaped */
	assert_string_equal(sb.p, "\\x01\\x02\\x03");
	cki_sb_esc(&sb, big, 250);
	assert_true(sb.too_large);
	assert_null(cki_sb_take(&sb));

	/* A maximum of 0 (a builder nobody sized) refuses everything. */
	cki_sb_init(&sb, 0);
	cki_sb_add(&sb, "", 0);
	assert_true(sb.failed);
	assert_null(cki_sb_take(&sb));

	/* A huge length cannot wrap the size check. */
	cki_sb_init(&sb, 64);
	cki_sb_add(&sb, "ab", 2);
	cki_sb_add(&sb, "x", (size_t)-1);
	assert_true(sb.too_large);
	s = cki_sb_take(&sb);
	assert_null(s);
}

/* reserve: room for n bytes and the NUL within max, or sticky failure. */
static void
test_reserve(void **state)
{
	struct cki_sb sb;

	(void)state;
	cki_sb_init(&sb, 8);
	assert_true(cki_sb_reserve(&sb, 7));
	assert_int_equal(sb.cap, 8);
	memcpy(sb.p, "abcdefg", 8);
	sb.n = 7;
	assert_true(cki_sb_reserve(&sb, 0));
	assert_false(cki_sb_reserve(&sb, 1)); /* past max */
	assert_true(sb.failed && sb.too_large);
	cki_sb_add(&sb, "x", 0);
	assert_null(cki_sb_take(&sb));
	cki_sb_init(&sb, CKI_SB_MSG_MAX);
	assert_true(cki_sb_reserve(&sb, 2047));
	assert_true(sb.cap >= 2048);
	assert_int_equal(sb.n, 0);
	cki_sb_free(&sb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_append_and_take),
	    cmocka_unit_test(test_maximum),
	    cmocka_unit_test(test_reserve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
