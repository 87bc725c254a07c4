/*
 * vault_fixture.c - a fresh vault per test, and the tools to look at it
 * and to attack it (vault_fixture.h says how to use them).
 */
#include "vault_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------- */

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

char *xstrdup(const char *s)
{
    char *c = strdup(s);
    assert_non_null(c);
    return c;
}

/* xorshift64*: a fixed sequence, so a failing input can be found again. */
static uint64_t rng_state = 0x2545F4914F6CDD1Du;

uint64_t rng_next(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}

void rng_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng_next() >> 56);
}

size_t rng_below(size_t n)
{
    return n ? (size_t)(rng_next() % n) : 0;
}

int exists_nofollow(const char *path)
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
void rm_rf(const char *path)
{
    if (exists_nofollow(path))
        (void)nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void make_dir(const char *path)
{
    if (mkdir(path, 0700) != 0)
        fail_msg("mkdir %s: %s", path, strerror(errno));
}

/* ---- directory listings (nothing may appear outside a target) ------------ */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted entries of dir (none if it does not exist). */
void names_of(const char *dir, name_set *out)
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

void names_free(name_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

void names_assert_same(const name_set *a, const name_set *b,
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
void names_expect(const char *dir, const char *const *expect)
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

int fx_setup(void **state)
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
    test_watchdog("vault fixture", 120);
    *state = f;
    return 0;
}

int fx_teardown(void **state)
{
    fx *f = *state;
    alarm(0);
    /* A test's warning handler may point into its stack frame. */
    vault_set_warning_handler(NULL, NULL);
    vault_close(f->v);
    vault_identity_free(f->id);
    test_rmtree(f->base);
    free(f);
    return 0;
}

/* Closes and opens the vault again: the index is read once per handle. */
void fx_reopen(fx *f)
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

void fx_add_threads(fx *f, const char *path, int compression,
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

void fx_add(fx *f, const char *path, int compression,
                   vault_add_result *r)
{
    fx_add_threads(f, path, compression, 2, r);
}

/* ---- ls collection ------------------------------------------------------ */

int ls_collect(void *ctx, const vault_file_info *info)
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

void ls_free(ls_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].path);
        free(l->e[i].target);
    }
    free(l->e);
    memset(l, 0, sizeof *l);
}

/* The one entry with this path; fails if it is missing or repeated. */
const ls_entry *ls_get(const ls_list *l, const char *path)
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

int ls_equal(const ls_list *a, const ls_list *b)
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

void log_error(void *ctx, const char *path, vault_error code,
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

void log_free(err_log *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].path);
        free(l->e[i].detail);
    }
    free(l->e);
    memset(l, 0, sizeof *l);
}

void log_print(const err_log *l)
{
    for (size_t i = 0; i < l->n; i++)
        print_message("  reported %s: %s (%d): %s\n", l->e[i].path,
                      vault_strerror(l->e[i].code), l->e[i].code,
                      l->e[i].detail);
}

/* The report for path; fails if there is none. */
const err_item *log_get(const err_log *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].path, path) == 0)
            return &l->e[i];
    log_print(l);
    fail_msg("no error was reported for %s", path);
    return NULL;
}

