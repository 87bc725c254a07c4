/*
 * blob_load.c - reading blobs through an open vault handle (blob_load.h).
 */
#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "common/pool.h"
#include "format/chunker.h"
#include "format/locks.h"
#include "repo/blob_load.h"
#include "repo/client_cache.h"
#include "repo/index_cache.h"
#include "repo/repo.h"

void vlt_repo_forget_index(vault_t *v)
{
    /* what was loaded ahead names packs by their number in this index */
    vlt_repo_prefetch_drop(v);
    vlt_index_free(&v->index);
    vlt_index_init(&v->index);
    vlt_index_cache_close(v->index_cache);
    v->index_cache = NULL;
    v->index_loaded = 0;
    if (v->pack_keys)
        sodium_free(v->pack_keys);
    free(v->pack_key_state);
    free(v->pack_listings);
    v->pack_listings = NULL;
    v->n_pack_ends = 0;
    v->pack_keys = NULL;
    v->pack_key_state = NULL;
    v->pack_keys_size = 0;
}

int vlt_repo_author_flags(vault_t *v, const uint8_t author[SIGN_PUBLIC_BYTES])
{
    author_standing st = vlt_membership_standing(v->members, author);
    if (st == AUTHOR_UNKNOWN)
        return -1;
    int flags = 0;
    if (st == AUTHOR_OWNER || st == AUTHOR_READER)
        flags |= SLOT_TRUSTED;
    if (v->keys->has_sign_key &&
        sodium_memcmp(author, v->keys->sign_pk, SIGN_PUBLIC_BYTES) == 0)
        flags |= SLOT_OWN;
    return flags;
}

uint32_t vlt_repo_own_flags(vault_t *v)
{
    int flags = v->keys->has_sign_key
                    ? vlt_repo_author_flags(v, v->keys->sign_pk)
                    : -1;
    /* what this handle stores is its own even before the log lists it */
    return SLOT_OWN | (flags > 0 ? (uint32_t)flags : 0);
}

static int index_author_flags(void *ctx,
                              const uint8_t author[SIGN_PUBLIC_BYTES])
{
    return vlt_repo_author_flags(ctx, author);
}

static void index_report(void *ctx, const char *name, const char *detail)
{
    (void)ctx;
    (void)name; /* the detail names it */
    vlt_warn("%s; skipped", detail);
}

int vlt_repo_lock_honoured(vault_t *v, const lock_record *l)
{
    if (l->kind != LOCK_PRUNE_MARK)
        return 1;
    return vlt_membership_standing(v->members, l->author) == AUTHOR_OWNER;
}

/* Tells the local cache which packs hold only trees (format.md §9: a
 * writer may keep trees in packs of their own, and add does), so that it
 * keeps them: listing a snapshot then reads no pack from storage. */
static vault_error note_tree_packs(vault_t *v)
{
    const vault_index *ix = &v->index;
    size_t n_packs = vlt_index_n_packs(ix);
    if (!vlt_backend_is_cache(v->be) || n_packs == 0)
        return VAULT_OK;
    uint8_t *has_data = calloc(n_packs, 1);
    if (!has_data)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    /* the base knows its packs' contents; of the rest every copy is a
     * slot (the alternatives too) */
    if (ix->base.n_packs)
        memcpy(has_data, ix->base.pack_has_data, ix->base.n_packs);
    for (size_t i = 0; i < ix->n_slots; i++) {
        const index_slot *s = &ix->slots[i];
        pack_entry e;
        if (s->pack == INDEX_PENDING || s->pack >= n_packs)
            continue;
        vlt_index_slot_entry(ix, s, &e);
        if (e.type != BLOB_TREE)
            has_data[s->pack] = 1;
    }
    for (size_t p = 0; p < n_packs; p++)
        if (!has_data[p])
            vlt_backend_cache_note_tree_pack(v->be,
                                             vlt_index_pack_id(ix, (uint32_t)p));
    free(has_data);
    return VAULT_OK;
}

/* More segments than this outside the index cache (beyond an eighth of
 * those it covers) and it is built again: each is read at every open, and
 * its entries held in memory (a segment lists up to 50,000: a vault of a
 * million files added at once is 22 segments that a cache built when the
 * vault was empty does not cover). */
#define INDEX_CACHE_UNCOVERED_MAX 4

/* Maps the index cache under v's index, building it first when there is
 * none that serves; *todo becomes the segments it does not cover (all of
 * names when there is no cache). */
static vault_error index_cache_attach(vault_t *v, const name_list *names,
                                      name_list *todo)
{
    char path[PATH_MAX], file[32];
    const uint8_t *pk = v->keys->sign_pk;
    if (!v->keys->has_sign_key)
        return VAULT_OK;
    /* one file per member: the trust it records is the member's own */
    snprintf(file, sizeof file, "index-%02x%02x%02x%02x%02x%02x%02x%02x",
             pk[0], pk[1], pk[2], pk[3], pk[4], pk[5], pk[6], pk[7]);
    if (!vlt_cache_vault_file(v->cache_dir, v->keys, file, path, sizeof path))
        return VAULT_OK;
    index_cache *c = NULL;
    name_list uncovered = {0};
    vault_error rc = VAULT_OK;
    for (int attempt = 0; rc == VAULT_OK && attempt < 2 && !c; attempt++) {
        if (attempt)
            rc = vlt_index_cache_build(path, v->be, v->keys, names,
                                       index_author_flags, v);
        if (rc == VAULT_OK)
            rc = vlt_index_cache_open(path, v->keys, index_author_flags, v,
                                      &c);
        int stale = 0;
        if (rc == VAULT_OK && c)
            rc = vlt_index_cache_diff(c, names, &uncovered, &stale);
        if (rc == VAULT_OK && c && attempt == 0 &&
            (stale || uncovered.n > INDEX_CACHE_UNCOVERED_MAX +
                                        vlt_index_cache_segments(c) / 8)) {
            vlt_index_cache_close(c);
            c = NULL;
            free(uncovered.names);
            memset(&uncovered, 0, sizeof uncovered);
        }
    }
    if (rc == VAULT_OK && c)
        rc = vlt_index_attach_base(&v->index, vlt_index_cache_base(c));
    if (rc != VAULT_OK || !c) {
        vlt_index_cache_close(c);
        free(uncovered.names);
        return rc;
    }
    v->index_cache = c;
    *todo = uncovered;
    return VAULT_OK;
}

vault_error vlt_repo_load_index(vault_t *v)
{
    if (v->index_loaded)
        return VAULT_OK;
    /* Packs that a prune has condemned first, so that their entries give
     * way to copies elsewhere (format spec "Pruning without locks").
     * Only an owner's prune mark counts: a writer cannot condemn packs
     * (format.md §15-15a).  The index cache goes under the index before
     * packs are numbered. */
    lock_record *locks = NULL;
    size_t n_locks = 0;
    name_list names = {0}, todo = {0};
    vlt_backend_list_ahead(v->be, BACKEND_INDEX); /* beside the locks' */
    vault_error rc = vlt_locks_load(v, &locks, &n_locks, NULL);
    if (rc == VAULT_OK)
        rc = vlt_backend_list_names(v->be, BACKEND_INDEX, &names);
    if (rc == VAULT_OK)
        rc = index_cache_attach(v, &names, &todo);
    for (size_t i = 0; rc == VAULT_OK && i < n_locks; i++) {
        if (!vlt_repo_lock_honoured(v, &locks[i]))
            continue;
        for (uint32_t j = 0; rc == VAULT_OK && j < locks[i].n_packs; j++)
            rc = vlt_index_condemn_pack(&v->index, locks[i].packs + 32 * j);
    }
    vlt_locks_free(locks, n_locks);
    if (rc == VAULT_OK)
        rc = vlt_index_load_names(&v->index, v->be, v->keys,
                                  v->index_cache ? &todo : &names,
                                  index_author_flags, v, index_report, v);
    free(names.names);
    free(todo.names);
    if (rc == VAULT_OK)
        rc = note_tree_packs(v);
    if (rc != VAULT_OK) {
        vlt_backend_list_ahead_drop(v->be); /* if the index was not listed */
        vlt_repo_forget_index(v);
        return rc;
    }
    v->index_loaded = 1;
    return VAULT_OK;
}

/* Opening a pack reads its header and its trailer.  A pack up to
 * PACK_OPEN_WHOLE bytes (tree packs, the last pack of a small add) is
 * loaded whole at once; of a larger one, the header and the last
 * PACK_OPEN_TAIL bytes, which hold the trailer and its length unless
 * the pack has more than ~1400 blobs (then one more load for the rest). */
#define PACK_OPEN_WHOLE (256u * 1024)
#define PACK_OPEN_TAIL (64u * 1024)

/* A pack's header, loaded on a thread of its own while the stat and the
 * tail's load run (a large pack on remote storage, opened ahead of a
 * prefetch's ranges): an open then waits two round trips, not three. */
typedef struct header_load {
    vault_t *v;
    const char *name;
    uint8_t *buf;     /* PACK_HEADER_BYTES, malloc'ed; NULL on failure */
    size_t len;
    vault_error rc;
    char detail[512]; /* the failure's detail (details are per thread) */
} header_load;

