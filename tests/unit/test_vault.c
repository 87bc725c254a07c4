/*
 * test_vault.c - libvault end to end, and the library against a hostile
 * vault.
 *
 *  1. Round trip through the public API: init, open, add, snapshots, ls,
 *     extract, snapshot references.
 *  2. A stranger's identity is refused (VAULT_E_NOT_MEMBER).
 *  3. A malicious vault: a member (who holds all the keys) writes trees as
 *     raw bytes - bad names, symlinks to write through, a 1 TiB file (in
 *     directory and tar mode), a missing chunk, a tree naming itself, a
 *     5000-deep chain, type confusion - and extraction must write nothing
 *     outside its target, report each bad item, and never crash or hang.
 *  4. Tampering: every byte of a small vault flipped in turn, and each
 *     object truncated or extended, must make open, snapshots, ls or
 *     extract fail - except in a pack's trailer, which those never read
 *     (see TAMPER_STRICT_PACK_TRAILER).
 *  5. The parsers of envelopes, config, pack indexes, index segments, trees
 *     and snapshots against truncated, mutated and random bytes, and
 *     against authenticated (correctly sealed) but malformed contents.
 *
 * Raw tree bytes come from a small encoder written here from the layout in
 * vault/src/tree.c, because vlt_tree_encode refuses the names we want to send.
 * The random bytes come from a fixed-seed generator, so failures repeat.
 */
#include "test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backend/backend.h"
#include "backend_testing.h"
#include "common/internal.h"
#include "crypto/keys.h"
#include "format/pack.h"
#include "repo/repo.h"
#include "ops/restore/restore.h"
#include "format/tree.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

/* What the malicious trees try to write where they should not. */
static const char PWNED[] = "pwned\n";
#define PWNED_LEN (sizeof PWNED - 1)

/* ---- small helpers ---------------------------------------------------- */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static char *xstrdup(const char *s)
{
    char *c = strdup(s);
    assert_non_null(c);
    return c;
}

/* xorshift64*: a fixed sequence, so a failing input can be found again. */
static uint64_t rng_state = 0x2545F4914F6CDD1Du;

static uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

static void rng_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng_next() >> 56);
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng_next() % n) : 0;
}

static int exists_nofollow(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* rm -rf without a shell: the tamper loop calls it thousands of times. */
static void rm_rf(const char *path)
{
    if (exists_nofollow(path))
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* ---- directory listings (nothing may appear outside a target) ------------ */

typedef struct name_set {
    char **v;
    size_t n;
} name_set;

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of dir (none if it does not exist). */
static void names_of(const char *dir, name_set *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (!d)
        return;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (out->n == cap) {
            cap = cap ? cap * 2 : 16;
            out->v = realloc(out->v, cap * sizeof *out->v);
            assert_non_null(out->v);
        }
        out->v[out->n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (out->n)
        qsort(out->v, out->n, sizeof *out->v, str_cmp);
}

static void names_free(name_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void names_assert_same(const name_set *a, const name_set *b,
                              const char *where)
{
    size_t i = 0, j = 0;
    while (i < a->n || j < b->n) {
        int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(a->v[i], b->v[j]);
        if (c < 0)
            fail_msg("%s: \"%s\" disappeared", where, a->v[i]);
        if (c > 0)
            fail_msg("%s: \"%s\" appeared (written outside the target?)",
                     where, b->v[j]);
        i++;
        j++;
    }
}

/* The entries of dir must be exactly the NULL-terminated list. */
static void names_expect(const char *dir, const char *const *expect)
{
    name_set s;
    names_of(dir, &s);
    size_t n = 0;
    while (expect[n])
        n++;
    if (s.n != n) {
        char got[1024] = "";
        size_t used = 0;
        for (size_t i = 0; i < s.n && used < sizeof got; i++) {
            int w = snprintf(got + used, sizeof got - used, " %s", s.v[i]);
            if (w < 0)
                break;
            used += (size_t)w;
        }
        fail_msg("%s holds %zu entries, expected %zu:%s", dir, s.n, n, got);
    }
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t j = 0; j < s.n; j++)
            found |= strcmp(s.v[j], expect[i]) == 0;
        if (!found)
            fail_msg("%s: \"%s\" missing", dir, expect[i]);
    }
    names_free(&s);
}

/* ---- fixture: a fresh vault in a fresh directory ------------------------ */

typedef struct fx {
    char *base;              /* the test's temporary directory */
    char vault[PATH_MAX];    /* base/vault */
    vault_identity_t *id;    /* its owner */
    vault_t *v;              /* open as the owner */
    int64_t snap_time;       /* forged snapshots get increasing times */
} fx;

static int fx_setup(void **state)
{
    assert_vault_ok(vault_global_init());
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char *tmp = test_tempdir();
    /* Canonical, so add's lexical absolute paths are what we expect. */
    f->base = realpath(tmp, NULL);
    assert_non_null(f->base);
    free(tmp);
    test_fmt(f->vault, sizeof f->vault, "%s/vault", f->base);
    assert_vault_ok(vault_identity_generate(&f->id));
    assert_vault_ok(vault_init(f->vault, vault_identity_recipient(f->id)));
    assert_vault_ok(vault_open(f->vault, f->id, &f->v));
    f->snap_time = 1700000000;
    test_watchdog("test_vault", 120);
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    fx *f = *state;
    alarm(0);
    vault_close(f->v);
    vault_identity_free(f->id);
    test_rmtree(f->base);
    free(f);
    return 0;
}

/* Closes and opens the vault again: the index is read once per handle. */
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

static void fx_add_threads(fx *f, const char *path, int compression,
                           int threads, vault_add_result *r)
{
    const char *paths[] = {path};
    vault_add_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.n_paths = 1;
    o.compression = compression;
    o.threads = threads;
    o.cache_dir = "";
    o.hostname = "testhost";
    o.on_error = add_must_not_fail;
    assert_vault_ok(vault_add(f->v, &o, r));
}

static void fx_add(fx *f, const char *path, int compression,
                   vault_add_result *r)
{
    fx_add_threads(f, path, compression, 2, r);
}

/* ---- ls collection ------------------------------------------------------ */

typedef struct ls_entry {
    char *path;
    vault_file_type type;
    uint64_t size;
    uint32_t mode;
    char *target;
} ls_entry;

typedef struct ls_list {
    ls_entry *e;
    size_t n, cap;
} ls_list;

static int ls_collect(void *ctx, const vault_file_info *info)
{
    ls_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 32;
        l->e = realloc(l->e, l->cap * sizeof *l->e);
        assert_non_null(l->e);
    }
    ls_entry *e = &l->e[l->n++];
    e->path = xstrdup(info->path);
    e->type = info->type;
    e->size = info->size;
    e->mode = info->mode;
    e->target = info->target ? xstrdup(info->target) : NULL;
    return 0;
}

static void ls_free(ls_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].path);
        free(l->e[i].target);
    }
    free(l->e);
    memset(l, 0, sizeof *l);
}

/* The one entry with this path; fails if it is missing or repeated. */
static const ls_entry *ls_get(const ls_list *l, const char *path)
{
    const ls_entry *found = NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->e[i].path, path) == 0) {
            if (found)
                fail_msg("ls reported %s twice", path);
            found = &l->e[i];
        }
    }
    if (!found)
        fail_msg("ls did not report %s", path);
    return found;
}

static int ls_equal(const ls_list *a, const ls_list *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const ls_entry *x = &a->e[i], *y = &b->e[i];
        if (strcmp(x->path, y->path) != 0 || x->type != y->type ||
            x->size != y->size || x->mode != y->mode ||
            (!x->target != !y->target) ||
            (x->target && strcmp(x->target, y->target) != 0))
            return 0;
    }
    return 1;
}

/* ---- extraction with a log of reported errors ---------------------------- */

typedef struct err_item {
    char *path;
    vault_error code;
    char *detail;
} err_item;

typedef struct err_log {
    err_item *e;
    size_t n, cap;
} err_log;

static void log_error(void *ctx, const char *path, vault_error code,
                      const char *detail)
{
    err_log *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->e = realloc(l->e, l->cap * sizeof *l->e);
        assert_non_null(l->e);
    }
    err_item *e = &l->e[l->n++];
    e->path = xstrdup(path ? path : "(null)");
    e->code = code;
    e->detail = xstrdup(detail ? detail : "(null)");
}

static void log_free(err_log *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].path);
        free(l->e[i].detail);
    }
    free(l->e);
    memset(l, 0, sizeof *l);
}

static void log_print(const err_log *l)
{
    for (size_t i = 0; i < l->n; i++)
        print_message("  reported %s: %s (%d): %s\n", l->e[i].path,
                      vault_strerror(l->e[i].code), l->e[i].code,
                      l->e[i].detail);
}

/* The report for path; fails if there is none. */
static const err_item *log_get(const err_log *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].path, path) == 0)
            return &l->e[i];
    log_print(l);
    fail_msg("no error was reported for %s", path);
    return NULL;
}

static vault_error extract_to(vault_t *v, const char *snap,
                              const char *target, int overwrite,
                              const char *const *include, size_t n_include,
                              err_log *log, vault_extract_result *res)
{
    vault_extract_options o;
    memset(&o, 0, sizeof o);
    o.target_dir = target;
    o.overwrite = overwrite;
    o.include = include;
    o.n_include = n_include;
    o.on_error = log_error;
    o.on_error_ctx = log;
    return vault_extract(v, snap, &o, res);
}

static void expect_file(const char *path, const void *data, size_t len)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        fail_msg("%s: not a regular file", path);
    size_t got_len;
    uint8_t *got = test_read_file(path, &got_len);
    if (got_len != len || (len && memcmp(got, data, len) != 0))
        fail_msg("%s: wrong content (%zu bytes, expected %zu)", path, got_len,
                 len);
    free(got);
}

/* =========================================================================
 * 1. Round trip through the public API
 */

/* A small source tree: files, an empty file, directories, symlinks. */
#define BIG_LEN (700u * 1024) /* over CHUNKER_MIN_SIZE: more than one chunk */
static void make_source(const char *src)
{
    char p[PATH_MAX];
    make_dir(src);
    test_fmt(p, sizeof p, "%s/a.txt", src);
    test_write_file(p, "hello, vault\n", 13);
    test_fmt(p, sizeof p, "%s/sub", src);
    make_dir(p);
    uint8_t *big = xmalloc(BIG_LEN);
    rng_fill(big, BIG_LEN);
    test_fmt(p, sizeof p, "%s/sub/b.bin", src);
    test_write_file(p, big, BIG_LEN);
    free(big);
    test_fmt(p, sizeof p, "%s/sub/empty", src);
    test_write_file(p, "", 0);
    test_fmt(p, sizeof p, "%s/emptydir", src);
    make_dir(p);
    test_fmt(p, sizeof p, "%s/link", src);
    assert_int_equal(symlink("a.txt", p), 0);
    test_fmt(p, sizeof p, "%s/abslink", src);
    assert_int_equal(symlink("/nonexistent/vault/target", p), 0);
    test_fmt(p, sizeof p, "%s/a.txt", src);
    assert_int_equal(chmod(p, 0640), 0);
}

static void test_roundtrip(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], out[PATH_MAX], p[PATH_MAX], q[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_source(src);

    vault_add_result r;
    fx_add(f, src, 0, &r);
    assert_int_equal(strlen(r.snapshot_id), 64);
    assert_int_equal(r.files, 3);
    assert_int_equal(r.errors, 0);
    assert_true(r.bytes_read == 13 + BIG_LEN);

    /* snapshots */
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 1);
    assert_string_equal(list[0].id, r.snapshot_id);
    assert_int_equal(list[0].n_paths, 1);
    assert_string_equal(list[0].paths[0], src);
    assert_string_equal(list[0].hostname, "testhost");
    assert_int_equal(list[0].files, 3);
    vault_snapshots_free(list, n);
    size_t count;
    assert_vault_ok(vault_snapshot_count(f->v, &count));
    assert_int_equal(count, 1);

    /* ls, recursive: every ancestor of src, src and everything below */
    ls_list ls = {0};
    assert_vault_ok(vault_ls(f->v, r.snapshot_id, NULL, 1, ls_collect, &ls));
    size_t expected = 0;
    for (const char *s = src + 1; (s = strchr(s, '/')) != NULL; s++) {
        test_fmt(p, sizeof p, "%.*s", (int)(s - src), src);
        assert_int_equal(ls_get(&ls, p)->type, VAULT_DIR);
        expected++;
    }
    assert_int_equal(ls_get(&ls, src)->type, VAULT_DIR);
    struct {
        const char *rel;
        vault_file_type type;
        uint64_t size;
        const char *target;
    } want[] = {
        {"a.txt", VAULT_FILE, 13, NULL},
        {"sub", VAULT_DIR, 0, NULL},
        {"sub/b.bin", VAULT_FILE, BIG_LEN, NULL},
        {"sub/empty", VAULT_FILE, 0, NULL},
        {"emptydir", VAULT_DIR, 0, NULL},
        {"link", VAULT_SYMLINK, 0, "a.txt"},
        {"abslink", VAULT_SYMLINK, 0, "/nonexistent/vault/target"},
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(want); i++) {
        test_fmt(p, sizeof p, "%s/%s", src, want[i].rel);
        const ls_entry *e = ls_get(&ls, p);
        if (e->type != want[i].type || e->size != want[i].size)
            fail_msg("%s: type %d size %" PRIu64 ", expected %d %" PRIu64, p,
                     e->type, e->size, want[i].type, want[i].size);
        if (want[i].target)
            assert_string_equal(e->target, want[i].target);
    }
    assert_int_equal(ls_get(&ls, src)->mode, 0700);
    test_fmt(p, sizeof p, "%s/a.txt", src);
    assert_int_equal(ls_get(&ls, p)->mode, 0640);
    expected += 1 + VAULT_ARRAY_SIZE(want);
    if (ls.n != expected)
        fail_msg("ls reported %zu entries, expected %zu", ls.n, expected);
    ls_free(&ls);

    /* ls of one directory, not recursive; of a file; of nothing */
    assert_vault_ok(vault_ls(f->v, r.snapshot_id, src, 0, ls_collect, &ls));
    assert_int_equal(ls.n, 5);
    ls_free(&ls);
    test_fmt(p, sizeof p, "%s/sub/b.bin", src);
    assert_vault_ok(vault_ls(f->v, r.snapshot_id, p, 1, ls_collect, &ls));
    assert_int_equal(ls.n, 1);
    assert_string_equal(ls.e[0].path, p);
    assert_true(ls.e[0].size == BIG_LEN);
    ls_free(&ls);
    test_fmt(p, sizeof p, "%s/nope", src);
    assert_vault_code(vault_ls(f->v, r.snapshot_id, p, 1, ls_collect, &ls),
                      VAULT_E_NOT_FOUND);
    test_fmt(p, sizeof p, "%s/a.txt/below", src);
    assert_vault_code(vault_ls(f->v, r.snapshot_id, p, 1, ls_collect, &ls),
                      VAULT_E_NOT_FOUND);
    ls_free(&ls);

    /* extract everything and compare with the source */
    test_fmt(out, sizeof out, "%s/out", f->base);
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, r.snapshot_id, out, 0, NULL, 0, &log,
                                &res);
    if (rc != VAULT_OK) {
        log_print(&log);
        fail_msg("extract: %s: %s", vault_strerror(rc), vault_last_error());
    }
    assert_int_equal(res.files, 3);
    assert_int_equal(res.symlinks, 2);
    assert_int_equal(res.errors, 0);
    assert_true(res.bytes == 13 + BIG_LEN);
    test_fmt(p, sizeof p, "%s%s", out, src);
    assert_int_equal(test_run("diff -r --no-dereference '%s' '%s'", src, p),
                     0);
    struct stat a, b;
    test_fmt(p, sizeof p, "%s/a.txt", src);
    test_fmt(q, sizeof q, "%s%s/a.txt", out, src);
    assert_int_equal(stat(p, &a), 0);
    assert_int_equal(stat(q, &b), 0);
    assert_int_equal(a.st_mode, b.st_mode);
    assert_int_equal(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
    assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
    char link[64];
    test_fmt(q, sizeof q, "%s%s/abslink", out, src);
    ssize_t ll = readlink(q, link, sizeof link - 1);
    assert_true(ll > 0);
    link[ll] = '\0';
    assert_string_equal(link, "/nonexistent/vault/target");

    /* extracting again over it, without overwrite: each file refused */
    vault_extract_result res2;
    rc = extract_to(f->v, r.snapshot_id, out, 0, NULL, 0, &log, &res2);
    assert_int_equal(rc, VAULT_E_PARTIAL);
    assert_true(res2.errors >= 5);
    log_free(&log);

    /* an include filter, and an include that is not there */
    char out2[PATH_MAX], inc_sub[PATH_MAX], inc_none[PATH_MAX];
    test_fmt(out2, sizeof out2, "%s/out2", f->base);
    test_fmt(inc_sub, sizeof inc_sub, "%s/sub", src);
    test_fmt(inc_none, sizeof inc_none, "%s/none", src);
    const char *inc[] = {inc_sub, inc_none};
    rc = extract_to(f->v, r.snapshot_id, out2, 0, inc, 2, &log, &res);
    assert_int_equal(rc, VAULT_E_PARTIAL);
    assert_int_equal(log.n, 1);
    assert_int_equal(log_get(&log, inc_none)->code, VAULT_E_NOT_FOUND);
    test_fmt(p, sizeof p, "%s%s/sub/b.bin", out2, src);
    assert_true(exists_nofollow(p));
    test_fmt(p, sizeof p, "%s%s/a.txt", out2, src);
    assert_false(exists_nofollow(p));
    log_free(&log);

    /* the same tree again: everything deduplicates */
    vault_add_result r2;
    fx_add(f, src, 0, &r2);
    assert_string_not_equal(r.snapshot_id, r2.snapshot_id);
    assert_true(r2.bytes_read == 13 + BIG_LEN);
    if (r2.bytes_added > 4096)
        fail_msg("second add of the same files stored %" PRIu64 " bytes",
                 r2.bytes_added);
    char id[65];
    assert_vault_ok(vault_snapshot_resolve(f->v, "latest", id));
    assert_string_equal(id, r2.snapshot_id);
}

