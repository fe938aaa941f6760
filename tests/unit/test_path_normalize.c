/* test_path_normalize.c: unit tests of dot-segment removal before routing (RFC 3986 section 5.2.4) and its refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "path_normalize.h"

static pk__buf scratch;

/* normalises t; returns the refusal or NULL (then out holds the result) */
static const char *norm(const char *t, char *out) {
  const char *o;
  size_t n;
  const char *why = pk__path_normalize(t, strlen(t), &scratch, &o, &n);
  if (!why) { memcpy(out, o, n); out[n] = 0; }
  return why;
}

static void expect(const char *in, const char *want) {
  char out[512];
  const char *why = norm(in, out);
  if (why) fail_msg("'%s' refused: %s", in, why);
  if (strcmp(out, want)) fail_msg("'%s' -> '%s', expected '%s'", in, out, want);
}

static void refused(const char *in) {
  char out[512];
  if (!norm(in, out)) fail_msg("'%s' accepted as '%s'", in, out);
}

static void test_unchanged(void **s) {
  const char *same[] = {"/", "/a", "/a/b/", "/a.b/c.d", "/.well-known/x", "/a/...", "/a/.b", "/a..b",
                        "/a%20b", "/a%2Fb", "/%2e%2e%2e", "/a/b?x=/../y", "/a//b", "/a%zz", "/files/%2e.x"};
  for (size_t i = 0; i < sizeof same / sizeof *same; i++) expect(same[i], same[i]);
  /* no copy when nothing changes */
  const char *t = "/a/b.txt?q=1", *o;
  size_t n;
  assert_null(pk__path_normalize(t, strlen(t), &scratch, &o, &n));
  assert_ptr_equal(o, t);
}

static void test_dot_segments(void **s) {
  expect("/a/./b", "/a/b");
  expect("/a/b/..", "/a/");
  expect("/a/b/../c", "/a/c");
  expect("/a/.", "/a/");
  expect("/.", "/");
  expect("/a/..", "/");
  expect("/static/../secret.txt", "/secret.txt");
  expect("/a/%2e%2e/b", "/b");
  expect("/a/%2E/b", "/a/b");
  expect("/a/.%2e/b?x=1", "/b?x=1");
  expect("/a/b/../../c/./d/", "/c/d/");
  expect("/a//../b", "/a/b");
  expect("/a/b/..?q=..", "/a/?q=..");
}

static void test_refused(void **s) {
  refused("/..");
  refused("/../x");
  refused("/a/../../x");
  refused("/%2e%2e/x");
  refused("/static/%2e%2e%2fsecret.txt");
  refused("/static/..%2fsecret.txt");
  refused("/static/..%2Fsecret.txt");
  refused("/static/%2e%2e%5csecret.txt");
  refused("/static/..\\secret.txt");
  refused("/a/x%2f..%2fy");
  refused("/a/x%2f.");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_unchanged),
    cmocka_unit_test(test_dot_segments),
    cmocka_unit_test(test_refused),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  pk__buf_free(&scratch);
  return rc;
}
