/* test_http_file.c: unit tests of what a file answer decides: byte ranges, ETag matching, HTTP dates, media types, traceparent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "http_date.h"
#include "http_file.h"
#include "mime.h"
#include "traceparent.h"

static int range(const char *v, int64_t size, int64_t *a, int64_t *b) { return pk__range_parse(v, strlen(v), size, a, b); }

static void test_ranges(void **s) {
  int64_t a, b;
  assert_int_equal(range("bytes=0-9", 100, &a, &b), 1); assert_int_equal(a, 0); assert_int_equal(b, 9);
  assert_int_equal(range("bytes=90-", 100, &a, &b), 1); assert_int_equal(a, 90); assert_int_equal(b, 99);
  assert_int_equal(range("bytes=-10", 100, &a, &b), 1); assert_int_equal(a, 90); assert_int_equal(b, 99);
  assert_int_equal(range("bytes=-1000", 100, &a, &b), 1); assert_int_equal(a, 0);
  assert_int_equal(range("bytes=50-1000", 100, &a, &b), 1); assert_int_equal(b, 99);
  assert_int_equal(range("BYTES = 1-2 ", 100, &a, &b), 0);   /* no space before '=' allowed */
  assert_int_equal(range("bytes= 1-2 ", 100, &a, &b), 1);
  assert_int_equal(range("bytes=100-", 100, &a, &b), -1);    /* 416 */
  assert_int_equal(range("bytes=-0", 100, &a, &b), -1);
  assert_int_equal(range("bytes=0-0", 0, &a, &b), -1);
  assert_int_equal(range("bytes=5-1", 100, &a, &b), 0);      /* invalid: ignored */
  assert_int_equal(range("bytes=0-1,5-6", 100, &a, &b), 0);  /* several: the whole file */
  assert_int_equal(range("items=0-1", 100, &a, &b), 0);
  assert_int_equal(range("bytes=x-1", 100, &a, &b), 0);
  assert_int_equal(range("bytes=99999999999999999999-", 100, &a, &b), 0);
}

static void test_etags(void **s) {
  const char *e = "\"5f-10\"";
  size_t n = strlen(e);
  assert_true(pk__etag_match("\"5f-10\"", 7, e, n));
  assert_true(pk__etag_match("W/\"5f-10\"", 9, e, n));
  assert_true(pk__etag_match("\"a\", \"5f-10\"", 12, e, n));
  assert_true(pk__etag_match("*", 1, e, n));
  assert_false(pk__etag_match("\"5f-11\"", 7, e, n));
  assert_false(pk__etag_match("5f-10", 5, e, n));
  assert_false(pk__etag_match("\"5f-10", 6, e, n));
}

static void test_dates(void **s) {
  char out[32];
  assert_int_equal(pk__http_date_format(784111777, out), 29);
  assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
  time_t t;
  const char *forms[] = {"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"};
  for (int i = 0; i < 3; i++) {
    assert_int_equal(pk__http_date_parse(forms[i], strlen(forms[i]), &t), 0);
    assert_int_equal(t, 784111777);
  }
  const char *bad[] = {"", "yesterday", "Sun, 06 Nov 1994 08:49:37 UTC", "Sun, 32 Nov 1994 08:49:37 GMT",
                       "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT"};
  for (int i = 0; i < 6; i++) assert_int_not_equal(pk__http_date_parse(bad[i], strlen(bad[i]), &t), 0);
}

static void test_mime(void **s) {
  assert_string_equal(pk__mime_type("a/index.html", 12), "text/html; charset=utf-8");
  assert_string_equal(pk__mime_type("app.JS", 6), "text/javascript; charset=utf-8");
  assert_string_equal(pk__mime_type("x.woff2", 7), "font/woff2");
  assert_string_equal(pk__mime_type("x.unknown", 9), "application/octet-stream");
  assert_string_equal(pk__mime_type("dir.d/noext", 11), "application/octet-stream");
  assert_string_equal(pk__mime_type("README", 6), "application/octet-stream");
}

static void test_traceparent(void **s) {
  char id[33], flags[3];
  const char *good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  assert_int_equal(pk__traceparent_parse(good, strlen(good), id, flags), 1);
  assert_string_equal(id, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert_string_equal(flags, "01");
  const char *later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09-what-comes-next";
  assert_int_equal(pk__traceparent_parse(later, strlen(later), id, NULL), 1);
  const char *bad[] = {
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   /* upper case */
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",   /* zero trace-id */
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   /* zero parent-id */
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   /* version ff */
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", /* version 00 with more */
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    "",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    if (pk__traceparent_parse(bad[i], strlen(bad[i]), id, flags)) fail_msg("accepted %s", bad[i]);
  /* the call id: X-Request-Id first, then the trace-id, else a new id */
  char gen[33];
  size_t len;
  const char *r = pk__call_id("req-1", 5, good, strlen(good), gen, &len);
  assert_int_equal(len, 5);
  assert_memory_equal(r, "req-1", 5);
  r = pk__call_id(NULL, 0, good, strlen(good), gen, &len);
  assert_int_equal(len, 32);
  assert_memory_equal(r, "4bf92f3577b34da6a3ce929d0e0e4736", 32);
  r = pk__call_id(NULL, 0, bad[0], strlen(bad[0]), gen, &len);
  assert_int_equal(len, 32);
  assert_memory_not_equal(r, "4bf92f3577b34da6a3ce929d0e0e4736", 32);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_ranges), cmocka_unit_test(test_etags), cmocka_unit_test(test_dates),
    cmocka_unit_test(test_mime), cmocka_unit_test(test_traceparent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
