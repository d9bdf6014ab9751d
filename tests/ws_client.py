#!/usr/bin/python3
"""ws_client.py - the independent WebSocket client of test_ws_e2e.

usage: ws_client.py SCENARIO PORT   (exit 0: the scenario passed)

Conforming traffic goes through Debian's python3-websockets; deliberately broken frames are
written by hand on a raw socket (the Autobahn|Testsuite groups 1-7, 9, 12-13, as cases of our
own).  Every wait is bounded.
"""
import asyncio
import base64
import hashlib
import os
import socket
import struct
import sys
import zlib

import websockets
from websockets.extensions import permessage_deflate

PORT = 0  # the server's: from the command line, or set by a script importing this one
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WAIT = 10.0


def fail(msg):
    raise AssertionError(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def uri(path):
    return "ws://127.0.0.1:%d%s" % (PORT, path)


def connect(path="/ws", **kw):
    kw.setdefault("max_size", None)
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", WAIT)
    kw.setdefault("close_timeout", WAIT)
    return websockets.connect(uri(path), **kw)


# ---- raw frames ----

class Raw:
    """A hand-driven client: handshake, masked frames of any shape, frames read back."""

    def __init__(self, path="/ws", extensions=None, request=None, rcvbuf=0):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:  # before connecting: shrinking a loopback window later makes TCP crawl
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(WAIT)
        self.s.connect(("127.0.0.1", PORT))
        self.buf = b""
        if request is None:
            key = base64.b64encode(os.urandom(16)).decode()
            request = ("GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, key))
            if extensions:
                request += "Sec-WebSocket-Extensions: %s\r\n" % extensions
            request += "\r\n"
            self.key = key
        self.s.sendall(request.encode())
        self.head = self._read_head()

    def _read_head(self):
        while b"\r\n\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                break
            self.buf += data
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        return head.decode()

    def status(self):
        return int(self.head.split(" ")[1])

    def header(self, name):
        for line in self.head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == name.lower():
                return v.strip()
        return None

    def send_raw(self, data):
        self.s.sendall(data)

    @staticmethod
    def frame(opcode, payload=b"", fin=True, rsv=0, mask=True, length=None):
        b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
        n = len(payload) if length is None else length
        mbit = 0x80 if mask else 0
        if n < 126:
            head = struct.pack("!BB", b0, mbit | n)
        elif n < 65536:
            head = struct.pack("!BBH", b0, mbit | 126, n)
        else:
            head = struct.pack("!BBQ", b0, mbit | 127, n)
        if not mask:
            return head + payload
        key = os.urandom(4)
        return head + key + xor(payload, key)

    def send(self, opcode, payload=b"", **kw):
        self.s.sendall(self.frame(opcode, payload, **kw))

    def _need(self, n):
        while len(self.buf) < n:
            data = self.s.recv(1 << 20)
            if not data:
                raise EOFError("connection closed")
            self.buf += data

    def recv_frame(self):
        """(fin, rsv, opcode, payload) of the next server frame, which must be unmasked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        check(not b1 & 0x80, "server frame masked")
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0x0F, payload

    def recv_message(self):
        fin, rsv, op, payload = self.recv_frame()
        check(fin, "server fragmented a message")
        if rsv & 4:
            payload = zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff")
        return op, payload

    def expect_close(self, code, what):
        """The next frames end in a close with `code`, then the server closes TCP."""
        while True:
            fin, rsv, op, payload = self.recv_frame()
            if op == 0x8:
                break
            check(op in (0x1, 0x2, 0xA), "%s: unexpected opcode %d before close" % (what, op))
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        check(got == code, "%s: close %s, wanted %s" % (what, got, code))
        self.expect_eof(what)

    def expect_eof(self, what):
        self.s.settimeout(WAIT)
        try:
            while True:
                data = self.s.recv(65536)
                if not data:
                    return
        except (ConnectionResetError, BrokenPipeError):
            return
        except socket.timeout:
            fail("%s: the server did not close TCP" % what)

    def close(self):
        self.s.close()


def xor(data, key):
    if not data:
        return b""
    n = len(data)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big")


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


def expect_failure(frames, code, what, path="/ws", extensions=None):
    r = Raw(path, extensions)
    check(r.status() == 101, "%s: handshake %d" % (what, r.status()))
    for f in frames:
        r.send_raw(f)
    r.expect_close(code, what)
    r.close()


def expect_echo(frames, want, what, path="/ws", extensions=None):
    """Frames sent raw get the messages `want` back [(opcode, payload)], pongs included."""
    r = Raw(path, extensions)
    for f in frames:
        r.send_raw(f)
    for op, payload in want:
        got = r.recv_message()
        check(got == (op, payload), "%s: got %r..., wanted %r..." % (what, got[:1] + (got[1][:40],),
                                                                     (op, payload[:40])))
    r.send(0x8, close_payload(1000))
    r.expect_close(1000, what)
    r.close()


F = Raw.frame

# ---- scenarios ----


def handshake():
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    r = Raw(request="GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
                    "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key)
    check(r.status() == 101, "101 expected, got %s" % r.head)
    check(r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "RFC 6455 example Accept")
    check(r.header("Sec-WebSocket-Extensions") is None, "no extension offered, none accepted")
    r.close()
    base = {"Host": "x", "Upgrade": "websocket", "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(), "Sec-WebSocket-Version": "13"}

    def attempt(method="GET", version="HTTP/1.1", drop=(), **changes):
        h = dict(base)
        h.update({k.replace("_", "-"): v for k, v in changes.items()})
        lines = "".join("%s: %s\r\n" % (k, v) for k, v in h.items() if k not in drop)
        r = Raw(request="%s /ws %s\r\n%s\r\n" % (method, version, lines))
        r.expect_eof("refusal")
        return r

    r = attempt(Sec_WebSocket_Version="8")
    check(r.status() == 426 and r.header("Sec-WebSocket-Version") == "13", "426 for version 8: " + r.head)
    r = attempt(drop=("Sec-WebSocket-Version",))
    check(r.status() == 426, "426 without a version")
    for what, r in [("no key", attempt(drop=("Sec-WebSocket-Key",))),
                    ("short key", attempt(Sec_WebSocket_Key=base64.b64encode(b"x" * 15).decode())),
                    ("not base64", attempt(Sec_WebSocket_Key="!!!!!!!!!!!!!!!!!!!!!!==")),
                    ("no upgrade", attempt(drop=("Upgrade",))),
                    ("upgrade: h2c", attempt(Upgrade="h2c")),
                    ("no connection token", attempt(Connection="keep-alive")),
                    ("POST", attempt(method="POST")),
                    ("HTTP/1.0", attempt(version="HTTP/1.0"))]:
        # An HTTP router may answer a POST to a GET-only route with 405 before WebSocket sees it.
        wanted = (400, 405) if what == "POST" else (400,)
        check(r.status() in wanted, "%s: 400 expected, got %s" % (what, r.head.split("\r\n")[0]))
        check(len(r.buf) > 0, "%s: the 400 says why" % what)

    async def lib():
        async with connect("/ws", compression=None) as ws:
            check(ws.response_headers["Sec-WebSocket-Accept"], "websockets accepted the handshake")
    asyncio.run(lib())


def upgrade():
    """The 101 with the RFC 6455 example Accept, frames sent with the request head in one write
    (the bytes after the head belong to WebSocket), and the library's own handshake."""
    key = "dGhlIHNhbXBsZSBub25jZQ=="
    head = ("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode()
    s = socket.create_connection(("127.0.0.1", PORT), timeout=WAIT)
    s.sendall(head + F(9, b"early") + F(1, b"right behind the head"))
    r = Raw.__new__(Raw)
    r.s, r.buf = s, b""
    r.head = r._read_head()
    check(r.status() == 101, "101 expected, got %r" % r.head)
    check(r.header("Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "RFC 6455 example Accept")
    check(r.recv_message() == (0xA, b"early"), "a ping in the head's packet is answered")
    check(r.recv_message() == (1, b"right behind the head"), "a message in the head's packet is echoed")
    r.send(8, close_payload(1000))
    r.expect_close(1000, "upgrade")

    async def lib():
        for path in ("/ws", "/ws/broadcast"):
            async with connect(path) as ws:
                await ws.send("hi")
                check(await ws.recv() == "hi", path)
    asyncio.run(lib())


def echo_sizes():
    sizes = [0, 1, 125, 126, 127, 65535, 65536, 65537, 1 << 20]

    async def run(path, compression):
        async with connect(path, compression=compression) as ws:
            check(bool(ws.extensions) == (compression is not None), "deflate negotiated iff offered")
            for n in sizes:
                data = os.urandom(n)
                await ws.send(data)
                check(await ws.recv() == data, "binary %d" % n)
                text = ("h\u00e9llo\u20ac\U0001F600" * (n // 12 + 1))[:max(n // 4, 0)]
                await ws.send(text)
                check(await ws.recv() == text, "text %d" % n)
    asyncio.run(run("/ws", None))
    asyncio.run(run("/ws", "deflate"))
    asyncio.run(run("/ws/plain", None))

    async def declined():
        async with connect("/ws/plain", compression="deflate") as ws:
            check(not ws.extensions, "a hub without deflate declines the offer")
            await ws.send("x")
            check(await ws.recv() == "x", "echo without the extension")
    asyncio.run(declined())


def echo_16mb():
    """16 MiB binary uncompressed, 16 MiB text compressed (both ways).  The text is numbered
    lines, deflating about 40:1 like repetitive real traffic (logs); a message deflating 500:1
    is what the server's inflate ratio limit (--ws-inflate-ratio) refuses, a case of
    ws_hostile.py."""
    async def run(compression, message):
        async with connect("/ws", compression=compression) as ws:
            await ws.send(message)
            check(await asyncio.wait_for(ws.recv(), 30) == message, "16 MiB, %s" % compression)
    asyncio.run(run(None, os.urandom(1 << 24)))
    asyncio.run(run("deflate", numbered_lines(1 << 24)))


def numbered_lines(size):
    """size bytes of text that deflates about 40:1."""
    line = "%08x " + "0123456789abcdef" * 6 + "\n"
    return "".join(line % i for i in range(size // 106 + 1))[:size]


def fragmented():
    async def run(compression):
        async with connect("/ws", compression=compression) as ws:
            parts = [os.urandom(n) for n in (0, 1, 125, 126, 65536, 3)]
            await ws.send(iter(parts))
            check(await ws.recv() == b"".join(parts), "binary fragments")
            texts = ["\u00e9t\u00e9", "", "\u20ac" * 1000, "end"]
            await ws.send(iter(texts))
            check(await ws.recv() == "".join(texts), "text fragments")
    asyncio.run(run(None))
    asyncio.run(run("deflate"))
    # A multi-byte character split across fragments, at every byte.
    euro = "\u20ac".encode()
    for cut in range(1, 3):
        expect_echo([F(1, b"a" + euro[:cut], fin=False), F(0, euro[cut:] + b"b")],
                    [(1, b"a" + euro + b"b")], "utf-8 split at %d" % cut)
    # Many small fragments.
    frames = [F(2, b"x", fin=False)] + [F(0, b"y", fin=False) for _ in range(500)] + [F(0, b"z")]
    expect_echo(frames, [(2, b"x" + b"y" * 500 + b"z")], "502 fragments")


def ping_pong():
    async def run():
        async with connect("/ws") as ws:
            for payload in (b"", b"hello", os.urandom(125)):
                waiter = await ws.ping(payload)
                await asyncio.wait_for(waiter, WAIT)
    asyncio.run(run())
    # Autobahn 2.x: pongs echo the ping's payload, in order, even between fragments.
    expect_echo([F(9, b"")], [(0xA, b"")], "empty ping")
    expect_echo([F(9, b"\xff" * 125)], [(0xA, b"\xff" * 125)], "125-byte ping")
    expect_echo([F(9, bytes([i])) for i in range(10)], [(0xA, bytes([i])) for i in range(10)], "10 pings")
    expect_echo([F(0xA, b"unsolicited"), F(1, b"after")], [(1, b"after")], "unsolicited pong ignored")
    expect_echo([F(1, b"ab", fin=False), F(9, b"p"), F(0, b"cd")], [(0xA, b"p"), (1, b"abcd")],
                "ping between fragments")
    expect_failure([F(9, b"x" * 126)], 1002, "126-byte ping")
    expect_failure([F(9, b"x", fin=False)], 1002, "fragmented ping")
    # Sent one byte at a time.
    r = Raw("/ws")
    for b in F(9, b"slow"):
        r.send_raw(bytes([b]))
    check(r.recv_message() == (0xA, b"slow"), "ping fed byte by byte")
    r.close()


def idle_ping():
    r = Raw("/ws/pinged")
    check(r.status() == 101, "upgrade")
    fin, rsv, op, payload = r.recv_frame()
    check(op == 0x9, "an idle connection is pinged (got %d)" % op)
    r.send(0xA, payload)
    fin, rsv, op, payload = r.recv_frame()
    check(op == 0x9, "pinged again while idle")
    # Never answer: the server must give up on us.
    r.expect_eof("a silent peer is dropped")
    r.close()


def close_codes():
    async def run(code):
        async with connect("/ws") as ws:
            await ws.close(code, "bye")
            check(ws.close_code == code, "close %d echoed, got %s" % (code, ws.close_code))
    for code in (1000, 1001, 1003, 1007, 1008, 1011, 1012, 1013, 1014, 3000, 4999):
        asyncio.run(run(code))
    for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535):
        expect_failure([F(8, close_payload(code))], 1002, "close code %d" % code)
    expect_failure([F(8, b"\x03")], 1002, "1-byte close payload")
    expect_failure([F(8, close_payload(1000, b"\xff"))], 1007, "close reason not UTF-8")
    expect_failure([F(8, close_payload(1000, b"r" * 124))], 1002, "126-byte close")
    # An empty close is answered with an empty close.
    r = Raw("/ws")
    r.send(8)
    fin, rsv, op, payload = r.recv_frame()
    check(op == 8 and payload == b"", "empty close echoed empty")
    r.expect_eof("after an empty close")
    # Nothing after a close: data behind it is ignored.
    r = Raw("/ws")
    r.send_raw(F(8, close_payload(1000, b"ok")) + F(1, b"ignored"))
    r.expect_close(1000, "data after close")
    # A peer that vanishes without a close: the server copes (next test runs on it).
    r = Raw("/ws")
    r.send_raw(F(1, b"half", fin=False))
    r.close()


def framing_raw():
    # Autobahn 1.x: every length form and boundary, text and binary, and split deliveries.
    for n in (0, 125, 126, 127, 128, 65535, 65536, 1 << 20):
        data = os.urandom(n)
        expect_echo([F(2, data)], [(2, data)], "binary %d" % n)
        expect_echo([F(1, b"*" * n)], [(1, b"*" * n)], "text %d" % n)
    r = Raw("/ws")
    frame = F(2, os.urandom(300))
    for i in range(len(frame)):
        r.send_raw(frame[i:i + 1])
    check(r.recv_message()[1] == xor(frame[8:], frame[4:8]), "a frame fed byte by byte")
    r.close()
    # Two messages and a ping in one write.
    expect_echo([F(1, b"one") + F(9, b"p") + F(2, b"two")], [(1, b"one"), (0xA, b"p"), (2, b"two")],
                "frames coalesced")
    expect_failure([F(1, b"unmasked", mask=False)], 1002, "an unmasked client frame")
    expect_failure([struct.pack("!BBQ", 0x82, 0xFF, 1 << 63) + b"\0\0\0\0"], 1002,
                   "a 64-bit length with the top bit set")
    expect_failure([struct.pack("!BBH", 0x82, 0x80 | 126, 5) + b"\0\0\0\0" + b"x" * 5], 1002,
                   "a 16-bit length form for a short payload")


def reserved_bits():
    for rsv in (1, 2, 4, 3, 7):
        expect_failure([F(1, b"x", rsv=rsv)], 1002, "rsv %d without an extension" % rsv)
    expect_failure([F(9, b"x", rsv=4)], 1002, "rsv on a ping")
    # With permessage-deflate: RSV1 is allowed on a first data frame only.
    ext = "permessage-deflate"
    expect_failure([F(1, b"x", rsv=2)], 1002, "rsv2 with deflate", extensions=ext)
    expect_failure([F(9, b"x", rsv=4)], 1002, "rsv1 on a control frame", extensions=ext)
    expect_failure([F(1, compress(b"ab"), rsv=4, fin=False), F(0, b"", rsv=4)], 1002,
                   "rsv1 on a continuation", extensions=ext)
    # Good frames before a bad one are answered before the close.
    r = Raw("/ws")
    r.send_raw(F(1, b"ok") + F(1, b"bad", rsv=1))
    check(r.recv_message() == (1, b"ok"), "the message before the bad frame")
    r.expect_close(1002, "rsv after a good frame")


def opcodes():
    for op in (3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF):
        expect_failure([F(op, b"")], 1002, "opcode %d" % op)
        expect_failure([F(op, b"payload")], 1002, "opcode %d with payload" % op)
    expect_failure([F(1, b"ok", fin=False), F(5, b"")], 1002, "reserved opcode inside a message")


def fragmentation_raw():
    expect_failure([F(0, b"x")], 1002, "continuation with nothing to continue")
    expect_failure([F(0, b"x", fin=False)], 1002, "unfinished continuation first")
    expect_failure([F(1, b"a", fin=False), F(1, b"b")], 1002, "text inside a text message")
    expect_failure([F(2, b"a", fin=False), F(1, b"b")], 1002, "text inside a binary message")
    expect_failure([F(8, close_payload(1000), fin=False)], 1002, "fragmented close")
    expect_failure([F(0xA, b"p", fin=False)], 1002, "fragmented pong")
    expect_echo([F(1, b"a", fin=False), F(0xA, b"u"), F(0, b"b", fin=False), F(9, b"q"), F(0, b"c")],
                [(0xA, b"q"), (1, b"abc")], "control frames between fragments")
    expect_echo([F(2, b"", fin=False), F(0, b""), F(2, b"")], [(2, b""), (2, b"")],
                "empty fragments")
    # A close between fragments ends the message and the connection.
    r = Raw("/ws")
    r.send_raw(F(1, b"part", fin=False) + F(8, close_payload(1000)))
    r.expect_close(1000, "close inside a message")


def utf8():
    bad = [b"\xc0\xaf", b"\xe0\x80\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5", b"\xff", b"\x80",
           b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", b"\xe2\x82"]
    for seq in bad:
        expect_failure([F(1, b"ok" + seq)], 1007, "invalid UTF-8 %r" % seq)
        expect_failure([F(1, b"ok" + seq[:1], fin=False), F(0, seq[1:])], 1007,
                       "invalid UTF-8 %r across fragments" % seq)
    # Fail fast: the first fragment's bad byte closes at once, before the message ends.
    r = Raw("/ws")
    r.send(1, b"fine\xff", fin=False)
    r.expect_close(1007, "fail fast on the first bad byte")
    good = ["\u007f", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000", "\U0010FFFF",
            "\u03ba\u1f79\u03c3\u03bc\u03b5"]
    for s in good:
        data = s.encode()
        expect_echo([F(1, data)], [(1, data)], "valid UTF-8 %r" % s)
        frames = [F(1, data[:1], fin=False)] + [F(0, data[i:i + 1], fin=False) for i in range(1, len(data))] + [F(0, b"")]
        expect_echo(frames, [(1, data)], "valid UTF-8 %r byte by byte" % s)
    expect_echo([F(2, b"\xff\xfe")], [(2, b"\xff\xfe")], "binary is not checked")


def compress(data, wbits=-15):
    c = zlib.compressobj(6, zlib.DEFLATED, wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    check(out.endswith(b"\x00\x00\xff\xff"), "sync flush tail")
    return out[:-4]


def limits():
    big = 1 << 20  # /ws/limited takes 1 MiB messages
    data = os.urandom(big)
    expect_echo([F(2, data)], [(2, data)], "a message at the limit", path="/ws/limited")
    expect_failure([F(2, b"x" * (big + 1))], 1009, "one byte over the limit", path="/ws/limited")
    expect_failure([F(2, b"x" * 1000, length=big + 1)], 1009, "refused from the header alone",
                   path="/ws/limited")
    half = b"y" * (big // 2 + 1)
    expect_failure([F(2, half, fin=False), F(0, half)], 1009, "fragments over the limit",
                   path="/ws/limited")
    bomb = compress(b"\0" * (8 * big))
    check(len(bomb) < 64 * 1024, "the bomb is small")
    expect_failure([F(2, bomb, rsv=4)], 1009, "a compressed message that inflates past the limit",
                   path="/ws/limited", extensions="permessage-deflate")
    expect_failure([F(2, b"\xff\xff\xff\xff garbage", rsv=4)], 1007, "not deflate data",
                   path="/ws/limited", extensions="permessage-deflate")

    async def lib():
        async with connect("/ws/limited") as ws:
            await ws.send(b"z" * (big + 1))
            try:
                await asyncio.wait_for(ws.recv(), WAIT)
                fail("a too-big message was echoed")
            except websockets.ConnectionClosed:
                pass
            check(ws.close_code == 1009, "websockets sees 1009, got %s" % ws.close_code)
    asyncio.run(lib())


def deflate_params(r):
    return [p.strip() for p in (r.header("Sec-WebSocket-Extensions") or "").split(";")]


def deflate():
    # Raw: the negotiated parameters echo the offer; compressed frames are inflated.
    r = Raw("/ws", "permessage-deflate; client_max_window_bits; server_max_window_bits=10")
    params = deflate_params(r)
    check(params[0] == "permessage-deflate" and "server_max_window_bits=10" in params,
          "parameters echoed: %r" % params)
    text = ("compress me " * 200).encode()
    r.send(1, compress(text), rsv=4)
    op, payload = r.recv_message()
    check((op, payload) == (1, text), "a compressed text echoed (and inflated back)")
    r.send(1, compress(b""), rsv=4)
    check(r.recv_message()[1] == b"", "an empty compressed message")
    r.close()
    r = Raw("/ws", "x-unknown, permessage-deflate; unknown_param, permessage-deflate; server_no_context_takeover")
    check(deflate_params(r) == ["permessage-deflate", "server_no_context_takeover"],
          "the first acceptable offer wins: %r" % deflate_params(r))
    r.close()
    r = Raw("/ws", "permessage-deflate; server_max_window_bits=7")
    check(r.header("Sec-WebSocket-Extensions") is None, "window bits 7 declined")
    r.close()
    r = Raw("/ws", "permessage-deflate; =")
    check(r.status() == 400, "a malformed extension header is a 400")
    r.close()
    # Fragmented compressed message: RSV1 on the first frame only.
    c = compress(text)
    expect_echo([F(1, c[:5], rsv=4, fin=False), F(0, c[5:10], fin=False), F(0, c[10:])], [(1, text)],
                "a compressed message in fragments", extensions="permessage-deflate")

    # websockets with every parameter combination; context takeover across messages.
    async def run(**params):
        ext = permessage_deflate.ClientPerMessageDeflateFactory(**params)
        async with connect("/ws", extensions=[ext], compression=None) as ws:
            check(ws.extensions, "negotiated with %r" % params)
            for i in range(20):
                msg = ("message %d " % i) * (i * 50 + 1)
                await ws.send(msg)
                check(await ws.recv() == msg, "%r message %d" % (params, i))
                blob = os.urandom(1000 * i)
                await ws.send(blob)
                check(await ws.recv() == blob, "%r blob %d" % (params, i))
    asyncio.run(run())
    asyncio.run(run(server_no_context_takeover=True))
    asyncio.run(run(client_no_context_takeover=True))
    asyncio.run(run(server_no_context_takeover=True, client_no_context_takeover=True))
    for bits in (9, 12, 15):
        asyncio.run(run(server_max_window_bits=bits))
        asyncio.run(run(client_max_window_bits=bits))


def concurrent():
    """WS_CONCURRENT clients (default 1000) upgrade, then all send at once."""
    count = int(os.environ.get("WS_CONCURRENT", "1000"))

    async def one(i, ready):
        async with connect("/ws", compression=None if i % 2 else "deflate", open_timeout=30) as ws:
            await ready.wait()
            msg = "client %d" % i
            await ws.send(msg)
            check(await asyncio.wait_for(ws.recv(), 30) == msg, "client %d echo" % i)

    async def run():
        ready = asyncio.Event()
        tasks = [asyncio.ensure_future(one(i, ready)) for i in range(count)]
        await asyncio.sleep(0)
        ready.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 60)
    asyncio.run(run())


def broadcast_100():
    async def run():
        clients = []
        for i in range(100):
            clients.append(await connect("/ws/broadcast", compression="deflate" if i % 2 else None))
        await asyncio.sleep(0.1)  # every upgrade done: each client joined the group
        messages = ["hello from 0", os.urandom(1 << 20), "\u20ac" * 1000]
        for m in messages:
            await clients[0].send(m)
        for i, ws in enumerate(clients):
            for m in messages:
                got = await asyncio.wait_for(ws.recv(), 30)
                check(got == m, "client %d got the broadcast" % i)
        await clients[57].send("from 57")
        for ws in clients:
            check(await asyncio.wait_for(ws.recv(), 30) == "from 57", "every client gets it")
        for ws in clients:
            await ws.close()
    asyncio.run(run())


def slow_receiver():
    slow = Raw("/ws/limited-broadcast", rcvbuf=4096)
    check(slow.status() == 101, "the slow client joined")

    async def run():
        async with connect("/ws/limited-broadcast", compression=None) as fast:
            chunk = os.urandom(64 * 1024)
            for i in range(400):  # 25 MiB, far past what the slow one may have queued
                await fast.send(chunk)
                check(await asyncio.wait_for(fast.recv(), WAIT) == chunk, "the fast client keeps up")
    asyncio.run(run())
    # The slow client was dropped: after what was in flight, its stream ends.
    slow.s.settimeout(WAIT)
    total = 0
    try:
        while True:
            data = slow.s.recv(1 << 20)
            if not data:
                break
            total += len(data)
    except ConnectionResetError:
        pass
    check(total < 20 * 1024 * 1024, "the slow client was cut off (read %d bytes)" % total)


def api():
    async def run():
        a = await connect("/ws/api", compression=None)
        b = await connect("/ws/api", compression="deflate")
        for ws in (a, b):
            check(await ws.recv() == "welcome", "on_open sends")
        await a.send("abc")
        check(await a.recv() == b"cba", "ws_send from on_message")
        await a.send("all")
        for ws in (a, b):
            check(await ws.recv() == "to all", "ws_group_broadcast to every member")
        await b.send("quiet")
        check(await a.recv() == "not to you", "broadcast to the others")
        await b.send("abc")
        check(await b.recv() == b"cba", "the sender was left out of its own broadcast")
        await a.close(1001)
        check(a.close_code == 1001, "client close echoed")
        await b.close(3001)
        c = await connect("/ws/api")
        check(await c.recv() == "welcome", "on_open sends")
        await c.send("close")
        try:
            await asyncio.wait_for(c.recv(), WAIT)
            fail("a message after our close")
        except websockets.ConnectionClosed:
            pass
        await c.wait_closed()
        check(c.close_code == 4000 and c.close_reason == "asked to", "ws_close: %s" % c.close_code)
    asyncio.run(run())


SCENARIOS = {f.__name__: f for f in (
    handshake, upgrade, echo_sizes, echo_16mb, fragmented, ping_pong, idle_ping, close_codes, framing_raw,
    reserved_bits, opcodes, fragmentation_raw, utf8, limits, deflate, concurrent,
    broadcast_100, slow_receiver, api)}

if __name__ == "__main__":
    PORT = int(sys.argv[2])
    try:
        SCENARIOS[sys.argv[1]]()
    except Exception as e:  # noqa: BLE001 -- any failure is the scenario's failure
        import traceback
        traceback.print_exc()
        print("FAIL %s: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
