/*
 * backend_testing.h - backends for tests only: one that holds a vault in
 * memory, and one that wraps another to fail or kill at the Nth
 * operation.  They live in libvault_testing, never in libvault.
 */
#ifndef VAULT_BACKEND_TESTING_H
#define VAULT_BACKEND_TESTING_H

#include "backend/backend.h"

/* An in-memory backend for tests; thread-safe like the local one. */
vault_error vlt_backend_memory_open(backend **out);

/*
 * A wrapping backend for fault injection in tests: the operation numbered
 * fail_at (counting saves, loads, stats, lists and removes from 1) and, if
 * sticky, every later one, fails with fail_code (VAULT_E_IO for EIO-like,
 * or VAULT_E_NOMEM...) and a detail naming the injected fault.  fail_at 0
 * never fails.  Takes ownership of inner (closing it if the wrapper
 * cannot be made).  vlt_backend_faulty_count tells how many operations have
 * run (injected failures included), to size a loop over every fail_at.
 * An injected failure happens before inner is called, so a failed save
 * stores nothing and a failed remove removes nothing.
 */
vault_error vlt_backend_faulty_open(backend *inner, uint64_t fail_at,
                                    vault_error fail_code, int sticky,
                                    backend **out);
uint64_t vlt_backend_faulty_count(const backend *be);
/*
 * Crash simulation, for a fork()ed child: as vlt_backend_faulty_open, except
 * that operation kill_at does not fail but raise(SIGKILL)s the whole
 * process - before inner is called (after 0: the operation never
 * happened) or as soon as inner returned (after 1: it happened, and its
 * caller never learnt).  kill_at 0 never kills.  vlt_backend_faulty_count
 * works on it too.
 */
vault_error vlt_backend_faulty_open_kill(backend *inner, uint64_t kill_at,
                                         int after, backend **out);

#endif
