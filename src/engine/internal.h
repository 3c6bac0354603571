/* Shared between engine.c (tasks), runner.c (runner processes) and program.c (fetching,
 * verifying and compiling programs). Not for use outside src/engine/. */
#ifndef WG_ENGINE_INTERNAL_H
#define WG_ENGINE_INTERNAL_H
#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>
#include <uv.h>

#include "engine/engine.h"
#include "engine/sandbox.h"
#include "engine/wasi.h"
#include "util/buf.h"

struct wg__task;
struct wg__runner;

enum wg__program_state {
	WG__PROGRAM_PREPARING, /* cache check or download on the thread pool */
	WG__PROGRAM_FETCHING,  /* waiting for a registered fetcher */
	WG__PROGRAM_COMPILING, /* wasm2c or cc running */
	WG__PROGRAM_READY,     /* runnable: on the quick tier (quick_path) or so_path */
};

/* Which compiled form a runner loads. */
enum wg__tier {
	WG__TIER_OPTIMISED = 0, /* cc -O2, cached in so_path */
	WG__TIER_QUICK,		/* tcc, quick_path in the build directory, never cached */
};

struct wg__fetcher {
	char *scheme;
	wg_engine_fetch_fn fn;
	void *user;
};

/* One program, by hash. Lives from the first task that needs it until the engine is freed
 * (when ready) or until its preparation fails (the waiting tasks then fail with it). */
struct wg__program {
	struct wg_engine *engine;
	char hash[65];
	enum wg__program_state state;
	char **addresses; /* copied from the first task that named the program */
	size_t n_addresses;
	char *wasm_path, *so_path, *sum_path, *build_dir;
	/* What new runners load once READY. On the quick tier, quick_path is the build
	 * directory's quick.so, kept until the optimised object replaces it. */
	enum wg__tier tier;
	char *quick_path;
	int no_wasi;		     /* the module imports nothing (the shim's WG_NO_WASI) */
	uint64_t compile_started_ms; /* when wasm2c started (wg_mono_ms), for the log */
	struct wg__runner *runners;  /* its runner processes, busy or idle (engine.c) */
	struct wg__task *waiting;    /* tasks waiting for READY, in submission order */
	struct wg__task **waiting_tail;
	/* The step running on the thread pool, its outcome, and data for it. */
	uv_work_t work;
	int work_busy;
	int next_step; /* what the work decided (program.c) */
	int fail_kind;
	char *fail_detail;
	uint8_t *fetched;
	size_t fetched_len;
	/* The compiler process, when one runs. */
	uv_process_t proc;
	int proc_busy;
	int proc_stage;	  /* which compiler; negative once it failed */
	int spawn_failed; /* the compiler could not even be started */
	int term_signal;  /* the signal that ended the compiler, or 0 */
	int unwanted;	  /* stopped because no task needs the program any more */
	struct wg__program *next;
};

struct wg_engine {
	uv_loop_t *loop;
	char *programs_dir; /* DATA/programs: verified .wasm files by hash */
	char *cache_dir;    /* DATA/cache/TOOLCHAINKEY: compiled programs by hash */
	char *wasm2c, *cc;
	char *quick_cc; /* tcc's absolute path; NULL when the quick tier is off or missing */
	enum wg_engine_tiers tiers;
	char *prlimit; /* util-linux's prlimit, which starts the compilers within their limits */
	uint32_t compile_cpu_s, compile_memory_mib;
	const struct wg_fetch_policy *policy; /* NULL: anything */
	uint64_t default_memory_bytes, default_result_bytes, max_program_bytes;
	uint32_t download_timeout_ms;
	struct wg__fetcher fetchers[8];
	size_t n_fetchers;
	struct wg__program *programs;
	struct wg__task *tasks;
	/* Tasks whose program is ready (or that end early), started by the kick timer on the
	 * next loop iteration: callbacks never run inside wg_engine_submit. */
	struct wg__task *runq, **runq_tail;
	uv_timer_t kick;
	uint32_t runner_idle_ms;
	struct sock_fprog filter; /* built once, before the first runner */
	struct wg_engine_stats stats;
	int closing;
	/* Handles, works and children still outstanding; the engine is freed at zero. */
	unsigned pending;
	uint64_t build_counter;
};

enum wg__task_state {
	WG__TASK_WAITING, /* for its program */
	WG__TASK_QUEUED,  /* in engine->runq: to start, or to end early */
	WG__TASK_RUNNING, /* sent to a runner */
};

