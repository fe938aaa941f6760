/* job_policy.c: records how a job's attempt ended (complete, retry with back-off, fail, dead letter) and renders a job as JSON. */
#include "job_policy.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hub_jobs.h"
#include "log.h"

#define MAX_DELAY_MS 2147483647LL

int64_t pk__job_retry_delay(const pk__queue_cfg *q, int attempt) {
  int64_t d = q->retry_delay;
  if (!q->exponential || d == 0) return d > MAX_DELAY_MS ? MAX_DELAY_MS : d;
  for (int i = 1; i < attempt; i++) {
    if (d >= MAX_DELAY_MS / 2) return MAX_DELAY_MS;
    d *= 2;
  }
  return d;
}

int pk__job_finish(pk__job_store *s, const pk__queue_cfg *q, int64_t id, int attempt, int outcome,
                   const char *payload, size_t len, int64_t now_ms, int64_t *retry_at) {
  int rc;
  if (outcome == PK_OUTCOME_OK) {
    rc = pk__job_store_complete(s, id, attempt, len ? payload : NULL, len, now_ms);
    if (rc == -ESTALE || rc == -ENOENT) return PK_JOB_END_STALE;
    return rc < 0 ? rc : PK_JOB_END_COMPLETED;
  }
  char *msg = malloc(len + 1);
  if (!msg) return -ENOMEM;
  memcpy(msg, payload, len);
  msg[len] = 0;
  int64_t at = -1;
  if (outcome == PK_OUTCOME_FAIL && q) at = now_ms + pk__job_retry_delay(q, attempt);
  rc = pk__job_store_fail(s, id, attempt, msg, at, now_ms);
  free(msg);
  if (rc == -ESTALE || rc == -ENOENT) return PK_JOB_END_STALE;
  if (rc < 0) return rc;
  if (rc == 1) {
    if (retry_at) *retry_at = at;
    return PK_JOB_END_RETRY;
  }
  if (!q || !q->dead_letter) return PK_JOB_END_FAILED;
  rc = pk__job_store_move(s, id, q->dead_letter, now_ms);
  if (rc == 0) return PK_JOB_END_DEAD_LETTER;
  pk__logf("error", "queue \"%s\" job %lld: cannot move it to the dead-letter queue \"%s\" (%s); it stays failed",
           q->name, (long long)id, q->dead_letter, pk__job_store_error(s));
  return PK_JOB_END_FAILED;
}

const char *pk__job_status_name(const pk__job *j, int64_t now_ms) {
  switch (j->status) {
  case PK_JOB_WAITING: return "waiting";
  case PK_JOB_DELAYED: return j->run_at <= now_ms ? "waiting" : "delayed";
  case PK_JOB_ACTIVE: return "active";
  case PK_JOB_COMPLETED: return "completed";
  default: return "failed";
  }
}

static int append_num(pk__buf *b, const char *name, int64_t v) {
  char tmp[64];
  int n = snprintf(tmp, sizeof tmp, ",\"%s\":%lld", name, (long long)v);
  return pk__buf_append(b, tmp, (size_t)n);
}

int pk__job_to_json(pk__buf *out, const pk__job *j, int64_t now_ms) {
  int rc = 0;
  rc |= pk__buf_append_str(out, "{\"id\":");
  rc |= pk__buf_append_json_string(out, j->key, strlen(j->key));
  rc |= pk__buf_append_str(out, ",\"queue\":");
  rc |= pk__buf_append_json_string(out, j->queue, strlen(j->queue));
  rc |= pk__buf_append_str(out, ",\"status\":\"");
  rc |= pk__buf_append_str(out, pk__job_status_name(j, now_ms));
  rc |= pk__buf_append_str(out, "\",\"data\":");
  if (j->data && j->dlen) rc |= pk__buf_append(out, j->data, j->dlen);
  else rc |= pk__buf_append_str(out, "null");
  if (j->result && j->rlen) {
    rc |= pk__buf_append_str(out, ",\"result\":");
    rc |= pk__buf_append(out, j->result, j->rlen);
  }
  rc |= append_num(out, "attempts", j->attempts);
  if (j->error) {
    rc |= pk__buf_append_str(out, ",\"error\":");
    rc |= pk__buf_append_json_string(out, j->error, strlen(j->error));
  }
  if (j->progress) {
    rc |= pk__buf_append_str(out, ",\"progress\":");
    rc |= pk__buf_append_str(out, j->progress);
  }
  rc |= append_num(out, "runAt", j->run_at);
  rc |= append_num(out, "createdAt", j->created_at);
  if (j->finished_at) rc |= append_num(out, "finishedAt", j->finished_at);
  rc |= pk__buf_append_str(out, "}");
  return rc ? -ENOMEM : 0;
}
