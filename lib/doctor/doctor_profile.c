/*
 * doctor_profile.c: the doctor's INI profile, one section per endpoint.
 *
 *     ; the Nx Cloud services a Nx Witness server depends on
 *     [nx-cloud]
 *     host = nxvms.com            ; or host:port, or https://host/
 *     port = 443                  ; default 443
 *     expect = public             ; public | private
 *     pin = sha256/BASE64, HEX    ; SPKI SHA-256 of the expected issuer/root
 *     client_cert = gw.p12        ; relative to the profile's directory
 *     client_key = gw.key         ; optional when client_cert holds the key
 *     required_roots = ISRG Root X1, Starfield Root Certificate Authority - G2
 *     proxy = http://proxy:3128   ; this endpoint only ("" or none: direct)
 *     address = 192.0.2.7         ; connect here, skip DNS (like --resolve)
 *     policy = strict             ; compat | strict (verify --policy)
 *
 * Guarantees:
 *  1. Every error names FILE:LINE, what was expected and what was found.
 *  2. A key this file does not know is an error (a typo must not silently
 *     drop a pin); a scalar key given twice is an error; a section given
 *     twice is an error.
 *  3. pin and required_roots may be repeated or continued on indented lines;
 *     the values add up.
 *  4. A profile is all or nothing: on any error no endpoint is added.
 *  5. Nothing inih would read its own way passes silently: a malformed
 *     [section] header, a section without keys, an overlong line or section
 *     name are errors on their own line (the reader checks each line before
 *     inih sees it); host = HOST:PORT and a different port = conflict.
 */
#include <ctype.h>
#include <libgen.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "doctor_int.h"

/* inih keeps a section name in 50 bytes (MAX_SECTION) and cuts a longer
 * one silently: longer names are refused before it sees them. */
#define PROFILE_SECTION_MAX 49

struct pstate {
	ck_ctx *ctx;
	const char *name; /* file name for messages */
	const char *dir;  /* its directory, for relative paths */
	const char *text;
	size_t len, off;
	int line;
	int section_line; /* line of the current [section] header */
	bool after_key;   /* an indented line continues the last value */
	int bare_line;    /* a [section] with no key yet (inih skips it) */
	char bare[PROFILE_SECTION_MAX + 1];
	bool failed, nomem;
	struct cki_endpoint cur;
	bool have_cur;
	int cur_host_line, cur_port_line;
	bool host_has_port; /* host = HOST:PORT in this section */
	unsigned int seen;  /* scalar keys seen in this section (bits) */
	int seen_line[8];
	char **done_sections; /* closed section names */
	size_t ndone;
	struct cki_endpoint *eps;
	size_t n, cap;
	char section[CKI_DOC_MAX_HOST];
};

static const char *const keys[] = {"host", "port", "expect", "client_cert",
    "client_key", "proxy", "address", "policy", "pin", "required_roots", NULL};
#define KEYS_TEXT                                                              \
	"host, port, expect, pin, client_cert, client_key, "                   \
	"required_roots, proxy, address, policy"

