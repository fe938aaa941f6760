/* jobs_master_requests.c: a worker's requests to the master's job store (add a job, get one, a queue's counts), each answered by a frame staged for after the turn's commit. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "job_policy.h"
#include "jobs_master_internal.h"

/* The frame's name or key (n bytes, checked to fit) as a C string in out. */
static void copy_str(char *out, const char *s, size_t n) {
  memcpy(out, s, n);
  out[n] = 0;
}

static void reply_error(int slot, int type, uint32_t req, int status, const char *msg) {
  pk__job_frame r = {.type = type, .req = req, .status = status < 0 ? status : -EIO, .data = msg,
                     .dlen = msg ? strlen(msg) : 0};
  pk__jm_stage(slot, &r, PK__JM_ALWAYS, 0, 0);
}

/* 1 when the store is open; else 0, and the request is answered with why not. */
static int store_or_reply(int slot, int type, uint32_t req, int64_t now) {
  if (pk__jm_store_ready(now)) return 1;
  reply_error(slot, type, req, -EIO, pk__jm_store_open_error());
  return 0;
}

void pk__jm_on_add(int slot, const pk__job_frame *f, int64_t now) {
  char name[PK_JOB_QUEUE_MAX + 1], key[PK_JOB_KEY_MAX + 1];
  if (f->nlen == 0 || f->nlen > PK_JOB_QUEUE_MAX || f->klen > PK_JOB_KEY_MAX) {
    reply_error(slot, PK_HUB_JOB_ADDED, f->req, -EINVAL, "the queue name or the job_id is too long");
    return;
  }
  if (!store_or_reply(slot, PK_HUB_JOB_ADDED, f->req, now)) return;
  copy_str(name, f->name, f->nlen);
  copy_str(key, f->key, f->klen);
  const pk__queue_cfg *cfg = pk__jobs_config_queue(&pk__jm.cfg, f->name, f->nlen);
  pk__jm_begin(now);
  int64_t id = 0;
  int existed = 0;
  int64_t run_at = now + (f->ms > 0 ? f->ms : 0);
  int rc = pk__job_store_add(pk__jm.store, name, f->klen ? key : NULL, f->data, f->dlen, (int)f->priority, run_at,
                             cfg ? cfg->retry_attempts + 1 : 1, now, &id, &existed);
  if (rc) {
    reply_error(slot, PK_HUB_JOB_ADDED, f->req, rc, pk__job_store_error(pk__jm.store));
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
  pk__jm_stage(slot, &r, PK__JM_ADDED, id, 0);
  if (!existed) pk__jm_queue_wake(f->name, f->nlen, run_at, now);
}

void pk__jm_on_get(int slot, const pk__job_frame *f, int64_t now) {
  char name[PK_JOB_QUEUE_MAX + 1], key[PK_JOB_KEY_MAX + 1];
  pk__job_frame r = {.type = PK_HUB_JOB_INFO, .req = f->req};   /* empty: no such job */
  if (f->nlen == 0 || f->nlen > PK_JOB_QUEUE_MAX || f->klen == 0 || f->klen > PK_JOB_KEY_MAX) {
    pk__jm_stage(slot, &r, PK__JM_ALWAYS, 0, 0);
    return;
  }
  if (!store_or_reply(slot, PK_HUB_JOB_INFO, f->req, now)) return;
  copy_str(name, f->name, f->nlen);
  copy_str(key, f->key, f->klen);
  pk__job job;
  int rc = pk__job_store_get(pk__jm.store, name, key, &job);
  if (rc == -ENOENT) { pk__jm_stage(slot, &r, PK__JM_ALWAYS, 0, 0); return; }
  if (rc) { reply_error(slot, PK_HUB_JOB_INFO, f->req, rc, pk__job_store_error(pk__jm.store)); return; }
  pk__buf json;
  pk__buf_init(&json);
  if (pk__job_to_json(&json, &job, now)) {
    reply_error(slot, PK_HUB_JOB_INFO, f->req, -ENOMEM, "out of memory");
  } else {
    r.data = json.data;
    r.dlen = json.len;
    pk__jm_stage(slot, &r, PK__JM_ALWAYS, 0, 0);
  }
  pk__buf_free(&json);
  pk__job_free(&job);
}

void pk__jm_on_counts(int slot, const pk__job_frame *f, int64_t now) {
  char name[PK_JOB_QUEUE_MAX + 1];
  if (f->nlen == 0 || f->nlen > PK_JOB_QUEUE_MAX) {
    reply_error(slot, PK_HUB_JOB_INFO, f->req, -EINVAL, "bad queue name");
    return;
  }
  if (!store_or_reply(slot, PK_HUB_JOB_INFO, f->req, now)) return;
  copy_str(name, f->name, f->nlen);
  pk__job_counts c;
  int rc = pk__job_store_counts(pk__jm.store, name, now, &c);
  if (rc) { reply_error(slot, PK_HUB_JOB_INFO, f->req, rc, pk__job_store_error(pk__jm.store)); return; }
  char json[256];
  int n = snprintf(json, sizeof json, "{\"waiting\":%" PRId64 ",\"delayed\":%" PRId64 ",\"active\":%" PRId64
                   ",\"completed\":%" PRId64 ",\"failed\":%" PRId64 "}", c.waiting, c.delayed, c.active,
                   c.completed, c.failed);
  pk__job_frame r = {.type = PK_HUB_JOB_INFO, .req = f->req, .data = json, .dlen = (size_t)n};
  pk__jm_stage(slot, &r, PK__JM_ALWAYS, 0, 0);
}
