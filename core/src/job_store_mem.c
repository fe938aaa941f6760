/* job_store_mem.c: the job store in memory (":memory:"): the SQLite store's calls and rules (job_store.h) on C structures, with an undo log for batches; nothing outlives the store. */
#include "job_store_impl.h"
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "job_mem.h"

#define LANES_KEPT 4            /* empty priority lanes a queue keeps (more are freed) */
#define LOG_KEPT 4096           /* undo entries kept allocated between batches */

/* The waiting jobs of one priority. */
typedef struct lane {
  int priority;
  pk__jobset set;               /* by run_at, id */
} lane;

struct pk__mqueue {
  char *name;
  uint64_t hash;
  int64_t n[5];                 /* jobs by status (delayed ones due or not) */
  lane *lanes;                  /* by priority, lowest (first to run) first */
  uint32_t nlanes, lanes_cap;
  pk__jobset delayed;           /* by run_at, id */
  pk__jobset completed, failed; /* by finished_at, id */
  int dirty;                    /* in the store's list of queues to trim */
};

/* The undo log: what each change of the open batch (or of the running operation) did. */
enum {
  U_ADD,                        /* j was added: remove and free it */
  U_SET,                        /* j's state was u.st (and its place pos): put it back */
  U_DEL,                        /* j was deleted (kept until the commit): put it back at pos */
  U_STR                         /* a string of a job was replaced: the commit frees old, an undo new */
};
typedef struct undo {
  int kind;
  int32_t pos;
  pk__mjob *j;
  union {
    pk__mjob_state st;
    struct { void *old_v, *new_v; } str;
  } u;
} undo;

typedef struct mem_store {
  pk__job_store b;              /* the head every store starts with (job_store_impl.h) */
  pk__htab ids;                 /* id -> job (hash: the id itself) */
  pk__htab keys;                /* (queue, caller's key) -> job */
  pk__htab names;               /* queue name -> queue */
  pk__mqueue **queues;          /* every queue seen (freed at close) */
  uint32_t nqueues, queues_cap;
  pk__mqueue *last;             /* the queue last looked up */
  pk__jobset active;            /* by lease_until, id */
  int active_dirty;
  int64_t next_id;
  int batch;
  undo *log;
  size_t nlog, logcap;
  pk__mqueue **dirty;           /* queues to trim after the commit */
  uint32_t ndirty, dirty_cap;
} mem_store;

#define MEM(base) ((mem_store *)(base))
#define fail_with(s, ...) pk__job_store_err(&(s)->b, __VA_ARGS__)
#define KEY_RUN_AT offsetof(pk__mjob, st.run_at)
#define KEY_LEASE offsetof(pk__mjob, st.lease_until)
#define KEY_FINISHED offsetof(pk__mjob, st.finished_at)

static int grow(void **p, uint32_t *cap, uint32_t need, size_t size) {
  if (need <= *cap) return 0;
  uint32_t n = *cap ? *cap * 2 : 8;
  while (n < need) n *= 2;
  void *q = realloc(*p, (size_t)n * size);
  if (!q) return -ENOMEM;
  *p = q;
  *cap = n;
  return 0;
}

/* ---- queues ---- */

static pk__mqueue *find_queue(mem_store *s, const char *name) {
  if (s->last && strcmp(s->last->name, name) == 0) return s->last;
  uint64_t h = pk__hash_bytes(PK_HASH_SEED, name, strlen(name));
  uint32_t it = UINT32_MAX;
  pk__mqueue *q;
  while ((q = pk__htab_next(&s->names, h, &it)))
    if (strcmp(q->name, name) == 0) return s->last = q;
  return NULL;
}

/* The queue, made when new (queues live until the store closes: an empty one is no queue). */
static int get_queue(mem_store *s, const char *name, pk__mqueue **out) {
  if ((*out = find_queue(s, name))) return 0;
  pk__mqueue *q = calloc(1, sizeof *q);
  if (!q || !(q->name = strdup(name)) || pk__htab_reserve(&s->names) ||
      grow((void **)&s->queues, &s->queues_cap, s->nqueues + 1, sizeof *s->queues)) {
    if (q) free(q->name);
    free(q);
    return fail_with(s, -ENOMEM, "out of memory (a new queue)");
  }
  q->hash = pk__hash_bytes(PK_HASH_SEED, name, strlen(name));
  pk__jobset_init(&q->delayed, KEY_RUN_AT);
  pk__jobset_init(&q->completed, KEY_FINISHED);
  pk__jobset_init(&q->failed, KEY_FINISHED);
  pk__htab_add(&s->names, q->hash, q);
  s->queues[s->nqueues++] = q;
  *out = s->last = q;
  return 0;
}

static void free_queue(pk__mqueue *q) {
  for (uint32_t i = 0; i < q->nlanes; i++) pk__jobset_free(&q->lanes[i].set);
  free(q->lanes);
  pk__jobset_free(&q->delayed);
  pk__jobset_free(&q->completed);
  pk__jobset_free(&q->failed);
  free(q->name);
  free(q);
}

