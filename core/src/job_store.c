/* job_store.c: the job store over SQLite, a file in WAL mode (job_store.h; the calls come through job_store_api.c). */
#include "job_store_impl.h"
#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1
#define APP_ID 0x504b4a53            /* "PKJS": PRAGMA application_id of a job store */
#define CACHE_KIB 8192               /* the page cache's bound (PRAGMA cache_size = -KiB) */
#define BUSY_MS 2000                 /* how long a statement waits for another process's lock */
#define WAL_LIMIT (16 * 1024 * 1024) /* the WAL file is cut back to this after a checkpoint */

/* The status codes inlined in SQL: a partial index is used only when the query names its
 * condition literally, so these are not bound as parameters. */
#define S_WAITING "0"
#define S_DELAYED "1"
#define S_ACTIVE "2"
#define S_COMPLETED "3"
#define S_FAILED "4"

static const char SCHEMA[] =
  "CREATE TABLE jobs ("
  " id INTEGER PRIMARY KEY AUTOINCREMENT,"     /* AUTOINCREMENT: an id is never reused */
  " queue TEXT NOT NULL,"
  " job_key TEXT,"                             /* NULL: the key is the id in decimal */
  " data BLOB,"
  " status INTEGER NOT NULL CHECK (status BETWEEN 0 AND 4),"
  " priority INTEGER NOT NULL DEFAULT 0,"
  " run_at INTEGER NOT NULL,"
  " attempts INTEGER NOT NULL DEFAULT 0,"
  " max_attempts INTEGER NOT NULL DEFAULT 1,"
  " stalls INTEGER NOT NULL DEFAULT 0,"
  " lease_until INTEGER,"
  " lease_owner INTEGER,"
  " result BLOB,"
  " error TEXT,"
  " progress TEXT,"
  " created_at INTEGER NOT NULL,"
  " updated_at INTEGER NOT NULL,"
  " finished_at INTEGER);"
  "CREATE UNIQUE INDEX jobs_key ON jobs(queue, job_key) WHERE job_key IS NOT NULL;"
  "CREATE INDEX jobs_ready ON jobs(queue, priority, run_at) WHERE status = " S_WAITING ";"
  "CREATE INDEX jobs_delayed ON jobs(queue, run_at) WHERE status = " S_DELAYED ";"
  "CREATE INDEX jobs_active ON jobs(lease_until) WHERE status = " S_ACTIVE ";"
  "CREATE INDEX jobs_completed ON jobs(queue, finished_at) WHERE status = " S_COMPLETED ";"
  "CREATE INDEX jobs_failed ON jobs(queue, finished_at) WHERE status = " S_FAILED ";"
  "CREATE TABLE job_counts (queue TEXT NOT NULL, status INTEGER NOT NULL, n INTEGER NOT NULL,"
  " PRIMARY KEY (queue, status)) WITHOUT ROWID;"
  "CREATE TRIGGER jobs_count_insert AFTER INSERT ON jobs BEGIN"
  " INSERT INTO job_counts VALUES (new.queue, new.status, 1)"
  "  ON CONFLICT (queue, status) DO UPDATE SET n = n + 1; END;"
  "CREATE TRIGGER jobs_count_delete AFTER DELETE ON jobs BEGIN"
  " UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND status = old.status; END;"
  "CREATE TRIGGER jobs_count_update AFTER UPDATE OF queue, status ON jobs"
  " WHEN old.queue IS NOT new.queue OR old.status IS NOT new.status BEGIN"
  " UPDATE job_counts SET n = n - 1 WHERE queue = old.queue AND status = old.status;"
  " INSERT INTO job_counts VALUES (new.queue, new.status, 1)"
  "  ON CONFLICT (queue, status) DO UPDATE SET n = n + 1; END;";

#define JOB_COLS "id, queue, job_key, data, status, priority, run_at, attempts, max_attempts," \
  " stalls, lease_until, lease_owner, result, error, progress, created_at, updated_at, finished_at"
#define CLEAR_LEASE "lease_until = NULL, lease_owner = NULL"

enum {
  Q_BEGIN, Q_COMMIT, Q_ROLLBACK, Q_SAVEPOINT, Q_RELEASE, Q_ROLLBACK_TO,
  Q_FIND_KEY, Q_INSERT, Q_PROMOTE, Q_LEASE, Q_NEXT_DUE, Q_NEXT_EXPIRY, Q_STATE, Q_COMPLETE,
  Q_FAIL, Q_RETRY, Q_EXTEND, Q_PROGRESS, Q_GET_KEY, Q_GET_ID, Q_COUNTS, Q_DUE_COUNT,
  Q_LIST_FAILED, Q_RETRY_FAILED, Q_PURGE_COMPLETED, Q_PURGE_FAILED, Q_QUEUES_DONE, Q_PRUNE, Q_MOVE, Q_STALL_FAIL,
  Q_STALL_REQUEUE, Q_RELEASE_FAIL, Q_RELEASE_REQUEUE, Q_COMPLETE_HELD, Q_COUNT
};

