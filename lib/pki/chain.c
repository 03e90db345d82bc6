/*
 * chain.c: who issued whom inside a bundle, the findings about its order,
 * and ck_bundle_normalize().
 *
 * An admin is handed "the chain" as one file, in whatever order the CA's
 * portal or a colleague produced. TLS 1.2 requires the order leaf first,
 * then each certificate followed by the one that certified it (RFC 5246
 * section 7.4.2); TLS 1.3 relaxes everything but the leaf coming first (RFC
 * 8446 section 4.4.2), and many embedded clients are stricter than either.
 * This file finds the structure of the bundle and says what is wrong with
 * its order.
 *
 * How the issuer of each certificate is found (cki_chain_analyze):
 *
 *   certs ──► SHA-256 of each ──► sort ──► duplicates marked (dup_of)
 *     │
 *     └──► distinct certs sorted by subject name (X509_NAME_cmp, the
 *          RFC 5280 7.1 canonical comparison)
 *              │
 *              ▼
 *          for each cert that is not self-signed: binary search its issuer
 *          name, try at most CKI_CHAIN_MAX_CANDIDATES certs with that
 *          subject (the next one in the file first), accept the first that
 *          passes ck_cert_issued_by() (names, key identifiers, key usage,
 *          signature)
 *
 * Invariants:
 *  1. O(n log n) comparisons plus at most one signature check per
 *     certificate in the common case (one candidate issuer name each), and
 *     never more than CKI_CHAIN_MAX_CANDIDATES + 1.
 *  2. Every walk along issuer links stops at a certificate already seen in
 *     that walk, at the top of the chain, or after CKI_CHAIN_MAX_DEPTH
 *     steps, so cycles (two CAs that cross-signed each other) end.
 *  3. The normalized order holds every distinct certificate exactly once:
 *     the chains, each from its lowest certificate up, in the file order of
 *     those lowest certificates, then the certificates in cycles only, then
 *     the unrelated ones in their file order.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509v3.h>

#include "chain_int.h"

/* ---- labels (the string builder is lib/core/strbuf.c) -------------------- */

char *
cki_cert_label(const ck_cert *c)
{
	char *s = ck_cert_common_name(c), *e;

	if (s != NULL && s[0] != '\0') {
		e = cki_esc_dup(s, strlen(s));
		free(s);
		return e;
	}
	free(s);
	s = ck_cert_subject(c);
	if (s != NULL && s[0] != '\0')
		return s;
	free(s);
	return strdup("(empty subject)");
}

void
cki_sb_cert_list(
    struct cki_sb *sb, ck_cert *const *certs, const size_t *idx, size_t nidx)
{
	size_t shown =
	    nidx < CKI_FINDING_MAX_NAMED ? nidx : CKI_FINDING_MAX_NAMED;

	cki_sb_printf(sb, "certificate%s ", nidx == 1 ? "" : "s");
	for (size_t k = 0; k < shown; k++) {
		char *label = cki_cert_label(certs[idx[k]]);

		if (k > 0)
			cki_sb_printf(sb, "%s", k + 1 == nidx ? " and " : ", ");
		cki_sb_printf(
		    sb, "%zu \"%s\"", idx[k] + 1, label != NULL ? label : "?");
		free(label);
	}
	if (shown < nidx)
		cki_sb_printf(sb, " and %zu more", nidx - shown);
}