/* The lane of priority p: its index, or where it would go (*found 0). */
static uint32_t lane_index(const pk__mqueue *q, int p, int *found) {
  uint32_t lo = 0, hi = q->nlanes;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (q->lanes[mid].priority < p) lo = mid + 1;
    else hi = mid;
  }
  *found = lo < q->nlanes && q->lanes[lo].priority == p;
  return lo;
}

static lane *get_lane(pk__mqueue *q, int p) {
  int found;
  uint32_t i = lane_index(q, p, &found);
  if (found) return &q->lanes[i];
  if (grow((void **)&q->lanes, &q->lanes_cap, q->nlanes + 1, sizeof *q->lanes)) return NULL;
  memmove(&q->lanes[i + 1], &q->lanes[i], (q->nlanes - i) * sizeof *q->lanes);
  q->nlanes++;
  q->lanes[i].priority = p;
  pk__jobset_init(&q->lanes[i].set, KEY_RUN_AT);
  return &q->lanes[i];
}

/* ---- a job's place: the set of its state ---- */

/* The set j belongs in by its queue and status (for a waiting job, its lane: it exists once a
 * reserve() made it; lanes go only between operations). */
static pk__jobset *set_of(mem_store *s, const pk__mjob *j) {
  pk__mqueue *q = j->st.q;
  switch (j->st.status) {
  case PK_JOB_WAITING: {
    int found;
    return &q->lanes[lane_index(q, j->priority, &found)].set;
  }
  case PK_JOB_DELAYED: return &q->delayed;
  case PK_JOB_ACTIVE: return &s->active;
  case PK_JOB_COMPLETED: return &q->completed;
  default: return &q->failed;
  }
}

/* Room in the set of j's (new) state for it. */
static int reserve(mem_store *s, const pk__mjob *j) {
  if (j->st.status == PK_JOB_WAITING && !get_lane(j->st.q, j->priority))
    return fail_with(s, -ENOMEM, "out of memory (a priority lane)");
  if (pk__jobset_reserve(set_of(s, j))) return fail_with(s, -ENOMEM, "out of memory (job sets)");
  return 0;
}

static void index_at(mem_store *s, pk__mjob *j, int32_t pos_was) {
  pk__jobset *set = set_of(s, j);
  if (pos_was == -2) pk__jobset_insert(set, j);
  else pk__jobset_insert_at(set, j, pos_was);
  j->st.q->n[j->st.status]++;
}

static void mark_dirty(mem_store *s, pk__mqueue *q) {
  if (q->dirty || grow((void **)&s->dirty, &s->dirty_cap, s->ndirty + 1, sizeof *s->dirty)) return;
  q->dirty = 1;
  s->dirty[s->ndirty++] = q;
}

static void unindex(mem_store *s, pk__mjob *j) {
  pk__jobset *set = set_of(s, j);
  pk__jobset_remove(set, j);
  j->st.q->n[j->st.status]--;
  if (set == &s->active) s->active_dirty |= pk__jobset_sparse(set);
  else if (pk__jobset_sparse(set) || (j->st.status == PK_JOB_WAITING && !pk__jobset_count(set) &&
                                       j->st.q->nlanes > LANES_KEPT))
    mark_dirty(s, j->st.q);
}

static uint64_t key_hash(const pk__mqueue *q, const char *key, size_t len) {
  return pk__hash_bytes(q->hash, key, len);
}

static pk__mjob *find_key(mem_store *s, const pk__mqueue *q, const char *key) {
  size_t len = strlen(key);
  uint64_t h = key_hash(q, key, len);
  uint32_t it = UINT32_MAX;
  pk__mjob *j;
  while ((j = pk__htab_next(&s->keys, h, &it)))
    if (j->st.q == q && j->klen == len && memcmp(j->tail, key, len) == 0) return j;
  return NULL;
}

static pk__mjob *find_id(mem_store *s, int64_t id) {
  uint32_t it = UINT32_MAX;
  return pk__htab_next(&s->ids, (uint64_t)id, &it);
}

static void link_job(mem_store *s, pk__mjob *j) {
  pk__htab_add(&s->ids, (uint64_t)j->id, j);
  if (j->klen) pk__htab_add(&s->keys, key_hash(j->st.q, j->tail, j->klen), j);
}

static void unlink_job(mem_store *s, pk__mjob *j) {
  pk__htab_remove(&s->ids, (uint64_t)j->id, j);
  if (j->klen) pk__htab_remove(&s->keys, key_hash(j->st.q, j->tail, j->klen), j);
}

static void free_job(pk__mjob *j) {
  free(j->st.result);
  free(j->st.error);
  free(j->st.progress);
  free(j);
}

