/*
 * gen_fuzz_seeds.c - writes seed inputs for every fuzz target.
 *
 *   gen_fuzz_seeds OUTDIR [VECTOR_DIR]
 *
 * Writes OUTDIR/NAME/SEED for each target NAME (tests/fuzz/fuzz_NAME.c),
 * in the input format its header comment describes: a leading mode byte
 * where the target has one (0: stored object, 1: plaintext the target
 * seals with its own keyring).  Two sources:
 *   - synthetic objects made here with a fresh keyring: every node type,
 *     xattrs, several epochs and roles, raw and zstd blobs;
 *   - the real vault in VECTOR_DIR (default: format-spec/vectors/vault-v2),
 *     opened with its owner.key: its stored objects as they are, and their
 *     plaintexts (config body, pack index, index body, snapshot records,
 *     tree blobs, blobs) for the sealing modes.
 * The seeds are a starting point; tests/fuzz/corpus/ holds what fuzzing
 * grew from them, minimized (tests/fuzz/README.md).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>
#include <zstd.h>

#include "common/internal.h"
#include "backend_testing.h"
#include "format/locks.h"
#include "repo/repo.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES
#define NO_MODE (-1)

static const char *outdir;
static int failed;

static void check(vault_error rc, const char *what)
{
    if (rc != VAULT_OK) {
        fprintf(stderr, "gen_fuzz_seeds: %s: %s: %s\n", what,
                vault_strerror(rc), vault_last_error());
        exit(1);
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "gen_fuzz_seeds: out of memory\n");
        exit(1);
    }
    return p;
}

/* OUTDIR/target/name := [mode byte] || data */
static void seed(const char *target, const char *name, int mode,
                 const uint8_t *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        failed = 1;
        return;
    }
    snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        failed = 1;
        return;
    }
    if (mode != NO_MODE)
        fputc(mode, f);
    if (fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        failed = 1;
    }
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t cap = 4096, n = 0;
    uint8_t *buf = xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            uint8_t *grown = realloc(buf, cap);
            if (!grown)
                exit(1);
            buf = grown;
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void entry_put(uint8_t *p, const pack_entry *e)
{
    p[0] = e->type;
    p[1] = e->flags;
    memcpy(p + 2, e->id, CHUNK_ID_BYTES);
    put_le32(p + 34, e->offset);
    put_le32(p + 38, e->length);
    put_le32(p + 42, e->raw_len);
}

/* --- envelope, config ----------------------------------------------------*/

static void envelope_seed(const keyring *k, const char *member,
                          const uint8_t *seed_key, int dedup, uint32_t first,
                          int read_sk, const char *name)
{
    envelope_payload *p;
    char *text;
    size_t len;
    check(vlt_envelope_payload_make(k, member, seed_key, dedup, first,
                                    read_sk, &p),
          "vlt_envelope_payload_make");
    check(vlt_envelope_payload_encode(p, &text, &len),
          "vlt_envelope_payload_encode");
    seed("envelope", name, NO_MODE, (const uint8_t *)text, len);
    sodium_memzero(text, len);
    free(text);
    vlt_envelope_payload_free(p);
}

/* A grant envelope for a reader and for a writer, and an epoch envelope. */
static void envelope_seeds(const keyring *k, const char *tag,
                           const char *member)
{
    char name[64];
    snprintf(name, sizeof name, "%s-grant", tag);
    envelope_seed(k, member, k->sign_seed, 1, 0, 1, name);
    snprintf(name, sizeof name, "%s-grant-writer", tag);
    envelope_seed(k, member, k->sign_seed, 1, 0, 0, name);
    snprintf(name, sizeof name, "%s-epoch", tag);
    envelope_seed(k, member, NULL, 0, k->n_epochs - 1, 1, name);
}

/* Membership records sealed with k's epoch 0 write key, as the target
 * opens them: stored (even mode byte) and body (odd). */
