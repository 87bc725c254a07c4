/*
 * test_restore.c - restoring trees into a directory and into tar streams,
 * from a fake in-memory source: every entry type, sparse files, hardlinks,
 * metadata, damaged chunks, hostile names and symlinks, existing entries,
 * the include filter.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <sodium.h>

#include "common/internal.h"
#include "ops/restore/restore.h"
#include "test_util.h"
#include "format/tree.h"

/* ---- the fake source ---------------------------------------------------- */

typedef struct fake_obj {
    uint8_t id[CHUNK_ID_BYTES];
    int is_tree;
    tree t;        /* is_tree: handed out as deep copies */
    uint8_t *data; /* else: a chunk */
    size_t len;
    int fail; /* load_chunk fails for it */
} fake_obj;

typedef struct fake {
    fake_obj *objs;
    size_t n, cap;
    unsigned trees; /* tree IDs are SHA-256("tree <counter>") */
    /* Slow chunks: load_chunk sleeps this long and notes the most
     * descriptors the process had open at once (any thread).  Threads
     * other than walker also wait (5 s at most) until hold_trees trees
     * were loaded: the walker, which loads them, runs ahead. */
    unsigned slow_us;
    pthread_mutex_t mu;
    pthread_cond_t tree_loaded;
    pthread_t walker;
    unsigned trees_loaded, hold_trees;
    int max_fds;
    /* chunk_size says which chunks are zeros (else it is not offered),
     * and loads of such chunks are counted: there should be none. */
    int know_zeros;
    atomic_uint zero_loads;
} fake;

/* How many descriptors this process has open. */
static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    int n = 0;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and d's own */
}

static fake_obj *fake_find(fake *f, const uint8_t id[CHUNK_ID_BYTES])
{
    for (size_t i = 0; i < f->n; i++)
        if (memcmp(f->objs[i].id, id, CHUNK_ID_BYTES) == 0)
            return &f->objs[i];
    return NULL;
}

static fake_obj *fake_add(fake *f, const uint8_t id[CHUNK_ID_BYTES])
{
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->objs = realloc(f->objs, f->cap * sizeof *f->objs);
        assert_non_null(f->objs);
    }
    fake_obj *o = &f->objs[f->n++];
    memset(o, 0, sizeof *o);
    memcpy(o->id, id, CHUNK_ID_BYTES);
    return o;
}

/* Stores a data chunk; its ID is the SHA-256 of the content. */
static void fake_chunk(fake *f, const void *data, size_t len,
                       uint8_t id[CHUNK_ID_BYTES])
{
    crypto_hash_sha256(id, data, len);
    if (fake_find(f, id))
        return;
    fake_obj *o = fake_add(f, id);
    o->data = malloc(len ? len : 1);
    assert_non_null(o->data);
    memcpy(o->data, data, len);
    o->len = len;
}

/* Stores a tree of the n nodes (taking over what they own). */
static void fake_tree(fake *f, const tree_node *nodes, uint32_t n,
                      uint8_t id[CHUNK_ID_BYTES])
{
    char label[32];
    snprintf(label, sizeof label, "tree %u", f->trees++);
    crypto_hash_sha256(id, (const uint8_t *)label, strlen(label));
    fake_obj *o = fake_add(f, id);
    o->is_tree = 1;
    o->t.n_nodes = n;
    o->t.nodes = calloc(n ? n : 1, sizeof *o->t.nodes);
    assert_non_null(o->t.nodes);
    memcpy(o->t.nodes, nodes, n * sizeof *nodes);
}

static void fake_free(fake *f)
{
    for (size_t i = 0; i < f->n; i++) {
        vlt_tree_clear(&f->objs[i].t);
        free(f->objs[i].data);
    }
    free(f->objs);
    memset(f, 0, sizeof *f);
}

static char *dupz(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    assert_non_null(d);
    return d;
}

static void *memdup(const void *p, size_t len)
{
    void *d = malloc(len ? len : 1);
    assert_non_null(d);
    if (len)
        memcpy(d, p, len);
    return d;
}

static void copy_node(tree_node *d, const tree_node *s)
{
    *d = *s;
    d->name = dupz(s->name);
    d->user = dupz(s->user);
    d->group = dupz(s->group);
    d->target = dupz(s->target);
    d->xattrs = s->n_xattrs ? calloc(s->n_xattrs, sizeof *d->xattrs) : NULL;
    for (uint32_t i = 0; i < s->n_xattrs; i++) {
        d->xattrs[i].name = dupz(s->xattrs[i].name);
        d->xattrs[i].value =
            memdup(s->xattrs[i].value, s->xattrs[i].value_len);
        d->xattrs[i].value_len = s->xattrs[i].value_len;
    }
    d->content = s->n_content
                     ? memdup(s->content, s->n_content * sizeof *s->content)
                     : NULL;
}

static vault_error fake_load_tree(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                                  tree *out)
{
    char hex[2 * CHUNK_ID_BYTES + 1];
    vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
    fake_obj *o = fake_find(ctx, id);
    if (!o)
        return vlt_fail(VAULT_E_NOT_FOUND, "tree %s: not in the vault",
                        hex);
    if (!o->is_tree)
        return vlt_fail(VAULT_E_CORRUPT, "tree %s: not a tree", hex);
    fake *f = ctx;
    if (f->slow_us) {
        pthread_mutex_lock(&f->mu);
        f->trees_loaded++;
        pthread_cond_broadcast(&f->tree_loaded);
        pthread_mutex_unlock(&f->mu);
    }
    out->n_nodes = o->t.n_nodes;
    out->nodes = calloc(o->t.n_nodes ? o->t.n_nodes : 1, sizeof *out->nodes);
    assert_non_null(out->nodes);
    for (uint32_t i = 0; i < o->t.n_nodes; i++)
        copy_node(&out->nodes[i], &o->t.nodes[i]);
    return VAULT_OK;
}

static vault_error fake_load_chunk(void *ctx,
                                   const uint8_t id[CHUNK_ID_BYTES],
                                   uint8_t **data, size_t *len)
{
    char hex[2 * CHUNK_ID_BYTES + 1];
    vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
    fake_obj *o = fake_find(ctx, id);
    if (!o || o->is_tree)
        return vlt_fail(VAULT_E_NOT_FOUND, "chunk %s: not in the vault",
                        hex);
    if (o->fail)
        return vlt_fail(VAULT_E_CORRUPT, "chunk %s: authentication failed",
                        hex);
    fake *f = ctx;
    if (f->slow_us) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 5;
        pthread_mutex_lock(&f->mu);
        while (!pthread_equal(pthread_self(), f->walker) &&
               f->trees_loaded < f->hold_trees &&
               pthread_cond_timedwait(&f->tree_loaded, &f->mu, &until) == 0)
            ;
        pthread_mutex_unlock(&f->mu);
        usleep(f->slow_us);
        int fds = open_fds();
        pthread_mutex_lock(&f->mu);
        if (fds > f->max_fds)
            f->max_fds = fds;
        pthread_mutex_unlock(&f->mu);
    }
    if (f->know_zeros && o->len && o->data[0] == 0 &&
        memcmp(o->data, o->data + 1, o->len - 1) == 0)
        f->zero_loads++;
    *data = memdup(o->data, o->len);
    *len = o->len;
    return VAULT_OK;
}

static vault_error fake_chunk_size(void *ctx,
                                   const uint8_t id[CHUNK_ID_BYTES],
                                   uint32_t *len, int *zero)
{
    fake_obj *o = fake_find(ctx, id);
    if (!o || o->is_tree)
        return vlt_fail(VAULT_E_NOT_FOUND, "chunk: not in the vault");
    *len = (uint32_t)o->len;
    *zero = o->len && o->data[0] == 0 &&
            memcmp(o->data, o->data + 1, o->len - 1) == 0;
    return VAULT_OK;
}

/* ---- building nodes ----------------------------------------------------- */

static tree_node mk(node_type type, const char *name, uint32_t mode)
{
    tree_node n;
    memset(&n, 0, sizeof n);
    n.type = type;
    n.name = dupz(name);
    n.mode = mode;
    n.uid = (uint32_t)getuid();
    n.gid = (uint32_t)getgid();
    n.user = dupz("");
    n.group = dupz("");
    n.mtime_sec = 1500000000;
    n.mtime_nsec = 250000000;
    n.nlink = 1;
    return n;
}

/* Appends a chunk holding data to file n. */
static void add_chunk(fake *f, tree_node *n, const void *data, size_t len)
{
    n->content = realloc(n->content, (n->n_content + 1) * sizeof *n->content);
    assert_non_null(n->content);
    fake_chunk(f, data, len, n->content[n->n_content++]);
    n->size += len;
}

static tree_node mk_file(fake *f, const char *name, uint32_t mode,
                         const char *text)
{
    tree_node n = mk(NODE_FILE, name, mode);
    if (text[0])
        add_chunk(f, &n, text, strlen(text));
    return n;
}

static tree_node mk_dir(const char *name, uint32_t mode,
                        const uint8_t sub[CHUNK_ID_BYTES])
{
    tree_node n = mk(NODE_DIR, name, mode);
    memcpy(n.subtree, sub, CHUNK_ID_BYTES);
    return n;
}

static tree_node mk_symlink(const char *name, const char *target)
{
    tree_node n = mk(NODE_SYMLINK, name, 0777);
    n.target = dupz(target);
    return n;
}

static void add_xattr(tree_node *n, const char *name, const void *value,
                      uint32_t len)
{
    n->xattrs = realloc(n->xattrs, (n->n_xattrs + 1) * sizeof *n->xattrs);
    assert_non_null(n->xattrs);
    node_xattr *x = &n->xattrs[n->n_xattrs++];
    x->name = dupz(name);
    x->value = memdup(value, len);
    x->value_len = len;
}