static void set_mtime(const char *path, time_t sec)
{
    struct timespec ts[2] = {{0, UTIME_OMIT}, {sec, 0}};
    if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) != 0)
        fail_msg("%s: %s", path, strerror(errno));
}

/* add stores a directory's tree once its files' chunk IDs are in, which
 * may be after the walker has gone on (archiver.c, waiting_dir): a chain
 * deeper than the directories allowed to wait and many sibling
 * directories come back whole, directory metadata too, with one worker
 * and with several. */
static void test_roundtrip_deep_and_wide(void **state)
{
    fx *f = *state;
    enum { DEPTH = 300, WIDE = 600 };
    char src[PATH_MAX], out[PATH_MAX], p[PATH_MAX], text[64];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    size_t len = (size_t)snprintf(p, sizeof p, "%s", src);
    for (int level = 0; level < DEPTH; level++) {
        len += (size_t)snprintf(p + len, sizeof p - len, "/d");
        make_dir(p);
        /* Only the deepest file has content: its chunk is still in the
         * walker's unsent batch when every level above is left, so they
         * all wait, more than WAITING_DIRS_MAX of them. */
        char file[PATH_MAX];
        int n = snprintf(text, sizeof text, "level %d\n", level);
        test_fmt(file, sizeof file, "%s/f", p);
        test_write_file(file, text, level == DEPTH - 1 ? (size_t)n : 0);
    }
    for (int i = 0; i < WIDE; i++) {
        test_fmt(p, sizeof p, "%s/w%03d", src, i);
        make_dir(p);
        int n = snprintf(text, sizeof text, "wide %d\n", i);
        char file[PATH_MAX];
        test_fmt(file, sizeof file, "%s/f", p);
        test_write_file(file, text, (size_t)n);
        if (i % 7 == 0) { /* and some with a subdirectory */
            test_fmt(file, sizeof file, "%s/sub", p);
            make_dir(file);
        }
    }
    /* Directory mtimes, distinct and set last (creating moved them). */
    time_t stamp = 1400000000;
    len = (size_t)snprintf(p, sizeof p, "%s", src);
    for (int level = 0; level < DEPTH; level++) {
        len += (size_t)snprintf(p + len, sizeof p - len, "/d");
        set_mtime(p, stamp++);
    }
    for (int i = 0; i < WIDE; i++) {
        test_fmt(p, sizeof p, "%s/w%03d/sub", src, i);
        if (i % 7 == 0)
            set_mtime(p, stamp++);
        test_fmt(p, sizeof p, "%s/w%03d", src, i);
        set_mtime(p, stamp++);
    }
    set_mtime(src, stamp++);
    for (int threads = 1; threads <= 3; threads += 2) {
        vault_add_result r;
        fx_add_threads(f, src, 0, threads, &r);
        assert_int_equal(r.files, DEPTH + WIDE);
        assert_int_equal(r.errors, 0);
        test_fmt(out, sizeof out, "%s/out%d", f->base, threads);
        err_log log = {0};
        vault_extract_result res;
        vault_error rc = extract_to(f->v, r.snapshot_id, out, 0, NULL, 0,
                                    &log, &res);
        if (rc != VAULT_OK) {
            log_print(&log);
            fail_msg("extract: %s: %s", vault_strerror(rc),
                     vault_last_error());
        }
        log_free(&log);
        assert_int_equal(res.files, DEPTH + WIDE);
        test_fmt(p, sizeof p, "%s%s", out, src);
        assert_int_equal(test_run("diff -r '%s' '%s'", src, p), 0);
        assert_int_equal(test_run("cd '%s' && find . -type d -printf "
                                  "'%%p %%T@\\n' | sort > '%s/dirs.src' && "
                                  "cd '%s' && find . -type d -printf "
                                  "'%%p %%T@\\n' | sort > '%s/dirs.out' && "
                                  "cmp '%s/dirs.src' '%s/dirs.out'",
                                  src, f->base, p, f->base, f->base, f->base),
                         0);
    }
}

static void test_snapshot_resolve(void **state)
{
    fx *f = *state;
    char src[PATH_MAX], id[65], ref[80];
    test_fmt(src, sizeof src, "%s/src", f->base);
    make_dir(src);
    test_fmt(ref, sizeof ref, "%s/f", src);
    test_write_file(ref, "x", 1);

    /* no snapshots yet */
    assert_vault_code(vault_snapshot_resolve(f->v, "latest", id),
                      VAULT_E_NOT_FOUND);

    vault_add_result r;
    fx_add(f, src, VAULT_COMPRESSION_OFF, &r);
    assert_vault_ok(vault_snapshot_resolve(f->v, "latest", id));
    assert_string_equal(id, r.snapshot_id);
    for (size_t len = 4; len <= 64; len += 12) {
        test_fmt(ref, sizeof ref, "%.*s", (int)len, r.snapshot_id);
        memset(id, 0, sizeof id);
        assert_vault_ok(vault_snapshot_resolve(f->v, ref, id));
        assert_string_equal(id, r.snapshot_id);
    }
    assert_vault_ok(vault_snapshot_resolve(f->v, r.snapshot_id, id));
    assert_string_equal(id, r.snapshot_id);

    /* unknown: a prefix no name has */
    test_fmt(ref, sizeof ref, "%.8s", r.snapshot_id);
    ref[0] = ref[0] == '0' ? '1' : '0';
    assert_vault_code(vault_snapshot_resolve(f->v, ref, id),
                      VAULT_E_NOT_FOUND);

    /* bad syntax */
    const char *bad[] = {"", "abc", "ABCD", "xyz1", "0123 ", "latest!",
                         "Latest", "../../etc", "0123456789abcdef0123456789"
                         "abcdef0123456789abcdef0123456789abcdef0"};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++)
        assert_vault_code(vault_snapshot_resolve(f->v, bad[i], id),
                          VAULT_E_INVALID);
    assert_vault_code(vault_snapshot_resolve(f->v, NULL, id),
                      VAULT_E_INVALID);
    char upper[65];
    memcpy(upper, r.snapshot_id, 65);
    for (char *c = upper; *c; c++)
        if (*c >= 'a' && *c <= 'f')
            *c = (char)(*c - 'a' + 'A');
    if (strcmp(upper, r.snapshot_id) != 0)
        assert_vault_code(vault_snapshot_resolve(f->v, upper, id),
                          VAULT_E_INVALID);

    /* ambiguous: a second object whose name shares all but the last digit
     * (a copy under a wrong name: resolving only lists names) */
    char orig[PATH_MAX], twin[PATH_MAX], twin_id[65];
    memcpy(twin_id, r.snapshot_id, 65);
    twin_id[63] = twin_id[63] == '0' ? '1' : '0';
    test_fmt(orig, sizeof orig, "%s/snapshots/%s", f->vault, r.snapshot_id);
    test_fmt(twin, sizeof twin, "%s/snapshots/%s", f->vault, twin_id);
    size_t len;
    uint8_t *bytes = test_read_file(orig, &len);
    test_write_file(twin, bytes, len);
    free(bytes);
    test_fmt(ref, sizeof ref, "%.4s", r.snapshot_id);
    assert_vault_code(vault_snapshot_resolve(f->v, ref, id), VAULT_E_INVALID);
    assert_non_null(strstr(vault_last_error(), "ambiguous"));
    test_fmt(ref, sizeof ref, "%.63s", r.snapshot_id);
    assert_vault_code(vault_snapshot_resolve(f->v, ref, id), VAULT_E_INVALID);
    /* the full names still resolve, each to itself */
    assert_vault_ok(vault_snapshot_resolve(f->v, r.snapshot_id, id));
    assert_string_equal(id, r.snapshot_id);
    assert_vault_ok(vault_snapshot_resolve(f->v, twin_id, id));
    assert_string_equal(id, twin_id);
    /* but the copy does not load: its bytes do not match its name */
    vault_snapshot_info *list;
    size_t n;
    assert_vault_code(vault_snapshots(f->v, &list, &n), VAULT_E_CORRUPT);
    ls_list ls = {0};
    assert_vault_code(vault_ls(f->v, twin_id, NULL, 1, ls_collect, &ls),
                      VAULT_E_CORRUPT);
    ls_free(&ls);
    assert_int_equal(unlink(twin), 0);
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 1);
    vault_snapshots_free(list, n);
}

/* =========================================================================
 * 2. Identities that are not members
 */

static void test_wrong_identity(void **state)
{
    fx *f = *state;
    vault_identity_t *stranger;
    assert_vault_ok(vault_identity_generate(&stranger));
    vault_t *v = (vault_t *)0x1;
    assert_vault_code(vault_open(f->vault, stranger, &v), VAULT_E_NOT_MEMBER);
    assert_null(v);
    if (!strstr(vault_last_error(), "not a member"))
        fail_msg("detail does not say \"not a member\": %s",
                 vault_last_error());
    assert_non_null(strstr(vault_last_error(),
                           vault_identity_recipient(stranger)));
    vault_identity_free(stranger);

    /* not a vault at all, and a missing directory */
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/empty", f->base);
    make_dir(p);
    assert_vault_code(vault_open(p, f->id, &v), VAULT_E_NOT_FOUND);
    assert_vault_code(vault_probe(p), VAULT_E_NOT_FOUND);
    test_fmt(p, sizeof p, "%s/missing", f->base);
    assert_vault_code(vault_open(p, f->id, &v), VAULT_E_NOT_FOUND);
    assert_vault_ok(vault_probe(f->vault));
    /* init refuses a vault that exists */
    assert_vault_code(vault_init(f->vault, vault_identity_recipient(f->id)),
                      VAULT_E_EXISTS);
}

/* =========================================================================
 * 3. A malicious vault
 */

/* ---- raw tree bytes, per the layout in vault/src/tree.c ----------------- */

typedef struct rawbuf {
    uint8_t *p;
    size_t len, cap;
} rawbuf;

