/*
 * test_identity_store.c: lib/identity/identity_store.c: the crash-safe
 * change path (cki_commit) and the unsettled-change marker (cki_settle).
 *
 * For every row of the crash table at the top of identity_store.c, a
 * failure there (CERTKIT_FAULT) or a death there (CERTKIT_IDENTITY_CRASH_AT,
 * in a child process) leaves `current` naming the whole old identity or the
 * whole new one, and the next open or change cleans up what is left. A
 * marker that certkit did not write is refused, never acted on.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "identity_int.h"
#include "testutil.h"

static char home[64];

static int
setup(void **state)
{
	(void)state;
	snprintf(home, sizeof(home), "/tmp/certkit-ids.XXXXXX");
	if (mkdtemp(home) == NULL)
		return -1;
	setenv("CERTKIT_HOSTNAME", "device.example.test", 1);
	setenv("CERTKIT_IPS", "192.0.2.10", 1);
	setenv("SSL_CERT_FILE", pki("root-ca.pem"), 1);
	unsetenv("CERTKIT_FAULT");
	unsetenv("CERTKIT_IDENTITY_CRASH_AT");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", home);
	return system(cmd) == 0 ? 0 : -1;
}

static void
fresh_home(void)
{
	teardown(NULL);
	mkdir(home, 0700);
}

static void
write_text(const char *rel, const char *text)
{
	char p[1024];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", home, rel);
	assert_non_null(f = fopen(p, "w"));
	fputs(text, f);
	fclose(f);
}

static void
remove_rel(const char *rel)
{
	char p[1024];

	snprintf(p, sizeof(p), "%s/%s", home, rel);
	assert_int_equal(unlink(p), 0);
}

static bool
exists(const char *rel)
{
	char p[1024];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", home, rel);
	return lstat(p, &st) == 0;
}

/* Entries of HOME/identity/SUB, dotfiles included ("." and ".." not). */
static int
count(const char *sub)
{
	char p[1024];
	DIR *d;
	struct dirent *e;
	int n = 0;

	snprintf(p, sizeof(p), "%s/identity/%s", home, sub);
	if ((d = opendir(p)) == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n +=
		    strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static ck_identity *
open_id(ck_ctx *ctx)
{
	ck_identity *id = NULL;

	if (ck_identity_new(ctx, home, &id) != CK_OK)
		fail_msg("open: %s", ck_ctx_error(ctx));
	return id;
}

/* `current` names a whole identity, version WANT: every file, the key of
 * the certificate, and no marker left. */
static void
assert_whole(ck_identity *id, const char *want)
{
	static const char *const files[] = {"key.pem", "cert.pem", "chain.pem",
	    "fullchain.pem", "bundle.pem", "identity.p12", "meta.json"};
	struct cki_material m = {0};
	char cur[256], dir[256], rel[300];

	assert_true(cki_current_id(id, cur));
	assert_string_equal(cur, want);
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(rel, sizeof(rel), "identity/current/%s", files[i]);
		if (!exists(rel))
			fail_msg("%s missing", rel);
	}
	snprintf(dir, sizeof(dir), "%s/identity/current", home);
	if (cki_material_read(id, dir, &m) != CK_OK)
		fail_msg("current: %s", ck_ctx_error(id->ctx));
	assert_int_equal(X509_check_private_key(m.leaf, m.key), 1);
	cki_material_free(&m);
	assert_false(exists("identity/.change"));
}

/* A default identity, OLD: its version in old. */
static ck_identity *
with_old(ck_ctx *ctx, char old[256])
{
	ck_identity *id;
	char *json = NULL;

	fresh_home();
	id = open_id(ctx);
	assert_int_equal(ck_identity_init(id, &json), CK_OK);
	ck_free(json);
	assert_true(cki_current_id(id, old));
	assert_int_not_equal(old[0], '\0');
	return id;
}

static json_t *
parse(char *json)
{
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	ck_free(json);
	return j;
}

/* The whole path: NEW current, OLD in its backup and nowhere else. */
static void
test_commit(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_identity *id;
	char old[256], cur[256], *json = NULL;
	json_t *j;

	(void)state;
	id = with_old(ctx, old);
	assert_int_equal(ck_identity_reset(id, &json), CK_OK);
	j = parse(json);
	assert_true(json_is_true(json_object_get(j, "changed")));
	assert_false(json_is_true(json_object_get(j, "rolled_back")));
	assert_string_equal(
	    json_string_value(json_object_get(j, "previous")), old);
	assert_true(json_is_string(json_object_get(j, "backup")));
	assert_true(cki_current_id(id, cur));
	assert_string_not_equal(cur, old);
	assert_string_equal(
	    json_string_value(json_object_get(j, "version")), cur);
	json_decref(j);
	assert_whole(id, cur);
	assert_int_equal(count("versions"), 1);
	assert_int_equal(count("backups"), 1);
	ck_identity_free(id);
	ck_ctx_free(ctx);
}

/*
 * A step that fails (a full disk, a failing self-test) leaves everything as
 * it was: the old identity whole, no new version, no backup, no marker.
 * Each fault hits the first step that does that operation: writing the
 * version (write, fsync, fsyncdir), renaming it (rename), the self-test.
 */
static void
test_fault_keeps_old(void **state)
{
	static const char *const faults[] = {
	    "write", "fsync", "fsyncdir", "rename", "selftest"};

	(void)state;
	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		ck_identity *id;
		char old[256], *json = NULL;
		ck_status st;

		id = with_old(ctx, old);
		setenv("CERTKIT_FAULT", faults[i], 1);
		st = ck_identity_reset(id, &json);
		unsetenv("CERTKIT_FAULT");
		if (strcmp(faults[i], "selftest") == 0) {
			/* After the flip: rolled back, and the report says
			 * why. */
			json_t *j;

			assert_int_equal(st, CK_OK);
			j = parse(json);
			assert_false(
			    json_is_true(json_object_get(j, "changed")));
			assert_true(
			    json_is_true(json_object_get(j, "rolled_back")));
			assert_non_null(
			    strstr(json_string_value(
			               json_object_get(j, "rollback_reason")),
			        "self-test"));
			json_decref(j);
		} else if (st == CK_OK) {
			fail_msg("fault %s: the change succeeded", faults[i]);
		} else {
			assert_null(json);
		}
		assert_whole(id, old);
		assert_int_equal(count("versions"), 1);
		assert_int_equal(count("backups"), 0);
		ck_identity_free(id);
		ck_ctx_free(ctx);
	}
}

