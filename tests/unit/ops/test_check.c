/*
 * test_check.c - vault_check: a clean vault passes; each kind of damage is
 * reported, naming the damaged object and the files it affects; packs no
 * index lists are warnings; a writer checks what it can and says what it
 * skipped.
 *
 * Vaults are made through the public API (vault_init, vault_add) in a
 * fresh temporary directory per test; the private headers are used only
 * to find where a file's chunk is stored and to seal a stray pack.
 */
#include "test_util.h"

#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "common/internal.h"
#include "format/pack.h"
#include "repo/repo.h"

/* ---- fixture ------------------------------------------------------------- */

typedef struct fx {
    char *base;           /* the test's temporary directory */
    char vault[PATH_MAX]; /* base/vault */
    char src[PATH_MAX];   /* base/src: what gets added */
    vault_identity_t *id; /* the owner */
    vault_t *v;           /* open as the owner */
} fx;

static void pathf(char *buf, size_t size, const char *f, ...)
    VAULT_PRINTF(3, 4);
static void pathf(char *buf, size_t size, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, size, f, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= size)
        fail_msg("path too long for the test's buffer");
}

static void put_file(fx *f, const char *rel, const char *text)
{
    char p[PATH_MAX];
    pathf(p, sizeof p, "%s/%s", f->src, rel);
    test_write_file(p, text, strlen(text));
}

static int setup(void **state)
{
    assert_vault_ok(vault_global_init());
    fx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    char *tmp = test_tempdir();
    f->base = realpath(tmp, NULL); /* add records canonical paths */
    assert_non_null(f->base);
    free(tmp);
    pathf(f->vault, sizeof f->vault, "%s/vault", f->base);
    pathf(f->src, sizeof f->src, "%s/src", f->base);
    assert_int_equal(mkdir(f->src, 0755), 0);
    char sub[PATH_MAX];
    pathf(sub, sizeof sub, "%s/sub", f->src);
    assert_int_equal(mkdir(sub, 0755), 0);
    put_file(f, "a.txt", "alpha alpha alpha\n");
    put_file(f, "sub/b.txt", "bravo bravo bravo\n");
    assert_vault_ok(vault_identity_generate(&f->id));
    assert_vault_ok(vault_init(f->vault, vault_identity_recipient(f->id)));
    assert_vault_ok(vault_open(f->vault, f->id, &f->v));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vault_close(f->v);
    vault_identity_free(f->id);
    test_rmtree(f->base);
    free(f);
    return 0;
}

static void add_must_not_fail(void *ctx, const char *path, const char *detail)
{
    (void)ctx;
    fail_msg("add reported %s: %s", path, detail);
}

/* One snapshot of src: uncompressed, one worker, so one pack per add. */
static void add_src(fx *f, vault_add_result *r)
{
    const char *paths[] = {f->src};
    vault_add_options o;
    memset(&o, 0, sizeof o);
    o.paths = paths;
    o.n_paths = 1;
    o.compression = VAULT_COMPRESSION_OFF;
    o.threads = 1;
    o.cache_dir = "";
    o.hostname = "testhost";
    o.on_error = add_must_not_fail;
    assert_vault_ok(vault_add(f->v, &o, r));
}

/* Where the chunk of a one-chunk file with this content is stored. */
static void locate(fx *f, const char *content, char pack[65], pack_entry *e)
{
    uint8_t id[CHUNK_ID_BYTES];
    vlt_chunk_id_compute(f->v->keys, BLOB_DATA, (const uint8_t *)content,
                         strlen(content), id);
    vault_index ix;
    vlt_index_init(&ix);
    assert_vault_ok(
        vlt_index_load(&ix, f->v->be, f->v->keys, NULL, NULL, NULL, NULL));
    const index_slot *s = vlt_index_find(&ix, id);
    assert_non_null(s);
    vlt_index_slot_entry(&ix, s, e);
    vlt_hex_encode(ix.packs[s->pack], 32, pack);
    vlt_index_free(&ix);
}

static void object_path(fx *f, const char *kind, const char *name,
                        char out[PATH_MAX])
{
    if (strcmp(kind, "data") == 0)
        pathf(out, PATH_MAX, "%s/data/%.2s/%s", f->vault, name, name);
    else
        pathf(out, PATH_MAX, "%s/%s/%s", f->vault, kind, name);
}

