"""report.py - turn one results JSON into docs/benchmarks.md and the PNG plots beside it.

Contract: publish(result, doc_path, json_path) rewrites doc_path whole (the doc is generated:
hand edits are lost) and draws with gnuplot into <doc dir>/img/: bench-rps.png (req/s against
connections, one panel per workload, a line per server), bench-cpu.png (server CPU per request
per cell and server), bench-latency.png (latency percentiles at each workload's first
connection count) and bench-wall.png (the wall cells: server CPU per request against idle
connections, a line per backend).  Without gnuplot the doc is still written and says the plots are missing.
"""

import math
import os
import shutil
import subprocess
import tempfile

import targets

PCTS = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99_9", 0.999)]
HEADLINE_SERVERS = ["ioserve-uring", "ioserve-epoll-lt", "ioserve-epoll-et", "baseline-epoll",
                    "baseline-uring", "nginx"]
# One colour and point shape per server in every plot, so a server is recognisable across panels.
STYLE = {
    "ioserve-select": ("#c5b0d5", 15), "ioserve-poll": ("#98df8a", 14),
    "ioserve-uring": ("#d62728", 7), "ioserve-epoll-lt": ("#1f77b4", 5),
    "ioserve-epoll-et": ("#17becf", 13), "ioserve-uring-sqpoll": ("#e377c2", 8),
    "baseline-epoll": ("#9467bd", 10), "baseline-uring": ("#ff9896", 12),
    "baseline-blocking": ("#7f7f7f", 1),
    "baseline-prefork": ("#8c564b", 2), "baseline-threads": ("#2ca02c", 3),
    "baseline-pool": ("#bcbd22", 4), "nginx": ("#000000", 9), "h2o": ("#ff7f0e", 11),
    "ioserve-uring-threads2": ("#ff7f7f", 7), "ioserve-uring-processes2": ("#8b0000", 7),
    "ioserve-epoll-et-threads2": ("#7fdfef", 13), "ioserve-epoll-et-processes2": ("#0b6f7f", 13),
}


def _style(name, points=True):
    color, pt = STYLE.get(name, ("#aec7e8", 6))
    return 'lc rgb "%s" lw 2%s' % (color, " pt %d ps 1.2" % pt if points else "")


def img_dir(doc_path):
    return os.path.join(os.path.dirname(os.path.abspath(doc_path)), "img")


def _med(entry, metric):
    m = entry.get(metric)
    return m["median"] if m else None


def _fmt(v, digits=1):
    if v is None:
        return "–"
    if abs(v) >= 10000:
        return "{:,.0f}".format(v)
    return "{:.{}f}".format(v, digits)


def _label(cell):
    return "%s c%d" % (cell["workload"]["id"], cell["connections"])


def _series(result):
    """workload id -> list of cells, in matrix order; the wall cells have their own plot."""
    out = {}
    for cell in result["cells"]:
        if not _is_wall(cell) and not _is_hold(cell):
            out.setdefault(cell["workload"]["id"], []).append(cell)
    return out


def _is_wall(cell):
    return "idle" in cell["workload"]


def _is_hold(cell):
    return "hold" in cell["workload"]


def wall_points(result):
    """The wall cells' server CPU per request: {server: [(idle, median, min, max)]}, idle
    ascending; a server that did not run (or failed) at some idle count has no point there."""
    out = {}
    for cell in sorted((c for c in result["cells"] if _is_wall(c)), key=lambda c: c["workload"]["idle"]):
        for name, e in cell["servers"].items():
            m = e.get("server_cpu_us_per_req")
            if m:
                out.setdefault(name, []).append((cell["workload"]["idle"], m["median"], m["min"], m["max"]))
    return out


def wall_growth(points):
    """µs per request added by each 1,000 idle connections: the least-squares slope through a
    server's (idle, median) points; None with fewer than two idle counts."""
    xs = [p[0] / 1000.0 for p in points]
    ys = [p[1] for p in points]
    if len(set(xs)) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def _servers(result):
    """Servers with load figures somewhere, in STYLE order (strace-only ones have none)."""
    names = []
    for cell in result["cells"]:
        for name, entry in cell["servers"].items():
            if name not in names and not entry.get("strace_only"):
                names.append(name)
    order = list(STYLE)
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


