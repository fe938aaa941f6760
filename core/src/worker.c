/* worker.c: one worker process: loop, SO_REUSEPORT listener, signals (reload, drain), end-of-turn work. */
#define _GNU_SOURCE   /* SCHED_BATCH */
#include "worker.h"
#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "abandon.h"
#include "arrival.h"
#include "clock.h"
#include "date_cache.h"
#include "dev_page.h"
#include "host_state.h"
#include "http_conn.h"
#include "ws_conn.h"
#include "call_guard.h"
#include "crash.h"
#include "hub_client.h"
#include "jobs_client.h"
#include "log.h"
#include "reload_status.h"
#include "metrics.h"
#include "pg_cancel.h"

pk__worker *pk__W;
volatile double *pk__heartbeat;
volatile int *pk__reload_generation;

static void beat(void) {
  if (pk__heartbeat) *pk__heartbeat = pk__clock_ms();
}
static pk__worker worker;

static void on_connection(uv_stream_t *s, int status) {
  (void)s;
  if (status < 0) pk__conn_accept_failed(status);   /* libuv already closed the waiting connection */
  else pk__conn_accept(pk__W);
}

/* The hub goes first, so that the other workers deliver a publish while this one writes to its own
 * subscribers; and again after, for what close handlers published. */
static void end_of_turn(void) {
  pk__abandon_flush();
  pk__hub_client_flush();
  pk__conn_end_of_turn(pk__W);
  pk__hub_client_flush();
  pk__host_collect();
  pk__log_flush();
}

static void on_prepare(uv_prepare_t *p) {
  pk__arrival_turn_end(p->loop);
  end_of_turn();
}
static void on_check(uv_check_t *c) {
  pk__arrival_turn_end(c->loop);   /* the I/O callbacks of this turn (the timers': on_prepare) */
  end_of_turn();
}

static void stop_all(void) {
  uv_stop(pk__W->loop);
}

static void on_tick(uv_timer_t *t) {
  pk__worker *w = pk__W;
  beat();
  uv_update_time(w->loop);
  pk__date_update(time(NULL));
  uint64_t now = pk__worker_now_ms();
  pk__conn_sweep(w, now);
  if (w->drain_expired) return;   /* finish_expired_drain runs the loop a little longer: said once */
  if (w->draining && ((w->nconns == 0 && !pk__jobs_client_busy()) || now >= w->drain_deadline_ms)) {
    if (w->nconns || pk__jobs_client_busy()) w->drain_expired = 1;   /* finish_expired_drain, after the loop */
    if (w->nconns) {
      pk__logf("warn", "drain timeout: closing %d connection(s) with requests in flight", w->nconns);
      pk__conn_drain_expired(w);   /* each request logged; their calls abandoned at the turn's end */
    }
    if (pk__jobs_client_busy())
      pk__logf("warn", "drain timeout: %d job(s) or tick(s) still running are left (a job goes back to waiting"
               " when the server starts again)", pk__jobs_client_busy());
    stop_all();
  }
}

/* The longest a worker at the end of an expired drain waits for its PostgreSQL cancel requests. */
#define CANCEL_WAIT_MS 1000.0

/* A drain that reached its deadline (on_tick): the requests and channels left were abandoned at the
 * last turn's end (their outbound operations cancelled); every other call still waiting (a job, a
 * tick, a task) has its operation cancelled now, without being resumed. PostgreSQL queries are
 * stopped by cancel requests sent from the thread pool: the loop runs until they are through, for
 * CANCEL_WAIT_MS at most, so that none is lost with the process. */
static void finish_expired_drain(pk__worker *w) {
  pk__host_abandon_everywhere(PK_ABANDON_ALL, 0, PK_ABANDON_DRAIN);
  end_of_turn();
  double until = pk__clock_ms() + CANCEL_WAIT_MS;
  while (pk__pg_cancel_pending() && pk__clock_ms() < until) uv_run(w->loop, UV_RUN_ONCE);   /* ticks wake it */
  if (pk__pg_cancel_pending())
    pk__logf("warn", "drain timeout: %d PostgreSQL cancel request(s) unfinished after %.0f ms: exiting without them",
             pk__pg_cancel_pending(), CANCEL_WAIT_MS);
  pk__log_flush();
}

static void reload(pk__worker *w) {
  char err[4096];
  int next = pk__reload_generation ? *pk__reload_generation : w->generation + 1;
  /* already loaded at this number: that load began after the master asked for it, so it read
   * files at least as new as this signal's (a SIGHUP that arrived while the worker was loading) */
  if (next <= w->generation) return;
  double t0 = pk__clock_ms();
  pk__host *h = pk__host_new(w->opts, w->id, next, err, sizeof err);
  if (!h) {
    pk__logf("error", "reload failed, keeping the previous code: %s", err);
    pk__reload_status_report(w->id, next, err);   /* for pikku reload */
    return;
  }
  pk__host *old = w->host;
  w->host = h;
  w->generation = next;
  pk__host_unref(old);
  pk__logf("info", "reloaded app %s (generation %d) in %.1f ms", w->opts->app_dir, w->generation, pk__clock_ms() - t0);
  pk__reload_status_report(w->id, next, NULL);
}

static void start_drain(pk__worker *w) {
  if (w->draining) return;
  w->draining = 1;
  w->drain_deadline_ms = pk__worker_now_ms() + w->opts->limits.drain_timeout_ms;
  uv_close((uv_handle_t *)&w->listener, NULL);
  pk__conn_drain(w);
}

