/*
 * tool_show.c: certkit show: say what files hold and what is wrong with
 * them.
 *
 * Every FILE is loaded (the content decides the format) and merged into one
 * bundle, so a key given next to its certificate is matched to it and the
 * certificates are analysed as one chain. The library's "show" report
 * (ck_describe_each, the "show" schema of docs/json.md) is printed as JSON
 * with --json, or rendered as text from that same document, so the two
 * never disagree. The report is streamed one certificate at a time (see
 * "streaming" below).
 *
 * Exit status: 0 when nothing of severity "error" was found, 1 when
 * something was (an expired or not yet valid certificate, a gap, a leaf not
 * first, a key that matches nothing, ...), 2 when an input could not be
 * read: then nothing is printed on stdout, and each bad FILE gets the
 * loader's message on stderr.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

static const char usage_text[] =
    "usage: certkit show [--json] [--password-file FILE] [--at TIME]\n"
    "                    [--policy compat|strict] FILE...\n"
    "\n"
    "Explains what each FILE holds: certificates, private keys, CSRs and\n"
    "CRLs, in PEM, DER, PKCS#7 or PKCS#12 (the content decides, never the\n"
    "name). All FILEs are read as one bundle: a key is matched to the\n"
    "certificates given with it, and the certificates are checked as a\n"
    "chain (order, gaps, duplicates, roots). \"-\" reads standard input.\n"
    "\n"
    "Options:\n"
    "  --json                 print the report as JSON (the \"show\" schema\n"
    "                         of docs/json.md)\n"
    "  --password-file FILE   password of PKCS#12 files and encrypted keys\n"
    "                         (first line); else $CERTKIT_PASSWORD, else a\n"
    "                         prompt on a terminal\n"
    "  --at TIME              judge validity at TIME (RFC 3339, e.g.\n"
    "                         2026-06-01T00:00:00Z) instead of now\n"
    "  --policy P             compat (default): each certificate's breaches\n"
    "                         of the RFC 5280 and CA/B Forum rules Chrome,\n"
    "                         Go and rustls enforce are warnings; strict:\n"
    "                         errors (exit 1)\n"
    "  --help                 print this help\n"
    "\n"
    "Exit codes: 0 nothing wrong found; 1 a finding of severity error (a\n"
    "certificate expired, not yet valid or revoked, a gap in the chain, the\n"
    "leaf not first, a key that matches no certificate, a rule broken under\n"
    "--policy strict); 2 usage or input error (a FILE missing, unreadable,\n"
    "of no known format, or a wrong password; the public suffix list\n"
    "missing when a certificate has a wildcard name).\n";

/* Largest standard input read, as for files (CKI_MAX_FILE). */
#define LABEL_W 12
#define WRAP_W 78
/* Revoked serials printed per CRL; --json lists up to 1000. */
#define TEXT_MAX_REVOKED 20

enum { O_JSON = 256, O_PWFILE, O_AT, O_POLICY, O_HELP };

/* ---- loading ------------------------------------------------------------ */

/* Loads every file into one bundle. Returns false (after printing each
 * file's error) if any could not be loaded. */
static bool
load_all(ck_ctx *ctx, int n, char **files, ck_bundle *all)
{
	bool ok = true;

	for (int i = 0; i < n; i++) {
		ck_bundle *b = NULL;
		ck_status st;

		if ((st = tool_load(ctx, files[i], -1, &b)) != CK_OK)
			tool_err("%s", tool_load_error(ctx));
		if (st == CK_OK && ck_bundle_merge(all, b) != CK_OK) {
			tool_err("out of memory");
			st = CK_E_NOMEM;
		}
		ck_bundle_free(b);
		if (st != CK_OK)
			ok = false;
	}
	return ok;
}

/* ---- text rendering ----------------------------------------------------- */

static const char *
str(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : "";
}

static long long
num(json_t *o, const char *key)
{
	return (long long)json_integer_value(json_object_get(o, key));
}

static void
label(const char *l)
{
	printf("  %-*s", LABEL_W, l);
}

/* Prints text wrapped at WRAP_W, continuation lines indented by `indent`;
 * the first line starts at column `col`. */
