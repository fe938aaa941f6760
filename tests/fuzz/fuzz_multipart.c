/* fuzz_multipart.c: libFuzzer target: any body, fed in pieces, into the multipart parser; it never crashes and leaves no temporary file. */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "multipart.h"

static char dir[64];

static int empty_dir(void) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) if (e->d_name[0] != '.') n++;
  if (d) closedir(d);
  return n == 0;
}

static void cleanup(void) { rmdir(dir); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) {
    snprintf(dir, sizeof dir, "/tmp/pikku-fuzz-mp-XXXXXX");
    if (!mkdtemp(dir)) abort();
    atexit(cleanup);
  }
  if (size < 1) return 0;
  size_t step = (size_t)(data[0] % 17) + 1;   /* the first byte: how the body is split */
  data++;
  size--;
  pk__multipart *m = pk__multipart_new("XyZ", 3, dir);
  const char *why;
  int rc = 0;
  for (size_t i = 0; i < size && !rc; i += step) {
    size_t k = size - i < step ? size - i : step;
    rc = pk__multipart_feed(m, (const char *)data + i, k, &why);
    if (pk__multipart_memory(m) > 3 * 65536 + PK__MULTIPART_MAX_FIELDS) __builtin_trap();
  }
  if (!rc) rc = pk__multipart_finish(m, &why);
  if (rc && !empty_dir()) __builtin_trap();   /* a refused body leaves no file behind */
  if (!rc) {
    pk__buf j;
    pk__buf_init(&j);
    if (pk__multipart_json(m, &j)) __builtin_trap();
    pk__buf_free(&j);
  }
  pk__multipart_free(m);
  if (!empty_dir()) __builtin_trap();
  return 0;
}