static const struct { const char *name, *sql; } QUERIES[Q_COUNT] = {
  [Q_BEGIN] = {"begin", "BEGIN IMMEDIATE"},
  [Q_COMMIT] = {"commit", "COMMIT"},
  [Q_ROLLBACK] = {"rollback", "ROLLBACK"},
  [Q_SAVEPOINT] = {"savepoint", "SAVEPOINT op"},
  [Q_RELEASE] = {"release", "RELEASE op"},
  [Q_ROLLBACK_TO] = {"rollback_to", "ROLLBACK TO op"},
  [Q_FIND_KEY] = {"find_key", "SELECT id FROM jobs WHERE queue = ?1 AND job_key = ?2"},
  [Q_INSERT] = {"insert", "INSERT INTO jobs (queue, job_key, data, status, priority, run_at,"
                " max_attempts, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)"},
  [Q_PROMOTE] = {"promote", "UPDATE jobs SET status = " S_WAITING ", updated_at = ?2"
                 " WHERE queue = ?1 AND status = " S_DELAYED " AND run_at <= ?2"},
  [Q_LEASE] = {"lease", "UPDATE jobs SET status = " S_ACTIVE ", attempts = attempts + 1,"
               " lease_until = ?2, lease_owner = ?3, updated_at = ?4"
               " WHERE id = (SELECT id FROM jobs WHERE queue = ?1 AND status = " S_WAITING
               " ORDER BY priority, run_at, id LIMIT 1) RETURNING " JOB_COLS},
  [Q_NEXT_DUE] = {"next_due", "SELECT min(run_at) FROM jobs WHERE queue = ?1 AND status = " S_DELAYED},
  [Q_NEXT_EXPIRY] = {"next_expiry", "SELECT min(lease_until) FROM jobs WHERE status = " S_ACTIVE},
  [Q_STATE] = {"state", "SELECT status, attempts, max_attempts FROM jobs WHERE id = ?1"},
  [Q_COMPLETE] = {"complete", "UPDATE jobs SET status = " S_COMPLETED ", result = ?2, " CLEAR_LEASE
                  ", updated_at = ?3, finished_at = ?3 WHERE id = ?1"},
  [Q_FAIL] = {"fail", "UPDATE jobs SET status = " S_FAILED ", error = ?2, " CLEAR_LEASE
              ", updated_at = ?3, finished_at = ?3 WHERE id = ?1"},
  [Q_RETRY] = {"retry", "UPDATE jobs SET status = ?4, run_at = ?5, error = ?2, " CLEAR_LEASE
               ", updated_at = ?3 WHERE id = ?1"},
  [Q_EXTEND] = {"extend", "UPDATE jobs SET lease_until = ?2, updated_at = ?3 WHERE id = ?1"},
  [Q_PROGRESS] = {"progress", "UPDATE jobs SET progress = ?2, updated_at = ?3 WHERE id = ?1"},
  [Q_GET_KEY] = {"get_key", "SELECT " JOB_COLS " FROM jobs WHERE queue = ?1 AND job_key = ?2"},
  [Q_GET_ID] = {"get_id", "SELECT " JOB_COLS " FROM jobs WHERE id = ?1"},
  [Q_COUNTS] = {"counts", "SELECT status, n FROM job_counts WHERE queue = ?1"},
  [Q_DUE_COUNT] = {"due_count", "SELECT count(*) FROM jobs WHERE queue = ?1 AND status = "
                   S_DELAYED " AND run_at <= ?2"},
  [Q_LIST_FAILED] = {"list_failed", "SELECT " JOB_COLS " FROM jobs WHERE queue = ?1 AND status = "
                     S_FAILED " ORDER BY finished_at DESC, id DESC LIMIT ?2"},
  [Q_RETRY_FAILED] = {"retry_failed", "UPDATE jobs SET status = " S_WAITING ", attempts = 0,"
                      " stalls = 0, run_at = ?2, updated_at = ?2, finished_at = NULL"
                      " WHERE queue = ?1 AND status = " S_FAILED},
  [Q_PURGE_COMPLETED] = {"purge_completed", "DELETE FROM jobs WHERE queue = ?1 AND status = "
                         S_COMPLETED},
  [Q_PURGE_FAILED] = {"purge_failed", "DELETE FROM jobs WHERE queue = ?1 AND status = " S_FAILED},
  [Q_QUEUES_DONE] = {"queues_done", "SELECT queue FROM job_counts WHERE status = " S_COMPLETED
                     " AND n > 0"},
  [Q_PRUNE] = {"prune", "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE queue = ?1"
               " AND status = " S_COMPLETED " AND finished_at < ?2"
               " ORDER BY finished_at LIMIT ?3)"},
  [Q_MOVE] = {"move", "UPDATE jobs SET queue = ?2, status = " S_WAITING ", attempts = 0, stalls = 0,"
              " run_at = ?3, " CLEAR_LEASE ", updated_at = ?3, finished_at = NULL WHERE id = ?1"},
  [Q_STALL_FAIL] = {"stall_fail", "UPDATE jobs SET status = " S_FAILED ", stalls = stalls + 1,"
                    " error = 'lease lost ' || (stalls + 1) || ' times (worker gone or lease expired)',"
                    " " CLEAR_LEASE ", updated_at = ?1, finished_at = ?1"
                    " WHERE status = " S_ACTIVE " AND lease_until < ?2 AND stalls >= ?3"},
  [Q_STALL_REQUEUE] = {"stall_requeue", "UPDATE jobs SET status = " S_WAITING ", stalls = stalls + 1,"
                       " " CLEAR_LEASE ", updated_at = ?1"
                       " WHERE status = " S_ACTIVE " AND lease_until < ?2 AND stalls < ?3"},
  [Q_COMPLETE_HELD] = {"complete_held", "UPDATE jobs SET status = " S_COMPLETED ", result = ?2, " CLEAR_LEASE
                       ", updated_at = ?3, finished_at = ?3 WHERE id = ?1 AND status < " S_COMPLETED
                       " AND (?4 = 0 OR attempts = ?4)"},
  [Q_RELEASE_FAIL] = {"release_fail", "UPDATE jobs SET status = " S_FAILED ", stalls = stalls + 1,"
                      " error = 'lease lost ' || (stalls + 1) || ' times (worker gone or lease expired)',"
                      " " CLEAR_LEASE ", updated_at = ?1, finished_at = ?1"
                      " WHERE id = ?2 AND status = " S_ACTIVE " AND attempts = ?3 AND stalls >= ?4"},
  [Q_RELEASE_REQUEUE] = {"release_requeue", "UPDATE jobs SET status = " S_WAITING ", stalls = stalls + 1,"
                         " " CLEAR_LEASE ", updated_at = ?1"
                         " WHERE id = ?2 AND status = " S_ACTIVE " AND attempts = ?3 AND stalls < ?4"},
};

typedef struct sql_store {
  pk__job_store b;      /* the head every store starts with (job_store_impl.h) */
  sqlite3 *db;
  sqlite3_stmt *q[Q_COUNT];
  int batch;            /* inside begin .. commit */
  int broken;           /* the batch's transaction was rolled back by an error: its -errno */
} sql_store;

