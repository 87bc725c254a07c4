/*
 * test_crash.c - crash consistency (format spec "Write ordering and crash
 * consistency"): `add` killed at every backend operation.
 *
 * A vault grows by one snapshot per stage.  For each stage, and for every
 * n from 1 until an add runs to its end, the vault is put back as it was
 * before the stage and a fork()ed child opens it and adds the stage's
 * source through a backend that SIGKILLs the child at the add's nth
 * backend operation, in one of two ways:
 *
 *   after  vlt_backend_faulty_open_kill(after 1): operation n completed (a
 *          save is durable under its final name) and the process died
 *          before anyone learnt;
 *   torn   the add's nth save never completes: a torn temporary file -
 *          half the object, or all of it but not yet linked into place
 *          (odd and even n) - is left in the object's folder, as a crash
 *          inside the local backend's save would leave it.  (A kill just
 *          before any other operation is a kill just after the one
 *          before, which "after" covers.)
 *
 * After each kill the parent requires: the vault passes vu_check
 * (vault_check with read_data, plus an independent walk of every object,
 * segment, pack, blob and snapshot); every earlier snapshot extracts
 * byte-identical to its source; the stage's snapshot is there only if the
 * kill came after the commit, and then extracts identical too; and a new
 * add - with the dead child's add marker still in locks/ - succeeds and
 * extracts identical.
 *
 * Stages add with one worker (the operations then come in one order) and,
 * in the last stage, with four workers and several packs.  The number of
 * kill points is printed; the test fails below MIN_KILL_POINTS.
 *
 * test_kill_prune_everywhere does the same to `prune` (format spec
 * "Pruning without locks"), described above it.
 */
#include "test_util.h"
#include "verify_util.h"

#include <dirent.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend_testing.h"
#include "common/internal.h"
#include "format/locks.h"
#include "repo/repo.h"
#include "format/tree.h"

#define MAX_SNAPS 16
#define MAX_OPS 1000        /* a stage's add makes far fewer operations */
#define MIN_KILL_POINTS 50  /* the issue asks for at least this many */
#define CHILD_SECONDS 120   /* a child that runs longer hangs */

typedef enum kill_mode { KILL_AFTER, KILL_TORN } kill_mode;

typedef struct snap_rec {
    char id[65];          /* snapshot object name */
    char src[PATH_MAX];   /* the directory it was made from */
} snap_rec;

typedef struct cfx {
    char *base;                /* the test's temporary directory */
    char vault[PATH_MAX];      /* base/vault */
    char pre[PATH_MAX];        /* base/pre: the vault before a stage */
    char scratch[PATH_MAX];    /* base/out: extraction target */
    vault_identity_t *id;      /* the owner */
    snap_rec snaps[MAX_SNAPS]; /* committed snapshots, oldest first */
    size_t n_snaps;
    uint64_t open_ops;         /* backend operations vault_open makes */
    unsigned kills;            /* kill points survived, over the test */
} cfx;

/* ---- the torn-save backend ---------------------------------------------- */

/* Kills the process in save number kill_at (counting saves only: a kill
 * before any other operation is a kill after the one before it, which the
 * "after" mode covers), leaving a torn temporary file where
 * backend_local's save makes its own. */
typedef struct tear {
    const char *root;            /* the vault directory */
    uint64_t kill_at;            /* the save to die in */
    atomic_uint_least64_t saves; /* saves started so far */
} tear;

static vault_error tear_save(void *ctx, backend *inner, backend_kind kind,
                             const char *name, const uint8_t *data,
                             size_t len)
{
    tear *t = ctx;
    uint64_t n = atomic_fetch_add(&t->saves, 1) + 1;
    if (n != t->kill_at)
        return backend_save(inner, kind, name, data, len);
    char label[BACKEND_LABEL_MAX], tmp[PATH_MAX];
    vlt_backend_label(kind, name, label);
    char *slash = strrchr(label, '/');
    if (slash)
        *slash = '\0';
    snprintf(tmp, sizeof tmp, "%s/%s%s.tmp-%016" PRIx64, t->root,
             slash ? label : "", slash ? "/" : "", n * 0x9e3779b97f4a7c15u);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (fd >= 0) {
        size_t part = n % 2 ? len / 2 : len;
        ssize_t w = write(fd, data, part);
        (void)w;
        if (part == len)
            (void)fsync(fd);
        close(fd);
    }
    raise(SIGKILL);
    return VAULT_E_INTERNAL; /* not reached */
}

