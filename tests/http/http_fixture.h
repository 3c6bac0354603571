/* A real HTTP server on its own loop thread for the HTTP tests, with a route table that
 * covers the behaviours under test, and raw-socket helpers to play a hostile client. */
#ifndef WG_TEST_HTTP_FIXTURE_H
#define WG_TEST_HTTP_FIXTURE_H
#include <pthread.h>
#include <uv.h>

#include "http/server.h"
#include "util/buf.h"

#define FIXTURE_MAX_HELD 16

struct http_fixture {
	uv_loop_t loop;
	uv_async_t stop;
	pthread_t thread;
	struct wg_http_server *server;
	int port;
	char addr[64];
	/* Loop thread only: requests held back by GET /defer, and how many were aborted. */
	struct wg_http_request *held[FIXTURE_MAX_HELD];
	int nheld;
	int aborted;
	/* Requests held so far, readable from the test thread (fixture_held). */
	int held_total;
};

/* Starts the server on 127.0.0.1:0 with small limits (body 1000 bytes, /upload 100000,
 * header block 2048, request deadline 300 ms). */
void fixture_start(struct http_fixture *f);
/* The same with a limit on simultaneous connections. */
void fixture_start_limited(struct http_fixture *f, unsigned max_connections);
/* The same with options: non-zero fields of `o` replace the defaults above. */
void fixture_start_opts(struct http_fixture *f, const struct wg_http_options *o);
/* Stops the server, joins the thread, and checks that every handle closed and (under
 * LeakSanitizer) that nothing leaked. */
void fixture_stop(struct http_fixture *f);
/* A GET through the real client; returns the status, body in *out (caller frees). */
long fixture_get(struct http_fixture *f, const char *path, struct wg_buf *out);
/* How many requests GET /defer has held since the start (read without a request). */
int fixture_held(struct http_fixture *f);
/* Polls GET /stats until its "held" and "aborted" counts are as given. */
void fixture_wait_counts(struct http_fixture *f, int held, int aborted);

/* A blocking TCP connection to the fixture. */
int raw_connect(struct http_fixture *f);
/* A blocking TCP connection to 127.0.0.1:PORT from the local address `src_ip` (another
 * loopback address such as "127.0.0.2" plays another client), or from any when NULL. */
int raw_connect_from(const char *src_ip, int port);
void raw_send(int fd, const void *data, size_t len);
void raw_send_str(int fd, const char *s);
/* Reads one response (head and Content-Length body) using `carry` for bytes already read
 * beyond it. Returns the status, or -1 at EOF before a full response. The head goes into
 * *head and the body into *body when not NULL (both replaced). */
int raw_read_response(int fd, struct wg_buf *carry, struct wg_buf *head, struct wg_buf *body);
/* Reads until the server closes; returns 1 if it did (0 would mean an error). */
int raw_read_until_eof(int fd, struct wg_buf *carry);

#endif
