/*
 * test_backend.c - one conformance suite that every storage backend
 * passes (local directory, memory, fault-injection wrapper with no
 * fault), then what only the local backend (file system layout, modes,
 * litter) and the fault-injection wrapper (fail the Nth operation) do.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "test_util.h"

#include "backend/backend.h"
#include "backend_testing.h"
#include "common/internal.h"

/* ------------------------------------------------------------------------
 * Helpers
 */

typedef enum be_type { BE_LOCAL, BE_MEMORY, BE_FAULTY } be_type;

typedef struct fixture {
    be_type type;         /* which backend be is */
    char *tmp;            /* a fresh temporary directory (every type) */
    char vault[PATH_MAX]; /* tmp/vault, the local backend's root */
    backend *be;          /* the backend under test */
} fixture;

/* A well-formed name, different for every i, spread over the shards. */
static void name_for(unsigned i, char out[VAULT_NAME_HEX + 1])
{
    uint8_t h[32];
    uint8_t in[4];
    store_le32(in, i);
    crypto_generichash(h, sizeof h, in, sizeof in, NULL, 0);
    vlt_hex_encode(h, sizeof h, out);
}

/* As name_for, starting with the two hex digits of prefix. */
static void name_with_prefix(const char *prefix, unsigned i,
                             char out[VAULT_NAME_HEX + 1])
{
    name_for(i, out);
    out[0] = prefix[0];
    out[1] = prefix[1];
}

/* Deterministic bytes, different for every seed. */
static uint8_t *make_data(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len ? len : 1);
    assert_non_null(p);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

#define assert_detail_has(text)                                                \
    do {                                                                       \
        if (!strstr(vault_last_error(), (text)))                               \
            fail_msg("detail \"%s\" lacks \"%s\"", vault_last_error(),         \
                     (text));                                                  \
    } while (0)

/* Loads a whole object and compares it with want. */
static void assert_object(backend *be, backend_kind kind, const char *name,
                          const uint8_t *want, size_t want_len)
{
    uint8_t *got = NULL;
    size_t got_len = 0;
    assert_vault_ok(
        backend_load(be, kind, name, 0, 0, SIZE_MAX, &got, &got_len));
    assert_non_null(got);
    assert_int_equal(got_len, want_len);
    if (want_len)
        assert_memory_equal(got, want, want_len);
    free(got);
}

static int setup_type(void **state, be_type type)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->type = type;
    fx->tmp = test_tempdir();
    snprintf(fx->vault, sizeof fx->vault, "%s/vault", fx->tmp);
    if (type == BE_LOCAL) {
        assert_vault_ok(vlt_backend_local_open(fx->vault, 1, &fx->be));
    } else {
        assert_vault_ok(vlt_backend_memory_open(&fx->be));
        if (type == BE_FAULTY)
            assert_vault_ok(
                vlt_backend_faulty_open(fx->be, 0, VAULT_E_IO, 0, &fx->be));
    }
    *state = fx;
    return 0;
}

static int setup_local(void **state)
{
    return setup_type(state, BE_LOCAL);
}
static int setup_memory(void **state)
{
    return setup_type(state, BE_MEMORY);
}
static int setup_faulty(void **state)
{
    return setup_type(state, BE_FAULTY);
}

static int teardown(void **state)
{
    fixture *fx = *state;
    backend_close(fx->be);
    test_rmtree(fx->tmp);
    free(fx);
    return 0;
}

/* A list callback that records what it sees and can stop the listing. */
#define COLLECT_MAX 600
typedef struct collected {
    char names[COLLECT_MAX][VAULT_NAME_HEX + 1]; /* names seen */
    uint64_t sizes[COLLECT_MAX];                 /* their sizes */
    size_t calls;                                /* times fn ran */
    size_t stop_at; /* return stop_value on this call (1-based); 0: never */
    int stop_value;
} collected;

static int collect_fn(void *ctx, const char *name, uint64_t size)
{
    collected *c = ctx;
    if (c->calls < COLLECT_MAX) {
        snprintf(c->names[c->calls], sizeof c->names[0], "%s", name);
        c->sizes[c->calls] = size;
    }
    c->calls++;
    return c->calls == c->stop_at ? c->stop_value : 0;
}

static collected *collect(backend *be, backend_kind kind)
{
    collected *c = calloc(1, sizeof *c);
    assert_non_null(c);
    int stopped = -1;
    assert_vault_ok(backend_list(be, kind, collect_fn, c, &stopped));
    assert_int_equal(stopped, 0);
    assert_true(c->calls <= COLLECT_MAX);
    return c;
}

/* Index of name in c, or -1. */
static long collected_find(const collected *c, const char *name)
{
    for (size_t i = 0; i < c->calls && i < COLLECT_MAX; i++)
        if (strcmp(c->names[i], name) == 0)
            return (long)i;
    return -1;
}

static const backend_kind named_kinds[] = {BACKEND_KEYS, BACKEND_DATA,
                                           BACKEND_INDEX, BACKEND_SNAPSHOTS,
                                           BACKEND_LOCKS};

/* ------------------------------------------------------------------------
 * Shared helpers in backend.c
 */

static void test_kind_names(void **state)
{
    (void)state;
    assert_string_equal(vlt_backend_kind_name(BACKEND_CONFIG), "config");
    assert_string_equal(vlt_backend_kind_name(BACKEND_KEYS), "keys");
    assert_string_equal(vlt_backend_kind_name(BACKEND_DATA), "data");
    assert_string_equal(vlt_backend_kind_name(BACKEND_INDEX), "index");
    assert_string_equal(vlt_backend_kind_name(BACKEND_SNAPSHOTS), "snapshots");
    assert_string_equal(vlt_backend_kind_name(BACKEND_LOCKS), "locks");
    assert_null(vlt_backend_kind_name((backend_kind)BACKEND_KIND_COUNT));
    assert_null(vlt_backend_kind_name((backend_kind)-1));
}

