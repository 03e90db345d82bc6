/*
 * identity_int.h: what lib/identity*.c and lib/identity/selftest.c share.
 *
 * Files:
 *   identity.c        the public API: status, ensure, init, csr, install,
 *                     backups, restore, reset, export
 *   identity_store.c  the on-disk layout and the one path every change takes
 *                     (lock, write version, back up, flip, self-test,
 *                     on_change, roll back, prune)
 *   identity_names.c  the device's names: configured, detected, covered
 *   identity_gen.c    keys, the self-signed default, CSRs, DN parsing
 *   identity_check.c  install validation: chain building and completion,
 *                     findings with severities
 *   identity_exec.c   the on_change command, bounded in time and output
 *   selftest.c        the in-process TLS handshake
 */
#ifndef CERTKIT_IDENTITY_INT_H
#define CERTKIT_IDENTITY_INT_H

#include <stdbool.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "config_int.h"
#include "certkit/identity.h"

#define CKI_PATH 4096

/* Kinds recorded in meta.json. Only the default may be replaced by ensure. */
#define CKI_KIND_DEFAULT "self-signed-default"
#define CKI_KIND_CA "ca-issued"
#define CKI_KIND_SELF "self-signed"

struct ck_identity {
	ck_ctx *ctx;
	char home[CKI_PATH];
	char dir[CKI_PATH]; /* HOME/identity */
	cki_config *cfg;
	struct cki_identity_conf conf;
	bool names_set, ips_set; /* overridden on the command line */
	int replace;             /* init replaces an existing identity */
	int insecure_warnings;   /* install/restore accept warnings */
	ck_policy policy;        /* install/restore: the chain's policy */
	bool client;       /* a client identity (ck_identity_new_client) */
	int lock_fd;       /* -1 when not held */
	json_t *recovered; /* what cki_settle did, or NULL */
};

/* The names the identity must carry: configured (or given), and detected. */
struct cki_names {
	struct cki_strlist dns, ip;         /* everything, first name first */
	struct cki_strlist det_dns, det_ip; /* the detected ones */
	size_t nconf_dns, nconf_ip; /* dns/ip[0..nconf) are configured */
};

/* Everything a version directory holds, in memory. */
struct cki_material {
	EVP_PKEY *key;
	X509 *leaf;
	STACK_OF(X509) * chain; /* intermediates, leaf to root, no root */
	X509 *root;             /* NULL: unknown, or the leaf is self-signed */
	json_t *meta;           /* kind, created, source, names, ... */
};

/* ---- identity_names.c --------------------------------------------------- */
/* Canonical text of an IPv4/IPv6 address; false if it is not one. */
bool cki_ip_canon(const char *in, char *out, size_t size);
/* A DNS name (LDH labels, an optional leading "*."). */
bool cki_dns_valid(const char *s);
/* Configured (or overridden) names plus detected ones. */
ck_status cki_names_collect(ck_identity *id, struct cki_names *out);
void cki_names_free(struct cki_names *n);
/* 1 if the certificate's SAN covers the DNS name / IP address (RFC 6125
 * section 6.4: SAN only, the CN is never consulted). */
bool cki_covers_dns(X509 *x, const char *name);
bool cki_covers_ip(X509 *x, const char *ip);
/* The SAN's DNS names and IP addresses. */
ck_status cki_san_lists(
    X509 *x, struct cki_strlist *dns, struct cki_strlist *ip);
/* {"dns": [...], "ip": [...]} of the names the certificate lacks, with
 * where each comes from; *missing counts them. */
json_t *cki_names_missing(X509 *x, const struct cki_names *n, size_t *missing);

/* ---- identity_gen.c ----------------------------------------------------- */
EVP_PKEY *cki_keygen(ck_ctx *ctx, int keytype);
/* The self-signed default for `names`, valid from now - 1 h for `days`. */
X509 *cki_selfsign(ck_ctx *ctx, EVP_PKEY *key, const struct cki_names *n,
    long days, time_t now);
/* Parses "/C=US/O=x/CN=y" or "C=US, O=x, CN=y". */
X509_NAME *cki_parse_dn(ck_ctx *ctx, const char *text);
X509_REQ *cki_make_csr(
    ck_ctx *ctx, EVP_PKEY *key, const struct cki_names *n, const char *subject);
/* "EC P-256", "RSA 2048". */
void cki_key_desc(EVP_PKEY *k, char *out, size_t size);

