// wsbench: single-threaded epoll WebSocket load client (echo throughput/latency, pub/sub fan-out) for tests/bench/ws.sh.
//
//   wsbench echo   --url ws://127.0.0.1:P/ws/echo [--conns 100] [--msgs 2000] [--size 64]
//                  [--inflight 1] [--timeout 60] [--json]
//   wsbench fanout --url ws://127.0.0.1:P/ws/fanout --publish http://127.0.0.1:P/publish/bench
//                  [--conns 10000] [--rounds 20] [--timeout 120] [--pids "1 2 3"]
//
// Build: cc -O2 -Wall -Wextra -std=gnu11 -o build/wsbench tests/bench/wsbench.c  (libc + epoll only)
//
// echo: what the peers' ws-load.mjs does, without Node's cost per message. Every connection sends
// --msgs text messages of --size bytes ('x'), at most --inflight unanswered; latency = send ->
// echo (echoes come back in order: a FIFO of send times per connection). msg/s = echoes / (first
// send .. last echo). --json prints ws-load.mjs's keys. All frames a connection may send in one
// epoll turn go out in one write().
// fanout: what tests/bench/ws-fanout.mjs does: subscribe every connection to topic "bench", then
// per round one HTTP POST {"round":r,"t":ms}; time until every connection has a text frame holding
// "round":r; with --pids, the server's RSS/PSS per idle connection (/proc/PID/smaps_rollup) and its
// CPU time (user, system: /proc/PID/stat) over the rounds, per delivered message.
// Loopback URLs only. Exit: 0 ok, 1 errors, 2 timeout, 64 bad arguments.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PENDING 500               // connections opening at a time (handshake, subscribe)
#define MAX_FRAME (64ull << 20)       // largest server frame accepted
#define READ_SIZE (256 * 1024)
#define MAX_EVENTS 1024

// ---------------------------------------------------------------- options
enum { MODE_ECHO, MODE_FANOUT };
struct url { char hostport[300], path[1024]; struct sockaddr_in addr; };

static struct {
  int mode, conns, msgs, size, inflight, rounds, json;
  double timeout_s;
  const char *url_s, *publish_s, *pids;
  struct url url, publish;
} opt;

static void usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fputs("wsbench: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (usage: wsbench echo|fanout --url ws://127.0.0.1:PORT/PATH [options], see wsbench.c)\n", stderr);
  exit(64);
}

static long parse_num(const char *name, const char *v, long min, long max)
{
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < min || n > max) usage_error("--%s wants an integer in %ld..%ld, not '%s'", name, min, max, v);
  return n;
}

// scheme://HOST[:PORT][/PATH] with HOST 127.x.x.x or localhost
static int parse_url(const char *s, const char *scheme, struct url *u)
{
  size_t sl = strlen(scheme);
  if (strncmp(s, scheme, sl) != 0) return -1;
  const char *h = s + sl, *e = h + strcspn(h, ":/");
  char host[64];
  if (e == h || (size_t)(e - h) >= sizeof host) return -1;
  memcpy(host, h, e - h);
  host[e - h] = 0;
  long port = 80;
  const char *p = e;
  if (*p == ':') {
    char *end;
    port = strtol(p + 1, &end, 10);
    if (end == p + 1 || port < 1 || port > 65535) return -1;
    p = end;
  }
  if ((*p && *p != '/') || strlen(p) >= sizeof u->path) return -1;
  memset(&u->addr, 0, sizeof u->addr);
  u->addr.sin_family = AF_INET;
  u->addr.sin_port = htons((uint16_t)port);
  if (strcmp(host, "localhost") == 0) u->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  else if (inet_pton(AF_INET, host, &u->addr.sin_addr) != 1 || ntohl(u->addr.sin_addr.s_addr) >> 24 != 127) return -1;
  snprintf(u->hostport, sizeof u->hostport, "%.*s", (int)(p - h), h);
  snprintf(u->path, sizeof u->path, "%s", *p ? p : "/");
  return 0;
}

