/*
 * tool_lab.c: `certkit lab`, local endpoints that reproduce every
 * diagnosis of `certkit doctor`.
 *
 *   --serve  starts the lab, prints the endpoints and "lab ready: ENVFILE",
 *            and keeps it up until SIGINT/SIGTERM.
 *   --demo   starts the lab, runs the doctor in-process against every
 *            endpoint, prints the doctor's report and checks each endpoint
 *            got the diagnosis the lab reproduces (what `make demo` runs).
 */
#define _XOPEN_SOURCE 700 /* nftw() */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "certkit/doctor.h"
#include "certkit/lab.h"
#include "tool.h"

static const char usage_text[] =
    "usage: certkit lab [--dir DIR] (--serve | --demo) [--json]\n"
    "                   [--timeout SECONDS]\n"
    "\n"
    "Starts local endpoints on 127.0.0.1, each reproducing one diagnosis of\n"
    "'certkit doctor', with a PKI of their own, a DNS server, HTTP CONNECT\n"
    "proxies and an AIA server. It writes a doctor profile (one section per\n"
    "endpoint, named after the diagnosis it reproduces), the device's trust\n"
    "store, the reference roots, lab.json and lab.env into the directory.\n"
    "\n"
    "Options:\n"
    "  --serve        keep the lab up until SIGINT or SIGTERM; prints\n"
    "                 \"lab ready: DIR/lab.env\" once every server listens\n"
    "  --demo         run the doctor against every endpoint, print its report\n"
    "                 and check each endpoint got the expected diagnosis\n"
    "  --dir DIR      keep the lab's files in DIR (default: a temporary\n"
    "                 directory, removed at exit)\n"
    "  --json         --serve: print lab.json; --demo: print\n"
    "                 {\"lab\": ..., \"report\": ..., \"check\": ...}\n"
    "  --timeout SEC  --demo: the doctor's per-stage timeout (default 2)\n"
    "  --help         print this help\n"
    "\n"
    "Exit codes: 0 ok (--demo: every endpoint diagnosed as expected),\n"
    "1 a problem (--demo: a diagnosis differs), 2 usage or input error.\n";

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 ? 0 : -1;
}

static void
remove_tree(const char *dir)
{
	if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
		tool_warn("%s: could not remove the lab's directory: %s", dir,
		    strerror(errno));
}

static void
print_lab(FILE *f, json_t *lab)
{
	json_t *eps = json_object_get(lab, "endpoints");
	json_t *px = json_object_get(lab, "proxies"), *e;
	size_t i;

	fprintf(f, "%scertkit lab%s: %zu endpoints on 127.0.0.1, files in %s\n",
	    tool_c(f, TC_BOLD), tool_c(f, TC_RESET), json_array_size(eps),
	    json_string_value(json_object_get(lab, "dir")));
	fprintf(f, "  DNS    %s (zone %s; other names are refused)\n",
	    json_string_value(json_object_get(lab, "dns")),
	    json_string_value(json_object_get(lab, "zone")));
	fprintf(
	    f, "  AIA    %s\n", json_string_value(json_object_get(lab, "aia")));
	fprintf(f, "  proxy  %s   with Basic auth: %s\n",
	    json_string_value(json_object_get(px, "ok")),
	    json_string_value(json_object_get(px, "auth_with_credentials")));
	fprintf(f, "\n  %s%-34s %-34s %s%s\n", tool_c(f, TC_DIM), "SECTION",
	    "ENDPOINT", "REPRODUCES", tool_c(f, TC_RESET));
	json_array_foreach(eps, i, e)
	{
		const char *proxy =
		    json_string_value(json_object_get(e, "proxy"));

		fprintf(f, "  %-34s %-34s %s\n",
		    json_string_value(json_object_get(e, "name")),
		    json_string_value(json_object_get(e, "endpoint")),
		    json_string_value(json_object_get(e, "what")));
		if (proxy != NULL)
			fprintf(f, "  %-34s %s  via %s\n", "", "", proxy);
	}
	fprintf(f,
	    "\n  Profile    %s\n  Trust      %s (the device's store)\n"
	    "  Reference  %s (well-known roots, to explain failures)\n"
	    "  Env        %s\n\n  Try: certkit doctor --profile %s \\\n"
	    "         --trust %s --reference %s --dns %s\n",
	    json_string_value(json_object_get(lab, "profile")),
	    json_string_value(json_object_get(lab, "trust")),
	    json_string_value(json_object_get(lab, "reference")),
	    json_string_value(json_object_get(lab, "env")),
	    json_string_value(json_object_get(lab, "profile")),
	    json_string_value(json_object_get(lab, "trust")),
	    json_string_value(json_object_get(lab, "reference")),
	    json_string_value(json_object_get(lab, "dns")));
}

static void
progress(size_t done, size_t total, void *arg)
{
	FILE *f = arg;

	fprintf(f, "\r  checking endpoints: %zu/%zu", done, total);
	if (done == total)
		fprintf(f, "\r%40s\r", "");
	fflush(f);
}