static void test_name_valid(void **state)
{
    (void)state;
    char name[VAULT_NAME_HEX + 2];
    memset(name, 'a', VAULT_NAME_HEX);
    name[VAULT_NAME_HEX] = '\0';
    assert_true(vlt_backend_name_valid(name));
    assert_true(vlt_backend_name_valid(
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(vlt_backend_name_valid(NULL));
    assert_false(vlt_backend_name_valid(""));
    assert_false(vlt_backend_name_valid("."));
    assert_false(vlt_backend_name_valid(".."));
    /* One character off each edge of the two hex ranges. */
    const char bad[] = {'/', ':', '`', 'g', 'A', 'F', ' ', '\n', '.', '-'};
    for (size_t i = 0; i < sizeof bad; i++) {
        for (size_t at = 0; at < VAULT_NAME_HEX; at += 63) {
            memset(name, 'a', VAULT_NAME_HEX);
            name[VAULT_NAME_HEX] = '\0';
            name[at] = bad[i];
            assert_false(vlt_backend_name_valid(name));
        }
    }
    memset(name, 'a', VAULT_NAME_HEX + 1);
    name[VAULT_NAME_HEX + 1] = '\0'; /* 65 */
    assert_false(vlt_backend_name_valid(name));
    name[VAULT_NAME_HEX - 1] = '\0'; /* 63 */
    assert_false(vlt_backend_name_valid(name));
    memset(name, 'a', VAULT_NAME_HEX);
    name[VAULT_NAME_HEX] = '\n'; /* trailing newline */
    name[VAULT_NAME_HEX + 1] = '\0';
    assert_false(vlt_backend_name_valid(name));
}

static void test_label_and_range(void **state)
{
    (void)state;
    char name[VAULT_NAME_HEX + 1], label[BACKEND_LABEL_MAX], want[100];
    name_with_prefix("3f", 1, name);
    vlt_backend_label(BACKEND_DATA, name, label);
    snprintf(want, sizeof want, "data/3f/%s", name);
    assert_string_equal(label, want);
    vlt_backend_label(BACKEND_SNAPSHOTS, name, label);
    snprintf(want, sizeof want, "snapshots/%s", name);
    assert_string_equal(label, want);
    vlt_backend_label(BACKEND_CONFIG, "", label);
    assert_string_equal(label, "config");

    size_t n = 99;
    assert_vault_ok(vlt_backend_check_range("x", 10, 0, 0, 10, &n));
    assert_int_equal(n, 10);
    assert_vault_ok(vlt_backend_check_range("x", 10, 10, 0, 0, &n));
    assert_int_equal(n, 0);
    assert_vault_ok(vlt_backend_check_range("x", 10, 3, 7, 7, &n));
    assert_int_equal(n, 7);
    /* No wrap-around of offset + len. */
    assert_vault_code(vlt_backend_check_range("x", 10, UINT64_MAX, 1, 10, &n),
                      VAULT_E_CORRUPT);
    assert_int_equal(n, 0);
    assert_vault_code(vlt_backend_check_range("x", 10, 1, SIZE_MAX, SIZE_MAX, &n),
                      VAULT_E_CORRUPT);
    assert_vault_code(vlt_backend_check_range("x", 10, 11, 0, 10, &n),
                      VAULT_E_CORRUPT);
    assert_vault_code(vlt_backend_check_range("obj", 10, 0, 0, 9, &n),
                      VAULT_E_CORRUPT);
    assert_detail_has("obj: 10 bytes to load, more than the limit of 9");

    assert_vault_code(vlt_backend_check((backend_kind)9, name), VAULT_E_INVALID);
    assert_detail_has("unknown object kind 9");
    assert_vault_code(vlt_backend_check(BACKEND_KEYS, NULL), VAULT_E_INVALID);
    assert_detail_has("keys: no object name");
}

/* ------------------------------------------------------------------------
 * The conformance suite: every backend.
 */

static void test_roundtrip_every_kind(void **state)
{
    fixture *fx = *state;
    for (int k = 0; k < BACKEND_KIND_COUNT; k++) {
        char name[VAULT_NAME_HEX + 1] = "";
        if (k != BACKEND_CONFIG)
            name_for((unsigned)k, name);
        size_t len = 1000 + (size_t)k * 37;
        uint8_t *data = make_data(len, (unsigned)k);
        assert_vault_ok(backend_save(fx->be, (backend_kind)k, name, data, len));
        assert_object(fx->be, (backend_kind)k, name, data, len);
        uint64_t size = 0;
        assert_vault_ok(backend_stat(fx->be, (backend_kind)k, name, &size));
        assert_int_equal(size, len);
        free(data);
    }
    /* Kinds are separate name spaces. */
    char name[VAULT_NAME_HEX + 1];
    name_for(BACKEND_KEYS, name);
    uint64_t size;
    assert_vault_code(backend_stat(fx->be, BACKEND_INDEX, name, &size),
                      VAULT_E_NOT_FOUND);
}

static void test_load_ranges(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1];
    name_for(7, name);
    uint8_t *data = make_data(1000, 7);
    assert_vault_ok(backend_save(fx->be, BACKEND_DATA, name, data, 1000));

    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_vault_ok(
        backend_load(fx->be, BACKEND_DATA, name, 10, 20, 20, &out, &out_len));
    assert_int_equal(out_len, 20);
    assert_memory_equal(out, data + 10, 20);
    free(out);

    /* len 0: to the end. */
    assert_vault_ok(
        backend_load(fx->be, BACKEND_DATA, name, 990, 0, 10, &out, &out_len));
    assert_int_equal(out_len, 10);
    assert_memory_equal(out, data + 990, 10);
    free(out);

    /* At the very end: nothing, but a buffer all the same. */
    assert_vault_ok(
        backend_load(fx->be, BACKEND_DATA, name, 1000, 0, 0, &out, &out_len));
    assert_non_null(out);
    assert_int_equal(out_len, 0);
    free(out);

    assert_vault_ok(backend_load(fx->be, BACKEND_DATA, name, 0, 1000, 1000,
                                 &out, &out_len));
    assert_int_equal(out_len, 1000);
    assert_memory_equal(out, data, 1000);
    free(out);

    /* Past the end: the vault claims more than the object holds. */
    const struct {
        uint64_t offset;
        size_t len;
    } bad[] = {{1, 1000},       {999, 2},        {1001, 0},    {1000, 1},
               {UINT64_MAX, 1}, {UINT64_MAX, 0}, {0, SIZE_MAX}};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
        out = (uint8_t *)"sentinel";
        out_len = 77;
        assert_vault_code(backend_load(fx->be, BACKEND_DATA, name,
                                       bad[i].offset, bad[i].len, SIZE_MAX,
                                       &out, &out_len),
                          VAULT_E_CORRUPT);
        assert_null(out);
        assert_int_equal(out_len, 0);
        assert_detail_has(name);
        assert_detail_has("past the end");
    }
    free(data);
}

static void test_load_max_len(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1];
    name_for(8, name);
    uint8_t *data = make_data(1000, 8);
    assert_vault_ok(backend_save(fx->be, BACKEND_INDEX, name, data, 1000));
    uint8_t *out = NULL;
    size_t out_len = 0;

    /* Whole object, one byte over the limit. */
    out = (uint8_t *)"sentinel";
    assert_vault_code(
        backend_load(fx->be, BACKEND_INDEX, name, 0, 0, 999, &out, &out_len),
        VAULT_E_CORRUPT);
    assert_null(out);
    assert_detail_has(name);
    assert_detail_has("limit of 999");
    /* An explicit range over the limit. */
    assert_vault_code(
        backend_load(fx->be, BACKEND_INDEX, name, 100, 11, 10, &out, &out_len),
        VAULT_E_CORRUPT);
    assert_null(out);
    /* The rest of the object, over the limit. */
    assert_vault_code(
        backend_load(fx->be, BACKEND_INDEX, name, 500, 0, 499, &out, &out_len),
        VAULT_E_CORRUPT);
    /* At the limit is fine. */
    assert_vault_ok(
        backend_load(fx->be, BACKEND_INDEX, name, 0, 0, 1000, &out, &out_len));
    free(out);
    assert_vault_ok(
        backend_load(fx->be, BACKEND_INDEX, name, 100, 10, 10, &out, &out_len));
    assert_memory_equal(out, data + 100, 10);
    free(out);
    assert_vault_ok(
        backend_load(fx->be, BACKEND_INDEX, name, 500, 0, 500, &out, &out_len));
    assert_int_equal(out_len, 500);
    free(out);
    free(data);
}

static void test_missing_object(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1];
    name_for(9, name);
    for (int k = 0; k < BACKEND_KIND_COUNT; k++) {
        const char *nm = k == BACKEND_CONFIG ? "" : name;
        uint8_t *out = (uint8_t *)"sentinel";
        size_t out_len = 5;
        uint64_t size = 5;
        assert_vault_code(backend_load(fx->be, (backend_kind)k, nm, 0, 0,
                                       SIZE_MAX, &out, &out_len),
                          VAULT_E_NOT_FOUND);
        assert_null(out);
        assert_int_equal(out_len, 0);
        assert_detail_has(k == BACKEND_CONFIG ? "config" : name);
        assert_vault_code(backend_stat(fx->be, (backend_kind)k, nm, &size),
                          VAULT_E_NOT_FOUND);
        assert_detail_has(vlt_backend_kind_name((backend_kind)k));
        assert_vault_code(backend_remove(fx->be, (backend_kind)k, nm),
                          VAULT_E_NOT_FOUND);
        assert_detail_has(k == BACKEND_CONFIG ? "config" : name);
    }
}

static void test_save_twice(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1];
    name_for(10, name);
    const uint8_t first[] = "first content";
    const uint8_t second[] = "second, longer content";
    for (int k = 0; k < BACKEND_KIND_COUNT; k++) {
        const char *nm = k == BACKEND_CONFIG ? "" : name;
        assert_vault_ok(
            backend_save(fx->be, (backend_kind)k, nm, first, sizeof first));
        assert_vault_code(
            backend_save(fx->be, (backend_kind)k, nm, second, sizeof second),
            VAULT_E_EXISTS);
        assert_detail_has(k == BACKEND_CONFIG ? "config" : name);
        assert_vault_code(backend_save(fx->be, (backend_kind)k, nm, NULL, 0),
                          VAULT_E_EXISTS);
        assert_object(fx->be, (backend_kind)k, nm, first, sizeof first);
    }
}

static void test_stat_sizes(void **state)
{
    fixture *fx = *state;
    const size_t sizes[] = {0, 1, 2, 4095, 4096, 4097, 100000};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(sizes); i++) {
        char name[VAULT_NAME_HEX + 1];
        name_for(100 + (unsigned)i, name);
        uint8_t *data = make_data(sizes[i], (unsigned)i);
        assert_vault_ok(
            backend_save(fx->be, BACKEND_SNAPSHOTS, name, data, sizes[i]));
        free(data);
    }
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(sizes); i++) {
        char name[VAULT_NAME_HEX + 1];
        name_for(100 + (unsigned)i, name);
        uint64_t size = 12345;
        assert_vault_ok(backend_stat(fx->be, BACKEND_SNAPSHOTS, name, &size));
        assert_int_equal(size, sizes[i]);
    }
}

