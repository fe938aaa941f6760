/* master.c: starts the workers, restarts any that dies, forwards reload and drain signals, hosts the hub. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <uv.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "master.h"
#include "clock.h"
#include "devloop.h"
#include "host.h"
#include "host_state.h"
#include "hub.h"
#include "jobs_master.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "worker.h"

/* The app as last loaded successfully: a worker (re)started now runs exactly this code. */
static pk__host *current;
static volatile double *beats;   /* one heartbeat per slot, in a page shared with the workers */
static int generation = 1;   /* of the code the master holds (what a restarted worker runs) */
static int requested = 1;    /* of the last reload asked for (SIGHUP), whether it loaded or not */

typedef struct { pid_t pid; double started_ms; int restart_pending; } slot;

static slot *slots;
static int nworkers;
static int ready_r = -1, ready_w = -1, probe_fd = -1, sig_fd = -1;
/* The workers' pub/sub fan-out: one socket pair per worker slot (see hub.c, docs/hub.md). */
static pk__hub hub;

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
  int one = 1;
  if (o->port != 0) {
    /* Without SO_REUSEPORT first: a port another server already listens on (even another pikku,
     * whose sockets would otherwise share the port with ours) is refused here. SO_REUSEADDR
     * only lets connections of a previous run in TIME_WAIT not count. */
    int check = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(check, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(check, (struct sockaddr *)&ss, len)) {
      fprintf(stderr, "pikku: cannot listen on %s:%d: %s\n", o->host, o->port, strerror(errno));
      close(check);
      return 1;
    }
    close(check);
  }
  probe_fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
    pk__logf("error", "cannot create the hub socket of worker %d: %s", i + 1, strerror(errno));
    return -1;
  }
  if (beats) {
    beats[i] = pk__clock_ms();          /* loading the app is not being stuck */
    pk__heartbeat = &beats[i];
  }
  pk__log_flush();                 /* else the child inherits the unwritten lines and writes them again */
  pid_t pid = fork();
  if (pid == 0) {
    close(ready_r);
    close(sig_fd);
    close(sv[0]);
    pk__devloop_child();       /* the control socket and the watch are the master's */
    pk__hub_close_fds(&hub);   /* the other workers' sockets are the master's business */
    if (probe_fd >= 0) close(probe_fd);
    _exit(pk__worker_run(o, i + 1, ready_w, sv[1], current));
  }
  close(sv[1]);
  if (pid > 0) {
    pk__hub_attach(&hub, i, sv[0]);
    slots[i].pid = pid;
    slots[i].started_ms = pk__clock_ms();
    slots[i].restart_pending = 0;
    pk__logf("info", "worker %d pid %d started", i + 1, (int)pid);
  } else {
    pk__logf("error", "fork failed: %s", strerror(errno));
    close(sv[0]);
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
  double until = pk__clock_ms() + 30000;
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
      return -EIO;
    }
    if (pk__clock_ms() > until) {
      fprintf(stderr, "pikku: workers did not start within 30 s\n");
      signal_all(SIGKILL);
      return -EIO;
    }
  }
  return 0;
}

static pid_t *worker_pids(void);

/* Reloads the master's copy (what restarted workers will run), then asks every worker to reload. */
static void reload(const pk__options *o) {
  char err[4096];
  int next = ++requested;                 /* the number every worker's reload takes too */
  if (pk__reload_generation) *pk__reload_generation = next;
  pk__host *h = pk__host_new(o, 0, next, err, sizeof err);
  /* first: the error page and pikku reload's answer are ready once the log line is out */
  pk__devloop_reloaded(next, h ? NULL : err, worker_pids(), nworkers);
  if (h) {
    pk__host_free(current);
    current = h;
    generation = next;
    pk__jobs_master_configure(current->L);
    pk__logf("info", "reloading the app in every worker (generation %d)", generation);
  } else {
    /* the workers load the files themselves and log their own outcome (the files may have
     * changed again since): each keeps its previous code if it fails too */
    pk__logf("error", "reload failed in the master (restarted workers keep the previous code): %s", err);
  }
  signal_all(SIGHUP);
}

/* The worker processes by slot (0: none), for the developer loop's reload outcomes. */
static pid_t *worker_pids(void) {
  static pid_t *pids;
  if (!pids) pids = calloc((size_t)nworkers, sizeof *pids);
  for (int i = 0; pids && i < nworkers; i++) pids[i] = slots[i].pid;
  return pids;
}

static int alive_count(void) {
  int alive = 0;
  for (int i = 0; i < nworkers; i++) alive += slots[i].pid > 0;
  return alive;
}

