/* control.c: the master's control socket, where `pikku reload` asks for a reload and waits for its outcome. */
#define _GNU_SOURCE   /* accept4, struct ucred */
#include "control.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "log.h"
#include "reload_status.h"

#define MAX_CLIENTS 16
#define ASK_TIMEOUT_MS 5000     /* a client that says nothing this long is dropped */
#define RELOAD_TIMEOUT_MS 60000 /* workers that have not finished loading by then are reported */

typedef struct {
  int fd;
  int state;                    /* 0: free, 1: reading the command, 2: waiting for the reload */
  double deadline_ms;
  int generation;
  char *master_error;           /* the master's load error, NULL when it loaded */
  pid_t *pids;                  /* the workers asked to reload */
  int n;
} client;

static int listen_fd = -1;
static client clients[MAX_CLIENTS];

socklen_t pk__control_address(pid_t pid, void *p) {
  struct sockaddr_un *a = p;
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "pikku-%d", (int)pid);
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

int pk__control_open(void) {
  struct sockaddr_un a;
  socklen_t len = pk__control_address(getpid(), &a);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (bind(fd, (struct sockaddr *)&a, len) || listen(fd, 8)) {
    int e = errno;
    close(fd);
    return -e;
  }
  listen_fd = fd;
  return 0;
}

static void drop(client *c) {
  if (c->fd >= 0) close(c->fd);
  free(c->master_error);
  free(c->pids);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

void pk__control_close(void) {
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].state) drop(&clients[i]);
  if (listen_fd >= 0) close(listen_fd);
  listen_fd = -1;
}

int pk__control_pollfds(struct pollfd *pf, int max) {
  int n = 0;
  if (listen_fd >= 0 && n < max) pf[n++] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
  for (int i = 0; i < MAX_CLIENTS && n < max; i++)
    if (clients[i].state == 1) pf[n++] = (struct pollfd){.fd = clients[i].fd, .events = POLLIN};
  return n;
}

/* Writes the whole answer (small: one write on a fresh socket takes it) and closes. */
static void answer(client *c, const char *text) {
  size_t len = strlen(text), off = 0;
  while (off < len) {
    ssize_t w = write(c->fd, text + off, len - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  drop(c);
}

/* Only the user the master runs as (or root) may ask it anything. */
static int same_user(int fd) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) return 0;
  return cred.uid == getuid() || cred.uid == 0;
}

static void accept_clients(double now) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    client *c = NULL;
    for (int i = 0; i < MAX_CLIENTS && !c; i++)
      if (!clients[i].state) c = &clients[i];
    if (!c || !same_user(fd)) {
      static const char busy[] = "error\nthe server refuses: too many commands at once, or another user\n";
      if (write(fd, busy, sizeof busy - 1) < 0) { /* the client is gone: nothing to tell */ }
      close(fd);
      continue;
    }
    c->fd = fd;
    c->state = 1;
    c->deadline_ms = now + ASK_TIMEOUT_MS;
  }
}

int pk__control_serve(const struct pollfd *pf, int n, double now) {
  int asked = 0;
  for (int k = 0; k < n; k++) {
    if (!pf[k].revents) continue;
    if (pf[k].fd == listen_fd) { accept_clients(now); continue; }
    client *c = NULL;
    for (int i = 0; i < MAX_CLIENTS && !c; i++)
      if (clients[i].state == 1 && clients[i].fd == pf[k].fd) c = &clients[i];
    if (!c) continue;
    char cmd[64];
    ssize_t r = read(c->fd, cmd, sizeof cmd - 1);
    if (r < 0 && errno == EAGAIN) continue;
    if (r <= 0) { drop(c); continue; }
    cmd[r] = 0;
    if (!strncmp(cmd, "reload", 6)) {
      c->state = 2;                  /* pk__control_begun fills in the rest */
      c->generation = 0;
      asked++;
    } else {
      answer(c, "error\nunknown command (this server understands: reload)\n");
    }
  }
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].state == 1 && now > clients[i].deadline_ms) drop(&clients[i]);
  return asked;
}

void pk__control_begun(int generation, const char *master_error, const pid_t *pids, int n) {
  for (int i = 0; i < MAX_CLIENTS; i++) {
    client *c = &clients[i];
    if (c->state != 2 || c->generation) continue;
    c->generation = generation;
    c->master_error = master_error ? strdup(master_error) : NULL;
    c->pids = calloc((size_t)(n ? n : 1), sizeof *c->pids);
    if (c->pids) memcpy(c->pids, pids, sizeof *pids * (size_t)n);
    c->n = n;
    c->deadline_ms = 0;
  }
}

/* Whether every worker asked has finished this client's reload; *failed_worker: the first that
 * failed it (0: none). */
static int finished(const client *c, const pid_t *pids, int n, int *failed_worker) {
  *failed_worker = 0;
  for (int i = 0; i < c->n && i < n; i++) {
    if (!c->pids || !c->pids[i] || pids[i] != c->pids[i]) continue;   /* gone or replaced */
    int loaded, failed;
    if (pk__reload_status_read(i + 1, &loaded, &failed, NULL, 0)) continue;
    if (failed >= c->generation) { if (!*failed_worker) *failed_worker = i + 1; continue; }
    if (loaded < c->generation) return 0;
  }
  return 1;
}

void pk__control_check(const pid_t *pids, int n, double now) {
  for (int i = 0; i < MAX_CLIENTS; i++) {
    client *c = &clients[i];
    if (c->state != 2 || !c->generation) continue;
    if (!c->deadline_ms) c->deadline_ms = now + RELOAD_TIMEOUT_MS;
    int failed_worker;
    int done = finished(c, pids, n, &failed_worker);
    if (!done && now < c->deadline_ms) continue;
    char *text = malloc(PK__RELOAD_ERROR_MAX + 256);
    if (!text) { drop(c); continue; }
    if (c->master_error) {
      snprintf(text, PK__RELOAD_ERROR_MAX + 256, "error generation %d\n%s\n", c->generation, c->master_error);
    } else if (failed_worker) {
      char err[PK__RELOAD_ERROR_MAX];
      int loaded, failed;
      err[0] = 0;
      pk__reload_status_read(failed_worker, &loaded, &failed, err, sizeof err);
      snprintf(text, PK__RELOAD_ERROR_MAX + 256, "error generation %d\nworker %d: %s\n", c->generation,
               failed_worker, err);
    } else if (!done) {
      snprintf(text, PK__RELOAD_ERROR_MAX + 256,
               "error generation %d\nsome workers had not finished loading after %d s\n", c->generation,
               RELOAD_TIMEOUT_MS / 1000);
    } else {
      int live = 0;
      for (int k = 0; k < n; k++) live += pids[k] > 0;
      snprintf(text, PK__RELOAD_ERROR_MAX + 256, "ok generation %d, %d worker%s\n", c->generation, live,
               live == 1 ? "" : "s");
    }
    answer(c, text);
    free(text);
  }
}
