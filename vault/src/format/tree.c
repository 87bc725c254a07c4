/*
 * tree.c - the canonical byte encoding of trees.
 * Format spec: format-spec/trees.md, §2 "Trees" (each rejection rule
 * there is checked here).  Snapshot records share the encoding's
 * primitives (format/codec.h) and are in snapshot.c.
 *
 * All integers little-endian; i64 is two's complement;
 * str8 = len:u8 || bytes, str16 = len:u16 || bytes.
 *
 *   tree     = version:u8 (=1) || n_nodes:u32 || node{n_nodes}
 *
 *   node     = type:u8 || name:str16 || mode:u32 || uid:u32 || gid:u32 ||
 *              user:str8 || group:str8 || mtime_sec:i64 ||
 *              mtime_nsec:u32 || size:u64 || inode:u64 || device:u64 ||
 *              nlink:u32 || rdev:u64 || target:str16 ||
 *              n_xattrs:u16 || xattr{n_xattrs} || body
 *   xattr    = name:str8 || value_len:u32 || value:value_len bytes
 *   body     = n_content:u32 || chunk_id:32 bytes{n_content}   type 1 file
 *            | subtree:32 bytes                                type 2 dir
 *            | (empty)                                         types 3..7
 * *
 * One set of rule checks (the *_rule functions below) serves both
 * directions: the encoder turns a broken rule into VAULT_E_INVALID, the
 * decoder into VAULT_E_CORRUPT.  So the encoder writes exactly what the
 * decoder accepts, and every accepted input re-encodes to itself.
 *
 * The decoder trusts no count: before allocating room for N things it
 * checks that N of the smallest possible encodings of a thing fit in the
 * bytes that remain, so memory use is bounded by a small multiple of the
 * input length whatever the counts say.
 */
#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "format/codec.h"
#include "format/tree.h"

/* Encoded bytes of a node without its string bytes, xattrs and body:
 * type, name length, mode, uid, gid, user length, group length, mtime_sec,
 * mtime_nsec, size, inode, device, nlink, rdev, target length, n_xattrs. */
#define NODE_FIXED_BYTES                                                     \
    (1 + 2 + 4 + 4 + 4 + 1 + 1 + 8 + 4 + 8 + 8 + 8 + 4 + 8 + 2 + 2)
/* The smallest node: a one-byte name, nothing else variable. */
#define NODE_MIN_BYTES (NODE_FIXED_BYTES + 1)
/* Name length and value length of an xattr; names are non-empty. */
#define XATTR_FIXED_BYTES (1 + 4)
#define XATTR_MIN_BYTES (XATTR_FIXED_BYTES + 1)
#define TREE_HEADER_BYTES (1 + 4)

/* ---------------------------------------------------------------------
 * Rules shared by encoder and decoder.  Each returns NULL when the rule
 * holds, else the rule broken, in words for the error detail.
 */

/* Bytewise order, a prefix first: the order of nodes and of xattrs. */
static int name_cmp(const uint8_t *a, size_t alen, const uint8_t *b,
                    size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen;
}

static const char *name_rule(const uint8_t *s, size_t len)
{
    if (len == 0)
        return "empty name";
    if (len > TREE_NAME_MAX)
        return "name longer than 4096 bytes";
    if (s[0] == '.' && (len == 1 || (len == 2 && s[1] == '.')))
        return "name is \".\" or \"..\"";
    if (memchr(s, '/', len))
        return "name contains '/'";
    if (memchr(s, '\0', len))
        return "name contains NUL";
    return NULL;
}

static const char *type_rule(unsigned type)
{
    if (type < NODE_FILE || type > NODE_SOCKET)
        return "unknown node type";
    return NULL;
}

static const char *owner_rule(const uint8_t *s, size_t len, int is_group)
{
    if (len > TREE_OWNER_NAME_MAX)
        return is_group ? "group name longer than 255 bytes"
                        : "user name longer than 255 bytes";
    if (memchr(s, '\0', len))
        return is_group ? "group name contains NUL" : "user name contains NUL";
    return NULL;
}

