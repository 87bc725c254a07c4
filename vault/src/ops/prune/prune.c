/*
 * prune.c - `prune`: deletes the packs no snapshot needs, while adds on
 * other machines go on without a lock.  Format spec "Pruning without
 * locks" (section 15a); ops/prune/ follows it step by step.
 *
 * One run:
 *
 *   1. Add markers older than VAULT_PRUNE_STALE_SECONDS are stale (their
 *      add crashed), and so are those of this machine whose process is
 *      gone (format/locks.h, vlt_lock_marker_dead); they are ignored and
 *      deleted.
 *   2. Phase 2 (sweep) for every prune mark already in locks/ whose time
 *      has come: no live add marker visible, no lock object this member
 *      cannot open (it might be an add marker), and the mark at least the
 *      grace period old.
 *   3. Phase 1 (mark): with everything read afresh, the packs the
 *      snapshots do not need are condemned by one new mark: unused packs,
 *      partly used packs chosen for repacking (their referenced blobs are
 *      copied into new packs and indexed first), and packs in data/ that
 *      no index segment lists (left by interrupted adds; only when no add
 *      marker is live, since a running add's packs are unindexed until
 *      its segment is saved).
 *   4. Phase 2 for the new mark, if its time has come already (grace 0,
 *      no add running): a quiet vault is pruned by one run.
 *
 * A sweep reads everything afresh and then, in this order: (a) copies
 * every referenced blob whose only copies are in packs being swept into
 * new packs and indexes them; (b) replaces every index segment that lists
 * a swept pack by one without it (new saved before old deleted); (c)
 * deletes the packs; (d) deletes the marks.  Each step only adds objects
 * or deletes what earlier steps made redundant, so a crash anywhere
 * leaves every snapshot whole and the next prune finishes the job.
 *
 * Which copy of a blob is "the" needed one (several packs may hold it,
 * after concurrent adds, or a hostile member's claim): the first, in the
 * index's order of copies (trusted, then not condemned, then the
 * opener's own; format/pack.h), among packs present in data/.  When the
 * copies are in several packs, that copy is opened and its chunk ID
 * checked first; one that fails gives way to the next, and when none
 * verifies every pack holding a copy is kept and the blob reported
 * (format.md §15-15a).  Every other copy counts as unused.  Prune marks
 * count only from current owners; add markers count from anyone, aged
 * from the earlier of their time and this client's first sight of them.
 *
 * Repacking, as restic's --max-unused: unused packs always go; of the
 * partly used packs, the most wasteful (highest unused share) are
 * repacked until the unused bytes left are at most max_unused percent of
 * what stays (default 5).
 *
 * Memory: a byte per index entry marks what the snapshots reference and
 * which copy counts (prune_internal.h, slot_bits); the entries themselves
 * are the handle's index's (mapped from the index cache when there is
 * one), and the chosen copies are grouped by pack (4 bytes each) only
 * when blobs are to be copied.
 *
 * This file runs the steps and reports; prune_plan.c reads the vault and
 * decides each pack's verdict, prune_copy.c copies blobs into new packs,
 * prune_sweep.c writes marks and sweeps them, and prune_internal.h holds
 * what they share.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/prune/prune_internal.h"
#include "repo/client_cache.h"

/* --- the report --------------------------------------------------------- */

static vault_error add_pending(vault_prune_result *r,
                               const vault_prune_pending *p)
{
    vault_prune_pending *np =
        realloc(r->pending, (r->n_pending + 1) * sizeof *np);
    if (!np)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    r->pending = np;
    r->pending[r->n_pending++] = *p;
    return VAULT_OK;
}

/* The marks left and the add markers they wait for, as s sees them
 * (locks and data/ loaded); new_mark (may be NULL) is this run's. */