/* A submitted task, from wg_engine_submit until its done callback (then freed). */
struct wg__task {
	struct wg_engine *engine;
	uint64_t id;
	struct wg__program *program;
	uint8_t *argument; /* with a NUL after argument_len */
	size_t argument_len;
	uint32_t timeout_ms;
	uint64_t memory_bytes, result_bytes, seed;
	wg_engine_started_cb started;
	wg_engine_done_cb done;
	void *user;
	enum wg__task_state state;
	int aborted, timed_out, output_over;
	int launched; /* handed to a runner at least once (started was called) */
	int prepare_only;
	int restart;		/* its quick-tier runner was killed to run it again optimised */
	uint64_t cpu_ns_before; /* CPU time of runs that were restarted */
	/* A failure decided before the task ran (program failed). */
	int early_kind;
	char *early_detail;
	struct wg__runner *runner;    /* while RUNNING */
	struct wg_buf out;	      /* stdout so far */
	struct wg__task *next, *prev; /* in engine->tasks */
	struct wg__task *next_queued; /* in program->waiting or engine->runq */
};

/* A runner process (sandbox.h) as the engine sees it. It serves one program and tasks
 * whose memory limit is at most memory_bytes, one at a time. Freed once its process is
 * reaped and its handles are closed. */
struct wg__runner {
	struct wg_engine *engine;
	struct wg__program *program;
	pid_t pid;
	int pidfd;
	uint64_t memory_bytes;
	enum wg__tier tier;    /* the program's tier when it was forked */
	struct wg__task *task; /* the task it runs; NULL when idle */
	int killed;	       /* SIGKILL sent: it takes no more tasks, its frames are ignored */
	int exited;
	uint64_t cpu_ns_seen; /* its CPU time at the end of its last task */
	uv_pipe_t request, reply;
	uv_poll_t exit_poll;
	uv_timer_t timer; /* the task's timeout while busy, the idle expiry while idle */
	uv_write_t write_req;
	int writing;	       /* write_req in flight, from pending */
	struct wg_buf pending; /* the part of a request that did not fit in the pipe */
	struct wg_buf in;      /* reply bytes not yet parsed */
	int open_handles;
	struct wg__runner *next; /* in program->runners */
};

/* runner.c */
/* Hands t (whose program is ready) to an idle runner or a new one. Returns 0, or fails
 * with a reason (no runner could be started). */
int wg__runner_start_task(struct wg__task *t, char *why, size_t why_len);
/* Kills the task's runner; its outcome follows when the runner is reaped. */
void wg__runner_kill(struct wg__runner *r);
/* Kills and reaps every runner of p at once and closes their handles (wg_engine_free). */
void wg__runners_stop(struct wg__program *p);
/* Kills p's runners of another tier than p's; their tasks are marked to run again. */
void wg__runners_retire(struct wg__program *p);

/* engine.c, called by runner.c */
/* The runner reported the task's end (an END frame). */
void wg__task_ended(struct wg__task *t, const struct wg_runner_end *end, const uint8_t *tail,
		    size_t tail_len, uint64_t cpu_ns);
/* The runner died while running the task (wait status as from waitpid). */
void wg__task_runner_died(struct wg__task *t, int wait_status, uint64_t cpu_ns);

/* program.c */
/* Also finds the quick tier's compiler (quick_cc, NULL: "tcc") unless e->tiers is
 * OPTIMISED; fails with WG_ENOTFOUND when the tiers are QUICK and it is missing. */
int wg__program_dirs_init(struct wg_engine *e, const char *data_dir, const char *quick_cc);
/* Starts preparing p (state PREPARING). Ends in wg__program_ready or wg__program_failed. */
void wg__program_start(struct wg__program *p);
void wg__program_cancel(struct wg__program *p);
/* Stops the program's compilation when no task waits for it any more. */
void wg__program_unwanted(struct wg__program *p);
void wg__program_free(struct wg__program *p);

/* fetch.c: reads a program from a path, file:// or http(s):// address, refusing more than
 * max_bytes, and what the policy (NULL: none) does not allow. Blocking: call it on the
 * thread pool. On failure, why holds a reason. */
int wg__fetch(const struct wg_fetch_policy *policy, const char *address, uint64_t max_bytes,
	      uint32_t timeout_ms, uint8_t **out, size_t *len, char *why, size_t why_len);
/* The refusal of the fetch policy, the same whatever was refused and why. */
#define WG__NOT_ALLOWED "not allowed by this worker's fetch policy (its --fetch)"

/* engine.c */
void wg__program_ready(struct wg__program *p);
void wg__program_failed(struct wg__program *p, int kind, const char *detail);
/* Drops one of e->pending; frees the engine when closing and none remain. */
void wg__engine_release(struct wg_engine *e);

#endif