/* Characters that need no quoting in a POSIX shell word. */
static bool
shell_safe(const char *s, size_t n)
{
	static const char ok[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
	    "WXYZ0123456789._/+-=:@,%";

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (strchr(ok, s[i]) == NULL || s[i] == '\0')
			return false;
	return true;
}

void
cki_sb_files(struct cki_sb *sb, char *const *origins, size_t n)
{
	enum { MAX_FILES = 8 };
	const char *seen[MAX_FILES];
	size_t seenlen[MAX_FILES], nseen = 0;

	for (size_t i = 0; origins != NULL && i < n && nseen < MAX_FILES; i++) {
		const char *o = origins[i], *colon;
		size_t len;
		bool dup = false;

		/* Origins are "FILE: block N (TYPE)", "FILE: DER ...",
		 * "FILE: PKCS#12 ...". */
		if (o == NULL || (colon = strstr(o, ": ")) == NULL)
			continue;
		len = (size_t)(colon - o);
		if (len == 7 && memcmp(o, "(stdin)", 7) == 0)
			continue;
		for (size_t k = 0; k < nseen && !dup; k++)
			dup = seenlen[k] == len && memcmp(seen[k], o, len) == 0;
		if (dup)
			continue;
		seen[nseen] = o;
		seenlen[nseen++] = len;
	}
	if (nseen == 0) {
		cki_sb_printf(sb, "FILE");
		return;
	}
	for (size_t k = 0; k < nseen; k++) {
		if (k > 0)
			cki_sb_printf(sb, " ");
		if (shell_safe(seen[k], seenlen[k])) {
			cki_sb_printf(sb, "%.*s", (int)seenlen[k], seen[k]);
			continue;
		}
		cki_sb_printf(sb, "'");
		for (size_t i = 0; i < seenlen[k]; i++) {
			if (seen[k][i] == '\'')
				cki_sb_printf(sb, "'\\''");
			else
				cki_sb_printf(sb, "%c", seen[k][i]);
		}
		cki_sb_printf(sb, "'");
	}
}

/* ---- findings ------------------------------------------------------------ */

const char *
cki_role_name(enum cki_role r)
{
	switch (r) {
	case CKI_ROLE_LEAF: return "leaf";
	case CKI_ROLE_INTERMEDIATE: return "intermediate";
	case CKI_ROLE_ROOT: return "root";
	}
	return "?";
}

ck_status
cki_findings_add(struct cki_findings *fs, const char *code, char *message,
    char *fix, ck_obj_type type, const size_t *idx, size_t nidx)
{
	struct cki_finding *f;
	size_t *copy = NULL;
	ck_status rv = CK_E_NOMEM;

	if (message == NULL || fix == NULL)
		goto err;
	if (nidx > 0) {
		if ((copy = malloc(nidx * sizeof(*copy))) == NULL)
			goto err;
		memcpy(copy, idx, nidx * sizeof(*copy));
	}
	if (fs->n == fs->cap) {
		size_t cap = fs->cap ? fs->cap * 2 : 8;
		struct cki_finding *nf = realloc(fs->f, cap * sizeof(*nf));

		if (nf == NULL)
			goto err;
		fs->f = nf;
		fs->cap = cap;
	}
	f = &fs->f[fs->n++];
	f->code = code;
	f->severity = cki_code_severity(CKI_REPORT_SHOW, code);
	f->message = message;
	f->fix = fix;
	f->type = type;
	f->idx = copy;
	f->nidx = nidx;
	return CK_OK;
err:
	free(message);
	free(fix);
	free(copy);
	return rv;
}

void
cki_findings_clear(struct cki_findings *fs)
{
	for (size_t i = 0; i < fs->n; i++) {
		free(fs->f[i].message);
		free(fs->f[i].fix);
		free(fs->f[i].idx);
	}
	free(fs->f);
	memset(fs, 0, sizeof(*fs));
}

static const char *
type_key(ck_obj_type t)
{
	switch (t) {
	case CK_OBJ_CERT: return "certificates";
	case CK_OBJ_KEY: return "keys";
	case CK_OBJ_CSR: return "csrs";
	case CK_OBJ_CRL: return "crls";
	}
	return "objects";
}

static ck_status
finding_json(const struct cki_finding *f, json_t *arr)
{
	json_t *o = cki_finding_new(CKI_REPORT_SHOW, f->code, false, f->message,
	    f->fix, CKI_OLD_MESSAGE | CKI_OLD_FIX);
	json_t *ix = json_array();
	ck_status rv = CK_E_NOMEM;

	if (o == NULL || ix == NULL)
		goto err;
	for (size_t k = 0; k < f->nidx; k++)
		if (json_array_append_new(
		        ix, json_integer((json_int_t)f->idx[k] + 1)))
			goto err;
	/* The objects it is about: the evidence, and (as before) a key of
	 * their own. set_new and append_new take the reference even on
	 * failure. */
	if (cki_finding_evidence(o, type_key(f->type), json_incref(ix)))
		goto err;
	rv = json_object_set_new(o, type_key(f->type), ix) ? CK_E_NOMEM : CK_OK;
	ix = NULL;
	if (rv == CK_OK) {
		rv = json_array_append_new(arr, o) ? CK_E_NOMEM : CK_OK;
		o = NULL;
	}
err:
	json_decref(ix);
	json_decref(o);
	return rv;
}

ck_status
cki_findings_json(const struct cki_findings *fs, json_t *arr)
{
	ck_status rv = CK_OK;

	for (size_t i = 0; rv == CK_OK && i < fs->n; i++)
		rv = finding_json(&fs->f[i], arr);
	return rv;
}

/* ---- the analysis -------------------------------------------------------- */

struct by_digest {
	unsigned char md[32];
	size_t pos;
};

struct by_name {
	const X509_NAME *name;
	size_t pos;
};

static int
cmp_digest(const void *a, const void *b)
{
	const struct by_digest *x = a, *y = b;
	int c = memcmp(x->md, y->md, sizeof(x->md));

	if (c != 0)
		return c;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static int
cmp_name(const void *a, const void *b)
{
	const struct by_name *x = a, *y = b;
	int c = X509_NAME_cmp(x->name, y->name);

	if (c != 0)
		return c < 0 ? -1 : 1;
	return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* First entry whose name is >= key. */
static size_t
name_lower_bound(const struct by_name *v, size_t n, const X509_NAME *key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (X509_NAME_cmp(v[mid].name, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static X509 *
x509_of(ck_cert *const *certs, size_t i)
{
	return certs[i]->x509;
}

/* The position that `i` stands for: itself, or the first copy. */
static size_t
orig(const struct cki_chain *ch, size_t i)
{
	return ch->pos[i].dup_of >= 0 ? (size_t)ch->pos[i].dup_of : i;
}

/* Finds the issuer of certificate i among the distinct certificates. */
static long
find_issuer(ck_cert *const *certs, const struct by_name *names, size_t nnames,
    size_t i, long preferred)
{
	const X509_NAME *want = X509_get_issuer_name(x509_of(certs, i));
	size_t k = name_lower_bound(names, nnames, want);
	int tried = 0;

	/* The next certificate in the file first: a correctly ordered bundle
	 * then keeps its order even when two candidates would verify (an
	 * intermediate cross-signed by two roots). */
	if (preferred >= 0 && (size_t)preferred != i &&
	    X509_NAME_cmp(
	        X509_get_subject_name(x509_of(certs, (size_t)preferred)),
	        want) == 0) {
		tried++;
		if (ck_cert_issued_by(certs[i], certs[preferred]))
			return preferred;
	}
	for (; k < nnames && tried < CKI_CHAIN_MAX_CANDIDATES; k++) {
		size_t j = names[k].pos;

		if (X509_NAME_cmp(names[k].name, want) != 0)
			break;
		if (j == i || (long)j == preferred)
			continue;
		tried++;
		if (ck_cert_issued_by(certs[i], certs[j]))
			return (long)j;
	}
	return -1;
}

/*
 * Fills ch->order and ch->paths. stamp[] is scratch (n entries, zeroed) used
 * to tell "seen in this walk" apart in O(1).
 */
static ck_status
build_order(struct cki_chain *ch, size_t *stamp)
{
	size_t n = ch->n, walk = 0;
	bool *emitted = NULL;
	ck_status rv = CK_E_NOMEM;
	size_t cap_paths = n + 1, cap_items = n + 1;

	if ((emitted = calloc(n, sizeof(*emitted))) == NULL ||
	    (ch->order = malloc(n * sizeof(*ch->order))) == NULL ||
	    (ch->path_start = malloc(cap_paths * sizeof(size_t))) == NULL ||
	    (ch->paths = malloc(cap_items * sizeof(size_t))) == NULL)
		goto err;
	ch->path_start[0] = 0;
	/* Pass 0: chains from their lowest certificate (one nothing in the
	 * bundle is issued by). Pass 1: what is left of the chain members is in
	 * cycles only. Pass 2: unrelated certificates. */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < n; i++) {
			const struct cki_chain_pos *p = &ch->pos[i];
			bool member = p->issuer >= 0 || p->has_child;
			long c;
			size_t depth = 0;

			if (p->dup_of >= 0 || emitted[i])
				continue;
			if ((pass == 0 && (!member || p->has_child)) ||
			    (pass == 1 && !member) || (pass == 2 && member))
				continue;
			walk++;
			for (c = (long)i; c >= 0 && stamp[c] != walk &&
			     depth < CKI_CHAIN_MAX_DEPTH;
			     c = ch->pos[c].issuer, depth++) {
				stamp[c] = walk;
				if (!emitted[c]) {
					emitted[c] = true;
					ch->order[ch->norder++] = (size_t)c;
				}
				if (ch->npaths_items == cap_items) {
					size_t *np = realloc(ch->paths,
					    2 * cap_items * sizeof(size_t));

					if (np == NULL)
						goto err;
					ch->paths = np;
					cap_items *= 2;
				}
				ch->paths[ch->npaths_items++] = (size_t)c;
			}
			/* A walk cut at CKI_CHAIN_MAX_DEPTH leaves the rest of
			 * a very long chain for a later walk: still emitted
			 * once each, since the loop visits every position. */
			if (pass < 2) {
				if (ch->npaths + 1 == cap_paths) {
					size_t *np = realloc(ch->path_start,
					    2 * cap_paths * sizeof(size_t));

					if (np == NULL)
						goto err;
					ch->path_start = np;
					cap_paths *= 2;
				}
				ch->path_start[++ch->npaths] = ch->npaths_items;
			} else {
				/* Unrelated certificates are not chains. */
				ch->npaths_items--;
			}
		}
	}
	rv = CK_OK;
err:
	free(emitted);
	return rv;
}

/* ---- findings about the bundle ------------------------------------------ */

struct idxlist {
	size_t *v;
	size_t n;
};

static ck_status
push_idx(struct idxlist *l, size_t cap, size_t i)
{
	if (l->n >= cap)
		return CK_E_INTERNAL;
	l->v[l->n++] = i;
	return CK_OK;
}

/* The caIssuers URL of a certificate, where its issuer can be downloaded
 * (RFC 5280 4.2.2.1), appended to sb; false if it has none. */
static bool
sb_ca_issuers(struct cki_sb *sb, X509 *x)
{
	AUTHORITY_INFO_ACCESS *aia =
	    X509_get_ext_d2i(x, NID_info_access, NULL, NULL);
	bool found = false;

	for (int i = 0; aia != NULL && i < sk_ACCESS_DESCRIPTION_num(aia);
	     i++) {
		ACCESS_DESCRIPTION *ad = sk_ACCESS_DESCRIPTION_value(aia, i);

		if (OBJ_obj2nid(ad->method) != NID_ad_ca_issuers ||
		    ad->location->type != GEN_URI)
			continue;
		cki_sb_printf(sb, "%.*s",
		    ASN1_STRING_length(
		        ad->location->d.uniformResourceIdentifier),
		    (const char *)ASN1_STRING_get0_data(
		        ad->location->d.uniformResourceIdentifier));
		found = true;
		break;
	}
	AUTHORITY_INFO_ACCESS_free(aia);
	return found;
}

static void
sb_normalize_fix(
    struct cki_sb *sb, char *const *origins, size_t n, const char *what)
{
	cki_sb_printf(sb,
	    "%s: run `certkit convert --normalize --to pem "
	    "--out fixed.pem ",
	    what);
	cki_sb_files(sb, origins, n);
	cki_sb_printf(sb, "` and use fixed.pem.");
}

static ck_status
add(struct cki_chain *ch, const char *code, struct cki_sb *msg,
    struct cki_sb *fix, const size_t *idx, size_t nidx)
{
	return cki_findings_add(&ch->findings, code, cki_sb_take(msg),
	    cki_sb_take(fix), CK_OBJ_CERT, idx, nidx);
}

static ck_status
find_duplicates(struct cki_chain *ch, ck_cert *const *certs,
    char *const *origins, struct idxlist *l)
{
	struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX),
	              fix = CKI_SB_INIT(CKI_SB_MSG_MAX);
	size_t shown = 0;

	l->n = 0;
	for (size_t i = 0; i < ch->n; i++)
		if (ch->pos[i].dup_of >= 0)
			(void)push_idx(l, ch->n, i);
	if (l->n == 0)
		return CK_OK;
	for (size_t k = 0; k < l->n && shown < CKI_FINDING_MAX_NAMED; k++) {
		size_t i = l->v[k];
		char *label = cki_cert_label(certs[i]);

		cki_sb_printf(&msg,
		    "%scertificate %zu \"%s\" is an exact copy "
		    "of certificate %ld",
		    shown ? "; " : "", i + 1, label ? label : "?",
		    ch->pos[i].dup_of + 1);
		free(label);
		shown++;
	}
	if (shown < l->n)
		cki_sb_printf(&msg, "; and %zu more copies", l->n - shown);
	sb_normalize_fix(&fix, origins, ch->n, "Remove the copies");
	return add(ch, "duplicate", &msg, &fix, l->v, l->n);
}

/* Next distinct certificate after position i, or -1. */
static long
next_distinct(const struct cki_chain *ch, size_t i)
{
	for (size_t j = i + 1; j < ch->n; j++)
		if (ch->pos[j].dup_of < 0)
			return (long)j;
	return -1;
}

static long
prev_distinct(const struct cki_chain *ch, size_t i)
{
	for (size_t j = i; j-- > 0;)
		if (ch->pos[j].dup_of < 0)
			return (long)j;
	return -1;
}

/*
 * A link (certificate -> its issuer in the bundle) is in place when the
 * issuer is the next distinct certificate. Links whose issuer sits just
 * before the certificate are reversed; any other displacement is a shuffle.
 */
static ck_status
find_order(struct cki_chain *ch, ck_cert *const *certs, char *const *origins,
    struct idxlist *l)
{
	struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX),
	              fix = CKI_SB_INIT(CKI_SB_MSG_MAX);
	size_t reversed = 0, shuffled = 0, total = 0, shown = 0;
	bool is_reversed;

	l->n = 0;
	for (size_t i = 0; i < ch->n; i++) {
		const struct cki_chain_pos *p = &ch->pos[i];

		if (p->dup_of >= 0 || p->issuer < 0)
			continue;
		total++;
		if (next_distinct(ch, i) == p->issuer)
			continue;
		if (prev_distinct(ch, i) == p->issuer)
			reversed++;
		else
			shuffled++;
	}
	if (reversed + shuffled == 0)
		return CK_OK;
	/* Reversed: every link points backwards (root first, leaf last). */
	is_reversed = shuffled == 0 && reversed == total;
	for (size_t i = 0; i < ch->n; i++) {
		const struct cki_chain_pos *p = &ch->pos[i];
		char *a, *b;

		if (p->dup_of >= 0 || p->issuer < 0 ||
		    next_distinct(ch, i) == p->issuer)
			continue;
		(void)push_idx(l, ch->n, i);
		if (is_reversed || shown >= CKI_FINDING_MAX_NAMED)
			continue;
		a = cki_cert_label(certs[i]);
		b = cki_cert_label(certs[p->issuer]);
		cki_sb_printf(&msg,
		    "%scertificate %zu \"%s\" is issued by "
		    "certificate %ld \"%s\", which comes %s",
		    shown ? "; " : "", i + 1, a ? a : "?", p->issuer + 1,
		    b ? b : "?",
		    (size_t)p->issuer < i ? "before it"
		                          : "later but not right after it");
		free(a);
		free(b);
		shown++;
	}
	if (is_reversed) {
		cki_sb_printf(&msg,
		    "the bundle is in reverse order: each "
		    "certificate comes right after its issuer, ");
		cki_sb_cert_list(&msg, certs, l->v, l->n);
		cki_sb_printf(&msg, " after %s issuer%s",
		    l->n == 1 ? "its" : "their", l->n == 1 ? "" : "s");
		shown = l->n;
	}
	if (shown < l->n)
		cki_sb_printf(&msg, "; and %zu more", l->n - shown);
	cki_sb_printf(&msg,
	    ". TLS expects each certificate to be followed by "
	    "its issuer (RFC 5246 7.4.2)");
	sb_normalize_fix(&fix, origins, ch->n, "Put it in order leaf to root");
	return add(ch, is_reversed ? "reversed_order" : "out_of_order", &msg,
	    &fix, l->v, l->n);
}

static ck_status
find_leaves(struct cki_chain *ch, ck_cert *const *certs, char *const *origins,
    struct idxlist *l)
{
	struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX),
	              fix = CKI_SB_INIT(CKI_SB_MSG_MAX);
	ck_status rv;
	long first = -1;

	l->n = 0;
	for (size_t i = 0; i < ch->n; i++)
		if (ch->pos[i].dup_of < 0 && ch->pos[i].role == CKI_ROLE_LEAF)
			(void)push_idx(l, ch->n, i);
	if (l->n == 0)
		return CK_OK;
	first = (long)l->v[0];
	if (ch->pos[0].role != CKI_ROLE_LEAF) {
		size_t both[2] = {0, (size_t)first};
		char *a = cki_cert_label(certs[0]),
		     *b = cki_cert_label(certs[first]);

		cki_sb_printf(&msg,
		    "certificate 1 \"%s\" is a CA certificate; "
		    "the end-entity certificate \"%s\" is at position %ld. A "
		    "server sends the first certificate of its file as its own "
		    "(RFC 8446 4.4.2), so clients will reject it",
		    a ? a : "?", b ? b : "?", first + 1);
		free(a);
		free(b);
		sb_normalize_fix(&fix, origins, ch->n, "Put the leaf first");
		if ((rv = add(ch, "leaf_not_first", &msg, &fix, both, 2)) !=
		    CK_OK)
			return rv;
	}
	if (l->n > 1) {
		cki_sb_printf(&msg,
		    "the bundle holds %zu end-entity "
		    "certificates (",
		    l->n);
		cki_sb_cert_list(&msg, certs, l->v, l->n);
		cki_sb_printf(&msg, "); a server presents only one of them");
		cki_sb_printf(&fix,
		    "Keep one end-entity certificate and its "
		    "chain per file; put each other leaf in a file of its "
		    "own.");
		if ((rv = add(ch, "multiple_leaves", &msg, &fix, l->v, l->n)) !=
		    CK_OK)
			return rv;
	}
	return CK_OK;
}

/*
 * A gap: a certificate whose issuer is not in the bundle, directly followed
 * by a CA certificate that issued nothing in the bundle. The missing issuer
 * most likely belongs between the two (gap.pem: leaf, root; the
 * intermediate is missing). A following leaf instead starts a new chain.
 */
static ck_status
find_gaps(struct cki_chain *ch, ck_cert *const *certs, bool *in_gap)
{
	ck_status rv;

	for (size_t i = 0; i < ch->n; i++) {
		const struct cki_chain_pos *p = &ch->pos[i];
		struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX),
		              fix = CKI_SB_INIT(CKI_SB_MSG_MAX);
		long nx;
		char *a, *b, *iss;
		size_t pair[2];

		if (p->dup_of >= 0 || p->self_signed || p->issuer >= 0)
			continue;
		if ((nx = next_distinct(ch, i)) < 0 || !ch->pos[nx].is_ca ||
		    ch->pos[nx].has_child)
			continue;
		a = cki_cert_label(certs[i]);
		b = cki_cert_label(certs[nx]);
		iss = ck_cert_issuer(certs[i]);
		cki_sb_printf(&msg,
		    "certificate %zu \"%s\" is not issued by the "
		    "next one, certificate %ld \"%s\": its issuer \"%s\" is "
		    "missing from the bundle",
		    i + 1, a ? a : "?", nx + 1, b ? b : "?", iss ? iss : "?");
		cki_sb_printf(&fix,
		    "Insert the certificate of \"%s\" after "
		    "certificate %zu",
		    iss ? iss : "?", i + 1);
		{
			struct cki_sb url = CKI_SB_INIT(CKI_SB_MSG_MAX);
			char *u;

			if (sb_ca_issuers(&url, x509_of(certs, i)) &&
			    (u = cki_sb_take(&url)) != NULL) {
				cki_sb_printf(
				    &fix, " (its CA publishes it at %s)", u);
				free(u);
			}
			free(cki_sb_take(&url));
		}
		cki_sb_printf(&fix, ".");
		free(a);
		free(b);
		free(iss);
		in_gap[i] = in_gap[nx] = true;
		pair[0] = i;
		pair[1] = (size_t)nx;
		if ((rv = add(ch, "gap", &msg, &fix, pair, 2)) != CK_OK)
			return rv;
	}
	return CK_OK;
}

