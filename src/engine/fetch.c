/* Fetching program bytes by address (see internal.h). Runs on libuv's thread pool, so it
 * may block; libcurl is used through its easy interface with NOSIGNAL, which is safe from
 * threads once curl_global_init has run (wg__program_dirs_init does that). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/alloc.h"
#include "util/buf.h"
#include "util/err.h"
#include "util/fs.h"

/* ---- the policy ---- */

int wg_fetch_policy_add(struct wg_fetch_policy *p, const char *spec, char *why, size_t why_len)
{
	char *copy = wg_strdup(spec), *save = NULL;
	int rc = 0;
	for (char *item = strtok_r(copy, ",", &save); item && !rc;
	     item = strtok_r(NULL, ",", &save)) {
		if (!strcmp(item, "https")) {
			p->https = true;
		} else if (!strcmp(item, "http")) {
			p->http = true;
		} else if (!strcmp(item, "private")) {
			p->private_hosts = true;
		} else if (!strcmp(item, "wasmgrid")) {
			p->registered = true;
		} else if (!strcmp(item, "all")) {
			p->https = p->http = p->private_hosts = p->registered = p->any_file = true;
		} else if (!strncmp(item, "file:", 5)) {
			char dir[PATH_MAX];
			if (!realpath(item + 5, dir)) {
				snprintf(why, why_len, "--fetch %s: no such directory", item);
				rc = WG_EINVAL;
				break;
			}
			p->dirs = wg_realloc(p->dirs, (p->n_dirs + 1) * sizeof *p->dirs);
			p->dirs[p->n_dirs++] = wg_strdup(dir);
		} else {
			snprintf(why, why_len,
				 "--fetch: unknown '%s' (give https, http, private, "
				 "wasmgrid, file:DIR or all)",
				 item);
			rc = WG_EINVAL;
		}
	}
	free(copy);
	return rc;
}

void wg_fetch_policy_free(struct wg_fetch_policy *p)
{
	for (size_t i = 0; i < p->n_dirs; i++)
		free(p->dirs[i]);
	free(p->dirs);
	memset(p, 0, sizeof *p);
}

/* Whether a local file may be read: its canonical path (links resolved) lies under an
 * allowed directory. A file that does not exist is refused the same way, so the answer
 * tells nothing about the worker's files. */
static int file_allowed(const struct wg_fetch_policy *p, const char *path, char *canonical)
{
	if (!realpath(path, canonical))
		return 0;
	if (p->any_file)
		return 1;
	for (size_t i = 0; i < p->n_dirs; i++) {
		size_t n = strlen(p->dirs[i]);
		if (!strncmp(canonical, p->dirs[i], n) &&
		    (canonical[n] == '/' || (n == 1 && p->dirs[i][0] == '/')))
			return 1;
	}
	return 0;
}

/* Loopback, private, link-local, shared (CGNAT), unspecified, multicast or broadcast: not
 * an address of the public Internet, so reaching it may reach the worker's own network. */
static int is_private(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return (a >> 24) == 0 || (a >> 24) == 10 || (a >> 24) == 127 ||
		       (a >> 16) == 0xa9fe || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 ||
		       (a >> 22) == (100u << 2 | 1) || (a >> 28) == 0xe || a == 0xffffffffu;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			struct sockaddr_in v4 = {.sin_family = AF_INET};
			memcpy(&v4.sin_addr, &a->s6_addr[12], 4);
			return is_private((const struct sockaddr *)&v4);
		}
		return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
		       IN6_IS_ADDR_LINKLOCAL(a) || IN6_IS_ADDR_MULTICAST(a) ||
		       (a->s6_addr[0] & 0xfe) == 0xfc;
	}
	return 1;
}

/* Checks the URL's host against the policy: every address it resolves to must be allowed.
 * On success *pin is a CURLOPT_RESOLVE list fixing the checked addresses, so the transfer
 * cannot be sent elsewhere by a second resolution (DNS rebinding); NULL for a literal. */
