/*
 * test_faults.c - storage faults: every backend operation of a small add
 * and of a small extract fails in turn, and each must end in a clear
 * error, no crash, no leak, and an intact vault.
 *
 * Faults (each over every operation number n of vault_open + the call):
 *
 *   EIO          vlt_backend_faulty_open(VAULT_E_IO): operation n fails;
 *   EIO sticky   operation n and every later one fail (a dead disk);
 *   ENOSPC       a wrapper of this file: save n fails as backend_local's
 *                does when the disk is full ("No space left on device",
 *                nothing stored); sticky too (the disk stays full) -
 *                loads, stats, lists and removes still work;
 *   EIO, packs whole  as EIO, over storage that takes a pack only whole
 *                (as remote storage does), where add's workers share
 *                their packs; the ENOSPC wrapper does not stage either.
 *
 * After a failed add: the call returned an error whose detail names the
 * injected fault; the vault, opened through a clean backend, passes
 * vu_check, holds no new snapshot, its earlier snapshot extracts
 * byte-identical, and a new add succeeds.  An add that returned VAULT_OK
 * although an operation failed (a failure it may absorb: removing its
 * add marker) must have committed a snapshot that extracts identical.
 *
 * After a failed extract: the call returned an error (VAULT_E_PARTIAL with
 * every failed item reported, or a fatal one) naming the injected fault;
 * in the target, no temporary file is left, and every file that is there
 * is byte-identical to its source (nothing half-written under a final
 * name).
 *
 * Under ASan, LeakSanitizer runs after every failed call, so a leak names
 * the operation that caused it.
 */
#include "test_util.h"
#include "verify_util.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend_testing.h"
#include "common/internal.h"
#include "repo/repo.h"

#define MAX_OPS 2000 /* the small add and extract make far fewer */

typedef enum fault_kind { FAULT_EIO, FAULT_ENOSPC } fault_kind;

typedef struct fault {
    const char *label; /* for messages */
    fault_kind kind;
    int sticky;
    const char *says;  /* what the detail must mention */
    int whole;         /* EIO: the storage takes packs whole, as remote
                        * storage does (no staging): add's workers share
                        * their packs (ENOSPC's wrapper never stages) */
} fault;

static const fault faults[] = {
    {"EIO", FAULT_EIO, 0, "injected fault at operation", 0},
    {"EIO sticky", FAULT_EIO, 1, "injected fault at operation", 0},
    {"ENOSPC", FAULT_ENOSPC, 0, "No space left on device", 0},
    {"ENOSPC sticky", FAULT_ENOSPC, 1, "No space left on device", 0},
    {"EIO, packs whole", FAULT_EIO, 0, "injected fault at operation", 1},
};

typedef struct ffx {
    char *base;             /* the test's temporary directory */
    char vault[PATH_MAX];   /* base/vault */
    char pre[PATH_MAX];     /* base/pre: the vault before each add */
    char scratch[PATH_MAX]; /* base/out: extraction target for checks */
    char target[PATH_MAX];  /* base/target: the faulty extract's target */
    char src0[PATH_MAX];    /* in the vault's first snapshot */
    char src1[PATH_MAX];    /* what the faulty adds add */
    char snap0[65];         /* the first snapshot */
    vault_identity_t *id;   /* the owner */
} ffx;

/* ---- the disk-full backend ---------------------------------------------- */

/* Saves numbered fail_at (and later ones, if sticky) fail as a full disk
 * makes backend_local's fail; everything else passes through
 * (test_backend_wrap). */
typedef struct full_disk {
    uint64_t fail_at;            /* 0: never */
    int sticky;
    atomic_uint_least64_t saves; /* saves started so far */
} full_disk;

static vault_error full_save(void *ctx, backend *inner, backend_kind kind,
                             const char *name, const uint8_t *data,
                             size_t len)
{
    full_disk *fd = ctx;
    uint64_t n = atomic_fetch_add(&fd->saves, 1) + 1;
    if (fd->fail_at && (n == fd->fail_at || (fd->sticky && n > fd->fail_at))) {
        char label[BACKEND_LABEL_MAX];
        vlt_backend_label(kind, name, label);
        return vlt_fail_errno(ENOSPC, "%s: cannot save: %s.tmp-0: cannot "
                                      "write",
                              label, label);
    }
    return backend_save(inner, kind, name, data, len);
}

/* ---- opening through a fault -------------------------------------------- */

/* Saves as they come: a wrapper only to hide the local disk's staging. */
static vault_error pass_save(void *ctx, backend *inner, backend_kind kind,
                             const char *name, const uint8_t *data,
                             size_t len)
{
    (void)ctx;
    return backend_save(inner, kind, name, data, len);
}