/* The primary code and status the doctor gave endpoint i. */
static void
doctor_result(json_t *report, size_t i, const char *name, const char **code,
    const char **status)
{
	json_t *eps = json_object_get(report, "endpoints"), *e = NULL, *x;
	size_t k;

	*code = *status = NULL;
	/* By profile section when the report names it, else by position
	 * (the report keeps the profile's order). */
	json_array_foreach(eps, k, x)
	{
		const char *n = json_string_value(json_object_get(x, "name"));

		if (n != NULL && strcmp(n, name) == 0) {
			e = x;
			break;
		}
	}
	if (e == NULL)
		e = json_array_get(eps, i);
	if (e == NULL)
		return;
	*status = json_string_value(json_object_get(e, "status"));
	*code = json_string_value(json_object_get(
	    json_array_get(json_object_get(e, "diagnosis"), 0), "code"));
}

/* Compares the report with what the lab reproduces. */
static json_t *
check_report(json_t *lab, json_t *report, size_t *bad)
{
	json_t *eps = json_object_get(lab, "endpoints"), *e;
	json_t *out = json_array();
	size_t i;

	*bad = 0;
	json_array_foreach(eps, i, e)
	{
		const char *name =
		    json_string_value(json_object_get(e, "name"));
		const char *want =
		    json_string_value(json_object_get(e, "code"));
		const char *wst =
		    json_string_value(json_object_get(e, "status"));
		const char *got, *gst;
		int ok;

		doctor_result(report, i, name, &got, &gst);
		ok = got != NULL && gst != NULL && strcmp(got, want) == 0 &&
		    strcmp(gst, wst) == 0;
		if (!ok)
			(*bad)++;
		json_array_append_new(out,
		    json_pack("{s:s, s:s, s:s, s:s?, "
		              "s:s?, s:b}",
		        "name", name, "expected", want, "expected_status", wst,
		        "got", got, "got_status", gst, "ok", ok));
	}
	return out;
}

static void
print_check(FILE *f, json_t *check, size_t bad)
{
	json_t *e;
	size_t i;

	json_array_foreach(check, i, e)
	{
		if (json_is_true(json_object_get(e, "ok")))
			continue;
		fprintf(f,
		    "  %sMISMATCH%s %s: the lab reproduces %s (%s); the "
		    "doctor said %s (%s)\n",
		    tool_c(f, TC_RED), tool_c(f, TC_RESET),
		    json_string_value(json_object_get(e, "name")),
		    json_string_value(json_object_get(e, "expected")),
		    json_string_value(json_object_get(e, "expected_status")),
		    json_string_value(json_object_get(e, "got"))
		        ? json_string_value(json_object_get(e, "got"))
		        : "nothing",
		    json_string_value(json_object_get(e, "got_status"))
		        ? json_string_value(json_object_get(e, "got_status"))
		        : "-");
	}
	fprintf(f,
	    "%slab check%s: %zu of %zu endpoints diagnosed as the lab "
	    "expects%s\n",
	    tool_c(f, TC_BOLD), tool_c(f, TC_RESET),
	    json_array_size(check) - bad, json_array_size(check),
	    bad == 0 ? "" : "; see the mismatches above");
}

static int
run_demo(ck_ctx *ctx, ck_lab *lab, json_t *labdoc, int timeout_ms, bool json)
{
	ck_doctor *d = NULL;
	char *text = NULL;
	json_t *report = NULL, *check = NULL, *doc;
	int all_online = 0, rc = TOOL_PROBLEM;
	size_t bad = 0;

	if (ck_doctor_new(ctx, &d) != CK_OK) {
		tool_err("out of memory");
		goto out;
	}
	if (ck_doctor_load_profile(d, ck_lab_profile(lab)) != CK_OK ||
	    ck_doctor_set_trust(d, ck_lab_trust(lab)) != CK_OK ||
	    ck_doctor_set_reference(d, ck_lab_reference(lab)) != CK_OK ||
	    ck_doctor_set_dns(d, ck_lab_dns(lab)) != CK_OK ||
	    ck_doctor_set_proxy(d, "") != CK_OK) {
		rc = tool_ctx_fail(ctx);
		goto out;
	}
	/* The black holes (handshake, TCP, DNS timeouts) each cost one
	 * stage timeout; they run in parallel, so the demo takes about that
	 * long. */
	ck_doctor_set_timeout_ms(d, timeout_ms);
	if (!json && isatty(STDERR_FILENO))
		ck_doctor_set_progress_cb(d, progress, stderr);
	if (ck_doctor_run(d, &text, &all_online) != CK_OK) {
		rc = tool_ctx_fail(ctx);
		goto out;
	}
	report = tool_parse_report(text, !json);
	check = check_report(labdoc, report, &bad);
	if (json) {
		doc = json_pack("{s:O, s:O, s:{s:b, s:I, s:O}}", "lab", labdoc,
		    "report", report, "check", "ok", bad == 0, "mismatches",
		    (json_int_t)bad, "endpoints", check);
		if (doc != NULL)
			tool_print_json(doc);
		json_decref(doc);
	} else {
		(void)tool_doctor_render(stdout, report);
		fputc('\n', stdout);
		print_check(stdout, check, bad);
	}
	rc = bad == 0 ? TOOL_OK : TOOL_PROBLEM;
out:
	json_decref(check);
	json_decref(report);
	ck_free(text);
	ck_doctor_free(d);
	return rc;
}

