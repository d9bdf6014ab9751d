#!/usr/bin/python3
"""hostile_workers.py - one ETX client floods the worker pool; the others must not wait for it.

usage: hostile_workers.py IOSERVE_PATH uring|epoll-lt|epoll-et

ioserve --protocol etx --ack-mode worker --ack-delay-ms 200, one loop (issue 11, item 3):
  - fairness: an attacker sends 64 Ki empty messages in one burst (64 KiB on the wire, each
    one a 200 ms job); other clients, one after another, each get their ack within PROBE_MAX_S
    while the attacker's backlog is still there (it keeps getting acks too), and the server's
    peak RSS grows by far less than 64 Ki jobs would take (the messages past the per-connection
    cap are only counted);
  - shutdown: SIGTERM with --shutdown-timeout-ms 1000 during that attack ends the process
    within the timeout (plus a margin), not after the backlog; so it does with a 30 s ack delay
    running on a worker: the connection's cancel token ends the job's sleep;
  - withdrawal: with --max-conns 1 and one worker, the attacker resets its connection; its
    queued jobs are withdrawn, so the slot is free at once and a new client is acked within
    PROBE_MAX_S (before, the jobs held the closed connection for minutes).
Every wait is bounded; the first failure ends the run with exit status 1.
"""
import os
import signal
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import http_tools  # noqa: E402 -- beside this script
from http_tools import check  # noqa: E402
import server_watch  # noqa: E402

BURST = 64 * 1024
DELAY_MS = 200
PROBE_MAX_S = 1.0
PROBES = 5
SHUTDOWN_MS = 1000
SHUTDOWN_MARGIN_S = 0.6     # the loop's own exit on a busy machine
LONG_DELAY_MS = 30000
JOB_BYTES = 96              # what one queued ack job costs the server, at least
WORKER_ARGS = ["--protocol", "etx", "--ack-mode", "worker", "--ack-delay-ms", str(DELAY_MS),
               "--threads", "1"]


def peak_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for pid %d" % pid)


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_acks(s, count, timeout):
    """count acks ("ack" each) within timeout seconds; b'' on EOF."""
    want = b"ack" * count
    got = b""
    deadline = time.monotonic() + timeout
    while len(got) < len(want):
        left = deadline - time.monotonic()
        check(left > 0, "%d acks within %.1f s (got %r)" % (count, timeout, got[:32]))
        s.settimeout(left)
        try:
            chunk = s.recv(len(want) - len(got))
        except socket.timeout:
            chunk = None
        check(chunk is not None, "%d acks within %.1f s (got %r)" % (count, timeout, got[:32]))
        if not chunk:
            return got
        got += chunk
    check(got == want, "the acks are whole: %r" % got[:32])
    return got


def probe(port, what):
    """A well-behaved client's one message, acked within PROBE_MAX_S; returns the wait."""
    s = connect(port)
    start = time.monotonic()
    s.sendall(b"probe\x03")
    read_acks(s, 1, PROBE_MAX_S + 5)
    took = time.monotonic() - start
    check(took < PROBE_MAX_S, "%s: the probe waited %.3f s for its ack" % (what, took))
    s.sendall(b"goodbye\x03")
    s.close()
    return took


def flood(port):
    """The attacker: 64 Ki empty messages in one burst."""
    a = connect(port)
    a.sendall(b"\x03" * BURST)
    return a


def expect_prompt_exit(proc, what):
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=SHUTDOWN_MS / 1000 + 10)
    except Exception:  # noqa: BLE001 -- reported below
        pass
    took = time.monotonic() - start
    print("%s: exit %.3f s after SIGTERM (--shutdown-timeout-ms %d)" % (what, took, SHUTDOWN_MS), flush=True)
    check(proc.returncode == 0, "ioserve exited %s" % proc.returncode)
    check(took < SHUTDOWN_MS / 1000 + SHUTDOWN_MARGIN_S, "%s: shutdown took %.3f s" % (what, took))


def test_fairness_and_shutdown(path, backend):
    proc, port = http_tools.start_ioserve(path, backend, WORKER_ARGS +
                                          ["--shutdown-timeout-ms", str(SHUTDOWN_MS)],
                                          server_watch.sanitizer_env())
    try:
        probe(port, "before")
        base = peak_rss_kib(proc.pid)
        attacker = flood(port)
        slowest = max(probe(port, "attack, probe %d" % i) for i in range(PROBES))
        read_acks(attacker, 4, 5)  # served too, not closed
        growth = peak_rss_kib(proc.pid) - base
        print("fairness: the probes' slowest ack %.3f s; peak RSS growth %d KiB" % (slowest, growth),
              flush=True)
        check(growth * 1024 < BURST * JOB_BYTES // 4,
              "the backlog is bounded: RSS grew %d KiB for %d messages" % (growth, BURST))
        expect_prompt_exit(proc, "shutdown during the flood")
        attacker.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def server_unread(port, client_port):
    """Bytes the server's end of a connection has received and not read (/proc/net/tcp)."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local, remote = fields[1], fields[2]
            if int(local.split(":")[1], 16) == port and int(remote.split(":")[1], 16) == client_port:
                return int(fields[4].split(":")[1], 16)
    return None


def read_by_server(port, s, timeout):
    """Wait until the server has read all s sent: its job is submitted by then."""
    client_port = s.getsockname()[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server_unread(port, client_port) == 0:
            return True
        time.sleep(0.01)  # polling an observable condition, bounded by timeout
    return False


def test_long_job_shutdown(path, backend):
    args = [a if a != str(DELAY_MS) else str(LONG_DELAY_MS) for a in WORKER_ARGS]
    proc, port = http_tools.start_ioserve(path, backend, args + ["--shutdown-timeout-ms", str(SHUTDOWN_MS)])
    try:
        s = connect(port)
        s.sendall(b"slow\x03")
        check(read_by_server(port, s, 5), "the server read the message")
        expect_prompt_exit(proc, "shutdown with a %d ms job running" % LONG_DELAY_MS)
        s.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def acked_after_reset(port, deadline):
    """A new client acked once the slot is free: the server closes refused ones at once."""
    while time.monotonic() < deadline:
        s = connect(port)
        try:
            s.sendall(b"probe\x03")
            if read_acks(s, 1, deadline - time.monotonic()):
                s.close()
                return True
        except (ConnectionResetError, BrokenPipeError):
            pass  # refused: the server closed it on arrival, maybe before our bytes
        s.close()
    return False


def test_withdrawal(path, backend):
    proc, port = http_tools.start_ioserve(path, backend, WORKER_ARGS + ["--workers", "1", "--max-conns", "1"],
                                          server_watch.sanitizer_env())
    try:
        attacker = flood(port)
        read_acks(attacker, 1, 5)  # its jobs are queued and running
        start = time.monotonic()
        reset(attacker)
        check(acked_after_reset(port, start + PROBE_MAX_S + DELAY_MS / 1000),
              "a new client acked within %.1f s of the attacker's reset" % PROBE_MAX_S)
        print("withdrawal: a new client acked %.3f s after the reset" % (time.monotonic() - start), flush=True)
        server_watch.stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in http_tools.BACKENDS:
        print(__doc__)
        return 2
    test_fairness_and_shutdown(sys.argv[1], sys.argv[2])
    test_withdrawal(sys.argv[1], sys.argv[2])
    test_long_job_shutdown(sys.argv[1], sys.argv[2])
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
