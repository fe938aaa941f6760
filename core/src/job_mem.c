/* job_mem.c: the in-memory job store's containers (job_mem.h): ordered sets of jobs (a sorted ring buffer plus a heap) and an open-addressing hash table. */
#include "job_mem.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MIN 16
#define HEAP_MIN 8

/* ---- ordering ---- */

static inline int64_t key_of(const pk__jobset *s, const pk__mjob *j) {
  return *(const int64_t *)(const void *)((const char *)j + s->koff);
}

/* a before b: by key, then id */
static inline int before(const pk__jobset *s, const pk__mjob *a, const pk__mjob *b) {
  int64_t ka = key_of(s, a), kb = key_of(s, b);
  return ka < kb || (ka == kb && a->id < b->id);
}

void pk__jobset_init(pk__jobset *s, size_t key_offset) {
  memset(s, 0, sizeof *s);
  s->koff = (uint32_t)key_offset;
}

void pk__jobset_free(pk__jobset *s) {
  free(s->run);
  free(s->heap);
  s->run = s->heap = NULL;
  s->rn = s->rcap = s->rhead = s->hn = s->hcap = 0;
}

/* ---- the run: a ring buffer kept in order ---- */

static inline pk__mjob **rslot(const pk__jobset *s, uint32_t i) {
  return &s->run[(s->rhead + i) & (s->rcap - 1)];
}

static int run_resize(pk__jobset *s, uint32_t cap) {
  pk__mjob **r = malloc((size_t)cap * sizeof *r);
  if (!r) return -ENOMEM;
  for (uint32_t i = 0; i < s->rn; i++) r[i] = *rslot(s, i);
  free(s->run);
  s->run = r;
  s->rcap = cap;
  s->rhead = 0;
  return 0;
}

