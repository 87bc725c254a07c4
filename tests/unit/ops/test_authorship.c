/*
 * test_authorship.c - what the author of an index segment or a lock
 * changes (format-spec/format.md §15-15a): dedup only against trusted or
 * own copies, readers falling back past a copy that fails, prune keeping
 * a verified copy and honouring only owners' prune marks, and add
 * markers dated in the future holding sweeps back for at most a day.
 *
 * Other members are shared for real (vault_fixture.h: member_new, act_as):
 * the handle's keyring signs as them, and the handle's membership lists
 * them with their role.  After switching, the index is dropped
 * (vlt_repo_forget_index) so that it is read again with the new opener's
 * view of which copies are its own.
 */
#include "vault_fixture.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "format/locks.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct warnings {
    size_t n;
    char text[64][512];
} warnings;

static void collect_warning(const char *message, void *ctx)
{
    warnings *w = ctx;
    if (w->n < 64)
        snprintf(w->text[w->n], sizeof w->text[w->n], "%s", message);
    w->n++;
}

static int warned(const warnings *w, const char *needle)
{
    for (size_t i = 0; i < w->n && i < 64; i++)
        if (strstr(w->text[i], needle))
            return 1;
    return 0;
}

static void write_text(const char *path, const char *text)
{
    test_write_file(path, text, strlen(text));
}

/* base/<name>/ with files a.txt and b.txt of the given texts. */
static void make_tree(fx *f, const char *name, const char *a, const char *b,
                      char out[PATH_MAX])
{
    test_fmt(out, PATH_MAX, "%s/%s", f->base, name);
    make_dir(out);
    char p[PATH_MAX];
    test_fmt(p, sizeof p, "%s/a.txt", out);
    write_text(p, a);
    test_fmt(p, sizeof p, "%s/b.txt", out);
    write_text(p, b);
}

static void add_as(fx *f, const test_author *who, const char *path,
                   const char *cache_dir, vault_add_result *r)
{
    act_as(f->v, who);
    vlt_repo_forget_index(f->v);
    const char *paths[] = {path};
    vault_add_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.n_paths = 1;
    o.compression = VAULT_COMPRESSION_OFF;
    o.threads = 1; /* one data pack: the tests name "the" real pack */
    o.cache_dir = cache_dir;
    o.hostname = "testhost";
    assert_vault_ok(vault_add(f->v, &o, r));
}

/* The snapshot extracts to exactly the files of src. */
static void expect_extracts(fx *f, const char *snap, const char *src,
                            const char *label)
{
    char out[PATH_MAX];
    test_fmt(out, sizeof out, "%s/out-%s", f->base, label);
    err_log log = {0};
    vault_extract_result res;
    vault_error rc = extract_to(f->v, snap, out, 0, NULL, 0, &log, &res);
    if (rc != VAULT_OK) {
        log_print(&log);
        fail_msg("extract %s: %s: %s", label, vault_strerror(rc),
                 vault_last_error());
    }
    log_free(&log);
    if (test_run("diff -r '%s' '%s%s' >/dev/null", src, out, src) != 0)
        fail_msg("snapshot %.8s does not extract as %s", snap, src);
    test_run("rm -rf '%s'", out);
}

static void prune_now(fx *f, const char *cache_dir, vault_prune_result *r)
{
    vault_prune_options o;
    vault_prune_options_init(&o);
    o.max_unused_percent = VAULT_PRUNE_MAX_UNUSED_NONE;
    o.cache_dir = cache_dir;
    vault_error rc = vault_prune(f->v, &o, r);
    if (rc != VAULT_OK)
        fail_msg("prune: %s: %s", vault_strerror(rc), vault_last_error());
}

static int pack_exists(fx *f, const uint8_t id[32])
{
    char hex[65], path[PATH_MAX];
    vlt_hex_encode(id, 32, hex);
    test_fmt(path, sizeof path, "%s/data/%.2s/%s", f->vault, hex, hex);
    struct stat st;
    return stat(path, &st) == 0;
}