/* Opens the vault through the fault at n (0: none). */
static vault_error open_faulty(const ffx *f, const fault *ft, uint64_t n,
                               vault_t **v)
{
    backend *local, *be;
    assert_vault_ok(vlt_backend_local_open(f->vault, 0, &local));
    if (ft->whole) {
        local = test_backend_wrap(local, 1, pass_save, 0);
        assert_non_null(local);
    }
    if (ft->kind == FAULT_EIO) {
        assert_vault_ok(
            vlt_backend_faulty_open(local, n, VAULT_E_IO, ft->sticky, &be));
    } else {
        be = test_backend_wrap(local, 1, full_save, sizeof(full_disk));
        assert_non_null(be);
        full_disk *fd = test_backend_ctx(be);
        fd->fail_at = n;
        fd->sticky = ft->sticky;
        atomic_init(&fd->saves, 0);
    }
    return vlt_repo_open_backend(be, f->vault, f->id, v);
}

/* What the fault counts: operations, or saves. */
static uint64_t fault_count(const fault *ft, vault_t *v)
{
    if (ft->kind == FAULT_EIO)
        return vlt_backend_faulty_count(v->be);
    return atomic_load(&((full_disk *)test_backend_ctx(v->be))->saves);
}

/* A failed call must say VAULT_E_IO, and its detail name the fault - the
 * first one injected, where we know which. */
static void expect_detail(const fault *ft, uint64_t n, const char *call,
                          vault_error rc, const char *detail)
{
    if (rc == VAULT_OK)
        return;
    /* every fault injected here is an I/O error */
    if (rc != VAULT_E_IO)
        fail_msg("%s, fault at %" PRIu64 ": %s gave %s (%d), not %s: %s",
                 ft->label, n, call, vault_strerror(rc), rc,
                 vault_strerror(VAULT_E_IO), detail);
    if (!strstr(detail, ft->says))
        fail_msg("%s, fault at %" PRIu64 ": %s gave %s (%d) with detail "
                 "\"%s\", which does not mention \"%s\"",
                 ft->label, n, call, vault_strerror(rc), rc, detail,
                 ft->says);
    if (ft->kind == FAULT_EIO) {
        char want[64], next_save[64];
        test_fmt(want, sizeof want, "injected fault at operation %" PRIu64 " (",
            n);
        /* A local vault saves two packs at once (its connections): when
         * the dead disk (sticky) takes both, either failure may be the
         * one the add reports.  Only a save right after the first fault
         * can be that other one. */
        test_fmt(next_save, sizeof next_save,
                 "injected fault at operation %" PRIu64 " (save)", n + 1);
        int other_upload = ft->sticky && strcmp(call, "add") == 0 &&
                           strstr(detail, next_save) != NULL;
        if (!strstr(detail, want) && !other_upload)
            fail_msg("%s, fault at %" PRIu64 ": %s's detail \"%s\" is not "
                     "about the first fault (\"%s\")",
                     ft->label, n, call, detail, want);
    }
}

/* Which error codes the failed calls returned, for the summary lines. */
typedef struct codes {
    unsigned n[VAULT_E_INTERNAL + 1];
} codes;

static void codes_add(codes *c, vault_error rc)
{
    if (rc >= 0 && rc <= VAULT_E_INTERNAL)
        c->n[rc]++;
}

static void codes_print(const codes *c)
{
    for (int i = 1; i <= VAULT_E_INTERNAL; i++)
        if (c->n[i])
            print_message("    %u x %s\n", c->n[i],
                          vault_strerror((vault_error)i));
}

/* ---- fixture ------------------------------------------------------------ */

static int ffx_setup(void **state)
{
    assert_vault_ok(vault_global_init());
    test_watchdog("test_faults", 1500);
    ffx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = vu_tempdir();
    test_fmt(f->vault, sizeof f->vault, "%s/vault", f->base);
    test_fmt(f->pre, sizeof f->pre, "%s/pre", f->base);
    test_fmt(f->scratch, sizeof f->scratch, "%s/out", f->base);
    test_fmt(f->target, sizeof f->target, "%s/target", f->base);
    test_fmt(f->src0, sizeof f->src0, "%s/src0", f->base);
    test_fmt(f->src1, sizeof f->src1, "%s/src1", f->base);
    vu_make_source(f->src0, 1, 4, 600 * 1024);
    vu_make_source(f->src1, 2, 3, 0);
    assert_vault_ok(vault_identity_generate(&f->id));
    assert_vault_ok(vault_init(f->vault, vault_identity_recipient(f->id)));
    vault_t *v;
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    const char *paths[] = {f->src0};
    vault_add_options o;
    vu_add_options(&o, paths, 2);
    vault_add_result r;
    assert_vault_ok(vault_add(v, &o, &r));
    memcpy(f->snap0, r.snapshot_id, 65);
    vault_close(v);
    vu_copy_tree(f->vault, f->pre);
    *state = f;
    return 0;
}