static void
wrap(const char *text, int col, int indent)
{
	const char *p = text;

	while (*p != '\0') {
		const char *end = p;
		size_t room = (size_t)(WRAP_W > col ? WRAP_W - col : 20);
		size_t wordlen;

		while (*p == ' ')
			p++;
		/* Take words while they fit; always at least one. */
		for (const char *q = p; *q != '\0';) {
			const char *w = q;

			while (*w == ' ')
				w++;
			wordlen = strcspn(w, " ");
			if ((size_t)(w + wordlen - p) > room && end != p)
				break;
			end = w + wordlen;
			q = end;
		}
		printf("%.*s\n", (int)(end - p), p);
		p = end;
		while (*p == ' ')
			p++;
		if (*p != '\0') {
			printf("%*s", indent, "");
			col = indent;
		}
	}
	if (text[0] == '\0')
		putchar('\n');
}

/* A line of items built up, then printed wrapped under its label. */
struct line {
	char buf[8192];
	size_t n;
	bool first;
};

static void
line_add(struct line *l, const char *prefix, const char *item)
{
	int w = snprintf(l->buf + l->n, sizeof(l->buf) - l->n, "%s%s%s",
	    l->first ? "" : ", ", prefix, item);

	if (w > 0 && (size_t)w < sizeof(l->buf) - l->n)
		l->n += (size_t)w;
	l->first = false;
}

/* Adds the strings of a JSON array, each prefixed. */
static void
join(struct line *l, json_t *arr, const char *prefix)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) line_add(
	    l, prefix, json_string_value(v) ? json_string_value(v) : "?");
}

static void
line_print(const char *lbl, struct line *l)
{
	label(lbl);
	wrap(l->buf, 2 + LABEL_W, 2 + LABEL_W);
	l->n = 0;
	l->buf[0] = '\0';
	l->first = true;
}

static void
print_key_line(json_t *pk, json_t *sig)
{
	FILE *o = stdout;

	if (!json_is_object(pk)) {
		printf("(unknown)");
	} else if (json_is_string(json_object_get(pk, "curve"))) {
		printf("%s %s (%lld bits)", str(pk, "type"), str(pk, "curve"),
		    num(pk, "bits"));
	} else {
		printf("%s %lld bits", str(pk, "type"), num(pk, "bits"));
	}
	if (json_is_true(json_object_get(pk, "weak")))
		printf(" %sWEAK KEY%s", tool_c(o, TC_RED), tool_c(o, TC_RESET));
	if (sig != NULL) {
		printf(", signed with %s", str(sig, "algorithm"));
		if (json_is_true(json_object_get(sig, "weak")))
			printf(" %sWEAK SIGNATURE%s", tool_c(o, TC_RED),
			    tool_c(o, TC_RESET));
	}
	putchar('\n');
}

static void
print_names(json_t *sans)
{
	struct line l = {"", 0, true};

	if (!json_is_object(sans))
		return;
	join(&l, json_object_get(sans, "dns"), "DNS:");
	join(&l, json_object_get(sans, "ip"), "IP:");
	join(&l, json_object_get(sans, "email"), "email:");
	join(&l, json_object_get(sans, "uri"), "URI:");
	join(&l, json_object_get(sans, "other"), "");
	if (!l.first)
		line_print("Names", &l);
}

/* The report's "label" of certificate `index` (1-based), from the bundle:
 * the report arrives one certificate at a time, and a certificate names
 * its issuer, which may come later. Valid until the next call. */
static const char *
cert_label(const ck_bundle *b, long long index)
{
	static char *last;
	ck_cert *c =
	    index >= 1 && (size_t)index <= ck_bundle_count(b, CK_OBJ_CERT)
	    ? ck_bundle_get0_cert(b, (size_t)(index - 1))
	    : NULL;

	ck_free(last);
	last = c != NULL ? ck_cert_label(c) : NULL;
	return last != NULL ? last : "?";
}

/* What the text needs of one chain link, kept instead of its JSON (a
 * jansson object per certificate costs more than a kilobyte). */
struct link {
	long long issuer, dup_of; /* 1-based; 0: none */
	bool issued_by_next, self_signed;
	char role[16];
};

