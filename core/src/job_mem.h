/* job_mem.h: the in-memory job store's records and containers (job_store_mem.c): a job, the ordered set of the jobs in one state, and the hash table that finds a job by id, a queue and key, or a queue by name. */
#ifndef PK_JOB_MEM_H
#define PK_JOB_MEM_H
#include <stddef.h>
#include <stdint.h>

typedef struct pk__mqueue pk__mqueue;

/* What an operation can change in a job: an undo puts back a copy of it (job_store_mem.c). */
typedef struct pk__mjob_state {
  pk__mqueue *q;
  int64_t run_at, lease_until, updated_at, finished_at;
  void *result;                  /* NUL-terminated copies, or NULL */
  char *error, *progress;
  uint32_t rlen;
  int32_t status, attempts, stalls, lease_owner;
} pk__mjob_state;

/* A job: one allocation with its key and data after it (they never change). */
typedef struct pk__mjob {
  pk__mjob_state st;
  int64_t id, created_at;
  int32_t pos;                   /* in its set: >= 0 its heap index, -1 in the sorted run, -2 none */
  int32_t priority, max_attempts;
  uint32_t dlen;
  uint16_t klen;                 /* the caller's key's length; 0: the key is the id in decimal */
  uint8_t has_data;              /* 0: no data (NULL), else dlen bytes at pk__mjob_data() */
  char tail[];                   /* the key and a NUL (when klen), then the data and a NUL */
} pk__mjob;

static inline const char *pk__mjob_key(const pk__mjob *j) { return j->klen ? j->tail : NULL; }
static inline const char *pk__mjob_data(const pk__mjob *j) {
  return j->has_data ? j->tail + (j->klen ? j->klen + 1u : 0u) : NULL;
}

/* ---- the set of jobs in one state ----
 * Ordered by (key, id), where the key is a job field chosen at init (run_at for waiting and
 * delayed jobs, lease_until for active ones, finished_at for finished ones). Most jobs come in
 * order (the key is mostly "now"), so a set is a sorted run (a ring buffer: O(1) at either end)
 * and, for the jobs that come out of order, a binary heap (O(log n)). Its first job is the smaller
 * of the run's first and the heap's top. A job records where it is (pos), so removing one is
 * O(log n) from the heap, or a binary search and a shift of the shorter side in the run. */
typedef struct pk__jobset {
  pk__mjob **run;                /* ring buffer of rcap (a power of 2) slots */
  uint32_t rhead, rn, rcap;
  pk__mjob **heap;
  uint32_t hn, hcap;
  uint32_t koff;                 /* offsetof(pk__mjob, the key field) */
} pk__jobset;

void pk__jobset_init(pk__jobset *s, size_t key_offset);
void pk__jobset_free(pk__jobset *s);
static inline uint32_t pk__jobset_count(const pk__jobset *s) { return s->rn + s->hn; }
/* Room for one more job in either part: 0 or -ENOMEM. Insertions need it first; nothing else
 * ever shrinks the arrays (pk__jobset_trim does, between operations), so a job removed can always
 * be put back where it was without allocating. */
int pk__jobset_reserve(pk__jobset *s);
/* Inserts j (its key set): at the end of the run when it comes last (or first), else in the heap. */
void pk__jobset_insert(pk__jobset *s, pk__mjob *j);
/* Inserts j where an undo needs it (pos_was: -1 the run, in order; >= 0 the heap). */
void pk__jobset_insert_at(pk__jobset *s, pk__mjob *j, int32_t pos_was);
void pk__jobset_remove(pk__jobset *s, pk__mjob *j);
/* The first job by (key, id), or NULL. */
pk__mjob *pk__jobset_first(const pk__jobset *s);
/* Job i (0 <= i < count) in no particular order: the last one is O(1) to remove. */
pk__mjob *pk__jobset_at(const pk__jobset *s, uint32_t i);
/* How many jobs have key <= k (the run by binary search, the heap down to the first larger key). */
uint32_t pk__jobset_count_le(const pk__jobset *s, int64_t k);
/* Whether pk__jobset_trim would give back memory (a mostly empty large array). */
int pk__jobset_sparse(const pk__jobset *s);
/* Gives back memory after many removals (not inside an operation: see reserve). */
void pk__jobset_trim(pk__jobset *s);

/* ---- hash table: 64-bit hashes to pointers, open addressing with Robin Hood linear probing; a
 * hash's low bits pick its slot (an id is its own hash: neighbours stay neighbours) ---- */
typedef struct pk__htab_slot { uint64_t h; void *v; } pk__htab_slot;
typedef struct pk__htab {
  pk__htab_slot *slots;          /* v NULL: empty */
  uint32_t n, cap;               /* cap a power of 2 (0: none yet) */
} pk__htab;

/* Room for one more entry (grows at 3/4 full): 0 or -ENOMEM. */
int pk__htab_reserve(pk__htab *t);
/* Adds (h, v); a reserve must have succeeded since the last add (or a remove freed a slot). */
void pk__htab_add(pk__htab *t, uint64_t h, void *v);
/* Removes the entry holding v under hash h (it must be there). */
void pk__htab_remove(pk__htab *t, uint64_t h, const void *v);
/* Iterating the entries with hash h: start with *i = UINT32_MAX; returns NULL at the end. */
void *pk__htab_next(const pk__htab *t, uint64_t h, uint32_t *i);
void pk__htab_free(pk__htab *t);
/* A hash of n bytes from seed h (PK_HASH_SEED, or another hash to combine with): FNV-1a, then
 * mixed so that its low bits (the table's slot) depend on every byte. */
#define PK_HASH_SEED 1469598103934665603ULL
uint64_t pk__hash_bytes(uint64_t h, const void *p, size_t n);

#endif
