/* The body of POST /v1/jobs, parsed and checked (docs/api.md lists its fields and limits).
 * Its own module so that the rules of a job submission live in one place and can be fuzzed
 * without a manager (fuzz/fuzz_job_body.c). */
#include "manager/job_body.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/limits.h"

/* JSON values a job body may hold besides its arguments (the other fields, with room to
 * spare): the parser stops a body of millions of values before building its tree. */
#define API_JOB_VALUES_SLACK 1000

/* Reads an optional unsigned option within [min, max]. Returns 0 (absent or valid) or -1
 * with the message in err. */
static int opt_u64(const struct wg_json *doc, const char *key, uint64_t min, uint64_t max,
		   bool *present, uint64_t *out, char *err, size_t err_len)
{
	const struct wg_json *v = wg_json_get(doc, key);
	*present = false;
	if (!v)
		return 0;
	if (wg_json_as_u64(v, out) != 0 || *out < min || *out > max) {
		snprintf(err, err_len, "'%s' must be an integer from %" PRIu64 " to %" PRIu64, key,
			 min, max);
		return -1;
	}
	*present = true;
	return 0;
}

/* A program hash as given (64 hex digits, either case), written lower-case into out. */
static bool hex_hash(const char *s, size_t len, char out[65])
{
	uint8_t raw[32];
	if (!s || len != 64 || wg_hex_decode(s, raw, sizeof raw) != 0)
		return false;
	wg_hex_encode(raw, sizeof raw, out);
	return true;
}

static int parse_options(const struct wg_json *doc, struct wg_job_options *o, char *err,
			 size_t err_len)
{
	uint64_t v;
	bool has;
	if (opt_u64(doc, "timeout_ms", 1, WG_MAX_TIMEOUT_MS, &has, &v, err, err_len))
		return -1;
	if (has)
		o->timeout_ms = (uint32_t)v;
	if (opt_u64(doc, "memory_mib", 1, WG_MAX_MEMORY_MIB, &has, &v, err, err_len))
		return -1;
	if (has)
		o->memory_bytes = v << 20;
	if (opt_u64(doc, "result_limit", 0, WG_MAX_RESULT_BYTES, &has, &v, err, err_len))
		return -1;
	if (has)
		o->result_bytes = v;
	if (opt_u64(doc, "max_failures", 0, 1000, &has, &v, err, err_len))
		return -1;
	if (has)
		o->max_failures = (uint32_t)v;
	if (opt_u64(doc, "redundancy", 1, WG_MAX_REDUNDANCY, &has, &v, err, err_len))
		return -1;
	if (has)
		o->redundancy = (uint32_t)v;
	if (opt_u64(doc, "quorum", 0, o->redundancy, &has, &v, err, err_len))
		return -1;
	if (has)
		o->quorum = (uint32_t)v;
	const struct wg_json *p = wg_json_get(doc, "priority");
	if (p) {
		int64_t pv;
		if (wg_json_as_i64(p, &pv) != 0 || pv < INT32_MIN || pv > INT32_MAX) {
			snprintf(err, err_len, "'priority' must be an integer from %d to %d",
				 INT32_MIN, INT32_MAX);
			return -1;
		}
		o->priority = (int32_t)pv;
	}
	const struct wg_json *name = wg_json_get(doc, "name");
	if (name) {
		size_t len = 0;
		const char *s = wg_json_as_str(name, &len);
		if (!s || strlen(s) != len || !wg_job_name_valid(s, len)) {
			snprintf(err, err_len,
				 "'name' must be a string of at most %u bytes without control "
				 "characters",
				 WG_MAX_JOB_NAME_BYTES);
			return -1;
		}
		memcpy(o->name, s, len + 1);
	}
	return 0;
}

static int parse_arguments(const struct wg_json *doc, struct wg_job_body *jr, char *err,
			   size_t err_len)
{
	const struct wg_json *text = wg_json_get(doc, "arguments");
	const struct wg_json *b64 = wg_json_get(doc, "arguments_base64");
	if (text && b64) {
		snprintf(err, err_len, "give 'arguments' or 'arguments_base64', not both");
		return -1;
	}
	const struct wg_json *arr = text ? text : b64;
	const char *name = text ? "arguments" : "arguments_base64";
	if (!arr) {
		snprintf(err, err_len,
			 "'arguments' is missing: give an array of strings, one per task");
		return -1;
	}
	if (wg_json_type(arr) != WG_JSON_ARRAY) {
		snprintf(err, err_len, "'%s' must be an array of strings, one per task", name);
		return -1;
	}
	size_t n = wg_json_len(arr);
	if (n > WG_MAX_TASKS) {
		snprintf(err, err_len, "%zu arguments is too many: a job has at most %u tasks", n,
			 WG_MAX_TASKS);
		return -1;
	}
	jr->n_args = n;
	jr->args = wg_calloc(n ? n : 1, sizeof *jr->args);
	if (b64)
		jr->decoded = wg_calloc(n ? n : 1, sizeof *jr->decoded);
	for (size_t i = 0; i < n; i++) {
		size_t len = 0;
		const char *s = wg_json_as_str(wg_json_at(arr, i), &len);
		if (!s) {
			snprintf(err, err_len, "'%s[%zu]' is not a string", name, i);
			return -1;
		}
		if (b64) {
			if (wg_base64_decode(s, len, &jr->decoded[i], &len) != 0) {
				snprintf(err, err_len,
					 "'arguments_base64[%zu]' is not valid base64 (standard "
					 "alphabet, padded)",
					 i);
				return -1;
			}
			s = (const char *)jr->decoded[i];
		}
		if (len > WG_MAX_ARGUMENT_BYTES) {
			snprintf(err, err_len,
				 "'%s[%zu]' is %zu bytes: an argument may have at "
				 "most %u",
				 name, i, len, WG_MAX_ARGUMENT_BYTES);
			return -1;
		}
		jr->args[i].data = (const uint8_t *)s;
		jr->args[i].len = len;
	}
	return 0;
}

