/* Fuzz target: the HTTP server (http/server.c) as a client meets it: the input is written
 * as is to a real connection on loopback (heads, bodies, pipelined requests, garbage), then
 * the client closes its side; the server must answer or refuse, and close, every time. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "http/server.h"
#include "loopback.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static uv_loop_t loop;
static int port;

static void echo(struct wg_http_request *req, void *user)
{
	(void)user;
	size_t n = 0;
	const uint8_t *body = wg_http_body(req, &n);
	char out[96];
	int len = snprintf(out, sizeof out, "{\"bytes\":%zu,\"first\":%d,\"id\":%d}", n,
			   n ? body[0] : -1, wg_http_param(req, "id") != NULL);
	wg_http_respond_json(req, 200, out, (size_t)len);
}

static const struct wg_http_route routes[] = {
    {"GET", "/v1/jobs", echo, 0, false},
    {"POST", "/v1/jobs", echo, 0, false},
    {"GET", "/v1/jobs/{id}", echo, 0, false},
    {"DELETE", "/v1/jobs/{id}", echo, 0, false},
    {"POST", "/v1/programs", echo, 256 * 1024, false},
    {"GET", "/files/{*}", echo, 0, true},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	uv_loop_init(&loop);
	/* A token, with one open route, so the access check is fuzzed too. */
	struct wg_http_options opts = {
	    .max_body = 64 * 1024, .max_header = 8 * 1024, .bearer_token = "fuzz-token-0123456789"};
	struct wg_http_server *server = NULL;
	if (wg_http_server_start(&loop, "127.0.0.1:0", routes, sizeof routes / sizeof routes[0],
				 &opts, NULL, &server, &port) != 0)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len > 256 * 1024)
		return 0;
	int fd = fuzz_connect(&loop, port);
	fuzz_send(&loop, fd, data, len);
	fuzz_finish(&loop, fd);
	return 0;
}