static int ffx_teardown(void **state)
{
    ffx *f = *state;
    alarm(0);
    vault_identity_free(f->id);
    test_rmtree(f->base);
    free(f);
    return 0;
}

/* ---- add ---------------------------------------------------------------- */

/* One add through the fault at n; returns what happened (0 failed,
 * 1 absorbed: VAULT_OK although a fault was injected, 2 no fault hit). */
static int add_once(const ffx *f, const fault *ft, uint64_t n, int threads,
                    uint64_t *count, codes *seen)
{
    vu_rm_rf(f->vault);
    vu_copy_tree(f->pre, f->vault);
    vault_t *v;
    char detail[600] = "";
    vault_add_result r;
    memset(&r, 0, sizeof r);
    const char *call = "open";
    vault_error rc = open_faulty(f, ft, n, &v);
    if (rc == VAULT_OK) {
        const char *paths[] = {f->src1};
        vault_add_options o;
        vu_add_options(&o, paths, threads);
        call = "add";
        rc = vault_add(v, &o, &r);
        if (rc != VAULT_OK)
            snprintf(detail, sizeof detail, "%s", vault_last_error());
        *count = fault_count(ft, v);
        vault_close(v);
    } else {
        snprintf(detail, sizeof detail, "%s", vault_last_error());
        *count = n;
    }
    vu_leak_check(ft->label, n);
    expect_detail(ft, n, call, rc, detail);
    int hit = n != 0 && n <= *count;
    if (rc != VAULT_OK)
        codes_add(seen, rc);

    /* The vault, through a clean backend. */
    size_t snaps = vu_check(f->vault, f->id);
    vu_extract_same(f->vault, f->id, f->snap0, f->src0, f->scratch);
    if (rc != VAULT_OK) {
        if (snaps != 1)
            fail_msg("%s, fault at %" PRIu64 ": the add failed (%s) but "
                     "%zu snapshots are there",
                     ft->label, n, detail, snaps);
    } else {
        if (snaps != 2)
            fail_msg("%s, fault at %" PRIu64 ": the add succeeded but %zu "
                     "snapshots are there",
                     ft->label, n, snaps);
        vu_extract_same(f->vault, f->id, r.snapshot_id, f->src1, f->scratch);
    }
    if (hit && rc != VAULT_OK) {
        /* and it takes a new add */
        assert_vault_ok(vault_open(f->vault, f->id, &v));
        const char *paths[] = {f->src1};
        vault_add_options o;
        vu_add_options(&o, paths, 1);
        vault_error rc2 = vault_add(v, &o, &r);
        vault_close(v);
        if (rc2 != VAULT_OK)
            fail_msg("%s, fault at %" PRIu64 ": the next add: %s (%d): %s",
                     ft->label, n, vault_strerror(rc2), rc2,
                     vault_last_error());
        vu_extract_same(f->vault, f->id, r.snapshot_id, f->src1, f->scratch);
    }
    if (!hit) {
        if (rc != VAULT_OK)
            fail_msg("%s: no fault hit, yet: %s", ft->label, detail);
        return 2;
    }
    return rc == VAULT_OK ? 1 : 0;
}

static void add_every_fault(ffx *f, const fault *ft, int threads)
{
    uint64_t total;
    codes seen;
    memset(&seen, 0, sizeof seen);
    assert_int_equal(add_once(f, ft, 0, threads, &total, &seen), 2);
    unsigned failed = 0, absorbed = 0, missed = 0;
    char absorbed_at[256] = "";
    for (uint64_t n = 1; n <= total; n++) {
        uint64_t count;
        int what = add_once(f, ft, n, threads, &count, &seen);
        if (what == 0) {
            failed++;
        } else if (what == 2) {
            missed++; /* several workers: fewer operations this time */
        } else {
            size_t used = strlen(absorbed_at);
            snprintf(absorbed_at + used, sizeof absorbed_at - used,
                     " %" PRIu64, n);
            absorbed++;
        }
    }
    print_message("add, %s, %d worker%s: %" PRIu64 " %s; %u failed "
                  "cleanly, %u absorbed (at%s), %u not reached\n",
                  ft->label, threads, threads == 1 ? "" : "s", total,
                  ft->kind == FAULT_EIO ? "operations" : "saves", failed,
                  absorbed, absorbed_at[0] ? absorbed_at : " none", missed);
    codes_print(&seen);
}

static void test_add_faults(void **state)
{
    ffx *f = *state;
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(faults); i++)
        add_every_fault(f, &faults[i], 1);
    /* Several workers: a worker's failure must stop the walker, too. */
    add_every_fault(f, &faults[1], 3);
    add_every_fault(f, &faults[2], 3);
    add_every_fault(f, &faults[4], 3);
}

/* ---- extract ------------------------------------------------------------ */

