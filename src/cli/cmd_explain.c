/* wasmgrid explain JOB [TASK]: why a job's tasks (or one task) are not running, from
 * GET /v1/jobs/ID/explain (docs/api.md): the reasons, most decisive first, then what each
 * worker can take. Like condor_q -better-analyze. */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "util/buf.h"
#include "util/json.h"

struct explain_cli {
	const char *api;
	bool json;
};

#define E(field) offsetof(struct explain_cli, field)
static const struct wg_opt explain_opts[] = {
    {"api", "HOST:PORT", WG_OPT_STR, E(api), .dflt = WG_DEFAULT_API_ADDR,
     .help = "the manager's API address"},
    {"json", NULL, WG_OPT_FLAG, E(json), .help = "print the API's JSON"},
    {0},
};
#undef E

static uint64_t u64_of(const struct wg_json *v, const char *key)
{
	uint64_t n = 0;
	wg_json_as_u64(wg_json_get(v, key), &n);
	return n;
}

static const char *str_of(const struct wg_json *v, const char *key)
{
	const char *s = wg_json_as_str(wg_json_get(v, key), NULL);
	return s ? s : "";
}

static int parse_number(const char *what, const char *s, uint64_t max, uint64_t *out)
{
	char *end = NULL;
	unsigned long long v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
	if (!end || *end || v > max)
		return wg_usage_error("explain", "'%s' is not a %s number", s, what);
	*out = v;
	return 0;
}

static void print_explanation(const struct wg_json *doc)
{
	const struct wg_json *c = wg_json_get(doc, "counts");
	const char *name = wg_json_as_str(wg_json_get(doc, "name"), NULL);
	printf("job %" PRIu64 "%s%s%s: %s; %" PRIu64 " tasks: %" PRIu64 " queued, %" PRIu64
	       " assigned, %" PRIu64 " running, %" PRIu64 " completed, %" PRIu64 " failed, %" PRIu64
	       " cancelled\n",
	       u64_of(doc, "job"), name ? " (" : "", name ? name : "", name ? ")" : "",
	       str_of(doc, "state"), u64_of(doc, "tasks"), u64_of(c, "queued"),
	       u64_of(c, "assigned"), u64_of(c, "running"), u64_of(c, "completed"),
	       u64_of(c, "failed"), u64_of(c, "cancelled"));
	const struct wg_json *r;
	WG_JSON_FOREACH(r, i, wg_json_get(doc, "reasons"))
	printf("  - %s\n", wg_json_as_str(r, NULL) ? wg_json_as_str(r, NULL) : "");
	const struct wg_json *workers = wg_json_get(doc, "workers"), *w;
	if (!wg_json_len(workers))
		return;
	printf("workers:\n");
	WG_JSON_FOREACH(w, i, workers)
	printf("  %.16s  %-21s  %s\n", str_of(w, "node_id"), str_of(w, "address"),
	       str_of(w, "why"));
}

static int run_explain(void *options, char **operands, size_t n)
{
	const struct explain_cli *o = options;
	uint64_t id = 0, task = 0;
	if (parse_number("job", operands[0], INT64_MAX, &id) ||
	    (n > 1 && parse_number("task", operands[1], UINT32_MAX, &task)))
		return 2;
	if (id == 0)
		return wg_usage_error("explain", "'0' is not a job number");
	char path[96];
	int len = snprintf(path, sizeof path, "/v1/jobs/%" PRIu64 "/explain", id);
	if (n > 1)
		snprintf(path + len, sizeof path - (size_t)len, "?task=%" PRIu64, task);
	struct wg_buf body = {0};
	struct wg_json *doc = NULL;
	int status = wg_cli_call("explain", o->api,
				 &(struct wg_cli_request){.path = path, .job_id = n > 1 ? 0 : id},
				 &body, &doc);
	if (!status) {
		if (o->json) {
			fwrite(body.data, 1, body.len, stdout);
			putchar('\n');
		} else {
			print_explanation(doc);
		}
	}
	wg_json_free(doc);
	wg_buf_free(&body);
	return status;
}

const struct wg_command wg_cmd_explain = {
    .name = "explain",
    .operands = "JOB [TASK]",
    .min_operands = 1,
    .max_operands = 2,
    .missing = "which job? give its id: wasmgrid explain JOB [TASK]",
    .summary = "Says why a job's tasks (or one task) are not running, and what each worker "
	       "can take.",
    .opts = explain_opts,
    .api = true,
    .run = run_explain,
    .options_size = sizeof(struct explain_cli),
};