static ck_status
find_roots_unrelated(struct cki_chain *ch, ck_cert *const *certs,
    const bool *in_gap, size_t ndistinct, struct idxlist *l)
{
	struct cki_sb msg = CKI_SB_INIT(CKI_SB_MSG_MAX),
	              fix = CKI_SB_INIT(CKI_SB_MSG_MAX);
	ck_status rv;

	if (ndistinct < 2)
		return CK_OK;
	l->n = 0;
	for (size_t i = 0; i < ch->n; i++)
		if (ch->pos[i].dup_of < 0 && ch->pos[i].role == CKI_ROLE_ROOT)
			(void)push_idx(l, ch->n, i);
	if (l->n > 0) {
		cki_sb_cert_list(&msg, certs, l->v, l->n);
		cki_sb_printf(&msg,
		    " %s a self-signed root. A peer must already "
		    "trust a root, so sending it is unnecessary but harmless",
		    l->n == 1 ? "is" : "are");
		cki_sb_printf(&fix,
		    "Nothing is required; you may leave the root "
		    "out of the file a server sends, but keep it in trust "
		    "store "
		    "files.");
		if ((rv = add(ch, "root_included", &msg, &fix, l->v, l->n)) !=
		    CK_OK)
			return rv;
	}
	l->n = 0;
	for (size_t i = 0; i < ch->n; i++) {
		const struct cki_chain_pos *p = &ch->pos[i];

		if (p->dup_of < 0 && !p->self_signed && p->issuer < 0 &&
		    !p->has_child && !in_gap[i])
			(void)push_idx(l, ch->n, i);
	}
	if (l->n > 0) {
		cki_sb_cert_list(&msg, certs, l->v, l->n);
		cki_sb_printf(&msg,
		    " %s no issuer and issue%s nothing in this "
		    "bundle: %s chain%s to none of the other certificates",
		    l->n == 1 ? "has" : "have", l->n == 1 ? "s" : "",
		    l->n == 1 ? "it" : "they", l->n == 1 ? "s" : "");
		cki_sb_printf(&fix,
		    "Remove %s if %s not belong here, or add "
		    "the intermediate certificates that link %s to the rest.",
		    l->n == 1 ? "it" : "them",
		    l->n == 1 ? "it does" : "they do",
		    l->n == 1 ? "it" : "them");
		if ((rv = add(ch, "unrelated", &msg, &fix, l->v, l->n)) !=
		    CK_OK)
			return rv;
	}
	return CK_OK;
}

