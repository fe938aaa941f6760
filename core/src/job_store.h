/* job_store.h: the durable job store of the background queues (SQLite; no Lua, no libuv). */
#ifndef PK_JOB_STORE_H
#define PK_JOB_STORE_H
#include <stddef.h>
#include <stdint.h>

/* One owner (the master), one thread. Every operation takes the caller's clock, `now_ms`
 * (milliseconds; any epoch, as long as the caller keeps to one), and never reads a clock itself.
 * Functions return 0 or a negative errno unless they say they return a count; after an error,
 * pk__job_store_error() says what went wrong. docs/queues.md, "Storage", has the guarantees. */

typedef struct pk__job_store pk__job_store;

/* Job states, as stored in the `status` column. */
enum {
  PK_JOB_WAITING = 0,    /* runnable now */
  PK_JOB_DELAYED = 1,    /* runnable at run_at (a later add, or a retry's back-off) */
  PK_JOB_ACTIVE = 2,     /* leased to a worker until lease_until */
  PK_JOB_COMPLETED = 3,
  PK_JOB_FAILED = 4
};

#define PK_JOB_PRIORITY_MAX 2097152          /* 2^21, BullMQ's limit; 0 (the default) runs first */
#define PK_JOB_QUEUE_MAX 255                 /* bytes in a queue name */
#define PK_JOB_KEY_MAX 1024                  /* bytes in a job key */

/* A job, with copies the record owns (pk__job_free releases them). `data`, `result`, `error` and
 * `progress` are NULL when absent; when present they end with a NUL byte not counted in the
 * length, so JSON text can be read as a C string. */
typedef struct pk__job {
  int64_t id;            /* the store's sequence: never reused */
  char *queue;
  char *key;             /* the caller's key, or the id in decimal */
  void *data;            /* the bytes given to add (opaque: JSON for Pikku) */
  size_t dlen;
  int status;            /* PK_JOB_* */
  int priority;
  int64_t run_at;        /* when it became (or becomes) runnable */
  int attempts;          /* leases so far; a lease's number is the attempts it returned */
  int max_attempts;
  int stalls;            /* leases lost (worker gone, lease expired) */
  int64_t lease_until;   /* 0 when not leased */
  int lease_owner;       /* 0 when not leased */
  void *result;
  size_t rlen;
  char *error;           /* the last failure's message (kept after a later success) */
  char *progress;        /* JSON text */
  int64_t created_at, updated_at;
  int64_t finished_at;   /* 0 until completed or failed */
} pk__job;

void pk__job_free(pk__job *job);

/* Opens (creating when missing) the store at `path`, a file whose directory exists, or ":memory:".
 * Fails with a message in `err` ("job store PATH: file is not a database", "...: file is
 * read-only", "...: unable to open database file (No such file or directory)", a schema newer than
 * this build, a database of something else) rather than ever using an empty store in its place. */
int pk__job_store_open(pk__job_store **out, const char *path, char *err, size_t errlen);
/* Closes; a batch still open is rolled back. NULL is fine. */
void pk__job_store_close(pk__job_store *s);
/* The last error's message ("" when none). Valid until the next call on the store. */
const char *pk__job_store_error(const pk__job_store *s);
/* synchronous=FULL (1) or NORMAL (0, the default); -EBUSY inside a batch. */
int pk__job_store_set_sync_full(pk__job_store *s, int on);
/* How many times a job may lose its lease and be put back before it fails (default 1). */
void pk__job_store_set_max_stalls(pk__job_store *s, int n);
/* PRAGMA quick_check over the whole file (reads all of it: seconds for millions of jobs).
 * 0, or -EBADMSG with the first problem as the error. */
int pk__job_store_check(pk__job_store *s);

/* A batch: the operations between begin and commit are one transaction, on disk together or not at
 * all. Outside a batch each operation commits on its own. An operation that fails inside a batch
 * undoes only itself; a commit that fails rolls the whole batch back (-errno). */
int pk__job_store_begin(pk__job_store *s);
int pk__job_store_commit(pk__job_store *s);
int pk__job_store_rollback(pk__job_store *s);

/* Adds a job to `queue`. `key` NULL: the key is the new id in decimal. A key already in the queue
 * adds nothing: *id_out is that job's id and *existed_out 1 (otherwise 0). A given key must not be
 * all digits (those are the generated ones): -EINVAL. `priority` 0 to PK_JOB_PRIORITY_MAX, lower
 * first. `run_at_ms` later than now makes the job delayed until then. `max_attempts` < 1 means 1.
 * id_out and existed_out may be NULL. */
int pk__job_store_add(pk__job_store *s, const char *queue, const char *key, const void *data,
                      size_t dlen, int priority, int64_t run_at_ms, int max_attempts,
                      int64_t now_ms, int64_t *id_out, int *existed_out);

/* Leases the queue's next runnable job (waiting, or delayed and due) by priority, then run_at,
 * then id: it becomes active until now + lease_ms, owned by `owner`, attempts + 1. 0 and the job
 * in *job (owned copies), or -ENOENT when none is runnable. Inside a batch the lease holds only
 * if the batch commits. */
int pk__job_store_lease(pk__job_store *s, const char *queue, int64_t now_ms, int64_t lease_ms,
                        int owner, pk__job *job);
