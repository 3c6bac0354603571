/* The HTTP/1.1 server. A connection is a small state machine:
 *
 *   READING  -> a complete request (head + body) is in the buffer -> HANDLING
 *   HANDLING -> the user answers (now or later)                   -> WRITING
 *   WRITING  -> the response is written: keep-alive               -> READING
 *                                        otherwise                -> LINGER -> closed
 *
 * Only one request per connection is ever outside the buffer, which makes pipelining safe
 * and gives natural back-pressure: a client that does not read its responses stops being
 * read. LINGER half-closes the socket and drains what the client still sends for a moment
 * before closing, so that an error response is not destroyed by a TCP reset when the client
 * had unread bytes in flight (a body we refused, say). */
#include "http/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/json.h"
#include "util/log.h"

#define READ_CHUNK 65536
#define LINGER_MS 2000

enum conn_state { CONN_READING, CONN_HANDLING, CONN_WRITING, CONN_LINGER, CONN_CLOSING };

struct wg__http_conn {
	struct wg_http_server *server;
	struct wg__http_conn *prev, *next; /* in server->conns while not closing */
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_shutdown_t shutdown;
	int open_handles; /* freed when the last handle's close callback ran */
	enum conn_state state;
	int reading;
	struct wg_buf in;
	size_t scanned; /* bytes of `in` already searched for the end of the head */
	/* A request whose head is parsed and whose body is still arriving (owned). */
	struct wg_http_request *pending;
	size_t head_len, body_len;
	/* The request handed to the user (HANDLING), not owned: answering frees it. */
	struct wg_http_request *current;
	int timing; /* request_start is set: a request has begun arriving */
	uint64_t request_start;
	/* When the connection last began to wait for a request (accepted, or its last answer
	 * written), in server->ticks: the longest waiting makes room when the server is full. */
	uint64_t waiting_since;
	int close_after_write;
	char peer[64];
	char host[INET6_ADDRSTRLEN]; /* the client address without the port */
};

struct wg_http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	int listener_open;
	const struct wg_http_route *routes;
	size_t nroutes;
	struct wg_http_options opts;
	void *user;
	struct wg__http_conn *conns;
	unsigned nlive;	 /* connections not closing */
	unsigned nconns; /* connections not yet freed */
	uint64_t ticks;	 /* counts connection events, to order them */
	int closing;
};

struct write_req {
	uv_write_t req;
	struct wg__http_conn *conn;
	struct wg_buf data;
	int final; /* the response that ends the current request (not a 100 Continue) */
};

static void conn_close(struct wg__http_conn *c);
static void conn_process(struct wg__http_conn *c);

static void server_maybe_free(struct wg_http_server *s)
{
	if (s->closing && !s->listener_open && s->nconns == 0) {
		free((char *)s->opts.bearer_token);
		free(s);
	}
}

/* ---- Writing ---- */

static void on_linger_shutdown(uv_shutdown_t *sr, int status)
{
	(void)sr;
	(void)status;
}

static void on_timer(uv_timer_t *t);

static void conn_arm_timer(struct wg__http_conn *c)
{
	const struct wg_http_options *o = &c->server->opts;
	uint64_t ms;
	switch (c->state) {
	case CONN_READING:
		if (c->timing) {
			/* The head has its own, shorter deadline; the body the request's. */
			uint64_t now = uv_now(c->server->loop);
			uint32_t limit = c->pending ? o->request_ms : o->head_ms;
			uint64_t deadline = c->request_start + limit;
			ms = deadline > now ? deadline - now : 0;
		} else {
			ms = o->idle_ms;
		}
		break;
	case CONN_WRITING: ms = o->request_ms; break;
	case CONN_LINGER: ms = LINGER_MS; break;
	default: uv_timer_stop(&c->timer); return;
	}
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

static void conn_read_start(struct wg__http_conn *c)
{
	if (!c->reading && uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
		c->reading = 1;
}

static void conn_read_stop(struct wg__http_conn *c)
{
	if (c->reading) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->reading = 0;
	}
}

static void on_write(uv_write_t *w, int status)
{
	struct write_req *wr = (struct write_req *)w;
	struct wg__http_conn *c = wr->conn;
	int final = wr->final;
	wg_buf_free(&wr->data);
	free(wr);
	if (c->state == CONN_CLOSING)
		return;
	if (status < 0) {
		conn_close(c);
		return;
	}
	if (!final)
		return;
	if (c->close_after_write) {
		c->state = CONN_LINGER;
		c->in.len = 0;
		uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_linger_shutdown);
		conn_read_start(c);
		conn_arm_timer(c);
		return;
	}
	c->state = CONN_READING;
	c->waiting_since = ++c->server->ticks;
	conn_read_start(c);
	conn_process(c);
}

