"""server_watch.py - what a running ioserve holds, read from /proc, and its clean stop; shared by
the Python suites that judge a server's resources under attack (ws_hostile.py, hostile.py)."""
import os

from http_tools import check


def rss_kib(pid, field="VmRSS"):
    """A memory figure of /proc/PID/status in KiB: VmRSS now, VmHWM the peak so far."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s for pid %d" % (field, pid))


def sanitized(pid):
    """Whether the process runs under AddressSanitizer (its allocator pads every block)."""
    with open("/proc/%d/maps" % pid) as f:
        return "libasan" in f.read()


def fd_count(pid):
    """The file descriptors the process holds open now."""
    return len(os.listdir("/proc/%d/fd" % pid))


def sanitizer_env():
    """Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default), which
    would count as RSS the server holds: without it, RSS tracks what ioserve keeps."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "quarantine_size_mb=0"]))
    return env


def stop(proc):
    """SIGTERM: the server must exit 0 within 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except Exception:  # noqa: BLE001 -- whatever went wrong, leave nothing running
        proc.kill()
        proc.wait()
        raise
    check(proc.returncode == 0, "ioserve exited %s" % proc.returncode)
