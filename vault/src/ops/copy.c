/*
 * copy.c - `copy`: snapshots from one vault into another (a local vault
 * and a remote one, for 3-2-1 backups).
 *
 * Chunk IDs are keyed per vault (format.md §11), so src's blobs cannot be
 * copied by ID, and trees name chunk IDs, so they cannot be copied either:
 * each snapshot is added to dst again, from src's content, through add's
 * pipeline with a source that walks the snapshot (ops/add/
 * source_snapshot.c).  dst's add chunks it with dst's chunker, so what
 * dst has already deduplicates, and seals it with dst's keys.  The new
 * snapshot keeps the original's time, hostname, username, paths and
 * tags; its author is the member that copies.  So that a snapshot
 * another member wrote does not become, by being copied, one whose
 * set-id bits, capabilities and devices extraction restores (format.md
 * §16.2), its copy leaves those out (§12.2; add_source.h).
 *
 * Already copied?  The snapshot record has no place for the original's
 * ID (its decoders refuse trailing bytes: format-spec/trees.md §3.2 S4),
 * so a copy is recognised by what it keeps: a dst snapshot with the same
 * time to the nanosecond, hostname, username, paths and tags whose tree
 * is the same apart from chunk IDs (every entry's name, type and
 * metadata, file sizes included: a digest of the trees with their IDs
 * blanked).  Content is not compared byte by byte - that costs a full
 * read of both - and only dst snapshots of this member or a current owner
 * count, so no other member can make a copy skip what it should copy.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "common/internal.h"
#include "ops/add/add_source.h"
#include "repo/repo.h"
#include "repo/tree_walk.h"

/* --- what a snapshot holds, apart from its chunk IDs --------------------- */

typedef struct digest {
    crypto_generichash_state h;
    int withhold; /* as the copy of another member's snapshot does */
} digest;

/* Hashes every directory's path and its tree's encoding with the chunk
 * IDs blanked (the same in any vault), and with the privileges a copy
 * withholds taken out when it would. */
static vault_error digest_enter(void *ctx, const vlt_tree_walk_at *at,
                                tree *t, void **dir_state)
{
    (void)dir_state;
    digest *d = ctx;
    tree blank = {0};
    blank.nodes = calloc(t->n_nodes ? t->n_nodes : 1, sizeof *blank.nodes);
    /* the xattrs kept when one is withheld: shallow, like the nodes */
    node_xattr *kept = NULL;
    size_t n_kept = 0;
    for (uint32_t i = 0; i < t->n_nodes && d->withhold; i++)
        n_kept += t->nodes[i].n_xattrs;
    kept = calloc(n_kept ? n_kept : 1, sizeof *kept);
    if (!blank.nodes || !kept) {
        free(blank.nodes);
        free(kept);
        return vlt_fail(VAULT_E_NOMEM, "out of memory");
    }
    n_kept = 0;
    for (uint32_t i = 0; i < t->n_nodes; i++) {
        const tree_node *n = &t->nodes[i];
        if (d->withhold && vlt_copy_withholds_node(n))
            continue;
        tree_node *b = &blank.nodes[blank.n_nodes++];
        *b = *n; /* shallow: encode only reads */
        b->content = NULL;
        b->n_content = 0;
        memset(b->subtree, 0, CHUNK_ID_BYTES);
        if (!d->withhold)
            continue;
        b->mode = vlt_copy_withheld_mode(n);
        b->xattrs = kept + n_kept;
        b->n_xattrs = 0;
        for (uint32_t j = 0; j < n->n_xattrs; j++)
            if (!vlt_copy_withholds_xattr(&n->xattrs[j]))
                b->xattrs[b->n_xattrs++] = n->xattrs[j];
        n_kept += b->n_xattrs;
    }
    uint8_t *bytes = NULL;
    size_t len = 0;
    vault_error rc = vlt_tree_encode(&blank, &bytes, &len);
    free(blank.nodes);
    free(kept);
    if (rc != VAULT_OK)
        return rc;
    uint64_t path_len = strlen(at->path);
    crypto_generichash_update(&d->h, (const uint8_t *)&path_len,
                              sizeof path_len);
    crypto_generichash_update(&d->h, (const uint8_t *)at->path, path_len);
    crypto_generichash_update(&d->h, (const uint8_t *)&len, sizeof len);
    crypto_generichash_update(&d->h, bytes, len);
    free(bytes);
    return VAULT_OK;
}

static vault_error digest_node(void *ctx, const vlt_tree_walk_at *at,
                               const tree_node *n,
                               vlt_tree_walk_action *action)
{
    (void)ctx;
    (void)at;
    (void)n;
    (void)action; /* every directory is descended into */
    return VAULT_OK;
}

