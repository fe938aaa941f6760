/* jobs_master_internal.h: what the files of the master's jobs (jobs_master*.c) share: their context and the calls between them (pk__jm_). */
#ifndef PK_JOBS_MASTER_INTERNAL_H
#define PK_JOBS_MASTER_INTERNAL_H
#include <stddef.h>
#include <stdint.h>
#include "hub.h"
#include "hub_jobs.h"
#include "job_store.h"
#include "jobs_config.h"
#include "options.h"

/* The parts:
 *   jobs_master.c            the API of jobs_master.h: start, reload, the turn, stop; hub frames routed
 *   jobs_master_store.c      the job store, the turn's transaction, frames staged until it commits
 *   jobs_master_requests.c   a worker's add, get and counts, answered from the store
 *   jobs_master_queues.c     queues: jobs leased to workers, attempts in flight and how they end
 *   jobs_master_schedules.c  schedules: cron ticks fired on one worker each, catch_up */

/* What every part reads. Set by pk__jobs_master_start; cfg replaced on reload; store set by
 * jobs_master_store.c (NULL until it is open). */
typedef struct pk__jm_context {
  pk__hub *hub;
  int nworkers;
  const pk__options *o;
  pk__jobs_config cfg;
  pk__job_store *store;
  int draining;                  /* stopping: nothing new is handed out */
} pk__jm_context;
extern pk__jm_context pk__jm;

/* ---- jobs_master.c: small helpers ---- */

/* Grows the array *p (of *cap elements of size bytes) to hold need. Returns 0 or -ENOMEM. */
int pk__jm_grow(void **p, int *cap, int need, size_t size);
/* ms as an ISO 8601 time in UTC, for the log. */
void pk__jm_iso(char *out, size_t n, int64_t ms);
/* 1 when the worker in slot is connected to the hub. */
int pk__jm_slot_alive(int slot);

/* ---- jobs_master_store.c ---- */

/* What a staged frame is, for the turn's end: sent whether the transaction commits or not; an
 * ADDED answer, which becomes an error when it does not; a RUN, which is then not sent. */
enum { PK__JM_ALWAYS, PK__JM_ADDED, PK__JM_RUN };

/* At start: the per-worker buffers of staged frames. Returns 0 or -ENOMEM. */
int pk__jm_store_init(void);
/* At start, with the app's config read: the store's path, and the store opened (and recovered:
 * active jobs back to waiting) when the app declares a queue or schedule or the store exists.
 * Returns 0, or a negative errno with err set. */
int pk__jm_store_start(char *err, size_t errlen);
/* The store, opened on first need: 1 when it is open, else 0 (the failure logged, at most every
 * 10 s; pk__jm_store_open_error says why). */
int pk__jm_store_ready(int64_t now);
const char *pk__jm_store_open_error(void);
/* Logs a failed store operation (at most every 10 s). */
void pk__jm_store_failed(const char *what, int rc, int64_t now);
/* Opens the turn's transaction unless it is open (or there is no store). */
void pk__jm_begin(int64_t now);
/* Queues frame f for the worker in slot, to be sent at the end of the turn; kind PK__JM_*, job and
 * attempt: the ADDED answer's job or the RUN's attempt. */
void pk__jm_stage(int slot, const pk__job_frame *f, int kind, int64_t job, int attempt);
/* The end of the turn: commits its transaction (when it does not: ADDED answers become errors, RUN
 * frames are not sent, their leases dropped), then hands the staged frames to the hub. */
void pk__jm_commit_and_send(void);
/* The worker in slot is gone: what was staged for it is dropped with its socket. */
void pk__jm_store_worker_gone(int slot);
/* Commits what is open, frees the staged frames, closes the store. */
void pk__jm_store_stop(void);

/* ---- jobs_master_requests.c: a worker's requests, answered by staged frames ---- */

void pk__jm_on_add(int slot, const pk__job_frame *f, int64_t now);
void pk__jm_on_get(int slot, const pk__job_frame *f, int64_t now);
void pk__jm_on_counts(int slot, const pk__job_frame *f, int64_t now);

/* ---- jobs_master_queues.c ---- */

/* Queue states for pk__jm.cfg (every queue ready: a lease will tell), the jobs in flight recounted. */
void pk__jm_queues_build(void);
/* A job of the queue named name becomes runnable at `at`: the queue is looked at then. */
void pk__jm_queue_wake(const char *name, size_t len, int64_t at, int64_t now);
/* A worker's report on an attempt it runs: its end, its progress. */
void pk__jm_on_result(int slot, const pk__job_frame *f, int64_t now);
void pk__jm_on_progress(int slot, const pk__job_frame *f, int64_t now);
/* The queues' part of a turn: time-outs, leases to workers with room, orphan leases, pruning. */
void pk__jm_queues_turn(int64_t now);
/* The earlier of best and the next delayed job or time-out. */
int64_t pk__jm_queues_next(int64_t best);
/* The RUN frame of this attempt was not sent (the turn did not commit): its lease is dropped. */
void pk__jm_run_not_sent(int64_t job, int attempt);
/* The worker in slot is gone: its jobs back to waiting. Returns how many. */
int pk__jm_queues_worker_gone(int slot, int64_t now);
void pk__jm_queues_stop(void);

/* ---- jobs_master_schedules.c ---- */

/* New schedule states for cfg; one whose name, expression and zone are unchanged keeps its next tick. */
void pk__jm_schedules_build(const pk__jobs_config *cfg);
/* Fires every tick that is due (each on one worker). */
void pk__jm_fire_due(int64_t now);
/* The earlier of best and the next tick. */
int64_t pk__jm_schedules_next(int64_t best);
/* A worker's report that a tick's run ended. */
void pk__jm_on_tick_done(int slot, const pk__job_frame *f);
/* The worker in slot is gone: its runs stop counting as running. */
void pk__jm_schedules_worker_gone(int slot);
void pk__jm_schedules_stop(void);
#endif