typedef struct reports {
    size_t n;
    size_t mentioning; /* reports whose detail names the fault */
    const char *says;
    char first[600];   /* "path: detail" of the first */
} reports;

static void on_extract_error(void *ctx, const char *path, vault_error code,
                             const char *detail)
{
    (void)code;
    reports *r = ctx;
    if (r->n++ == 0)
        snprintf(r->first, sizeof r->first, "%s: %s", path ? path : "?",
                 detail ? detail : "?");
    if (detail && strstr(detail, r->says))
        r->mentioning++;
}

static void extract_every_fault(ffx *f, const fault *ft)
{
    uint64_t total = 0;
    unsigned partial = 0, fatal = 0, absorbed = 0;
    codes seen;
    memset(&seen, 0, sizeof seen);
    for (uint64_t n = 0; n == 0 || n <= total; n++) {
        reports rep;
        char detail[600] = "";
        const char *call = "open";
        vault_error rc = VAULT_OK;
        char what[128];
        test_fmt(what, sizeof what, "extract, %s, fault at %" PRIu64, ft->label,
            n);
        /* Which operation is the nth varies with the threads' timing: a
         * fault absorbed by a load ahead is tried twice more, and counts
         * as absorbed only if it is every time (a failure the extract
         * swallowed, say by retrying it, would be). */
        for (int attempt = 0; attempt < 3; attempt++) {
            vu_rm_rf(f->target);
            if (mkdir(f->target, 0700) != 0)
                fail_msg("mkdir %s: %s", f->target, strerror(errno));
            vault_t *v;
            memset(&rep, 0, sizeof rep);
            rep.says = ft->says;
            detail[0] = '\0';
            call = "open";
            rc = open_faulty(f, ft, n, &v);
            if (rc == VAULT_OK) {
                vault_extract_options o;
                memset(&o, 0, sizeof o);
                o.target_dir = f->target;
                o.on_error = on_extract_error;
                o.on_error_ctx = &rep;
                vault_extract_result res;
                call = "extract";
                rc = vault_extract(v, f->snap0, &o, &res);
                snprintf(detail, sizeof detail, "%s", vault_last_error());
                if (n == 0)
                    total = fault_count(ft, v);
                vault_close(v);
            } else {
                snprintf(detail, sizeof detail, "%s", vault_last_error());
            }
            vu_leak_check(ft->label, n);
            vu_target_clean(f->target, what);
            if (n == 0 || rc != VAULT_OK)
                break;
            /* absorbed this time: what it restored must be whole */
            if (rep.n)
                fail_msg("%s: VAULT_OK although %zu items were reported: "
                         "%s",
                         what, rep.n, rep.first);
            char got[PATH_MAX];
            test_fmt(got, sizeof got, "%s%s", f->target, f->src0);
            vu_same_tree(f->src0, got);
        }
        if (n == 0) {
            if (rc != VAULT_OK || rep.n)
                fail_msg("%s: %s: %s", what, vault_strerror(rc),
                         rep.n ? rep.first : detail);
            char got[PATH_MAX];
            test_fmt(got, sizeof got, "%s%s", f->target, f->src0);
            vu_same_tree(f->src0, got);
            continue;
        }
        codes_add(&seen, rc);
        if (rc == VAULT_OK) {
            /* The failed operation was a load ahead that nothing turned
             * out to need (extract loads the small files of the next
             * folders on other threads, and which operation comes when
             * varies): allowed only if everything was restored, exactly,
             * and nothing was reported (checked above, each time). */
            absorbed++;
            continue;
        }
        if (rc == VAULT_E_PARTIAL) {
            partial++;
            if (rep.n == 0 || rep.mentioning == 0)
                fail_msg("%s: VAULT_E_PARTIAL, but no report mentions "
                         "\"%s\" (%zu reports; first: %s)",
                         what, ft->says, rep.n, rep.first);
        } else {
            fatal++;
            expect_detail(ft, n, call, rc, detail);
        }
    }
    print_message("extract, %s: %" PRIu64 " operations; %u partial, %u "
                  "fatal, %u absorbed (a load ahead nothing needed; the "
                  "tree restored whole), none left a temporary or a wrong "
                  "file\n",
                  ft->label, total, partial, fatal, absorbed);
    /* Absorbing is the exception: most failures must reach the caller. */
    if (absorbed * 4 > total)
        fail_msg("extract, %s: %u of %" PRIu64 " failures absorbed", ft->label,
                 absorbed, total);
    codes_print(&seen);
}

static void test_extract_faults(void **state)
{
    ffx *f = *state;
    extract_every_fault(f, &faults[0]);
    extract_every_fault(f, &faults[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_add_faults, ffx_setup,
                                        ffx_teardown),
        cmocka_unit_test_setup_teardown(test_extract_faults, ffx_setup,
                                        ffx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
