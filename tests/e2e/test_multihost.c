/* A network of several hosts (tests/harness/netns.h): a manager and workers each in its own
 * network namespace, and the faults of a real network between them. Every scenario ends
 * with every result exact and none doubled. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/netns.h"
#include "harness/pg.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "util/buf.h"

#define NODE_PORT "7100"
#define API_PORT "7101"
#define HB_MS 1500
#define HB E2E_HEARTBEAT_MS

struct net {
	struct wg_bed bed;
	char api[40];	  /* the manager's API, as the test reaches it */
	char manager[40]; /* its node address, as workers reach it */
	pid_t manager_pid;
};

/* A manager on `host` with its data in `data`, its job store `store` (NULL: the SQLite
 * file in data), logging to TMP/LOGNAME.log. */
static void start_manager_store(struct net *n, size_t host, const char *data, const char *store,
				const char *logname)
{
	char listen[40], api[40];
	snprintf(listen, sizeof listen, "%s:" NODE_PORT, wg_bed_ip(&n->bed, host));
	snprintf(api, sizeof api, "%s:" API_PORT, wg_bed_ip(&n->bed, host));
	snprintf(n->api, sizeof n->api, "%s", api);
	snprintf(n->manager, sizeof n->manager, "%s", listen);
	const char *args[] = {"manager",
			      "--listen",
			      listen,
			      "--api",
			      api,
			      "--api-insecure",
			      "--data",
			      data,
			      "--heartbeat-ms",
			      HB,
			      "--workers",
			      "open",
			      "--lease-ms",
			      "3000",
			      "--store",
			      store ? store : "sqlite",
			      NULL};
	n->manager_pid = wg_bed_start(&n->bed, host, logname, args);
}

static void start_manager_on(struct net *n, size_t host, const char *data)
{
	start_manager_store(n, host, data, NULL, "manager");
}

/* A worker on `host`, attached to the manager's address(es). */
static void start_worker_on(struct net *n, size_t host, const char *const *managers)
{
	char name[32];
	snprintf(name, sizeof name, "w%zu", host);
	const char *args[24] = {"worker", "--data",	    e2e_data(name), "--heartbeat-ms",
				HB,	  "--retry-max-ms", "300",	    "--slots",
				"2"};
	size_t k = 9;
	for (; *managers && k < 20; managers++) {
		args[k++] = "--manager";
		args[k++] = *managers;
	}
	args[k] = NULL;
	wg_bed_start(&n->bed, host, name, args);
}

static void net_up(struct net *n, size_t hosts, size_t workers)
{
	wg_bed_create(&n->bed, hosts);
	start_manager_on(n, 0, e2e_data("manager"));
	for (size_t w = 1; w <= workers; w++)
		start_worker_on(n, w, (const char *const[]){n->manager, NULL});
}

/* Attached workers, as `wasmgrid workers --json` lists them (-1 if the API is not up). */
static int attached(const char *api)
{
	struct wg_buf out = {0};
	int n = -1;
	if (wg_test_run(&out, NULL, "workers", "--json", "--api", api, NULL) == 0) {
		n = 0;
		for (const char *p = wg_buf_cstr(&out); (p = strstr(p, "\"attached\"")); p++)
			n++;
	}
	wg_buf_free(&out);
	return n;
}

struct attach_wait {
	const char *api;
	int n;
};

static bool have_attached(void *arg)
{
	const struct attach_wait *a = arg;
	return attached(a->api) == a->n;
}

static void wait_attached(const char *api, int n, int timeout_ms)
{
	struct attach_wait a = {api, n};
	CHECK_MSG(wg_test_wait_for(have_attached, &a, timeout_ms),
		  "%d workers attached, not %d, after %d ms", attached(api), n, timeout_ms);
}

/* Checks that job `job` of increment.wasm over 0..n-1 completed with every result exact,
 * each task once. */
