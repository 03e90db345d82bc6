/*
 * agent.c: the public API of the agent (include/certkit/agent.h): one
 * cycle (enroll, renew or heartbeat, whichever is due), the outcome
 * recorded as the state with why, the next cycle's delay (Retry-After
 * while pending, exponential backoff with jitter to 15 minutes while
 * offline, 6 hours once revoked), and the service loop.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "agent_int.h"

ck_status
ck_agent_new(ck_ctx *ctx, const char *home, ck_agent **out)
{
	ck_agent *a;
	ck_status rv;

	cki_begin(ctx);
	*out = NULL;
	if (home == NULL || home[0] == '\0')
		return cki_err(ctx, CK_E_USAGE, "no state directory given");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	a->ctx = ctx;
	a->timeout_ms = CKI_AGENT_TIMEOUT_MS;
	if ((size_t)snprintf(a->home, sizeof(a->home), "%s", home) >=
	        sizeof(a->home) ||
	    (size_t)snprintf(a->dir, sizeof(a->dir), "%s/%s", home,
	        CKI_AGENT_DIR) >= sizeof(a->dir)) {
		free(a);
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", home);
	}
	if ((rv = cki_agent_conf_load(ctx, home, &a->conf)) != CK_OK) {
		free(a);
		return rv;
	}
	*out = a;
	return CK_OK;
}

void
ck_agent_free(ck_agent *a)
{
	if (a == NULL)
		return;
	cki_agent_conf_free(&a->conf);
	if (a->token != NULL)
		OPENSSL_cleanse(a->token, strlen(a->token));
	free(a->token);
	free(a);
}

ck_status
ck_agent_set_token(ck_agent *a, const char *token)
{
	cki_begin(a->ctx);
	for (const char *p = token; *p; p++)
		if (*p <= ' ' || *p > '~')
			return cki_err(a->ctx, CK_E_USAGE,
			    "token: expected printable ASCII without spaces");
	free(a->token);
	if ((a->token = strdup(token)) == NULL)
		return cki_err(a->ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

static ck_status
need_primary(ck_agent *a)
{
	if (a->conf.primary != NULL)
		return CK_OK;
	return cki_err(a->ctx, CK_E_USAGE,
	    "%s/certkit.conf: [agent] primary is not set: expected "
	    "primary = host:port",
	    a->home);
}

/* A refusal that is an admin's decision: the agent stops retrying fast. */
static bool
refused_for_good(const char *type)
{
	return type != NULL &&
	    (strcmp(type, "client_revoked") == 0 ||
	        strcmp(type, "certificate_revoked") == 0 ||
	        strcmp(type, "client_rejected") == 0);
}

/* The connection failed: offline, with the doctor's diagnosis. */
static long
record_offline(ck_agent *a, const char *err)
{
	json_t *diag = cki_agent_diagnose(a), *extra = json_object();
	char why[1024];
	const char *code = json_string_value(json_object_get(diag, "code"));

	a->failures++;
	if (code != NULL && strcmp(code, "ok") != 0)
		snprintf(why, sizeof(why), "offline: %s \xe2\x80\x94 %s", code,
		    json_string_value(json_object_get(diag, "summary")));
	else
		snprintf(why, sizeof(why), "offline: %s", err);
	json_object_set_new(extra, "error", cki_json_str(err));
	if (diag != NULL)
		json_object_set_new(extra, "diagnosis", diag);
	(void)cki_agent_state_write(a, "offline", why, extra);
	return cki_agent_backoff(a->failures, cki_agent_jitter());
}

/* An HTTP answer that is not the expected one. */
static long
record_refusal(ck_agent *a, int status, json_t *problem)
{
	const char *type = json_string_value(json_object_get(problem, "type"));
	const char *detail =
	    json_string_value(json_object_get(problem, "detail"));
	json_t *extra = json_pack("{s:i}", "http_status", status);
	char why[768];

	if (problem != NULL)
		json_object_set(extra, "problem", problem);
	if (status == 403 && refused_for_good(type)) {
		snprintf(why, sizeof(why), "revoked: %s%s%s", type,
		    detail ? " \xe2\x80\x94 " : "", detail ? detail : "");
		a->failures = 0;
		(void)cki_agent_state_write(a, "revoked", why, extra);
		return CKI_AGENT_REVOKED_BACKOFF;
	}
	a->failures++;
	if (status == 404 && type != NULL)
		snprintf(why, sizeof(why),
		    "offline: the primary does not enroll devices (%s: run "
		    "certkit ca init on the primary)",
		    type);
	else
		snprintf(why, sizeof(why),
		    "offline: the primary answered %d%s%s", status,
		    type ? " " : "", type ? type : "");
	(void)cki_agent_state_write(a, "offline", why, extra);
	return cki_agent_backoff(a->failures, cki_agent_jitter());
}

