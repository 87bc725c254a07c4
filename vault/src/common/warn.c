/*
 * warn.c - non-fatal problems the library reports while it goes on (a
 * forged membership record ignored, an envelope that grants nothing):
 * handed to the handler the application set, or dropped.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/internal.h"

static vault_warning_fn warning_handler;
static void *warning_ctx;
/* Restore's threads warn too: one message at a time reaches the handler. */
static pthread_mutex_t warning_lock = PTHREAD_MUTEX_INITIALIZER;

/* Per thread: a thread that mutes does not silence the others. */
static _Thread_local int muted;

void vlt_warn_mute(int mute)
{
    muted = mute;
}

void vault_set_warning_handler(vault_warning_fn fn, void *ctx)
{
    warning_handler = fn;
    warning_ctx = ctx;
}

void vlt_warn(const char *fmt, ...)
{
    if (!warning_handler || muted)
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&warning_lock);
    warning_handler(msg, warning_ctx);
    pthread_mutex_unlock(&warning_lock);
}
