/* Rows of PROTOCOL.md that the other protocol tests check only at the unit level, here
 * against real daemons over real connections (the test plays the other side with
 * tests/e2e/fake_node.h): ManagerBye answered Ack whatever the relationship, a changed
 * node type ending the relationship, the manager's side of TasksAbort ("both should stop
 * talking about these tasks") and of tracking a task's time. Names: rule_<message>_<rule>.
 * docs/protocol.md maps every row to its tests. */
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
#include "util/buf.h"

#define BODY(name) WASMGRID__FRAME__BODY_##name

static bool never(struct fake_node *f, void *arg)
{
	(void)f;
	(void)arg;
	return false;
}

/* Runs the fake's loop for ms milliseconds (answering whatever the daemon asks). */
static void idle(struct fake_node *f, int ms)
{
	fake_run_until(f, never, NULL, ms);
}

/* ---- ManagerBye: "Ack, whatever the relationship between A and B" ---- */

TEST_SLOW(rule_manager_bye_acked_by_a_manager_whatever_the_relationship, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_answer a;
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	fake_connect(&f, m.port);
	/* A stranger that never said what it is. */
	fake_send_bye(&f, &a);
	CHECK_EQ(a.status, 0);
	CHECK_EQ(a.kind, BODY(ACK));
	/* A known worker that is not attached. */
	fake_send_node_type(&f, WG_NODE_WORKER, &a);
	CHECK_EQ(a.kind, BODY(NODE_TYPE_ANSWER));
	fake_send_bye(&f, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	/* Its worker, and then the same node again once the relationship is over. */
	CHECK(fake_attach_to_manager(&f));
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 5000));
	fake_send_bye(&f, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	CHECK(e2e_wait_workers(m.api_port, "attached", 0, 5000));
	fake_send_bye(&f, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	/* The relationship is really over: a report now gets NotMine. */
	fake_send_started(&f, 1, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST_SLOW(rule_manager_bye_acked_by_a_worker_whatever_the_relationship, 60)
{
	/* The worker's manager is a fake; a second fake manager, a stranger to the worker,
	 * connects to the worker's own listening port. */
	struct fake_node mgr, stranger;
	fake_init(&mgr, WG_NODE_MANAGER);
	fake_listen(&mgr);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", mgr.port);
	const char *port_file = wg_test_path("w.port");
	pid_t w =
	    e2e_worker_start("w", addr, "--listen", "127.0.0.1:0", "--port-file", port_file, NULL);
	CHECK_MSG(fake_wait_attached(&mgr, 15000), "the worker never attached to the test");
	int worker_port = wg_test_wait_port(port_file, 10000);

	struct fake_answer a;
	fake_init(&stranger, WG_NODE_MANAGER);
	fake_connect(&stranger, worker_port);
	fake_send_bye(&stranger, &a); /* never introduced itself */
	CHECK_EQ(a.kind, BODY(ACK));
	fake_send_node_type(&stranger, WG_NODE_MANAGER, &a);
	CHECK_EQ(a.kind, BODY(NODE_TYPE_ANSWER));
	fake_send_bye(&stranger, &a); /* a known manager, not the worker's */
	CHECK_EQ(a.kind, BODY(ACK));
	/* The stranger's Bye changed nothing between the worker and its manager. */
	fake_send_ping(&mgr, &a);
	CHECK_EQ(a.kind, BODY(MANAGER_PONG));
	fake_free(&stranger);
	/* Its manager's Bye is acknowledged too, and ends the relationship: the worker says
	 * NotMine to a ping, or has already hung up to look for a manager again. */
	fake_send_bye(&mgr, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	fake_send_ping(&mgr, &a);
	CHECK_MSG(a.kind == BODY(NOT_MINE) || a.status != 0, "ping after ManagerBye: %s",
		  wg_body_name(a.kind));
	fake_free(&mgr);
	wg_test_stop(w, SIGTERM, 10000);
}

/* ---- NodeTypeRequest: "what happens if the node type of a peer changes?" (DESIGN.md:
 * every relationship with it ends as if ManagerBye had been exchanged) ---- */

TEST_SLOW(rule_node_type_changed_ends_the_relationship_with_a_real_manager, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_answer a;
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	fake_connect(&f, m.port);
	CHECK(fake_attach_to_manager(&f));
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 5000));
	fake_send_started(&f, 1, &a); /* a partner's report is acknowledged */
	CHECK_EQ(a.kind, BODY(ACK));
	/* The worker now says it is a manager. */
	fake_send_node_type(&f, WG_NODE_MANAGER, &a);
	CHECK_EQ(a.kind, BODY(NODE_TYPE_ANSWER));
	CHECK(e2e_wait_workers(m.api_port, "attached", 0, 5000));
	fake_send_started(&f, 1, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	fake_send_ping(&f, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST_SLOW(rule_node_type_changed_ends_the_relationship_with_a_real_worker, 60)
{
	struct fake_node mgr;
	fake_init(&mgr, WG_NODE_MANAGER);
	fake_listen(&mgr);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", mgr.port);
	pid_t w = e2e_worker_start("w", addr, NULL);
	CHECK_MSG(fake_wait_attached(&mgr, 15000), "the worker never attached to the test");
	struct fake_answer a;
	fake_send_ping(&mgr, &a);
	CHECK_EQ(a.kind, BODY(MANAGER_PONG));
	/* The manager now says it is a worker: the worker no longer has it as its manager. */
	mgr.type = WG_NODE_WORKER;
	fake_send_node_type(&mgr, WG_NODE_WORKER, &a);
	CHECK_EQ(a.kind, BODY(NODE_TYPE_ANSWER));
	fake_send_ping(&mgr, &a);
	CHECK_EQ(a.kind, BODY(NOT_MINE));
	CHECK(wg_test_wait_log("w", "manager", 5000));
	fake_free(&mgr);
	wg_test_stop(w, SIGTERM, 10000);
}

/* ---- TasksAbort: "both should stop talking about these tasks to each other" (the
 * manager's side; the worker's is rule_tasks_abort_* in test_task_messages.c) ---- */

struct job_ctx {
	const char *api, *job, *state;
};

static bool job_in_state(struct fake_node *f, void *arg)
{
	(void)f;
	const struct job_ctx *c = arg;
	struct wg_buf out = {0};
	wg_test_run(&out, NULL, "status", c->job, "--json", "--api", c->api, NULL);
	char needle[64];
	snprintf(needle, sizeof needle, "\"state\":\"%s\"", c->state);
	bool yes = out.data && strstr(wg_buf_cstr(&out), needle);
	wg_buf_free(&out);
	return yes;
}

TEST_SLOW(rule_tasks_abort_the_manager_then_says_nothing_more_about_the_tasks, 90)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	f.pong_started = true; /* the test "runs" what it is given */
	fake_connect(&f, m.port);
	CHECK(fake_attach_to_manager(&f));
	const char *args[] = {"60000"};
	char *job = e2e_submit(m.api, e2e_program("t_slow"), e2e_args_file("args", args, 1), NULL);
	struct fake_msg *te = fake_wait_msg(&f, BODY(TASKS_EXECUTE), 0, 0, 15000);
	CHECK_MSG(te, "the manager never sent TasksExecute");
	uint64_t attempt = te->first_task;
	struct fake_answer a;
	fake_send_started(&f, attempt, &a);
	CHECK_EQ(a.kind, BODY(ACK));

	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "cancel", job, "--api", m.api, NULL), 0);
	wg_buf_free(&out);
	struct fake_msg *ab = fake_wait_msg(&f, BODY(TASKS_ABORT), 0, 0, 10000);
	CHECK_MSG(ab, "the manager never sent TasksAbort for the cancelled task");
	CHECK(fake_mentions(&f, BODY(TASKS_ABORT), attempt, 0));
	size_t after = f.n_msgs;
	/* Three heartbeat deadlines: the manager pings its worker and asks about the tasks it
	 * gave; it must never ask about, abort again or hand out the aborted attempt. */
	idle(&f, 3 * atoi(E2E_HEARTBEAT_MS));
	CHECK(fake_find(&f, BODY(MANAGER_PING), 0, after)); /* the manager was still talking */
	CHECK(!fake_mentions(&f, BODY(TASKS_PING), attempt, after));
	CHECK(!fake_mentions(&f, BODY(TASKS_ABORT), attempt, after));
	CHECK(!fake_find(&f, BODY(TASKS_EXECUTE), 0, after));
	/* A report the worker sends anyway (crossed on the wire) is acknowledged and changes
	 * nothing. */
	fake_send_completed(&f, attempt, "slept 60000\n", &a);
	CHECK_EQ(a.kind, BODY(ACK));
	const struct job_ctx ctx = {m.api, job, "cancelled"};
	CHECK(job_in_state(&f, (void *)&ctx));
	size_t n;
	struct e2e_result *r = e2e_results(m.api, job, &n);
	CHECK_EQ(n, 1);
	CHECK_STREQ(r[0].status, "cancelled");
	CHECK(r[0].result == NULL);
	e2e_results_free(r, n);
	free(job);
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

/* ---- TaskStarted: "both worker and manager should track time of task to know if
 * timeout happened" (the manager's side: a worker that started a task and then says
 * nothing about it, while still answering every ping) ---- */

TEST_SLOW(rule_task_started_the_manager_tracks_the_timeout_itself, 90)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct fake_node f;
	fake_init(&f, WG_NODE_WORKER);
	f.pong_started = true; /* "still running", at every TasksPing */
	fake_connect(&f, m.port);
	CHECK(fake_attach_to_manager(&f));
	const char *args[] = {"60000"};
	char *job = e2e_submit(m.api, e2e_program("t_slow"), e2e_args_file("args", args, 1),
			       "--timeout", "1", "--max-failures", "0", NULL);
	struct fake_msg *te = fake_wait_msg(&f, BODY(TASKS_EXECUTE), 0, 0, 15000);
	CHECK_MSG(te, "the manager never sent TasksExecute");
	uint64_t attempt = te->first_task;
	struct fake_answer a;
	fake_send_started(&f, attempt, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	/* No report ever comes: past the timeout (1 s) and its grace (docs/jobs.md) the
	 * manager aborts the attempt on the worker and counts the task as timed out. */
	const struct job_ctx ctx = {m.api, job, "failed"};
	CHECK_MSG(fake_run_until(&f, job_in_state, (void *)&ctx, 30000),
		  "the manager never gave up on a task past its timeout");
	/* The abort follows the commit that failed the task. */
	CHECK_MSG(fake_wait_msg(&f, BODY(TASKS_ABORT), 0, 0, 10000), "no TasksAbort came");
	CHECK(fake_mentions(&f, BODY(TASKS_ABORT), attempt, 0));
	size_t n;
	struct e2e_result *r = e2e_results(m.api, job, &n);
	CHECK_EQ(n, 1);
	CHECK_STREQ(r[0].status, "failed");
	CHECK_STREQ(r[0].error, "TimedOut");
	e2e_results_free(r, n);
	free(job);
	fake_free(&f);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

/* ---- A worker fetches only what its policy allows (docs/engine.md) ---- */

TEST_SLOW(worker_default_fetch_policy_refuses_local_files_and_says_nothing, 90)
{
	struct fake_node mgr;
	fake_init(&mgr, WG_NODE_MANAGER);
	fake_listen(&mgr);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", mgr.port);
	/* Started by hand, without the tests' "--fetch all": the default policy. */
	pid_t w = wg_test_start("w", "worker", "--manager", addr, "--data", e2e_data("w"),
				"--heartbeat-ms", E2E_HEARTBEAT_MS, NULL);
	CHECK_MSG(fake_wait_attached(&mgr, 15000), "the worker never attached to the test");
	static const char zeros[] =
	    "0000000000000000000000000000000000000000000000000000000000000000";
	struct fake_task t[] = {
	    {.id = 1, .program = "/etc/shadow", .argument = "x", .hash = zeros},
	    {.id = 2, .program = "/etc/no-such-file", .argument = "x", .hash = zeros}};
	struct fake_answer a;
	fake_execute(&mgr, t, 2, &a);
	CHECK_EQ(a.kind, BODY(ACK));
	for (uint64_t id = 1; id <= 2; id++) {
		struct fake_msg *e = fake_wait_msg(&mgr, BODY(TASK_ERROR), id, 0, 30000);
		CHECK_MSG(e, "no TaskError for task %llu", (unsigned long long)id);
		CHECK_EQ(e->error, WASMGRID__ERROR_KIND__DOWNLOAD_ERROR);
		CHECK_CONTAINS(e->detail, "not allowed by this worker's fetch policy");
		CHECK(!strstr(e->detail, "No such") && !strstr(e->detail, "hash"));
	}
	/* Nothing was copied into its cache. */
	char cmd[600];
	snprintf(cmd, sizeof cmd, "ls %s/programs | wc -l", e2e_data("w"));
	const char *argv[] = {"sh", "-c", cmd, NULL};
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run_program(&out, NULL, argv), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "0\n");
	wg_buf_free(&out);
	fake_free(&mgr);
	wg_test_stop(w, SIGTERM, 10000);
}
