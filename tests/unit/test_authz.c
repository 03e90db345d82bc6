/*
 * test_authz.c: the decision engine of `certkit serve` (lib/server/authz*.c)
 * against a real SQLite registry in a temporary directory, with
 * certificates made here (EC P-256, valid from yesterday for a year).
 *
 * Each branch of the diagram in authz_int.h is one test; then the caches:
 * the verification cache and its generation, the registry cache following
 * admin changes made through a second registry handle (the close callback
 * within one 250 ms poll, driven by the real timers), fail-static with the
 * registry locked by another connection (BEGIN EXCLUSIVE held), presence
 * written only in batches.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "testutil.h"
#include "authz_int.h"
#include "authz_priv.h"
#include "ck_internal.h"
#include "registry_int.h"
#include "revocation_int.h"
#include "server_conf.h"

struct id {
	X509 *cert;
	EVP_PKEY *key;
};

struct env {
	char dir[256];
	char db[300];
	ck_ctx *ctx, *ctx2;
	struct cki_server_conf conf;
	cki_registry *admin; /* the second handle: `certkit clients` */
	cki_authz *a;
	struct event_base *base;
	struct id root, inter, leaf, rogue_root, rogue_leaf;
	char closed[8][65]; /* close callback calls */
	int nclosed;
};

static void
id_clear(struct id *i)
{
	X509_free(i->cert);
	EVP_PKEY_free(i->key);
	i->cert = NULL;
	i->key = NULL;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *e;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	assert_non_null(e);
	assert_int_equal(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for cn with a new key, issued by `by` (NULL: itself). */
static void
mkid(struct id *out, const char *cn, const struct id *by, bool ca)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	unsigned char serial[16];
	ASN1_INTEGER *sn;
	BIGNUM *bn;
	char san[160];

	out->key = EVP_EC_gen("P-256");
	assert_non_null(out->key);
	assert_int_equal(RAND_bytes(serial, sizeof(serial)), 1);
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	sn = BN_to_ASN1_INTEGER(bn, NULL);
	X509_set_serialNumber(x, sn);
	ASN1_INTEGER_free(sn);
	BN_free(bn);
	X509_set_version(x, 2);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_ASC,
	    (const unsigned char *)"authz tests", -1, -1, 0);
	X509_NAME_add_entry_by_txt(
	    n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(
	    x, by != NULL ? X509_get_subject_name(by->cert) : n);
	X509_NAME_free(n);
	X509_gmtime_adj(X509_getm_notBefore(x), -86400);
	X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
	X509_set_pubkey(x, out->key);
	add_ext(
	    x, by != NULL ? by->cert : x, NID_subject_key_identifier, "hash");
	if (by != NULL)
		add_ext(x, by->cert, NID_authority_key_identifier, "keyid");
	if (ca) {
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		add_ext(x, x, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(x, x, NID_key_usage, "critical,digitalSignature");
		add_ext(x, x, NID_ext_key_usage, "clientAuth");
		snprintf(san, sizeof(san), "DNS:%s.example.test", cn);
		add_ext(x, x, NID_subject_alt_name, san);
	}
	assert_true(
	    X509_sign(x, by != NULL ? by->key : out->key, EVP_sha256()) > 0);
	out->cert = x;
}

static void
write_pem(const char *path, X509 *a, X509 *b)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, a), 1);
	if (b != NULL)
		assert_int_equal(PEM_write_X509(f, b), 1);
	assert_int_equal(fclose(f), 0);
}

static const char *
path(struct env *e, const char *name)
{
	static char buf[4][512];
	static int slot;
	char *out = buf[slot++ % 4];

	snprintf(out, sizeof(buf[0]), "%s/%s", e->dir, name);
	return out;
}

static void
on_close(void *arg, const char *spki)
{
	struct env *e = arg;

	if (e->nclosed < 8)
		memcpy(e->closed[e->nclosed++], spki, 65);
}

/* The [server] section's defaults, by hand (server_conf.c is not this
 * module's). */
static void
conf_fill(struct env *e)
{
	struct cki_server_conf *c = &e->conf;

	c->home = strdup(e->dir);
	c->conf_name = strdup("certkit.conf");
	c->registry = strdup("sqlite");
	c->registry_path = strdup(e->db);
	assert_non_null(c->registry_path);
	c->min_proto = TLS1_2_VERSION;
	c->max_proto = TLS1_3_VERSION;
	c->policy = CKI_POLICY_PAIRING;
	c->ocsp = CKI_OCSP_OFF;
	c->pending_ttl = CKI_SRV_DEFAULT_PENDING_TTL;
	c->max_pending = CKI_SRV_DEFAULT_MAX_PENDING;
	c->heartbeat = CKI_SRV_DEFAULT_HEARTBEAT;
	c->retry_after = CKI_SRV_DEFAULT_RETRY_AFTER;
}

