/*
 * index_cache.c - the index kept in one file of the client's cache
 * (index_cache.h).
 *
 * File layout (native byte order for the slots, which are mapped as
 * they are; the header says which), all counts in the header:
 *   header   CACHE_HEADER_BYTES (see header_encode)
 *   segments n_segments × 32: the names of the segments it covers, sorted
 *   authors  n_authors × 36: signing key and the flags it was given
 *   packs    n_packs × 32, sorted
 *   slots    n_slots × sizeof(index_slot), sorted by chunk ID
 *   has_data n_packs bytes
 *   fence    n_fence × 8
 *   bloom    bloom_bits / 8
 *   mac      keyed BLAKE2b-256 of header || BLAKE2b-256(everything between)
 * Sections after the authors and the has_data bytes start at multiples
 * of 8.
 */
#define _GNU_SOURCE /* O_TMPFILE, qsort_r */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "repo/index_cache.h"

#define CACHE_MAGIC "VLTIXC01"
#define CACHE_HEADER_BYTES 128
#define CACHE_MAC_BYTES 32
#define CACHE_ENDIAN 0x01020304u
#define CACHE_AUTHOR_BYTES (SIGN_PUBLIC_BYTES + 4)
/* 10 bits and 7 probes a chunk: about 1% of absent IDs pass the filter. */
#define BLOOM_BITS_PER_SLOT 10
#define BLOOM_K 7
/* Slots read from a run at a time while merging. */
#define CURSOR_SLOTS 4096
#define OUT_BUFFER (1u << 20)

static size_t run_slots = INDEX_CACHE_RUN_SLOTS;

void vlt_index_cache_set_run_slots(size_t n)
{
    run_slots = n ? n : INDEX_CACHE_RUN_SLOTS;
}

typedef struct cache_header {
    uint32_t n_epochs;
    uint64_t n_slots, n_packs, n_fence, bloom_bits;
    uint32_t bloom_k, n_authors, n_segments;
    uint8_t bloom_seed[16];
    uint8_t member[SIGN_PUBLIC_BYTES];
} cache_header;

/* Where each section starts. */
typedef struct cache_layout {
    uint64_t segments, authors, packs, slots, has_data, fence, bloom, mac,
        total;
} cache_layout;

struct index_cache {
    uint8_t *map;
    size_t map_len;
    _Atomic uint64_t lookups;
    cache_header h;
    cache_layout l;
    index_base base;
};

static uint64_t align8(uint64_t v)
{
    return (v + 7) & ~(uint64_t)7;
}

static void header_encode(uint8_t p[CACHE_HEADER_BYTES], const cache_header *h)
{
    memset(p, 0, CACHE_HEADER_BYTES);
    memcpy(p, CACHE_MAGIC, 8);
    uint32_t endian = CACHE_ENDIAN;
    memcpy(p + 8, &endian, 4);
    store_le32(p + 12, h->n_epochs);
    store_le64(p + 16, h->n_slots);
    store_le64(p + 24, h->n_packs);
    store_le64(p + 32, h->n_fence);
    store_le64(p + 40, h->bloom_bits);
    store_le32(p + 48, h->bloom_k);
    store_le32(p + 52, h->n_authors);
    store_le32(p + 56, h->n_segments);
    memcpy(p + 64, h->bloom_seed, 16);
    memcpy(p + 80, h->member, SIGN_PUBLIC_BYTES);
}

/* Decodes and bounds a header; the layout follows from it.  0 if it is
 * not one this build wrote. */
