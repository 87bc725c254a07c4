/*
 * test_tree.c - tree and snapshot record encodings against their spec
 * (format-spec/trees.md): round trips, canonical form, every rejection
 * rule in both directions, and hostile input (truncation, bit flips,
 * huge counts).
 *
 * Bytes for the decoder's rejection tests come from a small encoder
 * written here from the spec (raw_*), independent of tree.c, so the
 * tests also check that tree.c writes the layout the spec describes.
 */
#include "test_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "format/snapshot.h"
#include "format/tree.h"

/* ---- helpers: building in-memory trees ------------------------------- */

static char *xstrdup(const char *s)
{
    char *c = strdup(s);
    assert_non_null(c);
    return c;
}

/* A string of n copies of ch, malloc'ed. */
static char *repeat(char ch, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, ch, n);
    s[n] = '\0';
    return s;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    assert_non_null(p);
    return p;
}

/* A plausible node of the given type; strings are malloc'ed so that
 * vlt_tree_clear frees them. */
static void node_set(tree_node *n, node_type type, const char *name)
{
    memset(n, 0, sizeof *n);
    n->type = type;
    n->name = xstrdup(name);
    n->mode = type == NODE_DIR ? 0755 : 0644;
    n->uid = 1000;
    n->gid = 100;
    n->user = xstrdup("ann");
    n->group = xstrdup("users");
    n->mtime_sec = 1700000000;
    n->mtime_nsec = 123456789;
    n->inode = 4242;
    n->device = 0x801;
    n->nlink = 1;
    switch (type) {
    case NODE_DIR:
        memset(n->subtree, 0xD1, sizeof n->subtree);
        n->nlink = 2;
        break;
    case NODE_SYMLINK:
        n->mode = 0777;
        n->target = xstrdup("../some/target");
        break;
    case NODE_CHARDEV:
        n->rdev = 0x0501;
        break;
    case NODE_BLOCKDEV:
        n->rdev = 0x0800;
        break;
    default:
        break;
    }
}

static void node_add_xattr(tree_node *n, const char *name,
                           const void *value, uint32_t len)
{
    node_xattr *x = realloc(n->xattrs, (n->n_xattrs + 1) * sizeof *x);
    assert_non_null(x);
    n->xattrs = x;
    x = &n->xattrs[n->n_xattrs++];
    x->name = xstrdup(name);
    x->value = malloc(len ? len : 1);
    assert_non_null(x->value);
    if (len)
        memcpy(x->value, value, len);
    x->value_len = len;
}

/* count chunk IDs, each filled from seed and its index. */
static void node_set_content(tree_node *n, uint32_t count, uint8_t seed)
{
    n->content = count ? xcalloc(count, CHUNK_ID_BYTES) : NULL;
    for (uint32_t i = 0; i < count; i++) {
        memset(n->content[i], seed, CHUNK_ID_BYTES);
        n->content[i][0] = (uint8_t)i;
        n->content[i][1] = (uint8_t)(i >> 8);
        n->content[i][2] = (uint8_t)(i >> 16);
        n->content[i][3] = (uint8_t)(i >> 24);
    }
    n->n_content = count;
    n->size = (uint64_t)count * 1000003;
}

static void tree_alloc(tree *t, uint32_t n)
{
    t->nodes = xcalloc(n, sizeof *t->nodes);
    t->n_nodes = n;
}

/* One node of every type, in no particular order, with xattrs (given
 * unsorted), an empty file and an empty dir. */
static void build_sample(tree *t)
{
    static const uint8_t bin[] = {0, 1, 2, 0xff, 0, 'x'};
    tree_alloc(t, 9);
    node_set(&t->nodes[0], NODE_SOCKET, "sock");
    node_set(&t->nodes[1], NODE_FILE, "file.txt");
    node_set_content(&t->nodes[1], 3, 0xA0);
    node_add_xattr(&t->nodes[1], "user.z", "last", 4);
    node_add_xattr(&t->nodes[1], "security.selinux", bin, sizeof bin);
    node_add_xattr(&t->nodes[1], "user.a", "", 0);
    node_set(&t->nodes[2], NODE_DIR, "dir");
    node_set(&t->nodes[3], NODE_SYMLINK, "link");
    node_set(&t->nodes[4], NODE_FIFO, "fifo");
    node_set(&t->nodes[5], NODE_CHARDEV, "tty0");
    node_set(&t->nodes[6], NODE_BLOCKDEV, "sda");
    node_set(&t->nodes[7], NODE_FILE, "empty");
    node_set(&t->nodes[8], NODE_DIR, "emptydir");
    memset(t->nodes[8].subtree, 0x07, CHUNK_ID_BYTES);
    node_add_xattr(&t->nodes[8], "user.note", "hi", 2);
}

static const char *str_or_empty(const char *s)
{
    return s ? s : "";
}

static void assert_node_equal(const tree_node *a, const tree_node *b)
{
    assert_int_equal(a->type, b->type);
    assert_string_equal(a->name, b->name);
    assert_int_equal(a->mode, b->mode);
    assert_int_equal(a->uid, b->uid);
    assert_int_equal(a->gid, b->gid);
    assert_string_equal(str_or_empty(a->user), str_or_empty(b->user));
    assert_string_equal(str_or_empty(a->group), str_or_empty(b->group));
    assert_true(a->mtime_sec == b->mtime_sec);
    assert_int_equal(a->mtime_nsec, b->mtime_nsec);
    assert_true(a->size == b->size);
    assert_true(a->inode == b->inode);
    assert_true(a->device == b->device);
    assert_int_equal(a->nlink, b->nlink);
    assert_true(a->rdev == b->rdev);
    if (a->type == NODE_SYMLINK) {
        assert_non_null(a->target);
        assert_non_null(b->target);
        assert_string_equal(a->target, b->target);
    } else {
        assert_string_equal(str_or_empty(a->target), str_or_empty(b->target));
    }
    assert_int_equal(a->n_xattrs, b->n_xattrs);
    for (uint32_t j = 0; j < a->n_xattrs; j++) {
        assert_string_equal(a->xattrs[j].name, b->xattrs[j].name);
        assert_int_equal(a->xattrs[j].value_len, b->xattrs[j].value_len);
        assert_non_null(b->xattrs[j].value);
        if (a->xattrs[j].value_len)
            assert_memory_equal(a->xattrs[j].value, b->xattrs[j].value,
                                a->xattrs[j].value_len);
    }
    if (a->type == NODE_FILE) {
        assert_int_equal(a->n_content, b->n_content);
        if (a->n_content)
            assert_memory_equal(a->content, b->content,
                                (size_t)a->n_content * CHUNK_ID_BYTES);
    }
    if (a->type == NODE_DIR)
        assert_memory_equal(a->subtree, b->subtree, CHUNK_ID_BYTES);
}

/* Decoded output's shape: what non-file/dir/symlink nodes must hold. */
static void assert_decoded_shape(const tree_node *n)
{
    static const uint8_t zero[CHUNK_ID_BYTES];
    assert_non_null(n->name);
    assert_non_null(n->user);
    assert_non_null(n->group);
    if (n->type != NODE_SYMLINK)
        assert_null(n->target);
    if (n->type != NODE_FILE) {
        assert_int_equal(n->n_content, 0);
        assert_null(n->content);
    }
    if (n->n_content == 0)
        assert_null(n->content);
    if (n->n_xattrs == 0)
        assert_null(n->xattrs);
    if (n->type != NODE_DIR)
        assert_memory_equal(n->subtree, zero, CHUNK_ID_BYTES);
}

/* Encodes t (which sorts it), decodes, compares, re-encodes: the bytes
 * must be the same.  Returns the encoding if wanted. */
static void roundtrip(tree *t, uint8_t **bytes_out, size_t *len_out)
{
    uint8_t *enc = NULL, *enc2 = NULL;
    size_t len = 0, len2 = 0;
    tree d;
    assert_vault_ok(vlt_tree_encode(t, &enc, &len));
    assert_vault_ok(vlt_tree_decode(enc, len, &d));
    assert_int_equal(d.n_nodes, t->n_nodes);
    for (uint32_t i = 0; i < t->n_nodes; i++) {
        assert_node_equal(&t->nodes[i], &d.nodes[i]);
        assert_decoded_shape(&d.nodes[i]);
    }
    assert_vault_ok(vlt_tree_encode(&d, &enc2, &len2));
    assert_int_equal(len, len2);
    assert_memory_equal(enc, enc2, len);
    vlt_tree_clear(&d);
    free(enc2);
    if (bytes_out) {
        *bytes_out = enc;
        *len_out = len;
    } else {
        free(enc);
    }
}

static int is_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

static void assert_detail_has(const char *part)
{
    if (!strstr(vault_last_error(), part))
        fail_msg("detail \"%s\" does not mention \"%s\"", vault_last_error(),
                 part);
}

/* Decoding must fail with CORRUPT, leave *out zeroed and explain. */
static void expect_tree_corrupt(const uint8_t *data, size_t len,
                                const char *part1, const char *part2)
{
    tree t;
    memset(&t, 0xAA, sizeof t);
    vault_error rc = vlt_tree_decode(data, len, &t);
    if (rc != VAULT_E_CORRUPT)
        fail_msg("vlt_tree_decode(%zu bytes): expected corrupt (%s), got %s: %s",
                 len, part2 ? part2 : part1, vault_strerror(rc),
                 vault_last_error());
    assert_true(is_zero(&t, sizeof t));
    if (part1)
        assert_detail_has(part1);
    if (part2)
        assert_detail_has(part2);
}