/* ---- the undo log ----
 * Every change is logged before it is made, so that an operation that fails part-way, or a batch
 * rolled back, is undone in reverse order. Nothing shrinks while entries are logged (sets, tables,
 * lanes), so undoing never allocates. */

static undo *log_entry(mem_store *s, int kind, pk__mjob *j) {
  if (s->nlog == s->logcap) {
    size_t cap = s->logcap ? s->logcap * 2 : 64;
    undo *l = realloc(s->log, cap * sizeof *l);
    if (!l) return NULL;
    s->log = l;
    s->logcap = cap;
  }
  undo *u = &s->log[s->nlog++];
  u->kind = kind;
  u->j = j;
  u->pos = j->pos;
  return u;
}

/* Logs j's state and takes it out of its set: the caller changes it, then calls place(). */
static int take(mem_store *s, pk__mjob *j) {
  undo *u = log_entry(s, U_SET, j);
  if (!u) return fail_with(s, -ENOMEM, "out of memory (undo log)");
  u->u.st = j->st;
  unindex(s, j);
  return 0;
}

/* Logs j's state for a change that keeps its place (progress). */
static int touch(mem_store *s, pk__mjob *j) {
  undo *u = log_entry(s, U_SET, j);
  if (!u) return fail_with(s, -ENOMEM, "out of memory (undo log)");
  u->u.st = j->st;
  return 0;
}

/* Puts j, taken and changed, in the set of its new state. On failure it stays out of every set,
 * and the operation's undo puts it back. */
static int place(mem_store *s, pk__mjob *j) {
  int rc = reserve(s, j);
  if (rc) return rc;
  index_at(s, j, -2);
  return 0;
}

/* Replaces one of j's strings (a field of j->st) by v (owned; NULL: none). */
static int set_str(mem_store *s, pk__mjob *j, void **field, void *v) {
  undo *u = log_entry(s, U_STR, j);
  if (!u) {
    free(v);
    return fail_with(s, -ENOMEM, "out of memory (undo log)");
  }
  u->u.str.old_v = *field;
  u->u.str.new_v = v;
  *field = v;
  return 0;
}

/* Deletes j (freed when the change is kept). */
static int drop(mem_store *s, pk__mjob *j) {
  if (!log_entry(s, U_DEL, j)) return fail_with(s, -ENOMEM, "out of memory (undo log)");
  unindex(s, j);
  unlink_job(s, j);
  return 0;
}

static void undo_one(mem_store *s, undo *u) {
  pk__mjob *j = u->j;
  switch (u->kind) {
  case U_ADD:
    if (j->pos != -2) unindex(s, j);
    unlink_job(s, j);
    s->next_id = j->id;
    free_job(j);
    break;
  case U_SET:
    if (j->pos != -2) unindex(s, j);
    if (j->klen && j->st.q != u->u.st.q) {   /* a move: its key goes back to the old queue */
      pk__htab_remove(&s->keys, key_hash(j->st.q, j->tail, j->klen), j);
      pk__htab_add(&s->keys, key_hash(u->u.st.q, j->tail, j->klen), j);
    }
    j->st = u->u.st;
    index_at(s, j, u->pos);
    break;
  case U_DEL:
    link_job(s, j);
    index_at(s, j, u->pos);
    break;
  case U_STR:
    free(u->u.str.new_v);
    break;
  }
}

static void undo_to(mem_store *s, size_t mark) {
  while (s->nlog > mark) undo_one(s, &s->log[--s->nlog]);
}

/* Makes the logged changes final: frees what they replaced or deleted, then trims. */
static void settle(mem_store *s) {
  for (size_t i = 0; i < s->nlog; i++) {
    undo *u = &s->log[i];
    if (u->kind == U_STR) free(u->u.str.old_v);
    else if (u->kind == U_DEL) free_job(u->j);
  }
  s->nlog = 0;
  if (s->logcap > LOG_KEPT) {
    undo *l = realloc(s->log, LOG_KEPT * sizeof *l);
    if (l) {
      s->log = l;
      s->logcap = LOG_KEPT;
    }
  }
  for (uint32_t i = 0; i < s->ndirty; i++) {
    pk__mqueue *q = s->dirty[i];
    q->dirty = 0;
    uint32_t k = 0;
    for (uint32_t l = 0; l < q->nlanes; l++) {
      if (!pk__jobset_count(&q->lanes[l].set) && q->nlanes - (l - k) > LANES_KEPT) {
        pk__jobset_free(&q->lanes[l].set);
        continue;
      }
      pk__jobset_trim(&q->lanes[l].set);
      q->lanes[k++] = q->lanes[l];
    }
    q->nlanes = k;
    pk__jobset_trim(&q->delayed);
    pk__jobset_trim(&q->completed);
    pk__jobset_trim(&q->failed);
  }
  s->ndirty = 0;
  if (s->active_dirty) pk__jobset_trim(&s->active);
  s->active_dirty = 0;
}

/* An operation: its changes are logged from the mark on; it ends kept (outside a batch: made
 * final at once) or, when it failed, undone. */
