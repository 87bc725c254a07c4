/*
 * hostile_writer.c - a writer member turned attacker (issue #10).  It
 * holds only what a writer holds - its identity, hence its envelope's
 * secrets (pk_e, W_e, D) - and write access to the vault's storage, and
 * crafts objects from the format's rules to harm the other members.
 * Tests run each attack and assert that it is refused or harmless.
 *
 *   hostile_writer VAULT WRITER_KEY poison-prune
 *       indexes a pack of bogus blobs under every chunk ID the index
 *       holds (a segment whose name sorts first), so that a prune keeping
 *       "the first copy" keeps the bogus ones and deletes the real pack
 *   hostile_writer VAULT WRITER_KEY poison-dedup FILE
 *       indexes bogus blobs under the chunk IDs of FILE's content (which a
 *       writer can compute), so that a member adding FILE later skips
 *       storing it
 *   hostile_writer VAULT WRITER_KEY plant-envelope RECIPIENT KEYFILE
 *       plants an envelope for RECIPIENT (e.g. the owner's key) with the
 *       writer's secrets and signing key and one extra key epoch whose
 *       keys go to KEYFILE
 *   hostile_writer VAULT WRITER_KEY read-with KEYFILE
 *       prints the records of the snapshots that KEYFILE's epoch opens
 *   hostile_writer VAULT WRITER_KEY forge-record
 *       a membership record after the last one, making the writer an
 *       owner, signed by the writer
 *   hostile_writer VAULT WRITER_KEY prune-mark
 *       a prune mark condemning every pack
 *   hostile_writer VAULT WRITER_KEY fake-snapshot HOST PATH SHELL
 *       a snapshot dated 2100 of HOST:PATH holding a set-uid-root copy of
 *       SHELL, a file with cap_setuid=ep, and a /dev/mem-like device
 *   hostile_writer VAULT WRITER_KEY future-add-marker
 *       an add marker dated 2100, to hold prune sweeps back
 *
 * Exit status 0 when the attack's objects were written, 1 on failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <sodium.h>

#include "backend_testing.h"
#include "common/internal.h"
#include "format/chunker.h"
#include "format/locks.h"
#include "format/membership_record.h"
#include "repo/repo.h"
#include "tool_open.h"

static int fail(const char *what, vault_error rc)
{
    fprintf(stderr, "hostile_writer: %s: %s (%s)\n", what,
            vault_strerror(rc), vault_last_error());
    return 1;
}

/* --- reading what a writer can read: the index ---------------------- */

typedef struct id_list {
    pack_entry *entries;
    size_t n, cap;
} id_list;

static vault_error collect_entry(void *ctx, const uint8_t pack_id[32],
                                 const pack_entry *e)
{
    (void)pack_id;
    id_list *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->entries = realloc(l->entries, l->cap * sizeof *l->entries);
        if (!l->entries)
            return VAULT_E_NOMEM;
    }
    l->entries[l->n++] = *e;
    return VAULT_OK;
}

static vault_error read_index(vault_t *v, id_list *out, char *first_segment)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(v->be, BACKEND_INDEX, &names);
    if (rc != VAULT_OK)
        return rc;
    snprintf(first_segment, 65, "g"); /* above every hex name */
    for (size_t i = 0; i < names.n && rc == VAULT_OK; i++) {
        index_segment_info info;
        rc = vlt_index_segment_read(v->be, v->keys, names.names[i],
                                    collect_entry, out, &info);
        if (strcmp(names.names[i], first_segment) < 0)
            memcpy(first_segment, names.names[i], 65);
    }
    free(names.names);
    return rc;
}

/* --- writing: a pack of bogus blobs and a segment listing it -------- */

/* Seals one bogus blob (a single byte) under each of ids' chunk IDs,
 * saves the pack, and indexes it in a segment whose name sorts before
 * `before` (ground by sealing the segment again with a fresh nonce). */
