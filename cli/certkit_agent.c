/*
 * certkit_agent.c: the certkit-agent executable, `certkit agent` alone:
 *
 *   certkit-agent [--home DIR] run | status [--json] | enroll [...]
 *
 * The same command (cli/tool_agent.c, lib/agent) linked by itself with
 * --as-needed: the device's service then maps neither SQLite nor libm (the
 * server's) nor the rest of the tool, which keeps an idle agent within
 * 8 MiB RSS (bench/agent.sh). `certkit agent` stays the same command.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

/* As in main.c: a handler, not SIG_IGN, so that what the agent runs
 * starts with the usual SIGPIPE; a closed connection is then an error of
 * the call (EPIPE), never the end of the service. */
static void
on_sigpipe(int sig)
{
	(void)sig;
}

static int
usage(FILE *f, int code)
{
	fprintf(f,
	    "usage: certkit-agent [--home DIR] run | status [--json] | "
	    "enroll [--token T] [--wait SECONDS] [--renew] [--json]\n"
	    "The same as certkit agent (certkit agent --help).\n");
	return code;
}

int
main(int argc, char **argv)
{
	static char name[] = "agent";
	int c = tool_main_opts(argc, argv, "certkit-agent", on_sigpipe, usage);

	if (c >= 0)
		return c;
	/* cmd_agent's argv starts at the command name, as under certkit. */
	argv[optind - 1] = name;
	c = optind - 1;
	optind = 0;
	return cmd_agent(argc - c, argv + c);
}
