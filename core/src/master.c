/* master.c: starts the workers, restarts any that dies, forwards reload and drain signals. */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "lua_host.h"
#include "options.h"

int pk__worker_run(const pk__options *o, int id, int ready_fd, pk__host *loaded);

/* The app as last loaded successfully: a worker (re)started now runs exactly this code. */
static pk__host *current;
static int generation = 1;

typedef struct { pid_t pid; double started_ms; int restart_pending; } slot;

static slot *slots;
static int nworkers;
static int ready_r = -1, ready_w = -1, probe_fd = -1;

static double mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Binds once in the master: a clear error before any fork, and port 0 resolved to a real port. */
static int probe_listen(pk__options *o) {
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  socklen_t len;
  int family;
  struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
  if (inet_pton(AF_INET, o->host, &a4->sin_addr) == 1) {
    family = AF_INET; a4->sin_family = AF_INET; a4->sin_port = htons((uint16_t)o->port); len = sizeof *a4;
  } else if (inet_pton(AF_INET6, o->host, &a6->sin6_addr) == 1) {
    family = AF_INET6; a6->sin6_family = AF_INET6; a6->sin6_port = htons((uint16_t)o->port); len = sizeof *a6;
  } else {
    fprintf(stderr, "pikku: --host \"%s\" is not an IP address\n", o->host);
    return 2;
  }
  probe_fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(probe_fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (bind(probe_fd, (struct sockaddr *)&ss, len)) {
    fprintf(stderr, "pikku: cannot listen on %s:%d: %s\n", o->host, o->port, strerror(errno));
    return 1;
  }
  if (getsockname(probe_fd, (struct sockaddr *)&ss, &len) == 0)
    o->port = ntohs(family == AF_INET ? a4->sin_port : a6->sin6_port);
  return 0;
}

static pid_t spawn(pk__options *o, int i) {
  pid_t pid = fork();
  if (pid == 0) {
    close(ready_r);
    if (probe_fd >= 0) close(probe_fd);
    _exit(pk__worker_run(o, i + 1, ready_w, current));
  }
  if (pid > 0) {
    slots[i].pid = pid;
    slots[i].started_ms = mono_ms();
    slots[i].restart_pending = 0;
    pk__logf("info", "worker %d pid %d started", i + 1, (int)pid);
  } else {
    pk__logf("error", "fork failed: %s", strerror(errno));
  }
  return pid;
}

static void signal_all(int sig) {
  for (int i = 0; i < nworkers; i++)
    if (slots[i].pid > 0) kill(slots[i].pid, sig);
}

static int find_slot(pid_t pid) {
  for (int i = 0; i < nworkers; i++)
    if (slots[i].pid == pid) return i;
  return -1;
}

static void describe_exit(int i, pid_t pid, int status) {
  if (WIFSIGNALED(status))
    pk__logf("warn", "worker %d pid %d killed by signal %d; restarting", i + 1, (int)pid, WTERMSIG(status));
  else
    pk__logf("warn", "worker %d pid %d exited with code %d; restarting", i + 1, (int)pid, WEXITSTATUS(status));
}

/* Waits for every worker to say it listens; a worker that dies first makes startup fail. */
static int wait_ready(void) {
  int ready = 0;
  double until = mono_ms() + 30000;
  while (ready < nworkers) {
    struct pollfd p = {.fd = ready_r, .events = POLLIN};
    int n = poll(&p, 1, 100);
    if (n > 0) {
      char buf[64];
      ssize_t r = read(ready_r, buf, sizeof buf);
      if (r > 0) ready += (int)r;
    }
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      int i = find_slot(pid);
      if (i >= 0) slots[i].pid = 0;
      pk__log_flush();
      fprintf(stderr, "pikku: worker %d failed to start (exit %d); see the error above\n", i + 1,
              WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
      signal_all(SIGKILL);
      while (waitpid(-1, &status, 0) > 0) {}
      return -1;
    }
    if (mono_ms() > until) {
      fprintf(stderr, "pikku: workers did not start within 30 s\n");
      signal_all(SIGKILL);
      return -1;
    }
  }
  return 0;
}

/* Reloads the master's copy (what restarted workers will run), then asks every worker to reload. */
static void reload(const pk__options *o) {
  char err[4096];
  pk__host *h = pk__host_new(o, 0, generation + 1, err, sizeof err);
  if (h) {
    pk__host_free(current);
    current = h;
    generation++;
    pk__logf("info", "reloading the app in every worker (generation %d)", generation);
  } else {
    pk__logf("error", "reload failed, workers keep the previous code: %s", err);
  }
  signal_all(SIGHUP);
}

static int shutdown_workers(const pk__options *o) {
  signal_all(SIGTERM);
  double until = mono_ms() + (double)o->limits.drain_timeout_ms + 5000;
  int alive = 0;
  for (int i = 0; i < nworkers; i++) alive += slots[i].pid > 0;
  while (alive > 0) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      int i = find_slot(pid);
      if (i >= 0) { slots[i].pid = 0; alive--; }
      continue;
    }
    if (pid < 0 && errno == ECHILD) break;
    if (mono_ms() > until) { signal_all(SIGKILL); until = mono_ms() + 60000; }
    usleep(20000);
  }
  pk__logf("info", "stopped");
  pk__host_free(current);
  current = NULL;
  free(slots);
  return 0;
}

int pk__master_run(pk__options *o) {
  int rc = probe_listen(o);
  if (rc) return rc;
  char err[4096];
  current = pk__host_new(o, 0, generation, err, sizeof err);   /* fail fast on a broken app */
  if (!current) {
    fprintf(stderr, "pikku: cannot load the app: %s\n", err);
    return 1;
  }
  nworkers = o->workers > 0 ? o->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (nworkers < 1) nworkers = 1;
  slots = calloc((size_t)nworkers, sizeof *slots);
  int fds[2];
  if (!slots || pipe(fds)) { fprintf(stderr, "pikku: out of resources\n"); return 1; }
  ready_r = fds[0];
  ready_w = fds[1];
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < nworkers; i++)
    if (spawn(o, i) < 0) { signal_all(SIGKILL); return 1; }
  if (wait_ready()) return 1;
  close(probe_fd);
  probe_fd = -1;
  pk__log_flush();
  fprintf(stderr, "pikku: master pid %d, %d workers listening on %s:%d\n", (int)getpid(), nworkers, o->host, o->port);
  struct timespec tick = {0, 100 * 1000 * 1000};
  for (;;) {
    siginfo_t si;
    int sig = sigtimedwait(&set, &si, &tick);
    char buf[64];
    struct pollfd p = {.fd = ready_r, .events = POLLIN};
    while (poll(&p, 1, 0) > 0 && read(ready_r, buf, sizeof buf) > 0) {}
    if (sig == SIGTERM || sig == SIGINT) return shutdown_workers(o);
    if (sig == SIGHUP) reload(o);
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      int i = find_slot(pid);
      if (i < 0) continue;
      describe_exit(i, pid, status);
      slots[i].pid = 0;
      slots[i].restart_pending = 1;
    }
    double now = mono_ms();
    for (int i = 0; i < nworkers; i++) {
      /* restart at once, but not more than once a second per slot (a crash loop) */
      if (slots[i].restart_pending && now - slots[i].started_ms >= 1000) spawn(o, i);
    }
  }
}
