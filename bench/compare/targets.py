"""targets.py - issue 7's performance targets and issue 11's idle-memory one, judged on one results JSON.

Contract: evaluate(result) returns one row per target, in the issue's order, each a dict with
"target" (the issue's words), "cell" (where it is measured), "measured" (the figure and what it
is made of), "goal" and "status": "met", "not met", "context" (no target, a figure for scale),
"not measured: why", or "see test" (the allocation target, which a test checks, not this run).
Ratios are of medians from the same run; "paired" gives the range of the per-repetition ratios
(repetition r of two servers ran back to back), so a reader sees how firm a verdict is.
Nothing here runs or draws anything.
"""

URING, LT, ET = "ioserve-uring", "ioserve-epoll-lt", "ioserve-epoll-et"
SQPOLL, FLOOR, URING_FLOOR = "ioserve-uring-sqpoll", "baseline-epoll", "baseline-uring"
NGINX = "nginx"
CPU = "server_cpu_us_per_req"
SQPOLL_ZERO = 0.01      # syscalls per request that count as "0" under strace


def _cell(result, wid, conns):
    for cell in result["cells"]:
        if cell["workload"]["id"] == wid and cell["connections"] == conns:
            return cell
    return None


def _median(cell, server, metric):
    entry = cell["servers"].get(server) if cell else None
    m = entry.get(metric) if entry else None
    return m["median"] if m else None


def _paired(cell, a, b, metric):
    """min and max over repetitions of a's figure / b's in the same repetition."""
    def by_rep(name):
        return {r["rep"]: r.get(metric) for r in cell["servers"][name].get("raw", [])
                if "error" not in r and r.get(metric)}
    ra, rb = by_rep(a), by_rep(b)
    ratios = [ra[k] / rb[k] for k in ra if k in rb]
    return (min(ratios), max(ratios)) if ratios else None


def _missing(cell, wid, conns, *names):
    if cell is None:
        return "no %s c%d cell in this run" % (wid, conns)
    absent = [n for n in names if _median(cell, n, CPU) is None]
    return "no CPU figure for %s" % ", ".join(absent) if absent else None


def _row(target, cell_text, measured, goal, status):
    return {"target": target, "cell": cell_text, "measured": measured, "goal": goal,
            "status": status}


def _cpu_ratio(result, target, wid, conns, a, b, limit):
    """a's CPU per request over b's, against limit (None: context only)."""
    cell = _cell(result, wid, conns)
    where = "%s c%d" % (wid, conns)
    goal = "≤ %.2f×" % limit if limit is not None else "–"
    why = _missing(cell, wid, conns, a, b)
    if why:
        return _row(target, where, "–", goal, "not measured: " + why)
    ca, cb = _median(cell, a, CPU), _median(cell, b, CPU)
    ratio = ca / cb
    paired = _paired(cell, a, b, CPU)
    measured = "%.2f× (%.2f / %.2f µs%s)" % (
        ratio, ca, cb, "; paired %.2f–%.2f" % paired if paired else "")
    status = "context" if limit is None else ("met" if ratio <= limit else "not met")
    return _row(target, where, measured, goal, status)


def _echo(result):
    target = ("Echo, 128-byte messages, 1,000 connections: uring ≥ 1.5× epoll messages per "
              "second at equal CPU (messages per server CPU-second, against the better epoll)")
    cell = _cell(result, "echo-128", 1000)
    why = _missing(cell, "echo-128", 1000, URING, LT, ET)
    if why:
        return _row(target, "echo-128 c1000", "–", "≥ 1.50×", "not measured: " + why)
    uring = _median(cell, URING, CPU)
    per_cpu_s = {n: 1e6 / _median(cell, n, CPU) for n in (URING, LT, ET)}
    best = max((LT, ET), key=lambda n: per_cpu_s[n])
    other = ET if best == LT else LT
    ratio = per_cpu_s[URING] / per_cpu_s[best]
    measured = "%.2f× vs %s (%.0f vs %.0f msg per CPU-s; uring %.2f µs/msg); %.2f× vs %s" % (
        ratio, best, per_cpu_s[URING], per_cpu_s[best], uring,
        per_cpu_s[URING] / per_cpu_s[other], other)
    return _row(target, "echo-128 c1000", measured, "≥ 1.50×",
                "met" if ratio >= 1.5 else "not met")


def _syscalls(result, target, server, limit, goal):
    cell = _cell(result, "http-d1", 128)
    entry = cell["servers"].get(server) if cell else None
    sc = entry.get("syscalls") if entry else None
    if not sc or "per_req" not in sc:
        why = ("no http-d1 c128 cell in this run" if cell is None else
               "%s not traced" % server if not sc else sc["error"])
        return _row(target, "http-d1 c128", "–", goal, "not measured: " + why)
    top = ", ".join("%s %.3f" % kv for kv in list(sc["top"].items())[:2])
    measured = "%.3f per request (%s; %d requests under strace)" % (
        sc["per_req"], top, sc["requests"])
    return _row(target, "http-d1 c128", measured, goal,
                "met" if sc["per_req"] <= limit else "not met")