static int header_decode(const uint8_t p[CACHE_HEADER_BYTES], cache_header *h,
                         cache_layout *l)
{
    uint32_t endian;
    memcpy(&endian, p + 8, 4);
    if (memcmp(p, CACHE_MAGIC, 8) != 0 || endian != CACHE_ENDIAN)
        return 0;
    h->n_epochs = load_le32(p + 12);
    h->n_slots = load_le64(p + 16);
    h->n_packs = load_le64(p + 24);
    h->n_fence = load_le64(p + 32);
    h->bloom_bits = load_le64(p + 40);
    h->bloom_k = load_le32(p + 48);
    h->n_authors = load_le32(p + 52);
    h->n_segments = load_le32(p + 56);
    memcpy(h->bloom_seed, p + 64, 16);
    memcpy(h->member, p + 80, SIGN_PUBLIC_BYTES);
    /* Bounds that keep every product below far from overflow. */
    if (h->n_slots >= UINT32_MAX || h->n_packs >= UINT32_MAX ||
        h->n_fence != (h->n_slots + INDEX_FENCE_STEP - 1) / INDEX_FENCE_STEP ||
        h->bloom_bits % 64 != 0 || h->bloom_bits > ((uint64_t)1 << 40) ||
        (h->n_slots && !h->bloom_bits) || h->bloom_k < 1 || h->bloom_k > 16)
        return 0;
    uint64_t off = CACHE_HEADER_BYTES;
    l->segments = off;
    off += (uint64_t)h->n_segments * 32;
    l->authors = off;
    off = align8(off + (uint64_t)h->n_authors * CACHE_AUTHOR_BYTES);
    l->packs = off;
    off += h->n_packs * 32;
    l->slots = off;
    off += h->n_slots * sizeof(index_slot);
    l->has_data = off;
    off = align8(off + h->n_packs);
    l->fence = off;
    off += h->n_fence * 8;
    l->bloom = off;
    off += h->bloom_bits / 8;
    l->mac = off;
    l->total = off + CACHE_MAC_BYTES;
    return 1;
}

static void cache_mac_key(const keyring *k, uint8_t key[SECRET_BYTES])
{
    /* this member's own secret: another member sharing the machine's
     * cache folder cannot make a file this member would trust */
    vlt_kdf(key, k->sign_seed, "index cache v1");
}

static void cache_mac(const keyring *k, const uint8_t header[CACHE_HEADER_BYTES],
                      const uint8_t body_hash[32], uint8_t mac[CACHE_MAC_BYTES])
{
    uint8_t key[SECRET_BYTES];
    cache_mac_key(k, key);
    crypto_generichash_state st;
    crypto_generichash_init(&st, key, sizeof key, CACHE_MAC_BYTES);
    crypto_generichash_update(&st, header, CACHE_HEADER_BYTES);
    crypto_generichash_update(&st, body_hash, 32);
    crypto_generichash_final(&st, mac, CACHE_MAC_BYTES);
    sodium_memzero(key, sizeof key);
}

/* Reads the body of an open cache file through a buffer (not the
 * mapping: hashing it must not make every page of it resident) and
 * hashes it. */
static int body_hash_read(int fd, const cache_layout *l, uint8_t out[32])
{
    uint8_t *buf = malloc(OUT_BUFFER);
    if (!buf)
        return 0;
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    uint64_t at = CACHE_HEADER_BYTES;
    int ok = 1;
    while (ok && at < l->mac) {
        size_t want = l->mac - at < OUT_BUFFER ? (size_t)(l->mac - at)
                                                : OUT_BUFFER;
        ok = vlt_pread_all(fd, buf, want, at) == 0;
        if (ok)
            crypto_generichash_update(&st, buf, want);
        at += want;
    }
    crypto_generichash_final(&st, out, 32);
    free(buf);
    return ok;
}


/* Whether fd holds a whole cache file made by member k for its keys now:
 * fills h and l. */
