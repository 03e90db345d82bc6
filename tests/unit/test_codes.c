/*
 * test_codes.c: lib/core/codes.c, the one table of finding codes: every
 * (report, code) has one row, every row a meaning, only errors have a
 * warning form, and the reports take their severity from it.
 */
#include <string.h>

#include "testutil.h"
#include "ck_internal.h"

static const unsigned reports[] = {CKI_REPORT_SHOW, CKI_REPORT_VERIFY,
    CKI_REPORT_DOCTOR, CKI_REPORT_AUDIT, CKI_REPORT_IDENTITY,
    CKI_REPORT_SERVER};

static void
test_rows_unique(void **state)
{
	size_t n;
	const struct cki_code *t = cki_codes(&n);

	(void)state;
	assert_true(n > 90);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(t[i].meaning);
		assert_true(strlen(t[i].meaning) > 5);
		assert_true(strspn(t[i].code, "abcdefghijklmnopqrstuvwxyz_") ==
		    strlen(t[i].code));
		assert_true(t[i].reports != 0);
		assert_true(!t[i].lowerable || t[i].severity == CKI_SEV_ERROR);
		for (size_t j = i + 1; j < n; j++)
			if (strcmp(t[i].code, t[j].code) == 0)
				assert_int_equal(
				    t[i].reports & t[j].reports, 0);
	}
}

static void
test_lookup(void **state)
{
	(void)state;
	/* One name, two severities: weak_key warns in show, fails verify. */
	assert_int_equal(
	    cki_code_severity(CKI_REPORT_SHOW, "weak_key"), CKI_SEV_WARNING);
	assert_int_equal(
	    cki_code_severity(CKI_REPORT_VERIFY, "weak_key"), CKI_SEV_ERROR);
	/* The codes verify and the doctor share are one row. */
	assert_ptr_equal(cki_code_find(CKI_REPORT_VERIFY, "untrusted_root"),
	    cki_code_find(CKI_REPORT_DOCTOR, "untrusted_root"));
	assert_ptr_equal(cki_code_find(CKI_REPORT_VERIFY, "incomplete_chain"),
	    cki_code_find(CKI_REPORT_DOCTOR, "incomplete_chain"));
	assert_null(cki_code_find(CKI_REPORT_SHOW, "untrusted_root"));
	assert_null(cki_code_find(CKI_REPORT_DOCTOR, "no_such_code"));
	assert_true(cki_code_find(CKI_REPORT_DOCTOR, "clock_skew")->lowerable);
	assert_string_equal(cki_severity_name(CKI_SEV_INFO), "info");
	for (size_t r = 0; r < sizeof(reports) / sizeof(reports[0]); r++)
		assert_string_not_equal(cki_report_name(reports[r]), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows_unique),
	    cmocka_unit_test(test_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
