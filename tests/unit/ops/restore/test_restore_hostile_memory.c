/*
 * test_restore_hostile_memory.c - the library against a vault whose trees
 * are small stored and huge decoded: socket nodes with 1024 tiny xattrs
 * each decode to about 14 times their bytes, and a chain of such trees
 * nested in each other would make ls -R and extract hold all of them at
 * once (12 levels of 64 MiB trees took 9.4 GiB).  With a tree memory
 * limit, both stop at the level that would pass it, name that directory,
 * and the peak memory stays near the limit.
 */
#include "vault_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "format/tree.h"

#define XATTRS_PER_NODE 1024
#define SOCKETS_PER_TREE 100 /* about 620 KB stored, 9 MiB decoded */
#define LEVELS 12
#define LIMIT ((size_t)32 << 20)
/* What the peak RSS may grow by: the limit and 8 MiB for the rest (all
 * 12 levels at once would be 108 MiB).  Not measured under
 * AddressSanitizer: its redzones and quarantine of freed memory are not
 * the allocator the limit counts for. */
#define RSS_SLACK (LIMIT + ((size_t)8 << 20))
#if defined(__SANITIZE_ADDRESS__)
#define MEASURE_RSS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEASURE_RSS 0
#endif
#endif
#ifndef MEASURE_RSS
#define MEASURE_RSS 1
#endif

/* One socket node named name with 1024 empty xattrs, per the layout in
 * format/tree.c. */
static void put_socket(rawbuf *b, const char *name)
{
    rb_u8(b, NODE_SOCKET);
    rb_u16(b, (uint16_t)strlen(name));
    rb_bytes(b, name, strlen(name));
    rb_u32(b, 0755); /* mode */
    rb_u32(b, 0);    /* uid */
    rb_u32(b, 0);    /* gid */
    rb_u8(b, 0);     /* user */
    rb_u8(b, 0);     /* group */
    rb_u64(b, 0);    /* mtime_sec */
    rb_u32(b, 0);    /* mtime_nsec */
    rb_u64(b, 0);    /* size */
    rb_u64(b, 0);    /* inode */
    rb_u64(b, 0);    /* device */
    rb_u32(b, 1);    /* nlink */
    rb_u64(b, 0);    /* rdev */
    rb_u16(b, 0);    /* target */
    rb_u16(b, XATTRS_PER_NODE);
    for (unsigned i = 0; i < XATTRS_PER_NODE; i++) {
        char x[4];
        snprintf(x, sizeof x, "%03x", i); /* sorted, unique */
        rb_u8(b, 3);
        rb_bytes(b, x, 3);
        rb_u32(b, 0); /* value_len */
    }
}

/* A tree of SOCKETS_PER_TREE sockets and, if sub, a directory "d" of it
 * ("d" sorts after the sockets' names "a000".."a099"). */
static void forge_heavy_tree(forge *g, const uint8_t *sub, uint8_t id[32])
{
    rawbuf b = {0};
    rb_u8(&b, TREE_FORMAT_VERSION);
    rb_u32(&b, SOCKETS_PER_TREE + (sub != NULL));
    for (unsigned i = 0; i < SOCKETS_PER_TREE; i++) {
        char name[8];
        snprintf(name, sizeof name, "a%03u", i);
        put_socket(&b, name);
    }
    rawbuf dir = {0};
    if (sub) {
        raw_node d = {.type = NODE_DIR, .name = "d", .subtree = sub};
        raw_tree(&dir, &d, 1);
        /* raw_tree's bytes of one node, without its 5-byte header */
        rb_bytes(&b, dir.p + 5, dir.len - 5);
    }
    forge_add(g, BLOB_TREE, b.p, b.len, id);
    rb_free(&dir);
    rb_free(&b);
}

/* A snapshot of LEVELS such trees, each the "d" of the one above. */
static void forge_heavy_chain(fx *f, char snap[65])
{
    forge g = {.v = f->v};
    uint8_t id[32];
    forge_heavy_tree(&g, NULL, id);
    for (int i = 1; i < LEVELS; i++) {
        uint8_t sub[32];
        memcpy(sub, id, sizeof sub);
        forge_heavy_tree(&g, sub, id);
    }
    forge_commit(&g);
    forge_snapshot(f, id, snap);
}

static long maxrss_kib(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}

