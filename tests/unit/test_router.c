/* test_router.c: unit tests of the routing table (priorities, params, wildcard, 404/405, errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include "router.h"

static pk__router *r;
static char err[256];

static int setup(void **s) {
  r = pk__router_new();
  assert_int_equal(pk__router_add(r, "GET", "/", 1, err, sizeof err), 0);
  assert_int_equal(pk__router_add(r, "GET", "/users/:id", 2, err, sizeof err), 0);
  assert_int_equal(pk__router_add(r, "GET", "/users/me", 3, err, sizeof err), 0);
  assert_int_equal(pk__router_add(r, "POST", "/users", 4, err, sizeof err), 0);
  assert_int_equal(pk__router_add(r, "GET", "/files/*path", 5, err, sizeof err), 0);
  assert_int_equal(pk__router_add(r, "GET", "/a/:x/b/:y", 6, err, sizeof err), 0);
  assert_int_equal(pk__router_add(r, "DELETE", "/users/:id", 7, err, sizeof err), 0);
  assert_int_equal(pk__router_add(r, "GET", "/a/:x/c", 8, err, sizeof err), 0);
  return 0;
}

static int teardown(void **s) { pk__router_free(r); return 0; }

static int match(int m, const char *path, pk__route_match *out) {
  return pk__router_match(r, m, path, strlen(path), out);
}

static void test_static_beats_param(void **s) {
  pk__route_match m;
  assert_int_equal(match(PK_GET, "/users/me", &m), 1);
  assert_int_equal(m.index, 3);
  assert_int_equal(m.nparams, 0);
  assert_int_equal(match(PK_GET, "/users/42", &m), 1);
  assert_int_equal(m.index, 2);
  assert_int_equal(m.nparams, 1);
  assert_int_equal(m.params[0].n, 2);
  assert_memory_equal(m.params[0].p, "42", 2);
}

static void test_root_and_trailing_slash(void **s) {
  pk__route_match m;
  assert_int_equal(match(PK_GET, "/", &m), 1);
  assert_int_equal(m.index, 1);
  assert_int_equal(match(PK_GET, "/users/42/", &m), 1);
  assert_int_equal(m.index, 2);
  /* one trailing slash is ignored, two are not (an empty last segment) */
  assert_int_equal(match(PK_GET, "/users/42//", &m), 0);
  assert_int_equal(match(PK_GET, "/users//", &m), 0);
}

static void test_wildcard(void **s) {
  pk__route_match m;
  assert_int_equal(match(PK_GET, "/files/a/b/c.txt", &m), 1);
  assert_int_equal(m.index, 5);
  assert_int_equal(m.nparams, 1);
  assert_int_equal(m.params[0].n, strlen("a/b/c.txt"));
  assert_memory_equal(m.params[0].p, "a/b/c.txt", m.params[0].n);
  assert_int_equal(match(PK_GET, "/files/", &m), 1);
  assert_int_equal(m.params[0].n, 0);
}

static void test_backtracking_params(void **s) {
  pk__route_match m;
  assert_int_equal(match(PK_GET, "/a/1/b/2", &m), 1);
  assert_int_equal(m.index, 6);
  assert_int_equal(m.nparams, 2);
  assert_memory_equal(m.params[1].p, "2", 1);
  assert_int_equal(match(PK_GET, "/a/1/c", &m), 1);
  assert_int_equal(m.index, 8);
  assert_int_equal(m.nparams, 1);
}

static void test_404_and_405(void **s) {
  pk__route_match m;
  assert_int_equal(match(PK_GET, "/nope", &m), 0);
  assert_int_equal(match(PK_GET, "/users/1/2", &m), 0);
  assert_int_equal(match(PK_PUT, "/users/1", &m), -1);
  char allow[64];
  pk__router_allow_str(m.allow, allow, sizeof allow);
  assert_string_equal(allow, "GET, HEAD, DELETE");
  assert_int_equal(match(PK_GET, "/users", &m), -1);
  pk__router_allow_str(m.allow, allow, sizeof allow);
  assert_string_equal(allow, "POST");
}

/* A static segment wired for other methods does not hide a param route that has the method. */
static void test_method_backtracks_to_param(void **s) {
  pk__route_match m;
  assert_int_equal(match(PK_DELETE, "/users/me", &m), 1);
  assert_int_equal(m.index, 7);
  assert_int_equal(m.nparams, 1);
  assert_memory_equal(m.params[0].p, "me", 2);
  assert_int_equal(match(PK_PUT, "/users/me", &m), -1);   /* Allow: every route matching the path */
  char allow[64];
  pk__router_allow_str(m.allow, allow, sizeof allow);
  assert_string_equal(allow, "GET, HEAD, DELETE");
  assert_int_equal(m.nparams, 0);
}

static void test_head_falls_back_to_get(void **s) {
  pk__route_match m;
  assert_int_equal(match(PK_HEAD, "/users/7", &m), 1);
  assert_int_equal(m.index, 2);
}

static void test_errors(void **s) {
  assert_int_equal(pk__router_add(r, "GET", "/users/:other", 9, err, sizeof err), -EEXIST);
  assert_non_null(strstr(err, "wired twice"));
  assert_int_equal(pk__router_add(r, "GET", "no-slash", 9, err, sizeof err), -EINVAL);
  assert_int_equal(pk__router_add(r, "GET", "/x/*rest/more", 9, err, sizeof err), -EINVAL);
  assert_non_null(strstr(err, "last segment"));
  assert_int_equal(pk__router_add(r, "GET", "/x/:", 9, err, sizeof err), -EINVAL);
  assert_int_equal(pk__router_add(r, "FETCH", "/x", 9, err, sizeof err), -EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_static_beats_param, setup, teardown),
    cmocka_unit_test_setup_teardown(test_root_and_trailing_slash, setup, teardown),
    cmocka_unit_test_setup_teardown(test_wildcard, setup, teardown),
    cmocka_unit_test_setup_teardown(test_backtracking_params, setup, teardown),
    cmocka_unit_test_setup_teardown(test_404_and_405, setup, teardown),
    cmocka_unit_test_setup_teardown(test_method_backtracks_to_param, setup, teardown),
    cmocka_unit_test_setup_teardown(test_head_falls_back_to_get, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
