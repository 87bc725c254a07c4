/*
 * archiver.c - `add`: one snapshot of the paths given.
 *
 * This file is the frame: the add marker that holds back a prune, the
 * index, the files cache, the source (the file system, source_fs.c), the
 * pipeline's workers (add_pipeline.c), the walk into trees (add_tree.c),
 * and last the snapshot, the commit point (format spec "Write
 * ordering").  add_internal.h describes how the parts work together.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/internal.h"
#include "format/locks.h"
#include "ops/add/add_internal.h"
#include "repo/client_cache.h"

#define READ_BLOCK (8u * 1024 * 1024)

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
    (void)vlt_lock_remove(v, name);
    if (rc != VAULT_OK)
        vlt_fail(rc, "%s", detail);
    return rc;
}

vault_error vault_add(vault_t *v, const vault_add_options *o,
                      vault_add_result *r)
{
    memset(r, 0, sizeof *r);
    if (!v || !o || !o->paths || o->n_paths == 0)
        return vlt_fail(VAULT_E_INVALID, "add: nothing to add");
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
    rec.time_sec = now.tv_sec;
    rec.time_nsec = (uint32_t)now.tv_nsec;

    /* The add marker goes up before the index is read: a prune that
     * condemns packs after this point sees it and waits for this add
     * (format spec "Pruning without locks"). */
    lock_record marker = {.kind = LOCK_ADD, .time = vlt_now(),
                          .pid = (uint32_t)getpid()};
    if (gethostname(marker.host, sizeof marker.host - 1) != 0)
        marker.host[0] = '\0';
    vault_error rc = vlt_lock_write(v, &marker);
    if (rc != VAULT_OK)
        return rc;
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
    add_source fs = {0};
    if (rc == VAULT_OK)
        rc = vlt_add_source_fs_open(o, a->cache, source_report, a, &fs);
    a->src = &fs;
    if (rc == VAULT_OK)
        rc = vlt_add_walk(a, &rec);
    vlt_add_source_fs_close(&fs); /* stops its read-ahead */
    a->src = NULL;
    rc = vlt_add_pipeline_finish(a, rc);

    if (rc == VAULT_OK) {
        char host[256] = "";
        if (o->hostname)
            snprintf(host, sizeof host, "%s", o->hostname);
        else if (gethostname(host, sizeof host - 1) != 0)
            host[0] = '\0';
        rec.hostname = strdup(host);
        rec.username = vlt_add_owner_name(geteuid(), 0);
        rec.tags = calloc(o->n_tags ? o->n_tags : 1, sizeof *rec.tags);
        for (size_t i = 0; rec.tags && i < o->n_tags; i++)
            if ((rec.tags[i] = strdup(o->tags[i])) != NULL)
                rec.n_tags++;
        rec.files = r->files;
        rec.dirs = r->dirs;
        rec.bytes_read = r->bytes_read;
        rec.bytes_added = r->bytes_added;
        if (!rec.hostname || !rec.username || rec.n_tags != o->n_tags)
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        if (rc == VAULT_OK)
            rc = vlt_repo_snapshot_save(v, &rec, r->snapshot_id);
    }
    if (rc == VAULT_OK && vlt_filecache_save(a->cache) != VAULT_OK) {
        /* The snapshot is committed; a cache that failed to save only
         * makes the next add slower. */
    }
    vlt_snapshot_clear(&rec);
    vlt_filecache_free(a->cache);
    vlt_add_pipeline_free(a);
    free(a->buf);
    free(a);
    /* Committed (or failed): this add no longer holds back a prune. */
    marker_remove(v, marker.name, rc);
    if (rc != VAULT_OK) {
        /* Pending entries of an aborted add point nowhere. */
        vlt_repo_forget_index(v);
        return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return VAULT_OK;
}
