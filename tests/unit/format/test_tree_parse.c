/*
 * test_tree_parse.c - the decoders of tree and snapshot records
 * (format/tree.c) against truncated, mutated and random bytes
 * (a fixed-seed generator, so failures repeat), and against authenticated
 * (correctly sealed) but malformed contents: a clean rejection
 * (assert_rejected), never a crash.
 */
#include "vault_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "backend_testing.h"

static void test_parse_tree_and_snapshot_records(void **state)
{
    (void)state;
    /* a valid tree from the raw encoder: the decoder agrees with it */
    uint8_t ids[2][32];
    rng_fill(&ids[0][0], sizeof ids);
    raw_node nodes[] = {
        {.type = NODE_FILE, .name = "a", .size = 10, .content = &ids[0][0],
         .n_content = 2},
        {.type = NODE_DIR, .name = "b", .subtree = ids[1]},
        {.type = NODE_SYMLINK, .name = "c", .target = "/etc/passwd"},
        {.type = NODE_FILE, .name = "d", .inode = 5, .nlink = 2},
    };
    rawbuf b = {0};
    raw_tree(&b, nodes, VAULT_ARRAY_SIZE(nodes));
    tree t;
    assert_vault_ok(vlt_tree_decode(b.p, b.len, &t));
    assert_int_equal(t.n_nodes, 4);
    assert_string_equal(t.nodes[2].target, "/etc/passwd");
    uint8_t *enc;
    size_t enc_len;
    assert_vault_ok(vlt_tree_encode(&t, &enc, &enc_len));
    assert_int_equal(enc_len, b.len);
    assert_memory_equal(enc, b.p, b.len);
    free(enc);
    vlt_tree_clear(&t);

    for (size_t n = 0; n < b.len; n++) {
        uint8_t *c = xmalloc(n);
        memcpy(c, b.p, n);
        assert_vault_code(vlt_tree_decode(c, n, &t), VAULT_E_CORRUPT);
        free(c);
    }
    uint8_t *buf = xmalloc(b.len);
    for (size_t pos = 0; pos < b.len; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, b.p, b.len);
            buf[pos] ^= (uint8_t)(1u << bit);
            vault_error rc = vlt_tree_decode(buf, b.len, &t);
            assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
            vlt_tree_clear(&t);
        }
    }
    free(buf);
    for (int i = 0; i < 3000; i++) {
        size_t m = rng_below(400);
        uint8_t *r = xmalloc(m);
        rng_fill(r, m);
        if (i % 2 && m > 5) {
            r[0] = TREE_FORMAT_VERSION;
            store_le32(r + 1, (uint32_t)rng_below(4));
        }
        vault_error rc = vlt_tree_decode(r, m, &t);
        assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
        vlt_tree_clear(&t);
        snapshot_record s;
        rc = vlt_snapshot_decode(r, m, &s);
        assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
        vlt_snapshot_clear(&s);
        free(r);
    }
    rb_free(&b);

    /* snapshot records */
    char host[] = "h", user[] = "u", p1[] = "/a", p2[] = "/b/c", tag[] = "t";
    char *paths[] = {p1, p2}, *tags[] = {tag};
    snapshot_record rec;
    memset(&rec, 0, sizeof rec);
    rec.time_sec = -5;
    rec.time_nsec = 999999999;
    rec.hostname = host;
    rec.username = user;
    rec.paths = paths;
    rec.n_paths = 2;
    rec.tags = tags;
    rec.n_tags = 1;
    rec.files = 1;
    assert_vault_ok(vlt_snapshot_encode(&rec, &enc, &enc_len));
    snapshot_record s;
    assert_vault_ok(vlt_snapshot_decode(enc, enc_len, &s));
    assert_true(s.time_sec == -5);
    vlt_snapshot_clear(&s);
    for (size_t n = 0; n < enc_len; n++) {
        uint8_t *c = xmalloc(n);
        memcpy(c, enc, n);
        assert_vault_code(vlt_snapshot_decode(c, n, &s), VAULT_E_CORRUPT);
        free(c);
    }
    buf = xmalloc(enc_len);
    for (size_t pos = 0; pos < enc_len; pos++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, enc, enc_len);
            buf[pos] ^= (uint8_t)(1u << bit);
            vault_error rc = vlt_snapshot_decode(buf, enc_len, &s);
            assert_true(rc == VAULT_OK || rc == VAULT_E_CORRUPT);
            vlt_snapshot_clear(&s);
        }
    }
    free(buf);
    free(enc);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_tree_and_snapshot_records),
    };
    return cmocka_run_group_tests_name("parsers: trees", tests, NULL, NULL)
               ? 1
               : 0;
}
