#include "e2e/cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/proc.h"
#include "harness/test.h"
#include "util/alloc.h"
#include "util/fs.h"
#include "util/json.h"

const char *e2e_data(const char *name)
{
	return wg_test_path(name);
}

void e2e_manager_start(struct e2e_manager *m, const char *name, int listen_port, ...)
{
	const char *argv[48];
	int n = 0;
	char listen[64], port_file[600], api_port_file[600];
	memset(m, 0, sizeof *m);
	snprintf(m->name, sizeof m->name, "%s", name);
	snprintf(m->data, sizeof m->data, "%s", e2e_data(name));
	snprintf(listen, sizeof listen, "127.0.0.1:%d", listen_port);
	snprintf(port_file, sizeof port_file, "%s.port", m->data);
	snprintf(api_port_file, sizeof api_port_file, "%s.api-port", m->data);
	remove(port_file);
	remove(api_port_file);
	argv[n++] = "manager";
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--api";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--data";
	argv[n++] = m->data;
	argv[n++] = "--port-file";
	argv[n++] = port_file;
	argv[n++] = "--api-port-file";
	argv[n++] = api_port_file;
	argv[n++] = "--heartbeat-ms";
	argv[n++] = E2E_HEARTBEAT_MS;
	va_list ap;
	va_start(ap, listen_port);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < 46)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	m->pid = wg_test_startv(name, argv);
	m->port = wg_test_wait_port(port_file, 10000);
	m->api_port = wg_test_wait_port(api_port_file, 10000);
	snprintf(m->api, sizeof m->api, "127.0.0.1:%d", m->api_port);
}

pid_t e2e_worker_start(const char *name, const char *manager_addr, ...)
{
	/* The tests hand workers file:// and loopback http:// addresses: they may fetch
	 * anything (the fetch policy has tests of its own, test_fetch_policy.c). */
	const char *argv[48] = {"worker",
				"--manager",
				manager_addr,
				"--data",
				e2e_data(name),
				"--heartbeat-ms",
				E2E_HEARTBEAT_MS,
				"--retry-max-ms",
				"300",
				"--fetch",
				"all"};
	int n = 11;
	va_list ap;
	va_start(ap, manager_addr);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < 46)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	return wg_test_startv(name, argv);
}

static struct wg_json *get_workers(int api_port)
{
	struct wg_buf body = {0};
	struct wg_json *doc = NULL;
	char why[64];
	if (wg_test_http_get(api_port, "/v1/workers", &body) == 200)
		wg_json_parse((char *)body.data, body.len, NULL, &doc, why, sizeof why);
	wg_buf_free(&body);
	return doc;
}

int e2e_count_workers(int api_port, const char *state)
{
	struct wg_json *doc = get_workers(api_port);
	if (!doc)
		return -1;
	const struct wg_json *ws = wg_json_get(doc, "workers");
	int n = 0;
	for (size_t i = 0; i < wg_json_len(ws); i++) {
		const char *s = wg_json_as_str(wg_json_get(wg_json_at(ws, i), "state"), NULL);
		if (!state || (s && !strcmp(s, state)))
			n++;
	}
	wg_json_free(doc);
	return n;
}

struct count_wait {
	int port, n;
	const char *state;
};

static bool count_is(void *arg)
{
	struct count_wait *c = arg;
	return e2e_count_workers(c->port, c->state) == c->n;
}

bool e2e_wait_workers(int api_port, const char *state, int n, int timeout_ms)
{
	struct count_wait c = {api_port, n, state};
	return wg_test_wait_for(count_is, &c, timeout_ms);
}

bool e2e_worker_listed(int api_port, const char *node_id)
{
	struct wg_json *doc = get_workers(api_port);
	bool found = false;
	const struct wg_json *ws = wg_json_get(doc, "workers");
	for (size_t i = 0; i < wg_json_len(ws); i++) {
		const char *id = wg_json_as_str(wg_json_get(wg_json_at(ws, i), "node_id"), NULL);
		if (id && !strcmp(id, node_id))
			found = true;
	}
	wg_json_free(doc);
	return found;
}

