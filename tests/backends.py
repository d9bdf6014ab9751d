"""backends.py - the ioserve flags for each backend as the test matrix names it (tests/meson.build),
shared by the Python suites that start the real binary; ioserve_proc.c holds the same table for
the C suites."""

BACKENDS = {
    "uring": ["--backend", "uring"],
    "epoll-lt": ["--backend", "epoll", "--epoll-mode", "lt"],
    "epoll-et": ["--backend", "epoll", "--epoll-mode", "et"],
    "poll": ["--backend", "poll"],
    "select": ["--backend", "select"],
}
