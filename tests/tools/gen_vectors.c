/*
 * gen_vectors.c - writes format-spec/vectors/vault-v2/: a complete tiny
 * vault made with published test keys, the files it holds, the expected
 * listing, and damage cases with their expected errors.
 *
 * Reproducible: libsodium's random source is replaced by a ChaCha20
 * stream from a fixed seed, the clock is pinned, and trees are built with
 * fixed metadata instead of being read from a disk, so the same program
 * writes the same bytes on every machine.  `test_vectors_reproducible`
 * regenerates the vectors and compares them with the committed ones.
 *
 * usage: gen_vectors OUTDIR   (OUTDIR must not exist)
 */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>
#include <zstd.h>

#include "crypto/age/age.h"
#include "crypto/identity.h"
#include "common/internal.h"
#include "repo/repo.h"

/* forged/: the attacks are the hostile writer's own (its main renamed),
 * so that the vectors and test_hostile.sh craft them alike. */
#define main hostile_writer_main
int hostile_writer_main(int argc, char **argv);
#include "hostile_writer.c"
#undef main

#define EPOCH_TIME 1700000000 /* 2023-11-14T22:13:20Z */

/* --- a deterministic random source ------------------------------------- */
static const uint8_t rng_key[32] = "vault test vectors: not random!";
static uint64_t rng_counter;

static void det_buf(void *buf, size_t size)
{
    uint8_t nonce[crypto_stream_chacha20_NONCEBYTES] = {0};
    store_le64(nonce, rng_counter++);
    crypto_stream_chacha20(buf, size, nonce, rng_key);
}
static const char *det_name(void) { return "vault-vectors"; }
static uint32_t det_random(void)
{
    uint8_t b[4];
    det_buf(b, 4);
    return load_le32(b);
}
static void det_stir(void) {}
static uint32_t det_uniform(uint32_t upper)
{
    if (upper < 2)
        return 0;
    uint32_t min = (uint32_t)(-upper) % upper, r;
    do
        r = det_random();
    while (r < min);
    return r % upper;
}
static int det_close(void) { return 0; }
static randombytes_implementation det_rng = {det_name, det_random, det_stir,
                                             det_uniform, det_buf, det_close};

/* --- helpers ------------------------------------------------------------ */
static const char *out_dir;

/* What the forged cases need to know of the roles vault. */
typedef struct roles_facts {
    const vault_identity_t *owner;
    char *wendy;           /* her recipient */
    char id0[65], id1[65]; /* the owner's snapshots, oldest first */
} roles_facts;

static roles_facts facts;

static void die(const char *what)
{
    fprintf(stderr, "gen_vectors: %s: %s\n", what, vault_last_error());
    exit(1);
}

static void check(vault_error rc, const char *what)
{
    if (rc != VAULT_OK)
        die(what);
}

static void write_file(const char *rel, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out_dir, rel);
    /* make parents */
    for (char *s = path + strlen(out_dir) + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(path, 0755);
            *s = '/';
        }
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "gen_vectors: cannot write %s\n", path);
        exit(1);
    }
}

static void write_key(const char *rel, const vault_identity_t *id)
{
    char secret[AGE_IDENTITY_STRLEN + 1], text[512];
    vlt_age_encode_identity(id->keys[0].secret_key, secret);
    int n = snprintf(text, sizeof text,
                     "# A published test key: never use it for real data.\n"
                     "# public key: %s\n%s\n",
                     id->recipient, secret);
    write_file(rel, text, (size_t)n);
}

/* The name of the one object in vault/<folder>. */
static void first_object(const char *vault_path, const char *folder,
                         char name[65])
{
    char dir[8192];
    snprintf(dir, sizeof dir, "%s/%s", vault_path, folder);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL)
        if (strlen(de->d_name) == 64)
            memcpy(name, de->d_name, 65);
    if (d)
        closedir(d);
}

/* The object of keys/ that is (record 1) or is not (0) a membership
 * record; the vault has one of each. */
static void keys_object_name(const char *vault_path, int record, char name[65])
{
    char dir[4200], path[4600];
    snprintf(dir, sizeof dir, "%s/keys", vault_path);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strlen(de->d_name) != 64)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        char head[8] = {0};
        FILE *f = fopen(path, "rb");
        if (!f || fread(head, 1, 8, f) != 8)
            die("read keys object");
        fclose(f);
        if ((memcmp(head, MEMBERS_MAGIC, 8) == 0) == record)
            memcpy(name, de->d_name, 65);
    }
    if (d)
        closedir(d);
}

