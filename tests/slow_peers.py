#!/usr/bin/python3
"""slow_peers.py - peers that read or send too slowly must not hold a connection forever.

usage: slow_peers.py IOSERVE_PATH uring|epoll-lt|epoll-et

ioserve serving HTTP from a temporary root, one loop (issue 11, item 4):
  - --send-timeout-ms: a client asks for a 32 MiB file and never reads; once the socket buffers
    are full its output makes no progress, and within two timeouts (plus a margin) the server
    has closed the connection and the file (its fd count is back where it was), while another
    client is served meanwhile; a client reading the same way but steadily, a little at a time,
    gets its whole 8 MiB file with the same setting;
  - the same for another protocol: an echo client that sends and never reads is closed;
  - --min-body-rate: a POST whose body trickles in (one byte every 100 ms: never silent for the
    header timeout) gets 408 and the connection closes soon after the grace period (the
    header timeout), while a POST sent at once, and one sent slowly but above the rate for
    longer than the grace, are both echoed whole.
Every wait is bounded; the first failure ends the run with exit status 1.
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
import server_watch  # noqa: E402

MIB = 1 << 20
BIG = 32 * MIB        # far beyond the socket buffers of both ends
STEADY = 8 * MIB      # beyond them too, so the steady reader is served while it reads
SEND_TIMEOUT_MS = 500
CLOSE_MARGIN_S = 1.5  # the loop's timer granularity and a busy machine
STEADY_CHUNK = 128 * 1024
STEADY_PAUSE_S = 0.05  # well inside the send timeout
RCVBUF = 16 * 1024
HEADER_TIMEOUT_MS = 1000  # also the body's grace period
MIN_BODY_RATE = 1000
TRICKLE_GAP_S = 0.1       # one byte per gap: 10 B/s, far below the rate, never silent long
STEADY_BODY_STEP = 200    # bytes per gap: 2000 B/s, above the rate
STEADY_BODY_S = 2.5       # longer than the grace


def make_root():
    root = tempfile.mkdtemp(prefix="ioserve-slow-")
    for name, size in (("big.bin", BIG), ("steady.bin", STEADY)):
        with open(os.path.join(root, name), "wb") as f:
            f.truncate(size)  # sparse: zeros, no disk
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<h1>slow</h1>\n")
    return root


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def connect(port, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect(("127.0.0.1", port))
    return s


def get(s, path):
    s.sendall(("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())


def read_response(s, pause=0.0, chunk=65536):
    """(head, body length) of one response read to its end, pausing after each chunk."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = s.recv(chunk)
        check(part, "a response head before EOF")
        data += part
    head, body = data.split(b"\r\n\r\n", 1)
    length = int([line.split(b":")[1] for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:")][0])
    got = len(body)
    paced = got
    while got < length:
        if pause and got - paced >= chunk:
            time.sleep(pause)  # the pace of a slow reader, not a wait for an event
            paced = got
        part = s.recv(min(chunk, length - got))
        check(part, "the body continues (%d of %d bytes)" % (got, length))
        got += len(part)
    return head, got


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.02)  # polling an observable condition, bounded by timeout
    return cond()


def test_send_timeout(path, backend, root):
    proc, port = http_tools.start_ioserve(path, backend, ["--root", root, "--threads", "1",
                                                         "--send-timeout-ms", str(SEND_TIMEOUT_MS)])
    try:
        s = connect(port)
        get(s, "index.html")
        read_response(s)
        base = fd_count(proc.pid)
        stalled = connect(port, RCVBUF)
        start = time.monotonic()
        get(stalled, "big.bin")
        check(wait_for(lambda: fd_count(proc.pid) > base, 5), "the file is being sent")
        get(s, "index.html")
        head, _ = read_response(s)
        check(head.startswith(b"HTTP/1.1 200"), "another client is served meanwhile")
        bound = 2 * SEND_TIMEOUT_MS / 1000 + CLOSE_MARGIN_S
        closed = wait_for(lambda: fd_count(proc.pid) <= base, bound)
        took = time.monotonic() - start
        check(closed, "the server still holds the stalled connection %.1f s later (%d fds, %d before)"
              % (took, fd_count(proc.pid), base))
        print("send timeout: a reader that never reads closed %.3f s after its request "
              "(--send-timeout-ms %d)" % (took, SEND_TIMEOUT_MS), flush=True)
        stalled.close()
        steady = connect(port, RCVBUF)
        start = time.monotonic()
        get(steady, "steady.bin")
        head, got = read_response(steady, STEADY_PAUSE_S, STEADY_CHUNK)
        check(head.startswith(b"HTTP/1.1 200") and got == STEADY, "the steady reader got it all")
        print("send timeout: a steady reader took its %d MiB in %.1f s, not closed"
              % (STEADY // MIB, time.monotonic() - start), flush=True)
        steady.close()
        s.close()
        server_watch.stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_send_timeout_echo(path, backend):
    proc, port = http_tools.start_ioserve(path, backend, ["--protocol", "echo", "--threads", "1",
                                                         "--send-timeout-ms", str(SEND_TIMEOUT_MS)])
    try:
        base = fd_count(proc.pid)
        s = connect(port, RCVBUF)
        s.setblocking(False)
        start = time.monotonic()
        sent, blocked_since = 0, None
        # Send until the server stops taking bytes (its echo is stuck: it stopped reading).
        while blocked_since is None or time.monotonic() - blocked_since < 0.2:
            check(time.monotonic() - start < 10, "the server kept reading %d bytes" % sent)
            try:
                sent += s.send(b"e" * 65536)
                blocked_since = None
            except BlockingIOError:
                blocked_since = blocked_since or time.monotonic()
                select.select([], [s], [], 0.05)
        stuck = time.monotonic()
        bound = 2 * SEND_TIMEOUT_MS / 1000 + CLOSE_MARGIN_S
        check(wait_for(lambda: fd_count(proc.pid) <= base, bound),
              "echo: the server still holds the connection that never reads")
        print("send timeout: an echo client that never reads closed %.3f s after the server stopped "
              "reading it (%d KiB sent)" % (time.monotonic() - stuck, sent // 1024), flush=True)
        s.close()
        server_watch.stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def post_head(s, length):
    s.sendall(("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % length).encode())


def send_paced(s, total, step, gap, deadline):
    """Send total bytes, step at a time, one step per gap seconds (waiting on the socket for an
    answer meanwhile); returns True if the server answered before the body was all sent."""
    sent = 0
    while sent < total:
        check(time.monotonic() < deadline, "the paced body ran past its bound")
        s.sendall(b"x" * min(step, total - sent))
        sent += min(step, total - sent)
        if sent < total and select.select([s], [], [], gap)[0]:
            return True
    return False


def read_until_eof(s, timeout):
    data = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            part = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, True
        if not part:
            return data, True
        data += part
    return data, False


def test_body_rate(path, backend, root):
    proc, port = http_tools.start_ioserve(path, backend, ["--root", root, "--threads", "1",
                                                         "--header-timeout-ms", str(HEADER_TIMEOUT_MS),
                                                         "--min-body-rate", str(MIN_BODY_RATE)])
    try:
        body = bytes(range(256)) * 256  # 64 KiB at once
        s = connect(port)
        post_head(s, len(body))
        s.sendall(body)
        head, got = read_response(s)
        check(head.startswith(b"HTTP/1.1 200") and got == len(body), "a POST sent at once is echoed")
        total = int(STEADY_BODY_STEP / TRICKLE_GAP_S * STEADY_BODY_S)
        start = time.monotonic()
        post_head(s, total)
        check(not send_paced(s, total, STEADY_BODY_STEP, TRICKLE_GAP_S, start + 4 * STEADY_BODY_S),
              "a body above the rate is not answered before it is whole")
        head, got = read_response(s)
        check(head.startswith(b"HTTP/1.1 200") and got == total,
              "a body above the rate for %.1f s is echoed (%r)" % (time.monotonic() - start, head[:40]))
        s.close()
        trickle = connect(port)
        start = time.monotonic()
        post_head(trickle, 100000)
        bound = HEADER_TIMEOUT_MS / 1000 + CLOSE_MARGIN_S
        answered = send_paced(trickle, 100000, 1, TRICKLE_GAP_S, start + bound)
        data, eof = read_until_eof(trickle, 5)
        took = time.monotonic() - start
        check(answered and data.startswith(b"HTTP/1.1 408"), "the trickle got 408 (%r)" % data[:40])
        check(eof, "the trickle's connection closed after its 408")
        print("body rate: a 10 B/s trickle got 408 and EOF %.3f s after its head "
              "(--min-body-rate %d, grace %d ms)" % (took, MIN_BODY_RATE, HEADER_TIMEOUT_MS), flush=True)
        trickle.close()
        server_watch.stop(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in http_tools.BACKENDS:
        print(__doc__)
        return 2
    root = make_root()
    try:
        test_send_timeout(sys.argv[1], sys.argv[2], root)
        test_body_rate(sys.argv[1], sys.argv[2], root)
        test_send_timeout_echo(sys.argv[1], sys.argv[2])
    finally:
        shutil.rmtree(root)
    print("PASS", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
