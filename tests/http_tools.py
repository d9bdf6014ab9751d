#!/usr/bin/python3
"""http_tools.py - ioserve's HTTP checked by independent tools, on one backend per run.

usage: http_tools.py IOSERVE_PATH uring|epoll-lt|epoll-et|poll|select

Starts the real binary on port 0 with a temporary document root, then:
  - curl: a static page, HEAD, a Range (206), a conditional GET (304);
  - h11 (Debian's python3-h11) as a strict client-side parser over every kind of response
    ioserve writes: 200 memory and file bodies, HEAD, 100 Continue then 200, chunked request,
    204-less empty body, 301, 304, 206, 416, 404, 405, and the errors 400/413/414/431/408 that
    close the connection;
  - slowhttptest: slow headers (slowloris) and slow bodies; the server must close every slow
    connection itself, and stay available meanwhile;
  - wrk: >= 20,000 keep-alive requests to /plaintext with no socket errors and no non-2xx.
Each step is bounded in time; the first failure ends the run with exit status 1.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import h11

from backends import BACKENDS

HEADER_TIMEOUT_MS = 1000
WRK_MIN_REQUESTS = 20000
IO_TIMEOUT_S = 5


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def start_ioserve(path, backend, args, env=None):
    """ioserve on a port the kernel picks, with args: (process, port) once it says it serves."""
    argv = [path, "--listen", "127.0.0.1:0"] + args + BACKENDS[backend]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + IO_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"on 127\.0\.0\.1:(\d+), backend", line)
        if m:
            print(line.strip(), flush=True)
            return proc, int(m.group(1))
    proc.kill()
    fail("ioserve did not start")


def start_server(path, backend, root):
    return start_ioserve(path, backend, ["--root", root, "--max-body", "1024",
                                         "--header-timeout-ms", str(HEADER_TIMEOUT_MS),
                                         "--keepalive-timeout-ms", "3000"])


def make_root():
    root = tempfile.mkdtemp(prefix="ioserve-tools-")
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<h1>tools</h1>\n")
    with open(os.path.join(root, "data.bin"), "wb") as f:
        f.write(bytes(range(256)) * 1024)  # 256 KiB
    os.mkdir(os.path.join(root, "dir"))
    with open(os.path.join(root, "dir", "index.html"), "w") as f:
        f.write("dir\n")
    return root


# ---- curl ----

def curl(port, *args):
    out = subprocess.run(["curl", "-sS", "--max-time", "5", *args], capture_output=True,
                         timeout=10)
    check(out.returncode == 0, "curl %s: %s" % (args, out.stderr.decode()))
    return out.stdout


def test_curl(port):
    base = "http://127.0.0.1:%d" % port
    check(curl(port, base + "/") == b"<h1>tools</h1>\n", "curl GET /")
    head = curl(port, "-I", base + "/data.bin").decode()
    check("HTTP/1.1 200" in head and "Content-Length: 262144" in head, "curl HEAD: " + head)
    part = curl(port, "-r", "256-511", "-D", "-", base + "/data.bin")
    check(b"HTTP/1.1 206" in part and part.endswith(bytes(range(256))), "curl Range")
    etag = re.search(r"ETag: (\S+)", head).group(1)
    status = curl(port, "-o", "/dev/null", "-w", "%{http_code}", "-H", "If-None-Match: " + etag,
                  base + "/data.bin")
    check(status == b"304", "curl If-None-Match: %s" % status)
    whole = curl(port, base + "/data.bin", base + "/data.bin")  # two on one connection
    check(whole == (bytes(range(256)) * 1024) * 2, "curl two files on one connection")
    print("curl: ok", flush=True)


# ---- h11 ----

class Client:
    """One connection; h11 parses every byte the server sends."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self.h = h11.Connection(our_role=h11.CLIENT)

    def send(self, event, raw=None):
        data = self.h.send(event)
        out = raw if raw is not None else data
        if out:
            self.sock.sendall(out)

    def next_event(self):
        while True:
            ev = self.h.next_event()
            if ev is not h11.NEED_DATA:
                return ev
            data = self.sock.recv(65536)
            self.h.receive_data(data)

    def request(self, method, target, headers=(), body=None, raw=None):
        hs = [("Host", "t")] + list(headers)
        if body is not None and not any(k.lower() in ("content-length", "transfer-encoding")
                                        for k, _ in hs):
            hs.append(("Content-Length", str(len(body))))
        self.send(h11.Request(method=method, target=target, headers=hs), raw)
        if body is not None and raw is None:
            self.send(h11.Data(data=body))
        if raw is None:
            self.send(h11.EndOfMessage())

    def next_cycle(self):
        self.h.start_next_cycle()

    def expect_closed(self):
        ev = self.next_event()
        check(isinstance(ev, h11.ConnectionClosed), "expected the close, got %r" % (ev,))
        self.sock.close()


