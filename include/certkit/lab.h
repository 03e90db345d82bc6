/*
 * lab.h: the lab (certkit lab), local endpoints on 127.0.0.1 that reproduce
 * each diagnosis code of the doctor (certkit/doctor.h).
 *
 * The lab is no part of libcertkit: it sets security level 0, enables
 * TLS 1.0, signs with SHA-1, makes 1024-bit RSA keys and runs a DNS server
 * and a proxy, none of which belongs in an appliance's library. It is the
 * static library certkit_lab (lab/), linked by the certkit tool and the
 * tests only, and this header is not installed with libcertkit.
 */
#ifndef CERTKIT_LAB_H
#define CERTKIT_LAB_H

#include "certkit/certkit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ck_lab ck_lab;

/*
 * Generates the lab's PKI under `dir` (created if missing), binds every
 * server on 127.0.0.1 with ephemeral ports, and runs them on a background
 * thread. Writes dir/profile.ini (a doctor profile, one section per
 * endpoint, named after the code it reproduces), dir/trust.pem (the device
 * store), dir/reference.pem (the lab's "public" roots) and dir/lab.json.
 */
ck_status ck_lab_start(ck_ctx *ctx, const char *dir, ck_lab **out) CK_WUR;
/* Paths and addresses of a running lab (owned by the lab). */
const char *ck_lab_profile(const ck_lab *lab);
const char *ck_lab_trust(const ck_lab *lab);
const char *ck_lab_reference(const ck_lab *lab);
const char *ck_lab_dns(const ck_lab *lab);   /* "127.0.0.1:PORT" */
const char *ck_lab_proxy(const ck_lab *lab); /* "http://127.0.0.1:PORT" */
/* The lab's endpoints as JSON (docs/json.md, "lab"). Caller frees. */
ck_status ck_lab_describe(const ck_lab *lab, char **json) CK_WUR;
void ck_lab_stop(ck_lab *lab);

#ifdef __cplusplus
}
#endif
#endif /* CERTKIT_LAB_H */
