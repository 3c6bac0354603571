/* Serves the dashboard's files, built into the binary (tools/embed.sh). The page itself
 * reads the same JSON API as everyone else, so it shows nothing the API does not. */
#include "manager/dashboard.h"

#include <string.h>

#include "http/server.h"

static const struct wg_asset *find(const char *name)
{
	for (const struct wg_asset *a = wg_dashboard_assets; name && a->name; a++)
		if (!strcmp(a->name, name))
			return a;
	return NULL;
}

static const char *content_type(const char *name)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
	    {".html", "text/html; charset=utf-8"},
	    {".js", "text/javascript; charset=utf-8"},
	    {".css", "text/css; charset=utf-8"},
	    {".svg", "image/svg+xml"},
	    {".png", "image/png"},
	};
	const char *dot = strrchr(name, '.');
	for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++)
		if (!strcmp(dot, types[i].ext))
			return types[i].type;
	return "application/octet-stream";
}

static void serve(struct wg_http_request *req, const char *name)
{
	const struct wg_asset *a = find(name);
	if (!a) {
		wg_http_respond_error(req, 404, "no such dashboard file: %s", name ? name : "");
		return;
	}
	wg_http_respond(req, 200, content_type(a->name), a->data, a->len);
}

void wg__dashboard_index(struct wg_http_request *req, void *user)
{
	(void)user;
	serve(req, "index.html");
}

void wg__dashboard_asset(struct wg_http_request *req, void *user)
{
	(void)user;
	serve(req, wg_http_param(req, "*"));
}
