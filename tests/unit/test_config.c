/* test_config.c: certkit.conf parsing (lib/core/config.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"
#include "testutil.h"

struct parse_case {
	const char *name;
	const char *text;
	ck_status want;
	const char *err; /* fragment of the error, or NULL */
};

static const struct parse_case parse_cases[] = {
    {"empty", "", CK_OK, NULL},
    {"comments only", "# c\n; c\n\n", CK_OK, NULL},
    {"section and key", "[identity]\ndays = 30\n", CK_OK, NULL},
    {"CRLF and BOM", "\xef\xbb\xbf[identity]\r\ndays = 30\r\n", CK_OK, NULL},
    {"garbage line", "[identity]\nthis is not ini\n", CK_E_FORMAT,
        "t.conf:2: expected '[section]'"},
    {"unclosed section", "[identity\n", CK_E_FORMAT, "t.conf:1:"},
    {"NUL byte", "[identity]\0x", CK_E_FORMAT, "NUL byte"},
    {"line too long",
        "[identity]\non_change = "
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxx\n",
        CK_E_FORMAT, "t.conf:2: line is longer"},
};

static void
test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	     i++) {
		const struct parse_case *c = &parse_cases[i];
		ck_ctx *ctx = ck_ctx_new();
		cki_config *cfg = NULL;
		size_t len = strlen(c->text);
		ck_status st;

		if (strcmp(c->name, "NUL byte") == 0)
			len = 13;
		st = cki_config_load_mem(ctx, "t.conf", c->text, len, &cfg);
		if (st != c->want ||
		    (c->err != NULL &&
		        strstr(ck_ctx_error(ctx), c->err) == NULL))
			fail_msg("%s: status %d (%s), want %d with '%s'",
			    c->name, st, ck_ctx_error(ctx), c->want,
			    c->err ? c->err : "");
		assert_true((st == CK_OK) == (cfg != NULL));
		cki_config_free(cfg);
		ck_ctx_free(ctx);
	}
}

struct id_case {
	const char *name;
	const char *text;
	ck_status want;
	const char *err;
};

static const struct id_case id_cases[] = {
    {"defaults", "", CK_OK, NULL},
    {"all keys",
        "[identity]\nnames = a.example, b.example\n"
        "ips = 192.0.2.1\nkey = rsa-3072\ndays = 90\nrenew_before = 30\n"
        "on_change = \"systemctl reload nginx\"\non_change_timeout = 5\n"
        "keep_backups = 3\np12_password_file = /etc/pw\n"
        "detect_names = no\ndetect_ips = off\n",
        CK_OK, NULL},
    {"unknown key", "[identity]\nrenew_befor = 3\n", CK_E_FORMAT,
        "t.conf:2: unknown key 'renew_befor' in [identity]"},
    {"duplicate key", "[identity]\ndays = 3\ndays = 4\n", CK_E_FORMAT,
        "t.conf:3: 'days' is set twice in [identity] (first at line 2)"},
    {"bad key type", "[identity]\nkey = dsa\n", CK_E_FORMAT,
        "expected ec-p256, rsa-2048 or rsa-3072, found 'dsa'"},
    {"days not a number", "[identity]\ndays = 10x\n", CK_E_FORMAT,
        "days: expected a whole number from 1 to 825, found '10x'"},
    {"days too long", "[identity]\ndays = 900\n", CK_E_FORMAT, "from 1 to 825"},
    {"days zero", "[identity]\ndays = 0\n", CK_E_FORMAT, "from 1"},
    {"bad bool", "[identity]\ndetect_ips = maybe\n", CK_E_FORMAT,
        "expected yes or no, found 'maybe'"},
    {"window >= life", "[identity]\ndays = 30\nrenew_before = 30\n",
        CK_E_FORMAT, "renew_before (30 days) must be shorter"},
    {"keep 0", "[identity]\nkeep_backups = 0\n", CK_E_FORMAT,
        "keep_backups: expected a whole number from 1 to 1000"},
    {"other sections are left alone",
        "[doctor]\nanything = 1\n"
        "[identity]\ndays = 5\n",
        CK_OK, NULL},
};

