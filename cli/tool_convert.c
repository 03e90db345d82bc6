/* tool_convert.c: placeholder until the command lands (being written now). */
#include "tool.h"

int
cmd_convert(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tool_err("convert: not built yet");
	return TOOL_PROBLEM;
}
