/*
 * test_backend_cache.c - the local cache of sealed objects
 * (backend/backend_cache.c) and its place in opening a vault
 * (repo.c, vlt_repo_open_backend_with).
 *
 * A vault lives in the memory backend; a counting backend in front of it
 * plays the remote one (is_local 0, so opening wraps it in the cache) and
 * counts the requests that reach "storage".  With a warm cache, opening
 * the vault and listing a snapshot recursively loads nothing but the
 * config: envelopes, records, index segments, snapshots and tree packs
 * all come from the cache, checked against their names.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "test_util.h"

#include "backend_conformance.h"
#include "backend_testing.h"
#include "common/internal.h"
#include "crypto/digest.h"
#include "repo/repo.h"

/* ---- a backend that counts what reaches storage -------------------------- */

typedef struct counting {
    backend base;
    backend *inner; /* not owned */
    unsigned loads[BACKEND_KIND_COUNT];
    unsigned lists, stats, saves, removes;
} counting;

static counting *counting_of(backend *be)
{
    return (counting *)be;
}

static vault_error c_save(backend *be, backend_kind kind, const char *name,
                          const uint8_t *data, size_t len)
{
    counting_of(be)->saves++;
    return backend_save(counting_of(be)->inner, kind, name, data, len);
}

static vault_error c_load(backend *be, backend_kind kind, const char *name,
                          uint64_t offset, size_t len, size_t max_len,
                          uint8_t **out, size_t *out_len)
{
    if ((unsigned)kind < BACKEND_KIND_COUNT)
        __atomic_add_fetch(&counting_of(be)->loads[kind], 1,
                           __ATOMIC_RELAXED);
    return backend_load(counting_of(be)->inner, kind, name, offset, len,
                        max_len, out, out_len);
}

static vault_error c_stat(backend *be, backend_kind kind, const char *name,
                          uint64_t *size)
{
    __atomic_add_fetch(&counting_of(be)->stats, 1, __ATOMIC_RELAXED);
    return backend_stat(counting_of(be)->inner, kind, name, size);
}

static vault_error c_list(backend *be, backend_kind kind, backend_list_fn fn,
                          void *ctx, int *stopped)
{
    counting_of(be)->lists++;
    return backend_list(counting_of(be)->inner, kind, fn, ctx, stopped);
}

static vault_error c_remove(backend *be, backend_kind kind, const char *name)
{
    counting_of(be)->removes++;
    return backend_remove(counting_of(be)->inner, kind, name);
}

static void c_close(backend *be)
{
    (void)be; /* the test reads the counts after close, then frees it */
}

static const backend_ops counting_ops = {
    .save = c_save,
    .load = c_load,
    .stat = c_stat,
    .list = c_list,
    .remove = c_remove,
    .close = c_close,
};

static counting *counting_new(backend *inner)
{
    counting *c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->base.ops = &counting_ops;
    c->base.connections = 4;
    c->inner = inner; /* is_local stays 0: it plays a remote server */
    return c;
}

static unsigned loads_of_cached_kinds(const counting *c)
{
    return c->loads[BACKEND_KEYS] + c->loads[BACKEND_INDEX] +
           c->loads[BACKEND_SNAPSHOTS] + c->loads[BACKEND_DATA];
}

/* ---- warnings ------------------------------------------------------------ */

typedef struct warnings {
    char text[4096];
    unsigned n;
} warnings;
static warnings warned;

static void on_warning(const char *message, void *ctx)
{
    (void)ctx;
    size_t used = strlen(warned.text);
    snprintf(warned.text + used, sizeof warned.text - used, "%s\n", message);
    warned.n++;
}

static void warnings_reset(void)
{
    memset(&warned, 0, sizeof warned);
}

/* ---- a vault in memory, with files in it --------------------------------- */

typedef struct world {
    char *base;
    char src[PATH_MAX];
    char cache[PATH_MAX]; /* the cache_dir of the storage options */
    backend *mem;
    vault_identity_t *id;
    char snapshot[65];
} world;

