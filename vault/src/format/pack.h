/*
 * pack.h - packs: many sealed blobs in one immutable object, and the index
 * that maps chunk IDs to where their blobs are.  Private.
 * Format spec: "Packs", "Index segments".
 */
#ifndef VAULT_PACK_H
#define VAULT_PACK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "backend/backend.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "format/authored.h"
#include "format/tree.h"

#define PACK_MAGIC "VAULTPK1"
#define PACK_HEADER_BYTES 44 /* magic | epoch u32 | ephemeral public key */
#define PACK_TARGET_BYTES (16u * 1024 * 1024)
#define PACK_MAX_BYTES (128u * 1024 * 1024)
#define BLOB_OVERHEAD 40 /* nonce 24 + tag 16 */
#define BLOB_MAX_RAW TREE_MAX_BYTES
#define PACK_ENTRY_BYTES 46
#define INDEX_MAGIC "VAULTIX2"
/* The sealed plaintext starts with the author's signing key and its
 * signature of the body (format-spec/format.md §10, §12 (authored objects)). */
#define INDEX_AUTHOR_BYTES AUTHORED_BYTES
#define INDEX_MAX_BYTES (64u * 1024 * 1024)
#define INDEX_SEGMENT_ENTRIES 50000 /* flush a segment past this many */

typedef enum blob_type { BLOB_DATA = 1, BLOB_TREE = 2 } blob_type;
#define BLOB_FLAG_ZSTD 1u

/* One blob's place, as the pack index and the index segments hold it. */
typedef struct pack_entry {
    uint8_t id[CHUNK_ID_BYTES];
    uint8_t type;     /* blob_type */
    uint8_t flags;    /* BLOB_FLAG_* */
    uint32_t offset;  /* of the blob's nonce, from the pack's start */
    uint32_t length;  /* nonce + ciphertext + tag */
    uint32_t raw_len; /* plaintext length after decompression */
} pack_entry;

/* A pack entry's PACK_ENTRY_BYTES bytes on disk (a pack's own index, an
 * index segment); decoding checks what can be checked without the pack
 * and returns 0 for an impossible entry. */
void vlt_pack_entry_encode(uint8_t *p, const pack_entry *e);
int vlt_pack_entry_decode(const uint8_t *p, pack_entry *e);

/* Chunk ID: HMAC-SHA-256(key = chunk_id_key, message = type || data)
 * (format version 2; version 1 used keyed BLAKE2b-256). */
void vlt_chunk_id_compute(const keyring *k, blob_type type, const uint8_t *data,
                          size_t len, uint8_t id[CHUNK_ID_BYTES]);

/* --- writing ------------------------------------------------------------*/
typedef struct pack_writer {
    uint8_t *buf;  /* the pack's bytes from flushed on (all, in memory) */
    size_t len, cap; /* len: the pack's length so far */
    uint32_t epoch;
    uint8_t key[SECRET_BYTES];
    uint8_t header[PACK_HEADER_BYTES]; /* the index's associated data */
    pack_entry *entries;
    size_t n_entries, cap_entries;
    size_t len_saved; /* bytes of the last pack finished */
    /* Written to storage as it is made (begin_staged), else NULL: the
     * first flushed bytes went to stage already, hashed into name. */
    backend *be;
    backend_stage *stage;
    size_t flushed;
    vlt_sha256_stream name;
    int naming; /* name begun and not yet final */
} pack_writer;

vault_error vlt_pack_writer_begin(pack_writer *pw, const keyring *k);
/* As begin, for a pack written to be's storage as it is made (a new
 * object in pieces, backend_ops.stage_begin): the writer then holds about
 * PACK_STAGE_FLUSH bytes instead of the whole pack.  be must be able to
 * (backend_can_stage).  Once sealed, pw->stage is the pack, to be
 * committed under its name (vlt_pack_commit) by whoever takes it. */
#define PACK_STAGE_FLUSH (1u << 20)
vault_error vlt_pack_writer_begin_staged(pack_writer *pw, const keyring *k,
                                         backend *be);
