/*
 * revocation.c: one revocation verdict on a client's chain for `certkit
 * serve`: the CRL set (crl = FILE...), and the OCSP answers of
 * ocsp_client.c put together. The contract is in revocation_int.h.
 *
 *   cki_revo_check(chain: leaf .. anchor)
 *     ├─ cki_revo_refresh(): changed CRL files re-read (once a second)
 *     ├─ every certificate but the anchor, leaf first: the CRLs of its
 *     │  issuer (crl_lookup) ── listed ─────────► REVOKED (CRL, reason)
 *     ├─ ocsp = off, or nothing to check ───────► GOOD
 *     └─ each certificate: cki_ocsp_check()
 *          all answered now (cache) ─► combine() ► verdict, returns 1
 *          else a cki_revo_req waits (returns 0); the last answer
 *          (slot_done) runs combine() and calls `done`
 *
 * Invariants:
 *  1. A file's CRLs are replaced only by a complete good load. A file that
 *     vanished or is damaged keeps its last good copy and says so in its
 *     `err` (cki_revo_warnings(): crl_unusable); the generation does not
 *     change. A damaged file is not re-read until it changes again.
 *  2. A CRL counts for a certificate only when its issuer name is the
 *     certificate's issuer and that issuer's key verifies the CRL's
 *     signature (remembered per CRL by the key's SHA-256). Delta and
 *     indirect CRLs are not handled: a CRL lists its issuer's certificates.
 *  3. A CRL past its nextUpdate still counts; it is a warning (crl_stale),
 *     never a refusal.
 *  4. Under OCSP, a certificate with no usable OCSP answer that a verified
 *     CRL of its issuer covers is good: the CRL answered for it. Without
 *     such a CRL, no answer is a soft or hard failure by `ocsp`.
 *  5. A pending request holds references to its chain; cki_revo_cancel()
 *     or cki_revo_free() drop it without calling `done`.
 *  6. The server's own CA (cki_revo_set_own()): its CRL, built from the
 *     registry and fed again when the revoked set changes, counts like a
 *     file's (invariant 2); a certificate it covers, and the issuing CA
 *     itself, are answered here and never asked over OCSP (what the CA
 *     issues points at public_url, https, which ocsp_client.c does not
 *     ask). A new CRL changes the generation.
 *  7. The news (cki_revo_news_match()): the certificates a CRL reloaded or
 *     fed anew lists that its previous copy did not (issuer name and
 *     serial, found by a lookup of each new entry in the old copy), and
 *     those an OCSP responder has just answered "revoked" for. A CRL that
 *     lists nothing new makes no news. A CRL's news is confirmed by the
 *     same lookup as a check's (invariant 2, its signature) before a
 *     chain is said to be revoked by it; an OCSP answer was checked by
 *     ocsp_client.c already. When memory runs out, news are lost (the next
 *     request is still refused).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "revocation_int.h"

/* How long a verdict from the CRLs alone may be reused: a reload changes
 * the generation anyway. */
#define REVO_CRL_TTL 3600

struct crl_ent {
	X509_CRL *crl;
	unsigned char key[32]; /* SHA-256 of the key that verified it */
	bool verified;
};

struct crl_file {
	char *path;
	struct stat st; /* of the copy loaded, or of the last failed try */
	bool have_st;
	struct crl_ent *ent; /* the last good copy */
	size_t n;
	char err[256]; /* why the last load failed, "" when it did not */
};

struct slot {
	struct cki_revo_req *r;
	int depth;
	bool covered; /* a verified CRL of the issuer covers it */
	bool own;     /* answered by the server's own CA (invariant 6) */
	cki_ocsp_wait *w;
	struct cki_ocsp_answer a;
};

struct cki_revo_req {
	cki_revo *rv;
	STACK_OF(X509) * chain; /* borrowed until owned */
	bool owned;
	int n, pending;
	int64_t now;
	struct slot *slots;
	cki_revo_done done;
	void *arg;
	struct cki_revo_req *prev, *next;
};

/* A certificate newly revoked (invariant 7). */
struct news_ent {
	ASN1_INTEGER *serial;
	const X509_NAME *issuer; /* one of cki_revo.news_names */
	int reason;
	bool ocsp; /* an OCSP answer: no CRL to confirm it */
};

