/*
 * test_blocks.c - the library's shared building blocks on their own: the
 * growable array (common/array.h), the ID set (common/idset.h) and the
 * tree walker (repo/tree_walk.h, over trees a test loader makes up, so no
 * vault is needed).
 */
#include "test_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "repo/tree_walk.h"

/* --- array --------------------------------------------------------------- */

static void test_array_grow(void **state)
{
    (void)state;
    uint32_t *a = NULL;
    size_t n = 0, cap = 0;
    for (uint32_t i = 0; i < 100000; i++) {
        assert_int_equal(VLT_ARRAY_GROW(&a, &cap, n + 1), 0);
        assert_true(cap >= n + 1);
        a[n++] = i;
    }
    for (uint32_t i = 0; i < n; i++)
        assert_int_equal(a[i], i);
    /* An impossible size fails and leaves the array as it was. */
    uint32_t *before = a;
    size_t cap_before = cap;
    assert_int_equal(VLT_ARRAY_GROW(&a, &cap, SIZE_MAX / 2), -1);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, cap_before);
    /* Room already there: nothing moves. */
    assert_int_equal(VLT_ARRAY_GROW(&a, &cap, 1), 0);
    assert_ptr_equal(a, before);
    free(a);
}

/* --- ID set -------------------------------------------------------------- */

static void test_idset(void **state)
{
    (void)state;
    enum { N = 20000 };
    uint8_t(*ids)[32] = malloc(N * sizeof *ids);
    assert_non_null(ids);
    for (size_t i = 0; i < N; i++) {
        /* The first 24 bytes alike, as a hostile writer would pick them:
         * the set hashes all 32 with its own key. */
        memset(ids[i], 0xab, 32);
        memcpy(ids[i] + 24, &i, sizeof i);
    }
    vlt_idset set = {0};
    for (size_t i = 0; i < N; i++) {
        uint32_t n;
        int inserted;
        assert_vault_ok(vlt_idset_put(&set, ids[i], &n, &inserted));
        assert_true(inserted);
        assert_int_equal(n, i); /* numbered in insertion order */
    }
    assert_int_equal(set.n, N);
    for (size_t i = 0; i < N; i++) {
        uint32_t n;
        int inserted;
        assert_true(vlt_idset_find(&set, ids[i], &n));
        assert_int_equal(n, i);
        assert_memory_equal(vlt_idset_id(&set, n), ids[i], 32);
        assert_vault_ok(vlt_idset_put(&set, ids[i], &n, &inserted));
        assert_false(inserted);
        assert_int_equal(n, i);
    }
    uint8_t absent[32];
    memset(absent, 0xab, 32);
    assert_false(vlt_idset_find(&set, absent, NULL));
    vlt_idset_free(&set);
    assert_false(vlt_idset_find(&set, ids[0], NULL));
    uint32_t n;
    int inserted;
    assert_vault_ok(vlt_idset_put(&set, ids[7], &n, &inserted));
    assert_true(inserted);
    assert_int_equal(n, 0); /* usable again after free */
    vlt_idset_free(&set);
    free(ids);
}

/* --- tree walker --------------------------------------------------------- */

/* A made-up tree: entry i is "name" of type type, a directory's subtree
 * the tree numbered sub (IDs are that number in byte 0). */
typedef struct fake_entry {
    const char *name;
    node_type type;
    uint8_t sub;
} fake_entry;

typedef struct fake_tree {
    uint8_t id;
    fake_entry entries[4];
    int damaged; /* the loader fails on it */
} fake_tree;

typedef struct walk_log {
    const fake_tree *trees;
    size_t n_trees;
    char log[2048];       /* one line per callback */
    const char *stop_at;  /* node() says STOP at this path */
    int damaged_goes_on;  /* damaged() returns VAULT_OK */
    char first_damage[256]; /* the detail damaged() saw first */
    vlt_idset seen;       /* once walks: trees descended into */
} walk_log;

static void id_of(uint8_t n, uint8_t id[CHUNK_ID_BYTES])
{
    memset(id, 0, CHUNK_ID_BYTES);
    id[0] = n;
}

static void logf_(walk_log *w, const char *what, const vlt_tree_walk_at *at)
{
    size_t used = strlen(w->log);
    snprintf(w->log + used, sizeof w->log - used, "%s %s%s\n", what,
             at->path ? at->path : "#",
             at->stopping ? " (stopping)" : "");
}

static vault_error fake_load(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *out)
{
    walk_log *w = ctx;
    for (size_t i = 0; i < w->n_trees; i++) {
        const fake_tree *f = &w->trees[i];
        if (f->id != id[0])
            continue;
        if (f->damaged)
            return vlt_fail(VAULT_E_CORRUPT, "tree %u: damaged",
                            (unsigned)f->id);
        uint32_t n = 0;
        while (n < 4 && f->entries[n].name)
            n++;
        out->nodes = calloc(n ? n : 1, sizeof *out->nodes);
        if (!out->nodes)
            return VAULT_E_NOMEM;
        out->n_nodes = n;
        for (uint32_t j = 0; j < n; j++) {
            out->nodes[j].type = f->entries[j].type;
            out->nodes[j].name = strdup(f->entries[j].name);
            id_of(f->entries[j].sub, out->nodes[j].subtree);
        }
        return VAULT_OK;
    }
    return vlt_fail(VAULT_E_NOT_FOUND, "tree %u: missing", (unsigned)id[0]);
}