static void flip_byte(const char *path, size_t offset)
{
    size_t len;
    uint8_t *data = test_read_file(path, &len);
    assert_true(offset < len);
    data[offset] ^= 0x01;
    chmod(path, 0644);
    test_write_file(path, data, len);
    free(data);
}

/* The only object in a folder (its name). */
static void only_object(fx *f, const char *kind, char name[65])
{
    char dir[PATH_MAX];
    pathf(dir, sizeof dir, "%s/%s", f->vault, kind);
    DIR *d = opendir(dir);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)))
        if (strlen(ent->d_name) == 64 && n++ == 0)
            memcpy(name, ent->d_name, 65);
    closedir(d);
    assert_int_equal(n, 1);
}

/* ---- collecting problems --------------------------------------------------- */

#define SEEN_MAX 32

typedef struct seen {
    char object[160];
    char what[1024];
    int warning;
    char affects[8192]; /* "id8 path\n" per ref ("id8 -" for a snapshot),
                           as many as fit */
    size_t n_affects;
    int truncated;
} seen;

typedef struct recorder {
    seen items[SEEN_MAX];
    size_t n;
} recorder;

static void record(void *ctx, const vault_check_problem *p)
{
    recorder *r = ctx;
    assert_true(r->n < SEEN_MAX);
    seen *s = &r->items[r->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->object, sizeof s->object, "%s", p->object);
    snprintf(s->what, sizeof s->what, "%s", p->what);
    s->warning = p->warning;
    s->n_affects = p->n_affects;
    s->truncated = p->affects_truncated;
    size_t used = 0;
    for (size_t i = 0; i < p->n_affects; i++) {
        assert_int_equal(strlen(p->affects[i].snapshot), 8);
        if (i)
            assert_true(strcmp(p->affects[i - 1].snapshot,
                               p->affects[i].snapshot) <= 0);
        char line[PATH_MAX + 16];
        int n = snprintf(line, sizeof line, "%s %s\n", p->affects[i].snapshot,
                         p->affects[i].path ? p->affects[i].path : "-");
        assert_true(n > 0 && (size_t)n < sizeof line);
        if (used + (size_t)n < sizeof s->affects) {
            memcpy(s->affects + used, line, (size_t)n + 1);
            used += (size_t)n;
        }
    }
}

static vault_error run_check(vault_t *v, int read_data, double percent,
                             recorder *rec, vault_check_result *r)
{
    memset(rec, 0, sizeof *rec);
    vault_check_options o;
    memset(&o, 0, sizeof o);
    o.read_data = read_data;
    o.read_data_percent = percent;
    o.on_problem = record;
    o.on_problem_ctx = rec;
    vault_error rc = vault_check(v, &o, r);
    assert_int_equal(r->problems + r->warnings, rec->n);
    return rc;
}

static void dump(const recorder *rec)
{
    for (size_t i = 0; i < rec->n; i++)
        print_message("  %s%s: %s\n%s", rec->items[i].warning ? "warning: " : "",
                      rec->items[i].object, rec->items[i].what,
                      rec->items[i].affects);
}

static const seen *find_object(const recorder *rec, const char *object)
{
    for (size_t i = 0; i < rec->n; i++)
        if (strcmp(rec->items[i].object, object) == 0)
            return &rec->items[i];
    dump(rec);
    fail_msg("no problem names %s", object);
    /* fail_msg does not return; saying so keeps gcc -O3 from warning
     * about a NULL it thinks callers could get. */
    abort();
}

/* "id8 path" is among the problem's affected items. */
static int affects(const seen *s, const char *snapshot_id, const char *path)
{
    char line[PATH_MAX + 16];
    snprintf(line, sizeof line, "%.8s %s\n", snapshot_id, path);
    for (const char *p = s->affects; (p = strstr(p, line)); p++)
        if (p == s->affects || p[-1] == '\n')
            return 1;
    return 0;
}

/* ---- tests ----------------------------------------------------------------- */

