/* wasmgrid workers [--json]: the manager's workers, from GET /v1/workers; then, when several
 * managers share its store, who they are and where (GET /v1/managers). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "util/json.h"
#include "util/time.h"

struct workers_cli {
	const char *api;
	bool json;
	const char *clear;
};

static const struct wg_opt workers_opts[] = {
    {"api", "HOST:PORT", WG_OPT_STR, offsetof(struct workers_cli, api), .dflt = WG_DEFAULT_API_ADDR,
     .help = "the manager's API address"},
    {"json", NULL, WG_OPT_FLAG, offsetof(struct workers_cli, json), .help = "print the API's JSON"},
    {"clear", "ID", WG_OPT_STR, offsetof(struct workers_cli, clear),
     .help = "let a quarantined worker work again (its node id, or the start of it)"},
    {0},
};

/* The managers of a shared store; nothing when the manager is alone in its store (or too old
 * to say). */
static void print_managers(const char *cmd, const char *api, uint64_t now)
{
	struct wg_json *doc = NULL;
	struct wg_buf body = {0};
	struct wg_cli_request r = {.path = "/v1/managers", .quiet_unreachable = true};
	if (wg_cli_call(cmd, api, &r, &body, &doc) != 0)
		goto out;
	const struct wg_json *list = wg_json_get(doc, "managers");
	size_t n = wg_json_len(list);
	if (n < 2)
		goto out;
	const char *store = wg_json_as_str(wg_json_get(doc, "store"), NULL);
	printf("\n%zu managers share its store (%s):\n", n, store ? store : "?");
	printf("%-16s %-22s %-22s %s\n", "MANAGER", "NODE ADDRESS", "API ADDRESS", "LEASE");
	for (size_t i = 0; i < n; i++) {
		const struct wg_json *m = wg_json_at(list, i);
		uint64_t until = 0;
		wg_json_as_u64(wg_json_get(m, "lease_until_ms"), &until);
		bool self = false, live = false;
		wg_json_as_bool(wg_json_get(m, "self"), &self);
		wg_json_as_bool(wg_json_get(m, "live"), &live);
		char lease[48];
		if (self)
			snprintf(lease, sizeof lease, "this one");
		else if (live)
			snprintf(lease, sizeof lease, "live, %.1f s left",
				 until > now ? (double)(until - now) / 1000.0 : 0.0);
		else
			snprintf(lease, sizeof lease, "ran out %.1f s ago",
				 now > until ? (double)(now - until) / 1000.0 : 0.0);
		const char *id = wg_json_as_str(wg_json_get(m, "node_id"), NULL);
		const char *node = wg_json_as_str(wg_json_get(m, "node_address"), NULL);
		const char *web = wg_json_as_str(wg_json_get(m, "api_address"), NULL);
		printf("%-16.16s %-22s %-22s %s\n", id ? id : "?", node ? node : "", web ? web : "",
		       lease);
	}
out:
	wg_json_free(doc);
	wg_buf_free(&body);
}

static const struct wg_json *workers_of(const struct wg_json *doc)
{
	return wg_json_get(doc, "workers");
}

/* --clear ID: the worker named by its node id, or by the start of one of the listed. */
static int clear_worker(const char *cmd, const char *api, const char *prefix,
			const struct wg_json *workers)
{
	const char *match = NULL;
	size_t len = strlen(prefix), matches = 0;
	for (size_t i = 0; i < wg_json_len(workers); i++) {
		const char *id =
		    wg_json_as_str(wg_json_get(wg_json_at(workers, i), "node_id"), NULL);
		if (id && len && !strncmp(id, prefix, len)) {
			match = id;
			matches++;
		}
	}
	if (matches > 1)
		return wg_usage_error(cmd, "'%s' names %zu workers: give more of its node id",
				      prefix, matches);
	if (!match && len != 64)
		return wg_usage_error(
		    cmd,
		    "no worker attached here starts with '%s': give its whole node "
		    "id (64 hex digits)",
		    prefix);
	char path[128];
	snprintf(path, sizeof path, "/v1/workers/%s/clear", match ? match : prefix);
	struct wg_json *doc = NULL;
	struct wg_buf body = {0};
	struct wg_cli_request r = {.method = "POST", .path = path};
	int status = wg_cli_call(cmd, api, &r, &body, &doc);
	if (status == 0)
		printf("worker %.16s cleared: it may get tasks again\n", match ? match : prefix);
	wg_json_free(doc);
	wg_buf_free(&body);
	return status;
}