static int op_end(mem_store *s, size_t mark, int rc) {
  if (rc < 0) undo_to(s, mark);
  else if (!s->batch) settle(s);
  return rc;
}

/* ---- records out ---- */

static void *dup_bytes(const void *p, size_t n, int *bad) {
  if (!p) return NULL;
  char *r = malloc(n + 1);
  if (!r) {
    *bad = 1;
    return NULL;
  }
  memcpy(r, p, n);
  r[n] = 0;
  return r;
}

static int copy_out(mem_store *s, const pk__mjob *j, pk__job *out) {
  int bad = 0;
  memset(out, 0, sizeof *out);
  out->id = j->id;
  out->queue = dup_bytes(j->st.q->name, strlen(j->st.q->name), &bad);
  if (j->klen) {
    out->key = dup_bytes(j->tail, j->klen, &bad);
  } else if ((out->key = malloc(24))) {
    snprintf(out->key, 24, "%lld", (long long)j->id);
  } else {
    bad = 1;
  }
  out->data = dup_bytes(pk__mjob_data(j), j->dlen, &bad);
  out->dlen = j->has_data ? j->dlen : 0;
  out->status = j->st.status;
  out->priority = j->priority;
  out->run_at = j->st.run_at;
  out->attempts = j->st.attempts;
  out->max_attempts = j->max_attempts;
  out->stalls = j->st.stalls;
  out->lease_until = j->st.lease_until;
  out->lease_owner = j->st.lease_owner;
  out->result = dup_bytes(j->st.result, j->st.rlen, &bad);
  out->rlen = j->st.result ? j->st.rlen : 0;
  out->error = dup_bytes(j->st.error, j->st.error ? strlen(j->st.error) : 0, &bad);
  out->progress = dup_bytes(j->st.progress, j->st.progress ? strlen(j->st.progress) : 0, &bad);
  out->created_at = j->created_at;
  out->updated_at = j->st.updated_at;
  out->finished_at = j->st.finished_at;
  if (!bad) return 0;
  pk__job_free(out);
  return fail_with(s, -ENOMEM, "out of memory copying job %lld", (long long)j->id);
}

/* ---- batches ---- */

static int m_begin(pk__job_store *base) {
  mem_store *s = MEM(base);
  if (s->batch) return fail_with(s, -EBUSY, "begin: a batch is already open");
  s->batch = 1;
  return 0;
}

static int m_commit(pk__job_store *base) {
  mem_store *s = MEM(base);
  if (!s->batch) return fail_with(s, -EINVAL, "commit: no batch is open");
  s->batch = 0;
  settle(s);
  return 0;
}

static int m_rollback(pk__job_store *base) {
  mem_store *s = MEM(base);
  if (!s->batch) return fail_with(s, -EINVAL, "rollback: no batch is open");
  s->batch = 0;
  undo_to(s, 0);
  settle(s);
  return 0;
}

/* ---- operations ---- */

static int m_add(pk__job_store *base, const char *queue, const char *key, const void *data,
                 size_t dlen, int priority, int64_t run_at, int max_attempts, int64_t now,
                 int64_t *id, int *existed) {
  mem_store *s = MEM(base);
  pk__mqueue *q;
  int rc = get_queue(s, queue, &q);
  if (rc) return rc;
  pk__mjob *j;
  if (key && (j = find_key(s, q, key))) {
    *id = j->id;
    *existed = 1;
    return 0;
  }
  size_t klen = key ? strlen(key) : 0;
  j = malloc(offsetof(pk__mjob, tail) + (klen ? klen + 1 : 0) + (data ? dlen + 1 : 0));
  if (!j) return fail_with(s, -ENOMEM, "out of memory (a job of %zu bytes)", dlen);
  memset(j, 0, offsetof(pk__mjob, tail));
  j->id = s->next_id;
  j->pos = -2;
  j->st.q = q;
  j->st.status = run_at > now ? PK_JOB_DELAYED : PK_JOB_WAITING;
  j->st.run_at = run_at > now ? run_at : now;
  j->st.updated_at = j->created_at = now;
  j->priority = priority;
  j->max_attempts = max_attempts;
  j->klen = (uint16_t)klen;
  if (klen) memcpy(j->tail, key, klen + 1);
  if (data) {
    char *d = j->tail + (klen ? klen + 1 : 0);
    if (dlen) memcpy(d, data, dlen);
    d[dlen] = 0;
    j->has_data = 1;
    j->dlen = (uint32_t)dlen;
  }
  /* everything that allocates first: then nothing can fail */
  if ((rc = reserve(s, j)) || pk__htab_reserve(&s->ids) || (klen && pk__htab_reserve(&s->keys)) ||
      !log_entry(s, U_ADD, j)) {
    free(j);
    return rc ? rc : fail_with(s, -ENOMEM, "out of memory (adding a job)");
  }
  link_job(s, j);
  index_at(s, j, -2);
  s->next_id++;
  *id = j->id;
  *existed = 0;
  if (!s->batch) settle(s);
  return 0;
}