#define SQL(base) ((sql_store *)(base))

/* ---- errors ---- */

static int errno_of(int rc) {
  switch (rc & 0xff) {
  case SQLITE_NOMEM: return -ENOMEM;
  case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
  case SQLITE_READONLY: return -EROFS;
  case SQLITE_FULL: return -ENOSPC;
  case SQLITE_CORRUPT: case SQLITE_NOTADB: return -EBADMSG;
  case SQLITE_CONSTRAINT: return -EEXIST;
  case SQLITE_TOOBIG: return -E2BIG;
  case SQLITE_PERM: case SQLITE_AUTH: return -EPERM;
  case SQLITE_CANTOPEN: return -EACCES;
  default: return -EIO;
  }
}

#define fail_with(s, ...) pk__job_store_err(&(s)->b, __VA_ARGS__)

/* SQLite's error rc with message msg, as -errno ("what: msg"; what may be NULL). A file that
 * cannot be opened says why (errno). */
static int sql_fail_msg(sql_store *s, int rc, const char *what, const char *msg) {
  int sys = sqlite3_system_errno(s->db);
  char why[128] = "";
  if ((rc & 0xff) == SQLITE_CANTOPEN && sys) snprintf(why, sizeof why, " (%s)", strerror(sys));
  fail_with(s, 0, "%s%s%s%s", what ? what : "", what ? ": " : "", msg, why);
  return (rc & 0xff) == SQLITE_CANTOPEN && sys ? -sys : errno_of(rc);
}

static int sql_fail(sql_store *s, int rc, const char *what) {
  return sql_fail_msg(s, rc, what, sqlite3_errmsg(s->db));
}

/* ---- statements ---- */

static sqlite3_stmt *q(sql_store *s, int i) { return s->q[i]; }

/* Steps a statement that returns no rows (or whose rows are not wanted) and resets it. */
static int run(sql_store *s, int i) {
  sqlite3_stmt *st = s->q[i];
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {}
  if (rc != SQLITE_DONE) {
    rc = sql_fail(s, sqlite3_reset(st), QUERIES[i].name);
    return rc;
  }
  sqlite3_reset(st);
  return 0;
}

/* The first step of a query: 1 (a row), 0 (none) or -errno (the statement is then reset). */
static int step(sql_store *s, int i) {
  int rc = sqlite3_step(s->q[i]);
  if (rc == SQLITE_ROW) return 1;
  if (rc == SQLITE_DONE) return 0;
  return sql_fail(s, sqlite3_reset(s->q[i]), QUERIES[i].name);
}

static int bind_text(sqlite3_stmt *st, int i, const char *v) {
  return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}
static int bind_blob(sqlite3_stmt *st, int i, const void *v, size_t n) {
  if (!v) return sqlite3_bind_null(st, i);
  return sqlite3_bind_blob(st, i, n ? v : "", (int)n, SQLITE_STATIC);
}

/* ---- one operation: its own transaction, or a savepoint inside the batch ---- */

static int op_begin(sql_store *s) {
  s->b.err[0] = 0;
  if (s->batch && s->broken)
    return fail_with(s, s->broken, "the batch was rolled back by an earlier error: commit or "
                     "roll back first");
  return run(s, s->batch ? Q_SAVEPOINT : Q_BEGIN);
}

/* Ends the operation begun by op_begin: keeps its changes when rc >= 0, else undoes them. */
static int op_end(sql_store *s, int rc) {
  if (rc >= 0) {
    int e = run(s, s->batch ? Q_RELEASE : Q_COMMIT);
    if (e == 0) return rc;
    rc = e;
  }
  if (sqlite3_get_autocommit(s->db)) {
    /* SQLite already rolled back the whole transaction (an I/O error, a full disk...). */
    if (s->batch) s->broken = rc;
    return rc;
  }
  char keep[sizeof s->b.err];
  memcpy(keep, s->b.err, sizeof keep);
  if (s->batch) {
    if (run(s, Q_ROLLBACK_TO) == 0) run(s, Q_RELEASE);
  } else {
    run(s, Q_ROLLBACK);
  }
  memcpy(s->b.err, keep, sizeof keep);
  return rc;
}

/* An operation whose only write is one statement (an add, a complete): inside a batch it needs no
 * savepoint of its own, since SQLite undoes a failed statement by itself (its statement journal).
 * Outside a batch: its own transaction, as op_begin. */
static int single_begin(sql_store *s) {
  if (!s->batch) return op_begin(s);
  s->b.err[0] = 0;
  if (s->broken)
    return fail_with(s, s->broken, "the batch was rolled back by an earlier error: commit or "
                     "roll back first");
  return 0;
}

static int single_end(sql_store *s, int rc) {
  if (!s->batch) return op_end(s, rc);
  if (rc < 0 && sqlite3_get_autocommit(s->db)) s->broken = rc;   /* SQLite rolled it all back */
  return rc;
}

static int sq_begin(pk__job_store *base) {
  sql_store *s = SQL(base);
  s->b.err[0] = 0;
  if (s->batch) return fail_with(s, -EBUSY, "begin: a batch is already open");
  int rc = run(s, Q_BEGIN);
  if (rc == 0) { s->batch = 1; s->broken = 0; }
  return rc;
}

static int sq_commit(pk__job_store *base) {
  sql_store *s = SQL(base);
  s->b.err[0] = 0;
  if (!s->batch) return fail_with(s, -EINVAL, "commit: no batch is open");
  int broken = s->broken;
  s->batch = 0;
  s->broken = 0;
  if (broken) {
    if (!sqlite3_get_autocommit(s->db)) run(s, Q_ROLLBACK);
    return fail_with(s, broken, "commit: the batch was rolled back by an earlier error");
  }
  int rc = run(s, Q_COMMIT);
  if (rc < 0 && !sqlite3_get_autocommit(s->db)) {
    char keep[sizeof s->b.err];
    memcpy(keep, s->b.err, sizeof keep);
    run(s, Q_ROLLBACK);
    memcpy(s->b.err, keep, sizeof keep);
  }
  return rc;
}

