/*
 * strbuf.h: the one growing string of libcertkit (curl's dynbuf, in small).
 *
 *  1. Every builder has a maximum size, given when it is made
 *     (CKI_SB_INIT / cki_sb_init): the string and its NUL never exceed it.
 *     A maximum of 0 refuses every append.
 *  2. Failure is sticky: after an append fails (out of memory, over the
 *     maximum, a bad format) every later append is ignored and
 *     cki_sb_take() returns NULL, so a caller checks once, at the end.
 *  3. The string is always NUL-terminated while it exists.
 */
#ifndef CERTKIT_STRBUF_H
#define CERTKIT_STRBUF_H

#include <stdbool.h>
#include <stddef.h>

struct cki_sb {
	char *p;
	size_t n, cap, max;
	bool failed;    /* an append failed: sticky until take/free */
	bool too_large; /* ...because it would pass max */
};

/* Messages, labels, a finding's text and fix, small text files. */
#define CKI_SB_MSG_MAX ((size_t)1024 * 1024)
/* A whole JSON report (show of 25,000 certificates is about 100 MB). */
#define CKI_SB_REPORT_MAX ((size_t)1024 * 1024 * 1024)

#define CKI_SB_INIT(max)                                                       \
	{                                                                      \
		NULL, 0, 0, (max), false, false                                \
	}

void cki_sb_init(struct cki_sb *sb, size_t max);
/* Room for `more` bytes and the NUL past n (within max), so that a caller
 * may write them at p + n itself and then advance n, keeping the NUL;
 * false (and failed) if there is none. */
bool cki_sb_reserve(struct cki_sb *sb, size_t more);
void cki_sb_printf(struct cki_sb *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends len bytes as they are (a NUL among them ends the string early
 * for readers; callers append text). */
void cki_sb_add(struct cki_sb *sb, const void *p, size_t len);
/* Appends untrusted bytes through the one escaper (cki_esc). */
void cki_sb_esc(struct cki_sb *sb, const void *p, size_t len);
/* Takes the string ("" when nothing was appended; NULL if an append
 * failed); the builder is empty again, with the same maximum. */
char *cki_sb_take(struct cki_sb *sb);
/* Drops the string; the builder is empty again, with the same maximum. */
void cki_sb_free(struct cki_sb *sb);

#endif /* CERTKIT_STRBUF_H */
