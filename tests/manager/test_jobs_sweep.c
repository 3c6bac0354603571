/* Work done in slices (manager/jobs_sweep.c): the tasks of a cancelled job marked, a removed
 * job's tasks and attempts deleted, a bounded amount per call, resumed after a restart; and
 * the schema upgrade that brought the sweep table. */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "harness/test.h"
#include "manager/jobs_fixture.h"
#include "util/err.h"

/* Runs slices of at most `rows` until none is left; returns how many calls it took. */
static int sweep_all(struct jfx *f, size_t rows)
{
	int calls = 0;
	bool more = true;
	while (more) {
		CHECK_EQ(wg_jobs_sweep(f->j, rows, &more), 0);
		CHECK(++calls < 100000);
	}
	return calls;
}

static int count_result(const struct wg_task_result *r, void *user)
{
	uint64_t *per_state = user;
	per_state[r->state]++;
	return 0;
}

STORE_TEST(jobs_cancel_marks_tasks_a_slice_at_a_time)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 5000, NULL);
	CHECK_EQ(jfx_assign(&f, "w1", 3, NULL), 3);
	size_t aborted = 0;
	CHECK_EQ(wg_jobs_cancel(f.j, id, &aborted), 0);
	CHECK_EQ(aborted, 3);
	/* The cancel itself touched only the attempts in flight, not the 5,000 tasks... */
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks WHERE state = 4"), 0);
	/* ... and yet every answer already says cancelled. */
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.state, WG_JOB_CANCELLED);
	CHECK_EQ(info.counts[WG_TASK_CANCELLED], 5000);
	CHECK_EQ(info.counts[WG_TASK_QUEUED] + info.counts[WG_TASK_RUNNING], 0);
	uint64_t per_state[WG_TASK_STATE_COUNT] = {0};
	CHECK_EQ(wg_jobs_results(f.j, id, 0, 0, count_result, per_state), 0);
	CHECK_EQ(per_state[WG_TASK_CANCELLED], 5000);
	/* One slice marks at most its share; six calls for 5,000 tasks in slices of 1,000
	 * (the last finds none left and ends the work). */
	bool more = false;
	CHECK_EQ(wg_jobs_sweep(f.j, 1000, &more), 0);
	CHECK(more);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks WHERE state = 4"), 1000);
	CHECK_EQ(sweep_all(&f, 1000), 5);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks WHERE state = 4"), 5000);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM sweep"), 0);
	CHECK_EQ(wg_jobs_sweep(f.j, 1000, &more), 0);
	CHECK(!more);
	/* Nothing of it is handed out. */
	CHECK_EQ(jfx_assign(&f, "w2", 10, NULL), 0);
	jfx_done(&f);
}

STORE_TEST(jobs_late_report_on_a_cancelled_job_changes_nothing)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 10, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 2, &a), 2);
	CHECK_EQ(wg_jobs_cancel(f.j, id, NULL), 0);
	/* Before the sweep reaches the tasks: the job stays cancelled. */
	CHECK(!jfx_complete(&f, "w1", a[0].attempt_id, "late"));
	size_t n = 0;
	CHECK_EQ(wg_jobs_worker_lost(f.j, "w1", &n), 0);
	CHECK_EQ(wg_jobs_tick(f.j, f.now + 10000000, &n), 0);
	enum wg_job_state state;
	CHECK_EQ(wg_jobs_state(f.j, id, &state), 0);
	CHECK_EQ(state, WG_JOB_CANCELLED);
	sweep_all(&f, 3);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.counts[WG_TASK_CANCELLED], 10);
	wg_assignments_free(a, 2);
	jfx_done(&f);
}

