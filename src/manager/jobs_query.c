/* Read-only queries of the job core, for the HTTP API, the CLI and /metrics. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager/jobs_internal.h"
#include "util/alloc.h"
#include "util/err.h"

/* The job's own row (counts left 0). */
static int fill_header(struct wg_jobs *j, uint64_t job_id, struct wg_job_info *out)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_JOB_GET);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	int rc = wg_store_step(j->store, st);
	if (rc <= 0)
		return rc < 0 ? rc : WG_ENOTFOUND;
	memset(out, 0, sizeof *out);
	out->id = (uint64_t)wg_stmt_int(st, 0);
	snprintf(out->program_hash, sizeof out->program_hash, "%s",
		 (const char *)wg_stmt_text(st, 1));
	out->state = (enum wg_job_state)wg_stmt_int(st, 2);
	out->options.timeout_ms = (uint32_t)wg_stmt_int(st, 3);
	out->options.memory_bytes = (uint64_t)wg_stmt_int(st, 4);
	out->options.result_bytes = (uint64_t)wg_stmt_int(st, 5);
	out->options.priority = (int32_t)wg_stmt_int(st, 6);
	out->options.max_failures = (uint32_t)wg_stmt_int(st, 7);
	out->options.redundancy = (uint32_t)wg_stmt_int(st, 8);
	out->options.quorum = (uint32_t)wg_stmt_int(st, 9);
	out->created_ms = (uint64_t)wg_stmt_int(st, 10);
	out->finished_ms = (uint64_t)wg_stmt_int(st, 11);
	out->n_tasks = (uint64_t)wg_stmt_int(st, 12);
	snprintf(out->options.name, sizeof out->options.name, "%s",
		 (const char *)wg_stmt_text(st, 13));
	wg_stmt_reset(st);
	return 0;
}

/* The row and its tasks by state, from the job's counters (completed and failed tasks are
 * counted as they end; `remaining` are the others) and the running ones, few next to a
 * large job, counted in the index: never a walk of every task. */
static int fill_info(struct wg_jobs *j, uint64_t job_id, struct wg_job_info *out)
{
	int rc = fill_header(j, job_id, out);
	if (rc < 0) /* WG_ENOTFOUND among them */
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_JOB_COUNTERS);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_ENOTFOUND;
	uint64_t remaining = (uint64_t)wg_stmt_int(st, 0);
	out->counts[WG_TASK_FAILED] = (uint64_t)wg_stmt_int(st, 1);
	out->counts[WG_TASK_COMPLETED] = (uint64_t)wg_stmt_int(st, 3);
	wg_stmt_reset(st);
	uint64_t ended = out->counts[WG_TASK_FAILED] + out->counts[WG_TASK_COMPLETED];
	if (out->state == WG_JOB_CANCELLED) {
		/* Tasks wg_jobs_sweep has not reached yet are cancelled all the same. */
		out->counts[WG_TASK_CANCELLED] = out->n_tasks > ended ? out->n_tasks - ended : 0;
		return 0;
	}
	st = wg__stmt(j, WG__S_JOB_RUNNING_COUNT);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_EDB;
	uint64_t running = (uint64_t)wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	out->counts[WG_TASK_RUNNING] = running;
	out->counts[WG_TASK_QUEUED] = remaining > running ? remaining - running : 0;
	rc = 0;
	if (running) {
		st = wg__stmt(j, WG__S_JOB_ASSIGNED);
		wg_stmt_bind_int(st, 1, (int64_t)job_id);
		if ((rc = wg_store_step(j->store, st)) == 1) {
			out->assigned = (uint64_t)wg_stmt_int(st, 0);
			rc = 0;
		}
		wg_stmt_reset(st);
	}
	return rc;
}

int wg_jobs_progress(struct wg_jobs *j, uint64_t job_id, enum wg_job_state *state,
		     uint64_t *last_seq)
{
	int rc = wg_store_check(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_JOB_STATE);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	rc = wg_store_step(j->store, st);
	if (rc == 1) {
		*state = (enum wg_job_state)wg_stmt_int(st, 0);
		if (last_seq)
			*last_seq = (uint64_t)wg_stmt_int(st, 1);
	}
	wg_stmt_reset(st);
	return rc == 1 ? 0 : rc < 0 ? rc : WG_ENOTFOUND;
}

int wg_jobs_state(struct wg_jobs *j, uint64_t job_id, enum wg_job_state *state)
{
	return wg_jobs_progress(j, job_id, state, NULL);
}

int wg_jobs_status(struct wg_jobs *j, uint64_t job_id, struct wg_job_info *out)
{
	int rc = wg_store_check(j->store);
	return rc < 0 ? rc : fill_info(j, job_id, out);
}

