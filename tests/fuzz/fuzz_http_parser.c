/* fuzz_http_parser.c: libFuzzer target: any bytes, split anywhere, into the request parser with its limits, an input budget and streamed uploads, then the target and Host rules. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "http_parser.h"
#include "request_target.h"

static int flip;

/* Answers at once or "later", alternately, so the pause/resume path is fuzzed too. */
static int on_request(pk__http_parser *p, pk__request *r) {
  size_t n;
  (void)pk__request_header(r, "content-type", 12, &n);
  const char *host = pk__request_header(r, "host", 4, &n);
  if (host) (void)pk__host_value_ok(host, n);
  const char *out;
  size_t olen;
  if (!pk__target_origin(r->head.data, r->url_len, &out, &olen) &&
      (out < r->head.data || out + olen > r->head.data + r->url_len))
    __builtin_trap();   /* the origin-form lies inside the target */
  return (flip++ & 1);
}

static void on_continue(pk__http_parser *p) { (void)p; }

/* Every other request with a body may stream a multipart/form-data body (temporary files in /tmp,
 * removed when the request is handed on or refused) under a route limit of its own. */
static void on_head(pk__http_parser *p, pk__request *r) {
  (void)r;
  p->upload = flip & 1;
  if (flip & 2) p->max_body = 1024;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  pk__limits lim;
  pk__limits_default(&lim);
  lim.max_header = 512;
  lim.max_body = 256;
  lim.max_uri = 128;
  pk__http_parser p;
  pk__http_parser_init(&p, &lim, on_request, on_continue, NULL);
  /* a budget a little over the body limit: bodies are taken and refused (503) by turns */
  pk__input_budget budget;
  pk__input_budget_init(&budget, 300);
  p.budget = &budget;
  p.on_head = on_head;
  /* the first byte chooses the chunk size: the parser must not care where reads end */
  size_t chunk = size ? (data[0] % 17) + 1 : 1;
  const char *d = (const char *)data + (size ? 1 : 0);
  size_t left = size ? size - 1 : 0;
  while (left > 0) {
    size_t n = left < chunk ? left : chunk, used = 0;
    int rc = pk__http_parser_feed(&p, d, n, &used);
    if (rc == PK_FEED_ERROR) break;
    if (used > n || budget.used > budget.limit) __builtin_trap();
    if (rc == PK_FEED_PAUSED) pk__http_parser_resume(&p);
    d += used ? used : n;
    left -= used ? used : n;
  }
  pk__http_parser_free(&p);
  if (budget.used) __builtin_trap();     /* every share given back */
  return 0;
}
