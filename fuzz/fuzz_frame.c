/* Fuzz target: the frame decoder (node/frame.c), as a link hands it every frame it opens.
 * A frame that decodes must pack again (less its unknown fields: proto_util.h says why) to
 * bytes that decode to the same frame (same kind, same id, same body) and pack to the same
 * bytes, so nothing the decoder accepts is lost or changed on the way back. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "node/frame.h"
#include "proto_util.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	wg_frame *f = NULL;
	uint64_t id = 0;
	const char *why = NULL;
	enum wg_frame_kind kind = wg_frame_decode(data, len, &f, &id, &why);
	if (kind == WG_FRAME_BAD) {
		if (f || !why)
			abort();
		return 0;
	}
	if (!f || f->id != id || (kind == WG_FRAME_REQUEST) != wg_body_is_request(f->body_case))
		abort();
	(void)wg_body_name(f->body_case);
	fuzz_drop_unknown_fields(&f->base);

	struct wg_buf once = {0}, twice = {0};
	wg_frame_pack(f, &once);
	wg_frame *g = NULL;
	uint64_t id2 = 0;
	if (wg_frame_decode(once.data, once.len, &g, &id2, &why) != kind || id2 != id ||
	    g->body_case != f->body_case)
		abort();
	wg_frame_pack(g, &twice);
	if (once.len != twice.len || memcmp(once.data, twice.data, once.len))
		abort();
	wg_frame_free(g);
	wg_frame_free(f);
	wg_buf_free(&once);
	wg_buf_free(&twice);
	return 0;
}
