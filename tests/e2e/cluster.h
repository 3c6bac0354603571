/* A manager and workers started for real on loopback, for the end-to-end tests. */
#ifndef WG_TEST_CLUSTER_H
#define WG_TEST_CLUSTER_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define E2E_HEARTBEAT_MS "1500"

struct e2e_manager {
	pid_t pid;
	int port, api_port;
	char name[32], data[512], api[64];
};

/* Starts a manager named NAME with data in TMP/NAME; extra options (NULL-terminated) may
 * follow. listen_port 0 picks a free port. */
void e2e_manager_start(struct e2e_manager *m, const char *name, int listen_port, ...)
    __attribute__((sentinel));
/* Starts a worker named NAME with data in TMP/NAME attached to the given manager address
 * ("127.0.0.1:PORT"), extra options following. */
pid_t e2e_worker_start(const char *name, const char *manager_addr, ...) __attribute__((sentinel));
/* The data directory of a node started under NAME. */
const char *e2e_data(const char *name);
/* How many workers the manager lists in /v1/workers in the given state ("attached"), or
 * -1 when the API does not answer. */
int e2e_count_workers(int api_port, const char *state);
/* Waits until e2e_count_workers(api_port, state) == n. */
bool e2e_wait_workers(int api_port, const char *state, int n, int timeout_ms);
/* How many of the worker's results a quorum outvoted, from GET /v1/workers (-1: not
 * listed, or the API did not answer). */
long e2e_worker_outvoted(int api_port, const char *node_id);
/* Whether the worker with this node id is listed (in any state). */
bool e2e_worker_listed(int api_port, const char *node_id);

#endif

/* ---- jobs, through the real CLI ---- */

/* The path of a WebAssembly program built from examples/ or tests/programs/. */
const char *e2e_program(const char *name);
/* Writes one argument per line into TMP/NAME and returns the path. */
const char *e2e_args_file(const char *name, const char *const *args, size_t n);
/* The same argument n times, one per line, into TMP/NAME. */
const char *e2e_args_file_repeat(const char *name, const char *arg, size_t n);
/* The integer that follows `key` in the body of GET PATH (a JSON field such as
 * "\"completed\":", a metric line such as "\nwasmgrid_x_total "), or -1. */
long e2e_http_number(int api_port, const char *path, const char *key);
/* The page at URL as Debian's chromium, headless, sees it after `budget_ms` of (virtual)
 * time: the page's timers and fetches run, then its DOM is returned (free it). */
char *e2e_dump_dom(const char *url, const char *budget_ms);
/* `wasmgrid submit PROGRAM --args-file F --api API EXTRA...`; returns the job id. */
char *e2e_submit(const char *api, const char *program, const char *args_file, ...)
    __attribute__((sentinel));
/* `wasmgrid wait JOB`: its exit status. */
int e2e_wait(const char *api, const char *job);

/* One line of `wasmgrid results JOB --json`. */
struct e2e_result {
	int index;
	char status[32];
	char *result; /* text, or NULL */
	char error[32];
	char *stderr_tail;
	int attempts;
	char worker[65];
};
/* All results of a job, in index order; *n their number. Free with e2e_results_free. */
struct e2e_result *e2e_results(const char *api, const char *job, size_t *n);
void e2e_results_free(struct e2e_result *r, size_t n);
/* A field of `wasmgrid status JOB --json` as an integer ("tasks", or a count under
 * "counts": "completed", "running"...), -1 if absent. */
long e2e_job_count(const char *api, const char *job, const char *name);
/* Checks the results of a job of t_slow.wasm over args[0..n-1]: every task completed once,
 * in index order, with "slept ARG"; and the job's count of completed tasks agrees. */
void e2e_check_slow_results(const char *api, const char *job, const char *const *args, size_t n);
/* Sandboxes of a worker: its children that are forks of it (not its compilers). */
int e2e_children(pid_t pid);
