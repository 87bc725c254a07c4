/*
 * test_prune.c - forget and prune (format spec "Forget policies" and
 * "Pruning without locks").
 *
 *  1. Forget policies on forged snapshots with chosen times: keep-last,
 *     hourly, daily, weekly (ISO weeks across year ends), monthly, yearly,
 *     tags and combinations against the expected kept sets; grouping; local
 *     time; refusals; removal by ID; owners only.
 *  2. Prune after forget frees the space, and what is left extracts
 *     exactly as it was added.
 *  3. The race with a running add: prune marks but does not sweep while an
 *     add marker is live; an add meanwhile does not deduplicate against
 *     the condemned packs; once the marker is gone the next prune sweeps.
 *     Stale markers are ignored and removed; the grace period holds a
 *     sweep back (pinned clock).
 *  4. Rescue: a snapshot committed after the mark that references blobs
 *     only in condemned packs (as an add that started before the mark may
 *     commit) still extracts after the sweep.
 *  5. Repacking (max unused), blobs stored in two packs (counted once),
 *     packs no index segment lists.
 *  6. Dry runs change nothing and predict the real run.
 *  7. Crash safety: prune through a backend that fails every operation
 *     from the Nth on, for every N; afterwards every snapshot extracts and
 *     a normal prune completes.
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend_testing.h"
#include "common/internal.h"
#include "format/locks.h"
#include "format/pack.h"
#include "repo/repo.h"
#include "format/tree.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

/* A file of len pseudo-random bytes from seed (incompressible). */
static void random_file(const char *path, size_t len, uint64_t seed)
{
    uint8_t *buf = malloc(len ? len : 1);
    assert_non_null(buf);
    rng_state = seed * 0x9E3779B97F4A7C15u + 1;
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(rng_next() >> 56);
    test_write_file(path, buf, len);
    free(buf);
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

static uint64_t tree_files, tree_bytes;

static int tree_count(const char *path, const struct stat *st, int flag,
                      struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (flag == FTW_F) {
        tree_files++;
        tree_bytes += (uint64_t)st->st_size;
    }
    return 0;
}

/* Files and bytes under dir. */
static uint64_t files_under(const char *dir, uint64_t *bytes)
{
    tree_files = tree_bytes = 0;
    if (nftw(dir, tree_count, 16, FTW_PHYS) != 0)
        fail_msg("cannot walk %s", dir);
    if (bytes)
        *bytes = tree_bytes;
    return tree_files;
}

/* ---- fixture: a fresh vault --------------------------------------------- */

typedef struct fx {
    char *base;
    char vault[PATH_MAX];
    char data[PATH_MAX]; /* vault/data */
    vault_identity_t *id;
    vault_t *v;
    int outs; /* extraction directories made */
} fx;

static int fx_setup(void **state)
{
    assert_vault_ok(vault_global_init());
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char *tmp = test_tempdir();
    f->base = realpath(tmp, NULL);
    assert_non_null(f->base);
    free(tmp);
    test_fmt(f->vault, sizeof f->vault, "%s/vault", f->base);
    test_fmt(f->data, sizeof f->data, "%s/data", f->vault);
    assert_vault_ok(vault_identity_generate(&f->id));
    assert_vault_ok(vault_init(f->vault, vault_identity_recipient(f->id)));
    assert_vault_ok(vault_open(f->vault, f->id, &f->v));
    setenv("TZ", "UTC", 1);
    tzset();
    vlt_clock_pin(0);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    vlt_clock_pin(0);
    vault_close(f->v);
    vault_identity_free(f->id);
    test_rmtree(f->base);
    free(f);
    return 0;
}

static void fx_reopen(fx *f)
{
    vault_close(f->v);
    f->v = NULL;
    assert_vault_ok(vault_open(f->vault, f->id, &f->v));
}

static void add_must_not_fail(void *ctx, const char *path, const char *detail)
{
    (void)ctx;
    fail_msg("add reported %s: %s", path, detail);
}

static void fx_add(fx *f, const char *path, int threads, vault_add_result *r)
{
    const char *paths[] = {path};
    vault_add_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.n_paths = 1;
    o.threads = threads;
    o.cache_dir = "";
    o.hostname = "testhost";
    o.on_error = add_must_not_fail;
    assert_vault_ok(vault_add(f->v, &o, r));
}

/* A source tree <base>/<name>: n files of size bytes (seeded), and a
 * small text file. */
static void make_source(fx *f, const char *name, size_t n, size_t size,
                        uint64_t seed, char *out, size_t out_size)
{
    char p[PATH_MAX];
    test_fmt(out, out_size, "%s/%s", f->base, name);
    make_dir(out);
    for (size_t i = 0; i < n; i++) {
        test_fmt(p, sizeof p, "%s/f%02zu.bin", out, i);
        random_file(p, size, seed * 1000 + i);
    }
    test_fmt(p, sizeof p, "%s/note.txt", out);
    test_write_file(p, name, strlen(name));
}

/* Extracts snapshot id (through handle v) and requires it to equal the
 * directory src. */
static void expect_extracts_v(fx *f, vault_t *v, const char *id,
                              const char *src)
{
    char out[PATH_MAX];
    test_fmt(out, sizeof out, "%s/out%d", f->base, f->outs++);
    vault_extract_options o;
    memset(&o, 0, sizeof o);
    o.target_dir = out;
    vault_extract_result r;
    assert_vault_ok(vault_extract(v, id, &o, &r));
    assert_int_equal(r.errors, 0);
    if (test_run("diff -r '%s' '%s%s' >/dev/null", src, out, src) != 0)
        fail_msg("snapshot %.8s does not extract as %s", id, src);
    test_run("rm -rf '%s'", out);
}

static void expect_extracts(fx *f, const char *id, const char *src)
{
    expect_extracts_v(f, f->v, id, src);
}

static void prune(fx *f, int dry_run, int64_t grace, int max_unused,
                  vault_prune_result *r)
{
    vault_prune_options o = {.dry_run = dry_run,
                             .grace_seconds = grace,
                             .max_unused_percent = max_unused};
    vault_error rc = vault_prune(f->v, &o, r);
    if (rc != VAULT_OK) {
        vault_prune_result_free(r);
        fail_msg("vault_prune: %s: %s", vault_strerror(rc),
                 vault_last_error());
    }
}

static void forget_ids(fx *f, const char *const *ids, size_t n)
{
    vault_forget_options o = {.snapshots = ids, .n_snapshots = n};
    vault_forget_result r;
    assert_vault_ok(vault_forget(f->v, &o, &r));
    assert_int_equal(r.n_removed, n);
    vault_forget_result_free(&r);
}

static size_t count_objects(fx *f, const char *kind)
{
    char dir[PATH_MAX];
    test_fmt(dir, sizeof dir, "%s/%s", f->vault, kind);
    return (size_t)files_under(dir, NULL);
}

static void write_marker(fx *f, int64_t time, const char *host,
                         lock_record *out)
{
    memset(out, 0, sizeof *out);
    out->kind = LOCK_ADD;
    out->time = time;
    out->pid = 4242;
    snprintf(out->host, sizeof out->host, "%s", host);
    assert_vault_ok(vlt_lock_write(f->v, out));
}

/* =========================================================================
 * 1. Forget policies
 */

/* Forged snapshots of the same tree at chosen times. */
typedef struct forged {
    snapshot_record base; /* the real snapshot they copy */
    char ids[32][65];
    size_t n;
} forged;

static void forge_begin(fx *f, forged *fs)
{
    memset(fs, 0, sizeof *fs);
    char src[PATH_MAX];
    make_source(f, "forge-src", 1, 1000, 1, src, sizeof src);
    vault_add_result r;
    fx_add(f, src, 1, &r);
    assert_vault_ok(vlt_repo_snapshot_load(f->v, r.snapshot_id, &fs->base));
    /* The real one goes: the tests want only forged ones. */
    const char *ids[] = {r.snapshot_id};
    forget_ids(f, ids, 1);
}

/* A snapshot at time t of host (NULL: testhost) with tags (comma-
 * separated; NULL or "": none); returns its index. */
static size_t forge(fx *f, forged *fs, int64_t t, const char *host,
                    const char *tags)
{
    assert_true(fs->n < 32);
    snapshot_record rec = fs->base;
    rec.time_sec = t;
    rec.time_nsec = 0;
    char hostbuf[64];
    snprintf(hostbuf, sizeof hostbuf, "%s", host ? host : "testhost");
    rec.hostname = hostbuf;
    char buf[256] = "";
    char *tagv[8];
    rec.n_tags = 0;
    if (tags && tags[0]) {
        snprintf(buf, sizeof buf, "%s", tags);
        for (char *p = buf; p && *p && rec.n_tags < 8;) {
            tagv[rec.n_tags++] = p;
            p = strchr(p, ',');
            if (p)
                *p++ = '\0';
        }
    }
    rec.tags = tagv;
    assert_vault_ok(vlt_repo_snapshot_save(f->v, &rec, fs->ids[fs->n]));
    return fs->n++;
}

static void forge_end(forged *fs)
{
    vlt_snapshot_clear(&fs->base);
}

/* Runs forget (as o says, dry run unless o->dry_run is 2: for real) and
 * returns the set of forged snapshots kept, as bits by index. */
static uint32_t kept_set(fx *f, const forged *fs, vault_forget_options o,
                         vault_forget_result *keep_result)
{
    o.dry_run = o.dry_run != 2;
    vault_forget_result r;
    assert_vault_ok(vault_forget(f->v, &o, &r));
    uint32_t kept = 0;
    assert_int_equal(r.n_entries, r.n_kept + r.n_removed);
    for (size_t i = 0; i < r.n_entries; i++) {
        size_t k = 0;
        while (k < fs->n && strcmp(fs->ids[k], r.entries[i].snapshot->id))
            k++;
        if (k == fs->n)
            fail_msg("forget listed a snapshot that was not forged");
        if (!r.entries[i].removed)
            kept |= 1u << k;
        assert_int_equal(!r.entries[i].removed, r.entries[i].reasons != 0);
    }
    if (keep_result)
        *keep_result = r;
    else
        vault_forget_result_free(&r);
    return kept;
}

#define EXPECT_KEPT(f, fs, o, want)                                          \
    do {                                                                     \
        uint32_t got_ = kept_set(f, fs, o, NULL);                            \
        if (got_ != (uint32_t)(want))                                        \
            fail_msg("%s: kept 0x%x, expected 0x%x", #o, got_,               \
                     (unsigned)(want));                                      \
    } while (0)

#define BIT(i) (1u << (i))

/* s0..s9, UTC (see the dates' ISO weeks in the comments). */
static const int64_t T[10] = {
    1704065400, /* s0 2023-12-31 23:30 Sun, 2023-W52 */
    1704103200, /* s1 2024-01-01 10:00 Mon, 2024-W01 */
    1704105000, /* s2 2024-01-01 10:30 (the same hour as s1) */
    1704107700, /* s3 2024-01-01 11:15 */
    1704186000, /* s4 2024-01-02 09:00, 2024-W01 */
    1704715200, /* s5 2024-01-08 12:00 Mon, 2024-W02 */
    1705255200, /* s6 2024-01-14 18:00 Sun, 2024-W02 */
    1707552000, /* s7 2024-02-10 08:00, 2024-W06 */
    1709280000, /* s8 2024-03-01 08:00, 2024-W09 */
    1736064000, /* s9 2025-01-05 08:00 Sun, 2025-W01 */
};

static void test_forget_policies(void **state)
{
    fx *f = *state;
    forged fs;
    forge_begin(f, &fs);
    static const char *tags[10] = {NULL, "a,b", "a", "keep", NULL,
                                   "keep", NULL, NULL, NULL, NULL};
    for (size_t i = 0; i < 10; i++)
        forge(f, &fs, T[i], NULL, tags[i]);

    vault_forget_options o;
    memset(&o, 0, sizeof o);
    o.keep_last = 3;
    EXPECT_KEPT(f, &fs, o, BIT(9) | BIT(8) | BIT(7));
    o.keep_last = 100;
    EXPECT_KEPT(f, &fs, o, 0x3ff);

    memset(&o, 0, sizeof o);
    o.keep_hourly = 4;
    EXPECT_KEPT(f, &fs, o, BIT(9) | BIT(8) | BIT(7) | BIT(6));
    o.keep_hourly = 10; /* s1 shares s2's hour: s2 is newer */
    EXPECT_KEPT(f, &fs, o, 0x3ff & ~BIT(1));

    memset(&o, 0, sizeof o);
    o.keep_daily = 7; /* s3 stands for 2024-01-01; s0 is the 8th day */
    EXPECT_KEPT(f, &fs, o, 0x3f8);
    o.keep_daily = 8;
    EXPECT_KEPT(f, &fs, o, 0x3f8 | BIT(0));

    memset(&o, 0, sizeof o);
    o.keep_weekly = 5; /* s6 stands for 2024-W02, s4 for 2024-W01 */
    EXPECT_KEPT(f, &fs, o, BIT(9) | BIT(8) | BIT(7) | BIT(6) | BIT(4));
    o.keep_weekly = VAULT_KEEP_ALL;
    EXPECT_KEPT(f, &fs, o,
                BIT(9) | BIT(8) | BIT(7) | BIT(6) | BIT(4) | BIT(0));

    memset(&o, 0, sizeof o);
    o.keep_monthly = 3;
    EXPECT_KEPT(f, &fs, o, BIT(9) | BIT(8) | BIT(7));
    o.keep_monthly = 5;
    EXPECT_KEPT(f, &fs, o,
                BIT(9) | BIT(8) | BIT(7) | BIT(6) | BIT(0));

    memset(&o, 0, sizeof o);
    o.keep_yearly = 2;
    EXPECT_KEPT(f, &fs, o, BIT(9) | BIT(8));
    o.keep_yearly = 3;
    EXPECT_KEPT(f, &fs, o, BIT(9) | BIT(8) | BIT(0));

    /* Rules add up: a snapshot any rule keeps is kept. */
    memset(&o, 0, sizeof o);
    o.keep_last = 1;
    o.keep_weekly = 2;
    o.keep_yearly = 3;
    vault_forget_result r;
    assert_int_equal(kept_set(f, &fs, o, &r), BIT(9) | BIT(8) | BIT(0));
    for (size_t i = 0; i < r.n_entries; i++) {
        const char *id = r.entries[i].snapshot->id;
        unsigned want = strcmp(id, fs.ids[9]) == 0
                            ? VAULT_KEEP_LAST | VAULT_KEEP_WEEKLY |
                                  VAULT_KEEP_YEARLY
                        : strcmp(id, fs.ids[8]) == 0
                            ? VAULT_KEEP_WEEKLY | VAULT_KEEP_YEARLY
                        : strcmp(id, fs.ids[0]) == 0 ? VAULT_KEEP_YEARLY
                                                     : 0;
        assert_int_equal(r.entries[i].reasons, want);
        assert_int_equal(r.entries[i].group, 0);
    }
    /* oldest first */
    assert_string_equal(r.entries[0].snapshot->id, fs.ids[0]);
    assert_string_equal(r.entries[9].snapshot->id, fs.ids[9]);
    assert_int_equal(r.n_groups, 1);
    vault_forget_result_free(&r);

    /* Tags: every tag of one list; "" for untagged ones. */
    static const char *keep[] = {"keep"};
    static const char *both[] = {"a,b"};
    static const char *either[] = {"b", "keep"};
    static const char *untagged[] = {""};
    memset(&o, 0, sizeof o);
    o.keep_tags = keep;
    o.n_keep_tags = 1;
    o.keep_last = 1;
    EXPECT_KEPT(f, &fs, o, BIT(9) | BIT(5) | BIT(3));
    o.keep_last = 0;
    o.keep_tags = both;
    EXPECT_KEPT(f, &fs, o, BIT(1));
    o.keep_tags = either;
    o.n_keep_tags = 2;
    EXPECT_KEPT(f, &fs, o, BIT(1) | BIT(3) | BIT(5));
    o.keep_tags = untagged;
    o.n_keep_tags = 1;
    EXPECT_KEPT(f, &fs, o, 0x3ff & ~(BIT(1) | BIT(2) | BIT(3) | BIT(5)));

    /* A tag-only policy that would empty a group is refused. */
    static const char *none[] = {"nosuchtag"};
    o.keep_tags = none;
    vault_forget_result rr;
    assert_vault_code(vault_forget(f->v, &o, &rr), VAULT_E_INVALID);
    vault_forget_result_free(&rr);

    /* No policy, or a policy and IDs, is refused; so are bad counts. */
    memset(&o, 0, sizeof o);
    assert_vault_code(vault_forget(f->v, &o, &rr), VAULT_E_INVALID);
    vault_forget_result_free(&rr);
    const char *one[] = {fs.ids[0]};
    o.snapshots = one;
    o.n_snapshots = 1;
    o.keep_last = 1;
    assert_vault_code(vault_forget(f->v, &o, &rr), VAULT_E_INVALID);
    vault_forget_result_free(&rr);
    memset(&o, 0, sizeof o);
    o.keep_daily = -5;
    assert_vault_code(vault_forget(f->v, &o, &rr), VAULT_E_INVALID);
    vault_forget_result_free(&rr);
    size_t count;
    assert_vault_ok(vault_snapshot_count(f->v, &count));
    assert_int_equal(count, 10);

    /* For real: the removed snapshot objects are gone. */
    memset(&o, 0, sizeof o);
    o.keep_monthly = 3;
    o.dry_run = 2;
    assert_int_equal(kept_set(f, &fs, o, NULL), BIT(9) | BIT(8) | BIT(7));
    assert_vault_ok(vault_snapshot_count(f->v, &count));
    assert_int_equal(count, 3);
    forge_end(&fs);
}

/* ISO weeks across year ends; local time decides the buckets. */
static void test_forget_calendar(void **state)
{
    fx *f = *state;
    forged fs;
    forge_begin(f, &fs);
    forge(f, &fs, 1609156800, NULL, NULL); /* 0: 2020-12-28 Mon, 2020-W53 */
    forge(f, &fs, 1609675200, NULL, NULL); /* 1: 2021-01-03 Sun, 2020-W53 */
    forge(f, &fs, 1609761600, NULL, NULL); /* 2: 2021-01-04 Mon, 2021-W01 */
    forge(f, &fs, 1735560000, NULL, NULL); /* 3: 2024-12-30 Mon, 2025-W01 */
    forge(f, &fs, 1736064000, NULL, NULL); /* 4: 2025-01-05 Sun, 2025-W01 */
    vault_forget_options o;
    memset(&o, 0, sizeof o);
    o.keep_weekly = VAULT_KEEP_ALL;
    EXPECT_KEPT(f, &fs, o, BIT(4) | BIT(2) | BIT(1));
    memset(&o, 0, sizeof o);
    o.keep_yearly = VAULT_KEEP_ALL; /* calendar years, not ISO years */
    EXPECT_KEPT(f, &fs, o, BIT(4) | BIT(3) | BIT(2) | BIT(0));

    forge_end(&fs);
}

static void test_forget_local_time(void **state)
{
    fx *f = *state;
    forged fs;
    forge_begin(f, &fs);
    forge(f, &fs, 1717246800, NULL, NULL); /* 2024-06-01 13:00 UTC */
    forge(f, &fs, 1717254000, NULL, NULL); /* 2024-06-01 15:00 UTC */
    vault_forget_options o;
    memset(&o, 0, sizeof o);
    o.keep_daily = 5;
    EXPECT_KEPT(f, &fs, o, BIT(1));
    setenv("TZ", "UTC-10", 1); /* POSIX: ten hours east of UTC */
    tzset();
    EXPECT_KEPT(f, &fs, o, BIT(0) | BIT(1));
    setenv("TZ", "UTC", 1);
    tzset();
    forge_end(&fs);
}

/* Groups: by host and paths unless told otherwise. */
static void test_forget_groups(void **state)
{
    fx *f = *state;
    forged fs;
    forge_begin(f, &fs);
    forge(f, &fs, T[0], "alpha", "x");
    forge(f, &fs, T[1], "alpha", "y");
    forge(f, &fs, T[2], "beta", "x");
    forge(f, &fs, T[3], "beta", "y");
    forge(f, &fs, T[4], "alpha", "x");
    vault_forget_options o;
    memset(&o, 0, sizeof o);
    o.keep_last = 1;
    vault_forget_result r;
    assert_int_equal(kept_set(f, &fs, o, &r), BIT(4) | BIT(3));
    assert_int_equal(r.n_groups, 2);
    for (size_t i = 1; i < r.n_entries; i++)
        assert_true(r.entries[i].group >= r.entries[i - 1].group);
    vault_forget_result_free(&r);
    o.group_by = VAULT_GROUP_NONE;
    EXPECT_KEPT(f, &fs, o, BIT(4));
    o.group_by = VAULT_GROUP_TAGS;
    EXPECT_KEPT(f, &fs, o, BIT(4) | BIT(3));
    o.group_by = VAULT_GROUP_HOST | VAULT_GROUP_TAGS;
    EXPECT_KEPT(f, &fs, o, BIT(4) | BIT(1) | BIT(2) | BIT(3));
    forge_end(&fs);
}

/* Removal by ID (prefix), and owners only. */
static void test_forget_by_id_and_roles(void **state)
{
    fx *f = *state;
    forged fs;
    forge_begin(f, &fs);
    forge(f, &fs, T[0], NULL, NULL);
    forge(f, &fs, T[1], NULL, NULL);
    forge(f, &fs, T[2], NULL, NULL);
    char prefix[9];
    snprintf(prefix, sizeof prefix, "%.8s", fs.ids[1]);
    const char *ids[] = {prefix};
    vault_forget_options o = {.snapshots = ids, .n_snapshots = 1,
                              .dry_run = 1};
    vault_forget_result r;
    assert_vault_ok(vault_forget(f->v, &o, &r));
    assert_int_equal(r.n_removed, 1);
    for (size_t i = 0; i < r.n_entries; i++)
        assert_int_equal(r.entries[i].removed,
                         strcmp(r.entries[i].snapshot->id, fs.ids[1]) == 0);
    vault_forget_result_free(&r);
    o.dry_run = 0;
    assert_vault_ok(vault_forget(f->v, &o, &r));
    vault_forget_result_free(&r);
    size_t count;
    assert_vault_ok(vault_snapshot_count(f->v, &count));
    assert_int_equal(count, 2);
    const char *missing[] = {"0000000000"};
    o.snapshots = missing;
    assert_vault_code(vault_forget(f->v, &o, &r), VAULT_E_NOT_FOUND);
    vault_forget_result_free(&r);

    /* A reader may read everything, but not forget nor prune. */
    vault_identity_t *reader;
    assert_vault_ok(vault_identity_generate(&reader));
    assert_vault_ok(vault_share(f->v, vault_identity_recipient(reader),
                                VAULT_ROLE_READER));
    vault_t *rv;
    assert_vault_ok(vault_open(f->vault, reader, &rv));
    o.snapshots = ids;
    snprintf(prefix, sizeof prefix, "%.8s", fs.ids[0]);
    assert_vault_code(vault_forget(rv, &o, &r), VAULT_E_PERMISSION);
    vault_forget_result_free(&r);
    vault_prune_options po = {0};
    vault_prune_result pr;
    assert_vault_code(vault_prune(rv, &po, &pr), VAULT_E_PERMISSION);
    vault_prune_result_free(&pr);
    vault_close(rv);
    vault_identity_free(reader);
    assert_vault_ok(vault_snapshot_count(f->v, &count));
    assert_int_equal(count, 2);
    forge_end(&fs);
}

/* =========================================================================
 * 2. Prune after forget
 */

static void test_prune_after_forget(void **state)
{
    fx *f = *state;
    char v1[PATH_MAX], v2[PATH_MAX], v3[PATH_MAX];
    make_source(f, "v1", 4, 300 * 1024, 1, v1, sizeof v1);
    make_source(f, "v2", 4, 300 * 1024, 2, v2, sizeof v2);
    make_source(f, "v3", 4, 300 * 1024, 3, v3, sizeof v3);
    vault_add_result a1, a2, a3;
    fx_add(f, v1, 2, &a1);
    fx_add(f, v2, 2, &a2);
    fx_add(f, v3, 2, &a3);
    uint64_t before, after;
    size_t packs_before = (size_t)files_under(f->data, &before);

    /* Three paths are three groups: each keeps its newest... */
    vault_forget_options fo = {.keep_last = 1, .dry_run = 1};
    vault_forget_result fr;
    assert_vault_ok(vault_forget(f->v, &fo, &fr));
    assert_int_equal(fr.n_removed, 0);
    assert_int_equal(fr.n_groups, 3);
    vault_forget_result_free(&fr);
    /* ...unless they form one group. */
    fo.group_by = VAULT_GROUP_NONE;
    fo.dry_run = 0;
    assert_vault_ok(vault_forget(f->v, &fo, &fr));
    assert_int_equal(fr.n_removed, 2);
    assert_int_equal(fr.n_kept, 1);
    vault_forget_result_free(&fr);

    vault_prune_result r;
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.snapshots, 1);
    assert_int_equal(r.marks_written, 1);
    assert_int_equal(r.marks_swept, 1);
    assert_int_equal(r.n_pending, 0);
    assert_int_equal(r.n_live_adds, 0);
    assert_true(r.packs_deleted > 0);
    assert_int_equal(r.blobs_rescued, 0);
    size_t packs_after = (size_t)files_under(f->data, &after);
    assert_int_equal(packs_after,
                     packs_before - r.packs_deleted + r.packs_written);
    assert_int_equal(after + r.bytes_deleted, before + r.bytes_written);
    /* v1 and v2 were about two thirds of the data */
    assert_true(after * 2 < before);
    assert_int_equal(count_objects(f, "locks"), 0);
    vault_prune_result_free(&r);

    fx_reopen(f);
    expect_extracts(f, a3.snapshot_id, v3);

    /* Nothing left to do. */
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.marks_written, 0);
    assert_int_equal(r.packs_deleted, 0);
    assert_int_equal(r.packs_written, 0);
    assert_true(r.bytes_unused * 100 <= (r.bytes_used + r.bytes_unused) * 5);
    vault_prune_result_free(&r);
    expect_extracts(f, a3.snapshot_id, v3);
}