static vault_error tear_open(backend *inner, const char *root,
                             uint64_t kill_at, backend **out)
{
    *out = test_backend_wrap(inner, 1, tear_save, sizeof(tear));
    if (!*out) {
        backend_close(inner);
        return VAULT_E_NOMEM;
    }
    tear *t = test_backend_ctx(*out);
    t->root = root;
    t->kill_at = kill_at;
    atomic_init(&t->saves, 0);
    return VAULT_OK;
}

/* ---- fixture ------------------------------------------------------------ */

static int cfx_setup(void **state)
{
    assert_vault_ok(vault_global_init());
    test_watchdog("test_crash", 1500);
    cfx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base = vu_tempdir(); /* canonical: add stores absolute paths */
    test_fmt(f->vault, sizeof f->vault, "%s/vault", f->base);
    test_fmt(f->pre, sizeof f->pre, "%s/pre", f->base);
    test_fmt(f->scratch, sizeof f->scratch, "%s/out", f->base);
    assert_vault_ok(vault_identity_generate(&f->id));
    assert_vault_ok(vault_init(f->vault, vault_identity_recipient(f->id)));
    /* How many operations open makes: kill points count from the add. */
    backend *local, *be;
    assert_vault_ok(vlt_backend_local_open(f->vault, 0, &local));
    assert_vault_ok(vlt_backend_faulty_open(local, 0, VAULT_E_IO, 0, &be));
    vault_t *v;
    assert_vault_ok(vlt_repo_open_backend(be, f->vault, f->id, &v));
    f->open_ops = vlt_backend_faulty_count(v->be);
    vault_close(v);
    *state = f;
    return 0;
}

static int cfx_teardown(void **state)
{
    cfx *f = *state;
    alarm(0);
    vault_identity_free(f->id);
    test_rmtree(f->base);
    free(f);
    return 0;
}

/* ---- the child ---------------------------------------------------------- */

/* What a child does through the killing backend. */
typedef enum action { ACT_ADD, ACT_PRUNE } action;

/* In the child: opens the vault through the killing backend, then adds
 * src or prunes (every unused byte: max_unused_percent 0, no grace);
 * reports "rc snapshot-or-detail" on fd.  Never returns. */
static void child_run(const cfx *f, action act, const char *src, int threads,
                      kill_mode mode, uint64_t kill_at, int fd)
{
    alarm(CHILD_SECONDS); /* SIGALRM ends a hung child */
    backend *local = NULL, *be = NULL;
    vault_t *v = NULL;
    vault_error rc = vlt_backend_local_open(f->vault, 0, &local);
    if (rc == VAULT_OK)
        rc = mode == KILL_AFTER
                 ? vlt_backend_faulty_open_kill(local, kill_at, 1, &be)
                 : tear_open(local, f->vault, kill_at, &be);
    if (rc == VAULT_OK)
        rc = vlt_repo_open_backend(be, f->vault, f->id, &v);
    vault_add_result r;
    memset(&r, 0, sizeof r);
    if (rc == VAULT_OK && act == ACT_ADD) {
        const char *paths[] = {src};
        vault_add_options o;
        vu_add_options(&o, paths, threads);
        rc = vault_add(v, &o, &r);
    } else if (rc == VAULT_OK) {
        vault_prune_options o;
        memset(&o, 0, sizeof o);
        o.max_unused_percent = VAULT_PRUNE_MAX_UNUSED_NONE;
        vault_prune_result pr;
        rc = vault_prune(v, &o, &pr);
        vault_prune_result_free(&pr);
        snprintf(r.snapshot_id, sizeof r.snapshot_id, "pruned");
    }
    char msg[700];
    int len = snprintf(msg, sizeof msg, "%d %s", (int)rc,
                       rc == VAULT_OK ? r.snapshot_id : vault_last_error());
    ssize_t w = write(fd, msg, len > 0 ? (size_t)len : 0);
    (void)w;
    vault_close(v);
    _exit(0);
}

