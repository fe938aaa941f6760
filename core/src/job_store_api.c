/* job_store_api.c: the job store's calls (job_store.h): checks their arguments, then hands them to the store's implementation (":memory:" the in-memory one, a file SQLite). */
#include "job_store_impl.h"
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pk__job_status_names[5] = {"waiting", "delayed", "active", "completed", "failed"};

int pk__job_store_err(pk__job_store *s, int code, const char *fmt, ...) {
  int n = snprintf(s->err, sizeof s->err, "job store %s: ", s->path ? s->path : "");
  if (n < 0 || (size_t)n >= sizeof s->err) return code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->err + n, sizeof s->err - (size_t)n, fmt, ap);
  va_end(ap);
  return code;
}

int pk__job_store_init(pk__job_store *s, const pk__job_store_ops *ops, const char *path) {
  s->ops = ops;
  s->max_stalls = 1;
  s->err[0] = 0;
  s->path = strdup(path ? path : "");
  return s->path ? 0 : -ENOMEM;
}

void pk__job_free(pk__job *job) {
  if (!job) return;
  free(job->queue);
  free(job->key);
  free(job->data);
  free(job->result);
  free(job->error);
  free(job->progress);
  memset(job, 0, sizeof *job);
}

/* ---- checks of arguments ---- */

static int all_digits(const char *k) {
  if (!*k) return 0;
  for (; *k; k++) if (*k < '0' || *k > '9') return 0;
  return 1;
}

static int check_queue(pk__job_store *s, const char *queue) {
  if (!queue || !*queue || strlen(queue) > PK_JOB_QUEUE_MAX)
    return pk__job_store_err(s, -EINVAL, "a queue name is 1 to %d bytes", PK_JOB_QUEUE_MAX);
  return 0;
}

static int check_key(pk__job_store *s, const char *key) {
  if (!*key || strlen(key) > PK_JOB_KEY_MAX)
    return pk__job_store_err(s, -EINVAL, "a job key is 1 to %d bytes", PK_JOB_KEY_MAX);
  return 0;
}

/* ---- opening ---- */

int pk__job_store_open(pk__job_store **out, const char *path, char *err, size_t errlen) {
  if (path && strcmp(path, ":memory:") == 0) return pk__job_store_mem_open(out, err, errlen);
  return pk__job_store_sqlite_open(out, path, err, errlen);
}

void pk__job_store_close(pk__job_store *s) {
  if (s) s->ops->close(s);
}

const char *pk__job_store_error(const pk__job_store *s) { return s ? s->err : ""; }

int pk__job_store_set_sync_full(pk__job_store *s, int on) {
  s->err[0] = 0;
  return s->ops->set_sync_full(s, on);
}

void pk__job_store_set_max_stalls(pk__job_store *s, int n) { s->max_stalls = n < 0 ? 0 : n; }

int pk__job_store_check(pk__job_store *s) {
  s->err[0] = 0;
  return s->ops->check(s);
}

int pk__job_store_plan(pk__job_store *s, const char *name, char *out, size_t outlen) {
  s->err[0] = 0;
  if (outlen) out[0] = 0;
  return s->ops->plan(s, name, out, outlen);
}

/* ---- batches ---- */

int pk__job_store_begin(pk__job_store *s) {
  s->err[0] = 0;
  return s->ops->begin(s);
}

int pk__job_store_commit(pk__job_store *s) {
  s->err[0] = 0;
  return s->ops->commit(s);
}

int pk__job_store_rollback(pk__job_store *s) {
  s->err[0] = 0;
  return s->ops->rollback(s);
}

/* ---- operations ---- */

int pk__job_store_add(pk__job_store *s, const char *queue, const char *key, const void *data,
                      size_t dlen, int priority, int64_t run_at_ms, int max_attempts,
                      int64_t now_ms, int64_t *id_out, int *existed_out) {
  s->err[0] = 0;
  int rc = check_queue(s, queue);
  if (rc) return rc;
  if (key && (rc = check_key(s, key))) return rc;
  if (key && all_digits(key))
    return pk__job_store_err(s, -EINVAL, "job key \"%s\": a key of digits only is a generated id",
                              key);
  if (priority < 0 || priority > PK_JOB_PRIORITY_MAX)
    return pk__job_store_err(s, -EINVAL, "priority %d: 0 to %d", priority, PK_JOB_PRIORITY_MAX);
  if (dlen > INT_MAX) return pk__job_store_err(s, -E2BIG, "job data of %zu bytes", dlen);
  int64_t id = 0;
  int existed = 0;
  rc = s->ops->add(s, queue, key, data, dlen, priority, run_at_ms, max_attempts < 1 ? 1 : max_attempts,
                   now_ms, &id, &existed);
  if (rc < 0) return rc;
  if (id_out) *id_out = id;
  if (existed_out) *existed_out = existed;
  return 0;
}

int pk__job_store_lease_many(pk__job_store *s, const char *queue, int64_t now_ms, int64_t lease_ms,
                             int owner, int max, pk__job *jobs, int *n) {
  s->err[0] = 0;
  *n = 0;
  int rc = check_queue(s, queue);
  if (rc) return rc;
  if (lease_ms <= 0 || max < 1)
    return pk__job_store_err(s, -EINVAL, "lease: lease_ms and max must be positive");
  memset(jobs, 0, sizeof *jobs * (size_t)max);
  rc = s->ops->lease_many(s, queue, now_ms, lease_ms, owner, max, jobs, n);
  if (rc < 0) {   /* leases that did not commit were not taken */
    for (int i = 0; i < *n; i++) pk__job_free(&jobs[i]);
    *n = 0;
  }
  if (rc == -ENOENT) pk__job_store_err(s, -ENOENT, "no runnable job in queue %s", queue);
  return rc;
}

