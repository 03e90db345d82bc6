/*
 * report.c: the one finding object of every report (show, verify, trust
 * audit, identity, doctor).
 *
 *   {"code":     stable code (codes.c),
 *    "severity": "error" | "warning" | "info", from the code table,
 *    "summary":  what is wrong, one or two sentences,
 *    "evidence": {facts, keys by code},
 *    "remedies": ["what to do", ...]}
 *
 * then, for one release, the names each report used before this model
 * (docs/json.md, "Findings"): "message" (the summary) in show, verify,
 * trust audit and identity; "fix" (the first remedy) in show and trust
 * audit; "remedy" (the first remedy) in verify. They are deprecated.
 *
 * Invariants:
 *  1. The severity is the code table's for the report; only a lowerable
 *     code may take its warning form (codes.c, invariant 2).
 *  2. The deprecated names always equal summary and remedies[0] ("" when
 *     there is no remedy), whatever is appended later
 *     (cki_finding_remedy keeps them in step).
 */
#include <string.h>

#include "ck_internal.h"

static int
set(json_t *o, const char *k, json_t *v)
{
	return json_object_set_new(o, k, v) == 0 ? 0 : 1;
}

json_t *
cki_finding_new(unsigned report, const char *code, bool warning_form,
    const char *summary, const char *remedy, unsigned old)
{
	const struct cki_code *k = cki_code_find(report, code);
	enum cki_severity sev = k != NULL ? k->severity : CKI_SEV_ERROR;
	json_t *f = json_object();
	int bad = 0;

	if (f == NULL)
		return NULL;
	if (warning_form && k != NULL && k->lowerable)
		sev = CKI_SEV_WARNING;
	bad |= set(f, "code", json_string(code));
	bad |= set(f, "severity", json_string(cki_severity_name(sev)));
	bad |= set(f, "summary", cki_json_str(summary ? summary : ""));
	bad |= set(f, "evidence", json_object());
	bad |= set(f, "remedies", json_array());
	if (old & CKI_OLD_MESSAGE)
		bad |= set(f, "message", cki_json_str(summary ? summary : ""));
	if (old & CKI_OLD_FIX)
		bad |= set(f, "fix", json_string(""));
	if (old & CKI_OLD_REMEDY)
		bad |= set(f, "remedy", json_string(""));
	if (!bad && remedy != NULL && remedy[0] != '\0')
		bad |= cki_finding_remedy(f, remedy);
	if (bad) {
		json_decref(f);
		return NULL;
	}
	return f;
}

int
cki_finding_remedy(json_t *f, const char *remedy)
{
	json_t *rems = json_object_get(f, "remedies");
	int bad = 0;

	if (rems == NULL || json_array_append_new(rems, cki_json_str(remedy)))
		return 1;
	if (json_array_size(rems) > 1)
		return 0;
	/* The deprecated single-remedy names hold the first one. */
	if (json_object_get(f, "fix") != NULL)
		bad |= set(f, "fix", cki_json_str(remedy));
	if (json_object_get(f, "remedy") != NULL)
		bad |= set(f, "remedy", cki_json_str(remedy));
	return bad;
}

int
cki_finding_evidence(json_t *f, const char *key, json_t *v)
{
	json_t *ev = json_object_get(f, "evidence");

	if (ev == NULL) {
		json_decref(v);
		return 1;
	}
	return set(ev, key, v);
}
