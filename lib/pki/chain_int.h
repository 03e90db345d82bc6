/*
 * chain_int.h: the chain analysis of a bundle, shared by describe.c (certkit
 * show), ck_bundle_normalize() and, later, identity install and the doctor.
 *
 * cki_chain_analyze() takes certificates in file order and works out, once,
 * who issued whom inside the bundle. Everything else (the normalized order,
 * the findings, the JSON block of `certkit show`) is read off that result.
 *
 * Invariants:
 *  1. Cost is O(n log n) plus at most CKI_CHAIN_MAX_CANDIDATES signature
 *     checks per certificate: candidates are found through a sorted index of
 *     subject names, never by trying every pair.
 *  2. Every walk up the issuer links is bounded (visited marks and
 *     CKI_CHAIN_MAX_DEPTH), so cross-signed pairs and other cycles end.
 *  3. Positions are 0-based in the structures and 1-based in every message
 *     and in JSON, as in origin strings ("block 3").
 *  4. Finding codes are stable; docs/json.md ("show", findings) lists them.
 */
#ifndef CERTKIT_CHAIN_INT_H
#define CERTKIT_CHAIN_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ck_internal.h"
#include "strbuf.h"

/* Certificates with the issuer's subject name tried per certificate. Real
 * bundles have one or two (a cross-signed intermediate); the bound keeps a
 * hostile file of 10,000 identical names linear. */
#define CKI_CHAIN_MAX_CANDIDATES 16
/* Longest chain path reported (OpenSSL's default verify depth is 100). */
#define CKI_CHAIN_MAX_DEPTH 100
/* Certificates named in one finding's message; the JSON lists all. */
#define CKI_FINDING_MAX_NAMED 5

enum cki_role { CKI_ROLE_LEAF = 0, CKI_ROLE_INTERMEDIATE, CKI_ROLE_ROOT };

/* What the analysis knows about the certificate at one position. */
struct cki_chain_pos {
	long issuer;         /* position of its issuer in the bundle, or -1 */
	long dup_of;         /* earlier position with the same SHA-256, or -1 */
	bool issued_by_next; /* position + 1 issued it (names and signature) */
	bool self_signed;    /* names match and its own key verifies it */
	bool is_ca;
	bool has_child; /* another certificate of the bundle is issued by it */
	enum cki_role role;
	unsigned char sha256[32];
};

/* One finding: a stable code, a severity, what is wrong and how to fix it,
 * and the objects (of type `type`) it is about. */
struct cki_finding {
	const char *code;
	enum cki_severity severity;
	char *message;
	char *fix;
	ck_obj_type type;
	size_t *idx; /* 0-based positions in that type's list */
	size_t nidx;
};

struct cki_findings {
	struct cki_finding *f;
	size_t n, cap;
};

struct cki_chain {
	size_t n;                  /* certificates analysed */
	struct cki_chain_pos *pos; /* n entries, file order */
	size_t *order;             /* leaf to root, duplicates dropped */
	size_t norder;
	/* Chains as paths from a certificate nothing in the bundle depends on
	 * up its issuer links: paths[path_start[k] .. path_start[k + 1]). A
	 * shared intermediate appears in every path through it. */
	size_t *paths;
	size_t npaths_items;
	size_t *path_start; /* npaths + 1 entries */
	size_t npaths;
	struct cki_findings findings;
};

/*
 * Analyses certificates in file order. origins (may be NULL) gives the file
 * names used in the fix commands. Returns CK_E_NOMEM or CK_OK.
 */
ck_status cki_chain_analyze(ck_ctx *ctx, ck_cert *const *certs,
    char *const *origins, size_t n, struct cki_chain **out);
/* The same for a bundle's certificates. */
ck_status cki_chain_analyze_bundle(
    ck_ctx *ctx, const ck_bundle *b, struct cki_chain **out);
void cki_chain_free(struct cki_chain *ch);

/* {"links": [...], "order": [...], "chains": [[...]]}; positions 1-based. */
json_t *cki_chain_json(const struct cki_chain *ch);
/* The same as compact JSON text, built without a tree (NULL: no memory). */
char *cki_chain_json_text(const struct cki_chain *ch);

const char *cki_role_name(enum cki_role r);

/* A short label for messages: the CN, else the one-line subject, escaped
 * (cki_esc). Caller frees. Never NULL unless out of memory. */
char *cki_cert_label(const ck_cert *c);
/* `certificate 3 "device.example.test"` / `certificates 3 "a", 5 "b" and 2
 * more`, appended to a growing string (see cki_sb). */
void cki_sb_cert_list(
    struct cki_sb *sb, ck_cert *const *certs, const size_t *idx, size_t nidx);
/* The file names behind origins, shell-quoted, for a fix command ("FILE"
 * when unknown). */
void cki_sb_files(struct cki_sb *sb, char *const *origins, size_t n);

/*
 * Appends a finding of show (its severity from the code table, codes.c);
 * takes ownership of message and fix (malloc'd, may be
 * NULL on allocation failure, which is reported) and copies idx.
 */
ck_status cki_findings_add(struct cki_findings *fs, const char *code,
    char *message, char *fix, ck_obj_type type, const size_t *idx, size_t nidx);
void cki_findings_clear(struct cki_findings *fs);
/* Appends each finding as a JSON object to arr. */
ck_status cki_findings_json(const struct cki_findings *fs, json_t *arr);

#endif /* CERTKIT_CHAIN_INT_H */