static void *header_load_run(void *arg)
{
    header_load *h = arg;
    h->rc = backend_load(h->v->be, BACKEND_DATA, h->name, 0,
                         PACK_HEADER_BYTES, PACK_HEADER_BYTES, &h->buf,
                         &h->len);
    if (h->rc != VAULT_OK)
        snprintf(h->detail, sizeof h->detail, "%s", vault_last_error());
    return NULL;
}

/* Reads pack name's header and trailer in as few loads as its size
 * allows (one stat and one or two loads), derives its key into key and
 * authenticates the trailer: the pack's length, its trailer length and
 * its own index must all be as sealed.  large: the pack is known to be
 * larger than PACK_OPEN_WHOLE (its header is then loaded at once, beside
 * the stat; else only once the size says it is needed). */
static vault_error pack_open_sized(vault_t *v, const char *name, int large,
                                  uint8_t key[SECRET_BYTES])
{
    header_load h = {.v = v, .name = name};
    pthread_t header_thread;
    int ahead = large && !v->be->is_local &&
                pthread_create(&header_thread, NULL, header_load_run, &h) == 0;
    uint64_t size = 0;
    uint8_t *header = NULL, *tail = NULL, *rest = NULL;
    size_t len, tail_len = 0;
    uint64_t tail_at = 0;
    vault_error rc = backend_stat(v->be, BACKEND_DATA, name, &size);
    if (rc == VAULT_OK &&
        (size < PACK_HEADER_BYTES + 4 || size > PACK_MAX_BYTES))
        rc = vlt_fail(VAULT_E_CORRUPT, "pack: bad size");
    if (rc == VAULT_OK && size <= PACK_OPEN_WHOLE) {
        rc = backend_load(v->be, BACKEND_DATA, name, 0, (size_t)size,
                          (size_t)size, &tail, &tail_len);
        header = tail;
    } else if (rc == VAULT_OK) {
        if (!ahead)
            rc = backend_load(v->be, BACKEND_DATA, name, 0,
                              PACK_HEADER_BYTES, PACK_HEADER_BYTES, &header,
                              &len);
        tail_at = size - PACK_OPEN_TAIL;
        if (rc == VAULT_OK)
            rc = backend_load(v->be, BACKEND_DATA, name, tail_at,
                              PACK_OPEN_TAIL, PACK_OPEN_TAIL, &tail,
                              &tail_len);
    }
    if (ahead) {
        pthread_join(header_thread, NULL);
        if (rc == VAULT_OK && !header) {
            header = h.buf; /* a whole pack has its own */
            h.buf = NULL;
            if (h.rc != VAULT_OK)
                rc = vlt_fail(h.rc, "%s", h.detail);
        }
        free(h.buf);
    }
    if (rc == VAULT_OK)
        rc = vlt_pack_key_from_header(v->keys, header, PACK_HEADER_BYTES,
                                      key);
    if (rc == VAULT_OK) {
        uint32_t trailer_len = load_le32(tail + tail_len - 4);
        uint64_t trailer_at = size - 4 - (uint64_t)trailer_len;
        if (trailer_len > size - 4 - PACK_HEADER_BYTES) {
            rc = vlt_fail(VAULT_E_CORRUPT, "pack: bad trailer length");
        } else if (trailer_at >= tail_at) {
            rc = vlt_pack_check_trailer(key, header,
                                        tail + (trailer_at - tail_at),
                                        trailer_len);
        } else {
            /* a trailer longer than the tail read: load it all */
            rc = backend_load(v->be, BACKEND_DATA, name, trailer_at,
                              trailer_len, trailer_len, &rest, &len);
            if (rc == VAULT_OK)
                rc = vlt_pack_check_trailer(key, header, rest, trailer_len);
        }
    }
    if (header != tail)
        free(header);
    free(tail);
    free(rest);
    if (rc != VAULT_OK)
        sodium_memzero(key, SECRET_BYTES);
    return rc;
}

/* What the index lists of pack number pack: where its last blob ends and
 * how many blobs it has, from a table made in one pass over the index on
 * first need (remote storage only: it spares each pack's open a round
 * trip, pack_open).  0 when not known (local storage, a pack numbered
 * since, no blob listed, out of memory). */
static int pack_listed(vault_t *v, uint32_t pack, uint64_t *end,
                       uint32_t *count)
{
    if (v->be->is_local)
        return 0;
    pthread_mutex_lock(&v->pack_key_lock);
    if (v->n_pack_ends == 0) {
        size_t n = vlt_index_n_packs(&v->index);
        pack_listing *l = n ? calloc(n, sizeof *l) : NULL;
        size_t all = vlt_index_n_slots_all(&v->index);
        for (size_t i = 0; l && i < all; i++) {
            const index_slot *s = vlt_index_slot_at(&v->index, i);
            if (s->pack == INDEX_PENDING || s->pack >= n)
                continue;
            pack_entry e;
            vlt_index_slot_entry(&v->index, s, &e);
            uint64_t e_end = (uint64_t)e.offset + e.length;
            if (e_end > l[s->pack].end)
                l[s->pack].end = e_end;
            l[s->pack].count++;
            if ((i + 1) % INDEX_RELEASE_EVERY == 0)
                vlt_index_release(&v->index);
        }
        if (l) {
            vlt_index_release(&v->index);
            v->pack_listings = l;
            v->n_pack_ends = n;
        }
    }
    int known = pack < v->n_pack_ends && v->pack_listings[pack].count > 0;
    if (known) {
        *end = v->pack_listings[pack].end;
        *count = v->pack_listings[pack].count;
    }
    pthread_mutex_unlock(&v->pack_key_lock);
    return known;
}

/* Trailers longer than this (packs of over 90,000 blobs) are not
 * guessed: the size is asked. */
#define PACK_LISTED_TRAILER_MAX (4u * 1024 * 1024)

/* The length of the trailer of a pack whose blobs end at end, count of
 * them, as the index lists it; 0 when that guess is not to be made. */
static uint64_t listed_trailer_bytes(uint64_t end, uint32_t count)
{
    uint64_t trailer = vlt_pack_trailer_bytes(count);
    if (end < PACK_HEADER_BYTES || trailer > PACK_LISTED_TRAILER_MAX ||
        end + trailer + 4 > PACK_MAX_BYTES)
        return 0;
    return trailer;
}

/* The key of a pack opened as the index lists it, into key (wiped on
 * failure): tail (trailer + 4 bytes) must end in the trailer's length,
 * and the trailer must authenticate under the header's key. */
static vault_error listed_key(const vault_t *v,
                              const uint8_t header[PACK_HEADER_BYTES],
                              const uint8_t *tail, uint64_t trailer,
                              uint8_t key[SECRET_BYTES])
{
    vault_error rc = load_le32(tail + trailer) == trailer ? VAULT_OK
                                                          : VAULT_E_CORRUPT;
    if (rc == VAULT_OK)
        rc = vlt_pack_key_from_header(v->keys, header, PACK_HEADER_BYTES,
                                      key);
    if (rc == VAULT_OK)
        rc = vlt_pack_check_trailer(key, header, tail, (size_t)trailer);
    if (rc != VAULT_OK)
        sodium_memzero(key, SECRET_BYTES);
    return rc;
}

/* Opens pack name as the index lists it (its blobs end at end, count of
 * them), without asking its size: a pack whose trailer indexes exactly
 * those blobs ends where that trailer does, so its header and trailer
 * load at once (one load of the whole for a small pack).  Not VAULT_OK
 * when the pack is not so (the index lists fewer blobs than it holds,
 * copies elsewhere, a server that lies): the caller then opens it by its
 * size, which reports what is wrong.  Nothing here is trusted beyond
 * what pack_open_sized trusts: the header gives the key, the trailer
 * read must authenticate under it, and each blob is authenticated when
 * opened. */
static vault_error pack_open_listed(vault_t *v, const char *name,
                                    uint64_t end, uint32_t count,
                                    uint8_t key[SECRET_BYTES])
{
    uint64_t trailer = listed_trailer_bytes(end, count);
    if (trailer == 0)
        return VAULT_E_CORRUPT;
    uint64_t size = end + trailer + 4;
    header_load h = {.v = v, .name = name};
    uint8_t *header = NULL, *tail = NULL;
    size_t tail_len = 0;
    vault_error rc;
    if (size <= PACK_OPEN_WHOLE) {
        rc = backend_load(v->be, BACKEND_DATA, name, 0, (size_t)size,
                          (size_t)size, &header, &tail_len);
        tail = header;
        end = 0; /* where tail starts */
    } else {
        pthread_t header_thread;
        int ahead =
            pthread_create(&header_thread, NULL, header_load_run, &h) == 0;
        if (!ahead)
            header_load_run(&h);
        rc = backend_load(v->be, BACKEND_DATA, name, end,
                          (size_t)(trailer + 4), (size_t)(trailer + 4), &tail,
                          &tail_len);
        if (ahead)
            pthread_join(header_thread, NULL);
        header = h.buf;
        if (rc == VAULT_OK && h.rc != VAULT_OK)
            rc = h.rc;
    }
    if (rc == VAULT_OK && tail_len != size - end)
        rc = VAULT_E_CORRUPT;
    if (rc == VAULT_OK)
        rc = listed_key(v, header, tail + (tail_len - 4 - trailer), trailer,
                        key);
    if (header != tail)
        free(header);
    free(tail);
    return rc;
}

