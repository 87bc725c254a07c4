/*
 * restore.c - turning a snapshot's trees back into files in a directory,
 * or into a pax tar stream: the walk.  Format spec: "Extraction rules".
 *
 * Threat model: every tree and chunk may come from a hostile vault.  A
 * name is used only if it is one path component (re-checked here, whatever
 * the decoder did), and the directory walk goes from a descriptor of the
 * target through openat(O_DIRECTORY | O_NOFOLLOW), so no name and no
 * symlink - restored or already there - can lead a write outside it.
 *
 * This file walks the trees depth first (repo/tree_walk.h: the walk
 * loads trees through the restore_source), applies the include filter,
 * checks names and depth, keeps the hardlink table and the reports, and
 * hands each node to a sink (restore_internal.h): restore_dir.c writes
 * files into the target directory, restore_tar.c a pax tar stream.
 * Sockets are skipped silently (see walk_node).
 *
 * Chunks of zeros (known by ID when the source offers chunk_size) are
 * never loaded: they become holes, and in tar mode the holes of a GNU
 * sparse 1.0 entry.
 *
 * Item failures are reported through on_error, counted, and the walk goes
 * on; only out-of-memory, an unusable target or a broken tar stream stop
 * it.
 */

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/internal.h"
#include "crypto/digest.h"
#include "ops/restore/restore_internal.h"
#include "repo/blob_load.h"
#include "repo/tree_walk.h"

/* ---- reporting ---------------------------------------------------------- */

vault_error vlt_restore_nomem(void)
{
    return vlt_fail(VAULT_E_NOMEM, "restore: out of memory");
}

void vlt_restore_lock(restorer *r)
{
    if (r->pool)
        vlt_pool_lock(r->pool);
}

void vlt_restore_unlock(restorer *r)
{
    if (r->pool)
        vlt_pool_unlock(r->pool);
}

void vlt_restore_report(restorer *r, const char *path, vault_error code,
                   const char *detail)
{
    vlt_restore_lock(r);
    r->stats->errors++;
    if (r->opt->on_error)
        r->opt->on_error(r->opt->on_error_ctx, path, code, detail);
    vlt_restore_unlock(r);
}

void vlt_restore_report_errno_at(restorer *r, const char *path, int e,
                            const char *what)
{
    vault_error code = vlt_fail_errno(e, "%s", what);
    if (e == EEXIST || e == ENOTEMPTY || e == EISDIR)
        code = VAULT_E_EXISTS;
    vlt_restore_report(r, path, code, vault_last_error());
}

void vlt_restore_report_errno(restorer *r, int e, const char *what)
{
    vlt_restore_report_errno_at(r, r->path, e, what);
}

void vlt_restore_report_last(restorer *r, vault_error code)
{
    vlt_restore_report(r, r->path, code, vault_last_error());
}

/* ---- names -------------------------------------------------------------- */

/* One path component: what a tree may name, whatever the decoder let by. */
static int name_ok(const char *name)
{
    return name && name[0] && strcmp(name, ".") != 0 &&
           strcmp(name, "..") != 0 && !strchr(name, '/');
}

/* ---- hardlinks ---------------------------------------------------------- */

/* The slot of (device, inode), or the free one where it would go. */
static link_slot *links_slot(const restorer *r, uint64_t device,
                             uint64_t inode)
{
    uint64_t h = (inode * 0x9E3779B97F4A7C15u) ^ device;
    h ^= h >> 29;
    size_t mask = r->links_cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        link_slot *s = &r->links[i];
        if (!s->path || (s->inode == inode && s->device == device))
            return s;
    }
}

const char *vlt_restore_links_find(const restorer *r, const tree_node *n)
{
    if (n->nlink < 2 || r->links_cap == 0)
        return NULL;
    return links_slot(r, n->device, n->inode)->path;
}

vault_error vlt_restore_links_add(restorer *r, const tree_node *n)
{
    if (n->nlink < 2)
        return VAULT_OK;
    if (2 * (r->links_used + 1) > r->links_cap) {
        size_t cap = r->links_cap ? 2 * r->links_cap : 64;
        link_slot *old = r->links;
        size_t old_cap = r->links_cap;
        r->links = calloc(cap, sizeof *r->links);
        if (!r->links) {
            r->links = old;
            return vlt_restore_nomem();
        }
        r->links_cap = cap;
        for (size_t i = 0; i < old_cap; i++) {
            if (old[i].path)
                *links_slot(r, old[i].device, old[i].inode) = old[i];
        }
        free(old);
    }
    link_slot *s = links_slot(r, n->device, n->inode);
    assert(!s->path);
    s->path = strdup(r->path);
    if (!s->path)
        return vlt_restore_nomem();
    s->device = n->device;
    s->inode = n->inode;
    r->links_used++;
    return VAULT_OK;
}

