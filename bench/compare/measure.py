"""measure.py - one load run against one started server, and one syscall count.

Contract: load_run() drives a Running server with ioload pinned to CPU 1 for one workload
(closed loop, or open loop when the workload carries a "rate") and returns ioload's JSON plus
the server-side figures: CPU seconds per request (the server tree's on-CPU time over the central
80 % of ioload's measured window, divided by ioload's req/s; the connection ramp-up and teardown
stay outside; from the scheduler's run time, with utime+stime from /proc/PID/stat kept beside
it) and PSS per connection (PSS under load minus PSS idle, over the connection count).
syscall_run() attaches `strace -f` to the server tree for a short separate run and returns
system calls per answered request in steady state. hold_run() is the idle cell: `ioload --hold`
opens the workload's "hold" connections, one request each, and reads the resident memory of the
server process that holds them (nginx's worker; ioserve itself) before and after, then sends
one request per connection every "every_s" seconds for the run's seconds. Every subprocess has a wall-clock bound; a
run that overruns it is killed and reported as failed, never waited on.
"""

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

LOAD_CPU = "1"
SAMPLE_S = 0.05


def ioload_argv(paths, workload, port, conns, duration_s, warmup_s):
    argv = ["taskset", "-c", LOAD_CPU, paths["ioload"], "-p", workload["protocol"],
            "-c", str(conns), "-d", "%.3f" % duration_s, "--json", "--timeout-ms", "2000"]
    if warmup_s > 0:
        argv += ["--warmup", "%.3f" % warmup_s]
    if workload.get("depth", 1) > 1:
        argv += ["--depth", str(workload["depth"])]
    if workload["protocol"] in ("echo", "etx", "ws"):
        argv += ["-s", str(workload["size"])]
    if workload["protocol"] == "rpc":
        argv += ["--rpc-method", workload["rpc_method"]]
        argv += (["-s", str(workload["size"])] if workload["rpc_method"] == "echo"
                 else ["--rpc-sleep-ms", str(workload["rpc_sleep_ms"])])
    if workload["protocol"] == "http":
        argv += ["--path", "/plaintext"]
    if workload.get("rate"):
        argv += ["--rate", "%.0f" % workload["rate"], "--tick-us", str(workload["tick_us"])]
    if workload.get("idle"):
        argv += ["--idle", str(workload["idle"])]
    return argv + ["127.0.0.1:%d" % port]


def _bound(conns, duration_s, warmup_s):
    # Connecting runs at roughly 10k/s here; a stuck run must still end.
    return duration_s + warmup_s + conns / 2000.0 + 15.0


class _Sampler(threading.Thread):
    """Samples the server tree's CPU seconds every SAMPLE_S, and its PSS once, at pss_at (a
    monotonic time inside the measured window): smaps_rollup over a 1024-process prefork tree is
    too slow to read fifty times a second."""

    def __init__(self, run, pss_at):
        super().__init__(daemon=True)
        self.run_handle = run
        self.pss_at = pss_at
        self.cpu = []           # (monotonic time, {tid: run ns}, utime+stime seconds)
        self.pss = None
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            self.cpu.append((time.monotonic(), self.run_handle.task_run_ns(),
                             self.run_handle.stat_cpu_seconds()))
            if self.pss is None and time.monotonic() >= self.pss_at:
                self.pss = self.run_handle.pss_bytes()
            self.halt.wait(SAMPLE_S)


def _settle(run, limit_s=3.0):
    """Wait until the server's process tree stops growing (prefork forks its workers after it
    listens), so the idle PSS counts every worker."""
    deadline = time.monotonic() + limit_s
    count = -1
    while time.monotonic() < deadline:
        now = len(run.pids())
        if now == count:
            return
        count = now
        time.sleep(0.1)


def _window(samples, t0, t1):
    """The two samples nearest t0 and t1, distinct and in order; None with fewer than two."""
    if len(samples) < 2:
        return None
    a = min(range(len(samples)), key=lambda i: abs(samples[i][0] - t0))
    b = min(range(a + 1, len(samples)), key=lambda i: abs(samples[i][0] - t1), default=None)
    if b is None:
        a, b = len(samples) - 2, len(samples) - 1
    return samples[a], samples[b]


