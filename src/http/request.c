/* Parsing a request head (RFC 9112) and matching it to a route. Everything here reads
 * untrusted bytes: the head has already been bounded by the server's header limit, every
 * character is checked against the grammar, and fixed caps bound the numbers of headers,
 * parameters and query fields. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#include "http/http_internal.h"
#include "util/addr.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/json.h"

void wg__http_request_free(struct wg_http_request *req)
{
	if (!req)
		return;
	for (size_t i = 0; i < req->nparams; i++) {
		free(req->params[i].name);
		free(req->params[i].value);
	}
	for (size_t i = 0; i < req->nquery; i++) {
		free(req->query[i].name);
		free(req->query[i].value);
	}
	free(req->head);
	free(req->path);
	free(req->body);
	wg_buf_free(&req->extra_headers);
	free(req);
}

void wg__http_error_body(struct wg_buf *out, const char *message)
{
	wg_buf_append_str(out, "{\"error\": ");
	wg_json_escape(out, message, strlen(message));
	wg_buf_append_str(out, "}\n");
}

static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Percent-decodes n bytes into a new string; '+' means space when `plus`. NULL for a bad
 * escape or an encoded NUL. */
static char *pct_decode(const char *s, size_t n, int plus)
{
	char *out = wg_malloc(n + 1);
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			int hi = i + 2 < n ? wg_hex_digit(s[i + 1]) : -1;
			int lo = i + 2 < n ? wg_hex_digit(s[i + 2]) : -1;
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			out[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else if (plus && s[i] == '+') {
			out[o++] = ' ';
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = 0;
	return out;
}

static void clear_params(struct wg_http_request *req)
{
	for (size_t i = 0; i < req->nparams; i++) {
		free(req->params[i].name);
		free(req->params[i].value);
	}
	req->nparams = 0;
}

/* Matches a decoded path against a pattern. Returns 1 and fills req->params on a match,
 * 0 on no match (params cleared), -1 for a malformed escape in the path. */
static int route_match(const char *pattern, const char *path, struct wg_http_request *req)
{
	const char *p = pattern, *s = path;
	int rc = 0;
	for (;;) {
		if (!*p) {
			rc = *s == 0;
			break;
		}
		if (*p != '/' || *s != '/')
			break;
		p++, s++;
		if (!strcmp(p, "{*}")) {
			char *rest = pct_decode(s, strlen(s), 0);
			if (!rest) {
				rc = -1;
				break;
			}
			req->params[req->nparams++] = (struct wg__http_kv){wg_strdup("*"), rest};
			rc = 1;
			break;
		}
		const char *pe = strchrnul(p, '/'), *se = strchrnul(s, '/');
		char *seg = pct_decode(s, (size_t)(se - s), 0);
		if (!seg) {
			rc = -1;
			break;
		}
		if (*p == '{' && pe > p + 1 && pe[-1] == '}') {
			if (se == s || req->nparams >= WG__HTTP_MAX_PARAMS) {
				free(seg);
				break;
			}
			req->params[req->nparams++] =
			    (struct wg__http_kv){wg_strndup(p + 1, (size_t)(pe - p - 2)), seg};
		} else {
			int same =
			    strlen(seg) == (size_t)(pe - p) && !memcmp(seg, p, (size_t)(pe - p));
			free(seg);
			if (!same)
				break;
		}
		p = pe, s = se;
	}
	if (rc != 1)
		clear_params(req);
	return rc;
}

/* Splits "a=1&b=x%20y" into req->query. Returns 0 or -1 (bad escape, too many fields). */
static int parse_query(const char *q, struct wg_http_request *req)
{
	while (*q) {
		const char *end = strchrnul(q, '&');
		if (end > q) {
			const char *eq = memchr(q, '=', (size_t)(end - q));
			const char *name_end = eq ? eq : end;
			if (req->nquery >= WG__HTTP_MAX_QUERY)
				return -1;
			char *name = pct_decode(q, (size_t)(name_end - q), 1);
			char *value =
			    eq ? pct_decode(eq + 1, (size_t)(end - eq - 1), 1) : wg_strdup("");
			if (!name || !value) {
				free(name);
				free(value);
				return -1;
			}
			req->query[req->nquery++] = (struct wg__http_kv){name, value};
		}
		q = *end ? end + 1 : end;
	}
	return 0;
}

/* Does the comma-separated header value `v` list `token` (case-insensitively)? */
static int has_token(const char *v, const char *token)
{
	size_t n = strlen(token);
	while (v && *v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		const char *end = v;
		while (*end && *end != ',' && *end != ' ' && *end != '\t')
			end++;
		if ((size_t)(end - v) == n && !strncasecmp(v, token, n))
			return 1;
		v = end;
	}
	return 0;
}

#define FAIL(code, msg)                                                                            \
	do {                                                                                       \
		r->status = (code);                                                                \
		r->message = (msg);                                                                \
		goto fail;                                                                         \
	} while (0)

struct wg_http_request *wg__http_parse_head(const struct wg_http_route *routes, size_t nroutes,
					    const char *head, size_t len, size_t default_max_body,
					    struct wg__http_head_result *r)
{
	struct wg_http_request *req = wg_calloc(1, sizeof *req);
	req->head = wg_strndup(head, len);
	char *h = req->head;
	/* A NUL, or a CR or LF outside a CRLF pair, is never valid in a head. */
	if (strlen(h) != len)
		FAIL(400, "NUL byte in request head");
	for (size_t i = 0; i + 4 < len; i++) {
		if ((h[i] == '\r' && h[i + 1] != '\n') ||
		    (h[i] == '\n' && (!i || h[i - 1] != '\r')))
			FAIL(400, "bare CR or LF in request head");
	}
	h[len - 4] = 0; /* drop the final CRLFCRLF: the head is now lines joined by CRLF */

	/* Request line: METHOD SP TARGET SP VERSION */
	char *line_end = strstr(h, "\r\n");
	char *next = line_end ? line_end + 2 : h + strlen(h);
	if (line_end)
		*line_end = 0;
	char *sp1 = strchr(h, ' ');
	char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
		FAIL(400, "malformed request line");
	*sp1 = *sp2 = 0;
	const char *method = h, *target = sp1 + 1, *version = sp2 + 1;
	if (!*method || strlen(method) > 16)
		FAIL(400, "malformed method");
	for (const char *m = method; *m; m++)
		if (!is_tchar((unsigned char)*m))
			FAIL(400, "malformed method");
	if (target[0] != '/')
		FAIL(400, "request target must be an absolute path");
	for (const char *t = target; *t; t++)
		if ((unsigned char)*t <= 0x20 || (unsigned char)*t >= 0x7f)
			FAIL(400, "invalid character in request target");
	if (strncmp(version, "HTTP/", 5))
		FAIL(400, "malformed HTTP version");
	if (strcmp(version, "HTTP/1.1") && strcmp(version, "HTTP/1.0"))
		FAIL(505, "only HTTP/1.0 and HTTP/1.1 are supported");
	req->method = method;
	int http10 = !strcmp(version, "HTTP/1.0");

	/* Header fields: NAME ":" OWS VALUE OWS */
	while (*next) {
		char *line = next;
		line_end = strstr(line, "\r\n");
		next = line_end ? line_end + 2 : line + strlen(line);
		if (line_end)
			*line_end = 0;
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			FAIL(400, "malformed header field");
		for (char *c = line; c < colon; c++)
			if (!is_tchar((unsigned char)*c))
				FAIL(400, "malformed header field name");
		*colon = 0;
		char *v = colon + 1;
		while (*v == ' ' || *v == '\t')
			v++;
		char *ve = v + strlen(v);
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			*--ve = 0;
		for (char *c = v; *c; c++)
			if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
				FAIL(400, "invalid character in header field value");
		if (req->nheaders >= WG__HTTP_MAX_HEADERS)
			FAIL(431, "too many header fields");
		req->headers[req->nheaders++] = (struct wg__http_kv){line, v};
	}

	/* Framing: Content-Length only; every copy of it must agree. */
	int have_length = 0;
	size_t body_len = 0;
	for (size_t i = 0; i < req->nheaders; i++) {
		if (!strcasecmp(req->headers[i].name, "transfer-encoding"))
			FAIL(411, "chunked request bodies are not supported: send Content-Length");
		if (strcasecmp(req->headers[i].name, "content-length"))
			continue;
		const char *v = req->headers[i].value;
		size_t n = 0, digits = strlen(v);
		if (!digits || digits > 15 || strspn(v, "0123456789") != digits)
			FAIL(400, "malformed Content-Length");
		for (const char *d = v; *d; d++)
			n = n * 10 + (size_t)(*d - '0');
		if (have_length && n != body_len)
			FAIL(400, "conflicting Content-Length fields");
		have_length = 1;
		body_len = n;
	}
	if (!have_length &&
	    (!strcmp(method, "POST") || !strcmp(method, "PUT") || !strcmp(method, "PATCH")))
		FAIL(411, "Content-Length required");
	const char *conn = wg_http_header(req, "connection");
	req->keep_alive = http10 ? has_token(conn, "keep-alive") : !has_token(conn, "close");
	const char *expect = wg_http_header(req, "expect");
	if (expect) {
		if (strcasecmp(expect, "100-continue"))
			FAIL(400, "unsupported Expect");
		req->expect_continue = !http10;
	}

	/* Path, query and route. */
	const char *qmark = strchr(target, '?');
	req->path = qmark ? wg_strndup(target, (size_t)(qmark - target)) : wg_strdup(target);
	if (qmark && parse_query(qmark + 1, req))
		FAIL(400, "malformed or oversized query string");
	size_t allow_len = 0;
	for (size_t i = 0; i < nroutes; i++) {
		int m = route_match(routes[i].pattern, req->path, req);
		if (m < 0)
			FAIL(400, "malformed percent-encoding in path");
		if (!m)
			continue;
		if (!strcmp(routes[i].method, method)) {
			req->route = &routes[i];
			break;
		}
		clear_params(req);
		size_t mlen = strlen(routes[i].method);
		if (!strstr(req->allow, routes[i].method) &&
		    allow_len + mlen + 3 < sizeof req->allow) {
			allow_len +=
			    (size_t)snprintf(req->allow + allow_len, sizeof req->allow - allow_len,
					     "%s%s", allow_len ? ", " : "", routes[i].method);
		}
	}
	/* HEAD is answered like GET, without the body (RFC 9110 9.3.2), unless a route of its
	 * own takes it. */
	for (size_t i = 0; !req->route && !strcmp(method, "HEAD") && i < nroutes; i++) {
		if (strcmp(routes[i].method, "GET") != 0)
			continue;
		if (route_match(routes[i].pattern, req->path, req) == 1)
			req->route = &routes[i];
	}
	if (!req->route)
		req->route_status = allow_len ? 405 : 404;
	size_t limit = req->route && req->route->max_body ? req->route->max_body : default_max_body;
	if (body_len > limit)
		FAIL(413, "request body too large");
	r->body_len = body_len;
	return req;
fail:
	wg__http_request_free(req);
	return NULL;
}

int wg__http_resolve(const char *host_port, struct sockaddr_storage *out)
{
	char host[256];
	int port;
	memset(out, 0, sizeof *out);
	if (wg_addr_split(host_port, host, sizeof host, &port) != 0)
		return WG_EINVAL;
	if (wg_addr_literal(host, port, out) == 0)
		return 0;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) || !res)
		return WG_EINVAL;
	memcpy(out, res->ai_addr, res->ai_addrlen);
	if (out->ss_family == AF_INET)
		((struct sockaddr_in *)out)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)out)->sin6_port = htons((uint16_t)port);
	freeaddrinfo(res);
	return 0;
}
