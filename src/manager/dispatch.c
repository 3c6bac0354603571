/* Dispatch: the manager's job core (jobs.c) driven by what happens on node connections.
 * Tasks go out in TasksExecute batches to attached workers with free slots; TaskStarted,
 * TaskCompleted and TaskError are recorded (committed before they are acknowledged);
 * workers that leave give their tasks back; overdue and unwanted attempts are aborted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/jobs.h"
#include "manager/manager_internal.h"
#include "manager/store.h"
#include "net/link.h"
#include "node/daemon.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/time.h"

#define EXECUTE_DEADLINE_MS 30000
#define TICK_MS 250
/* A worker is given as many tasks as it finishes in this long (at least twice its slots,
 * at most QUEUE_MAX): fast tasks travel in large batches, slow ones are not hoarded. */
#define QUEUE_WORK_MS 100
#define QUEUE_MAX 256
#define PROGRAM_CHUNK_MAX (1u << 20)
/* A worker that refused tasks gets none for this long, so a refusal cannot loop. */
#define REFUSAL_COOLDOWN_MS 2000
/* Tasks per slice of the work cancels and removals leave (a few milliseconds each). */
#define SWEEP_ROWS 2000
/* Finished jobs are looked for under --keep-finished every minute (or a quarter of the
 * time they are kept, when that is shorter); so many go at a time. */
#define KEEP_CHECK_MS ((uint64_t)60 * 1000)
#define KEEP_BATCH 64

/* Per-worker dispatch state, hung on wg_peer.data while the worker is attached. */
struct worker_state {
	uint32_t cap;		 /* attempts in flight we allow it: slots plus a queue */
	uint64_t cooldown_until; /* uv_now() before which it gets no tasks */
	uint32_t finished;	 /* tasks it finished since the last tick */
	double rate;		 /* tasks per second, smoothed */
	/* Ramp-up between ticks: tasks finished since ramp_ms (uv_now()). */
	uint32_t ramp_done;
	uint64_t ramp_ms;
};

static struct worker_state *wstate(struct wg_peer *p)
{
	return p->data;
}

/* ---- sending tasks ---- */

struct execute_ctx {
	struct wg_manager *m;
	struct wg_peer *peer;
	size_t n;
	uint64_t ids[];
};

static void refuse_all(struct wg_manager *m, struct wg_peer *peer, const uint64_t *ids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int rc = wg_jobs_refused(m->jobs, peer->id_hex, ids[i], NULL);
		if (rc) {
			wg__manager_fatal(m, "recording a refused task", rc);
			return;
		}
	}
}

static void on_execute_answer(struct wg_rpc *rpc, int status, const wg_frame *a, void *cb_user)
{
	struct execute_ctx *ctx = cb_user;
	struct wg_manager *m = ctx->m;
	struct wg_peer *peer = ctx->peer;
	if (status == WG_ECLOSED) {
		/* The close handler gives the worker's tasks back. */
	} else if (status) {
		wg_warn(peer->rel.short_id, "no answer to TasksExecute: %s", wg_strerror(status));
		if (peer->lost_cb)
			peer->lost_cb(peer, "TasksExecute went unanswered");
	} else if (a->body_case == WASMGRID__FRAME__BODY_ACK) {
		/* Taken. */
	} else if (a->body_case == WASMGRID__FRAME__BODY_TASKS_REFUSED) {
		const Wasmgrid__TasksRefused *tr = a->tasks_refused;
		for (size_t i = 0; i < tr->n_tasks; i++) {
			int rc =
			    wg_jobs_refused(m->jobs, peer->id_hex, tr->tasks[i]->task_id, NULL);
			if (rc) {
				wg__manager_fatal(m, "recording a refused task", rc);
				break;
			}
		}
		if (tr->n_tasks) {
			wg_info(peer->rel.short_id, "worker refused %zu task(s): %s", tr->n_tasks,
				tr->tasks[0]->detail);
			if (wstate(peer))
				wstate(peer)->cooldown_until =
				    uv_now(m->loop) + REFUSAL_COOLDOWN_MS;
		}
		wg__dispatch_kick(m);
	} else if (a->body_case == WASMGRID__FRAME__BODY_NOT_MINE) {
		if (peer->lost_cb)
			peer->lost_cb(peer, "it answered NotMine to TasksExecute");
	} else {
		wg_warn(peer->rel.short_id, "TasksExecute answered with %s%s%s",
			wg_body_name(a->body_case),
			a->body_case == WASMGRID__FRAME__BODY_REFUSED ? ": " : "",
			a->body_case == WASMGRID__FRAME__BODY_REFUSED ? a->refused->reason : "");
		refuse_all(m, peer, ctx->ids, ctx->n);
		if (wstate(peer))
			wstate(peer)->cooldown_until = uv_now(m->loop) + REFUSAL_COOLDOWN_MS;
		wg__dispatch_kick(m);
	}
	(void)rpc;
	free(ctx);
}

