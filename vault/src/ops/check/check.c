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
 *      read every tree reachable from the roots, each once, and note
 *      every tree and chunk referenced (a byte per index slot);
 *   6. every referenced tree and chunk is in the index with its type;
 *   7. with read_data (or a random subset of packs): each pack is read
 *      whole, its SHA-256 must be its name and, for readers, its trailer
 *      must authenticate, its own index must agree with the segments and
 *      every blob must decrypt and match its chunk ID.
 *
 * Problems that affect files (packs, references) are collected until the
 * end: one more walk of the snapshots, depth first with paths, then names
 * the files each affects, walking trees with nothing affected below them
 * once.  No graph of the trees is kept, so check's memory does not grow
 * with the files in the snapshots.  Each pack is reported once, with
 * everything found in it and everything it affects: all files with a
 * blob in it when the pack as a whole is unusable
 * (missing, too short, header or trailer damaged), else those with a blob
 * that failed.  A blob stored twice (concurrent adds, or a hostile
 * member's claim) is read from its first copy that works, as reads fall
 * back: a copy that fails is reported with its pack, and affects files
 * only when every copy fails.  Segments, snapshots and locks whose author
 * is not a member are reported as forged.
 *
 * This file runs the steps and reports; check_structure.c holds steps
 * 1-4, check_snapshots.c steps 5-6, check_data.c step 7, and
 * check_internal.h the state they share.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ops/check/check_internal.h"

/* The detail without a leading "label: ", which the problem names. */
const char *vlt_check_after_label(const char *detail, const char *label)
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

void vlt_check_affects_free(affects *a)
{
    for (size_t i = 0; i < a->n; i++)
        free((char *)(uintptr_t)a->refs[i].path);
    free(a->refs);
    memset(a, 0, sizeof *a);
}

vault_error vlt_check_affects_add(affects *a, const char *snapshot,
                                  const char *path)
{
    if (a->n >= AFFECTS_MAX) {
        a->truncated = 1;
        return VAULT_OK;
    }
    vault_error rc = grow(&a->refs, &a->cap, a->n + 1);
    if (rc != VAULT_OK)
        return rc;
    char *copy = NULL;
    if (path && !(copy = strdup(path[0] ? path : "/")))
        return nomem();
    a->refs[a->n].snapshot = snapshot;
    a->refs[a->n].path = copy;
    a->n++;
    return VAULT_OK;
}

vault_error vlt_check_defer(checker *c, int warning, const char *object,
                            const char *what, uint32_t *id)
{
    if (c->n_pending >= UINT32_MAX)
        return nomem();
    vault_error rc = grow(&c->pending, &c->cap_pending, c->n_pending + 1);
    if (rc != VAULT_OK)
        return rc;
    pending_problem *p = &c->pending[c->n_pending];
    memset(p, 0, sizeof *p);
    p->warning = warning;
    p->object = strdup(object);
    p->what = strdup(what);
    if (!p->object || !p->what) {
        free(p->object);
        free(p->what);
        return nomem();
    }
    *id = (uint32_t)c->n_pending++;
    return VAULT_OK;
}

vault_error vlt_check_defer_target(checker *c, uint32_t id, uint32_t node)
{
    vault_error rc = grow(&c->targets, &c->cap_targets, c->n_targets + 1);
    if (rc == VAULT_OK)
        c->targets[c->n_targets++] = (problem_target){node, id};
    return rc;
}

/* Problem id's targets: id's copies of chunk id, when a snapshot this
 * member reads refers to it. */
static vault_error target_id(checker *c, uint32_t problem,
                             const uint8_t id[CHUNK_ID_BYTES])
{
    uint32_t n;
    if (!vlt_check_node_find(c, id, &n))
        return VAULT_OK; /* no snapshot this member reads refers to it */
    return vlt_check_defer_target(c, problem, n);
}

/* Hands one problem (or warning) to the caller and counts it. */
void vlt_check_emit(checker *c, int warning, const char *object,
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
    vlt_check_affects_free(a);
}

/* A problem whose detail is the library's last error, less the label. */
void vlt_check_emit_last(checker *c, const char *object, affects *a)
{
    char what[512];
    snprintf(what, sizeof what, "%s",
             vlt_check_after_label(vault_last_error(), object));
    vlt_check_emit(c, 0, object, what, a);
}

vault_error vlt_check_emit_pending(checker *c)
{
    vault_error rc = c->n_targets ? vlt_check_affects_walk(c) : VAULT_OK;
    for (size_t i = 0; i < c->n_pending && rc == VAULT_OK; i++) {
        pending_problem *p = &c->pending[i];
        vlt_check_emit(c, p->warning, p->object, p->what, &p->a);
    }
    return rc;
}

/* --- pack findings -------------------------------------------------------- */

void vlt_check_pack_finding(pack_rec *p, const char *fmt, ...)
    VAULT_PRINTF(2, 3);
void vlt_check_pack_finding(pack_rec *p, const char *fmt, ...)
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
vault_error vlt_check_blob_finding(pack_rec *p,
                                   const uint8_t id[CHUNK_ID_BYTES],
                                   const char *what, const char *detail)
{
    char hex[65];
    vlt_hex_encode(id, CHUNK_ID_BYTES, hex);
    if (strncmp(detail, "blob: ", 6) == 0)
        detail += 6;
    vlt_check_pack_finding(p, "%s %.16s: %s", what, hex, detail);
    return pack_bad_blob(p, id);
}


/* Whether the copy of id in pack p failed this check. */
static int copy_failed(const pack_rec *p, const uint8_t id[CHUNK_ID_BYTES])
{
    if (p->whole)
        return 1;
    for (size_t i = 0; i < p->n_bad; i++)
        if (memcmp(p->bad[i], id, CHUNK_ID_BYTES) == 0)
            return 1;
    return 0;
}

/* Whether the damage to this chunk in pack p reaches files: reads fall
 * back past a copy that fails (format.md §15-15a), so only when every copy
 * failed, and then it is counted against the first copy's pack. */
static int read_from(checker *c, const pack_rec *p,
                     const uint8_t id[CHUNK_ID_BYTES])
{
    const index_slot *copies[INDEX_MAX_COPIES];
    size_t n = vlt_index_copies(&c->ix, id, copies, INDEX_MAX_COPIES);
    if (n > INDEX_MAX_COPIES)
        n = INDEX_MAX_COPIES;
    if (!n || copies[0]->pack == INDEX_PENDING ||
        memcmp(c->ix.packs[copies[0]->pack], p->id, 32) != 0)
        return 0;
    for (size_t i = 1; i < n; i++) {
        uint32_t k;
        if (copies[i]->pack == INDEX_PENDING ||
            !vlt_idset_find(&c->packset, c->ix.packs[copies[i]->pack], &k))
            continue;
        if (!copy_failed(&c->packs[k], id))
            return 0; /* this copy serves */
    }
    return 1;
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
            /* Nothing refers to it, so no data is at stake: an upload
             * torn by a server that does not write atomically (rclone
             * 1.60 killed mid-upload leaves the part under its final
             * name) looks just like this.  Prune removes it. */
            snprintf(what, sizeof what,
                     "%s, and %s (nothing refers to it: a torn upload or "
                     "damage; prune removes it)",
                     none, vlt_check_after_label(u->detail, label));
            vlt_check_emit(c, 1, label, what, NULL);
        } else if (u->holds) {
            snprintf(what, sizeof what,
                     "%s, yet it holds %llu blob%s that snapshots "
                     "reference (the segment listing it is lost or "
                     "damaged)",
                     none, (unsigned long long)u->holds,
                     u->holds == 1 ? "" : "s");
            vlt_check_emit(c, 1, label, what, NULL);
        } else {
            snprintf(what, sizeof what,
                     "%s (interrupted adds leave such packs behind)", none);
            vlt_check_emit(c, 1, label, what, NULL);
        }
    }
}

