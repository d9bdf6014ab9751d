"""client_ws.py - WebSocket echo and broadcast, through Debian's python3-websockets.

Contract: run_echo(ctx, tally) keeps ctx.ws_echo_conns connections to /ws (one with
permessage-deflate, the others without) sending text and binary messages of random size at
ctx.ws_echo_rate messages/s in all, each echo compared with what was sent; a connection closes
cleanly and reconnects every RECONNECT_EVERY messages.  run_broadcast(ctx, tally) holds
BROADCAST_MEMBERS members of /ws/broadcast, which take turns sending at ctx.broadcast_rate; every
member must get every message exactly once and, per sender, in order (checked as they arrive and
once more when the run stops), while a churning member joins and leaves and, from its first
message of a sender on, must get all that sender's messages in order.  Every deviation is
tally.bad.
"""

import asyncio
import hashlib

import websockets

from tally import Pacer

RECONNECT_EVERY = 100
ECHO_MAX = 128 * 1024
BROADCAST_MEMBERS = 4
BROADCAST_MAX = 4000
CHURN_STAY_S = 2.0


def _connect(ctx, path, deflate):
    return websockets.connect(
        "ws://127.0.0.1:%d%s" % (ctx.ports["http"], path), max_size=None, ping_interval=None,
        open_timeout=ctx.io_timeout, close_timeout=ctx.io_timeout,
        compression="deflate" if deflate else None)


def _echo_message(rng):
    size = rng.choice([0, 1, 125, 126, 1000, 65535, 65536, rng.randrange(ECHO_MAX)])
    if rng.random() < 0.5:
        return rng.randbytes(size)
    return "".join(rng.choices("aé€😀 ", k=size // 4))


async def _echo_conn(ctx, tally, rng, deflate, rate):
    pacer = Pacer(rate)
    while not ctx.stop.is_set():
        await pacer.wait()
        try:
            async with _connect(ctx, "/ws", deflate) as ws:
                tally.note("connections")
                for _ in range(RECONNECT_EVERY):
                    if ctx.stop.is_set():
                        break
                    await pacer.wait()
                    sent = _echo_message(rng)
                    await asyncio.wait_for(ws.send(sent), ctx.io_timeout)
                    back = await asyncio.wait_for(ws.recv(), ctx.io_timeout)
                    if back != sent:
                        raise AssertionError("echo of a %d-unit %s differs" % (len(sent), type(sent).__name__))
                    tally.ok()
        except Exception as e:  # a wrong echo, a stall, a close the client did not ask for
            tally.bad("ws echo (deflate=%s): %s: %s" % (deflate, type(e).__name__, e))


async def run_echo(ctx, tally):
    n = ctx.ws_echo_conns
    await asyncio.gather(*(_echo_conn(ctx, tally, ctx.rng_for("ws-echo", i), i == 0, ctx.ws_echo_rate / n)
                           for i in range(n)))


def broadcast_message(sender, seq):
    """Self-checking: the payload is a function of (sender, seq), so any member can verify it."""
    size = (seq * 7919) % BROADCAST_MAX
    filler = hashlib.sha256(b"%d:%d" % (sender, seq)).hexdigest()
    return "%d:%d:" % (sender, seq) + (filler * (size // len(filler) + 1))[:size]


def _parse(message):
    sender, seq, _ = message.split(":", 2)
    sender, seq = int(sender), int(seq)
    if message != broadcast_message(sender, seq):
        raise AssertionError("broadcast %d:%d arrived altered" % (sender, seq))
    return sender, seq


class _Member:
    def __init__(self, index):
        self.index = index
        self.ws = None
        self.next_seq = {}  # sender -> the seq expected next
        self.received = 0

    async def listen(self, ctx, tally, exact):
        """exact: a member for the whole run gets every message from the first on; the
        churning member may join mid-stream, but from its first message of a sender on it
        gets every one that sender sends, in order."""
        async for message in self.ws:
            sender, seq = _parse(message)
            expected = self.next_seq.get(sender, 0 if exact else seq)
            if seq != expected:
                tally.bad("member %d: from %d got seq %d, expected %d" % (self.index, sender, seq, expected))
            self.next_seq[sender] = seq + 1
            self.received += 1
            tally.ok()


async def _churn(ctx, tally):
    member = _Member(-1)
    while not ctx.stop.is_set():
        try:
            async with _connect(ctx, "/ws/broadcast", False) as ws:
                member.ws = ws
                tally.note("churn_joins")
                listening = asyncio.ensure_future(member.listen(ctx, tally, exact=False))
                await asyncio.wait([listening], timeout=CHURN_STAY_S)
                if listening.done():
                    listening.result()  # the server ended the membership: say why
                    raise ConnectionError("the server ended the membership")
                listening.cancel()
        except Exception as e:
            tally.bad("broadcast churn: %s: %s" % (type(e).__name__, e))
            await asyncio.sleep(CHURN_STAY_S)  # a failing server is not hammered
        member.next_seq = {}


async def run_broadcast(ctx, tally):
    members = [_Member(i) for i in range(BROADCAST_MEMBERS)]
    sent = {}
    try:
        for m in members:
            m.ws = await _connect(ctx, "/ws/broadcast", False)
        listeners = [asyncio.ensure_future(m.listen(ctx, tally, exact=True)) for m in members]
        churn = asyncio.ensure_future(_churn(ctx, tally))
        pacer = Pacer(ctx.broadcast_rate)
        turn = 0
        while not ctx.stop.is_set() and not any(t.done() for t in listeners):
            await pacer.wait()
            sender = members[turn % len(members)]
            seq = sent.get(sender.index, 0)
            await asyncio.wait_for(sender.ws.send(broadcast_message(sender.index, seq)), ctx.io_timeout)
            sent[sender.index] = seq + 1
            turn += 1
        tally.note("sent", sum(sent.values()))
        await _all_delivered(ctx, members, listeners, sent)
        await churn
    except Exception as e:
        tally.bad("broadcast: %s: %s" % (type(e).__name__, e))
    finally:
        for m in members:
            if m.ws:
                await m.ws.close()
    for m in members:
        if m.next_seq != sent:
            tally.bad("member %d got up to %s of %s" % (m.index, m.next_seq, sent))


async def _all_delivered(ctx, members, listeners, sent):
    deadline = asyncio.get_running_loop().time() + ctx.io_timeout
    while any(m.next_seq != sent for m in members):
        for t in listeners:
            if t.done():
                t.result()  # a listener that ended early: its reason
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.05)
