/* The job core: submission, scheduling order, caps, programs, queries and database errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sqlite3.h>
#include <unistd.h>

#include "harness/test.h"
#include "manager/jobs.h"
#include "manager/jobs_fixture.h"
#include "node/error_kind.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/hex.h"

STORE_TEST(jobs_submit_20000_tasks_in_one_transaction)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_jobs_metrics before, after;
	CHECK_EQ(wg_jobs_metrics(f.j, &before), 0);
	uint64_t id = jfx_submit(&f, 20000, NULL);
	CHECK_EQ(wg_jobs_metrics(f.j, &after), 0);
	CHECK_EQ(after.commits - before.commits, 1);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.n_tasks, 20000);
	CHECK_EQ(info.counts[WG_TASK_QUEUED], 20000);
	CHECK_EQ(info.state, WG_JOB_RUNNING);
	struct jfx_task t;
	jfx_task(&f, id, 19999, &t);
	CHECK_EQ(t.state, WG_TASK_QUEUED);
	jfx_done(&f);
}

static uint64_t commits(struct jfx *f)
{
	struct wg_jobs_metrics m;
	CHECK_EQ(wg_jobs_metrics(f->j, &m), 0);
	return m.commits;
}

/* What the manager does while idle (ticks, caps and memory of known workers, looking for
 * work) commits nothing; an overdue attempt found by a tick is still committed. On a shared
 * store (PostgreSQL) the manager also renews its lease, every third of WG_DEFAULT_LEASE_MS:
 * once in the 5 s of ticks below, once more in the jump of an hour. */
STORE_TEST(jobs_idle_core_commits_nothing)
{
	struct jfx f = {0};
	jfx_open(&f);
	jfx_submit(&f, 2, NULL);
	struct wg_assignment *a;
	CHECK_EQ(jfx_assign(&f, "w1", 2, &a), 2);
	CHECK(jfx_complete(&f, "w1", a[0].attempt_id, "r0"));
	CHECK(jfx_complete(&f, "w1", a[1].attempt_id, "r1"));
	wg_assignments_free(a, 2);
	uint64_t before = commits(&f);
	int renewals = jfx_on_postgresql();
	size_t overdue = 1;
	for (int i = 0; i < 20; i++) {
		CHECK_EQ(wg_jobs_tick(f.j, f.now + (uint64_t)i * 250, &overdue), 0);
		CHECK_EQ(overdue, 0);
	}
	CHECK_EQ(wg_jobs_worker_set_cap(f.j, "w1", 4), 0);
	CHECK_EQ(wg_jobs_worker_set_memory(f.j, "w1", (uint64_t)1 << 30), 0);
	CHECK(!wg_jobs_worker_has_program(f.j, "w1", JFX_HASH "x"));
	const char *ids[] = {"w1"};
	uint32_t slots[] = {4};
	size_t chosen;
	CHECK_EQ(wg_jobs_pick_worker(f.j, ids, slots, 1, &chosen), WG_ENOTFOUND);
	CHECK_EQ(commits(&f), before + renewals);
	/* A new worker is stored: that is one commit. */
	CHECK_EQ(wg_jobs_worker_set_cap(f.j, "w2", 4), 0);
	CHECK_EQ(commits(&f), before + renewals + 1);

	jfx_submit(&f, 1, NULL);
	CHECK_EQ(jfx_assign(&f, "w1", 1, NULL), 1);
	before = commits(&f);
	CHECK_EQ(wg_jobs_tick(f.j, f.now + 3600 * 1000, &overdue), 0);
	CHECK_EQ(overdue, 1);
	CHECK_EQ(commits(&f), before + renewals + 1);
	jfx_done(&f);
}