/* ---- content ------------------------------------------------------------ */

/* A file's content on its way from load_chunks to the sink. */
typedef struct content_pass {
    restorer *r;
    const tree_node *n;
    content_sink sink;
    void *ctx;
    uint64_t *done;
} content_pass;

/* One chunk of load_chunks: checked against the size the tree records,
 * then written. */
static vault_error content_one(void *arg, const uint8_t *data, size_t len)
{
    content_pass *p = arg;
    if (len > p->n->size - *p->done)
        return vlt_fail(VAULT_E_CORRUPT,
                        "content is longer than the %llu bytes the "
                        "tree records",
                        (unsigned long long)p->n->size);
    vault_error rc = p->sink(p->r, p->ctx, data, len);
    if (rc == VAULT_OK)
        *p->done += len;
    return rc;
}

vault_error vlt_restore_content_each(restorer *r, const tree_node *n,
                                     content_sink sink, void *ctx,
                                     uint64_t *done)
{
    *done = 0;
    content_pass p = {r, n, sink, ctx, done};
    vault_error rc = VAULT_OK;
    if (r->src->load_chunks)
        rc = r->src->load_chunks(r->src->ctx, n->content, n->n_content,
                                 content_one, &p);
    for (uint32_t i = 0; !r->src->load_chunks && i < n->n_content; i++) {
        uint8_t *data = NULL;
        size_t len = 0;
        uint32_t zero_len;
        int zero = 0;
        if (r->src->chunk_size)
            rc = r->src->chunk_size(r->src->ctx, n->content[i], &zero_len,
                                    &zero);
        if (rc == VAULT_OK && zero)
            len = zero_len;
        else if (rc == VAULT_OK)
            rc = r->src->load_chunk(r->src->ctx, n->content[i], &data, &len);
        if (rc == VAULT_OK)
            rc = content_one(&p, data, len);
        free(data);
        if (rc != VAULT_OK)
            break;
    }
    if (rc != VAULT_OK)
        return rc;
    if (*done != n->size)
        return vlt_fail(VAULT_E_CORRUPT,
                        "content is %llu bytes, the tree records %llu",
                        (unsigned long long)*done,
                        (unsigned long long)n->size);
    return VAULT_OK;
}

/* ---- the walk ----------------------------------------------------------- */

/* The current item's path as restore names it: relative, no leading '/'
 * (the walk's paths start with one, the root's is ""). */
static const char *rel_path(const vlt_tree_walk_at *at)
{
    return at->path[0] == '/' ? at->path + 1 : at->path;
}

/* The includes that lead below an item at depth - 1 that failed (already
 * reported): not "not found" as well. */
static void includes_done_below(restorer *r, unsigned depth)
{
    for (size_t i = 0; i < r->n_inc; i++) {
        include_path *inc = &r->inc[i];
        if (inc->matched >= depth && depth < inc->n_comps)
            inc->done = 1;
    }
}

/* Whether entry n at depth is restored: everything below an include
 * that ended above it (full_depth), or what an include names or leads
 * through.  Updates the includes' matched and full_depth for the entry
 * (and, if it is a directory, its entries). */
static int selected(restorer *r, const tree_node *n, unsigned depth)
{
    if (r->full_depth > depth)
        r->full_depth = UINT_MAX; /* an earlier entry's subtree */
    int full = r->full_depth <= depth, below = 0;
    const char *name = n->name ? n->name : "";
    for (size_t i = 0; i < r->n_inc; i++) {
        include_path *inc = &r->inc[i];
        if (inc->matched < depth || depth >= inc->n_comps)
            continue; /* not on the way here */
        if (strcmp(inc->comps[depth], name) != 0) {
            inc->matched = depth;
        } else if (inc->n_comps == depth + 1) {
            inc->done = 1;
            inc->matched = depth; /* nothing further to match below */
            full = 1;
        } else {
            inc->matched = depth + 1;
            below = 1;
        }
    }
    if (full && r->full_depth == UINT_MAX)
        r->full_depth = depth + 1;
    return full || (below && n->type == NODE_DIR);
}

