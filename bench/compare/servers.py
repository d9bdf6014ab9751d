"""servers.py - the servers bench/compare measures: how to start each one, and what it costs.

Contract: SERVERS lists every server the matrix knows (name, protocols it speaks, how to build
its command line, whether only its system calls are counted). start() runs one pinned to CPU 0
in a fresh temporary directory, waits until its port accepts, and returns a Running handle;
Running.task_run_ns() (scheduler run time), stat_cpu_seconds() (utime+stime) and pss_bytes()
account for the whole process tree (nginx's master and worker, prefork's children), and stop()
ends it.
Nothing here names a workload beyond the protocol words "http", "echo", "etx", "ws", "rpc".
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
SERVER_CPU = "0"
# SQPOLL's kernel thread wants a CPU of its own; on the 2-core machine this bench is made for the
# only other one is the load's (measure.LOAD_CPU).  On CPU 0 it would take turns with the loop,
# which then sleeps in io_uring_enter so that the thread can run: the calls SQPOLL is meant to save.
SQPOLL_CPU = "1"


class Server:
    """One server of the matrix: a name, the protocols it speaks, a command-line builder."""

    def __init__(self, name, kind, protocols, build_cmd, needs=None, strace_only=False,
                 only_where_named=False):
        self.name = name
        self.kind = kind                # "ioserve", "baseline", "external": for the report
        self.protocols = protocols      # protocol words this server can serve
        self.build_cmd = build_cmd      # (paths, protocol, port, conns, tmpdir) -> argv
        self.needs = needs or []        # executables that must exist
        # Only its system calls are counted, in the cells whose workload names it: a server
        # whose CPU time is not its own (SQPOLL's kernel thread spins) has no CPU/request.
        self.strace_only = strace_only
        # Runs only in the cells whose workload names it (select and poll: the wall cell).
        self.only_where_named = only_where_named

    def missing(self, paths):
        for exe in self.needs_paths(paths):
            if not (shutil.which(exe) or os.access(exe, os.X_OK)):
                return exe
        return None

    def needs_paths(self, paths):
        return [paths.get(n, n) for n in self.needs]


def _ioserve(backend, *extra):
    def build(paths, protocol, port, conns, tmpdir):
        # WebSocket echo is served by the HTTP server on /ws.
        proto = "http" if protocol == "ws" else protocol
        # The wall cell's silent connections must outlive the run; how long the idle timer is
        # costs nothing (it moves without a system call).
        keep = ["--keepalive-timeout-ms", "600000"] if proto == "http" else []
        return [paths["ioserve"], "--listen", "127.0.0.1:%d" % port,
                "--protocol", proto, "--backend", backend] + keep + list(extra)
    return build


def _baseline(model):
    def build(paths, protocol, port, conns, tmpdir):
        argv = [os.path.join(paths["baselines"], "baseline-" + model),
                "--listen", "127.0.0.1:%d" % port, "--protocol", protocol]
        if model in ("prefork", "pool"):
            # Blocking workers serve one client each: size the pool for the connection count,
            # capped so a 10k-connection cell does not fork 10k processes on a 2-core box.
            argv += ["--workers", str(max(4, min(conns, 1024)))]
        return argv
    return build


NGINX_CONF = """worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
worker_rlimit_nofile {nofile};
events {{ worker_connections {nofile}; multi_accept on; }}
http {{
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=65535;
        location / {{ default_type text/plain; return 200 "Hello, World!"; }}
    }}
}}
"""


def _nginx(paths, protocol, port, conns, tmpdir):
    conf = os.path.join(tmpdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(tmp=tmpdir, port=port, nofile=max(1024, conns * 2 + 64)))
    return ["nginx", "-p", tmpdir, "-e", os.path.join(tmpdir, "error.log"), "-c", conf]


H2O_CONF = """listen:
  host: 127.0.0.1
  port: {port}
num-threads: 1
max-connections: {nofile}
user: root
access-log: /dev/null
error-log: {tmp}/error.log
hosts:
  "default":
    paths:
      /:
        mruby.handler: |
          Proc.new do |env|
            [200, {{"content-type" => "text/plain"}}, ["Hello, World!"]]
          end