int wg_jobs_header(struct wg_jobs *j, uint64_t job_id, struct wg_job_info *out)
{
	int rc = wg_store_check(j->store);
	return rc < 0 ? rc : fill_header(j, job_id, out);
}

int wg_jobs_list(struct wg_jobs *j, const struct wg_jobs_filter *f, struct wg_job_info **out,
		 size_t *n)
{
	int64_t *ids = NULL;
	size_t count = 0, cap = 0;
	struct wg_job_info *list = NULL;
	*out = NULL;
	*n = 0;
	int rc = wg_store_check(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_JOB_LIST);
	wg_stmt_bind_int(st, 1, f ? (int64_t)f->states : 0);
	wg_stmt_bind_int(st, 2, f && f->limit ? (int64_t)f->limit : INT64_MAX);
	while ((rc = wg_store_step(j->store, st)) == 1) {
		if (count == cap) {
			cap = cap ? cap * 2 : 16;
			ids = wg_realloc(ids, cap * sizeof *ids);
		}
		ids[count++] = wg_stmt_int(st, 0);
	}
	if (rc < 0)
		goto out;
	list = wg_calloc(count ? count : 1, sizeof *list);
	for (size_t i = 0; i < count; i++)
		if ((rc = fill_info(j, (uint64_t)ids[i], &list[i])) < 0)
			goto out;
	*out = list;
	*n = count;
	list = NULL;
out:
	free(list);
	free(ids);
	return rc;
}

static void free_runs(struct wg_attempt_run *runs, size_t n)
{
	if (!runs)
		return;
	for (size_t i = 0; i < n; i++)
		free((char *)runs[i].worker);
	free(runs);
}

/* The attempts of a task, oldest first (their worker ids copied: the statement is reset). */
static int load_runs(struct wg_jobs *j, int64_t task, struct wg_attempt_run **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_TASK_RUNS);
	wg_stmt_bind_int(st, 1, task);
	size_t count = 0, cap = 0;
	struct wg_attempt_run *runs = NULL;
	int rc;
	while ((rc = wg_store_step(j->store, st)) == 1) {
		if (count == cap) {
			cap = cap ? cap * 2 : 4;
			runs = wg_realloc(runs, cap * sizeof *runs);
		}
		struct wg_attempt_run *a = &runs[count++];
		const char *worker = wg_stmt_text(st, 1);
		*a = (struct wg_attempt_run){
		    .state = (enum wg_attempt_state)wg_stmt_int(st, 0),
		    .worker = wg_strdup(worker ? (const char *)worker : ""),
		    .assigned_ms = (uint64_t)wg_stmt_int(st, 2),
		    .started_ms = (uint64_t)wg_stmt_int(st, 3),
		    .finished_ms = (uint64_t)wg_stmt_int(st, 4),
		    .cpu_ms = (uint64_t)wg_stmt_int(st, 5),
		    .error_kind = wg_stmt_int(st, 6),
		};
	}
	wg_stmt_reset(st);
	if (rc < 0) {
		free_runs(runs, count);
		return rc;
	}
	*out = runs;
	*n = count;
	return 0;
}

/* Calls cb for each row of a RESULTS or RESULTS_AFTER statement (bound by the caller, reset
 * here) of the job `job_id`. */
static int emit_results(struct wg_jobs *j, uint64_t job_id, struct wg_stmt *st,
			wg_jobs_result_cb cb, void *user)
{
	enum wg_job_state state;
	int rc = wg_jobs_state(j, job_id, &state);
	if (rc) {
		wg_stmt_reset(st);
		return rc;
	}
	bool cancelled = state == WG_JOB_CANCELLED;
	while ((rc = wg_store_step(j->store, st)) == 1) {
		struct wg_task_result r = {0};
		r.index = (uint32_t)wg_stmt_int(st, 0);
		r.state = (enum wg_task_state)wg_stmt_int(st, 1);
		if (cancelled && r.state < WG_TASK_COMPLETED)
			r.state = WG_TASK_CANCELLED; /* as in fill_info */
		if (!wg_stmt_is_null(st, 2)) {
			r.result = wg_stmt_blob(st, 2);
			r.result_len = (size_t)wg_stmt_bytes(st, 2);
			if (!r.result)
				r.result = (const uint8_t *)"";
		}
		r.error_kind = wg_stmt_int(st, 3);
		const char *detail = wg_stmt_text(st, 4);
		r.error_detail = detail ? (const char *)detail : "";
		r.stderr_tail = wg_stmt_blob(st, 5);
		r.stderr_len = (size_t)wg_stmt_bytes(st, 5);
		r.worker = (const char *)wg_stmt_text(st, 6);
		r.attempts = (uint32_t)wg_stmt_int(st, 7);
		r.failures = (uint32_t)wg_stmt_int(st, 8);
		int64_t task = wg_stmt_int(st, 9);
		r.seq = (uint64_t)wg_stmt_int(st, 10);
		struct wg_attempt_run *runs = NULL;
		if ((rc = load_runs(j, task, &runs, &r.n_runs)) < 0)
			break;
		r.runs = runs;
		int stop = cb(&r, user);
		free_runs(runs, r.n_runs);
		if (stop) {
			wg_stmt_reset(st);
			return stop;
		}
	}
	wg_stmt_reset(st);
	return rc;
}

