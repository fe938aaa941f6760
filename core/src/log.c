/* log.c: formats log lines into one buffer; the event loop flushes it once per turn. */
#include "log.h"
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include "buf.h"

static pk__buf out;
static int fmt_json, access_on = 1, worker_no;
/* PIPE_BUF when stderr is a pipe (a write that size is not cut into by another process's), else
 * no limit (a file takes each write whole); 0 until the first write looks. */
static size_t write_cap;
static char stamp[32];
static time_t stamp_at = -1;

void pk__log_setup(int format, int access, int worker) {
  fmt_json = format == PK_LOG_JSON;
  access_on = access;
  worker_no = worker;
  stamp_at = -1;   /* the text prefix names the worker: made again */
  write_cap = 0;   /* stderr is looked at again */
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
  /* (under 1e15: a signed conversion, one instruction) */
  unsigned long long us = (unsigned long long)(long long)(ms * 1000.0 + 0.5), whole = us / 1000;
  unsigned frac = (unsigned)(us % 1000);
  char *p = out;
  if (whole < 10) *p++ = (char)('0' + whole);   /* nearly always: under 10 ms */
  else {
    char tmp[24];
    int i = sizeof tmp;
    do { tmp[--i] = (char)('0' + whole % 10); whole /= 10; } while (whole);
    memcpy(p, tmp + i, sizeof tmp - (size_t)i);
    p += sizeof tmp - (size_t)i;
  }
  p[0] = '.';
  p[1] = (char)('0' + frac / 100);
  p[2] = (char)('0' + frac / 10 % 10);
  p[3] = (char)('0' + frac % 10);
  p[4] = '\0';
  return (size_t)(p + 4 - out);
}

/* No byte of the 8 is a control byte (< 0x20 or DEL): the exact "has a byte less than n" test
 * (n <= 128), and "has a zero byte" after xor with DEL. */
static inline int clean_word(uint64_t x) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t y = x ^ (ones * 0x7f);
  return !((((x - ones * 0x20) & ~x) | ((y - ones) & ~y)) & high);
}

/* Copies n bytes to dst when none is a control byte (then append_one_line would change none) and
 * returns 1; else returns 0 (what was copied is not committed). Words of 8, then byte by byte. */
__attribute__((always_inline)) static inline int copy_clean(char *dst, const char *s, size_t n) {
  uint64_t x;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    memcpy(&x, s + i, 8);
    if (!clean_word(x)) return 0;
    memcpy(dst + i, &x, 8);
  }
  if (i == n) return 1;
  if (n >= 8) {   /* the last 8, overlapping */
    memcpy(&x, s + n - 8, 8);
    if (!clean_word(x)) return 0;
    memcpy(dst + n - 8, &x, 8);
    return 1;
  }
  /* under 8 bytes: two pieces of 4, 2 or 1, overlapping (every byte read is one of the n) */
  uint32_t a, b;
  if (n >= 4) {
    memcpy(&a, s, 4);
    memcpy(&b, s + n - 4, 4);
    if (!clean_word(a | (uint64_t)b << 32)) return 0;
    memcpy(dst, &a, 4);
    memcpy(dst + n - 4, &b, 4);
  } else {
    uint16_t a2 = 0x4141, b2 = 0x4141;   /* 'A's: a clean filler */
    if (n >= 2) { memcpy(&a2, s, 2); memcpy(&b2, s + n - 2, 2); }
    else a2 = (uint16_t)(0x4100 | (unsigned char)s[0]);
    if (!clean_word(0x4141414100000000ull | (uint64_t)a2 | (uint64_t)b2 << 16)) return 0;
    if (n >= 2) { memcpy(dst, &a2, 2); memcpy(dst + n - 2, &b2, 2); }
    else dst[0] = s[0];
  }
  return 1;
}

static void access_json(const char *method, const char *path, size_t path_len, int status, const char *dur,
                        const char *error_id, size_t id_len) {
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
}

