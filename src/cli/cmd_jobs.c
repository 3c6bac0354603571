/* The user's job commands: submit, status, wait, results, cancel, remove. Each is a thin client of
 * the manager's HTTP API (docs/api.md); what they print for people is here, what they
 * print for programs (--json) is the API's own JSON. */
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <sodium.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "http/client.h"
#include "manager/jobs.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fs.h"
#include "util/hex.h"
#include "util/json.h"
#include "util/limits.h"
#include "util/lines.h"
#include "util/time.h"
#include "util/utf8.h"

#define ARGS_FILE_MAX ((size_t)512 << 20)
#define RESULTS_PAGE 1000
/* How long `wait` asks the manager to hold each request: on a terminal short, so the progress
 * bar redraws; otherwise a little longer. A request not answered WAIT_SILENT_MS after that
 * means a silent manager (stopped, hung, cut off), which is said at once: the wait never
 * sits for long without news. */
#define WAIT_POLL_MS 200
#define WAIT_HOLD_MS 500
#define WAIT_SILENT_MS 500
/* While waiting, how long the manager may stay unreachable (a restart) before we give up. */
#define WAIT_UNREACHABLE_MS 30000

static int parse_job_id(const char *cmd, const char *s, uint64_t *id)
{
	char *end = NULL;
	unsigned long long v = (*s >= '0' && *s <= '9') ? strtoull(s, &end, 10) : 0;
	if (!end || *end || v == 0 || v > INT64_MAX)
		return wg_usage_error(cmd,
				      "'%s' is not a job id: give the number 'wasmgrid "
				      "submit' printed",
				      s);
	*id = v;
	return 0;
}

static uint64_t json_u64(const struct wg_json *v, const char *key)
{
	uint64_t n = 0;
	wg_json_as_u64(wg_json_get(v, key), &n);
	return n;
}

static const char *json_str(const struct wg_json *v, const char *key)
{
	const char *s = wg_json_as_str(wg_json_get(v, key), NULL);
	return s ? s : "";
}

/* Writes a parsed JSON value back as compact JSON (for --json lines). */
static void write_json(struct wg_json_writer *w, const struct wg_json *v)
{
	const struct wg_json *item;
	switch (wg_json_type(v)) {
	case WG_JSON_NULL: wg_jw_null(w); break;
	case WG_JSON_BOOL: {
		bool b = false;
		wg_json_as_bool(v, &b);
		wg_jw_bool(w, b);
		break;
	}
	case WG_JSON_NUMBER: {
		uint64_t u;
		int64_t i;
		double d = 0;
		if (wg_json_as_u64(v, &u) == 0)
			wg_jw_uint(w, u);
		else if (wg_json_as_i64(v, &i) == 0)
			wg_jw_int(w, i);
		else {
			wg_json_as_double(v, &d);
			wg_jw_double(w, d);
		}
		break;
	}
	case WG_JSON_STRING: {
		size_t len = 0;
		const char *s = wg_json_as_str(v, &len);
		wg_jw_strn(w, s, len);
		break;
	}
	case WG_JSON_ARRAY:
		wg_jw_array_begin(w);
		WG_JSON_FOREACH(item, i, v)
		write_json(w, item);
		wg_jw_array_end(w);
		break;
	case WG_JSON_OBJECT:
		wg_jw_object_begin(w);
		WG_JSON_FOREACH(item, i, v)
		{
			wg_jw_key(w, wg_json_key_at(v, i));
			write_json(w, item);
		}
		wg_jw_object_end(w);
		break;
	}
}

/* The options the job commands share; each table takes what it needs. */
struct job_cli {
	const char *api;
	bool json;
	const char *output_dir;
	bool follow;	    /* results --follow */
	const char *states; /* status --state */
	uint64_t limit;	    /* status --limit; 0: all */
};

/* --state S[,S...]: job states, checked here so the URL carries only known words. */
static int parse_states(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	for (const char *s = value; *s;) {
		size_t len = strcspn(s, ",");
		bool known = false;
		for (int st = 0; st < 4 && !known; st++) {
			const char *name = wg_job_state_name((enum wg_job_state)st);
			known = strlen(name) == len && !strncmp(s, name, len);
		}
		if (!known) {
			wg_usage_error(cmd,
				       "--state takes job states separated by commas (running, "
				       "completed, failed, cancelled), not '%s'",
				       value);
			return -1;
		}
		s += len + (s[len] == ',');
	}
	*(const char **)out = value;
	return 0;
}

#define J(field) offsetof(struct job_cli, field)
#define OPT_API                                                                                    \
	{                                                                                          \
		"api", "HOST:PORT", WG_OPT_STR, J(api), .dflt = WG_DEFAULT_API_ADDR,               \
							.help = "the manager's API address"        \
	}
#define OPT_JSON                                                                                   \
	{                                                                                          \
		"json", NULL, WG_OPT_FLAG, J(json), .help = "print the API's JSON"                 \
	}
static const struct wg_opt api_opts[] = {OPT_API, {0}};
static const struct wg_opt status_opts[] = {
    OPT_API,
    OPT_JSON,
    {"state", "S[,S...]", WG_OPT_FN, J(states), .parse = parse_states,
     .help = "only jobs in these states: running, completed, failed, cancelled"},
    {"limit", "N", WG_OPT_U64, J(limit), 1, UINT32_MAX, .help = "only the N newest jobs"},
    {0},
};
static const struct wg_opt results_opts[] = {
    OPT_API,
    OPT_JSON,
    {"output-dir", "DIR", WG_OPT_STR, J(output_dir),
     .help = "write each result's bytes to DIR/INDEX instead of printing it"},
    {"follow", NULL, WG_OPT_FLAG, J(follow),
     .help = "print results as tasks end, in that order, until the job is over"},
    {0},
};
#undef J