static void
conf_clear(struct cki_server_conf *c)
{
	free(c->home);
	free(c->conf_name);
	free(c->registry);
	free(c->registry_path);
	cki_strlist_clear(&c->client_ca);
	cki_strlist_clear(&c->crl);
	free(c->ocsp_responder);
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	int from = -1;

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "%s/certkit-authz-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->db, sizeof(e->db), "%s/server/registry.db", e->dir);
	e->ctx = ck_ctx_new();
	e->ctx2 = ck_ctx_new();
	conf_fill(e);
	assert_int_equal(cki_registry_migrate(e->ctx, e->db, &from), CK_OK);
	assert_int_equal(
	    cki_registry_open(e->ctx2, e->db, 5000, &e->admin), CK_OK);
	mkid(&e->root, "authz Root CA", NULL, true);
	mkid(&e->inter, "authz Issuing CA", &e->root, true);
	mkid(&e->leaf, "gw-ca-01", &e->inter, false);
	mkid(&e->rogue_root, "Rogue CA", NULL, true);
	mkid(&e->rogue_leaf, "gw-rogue", &e->rogue_root, false);
	write_pem(path(e, "root.pem"), e->root.cert, NULL);
	write_pem(path(e, "int.pem"), e->inter.cert, NULL);
	write_pem(path(e, "both.pem"), e->root.cert, e->inter.cert);
	write_pem(path(e, "rogue.pem"), e->rogue_root.cert, NULL);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;
	char cmd[600];

	cki_authz_free(e->a);
	if (e->base != NULL)
		event_base_free(e->base);
	cki_registry_close(e->admin);
	conf_clear(&e->conf);
	ck_ctx_free(e->ctx);
	ck_ctx_free(e->ctx2);
	id_clear(&e->root);
	id_clear(&e->inter);
	id_clear(&e->leaf);
	id_clear(&e->rogue_root);
	id_clear(&e->rogue_leaf);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* Starts the engine with `policy` and the client_ca file (may be NULL). */
static void
start(struct env *e, enum cki_client_policy policy, const char *ca, bool timers)
{
	e->conf.policy = policy;
	cki_strlist_clear(&e->conf.client_ca);
	if (ca != NULL)
		assert_int_equal(
		    cki_strlist_add(&e->conf.client_ca, path(e, ca)), CK_OK);
	if (timers)
		assert_non_null(e->base = event_base_new());
	if (cki_authz_new(e->ctx, &e->conf, e->base, &e->a) != CK_OK)
		fail_msg("cki_authz_new: %s", ck_ctx_error(e->ctx));
	cki_authz_set_close_cb(e->a, on_close, e);
}

struct waiter {
	struct env *e;
	struct cki_decision d;
	int calls, want; /* the loop stops at `want` calls */
};

static void
on_done(void *arg, const struct cki_decision *d)
{
	struct waiter *w = arg;

	w->d = *d;
	w->calls++;
	if (w->calls >= w->want)
		event_base_loopbreak(w->e->base);
}

/* Runs the loop until w has `want` answers, 5 s at most. */
static void
wait_for(struct env *e, struct waiter *w, int want)
{
	struct timeval limit = {5, 0};

	assert_non_null(e->base);
	w->want = want;
	if (w->calls >= want)
		return;
	assert_int_equal(event_base_loopexit(e->base, &limit), 0);
	assert_int_equal(event_base_dispatch(e->base), 0);
	assert_int_equal(w->calls, want);
}

/* Decides a request of leaf (+ untrusted), as the server does: the
 * handshake's verification, then the decision, waiting for it when it
 * comes later (a first contact written by the writer thread). */
static struct cki_decision
decide_chain(struct env *e, X509 *leaf, STACK_OF(X509) * untrusted)
{
	struct waiter w = {e, {0}, 0, 1};
	struct cki_decision d;
	struct cki_peer p = {leaf, NULL, "127.0.0.1:1"};
	cki_authz_req *req = NULL;
	int rv;

	if (leaf != NULL)
		assert_non_null(p.vr = cki_authz_verify(e->a, leaf, untrusted));
	rv = cki_authz_decide(e->a, &p, on_done, &w, &d, &req);
	cki_vresult_free(p.vr);
	if (rv == 0) {
		assert_non_null(req);
		wait_for(e, &w, 1);
		return w.d;
	}
	assert_int_equal(rv, 1);
	assert_null(req);
	return d;
}

static struct cki_decision
decide(struct env *e, const struct id *who)
{
	return decide_chain(e, who != NULL ? who->cert : NULL, NULL);
}

static void
row(struct env *e, const struct id *who, struct cki_client *c)
{
	char spki[65];
	bool found = false;

	cki_x509_spki(who->cert, spki);
	assert_int_equal(
	    cki_registry_get_spki(e->admin, spki, c, &found), CK_OK);
	assert_true(found);
}

/* An admin action through the second handle, as `certkit clients` does. */
static void
act(struct env *e, const struct id *who, enum cki_reg_action what)
{
	struct cki_client c = {0}, after = {0};
	struct cki_actor actor = {"admin:test", "test"};

	row(e, who, &c);
	if (cki_registry_act(e->admin, c.id, what, -1, &actor, &after) != CK_OK)
		fail_msg("act: %s", ck_ctx_error(e->ctx2));
	cki_client_clear(&c);
	cki_client_clear(&after);
}

static void
test_no_certificate(void **state)
{
	struct env *e = *state;
	struct cki_decision d;

	start(e, CKI_POLICY_PAIRING, NULL, false);
	d = decide(e, NULL);
	assert_int_equal(d.status, 401);
	assert_string_equal(d.type, "client_cert_required");
}

/* pairing: unknown -> pending (202, Retry-After, one row); the admin
 * approves -> 200 after one poll; suspend -> closed + 403; resume -> 200;
 * revoke -> closed + 403 client_revoked. */
static void
test_pairing_walk(void **state)
{
	struct env *e = *state;
	struct cki_decision d;
	struct cki_client c = {0};
	long n = -1;
	char spki[65];

	cki_x509_spki(e->leaf.cert, spki);
	start(e, CKI_POLICY_PAIRING, NULL, false);
	d = decide(e, &e->leaf);
	assert_int_equal(d.status, 202);
	assert_string_equal(d.type, "pending_approval");
	assert_int_equal(d.retry_after, e->conf.retry_after);
	assert_string_equal(d.spki, spki);
	assert_true(d.known);
	row(e, &e->leaf, &c);
	assert_int_equal(c.state, CKI_REG_PENDING);
	assert_string_equal(c.policy, "pairing");
	assert_string_equal(c.name, "gw-ca-01");
	assert_string_equal(c.sans, "DNS:gw-ca-01.example.test");
	assert_string_equal(c.id, d.client_id);
	cki_client_clear(&c);
	d = decide(e, &e->leaf); /* from memory: still one row */
	assert_int_equal(d.status, 202);
	assert_int_equal(cki_registry_count(e->admin, -1, &n), CK_OK);
	assert_int_equal(n, 1);

	act(e, &e->leaf, CKI_ACT_APPROVE);
	cki_authz_poll(e->a);
	d = decide(e, &e->leaf);
	assert_int_equal(d.status, 200);
	assert_null(d.type);
	assert_int_equal(e->nclosed, 0);

	act(e, &e->leaf, CKI_ACT_SUSPEND);
	cki_authz_poll(e->a);
	assert_int_equal(e->nclosed, 1);
	assert_string_equal(e->closed[0], spki);
	d = decide(e, &e->leaf);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "client_suspended");

	act(e, &e->leaf, CKI_ACT_RESUME);
	cki_authz_poll(e->a);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	act(e, &e->leaf, CKI_ACT_REVOKE);
	cki_authz_poll(e->a);
	assert_int_equal(e->nclosed, 2);
	d = decide(e, &e->leaf);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "client_revoked");
	assert_string_equal(d.detail, "revoked by an admin");
}