static void parse_args(int argc, char **argv)
{
  if (argc < 2) usage_error("missing mode");
  if (strcmp(argv[1], "echo") == 0) opt.mode = MODE_ECHO;
  else if (strcmp(argv[1], "fanout") == 0) opt.mode = MODE_FANOUT;
  else usage_error("unknown mode '%s'", argv[1]);
  int echo = opt.mode == MODE_ECHO;
  opt.conns = echo ? 100 : 10000;
  opt.msgs = 2000, opt.size = 64, opt.inflight = 1, opt.rounds = 20;
  opt.timeout_s = echo ? 60 : 120;
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--json") == 0 && echo) { opt.json = 1; continue; }
    if (strncmp(a, "--", 2) != 0 || i + 1 >= argc) usage_error("bad argument '%s'", a);
    const char *n = a + 2, *v = argv[++i];
    if (strcmp(n, "url") == 0) opt.url_s = v;
    else if (strcmp(n, "conns") == 0) opt.conns = (int)parse_num(n, v, 1, 1000000);
    else if (strcmp(n, "timeout") == 0) opt.timeout_s = (double)parse_num(n, v, 1, 86400);
    else if (echo && strcmp(n, "msgs") == 0) opt.msgs = (int)parse_num(n, v, 1, 100000000);
    else if (echo && strcmp(n, "size") == 0) opt.size = (int)parse_num(n, v, 0, 16 << 20);
    else if (echo && strcmp(n, "inflight") == 0) opt.inflight = (int)parse_num(n, v, 1, 1000000);
    else if (!echo && strcmp(n, "publish") == 0) opt.publish_s = v;
    else if (!echo && strcmp(n, "rounds") == 0) opt.rounds = (int)parse_num(n, v, 1, 100000);
    else if (!echo && strcmp(n, "pids") == 0) opt.pids = v;
    else usage_error("unknown option '%s' for %s", a, argv[1]);
  }
  if (!opt.url_s) usage_error("--url is required");
  if (parse_url(opt.url_s, "ws://", &opt.url) < 0) usage_error("loopback ws:// URLs only (127.x.x.x or localhost): '%s'", opt.url_s);
  if (!echo) {
    if (!opt.publish_s) usage_error("--publish is required for fanout");
    if (parse_url(opt.publish_s, "http://", &opt.publish) < 0) usage_error("loopback http:// URLs only (127.x.x.x or localhost): '%s'", opt.publish_s);
  }
  if (echo && (double)opt.conns * opt.msgs > 2e8) usage_error("--conns x --msgs is over 200,000,000");
}

