/*
 * test_verify_path.c: path building that tries alternatives
 * (lib/verify/verify_path.c) through cki_verify_chain.
 *
 * The certificates are made here, at test time, in memory (EC P-256, the
 * dates fixed around the pinned time):
 *  - the cross-sign where OpenSSL alone picks the expired path: an
 *    intermediate "R3" exists twice, cross-signed by an expired old root
 *    (given first, as servers send it) and signed by a new self-signed
 *    root; both roots are anchors (the DST Root CA X3 / ISRG Root X1 case);
 *  - name constraints: the intermediate exists constrained to .allowed.test
 *    (given first) and unconstrained; the leaf is evil.example.test;
 *  - a mesh of cross-signs (4 certificates per CA, 4 CAs: 256 paths under
 *    an expired root): the search stops at 64 paths, in bounded time.
 * Each case also checks that a bare X509_verify_cert() fails, so the test
 * needs the backtracking.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "ck_internal.h"
#include "testutil.h"
#include "verify_int.h"
#include "verify_path.h"

#define DAY INT64_C(86400)
#define YEAR (365 * DAY)

struct ca {
	const char *cn;
	EVP_PKEY *key;
	X509 *cert; /* one certificate of this CA, for the AKI of those below */
};

static long next_serial = 1;

struct bare_arg {
	X509_STORE *s;
	X509 *leaf;
	struct cki_verify_params p;
};

static void
add_ext(X509 *issuer, X509 *x, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

static X509_NAME *
name(const char *cn)
{
	X509_NAME *n = X509_NAME_new();

	assert_non_null(n);
	assert_int_equal(
	    X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	        (const unsigned char *)"certkit path tests", -1, -1, 0),
	    1);
	assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	                     (const unsigned char *)cn, -1, -1, 0),
	    1);
	return n;
}

/*
 * A certificate for `cn` with key `key`, issued by `iss` (NULL: self
 * signed), valid from nb to na. `nc`: a nameConstraints value (critical),
 * or NULL. A leaf (ca false) gets a DNS SAN equal to its CN.
 */
static X509 *
make(const char *cn, EVP_PKEY *key, const struct ca *iss, int64_t nb,
    int64_t na, bool ca, const char *nc)
{
	X509 *x = X509_new();
	X509_NAME *sub = name(cn);
	char san[300];

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(
	    ASN1_INTEGER_set(X509_get_serialNumber(x), next_serial++), 1);
	assert_int_equal(X509_set_subject_name(x, sub), 1);
	assert_int_equal(X509_set_issuer_name(
	                     x, iss ? X509_get_subject_name(iss->cert) : sub),
	    1);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509_NAME_free(sub);
	add_ext(iss ? iss->cert : x, x, NID_subject_key_identifier, "hash");
	add_ext(iss ? iss->cert : x, x, NID_authority_key_identifier,
	    "keyid:always");
	if (ca) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		snprintf(san, sizeof(san), "DNS:%s", cn);
		add_ext(x, x, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, x, NID_key_usage, "critical,digitalSignature");
		add_ext(x, x, NID_ext_key_usage, "serverAuth");
		add_ext(x, x, NID_subject_alt_name, san);
	}
	if (nc != NULL)
		add_ext(x, x, NID_name_constraints, nc);
	assert_true(X509_sign(x, iss ? iss->key : key, EVP_sha256()) > 0);
	return x;
}

static struct ca
make_ca(const char *cn, const struct ca *iss, int64_t nb, int64_t na)
{
	struct ca c = {cn, EVP_EC_gen("P-256"), NULL};

	assert_non_null(c.key);
	c.cert = make(cn, c.key, iss, nb, na, true, NULL);
	return c;
}

static void
ca_free(struct ca *c)
{
	EVP_PKEY_free(c->key);
	X509_free(c->cert);
}

static X509_STORE *
store_of(X509 *a, X509 *b)
{
	X509_STORE *s = X509_STORE_new();

	assert_non_null(s);
	assert_int_equal(X509_STORE_add_cert(s, a), 1);
	if (b != NULL)
		assert_int_equal(X509_STORE_add_cert(s, b), 1);
	return s;
}

/* What OpenSSL alone says, with the parameters certkit uses. */
static int
bare_openssl(X509_STORE *s, X509 *leaf, STACK_OF(X509) * unt, int *depth)
{
	X509_STORE_CTX *xsc = X509_STORE_CTX_new();
	int err;

	assert_non_null(xsc);
	assert_int_equal(X509_STORE_CTX_init(xsc, s, leaf, unt), 1);
	X509_VERIFY_PARAM_set_time(
	    X509_STORE_CTX_get0_param(xsc), (time_t)PINNED_TIME);
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(xsc), 2);
	assert_int_equal(
	    X509_STORE_CTX_set_purpose(xsc, X509_PURPOSE_SSL_SERVER), 1);
	if (X509_verify_cert(xsc) == 1)
		err = X509_V_OK;
	else
		err = X509_STORE_CTX_get_error(xsc);
	*depth = X509_STORE_CTX_get_error_depth(xsc);
	X509_STORE_CTX_free(xsc);
	return err;
}

