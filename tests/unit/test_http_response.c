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

/* 205 Reset Content: no content, but Content-Length: 0 so that clients know it has ended */
static void test_205_has_length_zero(void **s) {
  pk__buf b; pk__buf_init(&b);
  pk__response r = {.status = 205, .keep_alive = 1, .body = "{\"x\":1}", .body_len = 7,
                    .content_type = "application/json", .content_type_len = 16};
  pk__response_write(&b, &r);
  const char *s2 = str(&b);
  assert_non_null(strstr(s2, "HTTP/1.1 205 Reset Content\r\n"));
  assert_non_null(strstr(s2, "\r\nContent-Length: 0\r\n"));
  assert_null(strstr(s2, "Content-Type"));
  assert_int_equal(strcmp(s2 + strlen(s2) - 4, "\r\n\r\n"), 0);   /* nothing after the head */
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

static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* 426 Upgrade Required: its phrase and error name, Upgrade from the caller, and one Connection
 * header holding "Upgrade" (RFC 9110 sections 15.5.22 and 7.8), whatever extra says. */
static void test_426_upgrade_required(void **s) {
  assert_string_equal(pk__status_reason(426), "Upgrade Required");
  assert_string_equal(pk__status_error_name(426), "UpgradeRequired");
  pk__buf b; pk__buf_init(&b);
  static const char extra[] = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
  pk__response r = {.status = 426, .content_type = "application/json", .content_type_len = 16, .body = "{}",
                    .body_len = 2, .keep_alive = 0, .extra = extra, .extra_len = sizeof extra - 1};
  assert_int_equal(pk__response_write(&b, &r), 0);
  const char *s2 = str(&b);
  assert_non_null(strstr(s2, "HTTP/1.1 426 Upgrade Required\r\n"));
  assert_int_equal(count(s2, "\r\nConnection:"), 1);
  assert_non_null(strstr(s2, "\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n{}"));
  pk__buf_free(&b);
  pk__buf_init(&b);
  r.keep_alive = 1;                        /* the in-process answer, on a connection that stays open */
  r.extra = "upgrade: websocket\r\nCONNECTION: keep-alive\r\nX-A: 1"; r.extra_len = strlen(r.extra);
  pk__response_write(&b, &r);
  s2 = str(&b);
  assert_int_equal(count(s2, "onnection:"), 1);
  assert_non_null(strstr(s2, "\r\nConnection: Upgrade\r\nupgrade: websocket\r\nX-A: 1\r\n{}"));
  pk__buf_free(&b);
  pk__buf_init(&b);
  r.http10 = 1; r.extra = NULL; r.extra_len = 0;
  pk__response_write(&b, &r);
  assert_non_null(strstr(str(&b), "\r\nConnection: Upgrade, keep-alive\r\n\r\n"));
  pk__buf_free(&b);
}

/* Every registered status a server is likely to send has its phrase; error names are the phrase
 * in one word. */
static void test_status_table(void **s) {
  static const struct { int code; const char *reason, *name; } want[] = {
    {402, "Payment Required", "PaymentRequired"}, {406, "Not Acceptable", "NotAcceptable"},
    {411, "Length Required", "LengthRequired"}, {421, "Misdirected Request", "MisdirectedRequest"},
    {424, "Failed Dependency", "FailedDependency"}, {425, "Too Early", "TooEarly"},
    {426, "Upgrade Required", "UpgradeRequired"}, {428, "Precondition Required", "PreconditionRequired"},
    {429, "Too Many Requests", "TooManyRequests"},
    {431, "Request Header Fields Too Large", "RequestHeaderFieldsTooLarge"},
    {451, "Unavailable For Legal Reasons", "UnavailableForLegalReasons"},
    {507, "Insufficient Storage", "InsufficientStorage"},
    {511, "Network Authentication Required", "NetworkAuthenticationRequired"},
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
    assert_string_equal(pk__status_reason(want[i].code), want[i].reason);
    assert_string_equal(pk__status_error_name(want[i].code), want[i].name);
  }
  assert_string_equal(pk__status_reason(418), "I'm a teapot");
  /* a code without a phrase gets none (it is optional), not a made-up one */
  assert_string_equal(pk__status_reason(299), "");
  pk__buf b;
  pk__buf_init(&b);
  pk__response r = {.status = 299, .keep_alive = 1};
  assert_int_equal(pk__response_write(&b, &r), 0);
  assert_memory_equal(b.data, "HTTP/1.1 299 \r\n", 15);
  pk__buf_free(&b);
  assert_string_equal(pk__status_reason(205), "Reset Content");
  assert_string_equal(pk__status_error_name(499), "BadRequest");      /* unknown: by class */
  assert_string_equal(pk__status_error_name(599), "InternalServerError");
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_json_response),
    cmocka_unit_test(test_close_head_and_extra),
    cmocka_unit_test(test_204_and_http10),
    cmocka_unit_test(test_205_has_length_zero),
    cmocka_unit_test(test_error_body_escapes),
    cmocka_unit_test(test_426_upgrade_required),
    cmocka_unit_test(test_status_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
