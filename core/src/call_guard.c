/* call_guard.c: the call a worker runs now (pk_rt_call), and the watchdog that stops one over its time limit.
 *
 * A call over its limit is stopped in two steps. First the watchdog signals the worker, whose
 * handler sets a count hook on the Lua state (lua_sethook is safe to call from a signal handler:
 * lua.c does it on Ctrl-C); the hook raises the runtime's overrun error inside the call, which
 * unwinds and is answered like any error (503 ServiceUnavailable, an error frame), and the worker
 * goes on. A hook runs only in the interpreter: a loop LuaJIT compiled to machine code, or a
 * native function, never reaches it. So if the call still runs PK__GUARD_GRACE_MS later, the
 * watchdog signals again and the handler gives the worker up: rescue.c answers every client it
 * holds (503, the stuck call's own too) and the worker exits; the master starts a new one.
 *
 * The watchdog is a small process of its own, forked by the worker when it starts, not a thread:
 * a second thread would make every read and write of the worker go through glibc's cancellation
 * wrappers (about 2.5 % of the worker's user time in a profile, docs/benchmarks.md "Stop 16"). It
 * shares one page with the worker (the call record, and what the next signal asks), holds no file
 * descriptor of the worker's (a listening socket it kept open would go on taking connections after
 * the worker closed its own), and dies with it (PR_SET_PDEATHSIG). */
#define _GNU_SOURCE
#include "call_guard.h"
#include <errno.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>
#include "abandon.h"
#include "buf.h"
#include "clock.h"
#include "http_conn.h"
#include "http_response.h"
#include "http_stream.h"
#include "log.h"
#include "rescue.h"
#include "worker.h"

static pk__call_record own;          /* until pk__call_guard_start, and without a watchdog */
pk__call_record *pk__call = &own;   /* then in a page the worker and its watchdog share */
lua_State *volatile pk__guard_L;

static volatile double *beat;

uint64_t pk__call_clock_ns;

void pk_rt_call_enter(double handle, double cid, double started_ms, double limit_ms, int label) {
  pk__call->handle = handle;
  pk__call->cid = cid;
  pk__call->started_ms = started_ms;
  pk__call->limit_ms = limit_ms;
  pk__call->deadline_ms = limit_ms > 0 ? started_ms + limit_ms : 0;
  pk__call->label = label;
  pk__call->id[0] = 0;
  pk__call->serial++;
  __atomic_thread_fence(__ATOMIC_RELEASE);   /* the fields above are written before running */
  pk__call->running = 1;   /* last: the watchdog reads the rest once it sees this */
}

void pk_rt_call_leave(void) { pk__call->running = 0; }

void pk_rt_call_id(const char *id, size_t len) {
  if (!pk__call->running) return;
  if (len >= sizeof pk__call->id) len = sizeof pk__call->id - 1;
  memcpy(pk__call->id, id, len);
  pk__call->id[len] = 0;
}

/* ---- labels --------------------------------------------------------------------------------- */

static char **labels;   /* labels[id - 1] */
static int nlabels, labels_cap;

int pk_rt_label(const char *text, size_t len) {
  for (int i = 0; i < nlabels; i++)
    if (strlen(labels[i]) == len && !memcmp(labels[i], text, len)) return i + 1;
  if (nlabels == labels_cap) {
    int cap = labels_cap ? labels_cap * 2 : 256;
    char **p = realloc(labels, sizeof *p * (size_t)cap);
    if (!p) return 0;
    labels = p;
    labels_cap = cap;
  }
  char *copy = malloc(len + 1);
  if (!copy) return 0;
  memcpy(copy, text, len);
  copy[len] = 0;
  labels[nlabels++] = copy;
  return nlabels;
}

const char *pk__call_label(int id) { return id >= 1 && id <= nlabels ? labels[id - 1] : NULL; }

/* ---- calls that wait past their limit ------------------------------------------------------- */

double pk__call_guard_deadline(double handle) {
  return pk__call->handle == handle ? pk__call->deadline_ms : 0;
}

