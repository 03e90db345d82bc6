/* test_identity.c: the device identity (lib/identity*.c): names, the
 * default certificate, CSRs, DN parsing, install checks, the hook runner and
 * the public API end to end in a temporary home. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "identity_int.h"
#include "testutil.h"

static char home[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(home, sizeof(home), "/tmp/certkit-idu.XXXXXX");
	if (mkdtemp(home) == NULL)
		return -1;
	setenv("CERTKIT_HOSTNAME", "device.example.test", 1);
	setenv("CERTKIT_IPS", "192.0.2.10", 1);
	setenv("SSL_CERT_FILE", pki("root-ca.pem"), 1);
	unsetenv("CERTKIT_FAULT");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	return system(cmd) == 0 ? 0 : -1;
}

static void
fresh_home(void)
{
	teardown(NULL);
	mkdir(home, 0700);
}

/* ---- names -------------------------------------------------------------- */

static void
test_dns_valid(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} t[] = {
	    {"device", true}, {"device.example.test", true},
	    {"*.cams.example.test", true}, {"a-b.c1", true}, {"", false},
	    {"-a.example", false}, {"a-.example", false}, {"a..b", false},
	    {"a b", false}, {"a_b", false}, {"*", false}, {"*.", false},
	    {"a.*.b", false}, {"x*.example", false}, {"a.", false},
	    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	     ".example",
	        false}, /* 64-character label */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (cki_dns_valid(t[i].s) != t[i].ok)
			fail_msg("cki_dns_valid('%s') != %d", t[i].s, t[i].ok);
}

static void
test_ip_canon(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
	    {"192.0.2.1", "192.0.2.1"},
	    {"2001:DB8:0::10", "2001:db8::10"},
	    {"::1", "::1"},
	    {"300.1.1.1", NULL},
	    {"1.2.3", NULL},
	    {"host", NULL},
	    {"", NULL},
	    {"192.0.2.1/24", NULL},
	};
	char buf[64];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		bool ok = cki_ip_canon(t[i].in, buf, sizeof(buf));

		if (ok != (t[i].out != NULL) ||
		    (ok && strcmp(buf, t[i].out) != 0))
			fail_msg("cki_ip_canon('%s')", t[i].in);
	}
}

static void
test_names_env(void **state)
{
	static const struct {
		const char *host, *ips;
		ck_status want;
		size_t ndns, nip;
		const char *err;
	} t[] = {
	    {"a.example,b", "192.0.2.1, 2001:db8::1", CK_OK, 2, 2, NULL},
	    {"", "", CK_OK, 0, 0, NULL},
	    {"a.example,,A.EXAMPLE", "192.0.2.1,192.0.2.1", CK_OK, 1, 1, NULL},
	    {"bad name", "", CK_E_USAGE, 0, 0, "CERTKIT_HOSTNAME"},
	    {"a", "10.0.0.300", CK_E_USAGE, 0, 0, "CERTKIT_IPS"},
	};
	ck_ctx *ctx = ck_ctx_new();
	ck_identity *id;

	(void)state;
	fresh_home();
	assert_int_equal(ck_identity_new(ctx, home, &id), CK_OK);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cki_names n;
		ck_status st;

		setenv("CERTKIT_HOSTNAME", t[i].host, 1);
		setenv("CERTKIT_IPS", t[i].ips, 1);
		st = cki_names_collect(id, &n);
		if (st != t[i].want ||
		    (t[i].err != NULL &&
		        strstr(ck_ctx_error(ctx), t[i].err) == NULL))
			fail_msg("case %zu: %d %s", i, st, ck_ctx_error(ctx));
		if (st == CK_OK) {
			assert_int_equal(n.dns.n, t[i].ndns);
			assert_int_equal(n.ip.n, t[i].nip);
			assert_int_equal(n.nconf_dns, 0);
			cki_names_free(&n);
		}
	}
	/* Configured names come first and are marked so. */
	setenv("CERTKIT_HOSTNAME", "device.example.test", 1);
	setenv("CERTKIT_IPS", "192.0.2.10", 1);
	assert_int_equal(ck_identity_add_name(id, "nvr.example.com"), CK_OK);
	{
		struct cki_names n;

		assert_int_equal(cki_names_collect(id, &n), CK_OK);
		assert_string_equal(n.dns.v[0], "nvr.example.com");
		assert_int_equal(n.nconf_dns, 1);
		assert_string_equal(n.dns.v[1], "device.example.test");
		cki_names_free(&n);
	}
	assert_int_equal(ck_identity_add_name(id, "bad name"), CK_E_USAGE);
	assert_int_equal(ck_identity_add_ip(id, "1.2.3.4.5"), CK_E_USAGE);
	assert_int_equal(ck_identity_set_key_type(id, "dsa"), CK_E_USAGE);
	assert_int_equal(ck_identity_set_days(id, 0), CK_E_USAGE);
	assert_int_equal(ck_identity_set_days(id, 826), CK_E_USAGE);
	assert_int_equal(ck_identity_set_renew_before(id, -1), CK_E_USAGE);
	ck_identity_free(id);
	ck_ctx_free(ctx);
}

