/* fuzz_path_normalize.c: libFuzzer target: any path into the normaliser; a path it keeps never holds a dot segment, plain or encoded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "path_normalize.h"

static int hex(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
  return -1;
}

/* every piece of the path, fully percent-decoded and split at '/' and '\\', is neither "." nor ".." */
static void check(const char *p, size_t n) {
  char *d = malloc(n + 1);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '%' && i + 2 < n && hex(p[i + 1]) >= 0 && hex(p[i + 2]) >= 0) {
      d[k++] = (char)(hex(p[i + 1]) * 16 + hex(p[i + 2]));
      i += 2;
    } else {
      d[k++] = p[i];
    }
  }
  size_t start = 0;
  for (size_t i = 0; i <= k; i++) {
    if (i == k || d[i] == '/' || d[i] == '\\') {
      size_t len = i - start;
      if ((len == 1 && d[start] == '.') || (len == 2 && d[start] == '.' && d[start + 1] == '.')) __builtin_trap();
      start = i + 1;
    }
  }
  free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = malloc(size + 1);
  url[0] = '/';
  memcpy(url + 1, data, size);
  static pk__buf scratch;
  const char *out;
  size_t olen;
  if (!pk__path_normalize(url, size + 1, &scratch, &out, &olen)) {
    if (!olen || out[0] != '/') __builtin_trap();
    const char *q = memchr(out, '?', olen), *q0 = memchr(url, '?', size + 1);
    if (!q != !q0) __builtin_trap();
    if (q && (olen - (size_t)(q - out) != size + 1 - (size_t)(q0 - url) || memcmp(q, q0, olen - (size_t)(q - out))))
      __builtin_trap();   /* the query is kept as it is */
    size_t plen = q ? (size_t)(q - out) : olen;
    /* only paths that have a '%' may keep a raw dot piece hidden from the router: none here */
    check(out, plen);
  }
  free(url);
  return 0;
}
