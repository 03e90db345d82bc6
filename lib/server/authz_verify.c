/*
 * authz_verify.c: the client_ca store of `certkit serve` and the cache of
 * client chain verifications (authz_int.h, invariant 4).
 *
 * The store: every certificate of the client_ca files (any format lib/pki
 * reads). A self-signed one is a trust anchor. An intermediate goes to the
 * untrusted set that completes a client's chain, so the chain still ends at
 * the root the admin imported and every certificate of it is checked
 * (revocation included). An intermediate whose issuer is not among the
 * files is an anchor itself: importing only an issuing CA is how an admin
 * trusts that CA and not its whole root, as SAFEQ's "root and intermediate"
 * import allows. Only then is X509_V_FLAG_PARTIAL_CHAIN set; it changes
 * nothing for a chain through an imported root, which stays in the store.
 *
 * The path validation is the one verifier's (cki_verify_run, lib/verify):
 * purpose TLS client, security level 2, at most CKI_VERIFY_PEER_DEPTH
 * intermediates (a 50-certificate chain is refused without building it),
 * under the policy of [server] verify_policy: with strict, a certificate
 * breaking a rule of verify_rules.c is not CA-verified (the first rule
 * broken is the result's `rule`).
 *
 * Invariants:
 *  1. The cache is keyed by the certificate's SHA-256: the same key
 *     re-signed is another certificate, verified again.
 *  2. A cached success is reused whatever chain the client sends (the chain
 *     that verified is in the result); a cached failure only for the same
 *     chain (SHA-256 over the untrusted certificates' digests) or none: a
 *     client that first forgot its intermediate is verified again when it
 *     sends it.
 *  3. An entry is reused only until the earliest notAfter of its chain (a
 *     failure: one minute), and never across a flush (new CA files, a CRL
 *     reload: authz.c).
 *  4. The cache holds at most CKI_VCACHE_MAX entries; reaching it empties
 *     it (a flood of unknown keys cannot grow it without bound).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "authz_priv.h"
#include "verify_int.h"

#define CKI_VCACHE_MAX 65536
#define CKI_VCACHE_FAIL_TTL 60

struct cki_caset {
	X509_STORE *store;
	STACK_OF(X509) * ints; /* imported intermediates: untrusted */
	size_t roots, anchors_int;
	bool partial;
	ck_policy policy;      /* [server] verify_policy */
	struct cki_hmap cache; /* cert SHA-256 -> struct vnode */
	unsigned long hits, misses;
};

struct vnode {
	struct cki_vresult *vr;
	unsigned char udig[32]; /* the untrusted chain of a failure */
	int64_t expires;
};

void
cki_vresult_free(struct cki_vresult *r)
{
	if (r == NULL || --r->refs > 0)
		return;
	sk_X509_pop_free(r->chain, X509_free);
	free(r);
}

static void
vnode_free(void *p)
{
	struct vnode *n = p;

	if (n != NULL)
		cki_vresult_free(n->vr);
	free(n);
}

void
cki_caset_free(cki_caset *cs)
{
	if (cs == NULL)
		return;
	cki_hmap_clear(&cs->cache, vnode_free);
	X509_STORE_free(cs->store);
	sk_X509_pop_free(cs->ints, X509_free);
	free(cs);
}

/* True if one of all[] (other than x) issued x. */
static bool
issuer_present(X509 *x, STACK_OF(X509) * all)
{
	int i;

	for (i = 0; i < sk_X509_num(all); i++) {
		X509 *c = sk_X509_value(all, i);

		if (c != x && cki_x509_issued_by(x, c))
			return true;
	}
	return false;
}

/* Sorts the loaded certificates into anchors and untrusted ones. */
static ck_status
caset_sort(ck_ctx *ctx, cki_caset *cs, STACK_OF(X509) * all)
{
	int i;

	for (i = 0; i < sk_X509_num(all); i++) {
		X509 *x = sk_X509_value(all, i);
		bool anchor = X509_self_signed(x, 0) == 1;

		if (!anchor && !issuer_present(x, all)) {
			anchor = true;
			cs->partial = true;
			cs->anchors_int++;
		} else if (anchor) {
			cs->roots++;
		}
		if (anchor ? X509_STORE_add_cert(cs->store, x) != 1
		           : (X509_up_ref(x) != 1 ||
		                 sk_X509_push(cs->ints, x) <= 0))
			return cki_err(
			    ctx, CK_E_NOMEM, "client_ca: out of memory");
	}
	return CK_OK;
}