def _p99(result, server):
    target = "p99 latency at half of nginx's peak rate (open-loop) no worse than nginx's"
    info = result.get("open_loop") or {}
    cell = _cell(result, "http-d1-open", 128)
    a, b = _median(cell, server, "p99_us"), _median(cell, NGINX, "p99_us")
    where = "http-d1-open c128, %s" % server
    if info.get("skipped") or a is None or b is None:
        why = info.get("skipped") or ("no open-loop cell in this run" if cell is None else
                                      "no p99 for %s or nginx" % server)
        return _row(target, where, "–", "≤ nginx", "not measured: " + why)
    measured = "%.0f µs vs nginx %.0f µs (%.2f×) at %.0f req/s" % (a, b, a / b, info["rate"])
    client = _median(cell, server, "client_cpu_us_per_req")
    if client:
        # A client near saturation queues requests itself: that shows in every server's tail.
        measured += "; ioload busy %.0f %% of its CPU" % (client * info["rate"] / 1e4)
    return _row(target, where, measured, "≤ nginx", "met" if a <= b else "not met")


IDLE_BYTES = 512  # issue 11: server user memory per idle connection, at 19,000


def _idle(result, server):
    """Issue 11's idle-connection target on one backend, nginx's figure beside it."""
    target = "Idle connections (issue 11): ≤ %d bytes of server user memory each" % IDLE_BYTES
    cell = next((c for c in result["cells"] if c["workload"]["id"] == "idle"), None)
    where = "idle c%d, %s" % (cell["connections"], server) if cell else "idle, %s" % server
    mine = _median(cell, server, "idle_rss_per_conn_bytes")
    if mine is None:
        return _row(target, where, "–", "≤ %d B" % IDLE_BYTES,
                    "not measured: " + ("no idle cell in this run" if cell is None else
                                        "no figure for %s" % server))
    theirs = _median(cell, NGINX, "idle_rss_per_conn_bytes")
    measured = "%.0f B (nginx %s)" % (mine, "%.0f B" % theirs if theirs is not None else "not measured")
    return _row(target, where, measured, "≤ %d B" % IDLE_BYTES,
                "met" if mine <= IDLE_BYTES else "not met")


def evaluate(result):
    d1 = ("http-d1", 128)
    d16 = ("http-d16", 128)
    rows = [
        _cpu_ratio(result, "HTTP plaintext, 128 connections, depth 1: server CPU time per "
                   "request, uring ≤ 0.4× nginx", *d1, URING, NGINX, 0.4),
        _cpu_ratio(result, "… and ≤ 0.75× ioserve epoll-ET", *d1, URING, ET, 0.75),
        _cpu_ratio(result, "Depth 16 (pipelined): uring ≤ 0.1× nginx", *d16, URING, NGINX, 0.1),
        _cpu_ratio(result, "… and ≤ 0.8× epoll-ET", *d16, URING, ET, 0.8),
        _cpu_ratio(result, "epoll-ET itself ≤ 0.6× nginx CPU per request", *d1, ET, NGINX, 0.6),
        _cpu_ratio(result, "epoll-ET itself ≤ 0.6× nginx CPU per request", *d16, ET, NGINX, 0.6),
        _cpu_ratio(result, "(scale) epoll-ET against the minimal epoll server", *d1, ET, FLOOR,
                   None),
        _cpu_ratio(result, "(scale) epoll-ET against the minimal epoll server", *d16, ET, FLOOR,
                   None),
        _cpu_ratio(result, "(scale) uring against the minimal io_uring server", *d1, URING,
                   URING_FLOOR, None),
        _cpu_ratio(result, "(scale) uring against the minimal io_uring server", *d16, URING,
                   URING_FLOOR, None),
        _cpu_ratio(result, "(scale) the minimal io_uring server against nginx", *d1, URING_FLOOR,
                   NGINX, None),
        _cpu_ratio(result, "(scale) the minimal epoll server against nginx", *d1, FLOOR, NGINX,
                   None),
        _echo(result),
        _syscalls(result, "Syscalls per request ≤ 0.05 on uring at 128 connections (no SQPOLL)",
                  URING, 0.05, "≤ 0.05"),
        _syscalls(result, "… and 0 with `--sqpoll`", SQPOLL, SQPOLL_ZERO,
                  "0 (≤ %.2f under strace)" % SQPOLL_ZERO),
    ]
    rows += [_idle(result, name) for name in (URING, LT, ET)]
    rows += [_p99(result, name) for name in (URING, LT, ET)]
    rows.append(_row("No per-request heap allocation on the hot path in steady state",
                     "tests/test_alloc_steady.c", "tested by test_alloc_steady, not by this run",
                     "0 allocations", "see test"))
    return rows