/* ---- identity_store.c --------------------------------------------------- */
void cki_material_free(struct cki_material *m);
/* Paths under HOME/identity. */
ck_status cki_id_path(ck_identity *id, char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The id of the version `current` points at ("" if none); false when
 * current exists but is not a symlink into versions/. */
bool cki_current_id(ck_identity *id, char out[256]);
/* Reads a version or backup directory (dir is absolute). */
ck_status cki_material_read(
    ck_identity *id, const char *dir, struct cki_material *m);
/* Reads only cert.pem and meta.json of the current version (the cheap path
 * of ensure and status). */
ck_status cki_current_read_light(ck_identity *id, X509 **leaf, json_t **meta);
ck_status cki_lock(ck_identity *id);
void cki_unlock(ck_identity *id);
/* Removes what a crash left (temporary files and directories, versions
 * nothing points at). Needs the lock. */
void cki_recover(ck_identity *id);
/* Settles a change a killed process left unconfirmed (the .change marker,
 * identity_store.c): rolls it back, records it in id->recovered. One
 * access(2) when there is none. */
ck_status cki_settle(ck_identity *id);
/*
 * The one path of every change: writes m as a new version, backs up the
 * current one, flips, self-tests, runs on_change, rolls back on failure.
 * Fills `report` (version, previous, backup, selftest, on_change,
 * rolled_back, pruned). The self-test checks the names of `names` the
 * certificate covers (all of its SAN when none). Needs the lock. Returns CK_OK
 * when the change stuck or was rolled back (report "rolled_back": true), an
 * error when nothing could be changed (and nothing was).
 */
ck_status cki_commit(ck_identity *id, struct cki_material *m,
    const char *action, const struct cki_names *names, json_t *report);
/* The p12 password: p12_password_file's first line, else the default.
 * Caller wipes and frees. */
ck_status cki_p12_password(ck_identity *id, char **pw);
/* Test hook: CERTKIT_IDENTITY_CRASH_AT=step ends the process with _exit(9)
 * at that step, as a power cut would. */
void cki_crash_point(const char *step);
/* Lists backups as JSON, newest first. */
json_t *cki_backups_json(ck_identity *id);

/* ---- identity_check.c --------------------------------------------------- */
struct cki_idfindings {
	json_t *arr;          /* [{"severity", "code", "message"}] */
	const char *key_from; /* where the key came from, for messages */
	size_t errors, warnings;
};
/*
 * Builds m->chain and m->root (both NULL on entry) for m->leaf from `given`
 * (the certificates supplied with it, any order), completing it from the trust
 * store output, the system store and the embedded reference set; then checks
 * everything install checks. Findings go to f.
 */
ck_status cki_check_material(ck_identity *id, struct cki_material *m,
    STACK_OF(X509) * given, const struct cki_names *n,
    struct cki_idfindings *f);
/* A finding whose severity is the code table's (codes.c, CKI_REPORT_IDENTITY);
 * _lowered gives the warning form of a code the table marks lowerable. */
void cki_finding(struct cki_idfindings *f, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));
void cki_finding_lowered(struct cki_idfindings *f, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "ca-issued", "self-signed" for an installed certificate. */
const char *cki_kind_of(X509 *leaf);

/* ---- identity_exec.c ---------------------------------------------------- */
/* Runs `cmd` with /bin/sh -c, at most timeout_s seconds; fills a JSON
 * object {command, exit, signal, timed_out, output, ok}. */
json_t *cki_run_hook(const char *cmd, long timeout_s, const char *identity_dir,
    const char *action);

/* ---- selftest.c --------------------------------------------------------- */
/*
 * Serves fullchain + key with an SSL_CTX on one end of a socketpair and
 * connects to it with a client that trusts only `anchor` (the root, or the
 * leaf itself for a self-signed identity; partial chains accepted when
 * anchor is not self-signed) and checks every name. Bounded to timeout_ms.
 * Returns CK_OK with *ok set and *result filled ({ok, protocol, cipher,
 * names_checked, error}); an error only when it could not run at all.
 * client: the identity is a TLS client's; the verifier checks the
 * clientAuth purpose instead of serverAuth.
 */
ck_status cki_selftest(ck_ctx *ctx, const char *fullchain_path,
    const char *key_path, X509 *anchor, const struct cki_strlist *dns,
    const struct cki_strlist *ip, int timeout_ms, bool client, bool *ok,
    json_t **result);

#endif /* CERTKIT_IDENTITY_INT_H */
