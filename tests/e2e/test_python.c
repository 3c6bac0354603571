/* The Python client (python/wasmgrid) against a real manager and a real worker: the
 * unittest suite in tests/python/test_client.py, run by the system's python3. */
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "e2e/cluster.h"
#include "harness/proc.h"
#include "harness/test.h"

/* A loopback port that nothing listens on (bound, then released). */
static int unused_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	CHECK(bind(fd, (struct sockaddr *)&a, sizeof a) == 0);
	CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
	close(fd);
	return ntohs(a.sin_port);
}

TEST_SLOW(python_client_submits_waits_streams_cancels_and_lists_workers, 240)
{
	const char *root = wg_test_source_root();
	CHECK_MSG(root, "the source tree was not found above %s", wg_test_bindir());
	struct e2e_manager m;
	e2e_manager_start(&m, "manager", 0, NULL);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", m.port);
	pid_t w = e2e_worker_start("w1", addr, "--slots", "2", NULL);
	CHECK_MSG(e2e_wait_workers(m.api_port, "attached", 1, 20000), "worker did not attach");

	char script[PATH_MAX + 32], programs[PATH_MAX + 16], port[16];
	snprintf(script, sizeof script, "%s/tests/python/test_client.py", root);
	snprintf(programs, sizeof programs, "%s/examples", wg_test_bindir());
	snprintf(port, sizeof port, "%d", unused_port());
	setenv("WG_API", m.api, 1);
	setenv("WG_PROGRAMS", programs, 1);
	setenv("WG_UNUSED_PORT", port, 1);
	struct wg_buf out = {0}, err = {0};
	const char *argv[] = {"python3", script, NULL};
	int status = wg_test_run_program(&out, &err, argv);
	const char *text = wg_buf_cstr(&err); /* unittest reports on stderr */
	wg_buf_cstr(&out);
	if (status != 0)
		fprintf(stderr, "%s\n%s\n", wg_buf_cstr(&out), text);
	CHECK_MSG(status == 0, "the Python client's tests failed (exit %d)", status);
	/* Every test of the file ran (a test renamed away from test_* would not). */
	CHECK_CONTAINS(text, "Ran 9 tests");
	CHECK_CONTAINS(text, "\nOK");
	wg_buf_free(&out);
	wg_buf_free(&err);
	wg_test_stop(w, SIGTERM, 10000);
	wg_test_stop(m.pid, SIGTERM, 10000);
}
