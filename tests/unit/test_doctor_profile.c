/*
 * test_doctor_profile.c: lib/doctor/doctor_profile.c: the INI profile. Every
 * error must name FILE:LINE; a profile is all or nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "doctor_int.h"

struct eplist {
	struct cki_endpoint *v;
	size_t n, cap;
};

static void
eplist_free(struct eplist *l)
{
	for (size_t i = 0; i < l->n; i++)
		cki_endpoint_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static ck_status
parse(ck_ctx *ctx, const char *text, struct eplist *l)
{
	return cki_doc_load_profile_mem(
	    ctx, "p.ini", text, strlen(text), &l->v, &l->n, &l->cap);
}

static void
test_valid(void **state)
{
	static const char text[] =
	    "; the Nx Cloud services\n"
	    "[nx-cloud]\n"
	    "host = nxvms.com\n"
	    "expect = public\n"
	    "required_roots = ISRG Root X1, Starfield Root Certificate "
	    "Authority - G2\n"
	    "\n"
	    "[zpe]\n"
	    "host = https://api.astarte.zpecloud.com/\n"
	    "port = 8443\n"
	    "pin = sha256/AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
	    "pin = ab0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c"
	    "1d1e1f\n"
	    "proxy = http://u:secret@proxy.corp:3128\n"
	    "\n"
	    "[safeq]\n"
	    "host = primary-host:2560\n"
	    "expect = private\n"
	    "policy = strict\n"
	    "client_cert = /etc/gw.p12\n"
	    "address = 192.0.2.10, [2001:db8::10]\n"
	    "proxy = none\n";
	ck_ctx *ctx = ck_ctx_new();
	struct eplist l = {0};

	(void)state;
	assert_int_equal(parse(ctx, text, &l), CK_OK);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].name, "nx-cloud");
	assert_string_equal(l.v[0].host, "nxvms.com");
	assert_int_equal(l.v[0].port, 443);
	assert_int_equal(l.v[0].expect, CKI_EXPECT_PUBLIC);
	assert_int_equal(l.v[0].nrequired, 2);
	assert_string_equal(l.v[0].required_roots[1],
	    "Starfield Root Certificate Authority - G2");
	assert_string_equal(l.v[0].origin, "p.ini:2");
	assert_string_equal(l.v[1].host, "api.astarte.zpecloud.com");
	assert_int_equal(l.v[1].port, 8443);
	assert_int_equal(l.v[1].npins, 2);
	assert_int_equal(l.v[1].pins[0][0], 0x00);
	assert_int_equal(l.v[1].pins[1][0], 0xab);
	assert_string_equal(l.v[1].proxy, "http://u:secret@proxy.corp:3128");
	assert_int_equal(l.v[2].port, 2560);
	assert_int_equal(l.v[2].expect, CKI_EXPECT_PRIVATE);
	assert_true(l.v[2].policy_set);
	assert_int_equal(l.v[2].policy, CK_POLICY_STRICT);
	assert_false(l.v[0].policy_set); /* the run's --policy */
	assert_string_equal(l.v[2].client_cert, "/etc/gw.p12");
	assert_int_equal(l.v[2].naddrs, 2);
	assert_string_equal(l.v[2].addrs[1], "2001:db8::10");
	assert_string_equal(l.v[2].proxy, "");
	eplist_free(&l);
	ck_ctx_free(ctx);
}