/* =========================================================================
 * 3. The race with a running add; stale markers; grace
 */

static void test_prune_waits_for_add(void **state)
{
    fx *f = *state;
    char v1[PATH_MAX], v2[PATH_MAX];
    make_source(f, "v1", 3, 300 * 1024, 11, v1, sizeof v1);
    make_source(f, "v2", 3, 300 * 1024, 12, v2, sizeof v2);
    vault_add_result a1, a2;
    fx_add(f, v1, 1, &a1);
    fx_add(f, v2, 1, &a2);
    const char *ids[] = {a1.snapshot_id};
    forget_ids(f, ids, 1);

    /* An add is running somewhere: its marker is up. */
    lock_record marker;
    write_marker(f, vlt_now(), "otherhost", &marker);
    size_t packs0 = (size_t)files_under(f->data, NULL);
    vault_prune_result r;
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.marks_written, 1);
    assert_int_equal(r.marks_swept, 0);
    assert_int_equal(r.packs_deleted, 0);
    assert_true(r.packs_unused > 0);
    assert_int_equal(r.n_pending, 1);
    assert_int_equal(r.pending[0].waiting, VAULT_PRUNE_WAIT_ADD);
    assert_true(r.pending[0].written_now);
    assert_int_equal(r.pending[0].packs, r.packs_unused + r.packs_repacked);
    assert_int_equal(r.n_live_adds, 1);
    assert_string_equal(r.live_adds[0].host, "otherhost");
    assert_int_equal(r.live_adds[0].pid, 4242);
    vault_prune_result_free(&r);
    assert_int_equal((size_t)files_under(f->data, NULL), packs0);
    assert_int_equal(count_objects(f, "locks"), 2); /* marker and mark */

    /* Pending still: nothing new to mark, nothing swept. */
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.marks_written, 0);
    assert_int_equal(r.marks_swept, 0);
    assert_int_equal(r.n_pending, 1);
    assert_false(r.pending[0].written_now);
    vault_prune_result_free(&r);

    /* An add now sees the mark and stores v1's blobs anew rather than
     * deduplicate against the condemned packs. */
    vault_add_result a3;
    fx_add(f, v1, 1, &a3);
    assert_true(a3.blobs_added >= 4); /* 3 files + note */
    expect_extracts(f, a2.snapshot_id, v2);

    /* The running add finished: the next prune sweeps. */
    assert_vault_ok(vlt_lock_remove(f->v, marker.name));
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.marks_swept, 1);
    assert_true(r.packs_deleted > 0);
    assert_int_equal(r.blobs_rescued, 0); /* the add stored its own copies */
    assert_int_equal(r.n_pending, 0);
    assert_int_equal(r.n_live_adds, 0);
    vault_prune_result_free(&r);
    assert_int_equal(count_objects(f, "locks"), 0);
    fx_reopen(f);
    expect_extracts(f, a2.snapshot_id, v2);
    expect_extracts(f, a3.snapshot_id, v1);
}