/* Every chunk ID the vault's index lists (data and trees), with type. */
typedef struct id_list {
    uint8_t (*ids)[32];
    uint8_t *types;
    uint8_t pack[32]; /* the pack of the data blobs (all in one here; add
                         keeps the trees in a pack of their own) */
    size_t n;
} id_list;

static void index_ids(fx *f, id_list *l)
{
    vlt_repo_forget_index(f->v);
    assert_vault_ok(vlt_repo_load_index(f->v));
    vault_index *ix = &f->v->index;
    size_t n_slots = vlt_index_n_slots_all(ix);
    l->ids = calloc(n_slots ? n_slots : 1, 32);
    l->types = calloc(n_slots ? n_slots : 1, 1);
    assert_non_null(l->ids);
    assert_non_null(l->types);
    l->n = 0;
    for (size_t i = 0; i < n_slots; i++) {
        pack_entry e;
        const index_slot *s = vlt_index_slot_at(ix, i);
        vlt_index_slot_entry(ix, s, &e);
        memcpy(l->ids[l->n], e.id, 32);
        l->types[l->n++] = e.type;
        if (e.type == BLOB_DATA)
            memcpy(l->pack, vlt_index_pack_id(ix, s->pack), 32);
    }
}

/* As the handle's current signer: one pack holding junk under every ID
 * of l, indexed by a segment it signs; the pack's name in pack_id. */
static void forge_bogus(fx *f, const id_list *l, uint8_t pack_id[32])
{
    pack_writer pw = {0};
    assert_vault_ok(vlt_pack_writer_begin(&pw, f->v->keys));
    for (size_t i = 0; i < l->n; i++) {
        char junk[64];
        snprintf(junk, sizeof junk, "not the real content %zu", i);
        assert_vault_ok(vlt_pack_writer_add(&pw, (blob_type)l->types[i],
                                            l->ids[i], 0,
                                            (const uint8_t *)junk,
                                            strlen(junk),
                                            (uint32_t)strlen(junk)));
    }
    assert_vault_ok(vlt_pack_writer_finish(&pw, f->v->be, pack_id));
    size_t starts[2] = {0, pw.n_entries};
    assert_vault_ok(vlt_index_segment_save(f->v->be, f->v->keys, pack_id, 1,
                                           starts, pw.entries));
    vlt_pack_writer_free(&pw);
}

/* How many copies the index has of the one chunk of a small file with
 * this text, and how many of them are trusted (the index read afresh). */
static size_t copies_of(fx *f, const char *text, size_t *trusted)
{
    uint8_t id[CHUNK_ID_BYTES];
    vlt_chunk_id_compute(f->v->keys, BLOB_DATA, (const uint8_t *)text,
                         strlen(text), id);
    vlt_repo_forget_index(f->v);
    assert_vault_ok(vlt_repo_load_index(f->v));
    const index_slot *c[INDEX_MAX_COPIES];
    size_t n = vlt_index_copies(&f->v->index, id, c, INDEX_MAX_COPIES);
    *trusted = 0;
    for (size_t i = 0; i < n; i++)
        *trusted += vlt_index_slot_trusted(c[i]);
    return n;
}

/* ---- dedup -------------------------------------------------------------- */

