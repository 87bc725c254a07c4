/*
 * browse.c - the readable snapshots as one read-only tree of folders
 * (vault.h "Browsing"), what `vault mount` serves.
 *
 * Nothing is walked ahead: a path is resolved one component at a time
 * through the decoded trees it passes (binary search: a tree's entries
 * are sorted, which the decoder enforces), and a read loads only the
 * chunks its range covers, found by binary search in the file's chunk
 * end offsets (chunk lengths come from the index, in memory).  Decoded
 * trees and verified chunks go to two bounded caches (browse_cache.h)
 * keyed by chunk ID, so a tree or chunk that several snapshots share is
 * held once.
 *
 * Threads: the snapshot list is an immutable, reference-counted value
 * swapped under `lock` when a refresh made a new one; callers hold the
 * one they resolved against until they are done.  Loads go through the
 * vault handle's blob loading, which is thread-safe once the index is
 * loaded (blob_load.h); a refresh lists and opens snapshot objects,
 * which only reads the handle's keys and membership.  New snapshots
 * come with blobs the loaded index does not know: the index is loaded
 * again under `index_lock` taken for writing, while every call that
 * uses the vault handle holds it for reading (never twice in one
 * thread: writers are preferred, so a nested read could deadlock).
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/array.h"
#include "common/internal.h"
#include "common/pool.h"
#include "ops/browse/browse_cache.h"
#include "ops/snapshot_list.h"
#include "repo/repo.h"

#define BROWSE_TIME_MAX 40 /* "2026-12-01T21:32:05", or far years */
#define BROWSE_NAME_MAX (BROWSE_TIME_MAX + 24) /* and "-N" */
#define BROWSE_LINK_MAX (BROWSE_NAME_MAX + 32)
#define BROWSE_TREE_CACHE_MIN ((size_t)4 << 20)
/* Reading ahead: chunks of a file read in order that are loaded before
 * they are asked for, by this many threads, at most this many at once,
 * this many chunks past the one being read. */
#define BROWSE_AHEAD_THREADS 2
#define BROWSE_AHEAD_MAX 8
#define BROWSE_AHEAD_CHUNKS 4

/* One readable snapshot as the tree shows it. */
typedef struct browse_snap {
    char id[65];
    char name[BROWSE_NAME_MAX]; /* its folder under /snapshots */
    char short_id[65];          /* its name under /ids */
    int64_t time_sec;
    uint32_t time_nsec;
    uint8_t tree[CHUNK_ID_BYTES]; /* root tree */
    char *hostname;
    char **tags;
    uint32_t n_tags;
    /* Whose it is, for latest: 2 this member's, 1 a current owner's,
     * 0 another's (as vault_snapshot_resolve ranks them). */
    int rank;
} browse_snap;

/* The snapshots at one listing, oldest first; never changed once made. */
typedef struct browse_list {
    browse_snap *snaps;
    size_t n;
    /* What /latest points to: the newest snapshot of the highest rank,
     * so that another member's snapshot, whatever time it claims, does
     * not displace the member's own; NULL if there are none. */
    const browse_snap *latest;
    unsigned refs; /* the browse handle's, and each resolver's (lock) */
} browse_list;

struct vault_browse {
    vault_t *v;
    vlt_browse_cache trees; /* decoded trees (tree *) */
    vlt_browse_cache blobs; /* verified data chunks (browse_blob *) */
    unsigned refresh_seconds;
    uint32_t uid, gid;      /* owner of the folders made up here */
    pthread_mutex_t lock;   /* list, list's refs, listed_at */
    browse_list *list;
    struct timespec listed_at; /* CLOCK_MONOTONIC */
    pthread_mutex_t refresh_lock; /* one refresh at a time */
    pthread_rwlock_t index_lock;  /* the vault handle's index (above) */
    /* Files open on it (under lock): closing the handle closes them, as
     * a FUSE server may never hear of the last releases (a lazy
     * unmount ends the session first). */
    vault_browse_file_t *open_files;
    /* Reading ahead (read_ahead): the threads start at the first read
     * that wants them, not at open, because a FUSE server forks in
     * between (threads do not survive a fork).  Under lock: */
    vlt_pool *ahead;    /* NULL until started (or if that failed) */
    int ahead_tried;    /* 1 once starting was tried */
    uint8_t inflight[BROWSE_AHEAD_MAX][CHUNK_ID_BYTES]; /* being loaded */
    size_t n_inflight;
    pthread_cond_t landed; /* a chunk left inflight */
    /* Inode numbers are keyed hashes of paths (and, for hard links, of
     * what the tree records), under a key of this handle's own, so that
     * a snapshot cannot choose names that collide. */
    uint8_t ino_key[crypto_generichash_KEYBYTES];
};

/* A verified data chunk in the cache. */
typedef struct browse_blob {
    uint8_t *data;
    size_t len;
} browse_blob;

struct vault_browse_file {
    vault_browse_t *b;
    vault_browse_file_t *prev, *next; /* b's open files (b->lock) */
    char *path;             /* for messages */
    uint64_t size;
    uint32_t n;             /* chunks */
    uint8_t (*ids)[CHUNK_ID_BYTES];
    uint64_t *ends;         /* end offset of chunk i in the file */
    uint8_t *zero;          /* chunk i is a chunk of zeros (not loaded) */
    /* Where the last read ended: a read that starts there (or at 0) is
     * sequential and reads ahead.  A hint only: racing readers of one
     * file may see each other's. */
    _Atomic uint64_t next_offset;
};

static void handle_read(vault_browse_t *b)
{
    pthread_rwlock_rdlock(&b->index_lock);
}

static void handle_done(vault_browse_t *b)
{
    pthread_rwlock_unlock(&b->index_lock);
}

/* --- the snapshot list -------------------------------------------------- */

static void snap_clear(browse_snap *s)
{
    free(s->hostname);
    for (uint32_t i = 0; s->tags && i < s->n_tags; i++)
        free(s->tags[i]);
    free(s->tags);
}

static void list_unref(vault_browse_t *b, browse_list *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&b->lock);
    unsigned left = --l->refs;
    pthread_mutex_unlock(&b->lock);
    if (left)
        return;
    for (size_t i = 0; i < l->n; i++)
        snap_clear(&l->snaps[i]);
    free(l->snaps);
    free(l);
}

static browse_list *list_ref(vault_browse_t *b)
{
    pthread_mutex_lock(&b->lock);
    browse_list *l = b->list;
    l->refs++;
    pthread_mutex_unlock(&b->lock);
    return l;
}