/* Opens pack number pack (see pack_open_sized): as the index lists it
 * when that is known, else, or when that fails, by its size. */
static vault_error pack_open(vault_t *v, uint32_t pack, const char *name,
                            int large, uint8_t key[SECRET_BYTES])
{
    uint64_t end;
    uint32_t count;
    if (pack_listed(v, pack, &end, &count) &&
        pack_open_listed(v, name, end, count, key) == VAULT_OK)
        return VAULT_OK;
    return pack_open_sized(v, name, large, key);
}

/* Makes room for the keys of every pack the index knows (pack_key_lock
 * held). */
static vault_error pack_keys_grow(vault_t *v)
{
    if (v->pack_keys_size >= vlt_index_n_packs(&v->index))
        return VAULT_OK;
    size_t n = vlt_index_n_packs(&v->index);
    uint8_t(*keys)[SECRET_BYTES] = sodium_allocarray(n, SECRET_BYTES);
    uint8_t *state = calloc(n, 1);
    if (!keys || !state) {
        if (keys)
            sodium_free(keys);
        free(state);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    if (v->pack_keys) {
        memcpy(keys, v->pack_keys, v->pack_keys_size * SECRET_BYTES);
        memcpy(state, v->pack_key_state, v->pack_keys_size);
        sodium_free(v->pack_keys);
        free(v->pack_key_state);
    }
    v->pack_keys = keys;
    v->pack_key_state = state;
    v->pack_keys_size = n;
    return VAULT_OK;
}

/* Copies the key of pack into key if it is known: 1, else 0; or an
 * error (out of memory). */
static vault_error pack_key_known(vault_t *v, uint32_t pack,
                                  uint8_t key[SECRET_BYTES], int *known)
{
    pthread_mutex_lock(&v->pack_key_lock);
    vault_error rc = pack_keys_grow(v);
    *known = rc == VAULT_OK && v->pack_key_state[pack] == 1;
    if (*known)
        memcpy(key, v->pack_keys[pack], SECRET_BYTES);
    pthread_mutex_unlock(&v->pack_key_lock);
    return rc;
}

/* Whether pack is in v->opening; its place there in *at (prefetch_lock
 * held). */
static int opening_find(const vault_t *v, uint32_t pack, size_t *at)
{
    for (size_t i = 0; i < v->n_opening; i++)
        if (v->opening[i] == pack) {
            *at = i;
            return 1;
        }
    return 0;
}

/* pack_key_open's how: the pack's blobs reach past PACK_OPEN_WHOLE (see
 * pack_open); and, for a loader opening ahead, return at once when
 * another thread is opening it: a loader never waits for another opener,
 * whose loads may be jobs queued behind it (split_open). */
#define PACK_OPEN_LARGE 1
#define PACK_OPEN_NOWAIT 2

/* Keeps key as pack's, unless one is kept already. */
static void pack_key_keep(vault_t *v, uint32_t pack,
                          const uint8_t key[SECRET_BYTES])
{
    pthread_mutex_lock(&v->pack_key_lock);
    if (pack < v->pack_keys_size && v->pack_key_state[pack] == 0) {
        memcpy(v->pack_keys[pack], key, SECRET_BYTES);
        v->pack_key_state[pack] = 1;
    }
    pthread_mutex_unlock(&v->pack_key_lock);
}

/* pack is no longer being opened: its waiters look again. */
static void opening_end(vault_t *v, uint32_t pack)
{
    size_t at;
    pthread_mutex_lock(&v->prefetch_lock);
    if (opening_find(v, pack, &at))
        v->opening[at] = v->opening[--v->n_opening];
    pthread_cond_broadcast(&v->prefetch_done);
    pthread_mutex_unlock(&v->prefetch_lock);
}

/* Copies the key of pack into key (the caller wipes it).  No lock is
 * held across I/O: one thread opens a pack nobody has opened yet, those
 * that need it meanwhile wait for it (without a lock held: a prefetch's
 * ranges load while its packs open) and then read its key - or, if its
 * open failed, open it themselves and meet the failure for their own
 * report.  how: PACK_OPEN_*. */
static vault_error pack_key_open(vault_t *v, uint32_t pack, const char *name,
                                 int how, uint8_t key[SECRET_BYTES])
{
    int known;
    vault_error rc = pack_key_known(v, pack, key, &known);
    if (rc != VAULT_OK || known)
        return rc;
    size_t at;
    int mine = 0;
    pthread_mutex_lock(&v->prefetch_lock);
    int nowait = how & PACK_OPEN_NOWAIT;
    int large = how & PACK_OPEN_LARGE;
    if (nowait && opening_find(v, pack, &at)) {
        pthread_mutex_unlock(&v->prefetch_lock);
        return VAULT_E_NOT_FOUND;
    }
    if (opening_find(v, pack, &at)) {
        while (opening_find(v, pack, &at))
            pthread_cond_wait(&v->prefetch_done, &v->prefetch_lock);
    } else if (v->n_opening < REPO_OPENING_MAX) {
        v->opening[v->n_opening++] = pack;
        mine = 1;
    }
    pthread_mutex_unlock(&v->prefetch_lock);
    if (!mine) {
        rc = pack_key_known(v, pack, key, &known);
        if (rc != VAULT_OK || known)
            return rc;
    }
    rc = pack_open(v, pack, name, large, key);
    if (rc == VAULT_OK)
        pack_key_keep(v, pack, key);
    if (mine)
        opening_end(v, pack);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "data/%.2s/%s", name, name);
    return VAULT_OK;
}

static vault_error pack_key_get(vault_t *v, uint32_t pack, const char *name,
                                uint8_t key[SECRET_BYTES])
{
    return pack_key_open(v, pack, name, 0, key);
}

/* An idle decompression context of v's, or a new one; NULL if none can
 * be made (vlt_blob_open then makes its own). */
static ZSTD_DCtx *dctx_take(vault_t *v)
{
    ZSTD_DCtx *d = NULL;
    pthread_mutex_lock(&v->dctx_lock);
    if (v->n_dctx)
        d = v->dctx[--v->n_dctx];
    pthread_mutex_unlock(&v->dctx_lock);
    return d ? d : ZSTD_createDCtx();
}

static void dctx_give_back(vault_t *v, ZSTD_DCtx *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&v->dctx_lock);
    if (v->n_dctx < REPO_DCTX_KEEP) {
        v->dctx[v->n_dctx++] = d;
        d = NULL;
    }
    pthread_mutex_unlock(&v->dctx_lock);
    ZSTD_freeDCtx(d);
}

/* Finds blob id, of type, in the index: its best copy's slot and entry
 * (id_hex: its ID in hex, for messages). */
static vault_error blob_locate(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               blob_type type, const index_slot **slot,
                               pack_entry *e, char id_hex[65])
{
    vlt_hex_encode(id, CHUNK_ID_BYTES, id_hex);
    const index_slot *s = vlt_index_find(&v->index, id);
    if (!s || s->pack == INDEX_PENDING)
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "blob %.16s: not in the index (missing data)",
                        id_hex);
    vlt_index_slot_entry(&v->index, s, e);
    if (e->type != type)
        return vlt_fail(VAULT_E_CORRUPT, "blob %.16s: wrong type", id_hex);
    *slot = s;
    return VAULT_OK;
}

/* Opens entry e of pack number pack from its sealed bytes (blob, len,
 * malloc'ed; taken: opened in place, see vlt_blob_open_owned):
 * authenticated, decompressed, its chunk ID checked, into *out.  The
 * pack's key is known by then (its trailer verified) unless the caches
 * were dropped meanwhile; then the pack is opened again. */
static vault_error entry_open(vault_t *v, uint32_t pack, const pack_entry *e,
                             uint8_t *blob, size_t len, uint8_t **out)
{
    *out = NULL;
    char id_hex[65], name[65];
    vlt_hex_encode(e->id, CHUNK_ID_BYTES, id_hex);
    vlt_hex_encode(vlt_index_pack_id(&v->index, pack), 32, name);
    uint8_t key[SECRET_BYTES];
    vault_error rc = pack_key_get(v, pack, name, key);
    if (rc == VAULT_OK) {
        ZSTD_DCtx *dctx = dctx_take(v);
        rc = vlt_blob_open_owned(v->keys, key, e, blob, len, dctx, out);
        dctx_give_back(v, dctx);
    } else {
        free(blob);
    }
    sodium_memzero(key, sizeof key);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "data/%.2s/%s (blob %.16s)", name,
                                name, id_hex);
    return VAULT_OK;
}