static void
print_cert(ck_ctx *ctx, const ck_bundle *b, json_t *doc,
    const struct link *link, json_t *c)
{
	FILE *o = stdout;
	json_t *bc = json_object_get(c, "basic_constraints");
	json_t *ku = json_object_get(c, "key_usage");
	json_t *eku = json_object_get(c, "extended_key_usage");
	json_t *aia = json_object_get(c, "aia");
	json_t *nc = json_object_get(c, "name_constraints");
	json_t *keys = json_object_get(c, "keys"), *rev, *v;
	const char *validity = str(c, "validity");
	int64_t nb = 0, na = 0, now = 0;
	char phrase[96];
	struct line l = {"", 0, true};
	bool bad = strcmp(validity, "valid") != 0;
	size_t i;

	printf("%s%s%s\n", tool_c(o, TC_BOLD), str(c, "origin"),
	    tool_c(o, TC_RESET));
	label("Subject");
	printf("%s\n", str(c, "subject"));
	label("Issuer");
	printf("%s\n", str(c, "issuer"));
	label("Serial");
	printf("%s\n", str(c, "serial"));
	/* The phrase is the tool's, from the same times the library used. */
	if (ck_parse_time(ctx, str(c, "not_before"), &nb) != CK_OK ||
	    ck_parse_time(ctx, str(c, "not_after"), &na) != CK_OK ||
	    ck_parse_time(ctx, str(doc, "at"), &now) != CK_OK)
		snprintf(phrase, sizeof(phrase), "%s", validity);
	else
		tool_validity_phrase(phrase, sizeof(phrase), nb, na, now);
	label("Valid");
	printf("%s .. %s (%s%s%s)\n", str(c, "not_before"), str(c, "not_after"),
	    bad ? tool_c(o, TC_RED) : "", phrase,
	    bad ? tool_c(o, TC_RESET) : "");
	print_names(json_object_get(c, "sans"));
	label("Key");
	print_key_line(
	    json_object_get(c, "public_key"), json_object_get(c, "signature"));
	if (json_is_array(ku) || json_is_array(eku)) {
		struct line k2 = {"", 0, true};

		join(&l, ku, "");
		if (json_is_array(eku)) {
			join(&k2, eku, "");
			snprintf(l.buf + l.n, sizeof(l.buf) - l.n, "%sEKU %s",
			    l.first ? "" : "; ", k2.buf);
			l.n = strlen(l.buf);
			l.first = false;
		}
		line_print("Usage", &l);
	}
	label("CA");
	if (!json_is_object(bc))
		printf("%s (no basicConstraints)\n",
		    json_is_true(json_object_get(c, "is_ca")) ? "yes" : "no");
	else if (!json_is_true(json_object_get(bc, "ca")))
		printf("no\n");
	else if (json_is_integer(json_object_get(bc, "path_len")))
		printf("yes, path length %lld\n", num(bc, "path_len"));
	else
		printf("yes, no path length limit\n");
	label("Role");
	printf("%s", str(c, "role"));
	if (json_is_true(json_object_get(c, "self_signed")))
		printf(", self-signed");
	else if (link->issuer > 0)
		printf(", issued by certificate %lld \"%s\"%s", link->issuer,
		    cert_label(b, link->issuer),
		    link->issued_by_next ? " (the next one)" : "");
	else
		printf(", its issuer is not in this bundle");
	if (link->dup_of > 0)
		printf(" (a copy of certificate %lld)", link->dup_of);
	putchar('\n');
	if (json_is_string(json_object_get(c, "ski"))) {
		label("SKI");
		printf("%s\n", str(c, "ski"));
	}
	if (json_is_string(json_object_get(c, "aki"))) {
		label("AKI");
		printf("%s\n", str(c, "aki"));
	}
	join(&l, json_object_get(aia, "ca_issuers"), "CA issuers ");
	join(&l, json_object_get(aia, "ocsp"), "OCSP ");
	if (!l.first)
		line_print("AIA", &l);
	join(&l, json_object_get(c, "crl_distribution_points"), "");
	if (!l.first)
		line_print("CRL", &l);
	if (json_is_object(nc)) {
		join(&l, json_object_get(nc, "permitted"), "permitted ");
		join(&l, json_object_get(nc, "excluded"), "excluded ");
		line_print("Constraints", &l);
	}
	label("SHA-256");
	printf("%s\n", str(c, "sha256_fingerprint"));
	label("SPKI pin");
	printf("sha256/%s\n", str(c, "spki_sha256_base64"));
	json_array_foreach(keys, i, v)
	{
		json_t *k = json_array_get(json_object_get(doc, "keys"),
		    (size_t)(json_integer_value(v) - 1));

		label(i == 0 ? "Private key" : "");
		printf("%s%s%s (matches)\n", tool_c(o, TC_GREEN),
		    k ? str(k, "origin") : "?", tool_c(o, TC_RESET));
	}
	if (json_is_object(rev = json_object_get(c, "revoked"))) {
		label("REVOKED");
		printf("%son %s, reason %s (CRL %lld)%s\n", tool_c(o, TC_RED),
		    str(rev, "date"),
		    json_is_string(json_object_get(rev, "reason"))
		        ? str(rev, "reason")
		        : "not given",
		    num(rev, "crl"), tool_c(o, TC_RESET));
	}
	putchar('\n');
}

