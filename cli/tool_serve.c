/*
 * tool_serve.c: `certkit serve`, the primary server (include/certkit/
 * server.h): mutual TLS, pairing or trusted-CA policy, a registry of every
 * client. `--check-config` prints the effective configuration and TLS
 * policy and exits.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certkit/server.h"
#include "tool.h"

static const char usage_text[] =
    "usage: certkit serve [--listen ADDR:PORT]... [--log-json]\n"
    "                     [--ready-fd N]\n"
    "       certkit serve --check-config [--json]\n"
    "\n"
    "Serves HTTP/1.1 + JSON over TLS to the clients of this primary server\n"
    "(GET /healthz, GET /api/v1/status, POST /api/v1/heartbeat). A client\n"
    "is known by the SHA-256 of its public key; by client_policy it is\n"
    "approved by an admin (certkit clients approve) or by its CA. The\n"
    "[server] section of HOME/certkit.conf configures it (man\n"
    "certkit-serve); the registry must exist (certkit registry migrate).\n"
    "SIGHUP reloads the configuration, identity and CA files; SIGTERM stops.\n"
    "\n"
    "Options:\n"
    "  --listen ADDR:PORT  listen here instead of the configured addresses\n"
    "                      (repeatable; port 0 takes a free port)\n"
    "  --log-json          log one JSON object per line (default key=value)\n"
    "  --ready-fd N        write \"READY=1 listen=ADDR:PORT\" to fd N when\n"
    "                      listening, then close it\n"
    "  --check-config      load the configuration and identity, print the\n"
    "                      effective policy and exit\n"
    "  --json              with --check-config: print it as JSON\n"
    "  --help              print this help\n"
    "\n"
    "Exit codes: 0 stopped by SIGTERM/SIGINT (or the configuration is\n"
    "valid), 1 it could not serve (a listener, the registry), 2 usage or\n"
    "configuration error.\n";

static void
print_list(const char *label, json_t *a)
{
	size_t i;
	json_t *v;

	printf("%-16s", label);
	if (json_array_size(a) == 0)
		printf("(none)");
	json_array_foreach(a, i, v)
	    printf("%s%s", i ? ", " : "", json_string_value(v));
	printf("\n");
}

static void
print_config(json_t *o)
{
	json_t *id = json_object_get(o, "identity"),
	       *tls = json_object_get(o, "tls");
	json_t *reg = json_object_get(o, "registry");
	const char *resp =
	    json_string_value(json_object_get(o, "ocsp_responder"));

	printf("%-16s%s\n", "config",
	    json_string_value(json_object_get(o, "config_file")));
	print_list("listen", json_object_get(o, "listen"));
	printf("%-16s%s%s%s\n", "identity",
	    json_string_value(json_object_get(id, "source")),
	    json_object_get(id, "file") ? " " : "",
	    json_object_get(id, "file")
	        ? json_string_value(json_object_get(id, "file"))
	        : "");
	printf("%-16s%s\n", "  subject",
	    json_string_value(json_object_get(id, "subject")));
	printf("%-16s%s\n", "  spki_sha256",
	    json_string_value(json_object_get(id, "spki_sha256")));
	printf("%-16s%s\n", "  not_after",
	    json_string_value(json_object_get(id, "not_after")));
	printf("%-16s%s to %s\n", "protocols",
	    json_string_value(json_object_get(tls, "min_protocol")),
	    json_string_value(json_object_get(tls, "max_protocol")));
	print_list("ciphersuites", json_object_get(tls, "ciphersuites"));
	print_list("ciphers", json_object_get(tls, "ciphers"));
	printf("%-16s%s\n", "groups",
	    json_string_value(json_object_get(tls, "groups")));
	printf("%-16s%s\n", "client_policy",
	    json_string_value(json_object_get(o, "client_policy")));
	print_list("client_ca", json_object_get(o, "client_ca"));
	printf("%-16s%s\n", "verify_policy",
	    json_string_value(json_object_get(o, "verify_policy")));
	printf("%-16s%s%s%s\n", "ocsp",
	    json_string_value(json_object_get(o, "ocsp")),
	    resp ? ", responder " : "", resp ? resp : "");
	print_list("crl", json_object_get(o, "crl"));
	printf("%-16s%s %s\n", "registry",
	    json_string_value(json_object_get(reg, "backend")),
	    json_string_value(json_object_get(reg, "path")));
	printf("%-16s%llds\n", "pending_ttl",
	    (long long)json_integer_value(json_object_get(o, "pending_ttl")));
	printf("%-16s%lld\n", "max_pending",
	    (long long)json_integer_value(json_object_get(o, "max_pending")));
	printf("%-16s%llds\n", "heartbeat",
	    (long long)json_integer_value(json_object_get(o, "heartbeat")));
	printf("%-16s%llds\n", "retry_after",
	    (long long)json_integer_value(json_object_get(o, "retry_after")));
}

static int
check_config(ck_ctx *ctx, ck_server *srv, bool json)
{
	char *text = NULL;
	json_t *doc;

	if (ck_server_check_config(srv, &text) != CK_OK)
		return tool_ctx_fail(ctx);
	if (json) {
		doc = tool_parse_report(text, false);
		tool_print_json(doc);
	} else {
		doc = tool_parse_report(text, true);
		print_config(doc);
	}
	json_decref(doc);
	free(text);
	return TOOL_OK;
}

int
cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"log-json", no_argument, NULL, 'L'},
	    {"ready-fd", required_argument, NULL, 'r'},
	    {"check-config", no_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	ck_ctx *ctx = NULL;
	ck_server *srv = NULL;
	bool check = false, json = false, log_json = false;
	int c, rv = TOOL_USAGE, ready_fd = -1;
	char **listen = calloc((size_t)argc + 1, sizeof(*listen)), *end;
	size_t nl = 0;

	if (listen == NULL) {
		tool_err("out of memory");
		return TOOL_PROBLEM;
	}
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'l': listen[nl++] = optarg; break;
		case 'L': log_json = true; break;
		case 'r':
			ready_fd = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || ready_fd < 0 || optarg[0] == '\0') {
				tool_err("--ready-fd: expected a file "
				         "descriptor number, found '%s'",
				    optarg);
				goto out;
			}
			break;
		case 'c': check = true; break;
		case 'j': json = true; break;
		case 'h':
			rv = tool_usage(stdout, usage_text, TOOL_OK);
			goto out;
		default:
			rv = tool_usage(stderr, usage_text, TOOL_USAGE);
			goto out;
		}
	}
	if (optind < argc || (json && !check)) {
		tool_err(optind < argc ? "unexpected argument '%s'"
		                       : "--json goes with --check-config%s",
		    optind < argc ? argv[optind] : "");
		rv = tool_usage(stderr, usage_text, TOOL_USAGE);
		goto out;
	}
	if ((ctx = ck_ctx_new()) == NULL) {
		tool_err("out of memory");
		rv = TOOL_PROBLEM;
		goto out;
	}
	if (ck_server_new(ctx, tool_home(), &srv) != CK_OK) {
		rv = tool_ctx_fail(ctx);
		goto out;
	}
	for (size_t i = 0; i < nl; i++)
		if (ck_server_add_listen(srv, listen[i]) != CK_OK) {
			rv = tool_ctx_fail(ctx);
			goto out;
		}
	if (check) {
		rv = check_config(ctx, srv, json);
		goto out;
	}
	ck_server_set_log_json(srv, log_json);
	ck_server_set_ready_fd(srv, ready_fd);
	rv = ck_server_run(srv) == CK_OK ? TOOL_OK : tool_ctx_fail(ctx);
out:
	ck_server_free(srv);
	ck_ctx_free(ctx);
	free(listen);
	return rv;
}
