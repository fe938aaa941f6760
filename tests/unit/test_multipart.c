/* test_multipart.c: unit tests of the streaming multipart/form-data parser: fields, files, split input, limits, cleanup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "multipart.h"

static char dir[64];

static int files_in_dir(void) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) if (e->d_name[0] != '.') n++;
  closedir(d);
  return n;
}

static int setup(void **s) {
  snprintf(dir, sizeof dir, "/tmp/pikku-mp-test-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}
static int teardown(void **s) { return rmdir(dir); }

static const char body[] =
  "preamble\r\n"
  "--XyZ\r\n"
  "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
  "hello\r\nworld\r\n"
  "--XyZ\r\n"
  "Content-Disposition: form-data; name=\"doc\"; filename=\"a \\\"b\\\".txt\"\r\n"
  "Content-Type: text/plain\r\n\r\n"
  "file bytes --XyZ not a delimiter\r\n"
  "--XyZ\r\n"
  "Content-Disposition: form-data; name=\"empty\"; filename=\"\"\r\n\r\n"
  "\r\n"
  "--XyZ--\r\nepilogue";

/* the body fed in pieces of `step` bytes */
static void parse_in_steps(size_t step) {
  pk__multipart *m = pk__multipart_new("XyZ", 3, dir);
  assert_non_null(m);
  const char *why = NULL;
  size_t n = sizeof body - 1;
  for (size_t i = 0; i < n; i += step) {
    size_t k = n - i < step ? n - i : step;
    int rc = pk__multipart_feed(m, body + i, k, &why);
    if (rc) fail_msg("step %zu at %zu: %d %s", step, i, rc, why);
  }
  assert_int_equal(pk__multipart_finish(m, &why), 0);
  assert_int_equal(pk__multipart_files(m), 1);
  pk__buf j;
  pk__buf_init(&j);
  assert_int_equal(pk__multipart_json(m, &j), 0);
  pk__buf_append(&j, "", 1);
  assert_non_null(strstr(j.data, "[\"title\",\"hello\\r\\nworld\"]"));
  assert_non_null(strstr(j.data, "\"filename\":\"a \\\"b\\\".txt\""));
  assert_non_null(strstr(j.data, "\"content_type\":\"text/plain\""));
  assert_non_null(strstr(j.data, "\"size\":32"));
  assert_null(strstr(j.data, "empty"));
  const char *p = strstr(j.data, "\"path\":\"");
  assert_non_null(p);
  char path[256];
  sscanf(p + 8, "%255[^\"]", path);
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char got[64] = {0};
  assert_int_equal(fread(got, 1, sizeof got, f), 32);
  fclose(f);
  assert_string_equal(got, "file bytes --XyZ not a delimiter");
  pk__buf_free(&j);
  assert_int_equal(files_in_dir(), 1);
  pk__multipart_free(m);
  assert_int_equal(files_in_dir(), 0);
}

static void test_parse(void **s) {
  size_t steps[] = {1, 2, 3, 5, 7, 13, 64, 4096};
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) parse_in_steps(steps[i]);
}

static int feed_all(pk__multipart *m, const char *b, const char **why) {
  int rc = pk__multipart_feed(m, b, strlen(b), why);
  return rc ? rc : pk__multipart_finish(m, why);
}

static void test_malformed(void **s) {
  const char *bad[] = {
    "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--XyZ",            /* no close delimiter */
    "--XyZ\r\nContent-Disposition: form-data\r\n\r\nv\r\n--XyZ--",                       /* no name */
    "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nv\r\n--XyZ--",          /* not form-data */
    "--XyZ\r\nno colon\r\n\r\nv\r\n--XyZ--",
    "--XyZ junk\r\n",
    "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nv\r\n--XyZ--",             /* unterminated quote */
    "nothing at all",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    pk__multipart *m = pk__multipart_new("XyZ", 3, dir);
    const char *why = NULL;
    int rc = feed_all(m, bad[i], &why);
    if (rc != 400) fail_msg("case %zu: %d", i, rc);
    assert_non_null(why);
    pk__multipart_free(m);
  }
}

