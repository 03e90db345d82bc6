/*
 * test_report.c: lib/core/report.c, the one finding object: code,
 * severity from the code table, summary, evidence, remedies, and the
 * deprecated names kept in step with them.
 */
#include <string.h>

#include "testutil.h"
#include "ck_internal.h"

static const char *
s(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static void
test_model(void **state)
{
	json_t *f = cki_finding_new(CKI_REPORT_SHOW, "weak_key", false,
	    "RSA 1024", "Reissue it", CKI_OLD_MESSAGE | CKI_OLD_FIX);
	const char *keys[] = {
	    "code", "severity", "summary", "evidence", "remedies"};
	const char *k;
	json_t *v;
	size_t i = 0;

	(void)state;
	assert_non_null(f);
	/* The model's keys come first, in this order. */
	json_object_foreach(f, k, v)
	{
		if (i < 5)
			assert_string_equal(k, keys[i]);
		i++;
	}
	assert_string_equal(s(f, "severity"), "warning"); /* show's row */
	assert_string_equal(s(f, "summary"), "RSA 1024");
	assert_string_equal(s(f, "message"), "RSA 1024");
	assert_string_equal(s(f, "fix"), "Reissue it");
	assert_null(json_object_get(f, "remedy"));
	assert_int_equal(cki_finding_remedy(f, "Or pin it"), 0);
	assert_int_equal(json_array_size(json_object_get(f, "remedies")), 2);
	assert_string_equal(s(f, "fix"), "Reissue it"); /* the first */
	assert_int_equal(
	    cki_finding_evidence(f, "bits", json_integer(1024)), 0);
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(f, "evidence"), "bits")),
	    1024);
	json_decref(f);

	/* verify's row of the same name is an error; "remedy" follows. */
	f = cki_finding_new(
	    CKI_REPORT_VERIFY, "weak_key", false, "x", NULL, CKI_OLD_REMEDY);
	assert_string_equal(s(f, "severity"), "error");
	assert_string_equal(s(f, "remedy"), "");
	assert_int_equal(cki_finding_remedy(f, "do this"), 0);
	assert_string_equal(s(f, "remedy"), "do this");
	assert_null(json_object_get(f, "message"));
	json_decref(f);
}

static void
test_warning_form(void **state)
{
	json_t *f;

	(void)state;
	/* Only a lowerable code has a warning form. */
	f = cki_finding_new(
	    CKI_REPORT_DOCTOR, "clock_skew", true, "x", NULL, 0);
	assert_string_equal(s(f, "severity"), "warning");
	json_decref(f);
	f = cki_finding_new(
	    CKI_REPORT_DOCTOR, "tcp_refused", true, "x", NULL, 0);
	assert_string_equal(s(f, "severity"), "error");
	json_decref(f);
	f = cki_finding_new(CKI_REPORT_DOCTOR, "ok", false, "x", NULL, 0);
	assert_string_equal(s(f, "severity"), "info");
	json_decref(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_model),
	    cmocka_unit_test(test_warning_form),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