static void test_dedup_by_standing(void **state)
{
    fx *f = *state;
    test_author owner, writer;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    char cache[PATH_MAX];
    test_fmt(cache, sizeof cache, "%s/cache", f->base);
    char src[PATH_MAX];
    make_tree(f, "src", "written first by a writer\n", "and this too\n", src);

    /* The writer stores it; its own next add deduplicates against its
     * own copy.  (Counts are of copies of the files' chunks: the trees
     * of the folders above src may change meanwhile, /tmp's included.) */
    const char *text = "written first by a writer\n";
    vault_add_result r;
    size_t trusted;
    add_as(f, &writer, src, "", &r);
    assert_true(r.blobs_added >= 3); /* two chunks and trees */
    assert_int_equal(copies_of(f, text, &trusted), 1);
    assert_int_equal(trusted, 0);
    add_as(f, &writer, src, "", &r);
    assert_int_equal(copies_of(f, text, &trusted), 1);

    /* The owner does not trust the writer's copy: it stores the chunks
     * again; its next add deduplicates against its own. */
    add_as(f, &owner, src, "", &r);
    assert_true(r.blobs_added >= 2);
    assert_int_equal(copies_of(f, text, &trusted), 2);
    assert_int_equal(trusted, 1);
    add_as(f, &owner, src, "", &r);
    assert_int_equal(copies_of(f, text, &trusted), 2);

    /* The writer deduplicates against the owner's (trusted) copy. */
    char src2[PATH_MAX];
    make_tree(f, "src2", "written first by a writer\n", "and this too\n",
              src2);
    add_as(f, &writer, src2, "", &r);
    assert_int_equal(copies_of(f, text, &trusted), 2);

    /* The files cache: a writer's add fills it; the owner's add of the
     * same files must not take the writer's chunk IDs from it. */
    char src3[PATH_MAX];
    const char *cached = "cached by the writer\n";
    make_tree(f, "src3", cached, "second cached file\n", src3);
    add_as(f, &writer, src3, cache, &r);
    add_as(f, &writer, src3, cache, &r);
    assert_int_equal(r.files_unchanged, 2);
    assert_int_equal(copies_of(f, cached, &trusted), 1);
    add_as(f, &owner, src3, cache, &r);
    assert_int_equal(r.files_unchanged, 0);
    assert_int_equal(copies_of(f, cached, &trusted), 2);
    assert_int_equal(trusted, 1);
    /* ...and once its own copies are there, the cache serves it */
    add_as(f, &owner, src3, cache, &r);
    assert_int_equal(r.files_unchanged, 2);
}

/* ---- readers fall back ------------------------------------------------- */

static void test_readers_fall_back(void **state)
{
    fx *f = *state;
    test_author owner, reader;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_READER, &reader);
    warnings w = {0};
    vault_set_warning_handler(collect_warning, &w);
    char src[PATH_MAX];
    make_tree(f, "src", "the real content, first file\n",
              "the real content, second file\n", src);
    /* The reader stores the real copies (trusted, not the opener's). */
    vault_add_result r;
    add_as(f, &reader, src, "", &r);
    act_as(f->v, &owner);
    id_list ids;
    index_ids(f, &ids);
    /* The opener's own segment lists junk under the same IDs: trusted
     * and its own, so it ranks first. */
    uint8_t bogus[32];
    forge_bogus(f, &ids, bogus);
    vlt_repo_forget_index(f->v);
    assert_vault_ok(vlt_repo_load_index(f->v));
    const index_slot *c[INDEX_MAX_COPIES];
    assert_int_equal(vlt_index_copies(&f->v->index, ids.ids[0], c,
                                      INDEX_MAX_COPIES),
                     2);
    assert_memory_equal(vlt_index_pack_id(&f->v->index, c[0]->pack), bogus, 32);

    /* Every file still extracts, each failed copy reported by name. */
    expect_extracts(f, r.snapshot_id, src, "fallback");
    char hex[65];
    vlt_hex_encode(bogus, 32, hex);
    assert_true(w.n > 0);
    assert_true(warned(&w, hex));
    assert_true(warned(&w, "trying another copy"));

    /* A missing pack is a failed copy too. */
    char path[PATH_MAX];
    test_fmt(path, sizeof path, "%s/data/%.2s/%s", f->vault, hex, hex);
    assert_int_equal(unlink(path), 0);
    vlt_repo_forget_index(f->v);
    expect_extracts(f, r.snapshot_id, src, "missing");
    free(ids.ids);
    free(ids.types);
}

/* ---- junk in index/ ---------------------------------------------------- */