static void test_list(void **state)
{
    fixture *fx = *state;
    enum { NDATA = 40, NKEYS = 3 };
    char names[NDATA][VAULT_NAME_HEX + 1];
    for (unsigned i = 0; i < NDATA; i++) {
        name_for(200 + i, names[i]);
        uint8_t *data = make_data(i * 3, i);
        assert_vault_ok(
            backend_save(fx->be, BACKEND_DATA, names[i], data, i * 3));
        free(data);
    }
    for (unsigned i = 0; i < NKEYS; i++)
        assert_vault_ok(backend_save(fx->be, BACKEND_KEYS, names[i],
                                     (const uint8_t *)"key-key", 3 + i));
    assert_vault_ok(
        backend_save(fx->be, BACKEND_CONFIG, "", (const uint8_t *)"cfg", 3));

    collected *c = collect(fx->be, BACKEND_DATA);
    assert_int_equal(c->calls, NDATA);
    for (unsigned i = 0; i < NDATA; i++) {
        long at = collected_find(c, names[i]);
        assert_true(at >= 0);
        assert_int_equal(c->sizes[at], i * 3);
    }
    free(c);

    c = collect(fx->be, BACKEND_KEYS);
    assert_int_equal(c->calls, NKEYS);
    for (unsigned i = 0; i < NKEYS; i++) {
        long at = collected_find(c, names[i]);
        assert_true(at >= 0);
        assert_int_equal(c->sizes[at], 3 + i);
    }
    free(c);

    /* The config lists as one object named "". */
    c = collect(fx->be, BACKEND_CONFIG);
    assert_int_equal(c->calls, 1);
    assert_string_equal(c->names[0], "");
    assert_int_equal(c->sizes[0], 3);
    free(c);

    /* Empty kinds call fn never. */
    const backend_kind empty[] = {BACKEND_INDEX, BACKEND_SNAPSHOTS,
                                  BACKEND_LOCKS};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(empty); i++) {
        c = collect(fx->be, empty[i]);
        assert_int_equal(c->calls, 0);
        free(c);
    }

    /* Stopping: the first call, a later call, negative values, and a NULL
     * stopped. */
    const struct {
        size_t at;
        int value;
    } stops[] = {{1, 7}, {3, -3}, {NDATA, 1}, {NDATA, INT32_MIN}};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(stops); i++) {
        c = calloc(1, sizeof *c);
        assert_non_null(c);
        c->stop_at = stops[i].at;
        c->stop_value = stops[i].value;
        int stopped = 0;
        assert_vault_ok(
            backend_list(fx->be, BACKEND_DATA, collect_fn, c, &stopped));
        assert_int_equal(stopped, stops[i].value);
        assert_int_equal(c->calls, stops[i].at);
        free(c);
    }
    c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->stop_at = 2;
    c->stop_value = 5;
    assert_vault_ok(backend_list(fx->be, BACKEND_DATA, collect_fn, c, NULL));
    assert_int_equal(c->calls, 2);
    free(c);
    c = calloc(1, sizeof *c);
    assert_non_null(c);
    c->stop_at = 1;
    c->stop_value = 4;
    int stopped = 0;
    assert_vault_ok(
        backend_list(fx->be, BACKEND_CONFIG, collect_fn, c, &stopped));
    assert_int_equal(stopped, 4);
    free(c);
    /* Without a stop, every name once. */
    c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_vault_ok(backend_list(fx->be, BACKEND_DATA, collect_fn, c, NULL));
    assert_int_equal(c->calls, NDATA);
    free(c);
}

/* A list callback that loads and then removes each object it is given. */
typedef struct consume_ctx {
    backend *be;
    backend_kind kind;
    size_t seen;
    vault_error rc; /* first failure */
} consume_ctx;

static int consume_fn(void *ctx, const char *name, uint64_t size)
{
    consume_ctx *cc = ctx;
    uint8_t *out;
    size_t out_len;
    vault_error rc =
        backend_load(cc->be, cc->kind, name, 0, 0, SIZE_MAX, &out, &out_len);
    if (rc == VAULT_OK) {
        free(out);
        if (out_len != size)
            rc = VAULT_E_INTERNAL;
    }
    if (rc == VAULT_OK)
        rc = backend_remove(cc->be, cc->kind, name);
    if (rc != VAULT_OK && cc->rc == VAULT_OK)
        cc->rc = rc;
    cc->seen++;
    return 0;
}

static void test_list_reentrant(void **state)
{
    fixture *fx = *state;
    for (unsigned i = 0; i < 20; i++) {
        char name[VAULT_NAME_HEX + 1];
        name_for(300 + i, name);
        assert_vault_ok(backend_save(fx->be, BACKEND_LOCKS, name,
                                     (const uint8_t *)"lock", 4));
    }
    consume_ctx cc = {fx->be, BACKEND_LOCKS, 0, VAULT_OK};
    int stopped = 1;
    assert_vault_ok(
        backend_list(fx->be, BACKEND_LOCKS, consume_fn, &cc, &stopped));
    assert_vault_ok(cc.rc);
    assert_int_equal(cc.seen, 20);
    assert_int_equal(stopped, 0);
    collected *c = collect(fx->be, BACKEND_LOCKS);
    assert_int_equal(c->calls, 0);
    free(c);
}

static void test_remove(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1], other[VAULT_NAME_HEX + 1];
    name_for(400, name);
    name_for(401, other);
    for (int k = 0; k < BACKEND_KIND_COUNT; k++) {
        const char *nm = k == BACKEND_CONFIG ? "" : name;
        backend_kind kind = (backend_kind)k;
        assert_vault_ok(
            backend_save(fx->be, kind, nm, (const uint8_t *)"a", 1));
        if (k != BACKEND_CONFIG)
            assert_vault_ok(
                backend_save(fx->be, kind, other, (const uint8_t *)"b", 1));
        assert_vault_ok(backend_remove(fx->be, kind, nm));
        uint64_t size;
        uint8_t *out;
        size_t out_len;
        assert_vault_code(backend_stat(fx->be, kind, nm, &size),
                          VAULT_E_NOT_FOUND);
        assert_vault_code(
            backend_load(fx->be, kind, nm, 0, 0, SIZE_MAX, &out, &out_len),
            VAULT_E_NOT_FOUND);
        assert_vault_code(backend_remove(fx->be, kind, nm), VAULT_E_NOT_FOUND);
        collected *c = collect(fx->be, kind);
        assert_int_equal(c->calls, k == BACKEND_CONFIG ? 0 : 1);
        assert_true(collected_find(c, nm) < 0);
        free(c);
        /* Only that object went. */
        if (k != BACKEND_CONFIG)
            assert_object(fx->be, kind, other, (const uint8_t *)"b", 1);
        /* The name can be used again. */
        assert_vault_ok(
            backend_save(fx->be, kind, nm, (const uint8_t *)"cc", 2));
        assert_object(fx->be, kind, nm, (const uint8_t *)"cc", 2);
    }
}

/* Counts the entries below dir (the local vault's, or nothing). */
static size_t tree_entries;
static int count_entry(const char *path, const struct stat *st, int flag,
                       struct FTW *ftw)
{
    (void)path;
    (void)st;
    (void)flag;
    (void)ftw;
    tree_entries++;
    return 0;
}
static size_t count_tree(const char *dir)
{
    tree_entries = 0;
    assert_int_equal(nftw(dir, count_entry, 16, FTW_PHYS), 0);
    return tree_entries;
}

static void test_invalid_names(void **state)
{
    fixture *fx = *state;
    char upper[VAULT_NAME_HEX + 1], short_[VAULT_NAME_HEX],
        long_[VAULT_NAME_HEX + 2], slash[VAULT_NAME_HEX + 1],
        dotdot[VAULT_NAME_HEX + 1], nonhex[VAULT_NAME_HEX + 1],
        valid[VAULT_NAME_HEX + 1];
    name_for(500, valid);
    for (size_t i = 0; i < VAULT_NAME_HEX; i++)
        upper[i] = "ABCDEF0123456789"[i % 16];
    upper[VAULT_NAME_HEX] = '\0';
    memcpy(short_, valid, VAULT_NAME_HEX - 1);
    short_[VAULT_NAME_HEX - 1] = '\0';
    memcpy(long_, valid, VAULT_NAME_HEX);
    long_[VAULT_NAME_HEX] = 'a';
    long_[VAULT_NAME_HEX + 1] = '\0';
    memcpy(slash, valid, sizeof slash);
    slash[2] = '/';
    /* 64 characters that would climb out of the folder if used. */
    memcpy(dotdot, valid, sizeof dotdot);
    memcpy(dotdot, "../", 3);
    memcpy(nonhex, valid, sizeof nonhex);
    nonhex[40] = 'g';
    const char *const bad[] = {"",     upper,  short_, long_,
                               slash,  dotdot, nonhex, "../../etc/passwd",
                               "../x", ".",    "..",   ".tmp-123",
                               NULL};
    size_t before = fx->type == BE_LOCAL ? count_tree(fx->vault) : 0;

    for (size_t k = 0; k < VAULT_ARRAY_SIZE(named_kinds); k++) {
        for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad); i++) {
            backend_kind kind = named_kinds[k];
            uint8_t *out = (uint8_t *)"sentinel";
            size_t out_len = 3;
            uint64_t size = 3;
            assert_vault_code(
                backend_save(fx->be, kind, bad[i], (const uint8_t *)"x", 1),
                VAULT_E_INVALID);
            assert_detail_has(bad[i] ? "invalid object name"
                                     : "no object name");
            assert_vault_code(backend_load(fx->be, kind, bad[i], 0, 0, SIZE_MAX,
                                           &out, &out_len),
                              VAULT_E_INVALID);
            assert_null(out);
            assert_int_equal(out_len, 0);
            assert_vault_code(backend_stat(fx->be, kind, bad[i], &size),
                              VAULT_E_INVALID);
            assert_int_equal(size, 0);
            assert_vault_code(backend_remove(fx->be, kind, bad[i]),
                              VAULT_E_INVALID);
        }
    }
    /* The config takes "" and nothing else. */
    const char *const bad_config[] = {valid, "x", "../config", "config", NULL};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad_config); i++) {
        uint8_t *out;
        size_t out_len;
        uint64_t size;
        assert_vault_code(backend_save(fx->be, BACKEND_CONFIG, bad_config[i],
                                       (const uint8_t *)"x", 1),
                          VAULT_E_INVALID);
        assert_detail_has("config");
        assert_vault_code(backend_load(fx->be, BACKEND_CONFIG, bad_config[i], 0,
                                       0, SIZE_MAX, &out, &out_len),
                          VAULT_E_INVALID);
        assert_vault_code(
            backend_stat(fx->be, BACKEND_CONFIG, bad_config[i], &size),
            VAULT_E_INVALID);
        assert_vault_code(backend_remove(fx->be, BACKEND_CONFIG, bad_config[i]),
                          VAULT_E_INVALID);
    }
    /* Kinds outside the enum, for every operation. */
    const int bad_kinds[] = {BACKEND_KIND_COUNT, -1, 1000};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(bad_kinds); i++) {
        backend_kind kind = (backend_kind)bad_kinds[i];
        uint8_t *out;
        size_t out_len;
        uint64_t size;
        collected c = {0};
        int stopped = 5;
        assert_vault_code(
            backend_save(fx->be, kind, valid, (const uint8_t *)"x", 1),
            VAULT_E_INVALID);
        assert_detail_has("unknown object kind");
        assert_vault_code(
            backend_load(fx->be, kind, valid, 0, 0, SIZE_MAX, &out, &out_len),
            VAULT_E_INVALID);
        assert_vault_code(backend_stat(fx->be, kind, valid, &size),
                          VAULT_E_INVALID);
        assert_vault_code(backend_remove(fx->be, kind, valid), VAULT_E_INVALID);
        assert_vault_code(backend_list(fx->be, kind, collect_fn, &c, &stopped),
                          VAULT_E_INVALID);
        assert_int_equal(c.calls, 0);
        assert_int_equal(stopped, 0);
    }

    /* Nothing was stored anywhere. */
    for (int k = 0; k < BACKEND_KIND_COUNT; k++) {
        collected *c = collect(fx->be, (backend_kind)k);
        assert_int_equal(c->calls, 0);
        free(c);
    }
    if (fx->type == BE_LOCAL) {
        assert_int_equal(count_tree(fx->vault), before);
        assert_int_equal(count_tree(fx->tmp), before + 1);
    }
}