static void
test_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg; /* must appear in the error */
	} t[] = {
	    {"host = a\n", "p.ini:1: 'host' is outside any [section]"},
	    {"[a]\nhots = a\n", "p.ini:2: unknown key 'hots' in [a]"},
	    {"[a]\nhost = a\nhost = b\n",
	        "p.ini:3: 'host' is given twice in [a] (first on line 2)"},
	    {"[a]\nhost = a\nport = 0\n", "p.ini:3: port '0' in [a]"},
	    {"[a]\nhost = a\nport = 44x\n", "expected a number from 1"},
	    {"[a]\nhost = a\nexpect = maybe\n",
	        "p.ini:3: expect 'maybe' in [a]: expected 'public' or "
	        "'private'"},
	    {"[a]\nhost = a\npin = nope\n", "p.ini:3: pin 'nope' in [a]"},
	    {"[a]\nhost = a\npolicy = lax\n",
	        "p.ini:3: policy 'lax' in [a]: expected 'compat' or 'strict'"},
	    {"[a]\nhost = a\npolicy = strict\npolicy = compat\n",
	        "p.ini:4: 'policy' is given twice in [a] (first on line 3)"},
	    {"[a]\nhost = bad host\n", "p.ini:2: host in [a]"},
	    {"[a]\nhost = a\naddress = gw.example\n",
	        "p.ini:3: address 'gw.example' in [a]: expected an IP"},
	    {"[a]\nhost = a\nproxy = socks5://p:1\n",
	        "p.ini:3: proxy in [a]: "},
	    /* the rejected URL is quoted without its password */
	    {"[a]\nhost = a\nproxy = https://u:s3cret@p:1\n",
	        "p.ini:3: proxy in [a]: 'https://u:***@p:1'"},
	    {"[a]\nhost = a\nclient_cert =\n",
	        "p.ini:3: client_cert in [a] is empty"},
	    {"[a]\nport = 443\n", "p.ini:1: [a] has no 'host ='"},
	    {"[a]\nhost = a\n[b]\nhost = b\n[a]\nhost = c\n",
	        "p.ini:6: [a] appears twice"},
	    {"[a]\nhost = a\nthis line is wrong\n", "p.ini:3: expected"},
	    {"; nothing\n", "p.ini: no endpoints"},
	    {"", "p.ini: no endpoints"},
	    /* A malformed header is an error on its own line, never keys
	     * that land in the section before it. */
	    {"[a\nhost = a\n", "p.ini:1: malformed section header '[a'"},
	    {"[ok]\nhost = a\n[a\nhost = b\n",
	        "p.ini:3: malformed section header '[a'"},
	    {"[ok]\nhost = a\n[a\n", "p.ini:3: malformed section header"},
	    {"[]\nhost = a\n", "p.ini:1: empty section name '[]'"},
	    {"[ok]\nhost = a\n[  ]\nhost = b\n",
	        "p.ini:3: empty section name '[  ]'"},
	    {"[a] b\nhost = a\n", "p.ini:1: unexpected 'b' after the section"},
	    /* indented after a key: inih continues the value (here: host) */
	    {"[ok]\nhost = a\n  [b\n", "p.ini:3: 'host' is given twice"},
	    /* inih would cut it to 49 characters without a word */
	    {"[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\nhost = a\n",
	        "p.ini:1: section name 'aaaaaaaaaa"},
	    /* a section with no key at all was dropped without a word */
	    {"[ok]\nhost = a\n[b]\n", "p.ini:3: [b] has no 'host ='"},
	    {"[b]\n[ok]\nhost = a\n", "p.ini:1: [b] has no 'host ='"},
	    /* host = HOST:PORT and port = N: a conflict, in either order */
	    {"[a]\nhost = h:40010\nport = 99\n",
	        "p.ini:3: port = 99 in [a] conflicts with the port in host = "
	        "h:40010 (line 2)"},
	    {"[a]\nport = 99\nhost = h:40010\n",
	        "p.ini:3: host = h:40010 in [a] gives a port that conflicts "
	        "with port = 99 (line 2)"},
	    {"[a]\nhost = [2001:db8::1]:5\nport = 6\n",
	        "host = [2001:db8::1]:5 (line 2)"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		struct eplist l = {0};
		ck_status st = parse(ctx, t[i].text, &l);

		if (st != CK_E_FORMAT)
			fail_msg("case %zu: expected a format error, got %s", i,
			    ck_status_name(st));
		if (strstr(ck_ctx_error(ctx), t[i].msg) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i,
			    ck_ctx_error(ctx), t[i].msg);
		assert_null(strstr(ck_ctx_error(ctx), "s3cret"));
		/* All or nothing. */
		assert_int_equal(l.n, 0);
		eplist_free(&l);
		ck_ctx_free(ctx);
	}
}

/* Overlong lines, a 5,000-character header among them: an error on that
 * line, naming the real limit. */
