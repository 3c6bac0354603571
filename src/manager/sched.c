/* Scheduling and worker events: what runs where, and how each answer moves a task. The
 * rules (see docs/jobs.md) are all in wg__task_reconcile(): every event records what
 * happened to one attempt, then asks the task what it now needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "manager/jobs_internal.h"
#include "node/error_kind.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

/* Grace added to a task's timeout before the manager calls it overdue: the worker enforces
 * the timeout itself and should report TimedOut first; this covers clocks and queues. */
static uint64_t timeout_grace_ms(uint64_t timeout_ms)
{
	return 5000 + timeout_ms / 10;
}

/* Rows (up to three ids each; what they mean is said where a list is filled) collected
 * before the rows are changed, because SQLite leaves it undefined whether a statement still
 * stepping sees rows updated under it. */
struct id_row {
	int64_t a, b, c;
};

struct id_list {
	struct id_row *v;
	size_t n, cap;
};

static void id_list_push(struct id_list *l, int64_t a, int64_t b, int64_t c)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->v = wg_realloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = (struct id_row){a, b, c};
}

static void worker_leaves(struct wg_jobs *j, int64_t worker_db_id)
{
	struct wg__worker *w = wg__worker_by_id(j, worker_db_id);
	if (w && w->running)
		w->running--;
}

static int set_attempt_state(struct wg_jobs *j, int64_t attempt, int state)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_ATTEMPT_SET_STATE);
	wg_stmt_bind_int(st, 1, attempt);
	wg_stmt_bind_int(st, 2, state);
	wg_stmt_bind_int(st, 3, (int64_t)wg__jobs_now(j));
	return wg_store_exec_stmt(j->store, st);
}

static int count_failure(struct wg_jobs *j, int64_t task, int kind, const char *detail,
			 const uint8_t *stderr_tail, size_t stderr_len)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_TASK_FAILURE);
	wg_stmt_bind_int(st, 1, task);
	wg_stmt_bind_int(st, 2, kind);
	size_t dlen = detail ? strnlen(detail, WG_ERROR_DETAIL_BYTES) : 0;
	wg_stmt_bind_textn(st, 3, detail ? detail : "", dlen);
	/* The tail is what matters: keep the last bytes. */
	if (stderr_len > WG_STDERR_TAIL_BYTES) {
		stderr_tail += stderr_len - WG_STDERR_TAIL_BYTES;
		stderr_len = WG_STDERR_TAIL_BYTES;
	}
	if (stderr_len)
		wg_stmt_bind_blob(st, 4, stderr_tail, stderr_len);
	return wg_store_exec_stmt(j->store, st);
}

/* Aborts the attempts (id, worker) that `st`, bound, lists: each one's state, its worker's
 * count, and a TasksAbort in the outbox. */
static int abort_listed(struct wg_jobs *j, struct wg_stmt *st)
{
	struct id_list fl = {0}; /* (attempt, worker) */
	int rc;
	while ((rc = wg_store_step(j->store, st)) == 1)
		id_list_push(&fl, wg_stmt_int(st, 0), wg_stmt_int(st, 1), 0);
	wg_stmt_reset(st);
	for (size_t i = 0; i < fl.n && rc == 0; i++) {
		rc = set_attempt_state(j, fl.v[i].a, WG_ATTEMPT_ABORTED);
		worker_leaves(j, fl.v[i].b);
		wg__abort_push(j, fl.v[i].b, (uint64_t)fl.v[i].a);
	}
	free(fl.v);
	return rc;
}

/* Aborts the task's attempts still in flight: replicas it no longer needs. */
static int abort_replicas(struct wg_jobs *j, int64_t task)
{
	/* This manager's: another's replicas are its to abort (wg__managers_tick). */
	struct wg_stmt *st = wg__stmt(j, WG__S_TASK_IN_FLIGHT);
	wg_stmt_bind_int(st, 1, task);
	wg_stmt_bind_int(st, 2, j->manager_id);
	return abort_listed(j, st);
}

/* Ends a task (completed with `accepted`, or failed) and, when it was the last one, its
 * job. Replicas still in flight are not needed any more: they are aborted (unless the
 * caller knows there can be none: `alone`, the task's only attempt has just ended). */
