#include "http/http_fixture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness/test.h"
#include "http/client.h"
#include "util/json.h"

/* Present only in sanitizer builds: then the leak check runs now, not at an exit the
 * runner's _exit() would skip. */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static void reply_text(struct wg_http_request *req, const char *text)
{
	wg_http_respond(req, 200, "text/plain", text, strlen(text));
}

static void on_hello(struct wg_http_request *req, void *user)
{
	reply_text(req, "hello");
}

static void on_job(struct wg_http_request *req, void *user)
{
	struct wg_buf out = {0};
	struct wg_json_writer w;
	wg_jw_init(&w, &out);
	wg_jw_object_begin(&w);
	wg_jw_kv_str(&w, "id", wg_http_param(req, "id"));
	wg_jw_kv_str(&w, "x", wg_http_query(req, "x"));
	wg_jw_kv_str(&w, "y", wg_http_query(req, "y"));
	wg_jw_kv_str(&w, "path", wg_http_path(req));
	wg_jw_object_end(&w);
	wg_http_respond_json(req, 200, out.data, out.len);
	wg_buf_free(&out);
}

static void on_results(struct wg_http_request *req, void *user)
{
	char text[128];
	snprintf(text, sizeof text, "results of %s", wg_http_param(req, "id"));
	reply_text(req, text);
}

static void on_files(struct wg_http_request *req, void *user)
{
	reply_text(req, wg_http_param(req, "*"));
}

static void on_echo(struct wg_http_request *req, void *user)
{
	size_t len;
	const uint8_t *body = wg_http_body(req, &len);
	const char *ct = wg_http_header(req, "content-type");
	wg_http_respond(req, 200, ct ? ct : "application/octet-stream", body, len);
}

/* Answers 201 with a Location header, and tries one that would split the head. */
static void on_created(struct wg_http_request *req, void *user)
{
	wg_http_add_header(req, "Location", "/things/1");
	wg_http_add_header(req, "X-Evil", "a\r\nSet-Cookie: b");
	wg_http_respond_json(req, 201, "{}", 2);
}

/* Answers "LENGTH SUM" for a large body, to check it arrived whole without echoing it. */
static void on_big(struct wg_http_request *req, void *user)
{
	size_t len;
	const uint8_t *body = wg_http_body(req, &len);
	unsigned long long sum = 0;
	for (size_t i = 0; i < len; i++)
		sum = sum * 31 + body[i];
	char text[64];
	snprintf(text, sizeof text, "%zu %llu", len, sum);
	reply_text(req, text);
}

static void on_abort(struct wg_http_request *req, void *user)
{
	struct http_fixture *f = user;
	f->aborted++;
}

static void on_defer(struct wg_http_request *req, void *user)
{
	struct http_fixture *f = user;
	if (f->nheld == FIXTURE_MAX_HELD) {
		wg_http_respond_error(req, 503, "too many held");
		return;
	}
	wg_http_set_abort_cb(req, on_abort, f);
	f->held[f->nheld++] = req;
	__atomic_add_fetch(&f->held_total, 1, __ATOMIC_SEQ_CST);
}

int fixture_held(struct http_fixture *f)
{
	return __atomic_load_n(&f->held_total, __ATOMIC_SEQ_CST);
}

static void release_all(struct http_fixture *f)
{
	for (int i = 0; i < f->nheld; i++)
		reply_text(f->held[i], "released");
	f->nheld = 0;
}

static void on_release(struct wg_http_request *req, void *user)
{
	struct http_fixture *f = user;
	char text[64];
	snprintf(text, sizeof text, "%d", f->nheld);
	release_all(f);
	reply_text(req, text);
}

static void on_stats(struct wg_http_request *req, void *user)
{
	struct http_fixture *f = user;
	char text[64];
	snprintf(text, sizeof text, "{\"held\": %d, \"aborted\": %d}", f->nheld, f->aborted);
	wg_http_respond_json(req, 200, text, strlen(text));
}

static const struct wg_http_route routes[] = {
    {"GET", "/hello", on_hello, 0, false},
    {"HEAD", "/hello", on_hello, 0, false},
    {"GET", "/v1/jobs/{id}", on_job, 0, false},
    {"GET", "/v1/jobs/{id}/results", on_results, 0, false},
    {"GET", "/files/{*}", on_files, 0, false},
    {"POST", "/echo", on_echo, 0, false},
    {"POST", "/created", on_created, 0, false},
    {"PUT", "/echo", on_echo, 0, false},
    {"POST", "/upload", on_echo, 100000, false},
    {"POST", "/big", on_big, 8u << 20, false},
    {"GET", "/defer", on_defer, 0, false},
    {"POST", "/release", on_release, 0, false},
    {"GET", "/stats", on_stats, 0, false},
};

static void on_stop(uv_async_t *a)
{
	struct http_fixture *f = a->data;
	wg_http_server_close(f->server);
	/* Requests still held are detached by now; answering frees them. */
	release_all(f);
	uv_close((uv_handle_t *)a, NULL);
}

static void *loop_thread(void *arg)
{
	struct http_fixture *f = arg;
	uv_run(&f->loop, UV_RUN_DEFAULT);
	return NULL;
}

void fixture_start(struct http_fixture *f)
{
	fixture_start_limited(f, 0);
}

