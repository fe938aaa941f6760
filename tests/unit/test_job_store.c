/* test_job_store.c: unit tests of the job store: each case against both implementations (":memory:": job_store_mem.c; a file: job_store.c over SQLite), and the two compared operation by operation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "job_store.h"
#include "job_store_impl.h"

/* Each test runs twice: on ":memory:" (the in-memory store) and on a file in a fresh directory
 * under /tmp (SQLite). A few are SQLite's alone (the file, its plans, a killed process). */
typedef struct fixture {
  pk__job_store *s;
  char dir[64];
  char path[128];     /* ":memory:" or dir/jobs.db */
} fixture;

static void remove_dir(const char *dir) {
  char p[256];
  const char *names[] = {"jobs.db", "jobs.db-wal", "jobs.db-shm", "other.db", "garbage.db",
                         "text.db", "ro.db", "ro.db-wal", "ro.db-shm", "other.db-wal",
                         "other.db-shm"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    unlink(p);
  }
  rmdir(dir);
}

static int open_store(fixture *f) {
  char err[512];
  int rc = pk__job_store_open(&f->s, f->path, err, sizeof err);
  if (rc) fprintf(stderr, "open %s: %s\n", f->path, err);
  return rc;
}

static int setup_mem(void **state) {
  fixture *f = calloc(1, sizeof *f);
  strcpy(f->path, ":memory:");
  *state = f;
  return open_store(f);
}

static int setup_file(void **state) {
  fixture *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/pk_job_store_XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  snprintf(f->path, sizeof f->path, "%s/jobs.db", f->dir);
  *state = f;
  return open_store(f);
}

static int teardown(void **state) {
  fixture *f = *state;
  pk__job_store_close(f->s);
  if (f->dir[0]) remove_dir(f->dir);
  free(f);
  return 0;
}

static pk__job_store *S(void **state) { return ((fixture *)*state)->s; }

static int64_t add(pk__job_store *s, const char *queue, const char *key, const char *data,
                   int priority, int64_t run_at, int max_attempts, int64_t now) {
  int64_t id = 0;
  int existed = -1;
  int rc = pk__job_store_add(s, queue, key, data, data ? strlen(data) : 0, priority, run_at,
                             max_attempts, now, &id, &existed);
  if (rc) fprintf(stderr, "add: %s\n", pk__job_store_error(s));
  assert_int_equal(rc, 0);
  assert_int_equal(existed, 0);
  assert_true(id > 0);
  return id;
}

/* Leases from queue and checks it is job `id` (0: expects none). Returns the attempt. */
static int lease_expect(pk__job_store *s, const char *queue, int64_t now, int64_t id) {
  pk__job j;
  int rc = pk__job_store_lease(s, queue, now, 30000, 7, &j);
  if (!id) {
    assert_int_equal(rc, -ENOENT);
    return 0;
  }
  if (rc) fprintf(stderr, "lease: %s\n", pk__job_store_error(s));
  assert_int_equal(rc, 0);
  assert_int_equal(j.id, id);
  assert_int_equal(j.status, PK_JOB_ACTIVE);
  assert_int_equal(j.lease_owner, 7);
  assert_true(j.lease_until == now + 30000);
  int attempt = j.attempts;
  pk__job_free(&j);
  return attempt;
}

static void expect_counts(pk__job_store *s, const char *queue, int64_t now, int64_t waiting,
                          int64_t delayed, int64_t active, int64_t completed, int64_t failed) {
  pk__job_counts c;
  assert_int_equal(pk__job_store_counts(s, queue, now, &c), 0);
  assert_int_equal(c.waiting, waiting);
  assert_int_equal(c.delayed, delayed);
  assert_int_equal(c.active, active);
  assert_int_equal(c.completed, completed);
  assert_int_equal(c.failed, failed);
}

static void test_order(void **state) {
  pk__job_store *s = S(state);
  int64_t now = 1000000;
  int64_t a = add(s, "q", NULL, "{\"n\":1}", 0, 0, 1, now);
  int64_t b = add(s, "q", NULL, "{\"n\":2}", 5, 0, 1, now);
  int64_t c = add(s, "q", NULL, "{\"n\":3}", 1, 0, 1, now + 1);
  int64_t d = add(s, "q", NULL, "{\"n\":4}", 0, 0, 1, now + 2);
  int64_t e = add(s, "q", NULL, "{\"n\":5}", 1, 0, 1, now);      /* same priority, older */
  int64_t f = add(s, "other", NULL, "{}", 0, 0, 1, now);
  /* priority 0 first (a, d by time), then 1 (e added at now before c at now+1), then 5 */
  int64_t order[] = {a, d, e, c, b};
  for (int i = 0; i < 5; i++) {
    pk__job j;
    assert_int_equal(pk__job_store_lease(s, "q", now + 10, 1000, 3, &j), 0);
    assert_int_equal(j.id, order[i]);
    assert_int_equal(j.attempts, 1);
    char key[24];
    snprintf(key, sizeof key, "%lld", (long long)j.id);
    assert_string_equal(j.key, key);      /* the generated key is the id */
    assert_string_equal(j.queue, "q");
    assert_non_null(j.data);
    assert_int_equal(j.dlen, strlen(j.data));
    assert_int_equal(pk__job_store_complete(s, j.id, j.attempts, "\"ok\"", 4, now + 20), 0);
    pk__job_free(&j);
  }
  lease_expect(s, "q", now + 30, 0);
  lease_expect(s, "other", now + 30, f);
  expect_counts(s, "q", now + 30, 0, 0, 0, 5, 0);
  expect_counts(s, "other", now + 30, 0, 0, 1, 0, 0);
  expect_counts(s, "none", now + 30, 0, 0, 0, 0, 0);
  pk__job j;
  assert_int_equal(pk__job_store_get_id(s, b, &j), 0);
  assert_int_equal(j.status, PK_JOB_COMPLETED);
  assert_int_equal(j.rlen, 4);
  assert_string_equal(j.result, "\"ok\"");
  assert_string_equal(j.data, "{\"n\":2}");
  assert_int_equal(j.priority, 5);
  assert_true(j.finished_at == now + 20);
  assert_true(j.created_at == now);
  assert_int_equal(j.lease_until, 0);
  assert_int_equal(j.lease_owner, 0);
  pk__job_free(&j);
}

static void test_priority_range(void **state) {
  pk__job_store *s = S(state);
  assert_int_equal(pk__job_store_add(s, "q", NULL, "", 0, -1, 0, 1, 0, NULL, NULL), -EINVAL);
  assert_int_equal(pk__job_store_add(s, "q", NULL, "", 0, PK_JOB_PRIORITY_MAX + 1, 0, 1, 0, NULL,
                                     NULL), -EINVAL);
  assert_non_null(strstr(pk__job_store_error(s), "priority"));
  int64_t low = add(s, "q", NULL, NULL, PK_JOB_PRIORITY_MAX, 0, 1, 5);
  int64_t top = add(s, "q", NULL, NULL, 0, 0, 1, 6);
  lease_expect(s, "q", 10, top);
  lease_expect(s, "q", 10, low);
  assert_int_equal(pk__job_store_add(s, "", NULL, "", 0, 0, 0, 1, 0, NULL, NULL), -EINVAL);
  assert_int_equal(pk__job_store_add(s, NULL, NULL, "", 0, 0, 0, 1, 0, NULL, NULL), -EINVAL);
}

static void test_delayed(void **state) {
  pk__job_store *s = S(state);
  int64_t now = 5000;
  int64_t later = add(s, "q", NULL, "{}", 0, now + 1000, 1, now);
  int64_t soon = add(s, "q", NULL, "{}", 0, now + 500, 1, now);
  int64_t low = add(s, "q", NULL, "{}", 9, 0, 1, now);
  int64_t t;
  assert_int_equal(pk__job_store_next_due(s, "q", &t), 0);
  assert_true(t == now + 500);
  assert_int_equal(pk__job_store_next_due(s, "other", &t), -ENOENT);
  expect_counts(s, "q", now, 1, 2, 0, 0, 0);
  expect_counts(s, "q", now + 500, 2, 1, 0, 0, 0);   /* a due delayed job counts as waiting */
  pk__job j;
  assert_int_equal(pk__job_store_get_id(s, later, &j), 0);
  assert_int_equal(j.status, PK_JOB_DELAYED);
  assert_true(j.run_at == now + 1000);
  pk__job_free(&j);
  /* before their time only the waiting job (priority 9) is runnable */
  lease_expect(s, "q", now + 499, low);
  lease_expect(s, "q", now + 499, 0);
  lease_expect(s, "q", now + 500, soon);
  lease_expect(s, "q", now + 999, 0);
  assert_int_equal(pk__job_store_next_due(s, "q", &t), 0);
  assert_true(t == now + 1000);
  lease_expect(s, "q", now + 2000, later);
  assert_int_equal(pk__job_store_next_due(s, "q", &t), -ENOENT);
  /* a due delayed job takes its place by its run_at among waiting ones of its priority */
  int64_t d = add(s, "p", NULL, NULL, 0, now + 100, 1, now);
  int64_t w = add(s, "p", NULL, NULL, 0, 0, 1, now + 200);
  lease_expect(s, "p", now + 300, d);
  lease_expect(s, "p", now + 300, w);
}

