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


def workloads(mode):
    """The matrix: (workload, connection counts, counts that also get a strace run)."""
    if mode == "dry":
        return [({"id": "echo-128", "protocol": "echo", "size": 128}, [4], [4])]
    if mode == "quick":
        # Under 5 minutes with the build: 16 KB echo and the 1- and 10k-connection points are
        # left to --full.
        return [
            ({"id": "http-d1", "protocol": "http", "depth": 1}, [64, 1000], [64]),
            ({"id": "http-d16", "protocol": "http", "depth": 16}, [64], [64]),
            ({"id": "echo-128", "protocol": "echo", "size": 128}, [100], [100]),
            ({"id": "etx-64", "protocol": "etx", "size": 64}, [100], [100]),
            ({"id": "ws-128", "protocol": "ws", "size": 128}, [100], [100]),
        ]
    return [
        ({"id": "http-d1", "protocol": "http", "depth": 1}, [1, 64, 1000, 10000], [1, 64, 1000]),
        ({"id": "http-d16", "protocol": "http", "depth": 16}, [1, 64, 1000, 10000], [64]),
        ({"id": "echo-128", "protocol": "echo", "size": 128}, [1, 100, 1000], [1, 100, 1000]),
        ({"id": "echo-16k", "protocol": "echo", "size": 16384}, [1, 100, 1000], [100]),
        ({"id": "etx-64", "protocol": "etx", "size": 64}, [1, 100, 1000], [100]),
        ({"id": "ws-128", "protocol": "ws", "size": 128}, [1, 100, 1000], [100]),
    ]


def pick_cells(spec):
    """The --cells subset: each ID:CONNS names a workload of the full matrix and a count."""
    by_id = {w["id"]: w for w, _, _ in workloads("full")}
    picked = []
    for item in spec.split(","):
        wid, _, conns = item.partition(":")
        if wid not in by_id or not conns.isdigit():
            raise SystemExit("compare.py: --cells: '%s' is not ID:CONNS with ID one of %s"
                             % (item, ", ".join(by_id)))
        picked.append((by_id[wid], [int(conns)], [int(conns)]))
    return picked


MODES = {
    # mode: (measured seconds, warm-up seconds, repetitions, strace seconds)
    "dry": (0.5, 0.05, 3, 0.2),  # long enough for several CPU samples inside the load on a busy machine
    "quick": (0.6, 0.2, 3, 0.3),
    "full": (3.0, 1.0, 3, 1.0),
}

METRICS = ["req_per_s", "server_cpu_us_per_req", "server_stat_cpu_us_per_req", "client_cpu_us_per_req", "pss_per_conn_bytes",
           "errors", "p50_us", "p90_us", "p99_us", "p99_9_us", "max_us", "server_cpu_util"]


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
        res = measure.load_run(run, paths, workload, 1, 0.2, 0)
        if "error" not in res and res["requests"] == 0:
            res = measure.load_run(run, paths, workload, 1, 1.0, 0)
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


def run_cell(workload, conns, live, paths, mode, strace_it):
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
                res = measure.load_run(run, paths, workload, conns, duration, warmup)
            finally:
                run.stop()
            res["rep"] = rep
            raw[server.name].append(res)
            log("%s c=%d rep %d %-18s %s" % (workload["id"], conns, rep, server.name,
                "%.0f req/s, %.2f us cpu/req" % (res["req_per_s"], res["server_cpu_us_per_req"] or 0)
                if "error" not in res else res["error"]))
    cell = {"workload": workload, "connections": conns, "servers": {}}
    for server in live:
        entry = summarize(raw[server.name])
        entry["raw"] = raw[server.name]
        if strace_it:
            run, why = servers.start(server, paths, workload["protocol"], conns)
            if run:
                try:
                    entry["syscalls"] = measure.syscall_run(run, paths, workload, conns, strace_s)
                finally:
                    run.stop()
            else:
                entry["syscalls"] = {"error": why}
        cell["servers"][server.name] = entry
    return cell


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
    tune = tuning.Tuning(max(max(c) for _, c, _ in matrix))
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
            live, avail = [], {}
            for server in wanted:
                why = probe(server, paths, workload, probed)
                avail[server.name] = why or "ok"
                if why:
                    if workload["protocol"] in server.protocols:
                        log("%s on %s: not available (%s)" % (workload["id"], server.name, why))
                else:
                    live.append(server)
            result["availability"][workload["id"]] = avail
            for conns in conn_list:
                if live:
                    result["cells"].append(run_cell(workload, conns, live, paths, mode,
                                                    conns in strace_list))
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