static int finish_task(struct wg_jobs *j, int64_t task, int64_t job, int state, int64_t accepted,
		       bool alone)
{
	/* The job first: it numbers the task in the order tasks end (done_seq). Read back
	 * by a SELECT: UPDATE ... RETURNING costs a temporary table per call. */
	struct wg_stmt *st = wg__stmt(j, WG__S_JOB_TASK_DONE);
	wg_stmt_bind_int(st, 1, job);
	wg_stmt_bind_int(st, 2, state == WG_TASK_FAILED);
	int rc = wg_store_exec_stmt(j->store, st);
	if (rc < 0)
		return rc;
	st = wg__stmt(j, WG__S_JOB_COUNTERS);
	wg_stmt_bind_int(st, 1, job);
	if (wg_store_step(j->store, st) != 1)
		return WG_EDB;
	int64_t remaining = wg_stmt_int(st, 0), failed = wg_stmt_int(st, 1);
	int64_t seq = wg_stmt_int(st, 2);
	wg_stmt_reset(st);
	st = wg__stmt(j, WG__S_TASK_FINISH);
	wg_stmt_bind_int(st, 1, task);
	wg_stmt_bind_int(st, 2, state);
	if (accepted)
		wg_stmt_bind_int(st, 3, accepted);
	wg_stmt_bind_int(st, 4, seq);
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		return rc;
	if (!alone && (rc = abort_replicas(j, task)) < 0)
		return rc;
	rc = 0;
	if (remaining == 0) {
		st = wg__stmt(j, WG__S_JOB_FINISH);
		wg_stmt_bind_int(st, 1, job);
		wg_stmt_bind_int(st, 2, failed ? WG_JOB_FAILED : WG_JOB_COMPLETED);
		wg_stmt_bind_int(st, 3, (int64_t)wg__jobs_now(j));
		rc = wg_store_exec_stmt(j->store, st);
		if (rc == 0)
			wg_info(NULL, "job %lld %s", (long long)job,
				failed ? "failed" : "completed");
	}
	return rc;
}

/* The largest group of identical results of a task, counted in distinct workers, and its
 * first attempt (the earliest, among groups of equal size). Grouped here by digest rather
 * than by SQL's GROUP BY, which builds three temporary B-trees per call. */
int wg__task_result_rows(struct wg_jobs *j, int64_t task, struct wg__result_row **out,
			 size_t *count)
{
	struct wg__result_row *v = NULL;
	size_t n = 0, cap = 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_TASK_RESULTS);
	wg_stmt_bind_int(st, 1, task);
	int rc;
	while ((rc = wg_store_step(j->store, st)) == 1) {
		if (n == cap) {
			cap = cap ? cap * 2 : 8;
			v = wg_realloc(v, cap * sizeof *v);
		}
		v[n].id = wg_stmt_int(st, 0);
		v[n].worker = wg_stmt_int(st, 1);
		crypto_generichash(v[n].digest, sizeof v[n].digest, wg_stmt_blob(st, 2),
				   (unsigned long long)wg_stmt_bytes(st, 2), NULL, 0);
		n++;
	}
	wg_stmt_reset(st);
	*out = v;
	*count = n;
	return rc < 0 ? rc : 0;
}

static int best_result(struct wg_jobs *j, int64_t task, int64_t *best_id, int64_t *best)
{
	struct wg__result_row *v = NULL;
	size_t n = 0;
	int rc = wg__task_result_rows(j, task, &v, &n);
	*best_id = 0;
	*best = 0;
	/* Rows come in attempt order, so a group's first row is its earliest attempt. */
	for (size_t g = 0; rc == 0 && g < n; g++) {
		bool seen = false;
		for (size_t e = 0; e < g && !seen; e++)
			seen = memcmp(v[e].digest, v[g].digest, sizeof v[g].digest) == 0;
		if (seen)
			continue;
		int64_t workers = 0;
		for (size_t r = g; r < n; r++) {
			if (memcmp(v[r].digest, v[g].digest, sizeof v[g].digest) != 0)
				continue;
			bool counted = false; /* this worker already counted in the group */
			for (size_t e = g; e < r && !counted; e++)
				counted = v[e].worker == v[r].worker &&
					  memcmp(v[e].digest, v[g].digest, sizeof v[g].digest) == 0;
			workers += !counted;
		}
		if (workers > *best) {
			*best = workers;
			*best_id = v[g].id;
		}
	}
	free(v);
	return rc < 0 ? rc : 0;
}

int wg__task_reconcile(struct wg_jobs *j, int64_t task)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_TASK_RECONCILE_GET);
	wg_stmt_bind_int(st, 1, task);
	int rc = wg_store_step(j->store, st);
	if (rc <= 0) {
		if (rc == 0)
			wg_store_break(j->store, "an attempt names a task that does not exist");
		return WG_EDB;
	}
	int state = wg_stmt_int(st, 0);
	int64_t failures = wg_stmt_int(st, 1), job = wg_stmt_int(st, 2);
	int64_t k = wg_stmt_int(st, 3), quorum = wg_stmt_int(st, 4);
	int64_t max_failures = wg_stmt_int(st, 5);
	int job_state = wg_stmt_int(st, 6);
	wg_stmt_reset(st);
	/* A task of a cancelled job may still read queued or running until wg_jobs_sweep
	 * reaches it: it is over all the same. */
	if (state >= WG_TASK_COMPLETED || job_state != WG_JOB_RUNNING)
		return 0;

	st = wg__stmt(j, WG__S_TASK_ATTEMPT_COUNTS);
	wg_stmt_bind_int(st, 1, task);
	if (wg_store_step(j->store, st) != 1)
		return WG_EDB;
	int64_t in_flight = wg_stmt_int(st, 0), n_results = wg_stmt_int(st, 1);
	wg_stmt_reset(st);
	int64_t best_id = 0, best = 0;
	if (n_results > 0) {
		if ((rc = best_result(j, task, &best_id, &best)) < 0)
			return rc;
	}
	if (best >= quorum) {
		/* Replicas are where results are checked: each worker earns or loses trust. */
		if (k > 1 && (rc = wg__judge_replicas(j, task, job, best_id)) < 0)
			return rc;
		return finish_task(j, task, job, WG_TASK_COMPLETED, best_id, false);
	}
	if (failures > max_failures)
		return finish_task(j, task, job, WG_TASK_FAILED, 0, false);
	/* Keep k replicas going until k results are in, and beyond that enough attempts
	 * that the largest group of agreeing results could still reach the quorum. */
	int64_t target = k - n_results > quorum - best ? k - n_results : quorum - best;
	int64_t want = target - in_flight > 0 ? target - in_flight : 0;
	st = wg__stmt(j, WG__S_TASK_SET_QUEUE);
	wg_stmt_bind_int(st, 1, task);
	wg_stmt_bind_int(st, 2, in_flight ? WG_TASK_RUNNING : WG_TASK_QUEUED);
	wg_stmt_bind_int(st, 3, want);
	wg_stmt_bind_int(st, 4, (int64_t)wg__jobs_now(j)); /* ready again from now */
	return wg_store_exec_stmt(j->store, st);
}

