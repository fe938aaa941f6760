/* dev_page.c: under --dev, the 500 answer that shows the last load error (file:line) to the next request. */
#define _GNU_SOURCE   /* memmem */
#include "dev_page.h"
#include <stdio.h>
#include <string.h>
#include "buf.h"
#include "http_response.h"
#include "reload_status.h"
#include "worker.h"

static unsigned seen;

void pk__dev_page_init(void) { seen = pk__reload_status_error_seq(); }

int pk__dev_page_where(const char *err, char *file, size_t filelen, int *line) {
  for (const char *p = err; *p; p++) {
    if (*p != ':' || p == err || p[1] < '0' || p[1] > '9') continue;
    const char *start = p;
    while (start > err && start[-1] != '\n' && start[-1] != ' ' && start[-1] != '\t') start--;
    int n = 0;
    const char *q = p + 1;
    while (*q >= '0' && *q <= '9' && n < 10000000) n = n * 10 + (*q++ - '0');
    if (*q != ':' || (size_t)(p - start) >= filelen || p == start) continue;
    memcpy(file, start, (size_t)(p - start));
    file[p - start] = 0;
    *line = n;
    return 0;
  }
  file[0] = 0;
  *line = 0;
  return -1;
}

static void append_html(pk__buf *b, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '<': pk__buf_append_str(b, "&lt;"); break;
    case '>': pk__buf_append_str(b, "&gt;"); break;
    case '&': pk__buf_append_str(b, "&amp;"); break;
    case '"': pk__buf_append_str(b, "&quot;"); break;
    default: pk__buf_append(b, s, 1);
    }
  }
}

static int wants_html(pk__request *r) {
  size_t n;
  const char *accept = pk__request_header(r, "accept", 6, &n);
  return accept && memmem(accept, n, "text/html", 9) != NULL;
}

int pk__dev_page(pk__conn *c, pk__request *r) {
  if (!pk__W->opts->dev) return 0;
  unsigned seq = pk__reload_status_error_seq();
  if (seq == seen) return 0;
  char err[PK__RELOAD_ERROR_MAX];
  seq = pk__reload_status_error(err, sizeof err);
  seen = seq;
  if (!err[0]) return 0;                 /* the load after it succeeded */
  char file[1024], gen[33];
  int line;
  pk__dev_page_where(err, file, sizeof file, &line);
  size_t idlen;
  const char *id = pk__request_header(r, "x-request-id", 12, &idlen);
  id = pk__error_id(id, id ? idlen : 0, gen, &idlen);
  pk__buf body;
  pk__buf_init(&body);
  const char *ct;
  if (wants_html(r)) {
    ct = "text/html; charset=utf-8";
    pk__buf_append_str(&body, "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>pikku: the app failed to load"
                              "</title>\n<style>body{font:15px/1.5 system-ui,sans-serif;margin:2em auto;max-width:60em;"
                              "padding:0 1em}pre{background:#fee;border-left:4px solid #c00;padding:1em;overflow:auto;"
                              "white-space:pre-wrap}code{background:#eee;padding:0 .2em}</style></head>\n<body>\n"
                              "<h1>The app failed to load</h1>\n");
    if (file[0]) {
      char where[64];
      snprintf(where, sizeof where, ":%d", line);
      pk__buf_append_str(&body, "<p>at <code>");
      append_html(&body, file);
      pk__buf_append_str(&body, where);
      pk__buf_append_str(&body, "</code></p>\n");
    }
    pk__buf_append_str(&body, "<pre>");
    append_html(&body, err);
    pk__buf_append_str(&body, "</pre>\n<p>The previous code keeps serving: this page is shown once per failed load "
                              "(pikku --dev). Fix the file and save; the server reloads.</p>\n<p>errorId ");
    append_html(&body, id);
    pk__buf_append_str(&body, "</p>\n</body></html>\n");
  } else {
    ct = "application/json";
    pk__buf_append_str(&body, "{\"name\":\"InternalServerError\",\"message\":");
    pk__buf msg;
    pk__buf_init(&msg);
    pk__buf_append_str(&msg, "the app failed to load (the previous code keeps serving): ");
    pk__buf_append_str(&msg, err);
    pk__buf_append_json_string(&body, msg.data, msg.len);
    pk__buf_free(&msg);
    pk__buf_append_str(&body, ",\"payload\":{\"file\":");
    pk__buf_append_json_string(&body, file, strlen(file));
    pk__buf_append_str(&body, ",\"line\":");
    pk__buf_append_uint(&body, (unsigned)line);
    pk__buf_append_str(&body, ",\"error\":");
    pk__buf_append_json_string(&body, err, strlen(err));
    pk__buf_append_str(&body, "},\"errorId\":");
    pk__buf_append_json_string(&body, id, idlen);
    pk__buf_append_str(&body, "}");
  }
  double handle = pk__conn_new_handle(c);
  c->req_handle = handle;
  pk__conn_respond(handle, 500, body.data, body.len, ct, strlen(ct), NULL, 0, id, idlen);
  pk__buf_free(&body);
  return 1;
}
