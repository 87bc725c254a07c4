/*
 * retry.h - the one retry loop: exponential backoff with full jitter,
 * bounded in total time.  Used by every remote request (backend/http.c)
 * and by anything else that waits for a transient condition to pass.
 *
 *     retry_state r;
 *     vlt_retry_start(&r, &policy);
 *     for (;;) {
 *         rc = attempt();
 *         if (rc == VAULT_OK || !vault_error_is_transient(rc) ||
 *             !vlt_retry_wait(&r))
 *             break;
 *     }
 */
#ifndef VAULT_RETRY_H
#define VAULT_RETRY_H

#include <stdint.h>

typedef struct retry_policy {
    double first_delay; /* seconds before the second attempt; 0: 0.5 */
    double max_delay;   /* cap on one wait; 0: 30 */
    double total;       /* give up once this much time has passed; 0: 120 */
} retry_policy;

typedef struct retry_state {
    retry_policy policy;
    double started; /* monotonic seconds */
    double next_cap;
    unsigned attempts;
} retry_state;

void vlt_retry_start(retry_state *r, const retry_policy *policy);
/* Sleeps a random time up to the current cap (which then doubles, up to
 * max_delay) and returns 1, or returns 0 without sleeping when the wait
 * would end past the total budget.  at_least: a server's Retry-After in
 * seconds (0 if none), waited instead when it is longer and fits. */
int vlt_retry_wait(retry_state *r, double at_least);
/* Seconds on a clock that never goes back. */
double vlt_monotonic_seconds(void);
/* Sleeps s seconds, through interruptions by signals. */
void vlt_sleep_seconds(double s);

#endif
