/* The body of POST /v1/jobs: a JSON object naming a program, the options and the
 * arguments of a job (docs/api.md). Parsing and checking it needs no manager, so it is
 * tested and fuzzed on its own (fuzz/fuzz_job_body.c). */
#ifndef WG_MANAGER_JOB_BODY_H
#define WG_MANAGER_JOB_BODY_H
#include <stddef.h>
#include <stdint.h>

#include "manager/jobs.h"
#include "util/json.h"

/* A job submission, parsed and checked. Everything points into `doc` or is owned here;
 * wg__job_body_free releases it all. */
struct wg_job_body {
	struct wg_json *doc;
	char hash[65];	     /* the program's hash, lower-case hex */
	const char *address; /* its URL; NULL: a program stored on the manager (`program`) */
	struct wg_job_options opts;
	struct wg_jobs_arg *args;
	size_t n_args;
	uint8_t **decoded; /* n_args decoded arguments when arguments_base64 was used */
};

/* Parses `len` bytes of body into *jb. Returns 0, or -1 with a message for the user (it
 * names the field and what to send instead) in err; either way *jb is to be freed. */
int wg__job_body_parse(const char *body, size_t len, struct wg_job_body *jb, char *err,
		       size_t err_len);
void wg__job_body_free(struct wg_job_body *jb);

#endif
