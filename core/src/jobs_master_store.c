/* jobs_master_store.c: the master's job store and its turn: opened on first need, one transaction per loop turn, the frames for workers staged until it commits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clock.h"
#include "jobs_master_internal.h"
#include "jobs_store_path.h"
#include "log.h"

#define LOG_EVERY_MS 10000       /* a repeated store failure is logged at most this often */

/* A staged frame that holds only if the turn's transaction commits. */
typedef struct dep { int slot, kind, attempt, dropped; size_t off, len; int64_t job; } dep;

static struct {
  char path[4096];
  char open_err[512];
  int64_t open_logged, fail_logged;
  int batch;                     /* a transaction is open for this turn */
  pk__buf *staged;               /* per slot: frames for that worker, sent after the commit */
  dep *deps;
  int ndeps, deps_cap;
} S;

int pk__jm_store_init(void) {
  memset(&S, 0, sizeof S);
  S.open_logged = S.fail_logged = INT64_MIN / 2;
  if (!(S.staged = calloc((size_t)pk__jm.nworkers, sizeof *S.staged))) return -ENOMEM;
  for (int i = 0; i < pk__jm.nworkers; i++) pk__buf_init(&S.staged[i]);
  return 0;
}

int pk__jm_store_start(char *err, size_t errlen) {
  int rc;
  if ((rc = pk__jobs_store_path(pk__jm.o, S.path, sizeof S.path))) {
    snprintf(err, errlen, "the job store's path is too long");
    return rc;
  }
  if (!pk__jobs_config_declares_any(&pk__jm.cfg) && !pk__jobs_store_exists(S.path)) return 0;
  if ((rc = pk__jobs_store_open(pk__jm.o, S.path, &pk__jm.store, err, errlen))) {
    pk__jm.store = NULL;
    return rc;
  }
  int64_t now = pk__wall_ms();
  int failed = 0;
  int back = pk__job_store_recover(pk__jm.store, now, &failed);
  if (back < 0) {
    snprintf(err, errlen, "job store %s: recovering it failed: %s", S.path, pk__job_store_error(pk__jm.store));
    return back;
  }
  if (back || failed)
    pk__logf("info", "job store %s: %d job(s) that were running when the server stopped are waiting again%s",
             S.path, back, failed ? " (some failed: lease lost too often)" : "");
  return 0;
}

int pk__jm_store_ready(int64_t now) {
  if (pk__jm.store) return 1;
  int rc = pk__jobs_store_open(pk__jm.o, S.path, &pk__jm.store, S.open_err, sizeof S.open_err);
  if (rc == 0) {
    pk__logf("info", "job store %s opened", S.path);
    return 1;
  }
  pk__jm.store = NULL;
  if (now - S.open_logged >= LOG_EVERY_MS) {
    pk__logf("error", "%s", S.open_err);
    S.open_logged = now;
  }
  return 0;
}

const char *pk__jm_store_open_error(void) { return S.open_err; }

void pk__jm_store_failed(const char *what, int rc, int64_t now) {
  if (now - S.fail_logged < LOG_EVERY_MS) return;
  S.fail_logged = now;
  pk__logf("error", "job store %s: %s failed: %s", S.path, what,
           pk__jm.store ? pk__job_store_error(pk__jm.store) : strerror(-rc));
}

void pk__jm_begin(int64_t now) {
  if (S.batch || !pk__jm.store) return;
  int rc = pk__job_store_begin(pk__jm.store);
  if (rc) pk__jm_store_failed("begin", rc, now);
  else S.batch = 1;
}

void pk__jm_stage(int slot, const pk__job_frame *f, int kind, int64_t job, int attempt) {
  pk__buf *b = &S.staged[slot];
  size_t off = b->len;
  if (pk__hub_encode_job(b, f)) {
    pk__logf("error", "hub: cannot queue a job frame (type %d) for worker %d", f->type, slot + 1);
    return;
  }
  if (kind == PK__JM_ALWAYS) return;
  if (pk__jm_grow((void **)&S.deps, &S.deps_cap, S.ndeps + 1, sizeof *S.deps)) return;
  S.deps[S.ndeps++] = (dep){slot, kind, attempt, 0, off, b->len - off, job};
}

/* The transaction did not commit: ADD answers become errors, RUN frames are not sent. */
static void undo_turn(void) {
  for (int i = 0; i < S.ndeps; i++) {
    dep *d = &S.deps[i];
    if (d->dropped) continue;
    if (d->kind == PK__JM_ADDED) {   /* status field: after length, type, req, job and attempt */
      pk__hub_put32(S.staged[d->slot].data + d->off + 4 + 1 + 4 + 8 + 4, (uint32_t)-EIO);
    } else {
      d->dropped = 1;
      pk__jm_run_not_sent(d->job, d->attempt);
    }
  }
}

/* Hands the staged frames to the hub, leaving out the dropped ones. */
static void send_staged(void) {
  for (int slot = 0; slot < pk__jm.nworkers; slot++) {
    pk__buf *b = &S.staged[slot];
    if (!b->len) continue;
    size_t at = 0;
    for (int i = 0; i < S.ndeps; i++) {
      dep *d = &S.deps[i];
      if (d->slot != slot || !d->dropped) continue;
      if (d->off > at) pk__hub_send(pk__jm.hub, slot, b->data + at, d->off - at);
      at = d->off + d->len;
    }
    if (b->len > at) pk__hub_send(pk__jm.hub, slot, b->data + at, b->len - at);
    pk__buf_reset(b);
  }
  S.ndeps = 0;
}

void pk__jm_commit_and_send(void) {
  if (S.batch) {
    S.batch = 0;
    int rc = pk__job_store_commit(pk__jm.store);
    if (rc) {
      pk__logf("error", "job store %s: the turn's writes did not commit (%s): adds in it are refused",
               S.path, pk__job_store_error(pk__jm.store));
      undo_turn();
    }
  }
  send_staged();
}

void pk__jm_store_worker_gone(int slot) {
  for (int i = 0; i < S.ndeps; i++)
    if (S.deps[i].slot == slot) S.deps[i].dropped = 1;
  pk__buf_reset(&S.staged[slot]);
}

void pk__jm_store_stop(void) {
  if (S.batch) pk__job_store_commit(pk__jm.store);
  free(S.deps);
  for (int i = 0; S.staged && i < pk__jm.nworkers; i++) pk__buf_free(&S.staged[i]);
  free(S.staged);
  pk__job_store_close(pk__jm.store);
  pk__jm.store = NULL;
  memset(&S, 0, sizeof S);
}