/* The verified plaintext of entry e of pack number pack. */
static vault_error load_entry(vault_t *v, uint32_t pack, const pack_entry *e,
                              blob_type type, uint8_t **out, size_t *len)
{
    *out = NULL;
    char id_hex[65], name[65];
    vlt_hex_encode(e->id, CHUNK_ID_BYTES, id_hex);
    vlt_hex_encode(vlt_index_pack_id(&v->index, pack), 32, name);
    if (e->type != type)
        return vlt_fail(VAULT_E_CORRUPT,
                        "data/%.2s/%s (blob %.16s): wrong type", name, name,
                        id_hex);
    uint8_t key[SECRET_BYTES];
    vault_error rc = pack_key_get(v, pack, name, key);
    if (rc != VAULT_OK)
        return vlt_fail_context(rc, "blob %.16s", id_hex);
    uint8_t *blob;
    size_t blob_len;
    rc = backend_load(v->be, BACKEND_DATA, name, e->offset, e->length,
                      e->length, &blob, &blob_len);
    sodium_memzero(key, sizeof key);
    if (rc == VAULT_OK) {
        rc = entry_open(v, pack, e, blob, blob_len, out);
        if (rc == VAULT_OK)
            *len = e->raw_len;
        return rc;
    }
    return vlt_fail_context(rc, "data/%.2s/%s (blob %.16s)", name, name,
                            id_hex);
}

vault_error vlt_repo_load_copy(vault_t *v, const index_slot *s,
                               blob_type type, uint8_t **out, size_t *len)
{
    *out = NULL;
    if (s->pack == INDEX_PENDING) {
        char id_hex[65];
        vlt_hex_encode(s->id, CHUNK_ID_BYTES, id_hex);
        return vlt_fail(VAULT_E_NOT_FOUND, "blob %.16s: not stored yet",
                        id_hex);
    }
    pack_entry e;
    vlt_index_slot_entry(&v->index, s, &e);
    return load_entry(v, s->pack, &e, type, out, len);
}

vault_error vlt_repo_verify_entry(vault_t *v, const uint8_t pack_id[32],
                                  const pack_entry *e)
{
    uint32_t pack;
    if (!vlt_index_pack_find(&v->index, pack_id, &pack)) {
        char name[65];
        vlt_hex_encode(pack_id, 32, name);
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "data/%.2s/%s: no member's index segment lists it",
                        name, name);
    }
    uint8_t *data = NULL;
    size_t len = 0;
    vault_error rc = load_entry(v, pack, e, (blob_type)e->type, &data, &len);
    free(data);
    return rc;
}

/* A blob loaded ahead (repo.h: the handle's prefetched). */
typedef struct prefetched {
    uint8_t id[CHUNK_ID_BYTES];
    uint8_t type;
    /* PREFETCH_RESERVED: a plan will load it, not started yet: a user
     * loads it alone and cancels it (waiting could deadlock: the plan
     * may be queued behind that user);
     * PREFETCH_LOADING: its load runs: users wait for it; 0: loaded */
    uint8_t loading;
    const void *plan; /* the plan that reserved it (only that one loads
                         it: another may reserve it after a cancel) */
    /* Its sealed bytes (e.length of them) as the pack holds them, opened
     * (authenticated, decompressed, chunk ID checked) by the load that
     * takes it: held sealed, a window of small text files takes a third
     * of the memory, and the opening is spread over the users' threads.
     * NULL until loaded, and when the load failed. */
    uint8_t *data;
    uint32_t pack;    /* where it was loaded from */
    pack_entry e;
    size_t held;      /* bytes counted in prefetched_bytes (e.length) */
    /* the load failed, and the blob has no other copy: its load's answer
     * is this failure (detail malloc'ed), as it would have been without
     * the prefetch */
    vault_error failed;
    char *detail;
    /* Loads still to take it: a chunk that several files of a window
     * share (identical files) is loaded once and handed to each. */
    unsigned uses;
    uint64_t added; /* vault.prefetched_added when added: the oldest
                       loaded entries make room first */
} prefetched;
static int prefetched_take(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                           blob_type type, uint8_t **out, size_t *len,
                           vault_error *failed);

vault_error vlt_repo_load_blob(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               blob_type type, uint8_t **out, size_t *len)
{
    *out = NULL;
    vault_error failed;
    if (prefetched_take(v, id, type, out, len, &failed))
        return failed;
    const index_slot *copies[INDEX_MAX_COPIES];
    size_t n = vlt_index_copies(&v->index, id, copies, INDEX_MAX_COPIES);
    if (n > INDEX_MAX_COPIES)
        n = INDEX_MAX_COPIES;
    /* Every copy in turn, best first (format.md §15-15a "Readers fall
     * back"): one that fails is reported and the next is tried; if all
     * fail, the first failure is the answer. */
    vault_error first = VAULT_E_NOT_FOUND;
    char first_detail[512] = "";
    size_t tried = 0;
    for (size_t i = 0; i < n; i++) {
        if (copies[i]->pack == INDEX_PENDING)
            continue;
        vault_error rc = vlt_repo_load_copy(v, copies[i], type, out, len);
        if (rc == VAULT_OK)
            return VAULT_OK;
        if (vlt_error_stops(rc))
            return rc;
        if (tried++ == 0) {
            first = rc;
            snprintf(first_detail, sizeof first_detail, "%s",
                     vault_last_error());
        }
        if (i + 1 < n)
            vlt_warn("%s; trying another copy", vault_last_error());
    }
    if (!tried) {
        char id_hex[65];
        vlt_hex_encode(id, CHUNK_ID_BYTES, id_hex);
        return vlt_fail(VAULT_E_NOT_FOUND,
                        "blob %.16s: not in the index (missing data)",
                        id_hex);
    }
    if (tried > 1)
        return vlt_fail(first, "%s (and every other copy failed)",
                        first_detail);
    return vlt_fail(first, "%s", first_detail);
}

vault_error vlt_repo_load_tree(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               tree *out)
{
    uint8_t *data;
    size_t len;
    vault_error rc = vlt_repo_load_blob(v, id, BLOB_TREE, &data, &len);
    if (rc != VAULT_OK)
        return rc;
    rc = vlt_tree_decode(data, len, out);
    free(data);
    if (rc != VAULT_OK) {
        char hex[65];
        vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
        return vlt_fail_context(rc, "tree %.16s", hex);
    }
    return VAULT_OK;
}

/* The length and ID of the chunks a long run of zero bytes becomes: the
 * chunker's decisions there depend only on the zeros, so every such run
 * is cut at one length - CHUNKER_MAX_SIZE, unless one of the first 64
 * cut tests from CHUNKER_MIN_SIZE passes (the hash is constant after 64
 * bytes) - and those chunks all have one ID. */
static vault_error zero_chunk(vault_t *v, uint32_t *len,
                              uint8_t id[CHUNK_ID_BYTES])
{
    vault_error rc = VAULT_OK;
    pthread_mutex_lock(&v->zero_lock);
    if (!v->zero_known) {
        uint8_t *zeros = calloc(CHUNKER_MAX_SIZE, 1);
        chunker_table *t = malloc(sizeof *t);
        if (zeros && t) {
            vlt_chunker_table_init(t, v->keys->gear_key);
            v->zero_len = (uint32_t)vlt_chunker_next(t, zeros, CHUNKER_MAX_SIZE,
                                                     0);
            vlt_chunk_id_compute(v->keys, BLOB_DATA, zeros, v->zero_len,
                                 v->zero_id);
            v->zero_known = 1;
        } else {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
        free(zeros);
        free(t);
    }
    *len = v->zero_len;
    memcpy(id, v->zero_id, CHUNK_ID_BYTES);
    pthread_mutex_unlock(&v->zero_lock);
    return rc;
}

vault_error vlt_repo_chunk_size(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                                uint32_t *len, int *zero)
{
    *zero = 0;
    char id_hex[65];
    const index_slot *s = NULL;
    pack_entry e;
    vault_error rc = blob_locate(v, id, BLOB_DATA, &s, &e, id_hex);
    if (rc != VAULT_OK)
        return rc;
    *len = e.raw_len;
    /* Only chunks of a length a zero run can be cut at are candidates:
     * nothing is hashed for the others. */
    int candidate = e.raw_len == CHUNKER_MAX_SIZE ||
                    (e.raw_len > CHUNKER_MIN_SIZE &&
                     e.raw_len <= CHUNKER_MIN_SIZE + 64);
    if (!candidate)
        return VAULT_OK;
    uint32_t zero_len;
    uint8_t zero_id[CHUNK_ID_BYTES];
    rc = zero_chunk(v, &zero_len, zero_id);
    if (rc == VAULT_OK)
        *zero = e.raw_len == zero_len &&
                sodium_memcmp(id, zero_id, CHUNK_ID_BYTES) == 0;
    return rc;
}

vault_error vlt_repo_chunk_stored(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                                  uint32_t *stored)
{
    const index_slot *s;
    char id_hex[65];
    pack_entry e;
    vault_error rc = blob_locate(v, id, BLOB_DATA, &s, &e, id_hex);
    *stored = rc == VAULT_OK ? e.length : 0;
    return rc;
}

/* --- many blobs at once ------------------------------------------------- */

/* One blob of a window of vlt_repo_load_blobs. */
typedef struct window_blob {
    uint32_t pack;   /* its best copy's pack number */
    pack_entry e;    /* and where it is in it */
    size_t len;      /* its plaintext length */
    uint8_t *plain;  /* loaded; NULL: zero chunk or not (yet) loaded */
    int how;         /* WINDOW_* */
} window_blob;
#define WINDOW_MERGE 0 /* to be loaded in a merged range */
#define WINDOW_ZERO 1  /* a chunk of zeros: not loaded */
#define WINDOW_ALONE 2 /* loaded by vlt_repo_load_blob when delivered */

/* Whether blob a comes after blob b in pack and offset order. */
static int window_after(const window_blob *a, const window_blob *b)
{
    if (a->pack != b->pack)
        return a->pack > b->pack;
    return a->e.offset > b->e.offset;
}

/* Sorts order[0 .. n) by pack and offset (an insertion sort: a window
 * is small, and often sorted already, a file's blobs being stored in
 * order). */
static void window_sort(uint32_t *order, size_t n, const window_blob *w)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t x = order[i];
        size_t j = i;
        while (j > 0 && window_after(&w[order[j - 1]], &w[x])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = x;
    }
}