static void test_empty_object(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1];
    name_for(600, name);
    assert_vault_ok(backend_save(fx->be, BACKEND_SNAPSHOTS, name, NULL, 0));
    uint64_t size = 9;
    assert_vault_ok(backend_stat(fx->be, BACKEND_SNAPSHOTS, name, &size));
    assert_int_equal(size, 0);
    uint8_t *out = NULL;
    size_t out_len = 9;
    assert_vault_ok(
        backend_load(fx->be, BACKEND_SNAPSHOTS, name, 0, 0, 0, &out, &out_len));
    assert_non_null(out);
    assert_int_equal(out_len, 0);
    free(out);
    assert_vault_code(
        backend_load(fx->be, BACKEND_SNAPSHOTS, name, 0, 1, 1, &out, &out_len),
        VAULT_E_CORRUPT);
    collected *c = collect(fx->be, BACKEND_SNAPSHOTS);
    assert_int_equal(c->calls, 1);
    assert_string_equal(c->names[0], name);
    assert_int_equal(c->sizes[0], 0);
    free(c);
    assert_vault_code(backend_save(fx->be, BACKEND_SNAPSHOTS, name, NULL, 0),
                      VAULT_E_EXISTS);
}

static void test_big_object(void **state)
{
    fixture *fx = *state;
    const size_t len = 5u << 20;
    char name[VAULT_NAME_HEX + 1];
    name_for(700, name);
    uint8_t *data = make_data(len, 700);
    assert_vault_ok(backend_save(fx->be, BACKEND_DATA, name, data, len));
    assert_object(fx->be, BACKEND_DATA, name, data, len);
    uint8_t *out;
    size_t out_len;
    assert_vault_ok(backend_load(fx->be, BACKEND_DATA, name, (4u << 20) + 1,
                                 (1u << 20) - 1, 1u << 20, &out, &out_len));
    assert_int_equal(out_len, (1u << 20) - 1);
    assert_memory_equal(out, data + (4u << 20) + 1, out_len);
    free(out);
    assert_vault_code(
        backend_load(fx->be, BACKEND_DATA, name, 0, 0, len - 1, &out, &out_len),
        VAULT_E_CORRUPT);
    free(data);
}

/* Concurrent saves: each worker saves its own names. */
#define WORKERS 4
#define PER_WORKER 48
typedef struct worker {
    backend *be;
    unsigned id;
    const char *same_name; /* if set, every worker saves this one name */
    vault_error rc;        /* first failure, or the one save's result */
    char detail[512];      /* its detail */
} worker;

static size_t worker_len(unsigned i)
{
    return 1 + (i * 7919u) % 70000;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->rc = VAULT_OK;
    if (w->same_name) {
        uint8_t data[64];
        memset(data, (int)w->id, sizeof data);
        w->rc =
            backend_save(w->be, BACKEND_DATA, w->same_name, data, sizeof data);
        snprintf(w->detail, sizeof w->detail, "%s", vault_last_error());
        return NULL;
    }
    for (unsigned j = 0; j < PER_WORKER; j++) {
        unsigned i = w->id * 1000 + j;
        char name[VAULT_NAME_HEX + 1];
        name_for(i, name);
        size_t len = worker_len(i);
        uint8_t *data = malloc(len);
        if (!data) {
            w->rc = VAULT_E_NOMEM;
            return NULL;
        }
        /* make_data asserts, which is not for threads: inline it. */
        uint32_t x = i * 2654435761u + 1;
        for (size_t b = 0; b < len; b++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            data[b] = (uint8_t)x;
        }
        vault_error rc = backend_save(w->be, BACKEND_DATA, name, data, len);
        free(data);
        if (rc != VAULT_OK && w->rc == VAULT_OK) {
            w->rc = rc;
            snprintf(w->detail, sizeof w->detail, "%s", vault_last_error());
        }
    }
    return NULL;
}

static void test_concurrent_saves(void **state)
{
    fixture *fx = *state;
    worker w[WORKERS];
    pthread_t t[WORKERS];
    for (unsigned i = 0; i < WORKERS; i++) {
        w[i] = (worker){.be = fx->be, .id = i + 1};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    for (unsigned i = 0; i < WORKERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (w[i].rc != VAULT_OK)
            fail_msg("worker %u: %s: %s", i, vault_strerror(w[i].rc),
                     w[i].detail);
    }
    collected *c = collect(fx->be, BACKEND_DATA);
    assert_int_equal(c->calls, WORKERS * PER_WORKER);
    for (unsigned id = 1; id <= WORKERS; id++) {
        for (unsigned j = 0; j < PER_WORKER; j++) {
            unsigned i = id * 1000 + j;
            char name[VAULT_NAME_HEX + 1];
            name_for(i, name);
            long at = collected_find(c, name);
            assert_true(at >= 0);
            assert_int_equal(c->sizes[at], worker_len(i));
            uint8_t *data = make_data(worker_len(i), i);
            assert_object(fx->be, BACKEND_DATA, name, data, worker_len(i));
            free(data);
        }
    }
    free(c);
}

static void test_concurrent_same_name(void **state)
{
    fixture *fx = *state;
    enum { RACERS = 8 };
    char name[VAULT_NAME_HEX + 1];
    name_for(800, name);
    worker w[RACERS];
    pthread_t t[RACERS];
    for (unsigned i = 0; i < RACERS; i++) {
        w[i] = (worker){.be = fx->be, .id = i + 1, .same_name = name};
        assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
    }
    unsigned winners = 0, winner = 0;
    for (unsigned i = 0; i < RACERS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        if (w[i].rc == VAULT_OK) {
            winners++;
            winner = w[i].id;
        } else if (w[i].rc != VAULT_E_EXISTS) {
            fail_msg("racer %u: %s: %s", i, vault_strerror(w[i].rc),
                     w[i].detail);
        }
    }
    assert_int_equal(winners, 1);
    uint8_t want[64];
    memset(want, (int)winner, sizeof want);
    assert_object(fx->be, BACKEND_DATA, name, want, sizeof want);
}

/* Runs the conformance suite against the backend setup makes. */
static int run_conformance(const char *group, CMFixtureFunction setup)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip_every_kind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_load_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_max_len, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stat_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_reentrant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_big_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_saves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_same_name, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name(group, tests, NULL, NULL);
}

/* ------------------------------------------------------------------------
 * The local backend only.
 */

