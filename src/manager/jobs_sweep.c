/* Work that cancels, removals and retries leave behind, done a slice at a time so that no
 * call holds the manager's loop for long whatever the size of a job: the tasks of a
 * cancelled job marked cancelled, the tasks and attempts of a removed job deleted, the
 * failed tasks of a retried job queued again. What is still to do is a row of the sweep
 * table, so it survives a restart. */
#include <stdio.h>
#include <stdlib.h>

#include "manager/jobs_internal.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/log.h"

int wg_jobs_remove(struct wg_jobs *j, uint64_t job_id)
{
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	enum wg_job_state state;
	if ((rc = wg_jobs_state(j, job_id, &state)) < 0)
		goto end;
	if (state == WG_JOB_RUNNING) {
		rc = WG_EBUSY;
		goto end;
	}
	struct wg_stmt *st = wg__stmt(j, WG__S_JOB_DELETE);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	if (wg_store_step(j->store, st) != 1) {
		rc = WG_EDB;
		goto end;
	}
	char hash[65];
	snprintf(hash, sizeof hash, "%s", (const char *)wg_stmt_text(st, 0));
	if ((rc = wg_store_step(j->store, st)) < 0)
		goto end;
	st = wg__stmt(j, WG__S_PROGRAM_FORGET);
	wg_stmt_bind_text(st, 1, hash);
	wg_stmt_bind_int(st, 2, (int64_t)(wg__jobs_now(j) - WG__PROGRAM_GRACE_MS));
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		goto end;
	/* Its tasks and attempts go a slice at a time (a cancel still pending is replaced). */
	st = wg__stmt(j, WG__S_SWEEP_ADD);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, WG__SWEEP_DELETE);
	rc = wg_store_exec_stmt(j->store, st);
end:
	return wg_store_end(j->store, rc);
}

int wg_jobs_retry(struct wg_jobs *j, uint64_t job_id, uint64_t *n_tasks)
{
	if (n_tasks)
		*n_tasks = 0;
	int rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	struct wg_stmt *st = wg__stmt(j, WG__S_JOB_FAILED_COUNT);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	rc = wg_store_step(j->store, st);
	if (rc <= 0) {
		rc = rc < 0 ? rc : WG_ENOTFOUND;
		goto end;
	}
	int state = wg_stmt_int(st, 0);
	int64_t failed = wg_stmt_int(st, 1);
	wg_stmt_reset(st);
	rc = 0;
	if (state == WG_JOB_CANCELLED) {
		rc = WG_EBUSY;
		goto end;
	}
	if (failed == 0)
		goto end;
	/* The job counts the tasks as remaining at once, so it cannot end before the sweep
	 * has queued them and they have run again. */
	st = wg__stmt(j, WG__S_JOB_RETRY);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		goto end;
	st = wg__stmt(j, WG__S_SWEEP_ADD);
	wg_stmt_bind_int(st, 1, (int64_t)job_id);
	wg_stmt_bind_int(st, 2, WG__SWEEP_RETRY);
	if ((rc = wg_store_exec_stmt(j->store, st)) < 0)
		goto end;
	if (n_tasks)
		*n_tasks = (uint64_t)failed;
	wg_info(NULL, "job %llu: %lld failed tasks queued again", (unsigned long long)job_id,
		(long long)failed);
end:
	return wg_store_end(j->store, rc);
}

/* One slice of a retry: up to max_rows failed tasks queued again; *changed gets how many. */
static int retry_slice(struct wg_jobs *j, int64_t job, size_t max_rows, int *changed)
{
	int64_t *ids = wg_malloc((max_rows ? max_rows : 1) * sizeof *ids);
	size_t n = 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_SWEEP_RETRY_SLICE);
	wg_stmt_bind_int(st, 1, job);
	wg_stmt_bind_int(st, 2, (int64_t)max_rows);
	int rc = 0;
	while (n < max_rows && (rc = wg_store_step(j->store, st)) == 1)
		ids[n++] = wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	rc = rc < 0 ? rc : 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		st = wg__stmt(j, WG__S_TASK_RETRY);
		wg_stmt_bind_int(st, 1, ids[i]);
		rc = wg_store_exec_stmt(j->store, st);
		if (rc == 0)
			rc = wg__task_reconcile(j, ids[i]);
	}
	free(ids);
	*changed = (int)n;
	return rc;
}

int wg_jobs_remove_finished_before(struct wg_jobs *j, uint64_t before_ms, size_t max,
				   size_t *n_removed)
{
	int64_t ids[64];
	size_t n = 0;
	*n_removed = 0;
	struct wg_stmt *st = wg__stmt(j, WG__S_JOBS_FINISHED_BEFORE);
	wg_stmt_bind_int(st, 1, (int64_t)before_ms);
	wg_stmt_bind_int(st, 2, (int64_t)(max < 64 ? max : 64));
	int rc;
	while ((rc = wg_store_step(j->store, st)) == 1)
		ids[n++] = wg_stmt_int(st, 0);
	wg_stmt_reset(st);
	for (size_t i = 0; i < n && rc == 0; i++) {
		rc = wg_jobs_remove(j, (uint64_t)ids[i]);
		if (rc == 0)
			(*n_removed)++;
	}
	return rc < 0 ? rc : 0;
}

int wg_jobs_sweep(struct wg_jobs *j, size_t max_rows, bool *more)
{
	*more = false;
	struct wg_stmt *st = wg__stmt(j, WG__S_SWEEP_NEXT);
	int rc = wg_store_step(j->store, st);
	if (rc <= 0)
		return rc;
	int64_t job = wg_stmt_int(st, 0);
	int kind = wg_stmt_int(st, 1);
	wg_stmt_reset(st);
	rc = wg_store_begin(j->store);
	if (rc < 0)
		return rc;
	int changed = 0;
	if (kind == WG__SWEEP_RETRY) {
		rc = retry_slice(j, job, max_rows, &changed);
	} else if (kind == WG__SWEEP_CANCEL) {
		st = wg__stmt(j, WG__S_SWEEP_CANCEL_SLICE);
		wg_stmt_bind_int(st, 1, job);
		wg_stmt_bind_int(st, 2, (int64_t)max_rows);
		rc = wg_store_exec_stmt(j->store, st);
		changed = wg_store_changes(j->store);
	} else {
		st = wg__stmt(j, WG__S_SWEEP_DELETE_ATTEMPTS);
		wg_stmt_bind_int(st, 1, job);
		wg_stmt_bind_int(st, 2, (int64_t)max_rows);
		rc = wg_store_exec_stmt(j->store, st);
		if (rc == 0) {
			st = wg__stmt(j, WG__S_SWEEP_DELETE_TASKS);
			wg_stmt_bind_int(st, 1, job);
			wg_stmt_bind_int(st, 2, (int64_t)max_rows);
			rc = wg_store_exec_stmt(j->store, st);
			changed = wg_store_changes(j->store);
		}
	}
	if (rc == 0 && (size_t)changed < max_rows) {
		/* This job is done with; another may wait. */
		st = wg__stmt(j, WG__S_SWEEP_DONE);
		wg_stmt_bind_int(st, 1, job);
		rc = wg_store_exec_stmt(j->store, st);
		if (rc == 0 && kind == WG__SWEEP_DELETE)
			wg_info(NULL, "job %lld removed", (long long)job);
	}
	rc = wg_store_end(j->store, rc);
	if (rc == 0) {
		st = wg__stmt(j, WG__S_SWEEP_NEXT);
		*more = wg_store_step(j->store, st) == 1;
		wg_stmt_reset(st);
	}
	return rc;
}
