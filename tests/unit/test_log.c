/* test_log.c: unit tests of log.c: the bytes of each kind of access line, and the size of each write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "log.h"

/* The lines written by the calls in between, stderr sent to a temporary file meanwhile. */
static FILE *capture;
static int saved_fd = -1;

static void begin(void) {
  capture = tmpfile();
  assert_non_null(capture);
  fflush(stderr);
  saved_fd = dup(STDERR_FILENO);
  dup2(fileno(capture), STDERR_FILENO);
}

static char *end(void) {
  pk__log_flush();
  dup2(saved_fd, STDERR_FILENO);
  close(saved_fd);
  long n = ftell(capture);
  char *s = malloc((size_t)n + 1);
  rewind(capture);
  size_t got = fread(s, 1, (size_t)n, capture);
  s[got] = 0;
  fclose(capture);
  return s;
}

/* every line begins with "<stamp> w3 ": dropped here, the rest compared */
static void expect_lines(const char *got, const char *const *want, int n) {
  const char *p = got;
  for (int i = 0; i < n; i++) {
    const char *nl = strchr(p, '\n');
    if (!nl) fail_msg("line %d missing; got: %s", i, got);
    const char *body = strstr(p, " w3 ");
    if (!body || body > nl) fail_msg("line %d has no worker prefix: %.*s", i, (int)(nl - p), p);
    body += 4;
    if (strlen(want[i]) != (size_t)(nl - body) || memcmp(body, want[i], (size_t)(nl - body)))
      fail_msg("line %d: '%.*s', expected '%s'", i, (int)(nl - body), body, want[i]);
    p = nl + 1;
  }
  if (*p) fail_msg("more than %d lines: %s", n, got);
}

static void test_access_lines(void **s) {
  (void)s;
  pk__log_setup(PK_LOG_TEXT, 1, 3);
  begin();
  pk__log_access("GET", "/hello", 6, 200, 0.0456, NULL, 0);
  pk__log_access("POST", "/a/longer/path/than/eight", 25, 201, 12.3456, NULL, 0);
  pk__log_access("GET", "/x", 2, 404, 1234.5, "abc123", 6);
  pk__log_access("GET", "/", 1, 200, 0, NULL, 0);
  pk__log_access("-", "-", 1, 400, 0.001, NULL, 0);
  pk__log_access("GET", "", 0, 200, 0.5, NULL, 0);
  /* control bytes: made visible, as in every text line */
  pk__log_access("GET", "/a\tb\nc\rd\x1b" "e\x7f", 11, 200, 1, NULL, 0);
  pk__log_access("GET", "/0123456\x01", 9, 200, 1, NULL, 0);
  pk__log_access("GET", "/ok", 3, 500, 2, "id\nx", 4);
  /* a status of other than 3 digits, a duration out of range */
  pk__log_access("GET", "/s", 2, 42, 1, NULL, 0);
  pk__log_access("GET", "/s", 2, 1000, 1, NULL, 0);
  pk__log_access("GET", "/d", 2, 200, -1, NULL, 0);
  pk__log_access("GET", "/\xc3\xa9t\xc3\xa9", 6, 200, 9.9999, NULL, 0);
  pk__log_access("PROPPATCH", "/p", 2, 207, 10, NULL, 0);
  char *got = end();
  static const char *const want[] = {
    "GET /hello 200 0.046ms",
    "POST /a/longer/path/than/eight 201 12.346ms",
    "GET /x 404 1234.500ms errorId=abc123",
    "GET / 200 0.000ms",
    "- - 400 0.001ms",
    "GET  200 0.500ms",
    "GET /a b | c" "d\\x1be\\x7f 200 1.000ms",
    "GET /0123456\\x01 200 1.000ms",
    "GET /ok 500 2.000ms errorId=id | x",
    "GET /s 42 1.000ms",
    "GET /s 1000 1.000ms",
    "GET /d 200 -1.000ms",
    "GET /\xc3\xa9t\xc3\xa9 200 10.000ms",
    "PROPPATCH /p 207 10.000ms",
  };
  expect_lines(got, want, (int)(sizeof want / sizeof *want));
  free(got);
}

/* To a pipe, each write is whole lines of at most PIPE_BUF bytes, or one longer line whole. */
static void test_write_sizes(void **s) {
  (void)s;
  enum { LINE = 100, LINES = 120 };
  static char buf[LINE * LINES + 9000];
  for (int i = 0; i < LINES; i++) {
    memset(buf + i * LINE, 'a', LINE - 1);
    buf[i * LINE + LINE - 1] = '\n';
  }
  /* more than PIPE_BUF: the whole lines that fit */
  assert_int_equal(pk__log_next_write(buf, 50 * LINE, PIPE_BUF), PIPE_BUF / LINE * LINE);
  assert_int_equal(pk__log_next_write(buf, 30 * LINE, PIPE_BUF), 30 * LINE);   /* under PIPE_BUF: all */
  size_t off = 0, total = LINE * LINES;
  while (off < total) {
    size_t n = pk__log_next_write(buf + off, total - off, PIPE_BUF);
    assert_true(n > 0 && n <= PIPE_BUF);
    assert_int_equal(buf[off + n - 1], '\n');
    off += n;
  }
  /* a line of 9,000 bytes after one short line: the short one first, then the long one whole */
  memset(buf, 'b', 9);
  buf[9] = '\n';
  memset(buf + 10, 'c', 8999);
  buf[9009] = '\n';
  assert_int_equal(pk__log_next_write(buf, 9010, PIPE_BUF), 10);
  assert_int_equal(pk__log_next_write(buf + 10, 9000, PIPE_BUF), 9000);
  assert_int_equal(pk__log_next_write(buf + 10, 8000, PIPE_BUF), 8000);   /* no newline at all: the rest */
  assert_int_equal(pk__log_next_write(buf, 9010, SIZE_MAX), 9010);           /* a file: no limit */
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_access_lines),
    cmocka_unit_test(test_write_sizes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
