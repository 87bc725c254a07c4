/*
 * test_chunker.c - the keyed FastCDC chunker against its spec
 * (format-spec/chunking.md) and the committed vectors
 * (format-spec/vectors/chunker/, written by tests/tools/gen_chunker_vectors).
 */
#include "test_util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "format/chunker.h"

#define MiB ((size_t)1024 * 1024)
#define VECTOR_DIR VAULT_SOURCE_DIR "/format-spec/vectors/chunker"

/* ---- helpers ---------------------------------------------------------- */

static void table_for_byte(chunker_table *table, uint8_t b)
{
    uint8_t key[CHUNKER_GEAR_KEY_BYTES];
    memset(key, b, sizeof key);
    vlt_chunker_table_init(table, key);
}

/* Reproducible pseudo-random bytes: the same seed, the same buffer. */
static uint8_t *random_buffer(size_t len, uint8_t seed_byte)
{
    uint8_t seed[randombytes_SEEDBYTES];
    memset(seed, seed_byte, sizeof seed);
    uint8_t *buf = malloc(len + 1); /* +1: room for the insertion test */
    assert_non_null(buf);
    randombytes_buf_deterministic(buf, len, seed);
    return buf;
}

/* Cut points of a whole buffer. */
typedef struct cuts {
    size_t *end; /* end offset of chunk k (exclusive), increasing */
    size_t n;    /* number of chunks */
} cuts;

static cuts cut_all(const chunker_table *table, const uint8_t *buf, size_t len)
{
    /* Every chunk but the last is longer than MIN. */
    cuts c = {malloc((len / CHUNKER_MIN_SIZE + 2) * sizeof(size_t)), 0};
    assert_non_null(c.end);
    size_t off = 0;
    while (off < len) {
        size_t l = vlt_chunker_next(table, buf + off, len - off, 1);
        assert_true(l > 0 && l <= len - off);
        off += l;
        c.end[c.n++] = off;
    }
    return c;
}

/* Whether v is among the (sorted) cut ends. */
static int has_end(const cuts *c, size_t v)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->end[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->n && c->end[lo] == v;
}

