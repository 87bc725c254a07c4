/*
 * test_index_cache.c - the index kept in a file of the client's cache
 * (repo/index_cache.c): mapped under the index it answers every lookup as
 * the index loaded into memory from the same segments does (copies, their
 * order, flags, dedup), also when merged from many runs; condemned packs
 * and what this handle adds go on top; a file that is damaged, another
 * member's, for other keys or for other author standings is not used; a
 * damaged or forged segment stays uncovered; no writable folder means no
 * cache, not an error.
 */
#include "test_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "backend_testing.h"
#include "common/internal.h"
#include "crypto/keys.h"
#include "format/pack.h"
#include "repo/index_cache.h"

#define N_IDS 1500
#define N_SEGMENTS 6

typedef struct ixc_fx {
    char *dir;
    char path[PATH_MAX];
    keyring *k;
    backend *be;
    /* the signing key of a second author (a writer), and the owner's */
    uint8_t w_seed[SIGN_SEED_BYTES], w_pk[SIGN_PUBLIC_BYTES],
        w_sk[SIGN_SECRET_BYTES];
    uint8_t o_seed[SIGN_SEED_BYTES], o_pk[SIGN_PUBLIC_BYTES],
        o_sk[SIGN_SECRET_BYTES];
    int writer_flags; /* what the writer's standing gives (-1 forged) */
    uint8_t ids[N_IDS][CHUNK_ID_BYTES];
} ixc_fx;

static int author_flags(void *ctx, const uint8_t author[SIGN_PUBLIC_BYTES])
{
    ixc_fx *f = ctx;
    if (memcmp(author, f->o_pk, SIGN_PUBLIC_BYTES) == 0)
        return SLOT_TRUSTED | SLOT_OWN;
    if (memcmp(author, f->w_pk, SIGN_PUBLIC_BYTES) == 0)
        return f->writer_flags;
    return -1;
}

static void sign_as(keyring *k, const uint8_t *seed, const uint8_t *pk,
                    const uint8_t *sk)
{
    memcpy(k->sign_seed, seed, SIGN_SEED_BYTES);
    memcpy(k->sign_pk, pk, SIGN_PUBLIC_BYTES);
    memcpy(k->sign_sk, sk, SIGN_SECRET_BYTES);
    k->has_sign_key = 1;
}

/* Segment s (the owner's when even, the writer's when odd) lists the
 * IDs i with i % N_SEGMENTS == s in packs of 50.  Every seventh ID of the
 * segment before is listed again in another pack (a second copy), and
 * every thirteenth by both at the same place (one copy listed twice,
 * by both authors: its flags merge). */
static void entry_for(pack_entry *x, const uint8_t id[CHUNK_ID_BYTES], int i)
{
    memset(x, 0, sizeof *x);
    memcpy(x->id, id, CHUNK_ID_BYTES);
    x->type = i % 5 ? BLOB_DATA : BLOB_TREE;
    x->offset = (uint32_t)(PACK_HEADER_BYTES + 100 * (i + 1));
    x->length = 80;
    x->raw_len = 40;
}

static void save_segments(ixc_fx *f)
{
    for (int s = 0; s < N_SEGMENTS; s++) {
        if (s % 2)
            sign_as(f->k, f->w_seed, f->w_pk, f->w_sk);
        else
            sign_as(f->k, f->o_seed, f->o_pk, f->o_sk);
        pack_entry e[2 * N_IDS / N_SEGMENTS + 8];
        uint8_t packs[96][32];
        size_t starts[97], n = 0, np = 0;
        for (int i = 0; i < N_IDS; i++) {
            int own = i % N_SEGMENTS == s;
            int prev = i % N_SEGMENTS == (s + N_SEGMENTS - 1) % N_SEGMENTS;
            if (i % 13 == 0 || !(own || (prev && i % 7 == 0)))
                continue;
            if (n % 50 == 0) {
                starts[np] = n;
                randombytes_buf(packs[np++], 32);
            }
            entry_for(&e[n++], f->ids[i], i);
        }
        for (int i = 0; i < N_IDS; i += 13) {
            int own = i % N_SEGMENTS == s;
            int prev = i % N_SEGMENTS == (s + N_SEGMENTS - 1) % N_SEGMENTS;
            if (!own && !prev)
                continue;
            starts[np] = n;
            memset(packs[np], 0, 32);
            store_le32(packs[np++], (uint32_t)i + 1);
            entry_for(&e[n++], f->ids[i], i);
        }
        assert_true(np < 96);
        starts[np] = n;
        assert_vault_ok(vlt_index_segment_save(f->be, f->k, &packs[0][0], np,
                                               starts, e));
    }
    sign_as(f->k, f->o_seed, f->o_pk, f->o_sk);
}