/* Queues `data` (taken over). A final write moves the connection to WRITING. */
static void conn_write(struct wg__http_conn *c, struct wg_buf *data, int final)
{
	struct write_req *wr = wg_calloc(1, sizeof *wr);
	wr->conn = c;
	wr->data = *data;
	wr->final = final;
	*data = (struct wg_buf){0};
	uv_buf_t b = uv_buf_init((char *)wr->data.data, (unsigned)wr->data.len);
	if (final) {
		c->state = CONN_WRITING;
		conn_arm_timer(c);
	}
	if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
		wg_buf_free(&wr->data);
		free(wr);
		conn_close(c);
	}
}

const char *wg_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

/* Builds a whole response into `out`. */
static void build_response(struct wg_buf *out, int status, const char *content_type,
			   const void *body, size_t len, int keep_alive, const char *allow,
			   const struct wg_buf *extra, int head_only)
{
	wg_buf_reserve(out, len + 256);
	wg_buf_appendf(out, "HTTP/1.1 %d %s\r\n", status, wg_http_reason(status));
	if (content_type)
		wg_buf_appendf(out, "Content-Type: %s\r\n", content_type);
	if (allow && allow[0])
		wg_buf_appendf(out, "Allow: %s\r\n", allow);
	if (status == 401)
		wg_buf_append_str(out, "WWW-Authenticate: Bearer realm=\"wasmgrid\"\r\n");
	if (extra && extra->len)
		wg_buf_append(out, extra->data, extra->len);
	wg_buf_appendf(out, "Content-Length: %zu\r\nConnection: %s\r\n\r\n", len,
		       keep_alive ? "keep-alive" : "close");
	/* The answer to HEAD has the length of the body it does not carry. */
	if (!head_only)
		wg_buf_append(out, body, len);
}

/* Answers a request that could not be read as HTTP, then closes the connection. */
static void conn_fail(struct wg__http_conn *c, int status, const char *message)
{
	struct wg_buf body = {0}, out = {0};
	wg_debug(NULL, "http: %s: %d %s", c->peer, status, message);
	wg__http_request_free(c->pending);
	c->pending = NULL;
	wg__http_error_body(&body, message);
	build_response(&out, status, "application/json", body.data, body.len, 0, NULL, NULL, 0);
	wg_buf_free(&body);
	c->close_after_write = 1;
	conn_write(c, &out, 1);
}

/* ---- Answers ---- */

void wg_http_add_header(struct wg_http_request *req, const char *name, const char *value)
{
	/* A CR or LF would let a value end the head: such a header is dropped. */
	if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
		return;
	wg_buf_appendf(&req->extra_headers, "%s: %s\r\n", name, value);
}

void wg_http_respond(struct wg_http_request *req, int status, const char *content_type,
		     const void *body, size_t len)
{
	struct wg__http_conn *c = req->conn;
	if (c) {
		struct wg_buf out = {0};
		build_response(&out, status, content_type, body, len, req->keep_alive,
			       status == 405 ? req->allow : NULL, &req->extra_headers,
			       !strcmp(req->method, "HEAD"));
		c->current = NULL;
		c->close_after_write = !req->keep_alive;
		conn_write(c, &out, 1);
	}
	wg__http_request_free(req);
}

void wg_http_respond_json(struct wg_http_request *req, int status, const void *json, size_t len)
{
	wg_http_respond(req, status, "application/json", json, len);
}

void wg_http_respond_error(struct wg_http_request *req, int status, const char *fmt, ...)
{
	struct wg_buf msg = {0}, body = {0};
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n > 0) {
		wg_buf_reserve(&msg, (size_t)n);
		va_start(ap, fmt);
		vsnprintf((char *)msg.data, (size_t)n + 1, fmt, ap);
		va_end(ap);
		msg.len = (size_t)n;
	}
	wg__http_error_body(&body, wg_buf_cstr(&msg));
	wg_http_respond(req, status, "application/json", body.data, body.len);
	wg_buf_free(&msg);
	wg_buf_free(&body);
}

/* ---- Request accessors ---- */

const char *wg_http_method(const struct wg_http_request *req)
{
	return req->method;
}

const char *wg_http_path(const struct wg_http_request *req)
{
	return req->path;
}