typedef struct fixture fixture;
static vault_error run_tar(fixture *fx, const uint8_t root[CHUNK_ID_BYTES],
                           char **tar_path);

/* ---- running and checking ----------------------------------------------- */

#define LOG_MAX 32

typedef struct errlog {
    size_t n;
    char path[LOG_MAX][512];
    vault_error code[LOG_MAX];
    char detail[LOG_MAX][512];
} errlog;

/* Called on every report, before it is logged: lets a test act as a
 * concurrent attacker in the middle of a restore. */
static void (*error_hook)(const char *path);

static void on_error(void *ctx, const char *path, vault_error code,
                     const char *detail)
{
    errlog *log = ctx;
    if (error_hook)
        error_hook(path);
    printf("# restore error: %.200s: %s: %s\n", path, vault_strerror(code),
           detail);
    if (log->n < LOG_MAX) {
        snprintf(log->path[log->n], sizeof log->path[0], "%s", path);
        snprintf(log->detail[log->n], sizeof log->detail[0], "%s", detail);
        log->code[log->n] = code;
    }
    log->n++;
}

/* Index of the report about path, or -1. */
static int log_find(const errlog *log, const char *path)
{
    for (size_t i = 0; i < log->n && i < LOG_MAX; i++)
        if (strcmp(log->path[i], path) == 0)
            return (int)i;
    return -1;
}

static void assert_reported(const errlog *log, const char *path,
                            vault_error code)
{
    int i = log_find(log, path);
    if (i < 0)
        fail_msg("no error reported for \"%s\"", path);
    if (log->code[i] != code)
        fail_msg("\"%s\": expected %s, got %s (%s)", path,
                 vault_strerror(code), vault_strerror(log->code[i]),
                 log->detail[i]);
}

typedef struct run_args {
    int tar_fd;
    int overwrite;
    int restore_owner;
    int drop_privileges;
    const char *const *include;
    size_t n_include;
} run_args;

/* Worker threads every restore gets: main runs the tests without, then
 * with (directory mode; tar mode ignores them). */
static unsigned test_workers;

static vault_error run(fake *f, const uint8_t root[CHUNK_ID_BYTES],
                       const char *target, const run_args *a,
                       restore_stats *st, errlog *log)
{
    restore_source src = {fake_load_tree, fake_load_chunk,
                          f->know_zeros ? fake_chunk_size : NULL, f,
                          NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0};
    restore_options opt = {0};
    opt.target_dir = target;
    opt.tar_fd = a ? a->tar_fd : -1;
    if (a) {
        opt.overwrite = a->overwrite;
        opt.restore_owner = a->restore_owner;
        opt.drop_privileges = a->drop_privileges;
        opt.include = a->include;
        opt.n_include = a->n_include;
    }
    opt.on_error = on_error;
    opt.on_error_ctx = log;
    opt.workers = test_workers;
    memset(log, 0, sizeof *log);
    return vlt_restore_run(&src, root, &opt, st);
}

static char *join(const char *dir, const char *rel)
{
    size_t len = strlen(dir) + 1 + strlen(rel) + 1;
    char *p = malloc(len);
    assert_non_null(p);
    snprintf(p, len, "%s/%s", dir, rel);
    return p;
}

static void mkdir_in(const char *dir, const char *rel)
{
    char *p = join(dir, rel);
    assert_int_equal(mkdir(p, 0755), 0);
    free(p);
}

static void write_in(const char *dir, const char *rel, const char *text)
{
    char *p = join(dir, rel);
    test_write_file(p, text, strlen(text));
    free(p);
}

static void symlink_in(const char *dir, const char *rel, const char *target)
{
    char *p = join(dir, rel);
    assert_int_equal(symlink(target, p), 0);
    free(p);
}

/* The content of dir/rel, which must be a regular file. */
static int file_is(const char *dir, const char *rel, const char *text)
{
    char *p = join(dir, rel);
    struct stat st;
    int ok = lstat(p, &st) == 0 && S_ISREG(st.st_mode);
    if (ok) {
        size_t len;
        uint8_t *data = test_read_file(p, &len);
        ok = len == strlen(text) && memcmp(data, text, len) == 0;
        free(data);
    }
    free(p);
    return ok;
}

static int exists_in(const char *dir, const char *rel)
{
    char *p = join(dir, rel);
    struct stat st;
    int ok = lstat(p, &st) == 0;
    free(p);
    return ok;
}

static mode_t type_in(const char *dir, const char *rel)
{
    char *p = join(dir, rel);
    struct stat st;
    if (lstat(p, &st) != 0)
        fail_msg("%s: %s", p, strerror(errno));
    free(p);
    return st.st_mode & S_IFMT;
}

/* No temporary file is left anywhere below dir. */
static void assert_no_temps(const char *dir)
{
    if (test_run("find '%s' -name '*.vault-tmp-*' | grep -q .", dir) == 0)
        fail_msg("temporary files left in %s", dir);
}

/* The names in dir, sorted, joined with '|' (for "untouched" checks). */
static char *listing(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' | tr '\\n' '|'", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *buf = calloc(1, 4096);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 4095, p);
    buf[n] = '\0';
    pclose(p);
    return buf;
}

/* ---- the everything tree ------------------------------------------------ */

#define EXPECT_MAX 128

typedef struct expect {
    char path[600];
    node_type type;
    uint32_t mode;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint8_t *data; /* files */
    size_t len;
    const char *target;  /* symlinks */
    const char *link_to; /* hardlinks: the first path */
} expect;

typedef struct expectations {
    expect e[EXPECT_MAX];
    size_t n;
} expectations;

static void expect_node(expectations *x, const char *path, const tree_node *n,
                        const uint8_t *data, size_t len)
{
    assert_true(x->n < EXPECT_MAX);
    expect *e = &x->e[x->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->path, sizeof e->path, "%s", path);
    e->type = n->type;
    e->mode = n->mode;
    e->mtime_sec = n->mtime_sec;
    e->mtime_nsec = n->mtime_nsec;
    if (len)
        e->data = memdup(data, len);
    e->len = len;
    e->target = n->target;
}

static void expectations_free(expectations *x)
{
    for (size_t i = 0; i < x->n; i++)
        free(x->e[i].data);
}

/* A file of one text chunk at path (its name is path's last part). */
static tree_node text_file(fake *f, expectations *x, const char *path,
                           uint32_t mode, const char *text)
{
    const char *slash = strrchr(path, '/');
    tree_node n = mk_file(f, slash ? slash + 1 : path, mode, text);
    expect_node(x, path, &n, (const uint8_t *)text, strlen(text));
    return n;
}

#define SPARSE_DATA (64 * 1024)
#define SPARSE_HOLE (4 * 1024 * 1024)

/* A root tree with every kind of entry (but devices and xattrs, which
 * depend on the machine), and what restoring it must give. */