/* Appends every certificate of `file` to all (up-referenced). */
static ck_status
caset_load(ck_ctx *ctx, const char *file, STACK_OF(X509) * all)
{
	ck_bundle *b = NULL;
	ck_status st;
	size_t i, n;

	if ((st = ck_load_file(ctx, file, &b)) != CK_OK)
		goto err;
	n = ck_bundle_count(b, CK_OBJ_CERT);
	if (n == 0) {
		st = cki_err(ctx, CK_E_FORMAT,
		    "client_ca %s: expected CA certificates, found none", file);
		goto err;
	}
	for (i = 0; i < n; i++) {
		X509 *x = ck_bundle_get0_cert(b, i)->x509;

		if (X509_up_ref(x) != 1 || sk_X509_push(all, x) <= 0) {
			st = cki_err(
			    ctx, CK_E_NOMEM, "client_ca: out of memory");
			goto err;
		}
	}
err:
	ck_bundle_free(b);
	return st;
}

ck_status
cki_caset_new(ck_ctx *ctx, const struct cki_strlist *files, ck_policy policy,
    cki_caset **out)
{
	cki_caset *cs = NULL;
	STACK_OF(X509) *all = sk_X509_new_null();
	ck_status st = CK_E_NOMEM;
	size_t i;

	*out = NULL;
	if (all == NULL || (cs = calloc(1, sizeof(*cs))) == NULL ||
	    (cs->store = X509_STORE_new()) == NULL ||
	    (cs->ints = sk_X509_new_null()) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "client_ca: out of memory");
		goto err;
	}
	cs->policy = policy;
	for (i = 0; files != NULL && i < files->n; i++)
		if ((st = caset_load(ctx, files->v[i], all)) != CK_OK)
			goto err;
	if ((st = caset_sort(ctx, cs, all)) != CK_OK)
		goto err;
	if (cs->partial &&
	    X509_STORE_set_flags(cs->store, X509_V_FLAG_PARTIAL_CHAIN) != 1) {
		st = cki_err(ctx, CK_E_NOMEM, "client_ca: out of memory");
		goto err;
	}
	*out = cs;
	cs = NULL;
	st = CK_OK;
err:
	sk_X509_pop_free(all, X509_free);
	cki_caset_free(cs);
	return st;
}

void
cki_caset_flush(cki_caset *cs)
{
	cki_hmap_clear(&cs->cache, vnode_free);
}

/* SHA-256 over the SHA-256 of each certificate of sk (none: zeros). */
static void
chain_digest(STACK_OF(X509) * sk, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	int i;

	memset(out, 0, 32);
	if (sk == NULL || md == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto err;
	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_digest(sk_X509_value(sk, i), EVP_sha256(), d, &len) !=
		        1 ||
		    EVP_DigestUpdate(md, d, len) != 1)
			goto err;
	if (EVP_DigestFinal_ex(md, d, &len) == 1 && len == 32)
		memcpy(out, d, 32);
err:
	EVP_MD_CTX_free(md);
}

/* The earliest notAfter of chain (INT64_MAX if none can be read). */
static int64_t
chain_expiry(STACK_OF(X509) * chain)
{
	int64_t min = INT64_MAX, t;
	int i;

	for (i = 0; i < sk_X509_num(chain); i++)
		if (cki_asn1_time(
		        X509_get0_notAfter(sk_X509_value(chain, i)), &t) &&
		    t < min)
			min = t;
	return min;
}

/* The first rule broken (under strict, when OpenSSL found nothing): its
 * code and section, for the problem's detail. */
static void
first_rule(json_t *rules, struct cki_vresult *r)
{
	json_t *f = json_array_get(rules, 0);
	const char *code = json_string_value(json_object_get(f, "code"));
	const char *sec = json_string_value(
	    json_object_get(json_object_get(f, "evidence"), "rule"));
	int depth = (int)json_integer_value(json_object_get(f, "depth"));

	snprintf(r->rule, sizeof(r->rule), "%s%s%s%s",
	    code != NULL ? code : "a rule", sec != NULL ? " (" : "",
	    sec != NULL ? sec : "", sec != NULL ? ")" : "");
	r->error_depth = depth;
}

/* Runs the verifier; fills r->error, error_depth, rule and chain. -1: no
 * memory. */
static int
run_verify(cki_caset *cs, ck_ctx *ctx, X509 *leaf, STACK_OF(X509) * untrusted,
    struct cki_vresult *r)
{
	struct cki_verify_params p = CKI_VERIFY_PARAMS_INIT;
	struct cki_verify_result res = {0};
	STACK_OF(X509) *u = NULL;
	int i, rv = -1;

