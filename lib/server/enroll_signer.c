/*
 * enroll_signer.c: the enrollment's tick (enroll_int.h), each second from
 * the server's sweep: presence (enroll_role.c), then on a signer the jobs
 * "sign" (the approved requests any primary recorded) and "crl" (the
 * stored CRL, enroll_revo.c). Signing happens outside any registry
 * transaction (enroll.c signs, cki_registry_issue() records); a job's
 * advisory lock is a session lock, not a transaction, and goes with the
 * signer's connection when it dies.
 */
#include <string.h>

#include "enroll_int.h"

#define SIGN_BATCH 16 /* requests signed per tick */

/* The holder of job "sign": the approved, waiting requests. */
static void
sign_ready(cki_enroll *e)
{
	char ids[SIGN_BATCH][CKI_REG_ID_LEN + 1];
	struct cki_enroll_res r;
	bool mine = false;
	size_t n = 0;

	if (!cki_registry_shared(e->reg) || /* alone: it signs on the poll */
	    cki_registry_job(e->reg, "sign", &mine) != CK_OK || !mine ||
	    cki_registry_requests_ready(e->reg, ids, SIGN_BATCH, &n) != CK_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		cki_enroll_poll(e, ids[i], &r); /* signs and records */
		cki_enroll_res_clear(&r);
	}
}

void
cki_enroll_tick(cki_enroll *e)
{
	int64_t now;

	if (e == NULL)
		return;
	now = (int64_t)cki_now(e->ctx);
	cki_enroll_presence(e, now);
	if (e->ca == NULL) {
		ck_ctx_clear_error(e->ctx);
		return;
	}
	sign_ready(e);
	(void)cki_enroll_crl_job(e);
	ck_ctx_clear_error(e->ctx);
}
