/* Fuzz target: the body of POST /v1/jobs (manager/job_body.c): the JSON parser with the job
 * route's limits, then every rule of a job submission. What it accepts must be a job the
 * job core can take: a lower-case hash, at most the task limit, each argument within its
 * limit, options within theirs; what it refuses has a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manager/job_body.h"
#include "util/limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct wg_job_body jb;
	char err[256] = "";
	int rc = wg__job_body_parse((const char *)data, len, &jb, err, sizeof err);
	if (rc != 0) {
		if (!err[0] || !memchr(err, 0, sizeof err))
			abort();
	} else {
		if (strlen(jb.hash) != 64 || strspn(jb.hash, "0123456789abcdef") != 64)
			abort();
		if (jb.n_args > WG_MAX_TASKS || jb.opts.redundancy < 1 ||
		    jb.opts.quorum > jb.opts.redundancy)
			abort();
		for (size_t i = 0; i < jb.n_args; i++)
			if (jb.args[i].len > WG_MAX_ARGUMENT_BYTES ||
			    (jb.args[i].len && !jb.args[i].data))
				abort();
	}
	wg__job_body_free(&jb);
	return 0;
}
