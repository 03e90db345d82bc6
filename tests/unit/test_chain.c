/*
 * test_chain.c: lib/pki/chain.c: who issued whom in a bundle, the order
 * findings, and ck_bundle_normalize().
 *
 * Bundles are built from the test PKI by concatenating files, plus a
 * cross-signed pair (a cycle) made here, since the PKI has none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509v3.h>

#include "testutil.h"
#include "chain_int.h"

#define MAXF 6

struct order_case {
	const char *name;
	const char *files[MAXF];    /* concatenated in this order */
	const char *order[MAXF];    /* CNs after normalize */
	const char *codes;          /* findings, space separated, in order */
	const char *issued_by_next; /* per position: 'y' or 'n' */
};

static const struct order_case cases[] = {
    {"fullchain in order", {"fullchain.pem"},
        {"device.example.test", "certkit Test Issuing CA",
            "certkit Test Root CA"},
        "root_included", "yyn"},
    {"reversed", {"reversed.pem"},
        {"device.example.test", "certkit Test Issuing CA",
            "certkit Test Root CA"},
        "leaf_not_first reversed_order root_included", "nnn"},
    {"shuffled", {"int-ca.pem", "leaf.pem", "root-ca.pem"},
        {"device.example.test", "certkit Test Issuing CA",
            "certkit Test Root CA"},
        "leaf_not_first out_of_order root_included", "nnn"},
    {"shuffled leaf first", {"leaf.pem", "root-ca.pem", "int-ca.pem"},
        {"device.example.test", "certkit Test Issuing CA",
            "certkit Test Root CA"},
        "out_of_order root_included", "nnn"},
    {"duplicate dropped", {"dup.pem"},
        {"device.example.test", "certkit Test Issuing CA"}, "duplicate", "ynn"},
    {"gap", {"gap.pem"}, {"device.example.test", "certkit Test Root CA"},
        "gap root_included", "nn"},
    {"two independent chains",
        {"other-root.pem", "leaf.pem", "other-leaf.pem", "int-ca.pem"},
        {"device.example.test", "certkit Test Issuing CA", "other.example.test",
            "Other Untrusted Root"},
        "leaf_not_first multiple_leaves out_of_order root_included", "nnnn"},
    {"two chains in order", {"chain.pem", "other-leaf.pem", "other-root.pem"},
        {"device.example.test", "certkit Test Issuing CA", "other.example.test",
            "Other Untrusted Root"},
        "multiple_leaves root_included", "ynyn"},
    {"two leaves share an intermediate",
        {"leaf.pem", "leaf-client.pem", "int-ca.pem"},
        {"device.example.test", "certkit Test Issuing CA", "gateway-01"},
        "multiple_leaves out_of_order", "nyn"},
    {"unrelated leaf kept at the end",
        {"other-leaf.pem", "leaf.pem", "int-ca.pem"},
        {"device.example.test", "certkit Test Issuing CA",
            "other.example.test"},
        "multiple_leaves unrelated", "nyn"},
    {"single certificate", {"leaf.pem"}, {"device.example.test"}, "", "n"},
    {"single root", {"root-ca.pem"}, {"certkit Test Root CA"}, "", "n"},
    {"self-signed leaf", {"leaf-selfsigned.pem", "leaf.pem"},
        {"selfsigned.example.test", "device.example.test"},
        "multiple_leaves unrelated", "nn"},
    {"PKCS#7 merged with a PEM copy of its leaf", {"chain.p7b", "leaf.pem"},
        {"device.example.test", "certkit Test Issuing CA",
            "certkit Test Root CA"},
        "duplicate root_included", "yynn"},
};

static ck_bundle *
load_all(ck_ctx *ctx, const char *const *files)
{
	ck_bundle *all = ck_bundle_new(), *one = NULL;

	assert_non_null(all);
	for (int i = 0; i < MAXF && files[i] != NULL; i++) {
		if (ck_load_file(ctx, pki(files[i]), &one) != CK_OK)
			fail_msg("%s: %s", files[i], ck_ctx_error(ctx));
		assert_int_equal(ck_bundle_merge(all, one), CK_OK);
		ck_bundle_free(one);
	}
	return all;
}