static void rb_bytes(rawbuf *b, const void *d, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, d, n);
    b->len += n;
}
static void rb_u8(rawbuf *b, uint8_t v)
{
    rb_bytes(b, &v, 1);
}
static void rb_u16(rawbuf *b, uint16_t v)
{
    uint8_t t[2];
    store_le16(t, v);
    rb_bytes(b, t, 2);
}
static void rb_u32(rawbuf *b, uint32_t v)
{
    uint8_t t[4];
    store_le32(t, v);
    rb_bytes(b, t, 4);
}
static void rb_u64(rawbuf *b, uint64_t v)
{
    uint8_t t[8];
    store_le64(t, v);
    rb_bytes(b, t, 8);
}
static void rb_free(rawbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

typedef struct raw_node {
    uint8_t type;           /* node_type */
    const char *name;
    size_t name_len;        /* 0: strlen(name) */
    uint32_t mode;          /* 0: 0644 files, 0755 dirs, 0777 symlinks */
    uint64_t size;
    uint64_t inode;
    uint32_t nlink;         /* 0: 1 */
    const char *target;     /* symlinks */
    const uint8_t *content; /* files: n_content chunk IDs */
    uint32_t n_content;
    const uint8_t *subtree; /* dirs */
} raw_node;

static void raw_node_put(rawbuf *b, const raw_node *n)
{
    size_t name_len = n->name_len ? n->name_len : strlen(n->name);
    uint32_t mode = n->mode ? n->mode
                    : n->type == NODE_DIR     ? 0755
                    : n->type == NODE_SYMLINK ? 0777
                                              : 0644;
    const char *target = n->target ? n->target : "";
    rb_u8(b, n->type);
    rb_u16(b, (uint16_t)name_len);
    rb_bytes(b, n->name, name_len);
    rb_u32(b, mode);
    rb_u32(b, 0);               /* uid */
    rb_u32(b, 0);               /* gid */
    rb_u8(b, 0);                /* user "" */
    rb_u8(b, 0);                /* group "" */
    rb_u64(b, 1700000000);      /* mtime_sec */
    rb_u32(b, 0);               /* mtime_nsec */
    rb_u64(b, n->size);
    rb_u64(b, n->inode);
    rb_u64(b, n->inode ? 1 : 0); /* device */
    rb_u32(b, n->nlink ? n->nlink : 1);
    rb_u64(b, 0);               /* rdev */
    rb_u16(b, (uint16_t)strlen(target));
    rb_bytes(b, target, strlen(target));
    rb_u16(b, 0);               /* no xattrs */
    if (n->type == NODE_FILE) {
        rb_u32(b, n->n_content);
        rb_bytes(b, n->content, (size_t)n->n_content * CHUNK_ID_BYTES);
    } else if (n->type == NODE_DIR) {
        rb_bytes(b, n->subtree, CHUNK_ID_BYTES);
    }
}

/* The bytes of a tree of these nodes, in the order given (not sorted). */
static void raw_tree(rawbuf *b, const raw_node *nodes, uint32_t n)
{
    b->len = 0;
    rb_u8(b, TREE_FORMAT_VERSION);
    rb_u32(b, n);
    for (uint32_t i = 0; i < n; i++)
        raw_node_put(b, &nodes[i]);
}

/* ---- writing blobs, packs, index segments and snapshots directly ------ */

typedef struct forge {
    vault_t *v;
    pack_writer pw;
    int begun;
} forge;

/* Adds a blob stored under the given ID - right or forged. */
static void forge_add_as(forge *g, blob_type type, const uint8_t id[32],
                         const void *data, size_t len)
{
    if (!g->begun) {
        assert_vault_ok(vlt_pack_writer_begin(&g->pw, g->v->keys));
        g->begun = 1;
    }
    assert_vault_ok(vlt_pack_writer_add(&g->pw, type, id, 0, data, len,
                                    (uint32_t)len));
}

static void forge_add(forge *g, blob_type type, const void *data, size_t len,
                      uint8_t id[32])
{
    vlt_chunk_id_compute(g->v->keys, type, data, len, id);
    forge_add_as(g, type, id, data, len);
}

static void forge_tree(forge *g, const raw_node *nodes, uint32_t n,
                       uint8_t id[32])
{
    rawbuf b = {0};
    raw_tree(&b, nodes, n);
    forge_add(g, BLOB_TREE, b.p, b.len, id);
    rb_free(&b);
}

/* Saves the pack and an index segment listing it. */
static void forge_commit(forge *g)
{
    if (!g->begun)
        return;
    uint8_t pack_id[32];
    assert_vault_ok(vlt_pack_writer_finish(&g->pw, g->v->be, pack_id));
    size_t starts[2] = {0, g->pw.n_entries};
    assert_vault_ok(vlt_index_segment_save(g->v->be, g->v->keys, pack_id, 1,
                                       starts, g->pw.entries));
    vlt_pack_writer_free(&g->pw);
    g->begun = 0;
}

static void forge_snapshot(fx *f, const uint8_t root[32], char id[65])
{
    char host[] = "evil", user[] = "mallory", path[] = "/evil";
    char *paths[] = {path};
    snapshot_record rec;
    memset(&rec, 0, sizeof rec);
    rec.time_sec = f->snap_time++;
    memcpy(rec.tree, root, CHUNK_ID_BYTES);
    rec.hostname = host;
    rec.username = user;
    rec.paths = paths;
    rec.n_paths = 1;
    assert_vault_ok(vlt_repo_snapshot_save(f->v, &rec, id));
}

/* A target and an "outside" next to it, whose listings (and that of their
 * parent) must not change except inside the target. */
typedef struct arena {
    char dir[PATH_MAX];     /* base/arena-N: holds target and outside */
    char target[PATH_MAX];  /* created empty */
    char outside[PATH_MAX]; /* holds "marker" only */
    name_set before_dir, before_outside, before_base;
    const char *base;
} arena;

static void arena_open(fx *f, arena *a, const char *label)
{
    memset(a, 0, sizeof *a);
    a->base = f->base;
    test_fmt(a->dir, sizeof a->dir, "%s/%s", f->base, label);
    test_fmt(a->target, sizeof a->target, "%s/target", a->dir);
    test_fmt(a->outside, sizeof a->outside, "%s/outside", a->dir);
    make_dir(a->dir);
    make_dir(a->target);
    make_dir(a->outside);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/marker", a->outside);
    test_write_file(p, "m", 1);
    names_of(a->dir, &a->before_dir);
    names_of(a->outside, &a->before_outside);
    names_of(f->base, &a->before_base);
}

/* Nothing appeared next to the target, in "outside", or at the root. */
static void arena_check(arena *a)
{
    name_set now;
    names_of(a->dir, &now);
    names_assert_same(&a->before_dir, &now, a->dir);
    names_free(&now);
    names_of(a->outside, &now);
    names_assert_same(&a->before_outside, &now, a->outside);
    names_free(&now);
    names_of(a->base, &now);
    names_assert_same(&a->before_base, &now, a->base);
    names_free(&now);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/x", a->outside);
    assert_false(exists_nofollow(p));
}

static void arena_close(arena *a)
{
    names_free(&a->before_dir);
    names_free(&a->before_outside);
    names_free(&a->before_base);
}

static int code_is_refusal(vault_error code)
{
    return code == VAULT_E_CORRUPT || code == VAULT_E_UNSAFE_PATH;
}

/* Names a tree must never restore, one per subdirectory of the root. */
static const struct {
    const char *name;
    size_t len; /* 0: strlen */
} bad_names[] = {
    {"../escape", 0}, {"/abs", 0}, {"a/b", 0}, {".", 0},
    {"..", 0},        {"", 0},     {"x\0y", 3}, {"../../../../../../tmp/x", 0},
};

static void test_evil_names(void **state)
{
    fx *f = *state;
    int abs_existed = exists_nofollow("/abs");
    forge g = {.v = f->v};
    uint8_t pwned[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);

    /* (a) root: d0..d7 -> a tree holding one file with a bad name, then a
     * good file "zz-ok" */
    const size_t nb = VAULT_ARRAY_SIZE(bad_names);
    uint8_t sub[VAULT_ARRAY_SIZE(bad_names)][32];
    raw_node root[VAULT_ARRAY_SIZE(bad_names) + 1];
    char dnames[VAULT_ARRAY_SIZE(bad_names)][8];
    for (size_t i = 0; i < nb; i++) {
        raw_node n = {.type = NODE_FILE,
                      .name = bad_names[i].name,
                      .name_len = bad_names[i].len,
                      .size = PWNED_LEN,
                      .content = pwned,
                      .n_content = 1};
        forge_tree(&g, &n, 1, sub[i]);
        test_fmt(dnames[i], sizeof dnames[i], "d%zu", i);
        root[i] = (raw_node){.type = NODE_DIR, .name = dnames[i],
                             .subtree = sub[i]};
    }
    root[nb] = (raw_node){.type = NODE_FILE, .name = "zz-ok",
                          .size = PWNED_LEN, .content = pwned,
                          .n_content = 1};
    uint8_t root_id[32];
    forge_tree(&g, root, (uint32_t)nb + 1, root_id);

    /* (b) each bad name directly in a root tree, as a file and as a dir
     * (whose subtree is the honest "zz-ok" tree) */
    uint8_t ok_tree[32];
    forge_tree(&g, &root[nb], 1, ok_tree);
    uint8_t direct[VAULT_ARRAY_SIZE(bad_names)][2][32];
    for (size_t i = 0; i < nb; i++) {
        raw_node file = {.type = NODE_FILE, .name = bad_names[i].name,
                         .name_len = bad_names[i].len, .size = PWNED_LEN,
                         .content = pwned, .n_content = 1};
        raw_node dir = {.type = NODE_DIR, .name = bad_names[i].name,
                        .name_len = bad_names[i].len, .subtree = ok_tree};
        forge_tree(&g, &file, 1, direct[i][0]);
        forge_tree(&g, &dir, 1, direct[i][1]);
    }
    forge_commit(&g);
    char snap[65], direct_snap[VAULT_ARRAY_SIZE(bad_names)][2][65];
    forge_snapshot(f, root_id, snap);
    for (size_t i = 0; i < nb; i++)
        for (int k = 0; k < 2; k++)
            forge_snapshot(f, direct[i][k], direct_snap[i][k]);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "names");
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, snap, a.target, 0, NULL, 0, &log, &res);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(res.errors, nb);
    assert_int_equal(res.files, 1);
    for (size_t i = 0; i < nb; i++) {
        const err_item *e = log_get(&log, dnames[i]);
        if (!code_is_refusal(e->code))
            fail_msg("%s: reported as %s", dnames[i], vault_strerror(e->code));
    }
    const char *only_ok[] = {"zz-ok", NULL};
    names_expect(a.target, only_ok);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/zz-ok", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    arena_check(&a);
    log_free(&log);

    /* ls refuses the same trees; it never reports a bad name */
    ls_list ls = {0};
    rc = vault_ls(f->v, snap, NULL, 1, ls_collect, &ls);
    assert_true(rc == VAULT_E_CORRUPT);
    for (size_t i = 0; i < ls.n; i++)
        assert_null(strstr(ls.e[i].path, ".."));
    ls_free(&ls);

    /* (b) */
    for (size_t i = 0; i < nb; i++) {
        for (int k = 0; k < 2; k++) {
            rm_rf(a.target);
            make_dir(a.target);
            rc = extract_to(f->v, direct_snap[i][k], a.target, 0, NULL, 0,
                            &log, &res);
            if (rc == VAULT_E_PARTIAL) {
                assert_int_equal(log.n, 1);
                if (!code_is_refusal(log.e[0].code))
                    fail_msg("bad name %zu: reported as %s", i,
                             vault_strerror(log.e[0].code));
            } else if (rc != VAULT_E_CORRUPT) {
                log_print(&log);
                fail_msg("bad name %zu (%s): extract returned %s: %s", i,
                         k ? "dir" : "file", vault_strerror(rc),
                         vault_last_error());
            }
            const char *none[] = {NULL};
            names_expect(a.target, none);
            arena_check(&a);
            log_free(&log);
            assert_int_not_equal(vault_ls(f->v, direct_snap[i][k], NULL, 1,
                                          ls_collect, &ls),
                                 VAULT_OK);
            ls_free(&ls);
        }
    }
    if (!abs_existed)
        assert_false(exists_nofollow("/abs"));
    arena_close(&a);
}

/* A name the decoder accepts (<= 4096 bytes) but no file system does
 * (> NAME_MAX): reported, and no temporary file is left behind. */
static void test_evil_long_names(void **state)
{
    fx *f = *state;
    char name[1001];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    forge g = {.v = f->v};
    uint8_t pwned[32], empty[32], root[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    forge_tree(&g, NULL, 0, empty);
    raw_node nodes[] = {
        {.type = NODE_FILE, .name = name, .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
        {.type = NODE_SYMLINK, .name = name + 1, .target = "x"},
        {.type = NODE_DIR, .name = name + 2, .subtree = empty},
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
    };
    /* sorted: longer "nnn..." names sort after shorter ones */
    raw_node sorted[] = {nodes[2], nodes[1], nodes[0], nodes[3]};
    forge_tree(&g, sorted, 4, root);
    forge_commit(&g);
    char snap[65];
    forge_snapshot(f, root, snap);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "long");
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, snap, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log.n, 3);
    const char *only_ok[] = {"ok", NULL};
    names_expect(a.target, only_ok);
    arena_check(&a);
    log_free(&log);
    arena_close(&a);
}

/* The restorer re-checks names itself, whatever the decoder let by: a fake
 * source hands it trees vlt_tree_decode would never produce. */
typedef struct fake_src {
    tree root;
} fake_src;

static vault_error fake_load_tree(void *ctx, const uint8_t id[32], tree *out)
{
    fake_src *s = ctx;
    memset(out, 0, sizeof *out);
    if (id[0] != 0)
        return vlt_fail(VAULT_E_NOT_FOUND, "fake: no tree %u", id[0]);
    /* a deep copy each time: the restorer frees what it gets */
    out->n_nodes = s->root.n_nodes;
    out->nodes = calloc(out->n_nodes, sizeof *out->nodes);
    assert_non_null(out->nodes);
    for (uint32_t i = 0; i < out->n_nodes; i++) {
        const tree_node *src = &s->root.nodes[i];
        tree_node *n = &out->nodes[i];
        *n = *src;
        n->name = src->name ? xstrdup(src->name) : NULL;
        n->user = xstrdup("");
        n->group = xstrdup("");
        n->target = src->target ? xstrdup(src->target) : NULL;
        n->xattrs = NULL;
        n->content = NULL;
        if (src->n_content) {
            n->content = xmalloc(src->n_content * (size_t)CHUNK_ID_BYTES);
            memcpy(n->content, src->content,
                   src->n_content * (size_t)CHUNK_ID_BYTES);
        }
    }
    return VAULT_OK;
}

static vault_error fake_load_chunk(void *ctx, const uint8_t id[32],
                                   uint8_t **data, size_t *len)
{
    (void)ctx;
    (void)id;
    *data = xmalloc(PWNED_LEN);
    memcpy(*data, PWNED, PWNED_LEN);
    *len = PWNED_LEN;
    return VAULT_OK;
}

