/*
 * archiver.c - `add`: walks files into trees and blobs, one snapshot.
 *
 * The walker (the calling thread) stats a directory's entries (relative
 * to the directory), asks the kernel to start reading the next few files
 * it will need, reads files and cuts chunks.  It hands the chunks, in
 * batches through a bounded queue, to the workers, which compute each
 * chunk ID, write it into the file's content list (a slot reserved in
 * order by the walker) and count it off the directory's file_group; then
 * they look it up in the index and compress, seal and pack only the new
 * ones (one pack under construction per worker).  Before it encodes a
 * directory's tree, the walker waits for that group, so every ID is in.
 * Tree blobs the walker hashes itself: their IDs go into the parent.
 * Finished packs are saved first; index segments listing them follow;
 * the snapshot, saved last, is the commit point (format spec "Write
 * ordering").
 */
#define _GNU_SOURCE /* O_NOATIME */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "format/chunker.h"
#include "repo/filecache.h"
#include "common/internal.h"
#include "format/locks.h"
#include "repo/repo.h"

#define READ_BLOCK (8u * 1024 * 1024)

/* Jobs of one directory's files (or of one path given): the walker waits
 * until their chunk IDs are all written before it encodes the tree that
 * lists them. */
typedef struct file_group {
    size_t outstanding; /* jobs queued or being hashed; under adder.lock */
    struct pending_record *recs; /* files cache records to write after */
    size_t n_recs, cap_recs;
} file_group;

/* A directory the walker has finished with whose tree cannot be encoded
 * yet: its files' chunk IDs are still being computed, or a subdirectory's
 * tree is still waiting.  Waiting for them at the end of every directory
 * would stop the reading until the workers caught up - they hash in
 * queue order, so that is nearly the whole queue - and then idle the
 * workers while the walker reads the next files.  Instead such a
 * directory waits in a FIFO (adder.waiting): that is post-order, so a
 * directory's subdirectories are always ahead of it, and the head, once
 * its group is done, can always be stored.  The walker stores what is
 * ready at the end of every directory. */
typedef struct waiting_dir {
    struct waiting_dir *parent; /* counts this in subdirs; NULL at the top */
    struct waiting_dir *next;   /* in adder.waiting */
    tree t;                     /* workers write into its nodes' content */
    file_group g;
    uint8_t *subtree;           /* where the tree ID goes (parent's node) */
    size_t subdirs;             /* subdirectories not stored yet */
} waiting_dir;

/* Directories waiting at most before the walker waits for the oldest
 * (a bound on the trees held; below the 512 levels extraction follows,
 * so a deep chain, each level waiting for the one below, reaches it). */
#define WAITING_DIRS_MAX 256

/* A file read afresh whose cache record waits for its chunk IDs. */
typedef struct pending_record {
    tree_node *node; /* stable until the group is drained */
    char *path;
    filecache_key key;
    int has_xattrs;
} pending_record;

/* A blob on its way to a worker. */
typedef struct job {
    blob_type type;
    int hashed;       /* id computed and entered in the index already */
    uint8_t id[CHUNK_ID_BYTES];
    uint8_t *id_out;  /* where the worker writes the chunk ID, or NULL */
    file_group *group; /* counts this job until its ID is written */
    uint8_t *data;
    size_t len;
} job;

/* Jobs travel in batches: one lock and one wake-up for many chunks. */
#define BATCH_JOBS 32
#define BATCH_BYTES (2u * 1024 * 1024)
typedef struct batch {
    size_t n, bytes;
    job jobs[BATCH_JOBS];
} batch;

/* Packs finished but not yet listed in a saved index segment. */
typedef struct done_packs {
    uint8_t (*ids)[32];
    size_t *starts; /* n + 1 */
    size_t n, cap;
    pack_entry *entries;
    size_t n_entries, cap_entries;
} done_packs;

typedef struct adder {
    vault_t *v;
    const vault_add_options *o;
    vault_add_result *r;
    chunker_table chunker;
    filecache *cache;
    int level;
    dev_t root_dev;

    /* the job queue */
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    pthread_cond_t group_done; /* some file_group's outstanding hit 0 */
    batch **queue; /* of batches; bounded: the memory bound */
    size_t q_cap, q_head, q_len;
    int closing;
    vault_error failure; /* first worker error, under lock */
    char failure_detail[512];

    pthread_mutex_t index_lock; /* v->index and done */
    done_packs done;

    batch *cur; /* the walker's batch being filled */
    waiting_dir *waiting, **waiting_tail; /* oldest first */
    size_t n_waiting;
    atomic_int meta_stop; /* tells the metadata read-ahead thread to stop */
    uint8_t *buf; /* the walker's read buffer */
    size_t buf_cap;
    char path[PATH_MAX + 1];
} adder;

/* --- workers ------------------------------------------------------------ */

static void worker_fail(adder *a, vault_error rc)
{
    pthread_mutex_lock(&a->lock);
    if (a->failure == VAULT_OK) {
        a->failure = rc;
        snprintf(a->failure_detail, sizeof a->failure_detail, "%s",
                 vault_last_error());
    }
    pthread_cond_broadcast(&a->not_full);
    pthread_mutex_unlock(&a->lock);
}

static vault_error done_reserve(done_packs *d, size_t entries)
{
    if (d->n + 1 >= d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        uint8_t(*ids)[32] = realloc(d->ids, cap * sizeof *ids);
        if (ids)
            d->ids = ids;
        size_t *starts = realloc(d->starts, (cap + 1) * sizeof *starts);
        if (starts)
            d->starts = starts;
        if (!ids || !starts)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        if (d->n == 0)
            d->starts[0] = 0;
        d->cap = cap;
    }
    if (d->cap_entries - d->n_entries < entries) {
        size_t cap = d->cap_entries ? d->cap_entries : 1024;
        while (cap - d->n_entries < entries)
            cap *= 2;
        pack_entry *e = realloc(d->entries, cap * sizeof *e);
        if (!e)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        d->entries = e;
        d->cap_entries = cap;
    }
    return VAULT_OK;
}

/* Saves an index segment for the finished packs; caller holds no lock. */
static vault_error flush_index(adder *a, done_packs *d)
{
    if (d->n == 0)
        return VAULT_OK;
    vault_error rc = vlt_index_segment_save(a->v->be, a->v->keys,
                                            d->ids[0], d->n,
                                            d->starts, d->entries);
    d->n = 0;
    d->n_entries = 0;
    if (d->starts)
        d->starts[0] = 0;
    return rc;
}

static void done_free(done_packs *d)
{
    free(d->ids);
    free(d->starts);
    free(d->entries);
    memset(d, 0, sizeof *d);
}