static void
codes_of(const struct cki_chain *ch, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ch->findings.n; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%s",
		    i ? " " : "", ch->findings.f[i].code);
}

/* The report's chain member is written without a tree
 * (cki_chain_json_text); it is the same text as the tree's. */
static void
same_json_text(const struct cki_chain *ch, const char *name)
{
	json_t *j = cki_chain_json(ch);
	char *tree = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *text = cki_chain_json_text(ch);

	assert_non_null(tree);
	assert_non_null(text);
	if (strcmp(tree, text) != 0)
		fail_msg("%s: chain text\n%s\nexpected\n%s", name, text, tree);
	free(tree);
	free(text);
	json_decref(j);
}

static void
test_cases(void **state)
{
	(void)state;
	for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
		const struct order_case *c = &cases[t];
		ck_ctx *ctx = ck_ctx_new();
		ck_bundle *b = load_all(ctx, c->files);
		struct cki_chain *ch = NULL;
		char codes[512];
		size_t want = 0;

		assert_int_equal(cki_chain_analyze_bundle(ctx, b, &ch), CK_OK);
		codes_of(ch, codes, sizeof(codes));
		if (strcmp(codes, c->codes) != 0)
			fail_msg("%s: findings \"%s\", expected \"%s\"",
			    c->name, codes, c->codes);
		assert_int_equal(strlen(c->issued_by_next), ch->n);
		for (size_t i = 0; i < ch->n; i++)
			if (ch->pos[i].issued_by_next !=
			    (c->issued_by_next[i] == 'y'))
				fail_msg("%s: issued_by_next[%zu] wrong",
				    c->name, i);
		/* Every finding has a message and a one-sentence fix. */
		for (size_t i = 0; i < ch->findings.n; i++) {
			assert_true(strlen(ch->findings.f[i].message) > 20);
			assert_true(strlen(ch->findings.f[i].fix) > 10);
			assert_true(ch->findings.f[i].nidx > 0);
		}
		same_json_text(ch, c->name);
		cki_chain_free(ch);

		assert_int_equal(ck_bundle_normalize(ctx, b), CK_OK);
		while (want < MAXF && c->order[want] != NULL)
			want++;
		if (ck_bundle_count(b, CK_OBJ_CERT) != want)
			fail_msg(
			    "%s: %zu certificates after normalize, expected "
			    "%zu",
			    c->name, ck_bundle_count(b, CK_OBJ_CERT), want);
		for (size_t i = 0; i < want; i++) {
			char *cn =
			    ck_cert_common_name(ck_bundle_get0_cert(b, i));

			if (cn == NULL || strcmp(cn, c->order[i]) != 0)
				fail_msg("%s: position %zu is %s, expected %s",
				    c->name, i + 1, cn ? cn : "(null)",
				    c->order[i]);
			free(cn);
			assert_non_null(ck_bundle_origin(b, CK_OBJ_CERT, i));
		}
		/* Normalizing twice changes nothing, and a normalized chain
		 * has no order findings left. */
		assert_int_equal(cki_chain_analyze_bundle(ctx, b, &ch), CK_OK);
		for (size_t i = 0; i < ch->findings.n; i++) {
			const char *code = ch->findings.f[i].code;

			if (strcmp(code, "reversed_order") == 0 ||
			    strcmp(code, "leaf_not_first") == 0 ||
			    strcmp(code, "duplicate") == 0)
				fail_msg(
				    "%s: %s after normalize", c->name, code);
		}
		cki_chain_free(ch);
		ck_bundle_free(b);
		ck_ctx_free(ctx);
	}
}

/* ---- a cross-signed pair: A issued by B, B issued by A ------------------- */

static X509 *
make_ca(const char *subject, const char *issuer, EVP_PKEY *pub,
    EVP_PKEY *signer, long serial, int ca)
{
	X509 *x = X509_new();
	X509_NAME *s = X509_NAME_new(), *i = X509_NAME_new();
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();

	assert_non_null(x);
	assert_non_null(bc);
	assert_true(X509_set_version(x, X509_VERSION_3));
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_NAME_add_entry_by_txt(
	    s, "CN", MBSTRING_ASC, (const unsigned char *)subject, -1, -1, 0);
	X509_NAME_add_entry_by_txt(
	    i, "CN", MBSTRING_ASC, (const unsigned char *)issuer, -1, -1, 0);
	assert_true(X509_set_subject_name(x, s));
	assert_true(X509_set_issuer_name(x, i));
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), 1577836800));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), 2051222400));
	assert_true(X509_set_pubkey(x, pub));
	bc->ca = ca ? 0xff : 0;
	assert_true(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, 0));
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	BASIC_CONSTRAINTS_free(bc);
	X509_NAME_free(s);
	X509_NAME_free(i);
	return x;
}