static int snap_cmp(const void *pa, const void *pb)
{
    const browse_snap *x = pa, *y = pb;
    if (x->time_sec != y->time_sec)
        return x->time_sec < y->time_sec ? -1 : 1;
    if (x->time_nsec != y->time_nsec)
        return x->time_nsec < y->time_nsec ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Fills s from snapshot object s->id; *shown 0 if it is left out
 * (sealed in an epoch this member lacks, damaged, forged: each said as a
 * warning).  An error stops the listing. */
static vault_error snap_load(vault_browse_t *b, browse_snap *s, int *shown)
{
    snapshot_record rec;
    *shown = 0;
    vault_error rc = vlt_repo_snapshot_load(b->v, s->id, &rec);
    if (rc == VAULT_E_PERMISSION || rc == VAULT_E_CORRUPT ||
        rc == VAULT_E_UNSUPPORTED) {
        vlt_warn("snapshots/%s: not shown: %s", s->id, vault_last_error());
        return VAULT_OK;
    }
    if (rc != VAULT_OK)
        return rc;
    *shown = 1;
    s->time_sec = rec.time_sec;
    s->time_nsec = rec.time_nsec;
    memcpy(s->tree, rec.tree, CHUNK_ID_BYTES);
    if (memcmp(rec.author, b->v->keys->sign_pk, SIGN_PUBLIC_BYTES) == 0)
        s->rank = 2;
    else if (vlt_membership_standing(b->v->members, rec.author) ==
             AUTHOR_OWNER)
        s->rank = 1;
    s->hostname = rec.hostname;
    s->tags = rec.tags;
    s->n_tags = rec.n_tags;
    rec.hostname = NULL;
    rec.tags = NULL;
    rec.n_tags = 0;
    vlt_snapshot_clear(&rec);
    return VAULT_OK;
}

/* Copies what snapshot from an older list says into s (no reload). */
static int snap_copy(browse_snap *s, const browse_snap *from)
{
    *s = *from;
    s->hostname = strdup(from->hostname ? from->hostname : "");
    s->tags = calloc(from->n_tags ? from->n_tags : 1, sizeof *s->tags);
    s->n_tags = 0;
    if (!s->hostname || !s->tags)
        return -1;
    for (; s->n_tags < from->n_tags; s->n_tags++)
        if (!(s->tags[s->n_tags] = strdup(from->tags[s->n_tags])))
            return -1;
    return 0;
}

static const browse_snap *find_by_id(const browse_list *l, const char *id)
{
    for (size_t i = 0; l && i < l->n; i++)
        if (strcmp(l->snaps[i].id, id) == 0)
            return &l->snaps[i];
    return NULL;
}

/* Names the snapshots of a sorted list: local time, "-N" for the Nth
 * (from 1) that shares a second with one before; short IDs of 8 digits,
 * all 64 for those whose 8 another shares. */
static void list_name(browse_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        browse_snap *s = &l->snaps[i];
        time_t t = (time_t)s->time_sec;
        struct tm tm;
        char base[BROWSE_TIME_MAX];
        /* A time no calendar can hold (a hostile record's) goes by its
         * seconds. */
        if (!localtime_r(&t, &tm) ||
            !strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm))
            snprintf(base, sizeof base, "%lld", (long long)s->time_sec);
        size_t same = 0;
        while (same < i && l->snaps[i - same - 1].time_sec == s->time_sec)
            same++;
        if (same)
            snprintf(s->name, sizeof s->name, "%s-%zu", base, same);
        else
            snprintf(s->name, sizeof s->name, "%s", base);
        snprintf(s->short_id, sizeof s->short_id, "%.8s", s->id);
    }
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = i + 1; j < l->n; j++)
            if (strncmp(l->snaps[i].id, l->snaps[j].id, 8) == 0) {
                memcpy(l->snaps[i].short_id, l->snaps[i].id, 65);
                memcpy(l->snaps[j].short_id, l->snaps[j].id, 65);
            }
}

/* Makes a new list from snapshots/, taking what old says of snapshots
 * it lists already. */