int wg__lose_manager_in_flight(struct wg_jobs *j, int64_t manager, size_t *n_tasks)
{
	struct id_list tasks = {0}; /* (task) */
	struct wg_stmt *st = wg__stmt(j, WG__S_MANAGER_IN_FLIGHT);
	wg_stmt_bind_int(st, 1, manager);
	int rc;
	while ((rc = wg_store_step(j->store, st)) == 1)
		id_list_push(&tasks, wg_stmt_int(st, 0), 0, 0);
	if (rc == 0 && tasks.n) {
		st = wg__stmt(j, WG__S_MANAGER_LOSE);
		wg_stmt_bind_int(st, 1, manager);
		rc = wg_store_exec_stmt(j->store, st);
		for (size_t i = 0; i < tasks.n && rc == 0; i++)
			rc = wg__task_reconcile(j, tasks.v[i].a);
	}
	if (n_tasks)
		*n_tasks = tasks.n;
	free(tasks.v);
	return rc;
}

/* ---- assignment ---- */

static void split_addresses(const char *joined, struct wg_assignment *a)
{
	size_t n = 1;
	for (const char *p = joined; *p; p++)
		n += *p == '\n';
	a->addresses = wg_calloc(n, sizeof *a->addresses);
	const char *start = joined;
	for (;;) {
		const char *nl = strchr(start, '\n');
		size_t len = nl ? (size_t)(nl - start) : strlen(start);
		a->addresses[a->n_addresses++] = wg_strndup(start, len);
		if (!nl)
			break;
		start = nl + 1;
	}
}

void wg_assignments_free(struct wg_assignment *a, size_t n)
{
	if (!a)
		return;
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < a[i].n_addresses; k++)
			free(a[i].addresses[k]);
		free(a[i].addresses);
		free(a[i].argument);
	}
	free(a);
}