def _run_ioload(argv, bound_s):
    try:
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             timeout=bound_s, text=True)
    except subprocess.TimeoutExpired:
        return None, "ioload ran past its %.0f s bound" % bound_s
    if out.returncode != 0:
        tail = out.stderr.strip().splitlines()
        return None, "ioload exit %d: %s" % (out.returncode, tail[-1] if tail else "")
    try:
        return json.loads(out.stdout), None
    except ValueError:
        return None, "ioload printed no JSON"


def idle_lost_error(report):
    """A reason when the server closed some of ioload's --idle connections (the run then did
    not hold the connections it was meant to), else None."""
    idle = report.get("idle", {})
    if idle.get("lost"):
        return "the server closed %d of the %d idle connections" % (idle["lost"], idle["connections"])
    return None


def load_run(run, paths, workload, conns, duration_s, warmup_s):
    """One measured run; returns a dict of figures, or {"error": reason}."""
    _settle(run)
    pss_idle = run.pss_bytes()
    # Connecting takes about conns/10k s before the warm-up starts; aim the PSS sample at the
    # middle of the measured window.
    held = conns + workload.get("idle", 0)
    sampler = _Sampler(run, time.monotonic() + held / 10000.0 + warmup_s + duration_s / 2)
    sampler.start()
    report, err = _run_ioload(ioload_argv(paths, workload, run.port, conns, duration_s, warmup_s),
                              _bound(held, duration_s, warmup_s))
    t_exit = time.monotonic()
    sampler.halt.set()
    sampler.join()
    if err:
        return {"error": err}
    err = idle_lost_error(report)
    if err:
        return {"error": err}
    seconds = report["seconds"]
    rate = report["req_per_s"]
    # Only samples taken while the load ran: after ioload exits, a thread-per-connection
    # server's threads are gone with their run time, and a starved sampler could otherwise
    # pair a sample from the run with one from after it.
    in_run = [s for s in sampler.cpu if s[0] <= t_exit - seconds * 0.05]
    span = _window(in_run, t_exit - seconds * 0.9, t_exit - seconds * 0.1)
    if span and span[1][0] - span[0][0] < seconds * 0.4:
        span = None  # a starved sampler saw too little of the run: no figure beats a false one
    util = cpu_per_req = stat_per_req = None
    if span:
        (a_t, a_cpu, a_stat), (b_t, b_cpu, b_stat) = span
        util = run.run_delta_s(a_cpu, b_cpu) / (b_t - a_t)
        cpu_per_req = util / rate if rate > 0 else None
        stat_per_req = (b_stat - a_stat) / (b_t - a_t) / rate if rate > 0 else None
    pss_loaded = sampler.pss if sampler.pss is not None else run.pss_bytes()
    return {
        "req_per_s": rate,
        "requests": report["requests"],
        "seconds": seconds,
        "latency_us": report["latency_us"],
        "errors": report["errors"]["total"],
        "error_kinds": {k: v for k, v in report["errors"].items() if v and k != "total"},
        "server_cpu_us_per_req": cpu_per_req * 1e6 if cpu_per_req is not None else None,
        "server_cpu_util": util,
        "server_stat_cpu_us_per_req": stat_per_req * 1e6 if stat_per_req is not None else None,
        "client_cpu_us_per_req": report["cpu"]["us_per_request"],
        "pss_idle_bytes": pss_idle,
        "pss_loaded_bytes": pss_loaded,
        "pss_per_conn_bytes": (pss_loaded - pss_idle) / held,
    }


