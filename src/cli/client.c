#include "cli/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"
#include "http/client.h"
#include "util/fs.h"
#include "util/err.h"
#include "util/json.h"

int wg_cli_call(const char *cmd, const char *api, const struct wg_cli_request *r,
		struct wg_buf *body, struct wg_json **doc)
{
	long status = 0;
	*doc = NULL;
	int rc = wg_http_request_within(r->timeout_ms, api, r->method ? r->method : "GET", r->path,
					r->content_type, r->body, r->len, &status, body);
	if (rc && r->quiet_unreachable && (rc == WG_EUNREACHABLE || rc == WG_ETIMEOUT))
		return 2;
	if (rc) {
		wg_cli_fail(cmd, "%s", wg_http_client_error());
		return 1;
	}
	if (status == 404 && r->job_id) {
		wg_cli_fail(cmd,
			    "no job %" PRIu64 " on the manager at %s (see 'wasmgrid "
			    "status --api %s' for its jobs)",
			    r->job_id, api, api);
		return 1;
	}
	if (status < 200 || status > 299) {
		char *text = wg_http_error_text(status, body);
		wg_cli_fail(cmd, "the manager answered: %s", text);
		free(text);
		return 1;
	}
	char why[128] = "";
	if (wg_json_parse((const char *)body->data, body->len, NULL, doc, why, sizeof why)) {
		wg_cli_fail(cmd, "the manager's answer is not valid JSON (%s)", why);
		return 1;
	}
	return 0;
}

int wg_cli_take_token(const char *cmd, int *argc, char **argv)
{
	const char *file = getenv("WASMGRID_TOKEN_FILE");
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--token-file") != 0)
			continue;
		if (i + 1 >= *argc) {
			wg_cli_fail(cmd, "--token-file needs a file");
			return 2;
		}
		file = argv[i + 1];
		memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2 + 1) * sizeof *argv);
		*argc -= 2;
		i--;
	}
	if (file) {
		char *token = NULL, why[512];
		if (wg_read_secret_file(file, &token, why, sizeof why)) {
			wg_cli_fail(cmd, "%s", why);
			return 2;
		}
		wg_http_client_set_token(token);
		free(token);
	} else {
		const char *token = getenv("WASMGRID_TOKEN");
		if (token && *token)
			wg_http_client_set_token(token);
	}
	return 0;
}