static void expect_tree_invalid(tree *t, const char *part1,
                                const char *part2)
{
    uint8_t *out = (uint8_t *)&out; /* anything non-NULL */
    size_t out_len = 99;
    vault_error rc = vlt_tree_encode(t, &out, &out_len);
    if (rc != VAULT_E_INVALID)
        fail_msg("vlt_tree_encode: expected invalid (%s), got %s: %s",
                 part2 ? part2 : part1, vault_strerror(rc),
                 vault_last_error());
    assert_null(out);
    assert_int_equal(out_len, 0);
    if (part1)
        assert_detail_has(part1);
    if (part2)
        assert_detail_has(part2);
}

/* ---- helpers: bytes written from the spec, independently ------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void b_put(buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
}
static void b_fill(buf *b, uint8_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b_put(b, &v, 1);
}
static void b_u8(buf *b, uint8_t v)
{
    b_put(b, &v, 1);
}
static void b_u16(buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    b_put(b, x, 2);
}
static void b_u32(buf *b, uint32_t v)
{
    b_u16(b, (uint16_t)v);
    b_u16(b, (uint16_t)(v >> 16));
}
static void b_u64(buf *b, uint64_t v)
{
    b_u32(b, (uint32_t)v);
    b_u32(b, (uint32_t)(v >> 32));
}

/* Strings with explicit lengths, so they may hold NUL. */
typedef struct raw_str {
    const char *s;
    size_t len;
} raw_str;
#define RSI(lit) {(lit), sizeof(lit) - 1} /* in initializers */
#define RS(lit) ((raw_str)RSI(lit))

static void b_str8(buf *b, raw_str s)
{
    assert_true(s.len <= 255);
    b_u8(b, (uint8_t)s.len);
    b_put(b, s.s, s.len);
}
static void b_str16(buf *b, raw_str s)
{
    assert_true(s.len <= 65535);
    b_u16(b, (uint16_t)s.len);
    b_put(b, s.s, s.len);
}

typedef struct raw_xattr {
    raw_str name;
    uint32_t value_len; /* written as is */
    uint32_t value_emit; /* bytes of value actually written (fill byte) */
} raw_xattr;

typedef struct raw_node {
    uint8_t type;
    raw_str name;
    uint32_t mode, uid, gid;
    raw_str user, group;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint64_t size, inode, device;
    uint32_t nlink;
    uint64_t rdev;
    raw_str target;
    uint16_t n_xattrs;           /* count written */
    uint32_t xattrs_emit;        /* entries of xattrs actually written */
    const raw_xattr *xattrs;
    uint32_t n_content;          /* count written (files) */
    uint32_t content_emit;       /* IDs actually written */
    uint8_t content_fill;
    uint8_t subtree_fill;        /* dirs */
} raw_node;

static raw_node raw_default(uint8_t type, raw_str name)
{
    raw_node r;
    memset(&r, 0, sizeof r);
    r.type = type;
    r.name = name;
    r.mode = 0644;
    r.uid = 1000;
    r.gid = 100;
    r.user = RS("ann");
    r.group = RS("users");
    r.mtime_sec = 1700000000;
    r.mtime_nsec = 5;
    r.nlink = 1;
    r.target = type == NODE_SYMLINK ? RS("t") : RS("");
    r.subtree_fill = 0xD1;
    return r;
}

static void raw_node_put(buf *b, const raw_node *r)
{
    b_u8(b, r->type);
    b_str16(b, r->name);
    b_u32(b, r->mode);
    b_u32(b, r->uid);
    b_u32(b, r->gid);
    b_str8(b, r->user);
    b_str8(b, r->group);
    b_u64(b, (uint64_t)r->mtime_sec);
    b_u32(b, r->mtime_nsec);
    b_u64(b, r->size);
    b_u64(b, r->inode);
    b_u64(b, r->device);
    b_u32(b, r->nlink);
    b_u64(b, r->rdev);
    b_str16(b, r->target);
    b_u16(b, r->n_xattrs);
    for (uint32_t j = 0; j < r->xattrs_emit; j++) {
        b_str8(b, r->xattrs[j].name);
        b_u32(b, r->xattrs[j].value_len);
        b_fill(b, 'v', r->xattrs[j].value_emit);
    }
    if (r->type == NODE_FILE) {
        b_u32(b, r->n_content);
        for (uint32_t i = 0; i < r->content_emit; i++)
            b_fill(b, r->content_fill, CHUNK_ID_BYTES);
    } else if (r->type == NODE_DIR) {
        b_fill(b, r->subtree_fill, CHUNK_ID_BYTES);
    }
}

static void raw_tree(buf *b, uint8_t version, uint32_t n_nodes,
                     const raw_node *nodes, size_t emit)
{
    b->len = 0;
    b_u8(b, version);
    b_u32(b, n_nodes);
    for (size_t i = 0; i < emit; i++)
        raw_node_put(b, &nodes[i]);
}

/* ---- tree round trips ------------------------------------------------- */

static void test_roundtrip_all_types(void **state)
{
    (void)state;
    tree t = {0};
    build_sample(&t);
    uint8_t *enc;
    size_t len;
    roundtrip(&t, &enc, &len);
    /* vlt_tree_encode sorted the nodes and the xattrs in place. */
    for (uint32_t i = 1; i < t.n_nodes; i++)
        assert_true(strcmp(t.nodes[i - 1].name, t.nodes[i].name) < 0);
    tree_node *f = NULL;
    for (uint32_t i = 0; i < t.n_nodes; i++)
        if (strcmp(t.nodes[i].name, "file.txt") == 0)
            f = &t.nodes[i];
    assert_non_null(f);
    assert_string_equal(f->xattrs[0].name, "security.selinux");
    assert_string_equal(f->xattrs[1].name, "user.a");
    assert_string_equal(f->xattrs[2].name, "user.z");

    tree d;
    assert_vault_ok(vlt_tree_decode(enc, len, &d));
    int seen[8] = {0};
    for (uint32_t i = 0; i < d.n_nodes; i++)
        seen[d.nodes[i].type]++;
    for (int ty = NODE_FILE; ty <= NODE_SOCKET; ty++)
        assert_true(seen[ty] >= 1);
    vlt_tree_clear(&d);
    vlt_tree_clear(&t);
    free(enc);
}

static void test_roundtrip_empty_tree(void **state)
{
    (void)state;
    tree t = {0};
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_tree_encode(&t, &enc, &len));
    static const uint8_t want[] = {1, 0, 0, 0, 0};
    assert_int_equal(len, sizeof want);
    assert_memory_equal(enc, want, sizeof want);
    tree d;
    memset(&d, 0xAA, sizeof d);
    assert_vault_ok(vlt_tree_decode(enc, len, &d));
    assert_int_equal(d.n_nodes, 0);
    assert_null(d.nodes);
    vlt_tree_clear(&d);
    free(enc);
}

static void test_roundtrip_odd_names(void **state)
{
    (void)state;
    static const char *names[] = {
        "with space", "new\nline", "-leading-dash", "--", "tab\there",
        "\xe2\x9c\x93 check", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
        "\xf0\x9f\x92\xbe", "\xff\xfe not utf-8", "\001ctrl", "...",
        ".hidden", "..a", "a.", ".a.", "\\back\\slash", "*?[glob]", "~",
        "\r", " ", "\x7f"};
    size_t n = VAULT_ARRAY_SIZE(names);
    tree t = {0};
    tree_alloc(&t, (uint32_t)n + 2);
    for (size_t i = 0; i < n; i++)
        node_set(&t.nodes[i], i % 2 ? NODE_FILE : NODE_FIFO, names[i]);
    /* The longest names: 4096 ASCII bytes, and 2048 two-byte UTF-8. */
    node_set(&t.nodes[n], NODE_FILE, "x");
    free(t.nodes[n].name);
    t.nodes[n].name = repeat('x', TREE_NAME_MAX);
    node_set(&t.nodes[n + 1], NODE_DIR, "e");
    free(t.nodes[n + 1].name);
    t.nodes[n + 1].name = malloc(TREE_NAME_MAX + 1);
    assert_non_null(t.nodes[n + 1].name);
    for (size_t i = 0; i < TREE_NAME_MAX; i += 2)
        memcpy(t.nodes[n + 1].name + i, "\xc3\xa9", 2);
    t.nodes[n + 1].name[TREE_NAME_MAX] = '\0';
    roundtrip(&t, NULL, NULL);
    vlt_tree_clear(&t);
}

static void test_sort_order(void **state)
{
    (void)state;
    static const char *given[] = {"b", "a", "ab", "a b", "A", "\xc3\xa9",
                                  "aa", "a-", "a\x01", "B"};
    static const char *want[] = {"A", "B", "a", "a\x01", "a b", "a-", "aa",
                                 "ab", "b", "\xc3\xa9"};
    tree t = {0};
    tree_alloc(&t, VAULT_ARRAY_SIZE(given));
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(given); i++)
        node_set(&t.nodes[i], NODE_SOCKET, given[i]);
    uint8_t *enc;
    size_t len;
    roundtrip(&t, &enc, &len);
    tree d;
    assert_vault_ok(vlt_tree_decode(enc, len, &d));
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(want); i++)
        assert_string_equal(d.nodes[i].name, want[i]);
    vlt_tree_clear(&d);
    vlt_tree_clear(&t);
    free(enc);
}