def parse_one(client):
    ev = client.next_event()
    check(isinstance(ev, (h11.Response, h11.InformationalResponse)), "got %r" % (ev,))
    headers = {k.decode().lower(): v.decode() for k, v in ev.headers}
    if isinstance(ev, h11.InformationalResponse):
        return ev.status_code, headers, None
    body = b""
    while True:
        nxt = client.next_event()
        if isinstance(nxt, h11.Data):
            body += nxt.data
        elif isinstance(nxt, h11.EndOfMessage):
            return ev.status_code, headers, body
        else:
            fail("unexpected %r" % (nxt,))


def exchange(client, method, target, want_status, headers=(), body=None, want_body=None):
    client.request(method, target, headers, body)
    status, hs, got = parse_one(client)
    check(status == want_status, "%s %s: %d, wanted %d" % (method, target, status, want_status))
    if want_body is not None:
        check(got == want_body, "%s %s: body %r" % (method, target, got[:80]))
    client.next_cycle()
    return hs


def test_h11(port):
    c = Client(port)
    exchange(c, "GET", "/plaintext", 200, want_body=b"Hello, World!")
    exchange(c, "HEAD", "/plaintext", 200, want_body=b"")
    exchange(c, "POST", "/echo", 200, body=b"abc", want_body=b"abc")
    exchange(c, "POST", "/echo", 200, body=b"", want_body=b"")
    exchange(c, "POST", "/echo", 200, headers=[("Transfer-Encoding", "chunked")], body=b"chunky",
             want_body=b"chunky")
    hs = exchange(c, "GET", "/index.html", 200, want_body=b"<h1>tools</h1>\n")
    exchange(c, "GET", "/index.html", 304, headers=[("If-None-Match", hs["etag"])], want_body=b"")
    exchange(c, "GET", "/index.html", 304, headers=[("If-Modified-Since", hs["last-modified"])])
    exchange(c, "GET", "/data.bin", 206, headers=[("Range", "bytes=0-9")], want_body=bytes(range(10)))
    exchange(c, "GET", "/data.bin", 416, headers=[("Range", "bytes=999999-")])
    exchange(c, "GET", "/data.bin", 200, want_body=bytes(range(256)) * 1024)
    exchange(c, "HEAD", "/data.bin", 200, want_body=b"")
    hs = exchange(c, "GET", "/dir", 301)
    check(hs["location"] == "/dir/", "Location: " + hs.get("location", "-"))
    exchange(c, "GET", "/dir/", 200, want_body=b"dir\n")
    exchange(c, "GET", "/nothing", 404)
    hs = exchange(c, "PUT", "/index.html", 405, body=b"x")
    check(hs["allow"] == "GET, HEAD", "Allow: " + hs.get("allow", "-"))
    # 100 Continue, then the body, then the answer.
    c.send(h11.Request(method="POST", target="/echo",
                       headers=[("Host", "t"), ("Content-Length", "2"), ("Expect", "100-continue")]))
    status, _, _ = parse_one(c)
    check(status == 100, "Expect: 100-continue answered %d" % status)
    c.send(h11.Data(data=b"ok"))
    c.send(h11.EndOfMessage())
    status, _, body = parse_one(c)
    check(status == 200 and body == b"ok", "after 100 Continue: %d %r" % (status, body))
    c.next_cycle()
    # Connection: close is honoured.
    c.request("GET", "/plaintext", [("Connection", "close")])
    status, hs, _ = parse_one(c)
    check(status == 200 and hs.get("connection") == "close", "Connection: close")
    c.expect_closed()

    # HTTP/1.0 without keep-alive: answered, then closed.
    c = Client(port)
    # (h11 only writes HTTP/1.1: it is told of a request that closes, the wire carries 1.0.)
    c.send(h11.Request(method="GET", target="/plaintext", headers=[("Host", "t"), ("Connection", "close")]),
           b"GET /plaintext HTTP/1.0\r\n\r\n")
    c.send(h11.EndOfMessage(), b"")
    status, _, body = parse_one(c)
    check(status == 200 and body == b"Hello, World!", "HTTP/1.0")
    c.expect_closed()

    # Errors: h11 thinks it sent a plain GET; the wire carries the bad request instead.
    bad = [
        (b"NOT A REQUEST\r\n\r\n", 400),
        (b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: t\r\nX: " + b"b" * 20000 + b"\r\n\r\n", 431),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000\r\n\r\n", 413),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"0\r\n\r\n", 400),
        (b"GET /plaintext HTTP/1.1\r\nHost: t\r\nX-Slow: ", 408),
    ]
    for raw, want in bad:
        c = Client(port)
        c.send(h11.Request(method="GET", target="/", headers=[("Host", "t")]), raw)
        c.send(h11.EndOfMessage(), b"")
        status, hs, _ = parse_one(c)
        check(status == want and hs.get("connection") == "close",
              "bad request %r: %d, wanted %d" % (raw[:30], status, want))
        c.expect_closed()
    print("h11: ok", flush=True)


