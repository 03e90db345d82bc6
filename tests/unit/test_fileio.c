/*
 * test_fileio.c: lib/core/fileio.c: the atomic writer's guarantee (the old file
 * or the whole new one, never a mix, never a temporary file left behind),
 * modes independent of the umask, and the reader's errors.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_internal.h"
#include "testutil.h"

struct tmpdir {
	char path[256];
};

static void
mktmp(struct tmpdir *t)
{
	snprintf(t->path, sizeof(t->path), "%s/certkit-fileio.XXXXXX",
	    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(t->path));
}

static void
rmtmp(struct tmpdir *t)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->path);
	assert_int_equal(system(cmd), 0);
}

static const char *
join(const struct tmpdir *t, const char *name)
{
	static char buf[4][512];
	static int slot;
	char *out = buf[slot++ % 4];

	snprintf(out, sizeof(buf[0]), "%s/%s", t->path, name);
	return out;
}

static void
put(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(content, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* The whole file as a string (test files are small). */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(buf);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Number of directory entries whose name contains ".tmp.". */
static int
temp_files(const struct tmpdir *t)
{
	DIR *d = opendir(t->path);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strstr(e->d_name, ".tmp.") != NULL)
			n++;
	closedir(d);
	return n;
}

static unsigned
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (unsigned)(st.st_mode & 07777);
}

/* ---- modes ----------------------------------------------------------------
 */

static const struct {
	mode_t umask;
	unsigned mode;
} mode_cases[] = {
    {022, 0644},
    {022, 0600},
    {077, 0644},
    {077, 0600}, /* a tight umask must not narrow 0644 */
    {000, 0600},
    {000, 0644}, /* a loose one must not widen 0600 */
    {027, 0644},
    {002, 0600},
};

static void
test_modes_ignore_umask(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(mode_cases) / sizeof(mode_cases[0]);
	     i++) {
		struct tmpdir t;
		ck_ctx *ctx = ck_ctx_new();
		mode_t old = umask(mode_cases[i].umask);
		const char *p;
		char *got;

		mktmp(&t);
		p = join(&t, "out.pem");
		/* A new file, then a replacement of a file with another mode.
		 */
		assert_int_equal(
		    ck_write_file_atomic(ctx, p, "new", 3, mode_cases[i].mode),
		    CK_OK);
		assert_int_equal(mode_of(p), mode_cases[i].mode);
		assert_int_equal(chmod(p, 0666), 0);
		assert_int_equal(ck_write_file_atomic(
		                     ctx, p, "again", 5, mode_cases[i].mode),
		    CK_OK);
		assert_int_equal(mode_of(p), mode_cases[i].mode);
		got = slurp(p);
		assert_string_equal(got, "again");
		free(got);
		assert_int_equal(temp_files(&t), 0);
		umask(old);
		rmtmp(&t);
		ck_ctx_free(ctx);
	}
}

/* ---- faults ----------------------------------------------------------------
 */

static const struct {
	const char *fault;
	bool new_content; /* after the failure the file holds the new data */
} fault_cases[] = {
    {"write", false},
    {"fsync", false},
    {"rename", false},
    /* After the rename the new file is in place; the directory fsync
     * failing is still reported, since the rename may not survive a power
     * cut. */
    {"fsyncdir", true},
};

static void
test_faults_keep_old_file(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(fault_cases) / sizeof(fault_cases[0]);
	     i++) {
		struct tmpdir t;
		ck_ctx *ctx = ck_ctx_new();
		const char *p;
		char *got;

		mktmp(&t);
		p = join(&t, "fullchain.pem");
		put(p, "OLD CONTENT\n");
		assert_int_equal(chmod(p, 0640), 0);
		setenv("CERTKIT_FAULT", fault_cases[i].fault, 1);
		assert_int_equal(
		    ck_write_file_atomic(ctx, p, "NEW", 3, 0644), CK_E_IO);
		unsetenv("CERTKIT_FAULT");
		assert_int_equal(ck_ctx_status(ctx), CK_E_IO);
		/* The message names a file in the target directory. */
		assert_non_null(strstr(ck_ctx_error(ctx), t.path));
		got = slurp(p);
		assert_string_equal(
		    got, fault_cases[i].new_content ? "NEW" : "OLD CONTENT\n");
		free(got);
		if (!fault_cases[i].new_content)
			assert_int_equal(mode_of(p), 0640);
		assert_int_equal(temp_files(&t), 0);
		rmtmp(&t);
		ck_ctx_free(ctx);
	}
}

