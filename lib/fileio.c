/*
 * fileio.c: reading input files and replacing output files atomically.
 *
 * Guarantee: ck_write_file_atomic() leaves `path` either as it was or with
 * the whole new content, whatever fails and wherever the process dies. It
 * writes a temporary file in the same directory, fsyncs it, renames it over
 * `path` (atomic on POSIX), then fsyncs the directory so the rename itself
 * survives a power cut. The temporary file is removed on every failure.
 *
 * Fault injection: CERTKIT_FAULT=write|fsync|rename makes that step fail, as
 * a full disk or an I/O error would; tests use it to prove the guarantee.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ck_internal.h"

bool
cki_fault(const char *step)
{
	const char *f = getenv("CERTKIT_FAULT");

	return f != NULL && strcmp(f, step) == 0;
}

ck_status
cki_read_file(ck_ctx *ctx, const char *path, uint8_t **bufp, size_t *lenp)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd;
	ck_status rv = CK_E_IO;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return cki_err(ctx, CK_E_IO, "%s: no such file", path);
		return cki_err(
		    ctx, CK_E_IO, "%s: cannot open: %s", path, strerror(errno));
	}
	if (fstat(fd, &st) == -1) {
		cki_err(ctx, CK_E_IO, "%s: %s", path, strerror(errno));
		goto err;
	}
	if (S_ISDIR(st.st_mode)) {
		cki_err(
		    ctx, CK_E_IO, "%s: is a directory, expected a file", path);
		goto err;
	}
	if (S_ISREG(st.st_mode) && (uintmax_t)st.st_size > CKI_MAX_FILE) {
		cki_err(ctx, CK_E_IO, "%s: file is %jd bytes; the limit is %u",
		    path, (intmax_t)st.st_size, CKI_MAX_FILE);
		goto err;
	}
	/* Read to EOF rather than trusting st_size: stdin and pipes work too.
	 */
	for (size_t cap = 0;;) {
		if (len == cap) {
			uint8_t *nb;

			if (cap >= CKI_MAX_FILE) {
				cki_err(ctx, CK_E_IO,
				    "%s: larger than %u bytes", path,
				    CKI_MAX_FILE);
				goto err;
			}
			cap = cap == 0 ? (size_t)st.st_size + 1 : cap * 2;
			if (cap < 4096)
				cap = 4096;
			if ((nb = realloc(buf, cap)) == NULL) {
				rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
				goto err;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			cki_err(ctx, CK_E_IO, "%s: read failed: %s", path,
			    strerror(errno));
			goto err;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	*bufp = buf;
	*lenp = len;
	return CK_OK;
err:
	close(fd);
	free(buf);
	return rv;
}

ck_status
cki_read_first_line(ck_ctx *ctx, const char *path, char **line)
{
	uint8_t *buf = NULL;
	size_t len = 0, n;
	ck_status rv;

	*line = NULL;
	if ((rv = cki_read_file(ctx, path, &buf, &len)) != CK_OK)
		return rv;
	for (n = 0; n < len && buf[n] != '\n' && buf[n] != '\r'; n++)
		;
	if ((*line = malloc(n + 1)) == NULL) {
		OPENSSL_clear_free(buf, len);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	memcpy(*line, buf, n);
	(*line)[n] = '\0';
	OPENSSL_clear_free(buf, len);
	return CK_OK;
}

ck_status
cki_fsync_dir(ck_ctx *ctx, const char *dir)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return cki_err(ctx, CK_E_IO, "%s: cannot open directory: %s",
		    dir, strerror(errno));
	if (cki_fault("fsyncdir") ? (errno = EIO, 1) : fsync(fd) == -1) {
		close(fd);
		return cki_err(
		    ctx, CK_E_IO, "%s: fsync failed: %s", dir, strerror(errno));
	}
	close(fd);
	return CK_OK;
}

ck_status
cki_mkdirs(ck_ctx *ctx, const char *path, unsigned int mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return cki_err(ctx, CK_E_USAGE, "%s: bad directory name", path);
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(buf, (mode_t)mode) == -1 && errno != EEXIST)
				return cki_err(ctx, CK_E_IO,
				    "%s: cannot create directory: %s", buf,
				    strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return CK_OK;
}

ck_status
cki_write_all(
    ck_ctx *ctx, int fd, const char *name, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len > 0) {
		ssize_t w;

		if (cki_fault("write")) {
			errno = ENOSPC;
			w = -1;
		} else {
			w = write(fd, p, len);
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return cki_err(ctx, CK_E_IO, "%s: write failed: %s",
			    name, strerror(errno));
		p += w;
		len -= (size_t)w;
	}
	return CK_OK;
}

ck_status
cki_write_new(ck_ctx *ctx, const char *path, const void *data, size_t len,
    unsigned int mode, bool sync)
{
	int fd;
	ck_status rv = CK_E_IO;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (fd == -1)
		return cki_err(ctx, CK_E_IO, "%s: cannot create: %s", path,
		    strerror(errno));
	/* The umask must not widen or narrow a key file's mode. */
	if (fchmod(fd, (mode_t)mode) == -1) {
		cki_err(ctx, CK_E_IO, "%s: chmod failed: %s", path,
		    strerror(errno));
		goto err;
	}
	if ((rv = cki_write_all(ctx, fd, path, data, len)) != CK_OK)
		goto err;
	rv = CK_E_IO;
	if (sync && (cki_fault("fsync") ? (errno = EIO, 1) : fsync(fd) == -1)) {
		cki_err(ctx, CK_E_IO, "%s: fsync failed: %s", path,
		    strerror(errno));
		goto err;
	}
	rv = CK_OK;
err:
	if (close(fd) == -1 && rv == CK_OK)
		rv = cki_err(ctx, CK_E_IO, "%s: close failed: %s", path,
		    strerror(errno));
	return rv;
}

ck_status
cki_replace(ck_ctx *ctx, const char *tmp, const char *path, const char *dir)
{
	if (cki_fault("rename") ? (errno = EIO, 1) : rename(tmp, path) == -1) {
		int e = errno;

		(void)unlink(tmp);
		return cki_err(
		    ctx, CK_E_IO, "%s: cannot replace: %s", path, strerror(e));
	}
	return cki_fsync_dir(ctx, dir);
}

ck_status
ck_write_file_atomic(ck_ctx *ctx, const char *path, const void *data,
    size_t len, unsigned int mode)
{
	char tmp[4096], dirbuf[4096];
	const char *dir;
	int fd = -1, n;
	ck_status rv = CK_E_IO;

	cki_begin(ctx);
	n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp) || strlen(path) >= sizeof(dirbuf))
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", path);
	memcpy(dirbuf, path, strlen(path) + 1);
	dir = dirname(dirbuf);

	/* O_EXCL: never follow or reuse something planted at the temp name. */
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (fd == -1)
		return cki_err(ctx, CK_E_IO, "%s: cannot create: %s", tmp,
		    strerror(errno));
	/* The umask must not widen or narrow a key file's mode. */
	if (fchmod(fd, (mode_t)mode) == -1) {
		cki_err(
		    ctx, CK_E_IO, "%s: chmod failed: %s", tmp, strerror(errno));
		goto err;
	}
	if ((rv = cki_write_all(ctx, fd, tmp, data, len)) != CK_OK)
		goto err;
	rv = CK_E_IO;
	if (cki_fault("fsync") ? (errno = EIO, 1) : fsync(fd) == -1) {
		cki_err(
		    ctx, CK_E_IO, "%s: fsync failed: %s", tmp, strerror(errno));
		goto err;
	}
	if (close(fd) == -1) {
		fd = -1;
		cki_err(
		    ctx, CK_E_IO, "%s: close failed: %s", tmp, strerror(errno));
		goto err;
	}
	return cki_replace(ctx, tmp, path, dir);
err:
	if (fd != -1)
		close(fd);
	(void)unlink(tmp);
	return rv;
}
