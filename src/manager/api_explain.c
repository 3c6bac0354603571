/* GET /v1/jobs/ID/explain[?task=N]: why a job's queued tasks (or one task) are not running,
 * in the terms of what the manager sees: the workers attached and what each can take, the
 * jobs served first, and the attempts that went wrong. `wasmgrid explain` prints it. The
 * job core answers from bounded queries (manager/jobs.h, wg_jobs_explain), so the answer
 * costs the same for any size of job but for the task counts `status` also reads. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "manager/jobs.h"
#include "manager/manager_internal.h"
#include "node/error_kind.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/json.h"

#define MIB(bytes) ((unsigned long long)((bytes) >> 20))
/* "s" after a count that is not 1. */
#define PLURAL(n) ((n) == 1 ? "" : "s")

/* The one task asked about, copied out of the job core's callback. */
struct task_view {
	bool found;
	uint32_t index;
	enum wg_task_state state;
	uint32_t attempts, failures;
	int error_kind;
	char detail[256];
	size_t n_runs;
	struct {
		enum wg_attempt_state state;
		char worker[65];
		uint64_t started_ms;
	} runs[WG_MAX_REDUNDANCY * 4];
};

static int copy_task(const struct wg_task_result *r, void *user)
{
	struct task_view *t = user;
	t->found = true;
	t->index = r->index;
	t->state = r->state;
	t->attempts = r->attempts;
	t->failures = r->failures;
	t->error_kind = r->error_kind;
	snprintf(t->detail, sizeof t->detail, "%s", r->error_detail);
	/* The latest attempts matter most: keep the tail. */
	size_t skip = r->n_runs > sizeof t->runs / sizeof t->runs[0]
			  ? r->n_runs - sizeof t->runs / sizeof t->runs[0]
			  : 0;
	for (size_t i = skip; i < r->n_runs; i++) {
		size_t k = t->n_runs++;
		t->runs[k].state = r->runs[i].state;
		snprintf(t->runs[k].worker, sizeof t->runs[k].worker, "%s", r->runs[i].worker);
		t->runs[k].started_ms = r->runs[i].started_ms;
	}
	return 0;
}

/* Whether the task has a replica on this worker (one that counts: in flight or with a
 * result), which keeps the worker from getting another. */
static bool holds_replica(const struct task_view *t, const char *node_id)
{
	for (size_t i = 0; t && i < t->n_runs; i++)
		if (!strcmp(t->runs[i].worker, node_id) &&
		    (t->runs[i].state == WG_ATTEMPT_ASSIGNED ||
		     t->runs[i].state == WG_ATTEMPT_STARTED ||
		     t->runs[i].state == WG_ATTEMPT_COMPLETED))
			return true;
	return false;
}

/* What the manager makes of the job's chances on each worker. */
enum verdict { V_ROOM, V_FULL, V_COOLING, V_MEMORY, V_REPLICA, V_NOT_ATTACHED, V_DISTRUSTED };
static const char *const verdict_names[] = {"room",    "full",	       "held_back", "memory",
					    "replica", "not_attached", "distrusted"};

/* Over the workers: attached, with the memory the job asks, of those holding a replica of
 * the task asked about, with room. */
struct tally {
	size_t attached, fit, replica, room, distrusted;
	uint64_t free_total;
};

