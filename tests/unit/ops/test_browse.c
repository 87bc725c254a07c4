/*
 * test_browse.c - the browsing calls behind `vault mount`
 * (ops/browse/browse.c) and their bounded cache (browse_cache.c).
 *
 * The layout (snapshots/, ids/, latest, tags/, hosts/) and its links;
 * stat, listing, readlink and xattrs of a snapshot's entries as recorded,
 * hard links sharing an inode number; st_blocks that leave out chunks of
 * zeros; reads at random offsets and lengths equal the source, past the
 * end read nothing; a snapshot added meanwhile appears (and its blobs,
 * in packs the first index did not list, read); a damaged chunk fails its
 * file's reads naming the file, other files read; a writer is refused;
 * every wrong path, type or name is a clean error; several threads read
 * and list at once while the list refreshes (TSan); the cache keeps held
 * entries and frees the least recently used past its budget.
 */
#include "vault_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ops/browse/browse_cache.h"

#define BIG_LEN (5u * 1024 * 1024 + 12345)
#define ZEROS_LEN (24u * 1024 * 1024)

typedef struct src {
    char dir[PATH_MAX];  /* what was added */
    uint8_t *big;        /* dir/big: BIG_LEN random bytes */
    int have_xattr;      /* dir/small has user.note */
} src;

static void make_src(fx *f, src *s)
{
    char p[PATH_MAX], q[PATH_MAX];
    test_fmt(s->dir, sizeof s->dir, "%s/src", f->base);
    make_dir(s->dir);
    s->big = xmalloc(BIG_LEN);
    rng_fill(s->big, BIG_LEN);
    test_fmt(p, sizeof p, "%s/big", s->dir);
    test_write_file(p, s->big, BIG_LEN);
    test_fmt(p, sizeof p, "%s/small", s->dir);
    test_write_file(p, "small\n", 6);
    s->have_xattr = setxattr(p, "user.note", "hi", 2, 0) == 0;
    test_fmt(q, sizeof q, "%s/hard", s->dir);
    assert_int_equal(link(p, q), 0);
    test_fmt(p, sizeof p, "%s/link", s->dir);
    assert_int_equal(symlink("small", p), 0);
    test_fmt(p, sizeof p, "%s/sub", s->dir);
    make_dir(p);
    /* Zeros long enough to be cut into whole zero chunks, then data. */
    uint8_t *z = calloc(1, ZEROS_LEN + 4096);
    assert_non_null(z);
    memset(z + ZEROS_LEN, 'x', 4096);
    test_fmt(p, sizeof p, "%s/sub/zeros", s->dir);
    test_write_file(p, z, ZEROS_LEN + 4096);
    free(z);
}

/* make_src, added as the fixture's first snapshot. */
static void make_snapshot(fx *f, src *s, vault_add_result *r)
{
    make_src(f, s);
    fx_add(f, s->dir, 0, r);
}

/* Adds dir as a new snapshot through a second handle opened as who, as
 * another process would: new packs and a new index segment the browsing
 * handle's index does not list. */
static void add_from_other_handle(fx *f, const vault_identity_t *who,
                                  const char *dir, const char *host)
{
    vault_t *other = NULL;
    assert_vault_ok(vault_open(f->vault, who, &other));
    const char *paths[] = {dir};
    vault_add_options o;
    vault_add_options_init(&o);
    o.paths = paths;
    o.n_paths = 1;
    o.cache_dir = "";
    o.hostname = host;
    vault_add_result r;
    assert_vault_ok(vault_add(other, &o, &r));
    vault_close(other);
}

static vault_browse_t *open_browse(fx *f, unsigned refresh, size_t cache)
{
    vault_browse_options o;
    vault_browse_options_init(&o);
    o.refresh_seconds = refresh;
    o.cache_bytes = cache;
    vault_browse_t *b = NULL;
    assert_vault_ok(vault_browse_open(f->v, &o, &b));
    return b;
}

typedef struct names {
    char v[64][256];
    vault_browse_stat st[64];
    size_t n;
} names;

static int collect(void *ctx, const char *name, const vault_browse_stat *st)
{
    names *l = ctx;
    assert_true(l->n < 64);
    snprintf(l->v[l->n], sizeof l->v[l->n], "%s", name);
    l->st[l->n++] = *st;
    return 0;
}

