/*
 * jsondump.h: the compact text of a JSON value (jsondump.c).
 */
#ifndef CERTKIT_JSONDUMP_H
#define CERTKIT_JSONDUMP_H

#include <jansson.h>

/*
 * Exactly what json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) returns
 * for an object or array, at a fraction of its cost: no callback per
 * token, runs of plain characters copied at once. A NUL-terminated string
 * to free(), or NULL when out of memory or past CKI_SB_REPORT_MAX.
 */
char *cki_json_compact(const json_t *v);

#endif /* CERTKIT_JSONDUMP_H */