// ---------------------------------------------------------------- small helpers
static int64_t now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint64_t rng_state;
static uint32_t rnd32(void)   // xorshift64*: masks and keys need not be secret here
{
  rng_state ^= rng_state >> 12, rng_state ^= rng_state << 25, rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

static void *xrealloc(void *p, size_t n)
{
  p = realloc(p, n);
  if (!p) { fputs("wsbench: out of memory\n", stderr); exit(1); }
  return p;
}

static void reserve(uint8_t **b, size_t *cap, size_t need)
{
  if (need <= *cap) return;
  size_t n = *cap ? *cap : 512;
  while (n < need) n *= 2;
  *b = xrealloc(*b, n);
  *cap = n;
}

static void base64(const uint8_t *in, size_t n, char *out)
{
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    *out++ = t[v >> 18 & 63];
    *out++ = t[v >> 12 & 63];
    *out++ = i + 1 < n ? t[v >> 6 & 63] : '=';
    *out++ = i + 2 < n ? t[v & 63] : '=';
  }
  *out = 0;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

// the p-th percentile of sorted v[0..n) as ws-load.mjs takes it: v[ceil(p/100 * n) - 1]
static double pct(const double *v, size_t n, int p)
{
  size_t k = ((size_t)p * n + 99) / 100;
  if (k < 1) k = 1;
  if (k > n) k = n;
  return v[k - 1];
}

// ---------------------------------------------------------------- connections
enum { ST_CONNECTING, ST_HANDSHAKE, ST_OPEN, ST_DONE, ST_DEAD };

struct conn {
  int fd, state, pending;
  uint32_t events;                  // epoll interest now
  uint8_t *rbuf, *wbuf;             // unparsed input (handshake, partial frame); output not yet written
  size_t rlen, rcap, wlen, woff, wcap;
  int msg_op, msg_bad, msg_hit;     // message being received (over its fragments)
  size_t msg_len;
  int sent, got, fhead;             // echo: messages sent/echoed, FIFO of send times
  int64_t *fifo;
  int subscribed, last_round;       // fanout
};

static struct conn *conns;
static int ep, fifo_n, n_opened, n_pending, n_settled, n_dead, n_done;
static long long errors, received;
static uint8_t inbuf[READ_SIZE];
static char errmsg[256];

static double *lat;                 // echo latencies (ms)
static size_t n_lat;
static int started;
static int64_t t_start, t_end;

static int cur_round = -1, round_got, pub_status;   // fanout
static int64_t t_last;
static char needle[32];
static size_t needle_len;

static void want(struct conn *c, uint32_t ev)
{
  if (c->events == ev) return;
  struct epoll_event e = { .events = ev, .data.ptr = c };
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
  c->events = ev;
}

static void settle(struct conn *c)   // no longer opening: make room for the next one
{
  if (!c->pending) return;
  c->pending = 0;
  n_pending--;
  n_settled++;
}

static void count_error(struct conn *c, const char *fmt, ...)   // shows the first five
{
  if (++errors > 6) return;
  if (errors == 6) { fputs("wsbench: (further errors are counted, not shown)\n", stderr); return; }
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "wsbench: connection %d: ", (int)(c - conns));
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void conn_fail(struct conn *c, const char *why)
{
  count_error(c, "%s", why);
  close(c->fd);
  settle(c);
  if (c->state != ST_DONE) n_dead++;
  c->state = ST_DEAD;
}

static void conn_open(struct conn *c)
{
  c->last_round = -1;
  c->pending = 1;
  n_pending++;
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) { fprintf(stderr, "wsbench: socket: %s\n", strerror(errno)); exit(1); }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->state = ST_CONNECTING;
  c->events = EPOLLOUT;
  struct epoll_event e = { .events = EPOLLOUT, .data.ptr = c };
  epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
  if (connect(c->fd, (struct sockaddr *)&opt.url.addr, sizeof opt.url.addr) < 0 && errno != EINPROGRESS) {
    snprintf(errmsg, sizeof errmsg, "connect: %s", strerror(errno));
    conn_fail(c, errmsg);
  }
}

static void open_more(void)
{
  while (n_opened < opt.conns && n_pending < MAX_PENDING) conn_open(&conns[n_opened++]);
}

// ---------------------------------------------------------------- frame writer
// Appends one masked client frame (FIN set) to c's output: payload `data`, or len x `fill` if data is NULL.
static void put_frame(struct conn *c, int opcode, const uint8_t *data, size_t len, uint8_t fill)
{
  reserve(&c->wbuf, &c->wcap, c->wlen + len + 14);
  uint8_t *p = c->wbuf + c->wlen;
  *p++ = (uint8_t)(0x80 | opcode);
  if (len < 126) *p++ = (uint8_t)(0x80 | len);
  else if (len < 65536) { *p++ = 0x80 | 126; *p++ = (uint8_t)(len >> 8); *p++ = (uint8_t)len; }
  else { *p++ = 0x80 | 127; for (int i = 7; i >= 0; i--) *p++ = (uint8_t)((uint64_t)len >> (8 * i)); }
  uint32_t m32 = rnd32();
  uint8_t mask[4];
  memcpy(mask, &m32, 4);
  memcpy(p, mask, 4);
  p += 4;
  if (data) {
    for (size_t i = 0; i < len; i++) p[i] = data[i] ^ mask[i & 3];
  } else {
    uint8_t pat[8];
    for (int k = 0; k < 8; k++) pat[k] = fill ^ mask[k & 3];
    size_t i = 0;
    for (; i + 8 <= len; i += 8) memcpy(p + i, pat, 8);
    for (; i < len; i++) p[i] = pat[i & 7];
  }
  c->wlen = (size_t)(p - c->wbuf) + len;
}

