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
  stamp_at = -1;   /* the text prefix names the worker: made again */
}

int pk__log_access_enabled(void) { return access_on; }
int pk__log_json(void) { return fmt_json; }

static char text_prefix[64];   /* "<stamp> w<N> " (or " master "), remade with the stamp */
static size_t text_prefix_len;

static const char *now_stamp(void) {
  time_t t = time(NULL);
  if (t != stamp_at) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    stamp_at = t;
    int n = worker_no ? snprintf(text_prefix, sizeof text_prefix, "%s w%u ", stamp, (unsigned)worker_no)
                      : snprintf(text_prefix, sizeof text_prefix, "%s master ", stamp);
    text_prefix_len = n > 0 && (size_t)n < sizeof text_prefix ? (size_t)n : 0;
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
  now_stamp();
  if (text_prefix_len) { pk__buf_append(&out, text_prefix, text_prefix_len); return; }
  pk__buf_append_str(&out, stamp);
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

/* ms with three decimals ("12.345"), as %.3f writes it, without printf (one per request). */
static size_t format_ms(char *out, size_t cap, double ms) {
  if (!(ms >= 0 && ms < 1e12)) {
    int n = snprintf(out, cap, "%.3f", ms);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
  }
  unsigned long long us = (unsigned long long)(ms * 1000.0 + 0.5), whole = us / 1000;
  unsigned frac = (unsigned)(us % 1000);
  char tmp[24];
  int i = sizeof tmp;
  tmp[--i] = (char)('0' + frac % 10);
  tmp[--i] = (char)('0' + frac / 10 % 10);
  tmp[--i] = (char)('0' + frac / 100);
  tmp[--i] = '.';
  do { tmp[--i] = (char)('0' + whole % 10); whole /= 10; } while (whole);
  size_t n = sizeof tmp - (size_t)i;
  memcpy(out, tmp + i, n);
  out[n] = '\0';
  return n;
}

void pk__log_access(const char *method, const char *path, size_t path_len, int status, double ms,
                    const char *error_id, size_t id_len) {
  char dur[32];
  size_t dur_len = format_ms(dur, sizeof dur, ms);
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
    char tail[64];   /* " <status> <dur>ms" */
    size_t n = 0;
    tail[n++] = ' ';
    if (status >= 100 && status <= 999) {
      tail[n++] = (char)('0' + status / 100);
      tail[n++] = (char)('0' + status / 10 % 10);
      tail[n++] = (char)('0' + status % 10);
    } else {
      n += (size_t)snprintf(tail + n, 12, "%d", status);
    }
    tail[n++] = ' ';
    memcpy(tail + n, dur, dur_len);
    n += dur_len;
    tail[n++] = 'm';
    tail[n++] = 's';
    pk__buf_append(&out, tail, n);
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

