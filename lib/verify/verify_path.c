/*
 * verify_path.c: path building that tries alternatives (RFC 4158), for a
 * verdict that OpenSSL's one-chain path building got wrong. The contract
 * is in verify_path.h.
 *
 *   leaf ── issuers of leaf (anchors: end a path; untrusted: go up) ──► ...
 *
 * A path is the leaf, then untrusted certificates each issued by the one
 * below (X509_check_issued: the issuer's subject is the name, its SKI the
 * AKI, and its key usage allows certificate signing; RFC 5280 4.2.1.1 and
 * 4.2.1.2), ending at an anchor that issued the last one. Each path found
 * is handed to OpenSSL with only its intermediates as the untrusted set:
 * OpenSSL then builds that path (or an even better one from the anchors)
 * and decides.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "verify_path.h"

/* Out of memory, said on `ctx` when there is one (cki_verify_search()'s
 * callers may give none). */
static ck_status
nomem(ck_ctx *ctx)
{
	return ctx != NULL ? cki_err(ctx, CK_E_NOMEM, "out of memory")
	                   : CK_E_NOMEM;
}

bool
cki_path_worth_trying(int err, int depth)
{
	switch (err) {
	/* About the chain above the leaf, whatever the depth OpenSSL gives:
	 * name constraints (RFC 5280 4.2.1.10) are a CA's, reported on the
	 * certificate they exclude; path length (4.2.1.9) and the key and
	 * digest strength of a CA (security level) depend on the CAs. */
	case X509_V_ERR_PERMITTED_VIOLATION:
	case X509_V_ERR_EXCLUDED_VIOLATION:
	case X509_V_ERR_SUBTREE_MINMAX:
	case X509_V_ERR_UNSUPPORTED_CONSTRAINT_TYPE:
	case X509_V_ERR_UNSUPPORTED_CONSTRAINT_SYNTAX:
	case X509_V_ERR_UNSUPPORTED_NAME_SYNTAX:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_CA_KEY_TOO_SMALL:
	case X509_V_ERR_CA_MD_TOO_WEAK:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
	/* No anchor reached: another issuer may lead to one. */
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_REJECTED: return true;
	/* About one CA certificate (expired, revoked, not a CA, wrong usage,
	 * bad signature): another certificate of that CA may do. On the leaf
	 * itself, no issuer changes anything. */
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_CERT_REVOKED:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE: return depth >= 1;
	}
	return false;
}

/* ---- the search ---------------------------------------------------------- */

struct walk {
	ck_ctx *ctx;
	X509_STORE *anchors;
	X509_STORE_CTX *lookup; /* asks the anchors (and their look-up
	                           methods) for certificates by name */
	STACK_OF(X509) * untrusted;
	cki_path_verify_fn *fn;
	void *arg;
	X509 *path[CKI_PATH_LEN]; /* path[0] is the leaf; borrowed */
	int len, max_len;
	size_t steps;
	struct cki_path_choice *out;
	ck_status st;
};

static bool
walk_done(const struct walk *w)
{
	if (w->out->tried >= CKI_PATH_MAX || w->steps >= CKI_PATH_STEPS)
		w->out->bounded = true;
	return w->out->untrusted != NULL || w->st != CK_OK || w->out->bounded;
}

/* `c` is on the path already, or another certificate of the same CA (the
 * same subject and key) is: going through it again is a loop. */
static bool
on_path(const struct walk *w, X509 *c)
{
	for (int i = 0; i < w->len; i++) {
		X509 *q = w->path[i];

		if (X509_cmp(q, c) == 0 ||
		    (X509_NAME_cmp(X509_get_subject_name(q),
		         X509_get_subject_name(c)) == 0 &&
		        EVP_PKEY_eq(X509_get0_pubkey(q), X509_get0_pubkey(c)) ==
		            1))
			return true;
	}
	return false;
}

/* Verifies the path in w->path, ending at an anchor (OpenSSL finds it). */
static void
try_path(struct walk *w)
{
	STACK_OF(X509) *inter = sk_X509_new_reserve(NULL, w->len);
	bool ok = false;

	if (inter == NULL) {
		w->st = nomem(w->ctx);
		return;
	}
	for (int i = 1; i < w->len; i++)
		(void)sk_X509_push(inter, w->path[i]); /* reserved: no fail */
	w->out->tried++;
	w->st = w->fn(w->arg, inter, &ok);
	if (w->st == CK_OK && ok) {
		w->out->untrusted = inter;
		inter = NULL;
	}
	sk_X509_free(inter);
}

/* Does an anchor issue the top of the path? One verification per path:
 * which of several such anchors to use, OpenSSL picks (one valid at the
 * time first). */