static void test_prune_stale_marker_and_grace(void **state)
{
    fx *f = *state;
    const int64_t t0 = 1750000000;
    vlt_clock_pin(t0);
    char v1[PATH_MAX], v2[PATH_MAX];
    make_source(f, "v1", 2, 300 * 1024, 21, v1, sizeof v1);
    make_source(f, "v2", 2, 300 * 1024, 22, v2, sizeof v2);
    vault_add_result a1, a2;
    fx_add(f, v1, 1, &a1);
    fx_add(f, v2, 1, &a2);
    const char *ids[] = {a1.snapshot_id};
    forget_ids(f, ids, 1);

    /* A crashed add's marker, 25 hours old: ignored and removed. */
    lock_record stale;
    write_marker(f, t0 - 25 * 3600, "crashed", &stale);
    vault_prune_result r;
    prune(f, 0, 3600, 0, &r);
    assert_int_equal(r.stale_markers_removed, 1);
    assert_int_equal(r.marks_written, 1);
    assert_int_equal(r.marks_swept, 0);
    assert_int_equal(r.n_pending, 1);
    assert_int_equal(r.pending[0].waiting, VAULT_PRUNE_WAIT_GRACE);
    assert_int_equal(r.pending[0].sweep_after, t0 + 3600);
    assert_int_equal(r.n_live_adds, 0);
    vault_prune_result_free(&r);
    assert_int_equal(count_objects(f, "locks"), 1); /* the mark only */

    /* Half the grace period later: still waiting. */
    vlt_clock_pin(t0 + 1800);
    prune(f, 0, 3600, 0, &r);
    assert_int_equal(r.marks_swept, 0);
    assert_int_equal(r.marks_written, 0);
    assert_int_equal(r.n_pending, 1);
    assert_int_equal(r.pending[0].waiting, VAULT_PRUNE_WAIT_GRACE);
    vault_prune_result_free(&r);

    vlt_clock_pin(t0 + 3600);
    prune(f, 0, 3600, 0, &r);
    assert_int_equal(r.marks_swept, 1);
    assert_true(r.packs_deleted > 0);
    assert_int_equal(r.n_pending, 0);
    vault_prune_result_free(&r);
    vlt_clock_pin(0);
    expect_extracts(f, a2.snapshot_id, v2);
}

