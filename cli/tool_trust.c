/* tool_trust.c: placeholder until the command lands (being written now). */
#include "tool.h"

int
cmd_trust(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tool_err("trust: not built yet");
	return TOOL_PROBLEM;
}