/* on_change fails: `current` goes back to OLD, and on_change runs again for
 * the rollback. */
static void
test_on_change_fails(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_identity *id;
	char old[256], *json = NULL;
	json_t *j;

	(void)state;
	id = with_old(ctx, old);
	ck_identity_free(id);
	write_text("certkit.conf", "[identity]\non_change = false\n");
	id = open_id(ctx);
	assert_int_equal(ck_identity_reset(id, &json), CK_OK);
	j = parse(json);
	assert_false(json_is_true(json_object_get(j, "changed")));
	assert_true(json_is_true(json_object_get(j, "rolled_back")));
	assert_non_null(
	    strstr(json_string_value(json_object_get(j, "rollback_reason")),
	        "on_change"));
	assert_true(json_is_object(json_object_get(j, "on_change")));
	assert_true(
	    json_is_object(json_object_get(j, "on_change_after_rollback")));
	assert_string_equal(
	    json_string_value(json_object_get(j, "version")), old);
	json_decref(j);
	assert_whole(id, old);
	assert_int_equal(count("versions"), 1);
	assert_int_equal(count("backups"), 0);
	ck_identity_free(id);
	ck_ctx_free(ctx);
}

struct crash {
	const char *at;
	bool is_new;         /* NEW is current after recovery */
	const char *outcome; /* the marker's outcome; NULL: no marker */
};

/* Every crash point of the change path, in order. */
static const struct crash crashes[] = {
    {"version-partial", false, NULL},
    {"version-written", false, NULL},
    {"backup-partial", false, NULL},
    {"backup-written", false, NULL},
    {"flip-symlink", false, "not_applied"},
    {"flipped", false, "rolled_back"},
    {"selftest-done", false, "rolled_back"},
    {"on-change-done", true, NULL},
};

/* Dies at c->at in a child, as a power cut would; then the next open
 * settles the change and the next change cleans up. */