static void test_roundtrip_limits(void **state)
{
    (void)state;
    tree t = {0};
    tree_alloc(&t, 4);
    /* Every field at its extreme. */
    tree_node *f = &t.nodes[0];
    node_set(f, NODE_FILE, "max");
    f->mode = 07777;
    f->uid = f->gid = UINT32_MAX;
    free(f->user);
    free(f->group);
    f->user = repeat('u', TREE_OWNER_NAME_MAX);
    f->group = repeat('g', TREE_OWNER_NAME_MAX);
    f->mtime_sec = INT64_MAX;
    f->mtime_nsec = 999999999;
    f->size = f->inode = f->device = f->rdev = UINT64_MAX;
    f->nlink = UINT32_MAX;
    tree_node *m = &t.nodes[1];
    node_set(m, NODE_CHARDEV, "min");
    m->mode = 0;
    m->uid = m->gid = 0;
    free(m->user);
    free(m->group);
    m->user = NULL; /* encodes as "" */
    m->group = xstrdup("");
    m->mtime_sec = INT64_MIN;
    m->mtime_nsec = 0;
    m->inode = m->device = m->rdev = 0;
    m->nlink = 0;
    /* The longest symlink target. */
    tree_node *l = &t.nodes[2];
    node_set(l, NODE_SYMLINK, "longlink");
    free(l->target);
    l->target = repeat('t', TREE_TARGET_MAX);
    l->mtime_sec = -1;
    /* 1024 xattrs, the longest name, the longest value. */
    tree_node *x = &t.nodes[3];
    node_set(x, NODE_DIR, "xattrs");
    uint8_t *big = malloc(TREE_XATTR_VALUE_MAX);
    assert_non_null(big);
    for (size_t i = 0; i < TREE_XATTR_VALUE_MAX; i++)
        big[i] = (uint8_t)(i * 7);
    for (unsigned j = 0; j < TREE_XATTRS_MAX - 1; j++) {
        char name[32];
        /* Given in descending order: the encoder sorts them. */
        snprintf(name, sizeof name, "user.%05u", TREE_XATTRS_MAX - j);
        node_add_xattr(x, name, name, (uint32_t)strlen(name));
    }
    char *long_name = repeat('n', TREE_XATTR_NAME_MAX);
    node_add_xattr(x, long_name, big, TREE_XATTR_VALUE_MAX);
    free(long_name);
    free(big);
    assert_int_equal(x->n_xattrs, TREE_XATTRS_MAX);

    uint8_t *enc;
    size_t len;
    roundtrip(&t, &enc, &len);
    /* A negative mtime is two's complement. */
    tree d;
    assert_vault_ok(vlt_tree_decode(enc, len, &d));
    /* Sorted: longlink, max, min, xattrs. */
    assert_true(d.nodes[0].mtime_sec == -1);
    assert_true(d.nodes[1].mtime_sec == INT64_MAX);
    assert_true(d.nodes[2].mtime_sec == INT64_MIN);
    assert_true(d.nodes[2].user[0] == '\0');
    vlt_tree_clear(&d);
    free(enc);
    vlt_tree_clear(&t);
}

static void test_roundtrip_content(void **state)
{
    (void)state;
    tree t = {0};
    tree_alloc(&t, 3);
    node_set(&t.nodes[0], NODE_FILE, "zero-chunks");
    node_set(&t.nodes[1], NODE_FILE, "one-chunk");
    node_set_content(&t.nodes[1], 1, 0x11);
    node_set(&t.nodes[2], NODE_FILE, "many-chunks");
    node_set_content(&t.nodes[2], 100000, 0x22);
    uint8_t *enc;
    size_t len;
    roundtrip(&t, &enc, &len);
    tree d;
    assert_vault_ok(vlt_tree_decode(enc, len, &d));
    assert_string_equal(d.nodes[0].name, "many-chunks");
    assert_int_equal(d.nodes[0].n_content, 100000);
    assert_int_equal(d.nodes[0].content[99999][0], (uint8_t)99999);
    assert_int_equal(d.nodes[0].content[99999][1], (uint8_t)(99999 >> 8));
    assert_int_equal(d.nodes[2].n_content, 0);
    assert_null(d.nodes[2].content);
    vlt_tree_clear(&d);
    free(enc);
    vlt_tree_clear(&t);
}

/* A fixed encoding, checked byte for byte: the example in the spec. */
static void test_known_encoding(void **state)
{
    (void)state;
    static const uint8_t want[] = {
        0x01,                   /* version */
        0x02, 0x00, 0x00, 0x00, /* n_nodes */
        /* node 0 */
        0x01,                         /* type file */
        0x01, 0x00, 'f',              /* name "f" */
        0xa4, 0x01, 0x00, 0x00,       /* mode 0644 */
        0xe8, 0x03, 0x00, 0x00,       /* uid 1000 */
        0x64, 0x00, 0x00, 0x00,       /* gid 100 */
        0x03, 'a', 'n', 'n',          /* user "ann" */
        0x00,                         /* group "" */
        0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* mtime_sec -2 */
        0x15, 0xcd, 0x5b, 0x07,       /* mtime_nsec 123456789 */
        0x05, 0, 0, 0, 0, 0, 0, 0,    /* size 5 */
        0x07, 0, 0, 0, 0, 0, 0, 0,    /* inode 7 */
        0x01, 0x08, 0, 0, 0, 0, 0, 0, /* device 0x801 */
        0x01, 0x00, 0x00, 0x00,       /* nlink 1 */
        0, 0, 0, 0, 0, 0, 0, 0,       /* rdev 0 */
        0x00, 0x00,                   /* target "" */
        0x01, 0x00,                   /* n_xattrs 1 */
        0x06, 'u', 's', 'e', 'r', '.', 'k', /* xattr name "user.k" */
        0x02, 0x00, 0x00, 0x00, 'h', 'i',   /* value "hi" */
        0x01, 0x00, 0x00, 0x00,       /* n_content 1 */
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, /* chunk ID */
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
        0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
        /* node 1 */
        0x03,                         /* type symlink */
        0x01, 0x00, 'l',              /* name "l" */
        0xff, 0x01, 0x00, 0x00,       /* mode 0777 */
        0, 0, 0, 0, 0, 0, 0, 0,       /* uid 0, gid 0 */
        0x00, 0x00,                   /* user "", group "" */
        0, 0, 0, 0, 0, 0, 0, 0,       /* mtime_sec 0 */
        0, 0, 0, 0,                   /* mtime_nsec 0 */
        0, 0, 0, 0, 0, 0, 0, 0,       /* size 0 */
        0, 0, 0, 0, 0, 0, 0, 0,       /* inode 0 */
        0, 0, 0, 0, 0, 0, 0, 0,       /* device 0 */
        0x01, 0x00, 0x00, 0x00,       /* nlink 1 */
        0, 0, 0, 0, 0, 0, 0, 0,       /* rdev 0 */
        0x01, 0x00, 'f',              /* target "f" */
        0x00, 0x00,                   /* n_xattrs 0 */
    };
    tree t = {0};
    tree_alloc(&t, 2);
    tree_node *l = &t.nodes[0];
    memset(l, 0, sizeof *l);
    l->type = NODE_SYMLINK;
    l->name = xstrdup("l");
    l->mode = 0777;
    l->nlink = 1;
    l->target = xstrdup("f");
    tree_node *f = &t.nodes[1];
    memset(f, 0, sizeof *f);
    f->type = NODE_FILE;
    f->name = xstrdup("f");
    f->mode = 0644;
    f->uid = 1000;
    f->gid = 100;
    f->user = xstrdup("ann");
    f->mtime_sec = -2;
    f->mtime_nsec = 123456789;
    f->size = 5;
    f->inode = 7;
    f->device = 0x801;
    f->nlink = 1;
    node_add_xattr(f, "user.k", "hi", 2);
    f->content = xcalloc(1, CHUNK_ID_BYTES);
    memset(f->content[0], 0xaa, CHUNK_ID_BYTES);
    f->n_content = 1;
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_tree_encode(&t, &enc, &len));
    assert_int_equal(len, sizeof want);
    assert_memory_equal(enc, want, sizeof want);
    free(enc);
    vlt_tree_clear(&t);
}