static int sq_rollback(pk__job_store *base) {
  sql_store *s = SQL(base);
  s->b.err[0] = 0;
  if (!s->batch) return fail_with(s, -EINVAL, "rollback: no batch is open");
  s->batch = 0;
  s->broken = 0;
  return sqlite3_get_autocommit(s->db) ? 0 : run(s, Q_ROLLBACK);
}

/* ---- job records ---- */


/* A copy of column c with a NUL after it (NULL for SQL NULL); sets *bad when out of memory. */
static void *copy_col(sqlite3_stmt *st, int c, size_t *len, int *bad) {
  if (len) *len = 0;
  if (sqlite3_column_type(st, c) == SQLITE_NULL) return NULL;
  const void *p = sqlite3_column_blob(st, c);
  size_t n = (size_t)sqlite3_column_bytes(st, c);
  char *r = malloc(n + 1);
  if (!r) { *bad = 1; return NULL; }
  if (n) memcpy(r, p, n);
  r[n] = 0;
  if (len) *len = n;
  return r;
}

/* Fills *job from a row of JOB_COLS. */
static int read_job(sql_store *s, sqlite3_stmt *st, pk__job *job) {
  int bad = 0;
  memset(job, 0, sizeof *job);
  job->id = sqlite3_column_int64(st, 0);
  job->queue = copy_col(st, 1, NULL, &bad);
  job->key = copy_col(st, 2, NULL, &bad);
  if (!job->key && !bad) {
    job->key = malloc(24);
    if (job->key) snprintf(job->key, 24, "%lld", (long long)job->id);
    else bad = 1;
  }
  job->data = copy_col(st, 3, &job->dlen, &bad);
  job->status = sqlite3_column_int(st, 4);
  job->priority = sqlite3_column_int(st, 5);
  job->run_at = sqlite3_column_int64(st, 6);
  job->attempts = sqlite3_column_int(st, 7);
  job->max_attempts = sqlite3_column_int(st, 8);
  job->stalls = sqlite3_column_int(st, 9);
  job->lease_until = sqlite3_column_int64(st, 10);
  job->lease_owner = sqlite3_column_int(st, 11);
  job->result = copy_col(st, 12, &job->rlen, &bad);
  job->error = copy_col(st, 13, NULL, &bad);
  job->progress = copy_col(st, 14, NULL, &bad);
  job->created_at = sqlite3_column_int64(st, 15);
  job->updated_at = sqlite3_column_int64(st, 16);
  job->finished_at = sqlite3_column_int64(st, 17);
  if (!bad) return 0;
  long long id = (long long)job->id;
  pk__job_free(job);
  return fail_with(s, -ENOMEM, "out of memory copying job %lld", id);
}

/* ---- operations ---- */

static int add(sql_store *s, const char *queue, const char *key, const void *data, size_t dlen,
               int priority, int64_t run_at, int max_attempts, int64_t now, int64_t *id, int *existed) {
  if (key) {
    sqlite3_stmt *st = q(s, Q_FIND_KEY);
    bind_text(st, 1, queue);
    bind_text(st, 2, key);
    int rc = step(s, Q_FIND_KEY);
    if (rc < 0) return rc;
    if (rc == 1) {
      *id = sqlite3_column_int64(st, 0);
      *existed = 1;
      sqlite3_reset(st);
      return 0;
    }
    sqlite3_reset(st);
  }
  sqlite3_stmt *st = q(s, Q_INSERT);
  bind_text(st, 1, queue);
  bind_text(st, 2, key);
  bind_blob(st, 3, data, dlen);
  sqlite3_bind_int(st, 4, run_at > now ? PK_JOB_DELAYED : PK_JOB_WAITING);
  sqlite3_bind_int(st, 5, priority);
  sqlite3_bind_int64(st, 6, run_at > now ? run_at : now);
  sqlite3_bind_int(st, 7, max_attempts < 1 ? 1 : max_attempts);
  sqlite3_bind_int64(st, 8, now);
  int rc = run(s, Q_INSERT);
  if (rc < 0) return rc;
  *id = sqlite3_last_insert_rowid(s->db);
  *existed = 0;
  return 0;
}

static int sq_add(pk__job_store *base, const char *queue, const char *key, const void *data,
                  size_t dlen, int priority, int64_t run_at, int max_attempts, int64_t now,
                  int64_t *id, int *existed) {
  sql_store *s = SQL(base);
  int rc = single_begin(s);
  if (rc) return rc;
  return single_end(s, add(s, queue, key, data, dlen, priority, run_at, max_attempts, now, id,
                           existed));
}
static int promote(sql_store *s, const char *queue, int64_t now) {
  sqlite3_stmt *st = q(s, Q_PROMOTE);
  bind_text(st, 1, queue);
  sqlite3_bind_int64(st, 2, now);
  return run(s, Q_PROMOTE);
}

/* Up to max leases in one operation (one due-delayed check, one savepoint): *n jobs in jobs[]. */
static int lease_many(sql_store *s, const char *queue, int64_t now, int64_t lease_ms, int owner,
                      int max, pk__job *jobs, int *n) {
  int rc = promote(s, queue, now);
  if (rc) return rc;
  sqlite3_stmt *st = q(s, Q_LEASE);
  while (*n < max) {
    bind_text(st, 1, queue);
    sqlite3_bind_int64(st, 2, now + lease_ms);
    sqlite3_bind_int(st, 3, owner);
    sqlite3_bind_int64(st, 4, now);
    rc = step(s, Q_LEASE);
    if (rc < 0) return rc;
    if (rc == 0) {
      sqlite3_reset(st);
      break;
    }
    rc = read_job(s, st, &jobs[*n]);
    int e = run(s, Q_LEASE);
    if (rc < 0 || e < 0) {
      pk__job_free(&jobs[*n]);
      return rc < 0 ? rc : e;
    }
    (*n)++;
  }
  return *n ? 0 : -ENOENT;
}

