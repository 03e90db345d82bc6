/*
 * agent_state.c: HOME/agent/state.json, what `certkit agent status` shows,
 * and the doctor's diagnosis of the agent's own link to the primary; the
 * timing: the backoff, its jitter, and when a certificate is renewed.
 *
 * state.json = {"state", "why", "since", "updated", "primary", ... extra}
 * written atomically (a temporary file renamed over it), mode 0600. The
 * state words: never_connected (no file yet), requesting_pairing, online,
 * offline, revoked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "agent_int.h"
#include "certkit/doctor.h"

json_t *
cki_agent_state_read(ck_agent *a)
{
	char path[CKI_AGENT_PATH];

	snprintf(path, sizeof(path), "%s/state.json", a->dir);
	return json_load_file(path, 0, NULL);
}

static void
now_text(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

ck_status
cki_agent_state_write(
    ck_agent *a, const char *state, const char *why, json_t *extra)
{
	json_t *old = cki_agent_state_read(a), *o = json_object();
	char path[CKI_AGENT_PATH], tmp[CKI_AGENT_PATH], now[32];
	const char *oldst = json_string_value(json_object_get(old, "state"));
	char *text = NULL;
	ck_status rv;

	now_text(now);
	if (o == NULL) {
		rv = cki_err(a->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if (extra != NULL)
		json_object_update(o, extra);
	json_object_set_new(o, "state", json_string(state));
	json_object_set_new(o, "why", cki_json_str(why));
	json_object_set_new(o, "since",
	    oldst != NULL && strcmp(oldst, state) == 0
	        ? json_incref(json_object_get(old, "since"))
	        : json_string(now));
	json_object_set_new(o, "updated", json_string(now));
	json_object_set_new(o, "primary", cki_json_str(a->conf.primary));
	json_object_set_new(o, "failures", json_integer(a->failures));
	if ((rv = cki_mkdirs(a->ctx, a->dir, 0700)) != CK_OK)
		goto err;
	if ((text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS)) == NULL) {
		rv = cki_err(a->ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	snprintf(path, sizeof(path), "%s/state.json", a->dir);
	snprintf(
	    tmp, sizeof(tmp), "%s/.state.json.%ld", a->dir, (long)getpid());
	(void)unlink(tmp);
	if ((rv = cki_write_new(a->ctx, tmp, text, strlen(text), 0600, true)) ==
	    CK_OK)
		rv = cki_replace(a->ctx, tmp, path, a->dir);
	else
		(void)unlink(tmp);
err:
	free(text);
	json_decref(extra);
	json_decref(old);
	json_decref(o);
	return rv;
}

/* With a pin, the endpoint is a profile section carrying it, so that a
 * chain failing the pin is diagnosed as the doctor does (tls_interception). */
static ck_status
add_primary(ck_agent *a, ck_doctor *d)
{
	char path[CKI_AGENT_PATH], text[512], hex[65];
	ck_status rv;

	if (a->conf.trust != CKI_AGENT_TRUST_PIN)
		return ck_doctor_add_endpoint(d, a->conf.primary);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", a->conf.pin[i]);
	snprintf(text, sizeof(text),
	    "[primary]\nhost = %s\nport = %u\npin = %s\n", a->conf.hp.host,
	    (unsigned)a->conf.hp.port, hex);
	snprintf(path, sizeof(path), "%s/.doctor-profile.ini", a->dir);
	(void)unlink(path);
	if ((rv = cki_write_new(
	         a->ctx, path, text, strlen(text), 0600, false)) == CK_OK)
		rv = ck_doctor_load_profile(d, path);
	(void)unlink(path);
	return rv;
}

/* Runs the doctor on the primary with the agent's trust and identity. */
static char *
doctor_report(ck_agent *a)
{
	ck_doctor *d = NULL;
	char cert[CKI_AGENT_PATH], key[CKI_AGENT_PATH], bundle[CKI_AGENT_PATH];
	char *json = NULL;
	int online = 0;

	snprintf(
	    cert, sizeof(cert), "%s/identity/current/fullchain.pem", a->dir);
	snprintf(key, sizeof(key), "%s/identity/current/key.pem", a->dir);
	snprintf(bundle, sizeof(bundle), "%s/trust/out/ca-bundle.pem", a->home);
	if (ck_doctor_new(a->ctx, &d) != CK_OK || add_primary(a, d) != CK_OK ||
	    (a->conf.trust == CKI_AGENT_TRUST_CA &&
	        ck_doctor_set_trust(d, a->conf.primary_ca) != CK_OK) ||
	    (a->conf.trust == CKI_AGENT_TRUST_CERTKIT &&
	        ck_doctor_set_trust(d, bundle) != CK_OK) ||
	    (access(cert, R_OK) == 0 &&
	        ck_doctor_set_client_identity(d, cert, key) != CK_OK))
		goto out;
	ck_doctor_set_timeout_ms(d, a->timeout_ms / 2);
	if (ck_doctor_run(d, &json, &online) != CK_OK)
		json = NULL;
out:
	ck_ctx_clear_error(a->ctx);
	ck_doctor_free(d);
	return json;
}

json_t *
cki_agent_diagnose(ck_agent *a)
{
	char *text = doctor_report(a);
	json_t *r = text ? json_loads(text, 0, NULL) : NULL, *d, *out = NULL;

	d = json_array_get(
	    json_object_get(json_array_get(json_object_get(r, "endpoints"), 0),
	        "diagnosis"),
	    0);
	if (json_is_object(d))
		out = json_pack("{s:O, s:O, s:O*}", "code",
		    json_object_get(d, "code"), "summary",
		    json_object_get(d, "summary"), "remedies",
		    json_object_get(d, "remedies"));
	json_decref(r);
	ck_free(text);
	return out;
}

long
cki_agent_backoff(int failures, double rnd)
{
	long base = 1;

	for (int i = 0; i < failures && base < CKI_AGENT_MAX_BACKOFF; i++)
		base *= 2;
	if (base > CKI_AGENT_MAX_BACKOFF)
		base = CKI_AGENT_MAX_BACKOFF;
	base = (long)((double)base * (0.8 + 0.4 * rnd));
	if (base > CKI_AGENT_MAX_BACKOFF)
		base = CKI_AGENT_MAX_BACKOFF;
	return base < 1 ? 1 : base;
}

double
cki_agent_jitter(void)
{
	unsigned int r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		return 0.5;
	return (double)r / 4294967295.0;
}

int64_t
cki_agent_renew_at(int64_t nb, int64_t na, const unsigned char *spki)
{
	int64_t life = na - nb, early, late;
	unsigned frac = ((unsigned)spki[0] << 8) | spki[1]; /* 0..65535 */

	if (life <= 0)
		return nb;
	/* An ASN1 time ends in year 9999: life < 2^38, no overflow. */
	early = nb + life * 2 / 3;
	late = nb + life * 3 / 4;
	if (late > na - CKI_AGENT_RENEW_MARGIN)
		late = na - CKI_AGENT_RENEW_MARGIN;
	if (late < early)
		late = early;
	return early + (late - early) * (int64_t)frac / 65536;
}