static void
push_cert(ck_bundle *b, X509 *x, const char *origin)
{
	assert_int_equal(
	    cki_bundle_push(b, CK_OBJ_CERT, cki_cert_wrap(x), origin), CK_OK);
}

static void
test_cycle(void **state)
{
	EVP_PKEY *ka = EVP_EC_gen("P-256"), *kb = EVP_EC_gen("P-256"),
	         *kl = EVP_EC_gen("P-256");
	ck_ctx *ctx = ck_ctx_new();
	struct cki_chain *ch = NULL;
	const char *want[] = {"leaf", "A", "B"};

	(void)state;
	assert_non_null(ka);
	assert_non_null(kb);
	assert_non_null(kl);
	for (int with_leaf = 0; with_leaf < 2; with_leaf++) {
		ck_bundle *b = ck_bundle_new();

		push_cert(b, make_ca("B", "A", kb, ka, 2, 1), "x: block 1");
		push_cert(b, make_ca("A", "B", ka, kb, 1, 1), "x: block 2");
		if (with_leaf)
			push_cert(b, make_ca("leaf", "A", kl, ka, 3, 0),
			    "x: block 3");
		assert_int_equal(cki_chain_analyze_bundle(ctx, b, &ch), CK_OK);
		/* Each issued the other, and the walks still ended. */
		assert_int_equal(ch->pos[0].issuer, 1);
		assert_int_equal(ch->pos[1].issuer, 0);
		assert_true(ch->pos[0].has_child && ch->pos[1].has_child);
		assert_int_equal(ch->norder, (size_t)(2 + with_leaf));
		assert_true(ch->npaths >= 1);
		for (size_t c = 0; c < ch->npaths; c++)
			assert_true(
			    ch->path_start[c + 1] - ch->path_start[c] <= ch->n);
		cki_chain_free(ch);
		assert_int_equal(ck_bundle_normalize(ctx, b), CK_OK);
		assert_int_equal(
		    ck_bundle_count(b, CK_OBJ_CERT), (size_t)(2 + with_leaf));
		if (with_leaf) {
			for (size_t i = 0; i < 3; i++) {
				char *cn = ck_cert_common_name(
				    ck_bundle_get0_cert(b, i));

				assert_string_equal(cn, want[i]);
				free(cn);
			}
		} else {
			/* A pure cycle keeps its file order: B, A. */
			char *cn =
			    ck_cert_common_name(ck_bundle_get0_cert(b, 0));

			assert_string_equal(cn, "B");
			free(cn);
		}
		ck_bundle_free(b);
	}
	EVP_PKEY_free(ka);
	EVP_PKEY_free(kb);
	EVP_PKEY_free(kl);
	ck_ctx_free(ctx);
}

/* A name match alone is not an issuer: a certificate whose signature does
 * not verify is not linked. */
static void
test_name_match_bad_signature(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	const char *files[MAXF] = {"leaf-badsig.pem", "int-ca.pem"};
	ck_bundle *b = load_all(ctx, files);
	struct cki_chain *ch = NULL;

	(void)state;
	assert_int_equal(cki_chain_analyze_bundle(ctx, b, &ch), CK_OK);
	assert_int_equal(ch->pos[0].issuer, -1);
	assert_false(ch->pos[0].issued_by_next);
	/* leaf-badsig has no issuer here and int-ca no child: the gap. */
	assert_int_equal(ch->findings.n, 1);
	assert_string_equal(ch->findings.f[0].code, "gap");
	assert_non_null(
	    strstr(ch->findings.f[0].fix, "http://127.0.0.1:8080/int-ca.der"));
	cki_chain_free(ch);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

static void
test_empty_and_bad_args(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_bundle *b = ck_bundle_new();
	struct cki_chain *ch = NULL;
	json_t *j;

	(void)state;
	assert_int_equal(ck_bundle_normalize(ctx, b), CK_OK);
	assert_int_equal(ck_bundle_count(b, CK_OBJ_CERT), 0);
	assert_int_equal(cki_chain_analyze_bundle(ctx, b, &ch), CK_OK);
	assert_int_equal(ch->n, 0);
	assert_int_equal(ch->findings.n, 0);
	j = cki_chain_json(ch);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "order")), 0);
	same_json_text(ch, "empty");
	json_decref(j);
	cki_chain_free(ch);
	cki_chain_free(NULL);
	assert_int_equal(ck_bundle_normalize(ctx, NULL), CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(ctx), "no bundle"));
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

