/*
 * strbuf.c: the one growing string (strbuf.h). It replaces the three
 * builders chain.c, describe.c and the lab had, none of which had a
 * maximum size.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ck_internal.h"
#include "strbuf.h"

void
cki_sb_init(struct cki_sb *sb, size_t max)
{
	memset(sb, 0, sizeof(*sb));
	sb->max = max;
}

/* Room for `more` bytes and the NUL, within max; false marks failure. */
static bool
grow(struct cki_sb *sb, size_t more)
{
	size_t cap;
	char *np;

	if (sb->failed)
		return false;
	if (sb->max == 0 || more > sb->max - 1 - sb->n) {
		sb->failed = sb->too_large = true;
		return false;
	}
	if (sb->n + more + 1 <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 128;
	if (cap > sb->max)
		cap = sb->max;
	while (cap < sb->n + more + 1)
		cap = cap > sb->max / 2 ? sb->max : cap * 2;
	if ((np = realloc(sb->p, cap)) == NULL) {
		sb->failed = true;
		return false;
	}
	sb->p = np;
	sb->cap = cap;
	return true;
}

bool
cki_sb_reserve(struct cki_sb *sb, size_t more)
{
	return grow(sb, more);
}

void
cki_sb_printf(struct cki_sb *sb, const char *fmt, ...)
{
	va_list ap;
	int len;

	if (sb->failed)
		return;
	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0) {
		sb->failed = true;
		return;
	}
	if (!grow(sb, (size_t)len))
		return;
	va_start(ap, fmt);
	vsnprintf(sb->p + sb->n, sb->cap - sb->n, fmt, ap);
	va_end(ap);
	sb->n += (size_t)len;
}

void
cki_sb_add(struct cki_sb *sb, const void *p, size_t len)
{
	if (!grow(sb, len))
		return;
	if (len > 0)
		memcpy(sb->p + sb->n, p, len);
	sb->n += len;
	sb->p[sb->n] = '\0';
}

void
cki_sb_esc(struct cki_sb *sb, const void *p, size_t len)
{
	char *e;

	if (sb->failed)
		return;
	if ((e = cki_esc_dup((const char *)p, len)) == NULL) {
		sb->failed = true;
		return;
	}
	cki_sb_add(sb, e, strlen(e));
	free(e);
}

char *
cki_sb_take(struct cki_sb *sb)
{
	char *p = sb->p;
	size_t max = sb->max;

	if (sb->failed || p == NULL) {
		free(p);
		p = sb->failed ? NULL : strdup("");
	}
	cki_sb_init(sb, max);
	return p;
}

void
cki_sb_free(struct cki_sb *sb)
{
	free(cki_sb_take(sb));
}
