#!/usr/bin/python3
"""test_systemd.py - ioserve under systemd's protocols, on one backend, with systemd's own tools.

usage: test_systemd.py IOSERVE_PATH uring|epoll-lt|epoll-et

  - socket activation: systemd-socket-activate (Debian's systemd package) holds the port and
    execs ioserve on the first connection, passing the socket (LISTEN_FDS); ioserve serves it
    with two threads (loop 0 deals), every connection echoed;
  - readiness: with NOTIFY_SOCKET set (a datagram socket this test owns, as systemd would),
    ioserve sends READY=1 with its start-up line as STATUS once it serves, and STOPPING=1 when
    SIGTERM starts the drain, then exits 0; the same with --processes 2, where only the
    supervisor speaks (MAINPID is its pid) and its workers stay silent;
  - two sockets passed (two ListenStream=), or --processes under socket activation: exit 1
    with the reason, nothing served;
  - docs/deploy/ioserve.service and ioserve.socket pass `systemd-analyze verify` without a
    word.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from backends import BACKENDS  # noqa: E402 -- beside this script

TIMEOUT_S = 10
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def free_port():
    """A port nobody holds now; systemd-socket-activate binds it a moment later."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Notify:
    """The service manager's end of NOTIFY_SOCKET: one datagram per notification."""

    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(TIMEOUT_S)

    def next(self):
        text = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)

    def none_within(self, seconds):
        self.sock.settimeout(seconds)
        try:
            extra = self.sock.recv(4096)
        except socket.timeout:
            return True
        finally:
            self.sock.settimeout(TIMEOUT_S)
        raise AssertionError("an unexpected notification: %r" % extra)


def echo_once(port, text):
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as c:
        c.sendall(text)
        got = b""
        while len(got) < len(text):
            part = c.recv(4096)
            check(part, "the echo was cut after %r" % got)
            got += part
        check(got == text, "echoed %r for %r" % (got, text))


def stop(proc, notify, err_path):
    proc.send_signal(signal.SIGTERM)
    msg = notify.next()
    check(msg.get("STOPPING") == "1", "STOPPING=1 after SIGTERM, got %r" % msg)
    check(proc.wait(TIMEOUT_S) == 0, "exit 0 after the drain")
    with open(err_path) as f:
        return f.read()


def start(argv, tmp, notify):
    err_path = os.path.join(tmp, "stderr")
    env = dict(os.environ, NOTIFY_SOCKET=notify.path)
    err = open(err_path, "w")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
    err.close()
    return proc, err_path


def wait_for_text(path, text):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        with open(path) as f:
            if text in f.read():
                return
        time.sleep(0.02)
    raise AssertionError("%r never appeared in %s" % (text, path))


def test_socket_activation(ioserve, backend):
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        notify = Notify(tmp)
        argv = ["systemd-socket-activate", "-E", "NOTIFY_SOCKET", "-l", "127.0.0.1:%d" % port, ioserve,
                "--protocol", "echo",
                "--threads", "2"] + BACKENDS[backend]
        proc, err_path = start(argv, tmp, notify)
        wait_for_text(err_path, "Listening on 127.0.0.1:%d" % port)  # systemd holds the port
        for i in range(6):  # the first connection makes systemd exec ioserve
            echo_once(port, b"activated %d\n" % i)
        msg = notify.next()
        check(msg.get("READY") == "1", "READY=1, got %r" % msg)
        check("echo on 127.0.0.1:%d" % port in msg.get("STATUS", ""), "STATUS is the start-up line: %r" % msg)
        check("loop 0 accepts and deals round-robin" in msg["STATUS"], "one passed socket, dealt: %r" % msg)
        check(msg.get("MAINPID") == str(proc.pid), "MAINPID is ioserve, exec'd in place: %r" % msg)
        err = stop(proc, notify, err_path)
        check("stopped after 6 connections (0 refused)" in err, "every connection served:\n" + err)
        print("socket activation on %s: 6 echoed, READY and STOPPING sent" % backend)


def test_notify_plain_and_supervised(ioserve, backend):
    for extra, speaker in (([], "ioserve: echo on"), (["--processes", "2"], "ioserve: supervisor")):
        with tempfile.TemporaryDirectory() as tmp:
            notify = Notify(tmp)
            argv = [ioserve, "--listen", "127.0.0.1:0", "--protocol", "echo"] + extra + BACKENDS[backend]
            proc, err_path = start(argv, tmp, notify)
            msg = notify.next()
            check(msg.get("READY") == "1" and msg.get("MAINPID") == str(proc.pid), "READY=1 from the main pid: %r" % msg)
            wait_for_text(err_path, speaker)
            port = int(msg["STATUS"].split(" on 127.0.0.1:")[1].split(",")[0])
            echo_once(port, b"ready means serving\n")
            notify.none_within(0.3)  # workers of the supervisor say nothing
            stop(proc, notify, err_path)
            notify.none_within(0.1)
    print("notify on %s: alone and supervised, one READY and one STOPPING each" % backend)


def expect_refused(argv, reason, connect_port=None, env=None):
    with tempfile.TemporaryDirectory() as tmp:
        err_path = os.path.join(tmp, "stderr")
        with open(err_path, "w") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                    env=env)
        if connect_port:
            wait_for_text(err_path, "Listening on")
            try:  # wakes systemd-socket-activate, which execs ioserve; no answer comes
                with socket.create_connection(("127.0.0.1", connect_port), timeout=TIMEOUT_S) as c:
                    c.settimeout(TIMEOUT_S)
                    check(c.recv(16) == b"", "nothing served")
            except ConnectionResetError:
                pass
        check(proc.wait(TIMEOUT_S) == 1, "exit 1 for " + reason)
        with open(err_path) as f:
            text = f.read()
        check(reason in text, "%r in:\n%s" % (reason, text))


def test_refusals(ioserve, backend):
    a, b = free_port(), free_port()
    expect_refused(["systemd-socket-activate", "-l", "127.0.0.1:%d" % a, "-l", "127.0.0.1:%d" % b, ioserve,
                    "--protocol", "echo"] + BACKENDS[backend],
                   "systemd passed more than one socket; ioserve serves one address", connect_port=a)
    expect_refused([ioserve, "--protocol", "echo", "--processes", "2"] + BACKENDS[backend],
                   "socket activation: not with --processes",
                   env=dict(os.environ, LISTEN_FDS="1", LISTEN_PID=str(os.getpid())))
    print("refusals on %s: two sockets, --processes" % backend)


def test_unit_files(ioserve):
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("ioserve.service", "ioserve.socket"):
            with open(os.path.join(REPO, "docs", "deploy", name)) as f:
                text = f.read().replace("/usr/local/bin/ioserve", os.path.abspath(ioserve))
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text.replace("ReadOnlyPaths=/srv/www", "ReadOnlyPaths=" + tmp))
        run = subprocess.run(["systemd-analyze", "verify", os.path.join(tmp, "ioserve.service"),
                              os.path.join(tmp, "ioserve.socket")], capture_output=True, text=True,
                             timeout=60)
        check(run.returncode == 0 and not run.stderr.strip() and not run.stdout.strip(),
              "systemd-analyze verify: %d\n%s%s" % (run.returncode, run.stdout, run.stderr))
    print("unit files verified")


def main():
    ioserve, backend = sys.argv[1], sys.argv[2]
    test_socket_activation(ioserve, backend)
    test_notify_plain_and_supervised(ioserve, backend)
    test_refusals(ioserve, backend)
    if backend == "uring":
        test_unit_files(ioserve)
    return 0


if __name__ == "__main__":
    sys.exit(main())
