/* Runners: one process serving many tasks of a program, each in a fresh instance. These
 * tests run several tasks through one engine, in turn, and check both each outcome and,
 * through the statistics, which runner process served it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine_helpers.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "wasmgrid.pb-c.h"

struct seq {
	uv_loop_t loop;
	struct wg_engine *engine;
	uint64_t next_id;
};

static void seq_open_idle(struct seq *s, uint32_t runner_idle_ms)
{
	memset(s, 0, sizeof *s);
	uv_loop_init(&s->loop);
	struct wg_engine_options o = {.data_dir = test_shared_data_dir(),
				      .runner_idle_ms = runner_idle_ms};
	CHECK(wg_engine_create(&s->loop, &o, &s->engine) == 0);
	s->next_id = 1;
}

static void seq_open(struct seq *s)
{
	seq_open_idle(s, 0);
}

static void seq_close(struct seq *s)
{
	wg_engine_free(s->engine);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	CHECK(uv_loop_close(&s->loop) == 0);
}

/* Runs one task of program NAME to its end; the engine's idle runners do not keep the
 * loop running, so uv_run returns once the task is done. */
static void seq_run(struct seq *s, const char *name, const char *arg, uint32_t timeout_ms,
		    uint64_t memory_bytes, uint64_t seed, struct task_result *r)
{
	char *path = test_program_path(name);
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, arg, arg ? strlen(arg) : 0);
	t.task_id = s->next_id++;
	t.timeout_ms = timeout_ms;
	t.memory_bytes = memory_bytes;
	t.random_seed = seed;
	memset(r, 0, sizeof *r);
	CHECK(wg_engine_submit(s->engine, &t, test_on_started, test_on_done, r) == 0);
	uv_run(&s->loop, UV_RUN_DEFAULT);
	CHECK_EQ(r->done, 1);
	wg_buf_cstr(&r->out);
	wg_buf_cstr(&r->err);
	free(path);
}

static uint64_t runners_started(struct seq *s)
{
	struct wg_engine_stats st;
	wg_engine_get_stats(s->engine, &st);
	return st.runners_started;
}

TEST_SLOW(runner_serves_many_tasks_each_in_a_fresh_instance, 120)
{
	struct seq s;
	seq_open(&s);
	for (int i = 0; i < 50; i++) {
		struct task_result r;
		seq_run(&s, "t_state", NULL, 20000, 0, 0, &r);
		CHECK_MSG(r.kind == 0, "task %d: kind %d: %s", i, r.kind, r.detail);
		CHECK_STREQ((char *)r.out.data, "1 clean\n");
		CHECK_EQ(r.started, 1);
		test_result_free(&r);
	}
	CHECK_EQ(runners_started(&s), 1);
	struct wg_engine_stats st;
	wg_engine_get_stats(s.engine, &st);
	CHECK_EQ(st.tasks_run, 50);
	CHECK_EQ(st.tasks_running, 0);
	seq_close(&s);
}

TEST_SLOW(runner_gives_the_same_random_bytes_for_a_seed_when_reused, 120)
{
	struct seq s;
	seq_open(&s);
	struct task_result a, b, c, d;
	seq_run(&s, "t_random", NULL, 20000, 0, 7, &a);
	seq_run(&s, "t_random", NULL, 20000, 0, 8, &b);
	seq_run(&s, "t_random", NULL, 20000, 0, 7, &c);
	seq_run(&s, "t_random", NULL, 20000, 0, 8, &d);
	CHECK_EQ(a.kind, 0);
	CHECK_EQ(a.out.len, 129);
	CHECK_STREQ((char *)a.out.data, (char *)c.out.data);
	CHECK_STREQ((char *)b.out.data, (char *)d.out.data);
	CHECK(strcmp((char *)a.out.data, (char *)b.out.data) != 0);
	CHECK_EQ(runners_started(&s), 1);
	test_result_free(&a);
	test_result_free(&b);
	test_result_free(&c);
	test_result_free(&d);
	seq_close(&s);
}