STORE_TEST(jobs_remove_deletes_a_finished_job_with_everything_of_it)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 3, NULL);
	uint64_t keep = jfx_submit(&f, 2, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 3, &a), 3);
	CHECK_EQ(wg_jobs_remove(f.j, id), WG_EBUSY);
	for (int i = 0; i < 3; i++)
		CHECK(jfx_complete(&f, "w1", a[i].attempt_id, "ok"));
	enum wg_job_state state;
	CHECK_EQ(wg_jobs_state(f.j, id, &state), 0);
	CHECK_EQ(state, WG_JOB_COMPLETED);
	CHECK_EQ(wg_jobs_remove(f.j, id), 0);
	/* Unknown at once... */
	CHECK_EQ(wg_jobs_state(f.j, id, &state), WG_ENOTFOUND);
	CHECK_EQ(wg_jobs_remove(f.j, id), WG_ENOTFOUND);
	struct wg_job_info *list;
	size_t n;
	CHECK_EQ(wg_jobs_list(f.j, NULL, &list, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(list[0].id, keep);
	free(list);
	/* ... its rows gone once swept; the other job's stay, and so does the program, which
	 * that job still uses. */
	sweep_all(&f, 2);
	char sql[160];
	snprintf(sql, sizeof sql, "SELECT count(*) FROM tasks WHERE job_id = %llu",
		 (unsigned long long)id);
	CHECK_EQ(jfx_query(&f, sql), 0);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM attempts"), 0);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks"), 2);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM programs"), 1);
	/* A running job is cancelled, then removed; with the last job its program goes, once
	 * it was not stored recently (it may be for a job about to come). */
	CHECK_EQ(wg_jobs_cancel(f.j, keep, NULL), 0);
	f.now += 2 * 60 * 60 * 1000;
	CHECK_EQ(wg_jobs_remove(f.j, keep), 0);
	sweep_all(&f, 1000);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks"), 0);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM jobs"), 0);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM programs"), 0);
	wg_assignments_free(a, 3);
	jfx_done(&f);
}

STORE_TEST(jobs_remove_finished_before_keeps_recent_and_running_jobs)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t old_job = jfx_submit(&f, 1, NULL);
	CHECK_EQ(wg_jobs_cancel(f.j, old_job, NULL), 0); /* finished at 1000 */
	f.now = 5000;
	uint64_t recent = jfx_submit(&f, 1, NULL);
	CHECK_EQ(wg_jobs_cancel(f.j, recent, NULL), 0); /* finished at 5000 */
	uint64_t running = jfx_submit(&f, 1, NULL);
	size_t n = 0;
	CHECK_EQ(wg_jobs_remove_finished_before(f.j, 3000, 64, &n), 0);
	CHECK_EQ(n, 1);
	enum wg_job_state state;
	CHECK_EQ(wg_jobs_state(f.j, old_job, &state), WG_ENOTFOUND);
	CHECK_EQ(wg_jobs_state(f.j, recent, &state), 0);
	CHECK_EQ(wg_jobs_state(f.j, running, &state), 0);
	CHECK_EQ(wg_jobs_remove_finished_before(f.j, 1000000, 64, &n), 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(wg_jobs_state(f.j, running, &state), 0);
	CHECK_EQ(state, WG_JOB_RUNNING);
	sweep_all(&f, 100);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks"), 1);
	jfx_done(&f);
}

STORE_TEST(jobs_sweep_resumes_after_a_restart)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t done = jfx_submit(&f, 1, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 1, &a), 1);
	CHECK(jfx_complete(&f, "w1", a[0].attempt_id, "ok"));
	wg_assignments_free(a, 1);
	uint64_t id = jfx_submit(&f, 3000, NULL);
	CHECK_EQ(wg_jobs_cancel(f.j, id, NULL), 0);
	CHECK_EQ(wg_jobs_remove(f.j, done), 0);
	bool more = false;
	CHECK_EQ(wg_jobs_sweep(f.j, 1000, &more), 0);
	CHECK(more);
	jfx_close(&f);
	jfx_open(&f);
	/* The removal (the older job) took one slice; the cancel waits, on disk. */
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM sweep"), 1);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks WHERE state = 4"), 0);
	sweep_all(&f, 1000);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks WHERE state = 4"), 3000);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks"), 3000);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM attempts"), 0);
	jfx_done(&f);
}

