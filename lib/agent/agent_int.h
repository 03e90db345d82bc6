/*
 * agent_int.h: what lib/agent's files share.
 *
 *   agent.c         the public API, the service loop, heartbeats
 *   agent_conf.c    the [agent] section of certkit.conf
 *   agent_http.c    one blocking HTTPS exchange with the primary (TLS only,
 *                   never plain HTTP), bounded in time and size
 *   agent_enroll.c  key, CSR, EST simpleenroll/simplereenroll, PKCS#7,
 *                   install into the client identity HOME/agent
 *   agent_state.c   HOME/agent/state.json, the doctor's diagnosis, the
 *                   backoff and its jitter, the renewal time
 *
 * The agent may call every module up to ca, never the server
 * (tests/lint/layers.sh).
 */
#ifndef CERTKIT_AGENT_INT_H
#define CERTKIT_AGENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ck_internal.h"
#include "config_int.h"
#include "certkit/agent.h"
#include "net_int.h"

#define CKI_AGENT_DIR "agent"
/* The client identity, under HOME (the identity module's layout). */
#define CKI_AGENT_IDENTITY "agent/identity"
#define CKI_AGENT_PATH 4096
#define CKI_AGENT_DEFAULT_HEARTBEAT 30
#define CKI_AGENT_MAX_BACKOFF 900       /* 15 minutes */
#define CKI_AGENT_REVOKED_BACKOFF 21600 /* 6 hours */
/* The latest renewal time is at least this long before the expiry. */
#define CKI_AGENT_RENEW_MARGIN 3600 /* 1 hour: 4 tries at the backoff cap */
#define CKI_AGENT_TIMEOUT_MS 10000
#define CKI_AGENT_MAX_BODY (256 * 1024)

enum cki_agent_trust {
	CKI_AGENT_TRUST_SYSTEM = 0,
	CKI_AGENT_TRUST_CERTKIT,
	CKI_AGENT_TRUST_CA,
	CKI_AGENT_TRUST_PIN,
};

struct cki_agent_conf {
	char *primary; /* "host:port" as configured, NULL when absent */
	struct cki_hostport hp;
	int trust;        /* enum cki_agent_trust */
	char *primary_ca; /* trust = CA */
	unsigned char pin[32];
	long heartbeat;      /* seconds */
	bool https_optional; /* https = if-available: downstream devices */
};

struct ck_agent {
	ck_ctx *ctx;
	char home[3000];
	char dir[3072]; /* HOME/agent */
	struct cki_agent_conf conf;
	char *token;
	int failures; /* consecutive failed cycles, for the backoff */
	int timeout_ms;
};

/* ---- agent_conf.c -------------------------------------------------------- */
ck_status cki_agent_conf_load(
    ck_ctx *ctx, const char *home, struct cki_agent_conf *out);
void cki_agent_conf_free(struct cki_agent_conf *c);

/* ---- agent_http.c -------------------------------------------------------- */
struct cki_agent_resp {
	int status;
	long retry_after; /* -1: none */
	char ctype[128];
	char *body; /* NUL-terminated, len bytes */
	size_t len;
};
void cki_agent_resp_clear(struct cki_agent_resp *r);
/*
 * One request to the primary over TLS, verified as configured; with_cert
 * presents the client identity HOME/agent/current. CK_OK when an HTTP
 * answer came (any status); CK_E_IO/CK_E_NETWORK with the ctx's error when
 * the connection or the handshake failed.
 */
ck_status cki_agent_http(ck_agent *a, const char *method, const char *path,
    const char *ctype, const char *body, size_t len, bool with_cert,
    struct cki_agent_resp *r);
/* Parses an HTTP/1.x response (head and body) in buf. */
bool cki_agent_parse_resp(
    const char *buf, size_t len, struct cki_agent_resp *r);

/* ---- agent_enroll.c ------------------------------------------------------ */
/* Outcome of one enrollment request. */
struct cki_enroll_out {
	int status;       /* HTTP status, 0 when no answer came */
	long retry_after; /* pending: seconds */
	char spki[65];    /* of the request's key */
	bool installed;
	bool renew;      /* simplereenroll: the current certificate stays */
	json_t *problem; /* a problem document, or NULL */
	json_t *install; /* the install report, or NULL */
};
void cki_enroll_out_clear(struct cki_enroll_out *o);
ck_status cki_agent_enroll_once(
    ck_agent *a, bool renew, struct cki_enroll_out *o);
/* Parses a base64 certs-only PKCS#7 body into PEM text (leaf first when
 * its key is `key_spki`). */
ck_status cki_agent_p7_certs(ck_ctx *ctx, const char *b64, size_t len,
    const char *key_spki, char **leaf_pem, char **rest_pem);
/* The installed certificate: not_before/not_after and when it is due for
 * renewal (cki_agent_renew_at of its key; renew_at may be NULL), or false
 * if none. */
bool cki_agent_cert_times(
    ck_agent *a, int64_t *nb, int64_t *na, int64_t *renew_at);
/*
 * When a certificate valid from nb to na, of the key whose SPKI SHA-256
 * is spki, is due for renewal: a point in [2/3, 3/4] of the lifetime
 * chosen by the key (the first two bytes of spki, big-endian, as a
 * fraction of 65536 of the window), so devices enrolled in the same hour
 * renew over L/12 (7.5 days of a 90-day certificate) instead of in the
 * same hour, and the same key always gets the same point (restarts and
 * `agent status` agree). The window's end is pulled back to
 * CKI_AGENT_RENEW_MARGIN before na, never before 2/3: a lifetime of 3
 * hours or less renews at exactly 2/3.
 */
int64_t cki_agent_renew_at(int64_t nb, int64_t na, const unsigned char *spki);

/* ---- agent_state.c ------------------------------------------------------- */
/* Reads state.json (NULL when absent or unreadable). */
json_t *cki_agent_state_read(ck_agent *a);
/* Records the state: word, why, and extra fields (taken), keeping "since"
 * when the word does not change. */
ck_status cki_agent_state_write(
    ck_agent *a, const char *state, const char *why, json_t *extra);
/* The doctor's primary diagnosis of the link to the primary, with the
 * agent's own client identity: {"code", "summary", "remedies"}, or NULL. */
json_t *cki_agent_diagnose(ck_agent *a);
/* The backoff after `failures` failed cycles: 2^n seconds capped at
 * CKI_AGENT_MAX_BACKOFF, with +-20% jitter from `rnd` (0..1). */
long cki_agent_backoff(int failures, double rnd);
/* A uniform draw in [0, 1] for the backoff's jitter, from RAND_bytes (the
 * CSPRNG, seeded by OpenSSL: not rand()); 0.5 if it fails. */
double cki_agent_jitter(void);

#endif /* CERTKIT_AGENT_INT_H */