static void test_dedupe(void **state) {
  pk__job_store *s = S(state);
  int64_t id = add(s, "q", "order-42", "{\"v\":1}", 0, 0, 3, 100);
  int64_t id2 = 0;
  int existed = 0;
  assert_int_equal(pk__job_store_add(s, "q", "order-42", "{\"v\":2}", 7, 0, 9, 200, 0, &id2,
                                     &existed), 0);
  assert_true(id2 == id);
  assert_int_equal(existed, 1);
  pk__job j;
  assert_int_equal(pk__job_store_get(s, "q", "order-42", &j), 0);
  assert_true(j.id == id);
  assert_string_equal(j.key, "order-42");
  assert_string_equal(j.data, "{\"v\":1}");    /* unchanged */
  assert_int_equal(j.max_attempts, 3);
  assert_int_equal(j.priority, 0);
  pk__job_free(&j);
  /* the same key in another queue is another job */
  int64_t other = add(s, "r", "order-42", "{}", 0, 0, 1, 100);
  assert_true(other != id);
  /* still a duplicate when finished */
  lease_expect(s, "q", 300, id);
  assert_int_equal(pk__job_store_complete(s, id, 1, NULL, 0, 300), 0);
  assert_int_equal(pk__job_store_add(s, "q", "order-42", "{}", 2, 0, 0, 1, 400, &id2, &existed), 0);
  assert_true(id2 == id);
  assert_int_equal(existed, 1);
  /* keys of digits are the generated ones */
  assert_int_equal(pk__job_store_add(s, "q", "123", "{}", 2, 0, 0, 1, 400, &id2, &existed), -EINVAL);
  assert_non_null(strstr(pk__job_store_error(s), "digits"));
  assert_int_equal(pk__job_store_add(s, "q", "", "{}", 2, 0, 0, 1, 400, &id2, &existed), -EINVAL);
  int64_t gen = add(s, "q", NULL, "{}", 0, 0, 1, 500);
  char key[24];
  snprintf(key, sizeof key, "%lld", (long long)gen);
  assert_int_equal(pk__job_store_get(s, "q", key, &j), 0);
  assert_true(j.id == gen);
  assert_string_equal(j.key, key);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_get(s, "r", key, &j), -ENOENT);     /* an id of another queue */
  assert_int_equal(pk__job_store_get(s, "q", "nope", &j), -ENOENT);
  assert_int_equal(pk__job_store_get(s, "q", "99999999999999999999999", &j), -ENOENT);
  /* purged: the key is free again, and the newest id is not given again */
  lease_expect(s, "q", 550, gen);
  assert_int_equal(pk__job_store_complete(s, gen, 1, NULL, 0, 560), 0);
  assert_int_equal(pk__job_store_purge(s, "q"), 2);
  int64_t again = add(s, "q", "order-42", "{}", 0, 0, 1, 600);
  assert_true(again == gen + 1);
}

static void test_data_kinds(void **state) {
  pk__job_store *s = S(state);
  const char bin[] = {'a', 0, 'b', (char)0xff};
  int64_t id;
  assert_int_equal(pk__job_store_add(s, "q", "bin", bin, sizeof bin, 0, 0, 1, 1, &id, NULL), 0);
  int64_t empty, none;
  assert_int_equal(pk__job_store_add(s, "q", "empty", "", 0, 0, 0, 1, 1, &empty, NULL), 0);
  assert_int_equal(pk__job_store_add(s, "q", "none", NULL, 0, 0, 0, 1, 1, &none, NULL), 0);
  pk__job j;
  assert_int_equal(pk__job_store_get_id(s, id, &j), 0);
  assert_int_equal(j.dlen, sizeof bin);
  assert_memory_equal(j.data, bin, sizeof bin);
  assert_int_equal(((char *)j.data)[j.dlen], 0);
  assert_null(j.result);
  assert_null(j.error);
  assert_null(j.progress);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_get_id(s, empty, &j), 0);
  assert_non_null(j.data);
  assert_int_equal(j.dlen, 0);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_get_id(s, none, &j), 0);
  assert_null(j.data);
  pk__job_free(&j);
  pk__job_free(NULL);
  /* progress while unfinished, then not */
  assert_int_equal(pk__job_store_progress(s, id, "{\"pct\":50}", 2), 0);
  assert_int_equal(pk__job_store_get(s, "q", "bin", &j), 0);
  assert_string_equal(j.progress, "{\"pct\":50}");
  assert_true(j.updated_at == 2);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_complete(s, id, 0, bin, sizeof bin, 3), 0);
  assert_int_equal(pk__job_store_get_id(s, id, &j), 0);
  assert_int_equal(j.rlen, sizeof bin);
  assert_memory_equal(j.result, bin, sizeof bin);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_progress(s, id, "{}", 4), -ESTALE);
  assert_int_equal(pk__job_store_progress(s, 424242, "{}", 4), -ENOENT);
  assert_int_equal(pk__job_store_get_id(s, 424242, &j), -ENOENT);
  assert_non_null(strstr(pk__job_store_error(s), "424242"));
}

static void test_fail_retry_final(void **state) {
  pk__job_store *s = S(state);
  int64_t id = add(s, "q", "k", "{}", 0, 0, 2, 0);
  int a = lease_expect(s, "q", 10, id);
  assert_int_equal(a, 1);
  /* attempt 1 of 2 fails: retried at 1000 */
  assert_int_equal(pk__job_store_fail(s, id, a, "boom 1", 1000, 20), 1);
  pk__job j;
  assert_int_equal(pk__job_store_get_id(s, id, &j), 0);
  assert_int_equal(j.status, PK_JOB_DELAYED);
  assert_true(j.run_at == 1000);
  assert_string_equal(j.error, "boom 1");
  assert_int_equal(j.lease_until, 0);
  pk__job_free(&j);
  expect_counts(s, "q", 20, 0, 1, 0, 0, 0);
  lease_expect(s, "q", 999, 0);
  a = lease_expect(s, "q", 1000, id);
  assert_int_equal(a, 2);
  /* a report from the first lease is stale */
  assert_int_equal(pk__job_store_complete(s, id, 1, NULL, 0, 1001), -ESTALE);
  assert_non_null(strstr(pk__job_store_error(s), "lost"));
  /* attempt 2 of 2: no retry left, fails for good even when a retry is asked */
  assert_int_equal(pk__job_store_fail(s, id, a, "boom 2", 5000, 1010), 0);
  assert_int_equal(pk__job_store_get_id(s, id, &j), 0);
  assert_int_equal(j.status, PK_JOB_FAILED);
  assert_string_equal(j.error, "boom 2");
  assert_true(j.finished_at == 1010);
  pk__job_free(&j);
  expect_counts(s, "q", 2000, 0, 0, 0, 0, 1);
  assert_int_equal(pk__job_store_fail(s, id, a, "again", -1, 1020), -ESTALE);
  assert_int_equal(pk__job_store_complete(s, id, a, NULL, 0, 1020), -ESTALE);
  assert_non_null(strstr(pk__job_store_error(s), "already failed"));
  assert_int_equal(pk__job_store_fail(s, 999999, 1, "x", -1, 0), -ENOENT);
  /* -1: final at once, whatever attempts are left; a retry due now goes back to waiting */
  int64_t id2 = add(s, "q", NULL, "{}", 0, 0, 5, 0);
  a = lease_expect(s, "q", 2000, id2);
  assert_int_equal(pk__job_store_fail(s, id2, a, "retry now", 1500, 2001), 1);
  assert_int_equal(pk__job_store_get_id(s, id2, &j), 0);
  assert_int_equal(j.status, PK_JOB_WAITING);
  assert_true(j.run_at == 2001);
  pk__job_free(&j);
  a = lease_expect(s, "q", 2002, id2);
  assert_int_equal(pk__job_store_fail(s, id2, a, "fatal", -1, 2003), 0);
  expect_counts(s, "q", 2003, 0, 0, 0, 0, 2);
}

