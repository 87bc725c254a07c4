/*
 * source_snapshot.c - a snapshot of another vault as add's source
 * (add_source.h): `copy` re-adds it into the destination, which chunks,
 * deduplicates and seals it with its own keys (chunk IDs are keyed per
 * vault, so blobs cannot be copied by ID; trees name chunk IDs, so they
 * are made anew).
 *
 * The snapshot is walked by repo/tree_walk.h, which pushes entries to
 * callbacks, while add pulls them one at a time (add_source.next).  The
 * walk therefore runs on a thread of its own and the two take turns: the
 * walk hands over an item and waits until add asks for the next one, so
 * the entry it handed over (inside the walk's decoded tree) stays valid
 * for add's reads, and only one side runs at any time.  The walk keeps
 * its bounds (depth, memory of the trees held).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/internal.h"
#include "ops/add/add_source.h"
#include "ops/restore/restore_internal.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

typedef enum { TURN_WALK, TURN_ADD } turn;

typedef struct snap_source {
    vault_t *from;
    uint8_t root[CHUNK_ID_BYTES];
    int withhold;        /* another member's: withhold privileges */
    uint64_t *withheld;  /* counts what was withheld */

    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    turn turn;      /* whose turn it is; under lock */
    int stop;       /* add is done with the walk: it ends */
    int finished;   /* the walk returned walk_rc */
    vault_error walk_rc;
    char walk_error[512]; /* its detail (details are per thread) */
    vault_error failed;   /* an xattrs() call that could not fail did */

    /* The item handed over (valid while it is add's turn). */
    add_item_kind kind;
    const tree_node *node;
    char path[VLT_TREE_WALK_PATH_MAX];

    /* The current file's content, streamed chunk by chunk. */
    uint32_t next_chunk;  /* the next of node->content to load */
    uint8_t *chunk;       /* a loaded chunk (NULL: zeros) */
    size_t chunk_len, chunk_off;
    uint64_t content_read; /* of the current file, against node->size */
} snap_source;

/* --- the walk's side ----------------------------------------------------- */

/* Hands item kind (node, path) to add and waits for its next call. */
static vault_error hand_over(snap_source *s, add_item_kind kind,
                             const tree_node *node, const char *path)
{
    pthread_mutex_lock(&s->lock);
    s->kind = kind;
    s->node = node;
    snprintf(s->path, sizeof s->path, "%s", path ? path : "");
    s->turn = TURN_ADD;
    pthread_cond_broadcast(&s->cond);
    while (s->turn != TURN_WALK && !s->stop)
        pthread_cond_wait(&s->cond, &s->lock);
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    /* any failure ends the walk; add does not read it */
    return stop ? VAULT_E_INTERNAL : VAULT_OK;
}

static vault_error walk_node(void *ctx, const vlt_tree_walk_at *at,
                             const tree_node *n, vlt_tree_walk_action *action)
{
    (void)action; /* directories are descended into */
    return hand_over(ctx, ADD_ITEM_NODE, n, at->path);
}

static vault_error walk_leave(void *ctx, const vlt_tree_walk_at *at, tree *t,
                              void *dir_state)
{
    (void)t;
    (void)dir_state;
    if (at->stopping)
        return VAULT_OK;
    return hand_over(ctx, at->node ? ADD_ITEM_DIR_END : ADD_ITEM_END, NULL,
                     NULL);
}

