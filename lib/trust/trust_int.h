/*
 * trust_int.h: what the trust module's files (trust.c, trust_build.c,
 * trust_export.c, trust_journal.c, trust_audit.c) share. The layout and
 * on-disk formats are described in trust.c; the X.509 accessors they use
 * are core's (lib/core/x509.c, ck_internal.h).
 */
#ifndef CERTKIT_TRUST_INT_H
#define CERTKIT_TRUST_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "certkit/trust.h"

#define CKI_TRUST_DEFAULT_SYSTEM "/etc/ssl/certs/ca-certificates.crt"
#define CKI_TRUST_DEFAULT_P12PW "changeit"
#define CKI_TRUST_MAX_ALIAS 64

struct ck_trust {
	ck_ctx *ctx;
	char *dir;      /* HOME/trust */
	char *anchors;  /* HOME/trust/anchors */
	char *distrust; /* HOME/trust/distrust */
	char *gens;     /* HOME/trust/generations */
	char *out;      /* HOME/trust/out (a symlink to a generation) */
	char *bundle;   /* HOME/trust/out/ca-bundle.pem */
	char *certs;    /* HOME/trust/out/certs */
	char *p12;      /* HOME/trust/out/truststore.p12 */
	char *pwfile;   /* HOME/trust/truststore.password */
	char *system;   /* explicit system bundle, or NULL */
	int lock_timeout_ms;
	int lock_fd;    /* -1 when not held */
	bool recovered; /* this handle rolled back a killed change */
};

/* One custom anchor: anchors/ALIAS.pem. */
struct cki_anchor {
	char *alias;
	char *path;
	X509 *x;
	char fp[65], spki[65];
};

/* One distrust entry: distrust/sha256-HEX or distrust/spki-HEX. */
struct cki_distrust {
	enum cki_pin kind;
	char hex[65];
	char *path;
	char *reason;  /* may be NULL */
	char *date;    /* may be NULL */
	char *subject; /* may be NULL: the subject when it was distrusted */
};

/* Sources of an effective certificate (a bit set). */
#define CKI_SRC_SYSTEM 0x1
#define CKI_SRC_CUSTOM 0x2

/* One certificate of a layer, with what the layers say about it. */
struct cki_tcert {
	X509 *x; /* borrowed from the state */
	char fp[65], spki[65];
	unsigned int src;
	const char *alias;                     /* custom anchors only */
	const struct cki_distrust *distrusted; /* NULL unless distrusted */
};

/* Everything the inputs say, read once under the lock. */
struct cki_tstate {
	char *system_path;
	bool system_missing;  /* default path absent: no system layer */
	int64_t system_mtime; /* ns since the epoch, 0 if missing */
	STACK_OF(X509) * system;
	struct cki_anchor *anchors;
	size_t nanchors;
	struct cki_distrust *dist;
	size_t ndist;
	/* every distinct certificate of system + custom, in output order
	 * (system file order, then anchors by alias), distrusted ones included
	 */
	struct cki_tcert *all;
	size_t nall;
	int64_t inputs_mtime; /* newest input change, ns */
};

/* ---- trust.c ------------------------------------------------------------ */
ck_status cki_trust_lock(ck_trust *t, bool exclusive);
void cki_trust_unlock(ck_trust *t);
ck_status cki_trust_state_load(ck_trust *t, struct cki_tstate **out);
/* Locks the store (shared, or exclusive for a change) and loads its state;
 * on failure nothing stays locked and *s is NULL. */
ck_status cki_trust_lock_load(
    ck_trust *t, bool exclusive, struct cki_tstate **s);
void cki_trust_state_free(struct cki_tstate *s);
/* JSON object describing a certificate at time `now`. */
json_t *cki_trust_cert_json(const struct cki_tcert *c, int64_t now);
/* Returns the report as a string, frees doc. */
ck_status cki_trust_json_out(ck_trust *t, json_t *doc, char **json);
/* Nanosecond mtime of a path (lstat), 0 if absent. */
int64_t cki_mtime_ns(const char *path);

