/* A node's identity: an Ed25519 key pair kept in its data directory ("node.key"), made on
 * first start. The node id is the public key, written as 64 hex digits. */
#ifndef WG_NODE_IDENTITY_H
#define WG_NODE_IDENTITY_H
#include <stdint.h>

#define WG_NODE_ID_BYTES 32
#define WG_NODE_ID_HEX (2 * WG_NODE_ID_BYTES + 1)

struct wg_identity {
	uint8_t public_key[32];
	uint8_t secret_key[64];
	char id_hex[WG_NODE_ID_HEX];
	char short_id[9];
};

/* Loads DIR/node.key, or makes and saves a new key pair if there is none. Makes DIR if
 * needed. Returns 0 or a negative wg_err. */
int wg_identity_load_or_create(struct wg_identity *id, const char *data_dir);
/* A fresh key pair kept only in memory (tests). */
void wg_identity_generate(struct wg_identity *id);
/* Writes the short id (8 hex digits + NUL) of a 32-byte key into out[9]. */
void wg_node_id_short(const uint8_t key[32], char out[9]);

#endif
