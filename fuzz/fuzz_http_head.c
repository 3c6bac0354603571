/* Fuzz target: the HTTP request head parser (http/request.c), with a route table shaped like
 * the manager's (literal segments, parameters, a prefix route, per-route body limits). The
 * head is cut where the server cuts it: at the first CRLFCRLF (added when missing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/http_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static void never_called(struct wg_http_request *req, void *user)
{
	(void)req;
	(void)user;
	abort();
}

static const struct wg_http_route routes[] = {
    {"GET", "/v1/jobs", never_called, 0, false},
    {"POST", "/v1/jobs", never_called, 64u << 20, false},
    {"GET", "/v1/jobs/{id}", never_called, 0, false},
    {"DELETE", "/v1/jobs/{id}", never_called, 0, false},
    {"GET", "/v1/jobs/{id}/results", never_called, 0, false},
    {"POST", "/v1/programs", never_called, 64u << 20, false},
    {"GET", "/static/{*}", never_called, 0, false},
    {"GET", "/metrics", never_called, 0, false},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len > 64 * 1024)
		return 0;
	const uint8_t *end = len >= 4 ? memmem(data, len, "\r\n\r\n", 4) : NULL;
	size_t head_len = end ? (size_t)(end - data) + 4 : len + 4;
	char *head = malloc(head_len);
	if (!head)
		abort();
	memcpy(head, data, end ? head_len : len);
	if (!end)
		memcpy(head + len, "\r\n\r\n", 4);
	struct wg__http_head_result r = {0};
	struct wg_http_request *req = wg__http_parse_head(routes, sizeof routes / sizeof routes[0],
							  head, head_len, 1 << 20, &r);
	if (req) {
		(void)wg_http_method(req);
		(void)wg_http_path(req);
		(void)wg_http_param(req, "id");
		(void)wg_http_param(req, "*");
		(void)wg_http_query(req, "wait");
		(void)wg_http_header(req, "content-type");
		wg__http_request_free(req);
	} else if (r.status < 400 || r.status > 599 || !r.message) {
		abort();
	}
	free(head);
	return 0;
}
