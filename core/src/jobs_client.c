/* jobs_client.c: a worker's end of the job frames: sends adds and reads, resumes their calls, hands runs and ticks to the app. */
#include "jobs_client.h"
#include <errno.h>
#include <lua.h>
#include <stdlib.h>
#include <string.h>
#include "hub_client.h"
#include "hub_jobs.h"
#include "log.h"
#include "worker.h"

/* A call waiting for the master's answer (ADD or GET). The master answers each worker's requests
 * in the order it sent them, so the answer is nearly always the oldest entry. */
typedef struct waiter { uint32_t req; pk__host *h; double token; } waiter;

static struct {
  waiter *w;
  size_t head, len, cap;    /* a ring of len entries from head */
  uint32_t next_req;
  int busy;                 /* jobs and ticks running here (handed out, end not reported yet) */
} W;

static int push_waiter(pk__host *h, double token, uint32_t *req) {
  if (W.len == W.cap) {
    size_t cap = W.cap ? W.cap * 2 : 64;
    waiter *n = malloc(cap * sizeof *n);
    if (!n) return -ENOMEM;
    for (size_t i = 0; i < W.len; i++) n[i] = W.w[(W.head + i) % W.cap];
    free(W.w);
    W.w = n;
    W.cap = cap;
    W.head = 0;
  }
  *req = ++W.next_req;
  W.w[(W.head + W.len) % W.cap] = (waiter){*req, h, token};
  W.len++;
  pk__host_ref(h);
  return 0;
}

/* Removes the waiter of req; 0 and *out, or -ENOENT. */
static int take_waiter(uint32_t req, waiter *out) {
  for (size_t i = 0; i < W.len; i++) {
    size_t at = (W.head + i) % W.cap;
    if (W.w[at].req != req) continue;
    *out = W.w[at];
    for (size_t k = i; k > 0; k--) W.w[(W.head + k) % W.cap] = W.w[(W.head + k - 1) % W.cap];
    W.head = (W.head + 1) % W.cap;
    W.len--;
    return 0;
  }
  return -ENOENT;
}

static int send_frame(const pk__job_frame *f) {
  int rc;
  pk__buf *out = pk__hub_client_outbox(PK_HUB_HEADER + PK_HUB_JOB_FIXED + f->nlen + f->klen + f->dlen, &rc);
  if (!out) return rc;
  return pk__hub_encode_job(out, f);
}

static int request(pk__host *h, double token, pk__job_frame *f) {
  int rc;
  if (!pk__hub_client_outbox(PK_HUB_HEADER + PK_HUB_JOB_FIXED + f->nlen + f->klen + f->dlen, &rc)) return rc;
  if ((rc = push_waiter(h, token, &f->req))) return rc;
  rc = send_frame(f);
  if (rc) {   /* the newest waiter is this one */
    waiter w;
    take_waiter(f->req, &w);
    pk__host_unref(h);
  }
  return rc;
}

int pk__jobs_client_add(pk__host *h, double token, const char *queue, size_t qlen, const char *key,
                        size_t klen, const char *data, size_t dlen, uint32_t priority, int64_t delay_ms) {
  pk__job_frame f = {.type = PK_HUB_JOB_ADD, .priority = priority, .ms = delay_ms, .name = queue,
                     .nlen = qlen, .key = key, .klen = key ? klen : 0, .data = data, .dlen = dlen};
  return request(h, token, &f);
}

int pk__jobs_client_get(pk__host *h, double token, const char *queue, size_t qlen, const char *key,
                        size_t klen) {
  pk__job_frame f = {.type = PK_HUB_JOB_GET, .name = queue, .nlen = qlen, .key = key, .klen = klen};
  return request(h, token, &f);
}

int pk__jobs_client_counts(pk__host *h, double token, const char *queue, size_t qlen) {
  pk__job_frame f = {.type = PK_HUB_JOB_COUNTS, .name = queue, .nlen = qlen};
  return request(h, token, &f);
}

int pk__jobs_client_busy(void) { return W.busy; }

