/*
 * identity_exec.c: runs the configured on_change command after a change of
 * identity (e.g. "systemctl reload nginx").
 *
 * Guarantees:
 *  1. Bounded: the command runs in its own process group; when the timeout
 *     passes, the whole group gets SIGTERM, then SIGKILL a second later.
 *  2. Its output (stdout and stderr together) is kept, the last
 *     HOOK_OUTPUT_MAX bytes of it, for the report; it never reaches our own
 *     stdout, which may be JSON.
 *  3. stdin is /dev/null, so a command that prompts fails instead of
 *     waiting. The environment gets CERTKIT_IDENTITY_DIR (the `current`
 *     directory) and CERTKIT_IDENTITY_ACTION (install, ensure, ...).
 */
#define _GNU_SOURCE 1 /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "identity_int.h"

#define HOOK_OUTPUT_MAX 4096

/* Keeps the last HOOK_OUTPUT_MAX bytes. */
static void
keep(char *out, size_t *len, const char *buf, size_t n)
{
	if (n >= HOOK_OUTPUT_MAX) {
		memcpy(out, buf + n - HOOK_OUTPUT_MAX, HOOK_OUTPUT_MAX);
		*len = HOOK_OUTPUT_MAX;
		return;
	}
	if (*len + n > HOOK_OUTPUT_MAX) {
		size_t drop = *len + n - HOOK_OUTPUT_MAX;

		memmove(out, out + drop, *len - drop);
		*len -= drop;
	}
	memcpy(out + *len, buf, n);
	*len += n;
}

/* The output as a JSON string: NULs and bytes that are not UTF-8 become
 * '?', so a command printing binary never breaks the report. */
static json_t *
text_json(char *out, size_t len)
{
	json_t *s;

	for (size_t i = 0; i < len; i++)
		if (out[i] == '\0')
			out[i] = '?';
	if ((s = json_stringn(out, len)) != NULL)
		return s;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)out[i] >= 0x80)
			out[i] = '?';
	return json_stringn(out, len);
}

json_t *
cki_run_hook(const char *cmd, long timeout_s, const char *identity_dir,
    const char *action)
{
	char out[HOOK_OUTPUT_MAX + 1], err[256] = "";
	size_t olen = 0;
	int pfd[2] = {-1, -1}, status = 0;
	pid_t pid = -1;
	bool timed_out = false, open_pipe = true;
	long long deadline = cki_mono_ms() + timeout_s * 1000, killed_at = 0;

	if (pipe2(pfd, O_CLOEXEC) == -1) {
		snprintf(err, sizeof(err), "cannot make a pipe: %s",
		    strerror(errno));
		goto done;
	}
	if ((pid = fork()) == -1) {
		snprintf(
		    err, sizeof(err), "cannot start it: %s", strerror(errno));
		goto done;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		if (devnull != -1)
			dup2(devnull, STDIN_FILENO);
		dup2(pfd[1], STDOUT_FILENO);
		dup2(pfd[1], STDERR_FILENO);
		setenv("CERTKIT_IDENTITY_DIR", identity_dir, 1);
		setenv("CERTKIT_IDENTITY_ACTION", action, 1);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid); /* also here: no race with the kill below */
	close(pfd[1]);
	pfd[1] = -1;
	for (;;) {
		struct pollfd p = {pfd[0], POLLIN, 0};
		long long left = deadline - cki_mono_ms();
		pid_t w;

		if (left <= 0 && !timed_out) {
			timed_out = true;
			kill(-pid, SIGTERM);
			killed_at = cki_mono_ms();
		}
		if (timed_out && killed_at != 0 &&
		    cki_mono_ms() - killed_at > 1000) {
			kill(-pid, SIGKILL);
			killed_at = 0;
		}
		if (open_pipe) {
			int r = poll(&p, 1,
			    left > 0 ? (int)(left > 200 ? 200 : left) : 100);

			if (r > 0) {
				char buf[HOOK_OUTPUT_MAX];
				ssize_t n = read(pfd[0], buf, sizeof(buf));

				if (n > 0)
					keep(out, &olen, buf, (size_t)n);
				else if (n == 0 || errno != EINTR)
					open_pipe = false;
			}
		} else {
			struct timespec ts = {0, 20 * 1000000L};

			nanosleep(&ts, NULL);
		}
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			/* Drain what is left without blocking. */
			if (open_pipe) {
				char buf[HOOK_OUTPUT_MAX];
				ssize_t n;

				fcntl(pfd[0], F_SETFL, O_NONBLOCK);
				while ((n = read(pfd[0], buf, sizeof(buf))) > 0)
					keep(out, &olen, buf, (size_t)n);
			}
			/* A background child of the command may keep the
			 * pipe open: we do not wait for it. */
			break;
		}
	}
done:
	if (pfd[0] != -1)
		close(pfd[0]);
	if (pfd[1] != -1)
		close(pfd[1]);
	out[olen] = '\0';
	if (err[0] != '\0')
		return json_pack("{s:s, s:b, s:n, s:n, s:b, s:s, s:s}",
		    "command", cmd, "ok", 0, "exit", "signal", "timed_out", 0,
		    "output", "", "error", err);
	{
		bool exited = WIFEXITED(status);
		int code = exited ? WEXITSTATUS(status) : -1;
		bool ok = exited && code == 0 && !timed_out;
		char why[128] = "";

		if (timed_out)
			snprintf(why, sizeof(why),
			    "did not finish within %ld "
			    "seconds and was stopped",
			    timeout_s);
		else if (!exited)
			snprintf(why, sizeof(why), "was killed by signal %d",
			    WTERMSIG(status));
		else if (code != 0)
			snprintf(
			    why, sizeof(why), "exited with status %d", code);
		return json_pack("{s:s, s:b, s:o, s:o, s:b, s:o, s:s?}",
		    "command", cmd, "ok", ok, "exit",
		    exited ? json_integer(code) : json_null(), "signal",
		    !exited ? json_integer(WTERMSIG(status)) : json_null(),
		    "timed_out", timed_out, "output", text_json(out, olen),
		    "error", why[0] ? why : NULL);
	}
}