/* Checks the program fields: `program` (a stored hash) or `address` plus `hash`. Whether
 * a stored program is really stored is for the caller to check. */
static int parse_program(const struct wg_json *doc, struct wg_job_body *jr, char *err,
			 size_t err_len)
{
	size_t len = 0;
	const struct wg_json *prog = wg_json_get(doc, "program");
	const struct wg_json *addr = wg_json_get(doc, "address");
	const struct wg_json *hash = wg_json_get(doc, "hash");
	if (prog && addr) {
		snprintf(err, err_len, "give 'program' (a stored hash) or 'address', not both");
		return -1;
	}
	if (prog) {
		const char *s = wg_json_as_str(prog, &len);
		if (!hex_hash(s, len, jr->hash)) {
			snprintf(err, err_len,
				 "'program' must be a program hash (64 hex digits) "
				 "as POST /v1/programs returns it");
			return -1;
		}
		return 0;
	}
	if (!addr) {
		snprintf(err, err_len,
			 "say which program to run: 'program' (a hash from POST "
			 "/v1/programs) or 'address' (an https://, http:// or file:// URL) with "
			 "'hash'");
		return -1;
	}
	const char *a = wg_json_as_str(addr, &len);
	if (!a || strlen(a) != len || len > 4096 ||
	    (strncmp(a, "https://", 8) && strncmp(a, "http://", 7) && strncmp(a, "file://", 7))) {
		snprintf(err, err_len, "'address' must be an https://, http:// or file:// URL");
		return -1;
	}
	jr->address = a;
	if (!hash) {
		snprintf(err, err_len,
			 "'hash' is required with 'address': give the program's "
			 "BLAKE2b-256 hash (64 hex digits) so workers can check what they fetch");
		return -1;
	}
	const char *h = wg_json_as_str(hash, &len);
	if (!hex_hash(h, len, jr->hash)) {
		snprintf(err, err_len, "'hash' must be 64 hex digits (the program's BLAKE2b-256)");
		return -1;
	}
	return 0;
}

/* Every field a job body may have (docs/api.md): any other is refused, so that a misspelt
 * option ("timeot_ms") is not silently ignored. */
static const char *const known_fields[] = {
    "program",	  "address",	"hash",		"arguments", "arguments_base64",
    "timeout_ms", "memory_mib", "result_limit", "priority",  "max_failures",
    "redundancy", "quorum",	"name",
};

/* Edit distance of a and b, or 3 when it is more than 2 (all that is needed here). */
static size_t small_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > 2)
		return 3;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > 3 ? 3 : row[lb];
}

static int check_fields(const struct wg_json *doc, char *err, size_t err_len)
{
	size_t n_known = sizeof known_fields / sizeof known_fields[0];
	for (size_t i = 0; i < wg_json_len(doc); i++) {
		const char *key = wg_json_key_at(doc, i);
		const char *closest = NULL;
		size_t best = 3;
		bool known = false;
		for (size_t k = 0; k < n_known && !known; k++) {
			known = !strcmp(key, known_fields[k]);
			size_t d = small_distance(key, known_fields[k]);
			if (d < best)
				best = d, closest = known_fields[k];
		}
		if (known)
			continue;
		if (closest)
			snprintf(err, err_len, "unknown field '%.64s': did you mean '%s'?", key,
				 closest);
		else
			snprintf(err, err_len,
				 "unknown field '%.64s' (docs/api.md lists the fields of "
				 "a job)",
				 key);
		return -1;
	}
	return 0;
}

void wg__job_body_free(struct wg_job_body *jb)
{
	if (jb->decoded)
		for (size_t i = 0; i < jb->n_args; i++)
			free(jb->decoded[i]);
	free(jb->decoded);
	free(jb->args);
	wg_json_free(jb->doc);
	memset(jb, 0, sizeof *jb);
}

int wg__job_body_parse(const char *body, size_t len, struct wg_job_body *jb, char *err,
		       size_t err_len)
{
	memset(jb, 0, sizeof *jb);
	wg_job_options_init(&jb->opts);
	char why[160] = "";
	struct wg_json_limits lim = {.max_bytes = WG_MAX_JOB_BODY_BYTES,
				     .max_values = WG_MAX_TASKS + API_JOB_VALUES_SLACK};
	int rc = wg_json_parse(body, len, &lim, &jb->doc, why, sizeof why);
	if (rc == WG_ETOOBIG) {
		snprintf(err, err_len,
			 "the body holds too many JSON values (%s): a job has at "
			 "most %u tasks, one argument each",
			 why, WG_MAX_TASKS);
		return -1;
	}
	if (rc != 0) {
		snprintf(err, err_len,
			 "the body is not valid JSON (%s): send an object such as "
			 "{\"program\":HASH,\"arguments\":[\"1\",\"2\"]}",
			 why);
		return -1;
	}
	if (wg_json_type(jb->doc) != WG_JSON_OBJECT) {
		snprintf(err, err_len,
			 "the body must be a JSON object such as "
			 "{\"program\":HASH,\"arguments\":[\"1\",\"2\"]}");
		return -1;
	}
	if (check_fields(jb->doc, err, err_len) || parse_program(jb->doc, jb, err, err_len) ||
	    parse_options(jb->doc, &jb->opts, err, err_len) ||
	    parse_arguments(jb->doc, jb, err, err_len))
		return -1;
	return 0;
}