static void *walk_thread(void *arg)
{
    snap_source *s = arg;
    pthread_mutex_lock(&s->lock);
    while (s->turn != TURN_WALK && !s->stop)
        pthread_cond_wait(&s->cond, &s->lock);
    int stop = s->stop;
    pthread_mutex_unlock(&s->lock);
    vault_error rc = VAULT_OK;
    if (!stop) {
        vlt_tree_walk w = {.v = s->from, .ctx = s, .node = walk_node,
                           .leave = walk_leave};
        rc = vlt_tree_walk_paths(&w, s->root, "");
    }
    pthread_mutex_lock(&s->lock);
    s->finished = 1;
    s->walk_rc = rc;
    if (rc != VAULT_OK)
        snprintf(s->walk_error, sizeof s->walk_error, "%s",
                 vault_last_error());
    s->turn = TURN_ADD;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* --- privileges ----------------------------------------------------------- */

int vlt_copy_withholds_node(const tree_node *n)
{
    return n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV;
}

uint32_t vlt_copy_withheld_mode(const tree_node *n)
{
    return n->type == NODE_DIR ? n->mode : n->mode & ~(uint32_t)06000;
}

int vlt_copy_withholds_xattr(const node_xattr *x)
{
    return vlt_restore_is_capability(x);
}

/* --- add's side ---------------------------------------------------------- */

static char *dup_or_null(const char *str, int *failed)
{
    if (!str)
        return NULL;
    char *d = strdup(str);
    if (!d)
        *failed = 1;
    return d;
}

/* n's name and metadata into *out (content, subtree, xattrs left out). */
static vault_error node_metadata(const tree_node *n, tree_node *out)
{
    int failed = 0;
    *out = *n;
    out->name = dup_or_null(n->name, &failed);
    out->user = dup_or_null(n->user, &failed);
    out->group = dup_or_null(n->group, &failed);
    out->target = dup_or_null(n->target, &failed);
    out->xattrs = NULL;
    out->n_xattrs = 0;
    out->content = NULL;
    out->n_content = 0;
    memset(out->subtree, 0, sizeof out->subtree);
    return failed ? vlt_fail(VAULT_E_NOMEM, "out of memory") : VAULT_OK;
}

static void drop_chunk(snap_source *s)
{
    free(s->chunk);
    s->chunk = NULL;
    s->chunk_len = s->chunk_off = 0;
}

/* The walk's next item (kind, node, path in s). */
static vault_error next_item(snap_source *s)
{
    pthread_mutex_lock(&s->lock);
    if (!s->finished)
        s->turn = TURN_WALK;
    pthread_cond_broadcast(&s->cond);
    while (s->turn != TURN_ADD)
        pthread_cond_wait(&s->cond, &s->lock);
    int finished = s->finished;
    pthread_mutex_unlock(&s->lock);
    if (finished) {
        s->node = NULL;
        if (s->walk_rc != VAULT_OK)
            return vlt_fail(s->walk_rc, "%s", s->walk_error);
        return vlt_fail(VAULT_E_INTERNAL, "copy: the walk ended early");
    }
    return VAULT_OK;
}

static vault_error snap_next(void *ctx, add_item *item)
{
    snap_source *s = ctx;
    memset(item, 0, sizeof *item);
    if (s->failed)
        return vlt_fail(s->failed, "%s: out of memory", s->path);
    drop_chunk(s);
    s->next_chunk = 0;
    s->content_read = 0;
    vault_error rc;
    do {
        rc = next_item(s);
        if (rc != VAULT_OK)
            return rc;
        if (s->kind != ADD_ITEM_NODE || !s->withhold ||
            !vlt_copy_withholds_node(s->node))
            break;
        ++*s->withheld; /* a device node: left out */
    } while (1);
    item->kind = s->kind;
    if (s->kind != ADD_ITEM_NODE)
        return VAULT_OK;
    item->path = s->path;
    item->given = s->path;
    item->use_cache = 0; /* no stable identity: always read */
    rc = node_metadata(s->node, &item->node);
    if (rc == VAULT_OK && s->withhold &&
        vlt_copy_withheld_mode(s->node) != s->node->mode) {
        item->node.mode = vlt_copy_withheld_mode(s->node);
        ++*s->withheld;
    }
    return rc;
}

/* Loads the next chunk of the current file (a zero run's without
 * reading it). */
static vault_error load_chunk(snap_source *s)
{
    const uint8_t *id = s->node->content[s->next_chunk++];
    uint32_t len;
    int zero;
    vault_error rc = vlt_repo_chunk_size(s->from, id, &len, &zero);
    if (rc == VAULT_OK && zero) {
        s->chunk_len = len;
        return VAULT_OK;
    }
    if (rc == VAULT_OK)
        rc = vlt_repo_load_blob(s->from, id, BLOB_DATA, &s->chunk,
                                &s->chunk_len);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "%s", s->path);
    return VAULT_OK;
}