/* =========================================================================
 * 4. Rescue
 */

static void test_prune_rescue(void **state)
{
    fx *f = *state;
    char v1[PATH_MAX], v2[PATH_MAX];
    make_source(f, "v1", 3, 300 * 1024, 31, v1, sizeof v1);
    make_source(f, "v2", 3, 300 * 1024, 32, v2, sizeof v2);
    vault_add_result a1, a2;
    fx_add(f, v1, 1, &a1);
    fx_add(f, v2, 1, &a2);
    snapshot_record rec1;
    assert_vault_ok(vlt_repo_snapshot_load(f->v, a1.snapshot_id, &rec1));
    const char *ids[] = {a1.snapshot_id};
    forget_ids(f, ids, 1);

    /* An add started before the mark (its marker is up)... */
    lock_record marker;
    write_marker(f, vlt_now(), "slowhost", &marker);
    vault_prune_result r;
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.marks_written, 1);
    assert_int_equal(r.marks_swept, 0);
    vault_prune_result_free(&r);

    /* ...deduplicated against v1's blobs, now condemned, and commits a
     * snapshot referencing them after the mark was written. */
    rec1.time_sec += 60;
    char late[65];
    assert_vault_ok(vlt_repo_snapshot_save(f->v, &rec1, late));
    vlt_snapshot_clear(&rec1);
    assert_vault_ok(vlt_lock_remove(f->v, marker.name));

    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.marks_swept, 1);
    assert_true(r.blobs_rescued >= 5); /* 3 files, note, trees */
    assert_true(r.packs_deleted > 0);
    assert_int_equal(r.n_pending, 0);
    vault_prune_result_free(&r);
    fx_reopen(f);
    expect_extracts(f, late, v1);
    expect_extracts(f, a2.snapshot_id, v2);

    /* The copies are where later prunes count them. */
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.marks_written, 0);
    assert_int_equal(r.blobs_rescued, 0);
    vault_prune_result_free(&r);
    expect_extracts(f, late, v1);
}

