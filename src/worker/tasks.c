#include "worker/tasks.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/limits.h"
#include "util/log.h"

#define REPORT_DEADLINE_MS 30000
#define FETCH_CHUNK (1u << 20)

enum wtask_state { WT_PENDING, WT_RUNNING, WT_DONE };

/* One task. The list is in arrival order, which is also the order pending tasks start in;
 * it holds at most slots + queue live tasks plus finished ones awaiting an Ack, so a list
 * is the right structure. */
struct wtask {
	uint64_t id;
	uint8_t manager[32];
	enum wtask_state state;
	bool aborted;	       /* TasksAbort, or another manager: forget it when it ends */
	bool report_in_flight; /* the final report awaits its answer */
	/* What to run (copied from the TaskSpec). */
	char **addresses;
	size_t n_addresses;
	char hash[65];
	uint8_t *argument;
	size_t argument_len;
	uint32_t timeout_ms;
	uint64_t memory_bytes, result_bytes, seed;
	/* What happened. */
	uint64_t started_ms;
	int error_kind;
	char *detail;
	uint8_t *result;
	size_t result_len;
	uint8_t *stderr_tail;
	size_t stderr_len;
	uint64_t cpu_ms; /* the CPU time it used, reported with it */
	struct wtask *prev, *next;
};

struct wg_wtasks {
	uv_loop_t *loop;
	struct wg_engine *engine;
	struct wg_wtasks_options o;
	struct wg_peer *mgr; /* our manager while attached, else NULL */
	struct wtask *head, *tail;
	size_t n_tasks;
	uint32_t running;
};

struct wg_wtasks *wg_wtasks_create(uv_loop_t *loop, struct wg_engine *engine,
				   const struct wg_wtasks_options *o)
{
	struct wg_wtasks *t = wg_calloc(1, sizeof *t);
	t->loop = loop;
	t->engine = engine;
	t->o = *o;
	if (!t->o.slots)
		t->o.slots = 1;
	return t;
}

static struct wtask *find(struct wg_wtasks *t, uint64_t id)
{
	for (struct wtask *k = t->head; k; k = k->next)
		if (k->id == id)
			return k;
	return NULL;
}

static void remove_task(struct wg_wtasks *t, struct wtask *k)
{
	if (k->prev)
		k->prev->next = k->next;
	else
		t->head = k->next;
	if (k->next)
		k->next->prev = k->prev;
	else
		t->tail = k->prev;
	t->n_tasks--;
	for (size_t i = 0; i < k->n_addresses; i++)
		free(k->addresses[i]);
	free(k->addresses);
	free(k->argument);
	free(k->detail);
	free(k->result);
	free(k->stderr_tail);
	free(k);
}

size_t wg_wtasks_count(const struct wg_wtasks *t)
{
	return t->n_tasks;
}

static bool owned_by_mgr(const struct wg_wtasks *t, const struct wtask *k)
{
	return t->mgr && t->mgr->rpc && t->mgr->rel.partner &&
	       !memcmp(t->mgr->rel.id, k->manager, 32);
}

struct report_ctx {
	struct wg_wtasks *t;
	uint64_t id;
};

static void report_answered(struct wg_rpc *rpc, int status, const wg_frame *a, void *cb_user)
{
	struct report_ctx *ctx = cb_user;
	struct wg_wtasks *t = ctx->t;
	struct wtask *k = find(t, ctx->id);
	free(ctx);
	if (!k)
		return;
	k->report_in_flight = false;
	if (status) {
		/* Kept: sent again when we attach to this manager. */
		return;
	}
	if (a->body_case == WASMGRID__FRAME__BODY_ACK) {
		remove_task(t, k);
	} else if (a->body_case == WASMGRID__FRAME__BODY_REFUSED) {
		wg_warn(wg_rpc_peer_short(rpc), "manager refused the report of task %llu: %s",
			(unsigned long long)k->id, a->refused->reason);
		remove_task(t, k);
	}
	/* NotMine: the relationship is over; worker.c hears of it through the heartbeat and
	 * the report waits for the next attachment. */
}