/* cki_path_verify_fn: cki_verify_run, as verify.c does it. */
static ck_status
bare_path(void *arg, STACK_OF(X509) * untrusted, bool *ok)
{
	struct cki_verify_result res;
	struct bare_arg *a = arg;

	assert_int_equal(
	    cki_verify_run(NULL, a->s, a->leaf, untrusted, &a->p, false, &res),
	    CK_OK);
	*ok = res.ok;
	cki_verify_result_clear(&res);
	return CK_OK;
}

static void
sha256_of(X509 *x, char out[65])
{
	ck_cert c = {x};

	ck_cert_sha256(&c, out);
}

static json_t *
certkit_verify(X509_STORE *s, X509 *leaf, STACK_OF(X509) * unt, int *valid)
{
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	ck_ctx *ctx = ck_ctx_new();
	json_t *rep = NULL;

	assert_non_null(ctx);
	p.time = PINNED_TIME;
	assert_int_equal(
	    cki_verify_chain(ctx, s, leaf, unt, &p, &rep, valid), CK_OK);
	ck_ctx_free(ctx);
	return rep;
}

/* The report chose the path whose depth-1 certificate is `via`. */
static void
assert_alternate(json_t *rep, X509 *via, const char *first_code)
{
	json_t *f = json_array_get(json_object_get(rep, "findings"), 0);
	json_t *ev = json_object_get(f, "evidence");
	json_t *chain = json_object_get(rep, "chain");
	char fp[65];

	assert_true(json_is_true(json_object_get(rep, "valid")));
	assert_int_equal(json_array_size(json_object_get(rep, "findings")), 1);
	assert_string_equal(
	    json_string_value(json_object_get(f, "code")), "alternate_path");
	assert_string_equal(
	    json_string_value(json_object_get(f, "severity")), "info");
	sha256_of(via, fp);
	assert_string_equal(json_string_value(json_object_get(
	                        json_array_get(chain, 1), "sha256")),
	    fp);
	assert_string_equal(
	    json_string_value(json_array_get(json_object_get(ev, "path"), 1)),
	    fp);
	assert_int_equal(json_array_size(json_object_get(ev, "path")),
	    json_array_size(chain));
	assert_true(
	    json_integer_value(json_object_get(ev, "paths_tried")) >= 1);
	assert_string_equal(json_string_value(json_object_get(
	                        json_object_get(ev, "first_failure"), "code")),
	    first_code);
}

static void
test_cross_signed_expired_root(void **state)
{
	struct ca old_root = make_ca("Old Root", NULL, PINNED_TIME - 20 * YEAR,
	    PINNED_TIME - 1 * YEAR); /* expired */
	struct ca new_root = make_ca(
	    "New Root", NULL, PINNED_TIME - 5 * YEAR, PINNED_TIME + 10 * YEAR);
	struct ca r3 = make_ca(
	    "R3", &new_root, PINNED_TIME - 2 * YEAR, PINNED_TIME + 3 * YEAR);
	X509 *cross = make("R3", r3.key, &old_root, PINNED_TIME - 2 * YEAR,
	    PINNED_TIME + 3 * YEAR, true, NULL);
	EVP_PKEY *lk = EVP_EC_gen("P-256");
	X509 *leaf = make("www.example.test", lk, &r3, PINNED_TIME - 30 * DAY,
	    PINNED_TIME + 60 * DAY, false, NULL);
	X509_STORE *s = store_of(old_root.cert, new_root.cert);
	STACK_OF(X509) *unt = sk_X509_new_null();
	json_t *rep;
	int valid = 0, depth = -1;

	(void)state;
	/* As a server sends it: the cross-signed one first. */
	sk_X509_push(unt, cross);
	sk_X509_push(unt, r3.cert);
	/* OpenSSL alone takes the first R3 and never goes back. */
	assert_int_equal(
	    bare_openssl(s, leaf, unt, &depth), X509_V_ERR_CERT_HAS_EXPIRED);
	assert_int_equal(depth, 2);
	rep = certkit_verify(s, leaf, unt, &valid);
	assert_int_equal(valid, 1);
	assert_alternate(rep, r3.cert, "cert_expired");
	json_decref(rep);

	/* Only the cross-signed path: the failure is reported as before. */
	sk_X509_pop(unt);
	rep = certkit_verify(s, leaf, unt, &valid);
	assert_int_equal(valid, 0);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(rep, "findings"), 0), "code")),
	    "cert_expired");
	json_decref(rep);

	EVP_PKEY_free(lk);
	sk_X509_free(unt);
	X509_STORE_free(s);
	X509_free(cross);
	X509_free(leaf);
	ca_free(&r3);
	ca_free(&new_root);
	ca_free(&old_root);
}

