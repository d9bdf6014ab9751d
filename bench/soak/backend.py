"""backend.py - one backend's soak: three servers, the mixed load, the samples, the verdict.

Contract: run(build, backend, seconds, seed, workdir) starts ioserve three times on `backend`
(HTTP with a generated --root, ETX, echo), takes an idle sample of each, then for `seconds`
drives them with ioload's streams (loads.py) and the Python clients (static files, WebSocket
echo and broadcast, ETX, resets, one slow reader) while sampling every server once a second;
then it stops the clients, waits (bounded) for every server's descriptors to fall back to
their idle count, stops the servers and returns the result dict (verdict.judge's reasons in
it).  A server that dies ends the run early.  Every wait is bounded.
"""

import asyncio
import os
import random
import subprocess
import time

import client_etx
import client_reset
import client_slow
import client_static
import client_ws
import docroot
import loads
import prime
import verdict
from server_proc import Server
from tally import Tally

BACKENDS = {
    "uring": ["--backend", "uring"],
    "epoll-lt": ["--backend", "epoll", "--epoll-mode", "lt"],
    "epoll-et": ["--backend", "epoll", "--epoll-mode", "et"],
}
IO_TIMEOUT_S = 30.0  # an answer slower than this is a failure, even on a crowded 2-core machine
SAMPLE_S = 1.0
SETTLE_S = 15.0


class Ctx:
    """What every client reads: where the servers are, what to expect, how hard to push."""

    def __init__(self, seed, seconds, site, ports, etx_ack):
        self.seed = seed
        self.site = site
        self.ports = ports
        self.etx_ack = etx_ack
        self.io_timeout = IO_TIMEOUT_S
        self.stop = asyncio.Event()
        self.static_conns, self.static_rate = 3, 30.0
        self.ws_echo_conns, self.ws_echo_rate = 2, 10.0
        self.broadcast_rate = 4.0
        self.etx_conns, self.etx_rate = 2, 40.0
        self.reset_rate = 8.0
        self.slow_seconds = min(60.0, max(5.0, seconds / 5))

    def rng_for(self, kind, index):
        return random.Random("%d:%s:%d" % (self.seed, kind, index))


CLIENTS = {
    "static": client_static.run,
    "ws-echo": client_ws.run_echo,
    "ws-broadcast": client_ws.run_broadcast,
    "etx": client_etx.run,
    "reset": client_reset.run,
    "slow-reader": client_slow.run,
}


def _etx_flags(ioserve):
    """The plain three-byte ack, asked for by name where this ioserve has the option."""
    text = subprocess.run([ioserve, "--help"], capture_output=True, text=True, timeout=10).stdout
    return ["--etx-ack", "ack"] if "--etx-ack" in text else []


def _start_servers(ioserve, backend, root, workdir):
    common = [ioserve] + BACKENDS[backend]
    argvs = {
        "http": common + ["--protocol", "http", "--root", root],
        "etx": common + ["--protocol", "etx"] + _etx_flags(ioserve),
        "echo": common + ["--protocol", "echo"],
    }
    servers = {}
    try:
        for name, argv in argvs.items():
            servers[name] = Server.start(name, argv, workdir)
    except Exception:
        for s in servers.values():
            s.stop()
        raise
    return servers


class _Watch:
    """The per-second samples of every server from the start of the load (t = 0); sets
    ctx.stop if one dies."""

    def __init__(self, servers):
        self.servers = servers
        self.t0 = time.monotonic()
        self.samples = {name: [] for name in servers}
        self.died_at = {name: None for name in servers}

    def take(self):
        t = round(time.monotonic() - self.t0, 2)
        for name, s in self.servers.items():
            sample = s.sample()
            if sample is None:
                if self.died_at[name] is None:
                    self.died_at[name] = t
                continue
            self.samples[name].append(dict(sample, t=t))

    async def run(self, ctx):
        while not ctx.stop.is_set():
            await asyncio.sleep(SAMPLE_S)
            self.take()
            if any(d is not None for d in self.died_at.values()):
                ctx.stop.set()


