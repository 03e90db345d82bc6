/*
 * config.c: $CERTKIT_HOME/certkit.conf, read with inih.
 *
 * The whole file is read into memory and fed to inih line by line through
 * our own reader, which counts lines (Debian's inih is built without line
 * numbers in the handler) and catches lines longer than inih's buffer,
 * which inih would otherwise split into two bogus lines.
 *
 * Guarantees (see config_int.h for the invariants):
 *  1. Every error names the file and line, what was expected and what was
 *     found.
 *  2. Parsing never fails half-way into a partly filled configuration: the
 *     caller gets the whole configuration or an error.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

#include "config_int.h"

/* inih's line buffer (INI_MAX_LINE) minus CR, LF and NUL. */
#define LINE_MAX_CHARS 197

struct entry {
	char *section, *key, *value;
	int line;
};

struct cki_config {
	char *name;
	struct entry *e;
	size_t n, cap;
};

struct parse {
	cki_config *cfg;
	ck_ctx *ctx;
	const char *text;
	size_t len, off;
	int line;      /* the line the reader returned last */
	bool indented; /* ...and it starts with white space */
	int long_line; /* first over-long line, or 0 */
	int bad_line;  /* first line the handler rejected, or 0 */
	bool nomem;
};

/* ---- string lists ------------------------------------------------------- */

bool
cki_strlist_has(const struct cki_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcasecmp(l->v[i], s) == 0)
			return true;
	return false;
}

ck_status
cki_strlist_add(struct cki_strlist *l, const char *s)
{
	char *c;

	if (cki_strlist_has(l, s))
		return CK_OK;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		char **nv = realloc(l->v, cap * sizeof(*nv));

		if (nv == NULL)
			return CK_E_NOMEM;
		l->v = nv;
		l->cap = cap;
	}
	if ((c = strdup(s)) == NULL)
		return CK_E_NOMEM;
	l->v[l->n++] = c;
	return CK_OK;
}

void
cki_strlist_clear(struct cki_strlist *l)
{
	cki_strv_free(l->v, l->n);
	l->v = NULL;
	l->n = l->cap = 0;
}

void
cki_strv_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* ---- parsing ------------------------------------------------------------ */

static char *
reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	size_t n = 0, cap = (size_t)num - 1;

	if (p->off >= p->len)
		return NULL;
	p->line++;
	p->indented = p->text[p->off] == ' ' || p->text[p->off] == '\t';
	while (p->off < p->len) {
		char c = p->text[p->off++];

		if (c == '\n')
			break;
		if (n < cap) {
			str[n++] = c;
		} else if (c != '\r' && p->long_line == 0) {
			p->long_line = p->line;
		}
	}
	str[n] = '\0';
	return str;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	cki_config *cfg = p->cfg;
	struct entry *e;
	size_t vl = strlen(value);

	if (name == NULL || name[0] == '\0') {
		if (p->bad_line == 0)
			p->bad_line = p->line;
		return 0;
	}
	/* A continuation line (inih's multi-line values: an indented line
	 * after a key) extends the previous value, one item per line. */
	if (p->indented && cfg->n > 0 &&
	    cfg->e[cfg->n - 1].line == p->line - 1 &&
	    strcmp(cfg->e[cfg->n - 1].section, section) == 0 &&
	    strcmp(cfg->e[cfg->n - 1].key, name) == 0) {
		char *old = cfg->e[cfg->n - 1].value, *nv;
		size_t ol = strlen(old);

		if ((nv = malloc(ol + vl + 2)) == NULL) {
			p->nomem = true;
			return 0;
		}
		memcpy(nv, old, ol);
		nv[ol] = '\n';
		memcpy(nv + ol + 1, value, vl + 1);
		free(old);
		cfg->e[cfg->n - 1].value = nv;
		cfg->e[cfg->n - 1].line = p->line;
		return 1;
	}
	if (cfg->n == cfg->cap) {
		size_t cap = cfg->cap ? cfg->cap * 2 : 16;
		struct entry *ne = realloc(cfg->e, cap * sizeof(*ne));

		if (ne == NULL) {
			p->nomem = true;
			return 0;
		}
		cfg->e = ne;
		cfg->cap = cap;
	}
	/* Remove one pair of surrounding double quotes. */
	if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
		value++;
		vl -= 2;
	}
	e = &cfg->e[cfg->n];
	e->section = strdup(section);
	e->key = strdup(name);
	e->value = strndup(value, vl);
	e->line = p->line;
	if (e->section == NULL || e->key == NULL || e->value == NULL) {
		free(e->section);
		free(e->key);
		free(e->value);
		p->nomem = true;
		return 0;
	}
	cfg->n++;
	return 1;
}