static void send_assignments(struct wg_manager *m, struct wg_peer *peer,
			     const struct wg_assignment *as, size_t n)
{
	Wasmgrid__TaskSpec *specs = wg_calloc(n, sizeof *specs);
	Wasmgrid__TaskSpec **specp = wg_calloc(n, sizeof *specp);
	Wasmgrid__Limits *limits = wg_calloc(n, sizeof *limits);
	struct execute_ctx *ctx = wg_malloc(sizeof *ctx + n * sizeof ctx->ids[0]);
	ctx->m = m;
	ctx->peer = peer;
	ctx->n = n;
	for (size_t i = 0; i < n; i++) {
		Wasmgrid__TaskSpec *s = &specs[i];
		wasmgrid__task_spec__init(s);
		wasmgrid__limits__init(&limits[i]);
		limits[i].memory_bytes = as[i].memory_bytes;
		limits[i].result_bytes = as[i].result_bytes;
		s->task_id = as[i].attempt_id;
		s->n_program_addresses = as[i].n_addresses;
		s->program_addresses = as[i].addresses;
		s->program_hash = (char *)as[i].program_hash;
		s->program_kind = WASMGRID__PROGRAM_KIND__WASI_PREVIEW1;
		s->argument.data = as[i].argument;
		s->argument.len = as[i].argument_len;
		s->timeout_ms = as[i].timeout_ms;
		s->limits = &limits[i];
		s->random_seed = as[i].random_seed;
		specp[i] = s;
		ctx->ids[i] = as[i].attempt_id;
	}
	Wasmgrid__TasksExecute te = WASMGRID__TASKS_EXECUTE__INIT;
	te.n_tasks = n;
	te.tasks = specp;
	wg_frame f = WASMGRID__FRAME__INIT;
	f.body_case = WASMGRID__FRAME__BODY_TASKS_EXECUTE;
	f.tasks_execute = &te;
	int rc = wg_rpc_request(peer->rpc, &f, EXECUTE_DEADLINE_MS, on_execute_answer, ctx);
	if (rc) {
		/* Committed as assigned but never sent: give them back. */
		refuse_all(m, peer, ctx->ids, n);
		free(ctx);
	}
	free(specs);
	free(specp);
	free(limits);
}

/* Assignments made this turn, sent once they are committed. */
struct batch {
	struct wg_peer *peer;
	struct wg_assignment *as;
	size_t n;
};

struct batches {
	struct batch *v;
	size_t n, cap;
};

static void on_flush(uv_prepare_t *h);

bool wg__dispatch_open_turn(struct wg_manager *m)
{
	if (m->txn_open)
		return true;
	int rc = wg_jobs_begin(m->jobs);
	if (rc) {
		wg__manager_fatal(m, "starting a transaction", rc);
		return false;
	}
	m->txn_open = true;
	uv_prepare_start(&m->flush, on_flush);
	return true;
}

