"""docroot.py - the document root a soak serves: files of every size class, made from a seed.

Contract: make_site(dir, seed) writes the tree under dir and returns Site, whose files map
each URL path to the exact bytes on disk, so a client can check every answer byte for byte.
BIG is the file the slow reader fetches; SMALL is the one ioload pipelines.
"""

import os
import random

BIG = "/big.bin"
SMALL = "/4k.bin"

# URL path -> size in bytes.  0 and 1 byte, a page, a few buffers, a multi-send file.
SIZES = {
    "/empty.txt": 0,
    "/one.txt": 1,
    "/index.html": 300,
    SMALL: 4096,
    "/16k-plus-1.bin": 16 * 1024 + 1,
    "/64k.bin": 64 * 1024,
    "/dir/nested.bin": 200 * 1000,
    "/1m.bin": 1024 * 1024,
    BIG: 4 * 1024 * 1024,
}


class Site:
    def __init__(self, root, files):
        self.root = root
        self.files = files  # URL path -> bytes

    def paths(self):
        return sorted(self.files)


def make_site(root, seed):
    rng = random.Random(seed)
    files = {}
    for path, size in SIZES.items():
        data = rng.randbytes(size)
        disk = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(disk), exist_ok=True)
        with open(disk, "wb") as f:
            f.write(data)
        files[path] = data
    return Site(root, files)