typedef struct outcome {
    int killed;     /* died by SIGKILL */
    vault_error rc; /* else: what its add returned */
    char text[700]; /* the snapshot ID, or the error detail */
} outcome;

static void run_child(const cfx *f, action act, const char *src,
                      int threads, kill_mode mode, uint64_t kill_at,
                      outcome *out)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_run(f, act, src, threads, mode, kill_at, p[1]);
    }
    close(p[1]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    char buf[700];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    buf[n > 0 ? n : 0] = '\0';
    memset(out, 0, sizeof *out);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
        out->killed = 1;
        return;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("kill at %" PRIu64 ": the child crashed or hung (status "
                 "%#x)",
                 kill_at, (unsigned)status);
    char *space = strchr(buf, ' ');
    if (!space)
        fail_msg("kill at %" PRIu64 ": the child said \"%s\"", kill_at, buf);
    out->rc = (vault_error)strtol(buf, NULL, 10);
    snprintf(out->text, sizeof out->text, "%s", space + 1);
}

/* ---- what must hold after a kill --------------------------------------- */

static int is_known(const cfx *f, const char *id)
{
    for (size_t i = 0; i < f->n_snaps; i++)
        if (strcmp(f->snaps[i].id, id) == 0)
            return 1;
    return 0;
}

/* The vault is sound, every committed snapshot extracts identical, and at
 * most one snapshot more - the interrupted add's, of src - is there (none
 * if src is NULL: a prune was interrupted).  Returns the new one's name in
 * extra ("" if none). */
static void verify_vault(const cfx *f, const char *src, char extra[65])
{
    size_t count = vu_check(f->vault, f->id);
    size_t n;
    char(*names)[65] = vu_snapshot_names(f->vault, f->id, &n);
    assert_int_equal(n, count);
    extra[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (is_known(f, names[i]))
            continue;
        if (extra[0])
            fail_msg("two new snapshots after one add: %.16s, %.16s", extra,
                     names[i]);
        memcpy(extra, names[i], 65);
    }
    free(names);
    if (n != f->n_snaps + (extra[0] != '\0'))
        fail_msg("%zu snapshots, expected %zu (+1): one disappeared", n,
                 f->n_snaps);
    for (size_t i = 0; i < f->n_snaps; i++)
        vu_extract_same(f->vault, f->id, f->snaps[i].id, f->snaps[i].src,
                        f->scratch);
    if (extra[0] && !src)
        fail_msg("a snapshot %.16s appeared during a prune", extra);
    if (extra[0])
        vu_extract_same(f->vault, f->id, extra, src, f->scratch);
}

/* Objects in the vault's folder kind whose names contain text. */
static size_t count_in(const cfx *f, const char *kind, const char *text)
{
    char dir[PATH_MAX];
    test_fmt(dir, sizeof dir, "%s/%s", f->vault, kind);
    return vu_count_named(dir, text);
}

/* What the kills left behind, over the test. */
static unsigned left_markers, left_temps;

/* After a kill: the vault is intact and takes a new add of src. */
static void after_kill(const cfx *f, const char *src, uint64_t n)
{
    char extra[65];
    verify_vault(f, src, extra);
    /* the dead add's marker (a 64-hex name), and torn temporaries */
    left_markers += count_in(f, "locks", "") > count_in(f, "locks", ".tmp-");
    left_temps += count_in(f, "", ".tmp-") > 0;
    vault_t *v;
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    const char *paths[] = {src};
    vault_add_options o;
    vu_add_options(&o, paths, 1);
    vault_add_result r;
    vault_error rc = vault_add(v, &o, &r);
    vault_close(v);
    if (rc != VAULT_OK)
        fail_msg("add after a kill at operation %" PRIu64 ": %s (%d): %s", n,
                 vault_strerror(rc), rc, vault_last_error());
    vu_extract_same(f->vault, f->id, r.snapshot_id, src, f->scratch);
}