static int ixc_setup(void **state)
{
    ixc_fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = test_tempdir();
    test_fmt(f->path, sizeof f->path, "%s/index-test", f->dir);
    assert_vault_ok(vlt_keyring_generate(&f->k));
    assert_vault_ok(vlt_backend_memory_open(&f->be));
    crypto_sign_keypair(f->w_pk, f->w_sk);
    memcpy(f->w_seed, f->w_sk, SIGN_SEED_BYTES);
    crypto_sign_keypair(f->o_pk, f->o_sk);
    memcpy(f->o_seed, f->o_sk, SIGN_SEED_BYTES);
    f->writer_flags = 0;
    for (int i = 0; i < N_IDS; i++)
        randombytes_buf(f->ids[i], CHUNK_ID_BYTES);
    save_segments(f);
    *state = f;
    return 0;
}

static int ixc_teardown(void **state)
{
    ixc_fx *f = *state;
    vlt_index_cache_set_run_slots(0);
    backend_close(f->be);
    vlt_keyring_free(f->k);
    test_rmtree(f->dir);
    free(f);
    return 0;
}

static void list_segments(ixc_fx *f, name_list *names)
{
    memset(names, 0, sizeof *names);
    assert_vault_ok(vlt_backend_list_names(f->be, BACKEND_INDEX, names));
}

/* Builds the cache and opens it (it must serve). */
static index_cache *build_open(ixc_fx *f)
{
    name_list names;
    list_segments(f, &names);
    assert_vault_ok(
        vlt_index_cache_build(f->path, f->be, f->k, &names, author_flags, f));
    index_cache *c = NULL;
    assert_vault_ok(vlt_index_cache_open(f->path, f->k, author_flags, f, &c));
    assert_non_null(c);
    name_list uncovered;
    int stale = -1;
    assert_vault_ok(vlt_index_cache_diff(c, &names, &uncovered, &stale));
    assert_int_equal(stale, 0);
    assert_int_equal(uncovered.n, 0);
    assert_int_equal(vlt_index_cache_segments(c), names.n);
    free(uncovered.names);
    free(names.names);
    return c;
}

/* Both indexes give id the same copies, in the same order. */
static void same_copies(const vault_index *a, const vault_index *b,
                        const uint8_t id[CHUNK_ID_BYTES])
{
    const index_slot *ca[INDEX_MAX_COPIES], *cb[INDEX_MAX_COPIES];
    size_t na = vlt_index_copies(a, id, ca, INDEX_MAX_COPIES);
    size_t nb = vlt_index_copies(b, id, cb, INDEX_MAX_COPIES);
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na && i < INDEX_MAX_COPIES; i++) {
        pack_entry ea, eb;
        memset(&ea, 0, sizeof ea); /* padding too: compared whole */
        memset(&eb, 0, sizeof eb);
        vlt_index_slot_entry(a, ca[i], &ea);
        vlt_index_slot_entry(b, cb[i], &eb);
        assert_memory_equal(&ea, &eb, sizeof ea);
        assert_memory_equal(vlt_index_pack_id(a, ca[i]->pack),
                            vlt_index_pack_id(b, cb[i]->pack), 32);
        assert_int_equal(ca[i]->raw_len & (SLOT_TRUSTED | SLOT_OWN),
                         cb[i]->raw_len & (SLOT_TRUSTED | SLOT_OWN));
    }
    assert_int_equal(vlt_index_dedup_find(a, id), vlt_index_dedup_find(b, id));
}

static void compare_with_memory(ixc_fx *f, const index_cache *c)
{
    vault_index mem, mapped;
    vlt_index_init(&mem);
    vlt_index_init(&mapped);
    assert_vault_ok(vlt_index_load(&mem, f->be, f->k, author_flags, f, NULL,
                                   NULL));
    assert_vault_ok(vlt_index_attach_base(&mapped, vlt_index_cache_base(c)));
    assert_int_equal(vlt_index_n_slots_all(&mapped),
                     vlt_index_n_slots_all(&mem));
    assert_int_equal(vlt_index_n_packs(&mapped), vlt_index_n_packs(&mem));
    for (int i = 0; i < N_IDS; i++)
        same_copies(&mem, &mapped, f->ids[i]);
    /* absent IDs: not found (most of them stopped by the filter) */
    for (int i = 0; i < 200; i++) {
        uint8_t id[CHUNK_ID_BYTES];
        randombytes_buf(id, sizeof id);
        assert_null(vlt_index_find(&mapped, id));
    }
    vlt_index_free(&mem);
    vlt_index_free(&mapped);
}