static void
print_key(const ck_bundle *b, json_t *doc, json_t *k)
{
	FILE *o = stdout;
	json_t *m = json_object_get(k, "matches"), *v;
	size_t i;

	(void)doc;
	printf("%s%s%s\n", tool_c(o, TC_BOLD), str(k, "origin"),
	    tool_c(o, TC_RESET));
	label("Key");
	print_key_line(json_object_get(k, "public_key"), NULL);
	label("Matches");
	if (json_array_size(m) == 0) {
		printf("%s\n",
		    ck_bundle_count(b, CK_OBJ_CERT) > 0
		        ? "no certificate given here"
		        : "(no certificates given to compare with)");
	}
	json_array_foreach(m, i, v)
	{
		if (i > 0)
			label("");
		printf("%scertificate %lld \"%s\"%s\n", tool_c(o, TC_GREEN),
		    num(v, "index"), cert_label(b, num(v, "index")),
		    tool_c(o, TC_RESET));
	}
	if ((long long)json_array_size(m) < num(k, "matches_total")) {
		label("");
		printf("and %lld more\n",
		    num(k, "matches_total") - (long long)json_array_size(m));
	}
	putchar('\n');
}

static void
print_csr(json_t *doc, json_t *r)
{
	FILE *o = stdout;
	json_t *keys = json_object_get(r, "keys"), *v;
	size_t i;

	printf("%s%s%s\n", tool_c(o, TC_BOLD), str(r, "origin"),
	    tool_c(o, TC_RESET));
	label("Subject");
	printf("%s\n", str(r, "subject"));
	print_names(json_object_get(r, "sans"));
	label("Key");
	print_key_line(
	    json_object_get(r, "public_key"), json_object_get(r, "signature"));
	label("Signature");
	if (json_is_true(json_object_get(r, "signature_valid")))
		printf("verifies (made with the private key it names)\n");
	else
		printf("%sDOES NOT VERIFY%s\n", tool_c(o, TC_RED),
		    tool_c(o, TC_RESET));
	json_array_foreach(keys, i, v)
	{
		json_t *k = json_array_get(json_object_get(doc, "keys"),
		    (size_t)(json_integer_value(v) - 1));

		label(i == 0 ? "Private key" : "");
		printf("%s (matches)\n", k ? str(k, "origin") : "?");
	}
	putchar('\n');
}

static void
print_crl(const ck_bundle *b, json_t *r)
{
	FILE *o = stdout;
	json_t *list = json_object_get(r, "revoked"), *v;
	const char *status = str(r, "status");
	long long total = num(r, "revoked_total");
	size_t i;

	printf("%s%s%s\n", tool_c(o, TC_BOLD), str(r, "origin"),
	    tool_c(o, TC_RESET));
	label("Issuer");
	printf("%s\n", str(r, "issuer"));
	label("Updated");
	printf("%s, next %s (%s%s%s)\n", str(r, "last_update"),
	    json_is_string(json_object_get(r, "next_update"))
	        ? str(r, "next_update")
	        : "not given",
	    strcmp(status, "current") ? tool_c(o, TC_RED) : "", status,
	    strcmp(status, "current") ? tool_c(o, TC_RESET) : "");
	if (json_is_string(json_object_get(r, "number"))) {
		label("Number");
		printf("%s\n", str(r, "number"));
	}
	label("Signed by");
	if (json_is_integer(json_object_get(r, "issuer_certificate")))
		printf("certificate %lld \"%s\" (signature verifies)\n",
		    num(r, "issuer_certificate"),
		    cert_label(b, num(r, "issuer_certificate")));
	else if (json_is_false(json_object_get(r, "signature_valid")))
		printf("%sSIGNATURE DOES NOT VERIFY%s with the issuer's "
		       "certificate given\n",
		    tool_c(o, TC_RED), tool_c(o, TC_RESET));
	else
		printf("not checked: the issuer's certificate is not given\n");
	label("Revoked");
	printf("%lld certificate%s\n", total, total == 1 ? "" : "s");
	json_array_foreach(list, i, v)
	{
		if (i >= TEXT_MAX_REVOKED) {
			label("");
			printf("... and %lld more (--json lists up to 1000)\n",
			    total - (long long)i);
			break;
		}
		label("");
		printf("%s  %s  %s\n", str(v, "serial"), str(v, "date"),
		    json_is_string(json_object_get(v, "reason"))
		        ? str(v, "reason")
		        : "(no reason given)");
	}
	putchar('\n');
}

