/*
 * add_tree.c - `add`'s entries, pulled from the source (add_source.h),
 * turned into trees: files cut into chunks for the pipeline
 * (add_pipeline.c), directories whose trees wait for their files' chunk
 * IDs, and the snapshot's root.  All on the walker's thread.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "common/phase_timer.h"
#include "common/interrupt.h"
#include "crypto/digest.h"
#include "ops/add/add_internal.h"

static void report(adder *a, const char *path, const char *fmt, ...)
    VAULT_PRINTF(3, 4);
static void report(adder *a, const char *path, const char *fmt, ...)
{
    char detail[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    a->r->errors++;
    if (a->o->on_error)
        a->o->on_error(a->o->on_error_ctx, path, detail);
}

/* --- files --------------------------------------------------------------- */

/* Reads and chunks file it (its node n, nodes[index] of g's tree) into
 * n->content.  A file that cannot be read is reported and skipped
 * (*skip), not fatal.  The chunk IDs arrive later: the caller waits for
 * g before it reads n->content. */
static vault_error add_file(adder *a, const add_item *it, tree_node *n,
                            size_t index, int *skip, file_group *g)
{
    const char *path = it->path;
    const filecache_key *key = &it->key;
    a->r->bytes_total += n->size;
    vlt_progress_current(&a->v->progress, path);
    uint32_t n_ids = 0;
    int has_xattrs = 1;
    const uint8_t *ids =
        it->use_cache
            ? vlt_filecache_lookup(a->cache, path, key, &n_ids, &has_xattrs)
            : NULL;
    if (ids && vlt_add_content_in_index(a, ids, n_ids)) {
        /* ctime moves with every xattr change: none then, none now. */
        if (has_xattrs)
            has_xattrs = a->src->xattrs(a->src->ctx, n);
        n->content = malloc(n_ids ? (size_t)n_ids * CHUNK_ID_BYTES : 1);
        if (!n->content)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        memcpy(n->content, ids, (size_t)n_ids * CHUNK_ID_BYTES);
        n->n_content = n_ids;
        a->r->files_unchanged++;
        vlt_progress_add(&a->v->progress, 1, n->size);
        return vlt_filecache_record(a->cache, path, key, ids, n_ids,
                                    has_xattrs);
    }
    has_xattrs = a->src->xattrs(a->src->ctx, n);

    /* The IDs are written by workers into n->content: it must not move
     * while any are outstanding, so it is sized for the file up front and
     * only grows (a growing file) after a wait. */
    uint64_t guess = n->size / CHUNKER_MIN_SIZE + 1;
    size_t cap = guess > 4096 ? 4096 : (size_t)guess;
    n->content = calloc(cap, CHUNK_ID_BYTES);
    if (!n->content)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    size_t start = 0, end = 0;
    int eof = 0;
    uint64_t total = 0;
    vault_error rc = VAULT_OK;
    while (rc == VAULT_OK) {
        uint64_t timer = vlt_phase_start();
        size_t cut = vlt_chunker_next(&a->chunker, a->buf + start,
                                      end - start, eof);
        vlt_phase_stop(VLT_PHASE_CHUNK, timer);
        if (cut == 0) {
            if (eof)
                break; /* all consumed */
            /* Need more bytes: slide what is left to the front, read. */
            memmove(a->buf, a->buf + start, end - start);
            end -= start;
            start = 0;
            size_t got;
            rc = vlt_interrupt_check(); /* a large file: between reads */
            if (rc != VAULT_OK)
                break;
            rc = a->src->read(a->src->ctx, a->buf + end, a->buf_cap - end,
                              &got);
            if (rc == VAULT_E_PARTIAL) { /* reported by the source */
                rc = VAULT_OK;
                *skip = 1;
                break;
            }
            if (rc != VAULT_OK)
                break;
            if (got == 0)
                eof = 1;
            end += got;
            total += got;
            a->r->bytes_read += got;
            vlt_progress_add(&a->v->progress, 0, got);
            continue;
        }
        if (n->n_content == cap) {
            rc = vlt_add_group_wait(a, g);
            if (rc != VAULT_OK)
                break;
            if (VLT_ARRAY_GROW(&n->content, &cap,
                               (size_t)n->n_content + 1) != 0) {
                rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
                break;
            }
        }
        uint8_t *data = malloc(cut);
        if (!data) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            break;
        }
        memcpy(data, a->buf + start, cut);
        rc = vlt_add_submit(a, BLOB_DATA, 0, NULL, n->content[n->n_content],
                            g, data, cut);
        n->n_content++;
        start += cut;
    }
    vlt_progress_add(&a->v->progress, 1, 0);
    if (rc != VAULT_OK || *skip) {
        /* the node is about to be cleared: no worker may still write */
        vault_error wrc = vlt_add_group_wait(a, g);
        return rc != VAULT_OK ? rc : wrc;
    }
    /* The file changed size while we read it: keep what we read, as tar
     * does, but say so. */
    uint64_t expected = n->size;
    n->size = total;
    if (it->size_unknown) {
        a->r->bytes_total += total; /* known only now */
        return VAULT_OK;
    }
    if (total != expected) {
        report(a, path, "file changed while being read");
        return VAULT_OK;
    }
    if (!it->use_cache)
        return VAULT_OK;
    /* Recorded in the cache once the IDs are in (see group_records). */
    if (VLT_ARRAY_GROW(&g->recs, &g->cap_recs, g->n_recs + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    pending_record *pr = &g->recs[g->n_recs];
    if (!(pr->path = strdup(path)))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    pr->node = index;
    pr->key = *key;
    pr->has_xattrs = has_xattrs;
    g->n_recs++;
    return VAULT_OK;
}

/* Writes the cache records of g's files (nodes[i] for record i's index),
 * whose chunk IDs are all in (rc: the caller's state so far; records are
 * written only if it is OK), and frees them. */
static vault_error group_records(adder *a, file_group *g, tree_node *nodes,
                                 vault_error rc)
{
    for (size_t i = 0; i < g->n_recs; i++) {
        pending_record *pr = &g->recs[i];
        const tree_node *n = &nodes[pr->node];
        if (rc == VAULT_OK)
            rc = vlt_filecache_record(a->cache, pr->path, &pr->key,
                                      n->content ? n->content[0] : NULL,
                                      n->n_content, pr->has_xattrs);
        free(pr->path);
    }
    free(g->recs);
    memset(g, 0, sizeof *g);
    return rc;
}

/* Waits for g's chunk IDs, then group_records. */
static vault_error group_finish(adder *a, file_group *g, tree_node *nodes,
                                vault_error rc)
{
    vault_error wrc = vlt_add_group_wait(a, g);
    return group_records(a, g, nodes, rc == VAULT_OK ? wrc : rc);
}

/* --- directories waiting for their files ------------------------------ */

/* Whether wd's tree can be encoded: no job of its files outstanding and
 * no subdirectory waiting. */
static int dir_ready(adder *a, const waiting_dir *wd)
{
    return wd->subdirs == 0 && vlt_add_group_done(a, &wd->g);
}

/* Encodes and stores the tree of wd (ready), writes its files' cache
 * records, and frees it. */
static vault_error dir_store(adder *a, waiting_dir *wd)
{
    vault_error rc = group_records(a, &wd->g, wd->t.nodes, VAULT_OK);
    if (rc == VAULT_OK) {
        uint8_t *bytes;
        size_t len;
        rc = vlt_tree_encode(&wd->t, &bytes, &len);
        uint8_t *subtree = wd->parent
                               ? wd->parent->t.nodes[wd->index].subtree
                               : wd->subtree;
        if (rc == VAULT_OK)
            rc = vlt_add_store_blob(a, BLOB_TREE, bytes, len, subtree);
    }
    if (wd->parent)
        wd->parent->subdirs--;
    vlt_tree_clear(&wd->t);
    free(wd);
    return rc;
}

/* Stores the waiting directories that are ready, oldest first, and waits
 * for the oldest while more than WAITING_DIRS_MAX wait (all: until none
 * does).  The oldest never waits for a subdirectory: those are ahead of
 * it. */
static vault_error dirs_settle(adder *a, int all)
{
    vault_error rc = VAULT_OK;
    while (rc == VAULT_OK && a->waiting) {
        waiting_dir *wd = a->waiting;
        assert(wd->subdirs == 0);
        if (!dir_ready(a, wd)) {
            if (!all && a->n_waiting <= WAITING_DIRS_MAX)
                break;
            rc = vlt_add_group_wait(a, &wd->g);
            if (rc != VAULT_OK)
                break;
        }
        a->waiting = wd->next;
        if (!a->waiting)
            a->waiting_tail = &a->waiting;
        a->n_waiting--;
        rc = dir_store(a, wd);
    }
    return rc;
}

/* After a failure: frees the waiting directories once no worker writes
 * into them any more. */
static void dirs_abort(adder *a, vault_error rc)
{
    while (a->waiting) {
        waiting_dir *wd = a->waiting;
        a->waiting = wd->next;
        (void)group_finish(a, &wd->g, wd->t.nodes, rc);
        vlt_tree_clear(&wd->t);
        free(wd);
    }
    a->waiting_tail = &a->waiting;
    a->n_waiting = 0;
}

/* --- entries ------------------------------------------------------------- */

static vault_error add_dir(adder *a, waiting_dir *parent, size_t index,
                           uint8_t *top_subtree);

/* Adds item it (just pulled from the source) as n, nodes[index] of g's
 * tree; *skip: leave it out.  Files' chunk IDs arrive later, through g;
 * a directory's tree ID may too (it is counted in parent, the directory
 * n is in; NULL at the top, where n is the only node and dirs_settle
 * waits for it). */
static vault_error add_node(adder *a, add_item *it, tree_node *n,
                            size_t index, int *skip, file_group *g,
                            waiting_dir *parent)
{
    *skip = 0;
    *n = it->node; /* taken over */
    memset(&it->node, 0, sizeof it->node);
    vault_error rc = vlt_interrupt_check(); /* between entries: a stop */
    if (rc != VAULT_OK)
        return rc;
    const vault_add_options *o = a->o;
    if (n->type == NODE_FILE) {
        a->r->files++;
        uint64_t unchanged = a->r->files_unchanged;
        rc = add_file(a, it, n, index, skip, g);
        if (rc == VAULT_OK && !*skip && o->on_item)
            o->on_item(o->on_item_ctx, it->path, VAULT_FILE, n->size,
                       a->r->files_unchanged != unchanged);
        return rc;
    }
    a->src->xattrs(a->src->ctx, n);
    switch (n->type) {
    case NODE_DIR:
        a->r->dirs++;
        if (o->on_item) /* before what it holds */
            o->on_item(o->on_item_ctx, it->path, VAULT_DIR, 0, 0);
        return add_dir(a, parent, index, parent ? NULL : n->subtree);
    case NODE_SYMLINK:
        a->r->others++;
        *skip = !n->target; /* unreadable: reported by the source */
        break;
    default:
        a->r->others++;
        break;
    }
    if (!*skip && o->on_item)
        o->on_item(o->on_item_ctx, it->path, (int)n->type, 0, 0);
    return VAULT_OK;
}

/* The entries of the directory the source just handed over, up to its
 * ADD_ITEM_DIR_END, into a tree whose ID goes into parent's node index
 * (top_subtree at the top). */
static vault_error add_dir(adder *a, waiting_dir *parent, size_t index,
                           uint8_t *top_subtree)
{
    waiting_dir *wd = calloc(1, sizeof *wd);
    if (!wd)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    wd->parent = parent;
    wd->index = index;
    wd->subtree = top_subtree;
    if (parent)
        parent->subdirs++;
    tree *t = &wd->t;
    file_group *g = &wd->g;
    size_t cap = 0;
    vault_error rc = VAULT_OK;
    for (;;) {
        add_item it;
        rc = a->src->next(a->src->ctx, &it);
        if (rc != VAULT_OK || it.kind != ADD_ITEM_NODE) {
            vlt_tree_node_clear(&it.node);
            if (rc == VAULT_OK && it.kind != ADD_ITEM_DIR_END)
                rc = vlt_fail(VAULT_E_INTERNAL, "add: the walk ended "
                                                "inside a directory");
            break;
        }
        /* Nothing holds a pointer into t->nodes (subdirectories and
         * cache records use indices), so it may move. */
        if (VLT_ARRAY_GROW(&t->nodes, &cap, (size_t)t->n_nodes + 1) != 0) {
            vlt_tree_node_clear(&it.node);
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            break;
        }
        int skip = 0;
        tree_node *n = &t->nodes[t->n_nodes];
        rc = add_node(a, &it, n, t->n_nodes, &skip, g, wd);
        if (rc != VAULT_OK)
            (void)vlt_add_group_wait(a, g); /* workers may write into n */
        if (rc != VAULT_OK || skip)
            vlt_tree_node_clear(n);
        else
            t->n_nodes++;
        if (rc != VAULT_OK)
            break;
    }
    if (rc != VAULT_OK) {
        /* Nothing is stored after a failure; nothing may be freed while
         * workers can still write into it. */
        dirs_abort(a, rc);
        (void)group_finish(a, g, t->nodes, rc);
        vlt_tree_clear(t);
        free(wd);
        return rc;
    }
    /* Its tree when its files' IDs are in: now, or later (waiting_dir). */
    if (dir_ready(a, wd)) {
        rc = dir_store(a, wd);
    } else {
        *a->waiting_tail = wd;
        a->waiting_tail = &wd->next;
        a->n_waiting++;
    }
    if (rc == VAULT_OK)
        rc = dirs_settle(a, 0);
    return rc;
}

/* --- the snapshot root --------------------------------------------------
 * The root tree mirrors the absolute paths given: adding /home/ann/docs
 * makes root → home → ann → docs, the upper levels carrying the real
 * directories' metadata (as restic does; the source's parent()). */
typedef struct vdir {
    tree_node node; /* for the directory itself (not for the root) */
    struct vdir **children;
    size_t n_children, cap_children;
    tree_node *leaves; /* the paths given, walked (or entries placed) */
    size_t n_leaves, cap_leaves;
} vdir;

/* Where a path is: the directory dir itself (leaf SIZE_MAX), or
 * dir->leaves[leaf]. */
typedef struct vplace {
    vdir *dir;
    size_t leaf;
} vplace;

/* The root, and every directory and leaf below it by path: an archive
 * places many entries in one directory, and a scan of its names for each
 * (one per component of each entry) would be quadratic.  Paths are keyed
 * by their SHA-256 in an ID set, whose numbers index places. */
typedef struct vroot {
    vdir top;
    vlt_idset paths;
    vplace *places; /* by number in paths */
    size_t cap_places;
    /* The jobs of placed files: their chunk IDs come in while the next
     * entries are read (an archive of small files would otherwise wait
     * for the workers at each); waited for before a hard link copies
     * them and at the end of the walk. */
    file_group placed;
} vroot;

static void path_key(const char *path, uint8_t key[SHA256_BYTES])
{
    vlt_sha256((const uint8_t *)path, strlen(path), key);
}

static int vroot_find(const vroot *r, const uint8_t key[SHA256_BYTES],
                      vplace *out)
{
    uint32_t n;
    if (!vlt_idset_find(&r->paths, key, &n))
        return 0;
    *out = r->places[n];
    return 1;
}

static vault_error vroot_put(vroot *r, const uint8_t key[SHA256_BYTES],
                             vdir *dir, size_t leaf)
{
    uint32_t n;
    int inserted;
    if (VLT_ARRAY_GROW(&r->places, &r->cap_places, r->paths.n + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc = vlt_idset_put(&r->paths, key, &n, &inserted);
    if (rc == VAULT_OK)
        r->places[n] = (vplace){dir, leaf};
    return rc;
}

static void vdir_free(vdir *d)
{
    for (size_t i = 0; i < d->n_children; i++) {
        vdir_free(d->children[i]);
        free(d->children[i]);
    }
    free(d->children);
    for (size_t i = 0; i < d->n_leaves; i++)
        vlt_tree_node_clear(&d->leaves[i]);
    free(d->leaves);
    vlt_tree_node_clear(&d->node);
}

static void vroot_free(vroot *r)
{
    vdir_free(&r->top);
    vlt_idset_free(&r->paths);
    free(r->places);
}

/* The directory name at path (below d) into *out: made now (its metadata
 * from the source's parent()) unless there is one; VAULT_E_INVALID if a
 * leaf has that path. */
static vault_error vdir_child(adder *a, vroot *r, vdir *d, const char *name,
                              const char *path, vdir **out)
{
    uint8_t key[SHA256_BYTES];
    path_key(path, key);
    vplace at;
    if (vroot_find(r, key, &at)) {
        if (at.leaf != SIZE_MAX)
            return vlt_fail(VAULT_E_INVALID,
                            "%s: overlaps another path being added", path);
        *out = at.dir;
        return VAULT_OK;
    }
    vdir *c = calloc(1, sizeof *c);
    if (!c || VLT_ARRAY_GROW(&d->children, &d->cap_children,
                             d->n_children + 1) != 0) {
        free(c);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    d->children[d->n_children++] = c;
    vault_error rc = vroot_put(r, key, c, SIZE_MAX);
    if (rc == VAULT_OK)
        rc = a->src->parent(a->src->ctx, path, name, &c->node);
    *out = c;
    return rc;
}

static vault_error vdir_store(adder *a, vdir *d, uint8_t id[CHUNK_ID_BYTES])
{
    tree t = {0};
    size_t n = d->n_children + d->n_leaves;
    t.nodes = calloc(n ? n : 1, sizeof *t.nodes);
    if (!t.nodes)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < d->n_children && rc == VAULT_OK; i++) {
        vdir *c = d->children[i];
        rc = vdir_store(a, c, c->node.subtree);
        t.nodes[t.n_nodes++] = c->node; /* shallow: encode only reads */
    }
    for (size_t i = 0; i < d->n_leaves; i++)
        t.nodes[t.n_nodes++] = d->leaves[i];
    uint8_t *bytes = NULL;
    size_t len;
    if (rc == VAULT_OK)
        rc = vlt_tree_encode(&t, &bytes, &len);
    /* vlt_tree_encode sorted t.nodes; the originals stay owned by d. */
    free(t.nodes);
    if (rc == VAULT_OK)
        rc = vlt_add_store_blob(a, BLOB_TREE, bytes, len, id);
    return rc;
}

/* The leaf at path (absolute, clean), or NULL. */
static tree_node *vroot_leaf(const vroot *r, const char *path)
{
    uint8_t key[SHA256_BYTES];
    path_key(path, key);
    vplace at;
    if (!vroot_find(r, key, &at) || at.leaf == SIZE_MAX)
        return NULL;
    return &at.dir->leaves[at.leaf];
}

/* A placed hard link it (its node in n): shares the content of the file
 * placed at it->link_to, which both record as one inode with two links
 * or more (what extraction links by).  *skip: reported, left out. */
static vault_error place_link(adder *a, vroot *r, add_item *it,
                              tree_node *n, int *skip)
{
    vault_error rc = vlt_add_group_wait(a, &r->placed);
    if (rc != VAULT_OK)
        return rc;
    tree_node *first = vroot_leaf(r, it->link_to);
    if (!first || first->type != NODE_FILE) {
        report(a, it->path, "a hard link to %s, which is not a file placed "
                            "before it; left out",
               it->link_to);
        *skip = 1;
        return VAULT_OK;
    }
    size_t bytes = (size_t)first->n_content * CHUNK_ID_BYTES;
    free(n->content);
    n->content = malloc(bytes ? bytes : 1);
    if (!n->content)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (bytes)
        memcpy(n->content, first->content, bytes);
    n->n_content = first->n_content;
    n->size = first->size;
    first->nlink = first->nlink < 2 ? 2 : first->nlink + 1;
    n->nlink = first->nlink;
    n->inode = first->inode;
    n->device = first->device;
    a->r->files++;
    a->r->bytes_total += n->size;
    if (a->o->on_item)
        a->o->on_item(a->o->on_item_ctx, it->path, VAULT_FILE, n->size, 0);
    return VAULT_OK;
}

/* A placed directory item: the metadata of the directory at its path
 * (dir, made now or before as a parent of another entry). */
static void place_dir(adder *a, vdir *dir, add_item *it)
{
    a->src->xattrs(a->src->ctx, &it->node);
    vlt_tree_node_clear(&dir->node);
    dir->node = it->node;
    memset(&it->node, 0, sizeof it->node);
    a->r->dirs++;
    if (a->o->on_item)
        a->o->on_item(a->o->on_item_ctx, it->path, VAULT_DIR, 0, 0);
}

/* The top-level item it (one of the paths given, or one placed): its
 * directories above in root, itself a leaf there, walked.  *abs_out: its
 * path (NULL for a placed one). */
static vault_error add_top(adder *a, vroot *r, add_item *it,
                           char **abs_out)
{
    const char *given = it->given ? it->given : it->path;
    char *path = strdup(it->path);
    *abs_out = it->placed ? NULL : strdup(it->path);
    vault_error rc = VAULT_OK;
    if (!path || (!it->placed && !*abs_out))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    /* the item's own key: the path buffer may change while it is walked */
    uint8_t key[SHA256_BYTES];
    path_key(it->path, key);
    /* Walk the parents, creating virtual directories. */
    vdir *d = &r->top;
    char *p = path ? path + 1 : NULL, *slash;
    while (rc == VAULT_OK && (slash = strchr(p, '/')) != NULL) {
        *slash = '\0';
        rc = vdir_child(a, r, d, p, path, &d);
        *slash = '/';
        p = slash + 1;
    }
    /* what a placed item collides with: a leaf where a directory is
     * (1), the same name placed before (2) */
    int collides = rc == VAULT_E_INVALID;
    int placed_dir = it->placed && it->node.type == NODE_DIR;
    if (rc == VAULT_OK && placed_dir) {
        vdir *dir;
        rc = vdir_child(a, r, d, p, path, &dir);
        collides = rc == VAULT_E_INVALID ? 2 : 0;
        if (rc == VAULT_OK)
            place_dir(a, dir, it);
    } else if (rc == VAULT_OK && vroot_find(r, key, &(vplace){0})) {
        collides = 2;
        rc = vlt_fail(VAULT_E_INVALID,
                      "%s: given twice, or overlaps another path", given);
    }
    free(path);
    path = NULL;
    if (it->placed && collides) {
        /* an archive's name twice, or a name below a symlink or file of
         * the same archive: never both (extraction would follow the one
         * to place the other); the first is kept */
        report(a, it->path,
               collides == 1 ? "below an entry that is not a directory; "
                               "left out"
                             : "a name an entry before it has (the first "
                               "kept); left out");
        vlt_tree_node_clear(&it->node);
        return VAULT_OK;
    }
    if (placed_dir)
        return rc;
    if (rc == VAULT_OK &&
        VLT_ARRAY_GROW(&d->leaves, &d->cap_leaves, d->n_leaves + 1) != 0)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc != VAULT_OK) {
        vlt_tree_node_clear(&it->node);
        return rc;
    }
    tree_node *n = &d->leaves[d->n_leaves];
    int skip = 0;
    file_group g = {0};
    if (it->link_to) {
        *n = it->node;
        memset(&it->node, 0, sizeof it->node);
        rc = place_link(a, r, it, n, &skip);
    } else {
        rc = add_node(a, it, n, 0, &skip, it->placed ? &r->placed : &g,
                      NULL);
    }
    if (it->placed) {
        /* never a directory; n->content is written by the workers, and
         * does not move when d->leaves does */
        if (rc == VAULT_OK && !skip)
            return vroot_put(r, key, d, d->n_leaves++);
        if (rc != VAULT_OK)
            (void)vlt_add_group_wait(a, &r->placed);
        vlt_tree_node_clear(n);
        return rc; /* skipped: reported */
    }
    /* Every tree below n stored, and n's own ID in, before the next path
     * may move d->leaves. */
    if (rc == VAULT_OK)
        rc = dirs_settle(a, 1);
    if (rc != VAULT_OK)
        dirs_abort(a, rc);
    rc = group_finish(a, &g, n, rc);
    if (rc != VAULT_OK || skip) {
        vlt_tree_node_clear(n);
        if (rc == VAULT_OK)
            rc = vlt_fail(VAULT_E_IO, "%s: cannot be read", given);
        return rc;
    }
    return vroot_put(r, key, d, d->n_leaves++);
}

vault_error vlt_add_walk(adder *a, snapshot_record *rec)
{
    vroot root = {0};
    vault_error rc = VAULT_OK;
    rec->paths = calloc(a->o->n_paths ? a->o->n_paths : 1,
                        sizeof *rec->paths);
    if (!rec->paths)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (;;) {
        add_item it;
        rc = a->src->next(a->src->ctx, &it);
        if (rc != VAULT_OK || it.kind != ADD_ITEM_NODE) {
            vlt_tree_node_clear(&it.node);
            if (rc == VAULT_OK && it.kind != ADD_ITEM_END)
                rc = vlt_fail(VAULT_E_INTERNAL, "add: a directory ended "
                                                "outside any");
            break;
        }
        if (!it.placed && rec->n_paths == a->o->n_paths) {
            vlt_tree_node_clear(&it.node);
            rc = vlt_fail(VAULT_E_INTERNAL, "add: more paths than given");
            break;
        }
        char *abs = NULL;
        rc = add_top(a, &root, &it, &abs);
        if (abs)
            rec->paths[rec->n_paths++] = abs;
        if (rc != VAULT_OK)
            break;
    }
    /* Placed entries (an archive's): the snapshot records what they came
     * from, as given (o->paths). */
    if (rec->n_paths == 0)
        for (size_t i = 0; rc == VAULT_OK && i < a->o->n_paths; i++) {
            if (!(rec->paths[rec->n_paths] = strdup(a->o->paths[i])))
                rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            else
                rec->n_paths++;
        }
    /* the placed files' chunk IDs all in (also before freeing them) */
    vault_error wrc = vlt_add_group_wait(a, &root.placed);
    if (rc == VAULT_OK)
        rc = wrc;
    if (rc == VAULT_OK)
        rc = vdir_store(a, &root.top, rec->tree);
    vroot_free(&root);
    return rc;
}
