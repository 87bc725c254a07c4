/*
 * prune_sweep.c - `prune`'s (prune.c) two phases without locks: the add
 * markers a mark waits for, phase 1's mark, and phase 2's sweep.  Format
 * spec "Pruning without locks".
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/prune/prune_internal.h"
#include "repo/client_cache.h"

/* --- add markers -------------------------------------------------------- */

int vlt_prune_is_live_marker(const pstate *s, const lock_record *l)
{
    return l->kind == LOCK_ADD &&
           l->time >= s->now - VAULT_PRUNE_STALE_SECONDS &&
           !vlt_lock_marker_dead(l);
}

size_t vlt_prune_live_markers(const pstate *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_locks; i++)
        n += vlt_prune_is_live_marker(s, &s->locks[i]);
    return n;
}

vault_error vlt_prune_load_locks(pstate *s)
{
    vlt_locks_free(s->locks, s->n_locks);
    s->locks = NULL;
    s->n_locks = 0;
    vault_error rc =
        vlt_locks_load(s->v, &s->locks, &s->n_locks, &s->unreadable);
    if (rc != VAULT_OK)
        return rc;
    /* A prune mark counts only from a current owner: a writer (or a
     * former owner) cannot condemn packs.  It stays in locks/, ignored. */
    size_t kept = 0;
    for (size_t i = 0; i < s->n_locks; i++) {
        lock_record *l = &s->locks[i];
        if (vlt_repo_lock_honoured(s->v, l)) {
            s->locks[kept++] = *l;
            continue;
        }
        vlt_warn("locks/%s: prune mark by a %s, not an owner; ignored",
                      l->name,
                      vlt_author_standing_name(vlt_membership_standing(
                          s->v->members, l->author)));
        free(l->packs);
    }
    s->n_locks = kept;
    /* An add marker's age counts from when this client first saw it if
     * that is earlier than the time it claims (format.md §15-15a). */
    vlt_marker_sightings_apply(s->cache_dir, s->v->keys, s->locks,
                               s->n_locks, s->now);
    return VAULT_OK;
}

/* Why a mark may not be swept yet (0: it may). */
unsigned vlt_prune_mark_waiting(const pstate *s, const lock_record *mark,
                                int64_t grace, int64_t *sweep_after)
{
    unsigned w = 0;
    if (vlt_prune_live_markers(s))
        w |= VAULT_PRUNE_WAIT_ADD;
    if (s->unreadable)
        w |= VAULT_PRUNE_WAIT_UNREADABLE;
    if (s->now - mark->time < grace) {
        w |= VAULT_PRUNE_WAIT_GRACE;
        if (sweep_after)
            *sweep_after = mark->time + grace;
    }
    return w;
}


/* --- phase 1: mark ------------------------------------------------------ */

/* Copies the referenced blobs out of the packs to repack, indexes the
 * copies, then saves the mark condemning every pack with a verdict. */
