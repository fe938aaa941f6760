/* floor.c: the cheapest HTTP server this machine can run, to show the ceiling any server meets under wrk here. */
/*
 *   floor PORT [PROCS]     (tests/bench/http.sh builds it into build/floor and runs it with FLOOR=1)
 *
 * PROCS processes (default 2; the first forks the others) share PORT on 127.0.0.1 with
 * SO_REUSEPORT. Each runs one epoll loop: on a readable connection one read(), then one write()
 * of a fixed 200 response per request found (a request = up to an empty line; bodies are not
 * supported, so GET only). No parsing, no Date, no routing, no Lua: what is left is the kernel's
 * work, which no real server avoids. Not a server to use: a measuring stick.
 */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char RESPONSE[] =
  "HTTP/1.1 200 OK\r\nServer: floor\r\nContent-Type: application/json\r\nContent-Length: 19\r\n\r\n"
  "{\"message\":\"hello\"}";

static int listen_on(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  if (fd < 0) { perror("socket"); exit(1); }
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 1024)) { perror("bind/listen"); exit(1); }
  return fd;
}

static void serve(int port) {
  int ls = listen_on(port), ep = epoll_create1(0), one = 1;
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  static char in[65536], out[65536];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        int c;
        while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, in, sizeof in);
      if (r <= 0) { close(fd); continue; }
      size_t len = 0;
      for (ssize_t j = 3; j < r; j++) {
        if (in[j] == '\n' && in[j - 1] == '\r' && in[j - 2] == '\n' && len + sizeof RESPONSE <= sizeof out) {
          memcpy(out + len, RESPONSE, sizeof RESPONSE - 1);
          len += sizeof RESPONSE - 1;
        }
      }
      if (len && write(fd, out, len) < 0) close(fd);
    }
  }
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: floor PORT [PROCS]\n"); return 64; }
  int port = atoi(argv[1]), procs = argc > 2 ? atoi(argv[2]) : 2;
  if (port <= 0 || port > 65535 || procs < 1 || procs > 64) { fprintf(stderr, "floor: bad arguments\n"); return 64; }
  signal(SIGPIPE, SIG_IGN);
  for (int i = 1; i < procs; i++) {
    if (fork() == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);   /* the children go with the first process */
      serve(port);
    }
  }
  serve(port);
}
