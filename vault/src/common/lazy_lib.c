/*
 * lazy_lib.c - shared libraries opened on first use (lazy_lib.h).
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include "common/internal.h"
#include "common/lazy_lib.h"

/* One lock for every library: a load happens once per library and
 * process, so nobody waits on it for long, and dlerror's message is
 * read under it right after the call that set it. */
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *dl_error_text(void)
{
    const char *why = dlerror();
    return why ? why : "no reason given";
}

/* The first load: dlopen, then every name; on failure lib->error says
 * why. */
static vault_error load_now(lazy_lib *lib)
{
    /* RTLD_NOW: a library missing a function it needs fails here, with
     * an error, rather than later in the middle of a call.  RTLD_LOCAL:
     * its symbols are ours to look up, not everyone's to bind to. */
    void *handle = dlopen(lib->soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(lib->error, sizeof lib->error, "%s needs %s (%s): %s",
                 lib->needed_for, lib->name, lib->soname, dl_error_text());
        return VAULT_E_UNSUPPORTED;
    }
    for (size_t i = 0; i < lib->n_names; i++) {
        (void)dlerror(); /* the message below is this call's */
        lib->addresses[i] = dlsym(handle, lib->names[i]);
        if (!lib->addresses[i]) {
            snprintf(lib->error, sizeof lib->error,
                     "%s needs %s (%s) with %s: %s", lib->needed_for,
                     lib->name, lib->soname, lib->names[i], dl_error_text());
            /* The handle is left open, as on success: the load is not
             * tried again, and unloading a library whose constructors
             * ran is a risk for nothing. */
            return VAULT_E_UNSUPPORTED;
        }
    }
    lib->bind(lib->addresses);
    return VAULT_OK;
}

vault_error vlt_lazy_lib_load(lazy_lib *lib)
{
    pthread_mutex_lock(&load_lock);
    if (!lib->tried) {
        lib->result = load_now(lib);
        lib->tried = 1;
    }
    vault_error result = lib->result;
    pthread_mutex_unlock(&load_lock);
    /* lib->error is written once, before tried, under the lock taken
     * above: reading it unlocked is safe. */
    if (result != VAULT_OK)
        return vlt_fail(result, "%s", lib->error);
    return VAULT_OK;
}
