"""client_static.py - static files, checked byte for byte, over keep-alive connections.

Contract: run(ctx, tally) keeps ctx.static_conns connections busy at ctx.static_rate requests/s
(all together) until ctx.stop: GET (the whole file), HEAD, a random Range, a conditional GET
with the file's ETag (304), POST /echo with a random body, and a missing path (404); one
request in CLOSE_EVERY carries Connection: close and the server must then close.  Each answer
is checked against the bytes on disk; every mismatch, unexpected status or stall is tally.bad.
"""

import asyncio

from http_client import HttpConn
from tally import Pacer

CLOSE_EVERY = 25
ECHO_MAX = 64 * 1024


def _check(cond, why):
    if not cond:
        raise AssertionError(why)


class _Checker:
    def __init__(self, ctx, rng):
        self.files = ctx.site.files
        self.rng = rng
        self.etags = {}

    def pick(self):
        path = self.rng.choice(sorted(self.files))
        kind = self.rng.choice(["get", "get", "head", "range", "cond", "echo", "missing"])
        if kind == "cond" and path not in self.etags:
            kind = "get"
        if kind == "range" and not self.files[path]:
            kind = "get"
        return kind, path

    async def one(self, conn, kind, path, closing):
        data = self.files[path]
        extra = [("Connection", "close")] if closing else []
        if kind == "get":
            status, head, body = await conn.request("GET", path, extra)
            _check(status == 200, "GET %s: status %s" % (path, status))
            _check(body == data, "GET %s: %d bytes differ from the file's %d" % (path, len(body), len(data)))
            self.etags[path] = head.get("etag")
        elif kind == "head":
            status, head, body = await conn.request("HEAD", path, extra)
            _check(status == 200 and not body, "HEAD %s: status %s, %d body bytes" % (path, status, len(body)))
            _check(head.get("content-length") == str(len(data)), "HEAD %s: length %s" % (path, head.get("content-length")))
        elif kind == "range":
            first = self.rng.randrange(len(data))
            last = self.rng.randrange(first, len(data))
            status, head, body = await conn.request("GET", path, [("Range", "bytes=%d-%d" % (first, last))] + extra)
            _check(status == 206, "Range %s: status %s" % (path, status))
            _check(head.get("content-range") == "bytes %d-%d/%d" % (first, last, len(data)),
                   "Range %s: %s" % (path, head.get("content-range")))
            _check(body == data[first:last + 1], "Range %s %d-%d: bytes differ" % (path, first, last))
        elif kind == "cond":
            status, _, body = await conn.request("GET", path, [("If-None-Match", self.etags[path])] + extra)
            _check(status == 304 and not body, "If-None-Match %s: status %s" % (path, status))
        elif kind == "echo":
            sent = self.rng.randbytes(self.rng.randrange(1, ECHO_MAX))
            status, _, body = await conn.request("POST", "/echo", extra, sent)
            _check(status == 200 and body == sent, "POST /echo %d bytes: status %s, %d back" % (len(sent), status, len(body)))
        else:
            status, _, _ = await conn.request("GET", path + ".missing", extra)
            _check(status == 404, "GET %s.missing: status %s" % (path, status))
        if closing:
            await conn.expect_close()


async def _one_conn(ctx, tally, rng, pacer):
    conn = HttpConn(ctx.ports["http"], ctx.io_timeout)
    checker = _Checker(ctx, rng)
    sent = 0
    while not ctx.stop.is_set():
        await pacer.wait()
        kind, path = checker.pick()
        sent += 1
        try:
            await checker.one(conn, kind, path, sent % CLOSE_EVERY == 0)
            tally.ok()
        except Exception as e:  # a wrong answer, a protocol error, a stall, a reset
            tally.bad("%s %s: %s: %s" % (kind, path, type(e).__name__, e))
            conn.close()
    conn.close()
    tally.note("connections", conn.connects)


async def run(ctx, tally):
    per_conn = ctx.static_rate / ctx.static_conns
    await asyncio.gather(*(_one_conn(ctx, tally, ctx.rng_for("static", i), Pacer(per_conn))
                           for i in range(ctx.static_conns)))
