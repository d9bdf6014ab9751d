"""server_proc.py - one ioserve under soak: started on a kernel-picked port, watched from /proc.

Contract: Server.start(argv, dir) runs ioserve with --listen 127.0.0.1:0, its stderr in a file
under dir, and returns once the start-up line names the port (or raises with the server's
words); loops is the number of event loops it says it runs.  sample() reads, from /proc and that file only, the resident set (VmRSS), the open
descriptors and the lines the server has written after its start-up line (ioserve has no
counters to read while it runs: it writes a line on stderr for each error it reports, and its
totals when it stops).  stop() sends SIGTERM, waits (bounded) and returns the exit status, the
"stopped after N connections (M refused)" totals and every line written after start-up.
"""

import os
import re
import signal
import subprocess
import time

START_S = 10.0
STOP_S = 20.0
STARTED = re.compile(r"^ioserve: \w+ on 127\.0\.0\.1:(\d+), backend")
LOOPS = re.compile(r"; (\d+) threads?")
STOPPED = re.compile(r"^ioserve: stopped after (\d+) connections \((\d+) refused\)")


class Server:
    def __init__(self, name, proc, err_path):
        self.name = name
        self.proc = proc
        self.err_path = err_path
        self.port = None
        self.first_line = ""
        self.loops = 1

    @classmethod
    def start(cls, name, argv, dir):
        err_path = os.path.join(dir, "%s.stderr" % name)
        with open(err_path, "w") as err:
            proc = subprocess.Popen(argv + ["--listen", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
        server = cls(name, proc, err_path)
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            lines = server._lines()
            if lines:
                m = STARTED.match(lines[0])
                if not m:
                    break
                server.port, server.first_line = int(m.group(1)), lines[0]
                loops = LOOPS.search(lines[0])
                server.loops = int(loops.group(1)) if loops else 1
                return server
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        server.stop()
        raise RuntimeError("%s (%s) did not start: %s" % (name, " ".join(argv), " | ".join(server._lines())))

    def _lines(self):
        with open(self.err_path, errors="replace") as f:
            return [line.rstrip("\n") for line in f if line.endswith("\n")]

    def messages(self):
        """Lines written after the start-up line: errors, notes."""
        return self._lines()[1:]

    def sample(self):
        """{"rss_kb", "fds", "messages"}, or None once the process is gone."""
        pid = self.proc.pid
        try:
            with open("/proc/%d/status" % pid) as f:
                rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
            fds = len(os.listdir("/proc/%d/fd" % pid))
        except (OSError, StopIteration):
            return None
        return {"rss_kb": rss, "fds": fds, "messages": len(self.messages())}

    def descriptors(self):
        """{fd: what it is}, sockets with their TCP state and ports (from /proc/net/tcp*), to
        name the descriptors a run left open."""
        pid = self.proc.pid
        tcp = _tcp_sockets(pid)
        found = {}
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
                except OSError:
                    continue
                m = re.match(r"socket:\[(\d+)\]", target)
                found[int(fd)] = tcp.get(m.group(1), target) if m else target
        except OSError:
            pass
        return found

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        result = {"exit": self.proc.returncode, "messages": self.messages()}
        m = STOPPED.match(result["messages"][-1]) if result["messages"] else None
        if m:
            result["messages"].pop()
            result["connections"], result["refused"] = int(m.group(1)), int(m.group(2))
        return result


TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


def _tcp_sockets(pid):
    """inode -> "tcp STATE local_port->remote_port", as the process's network namespace sees it."""
    found = {}
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            local, remote, state, inode = cols[1], cols[2], int(cols[3], 16), cols[9]
            found[inode] = "tcp %s %d->%d" % (TCP_STATES.get(state, state), int(local.split(":")[1], 16),
                                                int(remote.split(":")[1], 16))
    return found
