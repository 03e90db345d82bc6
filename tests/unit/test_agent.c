/* test_agent.c: the agent's pure parts (lib/agent): the HTTP response
 * parser, the backoff and its jitter, the renewal time, the certs-only PKCS#7
 * reader, the [agent] section, and the state file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent_int.h"
#include "testutil.h"

struct resp_case {
	const char *name, *in;
	bool ok;
	int status;
	long retry_after;
	const char *ctype, *body;
};

static const struct resp_case resp_cases[] = {
    {"pending",
        "HTTP/1.1 202 Accepted\r\nRetry-After: 7\r\nContent-Type: "
        "application/json\r\nContent-Length: 2\r\n\r\n{}",
        true, 202, 7, "application/json", "{}"},
    {"no length: to EOF", "HTTP/1.0 200 OK\r\n\r\nabc", true, 200, -1, "",
        "abc"},
    {"header case, spaces",
        "HTTP/1.1 403 Forbidden\r\nretry-after:   12\r\n"
        "content-type:application/problem+json\r\n\r\n",
        true, 403, 12, "application/problem+json", ""},
    {"length past the end: cut short",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, 0, 0, NULL,
        NULL},
    {"length shorter: the rest ignored",
        "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nabc", true, 200, -1, "",
        "a"},
    {"no blank line", "HTTP/1.1 200 OK\r\nX: y\r\n", false, 0, 0, NULL, NULL},
    {"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", false, 0, 0, NULL, NULL},
    {"bad Retry-After", "HTTP/1.1 202 A\r\nRetry-After: soon\r\n\r\n", true,
        202, -1, "", ""},
};

static void
test_parse_resp(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(resp_cases) / sizeof(resp_cases[0]);
	     i++) {
		const struct resp_case *c = &resp_cases[i];
		struct cki_agent_resp r = {0};
		bool ok;

		cki_agent_resp_clear(&r);
		ok = cki_agent_parse_resp(c->in, strlen(c->in), &r);
		if (ok != c->ok)
			fail_msg("%s: parsed %d, want %d", c->name, ok, c->ok);
		if (ok &&
		    (r.status != c->status || r.retry_after != c->retry_after ||
		        strcmp(r.ctype, c->ctype) != 0 ||
		        strcmp(r.body, c->body) != 0 ||
		        r.len != strlen(c->body)))
			fail_msg("%s: got %d %ld '%s' '%s'", c->name, r.status,
			    r.retry_after, r.ctype, r.body);
		cki_agent_resp_clear(&r);
	}
}

static void
test_backoff(void **state)
{
	(void)state;
	assert_int_equal(cki_agent_backoff(0, 0.5), 1);
	assert_int_equal(cki_agent_backoff(3, 0.5), 8);
	/* +-20% jitter. */
	assert_int_equal(cki_agent_backoff(3, 0.0), 6);
	assert_int_equal(cki_agent_backoff(3, 1.0), 9);
	/* Capped at 15 minutes, whatever the jitter and the count. */
	for (int n = 10; n < 100; n += 7) {
		assert_true(cki_agent_backoff(n, 1.0) <= CKI_AGENT_MAX_BACKOFF);
		assert_true(cki_agent_backoff(n, 0.0) >= 700);
	}
	assert_int_equal(
	    cki_agent_backoff(1000000, 0.5), CKI_AGENT_MAX_BACKOFF);
}

/* The backoff's jitter is drawn from the CSPRNG each time: not constant,
 * not rand() (which, unseeded, repeats the same sequence in every
 * process). */
static void
test_jitter(void **state)
{
	double first = cki_agent_jitter(), lo = first, hi = first;
	long b0 = cki_agent_backoff(10, first);
	int differ = 0;

	(void)state;
	/* Not rand(): the same seed (1 is rand()'s without srand) does not
	 * give the same draw, as it would in every freshly started agent. */
	srand(1);
	first = cki_agent_jitter();
	srand(1);
	assert_true(cki_agent_jitter() != first);
	for (int i = 0; i < 64; i++) {
		double r = cki_agent_jitter();

		assert_true(r >= 0.0 && r <= 1.0);
		lo = r < lo ? r : lo;
		hi = r > hi ? r : hi;
		differ += cki_agent_backoff(10, r) != b0;
	}
	/* 64 uniform draws all within 0.1 of each other: p < 1e-50. */
	if (hi - lo < 0.1 || differ == 0)
		fail_msg("jitter: 65 draws in [%f, %f], %d backoffs differ", lo,
		    hi, differ);
}

/* spki: 32 bytes, the SHA-256 of seed i (a stand-in for a key's). */
static void
fake_spki(unsigned i, unsigned char spki[32])
{
	EVP_Digest(&i, sizeof(i), spki, NULL, EVP_sha256(), NULL);
}

/* Renewal: a stable point per key in [2/3, 3/4] of the lifetime, spread
 * over the window. */
