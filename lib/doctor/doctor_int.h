/*
 * doctor_int.h: what the connection doctor's files share.
 *
 *   doctor.c          the public API (ck_doctor_*), loading the stores, the
 *                     run and the report
 *   doctor_parse.c    --resolve, pins, HTTP responses and dates, the
 *                     endpoint list (pure); host:port, --dns, proxy URLs and
 *                     NO_PROXY are net's (lib/net/net_int.h)
 *   doctor_profile.c  the INI profile
 *   doctor_diag.c     turning what a probe observed into diagnosis codes
 *                     (pure: no I/O, testable with synthetic observations)
 *   probe.c           the libevent state machine that observes an endpoint
 *
 * The split is the design: probe.c only records facts (DNS answers, errno,
 * alerts, the bytes a peer sent, the presented chain, HTTP status), and
 * doctor_diag.c alone decides what they mean. A fact that needs more I/O to
 * be explained (an AIA fetch, a handshake without SNI, one HTTP exchange)
 * is asked for through struct cki_need; the probe does it and asks again.
 */
#ifndef CERTKIT_DOCTOR_INT_H
#define CERTKIT_DOCTOR_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ck_internal.h"
#include "certkit/doctor.h"
#include "net_int.h"

#define CKI_DOC_DEFAULT_TIMEOUT_MS 5000
#define CKI_DOC_DEFAULT_PARALLEL 32
#define CKI_DOC_MAX_PARALLEL 1024
#define CKI_DOC_MAX_ENDPOINTS 100000
#define CKI_DOC_MAX_ADDRS 8
#define CKI_DOC_MAX_HOST CKI_NET_MAX_HOST
/* Warn when a certificate of the chain expires within this many days. */
#define CKI_DOC_EXPIRY_WARN_DAYS 30
/* HTTP Date farther than this from the local clock is a skewed clock. */
#define CKI_DOC_SKEW_TOLERANCE_S 600
/* The most AIA fetches one endpoint may make (RFC 5280 4.2.2.1). */
#define CKI_DOC_MAX_AIA 3
/* Largest AIA response and HTTP header block read. */
#define CKI_DOC_MAX_AIA_BODY (64 * 1024)
#define CKI_DOC_MAX_HTTP_HEAD 8192
/* Largest HTTP body kept after the head: only a JSON answer to a refused
 * or pending client (202, 401, 403) is read, within the same buffer. */
#define CKI_DOC_MAX_HTTP_BODY 4096

enum cki_expect {
	CKI_EXPECT_UNKNOWN = 0,
	CKI_EXPECT_PUBLIC = 1,
	CKI_EXPECT_PRIVATE = 2,
};

/* One endpoint to test, from the command line or a profile section. */
struct cki_endpoint {
	char *name;   /* profile section, or NULL */
	char *origin; /* "FILE:LINE" or "command line" */
	char host[CKI_DOC_MAX_HOST];
	uint16_t port;
	bool is_ip;
	int expect; /* enum cki_expect */
	unsigned char (*pins)[32];
	size_t npins;
	char *client_cert, *client_key;
	char **required_roots;
	size_t nrequired;
	char *proxy;  /* profile "proxy =": NULL default, "" none */
	char **addrs; /* profile "address =" or --resolve: skip DNS */
	size_t naddrs;
	bool cli;         /* from the command line (--public applies) */
	bool policy_set;  /* profile "policy =": this endpoint's policy, */
	ck_policy policy; /* else the run's (cki_diag_env) */
};

/* ---- doctor_parse.c ---------------------------------------------------- */
void cki_endpoint_clear(struct cki_endpoint *e);
/* Appends *e to the list (at most CKI_DOC_MAX_ENDPOINTS), moving it: *e is
 * left empty. */
ck_status cki_doc_push_endpoint(ck_ctx *ctx, struct cki_endpoint **eps,
    size_t *n, size_t *cap, struct cki_endpoint *e);
/* curl's --resolve: "HOST:PORT:ADDR[,ADDR...]". Fills hp and addrs. */
bool cki_doc_parse_resolve(const char *spec, struct cki_hostport *hp,
    char ***addrs, size_t *naddrs, char *err, size_t errlen);
/* A SPKI SHA-256 pin: 64 hex digits (colons allowed) or base64 of 32 bytes,
 * optionally prefixed "sha256/" or "pin-sha256:". */
bool cki_doc_parse_pin(const char *s, unsigned char out[32]);
/* RFC 9110 5.6.7 IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and the
 * obsolete RFC 850 and asctime forms. */
bool cki_doc_parse_http_date(const char *s, int64_t *out);
/*
 * Parses an HTTP/1.x response head (status line and headers, up to the blank
 * line). Returns 1 when complete, 0 when more bytes are needed, -1 when the
 * bytes are not HTTP. Header values are copied into the optional outputs.
 */