static enum verdict judge(struct wg_manager *m, struct wg_peer *p, const struct wg_job_info *ji,
			  const struct task_view *task, char *why, size_t n, uint32_t *running,
			  uint32_t *room)
{
	*running = 0;
	*room = 0;
	if (!p->rel.partner) {
		snprintf(why, n, "not attached yet (%s)",
			 p->rel.known_type == WG_NODE_WORKER ? "asking to join" : "handshaking");
		return V_NOT_ATTACHED;
	}
	uint32_t cap;
	uint64_t cooldown;
	wg__dispatch_worker_view(m, p, &cap, &cooldown);
	*running = wg_jobs_worker_running(m->jobs, p->id_hex);
	if (p->rel.specs.memory && p->rel.specs.memory < ji->options.memory_bytes) {
		snprintf(why, n, "gives a task at most %llu MiB; the job asks %llu MiB",
			 MIB(p->rel.specs.memory), MIB(ji->options.memory_bytes));
		return V_MEMORY;
	}
	/* Trust (docs/jobs.md): a quarantined worker takes nothing, one outvoted on a task
	 * of the job nothing more of it. */
	struct wg_jobs_trust trust;
	if (wg_jobs_worker_reputation(m->jobs, p->id_hex, &trust) == 0 && trust.quarantined) {
		snprintf(why, n, "quarantined: %s", trust.reason);
		return V_DISTRUSTED;
	}
	if (wg_jobs_worker_banned(m->jobs, p->id_hex, ji->id)) {
		snprintf(why, n,
			 "a quorum outvoted its result on a task of this job: it gets no "
			 "more of them");
		return V_DISTRUSTED;
	}
	if (holds_replica(task, p->id_hex)) {
		snprintf(why, n,
			 "has a replica of this task already (replicas go to different "
			 "workers)");
		return V_REPLICA;
	}
	if (cooldown) {
		snprintf(why, n, "refused tasks a moment ago: gets none for another %.1f s",
			 (double)cooldown / 1000.0);
		return V_COOLING;
	}
	if (*running >= cap) {
		struct wg_jobs_share share[4];
		size_t n_share = 0;
		if (wg_jobs_worker_share(m->jobs, p->id_hex, share, 4, &n_share) != 0)
			n_share = 0;
		int len = snprintf(why, n, "full: %u attempt%s in flight (%u slot%s and a queue)",
				   *running, PLURAL(*running), p->rel.specs.slots,
				   PLURAL(p->rel.specs.slots));
		for (size_t i = 0; i < n_share && len > 0 && (size_t)len < n; i++)
			len += snprintf(why + len, n - (size_t)len, "%s job %" PRIu64 " x%u",
					i ? "," : ":", share[i].job_id, share[i].attempts);
		return V_FULL;
	}
	*room = cap - *running;
	snprintf(why, n, "has room for %u more attempt%s", *room, PLURAL(*room));
	return V_ROOM;
}

static const char *trouble_name(const struct wg_jobs_trouble *t)
{
	if (t->error_kind >= 0)
		return wg_error_kind_name(t->error_kind);
	return t->state == WG_ATTEMPT_LOST ? "lost" : "refused";
}

/* A sentence for the attempts of one kind that went wrong. */
static void trouble_text(const struct wg_jobs_trouble *t, struct wg_buf *out)
{
	const char *what = "";
	if (t->error_kind == WASMGRID__ERROR_KIND__DOWNLOAD_ERROR)
		what = " (the program cannot be fetched)";
	else if (t->error_kind == WASMGRID__ERROR_KIND__INVALID_PROGRAM)
		what = " (the program does not compile or load)";
	else if (t->error_kind == WASMGRID__ERROR_KIND__TIMED_OUT)
		what = " (tasks run past their timeout)";
	if (t->error_kind < 0 && t->state == WG_ATTEMPT_LOST)
		wg_buf_appendf(out,
			       "%" PRIu64 " attempt%s lost with their worker (on %" PRIu64
			       " worker%s); their tasks were queued again",
			       t->attempts, t->attempts == 1 ? " was" : "s were", t->workers,
			       PLURAL(t->workers));
	else if (t->error_kind < 0)
		wg_buf_appendf(out, "%" PRIu64 " attempt%s refused by %" PRIu64 " worker%s",
			       t->attempts, t->attempts == 1 ? " was" : "s were", t->workers,
			       PLURAL(t->workers));
	else
		wg_buf_appendf(out, "%" PRIu64 " attempt%s ended in %s on %" PRIu64 " worker%s%s",
			       t->attempts, PLURAL(t->attempts), wg_error_kind_name(t->error_kind),
			       t->workers, PLURAL(t->workers), what);
	if (t->detail[0])
		wg_buf_appendf(out, "; the latest: %s", t->detail);
}