static vault_error list_make(vault_browse_t *b, const browse_list *old,
                             browse_list **out)
{
    char(*names)[65];
    size_t count;
    vault_error rc = vlt_repo_snapshot_names(b->v, &names, &count);
    if (rc != VAULT_OK)
        return rc;
    browse_list *l = calloc(1, sizeof *l);
    if (l)
        l->snaps = calloc(count ? count : 1, sizeof *l->snaps);
    if (!l || !l->snaps) {
        free(l);
        free(names);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    l->refs = 1;
    for (size_t i = 0; i < count && rc == VAULT_OK; i++) {
        browse_snap *s = &l->snaps[l->n];
        const browse_snap *known = find_by_id(old, names[i]);
        int shown = 0;
        if (known) {
            shown = 1;
            if (snap_copy(s, known) != 0)
                rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        } else {
            memcpy(s->id, names[i], 65);
            rc = snap_load(b, s, &shown);
        }
        if (shown)
            l->n++; /* also when a copy failed half-way: freed below */
        else
            memset(s, 0, sizeof *s);
    }
    free(names);
    if (rc != VAULT_OK) {
        for (size_t i = 0; i < l->n; i++)
            snap_clear(&l->snaps[i]);
        free(l->snaps);
        free(l);
        return rc;
    }
    qsort(l->snaps, l->n, sizeof *l->snaps, snap_cmp);
    list_name(l);
    for (size_t i = 0; i < l->n; i++) /* oldest first: the last wins */
        if (!l->latest || l->snaps[i].rank >= l->latest->rank)
            l->latest = &l->snaps[i];
    *out = l;
    return VAULT_OK;
}

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) +
           (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Whether fresh lists a snapshot old does not. */
static int list_has_new(const browse_list *old, const browse_list *fresh)
{
    for (size_t i = 0; i < fresh->n; i++)
        if (!find_by_id(old, fresh->snaps[i].id))
            return 1;
    return 0;
}

/* Lists snapshots/ again if the list is older than refresh_seconds and
 * no other thread is at it, and loads the index again when there are new
 * snapshots (their blobs are in packs the index did not list); 1 if it
 * made a new list.  A failure keeps the old list (a warning).  Called
 * holding index_lock for reading, which it lets go meanwhile. */
static int maybe_refresh(vault_browse_t *b)
{
    pthread_mutex_lock(&b->lock);
    int due = seconds_since(&b->listed_at) >= (double)b->refresh_seconds;
    pthread_mutex_unlock(&b->lock);
    if (!due || pthread_mutex_trylock(&b->refresh_lock) != 0)
        return 0;
    browse_list *old = list_ref(b), *fresh = NULL;
    vault_error rc = list_make(b, old, &fresh);
    if (rc != VAULT_OK)
        vlt_warn("snapshots: could not list them again: %s",
                 vault_last_error());
    handle_done(b);
    if (fresh && (list_has_new(old, fresh) || !b->v->index_loaded)) {
        pthread_rwlock_wrlock(&b->index_lock);
        vlt_repo_forget_index(b->v);
        rc = vlt_repo_load_index(b->v);
        pthread_rwlock_unlock(&b->index_lock);
        if (rc != VAULT_OK) {
            /* Tried again at the next refresh: the old list is kept so
             * that it is. */
            vlt_warn("index: could not load it again: %s",
                     vault_last_error());
            list_unref(b, fresh);
            fresh = NULL;
        }
    }
    handle_read(b);
    pthread_mutex_lock(&b->lock);
    clock_gettime(CLOCK_MONOTONIC, &b->listed_at);
    browse_list *replaced = NULL;
    if (fresh) {
        replaced = b->list;
        b->list = fresh;
    }
    pthread_mutex_unlock(&b->lock);
    pthread_mutex_unlock(&b->refresh_lock);
    list_unref(b, replaced);
    list_unref(b, old);
    return fresh != NULL;
}

/* --- opening ------------------------------------------------------------ */

void vault_browse_options_init(vault_browse_options *options)
{
    memset(options, 0, sizeof *options);
}

static void tree_value_free(void *value)
{
    tree *t = value;
    if (t)
        vlt_tree_clear(t);
    free(t);
}

static void blob_value_free(void *value)
{
    browse_blob *bl = value;
    if (bl)
        free(bl->data);
    free(bl);
}

vault_error vault_browse_open(vault_t *v, const vault_browse_options *options,
                              vault_browse_t **out)
{
    *out = NULL;
    if (!v)
        return vlt_fail(VAULT_E_INVALID, "browse: no vault");
    vault_error rc = vlt_snapshot_need_read(v);
    if (rc != VAULT_OK)
        return rc;
    vlt_repo_list_ahead_read(v);
    rc = vlt_repo_load_index(v);
    vlt_repo_list_ahead_done(v);
    if (rc != VAULT_OK)
        return rc;
    vault_browse_t *b = calloc(1, sizeof *b);
    if (!b)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    size_t cache = options && options->cache_bytes
                       ? options->cache_bytes
                       : VAULT_BROWSE_CACHE_DEFAULT;
    size_t tree_cache = cache / 4 > BROWSE_TREE_CACHE_MIN
                            ? cache / 4
                            : BROWSE_TREE_CACHE_MIN;
    b->v = v;
    b->refresh_seconds = options && options->refresh_seconds
                             ? options->refresh_seconds
                             : VAULT_BROWSE_REFRESH_DEFAULT;
    b->uid = (uint32_t)getuid();
    b->gid = (uint32_t)getgid();
    vlt_browse_cache_init(&b->trees, tree_cache, tree_value_free);
    vlt_browse_cache_init(&b->blobs, cache, blob_value_free);
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->refresh_lock, NULL);
    pthread_cond_init(&b->landed, NULL);
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(
        &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&b->index_lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    randombytes_buf(b->ino_key, sizeof b->ino_key);
    rc = list_make(b, NULL, &b->list);
    if (rc != VAULT_OK) {
        vault_browse_close(b);
        return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &b->listed_at);
    *out = b;
    return VAULT_OK;
}

void vault_browse_close(vault_browse_t *b)
{
    if (!b)
        return;
    while (b->open_files)
        vault_browse_file_close(b->open_files);
    /* The chunks being read ahead are loaded before the caches go. */
    (void)vlt_pool_finish(b->ahead, 0, VAULT_OK);
    if (b->list)
        list_unref(b, b->list);
    vlt_browse_cache_destroy(&b->trees);
    vlt_browse_cache_destroy(&b->blobs);
    pthread_mutex_destroy(&b->lock);
    pthread_mutex_destroy(&b->refresh_lock);
    pthread_rwlock_destroy(&b->index_lock);
    pthread_cond_destroy(&b->landed);
    free(b);
}

/* --- inode numbers ----------------------------------------------------- */

#define BROWSE_ROOT_INO 1

static uint64_t ino_final(crypto_generichash_state *st)
{
    uint8_t h[crypto_generichash_BYTES_MIN];
    crypto_generichash_final(st, h, sizeof h);
    uint64_t ino = load_le64(h);
    return ino > BROWSE_ROOT_INO ? ino : ino + 2;
}

/* The number of entry name in the folder numbered parent. */
static uint64_t ino_child(const vault_browse_t *b, uint64_t parent,
                          const char *name)
{
    crypto_generichash_state st;
    uint8_t p[8];
    store_le64(p, parent);
    crypto_generichash_init(&st, b->ino_key, sizeof b->ino_key,
                            crypto_generichash_BYTES_MIN);
    crypto_generichash_update(&st, p, sizeof p);
    crypto_generichash_update(&st, (const uint8_t *)name, strlen(name));
    return ino_final(&st);
}

/* The number every hard link of one file of snapshot snap shares: what
 * the tree records as its device and inode. */
static uint64_t ino_hardlink(const vault_browse_t *b, const char *snap_id,
                             const tree_node *n)
{
    crypto_generichash_state st;
    uint8_t p[16];
    store_le64(p, n->device);
    store_le64(p + 8, n->inode);
    crypto_generichash_init(&st, b->ino_key, sizeof b->ino_key,
                            crypto_generichash_BYTES_MIN);
    crypto_generichash_update(&st, (const uint8_t *)snap_id, 64);
    crypto_generichash_update(&st, p, sizeof p);
    return ino_final(&st);
}

/* --- trees -------------------------------------------------------------- */

/* Tree id, held in the cache (tree_put gives it back). */
static vault_error tree_get(vault_browse_t *b, const uint8_t id[CHUNK_ID_BYTES],
                            const tree **out)
{
    tree *t = vlt_browse_cache_get(&b->trees, id);
    if (t) {
        *out = t;
        return VAULT_OK;
    }
    t = calloc(1, sizeof *t);
    if (!t)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    size_t limit = vlt_tree_decode_limit(vlt_repo_tree_memory_limit(b->v));
    vault_error rc = vlt_repo_load_tree(b->v, id, t);
    vlt_tree_decode_limit(limit);
    if (rc != VAULT_OK) {
        tree_value_free(t);
        return rc;
    }
    size_t cost = vlt_tree_memory(t);
    if (!(*out = vlt_browse_cache_add(&b->trees, id, t, cost)))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

static void tree_put(vault_browse_t *b, const uint8_t id[CHUNK_ID_BYTES])
{
    vlt_browse_cache_put(&b->trees, id);
}

static int node_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const tree_node *)elem)->name);
}

static const tree_node *tree_find(const tree *t, const char *name)
{
    return bsearch(name, t->nodes, t->n_nodes, sizeof *t->nodes, node_cmp);
}

/* --- resolving paths ---------------------------------------------------- */