static void send_report(struct wg_wtasks *t, struct wtask *k)
{
	if (!owned_by_mgr(t, k) || k->report_in_flight)
		return;
	wg_frame f = WASMGRID__FRAME__INIT;
	Wasmgrid__TaskCompleted c = WASMGRID__TASK_COMPLETED__INIT;
	Wasmgrid__TaskError e = WASMGRID__TASK_ERROR__INIT;
	if (k->error_kind == 0) {
		c.task_id = k->id;
		c.result.data = k->result;
		c.result.len = k->result_len;
		c.cpu_ms = k->cpu_ms;
		f.body_case = WASMGRID__FRAME__BODY_TASK_COMPLETED;
		f.task_completed = &c;
	} else {
		e.task_id = k->id;
		e.error = (Wasmgrid__ErrorKind)k->error_kind;
		e.detail = k->detail ? k->detail : "";
		e.stderr_tail.data = k->stderr_tail;
		e.stderr_tail.len = k->stderr_len;
		e.cpu_ms = k->cpu_ms;
		f.body_case = WASMGRID__FRAME__BODY_TASK_ERROR;
		f.task_error = &e;
	}
	struct report_ctx *ctx = wg_malloc(sizeof *ctx);
	ctx->t = t;
	ctx->id = k->id;
	if (wg_rpc_request(t->mgr->rpc, &f, REPORT_DEADLINE_MS, report_answered, ctx) == 0)
		k->report_in_flight = true;
	else
		free(ctx);
}

static void finish(struct wg_wtasks *t, struct wtask *k, int kind, const char *detail,
		   const uint8_t *result, size_t result_len, const uint8_t *tail, size_t tail_len)
{
	k->state = WT_DONE;
	k->error_kind = kind;
	k->detail = wg_strdup(detail ? detail : "");
	k->result = result_len ? wg_memdup(result, result_len) : NULL;
	k->result_len = result_len;
	k->stderr_tail = tail_len ? wg_memdup(tail, tail_len) : NULL;
	k->stderr_len = tail_len;
	send_report(t, k);
}

static void pump(struct wg_wtasks *t);

static void on_started(void *user, uint64_t task_id, uint64_t unix_ms)
{
	struct wg_wtasks *t = user;
	struct wtask *k = find(t, task_id);
	if (!k || k->aborted)
		return;
	k->started_ms = unix_ms;
	if (!owned_by_mgr(t, k))
		return;
	Wasmgrid__TaskStarted s = WASMGRID__TASK_STARTED__INIT;
	s.task_id = task_id;
	s.datetime = unix_ms;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_TASK_STARTED;
	f.task_started = &s;
	wg_rpc_request(t->mgr->rpc, &f, REPORT_DEADLINE_MS, NULL, NULL);
}

static void on_done(void *user, uint64_t task_id, const struct wg_engine_outcome *o)
{
	struct wg_wtasks *t = user;
	struct wtask *k = find(t, task_id);
	t->running--;
	if (k && k->aborted) {
		remove_task(t, k);
	} else if (k) {
		/* stdout only travels as a result; an error report carries stderr. */
		k->cpu_ms = o->cpu_ms;
		finish(t, k, o->error_kind, o->detail, o->error_kind ? NULL : o->result,
		       o->error_kind ? 0 : o->result_len, o->stderr_tail, o->stderr_tail_len);
	}
	pump(t);
}

void wg_wtasks_stop(struct wg_wtasks *t)
{
	t->engine = NULL;
}

