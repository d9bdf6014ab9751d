"""client_slow.py - one slow reader: a large file read a few KiB at a time, for long.

Contract: run(ctx, tally) fetches site.BIG over one keep-alive connection with a small receive
buffer, taking ctx.slow_seconds per response, again and again until ctx.stop; once stopping it
reads the rest at full speed, so every response it began is checked whole, byte for byte.  The
server must keep it served (not time it out: it always takes something within a second) while
holding no more than its send queue for it.
"""

import asyncio
import socket

import docroot

RCVBUF = 8 * 1024
CHUNK = 4 * 1024


async def _recv(loop, sock, n, timeout):
    data = await asyncio.wait_for(loop.sock_recv(sock, n), timeout)
    if not data:
        raise ConnectionError("closed by the server")
    return data


async def _head(loop, sock, timeout):
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += await _recv(loop, sock, CHUNK, timeout)
        if len(buf) > 16384:
            raise ValueError("response head over 16 KiB")
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    return lines[0], int(fields.get("content-length", -1)), rest


async def _one_response(ctx, loop, sock, data):
    request = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % docroot.BIG
    await asyncio.wait_for(loop.sock_sendall(sock, request.encode()), ctx.io_timeout)
    status, length, body = await _head(loop, sock, ctx.io_timeout)
    if not status.startswith("HTTP/1.1 200 ") or length != len(data):
        raise AssertionError("%s, Content-Length %d (file %d)" % (status, length, len(data)))
    pause = CHUNK * ctx.slow_seconds / len(data)
    parts = [body]
    got = len(body)
    while got < length:
        if not ctx.stop.is_set():
            await asyncio.sleep(pause)
        part = await _recv(loop, sock, min(CHUNK, length - got), ctx.io_timeout)
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
    while not ctx.stop.is_set():
        try:
            if sock is None:
                sock = _connect_sock()
                await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", ctx.ports["http"])), ctx.io_timeout)
                tally.note("connections")
            await _one_response(ctx, loop, sock, data)
            tally.ok()
            tally.note("bytes", len(data))
        except Exception as e:  # a wrong answer, a stall, a close
            tally.bad("slow GET %s: %s: %s" % (docroot.BIG, type(e).__name__, e))
            sock.close()
            sock = None
    if sock:
        sock.close()
