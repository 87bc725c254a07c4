/*
 * source_stream.c - sources for `add` that read one stream, once, in
 * order (add_source.h): standard input as one file, and an archive (tar,
 * pax, cpio, zip; compressed or not) whose entries become the snapshot.
 *
 * Neither can go back, so neither uses the files cache, and an archive's
 * entries come as placed items (add_source.h): in the archive's order,
 * each by its whole path, the pipeline making the directories above.
 * An archive is never unpacked to disk: an entry's bytes go from
 * libarchive to the chunker.
 *
 * Names.  An archive's names are stored as the archive gives them, with
 * two exceptions that would otherwise make trees the format forbids:
 * leading `/` are dropped (as GNU tar does: "/etc/x" is stored as
 * etc/x), and a name with a `..` component is reported and left out.
 * Empty and `.` components are dropped ("./a//b" is a/b).  Extraction
 * checks every name again (format spec "Extraction rules"), whatever
 * wrote the snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/internal.h"
#include "ops/add/add_source.h"
#include "ops/archive_lib.h" /* libarchive's calls go through its table */

/* libarchive's reads: big enough to keep a pipe or disk busy. */
#define STREAM_BLOCK (64u * 1024)

/* What both sources keep. */
typedef struct stream_source {
    add_report_fn report;
    void *report_ctx;
    int fd;                  /* stdin: the descriptor read */
    const char *name;        /* stdin: the name given */
    int done;                /* stdin: the file was handed over */
    struct archive *ar;      /* tar: the archive being read, or NULL */
    struct archive_entry *entry; /* tar: the current entry */
    uint64_t next_inode;     /* tar: inode numbers made up, from 1 */
    int warned_absolute;     /* tar: said once that `/` are dropped */
    char path[PATH_MAX + 1]; /* the current item's path */
    char link[PATH_MAX + 1]; /* tar: a hard link's target's path */
} stream_source;

/* Makes name ("a/b/c", "/a/./b", ...) into out as an absolute clean
 * path ("/a/b/c").  Returns 0, or -1 for a `..` component, an empty
 * result or one longer than PATH_MAX. */
