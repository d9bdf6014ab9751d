#!/usr/bin/python3
"""hostile.py - clients that send and never read, against the real binary, on one backend.

usage: hostile.py IOSERVE_PATH uring|epoll-lt|epoll-et|poll|select

Each server runs one loop (--threads 1): the attackers and the bystander share it.  Rows (issue 11):
  - files: one client pipelines GET /a.txt (a static file, --root) and never reads.  The server
    holds a handful of fds (CONN_MAX_FILES open files at most, not one per request queued);
  - plaintext: 20 clients pipeline GET /plaintext and never read.  The server's RSS grows by
    less than twice the output watermark per connection (at its largest after each attacker's
    turn; from after a warm-up that makes the loop's fixed caches resident: every receive buffer
    of its pool, 16 MiB, and its cache of output chunks, 4 MiB): the watermark stops the output,
    and input stops there too, on io_uring as on epoll;
  - etx: with --ack-mode worker, one client bursts 128 Ki empty messages and never reads.  The
    worker jobs it makes stay under ETX_MAX_PENDING (its peak RSS grows by under 2 MiB, where
    one job per message cost 12 MiB), and a second client bursting past that cap and reading
    gets every ack.
In every row the attack runs until each attacker's sends stall or ATTACK_S passes (every
loop bounded in count and time), a fresh client is served within PROBE_MAX_S throughout
(after each attacker's turn), and HTTP attackers, once they half-close and read, get one whole
response per request they sent: the budgets delay input, they lose none.
"""
import os
import select
import shutil
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_tools  # noqa: E402 -- beside this script
from http_tools import check  # noqa: E402
from server_watch import fd_count, rss_kib, sanitized, sanitizer_env, stop  # noqa: E402

KIB = 1024
MIB = 1024 * KIB
WATERMARK = 256 * KIB     # CONN_DEFAULT_HIGH_WATERMARK
MAX_FILES = 4             # CONN_MAX_FILES
POOL_BYTES = 1024 * 16 * KIB  # the loop's receive buffers: IO_DEFAULT_BUF_COUNT x IO_DEFAULT_BUF_SIZE
ASAN_PADDING = 1.5        # AddressSanitizer's redzones and size classes on the same blocks
PROBE_MAX_S = 1.0
ATTACK_S = 4.0            # how long an attack may go on before it is judged
STALL_S = 0.5             # an attacker whose socket takes nothing for this long has stalled
ATTACKER_SNDBUF = 64 * KIB  # keeps what the kernels hold (and the read-back) small
IO_TIMEOUT_S = 10


