/* Shared between engine.c (tasks and children) and program.c (fetching, verifying and
 * compiling programs). Not for use outside src/engine/. */
#ifndef WG_ENGINE_INTERNAL_H
#define WG_ENGINE_INTERNAL_H
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "engine/engine.h"
#include "engine/wasi.h"
#include "util/buf.h"

struct wg__task;

enum wg__program_state {
	WG__PROGRAM_PREPARING, /* cache check or download on the thread pool */
	WG__PROGRAM_FETCHING,  /* waiting for a registered fetcher */
	WG__PROGRAM_COMPILING, /* wasm2c or cc running */
	WG__PROGRAM_READY,     /* so_path is a verified compiled program */
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
	struct wg__task *waiting; /* tasks waiting for READY, in submission order */
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
	int proc_stage;   /* which compiler; negative once it failed */
	int spawn_failed; /* the compiler could not even be started */
	struct wg__program *next;
};

struct wg_engine {
	uv_loop_t *loop;
	char *programs_dir; /* DATA/programs: verified .wasm files by hash */
	char *cache_dir;    /* DATA/cache/TOOLCHAINKEY: compiled programs by hash */
	char *wasm2c, *cc;
	uint64_t default_memory_bytes, default_result_bytes, max_program_bytes;
	uint32_t download_timeout_ms;
	struct wg__fetcher fetchers[8];
	size_t n_fetchers;
	struct wg__program *programs;
	struct wg__task *tasks;
	struct wg_engine_stats stats;
	int closing;
	/* Handles, works and children still outstanding; the engine is freed at zero. */
	unsigned pending;
	uint64_t build_counter;
};

/* program.c */
int wg__program_dirs_init(struct wg_engine *e, const char *data_dir);
/* Starts preparing p (state PREPARING). Ends in wg__program_ready or wg__program_failed. */
void wg__program_start(struct wg__program *p);
void wg__program_cancel(struct wg__program *p);
void wg__program_free(struct wg__program *p);

/* fetch.c: reads a program from a path, file:// or http(s):// address, refusing more than
 * max_bytes. Blocking: call it on the thread pool. On failure, why holds a reason. */
int wg__fetch(const char *address, uint64_t max_bytes, uint32_t timeout_ms, uint8_t **out,
	      size_t *len, char *why, size_t why_len);

/* engine.c */
void wg__program_ready(struct wg__program *p);
void wg__program_failed(struct wg__program *p, int kind, const char *detail);
/* Drops one of e->pending; frees the engine when closing and none remain. */
void wg__engine_release(struct wg_engine *e);

#endif
