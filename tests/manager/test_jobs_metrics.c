/* What the job core gives /metrics beyond its counts: the run-time and queue-wait
 * histograms (with the time a task was queued again kept in the store) and each worker's
 * attempts in flight. */
#include <string.h>

#include "harness/test.h"
#include "manager/jobs.h"
#include "manager/jobs_fixture.h"
#include "node/error_kind.h"

static struct wg_jobs_metrics metrics(struct jfx *f)
{
	struct wg_jobs_metrics m;
	CHECK_EQ(wg_jobs_metrics(f->j, &m), 0);
	return m;
}

static void check_load(struct jfx *f, const char *worker, uint64_t assigned, uint64_t started)
{
	uint64_t a = 99, s = 99;
	CHECK_EQ(wg_jobs_worker_load(f->j, worker, &a, &s), 0);
	CHECK_EQ(a, assigned);
	CHECK_EQ(s, started);
}

STORE_TEST(metrics_jobs_histograms_measure_run_time_and_queue_wait)
{
	struct jfx f = {0};
	jfx_open(&f); /* the clock reads 1000 */
	jfx_submit(&f, 2, NULL);
	check_load(&f, "w1", 0, 0); /* unknown yet */
	f.now = 3000;
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 2, &a), 2);
	struct wg_jobs_metrics m = metrics(&f);
	CHECK_EQ(m.queue_wait.count, 2);
	CHECK_EQ(m.queue_wait.sum_ms, 4000); /* both waited 2 s since the submission */
	CHECK_EQ(m.run_time.count, 0);
	check_load(&f, "w1", 2, 0);

	f.now = 3500;
	CHECK_EQ(wg_jobs_started(f.j, "w1", a[0].attempt_id, 3500, NULL), 0);
	check_load(&f, "w1", 1, 1);
	f.now = 4000;
	CHECK(jfx_complete(&f, "w1", a[0].attempt_id, "r"));
	/* Never started: its run counts from its assignment. */
	f.now = 5000;
	bool applied = false;
	CHECK_EQ(wg_jobs_error(f.j, "w1", a[1].attempt_id, WASMGRID__ERROR_KIND__RUNNING_ERROR,
			       "exit 1", NULL, 0, 0, &applied),
		 0);
	CHECK(applied);
	check_load(&f, "w1", 0, 0);
	m = metrics(&f);
	CHECK_EQ(m.run_time.count, 2);
	CHECK_EQ(m.run_time.sum_ms, 500 + 2000);
	CHECK_EQ(m.run_time.counts[7], 1); /* 500 ms: le="0.5", the bound included */
	CHECK_EQ(m.run_time.counts[9], 1); /* 2 s: le="2.5" */
	wg_assignments_free(a, 2);

	/* Queued again at 5000 by the error, it waits from then, across a restart too. */
	jfx_close(&f);
	jfx_open(&f);
	m = metrics(&f);
	CHECK_EQ(m.queue_wait.count, 0); /* in memory: a new process starts at 0 */
	f.now = 5600;
	CHECK_EQ(jfx_assign(&f, "w1", 1, &a), 1);
	m = metrics(&f);
	CHECK_EQ(m.queue_wait.count, 1);
	CHECK_EQ(m.queue_wait.sum_ms, 600);
	wg_assignments_free(a, 1);

	/* An attempt in flight at a restart is lost and its task waits from the reopening. */
	f.now = 7000;
	jfx_close(&f);
	jfx_open(&f);
	f.now = 7100;
	CHECK_EQ(jfx_assign(&f, "w2", 1, &a), 1);
	m = metrics(&f);
	CHECK_EQ(m.queue_wait.sum_ms, 100);
	wg_assignments_free(a, 1);
	jfx_done(&f);
}