static int sq_lease_many(pk__job_store *base, const char *queue, int64_t now, int64_t lease_ms,
                         int owner, int max, pk__job *jobs, int *n) {
  sql_store *s = SQL(base);
  int rc = op_begin(s);
  if (rc) return rc;
  return op_end(s, lease_many(s, queue, now, lease_ms, owner, max, jobs, n));
}
/* A query returning one nullable integer: 0 with it, -ENOENT for NULL, or -errno. */
static int min_of(sql_store *s, int i, int64_t *out) {
  int rc = step(s, i);
  if (rc < 0) return rc;
  sqlite3_stmt *st = q(s, i);
  if (rc == 1 && sqlite3_column_type(st, 0) != SQLITE_NULL) {
    *out = sqlite3_column_int64(st, 0);
    rc = 0;
  } else {
    rc = fail_with(s, -ENOENT, "%s: none", QUERIES[i].name);
  }
  sqlite3_reset(st);
  return rc;
}

static int sq_next_due(pk__job_store *base, const char *queue, int64_t *run_at) {
  sql_store *s = SQL(base);
  bind_text(q(s, Q_NEXT_DUE), 1, queue);
  return min_of(s, Q_NEXT_DUE, run_at);
}
static int sq_next_expiry(pk__job_store *base, int64_t *lease_until) {
  return min_of(SQL(base), Q_NEXT_EXPIRY, lease_until);
}
typedef struct state { int status, attempts, max_attempts; } state;

/* The state of job `id`: 0, -ENOENT or -errno. */
static int job_state(sql_store *s, int64_t id, state *js) {
  sqlite3_stmt *st = q(s, Q_STATE);
  sqlite3_bind_int64(st, 1, id);
  int rc = step(s, Q_STATE);
  if (rc < 0) return rc;
  if (rc == 0) {
    sqlite3_reset(st);
    return fail_with(s, -ENOENT, "no job %lld", (long long)id);
  }
  js->status = sqlite3_column_int(st, 0);
  js->attempts = sqlite3_column_int(st, 1);
  js->max_attempts = sqlite3_column_int(st, 2);
  sqlite3_reset(st);
  return 0;
}

/* The state of a job a lease reports on: -ESTALE when it is finished or leased again since. */
static int leased_state(sql_store *s, int64_t id, int attempt, state *js) {
  int rc = job_state(s, id, js);
  if (rc) return rc;
  if (js->status >= PK_JOB_COMPLETED)
    return fail_with(s, -ESTALE, "job %lld is already %s", (long long)id, pk__job_status_names[js->status]);
  if (attempt && js->attempts != attempt)
    return fail_with(s, -ESTALE, "job %lld: attempt %d's lease was lost (now attempt %d)",
                     (long long)id, attempt, js->attempts);
  return 0;
}

static int complete(sql_store *s, int64_t id, int attempt, const void *result, size_t rlen,
                    int64_t now) {
  /* the usual case in one statement: the lease still holds (the conditions of leased_state) */
  sqlite3_stmt *st = q(s, Q_COMPLETE_HELD);
  sqlite3_bind_int64(st, 1, id);
  bind_blob(st, 2, result, rlen);
  sqlite3_bind_int64(st, 3, now);
  sqlite3_bind_int(st, 4, attempt);
  int rc = run(s, Q_COMPLETE_HELD);
  if (rc || sqlite3_changes(s->db) == 1) return rc;
  state js;
  rc = leased_state(s, id, attempt, &js);   /* says why not: -ENOENT or -ESTALE */
  return rc ? rc : fail_with(s, -EIO, "complete: job %lld was not updated", (long long)id);
}

static int sq_complete(pk__job_store *base, int64_t id, int attempt, const void *result,
                       size_t rlen, int64_t now) {
  sql_store *s = SQL(base);
  int rc = single_begin(s);
  if (rc) return rc;
  return single_end(s, complete(s, id, attempt, result, rlen, now));
}
static int fail(sql_store *s, int64_t id, int attempt, const char *error, int64_t retry_at,
                int64_t now) {
  state js;
  int rc = leased_state(s, id, attempt, &js);
  if (rc) return rc;
  int retry = retry_at >= 0 && js.attempts < js.max_attempts;
  sqlite3_stmt *st = q(s, retry ? Q_RETRY : Q_FAIL);
  sqlite3_bind_int64(st, 1, id);
  bind_text(st, 2, error);
  sqlite3_bind_int64(st, 3, now);
  if (retry) {
    sqlite3_bind_int(st, 4, retry_at > now ? PK_JOB_DELAYED : PK_JOB_WAITING);
    sqlite3_bind_int64(st, 5, retry_at > now ? retry_at : now);
  }
  rc = run(s, retry ? Q_RETRY : Q_FAIL);
  return rc < 0 ? rc : retry;
}

static int sq_fail(pk__job_store *base, int64_t id, int attempt, const char *error,
                   int64_t retry_at, int64_t now) {
  sql_store *s = SQL(base);
  int rc = op_begin(s);
  if (rc) return rc;
  return op_end(s, fail(s, id, attempt, error, retry_at, now));
}
static int extend(sql_store *s, int64_t id, int attempt, int64_t lease_ms, int64_t now) {
  state js;
  int rc = leased_state(s, id, attempt, &js);
  if (rc) return rc;
  if (js.status != PK_JOB_ACTIVE)
    return fail_with(s, -ESTALE, "job %lld is %s, not active", (long long)id,
                     pk__job_status_names[js.status]);
  sqlite3_stmt *st = q(s, Q_EXTEND);
  sqlite3_bind_int64(st, 1, id);
  sqlite3_bind_int64(st, 2, now + lease_ms);
  sqlite3_bind_int64(st, 3, now);
  return run(s, Q_EXTEND);
}

static int sq_extend(pk__job_store *base, int64_t id, int attempt, int64_t lease_ms,
                     int64_t now) {
  sql_store *s = SQL(base);
  int rc = op_begin(s);
  if (rc) return rc;
  return op_end(s, extend(s, id, attempt, lease_ms, now));
}
static int progress(sql_store *s, int64_t id, const char *json, int64_t now) {
  state js;
  int rc = leased_state(s, id, 0, &js);
  if (rc) return rc;
  sqlite3_stmt *st = q(s, Q_PROGRESS);
  sqlite3_bind_int64(st, 1, id);
  bind_text(st, 2, json);
  sqlite3_bind_int64(st, 3, now);
  return run(s, Q_PROGRESS);
}

