#!/usr/bin/python3
"""ws_hostile.py - hostile permessage-deflate clients against the real binary, on one backend.

usage: ws_hostile.py IOSERVE_PATH uring|epoll-lt|epoll-et

Each server runs one loop (--threads 1), so one loop-wide budget serves everyone.
  - bombs, default limits: 32 clients each send one unfinished compressed fragment, 16 KB on
    the wire that would inflate to 16 MiB; each is closed with 1009 by the inflate ratio limit;
  - bombs, ratio limit off, --ws-max-inflate-memory 32 MiB: each fragment inflates to 4 MiB
    (under the per-connection budget, so that they hold it); the loop's budget holds, attackers
    are closed with 1008 as others grow past them, a few may stay open with what their share
    allows;
  - with default limits, a zip-bomb single message (1009); on both servers, once the attack is
    over, a well-behaved 16 MiB compressed message echoed whole (python3-websockets).
Throughout each attack another client (deflate negotiated) gets its echo within PROBE_MAX_S after
every attacker, nothing it sent is lost, and the server's peak RSS (VmHWM) stays within a bound
derived from the budgets: far below the ~505 MiB the attack cost before the budgets.
"""
import asyncio
import os
import socket
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_tools  # noqa: E402 -- beside this script
import ws_client  # noqa: E402
from server_watch import rss_kib, sanitizer_env, stop  # noqa: E402
from ws_client import Raw, check, compress  # noqa: E402

ATTACKERS = 32
BOMB_INFLATED = 16 << 20
PROBE_MAX_S = 1.0
MIB = 1 << 20
# What ioserve's defaults are (websocket.h, ws_deflate.h): the bound follows from them.
RATIO_FLOOR = 1 * MIB
ZLIB_STATE_MAX = 512 * 1024   # WS_ZLIB_ALLOWANCE: a connection's zlib state, at most
SLACK = 24 * MIB              # the chunk pool's idle chunks, allocator and sanitizer overheads
LOOP_BUDGET = 32 * MIB        # --ws-max-inflate-memory for the second server
HELD_INFLATED = 4 * MIB       # what each of its attackers would hold


class Probe:
    """The well-behaved client: compressed echoes, each timed, none lost."""

    def __init__(self):
        self.raw = Raw("/ws", "permessage-deflate; server_no_context_takeover")
        check(self.raw.status() == 101, "the probe is upgraded")
        self.sent = 0
        self.slowest = 0.0

    def round_trip(self, what):
        text = ("probe %d " % self.sent).encode() * 40
        start = time.monotonic()
        self.raw.send(1, compress(text), rsv=4)
        op, payload = self.raw.recv_message()
        took = time.monotonic() - start
        self.sent += 1
        check((op, payload) == (1, text), "%s: the probe's echo %d came back whole" % (what, self.sent))
        check(took < PROBE_MAX_S, "%s: the probe waited %.3f s" % (what, took))
        self.slowest = max(self.slowest, took)


def bomb_fragment(inflated):
    """inflated / 1000 bytes of deflate that inflate to `inflated`: the first fragment of a
    message never ended (16 MiB: 16 KB on the wire)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = c.compress(b"\0" * inflated) + c.flush(zlib.Z_SYNC_FLUSH)
    check(len(data) < inflated // 800, "the bomb is small on the wire (%d bytes)" % len(data))
    return Raw.frame(2, data, fin=False, rsv=4)


def attack(proc, what, inflated):
    """32 attackers, the probe served after each; returns (attackers, peak RSS growth KiB)."""
    probe = Probe()
    probe.round_trip(what + ", before")
    base = rss_kib(proc.pid, "VmRSS")
    fragment = bomb_fragment(inflated)
    attackers = []
    for i in range(ATTACKERS):
        a = Raw("/ws", "permessage-deflate")
        check(a.status() == 101, "attacker %d upgraded" % i)
        a.send_raw(fragment)
        attackers.append(a)
        probe.round_trip("%s, after attacker %d" % (what, i))
    growth = rss_kib(proc.pid, "VmHWM") - base
    print("%s: peak RSS growth %d KiB over %d attackers; the probe's slowest echo %.3f s"
          % (what, growth, ATTACKERS, probe.slowest), flush=True)
    return attackers, growth, probe


def closed_with(a, timeout):
    """The close code a sent us, or None if it is still open after timeout seconds."""
    a.s.settimeout(timeout)
    try:
        while True:
            fin, rsv, op, payload = a.recv_frame()
            if op == 0x8:
                a.expect_eof("attacker")
                return int.from_bytes(payload[:2], "big")
    except socket.timeout:
        return None


def test_ratio_limit(path, backend):
    proc, port = http_tools.start_ioserve(path, backend, ["--threads", "1"], sanitizer_env())
    ws_client.PORT = port
    try:
        attackers, growth, probe = attack(proc, "ratio limit", BOMB_INFLATED)
        for i, a in enumerate(attackers):
            a.expect_close(1009, "attacker %d, past the inflate ratio" % i)
        bound = ATTACKERS * (RATIO_FLOOR + ZLIB_STATE_MAX) + SLACK
        check(growth * 1024 < bound, "RSS grew %d KiB, over %d KiB" % (growth, bound // 1024))
        probe.round_trip("ratio limit, after")
        zip_bomb()
        well_behaved()
        probe.round_trip("ratio limit, at the end")
        probe.raw.close()
    finally:
        stop(proc)


def test_loop_budget(path, backend):
    args = ["--threads", "1", "--ws-inflate-ratio", "1000000",
            "--ws-max-inflate-memory", str(LOOP_BUDGET)]
    proc, port = http_tools.start_ioserve(path, backend, args, sanitizer_env())
    ws_client.PORT = port
    try:
        attackers, growth, probe = attack(proc, "loop budget", HELD_INFLATED)
        codes = [closed_with(a, 0.5) for a in attackers]
        still_open = codes.count(None)
        check(all(c in (None, 1008) for c in codes), "attackers closed with 1008: %r" % codes)
        # Open ones hold a share each, and the shares add up to the budget.
        check(still_open <= LOOP_BUDGET // HELD_INFLATED + 1,
              "%d attackers still hold memory: %r" % (still_open, codes))
        print("loop budget: %d attackers closed with 1008, %d still open"
              % (ATTACKERS - still_open, still_open), flush=True)
        bound = LOOP_BUDGET + ATTACKERS * ZLIB_STATE_MAX + SLACK
        check(growth * 1024 < bound, "RSS grew %d KiB, over %d KiB" % (growth, bound // 1024))
        for a in attackers:
            a.close()
        probe.round_trip("loop budget, after")
        well_behaved()
        probe.raw.close()
    finally:
        stop(proc)


def zip_bomb():
    bomb = Raw("/ws", "permessage-deflate")
    bomb.send(2, compress(b"\0" * BOMB_INFLATED), rsv=4)
    bomb.expect_close(1009, "a whole zip-bomb message")


def well_behaved():
    async def run():
        message = ws_client.numbered_lines(16 * MIB)  # deflating about 40:1
        async with ws_client.connect("/ws", compression="deflate") as ws:
            await ws.send(message)
            check(await asyncio.wait_for(ws.recv(), 60) == message, "16 MiB compressed, echoed whole")
    asyncio.run(run())


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in http_tools.BACKENDS:
        print(__doc__)
        return 2
    test_ratio_limit(sys.argv[1], sys.argv[2])
    test_loop_budget(sys.argv[1], sys.argv[2])
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