static const char *scalar_rule(unsigned type, uint32_t mode,
                               uint32_t mtime_nsec, uint64_t size)
{
    if (mode > 07777)
        return "mode has bits above 07777";
    if (mtime_nsec >= NSEC_PER_SEC)
        return "mtime_nsec not below 1000000000";
    if (type != NODE_FILE && size != 0)
        return "non-file with a nonzero size";
    return NULL;
}

static const char *target_rule(unsigned type, const uint8_t *s, size_t len)
{
    if (type != NODE_SYMLINK)
        return len != 0 ? "target on a non-symlink" : NULL;
    if (len == 0)
        return "symlink with an empty target";
    if (len > TREE_TARGET_MAX)
        return "symlink target longer than 65535 bytes";
    if (memchr(s, '\0', len))
        return "symlink target contains NUL";
    return NULL;
}

static const char *xattr_count_rule(uint32_t n)
{
    return n > TREE_XATTRS_MAX ? "more than 1024 xattrs" : NULL;
}

static const char *xattr_rule(const uint8_t *name, size_t name_len,
                              uint32_t value_len)
{
    if (name_len == 0)
        return "empty xattr name";
    if (name_len > TREE_XATTR_NAME_MAX)
        return "xattr name longer than 255 bytes";
    if (memchr(name, '\0', name_len))
        return "xattr name contains NUL";
    if (value_len > TREE_XATTR_VALUE_MAX)
        return "xattr value longer than 65536 bytes";
    return NULL;
}

/* ---------------------------------------------------------------------
 * Encoding.
 */

static int node_cmp(const void *a, const void *b)
{
    const char *x = ((const tree_node *)a)->name;
    const char *y = ((const tree_node *)b)->name;
    return name_cmp(bytes_of(x), strlen(x), bytes_of(y), strlen(y));
}

static int xattr_cmp(const void *a, const void *b)
{
    const char *x = ((const node_xattr *)a)->name;
    const char *y = ((const node_xattr *)b)->name;
    return name_cmp(bytes_of(x), strlen(x), bytes_of(y), strlen(y));
}

/* Checks node i against every rule but the order of nodes, sorts its
 * xattrs, and adds its encoded length to *total (kept <= the limit). */
static vault_error prepare_node(tree_node *n, uint32_t i, uint64_t *total)
{
    const char *why;
    unsigned type = (unsigned)n->type;
    if ((why = type_rule(type)))
        goto bad;
    if (!n->name) {
        why = "no name";
        goto bad;
    }
    size_t name_len = strlen(n->name);
    if ((why = name_rule(bytes_of(n->name), name_len)))
        goto bad;
    const char *user = or_empty(n->user), *group = or_empty(n->group);
    size_t user_len = strlen(user), group_len = strlen(group);
    if ((why = owner_rule(bytes_of(user), user_len, 0)) ||
        (why = owner_rule(bytes_of(group), group_len, 1)))
        goto bad;
    if ((why = scalar_rule(type, n->mode, n->mtime_nsec, n->size)))
        goto bad;
    if (type == NODE_SYMLINK && !n->target) {
        why = "symlink without a target";
        goto bad;
    }
    const char *target = or_empty(n->target);
    size_t target_len = strlen(target);
    if ((why = target_rule(type, bytes_of(target), target_len)))
        goto bad;
    if (type != NODE_FILE && n->n_content != 0) {
        why = "non-file with content chunks";
        goto bad;
    }
    if (n->n_content && !n->content) {
        why = "n_content set but no content array";
        goto bad;
    }
    if ((why = xattr_count_rule(n->n_xattrs)))
        goto bad;
    if (n->n_xattrs && !n->xattrs) {
        why = "n_xattrs set but no xattrs array";
        goto bad;
    }

    uint64_t len = NODE_FIXED_BYTES + name_len + user_len + group_len +
                   target_len;
    for (uint32_t j = 0; j < n->n_xattrs; j++) {
        const node_xattr *x = &n->xattrs[j];
        if (!x->name)
            return vlt_fail(VAULT_E_INVALID, "tree node %" PRIu32
                            ": xattr %" PRIu32 ": no name", i, j);
        size_t xlen = strlen(x->name);
        if ((why = xattr_rule(bytes_of(x->name), xlen, x->value_len)))
            return vlt_fail(VAULT_E_INVALID, "tree node %" PRIu32
                            ": xattr %" PRIu32 ": %s", i, j, why);
        if (x->value_len && !x->value)
            return vlt_fail(VAULT_E_INVALID, "tree node %" PRIu32
                            ": xattr %" PRIu32 ": no value", i, j);
        len += XATTR_FIXED_BYTES + xlen + x->value_len;
    }
    if (n->n_xattrs > 1)
        qsort(n->xattrs, n->n_xattrs, sizeof *n->xattrs, xattr_cmp);
    for (uint32_t j = 1; j < n->n_xattrs; j++)
        if (xattr_cmp(&n->xattrs[j - 1], &n->xattrs[j]) == 0)
            return vlt_fail(VAULT_E_INVALID,
                            "tree node %" PRIu32 ": duplicate xattr name",
                            i);
    if (type == NODE_FILE)
        len += 4 + (uint64_t)n->n_content * CHUNK_ID_BYTES;
    else if (type == NODE_DIR)
        len += CHUNK_ID_BYTES;

    /* Each term is at most a few GiB, so neither sum can overflow. */
    if (len > TREE_MAX_BYTES - *total)
        return vlt_fail(VAULT_E_INVALID,
                        "tree node %" PRIu32
                        ": tree encoding exceeds %u bytes",
                        i, TREE_MAX_BYTES);
    *total += len;
    return VAULT_OK;

bad:
    return vlt_fail(VAULT_E_INVALID, "tree node %" PRIu32 ": %s", i, why);
}