static void perr(struct pstate *ps, ck_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
perr(struct pstate *ps, ck_status st, const char *fmt, ...)
{
	char msg[CKI_ERRLEN];
	va_list ap;

	if (ps->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps->failed = true;
	cki_err(ps->ctx, st, "%s:%d: %s", ps->name, ps->line, msg);
}

/* A line that inih takes as a [section] header: the whole line must be
 * '[NAME]', NAME not empty and short enough, then only a comment. inih
 * itself would cut a long name, and take '[a' or '[]' as an error it
 * reports late or not at all, while the keys below it land in the
 * previous section. */
static bool
check_header(struct pstate *ps, const char *h)
{
	const char *rb = strchr(h, ']'), *name = h + 1, *rest;
	size_t n;

	if (rb == NULL) {
		perr(ps, CK_E_FORMAT,
		    "malformed section header '%.60s%s': expected '[NAME]' "
		    "with a closing ']'",
		    h, strlen(h) > 60 ? "..." : "");
		return false;
	}
	while (*name == ' ' || *name == '\t')
		name++;
	n = (size_t)(rb - name);
	while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	rest = rb + 1 + strspn(rb + 1, " \t\r");
	if (n == 0)
		perr(ps, CK_E_FORMAT,
		    "empty section name '%.*s': expected '[NAME]'",
		    (int)(rb - h + 1), h);
	else if ((size_t)(rb - h - 1) > PROFILE_SECTION_MAX)
		perr(ps, CK_E_FORMAT,
		    "section name '%.40s...' is %zu characters long: "
		    "expected at most %d",
		    h + 1, (size_t)(rb - h - 1), PROFILE_SECTION_MAX);
	else if (*rest != '\0' && *rest != ';' && *rest != '#')
		perr(ps, CK_E_FORMAT,
		    "unexpected '%.40s' after the section header [%.*s]: "
		    "expected only a comment",
		    rest, (int)(rb - h - 1), h + 1);
	else
		return true;
	return false;
}

/* The last [section] had no key at all: inih never shows it to the
 * handler, so it would vanish without a word. */
static bool
bare_section(struct pstate *ps)
{
	int saved = ps->line;

	if (ps->bare_line == 0)
		return true;
	ps->line = ps->bare_line;
	perr(ps, CK_E_FORMAT,
	    "[%s] has no 'host =': every endpoint section needs one", ps->bare);
	ps->line = saved;
	return false;
}

static char *
reader(char *str, int num, void *stream)
{
	struct pstate *ps = stream;
	size_t n = 0, cap = (size_t)num - 1;
	const char *h;

	if (ps->failed || ps->nomem || ps->off >= ps->len)
		return NULL;
	ps->line++;
	while (ps->off < ps->len) {
		char c = ps->text[ps->off++];

		if (c == '\n')
			break;
		if (n < cap) {
			str[n++] = c;
		} else if (c != '\r') {
			/* An error on its own line, before inih reads a cut
			 * line as something else. */
			perr(ps, CK_E_FORMAT,
			    "line is longer than %zu characters", cap);
			return NULL;
		}
	}
	str[n] = '\0';
	h = str + strspn(str, " \t");
	/* A header, unless an indented line continues a value (as inih
	 * reads it). Remember where each section starts, for "has no
	 * host". */
	if (*h == '[' && (h == str || !ps->after_key)) {
		if (!check_header(ps, h) || !bare_section(ps))
			return NULL;
		ps->section_line = ps->line;
		ps->after_key = false;
		ps->bare_line = ps->line;
		snprintf(ps->bare, sizeof(ps->bare), "%.*s",
		    (int)strcspn(h + 1, "]"), h + 1);
	}
	return str;
}

static char *
resolve_path(struct pstate *ps, const char *v)
{
	char *out;
	size_t n;

	if (v[0] == '/' || ps->dir == NULL)
		return strdup(v);
	n = strlen(ps->dir) + strlen(v) + 2;
	if ((out = malloc(n)) != NULL)
		snprintf(out, n, "%s/%s", ps->dir, v);
	return out;
}

static bool
add_str(char ***v, size_t *n, const char *s, size_t len)
{
	char **nv;

	if ((nv = realloc(*v, (*n + 1) * sizeof(**v))) == NULL)
		return false;
	*v = nv;
	if ((nv[*n] = strndup(s, len)) == NULL)
		return false;
	(*n)++;
	return true;
}

/* Splits on commas (and, for pins, whitespace), trimming items. */
static bool
each_item(struct pstate *ps, const char *value, bool ws_sep,
    bool (*fn)(struct pstate *, const char *, size_t))
{
	const char *p = value;
	const char *seps = ws_sep ? ", \t\r\n" : ",\r\n";

	while (*p != '\0') {
		size_t n;

		p += strspn(p, seps);
		if (!ws_sep)
			while (*p == ' ' || *p == '\t')
				p++;
		n = strcspn(p, seps);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		if (n > 0 && !fn(ps, p, n))
			return false;
		p += strcspn(p, ws_sep ? ", \t\r\n" : ",\r\n");
	}
	return true;
}

static bool
add_pin(struct pstate *ps, const char *s, size_t n)
{
	char buf[128];
	unsigned char(*np)[32];

	if (n >= sizeof(buf)) {
		perr(ps, CK_E_FORMAT,
		    "pin in [%s] is too long: expected the "
		    "SPKI SHA-256 as 64 hex digits or 44 base64 characters",
		    ps->section);
		return false;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if ((np = realloc(ps->cur.pins, (ps->cur.npins + 1) * 32)) == NULL) {
		ps->nomem = true;
		return false;
	}
	ps->cur.pins = np;
	if (!cki_doc_parse_pin(buf, ps->cur.pins[ps->cur.npins])) {
		perr(ps, CK_E_FORMAT,
		    "pin '%s' in [%s]: expected the SPKI "
		    "SHA-256 (RFC 7469) as 64 hex digits or sha256/BASE64",
		    buf, ps->section);
		return false;
	}
	ps->cur.npins++;
	return true;
}

static bool
add_root(struct pstate *ps, const char *s, size_t n)
{
	if (!add_str(&ps->cur.required_roots, &ps->cur.nrequired, s, n)) {
		ps->nomem = true;
		return false;
	}
	return true;
}

static bool
add_addr(struct pstate *ps, const char *s, size_t n)
{
	char buf[CKI_DOC_MAX_HOST];
	bool ip;

	if (n > 1 && s[0] == '[' && s[n - 1] == ']') {
		s++;
		n -= 2;
	}
	if (n >= sizeof(buf) || ps->cur.naddrs == CKI_DOC_MAX_ADDRS) {
		perr(ps, CK_E_FORMAT,
		    "address in [%s]: too long or more "
		    "than %d addresses",
		    ps->section, CKI_DOC_MAX_ADDRS);
		return false;
	}
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (!cki_net_valid_host(buf, &ip) || !ip) {
		perr(ps, CK_E_FORMAT,
		    "address '%s' in [%s]: expected an IP "
		    "address (use host = for a name)",
		    buf, ps->section);
		return false;
	}
	if (!add_str(&ps->cur.addrs, &ps->cur.naddrs, buf, n)) {
		ps->nomem = true;
		return false;
	}
	return true;
}

static void
finish_section(struct pstate *ps)
{
	char *name;

	if (!ps->have_cur)
		return;
	ps->have_cur = false;
	if (!ps->failed && ps->cur.host[0] == '\0') {
		int saved = ps->line;

		ps->line = ps->cur_host_line;
		perr(ps, CK_E_FORMAT,
		    "[%s] has no 'host =': every endpoint "
		    "section needs one",
		    ps->section);
		ps->line = saved;
	}
	if (!ps->failed) {
		if (cki_doc_push_endpoint(
		        ps->ctx, &ps->eps, &ps->n, &ps->cap, &ps->cur) != CK_OK)
			ps->nomem = true;
	}
	cki_endpoint_clear(&ps->cur);
	if ((name = strdup(ps->section)) == NULL) {
		ps->nomem = true;
		return;
	}
	{
		char **nd =
		    realloc(ps->done_sections, (ps->ndone + 1) * sizeof(*nd));

		if (nd == NULL) {
			free(name);
			ps->nomem = true;
			return;
		}
		ps->done_sections = nd;
		nd[ps->ndone++] = name;
	}
}

static bool
start_section(struct pstate *ps, const char *section)
{
	char origin[CKI_ERRLEN];

	for (size_t i = 0; i < ps->ndone; i++) {
		if (strcmp(ps->done_sections[i], section) == 0) {
			perr(ps, CK_E_FORMAT,
			    "[%s] appears twice: each "
			    "endpoint needs its own section name",
			    section);
			return false;
		}
	}
	if (strlen(section) >= sizeof(ps->section)) {
		perr(ps, CK_E_FORMAT,
		    "section name is longer than %d "
		    "characters",
		    CKI_DOC_MAX_HOST - 1);
		return false;
	}
	memset(&ps->cur, 0, sizeof(ps->cur));
	ps->have_cur = true;
	ps->seen = 0;
	ps->host_has_port = false;
	snprintf(ps->section, sizeof(ps->section), "%s", section);
	ps->cur_host_line = ps->section_line;
	ps->cur.port = 0;
	snprintf(origin, sizeof(origin), "%s:%d", ps->name, ps->section_line);
	if ((ps->cur.name = strdup(section)) == NULL ||
	    (ps->cur.origin = strdup(origin)) == NULL) {
		ps->nomem = true;
		return false;
	}
	return true;
}

/* host = HOST:PORT and port = N that disagree: neither may win silently.
 * host is the host value when it comes second, else NULL. */
static void
port_conflict(struct pstate *ps, const char *section, const char *host,
    uint16_t port, int other_line)
{
	if (host != NULL)
		perr(ps, CK_E_FORMAT,
		    "host = %s in [%s] gives a port that conflicts with "
		    "port = %u (line %d): give the port once",
		    host, section, port, other_line);
	else
		perr(ps, CK_E_FORMAT,
		    "port = %u in [%s] conflicts with the port in host = "
		    "%s%s%s:%u (line %d): give the port once",
		    port, section,
		    ps->cur.is_ip && strchr(ps->cur.host, ':') ? "[" : "",
		    ps->cur.host,
		    ps->cur.is_ip && strchr(ps->cur.host, ':') ? "]" : "",
		    ps->cur.port, other_line);
}

/* host = HOST[:PORT] */
static void
set_host(struct pstate *ps, const char *section, const char *v)
{
	struct cki_hostport hp;
	char why[256];

	ps->cur_host_line = ps->line;
	if (!cki_net_parse_endpoint(v, &hp, why, sizeof(why))) {
		perr(ps, CK_E_FORMAT, "host in [%s]: %s", section, why);
		return;
	}
	memcpy(ps->cur.host, hp.host, sizeof(ps->cur.host));
	ps->cur.is_ip = hp.is_ip;
	ps->host_has_port = hp.has_port;
	if (hp.has_port && (ps->seen & 2u) && ps->cur.port != hp.port)
		port_conflict(ps, section, v, ps->cur.port, ps->seen_line[1]);
	else if (hp.has_port || !(ps->seen & 2u))
		ps->cur.port = hp.port;
}

/* port = 1..65535, agreeing with a port in host. */
static void
set_port(struct pstate *ps, const char *section, const char *v)
{
	char *end;
	long p;

	errno = 0;
	p = strtol(v, &end, 10);
	if (v[0] == '\0' || *end != '\0' || errno != 0 || p < 1 || p > 65535) {
		perr(ps, CK_E_FORMAT,
		    "port '%s' in [%s]: expected a "
		    "number from 1 to 65535",
		    v, section);
		return;
	}
	if (ps->host_has_port && ps->cur.port != (uint16_t)p) {
		port_conflict(
		    ps, section, NULL, (uint16_t)p, ps->cur_host_line);
		return;
	}
	ps->cur.port = (uint16_t)p;
}

/* proxy = URL, or "none" / "direct" (or empty): no proxy. */
static void
set_proxy(struct pstate *ps, const char *section, const char *v)
{
	struct cki_proxy px;
	char why[256];

	if (v[0] != '\0' && strcasecmp(v, "none") != 0 &&
	    strcasecmp(v, "direct") != 0) {
		if (!cki_net_parse_proxy(v, &px, why, sizeof(why))) {
			perr(
			    ps, CK_E_FORMAT, "proxy in [%s]: %s", section, why);
			return;
		}
		cki_proxy_clear(&px);
		ps->cur.proxy = strdup(v);
	} else {
		ps->cur.proxy = strdup("");
	}
	if (ps->cur.proxy == NULL)
		ps->nomem = true;
}

/* policy = compat | strict: how this endpoint's chain is verified
 * (verify_rules.c); the run's --policy when absent. */
static void
set_policy(struct pstate *ps, const char *section, const char *v)
{
	if (strcmp(v, "compat") == 0 || strcmp(v, "strict") == 0) {
		ps->cur.policy_set = true;
		ps->cur.policy =
		    v[0] == 's' ? CK_POLICY_STRICT : CK_POLICY_COMPAT;
	} else {
		perr(ps, CK_E_FORMAT,
		    "policy '%s' in [%s]: expected 'compat' or 'strict'", v,
		    section);
	}
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct pstate *ps = user;
	int k;
	size_t vl;
	char *v = NULL;

	if (ps->failed || ps->nomem)
		return 0;
	ps->after_key = true;
	ps->bare_line = 0;
	if (section[0] == '\0') {
		perr(ps, CK_E_FORMAT,
		    "'%s' is outside any [section]: each "
		    "endpoint is a [NAME] section with host = ...",
		    name);
		return 0;
	}
	if (!ps->have_cur || strcmp(section, ps->section) != 0) {
		finish_section(ps);
		if (ps->failed || ps->nomem || !start_section(ps, section))
			return 0;
	}
	for (k = 0; keys[k] != NULL; k++)
		if (strcmp(keys[k], name) == 0)
			break;
	if (keys[k] == NULL) {
		perr(ps, CK_E_FORMAT,
		    "unknown key '%s' in [%s]: expected one "
		    "of " KEYS_TEXT,
		    name, section);
		return 0;
	}
	/* Scalar keys (the first eight) may be given once. */
	if (k < 8) {
		if (ps->seen & (1u << k)) {
			perr(ps, CK_E_FORMAT,
			    "'%s' is given twice in [%s] "
			    "(first on line %d)",
			    name, section, ps->seen_line[k]);
			return 0;
		}
		ps->seen |= 1u << k;
		ps->seen_line[k] = ps->line;
	}
	vl = strlen(value);
	if (vl >= 2 && value[0] == '"' && value[vl - 1] == '"') {
		v = strndup(value + 1, vl - 2);
	} else {
		v = strdup(value);
	}
	if (v == NULL) {
		ps->nomem = true;
		return 0;
	}
	switch (k) {
	case 0: set_host(ps, section, v); break;
	case 1: set_port(ps, section, v); break;
	case 2: /* expect */
		if (strcasecmp(v, "public") == 0) {
			ps->cur.expect = CKI_EXPECT_PUBLIC;
		} else if (strcasecmp(v, "private") == 0) {
			ps->cur.expect = CKI_EXPECT_PRIVATE;
		} else {
			perr(ps, CK_E_FORMAT,
			    "expect '%s' in [%s]: expected "
			    "'public' or 'private'",
			    v, section);
		}
		break;
	case 3: /* client_cert */
	case 4: /* client_key */
		if (v[0] == '\0') {
			perr(ps, CK_E_FORMAT,
			    "%s in [%s] is empty: expected "
			    "a file name",
			    name, section);
			break;
		}
		{
			char *path = resolve_path(ps, v);

			if (path == NULL) {
				ps->nomem = true;
				break;
			}
			if (k == 3)
				ps->cur.client_cert = path;
			else
				ps->cur.client_key = path;
		}
		break;
	case 5: set_proxy(ps, section, v); break;
	case 6: /* address */ each_item(ps, v, true, add_addr); break;
	case 7: set_policy(ps, section, v); break;
	case 8: /* pin */ each_item(ps, v, true, add_pin); break;
	case 9: /* required_roots */ each_item(ps, v, false, add_root); break;
	}
	if (k == 5) {
		/* Wipe a proxy password from the copy of the value. */
		OPENSSL_cleanse(v, strlen(v));
	}
	free(v);
	return ps->failed || ps->nomem ? 0 : 1;
}

static void
pstate_free(struct pstate *ps)
{
	cki_endpoint_clear(&ps->cur);
	for (size_t i = 0; i < ps->ndone; i++)
		free(ps->done_sections[i]);
	free(ps->done_sections);
}

static ck_status
parse(ck_ctx *ctx, const char *name, const char *dir, const char *text,
    size_t len, struct cki_endpoint **eps, size_t *n, size_t *cap)
{
	struct pstate ps;
	ck_status rv = CK_E_FORMAT;
	size_t before = *n;
	int r;

	memset(&ps, 0, sizeof(ps));
	ps.ctx = ctx;
	ps.name = name;
	ps.dir = dir;
	ps.text = text;
	ps.len = len;
	ps.eps = *eps;
	ps.n = *n;
	ps.cap = *cap;
	if (memchr(text, '\0', len) != NULL) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "%s: expected an INI text "
		    "profile, found a NUL byte (a binary file?)",
		    name);
		goto out;
	}
	r = ini_parse_stream(reader, &ps, handler, &ps);
	if (ps.nomem) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto out;
	}
	if (!ps.failed)
		(void)bare_section(&ps);
	if (ps.failed)
		goto out;
	if (r != 0) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "%s:%d: expected '[NAME]', "
		    "'key = value' or a comment starting with ';' or '#'",
		    name, r);
		goto out;
	}
	ps.line = ps.section_line;
	finish_section(&ps);
	if (ps.nomem) {
		rv = cki_err(ctx, CK_E_NOMEM, "out of memory");
		goto out;
	}
	if (ps.failed)
		goto out;
	if (ps.n == before) {
		rv = cki_err(ctx, CK_E_FORMAT,
		    "%s: no endpoints: expected "
		    "[NAME] sections with 'host = HOST'",
		    name);
		goto out;
	}
	rv = CK_OK;
out:
	if (rv != CK_OK) {
		/* All or nothing (guarantee 4). */
		for (size_t i = before; i < ps.n; i++)
			cki_endpoint_clear(&ps.eps[i]);
		ps.n = before;
	}
	*eps = ps.eps;
	*n = ps.n;
	*cap = ps.cap;
	pstate_free(&ps);
	return rv;
}

ck_status
cki_doc_load_profile_mem(ck_ctx *ctx, const char *name, const char *text,
    size_t len, struct cki_endpoint **eps, size_t *n, size_t *cap)
{
	return parse(ctx, name, NULL, text, len, eps, n, cap);
}

ck_status
cki_doc_load_profile(ck_ctx *ctx, const char *path, struct cki_endpoint **eps,
    size_t *n, size_t *cap)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char *copy = NULL;
	ck_status rv;

	if ((rv = cki_read_file(ctx, path, &buf, &len)) != CK_OK)
		return rv;
	if ((copy = strdup(path)) == NULL) {
		free(buf);
		return cki_err(ctx, CK_E_NOMEM, "out of memory");
	}
	rv = parse(
	    ctx, path, dirname(copy), (const char *)buf, len, eps, n, cap);
	free(copy);
	free(buf);
	return rv;
}