typedef enum browse_kind {
    KIND_ROOT,      /* / */
    KIND_SNAPSHOTS, /* /snapshots */
    KIND_IDS,       /* /ids */
    KIND_TAGS,      /* /tags */
    KIND_HOSTS,     /* /hosts */
    KIND_TAG,       /* /tags/<tag> */
    KIND_HOST,      /* /hosts/<host> */
    KIND_LINK,      /* a symlink made up here: link */
    KIND_SNAPROOT,  /* /snapshots/<name>: snap's root tree */
    KIND_NODE       /* an entry of a snapshot: node, in held tree */
} browse_kind;

typedef struct resolved {
    const vault_browse_t *b;
    browse_kind kind;
    uint64_t ino;              /* of the path (as ino_child chains it) */
    uint64_t parent_ino;       /* of the folder holding it */
    browse_list *list;         /* held */
    const browse_snap *snap;   /* KIND_SNAPROOT, KIND_NODE; newest for
                                  the virtual folders (may be NULL) */
    const char *group;         /* KIND_TAG, KIND_HOST: its name */
    char link[BROWSE_LINK_MAX]; /* KIND_LINK */
    uint8_t tree_id[CHUNK_ID_BYTES]; /* KIND_NODE: held tree... */
    const tree *t;
    const tree_node *node;     /* ...and the entry in it */
} resolved;

static void resolved_release(vault_browse_t *b, resolved *r)
{
    if (r->t)
        tree_put(b, r->tree_id);
    r->t = NULL;
    list_unref(b, r->list);
    r->list = NULL;
}

/* A tag or hostname that can be a file name. */
static int group_name_ok(const char *s)
{
    return s && s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           !strchr(s, '/') && strlen(s) < TREE_NAME_MAX;
}

static int snap_has_tag(const browse_snap *s, const char *tag)
{
    for (uint32_t i = 0; i < s->n_tags; i++)
        if (strcmp(s->tags[i], tag) == 0)
            return 1;
    return 0;
}

/* Whether snapshot s is listed under group folder kind/name. */
static int snap_in_group(const browse_snap *s, browse_kind kind,
                         const char *name)
{
    if (kind == KIND_TAG)
        return snap_has_tag(s, name);
    return s->hostname && strcmp(s->hostname, name) == 0;
}

/* A group (KIND_TAG/KIND_HOST) named name with at least one snapshot:
 * the name as the list holds it, or NULL. */
static const char *group_find(const browse_list *l, browse_kind kind,
                              const char *name)
{
    if (!group_name_ok(name))
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        const browse_snap *s = &l->snaps[i];
        if (kind == KIND_HOST && s->hostname &&
            strcmp(s->hostname, name) == 0)
            return s->hostname;
        for (uint32_t j = 0; kind == KIND_TAG && j < s->n_tags; j++)
            if (strcmp(s->tags[j], name) == 0)
                return s->tags[j];
    }
    return NULL;
}

static const browse_snap *snap_by_name(const browse_list *l,
                                       const char *name, int by_id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(by_id ? l->snaps[i].short_id : l->snaps[i].name, name) ==
            0)
            return &l->snaps[i];
    return NULL;
}

/* Splits off the next component of *p into buf; 0 when none is left.
 * A component longer than any entry name cannot exist (ENAMETOOLONG is
 * the kernel's to say): it is cut, and then not found. */
static int next_component(const char **p, char buf[TREE_NAME_MAX + 1])
{
    while (**p == '/')
        (*p)++;
    if (!**p)
        return 0;
    size_t len = strcspn(*p, "/");
    size_t keep = len > TREE_NAME_MAX ? TREE_NAME_MAX : len;
    memcpy(buf, *p, keep);
    buf[keep] = '\0';
    *p += len;
    return 1;
}

/* next_component, numbering the component as r's next step. */
static int step(const char **p, char buf[TREE_NAME_MAX + 1], resolved *r)
{
    if (!next_component(p, buf))
        return 0;
    r->parent_ino = r->ino;
    r->ino = ino_child(r->b, r->ino, buf);
    return 1;
}

static vault_error not_found(const char *path)
{
    return vlt_fail(VAULT_E_NOT_FOUND, "%s: no such file", path);
}

/* Resolves the made-up folders and links; the first component below
 * /snapshots names a snapshot, whose tree resolve_in_tree walks from
 * *rest.  Nothing is below a link: the kernel follows links itself. */
static vault_error resolve_virtual(const char *path, const char **rest,
                                   resolved *r, char comp[TREE_NAME_MAX + 1])
{
    static const struct {
        const char *name;
        browse_kind kind;
    } top[] = {{"snapshots", KIND_SNAPSHOTS}, {"ids", KIND_IDS},
               {"tags", KIND_TAGS},           {"hosts", KIND_HOSTS},
               {"latest", KIND_LINK}};
    const char *p = path;
    const browse_list *l = r->list;
    r->kind = KIND_ROOT;
    r->ino = r->parent_ino = BROWSE_ROOT_INO;
    r->snap = l->n ? &l->snaps[l->n - 1] : NULL; /* the newest */
    *rest = "";
    if (!step(&p, comp, r))
        return VAULT_OK;
    size_t i = 0;
    while (i < VAULT_ARRAY_SIZE(top) && strcmp(comp, top[i].name) != 0)
        i++;
    if (i == VAULT_ARRAY_SIZE(top) || (top[i].kind == KIND_LINK && !l->latest))
        return not_found(path);
    r->kind = top[i].kind;
    if (r->kind == KIND_LINK) {
        r->snap = l->latest;
        snprintf(r->link, sizeof r->link, "snapshots/%s", r->snap->name);
    }
    else if (step(&p, comp, r)) {
        switch (r->kind) {
        case KIND_SNAPSHOTS:
            r->snap = snap_by_name(l, comp, 0);
            r->kind = KIND_SNAPROOT;
            *rest = p;
            return r->snap ? VAULT_OK : not_found(path);
        case KIND_IDS:
            r->snap = snap_by_name(l, comp, 1);
            if (!r->snap)
                return not_found(path);
            r->kind = KIND_LINK;
            snprintf(r->link, sizeof r->link, "../snapshots/%s",
                     r->snap->name);
            break;
        default: /* KIND_TAGS, KIND_HOSTS */
            r->kind = r->kind == KIND_TAGS ? KIND_TAG : KIND_HOST;
            r->group = group_find(l, r->kind, comp);
            if (!r->group)
                return not_found(path);
            for (size_t j = 0; j < l->n; j++)
                if (snap_in_group(&l->snaps[j], r->kind, r->group))
                    r->snap = &l->snaps[j];
            if (step(&p, comp, r)) {
                r->snap = snap_by_name(l, comp, 0);
                if (!r->snap || !snap_in_group(r->snap, r->kind, r->group))
                    return not_found(path);
                r->kind = KIND_LINK;
                snprintf(r->link, sizeof r->link, "../../snapshots/%s",
                         r->snap->name);
            }
            break;
        }
    }
    if (step(&p, comp, r)) /* below a link or a group's link */
        return not_found(path);
    return VAULT_OK;
}