static void put(const char *dir, const char *rel, const void *data,
                size_t len)
{
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/%s", dir, rel);
    test_write_file(path, data, len);
}

static void mkdirf(const char *dir, const char *rel)
{
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/%s", dir, rel);
    assert_int_equal(mkdir(path, 0700), 0);
}

/* The default storage options but for the cache folder, the world's.
 * (Zeroes are the defaults: vault_storage_options_init is another part's,
 * not linked yet.) */
static void cache_options(const world *w, vault_storage_options *so)
{
    memset(so, 0, sizeof *so);
    so->cache_dir = w->cache;
}

/* Opens the world's vault through counter, with these storage options. */
static vault_t *open_through(world *w, counting *counter,
                             const vault_storage_options *o)
{
    vault_t *v;
    assert_vault_ok(vlt_repo_open_backend_with(&counter->base, "remote", o,
                                               w->id, &v));
    return v;
}

static int count_entry(void *ctx, const vault_file_info *info)
{
    (void)info;
    (*(size_t *)ctx)++;
    return 0;
}

/* ls -R of the world's snapshot: the number of entries. */
static size_t ls_r(vault_t *v, const char *snapshot)
{
    size_t n = 0;
    assert_vault_ok(vault_ls(v, snapshot, "/", 1, count_entry, &n));
    return n;
}

static int world_setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->base = test_tempdir();
    test_fmt(w->src, sizeof w->src, "%s/src", w->base);
    test_fmt(w->cache, sizeof w->cache, "%s/cache", w->base);
    assert_int_equal(mkdir(w->src, 0700), 0);
    mkdirf(w->src, "d1");
    mkdirf(w->src, "d1/d2");
    mkdirf(w->src, "e");
    put(w->src, "a.txt", "alpha\n", 6);
    put(w->src, "d1/b.txt", "bravo\n", 6);
    put(w->src, "d1/d2/c.txt", "charlie\n", 8);
    static uint8_t big[300 * 1024];
    randombytes_buf(big, sizeof big);
    put(w->src, "e/big.bin", big, sizeof big);

    assert_vault_ok(vault_identity_generate(&w->id));
    assert_vault_ok(vlt_backend_memory_open(&w->mem));
    char fp[VAULT_FINGERPRINT_CHARS + 1];
    assert_vault_ok(vlt_repo_init_backend(
        w->mem, vault_identity_recipient(w->id), fp));

    /* The add runs through the cache, as a remote add would. */
    counting *counter = counting_new(w->mem);
    vault_storage_options so;
    cache_options(w, &so);
    vault_t *v = open_through(w, counter, &so);
    const char *paths[] = {w->src};
    vault_add_options o;
    vault_add_options_init(&o);
    o.paths = paths;
    o.n_paths = 1;
    o.threads = 2;
    o.cache_dir = ""; /* no files cache: this test is about the other */
    vault_add_result r;
    assert_vault_ok(vault_add(v, &o, &r));
    memcpy(w->snapshot, r.snapshot_id, sizeof w->snapshot);
    vault_close(v);
    free(counter);
    vault_set_warning_handler(on_warning, NULL);
    warnings_reset();
    *state = w;
    return 0;
}

static int world_teardown(void **state)
{
    world *w = *state;
    vault_set_warning_handler(NULL, NULL);
    backend_close(w->mem);
    vault_identity_free(w->id);
    test_rmtree(w->base);
    free(w);
    return 0;
}

/* The folder the cache of the world's vault keeps its objects in. */
static void objects_dir(world *w, vault_t *v, char out[PATH_MAX])
{
    char hex[65];
    vlt_hex_encode(v->keys->vault_id, VAULT_ID_BYTES, hex);
    test_fmt(out, PATH_MAX, "%s/%s/objects", w->cache, hex);
}

/* The names of the files in dir/kind (well-formed ones). */
static size_t files_in(const char *objects, const char *kind,
                       char names[][65], size_t max)
{
    char dir[PATH_MAX];
    test_fmt(dir, sizeof dir, "%s/%s", objects, kind);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (vlt_backend_name_valid(de->d_name)) {
            if (n < max)
                memcpy(names[n], de->d_name, 65); /* 64 hex and NUL */
            n++;
        }
    closedir(d);
    return n;
}