/* A job command's table entry. */
#define JOB_COMMAND(cmd, fn, opts_, operands_, min, summary_)                                      \
	const struct wg_command wg_cmd_##cmd = {                                                   \
	    .name = #cmd,                                                                          \
	    .operands = (operands_),                                                               \
	    .min_operands = (min),                                                                 \
	    .max_operands = 1,                                                                     \
	    .missing = "which job? give its id: wasmgrid " #cmd " JOB",                            \
	    .summary = (summary_),                                                                 \
	    .opts = (opts_),                                                                       \
	    .api = true,                                                                           \
	    .run = (fn),                                                                           \
	    .options_size = sizeof(struct job_cli),                                                \
	}

/* ---- wait ---- */

struct job_counts {
	uint64_t tasks, queued, assigned, running, completed, failed, cancelled;
};

static void read_counts(const struct wg_json *job, struct job_counts *c)
{
	const struct wg_json *counts = wg_json_get(job, "counts");
	c->tasks = json_u64(job, "tasks");
	c->queued = json_u64(counts, "queued");
	c->assigned = json_u64(counts, "assigned");
	c->running = json_u64(counts, "running");
	c->completed = json_u64(counts, "completed");
	c->failed = json_u64(counts, "failed");
	c->cancelled = json_u64(counts, "cancelled");
}

