/*
 * wasmgrid client for the job-engine benchmark: the same two workloads as the Dask and
 * Gearman clients, through the manager's HTTP API on one kept-alive connection (libcurl), as
 * an application would use it.
 *
 *   wasmgrid_client API PROGRAM.wasm throughput N
 *	Uploads the program (untimed), then submits ONE job of N tasks "0".."N-1" and waits for
 *	it with GET /v1/jobs/ID?wait (the manager answers when the job ends), then fetches every
 *	result. Prints "N SECONDS": from the submission to the last result fetched.
 *   wasmgrid_client API PROGRAM.wasm latency N WARMUP
 *	WARMUP untimed, then N timed one-task jobs in sequence: submit, then one
 *	GET /v1/jobs/ID/results?wait that the manager answers with the result when the job ends.
 *	Prints each round trip in milliseconds, one per line.
 *
 * Every result is checked (the argument plus one); a wrong or missing one fails the run.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/buf.h"
#include "util/fs.h"
#include "util/json.h"

static CURL *curl;
static char base[256];

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t collect(char *p, size_t size, size_t n, void *user)
{
	wg_buf_append(user, p, size * n);
	return size * n;
}

/* One request; dies on a transport error or a status outside 2xx. Returns the parsed body. */
static struct wg_json *call(const char *method, const char *path, const char *ctype,
			    const void *body, size_t len)
{
	char url[512];
	snprintf(url, sizeof url, "%s%s", base, path);
	struct wg_buf out = {0};
	struct curl_slist *hdr = NULL;
	if (ctype) {
		char h[128];
		snprintf(h, sizeof h, "Content-Type: %s", ctype);
		hdr = curl_slist_append(hdr, h);
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? len : 0));
	curl_easy_setopt(curl, CURLOPT_HTTPGET, body ? 0L : 1L);
	if (!body)
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
	CURLcode rc = curl_easy_perform(curl);
	long status = 0;
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(hdr);
	if (rc != CURLE_OK || status < 200 || status > 299) {
		fprintf(stderr, "wasmgrid_client: %s %s: %s %ld %s\n", method, path,
			curl_easy_strerror(rc), status, wg_buf_cstr(&out));
		exit(1);
	}
	struct wg_json *doc = NULL;
	char why[128];
	if (wg_json_parse((char *)out.data, out.len, NULL, &doc, why, sizeof why)) {
		fprintf(stderr, "wasmgrid_client: bad JSON from %s: %s\n", path, why);
		exit(1);
	}
	wg_buf_free(&out);
	return doc;
}

static uint64_t submit(const char *hash, long first, long n)
{
	struct wg_buf b = {0};
	wg_buf_appendf(&b, "{\"program\":\"%s\",\"arguments\":[", hash);
	for (long i = 0; i < n; i++)
		wg_buf_appendf(&b, "%s\"%ld\"", i ? "," : "", first + i);
	wg_buf_append_str(&b, "]}");
	struct wg_json *doc = call("POST", "/v1/jobs", "application/json", b.data, b.len);
	uint64_t id = 0;
	wg_json_as_u64(wg_json_get(doc, "id"), &id);
	wg_json_free(doc);
	wg_buf_free(&b);
	return id;
}

static void wait_job(uint64_t id)
{
	char path[96];
	snprintf(path, sizeof path, "/v1/jobs/%" PRIu64 "?wait=60000", id);
	for (int tries = 0; tries < 30; tries++) {
		struct wg_json *doc = call("GET", path, NULL, NULL, 0);
		const char *state = wg_json_as_str(wg_json_get(doc, "state"), NULL);
		int running = state && !strcmp(state, "running");
		int completed = state && !strcmp(state, "completed");
		wg_json_free(doc);
		if (completed)
			return;
		if (!running) {
			fprintf(stderr, "wasmgrid_client: job %" PRIu64 " ended %s\n", id, state);
			exit(1);
		}
	}
	fprintf(stderr, "wasmgrid_client: job %" PRIu64 " did not finish\n", id);
	exit(1);
}

/* Fetches and checks every result; returns how many were right. */
static long check_results(uint64_t id, long first, long n)
{
	long good = 0;
	uint64_t from = 0;
	for (;;) {
		char path[128];
		snprintf(path, sizeof path,
			 "/v1/jobs/%" PRIu64 "/results?from=%" PRIu64 "&limit=10000", id, from);
		struct wg_json *doc = call("GET", path, NULL, NULL, 0);
		const struct wg_json *rs = wg_json_get(doc, "results");
		for (size_t i = 0; i < wg_json_len(rs); i++) {
			const struct wg_json *r = wg_json_at(rs, i);
			uint64_t index = 0;
			wg_json_as_u64(wg_json_get(r, "index"), &index);
			const char *text = wg_json_as_str(wg_json_get(r, "result"), NULL);
			if (text && strtol(text, NULL, 10) == first + (long)index + 1)
				good++;
		}
		uint64_t next = 0;
		int more = wg_json_as_u64(wg_json_get(doc, "next"), &next) == 0 && next > from;
		wg_json_free(doc);
		if (!more)
			break;
		from = next;
	}
	if (good != n) {
		fprintf(stderr, "wasmgrid_client: job %" PRIu64 ": %ld of %ld results right\n", id,
			good, n);
		exit(1);
	}
	return good;
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: wasmgrid_client API PROGRAM.wasm throughput N\n"
				"       wasmgrid_client API PROGRAM.wasm latency N WARMUP\n");
		return 2;
	}
	snprintf(base, sizeof base, "http://%s", argv[1]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
	uint8_t *wasm;
	size_t wasm_len;
	if (wg_read_file(argv[2], 64 << 20, &wasm, &wasm_len)) {
		fprintf(stderr, "wasmgrid_client: cannot read %s\n", argv[2]);
		return 1;
	}
	struct wg_json *doc = call("POST", "/v1/programs", "application/wasm", wasm, wasm_len);
	char hash[65];
	snprintf(hash, sizeof hash, "%s", wg_json_as_str(wg_json_get(doc, "hash"), NULL));
	wg_json_free(doc);
	free(wasm);
	long n = atol(argv[4]);
	if (!strcmp(argv[3], "throughput")) {
		double t0 = now_s();
		uint64_t id = submit(hash, 0, n);
		wait_job(id);
		check_results(id, 0, n);
		printf("%ld %.6f\n", n, now_s() - t0);
	} else {
		long warmup = argc > 5 ? atol(argv[5]) : 0;
		for (long i = 0; i < warmup + n; i++) {
			double t0 = now_s();
			uint64_t id = submit(hash, i, 1);
			/* One request waits for the end of the job and brings its result. */
			char path[96];
			snprintf(path, sizeof path, "/v1/jobs/%" PRIu64 "/results?wait=60000", id);
			struct wg_json *r = call("GET", path, NULL, NULL, 0);
			const char *state = wg_json_as_str(wg_json_get(r, "state"), NULL);
			const char *text = wg_json_as_str(
			    wg_json_get(wg_json_at(wg_json_get(r, "results"), 0), "result"), NULL);
			if (!state || strcmp(state, "completed") || !text ||
			    strtol(text, NULL, 10) != i + 1) {
				fprintf(stderr, "wasmgrid_client: job %" PRIu64 " for %ld: %s %s\n",
					id, i, state ? state : "?", text ? text : "?");
				return 1;
			}
			wg_json_free(r);
			double ms = (now_s() - t0) * 1e3;
			if (i >= warmup)
				printf("%.3f\n", ms);
		}
	}
	curl_easy_cleanup(curl);
	return 0;
}
