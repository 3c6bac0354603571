#include "node/frame.h"

#include <stdlib.h>

/* Every body of the schema, once: its case, its name, and whether it is a request. */
#define WG_BODY_MAP(X)                                                                     \
	X(NODE_TYPE_REQUEST, "NodeTypeRequest", 1)                                         \
	X(NODE_TYPE_ANSWER, "NodeTypeAnswer", 0)                                           \
	X(ACK, "Ack", 0)                                                                   \
	X(NOT_MINE, "NotMine", 0)                                                          \
	X(REFUSED, "Refused", 0)                                                           \
	X(MANAGER_REQUEST, "ManagerRequest", 1)                                            \
	X(MANAGER_ANSWER, "ManagerAnswer", 0)                                              \
	X(MANAGER_BYE, "ManagerBye", 1)                                                    \
	X(MANAGER_PING, "ManagerPing", 1)                                                  \
	X(MANAGER_PONG, "ManagerPong", 0)                                                  \
	X(TASKS_EXECUTE, "TasksExecute", 1)                                                \
	X(TASKS_REFUSED, "TasksRefused", 0)                                                \
	X(TASKS_PING, "TasksPing", 1)                                                      \
	X(TASKS_PONG, "TasksPong", 0)                                                      \
	X(TASKS_ABORT, "TasksAbort", 1)                                                    \
	X(TASK_STARTED, "TaskStarted", 1)                                                  \
	X(TASK_ERROR, "TaskError", 1)                                                      \
	X(TASK_COMPLETED, "TaskCompleted", 1)                                              \
	X(PROGRAM_FETCH, "ProgramFetch", 1)                                                \
	X(PROGRAM_CHUNK, "ProgramChunk", 0)

const char *wg_body_name(wg_body_case c)
{
	switch (c) {
#define WG__NAME(k, name, req)                                                             \
	case WASMGRID__FRAME__BODY_##k: return name;
		WG_BODY_MAP(WG__NAME)
#undef WG__NAME
	default: return "unknown";
	}
}

static int body_kind(wg_body_case c)
{
	switch (c) {
#define WG__KIND(k, name, req)                                                             \
	case WASMGRID__FRAME__BODY_##k: return req;
		WG_BODY_MAP(WG__KIND)
#undef WG__KIND
	default: return -1;
	}
}

bool wg_body_is_request(wg_body_case c)
{
	return body_kind(c) == 1;
}

bool wg_body_is_answer(wg_body_case c)
{
	return body_kind(c) == 0;
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
	int kind = body_kind(f->body_case);
	if (kind < 0) {
		*why = f->body_case == WASMGRID__FRAME__BODY__NOT_SET ? "frame has no body"
								      : "unknown message";
		wg_frame_free(f);
		return WG_FRAME_BAD;
	}
	if (kind == 1 && f->id == 0) {
		*why = "request without a request number";
		wg_frame_free(f);
		return WG_FRAME_BAD;
	}
	*out = f;
	return kind == 1 ? WG_FRAME_REQUEST : WG_FRAME_ANSWER;
}

void wg_frame_free(wg_frame *f)
{
	if (f)
		wasmgrid__frame__free_unpacked(f, NULL);
}
