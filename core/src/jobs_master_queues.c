/* jobs_master_queues.c: the master's queues: runnable jobs leased to workers with room, the attempts in flight and how each ends (result, retry, dead letter, time-out, worker gone), orphan leases, pruning. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "job_policy.h"
#include "jobs_master_internal.h"
#include "log.h"

#define EXPIRY_CHECK_MS 5000     /* how often the store is asked for leases nobody tracks */
#define KEEP_COMPLETED_MS (24LL * 3600 * 1000)   /* completed jobs (their results) are kept a day */
#define PRUNE_EVERY_MS 10000     /* ...and pruned this often, PRUNE_CHUNK at a time */
#define PRUNE_CHUNK 1000
#define RESCAN_MS 1000           /* every queue is looked at again this often (pikku queues retry
                                  * changes the file behind the master's back) */
#define LEASE_BATCH 64           /* leases taken for one worker in one store operation, at most */

typedef struct queue {
  const pk__queue_cfg *cfg;      /* into pk__jm.cfg */
  int ready;                     /* a lease may find a job: try */
  int64_t next_due;              /* its earliest delayed job (INT64_MAX: none known) */
  int *inflight;                 /* per worker slot */
  int rr;                        /* the slot to try first */
} queue;

typedef struct lease {           /* an attempt a worker runs */
  int64_t job;
  int attempt, slot;
  int64_t deadline, timeout;
  char queue[PK_JOB_QUEUE_MAX + 1];
} lease;

static struct {
  queue *queues;
  int nqueues;
  lease *leases;
  int nleases, leases_cap;
  int64_t expiry_checked, rescanned, pruned;
} Q;

static queue *find_queue(const char *name, size_t len) {
  for (int i = 0; i < Q.nqueues; i++) {
    const char *n = Q.queues[i].cfg->name;
    if (strlen(n) == len && !memcmp(n, name, len)) return &Q.queues[i];
  }
  return NULL;
}

void pk__jm_queue_wake(const char *name, size_t len, int64_t at, int64_t now) {
  queue *q = find_queue(name, len);
  if (q && at <= now) q->ready = 1;
  else if (q && at < q->next_due) q->next_due = at;
}

/* ---- leases ---- */

static lease *find_lease(int64_t job, int attempt) {
  for (int i = 0; i < Q.nleases; i++)
    if (Q.leases[i].job == job && Q.leases[i].attempt == attempt) return &Q.leases[i];
  return NULL;
}

static void drop_lease(lease *l) {
  queue *q = find_queue(l->queue, strlen(l->queue));
  if (q && q->inflight[l->slot] > 0) q->inflight[l->slot]--;
  *l = Q.leases[--Q.nleases];
}

/* Records how attempt l ended (the store's pk__job_finish) and says so in the log. */
static void finish_attempt(lease *l, int outcome, const char *payload, size_t len, int64_t now) {
  pk__jm_begin(now);
  const pk__queue_cfg *cfg = pk__jobs_config_queue(&pk__jm.cfg, l->queue, strlen(l->queue));
  int64_t at = 0;
  int end = pk__job_finish(pk__jm.store, cfg, l->job, l->attempt, outcome, payload, len, now, &at);
  char when[64];
  int plen = len > 300 ? 300 : (int)len;
  switch (end) {
  case PK_JOB_END_RETRY:
    pk__jm_queue_wake(l->queue, strlen(l->queue), at, now);
    pk__jm_iso(when, sizeof when, at);
    pk__logf("info", "queue \"%s\" job %" PRId64 " attempt %d failed (%.*s); retrying at %s", l->queue, l->job,
             l->attempt, plen, payload, when);
    break;
  case PK_JOB_END_FAILED:
    pk__logf("warn", "queue \"%s\" job %" PRId64 " failed for good after attempt %d: %.*s", l->queue, l->job,
             l->attempt, plen, payload);
    break;
  case PK_JOB_END_DEAD_LETTER: {
    queue *dq = find_queue(cfg->dead_letter, strlen(cfg->dead_letter));
    if (dq) dq->ready = 1;
    pk__logf("warn", "queue \"%s\" job %" PRId64 " failed for good after attempt %d (%.*s): moved to the"
             " dead-letter queue \"%s\"", l->queue, l->job, l->attempt, plen, payload, cfg->dead_letter);
    break;
  }
  case PK_JOB_END_COMPLETED:
  case PK_JOB_END_STALE:
    break;
  default:
    pk__jm_store_failed("recording a job's end", end, now);
  }
}