static void test_dead_letter(void **state) {
  pk__job_store *s = S(state);
  int64_t id = add(s, "q", "k1", "{\"x\":1}", 4, 0, 1, 0);
  int64_t busy = add(s, "q", NULL, "{}", 9, 0, 1, 0);
  int a = lease_expect(s, "q", 1, id);
  lease_expect(s, "q", 1, busy);
  assert_int_equal(pk__job_store_fail(s, id, a, "bad input", -1, 2), 0);
  assert_int_equal(pk__job_store_move(s, busy, "q.dead", 3), -EBUSY);
  assert_int_equal(pk__job_store_move(s, 12345, "q.dead", 3), -ENOENT);
  assert_int_equal(pk__job_store_move(s, id, "", 3), -EINVAL);
  assert_int_equal(pk__job_store_move(s, id, "q.dead", 3), 0);
  pk__job j;
  assert_int_equal(pk__job_store_get(s, "q.dead", "k1", &j), 0);
  assert_true(j.id == id);
  assert_int_equal(j.status, PK_JOB_WAITING);
  assert_string_equal(j.data, "{\"x\":1}");
  assert_string_equal(j.error, "bad input");
  assert_int_equal(j.attempts, 0);
  assert_int_equal(j.priority, 4);
  assert_int_equal(j.finished_at, 0);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_get(s, "q", "k1", &j), -ENOENT);
  expect_counts(s, "q", 3, 0, 0, 1, 0, 0);
  expect_counts(s, "q.dead", 3, 1, 0, 0, 0, 0);
  /* a key already taken in the target queue */
  int64_t id2 = add(s, "q", "k1", "{}", 0, 0, 1, 4);
  assert_int_equal(pk__job_store_move(s, id2, "q.dead", 5), -EEXIST);
  assert_non_null(strstr(pk__job_store_error(s), "taken"));
  assert_int_equal(pk__job_store_get_id(s, id2, &j), 0);
  assert_string_equal(j.queue, "q");      /* unchanged */
  pk__job_free(&j);
  lease_expect(s, "q.dead", 6, id);
}

static void test_recover_after_crash(void **state) {
  fixture *f = *state;
  int64_t a = add(f->s, "q", NULL, "{\"a\":1}", 0, 0, 3, 0);
  int64_t b = add(f->s, "q", "b", "{\"b\":1}", 0, 0, 3, 1);
  int64_t c = add(f->s, "q", NULL, "{\"c\":1}", 0, 0, 3, 2);
  lease_expect(f->s, "q", 10, a);
  lease_expect(f->s, "q", 10, b);
  expect_counts(f->s, "q", 10, 1, 0, 2, 0, 0);
  if (strcmp(f->path, ":memory:") != 0) {
    /* the "crash": closed without completing; a new process opens the file */
    pk__job_store_close(f->s);
    assert_int_equal(open_store(f), 0);
  }
  expect_counts(f->s, "q", 20, 1, 0, 2, 0, 0);
  int failed = -1;
  assert_int_equal(pk__job_store_recover(f->s, 20, &failed), 2);
  assert_int_equal(failed, 0);
  expect_counts(f->s, "q", 20, 3, 0, 0, 0, 0);
  pk__job j;
  assert_int_equal(pk__job_store_get_id(f->s, a, &j), 0);
  assert_int_equal(j.status, PK_JOB_WAITING);
  assert_int_equal(j.attempts, 1);      /* kept */
  assert_int_equal(j.stalls, 1);
  assert_int_equal(j.lease_owner, 0);
  assert_string_equal(j.data, "{\"a\":1}");
  pk__job_free(&j);
  /* back in their old places: before c */
  assert_int_equal(lease_expect(f->s, "q", 30, a), 2);
  assert_int_equal(lease_expect(f->s, "q", 30, b), 2);
  lease_expect(f->s, "q", 30, c);
  /* a second loss is one too many (max_stalls 1): a and b fail, c (first loss) goes back */
  assert_int_equal(pk__job_store_recover(f->s, 40, &failed), 1);
  assert_int_equal(failed, 2);
  assert_int_equal(pk__job_store_get(f->s, "q", "b", &j), 0);
  assert_int_equal(j.status, PK_JOB_FAILED);
  assert_non_null(strstr(j.error, "lease lost 2 times"));
  pk__job_free(&j);
  expect_counts(f->s, "q", 40, 1, 0, 0, 0, 2);
  assert_int_equal(pk__job_store_recover(f->s, 50, NULL), 0);
  pk__job_store_set_max_stalls(f->s, 5);
  lease_expect(f->s, "q", 60, c);
  assert_int_equal(pk__job_store_recover(f->s, 70, &failed), 1);
  assert_int_equal(failed, 0);
}

/* release (added by the jobs branch for the master): one lease lost at once, as a stall. */
static void test_release(void **state) {
  pk__job_store *s = S(state);
  int64_t id = add(s, "q", NULL, "{}", 0, 0, 1, 0);
  pk__job j;
  assert_int_equal(pk__job_store_lease(s, "q", 100, 1000, 1, &j), 0);
  assert_true(j.id == id);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_release(s, id, 2, 150), -ESTALE);   /* not that attempt */
  assert_int_equal(pk__job_store_release(s, id, 1, 150), 1);         /* back to waiting */
  assert_int_equal(pk__job_store_release(s, id, 1, 150), -ESTALE);   /* not active now */
  assert_int_equal(pk__job_store_get_id(s, id, &j), 0);
  assert_int_equal(j.status, PK_JOB_WAITING);
  assert_int_equal(j.stalls, 1);
  assert_true(j.lease_until == 0);
  pk__job_free(&j);
  assert_int_equal(lease_expect(s, "q", 200, id), 2);
  assert_int_equal(pk__job_store_release(s, id, 2, 250), 0);          /* the second loss fails it */
  assert_int_equal(pk__job_store_get_id(s, id, &j), 0);
  assert_int_equal(j.status, PK_JOB_FAILED);
  assert_non_null(strstr(j.error, "lease lost 2 times"));
  pk__job_free(&j);
  assert_int_equal(pk__job_store_release(s, 999, 1, 300), -ESTALE);
}

/* lease_many (added by the jobs branch): several leases in one operation, in lease order. */
static void test_lease_many(void **state) {
  pk__job_store *s = S(state);
  int64_t a = add(s, "q", NULL, "1", 0, 0, 1, 0);
  int64_t b = add(s, "q", NULL, "2", 5, 0, 1, 0);      /* a lower priority: after c */
  int64_t c = add(s, "q", NULL, "3", 0, 0, 1, 0);
  int64_t d = add(s, "q", NULL, "4", 0, 500, 1, 0);    /* delayed until 500 */
  pk__job jobs[8];
  int n = -1;
  assert_int_equal(pk__job_store_lease_many(s, "q", 100, 1000, 3, 2, jobs, &n), 0);
  assert_int_equal(n, 2);
  assert_true(jobs[0].id == a && jobs[1].id == c);
  assert_int_equal(jobs[0].status, PK_JOB_ACTIVE);
  assert_int_equal(jobs[1].attempts, 1);
  for (int i = 0; i < n; i++) pk__job_free(&jobs[i]);
  assert_int_equal(pk__job_store_lease_many(s, "q", 600, 1000, 3, 8, jobs, &n), 0);
  assert_int_equal(n, 2);   /* d is due now, and (priority 0) before b */
  assert_true(jobs[0].id == d && jobs[1].id == b);
  for (int i = 0; i < n; i++) pk__job_free(&jobs[i]);
  assert_int_equal(pk__job_store_lease_many(s, "q", 700, 1000, 3, 8, jobs, &n), -ENOENT);
  assert_int_equal(n, 0);
  assert_int_equal(pk__job_store_lease_many(s, "q", 700, 1000, 3, 0, jobs, &n), -EINVAL);
  expect_counts(s, "q", 700, 0, 0, 4, 0, 0);
  /* complete in one statement still refuses a lost lease */
  assert_int_equal(pk__job_store_complete(s, a, 2, NULL, 0, 800), -ESTALE);
  assert_int_equal(pk__job_store_complete(s, a, 1, NULL, 0, 800), 0);
  assert_int_equal(pk__job_store_complete(s, a, 1, NULL, 0, 800), -ESTALE);
  assert_int_equal(pk__job_store_complete(s, 12345, 1, NULL, 0, 800), -ENOENT);
}

