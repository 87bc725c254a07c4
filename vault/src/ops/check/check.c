/*
 * check.c - `check`: verifies a vault as far as the member's secrets
 * allow, and names the snapshots and files each problem affects.
 * Format spec "Checking".
 *
 * The steps, each going on past the damage it finds:
 *
 *   1. config parses and its MAC verifies;
 *   2. keys/: every envelope's name is the SHA-256 of its bytes and its age
 *      header is well formed (readers open it with the epochs' read keys:
 *      it must decode and name this vault);
 *   3. index/: every segment is loaded on its own (vlt_index_segment_read), so
 *      a damaged one is reported and the others still count.  The good
 *      ones make this check's own index and the list of indexed packs,
 *      each with the entries the segments give it;
 *   4. data/: every indexed pack exists and is large enough for those
 *      entries; a pack that no segment lists is a warning ("unindexed"),
 *      which interrupted adds leave behind;
 *   5. snapshots/: each loads (writers: its name verifies); readers then
 *      read every tree reachable from the roots, each once, and record
 *      for every tree and chunk the places it is reached from (a parent
 *      tree and an entry name, or a snapshot's root): the reverse edges
 *      from which a problem's affected paths are found;
 *   6. every referenced tree and chunk is in the index with its type;
 *   7. with read_data (or a random subset of packs): each pack is read
 *      whole, its SHA-256 must be its name and, for readers, its trailer
 *      must authenticate, its own index must agree with the segments and
 *      every blob must decrypt and match its chunk ID.
 *
 * Problems with packs are collected until the end, so that each pack is
 * reported once, with everything found in it and everything it affects:
 * all files with a blob in it when the pack as a whole is unusable
 * (missing, too short, header or trailer damaged), else those with a blob
 * that failed.  A blob stored twice (concurrent adds) affects files only
 * through the copy the index points reads to.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/age/age.h"
#include "common/array.h"
#include "common/idset.h"
#include "common/internal.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

#define AEAD_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define AEAD_TAG crypto_aead_xchacha20poly1305_ietf_ABYTES

#define NO_EDGE UINT32_MAX
#define ROOT_PARENT UINT32_MAX /* an edge from a snapshot to its root */
/* Bounds on listing what a problem affects: a hostile tree that names
 * itself twice would otherwise make the paths grow without end. */
#define AFFECTS_MAX 10000
#define AFFECTS_STEPS 1000000
#define AFFECTS_DEPTH 512
#define WHAT_MAX 900     /* bytes of findings text kept per pack */
#define MISSING_LISTED 4 /* blob IDs named in the "not indexed" problem */

/* A tree or chunk that the snapshots reference; numbered as in refs. */
typedef struct node {
    uint8_t type;        /* blob_type it is referenced as */
    uint32_t first_edge; /* its edges, linked through edge.next */
} node;

/* One place a node is reached from. */
typedef struct edge {
    uint32_t parent; /* node of the tree naming it; ROOT_PARENT: a root */
    uint32_t name;   /* offset of the entry name in names; for a root,
                        the snapshot number */
    uint32_t next;   /* the node's next edge, NO_EDGE at the end */
} edge;

/* A pack the index lists, and what was found wrong with it. */
typedef struct pack_rec {
    uint8_t id[32];
    char name[65];
    char label[BACKEND_LABEL_MAX]; /* "data/ab/ab..." */
    char segment[65];              /* the first segment listing it */
    pack_entry *entries;           /* as the segments list them */
    size_t n_entries, cap_entries;
    uint64_t size;
    int key_state; /* 0: not tried, 1: key ready, 2: unusable, 3: key
                      from the header, but the trailer fails */
    int whole;     /* a finding that makes every blob in it unusable */
    uint8_t (*bad)[CHUNK_ID_BYTES]; /* blobs found damaged */
    size_t n_bad, cap_bad;
    char what[WHAT_MAX];  /* findings, "; "-separated */
    size_t n_findings;    /* in what, or dropped for lack of room */
    size_t dropped;
} pack_rec;

typedef struct checker {
    vault_t *v;
    const vault_check_options *o;
    vault_check_result *r;
    int can_read; /* holds read keys: owner or reader */

    vault_index ix;      /* chunk ID -> place, from the segments that load */
    vlt_idset packset; /* pack IDs, numbered as packs */
    pack_rec *packs;
    size_t n_packs, cap_packs;
    uint8_t (*keys)[SECRET_BYTES]; /* pack keys, sodium_malloc'ed */
    uint64_t segments_skipped;

    vlt_idset refs; /* referenced chunk IDs, numbered as nodes */
    node *nodes;
    size_t cap_nodes;
    edge *edges;
    size_t n_edges, cap_edges;
    char *names; /* NUL-terminated entry names, back to back */
    size_t names_len, names_cap;
    char (*snaps)[9]; /* short IDs by snapshot number */
    size_t n_snaps;
    uint8_t (*roots)[CHUNK_ID_BYTES]; /* the snapshots' root trees */
    size_t n_roots, cap_roots;
    uint32_t walk_tree; /* node of the tree being walked */
    struct stray *strays; /* packs no segment lists, by name */
    size_t n_strays, cap_strays;
} checker;

/* A pack in data/ that no index segment lists. */
typedef struct stray {
    char name[65];
    uint64_t holds;   /* referenced blobs that no segment lists */
    int damaged;      /* read_data: its name does not match its content */
    char detail[256]; /* why, if damaged */
} stray;

/* What one problem affects, while it is being gathered. */
typedef struct affects {
    vault_check_ref *refs;
    size_t n, cap;
    size_t steps;
    int truncated;
} affects;

static vault_error nomem(void)
{
    return vlt_fail(VAULT_E_NOMEM, "check: out of memory");
}

/* Errors that stop the check; any other is a problem of the object. */
static int fatal(vault_error rc)
{
    return rc == VAULT_E_NOMEM || rc == VAULT_E_INTERNAL;
}

/* VLT_ARRAY_GROW with check's error. */
#define grow(array_ptr, cap, need)                                            \
    (VLT_ARRAY_GROW((array_ptr), (cap), (need)) != 0 ? nomem() : VAULT_OK)