static vault_error log_enter(void *ctx, const vlt_tree_walk_at *at, tree *t,
                             void **dir_state)
{
    (void)t;
    walk_log *w = ctx;
    logf_(w, "enter", at);
    *dir_state = w; /* anything not NULL */
    return VAULT_OK;
}

static vault_error log_node(void *ctx, const vlt_tree_walk_at *at,
                            const tree_node *n, vlt_tree_walk_action *action)
{
    walk_log *w = ctx;
    assert_ptr_equal(at->dir_state, w);
    if (!at->path) { /* once: descend into a tree the first time only */
        uint32_t number;
        int inserted = 0;
        if (n->type == NODE_DIR)
            assert_vault_ok(
                vlt_idset_put(&w->seen, n->subtree, &number, &inserted));
        char line[64];
        snprintf(line, sizeof line, "%u/%s", (unsigned)at->id[0], n->name);
        vlt_tree_walk_at named = *at;
        named.path = line;
        logf_(w, "node", &named);
        if (n->type == NODE_DIR && !inserted)
            *action = VLT_TREE_WALK_SKIP;
        return VAULT_OK;
    }
    logf_(w, "node", at);
    if (w->stop_at && strcmp(at->path, w->stop_at) == 0)
        *action = VLT_TREE_WALK_STOP;
    return VAULT_OK;
}

static vault_error log_leave(void *ctx, const vlt_tree_walk_at *at, tree *t,
                             void *dir_state)
{
    (void)t;
    walk_log *w = ctx;
    assert_ptr_equal(dir_state, w);
    logf_(w, "leave", at);
    return VAULT_OK;
}

static vault_error log_damaged(void *ctx, const vlt_tree_walk_at *at,
                               vault_error rc)
{
    walk_log *w = ctx;
    logf_(w, "damaged", at);
    if (!w->first_damage[0])
        snprintf(w->first_damage, sizeof w->first_damage, "%s",
                 vault_last_error());
    return w->damaged_goes_on ? VAULT_OK : rc;
}

/* root 1: a/ (2), b, c/ (3, damaged); 2: x, y/ (4); 4: empty. */
static const fake_tree paths_trees[] = {
    {1, {{"a", NODE_DIR, 2}, {"b", NODE_FILE, 0}, {"c", NODE_DIR, 3}}, 0},
    {2, {{"x", NODE_FILE, 0}, {"y", NODE_DIR, 4}}, 0},
    {3, {{0}}, 1},
    {4, {{0}}, 0},
};

static vlt_tree_walk log_walker(walk_log *w)
{
    vlt_tree_walk walk = {.ctx = w, .load = fake_load, .enter = log_enter,
                          .node = log_node, .leave = log_leave,
                          .damaged = log_damaged};
    return walk;
}

static void test_walk_paths(void **state)
{
    (void)state;
    uint8_t root[CHUNK_ID_BYTES];
    id_of(1, root);
    walk_log w = {.trees = paths_trees, .n_trees = 4, .damaged_goes_on = 1};
    vlt_tree_walk walk = log_walker(&w);
    assert_vault_ok(vlt_tree_walk_paths(&walk, root, ""));
    assert_string_equal(w.log, "enter \n"
                               "node /a\n"
                               "enter /a\n"
                               "node /a/x\n"
                               "node /a/y\n"
                               "enter /a/y\n"
                               "leave /a/y\n"
                               "leave /a\n"
                               "node /b\n"
                               "node /c\n"
                               "damaged /c\n"
                               "leave \n");

    /* Damage ends the walk when damaged() says so; every directory
     * entered is left. */
    memset(w.log, 0, sizeof w.log);
    w.damaged_goes_on = 0;
    assert_vault_code(vlt_tree_walk_paths(&walk, root, "/top"),
                      VAULT_E_CORRUPT);
    assert_string_equal(w.log + strlen(w.log) - strlen("damaged /top/c\n"
                                                       "leave /top "
                                                       "(stopping)\n"),
                        "damaged /top/c\nleave /top (stopping)\n");

    /* STOP ends it with VAULT_OK. */
    memset(w.log, 0, sizeof w.log);
    w.stop_at = "/a/x";
    assert_vault_ok(vlt_tree_walk_paths(&walk, root, ""));
    assert_string_equal(w.log, "enter \n"
                               "node /a\n"
                               "enter /a\n"
                               "node /a/x\n"
                               "leave /a (stopping)\n"
                               "leave  (stopping)\n");

    /* Too deep is damage too. */
    memset(w.log, 0, sizeof w.log);
    w.stop_at = NULL;
    w.damaged_goes_on = 1;
    w.first_damage[0] = '\0';
    walk.max_depth = 2;
    assert_vault_ok(vlt_tree_walk_paths(&walk, root, ""));
    assert_non_null(strstr(w.log, "node /a/y\ndamaged /a/y\nleave /a\n"));
    assert_string_equal(w.first_damage,
                        "/a/y: nested deeper than 2 directories");
}