static int host_allowed(const struct wg_fetch_policy *p, const char *url, struct curl_slist **pin)
{
	int ok = 0;
	char *host = NULL, *port = NULL;
	struct addrinfo *res = NULL;
	CURLU *u = curl_url();
	*pin = NULL;
	if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
		goto out;
	char bare[256];
	size_t n = strlen(host);
	if (n >= sizeof bare)
		goto out;
	memcpy(bare, host[0] == '[' ? host + 1 : host, n + 1);
	if (host[0] == '[')
		bare[n - 2] = 0;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	if (getaddrinfo(bare, port, &hints, &res) != 0 || !res)
		goto out;
	struct wg_buf entry = {0};
	wg_buf_appendf(&entry, "%s:%s:", host, port);
	ok = 1;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		char ip[INET6_ADDRSTRLEN];
		if (!p->private_hosts && is_private(a->ai_addr))
			ok = 0;
		const void *bytes =
		    a->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)a->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr;
		inet_ntop(a->ai_family, bytes, ip, sizeof ip);
		wg_buf_appendf(&entry, "%s%s%s%s", a == res ? "" : ",",
			       a->ai_family == AF_INET6 ? "[" : "", ip,
			       a->ai_family == AF_INET6 ? "]" : "");
	}
	if (ok && host[0] != '[' && inet_addr(bare) == INADDR_NONE)
		*pin = curl_slist_append(NULL, wg_buf_cstr(&entry));
	wg_buf_free(&entry);
out:
	if (res)
		freeaddrinfo(res);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return ok;
}

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

static int fetch_http(const struct wg_fetch_policy *policy, const char *url, uint64_t max_bytes,
		      uint32_t timeout_ms, uint8_t **out, size_t *len, char *why, size_t why_len)
{
	int rc = WG_EUNREACHABLE;
	struct download d = {.max_bytes = max_bytes};
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *pin = NULL;
	if (policy && !host_allowed(policy, url, &pin)) {
		snprintf(why, why_len, "%s", WG__NOT_ALLOWED);
		return WG_EDENIED;
	}
	CURL *c = curl_easy_init();
	if (!c) {
		curl_slist_free_all(pin);
		snprintf(why, why_len, "cannot start libcurl");
		return WG_EINTERNAL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	if (pin)
		curl_easy_setopt(c, CURLOPT_RESOLVE, pin);
	/* Under a policy a redirect is not followed: its target was not checked. */
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, policy ? 0L : 1L);
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
	long status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300 && status < 400) {
		snprintf(why, why_len,
			 "redirected (HTTP %ld), which this worker's fetch policy "
			 "does not follow",
			 status);
		goto out;
	}
	*out = d.body.data ? d.body.data : (uint8_t *)calloc(1, 1);
	*len = d.body.len;
	d.body.data = NULL;
	rc = 0;
out:
	wg_buf_free(&d.body);
	curl_easy_cleanup(c);
	curl_slist_free_all(pin);
	return rc;
}

int wg__fetch(const struct wg_fetch_policy *policy, const char *address, uint64_t max_bytes,
	      uint32_t timeout_ms, uint8_t **out, size_t *len, char *why, size_t why_len)
{
	int https = !strncmp(address, "https://", 8), http = !strncmp(address, "http://", 7);
	if (http || https) {
		if (policy && !(https ? policy->https : policy->http)) {
			snprintf(why, why_len, "%s", WG__NOT_ALLOWED);
			return WG_EDENIED;
		}
		return fetch_http(policy, address, max_bytes, timeout_ms, out, len, why, why_len);
	}
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
	char canonical[PATH_MAX];
	if (policy) {
		if (!file_allowed(policy, path, canonical)) {
			snprintf(why, why_len, "%s", WG__NOT_ALLOWED);
			return WG_EDENIED;
		}
		path = canonical;
	}
	int rc = wg_read_file(path, (size_t)max_bytes, out, len);
	if (rc)
		snprintf(why, why_len, "%s", rc == WG_ETOOBIG ? "file too large" : wg_strerror(rc));
	return rc;
}