static void path_in(char out[PATH_MAX], const char *dir, const char *rel)
{
    int n = snprintf(out, PATH_MAX, "%s/%s", dir, rel);
    assert_true(n > 0 && n < PATH_MAX);
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        fail_msg("%s: %s", path, strerror(errno));
    return st.st_mode;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Saves a config, which makes the fixture's directory a vault. */
static void save_config(backend *be)
{
    assert_vault_ok(
        backend_save(be, BACKEND_CONFIG, "", (const uint8_t *)"config", 6));
}

static void test_local_create_refuses_nonempty(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], file[PATH_MAX];
    backend *be = (backend *)&be; /* must be reset to NULL */
    path_in(dir, fx->tmp, "full");
    assert_int_equal(mkdir(dir, 0755), 0);
    path_in(file, dir, "precious");
    test_write_file(file, "keep me", 7);
    assert_vault_code(vlt_backend_local_open(dir, 1, &be), VAULT_E_EXISTS);
    assert_null(be);
    assert_detail_has(dir);
    assert_detail_has("not empty");
    /* Nothing was added or changed. */
    assert_int_equal(count_tree(dir), 2);
    size_t len;
    uint8_t *got = test_read_file(file, &len);
    assert_int_equal(len, 7);
    free(got);

    /* A hidden file is enough to refuse. */
    assert_int_equal(unlink(file), 0);
    path_in(file, dir, ".hidden");
    test_write_file(file, "", 0);
    assert_vault_code(vlt_backend_local_open(dir, 1, &be), VAULT_E_EXISTS);

    /* An existing vault too: creating twice fails. */
    assert_vault_code(vlt_backend_local_open(fx->vault, 1, &be), VAULT_E_EXISTS);

    /* A regular file. */
    assert_vault_code(vlt_backend_local_open(file, 1, &be), VAULT_E_EXISTS);
    assert_detail_has("not a directory");
}

static void test_local_create_ok(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], sub[PATH_MAX];
    backend *be;
    /* An existing empty directory, named with trailing slashes. */
    path_in(dir, fx->tmp, "empty");
    assert_int_equal(mkdir(dir, 0755), 0);
    path_in(sub, fx->tmp, "empty//");
    assert_vault_ok(vlt_backend_local_open(sub, 1, &be));
    save_config(be);
    backend_close(be);
    path_in(sub, dir, "data/ff");
    assert_true(S_ISDIR(mode_of(sub)));
    path_in(sub, dir, "config");
    assert_true(S_ISREG(mode_of(sub)));
    /* Its mode is left alone: the user made it. */
    assert_int_equal(mode_of(dir) & 07777, 0755);
    /* 1 root + config + 5 folders + 256 shards. */
    assert_int_equal(count_tree(dir), 1 + 1 + 5 + 256);

    /* A missing parent is an error, not a mkdir -p. */
    path_in(dir, fx->tmp, "no/such/parent");
    assert_vault_code(vlt_backend_local_open(dir, 1, &be), VAULT_E_IO);
    assert_detail_has("no/such/parent");
    assert_false(exists(dir));

    /* Bad paths. */
    assert_vault_code(vlt_backend_local_open("", 1, &be), VAULT_E_INVALID);
    assert_vault_code(vlt_backend_local_open(NULL, 0, &be), VAULT_E_INVALID);
    char *longp = malloc(PATH_MAX + 10);
    assert_non_null(longp);
    memset(longp, 'x', PATH_MAX + 9);
    longp[0] = '/';
    longp[PATH_MAX - 50] = '\0'; /* fits PATH_MAX, but not with an object */
    assert_vault_code(vlt_backend_local_open(longp, 1, &be), VAULT_E_INVALID);
    assert_detail_has("path too long");
    assert_vault_code(vlt_backend_local_open(longp, 0, &be), VAULT_E_INVALID);
    free(longp);
}

static void test_local_open_not_vault(void **state)
{
    fixture *fx = *state;
    char dir[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 40];
    backend *be = (backend *)&be;

    /* The fixture's vault has its folders but no config yet. */
    assert_vault_code(vlt_backend_local_open(fx->vault, 0, &be), VAULT_E_NOT_FOUND);
    assert_null(be);
    snprintf(want, sizeof want, "%s: not a vault (no config)", fx->vault);
    assert_string_equal(vault_last_error(), want);

    /* An empty directory. */
    path_in(dir, fx->tmp, "plain");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_vault_code(vlt_backend_local_open(dir, 0, &be), VAULT_E_NOT_FOUND);
    snprintf(want, sizeof want, "%s: not a vault (no config)", dir);
    assert_string_equal(vault_last_error(), want);

    /* Absent, and through a file. */
    path_in(path, fx->tmp, "absent");
    assert_vault_code(vlt_backend_local_open(path, 0, &be), VAULT_E_NOT_FOUND);
    assert_detail_has("not a vault (no such directory)");
    path_in(path, dir, "file");
    test_write_file(path, "x", 1);
    assert_vault_code(vlt_backend_local_open(path, 0, &be), VAULT_E_NOT_FOUND);
    assert_detail_has("not a vault (not a directory)");
    path_in(want, path, "below");
    assert_vault_code(vlt_backend_local_open(want, 0, &be), VAULT_E_NOT_FOUND);
    assert_detail_has("not a vault (no such directory)");

    /* A config that is a folder. */
    path_in(path, dir, "config");
    assert_int_equal(mkdir(path, 0700), 0);
    assert_vault_code(vlt_backend_local_open(dir, 0, &be), VAULT_E_NOT_FOUND);
    assert_detail_has("not a vault (config is not a file)");

    /* Symlink loops: the operating system's error, not "not a vault". */
    path_in(path, fx->tmp, "loop");
    assert_int_equal(symlink("loop", path), 0);
    assert_vault_code(vlt_backend_local_open(path, 0, &be), VAULT_E_IO);
    assert_detail_has(path);
    path_in(path, fx->vault, "config");
    assert_int_equal(symlink("config", path), 0);
    assert_vault_code(vlt_backend_local_open(fx->vault, 0, &be), VAULT_E_IO);
    assert_detail_has(path);
    assert_int_equal(unlink(path), 0);

    /* With its config, the vault opens, with or without a trailing '/'. */
    save_config(fx->be);
    assert_vault_ok(vlt_backend_local_open(fx->vault, 0, &be));
    backend_close(be);
    path_in(path, fx->vault, "");
    assert_vault_ok(vlt_backend_local_open(path, 0, &be));
    assert_object(be, BACKEND_CONFIG, "", (const uint8_t *)"config", 6);
    backend_close(be);
}

static void test_local_persistence(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1];
    name_for(900, name);
    save_config(fx->be);
    assert_vault_ok(
        backend_save(fx->be, BACKEND_DATA, name, (const uint8_t *)"pack", 4));
    backend_close(fx->be);
    fx->be = NULL;
    assert_vault_ok(vlt_backend_local_open(fx->vault, 0, &fx->be));
    assert_object(fx->be, BACKEND_DATA, name, (const uint8_t *)"pack", 4);
    assert_object(fx->be, BACKEND_CONFIG, "", (const uint8_t *)"config", 6);
}