STORE_TEST(jobs_submit_rejects_bad_input_and_stores_nothing)
{
	struct jfx f = {0};
	jfx_open(&f);
	const char *addr = "file:///p.wasm";
	struct wg_jobs_arg arg = {(const uint8_t *)"x", 1};
	uint64_t id;
	CHECK_EQ(wg_jobs_submit(f.j, "not-a-hash", &addr, 1, NULL, &arg, 1, &id), WG_EINVAL);
	CHECK_EQ(wg_jobs_submit(f.j, JFX_HASH, &addr, 0, NULL, &arg, 1, &id), WG_EINVAL);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.redundancy = 2;
	o.quorum = 3;
	CHECK_EQ(wg_jobs_submit(f.j, JFX_HASH, &addr, 1, &o, &arg, 1, &id), WG_EINVAL);
	wg_job_options_init(&o);
	snprintf(o.name, sizeof o.name, "two\nlines");
	CHECK_EQ(wg_jobs_submit(f.j, JFX_HASH, &addr, 1, &o, &arg, 1, &id), WG_EINVAL);
	const char *bad = "file:///a\nfile:///b";
	CHECK_EQ(wg_jobs_submit(f.j, JFX_HASH, &bad, 1, NULL, &arg, 1, &id), WG_EINVAL);
	struct wg_job_info *list;
	size_t n;
	CHECK_EQ(wg_jobs_list(f.j, NULL, &list, &n), 0);
	CHECK_EQ(n, 0);
	free(list);
	jfx_done(&f);
}

STORE_TEST(jobs_default_options_and_quorum_are_filled_in)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.redundancy = 3;
	uint64_t id = jfx_submit(&f, 1, &o);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.options.timeout_ms, 60000);
	CHECK_EQ(info.options.memory_bytes, 256u << 20);
	CHECK_EQ(info.options.result_bytes, 1u << 20);
	CHECK_EQ(info.options.max_failures, 3);
	CHECK_EQ(info.options.quorum, 2);
	CHECK_EQ(info.created_ms, 1000);
	CHECK_EQ(info.finished_ms, 0);
	jfx_done(&f);
}

STORE_TEST(jobs_empty_job_is_completed_at_once)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 0, NULL);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_EQ(info.state, WG_JOB_COMPLETED);
	CHECK_EQ(jfx_assign(&f, "w1", 4, NULL), 0);
	jfx_done(&f);
}

STORE_TEST(jobs_assign_respects_priority_then_submission_order)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options lo, hi;
	wg_job_options_init(&lo);
	wg_job_options_init(&hi);
	hi.priority = 5;
	uint64_t a = jfx_submit(&f, 2, &lo);
	uint64_t b = jfx_submit(&f, 2, &hi);
	uint64_t c = jfx_submit(&f, 1, &lo);
	struct wg_assignment *batch;
	CHECK_EQ(jfx_assign(&f, "w1", 5, &batch), 5);
	uint64_t want_job[5] = {b, b, a, a, c};
	uint32_t want_idx[5] = {0, 1, 0, 1, 0};
	for (int i = 0; i < 5; i++) {
		CHECK_EQ(batch[i].job_id, want_job[i]);
		CHECK_EQ(batch[i].index, want_idx[i]);
	}
	/* The TaskSpec fields come from the job. */
	CHECK_STREQ(batch[0].program_hash, JFX_HASH);
	CHECK_EQ(batch[0].n_addresses, 1);
	CHECK_STREQ(batch[0].addresses[0], "wasmgrid://node/" JFX_HASH);
	CHECK_EQ(batch[0].argument_len, 4);
	CHECK(memcmp(batch[0].argument, "arg0", 4) == 0);
	CHECK_EQ(batch[0].timeout_ms, 60000);
	CHECK(batch[0].random_seed != batch[1].random_seed);
	for (int i = 1; i < 5; i++)
		CHECK(batch[i].attempt_id != batch[0].attempt_id);
	wg_assignments_free(batch, 5);
	CHECK_EQ(jfx_assign(&f, "w1", 5, NULL), 0);
	jfx_done(&f);
}

STORE_TEST(jobs_assign_gives_at_most_free_slots_and_cap)
{
	struct jfx f = {0};
	jfx_open(&f);
	jfx_submit(&f, 10, NULL);
	CHECK_EQ(jfx_assign(&f, "w1", 3, NULL), 3);
	CHECK_EQ(wg_jobs_worker_running(f.j, "w1"), 3);
	CHECK_EQ(wg_jobs_worker_set_cap(f.j, "w2", 2), 0);
	struct wg_assignment *batch;
	CHECK_EQ(jfx_assign(&f, "w2", 10, &batch), 2);
	CHECK_EQ(jfx_assign(&f, "w2", 10, NULL), 0);
	CHECK(jfx_complete(&f, "w2", batch[0].attempt_id, "ok"));
	CHECK_EQ(wg_jobs_worker_running(f.j, "w2"), 1);
	CHECK_EQ(jfx_assign(&f, "w2", 10, NULL), 1);
	wg_assignments_free(batch, 2);
	jfx_done(&f);
}