# ----------------------------------------------------------------------------- plots

GP_HEAD = """set terminal pngcairo size {w},{h} font "DejaVu Sans,10"
set output "{out}"
set datafile missing "-"
set grid
set key outside right top vertical font ",9"
"""


def _panel_layout(n):
    cols = 2 if n > 1 else 1
    return (n + cols - 1) // cols, cols


def _plot_rps(result, tmp, out):
    # An open-loop cell's req/s is the rate it was given: nothing to compare.
    series = {k: v for k, v in _series(result).items() if not v[0]["workload"].get("rate")}
    names = _servers(result)
    rows, cols = _panel_layout(len(series))
    gp = GP_HEAD.format(w=620 * cols + 150, h=360 * rows, out=out)
    gp += "set multiplot layout %d,%d title \"req/s against connections (median, bars: min-max)\"\n" % (rows, cols)
    gp += "set logscale x\nset logscale y\nset xlabel \"connections\"\nset ylabel \"req/s\"\n"
    for sid, cells in series.items():
        plots = []
        for name in names:
            path = os.path.join(tmp, "rps-%s-%s.dat" % (sid, name))
            lines = []
            for cell in cells:
                e = cell["servers"].get(name)
                if e and e.get("req_per_s"):
                    r = e["req_per_s"]
                    lines.append("%d %g %g %g" % (cell["connections"], r["median"], r["min"], r["max"]))
            if lines:
                with open(path, "w") as f:
                    f.write("\n".join(lines) + "\n")
                plots.append("\"%s\" using 1:2:3:4 with yerrorlines %s title \"%s\""
                             % (path, _style(name), name))
        conns = [c["connections"] for c in cells]
        gp += "set title \"%s\"\nset xrange [%g:%g]\n" % (sid, min(conns) / 2.0, max(conns) * 2.0)
        gp += "plot " + ", ".join(plots) + "\n" if plots else ""
    return gp + "unset multiplot\n"


def _plot_cpu(result, tmp, out):
    names = _servers(result)
    path = os.path.join(tmp, "cpu.dat")
    with open(path, "w") as f:
        f.write("cell " + " ".join(names) + "\n")
        for cell in result["cells"]:
            vals = [_med(cell["servers"][n], "server_cpu_us_per_req") if n in cell["servers"]
                    else None for n in names]
            f.write("\"%s\" " % _label(cell) +
                    " ".join("-" if v is None else "%g" % v for v in vals) + "\n")
    gp = GP_HEAD.format(w=max(900, 110 * len(result["cells"]) + 300), h=520, out=out)
    gp += ("set title \"server CPU time per request (scheduler run time of the server's process "
           "tree, median)\"\nset style data histogram\nset style histogram cluster gap 1\n"
           "set style fill solid 0.8 border -1\nset boxwidth 0.9\nset logscale y\n"
           "set ylabel \"µs per request (log)\"\nset xtics rotate by -30 font \",9\"\n"
           "set yrange [0.1:*]\n")
    gp += "plot " + ", ".join("\"%s\" using %d:xtic(1) %s title columnhead"
                              % (path, i + 2, _style(names[i], points=False))
                              for i in range(len(names))) + "\n"
    return gp