vault_error extract_to(vault_t *v, const char *snap,
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

void expect_file(const char *path, const void *data, size_t len)
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

/* ---- raw tree bytes, per the layout in vault/src/tree.c ----------------- */

void rb_bytes(rawbuf *b, const void *d, size_t n)
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
void rb_u8(rawbuf *b, uint8_t v)
{
    rb_bytes(b, &v, 1);
}
void rb_u16(rawbuf *b, uint16_t v)
{
    uint8_t t[2];
    store_le16(t, v);
    rb_bytes(b, t, 2);
}
void rb_u32(rawbuf *b, uint32_t v)
{
    uint8_t t[4];
    store_le32(t, v);
    rb_bytes(b, t, 4);
}
void rb_u64(rawbuf *b, uint64_t v)
{
    uint8_t t[8];
    store_le64(t, v);
    rb_bytes(b, t, 8);
}
void rb_free(rawbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

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
void raw_tree(rawbuf *b, const raw_node *nodes, uint32_t n)
{
    b->len = 0;
    rb_u8(b, TREE_FORMAT_VERSION);
    rb_u32(b, n);
    for (uint32_t i = 0; i < n; i++)
        raw_node_put(b, &nodes[i]);
}

/* ---- writing blobs, packs, index segments and snapshots directly ------ */

/* Adds a blob stored under the given ID - right or forged. */
void forge_add_as(forge *g, blob_type type, const uint8_t id[32],
                         const void *data, size_t len)
{
    if (!g->begun) {
        assert_vault_ok(vlt_pack_writer_begin(&g->pw, g->v->keys));
        g->begun = 1;
    }
    assert_vault_ok(vlt_pack_writer_add(&g->pw, type, id, 0, data, len,
                                    (uint32_t)len));
}

void forge_add(forge *g, blob_type type, const void *data, size_t len,
                      uint8_t id[32])
{
    vlt_chunk_id_compute(g->v->keys, type, data, len, id);
    forge_add_as(g, type, id, data, len);
}

void forge_tree(forge *g, const raw_node *nodes, uint32_t n,
                       uint8_t id[32])
{
    rawbuf b = {0};
    raw_tree(&b, nodes, n);
    forge_add(g, BLOB_TREE, b.p, b.len, id);
    rb_free(&b);
}

/* Saves the pack and an index segment listing it. */
void forge_commit(forge *g)
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

void forge_snapshot(fx *f, const uint8_t root[32], char id[65])
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

void author_new(test_author *a)
{
    vlt_sign_keypair_generate(a->seed, a->pk, a->sk);
}

void author_of_handle(const vault_t *v, test_author *a)
{
    assert_true(v->keys->has_sign_key);
    memcpy(a->seed, v->keys->sign_seed, SIGN_SEED_BYTES);
    memcpy(a->pk, v->keys->sign_pk, SIGN_PUBLIC_BYTES);
    memcpy(a->sk, v->keys->sign_sk, SIGN_SECRET_BYTES);
}

void member_new(fx *f, member_role role, test_author *a)
{
    /* A real member: shared by the owner (a record in the log), its
     * signing key read back from its own envelope. */
    vault_identity_t *id = NULL;
    assert_vault_ok(vault_identity_generate(&id));
    test_author owner;
    author_of_handle(f->v, &owner);
    assert_vault_ok(vault_share(f->v, vault_identity_recipient(id),
                                (vault_role)role));
    vault_t *as_member = NULL;
    assert_vault_ok(vault_open(f->vault, id, &as_member));
    author_of_handle(as_member, a);
    vault_close(as_member);
    vault_identity_free(id);
    act_as(f->v, &owner);
}

void act_as(vault_t *v, const test_author *a)
{
    memcpy(v->keys->sign_seed, a->seed, SIGN_SEED_BYTES);
    memcpy(v->keys->sign_pk, a->pk, SIGN_PUBLIC_BYTES);
    memcpy(v->keys->sign_sk, a->sk, SIGN_SECRET_BYTES);
    v->keys->has_sign_key = 1;
}

void arena_open(fx *f, arena *a, const char *label)
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
void arena_check(arena *a)
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

void arena_close(arena *a)
{
    names_free(&a->before_dir);
    names_free(&a->before_outside);
    names_free(&a->before_base);
}

int code_is_refusal(vault_error code)
{
    return code == VAULT_E_CORRUPT || code == VAULT_E_UNSAFE_PATH;
}

int is_clean_rejection(vault_error rc)
{
    return rc == VAULT_E_CORRUPT || rc == VAULT_E_UNSUPPORTED ||
           rc == VAULT_E_PERMISSION;
}
