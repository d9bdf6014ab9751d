"""verdict.py - from a soak's samples and tallies to pass or fail, and the summary lines.

Contract: growth(samples, key, warm_s, end_s) compares the level of one sampled figure at the
start of the judged span (after warm_s, until the load's last second before end_s) with its level
at the end, each taken over a window of WINDOW_FRACTION of that span (at least WINDOW_MIN
samples), so one busy second is not read as growth; grows more than GROWTH_LIMIT fails.  The
RSS level is the window's median; the descriptor level is its floor (LEVEL), because the load's
own connections come and go: with about twenty descriptors, one connection a client happens to
hold across the last seconds is +5 %, while a leaked descriptor raises the floor for good.
judge(result) lists every reason a backend's run fails: a failed well-behaved request, growth,
a descriptor the load opened still open once the clients are gone (unreleased()), a server that
died or exited non-zero.  summary(result) is its text report.
"""

import statistics

GROWTH_LIMIT = 0.05
WINDOW_FRACTION = 0.1
WINDOW_MIN = 5
WIND_DOWN_S = 1.0
CARRIER_PIPES_KEPT = 16  # proactor/uring_sendfile.c, IDLE_CARRIERS_KEPT


def warm_seconds(seconds):
    """The first minute, or the first 20 % of a shorter run, is not judged."""
    return min(60.0, 0.2 * seconds)


LEVEL = {"rss_kb": statistics.median, "fds": min}


def growth(samples, key, warm_s, end_s):
    # The clients wind down in the load's last second: a sample there sees their connections go.
    judged = [s[key] for s in samples if warm_s <= s["t"] <= end_s - WIND_DOWN_S]
    if len(judged) < 2 * WINDOW_MIN:
        return {"judged": False, "samples": len(judged)}
    n = max(WINDOW_MIN, int(len(judged) * WINDOW_FRACTION))
    level = LEVEL[key]
    first, last = level(judged[:n]), level(judged[-n:])
    return {"judged": True, "first": first, "last": last,
            "growth": (last - first) / first if first else 0.0}


def _figures(samples, key):
    values = [s[key] for s in samples]
    return {"start": values[0], "end": values[-1], "max": max(values)} if values else {}


def server_figures(samples, warm_s, end_s):
    """One server's figures from its samples, and its growth verdicts."""
    return {key: dict(_figures(samples, key), **growth(samples, key, warm_s, end_s)) for key in ("rss_kb", "fds")}


def unreleased(left_open, loops):
    """Of the descriptors a server holds after the load beyond those it held before, the ones
    it should not: all but the pipes of the io_uring backend's idle sendfile carriers, which it
    keeps for reuse, at most CARRIER_PIPES_KEPT a loop (two descriptors each)."""
    pipes = {fd: what for fd, what in left_open.items() if what.startswith("pipe:")}
    kept = {fd: what for fd, what in left_open.items() if fd not in pipes}
    if len(pipes) > 2 * CARRIER_PIPES_KEPT * loops:
        kept.update(pipes)
    return kept


def judge(result):
    reasons = []
    for kind, t in sorted(result["traffic"].items()):
        if t["failed"]:
            reasons.append("%s: %d failed (%s)" % (kind, t["failed"], "; ".join(t["reasons"][:3])))
        if not t["answered"]:
            reasons.append("%s: nothing answered" % kind)
    for name, sv in sorted(result["servers"].items()):
        for key in ("rss_kb", "fds"):
            g = sv["figures"][key]
            if g.get("judged") and g["growth"] > GROWTH_LIMIT:
                reasons.append("%s: %s grew %.1f %% (%s -> %s)" % (name, key, 100 * g["growth"], g["first"], g["last"]))
        kept = unreleased(sv["left_open"], sv["loops"])
        if kept:
            reasons.append("%s: %d descriptors still open once the clients were gone (%s)"
                           % (name, len(kept), _kinds(kept)))
        if sv["died_at"] is not None:
            reasons.append("%s: the server exited during the run (after %.0f s)" % (name, sv["died_at"]))
        if sv["stop"]["exit"] != 0:
            reasons.append("%s: exit status %s" % (name, sv["stop"]["exit"]))
    return reasons


def _kinds(descriptors):
    """"3 x tcp CLOSE_WAIT, 1 x anon_inode:[eventfd]": what they are, without the ports."""
    counts = {}
    for what in descriptors.values():
        kind = " ".join(what.split()[:2]) if what.startswith("tcp ") else what
        counts[kind] = counts.get(kind, 0) + 1
    return ", ".join("%d x %s" % (n, k) for k, n in sorted(counts.items())) or "none named"


def summary(result):
    lines = ["== %s: %s, %d s (seed %d)" % (result["backend"], "PASS" if result["passed"] else "FAIL",
                                              result["seconds"], result["seed"])]
    lines.append("  %-16s %10s %7s  %s" % ("traffic", "answered", "failed", "notes"))
    for kind, t in sorted(result["traffic"].items()):
        notes = ", ".join("%s %s" % (k, v) for k, v in sorted(t.items())
                          if k not in ("answered", "failed", "reasons"))
        lines.append("  %-16s %10d %7d  %s" % (kind, t["answered"], t["failed"], notes))
    # start and end: the levels growth() compares when the run was long enough to judge.
    lines.append("  %-6s %-38s %-26s %s" % ("server", "RSS KiB idle/start/end/max (growth)",
                                            "fds idle/start/end/max (gr.)", "connections, refused, stderr lines"))
    for name, sv in sorted(result["servers"].items()):
        stop = sv["stop"]
        cells = []
        for key in ("rss_kb", "fds"):
            g = sv["figures"][key]
            cells.append("%s/%s/%s/%s (%s)" % (sv["idle"][key], g.get("first", g.get("start")),
                                               g.get("last", g.get("end")), g.get("max"), _pct(g)))
        lines.append("  %-6s %-38s %-26s %s, %s, %d" % (
            name, cells[0], cells[1], stop.get("connections"), stop.get("refused"), len(stop["messages"])))
    lines += ["  FAIL: " + why for why in result["reasons"]]
    return "\n".join(lines)


def _pct(g):
    return "%+.1f %%" % (100 * g["growth"]) if g.get("judged") else "not judged"