/* The detail without a leading "label: ", which the problem names. */
static const char *after_label(const char *detail, const char *label)
{
    size_t n = strlen(label);
    if (strncmp(detail, label, n) == 0 && detail[n] == ':' &&
        detail[n + 1] == ' ')
        return detail + n + 2;
    return detail;
}

/* --- reporting ----------------------------------------------------------- */

static int ref_cmp(const void *x, const void *y)
{
    const vault_check_ref *a = x, *b = y;
    int c = strcmp(a->snapshot, b->snapshot);
    if (c)
        return c;
    if (!a->path || !b->path)
        return (a->path != NULL) - (b->path != NULL);
    return strcmp(a->path, b->path);
}

static void affects_free(affects *a)
{
    for (size_t i = 0; i < a->n; i++)
        free((char *)(uintptr_t)a->refs[i].path);
    free(a->refs);
    memset(a, 0, sizeof *a);
}

/* Adds (snapshot, path) with the path made of comps[depth-1] ... comps[0]
 * (no components: the root, "/"; path NULL: the snapshot itself). */
static vault_error affects_add(affects *a, const char *snapshot,
                               const char *const *comps, size_t depth,
                               int whole_snapshot)
{
    if (a->n >= AFFECTS_MAX) {
        a->truncated = 1;
        return VAULT_OK;
    }
    vault_error rc = grow(&a->refs, &a->cap, a->n + 1);
    if (rc != VAULT_OK)
        return rc;
    char *path = NULL;
    if (!whole_snapshot) {
        size_t len = 1;
        for (size_t i = 0; i < depth; i++)
            len += strlen(comps[i]) + 1;
        if (!(path = malloc(len + 1)))
            return nomem();
        char *p = path;
        if (depth == 0)
            *p++ = '/';
        for (size_t i = depth; i-- > 0;) {
            size_t n = strlen(comps[i]);
            *p++ = '/';
            memcpy(p, comps[i], n);
            p += n;
        }
        *p = '\0';
    }
    a->refs[a->n].snapshot = snapshot;
    a->refs[a->n].path = path;
    a->n++;
    return VAULT_OK;
}

/* Every (snapshot, path) at which node is reached, walking edges up. */
static vault_error affects_node(checker *c, affects *a, uint32_t n,
                                const char **comps, size_t depth)
{
    for (uint32_t e = c->nodes[n].first_edge; e != NO_EDGE;
         e = c->edges[e].next) {
        if (++a->steps > AFFECTS_STEPS) {
            a->truncated = 1;
            return VAULT_OK;
        }
        const edge *ed = &c->edges[e];
        vault_error rc = VAULT_OK;
        if (ed->parent == ROOT_PARENT)
            rc = affects_add(a, c->snaps[ed->name], comps, depth, 0);
        else if (depth >= AFFECTS_DEPTH)
            a->truncated = 1;
        else {
            comps[depth] = c->names + ed->name;
            rc = affects_node(c, a, ed->parent, comps, depth + 1);
        }
        if (rc != VAULT_OK)
            return rc;
    }
    return VAULT_OK;
}

static vault_error affects_id(checker *c, affects *a,
                              const uint8_t id[CHUNK_ID_BYTES])
{
    uint32_t n;
    if (!vlt_idset_find(&c->refs, id, &n))
        return VAULT_OK; /* no snapshot this member reads refers to it */
    const char *comps[AFFECTS_DEPTH];
    return affects_node(c, a, n, comps, 0);
}

/* Hands one problem (or warning) to the caller and counts it. */
static void emit(checker *c, int warning, const char *object,
                 const char *what, affects *a)
{
    affects none = {0};
    if (!a)
        a = &none;
    if (a->n > 1) {
        qsort(a->refs, a->n, sizeof *a->refs, ref_cmp);
        size_t k = 1;
        for (size_t i = 1; i < a->n; i++) {
            if (ref_cmp(&a->refs[i], &a->refs[k - 1]) == 0)
                free((char *)(uintptr_t)a->refs[i].path);
            else
                a->refs[k++] = a->refs[i];
        }
        a->n = k;
    }
    vault_check_problem p = {
        .object = object,
        .what = what,
        .warning = warning,
        .affects = a->refs,
        .n_affects = a->n,
        .affects_truncated = a->truncated,
    };
    if (warning)
        c->r->warnings++;
    else
        c->r->problems++;
    if (c->o->on_problem)
        c->o->on_problem(c->o->on_problem_ctx, &p);
    affects_free(a);
}

/* A problem whose detail is the library's last error, less the label. */
static void emit_last(checker *c, const char *object, affects *a)
{
    char what[512];
    snprintf(what, sizeof what, "%s", after_label(vault_last_error(), object));
    emit(c, 0, object, what, a);
}

/* --- pack findings -------------------------------------------------------- */

static void pack_finding(pack_rec *p, const char *fmt, ...) VAULT_PRINTF(2, 3);
static void pack_finding(pack_rec *p, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (strstr(p->what, msg))
        return; /* found again (by the tree walk, then by read_data) */
    size_t used = strlen(p->what), n = strlen(msg);
    p->n_findings++;
    if (used + n + 3 > sizeof p->what - 24) {
        p->dropped++;
        return;
    }
    snprintf(p->what + used, sizeof p->what - used, "%s%s",
             used ? "; " : "", msg);
}

/* Records a damaged blob (twice, if both the walk and read_data find
 * it: what it affects is made unique when reported). */
static vault_error pack_bad_blob(pack_rec *p, const uint8_t id[CHUNK_ID_BYTES])
{
    vault_error rc = grow(&p->bad, &p->cap_bad, p->n_bad + 1);
    if (rc == VAULT_OK)
        memcpy(p->bad[p->n_bad++], id, CHUNK_ID_BYTES);
    return rc;
}

/* A blob that failed: "blob <id>: <why>" (the detail less "blob: "). */
static vault_error blob_finding(pack_rec *p, const uint8_t id[CHUNK_ID_BYTES],
                                const char *what, const char *detail)
{
    char hex[65];
    vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
    if (strncmp(detail, "blob: ", 6) == 0)
        detail += 6;
    pack_finding(p, "%s %.16s: %s", what, hex, detail);
    return pack_bad_blob(p, id);
}

static pack_rec *pack_of_slot(checker *c, const index_slot *s)
{
    uint32_t n = 0;
    int found = vlt_idset_find(&c->packset, c->ix.packs[s->pack], &n);
    assert(found);
    (void)found;
    return &c->packs[n];
}