/* Opens and lists recursively through a fresh counter; the counter (to
 * free) with the requests that reached storage. */
static counting *open_and_ls(world *w, const vault_storage_options *so,
                             size_t *entries)
{
    counting *counter = counting_new(w->mem);
    vault_t *v = open_through(w, counter, so);
    *entries = ls_r(v, w->snapshot);
    vault_close(v);
    return counter;
}

static void print_counts(const char *what, const counting *c)
{
    print_message("%s: loads config %u keys %u index %u snapshots %u data %u "
                  "locks %u; stats %u; lists %u\n",
                  what, c->loads[BACKEND_CONFIG], c->loads[BACKEND_KEYS],
                  c->loads[BACKEND_INDEX], c->loads[BACKEND_SNAPSHOTS],
                  c->loads[BACKEND_DATA], c->loads[BACKEND_LOCKS], c->stats,
                  c->lists);
}

/* ---- tests --------------------------------------------------------------- */

/* Cold: everything comes from storage once; warm: only the config and
 * lists reach it. */
static void test_warm_ls_sends_only_lists(void **state)
{
    world *w = *state;
    vault_storage_options so;
    cache_options(w, &so);
    /* Start cold: the add kept its own index segment and snapshot. */
    char wipe[PATH_MAX];
    test_fmt(wipe, sizeof wipe, "rm -rf '%s'", w->cache);
    assert_int_equal(test_run("%s", wipe), 0);

    size_t cold_entries, warm_entries;
    counting *cold = open_and_ls(w, &so, &cold_entries);
    counting *warm = open_and_ls(w, &so, &warm_entries);
    print_counts("cold cache", cold);
    print_counts("warm cache", warm);
    assert_int_equal(cold_entries, warm_entries);
    assert_true(cold_entries >= 7);

    assert_true(cold->loads[BACKEND_KEYS] >= 2); /* envelope and record */
    assert_true(cold->loads[BACKEND_INDEX] >= 1);
    assert_true(cold->loads[BACKEND_SNAPSHOTS] >= 1);
    assert_true(cold->loads[BACKEND_DATA] >= 1); /* the tree pack(s) */

    assert_int_equal(warm->loads[BACKEND_CONFIG], 1);
    assert_int_equal(loads_of_cached_kinds(warm), 0);
    assert_int_equal(warm->stats, 0);
    assert_int_equal(warm->loads[BACKEND_LOCKS], 0); /* none are left */
    assert_int_equal(warm->saves + warm->removes, 0);
    assert_true(warm->lists >= 3); /* keys, index, snapshots at least */
    assert_int_equal(warned.n, 0);
    free(cold);
    free(warm);
}

/* Only packs the index says hold trees alone are kept, never data packs;
 * the index and snapshots are kept too. */
