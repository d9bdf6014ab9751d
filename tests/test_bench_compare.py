#!/usr/bin/python3
"""test_bench_compare.py - bench/compare/compare.py in its dry mode: one cell, two servers.

Runs the real pipeline (servers pinned and started, ioload, /proc accounting, strace when
installed) for about two seconds and checks the results JSON has every field the report reads,
with sane values: three runs per server, medians inside [min, max], positive req/s and CPU.
Usage: test_bench_compare.py SOURCE_ROOT BUILD_ROOT
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_ROOT, BUILD_ROOT = sys.argv[1], sys.argv[2]


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


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
