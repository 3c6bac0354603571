#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness/test.h"
#include "http/client.h"
#include "http/http_fixture.h"
#include "util/err.h"
#include "util/json.h"

/* A hostile exchange must end in `status` and a closed connection, and leave the server
 * answering others. */
static void expect_error_and_close(struct http_fixture *f, const void *req, size_t len, int status)
{
	int fd = raw_connect(f);
	struct wg_buf carry = {0}, body = {0};
	raw_send(fd, req, len);
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), status);
	CHECK_CONTAINS((char *)body.data, "{\"error\": \"");
	struct wg_json *doc = NULL;
	CHECK_EQ(wg_json_parse((char *)body.data, body.len, NULL, &doc, NULL, 0), 0);
	CHECK(wg_json_as_str(wg_json_get(doc, "error"), NULL) != NULL);
	wg_json_free(doc);
	raw_read_until_eof(fd, &carry);
	close(fd);
	wg_buf_free(&carry);
	wg_buf_free(&body);
	struct wg_buf out = {0};
	CHECK_EQ(fixture_get(f, "/hello", &out), 200);
	wg_buf_free(&out);
}

TEST(http_routes_decode_path_params_and_query)
{
	struct http_fixture f;
	fixture_start(&f);
	struct wg_buf out = {0};
	CHECK_EQ(fixture_get(&f, "/hello", &out), 200);
	CHECK_STREQ((char *)out.data, "hello");
	CHECK_EQ(fixture_get(&f, "/v1/jobs/a%20b?x=1&y=two+words%21", &out), 200);
	struct wg_json *doc = NULL;
	CHECK_EQ(wg_json_parse((char *)out.data, out.len, NULL, &doc, NULL, 0), 0);
	CHECK_STREQ(wg_json_as_str(wg_json_get(doc, "id"), NULL), "a b");
	CHECK_STREQ(wg_json_as_str(wg_json_get(doc, "x"), NULL), "1");
	CHECK_STREQ(wg_json_as_str(wg_json_get(doc, "y"), NULL), "two words!");
	CHECK_STREQ(wg_json_as_str(wg_json_get(doc, "path"), NULL), "/v1/jobs/a%20b");
	wg_json_free(doc);
	CHECK_EQ(fixture_get(&f, "/v1/jobs/42/results", &out), 200);
	CHECK_STREQ((char *)out.data, "results of 42");
	CHECK_EQ(fixture_get(&f, "/files/a/b%2Fc.txt", &out), 200);
	CHECK_STREQ((char *)out.data, "a/b/c.txt");
	/* An empty {id} segment does not match. */
	CHECK_EQ(fixture_get(&f, "/v1/jobs/", &out), 404);
	wg_buf_free(&out);
	fixture_stop(&f);
}

TEST(http_unknown_path_is_404_and_wrong_method_is_405_with_json_error)
{
	struct http_fixture f;
	fixture_start(&f);
	struct wg_buf out = {0};
	CHECK_EQ(fixture_get(&f, "/nothing/here", &out), 404);
	char *msg = wg_http_error_text(404, &out);
	CHECK_CONTAINS(msg, "/nothing/here");
	free(msg);
	long status = 0;
	out.len = 0;
	CHECK_EQ(wg_http_request(f.addr, "DELETE", "/echo", NULL, NULL, 0, &status, &out), 0);
	CHECK_EQ(status, 405);
	CHECK_CONTAINS(wg_buf_cstr(&out), "\"error\"");
	/* The Allow header lists the methods the path has. */
	int fd = raw_connect(&f);
	struct wg_buf carry = {0}, head = {0};
	raw_send_str(fd, "DELETE /echo HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_EQ(raw_read_response(fd, &carry, &head, NULL), 405);
	CHECK_CONTAINS((char *)head.data, "Allow: POST, PUT\r\n");
	/* ...and the connection stays usable. */
	raw_send_str(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, NULL), 200);
	close(fd);
	wg_buf_free(&carry);
	wg_buf_free(&head);
	wg_buf_free(&out);
	fixture_stop(&f);
}