static int cache_file_valid(int fd, const keyring *k, cache_header *h,
                            cache_layout *l)
{
    /* The page cache in small pages: the file may be there in large
     * folios (from its writing, or a sequential read), and a lookup's
     * fault maps a whole folio, up to 2 MiB, for the one slot it needs.
     * Dropped first (clean pages only), then read through once without
     * readahead, so that what is cached is in base pages. */
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    uint8_t header[CACHE_HEADER_BYTES], mac[CACHE_MAC_BYTES], want[32],
        body[32];
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        vlt_pread_all(fd, header, sizeof header, 0) != 0 ||
        !header_decode(header, h, l) || (uint64_t)st.st_size != l->total ||
        l->total > SIZE_MAX ||
        memcmp(h->member, k->sign_pk, SIGN_PUBLIC_BYTES) != 0 ||
        h->n_epochs != k->n_epochs ||
        vlt_pread_all(fd, mac, sizeof mac, l->mac) != 0 ||
        !body_hash_read(fd, l, body))
        return 0;
    cache_mac(k, header, body, want);
    return sodium_memcmp(want, mac, sizeof mac) == 0;
}

/* Drops the slots' pages from this process's memory: they stay in the
 * page cache, and a lookup that needs one again maps it again.  A walk
 * that looks up every chunk of a large snapshot (extract, check) would
 * otherwise keep every page it met resident, the index's size. */
static void cache_trim(void *ctx)
{
    index_cache *c = ctx;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t from = (size_t)c->l.slots & ~(page - 1);
    madvise(c->map + from, (size_t)c->l.has_data - from, MADV_DONTNEED);
}

vault_error vlt_index_cache_open(const char *path, const keyring *k,
                                 index_author_fn author_of, void *author_ctx,
                                 index_cache **out)
{
    *out = NULL;
    if (!k->has_sign_key)
        return VAULT_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return VAULT_OK;
    index_cache *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    if (!cache_file_valid(fd, k, &c->h, &c->l)) {
        close(fd);
        free(c);
        return VAULT_OK;
    }
    c->map_len = (size_t)c->l.total;
    void *map = mmap(NULL, c->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        free(c);
        return VAULT_OK;
    }
    c->map = map;
    /* The flags each author was given must still be what the membership
     * gives it: a member promoted, demoted or removed since changes
     * which copies are trusted. */
    for (uint32_t i = 0; i < c->h.n_authors; i++) {
        const uint8_t *a = c->map + c->l.authors + i * CACHE_AUTHOR_BYTES;
        int flags = author_of ? author_of(author_ctx, a) : 0;
        if ((uint32_t)flags != load_le32(a + SIGN_PUBLIC_BYTES)) {
            vlt_index_cache_close(c);
            return VAULT_OK;
        }
    }
    /* Lookups touch single pages of slots: reading ahead would only
     * fill memory. */
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t slots_page = (size_t)c->l.slots & ~(page - 1);
    madvise(c->map + slots_page, (size_t)c->l.has_data - slots_page,
            MADV_RANDOM);
    index_base *b = &c->base;
    b->slots = (const index_slot *)(c->map + c->l.slots);
    b->n_slots = (size_t)c->h.n_slots;
    b->packs = (const uint8_t(*)[32])(c->map + c->l.packs);
    b->pack_has_data = c->map + c->l.has_data;
    b->n_packs = (size_t)c->h.n_packs;
    b->fence = c->map + c->l.fence;
    b->n_fence = (size_t)c->h.n_fence;
    b->bloom = c->map + c->l.bloom;
    b->bloom_bits = c->h.bloom_bits;
    b->bloom_k = c->h.bloom_k;
    memcpy(b->bloom_seed, c->h.bloom_seed, 16);
    b->trim = cache_trim;
    b->trim_ctx = c;
    b->lookups = &c->lookups;
    *out = c;
    return VAULT_OK;
}

const index_base *vlt_index_cache_base(const index_cache *c)
{
    return &c->base;
}

size_t vlt_index_cache_segments(const index_cache *c)
{
    return c->h.n_segments;
}

void vlt_index_cache_close(index_cache *c)
{
    if (!c)
        return;
    if (c->map)
        munmap(c->map, c->map_len);
    free(c);
}

static int name_decode(const char *name, uint8_t out[32])
{
    return strlen(name) == 64 && vlt_hex_decode(name, 64, out, 32) == VAULT_OK;
}