// One write() of everything queued; the rest waits for EPOLLOUT. Returns -1 if the socket failed.
static int flush(struct conn *c)
{
  if (c->woff < c->wlen) {
    ssize_t n;
    do n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff); while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN) { snprintf(errmsg, sizeof errmsg, "write: %s", strerror(errno)); return -1; }
    if (n > 0) c->woff += (size_t)n;
    if (c->woff == c->wlen) c->woff = c->wlen = 0;
  }
  want(c, EPOLLIN | (c->wlen ? EPOLLOUT : 0));
  return 0;
}

static void send_handshake(struct conn *c)
{
  uint8_t raw[16];
  char key[32];
  for (int i = 0; i < 16; i += 4) { uint32_t r = rnd32(); memcpy(raw + i, &r, 4); }
  base64(raw, 16, key);
  size_t need = strlen(opt.url.path) + strlen(opt.url.hostport) + 200;
  reserve(&c->wbuf, &c->wcap, c->wlen + need);
  c->wlen += (size_t)snprintf((char *)c->wbuf + c->wlen, need,
      "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", opt.url.path, opt.url.hostport, key);
  c->state = ST_HANDSHAKE;
}

// ---------------------------------------------------------------- message handlers
static int all_x(const uint8_t *p, size_t n)
{
  static const uint64_t xs = 0x7878787878787878ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) { uint64_t v; memcpy(&v, p + i, 8); if (v != xs) return 0; }
  for (; i < n; i++) if (p[i] != 'x') return 0;
  return 1;
}

static void on_data(struct conn *c, const uint8_t *p, size_t n)   // a data frame's payload
{
  if (opt.mode == MODE_ECHO) { if (!c->msg_bad && !all_x(p, n)) c->msg_bad = 1; return; }
  if (!c->subscribed || cur_round < 0 || c->msg_hit) return;
  for (const uint8_t *q = p, *end = p + n; (q = memmem(q, (size_t)(end - q), needle, needle_len)); q++)
    if (q + needle_len == end || q[needle_len] < '0' || q[needle_len] > '9') { c->msg_hit = 1; return; }
}

static void on_open(struct conn *c)   // got the 101
{
  c->state = ST_OPEN;
  if (opt.mode == MODE_ECHO) settle(c);
  else {
    static const char sub[] = "{\"action\":\"subscribe\",\"topic\":\"bench\"}";
    put_frame(c, 1, (const uint8_t *)sub, sizeof sub - 1, 0);
  }
}

// A whole message arrived; returns an error that ends the connection, or NULL.
static const char *on_message(struct conn *c, int64_t now)
{
  if (opt.mode == MODE_FANOUT) {
    if (!c->subscribed) {
      if (c->msg_op != 1) return "subscribe: the reply is not a text frame";
      c->subscribed = 1;
      settle(c);
    } else if (c->msg_hit && c->last_round != cur_round) {
      c->last_round = cur_round;
      if (++round_got == opt.conns) t_last = now;
    }
    return NULL;
  }
  if (c->got >= c->sent) return "a message that is not an echo (nothing outstanding)";
  lat[n_lat++] = (double)(now - c->fifo[c->fhead]) / 1e6;
  c->fhead = (c->fhead + 1) % fifo_n;
  c->got++, received++;
  if (c->msg_op != 1 || c->msg_len != (size_t)opt.size || c->msg_bad)
    count_error(c, "echo %d differs from the message sent (%zu bytes, opcode %d)", c->got, c->msg_len, c->msg_op);
  if (c->got == opt.msgs) { c->state = ST_DONE; n_done++; t_end = now; }
  return NULL;
}

