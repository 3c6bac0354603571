/* A node's long-term key pair: what the secure link proves to its peers. Ed25519 in
 * libsodium's formats; the node id is the public key, written as 64 hex digits. Keeping a
 * key pair in a data directory is the node layer's business (node/identity.h). */
#ifndef WG_NET_KEYPAIR_H
#define WG_NET_KEYPAIR_H
#include <stdint.h>

#define WG_NODE_ID_BYTES 32
#define WG_NODE_ID_HEX (2 * WG_NODE_ID_BYTES + 1)

struct wg_identity {
	uint8_t public_key[32];
	uint8_t secret_key[64];
	char id_hex[WG_NODE_ID_HEX];
	char short_id[9];
};

/* A fresh key pair kept only in memory. */
void wg_identity_generate(struct wg_identity *id);
/* Completes id from its secret key (the public key and its names). */
void wg_identity_from_secret(struct wg_identity *id);
/* Writes the short id (8 hex digits + NUL) of a 32-byte key into out[9]. */
void wg_node_id_short(const uint8_t key[32], char out[9]);

#endif