/* Seals stored (compressed or raw) bytes as one blob. */
vault_error vlt_pack_writer_add(pack_writer *pw, blob_type type,
                                const uint8_t id[CHUNK_ID_BYTES], uint8_t flags,
                                const uint8_t *stored, size_t stored_len,
                                uint32_t raw_len);
/* Appends the sealed pack index and saves the pack under the SHA-256 of
 * its bytes; on success *pack_id is that name.  Resets the writer. */
vault_error vlt_pack_writer_finish(pack_writer *pw, backend *be,
                                   uint8_t pack_id[32]);
/* The first half of finish, for a caller that saves the pack elsewhere
 * (add's uploader threads): appends the sealed pack index and names the
 * pack (*pack_id).  The whole pack is then pw->buf[0 .. pw->len) (and
 * len_saved): the caller may take the buffer (setting buf NULL, len and
 * cap 0) or reset len to 0 before the next begin.  A staged pack is then
 * pw->stage, written whole, pw->len bytes: the caller takes it (setting
 * stage NULL) and resets len to 0. */
vault_error vlt_pack_writer_seal(pack_writer *pw, uint8_t pack_id[32]);
/* Saves a pack a pack_writer sealed (fresh nonces: a new name, so a
 * backend need not ask storage first) under its name; one that exists
 * already (the same bytes) counts as saved. */
vault_error vlt_pack_save(backend *be, const uint8_t pack_id[32],
                          const uint8_t *data, size_t len);
/* The same for a staged pack (taken from a sealed writer's stage, which
 * this frees). */
vault_error vlt_pack_commit(backend *be, backend_stage *stage,
                            const uint8_t pack_id[32]);
void vlt_pack_writer_free(pack_writer *pw);

/* --- reading ------------------------------------------------------------*/
/* The pack key from the pack's first PACK_HEADER_BYTES bytes. */
vault_error vlt_pack_key_from_header(const keyring *k, const uint8_t *header,
                                     size_t len, uint8_t key[SECRET_BYTES]);
/* Opens one blob (its bytes as the index locates them), decompresses and
 * checks its chunk ID.  *out is malloc'ed (raw_len bytes).  dctx: a
 * decompression context to reuse, or NULL for a fresh one - making one
 * costs more than decompressing a small blob (18 us against 4 us for
 * 4 KB here), so loops over many blobs pass one. */
vault_error vlt_blob_open(const keyring *k, const uint8_t key[SECRET_BYTES],
                          const pack_entry *e, const uint8_t *blob, size_t len,
                          ZSTD_DCtx *dctx, uint8_t **out);
/* vlt_blob_open of a blob the caller has no more use for: blob is
 * malloc'ed and taken (freed, or returned as *out), and decrypted in
 * place, which spares a copy of it. */
vault_error vlt_blob_open_owned(const keyring *k,
                                const uint8_t key[SECRET_BYTES],
                                const pack_entry *e, uint8_t *blob,
                                size_t len, ZSTD_DCtx *dctx, uint8_t **out);
/* The length of the trailer of a pack of n blobs (without the 4 bytes of
 * its length that end the pack). */
uint64_t vlt_pack_trailer_bytes(uint64_t n);
/* Authenticates a pack's trailer (its sealed own index) against the
 * header: readers check it once per pack so that no byte of a pack goes
 * unauthenticated. */
vault_error vlt_pack_check_trailer(const uint8_t key[SECRET_BYTES],
                                   const uint8_t header[PACK_HEADER_BYTES],
                                   const uint8_t *trailer, size_t trailer_len);
/* Parses and authenticates a whole pack's own index. */
vault_error vlt_pack_read_index(const keyring *k, const uint8_t *pack, size_t len,
                                pack_entry **entries, size_t *n_entries);

