/* rescue.c: a worker that is going down answers the clients it holds, from a signal handler.
 *
 * Everything here is async-signal-safe: the main thread is stopped inside the signal handler
 * (stuck in a call, or crashed), the structures are read as they are, responses are formatted into
 * static buffers and written with write(2), and nothing is allocated or freed. A connection whose
 * earlier answer is half written (a uv_write in flight) gets no answer of its own: it is only
 * closed, as answering would corrupt its stream. */
#define _GNU_SOURCE
#include "rescue.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "call_guard.h"
#include "clock.h"
#include "date_cache.h"
#include "http_conn.h"
#include "http_response.h"
#include "log.h"
#include "worker.h"
#include "ws_conn.h"

#define MAX_LINGER 8192   /* connections drained before exit (the rest are just closed) */
#define LINGER_MS 100     /* how long what clients still send is read, so no reset destroys an answer */
#define MAX_ACCEPT 4096

typedef struct { char *p; size_t len, cap; } sbuf;

static char resp_mem[16384], log_mem[8192], body_mem[4096];
static int linger_fds[MAX_LINGER];
static int nlinger;

static void sb_mem(sbuf *b, const void *s, size_t n) {
  if (n > b->cap - b->len) n = b->cap - b->len;
  memcpy(b->p + b->len, s, n);
  b->len += n;
}
static void sb_str(sbuf *b, const char *s) { sb_mem(b, s, strlen(s)); }
static void sb_uint(sbuf *b, unsigned long long v) {
  char d[24];
  int n = 0;
  do { d[n++] = (char)('0' + v % 10); v /= 10; } while (v);
  while (n) sb_mem(b, &d[--n], 1);
}
/* A JSON string literal of s (control bytes escaped; other bytes as they are). */
static void sb_json(sbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  sb_mem(b, "\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') { sb_mem(b, "\\", 1); sb_mem(b, &s[i], 1); }
    else if (ch < 0x20) { char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]}; sb_mem(b, e, 6); }
    else sb_mem(b, &s[i], 1);
  }
  sb_mem(b, "\"", 1);
}
/* Text for a log line: control bytes shown as a space. */
static void sb_text(sbuf *b, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) sb_mem(b, (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? " " : &s[i], 1);
}

static void write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

/* "2026-11-24T22:42:55Z" from time(2), without gmtime (not async-signal-safe). */
static void sb_stamp(sbuf *b) {
  long long t = (long long)time(NULL), days = t / 86400, secs = t % 86400;
  long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long y = (long long)yoe + era * 400;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char s[21] = "0000-00-00T00:00:00Z";
  s[0] = (char)('0' + y / 1000 % 10); s[1] = (char)('0' + y / 100 % 10);
  s[2] = (char)('0' + y / 10 % 10); s[3] = (char)('0' + y % 10);
  s[5] = (char)('0' + m / 10); s[6] = (char)('0' + m % 10);
  s[8] = (char)('0' + d / 10); s[9] = (char)('0' + d % 10);
  s[11] = (char)('0' + secs / 36000); s[12] = (char)('0' + secs / 3600 % 10);
  s[14] = (char)('0' + secs % 3600 / 600); s[15] = (char)('0' + secs % 600 / 60);
  s[17] = (char)('0' + secs % 60 / 10); s[18] = (char)('0' + secs % 10);
  sb_str(b, s);
}

/* The start of a log line in the format in force: JSON `{"time":…,"level":…,"worker":N`, text
 * `TIME wN` (the text form's level, where it has one, is the caller's). */
static void line_open(sbuf *b, const char *level) {
  int worker = pk__W ? pk__W->id : 0;
  if (pk__log_json()) {
    sb_str(b, "{\"time\":\"");
    sb_stamp(b);
    sb_str(b, "\",\"level\":\"");
    sb_str(b, level);
    sb_str(b, "\",\"worker\":");
  } else {
    sb_stamp(b);
    sb_str(b, " w");
  }
  sb_uint(b, (unsigned)worker);
}

