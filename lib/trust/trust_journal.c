/*
 * trust_journal.c: makes a change of the trust store's inputs (add of many
 * certificates, distrust --expired, remove, undistrust) all or nothing,
 * even when the process is killed in the middle of it.
 *
 * A change writes the journal HOME/trust/.journal (atomically, fsynced)
 * before it touches anchors/ or distrust/. The journal names every input
 * file the change creates ("+") and every one it takes out ("-", renamed to
 * the dotfile DIR/.NAME.removed, which the readers ignore). The change is
 * committed when the journal is deleted, after the rebuild has published
 * the new outputs; until then it can be undone.
 *
 *   (none) --cki_tj_begin--> journaled --write inputs, rebuild--> built
 *   built  --cki_tj_commit: rename .journal .journal.done--> committed
 *   committed --delete the "-" dotfiles, unlink .journal.done--> (none)
 *   journaled | built --cki_tj_undo, cki_tj_forget--> (none), as before
 *
 * cki_tj_undo runs when a step of the change fails, and when the next
 * certkit process takes the store's lock and finds a journal (a change was
 * killed): cki_trust_lock calls cki_trust_recover, readers included (they
 * take the exclusive lock for it). A ".journal.done" found then is a
 * committed change: cki_tj_finish deletes its dotfiles and the journal. It
 * deletes every "+" file, renames every
 * "-" file back, and, in recovery, rebuilds the outputs from the restored
 * inputs (the killed change may have published its own). The store is then
 * entirely as before the change, so running the change again works.
 *
 * Invariants:
 *  1. No input file is created or taken out unless the journal naming it
 *     is on disk first.
 *  2. A "+" file did not exist when the journal was written (the change
 *     checked that under the exclusive lock), so deleting it loses nothing.
 *  3. Undo is idempotent: a kill during recovery is recovered the same way.
 *
 * Journal format (text, LF-terminated lines, paths relative to trust/,
 * each "anchors/NAME" or "distrust/NAME", NAME without "/"):
 *   certkit trust journal 1
 *   + anchors/isrg-root-x1.pem
 *   - distrust/sha256-HEX
 *
 * The "+" files are created with O_EXCL and no temporary name
 * (cki_write_new): a half-written one is removed by the undo like a whole
 * one, and nothing else is left behind.
 *
 * Test hook: CERTKIT_TRUST_CRASH_AT=STEP ends the process with _exit(9) at
 * that step (journaled, inputs-partial, inputs-written, rebuilt,
 * committed), as a kill -9 would.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trust_int.h"

#define TJ_HEADER "certkit trust journal 1\n"

void
cki_tj_crash_point(const char *step)
{
	const char *at = getenv("CERTKIT_TRUST_CRASH_AT");

	if (at != NULL && strcmp(at, step) == 0)
		_exit(9);
}

static ck_status
tj_path(ck_trust *t, char *buf, size_t size, const char *rel)
{
	if ((size_t)snprintf(buf, size, "%s/%s", t->dir, rel) >= size)
		return cki_err(t->ctx, CK_E_USAGE, "%s: path too long", t->dir);
	return CK_OK;
}

void
cki_tj_init(struct cki_tjournal *j)
{
	memset(j, 0, sizeof(*j));
}

void
cki_tj_free(struct cki_tjournal *j)
{
	free(j->text);
	cki_tj_init(j);
}

ck_status
cki_tj_add(ck_trust *t, struct cki_tjournal *j, char op, const char *dir,
    const char *name)
{
	size_t need = strlen(dir) + strlen(name) + 5;

	if (j->len == 0)
		need += sizeof(TJ_HEADER);
	if (j->len + need > j->cap) {
		size_t ncap = (j->cap ? j->cap * 2 : 4096) + need;
		char *n = realloc(j->text, ncap);

		if (n == NULL)
			return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
		j->text = n;
		j->cap = ncap;
	}
	if (j->len == 0)
		j->len = (size_t)snprintf(j->text, j->cap, "%s", TJ_HEADER);
	j->len += (size_t)snprintf(
	    j->text + j->len, j->cap - j->len, "%c %s/%s\n", op, dir, name);
	return CK_OK;
}

ck_status
cki_tj_begin(ck_trust *t, const struct cki_tjournal *j)
{
	char path[4096];
	ck_status rv;

	if ((rv = tj_path(t, path, sizeof(path), ".journal")) != CK_OK)
		return rv;
	rv = ck_write_file_atomic(t->ctx, path, j->text, j->len, 0644);
	if (rv == CK_OK)
		cki_tj_crash_point("journaled");
	return rv;
}

/* "anchors/x.pem" -> "TRUST/anchors/.x.pem.removed" */
static ck_status
aside_path(ck_trust *t, char *buf, size_t size, const char *rel)
{
	const char *slash = strchr(rel, '/');

	if ((size_t)snprintf(buf, size, "%s/%.*s/.%s.removed", t->dir,
	        (int)(slash - rel), rel, slash + 1) >= size)
		return cki_err(t->ctx, CK_E_USAGE, "%s: path too long", t->dir);
	return CK_OK;
}

ck_status
cki_tj_set_aside(ck_trust *t, const char *dir, const char *name)
{
	char rel[4096], path[4096], aside[4096];
	ck_status rv;

	snprintf(rel, sizeof(rel), "%s/%s", dir, name);
	if ((rv = tj_path(t, path, sizeof(path), rel)) != CK_OK ||
	    (rv = aside_path(t, aside, sizeof(aside), rel)) != CK_OK)
		return rv;
	if (rename(path, aside) == -1)
		return cki_err(t->ctx, CK_E_IO, "%s: cannot remove: %s", path,
		    strerror(errno));
	return CK_OK;
}