"""


def _h2o(paths, protocol, port, conns, tmpdir):
    conf = os.path.join(tmpdir, "h2o.conf")
    with open(conf, "w") as f:
        f.write(H2O_CONF.format(tmp=tmpdir, port=port, nofile=max(1024, conns * 2 + 64)))
    return ["h2o", "-c", conf]


SERVERS = [
    Server("ioserve-uring", "ioserve", ["http", "echo", "etx", "ws", "rpc"], _ioserve("uring"),
           ["ioserve"]),
    Server("ioserve-uring-sqpoll", "ioserve", ["http"], _ioserve("uring", "--sqpoll", "--sqpoll-cpu", SQPOLL_CPU),
           ["ioserve"], strace_only=True),
    Server("ioserve-epoll-lt", "ioserve", ["http", "echo", "etx", "ws", "rpc"],
           _ioserve("epoll", "--epoll-mode", "lt"), ["ioserve"]),
    Server("ioserve-epoll-et", "ioserve", ["http", "echo", "etx", "ws", "rpc"],
           _ioserve("epoll", "--epoll-mode", "et"), ["ioserve"]),
    Server("ioserve-poll", "ioserve", ["http", "echo", "etx", "ws"], _ioserve("poll"), ["ioserve"],
           only_where_named=True),
    Server("ioserve-select", "ioserve", ["http", "echo", "etx", "ws"], _ioserve("select"), ["ioserve"],
           only_where_named=True),
    # One process with two loops against two worker processes of one loop each, on the same load
    # (compare.py's "http-d1-procs" cell): what separate address spaces cost, or save.
    Server("ioserve-uring-threads2", "ioserve", ["http"], _ioserve("uring", "--threads", "2"),
           ["ioserve"], only_where_named=True),
    Server("ioserve-uring-processes2", "ioserve", ["http"],
           _ioserve("uring", "--processes", "2", "--threads", "1"), ["ioserve"], only_where_named=True),
    Server("ioserve-epoll-et-threads2", "ioserve", ["http"],
           _ioserve("epoll", "--epoll-mode", "et", "--threads", "2"), ["ioserve"], only_where_named=True),
    Server("ioserve-epoll-et-processes2", "ioserve", ["http"],
           _ioserve("epoll", "--epoll-mode", "et", "--processes", "2", "--threads", "1"), ["ioserve"],
           only_where_named=True),
    Server("baseline-epoll", "baseline", ["http", "echo"], _baseline("epoll"), ["baselines"]),
    Server("baseline-uring", "baseline", ["http", "echo"], _baseline("uring"), ["baselines"]),
    Server("baseline-blocking", "baseline", ["http", "echo", "etx"], _baseline("blocking"),
           ["baselines"]),
    Server("baseline-prefork", "baseline", ["http", "echo", "etx"], _baseline("prefork"),
           ["baselines"]),
    Server("baseline-threads", "baseline", ["http", "echo", "etx"], _baseline("threads"),
           ["baselines"]),
    Server("baseline-pool", "baseline", ["http", "echo", "etx"], _baseline("pool"),
           ["baselines"]),
    Server("nginx", "external", ["http"], _nginx, ["nginx"]),
    Server("h2o", "external", ["http"], _h2o, ["h2o"]),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port, proc, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.01)
    return False


def _children(pid):
    """Direct children of pid, from /proc/PID/task/*/children (every thread may have forked)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return kids


def process_tree(pid):
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.append(p)
            todo += _children(p)
    return seen


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


class Running:
    """A started server: its process, port and temp dir, with tree-wide accounting."""

    def __init__(self, server, proc, port, tmpdir):
        self.server, self.proc, self.port, self.tmpdir = server, proc, port, tmpdir

    def task_run_ns(self):
        """{tid: on-CPU nanoseconds} for every task (thread) of every live process in the tree,
        from /proc/PID/task/TID/schedstat (the scheduler's sum_exec_runtime).  Preferred to
        stat_cpu_seconds(): utime/stime are sampled at the timer tick, and a task that runs in
        slices shorter than a tick is charged nothing -- 63 of 64 busy prefork workers read 0
        ticks over a second in which the scheduler saw them run 0.6 s.  Per task, so that a
        thread that exits between two samples drops out of both (see run_delta_s)."""
        times = {}
        for pid in process_tree(self.proc.pid):
            try:
                tids = os.listdir("/proc/%d/task" % pid)
            except OSError:
                continue
            for tid in tids:
                try:
                    with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                        times[int(tid)] = int(f.read().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
        return times

    def stat_cpu_seconds(self):
        """utime+stime of every live process in the tree (a process's figure includes its exited
        threads) plus the root's cutime+cstime (children it already reaped), in clock ticks."""
        ticks = 0
        for i, pid in enumerate(process_tree(self.proc.pid)):
            try:
                st = _stat_fields(pid)
            except OSError:
                continue
            # Fields after the name: state is [0], utime [11], stime [12], cutime [13], cstime [14].
            ticks += int(st[11]) + int(st[12])
            if i == 0:
                ticks += int(st[13]) + int(st[14])
        return ticks / CLK_TCK

    @staticmethod
    def run_delta_s(before, after):
        """Seconds the tree ran between two task_run_ns() samples: tasks present in both count
        their growth, tasks born in between count whole; a task that exited in between is lost
        (an undercount of its last moments, never a negative figure)."""
        return sum(ns - before.get(tid, 0) for tid, ns in after.items()) / 1e9

    def pss_bytes(self):
        """Proportional set size summed over the tree: shared pages (prefork's copy-on-write
        image, nginx's master and worker) count once in total, not once per process."""
        total = 0
        for pid in process_tree(self.proc.pid):
            try:
                with open("/proc/%d/smaps_rollup" % pid) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1]) * 1024
                            break
            except OSError:
                continue
        return total

    def pids(self):
        return process_tree(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                for pid in reversed(self.pids()):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                self.proc.wait(timeout=5)
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def error_text(self):
        try:
            with open(os.path.join(self.tmpdir, "stderr")) as f:
                return f.read()[-400:]
        except OSError:
            return ""


def start(server, paths, protocol, conns, startup_s=5.0):
    """Start server pinned to CPU 0; return (Running, None) or (None, reason)."""
    tmpdir = tempfile.mkdtemp(prefix="bench-%s-" % server.name)
    port = free_port()
    argv = ["taskset", "-c", SERVER_CPU] + server.build_cmd(paths, protocol, port, conns, tmpdir)
    err = open(os.path.join(tmpdir, "stderr"), "w")
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
    err.close()
    run = Running(server, proc, port, tmpdir)
    if _wait_listening(port, proc, startup_s):
        return run, None
    reason = run.error_text().strip().splitlines()
    run.stop()
    return None, (reason[-1] if reason else "did not listen within %.0f s" % startup_s)
