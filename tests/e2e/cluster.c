#include "e2e/cluster.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/proc.h"
#include "harness/test.h"
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
	const char *argv[48] = {"worker", "--manager", manager_addr, "--data", e2e_data(name),
				"--heartbeat-ms", E2E_HEARTBEAT_MS, "--retry-max-ms", "300"};
	int n = 9;
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