/* =========================================================================
 * 5. Repacking, duplicates, unindexed packs
 */

static void test_prune_repack(void **state)
{
    fx *f = *state;
    /* Ten small files in one pack (one worker); six change. */
    char src[PATH_MAX], p[PATH_MAX];
    make_source(f, "src", 10, 100 * 1024, 41, src, sizeof src);
    vault_add_result a1, a2;
    fx_add(f, src, 1, &a1);
    for (int i = 0; i < 6; i++) {
        test_fmt(p, sizeof p, "%s/f%02d.bin", src, i);
        random_file(p, 100 * 1024, 4100 + (uint64_t)i);
    }
    fx_add(f, src, 1, &a2);
    const char *ids[] = {a1.snapshot_id};
    forget_ids(f, ids, 1);

    /* Tolerating any unused space: the partly used pack stays.  The
     * first add's tree pack is wholly unused (every directory on the way
     * changed): that one is condemned all the same. */
    vault_prune_result r;
    prune(f, 0, 0, 100, &r);
    assert_int_equal(r.packs_repacked, 0);
    assert_int_equal(r.marks_written, 1);
    assert_int_equal(r.packs_unused, 1);
    assert_true(r.bytes_unused > 5 * 100 * 1024);
    vault_prune_result_free(&r);

    prune(f, 1, 0, 0, &r); /* dry */
    uint64_t would_delete = r.packs_deleted, would_copy = r.blobs_repacked;
    assert_int_equal(r.packs_repacked, 1);
    vault_prune_result_free(&r);

    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.packs_repacked, 1);
    assert_true(r.blobs_repacked >= 4);
    assert_int_equal(r.blobs_repacked, would_copy);
    assert_int_equal(r.packs_deleted, would_delete);
    assert_true(r.packs_written >= 1);
    assert_int_equal(r.marks_swept, 1);
    vault_prune_result_free(&r);

    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.marks_written, 0);
    assert_true(r.bytes_unused * 100 <= (r.bytes_used + r.bytes_unused) * 5);
    vault_prune_result_free(&r);
    fx_reopen(f);
    expect_extracts(f, a2.snapshot_id, src);
}

