"""prime.py - before the soak is timed, bring each server's bounded caches to their working size.

Contract: run(ports, etx_ack, timeout, tally, big) pushes CONNS x BYTES_PER_CONN through each server
in large messages (echo: a stream echoed back; ETX: messages just under its 64 KiB limit; HTTP:
POST /echo bodies of almost 1 MiB), every answer checked, and returns when all are answered.
Why: the io_uring backend receives into a ring of 1024 x 16 KiB buffers per loop that it takes
in turn, and the kernel gives a buffer's pages on first touch, so the resident set grows until
every buffer has once held a full receive: up to 32 MiB on two loops, however long that takes
under a light load.  This cache is bounded by design; priming fills it at the start, so what
the soak then sees grow is growth.  CONNS connections spread over the loops (SO_REUSEPORT).
Likewise the io_uring backend keeps up to 16 idle sendfile carriers (a pipe each) per loop for
reuse, as many as have once been busy at the same time: FILE_CONNS concurrent downloads of the
largest file (checked byte for byte) fill that cache at the start too.  And the epoll backend
lends receive buffers from a stack, touching as many as are ever lent at once, which a
connection keeps while its pipelined requests wait for an answer it does not read: HOLD_CONNS
such connections at once, then closed, touch more than the soak's load ever holds.
"""

import asyncio

from http_client import HttpConn

CONNS = 32
BYTES_PER_CONN = 4 * 1024 * 1024
ETX_MESSAGE = 60 * 1000
HTTP_BODY = 1000 * 1000
FILE_CONNS = 48
HOLD_CONNS = 64
HOLD_S = 1.0
HOLD_REQUEST = b"GET /64k.bin HTTP/1.1\r\nHost: x\r\n\r\n" * 8
WRITE = 256 * 1024


async def _echo(port, timeout, n):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    data = bytes((n + i) % 251 for i in range(WRITE))

    async def send():
        for _ in range(BYTES_PER_CONN // WRITE):
            writer.write(data)
            await asyncio.wait_for(writer.drain(), timeout)

    sending = asyncio.ensure_future(send())
    try:
        for _ in range(BYTES_PER_CONN // WRITE):
            back = await asyncio.wait_for(reader.readexactly(WRITE), timeout)
            if back != data:
                raise AssertionError("echo: %d bytes came back altered" % WRITE)
        await sending
    finally:
        sending.cancel()
        writer.close()


async def _etx(port, timeout, n, ack):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        count = BYTES_PER_CONN // ETX_MESSAGE
        writer.write((bytes([0x61 + n % 20]) * ETX_MESSAGE + b"\x03") * count)
        await asyncio.wait_for(writer.drain(), timeout)
        got = await asyncio.wait_for(reader.readexactly(len(ack) * count), timeout)
        if got != ack * count:
            raise AssertionError("etx: %d large messages, wrong acks" % count)
    finally:
        writer.close()


async def _http(port, timeout, n):
    conn = HttpConn(port, timeout)
    body = bytes([0x41 + n % 26]) * HTTP_BODY
    try:
        for _ in range(BYTES_PER_CONN // HTTP_BODY):
            status, _, back = await conn.request("POST", "/echo", body=body)
            if status != 200 or back != body:
                raise AssertionError("POST /echo of %d bytes: status %s, %d back" % (HTTP_BODY, status, len(back)))
    finally:
        conn.close()


async def _file(port, timeout, path, data):
    conn = HttpConn(port, timeout)
    try:
        status, _, body = await conn.request("GET", path)
        if status != 200 or body != data:
            raise AssertionError("GET %s: status %s, %d bytes of %d, or altered" % (path, status, len(body), len(data)))
    finally:
        conn.close()


async def _hold_buffers(port, timeout):
    """HOLD_CONNS connections with unread answers pending, all at once, then closed."""
    conns = await asyncio.gather(*(asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
                                   for _ in range(HOLD_CONNS)))
    try:
        for _, writer in conns:
            writer.write(HOLD_REQUEST)
        await asyncio.gather(*(asyncio.wait_for(writer.drain(), timeout) for _, writer in conns))
        await asyncio.sleep(HOLD_S)
    finally:
        for _, writer in conns:
            writer.close()


async def run(ports, etx_ack, timeout, tally, big):
    """big: (URL path, bytes) of the largest file the HTTP server serves."""
    jobs = []
    for n in range(CONNS):
        jobs += [("echo", _echo(ports["echo"], timeout, n)), ("etx", _etx(ports["etx"], timeout, n, etx_ack)),
                 ("http", _http(ports["http"], timeout, n))]
    jobs += [("http file", _file(ports["http"], timeout, *big)) for _ in range(FILE_CONNS)]
    jobs.append(("http held", _hold_buffers(ports["http"], timeout)))
    results = await asyncio.gather(*(job for _, job in jobs), return_exceptions=True)
    for (server, _), r in zip(jobs, results):
        if isinstance(r, BaseException):
            tally.bad("prime %s: %s: %s" % (server, type(r).__name__, r))
        else:
            tally.ok()
    tally.note("bytes", CONNS * 3 * BYTES_PER_CONN)