static uint8_t *put_node(uint8_t *w, const tree_node *n)
{
    const char *user = or_empty(n->user), *group = or_empty(n->group);
    const char *target = or_empty(n->target);
    w = put_u8(w, (uint8_t)n->type);
    w = put_str16(w, n->name, strlen(n->name));
    w = put_u32(w, n->mode);
    w = put_u32(w, n->uid);
    w = put_u32(w, n->gid);
    w = put_str8(w, user, strlen(user));
    w = put_str8(w, group, strlen(group));
    w = put_u64(w, (uint64_t)n->mtime_sec);
    w = put_u32(w, n->mtime_nsec);
    w = put_u64(w, n->size);
    w = put_u64(w, n->inode);
    w = put_u64(w, n->device);
    w = put_u32(w, n->nlink);
    w = put_u64(w, n->rdev);
    w = put_str16(w, target, strlen(target));
    w = put_u16(w, (uint16_t)n->n_xattrs);
    for (uint32_t j = 0; j < n->n_xattrs; j++) {
        const node_xattr *x = &n->xattrs[j];
        w = put_str8(w, x->name, strlen(x->name));
        w = put_u32(w, x->value_len);
        w = put_bytes(w, x->value, x->value_len);
    }
    if (n->type == NODE_FILE) {
        w = put_u32(w, n->n_content);
        w = put_bytes(w, n->content, (size_t)n->n_content * CHUNK_ID_BYTES);
    } else if (n->type == NODE_DIR) {
        w = put_bytes(w, n->subtree, CHUNK_ID_BYTES);
    }
    return w;
}

vault_error vlt_tree_encode(tree *t, uint8_t **out, size_t *out_len)
{
    if (!out || !out_len)
        return vlt_fail(VAULT_E_INVALID, "vlt_tree_encode: no output");
    *out = NULL;
    *out_len = 0;
    if (!t || (t->n_nodes && !t->nodes))
        return vlt_fail(VAULT_E_INVALID, "vlt_tree_encode: no tree");

    /* Validate in the caller's order, so indices in details are theirs. */
    uint64_t total = TREE_HEADER_BYTES;
    for (uint32_t i = 0; i < t->n_nodes; i++) {
        vault_error rc = prepare_node(&t->nodes[i], i, &total);
        if (rc != VAULT_OK)
            return rc;
    }
    if (t->n_nodes > 1)
        qsort(t->nodes, t->n_nodes, sizeof *t->nodes, node_cmp);
    for (uint32_t i = 1; i < t->n_nodes; i++)
        if (node_cmp(&t->nodes[i - 1], &t->nodes[i]) == 0)
            return vlt_fail(VAULT_E_INVALID,
                            "tree: two nodes share a name");

    uint8_t *buf = malloc((size_t)total);
    if (!buf)
        return vlt_fail(VAULT_E_NOMEM, "vlt_tree_encode: out of memory");
    uint8_t *w = buf;
    w = put_u8(w, TREE_FORMAT_VERSION);
    w = put_u32(w, t->n_nodes);
    for (uint32_t i = 0; i < t->n_nodes; i++)
        w = put_node(w, &t->nodes[i]);
    assert((uint64_t)(w - buf) == total);
    *out = buf;
    *out_len = (size_t)total;
    return VAULT_OK;
}