/* The delayed jobs of q that are due become waiting (as the SQLite store's "promote"). */
static int promote(mem_store *s, pk__mqueue *q, int64_t now) {
  pk__mjob *j;
  while ((j = pk__jobset_first(&q->delayed)) && j->st.run_at <= now) {
    int rc = take(s, j);
    if (rc) return rc;
    j->st.status = PK_JOB_WAITING;
    j->st.updated_at = now;
    if ((rc = place(s, j))) return rc;
  }
  return 0;
}

static pk__mjob *first_waiting(const pk__mqueue *q) {
  for (uint32_t i = 0; i < q->nlanes; i++) {
    pk__mjob *j = pk__jobset_first(&q->lanes[i].set);
    if (j) return j;
  }
  return NULL;
}

static int lease_many(mem_store *s, pk__mqueue *q, int64_t now, int64_t lease_ms, int owner,
                      int max, pk__job *jobs, int *n) {
  int rc = promote(s, q, now);
  if (rc) return rc;
  pk__mjob *j;
  while (*n < max && (j = first_waiting(q))) {
    if ((rc = take(s, j))) return rc;
    j->st.status = PK_JOB_ACTIVE;
    j->st.attempts++;
    j->st.lease_until = now + lease_ms;
    j->st.lease_owner = owner;
    j->st.updated_at = now;
    if ((rc = place(s, j)) || (rc = copy_out(s, j, &jobs[*n]))) return rc;
    (*n)++;
  }
  return *n ? 0 : -ENOENT;
}

static int m_lease_many(pk__job_store *base, const char *queue, int64_t now, int64_t lease_ms,
                        int owner, int max, pk__job *jobs, int *n) {
  mem_store *s = MEM(base);
  pk__mqueue *q = find_queue(s, queue);
  if (!q) return -ENOENT;
  size_t mark = s->nlog;
  return op_end(s, mark, lease_many(s, q, now, lease_ms, owner, max, jobs, n));
}

static int m_next_due(pk__job_store *base, const char *queue, int64_t *run_at) {
  mem_store *s = MEM(base);
  pk__mqueue *q = find_queue(s, queue);
  pk__mjob *j = q ? pk__jobset_first(&q->delayed) : NULL;
  if (!j) return fail_with(s, -ENOENT, "next_due: none");
  *run_at = j->st.run_at;
  return 0;
}

static int m_next_expiry(pk__job_store *base, int64_t *lease_until) {
  mem_store *s = MEM(base);
  pk__mjob *j = pk__jobset_first(&s->active);
  if (!j) return fail_with(s, -ENOENT, "next_expiry: none");
  *lease_until = j->st.lease_until;
  return 0;
}

/* The job a lease reports on: -ENOENT, or -ESTALE when it is finished or leased again since. */
static int leased(mem_store *s, int64_t id, int attempt, pk__mjob **out) {
  pk__mjob *j = *out = find_id(s, id);
  if (!j) return fail_with(s, -ENOENT, "no job %lld", (long long)id);
  if (j->st.status >= PK_JOB_COMPLETED)
    return fail_with(s, -ESTALE, "job %lld is already %s", (long long)id,
                     pk__job_status_names[j->st.status]);
  if (attempt && j->st.attempts != attempt)
    return fail_with(s, -ESTALE, "job %lld: attempt %d's lease was lost (now attempt %d)",
                     (long long)id, attempt, j->st.attempts);
  return 0;
}

static void clear_lease(pk__mjob *j) {
  j->st.lease_until = 0;
  j->st.lease_owner = 0;
}

static int complete(mem_store *s, pk__mjob *j, const void *result, size_t rlen, int64_t now) {
  int bad = 0;
  void *r = dup_bytes(result, rlen, &bad);
  if (bad) return fail_with(s, -ENOMEM, "out of memory (a result of %zu bytes)", rlen);
  int rc = take(s, j);
  if (rc) {
    free(r);
    return rc;
  }
  if ((rc = set_str(s, j, &j->st.result, r))) return rc;
  j->st.rlen = (uint32_t)rlen;
  j->st.status = PK_JOB_COMPLETED;
  clear_lease(j);
  j->st.updated_at = j->st.finished_at = now;
  return place(s, j);
}

static int m_complete(pk__job_store *base, int64_t id, int attempt, const void *result,
                      size_t rlen, int64_t now) {
  mem_store *s = MEM(base);
  pk__mjob *j;
  int rc = leased(s, id, attempt, &j);
  if (rc) return rc;
  size_t mark = s->nlog;
  return op_end(s, mark, complete(s, j, result, rlen, now));
}

