/*
 * backend_conformance.c - what every storage backend must do, whatever
 * it stores in (backend_conformance.h says how to run it): save and load
 * every kind, ranges and size limits, missing objects, saving twice, stat,
 * list (also stopped, re-entered, and past a 1000-key page), remove,
 * refused names and kinds, empty and big objects, concurrent saves,
 * objects written in pieces where the backend offers it.
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

#include "backend_conformance.h"
#include "backend_testing.h"
#include "common/internal.h"

/* One test's backend, fresh from the target's open. */
typedef struct fixture {
    const backend_conformance *target; /* what opened be */
    backend *be;                       /* the backend under test */
} fixture;

/* A well-formed name, different for every i, spread over the shards. */
void name_for(unsigned i, char out[VAULT_NAME_HEX + 1])
{
    uint8_t h[32];
    uint8_t in[4];
    store_le32(in, i);
    crypto_generichash(h, sizeof h, in, sizeof in, NULL, 0);
    vlt_hex_encode(h, sizeof h, out);
}

/* As name_for, starting with the two hex digits of prefix. */
void name_with_prefix(const char *prefix, unsigned i,
                             char out[VAULT_NAME_HEX + 1])
{
    name_for(i, out);
    out[0] = prefix[0];
    out[1] = prefix[1];
}

/* Deterministic bytes, different for every seed. */
uint8_t *make_data(size_t len, unsigned seed)
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

vault_error local_target_open(void *ctx, backend **out)
{
    local_target *lt = ctx;
    char vault[PATH_MAX];
    lt->tmp = test_tempdir();
    test_fmt(vault, sizeof vault, "%s/vault", lt->tmp);
    return vlt_backend_local_open(vault, 1, out);
}

void local_target_cleanup(void *ctx)
{
    local_target *lt = ctx;
    test_rmtree(lt->tmp);
    lt->tmp = NULL;
}

void save_config(backend *be)
{
    assert_vault_ok(
        backend_save(be, BACKEND_CONFIG, "", (const uint8_t *)"config", 6));
}

