/* test_server_log.c: the log of certkit serve (lib/server/server_log.c):
 * one line per event, values escaped and quoted, or one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "server_int.h"
#include "testutil.h"

/* Runs fn with a logger writing to a temporary file; returns its text. */
static char *
capture(bool json, void (*fn)(cki_slogger *l))
{
	FILE *f = tmpfile();
	cki_slogger *l;
	char *buf = calloc(1, 8192);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	l = cki_slog_new(fileno(f), json);
	assert_non_null(l);
	fn(l);
	cki_slog_free(l);
	rewind(f);
	n = fread(buf, 1, 8191, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
hostile(cki_slogger *l)
{
	cki_slog(l, CKI_LOG_WARN, "request", "peer", "127.0.0.1:5", "path",
	    "/a b\n\x1b[31mevent=forged", "empty", "", "skipped", NULL, "quote",
	    "say \"hi\"", "utf8", "caf\xc3\xa9", NULL);
}

static void
test_text(void **state)
{
	char *s = capture(false, hostile);
	const char *p;

	(void)state;
	/* One line, ending in a newline. */
	assert_non_null(p = strchr(s, '\n'));
	assert_int_equal(p[1], '\0');
	assert_non_null(strstr(s, " level=warning event=request "));
	assert_non_null(strstr(s, " peer=127.0.0.1:5 "));
	/* A newline and ESC are escaped: no forged second event. */
	assert_non_null(strstr(s, " path=\"/a b\\x0a\\x1b[31mevent=forged\" "));
	assert_non_null(strstr(s, " empty=\"\" "));
	assert_null(strstr(s, "skipped"));
	assert_non_null(strstr(s, " quote=\"say \\\"hi\\\"\" "));
	assert_non_null(strstr(s, " utf8=caf\xc3\xa9\n"));
	assert_true(strncmp(s, "time=20", 7) == 0);
	free(s);
}

static void
test_json(void **state)
{
	char *s = capture(true, hostile);
	json_error_t e;
	json_t *o;

	(void)state;
	assert_non_null(strchr(s, '\n'));
	assert_int_equal(strchr(s, '\n')[1], '\0');
	o = json_loads(s, 0, &e);
	assert_non_null(o);
	assert_string_equal(
	    json_string_value(json_object_get(o, "event")), "request");
	assert_string_equal(
	    json_string_value(json_object_get(o, "level")), "warning");
	assert_string_equal(json_string_value(json_object_get(o, "path")),
	    "/a b\n\x1b[31mevent=forged"); /* exact: JSON escapes it */
	assert_null(json_object_get(o, "skipped"));
	json_decref(o);
	free(s);
}

static void
numbers(cki_slogger *l)
{
	json_t *kv = json_pack("{s:i, s:b, s:f}", "n", 42, "ok", 1, "r", 1.5);

	cki_slog_json(l, CKI_LOG_INFO, "counts", kv);
	json_decref(kv);
	cki_slog(NULL, CKI_LOG_INFO, "nothing", "a", "b", NULL); /* no-op */
}

static void
test_numbers(void **state)
{
	char *s = capture(false, numbers);

	(void)state;
	assert_non_null(strstr(s, " event=counts n=42 ok=true r=1.500\n"));
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_text),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_numbers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