TEST_SLOW(runner_trap_or_exit_in_one_task_does_not_affect_the_next, 120)
{
	struct seq s;
	seq_open(&s);
	static const char *const traps[] = {"div", "oob", "recurse", "unreachable"};
	for (size_t i = 0; i < sizeof traps / sizeof traps[0]; i++) {
		struct task_result r;
		seq_run(&s, "t_trap", traps[i], 20000, 0, 0, &r);
		CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RUNNING_ERROR);
		CHECK_CONTAINS(r.detail, "trap: ");
		test_result_free(&r);
		seq_run(&s, "t_trap", "none", 20000, 0, 0, &r);
		CHECK_MSG(r.kind == 0, "after %s: kind %d: %s", traps[i], r.kind, r.detail);
		CHECK_STREQ((char *)r.out.data, "no trap for 'none'\n");
		test_result_free(&r);
	}
	CHECK_EQ(runners_started(&s), 1);

	/* proc_exit leaves the instance early; the runner goes on. */
	struct task_result r;
	seq_run(&s, "t_exit", "3", 20000, 0, 0, &r);
	CHECK_STREQ(r.detail, "exit status 3");
	CHECK_STREQ((char *)r.err.data, "exiting with status 3\n");
	test_result_free(&r);
	seq_run(&s, "t_exit", "0", 20000, 0, 0, &r);
	CHECK_EQ(r.kind, 0);
	CHECK_STREQ((char *)r.out.data, "partial output\n");
	CHECK_STREQ((char *)r.err.data, "exiting with status 0\n");
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 2);
	seq_close(&s);
}

TEST_SLOW(runner_killed_by_a_timeout_is_replaced_and_the_next_task_succeeds, 120)
{
	struct seq s;
	seq_open(&s);
	struct task_result r;
	seq_run(&s, "t_slow", "1", 20000, 0, 0, &r);
	CHECK_EQ(r.kind, 0);
	test_result_free(&r);
	seq_run(&s, "t_slow", "600000", 300, 0, 0, &r);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__TIMED_OUT);
	CHECK_STREQ(r.detail, "timed out after 300 ms");
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 1);
	seq_run(&s, "t_slow", "2", 20000, 0, 0, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	CHECK_STREQ((char *)r.out.data, "slept 2\n");
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 2);
	seq_close(&s);
}

struct abort_ctx {
	struct wg_engine *engine;
	struct task_result result;
};

static void abort_on_start(void *user, uint64_t task_id, uint64_t unix_ms)
{
	struct abort_ctx *c = user;
	c->result.started++;
	CHECK_EQ(wg_engine_abort(c->engine, task_id), 0);
}

static void abort_done(void *user, uint64_t task_id, const struct wg_engine_outcome *o)
{
	struct abort_ctx *c = user;
	test_on_done(&c->result, task_id, o);
}

TEST_SLOW(runner_abort_of_a_task_in_a_reused_runner, 120)
{
	struct seq s;
	seq_open(&s);
	struct task_result r;
	seq_run(&s, "t_slow", "1", 20000, 0, 0, &r);
	CHECK_EQ(r.kind, 0);
	test_result_free(&r);

	char *path = test_program_path("t_slow");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	struct wg_engine_task t = test_task(addresses, hash, "600000", 6);
	t.task_id = 99;
	t.timeout_ms = 0; /* only the abort can end it */
	struct abort_ctx c;
	memset(&c, 0, sizeof c);
	c.engine = s.engine;
	CHECK(wg_engine_submit(s.engine, &t, abort_on_start, abort_done, &c) == 0);
	uv_run(&s.loop, UV_RUN_DEFAULT);
	CHECK_EQ(c.result.started, 1);
	CHECK_EQ(c.result.done, 1);
	CHECK_EQ(c.result.kind, WASMGRID__ERROR_KIND__ABORTED);
	test_result_free(&c.result);
	CHECK_EQ(runners_started(&s), 1); /* the aborted task ran in the reused runner */

	seq_run(&s, "t_slow", "3", 20000, 0, 0, &r);
	CHECK_MSG(r.kind == 0, "kind %d: %s", r.kind, r.detail);
	CHECK_STREQ((char *)r.out.data, "slept 3\n");
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 2);
	free(path);
	seq_close(&s);
}