static void
test_rejected_and_removed(void **state)
{
	struct env *e = *state;
	struct cki_decision d;

	start(e, CKI_POLICY_PAIRING, NULL, false);
	assert_int_equal(decide(e, &e->leaf).status, 202);
	act(e, &e->leaf, CKI_ACT_REJECT);
	cki_authz_poll(e->a);
	d = decide(e, &e->leaf);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "client_rejected");
	assert_int_equal(e->nclosed, 0); /* it never was approved */

	/* An approved client removed by the admin: closed, then new again. */
	assert_int_equal(decide(e, &e->rogue_leaf).status, 202);
	act(e, &e->rogue_leaf, CKI_ACT_APPROVE);
	cki_authz_poll(e->a);
	assert_int_equal(decide(e, &e->rogue_leaf).status, 200);
	act(e, &e->rogue_leaf, CKI_ACT_REMOVE);
	cki_authz_poll(e->a);
	assert_int_equal(e->nclosed, 1);
	assert_int_equal(decide(e, &e->rogue_leaf).status, 202);
}

static int
audit_who(void *arg, const struct cki_audit *a)
{
	snprintf(arg, 32, "%s", a->who);
	return 0;
}

/* trusted-ca: a chain to client_ca is approved on first contact by the
 * policy (its audit row says so); a chain to another CA is 403
 * issuer_not_trusted, and no row. */
static void
test_trusted_ca(void **state)
{
	struct env *e = *state;
	char who[32] = "";
	struct cki_decision d;
	struct cki_client c = {0};
	long n = -1;

	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", false);
	d = decide(e, &e->leaf);
	assert_int_equal(d.status, 200);
	assert_int_equal(d.state, CKI_REG_APPROVED);
	row(e, &e->leaf, &c);
	assert_int_equal(c.state, CKI_REG_APPROVED);
	assert_string_equal(c.policy, "trusted-ca");
	cki_client_clear(&c);
	assert_int_equal(
	    cki_registry_audit(e->admin, 0, audit_who, &who), CK_OK);
	assert_string_equal(who, "policy");

	d = decide(e, &e->rogue_leaf);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "issuer_not_trusted");
	assert_string_equal(d.detail, "issuer not in client_ca");
	assert_false(d.known);
	assert_int_equal(cki_registry_count(e->admin, -1, &n), CK_OK);
	assert_int_equal(n, 1);
}

/* A twin of e->leaf without authorityKeyIdentifier (RFC 5280 4.2.1.1:
 * leaf_no_aki), re-signed by the intermediate and read back from DER (no
 * cached extension flags survive). */
static void
mk_no_aki(struct env *e, const char *cn, struct id *out)
{
	X509 *x;
	unsigned char *der = NULL, *p;
	const unsigned char *q;
	int len;

	mkid(out, cn, &e->inter, false);
	x = out->cert;
	X509_EXTENSION_free(X509_delete_ext(
	    x, X509_get_ext_by_NID(x, NID_authority_key_identifier, -1)));
	assert_true(X509_sign(x, e->inter.key, EVP_sha256()) > 0);
	assert_true((len = i2d_X509(x, &der)) > 0);
	p = der;
	q = p;
	X509_free(x);
	assert_non_null(out->cert = d2i_X509(NULL, &q, len));
	OPENSSL_free(der);
}

/* [server] verify_policy: under compat (the default) a client certificate
 * without AKI chains to client_ca and is approved; under strict it breaks
 * a rule and is not CA-verified: trusted-ca refuses it naming the rule,
 * trusted-ca+pairing sends it to pairing. A certificate keeping every rule
 * is approved under both. (Two twins: the registry remembers a client
 * approved on first contact, whatever the policy later.) */
static void
test_verify_policy(void **state)
{
	struct env *e = *state;
	struct id compat = {0}, strict = {0};
	struct cki_decision d;

	mk_no_aki(e, "gw-no-aki-1", &compat);
	mk_no_aki(e, "gw-no-aki-2", &strict);
	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", false);
	assert_int_equal(decide(e, &compat).status, 200);
	cki_authz_free(e->a);
	e->a = NULL;

	e->conf.verify_policy = CK_POLICY_STRICT;
	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", false);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	d = decide(e, &strict);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "issuer_not_trusted");
	if (strstr(d.detail, "leaf_no_aki (RFC 5280 4.2.1.1)") == NULL ||
	    strstr(d.detail, "verify_policy = strict") == NULL)
		fail_msg("detail: %s", d.detail);
	cki_authz_free(e->a);
	e->a = NULL;

	start(e, CKI_POLICY_TRUSTED_CA_PAIRING, "both.pem", false);
	assert_int_equal(decide(e, &strict).status, 202);
	id_clear(&compat);
	id_clear(&strict);
}

/* trusted-ca+pairing: CA-verified approved, the others pending. */
static void
test_trusted_ca_pairing(void **state)
{
	struct env *e = *state;

	start(e, CKI_POLICY_TRUSTED_CA_PAIRING, "both.pem", false);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	assert_int_equal(decide(e, &e->rogue_leaf).status, 202);
}

/* client_ca = the root only: the client must send its intermediate. A
 * failure cached without it is not reused when it comes with it. */
static void
test_root_needs_intermediate(void **state)
{
	struct env *e = *state;
	STACK_OF(X509) *u = sk_X509_new_null();
	struct cki_vresult *r1, *r2;

	assert_non_null(u);
	assert_true(sk_X509_push(u, e->inter.cert) > 0);
	start(e, CKI_POLICY_TRUSTED_CA, "root.pem", false);
	assert_int_equal(decide(e, &e->leaf).status, 403);
	assert_int_equal(decide_chain(e, e->leaf.cert, u).status, 200);

	/* A success is cached: the same leaf without the chain is a hit. */
	r1 = cki_authz_verify(e->a, e->leaf.cert, u);
	r2 = cki_authz_verify(e->a, e->leaf.cert, NULL);
	assert_ptr_equal(r1, r2);
	assert_int_equal(r2->error, X509_V_OK);
	assert_int_equal(sk_X509_num(r2->chain), 3);
	cki_vresult_free(r1);
	cki_vresult_free(r2);
	sk_X509_free(u);
}

