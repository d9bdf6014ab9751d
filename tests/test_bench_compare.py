#!/usr/bin/python3
"""test_bench_compare.py - bench/compare/compare.py in its dry mode: one cell, two servers;
the issue-7 target verdicts, the open-loop rate and the strace window on synthetic input; the
msgpack-rpc cells' ioload flags, servers and descriptions; and
baseline-epoll and baseline-uring (the minimal epoll and io_uring servers) over real sockets.

The dry run drives the real pipeline (servers pinned and started, ioload, /proc accounting,
strace when installed) for about two seconds and checks the results JSON has every field the
report reads, with sane values: three runs per server, medians inside [min, max], positive
req/s and CPU.
Usage: test_bench_compare.py SOURCE_ROOT BUILD_ROOT
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SOURCE_ROOT, BUILD_ROOT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SOURCE_ROOT, "bench", "compare"))

import compare   # noqa: E402
import measure   # noqa: E402
import report    # noqa: E402
import targets   # noqa: E402


class DryRun(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="test-bench-compare-")
        out = os.path.join(cls.tmp, "dry.json")
        cls.proc = subprocess.run(
            ["/usr/bin/python3", os.path.join(SOURCE_ROOT, "bench", "compare", "compare.py"),
             "--build", BUILD_ROOT, "--dry", "--json", out],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=40)
        cls.result = None
        if cls.proc.returncode == 0:
            with open(out) as f:
                cls.result = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_exits_zero_with_json(self):
        self.assertEqual(self.proc.returncode, 0, self.proc.stderr)
        self.assertIsNotNone(self.result)

    def test_top_level_shape(self):
        for key in ("mode", "started", "finished", "method", "machine", "tuning",
                    "availability", "cells"):
            self.assertIn(key, self.result)
        self.assertEqual(self.result["mode"], "dry")
        self.assertGreaterEqual(self.result["method"]["repetitions"], 3)
        for key in ("cpu_model", "kernel", "cpus", "loadavg_start", "loadavg_end"):
            self.assertIn(key, self.result["machine"])

    def test_one_cell_two_servers_measured(self):
        cells = self.result["cells"]
        self.assertEqual(len(cells), 1)
        cell = cells[0]
        self.assertEqual(cell["workload"]["protocol"], "echo")
        self.assertEqual(sorted(cell["servers"]), ["baseline-threads", "ioserve-uring"])
        for name, entry in cell["servers"].items():
            with self.subTest(server=name):
                self.assertEqual(entry["runs"], 3)
                self.assertEqual(entry["runs_ok"], 3, entry["raw"])
                for metric in ("req_per_s", "server_cpu_us_per_req", "client_cpu_us_per_req",
                               "p50_us", "p99_us", "p99_9_us", "pss_per_conn_bytes"):
                    m = entry[metric]
                    self.assertLessEqual(m["min"], m["median"])
                    self.assertLessEqual(m["median"], m["max"])
                self.assertGreater(entry["req_per_s"]["median"], 0)
                self.assertGreater(entry["server_cpu_us_per_req"]["median"], 0)
                self.assertEqual(entry["errors"]["max"], 0)

    def test_round_robin_alternates_servers(self):
        cell = self.result["cells"][0]
        reps = {name: [r["rep"] for r in e["raw"]] for name, e in cell["servers"].items()}
        for name, seen in reps.items():
            self.assertEqual(seen, [0, 1, 2], name)

    def test_syscalls_per_request_when_strace_exists(self):
        for name, entry in self.result["cells"][0]["servers"].items():
            sc = entry["syscalls"]
            if shutil.which("strace"):
                self.assertIn("per_req", sc, (name, sc))
                self.assertGreater(sc["per_req"], 0)
            else:
                self.assertIn("error", sc)


def _entry(cpu_us, reps=(1.0, 1.0, 1.0), **extra):
    """A server's summary as compare.py writes it: median CPU cpu_us, per-rep figures scaled."""
    raw = [{"rep": i, "server_cpu_us_per_req": cpu_us * f} for i, f in enumerate(reps)]
    vals = [r["server_cpu_us_per_req"] for r in raw]
    return dict({"runs_ok": 3, "runs": 3, "raw": raw, "server_cpu_us_per_req": {
        "median": cpu_us, "min": min(vals), "max": max(vals), "spread_pct": 0.0}}, **extra)


