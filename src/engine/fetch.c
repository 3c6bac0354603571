/* Fetching program bytes by address (see internal.h). Runs on libuv's thread pool, so it
 * may block; libcurl is used through its easy interface with NOSIGNAL, which is safe from
 * threads once curl_global_init has run (wg__program_dirs_init does that). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fs.h"

struct download {
	struct wg_buf body;
	uint64_t max_bytes;
	int too_big;
};

static size_t on_body(char *data, size_t size, size_t n, void *opaque)
{
	struct download *d = opaque;
	size_t bytes = size * n;
	if (d->body.len + bytes > d->max_bytes) {
		d->too_big = 1;
		return 0; /* makes curl fail the transfer */
	}
	wg_buf_append(&d->body, data, bytes);
	return bytes;
}

static int fetch_http(const char *url, uint64_t max_bytes, uint32_t timeout_ms, uint8_t **out,
		      size_t *len, char *why, size_t why_len)
{
	int rc = WG_EUNREACHABLE;
	struct download d = {.max_bytes = max_bytes};
	char errbuf[CURL_ERROR_SIZE] = "";
	CURL *c = curl_easy_init();
	if (!c) {
		snprintf(why, why_len, "cannot start libcurl");
		return WG_EINTERNAL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	long connect_ms = timeout_ms < 10000 ? (long)timeout_ms : 10000;
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_bytes);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	CURLcode cr = curl_easy_perform(c);
	if (d.too_big || cr == CURLE_FILESIZE_EXCEEDED) {
		snprintf(why, why_len, "larger than %llu bytes", (unsigned long long)max_bytes);
		rc = WG_ETOOBIG;
		goto out;
	}
	if (cr != CURLE_OK) {
		snprintf(why, why_len, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cr));
		goto out;
	}
	*out = d.body.data ? d.body.data : (uint8_t *)calloc(1, 1);
	*len = d.body.len;
	d.body.data = NULL;
	rc = 0;
out:
	wg_buf_free(&d.body);
	curl_easy_cleanup(c);
	return rc;
}

int wg__fetch(const char *address, uint64_t max_bytes, uint32_t timeout_ms, uint8_t **out,
	      size_t *len, char *why, size_t why_len)
{
	if (!strncmp(address, "http://", 7) || !strncmp(address, "https://", 8))
		return fetch_http(address, max_bytes, timeout_ms, out, len, why, why_len);
	const char *path = address;
	if (!strncmp(address, "file://", 7)) {
		path = address + 7;
		if (!strncmp(path, "localhost/", 10))
			path += 9;
		if (path[0] != '/') {
			snprintf(why, why_len, "file:// address without an absolute path");
			return WG_EINVAL;
		}
	} else if (strstr(address, "://")) {
		snprintf(why, why_len, "unsupported address scheme");
		return WG_EINVAL;
	}
	int rc = wg_read_file(path, (size_t)max_bytes, out, len);
	if (rc)
		snprintf(why, why_len, "%s", rc == WG_ETOOBIG ? "file too large" : wg_strerror(rc));
	return rc;
}
