#include "node/frame.h"

#include <stdlib.h>

/* Every body of the schema, once: its case, its name, and what it is: an answer (ANS), a
 * request any node may send (ANY), one only a manager sends its worker (MGR), or one only a
 * worker sends its manager (WKR). */
#define WG_BODY_MAP(X)                                                                             \
	X(NODE_TYPE_REQUEST, "NodeTypeRequest", ANY)                                               \
	X(NODE_TYPE_ANSWER, "NodeTypeAnswer", ANS)                                                 \
	X(ACK, "Ack", ANS)                                                                         \
	X(NOT_MINE, "NotMine", ANS)                                                                \
	X(REFUSED, "Refused", ANS)                                                                 \
	X(MANAGER_REQUEST, "ManagerRequest", ANY)                                                  \
	X(MANAGER_ANSWER, "ManagerAnswer", ANS)                                                    \
	X(MANAGER_BYE, "ManagerBye", ANY)                                                          \
	X(MANAGER_PING, "ManagerPing", ANY)                                                        \
	X(MANAGER_PONG, "ManagerPong", ANS)                                                        \
	X(TASKS_EXECUTE, "TasksExecute", MGR)                                                      \
	X(TASKS_REFUSED, "TasksRefused", ANS)                                                      \
	X(TASKS_PING, "TasksPing", MGR)                                                            \
	X(TASKS_PONG, "TasksPong", ANS)                                                            \
	X(TASKS_ABORT, "TasksAbort", MGR)                                                          \
	X(TASK_STARTED, "TaskStarted", WKR)                                                        \
	X(TASK_ERROR, "TaskError", WKR)                                                            \
	X(TASK_COMPLETED, "TaskCompleted", WKR)                                                    \
	X(PROGRAM_FETCH, "ProgramFetch", WKR)                                                      \
	X(PROGRAM_CHUNK, "ProgramChunk", ANS)

const char *wg_body_name(wg_body_case c)
{
	switch (c) {
#define WG__NAME(k, name, req)                                                                     \
	case WASMGRID__FRAME__BODY_##k: return name;
		WG_BODY_MAP(WG__NAME)
#undef WG__NAME
	default: return "unknown";
	}
}

enum wg_body_sender wg_body_sender(wg_body_case c)
{
	switch (c) {
#define WG__SENDER(k, name, who)                                                                   \
	case WASMGRID__FRAME__BODY_##k: return WG_SENT_##who;
		WG_BODY_MAP(WG__SENDER)
#undef WG__SENDER
	default: return WG_SENT_UNKNOWN;
	}
}

bool wg_body_is_request(wg_body_case c)
{
	enum wg_body_sender s = wg_body_sender(c);
	return s == WG_SENT_ANY || s == WG_SENT_MGR || s == WG_SENT_WKR;
}

bool wg_body_is_answer(wg_body_case c)
{
	return wg_body_sender(c) == WG_SENT_ANS;
}

void wg_frame_pack(const wg_frame *f, struct wg_buf *out)
{
	size_t n = wasmgrid__frame__get_packed_size(f);
	wg_buf_reserve(out, n);
	wasmgrid__frame__pack(f, out->data + out->len);
	out->len += n;
}

/* Reads a base-128 varint with bounds; returns bytes used or 0. */
static size_t read_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
	uint64_t x = 0;
	for (size_t i = 0; i < 10 && p + i < end; i++) {
		x |= (uint64_t)(p[i] & 0x7f) << (7 * i);
		if (!(p[i] & 0x80)) {
			*v = x;
			return i + 1;
		}
	}
	return 0;
}

/* The request number of a frame that does not decode as a whole: field 1 (varint) is
 * looked for among the top-level fields that can be walked, so that the Refused answer
 * still reaches the request it refuses. */
static uint64_t salvage_id(const uint8_t *p, size_t len)
{
	const uint8_t *end = p + len;
	while (p < end) {
		uint64_t key, v;
		size_t n = read_varint(p, end, &key);
		if (!n)
			return 0;
		p += n;
		switch (key & 7) {
		case 0:
			n = read_varint(p, end, &v);
			if (!n)
				return 0;
			if (key >> 3 == 1)
				return v;
			p += n;
			break;
		case 1: p += 8; break;
		case 5: p += 4; break;
		case 2:
			n = read_varint(p, end, &v);
			if (!n || v > (uint64_t)(end - p - (ptrdiff_t)n))
				return 0;
			p += n + v;
			break;
		default: return 0;
		}
	}
	return 0;
}

enum wg_frame_kind wg_frame_decode(const uint8_t *data, size_t len, wg_frame **out, uint64_t *id,
				   const char **why)
{
	*out = NULL;
	*id = 0;
	wg_frame *f = wasmgrid__frame__unpack(NULL, len, data);
	if (!f) {
		*id = salvage_id(data, len);
		*why = "frame cannot be decoded";
		return WG_FRAME_BAD;
	}
	*id = f->id;
	enum wg_body_sender sender = wg_body_sender(f->body_case);
	if (sender == WG_SENT_UNKNOWN) {
		*why = f->body_case == WASMGRID__FRAME__BODY__NOT_SET ? "frame has no body"
								      : "unknown message";
		wg_frame_free(f);
		return WG_FRAME_BAD;
	}
	bool request = sender != WG_SENT_ANS;
	if (request && f->id == 0) {
		*why = "request without a request number";
		wg_frame_free(f);
		return WG_FRAME_BAD;
	}
	*out = f;
	return request ? WG_FRAME_REQUEST : WG_FRAME_ANSWER;
}

void wg_frame_free(wg_frame *f)
{
	if (f)
		wasmgrid__frame__free_unpacked(f, NULL);
}
