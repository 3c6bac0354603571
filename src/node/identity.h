/* A node's identity: its key pair (net/keypair.h) kept in its data directory ("node.key"),
 * made on first start. */
#ifndef WG_NODE_IDENTITY_H
#define WG_NODE_IDENTITY_H
#include "net/keypair.h"

/* Loads DIR/node.key, or makes and saves a new key pair if there is none. Makes DIR if
 * needed. Returns 0 or a negative wg_err. */
int wg_identity_load_or_create(struct wg_identity *id, const char *data_dir);

#endif