static void check_increments(const char *api, const char *job, size_t n)
{
	CHECK_EQ(e2e_wait(api, job), 0);
	size_t got = 0;
	struct e2e_result *r = e2e_results(api, job, &got);
	CHECK_EQ(got, n);
	for (size_t i = 0; i < got; i++) {
		char want[32];
		snprintf(want, sizeof want, "%zu", i + 1);
		CHECK_EQ(r[i].index, i);
		CHECK_STREQ(r[i].status, "completed");
		CHECK_MSG(r[i].result && strncmp(r[i].result, want, strlen(want)) == 0,
			  "task %zu gave %s, not %s", i, r[i].result ? r[i].result : "nothing",
			  want);
	}
	e2e_results_free(r, got);
	CHECK_EQ(e2e_job_count(api, job, "completed"), (long)n);
}

static const char *count_file(const char *name, size_t n)
{
	const char **args = wg_calloc(n, sizeof *args);
	char **vals = wg_calloc(n, sizeof *vals);
	for (size_t i = 0; i < n; i++) {
		vals[i] = wg_calloc(24, 1);
		snprintf(vals[i], 24, "%zu", i);
		args[i] = vals[i];
	}
	const char *path = e2e_args_file(name, args, n);
	for (size_t i = 0; i < n; i++)
		free(vals[i]);
	free(vals);
	free(args);
	return path;
}

/* Slow tasks (t_slow: busy for 150 ms each) over several workers, checked by their text. */
static char *submit_slow(const struct net *n, size_t tasks)
{
	return e2e_submit(n->api, e2e_program("t_slow"),
			  e2e_args_file_repeat("slow-args", "150", tasks), NULL);
}

static void check_slow(const char *api, const char *job, size_t tasks)
{
	CHECK_EQ(e2e_wait(api, job), 0);
	size_t got = 0;
	struct e2e_result *r = e2e_results(api, job, &got);
	CHECK_EQ(got, tasks);
	for (size_t i = 0; i < got; i++) {
		CHECK_STREQ(r[i].status, "completed");
		CHECK_MSG(r[i].result && strncmp(r[i].result, "slept 150", 9) == 0, "task %zu: %s",
			  i, r[i].result ? r[i].result : "no result");
	}
	e2e_results_free(r, got);
	CHECK_EQ(e2e_job_count(api, job, "completed"), (long)tasks);
}

struct listed {
	const char *api, *text;
};

/* Whether a worker is attached with this text in its entry of `wasmgrid workers --json`. */
static bool attached_from(void *arg)
{
	const struct listed *l = arg;
	struct wg_buf out = {0};
	bool found = false;
	if (wg_test_run(&out, NULL, "workers", "--json", "--api", l->api, NULL) == 0) {
		const char *at = strstr(wg_buf_cstr(&out), l->text);
		const char *end = at ? strchr(at, '}') : NULL;
		const char *state = at ? strstr(at, "\"state\":\"attached\"") : NULL;
		found = state && end && state < end;
	}
	wg_buf_free(&out);
	return found;
}

static void sleep_ms(int ms)
{
	usleep((useconds_t)ms * 1000);
}

TEST_SLOW(multihost_manager_and_six_workers_on_seven_hosts_run_5000_tasks_exactly, 120)
{
	struct net n;
	net_up(&n, 7, 6);
	wait_attached(n.api, 6, 30000);
	char *job = e2e_submit(n.api, e2e_program("increment"), count_file("args", 5000), NULL);
	check_increments(n.api, job, 5000);
	free(job);
	wg_bed_destroy(&n.bed);
}

