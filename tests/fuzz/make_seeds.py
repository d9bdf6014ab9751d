#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz/corpus/ from inputs the unit tests use.

Each seed is the harness's own input format: its leading mode/cut bytes, then the bytes the
test fed (requests of test_http_session.c and test_http_parser.c, ranges and dates of
test_http_static.c, RFC 6455 and RFC 7692 example frames of test_ws_frame.c and
test_ws_message.c, handshakes of test_ws_handshake.c, command lines of test_cli.c).  Run it
again after changing a harness's input format; crash inputs (crash-*) are never touched.
"""
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
CUT = b"\x12\x34"  # the cut seed every stateful seed starts with (after its mode byte)

REQUESTS = [
    b"GET /r/hello HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nxy\r\n0\r\n\r\n",
    b"HEAD /r/b HTTP/1.1\r\nHost: h\r\n\r\nGET /r/a HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nBad Name: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    b"GET /r/1 HTTP/1.1\r\nHost: h\r\n\r\nGARBAGE\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /r/1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET /r/1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /r/2 HTTP/1.0\r\n\r\n",
    b"GET /async HTTP/1.1\r\nHost: h\r\n\r\nGET /r/2 HTTP/1.1\r\nHost: h\r\n\r\nGET /r/3 HT",
    b"GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x85abcd",
    b"GET /stream?x=1 HTTP/1.1\r\nHost: h\r\n\r\nGET /a?b=c HTTP/1.1\r\nHost: h\r\nX:  v  \r\nE:\r\n\r\n",
    b"GET http://h/p?q HTTP/1.1\r\nHost: h\r\n\r\nOPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
]

CHUNKED = [
    b"5\r\nhello\r\n0\r\n\r\n",
    b"4\r\nchun\r\n2\r\nks\r\n0\r\nTrail: x\r\n\r\n",
    b"3;a=1\r\nabc\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n",
    b"3;a=1;b=2\r\nabc\r\n0\r\n\r\n",
    b'6;a="q d"\r\nabcdef\r\n0\r\n\r\n',
    b"5\r\nhelloXX0\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
    b"ffffffffffffffffff\r\n",
]

RANGES = [b"bytes=0-9", b"bytes=100-199", b"bytes=-10", b"bytes=1000-", b"bytes=5000-",
          b"bytes=0-1,10-20", b"bytes = 0-1", b"items=0-1", b"bytes=-0", b"bytes=18446744073709551616-"]

DATES = [b"Sun, 06 Nov 1994 08:49:37 GMT", b"Sunday, 06-Nov-94 09:00:00 GMT",
         b"Sun Nov  6 08:49:37 1994", b"yesterday"]

PATHS = [b"/", b"/index.html", b"/a/b/../c", b"/a/./b//c/", b"/%2e%2e/etc/passwd", b"/%252e%252e/x",
         b"/a%20b.txt", b"/.well-known/x", b"/.env", b"/a\\b", b"/%zz", b"//example.com"]


def rfc6455_masked(payload, opcode=1, fin=True, key=b"\x37\xfa\x21\x3d", rsv1=False):
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack(">H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack(">Q", n)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def deflated(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


FRAMES_SERVER = [  # what a server reads: masked client frames
    rfc6455_masked(b"Hello"),
    rfc6455_masked(b"Hel", opcode=1, fin=False) + rfc6455_masked(b"lo", opcode=0),
    rfc6455_masked(b"Hel", fin=False) + rfc6455_masked(b"ping", opcode=9) + rfc6455_masked(b"lo", opcode=0),
    rfc6455_masked(bytes(range(256)) * 2, opcode=2),
    rfc6455_masked(b"\x03\xe8bye", opcode=8),
    rfc6455_masked(b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"),
    rfc6455_masked(b"\xed\xa0\x80"),
]
FRAMES_CLIENT = [  # what a client reads: RFC 6455 5.7 and RFC 7692 7.2.3 unmasked frames
    b"\x81\x05Hello",
    b"\x01\x03Hel\x80\x02lo",
    b"\x89\x05Hello\x8a\x00",
    b"\x82\x7e\x01\x00" + bytes(256),
    b"\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00",
    b"\x41\x03\xf2\x48\xcd\x80\x04\xc9\xc9\x07\x00",
    b"\x88\x02\x03\xe8",
]

HANDSHAKE = (b"Host: server.example.com\nUpgrade: websocket\nConnection: Upgrade\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13\n")
EXTENSIONS = [b"", b"permessage-deflate", b"permessage-deflate; client_max_window_bits",
              b"permessage-deflate ; server_max_window_bits = 15",
              b"permessage-deflate; server_no_context_takeover, permessage-deflate",
              b"x-webkit-deflate-frame, permessage-deflate; client_max_window_bits=10",
              b"permessage-deflate; =10"]

COMMAND_LINES = [
    [b"--listen", b"127.0.0.1:0", b"--backend", b"epoll", b"--epoll-mode=et"],
    [b"--protocol", b"etx", b"--ack-delay-ms", b"50", b"--ack-mode", b"worker", b"--workers", b"2"],
    [b"--root", b"www", b"--max-body=10", b"--header-timeout-ms", b"100", b"--threads", b"2"],
    [b"--listen", b"[::1]:8080", b"--sqpoll", b"--sqpoll-cpu", b"1", b"--accept", b"dispatch"],
    [b"--epoll-mode=both"], [b"--sqpoll=yes"], [b"--max-conns", b"-1"], [b"--frobnicate"],
    [b"--protocol", b"echo", b"--root", b"x"], [b"--ws-max-message", b"1048576", b"--ws-ping-ms=0"],
    [b"--shutdown-timeout-ms", b"0"], [b"--help"], [b"--probe"],
]


def seeds():
    for i, r in enumerate(REQUESTS):
        yield "http_session", i, bytes([i & 3]) + CUT + r
    for i, c in enumerate(CHUNKED):
        yield "http_chunked", i, bytes([i & 3]) + CUT + c
    for i, r in enumerate(RANGES):
        yield "http_range", i, struct.pack("<Q", 1000 if i % 2 == 0 else 1001) + r
    etag_free = [b"", b"", b"", b""]
    for i, (inm, ims, ir, rng) in enumerate([
            (b"", DATES[0], b"", b""), (b"*", b"", b"", b""), (b"", b"", DATES[0], b"bytes=0-9"),
            (b"W/\"a\", \"b\"", DATES[1], b"", b"bytes=100-199"), (b"", DATES[2], b"\"x\"", b"bytes=-10"),
            (b"", DATES[3], b"", b"bytes=5000-"), tuple(etag_free)]):
        meta = struct.pack("<HHIB", 1000, 7, 250000, 0) + bytes([i & 3]) + bytes(6)
        yield "http_conditional", i, meta + b"\0".join([inm, ims, ir, rng])
    for i, p in enumerate(PATHS):
        yield "http_path", i, bytes([0 if i % 3 else 140]) + p
    for i, e in enumerate(EXTENSIONS):
        yield "ws_handshake", i, bytes([4 | (i & 1) * 8]) + HANDSHAKE + b"Sec-WebSocket-Extensions: " + e
    for i, f in enumerate(FRAMES_SERVER):
        yield "ws_frame", i, bytes([2]) + CUT + f
        yield "ws_message", i, bytes([0x0e]) + CUT + f
    for i, f in enumerate(FRAMES_CLIENT):
        yield "ws_frame", 100 + i, bytes([3]) + CUT + f
        yield "ws_message", 100 + i, bytes([0x1f | (i & 1) << 6]) + CUT + f
    texts = [b"Hello", "κόσμε".encode(), b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"a" * 64]
    for i, t in enumerate(texts):
        yield "ws_utf8", i, CUT + t
        yield "ws_deflate", i, bytes([(i * 37) & 0x3f]) + CUT + t * 3
        yield "ws_deflate", 100 + i, bytes([0x40 | 0x80 * (i & 1) | 7]) + CUT + deflated(t * 3)
    for i, m in enumerate([b"hello\x03", b"a\x03b\x03goodbye\x03c\x03", b"hel", b"\x03\x03\x03",
                           b"goodbye", b"x" * 100 + b"\x03"]):
        yield "etx", i, bytes([i % 3]) + CUT + m
    for mode in (1, 2):  # a burst past ETX_MAX_PENDING acks owed: the rest is unread, then replayed
        yield "etx", 10 + mode, bytes([mode]) + CUT + b"\x03" * 3000 + b"x\x03" * 100
    for i, argv in enumerate(COMMAND_LINES):
        yield "cli", i, bytes([64]) + b"\0".join(argv)


def main():
    for harness, i, data in seeds():
        d = os.path.join(HERE, "corpus", harness)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "seed-%03d" % i), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