static void test_restore_rechecks_names(void **state)
{
    fx *f = *state;
    /* bad names (NULL too: no name at all), then one good file */
    static const char *names[] = {"../escape", "/abs", "a/b", ".", "..", "",
                                  NULL, "zz-ok"};
    const uint32_t n = VAULT_ARRAY_SIZE(names);
    const uint32_t n_bad = n; /* n - 1 bad files, and ".." (a dir) */
    uint8_t chunk[1][32] = {{1}};
    tree_node nodes[VAULT_ARRAY_SIZE(names) + 1];
    memset(nodes, 0, sizeof nodes);
    for (uint32_t i = 0; i < n; i++) {
        nodes[i].type = NODE_FILE;
        nodes[i].name = (char *)(uintptr_t)names[i];
        nodes[i].mode = 0644;
        nodes[i].size = PWNED_LEN;
        nodes[i].nlink = 1;
        nodes[i].content = chunk;
        nodes[i].n_content = 1;
    }
    /* a directory named ".." whose subtree is the root itself: followed,
     * it would climb out of the target and recurse without end */
    nodes[n].type = NODE_DIR;
    nodes[n].name = (char *)(uintptr_t)"..";
    nodes[n].mode = 0755;
    nodes[n].nlink = 1;
    fake_src s = {{nodes, n + 1}};
    restore_source src = {fake_load_tree, fake_load_chunk, NULL, &s};

    arena a;
    arena_open(f, &a, "recheck");
    err_log log = {0};
    restore_options o;
    memset(&o, 0, sizeof o);
    o.target_dir = a.target;
    o.tar_fd = -1;
    o.on_error = log_error;
    o.on_error_ctx = &log;
    restore_stats st;
    uint8_t root[32] = {0};
    vault_error rc = vlt_restore_run(&src, root, &o, &st);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(st.errors, n_bad);
    assert_int_equal(st.files, 1); /* "zz-ok" */
    for (size_t i = 0; i < log.n; i++)
        assert_int_equal(log.e[i].code, VAULT_E_UNSAFE_PATH);
    const char *only_ok[] = {"zz-ok", NULL};
    names_expect(a.target, only_ok);
    arena_check(&a);
    log_free(&log);

    /* the same in tar mode: nothing bad reaches the stream */
    char tarp[PATH_MAX];
    test_fmt(tarp, sizeof tarp, "%s/out.tar", a.dir);
    int fd = open(tarp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    o.target_dir = NULL;
    o.tar_fd = fd;
    rc = vlt_restore_run(&src, root, &o, &st);
    close(fd);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(st.files, 1);
    for (size_t i = 0; i < log.n; i++)
        assert_int_equal(log.e[i].code, VAULT_E_UNSAFE_PATH);
    assert_int_equal(test_run("tar -tf '%s' | grep -qx zz-ok", tarp), 0);
    assert_int_equal(test_run("tar -tf '%s' | grep -qvx zz-ok", tarp), 1);
    unlink(tarp);
    log_free(&log);
    arena_close(&a);
}

/*
 * A symlink to outside, then a second snapshot with a directory (or file,
 * or hardlinked file) of the same name: extracting both into one target
 * must never write through the symlink.
 */
static void test_evil_symlink_then_write(void **state)
{
    fx *f = *state;
    arena a;
    arena_open(f, &a, "symlink");
    char rel_target[PATH_MAX];
    test_fmt(rel_target, sizeof rel_target, "../outside");

    forge g = {.v = f->v};
    uint8_t pwned[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    /* S1: link -> <outside> (absolute), rel -> ../outside */
    raw_node s1[] = {
        {.type = NODE_SYMLINK, .name = "link", .target = a.outside},
        {.type = NODE_SYMLINK, .name = "rel", .target = rel_target},
    };
    uint8_t s1_id[32];
    forge_tree(&g, s1, 2, s1_id);
    /* S2: link/ and rel/ are directories holding x; y is a hardlink of
     * link/x (same inode, nlink 2) */
    raw_node x = {.type = NODE_FILE, .name = "x", .size = PWNED_LEN,
                  .content = pwned, .n_content = 1, .inode = 77, .nlink = 2};
    uint8_t x_tree[32];
    forge_tree(&g, &x, 1, x_tree);
    raw_node s2[] = {
        {.type = NODE_DIR, .name = "link", .subtree = x_tree},
        {.type = NODE_DIR, .name = "rel", .subtree = x_tree},
        {.type = NODE_FILE, .name = "y", .size = PWNED_LEN, .content = pwned,
         .n_content = 1, .inode = 77, .nlink = 2},
    };
    uint8_t s2_id[32];
    forge_tree(&g, s2, 3, s2_id);
    /* S3: link and rel as files */
    raw_node s3[] = {
        {.type = NODE_FILE, .name = "link", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "rel", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
    };
    uint8_t s3_id[32];
    forge_tree(&g, s3, 2, s3_id);
    /* S4: one tree with both a symlink and a directory named "link"
     * (not canonical: the decoder must refuse it) */
    raw_node s4[] = {
        {.type = NODE_SYMLINK, .name = "link", .target = a.outside},
        {.type = NODE_DIR, .name = "link", .subtree = x_tree},
    };
    uint8_t s4_id[32];
    forge_tree(&g, s4, 2, s4_id);
    forge_commit(&g);
    char snap1[65], snap2[65], snap3[65], snap4[65];
    forge_snapshot(f, s1_id, snap1);
    forge_snapshot(f, s2_id, snap2);
    forge_snapshot(f, s3_id, snap3);
    forge_snapshot(f, s4_id, snap4);
    fx_reopen(f);

    err_log log = {0};
    vault_extract_result res;
    char p[PATH_MAX], q[PATH_MAX];

    /* S1: the symlinks are restored as symlinks, nothing followed */
    assert_vault_ok(extract_to(f->v, snap1, a.target, 0, NULL, 0, &log, &res));
    assert_int_equal(res.symlinks, 2);
    test_fmt(p, sizeof p, "%s/link", a.target);
    char buf[PATH_MAX];
    ssize_t n = readlink(p, buf, sizeof buf - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, a.outside);
    arena_check(&a);

    /* S2 without overwrite: link/ and rel/ refused, y restored alone */
    vault_error rc = extract_to(f->v, snap2, a.target, 0, NULL, 0, &log, &res);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log_get(&log, "link")->code, VAULT_E_EXISTS);
    assert_int_equal(log_get(&log, "rel")->code, VAULT_E_EXISTS);
    test_fmt(p, sizeof p, "%s/y", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    test_fmt(p, sizeof p, "%s/link", a.target);
    assert_int_equal(readlink(p, buf, sizeof buf), (ssize_t)strlen(a.outside));
    arena_check(&a);
    log_free(&log);

    /* S4: refused as a whole */
    rc = extract_to(f->v, snap4, a.target, 1, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_CORRUPT);
    arena_check(&a);
    log_free(&log);

    /* S3 without overwrite: the files do not replace the symlinks */
    rc = extract_to(f->v, snap3, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(res.errors, 2);
    arena_check(&a);
    log_free(&log);

    /* S2 with overwrite: the symlinks are replaced by directories, x
     * lands inside, y is its hardlink (unlinked first: it exists) */
    test_fmt(p, sizeof p, "%s/y", a.target);
    assert_int_equal(unlink(p), 0);
    rc = extract_to(f->v, snap2, a.target, 1, NULL, 0, &log, &res);
    log_print(&log);
    assert_vault_ok(rc);
    struct stat st, st2;
    test_fmt(p, sizeof p, "%s/link", a.target);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    test_fmt(p, sizeof p, "%s/link/x", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    test_fmt(q, sizeof q, "%s/y", a.target);
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(lstat(q, &st2), 0);
    assert_true(st.st_ino == st2.st_ino);
    arena_check(&a);
    log_free(&log);

    /* S1 with overwrite onto those directories: a symlink never
     * replaces a directory */
    rc = extract_to(f->v, snap1, a.target, 1, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    test_fmt(p, sizeof p, "%s/link", a.target);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    arena_check(&a);
    log_free(&log);

    /* a fresh target: S1, then S3 with overwrite replaces the symlinks
     * themselves, never what they point to */
    rm_rf(a.target);
    make_dir(a.target);
    assert_vault_ok(extract_to(f->v, snap1, a.target, 0, NULL, 0, &log, &res));
    assert_vault_ok(extract_to(f->v, snap3, a.target, 1, NULL, 0, &log, &res));
    test_fmt(p, sizeof p, "%s/link", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    test_fmt(p, sizeof p, "%s/rel", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    arena_check(&a);
    const char *marker_only[] = {"marker", NULL};
    names_expect(a.outside, marker_only);
    log_free(&log);
    arena_close(&a);
}

static void test_evil_sizes_and_missing_chunks(void **state)
{
    fx *f = *state;
    forge g = {.v = f->v};
    uint8_t pwned[32], missing[32], two[2][32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    rng_fill(missing, sizeof missing);
    memcpy(two[0], pwned, 32);
    memcpy(two[1], missing, 32);
    const uint64_t tib = (uint64_t)1 << 40;
    raw_node nodes[] = {
        /* sorted by name */
        {.type = NODE_FILE, .name = "huge-empty", .size = tib},
        {.type = NODE_FILE, .name = "huge-short", .size = tib,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "long", .size = 2, .content = pwned,
         .n_content = 1},
        {.type = NODE_FILE, .name = "missing", .size = PWNED_LEN,
         .content = missing, .n_content = 1},
        {.type = NODE_FILE, .name = "missing-2nd", .size = 2 * PWNED_LEN,
         .content = &two[0][0], .n_content = 2},
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "suid", .mode = 06755,
         .size = PWNED_LEN, .content = pwned, .n_content = 1},
    };
    uint8_t root[32];
    forge_tree(&g, nodes, VAULT_ARRAY_SIZE(nodes), root);
    forge_commit(&g);
    char snap[65];
    forge_snapshot(f, root, snap);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "sizes");
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, snap, a.target, 0, NULL, 0, &log, &res);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(res.errors, 5);
    assert_int_equal(res.files, 2);
    assert_int_equal(log_get(&log, "huge-empty")->code, VAULT_E_CORRUPT);
    assert_int_equal(log_get(&log, "huge-short")->code, VAULT_E_CORRUPT);
    assert_int_equal(log_get(&log, "long")->code, VAULT_E_CORRUPT);
    const err_item *e = log_get(&log, "missing");
    assert_int_equal(e->code, VAULT_E_NOT_FOUND);
    assert_non_null(strstr(e->detail, "not in the index"));
    assert_int_equal(log_get(&log, "missing-2nd")->code, VAULT_E_NOT_FOUND);
    /* no partial file, no temporary left behind, the rest restored */
    const char *left[] = {"ok", "suid", NULL};
    names_expect(a.target, left);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/ok", a.target);
    expect_file(p, PWNED, PWNED_LEN);
    /* not restoring owners: no set-id bits from a vault */
    struct stat st;
    test_fmt(p, sizeof p, "%s/suid", a.target);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755);
    arena_check(&a);
    log_free(&log);

    /* ls reports what the tree claims, without reading content */
    ls_list ls = {0};
    assert_vault_ok(vault_ls(f->v, snap, NULL, 1, ls_collect, &ls));
    assert_int_equal(ls.n, VAULT_ARRAY_SIZE(nodes));
    assert_true(ls_get(&ls, "/huge-empty")->size == tib);
    ls_free(&ls);
    arena_close(&a);
}

/* Reads a tar stream from a pipe, counting bytes; past limit it closes
 * the pipe, so a writer that would go on for ever fails instead. */
typedef struct pipe_counter {
    int fd;
    uint64_t limit, bytes;
    int cut;
    uint8_t *keep; /* the first keep_cap bytes */
    size_t keep_cap;
} pipe_counter;

static void *pipe_count(void *arg)
{
    pipe_counter *c = arg;
    static uint8_t buf[1 << 16];
    ssize_t n;
    while ((n = read(c->fd, buf, sizeof buf)) > 0) {
        if (c->bytes < c->keep_cap) {
            size_t k = (size_t)n;
            if (k > c->keep_cap - c->bytes)
                k = (size_t)(c->keep_cap - c->bytes);
            memcpy(c->keep + c->bytes, buf, k);
        }
        c->bytes += (uint64_t)n;
        if (c->bytes > c->limit) {
            c->cut = 1;
            break;
        }
    }
    close(c->fd);
    return NULL;
}

/*
 * Tar mode writes a file's header (with the size the tree claims) before
 * its content; a tree claiming 1 TiB with no content behind it must not
 * make extract write a terabyte of padding.
 */
static void test_evil_tar_size_claim(void **state)
{
    fx *f = *state;
    test_watchdog("test_vault", 60);
    forge g = {.v = f->v};
    uint8_t pwned[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    const uint64_t tib = (uint64_t)1 << 40;
    raw_node nodes[] = {
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "huge-empty", .size = tib},
        {.type = NODE_FILE, .name = "huge-short", .size = tib,
         .content = pwned, .n_content = 1},
        {.type = NODE_FILE, .name = "max-size", .size = UINT64_MAX},
    };
    enum { N = VAULT_ARRAY_SIZE(nodes) };
    uint8_t roots[N][32];
    char snaps[N][65];
    for (int i = 0; i < N; i++)
        forge_tree(&g, &nodes[i], 1, roots[i]);
    forge_commit(&g);
    for (int i = 0; i < N; i++)
        forge_snapshot(f, roots[i], snaps[i]);
    fx_reopen(f);
    signal(SIGPIPE, SIG_IGN);

    const uint64_t limit = 64u << 20;
    for (int i = 0; i < N; i++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pipe_counter c = {.fd = fds[0], .limit = limit};
        pthread_t th;
        assert_int_equal(pthread_create(&th, NULL, pipe_count, &c), 0);
        err_log log = {0};
        vault_extract_options o;
        memset(&o, 0, sizeof o);
        o.tar = 1;
        o.tar_fd = fds[1];
        o.on_error = log_error;
        o.on_error_ctx = &log;
        vault_extract_result res;
        vault_error rc = vault_extract(f->v, snaps[i], &o, &res);
        close(fds[1]);
        pthread_join(th, NULL);
        print_message("tar of \"%s\" (%" PRIu64 " bytes claimed): %s, "
                      "%" PRIu64 " bytes of tar%s\n",
                      nodes[i].name, nodes[i].size, vault_strerror(rc),
                      c.bytes, c.cut ? " before the test cut the pipe" : "");
        log_print(&log);
        size_t reported = log.n;
        log_free(&log); /* before any failure: no leak reports */
        if (i == 0) {
            assert_vault_ok(rc);
            assert_true(c.bytes > PWNED_LEN);
            continue;
        }
        if (c.cut || c.bytes > (16u << 20)) {
            signal(SIGPIPE, SIG_DFL);
            fail_msg("extract --tar of a tree claiming a %" PRIu64
                     "-byte file backed by %u chunk(s) wrote %" PRIu64
                     " bytes (zero padding for content that does not "
                     "exist) and was still writing",
                     nodes[i].size, nodes[i].n_content, c.bytes);
        }
        assert_true(rc != VAULT_OK);
        assert_true(reported >= 1 || rc != VAULT_E_PARTIAL);
    }
    signal(SIGPIPE, SIG_DFL);
    alarm(0);
}

static void test_evil_self_reference(void **state)
{
    fx *f = *state;
    test_watchdog("test_vault", 20);
    forge g = {.v = f->v};
    uint8_t pwned[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);

    /* A tree cannot hold its own keyed hash, so a self-reference needs a
     * forged ID: tree bytes {loop -> X} stored as the blob with ID X. */
    uint8_t x[32];
    rng_fill(x, sizeof x);
    raw_node loop = {.type = NODE_DIR, .name = "loop", .subtree = x};
    rawbuf b = {0};
    raw_tree(&b, &loop, 1);
    forge_add_as(&g, BLOB_TREE, x, b.p, b.len);
    rb_free(&b);
    /* an honest root above it */
    raw_node top[] = {
        {.type = NODE_DIR, .name = "loop", .subtree = x},
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
    };
    uint8_t root[32];
    forge_tree(&g, top, 2, root);

    /* And a chain deeper than any restorer should follow: 600 distinct
     * trees, each the only child of the one above. */
    enum { DEPTH = 600, DEEPER = 5000 };
    uint8_t chain[32], deep[32] = {0};
    forge_tree(&g, NULL, 0, chain);
    for (int i = 0; i < DEEPER; i++) {
        raw_node d = {.type = NODE_DIR, .name = "d", .subtree = chain};
        forge_tree(&g, &d, 1, chain);
        if (i == DEPTH - 1)
            memcpy(deep, chain, 32);
    }
    forge_commit(&g);
    char snap_x[65], snap_root[65], snap_chain[65], snap_deeper[65];
    forge_snapshot(f, x, snap_x);
    forge_snapshot(f, root, snap_root);
    forge_snapshot(f, deep, snap_chain);
    forge_snapshot(f, chain, snap_deeper);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "loop");
    err_log log = {0};
    vault_extract_result res;
    /* the forged tree as the root: refused, its ID does not match */
    vault_error rc = extract_to(f->v, snap_x, a.target, 0, NULL, 0, &log,
                                &res);
    assert_vault_code(rc, VAULT_E_CORRUPT);
    log_free(&log);
    /* below an honest root: reported, the rest restored */
    rc = extract_to(f->v, snap_root, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log_get(&log, "loop")->code, VAULT_E_CORRUPT);
    const char *only_ok[] = {"ok", NULL};
    names_expect(a.target, only_ok);
    arena_check(&a);
    log_free(&log);
    ls_list ls = {0};
    assert_vault_code(vault_ls(f->v, snap_root, NULL, 1, ls_collect, &ls),
                      VAULT_E_CORRUPT);
    ls_free(&ls);
    assert_vault_code(vault_ls(f->v, snap_root, "/loop/loop/loop", 0,
                               ls_collect, &ls),
                      VAULT_E_CORRUPT);
    ls_free(&ls);

    /* the deep chain: restored to a bounded depth, then reported */
    rm_rf(a.target);
    make_dir(a.target);
    rc = extract_to(f->v, snap_chain, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.e[0].code, VAULT_E_UNSUPPORTED);
    assert_true(res.dirs > 100 && res.dirs < DEPTH);
    arena_check(&a);
    log_free(&log);
    /* ls goes as deep as extraction does (512 levels), then says why */
    assert_vault_code(vault_ls(f->v, snap_chain, NULL, 1, ls_collect, &ls),
                      VAULT_E_UNSUPPORTED);
    assert_true(ls.n >= 500 && ls.n < DEPTH);
    ls_free(&ls);
    /* 5000 levels: ls must stop with an error (its path buffer ends
     * near 4096 levels) rather than run out of stack */
    vault_error lrc = vault_ls(f->v, snap_deeper, NULL, 1, ls_collect, &ls);
    print_message("ls of %d nested directories: %s (%zu listed): %s\n",
                  DEEPER, vault_strerror(lrc), ls.n, vault_last_error());
    assert_int_not_equal(lrc, VAULT_OK);
    assert_true(ls.n < DEEPER);
    ls_free(&ls);
    rm_rf(a.target);
    make_dir(a.target);
    rc = extract_to(f->v, snap_deeper, a.target, 0, NULL, 0, &log, &res);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(log.n, 1);
    assert_int_equal(log.e[0].code, VAULT_E_UNSUPPORTED);
    arena_check(&a);
    log_free(&log);
    arena_close(&a);
    alarm(0);
}

static void test_evil_type_confusion(void **state)
{
    fx *f = *state;
    forge g = {.v = f->v};
    uint8_t pwned[32], garbage_tree[32], honest_tree[32], nowhere[32];
    forge_add(&g, BLOB_DATA, PWNED, PWNED_LEN, pwned);
    /* a tree blob (ID computed as a tree's) whose bytes are no tree */
    forge_add(&g, BLOB_TREE, PWNED, PWNED_LEN, garbage_tree);
    raw_node ok = {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
                   .content = pwned, .n_content = 1};
    forge_tree(&g, &ok, 1, honest_tree);
    rng_fill(nowhere, sizeof nowhere);
    raw_node nodes[] = {
        {.type = NODE_DIR, .name = "dir-is-data", .subtree = pwned},
        {.type = NODE_DIR, .name = "dir-is-garbage", .subtree = garbage_tree},
        {.type = NODE_DIR, .name = "dir-is-missing", .subtree = nowhere},
        {.type = NODE_FILE, .name = "file-is-tree", .size = 10,
         .content = honest_tree, .n_content = 1},
        {.type = NODE_FILE, .name = "ok", .size = PWNED_LEN,
         .content = pwned, .n_content = 1},
    };
    uint8_t root[32];
    forge_tree(&g, nodes, VAULT_ARRAY_SIZE(nodes), root);
    forge_commit(&g);
    char snap_data[65], snap_garbage[65], snap_missing[65], snap_mixed[65];
    forge_snapshot(f, pwned, snap_data);
    forge_snapshot(f, garbage_tree, snap_garbage);
    forge_snapshot(f, nowhere, snap_missing);
    forge_snapshot(f, root, snap_mixed);
    fx_reopen(f);

    arena a;
    arena_open(f, &a, "types");
    err_log log = {0};
    vault_extract_result res;
    ls_list ls = {0};
    /* snapshots whose root is no tree: a clean error, nothing written */
    const char *roots[] = {snap_data, snap_garbage, snap_missing};
    const vault_error want[] = {VAULT_E_CORRUPT, VAULT_E_CORRUPT,
                                VAULT_E_NOT_FOUND};
    for (size_t i = 0; i < 3; i++) {
        vault_error rc = extract_to(f->v, roots[i], a.target, 0, NULL, 0,
                                    &log, &res);
        assert_vault_code(rc, want[i]);
        assert_int_equal(log.n, 0);
        assert_vault_code(vault_ls(f->v, roots[i], NULL, 1, ls_collect, &ls),
                          want[i]);
        ls_free(&ls);
        const char *none[] = {NULL};
        names_expect(a.target, none);
    }
    vault_error rc = extract_to(f->v, snap_mixed, a.target, 0, NULL, 0, &log,
                                &res);
    log_print(&log);
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_int_equal(res.errors, 4);
    assert_int_equal(log_get(&log, "dir-is-data")->code, VAULT_E_CORRUPT);
    assert_int_equal(log_get(&log, "dir-is-garbage")->code, VAULT_E_CORRUPT);
    assert_int_equal(log_get(&log, "dir-is-missing")->code,
                     VAULT_E_NOT_FOUND);
    assert_int_equal(log_get(&log, "file-is-tree")->code, VAULT_E_CORRUPT);
    const char *only_ok[] = {"ok", NULL};
    names_expect(a.target, only_ok);
    arena_check(&a);
    log_free(&log);
    arena_close(&a);
}

/* =========================================================================
 * 4. Tampering: every byte of a small vault
 */

typedef struct tamper_obj {
    char path[PATH_MAX];
    size_t size;
    int is_pack;
    size_t trailer_at; /* packs: where the sealed pack index starts */
} tamper_obj;

typedef struct tamper_ctx {
    fx *f;
    char src[PATH_MAX];
    char out[PATH_MAX];
    ls_list base_ls;
    char snap[65];
    tamper_obj *objs;
    size_t n_objs, cap_objs;
} tamper_ctx;

static tamper_ctx *tamper_collecting;

static int tamper_collect(const char *path, const struct stat *st, int flag,
                          struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(st->st_mode))
        return 0;
    tamper_ctx *t = tamper_collecting;
    if (t->n_objs == t->cap_objs) {
        t->cap_objs = t->cap_objs ? t->cap_objs * 2 : 16;
        t->objs = realloc(t->objs, t->cap_objs * sizeof *t->objs);
        assert_non_null(t->objs);
    }
    tamper_obj *o = &t->objs[t->n_objs++];
    memset(o, 0, sizeof *o);
    test_fmt(o->path, sizeof o->path, "%s", path);
    o->size = (size_t)st->st_size;
    o->is_pack = strstr(path, "/data/") != NULL;
    if (o->is_pack) {
        size_t len;
        uint8_t *bytes = test_read_file(path, &len);
        assert_true(len >= PACK_HEADER_BYTES + 4);
        o->trailer_at = len - 4 - load_le32(bytes + len - 4);
        free(bytes);
    }
    return 0;
}

static void flip_byte(const char *path, size_t pos, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    if (fd < 0) {
        /* objects are 0444: make it writable for the flip */
        assert_int_equal(chmod(path, 0644), 0);
        fd = open(path, O_RDWR);
        assert_int_equal(chmod(path, 0444), 0);
    }
    assert_true(fd >= 0);
    uint8_t c;
    assert_int_equal(pread(fd, &c, 1, (off_t)pos), 1);
    c ^= mask;
    assert_int_equal(pwrite(fd, &c, 1, (off_t)pos), 1);
    close(fd);
}

static int code_is_detection(vault_error rc)
{
    return rc == VAULT_E_CORRUPT || rc == VAULT_E_NOT_MEMBER ||
           rc == VAULT_E_NOT_FOUND || rc == VAULT_E_PARTIAL ||
           rc == VAULT_E_PERMISSION || rc == VAULT_E_UNSUPPORTED;
}

/* Open, snapshots, ls, extract; 1 if one of them failed (detected), 0 if
 * all succeeded with exactly the original results. */
static int tamper_run(tamper_ctx *t, const char *what)
{
    vault_t *v = NULL;
    vault_error rc = vault_open(t->f->vault, t->f->id, &v);
    vault_snapshot_info *list = NULL;
    size_t n = 0;
    ls_list ls = {0};
    err_log log = {0};
    int detected = 1;
    if (rc == VAULT_OK)
        rc = vault_snapshots(v, &list, &n);
    if (rc == VAULT_OK && (n != 1 || strcmp(list[0].id, t->snap) != 0))
        fail_msg("%s: the snapshot list changed undetected", what);
    if (rc == VAULT_OK)
        rc = vault_ls(v, t->snap, NULL, 1, ls_collect, &ls);
    if (rc == VAULT_OK && !ls_equal(&ls, &t->base_ls))
        fail_msg("%s: ls lists something else, undetected", what);
    if (rc == VAULT_OK) {
        vault_extract_result res;
        rm_rf(t->out);
        rc = extract_to(v, t->snap, t->out, 0, NULL, 0, &log, &res);
        for (size_t i = 0; rc == VAULT_E_PARTIAL && i < log.n; i++)
            if (!code_is_detection(log.e[i].code))
                fail_msg("%s: extract reported %s: %s", what,
                         vault_strerror(log.e[i].code), log.e[i].detail);
    }
    if (rc == VAULT_OK) {
        detected = 0;
        char p[PATH_MAX];
        test_fmt(p, sizeof p, "%s%s/one", t->out, t->src);
        expect_file(p, "tiny one\n", 9);
        test_fmt(p, sizeof p, "%s%s/two", t->out, t->src);
        expect_file(p, "tiny two\n", 9);
    } else if (!code_is_detection(rc)) {
        fail_msg("%s: failed with an unexpected code %s: %s", what,
                 vault_strerror(rc), vault_last_error());
    }
    vault_snapshots_free(list, n);
    ls_free(&ls);
    log_free(&log);
    vault_close(v);
    return detected;
}

/* The pack's own index (its sealed trailer) still authenticates? */
static vault_error pack_check(tamper_ctx *t, const tamper_obj *o)
{
    size_t len;
    uint8_t *bytes = test_read_file(o->path, &len);
    pack_entry *es;
    size_t n;
    vault_error rc = vlt_pack_read_index(t->f->v->keys, bytes, len, &es, &n);
    if (rc == VAULT_OK)
        free(es);
    free(bytes);
    return rc;
}

/*
 * Set to 1 to require that open/snapshots/ls/extract notice damage to a
 * pack's trailer too (today they never read it: blobs are located through
 * the index segments, and each blob is authenticated on its own).
 */
#ifndef TAMPER_STRICT_PACK_TRAILER
#define TAMPER_STRICT_PACK_TRAILER 1
#endif

/* A change (at byte pos, or a resize to pos) went unnoticed by the four
 * calls.  Only a pack's trailer - its sealed index and the length after
 * it - may: the pack index check must still refuse the pack, and
 * tamper_run has checked that every result was right. */
static void tamper_undetected(tamper_ctx *t, const tamper_obj *o, size_t pos,
                              const char *what, size_t *count)
{
    if (TAMPER_STRICT_PACK_TRAILER || !o->is_pack || pos < o->trailer_at)
        fail_msg("%s: nothing noticed", what);
    if (pack_check(t, o) == VAULT_OK)
        fail_msg("%s: nothing noticed, and the pack index authenticates",
                 what);
    (*count)++;
}

/* Rewrites the object as the first new_len bytes of orig (zero-padded). */
static void resize_object(const char *path, const uint8_t *orig, size_t len,
                          size_t new_len)
{
    assert_int_equal(chmod(path, 0644), 0);
    uint8_t *buf = calloc(new_len ? new_len : 1, 1);
    assert_non_null(buf);
    memcpy(buf, orig, new_len < len ? new_len : len);
    test_write_file(path, buf, new_len);
    free(buf);
    assert_int_equal(chmod(path, 0444), 0);
}

static void test_tamper_every_byte(void **state)
{
    fx *f = *state;
    test_watchdog("test_vault", 300);
    tamper_ctx t;
    memset(&t, 0, sizeof t);
    t.f = f;
    test_fmt(t.src, sizeof t.src, "%s/tc", f->base);
    test_fmt(t.out, sizeof t.out, "%s/tout", f->base);
    make_dir(t.src);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/one", t.src);
    test_write_file(p, "tiny one\n", 9);
    test_fmt(p, sizeof p, "%s/two", t.src);
    test_write_file(p, "tiny two\n", 9);
    vault_add_result r;
    /* one worker: one pack */
    fx_add_threads(f, t.src, VAULT_COMPRESSION_OFF, 1, &r);
    memcpy(t.snap, r.snapshot_id, 65);
    assert_vault_ok(vault_ls(f->v, t.snap, NULL, 1, ls_collect, &t.base_ls));
    assert_int_equal(tamper_run(&t, "untouched vault"), 0);

    tamper_collecting = &t;
    assert_int_equal(nftw(f->vault, tamper_collect, 16, FTW_PHYS), 0);
    size_t total = 0, packs = 0;
    for (size_t i = 0; i < t.n_objs; i++) {
        total += t.objs[i].size;
        packs += t.objs[i].is_pack;
    }
    for (size_t i = 0; i < t.n_objs; i++)
        print_message("tamper: %s (%zu bytes)\n",
                      t.objs[i].path + strlen(f->vault) + 1, t.objs[i].size);
    /* config, one envelope, one pack, one index segment, one snapshot */
    assert_int_equal(t.n_objs, 5);
    assert_int_equal(packs, 1);

    /* Every position of every object; a budget keeps slow builds bounded
     * by sampling the blob area of packs (never config, envelope, index,
     * snapshot, a pack's header or trailer). */
    const size_t budget = 6000;
    size_t tried = 0, undetected_trailer = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < t.n_objs; i++) {
        tamper_obj *o = &t.objs[i];
        size_t stride = 1;
        if (o->is_pack && total > budget)
            stride = (o->size + budget / 2 - 1) / (budget / 2);
        for (size_t pos = 0; pos < o->size; pos++) {
            if (o->is_pack && pos >= PACK_HEADER_BYTES &&
                pos < o->trailer_at && pos % stride != 0)
                continue;
            uint8_t mask = (uint8_t)(1u << (pos % 8));
            char what[PATH_MAX + 64];
            test_fmt(what, sizeof what, "%s byte %zu",
                o->path + strlen(f->vault) + 1, pos);
            flip_byte(o->path, pos, mask);
            if (!tamper_run(&t, what))
                tamper_undetected(&t, o, pos, what, &undetected_trailer);
            flip_byte(o->path, pos, mask);
            tried++;
        }
        /* truncated at a few lengths, and one byte longer */
        size_t len;
        uint8_t *orig = test_read_file(o->path, &len);
        size_t cuts[] = {0, 1, len / 2, len - 1, len + 1};
        for (size_t c = 0; c < VAULT_ARRAY_SIZE(cuts); c++) {
            char what[PATH_MAX + 64];
            test_fmt(what, sizeof what, "%s resized to %zu bytes",
                o->path + strlen(f->vault) + 1, cuts[c]);
            resize_object(o->path, orig, len, cuts[c]);
            if (!tamper_run(&t, what))
                tamper_undetected(&t, o, cuts[c] < len ? cuts[c] : len,
                                  what, &undetected_trailer);
            resize_object(o->path, orig, len, len);
        }
        free(orig);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("tamper: %zu flips of %zu bytes in %zu objects, and 5 "
                  "resizes of each, in %.1f s; %zu changes to pack trailers "
                  "were seen only by the pack index check (open/ls/extract "
                  "never read a pack's trailer)\n",
                  tried, total, t.n_objs,
                  (double)(t1.tv_sec - t0.tv_sec) +
                      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
                  undetected_trailer);
    assert_int_equal(tamper_run(&t, "restored vault"), 0);
    ls_free(&t.base_ls);
    free(t.objs);
    alarm(0);
}

/* =========================================================================
 * 5. Parsers against hostile bytes
 */

static int is_clean_rejection(vault_error rc)
{
    return rc == VAULT_E_CORRUPT || rc == VAULT_E_UNSUPPORTED ||
           rc == VAULT_E_PERMISSION;
}

#define assert_rejected(expr)                                                \
    do {                                                                     \
        vault_error r_ = (expr);                                             \
        if (!is_clean_rejection(r_))                                         \
            fail_msg("%s: expected a clean rejection, got %s (%d): %s",      \
                     #expr, vault_strerror(r_), r_, vault_last_error());     \
    } while (0)

static const char MEMBER[] =
    "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";

static vault_error payload_try(const void *text, size_t len)
{
    keyring *k = NULL;
    char *member = NULL;
    int64_t created;
    /* never a NULL pointer, even for 0 bytes */
    uint8_t *copy = xmalloc(len);
    if (len)
        memcpy(copy, text, len);
    vault_error rc = vlt_envelope_payload_decode(copy, len, &k, &member,
                                                 &created);
    if (rc == VAULT_OK) {
        assert_non_null(k);
        assert_non_null(member);
    } else {
        assert_null(k);
        assert_null(member);
    }
    vlt_keyring_free(k);
    free(member);
    free(copy);
    return rc;
}

static void test_parse_envelope_payload(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    keyring *k;
    assert_vault_ok(vlt_keyring_generate(&k));
    char *text;
    size_t len;
    assert_vault_ok(vlt_envelope_payload_encode(k, ROLE_OWNER, MEMBER,
                                            1700000000, &text, &len));

    /* the real thing */
    keyring *d;
    char *member;
    int64_t created;
    assert_vault_ok(vlt_envelope_payload_decode((const uint8_t *)text, len, &d,
                                            &member, &created));
    assert_int_equal(d->role, ROLE_OWNER);
    assert_int_equal(d->n_epochs, 1);
    assert_memory_equal(d->vault_id, k->vault_id, VAULT_ID_BYTES);
    assert_memory_equal(d->dedup_secret, k->dedup_secret, SECRET_BYTES);
    assert_memory_equal(d->epochs[0].read_sk, k->epochs[0].read_sk, 32);
    assert_string_equal(member, MEMBER);
    assert_true(created == 1700000000);
    vlt_keyring_free(d);
    free(member);

    /* every truncation */
    for (size_t n = 0; n < len; n++)
        assert_vault_code(payload_try(text, n), VAULT_E_CORRUPT);

    /* every position, a few replacement bytes: never a crash */
    static const uint8_t repl[] = {0, '\n', ' ', '0', 'f', 'g', 'A', 0xff,
                                   '\r', '-'};
    uint8_t *buf = xmalloc(len + 1);
    for (size_t pos = 0; pos < len; pos++) {
        for (size_t j = 0; j < sizeof repl; j++) {
            memcpy(buf, text, len);
            if (buf[pos] == repl[j])
                continue;
            buf[pos] = repl[j];
            vault_error rc = payload_try(buf, len);
            assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
        }
        /* and deletion of the byte */
        memcpy(buf, text, pos);
        memcpy(buf + pos, text + pos + 1, len - pos - 1);
        vault_error rc = payload_try(buf, len - 1);
        assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
    }
    free(buf);

    /* random bytes, some behind a plausible first line */
    uint8_t rnd[700];
    for (int i = 0; i < 3000; i++) {
        size_t n = rng_below(sizeof rnd);
        rng_fill(rnd, n);
        if (i % 2 && n > 40) {
            memcpy(rnd, "vault-envelope/v1\nvault-id ", 27);
            if (i % 4 == 1)
                memcpy(rnd + 30, "\nepoch ", 7);
        }
        assert_vault_code(payload_try(rnd, n), VAULT_E_CORRUPT);
    }

    /* hand-made hostile payloads: the real text with one line changed */
    char *lines[16];
    size_t n_lines = 0;
    char *copy = xstrdup(text);
    for (char *s = copy; *s && n_lines < 16;) {
        char *nl = strchr(s, '\n');
        assert_non_null(nl);
        *nl = '\0';
        lines[n_lines++] = s;
        s = nl + 1;
    }
    assert_int_equal(n_lines, 7);
    const struct {
        size_t line;
        const char *text;
    } swaps[] = {
        {0, "vault-envelope/v2"},
        {0, "vault-envelope/v1 "},
        {2, "role admin"},
        {2, "role owner "},
        {3, "member "},
        {4, "created 0123"},
        {4, "created -1"},
        {4, "created 99999999999999999999"},
        {4, "created 9223372036854775808"},
        {4, "created "},
        {1, "vault-id 00"},
        {5, "dedup-secret "},
        {6, "epoch 1 x"},
        {6, "epoch 0"},
    };
    char *hostile = xmalloc(len + 4096);
    for (size_t s = 0; s < VAULT_ARRAY_SIZE(swaps); s++) {
        size_t o = 0;
        for (size_t i = 0; i < n_lines; i++) {
            const char *l = i == swaps[s].line ? swaps[s].text : lines[i];
            memcpy(hostile + o, l, strlen(l));
            o += strlen(l);
            hostile[o++] = '\n';
        }
        if (payload_try(hostile, o) != VAULT_E_CORRUPT)
            fail_msg("accepted a payload with line %zu as \"%s\"",
                     swaps[s].line, swaps[s].text);
    }
    /* CRLF line ends; trailing data; a second copy of the epoch line */
    size_t o = 0;
    for (size_t i = 0; i < n_lines; i++) {
        memcpy(hostile + o, lines[i], strlen(lines[i]));
        o += strlen(lines[i]);
        memcpy(hostile + o, "\r\n", 2);
        o += 2;
    }
    assert_vault_code(payload_try(hostile, o), VAULT_E_CORRUPT);
    memcpy(hostile, text, len);
    memcpy(hostile + len, "extra\n", 6);
    assert_vault_code(payload_try(hostile, len + 6), VAULT_E_CORRUPT);
    memcpy(hostile + len, lines[6], strlen(lines[6]));
    hostile[len + strlen(lines[6])] = '\n';
    assert_vault_code(payload_try(hostile, len + strlen(lines[6]) + 1),
                      VAULT_E_CORRUPT);
    /* a read key that does not match its public key */
    char *sk = strchr(lines[6] + 8, ' ') + 1;
    sk[0] = sk[0] == '0' ? '1' : '0';
    o = 0;
    for (size_t i = 0; i < n_lines; i++) {
        memcpy(hostile + o, lines[i], strlen(lines[i]));
        o += strlen(lines[i]);
        hostile[o++] = '\n';
    }
    assert_vault_code(payload_try(hostile, o), VAULT_E_CORRUPT);
    free(hostile);
    free(copy);

    /* more epoch lines than allowed: refused before allocating */
    size_t big_len = (EPOCHS_MAX + 1) * 8 + 1;
    char *big = xmalloc(big_len);
    for (size_t i = 0; i <= EPOCHS_MAX; i++)
        memcpy(big + i * 8, "epoch 0\n", 8);
    assert_vault_code(payload_try(big, (EPOCHS_MAX + 1) * 8), VAULT_E_CORRUPT);
    free(big);
    /* over the size limit */
    big = xmalloc(ENVELOPE_MAX_BYTES + 1);
    memset(big, 'a', ENVELOPE_MAX_BYTES + 1);
    assert_vault_code(payload_try(big, ENVELOPE_MAX_BYTES + 1),
                      VAULT_E_CORRUPT);
    free(big);

    /* a writer's payload: no read keys, and a read key is refused */
    free(text);
    assert_vault_ok(vlt_envelope_payload_encode(k, ROLE_WRITER, MEMBER, 5, &text,
                                            &len));
    assert_vault_ok(vlt_envelope_payload_decode((const uint8_t *)text, len, &d,
                                            NULL, NULL));
    assert_int_equal(d->role, ROLE_WRITER);
    assert_false(d->epochs[0].has_read_sk);
    assert_false(vlt_keyring_can_read(d));
    vlt_keyring_free(d);
    char *dash = strstr(text, " - ");
    assert_non_null(dash);
    char *owner_text;
    size_t owner_len;
    assert_vault_ok(vlt_envelope_payload_encode(k, ROLE_OWNER, MEMBER, 5,
                                            &owner_text, &owner_len));
    char *role = strstr(owner_text, "role owner");
    assert_non_null(role);
    /* "role writer" is one byte longer than "role owner" */
    char *w = xmalloc(owner_len + 2);
    size_t head = (size_t)(role - owner_text);
    memcpy(w, owner_text, head);
    memcpy(w + head, "role writer", 11);
    memcpy(w + head + 11, role + 10, owner_len - head - 10);
    assert_vault_code(payload_try(w, owner_len + 1), VAULT_E_CORRUPT);
    free(w);
    free(owner_text);
    free(text);
    vlt_keyring_free(k);
}

static void test_parse_config(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    keyring *k, *other;
    assert_vault_ok(vlt_keyring_generate(&k));
    assert_vault_ok(vlt_keyring_generate(&other));
    uint8_t cfg[CONFIG_BYTES], buf[CONFIG_BYTES + 16], id[VAULT_ID_BYTES];
    vlt_config_encode(k, cfg);
    assert_vault_ok(vlt_config_parse(cfg, sizeof cfg, id));
    assert_memory_equal(id, k->vault_id, VAULT_ID_BYTES);
    assert_vault_ok(vlt_config_verify(k, cfg, sizeof cfg));
    assert_vault_code(vlt_config_verify(other, cfg, sizeof cfg), VAULT_E_CORRUPT);

    for (size_t n = 0; n < sizeof buf; n++) {
        memset(buf, 0, sizeof buf);
        memcpy(buf, cfg, n < sizeof cfg ? n : sizeof cfg);
        if (n == CONFIG_BYTES)
            continue;
        assert_vault_code(vlt_config_parse(buf, n, id), VAULT_E_CORRUPT);
        assert_vault_code(vlt_config_verify(k, buf, n), VAULT_E_CORRUPT);
    }
    for (size_t pos = 0; pos < CONFIG_BYTES; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, cfg, sizeof cfg);
            buf[pos] ^= (uint8_t)(1u << bit);
            vault_error want = pos < 8    ? VAULT_E_CORRUPT
                               : pos < 12 ? VAULT_E_UNSUPPORTED
                               : pos < 44 ? VAULT_OK
                               : pos < 56 ? VAULT_E_UNSUPPORTED
                                          : VAULT_OK;
            assert_vault_code(vlt_config_parse(buf, CONFIG_BYTES, id), want);
            vault_error rc = vlt_config_verify(k, buf, CONFIG_BYTES);
            assert_true(rc != VAULT_OK);
            assert_rejected(rc);
        }
    }
    for (int i = 0; i < 2000; i++) {
        rng_fill(buf, CONFIG_BYTES);
        if (i % 2)
            memcpy(buf, cfg, 56); /* a good body, a random MAC */
        assert_rejected(vlt_config_verify(k, buf, CONFIG_BYTES));
    }
    vlt_keyring_free(k);
    vlt_keyring_free(other);
}

/* Seals plain as a pack index trailer after a real header and filler, so
 * vlt_pack_read_index authenticates it and then parses it. */
static uint8_t *seal_pack(const keyring *k, const uint8_t *plain,
                          size_t plain_len, size_t filler, size_t *out_len)
{
    size_t trailer = AEAD_NONCE + plain_len + AEAD_TAG;
    size_t len = PACK_HEADER_BYTES + filler + trailer + 4;
    uint8_t *p = xmalloc(len), key[SECRET_BYTES];
    memcpy(p, PACK_MAGIC, 8);
    store_le32(p + 8, k->n_epochs - 1);
    assert_vault_ok(vlt_seal_key_new(vlt_keyring_current(k), "vault/v1 pack", p + 12,
                                 key));
    memset(p + PACK_HEADER_BYTES, 0xAB, filler);
    uint8_t ad[sizeof "vault/v1 pack index" - 1 + PACK_HEADER_BYTES];
    memcpy(ad, "vault/v1 pack index", sizeof "vault/v1 pack index" - 1);
    memcpy(ad + sizeof "vault/v1 pack index" - 1, p, PACK_HEADER_BYTES);
    uint8_t *t = p + PACK_HEADER_BYTES + filler;
    randombytes_buf(t, AEAD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(t + AEAD_NONCE, NULL, plain,
                                               plain_len, ad, sizeof ad, NULL,
                                               t, key);
    store_le32(p + len - 4, (uint32_t)trailer);
    *out_len = len;
    return p;
}

static void put_entry(uint8_t *p, uint8_t type, uint8_t flags,
                      uint32_t offset, uint32_t length, uint32_t raw_len)
{
    p[0] = type;
    p[1] = flags;
    memset(p + 2, 0x5A, CHUNK_ID_BYTES);
    store_le32(p + 34, offset);
    store_le32(p + 38, length);
    store_le32(p + 42, raw_len);
}

/* Field by field: the struct has padding. */
static int entry_same(const pack_entry *a, const pack_entry *b)
{
    return memcmp(a->id, b->id, CHUNK_ID_BYTES) == 0 && a->type == b->type &&
           a->flags == b->flags && a->offset == b->offset &&
           a->length == b->length && a->raw_len == b->raw_len;
}

static vault_error pack_try(const keyring *k, const uint8_t *bytes,
                            size_t len, size_t *n_out)
{
    uint8_t *copy = xmalloc(len);
    if (len)
        memcpy(copy, bytes, len);
    pack_entry *es = (pack_entry *)0x1;
    size_t n = 99;
    vault_error rc = vlt_pack_read_index(k, copy, len, &es, &n);
    if (rc == VAULT_OK) {
        free(es);
    } else {
        assert_null(es);
        assert_int_equal(n, 0);
    }
    if (n_out)
        *n_out = n;
    free(copy);
    return rc;
}

static void test_parse_pack_index(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    keyring *k;
    assert_vault_ok(vlt_keyring_generate(&k));
    backend *mem;
    assert_vault_ok(vlt_backend_memory_open(&mem));

    /* a real pack of three blobs */
    pack_writer pw;
    memset(&pw, 0, sizeof pw);
    assert_vault_ok(vlt_pack_writer_begin(&pw, k));
    uint8_t id[32];
    static const char *blobs[] = {"first blob", "second, longer blob",
                                  "\x01\x00\x00\x00\x00"};
    for (int i = 0; i < 3; i++) {
        blob_type type = i == 2 ? BLOB_TREE : BLOB_DATA;
        size_t n = i == 2 ? 5 : strlen(blobs[i]); /* an empty tree */
        vlt_chunk_id_compute(k, type, (const uint8_t *)blobs[i], n, id);
        assert_vault_ok(vlt_pack_writer_add(&pw, type, id, 0,
                                        (const uint8_t *)blobs[i], n,
                                        (uint32_t)n));
    }
    uint8_t pack_id[32];
    assert_vault_ok(vlt_pack_writer_finish(&pw, mem, pack_id));
    char name[65];
    vlt_hex_encode(pack_id, 32, name);
    uint8_t *pack;
    size_t len;
    assert_vault_ok(backend_load(mem, BACKEND_DATA, name, 0, 0, PACK_MAX_BYTES,
                                 &pack, &len));
    pack_entry *es;
    size_t n;
    assert_vault_ok(vlt_pack_read_index(k, pack, len, &es, &n));
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_true(entry_same(&es[i], &pw.entries[i]));
    /* and every blob opens with the key from the header */
    uint8_t key[SECRET_BYTES];
    assert_vault_ok(vlt_pack_key_from_header(k, pack, len, key));
    for (size_t i = 0; i < n; i++) {
        uint8_t *raw;
        assert_vault_ok(vlt_blob_open(k, key, &es[i], pack + es[i].offset,
                                  es[i].length, NULL, &raw));
        free(raw);
    }
    size_t trailer_at = len - 4 - load_le32(pack + len - 4);
    size_t blobs_end = es[2].offset + es[2].length;
    assert_int_equal(blobs_end, trailer_at);
    free(es);
    vlt_pack_writer_free(&pw);

    /* truncations: every one refused */
    for (size_t t = 0; t < len; t++)
        assert_rejected(pack_try(k, pack, t, NULL));
    /* flips: the header and the trailer are authenticated; flips in the
     * blobs are vlt_blob_open's business, not the index's */
    uint8_t *buf = xmalloc(len);
    for (size_t pos = 0; pos < len; pos++) {
        memcpy(buf, pack, len);
        buf[pos] ^= (uint8_t)(1u << (pos % 8));
        vault_error rc = pack_try(k, buf, len, &n);
        if (pos >= PACK_HEADER_BYTES && pos < trailer_at) {
            assert_vault_ok(rc);
            assert_int_equal(n, 3);
        } else {
            assert_rejected(rc);
        }
    }
    /* another member's keys */
    keyring *other;
    assert_vault_ok(vlt_keyring_generate(&other));
    assert_rejected(pack_try(other, pack, len, NULL));
    vlt_keyring_free(other);
    /* random bytes, with and without a plausible header */
    for (int i = 0; i < 2000; i++) {
        size_t m = rng_below(400);
        uint8_t *r = xmalloc(m);
        rng_fill(r, m);
        if (i % 2 && m >= PACK_HEADER_BYTES) {
            memcpy(r, pack, PACK_HEADER_BYTES);
            if (i % 4 == 1 && m >= PACK_HEADER_BYTES + 4)
                store_le32(r + m - 4, (uint32_t)rng_below(m));
        }
        assert_rejected(pack_try(k, r, m, NULL));
        free(r);
    }
    /* trailer lengths around the edges */
    static const uint32_t tl[] = {0, 1, AEAD_NONCE + 4 + AEAD_TAG - 1,
                                  UINT32_MAX, UINT32_MAX - 3};
    memcpy(buf, pack, len);
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(tl); i++) {
        store_le32(buf + len - 4, tl[i]);
        assert_rejected(pack_try(k, buf, len, NULL));
    }
    store_le32(buf + len - 4, (uint32_t)(len - 4 - PACK_HEADER_BYTES + 1));
    assert_rejected(pack_try(k, buf, len, NULL));
    free(buf);
    free(pack);

    /* authenticated but malformed pack indexes */
    uint8_t plain[4 + 3 * PACK_ENTRY_BYTES];
    const size_t filler = 200;
    const uint32_t good_off = PACK_HEADER_BYTES, good_len = 60;
    struct {
        uint8_t type, flags;
        uint32_t off, length, raw;
        int ok;
    } cases[] = {
        {BLOB_DATA, 0, good_off, good_len, good_len - 40, 1},
        {BLOB_TREE, BLOB_FLAG_ZSTD, good_off, good_len, 1000, 1},
        {0, 0, good_off, good_len, good_len - 40, 0},
        {3, 0, good_off, good_len, good_len - 40, 0},
        {0xff, 0, good_off, good_len, good_len - 40, 0},
        {BLOB_DATA, 2, good_off, good_len, good_len - 40, 0},
        {BLOB_DATA, 0x81, good_off, good_len, good_len - 40, 0},
        {BLOB_DATA, 0, 0, good_len, good_len - 40, 0},
        {BLOB_DATA, 0, PACK_HEADER_BYTES - 1, good_len, good_len - 40, 0},
        {BLOB_DATA, 0, good_off, 39, 0, 0},
        {BLOB_DATA, 0, good_off, 0, 0, 0},
        {BLOB_DATA, 0, good_off, (uint32_t)filler + 1, (uint32_t)filler - 39,
         0},
        {BLOB_DATA, 0, UINT32_MAX - 10, good_len, good_len - 40, 0},
        {BLOB_DATA, 0, good_off, UINT32_MAX, UINT32_MAX - 40, 0},
        {BLOB_DATA, 0, good_off, good_len, good_len - 39, 0},
        {BLOB_DATA, BLOB_FLAG_ZSTD, good_off, good_len, 4u * 1024 * 1024 + 1,
         0},
        {BLOB_TREE, BLOB_FLAG_ZSTD, good_off, good_len,
         64u * 1024 * 1024 + 1, 0},
        {BLOB_TREE, BLOB_FLAG_ZSTD, good_off, good_len, UINT32_MAX, 0},
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(cases); i++) {
        store_le32(plain, 1);
        put_entry(plain + 4, cases[i].type, cases[i].flags, cases[i].off,
                  cases[i].length, cases[i].raw);
        uint8_t *p = seal_pack(k, plain, 4 + PACK_ENTRY_BYTES, filler, &len);
        vault_error rc = pack_try(k, p, len, &n);
        if (cases[i].ok) {
            assert_vault_ok(rc);
            assert_int_equal(n, 1);
        } else if (rc != VAULT_E_CORRUPT) {
            fail_msg("pack index case %zu: %s", i, vault_strerror(rc));
        }
        free(p);
    }
    /* counts that disagree with the length, and short bodies */
    static const uint32_t counts[] = {0, 2, 3, UINT32_MAX, 0x80000000u,
                                      0x05900000u};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(counts); i++) {
        store_le32(plain, counts[i]);
        put_entry(plain + 4, BLOB_DATA, 0, good_off, good_len, good_len - 40);
        uint8_t *p = seal_pack(k, plain, 4 + PACK_ENTRY_BYTES, filler, &len);
        assert_vault_code(pack_try(k, p, len, NULL), VAULT_E_CORRUPT);
        free(p);
    }
    store_le32(plain, 0);
    for (size_t m = 0; m <= 4 + PACK_ENTRY_BYTES; m++) {
        uint8_t *p = seal_pack(k, plain, m, filler, &len);
        vault_error rc = pack_try(k, p, len, &n);
        if (m == 4) {
            assert_vault_ok(rc);
            assert_int_equal(n, 0);
        } else {
            assert_vault_code(rc, VAULT_E_CORRUPT);
        }
        free(p);
    }
    /* a pack sealed in an epoch the member does not have */
    store_le32(plain, 0);
    uint8_t *p = seal_pack(k, plain, 4, 0, &len);
    store_le32(p + 8, 5);
    assert_vault_code(pack_try(k, p, len, NULL), VAULT_E_PERMISSION);
    free(p);
    backend_close(mem);
    vlt_keyring_free(k);
}

/* Saves bytes as an index segment under the SHA-256 of its bytes (so the
 * parser itself runs) in a fresh memory backend, and loads the index. */
static vault_error segment_try(const keyring *k, const uint8_t *bytes,
                               size_t len, size_t *n_entries)
{
    backend *mem;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    char name[65];
    vlt_object_name(bytes, len, name);
    assert_vault_ok(backend_save(mem, BACKEND_INDEX, name, bytes, len));
    vault_index ix;
    vlt_index_init(&ix);
    vault_error rc = vlt_index_load(&ix, mem, k);
    if (n_entries)
        *n_entries = ix.n_slots;
    vlt_index_free(&ix);
    backend_close(mem);
    return rc;
}

/* A damaged or foreign segment: refused with a clean error, or - for a
 * key epoch the member does not hold - skipped, adding nothing. */
static void segment_refused(const keyring *k, const uint8_t *bytes,
                            size_t len)
{
    size_t n = 0;
    vault_error rc = segment_try(k, bytes, len, &n);
    if (rc == VAULT_OK && n == 0 && len >= 12 &&
        memcmp(bytes, INDEX_MAGIC, 8) == 0 &&
        !vlt_keyring_epoch(k, load_le32(bytes + 8)))
        return;
    assert_rejected(rc);
}

static uint8_t *seal_segment(const keyring *k, uint32_t epoch,
                             const uint8_t *body, size_t body_len,
                             size_t *out_len)
{
    size_t len = 36 + body_len + AEAD_TAG;
    uint8_t *p = xmalloc(len), key[SECRET_BYTES];
    memcpy(p, INDEX_MAGIC, 8);
    store_le32(p + 8, epoch);
    randombytes_buf(p + 12, AEAD_NONCE);
    vlt_kdf(key, vlt_keyring_current(k)->write_key, "index");
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + 36, NULL, body, body_len,
                                               p, 36, NULL, p + 12, key);
    *out_len = len;
    return p;
}

