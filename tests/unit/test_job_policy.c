/* test_job_policy.c: unit tests of the attempt policy (back-off, retries, dead letter, stale reports), a job's JSON, and reading an app's schedules and queues from Lua. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <lauxlib.h>
#include <string.h>
#include "host_state.h"
#include "hub_jobs.h"
#include "job_policy.h"
#include "job_store.h"
#include "jobs_config.h"

static void test_retry_delay(void **s) {
  pk__queue_cfg fixed = {.name = "q", .retry_delay = 1000};
  pk__queue_cfg exp = {.name = "q", .retry_delay = 1000, .exponential = 1};
  for (int a = 1; a <= 5; a++) assert_true(pk__job_retry_delay(&fixed, a) == 1000);
  assert_true(pk__job_retry_delay(&exp, 1) == 1000);
  assert_true(pk__job_retry_delay(&exp, 2) == 2000);
  assert_true(pk__job_retry_delay(&exp, 3) == 4000);
  assert_true(pk__job_retry_delay(&exp, 10) == 512000);
  assert_true(pk__job_retry_delay(&exp, 40) == 2147483647LL);   /* capped, no overflow */
  exp.retry_delay = 0;
  assert_true(pk__job_retry_delay(&exp, 7) == 0);
}

static pk__job_store *store(void) {
  pk__job_store *s;
  char err[256];
  assert_int_equal(pk__job_store_open(&s, ":memory:", err, sizeof err), 0);
  return s;
}

static int64_t lease(pk__job_store *s, const char *q, int64_t now, int *attempt) {
  pk__job j;
  assert_int_equal(pk__job_store_lease(s, q, now, 10000, 1, &j), 0);
  int64_t id = j.id;
  *attempt = j.attempts;
  pk__job_free(&j);
  return id;
}

static void test_finish(void **st) {
  pk__job_store *s = store();
  pk__queue_cfg q = {.name = "q", .retry_attempts = 2, .retry_delay = 100, .exponential = 1, .dead_letter = "dead"};
  int64_t id, at = 0;
  int attempt;
  assert_int_equal(pk__job_store_add(s, "q", "k1", "{}", 2, 0, 0, q.retry_attempts + 1, 0, &id, NULL), 0);
  /* attempt 1 fails: retry at now + 100; attempt 2: + 200; attempt 3: no more: dead letter */
  assert_true(lease(s, "q", 1000, &attempt) == id);
  assert_int_equal(pk__job_finish(s, &q, id, attempt, PK_OUTCOME_FAIL, "boom", 4, 1000, &at), PK_JOB_END_RETRY);
  assert_true(at == 1100);
  assert_true(lease(s, "q", 1100, &attempt) == id);
  assert_int_equal(attempt, 2);
  assert_int_equal(pk__job_finish(s, &q, id, attempt, PK_OUTCOME_FAIL, "boom", 4, 1100, &at), PK_JOB_END_RETRY);
  assert_true(at == 1300);
  assert_true(lease(s, "q", 1300, &attempt) == id);
  assert_int_equal(pk__job_finish(s, &q, id, attempt, PK_OUTCOME_FAIL, "boom!", 5, 1300, &at), PK_JOB_END_DEAD_LETTER);
  pk__job j;
  assert_int_equal(pk__job_store_get(s, "dead", "k1", &j), 0);
  assert_int_equal(j.status, PK_JOB_WAITING);
  assert_string_equal(j.error, "boom!");
  pk__job_free(&j);
  /* a late report of attempt 3 is stale */
  assert_int_equal(pk__job_finish(s, &q, id, 3, PK_OUTCOME_OK, "1", 1, 1400, NULL), PK_JOB_END_STALE);
  /* discard: no retry even with attempts left; a queue without dead letter: failed */
  q.dead_letter = NULL;
  assert_int_equal(pk__job_store_add(s, "q", NULL, "{}", 2, 0, 0, 3, 0, &id, NULL), 0);
  assert_true(lease(s, "q", 2000, &attempt) == id);
  assert_int_equal(pk__job_finish(s, &q, id, attempt, PK_OUTCOME_DISCARD, "no", 2, 2000, NULL), PK_JOB_END_FAILED);
  /* success keeps the result; no result (empty) is NULL */
  assert_int_equal(pk__job_store_add(s, "q", NULL, "{\"a\":1}", 7, 0, 0, 1, 0, &id, NULL), 0);
  assert_true(lease(s, "q", 3000, &attempt) == id);
  assert_int_equal(pk__job_finish(s, &q, id, attempt, PK_OUTCOME_OK, "[1,2]", 5, 3000, NULL), PK_JOB_END_COMPLETED);
  assert_int_equal(pk__job_store_get_id(s, id, &j), 0);
  pk__buf b;
  pk__buf_init(&b);
  assert_int_equal(pk__job_to_json(&b, &j, 3000), 0);
  pk__buf_append(&b, "", 1);
  assert_non_null(strstr(b.data, "\"status\":\"completed\""));
  assert_non_null(strstr(b.data, "\"data\":{\"a\":1}"));
  assert_non_null(strstr(b.data, "\"result\":[1,2]"));
  assert_non_null(strstr(b.data, "\"attempts\":1"));
  assert_null(strstr(b.data, "\"error\""));
  pk__buf_free(&b);
  pk__job_free(&j);
  /* a queue the master does not know (NULL): no retry */
  assert_int_equal(pk__job_store_add(s, "other", NULL, "{}", 2, 0, 0, 3, 0, &id, NULL), 0);
  assert_true(lease(s, "other", 4000, &attempt) == id);
  assert_int_equal(pk__job_finish(s, NULL, id, attempt, PK_OUTCOME_FAIL, "x", 1, 4000, NULL), PK_JOB_END_FAILED);
  pk__job_store_close(s);
}

