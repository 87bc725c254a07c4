/*
 * lazy_lib.h - a shared library opened on first use (dlopen) instead of
 * linked.  Private.
 *
 * libcurl (remote storage) and libarchive (tar) pull some forty other
 * libraries into every process that links them (TLS, Kerberos, LDAP,
 * ICU, libxml2, libstdc++...): loading those took a quarter of a cold
 * `vault ls` of a local vault, which needs none of them.  So they are
 * opened when an operation first needs them, each by its own module
 * (backend/curl_lib.h, ops/archive_lib.h) that describes it here:
 *
 *     static const char *const names[] = {"curl_easy_init", ...};
 *     static void *addresses[VAULT_ARRAY_SIZE(names)];
 *     static lazy_lib curl_lib = {
 *         .name = "libcurl", .soname = "libcurl.so.4",
 *         .needed_for = "remote storage",
 *         .names = names, .n_names = VAULT_ARRAY_SIZE(names),
 *         .addresses = addresses, .bind = bind_curl};
 *     ...
 *     vault_error rc = vlt_lazy_lib_load(&curl_lib);
 *
 * A library is opened once per process and never closed: its functions
 * (and what it keeps, like curl_global_init's state) stay valid until
 * the process ends.
 */
#ifndef VAULT_LAZY_LIB_H
#define VAULT_LAZY_LIB_H

#include <stddef.h>

#include "vault.h"

typedef struct lazy_lib {
    const char *name; /* for people: "libcurl" */
    /* What dlopen opens: the soname the build's headers belong to
     * ("libcurl.so.4"), so that a library of another ABI is never
     * taken. */
    const char *soname;
    /* What cannot work without it, for the error: "remote storage". */
    const char *needed_for;
    /* The functions to resolve, and where their addresses go, in the
     * same order. */
    const char *const *names;
    size_t n_names;
    void **addresses;
    /* Copies addresses into the module's typed table of functions;
     * called once, before any vlt_lazy_lib_load returns VAULT_OK. */
    void (*bind)(void *const *addresses);

    /* Set by the first load, under the load's lock. */
    int tried;
    vault_error result;
    char error[384];
} lazy_lib;

/*
 * Opens lib and resolves all its names the first time it is called for
 * it (from any thread: later calls, also concurrent ones, wait for the
 * first and return what it found).  VAULT_OK once every name resolved;
 * else VAULT_E_UNSUPPORTED with a detail naming the library and what
 * dlopen or dlsym said, every time it is asked:
 *     "remote storage needs libcurl (libcurl.so.4): <dlerror>"
 * No function of a library that failed to load is ever called.
 */
vault_error vlt_lazy_lib_load(lazy_lib *lib);

#endif