static void test_local_skips_litter(void **state)
{
    fixture *fx = *state;
    char good[VAULT_NAME_HEX + 1], other[VAULT_NAME_HEX + 1], rel[PATH_MAX],
        path[PATH_MAX], upper[VAULT_NAME_HEX + 1];
    name_with_prefix("ab", 1, good);
    name_with_prefix("cd", 2, other);
    for (size_t i = 0; i < VAULT_NAME_HEX; i++)
        upper[i] = "ABCDEF"[i % 6];
    upper[VAULT_NAME_HEX] = '\0';
    assert_vault_ok(
        backend_save(fx->be, BACKEND_KEYS, good, (const uint8_t *)"k", 1));
    assert_vault_ok(
        backend_save(fx->be, BACKEND_DATA, good, (const uint8_t *)"d", 1));

    /* Litter in keys/: temporaries, sync-tool copies, odd names. */
    const char *const files[] = {".tmp-123", "foo (conflicted copy)",
                                 ".DS_Store", "desktop.ini", upper};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(files); i++) {
        snprintf(rel, sizeof rel, "keys/%s", files[i]);
        path_in(path, fx->vault, rel);
        test_write_file(path, "junk", 4);
    }
    snprintf(rel, sizeof rel, "keys/%s (conflicted copy)", other);
    path_in(path, fx->vault, rel);
    test_write_file(path, "junk", 4);
    snprintf(rel, sizeof rel, "keys/%.63s", other); /* 63 characters */
    path_in(path, fx->vault, rel);
    test_write_file(path, "junk", 4);
    /* A folder and a dangling symlink under well-formed names. */
    snprintf(rel, sizeof rel, "keys/%s", other);
    path_in(path, fx->vault, rel);
    assert_int_equal(mkdir(path, 0700), 0);
    char dangling[VAULT_NAME_HEX + 1];
    name_for(3, dangling);
    snprintf(rel, sizeof rel, "keys/%s", dangling);
    path_in(path, fx->vault, rel);
    assert_int_equal(symlink("nowhere", path), 0);

    /* data/: a pack in the wrong shard, one not in a shard, a shard that
     * is not one. */
    snprintf(rel, sizeof rel, "data/cd/%s", good);
    path_in(path, fx->vault, rel);
    test_write_file(path, "wrong shard", 11);
    snprintf(rel, sizeof rel, "data/%s", other);
    path_in(path, fx->vault, rel);
    test_write_file(path, "top level", 9);
    path_in(path, fx->vault, "data/zz");
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(rel, sizeof rel, "data/zz/%s", other);
    path_in(path, fx->vault, rel);
    test_write_file(path, "bad shard", 9);
    snprintf(rel, sizeof rel, "data/ab/.tmp-%s", other);
    path_in(path, fx->vault, rel);
    test_write_file(path, "tmp", 3);
    /* And a stray file at the top. */
    path_in(path, fx->vault, ".tmp-999");
    test_write_file(path, "tmp", 3);

    collected *c = collect(fx->be, BACKEND_KEYS);
    assert_int_equal(c->calls, 1);
    assert_string_equal(c->names[0], good);
    free(c);
    c = collect(fx->be, BACKEND_DATA);
    assert_int_equal(c->calls, 1);
    assert_string_equal(c->names[0], good);
    assert_int_equal(c->sizes[0], 1);
    free(c);

    /* A well-formed name that is a folder or a FIFO is no object: load
     * and stat say so (without hanging on the FIFO), save cannot replace
     * it. */
    char fifo[VAULT_NAME_HEX + 1];
    name_for(4, fifo);
    snprintf(rel, sizeof rel, "keys/%s", fifo);
    path_in(path, fx->vault, rel);
    assert_int_equal(mkfifo(path, 0600), 0);
    const char *const odd[] = {other, fifo};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(odd); i++) {
        uint8_t *out;
        size_t out_len;
        uint64_t size;
        assert_vault_code(backend_load(fx->be, BACKEND_KEYS, odd[i], 0, 0,
                                       SIZE_MAX, &out, &out_len),
                          VAULT_E_CORRUPT);
        assert_detail_has(odd[i]);
        assert_detail_has("not a regular file");
        assert_vault_code(backend_stat(fx->be, BACKEND_KEYS, odd[i], &size),
                          VAULT_E_CORRUPT);
        assert_detail_has("not a regular file");
        assert_vault_code(
            backend_save(fx->be, BACKEND_KEYS, odd[i], (const uint8_t *)"x", 1),
            VAULT_E_EXISTS);
    }
    /* unlink() refuses a folder. */
    assert_vault_code(backend_remove(fx->be, BACKEND_KEYS, other), VAULT_E_IO);
    assert_detail_has(other);
    /* A dangling symlink is absent. */
    uint64_t size;
    assert_vault_code(backend_stat(fx->be, BACKEND_KEYS, dangling, &size),
                      VAULT_E_NOT_FOUND);

    /* A config that is a folder lists as no config. */
    path_in(path, fx->vault, "config");
    assert_int_equal(mkdir(path, 0700), 0);
    c = collect(fx->be, BACKEND_CONFIG);
    assert_int_equal(c->calls, 0);
    free(c);
}

static void test_local_sharding(void **state)
{
    fixture *fx = *state;
    const char *const prefixes[] = {"00", "ab", "ff", "7f"};
    char rel[PATH_MAX], path[PATH_MAX];
    size_t before = count_tree(fx->vault);
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(prefixes); i++) {
        char name[VAULT_NAME_HEX + 1];
        name_with_prefix(prefixes[i], (unsigned)i, name);
        assert_vault_ok(backend_save(fx->be, BACKEND_DATA, name,
                                     (const uint8_t *)"pack", 4));
        snprintf(rel, sizeof rel, "data/%s/%s", prefixes[i], name);
        path_in(path, fx->vault, rel);
        assert_true(S_ISREG(mode_of(path)));
        size_t len;
        uint8_t *got = test_read_file(path, &len);
        assert_int_equal(len, 4);
        assert_memory_equal(got, "pack", 4);
        free(got);
    }
    /* Exactly one file per object, and no temporaries left behind. */
    assert_int_equal(count_tree(fx->vault),
                     before + VAULT_ARRAY_SIZE(prefixes));
    /* Other kinds are flat. */
    char name[VAULT_NAME_HEX + 1];
    name_with_prefix("ab", 9, name);
    assert_vault_ok(
        backend_save(fx->be, BACKEND_INDEX, name, (const uint8_t *)"i", 1));
    snprintf(rel, sizeof rel, "index/%s", name);
    path_in(path, fx->vault, rel);
    assert_true(S_ISREG(mode_of(path)));
}

static void test_local_modes(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1], path[PATH_MAX];
    name_with_prefix("5a", 1, name);
    save_config(fx->be);
    assert_int_equal(mode_of(fx->vault) & 07777, 0700);
    const char *const folders[] = {"keys",    "data",  "data/00",   "data/5a",
                                   "data/ff", "index", "snapshots", "locks"};
    for (size_t i = 0; i < VAULT_ARRAY_SIZE(folders); i++) {
        path_in(path, fx->vault, folders[i]);
        assert_true(S_ISDIR(mode_of(path)));
        assert_int_equal(mode_of(path) & 07777, 0700);
    }
    for (size_t k = 0; k < VAULT_ARRAY_SIZE(named_kinds); k++)
        assert_vault_ok(backend_save(fx->be, named_kinds[k], name,
                                     (const uint8_t *)"obj", 3));
    for (size_t k = 0; k < VAULT_ARRAY_SIZE(named_kinds); k++) {
        char label[BACKEND_LABEL_MAX];
        vlt_backend_label(named_kinds[k], name, label);
        path_in(path, fx->vault, label);
        assert_int_equal(mode_of(path) & 07777, 0444);
    }
    path_in(path, fx->vault, "config");
    assert_int_equal(mode_of(path) & 07777, 0444);
    /* The umask does not loosen folders either. */
    mode_t old = umask(0);
    char dir[PATH_MAX];
    path_in(dir, fx->tmp, "v2");
    backend *be;
    assert_vault_ok(vlt_backend_local_open(dir, 1, &be));
    umask(old);
    backend_close(be);
    path_in(path, dir, "data/12");
    assert_int_equal(mode_of(path) & 07777, 0700);
}

static void test_local_missing_folders(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1], path[PATH_MAX];
    name_with_prefix("ab", 1, name);
    save_config(fx->be);
    /* As a copy that drops empty folders would leave it. */
    assert_int_equal(
        test_run("cd '%s' && rm -r index snapshots data/ab", fx->vault), 0);
    backend_close(fx->be);
    assert_vault_ok(vlt_backend_local_open(fx->vault, 0, &fx->be));
    collected *c = collect(fx->be, BACKEND_INDEX);
    assert_int_equal(c->calls, 0);
    free(c);
    c = collect(fx->be, BACKEND_DATA);
    assert_int_equal(c->calls, 0);
    free(c);
    uint64_t size;
    assert_vault_code(backend_stat(fx->be, BACKEND_INDEX, name, &size),
                      VAULT_E_NOT_FOUND);
    assert_vault_code(backend_remove(fx->be, BACKEND_DATA, name),
                      VAULT_E_NOT_FOUND);

    assert_vault_ok(
        backend_save(fx->be, BACKEND_INDEX, name, (const uint8_t *)"i", 1));
    assert_vault_ok(
        backend_save(fx->be, BACKEND_DATA, name, (const uint8_t *)"d", 1));
    assert_object(fx->be, BACKEND_INDEX, name, (const uint8_t *)"i", 1);
    assert_object(fx->be, BACKEND_DATA, name, (const uint8_t *)"d", 1);
    path_in(path, fx->vault, "data/ab");
    assert_int_equal(mode_of(path) & 07777, 0700);
    path_in(path, fx->vault, "index");
    assert_int_equal(mode_of(path) & 07777, 0700);

    /* The whole data folder gone. */
    assert_int_equal(test_run("rm -r '%s/data'", fx->vault), 0);
    c = collect(fx->be, BACKEND_DATA);
    assert_int_equal(c->calls, 0);
    free(c);
    assert_vault_ok(
        backend_save(fx->be, BACKEND_DATA, name, (const uint8_t *)"d", 1));
    assert_object(fx->be, BACKEND_DATA, name, (const uint8_t *)"d", 1);

    /* A shard that cannot be made (a dangling symlink holds its name). */
    char other[VAULT_NAME_HEX + 1];
    name_with_prefix("cd", 2, other);
    path_in(path, fx->vault, "data/cd");
    assert_int_equal(symlink("nowhere", path), 0);
    assert_vault_code(
        backend_save(fx->be, BACKEND_DATA, other, (const uint8_t *)"d", 1),
        VAULT_E_IO);
    assert_detail_has("data/cd: cannot create folder");
}