static vault_error plant_bogus(vault_t *v, const pack_entry *ids, size_t n,
                               const char *before)
{
    pack_writer pw;
    memset(&pw, 0, sizeof pw);
    vault_error rc = vlt_pack_writer_begin(&pw, v->keys);
    static const uint8_t junk[1] = {'X'};
    for (size_t i = 0; i < n && rc == VAULT_OK; i++)
        rc = vlt_pack_writer_add(&pw, (blob_type)ids[i].type, ids[i].id, 0,
                                 junk, 1, 1);
    uint8_t pack_id[32];
    if (rc == VAULT_OK)
        rc = vlt_pack_writer_finish(&pw, v->be, pack_id);
    pack_entry *entries = NULL;
    if (rc == VAULT_OK) {
        entries = malloc(n * sizeof *entries);
        if (!entries)
            rc = VAULT_E_NOMEM;
        else
            memcpy(entries, pw.entries, n * sizeof *entries);
    }
    vlt_pack_writer_free(&pw);
    size_t starts[2] = {0, n};
    /* Grind the segment's name in memory; keep the first that sorts
     * before every segment already there. */
    for (int tries = 0; rc == VAULT_OK && tries < 100000; tries++) {
        backend *mem = NULL;
        rc = vlt_backend_memory_open(&mem);
        if (rc != VAULT_OK)
            break;
        rc = vlt_index_segment_save(mem, v->keys, pack_id, 1, starts,
                                    entries);
        name_list names = {0};
        if (rc == VAULT_OK)
            rc = vlt_backend_list_names(mem, BACKEND_INDEX, &names);
        if (rc == VAULT_OK && names.n == 1 &&
            strcmp(names.names[0], before) < 0) {
            uint8_t *bytes = NULL;
            size_t len = 0;
            rc = backend_load(mem, BACKEND_INDEX, names.names[0], 0, 0,
                              INDEX_MAX_BYTES, &bytes, &len);
            if (rc == VAULT_OK)
                rc = backend_save(v->be, BACKEND_INDEX, names.names[0], bytes,
                                  len);
            free(bytes);
            free(names.names);
            backend_close(mem);
            break;
        }
        free(names.names);
        backend_close(mem);
    }
    free(entries);
    return rc;
}

static int poison_prune(vault_t *v)
{
    id_list ids = {0};
    char first[65];
    vault_error rc = read_index(v, &ids, first);
    /* Data blobs only: trees stay readable, so check and prune's walk see
     * nothing wrong until a file's content is needed. */
    size_t n = 0;
    for (size_t i = 0; i < ids.n; i++)
        if (ids.entries[i].type == BLOB_DATA)
            ids.entries[n++] = ids.entries[i];
    ids.n = n;
    if (rc == VAULT_OK)
        rc = plant_bogus(v, ids.entries, ids.n, first);
    free(ids.entries);
    if (rc != VAULT_OK)
        return fail("poison-prune", rc);
    printf("indexed %zu bogus blobs under the vault's chunk IDs\n", ids.n);
    return 0;
}

/* The chunk IDs of a file's content, as an add computes them. */
static int poison_dedup(vault_t *v, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    vault_error rc = vlt_read_file(path, (size_t)1 << 30, &data, &len);
    if (rc != VAULT_OK)
        return fail(path, rc);
    chunker_table table;
    vlt_chunker_table_init(&table, v->keys->gear_key);
    id_list ids = {0};
    for (size_t off = 0; off < len;) {
        size_t cut = vlt_chunker_next(&table, data + off, len - off, 1);
        pack_entry e = {.type = BLOB_DATA};
        vlt_chunk_id_compute(v->keys, BLOB_DATA, data + off, cut, e.id);
        if (collect_entry(&ids, NULL, &e) != VAULT_OK)
            return fail("poison-dedup", VAULT_E_NOMEM);
        off += cut;
    }
    free(data);
    rc = plant_bogus(v, ids.entries, ids.n, "g");
    free(ids.entries);
    if (rc != VAULT_OK)
        return fail("poison-dedup", rc);
    printf("indexed %zu bogus blobs under %s's chunk IDs\n", ids.n, path);
    return 0;
}

/* --- envelopes -------------------------------------------------------- */

/* An envelope sealed to recipient (e.g. the owner's key) holding the
 * writer's secrets, the writer's own signing key, and one extra key
 * epoch whose keys the attacker keeps in key_file: if the owner's client
 * took it, the owner would seal its next add to the attacker's epoch. */
