#!/usr/bin/python3
"""compare.py - run every server x workload cell, keep medians, publish the JSON, doc and plots.

Contract: `compare.py --build DIR [--full|--dry]` runs the matrix with each server pinned to
CPU 0 and ioload to CPU 1; within a cell the servers take turns (round-robin per repetition, the
order rotated each time), each cell at least 3 times.  It writes bench/results/<UTC time>.json
(every run plus medians and spread), then docs/benchmarks.md and docs/img/*.png through
report.py.  `--report JSON` regenerates the doc and plots from a saved file.  Kernel settings it
changes are printed and restored on every exit path, SIGINT and SIGTERM included.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import measure   # noqa: E402
import report    # noqa: E402
import servers   # noqa: E402
import tuning    # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))


# The open-loop latency cell (issue 7): every ioserve backend and nginx at half the peak nginx
# reached in the closed-loop cell named here, requests due within TICK_US leaving together.
OPEN_LOOP_OF = ("http-d1", 128)
OPEN_LOOP_SERVERS = ["ioserve-uring", "ioserve-epoll-lt", "ioserve-epoll-et", "nginx"]
OPEN_LOOP_TICK_US = 100
# Counted under strace in the http-d1 cells only: SQPOLL's syscalls per request.
SQPOLL_STRACE = ["ioserve-uring-sqpoll"]
# The C10K wall (issue 14): WALL_ACTIVE keep-alive connections at WALL_RATE req/s, open loop,
# beside N silent ones (ioload --idle), for every reactor and the proactor.  What a server pays
# per request as N grows is what its wait costs: select and poll hand the kernel every fd on
# every wait, epoll and io_uring only what is ready.  select waits on fds below FD_SETSIZE only,
# so it runs while all of its connections and its own fds fit there (800 idle is its last point).
WALL_ACTIVE = 100
WALL_RATE = 2000
WALL_TICK_US = 1000
WALL_IDLE = [0, 800, 1000, 5000, 15000]
WALL_SERVERS = ["ioserve-select", "ioserve-poll", "ioserve-epoll-lt", "ioserve-epoll-et", "ioserve-uring"]
SELECT_FD_SETSIZE = 1024
SERVER_OWN_FDS = 64  # a server's fds beside its connections: stdio, listener, loop, signals


# The msgpack-rpc cells (issue 14): the same calls on ioserve's io_uring and epoll loops, echo
# inline on the loop and sleep(0) on the worker pool (a round trip to a worker and back: on
# io_uring the post back is a MSG_RING, on epoll an eventfd and a locked inbox).
RPC_SERVERS = ["ioserve-uring", "ioserve-epoll-lt", "ioserve-epoll-et"]
# The idle cell (issue 11): connections answered once, then one request each every few seconds.
# 19,000: the hard open-files limit here is 20,000 per process and cannot be raised, and the
# server holds one descriptor per connection (ioload, another process, one more each); a
# million is bench/million.sh's, on a machine that allows it.
IDLE_HOLD = 19000
IDLE_EVERY_S = 5
IDLE_SECONDS = 10
IDLE_SERVERS = ["ioserve-uring", "ioserve-epoll-lt", "ioserve-epoll-et", "nginx"]
RPC_DEPTH = 16


def _rpc(method):
    return {"id": "rpc-" + method, "protocol": "rpc", "rpc_method": method, "size": 64,
            "rpc_sleep_ms": 0, "depth": RPC_DEPTH, "servers": RPC_SERVERS}


# --threads 2 against --processes 2 (one loop each), per backend, on the same HTTP load.
PROCESS_SERVERS = ["ioserve-uring-threads2", "ioserve-uring-processes2",
                   "ioserve-epoll-et-threads2", "ioserve-epoll-et-processes2"]


def _http(depth, **extra):
    return dict({"id": "http-d%d" % depth, "protocol": "http", "depth": depth}, **extra)


def _open_loop():
    return {"id": "http-d1-open", "protocol": "http", "depth": 1, "open_loop_of": OPEN_LOOP_OF,
            "tick_us": OPEN_LOOP_TICK_US, "servers": OPEN_LOOP_SERVERS}


def wall_servers(idle):
    """The wall cell's servers at `idle` silent connections: select only while every fd of its
    fits below FD_SETSIZE."""
    fits = WALL_ACTIVE + idle + SERVER_OWN_FDS <= SELECT_FD_SETSIZE
    return [s for s in WALL_SERVERS if s != "ioserve-select" or fits]


def _wall(idle):
    return {"id": "wall-idle%d" % idle, "protocol": "http", "depth": 1, "idle": idle,
            "rate": WALL_RATE, "tick_us": WALL_TICK_US, "servers": wall_servers(idle)}


def _walls():
    return [(_wall(idle), [WALL_ACTIVE], []) for idle in WALL_IDLE]


def _idle_cell():
    return {"id": "idle", "protocol": "http", "hold": IDLE_HOLD, "every_s": IDLE_EVERY_S,
            "servers": IDLE_SERVERS,
            "note": "%d connections answered once, then one request each every %d s for %d s" % (
                IDLE_HOLD, IDLE_EVERY_S, IDLE_SECONDS)}


def _processes_cell():
    return {"id": "http-d1-procs", "protocol": "http", "depth": 1, "servers": PROCESS_SERVERS,
            "note": "two loops, as --threads 2 in one process or --processes 2 (one loop each)"}


def workloads(mode):
    """The matrix: (workload, connection counts, counts that also get a strace run).  A
    workload may name the only servers it runs ("servers") and servers it only straces
    ("strace_only"); an open-loop one takes its rate from a closed-loop cell before it."""
    if mode == "dry":
        return [({"id": "echo-128", "protocol": "echo", "size": 128}, [4], [4])]
    if mode == "quick":
        # About 16 minutes on the 2-core VM: issue 7's cells (HTTP at 128 connections, echo at
        # 1,000), the open-loop latency cell, the wall cells (about 4 of the 16) and issue 11's
        # idle cell (about 3); 16 KB echo and the 1- and 10k-connection points are left to --full.
        return [
            (_http(1, strace_only=SQPOLL_STRACE), [128, 1000], [128]),
            (_http(16), [128], [128]),
            ({"id": "echo-128", "protocol": "echo", "size": 128}, [100, 1000], [100]),
            ({"id": "etx-64", "protocol": "etx", "size": 64}, [100], [100]),
            ({"id": "ws-128", "protocol": "ws", "size": 128}, [100], [100]),
            (_rpc("echo"), [100], [100]),
            (_rpc("sleep"), [100], [100]),
            (_processes_cell(), [128], []),
            (_open_loop(), [OPEN_LOOP_OF[1]], []),
            (_idle_cell(), [IDLE_HOLD], []),
        ] + _walls()
    return [
        (_http(1, strace_only=SQPOLL_STRACE), [1, 128, 1000, 10000], [1, 128, 1000]),
        (_http(16), [1, 128, 1000, 10000], [128]),
        ({"id": "echo-128", "protocol": "echo", "size": 128}, [1, 100, 1000], [1, 100, 1000]),
        ({"id": "echo-16k", "protocol": "echo", "size": 16384}, [1, 100, 1000], [100]),
        ({"id": "etx-64", "protocol": "etx", "size": 64}, [1, 100, 1000], [100]),
        ({"id": "ws-128", "protocol": "ws", "size": 128}, [1, 100, 1000], [100]),
        (_rpc("echo"), [1, 100, 1000], [100]),
        (_rpc("sleep"), [1, 100, 1000], [100]),
        (_processes_cell(), [128, 1000], []),
        (_open_loop(), [OPEN_LOOP_OF[1]], []),
        (_idle_cell(), [IDLE_HOLD], []),
    ] + _walls()


def pick_cells(spec):
    """The --cells subset: each ID:CONNS names a workload of the full matrix and a count."""
    by_id = {w["id"]: w for w, _, _ in workloads("full")}
    picked = []
    for item in spec.split(","):
        wid, _, conns = item.partition(":")
        if wid not in by_id or not conns.isdigit():
            raise SystemExit("compare.py: --cells: '%s' is not ID:CONNS with ID one of %s"
                             % (item, ", ".join(by_id)))
        picked.append((by_id[wid], [int(conns)], [int(conns)] if "rate" not in by_id[wid] and
                       "open_loop_of" not in by_id[wid] and "hold" not in by_id[wid] else []))
    return picked


def open_loop_rate(cells, workload):
    """(rate, None): half nginx's median req/s in the closed-loop cell the open-loop workload
    names; (None, reason) when that cell or nginx's figure is missing."""
    wid, conns = workload["open_loop_of"]
    for cell in cells:
        if cell["workload"]["id"] == wid and cell["connections"] == conns:
            entry = cell["servers"].get("nginx")
            if not entry or not entry.get("req_per_s"):
                return None, "nginx has no req/s in %s c%d" % (wid, conns)
            return entry["req_per_s"]["median"] / 2.0, None
    return None, "no %s c%d cell ran before it" % (wid, conns)