TEST_SLOW(multihost_worker_partitioned_past_the_deadline_rejoins_and_nothing_counts_twice, 120)
{
	struct net n;
	net_up(&n, 3, 2);
	wait_attached(n.api, 2, 30000);
	char *job = submit_slow(&n, 60);
	sleep_ms(1000); /* both workers are running tasks */
	wg_bed_isolate(&n.bed, 1);
	wait_attached(n.api, 1, 4 * HB_MS); /* the manager lets it go: its tasks go elsewhere */
	CHECK(wg_test_wait_log("manager", "attempts queued again", 2 * HB_MS));
	sleep_ms(2 * HB_MS);
	wg_bed_heal(&n.bed);
	wait_attached(n.api, 2, 6 * HB_MS); /* it comes back by itself */
	check_slow(n.api, job, 60);
	free(job);
	wg_bed_destroy(&n.bed);
}

TEST_SLOW(multihost_manager_cut_from_every_worker_loses_nothing, 120)
{
	struct net n;
	net_up(&n, 4, 3);
	wait_attached(n.api, 3, 30000);
	char *job = submit_slow(&n, 60);
	sleep_ms(1000);
	wg_bed_isolate(&n.bed, 0);
	sleep_ms(3 * HB_MS);
	wg_bed_heal(&n.bed);
	wait_attached(n.api, 3, 6 * HB_MS);
	check_slow(n.api, job, 60);
	free(job);
	wg_bed_destroy(&n.bed);
}

TEST_SLOW(multihost_one_way_partition_ends_the_relationship_on_both_sides, 120)
{
	struct net n;
	net_up(&n, 2, 1);
	wait_attached(n.api, 1, 30000);
	/* The worker hears the manager; the manager no longer hears the worker. */
	wg_bed_partition(&n.bed, 1, 0, false);
	wait_attached(n.api, 0, 4 * HB_MS);
	CHECK_MSG(wg_test_wait_log("w1", "detached", 4 * HB_MS),
		  "the worker never ended the relationship: %s", wg_test_log("w1"));
	wg_bed_heal(&n.bed);
	wait_attached(n.api, 1, 6 * HB_MS);
	char *job = e2e_submit(n.api, e2e_program("increment"), count_file("args", 100), NULL);
	check_increments(n.api, job, 100);
	free(job);
	wg_bed_destroy(&n.bed);
}

TEST_SLOW(multihost_worker_whose_address_changes_comes_back_from_the_new_one, 120)
{
	struct net n;
	net_up(&n, 3, 2);
	wait_attached(n.api, 2, 30000);
	char *job = submit_slow(&n, 60);
	sleep_ms(1000);
	wg_bed_readdress(&n.bed, 1);
	/* Both sides find the old path dead; the worker connects again from its new address. */
	char from[48];
	snprintf(from, sizeof from, "\"address\":\"%s:", wg_bed_ip(&n.bed, 1));
	struct listed l = {n.api, from};
	CHECK_MSG(wg_test_wait_for(attached_from, &l, 8 * HB_MS),
		  "the worker never attached from %s", wg_bed_ip(&n.bed, 1));
	wait_attached(n.api, 2, 4 * HB_MS);
	check_slow(n.api, job, 60);
	free(job);
	wg_bed_destroy(&n.bed);
}

TEST_SLOW(multihost_manager_restarted_on_another_host_with_its_data_is_found_by_workers, 120)
{
	struct net n;
	wg_bed_create(&n.bed, 4);
	char first[40], second[40];
	snprintf(first, sizeof first, "%s:" NODE_PORT, wg_bed_ip(&n.bed, 0));
	snprintf(second, sizeof second, "%s:" NODE_PORT, wg_bed_ip(&n.bed, 1));
	start_manager_on(&n, 0, e2e_data("manager"));
	for (size_t w = 2; w <= 3; w++)
		start_worker_on(&n, w, (const char *const[]){first, second, NULL});
	wait_attached(n.api, 2, 30000);
	char *job = submit_slow(&n, 60);
	sleep_ms(1000);
	wg_bed_kill(&n.bed, 0);
	/* The same data directory (and so the same key and store) on the second host. */
	start_manager_on(&n, 1, e2e_data("manager"));
	wait_attached(n.api, 2, 10 * HB_MS);
	check_slow(n.api, job, 60);
	free(job);
	wg_bed_destroy(&n.bed);
}

