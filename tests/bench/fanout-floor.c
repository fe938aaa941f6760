/* fanout-floor.c: the cheapest WebSocket fan-out this machine can run, the floor under the fan-out part of tests/bench/ws.sh. */
/*
 *   fanout-floor PORT [PROCS]   (tests/bench/ws.sh builds it into build/fanout-floor and runs it with FLOOR=1)
 *   Build: cc -O2 -Wall -Wextra -std=gnu11 -o build/fanout-floor tests/bench/fanout-floor.c -lcrypto
 *
 * PROCS processes (default 2; the first forks the others) each listen on 127.0.0.1:PORT with
 * their own SO_REUSEPORT socket (all made before the fork) and run one epoll loop.
 *   GET with Upgrade: websocket -> 101. Each text frame from the client then counts as a
 *     subscription: answer {"subscribed":true}, join this process's list. Close frame or EOF:
 *     leave. Other frames are skipped.
 *   POST /publish/... with a Content-Length body -> the body goes to every other process first
 *     (a length-prefixed message on its pipe), then 200 {} (keep-alive), then one text frame per
 *     subscriber, one write() each. A process reading a message from its pipe sends it the same way.
 * No topics, no routing, no Lua, no Date: what is left is the kernel's work, which no server
 * avoids. Not a server to use: a measuring stick.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PROCS 64
#define MAX_HEAD 8192                /* request head */
#define MAX_BODY (PIPE_BUF - 4)      /* a pipe message (4-byte length + body) is written whole */
#define MAX_CLIENT_FRAME 65536

struct conn { uint8_t *in, *out; size_t inlen, outlen; int open, ws, sub; };   /* sub: index in subs or -1 */

static struct conn *conns;           /* by fd */
static int ep, *subs, nsubs, inbox, outbox[MAX_PROCS], nout;
static uint8_t rbuf[1 << 16];

static void append(uint8_t **b, size_t *len, const void *p, size_t n) {
  uint8_t *nb = realloc(*b, *len + n);
  if (!nb) { perror("fanout-floor: realloc"); exit(1); }
  memcpy(nb + *len, p, n);
  *b = nb, *len += n;
}

static void watch(int fd, uint32_t events, int op) {
  struct epoll_event e = {.events = events, .data.fd = fd};
  epoll_ctl(ep, op, fd, &e);
}