int pk__worker_replace(const char *why) {
  pk__worker *w = pk__W;
  if (!w || w != &worker) return -ENOENT;   /* pikku test runs no worker of its own */
  if (w->draining) return 0;
  pk__logf("error", "replacing this worker: %s", why);
  start_drain(w);
  return 0;
}

static void on_signal(uv_signal_t *s, int signum) {
  if (signum == SIGHUP) { reload(pk__W); return; }
  start_drain(pk__W);
}

/* EOF on the hub socket: the master is gone (PR_SET_PDEATHSIG sends SIGTERM too; this is sooner). */
static void on_hub_lost(void) {
  pk__logf("warn", "the master is gone; draining");
  pk__jobs_client_lost();
  start_drain(pk__W);
}

static int listen_on(pk__worker *w) {
  const pk__options *o = w->opts;
  struct sockaddr_storage addr;
  int family = AF_INET;
  if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&addr)) {
    if (uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&addr)) {
      pk__logf("error", "cannot listen: \"%s\" is not an IP address", o->host);
      return -EADDRNOTAVAIL;
    }
    family = AF_INET6;
  }
  uv_tcp_init_ex(w->loop, &w->listener, family);
  uv_os_fd_t fd;
  uv_fileno((uv_handle_t *)&w->listener, &fd);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  pk__arrival_enable(fd);   /* the access log times a request from its bytes' arrival */
  int rc = uv_tcp_bind(&w->listener, (struct sockaddr *)&addr, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&w->listener, 1024, on_connection);
  if (rc) {
    pk__logf("error", "cannot listen on %s:%d: %s", o->host, o->port, uv_strerror(rc));
    return -EADDRINUSE;
  }
  return 0;
}

/* --sched batch: SCHED_BATCH keeps a worker woken by new input from preempting the task on its CPU
 * (often the client or proxy that sent it), so it wakes less often and takes more per wake-up. */
static void set_sched(const pk__options *o) {
  if (!o->sched_batch) return;
  struct sched_param p = {0};
  if (sched_setscheduler(0, SCHED_BATCH, &p))
    pk__logf("warn", "--sched batch: cannot set SCHED_BATCH: %s; the worker keeps the normal policy", strerror(errno));
}

int pk__worker_run(const pk__options *o, int id, int ready_fd, int hub_fd, pk__host *loaded) {
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_IGN);
  pk__log_setup(o->log_format, o->access_log, id);
  pk__worker *w = &worker;
  pk__W = w;
  w->opts = o;
  w->id = id;
  w->loop = uv_default_loop();
  w->host = loaded;                  /* inherited from the master, already loaded */
  pk__input_budget_init(&w->input, o->limits.max_input_buffer);
  /* Buffers of 32 KiB and more (request bodies, partial WebSocket messages, big answers) get a
   * mapping of their own, unmapped when freed. glibc's default (128 KiB, raised after each big
   * free up to 32 MiB) serves them from the heap, which keeps what is freed: after 400 held
   * bodies or messages were let go the worker would stay at its peak. */
  mallopt(M_MMAP_THRESHOLD, 32 * 1024);
  w->generation = loaded->generation;
  pk__host_set_worker(loaded, id);
  pk__reload_status_report(id, w->generation, NULL);
  pk__dev_page_init();
  if (listen_on(w)) return 4;
  pk__metrics_attach(id, w->loop);   /* serve --metrics: this worker's counters and gauges */
  set_sched(o);
  pk__crash_install(0);           /* a native crash: what ran is logged, the clients answered */
  int grc = pk__call_guard_start(pk__heartbeat);   /* calls over their time limit are stopped */
  if (grc) pk__logf("warn", "no call watchdog (%s): calls have no time limit in this worker", strerror(-grc));
  pk__date_update(time(NULL));
  uv_signal_init(w->loop, &w->sig_hup);
  uv_signal_start(&w->sig_hup, on_signal, SIGHUP);
  uv_signal_init(w->loop, &w->sig_term);
  uv_signal_start(&w->sig_term, on_signal, SIGTERM);
  uv_signal_init(w->loop, &w->sig_int);
  uv_signal_start(&w->sig_int, on_signal, SIGINT);
  uv_timer_init(w->loop, &w->tick);
  uv_timer_start(&w->tick, on_tick, 250, 250);
  uv_prepare_init(w->loop, &w->prepare);
  uv_prepare_start(&w->prepare, on_prepare);
  uv_check_init(w->loop, &w->check);
  uv_check_start(&w->check, on_check);
  if (hub_fd >= 0) {
    pk__hub_lost = on_hub_lost;
    pk__hub_deliver = pk__channel_deliver;
    int rc = pk__hub_client_start(w->loop, hub_fd, id);
    if (rc) { pk__logf("error", "cannot use the hub socket: %s", uv_strerror(rc)); return 4; }
    pk__jobs_client_start();
  }
  if (ready_fd >= 0) {
    char one = 1;
    if (write(ready_fd, &one, 1) != 1) { /* the master will notice the worker by other means */ }
  }
  uv_run(w->loop, UV_RUN_DEFAULT);
  int all_closed = w->nconns == 0 && !w->drain_expired;   /* a drain that finished: their close callbacks have run */
  end_of_turn();                      /* (and the WebSockets' channel_close calls, which free them) */
  if (w->drain_expired) finish_expired_drain(w);
  /* every share of the input budget must be back then */
  if (all_closed && w->input.used) {
    pk__logf("error", "input budget: %llu bytes still reserved with no connection left (a leak)",
             (unsigned long long)w->input.used);
    pk__log_flush();
  }
  return 0;
}