/* ---- the default certificate and CSRs ----------------------------------- */

static void
names_of(struct cki_names *n, const char *const *dns, const char *const *ip)
{
	memset(n, 0, sizeof(*n));
	for (; dns != NULL && *dns != NULL; dns++)
		assert_int_equal(cki_strlist_add(&n->dns, *dns), CK_OK);
	for (; ip != NULL && *ip != NULL; ip++)
		assert_int_equal(cki_strlist_add(&n->ip, *ip), CK_OK);
}

static void
test_selfsign(void **state)
{
	static const char *const dns[] = {"nvr01.example.test", "nvr01", NULL};
	static const char *const ip[] = {"192.0.2.10", "2001:db8::10", NULL};
	static const int kts[] = {CKI_KEY_EC_P256, CKI_KEY_RSA_2048};
	ck_ctx *ctx = ck_ctx_new();
	struct cki_names n;

	(void)state;
	names_of(&n, dns, ip);
	for (size_t k = 0; k < 2; k++) {
		EVP_PKEY *key = cki_keygen(ctx, kts[k]);
		X509 *x;
		const ASN1_INTEGER *ser;
		int64_t nb, na;
		char *cn;

		assert_non_null(key);
		x = cki_selfsign(ctx, key, &n, 30, (time_t)PINNED_TIME);
		assert_non_null(x);
		ser = X509_get0_serialNumber(x);
		assert_int_equal(ASN1_STRING_length(ser), 16);
		assert_int_equal(ASN1_STRING_type(ser), V_ASN1_INTEGER);
		assert_true(cki_asn1_time(X509_get0_notBefore(x), &nb));
		assert_true(cki_asn1_time(X509_get0_notAfter(x), &na));
		assert_true(nb == PINNED_TIME - 3600);
		assert_true(na == PINNED_TIME + 30 * 86400);
		assert_int_equal(X509_check_ca(x), 0);
		assert_true(X509_get_extended_key_usage(x) & XKU_SSL_SERVER);
		assert_true(X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
		assert_int_equal(
		    (X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT) != 0,
		    kts[k] == CKI_KEY_RSA_2048);
		assert_non_null(X509_get0_subject_key_id(x));
		for (size_t i = 0; dns[i] != NULL; i++)
			assert_true(cki_covers_dns(x, dns[i]));
		for (size_t i = 0; ip[i] != NULL; i++)
			assert_true(cki_covers_ip(x, ip[i]));
		assert_false(cki_covers_dns(x, "other.example.test"));
		cn = ck_cert_common_name(&(ck_cert){x});
		assert_string_equal(cn, "nvr01.example.test");
		free(cn);
		assert_int_equal(X509_verify(x, key), 1);
		X509_free(x);
		EVP_PKEY_free(key);
	}
	cki_names_free(&n);
	ck_ctx_free(ctx);
}

static void
test_selfsign_edges(void **state)
{
	static const char *const longname[] = {
	    "a-very-long-host-name-that-does-not-fit.in-the-common-name"
	    ".example.test",
	    NULL};
	static const char *const ipsonly[] = {"192.0.2.10", NULL};
	ck_ctx *ctx = ck_ctx_new();
	EVP_PKEY *key = cki_keygen(ctx, CKI_KEY_EC_P256);
	struct cki_names n;
	X509 *x;
	int crit = -1;

	(void)state;
	/* No names: an error that says where to set them. */
	names_of(&n, NULL, NULL);
	assert_null(cki_selfsign(ctx, key, &n, 30, time(NULL)));
	assert_non_null(strstr(ck_ctx_error(ctx), "names or ips"));
	cki_names_free(&n);
	/* Longer than 64: empty subject, critical SAN (RFC 5280 4.2.1.6). */
	names_of(&n, longname, NULL);
	x = cki_selfsign(ctx, key, &n, 30, time(NULL));
	assert_non_null(x);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
	{
		GENERAL_NAMES *g =
		    X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);

		assert_non_null(g);
		GENERAL_NAMES_free(g);
	}
	assert_int_equal(crit, 1);
	X509_free(x);
	cki_names_free(&n);
	/* Addresses only: the CN is the first address. */
	names_of(&n, NULL, ipsonly);
	x = cki_selfsign(ctx, key, &n, 30, time(NULL));
	assert_non_null(x);
	assert_true(cki_covers_ip(x, "192.0.2.10"));
	X509_free(x);
	cki_names_free(&n);
	EVP_PKEY_free(key);
	ck_ctx_free(ctx);
}

