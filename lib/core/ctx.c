/*
 * ctx.c: the context every public call takes: the error of the last call,
 * the password source, and the clock.
 *
 * The error discipline is libtls's: the message lives on the context, the
 * return value is a stable ck_status, and the most specific message wins
 * (invariant 2 of ck_internal.h).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "ck_internal.h"

const char *
ck_status_name(ck_status st)
{
	switch (st) {
	case CK_OK: return "ok";
	case CK_E_IO: return "io";
	case CK_E_FORMAT: return "format";
	case CK_E_PASSWORD: return "password";
	case CK_E_USAGE: return "usage";
	case CK_E_NOMEM: return "nomem";
	case CK_E_INTERNAL: return "internal";
	case CK_E_NOTFOUND: return "notfound";
	case CK_E_EXISTS: return "exists";
	case CK_E_LOCKED: return "locked";
	case CK_E_NETWORK: return "network";
	case CK_E_REFUSED: return "refused";
	case CK_E_CONFLICT: return "conflict";
	case CK_E_LIMIT: return "limit";
	}
	return "unknown";
}

void
ck_free(void *p)
{
	free(p);
}

const char *
ck_version(void)
{
	return CERTKIT_VERSION;
}

const char *
ck_crypto_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION);
}

void
ck_wipe(void *p, size_t len)
{
	if (p != NULL)
		OPENSSL_cleanse(p, len);
}

ck_ctx *
ck_ctx_new(void)
{
	return calloc(1, sizeof(ck_ctx));
}

void
ck_ctx_free(ck_ctx *ctx)
{
	if (ctx == NULL)
		return;
	if (ctx->password != NULL)
		OPENSSL_clear_free(ctx->password, strlen(ctx->password));
	OPENSSL_cleanse(ctx, sizeof(*ctx));
	free(ctx);
}

const char *
ck_ctx_error(const ck_ctx *ctx)
{
	return ctx->err;
}

ck_status
ck_ctx_status(const ck_ctx *ctx)
{
	return ctx->status;
}

void
ck_ctx_clear_error(ck_ctx *ctx)
{
	ctx->status = CK_OK;
	ctx->err[0] = '\0';
}

void
cki_begin(ck_ctx *ctx)
{
	ck_ctx_clear_error(ctx);
	ERR_clear_error();
}

/* Formats into a scratch buffer first: callers wrap the deeper message by
 * passing ctx->err itself as an argument, and vsnprintf's destination must
 * not overlap its arguments (C11 7.21.6.12: restrict). Then escapes it
 * (cki_esc): messages name files and quote peers and certificates, and no
 * message format holds a control character of its own, so the whole
 * message is one safe line. */
static ck_status
seterr(ck_ctx *ctx, ck_status st, const char *fmt, va_list ap)
{
	char msg[sizeof(ctx->err)];
	int n;

	ctx->status = st;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		msg[0] = '\0';
	(void)cki_esc(ctx->err, sizeof(ctx->err), msg, strlen(msg));
	return st;
}

ck_status
cki_err(ck_ctx *ctx, ck_status st, const char *fmt, ...)
{
	va_list ap;

	if (ctx == NULL)
		return st;
	va_start(ap, fmt);
	seterr(ctx, st, fmt, ap);
	va_end(ap);
	return st;
}

ck_status
cki_err_keep(ck_ctx *ctx, ck_status st, const char *fmt, ...)
{
	va_list ap;

	if (ctx->status != CK_OK)
		return ctx->status;
	va_start(ap, fmt);
	seterr(ctx, st, fmt, ap);
	va_end(ap);
	return st;
}

const char *
cki_ossl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r;

	if (e == 0)
		return "unknown reason";
	r = ERR_reason_error_string(e);
	return r != NULL ? r : "unknown reason";
}

void
ck_ctx_set_password_cb(ck_ctx *ctx, ck_password_cb cb, void *arg)
{
	ctx->pw_cb = cb;
	ctx->pw_arg = arg;
}

