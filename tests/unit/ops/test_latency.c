/*
 * test_latency.c - the round trips operations take on a slow storage,
 * counted by the slow test backend (vault/testing/backend_slow.c): a
 * pack's key in one load (and one stat), a file's neighbouring chunks in
 * one load, add's packs saved by several uploaders at once and never by
 * more than the storage's connections.  Counts, never times.
 */
#include "vault_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "backend_testing.h"
#include "format/chunker.h"
#include "ops/snapshot_list.h"
#include "repo/blob_load.h"
#include "verify_util.h"

/* The fixture's vault behind a slow backend: delay_us a request,
 * conns at once. */
static vault_t *open_slow(fx *f, uint64_t delay_us, unsigned conns,
                          backend **slow)
{
    backend *local;
    assert_vault_ok(vlt_backend_local_open(f->vault, 0, &local));
    assert_vault_ok(vlt_backend_slow_open(local, delay_us, conns, slow));
    vault_t *v;
    assert_vault_ok(vlt_repo_open_backend(*slow, f->vault, f->id, &v));
    return v;
}

static void write_random(const char *path, size_t len)
{
    uint8_t *data = xmalloc(len);
    rng_fill(data, len);
    test_write_file(path, data, len);
    free(data);
}

/* A source directory under the fixture's base holding one random file of
 * len bytes; its path into src. */
static void make_source(fx *f, size_t len, char src[PATH_MAX])
{
    test_fmt(src, PATH_MAX, "%s/src", f->base);
    make_dir(src);
    char file[PATH_MAX];
    test_fmt(file, sizeof file, "%s/file", src);
    write_random(file, len);
}

static uint64_t data_loads(backend *be)
{
    backend_slow_stats s;
    vlt_backend_slow_stats(be, &s);
    return s.requests[SLOW_LOAD][BACKEND_DATA];
}

static uint64_t data_stats(backend *be)
{
    backend_slow_stats s;
    vlt_backend_slow_stats(be, &s);
    return s.requests[SLOW_STAT][BACKEND_DATA];
}

/* The snapshot's root tree, through v's index (loaded). */
static void snapshot_root(vault_t *v, const char *snap,
                          uint8_t root[CHUNK_ID_BYTES])
{
    snapshot_record rec;
    assert_vault_ok(vlt_snapshot_open_ref(v, snap, &rec));
    memcpy(root, rec.tree, CHUNK_ID_BYTES);
    vlt_snapshot_clear(&rec);
    assert_vault_ok(vlt_repo_load_index(v));
}

/* Adds one random file of size bytes (one worker: one pack), opens the
 * vault behind a slow backend (*be, *v) and loads the snapshot's root
 * tree, the pack's first use, into root; the requests it took are left
 * in *be's counters. */
static void first_tree_load(fx *f, size_t size, int compression,
                            backend **be, vault_t **v,
                            uint8_t root[CHUNK_ID_BYTES])
{
    char src[PATH_MAX];
    make_source(f, size, src);
    vault_add_result r;
    fx_add_threads(f, src, compression, 1, &r);
    *v = open_slow(f, 0, 2, be);
    snapshot_root(*v, r.snapshot_id, root);
    vlt_backend_slow_reset(*be);
    tree t;
    memset(&t, 0, sizeof t);
    assert_vault_ok(vlt_repo_load_tree(*v, root, &t));
    vlt_tree_clear(&t);
}

/* A small pack (here: the only one) opens in one load, after one stat;
 * its next blob costs one load more, and no stat. */
static void test_small_pack_opens_in_one_load(void **state)
{
    fx *f = *state;
    backend *be;
    vault_t *v;
    uint8_t root[CHUNK_ID_BYTES];
    first_tree_load(f, 1000, 0, &be, &v, root);
    /* the pack whole (header and trailer), then the blob */
    assert_int_equal(data_stats(be), 1);
    assert_int_equal(data_loads(be), 2);
    vlt_backend_slow_reset(be);
    tree t;
    memset(&t, 0, sizeof t);
    assert_vault_ok(vlt_repo_load_tree(v, root, &t));
    vlt_tree_clear(&t);
    assert_int_equal(data_stats(be), 0);
    assert_int_equal(data_loads(be), 1);
    vault_close(v);
}

/* A large pack: its header and its tail (which holds the trailer).
 * Trees live in packs of their own (small ones), so the large pack is
 * the file's: its first chunk opens it. */