/* Saves the worker's pack and records where its blobs went. */
static vault_error finish_pack(adder *a, pack_writer *pw)
{
    uint8_t pack_id[32];
    vault_error rc = vlt_pack_writer_finish(pw, a->v->be, pack_id);
    if (rc != VAULT_OK)
        return rc;
    done_packs flush = {0};
    pthread_mutex_lock(&a->index_lock);
    done_packs *d = &a->done;
    rc = done_reserve(d, pw->n_entries);
    if (rc == VAULT_OK) {
        memcpy(d->ids[d->n], pack_id, 32);
        memcpy(d->entries + d->n_entries, pw->entries,
               pw->n_entries * sizeof *pw->entries);
        d->n_entries += pw->n_entries;
        d->starts[++d->n] = d->n_entries;
        for (size_t i = 0; i < pw->n_entries && rc == VAULT_OK; i++) {
            int inserted;
            rc = vlt_index_add(&a->v->index, pw->entries[i].id, pack_id,
                               &pw->entries[i], &inserted);
        }
        a->r->bytes_added += pw->len_saved;
        if (d->n_entries >= INDEX_SEGMENT_ENTRIES) {
            flush = *d; /* take the list; save it outside the lock */
            memset(d, 0, sizeof *d);
        }
    }
    pthread_mutex_unlock(&a->index_lock);
    pw->n_entries = 0;
    if (rc == VAULT_OK)
        rc = flush_index(a, &flush);
    done_free(&flush);
    return rc;
}

/* A worker's own state: its pack under construction and compressor. */
typedef struct worker_state {
    pack_writer pw;
    int open_pack;
    ZSTD_CCtx *cctx;
    uint8_t *cbuf;
    size_t cbuf_cap;
} worker_state;

/* Compresses, seals and packs one new blob. */
static vault_error store_job(adder *a, worker_state *w, const job *j)
{
    vault_error rc = VAULT_OK;
    const uint8_t *stored = j->data;
    size_t stored_len = j->len;
    uint8_t flags = 0;
    if (a->level > 0 && j->len > 0) {
        size_t bound = ZSTD_compressBound(j->len);
        if (bound > w->cbuf_cap) {
            uint8_t *nb = realloc(w->cbuf, bound);
            if (!nb)
                return vlt_fail(VAULT_E_NOMEM, "out of memory");
            w->cbuf = nb;
            w->cbuf_cap = bound;
        }
        size_t n = ZSTD_compressCCtx(w->cctx, w->cbuf, w->cbuf_cap, j->data,
                                     j->len, a->level);
        /* Keep it only if it shrinks: raw costs no CPU later. */
        if (!ZSTD_isError(n) && n < j->len) {
            stored = w->cbuf;
            stored_len = n;
            flags = BLOB_FLAG_ZSTD;
        }
    }
    if (!w->open_pack) {
        rc = vlt_pack_writer_begin(&w->pw, a->v->keys);
        w->open_pack = rc == VAULT_OK;
    }
    if (rc == VAULT_OK)
        rc = vlt_pack_writer_add(&w->pw, j->type, j->id, flags, stored,
                                 stored_len, (uint32_t)j->len);
    if (rc == VAULT_OK && w->pw.len >= PACK_TARGET_BYTES) {
        rc = finish_pack(a, &w->pw);
        w->open_pack = 0;
    }
    return rc;
}

/* Takes a batch: hashes its chunks and hands the IDs back to the walker
 * first (it may be waiting to encode a tree), then stores the new ones. */
static void *worker_main(void *arg)
{
    adder *a = arg;
    worker_state w = {0};
    w.cctx = ZSTD_createCCtx();
    vault_error rc = w.cctx ? VAULT_OK
                            : vlt_fail(VAULT_E_NOMEM, "zstd: out of memory");
    if (rc != VAULT_OK)
        worker_fail(a, rc);
    int is_new[BATCH_JOBS];
    for (;;) {
        pthread_mutex_lock(&a->lock);
        while (a->q_len == 0 && !a->closing)
            pthread_cond_wait(&a->not_empty, &a->lock);
        if (a->q_len == 0) {
            pthread_mutex_unlock(&a->lock);
            break;
        }
        batch *b = a->queue[a->q_head];
        a->q_head = (a->q_head + 1) % a->q_cap;
        a->q_len--;
        pthread_cond_signal(&a->not_full);
        int failed = a->failure != VAULT_OK;
        pthread_mutex_unlock(&a->lock);

        for (size_t i = 0; i < b->n; i++) {
            job *j = &b->jobs[i];
            if (!j->hashed && !failed && rc == VAULT_OK)
                vlt_chunk_id_compute(a->v->keys, j->type, j->data, j->len, j->id);
            if (j->id_out)
                memcpy(j->id_out, j->id, CHUNK_ID_BYTES);
        }
        /* The IDs are out: release the walker before the slow part. */
        int wake = 0;
        pthread_mutex_lock(&a->lock);
        for (size_t i = 0; i < b->n; i++) {
            file_group *g = b->jobs[i].group;
            if (g) {
                assert(g->outstanding > 0);
                wake |= --g->outstanding == 0;
            }
        }
        if (wake)
            pthread_cond_broadcast(&a->group_done);
        failed = a->failure != VAULT_OK;
        pthread_mutex_unlock(&a->lock);

        if (!failed && rc == VAULT_OK) {
            pthread_mutex_lock(&a->index_lock);
            for (size_t i = 0; i < b->n && rc == VAULT_OK; i++) {
                job *j = &b->jobs[i];
                is_new[i] = j->hashed;
                if (!j->hashed) {
                    rc = vlt_index_add(&a->v->index, j->id, NULL, NULL,
                                       &is_new[i]);
                    if (rc == VAULT_OK && is_new[i])
                        a->r->blobs_added++;
                }
            }
            pthread_mutex_unlock(&a->index_lock);
            for (size_t i = 0; i < b->n && rc == VAULT_OK; i++)
                if (is_new[i])
                    rc = store_job(a, &w, &b->jobs[i]);
            if (rc != VAULT_OK)
                worker_fail(a, rc);
        }
        for (size_t i = 0; i < b->n; i++)
            free(b->jobs[i].data);
        free(b);
    }
    if (rc == VAULT_OK && w.open_pack && w.pw.n_entries > 0) {
        rc = finish_pack(a, &w.pw);
        if (rc != VAULT_OK)
            worker_fail(a, rc);
    }
    vlt_pack_writer_free(&w.pw);
    ZSTD_freeCCtx(w.cctx);
    free(w.cbuf);
    return NULL;
}

/* Drops a batch that will not be queued. */
static void batch_free(batch *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->n; i++)
        free(b->jobs[i].data);
    free(b);
}