/* --- reporting packs ---------------------------------------------------- */

static int pack_name_cmp(const void *a, const void *b)
{
    const pack_rec *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

static vault_error queue_pack_problems(checker *c)
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
        char what[WHAT_MAX + 64];
        snprintf(what, sizeof what, "%s", p->what);
        if (p->dropped)
            snprintf(what + strlen(what), sizeof what - strlen(what),
                     "; and %zu more", p->dropped);
        uint32_t problem;
        rc = vlt_check_defer(c, 0, p->label, what, &problem);
        if (p->whole) {
            for (size_t j = 0; j < p->n_entries && rc == VAULT_OK; j++)
                if (read_from(c, p, p->entries[j].id))
                    rc = target_id(c, problem, p->entries[j].id);
        } else {
            for (size_t j = 0; j < p->n_bad && rc == VAULT_OK; j++)
                if (read_from(c, p, p->bad[j]))
                    rc = target_id(c, problem, p->bad[j]);
        }
    }
    free(order);
    return rc;
}

/* --- the whole check ------------------------------------------------------ */

static void checker_free(checker *c)
{
    vlt_index_free(&c->ix);
    vlt_idset_free(&c->packset);
    vlt_idset_free(&c->missing_refs);
    for (size_t i = 0; i < c->n_packs; i++) {
        free(c->packs[i].entries);
        free(c->packs[i].bad);
    }
    free(c->packs);
    if (c->keys)
        sodium_free(c->keys);
    free(c->nodes);
    free(c->snaps);
    free(c->snap_roots);
    free(c->snap_has_root);
    free(c->roots);
    for (size_t i = 0; i < c->n_pending; i++) {
        free(c->pending[i].object);
        free(c->pending[i].what);
        vlt_check_affects_free(&c->pending[i].a);
    }
    free(c->pending);
    free(c->targets);
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

static vault_error check_run(vault_t *v, const vault_check_options *options,
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

    vault_error rc = vlt_check_config(&c);
    if (rc == VAULT_OK)
        rc = vlt_check_envelopes(&c);
    if (rc == VAULT_OK)
        rc = vlt_check_index(&c);
    if (rc == VAULT_OK)
        rc = vlt_check_locks(&c);
    for (size_t i = 0; rc == VAULT_OK && i < c.n_packs; i++)
        rc = vlt_check_pack_exists(&c, &c.packs[i]);
    if (rc == VAULT_OK && c.n_packs &&
        !(c.keys = sodium_allocarray(c.n_packs, SECRET_BYTES)))
        rc = nomem();
    result->packs = c.n_packs;
    result->blobs = c.ix.n_slots;
    if (rc == VAULT_OK)
        rc = vlt_check_list_strays(&c);
    if (rc == VAULT_OK)
        rc = vlt_check_snapshots(&c);
    if (rc == VAULT_OK)
        rc = vlt_check_references(&c);
    if (rc == VAULT_OK &&
        (options->read_data || options->read_data_percent > 0))
        rc = vlt_check_read_packs(&c);
    if (rc == VAULT_OK)
        rc = queue_pack_problems(&c);
    if (rc == VAULT_OK)
        rc = vlt_check_emit_pending(&c);
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

vault_error vault_check(vault_t *v, const vault_check_options *options,
                        vault_check_result *result)
{
    if (!v)
        return vlt_fail(VAULT_E_INVALID, "check: no vault");
    /* Only reading packs takes long enough to show: its packs count. */
    vlt_progress_begin(&v->progress, "check", "packs");
    vault_error rc = check_run(v, options, result);
    vlt_progress_end(&v->progress);
    return rc;
}