static void
test_parse_dn(void **state)
{
	static const struct {
		const char *in, *out, *err;
	} t[] = {
	    {"/C=US/O=Example/CN=host", "C = US, O = Example, CN = host", NULL},
	    {"C=US, O=Example, CN=host", "C = US, O = Example, CN = host",
	        NULL},
	    {"CN=host", "CN = host", NULL},
	    {"/O=a\\/b/CN=x", "O = a/b, CN = x", NULL},
	    {"O=Acme\\, Inc., CN=x", "O = \"Acme, Inc.\", CN = x", NULL},
	    {" CN = spaced ", "CN = spaced", NULL},
	    {"/C=USA/CN=x", NULL, "two-letter country code"},
	    {"/XX=1", NULL, "unknown attribute 'XX'"},
	    {"/CN=", NULL, "empty value"},
	    {"/CN", NULL, "expected ATTRIBUTE=VALUE"},
	    {"", NULL, "no attribute found"},
	    {"/", NULL, "no attribute found"},
	};
	ck_ctx *ctx = ck_ctx_new();

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		X509_NAME *n = cki_parse_dn(ctx, t[i].in);

		if (t[i].out != NULL) {
			char *s;

			if (n == NULL)
				fail_msg(
				    "'%s': %s", t[i].in, ck_ctx_error(ctx));
			s = cki_name_oneline(n);
			if (strcmp(s, t[i].out) != 0)
				fail_msg("'%s' gave '%s'", t[i].in, s);
			free(s);
		} else if (n != NULL ||
		    strstr(ck_ctx_error(ctx), t[i].err) == NULL) {
			fail_msg("'%s' should fail with '%s': %s", t[i].in,
			    t[i].err, ck_ctx_error(ctx));
		}
		X509_NAME_free(n);
	}
	ck_ctx_free(ctx);
}