def connect(port, sndbuf=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    if sndbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    return s


class Attacker:
    """Sends one request (or message) over and over, never reading, until the server stops
    taking them."""

    def __init__(self, port, unit):
        self.s = connect(port, ATTACKER_SNDBUF)
        self.s.setblocking(False)
        self.block = unit * (64 * KIB // len(unit))
        self.unit_len = len(unit)
        self.sent = 0
        self.last_progress = time.monotonic()

    def push(self):
        """One non-blocking send; False once the socket has taken nothing for STALL_S."""
        try:
            off = self.sent % len(self.block)
            self.sent += self.s.send(self.block[off:])
            self.last_progress = time.monotonic()
        except BlockingIOError:
            pass
        return time.monotonic() - self.last_progress < STALL_S

    def units_sent(self):
        return self.sent // self.unit_len


def attack(proc, attackers, on_sample=None):
    """Push every attacker until all stalled or ATTACK_S passed; on_sample(proc) runs between
    rounds.  Returns whether they all stalled."""
    deadline = time.monotonic() + ATTACK_S
    live = list(attackers)
    while live and time.monotonic() < deadline:
        live = [a for a in live if a.push()]
        if on_sample:
            on_sample(proc)
        if live:
            select.select([], [a.s for a in live], [], 0.05)
    return not live


def http_probe(port, target, what):
    """A fresh client's GET, answered whole within PROBE_MAX_S."""
    start = time.monotonic()
    s = connect(port)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n" % target.encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
        check(time.monotonic() - start < PROBE_MAX_S + 1, "%s: the probe is still reading" % what)
    s.close()
    took = time.monotonic() - start
    check(data.startswith(b"HTTP/1.1 200 "), "%s: the probe got %r" % (what, data[:80]))
    check(took < PROBE_MAX_S, "%s: the probe waited %.3f s" % (what, took))
    return took


def read_back(a, status_line, what):
    """Half-close, then read to EOF: one response per whole request sent, none lost."""
    a.s.setblocking(True)
    a.s.settimeout(IO_TIMEOUT_S)
    a.s.shutdown(socket.SHUT_WR)
    count, tail = 0, b""
    while True:
        chunk = a.s.recv(1 << 20)
        if not chunk:
            break
        data = tail + chunk
        count += data.count(status_line)
        tail = data[-(len(status_line) - 1):]
    a.s.close()
    want = a.units_sent()
    check(count == want, "%s: %d responses to %d requests" % (what, count, want))
    return count


def make_root():
    root = tempfile.mkdtemp(prefix="ioserve-hostile-")
    with open(os.path.join(root, "a.txt"), "w") as f:
        f.write("a small static file\n")
    return root


def test_files(path, backend):
    root = make_root()
    proc, port = http_tools.start_ioserve(path, backend, ["--threads", "1", "--root", root],
                                          sanitizer_env())
    try:
        http_probe(port, "/a.txt", "files, before")
        base = fd_count(proc.pid)
        peak = [base]
        a = Attacker(port, b"GET /a.txt HTTP/1.1\r\nHost: h\r\n\r\n")

        def sample(p):
            peak[0] = max(peak[0], fd_count(p.pid))
        stalled = attack(proc, [a], sample)
        held = peak[0] - base
        took = http_probe(port, "/a.txt", "files, under attack")
        print("files: %d requests sent (%s), server fds %d over its %d at rest at the peak; "
              "a fresh client served in %.3f s"
              % (a.units_sent(), "stalled" if stalled else "still taking", held, base, took),
              flush=True)
        # The attacker's socket, MAX_FILES queued, one being opened.
        check(held <= 1 + MAX_FILES + 1, "files: %d fds held by one client" % held)
        n = read_back(a, b"HTTP/1.1 200 OK", "files")
        print("files: all %d responses read back" % n, flush=True)
        http_probe(port, "/a.txt", "files, after")
    finally:
        stop(proc)
        shutil.rmtree(root)


def warm_pool(port):
    """Echo bodies through one connection until more than the loop's pool of receive buffers
    has been filled: the kernel picks them in turn, so each becomes resident here, not during
    the attack, and so does the loop's cache of output chunks (both the loop's, fixed, not a
    connection's)."""
    body = b"w" * 1000000
    s = connect(port)
    for _ in range(POOL_BYTES // len(body) + 4):
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while not data.endswith(body):
            chunk = s.recv(1 << 20)
            check(chunk, "warm-up: the echo ended early")
            data += chunk
    s.close()


def test_plaintext(path, backend):
    clients = 20
    proc, port = http_tools.start_ioserve(path, backend, ["--threads", "1"], sanitizer_env())
    try:
        warm_pool(port)
        http_probe(port, "/plaintext", "plaintext, before")
        base = rss_kib(proc.pid)
        peak = base
        attackers = []
        for i in range(clients):
            attackers.append(Attacker(port, b"GET /plaintext HTTP/1.1\r\nHost: h\r\n\r\n"))
            attack(proc, attackers[-1:])
            http_probe(port, "/plaintext", "plaintext, after attacker %d" % i)
            peak = max(peak, rss_kib(proc.pid))
        stalled = attack(proc, attackers)
        took = http_probe(port, "/plaintext", "plaintext, under attack")
        growth = max(peak, rss_kib(proc.pid)) - base
        per_conn = growth * KIB // clients
        print("plaintext: %d clients sent %d requests (%s); RSS growth %d KiB, %d KiB per "
              "connection; a fresh client served in %.3f s"
              % (clients, sum(a.units_sent() for a in attackers),
                 "all stalled" if stalled else "some still taking", growth, per_conn // KIB, took),
              flush=True)
        bound = 2 * WATERMARK * (ASAN_PADDING if sanitized(proc.pid) else 1)
        check(per_conn < bound, "plaintext: %d KiB per connection, over %d KiB"
              % (per_conn // KIB, bound // KIB))
        # The first and the last read everything back (the rest close unread: reading 20 times
        # what the kernels hold would only cost time).
        total = sum(read_back(a, b"HTTP/1.1 200 OK", "plaintext attacker %d" % i)
                    for i, a in [(0, attackers[0]), (clients - 1, attackers[-1])])
        for a in attackers[1:-1]:
            a.s.close()
        print("plaintext: attackers 0 and %d: all %d responses read back" % (clients - 1, total),
              flush=True)
        http_probe(port, "/plaintext", "plaintext, after")
    finally:
        stop(proc)


def etx_round_trip(port, messages, what):
    """A client sends messages empty messages at once and reads every ack, within the time
    the workers need; returns the seconds it took."""
    start = time.monotonic()
    s = connect(port)
    s.sendall(b"\x03" * messages)
    want = 3 * messages
    got = 0
    while got < want:
        chunk = s.recv(65536)
        check(chunk, "%s: closed after %d of %d ack bytes" % (what, got, want))
        check(chunk == b"ack" * (len(chunk) // 3) or got % 3, "%s: not acks: %r" % (what, chunk[:12]))
        got += len(chunk)
    s.close()
    check(got == want, "%s: %d ack bytes, %d owed" % (what, got, want))
    return time.monotonic() - start


def test_etx(path, backend):
    burst = 128 * KIB
    args = ["--threads", "1", "--protocol", "etx", "--ack-mode", "worker", "--ack-delay-ms", "1",
            "--workers", "8"]
    proc, port = http_tools.start_ioserve(path, backend, args, sanitizer_env())
    try:
        etx_round_trip(port, 8, "etx, before")
        base = rss_kib(proc.pid)
        a = Attacker(port, b"\x03")
        a.block = b"\x03" * burst  # one burst, then nothing
        a.s.setblocking(True)
        a.s.settimeout(IO_TIMEOUT_S)
        a.s.sendall(a.block)
        a.sent = burst
        took = etx_round_trip(port, 1, "etx, beside the burst")
        check(took < PROBE_MAX_S, "etx: the bystander's ack took %.3f s" % took)
        growth = rss_kib(proc.pid, "VmHWM") - base
        print("etx: a burst of %d messages; peak RSS growth %d KiB; the bystander acked in %.3f s"
              % (burst, growth, took), flush=True)
        check(growth < 2 * MIB // KIB, "etx: RSS grew %d KiB under one burst" % growth)
        # Past the cap and reading: the unread rest of each slice is answered, in full.
        took = etx_round_trip(port, 3000, "etx, 3000 at once")
        print("etx: 3000 messages at once, all acked in %.3f s" % took, flush=True)
        a.s.close()
    finally:
        stop(proc)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in http_tools.BACKENDS:
        print(__doc__)
        return 2
    test_files(sys.argv[1], sys.argv[2])
    test_plaintext(sys.argv[1], sys.argv[2])
    test_etx(sys.argv[1], sys.argv[2])
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
