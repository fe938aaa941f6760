/* worker.h: a worker process: its loop, listener, the connections it holds and its signals. */
#ifndef PK_WORKER_H
#define PK_WORKER_H
#include <stdint.h>
#include <uv.h>
#include "host.h"
#include "input_budget.h"
#include "options.h"

struct pk__conn;

typedef struct pk__worker {
  uv_loop_t *loop;
  const pk__options *opts;
  int id;
  uv_tcp_t listener;
  uv_signal_t sig_hup, sig_term, sig_int;
  uv_timer_t tick;
  uv_prepare_t prepare;
  uv_check_t check;
  pk__host *host;               /* current Lua state */
  int generation;
  struct pk__conn *conns;
  int nconns;
  struct pk__conn **slots;
  uint32_t nslots, free_slot_hint;
  uint32_t *serials;            /* private: per slot, the serial of its last handle (conn.c) */
  struct pk__conn *flush_list, *resume_list;
  uint64_t turn;                /* read-only: counts the ends of turns (pk__conn_end_of_turn) */
  pk__input_budget input;       /* request bodies being read and partial WebSocket messages (--max-input-buffer) */
  int draining;
  int drain_expired;            /* the drain's deadline passed: what is left is abandoned, then exit */
  uint64_t drain_deadline_ms;
} pk__worker;

extern pk__worker *pk__W;

/* The loop's cached time in milliseconds (what deadlines and timers compare with); pk__W must
 * be set. */
static inline uint64_t pk__worker_now_ms(void) { return uv_now(pk__W->loop); }

/* Runs a worker until it has drained; returns the exit code. hub_fd: this worker's end of its
 * socket pair to the master's hub, -1 for none. loaded: the app the master loaded before forking. */
int pk__worker_run(const pk__options *o, int id, int ready_fd, int hub_fd, pk__host *loaded);
/* Replaces this worker (its Lua state cannot recover, say): logs why, stops accepting, drains and
 * exits; the master starts a new one. 0, or -ENOENT outside a serving worker. */
int pk__worker_replace(const char *why);
/* The worker's heartbeat: set by the master (before fork) to this worker's slot of a page shared
 * with it; the worker stamps it with CLOCK_MONOTONIC milliseconds on every tick. NULL: none. */
extern volatile double *pk__heartbeat;
/* The generation a reload asks for, in the same shared page, written by the master before it
 * signals the workers (so a worker that got several SIGHUPs at once takes the last number). NULL:
 * none, each worker counts its own. */
extern volatile int *pk__reload_generation;
#endif