static void membership_seeds(const keyring *k, const char *member)
{
    uint8_t env[2][32];
    randombytes_buf(env, sizeof env);
    char owner[1100], writer[] = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHrM3vRZ"
                                 "pE0dD7jjWdxI9i2v2b2p1WkRrAxX3WvTq3y9";
    snprintf(owner, sizeof owner, "%s", member);
    member_entry m[2] = {
        {.role = ROLE_OWNER, .added = 1700000000, .recipient = owner,
         .envelopes = env, .n_envelopes = 2},
        {.role = ROLE_WRITER, .added = 1700000100, .recipient = writer,
         .envelopes = NULL, .n_envelopes = 0}};
    memcpy(m[0].sign_pk, k->sign_pk, 32);
    randombytes_buf(m[1].sign_pk, 32);
    membership_record r = {.seq = 3, .epoch = 0, .time = 1700000200,
                           .members = m, .n_members = 2};
    randombytes_buf(r.previous, 32);
    memcpy(r.epoch_pk, k->epochs[0].read_pk, 32);
    vlt_write_key_id(k->epochs[0].write_key, r.write_key_id);
    vlt_dedup_id(k->dedup_secret, r.dedup_id);
    for (int n = 1; n <= 2; n++) {
        r.n_members = (uint32_t)n;
        uint8_t *body, *obj;
        size_t len, obj_len;
        check(vlt_membership_record_sign(&r, k->vault_id, k->sign_sk, &body,
                                         &len),
              "vlt_membership_record_sign");
        check(vlt_membership_record_seal(k->epochs[0].write_key, 0, body, len,
                                         &obj, &obj_len),
              "vlt_membership_record_seal");
        char name[64];
        snprintf(name, sizeof name, "synthetic-%d-members-body", n);
        seed("membership", name, 1, body, len);
        snprintf(name, sizeof name, "synthetic-%d-members-stored", n);
        seed("membership", name, 0, obj, obj_len);
        free(body);
        free(obj);
    }
}

static void config_seeds(const uint8_t cfg[CONFIG_BYTES], const char *tag)
{
    char name[64];
    snprintf(name, sizeof name, "%s-stored", tag);
    seed("config", name, 0, cfg, CONFIG_BYTES);
    snprintf(name, sizeof name, "%s-body", tag);
    seed("config", name, 1, cfg, 56);
    snprintf(name, sizeof name, "%s-body-own-id", tag);
    seed("config", name, 3, cfg, 56);
}

/* --- trees and snapshots -------------------------------------------------*/

static void tree_seed(tree *t, const char *name)
{
    uint8_t *enc;
    size_t len;
    check(vlt_tree_encode(t, &enc, &len), "vlt_tree_encode");
    seed("tree", name, NO_MODE, enc, len);
    free(enc);
}

