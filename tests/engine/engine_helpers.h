/* Helpers for the engine tests: run tasks on a private loop and collect their outcomes. */
#ifndef WG_TEST_ENGINE_HELPERS_H
#define WG_TEST_ENGINE_HELPERS_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "engine/engine.h"
#include "util/buf.h"

struct task_result {
	int done, started;
	int kind;
	char detail[400];
	struct wg_buf out, err;
};

/* bindir/examples/NAME.wasm (a new string). */
char *test_program_path(const char *name);
/* The program's hash (read from its file). */
void test_program_hash(const char *path, char hash[65]);
/* A data directory shared by the tests that do not test the cache itself, so each
 * program is compiled once per test run, not once per test. */
const char *test_shared_data_dir(void);
/* The common task fields for one program file. */
struct wg_engine_task test_task(const char *const *address, const char *hash, const void *argument,
				size_t len);
/* Submits and runs one task to its end on a fresh engine over data_dir. */
void test_run(const char *data_dir, const struct wg_engine_task *t, struct task_result *r);
/* The done/started callbacks storing into a struct task_result. */
void test_on_started(void *user, uint64_t task_id, uint64_t unix_ms);
void test_on_done(void *user, uint64_t task_id, const struct wg_engine_outcome *o);
void test_result_free(struct task_result *r);
/* A one-file HTTP server on loopback in a child process; returns its pid, sets *port. */
pid_t test_serve_http(const uint8_t *body, size_t len, int *port);
/* Runs one task to its end on a fresh engine with these options. */
void test_run_with(const struct wg_engine_options *o, const struct wg_engine_task *t,
		   struct task_result *r);

#endif
