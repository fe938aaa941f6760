/* test_body_predecode.c: unit tests of which Content-Type values the host decodes a body for before the runtime (body_predecode.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "ascii_case.h"
#include "body_predecode.h"

static int is_json(const char *v) { return pk__predecode_is_json(v, strlen(v)); }

/* The values pikku.request_data's body_kind calls "json" (its base type, before ';' or white
 * space, lower-cased, is application/json), and some it does not. */
static void test_json_types(void **s) {
  (void)s;
  const char *json[] = {"application/json", "application/json; charset=utf-8", "application/json;charset=UTF-8",
                        "Application/JSON", "APPLICATION/JSON ; x=y", "  application/json", "\tapplication/json\t",
                        "application/json x", "application/json\r"};
  const char *other[] = {"", " ", "application/jsonx", "application/json,text/plain", "application/json, text/plain",
                         "application/x-json", "text/json", "application/vnd.api+json", "application/js", ";application/json",
                         "multipart/form-data; boundary=x", "application/ json"};
  for (size_t i = 0; i < sizeof json / sizeof *json; i++)
    if (!is_json(json[i])) fail_msg("not taken as JSON: '%s'", json[i]);
  for (size_t i = 0; i < sizeof other / sizeof *other; i++)
    if (is_json(other[i])) fail_msg("taken as JSON: '%s'", other[i]);
  /* a NUL inside the value ends nothing: the length says where it ends */
  assert_false(pk__predecode_is_json("application/json\0x", 18));
  assert_true(pk__predecode_is_json("application/json;\0", 18));
}

static void test_ascii_case(void **s) {
  (void)s;
  assert_true(pk__ascii_ieq("Content-Type", "content-type", 12));
  assert_true(pk__ascii_ieq("HOST", "host", 4));
  assert_false(pk__ascii_ieq("hosT", "hose", 4));
  /* only A-Z fold: '@' (0x40) and '`' (0x60), '[' and '{' differ by the same bit and stay apart */
  assert_false(pk__ascii_ieq("@", "`", 1));
  assert_false(pk__ascii_ieq("[", "{", 1));
  assert_false(pk__ascii_ieq("\xc0", "\xe0", 1));
  assert_true(pk__ascii_ieq("", "x", 0));
  /* eight at a time from 8 bytes on: every byte value against every other, at every place in
   * words of 8 to 17 bytes, must give what the byte-by-byte rule gives */
  char x[17], y[17];
  for (size_t n = 8; n <= 17; n += 9) {
    for (size_t at = 0; at < n; at++) {
      for (int c = 0; c < 256; c++) {
        for (int d = 0; d < 256; d++) {
          memset(x, 'q', n);
          memset(y, 'Q', n);
          x[at] = (char)c;
          y[at] = (char)d;
          int want = pk__ascii_lower((unsigned char)c) == pk__ascii_lower((unsigned char)d);
          if (pk__ascii_ieq(x, y, n) != want) fail_msg("bytes %d and %d at %zu of %zu", c, d, at, n);
        }
      }
    }
  }
  assert_true(pk__ascii_ieq("Transfer-Encoding", "transfer-encoding", 17));
  assert_false(pk__ascii_ieq("Transfer-Encodinh", "transfer-encoding", 17));
  assert_false(pk__ascii_ieq("Content-Type", "content-typf", 12));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_json_types),
    cmocka_unit_test(test_ascii_case),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