/* Assigns queued tasks to attached workers with room, one batch per worker per round, into
 * `out`; the caller commits, then sends them. The transaction is opened only once there is
 * a task to assign: the dispatcher is kicked on every tick, and an idle manager must not
 * commit (wasmgrid_db_commits_total stays still). */
static void schedule(struct wg_manager *m, struct batches *out)
{
	size_t n = 0;
	for (struct wg_peer *p = m->peers; p; p = p->next)
		n += p->rel.partner && wstate(p);
	if (!n)
		return;
	struct wg_peer **peers = wg_calloc(n, sizeof *peers);
	const char **ids = wg_calloc(n, sizeof *ids);
	uint32_t *free_slots = wg_calloc(n, sizeof *free_slots);
	uint64_t now = uv_now(m->loop);
	size_t k = 0;
	for (struct wg_peer *p = m->peers; p && k < n; p = p->next) {
		if (!p->rel.partner || !wstate(p))
			continue;
		uint32_t running = wg_jobs_worker_running(m->jobs, p->id_hex);
		peers[k] = p;
		ids[k] = p->id_hex;
		free_slots[k] = wstate(p)->cooldown_until > now || running >= wstate(p)->cap
				    ? 0
				    : wstate(p)->cap - running;
		k++;
	}
	for (;;) {
		size_t chosen;
		if (wg_jobs_pick_worker(m->jobs, ids, free_slots, n, &chosen) != 0 ||
		    !wg__dispatch_open_turn(m))
			break;
		struct wg_assignment *as = NULL;
		size_t n_as = 0;
		int rc = wg_jobs_assign(m->jobs, ids[chosen], free_slots[chosen], &as, &n_as);
		if (rc) {
			wg__manager_fatal(m, "assigning tasks", rc);
			break;
		}
		if (n_as == 0) {
			free_slots[chosen] = 0; /* nothing it may take (replica rules) */
			continue;
		}
		free_slots[chosen] -=
		    (uint32_t)n_as < free_slots[chosen] ? (uint32_t)n_as : free_slots[chosen];
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 8;
			out->v = wg_realloc(out->v, out->cap * sizeof out->v[0]);
		}
		out->v[out->n++] = (struct batch){peers[chosen], as, n_as};
	}
	free(peers);
	free(ids);
	free(free_slots);
}

static void on_flush(uv_prepare_t *h);

void wg__dispatch_worker_view(struct wg_manager *m, struct wg_peer *p, uint32_t *cap,
			      uint64_t *cooldown_ms)
{
	struct worker_state *ws = p->rel.partner ? wstate(p) : NULL;
	uint64_t now = uv_now(m->loop);
	*cap = ws ? ws->cap : 0;
	*cooldown_ms = ws && ws->cooldown_until > now ? ws->cooldown_until - now : 0;
}

void wg__dispatch_kick(struct wg_manager *m)
{
	if (m->kick_armed || !m->jobs || m->stopping)
		return;
	m->kick_armed = true;
	uv_prepare_start(&m->flush, on_flush);
}

/* ---- aborts ---- */

static struct wg_peer *attached_peer(struct wg_manager *m, const char *id_hex)
{
	for (struct wg_peer *p = m->peers; p; p = p->next)
		if (p->rel.partner && !strcmp(p->id_hex, id_hex))
			return p;
	return NULL;
}

