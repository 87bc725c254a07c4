/*
 * interrupt.h - stopping a running operation on request (vault_interrupt,
 * which a signal handler may call).  Private.
 *
 * The request is one process-wide atomic flag: a signal handler can do
 * nothing else safely, and it cannot know which handle is busy.  The
 * operations look at it between steps (a file, a pack, an object) and in
 * the waits that may last (storage retries, http transfers), and stop
 * with VAULT_E_INTERRUPTED after cleaning up as they do for any failure.
 *
 * Cleaning up may need the storage (an add takes its marker down): a
 * thread that must finish such a step shields itself, and for it the
 * flag reads as clear until it unshields.
 *
 *     vlt_interrupt_shield(1); ...remove the marker...; vlt_interrupt_shield(0);
 */
#ifndef VAULT_INTERRUPT_H
#define VAULT_INTERRUPT_H

#include "vault.h"

/* 1 if an interruption was requested and this thread is not shielded. */
int vlt_interrupted(void);
/* VAULT_E_INTERRUPTED (with its detail) if vlt_interrupted, else
 * VAULT_OK. */
vault_error vlt_interrupt_check(void);
/* on 1: this thread's storage steps run to their end even if an
 * interruption is requested; 0 ends that.  Nests. */
void vlt_interrupt_shield(int on);

#endif