def _cell(wid, conns, servers, **workload):
    return {"workload": dict({"id": wid, "protocol": "http"}, **workload),
            "connections": conns, "servers": servers}


def _p99(us):
    return {"p99_us": {"median": us, "min": us, "max": us, "spread_pct": 0.0}}


def _synthetic():
    """One run in which each target lands on a known side of its line."""
    syscalls = {"per_req": 0.02, "top": {"io_uring_enter": 0.02}, "requests": 5000}
    d1 = _cell("http-d1", 128, {
        "ioserve-uring": _entry(3.0, (0.9, 1.0, 1.2), syscalls=syscalls),
        "ioserve-epoll-et": _entry(6.0), "nginx": _entry(10.0), "baseline-epoll": _entry(5.0),
        "baseline-uring": _entry(2.5),
        "ioserve-uring-sqpoll": {"runs_ok": 0, "runs": 0, "raw": [], "strace_only": True,
                                 "syscalls": {"per_req": 0.2, "top": {"io_uring_enter": 0.2},
                                              "requests": 900}}})
    d16 = _cell("http-d16", 128, {"ioserve-uring": _entry(0.5), "ioserve-epoll-et": _entry(0.6),
                                  "nginx": _entry(0.9), "baseline-epoll": _entry(0.4)})
    echo = _cell("echo-128", 1000, {"ioserve-uring": _entry(4.0),
                                    "ioserve-epoll-lt": _entry(7.0),
                                    "ioserve-epoll-et": _entry(5.0)})
    open_loop = _cell("http-d1-open", 128, {
        "ioserve-uring": dict(_entry(4.0), **_p99(900.0)),
        "ioserve-epoll-lt": dict(_entry(4.0), **_p99(1500.0)),
        "nginx": dict(_entry(9.0), **_p99(1000.0))})
    open_loop["servers"]["ioserve-uring"]["client_cpu_us_per_req"] = {"median": 10.0}
    idle = _cell("idle", 19000, {name: {"idle_rss_per_conn_bytes": {"median": b}}
                                 for name, b in (("ioserve-uring", 430.0), ("ioserve-epoll-lt", 600.0),
                                                 ("nginx", 540.0))}, hold=19000)
    return {"cells": [d1, d16, echo, open_loop, idle],
            "open_loop": {"of": ["http-d1", 128], "rate": 50000.0, "tick_us": 100,
                          "skipped": None}}