void wg__dispatch_flush_aborts(struct wg_manager *m)
{
	if (!m->jobs)
		return;
	struct wg_jobs_abort *ab = NULL;
	size_t n = 0;
	wg_jobs_take_aborts(m->jobs, &ab, &n);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && !strcmp(ab[j].node_id, ab[i].node_id))
			j++;
		struct wg_peer *p = attached_peer(m, ab[i].node_id);
		if (p) {
			uint64_t *ids = wg_calloc(j - i, sizeof *ids);
			for (size_t k = i; k < j; k++)
				ids[k - i] = ab[k].attempt_id;
			Wasmgrid__TasksAbort ta = WASMGRID__TASKS_ABORT__INIT;
			ta.n_task_ids = j - i;
			ta.task_ids = ids;
			wg_frame f = WASMGRID__FRAME__INIT;
			f.body_case = WASMGRID__FRAME__BODY_TASKS_ABORT;
			f.tasks_abort = &ta;
			wg_rpc_request(p->rpc, &f, EXECUTE_DEADLINE_MS, NULL, NULL);
			wg_info(p->rel.short_id, "aborting %zu task(s) on the worker", j - i);
			free(ids);
		}
		i = j;
	}
	free(ab);
}

/* ---- TasksPing: does the worker still know what we think it runs? ---- */

/* Every heartbeat deadline, the attempts given to a worker at least that long ago. */
#define RECONCILE_MAX 1024

struct ping_ctx {
	struct wg_manager *m;
	struct wg_peer *peer;
};

static void on_tasks_pong(struct wg_rpc *rpc, int status, const wg_frame *a, void *cb_user)
{
	struct ping_ctx *ctx = cb_user;
	struct wg_manager *m = ctx->m;
	struct wg_peer *peer = ctx->peer;
	free(ctx);
	(void)rpc;
	if (status || !wstate(peer))
		return; /* closed or timed out: the heartbeat and close handler deal with it */
	if (a->body_case == WASMGRID__FRAME__BODY_NOT_MINE) {
		if (peer->lost_cb)
			peer->lost_cb(peer, "it answered NotMine to TasksPing");
		return;
	}
	if (a->body_case != WASMGRID__FRAME__BODY_TASKS_PONG)
		return;
	size_t unknown = 0;
	const Wasmgrid__TasksPong *pong = a->tasks_pong;
	for (size_t i = 0; i < pong->n_tasks; i++) {
		if (pong->tasks[i]->state != WASMGRID__TASK_STATE__TASK_STATE_UNKNOWN)
			continue;
		/* It never got it, or lost it: give the task to someone, no failure counted. */
		bool applied = false;
		int rc = wg_jobs_refused(m->jobs, peer->id_hex, pong->tasks[i]->task_id, &applied);
		if (rc) {
			wg__manager_fatal(m, "requeueing a task the worker does not know", rc);
			return;
		}
		unknown += applied;
	}
	if (unknown) {
		wg_warn(peer->rel.short_id,
			"the worker does not know %zu of our task(s): queued again", unknown);
		wg__dispatch_kick(m);
	}
}

static void reconcile(struct wg_manager *m)
{
	uint64_t before = wg_unix_ms() - m->opts->heartbeat_ms;
	for (struct wg_peer *p = m->peers; p; p = p->next) {
		if (!p->rel.partner || !wstate(p))
			continue;
		uint64_t *ids = NULL;
		size_t n = 0;
		int rc =
		    wg_jobs_worker_in_flight(m->jobs, p->id_hex, before, RECONCILE_MAX, &ids, &n);
		if (rc) {
			wg__manager_fatal(m, "listing a worker's tasks", rc);
			return;
		}
		if (n) {
			Wasmgrid__TasksPing tp = WASMGRID__TASKS_PING__INIT;
			tp.n_task_ids = n;
			tp.task_ids = ids;
			wg_frame f = WASMGRID__FRAME__INIT;
			f.body_case = WASMGRID__FRAME__BODY_TASKS_PING;
			f.tasks_ping = &tp;
			struct ping_ctx *ctx = wg_malloc(sizeof *ctx);
			ctx->m = m;
			ctx->peer = p;
			if (wg_rpc_request(p->rpc, &f, EXECUTE_DEADLINE_MS, on_tasks_pong, ctx))
				free(ctx);
		}
		free(ids);
	}
}