static void test_clean(void **state)
{
    fx *f = *state;
    vault_add_result a;
    add_src(f, &a);
    recorder rec;
    vault_check_result r;
    assert_vault_ok(run_check(f->v, 0, 0, &rec, &r));
    assert_int_equal(rec.n, 0);
    assert_int_equal(r.snapshots, 1);
    assert_int_equal(r.envelopes, 1);
    assert_int_equal(r.index_segments, 1);
    /* root, the path down to base, src and sub */
    assert_true(r.trees >= 4);
    assert_int_equal(r.packs, 2); /* add keeps trees in a pack of their own */
    assert_int_equal(r.packs_read, 0);
    assert_int_equal(r.blobs, a.blobs_added);
    assert_int_equal(r.skipped, 0);
    assert_string_equal(r.skipped_text, "");

    assert_vault_ok(run_check(f->v, 1, 0, &rec, &r));
    assert_int_equal(rec.n, 0);
    assert_int_equal(r.packs_read, 2);
    assert_int_equal(r.blobs_read, r.blobs);

    /* The handle still works afterwards, and options may be NULL. */
    assert_vault_ok(vault_check(f->v, NULL, &r));
    assert_vault_ok(vault_check(f->v, NULL, NULL));
    vault_snapshot_info *list;
    size_t n;
    assert_vault_ok(vault_snapshots(f->v, &list, &n));
    assert_int_equal(n, 1);
    vault_snapshots_free(list, n);

    vault_check_options bad;
    memset(&bad, 0, sizeof bad);
    bad.read_data_percent = 101;
    assert_vault_code(vault_check(f->v, &bad, &r), VAULT_E_INVALID);
}

/* A deleted pack: the problem names it and the files whose data it held,
 * in every snapshot that has them (add keeps trees in packs of their own,
 * so the snapshots' trees are all still there; a lost tree is
 * test_damaged_index's). */
static void test_deleted_pack(void **state)
{
    fx *f = *state;
    vault_add_result a1, a2;
    add_src(f, &a1);
    /* A second snapshot: a new file, so new trees (in a new tree pack)
     * and a new data pack, while a.txt's chunk stays in the first. */
    put_file(f, "c.txt", "charlie charlie\n");
    add_src(f, &a2);
    char pack[65], path[PATH_MAX];
    pack_entry e;
    locate(f, "alpha alpha alpha\n", pack, &e);
    object_path(f, "data", pack, path);
    assert_int_equal(unlink(path), 0);

    recorder rec;
    vault_check_result r;
    assert_vault_code(run_check(f->v, 0, 0, &rec, &r), VAULT_E_CORRUPT);
    char label[128];
    snprintf(label, sizeof label, "data/%.2s/%s", pack, pack);
    const seen *s = find_object(&rec, label);
    assert_false(s->warning);
    assert_non_null(strstr(s->what, "missing"));
    char file[PATH_MAX];
    pathf(file, sizeof file, "%s/a.txt", f->src);
    if (!affects(s, a2.snapshot_id, file) ||
        !affects(s, a1.snapshot_id, file) ||
        affects(s, a1.snapshot_id, "/")) {
        dump(&rec);
        fail_msg("the missing pack's problem does not name a.txt in both "
                 "snapshots (and only that)");
    }
    pathf(file, sizeof file, "%s/sub/b.txt", f->src);
    assert_true(affects(s, a2.snapshot_id, file)); /* its chunk was there */
    pathf(file, sizeof file, "%s/c.txt", f->src);
    assert_false(affects(s, a2.snapshot_id, file));
    assert_int_equal(r.problems, 1);
    assert_int_equal(r.snapshots, 2);
    assert_int_equal(r.packs, 4); /* a data pack and a tree pack per add */
    assert_true(strstr(vault_last_error(), "1 problem") != NULL);
}

/* An index segment that fails to authenticate (renamed to its new hash,
 * so that only the seal gives it away) is a problem; the other segment
 * still counts, the blobs only the damaged one listed are reported with
 * what they affect, and its pack becomes unindexed (a warning). */