static void
test_renew_at(void **state)
{
	const int64_t nb = 1780000000, life = 90 * 86400, na = nb + life;
	const int64_t early = nb + life * 2 / 3, late = nb + life * 3 / 4;
	unsigned char k[32] = {0};
	int64_t lo = INT64_MAX, hi = INT64_MIN, t;
	int buckets[8] = {0};

	(void)state;
	/* The key's first two bytes place it in the window. */
	assert_int_equal(cki_agent_renew_at(nb, na, k), early);
	k[0] = k[1] = 0xff;
	t = cki_agent_renew_at(nb, na, k);
	assert_true(t < late && t >= late - (late - early) / 65536 - 1);
	k[0] = 0x80, k[1] = 0;
	assert_int_equal(cki_agent_renew_at(nb, na, k), (early + late) / 2);
	for (unsigned i = 0; i < 4000; i++) {
		fake_spki(i, k);
		t = cki_agent_renew_at(nb, na, k);
		if (t < early || t >= late)
			fail_msg("key %u: renew_at %lld outside [%lld, %lld)",
			    i, (long long)t, (long long)early, (long long)late);
		/* The same key, the same time: restarts don't move it. */
		assert_int_equal(cki_agent_renew_at(nb, na, k), t);
		lo = t < lo ? t : lo;
		hi = t > hi ? t : hi;
		buckets[(t - early) * 8 / (late - early)]++;
	}
	/* Spread: 4000 keys cover the 7.5-day window, each eighth holds
	 * 500 +- 25% of them (about 5 standard deviations). */
	assert_true(lo - early < 3600 && late - hi < 3600);
	for (int b = 0; b < 8; b++)
		if (buckets[b] < 375 || buckets[b] > 625)
			fail_msg("eighth %d of the window: %d of 4000 keys", b,
			    buckets[b]);
}

/* Short lifetimes: never later than CKI_AGENT_RENEW_MARGIN before the
 * expiry, never earlier than 2/3. */
static void
test_renew_at_short(void **state)
{
	const int64_t nb = 1780000000;
	static const int64_t lives[] = {1, 60, 3600, 3 * 3600, 3 * 3600 + 1,
	    4 * 3600, 6 * 3600, 12 * 3600, 86400};
	unsigned char k[32];

	(void)state;
	for (size_t j = 0; j < sizeof(lives) / sizeof(lives[0]); j++) {
		int64_t life = lives[j], na = nb + life,
		        early = nb + life * 2 / 3;
		int64_t hi = INT64_MIN;

		for (unsigned i = 0; i < 500; i++) {
			int64_t t;

			fake_spki(i, k);
			t = cki_agent_renew_at(nb, na, k);
			if (t < early || t > nb + life * 3 / 4 ||
			    (t > early && t > na - CKI_AGENT_RENEW_MARGIN))
				fail_msg(
				    "life %lld s, key %u: renew_at nb+%lld",
				    (long long)life, i, (long long)(t - nb));
			hi = t > hi ? t : hi;
		}
		/* Up to 3 hours: the margin leaves no window, exactly 2/3. */
		if (life <= 3 * 3600 && hi != early)
			fail_msg(
			    "life %lld s: renew_at up to nb+%lld, want 2/3",
			    (long long)life, (long long)(hi - nb));
		if (life >= 4 * 3600 && hi == early)
			fail_msg("life %lld s: no spread", (long long)life);
	}
	/* A broken certificate (notAfter before notBefore): due at once. */
	assert_int_equal(cki_agent_renew_at(nb, nb - 10, k), nb);
}

static char *
slurp_b64(const char *path)
{
	char cmd[4096];
	FILE *p;
	char *buf = calloc(1, 65536);
	size_t n;

	snprintf(cmd, sizeof(cmd), "base64 -w0 '%s'", path);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(buf, 1, 65535, p);
	pclose(p);
	buf[n] = '\0';
	return buf;
}

static void
test_p7(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	char *b64 = slurp_b64(pki("chain.p7b.der")), *leaf = NULL, *rest = NULL;

	(void)state;
	assert_int_equal(
	    cki_agent_p7_certs(ctx, b64, strlen(b64), NULL, &leaf, &rest),
	    CK_OK);
	assert_non_null(strstr(leaf, "BEGIN CERTIFICATE"));
	assert_non_null(rest);
	free(leaf);
	free(rest);
	/* A key none of its certificates has: refused, naming the SPKI. */
	assert_int_equal(
	    cki_agent_p7_certs(ctx, b64, strlen(b64),
	        "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00f"
	        "f00ff00ff00ff00ff",
	        &leaf, &rest),
	    CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx), "no certificate"));
	assert_null(leaf);
	assert_int_equal(
	    cki_agent_p7_certs(ctx, "bm90IGEgcGtjczc=", 16, NULL, &leaf, &rest),
	    CK_E_FORMAT);
	assert_non_null(strstr(ck_ctx_error(ctx), "PKCS#7"));
	free(b64);
	ck_ctx_free(ctx);
}

static char home[64];