static const char *kv_find(const struct wg__http_kv *kv, size_t n, const char *name, int nocase)
{
	for (size_t i = 0; i < n; i++)
		if (nocase ? !strcasecmp(kv[i].name, name) : !strcmp(kv[i].name, name))
			return kv[i].value;
	return NULL;
}

const char *wg_http_param(const struct wg_http_request *req, const char *name)
{
	return kv_find(req->params, req->nparams, name, 0);
}

const char *wg_http_query(const struct wg_http_request *req, const char *name)
{
	return kv_find(req->query, req->nquery, name, 0);
}

const char *wg_http_header(const struct wg_http_request *req, const char *name)
{
	return kv_find(req->headers, req->nheaders, name, 1);
}

const uint8_t *wg_http_body(const struct wg_http_request *req, size_t *len)
{
	if (len)
		*len = req->body_len;
	return req->body;
}

const char *wg_http_peer(const struct wg_http_request *req)
{
	return req->peer;
}

int wg_http_client_connected(const struct wg_http_request *req)
{
	return req->conn != NULL;
}

void wg_http_set_abort_cb(struct wg_http_request *req, wg_http_abort_cb cb, void *user)
{
	req->abort_cb = cb;
	req->abort_user = user;
}

/* ---- Reading and dispatch ---- */

/* Compares in time that depends only on the lengths, so that the answer's timing does not
 * tell how much of a guessed token was right. */
static bool same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* Whether the request may be answered: no token is set, its route is open, or it carries
 * the token. */
static bool authorized(const struct wg_http_server *s, const struct wg_http_request *req)
{
	if (!s->opts.bearer_token || (req->route && req->route->open && !req->route_status))
		return true;
	const char *h = wg_http_header(req, "authorization");
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return false;
	h += 7;
	while (*h == ' ')
		h++;
	return same_secret(h, s->opts.bearer_token);
}

static void dispatch(struct wg__http_conn *c, struct wg_http_request *req)
{
	struct wg_http_server *s = c->server;
	c->state = CONN_HANDLING;
	c->current = req;
	c->timing = 0;
	uv_timer_stop(&c->timer);
	if (req->route_status == 404)
		wg_http_respond_error(req, 404, "no such resource: %s %s", req->method, req->path);
	else if (req->route_status == 405)
		wg_http_respond_error(req, 405, "method %s not allowed on %s", req->method,
				      req->path);
	else
		req->route->handler(req, s->user);
}

/* Takes the body of the pending request out of the buffer and hands the request over. */
static void complete_request(struct wg__http_conn *c)
{
	struct wg_http_request *req = c->pending;
	size_t total = c->head_len + c->body_len;
	if (c->in.len == total && c->body_len >= READ_CHUNK) {
		/* A large upload: the buffer becomes the body instead of being copied. Small
		 * bodies are copied, so that a request held for long keeps little memory. */
		memmove(c->in.data, c->in.data + c->head_len, c->body_len);
		req->body = c->in.data;
		c->in = (struct wg_buf){0};
	} else {
		req->body = wg_malloc(c->body_len + 1);
		memcpy(req->body, c->in.data + c->head_len, c->body_len);
		wg_buf_consume(&c->in, total);
		/* An idle keep-alive connection holds no buffer. */
		if (c->in.len == 0)
			wg_buf_free(&c->in);
	}
	req->body[c->body_len] = 0;
	req->body_len = c->body_len;
	c->pending = NULL;
	c->scanned = 0;
	dispatch(c, req);
}

