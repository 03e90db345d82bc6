/*
 * tool_convert.c: certkit convert: rewrite certificates, keys, CRLs and CSRs
 * as PEM, DER, PKCS#12 or PKCS#7.
 *
 * What goes where (the rules a server admin expects; man/certkit-convert.md):
 *  1. Every FILE, --chain and --key is loaded (format from the content) and
 *     merged in that order; --normalize then orders certificates leaf to
 *     root and drops duplicates.
 *  2. OUT receives, by --to:
 *       pem, der  certificates, CSRs and CRLs; the private key only with
 *                 --include-key, or when the input holds nothing but keys
 *       p7b       certificates and CRLs
 *       p12       certificates and the private key
 *     --only TYPE keeps one type; --index N keeps the Nth object of it.
 *  3. A private key that does not go into OUT goes to --key-out FILE (mode
 *     0600, PEM; DER with --to der), or is left out with a warning that says
 *     how to write it. Nothing is dropped without a word.
 *  4. Passwords. --password-file / CERTKIT_PASSWORD open the INPUT. The
 *     PKCS#12 output password is --out-password-file, else
 *     CERTKIT_OUT_PASSWORD, else the input password, else a prompt on a
 *     terminal; --no-password writes an unprotected file instead. An empty
 *     output password is refused: Java cannot open a PKCS#12 whose MAC uses
 *     it, and it protects nothing. A PEM/DER key is encrypted (PKCS#8,
 *     AES-256-CBC) only when an output password is given explicitly, since
 *     servers read keys unattended.
 *  5. Every file is written atomically; on any error no output is touched,
 *     except that a failure writing --key-out after OUT leaves OUT new.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tool.h"

static const char USAGE[] =
    "usage: certkit convert --to FORMAT --out FILE [options] FILE...\n"
    "\n"
    "Rewrites certificates, keys, CSRs and CRLs from any format certkit reads\n"
    "(PEM, DER, PKCS#7, PKCS#12) as FORMAT. All FILEs, --chain and --key are\n"
    "merged in that order. Output files are replaced atomically; a file that\n"
    "holds a private key is mode 0600, any other 0644.\n"
    "\n"
    "Formats (--to):\n"
    "  pem   certificates, CSRs, CRLs; the key only with --include-key\n"
    "  der   exactly one object (pick it with --index / --only)\n"
    "  p7b   PKCS#7 of certificates and CRLs (PEM; DER with --der)\n"
    "  p12   PKCS#12 of the key and its certificates (AES-256, SHA-256 MAC)\n"
    "\n"
    "Options:\n"
    "  --to FORMAT              output format (pem when only --normalize)\n"
    "  --out FILE               the file to write (required)\n"
    "  --key FILE               add a private key file\n"
    "  --chain FILE             add a certificate file (repeatable)\n"
    "  --normalize              order certificates leaf to root, drop\n"
    "                           duplicates\n"
    "  --key-out FILE           write the private key to its own file (0600)\n"
    "  --include-key            put the private key in the PEM/DER OUT too\n"
    "  --only TYPE              keep only cert, key, crl or csr objects\n"
    "  --index N                keep only the Nth of them (1 = first)\n"
    "  --name NAME              PKCS#12 friendly name (default: the leaf CN)\n"
    "  --legacy                 PKCS#12 with 3DES and a SHA-1 MAC, for\n"
    "                           Windows Server 2016, Java 8, old appliances\n"
    "  --java-trust             certificate-only PKCS#12: mark every\n"
    "                           certificate trusted for Java (trust store)\n"
    "  --der                    PKCS#7 as DER instead of PEM\n"
    "  --password-file FILE     password of the INPUT (first line); else\n"
    "                           $CERTKIT_PASSWORD, else a prompt on a tty\n"
    "  --out-password-file FILE password of the output PKCS#12, or to encrypt\n"
    "                           a PEM/DER key; else $CERTKIT_OUT_PASSWORD;\n"
    "                           PKCS#12 falls back to the input password,\n"
    "                           then a prompt. An empty one is refused.\n"
    "  --no-password            PKCS#12 with no password, MAC or encryption\n"
    "  --json                   print what was written as JSON\n"
    "  --help                   print this help\n"
    "\n"
    "Exit codes: 0 written, 1 internal failure, 2 usage, input or write\n"
    "error (nothing was written).\n";

enum {
	O_TO = 256,
	O_OUT,
	O_KEY,
	O_CHAIN,
	O_PWFILE,
	O_OUTPWFILE,
	O_NAME,
	O_NORMALIZE,
	O_KEYOUT,
	O_INCLUDEKEY,
	O_LEGACY,
	O_DER,
	O_JAVATRUST,
	O_NOPASSWORD,
	O_ONLY,
	O_INDEX,
	O_JSON,
	O_HELP,
};

struct opts {
	int to; /* ck_format, -1 unset */
	const char *out, *key_out, *pwfile, *outpwfile, *name;
	const char **keys, **chains;
	size_t nkeys, nchains;
	bool normalize, include_key, legacy, der, java_trust, no_password;
	bool json;
	int only; /* ck_obj_type, -1 unset */
	size_t index;
};

