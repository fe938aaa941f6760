/* jobs_master.c: the master's jobs and schedules: owns the job store, fires each cron tick on exactly one worker, leases jobs to workers with room, applies retries, time-outs and dead letters. */
#include "jobs_master.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "cron.h"
#include "hub_jobs.h"
#include "job_policy.h"
#include "job_store.h"
#include "jobs_config.h"
#include "jobs_store_path.h"
#include "log.h"

/* pikku's own queue of schedule states: one waiting job per schedule (key "s:" + name) that no
 * worker runs; its progress field holds the last tick handed to a worker (for catch_up). */
#define SCHEDULES_QUEUE "pikku:schedules"
#define LATE_MS 60000            /* a tick this late (the master was stopped, the clock jumped) is not run */
#define EXPIRY_CHECK_MS 5000     /* how often the store is asked for leases nobody tracks */
#define CATCH_UP_COUNT_MAX 100000
#define LOG_EVERY_MS 10000       /* a repeated store failure is logged at most this often */
#define KEEP_COMPLETED_MS (24LL * 3600 * 1000)   /* completed jobs (their results) are kept a day */
#define PRUNE_EVERY_MS 10000     /* ...and pruned this often, PRUNE_CHUNK at a time */
#define PRUNE_CHUNK 1000
#define RESCAN_MS 1000           /* every queue is looked at again this often (pikku queues retry
                                  * changes the file behind the master's back) */

typedef struct sched {
  char *name, *expr, *tz_name;   /* copies */
  int overlap_allow, catch_up;
  int valid;                     /* the expression and zone parsed */
  pk__cron cron;
  pk__tz *tz;
  int64_t next;                  /* the next tick (Unix ms), -1: none */
  int64_t state_id;              /* its job in SCHEDULES_QUEUE (0: not known yet) */
} sched;

typedef struct tick { char *name; int slot; int64_t ms; } tick;   /* a run in flight */

typedef struct queue {
  const pk__queue_cfg *cfg;      /* into M.cfg */
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

/* A staged frame that holds only if the turn's transaction commits. */
enum { DEP_ADDED, DEP_RUN };
typedef struct dep { int slot, kind, attempt, dropped; size_t off, len; int64_t job; } dep;

static struct {
  pk__hub *hub;
  int nworkers;
  const pk__options *o;
  pk__jobs_config cfg;
  sched *scheds;
  int nscheds, scheds_started;
  queue *queues;
  int nqueues;
  tick *ticks;
  int nticks, ticks_cap;
  lease *leases;
  int nleases, leases_cap;
  pk__job_store *store;
  char path[4096];
  char open_err[512];
  int64_t open_logged, fail_logged, expiry_checked, rescanned, pruned;
  int batch;                     /* a transaction is open for this turn */
  pk__buf *staged;               /* per slot: frames for that worker, sent after the commit */
  dep *deps;
  int ndeps, deps_cap;
  int rr_tick;
  int draining;                  /* stopping: nothing new is handed out */
} M;

/* ---- small helpers ---- */

static int grow(void **p, int *cap, int need, size_t size) {
  if (need <= *cap) return 0;
  int n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, (size_t)n * size);
  if (!q) return -ENOMEM;
  *p = q;
  *cap = n;
  return 0;
}

static void iso(char *out, size_t n, int64_t ms) { pk__cron_format_iso(out, n, NULL, ms); }

static int slot_alive(int slot) { return M.hub->peers[slot].fd >= 0; }

static queue *find_queue(const char *name, size_t len) {
  for (int i = 0; i < M.nqueues; i++) {
    const char *n = M.queues[i].cfg->name;
    if (strlen(n) == len && !memcmp(n, name, len)) return &M.queues[i];
  }
  return NULL;
}

/* The store, opened on first need. */
static int store_ready(int64_t now) {
  if (M.store) return 1;
  int rc = pk__jobs_store_open(M.o, M.path, &M.store, M.open_err, sizeof M.open_err);
  if (rc == 0) {
    pk__logf("info", "job store %s opened", M.path);
    return 1;
  }
  M.store = NULL;
  if (now - M.open_logged >= LOG_EVERY_MS) {
    pk__logf("error", "%s", M.open_err);
    M.open_logged = now;
  }
  return 0;
}

