/* The sandboxed child that runs one task. The engine forks; the child calls
 * wg_sandbox_child, which never returns: it loads the compiled program, applies resource
 * limits and the seccomp filter, runs the module's _start and reports the outcome on the
 * status pipe (struct wg_child_status, see wasi.h) before exiting. */
#ifndef WG_ENGINE_SANDBOX_H
#define WG_ENGINE_SANDBOX_H
#include <stddef.h>
#include <stdint.h>

#include <wasm-rt.h>

/* The interface between the sandbox and the small C shim compiled into every program
 * (see program.c): the fields are written once as a macro so that the shim's copy of the
 * struct, generated as text, cannot drift from this one. Bump WG_PROGRAM_ABI whenever the
 * fields change: it is part of the compiled-program cache key. */
#define WG_PROGRAM_ABI "wasmgrid-program-abi-1"
#define WG_PROGRAM_HOST_FIELDS                                                             \
	void *wasi;                                                                        \
	uint32_t max_pages;                                                                \
	void (*enter_sandbox)(void *ctx);                                                  \
	void *ctx;                                                                         \
	void (*set_memory)(void *wasi, wasm_rt_memory_t *memory);                          \
	int trap;                                                                          \
	const char *trap_text;

struct wg_program_host {
	WG_PROGRAM_HOST_FIELDS
};

/* What the shim's entry point returns. */
enum { WG_PROGRAM_RETURNED = 0, WG_PROGRAM_TRAPPED = 1, WG_PROGRAM_OVER_MEMORY = 2 };

struct wg_sandbox_params {
	const char *so_path;      /* the compiled program */
	const uint8_t *argument;  /* followed by a NUL byte not counted in argument_len */
	size_t argument_len;
	uint64_t memory_bytes;    /* WebAssembly memory limit */
	uint64_t result_bytes;    /* stdout limit */
	uint32_t timeout_ms;      /* 0: none; sets the CPU-time backstop */
	uint64_t seed;            /* for random_get */
	int out_fd, err_fd, status_fd; /* write ends of the pipes to the parent */
};

__attribute__((noreturn)) void wg_sandbox_child(const struct wg_sandbox_params *p);

#endif
