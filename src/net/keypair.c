#include "net/keypair.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/hex.h"

static void fill_names(struct wg_identity *id)
{
	wg_hex_encode(id->public_key, 32, id->id_hex);
	wg_node_id_short(id->public_key, id->short_id);
}

void wg_node_id_short(const uint8_t key[32], char out[9])
{
	char hex[65];
	wg_hex_encode(key, 32, hex);
	memcpy(out, hex, 8);
	out[8] = 0;
}

void wg_identity_generate(struct wg_identity *id)
{
	if (sodium_init() < 0)
		abort();
	crypto_sign_keypair(id->public_key, id->secret_key);
	fill_names(id);
}

void wg_identity_from_secret(struct wg_identity *id)
{
	crypto_sign_ed25519_sk_to_pk(id->public_key, id->secret_key);
	fill_names(id);
}