static vault_error tree_digest(vault_t *v, const uint8_t root[CHUNK_ID_BYTES],
                               int withhold, uint8_t out[32])
{
    digest d = {.withhold = withhold};
    crypto_generichash_init(&d.h, NULL, 0, 32);
    vlt_tree_walk w = {.v = v, .ctx = &d, .enter = digest_enter,
                       .node = digest_node};
    vault_error rc = vlt_tree_walk_paths(&w, root, "");
    crypto_generichash_final(&d.h, out, 32);
    return rc;
}

/* --- which snapshots ------------------------------------------------------ */

typedef struct selection {
    char (*ids)[65];
    size_t n;
} selection;

static int selected(const selection *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->ids[i], id) == 0)
            return 1;
    return 0;
}

/* The snapshots named (each once), or all readable ones, oldest first. */
static vault_error select_snapshots(vault_t *src, const char *const *refs,
                                    size_t n, selection *out)
{
    vault_snapshot_info *list = NULL;
    size_t count = 0;
    vault_error rc = VAULT_OK;
    if (n == 0)
        rc = vault_snapshots(src, &list, &count);
    size_t cap = n ? n : count;
    out->ids = calloc(cap ? cap : 1, sizeof *out->ids);
    if (rc == VAULT_OK && !out->ids)
        rc = vlt_fail(VAULT_E_NOMEM, "out of memory");
    for (size_t i = 0; rc == VAULT_OK && i < n; i++) {
        char id[65];
        rc = vault_snapshot_resolve(src, refs[i], id);
        if (rc == VAULT_OK && !selected(out, id))
            memcpy(out->ids[out->n++], id, 65);
    }
    for (size_t i = 0; rc == VAULT_OK && i < count; i++) {
        if (list[i].readable)
            memcpy(out->ids[out->n++], list[i].id, 65);
        else
            vlt_warn("%s: snapshot %.16s is not copied: %s", src->location,
                     list[i].id,
                     list[i].damage ? list[i].damage
                                    : "sealed in a key epoch this member "
                                      "does not hold");
    }
    vault_snapshots_free(list, count);
    return rc;
}

/* --- already in dst? ------------------------------------------------------ */