/* ---- trust_build.c ------------------------------------------------------ */
/* Builds the outputs from s (the lock must be held). `report` gets a
 * "rebuild" object when not NULL. */
ck_status cki_trust_build(
    ck_trust *t, const struct cki_tstate *s, json_t *report);
/* The effective certificates of s (not distrusted), in output order. */
STACK_OF(X509) * cki_trust_effective_stack(const struct cki_tstate *s);
/* Reads the truststore password (default "changeit"). Caller wipes. */
ck_status cki_trust_p12_password(ck_trust *t, char **pw);
/* The PEM bundle of s's effective certificates, each after a "# label"
 * line, into bio. */
ck_status cki_trust_make_bundle(
    ck_trust *t, const struct cki_tstate *s, BIO *bio);
/* A PKCS#12 truststore of sk (an empty one when sk is empty). */
ck_status cki_trust_make_p12(ck_trust *t, STACK_OF(X509) * sk,
    const char *password, uint8_t **out, size_t *len);
/* The hashed directory of sk in dir (names as `openssl rehash` makes them);
 * prev, files and nlinked may be NULL (see trust_build.c). */
ck_status cki_trust_write_hashed_dir(ck_ctx *ctx, STACK_OF(X509) * sk,
    const char *dir, const char *prev, json_t *files, int *nlinked);

/* ---- trust_journal.c ---------------------------------------------------- */
/* The journal of one change being built in memory (see trust_journal.c). */
struct cki_tjournal {
	char *text;
	size_t len, cap;
};
void cki_tj_init(struct cki_tjournal *j);
void cki_tj_free(struct cki_tjournal *j);
/* Records that the change creates ('+') or takes out ('-') DIR/NAME, DIR
 * being "anchors" or "distrust". */
ck_status cki_tj_add(ck_trust *t, struct cki_tjournal *j, char op,
    const char *dir, const char *name);
/* Writes the journal; no input may change before this returns CK_OK. */
ck_status cki_tj_begin(ck_trust *t, const struct cki_tjournal *j);
/* Takes DIR/NAME out (a '-' line) by renaming it to DIR/.NAME.removed. */
ck_status cki_tj_set_aside(ck_trust *t, const char *dir, const char *name);
/* After the rebuild: deletes the journal (the commit point), then the
 * set-aside files. */
ck_status cki_tj_commit(ck_trust *t, struct cki_tjournal *j);
/* Puts the inputs back as the journal on disk says, if there is one
 * (*found); the journal stays until cki_tj_forget. */
ck_status cki_tj_undo(ck_trust *t, bool *found);
/* Finishes a committed change (.journal.done) a killed process left. */
ck_status cki_tj_finish(ck_trust *t, bool *found);
ck_status cki_tj_forget(ck_trust *t);
/* Test hook: CERTKIT_TRUST_CRASH_AT=step makes the process _exit(9). */
void cki_tj_crash_point(const char *step);
/* Finishes a committed change, or rolls back an unfinished one, that a
 * killed process left (trust.c): undo, rebuild, forget. Needs the
 * exclusive lock. */
ck_status cki_trust_recover(ck_trust *t);

/* ---- trust.c: one distrust entry, for fuzz/fuzz_distrust.c ------------- */
/* Parses an entry as load_distrust does: its file name (format B) into
 * kind and hex, and the reason, date and subject lines of its text (len
 * bytes, need not end in NUL). Returns false if the name is not an entry;
 * otherwise the caller clears *e with cki_distrust_entry_clear(). */
bool cki_distrust_entry_parse(
    const char *name, const char *text, size_t len, struct cki_distrust *e);
void cki_distrust_entry_clear(struct cki_distrust *e);

#endif /* CERTKIT_TRUST_INT_H */
