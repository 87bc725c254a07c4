/*
 * restore_tar.c - the tar sink of restore: the walk (restore.c) written
 * as a pax tar stream.  Format spec: "Extraction rules".
 *
 * Tar mode writes the same walk as pax restricted entries, pre-order,
 * with the same name checks and filter; it leaves owners and modes to the
 * extractor.  Restricted pax writes a pax header only when ustar cannot
 * hold the entry, and sub-second mtimes only ride along in one.  Names go
 * through libarchive's locale conversion: outside a UTF-8 locale (or for
 * non-UTF-8 bytes) they are written byte for byte with hdrcharset=BINARY.
 * Files whose chunks include zeros the source knows by ID become GNU
 * sparse 1.0 entries, the zero chunks their holes.  A later occurrence of
 * a hardlinked file is a hardlink entry to the first.
 *
 * All on the walking thread: a tar stream is written in order.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "format/chunker.h"
#include "common/internal.h"
#include "ops/archive_lib.h" /* libarchive's calls go through its table */
#include "ops/restore/restore_internal.h"

static vault_error tar_fatal(restorer *r, const char *what)
{
    r->tar_broken = 1;
    return vlt_fail(VAULT_E_IO, "tar: %s: %s", what,
                    archive_error_string(r->ar) ? archive_error_string(r->ar)
                                                : "failed");
}

/* The data regions of a file whose zero chunks are holes: [offset,
 * length] pairs, in order. */
typedef struct sparse_map {
    uint64_t (*data)[2];
    size_t n;
} sparse_map;

/* Appends the data region [from, to) of a file of size bytes, widened to
 * 512-byte blocks - GNU tar reads each region from a fresh block of the
 * stream while libarchive writes them back to back; block-aligned regions
 * suit both - and merged into the previous one if they now touch. */
static void sparse_add(sparse_map *map, uint64_t from, uint64_t to,
                       uint64_t size)
{
    from &= ~(uint64_t)511;
    to = (to + 511) & ~(uint64_t)511;
    if (to > size)
        to = size;
    uint64_t(*last)[2] = map->n ? &map->data[map->n - 1] : NULL;
    if (last && from <= (*last)[0] + (*last)[1]) {
        (*last)[1] = to - (*last)[0];
        return;
    }
    map->data[map->n][0] = from;
    map->data[map->n][1] = to - from;
    map->n++;
}

/* Fills map for file n when its chunks include zeros the source knows by
 * ID (else leaves it empty: a plain entry).  A chunk the source cannot
 * size, or sizes that do not add up to n->size, also leave it empty:
 * content_each then reports the damage. */
static vault_error tar_sparse_map(restorer *r, const tree_node *n,
                                  sparse_map *map)
{
    map->data = NULL;
    map->n = 0;
    if (!r->src->chunk_size || n->n_content == 0)
        return VAULT_OK;
    /* At most one data region per chunk. */
    map->data = malloc((size_t)n->n_content * sizeof *map->data);
    if (!map->data)
        return vlt_restore_nomem();
    uint64_t at = 0, start = 0;
    int in_data = 0, any_zero = 0;
    vault_error rc = VAULT_OK;
    for (uint32_t i = 0; i < n->n_content && rc == VAULT_OK; i++) {
        uint32_t len = 0;
        int zero = 0;
        rc = r->src->chunk_size(r->src->ctx, n->content[i], &len, &zero);
        if (rc == VAULT_OK && zero && in_data)
            sparse_add(map, start, at, n->size);
        if (rc == VAULT_OK && !zero && !in_data)
            start = at;
        in_data = !zero;
        any_zero |= zero;
        at += len;
    }
    if (rc == VAULT_OK && in_data)
        sparse_add(map, start, at, n->size);
    if (rc == VAULT_OK && map->n == 0) { /* all zeros: one empty region */
        map->data[0][0] = at;
        map->data[0][1] = 0;
        map->n = 1;
    }
    if (rc != VAULT_OK || !any_zero || at != n->size) {
        free(map->data);
        map->data = NULL;
        map->n = 0;
    }
    return vlt_error_stops(rc) ? rc : VAULT_OK;
}