static int fail(mem_store *s, pk__mjob *j, const char *error, int64_t retry_at, int64_t now) {
  int retry = retry_at >= 0 && j->st.attempts < j->max_attempts, bad = 0;
  char *e = dup_bytes(error, error ? strlen(error) : 0, &bad);
  if (bad) return fail_with(s, -ENOMEM, "out of memory (an error message)");
  int rc = take(s, j);
  if (rc) {
    free(e);
    return rc;
  }
  if ((rc = set_str(s, j, (void **)&j->st.error, e))) return rc;
  clear_lease(j);
  j->st.updated_at = now;
  if (retry) {
    j->st.status = retry_at > now ? PK_JOB_DELAYED : PK_JOB_WAITING;
    j->st.run_at = retry_at > now ? retry_at : now;
  } else {
    j->st.status = PK_JOB_FAILED;
    j->st.finished_at = now;
  }
  rc = place(s, j);
  return rc < 0 ? rc : retry;
}

static int m_fail(pk__job_store *base, int64_t id, int attempt, const char *error,
                  int64_t retry_at, int64_t now) {
  mem_store *s = MEM(base);
  pk__mjob *j;
  int rc = leased(s, id, attempt, &j);
  if (rc) return rc;
  size_t mark = s->nlog;
  return op_end(s, mark, fail(s, j, error, retry_at, now));
}

static int m_extend(pk__job_store *base, int64_t id, int attempt, int64_t lease_ms, int64_t now) {
  mem_store *s = MEM(base);
  pk__mjob *j;
  int rc = leased(s, id, attempt, &j);
  if (rc) return rc;
  if (j->st.status != PK_JOB_ACTIVE)
    return fail_with(s, -ESTALE, "job %lld is %s, not active", (long long)id,
                     pk__job_status_names[j->st.status]);
  size_t mark = s->nlog;
  if ((rc = take(s, j))) return op_end(s, mark, rc);
  j->st.lease_until = now + lease_ms;
  j->st.updated_at = now;
  return op_end(s, mark, place(s, j));
}

static int m_progress(pk__job_store *base, int64_t id, const char *json, int64_t now) {
  mem_store *s = MEM(base);
  pk__mjob *j;
  int rc = leased(s, id, 0, &j), bad = 0;
  if (rc) return rc;
  char *p = dup_bytes(json, json ? strlen(json) : 0, &bad);
  if (bad) return fail_with(s, -ENOMEM, "out of memory (a progress value)");
  size_t mark = s->nlog;
  if ((rc = touch(s, j))) {
    free(p);
    return op_end(s, mark, rc);
  }
  rc = set_str(s, j, (void **)&j->st.progress, p);
  if (rc == 0) j->st.updated_at = now;
  return op_end(s, mark, rc);
}

static int m_get_id(pk__job_store *base, int64_t id, pk__job *job) {
  mem_store *s = MEM(base);
  pk__mjob *j = find_id(s, id);
  if (!j) return fail_with(s, -ENOENT, "no job %lld", (long long)id);
  return copy_out(s, j, job);
}

static int m_get_key(pk__job_store *base, const char *queue, const char *key, pk__job *job) {
  mem_store *s = MEM(base);
  pk__mqueue *q = find_queue(s, queue);
  pk__mjob *j = q ? find_key(s, q, key) : NULL;
  if (!j) return fail_with(s, -ENOENT, "no job %s", key);
  return copy_out(s, j, job);
}

static int m_counts(pk__job_store *base, const char *queue, int64_t now, pk__job_counts *c) {
  mem_store *s = MEM(base);
  pk__mqueue *q = find_queue(s, queue);
  memset(c, 0, sizeof *c);
  if (!q) return 0;
  int64_t due = pk__jobset_count_le(&q->delayed, now);
  c->waiting = q->n[PK_JOB_WAITING] + due;
  c->delayed = q->n[PK_JOB_DELAYED] - due;
  c->active = q->n[PK_JOB_ACTIVE];
  c->completed = q->n[PK_JOB_COMPLETED];
  c->failed = q->n[PK_JOB_FAILED];
  return 0;
}

typedef struct when { int64_t at, id; } when;

static int latest_first(const void *a, const void *b) {
  const when *x = a, *y = b;
  if (x->at != y->at) return x->at > y->at ? -1 : 1;
  return x->id > y->id ? -1 : x->id < y->id;
}

static int m_list_failed(pk__job_store *base, const char *queue, int limit, pk__job_cb cb,
                         void *ud) {
  mem_store *s = MEM(base);
  pk__mqueue *q = find_queue(s, queue);
  uint32_t nf = q ? pk__jobset_count(&q->failed) : 0;
  if (!nf || !limit) return 0;
  /* the failed jobs' (finished_at, id) sorted, then each looked up again as cb is called (it
   * may change the store) */
  when *v = malloc(nf * sizeof *v);
  if (!v) return fail_with(s, -ENOMEM, "list_failed: out of memory");
  for (uint32_t i = 0; i < nf; i++) {
    const pk__mjob *j = pk__jobset_at(&q->failed, i);
    v[i] = (when){j->st.finished_at, j->id};
  }
  qsort(v, nf, sizeof *v, latest_first);
  int n = 0, rc = 0;
  for (uint32_t i = 0; i < nf && n < limit; i++) {
    pk__mjob *j = find_id(s, v[i].id);
    if (!j || j->st.q != q || j->st.status != PK_JOB_FAILED) continue;
    pk__job job;
    if ((rc = copy_out(s, j, &job)) < 0) break;
    n++;
    int stop = cb(&job, ud);
    pk__job_free(&job);
    if (stop) break;
  }
  free(v);
  return rc < 0 ? rc : n;
}