static int run_workers(void *options, char **operands, size_t n_operands)
{
	const struct workers_cli *c = options;
	const char *cmd = "workers", *api = c->api;
	bool json = c->json;
	struct wg_json *doc = NULL;
	struct wg_buf body = {0};
	int status =
	    wg_cli_call(cmd, api, &(struct wg_cli_request){.path = "/v1/workers"}, &body, &doc);
	if (status)
		goto out;
	if (json) {
		fwrite(body.data, 1, body.len, stdout);
		putchar('\n');
		goto out;
	}
	const struct wg_json *workers = wg_json_get(doc, "workers");
	size_t n = wg_json_len(workers);
	if (c->clear) {
		status = clear_worker(cmd, api, c->clear, workers_of(doc));
		goto out;
	}
	printf("%-16s %-22s %-10s %5s %8s %5s %10s  %s\n", "NODE", "ADDRESS", "STATE", "CORES",
	       "MEMORY", "SLOTS", "AGREED/OUT", "LAST PONG");
	uint64_t now = wg_unix_ms();
	for (size_t i = 0; i < n; i++) {
		const struct wg_json *wk = wg_json_at(workers, i),
				     *specs = wg_json_get(wk, "specs");
		uint64_t cores = 0, mem = 0, slots = 0, pong = 0;
		wg_json_as_u64(wg_json_get(specs, "cores"), &cores);
		wg_json_as_u64(wg_json_get(specs, "memory"), &mem);
		wg_json_as_u64(wg_json_get(specs, "slots"), &slots);
		char pong_text[32] = "never";
		if (wg_json_as_u64(wg_json_get(wk, "last_pong_ms"), &pong) == 0)
			snprintf(pong_text, sizeof pong_text, "%.1f s ago",
				 now > pong ? (double)(now - pong) / 1000.0 : 0.0);
		const char *id = wg_json_as_str(wg_json_get(wk, "node_id"), NULL);
		const struct wg_json *rep = wg_json_get(wk, "reputation");
		uint64_t agreed = 0, outvoted = 0;
		wg_json_as_u64(wg_json_get(rep, "agreed"), &agreed);
		wg_json_as_u64(wg_json_get(rep, "outvoted"), &outvoted);
		char trust[32];
		snprintf(trust, sizeof trust, "%llu/%llu", (unsigned long long)agreed,
			 (unsigned long long)outvoted);
		printf("%-16.16s %-22s %-10s %5llu %6llu M %5llu %10s  %s\n", id ? id : "?",
		       wg_json_as_str(wg_json_get(wk, "address"), NULL),
		       wg_json_as_str(wg_json_get(wk, "state"), NULL), (unsigned long long)cores,
		       (unsigned long long)(mem >> 20), (unsigned long long)slots, trust,
		       pong_text);
		const char *why =
		    wg_json_as_str(wg_json_get(wg_json_get(wk, "quarantined"), "reason"), NULL);
		if (why)
			printf(
			    "  quarantined: %s ('wasmgrid workers --clear %.16s' lets it work)\n",
			    why, id ? id : "?");
	}
	printf("%zu worker%s\n", n, n == 1 ? "" : "s");
	print_managers(cmd, api, now);
out:
	wg_json_free(doc);
	wg_buf_free(&body);
	return status;
}

const struct wg_command wg_cmd_workers = {
    .name = "workers",
    .summary = "Lists the manager's workers: state, cores, memory, slots, results agreed and "
	       "outvoted, last answer to a ping; --clear lets a quarantined one work again.",
    .opts = workers_opts,
    .api = true,
    .run = run_workers,
    .options_size = sizeof(struct workers_cli),
};
