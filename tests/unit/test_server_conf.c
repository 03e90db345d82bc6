/* test_server_conf.c: the [server] section (lib/server/server_conf.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "server_conf.h"
#include "testutil.h"

struct conf_case {
	const char *name;
	const char *text;
	ck_status want;
	const char *err; /* fragment of the error, or NULL */
};

static const struct conf_case cases[] = {
    {"empty", "", CK_OK, NULL},
    {"all keys",
        "[server]\nlisten = 127.0.0.1:0, [::1]:8443\n  *:9443\n"
        "identity = p12\np12 = s.p12\np12_password_file = /etc/pw\n"
        "min_protocol = TLSv1.3\nmax_protocol = TLSv1.3\n"
        "ciphersuites = TLS_AES_256_GCM_SHA384\n"
        "ciphers = ECDHE-ECDSA-AES256-GCM-SHA384\ngroups = P-256\n"
        "client_policy = trusted-ca+pairing\nclient_ca = ca.pem, /x/i.der\n"
        "ocsp = hard-fail\nocsp_responder = http://127.0.0.1:8/\n"
        "crl = a.crl\nregistry = sqlite:/var/r.db\npending_ttl = 2d\n"
        "max_pending = 5\nheartbeat = 1m\nretry_after = 10\n",
        CK_OK, NULL},
    {"unknown key", "[server]\nlistn = *:1\n", CK_E_FORMAT,
        "t.conf:2: unknown key 'listn' in [server]"},
    {"twice", "[server]\nlisten = *:1\nlisten = *:2\n", CK_E_FORMAT,
        "t.conf:3: 'listen' is set twice"},
    {"listen no port", "[server]\nlisten = 127.0.0.1\n", CK_E_FORMAT,
        "t.conf:2: [server] listen: expected ADDR:PORT"},
    {"listen big port", "[server]\n\nlisten = *:70000\n", CK_E_FORMAT,
        "t.conf:3: [server] listen: expected ADDR:PORT, ADDR being *, "
        "an IPv4 address, [IPv6] or a host name, PORT 0 to 65535, found "
        "'*:70000'"},
    {"listen bad v6", "[server]\nlisten = ::1:80\n", CK_E_FORMAT,
        "found '::1:80'"},
    {"listen empty", "[server]\nlisten = ,\n", CK_E_FORMAT,
        "listen: expected ADDR:PORT"},
    {"identity word", "[server]\nidentity = pfx\n", CK_E_FORMAT,
        "t.conf:2: [server] identity: expected device or p12, found 'pfx'"},
    {"p12 without password", "[server]\nidentity = p12\np12 = a.p12\n",
        CK_E_FORMAT, "t.conf:3: [server] identity = p12 needs both"},
    {"p12 missing", "[server]\nidentity = p12\n", CK_E_FORMAT,
        "t.conf:2: [server] identity = p12 needs both p12 = FILE and "
        "p12_password_file = FILE; p12 is missing"},
    {"device with p12", "[server]\nidentity = device\np12 = a.p12\n",
        CK_E_FORMAT, "t.conf:3: [server] identity is 'device' but p12"},
    {"bad protocol", "[server]\nmin_protocol = TLSv1.1\n", CK_E_FORMAT,
        "min_protocol: expected TLSv1.2 or TLSv1.3, found 'TLSv1.1'"},
    {"min above max",
        "[server]\nmin_protocol = TLSv1.3\nmax_protocol = TLSv1.2\n",
        CK_E_FORMAT, "t.conf:2: [server] min_protocol (TLSv1.3) is above"},
    {"bad suites", "[server]\nciphersuites = TLS_NOPE\n", CK_E_FORMAT,
        "t.conf:2: [server] ciphersuites: expected TLS 1.3 suite names"},
    {"bad ciphers", "[server]\nciphers = NOPE-NOPE\n", CK_E_FORMAT,
        "[server] ciphers: expected TLS 1.2 cipher names"},
    {"bad groups", "[server]\ngroups = P-999\n", CK_E_FORMAT,
        "[server] groups: expected group names"},
    {"bad policy", "[server]\nclient_policy = open\n", CK_E_FORMAT,
        "client_policy: expected pairing, trusted-ca or "
        "trusted-ca+pairing, found 'open'"},
    {"trusted-ca without ca", "[server]\nclient_policy = trusted-ca\n",
        CK_E_FORMAT,
        "t.conf:2: [server] client_policy = trusted-ca needs "
        "client_ca"},
    {"bad ocsp", "[server]\nocsp = strict\n", CK_E_FORMAT,
        "ocsp: expected off, soft-fail or hard-fail, found 'strict'"},
    {"https responder", "[server]\nocsp_responder = https://x/\n", CK_E_FORMAT,
        "ocsp_responder: expected an http:// URL"},
    {"postgres", "[server]\nregistry = postgresql://db/x\n", CK_OK, NULL},
    {"postgres conninfo", "[server]\nregistry = host=/run dbname=x\n", CK_OK,
        NULL},
    {"password file without postgres",
        "[server]\nregistry_password_file = pw\n", CK_E_FORMAT,
        "registry_password_file: expected a PostgreSQL registry"},
    {"bad registry", "[server]\nregistry = mysql\n", CK_E_FORMAT,
        "registry: expected sqlite, sqlite:FILE, postgresql://... or a "
        "PostgreSQL conninfo, found 'mysql'"},
    {"ttl unit", "[server]\npending_ttl = 3w\n", CK_E_FORMAT,
        "t.conf:2: [server] pending_ttl: expected a duration from 60s"},
    {"ttl short", "[server]\npending_ttl = 5s\n", CK_E_FORMAT,
        "pending_ttl: expected a duration"},
    {"ttl junk", "[server]\npending_ttl = 5dd\n", CK_E_FORMAT, "found '5dd'"},
    {"ttl negative", "[server]\npending_ttl = -5\n", CK_E_FORMAT, "found '-5'"},
    {"max_pending 0", "[server]\nmax_pending = 0\n", CK_E_FORMAT,
        "max_pending: expected a whole number from 1"},
    {"heartbeat huge", "[server]\nheartbeat = 99999999999999999999d\n",
        CK_E_FORMAT, "heartbeat: expected a duration"},
    {"other sections left alone", "[identity]\nfoo = 1\n[server]\n", CK_OK,
        NULL},
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct conf_case *c = &cases[i];
		ck_ctx *ctx = ck_ctx_new();
		cki_config *cfg = NULL;
		struct cki_server_conf sc;
		ck_status st;

		assert_int_equal(cki_config_load_mem(ctx, "t.conf", c->text,
		                     strlen(c->text), &cfg),
		    CK_OK);
		st = cki_server_conf_parse(ctx, "/h", cfg, &sc);
		if (st != c->want ||
		    (c->err != NULL &&
		        strstr(ck_ctx_error(ctx), c->err) == NULL))
			fail_msg("%s: status %d (%s), want %d with '%s'",
			    c->name, st, ck_ctx_error(ctx), c->want,
			    c->err ? c->err : "");
		if (st == CK_OK)
			cki_server_conf_free(&sc);
		else /* nothing left to free on error */
			assert_null(sc.home);
		cki_config_free(cfg);
		ck_ctx_free(ctx);
	}
}