static void conn_process(struct wg__http_conn *c)
{
	const struct wg_http_options *o = &c->server->opts;
	while (c->state == CONN_READING) {
		if (!c->pending) {
			/* The deadline starts with the first byte, even of the empty lines
			 * that may precede a request (RFC 9112 section 2.2), which are skipped. */
			if (c->in.len && !c->timing) {
				c->timing = 1;
				c->request_start = uv_now(c->server->loop);
			}
			size_t skip = 0;
			while (skip + 1 < c->in.len && c->in.data[skip] == '\r' &&
			       c->in.data[skip + 1] == '\n')
				skip += 2;
			if (skip) {
				wg_buf_consume(&c->in, skip);
				c->scanned = 0;
			}
			const uint8_t *end = NULL;
			if (c->in.len >= 4)
				end = memmem(c->in.data + c->scanned, c->in.len - c->scanned,
					     "\r\n\r\n", 4);
			if (!end) {
				if (c->in.len > o->max_header) {
					conn_fail(c, 431, "request header block too large");
					return;
				}
				c->scanned = c->in.len > 3 ? c->in.len - 3 : 0;
				break;
			}
			c->head_len = (size_t)(end - c->in.data) + 4;
			if (c->head_len > o->max_header) {
				conn_fail(c, 431, "request header block too large");
				return;
			}
			struct wg__http_head_result r = {0};
			struct wg_http_request *req = wg__http_parse_head(
			    c->server->routes, c->server->nroutes, (const char *)c->in.data,
			    c->head_len, o->max_body, &r);
			if (!req) {
				conn_fail(c, r.status, r.message);
				return;
			}
			snprintf(req->peer, sizeof req->peer, "%s", c->peer);
			req->user = c->server->user;
			req->conn = c;
			c->pending = req;
			if (!authorized(c->server, req)) {
				conn_fail(
				    c, 401,
				    "this API needs its token: send the header "
				    "'Authorization: Bearer TOKEN' (wasmgrid --token-file F)");
				return;
			}
			c->body_len = r.body_len;
			/* The limit was checked against Content-Length before anything of the
			 * body is stored, so this reservation is bounded. */
			if (c->in.len < c->head_len + c->body_len) {
				wg_buf_reserve(&c->in, c->head_len + c->body_len - c->in.len);
				if (req->expect_continue) {
					struct wg_buf cont = {0};
					wg_buf_append_str(&cont, "HTTP/1.1 100 Continue\r\n\r\n");
					conn_write(c, &cont, 0);
					if (c->state != CONN_READING)
						return;
				}
			}
		}
		if (c->in.len < c->head_len + c->body_len)
			break;
		complete_request(c);
	}
	if (c->state == CONN_READING) {
		conn_read_start(c);
		conn_arm_timer(c);
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct wg__http_conn *c = h->data;
	(void)suggested;
	wg_buf_reserve(&c->in, READ_CHUNK);
	size_t room = c->in.cap - c->in.len - 1;
	*buf = uv_buf_init((char *)c->in.data + c->in.len,
			   (unsigned)(room > 1u << 30 ? 1u << 30 : room));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct wg__http_conn *c = stream->data;
	(void)buf;
	if (c->state == CONN_CLOSING)
		return;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0)
		return;
	if (c->state == CONN_LINGER)
		return; /* drained and dropped */
	c->in.len += (size_t)nread;
	if (c->state == CONN_READING) {
		conn_process(c);
	} else if (c->in.len > c->server->opts.max_header) {
		/* A client pipelining far ahead of its answers waits for them. */
		conn_read_stop(c);
	}
}

static void on_timer(uv_timer_t *t)
{
	struct wg__http_conn *c = t->data;
	if (c->state == CONN_READING && c->timing)
		conn_fail(c, 408,
			  c->pending ? "request body not received in time"
				     : "request head not received in time");
	else
		conn_close(c);
}

/* ---- Connection life ---- */

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct wg__http_conn *c = h->data;
	if (--c->open_handles > 0)
		return;
	struct wg_http_server *s = c->server;
	wg_buf_free(&c->in);
	free(c);
	s->nconns--;
	server_maybe_free(s);
}

/* Closes a connection. The request the user holds, if any, is detached: it stays valid,
 * its abort callback runs, and its answer will be dropped. The connection itself is freed
 * by the close callbacks, never here, so callers up the stack may still look at it. */
static void conn_close(struct wg__http_conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	struct wg_http_server *s = c->server;
	c->state = CONN_CLOSING;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	s->nlive--;
	wg__http_request_free(c->pending);
	c->pending = NULL;
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
	struct wg_http_request *req = c->current;
	c->current = NULL;
	if (req) {
		req->conn = NULL;
		if (req->abort_cb)
			req->abort_cb(req, req->abort_user);
	}
}

/* The client's "HOST:PORT" into c->peer and its address alone into c->host. */
static void peer_name(struct wg__http_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof ss;
	char *host = c->host, *out = c->peer;
	size_t n = sizeof c->peer;
	int port = 0;
	snprintf(out, n, "?");
	snprintf(host, sizeof c->host, "?");
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len))
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uv_ip4_name(a, host, sizeof c->host);
		port = ntohs(a->sin_port);
		snprintf(out, n, "%s:%d", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, host, sizeof c->host);
		port = ntohs(a->sin6_port);
		snprintf(out, n, "[%s]:%d", host, port);
	}
}

/* The connection that makes room for a new one on a full server: one lingering after its
 * last answer, else the one waiting longest for a request (idle, or its head or body
 * still arriving). A connection whose request is being handled or answered is never
 * taken. NULL when there is none. */