class Targets(unittest.TestCase):
    def setUp(self):
        self.rows = targets.evaluate(_synthetic())

    def status(self, target_start, cell_start=""):
        found = [r for r in self.rows if r["target"].startswith(target_start) and
                 r["cell"].startswith(cell_start)]
        self.assertEqual(len(found), 1, (target_start, cell_start, self.rows))
        return found[0]

    def test_cpu_ratios_judged_against_each_limit(self):
        row = self.status("HTTP plaintext, 128 connections, depth 1")
        self.assertEqual(row["status"], "met")                 # 3 / 10 = 0.30 <= 0.4
        self.assertIn("0.30×", row["measured"])
        self.assertIn("paired 0.27–0.36", row["measured"])    # per-rep 2.7, 3.0, 3.6 over 10
        self.assertEqual(self.status("… and ≤ 0.75×")["status"], "met")    # 0.50
        self.assertEqual(self.status("Depth 16")["status"], "not met")      # 0.56
        self.assertEqual(self.status("… and ≤ 0.8×")["status"], "not met")  # 0.83
        self.assertEqual(self.status("epoll-ET itself", "http-d1 ")["status"], "met")      # 0.6
        self.assertEqual(self.status("epoll-ET itself", "http-d16")["status"], "not met")  # .67
        self.assertEqual(self.status("(scale) epoll-ET", "http-d1 ")["status"], "context")
        floor = self.status("(scale) the minimal io_uring server against nginx")
        self.assertEqual(floor["status"], "context")
        self.assertIn("0.25×", floor["measured"])
        self.assertTrue(self.status("(scale) uring against", "http-d16")["status"]
                        .startswith("not measured: no CPU figure for baseline-uring"))

    def test_echo_compares_with_the_better_epoll(self):
        row = self.status("Echo, 128-byte messages")
        # Per CPU-second: uring 250k, ET 200k (the better epoll), LT 143k: 1.25x, not met.
        self.assertEqual(row["status"], "not met")
        self.assertIn("1.25× vs ioserve-epoll-et", row["measured"])
        self.assertIn("1.75× vs ioserve-epoll-lt", row["measured"])

    def test_syscalls_and_sqpoll(self):
        self.assertEqual(self.status("Syscalls per request")["status"], "met")
        self.assertEqual(self.status("… and 0 with")["status"], "not met")

    def test_open_loop_p99_per_backend(self):
        row = self.status("p99", "http-d1-open c128, ioserve-uring")
        self.assertEqual(row["status"], "met")
        self.assertIn("ioload busy 50 % of its CPU", row["measured"])    # 10 µs x 50k/s
        self.assertEqual(self.status("p99", "http-d1-open c128, ioserve-epoll-lt")["status"],
                         "not met")
        self.assertTrue(self.status("p99", "http-d1-open c128, ioserve-epoll-et")["status"]
                        .startswith("not measured"))

    def test_idle_memory_per_backend(self):
        row = self.status("Idle connections", "idle c19000, ioserve-uring")
        self.assertEqual(row["status"], "met")                          # 430 <= 512
        self.assertIn("nginx 540 B", row["measured"])
        self.assertEqual(self.status("Idle connections", "idle c19000, ioserve-epoll-lt")["status"],
                         "not met")                                     # 600 > 512
        self.assertTrue(self.status("Idle connections", "idle c19000, ioserve-epoll-et")["status"]
                        .startswith("not measured"))

    def test_missing_cells_say_why(self):
        rows = targets.evaluate({"cells": [], "open_loop": {"skipped": "nginx not installed"}})
        for row in rows[:-1]:
            self.assertTrue(row["status"].startswith("not measured: "), row)
        self.assertIn("nginx not installed", rows[-2]["status"])
        self.assertEqual(rows[-1]["status"], "see test")

    def test_report_has_a_targets_table(self):
        lines = report._targets(_synthetic())
        self.assertEqual(lines[0], "## Targets (issues 7 and 11)")
        self.assertEqual(sum(1 for line in lines if line.startswith("| ")), 1 + len(self.rows))