static void
print_chain(
    const ck_bundle *b, json_t *doc, const struct link *links, size_t nlinks)
{
	json_t *chains =
	           json_object_get(json_object_get(doc, "chain"), "chains"),
	       *path, *v;
	size_t i, k;

	if (json_array_size(chains) == 0)
		return;
	printf(
	    "%sChain%s\n", tool_c(stdout, TC_BOLD), tool_c(stdout, TC_RESET));
	json_array_foreach(chains, i, path)
	{
		json_t *last = NULL;
		int col = 2;

		printf("  ");
		json_array_foreach(path, k, v)
		{
			char item[512];
			int n = snprintf(item, sizeof(item), "%s%lld \"%s\"",
			    k ? " <- " : "", (long long)json_integer_value(v),
			    cert_label(b, json_integer_value(v)));

			if (k > 0 && col + n > WRAP_W) {
				printf("\n     ");
				col = 5;
			}
			printf("%s", item);
			col += n;
			last = v;
		}
		if (last != NULL) {
			/* Its link holds the certificate's role and
			 * self_signed (the certificates are gone by now). */
			json_int_t li = json_integer_value(last);
			const struct link *c = li >= 1 && (size_t)li <= nlinks
			    ? &links[li - 1]
			    : NULL;

			if (c != NULL && c->self_signed)
				printf(" (%s, self-signed)", c->role);
			else
				printf(" (issuer not in this bundle)");
		}
		putchar('\n');
	}
	putchar('\n');
}

static void
print_findings(json_t *doc)
{
	json_t *fs = json_object_get(doc, "findings"), *f;
	json_t *sum = json_object_get(doc, "summary");
	size_t i;

	if (json_array_size(fs) > 0)
		printf("%sFindings%s\n", tool_c(stdout, TC_BOLD),
		    tool_c(stdout, TC_RESET));
	json_array_foreach(fs, i, f)
	{
		const char *sev = str(f, "severity");
		enum tool_colour c = strcmp(sev, "error") == 0 ? TC_RED
		    : strcmp(sev, "warning") == 0              ? TC_YELLOW
		                                               : TC_DIM;
		char head[96];
		int n = snprintf(
		    head, sizeof(head), "  %-7s %s: ", sev, str(f, "code"));

		printf("  %s%-7s%s %s: ", tool_c(stdout, c), sev,
		    tool_c(stdout, TC_RESET), str(f, "code"));
		wrap(tool_finding_summary(f), n, 10);
		printf("%*sfix: ", 10, "");
		wrap(tool_finding_remedy(f), 15, 15);
	}
	if (json_array_size(fs) > 0)
		putchar('\n');
	{
		static const char *const kinds[][3] = {
		    {"certificates", "certificate", "certificates"},
		    {"keys", "key", "keys"},
		    {"csrs", "CSR", "CSRs"},
		    {"crls", "CRL", "CRLs"},
		};
		bool any = false;

		for (size_t k = 0; k < 4; k++) {
			long long c = num(sum, kinds[k][0]);

			if (c == 0)
				continue;
			printf("%s%lld %s", any ? ", " : "", c,
			    kinds[k][c == 1 ? 1 : 2]);
			any = true;
		}
		printf(": ");
	}
	{
		long long e = num(sum, "errors"), w = num(sum, "warnings"),
		          i2 = num(sum, "infos");

		if (e + w == 0)
			printf("no problems found");
		if (e > 0)
			printf("%s%lld error%s%s", tool_c(stdout, TC_RED), e,
			    e == 1 ? "" : "s", tool_c(stdout, TC_RESET));
		if (w > 0)
			printf("%s%s%lld warning%s%s", e > 0 ? ", " : "",
			    tool_c(stdout, TC_YELLOW), w, w == 1 ? "" : "s",
			    tool_c(stdout, TC_RESET));
		if (i2 > 0)
			printf(", %lld note%s", i2, i2 == 1 ? "" : "s");
		putchar('\n');
	}
}

