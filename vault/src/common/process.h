/*
 * process.h - which process on which machine: what an add marker records
 * so that a prune on the same machine can tell that the add is gone.
 * Private.  Format spec section 15a ("process").
 *
 * A pid means something only inside one pid namespace of one running
 * kernel: the domain is a hash of the kernel's boot ID
 * (/proc/sys/kernel/random/boot_id, new at every boot) and the pid
 * namespace (/proc/self/ns/pid), so that containers on one kernel, other
 * machines and earlier boots never match.  The start time (clock ticks
 * after boot, /proc/PID/stat) tells a reused pid from the process.
 */
#ifndef VAULT_PROCESS_H
#define VAULT_PROCESS_H

#include <stdint.h>

#define PROCESS_DOMAIN_BYTES 32

typedef struct vlt_process_id {
    uint8_t domain[PROCESS_DOMAIN_BYTES];
    uint32_t pid;
    uint64_t start; /* clock ticks after boot */
} vlt_process_id;

/* This process; 0 when the system does not say (no /proc): then there is
 * nothing to record. */
int vlt_process_self(vlt_process_id *out);
typedef enum vlt_process_state {
    PROCESS_ELSEWHERE = 0, /* another domain (machine, container, boot):
                              this one cannot tell */
    PROCESS_RUNNING = 1,   /* here, and its pid runs with its start time
                              (or /proc does not answer: taken as
                              running) */
    PROCESS_GONE = 2       /* here, and no process has its pid, or the
                              one that has it started at another time */
} vlt_process_state;

vlt_process_state vlt_process_check(const vlt_process_id *p);

#endif