static void test_same_as_memory(void **state)
{
    ixc_fx *f = *state;
    index_cache *c = build_open(f);
    compare_with_memory(f, c);
    vlt_index_cache_close(c);
    /* the same from many runs merged (a run of 97 slots); looked up past
     * INDEX_BASE_TRIM_EVERY times, so that the mapping's pages are let go
     * of and mapped again in between */
    vlt_index_cache_set_run_slots(97);
    c = build_open(f);
    for (int round = 0; round < 4; round++)
        compare_with_memory(f, c);
    vlt_index_cache_close(c);
    /* and with the writer trusted (a reader, say) */
    f->writer_flags = SLOT_TRUSTED;
    c = build_open(f);
    compare_with_memory(f, c);
    vlt_index_cache_close(c);
}

static index_cache *open_cache(ixc_fx *f, const keyring *k)
{
    index_cache *c = (index_cache *)1;
    assert_vault_ok(vlt_index_cache_open(f->path, k, author_flags, f, &c));
    return c;
}

static void flip_byte(const char *path, off_t at)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x20;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);
}

static void test_not_trusted(void **state)
{
    ixc_fx *f = *state;
    vlt_index_cache_close(build_open(f));
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);

    /* any byte changed: header, slots, the end */
    off_t places[] = {20, st.st_size / 2, st.st_size - 40, st.st_size - 1};
    for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
        flip_byte(f->path, places[i]);
        assert_null(open_cache(f, f->k));
        flip_byte(f->path, places[i]);
        index_cache *c = open_cache(f, f->k);
        assert_non_null(c);
        vlt_index_cache_close(c);
    }
    /* cut short */
    assert_int_equal(truncate(f->path, st.st_size - 1), 0);
    assert_null(open_cache(f, f->k));
    vlt_index_cache_close(build_open(f));

    /* another member (other signing key), or the same member's key ring
     * with another key epoch, does not use it */
    keyring *other;
    assert_vault_ok(vlt_keyring_generate(&other));
    assert_null(open_cache(f, other));
    vlt_keyring_free(other);
    f->k->n_epochs++;
    assert_null(open_cache(f, f->k));
    f->k->n_epochs--;

    /* an author whose standing changed: the file's trust is out of date */
    f->writer_flags = SLOT_TRUSTED;
    assert_null(open_cache(f, f->k));
    f->writer_flags = -1;
    assert_null(open_cache(f, f->k));
    f->writer_flags = 0;
    index_cache *c = open_cache(f, f->k);
    assert_non_null(c);
    vlt_index_cache_close(c);

    /* a member without a signing key keeps no cache */
    f->k->has_sign_key = 0;
    assert_null(open_cache(f, f->k));
    f->k->has_sign_key = 1;

    /* a symbolic link is not followed */
    char link_path[PATH_MAX];
    test_fmt(link_path, sizeof link_path, "%s/link", f->dir);
    assert_int_equal(symlink(f->path, link_path), 0);
    c = (index_cache *)1;
    assert_vault_ok(vlt_index_cache_open(link_path, f->k, author_flags, f, &c));
    assert_null(c);
}

static void test_coverage(void **state)
{
    ixc_fx *f = *state;
    index_cache *c = build_open(f);
    name_list names, uncovered;
    list_segments(f, &names);
    int stale;
    /* a segment the cache covers is gone: stale */
    names.n--;
    assert_vault_ok(vlt_index_cache_diff(c, &names, &uncovered, &stale));
    assert_int_equal(stale, 1);
    free(uncovered.names);
    names.n++;
    /* a new one (and a name that is no segment's): uncovered */
    char not_a_segment[65] = "0123"; /* names are 65-byte records */
    assert_int_equal(vlt_name_list_add(&names, not_a_segment), 0);
    assert_vault_ok(vlt_index_cache_diff(c, &names, &uncovered, &stale));
    assert_int_equal(stale, 0);
    assert_int_equal(uncovered.n, 1);
    assert_string_equal(uncovered.names[0], "0123");
    free(uncovered.names);
    free(names.names);
    vlt_index_cache_close(c);

    /* damaged and forged segments are left out (the in-memory load
     * reports them) */
    uint8_t junk[100];
    randombytes_buf(junk, sizeof junk);
    char junk_name[65];
    vlt_object_name(junk, sizeof junk, junk_name);
    assert_vault_ok(backend_save(f->be, BACKEND_INDEX, junk_name, junk,
                                 sizeof junk));
    f->writer_flags = -1;
    list_segments(f, &names);
    assert_vault_ok(
        vlt_index_cache_build(f->path, f->be, f->k, &names, author_flags, f));
    c = open_cache(f, f->k);
    assert_non_null(c);
    assert_vault_ok(vlt_index_cache_diff(c, &names, &uncovered, &stale));
    assert_int_equal(stale, 0);
    assert_int_equal(uncovered.n, 1 + N_SEGMENTS / 2);
    assert_int_equal(vlt_index_cache_segments(c), N_SEGMENTS / 2);
    free(uncovered.names);
    free(names.names);
    vlt_index_cache_close(c);
}