struct cki_revo {
	ck_ctx *lctx; /* for reloads: never the caller's context */
	enum cki_ocsp_mode mode;
	struct crl_file *files;
	size_t nfiles;
	uint64_t gen;
	int64_t last_ms; /* last look at the files (monotonic) */
	cki_ocsp *oc;    /* NULL when ocsp = off */
	struct cki_revo_req *reqs;
	X509 *own_ca;       /* the server's issuing CA (invariant 6), or NULL */
	struct crl_ent own; /* its CRL; own.crl NULL until fed */
	uint8_t *own_der;   /* the DER of own.crl, to see a change */
	size_t own_len;
	struct news_ent *news; /* invariant 7, sorted by serial when */
	size_t nnews, capnews; /* news_sorted */
	bool news_sorted;
	STACK_OF(X509_NAME) * news_names; /* their issuers, one copy each */
};

/* ---- the news (invariant 7) ---------------------------------------------- */

static int
entry_reason(X509_REVOKED *r)
{
	ASN1_ENUMERATED *e =
	    X509_REVOKED_get_ext_d2i(r, NID_crl_reason, NULL, NULL);
	int reason = e != NULL ? (int)ASN1_ENUMERATED_get(e) : -1;

	ASN1_ENUMERATED_free(e);
	return reason;
}

static void
news_clear(cki_revo *rv)
{
	for (size_t i = 0; i < rv->nnews; i++)
		ASN1_INTEGER_free(rv->news[i].serial);
	sk_X509_NAME_pop_free(rv->news_names, X509_NAME_free);
	rv->news_names = NULL;
	free(rv->news);
	rv->news = NULL;
	rv->nnews = rv->capnews = 0;
	rv->news_sorted = true;
}

/* The copy of issuer that news entries point at (the last one made is
 * reused); NULL when out of memory. */
static const X509_NAME *
news_name(cki_revo *rv, const X509_NAME *issuer)
{
	int n = rv->news_names ? sk_X509_NAME_num(rv->news_names) : 0;
	X509_NAME *copy;

	if (n > 0 &&
	    X509_NAME_cmp(sk_X509_NAME_value(rv->news_names, n - 1), issuer) ==
	        0)
		return sk_X509_NAME_value(rv->news_names, n - 1);
	if ((rv->news_names == NULL &&
	        (rv->news_names = sk_X509_NAME_new_null()) == NULL) ||
	    (copy = X509_NAME_dup(issuer)) == NULL)
		return NULL;
	if (sk_X509_NAME_push(rv->news_names, copy) <= 0) {
		X509_NAME_free(copy);
		return NULL;
	}
	return copy;
}

/* Adds one; false when out of memory (the news is lost). */
static bool
news_add(cki_revo *rv, const ASN1_INTEGER *serial, const X509_NAME *issuer,
    int reason, bool ocsp)
{
	struct news_ent e = {
	    ASN1_INTEGER_dup(serial), news_name(rv, issuer), reason, ocsp};

	if (e.serial == NULL || e.issuer == NULL)
		goto fail;
	if (rv->nnews == rv->capnews) {
		size_t cap = rv->capnews ? 2 * rv->capnews : 16;
		struct news_ent *v = realloc(rv->news, cap * sizeof(*v));

		if (v == NULL)
			goto fail;
		rv->news = v;
		rv->capnews = cap;
	}
	rv->news[rv->nnews++] = e;
	rv->news_sorted = false;
	return true;
fail:
	ASN1_INTEGER_free(e.serial);
	ERR_clear_error();
	return false;
}

/* True if a CRL of crl's issuer in old (n files) lists serial. */
static bool
listed_before(const ASN1_INTEGER *serial, X509_CRL *crl,
    const struct crl_file *old, size_t n)
{
	ASN1_INTEGER sn = *serial; /* the lookup takes it non-const */
	X509_REVOKED *r;

	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < old[i].n; k++)
			if (X509_NAME_cmp(
			        X509_CRL_get_issuer(old[i].ent[k].crl),
			        X509_CRL_get_issuer(crl)) == 0 &&
			    X509_CRL_get0_by_serial(
			        old[i].ent[k].crl, &r, &sn) == 1)
				return true;
	return false;
}