/* Everything after the certificates, in the text report's order. */
static void
print_rest(
    const ck_bundle *b, json_t *doc, const struct link *links, size_t nlinks)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(doc, "keys"), i, v)
	    print_key(b, doc, v);
	json_array_foreach(json_object_get(doc, "csrs"), i, v)
	    print_csr(doc, v);
	json_array_foreach(json_object_get(doc, "crls"), i, v) print_crl(b, v);
	print_chain(b, doc, links, nlinks);
	print_findings(doc);
}

/* ---- streaming ---------------------------------------------------------
 * The report arrives from ck_describe_each one member at a time, the
 * certificates last and one by one: each is printed and freed, so a bundle
 * of many certificates never exists as one JSON document here (that would
 * cost several times the certificates themselves). --json prints the same
 * text json_dumps(JSON_INDENT(2)) would print for the whole document. */

/* Members before "certificates" in the document, then after it. */
enum { M_HEAD = 4, M_ALL = 9 };
static const char *const members[M_ALL] = {"report", "version", "at", "summary",
    "keys", "csrs", "crls", "chain", "findings"};

struct stream {
	ck_ctx *ctx;
	const ck_bundle *b;
	bool as_json;
	json_t *doc;        /* text: the members but "certificates" and the
	                       chain's links; --json: "summary" only */
	char *raw[M_ALL];   /* --json: each member's compact text */
	struct link *links; /* text: the chain's links */
	size_t nlinks, ncert;
	json_t *rules; /* the findings of ck_rules_check (--policy) */
};

static void
stream_clear(struct stream *st)
{
	json_decref(st->doc);
	json_decref(st->rules);
	for (int i = 0; i < M_ALL; i++)
		free(st->raw[i]);
	free(st->links);
}

/* Prints compact JSON as json_dumps(JSON_INDENT(2)) prints it, nested
 * `depth` levels deep: no value is parsed, so a member of any size costs
 * nothing here. */
static void
put_pretty(const char *p, int depth)
{
	bool in_str = false;

	for (; *p != '\0'; p++) {
		if (in_str) {
			putchar(*p);
			if (*p == '\\' && p[1] != '\0')
				putchar(*++p);
			else if (*p == '"')
				in_str = false;
			continue;
		}
		if ((*p == '{' && p[1] == '}') || (*p == '[' && p[1] == ']')) {
			putchar(*p++);
			putchar(*p);
		} else if (*p == '{' || *p == '[') {
			depth++;
			printf("%c\n%*s", *p, depth * 2, "");
		} else if (*p == '}' || *p == ']') {
			depth--;
			printf("\n%*s%c", depth * 2, "", *p);
		} else if (*p == ',') {
			printf(",\n%*s", depth * 2, "");
		} else if (*p == ':') {
			fputs(": ", stdout);
		} else {
			in_str = *p == '"';
			putchar(*p);
		}
	}
}

static void
put_members(struct stream *st, int from, int to)
{
	for (int i = from; i < to; i++) {
		printf("%s\n  \"%s\": ", i == 0 ? "{" : ",", members[i]);
		put_pretty(st->raw[i] != NULL ? st->raw[i] : "null", 1);
	}
}

static void
set_link(struct link *l, json_t *v)
{
	l->issuer = num(v, "issuer");
	l->dup_of = num(v, "duplicate_of");
	l->issued_by_next = json_is_true(json_object_get(v, "issued_by_next"));
	l->self_signed = json_is_true(json_object_get(v, "self_signed"));
	snprintf(l->role, sizeof(l->role), "%s", str(v, "role"));
}

/* Text: the chain member, its links kept as struct link and parsed one at
 * a time (never one tree of them all). The library writes compact JSON,
 * "links" first. */
static ck_status
keep_chain(struct stream *st, const char *json)
{
	static const char pfx[] = "{\"links\":[";
	size_t len = strlen(json), max = ck_bundle_count(st->b, CK_OBJ_CERT);
	const char *p = json + sizeof(pfx) - 1;
	json_error_t e;
	json_t *v;
	char *rest;

	if (strncmp(json, pfx, sizeof(pfx) - 1) != 0 ||
	    (st->links = calloc(max + 1, sizeof(*st->links))) == NULL)
		return CK_E_INTERNAL;
	while (*p != ']' && *p != '\0') {
		v = json_loadb(
		    p, len - (size_t)(p - json), JSON_DISABLE_EOF_CHECK, &e);
		if (v == NULL || st->nlinks == max) {
			json_decref(v);
			return CK_E_INTERNAL;
		}
		set_link(&st->links[st->nlinks++], v);
		json_decref(v);
		p += e.position;
		p += *p == ',';
	}
	if (*p++ != ']' || (rest = malloc(strlen(p) + 2)) == NULL)
		return CK_E_INTERNAL;
	rest[0] = '{';
	memcpy(rest + 1, p + (*p == ','), strlen(p + (*p == ',')) + 1);
	v = json_loads(rest, 0, NULL);
	free(rest);
	if (v == NULL)
		return CK_E_INTERNAL;
	return json_object_set_new(st->doc, "chain", v) == 0 ? CK_OK
	                                                     : CK_E_NOMEM;
}

