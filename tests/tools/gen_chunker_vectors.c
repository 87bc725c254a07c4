/*
 * gen_chunker_vectors.c - writes the chunker test vectors of
 * format-spec/vectors/chunker/ (see the README.md there and
 * format-spec/chunking.md).
 *
 *     gen_chunker_vectors OUTDIR
 *
 * Every input is defined by the spec itself, so the output is reproducible
 * byte for byte; tests/unit/format/test_chunker.c recomputes it and compares.
 *
 * Files written:
 *   gear.txt            256 lines: gear[i] as 16 lower-case hex digits
 *   keystream-16m.txt   one line per chunk: "offset length sha256hex"
 *   zeros-9m.txt        likewise
 *   keystream-100.txt   likewise
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "format/chunker.h"

#define KEYSTREAM_LEN ((size_t)16 * 1024 * 1024)
#define ZEROS_LEN ((size_t)9 * 1024 * 1024)
#define SHORT_LEN ((size_t)100)

/* The gear key of every vector: 32 bytes of 0x42. */
static void vector_gear_key(uint8_t key[CHUNKER_GEAR_KEY_BYTES])
{
    memset(key, 0x42, CHUNKER_GEAR_KEY_BYTES);
}

/* The "keystream" input: ChaCha20-IETF keystream, key 0x00..0x1f, zero
 * nonce, counter 0. */
static void vector_keystream(uint8_t *out, size_t len)
{
    uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
    uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)i;
    if (crypto_stream_chacha20_ietf(out, len, nonce, key) != 0)
        abort();
}

static int write_gear(const char *dir, const chunker_table *table)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/gear.txt", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < 256; i++)
        fprintf(f, "%016" PRIx64 "\n", table->gear[i]);
    if (fclose(f) != 0) {
        fprintf(stderr, "%s: write failed\n", path);
        return -1;
    }
    return 0;
}

/* Chunks the whole of buf and writes one line per chunk. */
static int write_chunks(const char *dir, const char *name,
                        const chunker_table *table, const uint8_t *buf,
                        size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.txt", dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t off = 0, n = 0;
    while (off < len) {
        size_t c = vlt_chunker_next(table, buf + off, len - off, 1);
        if (c == 0 || c > len - off)
            abort();
        uint8_t digest[crypto_hash_sha256_BYTES];
        char hex[2 * sizeof digest + 1];
        crypto_hash_sha256(digest, buf + off, c);
        sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
        fprintf(f, "%zu %zu %s\n", off, c, hex);
        off += c;
        n++;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "%s: write failed\n", path);
        return -1;
    }
    uint8_t digest[crypto_hash_sha256_BYTES];
    char hex[2 * sizeof digest + 1];
    crypto_hash_sha256(digest, buf, len);
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    printf("%s: %zu bytes, sha256 %s, %zu chunks\n", name, len, hex, n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "sodium_init failed\n");
        return 1;
    }
    const char *dir = argv[1];
    uint8_t gear_key[CHUNKER_GEAR_KEY_BYTES];
    chunker_table table;
    vector_gear_key(gear_key);
    vlt_chunker_table_init(&table, gear_key);

    uint8_t *buf = malloc(KEYSTREAM_LEN);
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    int rc = write_gear(dir, &table);
    vector_keystream(buf, KEYSTREAM_LEN);
    if (rc == 0)
        rc = write_chunks(dir, "keystream-16m", &table, buf, KEYSTREAM_LEN);
    if (rc == 0)
        rc = write_chunks(dir, "keystream-100", &table, buf, SHORT_LEN);
    memset(buf, 0, ZEROS_LEN);
    if (rc == 0)
        rc = write_chunks(dir, "zeros-9m", &table, buf, ZEROS_LEN);
    free(buf);
    return rc == 0 ? 0 : 1;
}
