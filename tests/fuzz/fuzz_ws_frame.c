/* fuzz_ws_frame.c: libFuzzer target: client bytes into the WebSocket frame parser (with and without deflate, under an input budget). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ws_deflate.h"
#include "ws_frame.h"

static pk__buf inflated;

static int on_message(pk__ws_parser *p, int opcode, const char *data, size_t len) {
  if (opcode & PK__WS_COMPRESSED) pk__ws_inflate(data, len, 1 << 16, &inflated);
  return 0;
}
static int on_ctl(pk__ws_parser *p, const char *data, size_t len) { return 0; }
static int on_close(pk__ws_parser *p, int code, const char *reason, size_t len) { return 0; }
static const pk__ws_callbacks cb = {on_message, on_ctl, on_ctl, on_close};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  pk__ws_parser p;
  pk__ws_parser_init(&p, &cb, 4096, NULL);
  pk__input_budget budget;               /* under the message limit: messages are taken and refused (1013) */
  pk__input_budget_init(&budget, 3000);
  p.budget = &budget;
  p.deflate = data[0] & 1;
  size_t chunk = (data[0] >> 1) % 23 + 1;
  /* the parser unmasks in place: give it a writable copy */
  char *buf = malloc(size);
  memcpy(buf, data + 1, size - 1);
  char *d = buf;
  size_t left = size - 1;
  while (left > 0) {
    size_t n = left < chunk ? left : chunk, used = 0;
    int rc = pk__ws_parser_feed(&p, d, n, &used);
    if (rc < 0) break;
    if (used > n || budget.used > budget.limit) __builtin_trap();
    if (!p.msg_open && budget.used) __builtin_trap();   /* no share without an open message */
    d += used ? used : n;
    left -= used ? used : n;
  }
  pk__ws_parser_free(&p);
  if (budget.used) __builtin_trap();
  free(buf);
  return 0;
}