/* Two managers on hosts 0 and 1 share a PostgreSQL store that runs beside the bed (on the
 * bridge's address, as a database on a machine of its own); workers on hosts 2 and 3 are
 * each given only their own manager. Host 0 dies mid-job: its worker finds manager 1 by
 * itself (it was told of it when it attached), manager 1 takes host 0's attempts back when
 * its lease runs out, and the job ends there with every result once. */
TEST_SLOW(multihost_manager_host_killed_its_worker_and_job_move_to_a_manager_sharing_its_store, 180)
{
	struct net n;
	wg_bed_create(&n.bed, 4);
	char bridge[32], api_a[40], addr_a[40];
	snprintf(bridge, sizeof bridge, "10.77.%d.254", n.bed.subnet);
	struct wg_test_pg *pg = wg_test_pg_own_tcp("pg", bridge);
	char *uri = wg_test_pg_uri(pg);
	start_manager_store(&n, 0, e2e_data("ma"), uri, "ma");
	snprintf(api_a, sizeof api_a, "%s", n.api);
	snprintf(addr_a, sizeof addr_a, "%s", n.manager);
	start_manager_store(&n, 1, e2e_data("mb"), uri, "mb"); /* n.api is now B's */
	start_worker_on(&n, 2, (const char *const[]){addr_a, NULL});
	start_worker_on(&n, 3, (const char *const[]){n.manager, NULL});
	wait_attached(api_a, 1, 30000);
	wait_attached(n.api, 1, 30000);
	CHECK(wg_test_wait_log("w2", "learned of manager", 5000));
	char *job = e2e_submit(api_a, e2e_program("t_slow"),
			       e2e_args_file_repeat("slow-args", "150", 60), NULL);
	sleep_ms(1000);
	wg_bed_kill(&n.bed, 0);
	wait_attached(n.api, 2, 10 * HB_MS);
	check_slow(n.api, job, 60);
	CHECK(wg_test_wait_log("mb", "stopped renewing its lease", 1000));
	free(job);
	free(uri);
	wg_bed_destroy(&n.bed);
	wg_test_pg_free(pg);
}

TEST_SLOW(multihost_worker_frozen_past_the_deadline_then_thawed_counts_nothing_twice, 120)
{
	struct net n;
	net_up(&n, 3, 2);
	wait_attached(n.api, 2, 30000);
	char *job = submit_slow(&n, 60);
	sleep_ms(1000);
	wg_bed_freeze(&n.bed, 1);
	wait_attached(n.api, 1, 4 * HB_MS);
	sleep_ms(HB_MS);
	wg_bed_thaw(&n.bed, 1);
	wait_attached(n.api, 2, 6 * HB_MS);
	check_slow(n.api, job, 60);
	free(job);
	wg_bed_destroy(&n.bed);
}

/* ---- the soak: a long job through a seeded random schedule of faults ---- */

/* xorshift32: the schedule is the seed's, replayable with WG_SOAK_SEED. */
static uint32_t next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static int rand_between(uint32_t *s, int lo, int hi)
{
	return lo + (int)(next_rand(s) % (uint32_t)(hi - lo + 1));
}

enum soak_fault {
	FAULT_PARTITION,    /* a worker cut from the manager both ways */
	FAULT_ONE_WAY,	    /* the manager stops hearing a worker */
	FAULT_ISOLATE_MGR,  /* the manager cut from everyone */
	FAULT_FREEZE,	    /* a worker's processes stopped */
	FAULT_KILL_WORKER,  /* kill -9 of a worker, restarted with its data */
	FAULT_KILL_MANAGER, /* kill -9 of the manager, restarted with its data */
	FAULT_KINDS
};

static const char *const fault_names[FAULT_KINDS] = {"worker partitioned", "one-way partitions",
						     "manager isolated",   "worker frozen",
						     "worker killed",	   "manager killed"};

