/*
 * test_jsondump.c: cki_json_compact() (lib/core/jsondump.c) writes exactly
 * what json_dumps(JSON_COMPACT | JSON_PRESERVE_ORDER) writes: random
 * documents (a fixed seed) with every kind of value, empty and nested
 * containers, controls, NUL, quotes, UTF-8 of every width, reals, and a
 * nesting deeper than its own limit; and a verify report of the test PKI.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ck_internal.h"
#include "jsondump.h"
#include "testutil.h"

static unsigned long seed = 424242;

static unsigned
rnd(unsigned n)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((seed >> 33) % n);
}

static json_t *
rnd_string(void)
{
	static const char *const picks[] = {"a", "Z", "\"", "\\", "/", "\x01",
	    "\x1f", "\n", "\r", "\t", "\b", "\f", "\x7f", "\xc3\xa9",
	    "\xe2\x80\xae", "\xf0\x9f\x98\x80", " ", ":", ",", "{", "]",
	    "\xe2\x80\xa8"};
	char buf[256] = "";
	size_t len = 0;
	unsigned n = rnd(12);

	for (unsigned i = 0; i < n; i++) {
		const char *pk = picks[rnd(sizeof(picks) / sizeof(picks[0]))];

		memcpy(buf + len, pk, strlen(pk) + 1);
		len += strlen(pk);
	}
	if (rnd(10) == 0) /* with a NUL inside */
		return json_stringn(buf, strlen(buf) + (n > 0));
	return json_string(buf);
}

static json_t *
rnd_value(int depth)
{
	unsigned kind = depth > 5 ? rnd(6) : rnd(8);
	json_t *v;

	switch (kind) {
	case 0: return json_true();
	case 1: return json_false();
	case 2: return json_null();
	case 3:
		return json_integer(
		    (json_int_t)rnd(1u << 31) * (rnd(2) ? -1 : 1));
	case 4: return json_real((double)rnd(100000) / 7.0);
	case 5: return rnd_string();
	case 6:
		v = json_array();
		for (unsigned i = rnd(4); i > 0; i--)
			json_array_append_new(v, rnd_value(depth + 1));
		return v;
	default:
		v = json_object();
		for (unsigned i = rnd(4); i > 0; i--) {
			json_t *k = rnd_string();

			json_object_set_new(
			    v, json_string_value(k), rnd_value(depth + 1));
			json_decref(k);
		}
		return v;
	}
}

static void
same_as_jansson(const json_t *doc)
{
	char *want = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *got = cki_json_compact(doc);

	assert_non_null(want);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(want);
	free(got);
}

static void
test_random_documents(void **state)
{
	(void)state;
	for (int i = 0; i < 3000; i++) {
		json_t *doc = i % 2 ? json_object() : json_array();

		for (unsigned j = rnd(6); j > 0; j--) {
			json_t *k = rnd_string();

			if (json_is_array(doc))
				json_array_append_new(doc, rnd_value(1));
			else
				json_object_set_new(
				    doc, json_string_value(k), rnd_value(1));
			json_decref(k);
		}
		same_as_jansson(doc);
		json_decref(doc);
	}
}

static void
test_deep_nesting(void **state)
{
	json_t *doc = json_array(), *in = doc;

	(void)state;
	for (int i = 0; i < 200; i++) {
		json_t *next = i % 2 ? json_array() : json_object();

		if (json_is_array(in))
			json_array_append_new(in, next);
		else
			json_object_set_new(in, "k", next);
		in = next;
	}
	same_as_jansson(doc);
	json_decref(doc);
	assert_null(cki_json_compact(NULL));
	doc = json_string("x");
	assert_null(cki_json_compact(doc)); /* objects and arrays only */
	json_decref(doc);
}

/* The integers at the ends of the range, and strings long enough to grow
 * the buffer in the middle of a run or of an escape. */
static void
test_edges(void **state)
{
	static const json_int_t ints[] = {0, -1, 1, 9, 10, -10, INT64_MAX,
	    INT64_MIN, INT64_MIN + 1, 1000000007, -999999999999LL};
	json_t *doc = json_array();
	char big[6000];

	(void)state;
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		json_array_append_new(doc, json_integer(ints[i]));
	same_as_jansson(doc);
	for (size_t len = 1; len < sizeof(big); len = len * 3 + 1) {
		for (size_t i = 0; i < len; i++)
			big[i] = i % 97 == 5 ? '"' : i % 89 == 3 ? '\x01' : 'a';
		json_array_append_new(doc, json_stringn(big, len));
		if (len > 6) /* the same from an offset: a run mid-buffer */
			json_array_append_new(
			    doc, json_stringn(big + 6, len - 6));
		same_as_jansson(doc);
	}
	json_decref(doc);
}

/* A real report: what ck_verify() returns is jansson's compact text. */
static void
test_verify_report(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_verify_opts *o = NULL;
	ck_bundle *b = NULL;
	char *json = NULL, *again;
	json_t *doc;
	int valid = 0;

	(void)state;
	assert_non_null(ctx);
	ck_ctx_set_time(ctx, PINNED_TIME);
	assert_int_equal(ck_verify_opts_new(ctx, &o), CK_OK);
	assert_int_equal(
	    ck_verify_opts_add_roots(o, pki("root-ca.pem")), CK_OK);
	assert_int_equal(
	    ck_load_file(ctx, pki("hostile-chain.pem"), &b), CK_OK);
	assert_int_equal(ck_verify(ctx, o, b, &json, &valid), CK_OK);
	assert_non_null(doc = json_loads(json, 0, NULL));
	again = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_string_equal(json, again);
	free(again);
	json_decref(doc);
	ck_free(json);
	ck_bundle_free(b);
	ck_verify_opts_free(o);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_documents),
	    cmocka_unit_test(test_deep_nesting),
	    cmocka_unit_test(test_edges),
	    cmocka_unit_test(test_verify_report),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
