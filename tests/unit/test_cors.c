/* test_cors.c: unit tests of CORS origin checks and preflight headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include "cors.h"

static char *str(pk__buf *b) { pk__buf_append(b, "", 1); return b->data; }

static void test_listed_origins(void **s) {
  pk__cors *c = calloc(1, sizeof *c);
  c->origins = calloc(2, sizeof(char *));
  c->origins[c->norigins++] = strdup("https://a.example");
  c->credentials = 1;
  c->max_age = 60;
  assert_true(pk__cors_origin_allowed(c, "https://a.example", 17));
  assert_false(pk__cors_origin_allowed(c, "https://a.example.evil", 22));
  assert_false(pk__cors_origin_allowed(c, "https://b.example", 17));
  pk__buf b; pk__buf_init(&b);
  assert_int_equal(pk__cors_preflight_headers(c, &b, "https://a.example", 17, "x-a", 3, "GET, HEAD"), 0);
  const char *h = str(&b);
  assert_non_null(strstr(h, "Access-Control-Allow-Methods: GET, HEAD\r\n"));   /* wired at the path */
  assert_non_null(strstr(h, "Access-Control-Allow-Origin: https://a.example\r\n"));
  assert_non_null(strstr(h, "Access-Control-Allow-Headers: x-a\r\n"));
  assert_non_null(strstr(h, "Access-Control-Allow-Credentials: true\r\n"));
  assert_non_null(strstr(h, "Access-Control-Max-Age: 60\r\n"));
  pk__buf_free(&b);
  pk__cors_free(c);
}

static void test_any_origin(void **s) {
  pk__cors *c = calloc(1, sizeof *c);
  c->any_origin = 1;
  c->max_age = -1;
  c->methods = strdup("GET");
  assert_true(pk__cors_origin_allowed(c, "http://x", 8));
  pk__buf b; pk__buf_init(&b);
  pk__cors_preflight_headers(c, &b, "http://x", 8, NULL, 0, "GET, HEAD, POST");
  const char *h = str(&b);
  assert_non_null(strstr(h, "Access-Control-Allow-Origin: *\r\n"));
  assert_non_null(strstr(h, "Access-Control-Allow-Methods: GET\r\n"));
  assert_null(strstr(h, "Max-Age"));
  assert_null(strstr(h, "Credentials"));
  pk__buf_free(&b);
  pk__cors_free(c);
}

static void test_simple_response_headers(void **s) {
  pk__cors *c = calloc(1, sizeof *c);
  c->origins = calloc(1, sizeof(char *));
  c->origins[c->norigins++] = strdup("https://a.example");
  pk__buf b; pk__buf_init(&b);
  pk__cors_response_headers(c, &b, "https://a.example", 17);
  assert_string_equal(str(&b), "Access-Control-Allow-Origin: https://a.example\r\nVary: Origin\r\n");
  pk__buf_reset(&b);
  pk__cors_response_headers(c, &b, "https://b.example", 17);
  assert_string_equal(str(&b), "Vary: Origin\r\n");
  pk__buf_reset(&b);
  pk__cors_response_headers(c, &b, NULL, 0);
  assert_string_equal(str(&b), "Vary: Origin\r\n");
  pk__buf_free(&b);
  pk__cors_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_listed_origins), cmocka_unit_test(test_any_origin),
                                     cmocka_unit_test(test_simple_response_headers)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}
