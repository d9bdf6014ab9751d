#!/usr/bin/python3
"""test_embedding.py - the installed library as an application uses it (docs/embedding.md).

usage: test_embedding.py BUILD_DIR SOURCE_DIR

`meson install` into a DESTDIR, then, through pkg-config only (its prefix variable moved into
the DESTDIR, as for any staged install):
  - every installed public header compiles on its own (-Wall -Wextra -Werror, C11);
  - ioserve-loop needs liburing and libc only: no zlib, libcrypto, msgpack or systemd;
  - docs/examples/ compile against the installed files and run over real sockets:
    loop_echo (the bare loop, on io_uring and on epoll) echoes 256 KiB byte for byte;
    line_upper (a protocol on conn) answers lines cut at every size, and "quit" closes;
    http_app answers curl on its own routes and echoes over WebSocket (python3-websockets);
    each stops with status 0 on SIGTERM;
  - the man page ioserve(1) and the LICENSE are installed.
"""
import glob
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 20


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def run(argv, **kw):
    out = subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)
    check(out.returncode == 0, "%s: status %d\n%s%s" % (" ".join(argv), out.returncode, out.stdout, out.stderr))
    return out.stdout


class Installed:
    def __init__(self, build, dest):
        run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"])
        pcs = glob.glob(os.path.join(dest, "**", "pkgconfig", "ioserve.pc"), recursive=True)
        check(len(pcs) == 1, "one ioserve.pc installed: %s" % pcs)
        with open(pcs[0]) as f:
            prefix = re.search(r"^prefix=(.*)$", f.read(), re.M).group(1)
        self.env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
        self.pkg_config = ["pkg-config", "--define-variable=prefix=" + dest + prefix]
        self.dest = dest
        # A sanitizer build's archives need the same runtime in whatever links them.
        options = json.loads(run(["meson", "introspect", "--buildoptions", build]))
        sanitize = next(o["value"] for o in options if o["name"] == "b_sanitize")
        self.sanitize = [] if sanitize == "none" else ["-fsanitize=" + sanitize]

    def flags(self, lib, what=("--static", "--cflags", "--libs")):
        return run(self.pkg_config + list(what) + [lib], env=self.env).split()

    def compile(self, source, out, lib):
        # Callbacks take the loop's fixed signature: unused parameters are normal, as in ioserve.
        run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-o", out, source]
            + self.sanitize + self.flags(lib), env=self.env)


def check_headers(inst, tmp):
    include = glob.glob(os.path.join(inst.dest, "**", "include", "ioserve"), recursive=True)[0]
    headers = sorted(os.path.relpath(h, include) for h in glob.glob(os.path.join(include, "**", "*.h"), recursive=True))
    check("loop.h" in headers and "http/http_router.h" in headers, "public headers installed: %s" % headers)
    check(not any(h in headers for h in ("loop_backend.h", "fault.h", "cli.h")), "private headers stay private")
    cflags = inst.flags("ioserve", ("--cflags",))
    for h in headers:
        src = os.path.join(tmp, "one_header.c")
        with open(src, "w") as f:
            f.write("#include <ioserve/%s>\nint main(void) { return 0; }\n" % h)
        run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", src] + cflags)
    loop_libs = inst.flags("ioserve-loop")
    for lib in ("-lz", "-lcrypto", "-lmsgpackc", "-lsystemd"):
        check(lib not in loop_libs, "ioserve-loop links %s: %s" % (lib, loop_libs))
    print("%d public headers compile alone; ioserve-loop: %s" % (len(headers), " ".join(l for l in loop_libs if l.startswith("-l"))))