static void build_everything(fake *f, expectations *x,
                             uint8_t root[CHUNK_ID_BYTES])
{
    tree_node top[32];
    uint32_t n = 0;
    uint8_t id[CHUNK_ID_BYTES];

    /* A hardlinked pair: "hl1" here, "sub/hl2" below. */
    top[n] = text_file(f, x, "hl1", 0644, "linked content\n");
    top[n].nlink = 2;
    top[n].inode = 4242;
    top[n].device = 7;
    n++;

    top[n] = text_file(f, x, "empty", 0600, "");
    top[n].mtime_sec = 1000000000;
    top[n].mtime_nsec = 0;
    x->e[x->n - 1].mtime_sec = 1000000000;
    x->e[x->n - 1].mtime_nsec = 0;
    n++;
    top[n] = text_file(f, x, "hello.txt", 0640, "hello\n");
    n++;

    /* Multi-chunk, and sparse: data, a 4 MiB zero chunk, data. */
    {
        uint8_t *a = malloc(SPARSE_DATA), *b = malloc(SPARSE_DATA);
        uint8_t *zero = calloc(1, SPARSE_HOLE);
        assert_true(a && b && zero);
        for (size_t i = 0; i < SPARSE_DATA; i++) {
            a[i] = (uint8_t)(i * 7 + 1);
            b[i] = (uint8_t)(i * 13 + 5);
        }
        size_t total = 2 * SPARSE_DATA + SPARSE_HOLE;
        uint8_t *all = malloc(total);
        assert_non_null(all);
        memcpy(all, a, SPARSE_DATA);
        memset(all + SPARSE_DATA, 0, SPARSE_HOLE);
        memcpy(all + SPARSE_DATA + SPARSE_HOLE, b, SPARSE_DATA);

        tree_node m = mk(NODE_FILE, "multi", 0644);
        add_chunk(f, &m, a, 1000);
        add_chunk(f, &m, b, 3000);
        add_chunk(f, &m, a + 1000, 5000);
        uint8_t multi[9000];
        memcpy(multi, a, 1000);
        memcpy(multi + 1000, b, 3000);
        memcpy(multi + 4000, a + 1000, 5000);
        expect_node(x, "multi", &m, multi, sizeof multi);
        top[n++] = m;

        tree_node s = mk(NODE_FILE, "sparse", 0644);
        add_chunk(f, &s, a, SPARSE_DATA);
        add_chunk(f, &s, zero, SPARSE_HOLE);
        add_chunk(f, &s, b, SPARSE_DATA);
        expect_node(x, "sparse", &s, all, total);
        top[n++] = s;

        /* Ending in a hole: the size comes from ftruncate. */
        tree_node t = mk(NODE_FILE, "tailhole", 0644);
        add_chunk(f, &t, a, SPARSE_DATA);
        add_chunk(f, &t, zero, SPARSE_HOLE);
        expect_node(x, "tailhole", &t, all, SPARSE_DATA + SPARSE_HOLE);
        top[n++] = t;
        free(a);
        free(b);
        free(zero);
        free(all);
    }

    /* Odd but legal names. */
    top[n++] = text_file(f, x, "with space", 0644, "space\n");
    top[n++] = text_file(f, x, "new\nline", 0644, "newline\n");
    top[n++] = text_file(f, x, "-leading-dash", 0644, "dash\n");
    top[n++] = text_file(f, x, "\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9 \xe2\x9c\x93",
                         0644, "unicode\n");

    /* 50 nested directories, a file at the bottom. */
    {
        char path[600] = "deep";
        for (int i = 1; i < 50; i++) {
            size_t len = strlen(path);
            snprintf(path + len, sizeof path - len, "/d%d", i);
        }
        char leaf_path[620];
        snprintf(leaf_path, sizeof leaf_path, "%s/leaf", path);
        tree_node leaf = text_file(f, x, leaf_path, 0444, "deep down\n");
        fake_tree(f, &leaf, 1, id);
        for (int i = 49; i >= 0; i--) {
            char *slash = strrchr(path, '/');
            const char *name = slash ? slash + 1 : path;
            tree_node d = mk_dir(name, 0755, id);
            d.mtime_sec = 1400000000 + i;
            expect_node(x, path, &d, NULL, 0);
            if (i == 0) {
                top[n++] = d;
            } else {
                fake_tree(f, &d, 1, id);
                *slash = '\0';
            }
        }
    }

    tree_node l = mk_symlink("link", "hello.txt");
    l.mtime_sec = 1300000000;
    l.mtime_nsec = 0;
    expect_node(x, "link", &l, NULL, 0);
    top[n++] = l;
    l = mk_symlink("dangling", "/nonexistent/target");
    l.mtime_sec = 1300000001;
    l.mtime_nsec = 0;
    expect_node(x, "dangling", &l, NULL, 0);
    top[n++] = l;

    tree_node fifo = mk(NODE_FIFO, "fifo", 0640);
    expect_node(x, "fifo", &fifo, NULL, 0);
    top[n++] = fifo;

    /* Skipped, silently. */
    top[n++] = mk(NODE_SOCKET, "sock", 0755);

    /* Mode 0500: its children must be restored all the same. */
    {
        tree_node kids[2];
        kids[0] = text_file(f, x, "ro/inner", 0400, "read only\n");
        kids[1] = text_file(f, x, "ro/other", 0644, "other\n");
        fake_tree(f, kids, 2, id);
        tree_node d = mk_dir("ro", 0500, id);
        d.mtime_sec = 1200000000;
        d.mtime_nsec = 5;
        expect_node(x, "ro", &d, NULL, 0);
        top[n++] = d;
    }

    {
        tree_node kids[2];
        kids[0] = text_file(f, x, "sub/x", 0644, "x\n");
        kids[1] = mk_file(f, "hl2", 0644, "linked content\n");
        kids[1].nlink = 2;
        kids[1].inode = 4242;
        kids[1].device = 7;
        expect_node(x, "sub/hl2", &kids[1], (const uint8_t *)"linked content\n",
                    15);
        x->e[x->n - 1].link_to = "hl1";
        fake_tree(f, kids, 2, id);
        tree_node d = mk_dir("sub", 0750, id);
        d.mtime_sec = 1100000000;
        expect_node(x, "sub", &d, NULL, 0);
        top[n++] = d;
    }
    assert_true(n <= VAULT_ARRAY_SIZE(top));
    fake_tree(f, top, n, root);
}

static void check_stats_everything(const restore_stats *st)
{
    /* hl1 empty hello multi sparse tailhole 4 odd names, leaf, ro/2,
     * sub/x sub/hl2 */
    assert_int_equal(st->files, 15);
    assert_int_equal(st->dirs, 50 + 2);
    assert_int_equal(st->symlinks, 2);
    assert_int_equal(st->others, 1);
    assert_int_equal(st->errors, 0);
}

/* Compares what is under dir with the expectations. */
static void check_everything(const char *dir, const expectations *x,
                             int check_modes, int check_symlink_times)
{
    for (size_t i = 0; i < x->n; i++) {
        const expect *e = &x->e[i];
        char *p = join(dir, e->path);
        struct stat st;
        if (lstat(p, &st) != 0)
            fail_msg("%s: %s", e->path, strerror(errno));
        mode_t want = e->type == NODE_FILE      ? S_IFREG
                      : e->type == NODE_DIR     ? S_IFDIR
                      : e->type == NODE_SYMLINK ? S_IFLNK
                                                : S_IFIFO;
        if ((st.st_mode & S_IFMT) != want)
            fail_msg("%s: type %o, expected %o", e->path,
                     st.st_mode & S_IFMT, want);
        if (check_modes && e->type != NODE_SYMLINK &&
            (st.st_mode & 07777) != e->mode)
            fail_msg("%s: mode %04o, expected %04o", e->path,
                     st.st_mode & 07777, e->mode);
        if (e->type != NODE_SYMLINK || check_symlink_times) {
            if (st.st_mtim.tv_sec != e->mtime_sec ||
                (check_symlink_times &&
                 st.st_mtim.tv_nsec != (long)e->mtime_nsec))
                fail_msg("%s: mtime %lld.%09ld, expected %lld.%09u", e->path,
                         (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                         (long long)e->mtime_sec, e->mtime_nsec);
        }
        if (e->type == NODE_FILE) {
            assert_int_equal(st.st_size, e->len);
            size_t len;
            uint8_t *data = test_read_file(p, &len);
            if (len != e->len || (len && memcmp(data, e->data, len) != 0))
                fail_msg("%s: content differs", e->path);
            free(data);
        }
        if (e->type == NODE_SYMLINK) {
            char buf[4096];
            ssize_t len = readlink(p, buf, sizeof buf - 1);
            assert_true(len > 0);
            buf[len] = '\0';
            assert_string_equal(buf, e->target);
        }
        if (e->link_to) {
            char *q = join(dir, e->link_to);
            struct stat first;
            assert_int_equal(lstat(q, &first), 0);
            assert_int_equal(first.st_ino, st.st_ino);
            assert_int_equal(st.st_nlink, 2);
            free(q);
        }
        free(p);
    }
    assert_false(exists_in(dir, "sock"));
}

/* ---- fixture ------------------------------------------------------------ */

struct fixture {
    char *dir; /* fresh temporary directory */
    char *target;
    fake f;
    errlog log;
    restore_stats st;
};

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->dir = test_tempdir();
    fx->target = join(fx->dir, "target");
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    error_hook = NULL;
    /* Give rm -rf back its way into read-only directories. */
    test_run("chmod -R u+rwx '%s' 2>/dev/null", fx->dir);
    test_rmtree(fx->dir);
    free(fx->target);
    fake_free(&fx->f);
    free(fx);
    return 0;
}

/* ---- directory mode ----------------------------------------------------- */

static void test_everything(void **state)
{
    fixture *fx = *state;
    expectations x = {0};
    uint8_t root[CHUNK_ID_BYTES];
    build_everything(&fx->f, &x, root);

    assert_vault_ok(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log));
    check_stats_everything(&fx->st);
    uint64_t bytes = 0;
    for (size_t i = 0; i < x.n; i++)
        if (x.e[i].type == NODE_FILE && !x.e[i].link_to)
            bytes += x.e[i].len;
    assert_int_equal(fx->st.bytes, bytes);
    check_everything(fx->target, &x, 1, 1);
    assert_no_temps(fx->target);

    /* The holes are holes. */
    char *p = join(fx->target, "sparse");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true((uint64_t)st.st_blocks * 512 <
                (uint64_t)st.st_size - SPARSE_HOLE / 2);
    free(p);
    p = join(fx->target, "tailhole");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, SPARSE_DATA + SPARSE_HOLE);
    assert_true((uint64_t)st.st_blocks * 512 < SPARSE_HOLE / 2);
    free(p);

    /* Restoring again into the same place (an interrupted restore run
     * again): directories merge, and every entry is already there as
     * the snapshot has it, so it is left alone and counted. */
    restore_stats st2;
    assert_vault_ok(run(&fx->f, root, fx->target, NULL, &st2, &fx->log));
    assert_int_equal(st2.dirs, 52);
    assert_int_equal(fx->log.n, 0);
    assert_int_equal(st2.skipped, 15 + 2 + 1);
    assert_int_equal(st2.files + st2.symlinks + st2.others, 0);
    assert_int_equal(st2.differ, 0);
    assert_no_temps(fx->target);
    check_everything(fx->target, &x, 1, 1);

    /* An entry that differs (another mtime) is left alone and reported
     * as existing. */
    char *changed = join(fx->target, "sparse");
    struct timespec old_times[2] = {{0, UTIME_OMIT}, {12345, 0}};
    assert_int_equal(utimensat(AT_FDCWD, changed, old_times, 0), 0);
    free(changed);
    assert_vault_code(run(&fx->f, root, fx->target, NULL, &st2, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->log.n, 1);
    assert_int_equal(fx->log.code[0], VAULT_E_EXISTS);
    assert_int_equal(st2.differ, 1);
    assert_int_equal(st2.skipped, 15 + 2 + 1 - 1);
    assert_no_temps(fx->target);

    /* ... and with overwrite, all replaced. */
    run_args a = {.tar_fd = -1, .overwrite = 1};
    assert_vault_ok(run(&fx->f, root, fx->target, &a, &st2, &fx->log));
    check_everything(fx->target, &x, 1, 1);
    expectations_free(&x);
}