static void list(vault_browse_t *b, const char *path, names *out)
{
    memset(out, 0, sizeof *out);
    assert_vault_ok(vault_browse_list(b, path, 0, collect, out));
}

/* "/snapshots/<the only or newest>" + the source dir, in buf. */
static void snap_path(vault_browse_t *b, const src *s, char buf[PATH_MAX])
{
    names l;
    list(b, "/snapshots", &l);
    assert_true(l.n >= 1);
    test_fmt(buf, PATH_MAX, "/snapshots/%s%s", l.v[l.n - 1], s->dir);
}

static void read_all(vault_browse_t *b, const char *path, uint8_t *buf,
                     size_t size, size_t *got)
{
    vault_browse_file_t *file = NULL;
    assert_vault_ok(vault_browse_file_open(b, path, &file));
    assert_vault_ok(vault_browse_file_read(file, 0, buf, size, got));
    vault_browse_file_close(file);
}

static void test_layout(void **state)
{
    fx *f = *state;
    src s;
    vault_add_result r;
    make_snapshot(f, &s, &r);
    vault_browse_t *b = open_browse(f, 0, 0);

    names l;
    list(b, "/", &l);
    assert_int_equal(l.n, 5);
    const char *const top[] = {"hosts", "ids", "latest", "snapshots", "tags"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(l.v[i], top[i]);
    assert_int_equal(l.st[2].type, VAULT_SYMLINK);

    list(b, "/snapshots", &l);
    assert_int_equal(l.n, 1);
    char name[256], want[PATH_MAX], got[PATH_MAX];
    snprintf(name, sizeof name, "%s", l.v[0]);
    assert_int_equal(strlen(name), 19); /* 2026-12-01T21:32:05 */
    test_fmt(want, sizeof want, "snapshots/%s", name);
    assert_vault_ok(vault_browse_readlink(b, "/latest", got, sizeof got, NULL));
    assert_string_equal(got, want);
    test_fmt(want, sizeof want, "/ids/%.8s", r.snapshot_id);
    assert_vault_ok(vault_browse_readlink(b, want, got, sizeof got, NULL));
    test_fmt(want, sizeof want, "../snapshots/%s", name);
    assert_string_equal(got, want);
    list(b, "/hosts", &l);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.v[0], "testhost");
    list(b, "/hosts/testhost", &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.st[0].type, VAULT_SYMLINK);
    list(b, "/tags", &l);
    assert_int_equal(l.n, 0);
    /* A link cut to the buffer, with its whole length told. */
    size_t len = 0;
    char tiny[4];
    assert_vault_ok(vault_browse_readlink(b, "/latest", tiny, sizeof tiny, &len));
    assert_string_equal(tiny, "sna");
    assert_int_equal(len, 10 + strlen(name));

    /* A snapshot's entries, as recorded. */
    char base[PATH_MAX], p[PATH_MAX];
    snap_path(b, &s, base);
    list(b, base, &l);
    const char *const entries[] = {"big", "hard", "link", "small", "sub"};
    assert_int_equal(l.n, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(l.v[i], entries[i]);
    /* From an entry on, as a FUSE server goes on where it stopped. */
    names rest;
    memset(&rest, 0, sizeof rest);
    assert_vault_ok(vault_browse_list(b, base, 3, collect, &rest));
    assert_int_equal(rest.n, 2);
    assert_string_equal(rest.v[0], "small");
    assert_int_equal(rest.st[0].ino, l.st[3].ino);
    memset(&rest, 0, sizeof rest);
    assert_vault_ok(vault_browse_list(b, base, 99, collect, &rest));
    assert_int_equal(rest.n, 0);
    memset(&rest, 0, sizeof rest);
    assert_vault_ok(vault_browse_list(b, "/", 4, collect, &rest));
    assert_int_equal(rest.n, 1);
    assert_string_equal(rest.v[0], "tags");
    struct stat st;
    char local[PATH_MAX];
    test_fmt(local, sizeof local, "%s/small", s.dir);
    assert_int_equal(lstat(local, &st), 0);
    vault_browse_stat bs;
    test_fmt(p, sizeof p, "%s/small", base);
    assert_vault_ok(vault_browse_stat_path(b, p, &bs));
    assert_int_equal(bs.type, VAULT_FILE);
    assert_int_equal(bs.size, 6);
    assert_int_equal(bs.mode, st.st_mode & 07777);
    assert_int_equal(bs.uid, st.st_uid);
    assert_int_equal(bs.mtime_sec, st.st_mtim.tv_sec);
    assert_int_equal(bs.mtime_nsec, st.st_mtim.tv_nsec);
    assert_int_equal(bs.nlink, 2);
    /* The listing says the same as stat, and hard links share a number
     * no other entry has. */
    assert_int_equal(l.st[3].ino, bs.ino);
    assert_int_equal(l.st[1].ino, bs.ino);
    assert_int_not_equal(l.st[0].ino, bs.ino);
    assert_int_not_equal(l.st[4].ino, l.st[0].ino);
    test_fmt(p, sizeof p, "%s/link", base);
    assert_vault_ok(vault_browse_readlink(b, p, got, sizeof got, NULL));
    assert_string_equal(got, "small");
    assert_vault_ok(vault_browse_stat_path(b, p, &bs));
    assert_int_equal(bs.type, VAULT_SYMLINK);
    assert_int_equal(bs.size, 5);

    /* xattrs */
    test_fmt(p, sizeof p, "%s/small", base);
    char xl[64];
    assert_vault_ok(vault_browse_xattr_list(b, p, xl, sizeof xl, &len));
    if (s.have_xattr) {
        assert_int_equal(len, sizeof "user.note");
        assert_memory_equal(xl, "user.note", len);
        assert_vault_ok(vault_browse_xattr_get(b, p, "user.note", xl,
                                               sizeof xl, &len));
        assert_int_equal(len, 2);
        assert_memory_equal(xl, "hi", 2);
    } else {
        assert_int_equal(len, 0);
    }
    assert_int_equal(vault_browse_xattr_get(b, p, "user.none", xl, sizeof xl,
                                            &len),
                     VAULT_E_NOT_FOUND);

    /* Holes: the zero chunks count no blocks. */
    test_fmt(p, sizeof p, "%s/sub/zeros", base);
    assert_vault_ok(vault_browse_stat_path(b, p, &bs));
    assert_int_equal(bs.size, ZEROS_LEN + 4096);
    assert_true(bs.blocks * 512 < 9u * 1024 * 1024);
    test_fmt(p, sizeof p, "%s/big", base);
    assert_vault_ok(vault_browse_stat_path(b, p, &bs));
    assert_int_equal(bs.blocks, (BIG_LEN + 511) / 512);

    vault_browse_close(b);
    free(s.big);
}

static void test_reads(void **state)
{
    fx *f = *state;
    src s;
    vault_add_result r;
    make_snapshot(f, &s, &r);
    /* A cache smaller than the file: chunks come and go. */
    vault_browse_t *b = open_browse(f, 0, 2u * 1024 * 1024);
    char base[PATH_MAX], p[PATH_MAX];
    snap_path(b, &s, base);
    test_fmt(p, sizeof p, "%s/big", base);
    vault_browse_file_t *file = NULL;
    assert_vault_ok(vault_browse_file_open(b, p, &file));
    uint8_t *buf = xmalloc(BIG_LEN + 100);
    size_t got;
    for (int i = 0; i < 200; i++) {
        size_t off = rng_below(BIG_LEN + 1);
        size_t n = rng_below(i % 3 == 0 ? 3u * 1024 * 1024 : 70000) + 1;
        assert_vault_ok(vault_browse_file_read(file, off, buf, n, &got));
        size_t want = off + n > BIG_LEN ? BIG_LEN - off : n;
        assert_int_equal(got, want);
        assert_memory_equal(buf, s.big + off, got);
    }
    assert_vault_ok(vault_browse_file_read(file, 0, buf, BIG_LEN + 100, &got));
    assert_int_equal(got, BIG_LEN);
    assert_memory_equal(buf, s.big, BIG_LEN);
    assert_vault_ok(vault_browse_file_read(file, BIG_LEN + 7, buf, 10, &got));
    assert_int_equal(got, 0);
    vault_browse_file_close(file);

    /* The file of zeros reads as zeros, then its data. */
    test_fmt(p, sizeof p, "%s/sub/zeros", base);
    uint8_t *z = xmalloc(ZEROS_LEN + 4096);
    read_all(b, p, z, ZEROS_LEN + 4096, &got);
    assert_int_equal(got, ZEROS_LEN + 4096);
    for (size_t i = 0; i < ZEROS_LEN; i += 4093)
        assert_int_equal(z[i], 0);
    assert_int_equal(z[ZEROS_LEN], 'x');
    free(z);
    free(buf);
    vault_browse_close(b);
    free(s.big);
}

static void test_errors(void **state)
{
    fx *f = *state;
    src s;
    vault_add_result r;
    make_snapshot(f, &s, &r);
    vault_browse_t *b = open_browse(f, 0, 0);
    char base[PATH_MAX], p[PATH_MAX], buf[64];
    size_t len;
    snap_path(b, &s, base);
    vault_browse_stat st;
    vault_browse_file_t *file = NULL;
    const char *const missing[] = {"/nothing", "/snapshots/nothing",
                                   "/ids/00000000", "/tags/x", "/hosts/x",
                                   "/latest/x", "/hosts/testhost/x"};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(missing); i++)
        assert_int_equal(vault_browse_stat_path(b, missing[i], &st),
                         VAULT_E_NOT_FOUND);
    test_fmt(p, sizeof p, "%s/none", base);
    assert_int_equal(vault_browse_stat_path(b, p, &st), VAULT_E_NOT_FOUND);
    assert_non_null(strstr(vault_last_error(), "none"));
    test_fmt(p, sizeof p, "%s/small/below", base);
    assert_int_equal(vault_browse_stat_path(b, p, &st), VAULT_E_NOT_FOUND);
    test_fmt(p, sizeof p, "%s/small", base);
    assert_int_equal(vault_browse_list(b, p, 0, collect, &(names){0}),
                     VAULT_E_INVALID);
    assert_int_equal(vault_browse_readlink(b, p, buf, sizeof buf, &len),
                     VAULT_E_INVALID);
    assert_int_equal(vault_browse_list(b, "/latest", 0, collect, &(names){0}),
                     VAULT_E_INVALID);
    assert_int_equal(vault_browse_file_open(b, base, &file), VAULT_E_INVALID);
    assert_null(file);
    assert_int_equal(vault_browse_file_open(b, "/ids", &file),
                     VAULT_E_INVALID);
    /* Made-up folders have no xattrs. */
    assert_vault_ok(vault_browse_xattr_list(b, "/", buf, sizeof buf, &len));
    assert_int_equal(len, 0);
    /* Files still open are closed with the handle (ASan sees a leak
     * otherwise). */
    test_fmt(p, sizeof p, "%s/big", base);
    assert_vault_ok(vault_browse_file_open(b, p, &file));
    vault_browse_file_t *second = NULL;
    assert_vault_ok(vault_browse_file_open(b, p, &second));
    vault_browse_file_close(file);
    vault_browse_close(b);
    vault_browse_close(NULL);
    vault_browse_file_close(NULL);
    free(s.big);
}