static void
test_fault_new_file_leaves_nothing(void **state)
{
	static const char *const faults[] = {"write", "fsync", "rename"};

	(void)state;
	for (size_t i = 0; i < 3; i++) {
		struct tmpdir t;
		ck_ctx *ctx = ck_ctx_new();
		const char *p;

		mktmp(&t);
		p = join(&t, "key.pem");
		setenv("CERTKIT_FAULT", faults[i], 1);
		assert_int_equal(
		    ck_write_file_atomic(ctx, p, "KEY", 3, 0600), CK_E_IO);
		unsetenv("CERTKIT_FAULT");
		assert_int_equal(access(p, F_OK), -1);
		assert_int_equal(temp_files(&t), 0);
		rmtmp(&t);
		ck_ctx_free(ctx);
	}
}

/* ---- hostile and impossible targets ----------------------------------------
 */

static void
test_planted_temp_symlink_not_followed(void **state)
{
	struct tmpdir t;
	ck_ctx *ctx = ck_ctx_new();
	char tmpname[600];
	const char *p, *victim;
	char *got;

	(void)state;
	mktmp(&t);
	p = join(&t, "out.pem");
	victim = join(&t, "victim");
	put(victim, "precious\n");
	snprintf(tmpname, sizeof(tmpname), "%s.tmp.%ld", p, (long)getpid());
	assert_int_equal(symlink(victim, tmpname), 0);
	assert_int_equal(ck_write_file_atomic(ctx, p, "data", 4, 0644), CK_OK);
	got = slurp(victim);
	assert_string_equal(got, "precious\n");
	free(got);
	got = slurp(p);
	assert_string_equal(got, "data");
	free(got);
	assert_int_equal(temp_files(&t), 0);
	rmtmp(&t);
	ck_ctx_free(ctx);
}

static void
test_write_errors(void **state)
{
	struct tmpdir t;
	ck_ctx *ctx = ck_ctx_new();
	char longpath[5000];

	(void)state;
	mktmp(&t);
	/* A directory that does not exist. */
	assert_int_equal(
	    ck_write_file_atomic(ctx, join(&t, "no/such/x.pem"), "x", 1, 0644),
	    CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(ctx), "no/such/x.pem"));
	/* A name longer than any path. */
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	/* (The message puts the 5000-byte path first, so the 1024-byte error
	 * buffer cuts off "path too long"; only the status is checked.) */
	assert_int_equal(
	    ck_write_file_atomic(ctx, longpath, "x", 1, 0644), CK_E_USAGE);
	/* The target is a directory: refused, nothing is lost. */
	assert_int_equal(mkdir(join(&t, "adir"), 0755), 0);
	assert_int_equal(
	    ck_write_file_atomic(ctx, join(&t, "adir"), "x", 1, 0644),
	    CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(ctx), "is a directory"));
	assert_int_equal(temp_files(&t), 0);
	/* An empty write is a valid, empty file. */
	assert_int_equal(
	    ck_write_file_atomic(ctx, join(&t, "empty"), "", 0, 0644), CK_OK);
	{
		struct stat st;

		assert_int_equal(stat(join(&t, "empty"), &st), 0);
		assert_int_equal(st.st_size, 0);
	}
	rmtmp(&t);
	ck_ctx_free(ctx);
}

/* Only an absent path or a regular file is replaced; a device, a FIFO or a
 * socket is refused and left as it is (as root, renaming over /dev/stdout
 * turned it into a file); a symlink is written through, and kept. */
