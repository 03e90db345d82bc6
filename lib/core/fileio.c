/*
 * fileio.c: reading input files and replacing output files atomically.
 *
 * Guarantee: ck_write_file_atomic() leaves `path` either as it was or with
 * the whole new content, whatever fails and wherever the process dies. It
 * writes a temporary file in the same directory, fsyncs it, renames it over
 * `path` (atomic on POSIX), then fsyncs the directory so the rename itself
 * survives a power cut. The temporary file is removed on every failure.
 *
 * What may be at `path` (checked with lstat(2) before anything is written):
 *  - nothing, or a regular file: it is replaced as above;
 *  - a symbolic link: the write goes through to the file the link resolves
 *    to (realpath(3)), which is replaced atomically in its own directory;
 *    the link itself is kept, so an admin's /etc/ssl/... -> /data/...
 *    link keeps working. A link that resolves to nothing (dangling) or to
 *    something that is not a regular file is refused;
 *  - anything else (a device such as /dev/stdout or /dev/full, a FIFO, a
 *    socket, a directory) is refused with CK_E_USAGE: renaming over it
 *    would silently replace the device node with a file.
 * The trust store's and the identity's own symlink flips ("out",
 * "current") do not come through here: they use cki_replace().
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

/* "a character device", for the refusal message. */
static const char *
kind_of(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISFIFO(m))
		return "a FIFO (named pipe)";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/*
 * Where the atomic writer may put its file: `path` itself when it is absent
 * or a regular file, the file a symlink resolves to, or an error (see the
 * header comment). `real` receives the path to replace.
 */
static ck_status
write_target(ck_ctx *ctx, const char *path, char *real, size_t size)
{
	struct stat st;
	char *r;
	size_t n;

	if (lstat(path, &st) == -1) {
		if (errno == ENAMETOOLONG)
			return cki_err(
			    ctx, CK_E_USAGE, "%s: path too long", path);
		if (errno != ENOENT)
			return cki_err(
			    ctx, CK_E_IO, "%s: %s", path, strerror(errno));
		r = NULL;
	} else if (S_ISREG(st.st_mode)) {
		r = NULL;
	} else if (!S_ISLNK(st.st_mode)) {
		return cki_err(ctx, CK_E_USAGE,
		    "%s: is %s; certkit writes a file by replacing it, and "
		    "would replace this with a regular file. Write to a "
		    "regular file (or a new name) instead",
		    path, kind_of(st.st_mode));
	} else if ((r = realpath(path, NULL)) == NULL) {
		return cki_err(ctx, CK_E_USAGE,
		    "%s: is a symbolic link that resolves to nothing (%s); "
		    "certkit writes through a link to its file, so create "
		    "the target or remove the link",
		    path, strerror(errno));
	} else if (stat(r, &st) == -1 || !S_ISREG(st.st_mode)) {
		ck_status rv = cki_err(ctx, CK_E_USAGE,
		    "%s: is a symbolic link to %s, which is %s; certkit "
		    "writes through a link only to a regular file",
		    path, r, kind_of(st.st_mode));

		free(r);
		return rv;
	}
	n = strlen(r != NULL ? r : path);
	if (n >= size) {
		free(r);
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", path);
	}
	memcpy(real, r != NULL ? r : path, n + 1);
	free(r);
	return CK_OK;
}

ck_status
ck_write_file_atomic(ck_ctx *ctx, const char *path, const void *data,
    size_t len, unsigned int mode)
{
	char tmp[4096], dirbuf[4096], real[4096];
	const char *dir;
	int fd = -1, n;
	ck_status rv = CK_E_IO;

	cki_begin(ctx);
	if ((rv = write_target(ctx, path, real, sizeof(real))) != CK_OK)
		return rv;
	rv = CK_E_IO;
	path = real;
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

bool
cki_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

bool
cki_path_under(const char *path, const char *dir)
{
	char pbuf[4096], *rp = NULL, *rd = NULL, *parent;
	size_t n;
	bool under = false;

	/* A new file: its directory decides (resolved, so links count). */
	if ((rp = realpath(path, NULL)) == NULL &&
	    strlen(path) < sizeof(pbuf)) {
		memcpy(pbuf, path, strlen(path) + 1);
		parent = dirname(pbuf);
		rp = realpath(parent, NULL);
	}
	if (rp != NULL && (rd = realpath(dir, NULL)) != NULL) {
		n = strlen(rd);
		under =
		    strncmp(rp, rd, n) == 0 && (rp[n] == '\0' || rp[n] == '/');
	}
	free(rp);
	free(rd);
	return under;
}