static struct wg__http_conn *room_victim(struct wg_http_server *s, struct wg__http_conn *except)
{
	struct wg__http_conn *best = NULL;
	for (struct wg__http_conn *c = s->conns; c; c = c->next) {
		if (c == except || (c->state != CONN_READING && c->state != CONN_LINGER))
			continue;
		if (!best || (c->state == CONN_LINGER && best->state != CONN_LINGER) ||
		    (c->state == best->state && c->waiting_since < best->waiting_since))
			best = c;
	}
	return best;
}

/* Whether the new connection c (already counted) may stay: at most max_per_client from
 * one address, and at most max_connections in all, making room if needed. */
static int admit(struct wg_http_server *s, struct wg__http_conn *c)
{
	unsigned same = 0;
	for (struct wg__http_conn *o = s->conns; o; o = o->next)
		if (o != c && !strcmp(o->host, c->host))
			same++;
	if (same >= s->opts.max_per_client) {
		wg_debug(NULL, "http: %u connections from %s already, refusing %s", same, c->host,
			 c->peer);
		return 0;
	}
	if (s->nlive <= s->opts.max_connections)
		return 1;
	struct wg__http_conn *victim = room_victim(s, c);
	if (!victim) {
		wg_warn(NULL, "http: %u connections all busy, refusing %s", s->nlive - 1, c->peer);
		return 0;
	}
	wg_debug(NULL, "http: full, closing %s for %s", victim->peer, c->peer);
	conn_close(victim);
	return 1;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct wg_http_server *s = listener->data;
	if (status < 0 || s->closing)
		return;
	struct wg__http_conn *c = wg_calloc(1, sizeof *c);
	c->server = s;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->state = CONN_READING;
	s->nconns++;
	s->nlive++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	peer_name(c);
	c->waiting_since = ++s->ticks;
	if (!admit(s, c)) {
		conn_close(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	conn_read_start(c);
	conn_arm_timer(c);
}

/* ---- Server ---- */

static void on_listener_closed(uv_handle_t *h)
{
	struct wg_http_server *s = h->data;
	s->listener_open = 0;
	server_maybe_free(s);
}

int wg_http_server_start(uv_loop_t *loop, const char *host_port, const struct wg_http_route *routes,
			 size_t nroutes, const struct wg_http_options *opts, void *user,
			 struct wg_http_server **out, int *bound_port)
{
	struct sockaddr_storage addr;
	int rc = wg__http_resolve(host_port, &addr);
	*out = NULL;
	if (rc)
		return rc;
	struct wg_http_server *s = wg_calloc(1, sizeof *s);
	s->loop = loop;
	s->routes = routes;
	s->nroutes = nroutes;
	s->user = user;
	if (opts)
		s->opts = *opts;
	s->opts.bearer_token = opts && opts->bearer_token ? wg_strdup(opts->bearer_token) : NULL;
	if (!s->opts.max_body)
		s->opts.max_body = 1u << 20;
	if (!s->opts.max_header)
		s->opts.max_header = 16u << 10;
	if (!s->opts.request_ms)
		s->opts.request_ms = 30000;
	if (!s->opts.idle_ms)
		s->opts.idle_ms = 60000;
	if (!s->opts.max_connections)
		s->opts.max_connections = 256;
	if (!s->opts.max_per_client)
		s->opts.max_per_client = 32;
	if (!s->opts.head_ms)
		s->opts.head_ms = 5000;
	if (s->opts.head_ms > s->opts.request_ms)
		s->opts.head_ms = s->opts.request_ms;
	uv_tcp_init(loop, &s->listener);
	s->listener.data = s;
	s->listener_open = 1;
	int uvrc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
	if (uvrc == 0)
		uvrc = uv_listen((uv_stream_t *)&s->listener, 128, on_connection);
	if (uvrc) {
		/* Reported by the caller, which knows what the address was for. */
		s->closing = 1;
		uv_close((uv_handle_t *)&s->listener, on_listener_closed);
		return wg_err_from_errno(uvrc);
	}
	if (bound_port) {
		struct sockaddr_storage ss;
		int len = sizeof ss;
		uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
		*bound_port = ss.ss_family == AF_INET6
				  ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
				  : ntohs(((struct sockaddr_in *)&ss)->sin_port);
	}
	*out = s;
	return 0;
}

void wg_http_server_close(struct wg_http_server *s)
{
	if (!s || s->closing)
		return;
	s->closing = 1;
	uv_close((uv_handle_t *)&s->listener, on_listener_closed);
	while (s->conns)
		conn_close(s->conns);
}