/* The findings of a severity, from `from` into `to`. */
static int
take_sev(json_t *to, json_t *from, const char *sev)
{
	json_t *f;
	size_t i;
	int bad = 0;

	json_array_foreach(from, i, f) if (strcmp(str(f, "severity"), sev) == 0)
	    bad |= json_array_append(to, f);
	return bad;
}

static ck_status
keep_text(struct stream *st, const char *member, const char *json)
{
	json_t *v;
	int i = 0;

	while (i < M_ALL && strcmp(members[i], member) != 0)
		i++;
	if (i == M_ALL)
		return CK_E_INTERNAL;
	if (st->as_json && (st->raw[i] = strdup(json)) == NULL)
		return CK_E_NOMEM;
	if (st->as_json && strcmp(member, "summary") != 0)
		return CK_OK;
	if (strcmp(member, "chain") == 0)
		return keep_chain(st, json);
	if ((v = json_loads(json, JSON_DECODE_ANY, NULL)) == NULL)
		return CK_E_INTERNAL;
	if (!st->as_json)
		tool_escape_doc(v);
	return json_object_set_new(st->doc, member, v) == 0 ? CK_OK
	                                                    : CK_E_NOMEM;
}

/* --policy: the rules' findings (ck_rules_check) join show's own, in
 * "findings" after those of their severity (errors, warnings, infos) and
 * in the summary's counts. *text: NULL when the member stays as it is
 * (no rule broken: the report is then byte for byte show's own), else the
 * new member's text in the library's compact form (caller frees). */
static ck_status
with_rules(
    const struct stream *st, const char *member, const char *json, char **text)
{
	static const char *const sevs[] = {"error", "warning", "info"};
	bool summary = strcmp(member, "summary") == 0;
	json_t *v = NULL, *out = NULL;
	int bad = 0;

	*text = NULL;
	if (json_array_size(st->rules) == 0 ||
	    (!summary && strcmp(member, "findings") != 0))
		return CK_OK;
	if ((v = json_loads(json, JSON_DECODE_ANY, NULL)) == NULL)
		return CK_E_INTERNAL;
	if (summary) {
		json_t *e = json_array(), *w = json_array();

		bad |= e == NULL || w == NULL ||
		    take_sev(e, st->rules, "error") ||
		    take_sev(w, st->rules, "warning");
		bad |= json_object_set_new(v, "errors",
		    json_integer(
		        num(v, "errors") + (json_int_t)json_array_size(e)));
		bad |= json_object_set_new(v, "warnings",
		    json_integer(
		        num(v, "warnings") + (json_int_t)json_array_size(w)));
		json_decref(e);
		json_decref(w);
		out = json_incref(v);
	} else {
		bad |= (out = json_array()) == NULL;
		for (size_t k = 0; !bad && k < 3; k++)
			bad |= take_sev(out, v, sevs[k]) ||
			    take_sev(out, st->rules, sevs[k]);
	}
	if (!bad)
		*text = json_dumps(out,
		    JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
		        JSON_ENSURE_ASCII);
	json_decref(v);
	json_decref(out);
	return *text != NULL ? CK_OK : CK_E_NOMEM;
}

static ck_status
keep_member(struct stream *st, const char *member, const char *json)
{
	char *own = NULL;
	ck_status rv = with_rules(st, member, json, &own);

	if (rv == CK_OK)
		rv = keep_text(st, member, own != NULL ? own : json);
	free(own);
	return rv;
}