static void test_damaged_index(void **state)
{
    fx *f = *state;
    vault_add_result a1, a2;
    add_src(f, &a1);
    put_file(f, "c.txt", "charlie charlie\n");
    add_src(f, &a2);
    name_list segs;
    assert_vault_ok(vlt_backend_list_names(f->v->be, BACKEND_INDEX, &segs));
    assert_int_equal(segs.n, 2);
    const char *victim = segs.names[0]; /* either add's: both are checked */
    char path[PATH_MAX], moved[PATH_MAX];
    object_path(f, "index", victim, path);
    flip_byte(path, 50);
    size_t len;
    uint8_t *data = test_read_file(path, &len);
    char name[65];
    vlt_object_name(data, len, name);
    free(data);
    object_path(f, "index", name, moved);
    assert_int_equal(rename(path, moved), 0);

    recorder rec;
    vault_check_result r;
    assert_vault_code(run_check(f->v, 0, 0, &rec, &r), VAULT_E_CORRUPT);
    char label[128];
    snprintf(label, sizeof label, "index/%s", name);
    const seen *s = find_object(&rec, label);
    assert_false(s->warning);
    assert_non_null(strstr(s->what, "authentication failed"));
    assert_int_equal(r.index_segments, 1);
    /* its add's data pack and tree pack */
    assert_int_equal(r.unindexed_packs, 2);
    assert_int_equal(r.warnings, 2);
    assert_int_equal(r.packs, 2);
    /* The blobs that only the damaged segment listed. */
    const seen *m = find_object(&rec, "index");
    assert_non_null(strstr(m->what, "in no index segment"));
    char file[PATH_MAX];
    pathf(file, sizeof file, "%s/a.txt", f->src);
    if (affects(m, a1.snapshot_id, "/")) {
        /* The first add's: the second snapshot shares its a.txt chunk. */
        assert_true(affects(m, a2.snapshot_id, file));
    } else if (!affects(m, a2.snapshot_id, "/")) {
        dump(&rec);
        fail_msg("neither snapshot's root tree is reported lost");
    }
    int found_warning = 0, found_holds = 0;
    for (size_t i = 0; i < rec.n; i++)
        if (rec.items[i].warning) {
            found_warning = 1;
            assert_int_equal(strncmp(rec.items[i].object, "data/", 5), 0);
            assert_non_null(strstr(rec.items[i].what, "no index segment"));
            found_holds |= strstr(rec.items[i].what, "yet it holds") != NULL;
        }
    assert_true(found_warning);
    /* They hold what the snapshots miss: their segment is lost.  At least
     * the tree pack says so (a snapshot names its root); the data pack's
     * chunks are reachable only through the lost trees when the second
     * add's segment is the damaged one. */
    assert_true(found_holds);
    free(segs.names);
}

/* A flipped byte inside a data blob: invisible to the structural check,
 * found by reading data, and attributed to exactly the file it is in. */
static void test_flipped_pack(void **state)
{
    fx *f = *state;
    vault_add_result a;
    add_src(f, &a);
    char pack[65], path[PATH_MAX];
    pack_entry e;
    locate(f, "alpha alpha alpha\n", pack, &e);
    object_path(f, "data", pack, path);
    flip_byte(path, e.offset + e.length / 2);

    recorder rec;
    vault_check_result r;
    assert_vault_ok(run_check(f->v, 0, 0, &rec, &r));
    assert_int_equal(rec.n, 0);

    assert_vault_code(run_check(f->v, 1, 0, &rec, &r), VAULT_E_CORRUPT);
    assert_int_equal(r.problems, 1);
    assert_int_equal(r.packs_read, 2); /* the data pack and the tree pack */
    assert_int_equal(r.blobs_read, r.blobs - 1);
    char label[128];
    snprintf(label, sizeof label, "data/%.2s/%s", pack, pack);
    const seen *s = find_object(&rec, label);
    assert_non_null(strstr(s->what, "content does not match its name"));
    assert_non_null(strstr(s->what, "authentication failed"));
    char file[PATH_MAX];
    pathf(file, sizeof file, "%s/a.txt", f->src);
    if (!affects(s, a.snapshot_id, file)) {
        dump(&rec);
        fail_msg("the damaged pack's problem does not name %s", file);
    }
    assert_int_equal(s->n_affects, 1);

    /* A subset of 1% still reads one pack, chosen at random: the damaged
     * data pack or the add's tree pack.  Whichever it is, the answer is
     * right, and some run picks the damaged one. */
    int found = 0;
    for (int run = 0; run < 64 && !found; run++) {
        vault_error rc = run_check(f->v, 0, 1, &rec, &r);
        assert_int_equal(r.packs_read, 1);
        found = rc == VAULT_E_CORRUPT;
        assert_int_equal(r.problems, found ? 1 : 0);
        if (!found)
            assert_vault_ok(rc);
    }
    assert_true(found);
}