static uint64_t xorshift64(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* ---- the gear table ---------------------------------------------------- */

/* An anchor independent of libsodium's API use: RFC 8439 A.1 test vector
 * #1, the ChaCha20 block of the all-zero key and nonce at counter 0, begins
 * 76 b8 e0 ad a0 f1 3d 90 40 5d 6a e5 53 86 bd 28. */
static void test_gear_zero_key(void **state)
{
    (void)state;
    chunker_table t;
    table_for_byte(&t, 0);
    assert_int_equal(t.gear[0], UINT64_C(0x903df1a0ade0b876));
    assert_int_equal(t.gear[1], UINT64_C(0x28bd8653e56a5d40));
}

static void test_gear_vector(void **state)
{
    (void)state;
    chunker_table t;
    table_for_byte(&t, 0x42);
    size_t len;
    uint8_t *file = test_read_file(VECTOR_DIR "/gear.txt", &len);
    assert_int_equal(len, 256 * 17);
    for (size_t i = 0; i < 256; i++) {
        char line[18];
        snprintf(line, sizeof line, "%016" PRIx64 "\n", t.gear[i]);
        if (memcmp(file + 17 * i, line, 17) != 0)
            fail_msg("gear.txt line %zu: have %.16s, expected %.16s", i + 1,
                     (const char *)file + 17 * i, line);
    }
    free(file);
}

static void test_keys_differ(void **state)
{
    (void)state;
    chunker_table a, b;
    table_for_byte(&a, 0x42);
    table_for_byte(&b, 0x43);
    assert_memory_not_equal(a.gear, b.gear, sizeof a.gear);

    uint8_t *buf = random_buffer(16 * MiB, 7);
    cuts ca = cut_all(&a, buf, 16 * MiB), cb = cut_all(&b, buf, 16 * MiB);
    size_t common = 0;
    for (size_t k = 0; k + 1 < cb.n; k++) /* the last end is the length */
        common += (size_t)has_end(&ca, cb.end[k]);
    assert_true(ca.n > 4 && cb.n > 4);
    /* A shared cut would be a coincidence (~1 in a million per cut). */
    assert_true(common <= 1);
    free(ca.end);
    free(cb.end);
    free(buf);
}

/* ---- the committed vectors --------------------------------------------- */

/* The inputs of format-spec/vectors/chunker/README.md. */
static uint8_t *vector_input(const char *name, size_t *len)
{
    uint8_t key[crypto_stream_chacha20_ietf_KEYBYTES];
    uint8_t nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {0};
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (uint8_t)i;
    if (strcmp(name, "zeros-9m") == 0) {
        *len = 9 * MiB;
        uint8_t *buf = calloc(1, *len);
        assert_non_null(buf);
        return buf;
    }
    *len = strcmp(name, "keystream-100") == 0 ? 100 : 16 * MiB;
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(crypto_stream_chacha20_ietf(buf, *len, nonce, key), 0);
    return buf;
}

static void check_vector(const char *name, size_t want_chunks)
{
    chunker_table t;
    table_for_byte(&t, 0x42);
    size_t len;
    uint8_t *buf = vector_input(name, &len);
    cuts c = cut_all(&t, buf, len);
    assert_int_equal(c.n, want_chunks);

    /* Render the expected file, then compare line by line. */
    size_t cap = c.n * 100 + 1, used = 0;
    char *text = malloc(cap);
    assert_non_null(text);
    for (size_t k = 0, off = 0; k < c.n; off = c.end[k++]) {
        uint8_t digest[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        crypto_hash_sha256(digest, buf + off, c.end[k] - off);
        sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
        used += (size_t)snprintf(text + used, cap - used, "%zu %zu %s\n", off,
                                 c.end[k] - off, hex);
        assert_true(used < cap);
    }

    char path[512];
    snprintf(path, sizeof path, "%s/%s.txt", VECTOR_DIR, name);
    size_t flen;
    uint8_t *file = test_read_file(path, &flen);
    size_t i = 0, line = 1;
    while (i < used && i < flen && (uint8_t)text[i] == file[i]) {
        if (text[i] == '\n')
            line++;
        i++;
    }
    if (i != used || i != flen)
        fail_msg("%s: line %zu differs from the computed chunking", path, line);
    free(file);
    free(text);
    free(c.end);
    free(buf);
}

static void test_vector_keystream_16m(void **state)
{
    (void)state;
    check_vector("keystream-16m", 18);
}

static void test_vector_zeros_9m(void **state)
{
    (void)state;
    /* No cut in zeros under this key: MAX, MAX, then the 1 MiB rest. */
    check_vector("zeros-9m", 3);
}

static void test_vector_keystream_100(void **state)
{
    (void)state;
    check_vector("keystream-100", 1);
}

/* ---- the interface contract -------------------------------------------- */

static void test_edges(void **state)
{
    (void)state;
    chunker_table t;
    table_for_byte(&t, 0x42);
    uint8_t *zeros = calloc(1, CHUNKER_MAX_SIZE + 4096);
    assert_non_null(zeros);

    assert_int_equal(vlt_chunker_next(&t, zeros, 0, 0), 0);
    assert_int_equal(vlt_chunker_next(&t, zeros, 0, 1), 0);
    assert_int_equal(vlt_chunker_next(&t, zeros, 1, 0), 0);
    assert_int_equal(vlt_chunker_next(&t, zeros, 1, 1), 1);
    assert_int_equal(vlt_chunker_next(&t, zeros, CHUNKER_MIN_SIZE, 0), 0);
    assert_int_equal(vlt_chunker_next(&t, zeros, CHUNKER_MIN_SIZE, 1),
                     CHUNKER_MIN_SIZE);
    /* Zeros never hit under this key (see the zeros-9m vector). */
    assert_int_equal(vlt_chunker_next(&t, zeros, CHUNKER_MAX_SIZE - 1, 0), 0);
    assert_int_equal(vlt_chunker_next(&t, zeros, CHUNKER_MAX_SIZE - 1, 1),
                     CHUNKER_MAX_SIZE - 1);
    assert_int_equal(vlt_chunker_next(&t, zeros, CHUNKER_MAX_SIZE, 0),
                     CHUNKER_MAX_SIZE);
    assert_int_equal(vlt_chunker_next(&t, zeros, CHUNKER_MAX_SIZE + 4096, 0),
                     CHUNKER_MAX_SIZE);
    assert_int_equal(vlt_chunker_next(&t, zeros, CHUNKER_MAX_SIZE + 4096, 1),
                     CHUNKER_MAX_SIZE);
    free(zeros);

    /* On random data a cut is the same whether or not more may follow,
     * and the same when the buffer ends right after it. */
    uint8_t *buf = random_buffer(8 * MiB, 3);
    size_t a = vlt_chunker_next(&t, buf, 8 * MiB, 0);
    assert_true(a > CHUNKER_MIN_SIZE && a <= CHUNKER_MAX_SIZE);
    assert_int_equal(vlt_chunker_next(&t, buf, 8 * MiB, 1), a);
    assert_int_equal(vlt_chunker_next(&t, buf, a, 0), a);
    assert_int_equal(vlt_chunker_next(&t, buf, a - 1, 0), 0);
    assert_int_equal(vlt_chunker_next(&t, buf, a - 1, 1), a - 1);
    free(buf);
}

/* A caller that receives the input in pieces of 1..caps[k] bytes (k
 * random) and keeps only the unconsumed tail must find the same chunks as
 * a whole-buffer pass. */
static void check_streaming(size_t total, uint8_t seed, const size_t caps[8])
{
    chunker_table t;
    table_for_byte(&t, 0x42);
    uint8_t *buf = random_buffer(total, seed);
    cuts whole = cut_all(&t, buf, total);

    uint64_t rng = 0x9e3779b97f4a7c15u ^ seed;
    size_t start = 0, avail = 0, n = 0, calls = 0;
    while (start < total) {
        int eof = avail == total;
        /* A private copy of exactly the visible bytes, so that ASan sees
         * any read past them. */
        size_t vis = avail - start;
        uint8_t *win = malloc(vis ? vis : 1);
        assert_non_null(win);
        memcpy(win, buf + start, vis);
        size_t l = vlt_chunker_next(&t, win, vis, eof);
        free(win);
        calls++;
        if (l == 0) {
            assert_false(eof);
            uint64_t r = xorshift64(&rng);
            size_t piece = 1 + (size_t)(r >> 8) % caps[r & 7];
            avail = piece > total - avail ? total : avail + piece;
            continue;
        }
        assert_true(l <= vis);
        start += l;
        assert_true(n < whole.n);
        assert_int_equal(start, whole.end[n]);
        n++;
    }
    assert_int_equal(n, whole.n);
    print_message("%zu chunks found in %zu calls\n", n, calls);
    assert_true(calls >= 2 * n); /* the pieces really were split */
    free(whole.end);
    free(buf);
}

static void test_streaming_mixed(void **state)
{
    (void)state;
    /* Mostly smaller than a chunk, sometimes larger than MAX. */
    static const size_t caps[8] = {4096,    4096, 65536, 65536,
                                   MiB / 2, MiB,  MiB,   6 * MiB};
    check_streaming(24 * MiB, 11, caps);
}

static void test_streaming_small(void **state)
{
    (void)state;
    static const size_t caps[8] = {1, 7, 512, 4096, 4096, 65536, 65536, 65536};
    check_streaming(6 * MiB, 13, caps);
}

/* ---- statistics -------------------------------------------------------- */

static void test_bounds_and_average(void **state)
{
    (void)state;
    chunker_table t;
    table_for_byte(&t, 0x42);
    const size_t total = 64 * MiB;
    uint8_t *buf = random_buffer(total, 5);
    cuts c = cut_all(&t, buf, total);
    size_t prev = 0, shortest = SIZE_MAX, longest = 0;
    for (size_t k = 0; k < c.n; k++) {
        size_t l = c.end[k] - prev;
        assert_true(l <= CHUNKER_MAX_SIZE);
        if (k + 1 < c.n) {
            assert_true(l > CHUNKER_MIN_SIZE);
            shortest = l < shortest ? l : shortest;
        }
        longest = l > longest ? l : longest;
        prev = c.end[k];
    }
    assert_int_equal(prev, total);
    double avg = (double)total / (double)c.n / (double)MiB;
    print_message("64 MiB random: %zu chunks, mean %.3f MiB, "
                  "shortest %zu, longest %zu\n",
                  c.n, avg, shortest, longest);
    assert_true(avg >= 0.6 && avg <= 1.6);
    free(c.end);
    free(buf);
}

/* Inserting one byte at `at` keeps every cut before the insertion and,
 * after resynchronising within a chunk or two, every later cut moved by
 * one. */
static void check_insertion(size_t at)
{
    chunker_table t;
    table_for_byte(&t, 0x42);
    const size_t len = 16 * MiB;
    uint8_t *a = random_buffer(len, 9);
    uint8_t *b = malloc(len + 1);
    assert_non_null(b);
    memcpy(b, a, at);
    b[at] = 0x5a;
    memcpy(b + at + 1, a + at, len - at);

    cuts ca = cut_all(&t, a, len), cb = cut_all(&t, b, len + 1);
    size_t before = 0, after = 0, kept = 0;
    for (size_t k = 0; k + 1 < ca.n; k++) {
        if (ca.end[k] <= at) {
            before++;
            assert_true(has_end(&cb, ca.end[k]));
        } else {
            after++;
            kept += (size_t)has_end(&cb, ca.end[k] + 1);
        }
    }
    print_message("insert at %zu: %zu of %zu later cuts kept\n", at, kept,
                  after);
    assert_true(after >= 8);
    assert_true(kept + 2 >= after);
    free(ca.end);
    free(cb.end);
    free(a);
    free(b);
}

static void test_insertion_near_start(void **state)
{
    (void)state;
    check_insertion(1000);
}

static void test_insertion_in_middle(void **state)
{
    (void)state;
    check_insertion(5 * MiB + 12345);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gear_zero_key),
        cmocka_unit_test(test_gear_vector),
        cmocka_unit_test(test_keys_differ),
        cmocka_unit_test(test_vector_keystream_16m),
        cmocka_unit_test(test_vector_zeros_9m),
        cmocka_unit_test(test_vector_keystream_100),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_streaming_mixed),
        cmocka_unit_test(test_streaming_small),
        cmocka_unit_test(test_bounds_and_average),
        cmocka_unit_test(test_insertion_near_start),
        cmocka_unit_test(test_insertion_in_middle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