static const char *const FMT_ARG[] = {"pem", "der", "p12", "p7b"};
static const char *const TYPE_ARG[] = {"cert", "key", "csr", "crl"};
static const char *const TYPE_ONE[] = {
    "certificate", "private key", "CSR", "CRL"};
static const char *const TYPE_MANY[] = {
    "certificates", "private keys", "CSRs", "CRLs"};

/* The summary line's nouns: "1 key, 3 certificates". */
static const char *const SHORT_ONE[] = {"certificate", "key", "CSR", "CRL"};
static const char *const SHORT_MANY[] = {
    "certificates", "keys", "CSRs", "CRLs"};

/* "2 certificates and 1 key", or "nothing". */
static void
counts_text(const ck_bundle *b, char *out, size_t size)
{
	static const int order[] = {
	    CK_OBJ_CERT, CK_OBJ_KEY, CK_OBJ_CSR, CK_OBJ_CRL};
	size_t off = 0, total = 0, parts = 0;

	out[0] = '\0';
	for (int i = 0; i < 4; i++)
		total += ck_bundle_count(b, (ck_obj_type)order[i]) > 0;
	for (int i = 0; i < 4 && off < size; i++) {
		size_t n = ck_bundle_count(b, (ck_obj_type)order[i]);
		int w;

		if (n == 0)
			continue;
		parts++;
		w = snprintf(out + off, size - off, "%s%zu %s",
		    parts == 1           ? ""
		        : parts == total ? " and "
		                         : ", ",
		    n, n == 1 ? SHORT_ONE[order[i]] : SHORT_MANY[order[i]]);
		if (w < 0)
			break;
		off += (size_t)w;
	}
	if (parts == 0)
		snprintf(out, size, "nothing");
}

static int
pick(const char *arg, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(arg, names[i]) == 0)
			return i;
	return -1;
}

static bool
push_arg(const char ***list, size_t *n, const char *arg)
{
	const char **nl = realloc(*list, (*n + 1) * sizeof(*nl));

	if (nl == NULL) {
		tool_err("out of memory");
		return false;
	}
	nl[(*n)++] = arg;
	*list = nl;
	return true;
}

/* Returns -1 to go on, or an exit code. */
static int
parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"to", required_argument, NULL, O_TO},
	    {"out", required_argument, NULL, O_OUT},
	    {"key", required_argument, NULL, O_KEY},
	    {"chain", required_argument, NULL, O_CHAIN},
	    {"password-file", required_argument, NULL, O_PWFILE},
	    {"out-password-file", required_argument, NULL, O_OUTPWFILE},
	    {"name", required_argument, NULL, O_NAME},
	    {"normalize", no_argument, NULL, O_NORMALIZE},
	    {"key-out", required_argument, NULL, O_KEYOUT},
	    {"include-key", no_argument, NULL, O_INCLUDEKEY},
	    {"legacy", no_argument, NULL, O_LEGACY},
	    {"der", no_argument, NULL, O_DER},
	    {"java-trust", no_argument, NULL, O_JAVATRUST},
	    {"no-password", no_argument, NULL, O_NOPASSWORD},
	    {"only", required_argument, NULL, O_ONLY},
	    {"index", required_argument, NULL, O_INDEX},
	    {"json", no_argument, NULL, O_JSON},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_TO:
			if ((o->to = pick(optarg, FMT_ARG, 4)) < 0) {
				tool_err("--to '%s': unknown format; expected "
				         "pem, der, p12 or p7b",
				    optarg);
				return TOOL_USAGE;
			}
			break;
		case O_OUT: o->out = optarg; break;
		case O_KEY:
			if (!push_arg(&o->keys, &o->nkeys, optarg))
				return TOOL_PROBLEM;
			break;
		case O_CHAIN:
			if (!push_arg(&o->chains, &o->nchains, optarg))
				return TOOL_PROBLEM;
			break;
		case O_PWFILE: o->pwfile = optarg; break;
		case O_OUTPWFILE: o->outpwfile = optarg; break;
		case O_NAME: o->name = optarg; break;
		case O_NORMALIZE: o->normalize = true; break;
		case O_KEYOUT: o->key_out = optarg; break;
		case O_INCLUDEKEY: o->include_key = true; break;
		case O_LEGACY: o->legacy = true; break;
		case O_DER: o->der = true; break;
		case O_JAVATRUST: o->java_trust = true; break;
		case O_NOPASSWORD: o->no_password = true; break;
		case O_ONLY:
			if ((o->only = pick(optarg, TYPE_ARG, 4)) < 0) {
				tool_err("--only '%s': unknown type; expected "
				         "cert, key, crl or csr",
				    optarg);
				return TOOL_USAGE;
			}
			break;
		case O_INDEX: {
			char *end;
			long v;

			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    v < 1 || v > 1000000) {
				tool_err("--index '%s': expected a number from "
				         "1 (the first object)",
				    optarg);
				return TOOL_USAGE;
			}
			o->index = (size_t)v;
			break;
		}
		case O_JSON: o->json = true; break;
		case O_HELP: return tool_usage(stdout, USAGE, TOOL_OK);
		default: return tool_usage(stderr, USAGE, TOOL_USAGE);
		}
	}
	return -1;
}