static void test_status_names(void **st) {
  pk__job j = {.key = "k", .queue = "q", .status = PK_JOB_DELAYED, .run_at = 100};
  assert_string_equal(pk__job_status_name(&j, 99), "delayed");
  assert_string_equal(pk__job_status_name(&j, 100), "waiting");   /* due: shown as waiting */
  j.status = PK_JOB_FAILED;
  j.error = "a \"quoted\"\nline";
  pk__buf b;
  pk__buf_init(&b);
  assert_int_equal(pk__job_to_json(&b, &j, 0), 0);
  pk__buf_append(&b, "", 1);
  assert_non_null(strstr(b.data, "\"error\":\"a \\\"quoted\\\"\\nline\""));
  assert_non_null(strstr(b.data, "\"data\":null"));
  pk__buf_free(&b);
}

/* runtime.jobs_config() as a stand-in module: what pk__jobs_config_read copies. */
static const char RUNTIME[] =
  "package.loaded['pikku.runtime'] = { jobs_config = function() return {"
  " schedules = { { name = 'nightly', schedule = '0 3 * * *', timezone = 'Europe/Helsinki', overlap = 'allow',"
  "                 catch_up = true }, { name = 'plain', schedule = '@every 5s' } },"
  " queues = { { name = 'zeta', concurrency = 4, retry_attempts = 2, retry_delay = 50, retry_backoff = 'exponential',"
  "              timeout = 100, dead_letter = 'zeta-dead' }, { name = 'zeta-dead', worker = false },"
  "            { name = 'pikku:run-later' }, { name = 'alpha' } } } end }";

static void test_config_read(void **st) {
  lua_State *L = pk__lua_state_new();
  assert_int_equal(luaL_dostring(L, RUNTIME), 0);
  pk__jobs_config c;
  char err[256];
  assert_int_equal(pk__jobs_config_read(L, &c, err, sizeof err), 0);
  assert_int_equal(lua_gettop(L), 0);
  assert_int_equal(c.nschedules, 2);
  assert_string_equal(c.schedules[0].timezone, "Europe/Helsinki");
  assert_true(c.schedules[0].overlap_allow && c.schedules[0].catch_up);
  assert_string_equal(c.schedules[1].timezone, "UTC");
  assert_false(c.schedules[1].overlap_allow || c.schedules[1].catch_up);
  assert_int_equal(c.nqueues, 4);
  assert_string_equal(c.queues[0].name, "alpha");   /* sorted */
  assert_int_equal(c.queues[0].concurrency, 1);
  assert_true(c.queues[0].timeout == 30000 && c.queues[0].retry_delay == 1000);
  const pk__queue_cfg *z = pk__jobs_config_queue(&c, "zeta", 4);
  assert_non_null(z);
  assert_true(z->worker && z->exponential && z->concurrency == 4 && z->retry_attempts == 2 && z->timeout == 100);
  assert_string_equal(z->dead_letter, "zeta-dead");
  assert_false(pk__jobs_config_queue(&c, "zeta-dead", 9)->worker);
  assert_null(pk__jobs_config_queue(&c, "zet", 3));
  assert_null(pk__jobs_config_queue(&c, "zetas", 5));
  assert_true(pk__jobs_config_declares_any(&c));
  pk__jobs_config_free(&c);
  /* only pikku's run-later queue: nothing declared; no jobs_config at all: nothing */
  assert_int_equal(luaL_dostring(L, "package.loaded['pikku.runtime'] = { jobs_config = function() return"
                                    " { queues = { { name = 'pikku:run-later' } } } end }"), 0);
  assert_int_equal(pk__jobs_config_read(L, &c, err, sizeof err), 0);
  assert_false(pk__jobs_config_declares_any(&c));
  pk__jobs_config_free(&c);
  assert_int_equal(luaL_dostring(L, "package.loaded['pikku.runtime'] = {}"), 0);
  assert_int_equal(pk__jobs_config_read(L, &c, err, sizeof err), 0);
  assert_int_equal(c.nqueues + c.nschedules, 0);
  assert_int_equal(luaL_dostring(L, "package.loaded['pikku.runtime'] = { jobs_config = function() error('x') end }"), 0);
  assert_int_equal(pk__jobs_config_read(L, &c, err, sizeof err), -EINVAL);
  assert_non_null(strstr(err, "jobs_config failed"));
  lua_close(L);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_retry_delay),
      cmocka_unit_test(test_finish),
      cmocka_unit_test(test_status_names),
      cmocka_unit_test(test_config_read),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