/* Walks the rest of path down snapshot r->snap's trees; at the end the
 * tree holding the last entry is held in r. */
static vault_error resolve_in_tree(vault_browse_t *b, const char *path,
                                   const char *rest, resolved *r,
                                   char comp[TREE_NAME_MAX + 1])
{
    const uint8_t *dir = r->snap->tree;
    uint8_t next[CHUNK_ID_BYTES];
    while (step(&rest, comp, r)) {
        if (r->t) {
            if (r->node->type != NODE_DIR)
                return not_found(path);
            memcpy(next, r->node->subtree, CHUNK_ID_BYTES);
            tree_put(b, r->tree_id);
            r->t = NULL;
            dir = next;
        }
        const tree *t;
        vault_error rc = tree_get(b, dir, &t);
        if (rc != VAULT_OK)
            return vlt_fail_context(rc, "%s", path);
        memcpy(r->tree_id, dir, CHUNK_ID_BYTES);
        r->t = t;
        r->node = tree_find(t, comp);
        if (!r->node)
            return not_found(path);
        r->kind = KIND_NODE;
    }
    return VAULT_OK;
}

/* Resolves path; release r after use, also after a failure.  Looking
 * at "/" or "/snapshots", or missing a made-up name, first lists the
 * snapshots again if that is due, and then resolves against the new
 * list. */
static vault_error resolve(vault_browse_t *b, const char *path, resolved *r)
{
    memset(r, 0, sizeof *r);
    r->b = b;
    char *comp = malloc(TREE_NAME_MAX + 1);
    if (!comp)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    const char *rest;
    r->list = list_ref(b);
    vault_error rc = resolve_virtual(path, &rest, r, comp);
    int top = rc == VAULT_OK &&
              (r->kind == KIND_ROOT || r->kind == KIND_SNAPSHOTS);
    if ((top || rc == VAULT_E_NOT_FOUND) && maybe_refresh(b)) {
        resolved_release(b, r);
        memset(r, 0, sizeof *r);
        r->b = b;
        r->list = list_ref(b);
        rc = resolve_virtual(path, &rest, r, comp);
    }
    if (rc == VAULT_OK && r->kind == KIND_SNAPROOT)
        rc = resolve_in_tree(b, path, rest, r, comp);
    free(comp);
    return rc;
}

/* --- stat --------------------------------------------------------------- */

static void stat_folder(const vault_browse_t *b, const browse_snap *newest,
                        vault_browse_stat *st)
{
    memset(st, 0, sizeof *st);
    st->type = VAULT_DIR;
    st->mode = 0555;
    st->uid = b->uid;
    st->gid = b->gid;
    st->nlink = 1;
    if (newest) {
        st->mtime_sec = newest->time_sec;
        st->mtime_nsec = newest->time_nsec;
    }
}

/* The bytes of file n's chunks that are not chunks of zeros, in 512-byte
 * blocks (st_blocks): what du counts.  A chunk the index does not know
 * counts whole (reading it will fail; stat need not). */
static uint64_t node_blocks(vault_browse_t *b, const tree_node *n)
{
    uint64_t zeros = 0;
    for (uint32_t i = 0; i < n->n_content; i++) {
        uint32_t len;
        int zero = 0;
        if (vlt_repo_chunk_size(b->v, n->content[i], &len, &zero) ==
                VAULT_OK &&
            zero)
            zeros += len;
    }
    uint64_t data = n->size > zeros ? n->size - zeros : 0;
    return (data + 511) / 512;
}

/* Entry n of snapshot snap, in the folder numbered parent_ino. */
static void stat_node(vault_browse_t *b, const browse_snap *snap,
                      uint64_t parent_ino, const tree_node *n,
                      vault_browse_stat *st)
{
    memset(st, 0, sizeof *st);
    st->ino = n->type == NODE_FILE && n->nlink > 1
                  ? ino_hardlink(b, snap->id, n)
                  : ino_child(b, parent_ino, n->name);
    st->type = (vault_file_type)n->type;
    st->mode = n->mode & 07777;
    st->uid = n->uid;
    st->gid = n->gid;
    st->nlink = n->type == NODE_FILE && n->nlink ? n->nlink : 1;
    st->mtime_sec = n->mtime_sec;
    st->mtime_nsec = n->mtime_nsec;
    st->rdev = n->rdev;
    if (n->type == NODE_FILE) {
        st->size = n->size;
        st->blocks = node_blocks(b, n);
    } else if (n->type == NODE_SYMLINK && n->target) {
        st->size = strlen(n->target);
    }
}

static void stat_resolved(vault_browse_t *b, const resolved *r,
                          vault_browse_stat *st)
{
    switch (r->kind) {
    case KIND_NODE:
        stat_node(b, r->snap, r->parent_ino, r->node, st);
        return;
    case KIND_LINK:
        stat_folder(b, r->snap, st);
        st->type = VAULT_SYMLINK;
        st->mode = 0777;
        st->size = strlen(r->link);
        break;
    case KIND_SNAPROOT:
        stat_folder(b, r->snap, st);
        st->mode = 0755;
        break;
    default:
        stat_folder(b, r->snap, st);
        break;
    }
    st->ino = r->ino;
}

static vault_error stat_path(vault_browse_t *b, const char *path,
                                   vault_browse_stat *st)
{
    resolved r;
    vault_error rc = resolve(b, path, &r);
    if (rc == VAULT_OK)
        stat_resolved(b, &r, st);
    resolved_release(b, &r);
    return rc;
}

/* --- listing ------------------------------------------------------------ */

/* Where a listing goes: the caller's function, from entry start on. */
typedef struct browse_out {
    vault_browse_list_fn fn;
    void *ctx;
    size_t start; /* entries before this one are skipped */
    size_t at;    /* the next entry's number */
} browse_out;

/* Hands on entry number out->at unless it is before start; non-zero
 * when the caller asked to stop. */
static int emit(browse_out *out, const char *name, const vault_browse_stat *st)
{
    return out->at++ >= out->start && out->fn(out->ctx, name, st);
}

