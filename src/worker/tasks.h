/* The worker's tasks: what the manager gave it, run through the execution engine, and the
 * reports (TaskStarted, TaskCompleted, TaskError) that go back.
 *
 * A task belongs to the manager that sent it. Its final report is kept until that manager
 * acknowledges it: if the relationship ends first (the manager restarted, or missed pings),
 * the task keeps running and its report is sent again when the worker attaches to the same
 * manager, so no finished work is lost; attaching to another manager drops them. */
#ifndef WG_WORKER_TASKS_H
#define WG_WORKER_TASKS_H
#include <stdint.h>
#include <uv.h>

#include "engine/engine.h"
#include "node/peer.h"

struct wg_wtasks;

struct wg_wtasks_options {
	uint32_t slots;		   /* tasks running at once */
	uint32_t queue;		   /* tasks accepted beyond the running ones */
	uint64_t max_memory_bytes; /* the worker's own limit: tasks asking more are refused */
};

struct wg_wtasks *wg_wtasks_create(uv_loop_t *loop, struct wg_engine *engine,
				   const struct wg_wtasks_options *o);
/* The engine is going away (the worker stops): no task starts or is aborted any more;
 * what remains waits to be freed. */
void wg_wtasks_stop(struct wg_wtasks *t);
/* Aborts everything and frees (run the loop afterwards for the engine's handles). */
void wg_wtasks_free(struct wg_wtasks *t);

/* The requests of our manager; each answers its request. */
void wg_wtasks_execute(struct wg_wtasks *t, struct wg_peer *mgr, uint64_t id,
		       const Wasmgrid__TasksExecute *req);
void wg_wtasks_ping(struct wg_wtasks *t, struct wg_peer *mgr, uint64_t id,
		    const Wasmgrid__TasksPing *req);
void wg_wtasks_abort(struct wg_wtasks *t, struct wg_peer *mgr, uint64_t id,
		     const Wasmgrid__TasksAbort *req);

/* The relationship with `mgr` began: reports owed to it are sent again; tasks of any other
 * manager are aborted and forgotten. */
void wg_wtasks_attached(struct wg_wtasks *t, struct wg_peer *mgr);
/* The relationship ended: reports wait for the next attachment. */
void wg_wtasks_detached(struct wg_wtasks *t);

/* The engine fetcher for wasmgrid://NODEID/HASH: ProgramFetch requests to our manager, in
 * chunks so that a large program does not hold up other messages. */
void wg_wtasks_fetch_program(void *user, const char *address, const char *hash_hex,
			     wg_engine_fetched_cb done, void *fetch_ctx);

/* Tasks known (pending, running, or finished and not yet acknowledged). */
size_t wg_wtasks_count(const struct wg_wtasks *t);

#endif