class Program:
    """An example running, its announced port read from its output."""

    def __init__(self, argv, pattern, stream):
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
                                     stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL, text=True)
        pipe = self.proc.stdout if stream == "stdout" else self.proc.stderr
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            line = pipe.readline()
            check(line, "%s ended before it listened" % argv[0])
            m = re.search(r"127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                return
        raise AssertionError("%s never said where it listens" % argv[0])

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        check(self.proc.wait(TIMEOUT_S) == 0, "exit 0 on SIGTERM")


def read_exactly(sock, n):
    got = b""
    while len(got) < n:
        part = sock.recv(65536)
        check(part, "cut after %d of %d bytes" % (len(got), n))
        got += part
    return got


def run_loop_echo(exe):
    for backend in ("uring", "epoll"):
        p = Program([exe, "0", backend], r"listening", "stdout")
        data = random.Random(7).randbytes(256 * 1024)
        with socket.create_connection(("127.0.0.1", p.port), timeout=TIMEOUT_S) as c:
            for i in range(0, len(data), 10000):  # sent in pieces while the echo comes back
                c.sendall(data[i:i + 10000])
                check(read_exactly(c, len(data[i:i + 10000])) == data[i:i + 10000], "echoed in order")
        p.stop()
    print("loop_echo: 256 KiB echoed on uring and epoll")


def run_line_upper(exe):
    p = Program([exe, "0"], r"line-upper on", "stderr")
    lines = b"".join(b"line %d of text\n" % i for i in range(200))
    with socket.create_connection(("127.0.0.1", p.port), timeout=TIMEOUT_S) as c:
        rng = random.Random(3)
        i = 0
        while i < len(lines):
            n = rng.randint(1, 40)
            c.sendall(lines[i:i + n])
            i += n
        check(read_exactly(c, len(lines)) == lines.upper(), "every line answered in upper case")
        c.sendall(b"quit\n")
        check(read_exactly(c, 4) == b"bye\n" and c.recv(16) == b"", "quit: bye, then the close")
    p.stop()
    print("line_upper: 200 lines cut at random, quit")


def run_http_app(exe):
    p = Program([exe, "0"], r"http on", "stderr")
    base = "http://127.0.0.1:%d" % p.port
    check(run(["curl", "-sf", base + "/hello?ioserve"]) == "Hello, ioserve!", "GET /hello")
    check(run(["curl", "-sf", "--data-binary", "1 2 39", base + "/sum"]) == "42", "POST /sum")
    code = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary", "1 x", base + "/sum"])
    check(code == "400", "a bad body is 400, got %s" % code)
    code = run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", base + "/nothing"])
    check(code == "404", "an unknown path is 404, got %s" % code)
    ws = ("import asyncio, websockets\n"
          "async def main():\n"
          "    async with websockets.connect('ws://127.0.0.1:%d/ws') as w:\n"
          "        for m in ['one', b'\\x00two', 'three' * 1000]:\n"
          "            await w.send(m)\n"
          "            assert await w.recv() == m\n"
          "asyncio.run(main())\n"
          "print('ok')\n" % p.port)
    check(run(["/usr/bin/python3", "-c", ws]).strip() == "ok", "WebSocket echo")
    p.stop()
    print("http_app: /hello, /sum (200, 400), 404, WebSocket echo")


def main():
    build, source = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        inst = Installed(build, os.path.join(tmp, "dest"))
        check(glob.glob(os.path.join(inst.dest, "**", "man1", "ioserve.1"), recursive=True), "ioserve(1) installed")
        check(glob.glob(os.path.join(inst.dest, "**", "doc", "ioserve", "LICENSE"), recursive=True), "LICENSE installed")
        check_headers(inst, tmp)
        examples = os.path.join(source, "docs", "examples")
        built = {}
        for name, lib in (("loop_echo", "ioserve-loop"), ("line_upper", "ioserve"), ("http_app", "ioserve")):
            built[name] = os.path.join(tmp, name)
            inst.compile(os.path.join(examples, name + ".c"), built[name], lib)
        run_loop_echo(built["loop_echo"])
        run_line_upper(built["line_upper"])
        run_http_app(built["http_app"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
