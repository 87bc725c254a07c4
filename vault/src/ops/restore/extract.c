/*
 * extract.c - `extract`: the snapshot's trees and chunks, read through
 * the vault handle, handed to the restorer (ops/restore/).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/internal.h"
#include "common/pathmatch.h"
#include "ops/restore/restore.h"
#include "ops/snapshot_list.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

static vault_error load_tree(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *out)
{
    return vlt_repo_load_tree(ctx, id, out);
}

static vault_error load_chunk(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                              uint8_t **data, size_t *len)
{
    return vlt_repo_load_blob(ctx, id, BLOB_DATA, data, len);
}

static vault_error chunk_size(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                              uint32_t *len, int *zero)
{
    return vlt_repo_chunk_size(ctx, id, len, zero);
}

static vault_error chunk_stored(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                                uint32_t *stored)
{
    return vlt_repo_chunk_stored(ctx, id, stored);
}

static int prefetch_fits(void *ctx, uint64_t bytes, size_t blobs)
{
    return vlt_repo_prefetch_fits(ctx, bytes, blobs);
}

static vault_error load_chunks(void *ctx, const uint8_t (*ids)[CHUNK_ID_BYTES],
                               size_t n,
                               vault_error (*fn)(void *fn_ctx,
                                                 const uint8_t *data,
                                                 size_t len),
                               void *fn_ctx)
{
    return vlt_repo_load_blobs(ctx, ids, n, BLOB_DATA, fn, fn_ctx);
}

static void *prefetch(void *ctx, const uint8_t (*ids)[CHUNK_ID_BYTES],
                      size_t n, int trees)
{
    return vlt_repo_prefetch_plan(ctx, ids, n, trees ? BLOB_TREE : BLOB_DATA);
}

static void prefetch_load(void *ctx, void *plan)
{
    (void)ctx;
    vlt_repo_prefetch_load(plan);
}

static void prefetch_promise(void *ctx, void *plan)
{
    (void)ctx;
    vlt_repo_prefetch_promise(plan);
}

static vault_error peek_tree(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *out)
{
    return vlt_repo_peek_tree(ctx, id, out);
}

/* Threads for restoring files: one per core (the walker works too while
 * it waits), at most 8; but at least as many as the storage takes
 * requests at once, a file's loads being round trips the threads wait
 * on (at most 16). */
static unsigned extract_workers(const vault_t *v)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned cores = n < 1 ? 1 : n > 8 ? 8 : (unsigned)n;
    unsigned conns = backend_connections(v->be);
    if (conns > 16)
        conns = 16;
    return cores > conns ? cores : conns;
}

/* Whether rec was written by another member than the one that opened v
 * (format spec "Extraction": its privileges are withheld). */
static int snapshot_is_foreign(const vault_t *v, const snapshot_record *rec)
{
    return memcmp(rec->author, v->keys->sign_pk, SIGN_PUBLIC_BYTES) != 0;
}

/* Finds o->root_path below root into *at (malloc'ed: the caller frees it
 * and clears its tree).  A file takes no include paths: they would be
 * below it. */
static vault_error start_at(vault_t *v, const uint8_t root[CHUNK_ID_BYTES],
                            const vault_extract_options *o,
                            vlt_tree_found **at)
{
    *at = malloc(sizeof **at);
    if (!*at)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc = vlt_tree_find(v, root, o->root_path, *at);
    if (rc == VAULT_OK && (*at)->entry && (*at)->entry->type != NODE_DIR &&
        o->n_include)
        rc = vlt_fail(VAULT_E_INVALID,
                      "%s: a file in the snapshot; include paths need a "
                      "folder",
                      o->root_path);
    return rc;
}

/* The pattern filters of o, built: excludes into f->exclude, includes
 * found by a walk of root (whose snapshot path is prefix) into f->keep. */
typedef struct pattern_filters {
    vlt_pattern_list exclude[2]; /* exact, case folded */
    vlt_pattern_list include[2];
    restore_keep keep;
    int has_exclude, has_include;
    char prefix[VLT_TREE_WALK_PATH_MAX];
} pattern_filters;

static vault_error add_patterns(vlt_pattern_list *l, const char *const *p,
                                size_t n, int *any)
{
    if (n && !p)
        return vlt_fail(VAULT_E_INVALID, "extract: patterns missing");
    for (size_t i = 0; i < n; i++) {
        vault_error rc = vlt_pattern_list_add(l, p[i], 0);
        if (rc != VAULT_OK)
            return rc;
    }
    *any |= l->n > 0;
    return VAULT_OK;
}