/* The decoder's own bound: what a tree takes decoded, exactly. */
static void test_decode_bounded(void **state)
{
    (void)state;
    rawbuf b = {0};
    rb_u8(&b, TREE_FORMAT_VERSION);
    rb_u32(&b, 2);
    put_socket(&b, "a");
    put_socket(&b, "b");
    tree t;
    assert_vault_ok(vlt_tree_decode(b.p, b.len, &t));
    size_t m = vlt_tree_memory(&t);
    /* 2 × 1024 xattrs of 6 bytes stored; decoded at least 10 times that */
    assert_true(m > 10 * b.len);
    vlt_tree_clear(&t);
    assert_vault_ok(vlt_tree_decode_bounded(b.p, b.len, m, &t));
    assert_int_equal(vlt_tree_memory(&t), m);
    vlt_tree_clear(&t);
    assert_vault_code(vlt_tree_decode_bounded(b.p, b.len, m - 1, &t),
                      VAULT_E_UNSUPPORTED);
    assert_non_null(strstr(vault_last_error(), "tree memory limit"));
    assert_int_equal(t.n_nodes, 0);
    /* The thread's limit applies to vlt_tree_decode. */
    size_t before = vlt_tree_decode_limit(m / 2);
    assert_vault_code(vlt_tree_decode(b.p, b.len, &t), VAULT_E_UNSUPPORTED);
    assert_int_equal(vlt_tree_decode_limit(before), m / 2);
    assert_vault_ok(vlt_tree_decode(b.p, b.len, &t));
    vlt_tree_clear(&t);
    rb_free(&b);
}

static void test_heavy_chain_ls(void **state)
{
    fx *f = *state;
    char snap[65];
    forge_heavy_chain(f, snap);
    vault_set_tree_memory_limit(f->v, LIMIT);
    long before = maxrss_kib();
    ls_list ls = {0};
    assert_vault_code(vault_ls(f->v, snap, NULL, 1, ls_collect, &ls),
                      VAULT_E_UNSUPPORTED);
    long grew = maxrss_kib() - before;
    const char *why = vault_last_error();
    /* 9 MiB a level: three or four levels fit in 32 MiB, not more. */
    if (!strstr(why, "directory /d/d/d") || strstr(why, "/d/d/d/d/d") ||
        !strstr(why, "limit 32 MiB"))
        fail_msg("unexpected error: %s", why);
    /* The levels above were listed before it stopped. */
    assert_non_null(ls_get(&ls, "/a000"));
    assert_non_null(ls_get(&ls, "/d/d/a099"));
    ls_free(&ls);
    if (MEASURE_RSS && grew > (long)(RSS_SLACK >> 10))
        fail_msg("ls -R grew the peak RSS by %ld KiB (limit %zu KiB)", grew,
                 LIMIT >> 10);
}

/* Under the default limit (1 GiB) all 12 levels (108 MiB) are listed.
 * Last: it raises the process's peak RSS, which the others measure. */
static void test_heavy_chain_default_limit(void **state)
{
    fx *f = *state;
    char snap[65];
    forge_heavy_chain(f, snap);
    ls_list ls = {0};
    assert_vault_ok(vault_ls(f->v, snap, NULL, 1, ls_collect, &ls));
    assert_non_null(ls_get(&ls, "/d/d/d/d/d/d/d/d/d/d/d/a000"));
    ls_free(&ls);
}

static void test_heavy_chain_extract(void **state)
{
    fx *f = *state;
    char snap[65];
    forge_heavy_chain(f, snap);
    vault_set_tree_memory_limit(f->v, LIMIT);
    char target[PATH_MAX];
    snprintf(target, sizeof target, "%s/out", f->base);
    err_log log = {0};
    vault_extract_result res;
    long before = maxrss_kib();
    /* The directory over the limit is reported; the rest is restored. */
    assert_vault_code(extract_to(f->v, snap, target, 0, NULL, 0, &log, &res),
                      VAULT_E_PARTIAL);
    long grew = maxrss_kib() - before;
    assert_int_equal(log.n, 1);
    if (log.e[0].code != VAULT_E_UNSUPPORTED ||
        !strstr(log.e[0].detail, "tree memory limit"))
        fail_msg("unexpected report: %s: %s", log.e[0].path,
                 log.e[0].detail);
    if (!strstr(log.e[0].path, "d/d/d"))
        fail_msg("the report names %s", log.e[0].path);
    log_free(&log);
    if (MEASURE_RSS && grew > (long)(RSS_SLACK >> 10))
        fail_msg("extract grew the peak RSS by %ld KiB (limit %zu KiB)",
                 grew, LIMIT >> 10);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_bounded),
        cmocka_unit_test_setup_teardown(test_heavy_chain_ls, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_heavy_chain_extract, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_heavy_chain_default_limit,
                                        fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests_name("hostile vault: tree memory", tests,
                                       NULL, NULL)
               ? 1
               : 0;
}
