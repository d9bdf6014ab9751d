"""client_slow.py - one slow reader: a large file read a few KiB at a time, for long.

Contract: run(ctx, tally) fetches site.BIG over one keep-alive connection with a small receive
buffer, taking ctx.slow_seconds per response, again and again until ctx.stop; once stopping it
reads the rest at full speed, so every response it began is checked whole, byte for byte.  The
server must keep it served (not time it out: it always takes something within a second) while
holding no more than its send queue for it.  The longest gap between two of its reads is
reported (max_read_gap_ms), so a close can be told from a client that stopped reading.
"""

import asyncio
import socket
import time

import docroot

RCVBUF = 8 * 1024
CHUNK = 4 * 1024


class _Reads:
    """When this client last took bytes from its socket, and the longest it went without."""

    def __init__(self):
        self.last = time.monotonic()
        self.max_gap = 0.0

    def took(self):
        now = time.monotonic()
        self.max_gap = max(self.max_gap, now - self.last)
        self.last = now


async def _recv(loop, sock, n, timeout, reads):
    data = await asyncio.wait_for(loop.sock_recv(sock, n), timeout)
    if not data:
        raise ConnectionError("closed by the server")
    reads.took()
    return data


async def _head(loop, sock, timeout, reads):
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += await _recv(loop, sock, CHUNK, timeout, reads)
        if len(buf) > 16384:
            raise ValueError("response head over 16 KiB")
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    return lines[0], int(fields.get("content-length", -1)), rest


async def _one_response(ctx, loop, sock, data, reads):
    request = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % docroot.BIG
    await asyncio.wait_for(loop.sock_sendall(sock, request.encode()), ctx.io_timeout)
    status, length, body = await _head(loop, sock, ctx.io_timeout, reads)
    if not status.startswith("HTTP/1.1 200 ") or length != len(data):
        raise AssertionError("%s, Content-Length %d (file %d)" % (status, length, len(data)))
    pause = CHUNK * ctx.slow_seconds / len(data)
    parts = [body]
    got = len(body)
    while got < length:
        if not ctx.stop.is_set():
            await asyncio.sleep(pause)
        part = await _recv(loop, sock, min(CHUNK, length - got), ctx.io_timeout, reads)
        parts.append(part)
        got += len(part)
    if b"".join(parts) != data:
        raise AssertionError("the %d bytes read differ from the file" % length)


def _connect_sock():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Before connecting: the window is sized at the handshake.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
    sock.setblocking(False)
    return sock


async def run(ctx, tally):
    loop = asyncio.get_running_loop()
    data = ctx.site.files[docroot.BIG]
    sock = None
    reads = _Reads()
    while not ctx.stop.is_set():
        try:
            if sock is None:
                sock = _connect_sock()
                await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", ctx.ports["http"])), ctx.io_timeout)
                tally.note("connections")
                reads = _Reads()
            await _one_response(ctx, loop, sock, data, reads)
            tally.ok()
            tally.note("bytes", len(data))
        except Exception as e:  # a wrong answer, a stall, a close
            tally.bad("slow GET %s: %s: %s" % (docroot.BIG, type(e).__name__, e))
            sock.close()
            sock = None
        tally.peak("max_read_gap_ms", round(1000 * reads.max_gap))
    if sock:
        sock.close()