/* Whether reads of this chunk go to pack p (the index's copy). */
static int read_from(checker *c, const pack_rec *p,
                     const uint8_t id[CHUNK_ID_BYTES])
{
    const index_slot *s = vlt_index_find(&c->ix, id);
    return s && s->pack != INDEX_PENDING &&
           memcmp(c->ix.packs[s->pack], p->id, 32) == 0;
}

/* --- 1, 2: config and envelopes ----------------------------------------- */

static vault_error check_config(checker *c)
{
    uint8_t *config = NULL;
    size_t len = 0;
    vault_error rc = backend_load(c->v->be, BACKEND_CONFIG, "", 0, 0, 4096,
                                  &config, &len);
    if (rc == VAULT_OK)
        rc = vlt_config_verify(c->v->keys, config, len);
    free(config);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK)
        emit_last(c, "config", NULL);
    return VAULT_OK;
}

static vault_error check_envelope(checker *c, const age_identity *ids,
                                  size_t n_ids, const char *name)
{
    char label[BACKEND_LABEL_MAX];
    vlt_backend_label(BACKEND_KEYS, name, label);
    uint8_t *file = NULL, *plain = NULL;
    size_t len = 0, plain_len = 0;
    vault_error rc = backend_load(c->v->be, BACKEND_KEYS, name, 0, 0,
                                  ENVELOPE_MAX_BYTES, &file, &len);
    if (rc == VAULT_OK)
        rc = vlt_object_check_name(BACKEND_KEYS, name, file, len);
    if (rc == VAULT_OK)
        rc = vlt_age_decrypt(ids, n_ids, file, len, &plain, &plain_len);
    free(file);
    if (rc == VAULT_E_AGE_NO_MATCH && n_ids == 0)
        rc = VAULT_OK; /* a writer: the header parses, that is all */
    else if (rc == VAULT_E_AGE_NO_MATCH) {
        vlt_age_free_plaintext(plain, plain_len);
        c->r->envelopes++;
        emit(c, 1, label,
             "opens with no key epoch this member holds (an envelope "
             "sealed after it was unshared, or not this vault's)",
             NULL);
        return VAULT_OK;
    } else if (rc == VAULT_OK) {
        keyring *k = NULL;
        char *member = NULL;
        rc = vlt_envelope_payload_decode(plain, plain_len, &k, &member, NULL);
        if (rc == VAULT_OK && sodium_memcmp(k->vault_id, c->v->keys->vault_id,
                                            VAULT_ID_BYTES) != 0)
            rc = vlt_fail(VAULT_E_CORRUPT,
                          "the envelope belongs to another vault");
        vlt_keyring_free(k);
        free(member);
    }
    vlt_age_free_plaintext(plain, plain_len);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        emit_last(c, label, NULL);
        return VAULT_OK;
    }
    c->r->envelopes++;
    return VAULT_OK;
}

static vault_error check_envelopes(checker *c)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(c->v->be, BACKEND_KEYS, &names);
    if (rc != VAULT_OK)
        return rc;
    const keyring *k = c->v->keys;
    size_t n_ids = c->can_read ? k->n_epochs : 0;
    age_identity *ids = NULL;
    if (n_ids) {
        ids = sodium_allocarray(n_ids, sizeof *ids);
        if (!ids) {
            free(names.names);
            return nomem();
        }
        for (size_t e = 0; e < n_ids; e++) {
            memset(&ids[e], 0, sizeof ids[e]);
            ids[e].kind = AGE_KIND_X25519;
            memcpy(ids[e].secret_key, k->epochs[e].read_sk, X25519_BYTES);
        }
    }
    for (size_t i = 0; i < names.n && rc == VAULT_OK; i++)
        rc = check_envelope(c, ids, n_ids, names.names[i]);
    if (ids)
        sodium_free(ids);
    free(names.names);
    return rc;
}

/* --- 3: index segments ---------------------------------------------------- */

typedef struct segment_ctx {
    checker *c;
    const char *name;
} segment_ctx;

static vault_error segment_entry(void *ctx, const uint8_t pack_id[32],
                                 const pack_entry *e)
{
    segment_ctx *s = ctx;
    checker *c = s->c;
    uint32_t n;
    int inserted;
    vault_error rc = vlt_idset_put(&c->packset, pack_id, &n, &inserted);
    if (rc != VAULT_OK)
        return rc;
    if (inserted) {
        rc = grow(&c->packs, &c->cap_packs, c->n_packs + 1);
        if (rc != VAULT_OK)
            return rc;
        assert(n == c->n_packs);
        pack_rec *p = &c->packs[c->n_packs++];
        memset(p, 0, sizeof *p);
        memcpy(p->id, pack_id, 32);
        vlt_hex_encode(pack_id, 32, p->name);
        vlt_backend_label(BACKEND_DATA, p->name, p->label);
        memcpy(p->segment, s->name, 65);
    }
    pack_rec *p = &c->packs[n];
    rc = grow(&p->entries, &p->cap_entries, p->n_entries + 1);
    if (rc != VAULT_OK)
        return rc;
    p->entries[p->n_entries++] = *e;
    return vlt_index_add(&c->ix, e->id, pack_id, e, &inserted);
}

static vault_error check_index(checker *c)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(c->v->be, BACKEND_INDEX, &names);
    if (rc != VAULT_OK)
        return rc;
    for (size_t i = 0; i < names.n; i++) {
        segment_ctx s = {c, names.names[i]};
        int skipped = 0;
        rc = vlt_index_segment_read(c->v->be, c->v->keys, names.names[i],
                                    segment_entry, &s, &skipped);
        if (fatal(rc))
            break;
        if (rc != VAULT_OK) {
            char label[BACKEND_LABEL_MAX];
            vlt_backend_label(BACKEND_INDEX, names.names[i], label);
            emit_last(c, label, NULL);
        } else if (skipped) {
            c->segments_skipped++;
            c->r->skipped_objects++;
            c->r->skipped |= VAULT_CHECK_SKIPPED_EPOCHS;
        } else {
            c->r->index_segments++;
        }
        rc = VAULT_OK;
    }
    free(names.names);
    return rc;
}

/* --- 4: packs exist ----------------------------------------------------- */

