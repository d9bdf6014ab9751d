"""tuning.py - kernel and limit settings for large connection counts, applied and put back.

Contract: Tuning(max_conns).apply() raises RLIMIT_NOFILE for this process (children inherit it)
and writes the sysctls below when they are short of what the run needs, printing each change;
restore() writes every changed sysctl back.  A setting that cannot be changed (no root, a
read-only /proc/sys in a container) is reported and left alone: the run goes on and the report
says what the limits were.
"""

import resource
import sys

SYSCTL_ROOT = "/proc/sys/"


def _read(key):
    with open(SYSCTL_ROOT + key.replace(".", "/")) as f:
        return " ".join(f.read().split())


def _write(key, value):
    with open(SYSCTL_ROOT + key.replace(".", "/"), "w") as f:
        f.write(value)


class Tuning:
    def __init__(self, max_conns, log=sys.stderr):
        self.max_conns = max_conns
        self.log = log
        self.saved = {}         # sysctl -> value before we changed it
        self.notes = []         # what the report prints: every setting and what happened to it

    def _say(self, text):
        self.notes.append(text)
        print("bench: " + text, file=self.log)

    def _want(self, key, value, enough):
        try:
            old = _read(key)
        except OSError as e:
            self._say("%s unreadable (%s)" % (key, e.strerror))
            return
        if enough(old):
            self._say("%s = %s (kept)" % (key, old))
            return
        try:
            _write(key, value)
            self.saved[key] = old
            self._say("%s: %s -> %s (restored at exit)" % (key, old, value))
        except OSError as e:
            self._say("%s = %s, could not set %s (%s)" % (key, old, value, e.strerror))

    def apply(self):
        # The server and ioload each hold one descriptor per connection, plus their own few;
        # the limit is per process.
        need = self.max_conns + 1024
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        target = max(soft, min(hard, need)) if hard != resource.RLIM_INFINITY else max(soft, need)
        if target != soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        self._say("RLIMIT_NOFILE soft %d -> %d (hard %s)%s" % (
            soft, target, hard, "" if target >= need else ", short of the %d wanted" % need))
        self._want("net.core.somaxconn", "65535", lambda v: int(v) >= 65535)
        self._want("net.ipv4.tcp_max_syn_backlog", "65535", lambda v: int(v) >= 65535)
        self._want("net.ipv4.ip_local_port_range", "1024 65535",
                   lambda v: int(v.split()[1]) - int(v.split()[0]) >= 60000)
        self._want("net.ipv4.tcp_tw_reuse", "1", lambda v: v == "1")
        return self

    def restore(self):
        for key, old in self.saved.items():
            try:
                _write(key, old)
                print("bench: %s restored to %s" % (key, old), file=self.log)
            except OSError as e:
                print("bench: could not restore %s to %s (%s)" % (key, old, e.strerror),
                      file=self.log)
        self.saved = {}
