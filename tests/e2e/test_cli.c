/* The command line itself: version, help, unknown commands, start-up failures told once. */
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdio.h>
#include <unistd.h>

#include "harness/proc.h"
#include "harness/test.h"
#include "util/version.h"

TEST(cli_version_help_and_unknown_commands)
{
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(wg_test_run(&out, &err, "--version", NULL), 0);
	CHECK_STREQ(wg_buf_cstr(&out), "wasmgrid " WG_VERSION "\n");
	out.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "help", NULL), 0);
	const char *help = wg_buf_cstr(&out);
	const char *commands[] = {"manager", "worker", "workers", "submit", "status",	   "wait",
				  "results", "cancel", "remove",  "run",    "--token-file"};
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		CHECK_CONTAINS(help, commands[i]);
	out.len = err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "frobnicate", NULL), 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "unknown command 'frobnicate'");
	wg_buf_free(&out);
	wg_buf_free(&err);
}

/* How often `needle` occurs in `hay`. */
static int occurrences(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

TEST(cli_daemon_that_cannot_listen_says_why_once)
{
	/* A port taken by a socket of the test's own. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	CHECK_EQ(listen(fd, 1), 0);
	socklen_t len = sizeof sa;
	CHECK_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(sa.sin_port));
	struct wg_buf out = {0}, err = {0};
	CHECK_EQ(
	    wg_test_run(&out, &err, "manager", "--listen", addr, "--data", wg_test_path("m"), NULL),
	    1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "another process is listening there");
	CHECK_EQ(occurrences(wg_buf_cstr(&err), addr), 1);
	err.len = 0;
	CHECK_EQ(wg_test_run(&out, &err, "manager", "--listen", "127.0.0.1:0", "--api", addr,
			     "--data", wg_test_path("m"), NULL),
		 1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "cannot serve the API on");
	CHECK_EQ(occurrences(wg_buf_cstr(&err), addr), 1);
	err.len = 0;
	CHECK_EQ(
	    wg_test_run(&out, &err, "worker", "--listen", addr, "--data", wg_test_path("w"), NULL),
	    1);
	CHECK_CONTAINS(wg_buf_cstr(&err), "another process is listening there");
	CHECK_EQ(occurrences(wg_buf_cstr(&err), addr), 1);
	close(fd);
	wg_buf_free(&out);
	wg_buf_free(&err);
}
