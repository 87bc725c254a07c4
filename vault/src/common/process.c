/*
 * process.c - process identities for add markers (process.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/internal.h"
#include "common/process.h"

#define DOMAIN_LABEL "vault/v2 process domain"

/* Up to size - 1 bytes of a small /proc file, NUL-terminated; -1 if it
 * cannot be read. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, size - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static int domain_of_self(uint8_t out[PROCESS_DOMAIN_BYTES])
{
    char boot[64], ns[64];
    ssize_t boot_len = read_small("/proc/sys/kernel/random/boot_id", boot,
                                  sizeof boot);
    ssize_t ns_len = readlink("/proc/self/ns/pid", ns, sizeof ns - 1);
    if (boot_len <= 0 || ns_len <= 0)
        return 0;
    crypto_hash_sha256_state h;
    crypto_hash_sha256_init(&h);
    crypto_hash_sha256_update(&h, (const uint8_t *)DOMAIN_LABEL,
                              sizeof DOMAIN_LABEL);
    crypto_hash_sha256_update(&h, (const uint8_t *)boot, (size_t)boot_len);
    crypto_hash_sha256_update(&h, (const uint8_t *)ns, (size_t)ns_len);
    crypto_hash_sha256_final(&h, out);
    return 1;
}

/* Field 22 of /proc/PID/stat (starttime); 0 if pid has no process, 1 if
 * found, -1 if it cannot be told. */
static int start_of(uint32_t pid, uint64_t *start)
{
    char path[64], stat[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)pid);
    if (read_small(path, stat, sizeof stat) < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    /* The name (field 2) is in parentheses and may hold anything, ')'
     * too: the fields after it follow the last ')'. */
    const char *p = strrchr(stat, ')');
    if (!p)
        return -1;
    p++;
    for (int field = 2; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p || errno != 0)
        return -1;
    *start = v;
    return 1;
}

int vlt_process_self(vlt_process_id *out)
{
    memset(out, 0, sizeof *out);
    out->pid = (uint32_t)getpid();
    return domain_of_self(out->domain) && start_of(out->pid, &out->start) == 1;
}

vlt_process_state vlt_process_check(const vlt_process_id *p)
{
    uint8_t mine[PROCESS_DOMAIN_BYTES];
    if (!domain_of_self(mine) || memcmp(mine, p->domain, sizeof mine) != 0)
        return PROCESS_ELSEWHERE;
    uint64_t start;
    int found = start_of(p->pid, &start);
    return found == 0 || (found == 1 && start != p->start) ? PROCESS_GONE
                                                           : PROCESS_RUNNING;
}
