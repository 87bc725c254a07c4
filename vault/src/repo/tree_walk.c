/*
 * tree_walk.c - walking a snapshot's trees (tree_walk.h).
 *
 * Both walks are loops over an explicit stack (paths) or queue (once),
 * never recursion: the depth of a tree comes from storage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/array.h"
#include "common/internal.h"
#include "repo/blob_load.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

static size_t max_memory(const vlt_tree_walk *w)
{
    if (w->max_memory)
        return w->max_memory;
    return w->v ? vlt_repo_tree_memory_limit(w->v) : VLT_TREE_WALK_MAX_MEMORY;
}

/* Loads tree id, which may take what the walk's other trees (held, bytes)
 * leave of its memory. */
static vault_error load(const vlt_tree_walk *w,
                        const uint8_t id[CHUNK_ID_BYTES], size_t held,
                        const char *path, tree *t)
{
    memset(t, 0, sizeof *t);
    size_t max = max_memory(w);
    size_t before = vlt_tree_decode_limit(held < max ? max - held : 0);
    vault_error rc = w->load ? w->load(w->ctx, id, t)
                             : vlt_repo_load_tree(w->v, id, t);
    vlt_tree_decode_limit(before);
    if (rc != VAULT_OK)
        vlt_tree_clear(t);
    if (rc == VAULT_E_UNSUPPORTED) {
        char hex[65];
        vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
        rc = vlt_fail_context(rc, "%s%s%s (tree %.16s; %zu MiB held by the "
                                  "directories above it, limit %zu MiB)",
                              path ? "directory " : "", path ? path : "",
                              path && !path[0] ? "/" : "", hex, held >> 20,
                              max >> 20);
    }
    return rc;
}

/* A directory that cannot be walked: damaged() decides. */
static vault_error damaged(const vlt_tree_walk *w, const vlt_tree_walk_at *at,
                           vault_error rc)
{
    return w->damaged ? w->damaged(w->ctx, at, rc) : rc;
}

/* --- depth first, with paths -------------------------------------------- */

/* One directory being walked. */
typedef struct level {
    tree t;                /* its decoded tree */
    uint8_t id[CHUNK_ID_BYTES];
    const tree_node *node; /* the entry naming it (NULL: the root) */
    uint32_t next;         /* the entry to visit next */
    size_t path_len;       /* its path's length in the walk's path */
    void *state;           /* what enter() set */
    size_t memory;         /* its decoded tree's (vlt_tree_memory) */
} level;

typedef struct paths_walk {
    const vlt_tree_walk *w;
    level *levels;
    size_t n_levels, cap_levels;
    size_t held; /* memory of the levels' decoded trees */
    char path[VLT_TREE_WALK_PATH_MAX];
} paths_walk;

/* Whether file nd's content is loaded ahead: a small file, linked once
 * (of a hardlinked one, only the first occurrence is read, and which
 * one that is the walk finds out later). */
static int ahead_file(const tree_node *nd, uint64_t max_file)
{
    return nd->type == NODE_FILE && nd->size <= max_file && nd->nlink < 2;
}

size_t vlt_tree_ahead(const tree *t, int trees, uint64_t max_file, size_t max,
                      uint8_t (**ids)[CHUNK_ID_BYTES])
{
    *ids = NULL;
    size_t n = 0;
    for (uint32_t i = 0; i < t->n_nodes && n < max; i++) {
        const tree_node *nd = &t->nodes[i];
        if (trees)
            n += nd->type == NODE_DIR;
        else if (ahead_file(nd, max_file))
            n += nd->n_content;
    }
    if (n > max)
        n = max;
    if (n == 0 || !(*ids = malloc(n * sizeof **ids)))
        return 0;
    size_t k = 0;
    for (uint32_t i = 0; i < t->n_nodes && k < n; i++) {
        const tree_node *nd = &t->nodes[i];
        if (trees && nd->type == NODE_DIR) {
            memcpy((*ids)[k++], nd->subtree, CHUNK_ID_BYTES);
        } else if (!trees && ahead_file(nd, max_file)) {
            for (uint32_t c = 0; c < nd->n_content && k < n; c++)
                memcpy((*ids)[k++], nd->content[c], CHUNK_ID_BYTES);
        }
    }
    return k;
}

/* Loads and enters directory id (named by node, NULL for the root) as the
 * new top level; its path is in p->path already.  A directory that cannot
 * be walked goes to damaged(), and on VAULT_OK the walk goes on without
 * it. */