static vault_error report_pending(pstate *s, int64_t grace,
                                  const char *new_mark, int dry_run,
                                  vault_prune_result *r)
{
    size_t live = vlt_prune_live_markers(s);
    r->live_adds = calloc(live ? live : 1, sizeof *r->live_adds);
    if (!r->live_adds)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    for (size_t i = 0; i < s->n_locks; i++) {
        const lock_record *l = &s->locks[i];
        if (vlt_prune_is_live_marker(s, l)) {
            vault_prune_marker *m = &r->live_adds[r->n_live_adds++];
            snprintf(m->host, sizeof m->host, "%s", l->host);
            m->pid = l->pid;
            m->time = l->time;
        }
        if (l->kind != LOCK_PRUNE_MARK)
            continue;
        vault_prune_pending p = {0};
        memcpy(p.mark, l->name, 65);
        p.time = l->time;
        p.packs = l->n_packs;
        for (uint32_t j = 0; j < l->n_packs; j++) {
            uint32_t n;
            if (vlt_idset_find(&s->pack_ids, l->packs + 32 * (size_t)j, &n) &&
                s->packs[n].present)
                p.bytes += s->packs[n].size;
        }
        p.waiting = vlt_prune_mark_waiting(s, l, grace, &p.sweep_after);
        if (dry_run && !p.waiting)
            continue; /* counted as swept by this (dry) run */
        p.written_now = new_mark && strcmp(new_mark, l->name) == 0;
        vault_error rc = add_pending(r, &p);
        if (rc != VAULT_OK)
            return rc;
    }
    return VAULT_OK;
}

/* --- the whole run ------------------------------------------------------ */

static vault_error need_owner(const vault_t *v)
{
    if (v->keys->role != ROLE_OWNER)
        return vlt_fail(VAULT_E_PERMISSION,
                        "%s: only an owner can prune (this member is a "
                        "%s)",
                        v->location,
                        vault_role_name((vault_role)v->keys->role));
    return VAULT_OK;
}

/* Deletes the stale add markers: their adds crashed long ago. */
static vault_error remove_stale(pstate *s, int dry_run, vault_prune_result *r)
{
    for (size_t i = 0; i < s->n_locks; i++) {
        const lock_record *l = &s->locks[i];
        if (l->kind != LOCK_ADD || vlt_prune_is_live_marker(s, l))
            continue;
        if (!dry_run) {
            vault_error rc = vlt_lock_remove(s->v, l->name);
            if (rc != VAULT_OK)
                return rc;
        }
        r->stale_markers_removed++;
    }
    return VAULT_OK;
}

/* The marks in s whose time has come. */
static vault_error sweepable_marks(const pstate *s, int64_t grace,
                                   char (**out)[65], size_t *n)
{
    *out = calloc(s->n_locks ? s->n_locks : 1, sizeof **out);
    *n = 0;
    if (!*out)
        return vlt_fail(VAULT_E_NOMEM, "prune: out of memory");
    for (size_t i = 0; i < s->n_locks; i++)
        if (s->locks[i].kind == LOCK_PRUNE_MARK &&
            vlt_prune_mark_waiting(s, &s->locks[i], grace, NULL) == 0)
            memcpy((*out)[(*n)++], s->locks[i].name, 65);
    return VAULT_OK;
}

