/*
 * test_alloc.c - allocation failure: every allocation a small add makes
 * fails in turn (curl's torture mode, SQLite's test_malloc.c), and each
 * must give a clean error and leave the vault intact.
 *
 * The test executable is linked with -Wl,--wrap=malloc,--wrap=calloc,
 * --wrap=realloc,--wrap=strdup (tests/CMakeLists.txt), and libvault is a
 * static archive, so every call the library makes to those lands in the
 * __wrap_ functions below.  Calls made inside shared libraries (libsodium,
 * zstd, libc itself: opendir, getpwuid_r, ...) and sodium_malloc are not
 * counted; that is fine: the library's own error paths are under test.
 *
 * Armed with n, the wrappers let n - 1 allocations through and fail the
 * nth (and, in the sticky pass, every later one: memory stays short).
 * The counter is atomic: the add's workers allocate too; with one worker
 * the order is nearly fixed, and the loop goes on until an add runs
 * without reaching allocation n.
 *
 * For each n, with the allocator disarmed again: the add returned an
 * error with a detail (VAULT_E_NOMEM is what is expected, any clean error
 * is accepted) and no snapshot was committed - or, if it absorbed the
 * failure and returned VAULT_OK, its snapshot extracts byte-identical; the
 * vault, opened afresh, passes vu_check, its earlier snapshot extracts
 * byte-identical; and under ASan LeakSanitizer finds no leak.
 *
 * ALLOC_EVERY_UP_TO: every n up to it is tried, then every ALLOC_STRIDEth
 * (the count is printed), so that the test stays well under two minutes
 * under ASan.
 */
#include "test_util.h"
#include "verify_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/internal.h"

#define ALLOC_EVERY_UP_TO 100000 /* every n: no stride needed so far */
#define ALLOC_STRIDE 7

/* ---- the wrappers -------------------------------------------------------- */

void *__real_malloc(size_t size);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t size);
char *__real_strdup(const char *s);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t size);
char *__wrap_strdup(const char *s);

static atomic_int armed;      /* 1: count, and fail the chosen one */
static atomic_int sticky;     /* 1: fail every one after it too */
static atomic_long calls;     /* allocations while armed */
static atomic_long fail_at;   /* the allocation to fail, from 1 */
static atomic_int failed_one; /* a failure was injected */

