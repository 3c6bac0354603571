/* Real processes on loopback: managers and workers forming and ending relationships. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "net/link.h"
#include "node/identity.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/hex.h"

static void addr_of(const struct e2e_manager *m, char *out, size_t n)
{
	snprintf(out, n, "127.0.0.1:%d", m->port);
}

TEST_SLOW(e2e_manager_and_two_workers_attach, 60)
{
	struct e2e_manager m;
	char addr[64];
	e2e_manager_start(&m, "manager", 0, NULL);
	addr_of(&m, addr, sizeof addr);
	pid_t w1 = e2e_worker_start("w1", addr, "--slots", "3", NULL);
	pid_t w2 = e2e_worker_start("w2", addr, NULL);
	CHECK_MSG(e2e_wait_workers(m.api_port, "attached", 2, 15000), "two workers never attached");
	char *id1 = wg_test_node_id(e2e_data("w1")), *id2 = wg_test_node_id(e2e_data("w2"));
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "workers", "--json", "--api", m.api, NULL), 0);
	CHECK_CONTAINS((char *)out.data, id1);
	CHECK_CONTAINS((char *)out.data, id2);
	CHECK_CONTAINS((char *)out.data, "\"slots\":3");
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, NULL, "workers", "--api", m.api, NULL), 0);
	char short1[17];
	memcpy(short1, id1, 16);
	short1[16] = 0;
	CHECK_CONTAINS((char *)out.data, short1);
	CHECK_CONTAINS((char *)out.data, "attached");
	CHECK_CONTAINS((char *)out.data, "2 workers");
	/* The logs name the peer by its short id, one line per event. */
	CHECK(wg_test_wait_log("manager", "worker attached", 1000));
	char *wlog = wg_test_log("w1");
	CHECK_CONTAINS(wlog, "attached to manager");
	free(wlog);
	wg_buf_free(&out);
	free(id1);
	free(id2);
	wg_test_stop(w1, SIGTERM, 5000);
	wg_test_stop(w2, SIGTERM, 5000);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_unauthorized_worker_is_refused, 60)
{
	/* Only "good" is on the manager's --workers list. */
	char *good = wg_test_node_id(e2e_data("good"));
	char *bad = wg_test_node_id(e2e_data("bad"));
	const char *list = wg_test_path("workers.allowed");
	char text[200];
	int n = snprintf(text, sizeof text, "# allowed workers\n%s\n", good);
	CHECK_EQ(wg_write_file_atomic(list, text, (size_t)n, 0644), 0);
	struct e2e_manager m;
	char addr[64];
	e2e_manager_start(&m, "manager", 0, "--workers", list, NULL);
	addr_of(&m, addr, sizeof addr);
	pid_t wg = e2e_worker_start("good", addr, NULL);
	pid_t wb = e2e_worker_start("bad", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 15000));
	CHECK(wg_test_wait_log("bad", "refused us", 10000));
	CHECK(wg_test_wait_log("manager", "not in the --workers list", 1000));
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run(&out, NULL, "workers", "--json", "--api", m.api, NULL), 0);
	/* The refused worker is never attached: its entry, if any, is not "attached". */
	char needle[120];
	snprintf(needle, sizeof needle, "\"node_id\":\"%s\",\"address\"", bad);
	const char *entry = strstr((char *)out.data, needle);
	if (entry) {
		const char *state = strstr(entry, "\"state\":\"");
		CHECK(state && strncmp(state + 9, "attached", 8) != 0);
	}
	CHECK_EQ(e2e_count_workers(m.api_port, "attached"), 1);
	wg_buf_free(&out);
	free(good);
	free(bad);
	wg_test_stop(wg, SIGTERM, 5000);
	wg_test_stop(wb, SIGTERM, 5000);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

/* A client that claims a key it cannot prove: its HELLO carries one node's public key, its
 * AUTH is signed with another's secret key. */