static void test_local_folder_is_file(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1], path[PATH_MAX];
    name_for(1, name);
    path_in(path, fx->vault, "index");
    assert_int_equal(rmdir(path), 0);
    test_write_file(path, "not a folder", 12);
    uint8_t *out;
    size_t out_len;
    uint64_t size;
    assert_vault_code(
        backend_save(fx->be, BACKEND_INDEX, name, (const uint8_t *)"i", 1),
        VAULT_E_IO);
    assert_detail_has(name);
    assert_detail_has("cannot save");
    assert_vault_code(backend_load(fx->be, BACKEND_INDEX, name, 0, 0, SIZE_MAX,
                                   &out, &out_len),
                      VAULT_E_IO);
    assert_detail_has(name);
    assert_vault_code(backend_stat(fx->be, BACKEND_INDEX, name, &size),
                      VAULT_E_IO);
    assert_detail_has(name);
    assert_vault_code(backend_remove(fx->be, BACKEND_INDEX, name), VAULT_E_IO);
    assert_detail_has(name);
    collected c = {0};
    assert_vault_code(backend_list(fx->be, BACKEND_INDEX, collect_fn, &c, NULL),
                      VAULT_E_IO);
    assert_detail_has("index: cannot list");
    assert_int_equal(c.calls, 0);

    /* A symlink loop under a well-formed name stops a listing with the
     * system's error rather than hiding an object. */
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "keys/%s", name);
    path_in(path, fx->vault, rel);
    assert_int_equal(symlink(name, path), 0);
    assert_vault_code(backend_list(fx->be, BACKEND_KEYS, collect_fn, &c, NULL),
                      VAULT_E_IO);
    assert_detail_has(name);
    /* The config too. */
    path_in(path, fx->vault, "config");
    assert_int_equal(symlink("config", path), 0);
    assert_vault_code(
        backend_list(fx->be, BACKEND_CONFIG, collect_fn, &c, NULL), VAULT_E_IO);
    assert_detail_has("config");
}

static void test_local_huge_sparse(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1], rel[PATH_MAX], path[PATH_MAX];
    name_with_prefix("ee", 1, name);
    snprintf(rel, sizeof rel, "data/ee/%s", name);
    path_in(path, fx->vault, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0444);
    assert_true(fd >= 0);
    const off_t huge = (off_t)1 << 40; /* 1 TiB, sparse */
    if (ftruncate(fd, huge) != 0) {
        close(fd);
        skip();
    }
    close(fd);
    uint64_t size;
    assert_vault_ok(backend_stat(fx->be, BACKEND_DATA, name, &size));
    assert_int_equal(size, (uint64_t)huge);
    /* Refused before any allocation: no malloc of 1 TiB is attempted
     * (which would fail with NOMEM, or abort under ASan). */
    uint8_t *out = (uint8_t *)"sentinel";
    size_t out_len;
    assert_vault_code(backend_load(fx->be, BACKEND_DATA, name, 0, 0, 64u << 20,
                                   &out, &out_len),
                      VAULT_E_CORRUPT);
    assert_null(out);
    assert_detail_has(name);
    assert_detail_has("limit");
    /* A small range at its end reads fine. */
    assert_vault_ok(backend_load(fx->be, BACKEND_DATA, name,
                                 (uint64_t)huge - 16, 0, 16, &out, &out_len));
    assert_int_equal(out_len, 16);
    const uint8_t zeros[16] = {0};
    assert_memory_equal(out, zeros, 16);
    free(out);
    collected *c = collect(fx->be, BACKEND_DATA);
    assert_int_equal(c->calls, 1);
    assert_int_equal(c->sizes[0], (uint64_t)huge);
    free(c);
}

/* ------------------------------------------------------------------------
 * The fault-injection wrapper only.
 */

/* The objects a script starts from, in the inner backend. */
static char name_a[VAULT_NAME_HEX + 1], name_b[VAULT_NAME_HEX + 1],
    name_c[VAULT_NAME_HEX + 1], name_x[VAULT_NAME_HEX + 1],
    name_y[VAULT_NAME_HEX + 1];

static backend *populated_memory(void)
{
    backend *inner;
    assert_vault_ok(vlt_backend_memory_open(&inner));
    assert_vault_ok(
        backend_save(inner, BACKEND_KEYS, name_a, (const uint8_t *)"alpha", 5));
    assert_vault_ok(
        backend_save(inner, BACKEND_KEYS, name_b, (const uint8_t *)"beta", 4));
    assert_vault_ok(backend_save(inner, BACKEND_DATA, name_c,
                                 (const uint8_t *)"gamma ray", 9));
    return inner;
}

#define SCRIPT_OPS 11
typedef struct script_result {
    vault_error rc[SCRIPT_OPS];    /* each operation's result */
    char detail[SCRIPT_OPS][512];  /* its detail, on failure */
    size_t list_calls[SCRIPT_OPS]; /* fn calls, for lists */
    int stopped[SCRIPT_OPS];       /* *stopped, for lists */
} script_result;

/* Eleven operations, none depending on another's success. */
static void run_script(backend *be, script_result *r)
{
    memset(r, 0, sizeof *r);
    for (int i = 0; i < SCRIPT_OPS; i++) {
        uint8_t *out = (uint8_t *)"sentinel";
        size_t out_len = 1;
        uint64_t size = 1;
        collected *c = calloc(1, sizeof *c);
        assert_non_null(c);
        int stopped = 42;
        vault_error rc = VAULT_E_INTERNAL;
        switch (i) {
        case 0:
            rc =
                backend_save(be, BACKEND_KEYS, name_x, (const uint8_t *)"x", 1);
            break;
        case 1:
            rc = backend_load(be, BACKEND_KEYS, name_a, 0, 0, 100, &out,
                              &out_len);
            if (rc == VAULT_OK) {
                assert_int_equal(out_len, 5);
                assert_memory_equal(out, "alpha", 5);
            }
            break;
        case 2:
            rc = backend_stat(be, BACKEND_KEYS, name_a, &size);
            if (rc == VAULT_OK)
                assert_int_equal(size, 5);
            break;
        case 3:
            rc = backend_list(be, BACKEND_DATA, collect_fn, c, &stopped);
            break;
        case 4:
            rc = backend_remove(be, BACKEND_KEYS, name_b);
            break;
        case 5:
            rc =
                backend_load(be, BACKEND_DATA, name_c, 6, 3, 3, &out, &out_len);
            if (rc == VAULT_OK)
                assert_memory_equal(out, "ray", 3);
            break;
        case 6:
            rc =
                backend_save(be, BACKEND_DATA, name_y, (const uint8_t *)"y", 1);
            break;
        case 7:
            rc = backend_stat(be, BACKEND_DATA, name_c, &size);
            break;
        case 8:
            c->stop_at = 1;
            c->stop_value = 3;
            rc = backend_list(be, BACKEND_KEYS, collect_fn, c, &stopped);
            break;
        case 9:
            rc = backend_save(be, BACKEND_CONFIG, "", (const uint8_t *)"c", 1);
            break;
        case 10:
            rc =
                backend_load(be, BACKEND_KEYS, name_a, 1, 2, 2, &out, &out_len);
            if (rc == VAULT_OK)
                assert_memory_equal(out, "lp", 2);
            break;
        }
        r->rc[i] = rc;
        r->list_calls[i] = c->calls;
        r->stopped[i] = stopped;
        free(c);
        if (rc == VAULT_OK) {
            if (i == 1 || i == 5 || i == 10)
                free(out);
        } else {
            snprintf(r->detail[i], sizeof r->detail[i], "%s",
                     vault_last_error());
            if (i == 1 || i == 5 || i == 10) {
                assert_null(out);
                assert_int_equal(out_len, 0);
            }
            if (i == 2 || i == 7)
                assert_int_equal(size, 0);
            if (i == 3 || i == 8) {
                assert_int_equal(r->list_calls[i], 0);
                assert_int_equal(stopped, 0);
            }
        }
    }
}

static int present(backend *inner, backend_kind kind, const char *name)
{
    uint64_t size;
    vault_error rc = backend_stat(inner, kind, name, &size);
    assert_true(rc == VAULT_OK || rc == VAULT_E_NOT_FOUND);
    return rc == VAULT_OK;
}

static void check_side_effects(backend *inner, const int failed[SCRIPT_OPS])
{
    /* A failed save stored nothing, a failed remove removed nothing. */
    assert_int_equal(present(inner, BACKEND_KEYS, name_x), !failed[0]);
    assert_int_equal(present(inner, BACKEND_KEYS, name_b), failed[4]);
    assert_int_equal(present(inner, BACKEND_DATA, name_y), !failed[6]);
    assert_int_equal(present(inner, BACKEND_CONFIG, ""), !failed[9]);
    assert_true(present(inner, BACKEND_KEYS, name_a));
    assert_true(present(inner, BACKEND_DATA, name_c));
}

static int setup_names(void **state)
{
    (void)state;
    name_for(1, name_a);
    name_for(2, name_b);
    name_for(3, name_c);
    name_for(4, name_x);
    name_for(5, name_y);
    return 0;
}