/* one write(); what does not fit waits in c->out for EPOLLOUT (errors show up on the read side) */
static void send_to(int fd, const void *p, size_t n) {
  struct conn *c = &conns[fd];
  if (c->outlen) { append(&c->out, &c->outlen, p, n); return; }
  ssize_t w = write(fd, p, n);
  if (w < 0) { if (errno != EAGAIN) return; w = 0; }
  if ((size_t)w == n) return;
  append(&c->out, &c->outlen, (const uint8_t *)p + w, n - (size_t)w);
  watch(fd, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
}

static void close_conn(int fd) {
  struct conn *c = &conns[fd];
  if (c->sub >= 0) { subs[c->sub] = subs[--nsubs]; conns[subs[c->sub]].sub = c->sub; }
  free(c->in), free(c->out);
  memset(c, 0, sizeof *c);
  c->sub = -1;
  close(fd);
}

static void on_writable(int fd) {
  struct conn *c = &conns[fd];
  ssize_t w = write(fd, c->out, c->outlen);
  if (w < 0) { if (errno != EAGAIN) close_conn(fd); return; }
  memmove(c->out, c->out + w, c->outlen - (size_t)w);
  if ((c->outlen -= (size_t)w)) return;
  free(c->out), c->out = NULL;
  watch(fd, EPOLLIN, EPOLL_CTL_MOD);
}

/* one text frame of `body` to each subscriber of this process */
static void fan_out(const uint8_t *body, size_t len) {
  uint8_t f[4 + MAX_BODY];
  size_t hl = len < 126 ? 2 : 4;
  f[0] = 0x81;
  if (len < 126) f[1] = (uint8_t)len;
  else f[1] = 126, f[2] = (uint8_t)(len >> 8), f[3] = (uint8_t)len;
  memcpy(f + hl, body, len);
  for (int i = 0; i < nsubs; i++) send_to(subs[i], f, hl + len);
}

static void on_inbox(void) {   /* messages from the other processes: u32 length, body */
  static uint8_t box[1 << 16];
  static size_t boxlen;
  ssize_t r = read(inbox, box + boxlen, sizeof box - boxlen);
  if (r <= 0) return;
  boxlen += (size_t)r;
  size_t off = 0;
  uint32_t len;
  while (boxlen - off >= 4 && (memcpy(&len, box + off, 4), boxlen - off - 4 >= len)) {
    fan_out(box + off + 4, len);
    off += 4 + len;
  }
  memmove(box, box + off, boxlen - off);
  boxlen -= off;
}

/* header `name` in the head h[0..n): its value and length, or NULL */
static const char *header(const char *h, size_t n, const char *name, size_t *vlen) {
  size_t nl = strlen(name);
  for (const char *l = memchr(h, '\n', n), *end = h + n; l && ++l < end; l = memchr(l, '\n', (size_t)(end - l))) {
    if ((size_t)(end - l) <= nl || strncasecmp(l, name, nl) != 0 || l[nl] != ':') continue;
    const char *v = l + nl + 1;
    while (*v == ' ' || *v == '\t') v++;
    *vlen = strcspn(v, "\r\n");
    while (*vlen && (v[*vlen - 1] == ' ' || v[*vlen - 1] == '\t')) --*vlen;
    return v;
  }
  return NULL;
}

static void accept_key(const char *key, size_t klen, char out[29]) {   /* base64(SHA-1(key GUID)) */
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char in[128];
  uint8_t d[21] = {0};
  memcpy(in, key, klen), memcpy(in + klen, guid, sizeof guid - 1);
  EVP_Digest(in, klen + sizeof guid - 1, d, NULL, EVP_sha1(), NULL);
  for (int i = 0, o = 0; i < 21; i += 3, o += 4) {
    uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
    out[o] = t[v >> 18 & 63], out[o + 1] = t[v >> 12 & 63], out[o + 2] = t[v >> 6 & 63], out[o + 3] = t[v & 63];
  }
  out[27] = '=', out[28] = 0;   /* 20 bytes: 27 characters and one '=' */
}

#define SEND_LIT(fd, s) send_to(fd, s, sizeof s - 1)

/* one request from p[0..n): bytes used, 0 = incomplete, -1 = close the connection */
static ssize_t on_http(int fd, const uint8_t *p, size_t n) {
  const char *h = (const char *)p, *end = memmem(h, n, "\r\n\r\n", 4), *v, *k;
  if (!end) return n > MAX_HEAD ? -1 : 0;
  size_t head = (size_t)(end + 4 - h), vl, kl;
  if (strncmp(h, "GET ", 4) == 0 && (v = header(h, head, "Upgrade", &vl)) && vl == 9 && strncasecmp(v, "websocket", 9) == 0
      && (k = header(h, head, "Sec-WebSocket-Key", &kl)) && kl > 0 && kl <= 64) {
    char acc[29], resp[160];
    accept_key(k, kl, acc);
    int rl = snprintf(resp, sizeof resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
    send_to(fd, resp, (size_t)rl);
    conns[fd].ws = 1;
    return (ssize_t)head;
  }
  if (strncmp(h, "POST /publish/", 14) == 0 && (v = header(h, head, "Content-Length", &vl))) {
    long len = strtol(v, NULL, 10);
    if (len < 0 || len > MAX_BODY) { SEND_LIT(fd, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"); return -1; }
    if (n - head < (size_t)len) return 0;
    uint8_t msg[PIPE_BUF];
    uint32_t l = (uint32_t)len;
    memcpy(msg, &l, 4), memcpy(msg + 4, p + head, (size_t)len);
    for (int i = 0; i < nout; i++) if (write(outbox[i], msg, 4 + (size_t)len) < 0) perror("fanout-floor: pipe");
    SEND_LIT(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
    fan_out(p + head, (size_t)len);
    return (ssize_t)(head + (size_t)len);
  }
  SEND_LIT(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  return -1;
}

/* one client frame from p[0..n): bytes used, 0 = incomplete, -1 = close the connection */
static ssize_t on_frame(int fd, const uint8_t *p, size_t n) {
  if (n < 2) return 0;
  int op = p[0] & 15;
  uint64_t len = p[1] & 127;
  size_t hl = 2;
  if (!(p[1] & 128)) return -1;   /* client frames are masked */
  if (len == 126) { if (n < 4) return 0; len = (uint64_t)p[2] << 8 | p[3], hl = 4; }
  else if (len == 127) { if (n < 10) return 0; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i]; hl = 10; }
  if (len > MAX_CLIENT_FRAME) return -1;
  if (n < hl + 4 + len) return 0;
  struct conn *c = &conns[fd];
  if (op == 1) {
    SEND_LIT(fd, "\x81\x13{\"subscribed\":true}");
    if (c->sub < 0) c->sub = nsubs, subs[nsubs++] = fd;
  } else if (op == 8) {
    SEND_LIT(fd, "\x88\x00");
    return -1;
  }
  return (ssize_t)(hl + 4 + len);
}

static void on_readable(int fd) {
  struct conn *c = &conns[fd];
  ssize_t r = read(fd, rbuf, sizeof rbuf);
  if (r < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (r <= 0) { close_conn(fd); return; }
  const uint8_t *p = rbuf;
  size_t n = (size_t)r, off = 0;
  if (c->inlen) append(&c->in, &c->inlen, rbuf, n), p = c->in, n = c->inlen;   /* continue what the last read left */
  for (ssize_t k; off < n; off += (size_t)k) {
    k = c->ws ? on_frame(fd, p + off, n - off) : on_http(fd, p + off, n - off);
    if (k < 0) { close_conn(fd); return; }
    if (k == 0) break;
  }
  if (p == c->in) {
    memmove(c->in, c->in + off, n - off);
    if (!(c->inlen = n - off)) free(c->in), c->in = NULL;
  } else if (off < n) append(&c->in, &c->inlen, p + off, n - off);
}

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0) { perror("socket"); exit(1); }
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) { perror("bind/listen"); exit(1); }
  return fd;
}

static void serve(int ls, int nfd) {
  int one = 1;
  conns = calloc((size_t)nfd, sizeof *conns), subs = calloc((size_t)nfd, sizeof *subs);
  if (!conns || !subs) { perror("fanout-floor: calloc"); exit(1); }
  for (int i = 0; i < nfd; i++) conns[i].sub = -1;
  ep = epoll_create1(EPOLL_CLOEXEC);
  watch(ls, EPOLLIN, EPOLL_CTL_ADD);
  watch(inbox, EPOLLIN, EPOLL_CTL_ADD);
  static struct epoll_event evs[1024];
  for (;;) {
    int n = epoll_wait(ep, evs, 1024, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      uint32_t ev = evs[i].events;
      if (fd == inbox) { on_inbox(); continue; }
      if (fd == ls) {
        for (int c; (c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conns[c].open = 1;
          watch(c, EPOLLIN, EPOLL_CTL_ADD);
        }
        continue;
      }
      if (conns[fd].open && (ev & EPOLLOUT)) on_writable(fd);
      if (conns[fd].open && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))) on_readable(fd);
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: fanout-floor PORT [PROCS]\n"); return 64; }
  int port = atoi(argv[1]), procs = argc > 2 ? atoi(argv[2]) : 2;
  if (port <= 0 || port > 65535 || procs < 1 || procs > MAX_PROCS) { fprintf(stderr, "fanout-floor: bad arguments\n"); return 64; }
  signal(SIGPIPE, SIG_IGN);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1 << 20) ? 1 << 20 : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  int ls[MAX_PROCS], pipes[MAX_PROCS][2];   /* all before the fork: every listener is up when the port is */
  for (int i = 0; i < procs; i++) {
    ls[i] = listen_on(port);
    if (pipe(pipes[i])) { perror("pipe"); return 1; }
  }
  int me = 0;
  pid_t first = getpid();
  for (int i = 1; i < procs; i++) {
    if (fork() == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);   /* the children go with the first process */
      if (getppid() != first) return 0;
      me = i;
      break;
    }
  }
  for (int i = 0; i < procs; i++) {
    if (i == me) continue;   /* its own write end stays open: the inbox never reads EOF (a busy loop) */
    close(ls[i]), close(pipes[i][0]);
    outbox[nout++] = pipes[i][1];
  }
  inbox = pipes[me][0];
  fcntl(inbox, F_SETFL, O_NONBLOCK);
  serve(ls[me], (int)rl.rlim_cur);
}