/* The entries of crl that no CRL of old (n files) lists become news. */
static void
news_of_crl(
    cki_revo *rv, X509_CRL *crl, const struct crl_file *old, size_t nold)
{
	STACK_OF(X509_REVOKED) *rs = X509_CRL_get_REVOKED(crl);

	for (int i = 0; i < sk_X509_REVOKED_num(rs); i++) {
		X509_REVOKED *r = sk_X509_REVOKED_value(rs, i);
		const ASN1_INTEGER *sn = X509_REVOKED_get0_serialNumber(r);

		if (!listed_before(sn, crl, old, nold) &&
		    !news_add(rv, sn, X509_CRL_get_issuer(crl), entry_reason(r),
		        false))
			return;
	}
}

static int
news_cmp(const void *a, const void *b)
{
	return ASN1_INTEGER_cmp(((const struct news_ent *)a)->serial,
	    ((const struct news_ent *)b)->serial);
}

/* The news about x (its serial and issuer name), or NULL. */
static const struct news_ent *
news_find(cki_revo *rv, X509 *x)
{
	const ASN1_INTEGER *sn = X509_get0_serialNumber(x);
	size_t lo = 0, hi = rv->nnews;

	if (!rv->news_sorted) {
		qsort(rv->news, rv->nnews, sizeof(*rv->news), news_cmp);
		rv->news_sorted = true;
	}
	while (lo < hi) { /* the first entry not below sn */
		size_t mid = lo + (hi - lo) / 2;

		if (ASN1_INTEGER_cmp(rv->news[mid].serial, sn) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < rv->nnews && ASN1_INTEGER_cmp(rv->news[lo].serial, sn) == 0;
	     lo++)
		if (X509_NAME_cmp(
		        rv->news[lo].issuer, X509_get_issuer_name(x)) == 0)
			return &rv->news[lo];
	return NULL;
}

/* ---- the CRL files ------------------------------------------------------- */

static void
ents_free(struct crl_ent *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		X509_CRL_free(e[i].crl);
	free(e);
}

static ck_status
crls_load(ck_ctx *ctx, const char *path, struct crl_ent **out, size_t *n)
{
	ck_bundle *b = NULL;
	struct crl_ent *e = NULL;
	size_t cnt = 0;
	ck_status st;

	*out = NULL;
	*n = 0;
	if ((st = ck_load_expect(ctx, path, CK_OBJ_CRL, &b)) != CK_OK)
		return st;
	cnt = ck_bundle_count(b, CK_OBJ_CRL);
	if ((e = calloc(cnt, sizeof(*e))) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "%s: out of memory", path);
		goto err;
	}
	for (size_t i = 0; i < cnt; i++) {
		e[i].crl = cki_bundle_get(b, CK_OBJ_CRL, i);
		X509_CRL_up_ref(e[i].crl);
	}
	*out = e;
	*n = cnt;
	e = NULL;
err:
	ck_bundle_free(b);
	free(e);
	return st;
}