class OpenLoopAndStrace(unittest.TestCase):
    def test_rate_is_half_nginx_median(self):
        cells = _synthetic()["cells"]
        cells[0]["servers"]["nginx"]["req_per_s"] = {"median": 40000.0}
        workload = compare._open_loop()
        self.assertEqual(compare.open_loop_rate(cells, workload), (20000.0, None))
        del cells[0]["servers"]["nginx"]
        rate, why = compare.open_loop_rate(cells, workload)
        self.assertIsNone(rate)
        self.assertIn("nginx", why)
        self.assertIsNone(compare.open_loop_rate([], workload)[0])

    def test_open_loop_and_strace_only_servers_are_chosen_per_workload(self):
        def names(workload):
            return [s.name for s in compare._servers_for(compare.servers.SERVERS, workload)]
        self.assertEqual(names(compare._open_loop()), compare.OPEN_LOOP_SERVERS)
        self.assertIn("ioserve-uring-sqpoll",
                      names(compare._http(1, strace_only=compare.SQPOLL_STRACE)))
        self.assertNotIn("ioserve-uring-sqpoll", names(compare._http(16)))

    def test_processes_cell_runs_its_variants_and_only_there(self):
        def names(workload):
            return [s.name for s in compare._servers_for(compare.servers.SERVERS, workload)]
        self.assertEqual(names(compare._processes_cell()), compare.PROCESS_SERVERS)
        for workload, _, _ in compare.workloads("full"):
            if workload["id"] != "http-d1-procs":
                self.assertFalse(set(names(workload)) & set(compare.PROCESS_SERVERS), workload["id"])
        argv = {s.name: s.build_cmd({"ioserve": "ioserve"}, "http", 8080, 128, "/tmp")
                for s in compare.servers.SERVERS if s.name in compare.PROCESS_SERVERS}
        self.assertEqual(argv["ioserve-uring-processes2"][-4:], ["--processes", "2", "--threads", "1"])
        self.assertEqual(argv["ioserve-uring-threads2"][-2:], ["--threads", "2"])
        self.assertIn("--processes 2", report._describe(compare._processes_cell()))

    def test_open_loop_passes_rate_and_tick_to_ioload(self):
        wl = dict(compare._open_loop(), rate=12345.4)
        argv = measure.ioload_argv({"ioload": "ioload"}, wl, 8080, 128, 1.0, 0.2)
        self.assertEqual(argv[argv.index("--rate") + 1], "12345")
        self.assertEqual(argv[argv.index("--tick-us") + 1], str(compare.OPEN_LOOP_TICK_US))

    def test_steady_window_lies_inside_the_measured_one(self):
        # 0.3 s of connect + teardown beyond a 0.2 s warm-up and 1 s measured: whatever the
        # split, [start + 0.5, exit - 0.3] is inside.
        lo, hi = measure.steady_window(100.0, 101.5, 0.2, 1.0)
        self.assertAlmostEqual(lo, 100.5)
        self.assertAlmostEqual(hi, 101.2)
        self.assertIsNone(measure.steady_window(100.0, 102.1, 0.2, 1.0))

    def test_count_calls_in_window_skips_resumed_halves(self):
        log = ("7 100.10 recvfrom(5, \"GET\", 16384, 0, NULL, NULL) = 3\n"
               "8 100.20 epoll_wait(4,  <unfinished ...>\n"
               "7 100.30 sendto(5, \"HTTP\", 4, 0, NULL, 0) = 4\n"
               "8 100.40 <... epoll_wait resumed>[], 256, -1) = 1\n"
               "7 100.90 close(5) = 0\n")
        self.assertEqual(measure.count_calls(log, 100.0, 100.5),
                         (3, {"recvfrom": 1, "epoll_wait": 1, "sendto": 1}))


def _wall_cell(idle, servers):
    return _cell("wall-idle%d" % idle, 100, servers, idle=idle, rate=2000.0, tick_us=1000)


def _wall_result():
    """Four idle counts: select and poll grow by 1 µs and 0.5 µs a request per 1,000 idle
    connections, epoll stays flat, select is beyond FD_SETSIZE from 1,000 on and poll failed
    once."""
    cells = []
    for idle in (0, 800, 1000, 5000):
        servers = {"ioserve-poll": dict(_entry(2.0 + idle / 2000.0), **_p99(100.0)),
                   "ioserve-epoll-lt": dict(_entry(2.0), **_p99(90.0))}
        if idle <= 800:
            servers["ioserve-select"] = dict(_entry(2.0 + idle / 1000.0), **_p99(110.0))
        if idle == 1000:
            servers["ioserve-poll"] = {"runs_ok": 0, "runs": 3, "raw": [{"error": "x"}] * 3}
        cells.append(_wall_cell(idle, servers))
    return {"cells": [cells[2], cells[0], cells[3], cells[1]]}  # out of order on purpose