/* How many attempts a worker may hold: as many as it finishes in QUEUE_WORK_MS at its
 * rate (tasks per second), at least twice its slots, so that it starts the next task the
 * moment one ends, and at most QUEUE_MAX. But when the worker claimed more slots than
 * --max-slots allows, exactly the allowed slots: it would run whatever it holds, and the
 * operator's cap is on what runs. */
static uint32_t in_flight_cap(const struct wg_peer *p, double rate)
{
	uint32_t slots = p->rel.specs.slots ? p->rel.specs.slots : 1;
	if (p->rel.specs.slots_capped)
		return slots;
	double want = rate * QUEUE_WORK_MS / 1000.0;
	uint32_t cap = want > QUEUE_MAX ? QUEUE_MAX : (uint32_t)want;
	return cap < 2 * slots ? 2 * slots : cap;
}

/* A worker that finishes its whole allowance in under half of QUEUE_WORK_MS runs at least
 * twice its allowance in QUEUE_WORK_MS: its cap doubles at once rather than at the next
 * tick, so that a burst of short tasks starts at full speed within a few milliseconds
 * instead of one task per round trip for a quarter of a second. */
static void ramp_up(struct wg_manager *m, struct wg_peer *p)
{
	struct worker_state *ws = wstate(p);
	uint64_t now = uv_now(m->loop);
	if (++ws->ramp_done < ws->cap)
		return;
	bool fast = now - ws->ramp_ms < QUEUE_WORK_MS / 2;
	ws->ramp_done = 0;
	ws->ramp_ms = now;
	if (!fast || p->rel.specs.slots_capped || ws->cap >= QUEUE_MAX)
		return;
	ws->cap = ws->cap * 2 > QUEUE_MAX ? QUEUE_MAX : ws->cap * 2;
	if (wg_jobs_worker_set_cap(m->jobs, p->id_hex, ws->cap) == 0)
		wg__dispatch_kick(m);
}

/* ---- work in slices ---- */

/* An idle handle, not a 0 ms timer: libuv runs a timer re-armed from its own callback
 * again in the same turn, which would hold the loop for the whole work. An idle callback
 * runs once per turn, after the turn's I/O, and keeps the poll from sleeping meanwhile. */
static void on_sweep(uv_idle_t *h)
{
	struct wg_manager *m = h->data;
	bool more = false;
	int rc = m->jobs && !m->stopping ? wg_jobs_sweep(m->jobs, SWEEP_ROWS, &more) : 0;
	if (rc)
		wg__manager_fatal(m, "cancelling, removing or retrying tasks", rc);
	/* A retry's slice queued tasks again. */
	wg__dispatch_kick(m);
	if (!more)
		uv_idle_stop(h);
}

void wg__dispatch_sweep(struct wg_manager *m)
{
	if (m->sweep.data && !m->stopping)
		uv_idle_start(&m->sweep, on_sweep);
}

static void remove_expired(struct wg_manager *m)
{
	uint64_t now = wg_unix_ms();
	if (now < m->opts->keep_finished_ms)
		return;
	size_t n = 0;
	int rc = wg_jobs_remove_finished_before(m->jobs, now - m->opts->keep_finished_ms,
						KEEP_BATCH, &n);
	if (rc) {
		wg__manager_fatal(m, "removing old finished jobs", rc);
		return;
	}
	if (n) {
		wg_info(NULL, "%zu job(s) finished longer ago than --keep-finished: removed", n);
		wg__api_wake_waiters(m, false);
	}
}