static vault_error include_node(void *ctx, const vlt_tree_walk_at *at,
                                const tree_node *n,
                                vlt_tree_walk_action *action)
{
    pattern_filters *f = ctx;
    char full[VLT_TREE_WALK_PATH_MAX];
    int len = snprintf(full, sizeof full, "%s%s", f->prefix, at->path);
    if (len <= 0 || (size_t)len >= sizeof full)
        return VAULT_OK; /* the restore reports a path too long */
    for (int i = 0; i < 2; i++) {
        if (vlt_pattern_list_match(&f->include[i], full, n->type == NODE_DIR,
                                   NULL)) {
            *action = VLT_TREE_WALK_SKIP; /* kept whole */
            return vlt_restore_keep_add(&f->keep, at->path);
        }
    }
    return VAULT_OK;
}

static vault_error filters_build(vault_t *v, const vault_extract_options *o,
                                 const uint8_t root[CHUNK_ID_BYTES],
                                 pattern_filters *f)
{
    f->include[1].flags = f->exclude[1].flags = VLT_PATTERN_CASEFOLD;
    vault_error rc = add_patterns(&f->exclude[0], o->exclude_patterns,
                                  o->n_exclude_patterns, &f->has_exclude);
    if (rc == VAULT_OK)
        rc = add_patterns(&f->exclude[1], o->iexclude_patterns,
                          o->n_iexclude_patterns, &f->has_exclude);
    if (rc == VAULT_OK)
        rc = add_patterns(&f->include[0], o->include_patterns,
                          o->n_include_patterns, &f->has_include);
    if (rc == VAULT_OK)
        rc = add_patterns(&f->include[1], o->iinclude_patterns,
                          o->n_iinclude_patterns, &f->has_include);
    if (rc != VAULT_OK || !f->has_include)
        return rc;
    /* What the includes select, found before anything is written: a
     * folder is made only on the way to something selected. */
    vlt_tree_walk w = {.v = v, .ctx = f, .node = include_node};
    return vlt_tree_walk_paths(&w, root, "");
}

static void filters_free(pattern_filters *f)
{
    for (int i = 0; i < 2; i++) {
        vlt_pattern_list_free(&f->exclude[i]);
        vlt_pattern_list_free(&f->include[i]);
    }
    vlt_restore_keep_free(&f->keep);
}

static vault_error extract_run(vault_t *v, const char *ref,
                               const vault_extract_options *o,
                               vault_extract_result *result)
{
    memset(result, 0, sizeof *result);
    if (o->tar && o->tar_fd < 0)
        return vlt_fail(VAULT_E_INVALID, "extract: tar_fd %d", o->tar_fd);
    snapshot_record rec;
    vault_error rc = vlt_snapshot_open_ref(v, ref, &rec);
    if (rc != VAULT_OK)
        return rc;
    restore_source src = {load_tree,   load_chunk, chunk_size,    v,
                          load_chunks, prefetch,   prefetch_load, peek_tree,
                          prefetch_promise, NULL, NULL, 0};
    /* Over a network a window's requests are round trips: windows are
     * cut by what they hold as stored.  On this machine's disk they stay
     * cut by plaintext, smaller, as memory was measured for them. */
    if (!v->be->is_local) {
        src.chunk_stored = chunk_stored;
        src.prefetch_fits = prefetch_fits;
        src.far = vlt_repo_prefetch_far(v);
    }
    restore_options ro = {
        .target_dir = o->target_dir,
        .tar_fd = o->tar ? o->tar_fd : -1,
        .overwrite = o->overwrite,
        .restore_owner = o->restore_owner,
        .drop_privileges = !o->same_privileges && snapshot_is_foreign(v, &rec),
        .include = o->include,
        .n_include = o->n_include,
        .on_error = o->on_error,
        .on_error_ctx = o->on_error_ctx,
        .workers = extract_workers(v),
        .tree_memory = vlt_repo_tree_memory_limit(v),
        .progress = &v->progress,
    };
    /* The record counts the files add saw: the whole, unless only a part
     * is restored. */
    int whole = !o->n_include && !o->root_path && !o->n_exclude_patterns &&
                !o->n_iexclude_patterns && !o->n_include_patterns &&
                !o->n_iinclude_patterns;
    vlt_progress_total(&v->progress, whole ? rec.files : 0, 0, whole);
    restore_stats st = {0};
    vlt_tree_found *at = NULL;
    const uint8_t *root = rec.tree;
    const char *entry_name[1];
    if (o->root_path) {
        rc = start_at(v, rec.tree, o, &at);
        if (rc == VAULT_OK && at->entry && at->entry->type == NODE_DIR) {
            root = at->entry->subtree;
        } else if (rc == VAULT_OK && at->entry) {
            /* A file: restored from its folder, by its name alone. */
            root = at->dir;
            entry_name[0] = at->entry->name;
            ro.include = entry_name;
            ro.n_include = 1;
        }
    }
    /* The snapshot path of root, which the patterns see in front of
     * the walk's paths. */
    pattern_filters *f = rc == VAULT_OK ? calloc(1, sizeof *f) : NULL;
    if (rc == VAULT_OK && !f)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK && at) {
        snprintf(f->prefix, sizeof f->prefix, "%s", at->path);
        if (at->entry && at->entry->type != NODE_DIR) {
            char *slash = strrchr(f->prefix, '/');
            if (slash)
                *slash = '\0'; /* the file's folder */
        }
    }
    if (rc == VAULT_OK)
        rc = filters_build(v, o, root, f);
    if (rc == VAULT_OK) {
        ro.path_prefix = f->prefix;
        ro.exclude[0] = f->exclude[0].n ? &f->exclude[0] : NULL;
        ro.exclude[1] = f->exclude[1].n ? &f->exclude[1] : NULL;
        ro.keep = f->has_include ? &f->keep : NULL;
        rc = vlt_restore_run(&src, root, &ro, &st);
    }
    if (f)
        filters_free(f);
    free(f);
    if (at)
        vlt_tree_clear(&at->dir_tree);
    free(at);
    vlt_snapshot_clear(&rec);
    result->files = st.files;
    result->dirs = st.dirs;
    result->symlinks = st.symlinks;
    result->others = st.others;
    result->bytes = st.bytes;
    result->errors = st.errors;
    result->withheld = st.withheld;
    result->skipped = st.skipped;
    result->differ = st.differ;
    result->temporaries_removed = st.temporaries_removed;
    return rc;
}