/* Kills the add of src at every operation in turn, in the given mode;
 * returns the number of kill points.  With commit, the vault ends as it
 * was before plus src's snapshot from the one add that ran to its end
 * (whose checks pass too); without, as it was before. */
static unsigned kill_every_op(cfx *f, const char *src, int threads,
                              kill_mode mode, int commit)
{
    vu_rm_rf(f->pre);
    vu_copy_tree(f->vault, f->pre);
    unsigned kills = 0;
    for (uint64_t n = 1;; n++) {
        if (n > MAX_OPS)
            fail_msg("the add never finished in %d operations", MAX_OPS);
        vu_rm_rf(f->vault);
        vu_copy_tree(f->pre, f->vault);
        outcome out;
        run_child(f, ACT_ADD, src, threads, mode,
                  mode == KILL_AFTER ? f->open_ops + n : n, &out);
        if (out.killed) {
            kills++;
            after_kill(f, src, n);
            continue;
        }
        /* The add ran past its last operation: it must have worked. */
        if (out.rc != VAULT_OK)
            fail_msg("add (kill point %" PRIu64 " not reached): %s (%d): %s",
                     n, vault_strerror(out.rc), out.rc, out.text);
        char extra[65];
        verify_vault(f, src, extra);
        if (strcmp(extra, out.text) != 0)
            fail_msg("the add said %.16s, the vault holds \"%.16s\"",
                     out.text, extra);
        if (commit) {
            assert_true(f->n_snaps < MAX_SNAPS);
            snap_rec *s = &f->snaps[f->n_snaps++];
            memcpy(s->id, extra, 65);
            snprintf(s->src, sizeof s->src, "%s", src);
        } else {
            vu_rm_rf(f->vault);
            vu_copy_tree(f->pre, f->vault);
        }
        break;
    }
    vu_rm_rf(f->pre);
    return kills;
}

/* ---- tests -------------------------------------------------------------- */

static void test_kill_add_everywhere(void **state)
{
    cfx *f = *state;
    static const struct {
        unsigned files; /* in the source */
        size_t big;     /* bytes of its first file */
        int threads;
    } stages[] = {
        {4, 700 * 1024, 1}, {5, 0, 1},           {6, 300 * 1024, 1},
        {3, 0, 1},          {12, 300 * 1024, 4},
    };
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(stages); i++) {
        char src[PATH_MAX];
        test_fmt(src, sizeof src, "%s/src%zu", f->base, i);
        vu_make_source(src, (unsigned)i + 1, stages[i].files, stages[i].big);
        unsigned torn = kill_every_op(f, src, stages[i].threads, KILL_TORN, 0);
        unsigned after =
            kill_every_op(f, src, stages[i].threads, KILL_AFTER, 1);
        print_message("stage %zu (%u files, %d worker%s): %u kill points "
                      "after an operation, %u torn saves\n",
                      i, stages[i].files, stages[i].threads,
                      stages[i].threads == 1 ? "" : "s", after, torn);
        f->kills += after + torn;
        vu_leak_check("add stage", i);
    }
    print_message("%u kill points in all; every one left a sound vault (%u "
                  "with the dead add's marker in locks/, %u with a torn "
                  "temporary)\n",
                  f->kills, left_markers, left_temps);
    if (f->kills < MIN_KILL_POINTS)
        fail_msg("only %u kill points, expected at least %d", f->kills,
                 MIN_KILL_POINTS);
    /* The crashes left add markers and temporaries; a last check. */
    assert_int_equal(vu_check(f->vault, f->id), f->n_snaps);
}