static void test_new_snapshot_appears(void **state)
{
    fx *f = *state;
    src s;
    vault_add_result r;
    make_snapshot(f, &s, &r);
    vault_browse_t *b = open_browse(f, 1, 0);
    names l;
    list(b, "/snapshots", &l);
    assert_int_equal(l.n, 1);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/fresh", s.dir);
    test_write_file(p, "fresh content\n", 14);
    add_from_other_handle(f, f->id, s.dir, "otherhost");
    sleep(2);
    list(b, "/snapshots", &l);
    assert_int_equal(l.n, 2);
    list(b, "/hosts", &l);
    assert_int_equal(l.n, 2);
    char latest[PATH_MAX], got[PATH_MAX];
    assert_vault_ok(vault_browse_readlink(b, "/latest", got, sizeof got, NULL));
    test_fmt(latest, sizeof latest, "/%s%s/fresh", got, s.dir);
    uint8_t buf[64];
    size_t n;
    read_all(b, latest, buf, sizeof buf, &n);
    assert_int_equal(n, 14);
    assert_memory_equal(buf, "fresh content\n", 14);
    vault_browse_close(b);
    free(s.big);
}

/* Flips a byte in the middle of the largest pack under dir: writes its
 * complement (writing 0xff, as before, changed nothing where the byte
 * was 0xff already: one run in 256 read the "damaged" file whole). */
