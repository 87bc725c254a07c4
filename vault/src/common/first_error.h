/*
 * first_error.h - "first failure wins" across threads.  Private.
 *
 * When several threads work for one operation, the error the operation
 * returns is the first any of them met: later ones are usually its
 * consequences.  The failing thread records its code and its detail
 * message (vault_last_error() is per thread); the thread that returns to
 * the caller raises them as its own:
 *
 *     vlt_first_error fe;
 *     vlt_first_error_init(&fe);
 *     ... on any thread:  if (rc != VAULT_OK) vlt_first_error_set(&fe, rc);
 *     ... anywhere:       if (vlt_first_error_code(&fe) != VAULT_OK) stop;
 *     ... on the caller:  return vlt_first_error_raise(&fe);
 *
 * Lock-free: set, code and raise may be called from any thread at any
 * time.  Nothing to destroy.
 */
#ifndef VAULT_FIRST_ERROR_H
#define VAULT_FIRST_ERROR_H

#include <stdatomic.h>

#include "vault.h"

typedef struct vlt_first_error {
    atomic_int claimed; /* 1 once a thread won the right to record */
    atomic_int code;    /* the recorded vault_error, published after
                           detail; VAULT_OK: none yet */
    char detail[512];   /* the winner's vault_last_error() */
} vlt_first_error;

/* Makes fe empty (a zero-filled struct is empty too). */
void vlt_first_error_init(vlt_first_error *fe);

/* Records rc (not VAULT_OK) with the calling thread's detail message,
 * unless a failure was recorded already.  Returns 1 if this one was kept. */
int vlt_first_error_set(vlt_first_error *fe, vault_error rc);

/* The recorded code, or VAULT_OK: a cheap check for "stop now". */
vault_error vlt_first_error_code(const vlt_first_error *fe);

/* The recorded failure made the calling thread's (its detail becomes
 * this thread's vault_last_error()) and returned; VAULT_OK if none. */
vault_error vlt_first_error_raise(const vlt_first_error *fe);

#endif