static void test_parse_index_segments(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    keyring *k;
    assert_vault_ok(vlt_keyring_generate(&k));

    /* a real segment: two packs, three entries */
    uint8_t pack_ids[64];
    rng_fill(pack_ids, sizeof pack_ids);
    pack_entry es[3];
    memset(es, 0, sizeof es);
    for (int i = 0; i < 3; i++) {
        rng_fill(es[i].id, CHUNK_ID_BYTES);
        es[i].type = i == 2 ? BLOB_TREE : BLOB_DATA;
        es[i].offset = PACK_HEADER_BYTES + 100 * (uint32_t)i;
        es[i].length = 90;
        es[i].raw_len = 50;
    }
    size_t starts[3] = {0, 2, 3};
    backend *mem;
    assert_vault_ok(vlt_backend_memory_open(&mem));
    assert_vault_ok(vlt_index_segment_save(mem, k, pack_ids, 2, starts, es));
    vault_index ix;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_load(&ix, mem, k));
    assert_int_equal(ix.n_slots, 3);
    assert_int_equal(ix.n_packs, 2);
    for (int i = 0; i < 3; i++) {
        const index_slot *s = vlt_index_find(&ix, es[i].id);
        assert_non_null(s);
        pack_entry e;
        vlt_index_slot_entry(&ix, s, &e);
        assert_true(entry_same(&e, &es[i]));
        assert_memory_equal(ix.packs[s->pack], pack_ids + (i == 2) * 32, 32);
    }
    vlt_index_free(&ix);
    backend_close(mem);

    /* rebuild the same segment by hand, to have its bytes */
    size_t body_len = 4 + 2 * 36 + 3 * PACK_ENTRY_BYTES;
    uint8_t *body = xmalloc(body_len), *w = body;
    store_le32(w, 2);
    w += 4;
    for (size_t pk = 0; pk < 2; pk++) {
        memcpy(w, pack_ids + 32 * pk, 32);
        store_le32(w + 32, (uint32_t)(starts[pk + 1] - starts[pk]));
        w += 36;
        for (size_t j = starts[pk]; j < starts[pk + 1]; j++) {
            w[0] = es[j].type;
            w[1] = es[j].flags;
            memcpy(w + 2, es[j].id, 32);
            store_le32(w + 34, es[j].offset);
            store_le32(w + 38, es[j].length);
            store_le32(w + 42, es[j].raw_len);
            w += PACK_ENTRY_BYTES;
        }
    }
    assert_int_equal((size_t)(w - body), body_len);
    size_t len, n;
    uint8_t *seg_bytes = seal_segment(k, 0, body, body_len, &len);
    assert_vault_ok(segment_try(k, seg_bytes, len, &n));
    assert_int_equal(n, 3);

    /* truncations and flips (each saved under its own true name) */
    for (size_t t = 0; t < len; t++)
        segment_refused(k, seg_bytes, t);
    uint8_t *buf = xmalloc(len);
    for (size_t pos = 0; pos < len; pos++) {
        memcpy(buf, seg_bytes, len);
        buf[pos] ^= (uint8_t)(1u << (pos % 8));
        segment_refused(k, buf, len);
    }
    free(buf);
    /* the real bytes under a name that is not theirs */
    assert_vault_ok(vlt_backend_memory_open(&mem));
    char wrong[65];
    memset(wrong, 'a', 64);
    wrong[64] = '\0';
    assert_vault_ok(backend_save(mem, BACKEND_INDEX, wrong, seg_bytes, len));
    vlt_index_init(&ix);
    assert_vault_code(vlt_index_load(&ix, mem, k), VAULT_E_CORRUPT);
    vlt_index_free(&ix);
    backend_close(mem);
    /* random bytes, with and without the magic */
    for (int i = 0; i < 1500; i++) {
        size_t m = rng_below(300);
        uint8_t *r = xmalloc(m);
        rng_fill(r, m);
        if (i % 2 && m >= 12) {
            memcpy(r, INDEX_MAGIC, 8);
            store_le32(r + 8, 0);
        }
        segment_refused(k, r, m);
        free(r);
    }

    /* authenticated but malformed bodies */
    uint8_t hb[4 + 36 + 2 * PACK_ENTRY_BYTES + 8];
    memset(hb, 0, sizeof hb);
    struct {
        uint32_t n_packs, n_entries;
        size_t body_len;
        uint8_t entry_type;
        vault_error want;
    } cases[] = {
        {0, 0, 4, BLOB_DATA, VAULT_OK},
        {0, 0, 0, BLOB_DATA, VAULT_E_CORRUPT},
        {0, 0, 3, BLOB_DATA, VAULT_E_CORRUPT},
        {0, 0, 5, BLOB_DATA, VAULT_E_CORRUPT},         /* trailing */
        {1, 0, 4, BLOB_DATA, VAULT_E_CORRUPT},         /* no pack */
        {1, 0, 4 + 35, BLOB_DATA, VAULT_E_CORRUPT},    /* short pack */
        {1, 0, 4 + 36, BLOB_DATA, VAULT_OK},           /* empty pack */
        {1, 1, 4 + 36, BLOB_DATA, VAULT_E_CORRUPT},    /* no entry */
        {1, 1, 4 + 36 + 45, BLOB_DATA, VAULT_E_CORRUPT},
        {1, 1, 4 + 36 + 46, BLOB_DATA, VAULT_OK},
        {1, 1, 4 + 36 + 47, BLOB_DATA, VAULT_E_CORRUPT},
        {1, 2, 4 + 36 + 92, BLOB_DATA, VAULT_OK},
        {1, 1, 4 + 36 + 46, 0, VAULT_E_CORRUPT},
        {1, 1, 4 + 36 + 46, 9, VAULT_E_CORRUPT},
        {1, UINT32_MAX, 4 + 36 + 92, BLOB_DATA, VAULT_E_CORRUPT},
        {1, 0x05900000u, 4 + 36 + 92, BLOB_DATA, VAULT_E_CORRUPT},
        {UINT32_MAX, 0, 4 + 36, BLOB_DATA, VAULT_E_CORRUPT},
        {UINT32_MAX, 2, 4 + 36 + 92, BLOB_DATA, VAULT_E_CORRUPT},
    };
    uint8_t *p;
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(cases); i++) {
        memset(hb, 0, sizeof hb);
        store_le32(hb, cases[i].n_packs);
        memset(hb + 4, 0x11, 32);
        store_le32(hb + 36, cases[i].n_entries);
        for (int j = 0; j < 2; j++) {
            uint8_t *e = hb + 40 + j * PACK_ENTRY_BYTES;
            e[0] = cases[i].entry_type;
            memset(e + 2, 0x30 + j, 32);
            store_le32(e + 34, PACK_HEADER_BYTES);
            store_le32(e + 38, 50);
            store_le32(e + 42, 10);
        }
        p = seal_segment(k, 0, hb, cases[i].body_len, &len);
        vault_error rc = segment_try(k, p, len, &n);
        if (rc != cases[i].want)
            fail_msg("segment case %zu: %s, expected %s: %s", i,
                     vault_strerror(rc), vault_strerror(cases[i].want),
                     vault_last_error());
        free(p);
    }
    /* an epoch the member does not hold (and a real body) */
    p = seal_segment(k, 3, body, body_len, &len);
    segment_refused(k, p, len);
    free(p);
    free(seg_bytes);
    free(body);
    vlt_keyring_free(k);
}

