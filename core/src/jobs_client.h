/* jobs_client.h: a worker's end of the job frames: adds and reads that resume a call, runs and ticks for the app. */
#ifndef PK_JOBS_CLIENT_H
#define PK_JOBS_CLIENT_H
#include <stddef.h>
#include <stdint.h>
#include "host.h"

/* Takes the hub client's job frames (RUN, TICK, and the answers to ADD and GET). Call once the
 * hub client runs. */
void pk__jobs_client_start(void);
/* The master is gone: every call waiting for an answer is resumed with (nil, message). */
void pk__jobs_client_lost(void);

/* Jobs and ticks this worker runs now (a value): a draining worker waits for them. */
int pk__jobs_client_busy(void);

/* Sends ADD. When the master has committed it, the call waiting on token in h is resumed with
 * (job id, existed) or (nil, message). Returns 0, or -ENOTCONN (no hub), -EMSGSIZE, -ENOBUFS,
 * -ENOMEM: then nothing is sent and nothing will be resumed. */
int pk__jobs_client_add(pk__host *h, double token, const char *queue, size_t qlen, const char *key,
                        size_t klen, const char *data, size_t dlen, uint32_t priority, int64_t delay_ms);
/* Sends GET. The call is resumed with the job as JSON text, or nil when there is no such job, or
 * (nil, message). Returns as pk__jobs_client_add. */
int pk__jobs_client_get(pk__host *h, double token, const char *queue, size_t qlen, const char *key,
                        size_t klen);

/* Sends COUNTS. The call is resumed with the queue's counts as JSON text, or (nil, message). */
int pk__jobs_client_counts(pk__host *h, double token, const char *queue, size_t qlen);

/* Reports how a run of job `job` (attempt `attempt`) ended: outcome PK_OUTCOME_*, payload the
 * result's JSON or the error message. Returns 0 or a negative errno (the master then times the
 * attempt out). */
int pk__jobs_client_result(int64_t job, uint32_t attempt, int outcome, const char *payload, size_t len);
int pk__jobs_client_progress(int64_t job, uint32_t attempt, const char *json, size_t len);
/* Reports how the run of schedule `name`'s tick at execution_ms ended (PK_OUTCOME_OK, _FAIL or
 * _SKIPPED; message: the error or the reason). */
int pk__jobs_client_tick_done(const char *name, size_t nlen, int64_t execution_ms, int outcome,
                              const char *message, size_t mlen);
#endif
