"""client_etx.py - ETX messages in random batches and random splits, every ack checked.

Contract: detect_ack(port, timeout) sends two messages and returns the ack the server answers
with (b"ack" or b"ack\\x03": the two forms ioserve has had).  run(ctx, tally) keeps
ctx.etx_conns connections sending batches of 1..BATCH_MAX messages (random bytes without 0x03,
up to MESSAGE_MAX) at ctx.etx_rate messages/s in all, each batch written in random pieces;
it reads back exactly one ctx.etx_ack per message.  Every GOODBYE_EVERY batches ends with
`goodbye`, after which the server must send the batch's acks and close.  Every wrong byte,
missing ack or stall is tally.bad.
"""

import asyncio

from tally import Pacer

BATCH_MAX = 8
MESSAGE_MAX = 16 * 1024
GOODBYE_EVERY = 50
ACK_FORMS = (b"ack", b"ack\x03")


async def detect_ack(port, timeout):
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(b"a\x03b\x03")
        got = await asyncio.wait_for(reader.readexactly(6), timeout)
        if got == b"ackack":
            return ACK_FORMS[0]
        got += await asyncio.wait_for(reader.readexactly(2), timeout)
        if got == b"ack\x03ack\x03":
            return ACK_FORMS[1]
        raise AssertionError("ETX answered two messages with %r" % got)
    finally:
        writer.close()


def _message(rng):
    size = rng.choice([0, 1, rng.randrange(64), rng.randrange(MESSAGE_MAX)])
    return rng.randbytes(size).replace(b"\x03", b"\x04")


async def _write_split(writer, data, rng, timeout):
    """The bytes in random pieces, each its own write, so messages cross reads."""
    at = 0
    while at < len(data):
        step = rng.randrange(1, len(data) - at + 1)
        writer.write(data[at:at + step])
        await asyncio.wait_for(writer.drain(), timeout)
        at += step


async def _one_conn(ctx, tally, rng, pacer):
    reader = writer = None
    batches = 0
    while not ctx.stop.is_set():
        await pacer.wait()
        count = rng.randrange(1, BATCH_MAX + 1)
        batches += 1
        goodbye = batches % GOODBYE_EVERY == 0
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", ctx.ports["etx"]), ctx.io_timeout)
                tally.note("connections")
            data = b"".join(_message(rng) + b"\x03" for _ in range(count))
            await _write_split(writer, data + (b"goodbye\x03" if goodbye else b""), rng, ctx.io_timeout)
            want = ctx.etx_ack * count
            got = await asyncio.wait_for(reader.readexactly(len(want)), ctx.io_timeout)
            if got != want:
                raise AssertionError("%d messages answered %r" % (count, got[:64]))
            tally.ok(count)
            if goodbye:
                rest = await asyncio.wait_for(reader.read(1), ctx.io_timeout)
                if rest:
                    raise AssertionError("bytes after goodbye: %r" % rest)
                tally.note("goodbyes")
                writer.close()
                writer = None
        except Exception as e:  # a wrong or missing ack, a stall, a close
            tally.bad("etx batch of %d: %s: %s" % (count, type(e).__name__, e))
            if writer:
                writer.close()
            writer = None
    if writer:
        writer.close()


async def run(ctx, tally):
    per_batch = (BATCH_MAX + 1) / 2
    rate = ctx.etx_rate / per_batch / ctx.etx_conns
    await asyncio.gather(*(_one_conn(ctx, tally, ctx.rng_for("etx", i), Pacer(rate))
                           for i in range(ctx.etx_conns)))