int wg_jobs_results(struct wg_jobs *j, uint64_t job_id, uint32_t from, uint32_t limit,
		    wg_jobs_result_cb cb, void *user)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_RESULTS);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, from);
	wg_stmt_bind_int(st, 3, limit ? (int64_t)limit : INT64_MAX);
	return emit_results(j, job_id, st, cb, user);
}

int wg_jobs_results_after(struct wg_jobs *j, uint64_t job_id, uint64_t after, uint32_t limit,
			  wg_jobs_result_cb cb, void *user)
{
	struct wg_stmt *st = wg__stmt(j, WG__S_RESULTS_AFTER);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, after > INT64_MAX ? INT64_MAX : (int64_t)after);
	wg_stmt_bind_int(st, 3, limit ? (int64_t)limit : INT64_MAX);
	return emit_results(j, job_id, st, cb, user);
}

/* The attempts explain looks at: the store's latest, whatever the size of the job. */
#define EXPLAIN_WINDOW 10000

int wg_jobs_explain(struct wg_jobs *j, uint64_t job_id, struct wg_jobs_explain *out)
{
	memset(out, 0, sizeof *out);
	int rc = wg_store_check(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_JOB_GET);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_ENOTFOUND;
	int64_t priority = wg_stmt_int(st, 6);
	wg_stmt_reset(st);

	st = wg__stmt(j, WG__S_EXPLAIN_LAST_ATTEMPT);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_EDB;
	int64_t last = wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	out->window = EXPLAIN_WINDOW;
	int64_t detail_of[WG_JOBS_EXPLAIN_MAX] = {0};
	st = wg__stmt(j, WG__S_EXPLAIN_TROUBLE);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, last > EXPLAIN_WINDOW ? last - EXPLAIN_WINDOW : 0);
	wg_stmt_bind_int(st, 3, WG_JOBS_EXPLAIN_MAX);
	while ((rc = wg_store_step(j->store, st)) == 1 && out->n_trouble < WG_JOBS_EXPLAIN_MAX) {
		struct wg_jobs_trouble *t = &out->trouble[out->n_trouble];
		t->state = (enum wg_attempt_state)wg_stmt_int(st, 0);
		t->error_kind = wg_stmt_int(st, 1);
		t->attempts = (uint64_t)wg_stmt_int(st, 2);
		t->workers = (uint64_t)wg_stmt_int(st, 3);
		detail_of[out->n_trouble++] = wg_stmt_int(st, 4);
	}
	wg_stmt_reset(st);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < out->n_trouble; i++) {
		st = wg__stmt(j, WG__S_EXPLAIN_DETAIL);
		wg_stmt_bind_int(st, 1, detail_of[i]);
		if ((rc = wg_store_step(j->store, st)) == 1) {
			const char *d = wg_stmt_text(st, 0);
			snprintf(out->trouble[i].detail, sizeof out->trouble[i].detail, "%s",
				 d ? (const char *)d : "");
		}
		wg_stmt_reset(st);
		if (rc < 0)
			return rc;
	}

	st = wg__stmt(j, WG__S_EXPLAIN_AHEAD);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, priority);
	wg_stmt_bind_int(st, 3, WG_JOBS_EXPLAIN_MAX);
	while ((rc = wg_store_step(j->store, st)) == 1 && out->n_ahead < WG_JOBS_EXPLAIN_MAX) {
		out->ahead[out->n_ahead].job_id = (uint64_t)wg_stmt_int(st, 0);
		out->ahead[out->n_ahead++].priority = (int32_t)wg_stmt_int(st, 1);
	}
	wg_stmt_reset(st);
	return rc < 0 ? rc : 0;
}

