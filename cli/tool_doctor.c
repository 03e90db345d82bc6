/* tool_doctor.c: placeholder until the command lands (being written now). */
#include "tool.h"

int
cmd_doctor(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	tool_err("doctor: not built yet");
	return TOOL_PROBLEM;
}