static int str_ptr_cmp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* The entries of /tags or /hosts: each usable name once, sorted. */
static vault_error list_groups(vault_browse_t *b, const resolved *r,
                               browse_out *out)
{
    const browse_list *l = r->list;
    const char **names = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < l->n; i++) {
        const browse_snap *s = &l->snaps[i];
        size_t k = r->kind == KIND_TAGS ? s->n_tags : 1;
        for (size_t j = 0; j < k; j++) {
            const char *name = r->kind == KIND_TAGS ? s->tags[j] : s->hostname;
            if (!group_name_ok(name))
                continue;
            if (VLT_ARRAY_GROW(&names, &cap, n + 1) != 0) {
                free(names);
                return vlt_fail(VAULT_E_NOMEM, "out of memory");
            }
            names[n++] = name;
        }
    }
    if (n)
        qsort(names, n, sizeof *names, str_ptr_cmp);
    vault_browse_stat st;
    stat_folder(b, l->n ? &l->snaps[l->n - 1] : NULL, &st);
    for (size_t i = 0; i < n; i++) {
        if (i && strcmp(names[i], names[i - 1]) == 0)
            continue;
        st.ino = ino_child(b, r->ino, names[i]);
        if (emit(out, names[i], &st))
            break;
    }
    free(names);
    return VAULT_OK;
}

static int link_cmp(const void *x, const void *y)
{
    return strcmp(((const browse_snap *const *)x)[0]->name,
                  ((const browse_snap *const *)y)[0]->name);
}

static int id_entry_cmp(const void *x, const void *y)
{
    return strcmp(((const browse_snap *const *)x)[0]->short_id,
                  ((const browse_snap *const *)y)[0]->short_id);
}

/* /snapshots (folders), /ids and /tags/<tag>, /hosts/<host> (links). */
static vault_error list_snaps(vault_browse_t *b, const resolved *r,
                              browse_out *out)
{
    const browse_list *l = r->list;
    const browse_snap **pick = calloc(l->n ? l->n : 1, sizeof *pick);
    if (!pick)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if ((r->kind != KIND_TAG && r->kind != KIND_HOST) ||
            snap_in_group(&l->snaps[i], r->kind, r->group))
            pick[n++] = &l->snaps[i];
    qsort(pick, n, sizeof *pick,
          r->kind == KIND_IDS ? id_entry_cmp : link_cmp);
    for (size_t i = 0; i < n; i++) {
        const char *name =
            r->kind == KIND_IDS ? pick[i]->short_id : pick[i]->name;
        resolved e = {.kind = r->kind == KIND_SNAPSHOTS ? KIND_SNAPROOT
                                                        : KIND_LINK,
                      .snap = pick[i],
                      .ino = ino_child(b, r->ino, name)};
        const char *prefix = r->kind == KIND_IDS    ? "../"
                             : r->kind == KIND_SNAPSHOTS ? ""
                                                         : "../../";
        snprintf(e.link, sizeof e.link, "%ssnapshots/%s", prefix,
                 pick[i]->name);
        vault_browse_stat st;
        stat_resolved(b, &e, &st);
        if (emit(out, name, &st))
            break;
    }
    free(pick);
    return VAULT_OK;
}

static vault_error list_root(vault_browse_t *b, const resolved *r,
                             browse_out *out)
{
    static const char *const names[] = {"hosts", "ids", "latest",
                                        "snapshots", "tags"};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(names); i++) {
        resolved e = {.kind = KIND_ROOT,
                      .snap = r->snap,
                      .ino = ino_child(b, r->ino, names[i])};
        if (strcmp(names[i], "latest") == 0) {
            if (!r->list->latest)
                continue;
            e.kind = KIND_LINK;
            e.snap = r->list->latest;
            snprintf(e.link, sizeof e.link, "snapshots/%s", e.snap->name);
        }
        vault_browse_stat st;
        stat_resolved(b, &e, &st);
        if (emit(out, names[i], &st))
            break;
    }
    return VAULT_OK;
}

/* The entries of tree dir, folder dir_ino of snapshot snap. */
static vault_error list_tree(vault_browse_t *b, const char *path,
                             const browse_snap *snap, uint64_t dir_ino,
                             const uint8_t dir[CHUNK_ID_BYTES],
                             browse_out *out)
{
    const tree *t;
    vault_error rc = tree_get(b, dir, &t);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "%s", path);
    /* Skipped entries cost nothing here: a FUSE server lists a big
     * folder a buffer at a time, each call from where the last ended. */
    size_t first = out->start < t->n_nodes ? out->start : t->n_nodes;
    out->at = first;
    for (size_t i = first; i < t->n_nodes; i++) {
        vault_browse_stat st;
        stat_node(b, snap, dir_ino, &t->nodes[i], &st);
        if (emit(out, t->nodes[i].name, &st))
            break;
    }
    tree_put(b, dir);
    return VAULT_OK;
}

static vault_error list_path(vault_browse_t *b, const char *path,
                             size_t start, vault_browse_list_fn fn, void *ctx)
{
    browse_out out = {fn, ctx, start, 0};
    resolved r;
    vault_error rc = resolve(b, path, &r);
    if (rc == VAULT_OK) {
        switch (r.kind) {
        case KIND_ROOT: rc = list_root(b, &r, &out); break;
        case KIND_TAGS:
        case KIND_HOSTS: rc = list_groups(b, &r, &out); break;
        case KIND_IDS:
        case KIND_SNAPSHOTS:
        case KIND_TAG:
        case KIND_HOST: rc = list_snaps(b, &r, &out); break;
        case KIND_SNAPROOT:
            rc = list_tree(b, path, r.snap, r.ino, r.snap->tree, &out);
            break;
        case KIND_NODE:
            if (r.node->type == NODE_DIR) {
                uint8_t dir[CHUNK_ID_BYTES];
                memcpy(dir, r.node->subtree, CHUNK_ID_BYTES);
                rc = list_tree(b, path, r.snap, r.ino, dir, &out);
                break;
            }
            /* fall through */
        default:
            rc = vlt_fail(VAULT_E_INVALID, "%s: not a folder", path);
            break;
        }
    }
    resolved_release(b, &r);
    return rc;
}

/* --- links and xattrs --------------------------------------------------- */

/* Copies len bytes of src, at most size of them, to buf. */
static void copy_out(void *buf, size_t size, const void *src, size_t len)
{
    if (buf && size)
        memcpy(buf, src, len < size ? len : size);
}

static vault_error readlink_path(vault_browse_t *b, const char *path,
                                  char *buf, size_t size, size_t *len)
{
    resolved r;
    vault_error rc = resolve(b, path, &r);
    const char *target = NULL;
    if (rc == VAULT_OK) {
        if (r.kind == KIND_LINK)
            target = r.link;
        else if (r.kind == KIND_NODE && r.node->type == NODE_SYMLINK)
            target = r.node->target;
        else
            rc = vlt_fail(VAULT_E_INVALID, "%s: not a symlink", path);
    }
    if (target) {
        size_t n = strlen(target);
        if (len)
            *len = n;
        if (size) {
            size_t keep = n < size - 1 ? n : size - 1;
            memcpy(buf, target, keep);
            buf[keep] = '\0';
        }
    }
    resolved_release(b, &r);
    return rc;
}