/* Loads the range of pack number pack covering the blobs order[0 .. n)
 * (sorted by offset) and opens each; a blob that fails is left to be
 * loaded alone.  Only running out of memory is an error.  keep_sealed:
 * each blob's sealed bytes (e.length) are kept in plain instead, to be
 * opened when used - a prefetch holds them so, a third of the plaintext's size
 * for text; the pack's key is then not needed yet, so the range loads
 * while the pack is being opened (prefetch_open_packs). */
static vault_error window_load_range(vault_t *v, window_blob *w,
                                     const uint32_t *order, size_t n,
                                     ZSTD_DCtx *dctx, int keep_sealed,
                                     uint8_t *header)
{
    uint32_t pack = w[order[0]].pack;
    uint64_t start = w[order[0]].e.offset, end = start;
    if (header)
        start = 0; /* the pack's header too (split_open) */
    for (size_t i = 0; i < n; i++) {
        const pack_entry *e = &w[order[i]].e;
        if ((uint64_t)e->offset + e->length > end)
            end = (uint64_t)e->offset + e->length;
    }
    char name[65];
    vlt_hex_encode(vlt_index_pack_id(&v->index, pack), 32, name);
    uint8_t key[SECRET_BYTES];
    uint8_t *buf = NULL;
    size_t len = 0;
    vault_error rc = keep_sealed ? VAULT_OK
                                 : pack_key_get(v, pack, name, key);
    if (rc == VAULT_OK) {
        rc = backend_load(v->be, BACKEND_DATA, name, start,
                          (size_t)(end - start), (size_t)(end - start), &buf,
                          &len);
        if (rc != VAULT_OK)
            rc = vlt_fail_context(rc, "data/%.2s/%s", name, name);
    }
    if (rc == VAULT_OK && len != end - start)
        rc = vlt_fail(VAULT_E_CORRUPT, "data/%.2s/%s: short load", name,
                      name);
    if (rc == VAULT_OK && header)
        memcpy(header, buf, PACK_HEADER_BYTES);
    for (size_t i = 0; rc == VAULT_OK && keep_sealed && i < n; i++) {
        window_blob *b = &w[order[i]];
        b->plain = malloc(b->e.length ? b->e.length : 1);
        if (!b->plain) {
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
            break;
        }
        memcpy(b->plain, buf + (b->e.offset - start), b->e.length);
    }
    for (size_t i = 0; rc == VAULT_OK && !keep_sealed && i < n; i++) {
        window_blob *b = &w[order[i]];
        vault_error one = vlt_blob_open(v->keys, key, &b->e,
                                        buf + (b->e.offset - start),
                                        b->e.length, dctx, &b->plain);
        if (vlt_error_stops(one))
            rc = one;
        /* another failure: it is loaded again alone, which reports it */
    }
    sodium_memzero(key, sizeof key);
    free(buf);
    if (rc == VAULT_OK || vlt_error_stops(rc))
        return rc;
    /* A failed key or load: blobs with other copies are loaded again
     * alone (vlt_repo_load_blob tries those); for a blob with none, this
     * is the answer, as it would have been for it alone. */
    for (size_t i = 0; i < n; i++) {
        window_blob *b = &w[order[i]];
        const index_slot *copies[2];
        if (vlt_index_copies(&v->index, b->e.id, copies, 2) < 2) {
            char id_hex[65];
            vlt_hex_encode(b->e.id, CHUNK_ID_BYTES, id_hex);
            return vlt_fail_context(rc, "blob %.16s", id_hex);
        }
    }
    return VAULT_OK;
}

/* Classifies the blobs of a window (zero chunk, merged, alone). */
static void window_locate(vault_t *v, const uint8_t (*ids)[CHUNK_ID_BYTES],
                          size_t n, blob_type type, window_blob *w)
{
    for (size_t i = 0; i < n; i++) {
        window_blob *b = &w[i];
        memset(b, 0, sizeof *b);
        b->how = WINDOW_ALONE;
        const index_slot *s = vlt_index_find(&v->index, ids[i]);
        if (!s || s->pack == INDEX_PENDING)
            continue;
        vlt_index_slot_entry(&v->index, s, &b->e);
        if (b->e.type != type)
            continue;
        b->pack = s->pack;
        b->len = b->e.raw_len;
        uint32_t zero_len;
        int zero = 0;
        if (type == BLOB_DATA &&
            vlt_repo_chunk_size(v, ids[i], &zero_len, &zero) == VAULT_OK &&
            zero)
            b->how = WINDOW_ZERO;
        else
            b->how = WINDOW_MERGE;
    }
}

/* Puts the window's blobs to load (WINDOW_MERGE, below wn) in pack and
 * offset order into order, and cuts them into ranges: same pack, gaps
 * under BLOBS_MERGE_GAP, at most BLOBS_MERGE_MAX bytes.  Range r is
 * order[starts[r] .. starts[r + 1]); returns the number of ranges
 * (starts has room for wn + 1). */
static size_t window_ranges(const window_blob *w, size_t wn, uint32_t *order,
                            uint32_t *starts)
{
    size_t m = 0;
    for (size_t i = 0; i < wn; i++)
        if (w[i].how == WINDOW_MERGE && !w[i].plain)
            order[m++] = (uint32_t)i;
    window_sort(order, m, w);
    size_t n = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        const window_blob *first = &w[order[i]];
        uint64_t start = first->e.offset;
        uint64_t end = start + first->e.length;
        while (j < m) {
            const window_blob *b = &w[order[j]];
            uint64_t b_end = (uint64_t)b->e.offset + b->e.length;
            if (b->pack != first->pack ||
                b->e.offset > end + BLOBS_MERGE_GAP ||
                (b_end > end ? b_end : end) - start > BLOBS_MERGE_MAX)
                break;
            if (b_end > end)
                end = b_end;
            j++;
        }
        starts[n++] = (uint32_t)i;
        i = j;
    }
    starts[n] = (uint32_t)m;
    return n;
}

#define PREFETCH_LOADING 1
#define PREFETCH_RESERVED 2

/* Blobs, and bytes as stored, held loaded ahead at most. */
static size_t prefetch_blobs_max(const vault_t *v)
{
    return v->be->is_local ? REPO_PREFETCH_BLOBS_LOCAL : REPO_PREFETCH_BLOBS;
}

/* prefetch_lock held */
static uint64_t prefetch_bytes_max(const vault_t *v)
{
    return v->prefetch_far ? REPO_PREFETCH_BYTES_FAR : REPO_PREFETCH_BYTES;
}

int vlt_repo_prefetch_far(vault_t *v)
{
    if (v->be->is_local || backend_answer_wait(v->be) < REPO_FAR_SECONDS)
        return 0;
    pthread_mutex_lock(&v->prefetch_lock);
    v->prefetch_far = 1;
    pthread_mutex_unlock(&v->prefetch_lock);
    return 1;
}

/* Where entry (id, type) of the prefetched ones starts probing in
 * v->prefetched_table.  Keyed SipHash (vlt_id_hash): IDs come from the
 * vault, and a writer could pick colliding ones for a plain prefix. */
static size_t prefetched_home(const uint8_t id[CHUNK_ID_BYTES], int type)
{
    return (vlt_id_hash(id) ^ (size_t)type) & (REPO_PREFETCH_TABLE - 1);
}

/* The slot of v->prefetched_table holding entry i (prefetch_lock
 * held; it is there). */
static size_t prefetched_slot(const vault_t *v, size_t i)
{
    size_t s = prefetched_home(v->prefetched[i].id, v->prefetched[i].type);
    while (v->prefetched_table[s] != i + 1)
        s = (s + 1) & (REPO_PREFETCH_TABLE - 1);
    return s;
}

/* The prefetched entry of id and type, or NULL (prefetch_lock held). */
static prefetched *prefetched_find(const vault_t *v,
                                   const uint8_t id[CHUNK_ID_BYTES],
                                   blob_type type)
{
    if (!v->prefetched_table)
        return NULL;
    for (size_t s = prefetched_home(id, type); v->prefetched_table[s];
         s = (s + 1) & (REPO_PREFETCH_TABLE - 1)) {
        prefetched *p = &v->prefetched[v->prefetched_table[s] - 1];
        if (p->type == type && memcmp(p->id, id, CHUNK_ID_BYTES) == 0)
            return p;
    }
    return NULL;
}