static ck_status
find_all(struct cki_chain *ch, ck_cert *const *certs, char *const *origins)
{
	struct idxlist l = {NULL, 0};
	bool *in_gap = NULL;
	size_t ndistinct = 0;
	ck_status rv = CK_E_NOMEM;

	if ((l.v = malloc(ch->n * sizeof(*l.v))) == NULL ||
	    (in_gap = calloc(ch->n, sizeof(*in_gap))) == NULL)
		goto err;
	for (size_t i = 0; i < ch->n; i++)
		ndistinct += ch->pos[i].dup_of < 0;
	if ((rv = find_leaves(ch, certs, origins, &l)) != CK_OK ||
	    (rv = find_order(ch, certs, origins, &l)) != CK_OK ||
	    (rv = find_gaps(ch, certs, in_gap)) != CK_OK ||
	    (rv = find_duplicates(ch, certs, origins, &l)) != CK_OK ||
	    (rv = find_roots_unrelated(ch, certs, in_gap, ndistinct, &l)) !=
	        CK_OK)
		goto err;
	rv = CK_OK;
err:
	free(l.v);
	free(in_gap);
	return rv;
}

void
cki_chain_free(struct cki_chain *ch)
{
	if (ch == NULL)
		return;
	free(ch->pos);
	free(ch->order);
	free(ch->paths);
	free(ch->path_start);
	cki_findings_clear(&ch->findings);
	free(ch);
}