int vlt_restore_is_capability(const node_xattr *x)
{
    return strcmp(x->name, "security.capability") == 0;
}

/* With privileges withheld (r->drop), counts what n asks for that the
 * sinks leave out: set-id bits on a non-directory, a capability. */
static void count_withheld(restorer *r, const tree_node *n)
{
    if (!r->drop)
        return;
    int asks = n->type != NODE_DIR && (n->mode & (S_ISUID | S_ISGID));
    for (uint32_t i = 0; !asks && i < n->n_xattrs; i++)
        asks = vlt_restore_is_capability(&n->xattrs[i]);
    if (asks)
        atomic_fetch_add(&r->withheld, 1);
}

/* ---- pattern filters ---------------------------------------------------- */

static void path_hash(const char *path, uint8_t out[VLT_ID_BYTES])
{
    vlt_sha256((const uint8_t *)path, strlen(path), out);
}

vault_error vlt_restore_keep_add(restore_keep *k, const char *path)
{
    uint8_t h[VLT_ID_BYTES];
    uint32_t number;
    int fresh;
    path_hash(path, h);
    vault_error rc = vlt_idset_put(&k->paths, h, &number, &fresh);
    char buf[VLT_TREE_WALK_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *slash = strrchr(buf, '/'); rc == VAULT_OK && slash &&
                                          slash != buf;
         slash = strrchr(buf, '/')) {
        *slash = '\0';
        path_hash(buf, h);
        rc = vlt_idset_put(&k->parents, h, &number, &fresh);
        if (!fresh)
            break; /* its own parents are in already */
    }
    return rc;
}

int vlt_restore_keep_find(const restore_keep *k, const char *path)
{
    uint8_t h[VLT_ID_BYTES];
    path_hash(path, h);
    if (vlt_idset_find(&k->paths, h, NULL))
        return 2;
    return vlt_idset_find(&k->parents, h, NULL) ? 1 : 0;
}

void vlt_restore_keep_free(restore_keep *k)
{
    vlt_idset_free(&k->paths);
    vlt_idset_free(&k->parents);
}

/* Whether the pattern filters let entry n (at the walk's path, depth)
 * through; a folder kept whole makes everything below kept. */
static int patterns_let_through(restorer *r, const tree_node *n,
                                const char *path, unsigned depth)
{
    const restore_options *o = r->opt;
    if (o->exclude[0] || o->exclude[1]) {
        char full[VLT_TREE_WALK_PATH_MAX];
        int len = snprintf(full, sizeof full, "%s%s",
                           o->path_prefix ? o->path_prefix : "", path);
        for (int i = 0; i < 2 && len > 0 && (size_t)len < sizeof full; i++)
            if (o->exclude[i] &&
                vlt_pattern_list_match(o->exclude[i], full,
                                       n->type == NODE_DIR, NULL))
                return 0;
    }
    if (!o->keep)
        return 1;
    if (r->keep_depth > depth)
        r->keep_depth = UINT_MAX; /* an earlier entry's subtree */
    if (r->keep_depth <= depth)
        return 1;
    int found = vlt_restore_keep_find(o->keep, path);
    if (found == 2 && n->type == NODE_DIR)
        r->keep_depth = depth + 1;
    return found == 2 || (found == 1 && n->type == NODE_DIR);
}

/* node(): one entry - filtered, its name checked, handed to the sink; a
 * directory is entered by the walk (walk_enter below). */