STORE_TEST(jobs_pick_worker_prefers_one_holding_the_program)
{
	struct jfx f = {0};
	jfx_open(&f);
	const char *names[2] = {"fresh", "warm"};
	uint32_t free_slots[2] = {8, 2};
	size_t chosen = 99;
	CHECK_EQ(wg_jobs_pick_worker(f.j, names, free_slots, 2, &chosen), WG_ENOTFOUND);
	jfx_submit(&f, 10, NULL);
	CHECK_EQ(wg_jobs_pick_worker(f.j, names, free_slots, 2, &chosen), 0);
	CHECK_EQ(chosen, 0); /* nobody holds it: the most free slots */
	struct wg_assignment *batch;
	CHECK_EQ(jfx_assign(&f, "warm", 1, &batch), 1);
	CHECK(!wg_jobs_worker_has_program(f.j, "warm", JFX_HASH));
	CHECK_EQ(wg_jobs_started(f.j, "warm", batch[0].attempt_id, 1000, NULL), 0);
	CHECK(wg_jobs_worker_has_program(f.j, "warm", JFX_HASH));
	CHECK_EQ(wg_jobs_pick_worker(f.j, names, free_slots, 2, &chosen), 0);
	CHECK_EQ(chosen, 1);
	wg_assignments_free(batch, 1);
	/* Remembered across a restart. */
	jfx_close(&f);
	jfx_open(&f);
	CHECK(wg_jobs_worker_has_program(f.j, "warm", JFX_HASH));
	jfx_done(&f);
}

STORE_TEST(jobs_program_put_and_read_in_chunks)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint8_t prog[10000];
	for (size_t i = 0; i < sizeof prog; i++)
		prog[i] = (uint8_t)(i * 7);
	char hash[65];
	CHECK_EQ(wg_jobs_program_put(f.j, prog, sizeof prog, hash), 0);
	uint8_t digest[32];
	char expect[65];
	crypto_generichash(digest, sizeof digest, prog, sizeof prog, NULL, 0);
	wg_hex_encode(digest, sizeof digest, expect);
	CHECK_STREQ(hash, expect);
	char again[65];
	CHECK_EQ(wg_jobs_program_put(f.j, prog, sizeof prog, again), 0);
	CHECK_STREQ(hash, again);
	uint8_t back[sizeof prog], chunk[4096];
	uint64_t off = 0, total = 0;
	while (off < sizeof prog) {
		size_t n;
		CHECK_EQ(wg_jobs_program_read(f.j, hash, off, chunk, sizeof chunk, &n, &total), 0);
		CHECK(n > 0);
		memcpy(back + off, chunk, n);
		off += n;
	}
	CHECK_EQ(total, sizeof prog);
	CHECK(memcmp(back, prog, sizeof prog) == 0);
	size_t n;
	CHECK_EQ(wg_jobs_program_read(f.j, hash, sizeof prog + 1, chunk, 10, &n, &total),
		 WG_EINVAL);
	/* Hashes are hex in either case; they are stored in lower case. */
	char upper[65];
	for (int i = 0; i < 65; i++)
		upper[i] = (char)(hash[i] >= 'a' && hash[i] <= 'f' ? hash[i] - 'a' + 'A' : hash[i]);
	CHECK_EQ(wg_jobs_program_read(f.j, upper, 0, chunk, 10, &n, &total), 0);
	CHECK_EQ(n, 10);
	const char *addr = "wasmgrid://node/x";
	struct wg_jobs_arg arg = {(const uint8_t *)"a", 1};
	uint64_t id;
	CHECK_EQ(wg_jobs_submit(f.j, upper, &addr, 1, NULL, &arg, 1, &id), 0);
	struct wg_job_info info;
	CHECK_EQ(wg_jobs_status(f.j, id, &info), 0);
	CHECK_STREQ(info.program_hash, hash);
	/* A job naming an external program does not make its bytes readable here. */
	jfx_submit(&f, 1, NULL);
	CHECK_EQ(wg_jobs_program_read(f.j, JFX_HASH, 0, chunk, 10, &n, &total), WG_ENOTFOUND);
	jfx_done(&f);
}

struct collected {
	uint32_t indexes[16];
	int n;
};

static int collect_index(const struct wg_task_result *r, void *user)
{
	struct collected *c = user;
	c->indexes[c->n++] = r->index;
	return 0;
}