static ck_status
on_member(void *user, const char *member, const char *json)
{
	static const struct link none;
	struct stream *st = user;
	json_t *v;
	long long i;

	if (strcmp(member, "certificates") != 0)
		return keep_member(st, member, json);
	if (st->as_json) {
		if (st->ncert++ == 0) {
			put_members(st, 0, M_HEAD);
			fputs(",\n  \"certificates\": [", stdout);
		} else {
			putchar(',');
		}
		fputs("\n    ", stdout);
		put_pretty(json, 2);
		return CK_OK;
	}
	if ((v = json_loads(json, 0, NULL)) == NULL)
		return CK_E_INTERNAL;
	tool_escape_doc(v); /* text: every string from the file is escaped */
	i = num(v, "index");
	print_cert(st->ctx, st->b, st->doc,
	    i >= 1 && (size_t)i <= st->nlinks ? &st->links[i - 1] : &none, v);
	st->ncert++;
	json_decref(v);
	return CK_OK;
}

/* After the last certificate: the rest of the report. */
static void
finish(struct stream *st)
{
	if (!st->as_json) {
		print_rest(st->b, st->doc, st->links, st->nlinks);
		return;
	}
	if (st->ncert == 0) {
		put_members(st, 0, M_HEAD);
		fputs(",\n  \"certificates\": []", stdout);
	} else {
		fputs("\n  ]", stdout);
	}
	put_members(st, M_HEAD, M_ALL);
	fputs("\n}\n", stdout);
}

/* ---- the command -------------------------------------------------------- */

static bool
set_policy(ck_ctx *ctx, const char *s, ck_policy *pol)
{
	if (s == NULL || ck_policy_parse(ctx, s, pol) == CK_OK)
		return true;
	tool_err("--policy: %s", ck_ctx_error(ctx));
	return false;
}

/* The rules of the policy on each certificate (ck_rules_check) into
 * *out. TOOL_OK, or the exit status after saying what failed. */
static int
rules(ck_ctx *ctx, const ck_bundle *all, ck_policy pol, json_t **out)
{
	char *text = NULL;
	int rv = TOOL_OK;

	if (ck_rules_check(ctx, all, pol, &text) != CK_OK) {
		rv = tool_ctx_fail(ctx);
	} else if ((*out = json_loads(text, 0, NULL)) == NULL) {
		tool_err("out of memory");
		rv = TOOL_PROBLEM;
	}
	ck_free(text);
	return rv;
}

int
cmd_show(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"json", no_argument, NULL, O_JSON},
	    {"password-file", required_argument, NULL, O_PWFILE},
	    {"at", required_argument, NULL, O_AT},
	    {"policy", required_argument, NULL, O_POLICY},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	const char *pwfile = NULL, *at = NULL, *policy = NULL;
	bool as_json = false;
	ck_ctx *ctx = NULL;
	ck_bundle *all = NULL;
	struct stream st;
	ck_policy pol = CK_POLICY_COMPAT;
	int c, rv = TOOL_USAGE;

	memset(&st, 0, sizeof(st));
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_JSON: as_json = true; break;
		case O_PWFILE: pwfile = optarg; break;
		case O_AT: at = optarg; break;
		case O_POLICY: policy = optarg; break;
		case O_HELP: return tool_usage(stdout, usage_text, TOOL_OK);
		default: return tool_usage(stderr, usage_text, TOOL_USAGE);
		}
	}
	if (optind >= argc) {
		tool_err("show: no FILE given");
		return tool_usage(stderr, usage_text, TOOL_USAGE);
	}
	if ((ctx = ck_ctx_new()) == NULL || (all = ck_bundle_new()) == NULL) {
		tool_err("out of memory");
		rv = TOOL_PROBLEM;
		goto out;
	}
	if ((at != NULL && !tool_set_time(ctx, at)) ||
	    !tool_password_setup(ctx, pwfile) || !set_policy(ctx, policy, &pol))
		goto out;
	if (!load_all(ctx, argc - optind, argv + optind, all))
		goto out;
	if ((rv = rules(ctx, all, pol, &st.rules)) != TOOL_OK)
		goto out;
	st.ctx = ctx;
	st.b = all;
	st.as_json = as_json;
	if ((st.doc = json_object()) == NULL) {
		tool_err("out of memory");
		rv = TOOL_PROBLEM;
		goto out;
	}
	if (ck_describe_each(ctx, all, on_member, &st) != CK_OK) {
		rv = tool_ctx_fail(ctx);
		goto out;
	}
	finish(&st);
	rv = num(json_object_get(st.doc, "summary"), "errors") > 0
	    ? TOOL_PROBLEM
	    : TOOL_OK;
out:
	stream_clear(&st);
	ck_bundle_free(all);
	ck_ctx_free(ctx);
	return rv;
}
