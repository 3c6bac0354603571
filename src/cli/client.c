#include "cli/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/client.h"
#include "util/fs.h"
#include "util/err.h"
#include "util/json.h"

int wg_cli_call_json(const char *cmd, const char *api, const char *method, const char *path,
		     const char *content_type, const void *req_body, size_t req_len,
		     struct wg_buf *body, struct wg_json **doc)
{
	long status = 0;
	*doc = NULL;
	int rc = wg_http_request(api, method, path, content_type, req_body, req_len, &status, body);
	if (rc) {
		fprintf(stderr, "wasmgrid %s: %s\n", cmd, wg_http_client_error());
		return 1;
	}
	if (status < 200 || status > 299) {
		char *text = wg_http_error_text(status, body);
		fprintf(stderr, "wasmgrid %s: the manager answered: %s\n", cmd, text);
		free(text);
		return 1;
	}
	char why[128] = "";
	rc = wg_json_parse((const char *)body->data, body->len, NULL, doc, why, sizeof why);
	if (rc) {
		fprintf(stderr, "wasmgrid %s: the manager's answer is not valid JSON (%s)\n", cmd,
			why);
		return 1;
	}
	return 0;
}

int wg_cli_get_json(const char *cmd, const char *api, const char *path, struct wg_buf *body,
		    struct wg_json **doc)
{
	return wg_cli_call_json(cmd, api, "GET", path, NULL, NULL, 0, body, doc);
}

int wg_cli_take_token(const char *cmd, int *argc, char **argv)
{
	const char *file = getenv("WASMGRID_TOKEN_FILE");
	for (int i = 1; i < *argc; i++) {
		if (strcmp(argv[i], "--token-file") != 0)
			continue;
		if (i + 1 >= *argc) {
			fprintf(stderr, "wasmgrid %s: --token-file needs a file\n", cmd);
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
			fprintf(stderr, "wasmgrid %s: %s\n", cmd, why);
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