static int sq_progress(pk__job_store *base, int64_t id, const char *json, int64_t now) {
  sql_store *s = SQL(base);
  int rc = op_begin(s);
  if (rc) return rc;
  return op_end(s, progress(s, id, json, now));
}
/* Runs a bound query of JOB_COLS expected to return at most one row into *job. */
static int get_one(sql_store *s, int i, pk__job *job, const char *what) {
  sqlite3_stmt *st = q(s, i);
  int rc = step(s, i);
  if (rc < 0) return rc;
  rc = rc ? read_job(s, st, job) : fail_with(s, -ENOENT, "no job %s", what);
  sqlite3_reset(st);
  return rc;
}

static int sq_get_id(pk__job_store *base, int64_t id, pk__job *job) {
  sql_store *s = SQL(base);
  char what[24];
  snprintf(what, sizeof what, "%lld", (long long)id);
  sqlite3_bind_int64(q(s, Q_GET_ID), 1, id);
  return get_one(s, Q_GET_ID, job, what);
}
static int sq_get_key(pk__job_store *base, const char *queue, const char *key, pk__job *job) {
  sql_store *s = SQL(base);
  sqlite3_stmt *st = q(s, Q_GET_KEY);
  bind_text(st, 1, queue);
  bind_text(st, 2, key);
  return get_one(s, Q_GET_KEY, job, key);
}
static int sq_counts(pk__job_store *base, const char *queue, int64_t now_ms, pk__job_counts *c) {
  sql_store *s = SQL(base);
  int rc;
  int64_t n[5] = {0};
  sqlite3_stmt *st = q(s, Q_COUNTS);
  bind_text(st, 1, queue);
  while ((rc = step(s, Q_COUNTS)) == 1) {
    int status = sqlite3_column_int(st, 0);
    if (status >= 0 && status < 5) n[status] = sqlite3_column_int64(st, 1);
  }
  if (rc < 0) return rc;
  sqlite3_reset(st);
  st = q(s, Q_DUE_COUNT);
  bind_text(st, 1, queue);
  sqlite3_bind_int64(st, 2, now_ms);
  if ((rc = step(s, Q_DUE_COUNT)) < 0) return rc;
  int64_t due = rc ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_reset(st);
  c->waiting = n[PK_JOB_WAITING] + due;
  c->delayed = n[PK_JOB_DELAYED] - due;
  c->active = n[PK_JOB_ACTIVE];
  c->completed = n[PK_JOB_COMPLETED];
  c->failed = n[PK_JOB_FAILED];
  return 0;
}

static int sq_list_failed(pk__job_store *base, const char *queue, int limit, pk__job_cb cb,
                          void *ud) {
  sql_store *s = SQL(base);
  int rc;
  sqlite3_stmt *st = q(s, Q_LIST_FAILED);
  bind_text(st, 1, queue);
  sqlite3_bind_int(st, 2, limit);
  int n = 0;
  while ((rc = step(s, Q_LIST_FAILED)) == 1) {
    pk__job job;
    if ((rc = read_job(s, st, &job)) < 0) break;
    n++;
    int stop = cb(&job, ud);
    pk__job_free(&job);
    if (stop) break;
  }
  sqlite3_reset(st);
  return rc < 0 ? rc : n;
}

/* Runs a bound statement that changes rows in its own operation: how many, or -errno. */
static int changes(sql_store *s, int i) {
  int rc = op_begin(s);
  if (rc) return rc;
  rc = run(s, i);
  return op_end(s, rc < 0 ? rc : sqlite3_changes(s->db));
}

static int sq_retry_failed(pk__job_store *base, const char *queue, int64_t now_ms) {
  sql_store *s = SQL(base);
  bind_text(q(s, Q_RETRY_FAILED), 1, queue);
  sqlite3_bind_int64(q(s, Q_RETRY_FAILED), 2, now_ms);
  return changes(s, Q_RETRY_FAILED);
}

static int sq_purge(pk__job_store *base, const char *queue) {
  sql_store *s = SQL(base);
  int rc;
  bind_text(q(s, Q_PURGE_COMPLETED), 1, queue);
  bind_text(q(s, Q_PURGE_FAILED), 1, queue);
  if ((rc = op_begin(s))) return rc;
  int n = rc = run(s, Q_PURGE_COMPLETED);
  if (rc == 0) {
    n = sqlite3_changes(s->db);
    if ((rc = run(s, Q_PURGE_FAILED)) == 0) n += sqlite3_changes(s->db);
  }
  return op_end(s, rc < 0 ? rc : n);
}

/* The queues with completed jobs: a NULL-terminated array of names (few: one per queue). */
static int queues_done(sql_store *s, char ***out) {
  size_t n = 0, cap = 8;
  char **v = malloc(cap * sizeof *v);
  if (!v) return fail_with(s, -ENOMEM, "prune: out of memory");
  int rc;
  while ((rc = step(s, Q_QUEUES_DONE)) == 1) {
    if (n + 1 == cap) {
      char **w = realloc(v, (cap *= 2) * sizeof *v);
      if (!w) { rc = fail_with(s, -ENOMEM, "prune: out of memory"); break; }
      v = w;
    }
    if (!(v[n] = strdup((const char *)sqlite3_column_text(q(s, Q_QUEUES_DONE), 0)))) {
      rc = fail_with(s, -ENOMEM, "prune: out of memory");
      break;
    }
    n++;
  }
  sqlite3_reset(q(s, Q_QUEUES_DONE));
  v[n] = NULL;
  if (rc < 0) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
    return rc;
  }
  *out = v;
  return 0;
}

