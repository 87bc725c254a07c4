/*
 * chunker.c - keyed content-defined chunking: a gear hash as in FastCDC
 * (Xia et al., USENIX ATC 2016) with sub-minimum skipping and one mask.
 * Format spec: format-spec/chunking.md; vectors in
 * format-spec/vectors/chunker/.
 *
 * One chunk, offsets relative to its first byte (L = candidate length):
 *
 *   0                MIN                                            MAX
 *   |--- not hashed --|-------------- h & MASK == 0 ----------------|
 *                      L in [MIN+1, MAX]
 *
 *   h = 0 just before offset MIN; for each byte b at offset i >= MIN:
 *       h = (h << 1) + gear[b]          (mod 2^64)
 *   then the chunk is cut with length L = i + 1 if h & MASK == 0.
 *   Without a hit the chunk is cut at MAX, or ends at the end of the
 *   input (the last chunk may be shorter than MIN).
 *
 * Bit k of h depends only on the last k + 1 bytes fed in (each shift
 * pushes older contributions out at the top), so the mask takes the HIGH
 * bits: it then looks at a 45..64-byte window, not at the last few bytes.
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "format/chunker.h"
#include "common/internal.h"

/* The top 20 bits (44..63): a cut is tested with probability 2^-20 per
 * byte.  One mask, not FastCDC's normalized pair: with two masks, whether
 * a hash hit cuts depends on its distance from the chunk start, so after
 * an edit the boundaries take several chunks to fall back in step (a
 * 1 MiB overwrite in a 64 MiB file stored more than 3 new chunks in a
 * quarter of the cases, against 2% with one mask). */
#define CHUNKER_MASK (~UINT64_C(0) << (64 - 20))

void vlt_chunker_table_init(chunker_table *table,
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

size_t vlt_chunker_next(const chunker_table *table, const uint8_t *buf, size_t len,
                        int at_eof)
{
    const uint64_t *gear = table->gear;
    size_t end = len < CHUNKER_MAX_SIZE ? len : CHUNKER_MAX_SIZE;
    uint64_t h = 0;

    /* Each byte costs a load, a shift-add and one predictable branch; the
     * decision at offset i depends only on buf[MIN..i], which is what makes
     * the streaming contract (return 0, caller retries with more) exact. */
    for (size_t i = CHUNKER_MIN_SIZE; i < end; i++) {
        h = (h << 1) + gear[buf[i]];
        if ((h & CHUNKER_MASK) == 0)
            return i + 1;
    }
    if (end == CHUNKER_MAX_SIZE)
        return CHUNKER_MAX_SIZE;
    assert(len < CHUNKER_MAX_SIZE);
    return at_eof ? len : 0;
}