static void test_junk_segments_skipped(void **state)
{
    fx *f = *state;
    warnings w = {0};
    vault_set_warning_handler(collect_warning, &w);
    char src[PATH_MAX];
    make_tree(f, "src", "some content\n", "more content\n", src);
    vault_add_result r;
    fx_add(f, src, VAULT_COMPRESSION_OFF, &r);
    /* junk under a name that is not its hash, and junk under its hash */
    char path[PATH_MAX], name[65];
    test_fmt(path, sizeof path, "%s/index/%064d", f->vault, 0);
    write_text(path, "junk");
    static const char junk[] = "VAULTIX2 but nothing else";
    vlt_object_name((const uint8_t *)junk, sizeof junk - 1, name);
    test_fmt(path, sizeof path, "%s/index/%s", f->vault, name);
    write_text(path, junk);
    vlt_repo_forget_index(f->v);
    expect_extracts(f, r.snapshot_id, src, "junk");
    assert_true(warned(&w, name));
    char zeros[65];
    memset(zeros, '0', 64);
    zeros[64] = '\0';
    assert_true(warned(&w, zeros));
    /* add goes on too */
    char src2[PATH_MAX];
    make_tree(f, "src2", "other content\n", "more content\n", src2);
    vlt_repo_forget_index(f->v);
    fx_add(f, src2, VAULT_COMPRESSION_OFF, &r);
    expect_extracts(f, r.snapshot_id, src2, "junk2");
}

/* ---- prune keeps a verified copy --------------------------------------- */

static void test_prune_keeps_verified_copy(void **state)
{
    fx *f = *state;
    test_author owner, writer, reader;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    member_new(f, ROLE_READER, &reader);
    warnings w = {0};
    vault_set_warning_handler(collect_warning, &w);
    char src[PATH_MAX];
    make_tree(f, "src", "precious first file\n", "precious second file\n",
              src);
    /* stored by a reader: trusted, but not the pruning owner's own */
    vault_add_result r;
    add_as(f, &reader, src, "", &r);
    act_as(f->v, &owner);
    id_list ids;
    index_ids(f, &ids);
    uint8_t real[32];
    memcpy(real, ids.pack, 32);

    /* A writer indexes a pack of junk under the real IDs. */
    act_as(f->v, &writer);
    uint8_t bogus[32];
    forge_bogus(f, &ids, bogus);
    act_as(f->v, &owner);
    vault_prune_result pr;
    prune_now(f, "", &pr);
    vault_prune_result_free(&pr);
    /* the real pack stays; the junk one goes (no snapshot needs it) */
    assert_true(pack_exists(f, real));
    assert_false(pack_exists(f, bogus));
    vlt_repo_forget_index(f->v);
    expect_extracts(f, r.snapshot_id, src, "after-writer-junk");

    /* Junk that ranks first (the owner's own segment, as after a bug or a
     * stolen key): prune opens it, it fails, the real copy is kept. */
    uint8_t bogus2[32];
    forge_bogus(f, &ids, bogus2);
    w.n = 0;
    prune_now(f, "", &pr);
    vault_prune_result_free(&pr);
    assert_true(pack_exists(f, real));
    assert_false(pack_exists(f, bogus2));
    char hex[65];
    vlt_hex_encode(bogus2, 32, hex);
    assert_true(warned(&w, hex));
    vlt_repo_forget_index(f->v);
    expect_extracts(f, r.snapshot_id, src, "after-own-junk");

    /* No copy verifies (the real copy of a chunk is damaged and junk
     * sits beside it): both packs are kept, the blob reported. */
    uint8_t bogus3[32];
    forge_bogus(f, &ids, bogus3);
    const char *first = "precious first file\n";
    uint8_t id[CHUNK_ID_BYTES];
    vlt_chunk_id_compute(f->v->keys, BLOB_DATA, (const uint8_t *)first,
                         strlen(first), id);
    vlt_repo_forget_index(f->v);
    assert_vault_ok(vlt_repo_load_index(f->v));
    const index_slot *c[INDEX_MAX_COPIES];
    size_t n = vlt_index_copies(&f->v->index, id, c, INDEX_MAX_COPIES);
    assert_int_equal(n, 2);
    pack_entry e;
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(vlt_index_pack_id(&f->v->index, c[i]->pack), real, 32) == 0) {
            vlt_index_slot_entry(&f->v->index, c[i], &e);
            found = 1;
        }
    assert_true(found);
    char rhex[65], path[PATH_MAX];
    vlt_hex_encode(real, 32, rhex);
    test_fmt(path, sizeof path, "%s/data/%.2s/%s", f->vault, rhex, rhex);
    size_t len;
    uint8_t *bytes = test_read_file(path, &len);
    uint8_t *saved = malloc(len);
    assert_non_null(saved);
    memcpy(saved, bytes, len);
    bytes[e.offset + e.length / 2] ^= 0x40;
    chmod(path, 0600);
    test_write_file(path, bytes, len);
    w.n = 0;
    prune_now(f, "", &pr);
    vault_prune_result_free(&pr);
    assert_true(pack_exists(f, real));
    assert_true(pack_exists(f, bogus3));
    assert_true(warned(&w, "no copy of it verifies"));
    /* repaired, the snapshot is whole again */
    test_write_file(path, saved, len);
    vlt_repo_forget_index(f->v);
    expect_extracts(f, r.snapshot_id, src, "after-repair");
    free(bytes);
    free(saved);
    free(ids.ids);
    free(ids.types);
}