/* Option combinations that cannot mean anything. */
static int
check_opts(struct opts *o, int nfiles)
{
	const char *bad = NULL;

	if (o->to < 0 && o->normalize)
		o->to = CK_FMT_PEM;
	if (o->to < 0)
		bad = "give the output format with --to pem|der|p12|p7b";
	else if (o->out == NULL)
		bad = "give the file to write with --out FILE";
	else if (nfiles == 0 && o->nkeys == 0 && o->nchains == 0)
		bad = "give at least one input FILE";
	else if (o->legacy && o->to != CK_FMT_P12)
		bad = "--legacy applies to --to p12 only";
	else if (o->java_trust && o->to != CK_FMT_P12)
		bad = "--java-trust applies to --to p12 only";
	else if (o->name != NULL && o->to != CK_FMT_P12)
		bad = "--name applies to --to p12 only";
	else if (o->no_password && o->to != CK_FMT_P12)
		bad =
		    "--no-password applies to --to p12 only (PEM and DER "
		    "keys are unencrypted unless --out-password-file is given)";
	else if (o->no_password && o->outpwfile != NULL)
		bad = "--no-password and --out-password-file contradict each "
		      "other; give one";
	else if (o->der && o->to != CK_FMT_P7B)
		bad = "--der applies to --to p7b only (use --to der for single "
		      "DER objects)";
	else if (o->key_out != NULL && o->to == CK_FMT_P12)
		bad = "--key-out does not apply to --to p12: the PKCS#12 file "
		      "carries the key itself";
	else if (o->include_key && o->to == CK_FMT_P7B)
		bad = "--include-key: PKCS#7 cannot carry a private key; use "
		      "--key-out FILE";
	else if (o->include_key && o->to == CK_FMT_P12)
		bad = "--include-key is implied by --to p12";
	else if (o->include_key && o->key_out != NULL)
		bad = "--include-key and --key-out: choose where the key goes";
	else if (o->key_out != NULL && strcmp(o->key_out, o->out) == 0)
		bad = "--key-out names the same file as --out; use "
		      "--include-key to put the key in OUT";
	else if (o->only == CK_OBJ_KEY && o->key_out != NULL)
		bad = "--only key writes the key to OUT; drop --key-out";
	if (bad != NULL) {
		tool_err("convert: %s", bad);
		return TOOL_USAGE;
	}
	/* Not standard output: the output is replaced atomically
	 * (ck_write_file_atomic), which standard output cannot be. */
	if (!tool_path_arg("--out", o->out) ||
	    !tool_path_arg("--key-out", o->key_out))
		return TOOL_USAGE;
	return -1;
}

/* ---- output is not an input ---------------------------------------------- */

/* True if `a` and `b` name one existing file: the same inode, so hard links
 * and other spellings of the path count. */
static bool
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* The input (FILE, --chain, --key or a password file) that `out` would
 * replace, or NULL. Everything is read before OUT is written, but a
 * private key that goes to neither output would be lost with the file. */
static const char *
input_of(const struct opts *o, int argc, char **argv, const char *out)
{
	for (int i = optind; i < argc; i++)
		if (same_file(out, argv[i]))
			return argv[i];
	for (size_t i = 0; i < o->nchains; i++)
		if (same_file(out, o->chains[i]))
			return o->chains[i];
	for (size_t i = 0; i < o->nkeys; i++)
		if (same_file(out, o->keys[i]))
			return o->keys[i];
	if (o->pwfile != NULL && same_file(out, o->pwfile))
		return o->pwfile;
	if (o->outpwfile != NULL && same_file(out, o->outpwfile))
		return o->outpwfile;
	return NULL;
}

/* Refuses (exit 2) an output that is one of the inputs, or --key-out that
 * is OUT under another name. */
