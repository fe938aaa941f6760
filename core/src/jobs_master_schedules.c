/* jobs_master_schedules.c: the master's schedules: each cron tick fired on exactly one worker, the runs in flight (overlap), catch_up from the last tick recorded in the job store. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cron.h"
#include "jobs_master_internal.h"
#include "log.h"

/* pikku's own queue of schedule states: one waiting job per schedule (key "s:" + name) that no
 * worker runs; its progress field holds the last tick handed to a worker (for catch_up). */
#define SCHEDULES_QUEUE "pikku:schedules"
#define LATE_MS 60000            /* a tick this late (the master was stopped, the clock jumped) is not run */
#define CATCH_UP_COUNT_MAX 100000

typedef struct sched {
  char *name, *expr, *tz_name;   /* copies */
  int overlap_allow, catch_up;
  int valid;                     /* the expression and zone parsed */
  pk__cron cron;
  pk__tz *tz;
  int64_t next;                  /* the next tick (Unix ms), -1: none, -2: to be started next turn */
  int64_t state_id;              /* its job in SCHEDULES_QUEUE (0: not known yet) */
} sched;

typedef struct tick { char *name; int slot; int64_t ms; } tick;   /* a run in flight */

static struct {
  sched *scheds;
  int nscheds, started;
  tick *ticks;
  int nticks, ticks_cap;
  int rr;                        /* the slot to try first */
} T;

/* ---- runs in flight ---- */

static int running(const sched *s) {
  int n = 0;
  for (int i = 0; i < T.nticks; i++) n += !strcmp(T.ticks[i].name, s->name);
  return n;
}

static void drop_tick(tick *t) {
  free(t->name);
  *t = T.ticks[--T.nticks];
}

void pk__jm_on_tick_done(int slot, const pk__job_frame *f) {
  for (int i = 0; i < T.nticks; i++) {
    tick *t = &T.ticks[i];
    if (t->slot != slot || t->ms != f->ms || strlen(t->name) != f->nlen || memcmp(t->name, f->name, f->nlen)) continue;
    char when[64];
    pk__jm_iso(when, sizeof when, t->ms);
    int mlen = f->dlen > 300 ? 300 : (int)f->dlen;
    if (f->status == PK_OUTCOME_SKIPPED)
      pk__logf("info", "schedule \"%s\": the run at %s skipped itself: %.*s", t->name, when, mlen, f->data);
    else if (f->status != PK_OUTCOME_OK)
      pk__logf("warn", "schedule \"%s\": the run at %s failed: %.*s", t->name, when, mlen, f->data);
    drop_tick(t);
    return;
  }
}

void pk__jm_schedules_worker_gone(int slot) {
  for (int i = 0; i < T.nticks;) {
    tick *t = &T.ticks[i];
    if (t->slot != slot) { i++; continue; }
    char when[64];
    pk__jm_iso(when, sizeof when, t->ms);
    pk__logf("warn", "schedule \"%s\": the run at %s ended with worker %d", t->name, when, slot + 1);
    drop_tick(t);   /* the last run moved into slot i: look at i again */
  }
}

/* ---- ticks ---- */

static int pick_tick_slot(void) {
  for (int k = 0; k < pk__jm.nworkers; k++) {
    int slot = (T.rr + k) % pk__jm.nworkers;
    if (pk__jm_slot_alive(slot)) {
      T.rr = slot + 1;
      return slot;
    }
  }
  return -1;
}

/* The schedule's state job in SCHEDULES_QUEUE: its key. */
static void state_key(const sched *s, char *out, size_t n) { snprintf(out, n, "s:%s", s->name); }

/* Records that the tick at t was handed out (for catch_up after a restart). */
static void record_tick(sched *s, int64_t t, int64_t now) {
  if (!pk__jm.store) return;
  pk__jm_begin(now);
  int rc;
  if (!s->state_id) {
    char key[PK_JOB_KEY_MAX + 1];
    state_key(s, key, sizeof key);
    if ((rc = pk__job_store_add(pk__jm.store, SCHEDULES_QUEUE, key, "{}", 2, 0, now, 1, now, &s->state_id, NULL))) {
      pk__jm_store_failed("recording a schedule's tick", rc, now);
      s->state_id = 0;
      return;
    }
  }
  char v[32];
  snprintf(v, sizeof v, "%" PRId64, t);
  if ((rc = pk__job_store_progress(pk__jm.store, s->state_id, v, now)))
    pk__jm_store_failed("recording a schedule's tick", rc, now);
}