static void test_expire_leases(void **state) {
  pk__job_store *s = S(state);
  int64_t id = add(s, "q", NULL, "{}", 0, 0, 3, 0);
  int64_t id2 = add(s, "q", NULL, "{}", 0, 0, 3, 0);
  pk__job j;
  int64_t t;
  assert_int_equal(pk__job_store_next_expiry(s, &t), -ENOENT);
  assert_int_equal(pk__job_store_lease(s, "q", 100, 1000, 1, &j), 0);
  assert_true(j.id == id);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_lease(s, "q", 200, 1000, 2, &j), 0);
  assert_true(j.id == id2);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_next_expiry(s, &t), 0);
  assert_true(t == 1100);
  int failed = -1;
  assert_int_equal(pk__job_store_expire_leases(s, 1100, &failed), 0);   /* not before */
  assert_int_equal(failed, 0);
  /* a heartbeat keeps id2's lease */
  assert_int_equal(pk__job_store_extend(s, id2, 1, 5000, 1000), 0);
  assert_int_equal(pk__job_store_extend(s, id2, 2, 5000, 1000), -ESTALE);
  assert_int_equal(pk__job_store_expire_leases(s, 1101, &failed), 1);
  assert_int_equal(failed, 0);
  assert_int_equal(pk__job_store_next_expiry(s, &t), 0);
  assert_true(t == 6000);
  assert_int_equal(pk__job_store_extend(s, id, 1, 5000, 1102), -ESTALE);  /* not active now */
  assert_int_equal(pk__job_store_get_id(s, id, &j), 0);
  assert_int_equal(j.status, PK_JOB_WAITING);
  assert_int_equal(j.attempts, 1);
  pk__job_free(&j);
  /* the late worker's report still counts while nobody leased the job again */
  assert_int_equal(pk__job_store_complete(s, id, 1, "1", 1, 1200), 0);
  expect_counts(s, "q", 1200, 0, 0, 1, 1, 0);
  /* ...but not once another lease took it */
  int64_t id3 = add(s, "q", NULL, "{}", 0, 0, 3, 1300);
  int a = lease_expect(s, "q", 1300, id3);    /* lease_until 31300 */
  assert_int_equal(pk__job_store_expire_leases(s, 40000, NULL), 2);
  assert_int_equal(lease_expect(s, "q", 40001, id2), 2);
  assert_int_equal(lease_expect(s, "q", 40001, id3), a + 1);
  assert_int_equal(pk__job_store_complete(s, id3, a, NULL, 0, 40002), -ESTALE);
  assert_int_equal(pk__job_store_complete(s, id3, a + 1, NULL, 0, 40002), 0);
  assert_int_equal(pk__job_store_extend(s, id2, 2, 0, 40002), -EINVAL);
}

typedef struct seen { int64_t ids[8]; int n, stop_after; } seen;

static int see(const pk__job *j, void *ud) {
  seen *v = ud;
  assert_int_equal(j->status, PK_JOB_FAILED);
  assert_string_equal(j->error, "e");
  if (v->n < 8) v->ids[v->n] = j->id;
  v->n++;
  return v->stop_after && v->n >= v->stop_after;
}

static void test_counts_retry_purge_prune(void **state) {
  pk__job_store *s = S(state);
  int64_t ids[6];
  for (int i = 0; i < 6; i++) ids[i] = add(s, "q", NULL, "{}", 0, 0, 1, i);
  add(s, "q", NULL, "{}", 0, 100000, 1, 0);                  /* delayed */
  expect_counts(s, "q", 10, 6, 1, 0, 0, 0);
  for (int i = 0; i < 6; i++) {
    int a = lease_expect(s, "q", 10 + i, ids[i]);
    if (i < 3) assert_int_equal(pk__job_store_complete(s, ids[i], a, NULL, 0, 100 * (i + 1)), 0);
    else if (i < 5) assert_int_equal(pk__job_store_fail(s, ids[i], a, "e", -1, 1000 + i), 0);
  }
  expect_counts(s, "q", 20, 0, 1, 1, 3, 2);
  /* list_failed: latest failure first, limit, stop */
  seen v = {0};
  assert_int_equal(pk__job_store_list_failed(s, "q", 10, see, &v), 2);
  assert_int_equal(v.n, 2);
  assert_true(v.ids[0] == ids[4]);
  assert_true(v.ids[1] == ids[3]);
  v.n = 0;
  assert_int_equal(pk__job_store_list_failed(s, "q", 1, see, &v), 1);
  v.n = 0;
  v.stop_after = 1;
  assert_int_equal(pk__job_store_list_failed(s, "q", 10, see, &v), 1);
  assert_int_equal(v.n, 1);
  assert_int_equal(pk__job_store_list_failed(s, "other", 10, see, &v), 0);
  /* retry_failed: waiting again, attempts reset */
  assert_int_equal(pk__job_store_retry_failed(s, "q", 2000), 2);
  expect_counts(s, "q", 2000, 2, 1, 1, 3, 0);
  pk__job j;
  assert_int_equal(pk__job_store_get_id(s, ids[3], &j), 0);
  assert_int_equal(j.status, PK_JOB_WAITING);
  assert_int_equal(j.attempts, 0);
  assert_int_equal(j.finished_at, 0);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_retry_failed(s, "q", 2001), 0);
  /* prune: completed finished before 250 (ids[0] at 100, ids[1] at 200), limit 1 at a time */
  assert_int_equal(pk__job_store_prune_completed(s, 250, 1), 1);
  assert_int_equal(pk__job_store_prune_completed(s, 250, 10), 1);
  assert_int_equal(pk__job_store_prune_completed(s, 250, 10), 0);
  assert_int_equal(pk__job_store_get_id(s, ids[0], &j), -ENOENT);
  assert_int_equal(pk__job_store_get_id(s, ids[2], &j), 0);
  pk__job_free(&j);
  expect_counts(s, "q", 2000, 2, 1, 1, 1, 0);
  /* purge: completed and failed go, the others stay */
  int a = lease_expect(s, "q", 3000, ids[3]);
  assert_int_equal(pk__job_store_fail(s, ids[3], a, "e", -1, 3001), 0);
  assert_int_equal(pk__job_store_purge(s, "q"), 2);
  expect_counts(s, "q", 3002, 1, 1, 1, 0, 0);
  assert_int_equal(pk__job_store_purge(s, "q"), 0);
}

static void test_batch(void **state) {
  pk__job_store *s = S(state);
  assert_int_equal(pk__job_store_commit(s), -EINVAL);
  assert_int_equal(pk__job_store_rollback(s), -EINVAL);
  assert_int_equal(pk__job_store_begin(s), 0);
  assert_int_equal(pk__job_store_begin(s), -EBUSY);
  assert_int_equal(pk__job_store_set_sync_full(s, 1), -EBUSY);
  add(s, "q", "a", "{}", 0, 0, 1, 0);
  add(s, "q", "b", "{}", 0, 0, 1, 0);
  assert_int_equal(pk__job_store_rollback(s), 0);
  expect_counts(s, "q", 0, 0, 0, 0, 0, 0);
  pk__job j;
  assert_int_equal(pk__job_store_get(s, "q", "a", &j), -ENOENT);
  /* in a batch, a failing operation undoes only itself */
  assert_int_equal(pk__job_store_begin(s), 0);
  int64_t a = add(s, "q", "a", "{}", 0, 0, 1, 0);
  int64_t b = add(s, "q.dead", "a", "{}", 0, 0, 1, 0);
  assert_int_equal(pk__job_store_move(s, b, "q", 1), -EEXIST);
  int64_t c = add(s, "q", "c", "{}", 0, 0, 1, 0);
  assert_int_equal(lease_expect(s, "q", 2, a), 1);
  assert_int_equal(pk__job_store_commit(s), 0);
  expect_counts(s, "q", 3, 1, 0, 1, 0, 0);
  expect_counts(s, "q.dead", 3, 1, 0, 0, 0, 0);
  assert_int_equal(lease_expect(s, "q", 3, c), 1);
  assert_int_equal(pk__job_store_set_sync_full(s, 1), 0);
  assert_int_equal(pk__job_store_set_sync_full(s, 0), 0);
  assert_int_equal(pk__job_store_check(s), 0);
}