	r->error = X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY;
	if (cs->roots + cs->anchors_int == 0)
		return 0; /* no client_ca: nothing can verify */
	if ((u = sk_X509_dup(cs->ints)) == NULL)
		goto err;
	for (i = 0; untrusted != NULL && i < sk_X509_num(untrusted); i++)
		if (sk_X509_insert(u, sk_X509_value(untrusted, i), i) <= 0)
			goto err;
	p.purpose = CK_PURPOSE_CLIENT;
	p.max_depth = CKI_VERIFY_PEER_DEPTH;
	p.partial_chain = cs->partial;
	p.anchor_source = "client_ca";
	p.policy = cs->policy;
	if (cki_verify_run(ctx, cs->store, leaf, u, &p, false, &res) != CK_OK)
		goto err;
	r->error = res.ok  ? X509_V_OK
	    : res.nerr > 0 ? res.err[0].err
	                   : X509_V_ERR_UNSPECIFIED;
	r->error_depth = res.nerr > 0 ? res.err[0].depth : 0;
	if (!res.ok && res.nerr == 0)
		first_rule(res.rules, r);
	if (res.ok && res.chain != NULL &&
	    (r->chain = X509_chain_up_ref(res.chain)) == NULL)
		goto err;
	rv = 0;
err:
	cki_verify_result_clear(&res);
	sk_X509_free(u);
	return rv;
}

/* A cached result for fp usable with this untrusted chain, or NULL. */
static struct cki_vresult *
cache_hit(cki_caset *cs, const char *fp, STACK_OF(X509) * untrusted,
    unsigned char udig[32], int64_t now)
{
	struct vnode *n = cki_hmap_get(&cs->cache, fp);

	if (n == NULL || now >= n->expires)
		return NULL;
	if (n->vr->error != X509_V_OK && untrusted != NULL) {
		chain_digest(untrusted, udig); /* only a failure needs it */
		if (memcmp(n->udig, udig, 32) != 0)
			return NULL;
	}
	n->vr->refs++;
	return n->vr;
}

static void
cache_put(cki_caset *cs, struct cki_vresult *r, const unsigned char udig[32],
    int64_t now)
{
	struct vnode *n = calloc(1, sizeof(*n));
	void *old = NULL;

	if (n == NULL)
		return; /* not cached: verified again next time */
	if (cs->cache.n >= CKI_VCACHE_MAX)
		cki_caset_flush(cs);
	n->vr = r;
	memcpy(n->udig, udig, 32);
	n->expires = r->error == X509_V_OK ? chain_expiry(r->chain)
	                                   : now + CKI_VCACHE_FAIL_TTL;
	r->refs++;
	if (cki_hmap_put(&cs->cache, r->cert_sha256, n, &old) != 0) {
		r->refs--;
		free(n);
		return;
	}
	vnode_free(old);
}

struct cki_vresult *
cki_caset_verify(cki_caset *cs, ck_ctx *ctx, X509 *leaf,
    STACK_OF(X509) * untrusted, uint64_t generation)
{
	struct cki_vresult *r;
	unsigned char udig[32];
	char fp[65];
	int64_t now = (int64_t)cki_now(ctx);

	cki_x509_fp(leaf, fp);
	if ((r = cache_hit(cs, fp, untrusted, udig, now)) != NULL) {
		cs->hits++;
		return r;
	}
	cs->misses++;
	chain_digest(untrusted, udig);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->refs = 1;
	r->generation = generation;
	memcpy(r->cert_sha256, fp, sizeof(fp));
	cki_x509_spki(leaf, r->spki);
	if (run_verify(cs, ctx, leaf, untrusted, r) != 0) {
		cki_vresult_free(r);
		return NULL;
	}
	cache_put(cs, r, udig, now);
	return r;
}

char *
cki_vresult_anchor(const struct cki_vresult *r)
{
	int n = r->chain != NULL ? sk_X509_num(r->chain) : 0;

	if (n == 0)
		return NULL;
	return cki_name_oneline(
	    X509_get_subject_name(sk_X509_value(r->chain, n - 1)));
}

json_t *
cki_caset_info(const cki_caset *cs)
{
	return json_pack("{s:I, s:I, s:b, s:I, s:I, s:I}", "roots",
	    (json_int_t)cs->roots, "intermediates",
	    (json_int_t)(sk_X509_num(cs->ints) + (int)cs->anchors_int),
	    "partial_chain", cs->partial, "cached", (json_int_t)cs->cache.n,
	    "hits", (json_int_t)cs->hits, "misses", (json_int_t)cs->misses);
}
