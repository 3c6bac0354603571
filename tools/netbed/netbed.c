/* wasmgrid-bed: the multi-host test bed of tests/harness/netns.h for scripts. It makes N
 * hosts, then reads commands from stdin, one per line, until end of input (or SIGINT,
 * SIGTERM), and removes everything it made. Any "{ipN}" in a command is host N's address.
 *
 *   start H NAME ARGS...   wasmgrid ARGS... in host H, output in LOGDIR/NAME.log
 *   run H PROGRAM ARGS...  any program in host H, to its end; its output is printed
 *   partition A B          A and B no longer hear each other
 *   oneway A B             B no longer hears A (A still hears B)
 *   isolate H              H hears nobody, nobody hears H
 *   heal                   every partition ends
 *   freeze H / thaw H      SIGSTOP / SIGCONT to H's processes
 *   kill H                 kill -9 of H's processes
 *   readdress H            H gets another address
 *   ip H                   prints H's address
 *   sleep MS
 *
 * Usage: wasmgrid-bed HOSTS [LOGDIR]     (root; LOGDIR defaults to .)
 * Example: printf 'start 0 m manager --listen {ip0}:5740\nsleep 1000\n' | wasmgrid-bed 2 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness/netns.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/buf.h"

static struct wg_bed bed;
static char logdir[1024] = ".";
static char bindir[1024] = ".";
static volatile sig_atomic_t stop;

/* What the test harness provides to tests/harness/: here a failure ends the bed. */
void wg_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	(void)file;
	(void)line;
	fprintf(stderr, "wasmgrid-bed: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	wg_bed_destroy(&bed);
	exit(1);
}

const char *wg_test_tmpdir(void)
{
	return logdir;
}

const char *wg_test_bindir(void)
{
	return bindir;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* Replaces every {ipN} of `in` by host N's address. */
static void expand(const char *in, char *out, size_t len)
{
	size_t o = 0;
	while (*in && o + 1 < len) {
		unsigned h;
		int used = 0;
		if (sscanf(in, "{ip%u}%n", &h, &used) == 1 && used > 0 && h < bed.n) {
			o += (size_t)snprintf(out + o, len - o, "%s", wg_bed_ip(&bed, h));
			in += used;
		} else {
			out[o++] = *in++;
		}
	}
	out[o < len ? o : len - 1] = 0;
}

static size_t host_arg(const char *s)
{
	char *end = NULL;
	unsigned long h = s ? strtoul(s, &end, 10) : 0;
	if (!s || !end || *end || h >= bed.n)
		wg_test_fail(__FILE__, __LINE__, "'%s' is not a host (0 to %zu)", s ? s : "",
			     bed.n - 1);
	return (size_t)h;
}

static void command(char *line)
{
	char *argv[64];
	int argc = 0;
	for (char *tok = strtok(line, " \t\n"); tok && argc < 63; tok = strtok(NULL, " \t\n"))
		argv[argc++] = tok;
	argv[argc] = NULL;
	if (argc == 0 || argv[0][0] == '#')
		return;
	const char *cmd = argv[0];
	if (!strcmp(cmd, "start") && argc >= 4) {
		pid_t pid =
		    wg_bed_start(&bed, host_arg(argv[1]), argv[2], (const char *const *)argv + 3);
		printf("started %s: pid %d\n", argv[2], (int)pid);
	} else if (!strcmp(cmd, "run") && argc >= 3) {
		const char *args[64] = {"ip", "netns", "exec", bed.hosts[host_arg(argv[1])].ns};
		int n = 4;
		for (int i = 2; i < argc && n < 63; i++)
			args[n++] = argv[i];
		args[n] = NULL;
		struct wg_buf out = {0};
		int st = wg_test_run_program(&out, &out, args);
		fwrite(out.data, 1, out.len, stdout);
		printf("exit %d\n", st);
		wg_buf_free(&out);
	} else if (!strcmp(cmd, "partition") && argc == 3) {
		wg_bed_partition(&bed, host_arg(argv[1]), host_arg(argv[2]), true);
	} else if (!strcmp(cmd, "oneway") && argc == 3) {
		wg_bed_partition(&bed, host_arg(argv[1]), host_arg(argv[2]), false);
	} else if (!strcmp(cmd, "isolate") && argc == 2) {
		wg_bed_isolate(&bed, host_arg(argv[1]));
	} else if (!strcmp(cmd, "heal") && argc == 1) {
		wg_bed_heal(&bed);
	} else if (!strcmp(cmd, "freeze") && argc == 2) {
		wg_bed_freeze(&bed, host_arg(argv[1]));
	} else if (!strcmp(cmd, "thaw") && argc == 2) {
		wg_bed_thaw(&bed, host_arg(argv[1]));
	} else if (!strcmp(cmd, "kill") && argc == 2) {
		wg_bed_kill(&bed, host_arg(argv[1]));
	} else if (!strcmp(cmd, "readdress") && argc == 2) {
		wg_bed_readdress(&bed, host_arg(argv[1]));
		printf("%s\n", wg_bed_ip(&bed, host_arg(argv[1])));
	} else if (!strcmp(cmd, "ip") && argc == 2) {
		printf("%s\n", wg_bed_ip(&bed, host_arg(argv[1])));
	} else if (!strcmp(cmd, "sleep") && argc == 2) {
		usleep((useconds_t)strtoul(argv[1], NULL, 10) * 1000);
	} else {
		fprintf(stderr,
			"wasmgrid-bed: not a command: %s (see the top of tools/netbed/netbed.c)\n",
			cmd);
		return;
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3 || atoi(argv[1]) < 1 || atoi(argv[1]) > WG_BED_MAX_HOSTS) {
		fprintf(stderr,
			"usage: wasmgrid-bed HOSTS [LOGDIR]   (1 to %d hosts; commands on stdin)\n",
			WG_BED_MAX_HOSTS);
		return 2;
	}
	if (argc == 3)
		snprintf(logdir, sizeof logdir, "%s", argv[2]);
	ssize_t n = readlink("/proc/self/exe", bindir, sizeof bindir - 1);
	if (n > 0) {
		bindir[n] = 0;
		char *slash = strrchr(bindir, '/');
		if (slash)
			*slash = 0;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	wg_bed_create(&bed, (size_t)atoi(argv[1]));
	for (size_t h = 0; h < bed.n; h++)
		printf("host %zu %s %s\n", h, bed.hosts[h].ns, wg_bed_ip(&bed, h));
	fflush(stdout);
	char line[8192], expanded[16384];
	while (!stop && fgets(line, sizeof line, stdin)) {
		expand(line, expanded, sizeof expanded);
		command(expanded);
	}
	wg_bed_destroy(&bed);
	return 0;
}