/* Loads a whole object and compares it with want. */
void assert_object(backend *be, backend_kind kind, const char *name,
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

int collect_fn(void *ctx, const char *name, uint64_t size)
{
    collected *c = ctx;
    if (c->calls < COLLECT_MAX) {
        snprintf(c->names[c->calls], sizeof c->names[0], "%s", name);
        c->sizes[c->calls] = size;
    }
    c->calls++;
    return c->calls == c->stop_at ? c->stop_value : 0;
}

collected *collect(backend *be, backend_kind kind)
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
long collected_find(const collected *c, const char *name)
{
    for (size_t i = 0; i < c->calls && i < COLLECT_MAX; i++)
        if (strcmp(c->names[i], name) == 0)
            return (long)i;
    return -1;
}

const backend_kind named_kinds[BACKEND_NAMED_KINDS] = {BACKEND_KEYS, BACKEND_DATA,
                                           BACKEND_INDEX, BACKEND_SNAPSHOTS,
                                           BACKEND_LOCKS};

/* ------------------------------------------------------------------------
 * The conformance suite
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

/* Many objects: more than one page of a paged listing (S3's
 * ListObjectsV2 answers 1000 keys at a time), each listed once with its
 * size, and a stop on the second page. */
#define MANY 1200
typedef struct many_ctx {
    unsigned n;                        /* objects saved, up to MANY */
    char (*names)[VAULT_NAME_HEX + 1]; /* sorted */
    unsigned *index;                   /* names[k] is name_for(index[k]) */
    unsigned seen[MANY];               /* times listed, by index */
    size_t calls, unknown, wrong_size;
    size_t stop_at; /* return 9 on this call; 0: never */
} many_ctx;

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

static size_t many_len(unsigned i)
{
    return i % 13;
}

static int many_fn(void *ctx, const char *name, uint64_t size)
{
    many_ctx *m = ctx;
    m->calls++;
    char(*hit)[VAULT_NAME_HEX + 1] =
        bsearch(name, m->names, m->n, sizeof m->names[0], compare_names);
    if (!hit) {
        m->unknown++;
    } else {
        unsigned i = m->index[hit - m->names];
        m->seen[i]++;
        if (size != many_len(i))
            m->wrong_size++;
    }
    return m->calls == m->stop_at ? 9 : 0;
}

static void test_list_many(void **state)
{
    fixture *fx = *state;
    many_ctx *m = calloc(1, sizeof *m);
    assert_non_null(m);
    m->n = fx->target->list_many ? fx->target->list_many : MANY;
    assert_true(m->n >= 10 && m->n <= MANY);
    m->names = calloc(MANY, sizeof m->names[0]);
    m->index = calloc(MANY, sizeof m->index[0]);
    assert_non_null(m->names);
    assert_non_null(m->index);
    const uint8_t bytes[13] = "0123456789ab";
    for (unsigned i = 0; i < m->n; i++) {
        name_for(10000 + i, m->names[i]);
        assert_vault_ok(backend_save(fx->be, BACKEND_DATA, m->names[i], bytes,
                                     many_len(i)));
    }
    qsort(m->names, m->n, sizeof m->names[0], compare_names);
    for (unsigned k = 0; k < m->n; k++) {
        char want[VAULT_NAME_HEX + 1];
        for (unsigned i = 0; i < m->n; i++) {
            name_for(10000 + i, want);
            if (strcmp(want, m->names[k]) == 0) {
                m->index[k] = i;
                break;
            }
        }
    }
    int stopped = -1;
    assert_vault_ok(backend_list(fx->be, BACKEND_DATA, many_fn, m, &stopped));
    assert_int_equal(stopped, 0);
    assert_int_equal(m->calls, m->n);
    assert_int_equal(m->unknown, 0);
    assert_int_equal(m->wrong_size, 0);
    for (unsigned i = 0; i < m->n; i++)
        if (m->seen[i] != 1)
            fail_msg("object %u listed %u times", i, m->seen[i]);

    /* Stopped past the first page: no more calls, the value handed back. */
    memset(m->seen, 0, sizeof m->seen);
    m->calls = 0;
    m->stop_at = m->n * 11 / 12; /* 1100 of 1200 */
    assert_vault_ok(backend_list(fx->be, BACKEND_DATA, many_fn, m, &stopped));
    assert_int_equal(stopped, 9);
    assert_int_equal(m->calls, m->stop_at);
    assert_int_equal(m->unknown, 0);

    /* Other kinds stay empty. */
    collected *c = collect(fx->be, BACKEND_INDEX);
    assert_int_equal(c->calls, 0);
    free(c);
    free(m->names);
    free(m->index);
    free(m);
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

/* discard: removes what is there, and absence is no error. */
static void test_discard(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1], other[VAULT_NAME_HEX + 1];
    name_for(410, name);
    name_for(411, other);
    assert_vault_ok(
        backend_save(fx->be, BACKEND_LOCKS, name, (const uint8_t *)"a", 1));
    assert_vault_ok(
        backend_save(fx->be, BACKEND_LOCKS, other, (const uint8_t *)"b", 1));
    assert_vault_ok(backend_discard(fx->be, BACKEND_LOCKS, name));
    uint64_t size;
    assert_vault_code(backend_stat(fx->be, BACKEND_LOCKS, name, &size),
                      VAULT_E_NOT_FOUND);
    assert_vault_ok(backend_discard(fx->be, BACKEND_LOCKS, name));
    assert_object(fx->be, BACKEND_LOCKS, other, (const uint8_t *)"b", 1);
    assert_vault_code(backend_discard(fx->be, BACKEND_LOCKS, "../x"),
                      VAULT_E_INVALID);
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
    const backend_conformance *t = fx->target;
    size_t before = t->footprint ? t->footprint(t->ctx) : 0;

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
    /* Nor anywhere in the backend's storage. */
    if (t->footprint)
        assert_int_equal(t->footprint(t->ctx), before);
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

static int conformance_setup(void **state)
{
    const backend_conformance *t = *state;
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->target = t;
    assert_vault_ok(t->open(t->ctx, &fx->be));
    assert_non_null(fx->be);
    *state = fx;
    return 0;
}

static int conformance_teardown(void **state)
{
    fixture *fx = *state;
    backend_close(fx->be);
    if (fx->target->cleanup)
        fx->target->cleanup(fx->target->ctx);
    free(fx);
    return 0;
}

/* Objects written in pieces (backend_ops.stage_*), where the backend
 * offers it: the pieces make one object under the name it is committed
 * to, never replacing one; an aborted or refused stage leaves nothing,
 * not even a temporary for clean to find; stages run side by side. */
static void test_staged(void **state)
{
    fixture *fx = *state;
    if (!backend_can_stage(fx->be))
        return; /* optional: such a backend holds objects whole */
    save_config(fx->be);
    size_t len = 3u << 20;
    uint8_t *data = make_data(len, 7);
    char name[VAULT_NAME_HEX + 1], other[VAULT_NAME_HEX + 1];
    name_for(40, name);
    name_for(41, other);

    backend_stage *st, *st2;
    assert_vault_ok(backend_stage_begin(fx->be, BACKEND_DATA, &st));
    assert_non_null(st);
    assert_vault_ok(backend_stage_begin(fx->be, BACKEND_DATA, &st2));
    assert_vault_ok(backend_stage_write(fx->be, st, data, 1000));
    assert_vault_ok(backend_stage_write(fx->be, st2, data, 10));
    assert_vault_ok(backend_stage_write(fx->be, st, data + 1000, 0));
    assert_vault_ok(backend_stage_write(fx->be, st, data + 1000, len - 1000));
    uint64_t size;
    assert_vault_code(backend_stat(fx->be, BACKEND_DATA, name, &size),
                      VAULT_E_NOT_FOUND); /* nothing before the commit */
    assert_vault_ok(backend_stage_commit(fx->be, st, name));
    assert_object(fx->be, BACKEND_DATA, name, data, len);
    assert_vault_ok(backend_stat(fx->be, BACKEND_DATA, name, &size));
    assert_int_equal(size, len);
    /* the second, committed to the first's name: refused, first intact */
    assert_vault_code(backend_stage_commit(fx->be, st2, name), VAULT_E_EXISTS);
    assert_detail_has(name);
    assert_object(fx->be, BACKEND_DATA, name, data, len);

    /* aborted, and refused for a bad name: nothing stored, nothing left */
    assert_vault_ok(backend_stage_begin(fx->be, BACKEND_DATA, &st));
    assert_vault_ok(backend_stage_write(fx->be, st, data, 100));
    backend_stage_abort(fx->be, st);
    assert_vault_ok(backend_stage_begin(fx->be, BACKEND_DATA, &st));
    assert_vault_ok(backend_stage_write(fx->be, st, data, 100));
    assert_vault_code(backend_stage_commit(fx->be, st, "not-a-name"),
                      VAULT_E_INVALID);
    assert_vault_code(backend_stat(fx->be, BACKEND_DATA, other, &size),
                      VAULT_E_NOT_FOUND);
    collected *c = collect(fx->be, BACKEND_DATA);
    assert_int_equal(c->calls, 1);
    assert_string_equal(c->names[0], name);
    free(c);
    uint64_t removed = 1;
    assert_vault_ok(backend_clean(fx->be, 0, &removed));
    assert_int_equal(removed, 0);

    /* an empty object */
    assert_vault_ok(backend_stage_begin(fx->be, BACKEND_DATA, &st));
    assert_vault_ok(backend_stage_commit(fx->be, st, other));
    assert_object(fx->be, BACKEND_DATA, other, NULL, 0);
    free(data);
}

#define CONFORMANCE_TEST(f)                                                   \
    cmocka_unit_test_prestate_setup_teardown(f, conformance_setup,            \
                                             conformance_teardown,            \
                                             &run)

int backend_conformance_run(const backend_conformance *target)
{
    /* cmocka hands each setup a (non-const) pointer: to this copy. */
    backend_conformance run = *target;
    const struct CMUnitTest tests[] = {
        CONFORMANCE_TEST(test_roundtrip_every_kind),
        CONFORMANCE_TEST(test_load_ranges),
        CONFORMANCE_TEST(test_load_max_len),
        CONFORMANCE_TEST(test_missing_object),
        CONFORMANCE_TEST(test_save_twice),
        CONFORMANCE_TEST(test_stat_sizes),
        CONFORMANCE_TEST(test_list),
        CONFORMANCE_TEST(test_list_many),
        CONFORMANCE_TEST(test_list_reentrant),
        CONFORMANCE_TEST(test_remove),
        CONFORMANCE_TEST(test_discard),
        CONFORMANCE_TEST(test_invalid_names),
        CONFORMANCE_TEST(test_empty_object),
        CONFORMANCE_TEST(test_big_object),
        CONFORMANCE_TEST(test_concurrent_saves),
        CONFORMANCE_TEST(test_concurrent_same_name),
        CONFORMANCE_TEST(test_staged),
    };
    char group[128];
    snprintf(group, sizeof group, "conformance: %s", target->name);
    /* Named on stdout too: cmocka's default output omits a group's name,
     * and the scripts that point the suite at a server check it ran. */
    printf("%s\n", group);
    fflush(stdout);
    return cmocka_run_group_tests_name(group, tests, NULL, NULL);
}
