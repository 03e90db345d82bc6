/*
 * server_log.c: the log of `certkit serve`, one line per event.
 *
 *   time=2026-06-01T00:00:00Z level=info event=request peer=127.0.0.1:5 ...
 *   {"time":"2026-06-01T00:00:00Z","level":"info","event":"request",...}
 *
 * Guarantees:
 *  1. One event is one line, written with one write(2): values from
 *     outside (peer names, paths, subjects) are escaped with cki_esc (no
 *     newline, no control character, no bidi override survives), and
 *     quoted when they hold a space, a quote or '='.
 *  2. Logging never stops the server: a failed write is dropped.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server_int.h"
#include "strbuf.h"

struct cki_slogger {
	int fd;
	bool json;
};

static const char *const level_names[] = {"info", "warning", "error"};

cki_slogger *
cki_slog_new(int fd, bool json)
{
	cki_slogger *l = calloc(1, sizeof(*l));

	if (l != NULL) {
		l->fd = fd;
		l->json = json;
	}
	return l;
}

void
cki_slog_free(cki_slogger *l)
{
	free(l);
}

static void
emit(cki_slogger *l, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(l->fd, s, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* key=value, the value escaped and quoted when needed. */
static void
put_kv(struct cki_sb *b, const char *k, const char *v)
{
	char *e = cki_esc_dup(v, strlen(v));
	bool quote;

	if (e == NULL)
		return;
	quote = e[0] == '\0' || strpbrk(e, " \"=") != NULL;
	cki_sb_printf(b, " %s=", k);
	if (!quote) {
		cki_sb_add(b, e, strlen(e));
	} else {
		cki_sb_add(b, "\"", 1);
		for (const char *p = e; *p != '\0'; p++) {
			if (*p == '"')
				cki_sb_add(b, "\\", 1);
			cki_sb_add(b, p, 1);
		}
		cki_sb_add(b, "\"", 1);
	}
	free(e);
}

static void
now_text(char out[32])
{
	cki_fmt_time((int64_t)time(NULL), out);
}

void
cki_slog_json(
    cki_slogger *l, enum cki_slog_level lv, const char *event, json_t *kv)
{
	struct cki_sb b;
	char *line;
	const char *k;
	json_t *v;
	char t[32];

	if (l == NULL)
		return;
	now_text(t);
	if (l->json) {
		json_t *o = json_pack("{s:s, s:s, s:s}", "time", t, "level",
		    level_names[lv], "event", event);
		char *s;

		if (o == NULL)
			return;
		if (kv != NULL)
			json_object_update(o, kv);
		s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
		json_decref(o);
		if (s != NULL) {
			size_t n = strlen(s);

			s[n] = '\n'; /* replaces the NUL: written by length */
			emit(l, s, n + 1);
			free(s);
		}
		return;
	}
	cki_sb_init(&b, CKI_SB_MSG_MAX);
	cki_sb_printf(
	    &b, "time=%s level=%s event=%s", t, level_names[lv], event);
	json_object_foreach(kv, k, v)
	{
		char num[64];
		const char *s = num;

		if (json_is_string(v))
			s = json_string_value(v);
		else if (json_is_integer(v))
			snprintf(num, sizeof(num), "%lld",
			    (long long)json_integer_value(v));
		else if (json_is_real(v))
			snprintf(num, sizeof(num), "%.3f", json_real_value(v));
		else if (json_is_boolean(v))
			s = json_is_true(v) ? "true" : "false";
		else
			continue;
		put_kv(&b, k, s);
	}
	cki_sb_add(&b, "\n", 1);
	if ((line = cki_sb_take(&b)) != NULL)
		emit(l, line, strlen(line));
	free(line);
}

void
cki_slog(cki_slogger *l, enum cki_slog_level lv, const char *event, ...)
{
	json_t *kv;
	va_list ap;
	const char *k;

	if (l == NULL || (kv = json_object()) == NULL)
		return;
	va_start(ap, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		const char *v = va_arg(ap, const char *);

		if (v != NULL)
			json_object_set_new(kv, k, cki_json_str(v));
	}
	va_end(ap);
	cki_slog_json(l, lv, event, kv);
	json_decref(kv);
}