// ---------------------------------------------------------------- incremental frame parser
// Handles the complete frames in p[0..n); returns the bytes used (a partial frame waits for more
// input), or -1 with errmsg set when the connection must end.
static ssize_t parse_frames(struct conn *c, const uint8_t *p, size_t n, int64_t now)
{
  size_t off = 0;
  while (n - off >= 2) {
    const uint8_t *h = p + off;
    int fin = h[0] & 0x80, op = h[0] & 0x0f;
    uint64_t len = h[1] & 0x7f;
    size_t hl = 2;
    if ((h[0] & 0x70) || (h[1] & 0x80)) { snprintf(errmsg, sizeof errmsg, "server frame with RSV bits or a mask"); return -1; }
    if (len == 126) {
      if (n - off < 4) break;
      len = (uint64_t)h[2] << 8 | h[3], hl = 4;
    } else if (len == 127) {
      if (n - off < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | h[2 + i];
      hl = 10;
    }
    if (len > MAX_FRAME) { snprintf(errmsg, sizeof errmsg, "server frame of %llu bytes", (unsigned long long)len); return -1; }
    if (n - off - hl < len) break;
    const uint8_t *pl = h + hl;
    off += hl + (size_t)len;
    if (op & 8) {   // control frame
      if (op == 8) {
        unsigned code = len >= 2 ? (unsigned)pl[0] << 8 | pl[1] : 0;
        snprintf(errmsg, sizeof errmsg, "close frame from the server (code %u)", code);
        return -1;
      }
      if (op == 9) put_frame(c, 10, pl, (size_t)len, 0);   // ping -> pong with the same payload
      continue;
    }
    if (op != 0) {
      if (c->msg_op) { snprintf(errmsg, sizeof errmsg, "new message inside a fragmented one"); return -1; }
      c->msg_op = op, c->msg_len = 0, c->msg_bad = 0, c->msg_hit = 0;
    } else if (!c->msg_op) { snprintf(errmsg, sizeof errmsg, "continuation frame without a message"); return -1; }
    on_data(c, pl, (size_t)len);
    c->msg_len += (size_t)len;
    if (fin) {
      const char *e = on_message(c, now);
      c->msg_op = 0;
      if (e) { snprintf(errmsg, sizeof errmsg, "%s", e); return -1; }
    }
  }
  return (ssize_t)off;
}

// Reads once; handles the handshake response and the frames; returns an error or NULL.
static const char *on_readable(struct conn *c)
{
  ssize_t n = read(c->fd, inbuf, sizeof inbuf);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return NULL;
    snprintf(errmsg, sizeof errmsg, "read: %s", strerror(errno));
    return errmsg;
  }
  if (n == 0) return "connection closed by the server (EOF)";
  int64_t now = now_ns();
  const uint8_t *p = inbuf;
  size_t len = (size_t)n;
  if (c->rlen || c->state == ST_HANDSHAKE) {   // continue what the last read left
    reserve(&c->rbuf, &c->rcap, c->rlen + len);
    memcpy(c->rbuf + c->rlen, inbuf, len);
    c->rlen += len;
    p = c->rbuf, len = c->rlen;
    if (c->state == ST_HANDSHAKE) {
      const uint8_t *end = memmem(p, len, "\r\n\r\n", 4);
      if (!end) return len > 16384 ? "handshake response too long" : NULL;
      if (len < 13 || memcmp(p, "HTTP/1.", 7) != 0 || memcmp(p + 9, "101", 3) != 0 || (p[12] != ' ' && p[12] != '\r')) {
        snprintf(errmsg, sizeof errmsg, "handshake: not a 101 response: %.*s", (int)strcspn((const char *)p, "\r\n"), p);
        return errmsg;
      }
      p = end + 4, len -= (size_t)(end + 4 - c->rbuf);
      on_open(c);
    }
  }
  ssize_t used = parse_frames(c, p, len, now);
  if (used < 0) return errmsg;
  size_t rest = len - (size_t)used;
  if (rest) reserve(&c->rbuf, &c->rcap, rest);   // p is inbuf here if rbuf had nothing before
  memmove(c->rbuf, p + used, rest);
  c->rlen = rest;
  return NULL;
}

static void echo_pump(struct conn *c)   // queue what the window allows, stamped just before the write
{
  int k = 0;
  while (c->sent + k < opt.msgs && c->sent + k - c->got < opt.inflight) { put_frame(c, 1, NULL, (size_t)opt.size, 'x'); k++; }
  if (!k) return;
  int64_t t = now_ns();
  if (!t_start) t_start = t;
  for (; k > 0; k--, c->sent++) c->fifo[(c->fhead + c->sent - c->got) % fifo_n] = t;
}