/* A new entry for (id, type), zeroed but for those, or NULL when out of
 * memory (prefetch_lock held; the caller made room). */
static prefetched *prefetched_add(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                                  blob_type type)
{
    if (!v->prefetched_table &&
        !(v->prefetched_table = calloc(REPO_PREFETCH_TABLE,
                                       sizeof *v->prefetched_table)))
        return NULL;
    if (VLT_ARRAY_GROW(&v->prefetched, &v->cap_prefetched,
                       v->n_prefetched + 1) != 0)
        return NULL;
    /* at most REPO_PREFETCH_BLOBS entries: the table stays a quarter full */
    assert(v->n_prefetched < REPO_PREFETCH_BLOBS);
    prefetched *p = &v->prefetched[v->n_prefetched++];
    memset(p, 0, sizeof *p);
    memcpy(p->id, id, CHUNK_ID_BYTES);
    p->type = (uint8_t)type;
    p->added = v->prefetched_added++;
    size_t s = prefetched_home(id, type);
    while (v->prefetched_table[s])
        s = (s + 1) & (REPO_PREFETCH_TABLE - 1);
    v->prefetched_table[s] = (uint32_t)v->n_prefetched;
    return p;
}

/* Removes entry p (prefetch_lock held); its data is the caller's.  The
 * last entry takes its place. */
static void prefetched_remove(vault_t *v, prefetched *p)
{
    const size_t mask = REPO_PREFETCH_TABLE - 1;
    size_t i = (size_t)(p - v->prefetched), last = v->n_prefetched - 1;
    v->prefetched_bytes -= p->held;
    /* out of the table, moving back the entries after it in its run that
     * could not take its slot (linear probing without tombstones) */
    size_t hole = prefetched_slot(v, i);
    for (size_t s = (hole + 1) & mask; v->prefetched_table[s];
         s = (s + 1) & mask) {
        const prefetched *q = &v->prefetched[v->prefetched_table[s] - 1];
        size_t home = prefetched_home(q->id, q->type);
        /* q stays if its home lies cyclically in (hole, s] */
        int stays = hole < s ? home > hole && home <= s
                             : home > hole || home <= s;
        if (!stays) {
            v->prefetched_table[hole] = v->prefetched_table[s];
            hole = s;
        }
    }
    v->prefetched_table[hole] = 0;
    if (i != last) {
        v->prefetched_table[prefetched_slot(v, last)] = (uint32_t)(i + 1);
        v->prefetched[i] = v->prefetched[last];
    }
    v->n_prefetched--;
}

/* Takes blob id of type out of the prefetched ones: 1 (*out, *len its
 * plaintext, now the caller's; or *failed the failure its load met,
 * raised here), or 0 (*failed VAULT_OK).  One still loading is waited
 * for (its prefetch is running on another thread); one only reserved is
 * cancelled. */
static int prefetched_take(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                           blob_type type, uint8_t **out, size_t *len,
                           vault_error *failed)
{
    int found = 0;
    char *detail = NULL;
    uint8_t *sealed = NULL;
    uint32_t pack = 0;
    pack_entry e;
    *failed = VAULT_OK;
    pthread_mutex_lock(&v->prefetch_lock);
    prefetched *p;
    while ((p = prefetched_find(v, id, type)) &&
           p->loading == PREFETCH_LOADING)
        pthread_cond_wait(&v->prefetch_done, &v->prefetch_lock);
    if (p && p->loading == PREFETCH_RESERVED) {
        prefetched_remove(v, p); /* its plan leaves it out */
    } else if (p && p->uses > 1) {
        /* others take it later: a copy (out of memory: loaded alone) */
        p->uses--;
        *failed = p->failed;
        detail = p->detail ? strdup(p->detail) : NULL;
        if (p->failed != VAULT_OK) {
            found = 1;
        } else if ((sealed = malloc(p->held ? p->held : 1)) != NULL) {
            memcpy(sealed, p->data, p->held);
            pack = p->pack;
            e = p->e;
            found = 1;
        }
    } else if (p) {
        sealed = p->data;
        pack = p->pack;
        e = p->e;
        *failed = p->failed;
        detail = p->detail;
        prefetched_remove(v, p);
        found = 1;
    }
    pthread_mutex_unlock(&v->prefetch_lock);
    if (*failed != VAULT_OK)
        *failed = vlt_fail(*failed, "%s", detail ? detail : "load failed");
    free(detail);
    if (sealed) {
        vault_error rc = entry_open(v, pack, &e, sealed, e.length, out);
        if (rc == VAULT_OK) {
            *len = e.raw_len;
        } else if (vlt_error_stops(rc)) {
            *failed = rc;
        } else {
            found = 0; /* loaded again alone: other copies, its error */
        }
    }
    return found;
}

/* Makes room for one more entry of len bytes by dropping loaded ones,
 * oldest first (prefetch_lock held): 1, or 0 if it cannot be had.  A
 * scan per entry dropped: there are at most REPO_PREFETCH_BLOBS, and
 * the newest are the current window's, not used yet. */
static int prefetched_room(vault_t *v, size_t len)
{
    while (v->prefetched_bytes + len > prefetch_bytes_max(v) ||
           v->n_prefetched >= prefetch_blobs_max(v)) {
        prefetched *oldest = NULL;
        for (size_t i = 0; i < v->n_prefetched; i++) {
            prefetched *p = &v->prefetched[i];
            if (!p->loading && (!oldest || p->added < oldest->added))
                oldest = p;
        }
        if (!oldest)
            return 0;
        free(oldest->data);
        free(oldest->detail);
        prefetched_remove(v, oldest);
    }
    return 1;
}

int vlt_repo_prefetch_fits(vault_t *v, uint64_t bytes, size_t blobs)
{
    pthread_mutex_lock(&v->prefetch_lock);
    int fits = v->prefetched_bytes + bytes <= prefetch_bytes_max(v) &&
               v->n_prefetched + blobs <= prefetch_blobs_max(v);
    pthread_mutex_unlock(&v->prefetch_lock);
    return fits;
}

vault_error vlt_repo_peek_tree(vault_t *v, const uint8_t id[CHUNK_ID_BYTES],
                               tree *out)
{
    uint8_t *copy = NULL, *plain = NULL;
    uint32_t pack = 0;
    pack_entry e;
    pthread_mutex_lock(&v->prefetch_lock);
    const prefetched *p = prefetched_find(v, id, BLOB_TREE);
    if (p && p->data && (copy = malloc(p->held ? p->held : 1)) != NULL) {
        memcpy(copy, p->data, p->held);
        pack = p->pack;
        e = p->e;
    }
    pthread_mutex_unlock(&v->prefetch_lock);
    if (!copy)
        return VAULT_E_NOT_FOUND;
    vault_error rc = entry_open(v, pack, &e, copy, e.length, &plain);
    if (rc != VAULT_OK)
        return VAULT_E_NOT_FOUND; /* its user loads it and reports */
    rc = vlt_tree_decode(plain, e.raw_len, out);
    free(plain);
    return rc;
}

void vlt_repo_prefetch_drop(vault_t *v)
{
    for (size_t i = 0; i < v->n_prefetched; i++) {
        free(v->prefetched[i].data);
        free(v->prefetched[i].detail);
    }
    free(v->prefetched);
    free(v->prefetched_table);
    v->prefetched_table = NULL;
    v->prefetched = NULL;
    v->n_prefetched = v->cap_prefetched = v->prefetched_bytes = 0;
}

/* The ranges of one prefetch, shared by its threads. */
typedef struct prefetch_job {
    vault_t *v;
    window_blob *w;
    const uint32_t *order;
    size_t count;
    vault_error rc; /* the range's failure, for blobs with one copy */
    char *detail;   /* its detail, malloc'ed */
    /* Not a range: opens pack number pack (its blobs' users need its key,
     * and its ranges load meanwhile).  A failure is left for those users
     * to meet again and report. */
    int open_only;
    uint32_t pack;
    int large; /* its blobs reach past PACK_OPEN_WHOLE (see pack_open) */
    /* A range from the pack's start, or (split_trailer) the load of its
     * trailer: the two halves of a split open. */
    struct split_open *split;
    int split_trailer;
    const void *plan; /* whose places a range fills */
    blob_type type;
    size_t *pending; /* its prefetch's jobs not yet run (loaders' lock) */
} prefetch_job;

/* A pack opened by two loads of one prefetch, at once: its first range,
 * read from the pack's start (the header is its first bytes), and its
 * trailer, where the index says it ends (pack_open_listed).  Opening it
 * apart would cost a load of the header more, on a link where each
 * request holds one of few connections for a round trip.  The pack is
 * in v->opening from the plan's start, so its users wait; whichever
 * load finishes second verifies header and trailer as pack_open does and
 * keeps the key, or, failing, leaves the pack for its users to open
 * themselves (and report). */
typedef struct split_open {
    uint32_t pack;
    uint64_t end;     /* where the index says its last blob ends */
    uint32_t trailer; /* the trailer's length for the blobs it lists */
    uint8_t header[PACK_HEADER_BYTES];
    uint8_t *tail;    /* trailer and length; NULL: its load failed */
    size_t tail_len;
    int parts;        /* loads finished (prefetch_lock) */
} split_open;

