/*
 * verify_util.c - soundness of a vault and of what its snapshots extract
 * to, for the tests that break adds on purpose (verify_util.h).
 */
#include "verify_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define VU_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VU_LSAN 1
#endif
#endif
#ifdef VU_LSAN
#include <sanitizer/lsan_interface.h>
#endif

#include "backend/backend.h"
#include "common/internal.h"
#include "format/locks.h"
#include "format/pack.h"
#include "repo/repo.h"
#include "format/tree.h"

#define WALK_MAX_DEPTH 64

/* ---- vault_check ------------------------------------------------------- */

typedef struct problems {
    char text[2048]; /* the first problems, for the failure message */
    size_t used;
    size_t n;
} problems;

static void on_problem(void *ctx, const vault_check_problem *p)
{
    problems *ps = ctx;
    if (p->warning)
        return;
    ps->n++;
    if (ps->used < sizeof ps->text) {
        int w = snprintf(ps->text + ps->used, sizeof ps->text - ps->used,
                         "\n  %s: %s", p->object ? p->object : "?",
                         p->what ? p->what : "?");
        if (w > 0)
            ps->used += (size_t)w;
    }
}

static void run_vault_check(vault_t *v, const char *path)
{
    vault_check_options o;
    memset(&o, 0, sizeof o);
    o.read_data = 1;
    problems ps;
    memset(&ps, 0, sizeof ps);
    o.on_problem = on_problem;
    o.on_problem_ctx = &ps;
    vault_check_result r;
    vault_error rc = vault_check(v, &o, &r);
    if (rc != VAULT_OK || ps.n != 0)
        fail_msg("%s: vault_check: %s (%d): %s; %zu problem(s):%s", path,
                 vault_strerror(rc), rc, vault_last_error(), ps.n, ps.text);
}

/* ---- the independent check --------------------------------------------- */

#define check_ok(expr, what)                                                 \
    do {                                                                     \
        vault_error rc_ = (expr);                                            \
        if (rc_ != VAULT_OK)                                                 \
            fail_msg("%s: %s: %s (%d): %s", path, (what),                    \
                     vault_strerror(rc_), rc_, vault_last_error());          \
    } while (0)

/* Every object of kind hashes to its name; packs' own indexes open. */
static void check_objects(vault_t *v, const char *path, backend_kind kind)
{
    name_list names;
    check_ok(vlt_backend_list_names(v->be, kind, &names), vlt_backend_kind_name(kind));
    for (size_t i = 0; i < names.n; i++) {
        char label[BACKEND_LABEL_MAX];
        vlt_backend_label(kind, names.names[i], label);
        uint8_t *data;
        size_t len;
        check_ok(backend_load(v->be, kind, names.names[i], 0, 0,
                              PACK_MAX_BYTES, &data, &len),
                 label);
        vault_error rc = vlt_object_check_name(kind, names.names[i], data, len);
        if (rc == VAULT_OK && kind == BACKEND_DATA) {
            pack_entry *entries;
            size_t n;
            rc = vlt_pack_read_index(v->keys, data, len, &entries, &n);
            free(entries);
        }
        free(data);
        if (rc != VAULT_OK) {
            free(names.names);
            fail_msg("%s: %s: %s", path, label, vault_last_error());
        }
    }
    free(names.names);
}

/* The index slot of a blob the snapshots reference, of the right type. */
static void check_ref(vault_t *v, const char *path, const char *where,
                      const uint8_t id[CHUNK_ID_BYTES], blob_type type,
                      pack_entry *e)
{
    const index_slot *s = vlt_index_find(&v->index, id);
    char hex[65];
    vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
    if (!s || s->pack == INDEX_PENDING)
        fail_msg("%s: %s: blob %.16s is not in the index", path, where, hex);
    vlt_index_slot_entry(&v->index, s, e);
    if (e->type != type)
        fail_msg("%s: %s: blob %.16s indexed as type %d, used as %d", path,
                 where, hex, e->type, type);
}