static void draw_progress(const struct job_counts *c, double rate, uint64_t elapsed_ms)
{
	const int width = 30;
	uint64_t finished = c->completed + c->failed + c->cancelled;
	int filled = c->tasks ? (int)((double)finished / (double)c->tasks * width) : width;
	char bar[64];
	for (int i = 0; i < width; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[width] = 0;
	char eta[32] = "--";
	uint64_t left = c->tasks - finished;
	if (rate > 0 && left > 0) {
		double s = (double)left / rate;
		if (s < 120)
			snprintf(eta, sizeof eta, "%.0fs", ceil(s));
		else
			snprintf(eta, sizeof eta, "%.0fm%02.0fs", floor(s / 60), fmod(s, 60));
	} else if (left == 0) {
		snprintf(eta, sizeof eta, "0s");
	}
	fprintf(stderr,
		"\r\033[K[%s] %" PRIu64 "/%" PRIu64 " done, %" PRIu64 " failed, %" PRIu64
		" running, %" PRIu64 " assigned  %.1f tasks/s  %s left  (%.0fs)",
		bar, c->completed, c->tasks, c->failed, c->running, c->assigned, rate, eta,
		(double)elapsed_ms / 1000.0);
	fflush(stderr);
}

/* Long-polls of a job (`wait`, `results --follow`): each request is held by the manager up
 * to `hold` ms and given WAIT_SILENT_MS more; a manager that does not answer is said at
 * once, asked again for WAIT_UNREACHABLE_MS, and said when it answers again. */
struct long_poll {
	const char *cmd, *api;
	uint64_t job_id;
	int hold;
	bool drew; /* a progress bar is on the last line of stderr */
	bool warned;
	uint64_t unreachable_since;
};

/* Returns 0 with the answer in body and *doc, 1 after a failure (reported), or -1 when the
 * manager did not answer and should be asked again. */
static int long_poll_call(struct long_poll *lp, const char *path, struct wg_buf *body,
			  struct wg_json **doc)
{
	int rc = wg_cli_call(lp->cmd, lp->api,
			     &(struct wg_cli_request){.path = path,
						      .job_id = lp->job_id,
						      .quiet_unreachable = true,
						      .timeout_ms = lp->hold + WAIT_SILENT_MS},
			     body, doc);
	const char *clear = lp->drew ? "\r\033[K" : "";
	if (rc == 2) {
		/* A manager restarting is not the end of the job: keep asking a while, and say
		 * so at once. */
		uint64_t now = wg_mono_ms();
		if (!lp->unreachable_since)
			lp->unreachable_since = now;
		if (!lp->warned) {
			fprintf(stderr, "%swasmgrid %s: %s; trying again for %d s\n", clear,
				lp->cmd, wg_http_client_error(), WAIT_UNREACHABLE_MS / 1000);
			lp->warned = true;
		}
		if (now - lp->unreachable_since < WAIT_UNREACHABLE_MS) {
			usleep(WAIT_POLL_MS * 1000);
			return -1;
		}
		if (lp->drew)
			fputc('\n', stderr);
		wg_cli_fail(lp->cmd,
			    "the manager at %s has not answered for %d s: "
			    "is it running? (the job stays there; run 'wasmgrid %s %" PRIu64
			    "' again)",
			    lp->api, WAIT_UNREACHABLE_MS / 1000, lp->cmd, lp->job_id);
		return 1;
	}
	lp->unreachable_since = 0;
	if (rc)
		return 1;
	if (lp->warned) {
		fprintf(stderr, "%swasmgrid %s: the manager at %s answers again\n", clear, lp->cmd,
			lp->api);
		lp->warned = false;
	}
	return 0;
}

/* Polls the job until it is no longer running; the exit status of `wait`. */
static int wait_job(const char *cmd, const char *api, uint64_t id)
{
	char path[80];
	bool tty = isatty(STDERR_FILENO);
	/* The manager holds the request until the job ends (or this long: the progress bar
	 * redraws at each answer), so the end is seen at once, without polling. */
	struct long_poll lp = {
	    .cmd = cmd, .api = api, .job_id = id, .hold = tty ? WAIT_POLL_MS : WAIT_HOLD_MS};
	snprintf(path, sizeof path, "/v1/jobs/%" PRIu64 "?wait=%d", id, lp.hold);
	uint64_t start = wg_mono_ms(), first_finished = 0;
	bool have_first = false;
	int status = 1;
	for (;;) {
		struct wg_buf body = {0};
		struct wg_json *doc = NULL;
		int rc = long_poll_call(&lp, path, &body, &doc);
		if (rc) {
			wg_buf_free(&body);
			if (rc < 0)
				continue;
			return 1;
		}
		struct job_counts c;
		read_counts(doc, &c);
		const char *state = json_str(doc, "state");
		uint64_t now = wg_mono_ms(), finished = c.completed + c.failed;
		/* The rate counts from the first poll, so tasks done before we started waiting
		 * do not inflate it. */
		if (!have_first) {
			first_finished = finished;
			have_first = true;
		}
		double rate = now > start ? (double)(finished - first_finished) * 1000.0 /
						(double)(now - start)
					  : 0.0;
		bool done = strcmp(state, "running") != 0;
		if (tty) {
			draw_progress(&c, rate, now - start);
			lp.drew = true;
		}
		if (done) {
			if (lp.drew)
				fputc('\n', stderr);
			status = (c.completed == c.tasks) ? 0 : 1;
			const char *name = wg_json_as_str(wg_json_get(doc, "name"), NULL);
			fprintf(stderr,
				"job %" PRIu64 "%s%s%s %s: %" PRIu64 " of %" PRIu64
				" tasks completed, %" PRIu64 " failed, %" PRIu64
				" cancelled; 'wasmgrid results %" PRIu64 "' shows %s\n",
				id, name ? " (" : "", name ? name : "", name ? ")" : "", state,
				c.completed, c.tasks, c.failed, c.cancelled, id,
				c.failed ? "them, with the errors" : "them");
			wg_json_free(doc);
			wg_buf_free(&body);
			return status;
		}
		wg_json_free(doc);
		wg_buf_free(&body);
	}
}

static int run_wait(void *options, char **operands, size_t n)
{
	const struct job_cli *c = options;
	uint64_t id = 0;
	return parse_job_id("wait", operands[0], &id) ? 2 : wait_job("wait", c->api, id);
}

JOB_COMMAND(wait, run_wait, api_opts, "JOB", 1, "Waits for a job to end, with a progress bar.");

/* ---- status ---- */

static void print_job_detail(const struct wg_json *job)
{
	struct job_counts c;
	read_counts(job, &c);
	const struct wg_json *o = wg_json_get(job, "options");
	printf("job %" PRIu64 ": %s\n", json_u64(job, "id"), json_str(job, "state"));
	const char *name = wg_json_as_str(wg_json_get(job, "name"), NULL);
	if (name)
		printf("  name        %s\n", name);
	printf("  program     %s\n", json_str(job, "program"));
	printf("  tasks       %" PRIu64 ": %" PRIu64 " queued, %" PRIu64 " assigned, %" PRIu64
	       " running, %" PRIu64 " completed, %" PRIu64 " failed, %" PRIu64 " cancelled\n",
	       c.tasks, c.queued, c.assigned, c.running, c.completed, c.failed, c.cancelled);
	const char *waiting = wg_json_as_str(wg_json_get(job, "waiting"), NULL);
	if (waiting)
		printf("  waiting     %s ('wasmgrid explain %" PRIu64 "' tells more)\n", waiting,
		       json_u64(job, "id"));
	int64_t prio = 0;
	wg_json_as_i64(wg_json_get(o, "priority"), &prio);
	printf("  options     timeout %.1f s, memory %" PRIu64 " MiB, result limit %" PRIu64
	       " bytes, priority %" PRId64 ", max failures %" PRIu64 ", redundancy %" PRIu64
	       " (quorum %" PRIu64 ")\n",
	       (double)json_u64(o, "timeout_ms") / 1000.0, json_u64(o, "memory_mib"),
	       json_u64(o, "result_limit"), prio, json_u64(o, "max_failures"),
	       json_u64(o, "redundancy"), json_u64(o, "quorum"));
	time_t created = (time_t)(json_u64(job, "created_ms") / 1000);
	char when[64];
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", gmtime(&created));
	printf("  created     %s\n", when);
	uint64_t fin = json_u64(job, "finished_ms");
	if (fin) {
		printf("  finished    after %.1f s\n",
		       (double)(fin - json_u64(job, "created_ms")) / 1000.0);
	}
}

static int run_status(void *options, char **operands, size_t n_operands)
{
	const struct job_cli *opts = options;
	const char *cmd = "status", *api = opts->api;
	bool json = opts->json, has_id = n_operands > 0;
	uint64_t id = 0;
	if (has_id && parse_job_id(cmd, operands[0], &id))
		return 2;
	if (has_id && (opts->states || opts->limit))
		return wg_usage_error(cmd, "--state and --limit select among jobs: give no JOB");
	char path[160] = "/v1/jobs";
	if (has_id)
		snprintf(path, sizeof path, "/v1/jobs/%" PRIu64, id);
	else
		snprintf(path, sizeof path, "/v1/jobs?state=%.64s&limit=%" PRIu64,
			 opts->states ? opts->states : "", opts->limit);
	struct wg_buf body = {0};
	struct wg_json *doc = NULL;
	int status = wg_cli_call(cmd, api, &(struct wg_cli_request){.path = path, .job_id = id},
				 &body, &doc);
	if (status)
		goto out;
	if (json) {
		fwrite(body.data, 1, body.len, stdout);
		putchar('\n');
	} else if (has_id) {
		print_job_detail(doc);
	} else {
		const struct wg_json *jobs = wg_json_get(doc, "jobs"), *j;
		printf("%6s  %-10s %8s %8s %8s %8s %8s  %-12s  %s\n", "JOB", "STATE", "TASKS",
		       "DONE", "FAILED", "RUNNING", "QUEUED", "PROGRAM", "NAME");
		WG_JSON_FOREACH(j, i, jobs)
		{
			struct job_counts c;
			read_counts(j, &c);
			const char *name = wg_json_as_str(wg_json_get(j, "name"), NULL);
			printf("%6" PRIu64 "  %-10s %8" PRIu64 " %8" PRIu64 " %8" PRIu64
			       " %8" PRIu64 " %8" PRIu64 "  %-12.12s  %s\n",
			       json_u64(j, "id"), json_str(j, "state"), c.tasks, c.completed,
			       c.failed, c.running, c.queued, json_str(j, "program"),
			       name ? name : "-");
		}
		size_t n = wg_json_len(jobs);
		printf("%zu job%s\n", n, n == 1 ? "" : "s");
	}
out:
	wg_json_free(doc);
	wg_buf_free(&body);
	return status;
}

JOB_COMMAND(status, run_status, status_opts, "[JOB]", 0,
	    "Shows one job (its counts, options, why it waits), or a table of all jobs.");

/* ---- results ---- */

/* Prints s on one line: a trailing newline dropped, other control characters escaped. */
static void print_one_line(const char *s, size_t len)
{
	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
		len--;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch == '\t')
			fputs("\\t", stdout);
		else if (ch < 0x20 || ch == 0x7f)
			printf("\\x%02x", ch);
		else
			putchar(ch);
	}
}