/* client_ca = the intermediate only: the admin trusts that issuing CA,
 * which is the anchor (partial chain); another CA's leaf is still not. */
static void
test_intermediate_anchor(void **state)
{
	struct env *e = *state;

	start(e, CKI_POLICY_TRUSTED_CA, "int.pem", false);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	assert_int_equal(decide(e, &e->rogue_leaf).status, 403);
}

/* A known name with a new key: a conflict row beside the approved client,
 * pending (202), never a second identity. */
static void
test_conflict(void **state)
{
	struct env *e = *state;
	struct id twin = {0};
	struct cki_decision d;
	struct cki_client c = {0}, orig = {0};

	mkid(&twin, "gw-ca-01", &e->inter, false); /* the same CN, a new key */
	start(e, CKI_POLICY_PAIRING, NULL, false);
	assert_int_equal(decide(e, &e->leaf).status, 202);
	act(e, &e->leaf, CKI_ACT_APPROVE);
	cki_authz_poll(e->a);
	d = decide(e, &twin);
	assert_int_equal(d.status, 202);
	assert_string_equal(d.type, "pending_approval");
	assert_non_null(strstr(d.detail, "known with another key"));
	row(e, &e->leaf, &orig);
	row(e, &twin, &c);
	assert_string_equal(c.conflict_of, orig.id);
	assert_int_equal(orig.state, CKI_REG_APPROVED);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	cki_client_clear(&c);
	cki_client_clear(&orig);
	id_clear(&twin);
}

/* A first contact written by another connection (the writer thread, or
 * another primary) moves the change token: the poll reads that client,
 * not every row (a flood of new keys re-read the whole registry per
 * poll). replace-key drops the old key's cached row (closed: it was
 * approved) and serves the new key; a removal drops the row. */
static void
test_incremental_sync(void **state)
{
	struct env *e = *state;
	struct id twin = {0};
	struct cki_client in = {0}, out = {0}, conflict = {0}, orig = {0};
	struct cki_client *c;
	struct cki_actor who = {"server", "first contact"};
	char spki[65], rspki[65], tspki[65];
	unsigned long loads;

	mkid(&twin, "gw-ca-01", &e->inter, false); /* the same CN, a new key */
	cki_x509_spki(e->leaf.cert, spki);
	cki_x509_spki(e->rogue_leaf.cert, rspki);
	cki_x509_spki(twin.cert, tspki);
	start(e, CKI_POLICY_PAIRING, NULL, false);
	loads = e->a->n.loads;
	assert_int_equal(decide(e, &e->leaf).status, 202);
	act(e, &e->leaf, CKI_ACT_APPROVE);
	cki_authz_poll(e->a);
	assert_int_equal(decide(e, &e->leaf).status, 200);

	/* Another connection's first contact: in the cache after one poll. */
	memcpy(in.spki, rspki, sizeof(in.spki));
	in.name = "gw-rogue";
	assert_int_equal(cki_registry_first_contact(
	                     e->admin, &in, CKI_REG_PENDING, 100, &who, &out),
	    CK_OK);
	assert_null(cki_hmap_get(&e->a->clients, rspki));
	cki_authz_poll(e->a);
	assert_non_null(cki_hmap_get(&e->a->clients, rspki));
	assert_int_equal(e->a->n.loads, loads); /* no full read */
	assert_true(e->a->n.syncs >= 2);

	/* replace-key: the old key's row goes (closed), the new key is the
	 * approved client under the old id. */
	assert_int_equal(decide(e, &twin).status, 202);
	row(e, &twin, &conflict);
	row(e, &e->leaf, &orig);
	assert_int_equal(cki_registry_act(e->admin, conflict.id,
	                     CKI_ACT_REPLACE_KEY, -1, &who, NULL),
	    CK_OK);
	cki_authz_poll(e->a);
	assert_null(cki_hmap_get(&e->a->clients, spki));
	assert_int_equal(e->nclosed, 1);
	assert_string_equal(e->closed[0], spki);
	assert_int_equal(decide(e, &twin).status, 200);
	assert_non_null(c = cki_hmap_get(&e->a->clients, tspki));
	assert_string_equal(c->id, orig.id);

	/* A row read again keeps the presence not yet written. */
	cki_authz_seen(e->a, tspki, c->last_seen + 1000, "9.9", NULL);
	act(e, &twin, CKI_ACT_SUSPEND);
	cki_authz_poll(e->a);
	assert_non_null(c = cki_hmap_get(&e->a->clients, tspki));
	assert_int_equal(c->state, CKI_REG_SUSPENDED);
	assert_string_equal(c->agent_version, "9.9");
	assert_int_equal(e->nclosed, 2);

	/* A removal drops the row; the next request is a first contact. */
	act(e, &e->rogue_leaf, CKI_ACT_REMOVE);
	cki_authz_poll(e->a);
	assert_null(cki_hmap_get(&e->a->clients, rspki));
	assert_int_equal(e->a->n.loads, loads);
	cki_client_clear(&out);
	cki_client_clear(&conflict);
	cki_client_clear(&orig);
	id_clear(&twin);
}

/* max_pending bounds the queue: the next unknown key gets 503
 * pending_limit and no row. */
static void
test_pending_limit(void **state)
{
	struct env *e = *state;
	struct cki_decision d;
	long n = -1;

	e->conf.max_pending = 1;
	start(e, CKI_POLICY_PAIRING, NULL, false);
	assert_int_equal(decide(e, &e->leaf).status, 202);
	d = decide(e, &e->rogue_leaf);
	assert_int_equal(d.status, 503);
	assert_string_equal(d.type, "pending_limit");
	assert_true(d.retry_after > 0);
	assert_int_equal(cki_registry_count(e->admin, -1, &n), CK_OK);
	assert_int_equal(n, 1);
}

/* Invariant 4: a verification is cached by certificate hash, and a reload
 * (new client_ca) drops it: a result from the old generation held by a
 * live connection is not trusted any more. */