/* --- the index ----------------------------------------------------------*/
/* In memory, 48 bytes an entry plus at most 12 for the hash table.  A
 * chunk ID can have several copies (several segments list it: the same
 * content stored twice, or a hostile member's claim): the table maps the
 * ID to its best copy (trusted first, then not condemned, then the
 * opener's own), which carries SLOT_ALTS when others exist; those are
 * slots too, reached through a second, small table (alt_table), so an ID
 * listed once costs nothing more.  The flags live in raw_len's high bits
 * (a raw length is at most BLOB_MAX_RAW, 2^26). */
typedef struct index_slot {
    uint8_t id[CHUNK_ID_BYTES];
    uint32_t pack;    /* vlt_index_pack_id; INDEX_PENDING while stored */
    uint32_t offset;
    uint32_t length_type; /* length | type << 28 | zstd << 30 */
    uint32_t raw_len;     /* raw length | SLOT_* flags */
} index_slot;
#define INDEX_PENDING UINT32_MAX
#define SLOT_RAW_MASK 0x1fffffffu
/* listed by a segment whose author is a current owner or reader, or
 * stored by this handle's member (if it is one) */
#define SLOT_TRUSTED (1u << 29)
/* listed by a segment the opening member wrote, or stored by this handle */
#define SLOT_OWN (1u << 30)
/* the ID has other copies (only on the copy the table points to) */
#define SLOT_ALTS (1u << 31)
/* Copies kept per chunk ID; more from untrusted segments are dropped. */
#define INDEX_MAX_COPIES 8

/* One more copy of a duplicated ID: a slot, and the next copy's alt + 1. */
typedef struct index_alt {
    uint32_t slot;
    uint32_t next;
} index_alt;

/* The bulk of a large index, kept in a file of the client's cache and
 * mapped read-only (repo/index_cache.c): slots sorted by chunk ID (the
 * copies of one ID adjacent, at most INDEX_MAX_COPIES), packs sorted by
 * ID.  A slot's pack number below n_packs is packs[number]; the packs of
 * the in-memory part are numbered after them.  The fence holds the first
 * 8 bytes (big-endian) of every INDEX_FENCE_STEP-th slot's ID, so that a
 * lookup touches one page of slots; the Bloom filter (bloom_bits bits,
 * bloom_k probes keyed by bloom_seed) answers most lookups of IDs that
 * are absent (new data in an add) without touching slots at all. */
#define INDEX_FENCE_STEP 64
typedef struct index_base {
    const index_slot *slots;
    size_t n_slots;
    const uint8_t (*packs)[32];
    const uint8_t *pack_has_data; /* per pack: holds a data blob */
    size_t n_packs;
    const uint8_t *fence; /* n_fence little-endian u64 */
    size_t n_fence;
    const uint8_t *bloom;
    uint64_t bloom_bits;
    unsigned bloom_k;
    uint8_t bloom_seed[16];
    /* Called every INDEX_BASE_TRIM_EVERY lookups that reached the slots
     * (NULL: never): the owner lets go of the pages they touched, so that
     * a walk over a million files does not keep the index resident.  A
     * fault maps up to 16 neighbouring pages too (fault-around), so each
     * lookup may bring 128 KiB back: every 256 lookups bounds that to
     * 32 MiB, where every 64 spent a tenth of a re-add of 10^6 files
     * faulting the same pages in again (18.6 -> 16.4 s, +9 MiB).  Passes
     * over many IDs sort them first (prune). */
    void (*trim)(void *ctx);
    void *trim_ctx;
    _Atomic uint64_t *lookups;
} index_base;
#define INDEX_BASE_TRIM_EVERY 256

typedef struct vault_index {
    index_base base;          /* empty unless attached */
    uint8_t *base_condemned;  /* per base pack, when one is condemned */
    /* the in-memory part: entries of segments the base does not cover,
     * and what this handle stores */
    index_slot *slots;
    size_t n_slots, cap_slots;
    uint32_t *table; /* slot number + 1; 0 empty; power-of-two size */
    size_t table_size;
    index_alt *alts;     /* the other copies of duplicated IDs */
    size_t n_alts, cap_alts;
    uint32_t *alt_table; /* per duplicated ID: its first alt + 1 */
    size_t alt_table_size, n_alt_ids;
    uint8_t (*packs)[32];
    uint8_t *pack_condemned; /* per pack: listed in a prune mark */
    size_t n_packs, cap_packs;
    uint32_t *pack_table; /* pack number + 1, for dedup of pack IDs */
    size_t pack_table_size;
    size_t n_segments;
} vault_index;