struct explainer {
	struct wg_manager *m;
	struct wg_json_writer *w;
	struct wg_buf line;
};

static void reason(struct explainer *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reason(struct explainer *e, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	e->line.len = 0;
	wg_buf_vappendf(&e->line, fmt, ap);
	va_end(ap);
	wg_jw_strn(e->w, (const char *)e->line.data, e->line.len);
}

/* The reasons a waiting task of the job (or the task asked about) does not run, most
 * decisive first. */
static void waiting_reasons(struct explainer *e, const struct wg_job_info *ji,
			    const struct wg_jobs_explain *ex, const struct tally *t)
{
	size_t free_of_replicas = t->fit - t->replica;
	uint32_t k = ji->options.redundancy;
	if (!t->attached) {
		reason(e, "no worker is attached to this manager: start one with 'wasmgrid "
			  "worker --manager ADDRESS' (this manager's node address)");
		return;
	}
	if (!t->fit && t->distrusted) {
		reason(e,
		       "the attached workers that could take it are quarantined or were outvoted "
		       "on this job's tasks (%zu of them; see 'wasmgrid workers', and 'wasmgrid "
		       "workers --clear ID' to let one work again)",
		       t->distrusted);
		return;
	}
	if (!t->fit) {
		reason(e,
		       "no attached worker gives a task the %llu MiB of memory the job asks (see "
		       "'wasmgrid workers'; start one with a larger --memory, or submit with "
		       "less --memory)",
		       MIB(ji->options.memory_bytes));
		return;
	}
	if (k > t->fit)
		reason(e,
		       "redundancy %u needs %u different workers, and %zu can take the job's "
		       "tasks: the other replicas wait for more workers",
		       k, k, t->fit);
	else if (t->replica && !free_of_replicas)
		reason(e, "every worker that can take it has a replica of this task already: the "
			  "next replica needs another worker");
	if (!t->room && free_of_replicas) {
		reason(e, "every worker that can take the job's tasks is full (%zu of them)",
		       free_of_replicas);
	}
	if (ex->n_ahead) {
		struct wg_buf list = {0};
		for (size_t i = 0; i < ex->n_ahead; i++)
			wg_buf_appendf(&list, "%sjob %" PRIu64 " (priority %" PRId32 ")",
				       i ? ", " : "", ex->ahead[i].job_id, ex->ahead[i].priority);
		reason(e, "jobs served first have tasks waiting too: %s%s", wg_buf_cstr(&list),
		       ex->n_ahead == WG_JOBS_EXPLAIN_MAX ? " and more" : "");
		wg_buf_free(&list);
	}
	if (t->room && !ex->n_ahead && k <= t->fit)
		reason(e,
		       "workers have room (%" PRIu64 " more attempt%s): its tasks are being "
		       "sent",
		       t->free_total, PLURAL(t->free_total));
}

static void explain(struct explainer *e, const struct wg_job_info *ji,
		    const struct wg_jobs_explain *ex, const struct task_view *task)
{
	struct wg_json_writer *w = e->w;
	wg_jw_object_begin(w);
	wg_jw_kv_uint(w, "job", ji->id);
	if (ji->options.name[0])
		wg_jw_kv_str(w, "name", ji->options.name);
	else
		wg_jw_kv_null(w, "name");
	wg_jw_kv_str(w, "state", wg_job_state_name(ji->state));
	wg_jw_kv_uint(w, "tasks", ji->n_tasks);
	wg_jw_key(w, "counts");
	wg_jw_object_begin(w);
	for (int s = 0; s < WG_TASK_STATE_COUNT; s++) {
		uint64_t n = ji->counts[s];
		if (s == WG_TASK_RUNNING) {
			wg_jw_kv_uint(w, "assigned", ji->assigned);
			n -= ji->assigned;
		}
		wg_jw_kv_uint(w, wg_task_state_name((enum wg_task_state)s), n);
	}
	wg_jw_object_end(w);

	/* The workers, and what each can take of this job (or task). */
	struct tally t = {0};
	wg_jw_key(w, "workers");
	wg_jw_array_begin(w);
	for (struct wg_peer *p = e->m->peers; p; p = p->next) {
		if (p->rel.known_type != WG_NODE_WORKER)
			continue;
		char why[256];
		uint32_t running, room;
		enum verdict v = judge(e->m, p, ji, task, why, sizeof why, &running, &room);
		t.attached += v != V_NOT_ATTACHED;
		t.fit += v != V_NOT_ATTACHED && v != V_MEMORY && v != V_DISTRUSTED;
		t.distrusted += v == V_DISTRUSTED;
		t.replica += v == V_REPLICA;
		t.room += v == V_ROOM;
		t.free_total += room;
		wg_jw_object_begin(w);
		wg_jw_kv_str(w, "node_id", p->id_hex);
		wg_jw_kv_str(w, "address", p->addr);
		wg_jw_kv_uint(w, "slots", p->rel.specs.slots);
		wg_jw_kv_uint(w, "memory", p->rel.specs.memory);
		wg_jw_kv_uint(w, "in_flight", running);
		wg_jw_kv_str(w, "verdict", verdict_names[v]);
		wg_jw_kv_str(w, "why", why);
		wg_jw_object_end(w);
	}
	wg_jw_array_end(w);

	wg_jw_key(w, "ahead");
	wg_jw_array_begin(w);
	for (size_t i = 0; i < ex->n_ahead; i++) {
		wg_jw_object_begin(w);
		wg_jw_kv_uint(w, "job", ex->ahead[i].job_id);
		wg_jw_kv_int(w, "priority", ex->ahead[i].priority);
		wg_jw_object_end(w);
	}
	wg_jw_array_end(w);
	wg_jw_key(w, "trouble");
	wg_jw_array_begin(w);
	for (size_t i = 0; i < ex->n_trouble; i++) {
		const struct wg_jobs_trouble *tr = &ex->trouble[i];
		wg_jw_object_begin(w);
		wg_jw_kv_str(w, "kind", trouble_name(tr));
		wg_jw_kv_uint(w, "attempts", tr->attempts);
		wg_jw_kv_uint(w, "workers", tr->workers);
		wg_jw_kv_str(w, "detail", tr->detail);
		wg_jw_object_end(w);
	}
	wg_jw_array_end(w);
	wg_jw_kv_uint(w, "window", ex->window);

	/* What it all means, most decisive first. */
	wg_jw_key(w, "reasons");
	wg_jw_array_begin(w);
	uint64_t queued = ji->counts[WG_TASK_QUEUED];
	if (task) {
		switch (task->state) {
		case WG_TASK_QUEUED:
			reason(e, "task %u is queued (%u attempt%s so far, %u failed)", task->index,
			       task->attempts, PLURAL(task->attempts), task->failures);
			waiting_reasons(e, ji, ex, &t);
			break;
		case WG_TASK_RUNNING:
			for (size_t i = 0; i < task->n_runs; i++)
				if (task->runs[i].state == WG_ATTEMPT_ASSIGNED ||
				    task->runs[i].state == WG_ATTEMPT_STARTED)
					reason(e, "task %u is %s on worker %.16s", task->index,
					       task->runs[i].state == WG_ATTEMPT_STARTED
						   ? "running"
						   : "assigned (waiting in the worker's queue)",
					       task->runs[i].worker);
			if (ji->options.redundancy > 1)
				waiting_reasons(e, ji, ex, &t);
			break;
		case WG_TASK_FAILED:
			reason(
			    e,
			    "task %u failed after %u failure%s (%s: %s); 'wasmgrid retry %" PRIu64
			    "' runs it again",
			    task->index, task->failures, PLURAL(task->failures),
			    wg_error_kind_name(task->error_kind), task->detail, ji->id);
			break;
		default:
			reason(e, "task %u is %s: nothing of it waits", task->index,
			       wg_task_state_name(task->state));
		}
	} else if (ji->state != WG_JOB_RUNNING) {
		reason(e, "the job is %s: nothing of it waits", wg_job_state_name(ji->state));
		if (ji->counts[WG_TASK_FAILED])
			reason(e,
			       "%" PRIu64 " task%s failed: 'wasmgrid results %" PRIu64
			       "' shows why, 'wasmgrid retry %" PRIu64 "' runs %s again",
			       ji->counts[WG_TASK_FAILED], PLURAL(ji->counts[WG_TASK_FAILED]),
			       ji->id, ji->id, ji->counts[WG_TASK_FAILED] == 1 ? "it" : "them");
	} else if (!queued) {
		reason(e,
		       "no task waits: %" PRIu64 " %s with workers (%" PRIu64 " of them queued "
		       "there)",
		       ji->counts[WG_TASK_RUNNING], ji->counts[WG_TASK_RUNNING] == 1 ? "is" : "are",
		       ji->assigned);
		if (ji->options.redundancy > 1 && t.fit < ji->options.redundancy)
			waiting_reasons(e, ji, ex, &t);
	} else {
		reason(e, "%" PRIu64 " task%s for a worker", queued,
		       queued == 1 ? " waits" : "s wait");
		waiting_reasons(e, ji, ex, &t);
	}
	/* The attempts that went wrong: why tasks fail or keep coming back. */
	struct wg_buf s = {0};
	for (size_t i = 0; i < ex->n_trouble; i++) {
		s.len = 0;
		trouble_text(&ex->trouble[i], &s);
		reason(e, "%s", wg_buf_cstr(&s));
	}
	wg_buf_free(&s);
	wg_jw_array_end(w);
	wg_jw_object_end(w);
}

void wg__api_explain_job(struct wg_http_request *req, void *user)
{
	struct wg_manager *m = user;
	if (!wg__api_core_ready(m, req, wg__api_explain_job))
		return;
	uint64_t id;
	uint32_t index = 0;
	if (wg__api_job_id(req, &id) || wg__api_query_u32(req, "task", 0, UINT32_MAX, &index))
		return;
	bool one = wg_http_query(req, "task") != NULL;
	struct wg_job_info ji;
	struct wg_jobs_explain ex;
	struct task_view *task = one ? wg_calloc(1, sizeof *task) : NULL;
	int rc = wg_jobs_status(m->jobs, id, &ji);
	if (rc == 0)
		rc = wg_jobs_explain(m->jobs, id, &ex);
	if (rc == 0 && one)
		rc = wg_jobs_results(m->jobs, id, index, 1, copy_task, task);
	if (rc == WG_ENOTFOUND) {
		wg__api_unknown_job(req, id);
	} else if (rc) {
		wg__api_core_error(m, req, "explaining a job", rc);
	} else if (one && (!task->found || task->index != index)) {
		wg_http_respond_error(
		    req, 404, "job %" PRIu64 " has no task %u (its tasks are 0 to %" PRIu64 ")", id,
		    index, ji.n_tasks ? ji.n_tasks - 1 : 0);
	} else {
		struct wg_buf out = {0};
		struct wg_json_writer w;
		wg_jw_init(&w, &out);
		struct explainer e = {.m = m, .w = &w};
		explain(&e, &ji, &ex, task);
		wg_buf_free(&e.line);
		wg_http_respond_json(req, 200, out.data, out.len);
		wg_buf_free(&out);
	}
	free(task);
}