/* Assigns up to `room` tasks of one job (the current row of JOBS_RUNNING) to worker w. */
static int assign_from_job(struct wg_jobs *j, struct wg_stmt *job_row, struct wg__worker *w,
			   uint32_t room, struct wg_assignment **out, size_t *n, size_t *cap)
{
	int64_t job = wg_stmt_int(job_row, 0);
	int64_t k = wg_stmt_int(job_row, 6);
	uint32_t timeout = (uint32_t)wg_stmt_int(job_row, 3);
	/* The tasks picked, read before any is changed. */
	struct picked {
		int64_t task, idx;
		uint8_t *argument;
		size_t argument_len;
		uint64_t ready_ms;
	} *picked = wg_calloc(room, sizeof *picked);
	size_t n_picked = 0;

	struct wg_stmt *st = wg__stmt(j, WG__S_QUEUE_TASKS);
	wg_stmt_bind_int(st, 1, job);
	int rc = 0;
	while (n_picked < room && (rc = wg_store_step(j->store, st)) == 1) {
		int64_t task = wg_stmt_int(st, 0), idx = wg_stmt_int(st, 1);
		if (k > 1) {
			/* Replicas must come from distinct workers to be worth comparing. */
			struct wg_stmt *chk = wg__stmt(j, WG__S_WORKER_HAS_REPLICA);
			wg_stmt_bind_int(chk, 1, task);
			wg_stmt_bind_int(chk, 2, w->db_id);
			int has = wg_store_step(j->store, chk);
			wg_stmt_reset(chk);
			if (has < 0) {
				rc = has;
				break;
			}
			if (has)
				continue;
		}
		struct picked *p = &picked[n_picked++];
		p->task = task;
		p->idx = idx;
		p->argument_len = (size_t)wg_stmt_bytes(st, 2);
		p->argument = wg_memdup(p->argument_len ? wg_stmt_blob(st, 2) : "",
					p->argument_len ? p->argument_len : 1);
		/* Waiting since its task was last queued, or since its job came. */
		p->ready_ms = wg_stmt_is_null(st, 3) ? (uint64_t)wg_stmt_int(job_row, 7)
						     : (uint64_t)wg_stmt_int(st, 3);
	}
	wg_stmt_reset(st);
	if (rc < 0)
		goto out;
	rc = 0;
	uint64_t now = wg__jobs_now(j);
	uint64_t deadline = now + j->start_grace_ms + timeout + timeout_grace_ms(timeout);
	for (size_t i = 0; i < n_picked; i++) {
		struct picked *p = &picked[i];
		st = wg__stmt(j, WG__S_ATTEMPT_INSERT);
		wg_stmt_bind_int(st, 1, p->task);
		wg_stmt_bind_int(st, 2, w->db_id);
		wg_stmt_bind_int(st, 3, (int64_t)now);
		wg_stmt_bind_int(st, 4, (int64_t)deadline);
		wg_stmt_bind_int(st, 5, j->manager_id);
		int64_t attempt = 0;
		if ((rc = wg_store_insert(j->store, st, &attempt)) < 0)
			goto out;
		st = wg__stmt(j, WG__S_TASK_ASSIGNED);
		wg_stmt_bind_int(st, 1, p->task);
		if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
			goto out;
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*out = wg_realloc(*out, *cap * sizeof **out);
		}
		struct wg_assignment *a = &(*out)[(*n)++];
		memset(a, 0, sizeof *a);
		a->attempt_id = (uint64_t)attempt;
		a->job_id = (uint64_t)job;
		a->index = (uint32_t)p->idx;
		snprintf(a->program_hash, sizeof a->program_hash, "%s",
			 (const char *)wg_stmt_text(job_row, 1));
		split_addresses((const char *)wg_stmt_text(job_row, 2), a);
		a->argument_len = p->argument_len;
		a->argument = p->argument;
		p->argument = NULL;
		wg_histogram_observe_ms(&j->counters.queue_wait,
					now > p->ready_ms ? now - p->ready_ms : 0);
		a->timeout_ms = timeout;
		a->memory_bytes = (uint64_t)wg_stmt_int(job_row, 4);
		a->result_bytes = (uint64_t)wg_stmt_int(job_row, 5);
		a->random_seed = wg__task_seed((uint64_t)job, a->index);
		w->running++;
		j->counters.assigned++;
	}
out:
	for (size_t i = 0; i < n_picked; i++)
		free(picked[i].argument);
	free(picked);
	return rc;
}

int wg_jobs_assign(struct wg_jobs *j, const char *node_id, uint32_t free_slots,
		   struct wg_assignment **out, size_t *n)
{
	struct wg_assignment *list = NULL;
	size_t count = 0, cap = 0;
	*out = NULL;
	*n = 0;
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	struct wg__worker *w = wg__worker_get(j, node_id);
	if (!w) {
		rc = WG_EDB;
		goto end;
	}
	uint32_t left = w->cap > w->running ? w->cap - w->running : 0;
	uint32_t room = w->quarantined ? 0 : free_slots < left ? free_slots : left;
	/* The jobs table is not written while this statement walks it. */
	struct wg_stmt *jobs = wg__stmt(j, WG__S_JOBS_RUNNING);
	while (count < room && (rc = wg_store_step(j->store, jobs)) == 1) {
		if (!wg__worker_may_run(w, wg_stmt_int(jobs, 0)))
			continue;
		/* A job asking more memory than the worker gives a task waits for another. */
		uint64_t memory = (uint64_t)wg_stmt_int(jobs, 4);
		if (w->max_memory && memory > w->max_memory)
			continue;
		rc = assign_from_job(j, jobs, w, room - (uint32_t)count, &list, &count, &cap);
		if (rc < 0)
			break;
	}
	wg_stmt_reset(jobs);
	if (rc > 0)
		rc = 0;
end:
	rc = wg_store_end(j->store, rc);
	if (rc < 0) {
		wg_assignments_free(list, count);
		return rc;
	}
	*out = list;
	*n = count;
	return 0;
}

/* ---- events ---- */

struct attempt_row {
	int state;
	int64_t worker, task;
	int task_state;
	uint32_t timeout_ms;
	uint64_t result_bytes;
	char program_hash[65];
	uint64_t assigned_ms;
	uint64_t started_ms; /* 0: never started */
	int64_t job, task_attempts, quorum;
	int job_state;
	int64_t k; /* the job's replicas */
};

/* Loads an attempt and checks that it belongs to the reporting worker. Returns 1 when it
 * does, 0 when the report must be ignored, or WG_EDB. */
