/*
 * prune_unlock.c - `unlock`: removes the add markers that hold prune
 * sweeps back for nothing (vault.h vault_unlock; format spec 15a,
 * "Unlocking").  It reads the locks as prune does (prune_sweep.c), with
 * the same ages, and decides per marker:
 *
 *   author not this member, member not an owner   kept (not ours)
 *   its process runs on this machine              kept, always
 *   its process is gone from this machine         removed
 *   stale by age                                  removed
 *   otherwise (another machine, not stale)        removed with remove_all
 */
#include <limits.h>
#include <string.h>

#include "common/interrupt.h"
#include "ops/prune/prune_internal.h"
#include "repo/client_cache.h"

vault_error vault_unlock(vault_t *v, const vault_unlock_options *o,
                         vault_unlock_result *r)
{
    if (!r)
        return vlt_fail(VAULT_E_INVALID, "unlock: missing result");
    memset(r, 0, sizeof *r);
    if (!v || !o)
        return vlt_fail(VAULT_E_INVALID, "unlock: missing argument");
    char cache_buf[PATH_MAX];
    pstate s = {.v = v,
                .now = vlt_now(),
                .cache_dir = o->cache_dir
                                 ? o->cache_dir
                                 : vlt_cache_dir_default(cache_buf,
                                                         sizeof cache_buf)};
    vault_error rc = vlt_prune_load_locks(&s);
    int owner = v->keys->role == ROLE_OWNER;
    for (size_t i = 0; rc == VAULT_OK && i < s.n_locks; i++) {
        const lock_record *l = &s.locks[i];
        if (l->kind != LOCK_ADD)
            continue;
        int own = memcmp(l->author, v->keys->sign_pk, SIGN_PUBLIC_BYTES) == 0;
        vlt_process_state p = vlt_lock_marker_process(l);
        int stale = !vlt_prune_is_live_marker(&s, l);
        if (!own && !owner) {
            r->kept_others++;
        } else if (p == PROCESS_RUNNING) {
            r->kept_running++;
        } else if (p == PROCESS_GONE || stale || o->remove_all) {
            rc = vlt_interrupt_check();
            if (rc == VAULT_OK && !o->dry_run)
                rc = vlt_lock_remove(v, l->name);
            if (rc == VAULT_OK)
                r->removed++;
        } else {
            r->kept_elsewhere++;
        }
    }
    vlt_prune_state_clear(&s);
    return rc;
}