static void handle_event(struct conn *c, uint32_t ev)
{
  if (c->state == ST_DEAD) return;
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) { snprintf(errmsg, sizeof errmsg, "connect: %s", strerror(err)); conn_fail(c, errmsg); return; }
    send_handshake(c);
  } else if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
    const char *e = on_readable(c);
    if (e) {
      if (c->state == ST_DONE) { close(c->fd); c->state = ST_DEAD; }   // finished: an EOF is fine
      else conn_fail(c, e);
      return;
    }
    if (opt.mode == MODE_ECHO && started && c->state == ST_OPEN) echo_pump(c);
  }
  if (flush(c) < 0) conn_fail(c, errmsg);
}

static struct conn pub_tag;   // epoll data of the publish socket
static int pub_fd = -1;
static char pub_buf[4096];
static size_t pub_len;

static void pub_readable(void);

static void loop_once(int timeout_ms)
{
  static struct epoll_event evs[MAX_EVENTS];
  open_more();
  int n = epoll_wait(ep, evs, MAX_EVENTS, timeout_ms);
  for (int i = 0; i < n; i++) {
    if (evs[i].data.ptr == &pub_tag) pub_readable();
    else handle_event(evs[i].data.ptr, evs[i].events);
  }
}

static int64_t deadline;
static int wait_ms(int64_t until)   // epoll timeout towards `until`, at most 100 ms
{
  int64_t d = until - now_ns();
  if (d <= 0) return 0;
  return d > 100000000 ? 100 : (int)((d + 999999) / 1000000);
}

// ---------------------------------------------------------------- echo
static void json_str(const char *s)
{
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned)*s);
    else putchar(*s);
  }
  putchar('"');
}

static int run_echo(void)
{
  size_t total = (size_t)opt.conns * (size_t)opt.msgs;
  lat = malloc(total * sizeof *lat);
  if (!lat) { fputs("wsbench: out of memory for the latencies\n", stderr); return 1; }
  fifo_n = opt.inflight < opt.msgs ? opt.inflight : opt.msgs;   // most messages ever outstanding
  for (int i = 0; i < opt.conns; i++) conns[i].fifo = xrealloc(NULL, (size_t)fifo_n * sizeof(int64_t));
  int timed_out = 0;
  while (n_done + n_dead < opt.conns) {
    if (now_ns() >= deadline) { timed_out = 1; break; }
    loop_once(wait_ms(deadline));
    if (!started && n_settled == opt.conns) {   // all open (or failed): start sending, as ws-load.mjs does
      started = 1;
      for (int i = 0; i < opt.conns; i++) {
        struct conn *c = &conns[i];
        if (c->state != ST_OPEN) continue;
        echo_pump(c);
        if (flush(c) < 0) conn_fail(c, errmsg);
      }
    }
  }
  if (!t_end) t_end = now_ns();
  double secs = t_start ? (double)(t_end - t_start) / 1e9 : 0;
  double mps = secs > 0 ? (double)received / secs : 0;
  qsort(lat, n_lat, sizeof *lat, cmp_double);
  double p[4] = { 0 };
  static const int ps[4] = { 50, 90, 99, 100 };
  for (int i = 0; i < 4 && n_lat; i++) p[i] = pct(lat, n_lat, ps[i]);
  if (opt.json) {
    printf("{\"url\":");
    json_str(opt.url_s);
    printf(",\"conns\":%d,\"msgs\":%d,\"size\":%d,\"inflight\":%d,\"sent_expected\":%zu,\"received\":%lld,"
           "\"errors\":%lld,\"timed_out\":%s,\"seconds\":%.3f,\"msgs_per_s\":%.0f",
           opt.conns, opt.msgs, opt.size, opt.inflight, total, received, errors, timed_out ? "true" : "false", secs, mps);
    static const char *keys[4] = { "p50_ms", "p90_ms", "p99_ms", "max_ms" };
    for (int i = 0; i < 4; i++) {
      if (n_lat) printf(",\"%s\":%.3f", keys[i], p[i]);
      else printf(",\"%s\":null", keys[i]);
    }
    printf("}\n");
  } else {
    printf("wsbench echo %s conns=%d msgs/conn=%d size=%d inflight=%d\n", opt.url_s, opt.conns, opt.msgs, opt.size, opt.inflight);
    printf("  received %lld/%zu in %.3f s, errors=%lld%s\n", received, total, secs, errors, timed_out ? " (TIMED OUT)" : "");
    printf("  %.0f msg/s   latency p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms\n", mps, p[0], p[1], p[2], p[3]);
  }
  if (timed_out) { fprintf(stderr, "wsbench: timed out after %g s\n", opt.timeout_s); return 2; }
  return errors || (size_t)received < total ? 1 : 0;
}