static void tree_seeds(void)
{
    static uint8_t ids[3][CHUNK_ID_BYTES];
    for (int i = 0; i < 3; i++)
        memset(ids[i], 0x11 * (i + 1), CHUNK_ID_BYTES);
    static char empty[] = "";
    static char user[] = "alice", group[] = "staff";
    static char xname1[] = "user.a", xname2[] = "user.comment";
    static uint8_t xval[] = {'h', 'i', 0, 0xff};
    node_xattr xattrs[2] = {{xname1, xval, sizeof xval},
                            {xname2, xval, 0}};
    tree_node nodes[7];
    memset(nodes, 0, sizeof nodes);
    static char n_file[] = "file.txt", n_dir[] = "dir", n_link[] = "link",
                n_fifo[] = "fifo", n_chr[] = "null", n_blk[] = "sda",
                n_sock[] = "sock", target[] = "../file.txt";
    nodes[0] = (tree_node){.type = NODE_FILE, .name = n_file, .mode = 0644,
                           .uid = 1000, .gid = 1000, .user = user,
                           .group = group, .mtime_sec = 1700000000,
                           .mtime_nsec = 123456789, .size = 3 << 20,
                           .inode = 42, .device = 2049, .nlink = 2,
                           .xattrs = xattrs, .n_xattrs = 2,
                           .content = ids, .n_content = 3};
    nodes[1] = (tree_node){.type = NODE_DIR, .name = n_dir, .mode = 0755,
                           .user = empty, .group = empty,
                           .mtime_sec = -1, .nlink = 1};
    memcpy(nodes[1].subtree, ids[2], CHUNK_ID_BYTES);
    nodes[2] = (tree_node){.type = NODE_SYMLINK, .name = n_link,
                           .mode = 0777, .user = user, .group = group,
                           .nlink = 1, .target = target};
    nodes[3] = (tree_node){.type = NODE_FIFO, .name = n_fifo, .mode = 0600,
                           .user = empty, .group = empty, .nlink = 1};
    nodes[4] = (tree_node){.type = NODE_CHARDEV, .name = n_chr,
                           .mode = 0666, .user = empty, .group = empty,
                           .nlink = 1, .rdev = 0x103};
    nodes[5] = (tree_node){.type = NODE_BLOCKDEV, .name = n_blk,
                           .mode = 0660, .user = empty, .group = empty,
                           .nlink = 1, .rdev = 0x800};
    nodes[6] = (tree_node){.type = NODE_SOCKET, .name = n_sock,
                           .mode = 0755, .user = empty, .group = empty,
                           .nlink = 1};
    tree t = {nodes, 7};
    tree_seed(&t, "synthetic-all-types");
    t.n_nodes = 0;
    tree_seed(&t, "synthetic-empty");
    for (uint32_t i = 0; i < 7; i++) {
        char name[64];
        snprintf(name, sizeof name, "synthetic-node-%u",
                 (unsigned)nodes[i].type);
        tree one = {&nodes[i], 1};
        tree_seed(&one, name);
    }
}

static void snapshot_seed(const snapshot_record *rec, const char *name)
{
    uint8_t *enc;
    size_t len;
    check(vlt_snapshot_encode(rec, &enc, &len), "vlt_snapshot_encode");
    seed("snapshot", name, 1, enc, len);
    seed("tree", name, NO_MODE, enc, len); /* fuzz_tree decodes both */
    free(enc);
}

static void snapshot_seeds(void)
{
    static char host[] = "host.example", user[] = "bob", p1[] = "/home/bob",
                p2[] = "/etc", t1[] = "daily", t2[] = "v1";
    char *paths[] = {p1, p2}, *tags[] = {t1, t2};
    snapshot_record rec = {.time_sec = 1700000000, .time_nsec = 5,
                           .hostname = host, .username = user,
                           .paths = paths, .n_paths = 2, .tags = tags,
                           .n_tags = 2, .files = 10, .dirs = 3,
                           .bytes_read = 123456, .bytes_added = 4567};
    memset(rec.tree, 0x5a, CHUNK_ID_BYTES);
    snapshot_seed(&rec, "synthetic-snapshot-tags");
    rec.n_tags = 0;
    rec.n_paths = 1;
    snapshot_seed(&rec, "synthetic-snapshot-plain");
}

/* --- packs and the index -------------------------------------------------*/

/* A pack sealed by k holding two blobs (one raw data, one zstd tree);
 * returns its bytes and entries. */