void fixture_start_limited(struct http_fixture *f, unsigned max_connections)
{
	struct wg_http_options o = {.max_connections = max_connections};
	fixture_start_opts(f, &o);
}

void fixture_start_opts(struct http_fixture *f, const struct wg_http_options *o)
{
	memset(f, 0, sizeof *f);
	CHECK_EQ(uv_loop_init(&f->loop), 0);
	uv_async_init(&f->loop, &f->stop, on_stop);
	f->stop.data = f;
	struct wg_http_options opts = {
	    .max_body = 1000,
	    .max_header = 2048,
	    .request_ms = 300,
	    .idle_ms = 5000,
	};
	if (o->max_body)
		opts.max_body = o->max_body;
	if (o->max_header)
		opts.max_header = o->max_header;
	if (o->request_ms)
		opts.request_ms = o->request_ms;
	if (o->head_ms)
		opts.head_ms = o->head_ms;
	if (o->idle_ms)
		opts.idle_ms = o->idle_ms;
	opts.max_connections = o->max_connections;
	opts.max_per_client = o->max_per_client;
	CHECK_EQ(wg_http_server_start(&f->loop, "127.0.0.1:0", routes,
				      sizeof routes / sizeof routes[0], &opts, f, &f->server,
				      &f->port),
		 0);
	CHECK(f->port > 0);
	snprintf(f->addr, sizeof f->addr, "127.0.0.1:%d", f->port);
	CHECK_EQ(pthread_create(&f->thread, NULL, loop_thread, f), 0);
}

void fixture_stop(struct http_fixture *f)
{
	uv_async_send(&f->stop);
	CHECK_EQ(pthread_join(f->thread, NULL), 0);
	CHECK_EQ(uv_loop_close(&f->loop), 0);
	if (__lsan_do_recoverable_leak_check)
		CHECK_MSG(__lsan_do_recoverable_leak_check() == 0, "memory leaked");
}

long fixture_get(struct http_fixture *f, const char *path, struct wg_buf *out)
{
	long status = 0;
	out->len = 0;
	int rc = wg_http_request(f->addr, "GET", path, NULL, NULL, 0, &status, out);
	CHECK_MSG(rc == 0, "GET %s: %s", path, wg_http_client_error());
	wg_buf_cstr(out);
	return status;
}

void fixture_wait_counts(struct http_fixture *f, int held, int aborted)
{
	struct wg_buf out = {0};
	char want[64];
	snprintf(want, sizeof want, "{\"held\": %d, \"aborted\": %d}", held, aborted);
	/* No deadline here: the test's own time limit fails it if the state never comes. */
	while (fixture_get(f, "/stats", &out) != 200 || strcmp((char *)out.data, want))
		usleep(10000);
	wg_buf_free(&out);
}

int raw_connect(struct http_fixture *f)
{
	return raw_connect_from(NULL, f->port);
}

int raw_connect_from(const char *src_ip, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(fd >= 0);
	if (src_ip) {
		struct sockaddr_in src = {.sin_family = AF_INET};
		CHECK_EQ(inet_pton(AF_INET, src_ip, &src.sin_addr), 1);
		CHECK_MSG(bind(fd, (struct sockaddr *)&src, sizeof src) == 0, "bind %s: %s", src_ip,
			  strerror(errno));
	}
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CHECK_MSG(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s",
		  strerror(errno));
	return fd;
}

void raw_send(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		CHECK_MSG(n > 0, "send failed: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void raw_send_str(int fd, const char *s)
{
	raw_send(fd, s, strlen(s));
}

/* Reads more bytes into carry; returns 0 at EOF or on a reset. */
static int read_more(int fd, struct wg_buf *carry)
{
	char chunk[4096];
	ssize_t n;
	do {
		n = recv(fd, chunk, sizeof chunk, 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return 0;
	wg_buf_append(carry, chunk, (size_t)n);
	return 1;
}

int raw_read_response(int fd, struct wg_buf *carry, struct wg_buf *head, struct wg_buf *body)
{
	const char *end;
	for (;;) {
		end = carry->len ? memmem(carry->data, carry->len, "\r\n\r\n", 4) : NULL;
		if (end)
			break;
		if (!read_more(fd, carry))
			return -1;
	}
	size_t head_len = (size_t)(end - (char *)carry->data) + 4;
	char *h = wg_buf_cstr(carry);
	int status = 0;
	CHECK(sscanf(h, "HTTP/1.1 %d", &status) == 1);
	size_t content_length = 0;
	const char *cl = strcasestr(h, "\r\nContent-Length:");
	if (cl && cl < end)
		content_length = strtoul(cl + 17, NULL, 10);
	if (head) {
		head->len = 0;
		wg_buf_append(head, carry->data, head_len);
		wg_buf_cstr(head);
	}
	if (status == 100) {
		wg_buf_consume(carry, head_len);
		return status;
	}
	while (carry->len < head_len + content_length)
		if (!read_more(fd, carry))
			return -1;
	if (body) {
		body->len = 0;
		wg_buf_append(body, carry->data + head_len, content_length);
		wg_buf_cstr(body);
	}
	wg_buf_consume(carry, head_len + content_length);
	return status;
}

int raw_read_until_eof(int fd, struct wg_buf *carry)
{
	while (read_more(fd, carry))
		;
	return 1;
}