/* A pack no segment lists, as an interrupted add leaves: a warning. */
static void test_unindexed_pack(void **state)
{
    fx *f = *state;
    vault_add_result a;
    add_src(f, &a);
    static const char stray[] = "never indexed\n";
    uint8_t id[CHUNK_ID_BYTES], pack_id[32];
    vlt_chunk_id_compute(f->v->keys, BLOB_DATA, (const uint8_t *)stray,
                         sizeof stray - 1, id);
    pack_writer pw;
    memset(&pw, 0, sizeof pw);
    assert_vault_ok(vlt_pack_writer_begin(&pw, f->v->keys));
    assert_vault_ok(vlt_pack_writer_add(&pw, BLOB_DATA, id, 0,
                                    (const uint8_t *)stray, sizeof stray - 1,
                                    sizeof stray - 1));
    assert_vault_ok(vlt_pack_writer_finish(&pw, f->v->be, pack_id));
    vlt_pack_writer_free(&pw);
    char name[65], label[128];
    vlt_hex_encode(pack_id, 32, name);
    snprintf(label, sizeof label, "data/%.2s/%s", name, name);

    for (int read_data = 0; read_data <= 1; read_data++) {
        recorder rec;
        vault_check_result r;
        assert_vault_ok(run_check(f->v, read_data, 0, &rec, &r));
        assert_int_equal(r.problems, 0);
        assert_int_equal(r.warnings, 1);
        assert_int_equal(r.unindexed_packs, 1);
        assert_int_equal(r.packs, 2); /* the add's data and tree packs */
        const seen *s = find_object(&rec, label);
        assert_true(s->warning);
        assert_int_equal(s->n_affects, 0);
    }
}

/* A writer checks what its secrets allow, says what it skipped, and can
 * still tell a damaged pack by its name. */
static void test_writer(void **state)
{
    fx *f = *state;
    vault_add_result a;
    add_src(f, &a);
    vault_identity_t *wid;
    assert_vault_ok(vault_identity_generate(&wid));
    assert_vault_ok(
        vault_share(f->v, vault_identity_recipient(wid), VAULT_ROLE_WRITER));
    vault_t *w;
    assert_vault_ok(vault_open(f->vault, wid, &w));
    assert_int_equal(vault_member_role(w), VAULT_ROLE_WRITER);

    recorder rec;
    vault_check_result r;
    assert_vault_ok(run_check(w, 0, 0, &rec, &r));
    assert_int_equal(rec.n, 0);
    assert_int_equal(r.envelopes, 2);
    assert_int_equal(r.index_segments, 1);
    assert_int_equal(r.snapshots, 1);
    assert_int_equal(r.trees, 0);
    assert_int_equal(r.packs, 2); /* the add's data and tree packs */
    assert_true(r.skipped & VAULT_CHECK_SKIPPED_SNAPSHOTS);
    assert_true(r.skipped & VAULT_CHECK_SKIPPED_TREES);
    assert_true(r.skipped & VAULT_CHECK_SKIPPED_BLOBS);
    assert_non_null(strstr(r.skipped_text, "writer"));

    assert_vault_ok(run_check(w, 1, 0, &rec, &r));
    assert_int_equal(r.packs_read, 2);
    assert_int_equal(r.blobs_read, 0);

    /* The owner opens the writer's envelope too. */
    assert_vault_ok(run_check(f->v, 0, 0, &rec, &r));
    assert_int_equal(r.envelopes, 2);

    char pack[65], path[PATH_MAX];
    pack_entry e;
    locate(f, "alpha alpha alpha\n", pack, &e);
    object_path(f, "data", pack, path);
    flip_byte(path, e.offset + 1);
    assert_vault_ok(run_check(w, 0, 0, &rec, &r));
    assert_vault_code(run_check(w, 1, 0, &rec, &r), VAULT_E_CORRUPT);
    char label[128];
    snprintf(label, sizeof label, "data/%.2s/%s", pack, pack);
    const seen *s = find_object(&rec, label);
    assert_non_null(strstr(s->what, "content does not match its name"));
    assert_int_equal(s->n_affects, 0); /* a writer cannot see files */

    vault_close(w);
    vault_identity_free(wid);
}