def _plot_latency(result, tmp, out):
    series = _series(result)
    names = _servers(result)
    rows, cols = _panel_layout(len(series))
    gp = GP_HEAD.format(w=620 * cols + 150, h=360 * rows, out=out)
    gp += ("set multiplot layout %d,%d title \"latency percentiles (median of the repetitions)\"\n"
           % (rows, cols))
    gp += ("set logscale y\nset ylabel \"latency µs (log)\"\nset xlabel \"percentile\"\n"
           "set xtics (\"p50\" 0.301, \"p90\" 1, \"p99\" 2, \"p99.9\" 3)\nset xrange [0.2:3.2]\n")
    for sid, cells in series.items():
        cell = cells[0]
        plots = []
        for name in names:
            e = cell["servers"].get(name)
            if not e or not e.get("p50_us"):
                continue
            path = os.path.join(tmp, "lat-%s-%s.dat" % (sid, name))
            with open(path, "w") as f:
                for key, p in PCTS:
                    m = e.get(key + "_us")
                    if m:
                        f.write("%g %g\n" % (-math.log10(1 - p), m["median"]))
            plots.append("\"%s\" using 1:2 with linespoints %s title \"%s\""
                         % (path, _style(name), name))
        gp += "set title \"%s\"\n" % _label(cell)
        gp += "plot " + ", ".join(plots) + "\n" if plots else ""
    return gp + "unset multiplot\n"


def _wall_cells(result):
    return sorted((c for c in result["cells"] if _is_wall(c)), key=lambda c: c["workload"]["idle"])


def _wall_active(result):
    return next((c["connections"] for c in _wall_cells(result)), 0)


def _plot_wall(result, tmp, out):
    names = _servers(result)
    points = wall_points(result)
    gp = GP_HEAD.format(w=900, h=520, out=out)
    gp += ("set title \"The C10K wall: %d keep-alive connections at a fixed rate beside N idle ones\"\n"
           "set xlabel \"idle connections\"\nset ylabel \"server CPU µs per request (median, bars: min-max)\"\n"
           "set yrange [0:*]\n" % _wall_active(result))
    plots = []
    for name in (n for n in names if n in points):
        path = os.path.join(tmp, "wall-%s.dat" % name)
        with open(path, "w") as f:
            f.write("".join("%d %g %g %g\n" % p for p in points[name]))
        plots.append("\"%s\" using 1:2:3:4 with yerrorlines %s title \"%s\"" % (path, _style(name), name))
    return gp + "plot " + ", ".join(plots) + "\n"


def draw(result, dest):
    """Draw the PNGs into dest; returns the list of file names, or [] without gnuplot."""
    if not shutil.which("gnuplot") or not result["cells"]:
        return []
    os.makedirs(dest, exist_ok=True)
    done = []
    series = _series(result)
    plots = [("bench-rps.png", _plot_rps) if _closed_loop([c for v in series.values() for c in v]) else None,
             ("bench-cpu.png", _plot_cpu), ("bench-latency.png", _plot_latency) if series else None,
             ("bench-wall.png", _plot_wall) if wall_points(result) else None]
    with tempfile.TemporaryDirectory(prefix="bench-plot-") as tmp:
        for name, make in filter(None, plots):
            script = make(result, tmp, os.path.join(dest, name))
            res = subprocess.run(["gnuplot"], input=script, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, timeout=60)
            if res.returncode == 0:
                done.append(name)
            else:
                print("bench: gnuplot failed on %s: %s" % (name, res.stderr[-300:]))
    return done


# ----------------------------------------------------------------------------- markdown

def _ratio(a, b):
    return "%.2f×" % (a / b) if a and b else "–"


def _closed_loop(cells):
    """The cells whose req/s the servers chose: an open-loop cell's is the rate it was given."""
    return [c for c in cells if not c["workload"].get("rate")]


def _summary(result):
    """One sentence per server: the geometric mean (and range) of its ratios to uring."""
    ratios = {}
    for cell in _closed_loop(result["cells"]):
        base = cell["servers"].get("ioserve-uring")
        if not base or not base.get("req_per_s"):
            continue
        for name in HEADLINE_SERVERS[1:]:
            e = cell["servers"].get(name)
            if e and e.get("req_per_s") and e.get("server_cpu_us_per_req"):
                ratios.setdefault(name, []).append(
                    (_med(e, "server_cpu_us_per_req") / _med(base, "server_cpu_us_per_req"),
                     _med(e, "req_per_s") / _med(base, "req_per_s")))
    out = []
    for name, pairs in ratios.items():
        cpu = [c for c, _ in pairs]
        rps = [r for _, r in pairs]
        gmean = lambda v: math.exp(sum(math.log(x) for x in v) / len(v))  # noqa: E731
        out.append("* **%s** against ioserve-uring over %d cell%s: **%.2f×** the CPU per request "
                   "(geometric mean; %.2f–%.2f), **%.2f×** the req/s (%.2f–%.2f)." % (
                       name, len(pairs), "" if len(pairs) == 1 else "s", gmean(cpu), min(cpu),
                       max(cpu), gmean(rps), min(rps), max(rps)))
    return out + [""] if out else []