TEST(http_keep_alive_serves_several_requests_on_one_connection)
{
	struct http_fixture f;
	fixture_start(&f);
	int fd = raw_connect(&f);
	struct wg_buf carry = {0}, body = {0};
	for (int i = 0; i < 5; i++) {
		char req[128];
		snprintf(req, sizeof req,
			 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nmsg-%02d", i);
		raw_send_str(fd, req);
		CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
		char want[32];
		snprintf(want, sizeof want, "msg-%02d", i);
		CHECK_STREQ((char *)body.data, want);
	}
	/* Connection: close is honoured after the answer. */
	raw_send_str(fd, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
	raw_read_until_eof(fd, &carry);
	CHECK_EQ(carry.len, 0);
	close(fd);
	wg_buf_free(&carry);
	wg_buf_free(&body);
	fixture_stop(&f);
}

TEST(http_pipelined_requests_are_answered_in_order)
{
	struct http_fixture f;
	fixture_start(&f);
	int fd = raw_connect(&f);
	struct wg_buf carry = {0}, body = {0};
	raw_send_str(fd, "GET /v1/jobs/1/results HTTP/1.1\r\n\r\n"
			 "POST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
			 "GET /nope HTTP/1.1\r\n\r\n"
			 "GET /v1/jobs/2/results HTTP/1.1\r\n\r\n");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
	CHECK_STREQ((char *)body.data, "results of 1");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
	CHECK_STREQ((char *)body.data, "abc");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 404);
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
	CHECK_STREQ((char *)body.data, "results of 2");
	close(fd);
	wg_buf_free(&carry);
	wg_buf_free(&body);
	fixture_stop(&f);
}

TEST(http_deferred_response_is_sent_when_the_handler_answers_later)
{
	struct http_fixture f;
	fixture_start(&f);
	int fd = raw_connect(&f);
	struct wg_buf carry = {0}, body = {0}, out = {0};
	raw_send_str(fd, "GET /defer HTTP/1.1\r\n\r\n");
	fixture_wait_counts(&f, 1, 0);
	long status = 0;
	CHECK_EQ(wg_http_request(f.addr, "POST", "/release", NULL, NULL, 0, &status, &out), 0);
	CHECK_EQ(status, 200);
	CHECK_STREQ(wg_buf_cstr(&out), "1");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
	CHECK_STREQ((char *)body.data, "released");
	/* The connection goes on after a deferred answer. */
	raw_send_str(fd, "GET /hello HTTP/1.1\r\n\r\n");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
	close(fd);
	wg_buf_free(&carry);
	wg_buf_free(&body);
	wg_buf_free(&out);
	fixture_stop(&f);
}

TEST(http_client_disconnecting_before_deferred_response_aborts_it_safely)
{
	struct http_fixture f;
	fixture_start(&f);
	int fd = raw_connect(&f);
	raw_send_str(fd, "GET /defer HTTP/1.1\r\n\r\n");
	fixture_wait_counts(&f, 1, 0);
	close(fd);
	/* The abort callback ran and the request is still held, valid... */
	fixture_wait_counts(&f, 1, 1);
	/* ...and answering it now is discarded without harm. */
	struct wg_buf out = {0};
	long status = 0;
	CHECK_EQ(wg_http_request(f.addr, "POST", "/release", NULL, NULL, 0, &status, &out), 0);
	CHECK_EQ(status, 200);
	/* A request still held when the server closes is aborted too, and freed when
	 * answered (fixture_stop checks for leaks). */
	fd = raw_connect(&f);
	raw_send_str(fd, "GET /defer HTTP/1.1\r\n\r\n");
	fixture_wait_counts(&f, 1, 1);
	wg_buf_free(&out);
	fixture_stop(&f);
	CHECK_EQ(f.aborted, 2);
	close(fd);
}

TEST(http_body_over_the_limit_is_413_and_route_limits_apply)
{
	struct http_fixture f;
	fixture_start(&f);
	char *big = malloc(5000);
	memset(big, 'x', 5000);
	struct wg_buf out = {0};
	long status = 0;
	CHECK_EQ(wg_http_request(f.addr, "POST", "/echo", "text/plain", big, 5000, &status, &out),
		 0);
	CHECK_EQ(status, 413);
	out.len = 0;
	CHECK_EQ(wg_http_request(f.addr, "POST", "/upload", "text/plain", big, 5000, &status, &out),
		 0);
	CHECK_EQ(status, 200);
	CHECK_EQ(out.len, 5000);
	CHECK(memcmp(out.data, big, 5000) == 0);
	const char *req = "POST /echo HTTP/1.1\r\nContent-Length: 1001\r\n\r\n";
	expect_error_and_close(&f, req, strlen(req), 413);
	free(big);
	wg_buf_free(&out);
	fixture_stop(&f);
}

TEST(http_expect_100_continue_is_answered_before_the_body)
{
	struct http_fixture f;
	fixture_start(&f);
	int fd = raw_connect(&f);
	struct wg_buf carry = {0}, body = {0};
	raw_send_str(fd,
		     "POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, NULL), 100);
	raw_send_str(fd, "data");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
	CHECK_STREQ((char *)body.data, "data");
	close(fd);
	wg_buf_free(&carry);
	wg_buf_free(&body);
	fixture_stop(&f);
}

TEST(http_malformed_requests_get_400_and_the_server_survives)
{
	struct http_fixture f;
	fixture_start(&f);
	const char *bad[] = {
	    "GARBAGE\r\n\r\n",
	    "GET /hello\r\n\r\n",
	    "GET  /hello HTTP/1.1\r\n\r\n",
	    "GET hello HTTP/1.1\r\n\r\n",
	    "GET /hello HTTP/1.1\r\nNoColon\r\n\r\n",
	    "GET /hello HTTP/1.1\r\nBad Name: x\r\n\r\n",
	    "GET /hello HTTP/1.1\r\n folded: x\r\n\r\n",
	    "GET /hello HTTP/1.1\nHost: x\r\n\r\n",
	    "GET /hello HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
	    "GET /hello HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    "GET /v1/jobs/%zz HTTP/1.1\r\n\r\n",
	    "GET /v1/jobs/a%00 HTTP/1.1\r\n\r\n",
	    "GET /hello?a=%2 HTTP/1.1\r\n\r\n",
	    "GET /he\x01llo HTTP/1.1\r\n\r\n",
	    "\x16\x03\x01\x02\x01\x01\x02\x01\xfc\x03\x03\r\n\r\n",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		expect_error_and_close(&f, bad[i], strlen(bad[i]), 400);
	const char nul[] = "GET /hello HTTP/1.1\r\nX: a\0b\r\n\r\n";
	expect_error_and_close(&f, nul, sizeof nul - 1, 400);
	expect_error_and_close(&f, "GET / HTTP/2.0\r\n\r\n", 18, 505);
	const char *chunked = "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
	expect_error_and_close(&f, chunked, strlen(chunked), 411);
	const char *nolen = "POST /echo HTTP/1.1\r\nHost: x\r\n\r\n";
	expect_error_and_close(&f, nolen, strlen(nolen), 411);
	fixture_stop(&f);
}

TEST(http_oversized_header_block_is_431)
{
	struct http_fixture f;
	fixture_start(&f);
	struct wg_buf req = {0};
	wg_buf_append_str(&req, "GET /hello HTTP/1.1\r\nX-Big: ");
	for (int i = 0; i < 3000; i++)
		wg_buf_append_str(&req, "a");
	wg_buf_append_str(&req, "\r\n\r\n");
	expect_error_and_close(&f, req.data, req.len, 431);
	/* Without an end of head in sight the limit still holds. */
	req.len = 0;
	wg_buf_append_str(&req, "GET /hello HTTP/1.1\r\n");
	for (int i = 0; i < 500; i++)
		wg_buf_append_str(&req, "X-A: b\r\n");
	expect_error_and_close(&f, req.data, req.len, 431);
	wg_buf_free(&req);
	fixture_stop(&f);
}

TEST(http_slow_partial_request_gets_408_and_is_closed)
{
	struct http_fixture f;
	fixture_start(&f);
	const char *partial = "GET /hello HTTP/1.1\r\nHost: exa";
	expect_error_and_close(&f, partial, strlen(partial), 408);
	/* Empty lines alone do not keep a connection alive. */
	int fd = raw_connect(&f);
	struct wg_buf carry = {0};
	raw_send_str(fd, "\r\n");
	for (;;) {
		char chunk[512];
		usleep(50000);
		ssize_t n = recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
		if (n > 0)
			wg_buf_append(&carry, chunk, (size_t)n);
		if (n == 0 || send(fd, "\r\n", 2, MSG_NOSIGNAL) != 2)
			break;
	}
	CHECK_CONTAINS(wg_buf_cstr(&carry), "HTTP/1.1 408 ");
	close(fd);
	wg_buf_free(&carry);
	/* A partial body times out the same way. */
	const char *body = "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc";
	expect_error_and_close(&f, body, strlen(body), 408);
	fixture_stop(&f);
}

TEST(http_client_reports_a_manager_that_is_not_running)
{
	/* A port that was just free: bind, learn it, close. */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof a;
	CHECK_EQ(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	close(fd);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", ntohs(a.sin_port));
	struct wg_buf out = {0};
	long status = 0;
	CHECK_EQ(wg_http_request(addr, "GET", "/v1/workers", NULL, NULL, 0, &status, &out),
		 WG_EUNREACHABLE);
	char want[128];
	snprintf(want, sizeof want, "cannot connect to the manager at %s: is it running?", addr);
	CHECK_STREQ(wg_http_client_error(), want);
	CHECK_EQ(wg_http_request("no/such", "GET", "/", NULL, NULL, 0, &status, &out), WG_EINVAL);
	wg_buf_free(&out);
}

TEST(http_server_refuses_a_bad_listen_address)
{
	uv_loop_t loop;
	struct wg_http_server *s = NULL;
	uv_loop_init(&loop);
	CHECK_EQ(wg_http_server_start(&loop, "127.0.0.1", NULL, 0, NULL, NULL, &s, NULL),
		 WG_EINVAL);
	CHECK_EQ(wg_http_server_start(&loop, "127.0.0.1:99999", NULL, 0, NULL, NULL, &s, NULL),
		 WG_EINVAL);
	CHECK(s == NULL);
	/* A port in use cannot be bound; the failed server cleans up after itself. */
	struct wg_http_server *first = NULL;
	int port = 0;
	CHECK_EQ(wg_http_server_start(&loop, "127.0.0.1:0", NULL, 0, NULL, NULL, &first, &port), 0);
	char addr[64];
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	CHECK_EQ(wg_http_server_start(&loop, addr, NULL, 0, NULL, NULL, &s, NULL), WG_EADDRINUSE);
	CHECK(s == NULL);
	wg_http_server_close(first);
	uv_run(&loop, UV_RUN_DEFAULT);
	CHECK_EQ(uv_loop_close(&loop), 0);
}

TEST(http_head_answer_has_length_but_no_body)
{
	struct http_fixture f;
	fixture_start(&f);
	int fd = raw_connect(&f);
	struct wg_buf carry = {0};
	raw_send_str(fd, "HEAD /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
	raw_read_until_eof(fd, &carry);
	const char *all = wg_buf_cstr(&carry);
	CHECK(strncmp(all, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK_CONTAINS(all, "\r\nContent-Length: 5\r\n");
	CHECK_EQ(strstr(all, "\r\n\r\n") + 4 - all, (long long)carry.len);
	/* The client knows not to wait for a body. */
	struct wg_buf out = {0};
	long status = 0;
	CHECK_EQ(wg_http_request(f.addr, "HEAD", "/hello", NULL, NULL, 0, &status, &out), 0);
	CHECK_EQ(status, 200);
	CHECK_EQ(out.len, 0);
	wg_buf_free(&out);
	close(fd);
	wg_buf_free(&carry);
	fixture_stop(&f);
}

TEST(http_large_upload_within_the_route_limit_arrives_whole)
{
	struct http_fixture f;
	fixture_start(&f);
	size_t n = 8u << 20;
	uint8_t *big = malloc(n);
	unsigned long long sum = 0;
	for (size_t i = 0; i < n; i++) {
		big[i] = (uint8_t)(i * 7 + (i >> 12));
		sum = sum * 31 + big[i];
	}
	struct wg_buf out = {0};
	long status = 0;
	CHECK_EQ(wg_http_request(f.addr, "POST", "/big", "application/wasm", big, n, &status, &out),
		 0);
	CHECK_EQ(status, 200);
	char want[64];
	snprintf(want, sizeof want, "%zu %llu", n, sum);
	CHECK_STREQ(wg_buf_cstr(&out), want);
	out.len = 0;
	CHECK_EQ(
	    wg_http_request(f.addr, "POST", "/big", "application/wasm", big, n + 1, &status, &out),
	    0);
	CHECK_EQ(status, 413);
	free(big);
	wg_buf_free(&out);
	fixture_stop(&f);
}

/* Milliseconds on the monotonic clock. */
static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sends without failing the test: the server may have closed the connection already. */
static void send_quietly(int fd, const char *s)
{
	(void)!send(fd, s, strlen(s), MSG_NOSIGNAL);
}

/* Sends a whole GET /hello and reads until the server closes: the bytes it answered. */
static size_t hello_answer_len(int fd)
{
	struct wg_buf carry = {0};
	send_quietly(fd, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n");
	raw_read_until_eof(fd, &carry);
	size_t n = carry.len;
	wg_buf_free(&carry);
	return n;
}

TEST(http_slow_head_gets_408_at_the_head_deadline_not_the_request_deadline)
{
	struct http_fixture f;
	struct wg_http_options o = {.request_ms = 20000, .head_ms = 300};
	fixture_start_opts(&f, &o);
	/* A head that never ends is cut at head_ms (before the fix: at request_ms, 20 s). */
	long long t0 = now_ms();
	const char *partial = "GET /hello HTTP/1.1\r\nHost: exa";
	expect_error_and_close(&f, partial, strlen(partial), 408);
	long long took = now_ms() - t0;
	CHECK_MSG(took < 5000, "the slow head was cut after %lld ms", took);
	/* The body has the longer request deadline: a body slower than head_ms is fine. */
	int fd = raw_connect(&f);
	struct wg_buf carry = {0}, body = {0};
	raw_send_str(fd, "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
	usleep(900000);
	raw_send_str(fd, "defghij");
	CHECK_EQ(raw_read_response(fd, &carry, NULL, &body), 200);
	CHECK_STREQ((char *)body.data, "abcdefghij");
	close(fd);
	wg_buf_free(&carry);
	wg_buf_free(&body);
	fixture_stop(&f);
}

TEST(http_connections_from_one_address_are_limited)
{
	struct http_fixture f;
	struct wg_http_options o = {.max_per_client = 3, .request_ms = 20000};
	fixture_start_opts(&f, &o);
	/* 127.0.0.3 holds three requests (deferred: no deadline runs out under the test). */
	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = raw_connect_from("127.0.0.3", f.port);
		raw_send_str(fds[i], "GET /defer HTTP/1.1\r\n\r\n");
	}
	while (fixture_held(&f) < 3)
		usleep(10000);
	/* Its fourth connection is closed unanswered; another address is served. */
	int extra = raw_connect_from("127.0.0.3", f.port);
	CHECK_EQ(hello_answer_len(extra), 0);
	close(extra);
	struct wg_buf out = {0};
	CHECK_EQ(fixture_get(&f, "/hello", &out), 200);
	int other = raw_connect_from("127.0.0.4", f.port);
	CHECK(hello_answer_len(other) > 0);
	close(other);
	/* A connection closed is a slot for the same address again. */
	close(fds[0]);
	for (;;) {
		int fd = raw_connect_from("127.0.0.3", f.port);
		size_t n = hello_answer_len(fd);
		close(fd);
		if (n > 0)
			break;
		usleep(10000);
	}
	close(fds[1]);
	close(fds[2]);
	fixture_wait_counts(&f, 3, 3);
	wg_buf_free(&out);
	fixture_stop(&f);
}

TEST(http_full_server_closes_the_longest_waiting_connection_for_a_new_one)
{
	struct http_fixture f;
	struct wg_http_options o = {.max_connections = 3, .request_ms = 20000, .head_ms = 20000};
	fixture_start_opts(&f, &o);
	/* Three connections each with part of a head, oldest first. */
	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = raw_connect(&f);
		raw_send_str(fds[i], "GET /hello HTTP/1.1\r\nHost: x\r\n");
	}
	/* A new client is served (before the fix: closed at once), */
	struct wg_buf out = {0};
	CHECK_EQ(fixture_get(&f, "/hello", &out), 200);
	/* in the place of the oldest, closed unanswered, */
	struct wg_buf carry = {0};
	raw_read_until_eof(fds[0], &carry);
	CHECK_EQ(carry.len, 0);
	close(fds[0]);
	/* while the others still complete their requests. */
	raw_send_str(fds[2], "\r\n");
	CHECK_EQ(raw_read_response(fds[2], &carry, NULL, NULL), 200);
	close(fds[1]);
	close(fds[2]);
	wg_buf_free(&carry);
	wg_buf_free(&out);
	fixture_stop(&f);
}

TEST(http_full_server_of_requests_being_answered_refuses_new_connections)
{
	struct http_fixture f;
	fixture_start_limited(&f, 2);
	int fds[2];
	for (int i = 0; i < 2; i++) {
		fds[i] = raw_connect(&f);
		raw_send_str(fds[i], "GET /defer HTTP/1.1\r\n\r\n");
	}
	while (fixture_held(&f) < 2)
		usleep(10000);
	/* Requests a handler holds are never closed for room: the newcomer is. */
	int extra = raw_connect(&f);
	CHECK_EQ(hello_answer_len(extra), 0);
	close(extra);
	/* A slot freed is a slot for the next client. */
	close(fds[0]);
	struct wg_buf out = {0};
	long status = 0;
	while (wg_http_request(f.addr, "GET", "/hello", NULL, NULL, 0, &status, &out) != 0)
		usleep(10000);
	CHECK_EQ(status, 200);
	close(fds[1]);
	wg_buf_free(&out);
	fixture_stop(&f);
}

TEST(http_head_without_a_route_of_its_own_is_answered_like_get)
{
	struct http_fixture f;
	fixture_start(&f);
	/* /stats has only a GET route: HEAD gets its status and length, not 405, no body. */
	int fd = raw_connect(&f);
	struct wg_buf carry = {0};
	raw_send_str(fd, "HEAD /stats HTTP/1.1\r\nConnection: close\r\n\r\n");
	raw_read_until_eof(fd, &carry);
	const char *all = wg_buf_cstr(&carry);
	CHECK(strncmp(all, "HTTP/1.1 200 OK\r\n", 17) == 0);
	CHECK_CONTAINS(all, "\r\nContent-Length: ");
	CHECK_EQ(strstr(all, "\r\n\r\n") + 4 - all, (long long)carry.len);
	close(fd);
	wg_buf_free(&carry);
	/* A path with no GET route either is still 404 or 405. */
	struct wg_buf out = {0};
	long status = 0;
	CHECK_EQ(wg_http_request(f.addr, "HEAD", "/echo", NULL, NULL, 0, &status, &out), 0);
	CHECK_EQ(status, 405);
	CHECK_EQ(wg_http_request(f.addr, "HEAD", "/nothing", NULL, NULL, 0, &status, &out), 0);
	CHECK_EQ(status, 404);
	wg_buf_free(&out);
	fixture_stop(&f);
}

TEST(http_handler_headers_are_sent_and_cannot_split_the_head)
{
	struct http_fixture f;
	fixture_start(&f);
	int fd = raw_connect(&f);
	struct wg_buf carry = {0};
	raw_send_str(fd,
		     "POST /created HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
	raw_read_until_eof(fd, &carry);
	const char *all = wg_buf_cstr(&carry);
	CHECK(strncmp(all, "HTTP/1.1 201 Created\r\n", 22) == 0);
	CHECK_CONTAINS(all, "\r\nLocation: /things/1\r\n");
	CHECK(!strstr(all, "Set-Cookie"));
	CHECK(!strstr(all, "X-Evil"));
	close(fd);
	wg_buf_free(&carry);
	fixture_stop(&f);
}
