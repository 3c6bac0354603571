#include "harness/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness/test.h"
#include "http/client.h"
#include "util/alloc.h"
#include "util/fs.h"

const char *wg_test_source_root(void)
{
	static char root[PATH_MAX];
	char probe[PATH_MAX + 32];
	if (!realpath(wg_test_bindir(), root))
		return NULL;
	for (;;) {
		snprintf(probe, sizeof probe, "%s/tests/harness/proc.c", root);
		if (access(probe, R_OK) == 0)
			return root;
		char *slash = strrchr(root, '/');
		if (!slash || slash == root)
			return NULL;
		*slash = 0;
	}
}

const char *wg_test_wasmgrid(void)
{
	static char path[4096];
	snprintf(path, sizeof path, "%s/wasmgrid", wg_test_bindir());
	return path;
}

const char *wg_test_path(const char *name)
{
	static char ring[32][4096];
	static int next;
	char *p = ring[next++ % 32];
	snprintf(p, 4096, "%s/%s", wg_test_tmpdir(), name);
	return p;
}

static int collect_args(const char **argv, int max, va_list ap)
{
	int n = 0;
	argv[n++] = wg_test_wasmgrid();
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL) {
		CHECK_MSG(n < max - 1, "too many arguments");
		argv[n++] = a;
	}
	argv[n] = NULL;
	return n;
}

pid_t wg_test_start(const char *logname, ...)
{
	const char *argv[64];
	va_list ap;
	va_start(ap, logname);
	collect_args(argv, 64, ap);
	va_end(ap);
	return wg_test_startv(logname, argv + 1);
}

pid_t wg_test_startv(const char *logname, const char *const *args)
{
	return wg_test_startv_netns(NULL, logname, args);
}

pid_t wg_test_startv_netns(const char *netns, const char *logname, const char *const *args)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = wg_test_wasmgrid();
	for (; *args; args++) {
		CHECK_MSG(n < 63, "too many arguments");
		argv[n++] = *args;
	}
	argv[n] = NULL;
	char log[4200];
	snprintf(log, sizeof log, "%s/%s.log", wg_test_tmpdir(), logname);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int null = open("/dev/null", O_RDONLY);
		if (fd < 0 || null < 0)
			_exit(127);
		dup2(null, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (netns) {
			char path[256];
			snprintf(path, sizeof path, "/run/netns/%s", netns);
			int ns = open(path, O_RDONLY | O_CLOEXEC);
			if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
				fprintf(stderr, "cannot enter network namespace %s\n", netns);
				_exit(127);
			}
			close(ns);
		}
		setenv("WASMGRID_LOG", "debug", 1);
		execv(argv[0], (char **)argv);
		_exit(127);
	}
	return pid;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int wg_test_wait_port(const char *path, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 20) {
		uint8_t *data;
		size_t len;
		if (wg_read_file(path, 64, &data, &len) == 0) {
			int port = atoi((char *)data);
			free(data);
			if (port > 0)
				return port;
		}
		sleep_ms(20);
	}
	wg_test_fail(__FILE__, __LINE__, "no port in %s after %d ms", path, timeout_ms);
}

static void drain(int fd, struct wg_buf *into)
{
	char chunk[4096];
	ssize_t r;
	while ((r = read(fd, chunk, sizeof chunk)) > 0)
		if (into)
			wg_buf_append(into, chunk, (size_t)r);
}

int wg_test_run(struct wg_buf *out, struct wg_buf *err, ...)
{
	const char *argv[64];
	va_list ap;
	va_start(ap, err);
	collect_args(argv, 64, ap);
	va_end(ap);
	return wg_test_runv(out, err, argv + 1);
}

int wg_test_runv(struct wg_buf *out, struct wg_buf *err, const char *const *args)
{
	const char *argv[64];
	int n = 0;
	argv[n++] = wg_test_wasmgrid();
	for (; *args; args++) {
		CHECK_MSG(n < 63, "too many arguments");
		argv[n++] = *args;
	}
	argv[n] = NULL;
	return wg_test_run_program(out, err, argv);
}