def _headline(result):
    """Ratios against ioserve-uring in every cell where uring ran, for req/s and CPU/request."""
    lines = []
    for wid, avail in result["availability"].items():
        why = avail.get("ioserve-uring", "ok")
        if why != "ok" and avail.get("nginx") == "ok":
            lines += ["**ioserve could not serve %s in this run** (%s), so there is no "
                      "uring-vs-nginx ratio for it; nginx's own figures are in the tables below."
                      % (wid, why.replace("|", "/")), ""]
    lines += _summary(result) + [
        "| cell | server | req/s | vs uring | CPU µs/req | vs uring |", "|---|---|---|---|---|---|"]
    for cell in _closed_loop(result["cells"]):
        base = cell["servers"].get("ioserve-uring")
        if not base or not base.get("req_per_s"):
            continue
        for name in HEADLINE_SERVERS:
            e = cell["servers"].get(name)
            if not e or not e.get("req_per_s"):
                continue
            rps, cpu = _med(e, "req_per_s"), _med(e, "server_cpu_us_per_req")
            lines.append("| %s | %s | %s | %s | %s | %s |" % (
                _label(cell), name, _fmt(rps, 0), _ratio(rps, _med(base, "req_per_s")),
                _fmt(cpu, 2), _ratio(cpu, _med(base, "server_cpu_us_per_req"))))
    return lines


def _cell_table(cell):
    lines = ["#### %s, %d connection%s" % (_describe(cell["workload"]), cell["connections"],
                                           "" if cell["connections"] == 1 else "s"), "",
             "| server | req/s (median) | spread | p50 µs | p99 µs | p99.9 µs | server CPU µs/req (utime+stime) |"
             " client CPU µs/req | syscalls/req (top calls) | PSS/conn KiB | errors | runs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in cell["servers"].items():
        if e.get("strace_only"):
            lines.append("| %s | syscalls only | | | | | not measured: SQPOLL's kernel thread "
                         "spins | | %s | | | |" % (name, _syscall_text(e.get("syscalls"))))
            continue
        if not e.get("req_per_s"):
            errs = "; ".join(sorted({r.get("error", "") for r in e.get("raw", [])}))
            lines.append("| %s | failed: %s | | | | | | | | | | 0/%d |" % (name, errs, e["runs"]))
            continue
        sys_txt = _syscall_text(e.get("syscalls"))
        pss = _med(e, "pss_per_conn_bytes")
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |" % (
            name, _fmt(_med(e, "req_per_s"), 0),
            "±%.0f %%" % (e["req_per_s"]["spread_pct"] / 2),
            _fmt(_med(e, "p50_us")), _fmt(_med(e, "p99_us")), _fmt(_med(e, "p99_9_us")),
            "%s (%s)" % (_fmt(_med(e, "server_cpu_us_per_req"), 2),
                         _fmt(_med(e, "server_stat_cpu_us_per_req"), 2)),
            _fmt(_med(e, "client_cpu_us_per_req"), 2),
            sys_txt, _fmt(pss / 1024 if pss is not None else None, 1),
            _fmt(_med(e, "errors"), 0), e["runs_ok"], e["runs"]))
    return lines + [""]


def _syscall_text(sc):
    if sc and "per_req" in sc:
        top = ", ".join("%s %.3f" % (k, v) for k, v in list(sc["top"].items())[:3])
        return "%.3f (%s)" % (sc["per_req"], top)
    return "n/a: " + sc["error"] if sc else "not traced"