static vault_error walk_node(void *ctx, const vlt_tree_walk_at *at,
                             const tree_node *n, vlt_tree_walk_action *action)
{
    restorer *r = ctx;
    if (!selected(r, n, at->depth) ||
        !patterns_let_through(r, n, at->path, at->depth)) {
        *action = VLT_TREE_WALK_SKIP;
        return VAULT_OK;
    }
    r->path = rel_path(at);
    if (!name_ok(n->name)) {
        *action = VLT_TREE_WALK_SKIP;
        includes_done_below(r, at->depth + 1);
        vlt_restore_report_last(r, vlt_fail(VAULT_E_UNSAFE_PATH,
                                            "refused the entry name \"%s\"",
                                            n->name ? n->name : ""));
        return VAULT_OK;
    }
    if (n->type != NODE_SOCKET)
        count_withheld(r, n);
    switch (n->type) {
    case NODE_DIR:
        return VAULT_OK; /* the walk loads it, then walk_enter */
    case NODE_FILE:
        if (r->opt->progress)
            vlt_progress_current(r->opt->progress, at->path);
        return r->sink->file(r, n);
    case NODE_SYMLINK:
        if (!n->target || !n->target[0]) {
            vlt_restore_report_last(r, vlt_fail(VAULT_E_CORRUPT,
                                                "symlink without a target"));
            return VAULT_OK;
        }
        /* fall through */
    case NODE_CHARDEV:
    case NODE_BLOCKDEV:
        /* A device node is access to hardware: not from a snapshot whose
         * author may not hold that privilege here. */
        if (r->drop) {
            atomic_fetch_add(&r->withheld, 1);
            return VAULT_OK;
        }
        /* fall through */
    case NODE_FIFO:
        /* Devices need privilege: without it mknodat fails with EPERM,
         * which is reported like any other failure. */
        return r->sink->special(r, n);
    case NODE_SOCKET:
        /* Skipped silently, in both modes (as restic and tar do): a
         * socket is made by the program that listens on it, and a
         * restored one would be a dead name.  Not counted. */
        return VAULT_OK;
    }
    vlt_restore_report_last(r, vlt_fail(VAULT_E_UNSUPPORTED,
                                        "unknown entry type %d",
                                        (int)n->type));
    return VAULT_OK;
}

/* Has the source load ahead what the walk needs next: through the walk
 * ahead (restore_ahead.c), started at the root, the small files'
 * content of the windows the walk reached and the trees below; without
 * it, the trees of t's subdirectories. */
static void prefetch_ahead(restorer *r, const tree *t)
{
    if (r->walk_entered == 1)
        vlt_restore_ahead_start(r, t);
    if (r->ahead) {
        vlt_restore_ahead_step(r);
        return;
    }
    uint8_t(*subtrees)[CHUNK_ID_BYTES];
    size_t n_sub = vlt_tree_ahead(t, 1, 0, BLOBS_WINDOW_COUNT, &subtrees);
    r->src->prefetch_load(r->src->ctx,
                          r->src->prefetch(r->src->ctx, subtrees, n_sub, 1));
    free(subtrees);
}

/* enter(): the sink makes the directory; one it cannot make is walked
 * no further (its tree cleared, so the walk has no entries to visit). */
static vault_error walk_enter(void *ctx, const vlt_tree_walk_at *at, tree *t,
                              void **dir_state)
{
    restorer *r = ctx;
    r->path = rel_path(at);
    r->walk_entered++; /* in step with the walk ahead's count */
    vault_error rc = r->sink->dir_enter(r, at->node, dir_state);
    if (rc == VAULT_OK && !*dir_state) {
        includes_done_below(r, at->depth);
        vlt_tree_clear(t);
    }
    /* The walk ahead reads everything: not when only a part is
     * restored. */
    if (rc == VAULT_OK && *dir_state && r->src->prefetch && r->n_inc == 0 &&
        !r->opt->exclude[0] && !r->opt->exclude[1] && !r->opt->keep)
        prefetch_ahead(r, t);
    return rc;
}

static vault_error walk_leave(void *ctx, const vlt_tree_walk_at *at, tree *t,
                              void *dir_state)
{
    restorer *r = ctx;
    if (!dir_state)
        return VAULT_OK;
    r->path = rel_path(at);
    return r->sink->dir_leave(r, t, dir_state, at->stopping);
}

/* damaged(): a directory too deep, or whose tree cannot be read, is
 * reported and the walk goes on; the root tree ends it. */
static vault_error walk_damaged(void *ctx, const vlt_tree_walk_at *at,
                                vault_error rc)
{
    restorer *r = ctx;
    if (!at->node)
        return vlt_fail_context(rc, "root tree");
    r->path = rel_path(at);
    if (at->depth >= RESTORE_MAX_DEPTH) /* the walk's depth limit */
        rc = vlt_fail(VAULT_E_UNSUPPORTED,
                      "nested deeper than %d directories",
                      RESTORE_MAX_DEPTH);
    /* at is the directory, unless its path was too long for the walk's
     * buffer (filled): then the entry, which node() never saw. */
    if (strlen(at->path) < VLT_TREE_WALK_PATH_MAX - 1)
        includes_done_below(r, at->depth);
    vlt_restore_report_last(r, rc);
    return VAULT_OK;
}

static vault_error load_tree(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *out)
{
    const restorer *r = ctx;
    return r->src->load_tree(r->src->ctx, id, out);
}

