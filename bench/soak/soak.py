#!/usr/bin/python3
"""soak.py - `make soak`: a long mixed load on each backend; fails on a failed request or growth.

usage: soak.py --build DIR [--seconds N] [--backends "uring epoll-lt epoll-et"] [--seed N]
               [--json PATH] [--one-at-a-time]

Each backend runs in a process of its own (backend.py), side by side by default: the load is a
few thousand requests/s per backend, far from what two cores can take, so the three do not
crowd each other out, and a 10-minute soak takes 10 minutes.  Prints a summary per backend,
writes every sample and count to a JSON file (default BUILD/soak/soak-<UTC time>.json) and
exits 0 only when every backend passed (verdict.py).  Every wait is bounded; only loopback.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import backend  # noqa: E402
import verdict  # noqa: E402

# Per backend, past its seconds: start-up, clients finishing (2 x 30 s at worst), ioload's
# report, the settle wait and the servers' shutdown.
OVERHEAD_S = 240


def _args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--build", required=True)
    p.add_argument("--seconds", type=int, default=600)
    p.add_argument("--backends", default=" ".join(backend.BACKENDS))
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--one-at-a-time", action="store_true",
                   help="run the backends one after another instead of side by side")
    p.add_argument("--child", nargs=2, metavar=("BACKEND", "OUT"), help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.backends = a.backends.split()
    unknown = [b for b in a.backends if b not in backend.BACKENDS]
    if unknown or not a.backends or a.seconds < 1:
        p.error("backends are some of %s; seconds >= 1" % ", ".join(backend.BACKENDS))
    if a.seed is None:
        a.seed = int.from_bytes(os.urandom(4), "little")
    return a


def _child(a):
    name, out = a.child
    with tempfile.TemporaryDirectory(prefix="soak-%s-" % name) as workdir:
        try:
            result = backend.run(a.build, name, a.seconds, a.seed, workdir)
        except Exception as e:  # a server that did not start, a client bug: a failed soak
            traceback.print_exc()
            result = {"backend": name, "seconds": a.seconds, "seed": a.seed, "passed": False,
                      "reasons": ["the soak could not run: %s: %s" % (type(e).__name__, e)]}
    with open(out, "w") as f:
        json.dump(result, f)
    return 0


def _spawn(a, name, out):
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--build", a.build,
                             "--seconds", str(a.seconds), "--seed", str(a.seed), "--child", name, out])


def _collect(proc, name, out, bound_s):
    try:
        proc.wait(timeout=bound_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    try:
        with open(out) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"backend": name, "passed": False, "seconds": 0, "seed": 0,
                "reasons": ["the soak of %s ended without a result (exit %s)" % (name, proc.returncode)]}


def _run_all(a, tmp):
    outs = {name: os.path.join(tmp, name + ".json") for name in a.backends}
    bound = a.seconds + OVERHEAD_S
    if a.one_at_a_time:
        return [_collect(_spawn(a, n, outs[n]), n, outs[n], bound) for n in a.backends]
    procs = {n: _spawn(a, n, outs[n]) for n in a.backends}
    return [_collect(procs[n], n, outs[n], bound) for n in a.backends]


def _print(result):
    if "traffic" in result:
        print(verdict.summary(result))
    else:
        print("== %s: FAIL\n  FAIL: %s" % (result["backend"], "\n  FAIL: ".join(result["reasons"])))


def main(argv):
    a = _args(argv)
    if a.child:
        return _child(a)
    stamp = time.strftime("%Y-%m-%dT%H%MZ", time.gmtime())
    path = a.json or os.path.join(a.build, "soak", "soak-%s.json" % stamp)
    print("soak: %s for %d s each, %s, seed %d" % (
        ", ".join(a.backends), a.seconds, "one at a time" if a.one_at_a_time else "side by side", a.seed),
        flush=True)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        results = _run_all(a, tmp)
    for r in results:
        _print(r)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"started": stamp, "seconds": a.seconds, "seed": a.seed, "backends": results}, f)
    passed = all(r["passed"] for r in results)
    print("soak: %s; results in %s" % ("PASS" if passed else "FAIL", path))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