/* Writes the header of the current item.  *written: 0 when the entry
 * was refused (reported); the return value is for fatal errors. */
static vault_error tar_header(restorer *r, const tree_node *n,
                              const char *hardlink, const sparse_map *map,
                              int *written)
{
    *written = 0;
    struct archive_entry *e = archive_entry_new();
    if (!e)
        return vlt_restore_nomem();
    archive_entry_set_pathname(e, r->path);
    switch (n->type) {
    case NODE_FILE: archive_entry_set_filetype(e, AE_IFREG); break;
    case NODE_DIR: archive_entry_set_filetype(e, AE_IFDIR); break;
    case NODE_SYMLINK: archive_entry_set_filetype(e, AE_IFLNK); break;
    case NODE_FIFO: archive_entry_set_filetype(e, AE_IFIFO); break;
    case NODE_CHARDEV: archive_entry_set_filetype(e, AE_IFCHR); break;
    case NODE_BLOCKDEV: archive_entry_set_filetype(e, AE_IFBLK); break;
    case NODE_SOCKET: break; /* never asked for */
    }
    mode_t perm = (mode_t)(n->mode & 07777);
    if (r->drop && n->type != NODE_DIR)
        perm &= (mode_t) ~(S_ISUID | S_ISGID);
    archive_entry_set_perm(e, perm);
    archive_entry_set_uid(e, n->uid);
    archive_entry_set_gid(e, n->gid);
    if (n->user && n->user[0])
        archive_entry_set_uname(e, n->user);
    if (n->group && n->group[0])
        archive_entry_set_gname(e, n->group);
    /* libarchive's pax writer prints a time as "<sec>.<nsec>", which a
     * reader takes as sec + 0.nsec even when sec is negative: before 1970
     * -301246201 s + 0.75 s would come out as -301246201.75 instead of
     * -301246200.25.  Handing it the time rounded towards zero makes the
     * printed decimal the true value. */
    int64_t sec = n->mtime_sec;
    long nsec = (long)n->mtime_nsec;
    if (sec < 0 && nsec > 0) {
        sec += 1;
        nsec = 1000000000L - nsec;
    }
    archive_entry_set_mtime(e, (time_t)sec, nsec);
    if (n->type == NODE_FILE && !hardlink)
        archive_entry_set_size(e, (la_int64_t)n->size);
    else
        archive_entry_set_size(e, 0);
    if (hardlink)
        archive_entry_set_hardlink(e, hardlink);
    if (n->type == NODE_SYMLINK)
        archive_entry_set_symlink(e, n->target);
    if (n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV)
        archive_entry_set_rdev(e, (dev_t)n->rdev);
    /* Written as GNU sparse 1.0 pax attributes; libarchive then drops the
     * zeros written for the holes. */
    for (size_t i = 0; map && i < map->n; i++)
        archive_entry_sparse_add_entry(e, (la_int64_t)map->data[i][0],
                                       (la_int64_t)map->data[i][1]);
    for (uint32_t i = 0; i < n->n_xattrs; i++)
        if (!(r->drop && vlt_restore_is_capability(&n->xattrs[i])))
            archive_entry_xattr_add_entry(e, n->xattrs[i].name,
                                          n->xattrs[i].value,
                                          n->xattrs[i].value_len);
    int ret = archive_write_header(r->ar, e);
    archive_entry_free(e);
    if (ret == ARCHIVE_FATAL)
        return tar_fatal(r, "write header");
    if (ret < ARCHIVE_WARN) {
        vlt_restore_report_last(r, vlt_fail(VAULT_E_IO, "tar: %s",
                                  archive_error_string(r->ar)));
        return VAULT_OK;
    }
    *written = 1;
    return VAULT_OK;
}

static vault_error tar_sink(restorer *r, void *ctx, const uint8_t *data,
                            size_t len)
{
    (void)ctx;
    static const uint8_t zeros[65536];
    while (len > 0) {
        /* Zeros in a hole of the sparse map cost libarchive nothing. */
        size_t n = data ? len : len < sizeof zeros ? len : sizeof zeros;
        la_ssize_t w = archive_write_data(r->ar, data ? data : zeros, n);
        if (w <= 0)
            return tar_fatal(r, "write data");
        if (data)
            data += w;
        len -= (size_t)w;
    }
    return VAULT_OK;
}

