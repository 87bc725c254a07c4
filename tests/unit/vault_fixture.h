/*
 * vault_fixture.h - a fresh vault per test, and the tools to look at it
 * and to attack it, shared by the tests that once were test_vault.c
 * (ops/add/test_add.c, repo/test_repo.c, ops/restore/test_restore_hostile_*.c,
 * test_tamper.c and the *_parse.c tests).
 *
 * Use the fixture as cmocka setup/teardown:
 *     cmocka_unit_test_setup_teardown(test_x, fx_setup, fx_teardown)
 * and take the fx from *state.  Everything here fails the running test
 * (fail_msg) instead of returning an error.
 *
 * These are not in test_util.h because other tests keep static helpers
 * of the same names (rng_next, make_dir, fx, forge...).
 */
#ifndef VAULT_TEST_VAULT_FIXTURE_H
#define VAULT_TEST_VAULT_FIXTURE_H

#include "test_util.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "backend/backend.h"
#include "common/internal.h"
#include "crypto/keys.h"
#include "format/pack.h"
#include "format/tree.h"
#include "repo/repo.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

/* What the malicious trees try to write where they should not. */
#define PWNED "pwned\n"
#define PWNED_LEN (sizeof PWNED - 1)

/* ---- small helpers ---------------------------------------------------- */

/* malloc/strdup that fail the test instead of returning NULL. */
void *xmalloc(size_t n);
char *xstrdup(const char *s);

/* xorshift64* from a fixed seed (one sequence per test program), so a
 * failing input can be found again. */
uint64_t rng_next(void);
void rng_fill(uint8_t *p, size_t n);
size_t rng_below(size_t n); /* 0 <= x < n; 0 for n == 0 */

int exists_nofollow(const char *path);
/* rm -rf without a shell: the tamper loop calls it thousands of times. */
void rm_rf(const char *path);
void make_dir(const char *path); /* mode 0700; fails if it exists */

/* ---- directory listings (nothing may appear outside a target) ------------ */

typedef struct name_set {
    char **v; /* the entry names, sorted, malloc'ed */
    size_t n; /* how many */
} name_set;

/* The sorted entries of dir (none if it does not exist). */
void names_of(const char *dir, name_set *out);
void names_free(name_set *s);
/* a and b hold the same names; where names the directory in the failure. */
void names_assert_same(const name_set *a, const name_set *b,
                       const char *where);
/* The entries of dir must be exactly the NULL-terminated list. */
void names_expect(const char *dir, const char *const *expect);

/* ---- fixture: a fresh vault in a fresh directory ------------------------ */

typedef struct fx {
    char *base;           /* the test's temporary directory (canonical) */
    char vault[PATH_MAX]; /* base/vault */
    vault_identity_t *id; /* its owner */
    vault_t *v;           /* open as the owner */
    int64_t snap_time;    /* forged snapshots get increasing times */
} fx;

/* cmocka setup/teardown: an fx in *state; a 120 s watchdog meanwhile. */
int fx_setup(void **state);
int fx_teardown(void **state);
/* Closes and opens the vault again: the index is read once per handle. */
void fx_reopen(fx *f);
/* vault_add of one path, hostname "testhost", no files cache; any error
 * add reports fails the test.  fx_add uses two threads. */
void fx_add_threads(fx *f, const char *path, int compression, int threads,
                    vault_add_result *r);
void fx_add(fx *f, const char *path, int compression, vault_add_result *r);

/* ---- ls collection ------------------------------------------------------ */

typedef struct ls_entry {
    char *path;           /* as vault_ls reported it */
    vault_file_type type; /* file, dir, symlink... */
    uint64_t size;        /* bytes (files) */
    uint32_t mode;        /* permission bits */
    char *target;         /* symlinks; NULL otherwise */
} ls_entry;

typedef struct ls_list {
    ls_entry *e;   /* in the order reported */
    size_t n, cap; /* used, allocated */
} ls_list;

/* A vault_ls callback appending to the ls_list ctx. */
int ls_collect(void *ctx, const vault_file_info *info);
void ls_free(ls_list *l);
/* The one entry with this path; fails if it is missing or repeated. */
const ls_entry *ls_get(const ls_list *l, const char *path);
/* 1 if both hold the same entries in the same order. */
int ls_equal(const ls_list *a, const ls_list *b);

/* ---- extraction with a log of reported errors ---------------------------- */

typedef struct err_item {
    char *path;       /* what the error was about */
    vault_error code; /* its code */
    char *detail;     /* the library's detail message */
} err_item;

typedef struct err_log {
    err_item *e;   /* in the order reported */
    size_t n, cap; /* used, allocated */
} err_log;

/* A vault_extract on_error callback appending to the err_log ctx. */
void log_error(void *ctx, const char *path, vault_error code,
               const char *detail);
void log_free(err_log *l);
void log_print(const err_log *l);
/* The report for path; fails if there is none. */
const err_item *log_get(const err_log *l, const char *path);
/* vault_extract into target (directory mode), errors into log. */
vault_error extract_to(vault_t *v, const char *snap, const char *target,
                       int overwrite, const char *const *include,
                       size_t n_include, err_log *log,
                       vault_extract_result *res);