/* How many entries, over all index segments, name this blob. */
typedef struct id_count {
    uint8_t id[32];
    size_t n;
} id_count;

static vault_error count_entry(void *ctx, const uint8_t pack_id[32],
                               const pack_entry *e)
{
    (void)pack_id;
    id_count *c = ctx;
    c->n += memcmp(c->id, e->id, 32) == 0;
    return VAULT_OK;
}

static size_t copies_indexed(fx *f, const uint8_t id[32])
{
    name_list names;
    assert_vault_ok(vlt_backend_list_names(f->v->be, BACKEND_INDEX, &names));
    id_count c;
    memcpy(c.id, id, 32);
    c.n = 0;
    for (size_t i = 0; i < names.n; i++)
        assert_vault_ok(vlt_index_segment_read(f->v->be, f->v->keys,
                                           names.names[i], count_entry, &c,
                                           NULL));
    free(names.names);
    return c.n;
}

/* Saves a pack holding one data blob; indexed unless told not to. */
static void store_pack(fx *f, const uint8_t *data, size_t len, int indexed,
                       uint8_t chunk[32], uint8_t pack_id[32])
{
    pack_writer pw = {0};
    vlt_chunk_id_compute(f->v->keys, BLOB_DATA, data, len, chunk);
    assert_vault_ok(vlt_pack_writer_begin(&pw, f->v->keys));
    assert_vault_ok(vlt_pack_writer_add(&pw, BLOB_DATA, chunk, 0, data, len,
                                    (uint32_t)len));
    assert_vault_ok(vlt_pack_writer_finish(&pw, f->v->be, pack_id));
    if (indexed) {
        size_t starts[2] = {0, 1};
        assert_vault_ok(vlt_index_segment_save(f->v->be, f->v->keys, pack_id, 1,
                                           starts, pw.entries));
    }
    vlt_pack_writer_free(&pw);
}

static int pack_exists(fx *f, const uint8_t pack_id[32])
{
    char name[65];
    vlt_hex_encode(pack_id, 32, name);
    uint64_t size;
    return backend_stat(f->v->be, BACKEND_DATA, name, &size) == VAULT_OK;
}

static void test_prune_duplicates(void **state)
{
    fx *f = *state;
    /* One small file: one chunk, whose bytes we know. */
    char src[PATH_MAX], p[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    test_fmt(p, sizeof p, "%s/one.bin", src);
    random_file(p, 50000, 51);
    size_t len;
    uint8_t *data = test_read_file(p, &len);
    vault_add_result a;
    fx_add(f, src, 1, &a);
    /* A second copy of its blob in a pack of its own, as a concurrent add
     * would store it. */
    uint8_t chunk[32], dup[32];
    store_pack(f, data, len, 1, chunk, dup);
    free(data);
    assert_int_equal(copies_indexed(f, chunk), 2);

    vault_prune_result r;
    /* max unused 0: no space left unused */
    prune(f, 0, 0, VAULT_PRUNE_MAX_UNUSED_NONE, &r);
    assert_true(r.marks_written == 1 && r.marks_swept == 1);
    /* One copy counts; the other is unused, so it goes (max unused 0). */
    assert_true(r.bytes_unused > 0);
    vault_prune_result_free(&r);
    assert_int_equal(copies_indexed(f, chunk), 1);
    prune(f, 0, 0, VAULT_PRUNE_MAX_UNUSED_NONE, &r);
    assert_int_equal(r.marks_written, 0);
    assert_int_equal(r.bytes_unused, 0);
    vault_prune_result_free(&r);
    fx_reopen(f);
    expect_extracts(f, a.snapshot_id, src);
}

static void test_prune_unindexed(void **state)
{
    fx *f = *state;
    char src[PATH_MAX];
    make_source(f, "src", 2, 100 * 1024, 61, src, sizeof src);
    vault_add_result a;
    fx_add(f, src, 1, &a);
    /* An interrupted add left a pack no index segment lists. */
    uint8_t chunk[32], orphan[32];
    static const uint8_t junk[] = "an interrupted add's blob";
    store_pack(f, junk, sizeof junk, 0, chunk, orphan);

    /* While an add runs, its own packs are unindexed: leave them. */
    lock_record marker;
    write_marker(f, vlt_now(), "busy", &marker);
    vault_prune_result r;
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.packs_unindexed, 0);
    assert_int_equal(r.unindexed_left, 1);
    assert_int_equal(r.marks_written, 0);
    vault_prune_result_free(&r);
    assert_true(pack_exists(f, orphan));

    assert_vault_ok(vlt_lock_remove(f->v, marker.name));
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.packs_unindexed, 1);
    assert_int_equal(r.packs_deleted, 1);
    assert_int_equal(r.unindexed_left, 0);
    vault_prune_result_free(&r);
    assert_false(pack_exists(f, orphan));
    expect_extracts(f, a.snapshot_id, src);
}