/* A damaged snapshot and a stray envelope are named; the snapshot itself
 * is what is affected. */
static void test_snapshot_and_envelope(void **state)
{
    fx *f = *state;
    vault_add_result a;
    add_src(f, &a);
    char snap[65], path[PATH_MAX];
    only_object(f, "snapshots", snap);
    object_path(f, "snapshots", snap, path);
    flip_byte(path, 100);
    /* An envelope that is not an age file, under a valid name. */
    static const char junk[] = "not an age file\n";
    char name[65];
    vlt_object_name((const uint8_t *)junk, sizeof junk - 1, name);
    assert_vault_ok(backend_save(f->v->be, BACKEND_KEYS, name,
                                 (const uint8_t *)junk, sizeof junk - 1));

    recorder rec;
    vault_check_result r;
    assert_vault_code(run_check(f->v, 0, 0, &rec, &r), VAULT_E_CORRUPT);
    assert_int_equal(r.problems, 2);
    char label[128];
    snprintf(label, sizeof label, "snapshots/%s", snap);
    const seen *s = find_object(&rec, label);
    assert_non_null(strstr(s->what, "does not match its name"));
    assert_true(affects(s, snap, "-"));
    snprintf(label, sizeof label, "keys/%s", name);
    find_object(&rec, label);
    assert_int_equal(r.snapshots, 0);
    assert_int_equal(r.envelopes, 1);
}

/* Stores a tree of these nodes in the pack being written. */
static void put_tree(vault_t *v, pack_writer *pw, tree_node *nodes,
                     uint32_t n, uint8_t id[CHUNK_ID_BYTES])
{
    tree t = {nodes, n};
    uint8_t *buf;
    size_t len;
    assert_vault_ok(vlt_tree_encode(&t, &buf, &len));
    vlt_chunk_id_compute(v->keys, BLOB_TREE, buf, len, id);
    assert_vault_ok(
        vlt_pack_writer_add(pw, BLOB_TREE, id, 0, buf, len, (uint32_t)len));
    free(buf);
}

static void pack_begin(vault_t *v, pack_writer *pw)
{
    memset(pw, 0, sizeof *pw);
    assert_vault_ok(vlt_pack_writer_begin(pw, v->keys));
}

/* A tree entry of type named name, with no owner names. */
static tree_node entry(node_type type, char *name, uint32_t mode)
{
    static char empty[] = "";
    tree_node n;
    memset(&n, 0, sizeof n);
    n.type = type;
    n.name = name;
    n.mode = mode;
    n.user = n.group = empty;
    n.nlink = 1;
    return n;
}

/* Finishes pw, lists it in a segment of its own and saves a snapshot of
 * tree root (snap: its name). */
static void commit_snapshot(vault_t *v, pack_writer *pw,
                            const uint8_t root[CHUNK_ID_BYTES], char snap[65])
{
    uint8_t pack_id[32];
    assert_vault_ok(vlt_pack_writer_finish(pw, v->be, pack_id));
    size_t starts[2] = {0, pw->n_entries};
    assert_vault_ok(vlt_index_segment_save(v->be, v->keys, pack_id, 1, starts,
                                           pw->entries));
    vlt_pack_writer_free(pw);
    char host[] = "host", user[] = "user", path[] = "/x";
    char *paths[] = {path};
    snapshot_record rec;
    memset(&rec, 0, sizeof rec);
    rec.time_sec = 1700000000;
    memcpy(rec.tree, root, CHUNK_ID_BYTES);
    rec.hostname = host;
    rec.username = user;
    rec.paths = paths;
    rec.n_paths = 1;
    assert_vault_ok(vlt_repo_snapshot_save(v, &rec, snap));
}

/* Identical directories share one tree, so the paths to a chunk can
 * double with each level: 2^24 here.  Each tree is read once, and the
 * list of what a problem affects stops at its bound (marked truncated)
 * instead of taking forever. */