/* WG_SOAK_SECONDS of faults (default 60: the version in `make test`; `make soak` runs
 * longer), on a manager and four workers, while one job of slow tasks runs. At the end
 * every task must have exactly one result, and it must be right. */
TEST_SLOW(multihost_soak_with_random_faults_loses_nothing, 400)
{
	const char *env = getenv("WG_SOAK_SECONDS");
	int seconds = env ? atoi(env) : 60;
	if (seconds < 10)
		seconds = 10;
	alarm((unsigned)seconds + 300);
	env = getenv("WG_SOAK_SEED");
	uint32_t seed = env ? (uint32_t)strtoul(env, NULL, 10) : (uint32_t)time(NULL);
	if (!seed)
		seed = 1;
	fprintf(stderr, "    soak: seed %u (replay with WG_SOAK_SEED=%u), %d s of faults\n", seed,
		seed, seconds);
	uint32_t rng = seed;
	const size_t workers = 4;
	struct net n;
	net_up(&n, workers + 1, workers);
	wait_attached(n.api, (int)workers, 30000);
	/* 8 slots at ~50 ms a task: about 150 tasks/s while nothing fails. */
	size_t tasks = (size_t)seconds * 100;
	char *job = e2e_submit(n.api, e2e_program("t_slow"),
			       e2e_args_file_repeat("soak-args", "50", tasks), NULL);
	int counts[FAULT_KINDS] = {0};
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec >= seconds)
			break;
		sleep_ms(rand_between(&rng, 500, 3000));
		enum soak_fault f = (enum soak_fault)(next_rand(&rng) % FAULT_KINDS);
		size_t w = 1 + next_rand(&rng) % workers;
		int hold = rand_between(&rng, HB_MS / 2, 3 * HB_MS);
		counts[f]++;
		switch (f) {
		case FAULT_PARTITION:
			wg_bed_partition(&n.bed, w, 0, true);
			sleep_ms(hold);
			wg_bed_heal(&n.bed);
			break;
		case FAULT_ONE_WAY:
			wg_bed_partition(&n.bed, w, 0, false);
			sleep_ms(hold);
			wg_bed_heal(&n.bed);
			break;
		case FAULT_ISOLATE_MGR:
			wg_bed_isolate(&n.bed, 0);
			sleep_ms(hold);
			wg_bed_heal(&n.bed);
			break;
		case FAULT_FREEZE:
			wg_bed_freeze(&n.bed, w);
			sleep_ms(hold);
			wg_bed_thaw(&n.bed, w);
			break;
		case FAULT_KILL_WORKER:
			wg_bed_kill(&n.bed, w);
			sleep_ms(rand_between(&rng, 100, 2000));
			start_worker_on(&n, w, (const char *const[]){n.manager, NULL});
			break;
		case FAULT_KILL_MANAGER:
			wg_bed_kill(&n.bed, 0);
			sleep_ms(rand_between(&rng, 100, 2000));
			start_manager_on(&n, 0, e2e_data("manager"));
			break;
		default: break;
		}
	}
	/* Everything heals; the job must finish with nothing lost and nothing twice. */
	wg_bed_heal(&n.bed);
	wait_attached(n.api, (int)workers, 20 * HB_MS);
	CHECK_EQ(e2e_wait(n.api, job), 0);
	size_t got = 0;
	struct e2e_result *r = e2e_results(n.api, job, &got);
	CHECK_EQ(got, tasks);
	long attempts = 0;
	for (size_t i = 0; i < got; i++) {
		CHECK_EQ(r[i].index, i);
		CHECK_STREQ(r[i].status, "completed");
		CHECK_MSG(r[i].result && strncmp(r[i].result, "slept 50", 8) == 0, "task %zu: %s",
			  i, r[i].result ? r[i].result : "no result");
		attempts += r[i].attempts;
	}
	e2e_results_free(r, got);
	CHECK_EQ(e2e_job_count(n.api, job, "completed"), (long)tasks);
	int total = 0;
	for (int f = 0; f < FAULT_KINDS; f++)
		total += counts[f];
	fprintf(stderr, "    soak: %zu tasks, each with one right result; %d faults (", tasks,
		total);
	for (int f = 0; f < FAULT_KINDS; f++)
		fprintf(stderr, "%s%d %s", f ? ", " : "", counts[f], fault_names[f]);
	fprintf(stderr, "); %ld attempts, %ld of them lost or redone\n", attempts,
		attempts - (long)tasks);
	free(job);
	wg_bed_destroy(&n.bed);
}