/* Enough hardlinked inodes to make the link table grow. */
static void test_many_hardlinks(void **state)
{
    fixture *fx = *state;
    enum { PAIRS = 300 };
    uint8_t root[CHUNK_ID_BYTES];
    tree_node *nodes = calloc(2 * PAIRS, sizeof *nodes);
    assert_non_null(nodes);
    for (int i = 0; i < 2 * PAIRS; i++) {
        char name[16], text[16];
        snprintf(name, sizeof name, "%c%d", i < PAIRS ? 'a' : 'b', i % PAIRS);
        snprintf(text, sizeof text, "%d\n", i % PAIRS);
        nodes[i] = mk_file(&fx->f, name, 0644, text);
        nodes[i].nlink = 2;
        nodes[i].inode = (uint64_t)(i % PAIRS) << 32; /* colliding hashes */
        nodes[i].device = 3;
    }
    fake_tree(&fx->f, nodes, 2 * PAIRS, root);
    free(nodes);

    assert_vault_ok(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log));
    assert_int_equal(fx->st.files, 2 * PAIRS);
    assert_int_equal(fx->st.bytes, 10 * 2 + 90 * 3 + 200 * 4); /* once */
    for (int i = 0; i < PAIRS; i++) {
        char a[4200], b[4200];
        snprintf(a, sizeof a, "%s/a%d", fx->target, i);
        snprintf(b, sizeof b, "%s/b%d", fx->target, i);
        struct stat sa, sb;
        assert_int_equal(lstat(a, &sa), 0);
        assert_int_equal(lstat(b, &sb), 0);
        assert_int_equal(sa.st_ino, sb.st_ino);
    }
}

/* With workers, the walker leaves a directory while its files are still
 * being written: the directory gets its metadata when its last file is
 * done, after its subdirectories, and no more than RESTORE_OPEN_DIRS_MAX
 * of them stay open.  Each of many branches is a chain of directories
 * with one slow file at the bottom, so every queued file keeps a whole
 * chain open. */
static void test_many_directories(void **state)
{
    fixture *fx = *state;
    enum { BRANCHES = 100, DEPTH = 4 };
    assert_int_equal(pthread_mutex_init(&fx->f.mu, NULL), 0);
    assert_int_equal(pthread_cond_init(&fx->f.tree_loaded, NULL), 0);
    tree_node *top = calloc(BRANCHES, sizeof *top);
    assert_non_null(top);
    for (int b = 0; b < BRANCHES; b++) {
        char text[32];
        snprintf(text, sizeof text, "branch %d\n", b);
        tree_node below = mk_file(&fx->f, "f", 0640, text);
        uint8_t sub[CHUNK_ID_BYTES];
        for (int level = DEPTH - 1; level >= 0; level--) {
            fake_tree(&fx->f, &below, 1, sub);
            char name[16];
            snprintf(name, sizeof name, "b%03d", b);
            below = mk_dir(level ? "d" : name, 0750, sub);
            below.mtime_sec = 1400000000 + b * DEPTH + level;
        }
        top[b] = below;
    }
    uint8_t root[CHUNK_ID_BYTES];
    fake_tree(&fx->f, top, BRANCHES, root);
    free(top);

    fx->f.slow_us = 2000;
    fx->f.walker = pthread_self(); /* vlt_restore_run's caller walks */
    fx->f.hold_trees = 1 + BRANCHES * DEPTH; /* all of them */
    int before = open_fds();
    assert_vault_ok(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log));
    assert_int_equal(fx->st.files, BRANCHES);
    assert_int_equal(fx->st.dirs, BRANCHES * DEPTH);
    assert_int_equal(open_fds(), before);
    for (int b = 0; b < BRANCHES; b++) {
        char rel[64], text[32];
        int len = snprintf(rel, sizeof rel, "b%03d", b);
        for (int level = 0; level < DEPTH; level++) {
            if (level)
                len += snprintf(rel + len, sizeof rel - (size_t)len, "/d");
            char *p = join(fx->target, rel);
            struct stat st;
            assert_int_equal(lstat(p, &st), 0);
            assert_true(S_ISDIR(st.st_mode));
            assert_int_equal(st.st_mode & 07777, 0750);
            if (st.st_mtime != 1400000000 + b * DEPTH + level)
                fail_msg("%s: mtime %lld", p, (long long)st.st_mtime);
            free(p);
        }
        snprintf(rel + len, sizeof rel - (size_t)len, "/f");
        snprintf(text, sizeof text, "branch %d\n", b);
        assert_true(file_is(fx->target, rel, text));
    }
    assert_no_temps(fx->target);
    /* Bounded: the open directories, the walk's own (DEPTH + the
     * target), each worker's file. */
    int most = fx->f.max_fds - before;
    printf("# most descriptors open while restoring: %d more\n", most);
    assert_true(most <= RESTORE_OPEN_DIRS_MAX + DEPTH + 1 + 8);
    /* ... and the walker did run ahead of the files. */
    if (test_workers)
        assert_true(most > 64);
    pthread_cond_destroy(&fx->f.tree_loaded);
    pthread_mutex_destroy(&fx->f.mu);
}

/* Probes whether the file system under dir takes user.* xattrs. */
static int xattrs_supported(const char *dir)
{
    char *p = join(dir, "probe");
    test_write_file(p, "", 0);
    int ok = setxattr(p, "user.vault-probe", "1", 1, 0) == 0;
    unlink(p);
    free(p);
    return ok;
}

static void test_xattrs(void **state)
{
    fixture *fx = *state;
    if (!xattrs_supported(fx->dir)) {
        printf("# note: %s does not take user.* xattrs; xattr test "
               "skipped\n",
               fx->dir);
        skip();
    }
    uint8_t id[CHUNK_ID_BYTES], root[CHUNK_ID_BYTES];
    static const uint8_t binary[] = {0, 1, 2, 0xff, 0};
    tree_node inner = mk_file(&fx->f, "f", 0400, "attrs\n");
    add_xattr(&inner, "user.a", "1", 1);
    add_xattr(&inner, "user.binary", binary, sizeof binary);
    add_xattr(&inner, "user.empty", "", 0);
    fake_tree(&fx->f, &inner, 1, id);
    tree_node top = mk_dir("d", 0555, id);
    add_xattr(&top, "user.dir", "yes", 3);
    fake_tree(&fx->f, &top, 1, root);

    assert_vault_ok(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log));
    char *d = join(fx->target, "d"), *f = join(fx->target, "d/f");
    char buf[64];
    assert_int_equal(getxattr(d, "user.dir", buf, sizeof buf), 3);
    assert_memory_equal(buf, "yes", 3);
    assert_int_equal(getxattr(f, "user.a", buf, sizeof buf), 1);
    assert_memory_equal(buf, "1", 1);
    assert_int_equal(getxattr(f, "user.binary", buf, sizeof buf),
                     sizeof binary);
    assert_memory_equal(buf, binary, sizeof binary);
    assert_int_equal(getxattr(f, "user.empty", buf, sizeof buf), 0);
    struct stat st;
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0400);
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0555);
    assert_int_equal(st.st_mtim.tv_sec, 1500000000);
    free(d);
    free(f);
}

/* Set-id bits and owners: only together. */
static void test_owner_and_setid(void **state)
{
    fixture *fx = *state;
    uint8_t root[CHUNK_ID_BYTES];
    tree_node nodes[2];
    nodes[0] = mk_file(&fx->f, "suid", 04755, "#!/bin/sh\n");
    nodes[0].uid = 1234;
    nodes[0].gid = 5678;
    nodes[1] = mk(NODE_FIFO, "fifo", 0620);
    nodes[1].uid = 1234;
    nodes[1].gid = 5678;
    fake_tree(&fx->f, nodes, 2, root);

    assert_vault_ok(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log));
    char *p = join(fx->target, "suid");
    struct stat st;
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0755); /* set-uid dropped */
    assert_int_equal(st.st_uid, geteuid());

    if (geteuid() != 0) {
        printf("# note: not root; restore_owner not tested\n");
        free(p);
        return;
    }
    run_args a = {.tar_fd = -1, .overwrite = 1, .restore_owner = 1};
    assert_vault_ok(run(&fx->f, root, fx->target, &a, &fx->st, &fx->log));
    assert_int_equal(lstat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 04755);
    assert_int_equal(st.st_uid, 1234);
    assert_int_equal(st.st_gid, 5678);
    free(p);
    p = join(fx->target, "fifo");
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0620);
    assert_int_equal(st.st_uid, 1234);
    free(p);
}

/* Devices need privilege: restored, or reported - never silently lost. */
static void test_devices(void **state)
{
    fixture *fx = *state;
    uint8_t root[CHUNK_ID_BYTES];
    tree_node nodes[2];
    nodes[0] = mk(NODE_CHARDEV, "null", 0666);
    nodes[0].rdev = makedev(1, 3);
    nodes[1] = mk(NODE_BLOCKDEV, "loop", 0660);
    nodes[1].rdev = makedev(7, 0);
    fake_tree(&fx->f, nodes, 2, root);

    vault_error rc = run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log);
    const char *names[2] = {"null", "loop"};
    mode_t types[2] = {S_IFCHR, S_IFBLK};
    dev_t rdevs[2] = {makedev(1, 3), makedev(7, 0)};
    size_t made = 0;
    for (int i = 0; i < 2; i++) {
        char *p = join(fx->target, names[i]);
        struct stat st;
        if (lstat(p, &st) == 0) {
            made++;
            assert_int_equal(st.st_mode & S_IFMT, types[i]);
            assert_int_equal(st.st_rdev, rdevs[i]);
        } else {
            assert_reported(&fx->log, names[i], VAULT_E_IO);
        }
        free(p);
    }
    printf("# %zu of 2 device nodes could be made here\n", made);
    assert_int_equal(fx->st.others, made);
    assert_int_equal(fx->st.errors, 2 - made);
    assert_int_equal(rc, made == 2 ? VAULT_OK : VAULT_E_PARTIAL);
    assert_no_temps(fx->target);
}