/* path is a regular file holding exactly data. */
void expect_file(const char *path, const void *data, size_t len);

/* ---- raw tree bytes, per the layout in vault/src/format/tree.c ---------- */

/* Raw tree bytes come from this small encoder, written from the layout,
 * because vlt_tree_encode refuses the names the hostile tests send. */
typedef struct rawbuf {
    uint8_t *p;         /* the bytes, realloc'ed */
    size_t len, cap;    /* used, allocated */
} rawbuf;

void rb_bytes(rawbuf *b, const void *d, size_t n);
void rb_u8(rawbuf *b, uint8_t v);
void rb_u16(rawbuf *b, uint16_t v); /* little-endian, as all below */
void rb_u32(rawbuf *b, uint32_t v);
void rb_u64(rawbuf *b, uint64_t v);
void rb_free(rawbuf *b);

typedef struct raw_node {
    uint8_t type;           /* node_type */
    const char *name;       /* any bytes: not checked */
    size_t name_len;        /* 0: strlen(name) */
    uint32_t mode;          /* 0: 0644 files, 0755 dirs, 0777 symlinks */
    uint64_t size;          /* claimed file size */
    uint64_t inode;         /* 0: none (device 0 too) */
    uint32_t nlink;         /* 0: 1 */
    const char *target;     /* symlinks */
    const uint8_t *content; /* files: n_content chunk IDs */
    uint32_t n_content;     /* how many IDs content holds */
    const uint8_t *subtree; /* dirs */
} raw_node;

/* The bytes of a tree of these nodes, in the order given (not sorted). */
void raw_tree(rawbuf *b, const raw_node *nodes, uint32_t n);

/* ---- writing blobs, packs, index segments and snapshots directly ------ */

typedef struct forge {
    vault_t *v;     /* the vault written to (its keys and backend) */
    pack_writer pw; /* the pack being filled */
    int begun;      /* pw holds a begun pack */
} forge;

/* Adds a blob stored under the given ID - right or forged. */
void forge_add_as(forge *g, blob_type type, const uint8_t id[32],
                  const void *data, size_t len);
/* Adds a blob under its true ID, returned in id. */
void forge_add(forge *g, blob_type type, const void *data, size_t len,
               uint8_t id[32]);
/* Adds raw_tree(nodes) as a tree blob. */
void forge_tree(forge *g, const raw_node *nodes, uint32_t n, uint8_t id[32]);
/* Saves the pack and an index segment listing it. */
void forge_commit(forge *g);
/* Saves a snapshot of root (host "evil", path "/evil"); its name in id. */
void forge_snapshot(fx *f, const uint8_t root[32], char id[65]);

/* ---- other members, made by hand ---------------------------------------
 * Until tests can share a vault with real members of every role, a member
 * is a signing key listed in the handle's membership (v->members): these
 * add one, and switch the handle's keyring to sign as it. */

typedef struct test_author {
    uint8_t seed[SIGN_SEED_BYTES];
    uint8_t pk[SIGN_PUBLIC_BYTES];
    uint8_t sk[SIGN_SECRET_BYTES];
} test_author;

/* A fresh signing key pair. */
void author_new(test_author *a);
/* The handle's own signing key, to switch back to. */
void author_of_handle(const vault_t *v, test_author *a);
/* Shares the vault with a fresh identity in role (a real record in the
 * log) and gives that member's signing key, to act as it. */
void member_new(fx *f, member_role role, test_author *a);
/* v's keyring signs as a from now on (snapshots, segments, locks). */
void act_as(vault_t *v, const test_author *a);

/* A target and an "outside" next to it, whose listings (and that of their
 * parent) must not change except inside the target. */
typedef struct arena {
    char dir[PATH_MAX];     /* base/<label>: holds target and outside */
    char target[PATH_MAX];  /* created empty */
    char outside[PATH_MAX]; /* holds "marker" only */
    name_set before_dir;     /* dir's entries at arena_open */
    name_set before_outside; /* outside's entries at arena_open */
    name_set before_base;    /* base's entries at arena_open */
    const char *base;        /* the fixture's base directory */
} arena;

void arena_open(fx *f, arena *a, const char *label);
/* Nothing appeared next to the target, in "outside", or at the root. */
void arena_check(arena *a);
void arena_close(arena *a);

/* The codes a hostile tree's item may be refused with. */
int code_is_refusal(vault_error code);

/* ---- parsers against hostile bytes --------------------------------------- */

/* The codes a parser may refuse bytes with (never a crash, never OK). */
int is_clean_rejection(vault_error rc);

#define assert_rejected(expr)                                                \
    do {                                                                     \
        vault_error r_ = (expr);                                             \
        if (!is_clean_rejection(r_))                                         \
            fail_msg("%s: expected a clean rejection, got %s (%d): %s",      \
                     #expr, vault_strerror(r_), r_, vault_last_error());     \
    } while (0)

#endif