static void print_result_text(const struct wg_json *r)
{
	printf("%" PRIu64 " %s ", json_u64(r, "index"), json_str(r, "status"));
	size_t len = 0;
	const char *res = wg_json_as_str(wg_json_get(r, "result"), &len);
	const char *err = wg_json_as_str(wg_json_get(r, "error"), NULL);
	if (res) {
		if (!strcmp(json_str(r, "encoding"), "base64"))
			fputs("base64:", stdout);
		print_one_line(res, len);
	} else if (err) {
		const char *detail = json_str(r, "error_detail");
		fputs(err, stdout);
		if (*detail) {
			fputs(": ", stdout);
			print_one_line(detail, strlen(detail));
		}
	} else {
		putchar('-');
	}
	putchar('\n');
}

/* How `results` shows them: a line each, JSON lines, or a file each in a directory. */
struct results_out {
	int json;
	const char *dir; /* --output-dir, or NULL */
	size_t written, without;
};

/* Writes a completed task's result, decoded, to DIR/INDEX. */
static int write_result_file(const char *cmd, const struct results_out *o, const struct wg_json *r)
{
	size_t len = 0;
	const char *res = wg_json_as_str(wg_json_get(r, "result"), &len);
	uint8_t *bytes = (uint8_t *)res;
	size_t n = len;
	bool b64 = !strcmp(json_str(r, "encoding"), "base64");
	if (b64) {
		bytes = wg_malloc(len + 1);
		if (sodium_base642bin(bytes, len + 1, res, len, NULL, &n, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(bytes);
			return wg_cli_fail(cmd, "task %" PRIu64 ": the manager sent bad base64",
					   json_u64(r, "index"));
		}
	}
	char name[24];
	snprintf(name, sizeof name, "%" PRIu64, json_u64(r, "index"));
	char *path = wg_path_join(o->dir, name);
	int rc = wg_write_file_atomic(path, bytes, n, 0644);
	int status = rc ? wg_cli_fail(cmd, "cannot write %s: %s", path, wg_strerror(rc)) : 0;
	free(path);
	if (b64)
		free(bytes);
	return status;
}

/* Prints (or writes) one result as `o` says; `line` is scratch space. */
static int emit_result(const char *cmd, struct results_out *o, const struct wg_json *r,
		       struct wg_buf *line)
{
	if (o->dir) {
		if (!wg_json_as_str(wg_json_get(r, "result"), NULL)) {
			o->without++;
			return 0;
		}
		int status = write_result_file(cmd, o, r);
		o->written += status == 0;
		return status;
	}
	if (o->json) {
		struct wg_json_writer w;
		line->len = 0;
		wg_jw_init(&w, line);
		write_json(&w, r);
		fwrite(line->data, 1, line->len, stdout);
		putchar('\n');
	} else {
		print_result_text(r);
	}
	return 0;
}

static int results_dir(const char *cmd, const struct results_out *o)
{
	if (o->dir && mkdir(o->dir, 0755) != 0 && errno != EEXIST)
		return wg_cli_fail(cmd, "cannot make the directory %s: %s", o->dir,
				   strerror(errno));
	return 0;
}

/* What `results` says at the end: the files written, and a write error on stdout. */
static int results_end(const char *cmd, const struct results_out *o, int status)
{
	if (!status && o->dir)
		printf("%zu results written to %s, one file per task named by its index%s\n",
		       o->written, o->dir,
		       o->without ? "; tasks without a result: see 'wasmgrid results'" : "");
	if (fflush(stdout) != 0 && errno != EPIPE) {
		/* A closed pipe (| head) is the reader's choice, not an error. */
		wg_cli_fail(cmd, "cannot write the results to stdout: %s", strerror(errno));
		status = 1;
	}
	return status;
}

/* --follow: the results as tasks end, in that order, until the job is over; the exit
 * status: 0 when it completed. */
static int follow_results(const char *cmd, const char *api, uint64_t id, struct results_out *o)
{
	int status = results_dir(cmd, o);
	if (status)
		return status;
	struct long_poll lp = {.cmd = cmd, .api = api, .job_id = id, .hold = WAIT_HOLD_MS};
	struct wg_buf line = {0};
	uint64_t after = 0;
	for (;;) {
		char path[160];
		snprintf(path, sizeof path,
			 "/v1/jobs/%" PRIu64 "/results?after=%" PRIu64 "&limit=%d&wait=%d", id,
			 after, RESULTS_PAGE, lp.hold);
		struct wg_buf body = {0};
		struct wg_json *doc = NULL;
		int rc = long_poll_call(&lp, path, &body, &doc);
		if (rc) {
			wg_buf_free(&body);
			if (rc < 0)
				continue;
			status = 1;
			break;
		}
		const struct wg_json *results = wg_json_get(doc, "results"), *r;
		WG_JSON_FOREACH(r, i, results)
		{
			if ((status = emit_result(cmd, o, r, &line)) != 0)
				break;
		}
		fflush(stdout);
		uint64_t last = after;
		wg_json_as_u64(wg_json_get(doc, "last"), &last);
		bool more = false;
		wg_json_as_bool(wg_json_get(doc, "more"), &more);
		const char *state = json_str(doc, "state");
		bool over = strcmp(state, "running") != 0 && !more;
		if (over && strcmp(state, "completed") != 0) {
			fprintf(stderr,
				"job %" PRIu64 " %s; 'wasmgrid status %" PRIu64
				"' counts its tasks\n",
				id, state, id);
			status = status ? status : 1;
		}
		after = last > after ? last : after;
		wg_json_free(doc);
		wg_buf_free(&body);
		if (status || over)
			break;
	}
	wg_buf_free(&line);
	return results_end(cmd, o, status);
}

/* Prints (or writes) every result of the job, a page at a time; the exit status. */
static int show_results(const char *cmd, const char *api, uint64_t id, struct results_out *o)
{
	int status = results_dir(cmd, o);
	if (status)
		return status;
	uint64_t from = 0;
	struct wg_buf line = {0};
	for (;;) {
		char path[96];
		snprintf(path, sizeof path,
			 "/v1/jobs/%" PRIu64 "/results?from=%" PRIu64 "&limit=%d", id, from,
			 RESULTS_PAGE);
		struct wg_buf body = {0};
		struct wg_json *doc = NULL;
		status = wg_cli_call(cmd, api, &(struct wg_cli_request){.path = path, .job_id = id},
				     &body, &doc);
		if (status) {
			wg_buf_free(&body);
			break;
		}
		const struct wg_json *results = wg_json_get(doc, "results"), *r;
		WG_JSON_FOREACH(r, i, results)
		{
			if ((status = emit_result(cmd, o, r, &line)) != 0)
				break;
		}
		uint64_t next = 0;
		bool more =
		    !status && wg_json_as_u64(wg_json_get(doc, "next"), &next) == 0 && next > from;
		wg_json_free(doc);
		wg_buf_free(&body);
		if (!more)
			break;
		from = next;
	}
	wg_buf_free(&line);
	return results_end(cmd, o, status);
}

static int run_results(void *options, char **operands, size_t n)
{
	const struct job_cli *c = options;
	const char *cmd = "results";
	struct results_out o = {.dir = c->output_dir, .json = c->json};
	uint64_t id = 0;
	if (parse_job_id(cmd, operands[0], &id))
		return 2;
	if (o.dir && o.json)
		return wg_usage_error(cmd, "give --json or --output-dir, not both");
	return c->follow ? follow_results(cmd, c->api, id, &o) : show_results(cmd, c->api, id, &o);
}

JOB_COMMAND(results, run_results, results_opts, "JOB", 1,
	    "Prints a job's results, one line per task: INDEX STATUS RESULT-or-ERROR.");

/* ---- cancel ---- */

static int run_cancel(void *options, char **operands, size_t n_operands)
{
	const struct job_cli *opts = options;
	const char *cmd = "cancel", *api = opts->api;
	uint64_t id = 0;
	if (parse_job_id(cmd, operands[0], &id))
		return 2;
	char path[64];
	snprintf(path, sizeof path, "/v1/jobs/%" PRIu64, id);
	struct wg_buf body = {0};
	struct wg_json *doc = NULL;
	int status = wg_cli_call(
	    cmd, api, &(struct wg_cli_request){.method = "DELETE", .path = path, .job_id = id},
	    &body, &doc);
	if (!status) {
		struct job_counts c;
		read_counts(doc, &c);
		const char *state = json_str(doc, "state");
		if (!strcmp(state, "cancelled"))
			printf("job %" PRIu64 " cancelled: %" PRIu64 " of %" PRIu64
			       " tasks cancelled, %" PRIu64 " completed before\n",
			       id, c.cancelled, c.tasks, c.completed);
		else
			printf("job %" PRIu64 " had already %s; nothing to cancel\n", id, state);
	}
	wg_json_free(doc);
	wg_buf_free(&body);
	return status;
}

JOB_COMMAND(cancel, run_cancel, api_opts, "JOB", 1, "Cancels a job's remaining tasks.");

/* ---- retry ---- */

static int run_retry(void *options, char **operands, size_t n_operands)
{
	const struct job_cli *opts = options;
	const char *cmd = "retry";
	uint64_t id = 0;
	if (parse_job_id(cmd, operands[0], &id))
		return 2;
	char path[64];
	snprintf(path, sizeof path, "/v1/jobs/%" PRIu64 "/retry", id);
	struct wg_buf body = {0};
	struct wg_json *doc = NULL;
	int status = wg_cli_call(
	    cmd, opts->api, &(struct wg_cli_request){.method = "POST", .path = path, .job_id = id},
	    &body, &doc);
	if (!status) {
		uint64_t n = json_u64(doc, "retried");
		if (n)
			printf("job %" PRIu64 ": %" PRIu64 " failed task%s queued again ('wasmgrid "
			       "wait %" PRIu64 "' follows them)\n",
			       id, n, n == 1 ? "" : "s", id);
		else
			printf("job %" PRIu64 " has no failed task; nothing to retry\n", id);
	}
	wg_json_free(doc);
	wg_buf_free(&body);
	return status;
}

JOB_COMMAND(retry, run_retry, api_opts, "JOB", 1,
	    "Queues a job's failed tasks again, their failures counted afresh.");

/* ---- remove ---- */

static int run_remove(void *options, char **operands, size_t n)
{
	const struct job_cli *c = options;
	const char *cmd = "remove", *api = c->api;
	uint64_t id = 0;
	if (parse_job_id(cmd, operands[0], &id))
		return 2;
	char path[80];
	snprintf(path, sizeof path, "/v1/jobs/%" PRIu64 "?remove=true", id);
	struct wg_buf body = {0};
	struct wg_json *doc = NULL;
	int status = wg_cli_call(
	    cmd, api, &(struct wg_cli_request){.method = "DELETE", .path = path, .job_id = id},
	    &body, &doc);
	if (!status)
		printf("job %" PRIu64 " removed, with its tasks and results\n", id);
	wg_json_free(doc);
	wg_buf_free(&body);
	return status;
}

JOB_COMMAND(remove, run_remove, api_opts, "JOB", 1,
	    "Deletes a job with its tasks and results (cancelled first).");

/* ---- submit ---- */

/* Whether every argument can travel as a JSON text string: UTF-8 without NUL. */
static bool all_text(char **args, const size_t *lens, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memchr(args[i], 0, lens[i]) || !wg_utf8_valid(args[i], lens[i]))
			return false;
	return true;
}

