/* A small HTTP/1.1 server on a libuv loop, for the manager's JSON API. It knows HTTP and
 * nothing of jobs: the user declares a route table once and answers requests.
 *
 * Routes: a method ("GET", "POST"...) and a path pattern. Pattern segments are literal
 * ("/v1/jobs") or parameters ("/v1/jobs/{id}/results": any one non-empty segment, percent
 * decoded, read with wg_http_param(req, "id")). A pattern whose last segment is "{*}" matches
 * that prefix and anything below it; the rest (decoded) is the parameter "*". The first matching
 * route wins. A path no route matches gets 404; a path that matches only with other methods gets
 * 405 with an Allow header. Both carry a JSON error body. HEAD is answered by the GET route
 * of a path when no HEAD route takes it (the same answer, without its body).
 *
 * Protocol: HTTP/1.0 and 1.1, keep-alive (1.1 default, "Connection: close" honoured),
 * request bodies by Content-Length only (Transfer-Encoding: 411), "Expect: 100-continue"
 * answered. Requests on one connection are handled one at a time, in order: pipelined
 * requests wait in the buffer until the previous response is written. Errors in the request
 * itself get a JSON error and the connection closes: 400 malformed, 408 too slow,
 * 411 no length, 413 body over the route's limit, 431 header block too large, 505 version.
 * Each connection has deadlines: a request's head must arrive within head_ms of its first
 * byte and the whole request within request_ms (slowloris), an idle keep-alive connection
 * closes after idle_ms, and a response must be written within request_ms. While a handler
 * holds a request there is no deadline. One client address may hold max_per_client
 * connections; further ones are closed at once. When max_connections are open, a new
 * connection takes the place of the one waiting longest for a request (lingering after an
 * error, idle, or still sending its head or body); only when every connection has a request
 * being handled or answered is the newcomer closed instead.
 *
 * Responding and ownership: the handler receives a request owned by the server and must
 * answer it exactly once with wg_http_respond*(), either during the call or later from the
 * same loop thread (a deferred response). The request stays valid until it is answered;
 * answering frees it, so it must not be used afterwards. If the client disconnects, or the
 * server closes, before the answer, the request stays valid: its abort callback (if set)
 * runs once, and the later answer is discarded and frees it. A request never answered is
 * a leak. */
#ifndef WG_HTTP_SERVER_H
#define WG_HTTP_SERVER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct wg_http_server;
struct wg_http_request;

/* Handles one request; `user` is the server's user pointer. */
typedef void (*wg_http_handler_cb)(struct wg_http_request *req, void *user);
/* The client of a request still unanswered went away (or the server is closing). */
typedef void (*wg_http_abort_cb)(struct wg_http_request *req, void *user);

struct wg_http_route {
	const char *method;  /* "GET", "POST", "DELETE"... exactly as sent */
	const char *pattern; /* "/v1/jobs/{id}", "/files/{*}" */
	wg_http_handler_cb handler;
	size_t max_body; /* 0: the server's max_body */
	/* Answered without the server's bearer token (a page that asks for the token). */
	bool open;
};

struct wg_http_options {
	size_t max_body;	  /* 0: 1 MiB. Routes may allow more (program uploads). */
	size_t max_header;	  /* 0: 16 KiB for request line and headers together */
	uint32_t request_ms;	  /* 0: 30000. Deadline to receive a request / write a reply. */
	uint32_t head_ms;	  /* 0: 5000. Deadline to receive the head (request line and
				   * headers), from its first byte; never later than request_ms. */
	uint32_t idle_ms;	  /* 0: 60000. Idle keep-alive connections close after this. */
	unsigned max_connections; /* 0: 256. When full, see above. */
	unsigned max_per_client;  /* 0: 32. Connections from one client address past this are
				   * closed at once. */
	/* NULL: none. Otherwise every request but those of open routes must carry the header
	 * "Authorization: Bearer TOKEN", or it is answered 401 (with WWW-Authenticate) before
	 * its body is read, and its connection closes; unknown paths are 401 too, so that a
	 * client without the token learns nothing. Copied. */
	const char *bearer_token;
};

/* Listens on "HOST:PORT" (an IPv4 or bracketed IPv6 literal, or a name; port 0 picks a free
 * port, reported in *bound_port if not NULL). `routes` (nroutes entries) and the strings in
 * them are not copied: they must outlive the server (a static table). `opts` may be NULL.
 * Returns 0 or a negative wg_err (WG_EINVAL bad address, WG_EIO cannot bind). */
int wg_http_server_start(uv_loop_t *loop, const char *host_port, const struct wg_http_route *routes,
			 size_t nroutes, const struct wg_http_options *opts, void *user,
			 struct wg_http_server **out, int *bound_port);
/* Stops listening and closes every connection (requests still held get their abort
 * callback). The server frees itself on the loop once its handles have closed; the loop
 * must keep running until then. Requests still held stay valid until answered. */
void wg_http_server_close(struct wg_http_server *s);

/* ---- The request (valid until answered) ---- */

const char *wg_http_method(const struct wg_http_request *req);
/* The path as sent, without the query string (still percent-encoded). */
const char *wg_http_path(const struct wg_http_request *req);
/* A decoded path parameter of the matched route ("id", or "*" for a prefix route), or NULL. */
const char *wg_http_param(const struct wg_http_request *req, const char *name);
/* A decoded query string parameter ("?wait=1&x=a%20b"), or NULL when absent. A parameter
 * without '=' has the value "". With repeats, the first wins. */
const char *wg_http_query(const struct wg_http_request *req, const char *name);
/* A request header (name matched case-insensitively; value trimmed), or NULL. */
const char *wg_http_header(const struct wg_http_request *req, const char *name);
/* The body (NUL-terminated beyond *len, so text bodies can be used as strings). */
const uint8_t *wg_http_body(const struct wg_http_request *req, size_t *len);
/* "HOST:PORT" of the client. */
const char *wg_http_peer(const struct wg_http_request *req);
/* 1 while the client is still connected and waiting. */
int wg_http_client_connected(const struct wg_http_request *req);
/* Sets the abort callback of a request the handler keeps for later. */
void wg_http_set_abort_cb(struct wg_http_request *req, wg_http_abort_cb cb, void *user);

/* ---- Answers (each frees the request) ---- */

/* Adds a header to the answer still to be sent ("Location", "/v1/jobs/7"); a name or value
 * holding CR or LF is dropped. */
void wg_http_add_header(struct wg_http_request *req, const char *name, const char *value);

/* Sends status, Content-Type (NULL: none) and `len` bytes of body (copied). */
void wg_http_respond(struct wg_http_request *req, int status, const char *content_type,
		     const void *body, size_t len);
/* Sends a JSON body (application/json). */
void wg_http_respond_json(struct wg_http_request *req, int status, const void *json, size_t len);
/* The one way to report an error: {"error": "MESSAGE"} with `status`. */
void wg_http_respond_error(struct wg_http_request *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The standard reason phrase of a status code ("Not Found"), or "Unknown". */
const char *wg_http_reason(int status);

#endif
