/*
 * pq_dl.h: libpq, loaded when a PostgreSQL registry is first opened.
 *
 * Linking libpq made every certkit command load it and its ~20
 * dependencies (Kerberos, LDAP, GnuTLS, ...) at start: 5-7 ms more per
 * process, which `certkit identity ensure` (run before every service start)
 * and every short command paid, whatever registry they use. So libpq is
 * opened with dlopen() by cki_pq_load() (pq_dl.c), once, on the first
 * open of a postgresql:// registry, and registry_pg.c calls it through the
 * table below: the PQ* names it uses are macros for the table's entries.
 * A machine without libpq5 runs everything else and gets a clear error
 * only when the registry names PostgreSQL.
 */
#ifndef CERTKIT_PQ_DL_H
#define CERTKIT_PQ_DL_H

#include <libpq-fe.h>

#include "ck_internal.h"

/* Every libpq function registry_pg.c calls. */
#define CKI_PQ_FUNCS(X)                                                        \
	X(PQclear)                                                             \
	X(PQcmdTuples)                                                         \
	X(PQconnectdbParams)                                                   \
	X(PQconninfoFree)                                                      \
	X(PQconninfoParse)                                                     \
	X(PQconsumeInput)                                                      \
	X(PQerrorMessage)                                                      \
	X(PQexec)                                                              \
	X(PQexecParams)                                                        \
	X(PQfinish)                                                            \
	X(PQfreemem)                                                           \
	X(PQgetisnull)                                                         \
	X(PQgetvalue)                                                          \
	X(PQnotifies)                                                          \
	X(PQntuples)                                                           \
	X(PQresultErrorField)                                                  \
	X(PQresultErrorMessage)                                                \
	X(PQresultStatus)                                                      \
	X(PQsocket)                                                            \
	X(PQstatus)

#define CKI_PQ_MEMBER(f) __typeof__(f) *f;
struct cki_pq {
	CKI_PQ_FUNCS(CKI_PQ_MEMBER)
};
#undef CKI_PQ_MEMBER

/* Filled by cki_pq_load(). */
extern struct cki_pq cki_pq;

/* Opens libpq.so.5 and fills cki_pq, once per process (thread-safe).
 * CK_E_NOTFOUND names the library and what dlopen() said. */
ck_status cki_pq_load(ck_ctx *ctx);

#ifndef CKI_PQ_LOADER
#define PQclear cki_pq.PQclear
#define PQcmdTuples cki_pq.PQcmdTuples
#define PQconnectdbParams cki_pq.PQconnectdbParams
#define PQconninfoFree cki_pq.PQconninfoFree
#define PQconninfoParse cki_pq.PQconninfoParse
#define PQconsumeInput cki_pq.PQconsumeInput
#define PQerrorMessage cki_pq.PQerrorMessage
#define PQexec cki_pq.PQexec
#define PQexecParams cki_pq.PQexecParams
#define PQfinish cki_pq.PQfinish
#define PQfreemem cki_pq.PQfreemem
#define PQgetisnull cki_pq.PQgetisnull
#define PQgetvalue cki_pq.PQgetvalue
#define PQnotifies cki_pq.PQnotifies
#define PQntuples cki_pq.PQntuples
#define PQresultErrorField cki_pq.PQresultErrorField
#define PQresultErrorMessage cki_pq.PQresultErrorMessage
#define PQresultStatus cki_pq.PQresultStatus
#define PQsocket cki_pq.PQsocket
#define PQstatus cki_pq.PQstatus
#endif

#endif /* CERTKIT_PQ_DL_H */