static int
check_outputs(const struct opts *o, int argc, char **argv)
{
	const char *outs[2] = {o->out, o->key_out}, *in;

	for (int i = 0; i < 2; i++) {
		if (outs[i] == NULL ||
		    (in = input_of(o, argc, argv, outs[i])) == NULL)
			continue;
		tool_err("convert: %s%s is the input %s%s; writing it would "
		         "destroy what is being read (a private key in it "
		         "would be lost). Write to a new file, check it, then "
		         "move it over the old one",
		    i == 0 ? "--out " : "--key-out ", outs[i], in,
		    strcmp(in, outs[i]) == 0 ? "" : " (the same file)");
		return TOOL_USAGE;
	}
	if (o->key_out != NULL && same_file(o->out, o->key_out)) {
		tool_err("convert: --key-out %s is the same file as --out %s; "
		         "use --include-key to put the key in OUT",
		    o->key_out, o->out);
		return TOOL_USAGE;
	}
	return -1;
}

/* ---- passwords ----------------------------------------------------------- */

/* Prompts twice on the terminal, echo off. NULL if there is no terminal. */
static char *
prompt_new_password(const char *what)
{
	char a[1024], b[1024], prompt[600];
	char *out = NULL;

	if (!isatty(STDIN_FILENO))
		return NULL;
	snprintf(prompt, sizeof(prompt), "New password for %s: ", what);
	if (tool_tty_read(prompt, a, sizeof(a)) < 0 ||
	    tool_tty_read("Again, to confirm: ", b, sizeof(b)) < 0) {
		ck_wipe(a, sizeof(a));
		return NULL;
	}
	if (strcmp(a, b) != 0)
		tool_err("the two passwords differ; nothing was written");
	else if ((out = strdup(a)) == NULL)
		tool_err("out of memory");
	ck_wipe(a, sizeof(a));
	ck_wipe(b, sizeof(b));
	return out;
}

static void
pw_free(char *pw)
{
	if (pw != NULL) {
		ck_wipe(pw, strlen(pw));
		free(pw);
	}
}

static char *
dup_or_complain(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		tool_err("out of memory");
	return p;
}

/*
 * The output password (rule 4 of the header). Sets *pw (NULL: none) and
 * returns -1 to go on, or an exit code. `src` names the source for messages
 * and the summary.
 */
static int
output_password(ck_ctx *ctx, const struct opts *o, char **pw, const char **src)
{
	const char *env = getenv("CERTKIT_OUT_PASSWORD");
	const char *inenv = getenv("CERTKIT_PASSWORD");
	bool p12 = o->to == CK_FMT_P12;

	*pw = NULL;
	*src = "none";
	if (o->no_password)
		return -1;
	if (o->outpwfile != NULL) {
		if ((*pw = tool_read_password_file(o->outpwfile)) == NULL)
			return TOOL_USAGE;
		*src = o->outpwfile;
	} else if (env != NULL) {
		if ((*pw = dup_or_complain(env)) == NULL)
			return TOOL_PROBLEM;
		*src = "CERTKIT_OUT_PASSWORD";
	} else if (!p12) {
		/* PEM/DER keys stay unencrypted unless asked: servers read
		 * them unattended. */
		return -1;
	} else {
		/* PKCS#12: the input's password, when it had a real one. */
		if (o->pwfile != NULL) {
			if ((*pw = tool_read_password_file(o->pwfile)) == NULL)
				return TOOL_USAGE;
			*src = o->pwfile;
			if ((*pw)[0] == '\0') {
				pw_free(*pw);
				*pw = NULL;
			}
		} else if (inenv != NULL && inenv[0] != '\0') {
			if ((*pw = dup_or_complain(inenv)) == NULL)
				return TOOL_PROBLEM;
			*src = "CERTKIT_PASSWORD";
		}
		if (*pw == NULL && (*pw = prompt_new_password(o->out)) != NULL)
			*src = "the terminal";
		if (*pw == NULL) {
			tool_err(
			    "%s: a PKCS#12 file needs a password: give it "
			    "with --out-password-file FILE or "
			    "CERTKIT_OUT_PASSWORD, or write an unprotected "
			    "file with --no-password",
			    o->out);
			return TOOL_USAGE;
		}
	}
	if (ck_write_password_check(
	        ctx, p12 ? CK_FMT_P12 : (ck_format)o->to, *pw) != CK_OK) {
		/* The library's one message, with where the password came
		 * from. */
		tool_err("%s: %s (from %s)%s", o->out, ck_ctx_error(ctx), *src,
		    p12 && (*pw)[0] == '\0'
		        ? ", or --no-password for a deliberately unprotected "
		          "file"
		        : "");
		pw_free(*pw);
		*pw = NULL;
		return TOOL_USAGE;
	}
	return -1;
}

/* ---- loading ------------------------------------------------------------- */

static int
load_into(ck_ctx *ctx, ck_bundle *all, const char *path, int want)
{
	ck_bundle *b = NULL;
	ck_status st;

	if ((st = tool_load(ctx, path, want, &b)) != CK_OK) {
		tool_err("%s", tool_load_error(ctx));
		return st == CK_E_NOMEM ? TOOL_PROBLEM : TOOL_USAGE;
	}
	st = ck_bundle_merge(all, b);
	ck_bundle_free(b);
	if (st != CK_OK) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	return -1;
}