TEST(jobs_store_of_schema_version_1_is_upgraded)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 4, NULL);
	struct wg_assignment *a = NULL;
	CHECK_EQ(jfx_assign(&f, "w1", 3, &a), 3);
	CHECK(jfx_complete(&f, "w1", a[2].attempt_id, "two"));
	CHECK(jfx_complete(&f, "w1", a[0].attempt_id, "zero"));
	wg_assignments_free(a, 3);
	jfx_close(&f);
	/* What a manager of the first release left: no sweep table, version 1. */
	sqlite3 *db = NULL;
	CHECK_EQ(sqlite3_open(f.path, &db), SQLITE_OK);
	CHECK_EQ(sqlite3_exec(db,
			      "DROP TABLE sweep; ALTER TABLE attempts DROP COLUMN cpu_ms;"
			      " ALTER TABLE jobs DROP COLUMN name; DROP INDEX tasks_done;"
			      " ALTER TABLE tasks DROP COLUMN done_seq;"
			      " ALTER TABLE jobs DROP COLUMN done_seq; ALTER TABLE tasks DROP "
			      "COLUMN ready_ms; ALTER TABLE jobs DROP COLUMN n_completed;"
			      " DROP TABLE managers; DROP INDEX attempts_manager;"
			      " ALTER TABLE attempts DROP COLUMN manager; DROP TABLE worker_bans;"
			      " ALTER TABLE workers DROP COLUMN agreed;"
			      " ALTER TABLE workers DROP COLUMN disagreed;"
			      " ALTER TABLE workers DROP COLUMN errors;"
			      " ALTER TABLE workers DROP COLUMN timeouts;"
			      " ALTER TABLE workers DROP COLUMN refused;"
			      " ALTER TABLE workers DROP COLUMN lost;"
			      " ALTER TABLE workers DROP COLUMN strikes;"
			      " ALTER TABLE workers DROP COLUMN quarantined_ms;"
			      " ALTER TABLE workers DROP COLUMN quarantine_reason;"
			      " PRAGMA user_version = 1",
			      NULL, NULL, NULL),
		 SQLITE_OK);
	sqlite3_close(db);
	jfx_open(&f);
	CHECK_EQ(jfx_query(&f, "PRAGMA user_version"), 9);
	/* The completed tasks counted from the tasks themselves. */
	CHECK_EQ(jfx_query(&f, "SELECT n_completed FROM jobs"), 2);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM jobs WHERE name = ''"), 1);
	/* The tasks that had ended are numbered in index order, and later ones after them. */
	CHECK_EQ(jfx_query(&f, "SELECT done_seq FROM tasks WHERE idx = 0"), 1);
	CHECK_EQ(jfx_query(&f, "SELECT done_seq FROM tasks WHERE idx = 2"), 2);
	CHECK_EQ(jfx_query(&f, "SELECT done_seq FROM jobs"), 2);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks WHERE done_seq IS NULL"), 2);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM pragma_table_info('attempts')"
			       " WHERE name = 'cpu_ms'"),
		 1);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM pragma_table_info('tasks')"
			       " WHERE name = 'ready_ms'"),
		 1);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.counts[WG_TASK_QUEUED], 2);
	CHECK_EQ(info.counts[WG_TASK_COMPLETED], 2);
	CHECK_EQ(wg_jobs_cancel(f.j, id, NULL), 0);
	sweep_all(&f, 1000);
	CHECK_EQ(jfx_query(&f, "SELECT count(*) FROM tasks WHERE state = 4"), 2);
	jfx_done(&f);
}

/* Retry: the failed tasks of a job are queued again (a slice at a time) with their failures
 * counted afresh, the job runs until they are done, and a job without failures, a
 * cancelled job and an unknown one are told apart. */
