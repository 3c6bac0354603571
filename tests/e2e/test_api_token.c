/* The API's token (--api-token-file): a real manager refuses requests without it, the CLI,
 * the Python client and the dashboard's page use it, and without a token the manager will
 * not open its API to the network unless told so. */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"
#include "util/fs.h"

#define TOKEN "s3cret-token-for-the-test-0123456789"

/* GET http://127.0.0.1:PORT/PATH with curl, with an optional Authorization header value:
 * the status, and the response head and body in out. */
static long raw_get(int port, const char *path, const char *auth, struct wg_buf *out)
{
	char url[128], header[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	const char *argv[] = {"curl", "-s", "-i", "--max-time", "10", url, NULL, NULL, NULL};
	if (auth) {
		snprintf(header, sizeof header, "Authorization: %s", auth);
		argv[6] = "-H";
		argv[7] = header;
	}
	CHECK_EQ(wg_test_run_program(out, NULL, argv), 0);
	long status = 0;
	sscanf(wg_buf_cstr(out), "HTTP/1.1 %ld", &status);
	return status;
}

static const char *token_file(void)
{
	const char *path = wg_test_path("api.token");
	CHECK_EQ(wg_write_file_atomic(path, TOKEN "\n", strlen(TOKEN) + 1, 0600), 0);
	return path;
}

TEST_SLOW(api_token_is_required_by_the_manager_and_sent_by_the_cli_and_python, 90)
{
	const char *file = token_file();
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, "--api-token-file", file, NULL);
	struct wg_buf out = {0}, err = {0};

	/* Without the token, or with another one: 401, and nothing about what exists. */
	CHECK_EQ(raw_get(m.api_port, "/v1/jobs", NULL, &out), 401);
	CHECK_CONTAINS(wg_buf_cstr(&out), "WWW-Authenticate: Bearer");
	CHECK_CONTAINS(wg_buf_cstr(&out), "needs its token");
	out.len = 0;
	CHECK_EQ(raw_get(m.api_port, "/no/such/path", NULL, &out), 401);
	out.len = 0;
	CHECK_EQ(raw_get(m.api_port, "/v1/jobs", "Bearer not-the-token-at-all-0000", &out), 401);
	out.len = 0;
	CHECK_EQ(raw_get(m.api_port, "/v1/jobs", "Bearer " TOKEN, &out), 200);
	out.len = 0;
	CHECK_EQ(raw_get(m.api_port, "/metrics", "bearer " TOKEN, &out), 200);
	out.len = 0;
	/* The dashboard's page loads without it (it asks for the token). */
	CHECK_EQ(raw_get(m.api_port, "/", NULL, &out), 200);
	out.len = 0;
	CHECK_EQ(raw_get(m.api_port, "/ui/dashboard.js", NULL, &out), 200);
	out.len = 0;

	/* The CLI: refused without, fine with --token-file anywhere, or the environment. */
	CHECK_EQ(wg_test_run(&out, &err, "status", "--api", m.api, NULL), 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "token");
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "status", "--token-file", file, "--api", m.api, NULL), 0);
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "workers", "--api", m.api, "--token-file", file, NULL), 0);
	out.len = err.len = 0;
	setenv("WASMGRID_TOKEN", TOKEN, 1);
	CHECK_EQ(wg_test_run(&out, &err, "status", "--api", m.api, NULL), 0);
	unsetenv("WASMGRID_TOKEN");
	setenv("WASMGRID_TOKEN_FILE", file, 1);
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "status", "--api", m.api, NULL), 0);
	unsetenv("WASMGRID_TOKEN_FILE");
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "status", "--token-file", wg_test_path("none"), "--api",
			     m.api, NULL),
		 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "cannot read");
	out.len = err.len = 0;

	/* The Python client, with the token given and from the environment. */
	char code[512], pypath[PATH_MAX + 16];
	snprintf(pypath, sizeof pypath, "%s/../python", wg_test_bindir());
	if (access(pypath, R_OK) != 0)
		snprintf(pypath, sizeof pypath, "%s/../../python", wg_test_bindir());
	setenv("PYTHONPATH", pypath, 1);
	snprintf(code, sizeof code,
		 "import wasmgrid\n"
		 "try:\n    wasmgrid.Client('%s').jobs()\n    raise SystemExit('no 401')\n"
		 "except wasmgrid.Error as e:\n    assert e.status == 401, e\n"
		 "print(len(wasmgrid.Client('%s', token='%s').jobs()), 'jobs')\n",
		 m.api, m.api, TOKEN);
	const char *py[] = {"python3", "-c", code, NULL};
	CHECK_MSG(wg_test_run_program(&out, &err, py) == 0, "python: %s", wg_buf_cstr(&err));
	CHECK_CONTAINS(wg_buf_cstr(&out), "0 jobs");
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(m.pid, SIGTERM, 10000);
}

TEST_SLOW(api_without_a_token_listens_only_on_loopback_unless_told_insecure, 60)
{
	struct wg_buf out = {0}, err = {0};
	const char *data = e2e_data("m");
	CHECK_EQ(wg_test_run(&out, &err, "manager", "--listen", "127.0.0.1:0", "--api", "0.0.0.0:0",
			     "--data", data, NULL),
		 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "reachable from other machines");
	CHECK_CONTAINS(wg_buf_cstr(&err), "--api-token-file");
	/* Told so, it starts (and stops when asked). */
	const char *port_file = wg_test_path("api.port");
	pid_t pid =
	    wg_test_start("insecure", "manager", "--listen", "127.0.0.1:0", "--api", "0.0.0.0:0",
			  "--api-insecure", "--data", data, "--api-port-file", port_file, NULL);
	CHECK(wg_test_wait_port(port_file, 10000) > 0);
	CHECK_EQ(wg_test_stop(pid, SIGTERM, 10000), 0);
	/* A token file that holds no usable token is refused with the reason. */
	const char *weak = wg_test_path("weak.token");
	CHECK_EQ(wg_write_file_atomic(weak, "short\n", 6, 0600), 0);
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "manager", "--listen", "127.0.0.1:0", "--api",
			     "127.0.0.1:0", "--data", data, "--api-token-file", weak, NULL),
		 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "at least 16");
	wg_buf_free(&out);
	wg_buf_free(&err);
}

TEST_SLOW(dashboard_asks_for_the_token_when_the_api_has_one, 90)
{
	const char *file = token_file();
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, "--api-token-file", file, NULL);
	char url[128];
	snprintf(url, sizeof url, "http://%s/", m.api);
	char *dom = e2e_dump_dom(url, "2000");
	CHECK_CONTAINS(dom, "waiting for the API token");
	CHECK_CONTAINS(dom, "<form id=\"token-form\">"); /* shown: no longer hidden */
	CHECK_CONTAINS(dom, "needs its API token");
	free(dom);
	wg_test_stop(m.pid, SIGTERM, 10000);
}
