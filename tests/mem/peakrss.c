/*
 * peakrss.c: runs a command and reports its peak resident set size, for the
 * memory-bound tests (tests/mem/). A driver of our own, so the tests need
 * no /usr/bin/time.
 *
 *     peakrss OUT CMD [ARG...]
 *
 * Writes the peak RSS in KiB (getrusage's ru_maxrss of the child) to the
 * file OUT and exits with the command's status (128 + N on signal N).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct rusage ru;
	int status = 0;
	pid_t pid;
	FILE *f;

	if (argc < 3) {
		fputs("usage: peakrss OUT CMD [ARG...]\n", stderr);
		return 2;
	}
	if ((pid = fork()) == -1) {
		perror("peakrss: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) == -1) {
		perror("peakrss: wait4");
		return 2;
	}
	if ((f = fopen(argv[1], "w")) == NULL ||
	    fprintf(f, "%ld\n", ru.ru_maxrss) < 0 || fclose(f) != 0) {
		perror(argv[1]);
		return 2;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
