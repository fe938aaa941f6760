/* metrics.h: request counters, latency histograms and gauges kept in C, in memory shared by the workers, rendered in the Prometheus text format. */
#ifndef PK_METRICS_H
#define PK_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include "buf.h"

#define PK__METRICS_ROUTES 256     /* route series per worker; later ones count as "(other)" */
#define PK__METRICS_STATUSES 12    /* distinct statuses per route; later ones count as status "other" */
#define PK__METRICS_BUCKETS 14     /* latency histogram buckets, +Inf aside */
#define PK__METRICS_LABEL 112      /* "METHOD /route" bytes */

/* The master, before forking (serve --metrics): the memory the workers count in. Returns 0 or -ENOMEM. */
int pk__metrics_setup(int nworkers);
/* The master: a worker died and is restarted. */
void pk__metrics_worker_restarted(void);
/* The worker `id` (1..n), once its loop exists: its counters, and a timer that samples its gauges
 * (connections, hub backlog, event-loop lag) four times a second. Nothing without setup. */
void pk__metrics_attach(int id, uv_loop_t *loop);
/* Whether metrics are kept (serve --metrics in this process tree). */
int pk__metrics_on(void);
/* One answered request: its route's label ("GET /todos/:id"; NULL: not routed), status and time. */
void pk__metrics_request(const char *label, int *slot_cache, int status, double ms);
/* Appends every worker's metrics, summed, in the Prometheus text exposition format 0.0.4. */
int pk__metrics_render(pk__buf *out);
/* The Content-Type of that text. */
#define PK__METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#endif