ck_status
cki_chain_analyze(ck_ctx *ctx, ck_cert *const *certs, char *const *origins,
    size_t n, struct cki_chain **out)
{
	struct cki_chain *ch = NULL;
	struct by_digest *dg = NULL;
	struct by_name *names = NULL;
	size_t *stamp = NULL, nnames = 0;
	ck_status rv = CK_E_NOMEM;

	*out = NULL;
	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		goto err;
	ch->n = n;
	if (n == 0) {
		/* An empty bundle has no chain and no findings. */
		if ((ch->path_start = calloc(1, sizeof(size_t))) == NULL)
			goto err;
		*out = ch;
		return CK_OK;
	}
	if ((ch->pos = calloc(n, sizeof(*ch->pos))) == NULL ||
	    (dg = malloc(n * sizeof(*dg))) == NULL ||
	    (names = malloc(n * sizeof(*names))) == NULL ||
	    (stamp = calloc(n, sizeof(*stamp))) == NULL)
		goto err;

	for (size_t i = 0; i < n; i++) {
		struct cki_chain_pos *p = &ch->pos[i];
		X509 *x = x509_of(certs, i);
		unsigned int mdlen = 0;

		p->issuer = -1;
		p->dup_of = -1;
		if (!X509_digest(x, EVP_sha256(), p->sha256, &mdlen) ||
		    mdlen != 32) {
			rv = cki_err(ctx, CK_E_INTERNAL,
			    "%s: cannot compute the "
			    "SHA-256 fingerprint (%s)",
			    origins ? origins[i] : "certificate",
			    cki_ossl_reason());
			goto err;
		}
		memcpy(dg[i].md, p->sha256, 32);
		dg[i].pos = i;
		p->self_signed = X509_self_signed(x, 1) == 1;
		p->is_ca = X509_check_ca(x) != 0;
		p->role = !p->is_ca  ? CKI_ROLE_LEAF
		    : p->self_signed ? CKI_ROLE_ROOT
		                     : CKI_ROLE_INTERMEDIATE;
	}
	/* Exact duplicates: same DER, hence same SHA-256. */
	qsort(dg, n, sizeof(*dg), cmp_digest);
	for (size_t k = 1; k < n; k++)
		if (memcmp(dg[k].md, dg[k - 1].md, 32) == 0)
			ch->pos[dg[k].pos].dup_of =
			    ch->pos[dg[k - 1].pos].dup_of >= 0
			    ? ch->pos[dg[k - 1].pos].dup_of
			    : (long)dg[k - 1].pos;

	for (size_t i = 0; i < n; i++) {
		if (ch->pos[i].dup_of >= 0)
			continue;
		names[nnames].name = X509_get_subject_name(x509_of(certs, i));
		names[nnames++].pos = i;
	}
	qsort(names, nnames, sizeof(*names), cmp_name);

	for (size_t i = 0; i < n; i++) {
		struct cki_chain_pos *p = &ch->pos[i];
		long preferred = i + 1 < n ? (long)orig(ch, i + 1) : -1;

		/* A self-signed certificate is the top of its chain (RFC 5280
		 * 6.1: a path ends at a trust anchor). */
		if (p->dup_of >= 0 || p->self_signed)
			continue;
		p->issuer = find_issuer(certs, names, nnames, i, preferred);
		if (p->issuer >= 0)
			ch->pos[p->issuer].has_child = true;
	}
	for (size_t i = 0; i < n; i++) {
		struct cki_chain_pos *p = &ch->pos[i];
		const struct cki_chain_pos *o = &ch->pos[orig(ch, i)];

		if (p->dup_of >= 0) {
			p->issuer = o->issuer;
			p->has_child = o->has_child;
		}
		p->issued_by_next = i + 1 < n && p->issuer >= 0 &&
		    (size_t)p->issuer == orig(ch, i + 1);
	}
	if (build_order(ch, stamp) != CK_OK ||
	    find_all(ch, certs, origins) != CK_OK)
		goto err;
	*out = ch;
	ch = NULL;
	rv = CK_OK;
err:
	if (rv == CK_E_NOMEM)
		cki_err(ctx, CK_E_NOMEM, "out of memory");
	cki_chain_free(ch);
	free(dg);
	free(names);
	free(stamp);
	return rv;
}