static void test_parse_tree_and_snapshot_records(void **state)
{
    (void)state;
    /* a valid tree from the raw encoder: the decoder agrees with it */
    uint8_t ids[2][32];
    rng_fill(&ids[0][0], sizeof ids);
    raw_node nodes[] = {
        {.type = NODE_FILE, .name = "a", .size = 10, .content = &ids[0][0],
         .n_content = 2},
        {.type = NODE_DIR, .name = "b", .subtree = ids[1]},
        {.type = NODE_SYMLINK, .name = "c", .target = "/etc/passwd"},
        {.type = NODE_FILE, .name = "d", .inode = 5, .nlink = 2},
    };
    rawbuf b = {0};
    raw_tree(&b, nodes, VAULT_ARRAY_SIZE(nodes));
    tree t;
    assert_vault_ok(vlt_tree_decode(b.p, b.len, &t));
    assert_int_equal(t.n_nodes, 4);
    assert_string_equal(t.nodes[2].target, "/etc/passwd");
    uint8_t *enc;
    size_t enc_len;
    assert_vault_ok(vlt_tree_encode(&t, &enc, &enc_len));
    assert_int_equal(enc_len, b.len);
    assert_memory_equal(enc, b.p, b.len);
    free(enc);
    vlt_tree_clear(&t);

    for (size_t n = 0; n < b.len; n++) {
        uint8_t *c = xmalloc(n);
        memcpy(c, b.p, n);
        assert_vault_code(vlt_tree_decode(c, n, &t), VAULT_E_CORRUPT);
        free(c);
    }
    uint8_t *buf = xmalloc(b.len);
    for (size_t pos = 0; pos < b.len; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, b.p, b.len);
            buf[pos] ^= (uint8_t)(1u << bit);
            vault_error rc = vlt_tree_decode(buf, b.len, &t);
            assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
            vlt_tree_clear(&t);
        }
    }
    free(buf);
    for (int i = 0; i < 3000; i++) {
        size_t m = rng_below(400);
        uint8_t *r = xmalloc(m);
        rng_fill(r, m);
        if (i % 2 && m > 5) {
            r[0] = TREE_FORMAT_VERSION;
            store_le32(r + 1, (uint32_t)rng_below(4));
        }
        vault_error rc = vlt_tree_decode(r, m, &t);
        assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
        vlt_tree_clear(&t);
        snapshot_record s;
        rc = vlt_snapshot_decode(r, m, &s);
        assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
        vlt_snapshot_clear(&s);
        free(r);
    }
    rb_free(&b);

    /* snapshot records */
    char host[] = "h", user[] = "u", p1[] = "/a", p2[] = "/b/c", tag[] = "t";
    char *paths[] = {p1, p2}, *tags[] = {tag};
    snapshot_record rec;
    memset(&rec, 0, sizeof rec);
    rec.time_sec = -5;
    rec.time_nsec = 999999999;
    rec.hostname = host;
    rec.username = user;
    rec.paths = paths;
    rec.n_paths = 2;
    rec.tags = tags;
    rec.n_tags = 1;
    rec.files = 1;
    assert_vault_ok(vlt_snapshot_encode(&rec, &enc, &enc_len));
    snapshot_record s;
    assert_vault_ok(vlt_snapshot_decode(enc, enc_len, &s));
    assert_true(s.time_sec == -5);
    vlt_snapshot_clear(&s);
    for (size_t n = 0; n < enc_len; n++) {
        uint8_t *c = xmalloc(n);
        memcpy(c, enc, n);
        assert_vault_code(vlt_snapshot_decode(c, n, &s), VAULT_E_CORRUPT);
        free(c);
    }
    buf = xmalloc(enc_len);
    for (size_t pos = 0; pos < enc_len; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, enc, enc_len);
            buf[pos] ^= (uint8_t)(1u << bit);
            vault_error rc = vlt_snapshot_decode(buf, enc_len, &s);
            assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
            vlt_snapshot_clear(&s);
        }
    }
    free(buf);
    free(enc);
}

