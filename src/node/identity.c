#include "node/identity.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/err.h"
#include "util/fs.h"
#include "util/hex.h"
#include "util/log.h"

/* The key file holds the 64-byte libsodium secret key (seed || public key) in hex, so an
 * operator can read and copy it with ordinary tools. */
#define KEY_FILE "node.key"

int wg_identity_load_or_create(struct wg_identity *id, const char *data_dir)
{
	if (sodium_init() < 0)
		return WG_EINTERNAL;
	int rc = wg_mkdir_p(data_dir);
	if (rc)
		return rc;
	char *path = wg_path_join(data_dir, KEY_FILE);
	uint8_t *data = NULL;
	size_t len = 0;
	rc = wg_read_file(path, 1024, &data, &len);
	if (rc == WG_ENOTFOUND) {
		wg_identity_generate(id);
		char hex[129];
		wg_hex_encode(id->secret_key, 64, hex);
		hex[128] = '\n';
		rc = wg_write_file_atomic(path, hex, sizeof hex, 0600);
		if (rc == 0)
			wg_info(NULL, "created node key %s in %s", id->id_hex, path);
		goto out;
	}
	if (rc)
		goto out;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' '))
		data[--len] = 0;
	if (wg_hex_decode((const char *)data, id->secret_key, 64) != 0) {
		wg_error(NULL, "%s is not a wasmgrid key file (128 hex digits)", path);
		rc = WG_EINVAL;
		goto out;
	}
	wg_identity_from_secret(id);
out:
	if (data)
		sodium_memzero(data, len);
	free(data);
	free(path);
	return rc;
}