static int strv_equal(char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

/* Whether dst snapshot d may be a copy of rec: the same record fields,
 * by this member or a current owner. */
static int same_record(const snapshot_record *rec,
                       const vault_snapshot_info *d)
{
    return d->readable && (d->author_is_me || d->author_role ==
                                                  VAULT_ROLE_OWNER) &&
           d->time_sec == rec->time_sec && d->time_nsec == rec->time_nsec &&
           strcmp(d->hostname, rec->hostname ? rec->hostname : "") == 0 &&
           strcmp(d->username, rec->username ? rec->username : "") == 0 &&
           strv_equal(d->paths, d->n_paths, rec->paths, rec->n_paths) &&
           strv_equal(d->tags, d->n_tags, rec->tags, rec->n_tags);
}

/* *found: dst holds a copy of src's snapshot rec already. */
static vault_error already_copied(vault_t *src, vault_t *dst,
                                  const snapshot_record *rec, int withhold,
                                  const vault_snapshot_info *list, size_t n,
                                  int *found)
{
    *found = 0;
    uint8_t want[32];
    int have_want = 0;
    for (size_t i = 0; i < n && !*found; i++) {
        if (!same_record(rec, &list[i]))
            continue;
        vault_error rc = VAULT_OK;
        if (!have_want) {
            rc = tree_digest(src, rec->tree, withhold, want);
            if (rc != VAULT_OK)
                return rc;
            have_want = 1;
        }
        snapshot_record other = {0};
        rc = vlt_repo_load_index(dst);
        if (rc != VAULT_OK)
            return rc;
        rc = vlt_repo_snapshot_load(dst, list[i].id, &other);
        uint8_t got[32];
        if (rc == VAULT_OK)
            rc = tree_digest(dst, other.tree, 0, got);
        vlt_snapshot_clear(&other);
        if (rc != VAULT_OK) /* a damaged candidate is no copy */
            vlt_warn("%s: snapshot %.16s: %s", dst->location, list[i].id,
                     vault_last_error());
        else
            *found = memcmp(want, got, 32) == 0;
    }
    return VAULT_OK;
}

/* --- one snapshot --------------------------------------------------------- */

/* add's source: the snapshot source opened before (its top-level count
 * is needed for the options). */
static vault_error hand_source(void *ctx, const vault_add_options *o,
                               filecache *cache, add_report_fn report,
                               void *report_ctx, add_source *out)
{
    (void)o;
    (void)cache;
    (void)report;
    (void)report_ctx;
    *out = *(const add_source *)ctx;
    return VAULT_OK;
}

static void keep_source(add_source *src)
{
    (void)src; /* copy_one closes it */
}

static vault_error copy_one(vault_t *src, vault_t *dst,
                            const snapshot_record *rec, int withhold,
                            uint64_t *withheld, vault_add_result *r)
{
    add_source source;
    size_t n_top = 0;
    vault_error rc = vlt_add_source_snapshot_open(
        src, rec->tree, withhold, withheld, &n_top, &source);
    if (rc == VAULT_OK) {
        vault_add_options o;
        vault_add_options_init(&o);
        o.n_paths = n_top;
        o.cache_dir = ""; /* the files cache knows files, not snapshots */
        add_origin origin = {.open = hand_source, .close = keep_source,
                             .ctx = &source, .as = rec};
        rc = vlt_add_run(dst, &o, &origin, r);
        if (rc == VAULT_OK && r->errors)
            rc = vlt_fail(VAULT_E_INTERNAL, "copy: %llu items reported",
                          (unsigned long long)r->errors);
    }
    vlt_add_source_snapshot_close(&source);
    return rc;
}

/* --- vault_copy ----------------------------------------------------------- */

static vault_error copy_run(vault_t *src, vault_t *dst,
                           const char *const *snapshots, size_t n,
                           vault_copy_result *r)
{
    if (r)
        memset(r, 0, sizeof *r);
    if (!src || !dst || !r || (n && !snapshots))
        return vlt_fail(VAULT_E_INVALID, "copy: missing argument");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char fp_src[VAULT_FINGERPRINT_CHARS + 1], fp_dst[VAULT_FINGERPRINT_CHARS + 1];
    vault_fingerprint(src, fp_src);
    vault_fingerprint(dst, fp_dst);
    if (strcmp(fp_src, fp_dst) == 0)
        return vlt_fail(VAULT_E_INVALID,
                        "copy: %s and %s are the same vault (fingerprint "
                        "%.16s)",
                        src->location, dst->location, fp_src);
    if (!vlt_keyring_can_read(src->keys))
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: member %s has the writer role there: it can "
                        "add snapshots but not read them, so it cannot "
                        "copy them out",
                        src->location, src->member);
    selection sel = {0};
    vault_error rc = select_snapshots(src, snapshots, n, &sel);
    if (rc == VAULT_OK)
        rc = vlt_repo_load_index(src);
    /* dst's snapshots, to skip what was copied before (a writer of dst
     * cannot read them: it copies everything) */
    vault_snapshot_info *have = NULL;
    size_t n_have = 0;
    if (rc == VAULT_OK && vlt_keyring_can_read(dst->keys))
        rc = vault_snapshots(dst, &have, &n_have);
    for (size_t i = 0; rc == VAULT_OK && i < sel.n; i++) {
        snapshot_record rec = {0};
        rc = vlt_repo_snapshot_load(src, sel.ids[i], &rec);
        /* the files of each snapshot as it comes: the adds count them */
        vlt_progress_total(&dst->progress, rc == VAULT_OK ? rec.files : 0, 0,
                           i + 1 == sel.n);
        int found = 0;
        /* another member's snapshot becomes the copier's: it keeps the
         * privileges extraction would withhold from it (§16.2) out */
        int withhold = rc == VAULT_OK &&
                       memcmp(rec.author, src->keys->sign_pk,
                              SIGN_PUBLIC_BYTES) != 0;
        if (rc == VAULT_OK)
            rc = already_copied(src, dst, &rec, withhold, have, n_have,
                                &found);
        if (rc == VAULT_OK && found) {
            r->snapshots_skipped++;
        } else if (rc == VAULT_OK) {
            vault_add_result ar;
            rc = copy_one(src, dst, &rec, withhold, &r->withheld, &ar);
            if (rc == VAULT_OK) {
                r->snapshots_copied++;
                r->files += ar.files;
                r->bytes_read += ar.bytes_read;
                r->bytes_added += ar.bytes_added;
            } else {
                rc = vlt_fail_context(rc, "copy of snapshot %.16s",
                                      sel.ids[i]);
            }
        }
        vlt_snapshot_clear(&rec);
    }
    vault_snapshots_free(have, n_have);
    free(sel.ids);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                 (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return rc;
}

vault_error vault_copy(vault_t *src, vault_t *dst,
                       const char *const *snapshots, size_t n,
                       vault_copy_result *r)
{
    if (!dst)
        return copy_run(src, dst, snapshots, n, r);
    vlt_progress_begin(&dst->progress, "copy", "files");
    vault_error rc = copy_run(src, dst, snapshots, n, r);
    vlt_progress_end(&dst->progress);
    return rc;
}
