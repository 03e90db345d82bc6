/*
 * tool_jsontext.c: the library's compact JSON reports, re-printed without
 * building a jansson tree. Bulk verification (verify --each) gets one
 * report per leaf; parsing each one again and dumping the whole result
 * cost more than certkit's own work (docs/PERFORMANCE.md).
 *
 * The input is what the library writes: jansson's json_dumps() with
 * JSON_COMPACT (no white space outside strings) and without
 * JSON_ENSURE_ASCII (UTF-8 raw in strings). Anything else is refused, and
 * the caller takes the slow path (json_loads) instead, so the output never
 * depends on which path was taken.
 */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* ---- the buffer ---------------------------------------------------------- */

void
tool_buf_add(struct tool_buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->cap - b->len < n + 1) {
		size_t cap = b->cap ? b->cap : 4096;
		char *ns;

		while (cap - b->len < n + 1)
			cap *= 2;
		if ((ns = realloc(b->s, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void
tool_buf_free(struct tool_buf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

/* ---- strings --------------------------------------------------------------
 */

/* The code point of the UTF-8 sequence at *p (valid UTF-8: jansson wrote
 * it), advancing *p past it; -1 if it is not valid UTF-8. */
static long
utf8_next(const unsigned char **p)
{
	const unsigned char *s = *p;
	long cp;
	int n;

	if (s[0] < 0x80)
		n = 0, cp = s[0];
	else if ((s[0] & 0xE0) == 0xC0)
		n = 1, cp = s[0] & 0x1F;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 2, cp = s[0] & 0x0F;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 3, cp = s[0] & 0x07;
	else
		return -1;
	for (int i = 1; i <= n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	*p = s + n + 1;
	return cp;
}

/* tool_buf_add without the call when there is room (most appends). */
static inline void
buf_put(struct tool_buf *b, const char *s, size_t n)
{
	if (b->oom || b->cap - b->len < n + 1) {
		tool_buf_add(b, s, n);
		return;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Copies the string starting at the quote *p to b as jansson writes it
 * with JSON_ENSURE_ASCII: the escapes as they are (the same rules), every
 * code point above 0x7F as \uXXXX (a surrogate pair above 0xFFFF). Returns
 * the closing quote, or NULL. */
static const unsigned char *
copy_string(struct tool_buf *b, const unsigned char *p)
{
	char seq[32];

	buf_put(b, "\"", 1);
	for (p++; *p != '"';) {
		const unsigned char *start = p;
		long cp;

		if (*p == '\0')
			return NULL;
		if (*p == '\\') {
			if (p[1] == '\0')
				return NULL;
			buf_put(b, (const char *)p, 2);
			p += 2;
			continue;
		}
		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p > start) {
			buf_put(b, (const char *)start, (size_t)(p - start));
			continue;
		}
		if ((cp = utf8_next(&p)) < 0x80) /* invalid, or a raw control */
			return NULL;
		if (cp < 0x10000) {
			snprintf(seq, sizeof(seq), "\\u%04X", (unsigned)cp);
		} else {
			cp -= 0x10000;
			snprintf(seq, sizeof(seq), "\\u%04X\\u%04X",
			    (unsigned)(0xD800 | (cp >> 10)),
			    (unsigned)(0xDC00 | (cp & 0x3FF)));
		}
		buf_put(b, seq, strlen(seq));
	}
	buf_put(b, "\"", 1);
	return p;
}

static void
newline(struct tool_buf *b, int depth)
{
	static const char nl[] = "\n                                ";
	size_t n = depth > 0 ? (size_t)depth * 2 + 1 : 1;

	/* The newline and up to 32 spaces in one append. */
	if (n <= sizeof(nl) - 1) {
		buf_put(b, nl, n);
		return;
	}
	buf_put(b, nl, sizeof(nl) - 1);
	for (n -= sizeof(nl) - 1; n > 0;) {
		size_t k = n < sizeof(nl) - 2 ? n : sizeof(nl) - 2;

		buf_put(b, nl + 1, k);
		n -= k;
	}
}

bool
tool_json_reindent(struct tool_buf *b, const char *compact, int level)
{
	const unsigned char *p = (const unsigned char *)compact;
	int depth = level;

	for (; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			if ((p = copy_string(b, p)) == NULL)
				return false;
			break;
		case '{':
		case '[':
			buf_put(b, (const char *)p, 1);
			if (p[1] == (*p == '{' ? '}' : ']'))
				buf_put(b, (const char *)++p, 1);
			else
				newline(b, ++depth);
			break;
		case '}':
		case ']':
			if (--depth < level)
				return false;
			newline(b, depth);
			buf_put(b, (const char *)p, 1);
			break;
		case ',':
			buf_put(b, ",", 1);
			newline(b, depth);
			break;
		case ':': buf_put(b, ": ", 2); break;
		case ' ':
		case '\t':
		case '\n':
		case '\r': return false; /* not compact */
		default: {
			/* A number or a literal: up to the next token. */
			const unsigned char *start = p;

			while (p[1] != '\0' && !strchr(",:{}[]\" \t\n\r", p[1]))
				p++;
			buf_put(
			    b, (const char *)start, (size_t)(p - start) + 1);
		}
		}
	}
	return depth == level && !b->oom;
}

/* ---- reading a valid report ------------------------------------------------
 */

/* The value at p ends where? NULL if it is not well formed. */
static const char *
skip_value(const char *p)
{
	int nest = 0;

	do {
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\0')
					return NULL;
				if (*p == '\\' && *++p == '\0')
					return NULL;
			}
			p++;
		} else if (*p == '{' || *p == '[') {
			nest++, p++;
		} else if (*p == '}' || *p == ']') {
			if (--nest < 0)
				return NULL;
			p++;
		} else if (*p == ',' || *p == ':') {
			if (nest == 0)
				return NULL;
			p++;
		} else if (*p == '\0') {
			return NULL;
		} else {
			while (*p != '\0' && strchr(",:{}[]\"", *p) == NULL)
				p++;
		}
	} while (nest > 0);
	return p;
}

static int
hex4(const char *p)
{
	int v = 0;

	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	return v;
}

static void
add_utf8(struct tool_buf *b, long cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp, n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6)), n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12)), n = 3;
	} else {
		u[0] = (char)(0xF0 | (cp >> 18)), n = 4;
	}
	for (size_t i = 1; i < n; i++)
		u[i] = (char)(0x80 | ((cp >> (6 * (n - 1 - i))) & 0x3F));
	tool_buf_add(b, u, n);
}

