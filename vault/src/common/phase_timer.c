/*
 * phase_timer.c - CPU time by phase (phase_timer.h).
 */
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>

#include "common/phase_timer.h"
#include "vault.h"

static atomic_int timing_on;
static _Atomic uint64_t phase_ns[VLT_PHASE_COUNT];
static _Atomic uint64_t phase_calls[VLT_PHASE_COUNT];

static const char *const phase_names[VLT_PHASE_COUNT] = {
    [VLT_PHASE_WALK] = "walk (directories, stat)",
    [VLT_PHASE_READ] = "read files",
    [VLT_PHASE_CHUNK] = "chunking",
    [VLT_PHASE_CHUNK_ID] = "chunk IDs (HMAC-SHA-256)",
    [VLT_PHASE_INDEX] = "index",
    [VLT_PHASE_COMPRESS] = "compress (zstd)",
    [VLT_PHASE_SEAL] = "seal (XChaCha20-Poly1305)",
    [VLT_PHASE_NAME] = "name packs (SHA-256)",
    [VLT_PHASE_STORE] = "store objects",
    [VLT_PHASE_LOAD] = "load objects",
    [VLT_PHASE_OPEN] = "open blobs (auth, zstd)",
    [VLT_PHASE_WRITE] = "write files",
    [VLT_PHASE_CREATE] = "create entries, metadata",
};

/* The thread's own CPU clock: what a phase costs, not how long it
 * waited (waiting shows in the wall time). */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Phases started and not stopped on this thread: a phase inside another
 * (a load through the local cache's backend, say) counts in the outer
 * one only, so that the phases add up. */
static _Thread_local unsigned phase_depth;

uint64_t vlt_phase_start(void)
{
    if (!atomic_load_explicit(&timing_on, memory_order_relaxed))
        return 0;
    if (phase_depth++)
        return 0;
    uint64_t now = thread_cpu_ns();
    return now ? now : 1;
}

void vlt_phase_stop(vlt_phase phase, uint64_t start)
{
    if (!atomic_load_explicit(&timing_on, memory_order_relaxed))
        return;
    if (phase_depth)
        phase_depth--;
    if (!start)
        return;
    uint64_t now = thread_cpu_ns();
    if (now > start)
        atomic_fetch_add_explicit(&phase_ns[phase], now - start,
                                  memory_order_relaxed);
    atomic_fetch_add_explicit(&phase_calls[phase], 1, memory_order_relaxed);
}

void vault_phase_timing_enable(void)
{
    atomic_store(&timing_on, 1);
}

size_t vault_phase_times(vault_phase_time *out, size_t max)
{
    size_t n = 0;
    for (int p = 0; p < VLT_PHASE_COUNT; p++) {
        uint64_t calls = atomic_load(&phase_calls[p]);
        if (!calls)
            continue;
        if (n < max) {
            out[n].name = phase_names[p];
            out[n].cpu_seconds = (double)atomic_load(&phase_ns[p]) / 1e9;
            out[n].calls = calls;
        }
        n++;
    }
    return n;
}