static int retry_failed(mem_store *s, pk__mqueue *q, int64_t now) {
  int n = 0, rc;
  while (pk__jobset_count(&q->failed)) {
    pk__mjob *j = pk__jobset_at(&q->failed, pk__jobset_count(&q->failed) - 1);
    if ((rc = take(s, j))) return rc;
    j->st.status = PK_JOB_WAITING;
    j->st.attempts = j->st.stalls = 0;
    j->st.run_at = j->st.updated_at = now;
    j->st.finished_at = 0;
    if ((rc = place(s, j))) return rc;
    n++;
  }
  return n;
}

static int m_retry_failed(pk__job_store *base, const char *queue, int64_t now) {
  mem_store *s = MEM(base);
  pk__mqueue *q = find_queue(s, queue);
  if (!q) return 0;
  size_t mark = s->nlog;
  return op_end(s, mark, retry_failed(s, q, now));
}

/* Deletes every job of the set. Returns how many. */
static int drop_all(mem_store *s, pk__jobset *set) {
  int n = 0, rc;
  while (pk__jobset_count(set)) {
    if ((rc = drop(s, pk__jobset_at(set, pk__jobset_count(set) - 1)))) return rc;
    n++;
  }
  return n;
}

static int m_purge(pk__job_store *base, const char *queue) {
  mem_store *s = MEM(base);
  pk__mqueue *q = find_queue(s, queue);
  if (!q) return 0;
  size_t mark = s->nlog;
  int a = drop_all(s, &q->completed), b = a < 0 ? a : drop_all(s, &q->failed);
  return op_end(s, mark, a < 0 ? a : b < 0 ? b : a + b);
}

static int by_name(const void *a, const void *b) {
  return strcmp((*(pk__mqueue *const *)a)->name, (*(pk__mqueue *const *)b)->name);
}

/* As the SQLite store: queue by queue in name order, the oldest first within each. */
static int prune(mem_store *s, int64_t older_than, int limit) {
  pk__mqueue **v = malloc((s->nqueues ? s->nqueues : 1) * sizeof *v);
  if (!v) return fail_with(s, -ENOMEM, "prune: out of memory");
  uint32_t nv = 0;
  for (uint32_t i = 0; i < s->nqueues; i++)
    if (s->queues[i]->n[PK_JOB_COMPLETED] > 0) v[nv++] = s->queues[i];
  qsort(v, nv, sizeof *v, by_name);
  int total = 0, rc = 0;
  for (uint32_t i = 0; i < nv && total < limit && rc == 0; i++) {
    pk__mjob *j;
    while (total < limit && (j = pk__jobset_first(&v[i]->completed)) &&
           j->st.finished_at < older_than) {
      if ((rc = drop(s, j))) break;
      total++;
    }
  }
  free(v);
  return rc < 0 ? rc : total;
}

static int m_prune_completed(pk__job_store *base, int64_t older_than, int limit) {
  mem_store *s = MEM(base);
  size_t mark = s->nlog;
  return op_end(s, mark, prune(s, older_than, limit));
}

static int move(mem_store *s, pk__mjob *j, pk__mqueue *to, int64_t now) {
  pk__mqueue *from = j->st.q;
  int rc = take(s, j);
  if (rc) return rc;
  if (j->klen && to != from) {   /* same number of entries: no allocation */
    pk__htab_remove(&s->keys, key_hash(from, j->tail, j->klen), j);
    pk__htab_add(&s->keys, key_hash(to, j->tail, j->klen), j);
  }
  j->st.q = to;
  j->st.status = PK_JOB_WAITING;
  j->st.attempts = j->st.stalls = 0;
  j->st.run_at = j->st.updated_at = now;
  clear_lease(j);
  j->st.finished_at = 0;
  return place(s, j);
}

static int m_move(pk__job_store *base, int64_t id, const char *queue, int64_t now) {
  mem_store *s = MEM(base);
  pk__mjob *j = find_id(s, id);
  if (!j) return fail_with(s, -ENOENT, "no job %lld", (long long)id);
  if (j->st.status == PK_JOB_ACTIVE)
    return fail_with(s, -EBUSY, "job %lld is active: it moves once its lease ends", (long long)id);
  pk__mqueue *to;
  int rc = get_queue(s, queue, &to);
  if (rc) return rc;
  if (j->klen && to != j->st.q && find_key(s, to, j->tail))
    return fail_with(s, -EEXIST, "job %lld: its key is already taken in queue %s", (long long)id,
                     queue);
  size_t mark = s->nlog;
  return op_end(s, mark, move(s, j, to, now));
}