/* The spec-derived encoder and tree.c agree on a tree of every type. */
static void test_matches_spec_layout(void **state)
{
    (void)state;
    static const raw_xattr rx[] = {{RSI("a"), 3, 3}, {RSI("b"), 0, 0}};
    raw_node r[7];
    r[0] = raw_default(NODE_DIR, RS("d"));
    r[1] = raw_default(NODE_FILE, RS("f"));
    r[1].size = 12345;
    r[1].n_content = r[1].content_emit = 2;
    r[1].content_fill = 0x5c;
    r[1].n_xattrs = r[1].xattrs_emit = 2;
    r[1].xattrs = rx;
    r[2] = raw_default(NODE_SYMLINK, RS("l"));
    r[2].target = RS("/abs/target");
    r[3] = raw_default(NODE_FIFO, RS("p"));
    r[4] = raw_default(NODE_CHARDEV, RS("c"));
    r[4].rdev = 0x0102030405060708;
    r[5] = raw_default(NODE_BLOCKDEV, RS("s"));
    r[5].mtime_sec = -1700000000;
    r[6] = raw_default(NODE_SOCKET, RS("z"));
    /* Spec order is bytewise: c d f l p s z. */
    raw_node sorted[7] = {r[4], r[0], r[1], r[2], r[3], r[5], r[6]};
    buf b = {0};
    raw_tree(&b, 1, 7, sorted, 7);

    tree t;
    assert_vault_ok(vlt_tree_decode(b.p, b.len, &t));
    assert_int_equal(t.n_nodes, 7);
    assert_string_equal(t.nodes[2].name, "f");
    assert_int_equal(t.nodes[2].n_xattrs, 2);
    assert_memory_equal(t.nodes[2].xattrs[0].value, "vvv", 3);
    assert_int_equal(t.nodes[2].content[1][31], 0x5c);
    assert_string_equal(t.nodes[3].target, "/abs/target");
    assert_true(t.nodes[0].rdev == 0x0102030405060708);
    assert_true(t.nodes[5].mtime_sec == -1700000000);
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_tree_encode(&t, &enc, &len));
    assert_int_equal(len, b.len);
    assert_memory_equal(enc, b.p, len);
    free(enc);
    vlt_tree_clear(&t);
    free(b.p);
}

/* ---- determinism ------------------------------------------------------ */

/* xorshift64; the masks only spell out the bits that shifting drops. */
static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rng_next(void)
{
    rng_state ^= (rng_state & (UINT64_MAX >> 13)) << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= (rng_state & (UINT64_MAX >> 17)) << 17;
    return (uint32_t)(rng_state >> 32);
}

static void shuffle_tree(tree *t)
{
    for (uint32_t i = t->n_nodes; i > 1; i--) {
        uint32_t j = rng_next() % i;
        tree_node tmp = t->nodes[i - 1];
        t->nodes[i - 1] = t->nodes[j];
        t->nodes[j] = tmp;
    }
    for (uint32_t k = 0; k < t->n_nodes; k++) {
        tree_node *n = &t->nodes[k];
        for (uint32_t i = n->n_xattrs; i > 1; i--) {
            uint32_t j = rng_next() % i;
            node_xattr tmp = n->xattrs[i - 1];
            n->xattrs[i - 1] = n->xattrs[j];
            n->xattrs[j] = tmp;
        }
    }
}

static void test_deterministic(void **state)
{
    (void)state;
    tree a = {0};
    build_sample(&a);
    uint8_t *e1, *e2;
    size_t l1, l2;
    assert_vault_ok(vlt_tree_encode(&a, &e1, &l1));
    assert_vault_ok(vlt_tree_encode(&a, &e2, &l2));
    assert_int_equal(l1, l2);
    assert_memory_equal(e1, e2, l1);
    free(e2);
    for (int round = 0; round < 20; round++) {
        tree b = {0};
        build_sample(&b);
        shuffle_tree(&b);
        assert_vault_ok(vlt_tree_encode(&b, &e2, &l2));
        assert_int_equal(l1, l2);
        assert_memory_equal(e1, e2, l1);
        free(e2);
        vlt_tree_clear(&b);
    }
    free(e1);
    vlt_tree_clear(&a);
}

/* ---- tree: encoder rejections ----------------------------------------- */

/* Each case breaks one rule in node 1 of a two-node tree. */
enum bad_encode {
    BE_TYPE0, BE_TYPE8, BE_NAME_NULL, BE_NAME_EMPTY, BE_NAME_DOT,
    BE_NAME_DOTDOT, BE_NAME_SLASH, BE_NAME_LONG, BE_MODE, BE_NSEC,
    BE_USER_LONG, BE_GROUP_LONG, BE_SYMLINK_NULL, BE_SYMLINK_EMPTY,
    BE_SYMLINK_LONG, BE_TARGET_ON_FIFO, BE_TARGET_ON_FILE, BE_DIR_SIZE,
    BE_SYMLINK_SIZE, BE_DIR_CONTENT, BE_CONTENT_NULL, BE_XATTRS_NULL,
    BE_XATTR_COUNT, BE_XATTR_NAME_EMPTY, BE_XATTR_NAME_LONG,
    BE_XATTR_NAME_NULL, BE_XATTR_DUP, BE_XATTR_VALUE_LONG,
    BE_XATTR_VALUE_NULL, BE_COUNT
};

static const char *const bad_encode_detail[BE_COUNT] = {
    [BE_TYPE0] = "unknown node type",
    [BE_TYPE8] = "unknown node type",
    [BE_NAME_NULL] = "no name",
    [BE_NAME_EMPTY] = "empty name",
    [BE_NAME_DOT] = "\".\" or \"..\"",
    [BE_NAME_DOTDOT] = "\".\" or \"..\"",
    [BE_NAME_SLASH] = "contains '/'",
    [BE_NAME_LONG] = "longer than 4096",
    [BE_MODE] = "mode",
    [BE_NSEC] = "mtime_nsec",
    [BE_USER_LONG] = "user name longer",
    [BE_GROUP_LONG] = "group name longer",
    [BE_SYMLINK_NULL] = "symlink without a target",
    [BE_SYMLINK_EMPTY] = "empty target",
    [BE_SYMLINK_LONG] = "target longer than 65535",
    [BE_TARGET_ON_FIFO] = "target on a non-symlink",
    [BE_TARGET_ON_FILE] = "target on a non-symlink",
    [BE_DIR_SIZE] = "nonzero size",
    [BE_SYMLINK_SIZE] = "nonzero size",
    [BE_DIR_CONTENT] = "non-file with content",
    [BE_CONTENT_NULL] = "no content array",
    [BE_XATTRS_NULL] = "no xattrs array",
    [BE_XATTR_COUNT] = "more than 1024 xattrs",
    [BE_XATTR_NAME_EMPTY] = "empty xattr name",
    [BE_XATTR_NAME_LONG] = "xattr name longer than 255",
    [BE_XATTR_NAME_NULL] = "xattr 0: no name",
    [BE_XATTR_DUP] = "duplicate xattr name",
    [BE_XATTR_VALUE_LONG] = "xattr value longer than 65536",
    [BE_XATTR_VALUE_NULL] = "xattr 0: no value",
};

static void break_node(tree_node *n, int which)
{
    switch (which) {
    case BE_TYPE0:
        n->type = (node_type)0;
        break;
    case BE_TYPE8:
        n->type = (node_type)8;
        break;
    case BE_NAME_NULL:
        free(n->name);
        n->name = NULL;
        break;
    case BE_NAME_EMPTY:
        n->name[0] = '\0';
        break;
    case BE_NAME_DOT:
        free(n->name);
        n->name = xstrdup(".");
        break;
    case BE_NAME_DOTDOT:
        free(n->name);
        n->name = xstrdup("..");
        break;
    case BE_NAME_SLASH:
        free(n->name);
        n->name = xstrdup("b/c");
        break;
    case BE_NAME_LONG:
        free(n->name);
        n->name = repeat('b', TREE_NAME_MAX + 1);
        break;
    case BE_MODE:
        n->mode = 010000;
        break;
    case BE_NSEC:
        n->mtime_nsec = 1000000000;
        break;
    case BE_USER_LONG:
        free(n->user);
        n->user = repeat('u', TREE_OWNER_NAME_MAX + 1);
        break;
    case BE_GROUP_LONG:
        free(n->group);
        n->group = repeat('g', TREE_OWNER_NAME_MAX + 1);
        break;
    case BE_SYMLINK_NULL:
        free(n->target);
        n->target = NULL;
        break;
    case BE_SYMLINK_EMPTY:
        n->target[0] = '\0';
        break;
    case BE_SYMLINK_LONG:
        free(n->target);
        n->target = repeat('t', TREE_TARGET_MAX + 1);
        break;
    case BE_TARGET_ON_FIFO:
    case BE_TARGET_ON_FILE:
        n->target = xstrdup("x");
        break;
    case BE_DIR_SIZE:
    case BE_SYMLINK_SIZE:
        n->size = 1;
        break;
    case BE_DIR_CONTENT:
        node_set_content(n, 1, 0);
        n->size = 0;
        break;
    case BE_CONTENT_NULL:
        n->n_content = 2;
        break;
    case BE_XATTRS_NULL:
        n->n_xattrs = 1;
        break;
    case BE_XATTR_COUNT:
        for (unsigned j = 0; j <= TREE_XATTRS_MAX; j++) {
            char name[32];
            snprintf(name, sizeof name, "user.%u", j);
            node_add_xattr(n, name, "", 0);
        }
        break;
    case BE_XATTR_NAME_EMPTY:
        node_add_xattr(n, "", "v", 1);
        break;
    case BE_XATTR_NAME_LONG: {
        char *name = repeat('x', TREE_XATTR_NAME_MAX + 1);
        node_add_xattr(n, name, "v", 1);
        free(name);
        break;
    }
    case BE_XATTR_NAME_NULL:
        node_add_xattr(n, "user.a", "v", 1);
        free(n->xattrs[0].name);
        n->xattrs[0].name = NULL;
        break;
    case BE_XATTR_DUP:
        node_add_xattr(n, "user.a", "v", 1);
        node_add_xattr(n, "user.b", "v", 1);
        node_add_xattr(n, "user.a", "w", 1);
        break;
    case BE_XATTR_VALUE_LONG: {
        uint8_t *v = calloc(1, TREE_XATTR_VALUE_MAX + 1);
        assert_non_null(v);
        node_add_xattr(n, "user.big", v, TREE_XATTR_VALUE_MAX + 1);
        free(v);
        break;
    }
    case BE_XATTR_VALUE_NULL:
        node_add_xattr(n, "user.a", "vvv", 3);
        free(n->xattrs[0].value);
        n->xattrs[0].value = NULL;
        break;
    default:
        fail();
    }
}

