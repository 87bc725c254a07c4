/*
 * interrupt.c - the interruption request (interrupt.h).
 */
#include <stdatomic.h>

#include "common/interrupt.h"
#include "common/internal.h"

/* Lock-free on every platform vault builds for, so that a signal handler
 * may set it (C11 7.14.1.1 allows lock-free atomics there). */
static atomic_int interrupt_requested;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "vault_interrupt must be async-signal-safe");
static _Thread_local int shield_depth;

void vault_interrupt(void)
{
    atomic_store(&interrupt_requested, 1);
}

void vault_interrupt_clear(void)
{
    atomic_store(&interrupt_requested, 0);
}

int vault_interrupt_requested(void)
{
    return atomic_load(&interrupt_requested);
}

int vlt_interrupted(void)
{
    return shield_depth == 0 && atomic_load(&interrupt_requested);
}

vault_error vlt_interrupt_check(void)
{
    if (!vlt_interrupted())
        return VAULT_OK;
    return vlt_fail(VAULT_E_INTERRUPTED, "interrupted");
}

void vlt_interrupt_shield(int on)
{
    shield_depth += on ? 1 : -1;
}