/* The index in the run of the first job not before j (binary search). */
static uint32_t run_lower(const pk__jobset *s, const pk__mjob *j) {
  uint32_t lo = 0, hi = s->rn;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (before(s, *rslot(s, mid), j)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Opens a gap at index i of the run (rn < rcap), moving the shorter side. */
static void run_open(pk__jobset *s, uint32_t i) {
  if (i < s->rn - i) {
    s->rhead = (s->rhead - 1) & (s->rcap - 1);
    for (uint32_t k = 0; k < i; k++) *rslot(s, k) = *rslot(s, k + 1);
  } else {
    for (uint32_t k = s->rn; k > i; k--) *rslot(s, k) = *rslot(s, k - 1);
  }
  s->rn++;
}

/* Closes the gap at index i, moving the shorter side. */
static void run_close(pk__jobset *s, uint32_t i) {
  if (i < s->rn - 1 - i) {
    for (uint32_t k = i; k > 0; k--) *rslot(s, k) = *rslot(s, k - 1);
    s->rhead = (s->rhead + 1) & (s->rcap - 1);
  } else {
    for (uint32_t k = i; k + 1 < s->rn; k++) *rslot(s, k) = *rslot(s, k + 1);
  }
  s->rn--;
}

static void run_put(pk__jobset *s, uint32_t i, pk__mjob *j) {
  run_open(s, i);
  *rslot(s, i) = j;
  j->pos = -1;
}

/* ---- the heap ---- */

static inline void hset(pk__jobset *s, uint32_t i, pk__mjob *j) {
  s->heap[i] = j;
  j->pos = (int32_t)i;
}

static void sift_up(pk__jobset *s, uint32_t i) {
  pk__mjob *j = s->heap[i];
  while (i > 0) {
    uint32_t p = (i - 1) / 2;
    if (!before(s, j, s->heap[p])) break;
    hset(s, i, s->heap[p]);
    i = p;
  }
  hset(s, i, j);
}

static void sift_down(pk__jobset *s, uint32_t i) {
  pk__mjob *j = s->heap[i];
  for (;;) {
    uint32_t c = 2 * i + 1;
    if (c >= s->hn) break;
    if (c + 1 < s->hn && before(s, s->heap[c + 1], s->heap[c])) c++;
    if (!before(s, s->heap[c], j)) break;
    hset(s, i, s->heap[c]);
    i = c;
  }
  hset(s, i, j);
}

static void heap_put(pk__jobset *s, pk__mjob *j) {
  s->heap[s->hn] = j;
  j->pos = (int32_t)s->hn;
  sift_up(s, s->hn++);
}

/* ---- the set ---- */

int pk__jobset_reserve(pk__jobset *s) {
  if (s->rn == s->rcap && run_resize(s, s->rcap ? s->rcap * 2 : RUN_MIN)) return -ENOMEM;
  if (s->hn == s->hcap) {
    uint32_t cap = s->hcap ? s->hcap * 2 : HEAP_MIN;
    pk__mjob **h = realloc(s->heap, (size_t)cap * sizeof *h);
    if (!h) return -ENOMEM;
    s->heap = h;
    s->hcap = cap;
  }
  return 0;
}

void pk__jobset_insert(pk__jobset *s, pk__mjob *j) {
  if (s->rn == 0 || !before(s, j, *rslot(s, s->rn - 1))) run_put(s, s->rn, j);
  else if (before(s, j, *rslot(s, 0))) run_put(s, 0, j);
  else heap_put(s, j);
}

void pk__jobset_insert_at(pk__jobset *s, pk__mjob *j, int32_t pos_was) {
  if (pos_was >= 0) heap_put(s, j);
  else run_put(s, run_lower(s, j), j);
}

void pk__jobset_remove(pk__jobset *s, pk__mjob *j) {
  if (j->pos >= 0) {
    uint32_t i = (uint32_t)j->pos;
    pk__mjob *last = s->heap[--s->hn];
    if (i < s->hn) {
      hset(s, i, last);
      if (i > 0 && before(s, last, s->heap[(i - 1) / 2])) sift_up(s, i);
      else sift_down(s, i);
    }
  } else if (s->rn && *rslot(s, 0) == j) {   /* the usual case: the first */
    s->rhead = (s->rhead + 1) & (s->rcap - 1);
    s->rn--;
  } else if (s->rn && *rslot(s, s->rn - 1) == j) {
    s->rn--;
  } else {
    run_close(s, run_lower(s, j));
  }
  j->pos = -2;
}

pk__mjob *pk__jobset_first(const pk__jobset *s) {
  pk__mjob *r = s->rn ? *rslot(s, 0) : NULL, *h = s->hn ? s->heap[0] : NULL;
  if (!r) return h;
  if (!h) return r;
  return before(s, h, r) ? h : r;
}

pk__mjob *pk__jobset_at(const pk__jobset *s, uint32_t i) {
  return i < s->rn ? *rslot(s, i) : s->heap[i - s->rn];
}

static uint32_t heap_count_le(const pk__jobset *s, uint32_t i, int64_t k) {
  if (i >= s->hn || key_of(s, s->heap[i]) > k) return 0;
  return 1 + heap_count_le(s, 2 * i + 1, k) + heap_count_le(s, 2 * i + 2, k);
}

uint32_t pk__jobset_count_le(const pk__jobset *s, int64_t k) {
  uint32_t lo = 0, hi = s->rn;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (key_of(s, *rslot(s, mid)) <= k) lo = mid + 1;
    else hi = mid;
  }
  return lo + heap_count_le(s, 0, k);
}

/* Arrays above TRIM_MIN slots that are less than an eighth full shrink to a quarter full. */
#define TRIM_MIN 256

static uint32_t trimmed(uint32_t cap, uint32_t n) {
  while (cap > TRIM_MIN && n < cap / 4) cap /= 2;
  return cap;
}

int pk__jobset_sparse(const pk__jobset *s) {
  return (s->rcap > TRIM_MIN && s->rn < s->rcap / 8) || (s->hcap > TRIM_MIN && s->hn < s->hcap / 8);
}

void pk__jobset_trim(pk__jobset *s) {
  if (s->rcap > TRIM_MIN && s->rn < s->rcap / 8) run_resize(s, trimmed(s->rcap, s->rn));
  if (s->hcap > TRIM_MIN && s->hn < s->hcap / 8) {   /* (on failure the old arrays stay) */
    uint32_t cap = trimmed(s->hcap, s->hn);
    pk__mjob **h = realloc(s->heap, (size_t)cap * sizeof *h);
    if (h) {
      s->heap = h;
      s->hcap = cap;
    }
  }
}

/* ---- hash table ----
 * Robin Hood linear probing: along a run of occupied slots, entries are in the order of their
 * home slots, so an entry is never farther from its home than the entries it passed. A lookup
 * stops at an entry nearer its home than the probe is; a removal shifts the following entries
 * back one slot only up to the first entry that sits at its home. (Plain linear probing would scan
 * to the end of the run on each removal: with ids as their own hash, a million jobs added one
 * after another make one run of a million slots, and pruning them would be quadratic.) */

/* A hash's first slot: its low bits. Ids are their own hash, so the jobs added one after another
 * sit in neighbouring slots (a lookup of a recent job is a cache hit, not a miss); string hashes
 * are mixed (pk__hash_bytes). */
static inline uint32_t home(const pk__htab *t, uint64_t h) { return (uint32_t)h & (t->cap - 1); }

/* How far slot i's entry is from its home. */
static inline uint32_t dist(const pk__htab *t, uint32_t i) {
  return (i - home(t, t->slots[i].h)) & (t->cap - 1);
}

static void place(pk__htab *t, uint64_t h, void *v) {
  uint32_t mask = t->cap - 1, i = home(t, h), d = 0;
  pk__htab_slot e = {h, v};
  while (t->slots[i].v) {
    uint32_t di = dist(t, i);
    if (di < d) {   /* the entry here is nearer its home: it moves on, e takes its place */
      pk__htab_slot x = t->slots[i];
      t->slots[i] = e;
      e = x;
      d = di;
    }
    i = (i + 1) & mask;
    d++;
  }
  t->slots[i] = e;
  t->n++;
}

int pk__htab_reserve(pk__htab *t) {
  if ((uint64_t)(t->n + 1) * 4 <= (uint64_t)t->cap * 3) return 0;
  uint32_t cap = t->cap ? t->cap * 2 : 16;
  pk__htab_slot *old = t->slots;
  uint32_t ocap = t->cap;
  if (!(t->slots = calloc(cap, sizeof *t->slots))) {
    t->slots = old;
    return -ENOMEM;
  }
  t->cap = cap;
  t->n = 0;
  for (uint32_t i = 0; i < ocap; i++)
    if (old[i].v) place(t, old[i].h, old[i].v);
  free(old);
  return 0;
}

void pk__htab_add(pk__htab *t, uint64_t h, void *v) { place(t, h, v); }

void pk__htab_remove(pk__htab *t, uint64_t h, const void *v) {
  uint32_t mask = t->cap - 1, i = home(t, h);
  while (t->slots[i].v != v) i = (i + 1) & mask;
  for (uint32_t j = (i + 1) & mask; t->slots[j].v && dist(t, j) > 0; j = (j + 1) & mask) {
    t->slots[i] = t->slots[j];
    i = j;
  }
  t->slots[i].v = NULL;
  t->n--;
}

void *pk__htab_next(const pk__htab *t, uint64_t h, uint32_t *i) {
  if (!t->cap) return NULL;
  uint32_t mask = t->cap - 1, start = home(t, h);
  uint32_t k = *i == UINT32_MAX ? start : ((*i + 1) & mask);
  for (; t->slots[k].v && dist(t, k) >= ((k - start) & mask); k = (k + 1) & mask) {
    if (t->slots[k].h == h) {
      *i = k;
      return t->slots[k].v;
    }
  }
  return NULL;
}

void pk__htab_free(pk__htab *t) {
  free(t->slots);
  memset(t, 0, sizeof *t);
}

uint64_t pk__hash_bytes(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) {   /* FNV-1a */
    h ^= b[i];
    h *= 1099511628211ULL;
  }
  h ^= h >> 33;                      /* then MurmurHash3's finaliser: every bit mixes into the low ones */
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}