static vault_error tar_file(restorer *r, const tree_node *n)
{
    const char *first = vlt_restore_links_find(r, n);
    /* The header promises n->size bytes before any content is read; a
     * hostile tree claiming more than its chunks can hold would have us
     * pad with zeros without end.  Chunks are at most CHUNKER_MAX_SIZE. */
    if (!first && n->size > (uint64_t)n->n_content * CHUNKER_MAX_SIZE) {
        vlt_restore_report_last(r, vlt_fail(VAULT_E_CORRUPT,
                                  "size %llu is more than its %u chunks "
                                  "can hold",
                                  (unsigned long long)n->size,
                                  (unsigned)n->n_content));
        return VAULT_OK;
    }
    sparse_map map = {NULL, 0};
    vault_error rc = first ? VAULT_OK : tar_sparse_map(r, n, &map);
    int written = 0;
    if (rc == VAULT_OK)
        rc = tar_header(r, n, first, &map, &written);
    free(map.data);
    if (rc != VAULT_OK || !written)
        return rc;
    if (first) {
        r->stats->files++;
        vlt_restore_progress(r, 0);
        return VAULT_OK;
    }
    uint64_t done;
    rc = vlt_restore_content_each(r, n, tar_sink, NULL, &done);
    if (r->tar_broken || vlt_error_stops(rc))
        return rc;
    if (rc != VAULT_OK) {
        /* The header promised n->size bytes: zeros keep the stream
         * well-formed, the report says this entry is damaged. */
        vlt_restore_report_last(r, rc);
        return tar_sink(r, NULL, NULL, n->size - done);
    }
    r->stats->files++;
    r->stats->bytes += n->size;
    vlt_restore_progress(r, n->size);
    return vlt_restore_links_add(r, n);
}

static vault_error tar_special(restorer *r, const tree_node *n)
{
    int written;
    vault_error rc = tar_header(r, n, NULL, NULL, &written);
    if (rc == VAULT_OK && written) {
        if (n->type == NODE_SYMLINK)
            r->stats->symlinks++;
        else
            r->stats->others++;
    }
    return rc;
}

/* A directory's header (none for the root); one that cannot be written
 * is not walked (reported, made stays NULL). */
static vault_error tar_dir_enter(restorer *r, const tree_node *n, void **made)
{
    int written = 1;
    vault_error rc = n ? tar_header(r, n, NULL, NULL, &written) : VAULT_OK;
    if (rc == VAULT_OK && written) {
        if (n)
            r->stats->dirs++;
        *made = r; /* no state of its own: the stream follows the walk */
    }
    return rc;
}

static vault_error tar_dir_leave(restorer *r, tree *t, void *made,
                                 int stopping)
{
    (void)r;
    (void)t;
    (void)made;
    (void)stopping;
    return VAULT_OK;
}

/* ---- the stream --------------------------------------------------------- */

static vault_error tar_open(restorer *r)
{
    vault_error rc = vlt_archive_load();
    if (rc != VAULT_OK)
        return rc;
    r->ar = archive_write_new();
    if (!r->ar)
        return vlt_restore_nomem();
    if (archive_write_set_format_pax(r->ar) != ARCHIVE_OK ||
        archive_write_open_fd(r->ar, r->opt->tar_fd) != ARCHIVE_OK)
        return tar_fatal(r, "open");
    return VAULT_OK;
}

static vault_error tar_walked(restorer *r, vault_error rc)
{
    (void)r;
    return rc;
}

static vault_error tar_close(restorer *r)
{
    if (archive_write_close(r->ar) != ARCHIVE_OK)
        return tar_fatal(r, "close");
    return VAULT_OK;
}

static void tar_release(restorer *r)
{
    if (r->ar)
        archive_write_free(r->ar);
    r->ar = NULL;
}

const restore_sink vlt_restore_tar_sink = {
    .open = tar_open,
    .dir_enter = tar_dir_enter,
    .dir_leave = tar_dir_leave,
    .walked = tar_walked,
    .file = tar_file,
    .special = tar_special,
    .close = tar_close,
    .release = tar_release,
};