static void test_tree_packs_cached_data_packs_not(void **state)
{
    world *w = *state;
    vault_storage_options so;
    cache_options(w, &so);
    counting *counter = counting_new(w->mem);
    vault_t *v = open_through(w, counter, &so);
    (void)ls_r(v, w->snapshot);
    char objects[PATH_MAX];
    objects_dir(w, v, objects);
    char names[64][65];
    size_t n = files_in(objects, "data", names, 64);
    assert_true(n >= 1 && n <= 64);
    assert_vault_ok(vlt_repo_load_index(v));
    for (size_t i = 0; i < n; i++) {
        uint8_t id[32];
        uint32_t pack;
        assert_vault_ok(vlt_hex_decode(names[i], 64, id, 32));
        assert_true(vlt_index_pack_find(&v->index, id, &pack));
        for (size_t s = 0; s < vlt_index_n_slots_all(&v->index); s++) {
            pack_entry e;
            const index_slot *slot = vlt_index_slot_at(&v->index, s);
            if (slot->pack != pack)
                continue;
            vlt_index_slot_entry(&v->index, slot, &e);
            assert_int_equal(e.type, BLOB_TREE);
        }
    }
    /* Every pack holding data stays out: at least big.bin's. */
    size_t data_packs = 0;
    for (size_t p = 0; p < vlt_index_n_packs(&v->index); p++) {
        int has_data = 0;
        for (size_t s = 0; s < vlt_index_n_slots_all(&v->index); s++) {
            pack_entry e;
            const index_slot *slot = vlt_index_slot_at(&v->index, s);
            vlt_index_slot_entry(&v->index, slot, &e);
            has_data |= slot->pack == p && e.type == BLOB_DATA;
        }
        data_packs += has_data;
    }
    assert_true(data_packs >= 1);
    assert_int_equal(n + data_packs, vlt_index_n_packs(&v->index));
    assert_true(files_in(objects, "index", names, 64) >= 1);
    assert_true(files_in(objects, "snapshots", names, 64) >= 1);
    assert_true(files_in(objects, "keys", names, 64) >= 2);
    assert_int_equal(files_in(objects, "locks", names, 64), 0);

    /* Extracting reads the data packs from storage, by range. */
    unsigned before = counter->loads[BACKEND_DATA];
    char target[PATH_MAX];
    test_fmt(target, sizeof target, "%s/out", w->base);
    vault_extract_options xo;
    memset(&xo, 0, sizeof xo);
    xo.target_dir = target;
    vault_extract_result xr;
    assert_vault_ok(vault_extract(v, w->snapshot, &xo, &xr));
    assert_true(counter->loads[BACKEND_DATA] > before);
    assert_int_equal(files_in(objects, "data", names, 64), n);
    vault_close(v);
    free(counter);
}

/* Flips a byte in the middle of a file. */
static void flip(const char *path)
{
    size_t len;
    uint8_t *data = test_read_file(path, &len);
    assert_true(len > 0);
    data[len / 2] ^= 0x01;
    assert_int_equal(chmod(path, 0600), 0);
    test_write_file(path, data, len);
    free(data);
}

/* A cached file that does not match its name is found, deleted, reloaded
 * from storage, and the vault reads as before. */
static void test_tampered_file_reloaded(void **state)
{
    world *w = *state;
    vault_storage_options so;
    cache_options(w, &so);
    size_t entries, again;
    free(open_and_ls(w, &so, &entries)); /* warm */

    counting *probe = counting_new(w->mem);
    vault_t *v = open_through(w, probe, &so);
    char objects[PATH_MAX];
    objects_dir(w, v, objects);
    vault_close(v);
    free(probe);
    const char *kinds[] = {"index", "snapshots", "keys", "data"};
    for (size_t k = 0; k < 4; k++) {
        char names[8][65], path[PATH_MAX];
        assert_true(files_in(objects, kinds[k], names, 8) >= 1);
        test_fmt(path, sizeof path, "%s/%s/%s", objects, kinds[k], names[0]);
        flip(path);
        warnings_reset();
        counting *c = open_and_ls(w, &so, &again);
        assert_int_equal(again, entries);
        if (!strstr(warned.text, path) ||
            !strstr(warned.text, "does not match its name"))
            fail_msg("%s: no warning naming it: %s", path, warned.text);
        /* reloaded from storage: that one object, once */
        backend_kind kind = strcmp(kinds[k], "index") == 0 ? BACKEND_INDEX
                            : strcmp(kinds[k], "snapshots") == 0
                                ? BACKEND_SNAPSHOTS
                            : strcmp(kinds[k], "keys") == 0 ? BACKEND_KEYS
                                                            : BACKEND_DATA;
        assert_int_equal(c->loads[kind], 1);
        assert_int_equal(loads_of_cached_kinds(c), 1);
        free(c);
        /* ...and kept again, whole and right. */
        size_t len;
        uint8_t *data = test_read_file(path, &len);
        uint8_t digest[32];
        char hex[65];
        vlt_sha256(data, len, digest);
        vlt_hex_encode(digest, 32, hex);
        assert_string_equal(hex, names[0]);
        free(data);
        c = open_and_ls(w, &so, &again);
        assert_int_equal(loads_of_cached_kinds(c), 0);
        free(c);
    }
}