/* ---------------------------------------------------------------------
 * Decoding.
 */

/* What one allocation of n bytes costs: glibc's chunks are 16-byte
 * aligned with an 8-byte header, 32 bytes at least. */
static size_t alloc_cost(size_t n)
{
    size_t c = (n + 8 + 15) & ~(size_t)15;
    return c < 32 ? 32 : c;
}

/* The memory a decode may still take, and what it took. */
typedef struct decode_budget {
    size_t used, max;
} decode_budget;

/* Counts an allocation of n bytes about to be made; 0 if it would go
 * over the budget. */
static int budget_take(decode_budget *b, size_t n)
{
    size_t c = alloc_cost(n);
    if (c > b->max - b->used)
        return 0;
    b->used += c;
    return 1;
}

/* Decodes node i into the zeroed *n; prev is node i - 1 or NULL.  On
 * failure *n may hold allocations: the caller clears it. */
static vault_error decode_node(reader *r, uint32_t i, const tree_node *prev,
                               tree_node *n, decode_budget *b)
{
    const char *why = NULL;
    const uint8_t *s;
    size_t len;
    uint8_t type;
    uint32_t xi = 0;
    int in_xattr = 0;

    if (!rd_u8(r, &type))
        goto truncated;
    if ((why = type_rule(type)))
        goto bad;
    n->type = (node_type)type;

    if (!rd_str16(r, &s, &len))
        goto truncated;
    if ((why = name_rule(s, len)))
        goto bad;
    if (prev) {
        int c = name_cmp(bytes_of(prev->name), strlen(prev->name), s, len);
        if (c == 0)
            why = "duplicate name";
        else if (c > 0)
            why = "name sorts before the previous node's";
        if (why)
            goto bad;
    }
    if (!budget_take(b, len + 1))
        goto over;
    if (!(n->name = dup_str(s, len)))
        goto nomem;

    if (!rd_u32(r, &n->mode) || !rd_u32(r, &n->uid) || !rd_u32(r, &n->gid))
        goto truncated;
    if (!rd_str8(r, &s, &len))
        goto truncated;
    if ((why = owner_rule(s, len, 0)))
        goto bad;
    if (!budget_take(b, len + 1))
        goto over;
    if (!(n->user = dup_str(s, len)))
        goto nomem;
    if (!rd_str8(r, &s, &len))
        goto truncated;
    if ((why = owner_rule(s, len, 1)))
        goto bad;
    if (!budget_take(b, len + 1))
        goto over;
    if (!(n->group = dup_str(s, len)))
        goto nomem;

    if (!rd_i64(r, &n->mtime_sec) || !rd_u32(r, &n->mtime_nsec) ||
        !rd_u64(r, &n->size) || !rd_u64(r, &n->inode) ||
        !rd_u64(r, &n->device) || !rd_u32(r, &n->nlink) ||
        !rd_u64(r, &n->rdev))
        goto truncated;
    if ((why = scalar_rule(type, n->mode, n->mtime_nsec, n->size)))
        goto bad;

    if (!rd_str16(r, &s, &len))
        goto truncated;
    if ((why = target_rule(type, s, len)))
        goto bad;
    if (type == NODE_SYMLINK && !budget_take(b, len + 1))
        goto over;
    if (type == NODE_SYMLINK && !(n->target = dup_str(s, len)))
        goto nomem;

    uint16_t n_xattrs;
    if (!rd_u16(r, &n_xattrs))
        goto truncated;
    if ((why = xattr_count_rule(n_xattrs)))
        goto bad;
    if (n_xattrs > r->left / XATTR_MIN_BYTES) {
        why = "more xattrs than the remaining bytes can hold";
        goto bad;
    }
    if (n_xattrs) {
        if (!budget_take(b, (size_t)n_xattrs * sizeof *n->xattrs))
            goto over;
        if (!(n->xattrs = calloc(n_xattrs, sizeof *n->xattrs)))
            goto nomem;
        n->n_xattrs = n_xattrs;
    }
    in_xattr = 1;
    for (xi = 0; xi < n_xattrs; xi++) {
        node_xattr *x = &n->xattrs[xi];
        uint32_t value_len;
        const uint8_t *value;
        if (!rd_str8(r, &s, &len) || !rd_u32(r, &value_len))
            goto truncated;
        if ((why = xattr_rule(s, len, value_len)))
            goto bad;
        if (xi > 0) {
            const char *p = n->xattrs[xi - 1].name;
            int c = name_cmp(bytes_of(p), strlen(p), s, len);
            if (c == 0)
                why = "duplicate xattr name";
            else if (c > 0)
                why = "xattr name sorts before the previous xattr's";
            if (why)
                goto bad;
        }
        if (!rd_bytes(r, value_len, &value))
            goto truncated;
        if (!budget_take(b, len + 1) ||
            !budget_take(b, value_len ? value_len : 1))
            goto over;
        if (!(x->name = dup_str(s, len)))
            goto nomem;
        /* Never NULL, so callers may memcmp or setxattr it as is. */
        if (!(x->value = malloc(value_len ? value_len : 1)))
            goto nomem;
        if (value_len)
            memcpy(x->value, value, value_len);
        x->value_len = value_len;
    }
    in_xattr = 0;

    if (type == NODE_FILE) {
        uint32_t n_content;
        const uint8_t *ids;
        if (!rd_u32(r, &n_content))
            goto truncated;
        /* Checked before the allocation it sizes. */
        if (n_content > r->left / CHUNK_ID_BYTES) {
            why = "more content chunk IDs than the remaining bytes hold";
            goto bad;
        }
        if (n_content) {
            size_t bytes = (size_t)n_content * CHUNK_ID_BYTES;
            if (!rd_bytes(r, bytes, &ids))
                goto truncated; /* not reached: checked above */
            if (!budget_take(b, bytes))
                goto over;
            if (!(n->content = malloc(bytes)))
                goto nomem;
            memcpy(n->content, ids, bytes);
            n->n_content = n_content;
        }
    } else if (type == NODE_DIR) {
        const uint8_t *id;
        if (!rd_bytes(r, CHUNK_ID_BYTES, &id))
            goto truncated;
        memcpy(n->subtree, id, CHUNK_ID_BYTES);
    }
    return VAULT_OK;

truncated:
    why = "truncated";
bad:
    if (in_xattr)
        return vlt_fail(VAULT_E_CORRUPT,
                        "tree node %" PRIu32 ": xattr %" PRIu32 ": %s", i,
                        xi, why);
    return vlt_fail(VAULT_E_CORRUPT, "tree node %" PRIu32 ": %s", i, why);
nomem:
    return vlt_fail(VAULT_E_NOMEM, "tree node %" PRIu32 ": out of memory",
                    i);
over:
    return vlt_fail(VAULT_E_UNSUPPORTED,
                    "tree node %" PRIu32 ": decoded, the tree would take "
                    "more than the %zu MiB of memory left for the trees "
                    "this operation holds at once (the tree memory limit)",
                    i, b->max >> 20);
}

