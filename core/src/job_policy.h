/* job_policy.h: what happens after a job's attempt (complete, retry with back-off, fail, dead letter) and a job as JSON; shared by the master and pikku test's store. */
#ifndef PK_JOB_POLICY_H
#define PK_JOB_POLICY_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "job_store.h"
#include "jobs_config.h"

/* A lease lasts the queue's timeout plus this margin: the master times an attempt out itself at
 * the timeout; the store's lease is what a master that died leaves behind. */
#define PK_JOB_LEASE_MARGIN_MS 5000

/* The wait before the retry that follows failed attempt `attempt` (1 = the first): retry_delay for
 * "fixed"; retry_delay * 2^(attempt-1) for "exponential" (capped at 2^31 - 1 ms, about 24.8 days). */
int64_t pk__job_retry_delay(const pk__queue_cfg *q, int attempt);

/* How an attempt's end was recorded. */
enum {
  PK_JOB_END_COMPLETED,
  PK_JOB_END_RETRY,         /* *retry_at: when */
  PK_JOB_END_FAILED,        /* for good: no attempts left, or discarded */
  PK_JOB_END_DEAD_LETTER,   /* failed for good and moved to the queue's dead_letter queue */
  PK_JOB_END_STALE,         /* a late report of an attempt already timed out, or of a job gone */
};

/* Records the end of attempt `attempt` of job `id` (of queue q, which may be NULL: no retries, no
 * dead letter): outcome PK_OUTCOME_* (hub_jobs.h), payload the result's JSON (empty: none) or the
 * error message. Returns PK_JOB_END_* (a value), or a negative errno from the store. */
int pk__job_finish(pk__job_store *s, const pk__queue_cfg *q, int64_t id, int attempt, int outcome,
                   const char *payload, size_t len, int64_t now_ms, int64_t *retry_at);

/* Appends job j as the JSON object services.queue:get_job returns: {"id", "queue", "status"
 * ("waiting" | "delayed" | "active" | "completed" | "failed"; a delayed job already due is
 * "waiting"), "data", "result"?, "attempts", "error"?, "progress"?, "runAt", "createdAt",
 * "finishedAt"?} (times in Unix ms). Returns 0 or -ENOMEM. */
int pk__job_to_json(pk__buf *out, const pk__job *j, int64_t now_ms);
/* The status name of j as pk__job_to_json gives it. */
const char *pk__job_status_name(const pk__job *j, int64_t now_ms);
#endif