static int u32_cmp(uint32_t a, uint32_t b)
{
    return a < b ? -1 : a > b;
}

/* By offset, then by every field, so that equal entries end up adjacent. */
static int entry_offset_cmp(const void *x, const void *y)
{
    const pack_entry *a = x, *b = y;
    int c = u32_cmp(a->offset, b->offset);
    if (!c)
        c = memcmp(a->id, b->id, CHUNK_ID_BYTES);
    if (!c)
        c = u32_cmp(a->length, b->length);
    if (!c)
        c = u32_cmp(a->raw_len, b->raw_len);
    if (!c)
        c = u32_cmp(a->type, b->type);
    if (!c)
        c = u32_cmp(a->flags, b->flags);
    return c;
}

static int entry_same(const pack_entry *a, const pack_entry *b)
{
    return memcmp(a->id, b->id, CHUNK_ID_BYTES) == 0 && a->type == b->type &&
           a->flags == b->flags && a->offset == b->offset &&
           a->length == b->length && a->raw_len == b->raw_len;
}

static vault_error check_pack_exists(checker *c, pack_rec *p)
{
    /* The same pack listed twice (by two segments) is one pack. */
    qsort(p->entries, p->n_entries, sizeof *p->entries, entry_offset_cmp);
    size_t k = 0;
    uint64_t end = PACK_HEADER_BYTES;
    int overlap = 0;
    for (size_t i = 0; i < p->n_entries; i++) {
        if (k && entry_same(&p->entries[i], &p->entries[k - 1]))
            continue;
        uint64_t e_end = (uint64_t)p->entries[i].offset + p->entries[i].length;
        if (p->entries[i].offset < end)
            overlap = 1;
        if (e_end > end)
            end = e_end;
        p->entries[k++] = p->entries[i];
    }
    p->n_entries = k;
    if (overlap) {
        p->whole = 1;
        pack_finding(p, "index segment %.16s lists blobs that overlap",
                     p->segment);
    }
    uint64_t size = 0;
    vault_error rc = backend_stat(c->v->be, BACKEND_DATA, p->name, &size);
    if (fatal(rc))
        return rc;
    if (rc == VAULT_E_NOT_FOUND) {
        p->whole = 1;
        p->key_state = 2;
        pack_finding(p, "missing (index segment %.16s lists %zu blob%s in it)",
                     p->segment, p->n_entries, p->n_entries == 1 ? "" : "s");
        return VAULT_OK;
    }
    if (rc != VAULT_OK) {
        p->whole = 1;
        p->key_state = 2;
        pack_finding(p, "%s", after_label(vault_last_error(), p->label));
        return VAULT_OK;
    }
    p->size = size;
    /* Blobs, then the trailer: nonce, count and an entry for each listed
     * blob at least, tag, and its length. */
    uint64_t least = end + AEAD_NONCE + 4 +
                     (uint64_t)p->n_entries * PACK_ENTRY_BYTES + AEAD_TAG + 4;
    if (size < least || size > PACK_MAX_BYTES) {
        p->whole = 1;
        p->key_state = 2;
        pack_finding(p,
                     "%llu bytes: %s for the %zu blobs the index lists in it "
                     "(needs at least %llu)",
                     (unsigned long long)size,
                     size > PACK_MAX_BYTES ? "over the limit" : "too short",
                     p->n_entries, (unsigned long long)least);
    }
    return VAULT_OK;
}

static int collect_stray(void *ctx, const char *name, uint64_t size)
{
    (void)size;
    checker *c = ctx;
    uint8_t id[32];
    uint32_t n;
    if (vlt_hex_decode(name, 64, id, 32) == VAULT_OK &&
        vlt_idset_find(&c->packset, id, &n))
        return 0;
    if (grow(&c->strays, &c->cap_strays, c->n_strays + 1) != VAULT_OK)
        return 1;
    stray *u = &c->strays[c->n_strays++];
    memset(u, 0, sizeof *u);
    memcpy(u->name, name, 65);
    return 0;
}

static int stray_cmp(const void *a, const void *b)
{
    return strcmp(((const stray *)a)->name, ((const stray *)b)->name);
}

/* Lists the packs that no segment lists. */
static vault_error list_strays(checker *c)
{
    int stopped = 0;
    vault_error rc =
        backend_list(c->v->be, BACKEND_DATA, collect_stray, c, &stopped);
    if (rc == VAULT_OK && stopped)
        rc = nomem();
    if (rc == VAULT_OK && c->n_strays)
        qsort(c->strays, c->n_strays, sizeof *c->strays, stray_cmp);
    return rc;
}

/* Reads the packs no segment lists when there is a reason to: with
 * read_data their names must match their content; and when snapshots
 * reference blobs no segment lists, a reader looks for them there (the
 * segment listing such a pack is lost or damaged).  found[node] is set
 * for each referenced blob found. */
static vault_error scan_strays(checker *c, int look, uint8_t *found)
{
    vault_error rc = VAULT_OK;
    look = look && c->can_read;
    for (size_t i = 0; i < c->n_strays && (look || c->o->read_data); i++) {
        stray *u = &c->strays[i];
        uint8_t *buf;
        size_t len;
        rc = backend_load(c->v->be, BACKEND_DATA, u->name, 0, 0,
                          PACK_MAX_BYTES, &buf, &len);
        if (fatal(rc))
            return rc;
        if (rc != VAULT_OK) {
            u->damaged = 1;
            snprintf(u->detail, sizeof u->detail, "%s", vault_last_error());
            continue;
        }
        if (c->o->read_data) {
            c->r->packs_read++;
            if (vlt_object_check_name(BACKEND_DATA, u->name, buf, len) !=
                VAULT_OK) {
                u->damaged = 1;
                snprintf(u->detail, sizeof u->detail,
                         "content does not match its name");
            }
        }
        pack_entry *es = NULL;
        size_t n = 0;
        if (look && !u->damaged)
            rc = vlt_pack_read_index(c->v->keys, buf, len, &es, &n);
        free(buf);
        if (fatal(rc))
            return rc;
        for (size_t j = 0; rc == VAULT_OK && j < n; j++) {
            uint32_t num;
            if (vlt_idset_find(&c->refs, es[j].id, &num) &&
                !vlt_index_find(&c->ix, es[j].id)) {
                u->holds++;
                found[num] = 1;
            }
        }
        free(es);
        rc = VAULT_OK;
    }
    return rc;
}

