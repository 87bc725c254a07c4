#!/usr/bin/env python3
"""treecmp.py A B [options] - compares two directory trees, recursively.

Compares, for A itself and everything under it: the set of names in every
directory, the file type, the permission bits (07777, not for symlinks,
whose mode Linux fixes at 0777), mtime to the nanosecond (directories and
symlinks included), size, content (SHA-256), symlink targets, device
numbers, user.* extended attributes, uid/gid (when run as root), the
hard-link structure (names sharing an inode in A share one in B, and only
those), and that files sparse in A are sparse in B (B's allocated size at
most A's plus one maximum chunk, 4 MiB, plus 64 KiB).

Prints every difference, one per line, and exits 1 if there is any, 0 if
none.  Options:
  --no-sparse     skip the sparseness check
  --no-owner      skip uid/gid even as root
  --no-xattrs     skip extended attributes
  --quiet         print only the count of differences
  --no-root-meta  skip the mode, mtime and owner of the roots themselves
                  (B's root is a target the restore did not make)
"""
import hashlib
import os
import stat
import sys

MAX_CHUNK = 4 * 1024 * 1024
SPARSE_SLACK = MAX_CHUNK + 64 * 1024


def show(rel):
    """A relative path (bytes) for people, with odd bytes escaped."""
    return repr(os.fsdecode(rel)) if rel else "'.'"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return h.hexdigest()
            h.update(block)


def xattrs(path):
    """user.* xattrs of path (not following symlinks) as a dict."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for name in names:
        if name.startswith("user."):
            try:
                out[name] = os.getxattr(path, name, follow_symlinks=False)
            except OSError as e:
                out[name] = "<unreadable: %s>" % e
    return out


def walk(root):
    """{relative path (bytes): lstat} for root and everything under it."""
    root = os.fsencode(root)
    entries = {b"": os.lstat(root)}
    stack = [b""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        for name in os.listdir(full):
            r = os.path.join(rel, name) if rel else name
            st = os.lstat(os.path.join(root, r))
            entries[r] = st
            if stat.S_ISDIR(st.st_mode):
                stack.append(r)
    return entries


def link_groups(entries):
    """The hard-link partition: a frozenset of frozensets of paths (only
    non-directories, only groups of two or more)."""
    by_inode = {}
    for rel, st in entries.items():
        if not stat.S_ISDIR(st.st_mode):
            by_inode.setdefault((st.st_dev, st.st_ino), set()).add(rel)
    return {frozenset(g) for g in by_inode.values() if len(g) > 1}


TYPES = {
    stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink",
    stat.S_IFIFO: "fifo", stat.S_IFCHR: "chardev", stat.S_IFBLK: "blockdev",
    stat.S_IFSOCK: "socket",
}


def main(argv):
    opts = {a for a in argv[1:] if a.startswith("--")}
    args = [a for a in argv[1:] if not a.startswith("--")]
    if len(args) != 2 or opts - {"--no-sparse", "--no-owner", "--no-xattrs",
                                 "--quiet", "--no-root-meta"}:
        sys.stderr.write(__doc__)
        return 2
    a_root, b_root = args
    for name, root in (("A", a_root), ("B", b_root)):
        if not os.path.isdir(root) or os.path.islink(root):
            print("%s (%s) is not a directory" % (name, root))
            return 1
    check_owner = os.geteuid() == 0 and "--no-owner" not in opts
    diffs = []

    def diff(rel, what):
        diffs.append("%s: %s" % (show(rel), what))

    a = walk(a_root)
    b = walk(b_root)
    for rel in sorted(set(a) - set(b)):
        diff(rel, "only in A (%s)" % TYPES.get(stat.S_IFMT(a[rel].st_mode)))
    for rel in sorted(set(b) - set(a)):
        diff(rel, "only in B (%s)" % TYPES.get(stat.S_IFMT(b[rel].st_mode)))

    for rel in sorted(set(a) & set(b)):
        sa, sb = a[rel], b[rel]
        pa = os.path.join(os.fsencode(a_root), rel)
        pb = os.path.join(os.fsencode(b_root), rel)
        ta, tb = stat.S_IFMT(sa.st_mode), stat.S_IFMT(sb.st_mode)
        if ta != tb:
            diff(rel, "type %s vs %s" % (TYPES.get(ta), TYPES.get(tb)))
            continue
        if rel == b"" and "--no-root-meta" in opts:
            continue
        if ta != stat.S_IFLNK and stat.S_IMODE(sa.st_mode) != stat.S_IMODE(
                sb.st_mode):
            diff(rel, "mode %04o vs %04o" % (stat.S_IMODE(sa.st_mode),
                                             stat.S_IMODE(sb.st_mode)))
        if sa.st_mtime_ns != sb.st_mtime_ns:
            diff(rel, "mtime %d.%09d vs %d.%09d" % (
                *divmod(sa.st_mtime_ns, 10**9), *divmod(sb.st_mtime_ns, 10**9)))
        if check_owner and (sa.st_uid, sa.st_gid) != (sb.st_uid, sb.st_gid):
            diff(rel, "owner %d:%d vs %d:%d" % (sa.st_uid, sa.st_gid,
                                               sb.st_uid, sb.st_gid))
        if ta in (stat.S_IFREG, stat.S_IFLNK) and sa.st_size != sb.st_size:
            diff(rel, "size %d vs %d" % (sa.st_size, sb.st_size))
        if ta == stat.S_IFLNK and os.readlink(pa) != os.readlink(pb):
            diff(rel, "symlink target %r vs %r" % (os.readlink(pa),
                                                   os.readlink(pb)))
        if ta in (stat.S_IFCHR, stat.S_IFBLK) and sa.st_rdev != sb.st_rdev:
            diff(rel, "device %d,%d vs %d,%d" % (
                os.major(sa.st_rdev), os.minor(sa.st_rdev),
                os.major(sb.st_rdev), os.minor(sb.st_rdev)))
        if ta == stat.S_IFREG and sa.st_size == sb.st_size:
            ha, hb = sha256(pa), sha256(pb)
            if ha != hb:
                diff(rel, "content differs (sha256 %s vs %s)" % (ha[:16],
                                                                hb[:16]))
        if (ta == stat.S_IFREG and "--no-sparse" not in opts
                and sa.st_blocks * 512 < sa.st_size // 2):
            alloc_a, alloc_b = sa.st_blocks * 512, sb.st_blocks * 512
            if alloc_b > alloc_a + SPARSE_SLACK:
                diff(rel, "not restored sparse: %d bytes allocated vs %d "
                     "(size %d)" % (alloc_a, alloc_b, sa.st_size))
        if "--no-xattrs" not in opts and ta != stat.S_IFLNK:
            xa, xb = xattrs(pa), xattrs(pb)
            for name in sorted(set(xa) | set(xb)):
                if xa.get(name) != xb.get(name):
                    diff(rel, "xattr %s: %r vs %r" % (name, xa.get(name),
                                                      xb.get(name)))

    ga, gb = link_groups(a), link_groups(b)
    for g in sorted(ga - gb, key=sorted):
        diffs.append("hard links in A not so in B: %s" %
                     ", ".join(show(r) for r in sorted(g)))
    for g in sorted(gb - ga, key=sorted):
        diffs.append("hard links in B not so in A: %s" %
                     ", ".join(show(r) for r in sorted(g)))

    if diffs:
        if "--quiet" not in opts:
            for d in diffs:
                print(d)
        print("%d difference(s) between %s (A) and %s (B)" % (
            len(diffs), a_root, b_root))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