static void store_failed(const char *what, int rc, int64_t now) {
  if (now - M.fail_logged < LOG_EVERY_MS) return;
  M.fail_logged = now;
  pk__logf("error", "job store %s: %s failed: %s", M.path, what, M.store ? pk__job_store_error(M.store) : strerror(-rc));
}

static void begin(int64_t now) {
  if (M.batch || !M.store) return;
  int rc = pk__job_store_begin(M.store);
  if (rc) store_failed("begin", rc, now);
  else M.batch = 1;
}

/* Queues frame f for the worker in slot, to be sent at the end of the turn. */
static void stage(int slot, const pk__job_frame *f, int kind, int64_t job, int attempt) {
  pk__buf *b = &M.staged[slot];
  size_t off = b->len;
  if (pk__hub_encode_job(b, f)) {
    pk__logf("error", "hub: cannot queue a job frame (type %d) for worker %d", f->type, slot + 1);
    return;
  }
  if (kind < 0) return;
  if (grow((void **)&M.deps, &M.deps_cap, M.ndeps + 1, sizeof *M.deps)) return;
  M.deps[M.ndeps++] = (dep){slot, kind, attempt, 0, off, b->len - off, job};
}

/* ---- leases ---- */

static lease *find_lease(int64_t job, int attempt) {
  for (int i = 0; i < M.nleases; i++)
    if (M.leases[i].job == job && M.leases[i].attempt == attempt) return &M.leases[i];
  return NULL;
}

static void drop_lease(lease *l) {
  queue *q = find_queue(l->queue, strlen(l->queue));
  if (q && q->inflight[l->slot] > 0) q->inflight[l->slot]--;
  *l = M.leases[--M.nleases];
}

/* Records how attempt l ended (the store's pk__job_finish) and says so in the log. */
static void finish_attempt(lease *l, int outcome, const char *payload, size_t len, int64_t now) {
  begin(now);
  const pk__queue_cfg *cfg = pk__jobs_config_queue(&M.cfg, l->queue, strlen(l->queue));
  int64_t at = 0;
  int end = pk__job_finish(M.store, cfg, l->job, l->attempt, outcome, payload, len, now, &at);
  char when[64];
  int plen = len > 300 ? 300 : (int)len;
  switch (end) {
  case PK_JOB_END_RETRY: {
    queue *q = find_queue(l->queue, strlen(l->queue));
    if (q && at <= now) q->ready = 1;
    else if (q && at < q->next_due) q->next_due = at;
    iso(when, sizeof when, at);
    pk__logf("info", "queue \"%s\" job %" PRId64 " attempt %d failed (%.*s); retrying at %s", l->queue, l->job,
             l->attempt, plen, payload, when);
    break;
  }
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
    store_failed("recording a job's end", end, now);
  }
}

/* ---- frames from workers ---- */

static void reply_error(int slot, int type, uint32_t req, int status, const char *msg) {
  pk__job_frame r = {.type = type, .req = req, .status = status < 0 ? status : -EIO, .data = msg,
                     .dlen = msg ? strlen(msg) : 0};
  stage(slot, &r, -1, 0, 0);
}

static void on_add(int slot, const pk__job_frame *f, int64_t now) {
  char name[PK_JOB_QUEUE_MAX + 1], key[PK_JOB_KEY_MAX + 1];
  if (f->nlen == 0 || f->nlen > PK_JOB_QUEUE_MAX || f->klen > PK_JOB_KEY_MAX) {
    reply_error(slot, PK_HUB_JOB_ADDED, f->req, -EINVAL, "the queue name or the job_id is too long");
    return;
  }
  if (!store_ready(now)) { reply_error(slot, PK_HUB_JOB_ADDED, f->req, -EIO, M.open_err); return; }
  memcpy(name, f->name, f->nlen);
  name[f->nlen] = 0;
  memcpy(key, f->key, f->klen);
  key[f->klen] = 0;
  const pk__queue_cfg *cfg = pk__jobs_config_queue(&M.cfg, f->name, f->nlen);
  begin(now);
  int64_t id = 0;
  int existed = 0;
  int64_t run_at = now + (f->ms > 0 ? f->ms : 0);
  int rc = pk__job_store_add(M.store, name, f->klen ? key : NULL, f->data, f->dlen, (int)f->priority, run_at,
                             cfg ? cfg->retry_attempts + 1 : 1, now, &id, &existed);
  if (rc) {
    reply_error(slot, PK_HUB_JOB_ADDED, f->req, rc, pk__job_store_error(M.store));
    return;
  }
  char idbuf[32];
  pk__job_frame r = {.type = PK_HUB_JOB_ADDED, .req = f->req, .flag = (uint8_t)existed};
  if (f->klen) {
    r.key = key;
    r.klen = f->klen;
  } else {
    r.klen = (size_t)snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    r.key = idbuf;
  }
  stage(slot, &r, DEP_ADDED, id, 0);
  queue *q = find_queue(f->name, f->nlen);
  if (q && !existed) {
    if (run_at <= now) q->ready = 1;
    else if (run_at < q->next_due) q->next_due = run_at;
  }
}