struct forger {
	int closed, opened, status;
};

static int forger_open(struct wg_link *l, void *u)
{
	((struct forger *)u)->opened = 1;
	return 0;
}

static void forger_frame(struct wg_link *l, const uint8_t *d, size_t n, void *u)
{
}

static void forger_close(struct wg_link *l, int status, void *u)
{
	struct forger *f = u;
	f->closed = 1;
	f->status = status;
}

TEST_SLOW(e2e_worker_presenting_wrong_key_is_dropped, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	struct wg_identity real, other, forged;
	wg_identity_generate(&real);
	wg_identity_generate(&other);
	forged = real;
	memcpy(forged.secret_key, other.secret_key, sizeof forged.secret_key);
	uv_loop_t loop;
	uv_loop_init(&loop);
	struct forger f = {0};
	static const struct wg_link_cbs cbs = {forger_open, forger_frame, forger_close};
	char addr[64];
	addr_of(&m, addr, sizeof addr);
	struct wg_link *link;
	CHECK_EQ(wg_link_connect(&loop, addr, &forged, NULL, NULL, &cbs, &f, &link), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	/* The forger may see the manager's own proof before the manager rejects the forger's,
	 * so it can open briefly; what matters is that the manager hangs up on it. */
	CHECK(f.closed);
	CHECK(f.status != 0);
	uv_loop_close(&loop);
	CHECK(wg_test_wait_log("manager", "authentication", 5000));
	CHECK_EQ(e2e_count_workers(m.api_port, NULL), 0);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_worker_drops_manager_with_unexpected_key, 60)
{
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char pinned[200];
	/* The worker expects another node at this address. */
	snprintf(pinned, sizeof pinned, "%064d@127.0.0.1:%d", 7, m.port);
	pid_t w = e2e_worker_start("w", pinned, NULL);
	CHECK(wg_test_wait_log("w", "peer failed authentication", 10000));
	CHECK_EQ(e2e_count_workers(m.api_port, "attached"), 0);
	wg_test_stop(w, SIGTERM, 5000);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_manager_bye_from_worker_ends_relationship_on_both_sides, 60)
{
	struct e2e_manager m;
	char addr[64];
	e2e_manager_start(&m, "manager", 0, NULL);
	addr_of(&m, addr, sizeof addr);
	pid_t w = e2e_worker_start("w", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 15000));
	int status = wg_test_stop(w, SIGTERM, 5000);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(wg_test_wait_log("manager", "worker detached: it said ManagerBye", 5000));
	CHECK(e2e_wait_workers(m.api_port, "attached", 0, 5000));
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_manager_bye_from_manager_ends_relationship_on_both_sides, 60)
{
	struct e2e_manager m;
	char addr[64];
	e2e_manager_start(&m, "manager", 0, NULL);
	addr_of(&m, addr, sizeof addr);
	pid_t w = e2e_worker_start("w", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 15000));
	int status = wg_test_stop(m.pid, SIGINT, 5000);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(wg_test_wait_log("w", "detached from manager: it said ManagerBye", 5000));
	/* The worker keeps looking for a manager. */
	CHECK(wg_test_wait_log("w", "connection to", 5000));
	wg_test_stop(w, SIGTERM, 5000);
}