/* Queues the walker's current batch, if any (waits for room). */
static vault_error flush_batch(adder *a)
{
    batch *b = a->cur;
    if (!b || b->n == 0)
        return VAULT_OK;
    a->cur = NULL;
    pthread_mutex_lock(&a->lock);
    while (a->q_len == a->q_cap && a->failure == VAULT_OK)
        pthread_cond_wait(&a->not_full, &a->lock);
    if (a->failure != VAULT_OK) {
        vault_error rc = a->failure;
        pthread_mutex_unlock(&a->lock);
        batch_free(b);
        return rc;
    }
    for (size_t i = 0; i < b->n; i++)
        if (b->jobs[i].group)
            b->jobs[i].group->outstanding++;
    a->queue[(a->q_head + a->q_len) % a->q_cap] = b;
    a->q_len++;
    pthread_cond_signal(&a->not_empty);
    pthread_mutex_unlock(&a->lock);
    return VAULT_OK;
}

/* Hands a blob to the workers (data is taken over).  Either id is its
 * chunk ID, already entered in the index (hashed), or the worker computes
 * it, writes it to id_out and counts the job off group. */
static vault_error submit(adder *a, blob_type type, int hashed,
                          const uint8_t id[CHUNK_ID_BYTES], uint8_t *id_out,
                          file_group *group, uint8_t *data, size_t len)
{
    if (!a->cur) {
        if (!(a->cur = malloc(sizeof *a->cur))) {
            free(data);
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
        a->cur->n = 0;
        a->cur->bytes = 0;
    }
    batch *b = a->cur;
    job *j = &b->jobs[b->n++];
    j->type = type;
    j->hashed = hashed;
    if (hashed)
        memcpy(j->id, id, CHUNK_ID_BYTES);
    j->id_out = id_out;
    j->group = group;
    j->data = data;
    j->len = len;
    b->bytes += len;
    if (b->n == BATCH_JOBS || b->bytes >= BATCH_BYTES)
        return flush_batch(a);
    return VAULT_OK;
}

/* Waits until every job of g has its chunk ID written. */
static vault_error group_wait(adder *a, file_group *g)
{
    vault_error rc = flush_batch(a);
    pthread_mutex_lock(&a->lock);
    while (g->outstanding > 0)
        pthread_cond_wait(&a->group_done, &a->lock);
    pthread_mutex_unlock(&a->lock);
    return rc;
}

/* Stores a tree blob unless the vault (or this run) has it already; the
 * walker needs its ID at once, so it hashes it itself.  The buffer (data)
 * is taken over. */
static vault_error store_blob(adder *a, blob_type type, uint8_t *data,
                              size_t len, uint8_t id[CHUNK_ID_BYTES])
{
    vlt_chunk_id_compute(a->v->keys, type, data, len, id);
    int inserted = 0;
    pthread_mutex_lock(&a->index_lock);
    vault_error rc = vlt_index_add(&a->v->index, id, NULL, NULL, &inserted);
    if (rc == VAULT_OK && inserted)
        a->r->blobs_added++;
    pthread_mutex_unlock(&a->index_lock);
    if (rc != VAULT_OK || !inserted) {
        free(data);
        return rc;
    }
    return submit(a, type, 1, id, NULL, NULL, data, len);
}

/* --- walking ------------------------------------------------------------ */

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

static int excluded(const adder *a, const char *name, const char *path)
{
    for (size_t i = 0; i < a->o->n_excludes; i++) {
        const char *g = a->o->excludes[i];
        if (strchr(g, '/') ? fnmatch(g, path, FNM_PATHNAME) == 0
                           : fnmatch(g, name, 0) == 0)
            return 1;
    }
    return 0;
}

static char *owner_name(uint32_t id, int group)
{
    /* Tiny cache: most trees have one or two owners. */
    static _Thread_local uint32_t last_id[2] = {UINT32_MAX, UINT32_MAX};
    static _Thread_local char last_name[2][256];
    if (last_id[group] != id) {
        char buf[4096];
        last_name[group][0] = '\0';
        if (group) {
            struct group gr, *res = NULL;
            if (getgrgid_r(id, &gr, buf, sizeof buf, &res) == 0 && res)
                snprintf(last_name[1], 256, "%s", res->gr_name);
        } else {
            struct passwd pw, *res = NULL;
            if (getpwuid_r(id, &pw, buf, sizeof buf, &res) == 0 && res)
                snprintf(last_name[0], 256, "%s", res->pw_name);
        }
        last_id[group] = id;
    }
    return strdup(last_name[group]);
}

static vault_error node_from_stat(tree_node *n, const char *name,
                                  const struct stat *st)
{
    memset(n, 0, sizeof *n);
    if (S_ISREG(st->st_mode))
        n->type = NODE_FILE;
    else if (S_ISDIR(st->st_mode))
        n->type = NODE_DIR;
    else if (S_ISLNK(st->st_mode))
        n->type = NODE_SYMLINK;
    else if (S_ISFIFO(st->st_mode))
        n->type = NODE_FIFO;
    else if (S_ISCHR(st->st_mode))
        n->type = NODE_CHARDEV;
    else if (S_ISBLK(st->st_mode))
        n->type = NODE_BLOCKDEV;
    else
        n->type = NODE_SOCKET;
    n->mode = st->st_mode & 07777;
    n->uid = st->st_uid;
    n->gid = st->st_gid;
    n->mtime_sec = st->st_mtim.tv_sec;
    n->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
    n->size = n->type == NODE_FILE ? (uint64_t)st->st_size : 0;
    n->inode = st->st_ino;
    n->device = st->st_dev;
    n->nlink = (uint32_t)st->st_nlink;
    if (n->type == NODE_CHARDEV || n->type == NODE_BLOCKDEV)
        n->rdev = st->st_rdev;
    n->name = strdup(name);
    n->user = owner_name(st->st_uid, 0);
    n->group = owner_name(st->st_gid, 1);
    if (!n->name || !n->user || !n->group)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    return VAULT_OK;
}

/* Reads path's extended attributes into n; returns whether it has any
 * (for the files cache: a file without any need not be asked again). */
static int read_xattrs(adder *a, const char *path, tree_node *n)
{
    ssize_t len = llistxattr(path, NULL, 0);
    if (len <= 0)
        return 0; /* none, or the file system has none */
    char *names = malloc((size_t)len);
    if (!names)
        return 1;
    len = llistxattr(path, names, (size_t)len);
    size_t count = 0;
    for (ssize_t i = 0; i < len; i += (ssize_t)strlen(names + i) + 1)
        count++;
    n->xattrs = calloc(count ? count : 1, sizeof *n->xattrs);
    for (ssize_t i = 0; n->xattrs && i < len;
         i += (ssize_t)strlen(names + i) + 1) {
        const char *name = names + i;
        if (strlen(name) > TREE_XATTR_NAME_MAX ||
            n->n_xattrs >= TREE_XATTRS_MAX)
            continue;
        ssize_t vlen = lgetxattr(path, name, NULL, 0);
        if (vlen < 0 || (size_t)vlen > TREE_XATTR_VALUE_MAX)
            continue;
        node_xattr *x = &n->xattrs[n->n_xattrs];
        x->value = malloc(vlen ? (size_t)vlen : 1);
        x->name = strdup(name);
        if (!x->value || !x->name) {
            free(x->value);
            free(x->name);
            continue;
        }
        vlen = lgetxattr(path, name, x->value, (size_t)vlen);
        if (vlen < 0) {
            report(a, path, "cannot read xattr %s: %s", name,
                   strerror(errno));
            free(x->value);
            free(x->name);
            continue;
        }
        x->value_len = (uint32_t)vlen;
        n->n_xattrs++;
    }
    free(names);
    return 1;
}

static int content_in_index(adder *a, const uint8_t *ids, uint32_t n)
{
    int ok = 1;
    pthread_mutex_lock(&a->index_lock);
    for (uint32_t i = 0; i < n && ok; i++) {
        const index_slot *s =
            vlt_index_find(&a->v->index, ids + (size_t)i * CHUNK_ID_BYTES);
        /* a blob in a pack a prune condemned must be stored anew */
        ok = s && !vlt_index_slot_condemned(&a->v->index, s);
    }
    pthread_mutex_unlock(&a->index_lock);
    return ok;
}

/* Reads and chunks a regular file into n->content.  A file that cannot be
 * read is reported and skipped (*skip), not fatal.  The chunk IDs arrive
 * later: the caller waits for g before it reads n->content.  fd is the
 * file opened already (by prefetch) or -1; it is closed here. */
static vault_error add_file(adder *a, int dfd, const char *at, int fd,
                            tree_node *n, const struct stat *st, int *skip,
                            file_group *g)
{
    const char *path = a->path;
    filecache_key key = {
        .size = (uint64_t)st->st_size,
        .inode = st->st_ino,
        .device = st->st_dev,
        .mtime_sec = st->st_mtim.tv_sec,
        .mtime_nsec = (uint32_t)st->st_mtim.tv_nsec,
        .ctime_sec = st->st_ctim.tv_sec,
        .ctime_nsec = (uint32_t)st->st_ctim.tv_nsec,
    };
    a->r->bytes_total += key.size;
    uint32_t n_ids = 0;
    int has_xattrs = 1;
    const uint8_t *ids =
        vlt_filecache_lookup(a->cache, path, &key, &n_ids, &has_xattrs);
    if (ids && content_in_index(a, ids, n_ids)) {
        if (fd >= 0)
            close(fd);
        /* ctime moves with every xattr change: none then, none now. */
        if (has_xattrs)
            has_xattrs = read_xattrs(a, path, n);
        n->content = malloc(n_ids ? (size_t)n_ids * CHUNK_ID_BYTES : 1);
        if (!n->content)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        memcpy(n->content, ids, (size_t)n_ids * CHUNK_ID_BYTES);
        n->n_content = n_ids;
        a->r->files_unchanged++;
        return vlt_filecache_record(a->cache, path, &key, ids, n_ids,
                                    has_xattrs);
    }
    has_xattrs = read_xattrs(a, path, n);

    if (fd < 0) {
        int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
        fd = openat(dfd, at, flags | O_NOATIME);
        if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership */
            fd = openat(dfd, at, flags);
    }
    if (fd < 0) {
        report(a, path, "cannot open: %s", strerror(errno));
        *skip = 1;
        return VAULT_OK;
    }
    /* The IDs are written by workers into n->content: it must not move
     * while any are outstanding, so it is sized for the file up front and
     * only grows (a growing file) after a wait. */
    uint64_t guess = key.size / CHUNKER_MIN_SIZE + 1;
    uint32_t cap = guess > 4096 ? 4096 : (uint32_t)guess;
    n->content = calloc(cap, CHUNK_ID_BYTES);
    if (!n->content) {
        close(fd);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    size_t start = 0, end = 0;
    int eof = 0;
    uint64_t total = 0;
    vault_error rc = VAULT_OK;
    while (rc == VAULT_OK) {
        size_t cut = vlt_chunker_next(&a->chunker, a->buf + start, end - start,
                                      eof);
        if (cut == 0) {
            if (eof)
                break; /* all consumed */
            /* Need more bytes: slide what is left to the front, read. */
            memmove(a->buf, a->buf + start, end - start);
            end -= start;
            start = 0;
            ssize_t got = read(fd, a->buf + end, a->buf_cap - end);
            if (got < 0) {
                if (errno == EINTR)
                    continue;
                report(a, path, "read failed: %s", strerror(errno));
                *skip = 1;
                break;
            }
            if (got == 0)
                eof = 1;
            end += (size_t)got;
            total += (uint64_t)got;
            a->r->bytes_read += (uint64_t)got;
            continue;
        }
        if (n->n_content == cap) {
            rc = group_wait(a, g);
            if (rc != VAULT_OK)
                break;
            uint32_t ncap = cap * 2;
            uint8_t(*c)[CHUNK_ID_BYTES] =
                realloc(n->content, (size_t)ncap * CHUNK_ID_BYTES);
            if (!c) {
                rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
                break;
            }
            n->content = c;
            cap = ncap;
        }
        uint8_t *data = malloc(cut);
        if (!data) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            break;
        }
        memcpy(data, a->buf + start, cut);
        rc = submit(a, BLOB_DATA, 0, NULL, n->content[n->n_content], g,
                    data, cut);
        n->n_content++;
        start += cut;
    }
    close(fd);
    if (rc != VAULT_OK || *skip) {
        /* the node is about to be cleared: no worker may still write */
        vault_error wrc = group_wait(a, g);
        return rc != VAULT_OK ? rc : wrc;
    }
    /* The file changed size while we read it: keep what we read, as tar
     * does, but say so. */
    n->size = total;
    if (total != key.size) {
        report(a, path, "file changed while being read");
        return VAULT_OK;
    }
    /* Recorded in the cache once the IDs are in (see group_records). */
    if (g->n_recs == g->cap_recs) {
        size_t ncap = g->cap_recs ? g->cap_recs * 2 : 16;
        pending_record *r = realloc(g->recs, ncap * sizeof *r);
        if (!r)
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        g->recs = r;
        g->cap_recs = ncap;
    }
    pending_record *pr = &g->recs[g->n_recs];
    if (!(pr->path = strdup(path)))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    pr->node = n;
    pr->key = key;
    pr->has_xattrs = has_xattrs;
    g->n_recs++;
    return VAULT_OK;
}

/* Writes the cache records of g's files, whose chunk IDs are all in
 * (rc: the caller's state so far; records are written only if it is OK),
 * and frees them. */
static vault_error group_records(adder *a, file_group *g, vault_error rc)
{
    for (size_t i = 0; i < g->n_recs; i++) {
        pending_record *pr = &g->recs[i];
        if (rc == VAULT_OK)
            rc = vlt_filecache_record(a->cache, pr->path, &pr->key,
                                      pr->node->content ? pr->node->content[0]
                                                        : NULL,
                                      pr->node->n_content, pr->has_xattrs);
        free(pr->path);
    }
    free(g->recs);
    memset(g, 0, sizeof *g);
    return rc;
}

/* Waits for g's chunk IDs, then group_records. */
static vault_error group_finish(adder *a, file_group *g, vault_error rc)
{
    vault_error wrc = group_wait(a, g);
    return group_records(a, g, rc == VAULT_OK ? wrc : rc);
}

/* --- directories waiting for their files ------------------------------ */

/* Whether wd's tree can be encoded: no job of its files outstanding (nor
 * still in the walker's unqueued batch, which the count does not know
 * of yet) and no subdirectory waiting. */
static int dir_ready(adder *a, const waiting_dir *wd)
{
    if (wd->subdirs)
        return 0;
    for (size_t i = 0; a->cur && i < a->cur->n; i++)
        if (a->cur->jobs[i].group == &wd->g)
            return 0;
    pthread_mutex_lock(&a->lock);
    int ready = wd->g.outstanding == 0;
    pthread_mutex_unlock(&a->lock);
    return ready;
}

/* Encodes and stores the tree of wd (ready), writes its files' cache
 * records, and frees it. */
static vault_error dir_store(adder *a, waiting_dir *wd)
{
    vault_error rc = group_records(a, &wd->g, VAULT_OK);
    if (rc == VAULT_OK) {
        uint8_t *bytes;
        size_t len;
        rc = vlt_tree_encode(&wd->t, &bytes, &len);
        if (rc == VAULT_OK)
            rc = store_blob(a, BLOB_TREE, bytes, len, wd->subtree);
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
            rc = group_wait(a, &wd->g);
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
        (void)group_finish(a, &wd->g, rc);
        vlt_tree_clear(&wd->t);
        free(wd);
    }
    a->waiting_tail = &a->waiting;
    a->n_waiting = 0;
}

static vault_error add_dir(adder *a, size_t path_len,
                           uint8_t subtree[CHUNK_ID_BYTES],
                           waiting_dir *parent);

/* Builds the node name for a->path (lstat'ed as st), which is at relative
 * to dfd (AT_FDCWD with at == a->path will do).  fd: the file opened
 * ahead, or -1.  *skip: leave it out.  Files' chunk IDs arrive later,
 * through g; a directory's tree ID may too (it is counted in parent, the
 * directory n is in; NULL at the top, where dirs_settle waits for it). */
static vault_error add_entry(adder *a, int dfd, const char *at,
                             size_t path_len, const char *name, int fd,
                             const struct stat *st, tree_node *n, int *skip,
                             file_group *g, waiting_dir *parent)
{
    *skip = 0;
    vault_error rc = node_from_stat(n, name, st);
    if (rc != VAULT_OK) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    if (n->type == NODE_FILE) {
        a->r->files++;
        return add_file(a, dfd, at, fd, n, st, skip, g);
    }
    if (fd >= 0)
        close(fd);
    read_xattrs(a, a->path, n);
    switch (n->type) {
    case NODE_DIR:
        a->r->dirs++;
        if (a->o->one_file_system && st->st_dev != a->root_dev) {
            /* A mount point: kept, empty, like restic and tar. */
            tree empty = {0};
            uint8_t *bytes;
            size_t len;
            rc = vlt_tree_encode(&empty, &bytes, &len);
            if (rc == VAULT_OK)
                rc = store_blob(a, BLOB_TREE, bytes, len, n->subtree);
        } else {
            rc = add_dir(a, path_len, n->subtree, parent);
        }
        break;
    case NODE_SYMLINK: {
        a->r->others++;
        char target[PATH_MAX + 1];
        ssize_t len = readlinkat(dfd, at, target, PATH_MAX);
        if (len <= 0) {
            report(a, a->path, "cannot read link: %s",
                   len < 0 ? strerror(errno) : "empty");
            *skip = 1;
            break;
        }
        target[len] = '\0';
        n->target = strdup(target);
        if (!n->target)
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        break;
    }
    default:
        a->r->others++;
        break;
    }
    return rc;
}

/* One directory entry, stat'ed before any is processed. */
typedef struct dir_entry {
    char *name;
    struct stat st;
    int ok; /* not excluded, stat'ed */
    int fd; /* opened ahead (prefetch), or -1 */
} dir_entry;

static int entry_cmp(const void *x, const void *y)
{
    return strcmp(((const dir_entry *)x)->name, ((const dir_entry *)y)->name);
}

#define PREFETCH_FILES 4
#define PREFETCH_BYTES (4u * 1024 * 1024)

/* Opens entry e of the directory at a->path (path_len) and asks the kernel
 * to start reading it, so that its bytes come in while the walker is busy
 * with the files before it.  Only files the files cache cannot skip. */
static void prefetch(adder *a, int dfd, size_t path_len, dir_entry *e)
{
    if (!e->ok || !S_ISREG(e->st.st_mode) || e->st.st_size == 0 ||
        e->fd >= 0 || dfd < 0)
        return;
    size_t nlen = strlen(e->name);
    a->path[path_len] = '/';
    memcpy(a->path + path_len + 1, e->name, nlen + 1);
    filecache_key key = {
        .size = (uint64_t)e->st.st_size,
        .inode = e->st.st_ino,
        .device = e->st.st_dev,
        .mtime_sec = e->st.st_mtim.tv_sec,
        .mtime_nsec = (uint32_t)e->st.st_mtim.tv_nsec,
        .ctime_sec = e->st.st_ctim.tv_sec,
        .ctime_nsec = (uint32_t)e->st.st_ctim.tv_nsec,
    };
    uint32_t n_ids;
    int has_xattrs;
    int hit = vlt_filecache_lookup(a->cache, a->path, &key, &n_ids,
                                   &has_xattrs) != NULL;
    a->path[path_len] = '\0';
    if (hit)
        return;
    /* O_NONBLOCK: should it have become a FIFO since the stat. */
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd = openat(dfd, e->name, flags | O_NOATIME);
    if (fd < 0 && errno == EPERM)
        fd = openat(dfd, e->name, flags);
    if (fd < 0)
        return; /* add_file opens it again and reports */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_ino != e->st.st_ino || st.st_dev != e->st.st_dev) {
        close(fd);
        return;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    off_t len = e->st.st_size < (off_t)PREFETCH_BYTES ? e->st.st_size
                                                      : (off_t)PREFETCH_BYTES;
    (void)posix_fadvise(fd, 0, len, POSIX_FADV_WILLNEED);
    e->fd = fd;
}

static vault_error add_dir(adder *a, size_t path_len,
                           uint8_t subtree[CHUNK_ID_BYTES],
                           waiting_dir *parent)
{
    waiting_dir *wd = calloc(1, sizeof *wd);
    if (!wd)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    wd->parent = parent;
    wd->subtree = subtree;
    if (parent)
        parent->subdirs++;
    tree *t = &wd->t;
    file_group *g = &wd->g;
    int dfd = open(a->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d && dfd >= 0)
        close(dfd);
    if (!d) {
        report(a, a->path, "cannot open directory: %s", strerror(errno));
        /* Stored as an empty directory so its metadata survives. */
    }
    dir_entry *ents = NULL;
    size_t n_ents = 0, cap_ents = 0;
    vault_error rc = VAULT_OK;
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (n_ents == cap_ents) {
            cap_ents = cap_ents ? cap_ents * 2 : 32;
            dir_entry *ne = realloc(ents, cap_ents * sizeof *ne);
            if (!ne) {
                rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
                break;
            }
            ents = ne;
        }
        dir_entry *e = &ents[n_ents];
        e->ok = 0;
        e->fd = -1;
        if (!(e->name = strdup(de->d_name))) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            break;
        }
        n_ents++;
    }
    /* Entries are looked up relative to the directory, not by full path
     * (one path walk each instead of one per component); the stream's
     * descriptor serves until the end. */
    dfd = d ? dirfd(d) : -1;
    if (rc == VAULT_OK && n_ents) {
        qsort(ents, n_ents, sizeof *ents, entry_cmp);
        t->nodes = calloc(n_ents, sizeof *t->nodes);
        if (!t->nodes)
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; rc == VAULT_OK && i < n_ents; i++) {
        dir_entry *e = &ents[i];
        size_t nlen = strlen(e->name);
        if (path_len + 1 + nlen > PATH_MAX) {
            report(a, a->path, "name too long: %s", e->name);
            continue;
        }
        a->path[path_len] = '/';
        memcpy(a->path + path_len + 1, e->name, nlen + 1);
        if (!excluded(a, e->name, a->path)) {
            int r = dfd >= 0
                        ? fstatat(dfd, e->name, &e->st, AT_SYMLINK_NOFOLLOW)
                        : lstat(a->path, &e->st);
            if (r == 0)
                e->ok = 1;
            else
                report(a, a->path, "cannot stat: %s", strerror(errno));
        }
        a->path[path_len] = '\0';
    }
    size_t ahead = 0; /* entries before this were considered for prefetch */
    for (size_t i = 0; rc == VAULT_OK && i < n_ents; i++) {
        dir_entry *e = &ents[i];
        if (!e->ok)
            continue;
        if (S_ISDIR(e->st.st_mode)) {
            /* Hold no open files across the subtree. */
            for (size_t k = i + 1; k < ahead; k++)
                if (ents[k].fd >= 0) {
                    close(ents[k].fd);
                    ents[k].fd = -1;
                }
            if (ahead > i + 1)
                ahead = i + 1;
        } else {
            if (ahead < i + 1)
                ahead = i + 1;
            while (ahead < n_ents && ahead <= i + PREFETCH_FILES)
                prefetch(a, dfd, path_len, &ents[ahead++]);
        }
        size_t nlen = strlen(e->name);
        a->path[path_len] = '/';
        memcpy(a->path + path_len + 1, e->name, nlen + 1);
        int skip = 0;
        tree_node *n = &t->nodes[t->n_nodes];
        int fd = e->fd;
        e->fd = -1;
        rc = add_entry(a, dfd >= 0 ? dfd : AT_FDCWD,
                       dfd >= 0 ? e->name : a->path, path_len + 1 + nlen,
                       e->name, fd, &e->st, n, &skip, g, wd);
        if (rc != VAULT_OK)
            (void)group_wait(a, g); /* workers may write into n */
        if (rc != VAULT_OK || skip)
            vlt_tree_node_clear(n);
        else
            t->n_nodes++;
        a->path[path_len] = '\0';
    }
    for (size_t i = 0; i < n_ents; i++) {
        if (ents[i].fd >= 0)
            close(ents[i].fd);
        free(ents[i].name);
    }
    free(ents);
    if (d)
        closedir(d);
    if (rc != VAULT_OK) {
        /* Nothing is stored after a failure; nothing may be freed while
         * workers can still write into it. */
        dirs_abort(a, rc);
        (void)group_finish(a, g, rc);
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

/* --- metadata read-ahead ------------------------------------------------
 * With a cold page cache an unchanged re-backup waits on the disk for
 * every directory and inode it stats.  A helper thread walks the same
 * paths ahead of the walker, only stat'ing, so that those reads overlap;
 * what it learns is thrown away (it changes nothing but the page cache).
 * It allocates nothing and stops when the walker is done. */
#define META_DEPTH_MAX 64

/* One metadata read-ahead thread: the top level's entries are dealt out
 * round-robin among META_THREADS threads, so that several inode and
 * directory reads are in flight at once on a cold cache. */
#define META_THREADS 4
typedef struct meta_arg {
    adder *a;
    unsigned shard; /* this thread takes top-level entries i % N == shard */
    dev_t dev;      /* the root's device (one_file_system) */
} meta_arg;

static void meta_walk(meta_arg *m, int dfd, int depth)
{
    adder *a = m->a;
    unsigned index = 0;
    char buf[8192];
    for (;;) {
        if (atomic_load_explicit(&a->meta_stop, memory_order_relaxed))
            return;
        ssize_t got = getdents64(dfd, buf, sizeof buf);
        if (got <= 0)
            return;
        for (ssize_t off = 0; off < got;) {
            const struct dirent64 *de = (const void *)(buf + off);
            off += de->d_reclen;
            const char *name = de->d_name;
            if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                continue;
            if (depth == 0 && index++ % META_THREADS != m->shard)
                continue;
            int skip = 0;
            for (size_t i = 0; i < a->o->n_excludes && !skip; i++)
                skip = !strchr(a->o->excludes[i], '/') &&
                       fnmatch(a->o->excludes[i], name, 0) == 0;
            struct stat st;
            if (skip || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISDIR(st.st_mode) || depth >= META_DEPTH_MAX ||
                (a->o->one_file_system && st.st_dev != m->dev))
                continue;
            int sub = openat(dfd, name,
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) {
                meta_walk(m, sub, depth + 1);
                close(sub);
            }
            if (atomic_load_explicit(&a->meta_stop, memory_order_relaxed))
                return;
        }
    }
}

static void *meta_main(void *arg)
{
    meta_arg *m = arg;
    adder *a = m->a;
    for (size_t i = 0; i < a->o->n_paths; i++) {
        int dfd = open(a->o->paths[i],
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            continue;
        struct stat st;
        if (fstat(dfd, &st) == 0) {
            m->dev = st.st_dev;
            meta_walk(m, dfd, 0);
        }
        close(dfd);
    }
    return NULL;
}

/* --- the snapshot root --------------------------------------------------
 * The root tree mirrors the absolute paths given: adding /home/ann/docs
 * makes root → home → ann → docs, the upper levels carrying the real
 * directories' metadata (as restic does). */
typedef struct vdir {
    tree_node node; /* for the directory itself (not for the root) */
    struct vdir **children;
    size_t n_children;
    tree_node *leaves; /* the paths given, walked */
    size_t n_leaves;
} vdir;

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

static int vdir_has(const vdir *d, const char *name)
{
    for (size_t i = 0; i < d->n_children; i++)
        if (strcmp(d->children[i]->node.name, name) == 0)
            return 1;
    for (size_t i = 0; i < d->n_leaves; i++)
        if (strcmp(d->leaves[i].name, name) == 0)
            return 1;
    return 0;
}

static vault_error vdir_child(vdir *d, const char *name, const char *path,
                              vdir **out)
{
    for (size_t i = 0; i < d->n_children; i++)
        if (strcmp(d->children[i]->node.name, name) == 0) {
            *out = d->children[i];
            return VAULT_OK;
        }
    if (vdir_has(d, name))
        return vlt_fail(VAULT_E_INVALID,
                        "%s: overlaps another path being added", path);
    struct stat st;
    if (lstat(path, &st) != 0)
        return vlt_fail_errno(errno, "%s", path);
    vdir *c = calloc(1, sizeof *c);
    vdir **kids = realloc(d->children, (d->n_children + 1) * sizeof *kids);
    if (!c || !kids) {
        free(c);
        if (kids)
            d->children = kids;
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    d->children = kids;
    d->children[d->n_children++] = c;
    vault_error rc = node_from_stat(&c->node, name, &st);
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
        rc = store_blob(a, BLOB_TREE, bytes, len, id);
    return rc;
}

/* Makes path absolute and lexically clean, without following its last
 * component (a symlink given is stored as a symlink). */
static vault_error absolute_path(const char *in, char out[PATH_MAX + 1])
{
    char tmp[PATH_MAX + 1];
    if (in[0] == '/') {
        if (strlen(in) > PATH_MAX)
            return vlt_fail(VAULT_E_INVALID, "%s: path too long", in);
        memcpy(tmp, in, strlen(in) + 1);
    } else {
        char cwd[PATH_MAX + 1];
        if (!getcwd(cwd, sizeof cwd))
            return vlt_fail_errno(errno, "current directory");
        int n = snprintf(tmp, sizeof tmp, "%s/%s", cwd, in);
        if (n < 0 || (size_t)n >= sizeof tmp)
            return vlt_fail(VAULT_E_INVALID, "%s: path too long", in);
    }
    /* Resolve "." and ".." and repeated slashes lexically. */
    size_t o = 0;
    const char *p = tmp;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, "/");
        if (len == 1 && p[0] == '.') {
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
        } else {
            out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    return VAULT_OK;
}

static vault_error add_path(adder *a, vdir *root, const char *given,
                            char **abs_out)
{
    vault_error rc = absolute_path(given, a->path);
    if (rc != VAULT_OK)
        return rc;
    if (!(*abs_out = strdup(a->path)))
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    struct stat st;
    if (lstat(a->path, &st) != 0)
        return vlt_fail_errno(errno, "%s", given);
    if (strcmp(a->path, "/") == 0)
        return vlt_fail(VAULT_E_INVALID,
                        "/: back up its directories instead of the root");
    a->root_dev = st.st_dev;
    /* Walk the parents, creating virtual directories. */
    vdir *d = root;
    char *p = a->path + 1, *slash;
    while ((slash = strchr(p, '/')) != NULL) {
        *slash = '\0';
        rc = vdir_child(d, p, a->path, &d);
        *slash = '/';
        if (rc != VAULT_OK)
            return rc;
        p = slash + 1;
    }
    if (vdir_has(d, p))
        return vlt_fail(VAULT_E_INVALID,
                        "%s: given twice, or overlaps another path", given);
    tree_node *leaves = realloc(d->leaves, (d->n_leaves + 1) * sizeof *leaves);
    if (!leaves)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    d->leaves = leaves;
    tree_node *n = &d->leaves[d->n_leaves];
    int skip = 0;
    char name[NAME_MAX + 1];
    snprintf(name, sizeof name, "%s", p);
    file_group g = {0};
    rc = add_entry(a, AT_FDCWD, a->path, strlen(a->path), name, -1, &st, n,
                   &skip, &g, NULL);
    /* Every tree below n stored, and n's own ID in, before the next path
     * may move d->leaves. */
    if (rc == VAULT_OK)
        rc = dirs_settle(a, 1);
    if (rc != VAULT_OK)
        dirs_abort(a, rc);
    rc = group_finish(a, &g, rc);
    if (rc != VAULT_OK || skip) {
        vlt_tree_node_clear(n);
        if (rc == VAULT_OK)
            rc = vlt_fail(VAULT_E_IO, "%s: cannot be read", given);
        return rc;
    }
    d->n_leaves++;
    return VAULT_OK;
}

static vault_error run_add(adder *a, snapshot_record *rec)
{
    vdir root = {0};
    vault_error rc = VAULT_OK;
    rec->paths = calloc(a->o->n_paths, sizeof *rec->paths);
    if (!rec->paths)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == VAULT_OK && i < a->o->n_paths; i++) {
        rc = add_path(a, &root, a->o->paths[i], &rec->paths[i]);
        if (rec->paths[i])
            rec->n_paths++;
    }
    if (rc == VAULT_OK)
        rc = vdir_store(a, &root, rec->tree);
    vdir_free(&root);
    return rc;
}

static unsigned worker_count(const vault_add_options *o)
{
    if (o->threads > 0)
        return (unsigned)(o->threads > 256 ? 256 : o->threads);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)(n > 64 ? 64 : n) : 1;
}

static const char *default_cache_dir(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (xdg && xdg[0])
        snprintf(buf, size, "%s/vault", xdg);
    else if (home && home[0])
        snprintf(buf, size, "%s/.cache/vault", home);
    else
        return NULL;
    return buf;
}

/* Takes the add marker down.  If that fails the marker goes stale, which
 * only delays pruning; and a failing add keeps its own detail, not the
 * removal's (with a dead disk both fail, and the first is the news). */
static vault_error marker_remove(vault_t *v, const char *name, vault_error rc)
{
    char detail[512] = "";
    if (rc != VAULT_OK)
        snprintf(detail, sizeof detail, "%s", vault_last_error());
    (void)vlt_lock_remove(v, name);
    if (rc != VAULT_OK)
        vlt_fail(rc, "%s", detail);
    return rc;
}

vault_error vault_add(vault_t *v, const vault_add_options *o,
                      vault_add_result *r)
{
    memset(r, 0, sizeof *r);
    if (!v || !o || !o->paths || o->n_paths == 0)
        return vlt_fail(VAULT_E_INVALID, "add: nothing to add");
    if (o->compression > VAULT_COMPRESSION_MAX_LEVEL ||
        o->compression < VAULT_COMPRESSION_OFF)
        return vlt_fail(VAULT_E_INVALID,
                        "compression level %d: use 1..19 or off",
                        o->compression);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    snapshot_record rec = {0};
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    rec.time_sec = now.tv_sec;
    rec.time_nsec = (uint32_t)now.tv_nsec;

    /* The add marker goes up before the index is read: a prune that
     * condemns packs after this point sees it and waits for this add
     * (format spec "Pruning without locks"). */
    lock_record marker = {.kind = LOCK_ADD, .time = vlt_now(),
                          .pid = (uint32_t)getpid()};
    if (gethostname(marker.host, sizeof marker.host - 1) != 0)
        marker.host[0] = '\0';
    vault_error rc = vlt_lock_write(v, &marker);
    if (rc != VAULT_OK)
        return rc;
    vlt_repo_forget_index(v); /* marks may have appeared since it was loaded */
    rc = vlt_repo_load_index(v);
    if (rc != VAULT_OK)
        return marker_remove(v, marker.name, rc);

    adder *a = calloc(1, sizeof *a);
    if (!a)
        return marker_remove(v, marker.name,
                             vlt_fail(VAULT_E_NOMEM, "out of memory"));
    a->v = v;
    a->o = o;
    a->r = r;
    if (o->compression == 0)
        a->level = VAULT_COMPRESSION_DEFAULT_LEVEL;
    else if (o->compression == VAULT_COMPRESSION_OFF)
        a->level = 0; /* stores blobs uncompressed */
    else
        a->level = o->compression;
    vlt_chunker_table_init(&a->chunker, v->keys->gear_key);
    unsigned n_workers = worker_count(o);
    a->q_cap = 2 * n_workers + 2;
    a->waiting_tail = &a->waiting;
    a->queue = calloc(a->q_cap, sizeof *a->queue);
    a->buf_cap = READ_BLOCK + CHUNKER_MAX_SIZE;
    a->buf = malloc(a->buf_cap);
    pthread_t *threads = calloc(n_workers, sizeof *threads);
    char cache_buf[PATH_MAX];
    const char *cache_dir =
        o->cache_dir ? o->cache_dir : default_cache_dir(cache_buf,
                                                        sizeof cache_buf);
    if (!a->queue || !a->buf || !threads)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK)
        rc = vlt_filecache_open(cache_dir, v->keys, &a->cache);
    pthread_mutex_init(&a->lock, NULL);
    pthread_mutex_init(&a->index_lock, NULL);
    pthread_cond_init(&a->not_empty, NULL);
    pthread_cond_init(&a->not_full, NULL);
    pthread_cond_init(&a->group_done, NULL);
    unsigned started = 0;
    for (; rc == VAULT_OK && started < n_workers; started++)
        if (pthread_create(&threads[started], NULL, worker_main, a) != 0) {
            rc = vlt_fail(VAULT_E_NOMEM, "cannot start worker threads");
            break;
        }

    pthread_t meta[META_THREADS];
    meta_arg meta_args[META_THREADS];
    unsigned meta_started = 0;
    atomic_init(&a->meta_stop, 0);
    for (; rc == VAULT_OK && meta_started < META_THREADS; meta_started++) {
        meta_args[meta_started] = (meta_arg){.a = a, .shard = meta_started};
        if (pthread_create(&meta[meta_started], NULL, meta_main,
                           &meta_args[meta_started]) != 0)
            break; /* read-ahead is an optimisation: fewer is fine */
    }
    if (rc == VAULT_OK)
        rc = run_add(a, &rec);
    atomic_store(&a->meta_stop, 1);
    for (unsigned i = 0; i < meta_started; i++)
        pthread_join(meta[i], NULL);
    if (rc == VAULT_OK)
        rc = flush_batch(a);
    batch_free(a->cur);
    a->cur = NULL;

    pthread_mutex_lock(&a->lock);
    a->closing = 1;
    pthread_cond_broadcast(&a->not_empty);
    pthread_mutex_unlock(&a->lock);
    for (unsigned i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    if (a->failure != VAULT_OK) {
        rc = vlt_fail(a->failure, "%s", a->failure_detail);
    }
    if (rc == VAULT_OK)
        rc = flush_index(a, &a->done);

    if (rc == VAULT_OK) {
        char host[256] = "";
        if (o->hostname)
            snprintf(host, sizeof host, "%s", o->hostname);
        else if (gethostname(host, sizeof host - 1) != 0)
            host[0] = '\0';
        rec.hostname = strdup(host);
        rec.username = owner_name(geteuid(), 0);
        rec.tags = calloc(o->n_tags ? o->n_tags : 1, sizeof *rec.tags);
        for (size_t i = 0; rec.tags && i < o->n_tags; i++)
            if ((rec.tags[i] = strdup(o->tags[i])) != NULL)
                rec.n_tags++;
        rec.files = r->files;
        rec.dirs = r->dirs;
        rec.bytes_read = r->bytes_read;
        rec.bytes_added = r->bytes_added;
        if (!rec.hostname || !rec.username || rec.n_tags != o->n_tags)
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        if (rc == VAULT_OK)
            rc = vlt_repo_snapshot_save(v, &rec, r->snapshot_id);
    }
    if (rc == VAULT_OK && vlt_filecache_save(a->cache) != VAULT_OK) {
        /* The snapshot is committed; a cache that failed to save only
         * makes the next add slower. */
    }
    vlt_snapshot_clear(&rec);
    vlt_filecache_free(a->cache);
    done_free(&a->done);
    pthread_mutex_destroy(&a->lock);
    pthread_mutex_destroy(&a->index_lock);
    pthread_cond_destroy(&a->not_empty);
    pthread_cond_destroy(&a->not_full);
    pthread_cond_destroy(&a->group_done);
    free(threads);
    free(a->queue);
    free(a->buf);
    free(a);
    /* Committed (or failed): this add no longer holds back a prune. */
    marker_remove(v, marker.name, rc);
    if (rc != VAULT_OK) {
        /* Pending entries of an aborted add point nowhere. */
        vlt_repo_forget_index(v);
        return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return VAULT_OK;
}
