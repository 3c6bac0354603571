/* The execution engine: runs WASI task programs, sandboxed, from an event loop.
 *
 * A task names its program by addresses and hash. The engine fetches the program (once),
 * checks its BLAKE2b-256 hash before anything else touches it, compiles it with wasm2c and
 * the system C compiler into a shared object (once per program and toolchain, cached in
 * the data directory), and runs tasks in runners: sandboxed processes (seccomp filter,
 * resource limits) that each run many tasks of one program, one at a time, every task in
 * a fresh WebAssembly instance. Nothing blocks the loop: downloads and cache checks run
 * on libuv's thread pool, compilers are child processes, and runners report through
 * pipes. The host process must ignore SIGPIPE (wasmgrid's main does).
 *
 * Everything here is called from the loop's thread. See docs/engine.md. */
#ifndef WG_ENGINE_ENGINE_H
#define WG_ENGINE_ENGINE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct wg_engine;

/* What an engine may fetch programs from (docs/engine.md): a worker's --fetch. Built with
 * wg_fetch_policy_add, freed with wg_fetch_policy_free. */
struct wg_fetch_policy {
	bool https, http;   /* URLs of these schemes, to public addresses */
	bool private_hosts; /* ... and to loopback, private, link-local, unspecified ones */
	bool registered;    /* the schemes of wg_engine_set_fetcher (wasmgrid://) */
	bool any_file;	    /* every local file */
	char **dirs;	    /* local files under these directories (canonical paths) */
	size_t n_dirs;
};

/* What a worker fetches unless told otherwise: programs from its manager, and https://. */
#define WG_FETCH_POLICY_DEFAULT "wasmgrid,https"

/* Adds a comma-separated list to a policy: "https", "http", "private", "wasmgrid",
 * "file:DIR" (files under DIR, which must exist), or "all" (everything). Returns 0, or
 * WG_EINVAL with the reason in why. */
int wg_fetch_policy_add(struct wg_fetch_policy *p, const char *spec, char *why, size_t why_len);
void wg_fetch_policy_free(struct wg_fetch_policy *p);

/* How programs are compiled (docs/engine.md, "Two tiers"). AUTO: a program's first tasks
 * run on the quick tier (tcc, tens of milliseconds to build, several times slower code)
 * while the optimising tier (cc -O2) builds; once it is installed, new tasks use it and
 * tasks still running on the quick tier are restarted on it. QUICK: the quick tier only
 * (nothing is cached). OPTIMISED: tasks wait for cc -O2, as without tcc. */
enum wg_engine_tiers {
	WG_TIERS_AUTO = 0,
	WG_TIERS_QUICK,
	WG_TIERS_OPTIMISED,
};

/* "auto", "quick" or "optimised" (also "optimized"); -1 for anything else. */
int wg_engine_tiers_parse(const char *name);

struct wg_engine_options {
	const char *data_dir;	       /* required: programs/ and cache/ live under it */
	uint64_t default_memory_bytes; /* for tasks that give 0; 0 means 256 MiB */
	uint64_t default_result_bytes; /* for tasks that give 0; 0 means 1 MiB */
	uint64_t max_program_bytes;    /* download size limit; 0 means 64 MiB */
	uint32_t download_timeout_ms;  /* 0 means 60 s */
	const char *wasm2c;	       /* NULL: "wasm2c" from PATH */
	const char *cc;		       /* NULL: "cc" from PATH */
	const char *quick_cc;	       /* the quick tier's compiler; NULL: "tcc" from PATH */
	enum wg_engine_tiers tiers;    /* AUTO falls back to OPTIMISED when tcc is missing */
	uint32_t runner_idle_ms;       /* an idle runner exits after this; 0 means 30 s */
	/* Limits of each compiler process of an untrusted module (wasm2c, cc and what cc
	 * runs): CPU seconds (0: WG_DEFAULT_COMPILE_CPU_S) and address space in MiB (0:
	 * WG_DEFAULT_COMPILE_MEMORY_MIB, util/limits.h). Past either the program is InvalidProgram.
	 */
	uint32_t compile_cpu_s;
	uint32_t compile_memory_mib;
	/* NULL: any address may be fetched (`wasmgrid run`, the user's own files). Not copied:
	 * it must outlive the engine. */
	const struct wg_fetch_policy *fetch_policy;
};

/* Everything is copied by wg_engine_submit. */
struct wg_engine_task {
	uint64_t task_id;	      /* unique among the engine's live tasks */
	const char *const *addresses; /* tried in order: path, file://, http(s)://, or a
				       * scheme given to wg_engine_set_fetcher */
	size_t n_addresses;
	const char *hash_hex;	 /* BLAKE2b-256 of the program, 64 hex digits */
	const uint8_t *argument; /* stdin, and argv[1] when it is text */
	size_t argument_len;
	uint32_t timeout_ms;   /* wall clock; 0: none */
	uint64_t memory_bytes; /* WebAssembly memory limit; 0: the engine default */
	uint64_t result_bytes; /* stdout limit; 0: the engine default */
	uint64_t random_seed;  /* seeds random_get; replicas use the same seed */
	/* Only prepare the program (fetch, verify, compile on the engine's tiers): done
	 * reports error_kind 0 once it is ready, without running anything. */
	bool prepare_only;
};