static long
record_pending(ck_agent *a, const char *spki, long retry_after)
{
	char why[256];
	long next = retry_after > 0
	    ? retry_after
	    : cki_agent_backoff(a->failures, cki_agent_jitter());

	if (next > CKI_AGENT_MAX_BACKOFF)
		next = CKI_AGENT_MAX_BACKOFF;
	a->failures = 0;
	snprintf(why, sizeof(why),
	    "Requesting Pairing: the primary's admin must approve SPKI %s "
	    "(certkit clients approve)",
	    spki);
	(void)cki_agent_state_write(a, "requesting_pairing", why,
	    json_pack("{s:s, s:I}", "spki_sha256", spki, "retry_after",
	        (json_int_t)next));
	return next;
}

static bool
pending_signature(json_t *problem)
{
	const char *t = json_string_value(json_object_get(problem, "type"));

	return t != NULL && strcmp(t, "pending_signature") == 0;
}

/* A renewal answered 202 pending_signature (a primary without the CA key
 * queued it for a signer): asked again after Retry-After, when the
 * signed certificate is the answer; the current one stays installed and
 * in use meanwhile. */
static long
record_renew_pending(ck_agent *a, const struct cki_enroll_out *o)
{
	char why[256];
	long next = o->retry_after > 0
	    ? o->retry_after
	    : cki_agent_backoff(a->failures, cki_agent_jitter());

	if (next > CKI_AGENT_MAX_BACKOFF)
		next = CKI_AGENT_MAX_BACKOFF;
	a->failures = 0;
	snprintf(why, sizeof(why),
	    "renewal pending: approved, waiting for a signer of the "
	    "primary's site; asking again in %ld s (the current certificate "
	    "stays in use)",
	    next);
	(void)cki_agent_state_write(a, "online", why,
	    json_pack("{s:s, s:I}", "spki_sha256", o->spki, "retry_after",
	        (json_int_t)next));
	return next;
}

/* Records an enrollment's outcome; returns the delay to the next cycle. */
static long
record_enroll(ck_agent *a, ck_status rv, struct cki_enroll_out *o)
{
	char err[512];

	snprintf(err, sizeof(err), "%s", ck_ctx_error(a->ctx));
	if (o->status == 0 && rv != CK_OK)
		return record_offline(a, err);
	if (o->installed) {
		a->failures = 0;
		(void)cki_agent_state_write(a, "online",
		    "certificate installed from the primary",
		    json_pack("{s:s, s:O*}", "spki_sha256", o->spki, "install",
		        o->install));
		return 0;
	}
	if (o->status == 200) {
		a->failures++;
		snprintf(err, sizeof(err),
		    "offline: the primary's certificate could not be "
		    "installed: %s",
		    ck_ctx_error(a->ctx));
		(void)cki_agent_state_write(a, "offline", err,
		    json_pack("{s:O*}", "install", o->install));
		return cki_agent_backoff(a->failures, cki_agent_jitter());
	}
	if (o->status == 202 && o->renew && pending_signature(o->problem))
		return record_renew_pending(a, o);
	if (o->status == 202)
		return record_pending(a, o->spki, o->retry_after);
	return record_refusal(a, o->status, o->problem);
}

static json_t *
facts(ck_agent *a)
{
	struct utsname u;
	char host[256] = "";
	int64_t nb, na;
	json_t *f = json_object();

	if (gethostname(host, sizeof(host) - 1) == 0)
		json_object_set_new(f, "hostname", cki_json_str(host));
	if (uname(&u) == 0) {
		json_object_set_new(f, "os", cki_json_str(u.sysname));
		json_object_set_new(f, "os_release", cki_json_str(u.release));
		json_object_set_new(f, "arch", cki_json_str(u.machine));
	}
	if (cki_agent_cert_times(a, &nb, &na, NULL))
		json_object_set_new(
		    f, "certificate_not_after", json_integer((json_int_t)na));
	return f;
}

static long
heartbeat(ck_agent *a)
{
	json_t *doc = json_pack(
	    "{s:s, s:o}", "agent_version", ck_version(), "facts", facts(a));
	char *body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	struct cki_agent_resp r = {0};
	json_t *problem = NULL;
	long next;

	json_decref(doc);
	if (body == NULL)
		return cki_agent_backoff(++a->failures, cki_agent_jitter());
	if (cki_agent_http(a, "POST", "/api/v1/heartbeat", "application/json",
	        body, strlen(body), true, &r) != CK_OK) {
		char err[512];

		snprintf(err, sizeof(err), "%s", ck_ctx_error(a->ctx));
		next = record_offline(a, err);
		goto out;
	}
	problem = json_loadb(r.body, r.len, 0, NULL);
	if (r.status == 200) {
		a->failures = 0;
		(void)cki_agent_state_write(a, "online", "heartbeat answered",
		    json_pack("{s:O*}", "spki_sha256",
		        json_object_get(problem, "spki_sha256")));
		next = a->conf.heartbeat;
	} else if (r.status == 202) {
		next = record_pending(a,
		    json_string_value(json_object_get(problem, "spki_sha256")),
		    r.retry_after);
	} else {
		next = record_refusal(a, r.status, problem);
	}
out:
	json_decref(problem);
	cki_agent_resp_clear(&r);
	free(body);
	return next;
}