static vault_error xattr_list_path(vault_browse_t *b, const char *path,
                                    char *buf, size_t size, size_t *len)
{
    resolved r;
    vault_error rc = resolve(b, path, &r);
    *len = 0;
    if (rc == VAULT_OK && r.kind == KIND_NODE) {
        size_t at = 0;
        for (uint32_t i = 0; i < r.node->n_xattrs; i++) {
            size_t n = strlen(r.node->xattrs[i].name) + 1;
            if (at < size)
                copy_out(buf + at, size - at, r.node->xattrs[i].name, n);
            at += n;
        }
        *len = at;
    }
    resolved_release(b, &r);
    return rc;
}

static vault_error xattr_get_path(vault_browse_t *b, const char *path,
                                   const char *name, void *buf, size_t size,
                                   size_t *len)
{
    resolved r;
    vault_error rc = resolve(b, path, &r);
    *len = 0;
    if (rc == VAULT_OK) {
        const node_xattr *x = NULL;
        for (uint32_t i = 0; r.kind == KIND_NODE && i < r.node->n_xattrs; i++)
            if (strcmp(r.node->xattrs[i].name, name) == 0)
                x = &r.node->xattrs[i];
        if (x) {
            *len = x->value_len;
            copy_out(buf, size, x->value, x->value_len);
        } else {
            rc = vlt_fail(VAULT_E_NOT_FOUND, "%s: no attribute %s", path,
                          name);
        }
    }
    resolved_release(b, &r);
    return rc;
}

/* --- files -------------------------------------------------------------- */

/* Frees f, which is not (or no longer) in its handle's list. */
static void file_free(vault_browse_file_t *f)
{
    free(f->path);
    free(f->ids);
    free(f->ends);
    free(f->zero);
    free(f);
}

void vault_browse_file_close(vault_browse_file_t *f)
{
    if (!f)
        return;
    if (f->b) {
        vault_browse_t *b = f->b;
        pthread_mutex_lock(&b->lock);
        if (f->prev)
            f->prev->next = f->next;
        else
            b->open_files = f->next;
        if (f->next)
            f->next->prev = f->prev;
        pthread_mutex_unlock(&b->lock);
    }
    file_free(f);
}

/* Copies file node n's chunk list with each chunk's end offset (from
 * the index): a file whose chunks do not add up to its size is damage
 * (a read could not tell where its bytes are). */
static vault_error file_index(vault_browse_t *b, const char *path,
                              const tree_node *n, vault_browse_file_t *f)
{
    f->size = n->size;
    f->n = n->n_content;
    size_t count = f->n ? f->n : 1;
    f->ids = malloc(count * sizeof *f->ids);
    f->ends = malloc(count * sizeof *f->ends);
    f->zero = malloc(count);
    if (!f->ids || !f->ends || !f->zero)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    uint64_t at = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        uint32_t len;
        int zero = 0;
        memcpy(f->ids[i], n->content[i], CHUNK_ID_BYTES);
        vault_error rc = vlt_repo_chunk_size(b->v, f->ids[i], &len, &zero);
        if (rc != VAULT_OK)
            return vlt_fail_context(VAULT_E_CORRUPT, "%s", path);
        at += len;
        f->ends[i] = at;
        f->zero[i] = (uint8_t)zero;
    }
    if (at != f->size)
        return vlt_fail(VAULT_E_CORRUPT,
                        "%s: its chunks hold %llu bytes, its entry says "
                        "%llu",
                        path, (unsigned long long)at,
                        (unsigned long long)f->size);
    return VAULT_OK;
}

static vault_error file_open_path(vault_browse_t *b, const char *path,
                                   vault_browse_file_t **out)
{
    *out = NULL;
    resolved r;
    vault_error rc = resolve(b, path, &r);
    vault_browse_file_t *f = NULL;
    if (rc == VAULT_OK && (r.kind != KIND_NODE || r.node->type != NODE_FILE))
        rc = vlt_fail(VAULT_E_INVALID, "%s: not a file", path);
    if (rc == VAULT_OK && (!(f = calloc(1, sizeof *f)) ||
                           !(f->path = strdup(path))))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK)
        rc = file_index(b, path, r.node, f);
    resolved_release(b, &r);
    if (rc != VAULT_OK) {
        if (f)
            file_free(f);
        return rc;
    }
    f->b = b;
    pthread_mutex_lock(&b->lock);
    f->next = b->open_files;
    if (f->next)
        f->next->prev = f;
    b->open_files = f;
    pthread_mutex_unlock(&b->lock);
    *out = f;
    return VAULT_OK;
}

/* Loads and verifies data chunk id of want bytes into *out (the caller
 * caches it). */
static vault_error chunk_load(vault_browse_t *b,
                              const uint8_t id[CHUNK_ID_BYTES], size_t want,
                              browse_blob **out)
{
    browse_blob *bl = calloc(1, sizeof *bl);
    if (!bl)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc =
        vlt_repo_load_blob(b->v, id, BLOB_DATA, &bl->data, &bl->len);
    if (rc == VAULT_OK && bl->len != want)
        rc = vlt_fail(VAULT_E_CORRUPT,
                      "a chunk holds %zu bytes, the index says %zu",
                      bl->len, want);
    if (rc != VAULT_OK) {
        blob_value_free(bl);
        return rc;
    }
    *out = bl;
    return VAULT_OK;
}

static size_t chunk_len(const vault_browse_file_t *f, uint32_t i)
{
    return (size_t)(f->ends[i] - (i ? f->ends[i - 1] : 0));
}

/* Whether chunk id is being read ahead (under lock). */
static int inflight_has(const vault_browse_t *b,
                        const uint8_t id[CHUNK_ID_BYTES])
{
    for (size_t k = 0; k < b->n_inflight; k++)
        if (memcmp(b->inflight[k], id, CHUNK_ID_BYTES) == 0)
            return 1;
    return 0;
}

/* Takes chunk id out of inflight and wakes its waiters. */
static void inflight_remove(vault_browse_t *b,
                            const uint8_t id[CHUNK_ID_BYTES])
{
    pthread_mutex_lock(&b->lock);
    for (size_t k = 0; k < b->n_inflight; k++)
        if (memcmp(b->inflight[k], id, CHUNK_ID_BYTES) == 0) {
            memmove(b->inflight[k], b->inflight[--b->n_inflight],
                    CHUNK_ID_BYTES);
            break;
        }
    pthread_cond_broadcast(&b->landed);
    pthread_mutex_unlock(&b->lock);
}

/* Chunk i of f, verified, held in the blob cache (blob_put after).  A
 * chunk being read ahead is waited for, without index_lock meanwhile:
 * its loader needs that lock, which a refresh may be waiting to take
 * for writing (this read holds nothing from the index across the
 * wait: the file has its own chunk list). */
