/*
 * backend_conformance.h - one test suite that every storage backend
 * passes (restic's backend tests), and the helpers backend tests share.
 *
 * A backend's test program describes how to get a fresh, empty backend
 * and runs the suite from main, next to its own tests:
 *
 *     static vault_error my_open(void *ctx, backend **out)
 *     {
 *         return my_backend_open(((my_ctx *)ctx)->url, out);
 *     }
 *     ...
 *     const backend_conformance target = {
 *         .name = "rest", .open = my_open, .cleanup = my_cleanup,
 *         .ctx = &my,
 *     };
 *     int failures = backend_conformance_run(&target);
 *
 * Every test of the suite opens its own backend, uses it, closes it and
 * then calls cleanup, one test at a time (the tests themselves may use
 * threads on the one backend).
 */
#ifndef VAULT_TEST_BACKEND_CONFORMANCE_H
#define VAULT_TEST_BACKEND_CONFORMANCE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "test_util.h"

#include "backend/backend.h"

typedef struct backend_conformance {
    /* Names the cmocka group: "conformance: <name>". */
    const char *name;
    /* Opens a fresh, empty backend for one test into *out. */
    vault_error (*open)(void *ctx, backend **out);
    /* After a test's backend is closed: removes what open made (its
     * directory, bucket...).  NULL: nothing to do. */
    void (*cleanup)(void *ctx);
    /* The number of entries the backend's storage holds (files, keys...),
     * to prove that refused calls wrote nothing.  NULL: not checked. */
    size_t (*footprint)(void *ctx);
    /* Objects the listing test saves: 0 for 1200, past the 1000 keys of
     * an S3 listing page.  A backend without pages whose saves are slow
     * (the local one fsyncs file and folder) may ask for fewer. */
    unsigned list_many;
    /* The caller's, passed to the three above. */
    void *ctx;
} backend_conformance;

/* Runs the suite on target's backends; returns the number of failed
 * tests (cmocka's count), 0 if all passed. */
int backend_conformance_run(const backend_conformance *target);

/* ---- helpers for backend tests ------------------------------------------ */

/* A well-formed name, different for every i, spread over the shards. */
void name_for(unsigned i, char out[VAULT_NAME_HEX + 1]);
/* As name_for, starting with the two hex digits of prefix. */
void name_with_prefix(const char *prefix, unsigned i,
                      char out[VAULT_NAME_HEX + 1]);
/* Deterministic bytes, different for every seed; malloc'ed. */
uint8_t *make_data(size_t len, unsigned seed);
/* Loads a whole object and compares it with want. */
void assert_object(backend *be, backend_kind kind, const char *name,
                   const uint8_t *want, size_t want_len);

/* A target of local vaults: each open makes a new one in a fresh
 * temporary directory (tmp, holding "vault"), which cleanup removes. */
typedef struct local_target {
    char *tmp; /* the running test's temporary directory */
} local_target;
vault_error local_target_open(void *ctx, backend **out);
void local_target_cleanup(void *ctx);

/* Saves a config, which makes a local backend's directory a vault. */
void save_config(backend *be);

/* The last error's detail contains text. */
#define assert_detail_has(text)                                                \
    do {                                                                       \
        if (!strstr(vault_last_error(), (text)))                               \
            fail_msg("detail \"%s\" lacks \"%s\"", vault_last_error(),         \
                     (text));                                                  \
    } while (0)

/* A list callback that records what it sees and can stop the listing. */
#define COLLECT_MAX 600
typedef struct collected {
    char names[COLLECT_MAX][VAULT_NAME_HEX + 1]; /* names seen */
    uint64_t sizes[COLLECT_MAX];                 /* their sizes */
    size_t calls;                                /* times fn ran */
    size_t stop_at; /* return stop_value on this call (1-based); 0: never */
    int stop_value; /* what fn returns on call stop_at */
} collected;

/* backend_list callback filling the collected ctx. */
int collect_fn(void *ctx, const char *name, uint64_t size);
/* Lists kind to the end; malloc'ed, fails beyond COLLECT_MAX names. */
collected *collect(backend *be, backend_kind kind);
/* Index of name in c, or -1. */
long collected_find(const collected *c, const char *name);

/* The kinds whose objects have names (all but the config). */
#define BACKEND_NAMED_KINDS 5
extern const backend_kind named_kinds[BACKEND_NAMED_KINDS];

#endif
