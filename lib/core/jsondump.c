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

/* A byte a JSON string cannot hold as it is: a control, '"' or '\\'. */
static inline bool
needs_esc(unsigned char c)
{
	return c < 0x20 || c == '"' || c == '\\';
}

/* Room for `len` more bytes and the NUL; the call only when it must grow
 * (most appends are a few bytes into a buffer with room). */
static inline bool
room(struct cki_sb *b, size_t len)
{
	return (!b->failed && b->cap - b->n > len) || cki_sb_reserve(b, len);
}

static inline void
put(struct cki_sb *b, const char *s, size_t len)
{
	if (!room(b, len))
		return;
	memcpy(b->p + b->n, s, len);
	b->n += len;
	b->p[b->n] = '\0';
}

/* The escaped form of one byte that needs it (needs_esc). */
static void
put_escape(struct cki_sb *b, unsigned char c)
{
	char seq[8];

	switch (c) {
	case '"': put(b, "\\\"", 2); break;
	case '\\': put(b, "\\\\", 2); break;
	case '\b': put(b, "\\b", 2); break;
	case '\f': put(b, "\\f", 2); break;
	case '\n': put(b, "\\n", 2); break;
	case '\r': put(b, "\\r", 2); break;
	case '\t': put(b, "\\t", 2); break;
	default:
		snprintf(seq, sizeof(seq), "\\u%04X", (unsigned)c);
		put(b, seq, 6);
	}
}

static void
put_string(struct cki_sb *b, const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run;
	char *o;

	/* Most strings need no escape: copied while scanned, in one go. */
	if (!room(b, len + 2))
		return;
	o = b->p + b->n;
	*o++ = '"';
	while (i < len && !needs_esc(u[i])) {
		o[i] = s[i];
		i++;
	}
	if (i == len) {
		o[len] = '"';
		b->n += len + 2;
		b->p[b->n] = '\0';
		return;
	}
	b->n += 1 + i;
	b->p[b->n] = '\0';
	while (i < len) {
		put_escape(b, u[i++]);
		for (run = i; i < len && !needs_esc(u[i]); i++)
			;
		put(b, s + run, i - run);
	}
	put(b, "\"", 1);
}

/* JSON_INTEGER_FORMAT's text, without printf. */
static void
put_integer(struct cki_sb *b, json_int_t v)
{
	char num[24];
	size_t at = sizeof(num);
	/* The magnitude as unsigned: -INT64_MIN does not fit json_int_t. */
	unsigned long long m =
	    v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		num[--at] = (char)('0' + m % 10);
		m /= 10;
	} while (m > 0);
	if (v < 0)
		num[--at] = '-';
	put(b, num + at, sizeof(num) - at);
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

		put(b, "{", 1);
		json_object_foreach(obj, k, m)
		{
			if (!first)
				put(b, ",", 1);
			first = false;
			put_string(b, k, strlen(k));
			put(b, ":", 1);
			put_value(b, m, depth + 1);
		}
		put(b, "}", 1);
		break;
	}
	case JSON_ARRAY:
		put(b, "[", 1);
		for (size_t i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				put(b, ",", 1);
			put_value(b, json_array_get(v, i), depth + 1);
		}
		put(b, "]", 1);
		break;
	case JSON_STRING:
		put_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER: put_integer(b, json_integer_value(v)); break;
	case JSON_TRUE: put(b, "true", 4); break;
	case JSON_FALSE: put(b, "false", 5); break;
	case JSON_NULL: put(b, "null", 4); break;
	default: put_jansson(b, v); /* JSON_REAL */
	}
}

char *
cki_json_compact(const json_t *v)
{
	struct cki_sb b = CKI_SB_INIT(CKI_SB_REPORT_MAX);

	if (v == NULL || (!json_is_object(v) && !json_is_array(v)))
		return NULL;
	/* A verify report is 1 to 2 KiB: one allocation, not five. */
	(void)cki_sb_reserve(&b, 2047);
	put_value(&b, v, 0);
	return cki_sb_take(&b);
}
