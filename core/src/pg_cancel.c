/* pg_cancel.c: cancel requests for PostgreSQL queries whose connection is dropped, sent from libuv's thread pool. */
#include "pg_cancel.h"
#include <errno.h>
#include <stdlib.h>
#include "log.h"

#define MAX_RUNNING 2
#define MAX_WAITING 256

typedef struct req {
  uv_work_t work;
  PGcancel *cancel;
  int ok;
  char err[256];
  struct req *next;
} req;

static req *head, **tail = &head;   /* waiting their turn */
static int running, waiting;
static uv_loop_t *loop;

static void run(uv_work_t *w) {
  req *r = w->data;
  r->ok = PQcancel(r->cancel, r->err, sizeof r->err);   /* blocks: a connection to the server */
}

static void start_next(void);

static void done(uv_work_t *w, int status) {
  req *r = w->data;
  running--;
  if (status == 0 && !r->ok) pk__logf("warn", "pikku.pg: the cancel request for a dropped query failed: %s", r->err);
  PQfreeCancel(r->cancel);
  free(r);
  start_next();
}

static void start_next(void) {
  while (running < MAX_RUNNING && head) {
    req *r = head;
    head = r->next;
    if (!head) tail = &head;
    waiting--;
    r->work.data = r;
    if (uv_queue_work(loop, &r->work, run, done)) {
      pk__logf("warn", "pikku.pg: cannot queue the cancel request for a dropped query");
      PQfreeCancel(r->cancel);
      free(r);
      continue;
    }
    running++;
  }
}

int pk__pg_cancel_send(uv_loop_t *l, PGconn *pg) {
  if (!pg || PQstatus(pg) != CONNECTION_OK) return -EINVAL;
  if (waiting >= MAX_WAITING) return -EAGAIN;
  PGcancel *cancel = PQgetCancel(pg);
  if (!cancel) return -EINVAL;
  req *r = calloc(1, sizeof *r);
  if (!r) { PQfreeCancel(cancel); return -EAGAIN; }
  r->cancel = cancel;
  loop = l;
  *tail = r;
  tail = &r->next;
  waiting++;
  start_next();
  return 0;
}

int pk__pg_cancel_pending(void) { return running + waiting; }