/* ---- locks -------------------------------------------------------------- */

static void test_writer_cannot_condemn(void **state)
{
    fx *f = *state;
    test_author owner, writer;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    warnings w = {0};
    vault_set_warning_handler(collect_warning, &w);
    char src[PATH_MAX];
    make_tree(f, "src", "kept whatever a writer says\n", "second\n", src);
    vault_add_result r;
    add_as(f, &owner, src, "", &r);
    id_list ids;
    index_ids(f, &ids);

    /* A writer's prune mark condemning the only pack, written long ago. */
    act_as(f->v, &writer);
    lock_record mark = {.kind = LOCK_PRUNE_MARK, .time = 1000, .pid = 1};
    mark.packs = ids.pack;
    mark.n_packs = 1;
    assert_vault_ok(vlt_lock_write(f->v, &mark));
    act_as(f->v, &owner);

    /* Adds still deduplicate against the pack (the mark does not count). */
    vlt_repo_forget_index(f->v);
    add_as(f, &owner, src, "", &r);
    size_t trusted;
    assert_int_equal(copies_of(f, "kept whatever a writer says\n", &trusted),
                     1);
    /* Prune does not sweep it, and says why. */
    vault_prune_result pr;
    prune_now(f, "", &pr);
    assert_int_equal(pr.marks_swept, 0);
    vault_prune_result_free(&pr);
    assert_true(pack_exists(f, ids.pack));
    assert_true(warned(&w, mark.name));
    assert_true(warned(&w, "not an owner"));
    vlt_repo_forget_index(f->v);
    expect_extracts(f, r.snapshot_id, src, "after-writer-mark");
    free(ids.ids);
    free(ids.types);
}