static void on_tick(uv_timer_t *t)
{
	struct wg_manager *m = t->data;
	if (!m->jobs)
		return;
	size_t overdue = 0;
	int rc = wg_jobs_tick(m->jobs, wg_unix_ms(), &overdue);
	if (rc) {
		wg__manager_fatal(m, "checking deadlines", rc);
		return;
	}
	if (overdue)
		wg_warn(NULL, "%zu task(s) overdue: aborted, to be retried", overdue);
	for (struct wg_peer *p = m->peers; p; p = p->next) {
		struct worker_state *ws = wstate(p);
		if (!p->rel.partner || !ws)
			continue;
		double now_rate = ws->finished * 1000.0 / TICK_MS;
		ws->finished = 0;
		ws->rate = ws->rate * 0.5 + now_rate * 0.5;
		uint32_t cap = in_flight_cap(p, ws->rate);
		if (cap != ws->cap) {
			ws->cap = cap;
			wg_jobs_worker_set_cap(m->jobs, p->id_hex, cap);
		}
	}
	uint32_t every = m->opts->heartbeat_ms / TICK_MS;
	if (++m->ticks % (every ? every : 1) == 0)
		reconcile(m);
	if (m->opts->keep_finished_ms) {
		uint64_t period = m->opts->keep_finished_ms / 4 < KEEP_CHECK_MS
				      ? m->opts->keep_finished_ms / 4
				      : KEEP_CHECK_MS;
		uint64_t ticks = period / TICK_MS ? period / TICK_MS : 1;
		if (m->ticks % ticks == 0)
			remove_expired(m);
	}
	/* Resumes work left by a restart or a reopened store (cheap when there is none). */
	wg__dispatch_sweep(m);
	wg__api_wake_waiters(m, false);
	wg__dispatch_flush_aborts(m);
	wg__dispatch_kick(m);
}

/* ---- workers ---- */

void wg__dispatch_worker_attached(struct wg_manager *m, struct wg_peer *peer)
{
	if (!peer->data)
		peer->data = wg_calloc(1, sizeof(struct worker_state));
	wstate(peer)->cap = in_flight_cap(peer, 0);
	wg_jobs_worker_set_cap(m->jobs, peer->id_hex, wstate(peer)->cap);
	wg_jobs_worker_set_memory(m->jobs, peer->id_hex, peer->rel.specs.memory);
	wg__dispatch_kick(m);
}

void wg__dispatch_worker_gone(struct wg_manager *m, struct wg_peer *peer)
{
	size_t lost = 0;
	if (!m->jobs) {
		free(peer->data);
		peer->data = NULL;
		return;
	}
	int rc = wg_jobs_worker_lost(m->jobs, peer->id_hex, &lost);
	if (rc) {
		wg__manager_fatal(m, "giving back a lost worker's tasks", rc);
		return;
	}
	if (lost)
		wg_info(peer->rel.short_id, "%zu task(s) of the lost worker go back to the queue",
			lost);
	free(peer->data);
	peer->data = NULL;
	wg__dispatch_kick(m);
}

/* ---- reports from workers ---- */

static void answer_program_fetch(struct wg_manager *m, struct wg_peer *peer, uint64_t id,
				 const Wasmgrid__ProgramFetch *pf)
{
	size_t max = pf->max_length && pf->max_length < PROGRAM_CHUNK_MAX ? pf->max_length
									  : PROGRAM_CHUNK_MAX;
	uint8_t *buf = wg_malloc(max);
	size_t n = 0;
	uint64_t total = 0;
	int rc = wg_jobs_program_read(m->jobs, pf->hash, pf->offset, buf, max, &n, &total);
	if (rc) {
		char why[160];
		snprintf(why, sizeof why, "program %.64s: %s", pf->hash,
			 rc == WG_ENOTFOUND ? "not stored on this manager" : wg_strerror(rc));
		wg_rpc_answer_refused(peer->rpc, id, why);
	} else {
		Wasmgrid__ProgramChunk c = WASMGRID__PROGRAM_CHUNK__INIT;
		c.total_size = total;
		c.data.data = buf;
		c.data.len = n;
		wg_frame f = WASMGRID__FRAME__INIT;
		f.body_case = WASMGRID__FRAME__BODY_PROGRAM_CHUNK;
		f.program_chunk = &c;
		wg_rpc_answer(peer->rpc, id, &f);
	}
	free(buf);
}