static void
test_long_lines(void **state)
{
	static const struct {
		const char *pre, *post, *where;
	} t[] = {
	    {"[", "]\nhost = a\n", "p.ini:1: "},
	    {"[ok]\nhost = a\n[", "]\nhost = b\n", "p.ini:3: "},
	    {"[ok]\nhost = a\nrequired_roots = ", "\n", "p.ini:3: "},
	};
	char *big = malloc(5001), *text = malloc(5100);

	(void)state;
	assert_non_null(big);
	assert_non_null(text);
	memset(big, 'x', 5000);
	big[5000] = '\0';
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		struct eplist l = {0};

		snprintf(text, 5100, "%s%s%s", t[i].pre, big, t[i].post);
		assert_int_equal(parse(ctx, text, &l), CK_E_FORMAT);
		if (strstr(ck_ctx_error(ctx), t[i].where) == NULL ||
		    strstr(ck_ctx_error(ctx), "line is longer than") == NULL ||
		    strstr(ck_ctx_error(ctx), "4096") != NULL)
			fail_msg("case %zu: %s", i, ck_ctx_error(ctx));
		assert_int_equal(l.n, 0);
		eplist_free(&l);
		ck_ctx_free(ctx);
	}
	free(big);
	free(text);
}

/* What the new checks must still accept. */
static void
test_headers_and_ports_ok(void **state)
{
	static const char text[] = "[a] ; a comment after the header\n"
	                           "host = h:99\n"
	                           "port = 99\n"
	                           "[b]\n"
	                           "port = 8443\n"
	                           "host = https://h/\n"
	                           "[c]   \n"
	                           "host = h\n"
	                           "required_roots = One Root,\n"
	                           "  [Bracketed] Root\n";
	ck_ctx *ctx = ck_ctx_new();
	struct eplist l = {0};

	(void)state;
	if (parse(ctx, text, &l) != CK_OK)
		fail_msg("%s", ck_ctx_error(ctx));
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].port, 99);
	assert_int_equal(l.v[1].port, 8443);
	assert_string_equal(l.v[2].name, "c");
	assert_int_equal(l.v[2].nrequired, 2);
	assert_string_equal(l.v[2].required_roots[1], "[Bracketed] Root");
	eplist_free(&l);
	ck_ctx_free(ctx);
}

static void
test_files(void **state)
{
	char dir[] = "/tmp/certkit-profile.XXXXXX", path[256];
	ck_ctx *ctx = ck_ctx_new();
	struct eplist l = {0};
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/site.ini", dir);
	/* A missing file names itself. */
	assert_int_equal(
	    cki_doc_load_profile(ctx, path, &l.v, &l.n, &l.cap), CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(ctx), path));
	assert_non_null(f = fopen(path, "w"));
	fputs("[gw]\nhost = gw.example.test\nclient_cert = id/gw.pem\n"
	      "client_key = /abs/gw.key\n",
	    f);
	fclose(f);
	assert_int_equal(
	    cki_doc_load_profile(ctx, path, &l.v, &l.n, &l.cap), CK_OK);
	assert_int_equal(l.n, 1);
	/* Relative paths are relative to the profile, not the cwd. */
	{
		char want[300];

		snprintf(want, sizeof(want), "%s/id/gw.pem", dir);
		assert_string_equal(l.v[0].client_cert, want);
		assert_string_equal(l.v[0].client_key, "/abs/gw.key");
	}
	/* A binary file is refused with its name. */
	assert_non_null(f = fopen(path, "w"));
	fwrite("[a]\0host", 1, 8, f);
	fclose(f);
	assert_int_equal(
	    cki_doc_load_profile(ctx, path, &l.v, &l.n, &l.cap), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx), "NUL"));
	assert_int_equal(l.n, 1);
	unlink(path);
	rmdir(dir);
	eplist_free(&l);
	ck_ctx_free(ctx);
}

/* The example profiles shipped in profiles/ all parse. */
static void
test_shipped(void **state)
{
	static const char *const files[] = {
	    "nx-cloud.ini", "zpe-cloud.ini", "safeq-primary.ini", "exacq.ini"};
	const char *src = getenv("CERTKIT_SRC");

	(void)state;
	if (src == NULL)
		skip();
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		struct eplist l = {0};
		char path[1024];

		snprintf(path, sizeof(path), "%s/profiles/%s", src, files[i]);
		if (cki_doc_load_profile(ctx, path, &l.v, &l.n, &l.cap) !=
		    CK_OK)
			fail_msg("%s", ck_ctx_error(ctx));
		assert_true(l.n > 0);
		eplist_free(&l);
		ck_ctx_free(ctx);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_long_lines),
	    cmocka_unit_test(test_headers_and_ports_ok),
	    cmocka_unit_test(test_files),
	    cmocka_unit_test(test_shipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
