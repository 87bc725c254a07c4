#!/usr/bin/env python3
"""tarcmp.py A B [--no-owner-names] - compares two archives entry by entry.

A and B are tar (any format Python reads: GNU, pax, ustar, sparse) or zip
files.  Names are compared without a leading "./" or "/" and a trailing
"/"; the root entry "." is ignored.  For every name: the type, the
permission bits, the mtime (as exact as the archive has it), uid and gid, user and group
names (tar only, unless --no-owner-names), a symlink's target, a device's
numbers, the content (SHA-256, hard links followed), and the extended
attributes a pax header carries (SCHILY.xattr.*).  The hard-link structure
too: names that are hard links of each other in A are in B, and only those
(which one is "first" may differ).

Prints every difference, one per line, and exits 1 if there is any.
"""
import hashlib
import stat
import sys
import tarfile
import zipfile


def norm(name):
    while name.startswith("./"):
        name = name[2:]
    name = name.lstrip("/").rstrip("/")
    return "" if name == "." else name


def sha(f):
    h = hashlib.sha256()
    while True:
        block = f.read(1 << 20)
        if not block:
            return h.hexdigest()
        h.update(block)


def read_tar(path):
    entries = {}
    links = {}  # name -> the name it is a hard link of
    with tarfile.open(path) as t:
        members = t.getmembers()
        for m in members:
            name = norm(m.name)
            if not name:
                continue
            e = {
                "mode": m.mode & 0o7777,
                "mtime": m.mtime,
                "uid": m.uid,
                "gid": m.gid,
                "uname": m.uname,
                "gname": m.gname,
                "xattrs": {k: v for k, v in m.pax_headers.items()
                           if k.startswith("SCHILY.xattr.")},
            }
            if m.islnk():
                links[name] = norm(m.linkname)
                e["type"] = "file"
            elif m.isreg():
                e["type"] = "file"
            elif m.isdir():
                e["type"] = "dir"
            elif m.issym():
                e["type"] = "symlink"
                e["target"] = m.linkname
            elif m.ischr() or m.isblk():
                e["type"] = "chr" if m.ischr() else "blk"
                e["dev"] = (m.devmajor, m.devminor)
            elif m.isfifo():
                e["type"] = "fifo"
            else:
                e["type"] = "other"
            if e["type"] == "file":
                f = t.extractfile(m)
                e["sha"] = sha(f) if f else None
            entries[name] = e
    return entries, links


def read_zip(path):
    entries = {}
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            name = norm(info.filename)
            if not name:
                continue
            mode = info.external_attr >> 16
            e = {"mode": mode & 0o7777, "xattrs": {}}
            if info.is_dir():
                e["type"] = "dir"
            elif stat.S_ISLNK(mode):
                e["type"] = "symlink"
                e["target"] = z.read(info).decode("utf-8", "surrogateescape")
            else:
                e["type"] = "file"
                with z.open(info) as f:
                    e["sha"] = sha(f)
            entries[name] = e
    return entries, {}


def read(path):
    return read_zip(path) if zipfile.is_zipfile(path) else read_tar(path)


def link_groups(links):
    """Sets of names that are hard links of one another."""
    root = {}

    def find(x):
        while root.get(x, x) != x:
            x = root[x]
        return x

    for a, b in links.items():
        ra, rb = find(a), find(b)
        if ra != rb:
            root[ra] = rb
    groups = {}
    for name in set(links) | set(links.values()):
        groups.setdefault(find(name), set()).add(name)
    return sorted(sorted(g) for g in groups.values())


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    owner_names = "--no-owner-names" not in sys.argv
    a, a_links = read(args[0])
    b, b_links = read(args[1])
    diffs = []
    for name in sorted(set(a) - set(b)):
        diffs.append(f"only in {args[0]}: {name!r}")
    for name in sorted(set(b) - set(a)):
        diffs.append(f"only in {args[1]}: {name!r}")
    zip_side = zipfile.is_zipfile(args[0]) or zipfile.is_zipfile(args[1])
    for name in sorted(set(a) & set(b)):
        ea, eb = a[name], b[name]
        for key in sorted(set(ea) | set(eb)):
            if zip_side and key in ("uid", "gid", "uname", "gname", "mtime"):
                continue  # what zip has of these, tarfile does not read
            if not owner_names and key in ("uname", "gname"):
                continue
            if ea.get(key) != eb.get(key):
                diffs.append(f"{name!r}: {key} {ea.get(key)!r} != "
                             f"{eb.get(key)!r}")
    if link_groups(a_links) != link_groups(b_links):
        diffs.append(f"hard links differ: {link_groups(a_links)} != "
                     f"{link_groups(b_links)}")
    for d in diffs:
        print(d)
    if not a:
        print(f"{args[0]}: no entries")
        return 1
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