static void on_get(int slot, const pk__job_frame *f, int64_t now) {
  char name[PK_JOB_QUEUE_MAX + 1], key[PK_JOB_KEY_MAX + 1];
  if (f->nlen == 0 || f->nlen > PK_JOB_QUEUE_MAX || f->klen == 0 || f->klen > PK_JOB_KEY_MAX) {
    pk__job_frame r = {.type = PK_HUB_JOB_INFO, .req = f->req};   /* no such job */
    stage(slot, &r, -1, 0, 0);
    return;
  }
  if (!store_ready(now)) { reply_error(slot, PK_HUB_JOB_INFO, f->req, -EIO, M.open_err); return; }
  memcpy(name, f->name, f->nlen);
  name[f->nlen] = 0;
  memcpy(key, f->key, f->klen);
  key[f->klen] = 0;
  pk__job job;
  int rc = pk__job_store_get(M.store, name, key, &job);
  pk__job_frame r = {.type = PK_HUB_JOB_INFO, .req = f->req};
  if (rc == -ENOENT) { stage(slot, &r, -1, 0, 0); return; }
  if (rc) { reply_error(slot, PK_HUB_JOB_INFO, f->req, rc, pk__job_store_error(M.store)); return; }
  pk__buf json;
  pk__buf_init(&json);
  if (pk__job_to_json(&json, &job, now)) {
    reply_error(slot, PK_HUB_JOB_INFO, f->req, -ENOMEM, "out of memory");
  } else {
    r.data = json.data;
    r.dlen = json.len;
    stage(slot, &r, -1, 0, 0);
  }
  pk__buf_free(&json);
  pk__job_free(&job);
}

static void on_counts(int slot, const pk__job_frame *f, int64_t now) {
  char name[PK_JOB_QUEUE_MAX + 1];
  if (f->nlen == 0 || f->nlen > PK_JOB_QUEUE_MAX) {
    reply_error(slot, PK_HUB_JOB_INFO, f->req, -EINVAL, "bad queue name");
    return;
  }
  if (!store_ready(now)) { reply_error(slot, PK_HUB_JOB_INFO, f->req, -EIO, M.open_err); return; }
  memcpy(name, f->name, f->nlen);
  name[f->nlen] = 0;
  pk__job_counts c;
  int rc = pk__job_store_counts(M.store, name, now, &c);
  if (rc) { reply_error(slot, PK_HUB_JOB_INFO, f->req, rc, pk__job_store_error(M.store)); return; }
  char json[256];
  int n = snprintf(json, sizeof json, "{\"waiting\":%" PRId64 ",\"delayed\":%" PRId64 ",\"active\":%" PRId64
                   ",\"completed\":%" PRId64 ",\"failed\":%" PRId64 "}", c.waiting, c.delayed, c.active,
                   c.completed, c.failed);
  pk__job_frame r = {.type = PK_HUB_JOB_INFO, .req = f->req, .data = json, .dlen = (size_t)n};
  stage(slot, &r, -1, 0, 0);
}

static void on_result(int slot, const pk__job_frame *f, int64_t now) {
  lease *l = find_lease(f->job, (int)f->attempt);
  if (!l || l->slot != slot) return;   /* an attempt already timed out: its late end is ignored */
  finish_attempt(l, f->status, f->data, f->dlen, now);
  drop_lease(l);
}

static void on_progress(int slot, const pk__job_frame *f, int64_t now) {
  lease *l = find_lease(f->job, (int)f->attempt);
  if (!l || l->slot != slot || !M.store) return;
  char *json = malloc(f->dlen + 1);
  if (!json) return;
  memcpy(json, f->data, f->dlen);
  json[f->dlen] = 0;
  begin(now);
  int rc = pk__job_store_progress(M.store, f->job, json, now);
  if (rc && rc != -ESTALE) store_failed("progress", rc, now);
  free(json);
}