STORE_TEST(jobs_results_page_in_index_order)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t id = jfx_submit(&f, 12, NULL);
	struct collected c = {0};
	CHECK_EQ(wg_jobs_results(f.j, id, 5, 4, collect_index, &c), 0);
	CHECK_EQ(c.n, 4);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(c.indexes[i], 5 + i);
	c.n = 0;
	CHECK_EQ(wg_jobs_results(f.j, id, 10, 0, collect_index, &c), 0);
	CHECK_EQ(c.n, 2);
	CHECK_EQ(wg_jobs_results(f.j, id + 1, 0, 0, collect_index, &c), WG_ENOTFOUND);
	jfx_done(&f);
}

/* Results in the order tasks ended, after a cursor: what `results --follow` reads. */
STORE_TEST(jobs_results_after_a_cursor_come_in_the_order_tasks_ended)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.max_failures = 0;
	uint64_t id = jfx_submit(&f, 4, &o);
	enum wg_job_state state;
	uint64_t last = 99;
	CHECK_EQ(wg_jobs_progress(f.j, id, &state, &last), 0);
	CHECK_EQ(last, 0);
	struct wg_assignment *a = NULL;
	CHECK_EQ(jfx_assign(&f, "w1", 4, &a), 4);
	CHECK(jfx_complete(&f, "w1", a[3].attempt_id, "3"));
	CHECK_EQ(wg_jobs_error(f.j, "w1", a[1].attempt_id, 3, "no", NULL, 0, 0, NULL), 0);
	CHECK(jfx_complete(&f, "w1", a[2].attempt_id, "2"));
	struct collected c = {0};
	CHECK_EQ(wg_jobs_results_after(f.j, id, 0, 0, collect_index, &c), 0);
	CHECK_EQ(c.n, 3);
	CHECK_EQ(c.indexes[0], 3);
	CHECK_EQ(c.indexes[1], 1);
	CHECK_EQ(c.indexes[2], 2);
	c.n = 0;
	CHECK_EQ(wg_jobs_results_after(f.j, id, 1, 1, collect_index, &c), 0);
	CHECK_EQ(c.n, 1);
	CHECK_EQ(c.indexes[0], 1);
	CHECK_EQ(wg_jobs_progress(f.j, id, &state, &last), 0);
	CHECK_EQ(last, 3);
	/* The last task ends; the failed one, retried, ends again with a new number. */
	CHECK(jfx_complete(&f, "w1", a[0].attempt_id, "0"));
	wg_assignments_free(a, 4);
	uint64_t n = 0;
	CHECK_EQ(wg_jobs_retry(f.j, id, &n), 0);
	bool more = true;
	while (more)
		CHECK_EQ(wg_jobs_sweep(f.j, 100, &more), 0);
	CHECK_EQ(jfx_assign(&f, "w1", 4, &a), 1);
	CHECK(jfx_complete(&f, "w1", a[0].attempt_id, "1"));
	wg_assignments_free(a, 1);
	c.n = 0;
	CHECK_EQ(wg_jobs_results_after(f.j, id, 3, 0, collect_index, &c), 0);
	CHECK_EQ(c.n, 2);
	CHECK_EQ(c.indexes[0], 0);
	CHECK_EQ(c.indexes[1], 1);
	CHECK_EQ(wg_jobs_progress(f.j, id, &state, &last), 0);
	CHECK_EQ(state, WG_JOB_COMPLETED);
	CHECK_EQ(last, 5);
	CHECK_EQ(wg_jobs_results_after(f.j, id + 1, 0, 0, collect_index, &c), WG_ENOTFOUND);
	jfx_done(&f);
}