/* Checks one journal line; returns the relative path, or NULL. */
static const char *
tj_line(char *line, char *op)
{
	char *rel = line + 2, *slash;

	if ((line[0] != '+' && line[0] != '-') || line[1] != ' ')
		return NULL;
	*op = line[0];
	if (strncmp(rel, "anchors/", 8) != 0 && strncmp(rel, "distrust/", 9))
		return NULL;
	slash = strchr(rel, '/');
	if (slash[1] == '\0' || slash[1] == '.' || strchr(slash + 1, '/'))
		return NULL;
	return rel;
}

/* Undoes (or, with commit, finishes) every line of the journal text. */
static ck_status
tj_apply(ck_trust *t, char *text, bool commit)
{
	char path[4096], aside[4096], op = 0;
	const char *rel;
	ck_status rv;

	if (strncmp(text, TJ_HEADER, strlen(TJ_HEADER)) != 0)
		return cki_err(t->ctx, CK_E_FORMAT,
		    "%s/.journal: not a certkit trust journal; move it away "
		    "and run `certkit trust rebuild`",
		    t->dir);
	for (char *l = text + strlen(TJ_HEADER), *nl; *l != '\0'; l = nl + 1) {
		if ((nl = strchr(l, '\n')) == NULL)
			break; /* a torn last line cannot be: written whole */
		*nl = '\0';
		if ((rel = tj_line(l, &op)) == NULL)
			return cki_err(t->ctx, CK_E_FORMAT,
			    "%s/.journal: bad line '%s'; move it away and run "
			    "`certkit trust rebuild`",
			    t->dir, l);
		if ((rv = tj_path(t, path, sizeof(path), rel)) != CK_OK ||
		    (rv = aside_path(t, aside, sizeof(aside), rel)) != CK_OK)
			return rv;
		if (commit && op == '-')
			(void)unlink(aside);
		else if (!commit && op == '+' && unlink(path) == -1 &&
		    errno != ENOENT)
			return cki_err(t->ctx, CK_E_IO, "%s: cannot remove: %s",
			    path, strerror(errno));
		else if (!commit && op == '-' && rename(aside, path) == -1 &&
		    errno != ENOENT)
			return cki_err(t->ctx, CK_E_IO,
			    "%s: cannot put back from %s: %s", path, aside,
			    strerror(errno));
	}
	return CK_OK;
}

ck_status
cki_tj_commit(ck_trust *t, struct cki_tjournal *j)
{
	char path[4096], done[4096];
	ck_status rv;

	cki_tj_crash_point("rebuilt");
	if ((rv = tj_path(t, path, sizeof(path), ".journal")) != CK_OK ||
	    (rv = tj_path(t, done, sizeof(done), ".journal.done")) != CK_OK)
		return rv;
	/* The commit point: one rename(2). */
	if (rename(path, done) == -1)
		return cki_err(t->ctx, CK_E_IO, "%s: cannot rename: %s", path,
		    strerror(errno));
	if ((rv = cki_fsync_dir(t->ctx, t->dir)) != CK_OK)
		return rv;
	cki_tj_crash_point("committed");
	/* The dotfiles of the "-" lines are garbage now. */
	if ((rv = tj_apply(t, j->text, true)) != CK_OK)
		return rv;
	return cki_tj_forget(t);
}

/* Reads the journal file NAME (".journal" or ".journal.done") as text;
 * *text stays NULL when there is none. */
static ck_status
tj_read(ck_trust *t, const char *name, char **text)
{
	char path[4096];
	uint8_t *buf = NULL;
	size_t len = 0;
	ck_status rv;

	*text = NULL;
	if ((rv = tj_path(t, path, sizeof(path), name)) != CK_OK)
		return rv;
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return CK_OK;
	if ((rv = cki_read_file(t->ctx, path, &buf, &len)) != CK_OK)
		return rv;
	if ((*text = malloc(len + 1)) == NULL) {
		free(buf);
		return cki_err(t->ctx, CK_E_NOMEM, "out of memory");
	}
	memcpy(*text, buf, len);
	(*text)[len] = '\0';
	free(buf);
	return CK_OK;
}

ck_status
cki_tj_finish(ck_trust *t, bool *found)
{
	char *text;
	ck_status rv;

	*found = false;
	if ((rv = tj_read(t, ".journal.done", &text)) != CK_OK || text == NULL)
		return rv;
	*found = true;
	rv = tj_apply(t, text, true);
	free(text);
	return rv == CK_OK ? cki_tj_forget(t) : rv;
}

static ck_status
fsync_if(ck_trust *t, const char *dir)
{
	if (access(dir, F_OK) == -1 && errno == ENOENT)
		return CK_OK;
	return cki_fsync_dir(t->ctx, dir);
}

ck_status
cki_tj_undo(ck_trust *t, bool *found)
{
	char *text;
	ck_status rv;

	/* No journal: it was never written. */
	*found = false;
	if ((rv = tj_read(t, ".journal", &text)) != CK_OK || text == NULL)
		return rv;
	*found = true;
	if ((rv = tj_apply(t, text, false)) == CK_OK &&
	    (rv = fsync_if(t, t->anchors)) == CK_OK)
		rv = fsync_if(t, t->distrust);
	free(text);
	return rv;
}

ck_status
cki_tj_forget(ck_trust *t)
{
	static const char *const names[] = {".journal", ".journal.done"};
	char path[4096];
	ck_status rv;

	for (size_t i = 0; i < 2; i++) {
		if ((rv = tj_path(t, path, sizeof(path), names[i])) != CK_OK)
			return rv;
		if (unlink(path) == -1 && errno != ENOENT)
			return cki_err(t->ctx, CK_E_IO, "%s: cannot remove: %s",
			    path, strerror(errno));
	}
	return cki_fsync_dir(t->ctx, t->dir);
}