TEST_SLOW(e2e_sigkilled_worker_disappears_within_heartbeat_deadline, 60)
{
	struct e2e_manager m;
	char addr[64];
	e2e_manager_start(&m, "manager", 0, NULL);
	addr_of(&m, addr, sizeof addr);
	pid_t w = e2e_worker_start("w", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 15000));
	wg_test_stop(w, SIGKILL, 5000);
	CHECK_MSG(e2e_wait_workers(m.api_port, NULL, 0, atoi(E2E_HEARTBEAT_MS)),
		  "killed worker still listed after the heartbeat deadline");
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_silent_worker_is_detached_by_missed_pings, 60)
{
	struct e2e_manager m;
	char addr[64];
	e2e_manager_start(&m, "manager", 0, NULL);
	addr_of(&m, addr, sizeof addr);
	pid_t w = e2e_worker_start("w", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 15000));
	kill(w, SIGSTOP);
	/* The connection stays open; only the heartbeat can tell. */
	CHECK(e2e_wait_workers(m.api_port, "attached", 0, 3 * atoi(E2E_HEARTBEAT_MS)));
	CHECK(wg_test_wait_log("manager", "no ManagerPong within the heartbeat deadline", 1000));
	/* Woken up, it finds itself detached and attaches again. */
	kill(w, SIGCONT);
	CHECK(e2e_wait_workers(m.api_port, "attached", 1, 15000));
	wg_test_stop(w, SIGTERM, 5000);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_restarted_manager_gets_its_workers_back, 90)
{
	struct e2e_manager m;
	char addr[64];
	e2e_manager_start(&m, "manager", 0, NULL);
	addr_of(&m, addr, sizeof addr);
	pid_t w1 = e2e_worker_start("w1", addr, NULL);
	pid_t w2 = e2e_worker_start("w2", addr, NULL);
	CHECK(e2e_wait_workers(m.api_port, "attached", 2, 15000));
	int port = m.port;
	wg_test_stop(m.pid, SIGKILL, 5000);
	e2e_manager_start(&m, "manager", port, NULL);
	CHECK_MSG(e2e_wait_workers(m.api_port, "attached", 2, 20000),
		  "the workers did not come back to the restarted manager");
	/* Neither worker was restarted. */
	CHECK_EQ(kill(w1, 0), 0);
	CHECK_EQ(kill(w2, 0), 0);
	wg_test_stop(w1, SIGTERM, 5000);
	wg_test_stop(w2, SIGTERM, 5000);
	wg_test_stop(m.pid, SIGTERM, 5000);
}

TEST_SLOW(e2e_worker_moves_to_another_manager, 90)
{
	struct e2e_manager a, b;
	char addr_a[64], addr_b[64];
	e2e_manager_start(&a, "ma", 0, NULL);
	e2e_manager_start(&b, "mb", 0, NULL);
	addr_of(&a, addr_a, sizeof addr_a);
	addr_of(&b, addr_b, sizeof addr_b);
	pid_t w = e2e_worker_start("w", addr_a, "--manager", addr_b, NULL);
	CHECK(e2e_wait_workers(a.api_port, "attached", 1, 15000));
	CHECK_EQ(e2e_count_workers(b.api_port, "attached"), 0);
	wg_test_stop(a.pid, SIGKILL, 5000);
	CHECK_MSG(e2e_wait_workers(b.api_port, "attached", 1, 20000),
		  "the worker did not move to the second manager");
	wg_test_stop(w, SIGTERM, 5000);
	wg_test_stop(b.pid, SIGTERM, 5000);
}

/* The soft limit on open files of a process started with this one's. */
static long soft_nofile_of(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
	FILE *f = fopen(path, "r");
	long soft = -1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "Max open files", 14) == 0)
			soft = strtol(line + 14, NULL, 10);
	if (f)
		fclose(f);
	return soft;
}

/* Every attached worker is a connection: a manager started under the usual soft limit of
 * 1,024 descriptors would refuse connections from the thousandth worker on. */
TEST_SLOW(e2e_manager_raises_its_open_files_limit_to_the_hard_limit, 30)
{
	struct rlimit saved, low;
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = 256;
	if (low.rlim_max != RLIM_INFINITY && low.rlim_max < 256)
		low.rlim_cur = low.rlim_max;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
	long soft = soft_nofile_of(m.pid);
	CHECK_MSG(soft > 256, "the manager kept a soft limit of %ld open files", soft);
	if (saved.rlim_max != RLIM_INFINITY)
		CHECK_EQ(soft, (long)saved.rlim_max);
}