void
cki_config_free(cki_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n; i++) {
		free(cfg->e[i].section);
		free(cfg->e[i].key);
		free(cfg->e[i].value);
	}
	free(cfg->e);
	free(cfg->name);
	free(cfg);
}

ck_status
cki_config_load_mem(ck_ctx *ctx, const char *name, const char *text, size_t len,
    cki_config **out)
{
	return cki_config_load_mem_at(ctx, name, text, len, out, NULL);
}

ck_status
cki_config_load_mem_at(ck_ctx *ctx, const char *name, const char *text,
    size_t len, cki_config **out, int *bad_line)
{
	struct parse p;
	cki_config *cfg;
	ck_status rv = CK_E_FORMAT;
	int r;

	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->name = strdup(name)) == NULL) {
		free(cfg);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	if (memchr(text, '\0', len) != NULL) {
		cki_err(ctx, CK_E_FORMAT,
		    "%s: expected an INI text file, found a NUL byte (a binary "
		    "file?)",
		    name);
		goto err;
	}
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.ctx = ctx;
	p.text = text;
	p.len = len;
	r = ini_parse_stream(reader, &p, handler, &p);
	if (p.nomem) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto err;
	}
	if (p.long_line != 0) {
		cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: line is longer than %d characters; continue a "
		    "long list on indented lines, put a long command in a "
		    "script and name the script here",
		    name, p.long_line, LINE_MAX_CHARS);
		goto err;
	}
	if (r != 0 || p.bad_line != 0) {
		int line = p.bad_line != 0 ? p.bad_line : r;

		if (bad_line != NULL)
			*bad_line = line;

		cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: expected '[section]', 'key = value' or a comment "
		    "starting with '#' or ';'",
		    name, line);
		goto err;
	}
	*out = cfg;
	return CK_OK;
err:
	cki_config_free(cfg);
	return rv;
}

ck_status
cki_config_load_file(ck_ctx *ctx, const char *path, cki_config **out)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat st;
	ck_status rv;

	*out = NULL;
	if (stat(path, &st) == -1 && errno == ENOENT)
		return cki_config_load_mem(ctx, path, "", 0, out);
	if ((rv = cki_read_file(ctx, path, &buf, &len)) != CK_OK)
		return rv;
	rv = cki_config_load_mem(ctx, path, (const char *)buf, len, out);
	free(buf);
	return rv;
}

ck_status
cki_config_load(ck_ctx *ctx, const char *home, cki_config **out)
{
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/certkit.conf", home);

	*out = NULL;
	if (n < 0 || (size_t)n >= sizeof(path))
		return cki_err(ctx, CK_E_USAGE, "%s: path too long", home);
	return cki_config_load_file(ctx, path, out);
}

const char *
cki_config_name(const cki_config *cfg)
{
	return cfg->name;
}

/* The last entry for section/key, or NULL. */
static const struct entry *
find(const cki_config *cfg, const char *section, const char *key)
{
	for (size_t i = cfg->n; i-- > 0;)
		if (strcmp(cfg->e[i].section, section) == 0 &&
		    strcmp(cfg->e[i].key, key) == 0)
			return &cfg->e[i];
	return NULL;
}

const char *
cki_config_get(
    const cki_config *cfg, const char *section, const char *key, int *line)
{
	const struct entry *e = find(cfg, section, key);

	if (line != NULL)
		*line = e != NULL ? e->line : 0;
	return e != NULL ? e->value : NULL;
}