static int load_attempt(struct wg_jobs *j, const char *node_id, uint64_t attempt,
			struct wg__worker **w, struct attempt_row *a)
{
	*w = wg__worker_get(j, node_id);
	if (!*w)
		return WG_EDB;
	if (attempt > INT64_MAX)
		return 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_ATTEMPT_GET);
	wg_stmt_bind_int(st, 1, (int64_t)attempt);
	int rc = wg_store_step(j->store, st);
	if (rc <= 0)
		return rc;
	a->state = wg_stmt_int(st, 0);
	a->worker = wg_stmt_int(st, 1);
	a->task = wg_stmt_int(st, 2);
	a->task_state = wg_stmt_int(st, 3);
	a->timeout_ms = (uint32_t)wg_stmt_int(st, 4);
	a->result_bytes = (uint64_t)wg_stmt_int(st, 5);
	snprintf(a->program_hash, sizeof a->program_hash, "%s", (const char *)wg_stmt_text(st, 6));
	a->assigned_ms = (uint64_t)wg_stmt_int(st, 7);
	a->started_ms = (uint64_t)wg_stmt_int(st, 8); /* NULL reads 0 */
	a->job = wg_stmt_int(st, 9);
	a->task_attempts = wg_stmt_int(st, 10);
	a->quorum = wg_stmt_int(st, 11);
	a->job_state = wg_stmt_int(st, 12);
	a->k = wg_stmt_int(st, 13);
	wg_stmt_reset(st);
	if (a->worker != (*w)->db_id) {
		wg_warn(NULL, "worker %.8s reported on attempt %llu of another worker", node_id,
			(unsigned long long)attempt);
		return 0;
	}
	return 1;
}

/* An attempt answered with a result or an error: how long it ran, as the manager saw it. */
static void observe_run(struct wg_jobs *j, const struct attempt_row *a)
{
	uint64_t now = wg__jobs_now(j);
	uint64_t from = a->started_ms ? a->started_ms : a->assigned_ms;
	wg_histogram_observe_ms(&j->counters.run_time, now > from ? now - from : 0);
}

static void set_applied(bool *applied, int rc, int did)
{
	if (applied)
		*applied = rc == 0 && did;
}

int wg_jobs_started(struct wg_jobs *j, const char *node_id, uint64_t attempt_id,
		    uint64_t started_ms, bool *applied)
{
	struct wg__worker *w;
	struct attempt_row a;
	int did = 0;
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	rc = load_attempt(j, node_id, attempt_id, &w, &a);
	if (rc <= 0 || a.state != WG_ATTEMPT_ASSIGNED)
		goto end;
	/* The time comes from the worker's clock (or is missing): a task cannot have started
	 * before it was assigned nor after this report arrived, so skew is clamped away. */
	uint64_t now = wg__jobs_now(j);
	if (started_ms < a.assigned_ms)
		started_ms = a.assigned_ms;
	if (started_ms > now)
		started_ms = now;
	struct wg_stmt *st = wg__stmt(j, WG__S_ATTEMPT_STARTED);
	wg_stmt_bind_int(st, 1, (int64_t)attempt_id);
	wg_stmt_bind_int(st, 2, (int64_t)started_ms);
	wg_stmt_bind_int(st, 3,
			 (int64_t)(started_ms + a.timeout_ms + timeout_grace_ms(a.timeout_ms)));
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		goto end;
	rc = wg__worker_add_program(j, w, a.program_hash);
	did = 1;
end:
	rc = wg_store_end(j->store, rc < 0 ? rc : 0);
	set_applied(applied, rc, did);
	return rc;
}

/* Records a failed attempt (state ERROR or ABORTED) and counts a failure for its task. */
static int attempt_failed(struct wg_jobs *j, uint64_t attempt_id, const struct attempt_row *a,
			  int state, int kind, const char *detail, const uint8_t *stderr_tail,
			  size_t stderr_len, uint64_t cpu_ms)
{
	size_t dlen = detail ? strnlen(detail, WG_ERROR_DETAIL_BYTES) : 0;
	size_t slen = stderr_len > WG_STDERR_TAIL_BYTES ? WG_STDERR_TAIL_BYTES : stderr_len;
	struct wg_stmt *st = wg__stmt(j, WG__S_ATTEMPT_ERROR);
	wg_stmt_bind_int(st, 1, (int64_t)attempt_id);
	wg_stmt_bind_int(st, 2, state);
	wg_stmt_bind_int(st, 3, (int64_t)wg__jobs_now(j));
	wg_stmt_bind_int(st, 4, kind);
	wg_stmt_bind_textn(st, 5, detail ? detail : "", dlen);
	if (slen)
		wg_stmt_bind_blob(st, 6, stderr_tail + (stderr_len - slen), slen);
	if (cpu_ms)
		wg_stmt_bind_int(st, 7, (int64_t)cpu_ms);
	int rc = wg_store_exec_stmt(j->store, st);
	if (rc == 0)
		rc = count_failure(j, a->task, kind, detail, stderr_tail, stderr_len);
	if (rc == 0) {
		worker_leaves(j, a->worker);
		rc = wg__task_reconcile(j, a->task);
	}
	return rc;
}

