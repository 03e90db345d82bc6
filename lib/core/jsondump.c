/*
 * jsondump.c: cki_json_compact(), jansson's compact text written faster.
 *
 * verify --each dumps one report per leaf; jansson's json_dumps() writes
 * through a callback per token and was the largest single cost certkit
 * added to OpenSSL's own verification (docs/PERFORMANCE.md). This writes
 * the same bytes (tests/unit/test_jsondump.c compares them on random
 * documents) straight into one growing string:
 *  - objects in their order, "key":value, separated by ",", no spaces;
 *  - strings as jansson escapes them without JSON_ENSURE_ASCII: '"', '\\',
 *    \b \f \n \r \t, any other control as \u00XX (upper-case hex),
 *    everything else (UTF-8 included, and '/') as it is;
 *  - integers as JSON_INTEGER_FORMAT; reals, and anything nested past
 *    MAX_DEPTH, by jansson itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsondump.h"
#include "strbuf.h"

#define MAX_DEPTH 64

static void
put_string(struct cki_sb *b, const char *s, size_t len)
{
	const char *end = s + len;
	char seq[8];

	cki_sb_add(b, "\"", 1);
	while (s < end) {
		const char *run = s;

		while (s < end && (unsigned char)*s >= 0x20 && *s != '"' &&
		    *s != '\\')
			s++;
		if (s > run)
			cki_sb_add(b, run, (size_t)(s - run));
		if (s == end)
			break;
		switch (*s) {
		case '"': cki_sb_add(b, "\\\"", 2); break;
		case '\\': cki_sb_add(b, "\\\\", 2); break;
		case '\b': cki_sb_add(b, "\\b", 2); break;
		case '\f': cki_sb_add(b, "\\f", 2); break;
		case '\n': cki_sb_add(b, "\\n", 2); break;
		case '\r': cki_sb_add(b, "\\r", 2); break;
		case '\t': cki_sb_add(b, "\\t", 2); break;
		default:
			snprintf(seq, sizeof(seq), "\\u%04X",
			    (unsigned)(unsigned char)*s);
			cki_sb_add(b, seq, 6);
		}
		s++;
	}
	cki_sb_add(b, "\"", 1);
}

/* jansson's own text for one value (a real, or a deep subtree). */
static void
put_jansson(struct cki_sb *b, const json_t *v)
{
	char *s =
	    json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);

	if (s == NULL) {
		b->failed = true;
		return;
	}
	cki_sb_add(b, s, strlen(s));
	free(s);
}

static void
put_value(struct cki_sb *b, const json_t *v, int depth)
{
	char num[32];

	if (depth > MAX_DEPTH) {
		put_jansson(b, v);
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		/* jansson's iterator takes no const; it modifies nothing. */
		json_t *obj = (json_t *)(uintptr_t)v, *m;
		const char *k;
		bool first = true;

		cki_sb_add(b, "{", 1);
		json_object_foreach(obj, k, m)
		{
			if (!first)
				cki_sb_add(b, ",", 1);
			first = false;
			put_string(b, k, strlen(k));
			cki_sb_add(b, ":", 1);
			put_value(b, m, depth + 1);
		}
		cki_sb_add(b, "}", 1);
		break;
	}
	case JSON_ARRAY:
		cki_sb_add(b, "[", 1);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				cki_sb_add(b, ",", 1);
			put_value(b, json_array_get(v, i), depth + 1);
		}
		cki_sb_add(b, "]", 1);
		break;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		cki_sb_add(b, num, strlen(num));
		break;
	case JSON_TRUE: cki_sb_add(b, "true", 4); break;
	case JSON_FALSE: cki_sb_add(b, "false", 5); break;
	case JSON_NULL: cki_sb_add(b, "null", 4); break;
	default: put_jansson(b, v); /* JSON_REAL */
	}
}

char *
cki_json_compact(const json_t *v)
{
	struct cki_sb b = CKI_SB_INIT(CKI_SB_REPORT_MAX);

	if (v == NULL || (!json_is_object(v) && !json_is_array(v)))
		return NULL;
	put_value(&b, v, 0);
	return cki_sb_take(&b);
}