static uint8_t *make_pack(const keyring *k, size_t *len, pack_entry *es,
                          uint8_t pack_id[32])
{
    backend *be;
    check(vlt_backend_memory_open(&be), "vlt_backend_memory_open");
    pack_writer pw;
    memset(&pw, 0, sizeof pw);
    check(vlt_pack_writer_begin(&pw, k), "vlt_pack_writer_begin");
    static const uint8_t data[] = "hello, vault\n";
    uint8_t id[CHUNK_ID_BYTES];
    vlt_chunk_id_compute(k, BLOB_DATA, data, sizeof data - 1, id);
    check(vlt_pack_writer_add(&pw, BLOB_DATA, id, 0, data, sizeof data - 1,
                          sizeof data - 1),
          "vlt_pack_writer_add");
    uint8_t raw[600];
    for (size_t i = 0; i < sizeof raw; i++)
        raw[i] = (uint8_t)(i % 7);
    uint8_t z[1024];
    size_t zl = ZSTD_compress(z, sizeof z, raw, sizeof raw, 3);
    if (ZSTD_isError(zl))
        exit(1);
    vlt_chunk_id_compute(k, BLOB_TREE, raw, sizeof raw, id);
    check(vlt_pack_writer_add(&pw, BLOB_TREE, id, BLOB_FLAG_ZSTD, z, zl,
                          sizeof raw),
          "vlt_pack_writer_add");
    memcpy(es, pw.entries, 2 * sizeof *es);
    check(vlt_pack_writer_finish(&pw, be, pack_id), "vlt_pack_writer_finish");
    vlt_pack_writer_free(&pw);
    char name[65];
    vlt_hex_encode(pack_id, 32, name);
    uint8_t *p;
    check(backend_load(be, BACKEND_DATA, name, 0, 0, PACK_MAX_BYTES, &p, len),
          "backend_load pack");
    backend_close(be);
    return p;
}

/* The index segment k writes for one pack with entries es[0..n). */
static uint8_t *make_segment(const keyring *k, const uint8_t pack_id[32],
                             const pack_entry *es, size_t n, size_t *len)
{
    backend *be;
    check(vlt_backend_memory_open(&be), "vlt_backend_memory_open");
    size_t starts[2] = {0, n};
    check(vlt_index_segment_save(be, k, pack_id, 1, starts, es),
          "vlt_index_segment_save");
    name_list names = {0};
    check(vlt_backend_list_names(be, BACKEND_INDEX, &names), "vlt_backend_list_names");
    if (names.n != 1)
        exit(1);
    uint8_t *p;
    check(backend_load(be, BACKEND_INDEX, names.names[0], 0, 0,
                       INDEX_MAX_BYTES, &p, len),
          "backend_load index");
    free(names.names);
    backend_close(be);
    return p;
}