static vault_error prune_run(pstate *s, const vault_prune_options *o,
                             int max_unused, vault_prune_result *r)
{
    int dry = o->dry_run;
    int64_t grace = o->grace_seconds;
    s->now = vlt_now();
    vault_error rc = vlt_prune_load_locks(s);
    if (rc == VAULT_OK)
        rc = remove_stale(s, dry, r);
    /* Temporaries of saves that crashed as long ago as a stale marker:
     * no save in progress is that old (format spec section 14). */
    if (rc == VAULT_OK && !dry)
        rc = backend_clean(s->v->be, VAULT_PRUNE_STALE_SECONDS,
                           &r->temporaries_removed);

    /* Phase 2 for the marks already there. */
    char(*marks)[65] = NULL;
    size_t n_marks = 0;
    if (rc == VAULT_OK)
        rc = sweepable_marks(s, grace, &marks, &n_marks);
    if (rc == VAULT_OK && n_marks) {
        rc = vlt_prune_state_load(s);
        /* Checked again on what the sweep itself read. */
        size_t still = 0;
        for (size_t m = 0; m < n_marks && rc == VAULT_OK; m++)
            for (size_t i = 0; i < s->n_locks; i++)
                if (strcmp(s->locks[i].name, marks[m]) == 0 &&
                    vlt_prune_mark_waiting(s, &s->locks[i], grace, NULL) == 0)
                    memmove(marks[still++], marks[m], 65);
        if (rc == VAULT_OK && still)
            rc = vlt_prune_sweep(s, (const char(*)[65])marks, still, dry, r);
    }
    free(marks);

    /* Phase 1. */
    if (rc == VAULT_OK)
        rc = vlt_prune_state_load(s);
    size_t n_condemn = 0;
    if (rc == VAULT_OK)
        rc = vlt_prune_plan_mark(s, max_unused, &n_condemn, r);
    char new_mark[65] = "";
    if (rc == VAULT_OK && n_condemn)
        rc = vlt_prune_write_mark(s, n_condemn, dry, r, new_mark);

    /* Phase 2 for the new mark, if nothing holds it back. */
    if (rc == VAULT_OK && n_condemn && dry) {
        lock_record hypothetical = {.kind = LOCK_PRUNE_MARK, .time = s->now};
        unsigned waiting =
            vlt_prune_mark_waiting(s, &hypothetical, grace, NULL);
        uint64_t bytes = 0;
        for (uint32_t n = 0; n < s->n_packs; n++)
            if (s->packs[n].verdict != VERDICT_KEEP)
                bytes += s->packs[n].size;
        if (!waiting) {
            r->marks_swept++;
            r->packs_deleted += n_condemn;
            r->bytes_deleted += bytes;
        } else {
            vault_prune_pending p = {.time = s->now,
                                     .packs = n_condemn,
                                     .bytes = bytes,
                                     .waiting = waiting,
                                     .sweep_after = s->now + grace,
                                     .written_now = 1};
            rc = add_pending(r, &p);
        }
    } else if (rc == VAULT_OK && n_condemn) {
        /* The markers are read after the mark was saved: an add whose
         * marker this misses wrote it later, so it reads the mark. */
        rc = vlt_prune_state_load(s);
        const lock_record *mark = NULL;
        for (size_t i = 0; rc == VAULT_OK && i < s->n_locks; i++)
            if (strcmp(s->locks[i].name, new_mark) == 0)
                mark = &s->locks[i];
        if (rc == VAULT_OK && mark &&
            vlt_prune_mark_waiting(s, mark, grace, NULL) == 0)
            rc = vlt_prune_sweep(s, (const char(*)[65]) & new_mark, 1, 0, r);
    }

    /* What is left for a later prune. */
    if (rc == VAULT_OK) {
        if (!dry) {
            vlt_prune_state_clear(s);
            s->now = vlt_now();
            rc = vlt_prune_load_locks(s);
            if (rc == VAULT_OK)
                rc = vlt_prune_load_packs(s);
        }
        if (rc == VAULT_OK)
            rc = report_pending(s, grace, dry ? NULL : new_mark, dry, r);
    }
    return rc;
}

vault_error vault_prune(vault_t *v, const vault_prune_options *o,
                        vault_prune_result *r)
{
    if (!r)
        return vlt_fail(VAULT_E_INVALID, "prune: missing result");
    memset(r, 0, sizeof *r);
    if (!v || !o)
        return vlt_fail(VAULT_E_INVALID, "prune: missing argument");
    int max_unused = o->max_unused_percent;
    if (max_unused == 0)
        max_unused = VAULT_PRUNE_MAX_UNUSED_DEFAULT;
    else if (max_unused == VAULT_PRUNE_MAX_UNUSED_NONE)
        max_unused = 0;
    if (max_unused < 0 || max_unused > 100)
        return vlt_fail(VAULT_E_INVALID,
                        "prune: max unused must be 0..100 percent");
    if (o->grace_seconds < 0)
        return vlt_fail(VAULT_E_INVALID,
                        "prune: the grace period cannot be negative");
    vault_error rc = need_owner(v);
    /* An append-only server refuses deletes: fail before the mark. */
    if (rc == VAULT_OK && !o->dry_run)
        rc = backend_check_deletable(v->be);
    if (rc != VAULT_OK)
        return rc;
    char cache_buf[PATH_MAX];
    pstate s = {.v = v,
                .cache_dir = o->cache_dir
                                 ? o->cache_dir
                                 : vlt_cache_dir_default(cache_buf,
                                                         sizeof cache_buf)};
    vlt_progress_begin(&v->progress, "prune", "packs");
    rc = prune_run(&s, o, max_unused, r);
    vlt_progress_end(&v->progress);
    vlt_prune_state_clear(&s);
    /* The packs this handle's index names may be gone. */
    vlt_repo_forget_index(v);
    return rc;
}

void vault_prune_result_free(vault_prune_result *r)
{
    if (!r)
        return;
    free(r->pending);
    free(r->live_adds);
    memset(r, 0, sizeof *r);
}