vault_error vault_extract(vault_t *v, const char *ref,
                          const vault_extract_options *o,
                          vault_extract_result *result)
{
    vlt_repo_list_ahead_read(v);
    vlt_progress_begin(&v->progress, "extract", "files");
    vault_error rc = extract_run(v, ref, o, result);
    vlt_progress_end(&v->progress);
    vlt_repo_list_ahead_done(v);
    return rc;
}

/* vault_dump of a file: its chunks, in order, written to fd. */
typedef struct dump_sink {
    int fd;
    uint64_t written;
    const char *path;
} dump_sink;

static vault_error dump_chunk(void *ctx, const uint8_t *data, size_t len)
{
    static const uint8_t zeros[65536];
    dump_sink *d = ctx;
    for (size_t done = 0; done < len;) {
        /* A chunk of zeros comes without data (it is not loaded). */
        size_t n = data ? len : len - done < sizeof zeros ? len - done
                                                         : sizeof zeros;
        if (vlt_write_all(d->fd, data ? data : zeros, n) != 0)
            return vlt_fail(VAULT_E_IO, "%s: write failed: %s", d->path,
                            strerror(errno));
        done += n;
    }
    d->written += len;
    return VAULT_OK;
}

static vault_error dump_run(vault_t *v, const char *ref, const char *path,
                            int fd, uint64_t *bytes)
{
    /* Resolved once: a folder's tar reads the same snapshot. */
    char id[65];
    vlt_tree_found *at = NULL;
    vault_error rc = vault_snapshot_resolve(v, ref, id);
    if (rc == VAULT_OK)
        rc = vlt_snapshot_find(v, id, path, &at);
    if (rc != VAULT_OK)
        return rc;
    if (!at->entry || at->entry->type == NODE_DIR) {
        vault_extract_options o;
        vault_extract_options_init(&o);
        o.tar = 1;
        o.tar_fd = fd;
        o.root_path = path;
        vault_extract_result r;
        rc = extract_run(v, id, &o, &r);
        *bytes = r.bytes;
    } else if (at->entry->type == NODE_FILE) {
        dump_sink d = {.fd = fd, .path = at->path};
        rc = vlt_repo_load_blobs(v, (const uint8_t(*)[CHUNK_ID_BYTES])
                                        at->entry->content,
                                 at->entry->n_content, BLOB_DATA, dump_chunk,
                                 &d);
        *bytes = d.written;
        if (rc == VAULT_OK && d.written != at->entry->size)
            rc = vlt_fail(VAULT_E_CORRUPT,
                          "%s: content is %llu bytes, the tree records %llu",
                          at->path, (unsigned long long)d.written,
                          (unsigned long long)at->entry->size);
    } else {
        rc = vlt_fail(VAULT_E_INVALID,
                      "%s: not a file or folder (it has no content to dump)",
                      at->path);
    }
    vlt_tree_found_free(at);
    return rc;
}

vault_error vault_dump(vault_t *v, const char *ref, const char *path, int fd,
                       uint64_t *bytes)
{
    uint64_t local;
    if (!bytes)
        bytes = &local;
    *bytes = 0;
    if (!v || !ref || fd < 0)
        return vlt_fail(VAULT_E_INVALID, "dump: missing argument");
    vlt_repo_list_ahead_read(v);
    vault_error rc = dump_run(v, ref, path, fd, bytes);
    vlt_repo_list_ahead_done(v);
    return rc;
}
