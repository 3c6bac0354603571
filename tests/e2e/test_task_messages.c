/* The task rows of PROTOCOL.md (TasksExecute, TasksPing, TasksAbort, TaskStarted,
 * TaskError, TaskCompleted, and NotMine for them), each checked against a real daemon over
 * a real connection. The test process plays the other side with the real link and rpc
 * layers (tests/e2e/fake_node.h): a manager for a real `wasmgrid worker`, a worker for a
 * real `wasmgrid manager`, or a stranger to either. Names: rule_<message>_<the rule>. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "e2e/fake_node.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "node/peer.h"
#include "util/buf.h"
#include "util/fs.h"
#include "util/time.h"

/* Long enough for a program's first compilation (wasm2c and cc) on a loaded machine. */
#define RUN_MS 60000

#define BODY(name) WASMGRID__FRAME__BODY_##name
#define STATE(name) WASMGRID__TASK_STATE__##name

/* The test as a manager: it listens, a real worker started with --manager to it connects
 * and attaches. opt and value: one more worker option, or NULL. */
static pid_t worker_of_fake(struct fake_node *f, const char *slots, const char *opt,
			    const char *value)
{
	char addr[64];
	fake_init(f, WG_NODE_MANAGER);
	fake_listen(f);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", f->port);
	pid_t w = e2e_worker_start("w", addr, "--slots", slots, opt, value, NULL);
	CHECK_MSG(fake_wait_attached(f, 15000), "the worker never attached to the test");
	return w;
}

/* Hangs up first, so that the worker has no manager to say ManagerBye to, then stops it:
 * it must exit cleanly whatever the test left running. */
static void stop_worker(struct fake_node *f, pid_t w)
{
	fake_free(f);
	int status = wg_test_stop(w, SIGTERM, 10000);
	CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker exit status %d", status);
}

static struct fake_msg *wait_report(struct fake_node *f, wg_body_case kind, uint64_t task)
{
	struct fake_msg *m = fake_wait_msg(f, kind, task, 0, RUN_MS);
	CHECK_MSG(m, "no %s for task %llu", wg_body_name(kind), (unsigned long long)task);
	return m;
}

/* The worker's final report for a task, whichever it is. */
static bool final_report_of(struct fake_node *f, uint64_t task)
{
	return fake_find(f, BODY(TASK_COMPLETED), task, 0) ||
	       fake_find(f, BODY(TASK_ERROR), task, 0);
}

/* ---- TasksExecute, TaskStarted, TaskCompleted ---- */

TEST_SLOW(rule_tasks_execute_acked_then_task_started_and_task_completed_with_the_result, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	struct fake_answer a;
	uint64_t before = wg_unix_ms();
	struct fake_task t = {.id = 7, .program = "increment", .argument = "41"};
	fake_execute(&f, &t, 1, &a);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(a.kind, BODY(ACK));
	struct fake_msg *done = wait_report(&f, BODY(TASK_COMPLETED), 7);
	CHECK_EQ(done->result.len, 3);
	CHECK(!memcmp(done->result.data, "42\n", 3));
	/* TaskStarted came first, dated in Unix milliseconds between our request and now. */
	struct fake_msg *started = fake_find(&f, BODY(TASK_STARTED), 7, 0);
	CHECK(started);
	CHECK(started->rpc_id < done->rpc_id);
	CHECK(started->datetime >= before - 1000);
	CHECK(started->datetime <= wg_unix_ms() + 1000);
	/* The test answered both with Ack; nothing else about the task follows. */
	CHECK(started->answered && done->answered);
	CHECK(!fake_find(&f, BODY(TASK_ERROR), 7, 0));
	stop_worker(&f, w);
}

/* ---- TaskError: the right kind for each way a task fails ---- */

