/*
 * backend_testing.h - backends for tests only: one that holds a vault in
 * memory, one that wraps another to fail or kill at the Nth
 * operation, and one that adds latency and counts requests.  They live
 * in libvault_testing, never in libvault.
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

/*
 * A wrapping backend with latency (backend_slow.c): every save, load,
 * stat, list and remove waits for one of `parallel` slots, sleeps
 * delay_us and only then reaches inner; its connections are `parallel`.
 * It counts requests and bytes (saved or loaded) per operation and
 * object kind, and the most requests (and saves, and their bytes) in
 * flight at once.
 * Takes ownership of inner.  Thread-safe.
 */
typedef enum backend_slow_op {
    SLOW_SAVE = 0,
    SLOW_LOAD = 1,
    SLOW_STAT = 2,
    SLOW_LIST = 3,
    SLOW_REMOVE = 4
} backend_slow_op;
#define SLOW_OP_COUNT 5
typedef struct backend_slow_stats {
    uint64_t requests[SLOW_OP_COUNT][BACKEND_KIND_COUNT];
    uint64_t bytes[SLOW_OP_COUNT][BACKEND_KIND_COUNT];
    unsigned max_in_flight;       /* requests at once, at most */
    unsigned max_saves_in_flight; /* saves at once, at most */
    uint64_t max_save_bytes_in_flight; /* their bytes together, at most */
    unsigned saves_in_flight;     /* now (internal) */
    uint64_t save_bytes_in_flight; /* now (internal) */
} backend_slow_stats;
vault_error vlt_backend_slow_open(backend *inner, uint64_t delay_us,
                                  unsigned parallel, backend **out);
void vlt_backend_slow_stats(backend *be, backend_slow_stats *out);
/* Zeroes the counters (between the steps a test measures). */
void vlt_backend_slow_reset(backend *be);
/* Requests of op over every kind. */
uint64_t vlt_backend_slow_total(const backend_slow_stats *s,
                                backend_slow_op op);

#endif