/* ---- reporting ----------------------------------------------------------- */

static json_t *
file_json(const char *path, const char *format, const ck_bundle *b,
    bool holds_key, const char *protection)
{
	json_t *f = json_object();

	json_object_set_new(f, "path", tool_json_str(path));
	json_object_set_new(f, "format", json_string(format));
	json_object_set_new(
	    f, "mode", json_string(holds_key ? "0600" : "0644"));
	json_object_set_new(f, "certificates",
	    json_integer((json_int_t)ck_bundle_count(b, CK_OBJ_CERT)));
	json_object_set_new(f, "keys",
	    json_integer((json_int_t)ck_bundle_count(b, CK_OBJ_KEY)));
	json_object_set_new(f, "crls",
	    json_integer((json_int_t)ck_bundle_count(b, CK_OBJ_CRL)));
	json_object_set_new(f, "csrs",
	    json_integer((json_int_t)ck_bundle_count(b, CK_OBJ_CSR)));
	json_object_set_new(f, "protection", json_string(protection));
	return f;
}

/* "wrote out.p12: 1 key, 3 certificates (PKCS#12, AES-256, mode 0600)" */
static void
print_file(json_t *f)
{
	static const char *const keys[] = {
	    "keys", "certificates", "csrs", "crls"};
	static const int type[] = {
	    CK_OBJ_KEY, CK_OBJ_CERT, CK_OBJ_CSR, CK_OBJ_CRL};
	const char *prot = json_string_value(json_object_get(f, "protection"));
	int parts = 0;

	printf("wrote %s: ",
	    tool_esc(json_string_value(json_object_get(f, "path"))));
	for (int i = 0; i < 4; i++) {
		json_int_t n = json_integer_value(json_object_get(f, keys[i]));

		if (n == 0)
			continue;
		printf("%s%lld %s", parts++ ? ", " : "", (long long)n,
		    n == 1 ? SHORT_ONE[type[i]] : SHORT_MANY[type[i]]);
	}
	printf(" (%s%s%s, mode %s)\n",
	    json_string_value(json_object_get(f, "format")),
	    prot[0] ? ", " : "", prot,
	    json_string_value(json_object_get(f, "mode")));
}

/* Records and warns about objects of type t the outputs do not carry. */
static void
left_out(json_t *arr, const ck_bundle *all, const ck_bundle *outb,
    const ck_bundle *keyb, int t, const char *why, bool warn)
{
	size_t have = ck_bundle_count(all, (ck_obj_type)t);
	size_t put = ck_bundle_count(outb, (ck_obj_type)t) +
	    (keyb != NULL ? ck_bundle_count(keyb, (ck_obj_type)t) : 0);
	json_t *e;

	if (have <= put)
		return;
	e = json_object();
	json_object_set_new(e, "type", json_string(TYPE_ARG[t]));
	json_object_set_new(e, "count", json_integer((json_int_t)(have - put)));
	json_object_set_new(e, "reason", json_string(why));
	json_array_append_new(arr, e);
	if (warn)
		tool_warn("%zu %s from the input %s not written: %s",
		    have - put, have - put == 1 ? TYPE_ONE[t] : TYPE_MANY[t],
		    have - put == 1 ? "was" : "were", why);
}

static const char *
protection(const struct opts *o, const ck_bundle *b, const char *pw)
{
	if (o->to == CK_FMT_P12) {
		if (pw == NULL)
			return "no password";
		return o->legacy ? "3DES, SHA-1 MAC (legacy)" : "AES-256";
	}
	if (ck_bundle_count(b, CK_OBJ_KEY) == 0)
		return "";
	return pw != NULL ? "key encrypted with AES-256" : "key unencrypted";
}

/* The write options of OUT (o given) or of the key file (o NULL): 0, or
 * -1 with the reason on ctx. */
static int
write_opts(ck_ctx *ctx, const struct opts *o, const char *pw, const char *name,
    ck_write_opts **wo)
{
	if (ck_write_opts_new(ctx, wo) != CK_OK ||
	    ck_write_opts_set_password(*wo, pw) != CK_OK ||
	    ck_write_opts_set_name(*wo, name) != CK_OK)
		return -1;
	if (o != NULL) {
		ck_write_opts_set_java_trusted(*wo, o->java_trust);
		ck_write_opts_set_p7b_pem(*wo, !o->der);
		ck_write_opts_set_p12_legacy(*wo, o->legacy);
	}
	return 0;
}

/* ---- the command --------------------------------------------------------- */

/* One conversion: the options, the input, and what goes to OUT (outb) and
 * to --key-out (keyb). */