static void test_many_paths(void **state)
{
    fx *f = *state;
    pack_writer pw;
    pack_begin(f->v, &pw);
    uint8_t lost[CHUNK_ID_BYTES], id[CHUNK_ID_BYTES];
    randombytes_buf(lost, sizeof lost); /* a chunk stored nowhere */
    char fname[] = "f", a[] = "a", b[] = "b";
    tree_node leaf = entry(NODE_FILE, fname, 0644);
    leaf.size = 1;
    leaf.content = &lost;
    leaf.n_content = 1;
    put_tree(f->v, &pw, &leaf, 1, id);
    enum { LEVELS = 24 };
    for (int level = 0; level < LEVELS; level++) {
        tree_node dirs[2];
        for (int i = 0; i < 2; i++) {
            dirs[i] = entry(NODE_DIR, i ? b : a, 0755);
            memcpy(dirs[i].subtree, id, CHUNK_ID_BYTES);
        }
        put_tree(f->v, &pw, dirs, 2, id);
    }
    char snap[65];
    commit_snapshot(f->v, &pw, id, snap);

    recorder r_;
    vault_check_result r;
    assert_vault_code(run_check(f->v, 1, 0, &r_, &r), VAULT_E_CORRUPT);
    assert_int_equal(r.trees, LEVELS + 1);
    assert_int_equal(r.problems, 1);
    const seen *s = find_object(&r_, "index");
    assert_non_null(strstr(s->what, "1 referenced blob is in no index"));
    assert_true(s->truncated);
    assert_true(s->n_affects > 1000);
    /* Each is "snap /x/x/.../x/f", x being a or b, LEVELS of them. */
    const char *line = s->affects;
    assert_int_equal(strncmp(line, snap, 8), 0);
    assert_int_equal(line[8], ' ');
    for (int i = 0; i < LEVELS; i++) {
        assert_int_equal(line[9 + 2 * i], '/');
        assert_true(line[10 + 2 * i] == 'a' || line[10 + 2 * i] == 'b');
    }
    assert_int_equal(strncmp(line + 9 + 2 * LEVELS, "/f\n", 3), 0);
}

/* A hostile member can index a blob as data that a snapshot names as a
 * tree, and the other way round: one problem for all of them, naming the
 * first few and every path they reach. */
static void test_mistyped_blobs(void **state)
{
    fx *f = *state;
    pack_writer pw;
    pack_begin(f->v, &pw);
    uint8_t data_id[CHUNK_ID_BYTES], tree_id[CHUNK_ID_BYTES];
    uint8_t root_id[CHUNK_ID_BYTES];
    uint8_t bytes[] = "some bytes";
    vlt_chunk_id_compute(f->v->keys, BLOB_DATA, bytes, sizeof bytes, data_id);
    assert_vault_ok(vlt_pack_writer_add(&pw, BLOB_DATA, data_id, 0, bytes,
                                        sizeof bytes, sizeof bytes));
    char fname[] = "f", dname[] = "d", inner[] = "inner";
    tree_node leaf = entry(NODE_FILE, inner, 0644);
    put_tree(f->v, &pw, &leaf, 1, tree_id);
    tree_node top[2];
    top[0] = entry(NODE_DIR, dname, 0755); /* the data blob as its tree */
    memcpy(top[0].subtree, data_id, CHUNK_ID_BYTES);
    top[1] = entry(NODE_FILE, fname, 0644); /* the tree blob as content */
    top[1].size = 1;
    uint8_t (*content)[CHUNK_ID_BYTES] = &tree_id;
    top[1].content = content;
    top[1].n_content = 1;
    put_tree(f->v, &pw, top, 2, root_id);
    char snap[65];
    commit_snapshot(f->v, &pw, root_id, snap);

    recorder r_;
    vault_check_result r;
    assert_vault_code(run_check(f->v, 1, 0, &r_, &r), VAULT_E_CORRUPT);
    assert_int_equal(r.problems, 1);
    const seen *s = find_object(&r_, "index");
    assert_non_null(strstr(s->what, "2 referenced blobs are indexed as "
                                    "another type"));
    assert_non_null(strstr(s->what, "referenced as tree, indexed as data"));
    assert_non_null(strstr(s->what, "referenced as data, indexed as a tree"));
    assert_true(affects(s, snap, "/d"));
    assert_true(affects(s, snap, "/f"));
    assert_int_equal(s->n_affects, 2);
    assert_false(s->truncated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_clean, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleted_pack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_pack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unindexed_pack, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_and_envelope, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mistyped_blobs, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