static node_type bad_encode_type(int which)
{
    switch (which) {
    case BE_SYMLINK_NULL:
    case BE_SYMLINK_EMPTY:
    case BE_SYMLINK_LONG:
    case BE_SYMLINK_SIZE:
        return NODE_SYMLINK;
    case BE_TARGET_ON_FIFO:
        return NODE_FIFO;
    case BE_DIR_SIZE:
    case BE_DIR_CONTENT:
        return NODE_DIR;
    default:
        return NODE_FILE;
    }
}

static void test_encode_rejects(void **state)
{
    (void)state;
    for (int which = 0; which < BE_COUNT; which++) {
        tree t = {0};
        tree_alloc(&t, 2);
        node_set(&t.nodes[0], NODE_FILE, "a");
        node_set(&t.nodes[1], bad_encode_type(which), "b");
        break_node(&t.nodes[1], which);
        expect_tree_invalid(&t, "node 1", bad_encode_detail[which]);
        /* Undo the pointer-less counts so that vlt_tree_clear is safe. */
        if (which == BE_CONTENT_NULL)
            t.nodes[1].n_content = 0;
        if (which == BE_XATTRS_NULL)
            t.nodes[1].n_xattrs = 0;
        vlt_tree_clear(&t);
    }
}

static void test_encode_rejects_tree_level(void **state)
{
    (void)state;
    uint8_t *out;
    size_t len;
    /* Duplicate names, wherever they start. */
    tree t = {0};
    tree_alloc(&t, 3);
    node_set(&t.nodes[0], NODE_FILE, "same");
    node_set(&t.nodes[1], NODE_DIR, "other");
    node_set(&t.nodes[2], NODE_FIFO, "same");
    expect_tree_invalid(&t, "share a name", NULL);
    vlt_tree_clear(&t);

    /* No nodes array; no output. */
    tree bad = {NULL, 1};
    expect_tree_invalid(&bad, "no tree", NULL);
    assert_vault_code(vlt_tree_encode(NULL, &out, &len), VAULT_E_INVALID);
    tree empty = {0};
    assert_vault_code(vlt_tree_encode(&empty, NULL, &len), VAULT_E_INVALID);
    assert_vault_code(vlt_tree_encode(&empty, &out, NULL), VAULT_E_INVALID);

    /* Larger than a decoder accepts. */
    tree_alloc(&t, 1);
    node_set(&t.nodes[0], NODE_FILE, "huge");
    node_set_content(&t.nodes[0], TREE_MAX_BYTES / CHUNK_ID_BYTES, 0);
    expect_tree_invalid(&t, "exceeds", NULL);
    vlt_tree_clear(&t);
}

/* ---- tree: decoder rejections ------------------------------------------ */

static void test_decode_header_rules(void **state)
{
    (void)state;
    buf b = {0};
    raw_node ok = raw_default(NODE_FIFO, RS("a"));

    expect_tree_corrupt(NULL, 0, "truncated header", NULL);
    raw_tree(&b, 0, 1, &ok, 1);
    expect_tree_corrupt(b.p, b.len, "unknown version", NULL);
    raw_tree(&b, 2, 1, &ok, 1);
    expect_tree_corrupt(b.p, b.len, "unknown version", NULL);
    raw_tree(&b, 1, 1, &ok, 1);
    expect_tree_corrupt(b.p, 4, "truncated header", NULL);

    /* Trailing bytes, even zeros, even a whole extra node. */
    raw_tree(&b, 1, 1, &ok, 1);
    b_u8(&b, 0);
    expect_tree_corrupt(b.p, b.len, "trailing", NULL);
    raw_node two[2] = {ok, raw_default(NODE_FIFO, RS("b"))};
    raw_tree(&b, 1, 1, two, 2);
    expect_tree_corrupt(b.p, b.len, "trailing", NULL);
    /* Fewer nodes than counted. */
    raw_tree(&b, 1, 3, two, 2);
    expect_tree_corrupt(b.p, b.len, NULL, NULL);
    raw_tree(&b, 1, 0, two, 0);
    tree t;
    assert_vault_ok(vlt_tree_decode(b.p, b.len, &t));
    vlt_tree_clear(&t);

    /* Over the size limit, whatever the content. */
    uint8_t *big = calloc(1, (size_t)TREE_MAX_BYTES + 1);
    assert_non_null(big);
    big[0] = 1;
    expect_tree_corrupt(big, (size_t)TREE_MAX_BYTES + 1, "limit", NULL);
    free(big);

    assert_vault_code(vlt_tree_decode(b.p, b.len, NULL), VAULT_E_INVALID);
    free(b.p);
}

/* Each case: node 1 of a two-node tree breaks one rule. */
typedef struct bad_decode {
    const char *detail;
    void (*mutate)(raw_node *r);
    uint8_t type; /* of node 1 before mutate */
} bad_decode;

static void bd_type0(raw_node *r) { r->type = 0; }
static void bd_type8(raw_node *r) { r->type = 8; }
static void bd_name_empty(raw_node *r) { r->name = RS(""); }
static void bd_name_dot(raw_node *r) { r->name = RS("."); }
static void bd_name_dotdot(raw_node *r) { r->name = RS(".."); }
static void bd_name_slash(raw_node *r) { r->name = RS("b/c"); }
static void bd_name_slash_only(raw_node *r) { r->name = RS("/"); }
static void bd_name_nul(raw_node *r) { r->name = RS("b\0c"); }
static void bd_name_nul_end(raw_node *r) { r->name = RS("b\0"); }
static char long_name[TREE_NAME_MAX + 1];
static void bd_name_long(raw_node *r)
{
    memset(long_name, 'b', sizeof long_name);
    r->name = (raw_str){long_name, sizeof long_name};
}
static void bd_name_dup(raw_node *r) { r->name = RS("a"); }
static void bd_name_unsorted(raw_node *r) { r->name = RS("0"); }
static void bd_name_prefix_after(raw_node *r) { (void)r; } /* see test */
static void bd_mode(raw_node *r) { r->mode = 010000; }
static void bd_mode_high(raw_node *r) { r->mode = 0x80000000u; }
static void bd_nsec(raw_node *r) { r->mtime_nsec = 1000000000; }
static void bd_nsec_max(raw_node *r) { r->mtime_nsec = UINT32_MAX; }
static void bd_user_nul(raw_node *r) { r->user = RS("a\0n"); }
static void bd_group_nul(raw_node *r) { r->group = RS("\0"); }
static void bd_target_empty(raw_node *r) { r->target = RS(""); }
static void bd_target_nul(raw_node *r) { r->target = RS("x\0y"); }
static void bd_target_set(raw_node *r) { r->target = RS("x"); }
static void bd_size(raw_node *r) { r->size = 1; }
static const raw_xattr xa_unsorted[] = {{RSI("user.b"), 1, 1},
                                        {RSI("user.a"), 1, 1}};
static void bd_xattr_unsorted(raw_node *r)
{
    r->n_xattrs = r->xattrs_emit = 2;
    r->xattrs = xa_unsorted;
}
static const raw_xattr xa_dup[] = {{RSI("user.a"), 1, 1}, {RSI("user.a"), 2, 2}};
static void bd_xattr_dup(raw_node *r)
{
    r->n_xattrs = r->xattrs_emit = 2;
    r->xattrs = xa_dup;
}
static const raw_xattr xa_prefix[] = {{RSI("user.ab"), 0, 0},
                                      {RSI("user.a"), 0, 0}};
static void bd_xattr_prefix(raw_node *r)
{
    r->n_xattrs = r->xattrs_emit = 2;
    r->xattrs = xa_prefix;
}
static const raw_xattr xa_empty[] = {{RSI(""), 1, 1}};
static void bd_xattr_empty(raw_node *r)
{
    r->n_xattrs = r->xattrs_emit = 1;
    r->xattrs = xa_empty;
}
static const raw_xattr xa_nul[] = {{RSI("user\0x"), 1, 1}};
static void bd_xattr_nul(raw_node *r)
{
    r->n_xattrs = r->xattrs_emit = 1;
    r->xattrs = xa_nul;
}
static const raw_xattr xa_big[] = {
    {RSI("user.big"), TREE_XATTR_VALUE_MAX + 1, TREE_XATTR_VALUE_MAX + 1}};