/* ---- prune ---------------------------------------------------------------
 *
 * A vault where one prune does everything prune does (format spec
 * "Pruning without locks"): a pending prune mark from an earlier prune
 * that a live add held back, and after it a snapshot that references
 * condemned blobs (an add that had started before the mark: its blobs
 * must be rescued by the sweep); forgotten snapshots whose packs are
 * partly used (repacked, max_unused_percent 0) or unused.  That prune is
 * killed at every operation, both ways; after each kill: vu_check passes,
 * exactly the kept snapshots are there and extract identical, an add
 * succeeds (it must not deduplicate against condemned packs), and a later
 * prune completes, leaving nothing pending, after which everything still
 * checks and extracts identical.
 */

static void prune_or_fail(vault_t *v, const char *what)
{
    vault_prune_options o;
    memset(&o, 0, sizeof o);
    o.max_unused_percent = VAULT_PRUNE_MAX_UNUSED_NONE;
    vault_prune_result r;
    vault_error rc = vault_prune(v, &o, &r);
    size_t pending = r.n_pending;
    vault_prune_result_free(&r);
    if (rc != VAULT_OK)
        fail_msg("%s: vault_prune: %s (%d): %s", what, vault_strerror(rc), rc,
                 vault_last_error());
    if (pending)
        fail_msg("%s: the prune left %zu mark(s) pending", what, pending);
}

static void forget_one(vault_t *v, const char *id)
{
    const char *ids[] = {id};
    vault_forget_options o;
    memset(&o, 0, sizeof o);
    o.snapshots = ids;
    o.n_snapshots = 1;
    vault_forget_result r;
    assert_vault_ok(vault_forget(v, &o, &r));
    assert_int_equal(r.n_removed, 1);
    vault_forget_result_free(&r);
}

static void add_or_fail(vault_t *v, const char *src, char id[65])
{
    const char *paths[] = {src};
    vault_add_options o;
    vu_add_options(&o, paths, 1);
    vault_add_result r;
    assert_vault_ok(vault_add(v, &o, &r));
    memcpy(id, r.snapshot_id, 65);
}

/* A finished prune leaves no prune mark and no add marker (none is
 * stale: the crashed child was a prune); says which are left.  Torn
 * temporaries are not objects: see test_prune_reclaims_old_temporaries. */
static void expect_no_locks(const cfx *f, const char *what)
{
    size_t temps = count_in(f, "locks", ".tmp-");
    if (count_in(f, "locks", "") == temps)
        return;
    vault_t *v;
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    lock_record *locks;
    size_t n, unreadable;
    assert_vault_ok(vlt_locks_load(v, &locks, &n, &unreadable));
    char text[1024] = "";
    size_t used = 0;
    for (size_t i = 0; i < n && used < sizeof text; i++) {
        int w = snprintf(text + used, sizeof text - used,
                         " [%.12s: kind %d, host %s, %u pack(s)]",
                         locks[i].name, (int)locks[i].kind, locks[i].host,
                         locks[i].n_packs);
        if (w > 0)
            used += (size_t)w;
    }
    vlt_locks_free(locks, n);
    vault_close(v);
    fail_msg("%s: locks/ holds %zu object(s) (%zu unreadable):%s", what,
             count_in(f, "locks", "") - temps, unreadable, text);
}

/* After a kill of the prune: see above.  late_src is added anew. */
static void after_prune_kill(const cfx *f, const char *late_src, uint64_t n)
{
    char extra[65], what[64];
    test_fmt(what, sizeof what, "after a kill at prune operation %" PRIu64, n);
    verify_vault(f, NULL, extra);
    vault_t *v;
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    char again[65];
    add_or_fail(v, late_src, again);
    prune_or_fail(v, what);
    vault_close(v);
    assert_int_equal(vu_check(f->vault, f->id), f->n_snaps + 1);
    for (size_t i = 0; i < f->n_snaps; i++)
        vu_extract_same(f->vault, f->id, f->snaps[i].id, f->snaps[i].src,
                        f->scratch);
    vu_extract_same(f->vault, f->id, again, late_src, f->scratch);
    expect_no_locks(f, what);
}