/* The content of the snapshot: fixed names, metadata and bytes. */
typedef struct fixture_file {
    const char *name;
    uint32_t mode;
    const char *text;   /* NULL: see bytes */
    size_t random_len;  /* > 0: this many bytes of the random stream */
} fixture_file;

static pack_writer pw;

static void add_blob(vault_t *v, blob_type type, const uint8_t *data,
                     size_t len, uint8_t id[CHUNK_ID_BYTES])
{
    vlt_chunk_id_compute(v->keys, type, data, len, id);
    if (vlt_index_find(&v->index, id))
        return;
    /* Compress as add does: zstd level 3 when it shrinks. */
    size_t bound = ZSTD_compressBound(len);
    uint8_t *z = malloc(bound ? bound : 1);
    if (!z)
        die("out of memory");
    size_t zn = ZSTD_compress(z, bound, data, len, 3);
    int inserted;
    pack_entry e = {0};
    if (!ZSTD_isError(zn) && zn < len)
        check(vlt_pack_writer_add(&pw, type, id, BLOB_FLAG_ZSTD, z, zn,
                              (uint32_t)len),
              "pack add");
    else
        check(vlt_pack_writer_add(&pw, type, id, 0, data, len, (uint32_t)len),
              "pack add");
    free(z);
    check(vlt_index_add(&v->index, id, NULL, &e, SLOT_OWN, &inserted),
          "index add");
}

static tree_node file_node(vault_t *v, const char *name, uint32_t mode,
                           const uint8_t *data, size_t len, uint64_t inode)
{
    tree_node n = {0};
    n.type = NODE_FILE;
    n.name = strdup(name);
    n.mode = mode;
    n.uid = n.gid = 1000;
    n.user = strdup("alice");
    n.group = strdup("alice");
    n.mtime_sec = EPOCH_TIME - 3600;
    n.mtime_nsec = 123456789;
    n.size = len;
    n.inode = inode;
    n.device = 42;
    n.nlink = 1;
    if (len) {
        n.content = malloc(CHUNK_ID_BYTES);
        n.n_content = 1;
        add_blob(v, BLOB_DATA, data, len, n.content[0]);
    }
    return n;
}

static tree_node dir_node(const char *name, uint32_t mode, uint64_t inode)
{
    tree_node n = {0};
    n.type = NODE_DIR;
    n.name = strdup(name);
    n.mode = mode;
    n.uid = n.gid = 1000;
    n.user = strdup("alice");
    n.group = strdup("alice");
    n.mtime_sec = EPOCH_TIME - 1800;
    n.inode = inode;
    n.device = 42;
    n.nlink = 2;
    return n;
}

static void store_tree(vault_t *v, tree *t, uint8_t id[CHUNK_ID_BYTES])
{
    uint8_t *bytes;
    size_t len;
    check(vlt_tree_encode(t, &bytes, &len), "tree encode");
    add_blob(v, BLOB_TREE, bytes, len, id);
    free(bytes);
    vlt_tree_clear(t);
}

/* One file under /roles, stored as its own snapshot (an add, done by
 * hand with fixed metadata). */
static void roles_snapshot(vault_t *v, const char *name, const char *text,
                           int64_t when, char id[65])
{
    check(vlt_repo_load_index(v), "index");
    check(vlt_pack_writer_begin(&pw, v->keys), "pack");
    tree dir = {0};
    dir.nodes = calloc(1, sizeof *dir.nodes);
    dir.nodes[dir.n_nodes++] =
        file_node(v, name, 0644, (const uint8_t *)text, strlen(text), 21);
    tree root = {0};
    root.nodes = calloc(1, sizeof *root.nodes);
    root.nodes[root.n_nodes] = dir_node("roles", 0755, 20);
    store_tree(v, &dir, root.nodes[root.n_nodes++].subtree);
    uint8_t root_id[CHUNK_ID_BYTES];
    store_tree(v, &root, root_id);
    uint8_t pack_id[32];
    check(vlt_pack_writer_finish(&pw, v->be, pack_id), "pack save");
    size_t starts[2] = {0, pw.n_entries};
    check(vlt_index_segment_save(v->be, v->keys, pack_id, 1, starts, pw.entries),
          "index save");
    vlt_pack_writer_free(&pw);
    char *paths[] = {"/roles"};
    snapshot_record rec = {.time_sec = when,
                           .hostname = "vectors.example",
                           .username = "alice",
                           .paths = paths,
                           .n_paths = 1,
                           .files = 1,
                           .dirs = 1,
                           .bytes_read = strlen(text)};
    memcpy(rec.tree, root_id, CHUNK_ID_BYTES);
    check(vlt_repo_snapshot_save(v, &rec, id), "snapshot save");
}

