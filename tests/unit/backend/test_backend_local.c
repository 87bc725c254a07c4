/*
 * test_backend_local.c - the local directory backend (backend_local.c):
 * the conformance suite (backend_conformance.h), then what only it does:
 * creating and opening vault folders, its file system layout (shards,
 * modes), litter it skips, missing or misplaced folders, huge sparse
 * objects.
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

#include "backend_conformance.h"
#include "backend_testing.h"
#include "common/internal.h"

/* The local-only tests' fixture: a vault directory in a fresh temporary
 * directory, created and open. */
typedef struct fixture {
    char *tmp;            /* a fresh temporary directory */
    char vault[PATH_MAX]; /* tmp/vault, the local backend's root */
    backend *be;          /* the backend under test */
} fixture;

static int setup_local(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->tmp = test_tempdir();
    snprintf(fx->vault, sizeof fx->vault, "%s/vault", fx->tmp);
    assert_vault_ok(vlt_backend_local_open(fx->vault, 1, &fx->be));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    backend_close(fx->be);
    test_rmtree(fx->tmp);
    free(fx);
    return 0;
}

/* Counts the entries below dir, dir included. */
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

/* ---- the conformance suite, on a new local vault per test ---- */

/* Everything in the temporary directory: refused calls add nothing, in
 * the vault or beside it. */
static size_t local_footprint(void *ctx)
{
    return count_tree(((local_target *)ctx)->tmp);
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

/* Writing in pieces where folders went missing: data/ is made again
 * for the temporary, the shard for the commit; where neither can be, a
 * clear error and no temporary left. */
static void test_local_staged_folders(void **state)
{
    fixture *fx = *state;
    char name[VAULT_NAME_HEX + 1], other[VAULT_NAME_HEX + 1], path[PATH_MAX];
    name_with_prefix("ab", 1, name);
    name_with_prefix("cd", 2, other);
    save_config(fx->be);
    assert_int_equal(test_run("rm -r '%s/data'", fx->vault), 0);
    backend_stage *st;
    assert_vault_ok(backend_stage_begin(fx->be, BACKEND_DATA, &st));
    assert_vault_ok(backend_stage_write(fx->be, st, (const uint8_t *)"d", 1));
    assert_vault_ok(backend_stage_commit(fx->be, st, name));
    assert_object(fx->be, BACKEND_DATA, name, (const uint8_t *)"d", 1);
    path_in(path, fx->vault, "data/ab");
    assert_int_equal(mode_of(path) & 07777, 0700);
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(BACKEND_DATA, name, label);
    path_in(path, fx->vault, label);
    assert_int_equal(mode_of(path) & 07777, 0444);

    /* A shard that cannot be made (a dangling symlink holds its name). */
    path_in(path, fx->vault, "data/cd");
    assert_int_equal(symlink("nowhere", path), 0);
    assert_vault_ok(backend_stage_begin(fx->be, BACKEND_DATA, &st));
    assert_vault_code(backend_stage_commit(fx->be, st, other), VAULT_E_IO);
    assert_detail_has("data/cd: cannot create folder");
    uint64_t removed = 1;
    assert_vault_ok(backend_clean(fx->be, 0, &removed));
    assert_int_equal(removed, 0);

    /* data/ cannot hold a temporary (a file under its name). */
    assert_int_equal(test_run("rm -r '%s/data'", fx->vault), 0);
    path_in(path, fx->vault, "data");
    test_write_file(path, "not a folder", 12);
    assert_vault_code(backend_stage_begin(fx->be, BACKEND_DATA, &st),
                      VAULT_E_IO);
    assert_null(st);
    assert_detail_has("data: cannot create a temporary");
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

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    /* Tests of modes expect the usual umask. */
    umask(022);
    local_target lt = {0};
    const backend_conformance target = {
        .name = "local",
        .open = local_target_open,
        .cleanup = local_target_cleanup,
        .footprint = local_footprint,
        /* No listing pages here, and each save fsyncs twice. */
        .list_many = 120,
        .ctx = &lt,
    };
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_local_create_refuses_nonempty,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_create_ok,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_open_not_vault,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_persistence,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_skips_litter,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_sharding,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_modes,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_staged_folders,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_missing_folders,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_folder_is_file,
                                        setup_local, teardown),
        cmocka_unit_test_setup_teardown(test_local_huge_sparse,
                                        setup_local, teardown),
    };
    int failures = backend_conformance_run(&target);
    failures += cmocka_run_group_tests_name("local backend", tests, NULL, NULL);
    return failures ? 1 : 0;
}