/* The messages name certificates by 1-based position and CN, and the fix
 * names the file. */
static void
test_messages(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	const char *files[MAXF] = {"reversed.pem"};
	ck_bundle *b = load_all(ctx, files);
	struct cki_chain *ch = NULL;
	json_t *arr = json_array(), *j;
	char *text;

	(void)state;
	assert_int_equal(cki_chain_analyze_bundle(ctx, b, &ch), CK_OK);
	assert_string_equal(ch->findings.f[0].code, "leaf_not_first");
	assert_non_null(strstr(ch->findings.f[0].message,
	    "certificate 1 \"certkit Test Root CA\" is a CA certificate"));
	assert_non_null(strstr(ch->findings.f[0].message, "at position 3"));
	assert_non_null(strstr(ch->findings.f[0].fix,
	    "certkit convert --normalize --to pem --out fixed.pem "));
	assert_non_null(strstr(ch->findings.f[0].fix, "/reversed.pem`"));
	assert_int_equal(cki_findings_json(&ch->findings, arr), CK_OK);
	assert_int_equal(json_array_size(arr), 3);
	text = json_dumps(arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(strstr(text,
	    "\"code\":\"leaf_not_first\","
	    "\"severity\":\"error\""));
	assert_non_null(strstr(text, "\"certificates\":[1,3]"));
	free(text);
	j = cki_chain_json(ch);
	text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	assert_non_null(strstr(text, "\"order\":[3,2,1]"));
	assert_non_null(strstr(text, "\"chains\":[[3,2,1]]"));
	assert_non_null(strstr(text,
	    "{\"index\":3,\"role\":\"leaf\","
	    "\"issued_by_next\":false,\"issuer\":2,"));
	free(text);
	json_decref(j);
	json_decref(arr);
	cki_chain_free(ch);
	ck_bundle_free(b);
	ck_ctx_free(ctx);
}

static void
test_helpers(void **state)
{
	struct cki_sb sb = CKI_SB_INIT(CKI_SB_MSG_MAX);
	char *origins[] = {"a b.pem: block 1 (CERTIFICATE)",
	    "it's.pem: block 1", "a b.pem: block 2", "plain.pem: DER", "added",
	    "(stdin): block 1"};
	char *s;
	json_t *j;

	(void)state;
	cki_sb_files(&sb, origins, 6);
	s = cki_sb_take(&sb);
	assert_string_equal(s, "'a b.pem' 'it'\\''s.pem' plain.pem");
	free(s);
	cki_sb_files(&sb, NULL, 0);
	s = cki_sb_take(&sb);
	assert_string_equal(s, "FILE");
	free(s);
	s = cki_sb_take(&sb);
	assert_string_equal(s, "");
	free(s);
	assert_string_equal(cki_severity_name(CKI_SEV_INFO), "info");
	assert_string_equal(cki_role_name(CKI_ROLE_ROOT), "root");
	/* Bytes that are not UTF-8 are escaped, never dropped. */
	j = cki_json_str("caf\xe9");
	assert_string_equal(json_string_value(j), "caf\\xe9");
	json_decref(j);
	j = cki_json_str(NULL);
	assert_true(json_is_null(j));
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cases),
	    cmocka_unit_test(test_cycle),
	    cmocka_unit_test(test_name_match_bad_signature),
	    cmocka_unit_test(test_empty_and_bad_args),
	    cmocka_unit_test(test_messages),
	    cmocka_unit_test(test_helpers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