/* The vault's fingerprint, from the format spec's definition ("Pinning"),
 * not through vault_fingerprint: test_vectors compares the two. */
static void fingerprint_by_spec(const vault_t *v, char out[65])
{
    static const char label[] = "vault/v2 fingerprint";
    uint8_t msg[sizeof label - 1 + VAULT_ID_BYTES + SIGN_PUBLIC_BYTES], h[32];
    memcpy(msg, label, sizeof label - 1);
    memcpy(msg + sizeof label - 1, v->keys->vault_id, VAULT_ID_BYTES);
    /* the founder signed record 0 */
    memcpy(msg + sizeof label - 1 + VAULT_ID_BYTES, v->members->founder_pk,
           SIGN_PUBLIC_BYTES);
    crypto_generichash(h, sizeof h, msg, sizeof msg, NULL, 0);
    vlt_hex_encode(h, sizeof h, out);
}

/* roles/: a vault shared with a reader (bob) and a writer (wendy); then bob
 * is removed (key epoch 1) and one more snapshot is added.  Bob's removed
 * envelope is kept beside the vault to show what revocation cannot do. */
static void write_roles_vault(vault_identity_t *owner)
{
    vault_identity_t *bob, *wendy;
    check(vault_identity_generate(&bob), "bob key");
    check(vault_identity_generate(&wendy), "wendy key");
    write_key("roles/bob.key", bob);
    write_key("roles/wendy.key", wendy);
    char path[4096];
    snprintf(path, sizeof path, "%s/roles/vault", out_dir);
    vlt_clock_pin(EPOCH_TIME + 86400);
    check(vault_init(path, vault_identity_recipient(owner)), "roles init");
    vault_t *v;
    check(vault_open(path, owner, &v), "roles open");
    check(vault_share(v, vault_identity_recipient(bob), VAULT_ROLE_READER),
          "share bob");
    check(vault_share(v, vault_identity_recipient(wendy), VAULT_ROLE_WRITER),
          "share wendy");
    char id0[65], id1[65];
    roles_snapshot(v, "zero.txt", "sealed in key epoch 0\n",
                   EPOCH_TIME + 86400, id0);
    /* Bob's envelope, before it goes. */
    vault_member_info *members;
    size_t n_members;
    check(vault_members(v, &members, &n_members), "members");
    for (size_t i = 0; i < n_members; i++)
        if (strcmp(members[i].member, vault_identity_recipient(bob)) == 0) {
            char from[4200], to[9000];
            snprintf(from, sizeof from, "%s/keys/%s", path,
                     members[i].envelope);
            snprintf(to, sizeof to, "cp '%s' '%s/roles/bob-envelope.age'",
                     from, out_dir);
            if (system(to) != 0)
                die("copy bob's envelope");
        }
    vault_members_free(members, n_members);
    vlt_clock_pin(EPOCH_TIME + 2 * 86400);
    const char *gone[] = {vault_identity_recipient(bob)};
    check(vault_unshare(v, gone, 1), "unshare bob");
    roles_snapshot(v, "one.txt", "sealed in key epoch 1\n",
                   EPOCH_TIME + 2 * 86400, id1);
    char fingerprint[65];
    fingerprint_by_spec(v, fingerprint);
    char text[4096];
    int n = snprintf(
        text, sizeof text,
        "# identity operation expected (see vectors/README.md)\n"
        "owner.key role owner\n"
        "owner.key log 3\n"
        "owner.key members %s owner 2\n"
        "owner.key members %s writer 2\n"
        "owner.key readable %s %s\n"
        "owner.key file %s /roles/zero.txt sealed in key epoch 0\n"
        "owner.key file %s /roles/one.txt sealed in key epoch 1\n"
        "owner.key fingerprint %s\n"
        "roles/wendy.key role writer\n"
        "roles/wendy.key log 3\n"
        "roles/wendy.key members %s owner 2\n"
        "roles/wendy.key fingerprint %s\n"
        "roles/wendy.key count 2\n"
        "roles/wendy.key snapshots VAULT_E_PERMISSION\n"
        "roles/bob.key open VAULT_E_NOT_MEMBER\n"
        "roles/bob.key+envelope open VAULT_E_PERMISSION\n",
        vault_identity_recipient(owner), vault_identity_recipient(wendy), id0,
        id1, id0, id1, fingerprint, vault_identity_recipient(owner),
        fingerprint);
    write_file("roles/expected.txt", text, (size_t)n);
    /* as above: no empty folders */
    char dir[4200];
    for (int i = 0; i < 256; i++) {
        snprintf(dir, sizeof dir, "%s/data/%02x", path, i);
        rmdir(dir);
    }
    snprintf(dir, sizeof dir, "%s/locks", path);
    rmdir(dir);
    vault_close(v);
    vault_identity_free(bob);
    facts.owner = owner;
    memcpy(facts.id0, id0, 65);
    memcpy(facts.id1, id1, 65);
    facts.wendy = strdup(vault_identity_recipient(wendy));
    vault_identity_free(wendy);
}


