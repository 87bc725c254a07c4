/*
 * chunker.c - keyed content-defined chunking: FastCDC (Xia et al., USENIX
 * ATC 2016) with sub-minimum skipping and normalized chunking, level 2.
 * Format spec: format-spec/chunking.md; vectors in
 * format-spec/vectors/chunker/.
 *
 * One chunk, offsets relative to its first byte (L = candidate length):
 *
 *   0                MIN                    AVG-1                  MAX
 *   |--- not hashed --|--- h & MASK_S == 0 ---|--- h & MASK_L == 0 ---|
 *                      L in [MIN+1, AVG-1]     L in [AVG, MAX]
 *
 *   h = 0 just before offset MIN; for each byte b at offset i >= MIN:
 *       h = (h << 1) + gear[b]          (mod 2^64)
 *   then the chunk is cut with length L = i + 1 if the mask test for L
 *   holds.  Without a hit the chunk is cut at MAX, or ends at the end of
 *   the input (the last chunk may be shorter than MIN).
 *
 * Bit k of h depends only on the last k + 1 bytes fed in (each shift
 * pushes older contributions out at the top), so the masks take the HIGH
 * bits: they then look at a 43..64-byte window, not at the last few bytes.
 * MASK_S has 22 bits, MASK_L 18: two bits either side of log2(AVG) = 20.
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "chunker.h"
#include "internal.h"

/* Bits 42..63: a hit has probability 2^-22 per byte. */
#define CHUNKER_MASK_S (~UINT64_C(0) << (64 - 22))
/* Bits 46..63: a hit has probability 2^-18 per byte. */
#define CHUNKER_MASK_L (~UINT64_C(0) << (64 - 18))

void chunker_table_init(chunker_table *table,
                        const uint8_t gear_key[CHUNKER_GEAR_KEY_BYTES])
{
    static const uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES];
    uint8_t stream[sizeof table->gear];

    /* The stream's first block uses counter 0. */
    int rc =
        crypto_stream_chacha20_ietf(stream, sizeof stream, nonce, gear_key);
    assert(rc == 0);
    (void)rc;
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(table->gear); i++)
        table->gear[i] = load_le64(stream + 8 * i);
    /* The keystream is as secret as the table derived from it. */
    sodium_memzero(stream, sizeof stream);
}

size_t chunker_next(const chunker_table *table, const uint8_t *buf, size_t len,
                    int at_eof)
{
    const uint64_t *gear = table->gear;
    size_t end = len < CHUNKER_MAX_SIZE ? len : CHUNKER_MAX_SIZE;
    /* Offsets i < small_end give lengths i + 1 < AVG: the strict mask. */
    size_t small_end = end < CHUNKER_AVG_SIZE - 1 ? end : CHUNKER_AVG_SIZE - 1;
    uint64_t h = 0;
    size_t i = CHUNKER_MIN_SIZE;

    /* Each byte costs a load, a shift-add and one predictable branch; the
     * decision at offset i depends only on buf[MIN..i], which is what makes
     * the streaming contract (return 0, caller retries with more) exact. */
    for (; i < small_end; i++) {
        h = (h << 1) + gear[buf[i]];
        if ((h & CHUNKER_MASK_S) == 0)
            return i + 1;
    }
    for (; i < end; i++) {
        h = (h << 1) + gear[buf[i]];
        if ((h & CHUNKER_MASK_L) == 0)
            return i + 1;
    }
    if (end == CHUNKER_MAX_SIZE)
        return CHUNKER_MAX_SIZE;
    assert(len < CHUNKER_MAX_SIZE);
    return at_eof ? len : 0;
}