def _describe(w):
    if "idle" in w:
        return ("HTTP GET /plaintext, open loop at %.0f req/s over the keep-alive connections, "
                "beside %d idle ones" % (w["rate"], w["idle"]))
    if w.get("rate"):
        return ("HTTP GET /plaintext, open loop at %.0f req/s (half nginx's median in %s c%d), "
                "requests due within %d µs sent together" % (
                    w["rate"], w["open_loop_of"][0], w["open_loop_of"][1], w["tick_us"]))
    if w["protocol"] == "http":
        text = "HTTP GET /plaintext, pipelining depth %d" % w.get("depth", 1)
        return text + ("; " + w["note"] if w.get("note") else "")
    if w["protocol"] == "rpc" and w["rpc_method"] == "echo":
        return ("msgpack-rpc echo of a %d-byte bin, inline on the loop, %d calls in flight per "
                "connection" % (w["size"], w.get("depth", 1)))
    if w["protocol"] == "rpc":
        return ("msgpack-rpc sleep(%d) on the worker pool (ioserve's default --workers), %d calls "
                "in flight per connection" % (w["rpc_sleep_ms"], w.get("depth", 1)))
    names = {"echo": "echo", "etx": "ETX", "ws": "WebSocket echo"}
    return "%s, %d-byte messages" % (names[w["protocol"]], w["size"])


def _wall_entry(name, e):
    """One table cell of the wall: CPU µs/req and p99, or why there is none."""
    if e is None:
        return "beyond FD_SETSIZE" if name == "ioserve-select" else "not run"
    if not e.get("server_cpu_us_per_req"):
        return "failed"
    return "%s (p99 %s µs)" % (_fmt(_med(e, "server_cpu_us_per_req"), 2), _fmt(_med(e, "p99_us"), 0))


def _wall_section(result):
    """The wall cells as one table: a row per idle count, a column per backend, and the growth."""
    cells = _wall_cells(result)
    points = wall_points(result)
    if not cells:
        return []
    names = [n for n in _servers(result) if any(n in c["servers"] for c in cells)]
    w = cells[0]["workload"]
    out = ["## The C10K wall: CPU per request as idle connections grow", "",
           "%d keep-alive HTTP connections send %.0f requests/s in all (open loop, requests due "
           "within %d µs leave together) beside N connections that connected before the load and "
           "never send a byte (`ioload --idle N`; a run in which the server closed any of them "
           "counts as failed).  Each entry is the server's CPU µs per request (median; how it is "
           "measured is under *Caveats*) and the median p99 latency.  select and poll hand the "
           "kernel every connection on every wait and scan them all after it; epoll and io_uring "
           "wait on what is ready.  select cannot wait on an fd at or above FD_SETSIZE (1024), so "
           "it runs only while all its fds fit below it.  The last row is the least-squares slope "
           "of each column: µs per request added by each 1,000 idle connections." % (
               cells[0]["connections"], w["rate"], w["tick_us"]), "",
           "| idle connections | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for cell in cells:
        out.append("| {:,} | ".format(cell["workload"]["idle"]) +
                   " | ".join(_wall_entry(n, cell["servers"].get(n)) for n in names) + " |")
    growth = [wall_growth(points.get(n, [])) for n in names]
    out.append("| µs/request per 1,000 idle | " + " | ".join(_fmt(g, 3) for g in growth) + " |")
    return out + [""]


def _range(e, metric, digits=0):
    if not e.get(metric):
        return "n/a"
    m = e[metric]
    return "%s (%s–%s)" % (_fmt(m["median"], digits), _fmt(m["min"], digits), _fmt(m["max"], digits))


def _idle_section(result):
    """The idle cell: what each server's resident memory grew by per held connection, the
    kernel's beside it, and the sparse requests' latency."""
    cells = [c for c in result["cells"] if _is_hold(c)]
    if not cells:
        return []
    w = cells[0]["workload"]
    out = ["## Idle connections: memory per connection", "",
           "`ioload --hold %d --every %d` (bench/ioload/README.md): %s keep-alive connections each "
           "get one answer (`GET /plaintext`), then each sends one request every %d s.  *Resident "
           "bytes per connection* is the growth of the resident set (VmRSS) of the process holding "
           "them (nginx's worker, ioserve itself) from before the first connection to after the "
           "last first answer, divided by the connections: what an answered, idle connection costs "
           "the server in user memory (issue 11's target: 512 bytes at 19,000, on io_uring and on "
           "epoll).  *Kernel slab* is the growth of the slab memory in use over the same span "
           "(`/proc/slabinfo`): both ends of each loopback connection, and whatever else the "
           "machine did meanwhile.  19,000 because the hard open-files limit here is 20,000 "
           "per process; a million is planned in bench/million.sh.  Median (min–max) over the runs."
           % (w["hold"], w["every_s"], "{:,}".format(w["hold"]), w["every_s"]), "",
           "| server | resident bytes/conn | kernel slab bytes/conn | connect all, s | sparse p50 µs "
           "| p99 µs | max µs | errors | runs |", "|---|---|---|---|---|---|---|---|---|"]
    for name, e in cells[0]["servers"].items():
        if not e.get("runs_ok"):
            errs = "; ".join(sorted({r.get("error", "") for r in e.get("raw", [])}))
            out.append("| %s | failed: %s | | | | | | | 0/%d |" % (name, errs.replace("|", "/"), e["runs"]))
            continue
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %d/%d |" % (
            name, _range(e, "idle_rss_per_conn_bytes"), _range(e, "idle_kernel_slab_per_conn_bytes"),
            _fmt(_med(e, "connect_s"), 2), _fmt(_med(e, "p50_us")), _fmt(_med(e, "p99_us")),
            _fmt(_med(e, "max_us")), _fmt(_med(e, "errors"), 0), e["runs_ok"], e["runs"]))
    return out + [""]