int wg_jobs_worker_share(struct wg_jobs *j, const char *node_id, struct wg_jobs_share *out,
			 size_t max, size_t *n)
{
	*n = 0;
	int rc = wg_store_check(j->store);
	struct wg__worker *w = wg__worker_find(j, node_id);
	if (rc < 0 || !w || !w->running || !max)
		return rc < 0 ? rc : 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_WORKER_SHARE);
	wg_stmt_bind_int(st, 1, w->db_id);
	wg_stmt_bind_int(st, 2, (int64_t)max);
	while ((rc = wg_store_step(j->store, st)) == 1 && *n < max) {
		out[*n].job_id = (uint64_t)wg_stmt_int(st, 0);
		out[*n].priority = (int32_t)wg_stmt_int(st, 1);
		out[(*n)++].attempts = (uint32_t)wg_stmt_int(st, 2);
	}
	wg_stmt_reset(st);
	return rc < 0 ? rc : 0;
}

int wg_jobs_managers(struct wg_jobs *j, struct wg_jobs_manager **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	int rc = wg_store_check(j->store);
	if (rc < 0)
		return rc;
	uint64_t now = wg__jobs_now(j);
	struct wg_jobs_manager *list = NULL;
	size_t count = 0, cap = 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_MANAGERS_LIST);
	while ((rc = wg_store_step(j->store, st)) == 1) {
		if (count == cap) {
			cap = cap ? cap * 2 : 4;
			list = wg_realloc(list, cap * sizeof *list);
		}
		struct wg_jobs_manager *m = &list[count++];
		m->node_id = wg_strdup(wg_stmt_text(st, 0));
		m->node_addr = wg_strdup(wg_stmt_text(st, 1));
		m->api_addr = wg_strdup(wg_stmt_text(st, 2));
		m->started_ms = (uint64_t)wg_stmt_int(st, 3);
		m->lease_until_ms = (uint64_t)wg_stmt_int(st, 4);
		m->self = wg_stmt_int(st, 5) == j->manager_id;
		/* On a store of its own a manager keeps no lease: it is the one alive. */
		m->live = m->self || (j->shared && m->lease_until_ms >= now);
	}
	wg_stmt_reset(st);
	if (rc < 0) {
		wg_jobs_managers_free(list, count);
		return rc;
	}
	*out = list;
	*n = count;
	return 0;
}

int wg_jobs_set_addresses(struct wg_jobs *j, const char *node_addr, const char *api_addr)
{
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_MANAGER_ADDRESSES);
	wg_stmt_bind_int(st, 1, j->manager_id);
	wg_stmt_bind_text(st, 2, node_addr);
	wg_stmt_bind_text(st, 3, api_addr);
	return wg_store_end(j->store, wg_store_exec_stmt(j->store, st));
}

void wg_jobs_managers_free(struct wg_jobs_manager *m, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(m[i].node_id);
		free(m[i].node_addr);
		free(m[i].api_addr);
	}
	free(m);
}

int wg_jobs_metrics(struct wg_jobs *j, struct wg_jobs_metrics *out)
{
	*out = j->counters;
	memset(out->jobs, 0, sizeof out->jobs);
	memset(out->tasks, 0, sizeof out->tasks);
	int rc = wg_store_check(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_METRIC_JOBS);
	while ((rc = wg_store_step(j->store, st)) == 1) {
		int s = wg_stmt_int(st, 0);
		if (s >= 0 && s < 4)
			out->jobs[s] = (uint64_t)wg_stmt_int(st, 1);
	}
	if (rc < 0)
		return rc;
	/* From the jobs' counters, as a job's status (fill_info): no walk of every task. A
	 * task is running while it has attempts in flight, and only a running job's do. */
	st = wg__stmt(j, WG__S_METRIC_TASKS);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_EDB;
	uint64_t unended = (uint64_t)wg_stmt_int(st, 0);
	out->tasks[WG_TASK_COMPLETED] = (uint64_t)wg_stmt_int(st, 1);
	out->tasks[WG_TASK_FAILED] = (uint64_t)wg_stmt_int(st, 2);
	out->tasks[WG_TASK_CANCELLED] = (uint64_t)wg_stmt_int(st, 3);
	wg_stmt_reset(st);
	st = wg__stmt(j, WG__S_METRIC_RUNNING);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_EDB;
	uint64_t running = (uint64_t)wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	out->tasks[WG_TASK_RUNNING] = running;
	out->tasks[WG_TASK_QUEUED] = unended > running ? unended - running : 0;
	st = wg__stmt(j, WG__S_METRIC_ASSIGNED);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_EDB;
	out->tasks_assigned = (uint64_t)wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	st = wg__stmt(j, WG__S_METRIC_IN_FLIGHT);
	if ((rc = wg_store_step(j->store, st)) != 1)
		return rc < 0 ? rc : WG_EDB;
	out->attempts_in_flight = (uint64_t)wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	out->commits = wg_store_commits(j->store);
	return 0;
}