void pk__jm_on_result(int slot, const pk__job_frame *f, int64_t now) {
  lease *l = find_lease(f->job, (int)f->attempt);
  if (!l || l->slot != slot) return;   /* an attempt already timed out: its late end is ignored */
  finish_attempt(l, f->status, f->data, f->dlen, now);
  drop_lease(l);
}

void pk__jm_on_progress(int slot, const pk__job_frame *f, int64_t now) {
  lease *l = find_lease(f->job, (int)f->attempt);
  if (!l || l->slot != slot || !pk__jm.store) return;
  char *json = malloc(f->dlen + 1);
  if (!json) return;
  memcpy(json, f->data, f->dlen);
  json[f->dlen] = 0;
  pk__jm_begin(now);
  int rc = pk__job_store_progress(pk__jm.store, f->job, json, now);
  if (rc && rc != -ESTALE) pk__jm_store_failed("progress", rc, now);
  free(json);
}

void pk__jm_run_not_sent(int64_t job, int attempt) {
  lease *l = find_lease(job, attempt);
  if (!l) return;
  queue *q = find_queue(l->queue, strlen(l->queue));
  if (q) q->ready = 1;
  drop_lease(l);
}

int pk__jm_queues_worker_gone(int slot, int64_t now) {
  int released = 0;
  for (int i = 0; i < Q.nleases;) {
    lease *l = &Q.leases[i];
    if (l->slot != slot) { i++; continue; }
    pk__jm_begin(now);
    int rc = pk__job_store_release(pk__jm.store, l->job, l->attempt, now);
    if (rc < 0 && rc != -ESTALE) pk__jm_store_failed("releasing a lease", rc, now);   /* 1: back to waiting, 0: failed */
    queue *q = find_queue(l->queue, strlen(l->queue));
    if (q) q->ready = 1;
    released++;
    drop_lease(l);
  }
  for (int i = 0; i < Q.nqueues; i++) Q.queues[i].inflight[slot] = 0;
  return released;
}

/* ---- queue states ---- */

static void free_queues(queue *list, int n) {
  for (int i = 0; i < n; i++) free(list[i].inflight);
  free(list);
}

void pk__jm_queues_build(void) {
  const pk__jobs_config *cfg = &pk__jm.cfg;
  queue *list = calloc((size_t)(cfg->nqueues ? cfg->nqueues : 1), sizeof *list);
  for (int i = 0; list && i < cfg->nqueues; i++) {
    list[i].cfg = &cfg->queues[i];
    list[i].ready = 1;
    list[i].next_due = INT64_MAX;
    if (!(list[i].inflight = calloc((size_t)pk__jm.nworkers, sizeof(int)))) {
      free_queues(list, i + 1);
      list = NULL;
    }
  }
  if (!list) { pk__logf("error", "out of memory: queues not changed"); return; }
  free_queues(Q.queues, Q.nqueues);
  Q.queues = list;
  Q.nqueues = cfg->nqueues;
  for (int i = 0; i < Q.nleases; i++) {
    queue *q = find_queue(Q.leases[i].queue, strlen(Q.leases[i].queue));
    if (q) q->inflight[Q.leases[i].slot]++;
  }
}

void pk__jm_queues_stop(void) {
  free(Q.leases);
  free_queues(Q.queues, Q.nqueues);
  memset(&Q, 0, sizeof Q);
}

/* ---- the turn ---- */

static int pick_job_slot(queue *q) {
  for (int k = 0; k < pk__jm.nworkers; k++) {
    int slot = (q->rr + k) % pk__jm.nworkers;
    if (pk__jm_slot_alive(slot) && q->inflight[slot] < q->cfg->concurrency) {
      q->rr = slot + 1;
      return slot;
    }
  }
  return -1;
}

/* No job of q is runnable now: it waits for its earliest delayed job. */
static void queue_dry(queue *q) {
  q->ready = 0;
  int64_t due;
  if (pk__job_store_next_due(pk__jm.store, q->cfg->name, &due) == 0 && due < q->next_due) q->next_due = due;
}

/* Leases runnable jobs of q to workers with room: for each worker, as many as it has room for, in
 * one store operation. */