static int plant_envelope(vault_t *v, const char *recipient,
                          const char *key_file)
{
    keyring *k = NULL;
    vault_error rc = vlt_keyring_new_epoch(v->keys, &k);
    if (rc != VAULT_OK)
        return fail("plant-envelope", rc);
    key_epoch *ep = &k->epochs[k->n_epochs - 1];
    char pk[65], sk[65], w[65];
    vlt_hex_encode(ep->read_pk, 32, pk);
    vlt_hex_encode(ep->read_sk, 32, sk);
    vlt_hex_encode(ep->write_key, 32, w);
    FILE *f = fopen(key_file, "w");
    if (!f || fprintf(f, "%s %s %s\n", pk, sk, w) < 0 || fclose(f))
        return fail(key_file, VAULT_E_IO);
    envelope_payload *p = NULL;
    rc = vlt_envelope_payload_make(k, recipient, v->keys->sign_seed, 1, 0, 0,
                                   &p);
    if (rc == VAULT_OK) {
        /* the planted epoch comes with its read secret */
        envelope_epoch *last = &p->epochs[p->n_epochs - 1];
        memcpy(last->keys.read_sk, ep->read_sk, 32);
        last->keys.has_read_sk = 1;
    }
    char name[65];
    if (rc == VAULT_OK)
        rc = vlt_envelope_save(v->be, p, name);
    vlt_envelope_payload_free(p);
    vlt_keyring_free(k);
    if (rc != VAULT_OK)
        return fail("plant-envelope", rc);
    printf("planted keys/%s for %s\n", name, recipient);
    return 0;
}

/* A membership record that follows the log's last one and lists the
 * writer as an owner, signed by the writer: a writer granting itself. */
static int forge_record(vault_t *v)
{
    const membership *m = v->members;
    membership_record r;
    memset(&r, 0, sizeof r);
    r.seq = m->seq + 1;
    memcpy(r.previous, m->last_name, 32);
    r.epoch = m->epoch;
    memcpy(r.epoch_pk, m->epoch_pk[m->epoch], X25519_BYTES);
    memcpy(r.write_key_id, m->epoch_write_key_id[m->epoch], 32);
    memcpy(r.dedup_id, m->dedup_id, 32);
    r.time = vlt_now();
    r.members = calloc(m->n_members, sizeof *r.members);
    vault_error rc = r.members ? VAULT_OK : VAULT_E_NOMEM;
    for (size_t i = 0; i < m->n_members && rc == VAULT_OK; i++) {
        rc = vlt_member_entry_copy(&r.members[i], &m->members[i]);
        r.n_members++;
        if (memcmp(r.members[i].sign_pk, v->keys->sign_pk, 32) == 0)
            r.members[i].role = ROLE_OWNER;
    }
    const key_epoch *ep = vlt_keyring_current(v->keys);
    char name[65];
    if (rc == VAULT_OK)
        rc = vlt_membership_append(v->be, v->keys->vault_id, ep->write_key,
                                   &r, v->keys->sign_sk, name);
    vlt_membership_record_clear(&r);
    if (rc != VAULT_OK)
        return fail("forge-record", rc);
    printf("saved keys/%s: record %llu making the writer an owner\n", name,
           (unsigned long long)(m->seq + 1));
    return 0;
}

/* A prune mark condemning every pack: a writer deciding what to delete. */
static int prune_mark(vault_t *v)
{
    name_list packs;
    vault_error rc = vlt_backend_list_names(v->be, BACKEND_DATA, &packs);
    if (rc != VAULT_OK)
        return fail("prune-mark", rc);
    lock_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = LOCK_PRUNE_MARK;
    rec.time = 1; /* long past any grace period */
    rec.pid = 1;
    snprintf(rec.host, sizeof rec.host, "attacker");
    rec.packs = malloc(packs.n * 32 + 1);
    if (!rec.packs)
        return fail("prune-mark", VAULT_E_NOMEM);
    for (size_t i = 0; i < packs.n; i++)
        if (vlt_hex_decode(packs.names[i], 64, rec.packs + 32 * rec.n_packs,
                           32) == VAULT_OK)
            rec.n_packs++;
    free(packs.names);
    rc = vlt_lock_write(v, &rec);
    free(rec.packs);
    if (rc != VAULT_OK)
        return fail("prune-mark", rc);
    printf("saved prune mark locks/%.8s condemning %u packs\n", rec.name,
           rec.n_packs);
    return 0;
}

/* Opens every snapshot sealed in the epoch whose read secret SKFILE has
 * (planted earlier): the attacker reading what was sealed to it. */