static int clean_path(const char *name, char out[PATH_MAX + 1])
{
    size_t o = 0;
    const char *p = name;
    while (*p) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return -1;
        if (!(len == 1 && p[0] == '.')) {
            if (o + 1 + len > PATH_MAX)
                return -1;
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (o == 0)
        return -1;
    out[o] = '\0';
    return 0;
}

/* A node made up (a directory above the stdin file or an archive's
 * entries that the archive has no entry for; the stdin file itself):
 * the caller's owner, now, mode. */
static vault_error node_made_up(tree_node *n, const char *name,
                                node_type type, uint32_t mode)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    memset(n, 0, sizeof *n);
    n->type = type;
    n->mode = mode;
    n->uid = (uint32_t)geteuid();
    n->gid = (uint32_t)getegid();
    n->mtime_sec = now.tv_sec;
    n->mtime_nsec = (uint32_t)now.tv_nsec;
    n->nlink = 1;
    n->name = strdup(name);
    n->user = vlt_add_owner_name(n->uid, 0);
    n->group = vlt_add_owner_name(n->gid, 1);
    if (!n->name || !n->user || !n->group)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

static vault_error stream_parent(void *ctx, const char *path,
                                 const char *name, tree_node *node)
{
    (void)ctx;
    (void)path;
    return node_made_up(node, name, NODE_DIR, 0755);
}

static int stream_no_xattrs(void *ctx, tree_node *node)
{
    (void)ctx;
    (void)node;
    return 0;
}

/* A stream_source behind *out, answering calls (whose ctx it becomes);
 * NULL: out of memory. */
static stream_source *stream_new(add_source *out, add_source calls,
                                 add_report_fn report, void *report_ctx)
{
    memset(out, 0, sizeof *out);
    stream_source *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    calls.ctx = s;
    *out = calls;
    s->report = report;
    s->report_ctx = report_ctx;
    return s;
}

void vlt_add_source_stream_close(add_source *src)
{
    stream_source *s = src->ctx;
    if (!s)
        return;
    if (s->ar)
        archive_read_free(s->ar);
    free(s);
    src->ctx = NULL;
}

/* ---- standard input ------------------------------------------------------ */

static vault_error stdin_next(void *ctx, add_item *it)
{
    stream_source *s = ctx;
    memset(it, 0, sizeof *it);
    if (s->done) {
        it->kind = ADD_ITEM_END;
        return VAULT_OK;
    }
    s->done = 1;
    it->kind = ADD_ITEM_NODE;
    it->path = s->path;
    it->given = s->name;
    it->size_unknown = 1;
    /* 0600: a database dump is for its owner's eyes */
    return node_made_up(&it->node, strrchr(s->path, '/') + 1, NODE_FILE,
                        0600);
}

/* read(2) of the input into buf, or a report and VAULT_E_PARTIAL. */
static vault_error stdin_read(void *ctx, uint8_t *buf, size_t cap,
                              size_t *got)
{
    stream_source *s = ctx;
    *got = 0;
    for (;;) {
        ssize_t n = read(s->fd, buf, cap);
        if (n >= 0) {
            *got = (size_t)n;
            return VAULT_OK;
        }
        if (errno != EINTR) {
            char detail[300];
            snprintf(detail, sizeof detail, "read failed: %s",
                     strerror(errno));
            s->report(s->report_ctx, s->path, detail);
            return VAULT_E_PARTIAL;
        }
    }
}

vault_error vlt_add_source_stdin_open(const vault_add_options *o,
                                      add_report_fn report, void *report_ctx,
                                      add_source *out)
{
    stream_source *s = stream_new(
        out, (add_source){stdin_next, stdin_read, stream_no_xattrs,
                          stream_parent, NULL},
        report, report_ctx);
    if (!s)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    s->fd = o->input_fd;
    s->name = o->stdin_filename;
    if (clean_path(o->stdin_filename, s->path) != 0)
        return vlt_fail(VAULT_E_INVALID,
                        "stdin file name \"%s\": a name or a relative path "
                        "without \"..\"",
                        o->stdin_filename);
    return VAULT_OK;
}

/* ---- an archive ---------------------------------------------------------- */

/* A name the archive has: in the locale's encoding (as tar stores bytes),
 * else as UTF-8 (what zip and pax store, which the "C" locale cannot
 * take; Linux names are bytes, so UTF-8 is what a UTF-8 system had). */
static const char *tar_text(const char *mbs, const char *utf8)
{
    return mbs ? mbs : utf8;
}

static void tar_report(stream_source *s, const char *path, const char *what)
{
    char detail[600];
    const char *why = archive_error_string(s->ar);
    snprintf(detail, sizeof detail, "%s%s%s", what, why ? ": " : "",
             why ? why : "");
    s->report(s->report_ctx, path, detail);
}

static node_type tar_type(mode_t filetype)
{
    switch (filetype) {
    case AE_IFDIR: return NODE_DIR;
    case AE_IFLNK: return NODE_SYMLINK;
    case AE_IFIFO: return NODE_FIFO;
    case AE_IFCHR: return NODE_CHARDEV;
    case AE_IFBLK: return NODE_BLOCKDEV;
    case AE_IFSOCK: return NODE_SOCKET;
    default: return NODE_FILE;
    }
}

/* An owner id as the archive has it; one out of range (negative, or
 * above 32 bits) is 0 - never a wrap onto another user. */
static uint32_t tar_id(la_int64_t id)
{
    return id >= 0 && id <= (la_int64_t)UINT32_MAX ? (uint32_t)id : 0;
}

/* Fills it from the current entry e (its name cleaned into s->path);
 * *leave_out: the entry is left out (reported, unless it is the
 * archive's "./"). */
static vault_error tar_item(stream_source *s, struct archive_entry *e,
                            add_item *it, int *leave_out)
{
    *leave_out = 0;
    const char *name = tar_text(archive_entry_pathname(e),
                                archive_entry_pathname_utf8(e));
    if (!name) {
        tar_report(s, "(an entry)", "a name that cannot be read; left out");
        *leave_out = 1;
        return VAULT_OK;
    }
    if (name[0] == '/' && !s->warned_absolute) {
        vlt_warn("%s: leading \"/\" dropped from the archive's names", name);
        s->warned_absolute = 1;
    }
    if (clean_path(name, s->path) != 0) {
        if (strcmp(name, ".") != 0 && strcmp(name, "./") != 0)
            s->report(s->report_ctx, name,
                      "a name with \"..\", empty, or too long; left out");
        *leave_out = 1; /* "./": the archive's root itself */
        return VAULT_OK;
    }
    const char *hardlink = tar_text(archive_entry_hardlink(e),
                                    archive_entry_hardlink_utf8(e));
    if (hardlink) {
        if (clean_path(hardlink, s->link) != 0) {
            s->report(s->report_ctx, name, "a hard link to a name with "
                                           "\"..\", or empty; left out");
            *leave_out = 1;
            return VAULT_OK;
        }
        it->link_to = s->link;
    }
    it->kind = ADD_ITEM_NODE;
    it->placed = 1;
    it->path = s->path;
    it->given = name;
    tree_node *n = &it->node;
    n->type = hardlink ? NODE_FILE : tar_type(archive_entry_filetype(e));
    n->mode = (uint32_t)archive_entry_perm(e) & 07777;
    n->uid = tar_id(archive_entry_uid(e));
    n->gid = tar_id(archive_entry_gid(e));
    if (archive_entry_mtime_is_set(e)) {
        /* libarchive reads pax's "-5.25" as -5 s and 250000000 ns, the
         * fraction towards zero (and writes them back so: see
         * restore_tar.c); a node's nanoseconds count up from the second
         * below: -6 s and 750000000 ns. */
        int64_t sec = archive_entry_mtime(e);
        long nsec = archive_entry_mtime_nsec(e);
        if (nsec < 0 || nsec >= 1000000000L)
            nsec = 0; /* libarchive makes none such */
        if (sec < 0 && nsec > 0) {
            sec -= 1;
            nsec = 1000000000L - nsec;
        }
        n->mtime_sec = sec;
        n->mtime_nsec = (uint32_t)nsec;
    }
    /* Made-up inodes, one per entry: extraction links entries by inode
     * only where place_link (add_tree.c) made them share one. */
    n->inode = ++s->next_inode;
    n->nlink = 1;
    if (n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV)
        n->rdev = archive_entry_rdev(e);
    if (n->type == NODE_FILE && !hardlink) {
        if (archive_entry_size_is_set(e) && archive_entry_size(e) >= 0)
            n->size = (uint64_t)archive_entry_size(e);
        else
            it->size_unknown = 1; /* a streamed zip entry */
    }
    const char *uname = tar_text(archive_entry_uname(e),
                                 archive_entry_uname_utf8(e));
    const char *gname = tar_text(archive_entry_gname(e),
                                 archive_entry_gname_utf8(e));
    n->name = strdup(strrchr(s->path, '/') + 1);
    n->user = strdup(uname ? uname : "");
    n->group = strdup(gname ? gname : "");
    if (!n->name || !n->user || !n->group)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (n->type == NODE_SYMLINK) {
        const char *target = tar_text(archive_entry_symlink(e),
                                      archive_entry_symlink_utf8(e));
        if (!target || !target[0]) {
            s->report(s->report_ctx, name, "a symlink without a target; "
                                           "left out");
            *leave_out = 1;
            return VAULT_OK;
        }
        /* stored as given: a target is only ever read back as text */
        if (!(n->target = strdup(target)))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    return VAULT_OK;
}

static vault_error tar_next(void *ctx, add_item *it)
{
    stream_source *s = ctx;
    for (;;) {
        memset(it, 0, sizeof *it);
        struct archive_entry *e;
        int r = archive_read_next_header(s->ar, &e);
        if (r == ARCHIVE_EOF) {
            it->kind = ADD_ITEM_END;
            return VAULT_OK;
        }
        if (r == ARCHIVE_FATAL || r < ARCHIVE_FAILED) {
            const char *why = archive_error_string(s->ar);
            return vlt_fail(VAULT_E_CORRUPT, "archive: %s",
                            why ? why : "cannot be read");
        }
        if (r == ARCHIVE_FAILED) {
            tar_report(s, "(an entry)", "cannot be read; left out");
            continue;
        }
        /* A name, link or owner that is not text in the locale (a name
         * that is not UTF-8, say) is stored byte for byte (tar_text):
         * libarchive's warning about converting it is no news.  Others
         * are passed on. */
        const char *why = archive_error_string(s->ar);
        if (r == ARCHIVE_WARN && !(why && strstr(why, " be converted ")))
            vlt_warn("archive: %s", why ? why : "a warning");
        s->entry = e;
        int leave_out;
        vault_error rc = tar_item(s, e, it, &leave_out);
        if (rc != VAULT_OK)
            return rc;
        if (!leave_out)
            return VAULT_OK;
        vlt_tree_node_clear(&it->node); /* the data is skipped by libarchive */
    }
}

static vault_error tar_read(void *ctx, uint8_t *buf, size_t cap, size_t *got)
{
    stream_source *s = ctx;
    *got = 0;
    la_ssize_t n = archive_read_data(s->ar, buf, cap);
    if (n >= 0) {
        *got = (size_t)n;
        return VAULT_OK;
    }
    tar_report(s, s->path, "cannot be read");
    return VAULT_E_PARTIAL;
}

static int tar_xattrs(void *ctx, tree_node *n)
{
    stream_source *s = ctx;
    int count = archive_entry_xattr_reset(s->entry);
    if (count <= 0)
        return 0;
    n->xattrs = calloc((size_t)count, sizeof *n->xattrs);
    if (!n->xattrs) {
        s->report(s->report_ctx, s->path, "extended attributes: out of "
                                          "memory; left out");
        return 1;
    }
    const char *name;
    const void *value;
    size_t size;
    while (archive_entry_xattr_next(s->entry, &name, &value, &size) ==
               ARCHIVE_OK &&
           n->n_xattrs < (uint32_t)count) {
        if (!name || !name[0] || strlen(name) > TREE_XATTR_NAME_MAX ||
            size > TREE_XATTR_VALUE_MAX || n->n_xattrs >= TREE_XATTRS_MAX) {
            s->report(s->report_ctx, s->path, "an extended attribute too "
                                              "large; left out");
            continue;
        }
        /* bsdtar's pax has each twice (LIBARCHIVE.xattr and
         * SCHILY.xattr), and libarchive hands both over */
        int seen = 0;
        for (uint32_t i = 0; i < n->n_xattrs && !seen; i++)
            seen = strcmp(n->xattrs[i].name, name) == 0;
        if (seen)
            continue;
        node_xattr *x = &n->xattrs[n->n_xattrs];
        x->name = strdup(name);
        x->value = malloc(size ? size : 1);
        if (!x->name || !x->value) {
            free(x->name);
            free(x->value);
            continue;
        }
        if (size)
            memcpy(x->value, value, size);
        x->value_len = (uint32_t)size;
        n->n_xattrs++;
    }
    return 1;
}

vault_error vlt_add_source_tar_open(const vault_add_options *o,
                                    add_report_fn report, void *report_ctx,
                                    add_source *out)
{
    stream_source *s = stream_new(
        out, (add_source){tar_next, tar_read, tar_xattrs, stream_parent, NULL},
        report, report_ctx);
    if (!s)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc = vlt_archive_load();
    if (rc != VAULT_OK)
        return rc;
    if (!(s->ar = archive_read_new()))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    /* Archive formats only: not format_all, whose mtree reader would
     * read the local files a hostile "archive" names. */
    archive_read_support_format_tar(s->ar); /* ustar, pax, GNU */
    archive_read_support_format_cpio(s->ar);
    archive_read_support_format_zip(s->ar);
    archive_read_support_filter_gzip(s->ar);
    archive_read_support_filter_bzip2(s->ar);
    archive_read_support_filter_xz(s->ar);
    archive_read_support_filter_lzma(s->ar);
    archive_read_support_filter_zstd(s->ar);
    archive_read_support_filter_lz4(s->ar);
    archive_read_support_filter_compress(s->ar);
    int r = strcmp(o->tar, "-") == 0
                ? archive_read_open_fd(s->ar, o->input_fd, STREAM_BLOCK)
                : archive_read_open_filename(s->ar, o->tar, STREAM_BLOCK);
    if (r != ARCHIVE_OK) {
        const char *why = archive_error_string(s->ar);
        return vlt_fail(VAULT_E_IO, "%s: %s", o->tar,
                        why ? why : "cannot be opened");
    }
    return VAULT_OK;
}