/* =========================================================================
 * 6. Dry runs
 */

/* Every file under the vault with its size, sorted, into out. */
static void snapshot_listing(fx *f, const char *out)
{
    if (test_run("cd '%s' && find . -printf '%%p %%s\\n' | sort >'%s'",
                 f->vault, out) != 0)
        fail_msg("cannot list %s", f->vault);
}

static void expect_same_listing(fx *f, const char *a, const char *b)
{
    if (test_run("cmp -s '%s' '%s'", a, b) != 0) {
        test_run("diff '%s' '%s' >&2", a, b);
        fail_msg("a dry run changed the vault %s", f->vault);
    }
}

static void test_prune_dry_run(void **state)
{
    fx *f = *state;
    char v1[PATH_MAX], v2[PATH_MAX], l1[PATH_MAX], l2[PATH_MAX];
    make_source(f, "v1", 2, 300 * 1024, 71, v1, sizeof v1);
    make_source(f, "v2", 2, 300 * 1024, 72, v2, sizeof v2);
    test_fmt(l1, sizeof l1, "%s/listing1", f->base);
    test_fmt(l2, sizeof l2, "%s/listing2", f->base);
    vault_add_result a1, a2;
    fx_add(f, v1, 1, &a1);
    fx_add(f, v2, 1, &a2);
    const char *ids[] = {a1.snapshot_id};

    /* forget --dry-run */
    snapshot_listing(f, l1);
    vault_forget_options fo = {.snapshots = ids, .n_snapshots = 1,
                               .dry_run = 1};
    vault_forget_result fr;
    assert_vault_ok(vault_forget(f->v, &fo, &fr));
    assert_int_equal(fr.n_removed, 1);
    vault_forget_result_free(&fr);
    snapshot_listing(f, l2);
    expect_same_listing(f, l1, l2);
    forget_ids(f, ids, 1);

    /* With a stale marker and an unindexed pack too. */
    lock_record stale;
    write_marker(f, vlt_now() - 2 * 86400, "gone", &stale);
    uint8_t chunk[32], orphan[32];
    static const uint8_t junk[] = "unindexed";
    store_pack(f, junk, sizeof junk, 0, chunk, orphan);

    snapshot_listing(f, l1);
    vault_prune_result dry;
    prune(f, 1, 0, 0, &dry);
    snapshot_listing(f, l2);
    expect_same_listing(f, l1, l2);
    assert_int_equal(dry.stale_markers_removed, 1);
    assert_int_equal(dry.marks_written, 1);
    assert_int_equal(dry.marks_swept, 1);
    assert_int_equal(dry.packs_unindexed, 1);
    assert_true(dry.packs_deleted >= 2);

    /* The real run does what the dry run said. */
    vault_prune_result r;
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.stale_markers_removed, dry.stale_markers_removed);
    assert_int_equal(r.packs_unused, dry.packs_unused);
    assert_int_equal(r.packs_unindexed, dry.packs_unindexed);
    assert_int_equal(r.packs_deleted, dry.packs_deleted);
    assert_int_equal(r.bytes_deleted, dry.bytes_deleted);
    vault_prune_result_free(&r);
    vault_prune_result_free(&dry);

    /* A pending mark: the dry run reports it and sweeps nothing. */
    fx_add(f, v1, 1, &a1);
    forget_ids(f, ids, 1); /* ids[0] is a1's new ID */
    lock_record marker;
    write_marker(f, vlt_now(), "busy", &marker);
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.n_pending, 1);
    vault_prune_result_free(&r);
    snapshot_listing(f, l1);
    prune(f, 1, 0, 0, &dry);
    snapshot_listing(f, l2);
    expect_same_listing(f, l1, l2);
    assert_int_equal(dry.marks_swept, 0);
    assert_int_equal(dry.packs_deleted, 0);
    assert_int_equal(dry.n_pending, 1);
    assert_int_equal(dry.pending[0].waiting, VAULT_PRUNE_WAIT_ADD);
    vault_prune_result_free(&dry);
    assert_vault_ok(vlt_lock_remove(f->v, marker.name));
    snapshot_listing(f, l1);
    prune(f, 1, 0, 0, &dry);
    snapshot_listing(f, l2);
    expect_same_listing(f, l1, l2);
    assert_int_equal(dry.marks_swept, 1);
    assert_true(dry.packs_deleted > 0);
    assert_int_equal(dry.n_pending, 0);
    vault_prune_result_free(&dry);
    expect_extracts(f, a2.snapshot_id, v2);
}

/* =========================================================================
 * 7. Crash safety
 */

/* A backend that forwards to another without owning it, so that a vault
 * handle can be closed and the memory backend beneath it kept. */
static backend *borrow(backend *inner)
{
    backend *b = test_backend_wrap(inner, 0, NULL, 0);
    assert_non_null(b);
    return b;
}

/* Copies every object of src into dst. */
typedef struct copy_ctx {
    backend *src, *dst;
    backend_kind kind;
    vault_error rc;
} copy_ctx;

static int copy_one(void *ctx, const char *name, uint64_t size)
{
    (void)size;
    copy_ctx *c = ctx;
    uint8_t *data;
    size_t len;
    c->rc = backend_load(c->src, c->kind, name, 0, 0, PACK_MAX_BYTES, &data,
                         &len);
    if (c->rc == VAULT_OK) {
        c->rc = backend_save(c->dst, c->kind, name, data, len);
        free(data);
    }
    return c->rc != VAULT_OK;
}