static void dispatch_queue(queue *q, int64_t now) {
  if (q->next_due <= now) {
    q->ready = 1;
    q->next_due = INT64_MAX;
  }
  pk__job jobs[LEASE_BATCH];
  while (q->ready) {
    int slot = pick_job_slot(q);
    if (slot < 0) return;
    int room = q->cfg->concurrency - q->inflight[slot], n = 0;
    if (room > LEASE_BATCH) room = LEASE_BATCH;
    if (pk__jm_grow((void **)&Q.leases, &Q.leases_cap, Q.nleases + room, sizeof *Q.leases)) return;
    pk__jm_begin(now);
    int64_t timeout = q->cfg->timeout;
    int rc = pk__job_store_lease_many(pk__jm.store, q->cfg->name, now, timeout + PK_JOB_LEASE_MARGIN_MS, slot + 1,
                                      room, jobs, &n);
    if (rc == -ENOENT) {
      queue_dry(q);
      return;
    }
    if (rc) {
      pk__jm_store_failed("lease", rc, now);
      q->ready = 0;
      q->next_due = now + 1000;
      return;
    }
    for (int i = 0; i < n; i++) {
      pk__job *job = &jobs[i];
      lease *l = &Q.leases[Q.nleases++];
      *l = (lease){.job = job->id, .attempt = job->attempts, .slot = slot, .deadline = now + timeout,
                   .timeout = timeout};
      snprintf(l->queue, sizeof l->queue, "%s", q->cfg->name);
      q->inflight[slot]++;
      pk__job_frame f = {.type = PK_HUB_JOB_RUN, .job = job->id, .attempt = (uint32_t)job->attempts, .ms = timeout,
                         .name = q->cfg->name, .nlen = strlen(q->cfg->name), .key = job->key,
                         .klen = strlen(job->key), .data = job->data ? job->data : "null",
                         .dlen = job->data ? job->dlen : 4};
      pk__jm_stage(slot, &f, PK__JM_RUN, job->id, job->attempts);
      pk__job_free(job);
    }
    if (n < room) {   /* the queue ran dry */
      queue_dry(q);
      return;
    }
  }
}

static void time_out(int64_t now) {
  for (int i = 0; i < Q.nleases;) {
    lease *l = &Q.leases[i];
    if (l->deadline > now) { i++; continue; }
    char msg[128];
    int n = snprintf(msg, sizeof msg, "timed out after %" PRId64 " ms (the queue's timeout)", l->timeout);
    finish_attempt(l, PK_OUTCOME_FAIL, msg, (size_t)n, now);
    drop_lease(l);   /* the last lease moved into slot i: look at i again */
  }
}

/* Leases the store holds that this master does not track (it restarted; a commit was lost): back
 * to waiting once they expire. */
static void expire_orphans(int64_t now) {
  if (now - Q.expiry_checked < EXPIRY_CHECK_MS) return;
  Q.expiry_checked = now;
  int64_t until;
  if (pk__job_store_next_expiry(pk__jm.store, &until) || until >= now) return;
  pk__jm_begin(now);
  int failed = 0;
  int n = pk__job_store_expire_leases(pk__jm.store, now, &failed);
  if (n < 0) { pk__jm_store_failed("expiring leases", n, now); return; }
  if (n || failed) pk__logf("warn", "job store: %d expired lease(s) back to waiting, %d failed (lease lost too often)",
                            n, failed);
  for (int i = 0; i < Q.nqueues; i++) Q.queues[i].ready = 1;
}

/* Completed jobs older than a day go, a chunk per turn while there are more (the store's
 * suggested policy: the loop never stalls on a backlog). */
static void prune(int64_t now) {
  if (now - Q.pruned < PRUNE_EVERY_MS) return;
  pk__jm_begin(now);
  int n = pk__job_store_prune_completed(pk__jm.store, now - KEEP_COMPLETED_MS, PRUNE_CHUNK);
  if (n < 0) pk__jm_store_failed("pruning completed jobs", n, now);
  if (n < PRUNE_CHUNK) Q.pruned = now;   /* a full chunk: go on next turn */
}

void pk__jm_queues_turn(int64_t now) {
  time_out(now);
  if (now - Q.rescanned >= RESCAN_MS) {
    Q.rescanned = now;
    for (int i = 0; i < Q.nqueues; i++) Q.queues[i].ready = 1;
  }
  for (int i = 0; i < Q.nqueues && !pk__jm.draining; i++)
    if (Q.queues[i].cfg->worker) dispatch_queue(&Q.queues[i], now);
  expire_orphans(now);
  if (!pk__jm.draining) prune(now);
}

int64_t pk__jm_queues_next(int64_t best) {
  for (int i = 0; i < Q.nqueues && !pk__jm.draining; i++)
    if (Q.queues[i].cfg->worker && Q.queues[i].next_due < best) best = Q.queues[i].next_due;
  for (int i = 0; i < Q.nleases; i++)
    if (Q.leases[i].deadline < best) best = Q.leases[i].deadline;
  return best;
}