static void test_persisted(void **state) {
  fixture *f = *state;
  assert_int_equal(pk__job_store_begin(f->s), 0);
  for (int i = 0; i < 100; i++) add(f->s, "q", NULL, "{}", i % 3, 0, 1, i);
  assert_int_equal(pk__job_store_commit(f->s), 0);
  pk__job_store_close(f->s);
  assert_int_equal(open_store(f), 0);
  expect_counts(f->s, "q", 200, 100, 0, 0, 0, 0);
  pk__job_store_close(f->s);
  /* an empty file (e.g. created by touch) is a new store */
  unlink(f->path);
  int fd = open(f->path, O_CREAT | O_WRONLY, 0644);
  assert_true(fd >= 0);
  close(fd);
  assert_int_equal(open_store(f), 0);
  expect_counts(f->s, "q", 200, 0, 0, 0, 0, 0);
}

/* kill -9 of the process loses no committed transaction (synchronous=NORMAL in WAL mode), and
 * nothing of a batch left open. */
static void test_killed_process(void **state) {
  fixture *f = *state;
  pk__job_store_close(f->s);
  f->s = NULL;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    pk__job_store *s;
    char err[512];
    if (pk__job_store_open(&s, f->path, err, sizeof err)) _exit(2);
    for (int b = 0; b < 3; b++) {
      if (pk__job_store_begin(s)) _exit(3);
      for (int i = 0; i < 100; i++)
        if (pk__job_store_add(s, "q", NULL, "{}", 2, 0, 0, 1, i, NULL, NULL)) _exit(4);
      if (pk__job_store_commit(s)) _exit(5);
    }
    if (pk__job_store_add(s, "q", "alone", "{}", 2, 0, 0, 1, 0, NULL, NULL)) _exit(6);
    pk__job j;
    if (pk__job_store_lease(s, "q", 10, 1000, 1, &j)) _exit(7);
    if (pk__job_store_begin(s)) _exit(8);
    if (pk__job_store_add(s, "q", "uncommitted", "{}", 2, 0, 0, 1, 0, NULL, NULL)) _exit(9);
    raise(SIGKILL);
    _exit(10);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  assert_int_equal(open_store(f), 0);
  expect_counts(f->s, "q", 20, 300, 0, 1, 0, 0);
  pk__job j;
  assert_int_equal(pk__job_store_get(f->s, "q", "alone", &j), 0);
  pk__job_free(&j);
  assert_int_equal(pk__job_store_get(f->s, "q", "uncommitted", &j), -ENOENT);
  assert_int_equal(pk__job_store_recover(f->s, 30, NULL), 1);
  assert_int_equal(pk__job_store_check(f->s), 0);
}

/* Writes `bytes` to dir/name and opens it: the error must contain `want`. */
static void expect_open_error(const char *dir, const char *name, const void *bytes, size_t n,
                              const char *want, int code) {
  char path[256], err[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (bytes) {
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    fclose(fp);
  }
  pk__job_store *s = (pk__job_store *)1;
  int rc = pk__job_store_open(&s, path, err, sizeof err);
  assert_null(s);
  if (code) assert_int_equal(rc, code);
  else assert_true(rc < 0);
  if (!strstr(err, want)) fprintf(stderr, "error was: %s\n", err);
  assert_non_null(strstr(err, want));
  assert_non_null(strstr(err, path));
  /* nothing was written over it */
  if (bytes) {
    FILE *fp = fopen(path, "rb");
    char back[8192];
    assert_int_equal(fread(back, 1, sizeof back, fp), n);
    fclose(fp);
    assert_memory_equal(back, bytes, n);
  }
}

static void test_open_errors(void **state) {
  char dir[] = "/tmp/pk_job_store_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char garbage[8192];
  srand(7);
  for (size_t i = 0; i < sizeof garbage; i++) garbage[i] = (char)(rand() & 0xff);
  expect_open_error(dir, "garbage.db", garbage, sizeof garbage, "file is not a database", -EBADMSG);
  const char *text = "hello, this is a text file and not a database at all\n";
  expect_open_error(dir, "text.db", text, strlen(text), "file is not a database", -EBADMSG);
  /* a database of something else */
  char path[256], err[512];
  pk__job_store *s;
  snprintf(path, sizeof path, "%s/other.db", dir);
  assert_int_equal(pk__job_store_open(&s, path, err, sizeof err), 0);
  pk__job_store_close(s);
  /* (a store's file whose identity a second connection changes) */
  {
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), 0);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), 0);
    sqlite3_close(db);
    expect_open_error(dir, "other.db", NULL, 0, "newer than this build", 0);
    assert_int_equal(sqlite3_open(path, &db), 0);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 1; PRAGMA application_id = 7",
                                  NULL, NULL, NULL), 0);
    sqlite3_close(db);
    expect_open_error(dir, "other.db", NULL, 0, "not a job store", -EBADMSG);
    assert_int_equal(sqlite3_open(path, &db), 0);
    assert_int_equal(sqlite3_exec(db, "PRAGMA application_id = 0; PRAGMA user_version = 0",
                                  NULL, NULL, NULL), 0);
    sqlite3_close(db);
    expect_open_error(dir, "other.db", NULL, 0, "other tables", -EBADMSG);
  }
  /* a directory that does not exist */
  snprintf(path, sizeof path, "%s/missing/jobs.db", dir);
  int rc = pk__job_store_open(&s, path, err, sizeof err);
  assert_int_equal(rc, -ENOENT);
  assert_null(s);
  assert_non_null(strstr(err, "unable to open database file"));
  assert_non_null(strstr(err, "No such file or directory"));
  /* a directory where nothing can be created, even by root (procfs): no journal, no WAL */
  rc = pk__job_store_open(&s, "/proc/version", err, sizeof err);
  assert_true(rc < 0);
  assert_null(s);
  assert_true(strstr(err, "job store /proc/version: cannot write") ||       /* root */
              strstr(err, "job store /proc/version: file is read-only"));    /* others */
  /* a file that cannot be written, even by root (sysfs enforces its modes) */
  if (access("/sys/kernel/address_bits", R_OK) == 0) {
    rc = pk__job_store_open(&s, "/sys/kernel/address_bits", err, sizeof err);
    assert_int_equal(rc, -EROFS);
    assert_null(s);
    assert_non_null(strstr(err, "job store /sys/kernel/address_bits: file is read-only"));
  }
  rc = pk__job_store_open(&s, "", err, sizeof err);
  assert_int_equal(rc, -EINVAL);
  remove_dir(dir);
}

/* A read-only file (chmod 0444): root writes it all the same, so this runs only as another user. */
static void test_open_read_only_file(void **state) {
  if (geteuid() == 0) skip();
  char dir[] = "/tmp/pk_job_store_XXXXXX", path[256], err[512];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/ro.db", dir);
  pk__job_store *s;
  assert_int_equal(pk__job_store_open(&s, path, err, sizeof err), 0);
  pk__job_store_close(s);
  assert_int_equal(chmod(path, 0444), 0);
  assert_int_equal(pk__job_store_open(&s, path, err, sizeof err), -EROFS);
  assert_non_null(strstr(err, "read-only"));
  remove_dir(dir);
}

/* Every statement that picks jobs seeks an index: none reads the table or sorts. */
static void test_plans(void **state) {
  pk__job_store *s = S(state);
  const char *names[] = {"find_key", "promote", "lease", "next_due", "next_expiry", "state",
                         "complete", "get_key", "get_id", "counts", "due_count", "list_failed",
                         "retry_failed", "purge_completed", "purge_failed", "prune", "move",
                         "stall_fail", "stall_requeue", "release_fail", "release_requeue", "complete_held"};
  char plan[1024];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    assert_int_equal(pk__job_store_plan(s, names[i], plan, sizeof plan), 0);
    if (!strstr(plan, "SEARCH") || strstr(plan, "SCAN") || strstr(plan, "TEMP B-TREE"))
      fail_msg("%s: %s", names[i], plan);
  }
  assert_int_equal(pk__job_store_plan(s, "lease", plan, sizeof plan), 0);
  assert_non_null(strstr(plan, "USING INDEX jobs_ready"));
  assert_int_equal(pk__job_store_plan(s, "nope", plan, sizeof plan), -ENOENT);
}

/* What only a file has: on the in-memory store plan is -ENOTSUP, check and synchronous are
 * accepted and do nothing (synchronous is still refused inside a batch, as on a file). */
static void test_mem_file_calls(void **state) {
  pk__job_store *s = S(state);
  char plan[256];
  assert_int_equal(pk__job_store_plan(s, "lease", plan, sizeof plan), -ENOTSUP);
  assert_non_null(strstr(pk__job_store_error(s), "in-memory"));
  assert_int_equal(pk__job_store_check(s), 0);
  assert_int_equal(pk__job_store_set_sync_full(s, 1), 0);
  assert_int_equal(pk__job_store_begin(s), 0);
  assert_int_equal(pk__job_store_set_sync_full(s, 0), -EBUSY);
  assert_int_equal(pk__job_store_commit(s), 0);
}