static struct fake_msg *run_failing(struct fake_node *f, const struct fake_task *t)
{
	struct fake_answer a;
	fake_execute(f, t, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	struct fake_msg *e = wait_report(f, BODY(TASK_ERROR), t->id);
	CHECK(!fake_find(f, BODY(TASK_COMPLETED), t->id, 0));
	return e;
}

TEST_SLOW(rule_task_error_running_error_for_a_nonzero_exit_with_stderr_tail, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	struct fake_task t = {.id = 3, .program = "t_exit", .argument = "3"};
	struct fake_msg *e = run_failing(&f, &t);
	CHECK_EQ(e->error, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	CHECK_CONTAINS(wg_buf_cstr(&e->stderr_tail), "exiting with status 3");
	CHECK(fake_find(&f, BODY(TASK_STARTED), 3, 0));
	stop_worker(&f, w);
}

TEST_SLOW(rule_task_error_timed_out_past_the_tasks_timeout, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	struct fake_task t = {
	    .id = 4, .program = "t_slow", .argument = "600000", .timeout_ms = 500};
	struct fake_msg *e = run_failing(&f, &t);
	CHECK_EQ(e->error, WASMGRID__ERROR_KIND__TIMED_OUT);
	CHECK_EQ(e2e_children(w), 0);
	stop_worker(&f, w);
}

TEST_SLOW(rule_task_error_download_error_when_the_hash_does_not_match, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	char other[65];
	fake_program_hash("t_exit", other);
	struct fake_task t = {.id = 5, .program = "increment", .argument = "1", .hash = other};
	struct fake_msg *e = run_failing(&f, &t);
	CHECK_EQ(e->error, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR);
	stop_worker(&f, w);
}

TEST_SLOW(rule_task_error_invalid_program_for_bytes_that_are_not_webassembly, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	/* The hash is right: only the content is wrong. */
	const char *path = wg_test_path("not.wasm");
	CHECK_EQ(wg_write_file_atomic(path, "not a module", 12, 0644), 0);
	char hash[65];
	fake_program_hash(path, hash);
	struct fake_task t = {.id = 6, .program = path, .argument = "1", .hash = hash};
	struct fake_msg *e = run_failing(&f, &t);
	CHECK_EQ(e->error, WASMGRID__ERROR_KIND__INVALID_PROGRAM);
	stop_worker(&f, w);
}

TEST_SLOW(rule_task_error_resource_limit_for_output_over_the_result_limit, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	/* t_flood writes to stdout forever; the result limit is 1 MiB. */
	struct fake_task t = {.id = 11, .program = "t_flood"};
	struct fake_msg *e = run_failing(&f, &t);
	CHECK_EQ(e->error, WASMGRID__ERROR_KIND__RESOURCE_LIMIT);
	stop_worker(&f, w);
}

TEST_SLOW(rule_task_error_carries_only_the_last_4_kib_of_stderr, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	/* t_errflood writes "line 000000" to "line 009999" on stderr, then exits 1. */
	struct fake_task t = {.id = 12, .program = "t_errflood"};
	struct fake_msg *e = run_failing(&f, &t);
	CHECK_EQ(e->error, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	CHECK(e->stderr_tail.len > 0 && e->stderr_tail.len <= 4096);
	const char *tail = wg_buf_cstr(&e->stderr_tail);
	CHECK_CONTAINS(tail, "line 009999\n");
	CHECK(!strstr(tail, "line 000000"));
	stop_worker(&f, w);
}

/* ---- TasksPing ---- */

TEST_SLOW(rule_tasks_ping_answers_an_entry_for_every_asked_task, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	f.hold_final_reports = true;
	struct fake_answer a;
	/* Task 1 finishes, and its TaskCompleted stays unacknowledged. */
	struct fake_task done = {.id = 1, .program = "increment", .argument = "41"};
	fake_execute(&f, &done, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	struct fake_msg *completed = wait_report(&f, BODY(TASK_COMPLETED), 1);
	/* Task 2 runs in the only slot, task 3 waits for it. */
	struct fake_task slow[2] = {
	    {.id = 2, .program = "t_slow", .argument = "600000"},
	    {.id = 3, .program = "t_slow", .argument = "600000"},
	};
	fake_execute(&f, slow, 2, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	struct fake_msg *started = wait_report(&f, BODY(TASK_STARTED), 2);
	/* Asked in an order of our own, with an id the worker never saw. */
	uint64_t ids[] = {999, 3, 1, 2};
	fake_ping(&f, ids, 4, &a);
	CHECK_EQ(a.kind, BODY(TASKS_PONG));
	CHECK_EQ(a.n, 4);
	const struct fake_entry *e;
	CHECK((e = fake_entry_of(&a, 999)) && e->code == STATE(TASK_STATE_UNKNOWN));
	CHECK((e = fake_entry_of(&a, 3)) && e->code == STATE(PENDING));
	CHECK((e = fake_entry_of(&a, 1)) && e->code == STATE(COMPLETED));
	CHECK_STREQ(e->result, "42\n");
	CHECK((e = fake_entry_of(&a, 2)) && e->code == STATE(STARTED));
	CHECK_EQ(e->started_at_ms, started->datetime);
	/* Once acknowledged, the finished task is forgotten. */
	fake_ack(&f, completed);
	uint64_t one = 1;
	fake_ping(&f, &one, 1, &a);
	CHECK_EQ(a.n, 1);
	CHECK_EQ(a.entries[0].task_id, 1);
	CHECK_EQ(a.entries[0].code, STATE(TASK_STATE_UNKNOWN));
	stop_worker(&f, w);
}

TEST_SLOW(rule_tasks_ping_reports_an_unacknowledged_error_with_its_kind, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	f.hold_final_reports = true;
	struct fake_answer a;
	struct fake_task t = {.id = 8, .program = "t_exit", .argument = "3"};
	fake_execute(&f, &t, 1, &a);
	wait_report(&f, BODY(TASK_ERROR), 8);
	uint64_t id = 8;
	fake_ping(&f, &id, 1, &a);
	CHECK_EQ(a.n, 1);
	CHECK_EQ(a.entries[0].code, STATE(ERROR));
	CHECK_EQ(a.entries[0].error, WASMGRID__ERROR_KIND__RUNNING_ERROR);
	stop_worker(&f, w);
}

static bool started_reported(struct fake_node *f, void *arg)
{
	return fake_find(f, BODY(TASK_STARTED), *(uint64_t *)arg, 0) != NULL;
}

TEST_SLOW(rule_tasks_ping_started_only_with_its_start_time, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	struct fake_answer a;
	/* A program the worker has never seen: it is fetched and compiled before it starts,
	 * and until then it is pending, not started at some unknown time. */
	struct fake_task t = {.id = 9, .program = "t_slow", .argument = "600000"};
	fake_execute(&f, &t, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	uint64_t id = 9;
	int pings = 0;
	while (!started_reported(&f, &id)) {
		fake_ping(&f, &id, 1, &a);
		pings++;
		CHECK_EQ(a.n, 1);
		if (started_reported(&f, &id))
			break; /* the answer may have been sent after TaskStarted */
		CHECK_MSG(a.entries[0].code == STATE(PENDING) ||
			      (a.entries[0].code == STATE(STARTED) && a.entries[0].started_at_ms),
			  "ping %d: state %d started at %llu", pings, a.entries[0].code,
			  (unsigned long long)a.entries[0].started_at_ms);
		CHECK_MSG(pings < 2000, "the task never started");
		fake_run_until(&f, started_reported, &id, 20);
	}
	struct fake_msg *started = fake_find(&f, BODY(TASK_STARTED), 9, 0);
	fake_ping(&f, &id, 1, &a);
	CHECK_EQ(a.entries[0].code, STATE(STARTED));
	CHECK_EQ(a.entries[0].started_at_ms, started->datetime);
	stop_worker(&f, w);
}

/* ---- TasksAbort ---- */

static bool no_children(struct fake_node *f, void *arg)
{
	(void)f;
	return e2e_children(*(pid_t *)arg) == 0;
}

TEST_SLOW(rule_tasks_abort_kills_the_running_task_and_drops_the_pending_one, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	struct fake_answer a;
	struct fake_task slow[2] = {
	    {.id = 1, .program = "t_slow", .argument = "600000"},
	    {.id = 2, .program = "t_slow", .argument = "600000"},
	};
	fake_execute(&f, slow, 2, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	wait_report(&f, BODY(TASK_STARTED), 1);
	CHECK_EQ(e2e_children(w), 1);
	uint64_t ids[] = {1, 2};
	fake_abort(&f, ids, 2, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	CHECK_MSG(fake_run_until(&f, no_children, &w, 10000), "the sandbox outlived TasksAbort");
	fake_ping(&f, ids, 2, &a);
	CHECK_EQ(a.n, 2);
	CHECK_EQ(fake_entry_of(&a, 1)->code, STATE(TASK_STATE_UNKNOWN));
	CHECK_EQ(fake_entry_of(&a, 2)->code, STATE(TASK_STATE_UNKNOWN));
	/* The slot is free again: a new task runs to the end, and by then nothing has been
	 * said about the aborted ones. */
	struct fake_task next = {.id = 3, .program = "increment", .argument = "1"};
	fake_execute(&f, &next, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	wait_report(&f, BODY(TASK_COMPLETED), 3);
	CHECK(!final_report_of(&f, 1));
	CHECK(!final_report_of(&f, 2));
	CHECK(!fake_find(&f, BODY(TASK_STARTED), 2, 0));
	stop_worker(&f, w);
}

/* ---- TasksExecute refused ---- */

TEST_SLOW(rule_tasks_execute_beyond_slots_and_queue_refused_no_free_slot, 60)
{
	struct fake_node f;
	/* One slot and one queue place. */
	pid_t w = worker_of_fake(&f, "1", "--queue", "1");
	struct fake_answer a;
	struct fake_task t[4];
	for (int i = 0; i < 4; i++)
		t[i] = (struct fake_task){.id = 10 + i, .program = "t_slow", .argument = "600000"};
	fake_execute(&f, t, 4, &a);
	CHECK_EQ(a.kind, BODY(TASKS_REFUSED));
	CHECK_EQ(a.n, 2);
	for (uint64_t id = 12; id <= 13; id++) {
		const struct fake_entry *e = fake_entry_of(&a, id);
		CHECK_MSG(e, "task %llu is not named", (unsigned long long)id);
		CHECK_EQ(e->code, WASMGRID__REFUSE_REASON__NO_FREE_SLOT);
	}
	/* The tasks not named were taken. */
	uint64_t ids[] = {10, 11, 12, 13};
	fake_ping(&f, ids, 4, &a);
	CHECK(fake_entry_of(&a, 10)->code != STATE(TASK_STATE_UNKNOWN));
	CHECK(fake_entry_of(&a, 11)->code != STATE(TASK_STATE_UNKNOWN));
	CHECK_EQ(fake_entry_of(&a, 12)->code, STATE(TASK_STATE_UNKNOWN));
	CHECK_EQ(fake_entry_of(&a, 13)->code, STATE(TASK_STATE_UNKNOWN));
	stop_worker(&f, w);
}

TEST_SLOW(rule_tasks_execute_duplicate_task_id_refused_duplicate_task, 60)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "2", NULL, NULL);
	struct fake_answer a;
	struct fake_task first = {.id = 20, .program = "t_slow", .argument = "600000"};
	fake_execute(&f, &first, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	struct fake_task again[2] = {first, {.id = 21, .program = "t_slow", .argument = "600000"}};
	fake_execute(&f, again, 2, &a);
	CHECK_EQ(a.kind, BODY(TASKS_REFUSED));
	CHECK_EQ(a.n, 1);
	CHECK_EQ(a.entries[0].task_id, 20);
	CHECK_EQ(a.entries[0].code, WASMGRID__REFUSE_REASON__DUPLICATE_TASK);
	uint64_t id = 21;
	fake_ping(&f, &id, 1, &a);
	CHECK(a.entries[0].code != STATE(TASK_STATE_UNKNOWN));
	stop_worker(&f, w);
}

TEST_SLOW(rule_tasks_execute_unknown_program_kind_refused_unsupported, 60)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	struct fake_answer a;
	struct fake_task t = {
	    .id = 30, .program = "increment", .argument = "1", .unknown_kind = true};
	fake_execute(&f, &t, 1, &a);
	CHECK_EQ(a.kind, BODY(TASKS_REFUSED));
	CHECK_EQ(a.n, 1);
	CHECK_EQ(a.entries[0].task_id, 30);
	CHECK_EQ(a.entries[0].code, WASMGRID__REFUSE_REASON__UNSUPPORTED_PROGRAM_KIND);
	stop_worker(&f, w);
}

TEST_SLOW(rule_tasks_execute_memory_over_the_workers_limit_refused_over_limit, 60)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", "--memory", "64");
	struct fake_answer a;
	struct fake_task t[2] = {
	    {.id = 40, .program = "increment", .argument = "1", .memory_bytes = 1u << 30},
	    {.id = 41, .program = "increment", .argument = "1", .memory_bytes = 32u << 20},
	};
	fake_execute(&f, t, 2, &a);
	CHECK_EQ(a.kind, BODY(TASKS_REFUSED));
	CHECK_EQ(a.n, 1);
	CHECK_EQ(a.entries[0].task_id, 40);
	CHECK_EQ(a.entries[0].code, WASMGRID__REFUSE_REASON__OVER_LIMIT);
	struct fake_msg *done = wait_report(&f, BODY(TASK_COMPLETED), 41);
	CHECK_STREQ(wg_buf_cstr(&done->result), "2\n");
	stop_worker(&f, w);
}

/* ---- reports are kept until acknowledged ---- */

TEST_SLOW(rule_task_completed_sent_again_after_reconnection_until_acknowledged, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	f.hold_final_reports = true;
	struct fake_answer a;
	struct fake_task t = {.id = 50, .program = "increment", .argument = "99"};
	fake_execute(&f, &t, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	wait_report(&f, BODY(TASK_COMPLETED), 50);
	/* No answer, and the connection drops; the listener (same identity) stays. */
	int opened = f.opened;
	size_t seen = f.n_msgs;
	fake_hang_up(&f);
	CHECK_MSG(fake_wait_opened(&f, opened, 15000), "the worker did not come back");
	CHECK(fake_wait_attached(&f, 15000));
	struct fake_msg *again = fake_wait_msg(&f, BODY(TASK_COMPLETED), 50, seen, RUN_MS);
	CHECK_MSG(again, "the report was not sent again on the new connection");
	CHECK_EQ(again->connection, f.opened);
	CHECK_STREQ(wg_buf_cstr(&again->result), "100\n");
	fake_ack(&f, again);
	uint64_t id = 50;
	fake_ping(&f, &id, 1, &a);
	CHECK_EQ(a.entries[0].code, STATE(TASK_STATE_UNKNOWN));
	stop_worker(&f, w);
}

TEST_SLOW(rule_tasks_abort_of_an_unacknowledged_report_stops_it_being_sent_again, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	f.hold_final_reports = true;
	struct fake_answer a;
	struct fake_task t = {.id = 60, .program = "increment", .argument = "1"};
	fake_execute(&f, &t, 1, &a);
	wait_report(&f, BODY(TASK_COMPLETED), 60);
	uint64_t id = 60;
	fake_abort(&f, &id, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	fake_ping(&f, &id, 1, &a);
	CHECK_EQ(a.entries[0].code, STATE(TASK_STATE_UNKNOWN));
	/* Back on a new connection, the worker does not bring it up again: a new task's
	 * report arrives, the aborted one's does not. */
	int opened = f.opened;
	size_t seen = f.n_msgs;
	fake_hang_up(&f);
	CHECK(fake_wait_opened(&f, opened, 15000));
	CHECK(fake_wait_attached(&f, 15000));
	f.hold_final_reports = false;
	struct fake_task next = {.id = 61, .program = "increment", .argument = "2"};
	fake_execute(&f, &next, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	CHECK(fake_wait_msg(&f, BODY(TASK_COMPLETED), 61, seen, RUN_MS));
	CHECK(!fake_find(&f, BODY(TASK_COMPLETED), 60, seen));
	stop_worker(&f, w);
}

TEST_SLOW(rule_task_reports_owed_to_one_manager_are_not_sent_to_another, 120)
{
	struct fake_node f;
	pid_t w = worker_of_fake(&f, "1", NULL, NULL);
	f.hold_final_reports = true;
	struct fake_answer a;
	struct fake_task t = {.id = 70, .program = "increment", .argument = "1"};
	fake_execute(&f, &t, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	wait_report(&f, BODY(TASK_COMPLETED), 70);
	/* Another manager, with another identity, takes over the address. */
	int port = f.port;
	fake_free(&f);
	struct fake_node g;
	fake_init(&g, WG_NODE_MANAGER);
	g.port = port;
	fake_listen(&g);
	CHECK_MSG(fake_wait_attached(&g, 15000), "the worker did not attach to the new manager");
	struct fake_task next = {.id = 71, .program = "increment", .argument = "2"};
	fake_execute(&g, &next, 1, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	CHECK(fake_wait_msg(&g, BODY(TASK_COMPLETED), 71, 0, RUN_MS));
	CHECK(!final_report_of(&g, 70));
	uint64_t id = 70;
	fake_ping(&g, &id, 1, &a);
	CHECK_EQ(a.entries[0].code, STATE(TASK_STATE_UNKNOWN));
	stop_worker(&g, w);
}

/* ---- NotMine on the worker ---- */

static void check_reports_answered(struct fake_node *f, wg_body_case want)
{
	struct fake_answer a;
	fake_send_started(f, 1, &a);
	CHECK_EQ(a.kind, want);
	fake_send_error(f, 1, WASMGRID__ERROR_KIND__RUNNING_ERROR, &a);
	CHECK_EQ(a.kind, want);
	fake_send_completed(f, 1, "1\n", &a);
	CHECK_EQ(a.kind, want);
}

TEST_SLOW(rule_not_mine_for_tasks_messages_from_a_node_that_is_not_the_manager, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	const char *port_file = wg_test_path("w.port");
	pid_t w =
	    e2e_worker_start("w", addr, "--listen", "127.0.0.1:0", "--port-file", port_file, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 15000));
	int port = wg_test_wait_port(port_file, 10000);

	/* A second manager, which the worker knows as a manager, but not as its own. */
	struct fake_node f;
	fake_init(&f, WG_NODE_MANAGER);
	fake_connect(&f, port);
	struct fake_answer a;
	Wasmgrid__NodeTypeRequest nt = WASMGRID__NODE_TYPE_REQUEST__INIT;
	nt.node_type = WASMGRID__NODE_TYPE__MANAGER;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = BODY(NODE_TYPE_REQUEST);
	fr.node_type_request = &nt;
	fake_call(&f, &fr, &a, 10000);
	CHECK_EQ(a.kind, BODY(NODE_TYPE_ANSWER));
	struct fake_task t = {.id = 1, .program = "increment", .argument = "1"};
	fake_execute(&f, &t, 1, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	uint64_t id = 1;
	fake_ping(&f, &id, 1, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	fake_abort(&f, &id, 1, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	/* A worker is nobody's manager: reports sent to it get NotMine too. */
	check_reports_answered(&f, BODY(NOT_MINE));
	/* Nothing ran, and the worker stays with its manager. */
	CHECK(!fake_find(&f, BODY(TASK_STARTED), 0, 0));
	CHECK_EQ(e2e_children(w), 0);
	CHECK_EQ(e2e_count_workers(m.api_port, "attached"), 1);
	fake_free(&f);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

/* ---- NotMine and Ack on the manager ---- */

TEST_SLOW(rule_not_mine_for_task_reports_from_a_worker_that_never_attached, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	fake_connect(&f, m.port);
	/* A stranger, then a node known as a worker that never asked to be managed. */
	check_reports_answered(&f, BODY(NOT_MINE));
	struct fake_answer a;
	Wasmgrid__NodeTypeRequest nt = WASMGRID__NODE_TYPE_REQUEST__INIT;
	nt.node_type = WASMGRID__NODE_TYPE__WORKER;
	wg_frame fr = WASMGRID__FRAME__INIT;
	fr.body_case = BODY(NODE_TYPE_REQUEST);
	fr.node_type_request = &nt;
	fake_call(&f, &fr, &a, 10000);
	CHECK_EQ(a.kind, BODY(NODE_TYPE_ANSWER));
	check_reports_answered(&f, BODY(NOT_MINE));
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST_SLOW(rule_not_mine_for_task_reports_after_manager_bye, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	fake_connect(&f, m.port);
	CHECK(fake_attach_to_manager(&f));
	/* While attached, reports are answered (Ack) ... */
	check_reports_answered(&f, BODY(ACK));
	struct fake_answer a;
	fake_send_bye(&f, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	/* ... and once the relationship is over, NotMine. */
	check_reports_answered(&f, BODY(NOT_MINE));
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST_SLOW(rule_not_mine_for_tasks_messages_sent_to_a_manager, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	/* A manager is nobody's worker, whoever asks. */
	struct fake_node f;
	fake_init(&f, WG_NODE_MANAGER);
	fake_connect(&f, m.port);
	struct fake_answer a;
	struct fake_task t = {.id = 1, .program = "increment", .argument = "1"};
	fake_execute(&f, &t, 1, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	uint64_t id = 1;
	fake_ping(&f, &id, 1, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	fake_abort(&f, &id, 1, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

static long metric(int api_port, const char *name)
{
	struct wg_buf body = {0};
	CHECK_EQ(wg_test_http_get(api_port, "/metrics", &body), 200);
	char needle[128];
	snprintf(needle, sizeof needle, "\n%s ", name);
	const char *at = strstr(wg_buf_cstr(&body), needle);
	CHECK_MSG(at, "no %s in /metrics", name);
	long v = atol(at + strlen(needle));
	wg_buf_free(&body);
	return v;
}

TEST_SLOW(rule_task_completed_for_an_attempt_never_given_is_acked_and_ignored, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	fake_connect(&f, m.port);
	CHECK(fake_attach_to_manager(&f));
	long results = metric(m.api_port, "wasmgrid_results_total");
	long errors = metric(m.api_port, "wasmgrid_task_errors_total");
	struct fake_answer a;
	fake_send_started(&f, 4242, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	fake_send_completed(&f, 4242, "made up\n", &a);
	CHECK_EQ(a.kind, BODY(ACK));
	fake_send_error(&f, 4243, WASMGRID__ERROR_KIND__RUNNING_ERROR, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	struct wg_buf body = {0};
	CHECK_EQ(wg_test_http_get(m.api_port, "/v1/jobs", &body), 200);
	CHECK_STREQ(wg_buf_cstr(&body), "{\"jobs\":[]}");
	wg_buf_free(&body);
	CHECK_EQ(metric(m.api_port, "wasmgrid_results_total"), results);
	CHECK_EQ(metric(m.api_port, "wasmgrid_task_errors_total"), errors);
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

static bool job_has_completed(struct fake_node *f, void *arg)
{
	(void)f;
	const char **ctx = arg;
	return e2e_job_count(ctx[0], ctx[1], "completed") == 1;
}

TEST_SLOW(rule_task_completed_counts_only_for_the_attempt_the_manager_gave, 90)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	fake_connect(&f, m.port);
	CHECK(fake_attach_to_manager(&f));
	const char *args[] = {"41"};
	char *job =
	    e2e_submit(m.api, e2e_program("increment"), e2e_args_file("args", args, 1), NULL);
	/* The manager hands the task to its only worker: the test. */
	struct fake_msg *te = fake_wait_msg(&f, BODY(TASKS_EXECUTE), 0, 0, 15000);
	CHECK_MSG(te, "the manager never sent TasksExecute");
	CHECK_EQ(te->n_tasks, 1);
	uint64_t attempt = te->first_task;
	struct fake_answer a;
	fake_send_started(&f, attempt, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	/* A result for an attempt it never gave is acknowledged and ignored... */
	fake_send_completed(&f, attempt + 1000, "0\n", &a);
	CHECK_EQ(a.kind, BODY(ACK));
	CHECK_EQ(e2e_job_count(m.api, job, "completed"), 0);
	/* ... the one for the attempt it gave completes the task. */
	fake_send_completed(&f, attempt, "42\n", &a);
	CHECK_EQ(a.kind, BODY(ACK));
	const char *ctx[] = {m.api, job};
	CHECK(fake_run_until(&f, job_has_completed, ctx, 10000));
	size_t n;
	struct e2e_result *r = e2e_results(m.api, job, &n);
	CHECK_EQ(n, 1);
	CHECK_STREQ(r[0].result, "42\n");
	e2e_results_free(r, n);
	free(job);
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

static bool never(struct fake_node *f, void *arg)
{
	(void)f;
	(void)arg;
	return false;
}

TEST_SLOW(rule_tasks_ping_unknown_answer_makes_the_manager_requeue_the_task, 90)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	fake_connect(&f, m.port);
	CHECK(fake_attach_to_manager(&f));
	const char *args[] = {"41"};
	char *job =
	    e2e_submit(m.api, e2e_program("increment"), e2e_args_file("args", args, 1), NULL);
	struct fake_msg *te = fake_wait_msg(&f, BODY(TASKS_EXECUTE), 0, 0, 15000);
	CHECK_MSG(te, "the manager never sent TasksExecute");
	uint64_t attempt = te->first_task;
	/* The test takes the task and then says nothing about it: the manager asks... */
	struct fake_msg *ping = fake_wait_msg(&f, BODY(TASKS_PING), 0, 0, 20000);
	CHECK_MSG(ping, "the manager never asked about its task with TasksPing");
	CHECK_EQ(ping->first_task, attempt);
	/* ... hears Unknown, and hands the task out again as a new attempt, with no failure
	 * counted against it. */
	struct fake_msg *second = NULL;
	for (int waited = 0; !second && waited < 20000; waited += 100) {
		for (size_t k = 0; k < f.n_msgs; k++)
			if (f.msgs[k]->kind == BODY(TASKS_EXECUTE) &&
			    f.msgs[k]->first_task != attempt)
				second = f.msgs[k];
		if (!second)
			fake_run_until(&f, never, NULL, 100);
	}
	CHECK_MSG(second, "the task was not handed out again");
	CHECK(wg_test_wait_log("manager", "does not know 1 of our task(s)", 5000));
	struct fake_answer a;
	fake_send_completed(&f, second->first_task, "42\n", &a);
	CHECK_EQ(a.kind, BODY(ACK));
	const char *ctx[] = {m.api, job};
	CHECK(fake_run_until(&f, job_has_completed, ctx, 10000));
	size_t n;
	struct e2e_result *r = e2e_results(m.api, job, &n);
	CHECK_EQ(n, 1);
	CHECK_STREQ(r[0].result, "42\n");
	/* An attempt the worker never had does not count as one. */
	CHECK_EQ(r[0].attempts, 1);
	e2e_results_free(r, n);
	free(job);
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}