static void
test_csr(void **state)
{
	static const char *const dns[] = {"cam.example.test", NULL};
	static const char *const ip[] = {"192.0.2.7", NULL};
	ck_ctx *ctx = ck_ctx_new();
	EVP_PKEY *key = cki_keygen(ctx, CKI_KEY_RSA_2048);
	struct cki_names n;
	X509_REQ *req;
	STACK_OF(X509_EXTENSION) * exts;
	char *s;

	(void)state;
	names_of(&n, dns, ip);
	req = cki_make_csr(ctx, key, &n, NULL);
	assert_non_null(req);
	assert_int_equal(X509_REQ_verify(req, key), 1);
	s = cki_name_oneline(X509_REQ_get_subject_name(req));
	assert_string_equal(s, "CN = cam.example.test");
	free(s);
	exts = X509_REQ_get_extensions(req);
	assert_int_equal(sk_X509_EXTENSION_num(exts), 1);
	assert_int_equal(OBJ_obj2nid(X509_EXTENSION_get_object(
	                     sk_X509_EXTENSION_value(exts, 0))),
	    NID_subject_alt_name);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	assert_null(cki_make_csr(ctx, key, &n, "/ZZ=1"));
	cki_names_free(&n);
	names_of(&n, NULL, NULL);
	assert_null(cki_make_csr(ctx, key, &n, NULL));
	cki_names_free(&n);
	EVP_PKEY_free(key);
	ck_ctx_free(ctx);
}

/* ---- the hook runner ---------------------------------------------------- */