static void bd_xattr_big(raw_node *r)
{
    r->n_xattrs = r->xattrs_emit = 1;
    r->xattrs = xa_big;
}
static raw_xattr xa_many[TREE_XATTRS_MAX + 1];
static char xa_many_names[TREE_XATTRS_MAX + 1][16];
static void bd_xattr_many(raw_node *r)
{
    for (unsigned j = 0; j <= TREE_XATTRS_MAX; j++) {
        snprintf(xa_many_names[j], sizeof xa_many_names[j], "user.%05u", j);
        xa_many[j] = (raw_xattr){{xa_many_names[j], 10}, 0, 0};
    }
    r->n_xattrs = TREE_XATTRS_MAX + 1;
    r->xattrs_emit = TREE_XATTRS_MAX + 1;
    r->xattrs = xa_many;
}
static void bd_xattr_count_huge(raw_node *r) { r->n_xattrs = 1000; }
static void bd_content_huge(raw_node *r) { r->n_content = UINT32_MAX; }
static void bd_content_short(raw_node *r)
{
    r->n_content = 3;
    r->content_emit = 2;
}

static const bad_decode bad_decodes[] = {
    {"unknown node type", bd_type0, NODE_FIFO},
    {"unknown node type", bd_type8, NODE_FIFO},
    {"empty name", bd_name_empty, NODE_FIFO},
    {"\".\" or \"..\"", bd_name_dot, NODE_FIFO},
    {"\".\" or \"..\"", bd_name_dotdot, NODE_DIR},
    {"contains '/'", bd_name_slash, NODE_FIFO},
    {"contains '/'", bd_name_slash_only, NODE_FIFO},
    {"name contains NUL", bd_name_nul, NODE_FIFO},
    {"name contains NUL", bd_name_nul_end, NODE_FIFO},
    {"longer than 4096", bd_name_long, NODE_FIFO},
    {"duplicate name", bd_name_dup, NODE_FIFO},
    {"sorts before", bd_name_unsorted, NODE_FIFO},
    {"sorts before", bd_name_prefix_after, NODE_FIFO},
    {"mode", bd_mode, NODE_FILE},
    {"mode", bd_mode_high, NODE_FILE},
    {"mtime_nsec", bd_nsec, NODE_FILE},
    {"mtime_nsec", bd_nsec_max, NODE_DIR},
    {"user name contains NUL", bd_user_nul, NODE_FILE},
    {"group name contains NUL", bd_group_nul, NODE_FILE},
    {"empty target", bd_target_empty, NODE_SYMLINK},
    {"target contains NUL", bd_target_nul, NODE_SYMLINK},
    {"target on a non-symlink", bd_target_set, NODE_FIFO},
    {"target on a non-symlink", bd_target_set, NODE_FILE},
    {"target on a non-symlink", bd_target_set, NODE_DIR},
    {"nonzero size", bd_size, NODE_DIR},
    {"nonzero size", bd_size, NODE_SYMLINK},
    {"nonzero size", bd_size, NODE_CHARDEV},
    {"xattr 1: xattr name sorts before", bd_xattr_unsorted, NODE_FILE},
    {"xattr 1: xattr name sorts before", bd_xattr_prefix, NODE_FILE},
    {"xattr 1: duplicate xattr name", bd_xattr_dup, NODE_FILE},
    {"xattr 0: empty xattr name", bd_xattr_empty, NODE_DIR},
    {"xattr 0: xattr name contains NUL", bd_xattr_nul, NODE_FILE},
    {"xattr value longer than 65536", bd_xattr_big, NODE_FILE},
    {"more than 1024 xattrs", bd_xattr_many, NODE_FILE},
    {"more xattrs than the remaining", bd_xattr_count_huge, NODE_FILE},
    {"content chunk IDs", bd_content_huge, NODE_FILE},
    {"content chunk IDs", bd_content_short, NODE_FILE},
};

static void test_decode_node_rules(void **state)
{
    (void)state;
    buf b = {0};
    /* The baseline decodes, for every type of node 1. */
    for (uint8_t ty = NODE_FILE; ty <= NODE_SOCKET; ty++) {
        raw_node r[2] = {raw_default(NODE_FILE, RS("a")),
                         raw_default(ty, RS("b"))};
        raw_tree(&b, 1, 2, r, 2);
        tree t;
        assert_vault_ok(vlt_tree_decode(b.p, b.len, &t));
        vlt_tree_clear(&t);
    }
    for (size_t k = 0; k < VAULT_ARRAY_SIZE(bad_decodes); k++) {
        const bad_decode *c = &bad_decodes[k];
        raw_node r[2] = {raw_default(NODE_FILE, RS("a")),
                         raw_default(c->type, RS("b"))};
        if (c->mutate == bd_name_prefix_after) {
            /* "ab" then "a": a prefix must come first. */
            r[0].name = RS("ab");
            r[1].name = RS("a");
        }
        c->mutate(&r[1]);
        raw_tree(&b, 1, 2, r, 2);
        expect_tree_corrupt(b.p, b.len, "node 1", c->detail);
    }
    free(b.p);
}

/* ---- tree: hostile input ------------------------------------------------ */

static void test_truncation_every_offset(void **state)
{
    (void)state;
    tree t = {0};
    build_sample(&t);
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_tree_encode(&t, &enc, &len));
    vlt_tree_clear(&t);
    for (size_t cut = 0; cut < len; cut++) {
        /* A copy of exactly cut bytes, so ASan sees any overread. */
        uint8_t *p = malloc(cut ? cut : 1);
        assert_non_null(p);
        memcpy(p, enc, cut);
        expect_tree_corrupt(p, cut, NULL, NULL);
        free(p);
    }
    free(enc);
}

static void test_byte_flips(void **state)
{
    (void)state;
    static const uint8_t masks[] = {0x01, 0x02, 0x04, 0x10, 0x80, 0xff};
    tree t = {0};
    tree_alloc(&t, 4);
    node_set(&t.nodes[0], NODE_FILE, "f");
    node_set_content(&t.nodes[0], 2, 0x33);
    node_add_xattr(&t.nodes[0], "user.x", "v", 1);
    node_set(&t.nodes[1], NODE_DIR, "d");
    node_set(&t.nodes[2], NODE_SYMLINK, "l");
    node_set(&t.nodes[3], NODE_CHARDEV, "c");
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_tree_encode(&t, &enc, &len));
    vlt_tree_clear(&t);
    uint8_t *p = malloc(len);
    assert_non_null(p);
    size_t accepted = 0, rejected = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < VAULT_ARRAY_SIZE(masks); m++) {
            memcpy(p, enc, len);
            p[i] ^= masks[m];
            tree d;
            vault_error rc = vlt_tree_decode(p, len, &d);
            if (rc == VAULT_OK) {
                /* Whatever decodes is canonical: it re-encodes to itself. */
                uint8_t *re;
                size_t re_len;
                assert_vault_ok(vlt_tree_encode(&d, &re, &re_len));
                assert_int_equal(re_len, len);
                assert_memory_equal(re, p, len);
                free(re);
                vlt_tree_clear(&d);
                accepted++;
            } else {
                assert_int_equal(rc, VAULT_E_CORRUPT);
                assert_true(is_zero(&d, sizeof d));
                rejected++;
            }
        }
    }
    assert_true(accepted > 0 && rejected > 0);
    free(p);
    free(enc);
}

/* Counts claiming far more than the input holds fail at once, before any
 * allocation they would size (under ASan an allocation of ~700 GB would
 * abort the test). */
static void test_huge_counts(void **state)
{
    (void)state;
    static const uint8_t nodes_huge[10] = {1, 0xff, 0xff, 0xff, 0xff,
                                           1, 1, 0, 'a', 0};
    expect_tree_corrupt(nodes_huge, sizeof nodes_huge, "cannot fit", NULL);
    static const uint8_t nodes_big[5] = {1, 0x00, 0x00, 0x00, 0x80};
    expect_tree_corrupt(nodes_big, sizeof nodes_big, "cannot fit", NULL);

    buf b = {0};
    raw_node r = raw_default(NODE_FILE, RS("f"));
    r.n_content = UINT32_MAX;
    raw_tree(&b, 1, 1, &r, 1);
    expect_tree_corrupt(b.p, b.len, "node 0", "content chunk IDs");
    r = raw_default(NODE_FILE, RS("f"));
    r.n_xattrs = TREE_XATTRS_MAX;
    raw_tree(&b, 1, 1, &r, 1);
    expect_tree_corrupt(b.p, b.len, "node 0", "more xattrs than");
    r.n_xattrs = UINT16_MAX;
    raw_tree(&b, 1, 1, &r, 1);
    expect_tree_corrupt(b.p, b.len, "node 0", "more than 1024");
    static const raw_xattr xv[] = {{RSI("user.v"), UINT32_MAX, 0}};
    r.n_xattrs = r.xattrs_emit = 1;
    r.xattrs = xv;
    raw_tree(&b, 1, 1, &r, 1);
    expect_tree_corrupt(b.p, b.len, "node 0", "xattr value longer");
    free(b.p);
}

static void test_clear_is_safe(void **state)
{
    (void)state;
    tree t = {0};
    vlt_tree_clear(&t);
    vlt_tree_clear(&t);
    vlt_tree_clear(NULL);
    tree_node n;
    memset(&n, 0, sizeof n);
    vlt_tree_node_clear(&n);
    vlt_tree_node_clear(NULL);
    node_set(&n, NODE_SYMLINK, "l");
    node_add_xattr(&n, "user.a", "b", 1);
    vlt_tree_node_clear(&n);
    assert_true(is_zero(&n, sizeof n));
    build_sample(&t);
    vlt_tree_clear(&t);
    assert_true(is_zero(&t, sizeof t));
    snapshot_record s;
    memset(&s, 0, sizeof s);
    vlt_snapshot_clear(&s);
    vlt_snapshot_clear(NULL);
}

