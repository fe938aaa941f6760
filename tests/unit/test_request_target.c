/* test_request_target.c: unit tests of the Host syntax and the request-target forms (userinfo, no path, %00). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "request_target.h"

static int host_ok(const char *v) { return pk__host_value_ok(v, strlen(v)); }

static void test_host_values(void **s) {
  const char *good[] = {"", "example.com", "example.com:8080", "127.0.0.1", "127.0.0.1:65535", "h:",
                        "[::1]", "[::1]:80", "[2001:db8::7]", "[::ffff:10.0.0.1]:443", "[fe80::1%25eth0]",
                        "[v1.x:y]", "a-b_c~d.e", "xn--bcher-kva.example", "%41b", "a!$&'()*+,;=b"};
  const char *bad[] = {"a b/c@d", "x:99999999", "x:65536", "x:8o", "a b", "a/b", "u@h", "h:80:81", ":80",
                       "[::1", "[::1]x", "[::1]:http", "[zz::1]", "[1.2.3.4]", "%4", "%zz", "h\tx", "a\"b",
                       "[fe80::1%eth0]", "[v.x]", "x:123456"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
    if (!host_ok(good[i])) fail_msg("refused a valid Host: '%s'", good[i]);
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    if (host_ok(bad[i])) fail_msg("accepted an invalid Host: '%s'", bad[i]);
  }
}

/* pk__target_origin on a writable copy; returns the refusal (NULL: served as out) */
static const char *target(const char *t, char *out) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", t);
  const char *o;
  size_t n;
  const char *why = pk__target_origin(buf, strlen(buf), &o, &n);
  if (!why) { memcpy(out, o, n); out[n] = 0; }
  return why;
}

static void test_targets(void **s) {
  char out[256];
  assert_null(target("/a/b?x=1#frag", out));
  assert_string_equal(out, "/a/b?x=1");
  assert_null(target("http://h/x?y", out));
  assert_string_equal(out, "/x?y");
  assert_null(target("HTTPS://h:8443/x", out));
  assert_string_equal(out, "/x");
  assert_null(target("http://h", out));          /* no path: "/" */
  assert_string_equal(out, "/");
  assert_null(target("http://h?q=1", out));
  assert_string_equal(out, "/?q=1");
  assert_null(target("http://[::1]:80", out));
  assert_string_equal(out, "/");
  assert_null(target("*", out));
  assert_string_equal(out, "*");
  assert_null(target("/a?x=%00", out));          /* NUL in the query is the app's business */
  assert_non_null(strstr(target("http://u:p@h/x", out), "Userinfo"));
  assert_non_null(strstr(target("http://@h/x", out), "Userinfo"));
  assert_non_null(strstr(target("http:///x", out), "authority"));
  assert_non_null(strstr(target("http://a b/x", out), "authority"));
  assert_non_null(strstr(target("http://h:99999/x", out), "authority"));
  assert_non_null(target("ftp://h/x", out));
  assert_non_null(target("http:/x", out));
  assert_non_null(target("x", out));
  assert_non_null(target("#x", out));
  assert_non_null(strstr(target("/a%00b", out), "%00"));
  assert_non_null(strstr(target("/a/%00", out), "%00"));
  assert_null(target("/a/%2500", out));          /* an encoded "%" then "00" is not NUL */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_host_values),
    cmocka_unit_test(test_targets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