/* cki_verify_search (the doctor, the identity install): the verdict and
 * the errors of cki_verify_run on the path that passes, every_error or
 * not; the first run's result when none does. */
static void
test_search_entry(void **state)
{
	struct ca old_root = make_ca("Old Root", NULL, PINNED_TIME - 20 * YEAR,
	    PINNED_TIME - 1 * YEAR); /* expired */
	struct ca new_root = make_ca(
	    "New Root", NULL, PINNED_TIME - 5 * YEAR, PINNED_TIME + 10 * YEAR);
	struct ca r3 = make_ca(
	    "R3", &new_root, PINNED_TIME - 2 * YEAR, PINNED_TIME + 3 * YEAR);
	X509 *cross = make("R3", r3.key, &old_root, PINNED_TIME - 2 * YEAR,
	    PINNED_TIME + 3 * YEAR, true, NULL);
	EVP_PKEY *lk = EVP_EC_gen("P-256");
	X509 *leaf = make("www.example.test", lk, &r3, PINNED_TIME - 30 * DAY,
	    PINNED_TIME + 60 * DAY, false, NULL);
	X509_STORE *s = store_of(old_root.cert, new_root.cert);
	STACK_OF(X509) *unt = sk_X509_new_null();
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	struct cki_verify_result res;
	json_t *ev;

	(void)state;
	p.time = PINNED_TIME;
	sk_X509_push(unt, cross);
	sk_X509_push(unt, r3.cert);
	/* cki_verify_run alone: the first chain, to the expired root. */
	assert_int_equal(
	    cki_verify_run(NULL, s, leaf, unt, &p, true, &res), CK_OK);
	assert_false(res.ok);
	assert_null(res.alternate);
	cki_verify_result_clear(&res);
	for (int every = 0; every < 2; every++) {
		assert_int_equal(
		    cki_verify_search(NULL, s, leaf, unt, &p, every == 1, &res),
		    CK_OK);
		assert_true(res.ok);
		assert_int_equal(res.nerr, 0);
		assert_int_equal(sk_X509_num(res.chain), 3);
		assert_int_equal(
		    X509_cmp(sk_X509_value(res.chain, 1), r3.cert), 0);
		assert_int_equal(
		    X509_cmp(sk_X509_value(res.chain, 2), new_root.cert), 0);
		assert_non_null(res.alternate);
		assert_string_equal(
		    json_string_value(json_object_get(res.alternate, "code")),
		    "alternate_path");
		ev = json_object_get(res.alternate, "evidence");
		assert_int_equal(
		    json_array_size(json_object_get(ev, "path")), 3);
		assert_string_equal(
		    json_string_value(json_object_get(
		        json_object_get(ev, "first_failure"), "code")),
		    "cert_expired");
		cki_verify_result_clear(&res);
	}
	/* Only the cross-signed R3: the first run's failure, unchanged. */
	sk_X509_pop(unt);
	assert_int_equal(
	    cki_verify_search(NULL, s, leaf, unt, &p, true, &res), CK_OK);
	assert_false(res.ok);
	assert_null(res.alternate);
	assert_int_equal(res.err[0].err, X509_V_ERR_CERT_HAS_EXPIRED);
	assert_int_equal(res.err[0].depth, 2);
	cki_verify_result_clear(&res);

	EVP_PKEY_free(lk);
	sk_X509_free(unt);
	X509_STORE_free(s);
	X509_free(cross);
	X509_free(leaf);
	ca_free(&r3);
	ca_free(&new_root);
	ca_free(&old_root);
}