ck_status
cki_config_check_section(ck_ctx *ctx, const cki_config *cfg,
    const char *section, const char *const *known)
{
	for (size_t i = 0; i < cfg->n; i++) {
		const struct entry *e = &cfg->e[i];
		bool ok = false;

		if (strcmp(e->section, section) != 0)
			continue;
		for (size_t k = 0; known[k] != NULL; k++)
			if (strcmp(known[k], e->key) == 0)
				ok = true;
		if (!ok) {
			char list[512];
			size_t off = 0;

			list[0] = '\0';
			for (size_t k = 0; known[k] != NULL; k++) {
				int w = snprintf(list + off, sizeof(list) - off,
				    "%s%s", k ? ", " : "", known[k]);
				if (w < 0 || (size_t)w >= sizeof(list) - off)
					break;
				off += (size_t)w;
			}
			return cki_err(ctx, CK_E_FORMAT,
			    "%s:%d: unknown key '%s' in [%s]; known keys: %s",
			    cfg->name, e->line, e->key, section, list);
		}
		for (size_t j = 0; j < i; j++) {
			const struct entry *f = &cfg->e[j];

			if (strcmp(f->section, section) == 0 &&
			    strcmp(f->key, e->key) == 0)
				return cki_err(ctx, CK_E_FORMAT,
				    "%s:%d: '%s' is set twice in [%s] (first "
				    "at line %d); keep one",
				    cfg->name, e->line, e->key, section,
				    f->line);
		}
	}
	return CK_OK;
}

ck_status
cki_config_long(ck_ctx *ctx, const cki_config *cfg, const char *section,
    const char *key, long min, long max, long *out)
{
	const struct entry *e = find(cfg, section, key);
	char *end;
	long v;

	if (e == NULL)
		return CK_OK;
	errno = 0;
	v = strtol(e->value, &end, 10);
	if (e->value[0] == '\0' || *end != '\0' || errno != 0 || v < min ||
	    v > max)
		return cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: [%s] %s: expected a whole number from %ld to %ld, "
		    "found '%s'",
		    cfg->name, e->line, section, key, min, max, e->value);
	*out = v;
	return CK_OK;
}

ck_status
cki_config_bool(ck_ctx *ctx, const cki_config *cfg, const char *section,
    const char *key, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	const struct entry *e = find(cfg, section, key);

	if (e == NULL)
		return CK_OK;
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(e->value, yes[i]) == 0) {
			*out = true;
			return CK_OK;
		}
		if (strcasecmp(e->value, no[i]) == 0) {
			*out = false;
			return CK_OK;
		}
	}
	return cki_err(ctx, CK_E_FORMAT,
	    "%s:%d: [%s] %s: expected yes or no, found '%s'", cfg->name,
	    e->line, section, key, e->value);
}

/* Adds the items of a list value to l: split on ',' and new lines (a
 * continued value), trimmed, empty ones dropped. */
static ck_status
split_list(ck_ctx *ctx, const char *value, struct cki_strlist *l)
{
	for (const char *p = value; *p != '\0';) {
		const char *start, *end;
		char *item;

		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		start = p;
		while (*p != '\0' && *p != ',' && *p != '\n')
			p++;
		end = p;
		while (end > start && isspace((unsigned char)end[-1]))
			end--;
		if (end == start)
			continue;
		if ((item = strndup(start, (size_t)(end - start))) == NULL ||
		    cki_strlist_add(l, item) != CK_OK) {
			free(item);
			return cki_err(ctx, CK_E_NOMEM, "out of memory");
		}
		free(item);
	}
	return CK_OK;
}

ck_status
cki_config_list(ck_ctx *ctx, const cki_config *cfg, const char *section,
    const char *key, char ***itemsp, size_t *np)
{
	const struct entry *e = find(cfg, section, key);
	struct cki_strlist l = {0};

	if (e == NULL)
		return CK_OK;
	if (split_list(ctx, e->value, &l) != CK_OK) {
		cki_strlist_clear(&l);
		return CK_E_NOMEM;
	}
	cki_strv_free(*itemsp, *np);
	*itemsp = l.v;
	*np = l.n;
	return CK_OK;
}

ck_status
cki_config_list_all(
    ck_ctx *ctx, const cki_config *cfg, const char *key, struct cki_strlist *l)
{
	for (size_t i = 0; i < cfg->n; i++)
		if (strcasecmp(cfg->e[i].key, key) == 0 &&
		    split_list(ctx, cfg->e[i].value, l) != CK_OK)
			return CK_E_NOMEM;
	return CK_OK;
}

ck_status
cki_config_string(ck_ctx *ctx, const cki_config *cfg, const char *section,
    const char *key, char **out)
{
	const struct entry *e = find(cfg, section, key);
	char *c;

	if (e == NULL)
		return CK_OK;
	if ((c = strdup(e->value)) == NULL)
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	free(*out);
	*out = c;
	return CK_OK;
}