/* --- forged/: a writer's attacks on the roles vault --------------------- */


static void run_shell(const char *what, const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0) {
        fprintf(stderr, "gen_vectors: %s failed: %s\n", what, cmd);
        exit(1);
    }
}

/* The owner's roster entry (wendy learns it from the log). */
static const member_entry *owner_entry(const vault_t *v)
{
    for (size_t i = 0; i < v->members->n_members; i++)
        if (v->members->members[i].role == ROLE_OWNER &&
            memcmp(v->members->members[i].sign_pk, v->keys->sign_pk,
                   SIGN_PUBLIC_BYTES) != 0)
            return &v->members->members[i];
    die("the roles vault has no owner besides wendy");
    return NULL;
}

static int forge_envelope_extra_epoch(vault_t *v, const char *scratch)
{
    char key_file[4300];
    snprintf(key_file, sizeof key_file, "%s/attacker-epoch.txt", scratch);
    return plant_envelope(v, vault_identity_recipient(facts.owner), key_file);
}

/* wendy's own keyring, signing key and role-less secrets, sealed to the
 * owner: no extra epoch, just her signing key in the owner's hands. */
static int forge_envelope_wendy_key(vault_t *v, const char *scratch)
{
    (void)scratch;
    envelope_payload *p = NULL;
    char name[65];
    check(vlt_envelope_payload_make(v->keys, vault_identity_recipient(facts.owner),
                                    v->keys->sign_seed, 1, 0, 0, &p),
          "envelope payload");
    check(vlt_envelope_save(v->be, p, name), "envelope save");
    vlt_envelope_payload_free(p);
    return 0;
}

static int forge_record_promotes(vault_t *v, const char *scratch)
{
    (void)scratch;
    return forge_record(v);
}

/* A founding record of wendy's own: epoch 0 (whose write key she holds),
 * a fresh salt, herself the only member, an owner. */
static int forge_record_founder(vault_t *v, const char *scratch)
{
    (void)scratch;
    const membership *m = v->members;
    const key_epoch *e0 = vlt_keyring_epoch(v->keys, 0);
    if (!e0)
        die("wendy holds no key epoch 0");
    membership_record r;
    memset(&r, 0, sizeof r);
    r.seq = 0;
    randombytes_buf(r.previous, sizeof r.previous);
    r.epoch = 0;
    memcpy(r.epoch_pk, m->epoch_pk[0], X25519_BYTES);
    memcpy(r.write_key_id, m->epoch_write_key_id[0], 32);
    memcpy(r.dedup_id, m->dedup_id, 32);
    r.time = vlt_now();
    const member_entry *self = vlt_membership_find(m, v->keys->sign_pk);
    if (!self)
        die("wendy is not in the roster");
    r.members = calloc(1, sizeof *r.members);
    if (!r.members)
        die("out of memory");
    check(vlt_member_entry_copy(&r.members[0], self), "member copy");
    r.n_members = 1;
    r.members[0].role = ROLE_OWNER;
    char name[65];
    check(vlt_membership_append(v->be, v->keys->vault_id, e0->write_key, &r,
                                v->keys->sign_sk, name),
          "founding record");
    vlt_membership_record_clear(&r);
    return 0;
}

static int forge_segment_bogus_copies(vault_t *v, const char *scratch)
{
    (void)scratch;
    return poison_prune(v);
}