static void
test_name_constraints_alternate(void **state)
{
	struct ca root = make_ca(
	    "Root", NULL, PINNED_TIME - 5 * YEAR, PINNED_TIME + 10 * YEAR);
	struct ca inter = make_ca(
	    "Int", &root, PINNED_TIME - 2 * YEAR, PINNED_TIME + 3 * YEAR);
	X509 *constrained = make("Int", inter.key, &root,
	    PINNED_TIME - 2 * YEAR, PINNED_TIME + 3 * YEAR, true,
	    "critical,permitted;DNS:.allowed.test");
	EVP_PKEY *lk = EVP_EC_gen("P-256");
	X509 *leaf = make("evil.example.test", lk, &inter,
	    PINNED_TIME - 30 * DAY, PINNED_TIME + 60 * DAY, false, NULL);
	X509_STORE *s = store_of(root.cert, NULL);
	STACK_OF(X509) *unt = sk_X509_new_null();
	json_t *rep;
	int valid = 0, depth = -1;

	(void)state;
	sk_X509_push(unt, constrained);
	sk_X509_push(unt, inter.cert);
	assert_int_equal(
	    bare_openssl(s, leaf, unt, &depth), X509_V_ERR_PERMITTED_VIOLATION);
	rep = certkit_verify(s, leaf, unt, &valid);
	assert_int_equal(valid, 1);
	assert_alternate(rep, inter.cert, "name_constraints");
	json_decref(rep);

	/* The constrained intermediate alone: still refused. */
	sk_X509_pop(unt);
	rep = certkit_verify(s, leaf, unt, &valid);
	assert_int_equal(valid, 0);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(rep, "findings"), 0), "code")),
	    "name_constraints");
	json_decref(rep);

	sk_X509_free(unt);
	X509_STORE_free(s);
	X509_free(constrained);
	X509_free(leaf);
	EVP_PKEY_free(lk);
	ca_free(&inter);
	ca_free(&root);
}

#define MESH_CAS 4
#define MESH_COPIES 4 /* 4^4 = 256 paths */

static void
test_mesh_bounded(void **state)
{
	static const char *const cns[MESH_CAS] = {"A", "B", "C", "D"};
	struct ca top = make_ca("Top", NULL, PINNED_TIME - 20 * YEAR,
	    PINNED_TIME - 1 * YEAR); /* expired: every path fails */
	struct ca cas[MESH_CAS];
	X509_STORE *s = store_of(top.cert, NULL);
	STACK_OF(X509) *unt = sk_X509_new_null();
	struct bare_arg a = {NULL, NULL, CKI_VERIFY_PARAMS_INIT};
	struct cki_path_choice pc;
	EVP_PKEY *lk = EVP_EC_gen("P-256");
	X509 *leaf;
	json_t *rep;
	struct timespec t0, t1;
	int valid = 1, depth;
	double secs;

	(void)state;
	/* D under Top, C under D, ..., each CA in MESH_COPIES certificates
	 * (the same name and key): each copy is issued by every copy of the
	 * CA above. */
	for (int i = MESH_CAS - 1; i >= 0; i--) {
		const struct ca *above = i == MESH_CAS - 1 ? &top : &cas[i + 1];

		cas[i] = make_ca(cns[i], above, PINNED_TIME - 2 * YEAR,
		    PINNED_TIME + 3 * YEAR);
		sk_X509_push(unt, cas[i].cert);
		for (int j = 1; j < MESH_COPIES; j++)
			sk_X509_push(unt,
			    make(cns[i], cas[i].key, above,
			        PINNED_TIME - 2 * YEAR, PINNED_TIME + 3 * YEAR,
			        true, NULL));
	}
	leaf = make("mesh.example.test", lk, &cas[0], PINNED_TIME - 30 * DAY,
	    PINNED_TIME + 60 * DAY, false, NULL);
	assert_int_equal(
	    bare_openssl(s, leaf, unt, &depth), X509_V_ERR_CERT_HAS_EXPIRED);

	a.s = s;
	a.leaf = leaf;
	a.p.time = PINNED_TIME;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(
	    cki_path_search(NULL, s, leaf, unt, -1, bare_path, &a, &pc), CK_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_null(pc.untrusted);
	assert_int_equal(pc.tried, 64); /* the bound */
	assert_true(pc.bounded);
	/* 64 verifications of a 6-certificate chain: milliseconds each even
	 * under a sanitizer. */
	assert_true(secs < 20.0);
	cki_path_choice_clear(&pc);

	/* The report is pass 1's failure, as without the search. */
	rep = certkit_verify(s, leaf, unt, &valid);
	assert_int_equal(valid, 0);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(rep, "findings"), 0), "code")),
	    "cert_expired");
	json_decref(rep);

	sk_X509_pop_free(unt, X509_free);
	for (int i = 0; i < MESH_CAS; i++) {
		EVP_PKEY_free(cas[i].key); /* cert freed with unt */
	}
	X509_STORE_free(s);
	X509_free(leaf);
	EVP_PKEY_free(lk);
	ca_free(&top);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cross_signed_expired_root),
	    cmocka_unit_test(test_search_entry),
	    cmocka_unit_test(test_name_constraints_alternate),
	    cmocka_unit_test(test_mesh_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