def hold_run(run, paths, workload, seconds):
    """One idle-cell run; returns its figures, or {"error": reason}."""
    _settle(run)
    holder = run.pids()[-1]  # the last of the tree: nginx's worker, or ioserve itself
    argv = ["taskset", "-c", LOAD_CPU, paths["ioload"], "-p", workload["protocol"],
            "--hold", str(workload["hold"]), "--every", "%g" % workload["every_s"],
            "-d", "%.3f" % seconds, "--server-pid", str(holder), "--json", "--timeout-ms", "5000"]
    if workload["protocol"] == "http":
        argv += ["--path", "/plaintext"]
    report, err = _run_ioload(argv + ["127.0.0.1:%d" % run.port],
                              seconds + workload["hold"] / 1000.0 + 30.0)
    if err:
        return {"error": err}
    first = report["first_requests"]
    if first["answered"] != report["connections"] or report["lost"]:
        return {"error": "%d of %d first requests answered, %d connections lost" % (
            first["answered"], report["connections"], report["lost"])}
    rss, slab, sparse = report["server_rss"], report["kernel_slab"], report["sparse"]
    return {
        "req_per_s": None,
        "requests": sparse["answered"],
        "latency_us": dict(sparse["latency_us"], p90=None),
        "errors": sparse["errors"] + first["errors"],
        "error_kinds": {},
        "connect_s": report["connect_s"],
        "idle_rss_per_conn_bytes": rss["per_conn"] if rss else None,
        "idle_kernel_slab_per_conn_bytes": slab["per_conn"] if slab else None,
    }


# "PID SECONDS.MICROS name(" -- a call as it starts; "<... name resumed>" halves do not match.
_STRACE_CALL = re.compile(r"^\d+\s+(\d+\.\d+)\s+(\w+)\(", re.M)


def count_calls(text, t0, t1):
    """(total calls, {syscall: calls}) among the calls of an `strace -f -ttt` log that began
    within [t0, t1] (wall-clock seconds)."""
    rows = {}
    for m in _STRACE_CALL.finditer(text):
        if t0 <= float(m.group(1)) <= t1:
            rows[m.group(2)] = rows.get(m.group(2), 0) + 1
    return sum(rows.values()), rows


def steady_window(t_start, t_exit, warmup_s, seconds):
    """A span surely inside ioload's measured window, or None when too little is left.
    ioload measures for `seconds` after connecting (c) and warming up; after it, it closes
    its connections and exits (d).  c and d are unknown, but c + d = slack, the run's length
    beyond warm-up and measurement, so [start + warm-up + slack, exit - slack] lies inside
    the window whatever the split."""
    slack = (t_exit - t_start) - warmup_s - seconds
    lo, hi = t_start + warmup_s + max(slack, 0.0), t_exit - max(slack, 0.0)
    return (lo, hi) if hi - lo >= 0.2 * seconds else None


def _stop_tracer(tracer):
    tracer.send_signal(signal.SIGINT)
    try:
        tracer.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        tracer.kill()
        tracer.communicate()


def syscall_run(run, paths, workload, conns, duration_s, warmup_s):
    """System calls per answered request in steady state under strace; {"error": reason} when
    it cannot run.  strace logs every call with its time; only those inside ioload's measured
    window (steady_window) count, against ioload's rate times that span (steady, strace being
    attached throughout), so connection set-up, warm-up and teardown stay out of the figure,
    as they do for CPU per request."""
    out = tempfile.NamedTemporaryFile(prefix="bench-strace-", suffix=".txt", delete=False)
    out.close()
    argv = ["strace", "-f", "-qq", "-ttt", "-o", out.name]
    _settle(run)
    for pid in run.pids():
        argv += ["-p", str(pid)]
    try:
        tracer = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError as e:
        os.unlink(out.name)
        return {"error": "strace: %s" % e.strerror}
    time.sleep(0.15)        # let strace attach to every thread before the load starts
    t_start = time.time()
    report, err = _run_ioload(ioload_argv(paths, workload, run.port, conns, duration_s, warmup_s),
                              _bound(conns, duration_s, warmup_s))
    t_exit = time.time()
    _stop_tracer(tracer)
    with open(out.name) as f:
        text = f.read()
    os.unlink(out.name)
    if err:
        return {"error": err}
    window = steady_window(t_start, t_exit, warmup_s, report["seconds"])
    if window is None:
        return {"error": "ioload's start and exit left no steady window"}
    total, rows = count_calls(text, *window)
    requests = report["req_per_s"] * (window[1] - window[0])
    if not total or requests < 1:
        return {"error": "no traced calls in the window (%d bytes of log, %d requests)"
                % (len(text), report["requests"])}
    top = sorted(rows.items(), key=lambda kv: -kv[1])[:6]
    return {
        "requests": round(requests),
        "window_s": round(window[1] - window[0], 3),
        "syscalls": total,
        "per_req": total / requests,
        "top": {name: calls / requests for name, calls in top},
    }