const char *e2e_program(const char *name)
{
	static char path[32][4096];
	static int next;
	char *p = path[next++ % 32];
	snprintf(p, 4096, "%s/examples/%s.wasm", wg_test_bindir(), name);
	return p;
}

const char *e2e_args_file(const char *name, const char *const *args, size_t n)
{
	struct wg_buf b = {0};
	for (size_t i = 0; i < n; i++) {
		wg_buf_append_str(&b, args[i]);
		wg_buf_append(&b, "\n", 1);
	}
	const char *path = wg_test_path(name);
	CHECK_EQ(wg_write_file_atomic(path, b.data, b.len, 0644), 0);
	wg_buf_free(&b);
	return path;
}

const char *e2e_args_file_repeat(const char *name, const char *arg, size_t n)
{
	const char **args = wg_calloc(n ? n : 1, sizeof *args);
	for (size_t i = 0; i < n; i++)
		args[i] = arg;
	const char *path = e2e_args_file(name, args, n);
	free(args);
	return path;
}

long e2e_http_number(int api_port, const char *path, const char *key)
{
	struct wg_buf body = {0};
	long n = -1;
	if (wg_test_http_get(api_port, path, &body) == 200) {
		const char *p = strstr(wg_buf_cstr(&body), key);
		if (p)
			n = atol(p + strlen(key));
	}
	wg_buf_free(&body);
	return n;
}

char *e2e_submit(const char *api, const char *program, const char *args_file, ...)
{
	const char *argv[40] = {"submit", program, "--args-file", args_file, "--api", api};
	int n = 6;
	va_list ap;
	va_start(ap, args_file);
	const char *a;
	while ((a = va_arg(ap, const char *)) != NULL && n < 38)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	struct wg_buf out = {0}, err = {0};
	int status = wg_test_runv(&out, &err, argv);
	CHECK_MSG(status == 0, "submit failed (%d): %s", status, wg_buf_cstr(&err));
	char *job = wg_strdup(wg_buf_cstr(&out));
	job[strcspn(job, "\n")] = 0;
	wg_buf_free(&out);
	wg_buf_free(&err);
	CHECK(job[0]);
	return job;
}

int e2e_wait(const char *api, const char *job)
{
	return wg_test_run(NULL, NULL, "wait", job, "--api", api, NULL);
}

struct e2e_result *e2e_results(const char *api, const char *job, size_t *n)
{
	struct wg_buf out = {0}, err = {0};
	int status = wg_test_run(&out, &err, "results", job, "--json", "--api", api, NULL);
	CHECK_MSG(status == 0, "results failed: %s", wg_buf_cstr(&err));
	size_t cap = 16, count = 0;
	struct e2e_result *r = wg_calloc(cap, sizeof *r);
	char *save = NULL;
	for (char *line = strtok_r(wg_buf_cstr(&out), "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct wg_json *doc = NULL;
		char why[128];
		CHECK_MSG(wg_json_parse(line, strlen(line), NULL, &doc, why, sizeof why) == 0,
			  "results line is not JSON (%s): %s", why, line);
		if (count == cap) {
			cap *= 2;
			r = wg_realloc(r, cap * sizeof *r);
		}
		struct e2e_result *x = &r[count++];
		memset(x, 0, sizeof *x);
		int64_t v = -1;
		wg_json_as_i64(wg_json_get(doc, "index"), &v);
		x->index = (int)v;
		v = 0;
		wg_json_as_i64(wg_json_get(doc, "attempts"), &v);
		x->attempts = (int)v;
		const char *s;
		if ((s = wg_json_as_str(wg_json_get(doc, "status"), NULL)))
			snprintf(x->status, sizeof x->status, "%s", s);
		if ((s = wg_json_as_str(wg_json_get(doc, "result"), NULL)))
			x->result = wg_strdup(s);
		if ((s = wg_json_as_str(wg_json_get(doc, "error"), NULL)))
			snprintf(x->error, sizeof x->error, "%s", s);
		if ((s = wg_json_as_str(wg_json_get(doc, "stderr"), NULL)))
			x->stderr_tail = wg_strdup(s);
		if ((s = wg_json_as_str(wg_json_get(doc, "worker"), NULL)))
			snprintf(x->worker, sizeof x->worker, "%s", s);
		wg_json_free(doc);
	}
	wg_buf_free(&out);
	wg_buf_free(&err);
	*n = count;
	return r;
}

void e2e_results_free(struct e2e_result *r, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(r[i].result);
		free(r[i].stderr_tail);
	}
	free(r);
}