static vault_error push_dir(paths_walk *p, const uint8_t id[CHUNK_ID_BYTES],
                            const tree_node *node, unsigned depth,
                            void *parent_state)
{
    const vlt_tree_walk *w = p->w;
    size_t path_len = strlen(p->path);
    vlt_tree_walk_at at = {.id = id, .node = node, .path = p->path,
                           .depth = depth, .dir_state = parent_state};
    unsigned max = w->max_depth ? w->max_depth : VLT_TREE_WALK_MAX_DEPTH;
    if (depth >= max)
        return damaged(w, &at, vlt_fail(VAULT_E_UNSUPPORTED,
                                        "%s: nested deeper than %u "
                                        "directories",
                                        p->path, max));
    if (VLT_ARRAY_GROW(&p->levels, &p->cap_levels, p->n_levels + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    level *l = &p->levels[p->n_levels];
    memset(l, 0, sizeof *l);
    vault_error rc = load(w, id, p->held, p->path, &l->t);
    if (rc != VAULT_OK)
        return vlt_error_stops(rc) ? rc : damaged(w, &at, rc);
    memcpy(l->id, id, CHUNK_ID_BYTES);
    l->node = node;
    l->path_len = path_len;
    if (!w->load && w->v) {
        /* the subdirectories' trees, loaded at once while this one is
         * walked: one round trip for many on a remote storage */
        uint8_t(*ahead)[CHUNK_ID_BYTES];
        size_t n = vlt_tree_ahead(&l->t, 1, 0, BLOBS_WINDOW_COUNT, &ahead);
        vlt_repo_prefetch(w->v, ahead, n, BLOB_TREE);
        free(ahead);
    }
    if (w->enter)
        rc = w->enter(w->ctx, &at, &l->t, &l->state);
    if (rc != VAULT_OK) {
        vlt_tree_clear(&l->t);
        return rc;
    }
    l->memory = vlt_tree_memory(&l->t);
    p->held += l->memory;
    p->n_levels++;
    return VAULT_OK;
}

/* Leaves the top directory. */
static vault_error pop_dir(paths_walk *p, int stopping)
{
    const vlt_tree_walk *w = p->w;
    level *l = &p->levels[--p->n_levels];
    p->path[l->path_len] = '\0';
    vlt_tree_walk_at at = {.id = l->id, .node = l->node, .path = p->path,
                           .depth = (unsigned)p->n_levels,
                           .dir_state = l->state, .stopping = stopping};
    vault_error rc = VAULT_OK;
    p->held -= l->memory;
    if (w->leave)
        rc = w->leave(w->ctx, &at, &l->t, l->state);
    vlt_tree_clear(&l->t);
    return rc;
}

static vault_error paths_loop(paths_walk *p)
{
    const vlt_tree_walk *w = p->w;
    while (p->n_levels) {
        level *top = &p->levels[p->n_levels - 1];
        if (top->next == top->t.n_nodes) {
            vault_error rc = pop_dir(p, 0);
            if (rc != VAULT_OK)
                return rc;
            continue;
        }
        const tree_node *n = &top->t.nodes[top->next++];
        unsigned depth = (unsigned)p->n_levels - 1;
        size_t base = top->path_len;
        size_t room = sizeof p->path - base;
        int len = snprintf(p->path + base, room, "/%s", n->name);
        if (len < 0 || (size_t)len >= room) {
            vlt_tree_walk_at at = {.id = top->id, .node = n,
                                   .path = p->path, .depth = depth,
                                   .dir_state = top->state};
            vault_error rc = damaged(
                w, &at, vlt_fail(VAULT_E_UNSUPPORTED, "%s: path too long",
                                 p->path));
            p->path[base] = '\0';
            if (rc != VAULT_OK)
                return rc;
            continue;
        }
        vlt_tree_walk_at at = {.id = top->id, .node = n, .path = p->path,
                               .depth = depth, .dir_state = top->state};
        vlt_tree_walk_action action = VLT_TREE_WALK_CONTINUE;
        vault_error rc = w->node(w->ctx, &at, n, &action);
        if (rc != VAULT_OK)
            return rc;
        if (action == VLT_TREE_WALK_STOP)
            return VAULT_OK;
        if (n->type == NODE_DIR && action == VLT_TREE_WALK_CONTINUE) {
            /* top moves if the levels grow: copy what push_dir needs */
            uint8_t sub[CHUNK_ID_BYTES];
            memcpy(sub, n->subtree, CHUNK_ID_BYTES);
            size_t before = p->n_levels;
            rc = push_dir(p, sub, n, depth + 1, top->state);
            if (rc != VAULT_OK)
                return rc;
            if (p->n_levels > before)
                continue; /* the path stays: it is the new level's */
        }
        p->path[base] = '\0';
    }
    return VAULT_OK;
}

vault_error vlt_tree_walk_paths(const vlt_tree_walk *w,
                                const uint8_t root[CHUNK_ID_BYTES],
                                const char *root_path)
{
    paths_walk *p = malloc(sizeof *p);
    if (!p)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    p->w = w;
    p->levels = NULL;
    p->n_levels = p->cap_levels = 0;
    p->held = 0;
    int len = snprintf(p->path, sizeof p->path, "%s",
                       root_path ? root_path : "");
    vault_error rc = VAULT_OK;
    if (len < 0 || (size_t)len >= sizeof p->path)
        rc = vlt_fail(VAULT_E_UNSUPPORTED, "%s: path too long", root_path);
    if (rc == VAULT_OK)
        rc = push_dir(p, root, NULL, 0, NULL);
    if (rc == VAULT_OK)
        rc = paths_loop(p);
    while (p->n_levels)
        pop_dir(p, 1); /* its error is not the walk's */
    free(p->levels);
    free(p);
    return rc;
}

/* --- breadth first, each tree when node() says so ----------------------- */

vault_error vlt_tree_walk_once(const vlt_tree_walk *w,
                               const uint8_t (*roots)[CHUNK_ID_BYTES],
                               size_t n_roots)
{
    uint8_t (*queue)[CHUNK_ID_BYTES] = NULL;
    size_t head = 0, n = 0, cap = 0;
    vault_error rc = VAULT_OK;
    int stopped = 0;
    if (VLT_ARRAY_GROW(&queue, &cap, n_roots) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (n_roots)
        memcpy(queue, roots, n_roots * sizeof *queue);
    n = n_roots;
    while (head < n && rc == VAULT_OK && !stopped) {
        uint8_t id[CHUNK_ID_BYTES];
        memcpy(id, queue[head++], CHUNK_ID_BYTES);
        /* Drop what was walked once it is most of the queue, so the
         * queue holds only what waits. */
        if (head >= 1024 && head * 2 >= n) {
            memmove(queue, queue + head, (n - head) * sizeof *queue);
            n -= head;
            head = 0;
        }
        vlt_tree_walk_at at = {.id = id};
        tree t;
        rc = load(w, id, 0, NULL, &t);
        if (rc != VAULT_OK) {
            if (!vlt_error_stops(rc))
                rc = damaged(w, &at, rc);
            continue;
        }
        void *state = NULL;
        if (w->enter)
            rc = w->enter(w->ctx, &at, &t, &state);
        if (rc != VAULT_OK) {
            vlt_tree_clear(&t);
            break;
        }
        at.dir_state = state;
        for (uint32_t i = 0; i < t.n_nodes && rc == VAULT_OK; i++) {
            const tree_node *node = &t.nodes[i];
            vlt_tree_walk_action action = VLT_TREE_WALK_CONTINUE;
            at.node = node;
            rc = w->node(w->ctx, &at, node, &action);
            if (rc != VAULT_OK)
                break;
            if (action == VLT_TREE_WALK_STOP) {
                stopped = 1;
                break;
            }
            if (node->type != NODE_DIR || action != VLT_TREE_WALK_CONTINUE)
                continue;
            if (VLT_ARRAY_GROW(&queue, &cap, n + 1) != 0)
                rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            else
                memcpy(queue[n++], node->subtree, CHUNK_ID_BYTES);
        }
        at.node = NULL;
        at.stopping = rc != VAULT_OK || stopped;
        if (w->leave) {
            vault_error lrc = w->leave(w->ctx, &at, &t, state);
            if (rc == VAULT_OK)
                rc = lrc;
        }
        vlt_tree_clear(&t);
    }
    free(queue);
    return rc;
}

vault_error vlt_tree_find(vault_t *v, const uint8_t root[CHUNK_ID_BYTES],
                          const char *path, vlt_tree_found *out)
{
    memset(out, 0, sizeof *out);
    memcpy(out->dir, root, CHUNK_ID_BYTES);
    const char *p = path ? path : "";
    size_t limit = vlt_tree_decode_limit(vlt_repo_tree_memory_limit(v));
    vault_error rc = VAULT_OK;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        if (out->entry) {
            /* Below the entry found last: it must be a directory. */
            if (out->entry->type != NODE_DIR) {
                rc = vlt_fail(VAULT_E_NOT_FOUND,
                              "%s: %s is not a directory in the snapshot",
                              path, out->path);
                break;
            }
            memcpy(out->dir, out->entry->subtree, CHUNK_ID_BYTES);
            out->entry = NULL;
            vlt_tree_clear(&out->dir_tree);
        }
        size_t len = strcspn(p, "/");
        rc = vlt_repo_load_tree(v, out->dir, &out->dir_tree);
        if (rc != VAULT_OK)
            break;
        for (uint32_t i = 0; i < out->dir_tree.n_nodes && !out->entry; i++) {
            const tree_node *n = &out->dir_tree.nodes[i];
            if (strlen(n->name) == len && memcmp(n->name, p, len) == 0)
                out->entry = n;
        }
        size_t base = strlen(out->path);
        if (!out->entry || base + len + 2 > sizeof out->path) {
            rc = vlt_fail(VAULT_E_NOT_FOUND,
                          "%s: no such file in the snapshot", path);
            break;
        }
        snprintf(out->path + base, sizeof out->path - base, "/%.*s",
                 (int)len, p);
        p += len;
    }
    vlt_tree_decode_limit(limit);
    if (rc != VAULT_OK) {
        vlt_tree_clear(&out->dir_tree);
        out->entry = NULL;
    }
    return rc;
}
