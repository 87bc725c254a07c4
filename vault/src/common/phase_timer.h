/*
 * phase_timer.h - CPU time spent in each phase of the work (chunking,
 * hashing, compressing, sealing, storage, file system), summed over all
 * threads, when a caller turned it on (vault_phase_timing_enable): a
 * profile that explains where an add or an extract spends its time
 * without an external profiler.  Off, a phase costs two relaxed atomic
 * loads (start and stop).  Private.
 */
#ifndef VAULT_PHASE_TIMER_H
#define VAULT_PHASE_TIMER_H

#include <stdint.h>

typedef enum vlt_phase {
    VLT_PHASE_WALK,      /* add: reading directories, stat */
    VLT_PHASE_READ,      /* add: reading file contents */
    VLT_PHASE_CHUNK,     /* content-defined chunking */
    VLT_PHASE_CHUNK_ID,  /* chunk IDs (HMAC-SHA-256) */
    VLT_PHASE_INDEX,     /* index lookups and additions */
    VLT_PHASE_COMPRESS,  /* zstd */
    VLT_PHASE_SEAL,      /* sealing blobs (XChaCha20-Poly1305) */
    VLT_PHASE_NAME,      /* naming packs (SHA-256) */
    VLT_PHASE_STORE,     /* saving objects to storage */
    VLT_PHASE_LOAD,      /* loading objects from storage */
    VLT_PHASE_OPEN,      /* opening blobs: authenticate, decompress */
    VLT_PHASE_WRITE,     /* extract: writing file contents */
    VLT_PHASE_CREATE,    /* extract: creating entries, setting metadata */
    VLT_PHASE_COUNT
} vlt_phase;

/* The calling thread's CPU time in ns when timing is on and no other
 * phase runs on this thread, else 0 (a phase inside another counts in
 * the outer one).  Every start is followed by its stop. */
uint64_t vlt_phase_start(void);
/* Adds the CPU time since start (from vlt_phase_start) to phase. */
void vlt_phase_stop(vlt_phase phase, uint64_t start);

#endif