/* Stores an attempt's result (the task is not looked at). */
static int record_result(struct wg_jobs *j, uint64_t attempt_id, const uint8_t *result, size_t len,
			 uint64_t cpu_ms, struct wg__worker *w, const struct attempt_row *a)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_ATTEMPT_COMPLETED);
	wg_stmt_bind_int(st, 1, (int64_t)attempt_id);
	wg_stmt_bind_int(st, 2, (int64_t)wg__jobs_now(j));
	wg_stmt_bind_blob(st, 3, result, len);
	if (cpu_ms)
		wg_stmt_bind_int(st, 4, (int64_t)cpu_ms);
	int rc = wg_store_exec_stmt(j->store, st);
	if (rc < 0)
		return rc;
	if (a->state <= WG__IN_FLIGHT)
		worker_leaves(j, a->worker);
	j->counters.results++;
	return wg__worker_add_program(j, w, a->program_hash);
}

int wg_jobs_completed(struct wg_jobs *j, const char *node_id, uint64_t attempt_id,
		      const uint8_t *result, size_t len, uint64_t cpu_ms, bool *applied)
{
	struct wg__worker *w;
	struct attempt_row a;
	int did = 0;
	if (!result)
		result = (const uint8_t *)"";
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st;
	rc = load_attempt(j, node_id, attempt_id, &w, &a);
	if (rc <= 0)
		goto end;
	rc = 0;
	int in_flight = a.state <= WG__IN_FLIGHT;
	/* A lost attempt's result is still welcome while its task wants one; an answer to
	 * anything else that has ended (a duplicate, an aborted replica) is ignored, except
	 * that a replica that comes once its task is completed is judged by the accepted
	 * result (and then closed). */
	if ((in_flight || a.state == WG_ATTEMPT_ABORTED) && a.k > 1 &&
	    a.task_state == WG_TASK_COMPLETED && len <= a.result_bytes) {
		rc = wg__judge_late(j, a.task, a.job, a.worker, result, len);
		st = wg__stmt(j, WG__S_ATTEMPT_COMPLETED);
		wg_stmt_bind_int(st, 1, (int64_t)attempt_id);
		wg_stmt_bind_int(st, 2, (int64_t)wg__jobs_now(j));
		wg_stmt_bind_blob(st, 3, result, len);
		wg_stmt_bind_int(st, 4, (int64_t)cpu_ms);
		if (rc == 0)
			rc = wg_store_exec_stmt(j->store, st);
		if (in_flight)
			worker_leaves(j, a.worker);
		goto end;
	}
	if (!(in_flight || a.state == WG_ATTEMPT_LOST) || a.task_state >= WG_TASK_COMPLETED)
		goto end;
	if (len > a.result_bytes && !in_flight)
		goto end;
	did = 1;
	observe_run(j, &a);
	if (len > a.result_bytes) {
		j->counters.errors++;
		rc = attempt_failed(j, attempt_id, &a, WG_ATTEMPT_ERROR,
				    WASMGRID__ERROR_KIND__RESOURCE_LIMIT,
				    "result larger than the job's result limit", NULL, 0, cpu_ms);
		goto end;
	}
	if (a.quorum == 1 && in_flight && a.job_state == WG_JOB_RUNNING) {
		/* The common case, one result wanted: there is no earlier result (it would
		 * have ended the task), so this one is accepted as it comes. */
		rc = record_result(j, attempt_id, result, len, cpu_ms, w, &a);
		if (rc == 0)
			rc = finish_task(j, a.task, a.job, WG_TASK_COMPLETED, (int64_t)attempt_id,
					 a.task_attempts == 1);
		goto end;
	}
	/* A result that matches none of the results already in (after the first) is a
	 * disagreement, and counts as a failure so that endless disagreement ends. */
	st = wg__stmt(j, WG__S_RESULT_COUNT);
	wg_stmt_bind_int(st, 1, a.task);
	if (wg_store_step(j->store, st) != 1)
		goto fail;
	int64_t n_prev = wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	if (n_prev > 0) {
		st = wg__stmt(j, WG__S_RESULT_MATCH);
		wg_stmt_bind_int(st, 1, a.task);
		wg_stmt_bind_blob(st, 2, result, len);
		if ((rc = wg_store_step(j->store, st)) < 0)
			goto end;
		wg_stmt_reset(st);
		if (rc == 0 &&
		    (rc = count_failure(j, a.task, WASMGRID__ERROR_KIND__ERROR_KIND_UNKNOWN,
					"replicas returned different results", NULL, 0)) < 0)
			goto end;
	}
	if ((rc = record_result(j, attempt_id, result, len, cpu_ms, w, &a)) == 0)
		rc = wg__task_reconcile(j, a.task);
	goto end;
fail:
	rc = WG_EDB;
end:
	rc = wg_store_end(j->store, rc < 0 ? rc : 0);
	set_applied(applied, rc, did);
	return rc;
}