/* The text line, piece by piece: any path, status or errorId. */
static void access_text_slow(const char *method, const char *path, size_t path_len, int status,
                             const char *dur, size_t dur_len, const char *error_id, size_t id_len) {
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

void pk__log_access(const char *method, const char *path, size_t path_len, int status, double ms,
                    const char *error_id, size_t id_len) {
  if (fmt_json) {
    char dur[32];
    format_ms(dur, sizeof dur, ms);
    access_json(method, path, path_len, status, dur, error_id, id_len);
  } else {
    /* The common line (a 3-digit status, a path and errorId with no control byte) is written in
     * place with one reservation; the same bytes as access_text_slow's. */
    now_stamp();
    /* the method's name: one of llhttp's strings (or "-"), the same as the last line's nearly always */
    static const char *last_method;
    static size_t last_mlen;
    size_t mlen = last_mlen;
    if (method != last_method) {
      mlen = 0;
      while (method[mlen] && mlen < 32) mlen++;
      if (!method[mlen]) { last_method = method; last_mlen = mlen; }
    }
    /* prefix (copied as 64 bytes), method, ' ', path, " NNN ", duration (as format_ms into 32),
     * "ms", " errorId=", id, '\n' */
    size_t need = sizeof text_prefix + mlen + 1 + path_len + 5 + 32 + 2 + (error_id ? 9 + id_len : 0) + 1;
    char *p = text_prefix_len && status >= 100 && status <= 999 && !method[mlen] ? pk__buf_space(&out, need, NULL) : NULL;
    char *start = p;
    if (p) {
      memcpy(p, text_prefix, sizeof text_prefix);   /* a fixed size: inlined */
      p += text_prefix_len;
      if (!copy_clean(p, method, mlen)) p = NULL;   /* (the slow path would write it as it is) */
      else p += mlen;
    }
    if (p) {
      *p++ = ' ';
      if (!copy_clean(p, path, path_len)) p = NULL;
      else p += path_len;
    }
    if (p) {
      static int last_status;   /* " NNN " of the last status (most lines have the same) */
      static char status_text[8];
      if (status != last_status) {
        status_text[0] = ' ';
        status_text[1] = (char)('0' + status / 100);
        status_text[2] = (char)('0' + status / 10 % 10);
        status_text[3] = (char)('0' + status % 10);
        status_text[4] = ' ';
        last_status = status;
      }
      memcpy(p, status_text, 8);   /* 5 used; the rest is overwritten next */
      p += 5;
      p += format_ms(p, 32, ms);
      *p++ = 'm';
      *p++ = 's';
      if (error_id) {
        memcpy(p, " errorId=", 9);
        p += 9;
        if (!copy_clean(p, error_id, id_len)) p = NULL;
        else p += id_len;
      }
    }
    if (p) {
      *p++ = '\n';
      pk__buf_commit(&out, (size_t)(p - start));
    } else {
      char dur[32];
      size_t dur_len = format_ms(dur, sizeof dur, ms);
      access_text_slow(method, path, path_len, status, dur, dur_len, error_id, id_len);
    }
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

size_t pk__log_next_write(const char *p, size_t len, size_t cap) {
  if (len <= cap) return len;
  for (size_t n = cap; n > 0; n--)
    if (p[n - 1] == '\n') return n;
  const char *nl = memchr(p + cap, '\n', len - cap);
  return nl ? (size_t)(nl - p) + 1 : len;
}

void pk__log_flush(void) {
  if (!write_cap) {
    struct stat st;
    write_cap = fstat(STDERR_FILENO, &st) == 0 && S_ISFIFO(st.st_mode) ? PIPE_BUF : SIZE_MAX;
  }
  size_t off = 0;
  while (off < out.len) {
    ssize_t w = write(STDERR_FILENO, out.data + off, pk__log_next_write(out.data + off, out.len - off, write_cap));
    if (w <= 0) break;
    off += (size_t)w;
  }
  pk__buf_reset(&out);
}