struct conv {
	struct opts o;
	ck_ctx *ctx;
	ck_bundle *all, *dedup, *outb, *keyb;
	ck_write_opts *wo, *kwo;
	char *pw, *key_pw, *cn;
	const char *pwsrc;
};

/* Rule 1: FILEs, then --chain, then --key, merged in that order. Each step
 * below returns -1 to go on, else the exit code. */
static int
conv_load(struct conv *cv, int argc, char **argv)
{
	const struct opts *o = &cv->o;
	int r;

	for (int i = optind; i < argc; i++)
		if ((r = load_into(cv->ctx, cv->all, argv[i], -1)) >= 0)
			return r;
	for (size_t i = 0; i < o->nchains; i++)
		if ((r = load_into(
		         cv->ctx, cv->all, o->chains[i], CK_OBJ_CERT)) >= 0)
			return r;
	for (size_t i = 0; i < o->nkeys; i++)
		if ((r = load_into(cv->ctx, cv->all, o->keys[i], CK_OBJ_KEY)) >=
		    0)
			return r;
	if (o->normalize && ck_bundle_normalize(cv->ctx, cv->all) != CK_OK)
		return tool_ctx_fail(cv->ctx);
	/* The same key from a PKCS#12 file and from --key counts once. */
	if (ck_bundle_select(cv->ctx, cv->all, 0, 0, &cv->dedup) != CK_OK)
		return tool_ctx_fail(cv->ctx);
	return -1;
}

/* Rule 2: the types OUT receives. */
static unsigned
conv_types(const struct opts *o, const ck_bundle *dedup)
{
	bool only_keys = ck_bundle_count(dedup, CK_OBJ_KEY) > 0 &&
	    ck_bundle_count(dedup, CK_OBJ_CERT) +
	            ck_bundle_count(dedup, CK_OBJ_CRL) +
	            ck_bundle_count(dedup, CK_OBJ_CSR) ==
	        0;
	unsigned types;

	if (o->only >= 0)
		return CK_SEL(o->only);
	switch (o->to) {
	case CK_FMT_P12:
		types = CK_SEL(CK_OBJ_CERT) | CK_SEL(CK_OBJ_KEY);
		break;
	case CK_FMT_P7B:
		types = CK_SEL(CK_OBJ_CERT) | CK_SEL(CK_OBJ_CRL);
		break;
	default:
		types = CK_SEL(CK_OBJ_CERT) | CK_SEL(CK_OBJ_CSR) |
		    CK_SEL(CK_OBJ_CRL);
		if (o->include_key || only_keys)
			types |= CK_SEL(CK_OBJ_KEY);
		break;
	}
	return types;
}

/* Rule 2: what OUT receives. */
static int
conv_select(struct conv *cv)
{
	const struct opts *o = &cv->o;
	unsigned types = conv_types(o, cv->dedup);

	if (o->index > 0) {
		int t = o->only >= 0 ? o->only : CK_OBJ_CERT;
		unsigned extra = types & CK_SEL(CK_OBJ_KEY) & ~CK_SEL(t);

		/* --index picks one object of a type; with p12 (or
		 * --include-key) the key still comes along. */
		if (ck_bundle_select(cv->ctx, cv->dedup, CK_SEL(t), o->index,
		        &cv->outb) != CK_OK)
			return tool_ctx_fail(cv->ctx);
		if (extra) {
			ck_bundle *kb = NULL;

			if (ck_bundle_select(
			        cv->ctx, cv->dedup, extra, 0, &kb) != CK_OK ||
			    ck_bundle_merge(cv->outb, kb) != CK_OK) {
				ck_bundle_free(kb);
				return tool_ctx_fail(cv->ctx);
			}
			ck_bundle_free(kb);
		}
	} else if (ck_bundle_select(cv->ctx, cv->dedup, types, 0, &cv->outb) !=
	    CK_OK) {
		return tool_ctx_fail(cv->ctx);
	}
	return -1;
}