static unsigned kill_prune_every_op(cfx *f, kill_mode mode,
                                    const char *late_src)
{
    vu_rm_rf(f->pre);
    vu_copy_tree(f->vault, f->pre);
    unsigned kills = 0;
    for (uint64_t n = 1;; n++) {
        if (n > MAX_OPS)
            fail_msg("the prune never finished in %d operations", MAX_OPS);
        vu_rm_rf(f->vault);
        vu_copy_tree(f->pre, f->vault);
        outcome out;
        run_child(f, ACT_PRUNE, NULL, 1, mode,
                  mode == KILL_AFTER ? f->open_ops + n : n, &out);
        if (out.killed) {
            kills++;
            after_prune_kill(f, late_src, n);
            continue;
        }
        if (out.rc != VAULT_OK)
            fail_msg("prune (kill point %" PRIu64 " not reached): %s (%d): "
                     "%s",
                     n, vault_strerror(out.rc), out.rc, out.text);
        char extra[65];
        verify_vault(f, NULL, extra);
        expect_no_locks(f, "after a whole prune");
        break;
    }
    /* the next kill loop starts from the vault before the prune */
    vu_rm_rf(f->vault);
    vu_copy_tree(f->pre, f->vault);
    vu_rm_rf(f->pre);
    return kills;
}

static void test_kill_prune_everywhere(void **state)
{
    cfx *f = *state;
    char a[PATH_MAX], b[PATH_MAX], b2[PATH_MAX], c[PATH_MAX], late[PATH_MAX];
    test_fmt(a, sizeof a, "%s/a", f->base);
    test_fmt(b, sizeof b, "%s/b", f->base);
    test_fmt(b2, sizeof b2, "%s/b2", f->base);
    test_fmt(c, sizeof c, "%s/c", f->base);
    test_fmt(late, sizeof late, "%s/late", f->base);
    vu_make_source(a, 11, 3, 300 * 1024);
    vu_make_source(b, 12, 8, 0);
    vu_make_source(c, 13, 3, 200 * 1024);
    vu_make_source(late, 11, 4, 300 * 1024); /* much like a */
    /* b2: b with two files changed - b's pack becomes partly used */
    vu_copy_tree(b, b2);
    for (int i = 0; i < 2; i++) {
        char p[PATH_MAX];
        test_fmt(p, sizeof p, "%s/%sf%d.bin", b2, i % 2 ? "sub/" : "", i);
        char text[64];
        int len = snprintf(text, sizeof text, "changed %d\n", i);
        vu_rm_rf(p);
        test_write_file(p, text, (size_t)len);
    }

    vault_t *v;
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    char sa[65], sb[65], sb2[65], sc[65], slate[65];
    add_or_fail(v, a, sa);
    add_or_fail(v, b, sb);
    /* A prune whose mark an add (a live marker) holds back... */
    snapshot_record rec;
    assert_vault_ok(vlt_repo_snapshot_load(v, sa, &rec));
    forget_one(v, sa);
    lock_record marker;
    memset(&marker, 0, sizeof marker);
    marker.kind = LOCK_ADD;
    marker.time = vlt_now();
    marker.pid = 4242;
    snprintf(marker.host, sizeof marker.host, "slow-add");
    assert_vault_ok(vlt_lock_write(v, &marker));
    vault_prune_options po;
    memset(&po, 0, sizeof po);
    po.max_unused_percent = VAULT_PRUNE_MAX_UNUSED_NONE;
    vault_prune_result pr;
    assert_vault_ok(vault_prune(v, &po, &pr));
    assert_int_equal(pr.n_pending, 1);
    vault_prune_result_free(&pr);
    /* ...and that add commits a snapshot of a's data after the mark. */
    rec.time_sec += 1;
    assert_vault_ok(vlt_repo_snapshot_save(v, &rec, slate));
    vlt_snapshot_clear(&rec);
    assert_vault_ok(vlt_lock_remove(v, marker.name));
    /* Then b changes (b's pack: partly used), c comes and goes (unused). */
    add_or_fail(v, b2, sb2);
    add_or_fail(v, c, sc);
    forget_one(v, sb);
    forget_one(v, sc);
    vault_close(v);

    f->n_snaps = 0;
    memcpy(f->snaps[f->n_snaps].id, slate, 65);
    snprintf(f->snaps[f->n_snaps++].src, PATH_MAX, "%s", a);
    memcpy(f->snaps[f->n_snaps].id, sb2, 65);
    snprintf(f->snaps[f->n_snaps++].src, PATH_MAX, "%s", b2);
    assert_int_equal(vu_check(f->vault, f->id), 2);

    unsigned after = kill_prune_every_op(f, KILL_AFTER, late);
    unsigned torn = kill_prune_every_op(f, KILL_TORN, late);
    print_message("prune: %u kill points after an operation, %u torn "
                  "saves; every one left a sound vault that a later prune "
                  "finished\n",
                  after, torn);
    vu_leak_check("prune", 0);
    f->kills += after + torn;
    if (after + torn < MIN_KILL_POINTS)
        fail_msg("only %u kill points in the prune", after + torn);
}