ck_status
cki_chain_analyze_bundle(
    ck_ctx *ctx, const ck_bundle *b, struct cki_chain **out)
{
	const struct cki_list *l = &b->list[CK_OBJ_CERT];

	return cki_chain_analyze(
	    ctx, (ck_cert *const *)l->obj, l->origin, l->n, out);
}

json_t *
cki_chain_json(const struct cki_chain *ch)
{
	json_t *o = json_object(), *links = json_array(), *order = json_array(),
	       *chains = json_array();
	int bad = o == NULL || links == NULL || order == NULL || chains == NULL;

	for (size_t i = 0; !bad && i < ch->n; i++) {
		const struct cki_chain_pos *p = &ch->pos[i];
		json_t *l = json_object();

		bad = l == NULL ||
		    json_object_set_new(
		        l, "index", json_integer((json_int_t)i + 1)) ||
		    json_object_set_new(
		        l, "role", json_string(cki_role_name(p->role))) ||
		    json_object_set_new(
		        l, "issued_by_next", json_boolean(p->issued_by_next)) ||
		    json_object_set_new(l, "issuer",
		        p->issuer >= 0 ? json_integer(p->issuer + 1)
		                       : json_null()) ||
		    json_object_set_new(
		        l, "self_signed", json_boolean(p->self_signed)) ||
		    json_object_set_new(l, "duplicate_of",
		        p->dup_of >= 0 ? json_integer(p->dup_of + 1)
		                       : json_null());
		if (bad)
			json_decref(l);
		else
			bad = json_array_append_new(links, l);
	}
	for (size_t k = 0; !bad && k < ch->norder; k++)
		bad = json_array_append_new(
		    order, json_integer((json_int_t)ch->order[k] + 1));
	for (size_t c = 0; !bad && c < ch->npaths; c++) {
		json_t *path = json_array();

		bad = path == NULL;
		for (size_t k = ch->path_start[c];
		     !bad && k < ch->path_start[c + 1]; k++)
			bad = json_array_append_new(
			    path, json_integer((json_int_t)ch->paths[k] + 1));
		if (bad)
			json_decref(path);
		else
			bad = json_array_append_new(chains, path);
	}
	if (bad || json_object_set_new(o, "links", links)) {
		links = NULL;
		goto fail;
	}
	links = NULL;
	if (json_object_set_new(o, "order", order)) {
		order = NULL;
		goto fail;
	}
	order = NULL;
	if (json_object_set_new(o, "chains", chains)) {
		chains = NULL;
		goto fail;
	}
	return o;
fail:
	json_decref(links);
	json_decref(order);
	json_decref(chains);
	json_decref(o);
	return NULL;
}