static int inject(void)
{
    if (!atomic_load(&armed))
        return 0;
    long n = atomic_fetch_add(&calls, 1) + 1;
    long at = atomic_load(&fail_at);
    if (n == at || (atomic_load(&sticky) && n > at)) {
        atomic_store(&failed_one, 1);
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t size)
{
    return inject() ? NULL : __real_malloc(size);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return inject() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t size)
{
    return inject() ? NULL : __real_realloc(p, size);
}

char *__wrap_strdup(const char *s)
{
    return inject() ? NULL : __real_strdup(s);
}

static void arm(long n, int is_sticky)
{
    atomic_store(&calls, 0);
    atomic_store(&fail_at, n);
    atomic_store(&sticky, is_sticky);
    atomic_store(&failed_one, 0);
    atomic_store(&armed, 1);
}

/* Returns whether a failure was injected. */
static int disarm(void)
{
    atomic_store(&armed, 0);
    return atomic_load(&failed_one);
}

/* ---- fixture ------------------------------------------------------------ */

typedef struct afx {
    char *base;             /* the test's temporary directory */
    char vault[PATH_MAX];   /* base/vault */
    char pre[PATH_MAX];     /* base/pre: the vault before each add */
    char scratch[PATH_MAX]; /* base/out: extraction target */
    char src0[PATH_MAX];    /* in the first snapshot */
    char src1[PATH_MAX];    /* what the failing adds add */
    char src2[PATH_MAX];    /* bigger: for several workers */
    char snap0[65];
    vault_identity_t *id;
} afx;

static int afx_setup(void **state)
{
    assert_vault_ok(vault_global_init());
    test_watchdog("test_alloc", 1500);
    afx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = vu_tempdir();
    test_fmt(f->vault, sizeof f->vault, "%s/vault", f->base);
    test_fmt(f->pre, sizeof f->pre, "%s/pre", f->base);
    test_fmt(f->scratch, sizeof f->scratch, "%s/out", f->base);
    test_fmt(f->src0, sizeof f->src0, "%s/src0", f->base);
    test_fmt(f->src1, sizeof f->src1, "%s/src1", f->base);
    vu_make_source(f->src0, 1, 3, 300 * 1024);
    vu_make_source(f->src1, 2, 3, 0);
    test_fmt(f->src2, sizeof f->src2, "%s/src2", f->base);
    vu_make_source(f->src2, 3, 10, 1500 * 1024);
    assert_vault_ok(vault_identity_generate(&f->id));
    assert_vault_ok(vault_init(f->vault, vault_identity_recipient(f->id)));
    vault_t *v;
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    const char *paths[] = {f->src0};
    vault_add_options o;
    vu_add_options(&o, paths, 1);
    vault_add_result r;
    assert_vault_ok(vault_add(v, &o, &r));
    memcpy(f->snap0, r.snapshot_id, 65);
    vault_close(v);
    vu_copy_tree(f->vault, f->pre);
    *state = f;
    return 0;
}

static int afx_teardown(void **state)
{
    afx *f = *state;
    alarm(0);
    disarm();
    vault_identity_free(f->id);
    test_rmtree(f->base);
    free(f);
    return 0;
}

/* ---- the loop ----------------------------------------------------------- */

/* One add of src with allocation n failing, by threads workers; 1 if
 * the failure was injected. */
static int add_failing(const afx *f, const char *src, int threads, long n,
                       int is_sticky, int *absorbed, long *allocations)
{
    vu_rm_rf(f->vault);
    vu_copy_tree(f->pre, f->vault);
    vault_t *v;
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    const char *paths[] = {src};
    vault_add_options o;
    vu_add_options(&o, paths, threads);
    vault_add_result r;
    arm(n, is_sticky);
    vault_error rc = vault_add(v, &o, &r);
    int hit = disarm();
    *allocations = atomic_load(&calls);
    char detail[600];
    snprintf(detail, sizeof detail, "%s", vault_last_error());
    vault_close(v);
    vu_leak_check(is_sticky ? "add, sticky allocation failure"
                            : "add, allocation failure",
                  (uint64_t)n);

    *absorbed = hit && rc == VAULT_OK;
    if (!hit && rc != VAULT_OK)
        fail_msg("n = %ld (not reached): add failed: %s (%d): %s", n,
                 vault_strerror(rc), rc, detail);
    if (rc != VAULT_OK && detail[0] == '\0')
        fail_msg("n = %ld: add failed with %s (%d) and no detail", n,
                 vault_strerror(rc), rc);
    if (rc == VAULT_E_INTERNAL)
        fail_msg("n = %ld: an allocation failure became an internal error: "
                 "%s",
                 n, detail);

    size_t snaps = vu_check(f->vault, f->id);
    vu_extract_same(f->vault, f->id, f->snap0, f->src0, f->scratch);
    if (rc == VAULT_OK) {
        if (snaps != 2)
            fail_msg("n = %ld: add returned VAULT_OK, %zu snapshots", n,
                     snaps);
        vu_extract_same(f->vault, f->id, r.snapshot_id, src, f->scratch);
    } else if (snaps != 1) {
        fail_msg("n = %ld: add failed (%s) but %zu snapshots are there", n,
                 detail, snaps);
    }
    return hit;
}

static void fail_every_allocation(const afx *f, const char *src, int threads,
                                  int is_sticky, long stride)
{
    long tried = 0, absorbed_n = 0, total = 0, codes_nomem = 0;
    char absorbed_at[200] = "";
    for (long n = 1;; n = n < ALLOC_EVERY_UP_TO ? n + stride
                                                : n + ALLOC_STRIDE * stride) {
        int absorbed;
        long allocations;
        int hit = add_failing(f, src, threads, n, is_sticky, &absorbed,
                              &allocations);
        if (!hit) {
            total = allocations;
            break;
        }
        tried++;
        if (absorbed) {
            absorbed_n++;
            size_t used = strlen(absorbed_at);
            if (used < sizeof absorbed_at - 24)
                snprintf(absorbed_at + used, sizeof absorbed_at - used,
                         " %ld", n);
        } else {
            codes_nomem++;
        }
    }
    print_message("add, %d worker%s, %s: %ld wrapped allocations; %ld "
                  "failure points tried (%s), %ld failed cleanly, %ld "
                  "absorbed (at%s)\n",
                  threads, threads == 1 ? "" : "s",
                  is_sticky ? "sticky" : "one failure", total, tried,
                  stride == 1 ? "every one" : "a stride", codes_nomem,
                  absorbed_n, absorbed_at[0] ? absorbed_at : " none");
}

static void test_add_alloc_failures(void **state)
{
    const afx *f = *state;
    fail_every_allocation(f, f->src1, 1, 0, 1);
}

static void test_add_alloc_failures_sticky(void **state)
{
    const afx *f = *state;
    fail_every_allocation(f, f->src1, 1, 1, 1);
}

/* Several workers and packs, more files and chunks: a worker's failure
 * must reach the walker and the others. */
static void test_add_alloc_failures_workers(void **state)
{
    const afx *f = *state;
    fail_every_allocation(f, f->src2, 3, 0, 1);
}

/* vault_open and vault_extract with allocation n failing: a clean error,
 * or VAULT_E_PARTIAL with the item reported; and in the target no
 * temporary and nothing half-written under a final name. */
typedef struct reports {
    size_t n;
    char first[600];
} reports;

static void on_extract_error(void *ctx, const char *path, vault_error code,
                             const char *detail)
{
    (void)code;
    reports *r = ctx;
    if (r->n++ == 0)
        snprintf(r->first, sizeof r->first, "%s: %s", path ? path : "?",
                 detail ? detail : "?");
}

static void test_extract_alloc_failures(void **state)
{
    const afx *f = *state;
    char target[PATH_MAX];
    test_fmt(target, sizeof target, "%s/target", f->base);
    long n, total = 0, partial = 0, fatal = 0, absorbed = 0;
    for (n = 1;; n++) {
        vu_rm_rf(target);
        if (mkdir(target, 0700) != 0)
            fail_msg("mkdir %s: %s", target, strerror(errno));
        reports rep;
        memset(&rep, 0, sizeof rep);
        vault_extract_options o;
        memset(&o, 0, sizeof o);
        o.target_dir = target;
        o.on_error = on_extract_error;
        o.on_error_ctx = &rep;
        vault_extract_result res;
        vault_t *v = NULL;
        arm(n, 0);
        vault_error rc = vault_open(f->vault, f->id, &v);
        if (rc == VAULT_OK)
            rc = vault_extract(v, f->snap0, &o, &res);
        int hit = disarm();
        char detail[600];
        snprintf(detail, sizeof detail, "%s", vault_last_error());
        vault_close(v);
        vu_leak_check("open and extract, allocation failure", (uint64_t)n);
        char what[96];
        test_fmt(what, sizeof what, "extract, allocation %ld failing", n);
        vu_target_clean(target, what);
        if (!hit) {
            if (rc != VAULT_OK || rep.n)
                fail_msg("%s (not reached): %s: %s", what,
                         vault_strerror(rc), rep.n ? rep.first : detail);
            char got[PATH_MAX];
            test_fmt(got, sizeof got, "%s%s", target, f->src0);
            vu_same_tree(f->src0, got);
            total = atomic_load(&calls);
            break;
        }
        if (rc == VAULT_OK) {
            /* absorbed: then everything must be there */
            char got[PATH_MAX];
            test_fmt(got, sizeof got, "%s%s", target, f->src0);
            vu_same_tree(f->src0, got);
            absorbed++;
        } else if (rc == VAULT_E_PARTIAL) {
            if (rep.n == 0)
                fail_msg("%s: VAULT_E_PARTIAL with no item reported", what);
            partial++;
        } else {
            if (!detail[0] || rc == VAULT_E_INTERNAL)
                fail_msg("%s: %s (%d): \"%s\"", what, vault_strerror(rc), rc,
                         detail);
            fatal++;
        }
    }
    print_message("open + extract: %ld wrapped allocations, every one "
                  "failed in turn: %ld partial, %ld fatal, %ld absorbed\n",
                  total, partial, fatal, absorbed);
}

/* extract --tar of a snapshot with a sparse file (a chunk of zeros in
 * the middle: the sparse map, the zero chunk's ID) with allocation n
 * failing: a clean error or a reported item, never a crash or a leak; when
 * it succeeds, GNU tar unpacks the same tree. */
static void test_extract_tar_alloc_failures(void **state)
{
    const afx *f = *state;
    char src[PATH_MAX], vault[PATH_MAX], tar_path[PATH_MAX], file[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src-sparse", f->base);
    test_fmt(vault, sizeof vault, "%s/vault-sparse", f->base);
    test_fmt(tar_path, sizeof tar_path, "%s/out.tar", f->base);
    vu_make_source(src, 4, 2, 0);
    test_fmt(file, sizeof file, "%s/disk.img", src);
    /* data, then 8 MiB of zeros (a whole zero chunk whichever way the
     * chunker cuts), then data */
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "head", 4, 0), 4);
    assert_int_equal(pwrite(fd, "tail", 4, 12 * 1024 * 1024), 4);
    close(fd);
    assert_vault_ok(vault_init(vault, vault_identity_recipient(f->id)));
    vault_t *v;
    assert_vault_ok(vault_open(vault, f->id, &v));
    const char *paths[] = {src};
    vault_add_options ao;
    vu_add_options(&ao, paths, 1);
    vault_add_result ar;
    assert_vault_ok(vault_add(v, &ao, &ar));
    vault_close(v);

    long n, total = 0, partial = 0, fatal = 0, absorbed = 0;
    for (n = 1;; n++) {
        fd = open(tar_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        reports rep;
        memset(&rep, 0, sizeof rep);
        vault_extract_options o;
        memset(&o, 0, sizeof o);
        o.tar = 1;
        o.tar_fd = fd;
        o.on_error = on_extract_error;
        o.on_error_ctx = &rep;
        vault_extract_result res;
        v = NULL;
        arm(n, 0);
        vault_error rc = vault_open(vault, f->id, &v);
        if (rc == VAULT_OK)
            rc = vault_extract(v, ar.snapshot_id, &o, &res);
        int hit = disarm();
        char detail[600];
        snprintf(detail, sizeof detail, "%s", vault_last_error());
        vault_close(v);
        close(fd);
        vu_leak_check("open and extract --tar, allocation failure",
                      (uint64_t)n);
        if (!hit && rc != VAULT_OK)
            fail_msg("extract --tar (not reached): %s: %s",
                     vault_strerror(rc), rep.n ? rep.first : detail);
        if (rc == VAULT_OK) {
            vu_rm_rf(f->scratch);
            assert_int_equal(mkdir(f->scratch, 0700), 0);
            char cmd[3 * PATH_MAX];
            test_fmt(cmd, sizeof cmd, "tar -xf '%s' -C '%s'", tar_path,
                f->scratch);
            assert_int_equal(system(cmd), 0);
            char got[PATH_MAX];
            test_fmt(got, sizeof got, "%s%s", f->scratch, src);
            vu_same_tree(src, got);
            if (!hit) {
                total = atomic_load(&calls);
                break;
            }
            absorbed++;
        } else if (rc == VAULT_E_PARTIAL) {
            if (rep.n == 0)
                fail_msg("extract --tar, allocation %ld failing: "
                         "VAULT_E_PARTIAL with no item reported", n);
            partial++;
        } else {
            if (!detail[0] || rc == VAULT_E_INTERNAL)
                fail_msg("extract --tar, allocation %ld failing: %s (%d): "
                         "\"%s\"", n, vault_strerror(rc), rc, detail);
            fatal++;
        }
    }
    /* the tar is small: the zero chunk went in as a hole */
    struct stat st;
    assert_int_equal(stat(tar_path, &st), 0);
    assert_true(st.st_size < 10 * 1024 * 1024);
    print_message("open + extract --tar: %ld wrapped allocations, every one "
                  "failed in turn: %ld partial, %ld fatal, %ld absorbed\n",
                  total, partial, fatal, absorbed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_alloc_failures, afx_setup,
                                        afx_teardown),
        cmocka_unit_test_setup_teardown(test_add_alloc_failures_sticky,
                                        afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_add_alloc_failures_workers,
                                        afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_extract_tar_alloc_failures,
                                        afx_setup, afx_teardown),
        cmocka_unit_test_setup_teardown(test_extract_alloc_failures,
                                        afx_setup, afx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
