#include "http/client.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "http/server.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/json.h"

/* Far beyond any answer of the API; it only stops a runaway peer from filling memory. */
#define MAX_RESPONSE ((size_t)1 << 30)
#define CONNECT_TIMEOUT_S 10L
#define TOTAL_TIMEOUT_S 600L

static _Thread_local char last_error[512];
/* The bearer token every request carries (wg_http_client_set_token), or NULL. */
static char *bearer_header;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
	curl_global_init(CURL_GLOBAL_ALL);
}

const char *wg_http_client_error(void)
{
	return last_error;
}

static size_t on_data(char *p, size_t size, size_t n, void *user)
{
	struct wg_buf *out = user;
	size_t bytes = size * n;
	if (out->len + bytes > MAX_RESPONSE)
		return 0; /* makes curl fail with CURLE_WRITE_ERROR */
	wg_buf_append(out, p, bytes);
	return bytes;
}

int wg_http_request(const char *addr, const char *method, const char *path,
		    const char *content_type, const void *body, size_t len, long *status,
		    struct wg_buf *response)
{
	return wg_http_request_within(0, addr, method, path, content_type, body, len, status,
				      response);
}

int wg_http_request_within(long timeout_ms, const char *addr, const char *method, const char *path,
			   const char *content_type, const void *body, size_t len, long *status,
			   struct wg_buf *response)
{
	int rc = 0;
	CURL *curl = NULL;
	struct curl_slist *headers = NULL;
	char *url = NULL, *ctype = NULL;
	last_error[0] = 0;
	*status = 0;
	if (!addr || !*addr || strpbrk(addr, "/?#@ ") || !path || path[0] != '/') {
		snprintf(last_error, sizeof last_error, "invalid manager address '%s'",
			 addr ? addr : "");
		return WG_EINVAL;
	}
	pthread_once(&curl_once, curl_init_once);
	curl = curl_easy_init();
	if (!curl) {
		snprintf(last_error, sizeof last_error, "cannot initialize libcurl");
		rc = WG_EIO;
		goto out;
	}
	url = wg_asprintf("http://%s%s", addr, path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_PROXY, "");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
	if (timeout_ms > 0)
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
	else
		curl_easy_setopt(curl, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
	/* No "Expect: 100-continue" round trip: the manager is near and answers at once. */
	headers = curl_slist_append(headers, "Expect:");
	if (bearer_header)
		headers = curl_slist_append(headers, bearer_header);
	if (content_type) {
		ctype = wg_asprintf("Content-Type: %s", content_type);
		headers = curl_slist_append(headers, ctype);
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	if (body || !strcmp(method, "POST") || !strcmp(method, "PUT")) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body ? (const char *)body : "");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	}
	if (!strcmp(method, "HEAD"))
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") && strcmp(method, "POST"))
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	else if (!strcmp(method, "POST"))
		curl_easy_setopt(curl, CURLOPT_POST, 1L);

	CURLcode cc = curl_easy_perform(curl);
	switch (cc) {
	case CURLE_OK: curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status); break;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(last_error, sizeof last_error,
			 "cannot connect to the manager at %s: is it running?", addr);
		rc = WG_EUNREACHABLE;
		break;
	case CURLE_OPERATION_TIMEDOUT:
		if (timeout_ms > 0)
			snprintf(last_error, sizeof last_error,
				 "the manager at %s did not answer within %ld ms", addr,
				 timeout_ms);
		else
			snprintf(last_error, sizeof last_error,
				 "the manager at %s did not answer in time", addr);
		rc = WG_ETIMEOUT;
		break;
	case CURLE_URL_MALFORMAT:
		snprintf(last_error, sizeof last_error, "invalid manager address '%s'", addr);
		rc = WG_EINVAL;
		break;
	default:
		snprintf(last_error, sizeof last_error, "request to the manager at %s failed: %s",
			 addr, curl_easy_strerror(cc));
		rc = WG_EIO;
		break;
	}
out:
	curl_slist_free_all(headers);
	if (curl)
		curl_easy_cleanup(curl);
	free(url);
	free(ctype);
	return rc;
}

char *wg_http_error_text(long status, const struct wg_buf *response)
{
	struct wg_json *doc = NULL;
	char *text = NULL;
	if (response && response->len &&
	    wg_json_parse((const char *)response->data, response->len, NULL, &doc, NULL, 0) == 0) {
		const char *msg = wg_json_as_str(wg_json_get(doc, "error"), NULL);
		if (msg)
			text = wg_strdup(msg);
	}
	wg_json_free(doc);
	if (!text)
		text = wg_asprintf("HTTP %ld %s", status, wg_http_reason((int)status));
	return text;
}

void wg_http_client_set_token(const char *token)
{
	free(bearer_header);
	bearer_header = token ? wg_asprintf("Authorization: Bearer %s", token) : NULL;
}