/* Reads every signal queued on the signalfd; returns them as a bit set (1u << signo). */
static unsigned read_signals(void) {
  unsigned got = 0;
  struct signalfd_siginfo si;
  while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
    if (si.ssi_signo < 32) got |= 1u << si.ssi_signo;
  return got;
}

/* A worker's hub socket is closed: the frames in flight to it are dropped, its jobs go back to
 * waiting. If it is still alive it sees the end of its socket and drains. */
static void detach(int i) {
  if (hub.peers[i].fd < 0) return;
  pk__hub_detach(&hub, i);
  pk__jobs_master_worker_gone(i);
}

/* Reads (and routes) what the workers sent. pf[k] is the poll entry of slot slot_of[k]. A worker
 * whose socket ends or misbehaves is detached. */
static void read_hub(const struct pollfd *pf, const int *slot_of, int n) {
  for (int k = 0; k < n; k++) {
    int i = slot_of[k];
    if (hub.peers[i].fd != pf[k].fd || !(pf[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    if (pk__hub_read(&hub, i) < 0) detach(i);
  }
}

/* Writes what waits for each worker. */
static void flush_hub(void) {
  for (int i = 0; i < nworkers; i++)
    if (hub.peers[i].fd >= 0 && pk__hub_pending(&hub, i) && pk__hub_flush(&hub, i) < 0) detach(i);
}

/* What the master holds besides its signals: the jobs, the hub, the app, the worker slots. */
static void release(void) {
  pk__jobs_master_stop();
  pk__hub_free(&hub);
  pk__host_free(current);
  current = NULL;
  free(slots);
  slots = NULL;
}

static int finish(const pk__options *o) {
  pk__devloop_stop(o);
  pk__logf("info", "stopped");
  release();
  close(sig_fd);
  sig_fd = -1;
  return 0;
}

/* A worker whose loop has not ticked for --worker-timeout-ms (a function in an endless loop: Lua
 * code cannot be interrupted inside the worker) is killed; the loop above restarts it. */
static void check_heartbeats(const pk__options *o, double now) {
  double limit = (double)o->limits.worker_timeout_ms;
  if (!beats || limit <= 0) return;
  for (int i = 0; i < nworkers; i++) {
    if (slots[i].pid <= 0 || now - beats[i] < limit) continue;
    pk__logf("error", "worker %d pid %d has not run its event loop for %.0f ms (a function in an endless"
             " loop?): killing it (--worker-timeout-ms %llu)", i + 1, (int)slots[i].pid, now - beats[i],
             (unsigned long long)o->limits.worker_timeout_ms);
    kill(slots[i].pid, SIGKILL);
    beats[i] = now;                /* once: the restart follows from its exit */
  }
}

/* The master's loop: signals (signalfd), restarted workers' ready bytes, and the hub sockets. */
static int run(pk__options *o) {
  enum { DEVLOOP_FDS = 24 };      /* the watch, the control socket and its clients */
  struct pollfd *pf = calloc((size_t)nworkers + 2 + DEVLOOP_FDS, sizeof *pf);
  int *slot_of = calloc((size_t)nworkers, sizeof *slot_of);
  if (!pf || !slot_of) { signal_all(SIGKILL); return 1; }
  int stopping = 0;
  double stop_until = 0;
  for (;;) {
    int np = 0, nh = 0;
    pf[np++] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
    pf[np++] = (struct pollfd){.fd = ready_r, .events = POLLIN};
    for (int i = 0; i < nworkers; i++) {
      if (hub.peers[i].fd < 0) continue;
      slot_of[nh++] = i;
      pf[np++] = (struct pollfd){.fd = hub.peers[i].fd, .events = POLLIN | (pk__hub_pending(&hub, i) ? POLLOUT : 0)};
    }
    int ndev = pk__devloop_pollfds(pf + np, DEVLOOP_FDS);
    np += ndev;
    /* at most 100 ms: dead workers are restarted and heartbeats checked at that pace */
    int n = poll(pf, (nfds_t)np, pk__devloop_timeout(pk__jobs_master_timeout(100)));
    unsigned sigs = 0;
    if (n > 0) {
      if (pf[0].revents) sigs = read_signals();
      char buf[64];
      if (pf[1].revents) while (read(ready_r, buf, sizeof buf) == (ssize_t)sizeof buf) {}
      read_hub(pf + 2, slot_of, nh);
    }
    if (!stopping && (sigs & (1u << SIGTERM | 1u << SIGINT))) {
      /* drain: workers finish what they have (the hub keeps forwarding meanwhile, and their
       * jobs' ends are recorded), then exit; no new tick or job is handed out */
      stopping = 1;
      pk__jobs_master_drain();
      signal_all(SIGTERM);
      stop_until = pk__clock_ms() + (double)o->limits.drain_timeout_ms + 5000;
    } else if (!stopping && ((sigs & 1u << SIGHUP) | pk__devloop_serve(pf + np - ndev, ndev, o))) {
      reload(o);
    }
    if (!stopping) pk__devloop_tick(worker_pids(), nworkers);
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      int i = find_slot(pid);
      if (i < 0) continue;
      slots[i].pid = 0;
      detach(i);   /* frames in flight to it are dropped; the new one starts clean */
      if (stopping) continue;
      describe_exit(i, pid, status);
      slots[i].restart_pending = 1;
      pk__metrics_worker_restarted();
    }
    pk__jobs_master_turn();   /* ticks, jobs, the turn's commit, then the replies are written */
    flush_hub();
    if (stopping) {
      if (alive_count() == 0) break;
      if (pk__clock_ms() > stop_until) {
        pk__logf("warn", "drain: %d worker(s) still running %llu ms after SIGTERM: killing them", alive_count(),
                 (unsigned long long)o->limits.drain_timeout_ms + 5000);
        signal_all(SIGKILL);
        stop_until = pk__clock_ms() + 60000;
      }
      continue;
    }
    double now = pk__clock_ms();
    check_heartbeats(o, now);
    for (int i = 0; i < nworkers; i++) {
      /* restart at once, but not more than once a second per slot (a crash loop) */
      if (slots[i].restart_pending && now - slots[i].started_ms >= 1000) spawn(o, i);
    }
  }
  free(pf);
  free(slot_of);
  return finish(o);
}

int pk__master_run(pk__options *o) {
  int rc = probe_listen(o);
  if (rc) return rc;
  /* a worker's watchdog process (call_guard.c) outliving a killed worker comes back here, where
   * the loop's waitpid reaps it, whatever the system's init does with orphans */
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  /* SQLite keeps memory statistics under a process-wide mutex on every allocation; nobody here
   * reads them, and the job store allocates a lot. Only possible before SQLite's first use. */
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  char err[4096];
  if (o->command == PK_CMD_DEV && pk__devloop_build(o)) return 1;   /* pikku dev: the native code first */
  current = pk__host_new(o, 0, generation, err, sizeof err);   /* fail fast on a broken app */
  if (!current) {
    fprintf(stderr, "pikku: cannot load the app: %s\n", err);
    return 1;
  }
  /* the CPUs this process may run on (taskset, cgroup cpusets), not every CPU of the machine */
  nworkers = o->workers > 0 ? o->workers : (int)uv_available_parallelism();
  if (nworkers < 1) nworkers = 1;
  slots = calloc((size_t)nworkers, sizeof *slots);
  /* one heartbeat per worker, then the reload generation */
  void *page = mmap(NULL, sizeof *beats * (size_t)(nworkers + 1), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page != MAP_FAILED) {               /* without it, no watchdog: the rest works the same */
    beats = page;
    pk__reload_generation = (volatile int *)&beats[nworkers];
    *pk__reload_generation = requested;
  }
  if (o->metrics && pk__metrics_setup(nworkers)) { fprintf(stderr, "pikku: out of memory for --metrics\n"); return 1; }
  int fds[2];
  if (!slots || pk__hub_init(&hub, nworkers) || pipe(fds)) { fprintf(stderr, "pikku: out of resources\n"); return 1; }
  /* the job store opens (and recovers) now: a broken store stops the start before any fork */
  if (pk__jobs_master_start(&hub, nworkers, o, current->L, err, sizeof err)) {
    pk__log_flush();
    fprintf(stderr, "pikku: %s\n", err);
    release();
    close(fds[0]);
    close(fds[1]);
    return 1;
  }
  if (pk__devloop_start(o, nworkers)) return 1;
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
  sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sig_fd < 0) { fprintf(stderr, "pikku: signalfd: %s\n", strerror(errno)); return 1; }
  for (int i = 0; i < nworkers; i++)
    if (spawn(o, i) < 0) { signal_all(SIGKILL); return 1; }
  if (wait_ready()) return 1;
  close(probe_fd);
  probe_fd = -1;
  fcntl(ready_r, F_SETFL, fcntl(ready_r, F_GETFL) | O_NONBLOCK);
  if (pk__log_json())    /* one format per stream: a JSON line like the others */
    pk__logf("info", "master pid %d, %d worker%s listening on %s:%d", (int)getpid(), nworkers,
             nworkers == 1 ? "" : "s", o->host, o->port);
  pk__log_flush();
  if (!pk__log_json())
    fprintf(stderr, "pikku: master pid %d, %d worker%s listening on %s:%d\n", (int)getpid(), nworkers,
            nworkers == 1 ? "" : "s", o->host, o->port);
  return run(o);
}
