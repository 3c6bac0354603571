/* The WASI preview1 layer: the host functions a task program imports, as wasm2c names them
 * (Z_wasi_snapshot_preview1Z_NAME), exported from the wasmgrid binary (linked -rdynamic)
 * and resolved when a runner (sandbox.h) loads a compiled program. They run only in a
 * runner, after the seccomp filter is in place, and make no system call but clocks and
 * sleeps: output is buffered for the runner's reply. Nothing here allocates. */
#ifndef WG_ENGINE_WASI_H
#define WG_ENGINE_WASI_H
#include <stddef.h>
#include <stdint.h>

#include <wasm-rt.h>

#include "util/limits.h"

/* How a task ended, as a runner reports it in its END frame (sandbox.h). */
enum wg_child_report {
	WG_CHILD_EXIT = 1, /* code: the exit status (0 = completed) */
	WG_CHILD_TRAP,	   /* code: the wasm_rt_trap_t; detail: its description */
	WG_CHILD_LIMIT,	   /* a resource limit was hit; detail says which */
	WG_CHILD_INVALID,  /* the compiled program cannot be loaded or instantiated */
	WG_CHILD_INTERNAL, /* the sandbox could not be set up */
};

/* The state of one task's WASI world. wasm2c passes a pointer to it (declared by the
 * generated code as struct Z_wasi_snapshot_preview1_instance_t) to every import. The
 * runner keeps one and resets it before each task (wg_wasi_reset). */
struct wg_wasi {
	wasm_rt_memory_t *memory; /* set once the module is instantiated */
	const uint8_t *input;	  /* the argument, read as stdin; not owned */
	size_t input_len, input_pos;
	const char *argv0;
	const char *argv1; /* NULL when the argument is not NUL-free UTF-8 */
	uint64_t output_limit, output_written;
	/* stdout not yet sent: out[0..out_len), capacity out_cap (owned by the runner).
	 * flush sends it to the engine and empties it. */
	uint8_t *out;
	size_t out_len, out_cap;
	void (*flush)(struct wg_wasi *w);
	/* stderr: the last WG_STDERR_TAIL_BYTES bytes, as a ring; err_total bytes were written. */
	uint8_t err_ring[WG_STDERR_TAIL_BYTES];
	uint64_t err_total;
	/* Abandons the running instance (set by the shim); the reason is in end_*. */
	void (*unwind)(void);
	uint32_t end_report, end_code; /* enum wg_child_report, set before unwinding */
	char end_detail[120];
	uint8_t rng_key[32];
	uint64_t rng_block_index;
	uint8_t rng_block[64];
	size_t rng_avail;
};

/* Prepares w for a task: the argument (not copied: it must outlive the run, followed by a
 * NUL byte), the output limit and the random seed. Keeps out, out_cap and flush; resets
 * everything else. */
void wg_wasi_reset(struct wg_wasi *w, const uint8_t *argument, size_t argument_len,
		   uint64_t output_limit, uint64_t seed);
/* Copies the stderr tail, oldest byte first, into dst (WG_STDERR_TAIL_BYTES); returns its
 * length. */
size_t wg_wasi_stderr_tail(const struct wg_wasi *w, uint8_t *dst);
/* The names of the wasi_snapshot_preview1 functions defined here, NULL-terminated. */
extern const char *const wg_wasi_import_names[];
/* True when `argument` may be passed as argv[1]: valid UTF-8 without NUL bytes. */
int wg_wasi_argument_is_text(const uint8_t *argument, size_t len);

#endif