static void walk_tree(vault_t *v, const char *path, const char *where,
                      const uint8_t id[CHUNK_ID_BYTES], unsigned depth)
{
    if (depth > WALK_MAX_DEPTH)
        fail_msg("%s: %s: trees nested too deep", path, where);
    pack_entry e;
    check_ref(v, path, where, id, BLOB_TREE, &e);
    uint8_t *data;
    size_t len;
    check_ok(vlt_repo_load_blob(v, id, BLOB_TREE, &data, &len), where);
    tree t;
    memset(&t, 0, sizeof t);
    vault_error rc = vlt_tree_decode(data, len, &t);
    free(data);
    check_ok(rc, where);
    for (uint32_t i = 0; i < t.n_nodes; i++) {
        const tree_node *n = &t.nodes[i];
        char sub[PATH_MAX];
        int w = snprintf(sub, sizeof sub, "%s/%s", where, n->name);
        if (w < 0 || (size_t)w >= sizeof sub)
            fail_msg("%s/%s: path too long for the test", where, n->name);
        if (n->type == NODE_DIR) {
            walk_tree(v, path, sub, n->subtree, depth + 1);
        } else if (n->type == NODE_FILE) {
            uint64_t total = 0;
            for (uint32_t c = 0; c < n->n_content; c++) {
                check_ref(v, path, sub, n->content[c], BLOB_DATA, &e);
                total += e.raw_len;
            }
            if (total != n->size)
                fail_msg("%s: %s: chunks hold %llu bytes, the file %llu",
                         path, sub, (unsigned long long)total,
                         (unsigned long long)n->size);
        }
    }
    vlt_tree_clear(&t);
}

static void check_internals(vault_t *v, const char *path)
{
    static const backend_kind kinds[] = {BACKEND_KEYS, BACKEND_DATA,
                                         BACKEND_INDEX, BACKEND_SNAPSHOTS,
                                         BACKEND_LOCKS};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(kinds); i++)
        check_objects(v, path, kinds[i]);

    lock_record *locks;
    size_t n_locks, unreadable;
    check_ok(vlt_locks_load(v, &locks, &n_locks, &unreadable), "locks");
    vlt_locks_free(locks, n_locks);
    if (unreadable)
        fail_msg("%s: %zu lock object(s) do not open", path, unreadable);

    check_ok(vlt_repo_load_index(v), "index");
    for (size_t i = 0; i < vlt_index_n_slots_all(&v->index); i++) {
        const index_slot *s = vlt_index_slot_at(&v->index, i);
        if (s->pack == INDEX_PENDING)
            fail_msg("%s: a pending entry in a freshly loaded index", path);
        pack_entry e;
        vlt_index_slot_entry(&v->index, s, &e);
        uint8_t *data;
        size_t len;
        char hex[65];
        vlt_hex_encode(s->id, CHUNK_ID_BYTES, hex);
        check_ok(vlt_repo_load_blob(v, s->id, (blob_type)e.type, &data, &len),
                 hex);
        if (e.type == BLOB_TREE) {
            tree t;
            memset(&t, 0, sizeof t);
            vault_error rc = vlt_tree_decode(data, len, &t);
            vlt_tree_clear(&t);
            if (rc != VAULT_OK) {
                free(data);
                fail_msg("%s: tree %.16s: %s", path, hex, vault_last_error());
            }
        }
        free(data);
    }

    char(*names)[65];
    size_t n;
    check_ok(vlt_repo_snapshot_names(v, &names, &n), "snapshots");
    for (size_t i = 0; i < n; i++) {
        snapshot_record rec;
        char where[80];
        snprintf(where, sizeof where, "snapshots/%.16s", names[i]);
        vault_error rc = vlt_repo_snapshot_load(v, names[i], &rec);
        if (rc != VAULT_OK) {
            free(names);
            fail_msg("%s: %s: %s", path, where, vault_last_error());
        }
        walk_tree(v, path, where, rec.tree, 0);
        vlt_snapshot_clear(&rec);
    }
    free(names);
}