/* Rule 2: OUT can hold what it receives. */
static int
conv_check_out(const struct opts *o, const ck_bundle *outb)
{
	if (o->only < 0 && o->to != CK_FMT_P12 && o->index == 0 &&
	    ck_bundle_count(outb, CK_OBJ_CERT) +
	            ck_bundle_count(outb, CK_OBJ_KEY) +
	            ck_bundle_count(outb, CK_OBJ_CRL) +
	            ck_bundle_count(outb, CK_OBJ_CSR) ==
	        0) {
		tool_err("%s: nothing to write as %s: the input holds only "
		         "private keys%s",
		    o->out, FMT_ARG[o->to],
		    o->to == CK_FMT_P7B ? ", which PKCS#7 cannot carry; use "
		                          "--to pem or --to der"
		                        : "");
		return TOOL_USAGE;
	}
	if (o->only >= 0 && ck_bundle_count(outb, (ck_obj_type)o->only) == 0) {
		tool_err("%s: --only %s: the input holds no %s", o->out,
		    TYPE_ARG[o->only], TYPE_MANY[o->only]);
		return TOOL_USAGE;
	}
	if (o->to == CK_FMT_DER) {
		size_t n = 0;

		for (int t = 0; t < 4; t++)
			n += ck_bundle_count(outb, (ck_obj_type)t);
		if (n > 1) {
			char what[160];

			counts_text(outb, what, sizeof(what));
			/* X.690: a DER file is one value; readers stop after
			 * the first, so a second object would be lost. */
			tool_err(
			    "%s: --to der writes exactly one object, but "
			    "the input has %s to write: pick one with --index "
			    "N "
			    "(1 = the first certificate) or --only "
			    "cert|key|crl|csr, or use --to pem or --to p7b for "
			    "a chain",
			    o->out, what);
			return TOOL_USAGE;
		}
	}
	if (o->java_trust && ck_bundle_count(outb, CK_OBJ_KEY) > 0) {
		tool_err(
		    "%s: --java-trust makes a trust store, which holds "
		    "certificates only, but the input has a private key; drop "
		    "the key (--only cert) or omit --java-trust",
		    o->out);
		return TOOL_USAGE;
	}
	return -1;
}

/* Rule 3: the key's own file. */
static int
conv_key_out(struct conv *cv)
{
	const struct opts *o = &cv->o;

	if (o->key_out == NULL)
		return -1;
	if (ck_bundle_select(
	        cv->ctx, cv->dedup, CK_SEL(CK_OBJ_KEY), 0, &cv->keyb) != CK_OK)
		return tool_ctx_fail(cv->ctx);
	if (ck_bundle_count(cv->keyb, CK_OBJ_KEY) == 0) {
		tool_err("--key-out %s: the input holds no private "
		         "key",
		    o->key_out);
		return TOOL_USAGE;
	}
	if (ck_bundle_count(cv->outb, CK_OBJ_KEY) > 0) {
		tool_err("--key-out %s: the input holds only keys, "
		         "which go to %s already; drop --key-out",
		    o->key_out, o->out);
		return TOOL_USAGE;
	}
	return -1;
}

/* Rule 4, passwords; then writes OUT, then the key file. */
static int
conv_write(struct conv *cv)
{
	const struct opts *o = &cv->o;
	int r;

	if ((r = output_password(cv->ctx, o, &cv->pw, &cv->pwsrc)) >= 0)
		return r;
	if (o->to == CK_FMT_P12 && ck_bundle_count(cv->outb, CK_OBJ_CERT) > 0 &&
	    o->name == NULL)
		cv->cn = ck_cert_common_name(ck_bundle_get0_cert(cv->outb, 0));
	if (write_opts(cv->ctx, o, cv->pw, o->name != NULL ? o->name : cv->cn,
	        &cv->wo) != 0 ||
	    ck_write_bundle(
	        cv->ctx, cv->outb, (ck_format)o->to, cv->wo, o->out) != CK_OK)
		return tool_ctx_fail(cv->ctx);
	if (cv->keyb != NULL) {
		/* An explicit output password encrypts the key file too. */
		if (o->outpwfile != NULL || getenv("CERTKIT_OUT_PASSWORD"))
			cv->key_pw = cv->pw != NULL ? strdup(cv->pw) : NULL;
		if (write_opts(cv->ctx, NULL, cv->key_pw, NULL, &cv->kwo) !=
		        0 ||
		    ck_write_bundle(cv->ctx, cv->keyb,
		        o->to == CK_FMT_DER ? CK_FMT_DER : CK_FMT_PEM, cv->kwo,
		        o->key_out) != CK_OK) {
			r = tool_ctx_fail(cv->ctx);
			tool_err(
			    "%s was written; %s was not", o->out, o->key_out);
			return r;
		}
	}
	return -1;
}

/* The report's "left_out", and the warnings about what the outputs do
 * not carry or how they carry it. */