/* One damaged chunk: that file is missing, everything else is there. */
static void test_chunk_failure(void **state)
{
    fixture *fx = *state;
    uint8_t root[CHUNK_ID_BYTES];
    tree_node nodes[3];
    nodes[0] = mk_file(&fx->f, "a", 0644, "first\n");
    nodes[1] = mk_file(&fx->f, "b", 0644, "one ");
    add_chunk(&fx->f, &nodes[1], "two ", 4);
    add_chunk(&fx->f, &nodes[1], "three\n", 6);
    nodes[2] = mk_file(&fx->f, "c", 0644, "last\n");
    fake_find(&fx->f, nodes[1].content[1])->fail = 1;
    char bad_hex[2 * CHUNK_ID_BYTES + 1];
    vlt_hex_encode(nodes[1].content[1], CHUNK_ID_BYTES, bad_hex);
    fake_tree(&fx->f, nodes, 3, root);

    assert_vault_code(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 1);
    assert_int_equal(fx->st.files, 2);
    assert_int_equal(fx->log.n, 1);
    assert_reported(&fx->log, "b", VAULT_E_CORRUPT);
    assert_non_null(strstr(fx->log.detail[0], bad_hex));
    assert_true(file_is(fx->target, "a", "first\n"));
    assert_true(file_is(fx->target, "c", "last\n"));
    assert_false(exists_in(fx->target, "b"));
    assert_no_temps(fx->target);
}

/* Trees that lie: missing subtree, content longer or shorter than the
 * size recorded. */
static void test_damaged_items(void **state)
{
    fixture *fx = *state;
    uint8_t missing[CHUNK_ID_BYTES], id[CHUNK_ID_BYTES],
        root[CHUNK_ID_BYTES];
    memset(missing, 0xab, sizeof missing);
    tree_node inner = mk_file(&fx->f, "fine", 0644, "fine\n");
    fake_tree(&fx->f, &inner, 1, id);

    tree_node nodes[5];
    nodes[0] = mk_dir("gone", 0755, missing);
    nodes[1] = mk_file(&fx->f, "long", 0644, "0123456789");
    nodes[1].size = 5;
    nodes[2] = mk_file(&fx->f, "short", 0644, "01234");
    nodes[2].size = 10;
    nodes[3] = mk_dir("kept", 0755, id);
    nodes[4] = mk_symlink("notarget", "x");
    free(nodes[4].target);
    nodes[4].target = NULL;
    fake_tree(&fx->f, nodes, 5, root);

    assert_vault_code(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 4);
    assert_reported(&fx->log, "gone", VAULT_E_NOT_FOUND);
    assert_reported(&fx->log, "long", VAULT_E_CORRUPT);
    assert_reported(&fx->log, "short", VAULT_E_CORRUPT);
    assert_reported(&fx->log, "notarget", VAULT_E_CORRUPT);
    assert_false(exists_in(fx->target, "gone"));
    assert_false(exists_in(fx->target, "long"));
    assert_false(exists_in(fx->target, "short"));
    assert_false(exists_in(fx->target, "notarget"));
    assert_true(file_is(fx->target, "kept/fine", "fine\n"));
    assert_no_temps(fx->target);

    /* A root tree that cannot be loaded stops everything. */
    assert_vault_code(
        run(&fx->f, missing, fx->target, NULL, &fx->st, &fx->log),
        VAULT_E_NOT_FOUND);
    assert_non_null(strstr(vault_last_error(), "root tree"));
}

/* A tree that contains itself (only a hostile vault can make one: IDs
 * are MACs of the content) stops at the depth limit, in both modes. */
static void test_tree_cycle(void **state)
{
    fixture *fx = *state;
    uint8_t root[CHUNK_ID_BYTES], self[CHUNK_ID_BYTES];
    char label[32];
    snprintf(label, sizeof label, "tree %u", fx->f.trees); /* the next ID */
    crypto_hash_sha256(self, (const uint8_t *)label, strlen(label));
    tree_node loop = mk_dir("loop", 0755, self);
    fake_tree(&fx->f, &loop, 1, root);
    assert_memory_equal(root, self, CHUNK_ID_BYTES);

    assert_vault_code(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 1);
    assert_int_equal(fx->log.code[0], VAULT_E_UNSUPPORTED);
    assert_true(fx->st.dirs > 100);

    char *tar_path;
    uint64_t dirs = fx->st.dirs;
    assert_vault_code(run_tar(fx, root, &tar_path), VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 1);
    assert_int_equal(fx->st.dirs, dirs);
    free(tar_path);
}

static const char *const evil_names[] = {"../x", "/abs", "a/b", ".", "..",
                                         ""};

/* Hostile names: refused one by one; nothing appears outside the target
 * (created by the restore here) or inside it. */
static void test_malicious_names(void **state)
{
    fixture *fx = *state;
    uint8_t id[CHUNK_ID_BYTES], root[CHUNK_ID_BYTES];
    mkdir_in(fx->dir, "outside");
    write_in(fx->dir, "outside/victim", "original\n");

    tree_node nodes[12];
    uint32_t n = 0;
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(evil_names); i++)
        nodes[n++] = mk_file(&fx->f, evil_names[i], 0644, "evil\n");
    tree_node esc = mk_file(&fx->f, "escaped", 0644, "evil\n");
    fake_tree(&fx->f, &esc, 1, id);
    nodes[n++] = mk_dir("..", 0755, id);
    nodes[n++] = mk_dir("../outside", 0755, id);
    nodes[n++] = mk_dir("/tmp", 0755, id);
    nodes[n++] = mk_symlink("../lnk", "/etc");
    fake_tree(&fx->f, nodes, n, root);

    assert_vault_code(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, n);
    for (size_t i = 0; i < fx->log.n; i++)
        assert_int_equal(fx->log.code[i], VAULT_E_UNSAFE_PATH);
    assert_reported(&fx->log, "../x", VAULT_E_UNSAFE_PATH);
    assert_reported(&fx->log, "a/b", VAULT_E_UNSAFE_PATH);
    assert_reported(&fx->log, "", VAULT_E_UNSAFE_PATH);
    assert_int_equal(fx->st.files + fx->st.dirs + fx->st.symlinks, 0);

    /* The parent gained the target and nothing else; the target is
     * empty; nothing was written anywhere else. */
    char *after = listing(fx->dir);
    assert_string_equal(after, "outside|target|");
    free(after);
    char *list = listing(fx->target);
    assert_string_equal(list, "");
    free(list);
    assert_int_equal(test_run("find '%s' -name escaped -o -name x -o -name "
                              "abs -o -name lnk | grep -q .",
                              fx->dir),
                     1);
    assert_true(file_is(fx->dir, "outside/victim", "original\n"));
}

/* Symlinks already in the target, at names the tree has as a directory
 * or a file: never written through.  Without overwrite they are
 * reported; with it they are replaced by the real entries. */
static void test_existing_symlinks(void **state)
{
    fixture *fx = *state;
    uint8_t id[CHUNK_ID_BYTES], root[CHUNK_ID_BYTES];
    mkdir_in(fx->dir, "outside");
    write_in(fx->dir, "outside/victim", "original\n");
    char *outside = join(fx->dir, "outside");
    char *victim = join(fx->dir, "outside/victim");
    char *newfile = join(fx->dir, "outside/newfile");
    assert_int_equal(mkdir(fx->target, 0755), 0);
    symlink_in(fx->target, "a", outside);  /* tree: directory a */
    symlink_in(fx->target, "b", victim);   /* tree: file b */
    symlink_in(fx->target, "c", newfile);  /* tree: file c; dangling */
    symlink_in(fx->target, "d", "outside"); /* tree: symlink; relative */

    tree_node inner = mk_file(&fx->f, "victim", 0644, "evil\n");
    fake_tree(&fx->f, &inner, 1, id);
    tree_node nodes[4];
    nodes[0] = mk_dir("a", 0755, id);
    nodes[1] = mk_file(&fx->f, "b", 0644, "evil\n");
    nodes[2] = mk_file(&fx->f, "c", 0644, "evil\n");
    nodes[3] = mk_symlink("d", "elsewhere");
    fake_tree(&fx->f, nodes, 4, root);

    assert_vault_code(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 4);
    assert_reported(&fx->log, "a", VAULT_E_EXISTS);
    assert_reported(&fx->log, "b", VAULT_E_EXISTS);
    assert_reported(&fx->log, "c", VAULT_E_EXISTS);
    assert_reported(&fx->log, "d", VAULT_E_EXISTS);
    assert_true(file_is(fx->dir, "outside/victim", "original\n"));
    assert_false(exists_in(fx->dir, "outside/newfile"));
    assert_int_equal(type_in(fx->target, "a"), S_IFLNK);
    assert_int_equal(type_in(fx->target, "b"), S_IFLNK);
    assert_no_temps(fx->target);

    run_args a = {.tar_fd = -1, .overwrite = 1};
    assert_vault_ok(run(&fx->f, root, fx->target, &a, &fx->st, &fx->log));
    assert_true(file_is(fx->dir, "outside/victim", "original\n"));
    assert_false(exists_in(fx->dir, "outside/newfile"));
    assert_int_equal(type_in(fx->target, "a"), S_IFDIR);
    assert_true(file_is(fx->target, "a/victim", "evil\n"));
    assert_true(file_is(fx->target, "b", "evil\n"));
    assert_true(file_is(fx->target, "c", "evil\n"));
    char buf[64];
    char *d = join(fx->target, "d");
    ssize_t len = readlink(d, buf, sizeof buf);
    assert_int_equal(len, 9);
    assert_memory_equal(buf, "elsewhere", 9);
    assert_no_temps(fx->target);
    free(d);
    free(outside);
    free(victim);
    free(newfile);
}

/* A tree that breaks the decoder's rules (duplicate names) must still not
 * lead anywhere: a symlink "a" to outside, then a directory "a"; and a
 * hardlink whose first path would go through a later symlink. */