/* ---- the bed itself ---- */

static bool link_exists(const char *name)
{
	return wg_test_run_program(NULL, NULL,
				   (const char *const[]){"ip", "link", "show", name, NULL}) == 0;
}

static bool netns_exists(const char *name)
{
	char path[128];
	snprintf(path, sizeof path, "/run/netns/%s", name);
	return access(path, F_OK) == 0;
}

TEST_SLOW(multihost_bed_removes_what_a_dead_test_left_and_what_it_made, 60)
{
	/* A pid that is surely gone: a child that has exited. */
	pid_t dead = fork();
	CHECK(dead >= 0);
	if (dead == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	char br[32], ns[32];
	snprintf(br, sizeof br, "wgt%xxbr", (unsigned)dead);
	snprintf(ns, sizeof ns, "wgt%xxh0", (unsigned)dead);
	CHECK_EQ(
	    wg_test_run_program(
		NULL, NULL, (const char *const[]){"ip", "link", "add", br, "type", "bridge", NULL}),
	    0);
	CHECK_EQ(
	    wg_test_run_program(NULL, NULL, (const char *const[]){"ip", "netns", "add", ns, NULL}),
	    0);
	struct wg_bed b;
	wg_bed_create(&b, 2);
	CHECK_MSG(!link_exists(br), "the leftover bridge %s is still there", br);
	CHECK_MSG(!netns_exists(ns), "the leftover namespace %s is still there", ns);
	char mine[16];
	snprintf(mine, sizeof mine, "%s", b.bridge);
	char host0[16];
	snprintf(host0, sizeof host0, "%s", b.hosts[0].ns);
	CHECK(link_exists(mine) && netns_exists(host0));
	wg_bed_destroy(&b);
	CHECK(!link_exists(mine) && !netns_exists(host0));
}

/* The same bed from a script: tools/netbed/netbed.c reads commands on stdin. */
TEST_SLOW(multihost_bed_driven_from_a_script_runs_commands_in_its_hosts, 60)
{
	char script[256], cmd[1024];
	snprintf(script, sizeof script, "%s/script", wg_test_tmpdir());
	FILE *f = fopen(script, "w");
	CHECK(f != NULL);
	fprintf(f, "ip 1\nrun 1 ip -brief addr\nisolate 1\nheal\n");
	fclose(f);
	snprintf(cmd, sizeof cmd, "%s/wasmgrid-bed 2 %s < %s", wg_test_bindir(), wg_test_tmpdir(),
		 script);
	struct wg_buf out = {0};
	CHECK_EQ(wg_test_run_program(&out, NULL, (const char *const[]){"sh", "-c", cmd, NULL}), 0);
	const char *text = wg_buf_cstr(&out);
	CHECK_CONTAINS(text, "host 0 ");
	CHECK_CONTAINS(text, "host 1 ");
	/* `ip 1` printed the address that `ip -brief addr` inside host 1 shows. */
	char addr[32] = "";
	const char *h1 = strstr(text, "host 1 ");
	CHECK(h1 && sscanf(h1, "host 1 %*s %31s", addr) == 1);
	CHECK_CONTAINS(strstr(text, "exit 0") ? text : "", addr);
	wg_buf_free(&out);
}