static void test_future_marker_holds_a_day(void **state)
{
    fx *f = *state;
    char cache[PATH_MAX];
    test_fmt(cache, sizeof cache, "%s/cache", f->base);
    char src[PATH_MAX];
    make_tree(f, "src", "one\n", "two\n", src);
    vault_add_result r;
    fx_add(f, src, VAULT_COMPRESSION_OFF, &r);
    /* forget the snapshot: its pack is unused */
    const char *ids[] = {r.snapshot_id};
    vault_forget_options fo = {.snapshots = ids, .n_snapshots = 1};
    vault_forget_result fr;
    assert_vault_ok(vault_forget(f->v, &fo, &fr));
    vault_forget_result_free(&fr);

    int64_t now = vlt_now();
    vlt_clock_pin(now);
    lock_record marker = {.kind = LOCK_ADD, .time = 4102444800 /* 2100 */,
                          .pid = 7, .host = "from-the-future"};
    assert_vault_ok(vlt_lock_write(f->v, &marker));
    vault_prune_result pr;
    prune_now(f, cache, &pr);
    assert_int_equal(pr.marks_swept, 0); /* held back by the marker */
    assert_int_equal(pr.n_pending, 1);
    vault_prune_result_free(&pr);
    /* Still within a day of first sight: held back. */
    vlt_clock_pin(now + VAULT_PRUNE_STALE_SECONDS - 60);
    prune_now(f, cache, &pr);
    assert_int_equal(pr.marks_swept, 0);
    vault_prune_result_free(&pr);
    /* A day after it was first seen it is stale: removed, and the mark
     * swept. */
    vlt_clock_pin(now + VAULT_PRUNE_STALE_SECONDS + 60);
    prune_now(f, cache, &pr);
    assert_int_equal(pr.stale_markers_removed, 1);
    assert_int_equal(pr.marks_swept, 1);
    vault_prune_result_free(&pr);
    vlt_clock_pin(0);
}

/* ---- rekey --------------------------------------------------------------- */

/* Rekey re-seals snapshots keeping their authors, and a writer's junk
 * under real IDs does not stop it (the real copies are rekeyed). */
static void test_rekey_keeps_authors(void **state)
{
    fx *f = *state;
    test_author owner, writer;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    char src[PATH_MAX], src2[PATH_MAX];
    make_tree(f, "src", "rekeyed first\n", "rekeyed second\n", src);
    make_tree(f, "src2", "a writer's file\n", "another\n", src2);
    vault_add_result mine, theirs;
    add_as(f, &owner, src, "", &mine);
    add_as(f, &writer, src2, "", &theirs);
    act_as(f->v, &owner);
    id_list ids;
    index_ids(f, &ids);
    act_as(f->v, &writer);
    uint8_t bogus[32];
    forge_bogus(f, &ids, bogus);
    act_as(f->v, &owner);

    /* a new key epoch: share with someone, then unshare them */
    vault_identity_t *other;
    assert_vault_ok(vault_identity_generate(&other));
    assert_vault_ok(vault_share(f->v, vault_identity_recipient(other),
                                VAULT_ROLE_READER));
    const char *gone[] = {vault_identity_recipient(other)};
    assert_vault_ok(vault_unshare(f->v, gone, 1));
    vault_identity_free(other);
    act_as(f->v, &owner);
    vault_rekey_result rr;
    assert_vault_ok(vault_rekey(f->v, &rr));
    assert_int_equal(rr.snapshots_rewritten, 2);

    char (*names)[65];
    size_t n;
    assert_vault_ok(vlt_repo_snapshot_names(f->v, &names, &n));
    assert_int_equal(n, 2);
    int by_owner = 0, by_writer = 0;
    for (size_t i = 0; i < n; i++) {
        snapshot_record rec;
        assert_vault_ok(vlt_repo_snapshot_load(f->v, names[i], &rec));
        by_owner += memcmp(rec.author, owner.pk, SIGN_PUBLIC_BYTES) == 0;
        by_writer += memcmp(rec.author, writer.pk, SIGN_PUBLIC_BYTES) == 0;
        char path[PATH_MAX];
        test_fmt(path, sizeof path, "%s", rec.paths[0]);
        vlt_snapshot_clear(&rec);
        expect_extracts(f, names[i], path, "rekeyed");
    }
    free(names);
    assert_int_equal(by_owner, 1);
    assert_int_equal(by_writer, 1);
    free(ids.ids);
    free(ids.types);
}

/* ---- check ------------------------------------------------------------- */

typedef struct problems {
    size_t n;
    struct {
        char object[128], what[256];
        int warning;
        size_t n_affects;
    } p[16];
} problems;