static void
test_defaults(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	struct cki_server_conf sc;

	(void)state;
	assert_int_equal(cki_server_conf_defaults(ctx, "/h", &sc), CK_OK);
	assert_int_equal(sc.listen.n, 1);
	assert_string_equal(sc.listen.v[0], "*:8443");
	assert_int_equal(sc.id_source, CKI_SRV_ID_DEVICE);
	assert_int_equal(sc.min_proto, TLS1_2_VERSION);
	assert_int_equal(sc.max_proto, TLS1_3_VERSION);
	assert_null(strstr(sc.ciphers, "CBC"));
	assert_non_null(strstr(sc.ciphers, "ECDHE"));
	assert_int_equal(sc.policy, CKI_POLICY_PAIRING);
	assert_int_equal(sc.ocsp, CKI_OCSP_OFF);
	assert_string_equal(sc.registry, "sqlite");
	assert_string_equal(sc.registry_path, "/h/server/registry.db");
	assert_string_equal(sc.conf_name, "/h/certkit.conf");
	assert_int_equal(sc.pending_ttl, 7 * 86400);
	assert_int_equal(sc.max_pending, 10000);
	assert_int_equal(sc.heartbeat, 30);
	assert_int_equal(sc.retry_after, 30);
	assert_string_equal(cki_policy_name(sc.policy), "pairing");
	assert_string_equal(
	    cki_ocsp_mode_name(CKI_OCSP_HARD_FAIL), "hard-fail");
	cki_server_conf_free(&sc);
	cki_server_conf_free(NULL);
	ck_ctx_free(ctx);
}

