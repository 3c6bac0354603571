/* The WASI preview1 layer: the host functions a task program imports, as wasm2c names them
 * (Z_wasi_snapshot_preview1Z_NAME), exported from the wasmgrid binary (linked -rdynamic)
 * and resolved when a sandboxed child loads a compiled program. They run only in that
 * child, after the seccomp filter is in place, and may only read and write the three pipes
 * to the parent. Nothing here allocates after setup. */
#ifndef WG_ENGINE_WASI_H
#define WG_ENGINE_WASI_H
#include <stddef.h>
#include <stdint.h>

#include <wasm-rt.h>

/* What a child reports to its parent through the status pipe, once, as one write. */
enum wg_child_report {
	WG_CHILD_EXIT = 1,   /* code: the exit status (0 = completed) */
	WG_CHILD_TRAP,       /* code: the wasm_rt_trap_t; detail: its description */
	WG_CHILD_LIMIT,      /* a resource limit was hit; detail says which */
	WG_CHILD_INVALID,    /* the compiled program cannot be loaded or instantiated */
	WG_CHILD_INTERNAL,   /* the sandbox could not be set up */
};

struct wg_child_status {
	uint32_t report; /* enum wg_child_report */
	uint32_t code;
	char detail[200];
};

/* The state of one task's WASI world. wasm2c passes a pointer to it (declared by the
 * generated code as struct Z_wasi_snapshot_preview1_instance_t) to every import. */
struct wg_wasi {
	wasm_rt_memory_t *memory; /* set once the module is instantiated */
	const uint8_t *input;     /* the argument, read as stdin; not owned */
	size_t input_len, input_pos;
	const char *argv0;
	const char *argv1; /* NULL when the argument is not NUL-free UTF-8 */
	uint64_t output_limit, output_written;
	int out_fd, err_fd, status_fd;
	uint8_t rng_key[32];
	uint64_t rng_block_index;
	uint8_t rng_block[64];
	size_t rng_avail;
};

/* Prepares w for a task: the argument (not copied: it must outlive the run), the output
 * limit, the pipes, and the random seed. */
void wg_wasi_init(struct wg_wasi *w, const uint8_t *argument, size_t argument_len,
		  uint64_t output_limit, uint64_t seed, int out_fd, int err_fd, int status_fd);
/* Sends one status report to the parent and ends the process (exit_group, so no atexit
 * handlers or sanitizer leak checks run in the child). */
__attribute__((noreturn)) void wg_wasi_finish(struct wg_wasi *w, enum wg_child_report report,
					      uint32_t code, const char *detail);
/* The names of the wasi_snapshot_preview1 functions defined here, NULL-terminated. */
extern const char *const wg_wasi_import_names[];
/* True when `argument` may be passed as argv[1]: valid UTF-8 without NUL bytes. */
int wg_wasi_argument_is_text(const uint8_t *argument, size_t len);

#endif