long e2e_job_count(const char *api, const char *job, const char *name)
{
	struct wg_buf out = {0};
	if (wg_test_run(&out, NULL, "status", job, "--json", "--api", api, NULL) != 0) {
		wg_buf_free(&out);
		return -1;
	}
	struct wg_json *doc = NULL;
	char why[64];
	long value = -1;
	if (wg_json_parse((char *)out.data, out.len, NULL, &doc, why, sizeof why) == 0) {
		int64_t v;
		if (wg_json_as_i64(wg_json_get(doc, name), &v) == 0 ||
		    wg_json_as_i64(wg_json_get(wg_json_get(doc, "counts"), name), &v) == 0)
			value = (long)v;
	}
	wg_json_free(doc);
	wg_buf_free(&out);
	return value;
}

int e2e_children(pid_t pid)
{
	struct wg_test_child c[256];
	size_t n = wg_test_children(pid, c, sizeof c / sizeof c[0]);
	int forks = 0;
	/* Only forks of the worker count (comm "wasmgrid"): not its compilers (wasm2c, cc). */
	for (size_t i = 0; i < n; i++)
		forks += strcmp(c[i].comm, "wasmgrid") == 0;
	return forks;
}

/* The page at URL as chromium's DOM after `budget_ms` of (virtual) time: the page's timers
 * and fetches run, then the DOM is printed. */
char *e2e_dump_dom(const char *url, const char *budget_ms)
{
	char profile[4200], budget[64];
	snprintf(profile, sizeof profile, "--user-data-dir=%s", wg_test_path("chromium"));
	snprintf(budget, sizeof budget, "--virtual-time-budget=%s", budget_ms);
	/* No sandbox (we are root), and none of the background connections a closed machine
	 * refuses. */
	const char *argv[] = {"chromium",
			      "--headless",
			      "--no-sandbox",
			      "--disable-gpu",
			      "--disable-quic",
			      "--no-first-run",
			      "--disable-background-networking",
			      "--disable-component-update",
			      "--disable-sync",
			      profile,
			      budget,
			      "--dump-dom",
			      url,
			      NULL};
	struct wg_buf out = {0}, err = {0};
	int status = wg_test_run_program(&out, &err, argv);
	CHECK_MSG(status != 127, "chromium is not installed (tools/deps.sh installs it)");
	CHECK_MSG(status == 0, "chromium exited %d: %s", status, wg_buf_cstr(&err));
	wg_buf_free(&err);
	return wg_buf_cstr(&out);
}

void e2e_check_slow_results(const char *api, const char *job, const char *const *args, size_t n)
{
	size_t got;
	struct e2e_result *r = e2e_results(api, job, &got);
	CHECK_EQ(got, n);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ(r[i].index, (int)i);
		CHECK_STREQ(r[i].status, "completed");
		char want[64];
		snprintf(want, sizeof want, "slept %s\n", args[i]);
		CHECK_STREQ(r[i].result, want);
	}
	e2e_results_free(r, got);
	CHECK_EQ(e2e_job_count(api, job, "completed"), (long)n);
}

long e2e_worker_outvoted(int api_port, const char *node_id)
{
	struct wg_buf body = {0};
	long n = -1;
	if (wg_test_http_get(api_port, "/v1/workers", &body) == 200) {
		const char *at = strstr(wg_buf_cstr(&body), node_id);
		const char *key = at ? strstr(at, "\"outvoted\":") : NULL;
		if (key)
			n = strtol(key + strlen("\"outvoted\":"), NULL, 10);
	}
	wg_buf_free(&body);
	return n;
}
