#!/usr/bin/python3
"""rpc_client.py - ioserve's msgpack-rpc checked by an independent client (Debian's
python3-msgpack), against the real binary on one backend per run.

usage: rpc_client.py IOSERVE_PATH uring|epoll-lt|epoll-et|poll|select

  - out of order: sleep(300) then echo("x") on one connection, the echo arrives first;
  - the pool: 50 sleep(200) on one connection with 10 workers take about 200 ms x 5, far less
    than one after another;
  - every method's answers, and the errors: unknown method, wrong params, a method name that is
    not a string, params that are not an array; a notification gets no response;
  - what closes the connection (with a note on stderr) while another client is served: bytes
    that are not msgpack, a message over --rpc-max-message, a header announcing more than the
    limit, a message that is not a request;
  - the cap on calls in flight (--rpc-max-inflight): the request after it waits for a slot;
  - two loops (--threads 2 --accept dispatch): each job comes back to its connection's loop;
  - split reads: requests sent a byte at a time and in random slices, a 512 KiB sha256;
  - a reset connection's sleeping jobs are cut short (the workers are free at once), EOF
    answers what is in flight, and SIGTERM exits in time with a long sleep in flight.
Each step is bounded in time; the first failure ends the run with exit status 1.
"""
import hashlib
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import time

import msgpack

from backends import BACKENDS

IO_TIMEOUT_S = 5
WORKERS = 10
MAX_MESSAGE = 1 << 20


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Server:
    def __init__(self, path, backend, *extra):
        argv = [path, "--listen", "127.0.0.1:0", "--protocol", "rpc", "--threads", "1",
                "--workers", str(WORKERS)] + BACKENDS[backend] + list(extra)
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        self.port = None
        deadline = time.monotonic() + IO_TIMEOUT_S
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            m = re.search(r"rpc on 127\.0\.0\.1:(\d+), backend", line)
            if m:
                self.port = int(m.group(1))
                return
        self.proc.kill()
        fail("ioserve did not start")

    def connect(self):
        return Client(socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT_S))

    def stop(self, sig=signal.SIGTERM, timeout=IO_TIMEOUT_S):
        """Signal it; its exit status and the rest of its stderr."""
        self.proc.send_signal(sig)
        try:
            err = self.proc.communicate(timeout=timeout)[1]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            fail("ioserve did not exit within %s s of signal %d" % (timeout, sig))
        return self.proc.returncode, err


