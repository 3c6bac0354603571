/* Encoding and decoding of protocol frames (proto/wasmgrid.proto `Frame`). No I/O.
 * Which bodies are requests and which are answers is declared once, in frame.c. */
#ifndef WG_NODE_FRAME_H
#define WG_NODE_FRAME_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "wasmgrid.pb-c.h"

typedef Wasmgrid__Frame wg_frame;
typedef Wasmgrid__Frame__BodyCase wg_body_case;

/* "ManagerPing", "TasksExecute"... for logs; "unknown" for anything else. */
const char *wg_body_name(wg_body_case c);
/* True for request bodies, false for answers and unknown bodies. */
/* Who may send a body: it is an answer, a request of any node, or a request only a manager
 * sends its worker, or only a worker its manager (PROTOCOL.md). */
enum wg_body_sender { WG_SENT_UNKNOWN, WG_SENT_ANS, WG_SENT_ANY, WG_SENT_MGR, WG_SENT_WKR };
enum wg_body_sender wg_body_sender(wg_body_case c);
bool wg_body_is_request(wg_body_case c);
bool wg_body_is_answer(wg_body_case c);

/* Serializes a frame, appending to out. */
void wg_frame_pack(const wg_frame *f, struct wg_buf *out);

enum wg_frame_kind {
	WG_FRAME_REQUEST,
	WG_FRAME_ANSWER,
	/* Could not be decoded, or its body is unknown: answer Refused to `id` (0 if even the
	 * id could not be read). */
	WG_FRAME_BAD,
};

/* Decodes one frame. For REQUEST and ANSWER, *out is the decoded frame, freed with
 * wg_frame_free. For BAD, *out is NULL, *id is the request number when it could be read
 * from the bytes, and *why says what is wrong. A request that carries no id (0) is BAD. */
enum wg_frame_kind wg_frame_decode(const uint8_t *data, size_t len, wg_frame **out, uint64_t *id,
				   const char **why);
void wg_frame_free(wg_frame *f);

#endif