/* A rolled-back batch leaves no trace: every kind of change inside it is undone (the in-memory
 * store's undo log; SQLite's transaction). */
static void test_rollback_everything(void **state) {
  pk__job_store *s = S(state);
  int64_t a = add(s, "q", "a", "{\"a\":1}", 0, 0, 2, 0);
  int64_t b = add(s, "q", NULL, "{}", 3, 500, 1, 0);           /* delayed */
  int64_t c = add(s, "q", "c", "{}", 0, 0, 1, 1);
  int64_t d = add(s, "q", NULL, "{}", 0, 0, 1, 2);
  int ac = lease_expect(s, "q", 10, a);
  int cc = lease_expect(s, "q", 10, c);
  assert_int_equal(pk__job_store_complete(s, c, cc, "\"r\"", 3, 20), 0);
  pk__job before[4];
  int64_t ids[4] = {a, b, c, d};
  for (int i = 0; i < 4; i++) assert_int_equal(pk__job_store_get_id(s, ids[i], &before[i]), 0);
  pk__job_counts c0;
  assert_int_equal(pk__job_store_counts(s, "q", 600, &c0), 0);
  assert_int_equal(pk__job_store_begin(s), 0);
  assert_int_equal(pk__job_store_fail(s, a, ac, "boom", 100, 30), 1);
  assert_int_equal(pk__job_store_progress(s, d, "{\"p\":1}", 31), 0);
  assert_int_equal(pk__job_store_move(s, d, "q.dead", 32), 0);
  pk__job two[2];
  int n = 0;   /* a and b are due, promoted, leased */
  assert_int_equal(pk__job_store_lease_many(s, "q", 600, 1000, 1, 2, two, &n), 0);
  assert_int_equal(n, 2);
  assert_true(two[0].id == a && two[1].id == b);
  assert_int_equal(pk__job_store_extend(s, b, two[1].attempts, 9999, 601), 0);
  pk__job_free(&two[0]);
  pk__job_free(&two[1]);
  assert_int_equal(pk__job_store_purge(s, "q"), 1);               /* c */
  add(s, "q", "new", "{}", 0, 0, 1, 603);
  assert_int_equal(pk__job_store_recover(s, 604, NULL), 2);       /* a and b */
  assert_int_equal(pk__job_store_rollback(s), 0);
  for (int i = 0; i < 4; i++) {
    pk__job j;
    assert_int_equal(pk__job_store_get_id(s, ids[i], &j), 0);
    assert_int_equal(j.status, before[i].status);
    assert_int_equal(j.attempts, before[i].attempts);
    assert_true(j.run_at == before[i].run_at && j.updated_at == before[i].updated_at);
    assert_true(j.lease_until == before[i].lease_until);
    assert_string_equal(j.queue, before[i].queue);
    assert_true((j.error == NULL) == (before[i].error == NULL));
    assert_true((j.progress == NULL) == (before[i].progress == NULL));
    assert_true((j.result == NULL) == (before[i].result == NULL));
    pk__job_free(&j);
    pk__job_free(&before[i]);
  }
  pk__job j;
  assert_int_equal(pk__job_store_get(s, "q", "new", &j), -ENOENT);
  assert_int_equal(pk__job_store_get(s, "q", "c", &j), 0);
  assert_string_equal(j.result, "\"r\"");
  pk__job_free(&j);
  expect_counts(s, "q", 600, c0.waiting, c0.delayed, c0.active, c0.completed, c0.failed);
  expect_counts(s, "q.dead", 600, 0, 0, 0, 0, 0);
  int64_t t;
  assert_int_equal(pk__job_store_next_expiry(s, &t), 0);
  assert_true(t == 10 + 30000);
  /* the order is as before too: d (waiting since 2) next; the id sequence goes on from d */
  lease_expect(s, "q", 700, d);
  lease_expect(s, "q", 700, b);
  assert_true(add(s, "q", NULL, "{}", 0, 0, 1, 800) == d + 1);
}

/* ---- the two implementations side by side ---- */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) {   /* 0 .. n-1 (xorshift64*) */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 2685821657736338717ULL) >> 33) % n;
}

static int same_str(const char *a, const char *b) { return a == b || (a && b && !strcmp(a, b)); }
static int same_bytes(const void *a, size_t an, const void *b, size_t bn) {
  return (a == NULL) == (b == NULL) && an == bn && (!a || !an || !memcmp(a, b, an));
}

static void expect_same_job(const pk__job *x, const pk__job *y, int step) {
  if (x->id != y->id || !same_str(x->queue, y->queue) || !same_str(x->key, y->key) ||
      !same_bytes(x->data, x->dlen, y->data, y->dlen) || x->status != y->status ||
      x->priority != y->priority || x->run_at != y->run_at || x->attempts != y->attempts ||
      x->max_attempts != y->max_attempts || x->stalls != y->stalls ||
      x->lease_until != y->lease_until || x->lease_owner != y->lease_owner ||
      !same_bytes(x->result, x->rlen, y->result, y->rlen) || !same_str(x->error, y->error) ||
      !same_str(x->progress, y->progress) || x->created_at != y->created_at ||
      x->updated_at != y->updated_at || x->finished_at != y->finished_at)
    fail_msg("step %d: job %lld differs: sqlite status %d attempts %d run_at %lld updated %lld"
             " finished %lld queue %s / memory status %d attempts %d run_at %lld updated %lld"
             " finished %lld queue %s", step, (long long)x->id, x->status, x->attempts,
             (long long)x->run_at, (long long)x->updated_at, (long long)x->finished_at, x->queue,
             y->status, y->attempts, (long long)y->run_at, (long long)y->updated_at,
             (long long)y->finished_at, y->queue);
}

/* Same return code and, on an error, the same message. */
static void expect_same_rc(int ra, int rb, pk__job_store *a, pk__job_store *b, const char *what,
                           int step) {
  if (ra != rb) fail_msg("step %d %s: sqlite %d (%s), memory %d (%s)", step, what, ra,
                         pk__job_store_error(a), rb, pk__job_store_error(b));
  if (ra < 0 && strcmp(pk__job_store_error(a), pk__job_store_error(b)) != 0)
    fail_msg("step %d %s: sqlite says \"%s\", memory \"%s\"", step, what, pk__job_store_error(a),
             pk__job_store_error(b));
}

typedef struct ids_seen { int64_t ids[16]; int n; } ids_seen;
static int collect(const pk__job *j, void *ud) {
  ids_seen *v = ud;
  if (v->n < 16) v->ids[v->n++] = j->id;
  return 0;
}

static const char *QUEUES[] = {"q1", "q2", "dead"};

static void compare_all(pk__job_store *a, pk__job_store *b, int64_t max_id, int64_t now, int step) {
  for (int64_t id = 1; id <= max_id; id++) {
    pk__job x, y;
    int ra = pk__job_store_get_id(a, id, &x), rb = pk__job_store_get_id(b, id, &y);
    expect_same_rc(ra, rb, a, b, "get_id", step);
    if (ra == 0) expect_same_job(&x, &y, step);
    pk__job_free(&x);
    pk__job_free(&y);
  }
  for (int i = 0; i < 3; i++) {
    pk__job_counts x, y;
    assert_int_equal(pk__job_store_counts(a, QUEUES[i], now, &x), 0);
    assert_int_equal(pk__job_store_counts(b, QUEUES[i], now, &y), 0);
    if (memcmp(&x, &y, sizeof x))
      fail_msg("step %d: counts of %s differ: sqlite %lld %lld %lld %lld %lld, memory %lld %lld %lld"
               " %lld %lld", step, QUEUES[i], (long long)x.waiting, (long long)x.delayed,
               (long long)x.active, (long long)x.completed, (long long)x.failed,
               (long long)y.waiting, (long long)y.delayed, (long long)y.active,
               (long long)y.completed, (long long)y.failed);
  }
}

/* Allocation failures: while `armed`, the countdown-th allocation fails, once. These replace
 * malloc for the whole process and hand the rest to libc's allocator, or under AddressSanitizer
 * (GCC's libasan) to its interceptors, so that ASan still checks every block. */