static void report_strays(checker *c)
{
    for (size_t i = 0; i < c->n_strays; i++) {
        const stray *u = &c->strays[i];
        char label[BACKEND_LABEL_MAX], what[600];
        vlt_backend_label(BACKEND_DATA, u->name, label);
        c->r->unindexed_packs++;
        const char *none = c->segments_skipped
                               ? "no index segment this member can read "
                                 "lists it"
                               : "no index segment lists it";
        if (u->damaged) {
            snprintf(what, sizeof what, "%s, and %s", none,
                     after_label(u->detail, label));
            emit(c, 0, label, what, NULL);
        } else if (u->holds) {
            snprintf(what, sizeof what,
                     "%s, yet it holds %llu blob%s that snapshots "
                     "reference (the segment listing it is lost or "
                     "damaged)",
                     none, (unsigned long long)u->holds,
                     u->holds == 1 ? "" : "s");
            emit(c, 1, label, what, NULL);
        } else {
            snprintf(what, sizeof what,
                     "%s (interrupted adds leave such packs behind)", none);
            emit(c, 1, label, what, NULL);
        }
    }
}

/* --- 5: snapshots and trees ----------------------------------------------- */

static vault_error node_get(checker *c, const uint8_t id[CHUNK_ID_BYTES],
                            uint8_t type, uint32_t *number, int *inserted)
{
    vault_error rc = vlt_idset_put(&c->refs, id, number, inserted);
    if (rc != VAULT_OK || !*inserted)
        return rc;
    rc = grow(&c->nodes, &c->cap_nodes, (size_t)*number + 1);
    if (rc != VAULT_OK)
        return rc;
    c->nodes[*number].type = type;
    c->nodes[*number].first_edge = NO_EDGE;
    return VAULT_OK;
}

static vault_error edge_add(checker *c, uint32_t n, uint32_t parent,
                            uint32_t name)
{
    /* A file naming the same chunk again adds the same edge again: its
     * edges for this file are the newest, so comparing the first will do. */
    uint32_t head = c->nodes[n].first_edge;
    if (head != NO_EDGE && c->edges[head].parent == parent &&
        c->edges[head].name == name)
        return VAULT_OK;
    if (c->n_edges >= NO_EDGE - 1)
        return nomem();
    vault_error rc = grow(&c->edges, &c->cap_edges, c->n_edges + 1);
    if (rc != VAULT_OK)
        return rc;
    c->edges[c->n_edges] = (edge){parent, name, head};
    c->nodes[n].first_edge = (uint32_t)c->n_edges++;
    return VAULT_OK;
}

static vault_error name_put(checker *c, const char *name, uint32_t *offset)
{
    size_t n = strlen(name) + 1;
    if (c->names_len + n > UINT32_MAX)
        return nomem();
    vault_error rc = grow(&c->names, &c->names_cap, c->names_len + n);
    if (rc != VAULT_OK)
        return rc;
    memcpy(c->names + c->names_len, name, n);
    *offset = (uint32_t)c->names_len;
    c->names_len += n;
    return VAULT_OK;
}

static vault_error root_add(checker *c, const uint8_t id[CHUNK_ID_BYTES])
{
    vault_error rc = grow(&c->roots, &c->cap_roots, c->n_roots + 1);
    if (rc == VAULT_OK)
        memcpy(c->roots[c->n_roots++], id, CHUNK_ID_BYTES);
    return rc;
}

/* The pack's key, after its header and trailer are verified as a read of
 * the pack does; a failure is a finding for the whole pack.  When only
 * the trailer fails, reads of the pack fail all the same, but its trees
 * (each blob authenticates on its own) still tell which files that
 * affects: the key is handed out for that. */
static vault_error pack_key(checker *c, pack_rec *p, const uint8_t **key)
{
    size_t i = (size_t)(p - c->packs);
    if (p->key_state == 1 || p->key_state == 3) {
        *key = c->keys[i];
        return VAULT_OK;
    }
    if (p->key_state == 2)
        return VAULT_E_CORRUPT;
    p->key_state = 2;
    backend *be = c->v->be;
    uint8_t *header = NULL, *tail = NULL, *trailer = NULL;
    size_t len;
    vault_error rc = backend_load(be, BACKEND_DATA, p->name, 0,
                                  PACK_HEADER_BYTES, PACK_HEADER_BYTES,
                                  &header, &len);
    if (rc == VAULT_OK)
        rc = vlt_pack_key_from_header(c->v->keys, header, len, c->keys[i]);
    int have_key = rc == VAULT_OK;
    if (rc == VAULT_OK)
        rc = backend_load(be, BACKEND_DATA, p->name, p->size - 4, 4, 4, &tail,
                          &len);
    if (rc == VAULT_OK) {
        uint32_t n = load_le32(tail);
        if (n > p->size - 4 - PACK_HEADER_BYTES)
            rc = vlt_fail(VAULT_E_CORRUPT, "pack: bad trailer length");
        else
            rc = backend_load(be, BACKEND_DATA, p->name, p->size - 4 - n, n,
                              n, &trailer, &len);
    }
    if (rc == VAULT_OK)
        rc = vlt_pack_check_trailer(c->keys[i], header, trailer, len);
    free(header);
    free(tail);
    free(trailer);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        p->whole = 1;
        pack_finding(p, "%s", after_label(vault_last_error(), p->label));
        if (!have_key)
            return VAULT_E_CORRUPT;
    }
    p->key_state = rc == VAULT_OK ? 1 : 3;
    *key = c->keys[i];
    return VAULT_OK;
}

/* Loads tree id for the walk as a read of it would, through this check's
 * own index.  A tree that cannot be read is a finding of its pack (or, if
 * no segment lists it, of the index: step 6), recorded here: the walk
 * then goes on without it (walk_damaged). */
