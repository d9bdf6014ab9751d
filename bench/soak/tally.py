"""tally.py - what each soak client counts, and how it paces itself.

Contract: a Tally counts one kind of traffic: ok() for each answer that checked out, bad(why)
for each well-behaved request that failed (the soak fails on any), note(key) for counts that
are neither (connections reset on purpose), peak(key, value) for the largest of a figure.  The
first few reasons are kept for the report.
A Pacer spreads a client's operations at a fixed rate and never bursts to catch up.
"""

import asyncio
import time

KEEP_REASONS = 5


class Tally:
    def __init__(self, kind):
        self.kind = kind
        self.answered = 0
        self.failed = 0
        self.reasons = []
        self.counts = {}

    def ok(self, n=1):
        self.answered += n

    def bad(self, why):
        self.failed += 1
        if len(self.reasons) < KEEP_REASONS:
            self.reasons.append(why)

    def note(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n

    def peak(self, key, value):
        """Keep the largest value seen under key."""
        self.counts[key] = max(self.counts.get(key, value), value)

    def as_dict(self):
        d = {"answered": self.answered, "failed": self.failed, "reasons": self.reasons}
        d.update(self.counts)
        return d


class Pacer:
    """wait() returns at most rate times a second; a late caller goes at once, and the
    schedule restarts from there instead of bursting."""

    def __init__(self, rate):
        self.period = 1.0 / rate
        self.next = time.monotonic()

    async def wait(self):
        now = time.monotonic()
        if self.next > now:
            await asyncio.sleep(self.next - now)
        self.next = max(self.next, now) + self.period
