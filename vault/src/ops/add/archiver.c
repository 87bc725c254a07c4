/*
 * archiver.c - `add`: one snapshot of the paths given.
 *
 * This file is the frame: the add marker that holds back a prune, the
 * index, the files cache, the source (the file system, source_fs.c; for
 * copy, another vault's snapshot: vlt_add_run), the
 * pipeline's workers (add_pipeline.c), the walk into trees (add_tree.c),
 * and last the snapshot, the commit point (format spec "Write
 * ordering").  add_internal.h describes how the parts work together.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/interrupt.h"
#include "format/locks.h"
#include "ops/add/add_filter.h"
#include "ops/add/add_internal.h"
#include "ops/archive_lib.h"
#include "repo/client_cache.h"
#include "repo/marker_ahead.h"

/* What one read asks for.  With 1 MiB instead of 8 the read buffer (this
 * and a chunk) is 7 MiB smaller, and add was not slower (cold /usr/share
 * copy). */
#define READ_BLOCK (1u * 1024 * 1024)

/* The source's reports: counted, and passed on to the caller. */
static void source_report(void *ctx, const char *path, const char *detail)
{
    adder *a = ctx;
    a->r->errors++;
    if (a->o->on_error)
        a->o->on_error(a->o->on_error_ctx, path, detail);
}

static unsigned worker_count(const vault_add_options *o)
{
    if (o->threads > 0)
        return (unsigned)(o->threads > 256 ? 256 : o->threads);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)(n > 64 ? 64 : n) : 1;
}

/* Takes the add marker down.  If that fails the marker goes stale, which
 * only delays pruning; and a failing add keeps its own detail, not the
 * removal's (with a dead disk both fail, and the first is the news). */
static vault_error marker_remove(vault_t *v, const char *name, vault_error rc)
{
    char detail[512] = "";
    if (rc != VAULT_OK)
        snprintf(detail, sizeof detail, "%s", vault_last_error());
    if (name[0]) { /* "": a dry run's, never written */
        vlt_interrupt_shield(1); /* also after an interruption: it goes */
        (void)vlt_lock_remove(v, name);
        vlt_interrupt_shield(0);
    }
    v->own_marker[0] = '\0';
    if (rc != VAULT_OK)
        vlt_fail(rc, "%s", detail);
    return rc;
}