static void
write_conf(const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/certkit.conf", home);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

struct conf_case {
	const char *name, *text;
	ck_status want;
	const char *msg; /* a fragment of the error */
};

static const struct conf_case conf_cases[] = {
    {"empty: defaults", "", CK_OK, NULL},
    {"all set",
        "[agent]\nprimary = p.example:8443\nprimary_ca = /ca.pem\n"
        "heartbeat = 2m\nhttps = if-available\n",
        CK_OK, NULL},
    {"pin",
        "[agent]\nprimary = [::1]:1\nprimary_pin = "
        "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
        CK_OK, NULL},
    {"no port", "[agent]\nprimary = p.example\n", CK_E_FORMAT,
        ":2: [agent] primary: expected host:port"},
    {"two trusts", "[agent]\nprimary_ca = x\ntrust = system\n", CK_E_FORMAT,
        "one of primary_ca, primary_pin and trust"},
    {"bad pin", "[agent]\nprimary_pin = sha256/xyz\n", CK_E_FORMAT,
        "primary_pin: expected sha256/"},
    {"bad trust", "[agent]\ntrust = everything\n", CK_E_FORMAT,
        "trust: expected system or certkit, found 'everything'"},
    {"short heartbeat", "[agent]\nheartbeat = 1s\n", CK_E_FORMAT,
        "heartbeat: expected a duration from 5s to 1d"},
    {"heartbeat unit", "[agent]\nheartbeat = 5x\n", CK_E_FORMAT,
        "heartbeat: expected a duration"},
    {"https", "[agent]\nhttps = maybe\n", CK_E_FORMAT,
        "https: expected required or if-available"},
    {"unknown key", "[agent]\nprimry = a:1\n", CK_E_FORMAT, "primry"},
};

static void
test_conf(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(conf_cases) / sizeof(conf_cases[0]);
	     i++) {
		const struct conf_case *c = &conf_cases[i];
		ck_ctx *ctx = ck_ctx_new();
		struct cki_agent_conf conf;
		ck_status st;

		write_conf(c->text);
		st = cki_agent_conf_load(ctx, home, &conf);
		if (st != c->want ||
		    (c->msg != NULL &&
		        strstr(ck_ctx_error(ctx), c->msg) == NULL))
			fail_msg("%s: %d (%s), want %d with %s", c->name, st,
			    ck_ctx_error(ctx), c->want, c->msg ? c->msg : "-");
		if (st == CK_OK)
			cki_agent_conf_free(&conf);
		ck_ctx_free(ctx);
	}
	write_conf("[agent]\nprimary = p.example:9\nheartbeat = 2m\n");
	{
		ck_ctx *ctx = ck_ctx_new();
		struct cki_agent_conf conf;

		assert_int_equal(cki_agent_conf_load(ctx, home, &conf), CK_OK);
		assert_int_equal(conf.heartbeat, 120);
		assert_int_equal(conf.hp.port, 9);
		assert_int_equal(conf.trust, CKI_AGENT_TRUST_SYSTEM);
		cki_agent_conf_free(&conf);
		ck_ctx_free(ctx);
	}
}

/* The state keeps "since" while the word stays; status without a file is
 * never_connected. */
static void
test_state(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_agent *a = NULL;
	char *json = NULL;
	json_t *s1, *s2;

	(void)state;
	write_conf("[agent]\nprimary = 127.0.0.1:1\n");
	assert_int_equal(ck_agent_new(ctx, home, &a), CK_OK);
	assert_int_equal(ck_agent_status(a, &json), CK_OK);
	assert_non_null(strstr(json, "\"never_connected\""));
	ck_free(json);
	assert_int_equal(
	    cki_agent_state_write(a, "offline", "one", NULL), CK_OK);
	s1 = cki_agent_state_read(a);
	sleep(1);
	assert_int_equal(
	    cki_agent_state_write(a, "offline", "two", NULL), CK_OK);
	s2 = cki_agent_state_read(a);
	assert_string_equal(json_string_value(json_object_get(s1, "since")),
	    json_string_value(json_object_get(s2, "since")));
	assert_string_equal(
	    json_string_value(json_object_get(s2, "why")), "two");
	json_decref(s2);
	assert_int_equal(cki_agent_state_write(a, "online", "ok",
	                     json_pack("{s:s}", "spki_sha256", "ab")),
	    CK_OK);
	s2 = cki_agent_state_read(a);
	assert_string_equal(
	    json_string_value(json_object_get(s2, "state")), "online");
	assert_string_equal(
	    json_string_value(json_object_get(s2, "spki_sha256")), "ab");
	json_decref(s1);
	json_decref(s2);
	ck_agent_free(a);
	ck_ctx_free(ctx);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(home, sizeof(home), "/tmp/certkit-agentu.XXXXXX");
	return mkdtemp(home) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_resp),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_jitter),
	    cmocka_unit_test(test_renew_at),
	    cmocka_unit_test(test_renew_at_short),
	    cmocka_unit_test(test_p7),
	    cmocka_unit_test(test_conf),
	    cmocka_unit_test(test_state),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