/* The same for up to max jobs at once (one operation: cheaper per job): 0 with *n >= 1 jobs in
 * jobs[0 .. *n-1] (each to pk__job_free), or -ENOENT when none is runnable. Added by the jobs
 * branch: the master fills a worker's free slots with one call. */
int pk__job_store_lease_many(pk__job_store *s, const char *queue, int64_t now_ms, int64_t lease_ms,
                             int owner, int max, pk__job *jobs, int *n);
/* The earliest run_at of the queue's delayed jobs (when to wake up), or -ENOENT. */
int pk__job_store_next_due(pk__job_store *s, const char *queue, int64_t *run_at);
/* The earliest lease_until of any active job (when a lease can next expire), or -ENOENT. */
int pk__job_store_next_expiry(pk__job_store *s, int64_t *lease_until);

/* The lease's worker reports. `attempt` is the job's attempts as its lease returned them (0: do
 * not check): a report from a lease that was since lost and given to another worker is -ESTALE,
 * as is one about a job already completed or failed; -ENOENT when no such job. A lease that expired
 * without the job being leased again still counts (the job is done once). */
int pk__job_store_complete(pk__job_store *s, int64_t id, int attempt, const void *result,
                           size_t rlen, int64_t now_ms);
/* Records `error`; `retry_at_ms` >= 0 asks for another attempt at that time, given when attempts
 * < max_attempts; otherwise (or with -1) the job fails for good. Returns 1 when a retry was
 * scheduled, 0 when the job failed, or a negative errno. */
int pk__job_store_fail(pk__job_store *s, int64_t id, int attempt, const char *error,
                       int64_t retry_at_ms, int64_t now_ms);
/* Extends an active lease to now + lease_ms (a heartbeat for long jobs); -ESTALE when lost. */
int pk__job_store_extend(pk__job_store *s, int64_t id, int attempt, int64_t lease_ms,
                         int64_t now_ms);
/* Sets the progress JSON text (NULL clears) of a job not yet finished; -ESTALE when finished. */
int pk__job_store_progress(pk__job_store *s, int64_t id, const char *json, int64_t now_ms);

/* The job with this key in this queue (a key of digits is the id), or -ENOENT. Like lease, they
 * overwrite *job, and leave it empty (all zero) on an error. */
int pk__job_store_get(pk__job_store *s, const char *queue, const char *key, pk__job *job);
int pk__job_store_get_id(pk__job_store *s, int64_t id, pk__job *job);

typedef struct pk__job_counts {
  int64_t waiting, delayed, active, completed, failed;
} pk__job_counts;
/* The queue's jobs by state (delayed jobs already due count as waiting). Does not scan: the store
 * keeps the counts as jobs change state (and counts only the due delayed ones). */
int pk__job_store_counts(pk__job_store *s, const char *queue, int64_t now_ms, pk__job_counts *c);

/* Calls cb with each failed job of the queue, latest failure first, at most `limit` (one row in
 * memory at a time; the job is freed after cb returns). cb returns nonzero to stop. Returns the
 * number of jobs given to cb, or a negative errno. */
typedef int (*pk__job_cb)(const pk__job *job, void *ud);
int pk__job_store_list_failed(pk__job_store *s, const char *queue, int limit, pk__job_cb cb,
                              void *ud);

/* Failed jobs of the queue back to waiting with attempts and stalls at 0. Returns how many. */
int pk__job_store_retry_failed(pk__job_store *s, const char *queue, int64_t now_ms);
/* Deletes the queue's completed and failed jobs (their keys become free). Returns how many. */
int pk__job_store_purge(pk__job_store *s, const char *queue);
/* Deletes at most `limit` completed jobs of any queue finished before older_than_ms (the oldest
 * first within each queue; call again while it returns `limit`). Returns how many. */
int pk__job_store_prune_completed(pk__job_store *s, int64_t older_than_ms, int limit);
/* Moves a job that is not active to `queue` (a dead-letter queue) as waiting, attempts and stalls
 * at 0, keeping its key, data, priority and error. -EBUSY when active, -EEXIST when its key is
 * taken there, -ENOENT when no such job. */
int pk__job_store_move(pk__job_store *s, int64_t id, const char *queue, int64_t now_ms);

/* At startup: every active job's worker is gone. Each goes back to waiting in its old place
 * (attempts kept, stalls + 1), or fails when it has already stalled max_stalls times.
 * Returns how many went back (and *failed how many failed; may be NULL). */
int pk__job_store_recover(pk__job_store *s, int64_t now_ms, int *failed);
/* The same for the active jobs whose lease_until < now (a worker died, the master lives on). */
int pk__job_store_expire_leases(pk__job_store *s, int64_t now_ms, int *failed);
/* The same for one job, at once (the master saw its worker die): job `id`, active under lease
 * `attempt`, goes back to waiting (returns 1) or fails (returns 0) after max_stalls losses;
 * -ESTALE when it is not active under that attempt. */
int pk__job_store_release(pk__job_store *s, int64_t id, int attempt, int64_t now_ms);

/* For tests: the query plan (EXPLAIN QUERY PLAN, "; "-joined) of the named cached statement
 * ("lease", "promote", "next_due", ...: the names in job_store.c). 0, -ENOENT or -errno. */
int pk__job_store_plan(pk__job_store *s, const char *name, char *out, size_t outlen);

#endif