MODES = {
    # mode: (measured seconds, warm-up seconds, repetitions, strace seconds)
    # dry: long enough for several CPU samples inside the load on a busy machine, and a strace
    # run long enough that ioload's start and exit (slow there, traced) leave a steady window
    "dry": (0.5, 0.05, 3, 1.5),
    "quick": (1.5, 0.3, 3, 0.5),
    "full": (3.0, 1.0, 3, 1.0),
}

METRICS = ["req_per_s", "server_cpu_us_per_req", "server_stat_cpu_us_per_req", "client_cpu_us_per_req", "pss_per_conn_bytes",
           "idle_rss_per_conn_bytes", "idle_kernel_slab_per_conn_bytes", "connect_s", "errors", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us", "server_cpu_util"]


def log(text):
    print("bench: " + text, file=sys.stderr, flush=True)


def probe(server, paths, workload, cache):
    """None when server serves workload correctly over one connection, else the reason; the
    answer is kept per (server, protocol) in cache."""
    key = (server.name, workload["protocol"])
    if key not in cache:
        cache[key] = _probe(server, paths, workload)
    return cache[key]


def _probe(server, paths, workload):
    if workload["protocol"] not in server.protocols:
        return "does not speak %s" % workload["protocol"]
    missing = server.missing(paths)
    if missing:
        return "%s not installed" % missing
    run, why = servers.start(server, paths, workload["protocol"], 1)
    if not run:
        return "does not start: " + why
    try:
        # A busy shared machine can leave a 0.2 s window without an answer; one longer retry
        # tells slow from broken.
        alone = dict(workload, idle=0)  # one connection, without the wall cell's silent ones
        res = measure.load_run(run, paths, alone, 1, 0.2, 0)
        if "error" not in res and res["requests"] == 0:
            res = measure.load_run(run, paths, alone, 1, 1.0, 0)
    finally:
        run.stop()
    if "error" in res:
        return res["error"]
    if res["requests"] == 0 or res["errors"]:
        return "wrong answers over one connection (%s)" % (res["error_kinds"] or "none answered")
    return None


def summarize(runs):
    ok = [r for r in runs if "error" not in r]
    for r in ok:
        lat = r["latency_us"]
        for key in ("p50", "p90", "p99", "p99_9", "max"):
            r[key + "_us"] = lat[key]
    out = {"runs_ok": len(ok), "runs": len(runs)}
    for m in METRICS:
        vals = [r[m] for r in ok if r.get(m) is not None]
        if vals:
            med = statistics.median(vals)
            out[m] = {"median": med, "min": min(vals), "max": max(vals),
                      "spread_pct": (max(vals) - min(vals)) / med * 100 if med else 0.0}
    return out


def run_cell(workload, conns, live, paths, mode, strace_it, strace_only=()):
    """Every live server reps times, round-robin, then (strace_it) once each under strace,
    the strace_only servers included."""
    duration, warmup, reps, strace_s = MODES[mode]
    raw = {s.name: [] for s in live}
    for rep in range(reps):
        # Round-robin: every server once per repetition, starting one further along each time,
        # so slow drifts of the shared machine spread over all servers alike.
        order = live[rep % len(live):] + live[:rep % len(live)]
        for server in order:
            run, why = servers.start(server, paths, workload["protocol"], conns)
            if not run:
                raw[server.name].append({"error": "did not start: " + why})
                continue
            try:
                if "hold" in workload:
                    res = measure.hold_run(run, paths, workload, IDLE_SECONDS)
                else:
                    res = measure.load_run(run, paths, workload, conns, duration, warmup)
            finally:
                run.stop()
            res["rep"] = rep
            raw[server.name].append(res)
            log("%s c=%d rep %d %-18s %s" % (workload["id"], conns, rep, server.name,
                res["error"] if "error" in res else
                "%s B/conn resident, p99 %.0f us" % (res["idle_rss_per_conn_bytes"], res["latency_us"]["p99"])
                if "hold" in workload else
                "%.0f req/s, %.2f us cpu/req" % (res["req_per_s"], res["server_cpu_us_per_req"] or 0)))
    cell = {"workload": workload, "connections": conns, "servers": {}}
    for server in live:
        entry = summarize(raw[server.name])
        entry["raw"] = raw[server.name]
        if strace_it:
            entry["syscalls"] = _strace(server, paths, workload, conns, strace_s, warmup)
        cell["servers"][server.name] = entry
    for server in strace_only if strace_it else ():
        cell["servers"][server.name] = {"runs_ok": 0, "runs": 0, "raw": [], "strace_only": True,
                                        "syscalls": _strace(server, paths, workload, conns,
                                                            strace_s, warmup)}
    return cell


def _strace(server, paths, workload, conns, seconds, warmup):
    run, why = servers.start(server, paths, workload["protocol"], conns)
    if not run:
        return {"error": why}
    try:
        return measure.syscall_run(run, paths, workload, conns, seconds, warmup)
    finally:
        run.stop()


def _servers_for(wanted, workload):
    """The servers a workload runs: those it names when it names any (servers that run only
    where named, among them), and strace-only servers only where it asks for them."""
    names = workload.get("servers")
    return [s for s in wanted if (s.name in names if names is not None else not s.only_where_named) and
            (not s.strace_only or s.name in workload.get("strace_only", []))]


def _cmd_text(argv):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=10)
        return out.stdout.strip().splitlines()[0] if out.stdout.strip() else ""
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