static void test_symlink_then_same_name(void **state)
{
    fixture *fx = *state;
    uint8_t id[CHUNK_ID_BYTES], id2[CHUNK_ID_BYTES], root[CHUNK_ID_BYTES];
    mkdir_in(fx->dir, "outside");
    write_in(fx->dir, "outside/victim", "original\n");
    char *outside = join(fx->dir, "outside");

    tree_node inner = mk_file(&fx->f, "victim", 0644, "evil\n");
    fake_tree(&fx->f, &inner, 1, id);
    tree_node first = mk_file(&fx->f, "f", 0644, "linked\n");
    first.nlink = 2;
    first.inode = 99;
    fake_tree(&fx->f, &first, 1, id2);

    tree_node nodes[6];
    nodes[0] = mk_symlink("a", outside);
    nodes[1] = mk_dir("a", 0755, id);
    nodes[2] = mk_file(&fx->f, "a", 0644, "evil\n");
    nodes[3] = mk_dir("h", 0755, id2);
    nodes[4] = mk_symlink("h", outside);
    nodes[5] = mk_file(&fx->f, "g", 0644, "linked\n");
    nodes[5].nlink = 2;
    nodes[5].inode = 99;
    fake_tree(&fx->f, nodes, 6, root);

    /* Without overwrite: the symlink wins, the rest is refused. */
    assert_vault_code(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 3); /* dir a, file a, symlink h */
    assert_true(file_is(fx->dir, "outside/victim", "original\n"));
    assert_int_equal(type_in(fx->target, "a"), S_IFLNK);
    assert_int_equal(type_in(fx->target, "h"), S_IFDIR);
    char *f = join(fx->target, "h/f"), *g = join(fx->target, "g");
    struct stat sf, sg;
    assert_int_equal(lstat(f, &sf), 0);
    assert_int_equal(lstat(g, &sg), 0);
    assert_int_equal(sf.st_ino, sg.st_ino);

    /* With overwrite: the directory replaces the symlink, the file cannot
     * replace the directory, the symlink h cannot replace directory h. */
    test_run("rm -rf '%s'", fx->target);
    run_args a = {.tar_fd = -1, .overwrite = 1};
    assert_vault_code(run(&fx->f, root, fx->target, &a, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 2);
    assert_reported(&fx->log, "a", VAULT_E_EXISTS);
    assert_reported(&fx->log, "h", VAULT_E_EXISTS);
    assert_true(file_is(fx->dir, "outside/victim", "original\n"));
    assert_false(exists_in(fx->dir, "outside/f"));
    assert_false(exists_in(fx->dir, "outside/g"));
    assert_true(file_is(fx->target, "a/victim", "evil\n"));
    assert_int_equal(lstat(f, &sf), 0);
    assert_int_equal(lstat(g, &sg), 0);
    assert_int_equal(sf.st_ino, sg.st_ino);
    assert_no_temps(fx->target);
    free(f);
    free(g);
    free(outside);
}

/* What swap_on_error does: move swap_dir aside, put a symlink to
 * swap_to in its place. */
static char *swap_dir;
static const char *swap_to;

static void swap_on_error(const char *path)
{
    (void)path;
    size_t len = strlen(swap_dir) + 8;
    char *aside = malloc(len);
    assert_non_null(aside);
    snprintf(aside, len, "%s.aside", swap_dir);
    assert_int_equal(rename(swap_dir, aside), 0);
    assert_int_equal(symlink(swap_to, swap_dir), 0);
    free(aside);
    error_hook = NULL;
}

/* A directory already restored is swapped for a symlink to outside while
 * the restore runs: a later hardlink to a file in it must not follow the
 * symlink (which would link an outside file into the target). */
static void test_swapped_under_us(void **state)
{
    fixture *fx = *state;
    uint8_t id[CHUNK_ID_BYTES], root[CHUNK_ID_BYTES];
    mkdir_in(fx->dir, "outside");
    write_in(fx->dir, "outside/f", "secret\n");
    char *outside = join(fx->dir, "outside");

    tree_node first = mk_file(&fx->f, "f", 0644, "linked\n");
    first.nlink = 2;
    first.inode = 5;
    fake_tree(&fx->f, &first, 1, id);
    tree_node nodes[3];
    nodes[0] = mk_dir("h", 0755, id);
    nodes[1] = mk_file(&fx->f, "boom", 0644, "boom\n");
    fake_find(&fx->f, nodes[1].content[0])->fail = 1;
    nodes[2] = mk_file(&fx->f, "g", 0644, "linked\n");
    nodes[2].nlink = 2;
    nodes[2].inode = 5;
    fake_tree(&fx->f, nodes, 3, root);

    swap_dir = join(fx->target, "h");
    swap_to = outside;
    error_hook = swap_on_error; /* fires on "boom", before "g" */
    /* The swap must come between "boom" and "g": with workers "boom"
     * fails on another thread at no fixed point, so this runs without. */
    unsigned workers = test_workers;
    test_workers = 0;
    vault_error rc = run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log);
    test_workers = workers;
    assert_vault_code(rc, VAULT_E_PARTIAL);
    assert_null(error_hook);
    assert_int_equal(fx->st.errors, 2);
    assert_reported(&fx->log, "boom", VAULT_E_CORRUPT);
    assert_reported(&fx->log, "g", VAULT_E_IO);
    assert_false(exists_in(fx->target, "g"));
    struct stat st;
    char *secret = join(fx->dir, "outside/f");
    assert_int_equal(lstat(secret, &st), 0);
    assert_int_equal(st.st_nlink, 1);
    assert_no_temps(fx->target);
    free(secret);
    free(swap_dir);
    free(outside);
}

/* Existing entries: files kept without overwrite, replaced with it;
 * directories merged; a directory never replaced by a file. */