ck_status
ck_agent_step(ck_agent *a, long *next_s)
{
	struct cki_enroll_out o = {0};
	int64_t nb, na, due, left;
	bool have;
	ck_status rv;

	cki_begin(a->ctx);
	*next_s = 0;
	if ((rv = need_primary(a)) != CK_OK)
		return rv;
	/* Renewal is due at the key's point of the lifetime (renew_at); the
	 * next cycle comes no later, whatever the heartbeat interval. */
	have = cki_agent_cert_times(a, &nb, &na, &due);
	if (have && (int64_t)time(NULL) < due) {
		*next_s = heartbeat(a);
		left = due - (int64_t)time(NULL);
		if (*next_s > left)
			*next_s = left < 1 ? 1 : (long)left;
		return CK_OK;
	}
	rv = cki_agent_enroll_once(a, have, &o);
	*next_s = record_enroll(a, rv, &o);
	cki_enroll_out_clear(&o);
	ck_ctx_clear_error(a->ctx);
	return CK_OK;
}

static volatile sig_atomic_t stop_flag;

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* Sleeps up to s seconds, waking early on a stop signal. */
static void
nap(long s)
{
	struct timespec ts = {0, 100 * 1000 * 1000};

	for (long i = 0; i < s * 10 && !stop_flag; i++)
		nanosleep(&ts, NULL);
}

ck_status
ck_agent_run(ck_agent *a)
{
	struct sigaction sa;
	long next = 0;
	ck_status rv = CK_OK;

	cki_begin(a->ctx);
	if ((rv = need_primary(a)) != CK_OK)
		return rv;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	stop_flag = 0;
	while (!stop_flag) {
		if ((rv = ck_agent_step(a, &next)) != CK_OK)
			break;
#ifdef __GLIBC__
		/* Idle between cycles: give the cycle's heap back (the
		 * handshake, the doctor) so an idle agent stays small. */
		malloc_trim(0);
#endif
		nap(next > 0 ? next : 1);
	}
	return rv;
}

static json_t *
cert_json(ck_agent *a)
{
	int64_t nb, na, due;
	char b[32], e[32], r[32];

	if (!cki_agent_cert_times(a, &nb, &na, &due))
		return NULL;
	cki_fmt_time(nb, b);
	cki_fmt_time(na, e);
	cki_fmt_time(due, r);
	return json_pack("{s:s, s:s, s:s, s:s}", "not_before", b, "not_after",
	    e, "renew_at", r, "path", "agent/identity/current/cert.pem");
}

ck_status
ck_agent_status(ck_agent *a, char **json)
{
	json_t *st;

	cki_begin(a->ctx);
	*json = NULL;
	if ((st = cki_agent_state_read(a)) == NULL &&
	    (st = json_pack("{s:s, s:s, s:o}", "state", "never_connected",
	         "why", "the agent has not reached the primary yet", "primary",
	         cki_json_str(a->conf.primary))) == NULL)
		return cki_err(a->ctx, CK_E_NOMEM, "out of memory");
	json_object_set_new(st, "certificate", cert_json(a));
	if (json_object_get(st, "certificate") == NULL)
		json_object_set_new(st, "certificate", json_null());
	*json = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
	json_decref(st);
	return *json ? CK_OK : cki_err(a->ctx, CK_E_NOMEM, "out of memory");
}

ck_status
ck_agent_enroll(ck_agent *a, int wait_s, int renew, char **json, int *installed)
{
	int64_t nb, na, start = cki_mono_ms();
	ck_status rv;

	cki_begin(a->ctx);
	*json = NULL;
	*installed = 0;
	if ((rv = need_primary(a)) != CK_OK)
		return rv;
	if (!renew && cki_agent_cert_times(a, &nb, &na, NULL)) {
		*installed = 1;
		return ck_agent_status(a, json);
	}
	if (renew && !cki_agent_cert_times(a, &nb, &na, NULL))
		return cki_err(a->ctx, CK_E_USAGE,
		    "%s/identity: no certificate to renew: run certkit agent "
		    "enroll first",
		    a->dir);
	for (;;) {
		struct cki_enroll_out o = {0};
		long next;

		rv = cki_agent_enroll_once(a, renew != 0, &o);
		next = record_enroll(a, rv, &o);
		*installed = o.installed;
		cki_enroll_out_clear(&o);
		ck_ctx_clear_error(a->ctx);
		if (*installed || next <= 0 ||
		    cki_mono_ms() - start + next * 1000 >
		        (int64_t)wait_s * 1000)
			break;
		nap(next);
		if (stop_flag)
			break;
	}
	return ck_agent_status(a, json);
}
