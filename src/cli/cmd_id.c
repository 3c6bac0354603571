/* wasmgrid id: prints this node's id (the public key in its data directory, made if new). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "node/identity.h"
#include "util/err.h"

struct id_cli {
	const char *data;
};

static const struct wg_opt id_opts[] = {
    {"data", "DIR", WG_OPT_STR, offsetof(struct id_cli, data), .dflt = WG_DEFAULT_DATA_DIR,
     .help = "the data directory whose key it is"},
    {0},
};

static int run_id(void *options, char **operands, size_t n)
{
	const struct id_cli *c = options;
	struct wg_identity id;
	int rc = wg_identity_load_or_create(&id, c->data);
	if (rc)
		return wg_cli_fail("id", "cannot load or create the key in %s: %s", c->data,
				   wg_strerror(rc));
	printf("%s\n", id.id_hex);
	return 0;
}

const struct wg_command wg_cmd_id = {
    .name = "id",
    .summary = "Prints this node's id, the public key in its data directory (made if new).",
    .opts = id_opts,
    .run = run_id,
    .options_size = sizeof(struct id_cli),
};
