/* jobs_config.h: a loaded app's schedules and queues as C settings (read from its Lua state once per load). */
#ifndef PK_JOBS_CONFIG_H
#define PK_JOBS_CONFIG_H
#include <lua.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pk__schedule_cfg {
  char *name;
  char *expr;            /* the cron expression as written */
  char *timezone;        /* an IANA name; "UTC" by default */
  int overlap_allow;     /* overlap = "allow" (else "skip") */
  int catch_up;
} pk__schedule_cfg;

typedef struct pk__queue_cfg {
  char *name;
  int worker;            /* 0: a dead-letter queue no worker runs (jobs only wait there) */
  int concurrency;       /* jobs at once per worker process */
  int retry_attempts;    /* retries after the first attempt */
  int64_t retry_delay;   /* ms */
  int exponential;       /* retry_backoff = "exponential" */
  int64_t timeout;       /* ms */
  char *dead_letter;     /* NULL: none */
} pk__queue_cfg;

typedef struct pk__jobs_config {
  pk__schedule_cfg *schedules;
  int nschedules;
  pk__queue_cfg *queues;   /* sorted by name; pikku's run-later queue among them */
  int nqueues;
} pk__jobs_config;

/* Calls require("pikku.runtime").jobs_config() in L (an app is loaded there) and copies the
 * result (a runtime without jobs_config has none). Returns 0, or -EINVAL / -ENOMEM with err set. */
int pk__jobs_config_read(lua_State *L, pk__jobs_config *c, char *err, size_t errlen);
void pk__jobs_config_free(pk__jobs_config *c);
/* The queue named name (len bytes), or NULL. */
const pk__queue_cfg *pk__jobs_config_queue(const pk__jobs_config *c, const char *name, size_t len);
/* 1 when the app wires a queue worker or a scheduler of its own (pikku's run-later queue does not
 * count). A value. */
int pk__jobs_config_declares_any(const pk__jobs_config *c);
#endif