static _Thread_local size_t decode_limit = SIZE_MAX;

size_t vlt_tree_decode_limit(size_t max_memory)
{
    size_t before = decode_limit;
    decode_limit = max_memory;
    return before;
}

vault_error vlt_tree_decode(const uint8_t *data, size_t len, tree *out)
{
    return vlt_tree_decode_bounded(data, len, decode_limit, out);
}

vault_error vlt_tree_decode_bounded(const uint8_t *data, size_t len,
                                    size_t max_memory, tree *out)
{
    if (!out)
        return vlt_fail(VAULT_E_INVALID, "vlt_tree_decode: no output");
    memset(out, 0, sizeof *out);
    if (!data && len)
        return vlt_fail(VAULT_E_INVALID, "vlt_tree_decode: no input");
    if (len > TREE_MAX_BYTES)
        return vlt_fail(VAULT_E_CORRUPT,
                        "tree: %zu bytes, over the %u-byte limit", len,
                        TREE_MAX_BYTES);
    reader r = {data, len};
    uint8_t version;
    uint32_t n_nodes;
    if (!rd_u8(&r, &version))
        return vlt_fail(VAULT_E_CORRUPT, "tree: truncated header");
    if (version != TREE_FORMAT_VERSION)
        return vlt_fail(VAULT_E_CORRUPT, "tree: unknown version %u",
                        (unsigned)version);
    if (!rd_u32(&r, &n_nodes))
        return vlt_fail(VAULT_E_CORRUPT, "tree: truncated header");
    /* Checked before the allocation it sizes. */
    if (n_nodes > r.left / NODE_MIN_BYTES)
        return vlt_fail(VAULT_E_CORRUPT,
                        "tree: %" PRIu32 " nodes cannot fit in %zu bytes",
                        n_nodes, r.left);

    tree t = {NULL, 0};
    decode_budget b = {0, max_memory};
    if (n_nodes && !budget_take(&b, (size_t)n_nodes * sizeof *t.nodes))
        return vlt_fail(VAULT_E_UNSUPPORTED,
                        "tree: %" PRIu32 " nodes: decoded, the tree would "
                        "take more than the %zu MiB of memory left for the "
                        "trees this operation holds at once (the tree "
                        "memory limit)",
                        n_nodes, max_memory >> 20);
    if (n_nodes) {
        if (!(t.nodes = calloc(n_nodes, sizeof *t.nodes)))
            return vlt_fail(VAULT_E_NOMEM, "tree: out of memory");
        t.n_nodes = n_nodes; /* all zeroed: vlt_tree_clear copes */
    }
    for (uint32_t i = 0; i < n_nodes; i++) {
        vault_error rc =
            decode_node(&r, i, i ? &t.nodes[i - 1] : NULL, &t.nodes[i], &b);
        if (rc != VAULT_OK) {
            vlt_tree_clear(&t);
            return rc;
        }
    }
    if (r.left) {
        vlt_tree_clear(&t);
        return vlt_fail(VAULT_E_CORRUPT,
                        "tree: %zu trailing bytes after the last node",
                        r.left);
    }
    *out = t;
    return VAULT_OK;
}