static void on_tick_done(int slot, const pk__job_frame *f) {
  for (int i = 0; i < M.nticks; i++) {
    tick *t = &M.ticks[i];
    if (t->slot != slot || t->ms != f->ms || strlen(t->name) != f->nlen || memcmp(t->name, f->name, f->nlen)) continue;
    char when[64];
    iso(when, sizeof when, t->ms);
    int mlen = f->dlen > 300 ? 300 : (int)f->dlen;
    if (f->status == PK_OUTCOME_SKIPPED)
      pk__logf("info", "schedule \"%s\": the run at %s skipped itself: %.*s", t->name, when, mlen, f->data);
    else if (f->status != PK_OUTCOME_OK)
      pk__logf("warn", "schedule \"%s\": the run at %s failed: %.*s", t->name, when, mlen, f->data);
    free(t->name);
    *t = M.ticks[--M.nticks];
    return;
  }
}

static int on_frame(int slot, const pk__hub_frame *raw, void *ud) {
  pk__job_frame f;
  if (pk__hub_parse_job(raw, &f)) return -EPROTO;
  int64_t now = pk__wall_ms();
  switch (f.type) {
  case PK_HUB_JOB_ADD: on_add(slot, &f, now); return 0;
  case PK_HUB_JOB_GET: on_get(slot, &f, now); return 0;
  case PK_HUB_JOB_COUNTS: on_counts(slot, &f, now); return 0;
  case PK_HUB_JOB_RESULT: on_result(slot, &f, now); return 0;
  case PK_HUB_JOB_PROGRESS: on_progress(slot, &f, now); return 0;
  case PK_HUB_TICK_DONE: on_tick_done(slot, &f); return 0;
  default: return -EPROTO;   /* a frame only the master sends */
  }
}

/* ---- schedules ---- */

static int running(const sched *s) {
  int n = 0;
  for (int i = 0; i < M.nticks; i++) n += !strcmp(M.ticks[i].name, s->name);
  return n;
}

static int pick_tick_slot(void) {
  for (int k = 0; k < M.nworkers; k++) {
    int slot = (M.rr_tick + k) % M.nworkers;
    if (slot_alive(slot)) {
      M.rr_tick = slot + 1;
      return slot;
    }
  }
  return -1;
}

/* The schedule's state job in SCHEDULES_QUEUE: its key. */
static void state_key(const sched *s, char *out, size_t n) { snprintf(out, n, "s:%s", s->name); }

/* Records that the tick at t was handed out (for catch_up after a restart). */
static void record_tick(sched *s, int64_t t, int64_t now) {
  if (!M.store) return;
  begin(now);
  int rc;
  if (!s->state_id) {
    char key[PK_JOB_KEY_MAX + 1];
    state_key(s, key, sizeof key);
    if ((rc = pk__job_store_add(M.store, SCHEDULES_QUEUE, key, "{}", 2, 0, now, 1, now, &s->state_id, NULL))) {
      store_failed("recording a schedule's tick", rc, now);
      s->state_id = 0;
      return;
    }
  }
  char v[32];
  snprintf(v, sizeof v, "%" PRId64, t);
  if ((rc = pk__job_store_progress(M.store, s->state_id, v, now))) store_failed("recording a schedule's tick", rc, now);
}

/* The last tick recorded for s: 0 and *t, or -ENOENT. */
static int last_tick(sched *s, int64_t *t) {
  char key[PK_JOB_KEY_MAX + 1];
  state_key(s, key, sizeof key);
  pk__job job;
  int rc = pk__job_store_get(M.store, SCHEDULES_QUEUE, key, &job);
  if (rc) return rc;
  s->state_id = job.id;
  rc = job.progress ? 0 : -ENOENT;
  if (!rc) *t = strtoll(job.progress, NULL, 10);
  pk__job_free(&job);
  return rc;
}