static void
test_verify_cache_generation(void **state)
{
	struct env *e = *state;
	struct cki_vresult *r1, *r2, *r3;
	struct cki_peer p = {NULL, NULL, "127.0.0.1:1"};
	struct cki_decision d;
	cki_authz_req *req = NULL;

	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", false);
	r1 = cki_authz_verify(e->a, e->leaf.cert, NULL);
	r2 = cki_authz_verify(e->a, e->leaf.cert, NULL);
	assert_non_null(r1);
	assert_ptr_equal(r1, r2); /* a hit */
	assert_int_equal(r1->error, X509_V_OK);

	cki_strlist_clear(&e->conf.client_ca);
	assert_int_equal(
	    cki_strlist_add(&e->conf.client_ca, path(e, "rogue.pem")), CK_OK);
	assert_int_equal(cki_authz_reload(e->a, &e->conf), CK_OK);
	r3 = cki_authz_verify(e->a, e->leaf.cert, NULL);
	assert_ptr_not_equal(r3, r1);
	assert_int_not_equal(r3->error, X509_V_OK);
	assert_true(r3->generation > r1->generation);

	/* The connection still holds r1 (verified under the old CA files). */
	p.leaf = e->leaf.cert;
	p.vr = r1;
	assert_int_equal(
	    cki_authz_decide(e->a, &p, on_done, NULL, &d, &req), 1);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "issuer_not_trusted");
	cki_vresult_free(r1);
	cki_vresult_free(r2);
	cki_vresult_free(r3);
}

/* The reload refuses what it cannot take and keeps the old settings. */
static void
test_reload_error_keeps_old(void **state)
{
	struct env *e = *state;

	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", false);
	cki_strlist_clear(&e->conf.client_ca);
	assert_int_equal(
	    cki_strlist_add(&e->conf.client_ca, path(e, "missing.pem")), CK_OK);
	assert_int_not_equal(cki_authz_reload(e->a, &e->conf), CK_OK);
	assert_non_null(strstr(ck_ctx_error(e->ctx), "missing.pem"));
	assert_int_equal(decide(e, &e->leaf).status, 200);
}

static void
stop_loop(void *arg, const char *spki)
{
	struct env *e = arg;

	on_close(arg, spki);
	event_base_loopbreak(e->base);
}

/* Invariant 2 with the real timers: an admin's revoke through another
 * handle reaches the close callback at the next poll (every 250 ms; the
 * check allows 500 ms for a loaded machine, the loop runs 1 s at most). */
static void
test_close_within_one_poll(void **state)
{
	struct env *e = *state;
	struct timeval limit = {1, 0};
	int64_t t0, t1;

	start(e, CKI_POLICY_PAIRING, NULL, true);
	cki_authz_set_close_cb(e->a, stop_loop, e);
	assert_int_equal(decide(e, &e->leaf).status, 202);
	act(e, &e->leaf, CKI_ACT_APPROVE);
	assert_int_equal(event_base_loopexit(e->base, &limit), 0);
	assert_int_equal(event_base_dispatch(e->base), 0);
	assert_int_equal(decide(e, &e->leaf).status, 200);

	act(e, &e->leaf, CKI_ACT_REVOKE);
	t0 = cki_mono_ms();
	assert_int_equal(event_base_loopexit(e->base, &limit), 0);
	assert_int_equal(event_base_dispatch(e->base), 0);
	t1 = cki_mono_ms();
	assert_int_equal(e->nclosed, 1);
	assert_true(t1 - t0 <= 500);
	assert_int_equal(decide(e, &e->leaf).status, 403);
}

static sqlite3 *
lock_registry(struct env *e)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(e->db, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void
unlock_registry(sqlite3 *db)
{
	assert_int_equal(
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Invariant 1: with the registry locked by a long admin transaction, the
 * approved client is still served from memory; a new client gets 503
 * registry_unavailable with Retry-After, quickly, and the next one at once;
 * once the lock is gone, new clients are recorded again. */
static void
test_fail_static(void **state)
{
	struct env *e = *state;
	struct cki_decision d;
	sqlite3 *db;
	int64_t t0;

	start(e, CKI_POLICY_PAIRING, NULL, false);
	assert_int_equal(decide(e, &e->leaf).status, 202);
	act(e, &e->leaf, CKI_ACT_APPROVE);
	cki_authz_poll(e->a);

	db = lock_registry(e);
	cki_authz_poll(e->a);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	t0 = cki_mono_ms();
	d = decide(e, &e->rogue_leaf);
	assert_int_equal(d.status, 503);
	assert_string_equal(d.type, "registry_unavailable");
	assert_int_equal(d.retry_after, CKI_AUTHZ_BUSY_RETRY);
	assert_true(cki_mono_ms() - t0 < 1000);
	t0 = cki_mono_ms();
	assert_int_equal(decide(e, &e->rogue_leaf).status, 503);
	assert_true(cki_mono_ms() - t0 < 80); /* no second wait (100 ms) */
	assert_int_equal(decide(e, &e->leaf).status, 200);
	unlock_registry(db);

	e->a->down_until = 0; /* as CKI_AUTHZ_DOWN_MS later */
	assert_int_equal(decide(e, &e->rogue_leaf).status, 202);
}

/* Invariant 3: a heartbeat is memory only; the batch writes it (and keeps
 * it while the registry is locked); a request counts as presence too. */
static void
test_presence_batch(void **state)
{
	struct env *e = *state;
	struct cki_client c = {0};
	char spki[65];
	sqlite3 *db;

	cki_x509_spki(e->leaf.cert, spki);
	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", false);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	assert_int_equal(cki_authz_flush(e->a), CK_OK);
	row(e, &e->leaf, &c);
	assert_true(c.last_seen > 0);
	assert_null(c.agent_version);
	cki_client_clear(&c);

	cki_authz_heartbeat(e->a, spki, "1.2.3", "{\"os\": \"linux\"}");
	row(e, &e->leaf, &c);
	assert_null(c.agent_version); /* not written synchronously */
	cki_client_clear(&c);

	db = lock_registry(e);
	assert_int_not_equal(cki_authz_flush(e->a), CK_OK);
	unlock_registry(db);
	row(e, &e->leaf, &c);
	assert_null(c.agent_version);
	cki_client_clear(&c);

	assert_int_equal(cki_authz_flush(e->a), CK_OK);
	row(e, &e->leaf, &c);
	assert_non_null(c.agent_version);
	assert_string_equal(c.agent_version, "1.2.3");
	assert_non_null(c.facts);
	assert_non_null(strstr(c.facts, "linux"));
	cki_client_clear(&c);
}

/* The batch runs on its own every second with the timers. */
static void
test_presence_timer(void **state)
{
	struct env *e = *state;
	struct cki_client c = {0};
	struct timeval limit = {1, 300 * 1000};
	char spki[65];

	cki_x509_spki(e->leaf.cert, spki);
	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", true);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	cki_authz_heartbeat(e->a, spki, "9.9", NULL);
	assert_int_equal(event_base_loopexit(e->base, &limit), 0);
	assert_int_equal(event_base_dispatch(e->base), 0);
	row(e, &e->leaf, &c);
	assert_non_null(c.agent_version);
	assert_string_equal(c.agent_version, "9.9");
	cki_client_clear(&c);
}

/* Pending rows past pending_ttl are expired; the client is new again. */
static void
test_pending_expiry(void **state)
{
	struct env *e = *state;
	long n = -1;

	e->conf.pending_ttl = 60;
	start(e, CKI_POLICY_PAIRING, NULL, false);
	assert_int_equal(decide(e, &e->leaf).status, 202);
	cki_authz_expire(e->a);
	assert_int_equal(
	    cki_registry_count(e->admin, CKI_REG_PENDING, &n), CK_OK);
	assert_int_equal(n, 1);
	ck_ctx_set_time(e->ctx, (int64_t)time(NULL) + 3600);
	cki_authz_expire(e->a);
	assert_int_equal(
	    cki_registry_count(e->admin, CKI_REG_PENDING, &n), CK_OK);
	assert_int_equal(n, 0);
	ck_ctx_set_time(e->ctx, 0);
	assert_int_equal(decide(e, &e->leaf).status, 202); /* new again */
	assert_int_equal(
	    cki_registry_count(e->admin, CKI_REG_PENDING, &n), CK_OK);
	assert_int_equal(n, 1);
}

/* GET /api/v1/status: the caller's own view. */
static void
test_status_json(void **state)
{
	struct env *e = *state;
	struct cki_decision d;
	json_t *j;

	start(e, CKI_POLICY_PAIRING, NULL, false);
	d = decide(e, &e->leaf);
	j = cki_authz_status_json(e->a, &d);
	assert_non_null(j);
	assert_string_equal(
	    json_string_value(json_object_get(j, "state")), "pending");
	assert_string_equal(
	    json_string_value(json_object_get(j, "spki_sha256")), d.spki);
	assert_string_equal(
	    json_string_value(json_object_get(j, "id")), d.client_id);
	json_decref(j);
	j = cki_authz_info(e->a);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "clients")), 1);
	assert_int_equal(
	    json_integer_value(json_object_get(j, "first_contacts")), 1);
	assert_non_null(json_object_get(j, "client_ca"));
	json_decref(j);
}