static void split_part_done(vault_t *v, split_open *so)
{
    pthread_mutex_lock(&v->prefetch_lock);
    int last = ++so->parts == 2;
    pthread_mutex_unlock(&v->prefetch_lock);
    if (!last)
        return;
    uint8_t key[SECRET_BYTES];
    if (so->tail && so->tail_len == (size_t)so->trailer + 4 &&
        listed_key(v, so->header, so->tail, so->trailer, key) == VAULT_OK) {
        pack_key_keep(v, so->pack, key);
        sodium_memzero(key, sizeof key);
    }
    free(so->tail);
    so->tail = NULL;
    opening_end(v, so->pack);
}

static void split_trailer_run(prefetch_job *j)
{
    split_open *so = j->split;
    char name[65];
    vlt_hex_encode(vlt_index_pack_id(&j->v->index, so->pack), 32, name);
    if (backend_load(j->v->be, BACKEND_DATA, name, so->end,
                     (size_t)so->trailer + 4, (size_t)so->trailer + 4,
                     &so->tail, &so->tail_len) != VAULT_OK)
        so->tail = NULL;
    split_part_done(j->v, so);
}

/* Fills the places of range j's blobs as soon as it is loaded, so that
 * their files go on while the plan's other ranges load: with the
 * sealed blobs, or its failure (for blobs with no other copy), or gives
 * them up (their users load them alone). */
static void prefetch_fill(prefetch_job *j)
{
    vault_t *v = j->v;
    pthread_mutex_lock(&v->prefetch_lock);
    for (size_t k = 0; k < j->count; k++) {
        window_blob *b = &j->w[j->order[k]];
        prefetched *e = prefetched_find(v, b->e.id, j->type);
        if (!e || e->loading != PREFETCH_LOADING || e->plan != j->plan)
            continue;
        e->loading = 0;
        if (b->plain) {
            e->data = b->plain;
            b->plain = NULL;
        } else if (j->rc != VAULT_OK && !vlt_error_stops(j->rc) &&
                   vlt_index_copies(&v->index, b->e.id, NULL, 0) < 2) {
            e->failed = j->rc;
            e->detail = j->detail ? strdup(j->detail) : NULL;
        } else {
            prefetched_remove(v, e);
        }
    }
    pthread_cond_broadcast(&v->prefetch_done);
    pthread_mutex_unlock(&v->prefetch_lock);
}

static void prefetch_run(void *ctx, void *state, void *arg)
{
    (void)ctx;
    (void)state;
    prefetch_job *j = arg;
    if (j->open_only) {
        char name[65];
        vlt_hex_encode(vlt_index_pack_id(&j->v->index, j->pack), 32, name);
        uint8_t key[SECRET_BYTES];
        /* split opens are remote only; on this machine's disk a loader
         * waits as before (which keeps fewer ranges in memory at once) */
        (void)pack_key_open(j->v, j->pack, name,
                            (j->v->be->is_local ? 0 : PACK_OPEN_NOWAIT) |
                                (j->large ? PACK_OPEN_LARGE : 0),
                            key);
        sodium_memzero(key, sizeof key);
        return;
    }
    if (j->split && j->split_trailer) {
        split_trailer_run(j);
        return;
    }
    if (j->type == BLOB_TREE) {
        /* Trees are in packs of their own, which the local cache keeps:
         * their pack opened first (or by the opener, waited for) puts a
         * good copy there once, which the range then reads. */
        char name[65];
        vlt_hex_encode(vlt_index_pack_id(&j->v->index, j->w[j->order[0]].pack),
                       32, name);
        uint8_t key[SECRET_BYTES];
        (void)pack_key_get(j->v, j->w[j->order[0]].pack, name, key);
        sodium_memzero(key, sizeof key);
    }
    ZSTD_DCtx *dctx = dctx_take(j->v);
    /* A failure leaves its blobs unloaded: those with other copies are
     * loaded again by their users (trying those); the others get this
     * failure, as their own load would have. */
    uint8_t header[PACK_HEADER_BYTES] = {0};
    j->rc = window_load_range(j->v, j->w, j->order, j->count, dctx, 1,
                              j->split ? header : NULL);
    if (j->rc != VAULT_OK)
        j->detail = strdup(vault_last_error());
    dctx_give_back(j->v, dctx);
    if (j->split) {
        /* a failed load leaves it zero: the open then fails, and the
         * pack's users open it themselves */
        memcpy(j->split->header, header, PACK_HEADER_BYTES);
        split_part_done(j->v, j->split);
    }
    prefetch_fill(j);
}

/* A prefetch whose places are taken (vlt_repo_prefetch_plan) and whose
 * loads are still to run. */
struct vlt_prefetch_plan {
    vault_t *v;
    blob_type type;
    window_blob *w;   /* the blobs asked for */
    uint32_t *order;  /* those to load, by pack and offset */
    uint32_t *starts; /* the ranges (window_ranges) */
    prefetch_job *jobs;
    split_open *splits; /* per range at most */
    size_t n, n_ranges;
};

static void plan_free(vlt_prefetch_plan *p)
{
    if (!p)
        return;
    if (p->w)
        for (size_t i = 0; i < p->n; i++)
            free(p->w[i].plain);
    for (size_t r = 0; p->jobs && r < 2 * p->n; r++)
        free(p->jobs[r].detail);
    free(p->w);
    free(p->order);
    free(p->starts);
    free(p->jobs);
    free(p->splits);
    free(p);
}

vlt_prefetch_plan *vlt_repo_prefetch_plan(vault_t *v,
                                          const uint8_t (*ids)[CHUNK_ID_BYTES],
                                          size_t n, blob_type type)
{
    if (n == 0)
        return NULL;
    if (n > REPO_PREFETCH_PLAN_BLOBS)
        n = REPO_PREFETCH_PLAN_BLOBS;
    vlt_prefetch_plan *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->v = v;
    p->type = type;
    p->n = n;
    p->w = calloc(n, sizeof *p->w);
    p->order = calloc(n, sizeof *p->order);
    p->starts = calloc(n + 1, sizeof *p->starts);
    p->jobs = calloc(2 * n, sizeof *p->jobs); /* ranges, packs to open */
    if (!p->w || !p->order || !p->starts || !p->jobs) {
        plan_free(p);
        return NULL;
    }
    window_blob *w = p->w;
    window_locate(v, ids, n, type, w);
    /* only what nobody holds or loads yet, and what fits beside it: each
     * gets a place, reserved (then loading: its users wait for it), and
     * other prefetches leave it alone */
    pthread_mutex_lock(&v->prefetch_lock);
    uint64_t room = prefetch_bytes_max(v) / 2, want = 0;
    size_t wn = n;
    for (size_t i = 0; i < n; i++) {
        if (w[i].how != WINDOW_MERGE)
            continue;
        prefetched *held = prefetched_find(v, ids[i], type);
        if (held) {
            held->uses++; /* one more file takes it */
            w[i].how = WINDOW_ALONE;
            continue;
        }
        size_t cost = w[i].e.length; /* held sealed */
        if (want + cost > room || !prefetched_room(v, cost)) {
            wn = i;
            break;
        }
        prefetched *e = prefetched_add(v, ids[i], type);
        if (!e) {
            wn = i;
            break;
        }
        want += cost;
        e->loading = PREFETCH_RESERVED;
        e->plan = p;
        e->uses = 1;
        e->pack = w[i].pack;
        e->e = w[i].e;
        e->held = cost;
        v->prefetched_bytes += cost;
    }
    pthread_mutex_unlock(&v->prefetch_lock);
    for (size_t i = wn; i < n; i++)
        w[i].how = WINDOW_ALONE; /* no room: not in this plan */
    if (want == 0) {
        plan_free(p);
        return NULL;
    }
    return p;
}

/* Marks the places p reserved as loading: users wait for them from here
 * on.  Those a user cancelled meanwhile (it loads them itself) are left
 * out of p when drop_cancelled. */
static void plan_mark_loading(vlt_prefetch_plan *p, int drop_cancelled)
{
    vault_t *v = p->v;
    pthread_mutex_lock(&v->prefetch_lock);
    for (size_t i = 0; i < p->n; i++) {
        if (p->w[i].how != WINDOW_MERGE)
            continue;
        prefetched *e = prefetched_find(v, p->w[i].e.id, p->type);
        if (e && e->plan == p && e->loading != 0) /* reserved or promised */
            e->loading = PREFETCH_LOADING;
        else if (drop_cancelled)
            p->w[i].how = WINDOW_ALONE;
    }
    pthread_mutex_unlock(&v->prefetch_lock);
}

void vlt_repo_prefetch_promise(vlt_prefetch_plan *p)
{
    if (p)
        plan_mark_loading(p, 0);
}

/* Queues, at the head of p's jobs, the opening of each pack of its
 * ranges that is not open yet: an open is a stat and a load or two in
 * turn, made once here while the ranges load, where each range would
 * otherwise make it before its own load.  Returns the jobs queued. */