class Wall(unittest.TestCase):
    def test_select_runs_while_its_fds_fit_below_fd_setsize(self):
        self.assertIn("ioserve-select", compare.wall_servers(0))
        self.assertIn("ioserve-select", compare.wall_servers(800))
        for idle in (1000, 5000, 15000):
            self.assertEqual(compare.wall_servers(idle), [n for n in compare.WALL_SERVERS
                                                          if n != "ioserve-select"])

    def test_poll_and_select_run_in_the_wall_cells_only(self):
        def names(workload):
            return [s.name for s in compare._servers_for(compare.servers.SERVERS, workload)]
        walls = [w for w, _, _ in compare.workloads("quick") if "idle" in w]
        self.assertEqual([w["idle"] for w in walls], compare.WALL_IDLE)
        self.assertEqual(sorted(names(walls[0])), sorted(compare.WALL_SERVERS))
        self.assertNotIn("ioserve-select", names(walls[-1]))
        for other in (compare._http(1), compare._http(16), compare._open_loop()):
            self.assertNotIn("ioserve-poll", names(other))
            self.assertNotIn("ioserve-select", names(other))

    def test_ioload_gets_the_idle_connections_and_the_rate(self):
        wl = compare._wall(5000)
        argv = measure.ioload_argv({"ioload": "ioload"}, wl, 8080, compare.WALL_ACTIVE, 1.0, 0.2)
        self.assertEqual(argv[argv.index("--idle") + 1], "5000")
        self.assertEqual(argv[argv.index("--rate") + 1], str(compare.WALL_RATE))
        own = argv[argv.index("ioload"):]  # after taskset's own -c
        self.assertEqual(own[own.index("-c") + 1], str(compare.WALL_ACTIVE))
        self.assertNotIn("--idle", measure.ioload_argv({"ioload": "ioload"}, compare._wall(0), 8080,
                                                        100, 1.0, 0.2))

    def test_a_run_that_lost_idle_connections_fails(self):
        self.assertIsNone(measure.idle_lost_error({"idle": {"connections": 800, "lost": 0}}))
        self.assertIsNone(measure.idle_lost_error({}))
        self.assertIn("closed 24 of the 1000", measure.idle_lost_error({"idle": {"connections": 1000, "lost": 24}}))

    def test_points_are_ordered_by_idle_and_skip_missing_runs(self):
        points = report.wall_points(_wall_result())
        self.assertEqual([p[0] for p in points["ioserve-epoll-lt"]], [0, 800, 1000, 5000])
        self.assertEqual([p[0] for p in points["ioserve-select"]], [0, 800])
        self.assertEqual([p[0] for p in points["ioserve-poll"]], [0, 800, 5000])
        self.assertEqual(points["ioserve-poll"][-1][1], 4.5)

    def test_growth_is_the_slope_per_thousand_idle(self):
        points = report.wall_points(_wall_result())
        self.assertAlmostEqual(report.wall_growth(points["ioserve-select"]), 1.0)
        self.assertAlmostEqual(report.wall_growth(points["ioserve-poll"]), 0.5)
        self.assertAlmostEqual(report.wall_growth(points["ioserve-epoll-lt"]), 0.0)
        self.assertIsNone(report.wall_growth(points["ioserve-select"][:1]))
        # Not a line through the ends: three points off a line give the least-squares slope.
        self.assertAlmostEqual(report.wall_growth([(0, 1.0, 0, 0), (1000, 3.0, 0, 0), (2000, 3.0, 0, 0)]), 1.0)

    def test_table_row_per_idle_count_and_a_growth_row(self):
        lines = report._wall_section(_wall_result())
        rows = [line for line in lines if line.startswith("| ")]
        self.assertEqual(rows[0], "| idle connections | ioserve-select | ioserve-poll | ioserve-epoll-lt |")
        self.assertEqual(rows[1], "| 0 | 2.00 (p99 110 µs) | 2.00 (p99 100 µs) | 2.00 (p99 90 µs) |")
        self.assertEqual(rows[3], "| 1,000 | beyond FD_SETSIZE | failed | 2.00 (p99 90 µs) |")
        self.assertEqual(rows[-1], "| µs/request per 1,000 idle | 1.000 | 0.500 | 0.000 |")
        self.assertEqual(report._wall_section({"cells": _synthetic()["cells"]}), [])

    def test_wall_cells_leave_the_other_plots_to_their_own(self):
        result = _wall_result()
        self.assertEqual(report._series(result), {})
        if shutil.which("gnuplot"):
            with tempfile.TemporaryDirectory() as tmp:
                self.assertEqual(report.draw(result, tmp), ["bench-cpu.png", "bench-wall.png"])
                self.assertGreater(os.path.getsize(os.path.join(tmp, "bench-wall.png")), 1000)