/* Ends the line line_open began and writes it at once. */
static void line_write(sbuf *b) {
  if (pk__log_json()) sb_str(b, "}");
  b->p[b->len++] = '\n';
  write_all(2, b->p, b->len);
}

/* One log line at once (level, then message; errorId when given), in the format in force. */
static void log_line(const char *level, const char *msg, size_t mlen, const char *id, size_t idlen) {
  sbuf b = {log_mem, 0, sizeof log_mem - 1};
  line_open(&b, level);
  if (pk__log_json()) {
    if (id) { sb_str(&b, ",\"errorId\":"); sb_json(&b, id, idlen); }
    sb_str(&b, ",\"message\":");
    sb_json(&b, msg, mlen);
  } else {
    sb_str(&b, " ");
    sb_str(&b, level);
    if (id) { sb_str(&b, " errorId="); sb_text(&b, id, idlen); }
    sb_str(&b, ": ");
    sb_text(&b, msg, mlen);
  }
  line_write(&b);
}

/* The access line of a request answered here. */
static void access_line(pk__conn *c, int status, const char *id, size_t idlen) {
  if (!pk__log_access_enabled()) return;
  pk__request *r = &c->parser.req;
  const char *url = r->url_len && c->parser.state != PK_PS_IDLE ? pk__request_url(r) : NULL;   /* idle: unread */
  size_t plen = url ? r->url_len : 1;
  if (!url) url = "-";
  plen = pk__url_path_len(url, plen);
  int head_done = c->parser.state != PK_PS_HEADERS && c->parser.state != PK_PS_IDLE;
  const char *method = head_done ? llhttp_method_name((llhttp_method_t)r->method) : "-";
  unsigned long long ms = c->req_start_ns ? (pk__clock_ns() - c->req_start_ns) / 1000000 : 0;
  sbuf b = {log_mem, 0, sizeof log_mem - 1};
  line_open(&b, "info");
  if (pk__log_json()) {
    sb_str(&b, ",\"method\":\"");
    sb_str(&b, method);
    sb_str(&b, "\",\"path\":");
    sb_json(&b, url, plen);
    sb_str(&b, ",\"status\":");
    sb_uint(&b, (unsigned)status);
    sb_str(&b, ",\"duration_ms\":");
    sb_uint(&b, ms);
    sb_str(&b, ",\"errorId\":");
    sb_json(&b, id, idlen);
  } else {
    sb_str(&b, " ");
    sb_str(&b, method);
    sb_str(&b, " ");
    sb_text(&b, url, plen);
    sb_str(&b, " ");
    sb_uint(&b, (unsigned)status);
    sb_str(&b, " ");
    sb_uint(&b, ms);
    sb_str(&b, "ms errorId=");
    sb_text(&b, id, idlen);
  }
  line_write(&b);
}

static int fd_of(pk__conn *c) {
  uv_os_fd_t fd;
  return uv_fileno((uv_handle_t *)&c->tcp, &fd) ? -1 : fd;
}

/* The errorId of c's request: its X-Request-Id when the core takes it, the runtime's id when
 * this is the running call and it made one, else a new one (gen: >= 33 bytes). */
static const char *request_id(pk__conn *c, int culprit, char *gen, size_t *len) {
  if (culprit && pk__call->id[0]) {
    *len = strnlen(pk__call->id, sizeof pk__call->id);
    return pk__call->id;
  }
  size_t n;
  const char *id = c->parser.state != PK_PS_HEADERS ? pk__request_header(&c->parser.req, "x-request-id", 12, &n) : NULL;
  return pk__error_id(id, id ? n : 0, gen, len);
}