CAVEATS = """\
* **Shared, noisy machine.** A 2-vCPU virtual machine that other jobs (builds, test suites of
  other engineers) use at the same time; the load average at start and end is printed above.
  Single runs move by tens of percent; read the medians and the spread, and trust ratios measured
  in the same run over absolute numbers.  Servers take turns within each repetition (round-robin,
  order rotated) so a slow stretch hits all of them alike rather than one.
* **Client and server share the machine.** The server is pinned to CPU 0 and ioload to CPU 1;
  on a VM these are hyperthread siblings or time-sliced vCPUs, not separate cores, and the
  loopback path puts part of the client's kernel work (softirq, wake-ups) on the server's CPU
  and back.  Throughput is therefore bounded by *both* ends: echo in particular is a dead heat
  between a client and a server that do the same kernel work per message.  CPU per request is
  the figure that separates servers; req/s says how the pair performed.
* **CPU per request** is the server process tree's on-CPU time over the central 80 % of
  ioload's measured window, divided by ioload's req/s, sampled every 50 ms.  The tree is the
  server and every descendant (nginx's master and worker, prefork's workers), every thread of
  each (io_uring's io-wq workers included).  The time is the scheduler's sum_exec_runtime from
  /proc/PID/task/TID/schedstat, not utime+stime from /proc/PID/stat: those are sampled at the
  timer tick, and a task that runs in slices shorter than a tick is charged nothing (63 of 64
  busy prefork workers read 0 ticks over a second in which the scheduler saw them run 0.6 s).
  utime+stime per request is kept in the JSON (`server_stat_cpu_us_per_req`) and in the table
  in brackets; for single-process servers the two agree within tick resolution.  Kernel work done
  in softirq context on the server's CPU for the client's packets lands on whichever task runs,
  part of the noise.
* **Syscalls per request** come from a separate short run under `strace -c -f` attached to the
  whole server tree: strace slows the server by a large factor, which changes batching (fewer
  requests per wake-up), so it overstates calls per request for event-loop servers; connection
  set-up calls are included.  io_uring servers show `io_uring_enter` calls, not the operations
  they carry.
* **PSS per connection** is (PSS with the connections open - PSS idle) / connections, PSS summed
  over the process tree (so prefork's shared pages count once), sampled once in the middle of
  the measured window.  Memory reserved up front but touched on first use (ioserve's registered
  buffer ring, 16 KiB buffers; thread stacks) shows up under load, so at small connection counts
  the figure is "what serving N busy connections made resident", not a per-socket constant.
* **Baselines** are blocking by design: `baseline-blocking` serves one client at a time (with N
  connections the other N-1 time out, counted as errors); prefork and pool get
  min(connections, 1024) workers, so above 1024 connections clients wait in the backlog.
* **h2o** answers through an mruby handler (Debian's h2o has no fixed-response directive), which
  costs it more per request than nginx's `return 200`; nginx runs with one worker, access log
  off.  Response headers differ slightly between servers (Date, Server, Content-Type).
* **Latency** is closed-loop everywhere but the open-loop cell: with N connections each waits
  for its answer, so latency grows with N by construction; it is what ioload measured
  (histogram error < 0.8 %), not a service-time estimate.  The open-loop cell sends at a fixed
  rate, half the median req/s nginx reached in the closed-loop HTTP depth-1 cell at 128
  connections of the same run, and counts latency from each request's intended send time (no
  coordinated omission).  Requests due within 100 µs leave together, early, so at these rates
  a few requests share a send; waking for every request would cost the client more than the
  server.  Even so the fine tick costs ioload more per request than closed loop, and at half
  nginx's peak it can keep ioload's own CPU mostly busy (the targets table says how busy): its
  own queueing then shows in every server's p99 alike, which makes the comparison fair but the
  tails long.  Each run is a separate server start, so p99 over about a second of requests is a
  noisy figure: read it with the spread.
* **baseline-epoll** and **baseline-uring** are floors, not competitors: one thread each,
  HTTP answered by counting request heads with no parsing.  baseline-epoll: level-triggered
  epoll, one `recv` and one `send` per readable socket; baseline-uring: multishot accept and
  recv on a buffer ring, one SEND per read, DEFER_TASKRUN (bench/baselines/).  What any server
  of each I/O model must pay here.
* **ioserve-uring-sqpoll** (`--sqpoll --sqpoll-cpu 1`) is run only under strace, in the HTTP
  depth-1 cells: its kernel submission thread spins on CPU 1, beside the load (this machine has
  no third CPU to give it), so its CPU per request and its req/s say nothing about ioserve.  strace follows the
  server's threads, not the kernel thread, which is what "syscalls per request" means there.
"""