static int forge_snapshot_2100(vault_t *v, const char *scratch)
{
    char shell[4300];
    snprintf(shell, sizeof shell, "%s/shell.bin", scratch);
    static const char text[] = "#!/bin/sh\necho not a shell\n";
    FILE *f = fopen(shell, "wb");
    if (!f || fwrite(text, 1, sizeof text - 1, f) != sizeof text - 1 ||
        fclose(f) != 0)
        die("write the fake shell");
    char host[] = "vectors.example", path[] = "/roles";
    return fake_snapshot(v, host, path, shell);
}

/* A snapshot naming the owner's signing key as its author, signed by
 * wendy: her keyring with the owner's public key put in. */
static int forge_snapshot_author(vault_t *v, const char *scratch)
{
    (void)scratch;
    uint8_t own_pk[SIGN_PUBLIC_BYTES];
    memcpy(own_pk, v->keys->sign_pk, sizeof own_pk);
    memcpy(v->keys->sign_pk, owner_entry(v)->sign_pk, SIGN_PUBLIC_BYTES);
    char *paths[] = {"/roles"};
    snapshot_record rec = {.time_sec = EPOCH_TIME + 3 * 86400,
                           .hostname = "vectors.example",
                           .username = "alice",
                           .paths = paths,
                           .n_paths = 1};
    /* any tree: the owner's newest (wendy read its ID nowhere; a reader
     * never gets that far) */
    char id[65];
    check(vlt_snapshot_save(v->be, v->keys, &rec, id), "forged snapshot");
    memcpy(v->keys->sign_pk, own_pk, sizeof own_pk);
    return 0;
}

static int forge_prune_mark(vault_t *v, const char *scratch)
{
    (void)scratch;
    return prune_mark(v);
}

/* An add marker by Wendy with a process part (format.md 15a, "Process")
 * from a boot and pid namespace no test machine has: aged only. */
static int forge_add_marker(vault_t *v, const char *scratch)
{
    (void)scratch;
    static const char label[] = "vault/v2 process domain";
    static const char boot[] = "00000000-0000-4000-8000-000000000000\n";
    static const char pidns[] = "pid:[4026531836]";
    lock_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = LOCK_ADD;
    rec.time = vlt_now();
    rec.pid = 4242;
    snprintf(rec.host, sizeof rec.host, "wendy-laptop");
    rec.has_process = 1;
    rec.process_start = 123456;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const uint8_t *)label, sizeof label);
    crypto_hash_sha256_update(&h, (const uint8_t *)boot, sizeof boot - 1);
    crypto_hash_sha256_update(&h, (const uint8_t *)pidns, sizeof pidns - 1);
    crypto_hash_sha256_final(&h, rec.process_domain);
    vault_error rc = vlt_lock_write(v, &rec);
    if (rc != VAULT_OK)
        return fail("add-marker", rc);
    return 0;
}

/* The name of the one object under <case>/<folder>. */
static void case_object(const char *name, const char *folder, char out[65])
{
    char path[4300];
    snprintf(path, sizeof path, "%s/forged/%s", out_dir, name);
    first_object(path, folder, out);
}

/* Copies the roles vault, runs the attack as wendy, and keeps in
 * forged/<name>/ only the objects it added. */
static void forged_case(const char *name,
                        int (*attack)(vault_t *v, const char *scratch))
{
    char scratch[4200], roles[4200], key[4200], dest[4300];
    snprintf(scratch, sizeof scratch, "%s/forged-scratch", out_dir);
    snprintf(roles, sizeof roles, "%s/roles/vault", out_dir);
    snprintf(key, sizeof key, "%s/roles/wendy.key", out_dir);
    snprintf(dest, sizeof dest, "%s/forged/%s", out_dir, name);
    run_shell("copy the roles vault", "cp -a '%s' '%s'", roles, scratch);
    vault_identity_t *wendy;
    check(vault_identity_load(key, NULL, &wendy), "wendy's key");
    vault_t *v;
    check(vault_open(scratch, wendy, &v), "open the roles vault as wendy");
    vault_identity_free(wendy);
    if (attack(v, scratch) != 0) {
        fprintf(stderr, "gen_vectors: forged case %s failed\n", name);
        exit(1);
    }
    vault_close(v);
    run_shell("keep the new objects",
              "cd '%s' && mkdir -p '%s' && "
              "find keys index data snapshots locks -type f 2>/dev/null | "
              "sort | while read f; do test -e '%s'/\"$f\" || "
              "{ mkdir -p '%s'/\"$(dirname \"$f\")\" && "
              "cp \"$f\" '%s'/\"$f\" && chmod 0644 '%s'/\"$f\"; } || exit 1; "
              "done && cd / && rm -rf '%s'",
              scratch, dest, roles, dest, dest, dest, scratch);
}