/* Decodes the string at the quote p into b (UTF-8, as json_string_value()
 * gives it); returns the end of the string, or NULL. */
static const char *
read_string(struct tool_buf *b, const char *p)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";

	b->len = 0;
	tool_buf_add(b, "", 0);
	for (p++; *p != '"'; p++) {
		const char *k;
		long cp;

		if (*p == '\0')
			return NULL;
		if (*p != '\\') {
			tool_buf_add(b, p, 1);
			continue;
		}
		if (*++p == 'u') {
			if ((cp = hex4(p + 1)) < 0)
				return NULL;
			p += 4;
			if (cp >= 0xD800 && cp < 0xDC00) {
				long lo = p[1] == '\\' && p[2] == 'u'
				    ? hex4(p + 3)
				    : -1;

				if (lo < 0xDC00 || lo > 0xDFFF)
					return NULL;
				cp = 0x10000 + ((cp - 0xD800) << 10) +
				    (lo - 0xDC00);
				p += 6;
			}
			add_utf8(b, cp);
		} else if (*p != '\0' && (k = strchr(from, *p)) != NULL) {
			tool_buf_add(b, to + (k - from), 1);
		} else {
			return NULL;
		}
	}
	return b->oom ? NULL : p + 1;
}

/* A key at p: its raw text must be `key`. Advances past the colon. */
static bool
key_is(const char **p, const char *key)
{
	size_t n = strlen(key);

	if ((*p)[0] != '"' || strncmp(*p + 1, key, n) != 0 ||
	    (*p)[n + 1] != '"' || (*p)[n + 2] != ':')
		return false;
	*p += n + 3;
	return true;
}

/* One entry of "chain": {"depth":N,"subject":"...",...,"anchor":B}. */
static const char *
read_entry(const char *p, struct tool_chain_entry *e, struct tool_buf *tmp)
{
	char *end;

	if (*p++ != '{' || !key_is(&p, "depth"))
		return NULL;
	e->depth = strtoll(p, &end, 10);
	if (end == p || *end != ',')
		return NULL;
	p = end + 1;
	if (!key_is(&p, "subject") || (p = read_string(tmp, p)) == NULL ||
	    (e->subject = strdup(tmp->s)) == NULL)
		return NULL;
	while (*p == ',') {
		p++;
		if (key_is(&p, "anchor")) {
			e->anchor = strncmp(p, "true", 4) == 0;
			if (!e->anchor && strncmp(p, "false", 5) != 0)
				return NULL;
		} else if ((p = skip_value(p)) == NULL || *p++ != ':') {
			return NULL; /* another key, then its value */
		}
		if ((p = skip_value(p)) == NULL)
			return NULL;
	}
	return *p == '}' ? p + 1 : NULL;
}

void
tool_chain_clear(struct tool_chain *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->e[i].subject);
	memset(c, 0, sizeof(*c));
}

bool
tool_read_valid_report(const char *json, struct tool_chain *c)
{
	static const char head[] =
	    "{\"version\":2,\"valid\":true,\"findings\":[],\"chain\":[";
	struct tool_buf tmp = {0};
	const char *p = json;

	memset(c, 0, sizeof(*c));
	if (strncmp(p, head, sizeof(head) - 1) != 0)
		return false;
	p += sizeof(head) - 1;
	while (*p != ']') {
		if (c->n == TOOL_CHAIN_MAX ||
		    (p = read_entry(p, &c->e[c->n++], &tmp)) == NULL ||
		    (*p == ',' && *++p == ']'))
			goto bad;
	}
	/* The rest ("parameters") is not printed; it must still be one
	 * object that closes the report. */
	if (p[1] != ',' || p[2] != '"' || (p = skip_value(p + 2)) == NULL ||
	    *p++ != ':' || (p = skip_value(p)) == NULL || strcmp(p, "}") != 0)
		goto bad;
	tool_buf_free(&tmp);
	return true;
bad:
	tool_buf_free(&tmp);
	tool_chain_clear(c);
	return false;
}