static vault_error blob_get(vault_browse_file_t *f, uint32_t i,
                            const browse_blob **out)
{
    vault_browse_t *b = f->b;
    browse_blob *bl = vlt_browse_cache_get(&b->blobs, f->ids[i]);
    if (!bl) {
        pthread_mutex_lock(&b->lock);
        int wait = inflight_has(b, f->ids[i]);
        if (wait) {
            handle_done(b);
            while (inflight_has(b, f->ids[i]))
                pthread_cond_wait(&b->landed, &b->lock);
        }
        pthread_mutex_unlock(&b->lock);
        if (wait) {
            handle_read(b);
            bl = vlt_browse_cache_get(&b->blobs, f->ids[i]);
        }
    }
    if (bl) {
        *out = bl;
        return VAULT_OK;
    }
    vault_error rc = chunk_load(b, f->ids[i], chunk_len(f, i), &bl);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "%s", f->path);
    if (!(*out = vlt_browse_cache_add(&b->blobs, f->ids[i], bl, bl->len)))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

/* One chunk to read ahead. */
typedef struct ahead_job {
    uint8_t id[CHUNK_ID_BYTES];
    size_t len;
} ahead_job;

static void ahead_run(void *ctx, void *state, void *job)
{
    (void)state;
    vault_browse_t *b = ctx;
    ahead_job *j = job;
    browse_blob *bl = NULL;
    handle_read(b);
    /* A failure is left for the read that needs the chunk to report. */
    if (chunk_load(b, j->id, j->len, &bl) == VAULT_OK &&
        vlt_browse_cache_add(&b->blobs, j->id, bl, bl->len))
        vlt_browse_cache_put(&b->blobs, j->id);
    handle_done(b);
    inflight_remove(b, j->id);
    free(j);
}

/* Starts loading chunk i of f unless it is zeros, cached, being loaded,
 * or too many are (best effort: nothing here fails a read). */
static void read_ahead(vault_browse_file_t *f, uint32_t i)
{
    vault_browse_t *b = f->b;
    if (f->zero[i])
        return;
    if (vlt_browse_cache_get(&b->blobs, f->ids[i])) {
        vlt_browse_cache_put(&b->blobs, f->ids[i]);
        return;
    }
    ahead_job *j = malloc(sizeof *j);
    if (!j)
        return;
    memcpy(j->id, f->ids[i], CHUNK_ID_BYTES);
    j->len = chunk_len(f, i);
    pthread_mutex_lock(&b->lock);
    int go = b->n_inflight < BROWSE_AHEAD_MAX && !inflight_has(b, j->id);
    if (go && !b->ahead_tried) {
        b->ahead_tried = 1;
        vlt_pool_config cfg = {.threads = BROWSE_AHEAD_THREADS,
                               .queue_max = BROWSE_AHEAD_MAX,
                               .run = ahead_run,
                               .ctx = b};
        if (vlt_pool_create(&cfg, &b->ahead) != VAULT_OK)
            b->ahead = NULL; /* reads go on without */
    }
    go = go && b->ahead;
    if (go)
        memcpy(b->inflight[b->n_inflight++], j->id, CHUNK_ID_BYTES);
    pthread_mutex_unlock(&b->lock);
    /* The queue holds at most BROWSE_AHEAD_MAX jobs, as many as may be
     * in flight: submitting never waits. */
    if (!go || vlt_pool_submit(b->ahead, j, 0) != VAULT_OK) {
        if (go) /* not queued after all */
            inflight_remove(b, j->id);
        free(j);
    }
}

static vault_error file_read(vault_browse_file_t *f, uint64_t offset,
                                   void *buf, size_t size, size_t *got)
{
    *got = 0;
    if (offset >= f->size || size == 0)
        return VAULT_OK;
    if (size > f->size - offset)
        size = (size_t)(f->size - offset);
    /* The first chunk that ends after offset. */
    uint32_t lo = 0, hi = f->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (f->ends[mid] <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint8_t *out = buf;
    int sequential = offset == 0 || offset == atomic_load(&f->next_offset);
    uint32_t last = lo;
    for (uint32_t i = lo; i < f->n && *got < size; i++) {
        last = i;
        uint64_t start = i ? f->ends[i - 1] : 0;
        uint64_t at = offset + *got;
        size_t from = (size_t)(at - start);
        size_t n = (size_t)(f->ends[i] - at);
        if (n > size - *got)
            n = size - *got;
        if (f->zero[i]) {
            memset(out + *got, 0, n);
        } else {
            const browse_blob *bl;
            vault_error rc = blob_get(f, i, &bl);
            if (rc != VAULT_OK) {
                *got = 0;
                return rc;
            }
            memcpy(out + *got, bl->data + from, n);
            vlt_browse_cache_put(&f->b->blobs, f->ids[i]);
        }
        *got += n;
    }
    atomic_store(&f->next_offset, offset + *got);
    for (uint32_t k = 1; sequential && k <= BROWSE_AHEAD_CHUNKS; k++)
        if (last + k < f->n)
            read_ahead(f, last + k);
    return VAULT_OK;
}

/* --- the public calls: each holds the index for reading ----------------- */

vault_error vault_browse_stat_path(vault_browse_t *b, const char *path,
                                   vault_browse_stat *st)
{
    handle_read(b);
    vault_error rc = stat_path(b, path, st);
    handle_done(b);
    return rc;
}

vault_error vault_browse_list(vault_browse_t *b, const char *path,
                              size_t start, vault_browse_list_fn fn,
                              void *ctx)
{
    handle_read(b);
    vault_error rc = list_path(b, path, start, fn, ctx);
    handle_done(b);
    return rc;
}

vault_error vault_browse_readlink(vault_browse_t *b, const char *path,
                                  char *buf, size_t size, size_t *len)
{
    handle_read(b);
    vault_error rc = readlink_path(b, path, buf, size, len);
    handle_done(b);
    return rc;
}

vault_error vault_browse_xattr_list(vault_browse_t *b, const char *path,
                                    char *buf, size_t size, size_t *len)
{
    handle_read(b);
    vault_error rc = xattr_list_path(b, path, buf, size, len);
    handle_done(b);
    return rc;
}

vault_error vault_browse_xattr_get(vault_browse_t *b, const char *path,
                                   const char *name, void *buf, size_t size,
                                   size_t *len)
{
    handle_read(b);
    vault_error rc = xattr_get_path(b, path, name, buf, size, len);
    handle_done(b);
    return rc;
}

vault_error vault_browse_file_open(vault_browse_t *b, const char *path,
                                   vault_browse_file_t **out)
{
    handle_read(b);
    vault_error rc = file_open_path(b, path, out);
    handle_done(b);
    return rc;
}

vault_error vault_browse_file_read(vault_browse_file_t *f, uint64_t offset,
                                   void *buf, size_t size, size_t *got)
{
    handle_read(f->b);
    vault_error rc = file_read(f, offset, buf, size, got);
    handle_done(f->b);
    return rc;
}