static void
test_hook(void **state)
{
	static const struct {
		const char *cmd;
		long timeout;
		bool ok;
		const char *err, *out;
	} t[] = {
	    {"true", 5, true, NULL, ""},
	    {"echo hello; echo err >&2", 5, true, NULL, "hello\nerr\n"},
	    {"exit 3", 5, false, "exited with status 3", NULL},
	    {"kill -9 $$", 5, false, "killed by signal 9", NULL},
	    {"sleep 30", 1, false, "did not finish within 1 seconds", NULL},
	    {"printf 'a\\0b\\377c'", 5, true, NULL, "a?b?c"},
	    {"/nonexistent/command", 5, false, "exited with status 127", NULL},
	    {"echo $CERTKIT_IDENTITY_ACTION:$CERTKIT_IDENTITY_DIR", 5, true,
	        NULL, "test:/dir\n"},
	    {"read x; echo got=$x", 5, true, NULL, "got=\n"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		time_t t0 = time(NULL);
		json_t *r =
		    cki_run_hook(t[i].cmd, t[i].timeout, "/dir", "test");
		const char *err, *out;

		assert_non_null(r);
		err = json_string_value(json_object_get(r, "error"));
		out = json_string_value(json_object_get(r, "output"));
		if (json_is_true(json_object_get(r, "ok")) != t[i].ok ||
		    (t[i].err != NULL &&
		        (err == NULL || strstr(err, t[i].err) == NULL)) ||
		    (t[i].out != NULL && strcmp(out, t[i].out) != 0))
			fail_msg("'%s': ok=%d err=%s out=%s", t[i].cmd,
			    json_is_true(json_object_get(r, "ok")),
			    err ? err : "-", out ? out : "-");
		assert_true(time(NULL) - t0 <= t[i].timeout + 3);
		json_decref(r);
	}
	/* Output is capped at the last 4096 bytes. */
	{
		json_t *r = cki_run_hook("seq 1 5000", 10, "/d", "t");
		const char *out =
		    json_string_value(json_object_get(r, "output"));

		assert_int_equal(strlen(out), 4096);
		assert_non_null(strstr(out, "5000\n"));
		json_decref(r);
	}
}

/* ---- the public API, end to end ----------------------------------------- */

static json_t *
parse(char *json)
{
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	ck_free(json);
	return j;
}

static void
test_lifecycle(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_identity *id = NULL;
	char *json = NULL;
	json_t *j;
	char cur1[256], cur2[256];

	(void)state;
	fresh_home();
	ck_ctx_set_time(ctx, PINNED_TIME);
	assert_int_equal(ck_identity_new(ctx, home, &id), CK_OK);
	/* status with nothing */
	assert_int_equal(ck_identity_status(id, &json), CK_OK);
	j = parse(json);
	assert_true(json_is_false(json_object_get(j, "present")));
	json_decref(j);
	/* init, then init again */
	assert_int_equal(ck_identity_init(id, &json), CK_OK);
	j = parse(json);
	assert_true(json_is_true(json_object_get(j, "changed")));
	assert_true(json_is_true(
	    json_object_get(json_object_get(j, "selftest"), "ok")));
	json_decref(j);
	assert_int_equal(ck_identity_init(id, &json), CK_E_EXISTS);
	assert_null(json);
	assert_true(cki_current_id(id, cur1));
	/* ensure: nothing to do */
	assert_int_equal(ck_identity_ensure(id, &json), CK_OK);
	j = parse(json);
	assert_true(json_is_false(json_object_get(j, "changed")));
	assert_int_equal(json_array_size(json_object_get(j, "reasons")), 0);
	json_decref(j);
	assert_true(cki_current_id(id, cur2));
	assert_string_equal(cur1, cur2);
	/* install: refused input changes nothing and lists the problem */
	assert_int_equal(ck_identity_install(id, pki("leaf.pem"),
	                     pki("other-leaf.key"), pki("int-ca.pem"), &json),
	    CK_E_REFUSED);
	j = parse(json);
	assert_true(json_is_true(json_object_get(j, "refused")));
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(j, "findings"), 0), "code")),
	    "key_mismatch");
	json_decref(j);
	assert_true(cki_current_id(id, cur2));
	assert_string_equal(cur1, cur2);
	/* install: good input */
	assert_int_equal(ck_identity_install(id, pki("leaf.pem"),
	                     pki("leaf.key"), pki("int-ca.pem"), &json),
	    CK_OK);
	j = parse(json);
	assert_true(json_is_true(json_object_get(j, "changed")));
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "identity"), "kind")),
	    "ca-issued");
	assert_true(json_is_string(json_object_get(j, "backup")));
	json_decref(j);
	/* backups: one */
	assert_int_equal(ck_identity_backups(id, &json), CK_OK);
	j = parse(json);
	assert_int_equal(json_array_size(json_object_get(j, "backups")), 1);
	json_decref(j);
	/* ensure never replaces it */
	assert_true(cki_current_id(id, cur1));
	setenv("CERTKIT_IPS", "192.0.2.99", 1);
	assert_int_equal(ck_identity_set_renew_before(id, 30), CK_OK);
	assert_int_equal(ck_identity_ensure(id, &json), CK_OK);
	setenv("CERTKIT_IPS", "192.0.2.10", 1);
	j = parse(json);
	assert_int_equal(json_array_size(json_object_get(j, "attention")), 1);
	json_decref(j);
	assert_true(cki_current_id(id, cur2));
	assert_string_equal(cur1, cur2);
	/* export */
	{
		char p[128];
		struct stat st;

		snprintf(p, sizeof(p), "%s/out.pem", home);
		assert_int_equal(
		    ck_identity_export(id, CK_FMT_PEM, 1, p), CK_OK);
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_int_equal(
		    ck_identity_export(id, CK_FMT_DER, 1, p), CK_E_USAGE);
		assert_int_equal(
		    ck_identity_export(id, CK_FMT_P7B, 0, p), CK_E_USAGE);
	}
	/* restore the default */
	assert_int_equal(ck_identity_restore(id, "2", &json), CK_OK);
	j = parse(json);
	assert_true(json_is_true(json_object_get(j, "changed")));
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(j, "identity"), "kind")),
	    CKI_KIND_DEFAULT);
	json_decref(j);
	assert_int_equal(ck_identity_restore(id, "nope", &json), CK_E_NOTFOUND);
	assert_int_equal(ck_identity_restore(id, "../x", &json), CK_E_USAGE);
	ck_identity_free(id);
	ck_ctx_free(ctx);
}

struct inst_case {
	const char *name;
	const char *cert, *key, *chain;
	int force;
	ck_status want;
	const char *code; /* a finding code that must appear */
};