static int prune(sql_store *s, int64_t older_than, int limit) {
  char **queues = NULL;
  int rc = queues_done(s, &queues), total = 0;
  if (rc) return rc;
  for (char **qn = queues; *qn && total < limit; qn++) {
    sqlite3_stmt *st = q(s, Q_PRUNE);
    bind_text(st, 1, *qn);
    sqlite3_bind_int64(st, 2, older_than);
    sqlite3_bind_int(st, 3, limit - total);
    if ((rc = run(s, Q_PRUNE)) < 0) break;
    total += sqlite3_changes(s->db);
  }
  for (char **qn = queues; *qn; qn++) free(*qn);
  free(queues);
  return rc < 0 ? rc : total;
}

static int sq_prune_completed(pk__job_store *base, int64_t older_than_ms, int limit) {
  sql_store *s = SQL(base);
  int rc = op_begin(s);
  if (rc) return rc;
  return op_end(s, prune(s, older_than_ms, limit));
}

static int move(sql_store *s, int64_t id, const char *queue, int64_t now) {
  state js;
  int rc = job_state(s, id, &js);
  if (rc) return rc;
  if (js.status == PK_JOB_ACTIVE)
    return fail_with(s, -EBUSY, "job %lld is active: it moves once its lease ends", (long long)id);
  sqlite3_stmt *st = q(s, Q_MOVE);
  sqlite3_bind_int64(st, 1, id);
  bind_text(st, 2, queue);
  sqlite3_bind_int64(st, 3, now);
  rc = run(s, Q_MOVE);
  if (rc == -EEXIST)
    fail_with(s, rc, "job %lld: its key is already taken in queue %s", (long long)id, queue);
  return rc;
}

static int sq_move(pk__job_store *base, int64_t id, const char *queue, int64_t now_ms) {
  sql_store *s = SQL(base);
  int rc;
  if ((rc = op_begin(s))) return rc;
  return op_end(s, move(s, id, queue, now_ms));
}

/* Active jobs whose lease_until < cutoff lose their lease: back to waiting, or failed after
 * max_stalls earlier losses. Returns how many went back; *failed how many failed. */
static int stall(sql_store *s, int64_t cutoff, int64_t now, int *failed) {
  sqlite3_stmt *st = q(s, Q_STALL_FAIL);
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int64(st, 2, cutoff);
  sqlite3_bind_int(st, 3, s->b.max_stalls);
  int rc = run(s, Q_STALL_FAIL);
  if (rc < 0) return rc;
  *failed = sqlite3_changes(s->db);
  st = q(s, Q_STALL_REQUEUE);
  sqlite3_bind_int64(st, 1, now);
  sqlite3_bind_int64(st, 2, cutoff);
  sqlite3_bind_int(st, 3, s->b.max_stalls);
  rc = run(s, Q_STALL_REQUEUE);
  return rc < 0 ? rc : sqlite3_changes(s->db);
}

static int sq_stall(pk__job_store *base, int64_t cutoff, int64_t now, int *failed) {
  sql_store *s = SQL(base);
  int rc = op_begin(s);
  if (rc) return rc;
  return op_end(s, stall(s, cutoff, now, failed));
}

/* One lease lost at once (its worker died and the master saw it): as stall(), for job `id` alone. */
static int release(sql_store *s, int64_t id, int attempt, int64_t now) {
  for (int k = 0; k < 2; k++) {
    int i = k ? Q_RELEASE_REQUEUE : Q_RELEASE_FAIL;
    sqlite3_stmt *st = q(s, i);
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, id);
    sqlite3_bind_int(st, 3, attempt);
    sqlite3_bind_int(st, 4, s->b.max_stalls);
    int rc = run(s, i);
    if (rc < 0) return rc;
    if (sqlite3_changes(s->db)) return k;
  }
  return fail_with(s, -ESTALE, "job %lld is not active under attempt %d", (long long)id, attempt);
}

static int sq_release(pk__job_store *base, int64_t id, int attempt, int64_t now_ms) {
  sql_store *s = SQL(base);
  int rc = op_begin(s);
  if (rc) return rc;
  return op_end(s, release(s, id, attempt, now_ms));
}

/* ---- opening ---- */

static int exec(sql_store *s, const char *sql, const char *what) {
  char *msg = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
  if (rc == SQLITE_OK) return 0;
  rc = sql_fail_msg(s, rc, what, msg ? msg : sqlite3_errstr(rc));
  sqlite3_free(msg);
  return rc;
}

/* The integer (or text, into buf) of a one-row query; errors say `what` (NULL: SQLite's message
 * alone). */
static int pragma(sql_store *s, const char *sql, int64_t *v, char *buf, size_t len,
                  const char *what) {
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (rc != SQLITE_OK) return sql_fail(s, rc, what);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    if (v) *v = sqlite3_column_int64(st, 0);
    if (buf) snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  if (rc != SQLITE_OK) rc = sql_fail(s, rc, what);
  sqlite3_finalize(st);
  return rc;
}

