/* job_store_impl.h: what the job store's two implementations (job_store.c: SQLite; job_store_mem.c: in memory) share with the API that dispatches to them (job_store_api.c). */
#ifndef PK_JOB_STORE_IMPL_H
#define PK_JOB_STORE_IMPL_H
#include "job_store.h"

/* An implementation's operations. job_store_api.c checks the arguments first (queue names, keys,
 * priorities, lease lengths: the rules are the same for both), clears the error, and zeroes the
 * records it hands out; these do the rest, as job_store.h says. */
typedef struct pk__job_store_ops {
  void (*close)(pk__job_store *s);
  int (*set_sync_full)(pk__job_store *s, int on);
  int (*check)(pk__job_store *s);
  int (*plan)(pk__job_store *s, const char *name, char *out, size_t outlen);
  int (*begin)(pk__job_store *s);
  int (*commit)(pk__job_store *s);
  int (*rollback)(pk__job_store *s);
  /* key NULL: generated; *id and *existed always set on success */
  int (*add)(pk__job_store *s, const char *queue, const char *key, const void *data, size_t dlen,
             int priority, int64_t run_at, int max_attempts, int64_t now, int64_t *id, int *existed);
  /* jobs[0 .. max-1] zeroed, *n = 0 on entry; lease is lease_many with max 1 */
  int (*lease_many)(pk__job_store *s, const char *queue, int64_t now, int64_t lease_ms, int owner,
                    int max, pk__job *jobs, int *n);
  int (*next_due)(pk__job_store *s, const char *queue, int64_t *run_at);
  int (*next_expiry)(pk__job_store *s, int64_t *lease_until);
  int (*complete)(pk__job_store *s, int64_t id, int attempt, const void *result, size_t rlen,
                  int64_t now);
  int (*fail)(pk__job_store *s, int64_t id, int attempt, const char *error, int64_t retry_at,
              int64_t now);
  int (*extend)(pk__job_store *s, int64_t id, int attempt, int64_t lease_ms, int64_t now);
  int (*progress)(pk__job_store *s, int64_t id, const char *json, int64_t now);
  /* get by a key that is not all digits (those go to get_id) */
  int (*get_key)(pk__job_store *s, const char *queue, const char *key, pk__job *job);
  int (*get_id)(pk__job_store *s, int64_t id, pk__job *job);
  int (*counts)(pk__job_store *s, const char *queue, int64_t now, pk__job_counts *c);
  int (*list_failed)(pk__job_store *s, const char *queue, int limit, pk__job_cb cb, void *ud);
  int (*retry_failed)(pk__job_store *s, const char *queue, int64_t now);
  int (*purge)(pk__job_store *s, const char *queue);
  int (*prune_completed)(pk__job_store *s, int64_t older_than, int limit);   /* limit >= 1 */
  int (*move)(pk__job_store *s, int64_t id, const char *queue, int64_t now);
  /* recover (cutoff INT64_MAX) and expire_leases (cutoff now): active jobs whose lease_until <
   * cutoff lose their lease; returns how many went back, *failed how many failed */
  int (*stall)(pk__job_store *s, int64_t cutoff, int64_t now, int *failed);
  int (*release)(pk__job_store *s, int64_t id, int attempt, int64_t now);
} pk__job_store_ops;

/* The head of every implementation's store (each puts it first in its own struct). */
struct pk__job_store {
  const pk__job_store_ops *ops;
  char *path;            /* as given to open: a file, or ":memory:" */
  int max_stalls;
  char err[512];
};

/* Sets the error ("job store PATH: " and the message) and returns code. */
int pk__job_store_err(pk__job_store *s, int code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
/* Fills in the head (path copied, max_stalls 1); -ENOMEM. */
int pk__job_store_init(pk__job_store *s, const pk__job_store_ops *ops, const char *path);

/* The implementations' openers (the head initialised, or *out NULL and err set). */
int pk__job_store_sqlite_open(pk__job_store **out, const char *path, char *err, size_t errlen);
int pk__job_store_mem_open(pk__job_store **out, char *err, size_t errlen);

/* Job states' names ("waiting", ...), for messages. */
extern const char *const pk__job_status_names[5];

#endif
