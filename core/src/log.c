/* log.c: formats log lines into one buffer; the event loop flushes it once per turn. */
#include "log.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"

static pk__buf out;
static int fmt_json, access_on = 1, worker_no;
static char stamp[32];
static time_t stamp_at = -1;

void pk__log_setup(int format, int access, int worker) {
  fmt_json = format == PK_LOG_JSON;
  access_on = access;
  worker_no = worker;
}

int pk__log_access_enabled(void) { return access_on; }
int pk__log_json(void) { return fmt_json; }

static const char *now_stamp(void) {
  time_t t = time(NULL);
  if (t != stamp_at) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    stamp_at = t;
  }
  return stamp;
}

static void begin_json(const char *level) {
  pk__buf_append_str(&out, "{\"time\":\"");
  pk__buf_append_str(&out, now_stamp());
  pk__buf_append_str(&out, "\",\"level\":\"");
  pk__buf_append_str(&out, level);
  pk__buf_append_str(&out, "\",\"worker\":");
  pk__buf_append_uint(&out, (unsigned)worker_no);
}

static void begin_text(void) {
  pk__buf_append_str(&out, now_stamp());
  if (worker_no) { pk__buf_append_str(&out, " w"); pk__buf_append_uint(&out, (unsigned)worker_no); }
  else pk__buf_append_str(&out, " master");
  pk__buf_append(&out, " ", 1);
}

/* Text lines stay one line per event and hold no terminal control: a traceback's line breaks
 * become " | ", a tab a space, CR nothing, and other control bytes (ESC, NUL, DEL...) \xNN. */
static void append_one_line(const char *msg, size_t len) {
  size_t start = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)msg[i];
    if (ch >= 0x20 && ch != 0x7f) continue;
    pk__buf_append(&out, msg + start, i - start);
    if (ch == '\n') pk__buf_append(&out, " | ", 3);
    else if (ch == '\t') pk__buf_append(&out, " ", 1);
    else if (ch != '\r') {
      char hex[5];
      snprintf(hex, sizeof hex, "\\x%02x", ch);
      pk__buf_append(&out, hex, 4);
    }
    start = i + 1;
  }
  pk__buf_append(&out, msg + start, len - start);
}

void pk__log_access(const char *method, const char *path, size_t path_len, int status, double ms,
                    const char *error_id, size_t id_len) {
  char dur[32];
  snprintf(dur, sizeof dur, "%.3f", ms);
  if (fmt_json) {
    begin_json("info");
    pk__buf_append_str(&out, ",\"method\":\"");
    pk__buf_append_str(&out, method);
    pk__buf_append_str(&out, "\",\"path\":");
    pk__buf_append_json_string(&out, path, path_len);
    pk__buf_append_str(&out, ",\"status\":");
    pk__buf_append_uint(&out, (unsigned)status);
    pk__buf_append_str(&out, ",\"duration_ms\":");
    pk__buf_append_str(&out, dur);
    if (error_id) {
      pk__buf_append_str(&out, ",\"errorId\":");
      pk__buf_append_json_string(&out, error_id, id_len);
    }
    pk__buf_append_str(&out, "}\n");
  } else {
    begin_text();
    pk__buf_append_str(&out, method);
    pk__buf_append(&out, " ", 1);
    append_one_line(path, path_len);
    pk__buf_append(&out, " ", 1);
    pk__buf_append_uint(&out, (unsigned)status);
    pk__buf_append(&out, " ", 1);
    pk__buf_append_str(&out, dur);
    pk__buf_append_str(&out, "ms");
    if (error_id) {
      pk__buf_append_str(&out, " errorId=");
      append_one_line(error_id, id_len);
    }
    pk__buf_append(&out, "\n", 1);
  }
  if (out.len > 65536) pk__log_flush();
}

void pk__log_msg(const char *level, const char *msg, size_t len, const char *error_id, size_t id_len) {
  if (fmt_json) {
    begin_json(level);
    if (error_id) {
      pk__buf_append_str(&out, ",\"errorId\":");
      pk__buf_append_json_string(&out, error_id, id_len);
    }
    pk__buf_append_str(&out, ",\"message\":");
    pk__buf_append_json_string(&out, msg, len);
    pk__buf_append_str(&out, "}\n");
  } else {
    begin_text();
    pk__buf_append_str(&out, level);
    if (error_id) {
      pk__buf_append_str(&out, " errorId=");
      append_one_line(error_id, id_len);
    }
    pk__buf_append_str(&out, ": ");
    append_one_line(msg, len);
    pk__buf_append(&out, "\n", 1);
  }
  if (out.len > 65536) pk__log_flush();
}

void pk__logf(const char *level, const char *fmt, ...) {
  char msg[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof msg) n = sizeof msg - 1;
  pk__log_msg(level, msg, (size_t)n, NULL, 0);
  pk__log_flush();
}

void pk__log_flush(void) {
  size_t off = 0;
  while (off < out.len) {
    ssize_t w = write(STDERR_FILENO, out.data + off, out.len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  pk__buf_reset(&out);
}

