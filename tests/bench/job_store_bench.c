/* job_store_bench.c: throughput and memory of the job store (a file: job_store.c over SQLite; :memory:, job_store_mem.c) with a million jobs. */
/*
 * Not built by CMake. From the source tree:
 *
 *   cc -O2 -Icore/src tests/bench/job_store_bench.c core/src/job_store*.c core/src/job_mem.c \
 *     -lsqlite3 -o /tmp/job_store_bench
 *   /tmp/job_store_bench [PATH]     (default /tmp/pk_job_store_bench.db, removed first; or :memory:)
 *
 * Adds 1,000,000 jobs in batches of 1000, then 10,000 one per transaction (and 1000 with
 * synchronous=FULL), then leases and completes 100,000 (in batches of 100 lease+complete pairs,
 * as a master groups one poll turn) and 20,000 one operation per transaction. Prints the rates,
 * the time of what the master does besides (counts, next_due, open and recover on the full file,
 * pruning the completed jobs, quick_check), the file sizes and the process's peak RSS (getrusage).
 * :memory: is the in-memory store (no file: no synchronous=FULL, reopening or quick_check; RSS is
 * then what the jobs cost).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "job_store.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long max_rss_kib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static long rss_kib(void) {
  long pages = 0, rss = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

static long long file_kib(const char *path, const char *suffix) {
  char p[512];
  struct stat st;
  snprintf(p, sizeof p, "%s%s", path, suffix);
  return stat(p, &st) == 0 ? (long long)st.st_size / 1024 : 0;
}

static void check(pk__job_store *s, int rc, const char *what) {
  if (rc < 0) {
    fprintf(stderr, "%s: %d %s\n", what, rc, pk__job_store_error(s));
    exit(1);
  }
}

static int64_t clock_ms = 1700000000000;   /* the store's time: advances 1 ms per batch */

static void add_jobs(pk__job_store *s, int n, int batch, const char *label) {
  char data[128];
  double t0 = now_s();
  for (int i = 0; i < n; i += batch) {
    if (batch > 1) check(s, pk__job_store_begin(s), "begin");
    for (int j = i; j < i + batch && j < n; j++) {
      int len = snprintf(data, sizeof data, "{\"user\":%d,\"email\":\"user%d@example.com\"}", j, j);
      check(s, pk__job_store_add(s, "bench", NULL, data, (size_t)len, j % 3, 0, 3, clock_ms,
                                 NULL, NULL), "add");
    }
    if (batch > 1) check(s, pk__job_store_commit(s), "commit");
    clock_ms++;
  }
  double dt = now_s() - t0;
  printf("%-44s %9d jobs %7.2f s %10.0f jobs/s  RSS %ld KiB\n", label, n, dt, n / dt, rss_kib());
}

static void lease_complete(pk__job_store *s, int n, int batch, const char *label) {
  double t0 = now_s();
  for (int i = 0; i < n; i += batch) {
    if (batch > 1) check(s, pk__job_store_begin(s), "begin");
    for (int j = i; j < i + batch && j < n; j++) {
      pk__job job;
      check(s, pk__job_store_lease(s, "bench", clock_ms, 30000, 1, &job), "lease");
      check(s, pk__job_store_complete(s, job.id, job.attempts, "{\"ok\":true}", 11, clock_ms),
            "complete");
      pk__job_free(&job);
    }
    if (batch > 1) check(s, pk__job_store_commit(s), "commit");
    clock_ms++;
  }
  double dt = now_s() - t0;
  printf("%-44s %9d jobs %7.2f s %10.0f jobs/s  RSS %ld KiB\n", label, n, dt, n / dt, rss_kib());
}

static double timed_ms(double t0) { return (now_s() - t0) * 1000; }

int main(int argc, char **argv) {
  const char *path = argc > 1 ? argv[1] : "/tmp/pk_job_store_bench.db";
  int memory = strcmp(path, ":memory:") == 0;
  char p[512];
  const char *sfx[] = {"", "-wal", "-shm"};
  for (int i = 0; !memory && i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", path, sfx[i]);
    unlink(p);
  }
  pk__job_store *s;
  char err[512];
  long rss0 = rss_kib();
  if (pk__job_store_open(&s, path, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
  printf("job store bench on %s (RSS %ld KiB before opening, %ld KiB after; SQLite's heap %lld "
         "KiB)\n", path, rss0, rss_kib(), (long long)sqlite3_memory_used() / 1024);

  add_jobs(s, 1000000, 1000, "add, batches of 1000");
  add_jobs(s, 10000, 1, "add, one per transaction");
  if (!memory) {
    check(s, pk__job_store_set_sync_full(s, 1), "sync full");
    add_jobs(s, 1000, 1, "add, one per transaction, synchronous=FULL");
    check(s, pk__job_store_set_sync_full(s, 0), "sync normal");
  }
  lease_complete(s, 100000, 100, "lease+complete, batches of 100 pairs");
  lease_complete(s, 20000, 1, "lease+complete, one op per transaction");

  pk__job_counts c;
  double t0 = now_s();
  check(s, pk__job_store_counts(s, "bench", clock_ms, &c), "counts");
  printf("counts: %.3f ms (waiting %lld, completed %lld)\n", timed_ms(t0), (long long)c.waiting,
         (long long)c.completed);
  int64_t due;
  t0 = now_s();
  int rc = pk__job_store_next_due(s, "bench", &due);
  printf("next_due: %.3f ms (%s)\n", timed_ms(t0), rc == 0 ? "found" : "none delayed");

  /* a million active-looking jobs cannot be faked cheaply: recover the 100 leased here */
  check(s, pk__job_store_begin(s), "begin");
  for (int i = 0; i < 100; i++) {
    pk__job job;
    check(s, pk__job_store_lease(s, "bench", clock_ms, 30000, 1, &job), "lease");
    pk__job_free(&job);
  }
  check(s, pk__job_store_commit(s), "commit");
  if (!memory) {
    pk__job_store_close(s);
    printf("file: %lld KiB, wal %lld KiB, shm %lld KiB\n", file_kib(path, ""),
           file_kib(path, "-wal"), file_kib(path, "-shm"));
    t0 = now_s();
    if (pk__job_store_open(&s, path, err, sizeof err)) { fprintf(stderr, "%s\n", err); return 1; }
    printf("open (1M jobs): %.1f ms\n", timed_ms(t0));
  }
  t0 = now_s();
  rc = pk__job_store_recover(s, clock_ms, NULL);
  check(s, rc, "recover");
  printf("recover: %d jobs in %.1f ms\n", rc, timed_ms(t0));
  t0 = now_s();
  int pruned = 0, chunks = 0;
  while ((rc = pk__job_store_prune_completed(s, clock_ms + 1, 1000)) > 0) {
    pruned += rc;
    chunks++;
  }
  check(s, rc, "prune");
  double dt = timed_ms(t0);
  printf("prune_completed: %d jobs in %d chunks of 1000, %.0f ms (%.1f ms a chunk)\n", pruned,
         chunks, dt, chunks ? dt / chunks : 0);
  if (!memory) {
    t0 = now_s();
    check(s, pk__job_store_check(s), "quick_check");
    printf("quick_check: %.0f ms\n", timed_ms(t0));
  }
  printf("SQLite's heap: %lld KiB now, %lld KiB at most\n", (long long)sqlite3_memory_used() / 1024,
         (long long)sqlite3_memory_highwater(0) / 1024);
  printf("peak RSS (getrusage): %ld KiB\n", max_rss_kib());
  pk__job_store_close(s);
  return 0;
}