static vault_error walk_load(void *ctx, const uint8_t id[CHUNK_ID_BYTES],
                             tree *t)
{
    checker *c = ctx;
    const index_slot *s = vlt_index_find(&c->ix, id);
    if (!s)
        return VAULT_E_NOT_FOUND;
    pack_entry e;
    vlt_index_slot_entry(&c->ix, s, &e);
    if (e.type != BLOB_TREE)
        return VAULT_E_NOT_FOUND;
    pack_rec *p = pack_of_slot(c, s);
    const uint8_t *key;
    vault_error rc = pack_key(c, p, &key);
    if (rc != VAULT_OK)
        return rc;
    uint8_t *blob = NULL, *plain = NULL;
    size_t len;
    rc = backend_load(c->v->be, BACKEND_DATA, p->name, e.offset, e.length,
                      e.length, &blob, &len);
    if (rc == VAULT_OK)
        rc = vlt_blob_open(c->v->keys, key, &e, blob, len, NULL, &plain);
    free(blob);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        rc = blob_finding(p, id, "blob",
                          after_label(vault_last_error(), p->label));
        return rc != VAULT_OK ? rc : VAULT_E_CORRUPT;
    }
    rc = vlt_tree_decode(plain, e.raw_len, t);
    free(plain);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        rc = blob_finding(p, id, "tree", vault_last_error());
        return rc != VAULT_OK ? rc : VAULT_E_CORRUPT;
    }
    return VAULT_OK;
}

/* walk_load has recorded the finding; only running out stops. */
static vault_error walk_damaged(void *ctx, const vlt_tree_walk_at *at,
                                vault_error rc)
{
    (void)ctx;
    (void)at;
    return fatal(rc) ? rc : VAULT_OK;
}

static vault_error walk_enter(void *ctx, const vlt_tree_walk_at *at, tree *t,
                              void **dir_state)
{
    (void)t;
    (void)dir_state;
    checker *c = ctx;
    int found = vlt_idset_find(&c->refs, at->id, &c->walk_tree);
    assert(found); /* every tree walked was a node first */
    (void)found;
    c->r->trees++;
    return VAULT_OK;
}

/* Adds edges from the tree being walked to what its entry names; its
 * subtree is walked the first time it is named. */
static vault_error walk_node(void *ctx, const vlt_tree_walk_at *at,
                             const tree_node *tn, vlt_tree_walk_action *action)
{
    (void)at;
    checker *c = ctx;
    uint32_t n = c->walk_tree;
    *action = VLT_TREE_WALK_SKIP;
    if (tn->type != NODE_DIR && (tn->type != NODE_FILE || !tn->n_content))
        return VAULT_OK;
    uint32_t name = 0, child = 0;
    int inserted;
    vault_error rc = name_put(c, tn->name, &name);
    if (rc == VAULT_OK && tn->type == NODE_DIR) {
        rc = node_get(c, tn->subtree, BLOB_TREE, &child, &inserted);
        if (rc == VAULT_OK)
            rc = edge_add(c, child, n, name);
        if (rc == VAULT_OK && inserted)
            *action = VLT_TREE_WALK_CONTINUE;
    }
    for (uint32_t j = 0; rc == VAULT_OK && tn->type == NODE_FILE &&
                         j < tn->n_content;
         j++) {
        rc = node_get(c, tn->content[j], BLOB_DATA, &child, &inserted);
        if (rc == VAULT_OK)
            rc = edge_add(c, child, n, name);
    }
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static vault_error check_snapshots(checker *c)
{
    name_list names;
    vault_error rc = vlt_backend_list_names(c->v->be, BACKEND_SNAPSHOTS, &names);
    if (rc != VAULT_OK)
        return rc;
    qsort(names.names, names.n, sizeof *names.names, name_cmp);
    c->snaps = calloc(names.n ? names.n : 1, sizeof *c->snaps);
    if (!c->snaps) {
        free(names.names);
        return nomem();
    }
    c->n_snaps = names.n;
    for (size_t i = 0; i < names.n; i++) {
        memcpy(c->snaps[i], names.names[i], 8);
        c->snaps[i][8] = '\0';
    }
    for (size_t i = 0; i < names.n && rc == VAULT_OK; i++) {
        const char *name = names.names[i];
        snapshot_record rec;
        memset(&rec, 0, sizeof rec);
        /* A writer cannot open a snapshot; it checks the name and the
         * header. */
        rc = c->can_read
                 ? vlt_repo_snapshot_load(c->v, name, &rec)
                 : vlt_snapshot_check_sealed(c->v->be, c->v->keys, name);
        if (rc == VAULT_E_PERMISSION) {
            c->r->skipped_objects++;
            c->r->skipped |= VAULT_CHECK_SKIPPED_EPOCHS;
            rc = VAULT_OK;
            continue;
        }
        if (fatal(rc))
            break;
        if (rc != VAULT_OK) {
            char label[BACKEND_LABEL_MAX];
            vlt_backend_label(BACKEND_SNAPSHOTS, name, label);
            affects a = {0};
            rc = affects_add(&a, c->snaps[i], NULL, 0, 1);
            if (rc == VAULT_OK)
                emit_last(c, label, &a);
            affects_free(&a);
            continue;
        }
        c->r->snapshots++;
        if (c->can_read) {
            uint32_t n;
            int inserted;
            rc = node_get(c, rec.tree, BLOB_TREE, &n, &inserted);
            if (rc == VAULT_OK)
                rc = edge_add(c, n, ROOT_PARENT, (uint32_t)i);
            if (rc == VAULT_OK && inserted)
                rc = root_add(c, rec.tree);
            vlt_snapshot_clear(&rec);
        }
    }
    free(names.names);
    /* Breadth first, each tree once (walk_node descends into a tree only
     * when it is new): no recursion for a hostile depth. */
    vlt_tree_walk walk = {.ctx = c, .load = walk_load, .enter = walk_enter,
                          .node = walk_node, .damaged = walk_damaged};
    if (rc == VAULT_OK)
        rc = vlt_tree_walk_once(&walk, c->roots, c->n_roots);
    return rc;
}

/* --- 6: everything referenced is indexed --------------------------------- */

static vault_error check_references(checker *c)
{
    affects missing = {0};
    char what[512] = "";
    size_t n_missing = 0, n_found = 0, used = 0;
    uint8_t *found = calloc(c->refs.n ? c->refs.n : 1, 1);
    if (!found)
        return nomem();
    for (size_t n = 0; n < c->refs.n; n++)
        if (!vlt_index_find(&c->ix, vlt_idset_id(&c->refs, n)))
            n_missing++;
    vault_error rc = scan_strays(c, n_missing > 0, found);
    n_missing = 0;
    for (size_t n = 0; n < c->refs.n && rc == VAULT_OK; n++) {
        const uint8_t *id = vlt_idset_id(&c->refs, n);
        const char *kind = c->nodes[n].type == BLOB_TREE ? "tree" : "data";
        char hex[65];
        vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
        const index_slot *s = vlt_index_find(&c->ix, id);
        if (!s) {
            n_found += found[n];
            if (n_missing++ < MISSING_LISTED)
                used += (size_t)snprintf(what + used, sizeof what - used,
                                         "%s%s %.16s", used ? ", " : "",
                                         kind, hex);
            const char *comps[AFFECTS_DEPTH];
            rc = affects_node(c, &missing, (uint32_t)n, comps, 0);
            continue;
        }
        pack_entry e;
        vlt_index_slot_entry(&c->ix, s, &e);
        if (e.type != c->nodes[n].type) {
            char msg[200];
            snprintf(msg, sizeof msg,
                     "blob %.16s is indexed as %s but referenced as %s",
                     hex, e.type == BLOB_TREE ? "a tree" : "data",
                     c->nodes[n].type == BLOB_TREE ? "a tree" : "data");
            affects a = {0};
            const char *comps[AFFECTS_DEPTH];
            rc = affects_node(c, &a, (uint32_t)n, comps, 0);
            if (rc == VAULT_OK)
                emit(c, 0, "index", msg, &a);
            affects_free(&a);
        }
    }
    if (rc == VAULT_OK && n_missing) {
        char msg[800], also[160] = "";
        if (n_found)
            snprintf(also, sizeof also,
                     "; %zu of them %s in packs that no segment lists",
                     n_found, n_found == 1 ? "is" : "are");
        snprintf(msg, sizeof msg,
                 "%zu referenced blob%s in no index segment (%s%s)%s",
                 n_missing, n_missing == 1 ? " is" : "s are", what,
                 n_missing > MISSING_LISTED ? ", ..." : "", also);
        emit(c, 0, "index", msg, &missing);
    }
    affects_free(&missing);
    free(found);
    return rc;
}

/* --- 7: reading packs ------------------------------------------------------ */

static int entry_at_cmp(const void *key, const void *elem)
{
    uint32_t offset = *(const uint32_t *)key;
    const pack_entry *e = elem;
    return offset < e->offset ? -1 : offset > e->offset;
}

/* Decrypts and verifies every blob of a whole pack (readers). */
static vault_error read_blobs(checker *c, pack_rec *p, const uint8_t *buf,
                              size_t len, int *found)
{
    pack_entry *es = NULL;
    size_t n = 0;
    vault_error rc = vlt_pack_read_index(c->v->keys, buf, len, &es, &n);
    if (rc == VAULT_E_PERMISSION)
        return rc; /* sealed in an epoch this member does not hold */
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        (*found)++;
        p->whole = 1;
        pack_finding(p, "%s", vault_last_error());
        return VAULT_OK;
    }
    uint8_t key[SECRET_BYTES];
    rc = vlt_pack_key_from_header(c->v->keys, buf, len, key);
    qsort(es, n, sizeof *es, entry_offset_cmp);
    /* The segments' entries must be the pack's own. */
    for (size_t i = 0; rc == VAULT_OK && i < p->n_entries; i++) {
        const pack_entry *want = &p->entries[i];
        const pack_entry *got =
            bsearch(&want->offset, es, n, sizeof *es, entry_at_cmp);
        if (!got || !entry_same(got, want)) {
            (*found)++;
            rc = blob_finding(p, want->id, "blob",
                              "the index places it where the pack's own "
                              "index does not");
        }
    }
    ZSTD_DCtx *dctx = ZSTD_createDCtx(); /* NULL: vlt_blob_open makes them */
    for (size_t i = 0; rc == VAULT_OK && i < n; i++) {
        uint8_t *plain = NULL;
        rc = vlt_blob_open(c->v->keys, key, &es[i], buf + es[i].offset,
                           es[i].length, dctx, &plain);
        free(plain);
        if (fatal(rc))
            break;
        if (rc != VAULT_OK) {
            (*found)++;
            rc = blob_finding(p, es[i].id, "blob", vault_last_error());
        } else {
            c->r->blobs_read++;
        }
    }
    ZSTD_freeDCtx(dctx);
    sodium_memzero(key, sizeof key);
    free(es);
    return rc;
}