/* Seals plain as a snapshot object, as vlt_repo_snapshot_save would. */
static uint8_t *seal_snapshot(const keyring *k, const uint8_t *plain,
                              size_t plain_len, size_t *out_len)
{
    size_t len = SNAPSHOT_HEADER_BYTES + plain_len + AEAD_TAG;
    uint8_t *p = xmalloc(len), key[SECRET_BYTES];
    memcpy(p, SNAPSHOT_MAGIC, 8);
    store_le32(p + 8, k->n_epochs - 1);
    assert_vault_ok(vlt_seal_key_new(vlt_keyring_current(k), "vault/v1 snapshot",
                                 p + 12, key));
    randombytes_buf(p + 44, AEAD_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + SNAPSHOT_HEADER_BYTES,
                                               NULL, plain, plain_len, p,
                                               SNAPSHOT_HEADER_BYTES, NULL,
                                               p + 44, key);
    *out_len = len;
    return p;
}

static vault_error snapshot_object_try(vault_t *v, const uint8_t *bytes,
                                       size_t len)
{
    char name[65];
    vlt_object_name(bytes, len, name);
    vault_error rc = backend_save(v->be, BACKEND_SNAPSHOTS, name, bytes, len);
    if (rc == VAULT_E_EXISTS)
        rc = VAULT_OK;
    assert_vault_ok(rc);
    snapshot_record rec;
    rc = vlt_repo_snapshot_load(v, name, &rec);
    vlt_snapshot_clear(&rec);
    assert_vault_ok(backend_remove(v->be, BACKEND_SNAPSHOTS, name));
    return rc;
}

