/* schedules_cmd.c: `pikku schedules APP_DIR`: loads the app (no server) and prints each schedule with its next five run times. */
#include "schedules_cmd.h"
#include <stdio.h>
#include "clock.h"
#include "cron.h"
#include "host_state.h"
#include "jobs_config.h"
#include "log.h"

#define NEXT_RUNS 5

static int print_schedule(const pk__schedule_cfg *s, int64_t now) {
  pk__cron c;
  pk__tz *tz = NULL;
  char err[256];
  if (pk__cron_parse(&c, s->expr, err, sizeof err) || pk__tz_load(&tz, s->timezone, err, sizeof err)) {
    fprintf(stderr, "pikku schedules: schedule \"%s\": %s\n", s->name, err);
    return 1;
  }
  printf("%s  \"%s\"  %s  overlap=%s%s\n", s->name, s->expr, s->timezone, s->overlap_allow ? "allow" : "skip",
         s->catch_up ? "  catch_up" : "");
  int64_t t = now;
  int n = 0;
  for (; n < NEXT_RUNS; n++) {
    t = pk__cron_next(&c, tz, t);
    if (t < 0) break;
    char iso[64];
    pk__cron_format_iso(iso, sizeof iso, tz, t);
    printf("  %s\n", iso);
  }
  if (n == 0) printf("  (never runs: no such date comes)\n");
  pk__tz_free(tz);
  return 0;
}

int pk__schedules_run(const pk__options *o) {
  char err[4096];
  pk__host *h = pk__host_new(o, 0, 1, err, sizeof err);
  if (!h) {
    pk__log_flush();
    fprintf(stderr, "pikku schedules: cannot load the app: %s\n", err);
    return 1;
  }
  pk__jobs_config cfg;
  int rc = pk__jobs_config_read(h->L, &cfg, err, sizeof err);
  pk__log_flush();
  if (rc) {
    fprintf(stderr, "pikku schedules: %s\n", err);
    pk__host_free(h);
    return 1;
  }
  int64_t now = pk__wall_ms();
  if (cfg.nschedules == 0) printf("no schedules in %s (pikku.wire_scheduler wires one)\n", o->app_dir);
  int failed = 0;
  for (int i = 0; i < cfg.nschedules; i++) failed |= print_schedule(&cfg.schedules[i], now);
  fflush(stdout);
  pk__jobs_config_free(&cfg);
  pk__host_free(h);
  return failed;
}