/* ---- setup -------------------------------------------------------------- */

static vault_error parse_includes(restorer *r)
{
    const restore_options *opt = r->opt;
    if (opt->n_include == 0)
        return VAULT_OK;
    r->inc = calloc(opt->n_include, sizeof *r->inc);
    if (!r->inc)
        return vlt_restore_nomem();
    r->n_inc = opt->n_include;
    for (size_t i = 0; i < opt->n_include; i++) {
        include_path *inc = &r->inc[i];
        const char *text = opt->include[i];
        if (!text)
            return vlt_fail(VAULT_E_INVALID, "restore: NULL include path");
        inc->text = text;
        size_t len = strlen(text);
        inc->buf = strdup(text);
        inc->comps = malloc((len / 2 + 1) * sizeof *inc->comps);
        if (!inc->buf || !inc->comps)
            return vlt_restore_nomem();
        char *p = inc->buf;
        while (p) {
            char *slash = strchr(p, '/');
            if (slash)
                *slash = '\0';
            if (p[0] && strcmp(p, ".") != 0)
                inc->comps[inc->n_comps++] = p;
            p = slash ? slash + 1 : NULL;
        }
    }
    return VAULT_OK;
}

static void restorer_free(restorer *r)
{
    vlt_restore_ahead_free(r);
    r->sink->release(r);
    for (size_t i = 0; i < r->links_cap; i++)
        free(r->links[i].path);
    free(r->links);
    for (size_t i = 0; i < r->n_inc; i++) {
        free(r->inc[i].buf);
        free(r->inc[i].comps);
    }
    free(r->inc);
}

static vault_error run(restorer *r, const uint8_t root[CHUNK_ID_BYTES])
{
    vault_error rc = parse_includes(r);
    if (rc == VAULT_OK)
        rc = r->sink->open(r);
    if (rc != VAULT_OK)
        return rc;

    /* Every include starts on the way at the root; an empty one ("/")
     * selects everything. */
    r->full_depth = r->n_inc == 0 ? 0 : UINT_MAX;
    for (size_t i = 0; i < r->n_inc; i++) {
        if (r->inc[i].n_comps == 0) {
            r->inc[i].done = 1;
            r->full_depth = 0;
        }
    }

    vlt_tree_walk w = {
        .ctx = r,
        .load = load_tree, /* through the source, not a vault handle */
        .enter = walk_enter,
        .node = walk_node,
        .leave = walk_leave,
        .damaged = walk_damaged,
        .max_depth = RESTORE_MAX_DEPTH,
        .max_memory = r->opt->tree_memory,
    };
    rc = vlt_tree_walk_paths(&w, root, "");
    r->path = ""; /* the walk's buffer is gone */
    rc = r->sink->walked(r, rc);
    if (rc != VAULT_OK)
        return rc;

    for (size_t i = 0; i < r->n_inc; i++) {
        if (!r->inc[i].done)
            vlt_restore_report(r, r->inc[i].text, VAULT_E_NOT_FOUND,
                               "not in the snapshot");
    }
    return r->sink->close(r);
}

vault_error vlt_restore_run(const restore_source *src,
                            const uint8_t root[CHUNK_ID_BYTES],
                            const restore_options *opt, restore_stats *stats)
{
    restore_stats local;
    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if (!src || !src->load_tree || !src->load_chunk || !root || !opt ||
        (opt->tar_fd < 0 && !opt->target_dir) ||
        (opt->n_include && !opt->include))
        return vlt_fail(VAULT_E_INVALID, "restore: missing argument");

    restorer r = {.src = src, .opt = opt, .stats = stats, .target_fd = -1,
                  .path = "", .keep_depth = UINT_MAX};
    r.sink = opt->tar_fd >= 0 ? &vlt_restore_tar_sink : &vlt_restore_dir_sink;
    r.own = opt->restore_owner && geteuid() == 0;
    r.drop = opt->drop_privileges;
    r.euid = geteuid();
    r.egid = getegid();
    r.dir_gid = r.egid;
    randombytes_buf(&r.temp_base, sizeof r.temp_base);
    vault_error rc = run(&r, root);
    restorer_free(&r);
    stats->withheld = atomic_load(&r.withheld);
    if (rc == VAULT_OK && stats->errors)
        rc = vlt_fail(VAULT_E_PARTIAL, "restore: %llu items failed",
                      (unsigned long long)stats->errors);
    return rc;
}