/* reload_status.c: each worker's reload outcome and the last load error, in a page the master shares with its workers. */
#include "reload_status.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
  int loaded;                       /* the generation the worker runs */
  int failed;                       /* the last generation it failed to load, 0: none */
  unsigned seq;                     /* odd while the worker writes (a seqlock) */
  char error[PK__RELOAD_ERROR_MAX]; /* the failure's message */
} slot;

typedef struct {
  unsigned seq;                     /* 2 per error set; odd while the master writes it */
  char error[PK__RELOAD_ERROR_MAX];
  int nworkers;
  slot workers[];
} page;

static page *P;

int pk__reload_status_init(int nworkers) {
  size_t size = sizeof(page) + sizeof(slot) * (size_t)nworkers;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -ENOMEM;
  P = p;
  P->nworkers = nworkers;
  return 0;
}

/* Copies src into dst (n bytes at most, NUL-terminated). */
static void copy_text(char *dst, size_t n, const char *src) {
  size_t len = strlen(src);
  if (len >= n) len = n - 1;
  memcpy(dst, src, len);
  dst[len] = 0;
}

static void begin_write(unsigned *seq) {
  __atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
  __atomic_thread_fence(__ATOMIC_RELEASE);
}
static void end_write(unsigned *seq) { __atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE); }

/* Copies a text written under seq; 0, or -EAGAIN when it was being written meanwhile. */
static int read_text(const unsigned *seq, const char *text, char *out, size_t outlen, unsigned *at) {
  unsigned s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
  if (s1 & 1) return -EAGAIN;
  if (out && outlen) {
    memcpy(out, text, outlen < PK__RELOAD_ERROR_MAX ? outlen : PK__RELOAD_ERROR_MAX);
    out[outlen - 1] = 0;
  }
  __atomic_thread_fence(__ATOMIC_ACQUIRE);
  if (__atomic_load_n(seq, __ATOMIC_RELAXED) != s1) return -EAGAIN;
  if (at) *at = s1;
  return 0;
}

void pk__reload_status_report(int worker, int gen, const char *err) {
  if (!P || worker < 1 || worker > P->nworkers) return;
  slot *s = &P->workers[worker - 1];
  if (!err) { __atomic_store_n(&s->loaded, gen, __ATOMIC_RELEASE); return; }
  begin_write(&s->seq);
  copy_text(s->error, sizeof s->error, err);
  end_write(&s->seq);
  __atomic_store_n(&s->failed, gen, __ATOMIC_RELEASE);
}

int pk__reload_status_read(int worker, int *loaded, int *failed, char *err, size_t errlen) {
  if (!P || worker < 1 || worker > P->nworkers) return -ENOENT;
  slot *s = &P->workers[worker - 1];
  *loaded = __atomic_load_n(&s->loaded, __ATOMIC_ACQUIRE);
  *failed = __atomic_load_n(&s->failed, __ATOMIC_ACQUIRE);
  for (int tries = 0; err && tries < 100; tries++)
    if (!read_text(&s->seq, s->error, err, errlen, NULL)) break;
  return 0;
}

void pk__reload_status_set_error(const char *err) {
  if (!P) return;
  begin_write(&P->seq);
  copy_text(P->error, sizeof P->error, err);
  end_write(&P->seq);
}

unsigned pk__reload_status_error_seq(void) {
  return P ? __atomic_load_n(&P->seq, __ATOMIC_ACQUIRE) / 2 : 0;
}

unsigned pk__reload_status_error(char *err, size_t errlen) {
  if (!P) return 0;
  unsigned at = 0;
  for (int tries = 0; tries < 100; tries++)
    if (!read_text(&P->seq, P->error, err, errlen, &at)) return at / 2;
  return 0;
}