class Client:
    def __init__(self, sock):
        self.sock = sock
        self.unpacker = msgpack.Unpacker(raw=False)

    def send(self, *messages):
        self.sock.sendall(b"".join(msgpack.packb(m) for m in messages))

    def recv(self, timeout=IO_TIMEOUT_S):
        """The next message from the server, or None at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.unpacker:
                return m
            left = deadline - time.monotonic()
            check(left > 0, "no answer within %s s" % timeout)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                fail("no answer within %s s" % timeout)
            if not data:
                return None
            self.unpacker.feed(data)

    def call(self, msgid, method, params):
        self.send([0, msgid, method, params])
        m = self.recv()
        check(m is not None and m[:2] == [1, msgid], "answer to %d: %r" % (msgid, m))
        return m[2], m[3]

    def expect_closed(self, what):
        """The server closes the connection: EOF (or a reset) without any answer."""
        try:
            m = self.recv()
        except ConnectionResetError:
            m = None
        check(m is None, "%s: expected the connection closed, got %r" % (what, m))

    def close(self):
        self.sock.close()


# ---- the steps ----

def out_of_order(srv):
    c = srv.connect()
    start = time.monotonic()
    c.send([0, 1, "sleep", [300]], [0, 2, "echo", ["x"]])
    first = c.recv()
    echo_ms = (time.monotonic() - start) * 1000
    second = c.recv()
    sleep_ms = (time.monotonic() - start) * 1000
    check(first == [1, 2, None, "x"], "echo first, got %r" % first)
    check(second == [1, 1, None, None], "then sleep, got %r" % second)
    check(sleep_ms >= 295, "sleep(300) answered after %.0f ms" % sleep_ms)
    c.close()
    print("out of order: echo after %.0f ms, sleep(300) after %.0f ms" % (echo_ms, sleep_ms))


def worker_pool(srv):
    calls, ms = 50, 200
    rounds = -(-calls // WORKERS)
    c = srv.connect()
    start = time.monotonic()
    c.send(*[[0, 100 + i, "sleep", [ms]] for i in range(calls)])
    ids = set()
    for _ in range(calls):
        m = c.recv()
        check(m is not None and m[0] == 1 and m[2] is None, "sleep answer %r" % m)
        ids.add(m[1])
    took = (time.monotonic() - start) * 1000
    check(ids == set(range(100, 100 + calls)), "each msgid answered once")
    # One after another would take calls x ms (10 s); with half the workers, twice the rounds.
    check(took >= rounds * ms * 0.95, "%d sleeps in %.0f ms: faster than the workers allow" % (calls, took))
    check(took < 2 * rounds * ms, "%d sleeps in %.0f ms: not %d at a time" % (calls, took, WORKERS))
    c.close()
    print("worker pool: %d x sleep(%d) on %d workers in %.0f ms (ideal %d ms, serial %d ms)"
          % (calls, ms, WORKERS, took, rounds * ms, calls * ms))


def methods_and_errors(srv):
    c = srv.connect()
    blob = os.urandom(100000)
    check(c.call(1, "echo", [{"a": [1, 2.5, None, True, b"\x00\xff"]}]) ==
          (None, {"a": [1, 2.5, None, True, b"\x00\xff"]}), "echo of a structure")
    check(c.call(2, "add", [2, 40]) == (None, 42), "add")
    check(c.call(3, "add", [-5, 3]) == (None, -2), "add with a negative")
    check(c.call(4, "sha256", [blob]) == (None, hashlib.sha256(blob).digest()), "sha256 of bin")
    check(c.call(5, "sha256", ["abc"]) == (None, hashlib.sha256(b"abc").digest()), "sha256 of str")
    wrong = [
        (10, "nope", [], "unknown method 'nope'"),
        (11, "echo", [], "echo takes 1 argument"),
        (12, "add", [1, "2"], "add takes 2 integers"),
        (13, "add", [2 ** 64 - 1, 1], "overflows"),
        (14, "sleep", [-1], "sleep takes 1 integer"),
        (15, "sleep", [60001], "sleep takes 1 integer"),
        (16, "sha256", [1], "sha256 takes 1 bin or str"),
        (17, 5, [], "method name must be a string"),
        (18, "echo", "x", "params must be an array"),
    ]
    for msgid, method, params, says in wrong:
        error, result = c.call(msgid, method, params)
        check(isinstance(error, str) and says in error and result is None,
              "%s%r: expected an error saying '%s', got %r" % (method, params, says, (error, result)))
    # Notifications, good or bad, get no response: the next message is the request's.
    c.send([2, "echo", ["n"]], [2, "nope", []], [2, "sleep", [10]], [0, 20, "echo", ["after"]])
    check(c.recv() == [1, 20, None, "after"], "no response to notifications")
    c.close()
    print("methods and errors: %d error answers, notifications unanswered" % len(wrong))


def closes_on(srv, what, payload, says, answered=None):
    """payload closes the connection with a note saying `says` (after the answer to a good
    request before the bad bytes, when given), while another client is served."""
    other = srv.connect()
    other.send([0, 1, "sleep", [200]])
    bad = srv.connect()
    bad.sock.sendall(payload)
    if answered:
        check(bad.recv() == answered, "%s: the request before it was not answered" % what)
    bad.expect_closed(what)
    bad.close()
    check(other.recv() == [1, 1, None, None], "%s: the other client was not served" % what)
    check(other.call(2, "echo", ["still here"]) == (None, "still here"), what)
    other.close()
    return says


def hostile_input(srv, path, backend):
    limit = 4096
    s = Server(path, backend, "--rpc-max-message", str(limit))
    notes = [
        closes_on(s, "not msgpack", msgpack.packb([0, 1, "echo", ["x"]]) + b"\xc1", "not msgpack",
                  answered=[1, 1, None, "x"]),
        closes_on(s, "over the limit", msgpack.packb([0, 1, "echo", ["y" * limit]]),
                  "a message over %d bytes" % limit),
        # Five bytes announcing 2^31 elements: refused from the header, nothing allocated.
        closes_on(s, "a huge header", b"\xdd\x80\x00\x00\x00", "a message over %d bytes" % limit),
        closes_on(s, "a response from the client", msgpack.packb([1, 1, None, None]),
                  "not a msgpack-rpc request"),
        closes_on(s, "a bare integer", msgpack.packb(7), "not a msgpack-rpc request"),
    ]
    status, err = s.stop()
    check(status == 0, "exit status %d" % status)
    for note in notes:
        check(note in err, "no note '%s' on stderr: %s" % (note, err))
    print("hostile input: %d kinds closed with a note, the other client served" % len(notes))


def inflight_cap(path, backend):
    cap = 4
    s = Server(path, backend, "--rpc-max-inflight", str(cap))
    c = s.connect()
    start = time.monotonic()
    c.send(*[[0, i, "sleep", [400]] for i in range(cap)] + [[0, 99, "echo", ["late"]]])
    answers = [c.recv() for _ in range(cap + 1)]
    took = (time.monotonic() - start) * 1000
    check([1, 99, None, "late"] in answers, "echo answered: %r" % answers)
    check(answers.index([1, 99, None, "late"]) >= 1, "the echo passed the cap: %r" % answers)
    check(took >= 390, "%d sleep(400) then an echo in %.0f ms" % (cap, took))
    c.close()
    status, _ = s.stop()
    check(status == 0, "exit status %d" % status)
    print("in-flight cap %d: the request after it answered after a slot freed (%.0f ms)" % (cap, took))


def split_reads(srv):
    c = srv.connect()
    msgs = [[0, i, "echo", ["part %d" % i * 3]] for i in range(20)]
    data = b"".join(msgpack.packb(m) for m in msgs)
    for b in data[:200]:  # a byte at a time, each its own segment
        c.sock.sendall(bytes([b]))
        time.sleep(0.0005)
    rest = data[200:]
    rng = random.Random(14)
    while rest:
        n = rng.randint(1, 40)
        c.sock.sendall(rest[:n])
        rest = rest[n:]
        time.sleep(0.0005)
    for m in msgs:
        check(c.recv() == [1, m[1], None, m[3][0]], "split echo %d" % m[1])
    blob = os.urandom(512 * 1024)
    request = msgpack.packb([0, 500, "sha256", [blob]])
    for i in range(0, len(request), 7000):
        c.sock.sendall(request[i:i + 7000])
    check(c.recv() == [1, 500, None, hashlib.sha256(blob).digest()], "sha256 of 512 KiB in slices")
    c.close()
    print("split reads: %d requests byte by byte and in slices, 512 KiB sha256 in 7000-byte slices"
          % len(msgs))


def closed_connection_frees_workers(srv):
    gone = srv.connect()
    gone.send(*[[0, i, "sleep", [5000]] for i in range(2 * WORKERS)])
    time.sleep(0.2)  # the workers are all asleep for it
    # A reset, not a FIN: after a FIN the server still owes (and waits to send) the answers.
    gone.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    gone.close()
    c = srv.connect()
    start = time.monotonic()
    check(c.call(1, "sleep", [100]) == (None, None), "sleep after the closed connection")
    took = (time.monotonic() - start) * 1000
    # Uncancelled, the gone connection's sleeps would hold every worker for seconds.
    check(took < 1500, "the workers were held by a closed connection's jobs (%.0f ms)" % took)
    c.close()
    print("closed connection: its %d sleeps cut short, the next call took %.0f ms" % (2 * WORKERS, took))


def eof_answers_inflight(srv):
    c = srv.connect()
    c.send([0, 1, "sleep", [200]], [0, 2, "echo", ["e"]])
    c.sock.shutdown(socket.SHUT_WR)
    got = [c.recv(), c.recv()]
    check(sorted(got) == [[1, 1, None, None], [1, 2, None, "e"]], "answers after EOF: %r" % got)
    c.expect_closed("after EOF")
    c.close()
    print("EOF: the calls in flight answered, then the close")


def shutdown_in_time(path, backend):
    s = Server(path, backend, "--shutdown-timeout-ms", "500")
    c = s.connect()
    c.send([0, 1, "sleep", [200]], [0, 2, "sleep", [30000]])
    time.sleep(0.1)
    start = time.monotonic()
    status, err = s.stop(signal.SIGTERM, timeout=IO_TIMEOUT_S)
    took = (time.monotonic() - start) * 1000
    check(status == 0, "exit status %d: %s" % (status, err))
    check(c.recv() == [1, 1, None, None], "the short sleep in flight answered during shutdown")
    c.expect_closed("at shutdown")
    check(took < 2500, "exit %.0f ms after SIGTERM with a 30 s sleep in flight" % took)
    c.close()
    print("shutdown: exit 0 %.0f ms after SIGTERM, a 30 s sleep in flight cut short" % took)


def two_loops(path, backend):
    """--threads 2, connections dealt round-robin: each job posts back to its own loop."""
    s = Server(path, backend, "--threads", "2", "--accept", "dispatch")
    clients = [s.connect() for _ in range(12)]
    start = time.monotonic()
    for i, c in enumerate(clients):
        c.send([0, i, "sleep", [200]], [0, 100 + i, "echo", [i]])
    for i, c in enumerate(clients):
        check(c.recv() == [1, 100 + i, None, i], "loop client %d: echo first" % i)
        check(c.recv() == [1, i, None, None], "loop client %d: then its sleep" % i)
        c.close()
    took = (time.monotonic() - start) * 1000
    # 12 sleeps on 10 workers: two rounds; one worker at a time would take 2.4 s.
    check(took < 1500, "12 sleep(200) over two loops took %.0f ms" % took)
    status, err = s.stop()
    check(status == 0, "exit status %d: %s" % (status, err))
    print("two loops: 12 connections, each echo before its sleep, all in %.0f ms" % took)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in BACKENDS:
        print(__doc__)
        sys.exit(2)
    path, backend = sys.argv[1], sys.argv[2]
    srv = Server(path, backend)
    out_of_order(srv)
    worker_pool(srv)
    methods_and_errors(srv)
    split_reads(srv)
    closed_connection_frees_workers(srv)
    eof_answers_inflight(srv)
    status, err = srv.stop()
    check(status == 0, "exit status %d: %s" % (status, err))
    hostile_input(srv, path, backend)
    inflight_cap(path, backend)
    two_loops(path, backend)
    shutdown_in_time(path, backend)
    print("ok")


if __name__ == "__main__":
    main()