static vault_error read_pack(checker *c, pack_rec *p)
{
    if (p->key_state == 2 && p->whole && p->size == 0)
        return VAULT_OK; /* missing: said so already */
    uint8_t *buf;
    size_t len;
    vault_error rc = backend_load(c->v->be, BACKEND_DATA, p->name, 0, 0,
                                  PACK_MAX_BYTES, &buf, &len);
    if (fatal(rc))
        return rc;
    if (rc != VAULT_OK) {
        p->whole = 1;
        pack_finding(p, "%s", after_label(vault_last_error(), p->label));
        return VAULT_OK;
    }
    c->r->packs_read++;
    char actual[65];
    vlt_object_name(buf, len, actual);
    int hash_bad = strcmp(actual, p->name) != 0;
    if (hash_bad)
        pack_finding(p, "content does not match its name");
    int found = 0, opened = 0;
    if (c->can_read) {
        rc = read_blobs(c, p, buf, len, &found);
        if (rc == VAULT_E_PERMISSION) {
            c->r->skipped_objects++;
            c->r->skipped |= VAULT_CHECK_SKIPPED_EPOCHS;
            rc = VAULT_OK;
        } else {
            opened = 1;
        }
    }
    /* Damage no finer check pins down makes the whole pack suspect. */
    if (hash_bad && (!opened || !found))
        p->whole = 1;
    free(buf);
    return rc;
}

static int pick_cmp(const void *x, const void *y)
{
    const uint64_t *a = x, *b = y;
    return a[0] < b[0] ? -1 : a[0] > b[0];
}