static const struct inst_case inst_cases[] = {
    {"good", "leaf.pem", "leaf.key", "int-ca.pem", 0, CK_OK, NULL},
    {"reversed file, key inside", "reversed.pem", "leaf.key", NULL, 0, CK_OK,
        NULL},
    {"pkcs12", "leaf.p12", NULL, NULL, 0, CK_OK, NULL},
    {"mismatch", "leaf.pem", "other-leaf.key", "int-ca.pem", 1, CK_E_REFUSED,
        "key_mismatch"},
    {"expired", "leaf-expired.pem", "leaf-expired.key", "int-ca.pem", 1,
        CK_E_REFUSED, "expired"},
    {"not yet valid", "leaf-notyet.pem", "leaf-notyet.key", "int-ca.pem", 1,
        CK_E_REFUSED, "not_yet_valid"},
    {"client only", "leaf-client.pem", "leaf-client.key", "int-ca.pem", 1,
        CK_E_REFUSED, "eku_no_server_auth"},
    {"weak key", "leaf-weakkey.pem", "leaf-weakkey.key", "int-ca.pem", 1,
        CK_E_REFUSED, "weak_key"},
    {"sha1", "leaf-sha1.pem", "leaf-sha1.key", "int-ca.pem", 1, CK_E_REFUSED,
        "weak_signature"},
    {"RSA-PSS 1024 key", "leaf-pss1024.pem", "leaf-pss1024.key", "int-ca.pem",
        1, CK_E_REFUSED, "weak_key"},
    {"RSA-1024 intermediate", "leaf-weakint.pem", "leaf-weakint.key",
        "weak-int-ca.pem", 1, CK_E_REFUSED, "chain_invalid"},
    {"a CA", "int-ca.pem", "int-ca.key", NULL, 1, CK_E_REFUSED, "leaf_is_ca"},
    {"no intermediate", "leaf.pem", "leaf.key", NULL, 0, CK_E_REFUSED,
        "chain_incomplete"},
    {"unrelated extra", "leaf.pem", "leaf.key", "other-root.pem", 0,
        CK_E_REFUSED, "unrelated_certificate"},
    {"names (warning), forced", "other-leaf.pem", "other-leaf.key",
        "other-root.pem", 1, CK_OK, "detected_name_not_covered"},
    {"names (warning), not forced", "other-leaf.pem", "other-leaf.key",
        "other-root.pem", 0, CK_E_REFUSED, "detected_name_not_covered"},
    {"bad signature", "leaf-badsig.pem", "leaf.key", "int-ca.pem", 1,
        CK_E_REFUSED, "bad_signature"},
    {"name constraints", "nc-leaf-bad.pem", "nc-leaf-bad.key", "nc-ca.pem", 1,
        CK_E_REFUSED, "chain_invalid"},
    {"garbage", "random.bin", "leaf.key", NULL, 0, CK_E_FORMAT, NULL},
    {"key as cert", "leaf.key", NULL, NULL, 0, CK_E_FORMAT, NULL},
};

static void
test_install_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(inst_cases) / sizeof(inst_cases[0]);
	     i++) {
		const struct inst_case *c = &inst_cases[i];
		ck_ctx *ctx = ck_ctx_new();
		ck_identity *id = NULL;
		char *json = NULL, key[4096], chain[4096], cur[256] = "";
		ck_status st;

		fresh_home();
		ck_ctx_set_time(ctx, PINNED_TIME);
		assert_int_equal(ck_ctx_set_password(ctx, "secret"), CK_OK);
		assert_int_equal(ck_identity_new(ctx, home, &id), CK_OK);
		ck_identity_set_insecure_accept_warnings(id, c->force);
		snprintf(key, sizeof(key), "%s", c->key ? pki(c->key) : "");
		snprintf(
		    chain, sizeof(chain), "%s", c->chain ? pki(c->chain) : "");
		st = ck_identity_install(id, pki(c->cert), c->key ? key : NULL,
		    c->chain ? chain : NULL, &json);
		if (st != c->want ||
		    (c->code != NULL &&
		        (json == NULL || strstr(json, c->code) == NULL)))
			fail_msg("%s: status %d (%s), want %d with %s: %s",
			    c->name, st, ck_ctx_error(ctx), c->want,
			    c->code ? c->code : "-", json ? json : "");
		/* Refused: nothing on disk changed. */
		if (st != CK_OK) {
			assert_true(cki_current_id(id, cur));
			assert_string_equal(cur, "");
		}
		ck_free(json);
		ck_identity_free(id);
		ck_ctx_free(ctx);
	}
}