#if defined(__SANITIZE_ADDRESS__)
#define REAL(f) __interceptor_##f
#else
#define REAL(f) __libc_##f
#endif
extern void *REAL(malloc)(size_t n);
extern void *REAL(calloc)(size_t n, size_t size);
extern void *REAL(realloc)(void *p, size_t n);
extern void REAL(free)(void *p);
static int armed, injected;
static long countdown;
static int inject(void) {
  if (!armed || countdown <= 0 || --countdown > 0) return 0;
  injected = 1;
  return 1;
}
void *malloc(size_t n) { return inject() ? NULL : REAL(malloc)(n); }
void *calloc(size_t n, size_t size) { return inject() ? NULL : REAL(calloc)(n, size); }
void *realloc(void *p, size_t n) { return inject() ? NULL : REAL(realloc)(p, n); }
void free(void *p) { REAL(free)(p); }

/* Runs B (the in-memory store, allocations armed) then A (SQLite) unless B failed for want of
 * memory: a call that fails so must leave no trace, so SQLite is not asked at all. `skip` says
 * the outputs are not to be compared. */
#define PAIR(what, A, B) do {                                  \
    armed = 1; injected = 0; rb = (B); armed = 0;              \
    skip = injected && rb == -ENOMEM;                           \
    ra = skip ? rb : (A);                                       \
    if (!skip) expect_same_rc(ra, rb, a, b, what, step);        \
  } while (0)

/* One random operation on both stores; they must answer alike. */
static void random_step(pk__job_store *a, pk__job_store *b, int64_t *now, int64_t *max_id,
                        int *batch, int step, int late) {
  static const int prios[] = {0, 0, 0, 0, 1, 1, 7, PK_JOB_PRIORITY_MAX};
  const char *q = QUEUES[rnd(3)];
  char key[16];
  snprintf(key, sizeof key, "k%u", rnd(40));
  int64_t id = 1 + (int64_t)rnd((uint32_t)*max_id + 2);
  int ra, rb, skip, op = rnd(100);
  /* the clock: mostly forward, sometimes back (a wall clock set back), sometimes a jump */
  int r = rnd(100);
  *now += r < 60 ? 0 : r < 90 ? rnd(20) : r < 95 ? rnd(400) : -(int64_t)rnd(late ? 300 : 30);
  if (op < 25) {   /* add */
    const char *k = rnd(3) ? NULL : key;
    static const char *datas[] = {NULL, "", "{\"n\":1}", "[1,2,3]"};
    const char *d = datas[rnd(4)];
    int prio = prios[rnd(8)];
    int64_t run_at = rnd(4) ? *now - (int64_t)rnd(5) : *now + (int64_t)rnd(300);
    int max_attempts = (int)rnd(4);
    int64_t ia = -1, ib = -2;
    int ea = -1, eb = -2;
    PAIR("add", pk__job_store_add(a, q, k, d, d ? strlen(d) : 0, prio, run_at, max_attempts, *now,
                                  &ia, &ea),
         pk__job_store_add(b, q, k, d, d ? strlen(d) : 0, prio, run_at, max_attempts, *now, &ib,
                           &eb));
    if (!skip && ra == 0) {
      if (ia != ib || ea != eb) fail_msg("step %d add: ids %lld/%lld existed %d/%d", step,
                                         (long long)ia, (long long)ib, ea, eb);
      if (ia > *max_id) *max_id = ia;
    }
  } else if (op < 45) {   /* lease, one or many */
    int max = 1 + (int)rnd(4), na = -1, nb = -2, owner = 1 + (int)rnd(3);
    int64_t lease_ms = 1 + rnd(200);
    pk__job ja[4], jb[4];
    PAIR("lease", pk__job_store_lease_many(a, q, *now, lease_ms, owner, max, ja, &na),
         pk__job_store_lease_many(b, q, *now, lease_ms, owner, max, jb, &nb));
    if (skip) {
      assert_int_equal(nb, 0);
      return;
    }
    assert_int_equal(na, nb);
    for (int i = 0; i < na; i++) {
      expect_same_job(&ja[i], &jb[i], step);
      pk__job_free(&ja[i]);
      pk__job_free(&jb[i]);
    }
  } else if (op < 75) {   /* a report: with the right attempt mostly */
    pk__job j;
    int attempt = 0;
    if (pk__job_store_get_id(a, id, &j) == 0) {
      attempt = rnd(5) ? j.attempts : (int)rnd(3);
      pk__job_free(&j);
    }
    int kind = (int)rnd(10);
    if (kind < 4) {
      const char *res = rnd(2) ? "{\"ok\":true}" : NULL;
      PAIR("complete", pk__job_store_complete(a, id, attempt, res, res ? strlen(res) : 0, *now),
           pk__job_store_complete(b, id, attempt, res, res ? strlen(res) : 0, *now));
    } else if (kind < 7) {
      int64_t at = rnd(3) == 0 ? -1 : *now + (int64_t)rnd(200) - 20;
      const char *e = rnd(4) ? "boom" : NULL;
      PAIR("fail", pk__job_store_fail(a, id, attempt, e, at, *now),
           pk__job_store_fail(b, id, attempt, e, at, *now));
    } else if (kind < 8) {
      int64_t ms = rnd(10) ? 1 + rnd(300) : 0;
      PAIR("extend", pk__job_store_extend(a, id, attempt, ms, *now),
           pk__job_store_extend(b, id, attempt, ms, *now));
    } else if (kind < 9) {
      const char *p = rnd(4) ? "{\"pct\":5}" : NULL;
      PAIR("progress", pk__job_store_progress(a, id, p, *now),
           pk__job_store_progress(b, id, p, *now));
    } else {
      PAIR("release", pk__job_store_release(a, id, attempt, *now),
           pk__job_store_release(b, id, attempt, *now));
    }
  } else if (op < 80) {   /* reads */
    pk__job x, y;
    char idkey[24];
    snprintf(idkey, sizeof idkey, "%lld", (long long)id);
    const char *gk = rnd(2) ? key : idkey;
    PAIR("get", pk__job_store_get(a, q, gk, &x), pk__job_store_get(b, q, gk, &y));
    if (!skip && ra == 0) expect_same_job(&x, &y, step);
    if (!skip) pk__job_free(&x);
    pk__job_free(&y);
    int64_t ta = -1, tb = -2;
    PAIR("next_due", pk__job_store_next_due(a, q, &ta), pk__job_store_next_due(b, q, &tb));
    if (ra == 0) assert_true(ta == tb);
    PAIR("next_expiry", pk__job_store_next_expiry(a, &ta), pk__job_store_next_expiry(b, &tb));
    if (ra == 0) assert_true(ta == tb);
    ids_seen va = {0}, vb = {0};
    int limit = (int)rnd(6);
    PAIR("list_failed", pk__job_store_list_failed(a, q, limit, collect, &va),
         pk__job_store_list_failed(b, q, limit, collect, &vb));
    if (!skip) {
      assert_int_equal(va.n, vb.n);
      assert_memory_equal(va.ids, vb.ids, sizeof va.ids);
    }
  } else if (op < 86) {   /* leases lost */
    int fa = -1, fb = -2;
    if (rnd(6)) {
      PAIR("expire_leases", pk__job_store_expire_leases(a, *now, &fa),
           pk__job_store_expire_leases(b, *now, &fb));
    } else {
      PAIR("recover", pk__job_store_recover(a, *now, &fa), pk__job_store_recover(b, *now, &fb));
    }
    if (!skip) assert_int_equal(fa, fb);
  } else if (op < 90) {
    const char *to = QUEUES[rnd(3)];
    PAIR("move", pk__job_store_move(a, id, to, *now), pk__job_store_move(b, id, to, *now));
  } else if (op < 92) {
    PAIR("retry_failed", pk__job_store_retry_failed(a, q, *now),
         pk__job_store_retry_failed(b, q, *now));
  } else if (op < 93) {
    PAIR("purge", pk__job_store_purge(a, q), pk__job_store_purge(b, q));
  } else if (op < 95) {
    int64_t older = *now - (int64_t)rnd(200);
    int limit = (int)rnd(6);
    PAIR("prune", pk__job_store_prune_completed(a, older, limit),
         pk__job_store_prune_completed(b, older, limit));
  } else if (op < 96) {
    int n = (int)rnd(3);
    pk__job_store_set_max_stalls(a, n);
    pk__job_store_set_max_stalls(b, n);
  } else {   /* batches */
    if (!*batch) {
      PAIR("begin", pk__job_store_begin(a), pk__job_store_begin(b));
      *batch = 1;
    } else {
      int roll = rnd(3) == 0;
      PAIR(roll ? "rollback" : "commit", roll ? pk__job_store_rollback(a) : pk__job_store_commit(a),
           roll ? pk__job_store_rollback(b) : pk__job_store_commit(b));
      *batch = 0;
    }
  }
}