vault_error vlt_prune_write_mark(pstate *s, size_t n_condemn, int dry_run,
                                 vault_prune_result *r, char mark[65])
{
    copier c = {s->v, r, {0}, 0, {0}};
    vault_error rc = VAULT_OK;
    /* Repacking is what takes long: its packs are the progress. */
    uint64_t n_repack = 0, repack_bytes = 0;
    for (uint32_t n = 0; n < s->n_packs; n++)
        if (s->packs[n].verdict == VERDICT_REPACK) {
            n_repack++;
            repack_bytes += s->packs[n].size;
        }
    vlt_progress_total(&s->v->progress, n_repack, repack_bytes, 1);
    for (uint32_t n = 0; n < s->n_packs && rc == VAULT_OK; n++)
        if (s->packs[n].verdict == VERDICT_REPACK) {
            rc = vlt_prune_copy_needed(s, &c, n, dry_run, &r->blobs_repacked,
                                       &r->bytes_repacked);
            vlt_progress_add(&s->v->progress, 1, s->packs[n].size);
        }
    /* the copies are indexed before the mark */
    if (rc == VAULT_OK && !dry_run)
        rc = vlt_prune_copier_flush(&c);
    vlt_prune_copier_free(&c);
    if (rc != VAULT_OK)
        return rc;
    if (dry_run) {
        /* an estimate: the copies' sizes, in packs of the usual size */
        r->bytes_written += r->bytes_repacked;
        r->packs_written +=
            (r->bytes_repacked + PACK_TARGET_BYTES - 1) / PACK_TARGET_BYTES;
        r->marks_written++;
        return VAULT_OK;
    }
    lock_record mark_rec = {.kind = LOCK_PRUNE_MARK,
                            .time = vlt_now(),
                            .pid = (uint32_t)getpid()};
    if (gethostname(mark_rec.host, sizeof mark_rec.host - 1) != 0)
        mark_rec.host[0] = '\0';
    mark_rec.packs = malloc(n_condemn * 32);
    if (!mark_rec.packs)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    for (uint32_t n = 0; n < s->n_packs; n++)
        if (s->packs[n].verdict != VERDICT_KEEP)
            memcpy(mark_rec.packs + 32 * (size_t)mark_rec.n_packs++,
                   vlt_idset_id(&s->pack_ids, n), 32);
    assert(mark_rec.n_packs == n_condemn);
    rc = vlt_lock_write(s->v, &mark_rec);
    free(mark_rec.packs);
    if (rc == VAULT_OK) {
        memcpy(mark, mark_rec.name, 65);
        r->marks_written++;
    }
    return rc;
}


/* --- phase 2: sweep ----------------------------------------------------- */

typedef struct filter_ctx {
    pstate *s;
    const char *name;
    segbuild out;
    index_segment_info info;
    int flags; /* of its author (vlt_repo_author_flags); -1 forged */
    int flags_known;
} filter_ctx;

/* Keeps an entry of a segment being rewritten unless its pack is being
 * swept.  The rewritten segment is signed by this owner: an entry of a
 * segment that is not trusted (a writer's, a former member's) is kept
 * only if its blob opens and its chunk ID checks, so that re-signing
 * never vouches for what nobody trusted checked; a forged segment's
 * entries are all dropped. */
static vault_error filter_entry(void *ctx, const uint8_t pack_id[32],
                                const pack_entry *e)
{
    filter_ctx *f = ctx;
    uint32_t n;
    if (vlt_idset_find(&f->s->pack_ids, pack_id, &n) &&
        f->s->packs[n].sweeping)
        return VAULT_OK;
    if (!f->flags_known) {
        f->flags = vlt_repo_author_flags(f->s->v, f->info.author);
        f->flags_known = 1;
    }
    if (f->flags < 0)
        return VAULT_OK;
    if (!(f->flags & SLOT_TRUSTED)) {
        vault_error rc = vlt_repo_verify_entry(f->s->v, pack_id, e);
        if (vlt_error_stops(rc) || rc == VAULT_E_IO)
            return rc;
        if (rc != VAULT_OK) {
            vlt_warn("prune: index/%s: %s; the entry is dropped",
                          f->name, vault_last_error());
            return VAULT_OK;
        }
    }
    return vlt_prune_segbuild_add(&f->out, pack_id, e);
}

/* (b): replaces segment g by one without the packs being swept. */
static vault_error rewrite_segment(pstate *s, const pseg *g,
                                   vault_prune_result *r)
{
    filter_ctx f = {s, g->name, {0}, {0}, 0, 0};
    vault_error rc = vlt_index_segment_read(s->v->be, s->v->keys, g->name,
                                            filter_entry, &f, &f.info);
    int skipped = f.info.skipped;
    if (rc == VAULT_E_NOT_FOUND) {
        /* replaced meanwhile by another prune */
        vlt_prune_segbuild_free(&f.out);
        return VAULT_OK;
    }
    if (rc == VAULT_OK && skipped)
        rc = vlt_fail(VAULT_E_PERMISSION, "index/%s: sealed in a key "
                                          "epoch this member lacks",
                      g->name);
    if (rc == VAULT_OK && f.out.n_packs) {
        rc = vlt_prune_segbuild_save(&f.out, s->v);
        if (rc == VAULT_OK)
            r->segments_rewritten++;
    } else if (rc == VAULT_OK) {
        r->segments_deleted++;
    }
    vlt_prune_segbuild_free(&f.out);
    /* Only now is the old segment redundant. */
    if (rc == VAULT_OK) {
        rc = backend_remove(s->v->be, BACKEND_INDEX, g->name);
        if (rc == VAULT_E_NOT_FOUND)
            rc = VAULT_OK;
    }
    return rc;
}

