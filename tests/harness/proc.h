/* Helpers for tests of real processes: start `wasmgrid` daemons with their output in the
 * test's directory, wait for their port files, run client commands, poll for a condition.
 * Every process started here is in the test's process group, so the runner kills whatever
 * a failing test leaves behind. */
#ifndef WG_TEST_PROC_H
#define WG_TEST_PROC_H
#include <stdbool.h>
#include <sys/types.h>

#include "util/buf.h"

/* The source tree the binary under test was built from (found upwards from its directory,
 * build/ or build/asan/, by its Makefile and tests/), or NULL. */
const char *wg_test_source_root(void);
/* Path of the wasmgrid binary under test. */
const char *wg_test_wasmgrid(void);
/* A path inside the test's temporary directory (a new string in a static ring, valid for
 * the next 32 calls). */
const char *wg_test_path(const char *name);

/* Starts `wasmgrid ARGS...` (NULL-terminated) with stdout and stderr appended to
 * TMP/LOGNAME.log. Returns the pid. */
pid_t wg_test_start(const char *logname, ...) __attribute__((sentinel));
/* The same with an argument vector (NULL-terminated, without the program name). */
pid_t wg_test_startv(const char *logname, const char *const *args);
/* The same inside the named network namespace (/run/netns/NETNS; NULL: this one). */
pid_t wg_test_startv_netns(const char *netns, const char *logname, const char *const *args);
/* Waits for a port file to appear with a port in it (fails the test after timeout_ms). */
int wg_test_wait_port(const char *path, int timeout_ms);
/* Runs `wasmgrid ARGS...` to completion, capturing stdout into out (may be NULL) and
 * stderr into err (may be NULL). Returns the exit status (128+signal if killed). */
int wg_test_run(struct wg_buf *out, struct wg_buf *err, ...) __attribute__((sentinel));
/* The same with an argument vector (NULL-terminated, without the program name). */
int wg_test_runv(struct wg_buf *out, struct wg_buf *err, const char *const *args);
/* Runs any program (argv[0] found on PATH; NULL-terminated) the same way: stdout into out,
 * stderr into err (either may be NULL); its exit status, 127 if it cannot be run. */
int wg_test_run_program(struct wg_buf *out, struct wg_buf *err, const char *const *argv);
/* Sends sig and waits for the process to exit (up to timeout_ms, then SIGKILL). Returns its
 * wait status. */
int wg_test_stop(pid_t pid, int sig, int timeout_ms);
/* The contents of TMP/LOGNAME.log (a new string). */
char *wg_test_log(const char *logname);
/* Calls cond(arg) every 50 ms until it returns true or timeout_ms passes. */
bool wg_test_wait_for(bool (*cond)(void *arg), void *arg, int timeout_ms);
/* Waits until the log of LOGNAME contains text. */
bool wg_test_wait_log(const char *logname, const char *text, int timeout_ms);
/* One live (not zombie) child process, as /proc shows it. */
struct wg_test_child {
	pid_t pid;
	char comm[32]; /* its command name ("wasmgrid", "cc1", ...) */
};
/* The live children of `parent`, at most max of them, into out; how many. */
size_t wg_test_children(pid_t parent, struct wg_test_child *out, size_t max);
/* `wasmgrid id --data DIR` */
char *wg_test_node_id(const char *data_dir);
/* GET http://127.0.0.1:PORT/PATH; returns the HTTP status (0 if unreachable). */
long wg_test_http_get(int port, const char *path, struct wg_buf *body);

#endif