static void test_large_pack_opens_in_two_loads(void **state)
{
    fx *f = *state;
    backend *be;
    vault_t *v;
    uint8_t root[CHUNK_ID_BYTES];
    first_tree_load(f, 2u << 20, VAULT_COMPRESSION_OFF, &be, &v, root);
    /* Down to the file (the root holds the added folder's path). */
    tree t;
    memset(&t, 0, sizeof t);
    assert_vault_ok(vlt_repo_load_tree(v, root, &t));
    for (int depth = 0; depth < 16 && t.n_nodes == 1 &&
                        t.nodes[0].n_content == 0;
         depth++) {
        uint8_t sub[CHUNK_ID_BYTES];
        memcpy(sub, t.nodes[0].subtree, CHUNK_ID_BYTES);
        vlt_tree_clear(&t);
        assert_vault_ok(vlt_repo_load_tree(v, sub, &t));
    }
    assert_int_equal(t.n_nodes, 1);
    assert_true(t.nodes[0].n_content > 0);
    vlt_backend_slow_reset(be);
    uint8_t *plain = NULL;
    size_t len = 0;
    assert_vault_ok(
        vlt_repo_load_blob(v, t.nodes[0].content[0], BLOB_DATA, &plain, &len));
    free(plain);
    vlt_tree_clear(&t);
    /* one stat; header, tail, then the chunk */
    assert_int_equal(data_stats(be), 1);
    assert_int_equal(data_loads(be), 3);
    vault_close(v);
}

static int count_ls(void *ctx, const vault_file_info *info)
{
    (void)info;
    ++*(size_t *)ctx;
    return 0;
}

/* The data loads of ls -R of snapshot snap through a fresh handle: the
 * trees, as a walk loads them. */
static uint64_t walk_data_loads(fx *f, const char *snap)
{
    backend *be;
    vault_t *v = open_slow(f, 0, 4, &be);
    size_t entries = 0;
    assert_vault_ok(vault_ls(v, snap, NULL, 1, count_ls, &entries));
    uint64_t loads = data_loads(be);
    vault_close(v);
    return loads;
}

/* The data loads of extracting snapshot snap (files files) into a fresh
 * directory through a fresh handle. */
static uint64_t extract_data_loads(fx *f, const char *snap, uint64_t files)
{
    backend *be;
    vault_t *v = open_slow(f, 0, 4, &be);
    char target[PATH_MAX];
    test_fmt(target, sizeof target, "%s/out", f->base);
    err_log log;
    memset(&log, 0, sizeof log);
    vault_extract_result res;
    assert_vault_ok(extract_to(v, snap, target, 0, NULL, 0, &log, &res));
    log_free(&log);
    assert_int_equal(res.files, files);
    uint64_t loads = data_loads(be);
    vault_close(v);
    rm_rf(target);
    return loads;
}

static int entry_by_offset(const void *a, const void *b)
{
    const pack_entry *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The windows vlt_repo_load_blobs reads the only file of the vault in,
 * on a local backend (BLOBS_WINDOW_RAW_LOCAL plaintext bytes at most,
 * each of a span below BLOBS_MERGE_MAX, so one load each): its chunks
 * are the data blobs of the vault's one data pack, in pack order (one
 * worker added them).  *chunks: how many there are. */
static size_t local_windows(fx *f, size_t *chunks)
{
    name_list packs = {0};
    assert_vault_ok(vlt_backend_list_names(f->v->be, BACKEND_DATA, &packs));
    pack_entry *data = NULL;
    size_t n_data = 0;
    for (size_t p = 0; p < packs.n; p++) {
        uint8_t *bytes;
        size_t len;
        assert_vault_ok(backend_load(f->v->be, BACKEND_DATA, packs.names[p],
                                     0, 0, PACK_MAX_BYTES, &bytes, &len));
        pack_entry *e;
        size_t n;
        assert_vault_ok(vlt_pack_read_index(f->v->keys, bytes, len, &e, &n));
        for (size_t i = 0; i < n; i++)
            if (e[i].type == BLOB_DATA) {
                data = realloc(data, (n_data + 1) * sizeof *data);
                assert_non_null(data);
                data[n_data++] = e[i];
            }
        free(e);
        free(bytes);
    }
    free(packs.names);
    qsort(data, n_data, sizeof *data, entry_by_offset);
    size_t windows = 0;
    uint64_t raw = 0;
    for (size_t i = 0; i < n_data; i++) {
        if (i == 0 || raw + data[i].raw_len > BLOBS_WINDOW_RAW_LOCAL) {
            windows++;
            raw = 0;
        }
        raw += data[i].raw_len;
    }
    free(data);
    *chunks = n_data;
    return windows;
}

