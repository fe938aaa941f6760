/* test_http_response.c: unit tests of response serialisation and core error bodies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include "date_cache.h"
#include "http_response.h"

static char *str(pk__buf *b) { pk__buf_append(b, "", 1); return b->data; }

static void test_json_response(void **s) {
  pk__date_update(784111777);   /* Sun, 06 Nov 1994 08:49:37 GMT */
  pk__buf b; pk__buf_init(&b);
  pk__response r = {.status = 200, .content_type = "application/json", .content_type_len = 16,
                    .body = "{\"a\":1}", .body_len = 7, .keep_alive = 1};
  assert_int_equal(pk__response_write(&b, &r), 0);
  assert_string_equal(str(&b), "HTTP/1.1 200 OK\r\nServer: pikku/" PIKKU_VERSION
                      "\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Type: application/json"
                      "\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
  pk__buf_free(&b);
}

static void test_close_head_and_extra(void **s) {
  pk__buf b; pk__buf_init(&b);
  pk__response r = {.status = 404, .content_type = "text/plain", .content_type_len = 10, .body = "nope",
                    .body_len = 4, .keep_alive = 0, .head = 1, .extra = "X-A: 1\r\n", .extra_len = 8};
  pk__response_write(&b, &r);
  const char *s2 = str(&b);
  assert_non_null(strstr(s2, "HTTP/1.1 404 Not Found\r\n"));
  assert_non_null(strstr(s2, "Content-Length: 4\r\n"));
  assert_non_null(strstr(s2, "Connection: close\r\nX-A: 1\r\n\r\n"));
  assert_null(strstr(s2, "nope"));   /* HEAD: no body */
  pk__buf_free(&b);
}

static void test_204_and_http10(void **s) {
  pk__buf b; pk__buf_init(&b);
  pk__response r = {.status = 204, .keep_alive = 1, .http10 = 1};
  pk__response_write(&b, &r);
  const char *s2 = str(&b);
  assert_non_null(strstr(s2, "HTTP/1.1 204 No Content\r\n"));
  assert_null(strstr(s2, "Content-Length"));
  assert_non_null(strstr(s2, "Connection: keep-alive\r\n"));
  pk__buf_free(&b);
}

static void test_error_body_escapes(void **s) {
  pk__buf b; pk__buf_init(&b);
  assert_int_equal(pk__error_body(&b, 413, "too \"big\"\n", "id-1", 4), 0);
  assert_string_equal(str(&b), "{\"name\":\"PayloadTooLarge\",\"message\":\"too \\\"big\\\"\\n\",\"errorId\":\"id-1\"}");
  pk__buf_free(&b);
  assert_string_equal(pk__status_error_name(422), "UnprocessableContent");
  assert_string_equal(pk__status_reason(431), "Request Header Fields Too Large");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_json_response),
    cmocka_unit_test(test_close_head_and_extra),
    cmocka_unit_test(test_204_and_http10),
    cmocka_unit_test(test_error_body_escapes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