def machine_facts():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    return {
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 1048576, 1),
        "kernel": platform.release(),
        "os": _cmd_text(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "loadavg_start": load,
        "nginx": _cmd_text(["nginx", "-v"]),
        "h2o": _cmd_text(["h2o", "--version"]),
        "strace": _cmd_text(["strace", "-V"]),
        "git_commit": _cmd_text(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]),
    }


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="meson build dir")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--full", action="store_const", dest="mode", const="full")
    group.add_argument("--dry", action="store_const", dest="mode", const="dry",
                       help="one small cell, two servers, no tuning, no doc: a smoke test")
    ap.add_argument("--json", help="write the results here (default bench/results/<time>.json)")
    ap.add_argument("--report", metavar="JSON", help="only regenerate the doc and plots")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "benchmarks.md"))
    ap.add_argument("--servers", help="comma-separated subset of server names")
    ap.add_argument("--cells", help="only these cells, ID:CONNS[,ID:CONNS...] from the full "
                    "matrix (e.g. http-d1:128); the doc is left alone, the table printed")
    ap.add_argument("--reps", type=int, help="repetitions per cell (at least 3 for a median)")
    ap.add_argument("--seconds", type=float, help="measured seconds per run")
    args = ap.parse_args()
    mode = args.mode or "quick"
    if args.reps or args.seconds:
        duration, warmup, reps, strace_s = MODES[mode]
        MODES[mode] = (args.seconds or duration, warmup, args.reps or reps, strace_s)

    if args.report:
        with open(args.report) as f:
            report.publish(json.load(f), args.doc, args.report)
        return 0

    paths = {"ioserve": os.path.join(args.build, "src", "ioserve"),
             "ioload": os.path.join(args.build, "bench", "ioload"),
             "baselines": os.path.join(args.build, "bench", "baselines")}
    if not os.access(paths["ioload"], os.X_OK):
        log("no ioload under %s: build first (make build)" % args.build)
        return 1
    wanted = servers.SERVERS
    if mode == "dry":
        wanted = [s for s in wanted if s.name in ("ioserve-uring", "baseline-threads")]
    if args.servers:
        names = args.servers.split(",")
        wanted = [s for s in wanted if s.name in names]

    # The orchestrator and its /proc sampling belong to the load side, off the server's CPU.
    os.sched_setaffinity(0, {int(measure.LOAD_CPU)})
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    matrix = workloads(mode) if not args.cells else pick_cells(args.cells)
    tune = tuning.Tuning(max(max(c) + w.get("idle", 0) for w, c, _ in matrix))
    started = datetime.datetime.now(datetime.timezone.utc)
    result = {"mode": mode, "started": started.isoformat(timespec="seconds"),
              "method": dict(zip(["seconds", "warmup_s", "repetitions", "strace_seconds"],
                                 MODES[mode])),
              "machine": machine_facts(), "tuning": [], "availability": {}, "cells": []}
    try:
        if mode != "dry":
            tune.apply()
        result["tuning"] = tune.notes or ["none (dry run)"]
        probed = {}
        for workload, conn_list, strace_list in matrix:
            if "open_loop_of" in workload:
                rate, why = open_loop_rate(result["cells"], workload)
                result["open_loop"] = {"of": list(workload["open_loop_of"]), "rate": rate,
                                       "tick_us": workload["tick_us"], "skipped": why}
                if why:
                    log("%s: skipped (%s)" % (workload["id"], why))
                    result["availability"][workload["id"]] = {
                        n: "skipped: " + why for n in workload["servers"]}
                    continue
                workload = dict(workload, rate=rate)
            live, avail = [], {}
            for server in _servers_for(wanted, workload):
                why = probe(server, paths, workload, probed)
                avail[server.name] = why or "ok"
                if why:
                    if workload["protocol"] in server.protocols:
                        log("%s on %s: not available (%s)" % (workload["id"], server.name, why))
                else:
                    live.append(server)
            result["availability"][workload["id"]] = avail
            measured = [s for s in live if not s.strace_only]
            for conns in conn_list:
                if measured:
                    result["cells"].append(run_cell(
                        workload, conns, measured, paths, mode, conns in strace_list,
                        [s for s in live if s.strace_only]))
    finally:
        tune.restore()
    with open("/proc/loadavg") as f:
        result["machine"]["loadavg_end"] = f.read().split()[:3]
    result["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")

    out = args.json or os.path.join(ROOT, "bench", "results",
                                    started.strftime("%Y-%m-%dT%H%MZ") + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    log("results in " + out)
    if args.cells:
        report.print_table(result)
    elif mode != "dry":
        report.publish(result, args.doc, out)
        log("doc in %s, plots in %s" % (args.doc, report.img_dir(args.doc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