/* Extracting a file of many chunks stored side by side in one pack
 * takes one merged data load per window of chunks, besides opening that
 * pack: on this local disk windows of BLOBS_WINDOW_RAW_LOCAL. */
static void test_extract_merges_adjacent_chunks(void **state)
{
    fx *f = *state;
    char src[PATH_MAX];
    make_source(f, 12u << 20, src);
    vault_add_result r;
    fx_add_threads(f, src, VAULT_COMPRESSION_OFF, 1, &r);
    assert_true(r.bytes_added > (12u << 20));
    size_t chunks;
    size_t windows = local_windows(f, &chunks);
    /* several chunks a load, or the test proves nothing */
    assert_true(windows >= 3 && windows < chunks);

    /* the walk alone: every tree, and the pack's opening */
    uint64_t walk = walk_data_loads(f, r.snapshot_id);

    uint64_t extract = extract_data_loads(f, r.snapshot_id, 1);
    /* the file's pack opened (header and tail: trees live in packs of
     * their own, so the walk never opened it), then its chunks (about
     * 12, 12 MiB), a window a load */
    assert_int_equal(extract, walk + 2 + windows);
}

/* ls -R of a directory of 40 small subdirectories loads their trees
 * ahead, many per load (they lie close together in the pack), several
 * loads at once; extract loads the small files with them. */