int wg_jobs_error(struct wg_jobs *j, const char *node_id, uint64_t attempt_id, int kind,
		  const char *detail, const uint8_t *stderr_tail, size_t stderr_len,
		  uint64_t cpu_ms, bool *applied)
{
	struct wg__worker *w;
	struct attempt_row a;
	int did = 0;
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	rc = load_attempt(j, node_id, attempt_id, &w, &a);
	if (rc <= 0 || a.state > WG__IN_FLIGHT)
		goto end;
	if (!wg_error_kind_known(kind))
		kind = WASMGRID__ERROR_KIND__ERROR_KIND_UNKNOWN;
	j->counters.errors++;
	observe_run(j, &a);
	rc = attempt_failed(j, attempt_id, &a, WG_ATTEMPT_ERROR, kind, detail, stderr_tail,
			    stderr_len, cpu_ms);
	if (rc == 0)
		rc = wg__worker_outcome(j, a.worker, WG__OUT_ERROR, 1);
	did = 1;
end:
	rc = wg_store_end(j->store, rc < 0 ? rc : 0);
	set_applied(applied, rc, did);
	return rc;
}

int wg_jobs_refused(struct wg_jobs *j, const char *node_id, uint64_t attempt_id, bool *applied)
{
	struct wg__worker *w;
	struct attempt_row a;
	int did = 0;
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	rc = load_attempt(j, node_id, attempt_id, &w, &a);
	if (rc <= 0 || a.state != WG_ATTEMPT_ASSIGNED)
		goto end;
	if ((rc = set_attempt_state(j, (int64_t)attempt_id, WG_ATTEMPT_REFUSED)) < 0)
		goto end;
	/* It never ran, so it is not one of the task's attempts. */
	struct wg_stmt *st = wg__stmt(j, WG__S_TASK_UNCOUNT);
	wg_stmt_bind_int(st, 1, a.task);
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		goto end;
	worker_leaves(j, a.worker);
	j->counters.refused++;
	if ((rc = wg__worker_outcome(j, a.worker, WG__OUT_REFUSED, 1)) < 0)
		goto end;
	rc = wg__task_reconcile(j, a.task);
	did = 1;
end:
	rc = wg_store_end(j->store, rc < 0 ? rc : 0);
	set_applied(applied, rc, did);
	return rc;
}

int wg_jobs_worker_lost(struct wg_jobs *j, const char *node_id, size_t *n_lost)
{
	struct id_list fl = {0}; /* (attempt, task) */
	struct wg__worker *w = wg__worker_find(j, node_id);
	if (n_lost)
		*n_lost = 0;
	if (!w)
		return wg_store_check(j->store);
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	/* This manager's: what the worker ran for another is that one's to lose. */
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_IN_FLIGHT);
	wg_stmt_bind_int(st, 1, w->db_id);
	wg_stmt_bind_int(st, 2, j->manager_id);
	while ((rc = wg_store_step(j->store, st)) == 1)
		id_list_push(&fl, wg_stmt_int(st, 0), wg_stmt_int(st, 1), 0);
	for (size_t i = 0; i < fl.n && rc == 0; i++)
		rc = set_attempt_state(j, fl.v[i].a, WG_ATTEMPT_LOST);
	for (size_t i = 0; i < fl.n && rc == 0; i++)
		rc = wg__task_reconcile(j, fl.v[i].b);
	if (rc == 0)
		rc = wg__worker_outcome(j, w->db_id, WG__OUT_LOST, (int64_t)fl.n);
	w->running = 0;
	j->counters.lost += fl.n;
	rc = wg_store_end(j->store, rc);
	if (rc == 0) {
		if (fl.n)
			wg_info(NULL, "worker %.8s lost: %zu attempts queued again", node_id, fl.n);
		if (n_lost)
			*n_lost = fl.n;
	}
	free(fl.v);
	return rc;
}

/* Runs four times a second, so it looks before it opens a transaction: one that found
 * nothing would still be a commit, and an idle manager would never stop committing. */
int wg_jobs_tick(struct wg_jobs *j, uint64_t now_ms, size_t *n_overdue)
{
	struct id_list fl = {0}; /* (attempt, task, worker) */
	if (n_overdue)
		*n_overdue = 0;
	int rc = j->shared ? wg__managers_tick(j, now_ms) : 0;
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_OVERDUE);
	wg_stmt_bind_int(st, 1, (int64_t)now_ms);
	wg_stmt_bind_int(st, 2, j->manager_id);
	while ((rc = wg_store_step(j->store, st)) == 1)
		id_list_push(&fl, wg_stmt_int(st, 0), wg_stmt_int(st, 1), wg_stmt_int(st, 2));
	wg_stmt_reset(st);
	if (rc < 0 || fl.n == 0) {
		free(fl.v);
		return rc;
	}
	/* Read before the transaction: on a store of its own the rows are still so; on a
	 * shared one another manager may have ended an attempt since (its task done). */
	if ((rc = wg_store_begin(j->store)) < 0) {
		free(fl.v);
		return rc;
	}
	size_t overdue = 0;
	for (size_t i = 0; i < fl.n && rc == 0; i++) {
		if (j->shared) {
			st = wg__stmt(j, WG__S_ATTEMPT_STATE);
			wg_stmt_bind_int(st, 1, fl.v[i].a);
			rc = wg_store_step(j->store, st);
			int in_flight = rc == 1 && wg_stmt_int(st, 0) <= WG__IN_FLIGHT;
			wg_stmt_reset(st);
			if (rc < 0)
				break;
			rc = 0;
			if (!in_flight)
				continue;
		}
		overdue++;
		struct attempt_row a = {.task = fl.v[i].b, .worker = fl.v[i].c};
		rc = attempt_failed(j, (uint64_t)fl.v[i].a, &a, WG_ATTEMPT_ABORTED,
				    WASMGRID__ERROR_KIND__TIMED_OUT,
				    "no result within the timeout and its grace", NULL, 0, 0);
		if (rc == 0)
			rc = wg__worker_outcome(j, fl.v[i].c, WG__OUT_TIMEOUT, 1);
		wg__abort_push(j, fl.v[i].c, (uint64_t)fl.v[i].a);
	}
	j->counters.timed_out += overdue;
	rc = wg_store_end(j->store, rc);
	if (rc == 0 && n_overdue)
		*n_overdue = overdue;
	free(fl.v);
	return rc;
}