size_t vu_check(const char *path, const vault_identity_t *id)
{
    vault_t *v;
    check_ok(vault_open(path, id, &v), "open");
    run_vault_check(v, path);
    check_internals(v, path);
    size_t n;
    check_ok(vault_snapshot_count(v, &n), "snapshot count");
    vault_close(v);
    return n;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

char (*vu_snapshot_names(const char *path, const vault_identity_t *id,
                         size_t *n))[65]
{
    vault_t *v;
    check_ok(vault_open(path, id, &v), "open");
    char(*names)[65];
    check_ok(vlt_repo_snapshot_names(v, &names, n), "snapshots");
    vault_close(v);
    if (*n)
        qsort(names, *n, sizeof *names, name_cmp);
    return names;
}

/* ---- trees of files ----------------------------------------------------- */

static void extract_error(void *ctx, const char *item, vault_error code,
                          const char *detail)
{
    (void)ctx;
    fail_msg("extract reported %s: %s (%d): %s", item, vault_strerror(code),
             code, detail);
}

void vu_extract_same(const char *path, const vault_identity_t *id,
                     const char *snap, const char *src, const char *scratch)
{
    vu_rm_rf(scratch);
    if (mkdir(scratch, 0700) != 0)
        fail_msg("mkdir %s: %s", scratch, strerror(errno));
    vault_t *v;
    check_ok(vault_open(path, id, &v), "open");
    vault_extract_options o;
    memset(&o, 0, sizeof o);
    o.target_dir = scratch;
    o.on_error = extract_error;
    vault_extract_result r;
    vault_error rc = vault_extract(v, snap, &o, &r);
    vault_close(v);
    if (rc != VAULT_OK)
        fail_msg("%s: extract %.16s: %s (%d): %s", path, snap,
                 vault_strerror(rc), rc, vault_last_error());
    char got[PATH_MAX];
    snprintf(got, sizeof got, "%s%s", scratch, src);
    vu_same_tree(src, got);
}

static int dirent_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in dir, "." and ".." left out. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    if (!d)
        fail_msg("opendir %s: %s", dir, strerror(errno));
    char **v = NULL;
    size_t cap = 0;
    *n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            v = realloc(v, cap * sizeof *v);
            assert_non_null(v);
        }
        v[*n] = strdup(de->d_name);
        assert_non_null(v[*n]);
        (*n)++;
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof *v, dirent_cmp);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void vu_same_tree(const char *want, const char *got)
{
    struct stat a, b;
    if (lstat(want, &a) != 0)
        fail_msg("%s: %s", want, strerror(errno));
    if (lstat(got, &b) != 0)
        fail_msg("%s: missing from the extraction (%s)", got,
                 strerror(errno));
    if ((a.st_mode & S_IFMT) != (b.st_mode & S_IFMT))
        fail_msg("%s: type %o, expected %o", got,
                 (unsigned)(b.st_mode & S_IFMT),
                 (unsigned)(a.st_mode & S_IFMT));
    if ((a.st_mode & 07777) != (b.st_mode & 07777) && !S_ISLNK(a.st_mode))
        fail_msg("%s: mode %o, expected %o", got, (unsigned)(b.st_mode & 07777),
                 (unsigned)(a.st_mode & 07777));
    if (S_ISREG(a.st_mode)) {
        size_t la, lb;
        uint8_t *da = test_read_file(want, &la);
        uint8_t *db = test_read_file(got, &lb);
        int same = la == lb && (la == 0 || memcmp(da, db, la) == 0);
        free(da);
        free(db);
        if (!same)
            fail_msg("%s: content differs from %s (%zu bytes, expected %zu)",
                     got, want, lb, la);
    } else if (S_ISLNK(a.st_mode)) {
        char ta[PATH_MAX], tb[PATH_MAX];
        ssize_t na = readlink(want, ta, sizeof ta - 1);
        ssize_t nb = readlink(got, tb, sizeof tb - 1);
        assert_true(na >= 0 && nb >= 0);
        ta[na] = '\0';
        tb[nb] = '\0';
        if (strcmp(ta, tb) != 0)
            fail_msg("%s: points to \"%s\", expected \"%s\"", got, tb, ta);
    } else if (S_ISDIR(a.st_mode)) {
        size_t na, nb;
        char **ea = list_dir(want, &na);
        char **eb = list_dir(got, &nb);
        for (size_t i = 0, j = 0; i < na || j < nb; i++, j++) {
            int c = i == na   ? 1
                    : j == nb ? -1
                              : strcmp(ea[i], eb[j]);
            if (c < 0)
                fail_msg("%s/%s: missing from the extraction", got, ea[i]);
            if (c > 0)
                fail_msg("%s/%s: extracted but not in %s", got, eb[j], want);
            char pa[PATH_MAX], pb[PATH_MAX];
            snprintf(pa, sizeof pa, "%s/%s", want, ea[i]);
            snprintf(pb, sizeof pb, "%s/%s", got, eb[j]);
            vu_same_tree(pa, pb);
        }
        free_list(ea, na);
        free_list(eb, nb);
    }
}