int pk__call_guard_expire(pk__conn *c, double now) {
  if (c->call_deadline_ms <= 0 || now <= c->call_deadline_ms || !c->req_handle) return 0;
  double handle = c->req_handle;
  if (c->stream) {   /* a streamed answer under way: its head went out, it can only be cut */
    pk__logf("error", "a streamed answer's call waited past its time limit: the stream is cut");
    if (c->req_host) pk__abandon_later(c->req_host, handle, PK_ABANDON_LIMIT);
    pk__stream_end(handle, 1);
    c->call_deadline_ms = 0;
    return 1;
  }
  pk__request *r = &c->parser.req;
  char gen[33];
  size_t idlen;
  const char *id = pk__request_header(r, "x-request-id", 12, &idlen);
  id = pk__error_id(id, id ? idlen : 0, gen, &idlen);
  static const char msg[] = "the call waited past its time limit and was stopped";
  const char *url = pk__request_url(r);
  int plen = (int)pk__url_path_len(url, r->url_len);
  pk__logf("error", "%s %.*s: %s (its outbound operation is cancelled; errorId=%.*s)",
           llhttp_method_name((llhttp_method_t)r->method), plen, url, msg, (int)idlen, id);
  pk__buf body;
  pk__buf_init(&body);
  if (pk__error_body(&body, 503, pk__W->opts->dev ? msg : "Service unavailable", id, idlen) == 0) {
    if (c->req_host) pk__abandon_later(c->req_host, handle, PK_ABANDON_LIMIT);
    pk__conn_respond(handle, 503, body.data, body.len, "application/json", 16, "Retry-After: 1\r\n", 16, id, idlen);
  }
  pk__buf_free(&body);
  c->call_deadline_ms = 0;
  return 1;
}

/* ---- the hook and the signal ---------------------------------------------------------------- */

static int over_limit(unsigned serial) {
  return pk__call->running && pk__call->serial == serial && pk__call->deadline_ms > 0 &&
         pk__clock_ms() > pk__call->deadline_ms;
}

/* Runs inside the stuck call (the interpreter called it): raises the runtime's overrun error,
 * registry["pikku.overrun"](limit_ms, ran_ms), or a plain message when there is none. */
static void hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  if (!over_limit(pk__call->guard_serial)) return;
  double ran = pk__clock_ms() - pk__call->started_ms;
  lua_getfield(L, LUA_REGISTRYINDEX, "pikku.overrun");
  if (lua_isfunction(L, -1)) {
    lua_pushnumber(L, pk__call->limit_ms);
    lua_pushnumber(L, ran);
    lua_call(L, 2, 1);
  } else {
    lua_pop(L, 1);
    lua_pushfstring(L, "the call ran longer than its time limit of %d ms", (int)pk__call->limit_ms);
  }
  lua_error(L);
}

static void on_signal(int sig) {
  (void)sig;
  int saved = errno;
  if (pk__call->guard_stage == 2) pk__rescue_overrun();     /* does not return */
  lua_State *L = pk__guard_L;
  if (pk__call->guard_stage == 1 && L) lua_sethook(L, hook, LUA_MASKCOUNT, 64);
  errno = saved;
}

/* ---- the watchdog ---------------------------------------------------------------------------- */

static void watchdog(pid_t worker) {
  unsigned serial = 0;
  double hooked_at = 0;
  struct timespec tick = {0, PK__GUARD_TICK_MS * 1000000L};
  pk__call_record *call = pk__call;
  for (;;) {
    nanosleep(&tick, NULL);
    if (getppid() != worker) _exit(0);   /* the worker is gone (PR_SET_PDEATHSIG also says so) */
    double now = pk__clock_ms();
    if (!call->running) continue;
    __atomic_thread_fence(__ATOMIC_ACQUIRE);   /* the record as it was when running was set */
    if (call->deadline_ms <= 0) continue;
    /* a call runs within its limit: the loop is busy, not stuck (the master's watchdog is for
     * the rest: a load that never ends, C code outside a call) */
    if (beat && now <= call->deadline_ms + PK__GUARD_GRACE_MS) *beat = now;
    if (now <= call->deadline_ms) continue;
    unsigned s = call->serial;
    if (s != serial) {                 /* first sight of this call over its limit: the hook */
      serial = s;
      hooked_at = now;
      call->guard_serial = s;
      call->guard_stage = 1;
      kill(worker, SIGUSR2);
    } else if (now > hooked_at + PK__GUARD_GRACE_MS) {
      call->guard_stage = 2;           /* the hook never ran, or the call caught its error */
      kill(worker, SIGUSR2);
      hooked_at = now + 1e9;           /* once */
    }
  }
}

int pk__call_guard_start(volatile double *heartbeat) {
  beat = heartbeat;
  pk__call_record *page = mmap(NULL, sizeof *page, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return -errno;
  *page = *pk__call;                 /* the record so far (no call runs while the worker starts) */
  pk__call = page;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR2, &sa, NULL)) return -errno;
  pid_t worker = getpid();
  pid_t pid = fork();
  if (pid < 0) return -errno;
  if (pid > 0) return 0;
  /* the watchdog process: no descriptor of the worker's, no signal but its own death */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != worker) _exit(0);
  prctl(PR_SET_NAME, "pikku-watchdog");
  close_range(0, ~0u, 0);
  sigset_t all;
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigprocmask(SIG_BLOCK, &all, NULL);
  watchdog(worker);
  _exit(0);
}
