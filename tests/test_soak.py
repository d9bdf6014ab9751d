#!/usr/bin/python3
"""test_soak.py - bench/soak (make soak): its verdict on synthetic samples, its clients against a
server that answers wrongly, and a short real soak of every backend side by side.

Usage: test_soak.py SOURCE_ROOT BUILD_ROOT
"""

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_ROOT, BUILD_ROOT = sys.argv[1], sys.argv[2]
SOAK = os.path.join(SOURCE_ROOT, "bench", "soak")
sys.path.insert(0, SOAK)

import backend      # noqa: E402
import client_etx   # noqa: E402
import client_static  # noqa: E402
import docroot      # noqa: E402
import verdict      # noqa: E402
from server_proc import Server  # noqa: E402
from tally import Tally  # noqa: E402

IOSERVE = os.path.join(BUILD_ROOT, "src", "ioserve")


def samples(values, key="rss_kb"):
    return [{"t": float(t), key: v} for t, v in enumerate(values)]


class Verdict(unittest.TestCase):
    def test_flat_passes_and_growth_fails(self):
        flat = verdict.growth(samples([1000] * 100), "rss_kb", 20, 100)
        self.assertTrue(flat["judged"])
        self.assertEqual(flat["growth"], 0.0)
        rising = verdict.growth(samples([1000 + 2 * t for t in range(100)]), "rss_kb", 20, 100)
        self.assertGreater(rising["growth"], verdict.GROWTH_LIMIT)

    def test_warm_up_and_one_busy_second_are_not_growth(self):
        values = [100 + t for t in range(20)] + [500] * 80  # climbs only while warming up
        values[90] = 900                                    # one spike near the end
        g = verdict.growth(samples(values), "rss_kb", 20, 100)
        self.assertEqual(g["growth"], 0.0)

    def test_descriptors_held_by_the_load_are_not_growth_a_leak_is(self):
        # 60 judged seconds: the load holds 0 to 2 connections beyond the server's own 20.
        held = [20 + (t * 7) % 3 for t in range(60)]
        held[:6] = [20, 20, 20, 21, 20, 20]                 # quiet first seconds,
        held[-6:] = [22, 21, 22, 20, 22, 21]                # busier last ones: their median is +7.5 %
        self.assertEqual(verdict.growth(samples(held, "fds"), "fds", 0, 60)["growth"], 0.0)
        leaking = [20 + t // 10 + (t * 7) % 3 for t in range(60)]  # one descriptor more every 10 s
        self.assertGreater(verdict.growth(samples(leaking, "fds"), "fds", 0, 60)["growth"], verdict.GROWTH_LIMIT)
        # The load's last second, its connections closing, is not the level the leak reached.
        leaking[-1] = 12
        self.assertGreater(verdict.growth(samples(leaking, "fds"), "fds", 0, 59.5)["growth"], verdict.GROWTH_LIMIT)

    def test_too_few_samples_are_not_judged(self):
        self.assertFalse(verdict.growth(samples([1, 2, 3], "fds"), "fds", 0, 100)["judged"])

    def test_unreleased_descriptors(self):
        pipes = {fd: "pipe:[%d]" % fd for fd in range(10, 10 + 2 * verdict.CARRIER_PIPES_KEPT)}
        self.assertEqual(verdict.unreleased(pipes, 1), {})
        over = {**pipes, 99: "pipe:[99]", 100: "pipe:[100]"}
        self.assertEqual(len(verdict.unreleased(over, 1)), len(over))
        self.assertEqual(verdict.unreleased(over, 2), {})
        sock = {7: "tcp CLOSE_WAIT 8080->5000"}
        self.assertEqual(verdict.unreleased({**pipes, **sock}, 1), sock)

    def test_judge_names_each_reason(self):
        result = {
            "traffic": {"static": {"answered": 5, "failed": 1, "reasons": ["GET /a: bytes differ"]},
                        "etx": {"answered": 0, "failed": 0, "reasons": []}},
            "servers": {"http": {"figures": {"rss_kb": {"judged": True, "growth": 0.2, "first": 10, "last": 12},
                                             "fds": {"judged": True, "growth": 0.0, "first": 9, "last": 9}},
                                 "left_open": {8: "tcp ESTABLISHED 1->2"}, "loops": 2,
                                 "died_at": 30.0, "stop": {"exit": -9, "messages": []}}},
        }
        text = "\n".join(verdict.judge(result))
        for expected in ("static: 1 failed", "bytes differ", "etx: nothing answered", "rss_kb grew 20.0 %",
                         "1 x tcp ESTABLISHED", "exited during the run", "exit status -9"):
            self.assertIn(expected, text)


class Ctx(backend.Ctx):
    def __init__(self, site, ports, etx_ack):
        super().__init__(seed=1, seconds=10, site=site, ports=ports, etx_ack=etx_ack)
        self.io_timeout = 5.0


class ClientsCatchWrongAnswers(unittest.TestCase):
    """The soak's clients must fail when the server's bytes differ from what they expect."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="test-soak-")
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, *flags):
        s = Server.start("s%d" % len(self.servers), [IOSERVE, "--threads", "1"] + list(flags), self.dir)
        self.servers.append(s)
        return s

    async def drive(self, run, ctx, seconds):
        tally = Tally("t")
        task = asyncio.ensure_future(run(ctx, tally))
        await asyncio.sleep(seconds)
        ctx.stop.set()
        await asyncio.wait_for(task, 30)
        return tally

    def test_static_client_sees_a_changed_file(self):
        site = docroot.make_site(os.path.join(self.dir, "root"), 1)
        http = self.start("--root", site.root)
        ok = asyncio.run(self.drive(client_static.run, Ctx(site, {"http": http.port}, b"ack"), 2.0))
        self.assertGreater(ok.answered, 0)
        self.assertEqual(ok.failed, 0, ok.reasons)
        for path, data in site.files.items():  # same sizes, one byte flipped: only a byte check sees it
            if data:
                with open(os.path.join(site.root, path.lstrip("/")), "r+b") as f:
                    f.write(bytes([data[0] ^ 0xff]))
        bad = asyncio.run(self.drive(client_static.run, Ctx(site, {"http": http.port}, b"ack"), 2.0))
        self.assertGreater(bad.failed, 0)

    def test_etx_client_sees_a_wrong_ack(self):
        etx = self.start("--protocol", "etx")
        ack = asyncio.run(client_etx.detect_ack(etx.port, 5.0))
        self.assertIn(ack, client_etx.ACK_FORMS)
        ok = asyncio.run(self.drive(client_etx.run, Ctx(None, {"etx": etx.port}, ack), 1.0))
        self.assertGreater(ok.answered, 0)
        self.assertEqual(ok.failed, 0, ok.reasons)
        other = [a for a in client_etx.ACK_FORMS if a != ack][0]
        bad = asyncio.run(self.drive(client_etx.run, Ctx(None, {"etx": etx.port}, other), 1.0))
        self.assertGreater(bad.failed, 0)


class ShortSoak(unittest.TestCase):
    def test_every_backend_side_by_side(self):
        with tempfile.TemporaryDirectory(prefix="test-soak-") as tmp:
            out = os.path.join(tmp, "soak.json")
            proc = subprocess.run(["/usr/bin/python3", os.path.join(SOAK, "soak.py"), "--build", BUILD_ROOT,
                                   "--seconds", "8", "--json", out],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=200)
            self.assertEqual(proc.returncode, 0, proc.stdout)
            with open(out) as f:
                result = json.load(f)
        self.assertEqual([r["backend"] for r in result["backends"]], list(backend.BACKENDS))
        for r in result["backends"]:
            self.assertTrue(r["passed"])
            for kind in list(backend.CLIENTS) + ["prime", "http-keepalive", "etx-ioload"]:
                self.assertGreater(r["traffic"][kind]["answered"], 0, (r["backend"], kind))
            for sv in r["servers"].values():
                self.assertGreaterEqual(len(sv["samples"]), 5)
                self.assertEqual(sv["stop"]["exit"], 0)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
