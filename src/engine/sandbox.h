/* Runners: sandboxed processes that run many tasks of one program, one at a time.
 *
 * The engine forks a runner once per program (and per memory class, see engine.c); the
 * runner calls wg_runner_main, which never returns. It loads the compiled program,
 * applies resource limits and the seccomp filter (built once by the engine), and then
 * loops: it reads a task request from fd 0, runs the task in a FRESH module instance (new
 * linear memory, globals and tables re-initialised, WASI state reset), and writes the
 * outcome as frames to fd 1. One instance cannot see another's state: everything a
 * WebAssembly program can touch lives in its instance, which is freed after each task. */
#ifndef WG_ENGINE_SANDBOX_H
#define WG_ENGINE_SANDBOX_H
#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

#include <wasm-rt.h>

#include "util/limits.h"

/* The interface between the runner and the small C shim compiled into every program
 * (see program.c): the fields are written once as a macro so that the shim's copy of the
 * struct, generated as text, cannot drift from this one. Bump WG_PROGRAM_ABI whenever the
 * fields or the shim's entry points change: it is part of the compiled-program cache key.
 * The shim exports wg_program_setup (once per runner, before the sandbox: initialises
 * wasm-rt, runs none of the program's code) and wg_program_run (once per task). */
#define WG_PROGRAM_ABI "wasmgrid-program-abi-2"
#define WG_PROGRAM_HOST_FIELDS                                                                     \
	void *wasi;                                                                                \
	uint32_t max_pages;                                                                        \
	void (*set_memory)(void *host, wasm_rt_memory_t *memory);                                  \
	void (*unwind)(void);                                                                      \
	int trap;                                                                                  \
	const char *trap_text;

struct wg_program_host {
	WG_PROGRAM_HOST_FIELDS
};

/* What the shim's wg_program_run returns. UNWOUND: the WASI layer ended the instance
 * (proc_exit, output limit) through host->unwind, and says why in its own state. */
enum {
	WG_PROGRAM_RETURNED = 0,
	WG_PROGRAM_TRAPPED = 1,
	WG_PROGRAM_OVER_MEMORY = 2,
	WG_PROGRAM_UNWOUND = 3,
};

/* A task request, engine -> runner on the runner's fd 0, followed by argument_len bytes. */
struct wg_runner_request {
	uint64_t task_id;
	uint64_t argument_len;
	uint64_t memory_bytes; /* the task's WebAssembly memory limit */
	uint64_t result_bytes; /* stdout limit */
	uint64_t seed;
	uint32_t timeout_ms; /* 0: none; sets the CPU-time backstop */
	uint32_t reserved;
};

/* Replies, runner -> engine on fd 1: frames of a header and `len` payload bytes. A task's
 * stdout comes as OUT frames (at most WG_RUNNER_OUT_CHUNK bytes each), then one END. */
enum { WG_FRAME_OUT = 1, WG_FRAME_END = 2 };
#define WG_RUNNER_OUT_CHUNK (64u << 10)

struct wg_runner_frame {
	uint32_t kind;
	uint32_t len;
};

/* The payload of an END frame, followed by the task's stderr tail (at most 4 KiB). */
struct wg_runner_end {
	uint32_t report; /* enum wg_child_report (wasi.h) */
	uint32_t code;
	uint64_t cpu_ns; /* the runner's CPU time at the end of the task (cumulative) */
	char detail[200];
};

struct wg_runner_params {
	const char *so_path;		 /* the compiled program */
	uint64_t stack_bytes;		 /* RLIMIT_STACK, which bounds the call depth */
	uint64_t memory_bytes;		 /* the largest memory limit this runner will serve */
	const struct sock_fprog *filter; /* the seccomp program (wg_sandbox_filter_build) */
	int request_fd, reply_fd;	 /* pipe ends to the engine; become fds 0 and 1 */
};

__attribute__((noreturn)) void wg_runner_main(const struct wg_runner_params *p);

/* Builds the seccomp BPF program every runner installs (see docs/engine.md), once: the
 * engine keeps it and a runner only loads it. Returns 0 or -1; free with
 * wg_sandbox_filter_free. */
int wg_sandbox_filter_build(struct sock_fprog *out);
void wg_sandbox_filter_free(struct sock_fprog *f);

#endif