/* ---- snapshots -------------------------------------------------------- */

/* Spec, "Snapshot records": a record is at most 16 MiB - 180 bytes, so
 * that sealed (68-byte header, author and signature 96 bytes (format v2),
 * 16-byte tag) it fits in 16 MiB. */
#define SNAPSHOT_RECORD_MAX ((size_t)16 * 1024 * 1024 - 84 - 96)
/* Everything but the strings: version, time, tree, four lengths or counts
 * of two bytes, four u64 counters. */
#define SNAPSHOT_FIXED ((size_t)1 + 8 + 4 + 32 + 2 + 2 + 2 + 2 + 32)

static char *sample_paths[] = {"/home/ann", "/etc",
                               "/with space/and\nnewline", "relative"};
static char *sample_tags[] = {"daily", "\303\274nic\303\270de", "t"};

static snapshot_record sample_snapshot(void)
{
    snapshot_record s;
    memset(&s, 0, sizeof s);
    s.time_sec = 1700000000;
    s.time_nsec = 999999999;
    memset(s.tree, 0x7e, sizeof s.tree);
    s.hostname = "host.example";
    s.username = "ann";
    s.paths = sample_paths;
    s.n_paths = VAULT_ARRAY_SIZE(sample_paths);
    s.tags = sample_tags;
    s.n_tags = VAULT_ARRAY_SIZE(sample_tags);
    s.files = 12;
    s.dirs = 3;
    s.bytes_read = UINT64_MAX;
    s.bytes_added = 0;
    return s;
}

static void assert_snapshot_equal(const snapshot_record *a,
                                  const snapshot_record *b)
{
    assert_true(a->time_sec == b->time_sec);
    assert_int_equal(a->time_nsec, b->time_nsec);
    assert_memory_equal(a->tree, b->tree, CHUNK_ID_BYTES);
    assert_string_equal(str_or_empty(a->hostname), b->hostname);
    assert_string_equal(str_or_empty(a->username), b->username);
    assert_int_equal(a->n_paths, b->n_paths);
    for (uint32_t j = 0; j < a->n_paths; j++)
        assert_string_equal(a->paths[j], b->paths[j]);
    assert_int_equal(a->n_tags, b->n_tags);
    for (uint32_t j = 0; j < a->n_tags; j++)
        assert_string_equal(a->tags[j], b->tags[j]);
    assert_true(a->files == b->files);
    assert_true(a->dirs == b->dirs);
    assert_true(a->bytes_read == b->bytes_read);
    assert_true(a->bytes_added == b->bytes_added);
}

static void snapshot_roundtrip(const snapshot_record *s, uint8_t **bytes,
                               size_t *len_out)
{
    uint8_t *enc, *enc2;
    size_t len, len2;
    snapshot_record d;
    assert_vault_ok(vlt_snapshot_encode(s, &enc, &len));
    assert_vault_ok(vlt_snapshot_decode(enc, len, &d));
    assert_snapshot_equal(s, &d);
    assert_non_null(d.hostname);
    assert_non_null(d.username);
    if (d.n_paths == 0)
        assert_null(d.paths);
    if (d.n_tags == 0)
        assert_null(d.tags);
    assert_vault_ok(vlt_snapshot_encode(&d, &enc2, &len2));
    assert_int_equal(len, len2);
    assert_memory_equal(enc, enc2, len);
    free(enc2);
    vlt_snapshot_clear(&d);
    assert_true(is_zero(&d, sizeof d));
    if (bytes) {
        *bytes = enc;
        *len_out = len;
    } else {
        free(enc);
    }
}

static void expect_snapshot_corrupt(const uint8_t *data, size_t len,
                                    const char *part)
{
    snapshot_record s;
    memset(&s, 0xAA, sizeof s);
    vault_error rc = vlt_snapshot_decode(data, len, &s);
    if (rc != VAULT_E_CORRUPT)
        fail_msg("vlt_snapshot_decode(%zu bytes): expected corrupt (%s), got "
                 "%s: %s",
                 len, part ? part : "", vault_strerror(rc),
                 vault_last_error());
    assert_true(is_zero(&s, sizeof s));
    if (part)
        assert_detail_has(part);
}

static void expect_snapshot_invalid(const snapshot_record *s,
                                    const char *part)
{
    uint8_t *out = (uint8_t *)&out;
    size_t len = 99;
    assert_vault_code(vlt_snapshot_encode(s, &out, &len), VAULT_E_INVALID);
    assert_null(out);
    assert_int_equal(len, 0);
    if (part)
        assert_detail_has(part);
}

static void test_snapshot_roundtrip(void **state)
{
    (void)state;
    snapshot_record s = sample_snapshot();
    snapshot_roundtrip(&s, NULL, NULL);
    uint8_t *e1, *e2;
    size_t l1, l2;
    assert_vault_ok(vlt_snapshot_encode(&s, &e1, &l1));
    assert_vault_ok(vlt_snapshot_encode(&s, &e2, &l2));
    assert_int_equal(l1, l2);
    assert_memory_equal(e1, e2, l1);
    free(e1);
    free(e2);

    /* Everything empty or absent; extreme times. */
    snapshot_record e;
    memset(&e, 0, sizeof e);
    e.time_sec = INT64_MIN;
    snapshot_roundtrip(&e, NULL, NULL);
    e.time_sec = -1;
    e.hostname = "";
    snapshot_roundtrip(&e, NULL, NULL);

    /* The most paths and tags, the longest tag and hostname. */
    static char *one_path[] = {"/p"};
    static char *one_tag[] = {"t"};
    char **paths = xcalloc(65535, sizeof *paths);
    char **tags = xcalloc(65535, sizeof *tags);
    char *tag = repeat('t', 255);
    for (size_t i = 0; i < 65535; i++) {
        paths[i] = one_path[0];
        tags[i] = i % 2 ? tag : one_tag[0];
    }
    char *host = repeat('h', 65535);
    e.hostname = host;
    e.username = host;
    e.paths = paths;
    e.n_paths = 65535;
    e.tags = tags;
    e.n_tags = 65535;
    snapshot_roundtrip(&e, NULL, NULL);
    free(host);
    free(tag);
    free(paths);
    free(tags);
}

static void test_snapshot_known_encoding(void **state)
{
    (void)state;
    static const uint8_t want[] = {
        0x01,                                           /* version */
        0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00, /* time_sec */
        0x15, 0xcd, 0x5b, 0x07,                         /* time_nsec */
        0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, /* tree */
        0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e,
        0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e,
        0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e,
        0x01, 0x00, 'h',                                /* hostname */
        0x00, 0x00,                                     /* username "" */
        0x01, 0x00,                                     /* n_paths */
        0x04, 0x00, '/', 'e', 't', 'c',                 /* path */
        0x00, 0x00,                                     /* n_tags */
        0x02, 0, 0, 0, 0, 0, 0, 0,                      /* files */
        0x01, 0, 0, 0, 0, 0, 0, 0,                      /* dirs */
        0x00, 0x01, 0, 0, 0, 0, 0, 0,                   /* bytes_read */
        0x10, 0, 0, 0, 0, 0, 0, 0,                      /* bytes_added */
    };
    static char *paths[] = {"/etc"};
    snapshot_record s;
    memset(&s, 0, sizeof s);
    s.time_sec = 1700000000;
    s.time_nsec = 123456789;
    memset(s.tree, 0x7e, sizeof s.tree);
    s.hostname = "h";
    s.paths = paths;
    s.n_paths = 1;
    s.files = 2;
    s.dirs = 1;
    s.bytes_read = 256;
    s.bytes_added = 16;
    uint8_t *enc;
    size_t len;
    snapshot_roundtrip(&s, &enc, &len);
    assert_int_equal(len, sizeof want);
    assert_memory_equal(enc, want, sizeof want);
    free(enc);
}