static void
test_identity_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(id_cases) / sizeof(id_cases[0]); i++) {
		const struct id_case *c = &id_cases[i];
		ck_ctx *ctx = ck_ctx_new();
		cki_config *cfg = NULL;
		struct cki_identity_conf ic;
		ck_status st;

		assert_int_equal(cki_config_load_mem(ctx, "t.conf", c->text,
		                     strlen(c->text), &cfg),
		    CK_OK);
		st = cki_config_identity(ctx, cfg, &ic);
		if (st != c->want ||
		    (c->err != NULL &&
		        strstr(ck_ctx_error(ctx), c->err) == NULL))
			fail_msg("%s: status %d (%s), want %d with '%s'",
			    c->name, st, ck_ctx_error(ctx), c->want,
			    c->err ? c->err : "");
		if (st == CK_OK)
			cki_identity_conf_free(&ic);
		cki_config_free(cfg);
		ck_ctx_free(ctx);
	}
}

static void
test_identity_values(void **state)
{
	const char *text =
	    "[identity]\nnames = a.example,, b.example ,\n"
	    "  c.example\nkey = RSA-2048\non_change = \"echo hi\"\n"
	    "detect_ips = no\n";
	ck_ctx *ctx = ck_ctx_new();
	cki_config *cfg = NULL;
	struct cki_identity_conf ic;

	(void)state;
	assert_int_equal(
	    cki_config_load_mem(ctx, "t.conf", text, strlen(text), &cfg),
	    CK_OK);
	assert_int_equal(cki_config_identity(ctx, cfg, &ic), CK_OK);
	/* Empty items dropped, a continuation line adds items. */
	assert_int_equal(ic.names.n, 3);
	assert_string_equal(ic.names.v[0], "a.example");
	assert_string_equal(ic.names.v[1], "b.example");
	assert_string_equal(ic.names.v[2], "c.example");
	assert_int_equal(ic.key, CKI_KEY_RSA_2048);
	assert_string_equal(ic.on_change, "echo hi"); /* quotes removed */
	assert_false(ic.detect_ips);
	assert_true(ic.detect_names);
	assert_int_equal(ic.days, CKI_ID_DEFAULT_DAYS);
	assert_int_equal(ic.renew_before, -1);
	assert_int_equal(ic.keep_backups, CKI_ID_DEFAULT_KEEP);
	assert_null(ic.p12_password_file);
	cki_identity_conf_free(&ic);
	cki_config_free(cfg);
	ck_ctx_free(ctx);
}

static void
test_files(void **state)
{
	char dir[] = "/tmp/certkit-conf.XXXXXX", path[256];
	ck_ctx *ctx = ck_ctx_new();
	cki_config *cfg = NULL;
	FILE *f;
	int line = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* A missing file is the empty configuration. */
	assert_int_equal(cki_config_load(ctx, dir, &cfg), CK_OK);
	assert_null(cki_config_get(cfg, "identity", "days", NULL));
	cki_config_free(cfg);
	snprintf(path, sizeof(path), "%s/certkit.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("# x\n[identity]\ndays = 12\n", f);
	fclose(f);
	assert_int_equal(cki_config_load(ctx, dir, &cfg), CK_OK);
	assert_string_equal(
	    cki_config_get(cfg, "identity", "days", &line), "12");
	assert_int_equal(line, 3);
	assert_string_equal(cki_config_name(cfg), path);
	cki_config_free(cfg);
	/* A directory where the file should be is an error naming it. */
	unlink(path);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_not_equal(cki_config_load(ctx, dir, &cfg), CK_OK);
	assert_non_null(strstr(ck_ctx_error(ctx), "certkit.conf"));
	rmdir(path);
	rmdir(dir);
	ck_ctx_free(ctx);
}

static void
test_strlist(void **state)
{
	struct cki_strlist l = {0};

	(void)state;
	for (int i = 0; i < 40; i++) {
		char b[16];

		snprintf(b, sizeof(b), "n%d", i % 20);
		assert_int_equal(cki_strlist_add(&l, b), CK_OK);
	}
	assert_int_equal(l.n, 20);              /* duplicates dropped */
	assert_true(cki_strlist_has(&l, "N7")); /* case-insensitive */
	assert_false(cki_strlist_has(&l, "n20"));
	cki_strlist_clear(&l);
	assert_int_equal(l.n, 0);
	assert_int_equal(cki_keytype_parse("ec-p256"), CKI_KEY_EC_P256);
	assert_int_equal(cki_keytype_parse("ed25519"), -1);
	assert_string_equal(cki_keytype_name(CKI_KEY_RSA_3072), "rsa-3072");
	assert_string_equal(cki_keytype_name(7), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_table),
	    cmocka_unit_test(test_identity_table),
	    cmocka_unit_test(test_identity_values),
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_strlist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