static void damage_largest_pack(const char *vault_dir)
{
    char cmd[PATH_MAX * 2];
    test_fmt(cmd, sizeof cmd,
             "p=$(find '%s/data' -type f -printf '%%s %%p\\n' | sort -n | "
             "tail -n 1 | cut -d' ' -f2) && s=$(stat -c %%s \"$p\") && "
             "b=$(od -An -tu1 -j $((s / 2)) -N 1 \"$p\") && "
             "printf \"\\\\$(printf %%o $((255 - b)))\" | "
             "dd of=\"$p\" bs=1 seek=$((s / 2)) conv=notrunc status=none",
             vault_dir);
    assert_int_equal(test_run("%s", cmd), 0);
}

static void test_damaged_chunk(void **state)
{
    fx *f = *state;
    src s;
    make_src(f, &s);
    /* Without the file of zeros, so that the largest pack is mostly
     * big's chunks (the chunk of zeros is stored but never read). */
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/sub", s.dir);
    rm_rf(p);
    vault_add_result r;
    fx_add(f, s.dir, VAULT_COMPRESSION_OFF, &r);
    damage_largest_pack(f->vault);
    vault_browse_t *b = open_browse(f, 0, 0);
    char base[PATH_MAX];
    snap_path(b, &s, base);
    test_fmt(p, sizeof p, "%s/big", base);
    vault_browse_file_t *file = NULL;
    assert_vault_ok(vault_browse_file_open(b, p, &file));
    uint8_t *buf = xmalloc(BIG_LEN);
    size_t got = 1;
    vault_error rc = vault_browse_file_read(file, 0, buf, BIG_LEN, &got);
    assert_int_not_equal(rc, VAULT_OK);
    assert_int_equal(got, 0);
    assert_non_null(strstr(vault_last_error(), "/big"));
    vault_browse_file_close(file);
    test_fmt(p, sizeof p, "%s/small", base);
    read_all(b, p, buf, 64, &got);
    assert_int_equal(got, 6);
    assert_memory_equal(buf, "small\n", 6);
    free(buf);
    vault_browse_close(b);
    free(s.big);
}

