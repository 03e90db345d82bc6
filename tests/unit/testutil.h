/* testutil.h: helpers for the cmocka unit tests. */
#ifndef CERTKIT_TESTUTIL_H
#define CERTKIT_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* The generated test PKI (tests/pki/README.md). */
const char *pki_dir(void);
/* pki_dir()/file; the result lives until 8 more calls. */
const char *pki(const char *file);
/* The whole text of the file path (malloc'd, NUL-terminated); NULL when
 * it cannot be opened. */
char *read_text(const char *path);
/* The exit status of the shell command FMT (printf) run in the directory
 * dir (cd 'dir' && ...); -1 when it did not exit. */
int run_in(const char *dir, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The pinned verification time: 2026-06-01T00:00:00Z. */
#define PINNED_TIME INT64_C(1780272000)

#endif