struct cki_http_head {
	int status;
	char reason[64];
	char date[64];
	char proxy_auth[128]; /* Proxy-Authenticate */
	char location[256];
	char content_type[96];
	char retry_after[32];
	long long content_length; /* -1: none (or not a number) */
	bool chunked;             /* Transfer-Encoding: chunked */
	size_t head_len;          /* bytes up to and including the blank line */
};
/* True when the head announces a JSON body worth reading: a 202, 401 or
 * 403 with Content-Type application/json or application/problem+json
 * (RFC 9457), not chunked. */
bool cki_doc_http_wants_body(const struct cki_http_head *h);
int cki_doc_parse_http_head(
    const char *buf, size_t len, struct cki_http_head *h);

/* ---- doctor_profile.c -------------------------------------------------- */
/* Appends the profile's endpoints. Relative certificate paths are taken
 * relative to the profile's directory. */
ck_status cki_doc_load_profile(ck_ctx *ctx, const char *path,
    struct cki_endpoint **eps, size_t *n, size_t *cap);
ck_status cki_doc_load_profile_mem(ck_ctx *ctx, const char *name,
    const char *text, size_t len, struct cki_endpoint **eps, size_t *n,
    size_t *cap);

/* ---- what a probe observed (filled by probe.c, read by doctor_diag.c) -- */
enum cki_stage {
	CKI_ST_NONE = 0,
	CKI_ST_DNS,
	CKI_ST_TCP,
	CKI_ST_PROXY,
	CKI_ST_TLS,
	CKI_ST_APP,
	CKI_ST_EXTRA,
	CKI_ST_COUNT
};
extern const char *const cki_stage_names[CKI_ST_COUNT];

/* One TLS connection attempt. */
struct cki_hs {
	bool attempted;
	bool done;        /* handshake completed */
	int failed_stage; /* enum cki_stage where it stopped, or NONE */
	bool timed_out;
	int err_no;              /* errno of the failing call, 0 if none */
	bool reset, eof;         /* ECONNRESET/EPIPE; orderly close */
	char ssl_reason[128];    /* OpenSSL's reason string, "" if none */
	int ssl_reason_code;     /* ERR_GET_REASON, 0 if none */
	size_t bytes_in;         /* raw bytes the server sent */
	unsigned char first[64]; /* and the first of them */
	size_t nfirst;
	bool hello_sent;       /* our ClientHello went out */
	long long hello_acked; /* bytes the peer's TCP acknowledged when the
	                          connection was reset (TCP_INFO); -1 unknown */
	bool server_hello;     /* RFC 8446 4.1.3 */
	bool cert_request;     /* RFC 8446 4.3.2 / RFC 5246 7.4.4 */
	bool cert_sent;        /* we sent a non-empty Certificate */
	int alert_in;          /* description of an alert received, -1 */
	int alert_in_level;
	bool alert_after_hs; /* ...after the handshake completed */
	int alert_out;       /* alert we sent, -1 */
	char version[16], cipher[64], alpn[32];
	STACK_OF(X509) * chain; /* presented, leaf first (owned) */
	unsigned char *ocsp;    /* stapled response (RFC 6066 8), owned */
	size_t ocsp_len;
	/* the one application-data exchange */
	bool app_tried;
	int http_status; /* 0: none */
	char http_reason[64];
	int64_t http_date;         /* 0: none */
	bool h2;                   /* ALPN h2: no HTTP/1.1 exchange was made */
	char http_ctype[96];       /* Content-Type, "" if none */
	char http_retry_after[32]; /* Retry-After, "" if none */
	char *http_body; /* a JSON body (see CKI_DOC_MAX_HTTP_BODY), owned */
	size_t http_body_len;
};

struct cki_aia {
	char url[512];
	char result[160]; /* "ok: 1 certificate", "HTTP 404", ... */
	bool ok;
};

struct cki_obs {
	/* DNS */
	bool dns_used;          /* a query was sent */
	const char *dns_server; /* "system resolver" or "ADDR:PORT" */
	const char *dns_name;   /* the name asked */
	int dns_rcode;          /* DNS_ERR_* or -1 when not asked */
	bool dns_timeout;
	char dns_answers[CKI_DOC_MAX_ADDRS][64];
	size_t ndns;
	bool dns_for_proxy; /* the name was the proxy's */
	/* TCP */
	char address[64]; /* "ADDR:PORT" connected to (or tried) */
	bool via_proxy;
	const struct cki_proxy *proxy;
	int proxy_status;      /* CONNECT reply status, 0 if none */
	char proxy_line[128];  /* its status line */
	char proxy_authn[128]; /* Proxy-Authenticate */
	bool proxy_garbage;    /* reply was not HTTP */
	/* TLS passes */
	struct cki_hs main;
	struct cki_hs nosni;  /* only when the name check failed */
	struct cki_hs legacy; /* only after a version/cipher mismatch */
	struct cki_hs quiet;  /* only after an ambiguous reset: connect and
	                         send nothing; does the peer still reset? */
	/* evidence fetched */
	STACK_OF(X509) * fetched; /* via AIA (owned) */
	struct cki_aia aia[CKI_DOC_MAX_AIA];
	size_t naia;
	/* timings (ms) per stage, -1 when the stage did not run */
	int64_t ms[CKI_ST_COUNT];
	bool have_client_cert; /* an identity was configured */
};

