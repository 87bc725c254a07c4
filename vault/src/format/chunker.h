/*
 * chunker.h - keyed content-defined chunking (a FastCDC-style gear hash
 * with one mask).  Private to the library.  Format spec: "Chunking".
 *
 * The gear table is derived from a vault secret, so cut points (and so
 * chunk sizes) reveal nothing to whoever lacks it about which known file
 * a pack holds.
 */
#ifndef VAULT_CHUNKER_H
#define VAULT_CHUNKER_H

#include <stddef.h>
#include <stdint.h>

#define CHUNKER_MIN_SIZE (256u * 1024)      /* no cut before this */
#define CHUNKER_AVG_SIZE (1024u * 1024)     /* 2^20: one cut test in AVG */
#define CHUNKER_MAX_SIZE (4u * 1024 * 1024) /* always cut here */
#define CHUNKER_GEAR_KEY_BYTES 32

typedef struct chunker_table {
    uint64_t gear[256]; /* keyed gear values, format spec "Chunking" */
} chunker_table;

/* gear[i] = little-endian 64-bit word i of the ChaCha20 (IETF) keystream
 * under gear_key with an all-zero nonce, counter 0. */
void vlt_chunker_table_init(chunker_table *table,
                            const uint8_t gear_key[CHUNKER_GEAR_KEY_BYTES]);

/*
 * Length of the next chunk starting at buf[0]: the first cut point within
 * buf[0..len).  When no cut point is found and len < CHUNKER_MAX_SIZE,
 * returns 0 if more data may follow (at_eof false: call again with more
 * bytes), or len at the end of the input (at_eof true).  Never returns more
 * than CHUNKER_MAX_SIZE.  Pure: same table and bytes, same answer.
 */
size_t vlt_chunker_next(const chunker_table *table, const uint8_t *buf,
                        size_t len, int at_eof);

#endif
