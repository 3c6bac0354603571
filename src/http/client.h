/* A blocking HTTP client for the command-line tools (libcurl's easy interface). One call,
 * one request, one connection: the CLI makes a handful of calls per run, so there is no
 * connection reuse to manage. Proxies from the environment are ignored: the manager is
 * always reached directly. */
#ifndef WG_HTTP_CLIENT_H
#define WG_HTTP_CLIENT_H
#include <stddef.h>

#include "util/buf.h"

/* Sends METHOD http://ADDR/PATH with `len` bytes of `body` (NULL/0: none; content_type may
 * then be NULL) and waits for the answer. On success *status gets the HTTP status (any,
 * including 4xx and 5xx) and the body is appended to `response` (the caller owns and frees
 * it). Returns 0, or WG_EUNREACHABLE (nothing listens at ADDR), WG_ETIMEOUT, WG_EINVAL (bad
 * address) or WG_EIO; then wg_http_client_error() tells the user what went wrong, e.g.
 * "cannot connect to the manager at 127.0.0.1:5741: is it running?". */
int wg_http_request(const char *addr, const char *method, const char *path,
		    const char *content_type, const void *body, size_t len, long *status,
		    struct wg_buf *response);
/* The same, giving up (WG_ETIMEOUT) when the whole exchange, connecting included, takes
 * longer than timeout_ms (0: the default, 10 s to connect and 600 s in all). */
int wg_http_request_within(long timeout_ms, const char *addr, const char *method, const char *path,
			   const char *content_type, const void *body, size_t len, long *status,
			   struct wg_buf *response);

/* Makes every later request carry "Authorization: Bearer TOKEN" (copied; NULL: none). For
 * a command-line process, which talks to one API with one token; not thread-safe. */
void wg_http_client_set_token(const char *token);

/* The message for the last failed wg_http_request() of this thread ("" if none). */
const char *wg_http_client_error(void);

/* A one-line description of an error answer for the user: the "error" member of a JSON
 * error body, or the status and reason when the body is not one. A new string, freed by
 * the caller. */
char *wg_http_error_text(long status, const struct wg_buf *response);

#endif