static int create_schema(sql_store *s) {
  char sql[2 * sizeof SCHEMA];
  snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; %s PRAGMA application_id = %d;"
           " PRAGMA user_version = %d; COMMIT;", SCHEMA, APP_ID, SCHEMA_VERSION);
  int rc = exec(s, sql, "cannot write (creating the schema)");
  if (rc && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* Settings, the schema (created, or checked to be ours and current), then the statements. */
static int setup(sql_store *s, int memory) {
  char mode[16] = "";
  int64_t version = 0, app = 0, objects = 0;
  int rc;
  if (sqlite3_db_readonly(s->db, "main") == 1)
    return fail_with(s, -EROFS, "file is read-only (the store needs to write it)");
  sqlite3_busy_timeout(s->db, BUSY_MS);
  sqlite3_extended_result_codes(s->db, 1);
  /* The first read: a file that is not a database fails here, before anything is written. */
  if ((rc = pragma(s, "SELECT count(*) FROM sqlite_schema", &objects, NULL, 0, NULL)) ||
      (rc = pragma(s, "PRAGMA user_version", &version, NULL, 0, NULL)) ||
      (rc = pragma(s, "PRAGMA application_id", &app, NULL, 0, NULL)))
    return rc;
  if (app != 0 && app != APP_ID)
    return fail_with(s, -EBADMSG, "not a job store (application_id %lld)", (long long)app);
  if (app == 0 && objects > 0)
    return fail_with(s, -EBADMSG, "not a job store (a database holding other tables)");
  if (version > SCHEMA_VERSION)
    return fail_with(s, -EPROTO, "schema version %lld is newer than this build's (%d)",
                     (long long)version, SCHEMA_VERSION);
  if (!memory) {
    if ((rc = pragma(s, "PRAGMA journal_mode = WAL", NULL, mode, sizeof mode, "cannot write "
                     "(switching to WAL)")))
      return rc;
    if (strcmp(mode, "wal") != 0)
      return fail_with(s, -EIO, "cannot use WAL (journal mode stays %s)", mode);
  }
  char sql[256];
  snprintf(sql, sizeof sql, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -%d;"
           " PRAGMA journal_size_limit = %d; PRAGMA foreign_keys = OFF;", CACHE_KIB, WAL_LIMIT);
  if ((rc = exec(s, sql, "cannot write (settings)"))) return rc;
  if (app == 0) {
    if ((rc = create_schema(s))) return rc;
  } else if ((rc = exec(s, "BEGIN IMMEDIATE; COMMIT;", "cannot write (taking the write lock)"))) {
    /* writable and not held by another writer: better known now than at the first job */
    if (!sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
  }
  for (int i = 0; i < Q_COUNT; i++) {
    rc = sqlite3_prepare_v3(s->db, QUERIES[i].sql, -1, SQLITE_PREPARE_PERSISTENT, &s->q[i], NULL);
    if (rc != SQLITE_OK) {
      char what[64];
      snprintf(what, sizeof what, "the schema does not fit (%s)", QUERIES[i].name);
      return sql_fail(s, rc, what);
    }
  }
  return 0;
}

static const pk__job_store_ops SQLITE_OPS;

/* path ":memory:" is SQLite's own in-memory database (job_store_api.c sends ":memory:" to
 * job_store_mem.c instead; the unit tests compare the two this way). */
int pk__job_store_sqlite_open(pk__job_store **out, const char *path, char *err, size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = 0;
  sql_store *s = calloc(1, sizeof *s);
  if (!s || pk__job_store_init(&s->b, &SQLITE_OPS, path)) {
    if (s) free(s->b.path);
    free(s);
    if (err && errlen) snprintf(err, errlen, "job store: out of memory");
    return -ENOMEM;
  }
  int memory = strcmp(s->b.path, ":memory:") == 0, rc;
  if (!*s->b.path) {
    rc = fail_with(s, -EINVAL, "no path (a file, or :memory:)");
  } else {
    rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                         SQLITE_OPEN_NOMUTEX, NULL);
    rc = rc != SQLITE_OK ? sql_fail(s, rc, NULL) : setup(s, memory);
  }
  if (rc) {
    if (err && errlen) snprintf(err, errlen, "%s", s->b.err);
    pk__job_store_close(&s->b);
    return rc;
  }
  s->b.err[0] = 0;
  *out = &s->b;
  return 0;
}

static void sq_close(pk__job_store *base) {
  sql_store *s = SQL(base);
  if (s->db && !sqlite3_get_autocommit(s->db)) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  for (int i = 0; i < Q_COUNT; i++) sqlite3_finalize(s->q[i]);
  sqlite3_close(s->db);
  free(s->b.path);
  free(s);
}

static int sq_set_sync_full(pk__job_store *base, int on) {
  sql_store *s = SQL(base);
  if (s->batch) return fail_with(s, -EBUSY, "synchronous: not inside a batch");
  return exec(s, on ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", "synchronous");
}

static int sq_check(pk__job_store *base) {
  sql_store *s = SQL(base);
  char res[256] = "";
  int rc = pragma(s, "PRAGMA quick_check(1)", NULL, res, sizeof res, "quick_check");
  if (rc) return rc;
  if (strcmp(res, "ok") != 0) return fail_with(s, -EBADMSG, "quick_check: %s", res);
  return 0;
}

static int sq_plan(pk__job_store *base, const char *name, char *out, size_t outlen) {
  sql_store *s = SQL(base);
  int i = 0;
  while (i < Q_COUNT && strcmp(QUERIES[i].name, name) != 0) i++;
  if (i == Q_COUNT) return fail_with(s, -ENOENT, "no statement %s", name);
  char *sql = sqlite3_mprintf("EXPLAIN QUERY PLAN %s", QUERIES[i].sql);
  if (!sql) return fail_with(s, -ENOMEM, "plan: out of memory");
  sqlite3_stmt *st;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  sqlite3_free(sql);
  if (rc != SQLITE_OK) return sql_fail(s, rc, "plan");
  size_t n = 0;
  if (outlen) out[0] = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int w = snprintf(out + n, outlen - n, "%s%s", n ? "; " : "",
                     (const char *)sqlite3_column_text(st, 3));
    if (w < 0 || (size_t)w >= outlen - n) { rc = SQLITE_DONE; break; }
    n += (size_t)w;
  }
  rc = rc == SQLITE_DONE ? 0 : sql_fail(s, rc, "plan");
  sqlite3_finalize(st);
  return rc;
}

static const pk__job_store_ops SQLITE_OPS = {
  .close = sq_close, .set_sync_full = sq_set_sync_full, .check = sq_check, .plan = sq_plan,
  .begin = sq_begin, .commit = sq_commit, .rollback = sq_rollback, .add = sq_add,
  .lease_many = sq_lease_many, .next_due = sq_next_due, .next_expiry = sq_next_expiry,
  .complete = sq_complete, .fail = sq_fail, .extend = sq_extend, .progress = sq_progress,
  .get_key = sq_get_key, .get_id = sq_get_id, .counts = sq_counts, .list_failed = sq_list_failed,
  .retry_failed = sq_retry_failed, .purge = sq_purge, .prune_completed = sq_prune_completed,
  .move = sq_move, .stall = sq_stall, .release = sq_release,
};