int pk__job_store_lease(pk__job_store *s, const char *queue, int64_t now_ms, int64_t lease_ms,
                        int owner, pk__job *job) {
  int n = 0;
  memset(job, 0, sizeof *job);
  return pk__job_store_lease_many(s, queue, now_ms, lease_ms, owner, 1, job, &n);
}

int pk__job_store_next_due(pk__job_store *s, const char *queue, int64_t *run_at) {
  s->err[0] = 0;
  int rc = check_queue(s, queue);
  return rc ? rc : s->ops->next_due(s, queue, run_at);
}

int pk__job_store_next_expiry(pk__job_store *s, int64_t *lease_until) {
  s->err[0] = 0;
  return s->ops->next_expiry(s, lease_until);
}

int pk__job_store_complete(pk__job_store *s, int64_t id, int attempt, const void *result,
                           size_t rlen, int64_t now_ms) {
  s->err[0] = 0;
  if (rlen > INT_MAX) return pk__job_store_err(s, -E2BIG, "job result of %zu bytes", rlen);
  return s->ops->complete(s, id, attempt, result, rlen, now_ms);
}

int pk__job_store_fail(pk__job_store *s, int64_t id, int attempt, const char *error,
                       int64_t retry_at_ms, int64_t now_ms) {
  s->err[0] = 0;
  return s->ops->fail(s, id, attempt, error, retry_at_ms, now_ms);
}

int pk__job_store_extend(pk__job_store *s, int64_t id, int attempt, int64_t lease_ms,
                         int64_t now_ms) {
  s->err[0] = 0;
  if (lease_ms <= 0) return pk__job_store_err(s, -EINVAL, "extend: lease_ms must be positive");
  return s->ops->extend(s, id, attempt, lease_ms, now_ms);
}

int pk__job_store_progress(pk__job_store *s, int64_t id, const char *json, int64_t now_ms) {
  s->err[0] = 0;
  return s->ops->progress(s, id, json, now_ms);
}

int pk__job_store_get_id(pk__job_store *s, int64_t id, pk__job *job) {
  s->err[0] = 0;
  memset(job, 0, sizeof *job);
  return s->ops->get_id(s, id, job);
}

int pk__job_store_get(pk__job_store *s, const char *queue, const char *key, pk__job *job) {
  s->err[0] = 0;
  memset(job, 0, sizeof *job);
  int rc = check_queue(s, queue);
  if (rc) return rc;
  if (!key) return pk__job_store_err(s, -EINVAL, "get: no key");
  if ((rc = check_key(s, key))) return rc;
  if (!all_digits(key)) return s->ops->get_key(s, queue, key, job);
  errno = 0;
  long long id = strtoll(key, NULL, 10);
  if (errno) return pk__job_store_err(s, -ENOENT, "no job %s in queue %s", key, queue);
  rc = pk__job_store_get_id(s, id, job);
  if (rc == 0 && strcmp(job->queue, queue) != 0) {
    pk__job_free(job);
    rc = -ENOENT;
  }
  if (rc == -ENOENT) pk__job_store_err(s, rc, "no job %s in queue %s", key, queue);
  return rc;
}

int pk__job_store_counts(pk__job_store *s, const char *queue, int64_t now_ms, pk__job_counts *c) {
  s->err[0] = 0;
  int rc = check_queue(s, queue);
  return rc ? rc : s->ops->counts(s, queue, now_ms, c);
}

int pk__job_store_list_failed(pk__job_store *s, const char *queue, int limit, pk__job_cb cb,
                              void *ud) {
  s->err[0] = 0;
  int rc = check_queue(s, queue);
  return rc ? rc : s->ops->list_failed(s, queue, limit < 0 ? 0 : limit, cb, ud);
}

int pk__job_store_retry_failed(pk__job_store *s, const char *queue, int64_t now_ms) {
  s->err[0] = 0;
  int rc = check_queue(s, queue);
  return rc ? rc : s->ops->retry_failed(s, queue, now_ms);
}

int pk__job_store_purge(pk__job_store *s, const char *queue) {
  s->err[0] = 0;
  int rc = check_queue(s, queue);
  return rc ? rc : s->ops->purge(s, queue);
}

int pk__job_store_prune_completed(pk__job_store *s, int64_t older_than_ms, int limit) {
  s->err[0] = 0;
  if (limit <= 0) return 0;
  return s->ops->prune_completed(s, older_than_ms, limit);
}

int pk__job_store_move(pk__job_store *s, int64_t id, const char *queue, int64_t now_ms) {
  s->err[0] = 0;
  int rc = check_queue(s, queue);
  return rc ? rc : s->ops->move(s, id, queue, now_ms);
}

static int stall(pk__job_store *s, int64_t cutoff, int64_t now, int *failed) {
  int f = 0;
  s->err[0] = 0;
  int rc = s->ops->stall(s, cutoff, now, &f);
  if (failed) *failed = rc < 0 ? 0 : f;
  return rc;
}

int pk__job_store_recover(pk__job_store *s, int64_t now_ms, int *failed) {
  return stall(s, INT64_MAX, now_ms, failed);
}

int pk__job_store_expire_leases(pk__job_store *s, int64_t now_ms, int *failed) {
  return stall(s, now_ms, now_ms, failed);
}

int pk__job_store_release(pk__job_store *s, int64_t id, int attempt, int64_t now_ms) {
  s->err[0] = 0;
  return s->ops->release(s, id, attempt, now_ms);
}