STORE_TEST(jobs_retry_queues_failed_tasks_again_a_slice_at_a_time)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.max_failures = 0;
	uint64_t id = jfx_submit(&f, 5, &o);
	struct wg_assignment *a = NULL;
	CHECK_EQ(jfx_assign(&f, "w1", 5, &a), 5);
	for (size_t i = 0; i < 5; i++) {
		if (i == 0)
			CHECK(jfx_complete(&f, "w1", a[i].attempt_id, "ok"));
		else
			CHECK_EQ(wg_jobs_error(f.j, "w1", a[i].attempt_id, 3, "exit status 1", NULL,
					       0, 0, NULL),
				 0);
	}
	wg_assignments_free(a, 5);
	struct wg_job_info ji;
	CHECK_EQ(wg_jobs_status(f.j, id, &ji), 0);
	CHECK_EQ(ji.state, WG_JOB_FAILED);
	CHECK_EQ(ji.counts[WG_TASK_FAILED], 4);

	uint64_t n = 0;
	CHECK_EQ(wg_jobs_retry(f.j, id, &n), 0);
	CHECK_EQ(n, 4);
	CHECK_EQ(wg_jobs_status(f.j, id, &ji), 0);
	CHECK_EQ(ji.state, WG_JOB_RUNNING);
	CHECK_EQ(ji.finished_ms, 0);
	/* Two slices of 3 rows and the end of the last. */
	CHECK_EQ(sweep_all(&f, 3), 2);
	CHECK_EQ(wg_jobs_status(f.j, id, &ji), 0);
	CHECK_EQ(ji.counts[WG_TASK_QUEUED], 4);
	CHECK_EQ(ji.counts[WG_TASK_FAILED], 0);
	struct jfx_task t;
	jfx_task(&f, id, 1, &t);
	CHECK_EQ(t.failures, 0);
	CHECK_EQ(t.attempts, 1);

	/* They run again; one fails again, so the job fails again, and can be retried again. */
	CHECK_EQ(jfx_assign(&f, "w2", 5, &a), 4);
	for (size_t i = 0; i < 4; i++) {
		if (i < 3)
			CHECK(jfx_complete(&f, "w2", a[i].attempt_id, "ok"));
		else
			CHECK_EQ(
			    wg_jobs_error(f.j, "w2", a[i].attempt_id, 3, "again", NULL, 0, 0, NULL),
			    0);
	}
	wg_assignments_free(a, 4);
	CHECK_EQ(wg_jobs_status(f.j, id, &ji), 0);
	CHECK_EQ(ji.state, WG_JOB_FAILED);
	CHECK_EQ(ji.counts[WG_TASK_COMPLETED], 4);
	CHECK_EQ(wg_jobs_retry(f.j, id, &n), 0);
	CHECK_EQ(n, 1);
	/* The work survives a restart. */
	jfx_close(&f);
	jfx_open(&f);
	sweep_all(&f, 100);
	CHECK_EQ(jfx_assign(&f, "w3", 5, &a), 1);
	CHECK(jfx_complete(&f, "w3", a[0].attempt_id, "ok"));
	wg_assignments_free(a, 1);
	CHECK_EQ(wg_jobs_status(f.j, id, &ji), 0);
	CHECK_EQ(ji.state, WG_JOB_COMPLETED);
	CHECK_EQ(ji.counts[WG_TASK_COMPLETED], 5);

	/* Nothing to retry; cancelled; unknown. */
	CHECK_EQ(wg_jobs_retry(f.j, id, &n), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(wg_jobs_status(f.j, id, &ji), 0);
	CHECK_EQ(ji.state, WG_JOB_COMPLETED);
	uint64_t other = jfx_submit(&f, 2, NULL);
	CHECK_EQ(wg_jobs_cancel(f.j, other, NULL), 0);
	CHECK_EQ(wg_jobs_retry(f.j, other, &n), WG_EBUSY);
	CHECK_EQ(wg_jobs_retry(f.j, other + 1, &n), WG_ENOTFOUND);
	jfx_done(&f);
}