/* The same document as cki_chain_json, as the compact text json_dumps
 * (JSON_COMPACT | JSON_PRESERVE_ORDER) gives, written directly: a jansson
 * object per certificate costs more than a kilobyte, and the report of a
 * large bundle must not hold one for each. */
char *
cki_chain_json_text(const struct cki_chain *ch)
{
	struct cki_sb sb = CKI_SB_INIT(CKI_SB_REPORT_MAX);

	cki_sb_printf(&sb, "{\"links\":[");
	for (size_t i = 0; i < ch->n && !sb.failed; i++) {
		const struct cki_chain_pos *p = &ch->pos[i];
		char issuer[24] = "null", dup[24] = "null";

		if (p->issuer >= 0)
			snprintf(issuer, sizeof(issuer), "%ld", p->issuer + 1);
		if (p->dup_of >= 0)
			snprintf(dup, sizeof(dup), "%ld", p->dup_of + 1);
		cki_sb_printf(&sb,
		    "%s{\"index\":%zu,\"role\":\"%s\",\"issued_by_next\":%s,"
		    "\"issuer\":%s,\"self_signed\":%s,\"duplicate_of\":%s}",
		    i > 0 ? "," : "", i + 1, cki_role_name(p->role),
		    p->issued_by_next ? "true" : "false", issuer,
		    p->self_signed ? "true" : "false", dup);
	}
	cki_sb_printf(&sb, "],\"order\":[");
	for (size_t k = 0; k < ch->norder && !sb.failed; k++)
		cki_sb_printf(&sb, "%s%zu", k > 0 ? "," : "", ch->order[k] + 1);
	cki_sb_printf(&sb, "],\"chains\":[");
	for (size_t c = 0; c < ch->npaths && !sb.failed; c++) {
		cki_sb_printf(&sb, "%s[", c > 0 ? "," : "");
		for (size_t k = ch->path_start[c]; k < ch->path_start[c + 1];
		     k++)
			cki_sb_printf(&sb, "%s%zu",
			    k > ch->path_start[c] ? "," : "", ch->paths[k] + 1);
		cki_sb_printf(&sb, "]");
	}
	cki_sb_printf(&sb, "]}");
	return cki_sb_take(&sb);
}