/* Sweeps the marks (names in s->locks, all of them prune marks whose time
 * has come); s was loaded after they were written.  With dry_run counts
 * what it would do. */
vault_error vlt_prune_sweep(pstate *s, const char (*marks)[65], size_t n_marks,
                            int dry_run, vault_prune_result *r)
{
    vault_error rc = VAULT_OK;
    for (size_t m = 0; m < n_marks && rc == VAULT_OK; m++) {
        for (size_t i = 0; i < s->n_locks && rc == VAULT_OK; i++) {
            const lock_record *l = &s->locks[i];
            if (strcmp(l->name, marks[m]) != 0)
                continue;
            for (uint32_t j = 0; j < l->n_packs && rc == VAULT_OK; j++) {
                uint32_t n;
                rc = vlt_prune_pack_get(s, l->packs + 32 * (size_t)j, &n);
                if (rc == VAULT_OK)
                    s->packs[n].sweeping = 1;
            }
        }
    }
    /* (a) Rescue: referenced blobs whose counted copy is in a pack being
     * swept have no copy outside condemned packs (a copy elsewhere would
     * have been preferred). */
    copier c = {s->v, r, {0}, 0, {0}};
    uint64_t bytes = 0;
    for (uint32_t n = 0; n < s->n_packs && rc == VAULT_OK; n++)
        if (s->packs[n].sweeping && s->packs[n].present)
            rc = vlt_prune_copy_needed(s, &c, n, dry_run, &r->blobs_rescued,
                                       &bytes);
    if (rc == VAULT_OK && !dry_run)
        rc = vlt_prune_copier_flush(&c);
    if (dry_run) { /* an estimate, as for repacking */
        r->bytes_written += bytes;
        r->packs_written += (bytes + PACK_TARGET_BYTES - 1) / PACK_TARGET_BYTES;
    }
    vlt_prune_copier_free(&c);
    /* (b) Index segments without the swept packs. */
    for (size_t g = 0; g < s->n_segs && rc == VAULT_OK; g++) {
        const pseg *seg = &s->segs[g];
        size_t touched = 0;
        for (size_t i = 0; i < seg->n_packs; i++)
            touched += s->packs[seg->packs[i]].sweeping;
        if (!touched)
            continue;
        if (!dry_run)
            rc = rewrite_segment(s, seg, r);
        else if (touched == seg->n_packs)
            r->segments_deleted++;
        else
            r->segments_rewritten++;
    }
    /* (c) The packs. */
    for (uint32_t n = 0; n < s->n_packs && rc == VAULT_OK; n++) {
        ppack *p = &s->packs[n];
        if (!p->sweeping)
            continue;
        if (!dry_run) {
            char name[65];
            vlt_prune_pack_name(s, n, name);
            rc = backend_remove(s->v->be, BACKEND_DATA, name);
            if (rc == VAULT_E_NOT_FOUND) {
                rc = VAULT_OK;
                continue; /* deleted by an earlier, interrupted sweep */
            }
        }
        if (rc == VAULT_OK && p->present) {
            r->packs_deleted++;
            r->bytes_deleted += p->size;
        }
    }
    /* (d) The marks. */
    for (size_t m = 0; m < n_marks && rc == VAULT_OK; m++) {
        if (!dry_run)
            rc = vlt_lock_remove(s->v, marks[m]);
        if (rc == VAULT_OK)
            r->marks_swept++;
    }
    return rc;
}

