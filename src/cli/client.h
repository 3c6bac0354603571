/* What the client commands share: calling the manager's API and reporting failures the
 * same way ("wasmgrid CMD: what went wrong"). */
#ifndef WG_CLI_CLIENT_H
#define WG_CLI_CLIENT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

struct wg_json;

/* One call of the API. */
struct wg_cli_request {
	const char *method; /* NULL: GET */
	const char *path;
	const char *content_type; /* of body, or NULL */
	const void *body;
	size_t len;
	uint64_t job_id;	/* non-zero: a 404 means no such job, told in the user's terms */
	bool quiet_unreachable; /* a manager that does not answer is not reported: 2 */
	long timeout_ms;	/* give up after this long (0: the HTTP client's default) */
};

/* Sends the request to the API at `api` and expects a 2xx JSON answer, parsed into *doc
 * (freed by the caller with wg_json_free; body keeps the raw text). On any failure the
 * reason is printed as "wasmgrid CMD: ..." and 1 is returned (or 2, unreported, for an
 * unreachable manager with quiet_unreachable). */
int wg_cli_call(const char *cmd, const char *api, const struct wg_cli_request *r,
		struct wg_buf *body, struct wg_json **doc);

/* The API token of a client command: from `--token-file F` anywhere on its command line
 * (removed from argv, so the command's own parser does not see it), else the file named by
 * WASMGRID_TOKEN_FILE, else WASMGRID_TOKEN itself; every later request carries it. Returns
 * 0, or 2 (a usage error, reported on stderr). */
int wg_cli_take_token(const char *cmd, int *argc, char **argv);

#endif
