/*
 * pack.h - packs: many sealed blobs in one immutable object, and the index
 * that maps chunk IDs to where their blobs are.  Private.
 * Format spec: "Packs", "Index segments".
 */
#ifndef VAULT_PACK_H
#define VAULT_PACK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "backend/backend.h"
#include "crypto/keys.h"
#include "format/tree.h"

#define PACK_MAGIC "VAULTPK1"
#define PACK_HEADER_BYTES 44 /* magic | epoch u32 | ephemeral public key */
#define PACK_TARGET_BYTES (16u * 1024 * 1024)
#define PACK_MAX_BYTES (128u * 1024 * 1024)
#define BLOB_OVERHEAD 40 /* nonce 24 + tag 16 */
#define BLOB_MAX_RAW TREE_MAX_BYTES
#define PACK_ENTRY_BYTES 46
#define INDEX_MAGIC "VAULTIX1"
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

/* Chunk ID: HMAC-SHA-256(key = chunk_id_key, message = type || data)
 * (format version 2; version 1 used keyed BLAKE2b-256). */
void vlt_chunk_id_compute(const keyring *k, blob_type type, const uint8_t *data,
                          size_t len, uint8_t id[CHUNK_ID_BYTES]);

/* --- writing ------------------------------------------------------------*/
typedef struct pack_writer {
    uint8_t *buf;
    size_t len, cap;
    uint32_t epoch;
    uint8_t key[SECRET_BYTES];
    pack_entry *entries;
    size_t n_entries, cap_entries;
    size_t len_saved; /* bytes of the last pack finished */
} pack_writer;

vault_error vlt_pack_writer_begin(pack_writer *pw, const keyring *k);
/* Seals stored (compressed or raw) bytes as one blob. */
vault_error vlt_pack_writer_add(pack_writer *pw, blob_type type,
                                const uint8_t id[CHUNK_ID_BYTES], uint8_t flags,
                                const uint8_t *stored, size_t stored_len,
                                uint32_t raw_len);
/* Appends the sealed pack index and saves the pack under the SHA-256 of
 * its bytes; on success *pack_id is that name.  Resets the writer. */
vault_error vlt_pack_writer_finish(pack_writer *pw, backend *be,
                                   uint8_t pack_id[32]);
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
/* In memory, 48 bytes an entry plus at most 12 for the hash table. */
typedef struct index_slot {
    uint8_t id[CHUNK_ID_BYTES];
    uint32_t pack;    /* into index.packs; INDEX_PENDING while stored */
    uint32_t offset;
    uint32_t length_type; /* length | type << 28 | zstd << 30 */
    uint32_t raw_len;
} index_slot;
#define INDEX_PENDING UINT32_MAX

typedef struct vault_index {
    index_slot *slots;
    size_t n_slots, cap_slots;
    uint32_t *table; /* slot number + 1; 0 empty; power-of-two size */
    size_t table_size;
    uint8_t (*packs)[32];
    uint8_t *pack_condemned; /* per pack: listed in a prune mark */
    size_t n_packs, cap_packs;
    uint32_t *pack_table; /* pack number + 1, for dedup of pack IDs */
    size_t pack_table_size;
    size_t n_segments;
} vault_index;

void vlt_index_init(vault_index *ix);
void vlt_index_free(vault_index *ix);
/* Loads and authenticates every index segment the member can read. */
vault_error vlt_index_load(vault_index *ix, backend *be, const keyring *k);
/* One entry of an index segment: e is a blob of pack pack_id. */
typedef vault_error (*index_entry_fn)(void *ctx, const uint8_t pack_id[32],
                                      const pack_entry *e);
/* Loads index/<name>, checks its name, authenticates and parses it in
 * full, and only then calls fn for each of its entries in order (a
 * damaged segment calls fn for none; a non-OK return from fn stops and is
 * returned).  A segment sealed in a key epoch k does not hold is skipped:
 * VAULT_OK with *skipped set (skipped may be NULL).  vlt_index_load is this
 * over every segment, all or nothing; `check` goes on past damaged ones. */
vault_error vlt_index_segment_read(backend *be, const keyring *k,
                                   const char *name, index_entry_fn fn,
                                   void *ctx, int *skipped);
const index_slot *vlt_index_find(const vault_index *ix,
                                 const uint8_t id[CHUNK_ID_BYTES]);
/* Adds an entry (pack_id NULL: pending, to be completed). If the ID is
 * present already, leaves it - except that an entry in a condemned pack
 * gives way: to an entry in a pack that is not condemned, and to a pending
 * request (the blob is stored anew, *inserted is 1).  *inserted tells
 * whether a pending entry was made. */
vault_error vlt_index_add(vault_index *ix, const uint8_t id[CHUNK_ID_BYTES],
                          const uint8_t *pack_id, const pack_entry *e,
                          int *inserted);
void vlt_index_slot_entry(const vault_index *ix, const index_slot *s,
                          pack_entry *e);
/* Marks a pack as condemned by a prune mark: its blobs still read, but
 * adds do not deduplicate against them.  Call before loading entries. */
vault_error vlt_index_condemn_pack(vault_index *ix, const uint8_t pack_id[32]);
int vlt_index_slot_condemned(const vault_index *ix, const index_slot *s);

/* An index segment for packs: pack i (pack_ids + 32 i) holds
 * entries[starts[i] .. starts[i+1]).  Saved under the SHA-256 of its
 * bytes. */
vault_error vlt_index_segment_save(backend *be, const keyring *k,
                                   const uint8_t *pack_ids, size_t n_packs,
                                   const size_t *starts,
                                   const pack_entry *entries);

/* Verifies that an object's bytes hash to its name (SHA-256). */
vault_error vlt_object_check_name(backend_kind kind, const char *name,
                                  const uint8_t *data, size_t len);
void vlt_object_name(const uint8_t *data, size_t len, char name[65]);

#endif