static void pump(struct wg_wtasks *t)
{
	if (!t->engine)
		return;
	for (struct wtask *k = t->head; k && t->running < t->o.slots; k = k->next) {
		if (k->state != WT_PENDING)
			continue;
		struct wg_engine_task et = {
		    .task_id = k->id,
		    .addresses = (const char *const *)k->addresses,
		    .n_addresses = k->n_addresses,
		    .hash_hex = k->hash,
		    .argument = k->argument,
		    .argument_len = k->argument_len,
		    .timeout_ms = k->timeout_ms,
		    .memory_bytes = k->memory_bytes,
		    .result_bytes = k->result_bytes,
		    .random_seed = k->seed,
		};
		int rc = wg_engine_submit(t->engine, &et, on_started, on_done, t);
		if (rc) {
			char why[160];
			snprintf(why, sizeof why, "the task cannot be run: %s", wg_strerror(rc));
			finish(t, k, WASMGRID__ERROR_KIND__INVALID_PROGRAM, why, NULL, 0, NULL, 0);
			continue;
		}
		k->state = WT_RUNNING;
		t->running++;
	}
}

static size_t live_tasks(const struct wg_wtasks *t)
{
	size_t n = 0;
	for (const struct wtask *k = t->head; k; k = k->next)
		n += k->state != WT_DONE && !k->aborted;
	return n;
}

static void refuse(Wasmgrid__RefusedTask *r, uint64_t id, Wasmgrid__RefuseReason why,
		   const char *detail)
{
	wasmgrid__refused_task__init(r);
	r->task_id = id;
	r->reason = why;
	r->detail = (char *)detail;
}

void wg_wtasks_execute(struct wg_wtasks *t, struct wg_peer *mgr, uint64_t id,
		       const Wasmgrid__TasksExecute *req)
{
	Wasmgrid__RefusedTask *refused = wg_calloc(req->n_tasks, sizeof *refused);
	Wasmgrid__RefusedTask **refp = wg_calloc(req->n_tasks, sizeof *refp);
	size_t n_refused = 0, capacity = t->o.slots + t->o.queue, live = live_tasks(t);
	for (size_t i = 0; i < req->n_tasks; i++) {
		const Wasmgrid__TaskSpec *s = req->tasks[i];
		Wasmgrid__RefusedTask *r = &refused[n_refused];
		uint64_t mem = s->limits ? s->limits->memory_bytes : 0;
		if (find(t, s->task_id)) {
			refuse(r, s->task_id, WASMGRID__REFUSE_REASON__DUPLICATE_TASK,
			       "this task id is already known here");
		} else if (s->program_kind != WASMGRID__PROGRAM_KIND__WASI_PREVIEW1) {
			refuse(r, s->task_id, WASMGRID__REFUSE_REASON__UNSUPPORTED_PROGRAM_KIND,
			       "only WASI preview1 command modules run here");
		} else if (t->o.max_memory_bytes && mem > t->o.max_memory_bytes) {
			refuse(r, s->task_id, WASMGRID__REFUSE_REASON__OVER_LIMIT,
			       "the task asks for more memory than this worker gives (--memory)");
		} else if (live >= capacity) {
			refuse(r, s->task_id, WASMGRID__REFUSE_REASON__NO_FREE_SLOT,
			       "every slot and queue place is taken");
		} else if (s->n_program_addresses == 0 || !s->program_hash ||
			   strlen(s->program_hash) != 64) {
			refuse(r, s->task_id, WASMGRID__REFUSE_REASON__REFUSE_REASON_UNKNOWN,
			       "a task needs a program address and a 64-hex-digit hash");
		} else {
			struct wtask *k = wg_calloc(1, sizeof *k);
			k->id = s->task_id;
			memcpy(k->manager, mgr->rel.id, 32);
			k->state = WT_PENDING;
			k->n_addresses = s->n_program_addresses;
			k->addresses = wg_calloc(k->n_addresses, sizeof *k->addresses);
			for (size_t a = 0; a < k->n_addresses; a++)
				k->addresses[a] = wg_strdup(s->program_addresses[a]);
			memcpy(k->hash, s->program_hash, 65);
			k->argument = wg_memdup(s->argument.data, s->argument.len);
			k->argument_len = s->argument.len;
			k->timeout_ms = s->timeout_ms;
			k->memory_bytes = mem;
			k->result_bytes = s->limits ? s->limits->result_bytes : 0;
			k->seed = s->random_seed;
			k->prev = t->tail;
			if (t->tail)
				t->tail->next = k;
			else
				t->head = k;
			t->tail = k;
			t->n_tasks++;
			live++;
			continue;
		}
		refp[n_refused] = r;
		n_refused++;
	}
	if (n_refused) {
		Wasmgrid__TasksRefused tr = WASMGRID__TASKS_REFUSED__INIT;
		tr.n_tasks = n_refused;
		tr.tasks = refp;
		wg_frame f = WASMGRID__FRAME__INIT;
		f.body_case = WASMGRID__FRAME__BODY_TASKS_REFUSED;
		f.tasks_refused = &tr;
		wg_rpc_answer(mgr->rpc, id, &f);
	} else {
		wg_rpc_answer_ack(mgr->rpc, id);
	}
	free(refused);
	free(refp);
	pump(t);
}

