/*
 * rename_race.c - a local user racing a backup: swaps pairs of names in a
 * tight loop with renameat2(RENAME_EXCHANGE), so that whoever stats one
 * name and then opens it may find the other file there.
 *
 *     rename_race SECONDS A1 B1 [A2 B2 ...]
 *
 * Swaps each Ai with its Bi (in the same file system), pair after pair,
 * until SECONDS have passed or it is killed; prints how many swaps it
 * made.  Exit 0, or 2 when a swap fails (every name must exist).  Used by cli/test_add_small_files.sh
 * (a regular file swapped with a FIFO under add's walk).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv)
{
    if (argc < 4 || argc % 2 != 0) {
        fprintf(stderr, "usage: rename_race SECONDS A1 B1 [A2 B2 ...]\n");
        return 2;
    }
    double seconds = atof(argv[1]);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned long swaps = 0;
    for (;;) {
        for (int i = 2; i + 1 < argc; i += 2) {
            /* the system call itself: glibc 2.36 has renameat2, older
             * ones do not */
            if (syscall(SYS_renameat2, AT_FDCWD, argv[i], AT_FDCWD,
                        argv[i + 1], RENAME_EXCHANGE) != 0) {
                fprintf(stderr, "rename_race: %s <-> %s: %s\n", argv[i],
                        argv[i + 1], strerror(errno));
                return 2;
            }
            swaps++;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((double)(now.tv_sec - start.tv_sec) +
                (double)(now.tv_nsec - start.tv_nsec) / 1e9 >=
            seconds)
            break;
    }
    printf("%lu\n", swaps);
    return 0;
}