static void test_parse_snapshot_objects(void **state)
{
    (void)state;
    assert_vault_ok(vault_global_init());
    /* just enough of a vault handle: keys and a backend */
    vault_t v;
    memset(&v, 0, sizeof v);
    assert_vault_ok(vlt_keyring_generate(&v.keys));
    assert_vault_ok(vlt_backend_memory_open(&v.be));

    char host[] = "host", user[] = "user", path[] = "/x";
    char *paths[] = {path};
    snapshot_record rec;
    memset(&rec, 0, sizeof rec);
    rec.time_sec = 1;
    rec.hostname = host;
    rec.username = user;
    rec.paths = paths;
    rec.n_paths = 1;
    char id[65];
    assert_vault_ok(vlt_repo_snapshot_save(&v, &rec, id));
    uint8_t *obj;
    size_t len;
    assert_vault_ok(backend_load(v.be, BACKEND_SNAPSHOTS, id, 0, 0,
                                 SNAPSHOT_MAX_BYTES, &obj, &len));
    snapshot_record got;
    assert_vault_ok(vlt_repo_snapshot_load(&v, id, &got));
    assert_string_equal(got.paths[0], "/x");
    vlt_snapshot_clear(&got);
    assert_vault_ok(backend_remove(v.be, BACKEND_SNAPSHOTS, id));

    for (size_t t = 0; t < len; t++)
        assert_rejected(snapshot_object_try(&v, obj, t));
    uint8_t *buf = xmalloc(len);
    for (size_t pos = 0; pos < len; pos++) {
        memcpy(buf, obj, len);
        buf[pos] ^= (uint8_t)(1u << (pos % 8));
        assert_rejected(snapshot_object_try(&v, buf, len));
    }
    free(buf);
    for (int i = 0; i < 500; i++) {
        size_t m = rng_below(300);
        uint8_t *r = xmalloc(m);
        rng_fill(r, m);
        if (i % 2 && m >= 12) {
            memcpy(r, SNAPSHOT_MAGIC, 8);
            store_le32(r + 8, 0);
        }
        assert_rejected(snapshot_object_try(&v, r, m));
        free(r);
    }
    /* authenticated, but the record inside is garbage or truncated */
    uint8_t *plain;
    size_t plain_len;
    assert_vault_ok(vlt_snapshot_encode(&rec, &plain, &plain_len));
    for (size_t m = 0; m < plain_len; m++) {
        uint8_t *p = seal_snapshot(v.keys, plain, m, &len);
        assert_vault_code(snapshot_object_try(&v, p, len), VAULT_E_CORRUPT);
        free(p);
    }
    uint8_t *p = seal_snapshot(v.keys, plain, plain_len, &len);
    assert_vault_ok(snapshot_object_try(&v, p, len));
    store_le32(p + 8, 9); /* an epoch not held (and a broken name) */
    assert_rejected(snapshot_object_try(&v, p, len));
    free(p);
    uint8_t garbage[200];
    for (int i = 0; i < 200; i++) {
        rng_fill(garbage, sizeof garbage);
        garbage[0] = SNAPSHOT_FORMAT_VERSION;
        p = seal_snapshot(v.keys, garbage, rng_below(sizeof garbage), &len);
        assert_rejected(snapshot_object_try(&v, p, len));
        free(p);
    }
    free(plain);
    free(obj);
    backend_close(v.be);
    vlt_keyring_free(v.keys);
}

int main(void)
{
    const struct CMUnitTest api_tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_deep_and_wide,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_resolve, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_identity, fx_setup,
                                        fx_teardown),
    };
    const struct CMUnitTest hostile_tests[] = {
        cmocka_unit_test_setup_teardown(test_evil_names, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_long_names, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_restore_rechecks_names, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_symlink_then_write,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_sizes_and_missing_chunks,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_tar_size_claim, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_self_reference, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_evil_type_confusion, fx_setup,
                                        fx_teardown),
    };
    const struct CMUnitTest tamper_tests[] = {
        cmocka_unit_test_setup_teardown(test_tamper_every_byte, fx_setup,
                                        fx_teardown),
    };
    const struct CMUnitTest parser_tests[] = {
        cmocka_unit_test(test_parse_envelope_payload),
        cmocka_unit_test(test_parse_config),
        cmocka_unit_test(test_parse_pack_index),
        cmocka_unit_test(test_parse_index_segments),
        cmocka_unit_test(test_parse_tree_and_snapshot_records),
        cmocka_unit_test(test_parse_snapshot_objects),
    };
    int failures = 0;
    failures += cmocka_run_group_tests_name("vault API", api_tests, NULL,
                                            NULL);
    failures += cmocka_run_group_tests_name("hostile vault", hostile_tests,
                                            NULL, NULL);
    failures += cmocka_run_group_tests_name("tampering", tamper_tests, NULL,
                                            NULL);
    failures += cmocka_run_group_tests_name("parsers", parser_tests, NULL,
                                            NULL);
    return failures ? 1 : 0;
}
