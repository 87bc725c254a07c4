/*
 * retry.c - exponential backoff with full jitter, bounded in total time
 * (retry.h).  Full jitter (a random wait between 0 and the cap) keeps
 * clients that failed together from retrying together.
 */
#include <errno.h>
#include <sodium.h>
#include <time.h>

#include "common/interrupt.h"
#include "common/retry.h"

double vlt_monotonic_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void vlt_sleep_seconds(double s)
{
    struct timespec ts;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void vlt_retry_start(retry_state *r, const retry_policy *policy)
{
    r->policy = *policy;
    if (r->policy.first_delay <= 0)
        r->policy.first_delay = 0.5;
    if (r->policy.max_delay <= 0)
        r->policy.max_delay = 30;
    if (r->policy.total <= 0)
        r->policy.total = 120;
    r->started = vlt_monotonic_seconds();
    r->next_cap = r->policy.first_delay;
    r->attempts = 1;
}

int vlt_retry_wait(retry_state *r, double at_least)
{
    /* A uniform fraction in [0, 1] from 32 random bits. */
    double fraction = (double)randombytes_random() / 4294967295.0;
    double wait = r->next_cap * fraction;
    if (at_least > wait)
        wait = at_least;
    if (wait > r->policy.max_delay && at_least <= r->policy.max_delay)
        wait = r->policy.max_delay;
    double elapsed = vlt_monotonic_seconds() - r->started;
    if (elapsed + wait > r->policy.total)
        return 0;
    /* In slices, so that an interruption ends the wait soon: the
     * caller's next attempt then stops (common/interrupt.h). */
    for (double left = wait; left > 0 && !vlt_interrupted(); left -= 0.1)
        vlt_sleep_seconds(left < 0.1 ? left : 0.1);
    if (vlt_interrupted())
        return 0;
    r->next_cap *= 2;
    if (r->next_cap > r->policy.max_delay)
        r->next_cap = r->policy.max_delay;
    r->attempts++;
    return 1;
}