static void
test_crash_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(crashes) / sizeof(crashes[0]); i++) {
		const struct crash *c = &crashes[i];
		ck_ctx *ctx = ck_ctx_new();
		ck_identity *id;
		char old[256], cur[256], *json = NULL;
		const char *rec;
		int status = 0;
		pid_t pid;

		id = with_old(ctx, old);
		ck_identity_free(id);
		fflush(NULL);
		if ((pid = fork()) == 0) {
			ck_ctx *cctx = ck_ctx_new();
			ck_identity *cid = NULL;
			char *cjson = NULL;

			setenv("CERTKIT_IDENTITY_CRASH_AT", c->at, 1);
			if (ck_identity_new(cctx, home, &cid) == CK_OK &&
			    ck_identity_reset(cid, &cjson) == CK_OK)
				_exit(0); /* the crash point was not reached */
			_exit(1);
		}
		assert_true(pid > 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 9)
			fail_msg("%s: the child did not die there", c->at);
		assert_int_equal(
		    exists("identity/.change"), c->outcome != NULL);

		id = open_id(ctx);
		rec = ck_identity_recovered(id);
		if (c->outcome == NULL) {
			assert_null(rec);
		} else {
			assert_non_null(rec);
			assert_string_equal(json_string_value(json_object_get(
			                        id->recovered, "outcome")),
			    c->outcome);
		}
		assert_true(cki_current_id(id, cur));
		if (c->is_new)
			assert_string_not_equal(cur, old);
		else
			assert_string_equal(cur, old);
		assert_whole(id, cur);
		/* The next change recovers what is left and succeeds. */
		assert_int_equal(ck_identity_reset(id, &json), CK_OK);
		ck_free(json);
		assert_true(cki_current_id(id, cur));
		assert_whole(id, cur);
		assert_int_equal(count("versions"), 1);
		ck_identity_free(id);
		ck_ctx_free(ctx);
	}
}

/*
 * Markers certkit did not write: refused with an error that names the
 * file, and nothing is changed (current stays, the marker stays for the
 * admin to look at).
 */
static void
test_marker_refused(void **state)
{
	static const char *const bad[] = {
	    "hello\n",
	    "certkit identity change 2\nold \nnew X\nbackup \naction reset\n",
	    "certkit identity change 1\nold \nnew ../../etc\nbackup \n"
	    "action reset\n",
	    "certkit identity change 1\nold \nnew X/../../../etc\nbackup \n"
	    "action reset\n",
	    "certkit identity change 1\nold .hidden\nnew X\nbackup \n"
	    "action reset\n",
	    "certkit identity change 1\nold \nnew \nbackup \naction reset\n",
	    "certkit identity change 1\nold \nbackup \naction reset\n",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_ctx *ctx = ck_ctx_new();
		ck_identity *id;
		char old[256];

		id = with_old(ctx, old);
		ck_identity_free(id);
		write_text("identity/.change", bad[i]);
		id = NULL;
		if (ck_identity_new(ctx, home, &id) != CK_E_FORMAT)
			fail_msg("marker %zu: accepted", i);
		assert_non_null(strstr(ck_ctx_error(ctx), ".change"));
		assert_true(exists("identity/.change"));
		ck_identity_free(id);
		/* Moved away, the identity is as it was. */
		remove_rel("identity/.change");
		id = open_id(ctx);
		assert_whole(id, old);
		ck_identity_free(id);
		ck_ctx_free(ctx);
	}
}

/* Markers certkit wrote, for changes that never took effect or had nothing
 * to go back to: settled without touching `current`. */
static void
test_marker_settled(void **state)
{
	ck_ctx *ctx = ck_ctx_new();
	ck_identity *id;
	char old[256], text[1024];

	(void)state;
	/* The flip never happened: NEW is not current. */
	id = with_old(ctx, old);
	ck_identity_free(id);
	write_text("identity/.change",
	    "certkit identity change 1\nold \nnew 20260101T000000Z-abcdef\n"
	    "backup \naction reset\n");
	id = open_id(ctx);
	assert_string_equal(
	    json_string_value(json_object_get(id->recovered, "outcome")),
	    "not_applied");
	assert_non_null(strstr(ck_identity_recovered(id), "before it took"));
	assert_whole(id, old);
	ck_identity_free(id);
	/* Killed after the first identity's flip: there is nothing to go
	 * back to, so it stays. */
	snprintf(text, sizeof(text),
	    "certkit identity change 1\nold \nnew %s\nbackup \naction init\n",
	    old);
	write_text("identity/.change", text);
	id = open_id(ctx);
	assert_string_equal(
	    json_string_value(json_object_get(id->recovered, "outcome")),
	    "kept");
	assert_whole(id, old);
	ck_identity_free(id);
	/* Settled once: the next open has nothing to say. */
	id = open_id(ctx);
	assert_null(ck_identity_recovered(id));
	ck_identity_free(id);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_commit),
	    cmocka_unit_test(test_fault_keeps_old),
	    cmocka_unit_test(test_on_change_fails),
	    cmocka_unit_test(test_crash_table),
	    cmocka_unit_test(test_marker_refused),
	    cmocka_unit_test(test_marker_settled),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
