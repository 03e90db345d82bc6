/*
 * config_int.h: $CERTKIT_HOME/certkit.conf, the one INI file every module
 * reads.
 *
 * The file is parsed once into a list of (section, key, value, line)
 * entries. Each module owns its section and reads it through a typed getter
 * (cki_config_identity() for [identity]) that validates every key and names
 * FILE:LINE, what was expected and what was found on any error. A new module
 * adds its own getter; the generic accessors below are shared.
 *
 * Invariants:
 *  1. A missing file is an empty configuration, not an error: every key has
 *     a documented default.
 *  2. A key given twice in the same section is an error: which one wins
 *     would be a guess.
 *  3. A section's getter rejects keys it does not know (a typo such as
 *     "renew_befor" must not be silently ignored).
 *  4. Values may be wrapped in double quotes, which are removed. Inline
 *     comments start with " ;" (inih's rule: whitespace, then ';').
 */
#ifndef CERTKIT_CONFIG_INT_H
#define CERTKIT_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "ck_internal.h"

typedef struct cki_config cki_config;

/* Reads HOME/certkit.conf (absent: empty). */
ck_status cki_config_load(ck_ctx *ctx, const char *home, cki_config **out);
/* Reads one INI file (absent: empty). */
ck_status cki_config_load_file(ck_ctx *ctx, const char *path, cki_config **out);
/* Parses INI text; `name` is used in messages. */
ck_status cki_config_load_mem(ck_ctx *ctx, const char *name, const char *text,
    size_t len, cki_config **out);
/* The same; a line that is not INI sets *bad_line (if not NULL) to its
 * number, for a reader that words that error its own way. */
ck_status cki_config_load_mem_at(ck_ctx *ctx, const char *name,
    const char *text, size_t len, cki_config **out, int *bad_line);
void cki_config_free(cki_config *cfg);

/* The file name used in messages. */
const char *cki_config_name(const cki_config *cfg);
/* The value of [section] key, or NULL. *line (may be NULL) gets its line. */
const char *cki_config_get(
    const cki_config *cfg, const char *section, const char *key, int *line);
/* Fails on a key of `section` not in `known` (NULL-terminated) or on a key
 * given twice. */
ck_status cki_config_check_section(ck_ctx *ctx, const cki_config *cfg,
    const char *section, const char *const *known);

/* Typed getters. Each leaves *out untouched when the key is absent. */
ck_status cki_config_long(ck_ctx *ctx, const cki_config *cfg,
    const char *section, const char *key, long min, long max, long *out);
ck_status cki_config_bool(ck_ctx *ctx, const cki_config *cfg,
    const char *section, const char *key, bool *out);
/* A comma-separated list; empty items are dropped, items trimmed. */
ck_status cki_config_list(ck_ctx *ctx, const cki_config *cfg,
    const char *section, const char *key, char ***items, size_t *n);
/* The items of `key` (case-insensitive) in every section, repeated and
 * continued values included, added to l (equal items once). A doctor
 * profile's required_roots, read by the trust audit, is one. */
struct cki_strlist;
ck_status cki_config_list_all(
    ck_ctx *ctx, const cki_config *cfg, const char *key, struct cki_strlist *l);
/* A string (copied; caller frees). */
ck_status cki_config_string(ck_ctx *ctx, const cki_config *cfg,
    const char *section, const char *key, char **out);

/* A growable list of strings (names, addresses). */
struct cki_strlist {
	char **v;
	size_t n, cap;
};
/* Appends a copy unless an equal (case-insensitive) string is present. */
ck_status cki_strlist_add(struct cki_strlist *l, const char *s);
bool cki_strlist_has(const struct cki_strlist *l, const char *s);
void cki_strlist_clear(struct cki_strlist *l);
void cki_strv_free(char **v, size_t n);

/* ---- [identity] --------------------------------------------------------- */
enum cki_keytype {
	CKI_KEY_EC_P256 = 0,
	CKI_KEY_RSA_2048 = 1,
	CKI_KEY_RSA_3072 = 2,
};
/* "ec-p256", ... ; -1 if unknown. */
int cki_keytype_parse(const char *s);
const char *cki_keytype_name(int kt);

#define CKI_ID_DEFAULT_DAYS 397
#define CKI_ID_DEFAULT_KEEP 10
#define CKI_ID_DEFAULT_ON_CHANGE_TIMEOUT 60
#define CKI_ID_DEFAULT_P12_PASSWORD "changeit"

struct cki_identity_conf {
	struct cki_strlist names; /* names = a, b */
	struct cki_strlist ips;   /* ips = 192.0.2.1, 2001:db8::1 */
	int key;                  /* key = ec-p256 | rsa-2048 | rsa-3072 */
	long days;                /* days = 397 */
	long renew_before;        /* renew_before = DAYS; -1: a third */
	char *on_change;          /* on_change = shell command */
	long on_change_timeout;   /* on_change_timeout = 60 (seconds) */
	long keep_backups;        /* keep_backups = 10 */
	char *p12_password_file;  /* p12_password_file = /path */
	bool detect_names;        /* detect_names = yes */
	bool detect_ips;          /* detect_ips = yes */
};

/* Fills `out` with the defaults, then the [identity] section. */
ck_status cki_config_identity(
    ck_ctx *ctx, const cki_config *cfg, struct cki_identity_conf *out);
void cki_identity_conf_free(struct cki_identity_conf *c);

#endif /* CERTKIT_CONFIG_INT_H */
