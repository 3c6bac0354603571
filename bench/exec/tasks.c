/* Engine per-task overhead: N trivial tasks (increment.wasm, "I" -> "I+1\n") through one
 * engine, `slots` at a time, as a worker would submit them. Prints tasks/s and the CPU
 * time per task of this process and of its runners together. Every result is checked.
 * Usage: tasks_bench DATA_DIR PROGRAM.wasm N SLOTS */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <uv.h>

#include "engine/engine.h"
#include "util/fs.h"

struct bench {
	struct wg_engine *engine;
	const char *path;
	char hash[65];
	uint64_t next, done, total, failed;
	int in_flight;
};

static void submit_next(struct bench *b);

static void on_done(void *user, uint64_t id, const struct wg_engine_outcome *o)
{
	struct bench *b = user;
	char want[32];
	snprintf(want, sizeof want, "%llu\n", (unsigned long long)id + 1);
	if (o->error_kind || o->result_len != strlen(want) ||
	    memcmp(o->result, want, o->result_len))
		b->failed++;
	b->done++;
	b->in_flight--;
	submit_next(b);
}

static void submit_next(struct bench *b)
{
	if (b->next >= b->total)
		return;
	char arg[32];
	int n = snprintf(arg, sizeof arg, "%llu", (unsigned long long)b->next);
	const char *addresses[] = {b->path};
	struct wg_engine_task t = {
	    .task_id = b->next,
	    .addresses = addresses,
	    .n_addresses = 1,
	    .hash_hex = b->hash,
	    .argument = (const uint8_t *)arg,
	    .argument_len = (size_t)n,
	    .timeout_ms = 10000,
	    .random_seed = b->next,
	};
	b->next++;
	b->in_flight++;
	if (wg_engine_submit(b->engine, &t, NULL, on_done, b)) {
		fprintf(stderr, "submit failed\n");
		exit(1);
	}
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(int who)
{
	struct rusage u;
	getrusage(who, &u);
	return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
	       (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* Runs `total` tasks, `slots` at a time, on a fresh engine. */
static void run(struct bench *b, uint64_t first, uint64_t total, int slots)
{
	b->next = first;
	b->total = first + total;
	for (int i = 0; i < slots; i++)
		submit_next(b);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s DATA_DIR PROGRAM.wasm N SLOTS\n", argv[0]);
		return 2;
	}
	struct bench b = {.path = argv[2]};
	uint64_t n = strtoull(argv[3], NULL, 10);
	int slots = atoi(argv[4]);
	uint8_t *bytes;
	size_t len;
	if (wg_read_file(b.path, 64u << 20, &bytes, &len)) {
		fprintf(stderr, "cannot read %s\n", b.path);
		return 1;
	}
	wg_engine_hash_hex(bytes, len, b.hash);
	free(bytes);
	struct wg_engine_options o = {.data_dir = argv[1]};
	if (wg_engine_create(uv_default_loop(), &o, &b.engine))
		return 1;
	run(&b, 0, (uint64_t)slots, slots); /* compiles if needed and starts the runners */
	double cpu0 = cpu_s(RUSAGE_SELF), t0 = now_s();
	run(&b, 1000000, n, slots);
	double wall = now_s() - t0, self = cpu_s(RUSAGE_SELF) - cpu0;
	struct wg_engine_stats st;
	wg_engine_get_stats(b.engine, &st);
	wg_engine_free(b.engine);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT); /* reaps the runners: their CPU counts now */
	double children = cpu_s(RUSAGE_CHILDREN);
	printf("slots %d: %llu tasks in %.2f s: %.0f tasks/s; CPU per task: engine %.1f us, "
	       "runners %.1f us (all runner time, warm-up included); %llu runners; %llu wrong\n",
	       slots, (unsigned long long)n, wall, (double)n / wall, self / (double)n * 1e6,
	       children / (double)n * 1e6, (unsigned long long)st.runners_started,
	       (unsigned long long)b.failed);
	return b.failed ? 1 : 0;
}