static size_t prefetch_open_jobs(vlt_prefetch_plan *p, size_t *first_range)
{
    vault_t *v = p->v;
    size_t n = 0;
    pthread_mutex_lock(&v->pack_key_lock);
    int ready = pack_keys_grow(v) == VAULT_OK;
    for (size_t r = 0; ready && r < p->n_ranges; r++) {
        uint32_t pack = p->w[p->order[p->starts[r]]].pack;
        const pack_entry *last = &p->w[p->order[p->starts[r + 1] - 1]].e;
        int large = (uint64_t)last->offset + last->length > PACK_OPEN_WHOLE;
        /* ranges are in pack order: a pack's come together */
        if (v->pack_key_state[pack] == 0 &&
            (n == 0 || p->jobs[n - 1].pack != pack)) {
            first_range[n] = r;
            p->jobs[n++] = (prefetch_job){.v = v, .open_only = 1,
                                          .pack = pack};
        }
        if (n > 0 && p->jobs[n - 1].pack == pack)
            p->jobs[n - 1].large |= large;
    }
    pthread_mutex_unlock(&v->pack_key_lock);
    return n;
}

/* Turns the opens of packs whose first range starts at their first blob
 * into split opens (split_open): data packs on remote storage that the
 * index lists and nobody opens yet. */
static void prefetch_split_opens(vlt_prefetch_plan *p, size_t n_opens,
                                 const size_t *first_range,
                                 prefetch_job *ranges)
{
    vault_t *v = p->v;
    if (v->be->is_local || p->type != BLOB_DATA || n_opens == 0)
        return;
    p->splits = calloc(n_opens, sizeof *p->splits);
    if (!p->splits)
        return;
    for (size_t i = 0; i < n_opens; i++) {
        prefetch_job *o = &p->jobs[i];
        prefetch_job *range = &ranges[first_range[i]];
        const window_blob *first = &p->w[range->order[0]];
        uint64_t end, trailer;
        uint32_t count;
        if (first->e.offset > PACK_HEADER_BYTES + BLOBS_MERGE_GAP ||
            !pack_listed(v, o->pack, &end, &count) ||
            (trailer = listed_trailer_bytes(end, count)) == 0)
            continue;
        size_t at;
        int mine = 0;
        pthread_mutex_lock(&v->prefetch_lock);
        if (!opening_find(v, o->pack, &at) &&
            v->n_opening < REPO_OPENING_MAX) {
            v->opening[v->n_opening++] = o->pack;
            mine = 1;
        }
        pthread_mutex_unlock(&v->prefetch_lock);
        if (!mine)
            continue;
        split_open *so = &p->splits[i];
        *so = (split_open){.pack = o->pack, .end = end,
                           .trailer = (uint32_t)trailer};
        o->open_only = 0;
        o->split = so;
        o->split_trailer = 1;
        range->split = so;
    }
}

/* A job of the handle's loaders: run, then counted off for the
 * prefetch that waits for it. */
static void loader_run(void *ctx, void *state, void *arg)
{
    vault_t *v = ctx;
    prefetch_job *j = arg;
    prefetch_run(NULL, state, j);
    vlt_pool_lock(v->loaders);
    (*j->pending)--;
    vlt_pool_wake(v->loaders);
    vlt_pool_unlock(v->loaders);
}

/* The handle's loaders: made on a prefetch's first need and kept until
 * vault_close, so that a walk prefetching the trees of each directory
 * does not start and join threads for every one (ls -R of /usr/share:
 * 230 pools, a tenth of its time).  As many as the storage takes
 * requests at once.  NULL: none could start (the caller loads alone). */
static vlt_pool *loaders(vault_t *v)
{
    pthread_mutex_lock(&v->prefetch_lock);
    if (!v->loaders && !v->loaders_failed) {
        unsigned conns = backend_connections(v->be);
        vlt_pool_config cfg = {.threads = conns,
                               .queue_max = 4 * (size_t)conns,
                               .run = loader_run,
                               .ctx = v};
        v->loaders_failed = vlt_pool_create(&cfg, &v->loaders) != VAULT_OK;
    }
    vlt_pool *pool = v->loaders;
    pthread_mutex_unlock(&v->prefetch_lock);
    return pool;
}

void vlt_repo_loaders_stop(vault_t *v)
{
    (void)vlt_pool_finish(v->loaders, 0, VAULT_OK);
    v->loaders = NULL;
}

void vlt_repo_prefetch_load(vlt_prefetch_plan *p)
{
    if (!p)
        return;
    vault_t *v = p->v;
    plan_mark_loading(p, 1);
    p->n_ranges = window_ranges(p->w, p->n, p->order, p->starts);
    size_t *first_range = calloc(p->n_ranges ? p->n_ranges : 1,
                                 sizeof *first_range);
    size_t n_opens = first_range ? prefetch_open_jobs(p, first_range) : 0;
    prefetch_job *ranges = p->jobs + n_opens;
    for (size_t r = 0; r < p->n_ranges; r++)
        ranges[r] = (prefetch_job){.v = v,
                                   .w = p->w,
                                   .order = p->order + p->starts[r],
                                   .count = p->starts[r + 1] - p->starts[r],
                                   .plan = p,
                                   .type = p->type};
    if (first_range)
        prefetch_split_opens(p, n_opens, first_range, ranges);
    free(first_range);
    /* the opens and ranges at once, as many as the storage takes; this
     * thread helps while it waits */
    size_t n_jobs = n_opens + p->n_ranges, pending = 0;
    vlt_pool *pool = n_jobs > 1 && backend_connections(v->be) > 1
                         ? loaders(v)
                         : NULL;
    for (size_t r = 0; r < n_jobs; r++) {
        p->jobs[r].pending = &pending;
        int queued = 0;
        if (pool) {
            vlt_pool_lock(pool);
            queued = vlt_pool_submit_locked(pool, &p->jobs[r], 1) == VAULT_OK;
            pending += queued;
            vlt_pool_unlock(pool);
        }
        if (!queued)
            prefetch_run(NULL, NULL, &p->jobs[r]);
    }
    if (pool)
        vlt_pool_wait(pool, &pending, 0, 1);
    plan_free(p);
}

void vlt_repo_prefetch(vault_t *v, const uint8_t (*ids)[CHUNK_ID_BYTES],
                       size_t n, blob_type type)
{
    vlt_repo_prefetch_load(vlt_repo_prefetch_plan(v, ids, n, type));
}

vault_error vlt_repo_load_blobs(vault_t *v,
                                const uint8_t (*ids)[CHUNK_ID_BYTES],
                                size_t n, blob_type type, blob_sink_fn fn,
                                void *ctx)
{
    size_t cap = n < BLOBS_WINDOW_COUNT ? n : BLOBS_WINDOW_COUNT;
    window_blob *w = calloc(cap ? cap : 1, sizeof *w);
    uint32_t *order = calloc(cap ? cap : 1, sizeof *order);
    uint32_t *starts = calloc(cap + 1, sizeof *starts);
    ZSTD_DCtx *dctx = dctx_take(v);
    vault_error rc = w && order && starts
                         ? VAULT_OK
                         : vlt_fail(VAULT_E_NOMEM, "out of memory");
    uint64_t window_raw =
        v->be->is_local ? BLOBS_WINDOW_RAW_LOCAL : BLOBS_WINDOW_RAW;
    for (size_t at = 0; rc == VAULT_OK && at < n;) {
        /* the window: as many blobs as fit its bounds, at least one */
        size_t wn = n - at < cap ? n - at : cap;
        window_locate(v, ids + at, wn, type, w);
        uint64_t raw = 0;
        for (size_t i = 0; i < wn; i++) {
            if (i > 0 && raw + w[i].len > window_raw) {
                wn = i;
                break;
            }
            if (w[i].how == WINDOW_ZERO)
                continue;
            raw += w[i].len;
            size_t len;
            vault_error failed;
            if (prefetched_take(v, ids[at + i], type, &w[i].plain, &len,
                                &failed))
                w[i].len = len;
            if (failed != VAULT_OK) {
                rc = failed; /* the file fails: its order matters no more */
                break;
            }
        }
        size_t n_ranges = rc == VAULT_OK ? window_ranges(w, wn, order, starts)
                                         : 0;
        for (size_t r = 0; rc == VAULT_OK && r < n_ranges; r++)
            rc = window_load_range(v, w, order + starts[r],
                                   starts[r + 1] - starts[r], dctx, 0, NULL);
        /* handed on in order */
        for (size_t i = 0; rc == VAULT_OK && i < wn; i++) {
            window_blob *b = &w[i];
            uint8_t *alone = NULL;
            const uint8_t *data = b->plain;
            size_t len = b->len;
            if (b->how == WINDOW_ALONE || (b->how == WINDOW_MERGE && !data)) {
                b->how = WINDOW_ALONE;
                rc = vlt_repo_load_blob(v, ids[at + i], type, &alone, &len);
                data = alone;
            }
            if (rc == VAULT_OK)
                rc = fn(ctx, b->how == WINDOW_ZERO ? NULL : data, len);
            free(alone);
        }
        for (size_t i = 0; i < wn; i++) {
            free(w[i].plain);
            w[i].plain = NULL;
        }
        at += wn;
    }
    dctx_give_back(v, dctx);
    free(w);
    free(order);
    free(starts);
    return rc;
}