/* Commits the events of this loop iteration, then sends the assignments in `b` (NULL:
 * none), then acknowledges the events: a report is durable before its worker may forget
 * it, and an attempt before its worker hears of it. The tasks go first: they are what a
 * waiting client waits for. */
static void commit_events(struct wg_manager *m, const struct batches *b)
{
	if (!m->txn_open || !m->jobs)
		return;
	m->txn_open = false;
	int rc = wg_jobs_commit(m->jobs);
	if (rc) {
		m->n_acks = 0;
		wg__manager_fatal(m, "committing reports", rc);
		return;
	}
	for (size_t i = 0; b && i < b->n && !m->stopping; i++)
		send_assignments(m, b->v[i].peer, b->v[i].as, b->v[i].n);
	for (size_t i = 0; i < m->n_acks; i++)
		wg_rpc_answer_ack(m->acks[i].peer->rpc, m->acks[i].id);
	m->n_acks = 0;
	wg__api_answer_committed(m, true);
	if (m->tasks_finished) {
		m->tasks_finished = false;
		wg__dispatch_flush_aborts(m);
		wg__api_wake_waiters(m, false);
	}
	/* The API requests of this turn now read, and write, committed state. */
	wg__api_run_deferred(m);
}

/* Once per loop turn, after every callback of the turn: the turn's reports, the jobs
 * submitted and the assignments they make room for go into one transaction; once it is
 * committed, the assignments are sent and the rest answered. */
static void on_flush(uv_prepare_t *h)
{
	struct wg_manager *m = h->data;
	struct batches b = {0};
	if (!m->jobs) {
		uv_prepare_stop(&m->flush);
		return;
	}
	if ((m->kick_armed || m->tasks_finished) && !m->stopping) {
		m->kick_armed = false;
		schedule(m, &b);
	}
	commit_events(m, &b);
	for (size_t i = 0; i < b.n; i++)
		wg_assignments_free(b.v[i].as, b.v[i].n);
	free(b.v);
	/* The turn's acks and tasks go out now, not after the next turn's reads. */
	for (struct wg_peer *p = m->peers; p; p = p->next)
		if (p->rpc)
			wg_link_flush(wg_rpc_link(p->rpc));
	if (!m->txn_open && !m->kick_armed)
		uv_prepare_stop(&m->flush);
}

void wg__dispatch_peer_closed(struct wg_manager *m, struct wg_peer *peer)
{
	size_t k = 0;
	for (size_t i = 0; i < m->n_acks; i++)
		if (m->acks[i].peer != peer)
			m->acks[k++] = m->acks[i];
	m->n_acks = k;
}

void wg__dispatch_request(struct wg_manager *m, struct wg_peer *peer, uint64_t id,
			  const wg_frame *req)
{
	int rc = 0;
	const char *what = "";
	if (req->body_case != WASMGRID__FRAME__BODY_PROGRAM_FETCH && !wg__dispatch_open_turn(m)) {
		wg_rpc_answer_refused(peer->rpc, id, "the manager cannot store this now");
		return;
	}
	switch (req->body_case) {
	case WASMGRID__FRAME__BODY_TASK_STARTED:
		what = "recording TaskStarted";
		rc = wg_jobs_started(m->jobs, peer->id_hex, req->task_started->task_id,
				     req->task_started->datetime, NULL);
		break;
	case WASMGRID__FRAME__BODY_TASK_COMPLETED:
		what = "storing a result";
		rc = wg_jobs_completed(m->jobs, peer->id_hex, req->task_completed->task_id,
				       req->task_completed->result.data,
				       req->task_completed->result.len, req->task_completed->cpu_ms,
				       NULL);
		break;
	case WASMGRID__FRAME__BODY_TASK_ERROR: {
		const Wasmgrid__TaskError *e = req->task_error;
		what = "recording TaskError";
		rc = wg_jobs_error(m->jobs, peer->id_hex, e->task_id, e->error, e->detail,
				   e->stderr_tail.data, e->stderr_tail.len, e->cpu_ms, NULL);
		break;
	}
	case WASMGRID__FRAME__BODY_PROGRAM_FETCH:
		answer_program_fetch(m, peer, id, req->program_fetch);
		return;
	default: wg_rpc_answer_refused(peer->rpc, id, "request not understood"); return;
	}
	if (rc) {
		/* Not acknowledged: the worker keeps its report and sends it again. */
		wg_rpc_answer_refused(peer->rpc, id, "the manager cannot store this now");
		wg__manager_fatal(m, what, rc);
		return;
	}
	if (m->n_acks == m->cap_acks) {
		m->cap_acks = m->cap_acks ? m->cap_acks * 2 : 64;
		m->acks = wg_realloc(m->acks, m->cap_acks * sizeof m->acks[0]);
	}
	m->acks[m->n_acks++] = (struct pending_ack){peer, id};
	if (req->body_case != WASMGRID__FRAME__BODY_TASK_STARTED) {
		m->tasks_finished = true;
		if (wstate(peer)) {
			wstate(peer)->finished++;
			ramp_up(m, peer);
		}
	}
}

