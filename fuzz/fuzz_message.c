/* Fuzz target: every message of the schema decoded on its own. The first byte picks the
 * message (one of the Frame's body fields, in declaration order, so a message added to
 * proto/wasmgrid.proto is fuzzed without an edit here); the rest is its encoding. A message
 * that decodes must pack (less its unknown fields: proto_util.h says why) to bytes that decode and
 * pack to the same bytes again. */
#include <protobuf-c/protobuf-c.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto_util.h"
#include "wasmgrid.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len);

static const ProtobufCMessageDescriptor *pick(uint8_t selector)
{
	const ProtobufCMessageDescriptor *frame = &wasmgrid__frame__descriptor;
	unsigned n = 0;
	for (unsigned i = 0; i < frame->n_fields; i++)
		if (frame->fields[i].type == PROTOBUF_C_TYPE_MESSAGE)
			n++;
	if (n == 0)
		return frame;
	unsigned want = selector % (n + 1);
	if (want == n) /* the frame itself, for good measure */
		return frame;
	for (unsigned i = 0; i < frame->n_fields; i++)
		if (frame->fields[i].type == PROTOBUF_C_TYPE_MESSAGE && want-- == 0)
			return frame->fields[i].descriptor;
	return frame;
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *out = malloc(*len ? *len : 1);
	if (!out || protobuf_c_message_pack(m, out) != *len)
		abort();
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len < 1)
		return 0;
	const ProtobufCMessageDescriptor *d = pick(data[0]);
	ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, len - 1, data + 1);
	if (!m)
		return 0;
	fuzz_drop_unknown_fields(m);
	size_t n1 = 0, n2 = 0;
	uint8_t *once = pack(m, &n1);
	ProtobufCMessage *again = protobuf_c_message_unpack(d, NULL, n1, once);
	if (!again)
		abort();
	uint8_t *twice = pack(again, &n2);
	if (n1 != n2 || memcmp(once, twice, n1))
		abort();
	free(once);
	free(twice);
	protobuf_c_message_free_unpacked(again, NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	return 0;
}