/* Two roots (1, 2) sharing subtree 3, which names 4 twice over. */
static const fake_tree once_trees[] = {
    {1, {{"s", NODE_DIR, 3}, {"f", NODE_FILE, 0}}, 0},
    {2, {{"t", NODE_DIR, 3}, {"u", NODE_DIR, 5}}, 0},
    {3, {{"p", NODE_DIR, 4}, {"q", NODE_DIR, 4}}, 0},
    {4, {{"z", NODE_FILE, 0}}, 0},
    {5, {{0}}, 1},
};

static void test_walk_once(void **state)
{
    (void)state;
    uint8_t roots[2][CHUNK_ID_BYTES];
    id_of(1, roots[0]);
    id_of(2, roots[1]);
    walk_log w = {.trees = once_trees, .n_trees = 5, .damaged_goes_on = 1};
    vlt_tree_walk walk = log_walker(&w);
    assert_vault_ok(vlt_tree_walk_once(&walk, roots, 2));
    /* Breadth first; 3 and 4 each once; 5 damaged, the walk goes on. */
    assert_string_equal(w.log, "enter #\n"
                               "node 1/s\n"
                               "node 1/f\n"
                               "leave #\n"
                               "enter #\n"
                               "node 2/t\n"
                               "node 2/u\n"
                               "leave #\n"
                               "enter #\n"
                               "node 3/p\n"
                               "node 3/q\n"
                               "leave #\n"
                               "damaged #\n"
                               "enter #\n"
                               "node 4/z\n"
                               "leave #\n");
    vlt_idset_free(&w.seen);
}

/* Tree k (its number in the ID's first two bytes) names k + 1 and k + 2
 * up to CHAIN_TREES: thousands of trees through the queue, each once. */
#define CHAIN_TREES 3000

static vault_error chain_load(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                              tree *out)
{
    (void)ctx;
    unsigned k = id[0] | (unsigned)id[1] << 8;
    out->nodes = calloc(2, sizeof *out->nodes);
    if (!out->nodes)
        return VAULT_E_NOMEM;
    for (unsigned j = 0; j < 2 && k + 1 + j < CHAIN_TREES; j++) {
        tree_node *n = &out->nodes[out->n_nodes++];
        n->type = NODE_DIR;
        n->name = strdup(j ? "b" : "a");
        n->subtree[0] = (uint8_t)(k + 1 + j);
        n->subtree[1] = (uint8_t)((k + 1 + j) >> 8);
    }
    return VAULT_OK;
}

typedef struct chain_walk {
    vlt_idset seen; /* trees named so far */
    unsigned next;  /* the tree to be entered next */
} chain_walk;

static vault_error chain_node(void *ctx, const vlt_tree_walk_at *at,
                              const tree_node *n, vlt_tree_walk_action *action)
{
    (void)at;
    chain_walk *cw = ctx;
    uint32_t number;
    int inserted = 0;
    vault_error rc = vlt_idset_put(&cw->seen, n->subtree, &number, &inserted);
    if (!inserted)
        *action = VLT_TREE_WALK_SKIP;
    return rc;
}

static vault_error chain_enter(void *ctx, const vlt_tree_walk_at *at,
                               tree *t, void **dir_state)
{
    (void)t;
    (void)dir_state;
    chain_walk *cw = ctx;
    /* Breadth first over k -> k+1, k+2: trees are entered 0, 1, 2, ... */
    unsigned k = at->id[0] | (unsigned)at->id[1] << 8;
    assert_int_equal(k, cw->next);
    cw->next++;
    return VAULT_OK;
}

static void test_walk_once_many(void **state)
{
    (void)state;
    chain_walk cw = {0};
    uint8_t root[1][CHUNK_ID_BYTES] = {{0}};
    vlt_tree_walk walk = {.ctx = &cw, .load = chain_load,
                          .enter = chain_enter, .node = chain_node};
    assert_vault_ok(vlt_tree_walk_once(&walk, root, 1));
    assert_int_equal(cw.next, CHAIN_TREES);
    assert_int_equal(cw.seen.n, CHAIN_TREES - 1); /* all but the root */
    vlt_idset_free(&cw.seen);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_array_grow),
        cmocka_unit_test(test_idset),
        cmocka_unit_test(test_walk_paths),
        cmocka_unit_test(test_walk_once),
        cmocka_unit_test(test_walk_once_many),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
