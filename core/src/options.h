/* options.h: the command line of `pikku` and the settings it produces. */
#ifndef PK_OPTIONS_H
#define PK_OPTIONS_H
#include <stdint.h>
#include "http_parser.h"

enum { PK_CMD_SERVE, PK_CMD_HELP, PK_CMD_VERSION, PK_CMD_TEST, PK_CMD_CODEGEN, PK_CMD_ROUTES,
       PK_CMD_DEV, PK_CMD_BUILD, PK_CMD_RELOAD, PK_CMD_SCHEDULES, PK_CMD_QUEUES };

typedef struct pk__options {
  int command;
  const char *app_dir;
  const char *host;
  int port;
  int workers;           /* 0: one per core */
  int dev;
  int test;              /* `pikku test`: functions run without a transport */
  int log_format;        /* PK_LOG_TEXT / PK_LOG_JSON */
  int access_log;
  int sched_batch;       /* --sched batch: workers run under SCHED_BATCH */
  const char *jobs_db;   /* --jobs-db PATH (NULL: $PIKKU_JOBS_DB or APP_DIR/.pikku/jobs.db) */
  const char *queue_action;  /* pikku queues APP_DIR retry|purge NAME: the action, or NULL */
  const char *queue_name;    /* ... and the queue */
  int metrics;           /* --metrics: GET /_pikku/metrics in the Prometheus format (metrics.c) */
  pk__limits limits;
  const char *out_dir;   /* codegen --out DIR */
  const char *check_dir; /* codegen --check OLD_DIR */
  const char *api_docs;  /* serve --api-docs PATH|off: the API page (NULL: on at /docs under --dev only) */
  /* the developer loop and the guards (docs/server.md, docs/native.md) */
  int watch;                 /* --watch (and pikku dev): reload when the app's files change */
  const char *pid_file;      /* serve/dev --pid-file PATH; pikku reload --pid-file PATH */
  long long reload_pid;      /* pikku reload --pid PID (0: from --pid-file) */
  const char *filter;        /* pikku test --filter PATTERN: only the tests whose name matches */
  uint64_t call_timeout_ms;  /* --call-timeout-ms: a call's time limit unless the app sets one (0: none) */
  uint64_t max_lua_memory;   /* --max-lua-memory: bytes one Lua state of a worker may hold (0: no ceiling) */
} pk__options;

/* Parses argv. Returns 0, or -EINVAL (-ENOENT: no app.lua) with a one-line message in err (exit code 2). */
int pk__options_parse(pk__options *o, int argc, char **argv, char *err, size_t errlen);
extern const char pk__usage[];
#endif
