/* fuzz_router.c: libFuzzer target: patterns and paths from the input into the router. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* input: "pattern\npattern\n...\0path\0path..." (lines before the first NUL are patterns) */
  char *s = malloc(size + 1);
  memcpy(s, data, size);
  s[size] = 0;
  pk__router *r = pk__router_new();
  char err[256];
  char *save = NULL, *paths = s + strlen(s) + (strlen(s) < size ? 1 : 0);
  int i = 1;
  for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
    pk__router_add(r, i % 2 ? "GET" : "POST", line, i, err, sizeof err), i++;
  pk__route_match m;
  size_t plen = size - (size_t)(paths - s);
  if (paths <= s + size) {
    pk__router_match(r, PK_GET, paths, strnlen(paths, plen), &m);
    pk__router_match(r, PK_HEAD, paths, strnlen(paths, plen), &m);
    for (int k = 0; k < m.nparams; k++) if (m.params[k].p < paths || m.params[k].p + m.params[k].n > paths + plen) __builtin_trap();
  }
  pk__router_free(r);
  free(s);
  return 0;
}