static void
test_values(void **state)
{
	const char *text = "[server]\nlisten = 127.0.0.1:0\n  [::1]:9\n"
	                   "p12 = k/s.p12\np12_password_file = /pw\n"
	                   "client_policy = TRUSTED-CA\nclient_ca = ca.pem\n"
	                   "crl = /c.crl, d.crl\nregistry = sqlite:r.db\n"
	                   "pending_ttl = 2h\nheartbeat = 45\n"
	                   "min_protocol = 1.3\n";
	ck_ctx *ctx = ck_ctx_new();
	cki_config *cfg = NULL;
	struct cki_server_conf sc;

	(void)state;
	assert_int_equal(
	    cki_config_load_mem(ctx, "t.conf", text, strlen(text), &cfg),
	    CK_OK);
	assert_int_equal(cki_server_conf_parse(ctx, "/h", cfg, &sc), CK_OK);
	assert_int_equal(sc.listen.n, 2); /* the default is replaced */
	assert_string_equal(sc.listen.v[0], "127.0.0.1:0");
	assert_string_equal(sc.listen.v[1], "[::1]:9");
	assert_int_equal(sc.id_source, CKI_SRV_ID_P12); /* p12 implies it */
	assert_string_equal(sc.p12, "/h/k/s.p12");      /* under HOME */
	assert_string_equal(sc.p12_password_file, "/pw");
	assert_int_equal(sc.policy, CKI_POLICY_TRUSTED_CA);
	assert_string_equal(sc.client_ca.v[0], "/h/ca.pem");
	assert_int_equal(sc.crl.n, 2);
	assert_string_equal(sc.crl.v[1], "/h/d.crl");
	assert_string_equal(sc.registry_path, "/h/r.db");
	assert_int_equal(sc.pending_ttl, 7200);
	assert_int_equal(sc.heartbeat, 45);
	assert_int_equal(sc.min_proto, TLS1_3_VERSION);
	assert_string_equal(sc.conf_name, "t.conf");
	cki_server_conf_free(&sc);
	cki_config_free(cfg);
	ck_ctx_free(ctx);
}

/* A PostgreSQL registry: the password file reaches libpq as passfile,
 * quoted in a conninfo, a query parameter of a URI. */
static void
test_pg_password_file(void **state)
{
	static const struct {
		const char *text, *want;
	} v[] = {
	    {"registry = host=/run dbname=ck\nregistry_password_file = p'w\n",
	        "host=/run dbname=ck passfile='/h/p\\'w'"},
	    {"registry = postgresql://db/ck\nregistry_password_file = /pw\n",
	        "postgresql://db/ck?passfile=/pw"},
	    {"registry = postgresql://db/ck?sslmode=require\n"
	     "registry_password_file = /pw\n",
	        "postgresql://db/ck?sslmode=require&passfile=/pw"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		cki_config *cfg = NULL;
		struct cki_server_conf sc;
		char text[256];

		snprintf(text, sizeof(text), "[server]\n%s", v[i].text);
		assert_int_equal(cki_config_load_mem(
		                     ctx, "t.conf", text, strlen(text), &cfg),
		    CK_OK);
		assert_int_equal(
		    cki_server_conf_parse(ctx, "/h", cfg, &sc), CK_OK);
		assert_string_equal(sc.registry, v[i].want);
		assert_null(sc.registry_path);
		cki_server_conf_free(&sc);
		cki_config_free(cfg);
		ck_ctx_free(ctx);
	}
}

static void
test_load_file(void **state)
{
	char dir[] = "/tmp/certkit-sconf.XXXXXX", path[256];
	ck_ctx *ctx = ck_ctx_new();
	struct cki_server_conf sc;
	FILE *f;

	(void)state;
	assert_non_null(mkdtemp(dir));
	/* No file: the defaults. */
	assert_int_equal(cki_server_conf_load(ctx, dir, &sc), CK_OK);
	assert_string_equal(sc.listen.v[0], "*:8443");
	cki_server_conf_free(&sc);
	snprintf(path, sizeof(path), "%s/certkit.conf", dir);
	assert_non_null(f = fopen(path, "w"));
	fputs("[server]\n\nocsp = maybe\n", f);
	fclose(f);
	assert_int_equal(cki_server_conf_load(ctx, dir, &sc), CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx), path));
	assert_non_null(strstr(ck_ctx_error(ctx), "certkit.conf:3: [server]"));
	unlink(path);
	rmdir(dir);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_load_file),
	    cmocka_unit_test(test_pg_password_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