/* Job j loses its lease: back to waiting in its old place, or failed after max_stalls losses.
 * Returns 1 (back) or 0 (failed). */
static int lose_lease(mem_store *s, pk__mjob *j, int64_t now) {
  int back = j->st.stalls < s->b.max_stalls, rc;
  char *e = NULL;
  if (!back) {
    char msg[96];
    snprintf(msg, sizeof msg, "lease lost %d times (worker gone or lease expired)",
             j->st.stalls + 1);
    if (!(e = strdup(msg))) return fail_with(s, -ENOMEM, "out of memory (an error message)");
  }
  if ((rc = take(s, j))) {
    free(e);
    return rc;
  }
  if (!back && (rc = set_str(s, j, (void **)&j->st.error, e))) return rc;
  j->st.stalls++;
  clear_lease(j);
  j->st.updated_at = now;
  if (back) {
    j->st.status = PK_JOB_WAITING;
  } else {
    j->st.status = PK_JOB_FAILED;
    j->st.finished_at = now;
  }
  rc = place(s, j);
  return rc < 0 ? rc : back;
}

static int stall(mem_store *s, int64_t cutoff, int64_t now, int *failed) {
  int back = 0;
  pk__mjob *j;
  while ((j = pk__jobset_first(&s->active)) && j->st.lease_until < cutoff) {
    int rc = lose_lease(s, j, now);
    if (rc < 0) return rc;
    back += rc;
    *failed += !rc;
  }
  return back;
}

static int m_stall(pk__job_store *base, int64_t cutoff, int64_t now, int *failed) {
  mem_store *s = MEM(base);
  size_t mark = s->nlog;
  return op_end(s, mark, stall(s, cutoff, now, failed));
}

static int m_release(pk__job_store *base, int64_t id, int attempt, int64_t now) {
  mem_store *s = MEM(base);
  pk__mjob *j = find_id(s, id);
  if (!j || j->st.status != PK_JOB_ACTIVE || j->st.attempts != attempt)
    return fail_with(s, -ESTALE, "job %lld is not active under attempt %d", (long long)id, attempt);
  size_t mark = s->nlog;
  return op_end(s, mark, lose_lease(s, j, now));
}

/* ---- what only a file has ---- */

static int m_set_sync_full(pk__job_store *base, int on) {
  mem_store *s = MEM(base);
  return s->batch ? fail_with(s, -EBUSY, "synchronous: not inside a batch") : 0;
}

static int m_check(pk__job_store *base) { return 0; }

static int m_plan(pk__job_store *base, const char *name, char *out, size_t outlen) {
  return fail_with(MEM(base), -ENOTSUP, "plan: the in-memory store runs no SQL");
}

/* ---- opening ---- */

static void m_close(pk__job_store *base) {
  mem_store *s = MEM(base);
  if (s->batch) undo_to(s, 0);
  settle(s);
  for (uint32_t i = 0; i < s->ids.cap; i++)
    if (s->ids.slots[i].v) free_job(s->ids.slots[i].v);
  for (uint32_t i = 0; i < s->nqueues; i++) free_queue(s->queues[i]);
  free(s->queues);
  pk__htab_free(&s->ids);
  pk__htab_free(&s->keys);
  pk__htab_free(&s->names);
  pk__jobset_free(&s->active);
  free(s->log);
  free(s->dirty);
  free(s->b.path);
  free(s);
}

static const pk__job_store_ops MEM_OPS = {
  .close = m_close, .set_sync_full = m_set_sync_full, .check = m_check, .plan = m_plan,
  .begin = m_begin, .commit = m_commit, .rollback = m_rollback, .add = m_add,
  .lease_many = m_lease_many, .next_due = m_next_due, .next_expiry = m_next_expiry,
  .complete = m_complete, .fail = m_fail, .extend = m_extend, .progress = m_progress,
  .get_key = m_get_key, .get_id = m_get_id, .counts = m_counts, .list_failed = m_list_failed,
  .retry_failed = m_retry_failed, .purge = m_purge, .prune_completed = m_prune_completed,
  .move = m_move, .stall = m_stall, .release = m_release,
};

int pk__job_store_mem_open(pk__job_store **out, char *err, size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = 0;
  mem_store *s = calloc(1, sizeof *s);
  if (!s || pk__job_store_init(&s->b, &MEM_OPS, ":memory:")) {
    if (s) free(s->b.path);
    free(s);
    if (err && errlen) snprintf(err, errlen, "job store :memory:: out of memory");
    return -ENOMEM;
  }
  pk__jobset_init(&s->active, KEY_LEASE);
  s->next_id = 1;
  *out = &s->b;
  return 0;
}
