/* The command line itself: version, help, unknown commands, start-up failures told once. */
#include <signal.h>
#include <stdlib.h>
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

/* Every option named in a help text ("--name"), as a NULL-terminated array of new strings. */
static char **help_options(const char *help)
{
	char **v = calloc(256, sizeof *v);
	size_t n = 0;
	for (const char *p = help; (p = strstr(p, "  --")) != NULL && n < 255; p += 4) {
		size_t len = strcspn(p + 2, " \n");
		v[n++] = strndup(p + 2, len);
	}
	return v;
}

TEST(cli_every_command_has_help_from_the_table_its_parser_and_manual_use)
{
	static const char *const names[] = {"manager", "worker", "workers", "submit",
					    "status",  "wait",	 "results", "cancel",
					    "remove",  "run",	 "compile", "id"};
	struct wg_buf man = {0}, out = {0}, again = {0}, err = {0};
	CHECK_EQ(wg_test_run(&man, NULL, "help", "--man", NULL), 0);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		out.len = again.len = err.len = 0;
		CHECK_EQ(wg_test_run(&out, NULL, "help", names[i], NULL), 0);
		char head[64];
		snprintf(head, sizeof head, "usage: wasmgrid %s", names[i]);
		CHECK_CONTAINS(wg_buf_cstr(&out), head);
		CHECK_EQ(wg_test_run(&again, NULL, names[i], "--help", NULL), 0);
		CHECK_STREQ(wg_buf_cstr(&again), wg_buf_cstr(&out));
		/* The parser knows what the help lists, and nothing else. */
		CHECK_EQ(wg_test_run(NULL, &err, names[i], "--no-such-option", NULL), 2);
		CHECK_CONTAINS(wg_buf_cstr(&err), "unknown option '--no-such-option'");
		char hint[64];
		snprintf(hint, sizeof hint, "(try 'wasmgrid help %s')", names[i]);
		CHECK_CONTAINS(wg_buf_cstr(&err), hint);
		/* Every option of the help is in the manual page (roff escapes its dashes). */
		char **opts = help_options(wg_buf_cstr(&out));
		CHECK(opts[0] != NULL);
		for (char **o = opts; *o; o++) {
			char roff[128];
			size_t r = 0;
			for (const char *c = *o; *c && r < sizeof roff - 3; c++) {
				if (*c == '-')
					roff[r++] = '\\';
				roff[r++] = *c;
			}
			roff[r] = 0;
			CHECK_MSG(strstr(wg_buf_cstr(&man), roff), "%s %s: not in the manual",
				  names[i], *o);
			free(*o);
		}
		free(opts);
	}
	/* A value that the table's bounds refuse, told the same way for every option. */
	err.len = 0;
	CHECK_EQ(wg_test_run(NULL, &err, "worker", "--slots=0", NULL), 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "--slots must be a whole number from 1 to");
	wg_buf_free(&man);
	wg_buf_free(&out);
	wg_buf_free(&again);
	wg_buf_free(&err);
}

TEST(cli_daemon_config_file_sets_options_the_command_line_overrides)
{
	const char *conf = wg_test_path("manager.conf");
	char *text = NULL;
	CHECK(asprintf(&text,
		       "# a manager on ports the kernel picks\n"
		       "listen 127.0.0.1:0\n"
		       "api = 127.0.0.1:0\n"
		       "data %s\n"
		       "port-file %s   # where the node port goes\n"
		       "api-port-file %s\n"
		       "heartbeat-ms = 3000\n",
		       wg_test_path("m"), wg_test_path("port"), wg_test_path("api.port")) > 0);
	FILE *f = fopen(conf, "w");
	CHECK(f != NULL);
	fputs(text, f);
	fclose(f);
	free(text);
	/* The command line wins over the file: its API port goes elsewhere. */
	pid_t pid = wg_test_start("manager", "manager", "--config", conf, "--api-port-file",
				  wg_test_path("api2.port"), NULL);
	CHECK(wg_test_wait_port(wg_test_path("port"), 10000) > 0);
	CHECK(wg_test_wait_port(wg_test_path("api2.port"), 10000) > 0);
	CHECK(access(wg_test_path("api.port"), F_OK) != 0);
	wg_test_stop(pid, SIGTERM, 5000);
	/* A line the table does not know is named, with its place. */
	f = fopen(conf, "a");
	fputs("slots 4\n", f);
	fclose(f);
	struct wg_buf err = {0};
	CHECK_EQ(wg_test_run(NULL, &err, "manager", "--config", conf, NULL), 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "manager.conf:8: unknown option 'slots'");
	err.len = 0;
	CHECK_EQ(wg_test_run(NULL, &err, "worker", "--config", "/nonexistent.conf", NULL), 2);
	CHECK_CONTAINS(wg_buf_cstr(&err), "cannot read --config /nonexistent.conf");
	wg_buf_free(&err);
}