static void
conv_left_out(const struct conv *cv, json_t *skipped)
{
	const struct opts *o = &cv->o;
	/* What the user chose with --only / --index is recorded, not warned
	 * about; what the format forced out is both. */
	bool sel = o->only >= 0 || o->index > 0;

	left_out(skipped, cv->dedup, cv->outb, cv->keyb, CK_OBJ_KEY,
	    sel ? "not selected"
	        : o->to == CK_FMT_P7B
	        ? "PKCS#7 cannot carry a private key; write it "
	          "with --key-out FILE"
	        : "write it to its own file (mode 0600) "
	          "with --key-out FILE, or into OUT with --include-key",
	    !sel);
	left_out(skipped, cv->dedup, cv->outb, cv->keyb, CK_OBJ_CSR,
	    sel                       ? "not selected"
	        : o->to == CK_FMT_P12 ? "PKCS#12 cannot carry a CSR"
	                              : "PKCS#7 cannot carry a CSR",
	    !sel);
	left_out(skipped, cv->dedup, cv->outb, cv->keyb, CK_OBJ_CRL,
	    sel ? "not selected"
	        : "PKCS#12 carries no CRLs; use --to pem or --to p7b",
	    !sel);
	left_out(skipped, cv->dedup, cv->outb, cv->keyb, CK_OBJ_CERT,
	    "not selected", false);
	if (o->to == CK_FMT_P12 && !o->java_trust &&
	    ck_bundle_count(cv->outb, CK_OBJ_KEY) == 0)
		tool_warn(
		    "%s holds certificates only: Java's keytool and "
		    "KeyStore list no entries in it unless it is written with "
		    "--java-trust",
		    o->out);
	if (o->to == CK_FMT_P12 && cv->pw == NULL &&
	    ck_bundle_count(cv->outb, CK_OBJ_KEY) > 0)
		tool_warn("%s holds an unprotected private key "
		          "(--no-password): keep it as safe as the key itself; "
		          "Java ignores such an unencrypted key bag",
		    o->out);
}

/* The report: the files written and what was left out, as JSON or one
 * line per file. */
static int
conv_report(const struct conv *cv)
{
	const struct opts *o = &cv->o;
	const char *fmtname;
	json_t *doc, *files, *skipped;
	int rv;

	fmtname = o->to == CK_FMT_P12 ? "PKCS#12"
	    : o->to == CK_FMT_P7B     ? (o->der ? "PKCS#7 DER" : "PKCS#7 PEM")
	    : o->to == CK_FMT_DER     ? "DER"
	                              : "PEM";
	doc = json_object();
	files = json_array();
	skipped = json_array();
	json_object_set_new(doc, "written", files);
	json_object_set_new(doc, "left_out", skipped);
	json_array_append_new(files,
	    file_json(o->out, fmtname, cv->outb,
	        ck_bundle_count(cv->outb, CK_OBJ_KEY) > 0,
	        protection(o, cv->outb, cv->pw)));
	if (cv->keyb != NULL)
		json_array_append_new(files,
		    file_json(o->key_out, o->to == CK_FMT_DER ? "DER" : "PEM",
		        cv->keyb, true,
		        cv->key_pw != NULL ? "key encrypted with AES-256"
		                           : "key unencrypted"));
	if (o->to == CK_FMT_P12)
		json_object_set_new(json_array_get(files, 0), "friendly_name",
		    (o->name != NULL || cv->cn != NULL) &&
		            ck_bundle_count(cv->outb, CK_OBJ_KEY) > 0
		        ? json_string(o->name != NULL ? o->name : cv->cn)
		        : json_null());
	conv_left_out(cv, skipped);
	if (o->json) {
		rv = tool_print_json(doc);
	} else {
		if (!tool_g.quiet)
			for (size_t i = 0; i < json_array_size(files); i++)
				print_file(json_array_get(files, i));
		rv = TOOL_OK;
	}
	json_decref(doc);
	return rv;
}

int
cmd_convert(int argc, char **argv)
{
	struct conv cv = {.o = {.to = -1, .only = -1}, .pwsrc = "none"};
	struct opts *o = &cv.o;
	int rv;

	if ((rv = parse(argc, argv, o)) >= 0)
		goto err;
	if ((rv = check_opts(o, argc - optind)) >= 0 ||
	    (rv = check_outputs(o, argc, argv)) >= 0)
		goto err;
	rv = TOOL_PROBLEM;
	if ((cv.ctx = ck_ctx_new()) == NULL ||
	    (cv.all = ck_bundle_new()) == NULL) {
		tool_err("out of memory");
		goto err;
	}
	if (!tool_password_setup(cv.ctx, o->pwfile)) {
		rv = TOOL_USAGE;
		goto err;
	}
	if ((rv = conv_load(&cv, argc, argv)) >= 0 ||
	    (rv = conv_select(&cv)) >= 0 ||
	    (rv = conv_check_out(o, cv.outb)) >= 0 ||
	    (rv = conv_key_out(&cv)) >= 0 || (rv = conv_write(&cv)) >= 0)
		goto err;
	rv = conv_report(&cv);
err:
	ck_write_opts_free(cv.wo);
	ck_write_opts_free(cv.kwo);
	pw_free(cv.pw);
	pw_free(cv.key_pw);
	free(cv.cn);
	ck_bundle_free(cv.all);
	ck_bundle_free(cv.dedup);
	ck_bundle_free(cv.outb);
	ck_bundle_free(cv.keyb);
	ck_ctx_free(cv.ctx);
	free(o->keys);
	free(o->chains);
	return rv;
}