static void write_forged(void)
{
    forged_case("envelope-extra-epoch", forge_envelope_extra_epoch);
    forged_case("envelope-wendy-key-for-owner", forge_envelope_wendy_key);
    forged_case("record-writer-promotes", forge_record_promotes);
    forged_case("record-founder", forge_record_founder);
    forged_case("segment-bogus-copies", forge_segment_bogus_copies);
    forged_case("snapshot-2100", forge_snapshot_2100);
    forged_case("snapshot-forged-author", forge_snapshot_author);
    forged_case("prune-mark-by-writer", forge_prune_mark);
    forged_case("add-marker-elsewhere", forge_add_marker);
    char fake[65] = "", forged[65] = "", mark[65] = "", marker[65] = "";
    case_object("add-marker-elsewhere", "locks", marker);
    case_object("snapshot-2100", "snapshots", fake);
    case_object("snapshot-forged-author", "snapshots", forged);
    case_object("prune-mark-by-writer", "locks", mark);
    const char *own = vault_identity_recipient(facts.owner);
    char text[8192];
    int n = snprintf(
        text, sizeof text,
        "# case identity operation expected (see vectors/README.md)\n"
        "envelope-extra-epoch owner.key role owner\n"
        "envelope-extra-epoch owner.key log 3\n"
        "envelope-extra-epoch owner.key members %s owner 2\n"
        "envelope-extra-epoch owner.key file %s /roles/one.txt sealed in key epoch 1\n"
        "envelope-wendy-key-for-owner owner.key role owner\n"
        "envelope-wendy-key-for-owner owner.key log 3\n"
        "envelope-wendy-key-for-owner owner.key members %s owner 2\n"
        "record-writer-promotes owner.key log 3\n"
        "record-writer-promotes owner.key members %s writer 2\n"
        "record-writer-promotes roles/wendy.key role writer\n"
        "record-founder owner.key log 3\n"
        "record-founder owner.key role owner\n"
        "record-founder roles/wendy.key role writer\n"
        "segment-bogus-copies owner.key file %s /roles/zero.txt sealed in key epoch 0\n"
        "segment-bogus-copies owner.key file %s /roles/one.txt sealed in key epoch 1\n"
        "segment-bogus-copies owner.key file latest /roles/one.txt sealed in key epoch 1\n"
        "snapshot-2100 owner.key latest %s\n"
        "snapshot-2100 owner.key author %s %s writer\n"
        "snapshot-forged-author owner.key snapshot-damaged %s\n"
        "snapshot-forged-author owner.key latest %s\n"
        "prune-mark-by-writer owner.key lock-ignored %s\n"
        "prune-mark-by-writer owner.key file latest /roles/one.txt sealed in key epoch 1\n"
        "add-marker-elsewhere owner.key marker-stale %s\n"
        "add-marker-elsewhere roles/wendy.key marker-stale %s\n",
        own, facts.id1, own, facts.wendy, facts.id0, facts.id1, facts.id1,
        fake, facts.wendy, forged, facts.id1, mark, marker, marker);
    write_file("forged/expected.txt", text, (size_t)n);
}

