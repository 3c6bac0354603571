/* What server.c and request.c share: the request object and the head parser. Not for users
 * of the server (they see http/server.h). */
#ifndef WG_HTTP_INTERNAL_H
#define WG_HTTP_INTERNAL_H
#include <stddef.h>
#include <sys/socket.h>

#include "http/server.h"
#include "util/buf.h"

#define WG__HTTP_MAX_HEADERS 64
#define WG__HTTP_MAX_PARAMS 16
#define WG__HTTP_MAX_QUERY 64

struct wg__http_kv {
	char *name;
	char *value;
};

struct wg__http_conn;

struct wg_http_request {
	struct wg__http_conn *conn; /* NULL once the client is gone: answers are discarded */
	void *user;		    /* the server's user pointer, copied: the server may be gone */
	const struct wg_http_route *route;
	int route_status; /* 404 or 405 when no route takes it; answered after the body */
	char allow[96];	  /* methods for the Allow header of a 405 */
	struct wg_buf extra_headers; /* "Name: value\r\n" lines added by the handler */
	char *head; /* the header block, NUL-split in place; header kv point here */
	const char *method;
	char *path; /* without the query, still encoded */
	struct wg__http_kv headers[WG__HTTP_MAX_HEADERS];
	size_t nheaders;
	struct wg__http_kv params[WG__HTTP_MAX_PARAMS]; /* allocated */
	size_t nparams;
	struct wg__http_kv query[WG__HTTP_MAX_QUERY]; /* allocated */
	size_t nquery;
	uint8_t *body;
	size_t body_len;
	int keep_alive;
	int expect_continue;
	char peer[64];
	wg_http_abort_cb abort_cb;
	void *abort_user;
};

/* Why a head was refused: an HTTP status and a message for the JSON error body. On success
 * body_len is the Content-Length. */
struct wg__http_head_result {
	int status;
	const char *message;
	size_t body_len;
};

/* Parses the head (request line and headers, `len` bytes ending in CRLFCRLF), finds the
 * route, and checks Content-Length against the route's limit (or `default_max_body`).
 * Returns a new request without body, or NULL with r->status and r->message set. */
struct wg_http_request *wg__http_parse_head(const struct wg_http_route *routes, size_t nroutes,
					    const char *head, size_t len, size_t default_max_body,
					    struct wg__http_head_result *r);
void wg__http_request_free(struct wg_http_request *req);
/* Appends {"error": "MESSAGE"} and a newline: the one error body format. */
void wg__http_error_body(struct wg_buf *out, const char *message);
/* Parses "HOST:PORT" ("[v6]:port" for IPv6; names are resolved, blocking). */
int wg__http_resolve(const char *host_port, struct sockaddr_storage *out);

#endif