/* The last tick recorded for s: 0 and *t, or -ENOENT. */
static int last_tick(sched *s, int64_t *t) {
  char key[PK_JOB_KEY_MAX + 1];
  state_key(s, key, sizeof key);
  pk__job job;
  int rc = pk__job_store_get(pk__jm.store, SCHEDULES_QUEUE, key, &job);
  if (rc) return rc;
  s->state_id = job.id;
  rc = job.progress ? 0 : -ENOENT;
  if (!rc) *t = strtoll(job.progress, NULL, 10);
  pk__job_free(&job);
  return rc;
}

static void fire(sched *s, int64_t t, int catch_up, int64_t now) {
  char when[64];
  pk__jm_iso(when, sizeof when, t);
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
  if (pk__jm_grow((void **)&T.ticks, &T.ticks_cap, T.nticks + 1, sizeof *T.ticks)) return;
  char *name = strdup(s->name);
  if (!name) return;
  T.ticks[T.nticks++] = (tick){name, slot, t};
  pk__job_frame f = {.type = PK_HUB_TICK, .ms = t, .flag = (uint8_t)catch_up, .name = s->name, .nlen = strlen(s->name)};
  pk__jm_stage(slot, &f, PK__JM_ALWAYS, 0, 0);
  record_tick(s, t, now);
}

/* At start (or when a schedule first appears): the first tick after now; with catch_up, one run
 * for the ticks missed since the last one recorded. */
static void start_schedule(sched *s, int64_t now) {
  s->next = pk__cron_next(&s->cron, s->tz, now);
  int64_t last;
  if (!s->catch_up || !pk__jm.store || last_tick(s, &last) || last >= now) return;
  int64_t latest = -1, t = pk__cron_next(&s->cron, s->tz, last);
  int n = 0;
  while (t >= 0 && t <= now && n < CATCH_UP_COUNT_MAX) {
    latest = t;
    n++;
    t = pk__cron_next(&s->cron, s->tz, t);
  }
  if (n == 0) return;
  char a[64], b[64];
  pk__jm_iso(a, sizeof a, last);
  pk__jm_iso(b, sizeof b, latest);
  pk__logf("info", "schedule \"%s\": %d tick(s)%s missed since %s; catch_up: one run for the tick at %s", s->name, n,
           n >= CATCH_UP_COUNT_MAX ? " or more" : "", a, b);
  fire(s, latest, 1, now);
}

void pk__jm_fire_due(int64_t now) {
  if (!T.started) {   /* the first turn: the workers are up */
    T.started = 1;
    for (int i = 0; i < T.nscheds; i++)
      if (T.scheds[i].valid && T.scheds[i].next == -2) start_schedule(&T.scheds[i], now);
  }
  for (int i = 0; i < T.nscheds; i++) {
    sched *s = &T.scheds[i];
    if (s->valid && s->next == -2) start_schedule(s, now);   /* appeared in a reload */
    while (s->valid && s->next >= 0 && s->next <= now) {
      int64_t t = s->next;
      if (now - t > LATE_MS) {
        s->next = pk__cron_next(&s->cron, s->tz, now);
        char a[64], b[64];
        pk__jm_iso(a, sizeof a, t);
        pk__jm_iso(b, sizeof b, s->next);
        pk__logf("warn", "schedule \"%s\": the ticks from %s on were not run (the master was stopped or the"
                 " clock jumped); the next is at %s", s->name, a, b);
        break;
      }
      fire(s, t, 0, now);
      s->next = pk__cron_next(&s->cron, s->tz, t);
    }
  }
}

int64_t pk__jm_schedules_next(int64_t best) {
  for (int i = 0; i < T.nscheds; i++)
    if (T.scheds[i].valid && T.scheds[i].next >= 0 && T.scheds[i].next < best) best = T.scheds[i].next;
  return best;
}

/* ---- schedule states ---- */

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
void pk__jm_schedules_build(const pk__jobs_config *cfg) {
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
    for (int k = 0; k < T.nscheds; k++) {
      sched *o = &T.scheds[k];
      if (o->valid && !strcmp(o->name, s->name) && !strcmp(o->expr, s->expr) && !strcmp(o->tz_name, s->tz_name)) {
        s->next = o->next;
        s->state_id = o->state_id;
      }
    }
  }
  free_scheds(T.scheds, T.nscheds);
  T.scheds = list;
  T.nscheds = cfg->nschedules;
}

void pk__jm_schedules_stop(void) {
  for (int i = 0; i < T.nticks; i++) free(T.ticks[i].name);
  free(T.ticks);
  free_scheds(T.scheds, T.nscheds);
  memset(&T, 0, sizeof T);
}