void wg_wtasks_ping(struct wg_wtasks *t, struct wg_peer *mgr, uint64_t id,
		    const Wasmgrid__TasksPing *req)
{
	Wasmgrid__TaskStatus *st = wg_calloc(req->n_task_ids, sizeof *st);
	Wasmgrid__TaskStatus **stp = wg_calloc(req->n_task_ids, sizeof *stp);
	for (size_t i = 0; i < req->n_task_ids; i++) {
		Wasmgrid__TaskStatus *s = &st[i];
		wasmgrid__task_status__init(s);
		stp[i] = s;
		s->task_id = req->task_ids[i];
		struct wtask *k = find(t, s->task_id);
		if (!k || k->aborted) {
			s->state = WASMGRID__TASK_STATE__TASK_STATE_UNKNOWN;
		} else if (k->state == WT_PENDING || (k->state == WT_RUNNING && !k->started_ms)) {
			/* Handed to the engine but still being fetched or compiled: it has not
			 * started (no TaskStarted yet), and STARTED needs its start time. */
			s->state = WASMGRID__TASK_STATE__PENDING;
		} else if (k->state == WT_RUNNING) {
			s->state = WASMGRID__TASK_STATE__STARTED;
			s->started_at_ms = k->started_ms;
		} else if (k->error_kind) {
			s->state = WASMGRID__TASK_STATE__ERROR;
			s->error = (Wasmgrid__ErrorKind)k->error_kind;
			s->error_detail = k->detail;
		} else {
			s->state = WASMGRID__TASK_STATE__COMPLETED;
			s->result.data = k->result;
			s->result.len = k->result_len;
		}
	}
	Wasmgrid__TasksPong pong = WASMGRID__TASKS_PONG__INIT;
	pong.n_tasks = req->n_task_ids;
	pong.tasks = stp;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_TASKS_PONG;
	f.tasks_pong = &pong;
	wg_rpc_answer(mgr->rpc, id, &f);
	free(st);
	free(stp);
}

/* Forgets a task: a pending or finished one at once, a running one when its child is
 * dead (the engine's done callback). */
static void drop(struct wg_wtasks *t, struct wtask *k)
{
	if (k->state == WT_RUNNING) {
		if (!k->aborted) {
			k->aborted = true;
			if (t->engine)
				wg_engine_abort(t->engine, k->id);
		}
	} else {
		remove_task(t, k);
	}
}

void wg_wtasks_abort(struct wg_wtasks *t, struct wg_peer *mgr, uint64_t id,
		     const Wasmgrid__TasksAbort *req)
{
	for (size_t i = 0; i < req->n_task_ids; i++) {
		struct wtask *k = find(t, req->task_ids[i]);
		if (k)
			drop(t, k);
	}
	wg_rpc_answer_ack(mgr->rpc, id);
	pump(t);
}

void wg_wtasks_attached(struct wg_wtasks *t, struct wg_peer *mgr)
{
	t->mgr = mgr;
	struct wtask *next;
	for (struct wtask *k = t->head; k; k = next) {
		next = k->next;
		if (memcmp(k->manager, mgr->rel.id, 32) != 0)
			drop(t, k);
		else if (k->state == WT_DONE)
			send_report(t, k);
	}
}

void wg_wtasks_detached(struct wg_wtasks *t)
{
	t->mgr = NULL;
}