ck_status
ck_ctx_set_password(ck_ctx *ctx, const char *password)
{
	char *copy = NULL;
	size_t n = password != NULL ? strlen(password) : 0;

	if (n > CK_PASSWORD_MAX)
		return cki_err(ctx, CK_E_USAGE,
		    "the password is %zu bytes long; certkit takes at most %d "
		    "(OpenSSL reads PEM passwords into a buffer of %d bytes)",
		    n, CK_PASSWORD_MAX, CK_PASSWORD_MAX + 1);
	if (password != NULL && (copy = strdup(password)) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	if (ctx->password != NULL)
		OPENSSL_clear_free(ctx->password, strlen(ctx->password));
	ctx->password = copy;
	return CK_OK;
}

bool
cki_have_password(const ck_ctx *ctx)
{
	return ctx->password != NULL || ctx->pw_cb != NULL;
}

int
cki_password(ck_ctx *ctx, const char *what, char *buf, size_t size)
{
	size_t n;
	int r;

	if (size == 0)
		return -1;
	if (ctx->password != NULL) {
		n = strlen(ctx->password);
		if (n >= size)
			return -1;
		memcpy(buf, ctx->password, n + 1);
		return (int)n;
	}
	if (ctx->pw_cb == NULL)
		return -1;
	r = ctx->pw_cb(buf, size, what, ctx->pw_arg);
	if (r < 0 || (size_t)r >= size)
		return -1;
	buf[r] = '\0';
	/* Remember it: one file often needs the same password several times
	 * (the MAC, then each bag), and the user must be asked only once. */
	if (ck_ctx_set_password(ctx, buf) != CK_OK)
		return -1;
	return r;
}

void
ck_ctx_set_time(ck_ctx *ctx, int64_t unix_time)
{
	ctx->now = unix_time;
}

int64_t
ck_ctx_time(const ck_ctx *ctx)
{
	return ctx->now;
}

time_t
cki_now(const ck_ctx *ctx)
{
	return ctx->now != 0 ? (time_t)ctx->now : time(NULL);
}

bool
cki_load_legacy_provider(ck_ctx *ctx)
{
	static OSSL_PROVIDER *legacy, *deflt;

	if (legacy == NULL) {
		/* Loading "legacy" explicitly would unload the implicit default
		 * provider, so load both. */
		if (deflt == NULL)
			deflt = OSSL_PROVIDER_load(NULL, "default");
		legacy = OSSL_PROVIDER_load(NULL, "legacy");
	}
	ctx->legacy_loaded = legacy != NULL;
	return legacy != NULL;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian): Howard Hinnant's
 * days_from_civil, so no timegm()/TZ dependence. */
int64_t
cki_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

ck_status
ck_parse_time(ck_ctx *ctx, const char *text, int64_t *out)
{
	static const unsigned char mdays[] = {
	    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int Y, M, D, h = 0, m = 0, s = 0, oh = 0, om = 0, sign = 0;
	const char *p = text;

	cki_begin(ctx);
	/* RFC 3339 section 5.6: date-time = full-date "T" full-time. A bare
	 * full-date means midnight UTC. */
	if (strlen(p) < 10 || !digits(p, 4, &Y) || p[4] != '-' ||
	    !digits(p + 5, 2, &M) || p[7] != '-' || !digits(p + 8, 2, &D))
		goto bad;
	p += 10;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(p, 2, &h) || p[2] != ':' || !digits(p + 3, 2, &m))
			goto bad;
		p += 5;
		if (*p == ':') {
			if (!digits(p + 1, 2, &s))
				goto bad;
			p += 3;
			if (*p == '.') /* fractions are accepted and dropped */
				for (p++; isdigit((unsigned char)*p); p++)
					;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = *p == '-' ? -1 : 1;
			if (!digits(p + 1, 2, &oh) || p[3] != ':' ||
			    !digits(p + 4, 2, &om))
				goto bad;
			p += 6;
		} else {
			goto bad;
		}
	}
	if (*p != '\0' || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] ||
	    h > 23 || m > 59 || s > 60 || oh > 23 || om > 59)
		goto bad;
	*out = cki_days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 +
	    h * 3600 + m * 60 + s - sign * (oh * 3600 + om * 60);
	return CK_OK;
bad:
	return cki_err(ctx, CK_E_USAGE,
	    "'%s' is not a time: expected RFC 3339, e.g. "
	    "2026-06-01T00:00:00Z or 2026-06-01",
	    text);
}

int64_t
cki_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