static void test_walk_loads_ahead(void **state)
{
    fx *f = *state;
    char src[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    for (int i = 0; i < 40; i++) {
        char path[PATH_MAX];
        test_fmt(path, sizeof path, "%s/d%02d", src, i);
        make_dir(path);
        test_fmt(path, sizeof path, "%s/d%02d/f", src, i);
        write_random(path, 100 + (size_t)i);
    }
    vault_add_result r;
    fx_add_threads(f, src, 0, 1, &r);

    backend *be;
    vault_t *v = open_slow(f, 0, 4, &be);
    size_t entries = 0;
    assert_vault_ok(vault_ls(v, r.snapshot_id, NULL, 1, count_ls, &entries));
    assert_true(entries > 80); /* the files and dirs, the path to them */
    uint64_t walk = data_loads(be);
    print_message("ls -R: %llu data loads for %zu entries\n",
                  (unsigned long long)walk, entries);
    /* without loading ahead: one per tree, 45 and the pack's */
    assert_true(walk <= 12);
    vault_close(v);

    uint64_t extract = extract_data_loads(f, r.snapshot_id, 40);
    print_message("extract: %llu data loads\n", (unsigned long long)extract);
    /* without loading ahead: one more per file */
    assert_true(extract <= walk + 12);
}

/* Extract of 216 small folders three levels deep (6 x 6 x 6, a file in
 * each) loads the small files of many folders per load: the walk ahead
 * (ops/restore/restore_ahead.c) gathers them in windows across folders,
 * where asking folder by folder took a load (or more) per folder. */
static void test_extract_windows_span_folders(void **state)
{
    fx *f = *state;
    char src[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    char path[PATH_MAX];
    for (int a = 0; a < 6; a++) {
        test_fmt(path, sizeof path, "%s/a%d", src, a);
        make_dir(path);
        for (int b = 0; b < 6; b++) {
            test_fmt(path, sizeof path, "%s/a%d/b%d", src, a, b);
            make_dir(path);
            for (int c = 0; c < 6; c++) {
                test_fmt(path, sizeof path, "%s/a%d/b%d/c%d", src, a, b, c);
                make_dir(path);
                test_fmt(path, sizeof path, "%s/a%d/b%d/c%d/f", src, a, b, c);
                write_random(path, 200 + (size_t)(a * 36 + b * 6 + c));
            }
        }
    }
    vault_add_result r;
    fx_add_threads(f, src, 0, 1, &r);

    uint64_t walk = walk_data_loads(f, r.snapshot_id);

    uint64_t extract = extract_data_loads(f, r.snapshot_id, 216);
    print_message("216 folders: ls -R %llu data loads, extract %llu\n",
                  (unsigned long long)walk, (unsigned long long)extract);
    /* the trees as the walk loads them, the data pack's opening, and the
     * 216 files (48 KiB, side by side) in a load or two */
    assert_true(extract <= walk + 6);
}

/* 100 folders that each hold the same small file (and one of their
 * own): the shared chunk is loaded once for all the files that hold it,
 * where each copy after the first was loaded alone. */
static void test_extract_shared_chunk_loads_once(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], path[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    static const char license[] = "the same license text in every folder\n";
    for (int i = 0; i < 100; i++) {
        test_fmt(path, sizeof path, "%s/pkg%03d", src, i);
        make_dir(path);
        test_fmt(path, sizeof path, "%s/pkg%03d/copyright", src, i);
        test_write_file(path, license, sizeof license - 1);
        test_fmt(path, sizeof path, "%s/pkg%03d/own", src, i);
        write_random(path, 300 + (size_t)i);
    }
    vault_add_result r;
    fx_add_threads(f, src, 0, 1, &r);

    uint64_t walk = walk_data_loads(f, r.snapshot_id);

    uint64_t extract = extract_data_loads(f, r.snapshot_id, 200);
    print_message("100 shared copies: ls -R %llu data loads, extract %llu\n",
                  (unsigned long long)walk, (unsigned long long)extract);
    assert_true(extract <= walk + 4);
}

/* An add of src by 4 workers, uncompressed, into the fixture's vault
 * reopened behind a slow backend (delay_us a request, conns at once);
 * what that backend counted. */
static void add_slow(fx *f, const char *src, uint64_t delay_us,
                     unsigned conns, vault_add_result *r,
                     backend_slow_stats *s)
{
    backend *be;
    vault_t *v = open_slow(f, delay_us, conns, &be);
    vault_close(f->v);
    f->v = v;
    fx_add_threads(f, src, VAULT_COMPRESSION_OFF, 4, r);
    vlt_backend_slow_stats(be, s);
}

/* With connections 4, several packs are saved at once, never more than
 * 4; with 1, one at a time. */
static void test_add_saves_in_parallel(void **state)
{
    fx *f = *state;
    char src[PATH_MAX];
    make_source(f, 64u << 20, src);
    static const unsigned rounds[] = {4, 1};
    for (size_t round = 0; round < 2; round++) {
        unsigned conns = rounds[round];
        vault_add_result r;
        backend_slow_stats s;
        add_slow(f, src, 100000, conns, &r, &s);
        print_message("connections %u: %llu saves, at most %u at once\n",
                      conns,
                      (unsigned long long)vlt_backend_slow_total(&s, SLOW_SAVE),
                      s.max_saves_in_flight);
        assert_true(s.requests[SLOW_SAVE][BACKEND_DATA] >= 4);
        assert_true(s.max_saves_in_flight <= conns);
        if (conns > 1)
            assert_true(s.max_saves_in_flight >= 2);
        /* the next round stores nothing new: start from an empty vault */
        if (conns > 1) {
            vault_close(f->v);
            f->v = NULL;
            rm_rf(f->vault);
            assert_vault_ok(
                vault_init(f->vault, vault_identity_recipient(f->id)));
            assert_vault_ok(vault_open(f->vault, f->id, &f->v));
        }
    }
}

/* Over storage slower than the workers, the packs held for the uploads
 * stay bounded: two (each past its target by at most one blob) counting
 * the one being made, so the saves in flight never hold more.  Before,
 * three could be saving while each worker held a pack of its own. */
static void test_add_holds_two_packs(void **state)
{
    fx *f = *state;
    char src[PATH_MAX];
    make_source(f, 80u << 20, src);
    vault_add_result r;
    backend_slow_stats s;
    add_slow(f, src, 300000, 5, &r, &s);
    print_message("%llu saves, at most %u at once holding %llu bytes\n",
                  (unsigned long long)vlt_backend_slow_total(&s, SLOW_SAVE),
                  s.max_saves_in_flight,
                  (unsigned long long)s.max_save_bytes_in_flight);
    assert_true(s.max_save_bytes_in_flight <=
                2 * ((uint64_t)PACK_TARGET_BYTES + CHUNKER_MAX_SIZE));
    assert_true(s.max_saves_in_flight >= 2); /* and still in parallel */
    char scratch[PATH_MAX];
    test_fmt(scratch, sizeof scratch, "%s/out", f->base);
    vu_extract_same(f->vault, f->id, r.snapshot_id, src, scratch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_holds_two_packs, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_small_pack_opens_in_one_load,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_large_pack_opens_in_two_loads,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_extract_merges_adjacent_chunks,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_walk_loads_ahead, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_extract_windows_span_folders,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_extract_shared_chunk_loads_once,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_add_saves_in_parallel, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