static int read_with(vault_t *v, const char *sk_file)
{
    char hex[3][65];
    FILE *f = fopen(sk_file, "r");
    if (!f || fscanf(f, "%64s %64s %64s", hex[0], hex[1], hex[2]) != 3)
        return fail(sk_file, VAULT_E_IO);
    fclose(f);
    keyring *k = NULL;
    vault_error rc = vlt_keyring_new_epoch(v->keys, &k);
    if (rc != VAULT_OK)
        return fail("read-with", rc);
    key_epoch *ep = &k->epochs[k->n_epochs - 1];
    if (vlt_hex_decode(hex[0], 64, ep->read_pk, 32) != VAULT_OK ||
        vlt_hex_decode(hex[1], 64, ep->read_sk, 32) != VAULT_OK ||
        vlt_hex_decode(hex[2], 64, ep->write_key, 32) != VAULT_OK)
        return fail(sk_file, VAULT_E_CORRUPT);
    ep->has_read_sk = 1;
    name_list names;
    rc = vlt_backend_list_names(v->be, BACKEND_SNAPSHOTS, &names);
    if (rc != VAULT_OK)
        return fail("read-with", rc);
    int opened = 0;
    for (size_t i = 0; i < names.n; i++) {
        snapshot_record rec;
        memset(&rec, 0, sizeof rec);
        if (vlt_snapshot_load(v->be, k, names.names[i], &rec) == VAULT_OK) {
            printf("read snapshot %.8s: host %s, path %s\n", names.names[i],
                   rec.hostname, rec.n_paths ? rec.paths[0] : "");
            opened++;
        }
        vlt_snapshot_clear(&rec);
    }
    free(names.names);
    vlt_keyring_free(k);
    if (!opened)
        fprintf(stderr, "hostile_writer: no snapshot opens with %s\n",
                sk_file);
    return opened ? 0 : 1;
}

/* --- a snapshot of the writer's making -------------------------------- */

typedef struct crafted {
    pack_writer pw;
} crafted;

/* Seals one blob of plaintext into the pack, uncompressed. */
static vault_error put_blob(crafted *c, vault_t *v, blob_type type,
                            const uint8_t *data, size_t len,
                            uint8_t id[CHUNK_ID_BYTES])
{
    vlt_chunk_id_compute(v->keys, type, data, len, id);
    return vlt_pack_writer_add(&c->pw, type, id, 0, data, len, (uint32_t)len);
}

static char root_name[] = "root";

static tree_node node(node_type type, char *name, uint32_t mode)
{
    tree_node n;
    memset(&n, 0, sizeof n);
    n.type = type;
    n.name = name;
    n.mode = mode;
    n.user = root_name;
    n.group = root_name;
    n.mtime_sec = 4102444800; /* 2100-01-01 */
    n.nlink = 1;
    return n;
}

static vault_error put_tree(crafted *c, vault_t *v, tree_node *nodes,
                            uint32_t n, uint8_t id[CHUNK_ID_BYTES])
{
    tree t = {nodes, n};
    uint8_t *bytes = NULL;
    size_t len = 0;
    vault_error rc = vlt_tree_encode(&t, &bytes, &len);
    if (rc == VAULT_OK)
        rc = put_blob(c, v, BLOB_TREE, bytes, len, id);
    free(bytes);
    return rc;
}