/* SIGINT/SIGTERM are taken with sigwait() (--serve); block them
 * before the lab thread starts so it never receives them. (SIGPIPE:
 * main.c, and the library never raises it.) */
static void
block_signals(bool serve, sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	if (serve) {
		struct sigaction sa;

		/* A shell starts background jobs with SIGINT ignored, and an
		 * ignored signal is discarded, never seen by sigwait():
		 * --serve must stop on SIGINT, so take it back. SIGHUP stays
		 * as inherited (nohup). */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (sigaction(SIGHUP, NULL, &sa) == 0 &&
		    sa.sa_handler != SIG_IGN)
			sigaddset(set, SIGHUP);
		pthread_sigmask(SIG_BLOCK, set, NULL);
	}
}

/* lab --serve: prints the lab and "lab ready", then waits for a signal in
 * SET. */
static int
serve_until_signal(json_t *labdoc, bool json, sigset_t *set)
{
	int sig;

	if (json)
		tool_print_json(labdoc);
	else
		print_lab(stdout, labdoc);
	/* Scripts wait for this line; with --json it goes to stderr
	 * so stdout stays one JSON document. */
	fprintf(json ? stderr : stdout, "lab ready: %s\n",
	    json_string_value(json_object_get(labdoc, "env")));
	fflush(stdout);
	fflush(stderr);
	while (sigwait(set, &sig) != 0)
		;
	if (!json)
		printf("lab: stopping (signal %d)\n", sig);
	return TOOL_OK;
}

int
cmd_lab(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dir", required_argument, NULL, 'd'},
	    {"serve", no_argument, NULL, 's'},
	    {"demo", no_argument, NULL, 'D'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	char tmp[PATH_MAX] = "";
	bool serve = false, demo = false, json = false;
	int c, timeout_ms = 2000, rc = TOOL_PROBLEM;
	ck_ctx *ctx = NULL;
	ck_lab *lab = NULL;
	char *labtext = NULL;
	json_t *labdoc = NULL;
	sigset_t set;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!tool_path_arg("--dir", optarg))
				return TOOL_USAGE;
			dir = optarg;
			break;
		case 's': serve = true; break;
		case 'D': demo = true; break;
		case 'j': json = true; break;
		case 't':
			if (!tool_parse_timeout(optarg, &timeout_ms))
				return TOOL_USAGE;
			break;
		case 'h': return tool_usage(stdout, usage_text, TOOL_OK);
		default: return tool_usage(stderr, usage_text, TOOL_USAGE);
		}
	}
	if (optind < argc) {
		tool_err("lab: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_text, TOOL_USAGE);
	}
	if (serve == demo) {
		tool_err("lab: give exactly one of --serve or --demo");
		return tool_usage(stderr, usage_text, TOOL_USAGE);
	}
	if (dir == NULL) {
		const char *t = getenv("TMPDIR");

		snprintf(tmp, sizeof(tmp), "%s/certkit-lab.XXXXXX",
		    t != NULL && t[0] != '\0' ? t : "/tmp");
		if (mkdtemp(tmp) == NULL) {
			tool_err("lab: cannot create a temporary directory "
			         "%s: %s",
			    tmp, strerror(errno));
			return TOOL_PROBLEM;
		}
		dir = tmp;
	}
	block_signals(serve, &set);
	if ((ctx = ck_ctx_new()) == NULL) {
		tool_err("out of memory");
		goto out;
	}
	if (ck_lab_start(ctx, dir, &lab) != CK_OK) {
		rc = tool_ctx_fail(ctx);
		goto out;
	}
	if (ck_lab_describe(lab, &labtext) != CK_OK) {
		tool_err("out of memory");
		goto out;
	}
	labdoc = tool_parse_report(labtext, !json);
	if (serve) {
		rc = serve_until_signal(labdoc, json, &set);
	} else {
		if (!json) {
			print_lab(stdout, labdoc);
			fputc('\n', stdout);
			fflush(stdout);
		}
		rc = run_demo(ctx, lab, labdoc, timeout_ms, json);
	}
out:
	ck_lab_stop(lab);
	json_decref(labdoc);
	ck_free(labtext);
	ck_ctx_free(ctx);
	if (tmp[0] != '\0')
		remove_tree(tmp);
	return rc;
}