static vault_error snap_read(void *ctx, uint8_t *buf, size_t cap, size_t *got)
{
    snap_source *s = ctx;
    *got = 0;
    if (s->failed)
        return vlt_fail(s->failed, "%s: out of memory", s->path);
    if (!s->node || s->node->type != NODE_FILE)
        return vlt_fail(VAULT_E_INTERNAL, "copy: read of a non-file");
    while (*got < cap) {
        if (s->chunk_off == s->chunk_len) {
            drop_chunk(s);
            if (s->next_chunk == s->node->n_content)
                break;
            vault_error rc = load_chunk(s);
            if (rc != VAULT_OK)
                return rc;
            continue;
        }
        size_t n = s->chunk_len - s->chunk_off;
        if (n > cap - *got)
            n = cap - *got;
        if (s->chunk)
            memcpy(buf + *got, s->chunk + s->chunk_off, n);
        else
            memset(buf + *got, 0, n);
        s->chunk_off += n;
        *got += n;
    }
    s->content_read += *got;
    /* A copy is exact or not made: content that does not add up to the
     * recorded size would be stored as a file "changed while read". */
    if (s->content_read > s->node->size ||
        (*got == 0 && s->content_read != s->node->size))
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: its content is %s than the %llu bytes its "
                        "tree records",
                        s->path,
                        s->content_read > s->node->size ? "longer"
                                                        : "shorter",
                        (unsigned long long)s->node->size);
    return VAULT_OK;
}

static int snap_xattrs(void *ctx, tree_node *out)
{
    snap_source *s = ctx;
    const tree_node *n = s->node;
    if (!n || n->n_xattrs == 0)
        return 0;
    node_xattr *x = calloc(n->n_xattrs, sizeof *x);
    uint32_t done = 0;
    int out_of_memory = !x;
    for (uint32_t i = 0; x && i < n->n_xattrs; i++) {
        const node_xattr *from = &n->xattrs[i];
        if (s->withhold && vlt_copy_withholds_xattr(from)) {
            ++*s->withheld;
            continue;
        }
        x[done].name = strdup(from->name);
        x[done].value = malloc(from->value_len ? from->value_len : 1);
        x[done].value_len = from->value_len;
        if (!x[done].name || !x[done].value) {
            free(x[done].name);
            free(x[done].value);
            out_of_memory = 1;
            break;
        }
        memcpy(x[done].value, from->value, from->value_len);
        done++;
    }
    if (out_of_memory)
        /* this call cannot fail: the next one does (a copy is exact) */
        s->failed = vlt_fail(VAULT_E_NOMEM, "%s: out of memory", s->path);
    if (done == 0) {
        free(x);
        return 0;
    }
    out->xattrs = x;
    out->n_xattrs = done;
    return 1;
}

static vault_error snap_parent(void *ctx, const char *path, const char *name,
                               tree_node *node)
{
    (void)ctx;
    (void)name;
    (void)node;
    return vlt_fail(VAULT_E_INTERNAL, "copy: no directory above %s", path);
}

vault_error vlt_add_source_snapshot_open(vault_t *from,
                                         const uint8_t root[CHUNK_ID_BYTES],
                                         int withhold, uint64_t *withheld,
                                         size_t *n_top, add_source *out)
{
    memset(out, 0, sizeof *out);
    *n_top = 0;
    tree t = {0};
    vault_error rc = vlt_repo_load_tree(from, root, &t);
    *n_top = t.n_nodes;
    vlt_tree_clear(&t);
    if (rc != VAULT_OK)
        return rc;
    snap_source *s = calloc(1, sizeof *s);
    if (!s)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    s->from = from;
    s->withhold = withhold;
    s->withheld = withheld;
    memcpy(s->root, root, CHUNK_ID_BYTES);
    s->turn = TURN_ADD; /* until the first next */
    *out = (add_source){.next = snap_next, .read = snap_read,
                        .xattrs = snap_xattrs, .parent = snap_parent,
                        .ctx = s};
    if (pthread_mutex_init(&s->lock, NULL) != 0) {
        free(s);
        memset(out, 0, sizeof *out);
        return vlt_fail(VAULT_E_NOMEM, "cannot create a lock");
    }
    if (pthread_cond_init(&s->cond, NULL) != 0) {
        pthread_mutex_destroy(&s->lock);
        free(s);
        memset(out, 0, sizeof *out);
        return vlt_fail(VAULT_E_NOMEM, "cannot create a condition");
    }
    if (pthread_create(&s->thread, NULL, walk_thread, s) != 0)
        return vlt_fail(VAULT_E_NOMEM, "cannot start the copy's walk");
    s->started = 1;
    return VAULT_OK;
}

void vlt_add_source_snapshot_close(add_source *src)
{
    snap_source *s = src->ctx;
    if (!s)
        return;
    if (s->started) {
        pthread_mutex_lock(&s->lock);
        s->stop = 1;
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        pthread_join(s->thread, NULL);
    }
    drop_chunk(s);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
    memset(src, 0, sizeof *src);
}
