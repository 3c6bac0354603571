/* For the protocol fuzz targets. */
#ifndef WG_FUZZ_PROTO_UTIL_H
#define WG_FUZZ_PROTO_UTIL_H
#include <protobuf-c/protobuf-c.h>

/* Frees the unknown fields of m and of every message inside it. protobuf-c keeps unknown
 * fields verbatim and packs them back as it found them, including keys its own decoder
 * refuses (a non-canonical field 0, "80 00", is read but "00" is not): fuzzing found that a
 * decoded message can pack to bytes that do not decode. wasmgrid never sends on a frame it
 * received, and it builds every frame it sends, so the round trip that matters is that of
 * the known fields. */
void fuzz_drop_unknown_fields(ProtobufCMessage *m);

#endif
