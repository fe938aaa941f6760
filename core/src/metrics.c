/* metrics.c: request counters, latency histograms and gauges kept in C, in memory shared by the workers, rendered in the Prometheus text format. */
#include "metrics.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "http_conn.h"
#include "hub_client.h"
#include "worker.h"
#include "ws_topics.h"

/* Upper bounds of the latency buckets, in seconds (the last, +Inf, is implied). */
static const double bounds[PK__METRICS_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                    0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
#define LAG_WINDOW 60   /* samples (a quarter second each) the lag's maximum is taken over */

typedef struct {
  char label[PK__METRICS_LABEL];          /* "GET /todos/:id"; written once, before nroutes counts it */
  uint16_t status[PK__METRICS_STATUSES];  /* 0: free; 1: "other" */
  uint64_t by_status[PK__METRICS_STATUSES];
  uint64_t bucket[PK__METRICS_BUCKETS];   /* not cumulative here: each request counts in one */
  uint64_t count;
  uint64_t sum_us;
} route_stats;

typedef struct {
  uint64_t conns[3];                      /* http, websocket, sse (sampled) */
  uint64_t hub_backlog, input_used;       /* sampled */
  uint64_t lag_ns, lag_max_ns;            /* sampled */
  uint32_t nroutes;                       /* routes in use (release/acquire with label) */
  uint32_t alive;                         /* the worker attached once */
  route_stats routes[PK__METRICS_ROUTES];
} worker_stats;

typedef struct {
  uint64_t restarts;
  int nworkers;
  worker_stats workers[];
} shared_stats;

static shared_stats *S;        /* the shared memory, or NULL: metrics off */
static worker_stats *me;       /* this worker's part */
static uv_timer_t sampler;
static uint64_t last_tick_ns;
static uint64_t lag_ring[LAG_WINDOW];
static int lag_pos;

int pk__metrics_setup(int nworkers) {
  size_t size = sizeof *S + sizeof(worker_stats) * (size_t)nworkers;
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return -ENOMEM;
  S = p;
  S->nworkers = nworkers;
  return 0;
}

int pk__metrics_on(void) { return S != NULL; }

void pk__metrics_worker_restarted(void) {
  if (S) __atomic_add_fetch(&S->restarts, 1, __ATOMIC_RELAXED);
}

/* ---- sampling --------------------------------------------------------------------------------- */

static void sample(uv_timer_t *t) {
  uint64_t now = uv_hrtime();
  uint64_t expected = last_tick_ns + 250 * 1000000ull;
  uint64_t lag = last_tick_ns && now > expected ? now - expected : 0;
  last_tick_ns = now;
  lag_ring[lag_pos++ % LAG_WINDOW] = lag;
  uint64_t max = 0;
  for (int i = 0; i < LAG_WINDOW; i++) if (lag_ring[i] > max) max = lag_ring[i];
  uint64_t conns[3] = {0, 0, 0};
  for (pk__conn *c = pk__W->conns; c; c = c->next) conns[c->ws ? (c->ws->sse ? 2 : 1) : 0]++;
  memcpy(me->conns, conns, sizeof conns);
  me->hub_backlog = pk__hub_client_backlog();
  me->input_used = pk__W->input.used;
  me->lag_ns = lag;
  me->lag_max_ns = max;
}

void pk__metrics_attach(int id, uv_loop_t *loop) {
  if (!S || id < 1 || id > S->nworkers) return;
  me = &S->workers[id - 1];   /* a restarted worker goes on counting where its predecessor was */
  me->alive = 1;
  last_tick_ns = 0;
  uv_timer_init(loop, &sampler);
  uv_unref((uv_handle_t *)&sampler);   /* never what keeps a draining worker alive */
  uv_timer_start(&sampler, sample, 0, 250);
}

/* ---- counting --------------------------------------------------------------------------------- */

static int slot_of(const char *label) {
  uint32_t n = __atomic_load_n(&me->nroutes, __ATOMIC_ACQUIRE);
  for (uint32_t i = 0; i < n; i++)
    if (strcmp(me->routes[i].label, label) == 0) return (int)i;
  if (n >= PK__METRICS_ROUTES - 1) {   /* full: the last slot takes the rest */
    route_stats *o = &me->routes[PK__METRICS_ROUTES - 1];
    if (!o->label[0]) {
      snprintf(o->label, sizeof o->label, "- (other)");
      __atomic_store_n(&me->nroutes, PK__METRICS_ROUTES, __ATOMIC_RELEASE);
    }
    return PK__METRICS_ROUTES - 1;
  }
  snprintf(me->routes[n].label, sizeof me->routes[n].label, "%s", label);
  __atomic_store_n(&me->nroutes, n + 1, __ATOMIC_RELEASE);
  return (int)n;
}

void pk__metrics_request(const char *label, int *slot_cache, int status, double ms) {
  if (!me) return;
  if (!label) label = "- (unmatched)";
  int slot = slot_cache && *slot_cache >= 0 ? *slot_cache : slot_of(label);
  if (slot_cache) *slot_cache = slot;
  route_stats *r = &me->routes[slot];
  int k = 0;
  while (k < PK__METRICS_STATUSES - 1 && r->status[k] && r->status[k] != status) k++;
  if (k == PK__METRICS_STATUSES - 1) r->status[k] = 1;   /* the last entry: every other status */
  else if (!r->status[k]) r->status[k] = (uint16_t)status;
  r->by_status[k]++;
  double s = ms / 1000.0;
  int b = 0;
  while (b < PK__METRICS_BUCKETS && s > bounds[b]) b++;
  if (b < PK__METRICS_BUCKETS) r->bucket[b]++;
  r->count++;
  r->sum_us += (uint64_t)(ms * 1000.0);
}

/* ---- rendering -------------------------------------------------------------------------------- */

typedef struct {
  const char *label;
  uint16_t status[64];
  uint64_t by_status[64];
  int nstatus;
  uint64_t bucket[PK__METRICS_BUCKETS], count, sum_us;
} merged;

#define LIT(b, s) pk__buf_append((b), (s), sizeof(s) - 1)

/* method="GET",route="/x" from "GET /x", label values escaped (\\, \", \n) */
static void labels(pk__buf *out, const char *label) {
  const char *sp = strchr(label, ' ');
  LIT(out, "method=\"");
  pk__buf_append(out, label, sp ? (size_t)(sp - label) : 0);
  LIT(out, "\",route=\"");
  for (const char *p = sp ? sp + 1 : label; *p; p++) {
    if (*p == '\\' || *p == '"') pk__buf_append(out, "\\", 1);
    if (*p == '\n') { LIT(out, "\\n"); continue; }
    pk__buf_append(out, p, 1);
  }
  LIT(out, "\"");
}

static void num(pk__buf *out, double v) {
  char tmp[48];
  int n = snprintf(tmp, sizeof tmp, "%.9g", v);
  pk__buf_append(out, tmp, (size_t)n);
}

/* A line per live worker, `name{worker="N"} seconds`: its last event-loop lag, or (max) the largest
 * of the last 15 seconds. */
static void lag_gauge(pk__buf *out, const char *name, int max) {
  for (int w = 0; w < S->nworkers; w++) {
    if (!S->workers[w].alive) continue;
    pk__buf_append_str(out, name);
    LIT(out, "{worker=\"");
    pk__buf_append_uint(out, (unsigned long long)w + 1);
    LIT(out, "\"} ");
    num(out, (double)(max ? S->workers[w].lag_max_ns : S->workers[w].lag_ns) / 1e9);
    LIT(out, "\n");
  }
}

int pk__metrics_render(pk__buf *out) {
  if (!S) return -ENOENT;
  int cap = PK__METRICS_ROUTES * (S->nworkers < 4 ? S->nworkers : 4), n = 0;
  merged *m = calloc((size_t)cap, sizeof *m);
  if (!m) return -ENOMEM;
  uint64_t conns[3] = {0, 0, 0}, backlog = 0, input = 0;
  for (int w = 0; w < S->nworkers; w++) {
    worker_stats *ws = &S->workers[w];
    for (int i = 0; i < 3; i++) conns[i] += ws->conns[i];
    backlog += ws->hub_backlog;
    input += ws->input_used;
    uint32_t nr = __atomic_load_n(&ws->nroutes, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < nr; i++) {
      route_stats *r = &ws->routes[i];
      int k = 0;
      while (k < n && strcmp(m[k].label, r->label)) k++;
      if (k == n) {
        if (n == cap) {
          merged *p = realloc(m, sizeof *m * (size_t)cap * 2);
          if (!p) { free(m); return -ENOMEM; }
          memset(p + cap, 0, sizeof *m * (size_t)cap);
          m = p;
          cap *= 2;
        }
        m[n++].label = r->label;
      }
      merged *g = &m[k];
      for (int s = 0; s < PK__METRICS_STATUSES && r->status[s]; s++) {
        int j = 0;
        while (j < g->nstatus && g->status[j] != r->status[s]) j++;
        if (j == g->nstatus && g->nstatus < 64) g->status[g->nstatus++] = r->status[s];
        if (j < 64) g->by_status[j] += r->by_status[s];
      }
      for (int b = 0; b < PK__METRICS_BUCKETS; b++) g->bucket[b] += r->bucket[b];
      g->count += r->count;
      g->sum_us += r->sum_us;
    }
  }
  LIT(out, "# HELP pikku_http_requests_total HTTP requests answered, by route (its pattern) and status.\n"
           "# TYPE pikku_http_requests_total counter\n");
  for (int k = 0; k < n; k++)
    for (int j = 0; j < m[k].nstatus; j++) {
      LIT(out, "pikku_http_requests_total{");
      labels(out, m[k].label);
      LIT(out, ",status=\"");
      if (m[k].status[j] == 1) LIT(out, "other");
      else pk__buf_append_uint(out, m[k].status[j]);
      LIT(out, "\"} ");
      pk__buf_append_uint(out, m[k].by_status[j]);
      LIT(out, "\n");
    }
  LIT(out, "# HELP pikku_http_request_duration_seconds Time from a request's first bytes to its answer, by route.\n"
           "# TYPE pikku_http_request_duration_seconds histogram\n");
  for (int k = 0; k < n; k++) {
    uint64_t cum = 0;
    for (int b = 0; b <= PK__METRICS_BUCKETS; b++) {
      if (b < PK__METRICS_BUCKETS) cum += m[k].bucket[b];
      LIT(out, "pikku_http_request_duration_seconds_bucket{");
      labels(out, m[k].label);
      LIT(out, ",le=\"");
      if (b < PK__METRICS_BUCKETS) num(out, bounds[b]); else LIT(out, "+Inf");
      LIT(out, "\"} ");
      pk__buf_append_uint(out, b < PK__METRICS_BUCKETS ? cum : m[k].count);
      LIT(out, "\n");
    }
    LIT(out, "pikku_http_request_duration_seconds_sum{");
    labels(out, m[k].label);
    LIT(out, "} ");
    num(out, (double)m[k].sum_us / 1e6);
    LIT(out, "\npikku_http_request_duration_seconds_count{");
    labels(out, m[k].label);
    LIT(out, "} ");
    pk__buf_append_uint(out, m[k].count);
    LIT(out, "\n");
  }
  free(m);
  static const char *const types[3] = {"http", "websocket", "sse"};
  LIT(out, "# HELP pikku_open_connections Open client connections, by kind (sampled four times a second).\n"
           "# TYPE pikku_open_connections gauge\n");
  for (int i = 0; i < 3; i++) {
    LIT(out, "pikku_open_connections{type=\"");
    pk__buf_append_str(out, types[i]);
    LIT(out, "\"} ");
    pk__buf_append_uint(out, conns[i]);
    LIT(out, "\n");
  }
  LIT(out, "# HELP pikku_hub_backlog_bytes Bytes of publishes waiting for the master, all workers.\n"
           "# TYPE pikku_hub_backlog_bytes gauge\npikku_hub_backlog_bytes ");
  pk__buf_append_uint(out, backlog);
  LIT(out, "\n# HELP pikku_input_buffer_bytes Bytes of request bodies and partial WebSocket messages held, all workers.\n"
           "# TYPE pikku_input_buffer_bytes gauge\npikku_input_buffer_bytes ");
  pk__buf_append_uint(out, input);
  LIT(out, "\n# HELP pikku_event_loop_lag_seconds How late the worker's event loop ran a timer, last sample.\n"
           "# TYPE pikku_event_loop_lag_seconds gauge\n");
  lag_gauge(out, "pikku_event_loop_lag_seconds", 0);
  LIT(out, "# HELP pikku_event_loop_lag_max_seconds The largest event-loop lag of the last 15 seconds.\n"
           "# TYPE pikku_event_loop_lag_max_seconds gauge\n");
  lag_gauge(out, "pikku_event_loop_lag_max_seconds", 1);
  LIT(out, "# HELP pikku_worker_restarts_total Workers the master started again after they died.\n"
           "# TYPE pikku_worker_restarts_total counter\npikku_worker_restarts_total ");
  pk__buf_append_uint(out, __atomic_load_n(&S->restarts, __ATOMIC_RELAXED));
  LIT(out, "\n# HELP pikku_reloads_total Reloads asked for (SIGHUP) since the start.\n"
           "# TYPE pikku_reloads_total counter\npikku_reloads_total ");
  pk__buf_append_uint(out, pk__reload_generation && *pk__reload_generation > 1 ? (unsigned long long)*pk__reload_generation - 1 : 0);
  LIT(out, "\n# HELP pikku_workers Worker processes configured.\n# TYPE pikku_workers gauge\npikku_workers ");
  pk__buf_append_uint(out, (unsigned long long)S->nworkers);
  LIT(out, "\n");
  return 0;
}
