/*
 * extract.c - `extract`: the snapshot's trees and chunks, read through
 * the vault handle, handed to the restorer (ops/restore/).
 */
#include <string.h>
#include <unistd.h>

#include "common/internal.h"
#include "ops/restore/restore.h"
#include "ops/snapshot_list.h"
#include "repo/repo.h"

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
                          prefetch_promise};
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
    };
    restore_stats st = {0};
    rc = vlt_restore_run(&src, rec.tree, &ro, &st);
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
    vault_error rc = extract_run(v, ref, o, result);
    vlt_repo_list_ahead_done(v);
    return rc;
}