size_t vlt_tree_memory(const tree *t)
{
    /* The allocations decode_node makes, counted as it counts them. */
    if (!t->nodes)
        return 0;
    size_t total = alloc_cost((size_t)t->n_nodes * sizeof *t->nodes);
    for (uint32_t i = 0; i < t->n_nodes; i++) {
        const tree_node *n = &t->nodes[i];
        const char *strings[] = {n->name, n->user, n->group, n->target};
        for (size_t k = 0; k < VAULT_ARRAY_SIZE(strings); k++)
            if (strings[k])
                total += alloc_cost(strlen(strings[k]) + 1);
        if (n->xattrs)
            total += alloc_cost((size_t)n->n_xattrs * sizeof *n->xattrs);
        for (uint32_t j = 0; n->xattrs && j < n->n_xattrs; j++)
            total += alloc_cost(strlen(n->xattrs[j].name) + 1) +
                     alloc_cost(n->xattrs[j].value_len
                                    ? n->xattrs[j].value_len
                                    : 1);
        if (n->content)
            total += alloc_cost((size_t)n->n_content * CHUNK_ID_BYTES);
    }
    return total;
}

void vlt_tree_node_clear(tree_node *n)
{
    if (!n)
        return;
    free(n->name);
    free(n->user);
    free(n->group);
    free(n->target);
    if (n->xattrs) {
        for (uint32_t j = 0; j < n->n_xattrs; j++) {
            free(n->xattrs[j].name);
            free(n->xattrs[j].value);
        }
        free(n->xattrs);
    }
    free(n->content);
    memset(n, 0, sizeof *n);
}

void vlt_tree_clear(tree *t)
{
    if (!t)
        return;
    if (t->nodes) {
        for (uint32_t i = 0; i < t->n_nodes; i++)
            vlt_tree_node_clear(&t->nodes[i]);
        free(t->nodes);
    }
    memset(t, 0, sizeof *t);
}