/* The cache alone, in front of a counted memory backend. */
typedef struct rig {
    char dir[PATH_MAX]; /* the cache's folder */
    backend *mem;
    counting *counter;
    backend *be; /* the cache */
} rig;

static void rig_open(world *w, rig *r, const char *name, uint64_t max)
{
    test_fmt(r->dir, sizeof r->dir, "%s/%s", w->base, name);
    assert_vault_ok(vlt_backend_memory_open(&r->mem));
    r->counter = counting_new(r->mem);
    assert_vault_ok(
        vlt_backend_cache_open(&r->counter->base, r->dir, max, &r->be));
    assert_true(vlt_backend_is_cache(r->be));
}

static void rig_close(rig *r)
{
    backend_close(r->be);
    free(r->counter);
    backend_close(r->mem);
}

/* Random bytes saved under their hash as an index segment. */
static void save_random(backend *be, size_t len, char name[65])
{
    uint8_t *data = malloc(len);
    assert_non_null(data);
    randombytes_buf(data, len);
    uint8_t digest[32];
    vlt_sha256(data, len, digest);
    vlt_hex_encode(digest, 32, name);
    assert_vault_ok(backend_save(be, BACKEND_INDEX, name, data, len));
    free(data);
}

static uint64_t bytes_in(const char *dir)
{
    uint64_t total = 0;
    const char *kinds[] = {"index", "snapshots", "keys", "data"};
    for (size_t k = 0; k < 4; k++) {
        char sub[PATH_MAX];
        test_fmt(sub, sizeof sub, "%s/%s", dir, kinds[k]);
        DIR *d = opendir(sub);
        if (!d)
            continue;
        struct dirent *de;
        while ((de = readdir(d))) {
            char path[PATH_MAX];
            struct stat st;
            test_fmt(path, sizeof path, "%s/%s", sub, de->d_name);
            if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
                total += (uint64_t)st.st_size;
        }
        closedir(d);
    }
    return total;
}