static void fire(sched *s, int64_t t, int catch_up, int64_t now) {
  char when[64];
  iso(when, sizeof when, t);
  if (!s->overlap_allow && running(s)) {
    pk__logf("warn", "schedule \"%s\": the tick at %s is skipped: the previous run is still going"
             " (overlap = \"skip\")", s->name, when);
    return;
  }
  int slot = pick_tick_slot();
  if (slot < 0) {
    pk__logf("warn", "schedule \"%s\": the tick at %s is skipped: no worker is running", s->name, when);
    return;
  }
  if (grow((void **)&M.ticks, &M.ticks_cap, M.nticks + 1, sizeof *M.ticks)) return;
  char *name = strdup(s->name);
  if (!name) return;
  M.ticks[M.nticks++] = (tick){name, slot, t};
  pk__job_frame f = {.type = PK_HUB_TICK, .ms = t, .flag = (uint8_t)catch_up, .name = s->name, .nlen = strlen(s->name)};
  stage(slot, &f, -1, 0, 0);
  record_tick(s, t, now);
}

/* At start (or when a schedule first appears): the first tick after now; with catch_up, one run
 * for the ticks missed since the last one recorded. */
static void start_schedule(sched *s, int64_t now) {
  s->next = pk__cron_next(&s->cron, s->tz, now);
  int64_t last;
  if (!s->catch_up || !M.store || last_tick(s, &last) || last >= now) return;
  int64_t latest = -1, t = pk__cron_next(&s->cron, s->tz, last);
  int n = 0;
  while (t >= 0 && t <= now && n < CATCH_UP_COUNT_MAX) {
    latest = t;
    n++;
    t = pk__cron_next(&s->cron, s->tz, t);
  }
  if (n == 0) return;
  char a[64], b[64];
  iso(a, sizeof a, last);
  iso(b, sizeof b, latest);
  pk__logf("info", "schedule \"%s\": %d tick(s)%s missed since %s; catch_up: one run for the tick at %s", s->name, n,
           n >= CATCH_UP_COUNT_MAX ? " or more" : "", a, b);
  fire(s, latest, 1, now);
}

static void fire_due(int64_t now) {
  if (!M.scheds_started) {   /* the first turn: the workers are up */
    M.scheds_started = 1;
    for (int i = 0; i < M.nscheds; i++)
      if (M.scheds[i].valid && M.scheds[i].next == -2) start_schedule(&M.scheds[i], now);
  }
  for (int i = 0; i < M.nscheds; i++) {
    sched *s = &M.scheds[i];
    if (s->valid && s->next == -2) start_schedule(s, now);   /* appeared in a reload */
    while (s->valid && s->next >= 0 && s->next <= now) {
      int64_t t = s->next;
      if (now - t > LATE_MS) {
        s->next = pk__cron_next(&s->cron, s->tz, now);
        char a[64], b[64];
        iso(a, sizeof a, t);
        iso(b, sizeof b, s->next);
        pk__logf("warn", "schedule \"%s\": the ticks from %s on were not run (the master was stopped or the"
                 " clock jumped); the next is at %s", s->name, a, b);
        break;
      }
      fire(s, t, 0, now);
      s->next = pk__cron_next(&s->cron, s->tz, t);
    }
  }
}

static void free_scheds(sched *list, int n) {
  for (int i = 0; i < n; i++) {
    free(list[i].name);
    free(list[i].expr);
    free(list[i].tz_name);
    pk__tz_free(list[i].tz);
  }
  free(list);
}

/* New schedule states for cfg; one whose name, expression and zone are unchanged keeps its next
 * tick (next == -2: to be started in the next turn). */
static void build_scheds(const pk__jobs_config *cfg) {
  sched *list = calloc((size_t)(cfg->nschedules ? cfg->nschedules : 1), sizeof *list);
  if (!list) { pk__logf("error", "out of memory: schedules not changed"); return; }
  for (int i = 0; i < cfg->nschedules; i++) {
    const pk__schedule_cfg *c = &cfg->schedules[i];
    sched *s = &list[i];
    s->name = strdup(c->name);
    s->expr = strdup(c->expr);
    s->tz_name = strdup(c->timezone);
    s->overlap_allow = c->overlap_allow;
    s->catch_up = c->catch_up;
    s->next = -2;
    char err[256];
    if (!s->name || !s->expr || !s->tz_name) continue;
    if (pk__cron_parse(&s->cron, s->expr, err, sizeof err) || pk__tz_load(&s->tz, s->tz_name, err, sizeof err)) {
      pk__logf("error", "schedule \"%s\": %s; it does not run", s->name, err);
      continue;
    }
    s->valid = 1;
    for (int k = 0; k < M.nscheds; k++) {
      sched *o = &M.scheds[k];
      if (o->valid && !strcmp(o->name, s->name) && !strcmp(o->expr, s->expr) && !strcmp(o->tz_name, s->tz_name)) {
        s->next = o->next;
        s->state_id = o->state_id;
      }
    }
  }
  free_scheds(M.scheds, M.nscheds);
  M.scheds = list;
  M.nscheds = cfg->nschedules;
}