STORE_TEST(jobs_list_and_metrics_count_jobs_and_tasks)
{
	struct jfx f = {0};
	jfx_open(&f);
	uint64_t a = jfx_submit(&f, 3, NULL);
	uint64_t b = jfx_submit(&f, 2, NULL);
	struct wg_assignment *batch;
	CHECK_EQ(jfx_assign(&f, "w1", 2, &batch), 2);
	CHECK(jfx_complete(&f, "w1", batch[0].attempt_id, "r"));
	wg_assignments_free(batch, 2);
	struct wg_job_info *list;
	size_t n;
	CHECK_EQ(wg_jobs_list(f.j, NULL, &list, &n), 0);
	CHECK_EQ(n, 2);
	CHECK_EQ(list[0].id, b); /* newest first */
	CHECK_EQ(list[1].id, a);
	CHECK_EQ(list[1].counts[WG_TASK_COMPLETED], 1);
	CHECK_EQ(list[1].counts[WG_TASK_RUNNING], 1);
	CHECK_EQ(list[1].counts[WG_TASK_QUEUED], 1);
	free(list);
	/* A filter by state and a limit: the newest first. */
	struct wg_job_options named;
	wg_job_options_init(&named);
	snprintf(named.name, sizeof named.name, "sweep \xc3\xa9");
	uint64_t c = jfx_submit(&f, 0, &named); /* no task: completed at once */
	CHECK_EQ(wg_jobs_list(f.j, &(struct wg_jobs_filter){.states = 1u << WG_JOB_COMPLETED},
			      &list, &n),
		 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(list[0].id, c);
	CHECK_STREQ(list[0].options.name, "sweep \xc3\xa9");
	free(list);
	CHECK_EQ(wg_jobs_list(f.j,
			      &(struct wg_jobs_filter){.states = 1u << WG_JOB_RUNNING, .limit = 1},
			      &list, &n),
		 0);
	CHECK_EQ(n, 1);
	CHECK_EQ(list[0].id, b);
	CHECK_STREQ(list[0].options.name, "");
	free(list);
	struct wg_jobs_metrics m;
	CHECK_EQ(wg_jobs_metrics(f.j, &m), 0);
	CHECK_EQ(m.jobs[WG_JOB_RUNNING], 2);
	CHECK_EQ(m.tasks[WG_TASK_QUEUED], 3);
	CHECK_EQ(m.tasks[WG_TASK_COMPLETED], 1);
	CHECK_EQ(m.attempts_in_flight, 1);
	CHECK_EQ(m.assigned, 2);
	CHECK_EQ(m.results, 1);
	jfx_done(&f);
}

TEST(jobs_corrupted_or_unwritable_db_is_a_clear_error)
{
	char *garbage = wg_path_join(wg_test_tmpdir(), "garbage.db");
	char junk[8192];
	memset(junk, 'x', sizeof junk);
	CHECK_EQ(wg_write_file_atomic(garbage, junk, sizeof junk, 0600), 0);
	struct wg_jobs *j = NULL;
	char why[1024];
	CHECK_EQ(wg_jobs_open(garbage, NULL, &j, why, sizeof why), WG_EDB);
	CHECK(j == NULL);
	CHECK_CONTAINS(why, garbage);
	CHECK_CONTAINS(why, "not a database");

	/* A path below a regular file can never be created, even by root. */
	char *below = wg_path_join(garbage, "manager.db");
	CHECK_EQ(wg_jobs_open(below, NULL, &j, why, sizeof why), WG_EDB);
	CHECK_CONTAINS(why, below);
	CHECK_CONTAINS(why, "unable to open");

	/* A database of another program (or another schema version) is refused too. */
	char *foreign = wg_path_join(wg_test_tmpdir(), "foreign.db");
	struct jfx f = {0};
	jfx_open(&f);
	jfx_close(&f);
	CHECK_EQ(rename(f.path, foreign), 0);
	free(f.path);
	char *cmd = NULL;
	CHECK(asprintf(&cmd, "sqlite3 '%s' 'PRAGMA user_version=99'", foreign) > 0);
	CHECK_EQ(system(cmd), 0);
	free(cmd);
	CHECK_EQ(wg_jobs_open(foreign, NULL, &j, why, sizeof why), WG_EDB);
	CHECK_CONTAINS(why, "schema version 99");
	free(foreign);
	free(below);
	free(garbage);
	jfx_leak_check();
}

STORE_TEST(jobs_second_manager_on_the_same_database_is_refused)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_jobs *second = NULL;
	char why[1024];
	CHECK_EQ(wg_jobs_open(f.path, NULL, &second, why, sizeof why), WG_EDB);
	CHECK(second == NULL);
	CHECK_CONTAINS(why, "locked");
	/* Once the first one is gone, the database opens again. */
	jfx_close(&f);
	jfx_open(&f);
	jfx_done(&f);
}

/* The counts a job's status shows, checked against a count of its tasks by state (what the
 * core read before it kept counters: a walk of every task on every status request). */