async def _settle(servers, idle_fds):
    """Once every client is gone: wait (bounded) until each server holds nothing the load
    opened but what it may keep (verdict.unreleased); returns what each holds beyond idle."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        left = {n: _left_open(idle_fds[n], s.descriptors()) for n, s in servers.items()}
        if time.monotonic() > deadline or not any(
                verdict.unreleased(left[n], servers[n].loops) for n in servers):
            return left
        await asyncio.sleep(0.1)


def _left_open(idle, now):
    """The descriptors open now that were not open (as the same thing) before the load."""
    return {fd: what for fd, what in sorted(now.items()) if idle.get(fd) != what}


async def _drive(ctx, build, servers, seconds, watch):
    ioload = os.path.join(build, "bench", "ioload")
    runs = await loads.start(ioload, ctx.ports, seconds, ctx.io_timeout, ctx.etx_ack)
    tallies = {kind: Tally(kind) for kind in CLIENTS}
    tasks = [asyncio.ensure_future(fn(ctx, tallies[kind])) for kind, fn in CLIENTS.items()]
    sampling = asyncio.ensure_future(watch.run(ctx))
    try:
        await asyncio.wait_for(ctx.stop.wait(), seconds)
    except asyncio.TimeoutError:
        ctx.stop.set()
    stuck = Tally("clients")
    done, pending = await asyncio.wait(tasks, timeout=2 * ctx.io_timeout + 10)
    for t in pending:
        stuck.bad("a client did not stop within its bound")
        t.cancel()
    for t in done:
        if t.exception():
            stuck.bad("a client crashed: %r" % t.exception())
    traffic = {kind: t.as_dict() for kind, t in tallies.items()}
    if stuck.failed:
        traffic["clients"] = dict(stuck.as_dict(), answered=len(done))
    traffic.update(await loads.finish(runs))
    await sampling
    return traffic


async def _run(build, backend, seconds, seed, workdir):
    site = docroot.make_site(os.path.join(workdir, "root"), seed)
    servers = _start_servers(os.path.join(build, "src", "ioserve"), backend, site.root, workdir)
    try:
        ports = {name: s.port for name, s in servers.items()}
        etx_ack = await client_etx.detect_ack(ports["etx"], IO_TIMEOUT_S)
        idle = {n: s.sample() for n, s in servers.items()}
        idle_fds = {n: s.descriptors() for n, s in servers.items()}
        primed = Tally("prime")
        await prime.run(ports, etx_ack, IO_TIMEOUT_S, primed, (docroot.BIG, site.files[docroot.BIG]))
        ctx = Ctx(seed, seconds, site, ports, etx_ack)
        watch = _Watch(servers)
        traffic = await _drive(ctx, build, servers, seconds, watch)
        traffic["prime"] = primed.as_dict()
        left_open = await _settle(servers, idle_fds)
    finally:
        stops = {name: s.stop() for name, s in servers.items()}
    warm_s = verdict.warm_seconds(seconds)
    result = {"backend": backend, "seconds": seconds, "seed": seed, "warm_s": warm_s,
              "etx_ack": etx_ack.decode("latin-1"), "traffic": traffic, "servers": {}}
    for name, s in servers.items():
        result["servers"][name] = {
            "left_open": left_open[name], "loops": s.loops,
            "start_line": s.first_line, "idle": idle[name], "samples": watch.samples[name],
            "died_at": watch.died_at[name], "stop": stops[name],
            "figures": verdict.server_figures(watch.samples[name], warm_s, seconds)}
    result["reasons"] = verdict.judge(result)
    result["passed"] = not result["reasons"]
    return result


def run(build, backend, seconds, seed, workdir):
    return asyncio.run(_run(build, backend, seconds, seed, workdir))