/* A client identity (the agent's, ck_identity_new_client): kept in its own
 * directory, clientAuth required, the device's names not required. */
static void
test_client_identity(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_identity *id = NULL;
	char *json = NULL, path[256], key[4096], chain[4096];
	struct stat sb;

	(void)state;
	fresh_home();
	ck_ctx_set_time(ctx, PINNED_TIME);
	assert_int_equal(
	    ck_identity_new_client(ctx, home, "../x", &id), CK_E_USAGE);
	assert_int_equal(
	    ck_identity_new_client(ctx, home, "a/../x", &id), CK_E_USAGE);
	assert_int_equal(
	    ck_identity_new_client(ctx, home, "a//x", &id), CK_E_USAGE);
	assert_int_equal(
	    ck_identity_new_client(ctx, home, "agent/identity", &id), CK_OK);
	snprintf(key, sizeof(key), "%s", pki("leaf-ca-eku-codesign.key"));
	snprintf(chain, sizeof(chain), "%s", pki("int-ca.pem"));
	assert_int_equal(
	    ck_identity_install(
	        id, pki("leaf-ca-eku-codesign.pem"), key, chain, &json),
	    CK_E_REFUSED);
	assert_non_null(strstr(json, "eku_no_client_auth"));
	ck_free(json);
	json = NULL;
	/* gateway-01.example.test is not the device's name: no finding. */
	snprintf(key, sizeof(key), "%s", pki("leaf-client.key"));
	assert_int_equal(
	    ck_identity_install(id, pki("leaf-client.pem"), key, chain, &json),
	    CK_OK);
	assert_null(strstr(json, "name_not_covered"));
	assert_non_null(strstr(json, "\"selftest\":{\"ok\":true"));
	ck_free(json);
	snprintf(
	    path, sizeof(path), "%s/agent/identity/current/cert.pem", home);
	assert_int_equal(stat(path, &sb), 0);
	snprintf(path, sizeof(path), "%s/agent/identity/current/key.pem", home);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 077, 0);
	snprintf(path, sizeof(path), "%s/identity", home);
	assert_int_not_equal(stat(path, &sb), 0);
	ck_identity_free(id);
	ck_ctx_free(ctx);
}

static void
test_damaged_current(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_identity *id = NULL;
	char *json = NULL, p[256];
	json_t *j;

	(void)state;
	fresh_home();
	assert_int_equal(ck_identity_new(ctx, home, &id), CK_OK);
	/* A current that certkit did not make is never touched. */
	snprintf(p, sizeof(p), "%s/identity", home);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/identity/current", home);
	mkdir(p, 0755);
	assert_int_equal(ck_identity_ensure(id, &json), CK_OK);
	j = parse(json);
	assert_int_equal(json_array_size(json_object_get(j, "attention")), 1);
	json_decref(j);
	assert_int_equal(ck_identity_reset(id, &json), CK_E_REFUSED);
	rmdir(p);
	/* A damaged default is replaced by ensure. */
	assert_int_equal(ck_identity_init(id, &json), CK_OK);
	ck_free(json);
	snprintf(p, sizeof(p), "%s/identity/current/cert.pem", home);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(ck_identity_ensure(id, &json), CK_OK);
	j = parse(json);
	assert_true(json_is_true(json_object_get(j, "changed")));
	json_decref(j);
	ck_identity_free(id);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dns_valid),
	    cmocka_unit_test(test_ip_canon),
	    cmocka_unit_test(test_names_env),
	    cmocka_unit_test(test_selfsign),
	    cmocka_unit_test(test_selfsign_edges),
	    cmocka_unit_test(test_parse_dn),
	    cmocka_unit_test(test_csr),
	    cmocka_unit_test(test_hook),
	    cmocka_unit_test(test_lifecycle),
	    cmocka_unit_test(test_install_table),
	    cmocka_unit_test(test_client_identity),
	    cmocka_unit_test(test_damaged_current),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