static void test_writer_refused(void **state)
{
    fx *f = *state;
    vault_identity_t *w = NULL;
    assert_vault_ok(vault_identity_generate(&w));
    assert_vault_ok(
        vault_share(f->v, vault_identity_recipient(w), VAULT_ROLE_WRITER));
    vault_t *wv = NULL;
    assert_vault_ok(vault_open(f->vault, w, &wv));
    vault_browse_t *b = (vault_browse_t *)1;
    assert_int_equal(vault_browse_open(wv, NULL, &b), VAULT_E_PERMISSION);
    assert_null(b);
    assert_non_null(strstr(vault_last_error(), "writer"));
    vault_close(wv);
    vault_identity_free(w);
}

static void test_latest_is_own(void **state)
{
    fx *f = *state;
    src s;
    vault_add_result r;
    make_snapshot(f, &s, &r);
    /* A reader adds a snapshot after the owner's. */
    vault_identity_t *rd = NULL;
    assert_vault_ok(vault_identity_generate(&rd));
    assert_vault_ok(
        vault_share(f->v, vault_identity_recipient(rd), VAULT_ROLE_READER));
    add_from_other_handle(f, rd, s.dir, "readerhost");
    vault_identity_free(rd);
    vault_browse_t *b = open_browse(f, 0, 0);
    names l;
    list(b, "/snapshots", &l);
    assert_int_equal(l.n, 2);
    char got[PATH_MAX], want[PATH_MAX];
    assert_vault_ok(vault_browse_readlink(b, "/latest", got, sizeof got, NULL));
    /* The owner's own, older one, as vault_snapshot_resolve says. */
    char id[65];
    assert_vault_ok(vault_snapshot_resolve(f->v, "latest", id));
    assert_string_equal(id, r.snapshot_id);
    test_fmt(want, sizeof want, "snapshots/%s", l.v[0]);
    assert_string_equal(got, want);
    vault_browse_close(b);
    free(s.big);
}