/* A CRL of `ca` listing `revoked` (may be NULL) as keyCompromise, written
 * to dir/name through a rename (a new file, as an admin's tool does). */
static void
write_crl(struct env *e, const char *name, const struct id *ca, X509 *revoked)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();
	char tmp[600];
	FILE *f;

	assert_non_null(crl);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert));
	X509_gmtime_adj(t, -3600);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_gmtime_adj(t, 7L * 86400);
	X509_CRL_set1_nextUpdate(crl, t);
	if (revoked != NULL) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_ENUMERATED *why = ASN1_ENUMERATED_new();

		X509_gmtime_adj(t, -60);
		X509_REVOKED_set_serialNumber(
		    r, X509_get_serialNumber(revoked));
		X509_REVOKED_set_revocationDate(r, t);
		ASN1_ENUMERATED_set(why, 1); /* keyCompromise */
		X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, why, 0, 0);
		ASN1_ENUMERATED_free(why);
		X509_CRL_add0_revoked(crl, r);
	}
	X509_CRL_sort(crl);
	assert_true(X509_CRL_sign(crl, ca->key, EVP_sha256()) > 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path(e, name));
	assert_non_null(f = fopen(tmp, "w"));
	assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, path(e, name)), 0);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
}

static void
use_crls(struct env *e)
{
	cki_strlist_clear(&e->conf.crl);
	assert_int_equal(
	    cki_strlist_add(&e->conf.crl, path(e, "int.crl")), CK_OK);
	assert_int_equal(
	    cki_strlist_add(&e->conf.crl, path(e, "root.crl")), CK_OK);
}

/* A CRL reloaded while the server runs: the approved client's next request
 * is refused with the reason (every certificate of the chain is checked,
 * the intermediate too), its row stays approved, and the reload starts a
 * new verification generation. A new client already revoked gets no row. */
static void
test_crl(void **state)
{
	struct env *e = *state;
	struct id leaf2 = {0}, leaf3 = {0};
	struct cki_vresult *r1, *r2;
	struct cki_decision d;
	struct cki_client c = {0};
	long n = -1;

	mkid(&leaf2, "gw-ca-02", &e->inter, false);
	mkid(&leaf3, "gw-ca-03", &e->inter, false);
	write_crl(e, "int.crl", &e->inter, leaf3.cert);
	write_crl(e, "root.crl", &e->root, NULL);
	use_crls(e);
	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", false);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	d = decide(e, &leaf3);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "certificate_revoked");
	assert_string_equal(
	    d.detail, "certificate revoked (CRL, keyCompromise)");
	assert_int_equal(cki_registry_count(e->admin, -1, &n), CK_OK);
	assert_int_equal(n, 1);

	r1 = cki_authz_verify(e->a, e->leaf.cert, NULL);
	write_crl(e, "int.crl", &e->inter, e->leaf.cert);
	assert_true(cki_revo_reload(e->a->revo));
	cki_authz_poll(e->a);
	r2 = cki_authz_verify(e->a, e->leaf.cert, NULL);
	assert_true(r2->generation > r1->generation);
	cki_vresult_free(r1);
	cki_vresult_free(r2);
	d = decide(e, &e->leaf);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "certificate_revoked");
	row(e, &e->leaf, &c);
	assert_int_equal(c.state, CKI_REG_APPROVED);
	cki_client_clear(&c);

	assert_int_equal(decide(e, &leaf2).status, 200);
	write_crl(e, "root.crl", &e->root, e->inter.cert);
	assert_true(cki_revo_reload(e->a->revo));
	cki_authz_poll(e->a);
	d = decide(e, &leaf2);
	assert_int_equal(d.status, 403);
	assert_string_equal(d.type, "certificate_revoked");
	assert_non_null(strstr(d.detail, "depth 1"));
	id_clear(&leaf2);
	id_clear(&leaf3);
}

