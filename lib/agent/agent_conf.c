/*
 * agent_conf.c: the [agent] section of HOME/certkit.conf.
 *
 *   primary     = host:port           the primary (certkit serve)
 *   primary_ca  = FILE                trust the primary through this CA, or
 *   primary_pin = sha256/SPKI         the SHA-256 of its key or of a CA key
 *                                     of its chain (base64 or hex), or
 *   trust       = system | certkit    the system store or certkit's own
 *   heartbeat   = 30s                 5s .. 1d
 *   https       = required | if-available   for downstream devices (the
 *                 doctor's --https); the link to the primary is always TLS
 *
 * At most one of primary_ca, primary_pin and trust. Every error names
 * FILE:LINE, what was expected and what was found.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "agent_int.h"
#include "doctor_int.h"

#define S "agent"

static ck_status
bad(ck_ctx *ctx, const cki_config *cfg, const char *key, const char *expected,
    const char *found)
{
	int line = 0;
	char shown[128];

	cki_config_get(cfg, S, key, &line);
	cki_esc(shown, sizeof(shown), found, strlen(found));
	return cki_err(ctx, CK_E_FORMAT,
	    "%s:%d: [agent] %s: expected %s, found '%s'", cki_config_name(cfg),
	    line, key, expected, shown);
}

/* A duration: digits with an optional s, m, h or d suffix. */
static ck_status
get_duration(ck_ctx *ctx, const cki_config *cfg, const char *key, long min,
    long max, long *out)
{
	const char *v = cki_config_get(cfg, S, key, NULL);
	char *end;
	long n, mul = 1;

	if (v == NULL)
		return CK_OK;
	errno = 0;
	n = strtol(v, &end, 10);
	if (end == v || errno != 0 || !isdigit((unsigned char)v[0]))
		goto bad;
	if (*end != '\0') {
		const char *u = strchr("smhd", tolower((unsigned char)*end));
		static const long muls[] = {1, 60, 3600, 86400};

		if (u == NULL || *u == '\0' || end[1] != '\0')
			goto bad;
		mul = muls[u - "smhd"];
	}
	if (n > LONG_MAX / mul || n * mul < min || n * mul > max)
		goto bad;
	*out = n * mul;
	return CK_OK;
bad:
	return bad(ctx, cfg, key,
	    "a duration from 5s to 1d (a number with s, m, h or d)", v);
}

static ck_status
get_primary(ck_ctx *ctx, const cki_config *cfg, struct cki_agent_conf *out)
{
	const char *v = cki_config_get(cfg, S, "primary", NULL);
	char why[160];

	if (v == NULL)
		return CK_OK;
	if (!cki_net_parse_hostport(
	        v, strlen(v), 8443, &out->hp, why, sizeof(why)) ||
	    !out->hp.has_port)
		return bad(ctx, cfg, "primary", "host:port", v);
	if ((out->primary = strdup(v)) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	return CK_OK;
}

static ck_status
get_trust(ck_ctx *ctx, const cki_config *cfg, struct cki_agent_conf *out)
{
	const char *ca = cki_config_get(cfg, S, "primary_ca", NULL);
	const char *pin = cki_config_get(cfg, S, "primary_pin", NULL);
	const char *tr = cki_config_get(cfg, S, "trust", NULL);

	if ((ca != NULL) + (pin != NULL) + (tr != NULL) > 1)
		return bad(ctx, cfg, ca ? "primary_ca" : "primary_pin",
		    "one of primary_ca, primary_pin and trust", "several");
	if (ca != NULL) {
		if (ca[0] == '\0')
			return bad(ctx, cfg, "primary_ca", "a file", ca);
		out->trust = CKI_AGENT_TRUST_CA;
		if ((out->primary_ca = strdup(ca)) == NULL)
			return cki_err(ctx, CK_E_NOMEM, "out of memory");
	} else if (pin != NULL) {
		if (!cki_doc_parse_pin(pin, out->pin))
			return bad(ctx, cfg, "primary_pin",
			    "sha256/ and the base64 (or hex) SHA-256 of the "
			    "primary's public key",
			    pin);
		out->trust = CKI_AGENT_TRUST_PIN;
	} else if (tr != NULL) {
		if (strcmp(tr, "system") == 0)
			out->trust = CKI_AGENT_TRUST_SYSTEM;
		else if (strcmp(tr, "certkit") == 0)
			out->trust = CKI_AGENT_TRUST_CERTKIT;
		else
			return bad(ctx, cfg, "trust", "system or certkit", tr);
	}
	return CK_OK;
}

ck_status
cki_agent_conf_load(ck_ctx *ctx, const char *home, struct cki_agent_conf *out)
{
	static const char *const known[] = {"primary", "primary_ca",
	    "primary_pin", "trust", "heartbeat", "https", NULL};
	cki_config *cfg = NULL;
	const char *https;
	ck_status rv;

	memset(out, 0, sizeof(*out));
	out->heartbeat = CKI_AGENT_DEFAULT_HEARTBEAT;
	if ((rv = cki_config_load(ctx, home, &cfg)) != CK_OK ||
	    (rv = cki_config_check_section(ctx, cfg, S, known)) != CK_OK ||
	    (rv = get_primary(ctx, cfg, out)) != CK_OK ||
	    (rv = get_trust(ctx, cfg, out)) != CK_OK ||
	    (rv = get_duration(
	         ctx, cfg, "heartbeat", 5, 86400L, &out->heartbeat)) != CK_OK)
		goto err;
	https = cki_config_get(cfg, S, "https", NULL);
	if (https != NULL && strcmp(https, "required") != 0 &&
	    strcmp(https, "if-available") != 0) {
		rv = bad(ctx, cfg, "https", "required or if-available", https);
		goto err;
	}
	out->https_optional =
	    https != NULL && strcmp(https, "if-available") == 0;
	cki_config_free(cfg);
	return CK_OK;
err:
	cki_config_free(cfg);
	cki_agent_conf_free(out);
	return rv;
}

void
cki_agent_conf_free(struct cki_agent_conf *c)
{
	free(c->primary);
	free(c->primary_ca);
	c->primary = c->primary_ca = NULL;
}
