/*
 * io_uring_filter - runs a command with io_uring refused or forbidden, by
 * a seccomp filter on io_uring_setup(2), as container runtimes do (Docker's
 * default profile refuses it).
 *
 *   io_uring_filter refuse CMD [ARG...]   io_uring_setup fails with EPERM
 *   io_uring_filter forbid CMD [ARG...]   io_uring_setup kills the process
 *                                         (SIGSYS): proves CMD calls it
 *
 * tests/cli/test_add_small_files.sh runs `vault add` under both: with
 * io_uring refused it must read through plain system calls and store the
 * same tree; forbidden, it must die, or the test proved nothing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#else
#error "io_uring_filter: add this architecture's AUDIT_ARCH_*"
#endif

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "refuse") && strcmp(argv[1], "forbid"))) {
        fprintf(stderr, "usage: io_uring_filter refuse|forbid CMD [ARG...]\n");
        return 2;
    }
    unsigned action = strcmp(argv[1], "refuse") == 0
                          ? SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)
                          : SECCOMP_RET_KILL_PROCESS;
    struct sock_filter filter[] = {
        /* another architecture's calls: allowed (not ours to judge) */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0],
                              .filter = filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        perror("io_uring_filter: seccomp");
        return 2;
    }
    execvp(argv[2], argv + 2);
    perror(argv[2]);
    return 127;
}