int wg_test_run_program(struct wg_buf *out, struct wg_buf *err, const char *const *argv)
{
	char errpath[4200];
	snprintf(errpath, sizeof errpath, "%s/.run-stderr", wg_test_tmpdir());
	int pipefd[2];
	CHECK(pipe(pipefd) == 0);
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(pipefd[1], 1);
		dup2(efd, 2);
		close(pipefd[0]);
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	close(pipefd[1]);
	drain(pipefd[0], out);
	close(pipefd[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (err) {
		uint8_t *data;
		size_t len;
		if (wg_read_file(errpath, 1 << 24, &data, &len) == 0) {
			wg_buf_append(err, data, len);
			free(data);
		}
	}
	if (out)
		wg_buf_cstr(out);
	if (err)
		wg_buf_cstr(err);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int wg_test_stop(pid_t pid, int sig, int timeout_ms)
{
	kill(pid, sig);
	int status = 0;
	for (int waited = 0;; waited += 10) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			return status;
		if (waited > timeout_ms) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			wg_test_fail(__FILE__, __LINE__,
				     "process %d did not exit within %d ms of signal %d", (int)pid,
				     timeout_ms, sig);
		}
		sleep_ms(10);
	}
}

char *wg_test_log(const char *logname)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s.log", wg_test_tmpdir(), logname);
	uint8_t *data;
	size_t len;
	if (wg_read_file(path, 1 << 26, &data, &len) != 0)
		return wg_strdup("");
	return (char *)data;
}

bool wg_test_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		if (cond(arg))
			return true;
		sleep_ms(50);
	}
	return cond(arg);
}

struct log_wait {
	const char *logname, *text;
};

static bool log_has(void *arg)
{
	struct log_wait *lw = arg;
	char *log = wg_test_log(lw->logname);
	bool found = strstr(log, lw->text) != NULL;
	free(log);
	return found;
}

bool wg_test_wait_log(const char *logname, const char *text, int timeout_ms)
{
	struct log_wait lw = {logname, text};
	return wg_test_wait_for(log_has, &lw, timeout_ms);
}

char *wg_test_node_id(const char *data_dir)
{
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "id", "--data", data_dir, NULL), 0);
	char *id = wg_strndup((char *)out.data, 64);
	wg_buf_free(&out);
	CHECK_EQ(strlen(id), 64);
	return id;
}

long wg_test_http_get(int port, const char *path, struct wg_buf *body)
{
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	long status = 0;
	if (body)
		body->len = 0;
	struct wg_buf scratch = {0};
	if (wg_http_request(addr, "GET", path, NULL, NULL, 0, &status, body ? body : &scratch))
		status = 0;
	wg_buf_free(&scratch);
	if (body)
		wg_buf_cstr(body);
	return status;
}

size_t wg_test_children(pid_t parent, struct wg_test_child *out, size_t max)
{
	DIR *d = opendir("/proc");
	size_t n = 0;
	struct dirent *e;
	while (d && n < max && (e = readdir(d)) != NULL) {
		char path[300], buf[512];
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t len = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[len] = 0;
		/* "PID (COMM) STATE PPID ...": COMM may hold spaces, so read after its last ')'. */
		char *open_paren = strchr(buf, '('), *close = strrchr(buf, ')');
		int ppid = 0;
		char state = 0;
		if (!open_paren || !close || close < open_paren ||
		    sscanf(close + 1, " %c %d", &state, &ppid) != 2 || ppid != parent ||
		    state == 'Z')
			continue;
		out[n].pid = (pid_t)atoi(e->d_name);
		size_t clen = (size_t)(close - open_paren - 1);
		if (clen >= sizeof out[n].comm)
			clen = sizeof out[n].comm - 1;
		memcpy(out[n].comm, open_paren + 1, clen);
		out[n].comm[clen] = 0;
		n++;
	}
	if (d)
		closedir(d);
	return n;
}