static void test_limits_and_cleanup(void **s) {
  /* a file part is written, then the body goes bad: no file is left */
  pk__multipart *m = pk__multipart_new("XyZ", 3, dir);
  const char *why;
  const char *b = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n0123456789";
  assert_int_equal(pk__multipart_feed(m, b, strlen(b), &why), 0);
  assert_int_equal(files_in_dir(), 1);
  assert_int_equal(pk__multipart_finish(m, &why), 400);
  assert_int_equal(files_in_dir(), 0);
  pk__multipart_free(m);
  /* cut off half-way: freeing removes the file */
  m = pk__multipart_new("XyZ", 3, dir);
  assert_int_equal(pk__multipart_feed(m, b, strlen(b), &why), 0);
  assert_int_equal(files_in_dir(), 1);
  pk__multipart_free(m);
  assert_int_equal(files_in_dir(), 0);
  /* too many parts */
  pk__buf many;
  pk__buf_init(&many);
  for (int i = 0; i <= PK__MULTIPART_MAX_PARTS; i++)
    pk__buf_append_str(&many, "--XyZ\r\nContent-Disposition: form-data; name=\"p\"\r\n\r\nv\r\n");
  pk__buf_append_str(&many, "--XyZ--\r\n");
  m = pk__multipart_new("XyZ", 3, dir);
  assert_int_equal(pk__multipart_feed(m, many.data, many.len, &why), 413);
  assert_non_null(strstr(why, "Too many parts"));
  pk__multipart_free(m);
  pk__buf_free(&many);
  /* text fields over the bound; memory stays near what the parser looks through */
  m = pk__multipart_new("XyZ", 3, dir);
  const char *h = "--XyZ\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\n";
  assert_int_equal(pk__multipart_feed(m, h, strlen(h), &why), 0);
  char *chunk = malloc(65536);
  memset(chunk, 'a', 65536);
  int rc = 0;
  for (int i = 0; i < 40 && !rc; i++) rc = pk__multipart_feed(m, chunk, 65536, &why);
  assert_int_equal(rc, 413);
  pk__multipart_free(m);
  /* a big file: the parser holds no more than a piece of it */
  m = pk__multipart_new("XyZ", 3, dir);
  const char *fh = "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big\"\r\n\r\n";
  assert_int_equal(pk__multipart_feed(m, fh, strlen(fh), &why), 0);
  for (int i = 0; i < 64; i++) {
    assert_int_equal(pk__multipart_feed(m, chunk, 65536, &why), 0);
    assert_true(pk__multipart_memory(m) < 65536 + 80);
  }
  pk__multipart_free(m);
  free(chunk);
  assert_int_equal(files_in_dir(), 0);
}

static void test_boundary(void **s) {
  const char *b;
  size_t n;
  const char *ct = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
  assert_int_equal(pk__multipart_boundary(ct, strlen(ct), &b, &n), 1);
  assert_int_equal(n, 37);
  ct = "Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"";
  assert_int_equal(pk__multipart_boundary(ct, strlen(ct), &b, &n), 1);
  assert_int_equal(n, 5);
  ct = "application/json";
  assert_int_equal(pk__multipart_boundary(ct, strlen(ct), &b, &n), 0);
  ct = "multipart/form-data";
  assert_int_equal(pk__multipart_boundary(ct, strlen(ct), &b, &n), -1);
  ct = "multipart/form-data; boundary=\"\"";
  assert_int_equal(pk__multipart_boundary(ct, strlen(ct), &b, &n), -1);
  ct = "multipart/form-datax; boundary=a";
  assert_int_equal(pk__multipart_boundary(ct, strlen(ct), &b, &n), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_parse),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_limits_and_cleanup),
    cmocka_unit_test(test_boundary),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