static void test_snapshot_encode_rejects(void **state)
{
    (void)state;
    uint8_t *out;
    size_t len;
    snapshot_record s = sample_snapshot();
    s.time_nsec = 1000000000;
    expect_snapshot_invalid(&s, "time_nsec");

    char *bad[2] = {"/ok", ""};
    s = sample_snapshot();
    s.paths = bad;
    s.n_paths = 2;
    expect_snapshot_invalid(&s, "path 1: empty path");
    bad[1] = NULL;
    expect_snapshot_invalid(&s, "path 1: missing");
    s.paths = NULL;
    expect_snapshot_invalid(&s, "no path array");

    s = sample_snapshot();
    bad[1] = "";
    s.tags = bad;
    s.n_tags = 2;
    expect_snapshot_invalid(&s, "tag 1: empty tag");
    char *long_tag = repeat('t', 256);
    bad[1] = long_tag;
    expect_snapshot_invalid(&s, "tag 1: tag longer than 255");
    free(long_tag);

    char *long_str = repeat('s', 65536);
    s = sample_snapshot();
    s.hostname = long_str;
    expect_snapshot_invalid(&s, "hostname longer");
    s = sample_snapshot();
    s.username = long_str;
    expect_snapshot_invalid(&s, "username longer");
    s = sample_snapshot();
    bad[1] = long_str;
    s.paths = bad;
    s.n_paths = 2;
    expect_snapshot_invalid(&s, "path 1: path longer than 65535");
    free(long_str);

    /* Counts beyond u16, and a record over the size limit. */
    char **many = xcalloc(65536, sizeof *many);
    for (size_t i = 0; i < 65536; i++)
        many[i] = "x";
    s = sample_snapshot();
    s.paths = many;
    s.n_paths = 65536;
    expect_snapshot_invalid(&s, "more than 65535 paths");
    s = sample_snapshot();
    s.tags = many;
    s.n_tags = 65536;
    expect_snapshot_invalid(&s, "more than 65535 tags");
    /* A record just over the limit, and one just at it. */
    char *big_path = repeat('p', 65535);
    for (size_t i = 0; i < 256; i++)
        many[i] = big_path;
    snapshot_record e;
    memset(&e, 0, sizeof e);
    e.paths = many;
    e.n_paths = 256; /* 256 * 65537 = 16777472 bytes of paths */
    expect_snapshot_invalid(&e, "exceeds");
    size_t fixed = SNAPSHOT_FIXED + 255 * 65537 + 2;
    char *last = repeat('q', SNAPSHOT_RECORD_MAX - fixed);
    many[255] = last;
    snapshot_roundtrip(&e, &out, &len);
    assert_int_equal(len, SNAPSHOT_RECORD_MAX);
    free(out);
    many[255] = repeat('q', SNAPSHOT_RECORD_MAX - fixed + 1); /* +1 byte */
    expect_snapshot_invalid(&e, "exceeds");
    free(many[255]);
    free(last);
    free(big_path);
    free(many);

    assert_vault_code(vlt_snapshot_encode(NULL, &out, &len), VAULT_E_INVALID);
    s = sample_snapshot();
    assert_vault_code(vlt_snapshot_encode(&s, NULL, &len), VAULT_E_INVALID);
}

/* A snapshot record from the spec, with every part under control. */
typedef struct raw_snap {
    uint8_t version;
    int64_t time_sec;
    uint32_t time_nsec;
    raw_str host, user;
    uint16_t n_paths, paths_emit;
    raw_str paths[3];
    uint16_t n_tags, tags_emit;
    raw_str tags[3];
    int counters_emit; /* how many of the four u64 counters */
} raw_snap;

static raw_snap raw_snap_default(void)
{
    raw_snap r;
    memset(&r, 0, sizeof r);
    r.version = 1;
    r.time_sec = 1700000000;
    r.time_nsec = 1;
    r.host = RS("host");
    r.user = RS("ann");
    r.n_paths = r.paths_emit = 2;
    r.paths[0] = RS("/a");
    r.paths[1] = RS("/b");
    r.n_tags = r.tags_emit = 1;
    r.tags[0] = RS("daily");
    r.counters_emit = 4;
    return r;
}

static void raw_snap_put(buf *b, const raw_snap *r)
{
    b->len = 0;
    b_u8(b, r->version);
    b_u64(b, (uint64_t)r->time_sec);
    b_u32(b, r->time_nsec);
    b_fill(b, 0x42, CHUNK_ID_BYTES);
    b_str16(b, r->host);
    b_str16(b, r->user);
    b_u16(b, r->n_paths);
    for (unsigned j = 0; j < r->paths_emit; j++)
        b_str16(b, r->paths[j]);
    b_u16(b, r->n_tags);
    for (unsigned j = 0; j < r->tags_emit; j++)
        b_str16(b, r->tags[j]);
    for (int k = 0; k < r->counters_emit; k++)
        b_u64(b, (uint64_t)k + 1);
}

static void test_snapshot_decode_rejects(void **state)
{
    (void)state;
    buf b = {0};
    raw_snap r = raw_snap_default();
    raw_snap_put(&b, &r);
    snapshot_record s;
    assert_vault_ok(vlt_snapshot_decode(b.p, b.len, &s));
    assert_string_equal(s.paths[1], "/b");
    assert_string_equal(s.tags[0], "daily");
    assert_true(s.bytes_added == 4);
    vlt_snapshot_clear(&s);

    expect_snapshot_corrupt(NULL, 0, "truncated header");
    r = raw_snap_default();
    r.version = 0;
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "unknown version");
    r.version = 2;
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "unknown version");
    r = raw_snap_default();
    r.time_nsec = 1000000000;
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "time_nsec");
    r = raw_snap_default();
    r.host = RS("ho\0st");
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "hostname contains NUL");
    r = raw_snap_default();
    r.user = RS("\0");
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "username contains NUL");
    r = raw_snap_default();
    r.paths[1] = RS("");
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "path 1: empty path");
    r = raw_snap_default();
    r.paths[0] = RS("/a\0b");
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "path 0: path contains NUL");
    r = raw_snap_default();
    r.tags[0] = RS("");
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "tag 0: empty tag");
    r = raw_snap_default();
    r.tags[0] = RS("da\0ly");
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "tag 0: tag contains NUL");
    char long_tag[256];
    memset(long_tag, 't', sizeof long_tag);
    r = raw_snap_default();
    r.tags[0] = (raw_str){long_tag, sizeof long_tag};
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "tag 0: tag longer than 255");
    r.tags[0].len = 255;
    raw_snap_put(&b, &r);
    assert_vault_ok(vlt_snapshot_decode(b.p, b.len, &s));
    vlt_snapshot_clear(&s);

    /* Counts against the bytes that remain. */
    r = raw_snap_default();
    r.n_paths = UINT16_MAX;
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "paths cannot fit");
    r = raw_snap_default();
    r.n_tags = UINT16_MAX;
    r.counters_emit = 0;
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "tags cannot fit");
    r = raw_snap_default();
    r.n_paths = 3; /* the tag count and tag are read as a path */
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, NULL);

    /* Trailing bytes; a missing counter. */
    r = raw_snap_default();
    raw_snap_put(&b, &r);
    b_u8(&b, 0);
    expect_snapshot_corrupt(b.p, b.len, "trailing");
    r.counters_emit = 3;
    raw_snap_put(&b, &r);
    expect_snapshot_corrupt(b.p, b.len, "truncated counters");

    uint8_t *big = calloc(1, SNAPSHOT_RECORD_MAX + 1);
    assert_non_null(big);
    big[0] = 1;
    expect_snapshot_corrupt(big, SNAPSHOT_RECORD_MAX + 1, "limit");
    free(big);
    assert_vault_code(vlt_snapshot_decode(b.p, b.len, NULL), VAULT_E_INVALID);
    free(b.p);
}

static void test_snapshot_hostile(void **state)
{
    (void)state;
    static const uint8_t masks[] = {0x01, 0x08, 0x80, 0xff};
    snapshot_record s = sample_snapshot();
    uint8_t *enc;
    size_t len;
    assert_vault_ok(vlt_snapshot_encode(&s, &enc, &len));
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *p = malloc(cut ? cut : 1);
        assert_non_null(p);
        memcpy(p, enc, cut);
        expect_snapshot_corrupt(p, cut, NULL);
        free(p);
    }
    uint8_t *p = malloc(len);
    assert_non_null(p);
    for (size_t i = 0; i < len; i++) {
        for (size_t m = 0; m < VAULT_ARRAY_SIZE(masks); m++) {
            memcpy(p, enc, len);
            p[i] ^= masks[m];
            snapshot_record d;
            vault_error rc = vlt_snapshot_decode(p, len, &d);
            if (rc == VAULT_OK) {
                uint8_t *re;
                size_t re_len;
                assert_vault_ok(vlt_snapshot_encode(&d, &re, &re_len));
                assert_int_equal(re_len, len);
                assert_memory_equal(re, p, len);
                free(re);
                vlt_snapshot_clear(&d);
            } else {
                assert_int_equal(rc, VAULT_E_CORRUPT);
                assert_true(is_zero(&d, sizeof d));
            }
        }
    }
    free(p);
    free(enc);

    /* Huge counts in a tiny record. */
    static const uint8_t tiny[] = {1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, /* tree ends */
                                   0, 0, 0, 0,       /* host, user */
                                   0xff, 0xff};      /* n_paths */
    expect_snapshot_corrupt(tiny, sizeof tiny, "paths cannot fit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_all_types),
        cmocka_unit_test(test_roundtrip_empty_tree),
        cmocka_unit_test(test_roundtrip_odd_names),
        cmocka_unit_test(test_sort_order),
        cmocka_unit_test(test_roundtrip_limits),
        cmocka_unit_test(test_roundtrip_content),
        cmocka_unit_test(test_known_encoding),
        cmocka_unit_test(test_matches_spec_layout),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_encode_rejects),
        cmocka_unit_test(test_encode_rejects_tree_level),
        cmocka_unit_test(test_decode_header_rules),
        cmocka_unit_test(test_decode_node_rules),
        cmocka_unit_test(test_truncation_every_offset),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_clear_is_safe),
        cmocka_unit_test(test_snapshot_roundtrip),
        cmocka_unit_test(test_snapshot_known_encoding),
        cmocka_unit_test(test_snapshot_encode_rejects),
        cmocka_unit_test(test_snapshot_decode_rejects),
        cmocka_unit_test(test_snapshot_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