void vlt_index_init(vault_index *ix);
/* Frees the in-memory part; the base's mapping belongs to its owner. */
void vlt_index_free(vault_index *ix);
/* Puts base under an empty index (before any pack is numbered). */
vault_error vlt_index_attach_base(vault_index *ix, const index_base *base);
/* Setting id's bits in a base's Bloom filter (the builder,
 * repo/index_cache.c), and id's key in the base's fence (its first 8
 * bytes, big-endian): the builder and the lookups must agree on both. */
uint64_t vlt_index_fence_key(const uint8_t id[CHUNK_ID_BYTES]);
void vlt_index_bloom_set(uint8_t *bloom, uint64_t bits, unsigned k,
                         const uint8_t seed[16],
                         const uint8_t id[CHUNK_ID_BYTES]);
/* Packs the index numbers (base and in-memory), and pack number p's ID. */
size_t vlt_index_n_packs(const vault_index *ix);
const uint8_t *vlt_index_pack_id(const vault_index *ix, uint32_t p);
/* Every copy the index holds, base first: slot i of n_slots_all. */
size_t vlt_index_n_slots_all(const vault_index *ix);
const index_slot *vlt_index_slot_at(const vault_index *ix, size_t i);
/* Lets go of the base's pages this process touched (they stay in the
 * page cache): a pass over every slot calls it now and then, so that it
 * does not make the whole base resident. */
void vlt_index_release(const vault_index *ix);
#define INDEX_RELEASE_EVERY 65536
/* The number i of a slot of ix (vlt_index_slot_at(ix, i) == s). */
size_t vlt_index_slot_number(const vault_index *ix, const index_slot *s);

/* What reading one index segment found out besides its entries. */
typedef struct index_segment_info {
    int skipped; /* sealed in a key epoch the member does not hold */
    /* its author's signing key, verified before any entry is handed on */
    uint8_t author[SIGN_PUBLIC_BYTES];
} index_segment_info;

/* Told about each index segment the loader skips: damaged, junk, or by an
 * author who is not a member (detail: why, naming index/<name>). */
typedef void (*index_report_fn)(void *ctx, const char *name,
                                const char *detail);
/* Standing of a segment's author, as the loader needs it: SLOT_TRUSTED
 * and/or SLOT_OWN, or -1 when the author is not a member (the segment is
 * forged: reported and skipped). */
typedef int (*index_author_fn)(void *ctx,
                               const uint8_t author[SIGN_PUBLIC_BYTES]);

/* Loads and authenticates every index segment the member can read; each
 * entry gets the flags author_of gives its segment's author.  A segment
 * that is damaged or forged is reported (report may be NULL) and skipped:
 * only running out of memory or storage failing stops the load. */
vault_error vlt_index_load(vault_index *ix, backend *be, const keyring *k,
                           index_author_fn author_of, void *author_ctx,
                           index_report_fn report, void *report_ctx);
/* The same over the segments named in names only (the listing is the
 * caller's). */
vault_error vlt_index_load_names(vault_index *ix, backend *be, const keyring *k,
                                 const name_list *names,
                                 index_author_fn author_of, void *author_ctx,
                                 index_report_fn report, void *report_ctx);
/* One entry of an index segment: e is a blob of pack pack_id. */
typedef vault_error (*index_entry_fn)(void *ctx, const uint8_t pack_id[32],
                                      const pack_entry *e);