int wg_jobs_worker_in_flight(struct wg_jobs *j, const char *node_id, uint64_t before_ms, size_t max,
			     uint64_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct wg__worker *w = wg__worker_find(j, node_id);
	if (!w || !w->running || !max)
		return 0;
	uint64_t *ids = wg_calloc(max, sizeof *ids);
	size_t count = 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_IN_FLIGHT_BEFORE);
	wg_stmt_bind_int(st, 1, w->db_id);
	wg_stmt_bind_int(st, 2, (int64_t)before_ms);
	wg_stmt_bind_int(st, 3, (int64_t)max);
	int rc;
	while ((rc = wg_store_step(j->store, st)) == 1 && count < max)
		ids[count++] = (uint64_t)wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	if (rc < 0) {
		free(ids);
		return rc;
	}
	if (!count) {
		free(ids);
		ids = NULL;
	}
	*out = ids;
	*n = count;
	return 0;
}

/* ---- managers sharing a store ---- */

int wg__take_back_managers(struct wg_jobs *j, uint64_t now)
{
	struct id_list dead = {0}; /* (manager) */
	char names[16][17];	   /* their node ids, shortened, for the log (at most 16 a call) */
	struct wg_stmt *st = wg__stmt(j, WG__S_MANAGERS_EXPIRED);
	wg_stmt_bind_int(st, 1, (int64_t)now);
	wg_stmt_bind_int(st, 2, j->manager_id);
	int rc;
	while ((rc = wg_store_step(j->store, st)) == 1 && dead.n < 16) {
		snprintf(names[dead.n], sizeof names[dead.n], "%.16s", wg_stmt_text(st, 1));
		id_list_push(&dead, wg_stmt_int(st, 0), 0, 0);
	}
	wg_stmt_reset(st);
	if (rc > 0)
		rc = 0;
	for (size_t i = 0; i < dead.n && rc == 0; i++) {
		/* Whoever removes the row takes the work: transactions on a shared store run one
		 * after another, so two managers never both do. */
		st = wg__stmt(j, WG__S_MANAGER_REMOVE);
		wg_stmt_bind_int(st, 1, dead.v[i].a);
		wg_stmt_bind_int(st, 2, (int64_t)now);
		if ((rc = wg_store_exec_stmt(j->store, st)) < 0 || wg_store_changes(j->store) == 0)
			continue;
		size_t n = 0;
		rc = wg__lose_manager_in_flight(j, dead.v[i].a, &n);
		if (rc == 0)
			wg_warn(NULL,
				"manager %s stopped renewing its lease: %zu tasks it had in flight "
				"queued again",
				names[i], n);
	}
	free(dead.v);
	return rc;
}

/* This manager's attempts still in flight whose task another manager ended: aborted here,
 * since only this manager reaches their workers. */
static int abort_orphans(struct wg_jobs *j)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_ORPHANS);
	wg_stmt_bind_int(st, 1, j->manager_id);
	return abort_listed(j, st);
}

int wg__managers_tick(struct wg_jobs *j, uint64_t now_ms)
{
	if (now_ms < j->renew_at)
		return 0;
	j->renew_at = now_ms + j->lease_ms / 3;
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_MANAGER_RENEW);
	wg_stmt_bind_int(st, 1, j->manager_id);
	wg_stmt_bind_int(st, 2, (int64_t)(now_ms + j->lease_ms));
	rc = wg_store_exec_stmt(j->store, st);
	if (rc == 0 && wg_store_changes(j->store) == 0) {
		/* Too late: another manager took this one's attempts back. What this process
		 * holds in memory no longer matches the store; it must open it again. */
		wg_store_break(j->store, "this manager's lease ran out and another manager took "
					 "its work back");
		rc = WG_EDB;
	}
	if (rc == 0)
		rc = wg__take_back_managers(j, now_ms);
	if (rc == 0)
		rc = abort_orphans(j);
	return wg_store_end(j->store, rc);
}