/* ---- life cycle ---- */

int wg__dispatch_open(struct wg_manager *m, bool first)
{
	const char *store = m->opts->store;
	char *path = store && wg_store_is_postgresql(store)
			 ? wg_strdup(store)
			 : wg_path_join(m->opts->data_dir, "manager.db");
	char why[1024];
	struct wg_jobs_options o = {.node_id = m->id.id_hex,
				    .node_addr = m->node_addr ? m->node_addr : m->opts->listen,
				    .api_addr = m->api_addr ? m->api_addr : m->opts->api,
				    .lease_ms = m->opts->lease_ms};
	int rc = wg_jobs_open(path, &o, &m->jobs, why, sizeof why);
	if (rc == 0 && first)
		wg_info(NULL, "job store: %s, %s", wg_jobs_store_version(m->jobs),
			wg_jobs_store_name(m->jobs));
	if (rc && first)
		wg_daemon_fail("manager", "%s", why[0] ? why : wg_strerror(rc));
	else if (rc)
		wg_warn(NULL, "the job store is still unusable: %s",
			why[0] ? why : wg_strerror(rc));
	free(path);
	return rc;
}

void wg__dispatch_close_core(struct wg_manager *m)
{
	/* The failed transaction is gone: nothing it held was acknowledged. */
	m->txn_open = false;
	m->n_acks = 0;
	m->tasks_finished = false;
	m->kick_armed = false;
	wg__api_answer_committed(m, false);
	wg__api_wake_waiters(m, true);
	wg_jobs_close(m->jobs);
	m->jobs = NULL;
	wg__api_run_deferred(m); /* they answer 503 */
}

int wg__dispatch_start(struct wg_manager *m)
{
	int rc = wg__dispatch_open(m, true);
	if (rc)
		return rc;
	uv_timer_init(m->loop, &m->tick_timer);
	uv_idle_init(m->loop, &m->sweep);
	uv_prepare_init(m->loop, &m->flush);
	m->tick_timer.data = m->sweep.data = m->flush.data = m;
	uv_timer_start(&m->tick_timer, on_tick, TICK_MS, TICK_MS);
	wg__dispatch_sweep(m);
	return 0;
}

void wg__dispatch_stop(struct wg_manager *m)
{
	if (!m->tick_timer.data || uv_is_closing((uv_handle_t *)&m->tick_timer))
		return;
	/* What was received is stored (and acknowledged) before we go. */
	commit_events(m, NULL);
	wg__api_wake_waiters(m, true);
	uv_timer_stop(&m->tick_timer);
	uv_idle_stop(&m->sweep);
	uv_prepare_stop(&m->flush);
	uv_close((uv_handle_t *)&m->tick_timer, NULL);
	uv_close((uv_handle_t *)&m->sweep, NULL);
	uv_close((uv_handle_t *)&m->flush, NULL);
}