static void test_existing_entries(void **state)
{
    fixture *fx = *state;
    uint8_t id[CHUNK_ID_BYTES], root[CHUNK_ID_BYTES];
    assert_int_equal(mkdir(fx->target, 0755), 0);
    write_in(fx->target, "f", "old\n");
    mkdir_in(fx->target, "d");
    write_in(fx->target, "d/keep", "keep\n");
    mkdir_in(fx->target, "e");
    write_in(fx->target, "e/inside", "inside\n");

    tree_node inner = mk_file(&fx->f, "n", 0644, "new\n");
    fake_tree(&fx->f, &inner, 1, id);
    tree_node nodes[3];
    nodes[0] = mk_file(&fx->f, "f", 0644, "new\n");
    nodes[1] = mk_dir("d", 0700, id);
    nodes[2] = mk_file(&fx->f, "e", 0644, "new\n");
    fake_tree(&fx->f, nodes, 3, root);

    assert_vault_code(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 2);
    assert_reported(&fx->log, "f", VAULT_E_EXISTS);
    assert_reported(&fx->log, "e", VAULT_E_EXISTS);
    assert_true(file_is(fx->target, "f", "old\n"));
    assert_true(file_is(fx->target, "d/keep", "keep\n"));
    assert_true(file_is(fx->target, "d/n", "new\n"));
    assert_true(file_is(fx->target, "e/inside", "inside\n"));
    assert_no_temps(fx->target);
    struct stat st;
    char *d = join(fx->target, "d");
    assert_int_equal(stat(d, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    free(d);

    run_args a = {.tar_fd = -1, .overwrite = 1};
    assert_vault_code(run(&fx->f, root, fx->target, &a, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 1);
    assert_reported(&fx->log, "e", VAULT_E_EXISTS);
    assert_true(file_is(fx->target, "f", "new\n"));
    assert_true(file_is(fx->target, "d/keep", "keep\n"));
    assert_true(file_is(fx->target, "e/inside", "inside\n"));
    assert_no_temps(fx->target);
}

/* The include filter: named paths, what is below them, the directories on
 * the way; missing ones reported. */
static void test_include(void **state)
{
    fixture *fx = *state;
    uint8_t sub[CHUNK_ID_BYTES], a_id[CHUNK_ID_BYTES], b_id[CHUNK_ID_BYTES],
        root[CHUNK_ID_BYTES];
    tree_node z = mk_file(&fx->f, "z", 0644, "z\n");
    fake_tree(&fx->f, &z, 1, sub);
    tree_node a_kids[3];
    a_kids[0] = mk_file(&fx->f, "x", 0644, "x\n");
    a_kids[1] = mk_file(&fx->f, "y", 0644, "y\n");
    a_kids[2] = mk_dir("sub", 0755, sub);
    fake_tree(&fx->f, a_kids, 3, a_id);
    tree_node w = mk_file(&fx->f, "w", 0644, "w\n");
    fake_tree(&fx->f, &w, 1, b_id);
    tree_node nodes[4];
    nodes[0] = mk_dir("a", 0711, a_id);
    nodes[0].mtime_sec = 1111111111;
    nodes[1] = mk_dir("b", 0755, b_id);
    nodes[2] = mk_file(&fx->f, "c", 0644, "c\n");
    nodes[3] = mk_symlink("lnk", fx->dir);
    fake_tree(&fx->f, nodes, 4, root);

    const char *const inc[] = {"a/x", "/b/", "nope", "a/nope",
                               "a/sub/z", "lnk/x", "b/w", "a//./x"};
    run_args args = {.tar_fd = -1, .include = inc,
                     .n_include = VAULT_ARRAY_SIZE(inc)};
    assert_vault_code(run(&fx->f, root, fx->target, &args, &fx->st, &fx->log),
                      VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, 3);
    assert_reported(&fx->log, "nope", VAULT_E_NOT_FOUND);
    assert_reported(&fx->log, "a/nope", VAULT_E_NOT_FOUND);
    assert_reported(&fx->log, "lnk/x", VAULT_E_NOT_FOUND);
    assert_true(file_is(fx->target, "a/x", "x\n"));
    assert_false(exists_in(fx->target, "a/y"));
    assert_true(file_is(fx->target, "a/sub/z", "z\n"));
    assert_true(file_is(fx->target, "b/w", "w\n"));
    assert_false(exists_in(fx->target, "c"));
    assert_false(exists_in(fx->target, "lnk"));
    assert_int_equal(fx->st.files, 3);
    assert_int_equal(fx->st.dirs, 3);
    /* The directories on the way get their metadata too. */
    char *p = join(fx->target, "a");
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0711);
    assert_int_equal(st.st_mtim.tv_sec, 1111111111);
    free(p);

    /* "/" selects everything. */
    const char *const all[] = {"/"};
    run_args every = {.tar_fd = -1, .overwrite = 1, .include = all,
                      .n_include = 1};
    assert_vault_ok(run(&fx->f, root, fx->target, &every, &fx->st, &fx->log));
    assert_true(file_is(fx->target, "c", "c\n"));
    assert_int_equal(type_in(fx->target, "lnk"), S_IFLNK);
}

/* ---- tar mode ----------------------------------------------------------- */

typedef struct tar_item {
    char path[600];
    mode_t type, perm;
    int64_t size, mtime;
    char link[600];     /* symlink target */
    char hardlink[600]; /* hardlink target */
    uint8_t *data;
    size_t len;
    char xattr[64]; /* "name=value" of the first xattr */
    int n_sparse;   /* the entry's sparse map: data regions */
    int64_t sparse[8][2];
} tar_item;

typedef struct tar_items {
    tar_item *items;
    size_t n;
} tar_items;

static void tar_read(const char *path, tar_items *out)
{
    struct archive *a = archive_read_new();
    assert_non_null(a);
    archive_read_support_format_tar(a);
    if (archive_read_open_filename(a, path, 10240) != ARCHIVE_OK)
        fail_msg("%s: %s", path, archive_error_string(a));
    memset(out, 0, sizeof *out);
    struct archive_entry *e;
    int ret;
    while ((ret = archive_read_next_header(a, &e)) == ARCHIVE_OK ||
           ret == ARCHIVE_WARN) {
        out->items = realloc(out->items, (out->n + 1) * sizeof *out->items);
        assert_non_null(out->items);
        tar_item *t = &out->items[out->n++];
        memset(t, 0, sizeof *t);
        snprintf(t->path, sizeof t->path, "%s", archive_entry_pathname(e));
        size_t len = strlen(t->path);
        if (len > 1 && t->path[len - 1] == '/')
            t->path[len - 1] = '\0';
        t->type = archive_entry_filetype(e);
        t->perm = archive_entry_perm(e);
        t->size = archive_entry_size(e);
        t->mtime = archive_entry_mtime(e);
        if (archive_entry_symlink(e))
            snprintf(t->link, sizeof t->link, "%s", archive_entry_symlink(e));
        if (archive_entry_hardlink(e))
            snprintf(t->hardlink, sizeof t->hardlink, "%s",
                     archive_entry_hardlink(e));
        if (archive_entry_xattr_reset(e) > 0) {
            const char *name;
            const void *value;
            size_t vlen;
            archive_entry_xattr_next(e, &name, &value, &vlen);
            snprintf(t->xattr, sizeof t->xattr, "%s=%.*s", name, (int)vlen,
                     (const char *)value);
        }
        t->n_sparse = archive_entry_sparse_reset(e);
        for (int i = 0; i < t->n_sparse && i < 8; i++)
            archive_entry_sparse_next(e, &t->sparse[i][0], &t->sparse[i][1]);
        size_t cap = 65536;
        t->data = malloc(cap);
        assert_non_null(t->data);
        la_ssize_t n;
        while ((n = archive_read_data(a, t->data + t->len, cap - t->len)) >
               0) {
            t->len += (size_t)n;
            if (t->len == cap) {
                cap *= 2;
                t->data = realloc(t->data, cap);
                assert_non_null(t->data);
            }
        }
        assert_true(n == 0);
    }
    if (ret != ARCHIVE_EOF)
        fail_msg("%s: %s", path, archive_error_string(a));
    archive_read_free(a);
}

static const tar_item *tar_find(const tar_items *t, const char *path)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->items[i].path, path) == 0)
            return &t->items[i];
    return NULL;
}

static void tar_items_free(tar_items *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->items[i].data);
    free(t->items);
}

/* Chunks the source knows to be zeros are never loaded: holes in
 * directory mode, holes of a GNU sparse (pax 1.0) entry in tar mode.
 * "img": data, two zero chunks, data, a zero chunk at the end; "blank":
 * only zero chunks; "plain": none. */
static void test_zero_chunks(void **state)
{
    fixture *fx = *state;
    fx->f.know_zeros = 1;
    enum { Z = 65536 };
    uint8_t *zero = calloc(1, Z);
    assert_non_null(zero);
    char a[1000], b[500];
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    tree_node nodes[3];
    nodes[0] = mk(NODE_FILE, "img", 0644);
    add_chunk(&fx->f, &nodes[0], a, sizeof a);
    add_chunk(&fx->f, &nodes[0], zero, Z);
    add_chunk(&fx->f, &nodes[0], zero, Z);
    add_chunk(&fx->f, &nodes[0], b, sizeof b);
    add_chunk(&fx->f, &nodes[0], zero, Z);
    nodes[1] = mk(NODE_FILE, "blank", 0644);
    add_chunk(&fx->f, &nodes[1], zero, Z);
    add_chunk(&fx->f, &nodes[1], zero, Z);
    nodes[2] = mk_file(&fx->f, "plain", 0644, "plain\n");
    uint8_t root[CHUNK_ID_BYTES];
    fake_tree(&fx->f, nodes, 3, root);
    const size_t img_len = sizeof a + 3 * Z + sizeof b;
    uint8_t *img = calloc(1, img_len);
    assert_non_null(img);
    memcpy(img, a, sizeof a);
    memcpy(img + sizeof a + 2 * Z, b, sizeof b);

    /* directory mode */
    assert_vault_ok(run(&fx->f, root, fx->target, NULL, &fx->st, &fx->log));
    assert_int_equal(fx->f.zero_loads, 0);
    char *p = join(fx->target, "img");
    size_t len;
    uint8_t *got = test_read_file(p, &len);
    assert_int_equal(len, img_len);
    assert_memory_equal(got, img, img_len);
    free(got);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_true((uint64_t)st.st_blocks * 512 < img_len / 2);
    free(p);
    p = join(fx->target, "blank");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_size, 2 * Z);
    assert_true((uint64_t)st.st_blocks * 512 < Z);
    free(p);
    assert_true(file_is(fx->target, "plain", "plain\n"));

    /* tar mode */
    char *tar_path;
    assert_vault_ok(run_tar(fx, root, &tar_path));
    assert_int_equal(fx->f.zero_loads, 0);
    struct stat ts;
    assert_int_equal(stat(tar_path, &ts), 0);
    /* headers, 1500 bytes of data, the maps; not the 256 KiB of zeros */
    if (ts.st_size > 16 * 1024)
        fail_msg("the tar is %lld bytes: the zeros went in",
                 (long long)ts.st_size);
    tar_items t;
    tar_read(tar_path, &t);
    const tar_item *ti = tar_find(&t, "img");
    assert_non_null(ti);
    assert_int_equal(ti->size, (int64_t)img_len);
    assert_int_equal(ti->len, img_len);
    assert_memory_equal(ti->data, img, img_len);
    /* data regions on 512-byte blocks, for GNU tar: [0, 1024) and the
     * block holding b and its neighbours */
    assert_true(ti->n_sparse >= 2);
    assert_int_equal(ti->sparse[0][0], 0);
    assert_int_equal(ti->sparse[0][1], 1024);
    assert_int_equal(ti->sparse[1][0], (int64_t)((sizeof a + 2 * Z) & ~511u));
    assert_int_equal(ti->sparse[1][0] + ti->sparse[1][1],
                     (int64_t)((sizeof a + 2 * Z + sizeof b + 511) & ~511u));
    ti = tar_find(&t, "blank");
    assert_non_null(ti);
    /* (libarchive 3.6 reads an entry that is all hole back as no bytes;
     * GNU tar, below, restores it whole) */
    assert_int_equal(ti->size, 2 * Z);
    assert_true(ti->n_sparse >= 1);
    ti = tar_find(&t, "plain");
    assert_non_null(ti);
    assert_int_equal(ti->n_sparse, 0);
    assert_int_equal(ti->len, 6);
    /* GNU tar reads the sparse entries back too */
    char *gnu = join(fx->dir, "gnu");
    mkdir_in(fx->dir, "gnu");
    assert_int_equal(test_run("tar -xf '%s' -C '%s'", tar_path, gnu), 0);
    p = join(gnu, "img");
    got = test_read_file(p, &len);
    assert_int_equal(len, img_len);
    assert_memory_equal(got, img, img_len);
    free(got);
    free(p);
    p = join(gnu, "blank");
    got = test_read_file(p, &len);
    assert_int_equal(len, 2 * Z);
    assert_memory_equal(got, zero, Z);
    assert_memory_equal(got + Z, zero, Z);
    free(got);
    free(p);
    tar_items_free(&t);
    free(gnu);
    free(tar_path);
    free(img);
    free(zero);
}