/* Writes a whole answer to fd: status, Pikku's error body with message and id, Connection: close. */
static void send_answer(int fd, int status, const char *message, const char *id, size_t idlen, int head) {
  sbuf body = {body_mem, 0, sizeof body_mem};
  sbuf out = {resp_mem, 0, sizeof resp_mem};
  sb_str(&body, "{\"name\":\"");
  sb_str(&body, pk__status_error_name(status));
  sb_str(&body, "\",\"message\":");
  sb_json(&body, message, strlen(message));
  sb_str(&body, ",\"errorId\":");
  sb_json(&body, id, idlen);
  sb_str(&body, "}");
  sb_str(&out, "HTTP/1.1 ");
  sb_uint(&out, (unsigned)status);
  sb_str(&out, " ");
  sb_str(&out, pk__status_reason(status));
  sb_str(&out, "\r\nServer: pikku/" PIKKU_VERSION "\r\nDate: ");
  sb_str(&out, pk__date_str());
  sb_str(&out, "\r\nContent-Type: application/json\r\nContent-Length: ");
  sb_uint(&out, body.len);
  if (status == 503) sb_str(&out, "\r\nRetry-After: 1");
  sb_str(&out, "\r\nConnection: close\r\n\r\n");
  if (!head) sb_mem(&out, body.p, body.len);
  write_all(fd, out.p, out.len);
}

/* A WebSocket frame (server to client: not masked) with a payload under 126 bytes. */
static void ws_frame(sbuf *b, unsigned char opcode, const char *payload, size_t n) {
  unsigned char h[2] = {(unsigned char)(0x80 | opcode), (unsigned char)(n < 125 ? n : 125)};
  sb_mem(b, h, 2);
  sb_mem(b, payload, n < 125 ? n : 125);
}

/* Reads and drops what fd has to read now; returns recv's last result (0: the peer closed). */
static ssize_t drain(int fd) {
  static char drop[4096];
  ssize_t r;
  while ((r = recv(fd, drop, sizeof drop, MSG_DONTWAIT)) > 0) {}
  return r;
}

static void linger_add(int fd) {
  shutdown(fd, SHUT_WR);
  if (nlinger < MAX_LINGER) linger_fds[nlinger++] = fd;
}

typedef struct {
  int culprit_status;          /* 503 (over its limit) or 502 (crashed) */
  const char *culprit_message; /* what its client reads (dev) */
  const char *other_message;   /* what the other requests' clients read */
  int ws_code;                 /* the close code of every WebSocket: 1012 or 1011 */
  int requests, sockets, queued;
} plan;

static void rescue_conn(pk__conn *c, plan *p) {
  int fd = fd_of(c);
  if (fd < 0) return;
  /* a write in flight, a file being sent or a streamed answer under way: answering would garble it */
  int can_write = !c->writing && !c->lingering && !c->file && !c->stream;
  if (can_write && c->out.len) write_all(fd, c->out.data, c->out.len);   /* complete answers of this turn first */
  if (c->ws) {
    if (can_write && !c->ws->sse && !c->ws->close_sent) {
      sbuf b = {resp_mem, 0, sizeof resp_mem};
      if (pk__call->cid && c->ws->cid == pk__call->cid && pk__call->running) {
        char text[160];
        sbuf t = {text, 0, sizeof text};
        sb_str(&t, "{\"error\":\"");
        sb_str(&t, p->culprit_status == 503 ? "Service unavailable" : "Bad gateway");
        sb_str(&t, "\",\"errorName\":\"");
        sb_str(&t, pk__status_error_name(p->culprit_status));
        sb_str(&t, "\"}");
        ws_frame(&b, 0x1, t.p, t.len);
      }
      unsigned char code[2] = {(unsigned char)(p->ws_code >> 8), (unsigned char)(p->ws_code & 0xff)};
      char payload[64];
      sbuf pl = {payload, 0, sizeof payload};
      sb_mem(&pl, code, 2);
      sb_str(&pl, p->ws_code == 1012 ? "server restarting" : "server error");
      ws_frame(&b, 0x8, pl.p, pl.len);
      write_all(fd, b.p, b.len);
    }
    p->sockets++;
    linger_add(fd);
    return;
  }
  int state = c->parser.state;
  /* an idle keep-alive connection whose next request waits unread in the kernel (the worker was
   * stuck, so it never read it) is a request in flight too */
  char peek;
  int waiting = !c->req_handle && state == PK_PS_IDLE && !c->paused &&
                recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1;
  if (c->req_handle || state == PK_PS_HEADERS || state == PK_PS_BODY || waiting) {
    int culprit = c->req_handle && c->req_handle == pk__call->handle && pk__call->running;
    int status = culprit ? p->culprit_status : 503;
    const char *dev_msg = culprit ? p->culprit_message : p->other_message;
    const char *msg = pk__W->opts->dev ? dev_msg : status == 502 ? "Bad gateway" : "Service unavailable";
    char gen[40];
    size_t idlen;
    const char *id = request_id(c, culprit, gen, &idlen);
    if (can_write) {
      int head_known = state != PK_PS_HEADERS && !waiting;
      if (!head_known) {   /* its method is not known: an answer with a body; a fresh id */
        idlen = pk__gen_id(gen);
        id = gen;
      }
      send_answer(fd, status, msg, id, idlen, head_known && c->parser.req.method == HTTP_HEAD);
      access_line(c, status, id, idlen);
      p->requests++;
    }
  }
  linger_add(fd);
}

