"""client_reset.py - connections opened and reset at random (SO_LINGER 0), on every server.

Contract: run(ctx, tally) opens ctx.reset_rate connections/s, each to a random one of the
servers, does one random thing (nothing; half a request or message; a request for a large
answer, read partly; half a body; a WebSocket upgrade and half a frame), waits a random moment
and closes with SO_LINGER 0, so the server sees ECONNRESET wherever it is.  Only a refused or
stalled connect is tally.bad: what follows is hostile on purpose and need not be answered.
"""

import asyncio
import socket
import struct

from tally import Pacer

HOLD_MAX_S = 0.2

# protocol -> [(what, bytes to send, bytes to try to read)]
ACTIONS = {
    "http": [
        ("idle", b"", 0),
        ("half-head", b"GET /1m.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ", 0),
        ("mid-response", b"GET /1m.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 1000),
        ("pipelined", b"GET /64k.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 8, 0),
        ("half-body", b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 50000, 0),
        ("ws-half-frame", b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
         b"\x82\xfe\x10\x00abcd" + b"y" * 1000, 100),
    ],
    "etx": [
        ("idle", b"", 0),
        ("half-message", b"z" * 3000, 0),
        ("unread-acks", b"m\x03" * 5000, 0),
    ],
    "echo": [
        ("idle", b"", 0),
        ("unread-echo", b"e" * 200000, 0),
    ],
}


async def _one(ctx, tally, rng, loop):
    proto = rng.choice(sorted(ACTIONS))
    what, send, read = rng.choice(ACTIONS[proto])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    try:
        try:
            await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", ctx.ports[proto])), ctx.io_timeout)
        except Exception as e:  # the server must take every connection
            tally.bad("reset client: connect to %s: %s: %s" % (proto, type(e).__name__, e))
            return
        tally.ok()
        tally.note("%s_%s" % (proto, what.replace("-", "_")))
        try:  # hostile from here on: whatever the server does is its right
            if send:
                await asyncio.wait_for(loop.sock_sendall(sock, send), 1.0)
            if read:
                await asyncio.wait_for(loop.sock_recv(sock, read), 1.0)
            await asyncio.sleep(rng.random() * HOLD_MAX_S)
        except (OSError, asyncio.TimeoutError):
            tally.note("cut_short")
    finally:
        sock.close()  # SO_LINGER 0: an RST, not a FIN


async def run(ctx, tally):
    loop = asyncio.get_running_loop()
    rng = ctx.rng_for("reset", 0)
    pacer = Pacer(ctx.reset_rate)
    pending = set()
    while not ctx.stop.is_set():
        await pacer.wait()
        pending.add(asyncio.ensure_future(_one(ctx, tally, rng, loop)))
        pending = {t for t in pending if not t.done()}
    if pending:
        await asyncio.gather(*pending)