static bool
same_stat(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	    a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	    a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	    a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* Re-reads f if it changed (invariant 1); true if a new copy was taken. */
static bool
file_refresh(cki_revo *rv, struct crl_file *f)
{
	ck_ctx *ctx = rv->lctx;
	struct stat st;
	struct crl_ent *e = NULL;
	size_t n = 0;

	if (stat(f->path, &st) != 0) {
		snprintf(f->err, sizeof(f->err), "%s: cannot be read: %s",
		    f->path, strerror(errno));
		f->have_st = false;
		return false;
	}
	if (f->have_st && same_stat(&st, &f->st))
		return false;
	f->st = st;
	f->have_st = true;
	if (crls_load(ctx, f->path, &e, &n) != CK_OK) {
		snprintf(f->err, sizeof(f->err), "%s", ck_ctx_error(ctx));
		return false;
	}
	for (size_t i = 0; i < n; i++) { /* invariant 7 */
		struct crl_file prev = {.ent = f->ent, .n = f->n};

		news_of_crl(rv, e[i].crl, &prev, 1);
	}
	ents_free(f->ent, f->n);
	f->ent = e;
	f->n = n;
	f->err[0] = '\0';
	return true;
}

/* Generations are unique in the process: a decision cached under one
 * checker's never matches another's (a SIGHUP makes a new checker). */
static uint64_t
next_generation(void)
{
	static uint64_t last;

	return __atomic_add_fetch(&last, 1, __ATOMIC_RELAXED);
}

static bool
refresh(cki_revo *rv)
{
	bool changed = false;

	rv->last_ms = cki_mono_ms();
	for (size_t i = 0; i < rv->nfiles; i++)
		changed |= file_refresh(rv, &rv->files[i]);
	if (changed)
		rv->gen = next_generation();
	return changed;
}

bool
cki_revo_refresh(cki_revo *rv)
{
	if (rv->nfiles == 0 || cki_mono_ms() - rv->last_ms < 1000)
		return false;
	return refresh(rv);
}

bool
cki_revo_reload(cki_revo *rv)
{
	return refresh(rv);
}

uint64_t
cki_revo_generation(const cki_revo *rv)
{
	return rv->gen;
}

/* ---- looking a certificate up -------------------------------------------- */

/* Invariant 2. */
static bool
crl_verified(struct crl_ent *e, X509 *issuer)
{
	unsigned char md[32];
	unsigned int len = sizeof(md);
	EVP_PKEY *pk = X509_get0_pubkey(issuer);

	if (!X509_pubkey_digest(issuer, EVP_sha256(), md, &len) || pk == NULL)
		goto fail;
	if (e->verified && memcmp(e->key, md, sizeof(md)) == 0)
		return true;
	if (X509_CRL_verify(e->crl, pk) != 1)
		goto fail;
	memcpy(e->key, md, sizeof(md));
	e->verified = true;
	return true;
fail:
	ERR_clear_error();
	return false;
}

/* True if e, a CRL of x's issuer, lists x (*reason set); *covered when e
 * is a verified CRL of that issuer. */
static bool
ent_lookup(struct crl_ent *e, X509 *x, X509 *issuer, bool *covered, int *reason)
{
	X509_REVOKED *r = NULL;

	if (X509_NAME_cmp(
	        X509_CRL_get_issuer(e->crl), X509_get_issuer_name(x)) != 0 ||
	    !crl_verified(e, issuer))
		return false;
	*covered = true;
	if (X509_CRL_get0_by_cert(e->crl, &r, x) != 1)
		return false;
	*reason = entry_reason(r);
	return true;
}

/* True if a CRL of issuer lists x (*reason set); *covered when a verified
 * CRL of the issuer was found at all; *own when the server's own CA
 * answers for x (invariant 6). */
static bool
crl_lookup(
    cki_revo *rv, X509 *x, X509 *issuer, bool *covered, bool *own, int *reason)
{
	*covered = false;
	*own = false;
	for (size_t i = 0; i < rv->nfiles; i++)
		for (size_t k = 0; k < rv->files[i].n; k++)
			if (ent_lookup(&rv->files[i].ent[k], x, issuer, covered,
			        reason))
				return true;
	if (rv->own_ca != NULL && X509_cmp(x, rv->own_ca) == 0) {
		*covered = *own = true; /* the server's own issuing CA */
		return false;
	}
	if (rv->own.crl != NULL && X509_cmp(issuer, rv->own_ca) == 0) {
		bool mine = false;

		if (ent_lookup(&rv->own, x, issuer, &mine, reason))
			return true;
		*covered |= mine;
		*own = mine;
	}
	return false;
}

/* ---- verdicts ------------------------------------------------------------ */

static void
verdict_revoked(struct cki_revo_verdict *v, X509 *x, int depth,
    const char *source, int reason)
{
	char what[128] = "";

	v->result = CKI_REVO_REVOKED;
	v->depth = depth;
	v->source = source;
	v->reason = reason;
	if (depth > 0) {
		char *label = cki_x509_label(x);
		char esc[96];

		cki_esc(esc, sizeof(esc), label ? label : "?",
		    label ? strlen(label) : 1);
		snprintf(what, sizeof(what), ": the CA \"%s\" (depth %d)", esc,
		    depth);
		free(label);
	}
	snprintf(v->detail, sizeof(v->detail), "certificate revoked (%s%s%s)%s",
	    strcmp(source, "crl") == 0 ? "CRL" : "OCSP",
	    reason >= 0 ? ", " : "",
	    reason >= 0 ? cki_crl_reason_name(reason) : "", what);
}

static void
verdict_good(struct cki_revo_verdict *v, int64_t until)
{
	memset(v, 0, sizeof(*v));
	v->result = CKI_REVO_GOOD;
	v->depth = -1;
	v->reason = -1;
	v->valid_until = until;
}

/* The CRL pass (invariant 2): true (and *v) if one of the chain is
 * listed; marks the slots a CRL covers. */
static bool
crl_pass(cki_revo_req *r, STACK_OF(X509) * chain, struct cki_revo_verdict *v)
{
	for (int d = 0; d < r->n; d++) {
		X509 *x = sk_X509_value(chain, d);
		int reason = -1;

		if (crl_lookup(r->rv, x, sk_X509_value(chain, d + 1),
		        &r->slots[d].covered, &r->slots[d].own, &reason)) {
			verdict_revoked(v, x, d, "crl", reason);
			return true;
		}
	}
	return false;
}

/* Puts the OCSP answers together (invariant 4). */
static void
combine(const cki_revo_req *r, struct cki_revo_verdict *v)
{
	const struct slot *fail = NULL;

	verdict_good(v, r->now + REVO_CRL_TTL);
	for (int d = 0; d < r->n; d++) {
		const struct slot *s = &r->slots[d];

		if (s->a.status == CKI_OCSP_REVOKED) {
			verdict_revoked(v, sk_X509_value(r->chain, d), d,
			    "ocsp", s->a.reason);
			v->valid_until = s->a.valid_until;
			return;
		}
		if (s->a.status == CKI_OCSP_NOANSWER && !s->covered &&
		    fail == NULL)
			fail = s;
		if (s->a.valid_until < v->valid_until)
			v->valid_until = s->a.valid_until;
	}
	if (fail == NULL)
		return;
	v->result = r->rv->mode == CKI_OCSP_HARD_FAIL ? CKI_REVO_UNKNOWN
	                                              : CKI_REVO_SOFT_FAILED;
	v->depth = fail->depth;
	v->source = "ocsp";
	snprintf(v->detail, sizeof(v->detail), "revocation unknown (%s): %s",
	    r->rv->mode == CKI_OCSP_HARD_FAIL ? "hard-fail" : "soft-fail",
	    fail->a.detail);
}

/* ---- the news (invariant 7) ---------------------------------------------- */

void
cki_revo_news_since(cki_revo *rv, const cki_revo *old)
{
	for (size_t i = 0; i < rv->nfiles; i++)
		for (size_t k = 0; k < rv->files[i].n; k++)
			news_of_crl(rv, rv->files[i].ent[k].crl, old->files,
			    old->nfiles);
}

size_t
cki_revo_news(const cki_revo *rv)
{
	return rv->nnews;
}

void
cki_revo_news_clear(cki_revo *rv)
{
	news_clear(rv);
}

bool
cki_revo_news_match(
    cki_revo *rv, STACK_OF(X509) * chain, struct cki_revo_verdict *v)
{
	int n = chain != NULL ? sk_X509_num(chain) - 1 : 0;

	for (int d = 0; rv->nnews > 0 && d < n; d++) {
		X509 *x = sk_X509_value(chain, d);
		const struct news_ent *e = news_find(rv, x);
		bool covered, own;
		int reason = -1;

		if (e == NULL)
			continue;
		verdict_good(v, 0);
		if (e->ocsp) {
			verdict_revoked(v, x, d, "ocsp", e->reason);
			return true;
		}
		if (crl_lookup(rv, x, sk_X509_value(chain, d + 1), &covered,
		        &own, &reason)) {
			verdict_revoked(v, x, d, "crl", reason);
			return true;
		}
	}
	return false;
}

/* ---- requests ------------------------------------------------------------ */

static void
req_free(cki_revo_req *r)
{
	if (r == NULL)
		return;
	for (int d = 0; d < r->n; d++)
		if (r->slots[d].w != NULL)
			cki_ocsp_cancel(r->slots[d].w);
	if (r->prev != NULL)
		r->prev->next = r->next;
	else if (r->rv->reqs == r)
		r->rv->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	if (r->owned)
		sk_X509_pop_free(r->chain, X509_free);
	free(r->slots);
	free(r);
}

static void
slot_done(void *arg, const struct cki_ocsp_answer *a)
{
	struct slot *s = arg;
	cki_revo_req *r = s->r;
	struct cki_revo_verdict v;
	cki_revo_done done = r->done;
	void *darg = r->arg;

	s->a = *a;
	s->w = NULL;
	if (a->status == CKI_OCSP_REVOKED) { /* a fresh answer: invariant 7 */
		X509 *x = sk_X509_value(r->chain, s->depth);

		(void)news_add(r->rv, X509_get0_serialNumber(x),
		    X509_get_issuer_name(x), a->reason, true);
	}
	if (--r->pending > 0)
		return;
	combine(r, &v);
	req_free(r);
	done(darg, &v);
}

void
cki_revo_cancel(cki_revo_req *req)
{
	req_free(req);
}

static cki_revo_req *
req_new(cki_revo *rv, STACK_OF(X509) * chain, int n, int64_t now)
{
	cki_revo_req *r = calloc(1, sizeof(*r));

	if (r == NULL ||
	    (r->slots = calloc((size_t)n, sizeof(*r->slots))) == NULL) {
		free(r);
		return NULL;
	}
	r->rv = rv;
	r->n = n;
	r->now = now;
	r->chain = chain;
	for (int d = 0; d < n; d++) {
		r->slots[d].r = r;
		r->slots[d].depth = d;
	}
	return r;
}

/* Asks OCSP for every certificate of r; -1 when out of memory. */
static int
ask_ocsp(cki_revo_req *r)
{
	for (int d = 0; d < r->n; d++) {
		struct slot *s = &r->slots[d];
		int rc;

		if (s->own) { /* invariant 6: answered by the registry */
			s->a.status = CKI_OCSP_GOOD;
			s->a.valid_until = r->now + REVO_CRL_TTL;
			continue;
		}
		rc = cki_ocsp_check(r->rv->oc, sk_X509_value(r->chain, d),
		    sk_X509_value(r->chain, d + 1), r->now, slot_done, s, &s->a,
		    &s->w);
		if (rc < 0)
			return -1;
		if (rc == 0)
			r->pending++;
	}
	return 0;
}

int
cki_revo_check(cki_revo *rv, STACK_OF(X509) * chain, int64_t now,
    cki_revo_done done, void *arg, struct cki_revo_verdict *v,
    cki_revo_req **req)
{
	int n = chain != NULL ? sk_X509_num(chain) - 1 : 0;
	cki_revo_req *r = NULL;
	int rc = -1;

	*req = NULL;
	verdict_good(v, now + REVO_CRL_TTL);
	(void)cki_revo_refresh(rv);
	if (n <= 0)
		return 1;
	if ((r = req_new(rv, chain, n, now)) == NULL)
		return -1;
	if (crl_pass(r, chain, v) || rv->oc == NULL) {
		rc = 1;
		goto err;
	}
	if (ask_ocsp(r) != 0)
		goto err;
	if (r->pending == 0) {
		combine(r, v);
		rc = 1;
		goto err;
	}
	/* Invariant 5: the chain outlives the caller's. */
	if ((r->chain = X509_chain_up_ref(chain)) == NULL)
		goto err;
	r->owned = true;
	r->done = done;
	r->arg = arg;
	if ((r->next = rv->reqs) != NULL)
		r->next->prev = r;
	rv->reqs = r;
	*req = r;
	return 0;
err:
	req_free(r);
	return rc;
}

/* ---- set-up -------------------------------------------------------------- */

static void
files_free(struct crl_file *f, size_t n)
{
	for (size_t i = 0; f != NULL && i < n; i++) {
		ents_free(f[i].ent, f[i].n);
		free(f[i].path);
	}
	free(f);
}

/* Loads every file of conf's crl once; a failure names the file. */
static ck_status
files_load(
    ck_ctx *ctx, const struct cki_server_conf *conf, struct crl_file **out)
{
	struct crl_file *f = NULL;
	size_t n = conf->crl.n;
	ck_status st = CK_OK;

	*out = NULL;
	if (n == 0)
		return CK_OK;
	if ((f = calloc(n, sizeof(*f))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	for (size_t i = 0; i < n && st == CK_OK; i++) {
		if ((f[i].path = strdup(conf->crl.v[i])) == NULL) {
			st = cki_err(ctx, CK_E_NOMEM, "out of memory");
			break;
		}
		if (stat(f[i].path, &f[i].st) == 0)
			f[i].have_st = true;
		st = crls_load(ctx, f[i].path, &f[i].ent, &f[i].n);
	}
	if (st != CK_OK) {
		files_free(f, n);
		return st;
	}
	*out = f;
	return CK_OK;
}

ck_status
cki_revo_new(ck_ctx *ctx, const struct cki_server_conf *conf,
    struct event_base *base, cki_revo **out)
{
	cki_revo *rv = NULL;
	ck_status st = CK_E_NOMEM;

	*out = NULL;
	if ((rv = calloc(1, sizeof(*rv))) == NULL ||
	    (rv->lctx = ck_ctx_new()) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	rv->mode = conf->ocsp;
	rv->gen = next_generation();
	rv->last_ms = cki_mono_ms();
	if ((st = files_load(ctx, conf, &rv->files)) != CK_OK)
		goto err;
	rv->nfiles = conf->crl.n;
	if (conf->ocsp != CKI_OCSP_OFF &&
	    (rv->oc = cki_ocsp_new(base, conf->ocsp_responder)) == NULL) {
		st = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	*out = rv;
	rv = NULL;
	st = CK_OK;
err:
	cki_revo_free(rv);
	return st;
}

void
cki_revo_free(cki_revo *rv)
{
	if (rv == NULL)
		return;
	while (rv->reqs != NULL)
		req_free(rv->reqs);
	cki_ocsp_free(rv->oc);
	files_free(rv->files, rv->nfiles);
	X509_free(rv->own_ca);
	X509_CRL_free(rv->own.crl);
	free(rv->own_der);
	news_clear(rv);
	ck_ctx_free(rv->lctx);
	free(rv);
}

/* ---- the server's own CA (invariant 6) ----------------------------------- */

ck_status
cki_revo_set_own(cki_revo *rv, X509 *ca, const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509_CRL *crl = NULL;
	uint8_t *copy = NULL;

	if (rv->own_ca != NULL && X509_cmp(rv->own_ca, ca) == 0 &&
	    rv->own_der != NULL && rv->own_len == len &&
	    memcmp(rv->own_der, der, len) == 0)
		return CK_OK;
	if (len > LONG_MAX ||
	    (crl = d2i_X509_CRL(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		X509_CRL_free(crl);
		ERR_clear_error();
		return cki_err(rv->lctx, CK_E_FORMAT,
		    "the CA's CRL: expected one DER CRL of %zu bytes", len);
	}
	if ((copy = malloc(len)) == NULL || X509_up_ref(ca) != 1) {
		free(copy);
		X509_CRL_free(crl);
		return cki_err(rv->lctx, CK_E_NOMEM, "out of memory");
	}
	memcpy(copy, der, len);
	if (rv->own_ca != NULL && X509_cmp(rv->own_ca, ca) == 0) {
		struct crl_file prev = {
		    .ent = &rv->own, .n = rv->own.crl != NULL};

		news_of_crl(rv, crl, &prev, 1);
	} else {
		news_of_crl(rv, crl, NULL, 0); /* a new CA: all of it */
	}
	X509_free(rv->own_ca);
	X509_CRL_free(rv->own.crl);
	free(rv->own_der);
	rv->own_ca = ca;
	rv->own = (struct crl_ent){.crl = crl};
	rv->own_der = copy;
	rv->own_len = len;
	rv->gen = next_generation();
	return CK_OK;
}

void
cki_revo_take_own(cki_revo *dst, cki_revo *src)
{
	if (src->own_ca == NULL)
		return;
	X509_free(dst->own_ca);
	X509_CRL_free(dst->own.crl);
	free(dst->own_der);
	dst->own_ca = src->own_ca;
	dst->own = src->own;
	dst->own_der = src->own_der;
	dst->own_len = src->own_len;
	src->own_ca = NULL;
	src->own = (struct crl_ent){0};
	src->own_der = NULL;
	src->own_len = 0;
}

void
cki_revo_set_ocsp_timeout(cki_revo *rv, int ms)
{
	if (rv->oc != NULL)
		cki_ocsp_set_timeout(rv->oc, ms);
}

uint64_t
cki_revo_ocsp_requests(const cki_revo *rv)
{
	return rv->oc != NULL ? cki_ocsp_requests(rv->oc) : 0;
}

/* ---- warnings ------------------------------------------------------------ */

static int
stale_finding(const char *path, X509_CRL *crl, int64_t next, json_t *arr)
{
	char when[32], summary[512];
	char *issuer = cki_name_oneline(X509_CRL_get_issuer(crl));
	json_t *f;
	int bad;

	cki_fmt_time(next, when);
	snprintf(summary, sizeof(summary),
	    "%s: the CRL of \"%s\" is past its nextUpdate (%s); it is still "
	    "used",
	    path, issuer ? issuer : "?", when);
	f = cki_finding_new(CKI_REPORT_SERVER, "crl_stale", false, summary,
	    "publish a new CRL from the CA and replace the file: certkit "
	    "serve reads it again without a restart",
	    0);
	bad = f == NULL;
	bad = bad || cki_finding_evidence(f, "file", cki_json_str(path));
	bad = bad || cki_finding_evidence(f, "issuer", cki_json_str(issuer));
	bad = bad || cki_finding_evidence(f, "next_update", json_string(when));
	bad = bad || json_array_append_new(arr, f) != 0;
	if (bad)
		json_decref(f);
	free(issuer);
	return bad ? -1 : 0;
}

static int
unusable_finding(const struct crl_file *f, json_t *arr)
{
	char summary[512];
	json_t *j;
	int bad;

	snprintf(summary, sizeof(summary), "%s%s", f->err,
	    f->n > 0 ? "; its last good copy is used" : "");
	j = cki_finding_new(CKI_REPORT_SERVER, "crl_unusable", false, summary,
	    "replace the file with a complete CRL (PEM or DER) from the CA", 0);
	bad = j == NULL;
	bad = bad || cki_finding_evidence(j, "file", cki_json_str(f->path));
	bad = bad || json_array_append_new(arr, j) != 0;
	if (bad)
		json_decref(j);
	return bad ? -1 : 0;
}

/* crl_unusable and crl_stale findings of the files (invariants 1, 3). */
static int
files_warnings(const struct crl_file *f, size_t n, int64_t now, json_t *arr)
{
	for (size_t i = 0; i < n; i++) {
		if (f[i].err[0] != '\0' && unusable_finding(&f[i], arr) != 0)
			return -1;
		for (size_t k = 0; k < f[i].n; k++) {
			const ASN1_TIME *t =
			    X509_CRL_get0_nextUpdate(f[i].ent[k].crl);
			int64_t next;

			if (t != NULL && cki_asn1_time(t, &next) &&
			    next < now &&
			    stale_finding(
			        f[i].path, f[i].ent[k].crl, next, arr) != 0)
				return -1;
		}
	}
	return 0;
}

json_t *
cki_revo_warnings(cki_revo *rv, int64_t now)
{
	json_t *arr = json_array();

	if (arr == NULL ||
	    files_warnings(rv->files, rv->nfiles, now, arr) != 0 ||
	    (rv->oc != NULL && cki_ocsp_warnings(rv->oc, arr) != 0)) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}

json_t *
cki_revo_conf_warnings(
    ck_ctx *ctx, const struct cki_server_conf *conf, int64_t now)
{
	struct crl_file *f = NULL;
	json_t *arr = json_array();
	size_t n = conf->crl.n;
	/* Its own context: a file's error is a finding, not the caller's. */
	ck_ctx *lctx = ck_ctx_new();
	int bad = arr == NULL || lctx == NULL;

	(void)ctx;
	if (!bad && n > 0 && (f = calloc(n, sizeof(*f))) == NULL)
		bad = 1;
	for (size_t i = 0; !bad && i < n; i++) {
		f[i].path = strdup(conf->crl.v[i]);
		if (f[i].path == NULL)
			bad = 1;
		else if (crls_load(lctx, f[i].path, &f[i].ent, &f[i].n) !=
		    CK_OK)
			snprintf(f[i].err, sizeof(f[i].err), "%s",
			    ck_ctx_error(lctx));
	}
	if (!bad)
		bad = files_warnings(f, n, now, arr) != 0;
	files_free(f, n);
	ck_ctx_free(lctx);
	if (bad) {
		json_decref(arr);
		return NULL;
	}
	return arr;
}