static void collect_problem(void *ctx, const vault_check_problem *pr)
{
    problems *l = ctx;
    if (l->n < 16) {
        snprintf(l->p[l->n].object, sizeof l->p[l->n].object, "%s",
                 pr->object);
        snprintf(l->p[l->n].what, sizeof l->p[l->n].what, "%s", pr->what);
        l->p[l->n].warning = pr->warning;
        l->p[l->n].n_affects = pr->n_affects;
    }
    l->n++;
}

/* The problem about object, or NULL. */
static const char *problem_about(const problems *l, const char *object,
                                 int *warning, size_t *n_affects)
{
    for (size_t i = 0; i < l->n && i < 16; i++)
        if (strstr(l->p[i].object, object)) {
            *warning = l->p[i].warning;
            *n_affects = l->p[i].n_affects;
            return l->p[i].what;
        }
    return NULL;
}

static void test_check_reports_authors(void **state)
{
    fx *f = *state;
    test_author owner, writer;
    author_of_handle(f->v, &owner);
    member_new(f, ROLE_WRITER, &writer);
    char src[PATH_MAX];
    make_tree(f, "src", "checked first\n", "checked second\n", src);
    vault_add_result r;
    add_as(f, &owner, src, "", &r);
    id_list ids;
    index_ids(f, &ids);
    /* a writer's junk copies of every blob, and its prune mark */
    act_as(f->v, &writer);
    uint8_t bogus[32];
    forge_bogus(f, &ids, bogus);
    lock_record mark = {.kind = LOCK_PRUNE_MARK, .time = 1000, .pid = 1};
    mark.packs = ids.pack;
    mark.n_packs = 1;
    assert_vault_ok(vlt_lock_write(f->v, &mark));
    act_as(f->v, &owner);

    problems l = {0};
    vault_check_options o;
    vault_check_options_init(&o);
    o.read_data = 1;
    o.on_problem = collect_problem;
    o.on_problem_ctx = &l;
    vault_check_result cr;
    assert_vault_code(vault_check(f->v, &o, &cr), VAULT_E_CORRUPT);
    /* The junk pack: its blobs fail, but the real copies serve every
     * file, so it affects none. */
    char hex[65];
    vlt_hex_encode(bogus, 32, hex);
    int warning = -1;
    size_t n_affects = 99;
    const char *what = problem_about(&l, hex, &warning, &n_affects);
    assert_non_null(what);
    assert_int_equal(warning, 0);
    assert_int_equal(n_affects, 0);
    /* The writer's prune mark: a warning. */
    what = problem_about(&l, mark.name, &warning, &n_affects);
    assert_non_null(what);
    assert_non_null(strstr(what, "not an owner"));
    assert_int_equal(warning, 1);
    assert_int_equal(cr.problems, 1);

    /* With nobody a member, every signed object is forged. */
    membership *m = f->v->members, nobody = {0};
    f->v->members = &nobody;
    memset(&l, 0, sizeof l);
    assert_vault_code(vault_check(f->v, &o, &cr), VAULT_E_CORRUPT);
    f->v->members = m;
    int segments = 0, snapshots = 0, locks = 0;
    for (size_t i = 0; i < l.n && i < 16; i++) {
        if (!strstr(l.p[i].what, "forged"))
            continue;
        segments += strncmp(l.p[i].object, "index/", 6) == 0;
        snapshots += strncmp(l.p[i].object, "snapshots/", 10) == 0;
        locks += strncmp(l.p[i].object, "locks/", 6) == 0;
    }
    assert_true(segments >= 2);
    assert_int_equal(snapshots, 1);
    assert_int_equal(locks, 1);
    free(ids.ids);
    free(ids.types);
}

int main(void)
{
    if (vault_global_init() != VAULT_OK) {
        fprintf(stderr, "vault_global_init: %s\n", vault_last_error());
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_dedup_by_standing, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_readers_fall_back, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_junk_segments_skipped, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_verified_copy,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_writer_cannot_condemn, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_future_marker_holds_a_day,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_check_reports_authors, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_rekey_keeps_authors, fx_setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests_name("authorship", tests, NULL, NULL) ? 1
                                                                        : 0;
}