static void test_overlay(void **state)
{
    ixc_fx *f = *state;
    index_cache *c = build_open(f);
    vault_index ix;
    vlt_index_init(&ix);
    assert_vault_ok(vlt_index_attach_base(&ix, vlt_index_cache_base(c)));
    const index_base *b = vlt_index_cache_base(c);
    size_t base_packs = b->n_packs;

    /* an ID the owner listed: an add deduplicates against it */
    int inserted = -1;
    assert_vault_ok(vlt_index_add(&ix, f->ids[0], NULL, NULL,
                                  SLOT_TRUSTED | SLOT_OWN, &inserted));
    assert_int_equal(inserted, 0);
    /* one only a writer listed (untrusted): stored anew, pending first */
    assert_vault_ok(vlt_index_add(&ix, f->ids[1], NULL, NULL,
                                  SLOT_TRUSTED | SLOT_OWN, &inserted));
    assert_int_equal(inserted, 1);
    const index_slot *s = vlt_index_find(&ix, f->ids[1]);
    assert_int_equal(s->pack, INDEX_PENDING);
    uint8_t new_pack[32];
    randombytes_buf(new_pack, sizeof new_pack);
    pack_entry e = {.type = BLOB_DATA, .offset = 44, .length = 80,
                    .raw_len = 40};
    memcpy(e.id, f->ids[1], CHUNK_ID_BYTES);
    assert_vault_ok(vlt_index_add(&ix, f->ids[1], new_pack, &e,
                                  SLOT_TRUSTED | SLOT_OWN, &inserted));
    s = vlt_index_find(&ix, f->ids[1]);
    assert_memory_equal(vlt_index_pack_id(&ix, s->pack), new_pack, 32);
    assert_true(s->pack >= base_packs);
    uint32_t number;
    assert_true(vlt_index_pack_find(&ix, new_pack, &number));
    assert_int_equal(number, s->pack);
    assert_int_equal(vlt_index_n_packs(&ix), base_packs + 1);
    const index_slot *copies[INDEX_MAX_COPIES];
    assert_int_equal(vlt_index_copies(&ix, f->ids[1], copies,
                                      INDEX_MAX_COPIES),
                     2);

    /* the owner's copy of ids[0] in a condemned pack gives way: an add
     * stores it anew */
    s = vlt_index_find(&ix, f->ids[0]);
    assert_true(s->pack < base_packs);
    assert_vault_ok(
        vlt_index_condemn_pack(&ix, vlt_index_pack_id(&ix, s->pack)));
    assert_true(vlt_index_slot_condemned(&ix, s));
    assert_false(vlt_index_dedup_find(&ix, f->ids[0]));
    assert_vault_ok(vlt_index_add(&ix, f->ids[0], NULL, NULL,
                                  SLOT_TRUSTED | SLOT_OWN, &inserted));
    assert_int_equal(inserted, 1);
    assert_int_equal(vlt_index_find(&ix, f->ids[0])->pack, INDEX_PENDING);

    /* a base goes only under an empty index */
    assert_int_equal(vlt_index_attach_base(&ix, b), VAULT_E_INTERNAL);
    vlt_index_free(&ix);
    vlt_index_cache_close(c);
}

static void test_no_folder(void **state)
{
    ixc_fx *f = *state;
    name_list names;
    list_segments(f, &names);
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/missing/index-test", f->dir);
    /* no file can be made: no cache, and no error */
    assert_vault_ok(
        vlt_index_cache_build(path, f->be, f->k, &names, author_flags, f));
    index_cache *c = (index_cache *)1;
    assert_vault_ok(vlt_index_cache_open(path, f->k, author_flags, f, &c));
    assert_null(c);
    /* runs cannot be written either */
    vlt_index_cache_set_run_slots(10);
    assert_vault_ok(
        vlt_index_cache_build(path, f->be, f->k, &names, author_flags, f));
    free(names.names);
    /* nothing is left behind next to a file that was made (runs are
     * unlinked at once, the new file renamed into place) */
    vlt_index_cache_close(build_open(f));
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    size_t entries = 0;
    for (struct dirent *de; (de = readdir(d));)
        entries += de->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 1);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_same_as_memory, ixc_setup,
                                        ixc_teardown),
        cmocka_unit_test_setup_teardown(test_not_trusted, ixc_setup,
                                        ixc_teardown),
        cmocka_unit_test_setup_teardown(test_coverage, ixc_setup,
                                        ixc_teardown),
        cmocka_unit_test_setup_teardown(test_overlay, ixc_setup, ixc_teardown),
        cmocka_unit_test_setup_teardown(test_no_folder, ixc_setup,
                                        ixc_teardown),
    };
    return cmocka_run_group_tests_name("index cache", tests, NULL, NULL) ? 1
                                                                          : 0;
}