/* The arguments of a job: from --arg (not owned) and --args-file (owned in `file`). */
struct arg_list {
	char **items;
	size_t *lens;
	size_t n, cap;
	uint8_t *file;
};

static void arg_push(struct arg_list *a, char *s, size_t len)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->items = wg_realloc(a->items, a->cap * sizeof *a->items);
		a->lens = wg_realloc(a->lens, a->cap * sizeof *a->lens);
	}
	a->items[a->n] = s;
	a->lens[a->n++] = len;
}

static void arg_line(char *line, size_t len, void *user)
{
	arg_push(user, line, len);
}

/* One argument per line (util/lines.h says how lines are cut). */
static int read_args_file(const char *cmd, const char *path, struct arg_list *a)
{
	size_t len = 0;
	if (a->file)
		return wg_usage_error(cmd, "give --args-file once");
	int rc = wg_read_file(path, ARGS_FILE_MAX, &a->file, &len);
	if (rc) {
		wg_cli_fail(cmd, "cannot read the arguments file %s: %s", path,
			    rc == WG_ETOOBIG ? "larger than 512 MiB" : wg_strerror(rc));
		return 1;
	}
	wg_split_lines((char *)a->file, len, arg_line, a);
	return 0;
}

static bool is_url(const char *s)
{
	return s && (!strncmp(s, "https://", 8) || !strncmp(s, "http://", 7) ||
		     !strncmp(s, "file://", 7));
}