/* Loads index/<name>, checks its name, authenticates it, verifies its
 * author's signature and parses it in full, and only then fills
 * info->author and calls fn for each of its entries in order (a damaged
 * segment calls fn for none; a non-OK return from fn stops and is
 * returned).  A segment sealed in a key epoch k does not hold is skipped:
 * VAULT_OK with info->skipped set.  info may be NULL.  vlt_index_load is
 * this over every segment; `check` and prune read segments one by one. */
vault_error vlt_index_segment_read(backend *be, const keyring *k,
                                   const char *name, index_entry_fn fn,
                                   void *ctx, index_segment_info *info);
/* The best copy of an ID (see index_slot), or NULL. */
const index_slot *vlt_index_find(const vault_index *ix,
                                 const uint8_t id[CHUNK_ID_BYTES]);
/* Every copy of an ID, best first (trusted, then not condemned, then
 * own): at most max (INDEX_MAX_COPIES is all) go to out; the count of
 * copies is returned (0: not in the index). */
size_t vlt_index_copies(const vault_index *ix, const uint8_t id[CHUNK_ID_BYTES],
                        const index_slot **out, size_t max);
/* Adds a copy (pack_id NULL: a pending request, to be completed by the
 * copy this handle stores) with SLOT_TRUSTED / SLOT_OWN flags.  With
 * pack_id NULL, *inserted tells whether the blob must be stored: it is
 * not when a copy usable for dedup exists (vlt_index_slot_dedup) or a
 * request is pending.  A copy at a place the ID already has merges its
 * flags into that copy. */
vault_error vlt_index_add(vault_index *ix, const uint8_t id[CHUNK_ID_BYTES],
                          const uint8_t *pack_id, const pack_entry *e,
                          uint32_t flags, int *inserted);
void vlt_index_slot_entry(const vault_index *ix, const index_slot *s,
                          pack_entry *e);
/* A slot of copy e of id in pack number pack, with SLOT_TRUSTED/SLOT_OWN
 * flags; and whether two slots say the same place (flags aside). */
void vlt_index_slot_make(index_slot *s, const uint8_t id[CHUNK_ID_BYTES],
                         uint32_t pack, const pack_entry *e, uint32_t flags);
int vlt_index_slot_same_place(const index_slot *a, const index_slot *b);
/* The number (into ix->packs) of a pack the index knows: 1, or 0. */
int vlt_index_pack_find(const vault_index *ix, const uint8_t pack_id[32],
                        uint32_t *number);
/* Marks a pack as condemned by a prune mark: its blobs still read, but
 * adds do not deduplicate against them.  Call before loading entries. */
vault_error vlt_index_condemn_pack(vault_index *ix, const uint8_t pack_id[32]);
int vlt_index_slot_condemned(const vault_index *ix, const index_slot *s);
int vlt_index_slot_trusted(const index_slot *s);
int vlt_index_slot_own(const index_slot *s);
/* Whether an add may reuse this copy instead of storing the blob
 * (format.md §15-15a): pending, or trusted or own, and not condemned.  (Own
 * entries of owners and readers are trusted anyway; a writer's own are
 * usable to it alone, which is what SLOT_OWN says.) */
int vlt_index_slot_dedup(const vault_index *ix, const index_slot *s);
/* Whether some copy of id is usable for dedup. */
int vlt_index_dedup_find(const vault_index *ix,
                         const uint8_t id[CHUNK_ID_BYTES]);

/* An index segment for packs: pack i (pack_ids + 32 i) holds
 * entries[starts[i] .. starts[i+1]).  Signed by k's member (its signing
 * key; VAULT_E_PERMISSION without one) and saved under the SHA-256 of
 * its bytes. */
vault_error vlt_index_segment_save(backend *be, const keyring *k,
                                   const uint8_t *pack_ids, size_t n_packs,
                                   const size_t *starts,
                                   const pack_entry *entries);

/* Verifies that an object's bytes hash to its name (SHA-256). */
vault_error vlt_object_check_name(backend_kind kind, const char *name,
                                  const uint8_t *data, size_t len);
void vlt_object_name(const uint8_t *data, size_t len, char name[65]);

#endif