static vault_error read_packs(checker *c)
{
    size_t n = c->n_packs;
    if (!n)
        return VAULT_OK;
    if (c->o->read_data) {
        for (size_t i = 0; i < n; i++) {
            vault_error rc = read_pack(c, &c->packs[i]);
            if (rc != VAULT_OK)
                return rc;
        }
        return VAULT_OK;
    }
    /* A subset: the packs ordered by a keyed hash of their IDs. */
    double want = (double)n * c->o->read_data_percent / 100.0;
    size_t k = (size_t)want;
    if ((double)k < want)
        k++;
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    uint64_t(*order)[2] = calloc(n, sizeof *order);
    if (!order)
        return nomem();
    uint8_t seed[crypto_generichash_KEYBYTES] = {0};
    store_le64(seed, c->r->seed);
    for (size_t i = 0; i < n; i++) {
        uint8_t h[8];
        crypto_generichash(h, sizeof h, c->packs[i].id, 32, seed,
                           sizeof seed);
        order[i][0] = load_le64(h);
        order[i][1] = i;
    }
    qsort(order, n, sizeof *order, pick_cmp);
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < k && rc == VAULT_OK; i++)
        rc = read_pack(c, &c->packs[order[i][1]]);
    free(order);
    return rc;
}

/* --- reporting packs ---------------------------------------------------- */

static int pack_name_cmp(const void *a, const void *b)
{
    const pack_rec *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static vault_error report_packs(checker *c)
{
    /* By name, so that reports come out in a stable order. */
    pack_rec **order = malloc((c->n_packs ? c->n_packs : 1) * sizeof *order);
    if (!order)
        return nomem();
    for (size_t i = 0; i < c->n_packs; i++)
        order[i] = &c->packs[i];
    qsort(order, c->n_packs, sizeof *order, pack_name_cmp);
    vault_error rc = VAULT_OK;
    for (size_t i = 0; i < c->n_packs && rc == VAULT_OK; i++) {
        pack_rec *p = order[i];
        if (!p->n_findings)
            continue;
        affects a = {0};
        if (p->whole) {
            for (size_t j = 0; j < p->n_entries && rc == VAULT_OK; j++)
                if (read_from(c, p, p->entries[j].id))
                    rc = affects_id(c, &a, p->entries[j].id);
        } else {
            for (size_t j = 0; j < p->n_bad && rc == VAULT_OK; j++)
                if (read_from(c, p, p->bad[j]))
                    rc = affects_id(c, &a, p->bad[j]);
        }
        if (rc == VAULT_OK) {
            char what[WHAT_MAX + 64];
            snprintf(what, sizeof what, "%s", p->what);
            if (p->dropped)
                snprintf(what + strlen(what), sizeof what - strlen(what),
                         "; and %zu more", p->dropped);
            emit(c, 0, p->label, what, &a);
        }
        affects_free(&a);
    }
    free(order);
    return rc;
}

/* --- the whole check ------------------------------------------------------ */

static void checker_free(checker *c)
{
    vlt_index_free(&c->ix);
    vlt_idset_free(&c->packset);
    vlt_idset_free(&c->refs);
    for (size_t i = 0; i < c->n_packs; i++) {
        free(c->packs[i].entries);
        free(c->packs[i].bad);
    }
    free(c->packs);
    if (c->keys)
        sodium_free(c->keys);
    free(c->nodes);
    free(c->edges);
    free(c->names);
    free(c->snaps);
    free(c->roots);
    free(c->strays);
}

static void describe_skipped(checker *c)
{
    vault_check_result *r = c->r;
    size_t used = 0;
    if (!c->can_read) {
        r->skipped |= VAULT_CHECK_SKIPPED_SNAPSHOTS |
                      VAULT_CHECK_SKIPPED_TREES | VAULT_CHECK_SKIPPED_BLOBS;
        used += (size_t)snprintf(r->skipped_text, sizeof r->skipped_text,
                                 "snapshot contents, trees and blob "
                                 "decryption (a writer holds no read key)");
    }
    if (r->skipped_objects && used < sizeof r->skipped_text)
        snprintf(r->skipped_text + used, sizeof r->skipped_text - used,
                 "%s%llu object%s sealed in key epochs this member does "
                 "not hold",
                 used ? "; " : "", (unsigned long long)r->skipped_objects,
                 r->skipped_objects == 1 ? "" : "s");
}

vault_error vault_check(vault_t *v, const vault_check_options *options,
                        vault_check_result *result)
{
    vault_check_options no_options;
    vault_check_result scratch;
    if (!v)
        return vlt_fail(VAULT_E_INVALID, "check: no vault");
    if (!options) {
        memset(&no_options, 0, sizeof no_options);
        options = &no_options;
    }
    if (!result)
        result = &scratch;
    memset(result, 0, sizeof *result);
    if (!(options->read_data_percent >= 0 &&
          options->read_data_percent <= 100))
        return vlt_fail(VAULT_E_INVALID,
                        "check: the share of packs to read must be "
                        "within 0..100%%");
    checker c;
    memset(&c, 0, sizeof c);
    c.v = v;
    c.o = options;
    c.r = result;
    c.can_read = vlt_keyring_can_read(v->keys);
    vlt_index_init(&c.ix);
    result->seed = options->seed;
    while (!result->seed)
        randombytes_buf(&result->seed, sizeof result->seed);

    vault_error rc = check_config(&c);
    if (rc == VAULT_OK)
        rc = check_envelopes(&c);
    if (rc == VAULT_OK)
        rc = check_index(&c);
    for (size_t i = 0; rc == VAULT_OK && i < c.n_packs; i++)
        rc = check_pack_exists(&c, &c.packs[i]);
    if (rc == VAULT_OK && c.n_packs &&
        !(c.keys = sodium_allocarray(c.n_packs, SECRET_BYTES)))
        rc = nomem();
    result->packs = c.n_packs;
    result->blobs = c.ix.n_slots;
    if (rc == VAULT_OK)
        rc = list_strays(&c);
    if (rc == VAULT_OK)
        rc = check_snapshots(&c);
    if (rc == VAULT_OK)
        rc = check_references(&c);
    if (rc == VAULT_OK &&
        (options->read_data || options->read_data_percent > 0))
        rc = read_packs(&c);
    if (rc == VAULT_OK)
        rc = report_packs(&c);
    if (rc == VAULT_OK)
        report_strays(&c);
    describe_skipped(&c);
    checker_free(&c);
    if (rc != VAULT_OK)
        return rc;
    if (result->problems)
        return vlt_fail(VAULT_E_CORRUPT, "%s: check found %llu problem%s",
                        v->location, (unsigned long long)result->problems,
                        result->problems == 1 ? "" : "s");
    return VAULT_OK;
}