void cki_obs_init(struct cki_obs *o);
void cki_obs_clear(struct cki_obs *o);
void cki_hs_clear(struct cki_hs *h);

/* What the diagnosis needs before it can conclude. */
struct cki_need {
	bool app;          /* one HTTP exchange on the open connection */
	bool nosni;        /* a handshake without SNI */
	bool legacy;       /* a handshake allowing TLS 1.0+ and any cipher */
	bool quiet;        /* a connection that sends nothing */
	char aia_url[512]; /* fetch this caIssuers URL ("": none) */
};

/* The context of a diagnosis: the stores and the clock. */
struct cki_diag_env {
	X509_STORE *trust;            /* the device's store */
	STACK_OF(X509) * trust_certs; /* its certificates */
	const char *trust_source;     /* words, for the report */
	STACK_OF(X509) * ref;         /* reference roots (explain only);
	                                 NULL: the embedded set, parsed on
	                                 first use (ref_roots) */
	const char *ref_source;
	int64_t now;        /* the clock used (--at or real) */
	bool at_given;      /* --at was given */
	int64_t build_time; /* when certkit was built */
	int timeout_ms;
	ck_policy policy;    /* --policy: the endpoints' default */
	bool https_optional; /* plain HTTP is plain_http, a warning */
};

/*
 * Diagnoses one endpoint. Returns the endpoint's report object (with
 * "status", "diagnosis", "chain", "tls", ...), or NULL with *need set when
 * more evidence must be gathered first. Never returns NULL without a need,
 * except on allocation failure (then *nomem is set).
 */
json_t *cki_doc_diagnose(const struct cki_diag_env *env,
    const struct cki_endpoint *ep, struct cki_obs *obs, struct cki_need *need,
    bool *nomem);

/*
 * Cross-endpoint signals, after every endpoint is done: when several
 * endpoints all present certificates not yet valid (or all expired), the
 * clock is what is wrong (clock_skew). Rewrites the reports in place.
 */
void cki_doc_cross_check(const struct cki_diag_env *env, json_t *endpoints);

/* Known SSL-inspection products: the vendor a name matches, or NULL. */
const char *cki_doc_inspection_vendor(const char *name);
/* A factory/default certificate name ("localhost", ...). */
bool cki_doc_default_name(const char *name);
/* The build time of certkit, from __DATE__ and __TIME__. */
int64_t cki_doc_build_time(void);
/* The alert's name (RFC 8446 6): "certificate_required", ... */
const char *cki_doc_alert_name(int desc);

/* ---- probe.c ----------------------------------------------------------- */
struct cki_doc_run;

struct cki_doc_cfg {
	ck_ctx *ctx;
	const struct cki_endpoint *eps;
	size_t nep;
	const struct cki_diag_env *env;
	const struct cki_proxy *proxy; /* for endpoints without their own */
	const char *no_proxy;          /* applies to an env proxy only */
	bool proxy_from_env;
	const struct sockaddr_storage *dns; /* NULL: the system resolver */
	socklen_t dns_len;
	const char *dns_display;
	int timeout_ms;
	int parallel;
	SSL_CTX *ssl; /* shared, no client identity */
	ck_doctor_progress_cb progress;
	void *progress_arg;
	/* per-endpoint client identity: index -> SSL_CTX (borrowed) */
	SSL_CTX **ep_ssl;
};

/* What the run keeps of a finished endpoint besides its serialized report:
 * enough for the summary and the cross-endpoint checks, so the reports
 * themselves need not stay in memory as JSON trees. */
struct cki_doc_meta {
	char code[32]; /* the primary diagnosis */
	char status[16];
	bool has_chain;
};
/* The primary code, status and chain presence of an endpoint report. */
void cki_doc_meta_of(json_t *report, struct cki_doc_meta *m);
/* True when cki_doc_cross_check() would change something. */
bool cki_doc_cross_needed(const struct cki_doc_meta *m, size_t n);

/* parallel, lowered to what the descriptor limit (RLIMIT_NOFILE) leaves
 * room for; at least 1. */
int cki_doc_fd_parallel(int parallel);
/* Runs every endpoint; results[i] receives endpoint i's report, compact
 * JSON text (free()), and meta[i] its summary. */
ck_status cki_doc_probe_all(
    const struct cki_doc_cfg *cfg, char **results, struct cki_doc_meta *meta);

/* The doctor's client SSL_CTX (RFC 6066 3 SNI is set per connection). */
SSL_CTX *cki_doc_ssl_ctx(ck_ctx *ctx, bool legacy);

#endif /* CERTKIT_DOCTOR_INT_H */