static void set_age(const char *dir, const char *name, time_t seconds_ago)
{
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/index/%s", dir, name);
    struct timespec t[2];
    t[0].tv_sec = t[1].tv_sec = time(NULL) - seconds_ago;
    t[0].tv_nsec = t[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

static int cached(const char *dir, const char *name)
{
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/index/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* The cache stays under max_bytes, least recently used out first. */
static void test_eviction_keeps_the_bound(void **state)
{
    const uint64_t max = 100 * 1024;
    rig r;
    rig_open(*state, &r, "bounded", max);
    const char *dir = r.dir;
    backend *be = r.be;
    counting *counter = r.counter;
    char names[40][65];
    for (int i = 0; i < 40; i++) {
        save_random(be, 10 * 1024, names[i]);
        assert_true(bytes_in(dir) <= max);
        /* ages set by hand: the clock of a file system is coarse */
        set_age(dir, names[i], 1000 - i);
    }
    assert_true(cached(dir, names[39]));
    assert_false(cached(dir, names[0]));
    /* A load of an evicted one comes from storage, and is kept again. */
    unsigned before = counter->loads[BACKEND_INDEX];
    uint8_t *data;
    size_t len;
    assert_vault_ok(backend_load(be, BACKEND_INDEX, names[0], 0, 0, 1 << 20,
                                 &data, &len));
    free(data);
    assert_int_equal(counter->loads[BACKEND_INDEX], before + 1);
    assert_true(cached(dir, names[0]));
    /* A hit makes a file the youngest: the oldest of the others go. */
    const char *oldest = NULL;
    for (int i = 1; i < 40 && !oldest; i++)
        if (cached(dir, names[i]))
            oldest = names[i];
    assert_non_null(oldest);
    set_age(dir, names[0], 5000);
    before = counter->loads[BACKEND_INDEX];
    assert_vault_ok(backend_load(be, BACKEND_INDEX, oldest, 0, 0, 1 << 20,
                                 &data, &len));
    free(data);
    assert_int_equal(counter->loads[BACKEND_INDEX], before); /* a hit */
    /* Two more take it over the bound whatever it held (9 or 10 files
     * after the last eviction to 90%). */
    char more[65];
    save_random(be, 10 * 1024, more);
    assert_true(bytes_in(dir) <= max);
    save_random(be, 10 * 1024, more);
    assert_true(bytes_in(dir) <= max);
    assert_false(cached(dir, names[0])); /* made oldest by hand */
    assert_true(cached(dir, oldest));    /* touched by the hit */
    assert_true(cached(dir, more));
    /* An object over a quarter of the bound is served, not kept. */
    char large[65];
    save_random(be, 30 * 1024, large);
    assert_false(cached(dir, large));
    assert_vault_ok(backend_load(be, BACKEND_INDEX, large, 0, 0, 1 << 20,
                                 &data, &len));
    free(data);
    assert_int_equal(len, 30 * 1024);
    assert_false(cached(dir, large));
    rig_close(&r);
}

/* remove drops the cached copy; a list drops copies of objects storage
 * no longer lists (removed by another client). */
static void test_remove_and_list_drop_copies(void **state)
{
    rig r;
    rig_open(*state, &r, "dropping", 0);
    const char *dir = r.dir;
    backend *be = r.be, *mem = r.mem;
    char a[65], b[65], c[65];
    save_random(be, 1000, a);
    save_random(be, 1000, b);
    save_random(be, 1000, c);
    assert_true(cached(dir, a) && cached(dir, b) && cached(dir, c));
    assert_vault_ok(backend_remove(be, BACKEND_INDEX, a));
    assert_false(cached(dir, a));
    assert_vault_code(backend_stat(mem, BACKEND_INDEX, a, &(uint64_t){0}),
                      VAULT_E_NOT_FOUND);
    /* Another client removes b from storage: the next list drops it. */
    assert_vault_ok(backend_remove(mem, BACKEND_INDEX, b));
    assert_true(cached(dir, b));
    name_list l;
    assert_vault_ok(vlt_backend_list_names(be, BACKEND_INDEX, &l));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.names[0], c);
    free(l.names);
    assert_false(cached(dir, b));
    assert_true(cached(dir, c));
    /* A load of what storage lost is an error, not a stale copy. */
    uint8_t *data;
    size_t len;
    assert_vault_code(backend_load(be, BACKEND_INDEX, b, 0, 0, 4096, &data,
                                   &len),
                      VAULT_E_NOT_FOUND);
    rig_close(&r);
}

/* no_cache: every open reads storage, and nothing is written locally. */
static void test_no_cache_bypasses(void **state)
{
    world *w = *state;
    char elsewhere[PATH_MAX];
    test_fmt(elsewhere, sizeof elsewhere, "%s/unused", w->base);
    vault_storage_options so;
    cache_options(w, &so);
    so.cache_dir = elsewhere;
    so.no_cache = 1;
    size_t entries;
    for (int i = 0; i < 2; i++) {
        counting *c = open_and_ls(w, &so, &entries);
        print_counts("no cache", c);
        assert_true(c->loads[BACKEND_INDEX] >= 1);
        assert_true(c->loads[BACKEND_SNAPSHOTS] >= 1);
        assert_true(c->loads[BACKEND_DATA] >= 1);
        free(c);
    }
    assert_int_equal(access(elsewhere, F_OK), -1);
    /* A local backend (memory here) is never cached either. */
    vault_t *v;
    backend *mem_view = test_backend_wrap(w->mem, 0, NULL, 0);
    assert_non_null(mem_view);
    assert_true(mem_view->is_local);
    so.no_cache = 0;
    assert_vault_ok(vlt_repo_open_backend_with(mem_view, "mem", &so, w->id,
                                               &v));
    assert_false(vlt_backend_is_cache(v->be));
    vault_close(v);
    assert_int_equal(access(elsewhere, F_OK), -1);
}

/* A cache folder that cannot be used is reported, and the vault works
 * without it. */
static void test_unusable_dir_reported(void **state)
{
    world *w = *state;
    /* A file where the folder should be. */
    char file[PATH_MAX];
    test_fmt(file, sizeof file, "%s/not-a-folder", w->base);
    test_write_file(file, "x", 1);
    vault_storage_options so;
    cache_options(w, &so);
    so.cache_dir = file;
    warnings_reset();
    size_t entries;
    counting *c = open_and_ls(w, &so, &entries);
    assert_true(entries >= 7);
    assert_true(c->loads[BACKEND_INDEX] >= 1);
    free(c);
    if (!strstr(warned.text, file) ||
        !strstr(warned.text, "going on without the local cache"))
        fail_msg("no warning naming %s: %s", file, warned.text);

    /* The decorator itself hands the backend back. */
    backend *mem, *be;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    char dir[PATH_MAX];
    test_fmt(dir, sizeof dir, "%s/sub", file);
    warnings_reset();
    assert_vault_ok(vlt_backend_cache_open(mem, dir, 0, &be));
    assert_ptr_equal(be, mem);
    assert_int_equal(warned.n, 1);
    backend_close(be);

    /* A folder this user cannot write (root can: skipped as root). */
    if (geteuid() != 0) {
        char locked[PATH_MAX];
        test_fmt(locked, sizeof locked, "%s/locked", w->base);
        assert_int_equal(mkdir(locked, 0500), 0);
        assert_vault_ok(vlt_backend_memory_open(&mem));
        warnings_reset();
        assert_vault_ok(vlt_backend_cache_open(mem, locked, 0, &be));
        assert_ptr_equal(be, mem);
        assert_non_null(strstr(warned.text, locked));
        backend_close(be);
        assert_int_equal(chmod(locked, 0700), 0);
    }
}

/* Ranges of a cached tree pack are the object's bytes; a pack evicted
 * under a reader is fetched again. */
static void test_tree_pack_ranges(void **state)
{
    world *w = *state;
    rig r;
    rig_open(w, &r, "ranges", 0);
    const char *dir = r.dir;
    backend *be = r.be, *mem = r.mem;
    counting *counter = r.counter;
    uint8_t data[5000];
    randombytes_buf(data, sizeof data);
    uint8_t id[32];
    char name[65];
    vlt_sha256(data, sizeof data, id);
    vlt_hex_encode(id, 32, name);
    assert_vault_ok(backend_save(be, BACKEND_DATA, name, data, sizeof data));
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/data/%s", dir, name);
    assert_int_equal(access(path, F_OK), -1); /* saves keep no pack */
    vlt_backend_cache_note_tree_pack(be, id);
    uint8_t *out;
    size_t len;
    for (int round = 0; round < 3; round++) {
        assert_vault_ok(backend_load(be, BACKEND_DATA, name, 100, 200, 200,
                                     &out, &len));
        assert_int_equal(len, 200);
        assert_memory_equal(out, data + 100, 200);
        free(out);
        assert_vault_ok(backend_load(be, BACKEND_DATA, name, 4000, 0, 1000,
                                     &out, &len));
        assert_int_equal(len, 1000);
        assert_memory_equal(out, data + 4000, 1000);
        free(out);
        uint64_t size;
        assert_vault_ok(backend_stat(be, BACKEND_DATA, name, &size));
        assert_int_equal(size, sizeof data);
        /* the limits hold as storage's would */
        assert_vault_code(backend_load(be, BACKEND_DATA, name, 4000, 0, 999,
                                       &out, &len),
                          VAULT_E_CORRUPT);
        assert_vault_code(backend_load(be, BACKEND_DATA, name, 4990, 11,
                                       1000, &out, &len),
                          VAULT_E_CORRUPT);
        assert_int_equal(access(path, F_OK), 0);
        if (round == 1)
            assert_int_equal(unlink(path), 0); /* evicted by another */
    }
    /* whole once at first, whole again after the eviction */
    assert_int_equal(counter->loads[BACKEND_DATA], 2);
    backend_close(be); /* the rest of the rig stays for the next part */
    free(counter);

    /* A tree pack too large for the bound (over a quarter of it) is read
     * by range from storage, never fetched whole. */
    char small[PATH_MAX];
    test_fmt(small, sizeof small, "%s/small", w->base);
    counter = counting_new(mem);
    assert_vault_ok(vlt_backend_cache_open(&counter->base, small, 8192, &be));
    vlt_backend_cache_note_tree_pack(be, id);
    for (int i = 0; i < 3; i++) {
        assert_vault_ok(backend_load(be, BACKEND_DATA, name, 100, 200, 200,
                                     &out, &len));
        assert_memory_equal(out, data + 100, 200);
        free(out);
    }
    assert_int_equal(counter->loads[BACKEND_DATA], 3);
    test_fmt(path, sizeof path, "%s/data/%s", small, name);
    assert_int_equal(access(path, F_OK), -1);
    backend_close(be);
    free(counter);
    backend_close(mem);
}

/* The numbers on a larger tree (the library's sources, with threads as
 * many as cores): requests that reach storage for open + ls -R, without
 * the cache, cold and warm. */
static void test_numbers_on_the_sources(void **state)
{
    world *w = *state;
    vault_storage_options so;
    cache_options(w, &so);
    counting *counter = counting_new(w->mem);
    vault_t *v = open_through(w, counter, &so);
    const char *paths[] = {VAULT_SOURCE_DIR "/vault"};
    vault_add_options o;
    vault_add_options_init(&o);
    o.paths = paths;
    o.n_paths = 1;
    o.cache_dir = "";
    vault_add_result r;
    assert_vault_ok(vault_add(v, &o, &r));
    vault_close(v);
    free(counter);
    memcpy(w->snapshot, r.snapshot_id, sizeof w->snapshot);
    char wipe[PATH_MAX];
    test_fmt(wipe, sizeof wipe, "rm -rf '%s'", w->cache);
    assert_int_equal(test_run("%s", wipe), 0);

    size_t e0, e1, e2;
    so.no_cache = 1;
    counting *none = open_and_ls(w, &so, &e0);
    so.no_cache = 0;
    counting *cold = open_and_ls(w, &so, &e1);
    counting *warm = open_and_ls(w, &so, &e2);
    print_message("vault/ (%zu entries):\n", e0);
    print_counts("  no cache  ", none);
    print_counts("  cold cache", cold);
    print_counts("  warm cache", warm);
    assert_int_equal(e0, e1);
    assert_int_equal(e1, e2);
    assert_true(none->loads[BACKEND_DATA] > cold->loads[BACKEND_DATA]);
    assert_int_equal(loads_of_cached_kinds(warm), 0);
    free(none);
    free(cold);
    free(warm);
}

/* ---- the backend contract ------------------------------------------------ */

typedef struct conformance_ctx {
    char *dir;
} conformance_ctx;

static vault_error cache_over_memory(void *ctx, backend **out)
{
    conformance_ctx *c = ctx;
    c->dir = test_tempdir();
    backend *mem;
    vault_error rc = vlt_backend_memory_open(&mem);
    if (rc != VAULT_OK)
        return rc;
    mem->is_local = 0;
    return vlt_backend_cache_open(mem, c->dir, 0, out);
}

static void cache_cleanup(void *ctx)
{
    conformance_ctx *c = ctx;
    test_rmtree(c->dir);
    c->dir = NULL;
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_warm_ls_sends_only_lists,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_tree_packs_cached_data_packs_not,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_tampered_file_reloaded,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_eviction_keeps_the_bound,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_remove_and_list_drop_copies,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_no_cache_bypasses, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_unusable_dir_reported,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_tree_pack_ranges, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_numbers_on_the_sources,
                                        world_setup, world_teardown),
    };
    int failed = cmocka_run_group_tests_name("backend_cache", tests, NULL,
                                             NULL);
    conformance_ctx cc = {0};
    const backend_conformance target = {
        .name = "cache over memory",
        .open = cache_over_memory,
        .cleanup = cache_cleanup,
        .ctx = &cc,
    };
    failed += backend_conformance_run(&target);
    return failed ? 1 : 0;
}