/* A port nothing listens on. */
static int
dead_port(void)
{
	struct sockaddr_in sa = {0};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	port = ntohs(sa.sin_port);
	close(fd);
	return port;
}

/* OCSP answers come later: the decision is asynchronous (decide returns
 * 0, `done` runs from the loop, bounded by a 1 s OCSP timeout). */
static struct waiter
decide_async(struct env *e, enum cki_ocsp_mode mode)
{
	struct waiter w = {e, {0}, 0, 1};
	struct cki_peer p = {e->leaf.cert, NULL, "127.0.0.1:1"};
	struct timeval limit = {5, 0};
	cki_authz_req *req = NULL;
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", dead_port());
	e->conf.ocsp = mode;
	e->conf.ocsp_responder = strdup(url);
	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", true);
	cki_revo_set_ocsp_timeout(e->a->revo, 1000);
	assert_non_null(p.vr = cki_authz_verify(e->a, e->leaf.cert, NULL));
	assert_int_equal(
	    cki_authz_decide(e->a, &p, on_done, &w, &w.d, &req), 0);
	assert_non_null(req);
	cki_vresult_free(p.vr);
	assert_int_equal(event_base_loopexit(e->base, &limit), 0);
	assert_int_equal(event_base_dispatch(e->base), 0);
	assert_int_equal(w.calls, 1);
	return w;
}

static void
test_ocsp_hard_fail(void **state)
{
	struct env *e = *state;
	struct waiter w = decide_async(e, CKI_OCSP_HARD_FAIL);
	long n = -1;

	assert_int_equal(w.d.status, 403);
	assert_string_equal(w.d.type, "revocation_unavailable");
	assert_int_equal(cki_registry_count(e->admin, -1, &n), CK_OK);
	assert_int_equal(n, 0);
}

static void
test_ocsp_soft_fail(void **state)
{
	struct env *e = *state;
	struct waiter w = decide_async(e, CKI_OCSP_SOFT_FAIL);
	struct cki_client c = {0};

	assert_int_equal(w.d.status, 200);
	row(e, &e->leaf, &c);
	assert_int_equal(c.state, CKI_REG_APPROVED);
	assert_string_equal(c.policy, "trusted-ca");
	assert_string_equal(c.id, w.d.client_id);
	cki_client_clear(&c);
}

/* Starts the engine under hard-fail OCSP with a dead responder and a
 * 500 ms OCSP timeout. */
static void
start_dead_ocsp(struct env *e)
{
	char url[64];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", dead_port());
	e->conf.ocsp = CKI_OCSP_HARD_FAIL;
	e->conf.ocsp_responder = strdup(url);
	start(e, CKI_POLICY_TRUSTED_CA, "both.pem", true);
	cki_revo_set_ocsp_timeout(e->a->revo, 500);
}

static cki_authz_req *
decide_pending(struct env *e, X509 *leaf, struct waiter *w)
{
	struct cki_peer p = {leaf, NULL, "127.0.0.1:1"};
	cki_authz_req *req = NULL;

	assert_non_null(p.vr = cki_authz_verify(e->a, leaf, NULL));
	assert_int_equal(
	    cki_authz_decide(e->a, &p, on_done, w, &w->d, &req), 0);
	assert_non_null(req);
	cki_vresult_free(p.vr);
	return req;
}

/* A cancelled decision never calls `done`; the other one waiting does. */
static void
test_ocsp_cancel(void **state)
{
	struct env *e = *state;
	struct waiter w1 = {e, {0}, 0, 1}, w2 = {e, {0}, 0, 1};
	struct timeval limit = {5, 0};
	struct id leaf2 = {0};

	mkid(&leaf2, "gw-ca-02", &e->inter, false);
	start_dead_ocsp(e);
	cki_authz_cancel(decide_pending(e, e->leaf.cert, &w1));
	(void)decide_pending(e, leaf2.cert, &w2);
	assert_int_equal(event_base_loopexit(e->base, &limit), 0);
	assert_int_equal(event_base_dispatch(e->base), 0);
	assert_int_equal(w1.calls, 0);
	assert_int_equal(w2.calls, 1);
	assert_int_equal(w2.d.status, 403);
	id_clear(&leaf2);
}

/* Freeing the engine with a decision waiting drops it without `done`;
 * nothing leaks (ASan). */
static void
test_free_with_waiting(void **state)
{
	struct env *e = *state;
	struct waiter w = {e, {0}, 0, 1};

	start_dead_ocsp(e);
	(void)decide_pending(e, e->leaf.cert, &w);
	cki_authz_free(e->a);
	e->a = NULL;
	assert_int_equal(w.calls, 0);
}

/* A reload while a decision waits on OCSP: the new checker (OCSP now off)
 * answers, and `done` runs from the loop, not inside the reload. */
static void
test_reload_while_waiting(void **state)
{
	struct env *e = *state;
	struct waiter w = {e, {0}, 0, 1};
	struct timeval limit = {2, 0};

	start_dead_ocsp(e);
	(void)decide_pending(e, e->leaf.cert, &w);
	e->conf.ocsp = CKI_OCSP_OFF;
	assert_int_equal(cki_authz_reload(e->a, &e->conf), CK_OK);
	assert_int_equal(w.calls, 0);
	assert_int_equal(event_base_loopexit(e->base, &limit), 0);
	assert_int_equal(event_base_dispatch(e->base), 0);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.d.status, 200);
	assert_int_equal(w.d.state, CKI_REG_APPROVED);
}

/* Appends an iPAddress SAN of `len` raw bytes (4 and 16 are addresses; 8
 * is what a name constraint holds, and a leaf may carry anything). */
static void
add_ip_san(GENERAL_NAMES *gs, const unsigned char *b, int len)
{
	GENERAL_NAME *g = GENERAL_NAME_new();
	ASN1_OCTET_STRING *o = ASN1_OCTET_STRING_new();

	assert_int_equal(ASN1_OCTET_STRING_set(o, b, len), 1);
	GENERAL_NAME_set0_value(g, GEN_IPADD, o);
	assert_true(sk_GENERAL_NAME_push(gs, g) > 0);
}

/* A client with no CN is named after its first SAN; an IP SAN of a length
 * that is no address is shown as "?" (never read past its bytes). */