# ---- slowhttptest ----

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def slowhttptest(port, mode, interval):
    argv = ["slowhttptest", mode, "-c", "40", "-r", "40", "-i", str(interval), "-l", "6", "-p", "2",
            "-u", "http://127.0.0.1:%d/echo" % port if mode == "-B" else
            "http://127.0.0.1:%d/plaintext" % port]
    if mode == "-B":
        argv += ["-s", "512"]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_slowhttptest(port):
    runs = {"slow headers": slowhttptest(port, "-H", 2), "slow body": slowhttptest(port, "-B", 2)}
    # The server stays available to everyone else while they run.
    for _ in range(3):
        time.sleep(0.5)
        c = Client(port)
        exchange(c, "GET", "/plaintext", 200, want_body=b"Hello, World!")
        c.sock.close()
    for name, proc in runs.items():
        out, _ = proc.communicate(timeout=30)
        out = ANSI.sub("", out)
        check("service available:   NO" not in out and "service available: NO" not in out,
              name + ": service became unavailable\n" + out[-800:])
        check("No open connections left" in out,
              name + ": slow connections were left open\n" + out[-800:])
        ended = re.search(r"Test ended on (\d+)th second", out)
        check(ended is not None and int(ended.group(1)) < 6,
              name + ": the slow connections outlived the test\n" + out[-800:])
        print("slowhttptest %s: every slow connection closed by the server" % name, flush=True)


# ---- wrk ----

def test_wrk(port):
    # 4 s: the count is about keep-alive holding up, not speed; a busy machine still gets there
    out = subprocess.run(["wrk", "-t", "2", "-c", "16", "-d", "4s",
                          "http://127.0.0.1:%d/plaintext" % port],
                         capture_output=True, text=True, timeout=30)
    text = out.stdout + out.stderr
    check(out.returncode == 0, "wrk failed:\n" + text)
    m = re.search(r"(\d+) requests in", text)
    check(m is not None, "wrk said:\n" + text)
    requests = int(m.group(1))
    check(requests >= WRK_MIN_REQUESTS, "wrk: only %d requests\n%s" % (requests, text))
    check("Socket errors" not in text, "wrk: socket errors\n" + text)
    check("Non-2xx" not in text, "wrk: non-2xx responses\n" + text)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
    print("wrk: %d requests, %s req/s, no errors" % (requests, rate), flush=True)


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in BACKENDS:
        print(__doc__)
        return 2
    root = make_root()
    proc, port = start_server(sys.argv[1], sys.argv[2], root)
    try:
        test_curl(port)
        test_h11(port)
        test_wrk(port)
        test_slowhttptest(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root)
    check(proc.returncode == 0, "ioserve exited with %d" % proc.returncode)
    print("all ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