static void
test_only_regular_files_replaced(void **state)
{
	struct tmpdir t;
	ck_ctx *ctx = ck_ctx_new();
	struct stat st;
	char *got;

	(void)state;
	mktmp(&t);
	assert_int_equal(mkfifo(join(&t, "fifo"), 0644), 0);
	assert_int_equal(
	    ck_write_file_atomic(ctx, join(&t, "fifo"), "x", 1, 0644),
	    CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(ctx), "is a FIFO"));
	assert_int_equal(lstat(join(&t, "fifo"), &st), 0);
	assert_true(S_ISFIFO(st.st_mode));
	/* A link to a regular file: the target gets the content, the link
	 * stays a link. */
	put(join(&t, "real.pem"), "old\n");
	assert_int_equal(symlink("real.pem", join(&t, "link.pem")), 0);
	assert_int_equal(
	    ck_write_file_atomic(ctx, join(&t, "link.pem"), "new", 3, 0600),
	    CK_OK);
	assert_int_equal(lstat(join(&t, "link.pem"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	got = slurp(join(&t, "real.pem"));
	assert_string_equal(got, "new");
	free(got);
	assert_int_equal(stat(join(&t, "real.pem"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	/* A link to a FIFO, and a dangling link: refused, left alone. */
	assert_int_equal(symlink("fifo", join(&t, "tofifo")), 0);
	assert_int_equal(
	    ck_write_file_atomic(ctx, join(&t, "tofifo"), "x", 1, 0644),
	    CK_E_USAGE);
	assert_int_equal(symlink("nowhere", join(&t, "dangling")), 0);
	assert_int_equal(
	    ck_write_file_atomic(ctx, join(&t, "dangling"), "x", 1, 0644),
	    CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(ctx), "resolves to nothing"));
	assert_int_equal(lstat(join(&t, "dangling"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	/* A character device (not replaceable as a user, but checked first:
	 * the message says what it is). */
	assert_int_equal(
	    ck_write_file_atomic(ctx, "/dev/null", "x", 1, 0644), CK_E_USAGE);
	assert_non_null(strstr(ck_ctx_error(ctx), "character device"));
	assert_int_equal(temp_files(&t), 0);
	rmtmp(&t);
	ck_ctx_free(ctx);
}

/* ---- reading ---------------------------------------------------------------
 */

static void
test_read_file(void **state)
{
	struct tmpdir t;
	ck_ctx *ctx = ck_ctx_new();
	uint8_t *buf = NULL;
	size_t len = 0;

	(void)state;
	mktmp(&t);
	put(join(&t, "f"), "hello\n");
	assert_int_equal(cki_read_file(ctx, join(&t, "f"), &buf, &len), CK_OK);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "hello\n", 6);
	free(buf);

	put(join(&t, "empty"), "");
	buf = NULL;
	assert_int_equal(
	    cki_read_file(ctx, join(&t, "empty"), &buf, &len), CK_OK);
	assert_int_equal(len, 0);
	free(buf);

	assert_int_equal(
	    cki_read_file(ctx, join(&t, "missing"), &buf, &len), CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(ctx), "no such file"));
	assert_int_equal(cki_read_file(ctx, t.path, &buf, &len), CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(ctx), "is a directory"));
	/* The test PKI's files read back whole. */
	buf = NULL;
	assert_int_equal(
	    cki_read_file(ctx, pki("random.bin"), &buf, &len), CK_OK);
	assert_int_equal(len, 64);
	free(buf);
	rmtmp(&t);
	ck_ctx_free(ctx);
}

static void
test_mkdirs(void **state)
{
	struct tmpdir t;
	ck_ctx *ctx = ck_ctx_new();
	struct stat st;

	(void)state;
	mktmp(&t);
	assert_int_equal(cki_mkdirs(ctx, join(&t, "a/b/c"), 0700), CK_OK);
	assert_int_equal(stat(join(&t, "a/b/c"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	/* Again: existing directories are fine. */
	assert_int_equal(cki_mkdirs(ctx, join(&t, "a/b/c"), 0700), CK_OK);
	assert_int_equal(cki_mkdirs(ctx, "", 0700), CK_E_USAGE);
	/* A file in the way. */
	put(join(&t, "file"), "x");
	assert_int_equal(cki_mkdirs(ctx, join(&t, "file/sub"), 0700), CK_E_IO);
	assert_non_null(strstr(ck_ctx_error(ctx), "cannot create directory"));
	rmtmp(&t);
	ck_ctx_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_modes_ignore_umask),
	    cmocka_unit_test(test_faults_keep_old_file),
	    cmocka_unit_test(test_fault_new_file_leaves_nothing),
	    cmocka_unit_test(test_planted_temp_symlink_not_followed),
	    cmocka_unit_test(test_write_errors),
	    cmocka_unit_test(test_only_regular_files_replaced),
	    cmocka_unit_test(test_read_file),
	    cmocka_unit_test(test_mkdirs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