/* The BLAKE2b-256 hash of a file in hex, as the manager computes it. */
static int hash_file(const char *cmd, const char *path, char hex[65])
{
	uint8_t *bytes = NULL, digest[32];
	size_t len = 0;
	int rc = wg_read_file(path, WG_MAX_PROGRAM_BYTES, &bytes, &len);
	if (rc) {
		wg_cli_fail(cmd,
			    "cannot read the program %s to hash it: %s (or give "
			    "--hash)",
			    path, wg_strerror(rc));
		return 1;
	}
	crypto_generichash(digest, sizeof digest, bytes, len, NULL, 0);
	wg_hex_encode(digest, sizeof digest, hex);
	hex[64] = 0;
	free(bytes);
	return 0;
}

/* Uploads a local program; writes its hash. */
static int upload_program(const char *cmd, const char *api, const char *path, char hash[65])
{
	uint8_t *bytes = NULL;
	size_t len = 0;
	int rc = wg_read_file(path, WG_MAX_PROGRAM_BYTES, &bytes, &len);
	if (rc) {
		wg_cli_fail(cmd, "cannot read the program %s: %s", path,
			    rc == WG_ETOOBIG ? "larger than 64 MiB" : wg_strerror(rc));
		return 1;
	}
	struct wg_buf body = {0};
	struct wg_json *doc = NULL;
	struct wg_cli_request r = {.method = "POST",
				   .path = "/v1/programs",
				   .content_type = "application/wasm",
				   .body = bytes,
				   .len = len};
	int status = wg_cli_call(cmd, api, &r, &body, &doc);
	if (!status) {
		const char *h = json_str(doc, "hash");
		if (strlen(h) != 64) {
			wg_cli_fail(cmd, "the manager's answer has no program hash");
			status = 1;
		} else {
			memcpy(hash, h, 65);
		}
	}
	wg_json_free(doc);
	wg_buf_free(&body);
	free(bytes);
	return status;
}