class RpcCells(unittest.TestCase):
    """The msgpack-rpc cells: what ioload is told, which servers run, how the doc names them."""

    def test_rpc_cells_pass_method_and_argument_to_ioload(self):
        echo = measure.ioload_argv({"ioload": "ioload"}, compare._rpc("echo"), 8080, 100, 1.0, 0.2)
        self.assertEqual(echo[echo.index("-p") + 1], "rpc")
        self.assertEqual(echo[echo.index("--rpc-method") + 1], "echo")
        self.assertEqual(echo[echo.index("-s") + 1], "64")
        self.assertEqual(echo[echo.index("--depth") + 1], str(compare.RPC_DEPTH))
        self.assertNotIn("--rpc-sleep-ms", echo)
        sleep = measure.ioload_argv({"ioload": "ioload"}, compare._rpc("sleep"), 8080, 100, 1.0, 0.2)
        self.assertEqual(sleep[sleep.index("--rpc-method") + 1], "sleep")
        self.assertEqual(sleep[sleep.index("--rpc-sleep-ms") + 1], "0")
        self.assertNotIn("-s", sleep)

    def test_rpc_cells_compare_ioserve_backends_only(self):
        for method in ("echo", "sleep"):
            chosen = compare._servers_for(compare.servers.SERVERS, compare._rpc(method))
            self.assertEqual([s.name for s in chosen], compare.RPC_SERVERS)
            for server in chosen:
                argv = server.build_cmd({"ioserve": "ioserve"}, "rpc", 8080, 100, "/tmp")
                self.assertEqual(argv[argv.index("--protocol") + 1], "rpc")
        quick = [w["id"] for w, _, _ in compare.workloads("quick")]
        self.assertIn("rpc-echo", quick)
        self.assertIn("rpc-sleep", quick)
        self.assertEqual(compare.pick_cells("rpc-sleep:100")[0][0]["id"], "rpc-sleep")

    def test_rpc_cells_are_described(self):
        self.assertIn("inline on the loop", report._describe(compare._rpc("echo")))
        self.assertIn("sleep(0) on the worker pool", report._describe(compare._rpc("sleep")))


RESPONSE = re.compile(rb"HTTP/1\.1 200 OK\r\n.*?\r\n\r\nHello, World!", re.S)


class FloorServer:
    """A floor server must be honest: split heads, pipelining, echo, EOF.  Mixed into one
    TestCase per floor, each naming its binary."""

    binary = None

    def setUp(self):
        self.exe = os.path.join(BUILD_ROOT, "bench", "baselines", self.binary)
        self.procs = []

    def tearDown(self):
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=5)

    def start(self, protocol):
        proc = subprocess.Popen([self.exe, "--listen", "127.0.0.1:0", "--protocol", protocol],
                                stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        line = proc.stderr.readline()
        port = int(re.search(r":(\d+) \(", line).group(1))
        conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.addCleanup(conn.close)
        return conn

    @staticmethod
    def read_responses(conn, count):
        data, deadline = b"", time.monotonic() + 5
        while len(RESPONSE.findall(data)) < count and time.monotonic() < deadline:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def test_split_head_answered_once_when_complete(self):
        conn = self.start("http")
        conn.sendall(b"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r")
        conn.settimeout(0.3)
        with self.assertRaises(socket.timeout):
            conn.recv(1)
        conn.settimeout(5)
        conn.sendall(b"\n")
        self.assertEqual(len(RESPONSE.findall(self.read_responses(conn, 1))), 1)

    def test_pipelined_heads_answered_in_one_go(self):
        conn = self.start("http")
        conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 16 + b"GET / HTTP/1.1\r\n")
        data = self.read_responses(conn, 16)
        self.assertEqual(len(RESPONSE.findall(data)), 16)
        conn.sendall(b"Host: x\r\n\r\n")
        self.assertEqual(len(RESPONSE.findall(self.read_responses(conn, 1))), 1)

    def test_echo_and_close_on_eof(self):
        conn = self.start("echo")
        payload = bytes(range(256)) * 512       # 128 KiB: more than one read, maybe short sends
        conn.sendall(payload)
        got = b""
        while len(got) < len(payload):
            chunk = conn.recv(65536)
            self.assertTrue(chunk, "closed early after %d bytes" % len(got))
            got += chunk
        self.assertEqual(got, payload)
        conn.shutdown(socket.SHUT_WR)
        self.assertEqual(conn.recv(1), b"")

    def test_etx_refused(self):
        proc = subprocess.run([self.exe, "--listen", "127.0.0.1:0", "--protocol", "etx"],
                              stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(proc.returncode, 2)


class BaselineEpoll(FloorServer, unittest.TestCase):
    binary = "baseline-epoll"


class BaselineUring(FloorServer, unittest.TestCase):
    binary = "baseline-uring"


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
