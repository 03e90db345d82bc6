/*
 * test_tool_jsontext.c: cli/tool_jsontext.c, the re-printing of the
 * library's compact JSON without a jansson tree, against jansson itself.
 *
 * - tool_json_reindent() must give exactly json_dumps(JSON_INDENT(2) |
 *   JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER) of the same value: checked on
 *   random documents (a fixed seed) with every kind of value, empty and
 *   nested containers, control characters, UTF-8 of 2, 3 and 4 bytes.
 * - tool_read_valid_report() must read a valid report's chain as
 *   json_loads() does, and refuse any other report.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "testutil.h"

/* The file under test is the CLI's: compiled in here. */
#include "../../cli/tool_jsontext.c"

static unsigned long seed = 12345;

static unsigned
rnd(unsigned n)
{
	seed = seed * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((seed >> 33) % n);
}

static void
put_utf8(char **q, long cp)
{
	struct tool_buf b = {0};

	add_utf8(&b, cp);
	memcpy(*q, b.s, b.len);
	*q += b.len;
	tool_buf_free(&b);
}

/* A string of code points of every width, controls, quotes, backslashes. */
static json_t *
rnd_string(void)
{
	static const long picks[] = {'a', 'Z', '"', '\\', '/', 0x01, 0x1f, '\n',
	    '\t', 0x7f, 0xe9, 0x7ff, 0x800, 0x202e, 0xfffd, 0x1f600, 0x10ffff,
	    ' ', ':', ',', '{', ']'};
	char buf[200], *q = buf;
	unsigned n = rnd(12);

	for (unsigned i = 0; i < n; i++)
		put_utf8(&q, picks[rnd(sizeof(picks) / sizeof(picks[0]))]);
	*q = '\0';
	return json_string(buf);
}

static json_t *
rnd_value(int depth)
{
	unsigned kind = depth > 4 ? rnd(6) : rnd(8);
	json_t *v;

	switch (kind) {
	case 0: return json_true();
	case 1: return json_false();
	case 2: return json_null();
	case 3: return json_integer((json_int_t)rnd(100000) - 50000);
	case 4: return json_real((double)rnd(1000) / 7.0);
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
test_reindent_as_jansson(void **state)
{
	(void)state;
	for (int i = 0; i < 2000; i++) {
		json_t *doc = i % 2 ? json_object() : json_array();
		struct tool_buf b = {0};
		char *compact, *want;

		for (unsigned j = rnd(5); j > 0; j--) {
			json_t *k = rnd_string();

			if (json_is_array(doc))
				json_array_append_new(doc, rnd_value(1));
			else
				json_object_set_new(
				    doc, json_string_value(k), rnd_value(1));
			json_decref(k);
		}
		compact = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
		want = json_dumps(doc,
		    JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
		assert_true(tool_json_reindent(&b, compact, 0));
		assert_string_equal(b.s, want);
		free(compact);
		free(want);
		tool_buf_free(&b);
		json_decref(doc);
	}
}

/* Deeper than one append of indentation (more than 32 spaces), with
 * numbers and literals at the bottom. */
static void
test_reindent_deep(void **state)
{
	json_t *doc = json_array(), *in = doc;
	struct tool_buf b = {0};
	char *compact, *want;

	(void)state;
	for (int i = 0; i < 40; i++) {
		json_t *next = i % 2 ? json_array() : json_object();

		if (json_is_array(in)) {
			json_array_append_new(in, json_integer(-1234567 * i));
			json_array_append_new(in, next);
			json_array_append_new(in, json_false());
		} else {
			json_object_set_new(in, "n", json_null());
			json_object_set_new(in, "k", next);
		}
		in = next;
	}
	json_array_append_new(in, json_real(2.5));
	compact = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	want = json_dumps(
	    doc, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	assert_true(tool_json_reindent(&b, compact, 0));
	assert_string_equal(b.s, want);
	free(compact);
	free(want);
	tool_buf_free(&b);
	json_decref(doc);
}

static void
test_reindent_refuses(void **state)
{
	static const char *const bad[] = {"{\"a\": 1}", "[1, 2]", "{\"a\":1",
	    "]", "\"open", "[\"\\", "{\"a\":\"\x01\"}", "[\"\xff\"]"};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tool_buf b = {0};

		assert_false(tool_json_reindent(&b, bad[i], 0));
		tool_buf_free(&b);
	}
}

/* A report as the library makes it, with random subjects. */
static char *
report(bool valid, bool finding, json_t **chain_out)
{
	json_t *rep = json_object(), *chain = json_array(), *f = json_array();
	char *s;

	for (int d = 0; d < 3; d++) {
		json_t *e = json_object(), *sub = rnd_string();

		json_object_set_new(e, "depth", json_integer(d));
		json_object_set_new(e, "subject", sub);
		json_object_set_new(e, "issuer", rnd_string());
		json_object_set_new(e, "not_before", json_string("x:,}]"));
		json_object_set_new(e, "anchor", json_boolean(d == 2));
		json_array_append_new(chain, e);
	}
	if (finding)
		json_array_append_new(f, json_pack("{s:s}", "code", "x"));
	json_object_set_new(rep, "version", json_integer(2));
	json_object_set_new(rep, "valid", json_boolean(valid));
	json_object_set_new(rep, "findings", f);
	json_object_set_new(rep, "chain", json_incref(chain));
	json_object_set_new(rep, "parameters",
	    json_pack("{s:s, s:n, s:b}", "time", "2026", "host", "p", 1));
	s = json_dumps(rep, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(rep);
	*chain_out = chain;
	return s;
}

static void
test_read_valid_report(void **state)
{
	(void)state;
	for (int i = 0; i < 500; i++) {
		json_t *chain;
		char *s = report(true, false, &chain);
		struct tool_chain c;

		assert_true(tool_read_valid_report(s, &c));
		assert_int_equal(c.n, json_array_size(chain));
		for (size_t j = 0; j < c.n; j++) {
			json_t *e = json_array_get(chain, j);

			assert_int_equal(c.e[j].depth, (long long)j);
			assert_string_equal(c.e[j].subject,
			    json_string_value(json_object_get(e, "subject")));
			assert_int_equal(c.e[j].anchor,
			    json_is_true(json_object_get(e, "anchor")));
		}
		tool_chain_clear(&c);
		free(s);
		json_decref(chain);
	}
}

static void
test_read_refuses_other_reports(void **state)
{
	json_t *chain;
	char *s;
	struct tool_chain c;

	(void)state;
	s = report(false, false, &chain);
	assert_false(tool_read_valid_report(s, &c));
	free(s);
	json_decref(chain);
	s = report(true, true, &chain);
	assert_false(tool_read_valid_report(s, &c));
	free(s);
	json_decref(chain);
	/* Cut short, or with something after the report. */
	s = report(true, false, &chain);
	s[strlen(s) - 1] = '\0';
	assert_false(tool_read_valid_report(s, &c));
	free(s);
	json_decref(chain);
	assert_false(tool_read_valid_report(
	    "{\"version\":2,\"valid\":true,\"findings\":[],\"chain\":[],"
	    "\"parameters\":{}}x",
	    &c));
	assert_true(tool_read_valid_report(
	    "{\"version\":2,\"valid\":true,\"findings\":[],\"chain\":[],"
	    "\"parameters\":{}}",
	    &c));
	assert_int_equal(c.n, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reindent_as_jansson),
	    cmocka_unit_test(test_reindent_deep),
	    cmocka_unit_test(test_reindent_refuses),
	    cmocka_unit_test(test_read_valid_report),
	    cmocka_unit_test(test_read_refuses_other_reports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