static void
test_names_from_sans(void **state)
{
	struct env *e = *state;
	const unsigned char odd[8] = {192, 0, 2, 0, 255, 255, 255, 0};
	const unsigned char v4[4] = {192, 0, 2, 7};
	GENERAL_NAMES *gs = sk_GENERAL_NAME_new_null();
	X509 *x = X509_new();
	EVP_PKEY *k = EVP_EC_gen("P-256");
	struct cki_client c = {0};
	struct id who = {x, k};

	add_ip_san(gs, odd, sizeof(odd));
	add_ip_san(gs, v4, sizeof(v4));
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, k);
	assert_int_equal(
	    X509_add1_ext_i2d(x, NID_subject_alt_name, gs, 0, 0), 1);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	GENERAL_NAMES_free(gs);
	start(e, CKI_POLICY_PAIRING, NULL, false);
	assert_int_equal(decide(e, &who).status, 202);
	row(e, &who, &c);
	assert_string_equal(c.sans, "IP:?, IP:192.0.2.7");
	assert_string_equal(c.name, "?");
	cki_client_clear(&c);
	id_clear(&who);
}

#define FLOOD 40

/* With a loop, new keys are written by the writer thread: 40 new keys
 * (one of them asking twice) all wait at once, while an approved client is
 * answered at once from memory; then every one is pending, one row each. */
static void
test_writer_flood(void **state)
{
	struct env *e = *state;
	struct id *ids = calloc(FLOOD, sizeof(*ids));
	struct waiter w = {e, {0}, 0, 1};
	struct cki_peer p = {NULL, NULL, "127.0.0.1:1"};
	struct cki_decision d;
	cki_authz_req *req = NULL;
	long n = -1;
	int i;

	assert_non_null(ids);
	start(e, CKI_POLICY_PAIRING, NULL, true);
	assert_int_equal(decide(e, &e->leaf).status, 202); /* waits, answered */
	act(e, &e->leaf, CKI_ACT_APPROVE);
	cki_authz_poll(e->a);
	for (i = 0; i < FLOOD; i++) {
		char cn[32];

		snprintf(cn, sizeof(cn), "flood-%02d", i);
		mkid(&ids[i], cn, &e->inter, false);
		p.leaf = ids[i].cert;
		assert_non_null(p.vr = cki_authz_verify(e->a, p.leaf, NULL));
		assert_int_equal(
		    cki_authz_decide(e->a, &p, on_done, &w, &d, &req), 0);
		if (i ==
		    0) /* the same key again while its write is in flight */
			assert_int_equal(
			    cki_authz_decide(e->a, &p, on_done, &w, &d, &req),
			    0);
		cki_vresult_free(p.vr);
	}
	p.leaf = e->leaf.cert;
	p.vr = NULL;
	assert_int_equal(cki_authz_decide(e->a, &p, on_done, &w, &d, &req), 1);
	assert_int_equal(d.status, 200);
	wait_for(e, &w, FLOOD + 1);
	assert_int_equal(w.d.status, 202);
	assert_int_equal(
	    cki_registry_count(e->admin, CKI_REG_PENDING, &n), CK_OK);
	assert_int_equal(n, FLOOD);
	for (i = 0; i < FLOOD; i++) {
		assert_int_equal(decide(e, &ids[i]).status, 202);
		id_clear(&ids[i]);
	}
	free(ids);
}

/* Fail-static through the writer: a locked registry answers the new
 * client 503 soon (the busy timeout), the next at once, the approved
 * client 200 all along. */
static void
test_writer_locked(void **state)
{
	struct env *e = *state;
	struct cki_decision d;
	sqlite3 *db;
	int64_t t0;

	start(e, CKI_POLICY_PAIRING, NULL, true);
	assert_int_equal(decide(e, &e->leaf).status, 202);
	act(e, &e->leaf, CKI_ACT_APPROVE);
	cki_authz_poll(e->a);
	db = lock_registry(e);
	t0 = cki_mono_ms();
	d = decide(e, &e->rogue_leaf);
	assert_int_equal(d.status, 503);
	assert_string_equal(d.type, "registry_unavailable");
	assert_true(cki_mono_ms() - t0 < 2000);
	assert_int_equal(decide(e, &e->leaf).status, 200);
	t0 = cki_mono_ms();
	assert_int_equal(decide(e, &e->rogue_leaf).status, 503);
	assert_true(cki_mono_ms() - t0 < 80);
	unlock_registry(db);
	e->a->down_until = 0;
	assert_int_equal(decide(e, &e->rogue_leaf).status, 202);
}

/* Freeing the engine while first contacts are in flight: no `done`, no
 * leak (ASan), and the thread is joined. */
static void
test_writer_free_in_flight(void **state)
{
	struct env *e = *state;
	struct waiter w = {e, {0}, 0, 1};
	struct cki_peer p = {e->leaf.cert, NULL, "127.0.0.1:1"};
	struct cki_decision d;
	cki_authz_req *req = NULL;

	start(e, CKI_POLICY_PAIRING, NULL, true);
	assert_non_null(p.vr = cki_authz_verify(e->a, p.leaf, NULL));
	assert_int_equal(cki_authz_decide(e->a, &p, on_done, &w, &d, &req), 0);
	p.leaf = e->rogue_leaf.cert;
	cki_vresult_free(p.vr);
	assert_non_null(p.vr = cki_authz_verify(e->a, p.leaf, NULL));
	assert_int_equal(cki_authz_decide(e->a, &p, on_done, &w, &d, &req), 0);
	cki_authz_cancel(req);
	cki_vresult_free(p.vr);
	cki_authz_free(e->a);
	e->a = NULL;
	assert_int_equal(w.calls, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
	        test_no_certificate, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pairing_walk, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rejected_and_removed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_trusted_ca, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_trusted_ca_pairing, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_verify_policy, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_root_needs_intermediate, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_intermediate_anchor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conflict, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_incremental_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pending_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_verify_cache_generation, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_reload_error_keeps_old, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_close_within_one_poll, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fail_static, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_presence_batch, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_presence_timer, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_pending_expiry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_json, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_crl, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_ocsp_hard_fail, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_ocsp_soft_fail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ocsp_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_free_with_waiting, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_reload_while_waiting, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_names_from_sans, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_writer_flood, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_writer_locked, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_writer_free_in_flight, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