/* ---- queues ---- */

static void free_queues(queue *list, int n) {
  for (int i = 0; i < n; i++) free(list[i].inflight);
  free(list);
}

/* Queue states for M.cfg (every queue ready: a lease will tell), the jobs in flight recounted. */
static void build_queues(void) {
  queue *list = calloc((size_t)(M.cfg.nqueues ? M.cfg.nqueues : 1), sizeof *list);
  for (int i = 0; list && i < M.cfg.nqueues; i++) {
    list[i].cfg = &M.cfg.queues[i];
    list[i].ready = 1;
    list[i].next_due = INT64_MAX;
    if (!(list[i].inflight = calloc((size_t)M.nworkers, sizeof(int)))) {
      free_queues(list, i + 1);
      list = NULL;
    }
  }
  if (!list) { pk__logf("error", "out of memory: queues not changed"); return; }
  free_queues(M.queues, M.nqueues);
  M.queues = list;
  M.nqueues = M.cfg.nqueues;
  for (int i = 0; i < M.nleases; i++) {
    queue *q = find_queue(M.leases[i].queue, strlen(M.leases[i].queue));
    if (q) q->inflight[M.leases[i].slot]++;
  }
}

static int pick_job_slot(queue *q) {
  for (int k = 0; k < M.nworkers; k++) {
    int slot = (q->rr + k) % M.nworkers;
    if (slot_alive(slot) && q->inflight[slot] < q->cfg->concurrency) {
      q->rr = slot + 1;
      return slot;
    }
  }
  return -1;
}

#define LEASE_BATCH 64   /* leases taken for one worker in one store operation, at most */

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
    if (grow((void **)&M.leases, &M.leases_cap, M.nleases + room, sizeof *M.leases)) return;
    begin(now);
    int64_t timeout = q->cfg->timeout;
    int rc = pk__job_store_lease_many(M.store, q->cfg->name, now, timeout + PK_JOB_LEASE_MARGIN_MS, slot + 1, room,
                                      jobs, &n);
    if (rc == -ENOENT) {
      q->ready = 0;
      int64_t due;
      if (pk__job_store_next_due(M.store, q->cfg->name, &due) == 0 && due < q->next_due) q->next_due = due;
      return;
    }
    if (rc) {
      store_failed("lease", rc, now);
      q->ready = 0;
      q->next_due = now + 1000;
      return;
    }
    for (int i = 0; i < n; i++) {
      pk__job *job = &jobs[i];
      lease *l = &M.leases[M.nleases++];
      *l = (lease){.job = job->id, .attempt = job->attempts, .slot = slot, .deadline = now + timeout,
                   .timeout = timeout};
      snprintf(l->queue, sizeof l->queue, "%s", q->cfg->name);
      q->inflight[slot]++;
      pk__job_frame f = {.type = PK_HUB_JOB_RUN, .job = job->id, .attempt = (uint32_t)job->attempts, .ms = timeout,
                         .name = q->cfg->name, .nlen = strlen(q->cfg->name), .key = job->key,
                         .klen = strlen(job->key), .data = job->data ? job->data : "null",
                         .dlen = job->data ? job->dlen : 4};
      stage(slot, &f, DEP_RUN, job->id, job->attempts);
      pk__job_free(job);
    }
    if (n < room) {   /* the queue ran dry */
      q->ready = 0;
      int64_t due;
      if (pk__job_store_next_due(M.store, q->cfg->name, &due) == 0 && due < q->next_due) q->next_due = due;
      return;
    }
  }
}

