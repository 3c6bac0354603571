/* A node played by the test process, for protocol tests against real daemons: the test's
 * own loop, a fresh identity, and the real link and rpc layers, so that every frame the
 * daemon sees is one a real peer could send. The fake answers the relationship requests
 * (NodeTypeRequest, ManagerRequest, ManagerPing, ManagerBye) by itself, records every
 * request it receives, and answers task reports with Ack (TaskError and TaskCompleted only
 * when not told to hold them).
 *
 * Ownership: a fake_node is the caller's (usually on the stack); everything it allocates
 * is released by fake_free, which also closes its connections and its loop. */
#ifndef WG_TEST_FAKE_NODE_H
#define WG_TEST_FAKE_NODE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "node/frame.h"
#include "node/identity.h"
#include "node/relation.h"
#include "node/rpc.h"
#include "util/buf.h"

/* One request the daemon sent us, with what the tests look at copied out of the frame. */
struct fake_msg {
	wg_body_case kind;
	uint64_t rpc_id; /* its request number, to answer it later */
	int connection;	 /* which of our connections it came on (1, 2, ...) */
	bool answered;
	uint64_t task_id;	   /* TaskStarted, TaskError, TaskCompleted */
	uint64_t datetime;	   /* TaskStarted */
	int error;		   /* TaskError */
	char *detail;		   /* TaskError */
	struct wg_buf result;	   /* TaskCompleted */
	struct wg_buf stderr_tail; /* TaskError */
	size_t n_tasks;		   /* TasksExecute, TasksPing, TasksAbort: how many tasks */
	uint64_t first_task;	   /* TasksExecute, TasksPing, TasksAbort: the first task's id */
	uint64_t ids[64];	   /* ... and the first 64 task ids */
};

/* One entry of a TasksRefused or TasksPong answer. */
struct fake_entry {
	uint64_t task_id;
	int code; /* RefuseReason or TaskState */
	uint64_t started_at_ms;
	int error;
	char result[256]; /* NUL-terminated copy of the first bytes */
};

/* The answer to one of our requests. */
struct fake_answer {
	bool done;
	int status; /* 0, or WG_ETIMEOUT / WG_ECLOSED */
	wg_body_case kind;
	bool accepted; /* ManagerAnswer */
	size_t n;
	struct fake_entry entries[16];
};

struct fake_node {
	uv_loop_t loop;
	struct wg_identity id;
	enum wg_node_type type;	 /* what we say we are */
	bool hold_final_reports; /* leave TaskError/TaskCompleted unanswered (fake_ack later) */
	/* Answer TasksPing with STARTED (since now) for every task asked about, as a worker
	 * still running them would, instead of Unknown (a worker that lost them). */
	bool pong_started;
	struct wg_listener *listener;
	int port;
	struct wg_rpc *rpc;	/* the current connection, NULL when none */
	int opened, closed;	/* connections opened and closed so far */
	bool attached;		/* manager side: we accepted a ManagerRequest on rpc */
	struct fake_msg **msgs; /* every request received, in order */
	size_t n_msgs, cap_msgs;
	uv_timer_t poll;
};

/* A fresh node of the given type with a new identity, on its own loop. */
void fake_init(struct fake_node *f, enum wg_node_type type);
/* Closes every connection and the listener, runs the loop until all is closed, frees. */
void fake_free(struct fake_node *f);

/* Listens on 127.0.0.1 with f->id, on f->port (0: any port; f->port receives it). */
void fake_listen(struct fake_node *f);
/* Connects to 127.0.0.1:port and waits (failing the test) until the link is open. */
void fake_connect(struct fake_node *f, int port);
/* Closes the current connection and waits until it is gone. */
void fake_hang_up(struct fake_node *f);

/* Runs the loop until cond(f, arg) is true (checked at least every 20 ms) or timeout_ms
 * passes; returns whether cond became true. */
bool fake_run_until(struct fake_node *f, bool (*cond)(struct fake_node *f, void *arg), void *arg,
		    int timeout_ms);
/* Waits for the next connection to open (f->opened to exceed `opened_before`). */
bool fake_wait_opened(struct fake_node *f, int opened_before, int timeout_ms);
/* Waits for a manager-side attachment (we answered ManagerRequest with accepted). */
bool fake_wait_attached(struct fake_node *f, int timeout_ms);

/* Sends a request (its frame is not kept) and waits for its answer, failing the test if
 * none comes within timeout_ms. */
void fake_call(struct fake_node *f, wg_frame *req, struct fake_answer *a, int timeout_ms);

/* The first recorded request of this kind about task_id (any task when task_id is 0) at
 * index >= from, or NULL. */
struct fake_msg *fake_find(struct fake_node *f, wg_body_case kind, uint64_t task_id, size_t from);
/* Waits for such a request; NULL when none came within timeout_ms. */
struct fake_msg *fake_wait_msg(struct fake_node *f, wg_body_case kind, uint64_t task_id,
			       size_t from, int timeout_ms);
/* Answers a recorded request with Ack (on the current connection). */
void fake_ack(struct fake_node *f, struct fake_msg *m);

/* ---- tasks ---- */

/* A task for TasksExecute: `program` names a file of build/examples (without .wasm), or
 * is an absolute path. */
struct fake_task {
	uint64_t id;
	const char *program;
	const char *argument;
	uint32_t timeout_ms;   /* 0: 60 s */
	uint64_t memory_bytes; /* 0: the worker's default */
	bool unknown_kind;     /* PROGRAM_KIND_UNKNOWN instead of WASI_PREVIEW1 */
	const char *hash;      /* NULL: the program's real hash */
};
/* The program's path, and its BLAKE2b-256 hash in hex (computed here, not by the daemon). */
const char *fake_program_path(const char *program);
void fake_program_hash(const char *program, char out[65]);
/* Sends TasksExecute for these tasks and waits for the answer. */
void fake_execute(struct fake_node *f, const struct fake_task *tasks, size_t n,
		  struct fake_answer *a);
/* Sends TasksPing or TasksAbort for these ids and waits for the answer. */
void fake_ping(struct fake_node *f, const uint64_t *ids, size_t n, struct fake_answer *a);
void fake_abort(struct fake_node *f, const uint64_t *ids, size_t n, struct fake_answer *a);
/* The entry for task_id in a TasksRefused or TasksPong answer, or NULL. */
const struct fake_entry *fake_entry_of(const struct fake_answer *a, uint64_t task_id);

/* ---- reports, as a worker would send them ---- */
void fake_send_started(struct fake_node *f, uint64_t task_id, struct fake_answer *a);
void fake_send_error(struct fake_node *f, uint64_t task_id, int kind, struct fake_answer *a);
void fake_send_completed(struct fake_node *f, uint64_t task_id, const char *result,
			 struct fake_answer *a);
/* NodeTypeRequest with our type, then (for a worker) ManagerRequest; returns whether the
 * manager accepted us. */
bool fake_attach_to_manager(struct fake_node *f);
/* Sends ManagerBye and waits for its answer. */
void fake_send_bye(struct fake_node *f, struct fake_answer *a);
/* Sends NodeTypeRequest saying we are `type` (which may differ from f->type) and waits. */
void fake_send_node_type(struct fake_node *f, enum wg_node_type type, struct fake_answer *a);
/* Sends ManagerPing and waits for its answer. */
void fake_send_ping(struct fake_node *f, struct fake_answer *a);
/* Whether a recorded request of this kind at index >= from names task_id among its ids. */
bool fake_mentions(struct fake_node *f, wg_body_case kind, uint64_t task_id, size_t from);

#endif
