/* trust_fixture.c: a trust store in a temporary home (trust_fixture.h). */
#include <stdio.h>
#include <stdlib.h>

#include "testutil.h"
#include "trust_fixture.h"

int
trustfix_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char *a = read_text(pki("root-ca.pem"));
	char *b = read_text(pki("other-root.pem"));
	FILE *o;

	assert_non_null(f);
	assert_non_null(a);
	assert_non_null(b);
	snprintf(f->home, sizeof(f->home), "/tmp/certkit-test-trust.XXXXXX");
	assert_non_null(mkdtemp(f->home));
	snprintf(f->sys, sizeof(f->sys), "%s/system.pem", f->home);
	assert_non_null(o = fopen(f->sys, "w"));
	fputs(a, o);
	fputs(b, o);
	fclose(o);
	free(a);
	free(b);
	f->ctx = ck_ctx_new();
	ck_ctx_set_time(f->ctx, PINNED_TIME);
	assert_int_equal(ck_trust_new(f->ctx, f->home, &f->t), CK_OK);
	assert_int_equal(ck_trust_set_system_bundle(f->t, f->sys), CK_OK);
	unsetenv("CERTKIT_FAULT");
	*state = f;
	return 0;
}

int
trustfix_teardown(void **state)
{
	struct fx *f = *state;
	char cmd[400];

	ck_trust_free(f->t);
	ck_ctx_free(f->ctx);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->home);
	assert_int_equal(system(cmd), 0);
	unsetenv("CERTKIT_FAULT");
	free(f);
	return 0;
}