static void time_out(int64_t now) {
  for (int i = 0; i < M.nleases;) {
    lease *l = &M.leases[i];
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
  if (now - M.expiry_checked < EXPIRY_CHECK_MS) return;
  M.expiry_checked = now;
  int64_t until;
  if (pk__job_store_next_expiry(M.store, &until) || until >= now) return;
  begin(now);
  int failed = 0;
  int n = pk__job_store_expire_leases(M.store, now, &failed);
  if (n < 0) { store_failed("expiring leases", n, now); return; }
  if (n || failed) pk__logf("warn", "job store: %d expired lease(s) back to waiting, %d failed (lease lost too often)",
                            n, failed);
  for (int i = 0; i < M.nqueues; i++) M.queues[i].ready = 1;
}

/* Completed jobs older than a day go, a chunk per turn while there are more (the store's
 * suggested policy: the loop never stalls on a backlog). */
static void prune(int64_t now) {
  if (now - M.pruned < PRUNE_EVERY_MS) return;
  begin(now);
  int n = pk__job_store_prune_completed(M.store, now - KEEP_COMPLETED_MS, PRUNE_CHUNK);
  if (n < 0) store_failed("pruning completed jobs", n, now);
  if (n < PRUNE_CHUNK) M.pruned = now;   /* a full chunk: go on next turn */
}

/* ---- the turn ---- */

/* The transaction did not commit: ADD answers become errors, RUN frames are not sent. */
static void undo_turn(void) {
  for (int i = 0; i < M.ndeps; i++) {
    dep *d = &M.deps[i];
    if (d->dropped) continue;
    if (d->kind == DEP_ADDED) {   /* status field: after length, type, req, job and attempt */
      pk__hub_put32(M.staged[d->slot].data + d->off + 4 + 1 + 4 + 8 + 4, (uint32_t)-EIO);
    } else {
      d->dropped = 1;
      lease *l = find_lease(d->job, d->attempt);
      if (l) {
        queue *q = find_queue(l->queue, strlen(l->queue));
        if (q) q->ready = 1;
        drop_lease(l);
      }
    }
  }
}

/* Hands the staged frames to the hub, leaving out the dropped ones. */
static void send_staged(void) {
  for (int slot = 0; slot < M.nworkers; slot++) {
    pk__buf *b = &M.staged[slot];
    if (!b->len) continue;
    size_t at = 0;
    for (int i = 0; i < M.ndeps; i++) {
      dep *d = &M.deps[i];
      if (d->slot != slot || !d->dropped) continue;
      if (d->off > at) pk__hub_send(M.hub, slot, b->data + at, d->off - at);
      at = d->off + d->len;
    }
    if (b->len > at) pk__hub_send(M.hub, slot, b->data + at, b->len - at);
    pk__buf_reset(b);
  }
  M.ndeps = 0;
}

void pk__jobs_master_turn(void) {
  int64_t now = pk__wall_ms();
  if (!M.draining) fire_due(now);
  if (M.store) {
    time_out(now);
    if (now - M.rescanned >= RESCAN_MS) {
      M.rescanned = now;
      for (int i = 0; i < M.nqueues; i++) M.queues[i].ready = 1;
    }
    for (int i = 0; i < M.nqueues && !M.draining; i++)
      if (M.queues[i].cfg->worker) dispatch_queue(&M.queues[i], now);
    expire_orphans(now);
    if (!M.draining) prune(now);
  }
  if (M.batch) {
    M.batch = 0;
    int rc = pk__job_store_commit(M.store);
    if (rc) {
      pk__logf("error", "job store %s: the turn's writes did not commit (%s): adds in it are refused",
               M.path, pk__job_store_error(M.store));
      undo_turn();
    }
  }
  send_staged();
}

int pk__jobs_master_timeout(int cap) {
  int64_t now = pk__wall_ms(), best = now + cap;
  for (int i = 0; i < M.nscheds && !M.draining; i++)
    if (M.scheds[i].valid && M.scheds[i].next >= 0 && M.scheds[i].next < best) best = M.scheds[i].next;
  if (M.store) {
    for (int i = 0; i < M.nqueues && !M.draining; i++)
      if (M.queues[i].cfg->worker && M.queues[i].next_due < best) best = M.queues[i].next_due;
    for (int i = 0; i < M.nleases; i++)
      if (M.leases[i].deadline < best) best = M.leases[i].deadline;
  }
  int64_t d = best - now;
  return d < 0 ? 0 : d > cap ? cap : (int)d;
}

void pk__jobs_master_worker_gone(int slot) {
  if (slot < 0 || slot >= M.nworkers || !M.staged) return;
  int64_t now = pk__wall_ms();
  int released = 0;
  for (int i = 0; i < M.nleases;) {
    lease *l = &M.leases[i];
    if (l->slot != slot) { i++; continue; }
    begin(now);
    int rc = pk__job_store_release(M.store, l->job, l->attempt, now);
    if (rc && rc != -ESTALE) store_failed("releasing a lease", rc, now);
    queue *q = find_queue(l->queue, strlen(l->queue));
    if (q) q->ready = 1;
    released++;
    drop_lease(l);
  }
  for (int i = 0; i < M.nticks;) {
    tick *t = &M.ticks[i];
    if (t->slot != slot) { i++; continue; }
    char when[64];
    iso(when, sizeof when, t->ms);
    pk__logf("warn", "schedule \"%s\": the run at %s ended with worker %d", t->name, when, slot + 1);
    free(t->name);
    *t = M.ticks[--M.nticks];
  }
  for (int i = 0; i < M.nqueues; i++) M.queues[i].inflight[slot] = 0;
  for (int i = 0; i < M.ndeps; i++)   /* what was staged for it is dropped with its socket */
    if (M.deps[i].slot == slot) M.deps[i].dropped = 1;
  pk__buf_reset(&M.staged[slot]);
  if (released) pk__logf("info", "%d job(s) of worker %d back to waiting", released, slot + 1);
}

/* ---- start, reload, stop ---- */

int pk__jobs_master_start(pk__hub *hub, int nworkers, const pk__options *o, lua_State *L, char *err,
                          size_t errlen) {
  memset(&M, 0, sizeof M);
  M.hub = hub;
  M.nworkers = nworkers;
  M.o = o;
  M.open_logged = M.fail_logged = INT64_MIN / 2;
  if (!(M.staged = calloc((size_t)nworkers, sizeof *M.staged))) { snprintf(err, errlen, "out of memory"); return -ENOMEM; }
  for (int i = 0; i < nworkers; i++) pk__buf_init(&M.staged[i]);
  int rc = pk__jobs_config_read(L, &M.cfg, err, errlen);
  if (rc) return rc;
  if ((rc = pk__jobs_store_path(o, M.path, sizeof M.path))) {
    snprintf(err, errlen, "the job store's path is too long");
    return rc;
  }
  if (pk__jobs_config_declares_any(&M.cfg) || pk__jobs_store_exists(M.path)) {
    if ((rc = pk__jobs_store_open(o, M.path, &M.store, err, errlen))) {
      M.store = NULL;
      return rc;
    }
    int64_t now = pk__wall_ms();
    int failed = 0;
    int back = pk__job_store_recover(M.store, now, &failed);
    if (back < 0) {
      snprintf(err, errlen, "job store %s: recovering it failed: %s", M.path, pk__job_store_error(M.store));
      return back;
    }
    if (back || failed)
      pk__logf("info", "job store %s: %d job(s) that were running when the server stopped are waiting again%s",
               M.path, back, failed ? " (some failed: lease lost too often)" : "");
  }
  build_scheds(&M.cfg);
  build_queues();
  hub->on_frame = on_frame;
  return 0;
}

void pk__jobs_master_configure(lua_State *L) {
  pk__jobs_config cfg;
  char err[512];
  if (pk__jobs_config_read(L, &cfg, err, sizeof err)) {
    pk__logf("error", "reload: the schedules and queues are not changed: %s", err);
    return;
  }
  if (!M.store && pk__jobs_config_declares_any(&cfg)) store_ready(pk__wall_ms());
  build_scheds(&cfg);
  pk__jobs_config old = M.cfg;
  M.cfg = cfg;
  build_queues();
  pk__jobs_config_free(&old);
}

void pk__jobs_master_drain(void) { M.draining = 1; }

void pk__jobs_master_stop(void) {
  if (M.batch) pk__job_store_commit(M.store);
  M.batch = 0;
  for (int i = 0; i < M.nticks; i++) free(M.ticks[i].name);
  free(M.ticks);
  free(M.leases);
  free(M.deps);
  free_scheds(M.scheds, M.nscheds);
  free_queues(M.queues, M.nqueues);
  for (int i = 0; M.staged && i < M.nworkers; i++) pk__buf_free(&M.staged[i]);
  free(M.staged);
  pk__jobs_config_free(&M.cfg);
  pk__job_store_close(M.store);
  if (M.hub) M.hub->on_frame = NULL;
  memset(&M, 0, sizeof M);
}