/* ---- making and copying trees ------------------------------------------- */

static void write_file(const char *path, const uint8_t *data, size_t len)
{
    test_write_file(path, data, len);
}

static uint32_t xorshift(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void fill(uint8_t *p, size_t len, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 0x9e3779b9u;
    if (!x)
        x = 1;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(xorshift(&x) >> 7);
}

void vu_make_source(const char *dir, unsigned seed, unsigned n_files,
                    size_t big_len)
{
    char p[PATH_MAX];
    if (mkdir(dir, 0755) != 0)
        fail_msg("mkdir %s: %s", dir, strerror(errno));
    snprintf(p, sizeof p, "%s/sub", dir);
    if (mkdir(p, 0750) != 0)
        fail_msg("mkdir %s: %s", p, strerror(errno));
    size_t cap = big_len > 65536 ? big_len : 65536;
    uint8_t *buf = malloc(cap);
    assert_non_null(buf);
    for (unsigned i = 0; i < n_files; i++) {
        /* 100 bytes .. 40 KiB, the first file big_len */
        size_t len = i == 0 && big_len ? big_len
                                       : 100 + (seed * 7919u + i * 104729u) %
                                                   (40u * 1024);
        fill(buf, len, seed * 1000 + i);
        snprintf(p, sizeof p, "%s/%sf%u.bin", dir, i % 2 ? "sub/" : "", i);
        write_file(p, buf, len);
    }
    /* the same bytes as f1 of the source with seed 1: deduplicated */
    fill(buf, 4096, 1000 + 1);
    snprintf(p, sizeof p, "%s/common.bin", dir);
    write_file(p, buf, 4096);
    snprintf(p, sizeof p, "%s/sub/empty", dir);
    write_file(p, (const uint8_t *)"", 0);
    snprintf(p, sizeof p, "%s/link", dir);
    if (symlink("sub/empty", p) != 0)
        fail_msg("symlink %s: %s", p, strerror(errno));
    free(buf);
}

char *vu_tempdir(void)
{
    char *tmp;
    const char *env = getenv("TMPDIR");
    if ((!env || !env[0]) && access("/dev/shm", W_OK | X_OK) == 0) {
        char tmpl[] = "/dev/shm/vault-test-XXXXXX";
        if (!mkdtemp(tmpl))
            fail_msg("mkdtemp %s: %s", tmpl, strerror(errno));
        tmp = strdup(tmpl);
        assert_non_null(tmp);
    } else {
        tmp = test_tempdir();
    }
    char *real = realpath(tmp, NULL);
    assert_non_null(real);
    free(tmp);
    return real;
}

static int rm_one(const char *path, const struct stat *st, int flag,
                  struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fail_msg("remove %s: %s", path, strerror(errno));
    return 0;
}

void vu_rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return;
    (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void copy_file(const char *from, const char *to, mode_t mode)
{
    size_t len;
    uint8_t *data = test_read_file(from, &len);
    int fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        fail_msg("create %s: %s", to, strerror(errno));
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, data + done, len - done);
        if (w <= 0)
            fail_msg("write %s: %s", to, strerror(errno));
        done += (size_t)w;
    }
    free(data);
    if (fchmod(fd, mode & 07777) != 0 || close(fd) != 0)
        fail_msg("%s: %s", to, strerror(errno));
}