/* A number option that may be 0 and so needs to say whether it was given. */
struct given_u64 {
	uint64_t v;
	bool given;
};

static int parse_given(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	struct given_u64 *g = out;
	g->given = true;
	return wg_opt_uint(cmd, o, value, &g->v);
}

static int parse_priority(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	char *end = NULL;
	long long p = strtoll(value, &end, 10);
	if (!*value || *end || p < INT32_MIN || p > INT32_MAX) {
		wg_usage_error(
		    cmd, "--priority must be a whole number (higher runs first), not '%s'", value);
		return -1;
	}
	*(struct given_u64 *)out = (struct given_u64){(uint64_t)(int64_t)p, true};
	return 0;
}

/* --arg A and --args-file F, in the order given: the file's lines go where it was named. */
struct job_args {
	struct arg_list list;
	const char *file;
	size_t file_at;
};

static int parse_arg(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	struct job_args *a = out;
	arg_push(&a->list, (char *)value, strlen(value));
	return 0;
}

static int parse_args_file(const char *cmd, const struct wg_opt *o, const char *value, void *out)
{
	struct job_args *a = out;
	if (a->file) {
		wg_usage_error(cmd, "give --args-file once");
		return -1;
	}
	a->file = value;
	a->file_at = a->list.n;
	return 0;
}

struct submit_opts {
	const char *program, *hash, *api;
	struct job_args args;
	uint64_t timeout_s, memory_mib, redundancy, quorum; /* 0: not given */
	struct given_u64 result_limit, max_failures, priority;
	const char *name;
	bool wait, results;
};

#define S(field) offsetof(struct submit_opts, field)
static const struct wg_opt submit_opts[] = {
    {"arg", "A", WG_OPT_FN, S(args), .parse = parse_arg,
     .help = "one task's argument; repeatable, one task each"},
    {"args-file", "F", WG_OPT_FN, S(args), .parse = parse_args_file,
     .help = "one argument per line of F (docs/api.md says how lines are cut)"},
    {"hash", "H", WG_OPT_STR, S(hash),
     .help = "the program's BLAKE2b-256 in hex (needed for a program at a URL)"},
    {"timeout", "S", WG_OPT_U64, S(timeout_s), 1, WG_MAX_TIMEOUT_MS / 1000,
     .help = "wall-clock limit of a task in seconds (default: WG_DEFAULT_TIMEOUT_MS)"},
    {"memory", "MIB", WG_OPT_U64, S(memory_mib), 1, WG_MAX_MEMORY_MIB,
     .help = "WebAssembly memory of a task (default: WG_DEFAULT_MEMORY_MIB)"},
    {"result-limit", "BYTES", WG_OPT_FN, S(result_limit), 0, WG_MAX_RESULT_BYTES,
     .parse = parse_given, .help = "the largest result a task may give"},
    {"priority", "N", WG_OPT_FN, S(priority), .parse = parse_priority,
     .help = "higher runs first (default: 0)"},
    {"redundancy", "K", WG_OPT_U64, S(redundancy), 1, WG_MAX_REDUNDANCY,
     .help = "replicas of every task, on different workers (default: 1)"},
    {"quorum", "Q", WG_OPT_U64, S(quorum), 1, WG_MAX_REDUNDANCY,
     .help = "byte-identical results a task needs (default: K/2+1)"},
    {"max-failures", "N", WG_OPT_FN, S(max_failures), 0, 1000, .parse = parse_given,
     .help = "failed attempts a task may have before it fails"},
    {"name", "NAME", WG_OPT_STR, S(name),
     .help = "a label shown with the job (at most WG_MAX_JOB_NAME_BYTES)"},
    {"api", "HOST:PORT", WG_OPT_STR, S(api), .dflt = WG_DEFAULT_API_ADDR,
     .help = "the manager's API address"},
    {"wait", NULL, WG_OPT_FLAG, S(wait), .help = "wait for the job with a progress bar"},
    {"results", NULL, WG_OPT_FLAG, S(results), .help = "wait, then print the results"},
    {0},
};
#undef S

/* The checks across options, and the arguments file read into place. */
static int check_submit(struct submit_opts *o)
{
	const char *cmd = "submit";
	o->wait = o->wait || o->results;
	if (o->args.file) {
		/* Read, then moved to where it was named among the --arg values. */
		struct arg_list *l = &o->args.list;
		size_t before = l->n;
		int r = read_args_file(cmd, o->args.file, l);
		if (r)
			return r;
		size_t added = l->n - before, at = o->args.file_at, after = before - at;
		char **items = wg_malloc((after ? after : 1) * sizeof *items);
		size_t *lens = wg_malloc((after ? after : 1) * sizeof *lens);
		memcpy(items, l->items + at, after * sizeof *items);
		memcpy(lens, l->lens + at, after * sizeof *lens);
		memmove(l->items + at, l->items + before, added * sizeof *items);
		memmove(l->lens + at, l->lens + before, added * sizeof *lens);
		memcpy(l->items + at + added, items, after * sizeof *items);
		memcpy(l->lens + at + added, lens, after * sizeof *lens);
		free(items);
		free(lens);
	}
	if (o->name && !wg_job_name_valid(o->name, strlen(o->name)))
		return wg_usage_error(cmd,
				      "--name must be at most %u bytes of text without control "
				      "characters",
				      WG_MAX_JOB_NAME_BYTES);
	if (o->args.list.n == 0)
		return wg_usage_error(cmd,
				      "no arguments: give --arg A (repeatable) or "
				      "--args-file F (one argument per line); each is one task");
	uint64_t k = o->redundancy ? o->redundancy : 1;
	if (o->quorum > k)
		return wg_usage_error(cmd,
				      "--quorum %" PRIu64 " needs at least as many replicas "
				      "(--redundancy %" PRIu64 ")",
				      o->quorum, k);
	return 0;
}