/* ---- [identity] --------------------------------------------------------- */

static const char *const keytypes[] = {"ec-p256", "rsa-2048", "rsa-3072"};

int
cki_keytype_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (strcasecmp(s, keytypes[i]) == 0)
			return i;
	return -1;
}

const char *
cki_keytype_name(int kt)
{
	return kt >= 0 && kt < 3 ? keytypes[kt] : "unknown";
}

void
cki_identity_conf_free(struct cki_identity_conf *c)
{
	if (c == NULL)
		return;
	cki_strlist_clear(&c->names);
	cki_strlist_clear(&c->ips);
	free(c->on_change);
	free(c->p12_password_file);
	memset(c, 0, sizeof(*c));
}

ck_status
cki_config_identity(
    ck_ctx *ctx, const cki_config *cfg, struct cki_identity_conf *out)
{
	static const char *const known[] = {"names", "ips", "key", "days",
	    "renew_before", "on_change", "on_change_timeout", "keep_backups",
	    "p12_password_file", "detect_names", "detect_ips", NULL};
	static const char S[] = "identity";
	const char *v;
	ck_status rv;
	int line;

	memset(out, 0, sizeof(*out));
	out->key = CKI_KEY_EC_P256;
	out->days = CKI_ID_DEFAULT_DAYS;
	out->renew_before = -1;
	out->on_change_timeout = CKI_ID_DEFAULT_ON_CHANGE_TIMEOUT;
	out->keep_backups = CKI_ID_DEFAULT_KEEP;
	out->detect_names = true;
	out->detect_ips = true;

	if ((rv = cki_config_check_section(ctx, cfg, S, known)) != CK_OK)
		goto err;
	if ((rv = cki_config_list(
	         ctx, cfg, S, "names", &out->names.v, &out->names.n)) != CK_OK)
		goto err;
	out->names.cap = out->names.n;
	if ((rv = cki_config_list(
	         ctx, cfg, S, "ips", &out->ips.v, &out->ips.n)) != CK_OK)
		goto err;
	out->ips.cap = out->ips.n;
	if ((v = cki_config_get(cfg, S, "key", &line)) != NULL &&
	    (out->key = cki_keytype_parse(v)) < 0) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: [identity] key: expected ec-p256, rsa-2048 or "
		    "rsa-3072, found '%s'",
		    cfg->name, line, v);
		goto err;
	}
	/* 825 days is the longest lifetime Apple platforms accept for any
	 * TLS server certificate, self-signed or not. */
	if ((rv = cki_config_long(ctx, cfg, S, "days", 1, 825, &out->days)) !=
	        CK_OK ||
	    (rv = cki_config_long(ctx, cfg, S, "renew_before", 0, 824,
	         &out->renew_before)) != CK_OK ||
	    (rv = cki_config_long(ctx, cfg, S, "on_change_timeout", 1, 3600,
	         &out->on_change_timeout)) != CK_OK ||
	    (rv = cki_config_long(ctx, cfg, S, "keep_backups", 1, 1000,
	         &out->keep_backups)) != CK_OK ||
	    (rv = cki_config_string(
	         ctx, cfg, S, "on_change", &out->on_change)) != CK_OK ||
	    (rv = cki_config_string(ctx, cfg, S, "p12_password_file",
	         &out->p12_password_file)) != CK_OK ||
	    (rv = cki_config_bool(
	         ctx, cfg, S, "detect_names", &out->detect_names)) != CK_OK ||
	    (rv = cki_config_bool(
	         ctx, cfg, S, "detect_ips", &out->detect_ips)) != CK_OK)
		goto err;
	if (out->on_change != NULL && out->on_change[0] == '\0') {
		free(out->on_change);
		out->on_change = NULL;
	}
	if (out->renew_before >= out->days) {
		v = cki_config_get(cfg, S, "renew_before", &line);
		rv = cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: [identity] renew_before (%ld days) must be shorter "
		    "than days (%ld): the default would be renewed at every "
		    "start",
		    cfg->name, line, out->renew_before, out->days);
		goto err;
	}
	return CK_OK;
err:
	cki_identity_conf_free(out);
	return rv;
}
