/* jobs_master.c: the master's jobs and schedules: start, reload and stop, the order of a loop turn, and the hub's job frames routed to the part that handles them (jobs_master_internal.h lists the parts). */
#include "jobs_master.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "cron.h"
#include "jobs_master_internal.h"
#include "log.h"

pk__jm_context pk__jm;

/* ---- small helpers ---- */

int pk__jm_grow(void **p, int *cap, int need, size_t size) {
  if (need <= *cap) return 0;
  int n = *cap ? *cap * 2 : 16;
  while (n < need) n *= 2;
  void *q = realloc(*p, (size_t)n * size);
  if (!q) return -ENOMEM;
  *p = q;
  *cap = n;
  return 0;
}

void pk__jm_iso(char *out, size_t n, int64_t ms) { pk__cron_format_iso(out, n, NULL, ms); }

int pk__jm_slot_alive(int slot) { return pk__jm.hub->peers[slot].fd >= 0; }

/* ---- frames from workers ---- */

static int on_frame(int slot, const pk__hub_frame *raw, void *ud) {
  pk__job_frame f;
  if (pk__hub_parse_job(raw, &f)) return -EPROTO;
  int64_t now = pk__wall_ms();
  switch (f.type) {
  case PK_HUB_JOB_ADD: pk__jm_on_add(slot, &f, now); return 0;
  case PK_HUB_JOB_GET: pk__jm_on_get(slot, &f, now); return 0;
  case PK_HUB_JOB_COUNTS: pk__jm_on_counts(slot, &f, now); return 0;
  case PK_HUB_JOB_RESULT: pk__jm_on_result(slot, &f, now); return 0;
  case PK_HUB_JOB_PROGRESS: pk__jm_on_progress(slot, &f, now); return 0;
  case PK_HUB_TICK_DONE: pk__jm_on_tick_done(slot, &f); return 0;
  default: return -EPROTO;   /* a frame only the master sends */
  }
}

/* ---- the turn ---- */

void pk__jobs_master_turn(void) {
  int64_t now = pk__wall_ms();
  if (!pk__jm.draining) pk__jm_fire_due(now);
  if (pk__jm.store) pk__jm_queues_turn(now);
  pk__jm_commit_and_send();
}

int pk__jobs_master_timeout(int cap) {
  int64_t now = pk__wall_ms(), best = now + cap;
  if (!pk__jm.draining) best = pk__jm_schedules_next(best);
  if (pk__jm.store) best = pk__jm_queues_next(best);
  int64_t d = best - now;
  return d < 0 ? 0 : d > cap ? cap : (int)d;
}

void pk__jobs_master_worker_gone(int slot) {
  if (slot < 0 || slot >= pk__jm.nworkers) return;
  int released = pk__jm_queues_worker_gone(slot, pk__wall_ms());
  pk__jm_schedules_worker_gone(slot);
  pk__jm_store_worker_gone(slot);
  if (released) pk__logf("info", "%d job(s) of worker %d back to waiting", released, slot + 1);
}

/* ---- start, reload, stop ---- */

int pk__jobs_master_start(pk__hub *hub, int nworkers, const pk__options *o, lua_State *L, char *err,
                          size_t errlen) {
  memset(&pk__jm, 0, sizeof pk__jm);
  pk__jm.hub = hub;
  pk__jm.nworkers = nworkers;
  pk__jm.o = o;
  int rc = pk__jm_store_init();
  if (rc) { snprintf(err, errlen, "out of memory"); return rc; }
  if ((rc = pk__jobs_config_read(L, &pk__jm.cfg, err, errlen))) return rc;
  if ((rc = pk__jm_store_start(err, errlen))) return rc;
  pk__jm_schedules_build(&pk__jm.cfg);
  pk__jm_queues_build();
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
  if (!pk__jm.store && pk__jobs_config_declares_any(&cfg)) pk__jm_store_ready(pk__wall_ms());
  pk__jm_schedules_build(&cfg);
  pk__jobs_config old = pk__jm.cfg;
  pk__jm.cfg = cfg;
  pk__jm_queues_build();
  pk__jobs_config_free(&old);
}

void pk__jobs_master_drain(void) { pk__jm.draining = 1; }

void pk__jobs_master_stop(void) {
  pk__jm_store_stop();
  pk__jm_schedules_stop();
  pk__jm_queues_stop();
  pk__jobs_config_free(&pk__jm.cfg);
  if (pk__jm.hub) pk__jm.hub->on_frame = NULL;
  memset(&pk__jm, 0, sizeof pk__jm);
}