/* error_kind is 0 when the task completed (exit status 0), otherwise a
 * Wasmgrid__ErrorKind value: TIMED_OUT, DOWNLOAD_ERROR, RUNNING_ERROR, INVALID_PROGRAM,
 * RESOURCE_LIMIT or ABORTED (never ERROR_KIND_UNKNOWN, whose value is 0). */
struct wg_engine_outcome {
	int error_kind;
	const char *detail;    /* one line: trap name, exit status, reason; "" if none */
	const uint8_t *result; /* stdout (also on errors: what was written) */
	size_t result_len;
	const uint8_t *stderr_tail; /* the last 4 KiB of stderr */
	size_t stderr_tail_len;
	uint64_t cpu_ms; /* CPU time the task used (0 if it never ran) */
};

/* A runner accepted the task (Unix time in milliseconds). Not called for tasks that end
 * before running (download or compilation failure, abort while waiting). */
typedef void (*wg_engine_started_cb)(void *user, uint64_t task_id, uint64_t unix_ms);
/* The task ended. The outcome and its buffers are valid during the callback only. Called
 * exactly once per submitted task, never from inside wg_engine_submit or wg_engine_abort,
 * and never after wg_engine_free. */
typedef void (*wg_engine_done_cb)(void *user, uint64_t task_id,
				  const struct wg_engine_outcome *outcome);

/* For addresses whose scheme the engine does not handle itself (wasmgrid://NODEID/HASH),
 * a fetcher supplies the bytes: it calls done(fetch_ctx, 0, bytes, len) on success (the
 * bytes are copied) or done(fetch_ctx, negative wg_err, NULL, 0), exactly once, from the
 * loop's thread, possibly before returning. The engine checks the hash itself. */
typedef void (*wg_engine_fetched_cb)(void *fetch_ctx, int status, const uint8_t *bytes, size_t len);
typedef void (*wg_engine_fetch_fn)(void *user, const char *address, const char *hash_hex,
				   wg_engine_fetched_cb done, void *fetch_ctx);

/* Creates an engine on `loop`; copies the options. Returns 0 or a negative wg_err. */
int wg_engine_create(uv_loop_t *loop, const struct wg_engine_options *o, struct wg_engine **out);
/* Kills runners and compilers and drops every task without calling its
 * callbacks. Memory is released as handles close: run the loop afterwards (as for any
 * libuv handle) before closing it. */
void wg_engine_free(struct wg_engine *e);
/* Registers `fn` for addresses starting with "SCHEME://". Copies the scheme. Call it
 * before submitting tasks. */
void wg_engine_set_fetcher(struct wg_engine *e, const char *scheme, wg_engine_fetch_fn fn,
			   void *user);
/* Queues a task. Returns 0 (done will be called), WG_EINVAL for a malformed task (bad
 * hash, no address) or WG_EEXISTS if task_id is already live. */
int wg_engine_submit(struct wg_engine *e, const struct wg_engine_task *t,
		     wg_engine_started_cb started, wg_engine_done_cb done, void *user);
/* Aborts a live task: its done callback follows with ABORTED. WG_ENOTFOUND if none. */
int wg_engine_abort(struct wg_engine *e, uint64_t task_id);
/* True when the program is compiled and ready here (a scheduler prefers such workers). */
int wg_engine_has_program(struct wg_engine *e, const char *hash_hex);

struct wg_engine_stats {
	uint64_t compilations;	     /* programs compiled (optimising tier) by this engine */
	uint64_t quick_compilations; /* programs compiled on the quick tier */
	uint64_t tasks_restarted;    /* tasks moved from the quick tier to the optimised one */
	uint64_t cache_hits;	     /* programs found compiled in the cache */
	uint64_t cache_rejected;     /* cache entries that failed verification and were rebuilt */
	uint64_t downloads;	     /* programs fetched from an address */
	uint64_t tasks_run;	     /* tasks handed to a runner */
	uint64_t tasks_running;	     /* tasks running now */
	uint64_t runners_started;    /* runner processes forked */
};
void wg_engine_get_stats(const struct wg_engine *e, struct wg_engine_stats *out);
/* Whether a program is being fetched or compiled (on AUTO, the optimised tier building
 * behind a quick one counts). */
bool wg_engine_building(const struct wg_engine *e);

/* BLAKE2b-256 of data as 64 hex digits plus NUL: the program hash. */
void wg_engine_hash_hex(const uint8_t *data, size_t len, char out[65]);

#endif
