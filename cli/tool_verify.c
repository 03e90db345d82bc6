/* tool_verify.c: placeholder until the command lands (being written now). */
#include "tool.h"

int
cmd_verify(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tool_err("verify: not built yet");
	return TOOL_PROBLEM;
}
