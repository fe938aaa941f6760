/* queues_cmd.c: `pikku queues APP_DIR [retry NAME | purge NAME]`: opens the app's job store file directly (WAL lets it while the server runs) to show counts and failed jobs, retry or purge. */
#include "queues_cmd.h"
#include <stdio.h>
#include <string.h>
#include "clock.h"
#include "cron.h"
#include "host_state.h"
#include "job_store.h"
#include "jobs_config.h"
#include "jobs_store_path.h"
#include "log.h"

#define FAILED_SHOWN 20

static int print_failed(const pk__job *j, void *ud) {
  char when[64];
  pk__cron_format_iso(when, sizeof when, NULL, j->finished_at);
  printf("    %s  attempts %d  failed %s: %s\n", j->key, j->attempts, when, j->error ? j->error : "");
  return 0;
}

static int show(pk__job_store *s, const pk__jobs_config *cfg) {
  int64_t now = pk__wall_ms();
  printf("%-24s %9s %9s %9s %9s %9s\n", "queue", "waiting", "delayed", "active", "completed", "failed");
  for (int i = 0; i < cfg->nqueues; i++) {
    pk__job_counts c;
    if (pk__job_store_counts(s, cfg->queues[i].name, now, &c)) {
      fprintf(stderr, "pikku queues: %s\n", pk__job_store_error(s));
      return 1;
    }
    printf("%-24s %9lld %9lld %9lld %9lld %9lld\n", cfg->queues[i].name, (long long)c.waiting, (long long)c.delayed,
           (long long)c.active, (long long)c.completed, (long long)c.failed);
  }
  for (int i = 0; i < cfg->nqueues; i++) {
    pk__job_counts c;
    if (pk__job_store_counts(s, cfg->queues[i].name, now, &c) || c.failed == 0) continue;
    printf("\nfailed jobs of \"%s\" (latest first%s):\n", cfg->queues[i].name,
           c.failed > FAILED_SHOWN ? ", the last 20" : "");
    if (pk__job_store_list_failed(s, cfg->queues[i].name, FAILED_SHOWN, print_failed, NULL) < 0) {
      fprintf(stderr, "pikku queues: %s\n", pk__job_store_error(s));
      return 1;
    }
  }
  return 0;
}

static int act(pk__job_store *s, const pk__options *o, const pk__jobs_config *cfg) {
  if (!pk__jobs_config_queue(cfg, o->queue_name, strlen(o->queue_name)))
    fprintf(stderr, "pikku queues: note: the app has no queue \"%s\"\n", o->queue_name);
  int n;
  if (!strcmp(o->queue_action, "retry")) {
    n = pk__job_store_retry_failed(s, o->queue_name, pk__wall_ms());
    if (n >= 0) printf("%d failed job(s) of \"%s\" are waiting again\n", n, o->queue_name);
  } else {
    n = pk__job_store_purge(s, o->queue_name);
    if (n >= 0) printf("%d completed or failed job(s) of \"%s\" deleted\n", n, o->queue_name);
  }
  if (n < 0) {
    fprintf(stderr, "pikku queues: %s\n", pk__job_store_error(s));
    return 1;
  }
  return 0;
}

int pk__queues_run(const pk__options *o) {
  char err[4096], path[4096];
  if (pk__jobs_store_path(o, path, sizeof path)) { fprintf(stderr, "pikku queues: the store's path is too long\n"); return 1; }
  if (!strcmp(path, ":memory:")) {
    fprintf(stderr, "pikku queues: the job store is :memory: (it lives in the server's memory only)\n");
    return 1;
  }
  pk__host *h = pk__host_new(o, 0, 1, err, sizeof err);
  if (!h) {
    pk__log_flush();
    fprintf(stderr, "pikku queues: cannot load the app: %s\n", err);
    return 1;
  }
  pk__jobs_config cfg;
  int rc = pk__jobs_config_read(h->L, &cfg, err, sizeof err);
  pk__log_flush();
  pk__host_free(h);
  if (rc) { fprintf(stderr, "pikku queues: %s\n", err); return 1; }
  if (!pk__jobs_store_exists(path)) {
    printf("no job store at %s yet (the server makes it when the app first needs it)\n", path);
    pk__jobs_config_free(&cfg);
    return o->queue_action ? 1 : 0;
  }
  pk__job_store *s;
  if (pk__job_store_open(&s, path, err, sizeof err)) {
    fprintf(stderr, "pikku queues: %s\n", err);
    pk__jobs_config_free(&cfg);
    return 1;
  }
  rc = o->queue_action ? act(s, o, &cfg) : show(s, &cfg);
  fflush(stdout);
  pk__job_store_close(s);
  pk__jobs_config_free(&cfg);
  return rc;
}
