"""loads.py - the ioload share of a soak: open-loop streams at fixed rates, for the whole run.

Contract: LOADS names each stream (kind, the server it loads, its ioload flags).  start(...)
launches one ioload per stream for `seconds`, with connections held for the whole run (so the
server's descriptor count stays level), and finish(...) waits for them (bounded) and returns
{kind: summary}; a summary's "failed" counts every request ioload saw fail (reset, closed,
timeout, mismatch, protocol, non-2xx status) plus the runs that did not report.
"""

import asyncio
import json

import docroot

# kind -> (server, ioload flags).  Rates are per backend; three backends may run side by side.
LOADS = {
    "http-keepalive": ("http", ["-c", "32", "-r", "400", "--path", "/plaintext"]),
    "http-pipelined": ("http", ["-c", "4", "--depth", "8", "-r", "400", "--path", docroot.SMALL]),
    "ws-ioload": ("http", ["-p", "ws", "-s", "256", "-c", "8", "-r", "200"]),
    "echo-ioload": ("echo", ["-p", "echo", "-s", "512", "-c", "8", "-r", "200"]),
    "etx-ioload": ("etx", ["-p", "etx", "-s", "64", "-c", "8", "-r", "200"]),
}
GRACE_S = 60  # past its duration: connecting, the last timeouts, the report


def _escape(ack):
    return "".join(chr(b) if 0x20 <= b < 0x7f and b != 0x5c else "\\x%02x" % b for b in ack)


async def start(ioload, ports, seconds, timeout_s, etx_ack):
    runs = {}
    for kind, (server, flags) in LOADS.items():
        argv = [ioload] + flags + ["-d", str(seconds), "--timeout-ms", str(int(timeout_s * 1000)), "--json"]
        if server == "etx":
            argv += ["--etx-reply", _escape(etx_ack)]
        argv.append("127.0.0.1:%d" % ports[server])
        runs[kind] = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    return runs


def _summary(rc, out, err):
    try:
        r = json.loads(out)
    except ValueError:
        return {"answered": 0, "failed": 1, "reasons": ["ioload exit %s: %s" % (rc, err.strip()[-300:])]}
    errors = r["errors"]
    lost = {k: v for k, v in errors.items() if k != "total" and v}
    return {"answered": r["requests"], "failed": errors["total"],
            "reasons": ["%s: %d" % kv for kv in sorted(lost.items())],
            "connects": r["connects"], "req_per_s": round(r["req_per_s"], 1),
            "p99_us": r["latency_us"]["p99"], "max_us": r["latency_us"]["max"]}


async def _finish_one(proc):
    try:
        out, err = await asyncio.wait_for(proc.communicate(), GRACE_S)
    except asyncio.TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    return _summary(proc.returncode, out.decode(), err.decode())


async def finish(runs):
    """Once the run's time is up: ioload ends by itself a moment later."""
    results = await asyncio.gather(*(_finish_one(p) for p in runs.values()))
    return dict(zip(runs, results))