vault_error vlt_index_cache_diff(const index_cache *c, const name_list *names,
                                 name_list *uncovered, int *stale)
{
    memset(uncovered, 0, sizeof *uncovered);
    const uint8_t *covered = c->map + c->l.segments;
    size_t found = 0;
    for (size_t i = 0; i < names->n; i++) {
        uint8_t id[32];
        size_t lo = 0, hi = c->h.n_segments;
        int hit = 0;
        if (!name_decode(names->names[i], id))
            lo = hi; /* not a segment name: never covered */
        while (!hit && lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int cmp = memcmp(covered + 32 * mid, id, 32);
            hit = cmp == 0;
            if (cmp < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (hit) {
            found++;
            continue;
        }
        if (vlt_name_list_add(uncovered, names->names[i]) != 0) {
            free(uncovered->names);
            memset(uncovered, 0, sizeof *uncovered);
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        }
    }
    /* names are unique, so every covered one was seen iff all are there */
    *stale = found != c->h.n_segments;
    return VAULT_OK;
}

/* --- building ----------------------------------------------------------- */

/* A slot as the builder sorts it: seq is its place in the order the
 * segments were read, which orders copies of one rank as the in-memory
 * index does (the first loaded first). */
typedef struct run_slot {
    index_slot s;
    uint64_t seq;
} run_slot;

/* A sorted run of slots in a temporary file. */
typedef struct run {
    int fd;
    uint64_t n;
} run;

typedef struct builder {
    const keyring *k;
    index_author_fn author_of;
    void *author_ctx;
    char dir[PATH_MAX]; /* where temporary files go */
    int local_failed;   /* a file of the cache could not be written */
    vlt_idset packs;    /* pack ID -> number, in the order met */
    run_slot *buf;
    size_t n_buf;
    run *runs;
    size_t n_runs, cap_runs;
    uint8_t *authors; /* CACHE_AUTHOR_BYTES each */
    size_t n_authors, cap_authors;
    uint8_t (*covered)[32];
    size_t n_covered, cap_covered;
    uint64_t n_entries;
    /* the segment being read */
    const char *name;
    index_segment_info info;
    int flags, flags_known;
} builder;

static int build_rank(const index_slot *s)
{
    return ((s->raw_len & SLOT_TRUSTED) ? 2 : 0) +
           ((s->raw_len & SLOT_OWN) ? 1 : 0);
}

/* By chunk ID, then rank (highest first), then as read. */
static int slot_order(const void *a, const void *b)
{
    const run_slot *x = a, *y = b;
    int c = memcmp(x->s.id, y->s.id, CHUNK_ID_BYTES);
    if (!c)
        c = build_rank(&y->s) - build_rank(&x->s);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}


/* A file for the builder's own use, gone when closed. */
static int temp_file(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    /* a file system without O_TMPFILE */
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/index-run.XXXXXX", dir) >=
        (int)sizeof path)
        return -1;
    fd = mkstemp(path);
    if (fd >= 0)
        unlink(path);
    return fd;
}

/* Sorts the buffered slots and writes them out as a run. */
static vault_error run_flush(builder *b)
{
    qsort(b->buf, b->n_buf, sizeof *b->buf, slot_order);
    if (VLT_ARRAY_GROW(&b->runs, &b->cap_runs, b->n_runs + 1) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    int fd = temp_file(b->dir);
    if (fd < 0 ||
        vlt_write_all(fd, (const uint8_t *)b->buf, b->n_buf * sizeof *b->buf)) {
        if (fd >= 0)
            close(fd);
        b->local_failed = 1;
        return vlt_fail_errno(errno ? errno : EIO, "index cache: %s",
                              b->dir);
    }
    b->runs[b->n_runs].fd = fd;
    b->runs[b->n_runs++].n = b->n_buf;
    b->n_buf = 0;
    return VAULT_OK;
}

static vault_error author_note(builder *b, const uint8_t pk[SIGN_PUBLIC_BYTES],
                               int flags)
{
    for (size_t i = 0; i < b->n_authors; i++)
        if (memcmp(b->authors + i * CACHE_AUTHOR_BYTES, pk,
                   SIGN_PUBLIC_BYTES) == 0)
            return VAULT_OK;
    if (VLT_ARRAY_GROW(&b->authors, &b->cap_authors,
                       (b->n_authors + 1) * CACHE_AUTHOR_BYTES) != 0)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    uint8_t *a = b->authors + b->n_authors++ * CACHE_AUTHOR_BYTES;
    memcpy(a, pk, SIGN_PUBLIC_BYTES);
    store_le32(a + SIGN_PUBLIC_BYTES, (uint32_t)flags);
    return VAULT_OK;
}

static vault_error build_entry(void *ctx, const uint8_t pack_id[32],
                               const pack_entry *e)
{
    builder *b = ctx;
    vault_error rc = VAULT_OK;
    if (!b->flags_known) {
        /* the author is verified before the first entry comes */
        b->flags = b->author_of ? b->author_of(b->author_ctx, b->info.author)
                                : 0;
        b->flags_known = 1;
        if (b->flags >= 0)
            rc = author_note(b, b->info.author, b->flags);
    }
    if (b->flags < 0)
        return vlt_fail(VAULT_E_CORRUPT, "index/%s: forged", b->name);
    uint32_t pack;
    int inserted;
    if (rc == VAULT_OK)
        rc = vlt_idset_put(&b->packs, pack_id, &pack, &inserted);
    if (rc == VAULT_OK && b->n_buf == run_slots)
        rc = run_flush(b);
    if (rc != VAULT_OK)
        return rc;
    run_slot *r = &b->buf[b->n_buf++];
    vlt_index_slot_make(&r->s, e->id, pack, e, (uint32_t)b->flags);
    r->seq = b->n_entries++;
    return VAULT_OK;
}

/* Reads every segment into runs; the covered ones are noted. */
static vault_error build_read(builder *b, backend *be, const name_list *names)
{
    vault_error rc = VAULT_OK;
    for (size_t i = 0; rc == VAULT_OK && i < names->n; i++) {
        uint8_t id[32];
        b->name = names->names[i];
        b->flags_known = 0;
        rc = vlt_index_segment_read(be, b->k, b->name, build_entry, b,
                                    &b->info);
        if (rc == VAULT_E_NOT_FOUND || rc == VAULT_E_CORRUPT ||
            rc == VAULT_E_UNSUPPORTED) {
            /* gone since the listing, damaged or forged: left uncovered,
             * the in-memory load reports it (vlt_index_load_names) */
            if (b->local_failed)
                return rc;
            rc = VAULT_OK;
            continue;
        }
        if (rc != VAULT_OK)
            return rc;
        if (!name_decode(b->name, id))
            continue;
        if (VLT_ARRAY_GROW(&b->covered, &b->cap_covered, b->n_covered + 1))
            return vlt_fail(VAULT_E_NOMEM, "out of memory");
        memcpy(b->covered[b->n_covered++], id, 32);
    }
    return rc;
}

/* A run being merged: a window of its slots. */
typedef struct cursor {
    int fd;           /* -1: the builder's buffer is the run */
    uint64_t left;    /* slots still in the file */
    uint64_t at;      /* file offset */
    run_slot *buf;
    size_t pos, len;
} cursor;

/* The cursor's current slot, or NULL at its end (*failed on error). */
static const run_slot *cursor_head(cursor *c, int *failed)
{
    if (c->pos < c->len)
        return &c->buf[c->pos];
    if (c->fd < 0 || !c->left)
        return NULL;
    size_t n = c->left < CURSOR_SLOTS ? (size_t)c->left : CURSOR_SLOTS;
    if (vlt_pread_all(c->fd, c->buf, n * sizeof *c->buf, c->at) != 0) {
        *failed = 1;
        return NULL;
    }
    c->at += n * sizeof *c->buf;
    c->left -= n;
    c->pos = 0;
    c->len = n;
    return &c->buf[0];
}

/* The output file, written through a buffer, its body hashed. */
typedef struct out_file {
    int fd;
    uint8_t *buf;
    size_t len;
    int failed;
    crypto_generichash_state body;
} out_file;

static void out_write(out_file *o, const void *data, size_t len)
{
    if (!len)
        return; /* data may be NULL then */
    const uint8_t *p = data;
    crypto_generichash_update(&o->body, p, len);
    while (len && !o->failed) {
        size_t n = OUT_BUFFER - o->len < len ? OUT_BUFFER - o->len : len;
        memcpy(o->buf + o->len, p, n);
        o->len += n;
        p += n;
        len -= n;
        if (o->len == OUT_BUFFER) {
            o->failed = vlt_write_all(o->fd, o->buf, o->len);
            o->len = 0;
        }
    }
}

static void out_pad8(out_file *o, uint64_t written)
{
    static const uint8_t zero[8];
    if (written % 8)
        out_write(o, zero, 8 - written % 8);
}

static int pack_id_order(const void *a, const void *b, void *ctx)
{
    const vlt_idset *packs = ctx;
    return memcmp(vlt_idset_id(packs, *(const uint32_t *)a),
                  vlt_idset_id(packs, *(const uint32_t *)b), 32);
}

static int id_order(const void *a, const void *b)
{
    return memcmp(a, b, 32);
}

/* What the merge keeps of one chunk ID's copies. */
typedef struct group {
    run_slot s[INDEX_MAX_COPIES];
    size_t n;
} group;

/* Copies come in slot_order: ranks never rise within a group. */
static void group_add(group *g, const run_slot *r)
{
    for (size_t i = 0; i < g->n; i++)
        if (vlt_index_slot_same_place(&g->s[i].s, &r->s)) {
            g->s[i].s.raw_len |= r->s.raw_len & (SLOT_TRUSTED | SLOT_OWN);
            return;
        }
    /* full: the rest rank no higher than those kept (as the in-memory
     * index keeps the best INDEX_MAX_COPIES, so that a member listing
     * one ID many times cannot crowd out the copies that matter) */
    if (g->n < INDEX_MAX_COPIES)
        g->s[g->n++] = *r;
}

typedef struct merge_out {
    out_file *o;
    uint8_t *has_data;
    uint8_t *fence;
    size_t n_fence, cap_fence;
    uint8_t *bloom;
    uint64_t bloom_bits;
    uint8_t seed[16];
    uint64_t n_slots;
} merge_out;

static vault_error group_emit(merge_out *m, group *g)
{
    if (!g->n)
        return VAULT_OK;
    /* a merged place may rank higher now */
    qsort(g->s, g->n, sizeof g->s[0], slot_order);
    vlt_index_bloom_set(m->bloom, m->bloom_bits, BLOOM_K, m->seed,
                        g->s[0].s.id);
    for (size_t i = 0; i < g->n; i++) {
        index_slot *s = &g->s[i].s;
        s->raw_len &= ~SLOT_ALTS;
        if (m->n_slots % INDEX_FENCE_STEP == 0) {
            if (VLT_ARRAY_GROW(&m->fence, &m->cap_fence,
                               (m->n_fence + 1) * 8) != 0)
                return vlt_fail(VAULT_E_NOMEM, "out of memory");
            store_le64(m->fence + 8 * m->n_fence++,
                       vlt_index_fence_key(s->id));
        }
        if (((s->length_type >> 28) & 3) != BLOB_TREE)
            m->has_data[s->pack] = 1;
        out_write(m->o, s, sizeof *s);
        m->n_slots++;
    }
    g->n = 0;
    return VAULT_OK;
}

/* Merges the runs (and the buffer) into the slots section, renumbering
 * packs by renumber[]. */
static vault_error build_merge(builder *b, merge_out *m, const uint32_t *renumber)
{
    size_t n_cursors = b->n_runs + (b->n_buf ? 1 : 0);
    cursor *cs = calloc(n_cursors ? n_cursors : 1, sizeof *cs);
    if (!cs)
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < b->n_runs && rc == VAULT_OK; i++) {
        cs[i].fd = b->runs[i].fd;
        cs[i].left = b->runs[i].n;
        if (!(cs[i].buf = malloc(CURSOR_SLOTS * sizeof *cs[i].buf)))
            rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    if (b->n_buf) {
        qsort(b->buf, b->n_buf, sizeof *b->buf, slot_order);
        cs[b->n_runs] = (cursor){.fd = -1, .buf = b->buf, .len = b->n_buf};
    }
    group *g = calloc(1, sizeof *g);
    if (!g && rc == VAULT_OK)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    int failed = 0;
    while (rc == VAULT_OK) {
        /* the smallest head (runs are few: a linear scan) */
        const run_slot *best = NULL;
        size_t from = 0;
        for (size_t i = 0; i < n_cursors; i++) {
            const run_slot *h = cursor_head(&cs[i], &failed);
            if (h && (!best || slot_order(h, best) < 0)) {
                best = h;
                from = i;
            }
        }
        if (failed) {
            b->local_failed = 1;
            rc = vlt_fail_errno(errno ? errno : EIO, "index cache: %s",
                                b->dir);
            break;
        }
        if (!best)
            break;
        run_slot r = *best;
        cs[from].pos++;
        r.s.pack = renumber[r.s.pack];
        if (g->n && memcmp(g->s[0].s.id, r.s.id, CHUNK_ID_BYTES) != 0)
            rc = group_emit(m, g);
        group_add(g, &r);
    }
    if (rc == VAULT_OK)
        rc = group_emit(m, g);
    free(g);
    for (size_t i = 0; i < b->n_runs; i++)
        free(cs[i].buf);
    free(cs);
    return rc;
}

/* Writes the file's sections after the readings (build_read). */
static vault_error build_write(builder *b, out_file *o, cache_header *h)
{
    size_t n_packs = b->packs.n;
    uint32_t *order = malloc((n_packs ? n_packs : 1) * sizeof *order);
    uint32_t *renumber = malloc((n_packs ? n_packs : 1) * sizeof *renumber);
    merge_out m = {.o = o};
    m.has_data = calloc(n_packs ? n_packs : 1, 1);
    m.bloom_bits = (b->n_entries * BLOOM_BITS_PER_SLOT + 63) / 64 * 64;
    if (!m.bloom_bits)
        m.bloom_bits = 64;
    m.bloom = calloc(m.bloom_bits / 8, 1);
    vault_error rc = VAULT_OK;
    if (!order || !renumber || !m.has_data || !m.bloom)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK) {
        /* Keyed by this member's secret, so that a member who lists IDs
         * of its choosing cannot aim them at the filter's bits; derived,
         * not drawn, so that building a cache takes nothing from the
         * random stream (the test vectors pin it). */
        uint8_t seed[SECRET_BYTES];
        vlt_kdf(seed, b->k->sign_seed, "index cache bloom");
        memcpy(m.seed, seed, sizeof m.seed);
        sodium_memzero(seed, sizeof seed);
        for (size_t i = 0; i < n_packs; i++)
            order[i] = (uint32_t)i;
        qsort_r(order, n_packs, sizeof *order, pack_id_order, &b->packs);
        for (size_t i = 0; i < n_packs; i++)
            renumber[order[i]] = (uint32_t)i;
        if (b->n_covered)
            qsort(b->covered, b->n_covered, 32, id_order);
        out_write(o, b->covered, b->n_covered * 32);
        out_write(o, b->authors, b->n_authors * CACHE_AUTHOR_BYTES);
        out_pad8(o, b->n_covered * 32 + b->n_authors * CACHE_AUTHOR_BYTES);
        for (size_t i = 0; i < n_packs; i++)
            out_write(o, vlt_idset_id(&b->packs, order[i]), 32);
        rc = build_merge(b, &m, renumber);
    }
    if (rc == VAULT_OK) {
        out_write(o, m.has_data, n_packs);
        out_pad8(o, n_packs);
        out_write(o, m.fence, m.n_fence * 8);
        out_write(o, m.bloom, m.bloom_bits / 8);
        h->n_epochs = b->k->n_epochs;
        h->n_slots = m.n_slots;
        h->n_packs = n_packs;
        h->n_fence = m.n_fence;
        h->bloom_bits = m.bloom_bits;
        h->bloom_k = BLOOM_K;
        h->n_authors = (uint32_t)b->n_authors;
        h->n_segments = (uint32_t)b->n_covered;
        memcpy(h->bloom_seed, m.seed, 16);
        memcpy(h->member, b->k->sign_pk, SIGN_PUBLIC_BYTES);
    }
    free(order);
    free(renumber);
    free(m.has_data);
    free(m.fence);
    free(m.bloom);
    return rc;
}

static void builder_free(builder *b)
{
    vlt_idset_free(&b->packs);
    free(b->buf);
    for (size_t i = 0; i < b->n_runs; i++)
        close(b->runs[i].fd);
    free(b->runs);
    free(b->authors);
    free(b->covered);
}

vault_error vlt_index_cache_build(const char *path, backend *be,
                                  const keyring *k, const name_list *names,
                                  index_author_fn author_of, void *author_ctx)
{
    if (!k->has_sign_key)
        return VAULT_OK;
    builder b = {.k = k, .author_of = author_of, .author_ctx = author_ctx};
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) : 1;
    if (dir_len >= sizeof b.dir)
        return VAULT_OK;
    memcpy(b.dir, slash ? path : ".", dir_len);
    b.dir[dir_len] = '\0';
    vault_error rc = VAULT_OK;
    if (!(b.buf = malloc(run_slots * sizeof *b.buf)))
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    if (rc == VAULT_OK)
        rc = build_read(&b, be, names);
    char tmp[PATH_MAX];
    out_file o = {.fd = -1};
    if (rc == VAULT_OK) {
        if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >=
                (int)sizeof tmp ||
            (o.fd = mkstemp(tmp)) < 0 || !(o.buf = malloc(OUT_BUFFER))) {
            if (o.fd >= 0)
                unlink(tmp);
            b.local_failed = 1;
            rc = vlt_fail(VAULT_E_IO, "index cache: %s", path);
        }
    }
    cache_header h = {0};
    uint8_t header[CACHE_HEADER_BYTES] = {0};
    if (rc == VAULT_OK) {
        crypto_generichash_init(&o.body, NULL, 0, 32);
        /* the header is known last: its place is kept */
        o.failed = vlt_write_all(o.fd, header, sizeof header);
        rc = build_write(&b, &o, &h);
    }
    if (rc == VAULT_OK) {
        uint8_t body[32], mac[CACHE_MAC_BYTES];
        crypto_generichash_final(&o.body, body, sizeof body);
        header_encode(header, &h);
        cache_mac(k, header, body, mac);
        if (!o.failed && o.len)
            o.failed = vlt_write_all(o.fd, o.buf, o.len);
        int failed =
            o.failed || vlt_write_all(o.fd, mac, sizeof mac) ||
            pwrite(o.fd, header, sizeof header, 0) != (ssize_t)sizeof header;
        int e = failed ? (errno ? errno : EIO) : 0;
        if (close(o.fd) != 0 && !failed) {
            failed = 1;
            e = errno;
        }
        o.fd = -1;
        if (!failed && rename(tmp, path) != 0) {
            failed = 1;
            e = errno;
        }
        if (failed) {
            b.local_failed = 1;
            rc = vlt_fail_errno(e, "index cache: %s", path);
        }
    }
    if (o.fd >= 0)
        close(o.fd);
    if (rc != VAULT_OK && o.buf)
        unlink(tmp); /* made, and not renamed */
    free(o.buf);
    builder_free(&b);
    /* The cache only saves work: when its files cannot be written, the
     * index is loaded into memory as it always could be. */
    if (b.local_failed)
        return VAULT_OK;
    return rc;
}
