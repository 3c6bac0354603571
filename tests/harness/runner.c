/* The test runner: runs each registered test in a forked child with a time limit and a
 * private temporary directory, and ends with the line "N passed, N failed".
 * Usage: wasmgrid-tests [-l] [-j JOBS] [SUBSTRING...] */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/pg.h"
#include "harness/test.h"

/* Present only in sanitizer builds: a leak check that can run before _exit(). */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

struct test {
	const char *name;
	wg_test_fn fn;
	int timeout_s;
};

static struct test tests[1024];
static int ntests;
static char tmpdir[PATH_MAX];
static char bindir[PATH_MAX];

void wg_test_register(const char *name, wg_test_fn fn, int timeout_s)
{
	if (ntests == (int)(sizeof tests / sizeof tests[0])) {
		fprintf(stderr, "too many tests\n");
		abort();
	}
	tests[ntests++] = (struct test){name, fn, timeout_s};
}

void wg_test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "    FAIL at %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
	_exit(1);
}

const char *wg_test_tmpdir(void)
{
	return tmpdir;
}

static pid_t runner_pid;

long wg_test_runner_pid(void)
{
	return (long)runner_pid;
}

const char *wg_test_bindir(void)
{
	return bindir;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* A daemon started by a test writes its log into the test's directory; a sanitizer report
 * there (a leak, a use after free, undefined behaviour) fails the test even when the test's
 * own checks passed. */
static char sanitizer_hit[4200];

static int scan_log(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	size_t n = strlen(path);
	if (flag != FTW_F || n < 4 || strcmp(path + n - 4, ".log"))
		return 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	char line[1024];
	while (fgets(line, sizeof line, f)) {
		if (strstr(line, "ERROR: AddressSanitizer") ||
		    strstr(line, "ERROR: LeakSanitizer") || strstr(line, "runtime error:")) {
			snprintf(sanitizer_hit, sizeof sanitizer_hit, "%s: %s", path, line);
			break;
		}
	}
	fclose(f);
	return sanitizer_hit[0] != 0;
}

static int cmp_tests(const void *a, const void *b)
{
	return strcmp(((const struct test *)a)->name, ((const struct test *)b)->name);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs one test; returns 1 when it passed. */
static int run_one(const struct test *t)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/wgtest.%s.XXXXXX", t->name);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 0;
	}
	double start = now_s();
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		/* Own process group: the test's daemons are killed with it on timeout. */
		setpgid(0, 0);
		alarm((unsigned)t->timeout_s);
		t->fn();
		fflush(NULL);
		/* _exit() skips LeakSanitizer's check at exit, so ask for it here. */
		if (__lsan_do_recoverable_leak_check && __lsan_do_recoverable_leak_check()) {
			fprintf(stderr, "    FAIL: the test leaked memory (report above)\n");
			_exit(1);
		}
		_exit(0);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL);
	/* A PostgreSQL server of the test's own is in a session of its own. */
	wg_test_pg_after_test();
	int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	sanitizer_hit[0] = 0;
	nftw(tmpdir, scan_log, 16, FTW_PHYS);
	if (sanitizer_hit[0]) {
		printf("    sanitizer report in %s", sanitizer_hit);
		ok = 0;
	}
	double took = now_s() - start;
	if (ok) {
		printf("ok   %-60s %6.2fs\n", t->name, took);
	} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
		printf("FAIL %-60s timed out after %ds\n", t->name, t->timeout_s);
	} else if (WIFSIGNALED(status)) {
		printf("FAIL %-60s killed by signal %d\n", t->name, WTERMSIG(status));
	} else {
		printf("FAIL %-60s %6.2fs\n", t->name, took);
	}
	if (ok || !getenv("WG_TEST_KEEP"))
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		printf("     kept %s\n", tmpdir);
	fflush(stdout);
	return ok;
}

int main(int argc, char **argv)
{
	int list = 0;
	char **filters = argv + 1;
	int nfilters = argc - 1;
	if (nfilters > 0 && !strcmp(filters[0], "-l")) {
		list = 1;
		filters++;
		nfilters--;
	}
	ssize_t n = readlink("/proc/self/exe", bindir, sizeof bindir - 1);
	if (n > 0) {
		bindir[n] = 0;
		char *slash = strrchr(bindir, '/');
		if (slash)
			*slash = 0;
	}
	signal(SIGPIPE, SIG_IGN);
	runner_pid = getpid();
	qsort(tests, (size_t)ntests, sizeof tests[0], cmp_tests);
	int passed = 0, failed = 0;
	char failures[8192] = "";
	for (int i = 0; i < ntests; i++) {
		int selected = nfilters == 0;
		for (int f = 0; f < nfilters && !selected; f++)
			selected = strstr(tests[i].name, filters[f]) != NULL;
		if (!selected)
			continue;
		if (list) {
			printf("%s\n", tests[i].name);
			continue;
		}
		if (run_one(&tests[i])) {
			passed++;
		} else {
			failed++;
			size_t used = strlen(failures);
			snprintf(failures + used, sizeof failures - used, "  %s\n", tests[i].name);
		}
	}
	if (list)
		return 0;
	wg_test_pg_end_of_run();
	if (failed)
		printf("\nfailed tests:\n%s", failures);
	printf("\n%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
