/*
 * codes_dump.c: prints the code table (lib/core/codes.c), one line per
 * report and code: "REPORT CODE SEVERITY", sorted by tests/lint/codes.sh,
 * which compares it with the codes docs/json.md lists.
 */
#include <stdio.h>

#include "ck_internal.h"

int
main(void)
{
	static const unsigned reports[] = {CKI_REPORT_SHOW, CKI_REPORT_VERIFY,
	    CKI_REPORT_DOCTOR, CKI_REPORT_AUDIT, CKI_REPORT_IDENTITY,
	    CKI_REPORT_SERVER};
	size_t n;
	const struct cki_code *t = cki_codes(&n);

	for (size_t i = 0; i < n; i++)
		for (size_t r = 0; r < sizeof(reports) / sizeof(reports[0]);
		     r++)
			if (t[i].reports & reports[r])
				printf("%s %s %s\n",
				    cki_report_name(reports[r]), t[i].code,
				    cki_severity_name(t[i].severity));
	return 0;
}