static bool
anchor_issues(struct walk *w, X509 *top)
{
	STACK_OF(X509) *cands =
	    X509_STORE_CTX_get1_certs(w->lookup, X509_get_issuer_name(top));
	bool found = false;

	for (int i = 0; !found && i < sk_X509_num(cands); i++) {
		X509 *a = sk_X509_value(cands, i);

		w->steps++;
		found = X509_check_issued(a, top) == X509_V_OK &&
		    (X509_cmp(a, top) != 0 || w->len > 1);
	}
	sk_X509_pop_free(cands, X509_free);
	return found;
}

/* Depth first from the top of the path: first the anchors, then every
 * untrusted issuer in the order given. */
static void
extend(struct walk *w)
{
	X509 *top = w->path[w->len - 1];

	if (walk_done(w))
		return;
	if (anchor_issues(w, top)) {
		try_path(w);
		if (walk_done(w))
			return;
	}
	if (w->len >= w->max_len)
		return;
	for (int i = 0; i < sk_X509_num(w->untrusted) && !walk_done(w); i++) {
		X509 *u = sk_X509_value(w->untrusted, i);

		w->steps++;
		if (X509_check_issued(u, top) != X509_V_OK || on_path(w, u))
			continue;
		w->path[w->len++] = u;
		extend(w);
		w->len--;
	}
}

ck_status
cki_path_search(ck_ctx *ctx, X509_STORE *anchors, X509 *leaf,
    STACK_OF(X509) * untrusted, int max_depth, cki_path_verify_fn *fn,
    void *arg, struct cki_path_choice *out)
{
	struct walk w;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.ctx = ctx;
	w.anchors = anchors;
	w.untrusted = untrusted;
	w.fn = fn;
	w.arg = arg;
	w.out = out;
	w.path[0] = leaf;
	w.len = 1;
	/* The leaf, the intermediates --max-depth allows, the anchor. */
	w.max_len = max_depth >= 0 && max_depth + 1 < CKI_PATH_LEN
	    ? max_depth + 1
	    : CKI_PATH_LEN;
	if ((w.lookup = X509_STORE_CTX_new()) == NULL ||
	    !X509_STORE_CTX_init(w.lookup, anchors, NULL, NULL)) {
		X509_STORE_CTX_free(w.lookup);
		return nomem(ctx);
	}
	extend(&w);
	X509_STORE_CTX_free(w.lookup);
	if (w.st != CK_OK)
		cki_path_choice_clear(out);
	return w.st;
}

void
cki_path_choice_clear(struct cki_path_choice *c)
{
	sk_X509_free(c->untrusted);
	memset(c, 0, sizeof(*c));
}

/* ---- the finding --------------------------------------------------------- */

json_t *
cki_path_finding(const struct cki_path_choice *c, STACK_OF(X509) * chain,
    const char *code, int first_depth)
{
	json_t *f, *path = json_array();
	char summary[400];
	int bad = path == NULL;

	for (int i = 0; !bad && i < sk_X509_num(chain); i++) {
		ck_cert cc = {sk_X509_value(chain, i)};
		char fp[65];

		ck_cert_sha256(&cc, fp);
		bad |= json_array_append_new(path, json_string(fp)) != 0;
	}
	snprintf(summary, sizeof(summary),
	    "The first chain OpenSSL built failed (%s at depth %d); another "
	    "chain, through other issuers, is valid and was chosen after %zu "
	    "path%s tried.",
	    code, first_depth, c->tried, c->tried == 1 ? "" : "s");
	f = cki_finding_new(CKI_REPORT_VERIFY, "alternate_path", false, summary,
	    "Nothing to fix for clients that build paths (Chrome, Go, "
	    "rustls/webpki, Java); clients that take the first chain (OpenSSL "
	    "1.0.2 to 3.x: s_client, curl, Python; some embedded TLS stacks) "
	    "fail: send only the chain shown, "
	    "without the certificate that leads to the other path.",
	    CKI_OLD_MESSAGE | CKI_OLD_REMEDY);
	if (f == NULL) {
		json_decref(path);
		return NULL;
	}
	/* cki_finding_evidence() consumes its value, even when it fails. */
	bad |= cki_finding_evidence(f, "path", path);
	bad |= cki_finding_evidence(
	    f, "paths_tried", json_integer((json_int_t)c->tried));
	bad |= cki_finding_evidence(f, "first_failure",
	    json_pack("{s:s, s:i}", "code", code, "depth", first_depth));
	if (bad) {
		json_decref(f);
		return NULL;
	}
	return f;
}