static void run_side_by_side(uint64_t seed, int steps, int late) {
  pk__job_store *a, *b;
  char err[512];
  assert_int_equal(pk__job_store_sqlite_open(&a, ":memory:", err, sizeof err), 0);
  assert_int_equal(pk__job_store_open(&b, ":memory:", err, sizeof err), 0);
  rng_state = seed;
  int64_t now = 100000, max_id = 0;
  int batch = 0;
  for (int step = 0; step < steps; step++) {
    random_step(a, b, &now, &max_id, &batch, step, late);
    if (step % 400 == 399) compare_all(a, b, max_id, now, step);
  }
  if (batch) {
    assert_int_equal(pk__job_store_commit(a), 0);
    assert_int_equal(pk__job_store_commit(b), 0);
  }
  compare_all(a, b, max_id, now, steps);
  pk__job_store_close(a);
  pk__job_store_close(b);
}

/* Random operations (adds with and without keys, every priority kind, delays, leases of one and
 * many, reports with right and stale attempts, lost leases, moves, retries, purges, prunes,
 * batches committed and rolled back, a clock that sometimes goes back) on the SQLite store and
 * the in-memory one: the same answers, the same errors, the same jobs. */
static void test_same_as_sqlite(void **state) {
  run_side_by_side(0x9e3779b97f4a7c15ULL, 30000, 0);
  run_side_by_side(12345, 30000, 1);
  run_side_by_side(777, 30000, 0);
}

/* The same random operations with the k-th allocation inside the in-memory store's calls failing,
 * for every k: the call that fails returns -ENOMEM and leaves no trace (it is undone), and the
 * store goes on to match SQLite, which never saw that call. */
static void test_out_of_memory(void **state) {
  for (long k = 1;; k++) {
    pk__job_store *a, *b;
    char err[512];
    assert_int_equal(pk__job_store_sqlite_open(&a, ":memory:", err, sizeof err), 0);
    assert_int_equal(pk__job_store_open(&b, ":memory:", err, sizeof err), 0);
    rng_state = 4242;
    int64_t now = 100000, max_id = 0;
    int batch = 0, fired = 0;
    countdown = k;
    for (int step = 0; step < 150; step++) {
      random_step(a, b, &now, &max_id, &batch, step, 1);
      fired |= injected;
    }
    if (batch) {
      assert_int_equal(pk__job_store_commit(a), 0);
      assert_int_equal(pk__job_store_commit(b), 0);
    }
    compare_all(a, b, max_id, now, (int)k);
    pk__job_store_close(a);
    pk__job_store_close(b);
    if (!fired && countdown > 0) break;   /* fewer than k allocations: every one has failed once */
  }
}

/* Many jobs over many priorities, all delayed then due at once: leased in (priority, run_at, id)
 * order; then all completed and pruned (the in-memory store frees its emptied lanes and arrays). */
static void test_many_jobs(void **state) {
  pk__job_store *s = S(state);
  rng_state = 99;
  int64_t now = 1000;
  assert_int_equal(pk__job_store_begin(s), 0);
  for (int i = 0; i < 3000; i++) {
    int prio = (int)rnd(10) * 3;
    add(s, "q", NULL, "{}", prio, now + 1 + (int64_t)rnd(1000), 1, now);
    if (rnd(4) == 0) now++;
  }
  assert_int_equal(pk__job_store_commit(s), 0);
  now += 2000;
  expect_counts(s, "q", now, 3000, 0, 0, 0, 0);
  int prev_prio = -1, n = 0;
  int64_t prev_run = 0, prev_id = 0;
  pk__job jobs[64];
  int got;
  assert_int_equal(pk__job_store_begin(s), 0);
  while (pk__job_store_lease_many(s, "q", now, 100000, 1, 64, jobs, &got) == 0) {
    for (int i = 0; i < got; i++) {
      pk__job *j = &jobs[i];
      assert_true(j->priority > prev_prio || (j->priority == prev_prio && (j->run_at > prev_run ||
                  (j->run_at == prev_run && j->id > prev_id))));
      prev_prio = j->priority;
      prev_run = j->run_at;
      prev_id = j->id;
      assert_int_equal(pk__job_store_complete(s, j->id, j->attempts, NULL, 0, now + n % 7), 0);
      pk__job_free(j);
      n++;
    }
  }
  assert_int_equal(pk__job_store_commit(s), 0);
  assert_int_equal(n, 3000);
  expect_counts(s, "q", now, 0, 0, 0, 3000, 0);
  int pruned = 0, r;
  while ((r = pk__job_store_prune_completed(s, now + 100, 1000)) > 0) pruned += r;
  assert_int_equal(r, 0);
  assert_int_equal(pruned, 3000);
  expect_counts(s, "q", now, 0, 0, 0, 0, 0);
  int64_t id = add(s, "q", NULL, "{}", 3, 0, 1, now);
  lease_expect(s, "q", now, id);
}

/* Volume on the in-memory store: 300,000 jobs added, leased, completed, pruned, with some purged
 * and moved on the way. Each step must stay O(1) or O(log n) a job (a removal from the id table
 * that scanned the run of neighbouring ids made pruning quadratic: minutes, not a second). */
static void test_mem_volume(void **state) {
  pk__job_store *s = S(state);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const int n = 300000;
  int64_t now = 1000;
  for (int i = 0; i < n; i += 1000) {
    assert_int_equal(pk__job_store_begin(s), 0);
    for (int k = i; k < i + 1000; k++) add(s, "q", NULL, "{\"n\":1}", k % 2, 0, 1, now);
    assert_int_equal(pk__job_store_commit(s), 0);
    now++;
  }
  pk__job jobs[64];
  int got, done = 0;
  while (pk__job_store_lease_many(s, "q", now, 30000, 1, 64, jobs, &got) == 0) {
    for (int i = 0; i < got; i++) {
      if (done % 10 == 0) {   /* some fail, to be moved and purged */
        assert_int_equal(pk__job_store_fail(s, jobs[i].id, jobs[i].attempts, "e", -1, now), 0);
        if (done % 20 == 0) assert_int_equal(pk__job_store_move(s, jobs[i].id, "q.dead", now), 0);
      } else {
        assert_int_equal(pk__job_store_complete(s, jobs[i].id, jobs[i].attempts, NULL, 0, now), 0);
      }
      pk__job_free(&jobs[i]);
      done++;
    }
    now++;
  }
  assert_int_equal(done, n);
  expect_counts(s, "q", now, 0, 0, 0, n - n / 10, n / 20);
  expect_counts(s, "q.dead", now, n / 20, 0, 0, 0, 0);
  int r, pruned = 0;
  while ((r = pk__job_store_prune_completed(s, now, 1000)) > 0) pruned += r;
  assert_int_equal(pruned, n - n / 10);
  assert_int_equal(pk__job_store_purge(s, "q"), n / 20);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  if (secs > 15) fail_msg("300,000 jobs took %.1f s", secs);
}

#define BOTH(t) cmocka_unit_test_setup_teardown(t, setup_mem, teardown), \
                cmocka_unit_test_setup_teardown(t, setup_file, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
    BOTH(test_order),
    BOTH(test_priority_range),
    BOTH(test_delayed),
    BOTH(test_dedupe),
    BOTH(test_data_kinds),
    BOTH(test_fail_retry_final),
    BOTH(test_dead_letter),
    BOTH(test_recover_after_crash),
    BOTH(test_expire_leases),
    BOTH(test_release),
    BOTH(test_lease_many),
    BOTH(test_counts_retry_purge_prune),
    BOTH(test_batch),
    BOTH(test_rollback_everything),
    cmocka_unit_test_setup_teardown(test_persisted, setup_file, teardown),
    cmocka_unit_test_setup_teardown(test_killed_process, setup_file, teardown),
    cmocka_unit_test_setup_teardown(test_plans, setup_file, teardown),
    cmocka_unit_test_setup_teardown(test_mem_file_calls, setup_mem, teardown),
    cmocka_unit_test_setup_teardown(test_mem_volume, setup_mem, teardown),
    cmocka_unit_test(test_same_as_sqlite),
    cmocka_unit_test(test_out_of_memory),
    BOTH(test_many_jobs),
    cmocka_unit_test(test_open_errors),
    cmocka_unit_test(test_open_read_only_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
