/* test_selftest.c: the in-process TLS handshake (lib/identity/selftest.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "identity_int.h"
#include "testutil.h"

static X509 *
load(const char *file)
{
	FILE *f = fopen(pki(file), "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

struct st_case {
	const char *name;
	const char *chain; /* served as fullchain */
	const char *key;
	const char *anchor;
	const char *dns, *ip; /* names checked (may be NULL) */
	int64_t at;
	bool want_ok;
	const char *err; /* fragment of the failure */
};

static const struct st_case cases[] = {
    {"leaf+int to the root", "chain.pem", "leaf.key", "root-ca.pem",
        "device.example.test", "192.0.2.10", PINNED_TIME, true, NULL},
    {"wildcard and IPv6", "chain.pem", "leaf.key", "root-ca.pem",
        "x.cams.example.test", "2001:db8::10", PINNED_TIME, true, NULL},
    {"anchored at the intermediate", "chain.pem", "leaf.key", "int-ca.pem",
        "device.example.test", NULL, PINNED_TIME, true, NULL},
    {"self-signed leaf pinned", "leaf-selfsigned.pem", "leaf-selfsigned.key",
        "leaf-selfsigned.pem", "selfsigned.example.test", NULL, PINNED_TIME,
        true, NULL},
    {"wrong root", "chain.pem", "leaf.key", "other-root.pem",
        "device.example.test", NULL, PINNED_TIME, false,
        "unable to get local issuer certificate"},
    {"wrong name", "chain.pem", "leaf.key", "root-ca.pem", "nvr.example.com",
        NULL, PINNED_TIME, false, "hostname mismatch"},
    {"wrong address", "chain.pem", "leaf.key", "root-ca.pem",
        "device.example.test", "198.51.100.1", PINNED_TIME, false,
        "does not cover the address 198.51.100.1"},
    {"expired at that time", "chain.pem", "leaf.key", "root-ca.pem",
        "device.example.test", NULL, INT64_C(1830000000), false,
        "certificate has expired"},
    {"key of another certificate", "chain.pem", "other-leaf.key", "root-ca.pem",
        "device.example.test", NULL, PINNED_TIME, false,
        "cannot be used as the server key"},
    {"not a certificate", "leaf.key", "leaf.key", "root-ca.pem",
        "device.example.test", NULL, PINNED_TIME, false, "cannot be served"},
    {"client-only EKU", "leaf-client.pem", "leaf-client.key", "int-ca.pem",
        "gateway-01.example.test", NULL, PINNED_TIME, false,
        "unsuitable certificate purpose"},
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct st_case *c = &cases[i];
		ck_ctx *ctx = ck_ctx_new();
		struct cki_strlist dns = {0}, ip = {0};
		X509 *anchor = load(c->anchor);
		json_t *res = NULL;
		bool ok = !c->want_ok;
		char chain[4096], key[4096];
		const char *err;
		time_t t0 = time(NULL);

		snprintf(chain, sizeof(chain), "%s", pki(c->chain));
		snprintf(key, sizeof(key), "%s", pki(c->key));
		ck_ctx_set_time(ctx, c->at);
		if (c->dns != NULL)
			assert_int_equal(cki_strlist_add(&dns, c->dns), CK_OK);
		if (c->ip != NULL)
			assert_int_equal(cki_strlist_add(&ip, c->ip), CK_OK);
		assert_int_equal(cki_selftest(ctx, chain, key, anchor, &dns,
		                     &ip, 5000, false, &ok, &res),
		    CK_OK);
		assert_non_null(res);
		err = json_string_value(json_object_get(res, "error"));
		if (ok != c->want_ok ||
		    (c->err != NULL &&
		        (err == NULL || strstr(err, c->err) == NULL)))
			fail_msg("%s: ok=%d (%s), want %d with '%s'", c->name,
			    ok, err ? err : "", c->want_ok,
			    c->err ? c->err : "");
		if (ok) {
			assert_non_null(json_string_value(
			    json_object_get(res, "protocol")));
			assert_int_equal(json_array_size(json_object_get(
			                     res, "names_checked")),
			    dns.n + ip.n);
		}
		assert_true(time(NULL) - t0 < 5); /* bounded */
		json_decref(res);
		cki_strlist_clear(&dns);
		cki_strlist_clear(&ip);
		X509_free(anchor);
		ck_ctx_free(ctx);
	}
}

static void
test_fault(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	struct cki_strlist dns = {0}, ip = {0};
	X509 *anchor = load("root-ca.pem");
	json_t *res = NULL;
	bool ok = true;
	char chain[4096], key[4096];

	(void)state;
	snprintf(chain, sizeof(chain), "%s", pki("chain.pem"));
	snprintf(key, sizeof(key), "%s", pki("leaf.key"));
	setenv("CERTKIT_FAULT", "selftest", 1);
	assert_int_equal(cki_selftest(ctx, chain, key, anchor, &dns, &ip, 1000,
	                     false, &ok, &res),
	    CK_OK);
	unsetenv("CERTKIT_FAULT");
	assert_false(ok);
	assert_non_null(strstr(json_string_value(json_object_get(res, "error")),
	    "CERTKIT_FAULT=selftest"));
	json_decref(res);
	X509_free(anchor);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_fault),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
