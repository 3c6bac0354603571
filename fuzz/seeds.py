#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets into fuzz/corpus/TARGET/ (checked in; run
again after the schema or a format changes). Protocol buffers are encoded by hand here,
from proto/wasmgrid.proto's field numbers, so nothing but Python is needed."""
import hashlib, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)

def f_varint(num, v):
    return varint(num << 3) + varint(v)

def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b

H = "ab" * 32
TASK = (f_varint(1, 7) + f_bytes(2, "wasmgrid://" + "cd" * 32 + "/" + H) + f_bytes(3, H)
        + f_varint(4, 1) + f_bytes(5, "arg 1") + f_varint(6, 30000)
        + f_bytes(7, f_varint(1, 64 << 20) + f_varint(2, 1 << 20)) + f_varint(8, 99))
# (Frame field number, body) for every message, in the order of proto/wasmgrid.proto.
BODIES = [
    (10, f_varint(1, 1)), (11, f_varint(1, 2)), (12, b""), (13, b""), (14, f_bytes(1, "no")),
    (20, f_varint(1, 2) + f_varint(2, 4 << 30) + f_varint(3, 1) + f_varint(4, 2) + f_bytes(5, "0.1")),
    (21, f_varint(1, 1)), (22, b""), (23, b""), (24, b""),
    (30, f_bytes(1, TASK) + f_bytes(1, TASK)),
    (31, f_bytes(1, f_varint(1, 7) + f_varint(2, 1) + f_bytes(3, "busy"))),
    (32, f_bytes(1, varint(7) + varint(8))),
    (33, f_bytes(1, f_varint(1, 7) + f_varint(2, 4) + f_bytes(6, "result"))
         + f_bytes(1, f_varint(1, 8) + f_varint(2, 3) + f_varint(4, 2) + f_bytes(5, "trap"))),
    (34, f_bytes(1, varint(7))),
    (35, f_varint(1, 7) + f_varint(2, 1764000000000)),
    (36, f_varint(1, 7) + f_varint(2, 3) + f_bytes(3, "exit 1") + f_bytes(4, "stderr tail")),
    (37, f_varint(1, 7) + f_bytes(2, b"\x00\x01result")),
    (40, f_bytes(1, H) + f_varint(2, 0) + f_varint(3, 1 << 20)),
    (41, f_varint(1, 100) + f_bytes(2, b"\x00asm\x01\x00\x00\x00")),
]

def frame(num, body, rid=1):
    return f_varint(1, rid) + f_bytes(num, body)

def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def main():
    for i, (num, body) in enumerate(BODIES):
        write("fuzz_frame", "frame_%d" % num, frame(num, body, i + 1))
        write("fuzz_message", "message_%d" % num, bytes([i]) + body)
        # mode 2 of the handshake target: 2-byte length, then the frame
        fr = frame(num, body, i + 1)
        write("fuzz_handshake", "frame_%d" % num, b"\x02" + struct.pack(">H", len(fr)) + fr)
    write("fuzz_message", "frame", bytes([len(BODIES)]) + frame(30, BODIES[10][1]))
    write("fuzz_handshake", "raw_hello", b"\x00WASMGRD1" + b"\x11" * 64)
    write("fuzz_handshake", "hello_then_header", b"\x01" + struct.pack(">I", 24) + b"\x22" * 24
          + struct.pack(">I", 81) + b"\x33" * 81)
    write("fuzz_handshake", "hello_then_huge_length", b"\x01\xff\xff\xff\xff")
    job = ('{"program":"wasmgrid://%s/%s","args":["a","b\\u00e9",""],"timeout_ms":1000,'
           '"redundancy":2,"quorum":2,"max_failures":3,"priority":5,"memory_mb":64}' % ("cd" * 32, H))
    heads = {
        "get": "GET /v1/jobs?wait=100&state=running HTTP/1.1\r\nHost: x\r\n\r\n",
        "bearer": "GET /v1/jobs/7 HTTP/1.1\r\nAuthorization: Bearer fuzz-token-0123456789\r\n\r\n"
                  "POST /v1/jobs HTTP/1.1\r\nAuthorization: bearer  fuzz-token-0123456789\r\n"
                  "Content-Length: 2\r\n\r\n{}",
        "get_param": "GET /v1/jobs/ab%20cd/results?limit=10&after=5 HTTP/1.0\r\n\r\n",
        "post": "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: %d\r\n\r\n%s" % (len(job), job),
        "expect": "POST /v1/programs HTTP/1.1\r\nContent-Length: 8\r\nExpect: 100-continue\r\n\r\n\x00asm\x01\x00\x00\x00",
        "pipelined": "GET /v1/jobs HTTP/1.1\r\n\r\nDELETE /v1/jobs/1 HTTP/1.1\r\nConnection: close\r\n\r\n",
        "chunked": "POST /v1/jobs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "prefix": "GET /files/a/b/../c HTTP/1.1\r\nConnection: keep-alive\r\n\r\n",
        "bad_version": "GET / HTTP/2.0\r\n\r\n",
    }
    for name, text in heads.items():
        write("fuzz_http_head", name, text)
        write("fuzz_http_server", name, text)
    for name, text in {
        "job": job, "nested": '{"a":[1,-2.5e3,true,false,null,{"b":"\\ud83d\\ude00"}]}',
        "numbers": "[0,-0,1e308,18446744073709551615,-9223372036854775808,1.5]",
        "escapes": '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0000"', "empty": "{}",
    }.items():
        write("fuzz_json", name, text)
        write("fuzz_job_body", name, text)
    write("fuzz_args_file", "lines", "a\nb c\r\n\n\xff\xfe\nlast")
    write("fuzz_args_file", "crlf", "1\r\n2\r\n3\r\n")
    # fuzz_wasi: flags (argument present, two pages), output-limit byte, memory seed, calls
    mem = struct.pack("<IIII", 16, 4, 0, 0) + b"hello, world\n" + b"\0" * 15
    calls = bytes([8, 1, 0x80, 0x01, 0x3f, 9, 0, 0x80, 0x01, 0x3e, 0, 0x20, 0x24, 1, 0x28, 0x30,
                   6, 0x41, 0x3f, 5, 1, 0x7f, 7, 0x80, 0x81, 2, 0x4f, 13, 3])
    write("fuzz_wasi", "calls", bytes([0x01, 0x10]) + mem + calls)
    write("fuzz_wasi", "two_pages", bytes([0x81, 0x01]) + mem + calls)

if __name__ == "__main__":
    sys.exit(main())
