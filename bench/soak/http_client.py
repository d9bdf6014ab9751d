"""http_client.py - one HTTP/1.1 client connection for the soak, parsed by h11 (Debian's
python3-h11, independent of ioserve's parser), over asyncio streams.

Contract: HttpConn(port, timeout).request(method, target, headers, body) sends one request and
returns (status, headers, body) with header names lower-cased; it reconnects by itself when the
previous answer ended the connection (Connection: close).  Any protocol violation or a wait
longer than timeout raises; the caller counts it and calls close().
"""

import asyncio

import h11


class HttpConn:
    def __init__(self, port, timeout):
        self.port = port
        self.timeout = timeout
        self.reader = self.writer = None
        self.h11 = None
        self.connects = 0

    async def _open(self):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", self.port), self.timeout)
        self.h11 = h11.Connection(h11.CLIENT)
        self.connects += 1

    def close(self):
        if self.writer:
            self.writer.close()
        self.reader = self.writer = self.h11 = None

    def reusable(self):
        return (self.h11 is not None and self.h11.our_state is h11.IDLE
                and self.h11.their_state is h11.IDLE)

    async def request(self, method, target, headers=(), body=b""):
        if not self.reusable():
            self.close()
            await self._open()
        head = [("Host", "127.0.0.1:%d" % self.port)] + list(headers)
        if body:
            head.append(("Content-Length", str(len(body))))
        out = self.h11.send(h11.Request(method=method, target=target, headers=head))
        if body:
            out += self.h11.send(h11.Data(data=body))
        out += self.h11.send(h11.EndOfMessage())
        self.writer.write(out)
        await asyncio.wait_for(self.writer.drain(), self.timeout)
        return await asyncio.wait_for(self._answer(), self.timeout)

    async def _answer(self):
        status, headers, chunks = None, {}, []
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.InformationalResponse):
                continue
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode().lower(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise ConnectionError("unexpected %r" % (event,))
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        return status, headers, b"".join(chunks)

    async def expect_close(self):
        """After an answer that ended the connection: the server must close it, and send
        nothing more."""
        extra = await asyncio.wait_for(self.reader.read(1), self.timeout)
        self.close()
        if extra:
            raise ConnectionError("bytes after the last answer: %r" % extra)