/* Connections the kernel accepted for this worker that it never took: answered 503, not reset. */
static void rescue_queue(plan *p) {
  uv_os_fd_t lfd;
  if (!pk__W || pk__W->draining || uv_fileno((uv_handle_t *)&pk__W->listener, &lfd)) return;
  char gen[40];
  for (int i = 0; i < MAX_ACCEPT; i++) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) break;
    drain(fd);
    size_t idlen = pk__gen_id(gen);
    send_answer(fd, 503, pk__W->opts->dev ? p->other_message : "Service unavailable", gen, idlen, 0);
    p->queued++;
    linger_add(fd);
  }
  close(lfd);   /* new connections go to the other workers now */
}

/* Reads what the clients still send for a moment, so that closing with unread input (a reset)
 * does not destroy the answers on their way. */
static void linger(void) {
  static struct pollfd pf[MAX_LINGER];
  double until = pk__clock_ms() + LINGER_MS;
  int open = nlinger;
  for (int i = 0; i < nlinger; i++) pf[i] = (struct pollfd){.fd = linger_fds[i], .events = POLLIN};
  while (open > 0) {
    double left = until - pk__clock_ms();
    if (left <= 0) break;
    if (poll(pf, (nfds_t)nlinger, (int)left + 1) <= 0) continue;
    for (int i = 0; i < nlinger; i++) {
      if (pf[i].fd < 0 || !pf[i].revents) continue;
      ssize_t r = drain(pf[i].fd);
      if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) { pf[i].fd = -1; open--; }
    }
  }
}

/* What the running call is, for the log: "GET /x (function "f", wired at app.lua:3)" or the channel. */
static void describe_call(sbuf *b) {
  const char *label = pk__call_label(pk__call->label);
  pk__conn *c = pk__call->handle ? pk__conn_from_handle(pk__call->handle) : NULL;
  if (c) {
    pk__request *r = &c->parser.req;
    const char *url = pk__request_url(r);
    size_t plen = pk__url_path_len(url, r->url_len);
    sb_str(b, llhttp_method_name((llhttp_method_t)r->method));
    sb_str(b, " ");
    if (url) sb_text(b, url, plen);
    if (label) { sb_str(b, ", "); sb_str(b, label); }
  } else if (label) {
    sb_str(b, label);
  } else {
    sb_str(b, pk__call->running ? "a call" : "no call (the worker's own code)");
  }
  if (pk__call->cid && !c) {
    sb_str(b, ", channel connection ");
    sb_uint(b, (unsigned long long)pk__call->cid);
  }
}

static void rescue_all(plan *p) {
  pk__log_flush();   /* this turn's lines first */
  for (pk__conn *c = pk__W ? pk__W->conns : NULL; c; c = c->next)
    if (!c->closing) rescue_conn(c, p);
  rescue_queue(p);
}

