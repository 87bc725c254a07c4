#!/usr/bin/env python3
"""make_scale_tree.py - the many-files tree of tests/bench/scale.sh.

    make_scale_tree.py DIR FILES

Writes FILES small files into DIR, 100 to a folder (dNNNNNN/fNN), the
same bytes on every run and machine: sizes spread over 0..8 KiB, content
cut from one pseudo-random pool (so it does not compress), and one file
in eight a copy of an earlier file (so dedup has something to find).
DIR must not exist yet.  Prints nothing; exits 1 with a message on error.
"""
import os
import random
import sys

FILES_PER_FOLDER = 100
MAX_SIZE = 8192
POOL_BYTES = 16 << 20


def layout(i, pool_len):
    """The (offset, size) of file i's content in the pool."""
    if i % 8 == 7:
        i //= 8  # a copy of an earlier file, byte for byte
    # Multiplicative hashing spreads sizes and offsets evenly.
    size = (i * 2654435761 >> 7) % (MAX_SIZE + 1)
    offset = (i * 40503 * 7919) % (pool_len - MAX_SIZE)
    return offset, size


def main():
    if len(sys.argv) != 3 or not sys.argv[2].isdigit() or int(sys.argv[2]) < 1:
        sys.exit("usage: make_scale_tree.py DIR FILES")
    top, files = sys.argv[1], int(sys.argv[2])
    pool = random.Random(15).randbytes(POOL_BYTES)
    os.mkdir(top)
    folder = None
    for i in range(files):
        if i % FILES_PER_FOLDER == 0:
            folder = os.path.join(top, "d%06d" % (i // FILES_PER_FOLDER))
            os.mkdir(folder)
        offset, size = layout(i, len(pool))
        path = os.path.join(folder, "f%02d" % (i % FILES_PER_FOLDER))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, pool[offset:offset + size])
        finally:
            os.close(fd)


if __name__ == "__main__":
    try:
        main()
    except OSError as e:
        sys.exit("make_scale_tree.py: %s" % e)