/* ---- leftovers -----------------------------------------------------------
 *
 * Format spec "Write ordering and crash consistency": an interrupted add
 * leaves ".tmp-" files, and "prune reclaims them".  A fresh one may be a
 * save in progress on another machine and must stay; one older than
 * VAULT_PRUNE_STALE_SECONDS (as for add markers) is litter.
 */

static void set_mtimes(const char *dir, time_t when)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        char p[PATH_MAX];
        test_fmt(p, sizeof p, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(p, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            set_mtimes(p, when);
        } else if (strstr(de->d_name, ".tmp-")) {
            struct timespec ts[2] = {{when, 0}, {when, 0}};
            assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW),
                             0);
        }
    }
    closedir(d);
}

static void test_prune_reclaims_old_temporaries(void **state)
{
    cfx *f = *state;
    char src[PATH_MAX];
    test_fmt(src, sizeof src, "%s/src", f->base);
    vu_make_source(src, 21, 4, 300 * 1024);
    /* Adds killed in their 2nd save (the pack: half of it) and 3rd (the
     * index segment, whole but not linked). */
    for (uint64_t n = 2; n <= 3; n++) {
        outcome out;
        run_child(f, ACT_ADD, src, 1, KILL_TORN, n, &out);
        assert_true(out.killed);
    }
    size_t temps = count_in(f, "", ".tmp-");
    assert_int_equal(temps, 2);
    vault_t *v;
    /* Fresh: a prune leaves them (they may be saves in progress). */
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    prune_or_fail(v, "fresh temporaries");
    vault_close(v);
    assert_int_equal(count_in(f, "", ".tmp-"), temps);
    /* Two days old: litter that prune reclaims. */
    set_mtimes(f->vault, time(NULL) - 2 * VAULT_PRUNE_STALE_SECONDS);
    assert_vault_ok(vault_open(f->vault, f->id, &v));
    prune_or_fail(v, "old temporaries");
    vault_close(v);
    size_t left = count_in(f, "", ".tmp-");
    if (left)
        fail_msg("a prune left %zu of %zu temporaries of crashed saves that "
                 "are two days old (format spec section 14: \"prune ... "
                 "reclaims them\"); a torn pack can be 16 MiB",
                 left, temps);
    vu_check(f->vault, f->id);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill_add_everywhere, cfx_setup,
                                        cfx_teardown),
        cmocka_unit_test_setup_teardown(test_kill_prune_everywhere, cfx_setup,
                                        cfx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_reclaims_old_temporaries,
                                        cfx_setup, cfx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
