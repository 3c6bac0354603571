#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/options.h"
#include "node/identity.h"
#include "util/err.h"

int wg_cmd_id(int argc, char **argv)
{
	const char *data = WG_DEFAULT_DATA_DIR;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--data") && i + 1 < argc)
			data = argv[++i];
		else
			return wg_usage_error("id", "unexpected argument '%s'", argv[i]);
	}
	struct wg_identity id;
	int rc = wg_identity_load_or_create(&id, data);
	if (rc) {
		wg_cli_fail("id", "cannot load or create the key in %s: %s", data, wg_strerror(rc));
		return 1;
	}
	printf("%s\n", id.id_hex);
	return 0;
}