void vu_copy_tree(const char *from, const char *to)
{
    struct stat st;
    if (lstat(from, &st) != 0)
        fail_msg("%s: %s", from, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        copy_file(from, to, st.st_mode);
    } else if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(from, target, sizeof target - 1);
        assert_true(n >= 0);
        target[n] = '\0';
        if (symlink(target, to) != 0)
            fail_msg("symlink %s: %s", to, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        if (mkdir(to, 0700) != 0)
            fail_msg("mkdir %s: %s", to, strerror(errno));
        size_t n;
        char **names = list_dir(from, &n);
        for (size_t i = 0; i < n; i++) {
            char a[PATH_MAX], b[PATH_MAX];
            snprintf(a, sizeof a, "%s/%s", from, names[i]);
            snprintf(b, sizeof b, "%s/%s", to, names[i]);
            vu_copy_tree(a, b);
        }
        free_list(names, n);
        if (chmod(to, st.st_mode & 07777) != 0)
            fail_msg("chmod %s: %s", to, strerror(errno));
    } else {
        fail_msg("%s: cannot copy this type", from);
    }
}

size_t vu_count_named(const char *dir, const char *text)
{
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    size_t n, found = 0;
    char **names = list_dir(dir, &n);
    for (size_t i = 0; i < n; i++) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (strstr(names[i], text))
            found++;
        found += vu_count_named(p, text);
    }
    free_list(names, n);
    return found;
}

/* got is rel of the snapshot, extracted. */
static void target_clean(const char *got, const char *rel, const char *what)
{
    size_t n;
    struct stat st;
    if (lstat(got, &st) != 0)
        fail_msg("%s: %s: %s", what, got, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        char **names = NULL;
        DIR *d = opendir(got);
        assert_non_null(d);
        struct dirent *de;
        n = 0;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            names = realloc(names, (n + 1) * sizeof *names);
            assert_non_null(names);
            names[n] = strdup(de->d_name);
            assert_non_null(names[n++]);
        }
        closedir(d);
        for (size_t i = 0; i < n; i++) {
            if (strstr(names[i], ".vault-tmp-"))
                fail_msg("%s: a temporary file is left behind: %s/%s", what,
                         got, names[i]);
            char g[PATH_MAX], r[PATH_MAX];
            snprintf(g, sizeof g, "%s/%s", got, names[i]);
            snprintf(r, sizeof r, "%s/%s", rel, names[i]);
            target_clean(g, r, what);
            free(names[i]);
        }
        free(names);
        return;
    }
    /* a file or symlink under its final name: whole and right */
    vu_same_tree(rel, got);
}

void vu_target_clean(const char *target, const char *what)
{
    target_clean(target, "", what);
}

void vu_add_options(vault_add_options *o, const char *const *paths,
                    int threads)
{
    memset(o, 0, sizeof *o);
    o->paths = paths;
    o->n_paths = 1;
    o->threads = threads;
    o->cache_dir = "";
    o->hostname = "testhost";
}

void vu_leak_check(const char *what, uint64_t n)
{
#ifdef VU_LSAN
    if (__lsan_do_recoverable_leak_check())
        fail_msg("%s, n = %llu: memory leaked (LeakSanitizer's report is "
                 "above)",
                 what, (unsigned long long)n);
#else
    (void)what;
    (void)n;
#endif
}
