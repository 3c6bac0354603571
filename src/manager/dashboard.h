/* The dashboard: a web page the manager serves on its API address (`/`), built into the
 * binary from src/manager/dashboard/ (docs/dashboard.md). */
#ifndef WG_MANAGER_DASHBOARD_H
#define WG_MANAGER_DASHBOARD_H
#include <stddef.h>

struct wg_http_request;

/* A file built into the binary. */
struct wg_asset {
	const char *name; /* base name, e.g. "dashboard.js" */
	const unsigned char *data;
	size_t len;
};

/* Every file of src/manager/dashboard/, ending with a NULL name (generated). */
extern const struct wg_asset wg_dashboard_assets[];

/* GET / : the page. */
void wg__dashboard_index(struct wg_http_request *req, void *user);
/* GET /ui/NAME : one of its files. */
void wg__dashboard_asset(struct wg_http_request *req, void *user);

#endif