static int fake_snapshot(vault_t *v, char *host, char *path,
                         const char *shell)
{
    crafted c;
    memset(&c, 0, sizeof c);
    vault_error rc = vlt_pack_writer_begin(&c.pw, v->keys);
    uint8_t *sh = NULL;
    size_t sh_len = 0;
    if (rc == VAULT_OK)
        rc = vlt_read_file(shell, CHUNKER_MAX_SIZE, &sh, &sh_len);
    uint8_t sh_id[CHUNK_ID_BYTES], x_id[CHUNK_ID_BYTES], id[CHUNK_ID_BYTES];
    static const uint8_t script[] = "#!/bin/sh\nid\n";
    if (rc == VAULT_OK)
        rc = put_blob(&c, v, BLOB_DATA, sh, sh_len, sh_id);
    if (rc == VAULT_OK)
        rc = put_blob(&c, v, BLOB_DATA, script, sizeof script - 1, x_id);
    free(sh);
    /* the leaf directory: the planted privileges */
    tree_node leaf[3];
    char n_shell[] = "rootshell", n_cap[] = "capsh", n_mem[] = "mem";
    char cap_name[] = "security.capability";
    leaf[0] = node(NODE_FILE, n_shell, 04755);
    leaf[0].size = sh_len;
    leaf[0].content = &sh_id;
    leaf[0].n_content = 1;
    leaf[1] = node(NODE_FILE, n_cap, 0755);
    leaf[1].size = sizeof script - 1;
    leaf[1].content = &x_id;
    leaf[1].n_content = 1;
    /* cap_setuid=ep (VFS_CAP_REVISION_2, as setcap writes it) */
    static uint8_t cap[20] = {0x01, 0, 0, 0x02, 0x80, 0, 0, 0, 0x80};
    node_xattr x = {cap_name, cap, sizeof cap};
    leaf[1].xattrs = &x;
    leaf[1].n_xattrs = 1;
    leaf[2] = node(NODE_CHARDEV, n_mem, 0666);
    leaf[2].rdev = makedev(1, 1);
    if (rc == VAULT_OK)
        rc = put_tree(&c, v, leaf, 3, id);
    /* the directories above it, from the path's last component up */
    char *p = strdup(path);
    if (!p)
        rc = VAULT_E_NOMEM;
    for (char *slash; rc == VAULT_OK && (slash = strrchr(p, '/'));) {
        tree_node dir = node(NODE_DIR, slash + 1, 0755);
        memcpy(dir.subtree, id, CHUNK_ID_BYTES);
        if (slash[1])
            rc = put_tree(&c, v, &dir, 1, id);
        *slash = '\0';
    }
    free(p);
    /* finish resets the writer's entries: keep them for the segment (a
     * writer cannot read its own pack back) */
    size_t n_entries = c.pw.n_entries;
    pack_entry *entries = malloc(n_entries * sizeof *entries);
    if (!entries)
        rc = VAULT_E_NOMEM;
    else
        memcpy(entries, c.pw.entries, n_entries * sizeof *entries);
    uint8_t pack_id[32];
    if (rc == VAULT_OK)
        rc = vlt_pack_writer_finish(&c.pw, v->be, pack_id);
    size_t starts[2] = {0, n_entries};
    if (rc == VAULT_OK)
        rc = vlt_index_segment_save(v->be, v->keys, pack_id, 1, starts,
                                    entries);
    free(entries);
    vlt_pack_writer_free(&c.pw);
    char *paths[1] = {path};
    snapshot_record rec;
    memset(&rec, 0, sizeof rec);
    rec.time_sec = 4102444800; /* 2100-01-01T00:00:00Z */
    memcpy(rec.tree, id, CHUNK_ID_BYTES);
    rec.hostname = host;
    rec.username = root_name;
    rec.paths = paths;
    rec.n_paths = 1;
    rec.files = 2;
    char snap[65];
    if (rc == VAULT_OK)
        rc = vlt_snapshot_save(v->be, v->keys, &rec, snap);
    if (rc != VAULT_OK)
        return fail("fake-snapshot", rc);
    printf("saved snapshot %.8s dated 2100-01-01 of %s:%s\n", snap, host,
           path);
    return 0;
}

static int future_add_marker(vault_t *v)
{
    lock_record rec;
    memset(&rec, 0, sizeof rec);
    rec.kind = LOCK_ADD;
    rec.time = 4102444800; /* 2100-01-01 */
    rec.pid = 1;
    snprintf(rec.host, sizeof rec.host, "attacker");
    vault_error rc = vlt_lock_write(v, &rec);
    if (rc != VAULT_OK)
        return fail("future-add-marker", rc);
    printf("saved add marker locks/%.8s dated 2100-01-01\n", rec.name);
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: hostile_writer VAULT WRITER_KEY ATTACK [ARGS]\n"
            "attacks: poison-prune | poison-dedup FILE |\n"
            "         plant-envelope RECIPIENT KEYFILE | read-with KEYFILE |\n"
            "         forge-record | prune-mark |\n"
            "         fake-snapshot HOST PATH SHELL | future-add-marker\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return usage();
    vault_t *v = NULL;
    if (tool_open_vault("hostile_writer", argv[1], argv[2], &v) != 0)
        return 1;
    const char *attack = argv[3];
    int n = argc - 4;
    char **a = argv + 4;
    int ret;
    if (strcmp(attack, "poison-prune") == 0 && n == 0)
        ret = poison_prune(v);
    else if (strcmp(attack, "poison-dedup") == 0 && n == 1)
        ret = poison_dedup(v, a[0]);
    else if (strcmp(attack, "plant-envelope") == 0 && n == 2)
        ret = plant_envelope(v, a[0], a[1]);
    else if (strcmp(attack, "forge-record") == 0 && n == 0)
        ret = forge_record(v);
    else if (strcmp(attack, "prune-mark") == 0 && n == 0)
        ret = prune_mark(v);
    else if (strcmp(attack, "read-with") == 0 && n == 1)
        ret = read_with(v, a[0]);
    else if (strcmp(attack, "fake-snapshot") == 0 && n == 3)
        ret = fake_snapshot(v, a[0], a[1], a[2]);
    else if (strcmp(attack, "future-add-marker") == 0 && n == 0)
        ret = future_add_marker(v);
    else
        ret = usage();
    vault_close(v);
    return ret;
}
