/*
 * pq_dl.c: libpq opened on first use (pq_dl.h says why).
 *
 * The library is opened once per process and never closed: libpq keeps
 * state (SSL, Kerberos) that must outlive every connection. dlsym()'s
 * result goes through a union-free memcpy, the one conversion from an
 * object pointer to a function pointer that ISO C allows without a warning.
 */
#define CKI_PQ_LOADER
#include "pq_dl.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#define CKI_PQ_LIB "libpq.so.5"

struct cki_pq cki_pq;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char load_err[512]; /* "" when loaded */

static void
load(void)
{
	void *h = dlopen(CKI_PQ_LIB, RTLD_NOW | RTLD_LOCAL);
	void *sym;
	const char *e;

	if (h == NULL) {
		e = dlerror();
		snprintf(load_err, sizeof(load_err), "%s",
		    e != NULL ? e : "dlopen failed");
		return;
	}
#define CKI_PQ_SYM(f)                                                          \
	if ((sym = dlsym(h, #f)) == NULL) {                                    \
		snprintf(load_err, sizeof(load_err), "%s has no %s",           \
		    CKI_PQ_LIB, #f);                                           \
		return;                                                        \
	}                                                                      \
	memcpy(&cki_pq.f, &sym, sizeof(sym));
	CKI_PQ_FUNCS(CKI_PQ_SYM)
#undef CKI_PQ_SYM
}

ck_status
cki_pq_load(ck_ctx *ctx)
{
	pthread_once(&once, load);
	if (load_err[0] == '\0')
		return CK_OK;
	return cki_err(ctx, CK_E_NOTFOUND,
	    "registry: PostgreSQL needs libpq (%s), which could not be loaded: "
	    "%s; install the libpq5 package",
	    CKI_PQ_LIB, load_err);
}