// ---------------------------------------------------------------- fanout
static void memory(long *rss, long *pss)   // KiB, summed over --pids
{
  *rss = *pss = 0;
  if (!opt.pids) return;
  char *list = strdup(opt.pids), *save = NULL;
  for (char *tok = strtok_r(list, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
    if (strspn(tok, "0123456789") != strlen(tok)) continue;
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%s/smaps_rollup", tok);
    FILE *f = fopen(path, "r");
    if (!f) continue;   // a pid that went away
    long v;
    while (fgets(line, sizeof line, f)) {
      if (sscanf(line, "Rss: %ld", &v) == 1) *rss += v;
      else if (sscanf(line, "Pss: %ld", &v) == 1) *pss += v;
    }
    fclose(f);
  }
  free(list);
}

// CPU ticks (utime, stime; 1/CLK_TCK s) summed over --pids
static void cpu_ticks(long long *user, long long *sys)
{
  *user = *sys = 0;
  if (!opt.pids) return;
  char *list = strdup(opt.pids), *save = NULL;
  for (char *tok = strtok_r(list, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
    if (strspn(tok, "0123456789") != strlen(tok)) continue;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", tok);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    char *p = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;   // the name may hold spaces
    long long u = 0, s = 0;
    // after ") ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lld %lld", &u, &s) == 2) {
      *user += u;
      *sys += s;
    }
    fclose(f);
  }
  free(list);
}

// Connects (untimed), then returns the time just before the POST goes out; the response is read from the loop.
static int64_t publish(int round)
{
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0 || connect(fd, (struct sockaddr *)&opt.publish.addr, sizeof opt.publish.addr) < 0) {
    fprintf(stderr, "wsbench: publish: connect: %s\n", strerror(errno));
    exit(1);
  }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  char body[96], req[2048];
  int bl = snprintf(body, sizeof body, "{\"round\":%d,\"t\":%lld}", round, (long long)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
  int rl = snprintf(req, sizeof req, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\nConnection: close\r\n\r\n%s", opt.publish.path, opt.publish.hostport, bl, body);
  pub_len = 0, pub_status = 0;
  int64_t t0 = now_ns();
  for (int off = 0; off < rl;) {
    ssize_t n = write(fd, req + off, (size_t)(rl - off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { fprintf(stderr, "wsbench: publish: write: %s\n", strerror(errno)); exit(1); }
    off += (int)n;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  struct epoll_event e = { .events = EPOLLIN, .data.ptr = &pub_tag };
  epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
  pub_fd = fd;
  return t0;
}

static void pub_readable(void)   // the publish response: only its status line matters
{
  ssize_t n = read(pub_fd, pub_buf + pub_len, sizeof pub_buf - 1 - pub_len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n > 0) pub_len += (size_t)n;
  pub_buf[pub_len] = 0;
  char *eol = strstr(pub_buf, "\r\n");
  if (!eol) {
    if (n > 0 && pub_len < sizeof pub_buf - 1) return;
    fprintf(stderr, "wsbench: publish: no status line in the response\n");
    exit(1);
  }
  int status = 0;
  if (sscanf(pub_buf, "HTTP/1.%*d %d", &status) != 1 || status < 200 || status > 299) {
    fprintf(stderr, "wsbench: publish failed: %.*s\n", (int)(eol - pub_buf), pub_buf);
    exit(1);
  }
  pub_status = status;
  close(pub_fd);   // also leaves the epoll set
  pub_fd = -1;
}

static double times_ms[100000];

static void fanout_check(int done_rounds, const char *what)
{
  if (n_dead) { fprintf(stderr, "wsbench: a connection failed %s\n", what); exit(1); }
  if (now_ns() < deadline) return;
  fprintf(stderr, "wsbench: timed out after %g s (%s): %d/%d connections subscribed, %d/%d rounds done",
          opt.timeout_s, what, n_settled, opt.conns, done_rounds, opt.rounds);
  if (cur_round >= 0 && done_rounds < opt.rounds) fprintf(stderr, ", round %d reached %d subscribers", cur_round, round_got);
  fputc('\n', stderr);
  if (done_rounds) {
    fputs("wsbench: rounds done (ms):", stderr);
    for (int i = 0; i < done_rounds; i++) fprintf(stderr, " %.1f", times_ms[i]);
    fputc('\n', stderr);
  }
  exit(2);
}

static int run_fanout(void)
{
  long rss0, pss0, rss1, pss1;
  memory(&rss0, &pss0);
  while (n_settled < opt.conns) { fanout_check(0, "while subscribing"); loop_once(wait_ms(deadline)); }
  fanout_check(0, "while subscribing");
  for (int64_t until = now_ns() + 1000000000; now_ns() < until;) loop_once(wait_ms(until));   // settle: idle connections
  memory(&rss1, &pss1);
  long long u0, s0, u1, s1;
  cpu_ticks(&u0, &s0);
  for (int r = 0; r < opt.rounds; r++) {
    needle_len = (size_t)snprintf(needle, sizeof needle, "\"round\":%d", r);
    round_got = 0, t_last = 0, cur_round = r;
    int64_t t0 = publish(r);
    while (round_got < opt.conns || !pub_status) { fanout_check(r, "during a round"); loop_once(wait_ms(deadline)); }
    times_ms[r] = (double)(t_last - t0) / 1e6;
    for (int64_t until = now_ns() + 200000000; now_ns() < until;) loop_once(wait_ms(until));
  }
  cpu_ticks(&u1, &s1);
  static double sorted[100000];
  memcpy(sorted, times_ms, (size_t)opt.rounds * sizeof *sorted);
  qsort(sorted, (size_t)opt.rounds, sizeof *sorted, cmp_double);
  printf("connections: %d, rounds: %d\n", opt.conns, opt.rounds);
  printf("time until the last subscriber has the message (ms):");
  for (int r = 0; r < opt.rounds; r++) printf(" %.1f", times_ms[r]);
  printf("\np50 %.1f ms, p99 %.1f ms\n", pct(sorted, (size_t)opt.rounds, 50), pct(sorted, (size_t)opt.rounds, 99));
  if (opt.pids)
    printf("server memory: %ld KiB RSS before, %ld KiB with %d idle connections -> %.2f KiB RSS / %.2f KiB PSS per connection\n",
           rss0, rss1, opt.conns, (double)(rss1 - rss0) / opt.conns, (double)(pss1 - pss0) / opt.conns);
  if (opt.pids) {
    double per = 1e6 / (double)sysconf(_SC_CLK_TCK) / ((double)opt.conns * opt.rounds);
    printf("server CPU per delivered message: %.3f us (user %.3f + system %.3f), over %d rounds\n",
           (double)(u1 - u0 + s1 - s0) * per, (double)(u1 - u0) * per, (double)(s1 - s0) * per, opt.rounds);
  }
  return 0;
}

// ---------------------------------------------------------------- main
int main(int argc, char **argv)
{
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (rlim_t)opt.conns + 16 > rl.rlim_cur) {
    fprintf(stderr, "wsbench: %d connections need more file descriptors than the limit (%llu)\n", opt.conns, (unsigned long long)rl.rlim_cur);
    return 1;
  }
  if (getrandom(&rng_state, sizeof rng_state, 0) != sizeof rng_state || !rng_state) rng_state = (uint64_t)now_ns() | 1;
  conns = calloc((size_t)opt.conns, sizeof *conns);
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (!conns || ep < 0) { fputs("wsbench: setup failed\n", stderr); return 1; }
  deadline = now_ns() + (int64_t)(opt.timeout_s * 1e9);
  return opt.mode == MODE_ECHO ? run_echo() : run_fanout();
}