static void check_counts_match(struct jfx *f, uint64_t job)
{
	struct wg_job_info ji;
	CHECK_EQ(wg_jobs_status(f->j, job, &ji), 0);
	uint64_t want[WG_TASK_STATE_COUNT] = {0};
	for (int s = 0; s < WG_TASK_STATE_COUNT; s++) {
		char sql[128];
		snprintf(sql, sizeof sql,
			 "SELECT count(*) FROM tasks WHERE job_id = %llu AND state = %d",
			 (unsigned long long)job, s);
		want[s] = (uint64_t)jfx_query(f, sql);
	}
	if (ji.state == WG_JOB_CANCELLED) {
		want[WG_TASK_CANCELLED] += want[WG_TASK_QUEUED] + want[WG_TASK_RUNNING];
		want[WG_TASK_QUEUED] = want[WG_TASK_RUNNING] = 0;
	}
	for (int s = 0; s < WG_TASK_STATE_COUNT; s++)
		CHECK_MSG(ji.counts[s] == want[s], "job %llu: %llu tasks %s, the tasks say %llu",
			  (unsigned long long)job, (unsigned long long)ji.counts[s],
			  wg_task_state_name((enum wg_task_state)s), (unsigned long long)want[s]);
}

STORE_TEST(jobs_status_counts_agree_with_the_tasks_through_failures_retry_and_cancel)
{
	struct jfx f = {0};
	jfx_open(&f);
	struct wg_job_options o;
	wg_job_options_init(&o);
	o.max_failures = 0;
	uint64_t job = jfx_submit(&f, 10, &o);
	check_counts_match(&f, job);
	struct wg_assignment *a = NULL;
	size_t n = jfx_assign(&f, "w1", 6, &a);
	CHECK_EQ(n, 6);
	check_counts_match(&f, job); /* 6 running, 4 queued */
	for (size_t i = 0; i < 3; i++)
		CHECK(jfx_complete(&f, "w1", a[i].attempt_id, "ok"));
	for (size_t i = 3; i < 5; i++)
		CHECK_EQ(wg_jobs_error(f.j, "w1", a[i].attempt_id,
				       WASMGRID__ERROR_KIND__RUNNING_ERROR, "trap", NULL, 0, 0,
				       NULL),
			 0);
	check_counts_match(&f, job); /* 3 completed, 2 failed, 1 running, 4 queued */
	wg_assignments_free(a, n);
	uint64_t retried = 0;
	CHECK_EQ(wg_jobs_retry(f.j, job, &retried), 0);
	CHECK_EQ(retried, 2);
	bool more = true;
	while (more)
		CHECK_EQ(wg_jobs_sweep(f.j, 100, &more), 0);
	check_counts_match(&f, job); /* the failed ones queued again */
	n = jfx_assign(&f, "w2", 2, &a);
	CHECK_EQ(n, 2);
	CHECK(jfx_complete(&f, "w2", a[0].attempt_id, "ok"));
	wg_assignments_free(a, n);
	check_counts_match(&f, job);
	CHECK_EQ(wg_jobs_cancel(f.j, job, NULL), 0);
	check_counts_match(&f, job); /* cancelled, before and after the sweep reaches them */
	more = true;
	while (more)
		CHECK_EQ(wg_jobs_sweep(f.j, 100, &more), 0);
	check_counts_match(&f, job);
	/* A job that ends by itself. */
	uint64_t done = jfx_submit(&f, 3, NULL);
	n = jfx_assign(&f, "w1", 3, &a);
	for (size_t i = 0; i < n; i++)
		CHECK(jfx_complete(&f, "w1", a[i].attempt_id, "ok"));
	wg_assignments_free(a, n);
	check_counts_match(&f, done);
	/* /metrics: the same counts, over every job (a third one still running). */
	uint64_t open = jfx_submit(&f, 4, NULL);
	n = jfx_assign(&f, "w1", 1, &a);
	wg_assignments_free(a, n);
	check_counts_match(&f, open);
	struct wg_jobs_metrics m;
	CHECK_EQ(wg_jobs_metrics(f.j, &m), 0);
	uint64_t ids[] = {job, done, open};
	for (int s = 0; s < WG_TASK_STATE_COUNT; s++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < 3; i++) {
			struct wg_job_info ji;
			CHECK_EQ(wg_jobs_status(f.j, ids[i], &ji), 0);
			sum += ji.counts[s];
		}
		CHECK_MSG(m.tasks[s] == sum, "/metrics says %llu tasks %s, the jobs %llu",
			  (unsigned long long)m.tasks[s], wg_task_state_name((enum wg_task_state)s),
			  (unsigned long long)sum);
	}
	jfx_done(&f);
}