/* The record's strings: this host and user, o's tags; or as's. */
static vault_error record_origin(snapshot_record *rec,
                                 const vault_add_options *o,
                                 const snapshot_record *as)
{
    if (as) {
        /* what the snapshot holds is the original's; the bytes read and
         * added are this add's */
        rec->files = as->files;
        rec->dirs = as->dirs;
        /* the paths walked are the root's entries; the record keeps the
         * paths the original add was given */
        for (uint32_t i = 0; i < rec->n_paths; i++)
            free(rec->paths[i]);
        free(rec->paths);
        rec->paths = NULL;
        rec->n_paths = 0;
        rec->hostname = strdup(as->hostname ? as->hostname : "");
        rec->username = strdup(as->username ? as->username : "");
        rec->paths = calloc(as->n_paths ? as->n_paths : 1,
                            sizeof *rec->paths);
        rec->tags = calloc(as->n_tags ? as->n_tags : 1, sizeof *rec->tags);
        for (uint32_t i = 0; rec->paths && i < as->n_paths; i++)
            if ((rec->paths[i] = strdup(as->paths[i])) != NULL)
                rec->n_paths++;
        for (uint32_t i = 0; rec->tags && i < as->n_tags; i++)
            if ((rec->tags[i] = strdup(as->tags[i])) != NULL)
                rec->n_tags++;
        if (!rec->hostname || !rec->username || rec->n_paths != as->n_paths ||
            rec->n_tags != as->n_tags)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        return VAULT_OK;
    }
    char host[256] = "";
    if (o->hostname)
        snprintf(host, sizeof host, "%s", o->hostname);
    else if (gethostname(host, sizeof host - 1) != 0)
        host[0] = '\0';
    rec->hostname = strdup(host);
    rec->username = vlt_add_owner_name(geteuid(), 0);
    rec->tags = calloc(o->n_tags ? o->n_tags : 1, sizeof *rec->tags);
    for (size_t i = 0; rec->tags && i < o->n_tags; i++)
        if ((rec->tags[i] = strdup(o->tags[i])) != NULL)
            rec->n_tags++;
    if (!rec->hostname || !rec->username || rec->n_tags != o->n_tags)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

static vault_error open_fs(void *ctx, const vault_add_options *o,
                           filecache *cache, add_report_fn report,
                           void *report_ctx, add_source *out)
{
    (void)ctx;
    return vlt_add_source_fs_open(o, cache, report, report_ctx, out);
}

/* The totals of a progress report: a walk of the same paths beside the
 * add's, only counting (restic's scanner), started before the add
 * marker goes up.  It stats what the add will
 * stat, so its cost is the add's metadata reads once more, mostly from
 * the kernel's cache the add warms (or the scanner warms for it). */
typedef struct scanner {
    vlt_progress *progress;
    const vault_add_options *o;
    atomic_int stop;
    pthread_t thread;
    int started;
} scanner;

static void *scan_run(void *arg)
{
    scanner *sc = arg;
    add_source src;
    int complete = 0;
    uint64_t files = 0, bytes = 0;
    if (vlt_add_source_fs_scan_open(sc->o, &src) == VAULT_OK) {
        add_item it;
        while (!atomic_load_explicit(&sc->stop, memory_order_relaxed)) {
            vault_error rc = src.next(src.ctx, &it);
            if (rc == VAULT_OK && it.kind == ADD_ITEM_NODE &&
                it.node.type == NODE_FILE) {
                files++;
                bytes += it.node.size;
            }
            vlt_tree_node_clear(&it.node);
            if (rc != VAULT_OK || it.kind == ADD_ITEM_END) {
                complete = rc == VAULT_OK;
                break;
            }
            if (files >= 256) { /* a few atomic adds, not one a file */
                vlt_progress_total(sc->progress, files, bytes, 0);
                files = bytes = 0;
            }
        }
    }
    vlt_add_source_fs_close(&src);
    vlt_progress_total(sc->progress, files, bytes, complete);
    return NULL;
}

static void scan_start(scanner *sc, vault_t *v, const vault_add_options *o)
{
    memset(sc, 0, sizeof *sc);
    sc->progress = &v->progress;
    sc->o = o;
    /* On remote storage it runs without a progress report too: the add
     * marker and the listings after it are round trips in turn before
     * the add walks a single folder, and the scanner's walk meanwhile
     * brings the folders and inodes into the kernel's cache, so that an
     * unchanged re-add then walks from memory (cold, that walk was most
     * of the time between the index's listing and the snapshot's save:
     * ~0.15 s of a 0.8 s re-add over a 100 ms link).  A local vault has
     * no such wait to fill. */
    if (vlt_progress_on(&v->progress) || !v->be->is_local)
        sc->started = pthread_create(&sc->thread, NULL, scan_run, sc) == 0;
}

static void scan_stop(scanner *sc)
{
    if (!sc->started)
        return;
    atomic_store(&sc->stop, 1);
    pthread_join(sc->thread, NULL);
}

static vault_error open_stream(void *ctx, const vault_add_options *o,
                               filecache *cache, add_report_fn report,
                               void *report_ctx, add_source *out)
{
    (void)ctx;
    (void)cache; /* a stream has no identity to know it unchanged by */
    return o->tar ? vlt_add_source_tar_open(o, report, report_ctx, out)
                  : vlt_add_source_stdin_open(o, report, report_ctx, out);
}

/* vault_add of one stream: standard input, or an archive. */
static vault_error add_stream(vault_t *v, const vault_add_options *o,
                              vault_add_result *r)
{
    if (o->n_paths || o->n_files_from || o->n_files_from_verbatim ||
        o->n_files_from_raw)
        return vlt_fail(VAULT_E_INVALID,
                        "add: %s takes no paths to back up",
                        o->tar ? "an archive" : "standard input");
    /* Excludes are for walks of the file system: silently ignored they
     * would look like they worked. */
    if (o->n_excludes || o->n_iexcludes || o->n_exclude_files ||
        o->n_iexclude_files || o->exclude_caches || o->n_exclude_if_present ||
        o->exclude_larger_than || o->one_file_system)
        return vlt_fail(VAULT_E_INVALID,
                        "add: excludes apply to paths walked, not to %s",
                        o->tar ? "an archive" : "standard input");
    if (o->tar && o->stdin_filename)
        return vlt_fail(VAULT_E_INVALID,
                        "add: standard input or an archive, not both");
    if (!(o->tar ? o->tar : o->stdin_filename)[0])
        return vlt_fail(VAULT_E_INVALID, "add: an empty %s",
                        o->tar ? "archive name" : "file name");
    /* An archive is read by libarchive, loaded on first use: without it
     * the add stops here, before its marker goes up and the index is
     * read (the archive's open would only say so then). */
    if (o->tar) {
        vault_error rc = vlt_archive_load();
        if (rc != VAULT_OK)
            return rc;
    }
    /* The path the snapshot records: the stdin file's (its item's), or
     * the archive's as an absolute path ("-" as is). */
    char abs[PATH_MAX + 1];
    const char *recorded = o->tar ? o->tar : o->stdin_filename;
    if (o->tar && strcmp(o->tar, "-") != 0) {
        vault_error rc = vlt_add_absolute_path(o->tar, abs);
        if (rc != VAULT_OK)
            return rc;
        recorded = abs;
    }
    vault_add_options one = *o;
    one.paths = &recorded;
    one.n_paths = 1;
    add_origin stream = {.open = open_stream,
                         .close = vlt_add_source_stream_close};
    return vlt_add_run(v, &one, &stream, r);
}

vault_error vault_add(vault_t *v, const vault_add_options *o,
                      vault_add_result *r)
{
    if (r)
        memset(r, 0, sizeof *r);
    if (!v || !o || !r)
        return vlt_fail(VAULT_E_INVALID, "add: nothing to add");
    if (o->n_paths && !o->paths)
        return vlt_fail(VAULT_E_INVALID, "add: n_paths without paths");
    if (o->stdin_filename || o->tar)
        return add_stream(v, o, r);
    /* Malformed patterns and unreadable exclude files are refused before
     * the vault is touched (the source reads them again: they are
     * small). */
    add_filter check;
    vault_error rc = vlt_add_filter_init(&check, o);
    vlt_add_filter_free(&check);
    if (rc != VAULT_OK)
        return rc;
    char **paths = NULL;
    size_t n_paths = 0;
    rc = vlt_add_paths_gather(o, &paths, &n_paths);
    if (rc != VAULT_OK)
        return rc;
    if (n_paths == 0) {
        free(paths);
        return vlt_fail(VAULT_E_INVALID, "add: nothing to add");
    }
    vault_add_options all = *o;
    all.paths = (const char *const *)paths;
    all.n_paths = n_paths;
    add_origin fs = {.open = open_fs, .close = vlt_add_source_fs_close};
    vlt_progress_begin(&v->progress, "add", "files");
    scanner sc;
    scan_start(&sc, v, &all);
    rc = vlt_add_run(v, &all, &fs, r);
    scan_stop(&sc);
    vlt_progress_end(&v->progress);
    vlt_add_paths_free(paths, n_paths);
    return rc;
}

vault_error vlt_add_run(vault_t *v, const vault_add_options *o,
                        const add_origin *origin, vault_add_result *r)
{
    memset(r, 0, sizeof *r);
    if (o->compression > VAULT_COMPRESSION_MAX_LEVEL ||
        o->compression < VAULT_COMPRESSION_OFF)
        return vlt_fail(VAULT_E_INVALID,
                        "compression level %d: use 1..19 or off",
                        o->compression);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snapshot_record rec = {0};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    rec.time_sec = origin->as ? origin->as->time_sec : now.tv_sec;
    rec.time_nsec = origin->as ? origin->as->time_nsec : (uint32_t)now.tv_nsec;

    /* The add marker goes up before the index is read: a prune that
     * condemns packs after this point sees it and waits for this add
     * (format spec "Pruning without locks"). */
    lock_record marker = {.kind = LOCK_ADD}; /* a dry run's: no name */
    vault_error rc = VAULT_OK;
    /* what the marker must come before is listed after it */
    vlt_repo_list_ahead_done(v);
    /* A dry run writes nothing, and holds back no prune: it stores no
     * blob a prune could take away.  A marker the open put up already
     * (vlt_repo_marker_ahead_take) is this add's; a dry run's open
     * should not have asked for one, and it is taken down. */
    if (o->dry_run)
        vlt_repo_marker_ahead_drop(v);
    else if (!vlt_repo_marker_ahead_take(v, &marker)) {
        vlt_lock_add_marker_init(&marker);
        rc = vlt_lock_write(v, &marker);
    }
    if (rc != VAULT_OK)
        return rc;
    memcpy(v->own_marker, marker.name, sizeof v->own_marker);
    vlt_repo_forget_index(v); /* marks may have appeared since it was loaded */
    rc = vlt_repo_load_index(v);
    if (rc != VAULT_OK)
        return marker_remove(v, marker.name, rc);

    adder *a = calloc(1, sizeof *a);
    if (!a)
        return marker_remove(v, marker.name,
                             vlt_fail(VAULT_E_NOMEM, "out of memory"));
    a->v = v;
    a->o = o;
    a->r = r;
    if (o->compression == 0)
        a->level = VAULT_COMPRESSION_DEFAULT_LEVEL;
    else if (o->compression == VAULT_COMPRESSION_OFF)
        a->level = 0; /* stores blobs uncompressed */
    else
        a->level = o->compression;
    vlt_chunker_table_init(&a->chunker, v->keys->gear_key);
    a->waiting_tail = &a->waiting;
    a->buf_cap = READ_BLOCK + CHUNKER_MAX_SIZE;
    a->buf = malloc(a->buf_cap);
    char cache_buf[PATH_MAX];
    const char *cache_dir =
        o->cache_dir ? o->cache_dir : vlt_cache_dir_default(cache_buf,
                                                            sizeof cache_buf);
    if (!a->buf)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK)
        rc = vlt_filecache_open(cache_dir, v->keys, &a->cache);
    vault_error prc = vlt_add_pipeline_start(a, worker_count(o));
    if (rc == VAULT_OK)
        rc = prc;
    /* Packs an interrupted add uploaded but never listed are taken over
     * only now, with this add's marker up: a prune that has not condemned
     * them yet sees the marker and leaves unindexed packs alone (format
     * spec section 15a, phase 1), and one that did condemn them is in
     * the index already (pack_known skips them), its sweep held back by
     * the marker until this add's segments list them. */
    if (rc == VAULT_OK && !o->dry_run) {
        vlt_upload_journal_open(cache_dir, v->keys, &a->journal);
        rc = vlt_add_adopt_interrupted(a);
    }
    add_source src = {0};
    if (rc == VAULT_OK)
        rc = origin->open(origin->ctx, o, a->cache, source_report, a, &src);
    a->src = &src;
    if (rc == VAULT_OK)
        rc = vlt_add_walk(a, &rec);
    origin->close(&src); /* stops its read-ahead */
    a->src = NULL;
    rc = vlt_add_pipeline_finish(a, rc);

    if (rc == VAULT_OK) {
        rec.files = r->files;
        rec.dirs = r->dirs;
        rec.bytes_read = r->bytes_read;
        rec.bytes_added = r->bytes_added;
        rc = record_origin(&rec, o, origin->as);
        if (rc == VAULT_OK && !o->dry_run)
            rc = vlt_repo_snapshot_save(v, &rec, r->snapshot_id);
    }
    if (rc == VAULT_OK && !o->dry_run &&
        vlt_filecache_save(a->cache) != VAULT_OK) {
        /* The snapshot is committed; a cache that failed to save only
         * makes the next add slower. */
    }
    /* Committed: every pack journaled is listed; else the journals stay
     * for the next add. */
    vlt_upload_journal_close(a->journal, rc == VAULT_OK);
    vlt_snapshot_clear(&rec);
    vlt_filecache_free(a->cache);
    vlt_add_pipeline_free(a);
    free(a->buf);
    free(a);
    /* Committed (or failed): this add no longer holds back a prune. */
    marker_remove(v, marker.name, rc);
    if (rc != VAULT_OK || o->dry_run) {
        /* Pending entries of an aborted add (or a dry run) point
         * nowhere. */
        vlt_repo_forget_index(v);
        if (rc != VAULT_OK)
            return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return VAULT_OK;
}