typedef struct reader_arg {
    vault_browse_t *b;
    atomic_int *stop;   /* set once the main thread is done */
    const char *base;
    const uint8_t *big;
    int seed;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/big", a->base);
    uint8_t *buf = xmalloc(300000);
    uint64_t x = (uint64_t)a->seed * 2654435761u + 1;
    /* Until the main thread has added a snapshot and let the list
     * refresh (and the index load again) under these reads. */
    for (int i = 0; i < 10 || !atomic_load(a->stop); i++) {
        vault_browse_file_t *file = NULL;
        assert_vault_ok(vault_browse_file_open(a->b, path, &file));
        x = x * 6364136223846793005u + 1442695040888963407u;
        size_t off = (size_t)(x >> 33) % BIG_LEN;
        size_t got;
        assert_vault_ok(vault_browse_file_read(file, off, buf, 300000, &got));
        assert_memory_equal(buf, a->big + off, got);
        vault_browse_file_close(file);
        names l;
        list(a->b, "/snapshots", &l);
        list(a->b, a->base, &l);
    }
    free(buf);
    return NULL;
}

static void test_threads(void **state)
{
    fx *f = *state;
    src s;
    vault_add_result r;
    make_snapshot(f, &s, &r);
    /* Refreshing at every chance: each listing of /snapshots lists. */
    vault_browse_t *b = open_browse(f, 1, 1024 * 1024);
    char base[PATH_MAX];
    snap_path(b, &s, base);
    pthread_t t[4];
    reader_arg a[4];
    atomic_int stop = 0;
    for (int i = 0; i < 4; i++) {
        a[i] = (reader_arg){b, &stop, base, s.big, i};
        assert_int_equal(pthread_create(&t[i], NULL, reader, &a[i]), 0);
    }
    /* Meanwhile another handle adds a snapshot: the index is loaded
     * again under the readers. */
    add_from_other_handle(f, f->id, s.dir, "testhost");
    sleep(2); /* a refresh is due meanwhile */
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    sleep(1);
    names l;
    list(b, "/snapshots", &l);
    assert_int_equal(l.n, 2);
    vault_browse_close(b);
    free(s.big);
}

static void free_counted(void *value)
{
    (*(int *)value)++;
}

static void test_cache(void **state)
{
    (void)state;
    vlt_browse_cache c;
    vlt_browse_cache_init(&c, 100, free_counted);
    int freed[4] = {0};
    uint8_t id[4][CHUNK_ID_BYTES];
    for (int i = 0; i < 4; i++)
        memset(id[i], i + 1, CHUNK_ID_BYTES);
    assert_ptr_equal(vlt_browse_cache_add(&c, id[0], &freed[0], 60),
                     &freed[0]);
    vlt_browse_cache_put(&c, id[0]);
    assert_ptr_equal(vlt_browse_cache_add(&c, id[1], &freed[1], 30),
                     &freed[1]);
    vlt_browse_cache_put(&c, id[1]);
    assert_int_equal(vlt_browse_cache_bytes(&c), 90);
    /* id[1] used last: id[0] goes first when the budget is passed. */
    assert_non_null(vlt_browse_cache_get(&c, id[0]));
    vlt_browse_cache_put(&c, id[0]);
    assert_non_null(vlt_browse_cache_get(&c, id[1]));
    vlt_browse_cache_put(&c, id[1]);
    vlt_browse_cache_add(&c, id[2], &freed[2], 30);
    assert_int_equal(freed[0], 1);
    assert_int_equal(freed[1], 0);
    assert_null(vlt_browse_cache_get(&c, id[0]));
    /* A held entry is kept over budget, and freed once put back. */
    vlt_browse_cache_add(&c, id[3], &freed[3], 500);
    assert_int_equal(freed[3], 0);
    assert_int_equal(freed[1], 1);
    assert_int_equal(freed[2], 0); /* still held */
    vlt_browse_cache_put(&c, id[2]);
    assert_int_equal(freed[2], 1);
    vlt_browse_cache_put(&c, id[3]);
    assert_int_equal(freed[3], 1);
    assert_int_equal(vlt_browse_cache_bytes(&c), 0);
    /* Adding what another thread added first keeps the first. */
    int again = 0, first = 0;
    vlt_browse_cache_add(&c, id[0], &first, 10);
    assert_ptr_equal(vlt_browse_cache_add(&c, id[0], &again, 10), &first);
    assert_int_equal(again, 1);
    vlt_browse_cache_put(&c, id[0]);
    vlt_browse_cache_put(&c, id[0]);
    vlt_browse_cache_destroy(&c);
    assert_int_equal(first, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layout, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_reads, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_errors, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_new_snapshot_appears, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_chunk, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_writer_refused, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_latest_is_own, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_threads, fx_setup, fx_teardown),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
