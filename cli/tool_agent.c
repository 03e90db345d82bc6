/*
 * tool_agent.c: `certkit agent`: the device's side of pairing with a
 * certkit primary (certkit-agent(1)).
 *
 *   run                     the service (dist/certkit-agent.service)
 *   status [--json]         never_connected | requesting_pairing | online |
 *                           offline | revoked, and why
 *   enroll [--token T] [--wait S] [--renew] [--json]
 *                           exit 0 once the certificate is installed, 1
 *                           while pending ("Requesting Pairing" and the
 *                           SPKI the admin must see in certkit clients list)
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"
#include "certkit/agent.h"

static const char usage_main[] =
    "usage: certkit agent run\n"
    "       certkit agent status [--json]\n"
    "       certkit agent enroll [--token T] [--wait SECONDS] [--renew] "
    "[--json]\n"
    "\n"
    "run      the service: enroll, renew at 2/3 to 3/4 of the lifetime,\n"
    "         send heartbeats; stops on SIGTERM\n"
    "status   the state: never_connected, requesting_pairing, online,\n"
    "         offline or revoked, and why (offline: the doctor's "
    "diagnosis)\n"
    "enroll   send the enrollment request (or resume the pending one) and\n"
    "         wait up to SECONDS (default 0) for the approval\n"
    "  --token T     a one-time token (certkit clients token create)\n"
    "  --renew       ask for a new certificate now (simplereenroll)\n"
    "The [agent] section of HOME/certkit.conf names the primary.\n"
    "Exit codes: 0 ok (online / installed), 1 problem found (pending,\n"
    "offline, revoked), 2 usage or input error.\n";

static int
state_exit(const json_t *doc)
{
	const char *st = json_string_value(json_object_get(doc, "state"));

	return st != NULL && strcmp(st, "online") == 0 ? TOOL_OK : TOOL_PROBLEM;
}

static void
print_state(const json_t *doc)
{
	const char *st = json_string_value(json_object_get(doc, "state"));
	const char *why = json_string_value(json_object_get(doc, "why"));
	const char *spki =
	    json_string_value(json_object_get(doc, "spki_sha256"));
	json_t *cert = json_object_get(doc, "certificate");
	json_t *diag = json_object_get(doc, "diagnosis");
	size_t i;
	json_t *r;

	printf("State: %s\n", st ? st : "?");
	if (why != NULL)
		printf("Why: %s\n", why);
	if (st != NULL && strcmp(st, "requesting_pairing") == 0) {
		printf("Requesting Pairing\n");
		printf("SPKI SHA-256: %s\n", spki ? spki : "?");
	}
	if (json_is_object(cert))
		printf("Certificate: valid until %s, renewal at %s\n",
		    json_string_value(json_object_get(cert, "not_after")),
		    json_string_value(json_object_get(cert, "renew_at")));
	json_array_foreach(json_object_get(diag, "remedies"), i, r)
	    printf("  - %s\n", json_string_value(r));
}

static int
do_status(ck_ctx *ctx, ck_agent *a, bool as_json)
{
	char *json = NULL;
	json_t *doc;
	int rc;

	if (ck_agent_status(a, &json) != CK_OK)
		return tool_ctx_fail(ctx);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	rc = state_exit(doc);
	if (as_json)
		tool_print_json(doc);
	else
		print_state(doc);
	json_decref(doc);
	return rc;
}

static int
do_enroll(ck_ctx *ctx, ck_agent *a, int wait_s, bool renew, bool as_json)
{
	char *json = NULL;
	json_t *doc;
	int installed = 0, rc;

	if (ck_agent_enroll(a, wait_s, renew, &json, &installed) != CK_OK)
		return tool_ctx_fail(ctx);
	doc = tool_parse_report(json, !as_json);
	ck_free(json);
	rc = installed ? TOOL_OK : TOOL_PROBLEM;
	if (as_json)
		tool_print_json(doc);
	else
		print_state(doc);
	json_decref(doc);
	return rc;
}

struct agent_args {
	bool json, renew;
	const char *token;
	long wait_s;
};

static int
parse_args(int argc, char **argv, struct agent_args *g)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"renew", no_argument, NULL, 'r'},
	    {"token", required_argument, NULL, 't'},
	    {"wait", required_argument, NULL, 'w'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;
	char *end;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': g->json = true; break;
		case 'r': g->renew = true; break;
		case 't': g->token = optarg; break;
		case 'w':
			g->wait_s = strtol(optarg, &end, 10);
			if (end == optarg || *end != '\0' || g->wait_s < 0 ||
			    g->wait_s > 86400) {
				tool_err("agent: --wait: expected seconds from "
				         "0 to 86400, found '%s'",
				    optarg);
				return TOOL_USAGE;
			}
			break;
		case 'h': return tool_usage(stdout, usage_main, TOOL_OK);
		default: return tool_usage(stderr, usage_main, TOOL_USAGE);
		}
	}
	if (optind != argc) {
		tool_err("agent: unexpected argument '%s'", argv[optind]);
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	}
	return -1;
}

/* Options each subcommand takes: run none, status --json only. */
static bool
args_fit(const char *sub, const struct agent_args *g)
{
	bool enroll_only = g->renew || g->token != NULL || g->wait_s != 0;

	if (strcmp(sub, "enroll") == 0)
		return true;
	if (enroll_only || (strcmp(sub, "run") == 0 && g->json)) {
		tool_err("agent %s: an option of another subcommand was given; "
		         "run 'certkit agent --help'",
		    sub);
		return false;
	}
	return true;
}

static int
dispatch(ck_ctx *ctx, const char *sub, const struct agent_args *g)
{
	ck_agent *a = NULL;
	int rc;

	if (ck_agent_new(ctx, tool_home(), &a) != CK_OK)
		return tool_ctx_fail(ctx);
	if (g->token != NULL && ck_agent_set_token(a, g->token) != CK_OK)
		rc = tool_ctx_fail(ctx);
	else if (strcmp(sub, "status") == 0)
		rc = do_status(ctx, a, g->json);
	else if (strcmp(sub, "enroll") == 0)
		rc = do_enroll(ctx, a, (int)g->wait_s, g->renew, g->json);
	else
		rc = ck_agent_run(a) == CK_OK ? TOOL_OK : tool_ctx_fail(ctx);
	ck_agent_free(a);
	return rc;
}

int
cmd_agent(int argc, char **argv)
{
	struct agent_args g = {0};
	const char *sub;
	ck_ctx *ctx;
	int rc;

	if (argc < 2)
		return tool_usage(stderr, usage_main, TOOL_USAGE);
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	    strcmp(sub, "help") == 0)
		return tool_usage(stdout, usage_main, TOOL_OK);
	if (strcmp(sub, "run") != 0 && strcmp(sub, "status") != 0 &&
	    strcmp(sub, "enroll") != 0) {
		tool_err("agent: '%s' is not a subcommand; run 'certkit agent "
		         "--help'",
		    tool_esc(sub));
		return TOOL_USAGE;
	}
	optind = 0;
	if ((rc = parse_args(argc - 1, argv + 1, &g)) >= 0)
		return rc;
	if (!args_fit(sub, &g))
		return TOOL_USAGE;
	if ((ctx = ck_ctx_new()) == NULL) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	rc = dispatch(ctx, sub, &g);
	ck_ctx_free(ctx);
	return rc;
}
