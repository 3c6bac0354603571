/* What the client commands share: calling the manager's API and reporting failures the
 * same way ("wasmgrid CMD: what went wrong"). */
#ifndef WG_CLI_CLIENT_H
#define WG_CLI_CLIENT_H
#include <stddef.h>

#include "util/buf.h"

struct wg_json;

/* Sends a request to the API at `api` and expects a 2xx JSON answer, parsed into *doc
 * (freed by the caller with wg_json_free; body keeps the raw text). On any failure the
 * reason is printed as "wasmgrid CMD: ..." and the exit status (1) is returned. */
int wg_cli_call_json(const char *cmd, const char *api, const char *method, const char *path,
		     const char *content_type, const void *req_body, size_t req_len,
		     struct wg_buf *body, struct wg_json **doc);
int wg_cli_get_json(const char *cmd, const char *api, const char *path, struct wg_buf *body,
		    struct wg_json **doc);

/* The API token of a client command: from `--token-file F` anywhere on its command line
 * (removed from argv, so the command's own parser does not see it), else the file named by
 * WASMGRID_TOKEN_FILE, else WASMGRID_TOKEN itself; every later request carries it. Returns
 * 0, or 2 (a usage error, reported on stderr). */
int wg_cli_take_token(const char *cmd, int *argc, char **argv);

#endif