static int run_submit(void *options, char **operands, size_t n_operands)
{
	const char *cmd = "submit";
	struct submit_opts o = *(struct submit_opts *)options;
	o.program = operands[0];
	struct arg_list args = {0};
	struct wg_buf req = {0}, body = {0};
	struct wg_json *doc = NULL;
	int status = check_submit(&o);
	args = o.args.list;
	if (status)
		goto out;
	char hash[65];
	if (o.hash && (strlen(o.hash) != 64 || strspn(o.hash, "0123456789abcdefABCDEF") != 64)) {
		status = wg_usage_error(cmd,
					"--hash must be 64 hex digits (the program's "
					"BLAKE2b-256), not '%s'",
					o.hash);
		goto out;
	}
	if (is_url(o.program)) {
		if (o.hash) {
			memcpy(hash, o.hash, 65);
		} else if (!strncmp(o.program, "file://", 7)) {
			const char *path = o.program + 7;
			if (!strncmp(path, "localhost/", 10))
				path += 9;
			if (sodium_init() < 0 || hash_file(cmd, path, hash) != 0) {
				status = 1;
				goto out;
			}
		} else {
			status =
			    wg_usage_error(cmd, "a program at a URL needs --hash H (its "
						"BLAKE2b-256 in hex), so workers can check it");
			goto out;
		}
	} else {
		if (o.hash) {
			status = wg_usage_error(cmd, "--hash is for URLs; a local file is hashed "
						     "by the manager");
			goto out;
		}
		if ((status = upload_program(cmd, o.api, o.program, hash)) != 0)
			goto out;
	}

	struct wg_json_writer w;
	wg_jw_init(&w, &req);
	wg_jw_object_begin(&w);
	if (is_url(o.program)) {
		wg_jw_kv_str(&w, "address", o.program);
		wg_jw_kv_str(&w, "hash", hash);
	} else {
		wg_jw_kv_str(&w, "program", hash);
	}
	if (o.timeout_s)
		wg_jw_kv_uint(&w, "timeout_ms", o.timeout_s * 1000);
	if (o.memory_mib)
		wg_jw_kv_uint(&w, "memory_mib", o.memory_mib);
	if (o.result_limit.given)
		wg_jw_kv_uint(&w, "result_limit", o.result_limit.v);
	if (o.redundancy)
		wg_jw_kv_uint(&w, "redundancy", o.redundancy);
	if (o.quorum)
		wg_jw_kv_uint(&w, "quorum", o.quorum);
	if (o.max_failures.given)
		wg_jw_kv_uint(&w, "max_failures", o.max_failures.v);
	if (o.priority.given)
		wg_jw_kv_int(&w, "priority", (int64_t)o.priority.v);
	if (o.name)
		wg_jw_kv_str(&w, "name", o.name);
	bool text = all_text(args.items, args.lens, args.n);
	wg_jw_key(&w, text ? "arguments" : "arguments_base64");
	wg_jw_array_begin(&w);
	for (size_t i = 0; i < args.n; i++) {
		if (text)
			wg_jw_strn(&w, args.items[i], args.lens[i]);
		else
			wg_jw_base64(&w, args.items[i], args.lens[i]);
	}
	wg_jw_array_end(&w);
	wg_jw_object_end(&w);
	struct wg_cli_request r = {.method = "POST",
				   .path = "/v1/jobs",
				   .content_type = "application/json",
				   .body = req.data,
				   .len = req.len};
	status = wg_cli_call(cmd, o.api, &r, &body, &doc);
	if (status)
		goto out;
	uint64_t id = json_u64(doc, "id");
	if (!id) {
		wg_cli_fail(cmd, "the manager's answer has no job id");
		status = 1;
		goto out;
	}
	printf("%" PRIu64 "\n", id);
	fflush(stdout);
	if (o.wait)
		status = wait_job(cmd, o.api, id);
	if (o.results && status <= 1) {
		struct results_out ro = {0};
		int rs = show_results(cmd, o.api, id, &ro);
		status = status ? status : rs;
	}
out:
	wg_json_free(doc);
	wg_buf_free(&body);
	wg_buf_free(&req);
	free(args.items);
	free(args.lens);
	free(args.file);
	return status;
}

const struct wg_command wg_cmd_submit = {
    .name = "submit",
    .operands = "PROGRAM.wasm|URL",
    .min_operands = 1,
    .max_operands = 1,
    .missing = "which program? give a .wasm file or an https://, http:// or file:// URL",
    .summary = "Submits a job, one task per argument, and prints its id.",
    .opts = submit_opts,
    .api = true,
    .run = run_submit,
    .options_size = sizeof(struct submit_opts),
};