void wg_wtasks_free(struct wg_wtasks *t)
{
	if (!t)
		return;
	for (struct wtask *k = t->head, *next; k; k = next) {
		next = k->next;
		remove_task(t, k);
	}
	free(t);
}

/* ---- wasmgrid:// programs ---- */

struct fetch {
	struct wg_wtasks *t;
	char hash[65];
	struct wg_buf data;
	uint64_t total;
	wg_engine_fetched_cb done;
	void *ctx;
};

static void fetch_next(struct fetch *f);

static void fetch_end(struct fetch *f, int status)
{
	f->done(f->ctx, status, status ? NULL : f->data.data, status ? 0 : f->data.len);
	wg_buf_free(&f->data);
	free(f);
}

static void on_chunk(struct wg_rpc *rpc, int status, const wg_frame *a, void *cb_user)
{
	struct fetch *f = cb_user;
	if (status || a->body_case != WASMGRID__FRAME__BODY_PROGRAM_CHUNK) {
		wg_warn(wg_rpc_peer_short(rpc), "fetching program %.16s failed: %s", f->hash,
			status ? wg_strerror(status)
			: a->body_case == WASMGRID__FRAME__BODY_REFUSED
			    ? a->refused->reason
			    : wg_body_name(a->body_case));
		fetch_end(f, WG_EUNREACHABLE);
		return;
	}
	const Wasmgrid__ProgramChunk *c = a->program_chunk;
	if (c->total_size > WG_MAX_PROGRAM_BYTES || (f->data.len && c->total_size != f->total) ||
	    f->data.len + c->data.len > c->total_size ||
	    (c->data.len == 0 && f->data.len < c->total_size)) {
		fetch_end(f, c->total_size > WG_MAX_PROGRAM_BYTES ? WG_ETOOBIG : WG_EPROTO);
		return;
	}
	f->total = c->total_size;
	wg_buf_append(&f->data, c->data.data, c->data.len);
	if (f->data.len == f->total)
		fetch_end(f, 0);
	else
		fetch_next(f);
}

static void fetch_next(struct fetch *f)
{
	struct wg_wtasks *t = f->t;
	if (!t->mgr || !t->mgr->rpc) {
		fetch_end(f, WG_EUNREACHABLE);
		return;
	}
	Wasmgrid__ProgramFetch pf = WASMGRID__PROGRAM_FETCH__INIT;
	pf.hash = f->hash;
	pf.offset = f->data.len;
	pf.max_length = FETCH_CHUNK;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = WASMGRID__FRAME__BODY_PROGRAM_FETCH;
	fr.program_fetch = &pf;
	if (wg_rpc_request(t->mgr->rpc, &fr, REPORT_DEADLINE_MS, on_chunk, f) != 0)
		fetch_end(f, WG_EUNREACHABLE);
}

void wg_wtasks_fetch_program(void *user, const char *address, const char *hash_hex,
			     wg_engine_fetched_cb done, void *fetch_ctx)
{
	struct wg_wtasks *t = user;
	/* wasmgrid://NODEID/HASH: only our manager serves programs to us. NODEID is the
	 * manager that stored it; any manager on the same store has it too (and what comes
	 * back is checked against HASH), so ours is asked whichever it names. */
	const char *rest = address + strlen("wasmgrid://");
	uint8_t node[32];
	char node_hex[65];
	if (strlen(rest) < 65 || rest[64] != '/') {
		done(fetch_ctx, WG_EINVAL, NULL, 0);
		return;
	}
	memcpy(node_hex, rest, 64);
	node_hex[64] = 0;
	if (wg_hex_decode(node_hex, node, 32) || !t->mgr) {
		done(fetch_ctx, WG_EUNREACHABLE, NULL, 0);
		return;
	}
	struct fetch *f = wg_calloc(1, sizeof *f);
	f->t = t;
	snprintf(f->hash, sizeof f->hash, "%s", hash_hex);
	f->done = done;
	f->ctx = fetch_ctx;
	fetch_next(f);
}