/* count u32 || entries */
static uint8_t *pack_index_plain(const pack_entry *es, size_t n, size_t *len)
{
    *len = 4 + n * PACK_ENTRY_BYTES;
    uint8_t *p = xmalloc(*len);
    put_le32(p, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        entry_put(p + 4 + i * PACK_ENTRY_BYTES, &es[i]);
    return p;
}

/* packs u32 || per pack: pack ID | count u32 | entries */
static uint8_t *index_body(const uint8_t pack_id[32], const pack_entry *es,
                           size_t n, size_t *len)
{
    *len = 4 + 32 + 4 + n * PACK_ENTRY_BYTES;
    uint8_t *p = xmalloc(*len);
    put_le32(p, 1);
    memcpy(p + 4, pack_id, 32);
    put_le32(p + 36, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        entry_put(p + 40 + i * PACK_ENTRY_BYTES, &es[i]);
    return p;
}

/* fuzz_pack_header's sealed mode: epoch | type | flags | raw length |
 * chunk ID | stored bytes. */
static void pack_header_seed(const char *name, int mode, uint32_t epoch,
                             blob_type type, uint8_t flags,
                             const uint8_t *raw, size_t raw_len)
{
    size_t cap = 42 + ZSTD_compressBound(raw_len);
    uint8_t *p = xmalloc(cap);
    put_le32(p, epoch);
    p[4] = (uint8_t)type;
    p[5] = flags;
    put_le32(p + 6, (uint32_t)raw_len);
    memset(p + 10, 0, CHUNK_ID_BYTES); /* mode bit 1 puts the right one */
    size_t stored = raw_len;
    if (flags & BLOB_FLAG_ZSTD) {
        stored = ZSTD_compress(p + 42, cap - 42, raw, raw_len, 3);
        if (ZSTD_isError(stored))
            exit(1);
    } else {
        memcpy(p + 42, raw, raw_len);
    }
    seed("pack_header", name, mode, p, 42 + stored);
    free(p);
}

static void pack_seeds(const keyring *k)
{
    size_t len;
    pack_entry es[2];
    uint8_t pack_id[32];
    uint8_t *pack = make_pack(k, &len, es, pack_id);
    seed("pack_index", "synthetic-pack", 0, pack, len);
    seed("pack_header", "synthetic-pack", 0, pack, len);
    free(pack);

    /* Entries that fit fuzz_pack_index's 256 filler bytes after the
     * header: offsets 44.., within 300. */
    pack_entry fit[3];
    memcpy(fit, es, sizeof es);
    fit[0].offset = 44;
    fit[0].length = 40 + 13;
    fit[0].raw_len = 13;
    fit[1].offset = 97;
    fit[1].length = 100;
    fit[2] = fit[0];
    fit[2].offset = 197;
    fit[2].length = 103;
    fit[2].raw_len = 63;
    size_t pl;
    uint8_t *plain = pack_index_plain(fit, 3, &pl);
    seed("pack_index", "synthetic-index-3", 1, plain, pl);
    free(plain);
    plain = pack_index_plain(fit, 0, &pl);
    seed("pack_index", "synthetic-index-0", 1, plain, pl);
    free(plain);

    uint8_t *seg = make_segment(k, pack_id, es, 2, &len);
    seed("index", "synthetic-segment", 0, seg, len);
    free(seg);
    uint8_t *body = index_body(pack_id, es, 2, &len);
    seed("index", "synthetic-body", 1, body, len);
    free(body);

    /* Enough packs and entries that the index's hash tables grow (from
     * 1024 buckets at load 1/2): 600 packs of one entry each. */
    enum { MANY = 600 };
    len = 4 + MANY * (36 + PACK_ENTRY_BYTES);
    body = xmalloc(len);
    put_le32(body, MANY);
    uint8_t *q = body + 4;
    for (uint32_t i = 0; i < MANY; i++) {
        pack_entry e = es[0];
        memset(q, 0, 32);
        put_le32(q, i + 1); /* pack ID */
        put_le32(q + 32, 1);
        put_le32(e.id, i * 2654435761u); /* spread over the table */
        put_le32(e.id + 4, i);
        entry_put(q + 36, &e);
        q += 36 + PACK_ENTRY_BYTES;
    }
    seed("index", "synthetic-body-600", 1, body, len);
    free(body);

    static const uint8_t text[] = "hello, vault\n";
    uint8_t rep[2000];
    for (size_t i = 0; i < sizeof rep; i++)
        rep[i] = (uint8_t)"abcab"[i % 5];
    pack_header_seed("raw-data", 3, 0, BLOB_DATA, 0, text, sizeof text - 1);
    pack_header_seed("zstd-data", 3, 1, BLOB_DATA, BLOB_FLAG_ZSTD, rep,
                     sizeof rep);
    pack_header_seed("zstd-tree", 3, 0, BLOB_TREE, BLOB_FLAG_ZSTD, rep,
                     sizeof rep);
    pack_header_seed("raw-tree-wrong-id", 1, 1, BLOB_TREE, 0, rep, 100);
    pack_header_seed("zstd-tampered", 7, 1, BLOB_DATA, BLOB_FLAG_ZSTD, rep,
                     sizeof rep);
    pack_header_seed("unknown-epoch", 3, 7, BLOB_DATA, 0, text,
                     sizeof text - 1);
    pack_header_seed("bad-trailer-count", 11, 0, BLOB_DATA, 0, text,
                     sizeof text - 1);
}

/* --- locks ---------------------------------------------------------------*/

static void lock_seed(const lock_record *rec, const char *name)
{
    uint8_t *enc;
    size_t len;
    check(vlt_lock_encode(rec, &enc, &len), "vlt_lock_encode");
    seed("lock", name, 1, enc, len);
    free(enc);
}

static void lock_seeds(void)
{
    lock_record add = {.kind = LOCK_ADD, .time = 1700000000, .pid = 4242,
                       .host = "seedhost"};
    lock_seed(&add, "synthetic-add-marker");
    uint8_t packs[3 * 32];
    for (size_t i = 0; i < sizeof packs; i++)
        packs[i] = (uint8_t)(i * 7);
    lock_record mark = {.kind = LOCK_PRUNE_MARK, .time = 1700000100,
                        .pid = 1, .host = "", .packs = packs, .n_packs = 3};
    lock_seed(&mark, "synthetic-prune-mark");
    /* a whole plaintext with a signature that does not verify */
    uint8_t *enc;
    size_t len;
    check(vlt_lock_encode(&add, &enc, &len), "vlt_lock_encode");
    uint8_t *plain = xmalloc(LOCK_AUTHOR_BYTES + len);
    memset(plain, 0x11, LOCK_AUTHOR_BYTES);
    memcpy(plain + LOCK_AUTHOR_BYTES, enc, len);
    seed("lock", "synthetic-bad-signature", 2, plain,
         LOCK_AUTHOR_BYTES + len);
    free(plain);
    free(enc);
}

/* --- the real vault ------------------------------------------------------*/

static void vector_seeds(const char *dir)
{
    char path[4096];
    size_t len;
    uint8_t *p;

    snprintf(path, sizeof path, "%s/vault/config", dir);
    p = read_all(path, &len);
    if (len == CONFIG_BYTES)
        config_seeds(p, "vector");
    free(p);

    vault_identity_t *id;
    snprintf(path, sizeof path, "%s/owner.key", dir);
    check(vault_identity_load(path, NULL, &id), "owner.key");
    vault_t *v;
    snprintf(path, sizeof path, "%s/vault", dir);
    check(vault_open(path, id, &v), "open the vector vault");
    vault_identity_free(id);

    envelope_seeds(v->keys, "vector", v->member);

    /* snapshots: stored, and their records */
    char(*names)[65];
    size_t n;
    check(vlt_repo_snapshot_names(v, &names, &n), "snapshot names");
    for (size_t i = 0; i < n; i++) {
        char name[80];
        check(backend_load(v->be, BACKEND_SNAPSHOTS, names[i], 0, 0,
                           SNAPSHOT_MAX_BYTES, &p, &len),
              "load snapshot");
        snprintf(name, sizeof name, "vector-%.12s", names[i]);
        seed("snapshot", name, 0, p, len);
        free(p);
        snapshot_record rec;
        check(vlt_repo_snapshot_load(v, names[i], &rec), "snapshot");
        snprintf(name, sizeof name, "vector-%.12s-record", names[i]);
        snapshot_seed(&rec, name);
        vlt_snapshot_clear(&rec);
    }
    free(names);

    /* index segments: stored, and their bodies */
    name_list ix = {0};
    check(vlt_backend_list_names(v->be, BACKEND_INDEX, &ix), "index names");
    for (size_t i = 0; i < ix.n; i++) {
        char name[80];
        check(backend_load(v->be, BACKEND_INDEX, ix.names[i], 0, 0,
                           INDEX_MAX_BYTES, &p, &len),
              "load index");
        snprintf(name, sizeof name, "vector-%.12s", ix.names[i]);
        seed("index", name, 0, p, len);
        const key_epoch *ep = len > 36 + AEAD_TAG
                                  ? vlt_keyring_epoch(v->keys, le32(p + 8))
                                  : NULL;
        uint8_t key[SECRET_BYTES];
        if (ep) {
            vlt_kdf(key, ep->write_key, "index");
            size_t body_len = len - 36 - AEAD_TAG;
            uint8_t *body = xmalloc(body_len);
            if (crypto_aead_xchacha20poly1305_ietf_decrypt(
                    body, NULL, NULL, p + 36, len - 36, p, 36, p + 12, key) ==
                0) {
                /* author | sig | body: mode 2 takes it whole, the
                 * signing mode the body alone */
                snprintf(name, sizeof name, "vector-%.12s-plain",
                         ix.names[i]);
                seed("index", name, 2, body, body_len);
                if (body_len >= INDEX_AUTHOR_BYTES) {
                    snprintf(name, sizeof name, "vector-%.12s-body",
                             ix.names[i]);
                    seed("index", name, 1, body + INDEX_AUTHOR_BYTES,
                         body_len - INDEX_AUTHOR_BYTES);
                }
            }
            free(body);
        }
        free(p);
    }
    free(ix.names);

    /* packs: stored, their own index, their blobs */
    name_list packs = {0};
    check(vlt_backend_list_names(v->be, BACKEND_DATA, &packs), "pack names");
    for (size_t i = 0; i < packs.n; i++) {
        char name[80];
        check(backend_load(v->be, BACKEND_DATA, packs.names[i], 0, 0,
                           PACK_MAX_BYTES, &p, &len),
              "load pack");
        snprintf(name, sizeof name, "vector-%.12s", packs.names[i]);
        seed("pack_index", name, 0, p, len);
        seed("pack_header", name, 0, p, len);
        pack_entry *es;
        size_t ne;
        uint8_t key[SECRET_BYTES];
        check(vlt_pack_read_index(v->keys, p, len, &es, &ne), "pack index");
        check(vlt_pack_key_from_header(v->keys, p, len, key), "pack key");
        size_t pl;
        uint8_t *plain = pack_index_plain(es, ne, &pl);
        snprintf(name, sizeof name, "vector-%.12s-index", packs.names[i]);
        seed("pack_index", name, 1, plain, pl);
        free(plain);
        for (size_t j = 0; j < ne; j++) {
            uint8_t *raw;
            check(vlt_blob_open(v->keys, key, &es[j], p + es[j].offset,
                            es[j].length, NULL, &raw),
                  "blob");
            snprintf(name, sizeof name, "vector-%.12s-blob%zu",
                     packs.names[i], j);
            pack_header_seed(name, 3, 0, (blob_type)es[j].type,
                             es[j].flags, raw, es[j].raw_len);
            if (es[j].type == BLOB_TREE) {
                snprintf(name, sizeof name, "vector-%.12s-tree%zu",
                         packs.names[i], j);
                seed("tree", name, NO_MODE, raw, es[j].raw_len);
            }
            free(raw);
        }
        free(es);
        free(p);
    }
    free(packs.names);
    vault_close(v);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gen_fuzz_seeds OUTDIR [VECTOR_DIR]\n");
        return 2;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST) {
        perror(outdir);
        return 1;
    }
    check(vault_global_init(), "vault_global_init");

    keyring *k1, *k2, *k3;
    check(vlt_keyring_generate(&k1), "vlt_keyring_generate");
    check(vlt_keyring_new_epoch(k1, &k2), "vlt_keyring_new_epoch");
    check(vlt_keyring_new_epoch(k2, &k3), "vlt_keyring_new_epoch");
    vault_identity_t *id;
    check(vault_identity_generate(&id), "vault_identity_generate");
    envelope_seeds(k1, "synthetic-1epoch", vault_identity_recipient(id));
    membership_seeds(k1, vault_identity_recipient(id));
    envelope_seeds(k3, "synthetic-3epochs",
                   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHrM3vRZpE0dD7jjWd"
                   "xI9i2v2b2p1WkRrAxX3WvTq3y9");
    vault_identity_free(id);
    uint8_t cfg[CONFIG_BYTES];
    vlt_config_encode(k1, cfg);
    config_seeds(cfg, "synthetic");
    tree_seeds();
    snapshot_seeds();
    lock_seeds();
    pack_seeds(k3);
    vlt_keyring_free(k1);
    vlt_keyring_free(k2);
    vlt_keyring_free(k3);

    vector_seeds(argc > 2 ? argv[2]
                          : VAULT_SOURCE_DIR "/format-spec/vectors/vault-v2");
    return failed;
}