def _targets(result, measured_only=False):
    """Issue 7's and 11's targets, one row each, judged on this run (targets.py); measured_only leaves
    out those this run has no figure for."""
    out = ["## Targets (issues 7 and 11)", "",
           "Each target in the issue's words, where it is measured, the figure from this run "
           "(ratios of medians; *paired*: the range of the ratios of runs made back to back in "
           "the same repetition), and the verdict.", "",
           "| target | cell | measured | goal | status |", "|---|---|---|---|---|"]
    for row in targets.evaluate(result):
        if measured_only and row["status"].startswith(("not measured", "see test")):
            continue
        status = "**%s**" % row["status"] if row["status"] in ("met", "not met") else row["status"]
        out.append("| %s | %s | %s | %s | %s |" % (
            row["target"], row["cell"], row["measured"], row["goal"], status.replace("|", "/")))
    return out + [""]


def _markdown(result, json_rel, plots, img_rel):
    m = result["machine"]
    meth = result["method"]
    out = [
        "# Benchmarks: io_uring vs epoll vs the classic models vs nginx",
        "",
        "<!-- Generated by bench/compare/compare.py from %s; edits here are overwritten. -->" % json_rel,
        "",
        "Regenerate with `make bench` (quick, about 17 minutes) or `make bench-full` (the whole "
        "matrix); `bench/compare/compare.py --report %s` redraws this page from the saved "
        "results." % json_rel,
        "",
    ] + _targets(result) + [
        "## Machine",
        "",
        "| | |", "|---|---|",
        "| CPU | %s, %s logical CPUs |" % (m["cpu_model"], m["cpus"]),
        "| memory | %s GiB |" % m["memory_gib"],
        "| kernel | Linux %s (%s) |" % (m["kernel"], m["os"]),
        "| nginx / h2o | %s / %s |" % (m["nginx"], m["h2o"]),
        "| ioserve commit | %s |" % m["git_commit"],
        "| run | %s to %s, `%s` mode |" % (result["started"], result.get("finished", "?"), result["mode"]),
        "| load average | %s at start, %s at end |" % (" ".join(m["loadavg_start"]),
                                                     " ".join(m.get("loadavg_end", ["?"]))),
        "",
        "## Method",
        "",
        "* Every server is started fresh for every run, pinned to CPU 0 (`taskset -c 0`); ioload "
        "(bench/ioload, one thread, io_uring engine; closed loop except in the open-loop cell) "
        "is pinned to CPU 1, and so is the orchestrating script.",
        "* Each cell (workload × connections) runs every server %d times, round-robin: server "
        "A, B, C, … then B, C, …, A, and so on; a run is %.1f s measured after %.1f s of "
        "warm-up. Tables give the median and the spread (± half the min-max range, as %% of the "
        "median)." % (meth["repetitions"], meth["seconds"], meth["warmup_s"]),
        "* Server CPU per request, PSS per connection and syscalls per request are defined under "
        "*Caveats*; client CPU per request is ioload's own (its worker threads while measuring).",
        "* Before a workload's cells, each server is checked over one connection (answers "
        "correct, no errors); a server that fails is listed as not available with the reason.",
        "",
        "Kernel and limit settings (changed values were restored at exit):",
        "",
    ] + ["* " + t for t in result["tuning"]] + ["", "## Headline: ioserve io_uring against epoll and nginx", ""]
    out += ["Ratios are medians over medians from the same run; CPU/request lower is better, "
            "req/s higher is better.", ""] + _headline(result) + [""]
    out += _wall_section(result)
    out += _idle_section(result)
    if plots:
        out += ["## Plots", ""] + ["![%s](%s/%s)" % (p, img_rel, p) for p in plots] + [""]
    else:
        out += ["(No plots: gnuplot was not available.)", ""]
    out += ["## Availability", "", "| workload | server | status |", "|---|---|---|"]
    traced_only = {n for c in result["cells"] for n, e in c["servers"].items()
                   if e.get("strace_only")}
    for wid, avail in result["availability"].items():
        for name, why in avail.items():
            if why == "ok" and name in traced_only:
                out.append("| %s | %s | syscalls counted only |" % (wid, name))
            elif why.startswith("skipped"):
                out.append("| %s | %s | %s |" % (wid, name, why.replace("|", "/")))
            elif why != "ok" and not why.startswith("does not speak"):
                out.append("| %s | %s | not available: %s |" % (wid, name, why.replace("|", "/")))
            elif why == "ok":
                out.append("| %s | %s | measured |" % (wid, name))
    out += ["", "## Results", ""]
    for cell in result["cells"]:
        out += _cell_table(cell) if not _is_hold(cell) else []
    out += ["## Caveats", "", CAVEATS]
    return "\n".join(out)


def publish(result, doc_path, json_path):
    dest = img_dir(doc_path)
    plots = draw(result, dest)
    doc_dir = os.path.dirname(os.path.abspath(doc_path))
    json_rel = os.path.relpath(os.path.abspath(json_path), os.path.dirname(doc_dir))
    with open(doc_path, "w") as f:
        f.write(_markdown(result, json_rel, plots, os.path.relpath(dest, doc_dir)))


def print_table(result):
    """The cell tables on stdout, then the targets those cells measure, for a --cells run that
    leaves the doc alone."""
    for cell in result["cells"]:
        print("\n".join(_cell_table(cell) if not _is_hold(cell) else _idle_section(dict(result, cells=[cell]))))
    print("\n".join(_targets(result, measured_only=True)))