int pk__jobs_client_result(int64_t job, uint32_t attempt, int outcome, const char *payload, size_t len) {
  if (W.busy > 0) W.busy--;
  pk__job_frame f = {.type = PK_HUB_JOB_RESULT, .job = job, .attempt = attempt, .status = outcome,
                     .data = payload, .dlen = len};
  int rc = send_frame(&f);
  if (rc == -EMSGSIZE && outcome == PK_OUTCOME_OK) {   /* a result too large to carry is a failure */
    static const char msg[] = "the job's result is over the 8 MiB a message between processes may hold";
    f.status = PK_OUTCOME_FAIL;
    f.data = msg;
    f.dlen = sizeof msg - 1;
    rc = send_frame(&f);
  }
  return rc;
}

int pk__jobs_client_progress(int64_t job, uint32_t attempt, const char *json, size_t len) {
  pk__job_frame f = {.type = PK_HUB_JOB_PROGRESS, .job = job, .attempt = attempt, .data = json, .dlen = len};
  return send_frame(&f);
}

int pk__jobs_client_tick_done(const char *name, size_t nlen, int64_t execution_ms, int outcome,
                              const char *message, size_t mlen) {
  if (W.busy > 0) W.busy--;
  pk__job_frame f = {.type = PK_HUB_TICK_DONE, .ms = execution_ms, .status = outcome, .name = name,
                     .nlen = nlen, .data = message, .dlen = mlen};
  return send_frame(&f);
}

/* ADDED / INFO: resumes the call that asked. */
static void answer(const pk__job_frame *f) {
  waiter w;
  if (take_waiter(f->req, &w)) {
    pk__logf("warn", "hub: an answer to job request %u that no call waits for", (unsigned)f->req);
    return;
  }
  lua_State *L = w.h->L;
  int n = 2;
  if (f->status < 0) {
    lua_pushnil(L);
    if (f->dlen) lua_pushlstring(L, f->data, f->dlen);
    else lua_pushfstring(L, "the job store failed (%s)", strerror(-f->status));
  } else if (f->type == PK_HUB_JOB_ADDED) {
    lua_pushlstring(L, f->key, f->klen);
    lua_pushboolean(L, f->flag);
  } else {
    if (f->dlen) lua_pushlstring(L, f->data, f->dlen);
    else lua_pushnil(L);
    n = 1;
  }
  pk__host_resume(w.h, w.token, n);
  pk__host_unref(w.h);
}

static void on_frame(const pk__hub_frame *raw) {
  pk__job_frame f;
  if (pk__hub_parse_job(raw, &f)) {
    pk__logf("error", "hub: a malformed frame from the master (type %d, %zu bytes) is ignored", raw->type, raw->raw_len);
    return;
  }
  switch (f.type) {
  case PK_HUB_JOB_ADDED:
  case PK_HUB_JOB_INFO:
    answer(&f);
    return;
  case PK_HUB_JOB_RUN:
    W.busy++;
    pk__host_job_run(pk__W->host, (double)f.job, (int)f.attempt, f.name, f.nlen, f.key, f.klen, f.data,
                     f.dlen, (double)f.ms);
    return;
  case PK_HUB_TICK:
    W.busy++;
    pk__host_tick(pk__W->host, f.name, f.nlen, (double)f.ms, f.flag);
    return;
  default:
    pk__logf("error", "hub: the master sent a frame of type %d, which only workers send", f.type);
  }
}

void pk__jobs_client_start(void) { pk__hub_on_frame = on_frame; }

void pk__jobs_client_lost(void) {
  W.busy = 0;   /* what runs can no longer be reported: nothing to wait for */
  while (W.len) {
    waiter w = W.w[W.head];
    W.head = (W.head + 1) % W.cap;
    W.len--;
    lua_pushnil(w.h->L);
    lua_pushstring(w.h->L, "the master process is gone (the server is stopping): the job store cannot answer");
    pk__host_resume(w.h, w.token, 2);
    pk__host_unref(w.h);
  }
}