static void summary(const char *level, sbuf *b, plan *p, const char *id, size_t idlen) {
  sb_str(b, "; answered ");
  sb_uint(b, (unsigned)p->requests);
  sb_str(b, " request(s) in flight, ");
  sb_uint(b, (unsigned)p->queued);
  sb_str(b, " waiting connection(s) 503, closed ");
  sb_uint(b, (unsigned)p->sockets);
  sb_str(b, p->ws_code == 1012 ? " WebSocket/SSE connection(s) (1012)" : " WebSocket/SSE connection(s) (1011)");
  sb_str(b, "; the master starts a new worker");
  log_line(level, b->p, b->len, id, idlen);
}

/* The errorId of the running call: the runtime's, else its request's (then put in the call
 * record, so that its answer carries the id the log line names). Returns its length (0: none). */
static size_t culprit_id(void) {
  char gen[40];
  size_t idlen = strnlen(pk__call->id, sizeof pk__call->id);
  pk__conn *c = pk__call->handle && pk__call->running ? pk__conn_from_handle(pk__call->handle) : NULL;
  if (!idlen && c) {
    const char *rid = request_id(c, 0, gen, &idlen);
    if (idlen >= sizeof pk__call->id) idlen = sizeof pk__call->id - 1;
    memmove(pk__call->id, rid, idlen);
    pk__call->id[idlen] = 0;
  }
  return idlen;
}

void pk__rescue_overrun(void) {
  static char msg[2048];
  plan p = {503, "the call ran longer than its time limit and was stopped",
            "the worker was replaced: another call on it ran over its time limit (try again)", 1012, 0, 0, 0};
  size_t idlen = culprit_id();
  rescue_all(&p);
  sbuf b = {msg, 0, sizeof msg};
  describe_call(&b);
  sb_str(&b, " ran ");
  sb_uint(&b, (unsigned long long)(pk__clock_ms() - pk__call->started_ms));
  sb_str(&b, " ms, over its time limit of ");
  sb_uint(&b, (unsigned long long)pk__call->limit_ms);
  sb_str(&b, " ms, and could not be stopped inside the worker (a loop LuaJIT compiled, or native code): the worker"
             " exits");
  summary("error", &b, &p, idlen ? pk__call->id : NULL, idlen);
  linger();
  _exit(PK__EXIT_OVERRUN);
}

static const char *signal_name(int sig) {
  switch (sig) {
  case SIGSEGV: return "SIGSEGV (invalid memory access)";
  case SIGBUS: return "SIGBUS (bad memory access)";
  case SIGFPE: return "SIGFPE (arithmetic error)";
  case SIGILL: return "SIGILL (illegal instruction)";
  case SIGABRT: return "SIGABRT (abort)";
  default: return "a fatal signal";
  }
}

void pk__rescue_crash(int sig, void *addr) {
  static char msg[2048];
  plan p = {502, "the function crashed (native code)",
            "the worker crashed while running another call (try again)", 1011, 0, 0, 0};
  size_t idlen = culprit_id();
  const char *id = pk__call->id;
  sbuf b = {msg, 0, sizeof msg};
  sb_str(&b, "worker crashed with ");
  sb_uint(&b, (unsigned)sig);
  sb_str(&b, " ");
  sb_str(&b, signal_name(sig));
  sb_str(&b, " at address 0x");
  static const char hex[] = "0123456789abcdef";
  uintptr_t a = (uintptr_t)addr;
  char digits[2 * sizeof a];
  for (int i = (int)sizeof digits - 1; i >= 0; i--) { digits[i] = hex[a & 15]; a >>= 4; }
  sb_mem(&b, digits, sizeof digits);
  sb_str(&b, pk__call->running ? " while running " : " outside any call (last: ");
  describe_call(&b);
  if (!pk__call->running) sb_str(&b, ")");
  if (!pk__W) {   /* not serving (pikku test has its own report) */
    log_line("error", b.p, b.len, idlen ? id : NULL, idlen);
    return;
  }
  rescue_all(&p);
  summary("error", &b, &p, idlen ? id : NULL, idlen);
  linger();
}