TEST_SLOW(runner_output_flood_ends_the_task_and_the_runner_serves_the_next, 120)
{
	struct seq s;
	seq_open(&s);
	struct task_result r;
	char *path = test_program_path("t_echo");
	char hash[65];
	test_program_hash(path, hash);
	const char *addresses[] = {path};
	/* 300 KB echoed against a 100 KB limit: the runner stops the instance itself. */
	size_t len = 300000;
	char *arg = wg_malloc(len + 1);
	memset(arg, 'z', len);
	arg[len] = 0;
	struct wg_engine_task t = test_task(addresses, hash, arg, len);
	t.result_bytes = 100000;
	memset(&r, 0, sizeof r);
	CHECK(wg_engine_submit(s.engine, &t, NULL, test_on_done, &r) == 0);
	uv_run(&s.loop, UV_RUN_DEFAULT);
	CHECK_EQ(r.kind, WASMGRID__ERROR_KIND__RESOURCE_LIMIT);
	CHECK_CONTAINS(r.detail, "output exceeds the result limit of 100000 bytes");
	test_result_free(&r);
	t.task_id = 2;
	t.argument_len = 5;
	memset(&r, 0, sizeof r);
	CHECK(wg_engine_submit(s.engine, &t, NULL, test_on_done, &r) == 0);
	uv_run(&s.loop, UV_RUN_DEFAULT);
	CHECK_EQ(r.kind, 0);
	CHECK_STREQ(wg_buf_cstr(&r.out), "zzzzz");
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 1);
	free(arg);
	free(path);
	seq_close(&s);
}

TEST_SLOW(runner_for_a_larger_memory_limit_is_a_separate_process, 120)
{
	struct seq s;
	seq_open(&s);
	struct task_result r;
	seq_run(&s, "t_state", NULL, 20000, 32u << 20, 0, &r);
	CHECK_EQ(r.kind, 0);
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 1);
	/* Over the default (256 MiB) the runner's address-space limit no longer fits. */
	seq_run(&s, "t_state", NULL, 20000, 512u << 20, 0, &r);
	CHECK_EQ(r.kind, 0);
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 2);
	/* A small limit fits in either: no third runner. */
	seq_run(&s, "t_state", NULL, 20000, 16u << 20, 0, &r);
	CHECK_EQ(r.kind, 0);
	CHECK_STREQ((char *)r.out.data, "1 clean\n");
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 2);
	seq_close(&s);
}

/* Live (not zombie) child processes of this test process. */
static int live_children(void)
{
	struct wg_test_child c[256];
	return (int)wg_test_children(getpid(), c, sizeof c / sizeof c[0]);
}

static void on_wait(uv_timer_t *h)
{
}

TEST_SLOW(runner_idle_past_its_expiry_exits_and_a_new_one_serves_later_tasks, 120)
{
	struct seq s;
	seq_open_idle(&s, 200);
	struct task_result r;
	seq_run(&s, "t_state", NULL, 20000, 0, 0, &r);
	CHECK_EQ(r.kind, 0);
	test_result_free(&r);
	CHECK_EQ(live_children(), 1); /* the idle runner */
	/* Keep the loop running past the expiry, so the killed runner is also reaped. */
	uv_timer_t wait;
	uv_timer_init(&s.loop, &wait);
	uv_timer_start(&wait, on_wait, 1000, 0);
	uv_run(&s.loop, UV_RUN_DEFAULT);
	CHECK_EQ(live_children(), 0);
	seq_run(&s, "t_state", NULL, 20000, 0, 0, &r);
	CHECK_EQ(r.kind, 0);
	CHECK_STREQ((char *)r.out.data, "1 clean\n");
	test_result_free(&r);
	CHECK_EQ(runners_started(&s), 2);
	CHECK_EQ(live_children(), 1);
	uv_close((uv_handle_t *)&wait, NULL);
	seq_close(&s);
	CHECK_EQ(live_children(), 0); /* wg_engine_free ended the idle runner */
}