static void copy_backend(backend *src, backend *dst)
{
    for (int k = 0; k < BACKEND_KIND_COUNT; k++) {
        copy_ctx c = {src, dst, (backend_kind)k, VAULT_OK};
        int stopped = 0;
        assert_vault_ok(backend_list(src, (backend_kind)k, copy_one, &c,
                                     &stopped));
        assert_vault_ok(c.rc);
    }
}

static int count_one(void *ctx, const char *name, uint64_t size)
{
    (void)name;
    (void)size;
    ++*(size_t *)ctx;
    return 0;
}

static size_t count_kind(backend *be, backend_kind kind)
{
    size_t n = 0;
    int stopped;
    assert_vault_ok(backend_list(be, kind, count_one, &n, &stopped));
    return n;
}

/* Every snapshot extracts without an error: as blobs are checked against
 * their chunk IDs on the way, content-addressed from the root tree down,
 * that means byte for byte as added.  (Into a tar stream to /dev/null:
 * this runs hundreds of times.)  There must be n of them. */
static void expect_all_extract(vault_t *v, size_t n_expected)
{
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(v, &list, &n));
    assert_int_equal(n, n_expected);
    FILE *null = fopen("/dev/null", "wb");
    assert_non_null(null);
    for (size_t i = 0; i < n; i++) {
        vault_extract_options o;
        memset(&o, 0, sizeof o);
        o.tar = 1;
        o.tar_fd = fileno(null);
        vault_extract_result r;
        assert_vault_ok(vault_extract(v, list[i].id, &o, &r));
        assert_int_equal(r.errors, 0);
        assert_true(r.files > 0);
    }
    fclose(null);
    vault_snapshots_free(list, n);
}

static void test_prune_crash_safety(void **state)
{
    fx *f = *state;
    /* A vault where a prune does everything: a pending mark whose sweep
     * must rescue blobs (a snapshot committed after the mark), then a new
     * mark with a repack and unused packs. */
    char v1[PATH_MAX], v2[PATH_MAX], v3[PATH_MAX], p[PATH_MAX];
    make_source(f, "v1", 2, 200 * 1024, 81, v1, sizeof v1);
    make_source(f, "v2", 6, 60 * 1024, 82, v2, sizeof v2);
    make_source(f, "v3", 2, 200 * 1024, 83, v3, sizeof v3);
    vault_add_result a1, a2, a3, a4;
    fx_add(f, v1, 1, &a1);
    fx_add(f, v2, 1, &a2);
    snapshot_record rec1;
    assert_vault_ok(vlt_repo_snapshot_load(f->v, a1.snapshot_id, &rec1));
    const char *ids1[] = {a1.snapshot_id};
    forget_ids(f, ids1, 1);
    lock_record marker;
    write_marker(f, vlt_now(), "slow", &marker);
    vault_prune_result r;
    prune(f, 0, 0, 0, &r);
    assert_int_equal(r.n_pending, 1);
    vault_prune_result_free(&r);
    rec1.time_sec += 1;
    char late[65];
    assert_vault_ok(vlt_repo_snapshot_save(f->v, &rec1, late));
    vlt_snapshot_clear(&rec1);
    assert_vault_ok(vlt_lock_remove(f->v, marker.name));
    /* v2 changes partly (a repack), v3 comes and goes (unused packs) */
    for (int i = 0; i < 3; i++) {
        test_fmt(p, sizeof p, "%s/f%02d.bin", v2, i);
        random_file(p, 60 * 1024, 8200 + (uint64_t)i);
    }
    fx_add(f, v2, 1, &a4);
    fx_add(f, v3, 1, &a3);
    const char *ids2[] = {a2.snapshot_id, a3.snapshot_id};
    forget_ids(f, ids2, 2);

    /* The vault in memory: copied afresh for every run below. */
    backend *local, *pristine;
    assert_vault_ok(vlt_backend_local_open(f->vault, 0, &local));
    assert_vault_ok(vlt_backend_memory_open(&pristine));
    copy_backend(local, pristine);
    backend_close(local);

    /* How many operations a whole prune takes. */
    backend *mem, *be;
    vault_t *v;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    copy_backend(pristine, mem);
    assert_vault_ok(vlt_backend_faulty_open(borrow(mem), 0, VAULT_E_IO, 1, &be));
    assert_vault_ok(vlt_repo_open_backend(be, "mem", f->id, &v));
    vault_prune_options o = {0};
    assert_vault_ok(vault_prune(v, &o, &r));
    uint64_t ops = vlt_backend_faulty_count(be);
    assert_true(r.blobs_rescued > 0);
    assert_true(r.packs_repacked > 0);
    assert_true(r.packs_unused > 0);
    assert_int_equal(r.marks_swept, 2);
    vault_prune_result_free(&r);
    expect_extracts_v(f, v, late, v1);
    expect_extracts_v(f, v, a4.snapshot_id, v2);
    vault_close(v);
    backend_close(mem);

    size_t failed = 0;
    for (uint64_t at = 1; at <= ops; at++) {
        assert_vault_ok(vlt_backend_memory_open(&mem));
        copy_backend(pristine, mem);
        assert_vault_ok(
            vlt_backend_faulty_open(borrow(mem), at, VAULT_E_IO, 1, &be));
        vault_error rc = vlt_repo_open_backend(be, "mem", f->id, &v);
        if (rc == VAULT_OK) {
            rc = vault_prune(v, &o, &r);
            vault_prune_result_free(&r);
            vault_close(v);
        }
        failed += rc != VAULT_OK;
        /* After the "crash": every snapshot whole... */
        assert_vault_ok(vlt_repo_open_backend(borrow(mem), "mem", f->id, &v));
        expect_all_extract(v, 2);
        /* ...and a prune finishes the job. */
        assert_vault_ok(vault_prune(v, &o, &r));
        assert_int_equal(r.n_pending, 0);
        vault_prune_result_free(&r);
        assert_vault_ok(vault_prune(v, &o, &r));
        assert_int_equal(r.marks_written, 0);
        assert_int_equal(r.packs_deleted, 0);
        vault_prune_result_free(&r);
        assert_int_equal(count_kind(mem, BACKEND_LOCKS), 0);
        expect_all_extract(v, 2);
        vault_close(v);
        backend_close(mem);
    }
    backend_close(pristine);
    print_message("prune takes %llu backend operations; an injected fault "
                  "made %zu of the runs fail\n",
                  (unsigned long long)ops, failed);
    assert_int_equal(failed, ops);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_forget_policies, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_forget_calendar, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_forget_local_time, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_forget_groups, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_forget_by_id_and_roles,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_after_forget, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_waits_for_add, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_stale_marker_and_grace,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_rescue, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_repack, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_duplicates, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_unindexed, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_dry_run, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_crash_safety, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("forget and prune", tests, NULL, NULL);
}