static int remove_entry(const char *path, const struct stat *st, int type,
                        struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_vectors OUTDIR\n");
        return 2;
    }
    out_dir = argv[1];
    if (mkdir(out_dir, 0755) != 0) {
        fprintf(stderr, "gen_vectors: %s: %s\n", out_dir, strerror(errno));
        return 1;
    }
    /* The client's caches (files, index) of a run before, or of one beside
     * this (the vault IDs are the same every time), must not steer what
     * this run writes: a cache folder of its own, inside OUTDIR, removed
     * at the end. */
    char cache_dir[4096];
    snprintf(cache_dir, sizeof cache_dir, "%s/.cache", out_dir);
    if (mkdir(cache_dir, 0700) != 0 || setenv("XDG_CACHE_HOME", cache_dir, 1)) {
        fprintf(stderr, "gen_vectors: %s: %s\n", cache_dir, strerror(errno));
        return 1;
    }
    randombytes_set_implementation(&det_rng);
    check(vault_global_init(), "init");
    vlt_clock_pin(EPOCH_TIME);

    vault_identity_t *owner, *stranger;
    check(vault_identity_generate(&owner), "owner key");
    check(vault_identity_generate(&stranger), "stranger key");
    write_key("owner.key", owner);
    write_key("stranger.key", stranger);

    char vault_path[4096];
    snprintf(vault_path, sizeof vault_path, "%s/vault", out_dir);
    check(vault_init(vault_path, vault_identity_recipient(owner)), "init");
    vault_t *v;
    check(vault_open(vault_path, owner, &v), "open");
    check(vlt_repo_load_index(v), "index");
    check(vlt_pack_writer_begin(&pw, v->keys), "pack");

    /* /data/{hello.txt, empty, link -> hello.txt, docs/{notes.md,
     * random.bin}} */
    static const char hello[] = "hello, vault\n";
    char notes[2048];
    size_t notes_len = 0;
    for (int i = 0; notes_len + 64 < sizeof notes; i++)
        notes_len += (size_t)snprintf(notes + notes_len,
                                      sizeof notes - notes_len,
                                      "- line %d of notes that compress\n",
                                      i);
    uint8_t random_bytes[300];
    det_buf(random_bytes, sizeof random_bytes);

    tree docs = {0};
    docs.nodes = calloc(2, sizeof *docs.nodes);
    docs.nodes[docs.n_nodes++] =
        file_node(v, "notes.md", 0640, (const uint8_t *)notes, notes_len, 11);
    docs.nodes[docs.n_nodes++] =
        file_node(v, "random.bin", 0600, random_bytes, sizeof random_bytes, 12);
    tree data = {0};
    data.nodes = calloc(4, sizeof *data.nodes);
    data.nodes[data.n_nodes] = dir_node("docs", 0750, 10);
    store_tree(v, &docs, data.nodes[data.n_nodes++].subtree);
    data.nodes[data.n_nodes++] =
        file_node(v, "hello.txt", 0644, (const uint8_t *)hello,
                  sizeof hello - 1, 13);
    data.nodes[data.n_nodes++] = file_node(v, "empty", 0644, NULL, 0, 14);
    tree_node link = dir_node("link", 0777, 15);
    link.type = NODE_SYMLINK;
    link.nlink = 1;
    link.target = strdup("hello.txt");
    data.nodes[data.n_nodes++] = link;
    tree root = {0};
    root.nodes = calloc(1, sizeof *root.nodes);
    root.nodes[root.n_nodes] = dir_node("data", 0755, 2);
    store_tree(v, &data, root.nodes[root.n_nodes++].subtree);
    uint8_t root_id[CHUNK_ID_BYTES];
    store_tree(v, &root, root_id);

    uint8_t pack_id[32];
    check(vlt_pack_writer_finish(&pw, v->be, pack_id), "pack save");
    size_t starts[2] = {0, pw.n_entries};
    check(vlt_index_segment_save(v->be, v->keys, pack_id, 1, starts, pw.entries),
          "index save");

    /* Two snapshots of the same tree, an hour apart. */
    char *paths[] = {"/data"};
    char *tags1[] = {"first"}, *tags2[] = {"second", "v1"};
    char ids[2][65];
    for (int s = 0; s < 2; s++) {
        snapshot_record rec = {
            .time_sec = EPOCH_TIME + s * 3600,
            .time_nsec = 0,
            .hostname = "vectors.example",
            .username = "alice",
            .paths = paths,
            .n_paths = 1,
            .tags = s ? tags2 : tags1,
            .n_tags = s ? 2 : 1,
            .files = 4,
            .dirs = 2,
            .bytes_read = sizeof hello - 1 + notes_len + sizeof random_bytes,
        };
        memcpy(rec.tree, root_id, CHUNK_ID_BYTES);
        check(vlt_repo_snapshot_save(v, &rec, ids[s]), "snapshot save");
    }

    /* The files as they must come back. */
    write_file("files/data/hello.txt", hello, sizeof hello - 1);
    write_file("files/data/empty", "", 0);
    write_file("files/data/docs/notes.md", notes, notes_len);
    write_file("files/data/docs/random.bin", random_bytes,
               sizeof random_bytes);
    char link_path[4096];
    snprintf(link_path, sizeof link_path, "%s/files/data/link", out_dir);
    if (symlink("hello.txt", link_path) != 0)
        die("symlink");

    /* The expected listing: snapshots, then `ls -R latest`. */
    char text[8192];
    size_t n = 0;
    n += (size_t)snprintf(text + n, sizeof text - n,
                          "snapshot %s %d vectors.example alice /data first\n"
                          "snapshot %s %d vectors.example alice /data "
                          "second,v1\n",
                          ids[0], EPOCH_TIME, ids[1], EPOCH_TIME + 3600);
    n += (size_t)snprintf(
        text + n, sizeof text - n,
        "dir 0755 0 %d /data\n"
        "dir 0750 0 %d /data/docs\n"
        "file 0640 %zu %d /data/docs/notes.md\n"
        "file 0600 300 %d /data/docs/random.bin\n"
        "file 0644 0 %d /data/empty\n"
        "file 0644 %zu %d /data/hello.txt\n"
        "symlink 0777 0 %d /data/link -> hello.txt\n",
        EPOCH_TIME - 1800, EPOCH_TIME - 1800, notes_len, EPOCH_TIME - 3600,
        EPOCH_TIME - 3600, EPOCH_TIME - 3600, sizeof hello - 1,
        EPOCH_TIME - 3600, EPOCH_TIME - 1800);
    write_file("expected-ls.txt", text, n);

    /* Damage cases: object, offset (or "delete"), xor, operation, code.
     * The random.bin blob is the second entry in the pack. */
    char pack_name[65], key_name[65] = "", index_name[65] = "";
    vlt_hex_encode(pack_id, 32, pack_name);
    char record_name[65] = "";
    keys_object_name(vault_path, 0, key_name);
    keys_object_name(vault_path, 1, record_name);
    first_object(vault_path, "index", index_name);
    const pack_entry *rb = &pw.entries[1];
    n = (size_t)snprintf(
        text, sizeof text,
        "# case object offset xor operation expected-error\n"
        "config-mac config 70 01 open VAULT_E_CORRUPT\n"
        "config-version config 8 02 open VAULT_E_UNSUPPORTED\n"
        "config-magic config 0 20 open VAULT_E_CORRUPT\n"
        "envelope-flip keys/%s 200 01 open VAULT_E_NOT_MEMBER\n"
        "envelope-missing keys/%s delete 00 open VAULT_E_NOT_MEMBER\n"
        "record-flip keys/%s 100 01 open VAULT_E_CORRUPT\n"
        "record-missing keys/%s delete 00 open VAULT_E_CORRUPT\n"
        "stranger - - 00 open-stranger VAULT_E_NOT_MEMBER\n"
        "snapshot-flip snapshots/%s 100 01 snapshots VAULT_E_CORRUPT\n"
        "index-flip index/%s 50 01 ls VAULT_E_NOT_FOUND\n"
        "pack-header-flip data/%.2s/%s 20 01 ls VAULT_E_CORRUPT\n"
        "pack-blob-flip data/%.2s/%s %u 01 extract VAULT_E_PARTIAL\n"
        "pack-missing data/%.2s/%s delete 00 ls VAULT_E_NOT_FOUND\n",
        key_name, key_name, record_name, record_name, ids[0], index_name, pack_name, pack_name,
        pack_name, pack_name, (unsigned)(rb->offset + rb->length / 2),
        pack_name, pack_name);
    write_file("damage.txt", text, n);

    /* git keeps no empty folders, and a vault needs none of them (they
     * are made on the first save into them): remove them here so that
     * the committed copy and a regenerated one are alike. */
    static const char *const folders[] = {"keys", "index", "snapshots",
                                          "locks"};
    char dir[4200];
    for (int i = 0; i < 256; i++) {
        snprintf(dir, sizeof dir, "%s/data/%02x", vault_path, i);
        rmdir(dir); /* fails, as it should, when not empty */
    }
    for (size_t i = 0; i < sizeof folders / sizeof folders[0]; i++) {
        snprintf(dir, sizeof dir, "%s/%s", vault_path, folders[i]);
        rmdir(dir);
    }

    vlt_pack_writer_free(&pw);
    vault_close(v);
    write_roles_vault(owner);
    write_forged();
    free(facts.wendy);
    vault_identity_free(owner);
    vault_identity_free(stranger);
    /* the vectors are what OUTDIR holds: the caches go */
    if (nftw(cache_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "gen_vectors: removing %s: %s\n", cache_dir,
                strerror(errno));
        return 1;
    }
    return 0;
}