static void test_faulty_no_fault(void **state)
{
    (void)state;
    backend *inner = populated_memory(), *be;
    assert_vault_ok(vlt_backend_faulty_open(inner, 0, VAULT_E_IO, 1, &be));
    assert_int_equal(vlt_backend_faulty_count(be), 0);
    script_result r;
    run_script(be, &r);
    for (int i = 0; i < SCRIPT_OPS; i++)
        if (r.rc[i] != VAULT_OK)
            fail_msg("op %d: %s: %s", i + 1, vault_strerror(r.rc[i]),
                     r.detail[i]);
    assert_int_equal(r.list_calls[3], 1);
    assert_int_equal(r.stopped[3], 0);
    assert_int_equal(r.list_calls[8], 1);
    assert_int_equal(r.stopped[8], 3);
    assert_int_equal(vlt_backend_faulty_count(be), SCRIPT_OPS);
    int failed[SCRIPT_OPS] = {0};
    check_side_effects(inner, failed);
    /* Failures of the inner backend pass through, and count. */
    uint64_t size;
    assert_vault_code(backend_stat(be, BACKEND_KEYS, name_b, &size),
                      VAULT_E_NOT_FOUND);
    assert_vault_code(backend_stat(be, BACKEND_KEYS, "bad", &size),
                      VAULT_E_INVALID);
    assert_int_equal(vlt_backend_faulty_count(be), SCRIPT_OPS + 2);
    backend_close(be);
}

static void test_faulty_each_op(void **state)
{
    (void)state;
    const vault_error codes[] = {VAULT_E_IO, VAULT_E_NOMEM, VAULT_E_CORRUPT,
                                 VAULT_E_NOT_FOUND};
    for (uint64_t n = 1; n <= SCRIPT_OPS; n++) {
        vault_error code = codes[n % VAULT_ARRAY_SIZE(codes)];
        backend *inner = populated_memory(), *be;
        assert_vault_ok(vlt_backend_faulty_open(inner, n, code, 0, &be));
        script_result r;
        run_script(be, &r);
        int failed[SCRIPT_OPS] = {0};
        for (uint64_t i = 1; i <= SCRIPT_OPS; i++) {
            if (i == n) {
                if (r.rc[i - 1] != code)
                    fail_msg("fail_at %llu: op %llu gave %s",
                             (unsigned long long)n, (unsigned long long)i,
                             vault_strerror(r.rc[i - 1]));
                char want[64];
                snprintf(want, sizeof want, "injected fault at operation %llu",
                         (unsigned long long)n);
                if (!strstr(r.detail[i - 1], want))
                    fail_msg("detail \"%s\" lacks \"%s\"", r.detail[i - 1],
                             want);
                failed[i - 1] = 1;
            } else if (r.rc[i - 1] != VAULT_OK) {
                fail_msg("fail_at %llu: op %llu failed too: %s",
                         (unsigned long long)n, (unsigned long long)i,
                         r.detail[i - 1]);
            }
        }
        assert_int_equal(vlt_backend_faulty_count(be), SCRIPT_OPS);
        check_side_effects(inner, failed);
        backend_close(be);
    }
}

static void test_faulty_sticky(void **state)
{
    (void)state;
    for (uint64_t n = 1; n <= SCRIPT_OPS; n++) {
        backend *inner = populated_memory(), *be;
        assert_vault_ok(vlt_backend_faulty_open(inner, n, VAULT_E_IO, 1, &be));
        script_result r;
        run_script(be, &r);
        int failed[SCRIPT_OPS] = {0};
        for (uint64_t i = 1; i <= SCRIPT_OPS; i++) {
            if (i < n) {
                assert_int_equal(r.rc[i - 1], VAULT_OK);
                continue;
            }
            assert_int_equal(r.rc[i - 1], VAULT_E_IO);
            char want[64];
            snprintf(want, sizeof want, "injected fault at operation %llu",
                     (unsigned long long)i);
            if (!strstr(r.detail[i - 1], want))
                fail_msg("detail \"%s\" lacks \"%s\"", r.detail[i - 1], want);
            failed[i - 1] = 1;
        }
        assert_int_equal(vlt_backend_faulty_count(be), SCRIPT_OPS);
        check_side_effects(inner, failed);
        backend_close(be);
    }
}

static void test_faulty_open_errors(void **state)
{
    (void)state;
    backend *be = (backend *)&be, *inner;
    assert_vault_code(vlt_backend_faulty_open(NULL, 0, VAULT_E_IO, 0, &be),
                      VAULT_E_INVALID);
    assert_null(be);
    /* A fault must have a code; inner is closed (LeakSanitizer checks). */
    assert_vault_ok(vlt_backend_memory_open(&inner));
    assert_vault_code(vlt_backend_faulty_open(inner, 1, VAULT_OK, 0, &be),
                      VAULT_E_INVALID);
    assert_null(be);
    assert_detail_has("needs an error code");
    /* fail_at 0 takes any code. */
    assert_vault_ok(vlt_backend_memory_open(&inner));
    assert_vault_ok(vlt_backend_faulty_open(inner, 0, VAULT_OK, 0, &be));
    /* Wrappers nest: the outer counts its own operations. */
    backend *outer;
    assert_vault_ok(vlt_backend_faulty_open(be, 2, VAULT_E_IO, 0, &outer));
    uint64_t size;
    assert_vault_code(backend_stat(outer, BACKEND_CONFIG, "", &size),
                      VAULT_E_NOT_FOUND);
    assert_vault_code(backend_stat(outer, BACKEND_CONFIG, "", &size),
                      VAULT_E_IO);
    assert_int_equal(vlt_backend_faulty_count(outer), 2);
    assert_int_equal(vlt_backend_faulty_count(be), 1);
    backend_close(outer);
    backend_close(NULL);
}

/* Kill mode: a fork()ed child saves three objects into a local backend
 * and dies by SIGKILL at operation n - before it (n - 1 objects saved) or
 * right after it (n saved); past the last operation it lives on. */
static void test_faulty_kill(void **state)
{
    (void)state;
    char *tmp = test_tempdir();
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/vault", tmp);
    backend *local;
    assert_vault_ok(vlt_backend_local_open(root, 1, &local));
    save_config(local);
    const char *names[3] = {name_a, name_b, name_c};
    for (int after = 0; after <= 1; after++) {
        for (uint64_t n = 0; n <= 4; n++) {
            pid_t pid = fork();
            assert_true(pid >= 0);
            if (pid == 0) {
                backend *inner, *be;
                if (vlt_backend_local_open(root, 0, &inner) != VAULT_OK ||
                    vlt_backend_faulty_open_kill(inner, n, after, &be) != VAULT_OK)
                    _exit(2);
                for (int i = 0; i < 3; i++)
                    if (backend_save(be, BACKEND_KEYS, names[i],
                                     (const uint8_t *)"k", 1) != VAULT_OK)
                        _exit(3);
                int ok = vlt_backend_faulty_count(be) == 3;
                backend_close(be);
                _exit(ok ? 0 : 4);
            }
            int status;
            assert_int_equal(waitpid(pid, &status, 0), pid);
            int saved = n == 0 || n > 3 ? 3 : after ? (int)n : (int)n - 1;
            if (n == 0 || n > 3) {
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    fail_msg("kill_at %d after %d: child status %#x",
                             (int)n, after, (unsigned)status);
            } else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
                fail_msg("kill_at %d after %d: not killed (status %#x)",
                         (int)n, after, (unsigned)status);
            }
            for (int i = 0; i < 3; i++) {
                assert_int_equal(present(local, BACKEND_KEYS, names[i]),
                                 i < saved);
                if (i < saved)
                    assert_vault_ok(
                        backend_remove(local, BACKEND_KEYS, names[i]));
            }
        }
    }
    /* The wrapper itself still fails nothing in kill mode. */
    backend *be;
    assert_vault_ok(vlt_backend_faulty_open_kill(local, 0, 0, &be));
    uint64_t size;
    assert_vault_code(backend_stat(be, BACKEND_KEYS, name_a, &size),
                      VAULT_E_NOT_FOUND);
    assert_int_equal(vlt_backend_faulty_count(be), 1);
    backend_close(be);
    test_rmtree(tmp);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    /* Tests of modes expect the usual umask. */
    umask(022);
    const struct CMUnitTest shared_tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_name_valid),
        cmocka_unit_test(test_label_and_range),
    };
    const struct CMUnitTest local_only_tests[] = {
        cmocka_unit_test_setup_teardown(test_local_create_refuses_nonempty,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_create_ok, setup_local,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_open_not_vault, setup_local,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_persistence, setup_local,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_skips_litter, setup_local,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_sharding, setup_local,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_modes, setup_local,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_missing_folders, setup_local,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_folder_is_file, setup_local,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_local_huge_sparse, setup_local,
                                        teardown),
    };
    const struct CMUnitTest faulty_only_tests[] = {
        cmocka_unit_test(test_faulty_no_fault),
        cmocka_unit_test(test_faulty_each_op),
        cmocka_unit_test(test_faulty_sticky),
        cmocka_unit_test(test_faulty_open_errors),
        cmocka_unit_test(test_faulty_kill),
    };
    int failures = 0;
    failures += cmocka_run_group_tests_name("backend helpers", shared_tests,
                                            NULL, NULL);
    failures += run_conformance("conformance: local", setup_local);
    failures += run_conformance("conformance: memory", setup_memory);
    failures += run_conformance("conformance: faulty(memory)", setup_faulty);
    failures += cmocka_run_group_tests_name("local backend", local_only_tests,
                                            NULL, NULL);
    failures += cmocka_run_group_tests_name("faulty backend", faulty_only_tests,
                                            setup_names, NULL);
    return failures ? 1 : 0;
}