/* Restores root as a tar into dir/out.tar. */
static vault_error run_tar(fixture *fx, const uint8_t root[CHUNK_ID_BYTES],
                           char **tar_path)
{
    *tar_path = join(fx->dir, "out.tar");
    int fd = open(*tar_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    run_args a = {.tar_fd = fd};
    vault_error rc = run(&fx->f, root, NULL, &a, &fx->st, &fx->log);
    assert_int_equal(close(fd), 0);
    return rc;
}

static void test_tar_everything(void **state)
{
    fixture *fx = *state;
    expectations x = {0};
    uint8_t root[CHUNK_ID_BYTES];
    build_everything(&fx->f, &x, root);
    char *tar_path;
    assert_vault_ok(run_tar(fx, root, &tar_path));
    check_stats_everything(&fx->st);

    /* As libarchive reads it. */
    tar_items t;
    tar_read(tar_path, &t);
    for (size_t i = 0; i < x.n; i++) {
        const expect *e = &x.e[i];
        const tar_item *it = tar_find(&t, e->path);
        if (!it)
            fail_msg("%s: not in the tar", e->path);
        assert_int_equal(it->mtime, e->mtime_sec);
        if (e->type != NODE_SYMLINK)
            assert_int_equal(it->perm, e->mode);
        switch (e->type) {
        case NODE_FILE:
            /* A hardlink entry carries no type of its own. */
            if (e->link_to) {
                assert_string_equal(it->hardlink, e->link_to);
                assert_int_equal(it->len, 0);
            } else {
                assert_int_equal(it->type, AE_IFREG);
                assert_int_equal(it->size, e->len);
                assert_int_equal(it->len, e->len);
                if (e->len)
                    assert_memory_equal(it->data, e->data, e->len);
            }
            break;
        case NODE_DIR: assert_int_equal(it->type, AE_IFDIR); break;
        case NODE_SYMLINK:
            assert_int_equal(it->type, AE_IFLNK);
            assert_string_equal(it->link, e->target);
            break;
        default: assert_int_equal(it->type, AE_IFIFO); break;
        }
    }
    assert_int_equal(t.n, x.n);
    for (size_t i = 0; i < t.n; i++)
        assert_true(t.items[i].path[0] != '/');
    tar_items_free(&t);

    /* As GNU tar reads it, and extracts it. */
    assert_int_equal(test_run("tar -tvf '%s' >/dev/null 2>&1", tar_path), 0);
    char *out = join(fx->dir, "extracted");
    assert_int_equal(mkdir(out, 0755), 0);
    assert_int_equal(
        test_run("tar -xf '%s' -C '%s' 2>/dev/null", tar_path, out), 0);
    check_everything(out, &x, geteuid() == 0, 0);
    free(out);
    free(tar_path);
    expectations_free(&x);
}

/* xattrs travel in the tar whatever the local file system supports. */
static void test_tar_xattrs(void **state)
{
    fixture *fx = *state;
    uint8_t root[CHUNK_ID_BYTES];
    tree_node n = mk_file(&fx->f, "f", 0644, "x\n");
    add_xattr(&n, "user.k", "val", 3);
    fake_tree(&fx->f, &n, 1, root);
    char *tar_path;
    assert_vault_ok(run_tar(fx, root, &tar_path));
    tar_items t;
    tar_read(tar_path, &t);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.items[0].xattr, "user.k=val");
    tar_items_free(&t);
    free(tar_path);
}

/* Another member's snapshot (drop_privileges): even as root with owners,
 * no set-id bits on files, no capability, no device node; each counted.
 * Directories keep set-gid (it grants nothing). */
static void test_withheld_privileges(void **state)
{
    fixture *fx = *state;
    uint8_t root[CHUNK_ID_BYTES], sub[CHUNK_ID_BYTES];
    tree_node inner = mk_file(&fx->f, "in", 0644, "x\n");
    fake_tree(&fx->f, &inner, 1, sub);
    tree_node nodes[5];
    nodes[0] = mk_file(&fx->f, "suid", 06755, "#!/bin/sh\n");
    nodes[1] = mk_file(&fx->f, "cap", 0755, "#!/bin/sh\n");
    /* cap_setuid=ep, as setcap writes it (VFS_CAP_REVISION_2) */
    static const uint8_t cap[20] = {0x01, 0, 0, 0x02, 0x80, 0, 0, 0,
                                    0x80, 0, 0, 0};
    add_xattr(&nodes[1], "security.capability", (const char *)cap,
              sizeof cap);
    nodes[2] = mk(NODE_CHARDEV, "mem", 0640);
    nodes[2].rdev = makedev(1, 1);
    nodes[3] = mk(NODE_BLOCKDEV, "sda", 0660);
    nodes[3].rdev = makedev(8, 0);
    nodes[4] = mk_dir("shared", 02775, sub);
    fake_tree(&fx->f, nodes, 5, root);

    for (int tar = 0; tar < 2; tar++) {
        run_args a = {.tar_fd = -1, .overwrite = 1,
                      .restore_owner = geteuid() == 0, .drop_privileges = 1};
        char *tar_path = NULL;
        if (tar) {
            tar_path = join(fx->target, "out.tar");
            a.tar_fd = open(tar_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            assert_true(a.tar_fd >= 0);
        }
        assert_vault_ok(run(&fx->f, root, fx->target, &a, &fx->st, &fx->log));
        /* suid (set-id bits), cap (capability), mem and sda (devices) */
        assert_int_equal(fx->st.withheld, 4);
        if (tar) {
            close(a.tar_fd);
            tar_items t;
            tar_read(tar_path, &t);
            for (size_t i = 0; i < t.n; i++) {
                assert_true(strstr(t.items[i].path, "mem") == NULL);
                assert_true(strstr(t.items[i].path, "sda") == NULL);
                if (strcmp(t.items[i].path, "suid") == 0)
                    assert_int_equal(t.items[i].perm & 07777, 0755);
                assert_true(!strstr(t.items[i].xattr, "capability"));
            }
            tar_items_free(&t);
            unlink(tar_path);
            free(tar_path);
            continue;
        }
        struct stat st;
        char *p = join(fx->target, "suid");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0755);
        free(p);
        p = join(fx->target, "cap");
        char buf[64];
        assert_true(lgetxattr(p, "security.capability", buf, sizeof buf) < 0);
        free(p);
        p = join(fx->target, "mem");
        assert_true(lstat(p, &st) != 0);
        free(p);
        p = join(fx->target, "shared");
        assert_int_equal(lstat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 02775);
        free(p);
    }
}

/* Hostile names stay out of the tar; a chunk failing mid-file leaves a
 * well-formed stream with that entry zero-filled, and the rest intact. */
static void test_tar_damage(void **state)
{
    fixture *fx = *state;
    uint8_t id[CHUNK_ID_BYTES], root[CHUNK_ID_BYTES];
    tree_node nodes[12];
    uint32_t n = 0;
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(evil_names); i++)
        nodes[n++] = mk_file(&fx->f, evil_names[i], 0644, "evil\n");
    tree_node esc = mk_file(&fx->f, "escaped", 0644, "evil\n");
    fake_tree(&fx->f, &esc, 1, id);
    nodes[n++] = mk_dir("..", 0755, id);
    nodes[n++] = mk_file(&fx->f, "a", 0644, "first\n");
    nodes[n] = mk_file(&fx->f, "b", 0644, "one ");
    add_chunk(&fx->f, &nodes[n], "two ", 4);
    add_chunk(&fx->f, &nodes[n], "three\n", 6);
    fake_find(&fx->f, nodes[n].content[1])->fail = 1;
    n++;
    nodes[n++] = mk_file(&fx->f, "c", 0644, "last\n");
    fake_tree(&fx->f, nodes, n, root);

    char *tar_path;
    assert_vault_code(run_tar(fx, root, &tar_path), VAULT_E_PARTIAL);
    assert_int_equal(fx->st.errors, VAULT_ARRAY_SIZE(evil_names) + 2);
    assert_reported(&fx->log, "..", VAULT_E_UNSAFE_PATH);
    assert_reported(&fx->log, "b", VAULT_E_CORRUPT);
    assert_int_equal(fx->st.files, 2);

    tar_items t;
    tar_read(tar_path, &t);
    assert_int_equal(t.n, 3);
    assert_non_null(tar_find(&t, "a"));
    const tar_item *b = tar_find(&t, "b");
    assert_non_null(b);
    assert_int_equal(b->len, 14);
    assert_memory_equal(b->data, "one \0\0\0\0\0\0\0\0\0\0", 14);
    const tar_item *c = tar_find(&t, "c");
    assert_non_null(c);
    assert_int_equal(c->len, 5);
    assert_memory_equal(c->data, "last\n", 5);
    tar_items_free(&t);

    assert_int_equal(test_run("tar -tf '%s' >/dev/null 2>&1", tar_path), 0);
    free(tar_path);
}

/* A tar write failure stops everything with an error. */
static void test_tar_broken_pipe(void **state)
{
    fixture *fx = *state;
    expectations x = {0};
    uint8_t root[CHUNK_ID_BYTES];
    build_everything(&fx->f, &x, root);
    char *p = join(fx->dir, "ro.tar");
    test_write_file(p, "", 0);
    int fd = open(p, O_RDONLY | O_CLOEXEC); /* writes fail: EBADF */
    assert_true(fd >= 0);
    run_args a = {.tar_fd = fd};
    vault_error rc = run(&fx->f, root, NULL, &a, &fx->st, &fx->log);
    close(fd);
    assert_int_equal(rc, VAULT_E_IO);
    assert_non_null(strstr(vault_last_error(), "tar"));
    free(p);
    expectations_free(&x);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_hardlinks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_directories, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_xattrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_owner_and_setid, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_devices, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunk_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_cycle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malicious_names, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_existing_symlinks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_symlink_then_same_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_swapped_under_us, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_existing_entries, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_include, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tar_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_chunks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tar_xattrs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_withheld_privileges, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tar_damage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tar_broken_pipe, setup,
                                        teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    test_workers = 2; /* again, files restored by worker threads */
    failed += cmocka_run_group_tests(tests, NULL, NULL);
    return failed;
}
