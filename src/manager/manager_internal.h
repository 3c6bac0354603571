/* State shared by the manager's modules (manager.c: node connections and relationships;
 * api.c: HTTP routes). Not for use outside src/manager/. */
#ifndef WG_MANAGER_INTERNAL_H
#define WG_MANAGER_INTERNAL_H
#include <uv.h>

#include "manager/manager.h"
#include "net/link.h"
#include "node/authz.h"
#include "node/identity.h"
#include "node/peer.h"
#include "node/relation.h"

struct wg_http_server;

struct wg_manager {
	uv_loop_t *loop;
	const struct wg_manager_options *opts;
	struct wg_identity id;
	struct wg_authz *authz;
	struct wg_rel rel;
	struct wg_listener *listener;
	struct wg_http_server *http;
	struct wg_peer *peers; /* every connected peer, partner or not */
	uv_signal_t sigint, sigterm;
	int stopping;
};

/* The HTTP API (api.c). */
int wg__manager_api_start(struct wg_manager *m, int *bound_port);
void wg__manager_api_stop(struct wg_manager *m);

#endif