/* ---- ck_bundle_normalize ------------------------------------------------- */

ck_status
ck_bundle_normalize(ck_ctx *ctx, ck_bundle *b)
{
	struct cki_list *l;
	struct cki_chain *ch = NULL;
	void **obj = NULL;
	char **origin = NULL;
	ck_status rv;

	cki_begin(ctx);
	if (b == NULL)
		return cki_err(
		    ctx, CK_E_USAGE, "ck_bundle_normalize: no bundle");
	l = &b->list[CK_OBJ_CERT];
	if (l->n < 2)
		return CK_OK;
	if ((rv = cki_chain_analyze_bundle(ctx, b, &ch)) != CK_OK)
		goto err;
	/* Everything that can fail is done before the bundle changes. */
	if ((obj = malloc(l->cap * sizeof(*obj))) == NULL ||
	    (origin = malloc(l->cap * sizeof(*origin))) == NULL) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	for (size_t k = 0; k < ch->norder; k++) {
		obj[k] = l->obj[ch->order[k]];
		origin[k] = l->origin[ch->order[k]];
	}
	for (size_t i = 0; i < l->n; i++) {
		if (ch->pos[i].dup_of < 0)
			continue;
		cki_obj_free(CK_OBJ_CERT, l->obj[i]);
		free(l->origin[i]);
	}
	free(l->obj);
	free(l->origin);
	l->obj = obj;
	l->origin = origin;
	l->n = ch->norder;
	obj = NULL;
	origin = NULL;
	rv = CK_OK;
err:
	free(obj);
	free(origin);
	cki_chain_free(ch);
	return rv;
}
