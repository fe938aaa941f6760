/* options.c: parses `pikku serve|dev|test|build|codegen|routes|schedules|queues APP_DIR [flags]`, `pikku reload`, `pikku --help` and `pikku version`. */
#include "options.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "log.h"

const char pk__usage[] =
  "usage: pikku serve APP_DIR [options]\n"
  "       pikku dev APP_DIR      serve for development: --dev --watch, one worker unless\n"
  "                              --workers says otherwise; native sources rebuilt on save\n"
  "       pikku test APP_DIR [--filter PATTERN]\n"
  "                              runs APP_DIR/tests/*_test.lua inside the host, no server;\n"
  "                              --filter: only tests whose full name matches the Lua pattern\n"
  "       pikku build APP_DIR    compiles APP_DIR/native/*.c (and native/NAME/*.c) into\n"
  "                              APP_DIR/.pikku/native/NAME.so against pikku.h (docs/native.md)\n"
  "       pikku reload --pid-file PATH | --pid PID\n"
  "                              reloads a running server and says whether the new code loaded\n"
  "                              (prints the load error and exits 1 if not)\n"
  "       pikku codegen APP_DIR --out DIR [--check OLD_DIR]\n"
  "                              writes openapi.json, client.ts and client.lua (docs/codegen.md);\n"
  "                              --check lists what would break clients of OLD_DIR's output\n"
  "       pikku routes APP_DIR   every wiring of the app as a table\n"
  "       pikku schedules APP_DIR  lists the app's schedules with their next five run times\n"
  "       pikku queues APP_DIR [retry NAME | purge NAME]\n"
  "                              the job store's queues: counts and failed jobs; retry puts a\n"
  "                              queue's failed jobs back, purge deletes its finished ones\n"
  "       pikku version | pikku --help\n"
  "\n"
  "Serves the Lua app in APP_DIR (its app.lua wires functions to routes).\n"
  "\n"
  "options:\n"
  "  --host H                 address to listen on (default 127.0.0.1)\n"
  "  --port P                 port (default 8080)\n"
  "  --workers N              worker processes (default: one per CPU it may run on)\n"
  "  --dev                    development mode: error details in responses, a load error\n"
  "                           shown to the next request\n"
  "  --watch                  reload when a .lua file or a native source of APP_DIR changes\n"
  "  --pid-file PATH          write the master's pid there (for pikku reload --pid-file)\n"
  "  --log-format text|json   log line format (default text)\n"
  "  --no-access-log          no line per request\n"
  "  --metrics                serve GET /_pikku/metrics (Prometheus text format) on the same\n"
  "                           listener: keep it off a public address (docs/server.md)\n"
  "  --api-docs PATH|off      serve GET /openapi.json and the API page at PATH (default: at\n"
  "                           /docs under --dev, off otherwise)\n"
  "  --max-header-size BYTES  request line + headers (default 16384; over: 431)\n"
  "  --max-body-size BYTES    request body (default 1048576; over: 413)\n"
  "  --max-input-buffer BYTES what one worker holds of request bodies being read and of\n"
  "                           partial WebSocket messages, together (default 67108864; over:\n"
  "                           503, WebSocket close 1013)\n"
  "  --max-uri-size BYTES     request target (default 8192; over: 414)\n"
  "  --header-timeout-ms MS   time to receive the headers (default 10000; then 408)\n"
  "  --body-timeout-ms MS     time to receive the body (default 30000; then 408), and to\n"
  "                           finish a WebSocket message from its first frame (then close 1008)\n"
  "  --idle-timeout-ms MS     keep-alive wait for the next request (default 60000)\n"
  "  --drain-timeout-ms MS    on SIGTERM, longest wait for requests in flight (default 30000)\n"
  "  --ws-max-message BYTES   WebSocket message size (default 1048576; over: close 1009)\n"
  "  --ws-send-buffer BYTES   bytes queued to a WebSocket/SSE client that the kernel has not\n"
  "                           taken: it does not read (default 4194304; over: close 1008)\n"
  "  --ws-ping-ms MS          WebSocket idle time before a ping; no pong in as long: close\n"
  "                           (default 30000)\n"
  "  --call-timeout-ms MS     a call's time limit, unless the app or the function sets one\n"
  "                           (default 30000; 0: none): over it the caller gets 503\n"
  "  --max-lua-memory BYTES   what one Lua state of a worker may hold (default 1073741824;\n"
  "                           0: no ceiling): an allocation over it fails the call\n"
  "  --worker-timeout-ms MS   a worker whose event loop is stuck this long outside a call\n"
  "                           (loading the app) is killed and restarted (default 30000; 0: never)\n"
  "  --jobs-db PATH            the job store of queues and schedules (SQLite; default\n"
  "                           $PIKKU_JOBS_DB, else APP_DIR/.pikku/jobs.db; :memory: keeps\n"
  "                           it in the master's memory only: faster, lost on restart)\n"
  "  --sched normal|batch     the workers' CPU scheduling policy (default normal). batch\n"
  "                           (Linux SCHED_BATCH): a woken worker does not preempt the task\n"
  "                           running on its CPU; more requests per wake-up, more throughput\n"
  "                           when the CPUs are shared (a proxy or load on the same machine)\n"
  "\n"
  "signals: SIGHUP reloads the app's scripts; SIGTERM/SIGINT drain and exit.\n"
  "pikku reload does what SIGHUP does and waits for the outcome.\n";

static int parse_num(const char *s, long long min, long long max, long long *out) {
  if (!s || !*s) return -EINVAL;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < min || v > max) return -ERANGE;
  *out = v;
  return 0;
}

int pk__options_parse(pk__options *o, int argc, char **argv, char *err, size_t errlen) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->port = 8080;
  o->access_log = 1;
  o->log_format = PK_LOG_TEXT;
  o->call_timeout_ms = 30000;
  o->max_lua_memory = 1ull << 30;
  pk__limits_default(&o->limits);
  if (argc < 2) { snprintf(err, errlen, "no command given (try: pikku --help)"); return -EINVAL; }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) { o->command = PK_CMD_HELP; return 0; }
  if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) { o->command = PK_CMD_VERSION; return 0; }
  if (!strcmp(cmd, "test")) { o->command = PK_CMD_TEST; o->test = 1; }
  else if (!strcmp(cmd, "serve")) o->command = PK_CMD_SERVE;
  else if (!strcmp(cmd, "dev")) { o->command = PK_CMD_DEV; o->dev = 1; o->watch = 1; }
  else if (!strcmp(cmd, "build")) { o->command = PK_CMD_BUILD; o->test = 1; }
  else if (!strcmp(cmd, "reload")) o->command = PK_CMD_RELOAD;
  else if (!strcmp(cmd, "codegen")) { o->command = PK_CMD_CODEGEN; o->test = 1; }
  else if (!strcmp(cmd, "routes")) { o->command = PK_CMD_ROUTES; o->test = 1; }
  else if (!strcmp(cmd, "schedules")) o->command = PK_CMD_SCHEDULES;
  else if (!strcmp(cmd, "queues")) o->command = PK_CMD_QUEUES;
  else { snprintf(err, errlen, "unknown command \"%s\" (try: pikku --help)", cmd); return -EINVAL; }
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    long long n;
#define NUM(flag, min, max, dst)                                                              \
    if (!strcmp(a, flag)) {                                                                   \
      if (parse_num(v, min, max, &n)) {                                                       \
        snprintf(err, errlen, "%s needs a number from %lld to %lld, got \"%s\"", flag,        \
                 (long long)(min), (long long)(max), v ? v : "");                             \
        return -EINVAL;                                                                            \
      }                                                                                       \
      dst = n; i++; continue;                                                                 \
    }
    if (!strcmp(a, "--help")) { o->command = PK_CMD_HELP; return 0; }
    if (!strcmp(a, "--dev")) { o->dev = 1; continue; }
    if (!strcmp(a, "--no-access-log")) { o->access_log = 0; continue; }
    if (!strcmp(a, "--watch")) { o->watch = 1; continue; }
    if (!strcmp(a, "--pid-file") || !strcmp(a, "--filter")) {
      if (!v || !*v) { snprintf(err, errlen, "%s needs a %s", a, a[2] == 'p' ? "path" : "pattern"); return -EINVAL; }
      if (a[2] == 'p') o->pid_file = v;
      else if (o->command != PK_CMD_TEST) { snprintf(err, errlen, "--filter belongs to pikku test"); return -EINVAL; }
      else o->filter = v;
      i++; continue;
    }
    if (!strcmp(a, "--metrics")) { o->metrics = 1; continue; }
    if (!strcmp(a, "--host")) {
      if (!v || !*v) { snprintf(err, errlen, "--host needs an address"); return -EINVAL; }
      o->host = v; i++; continue;
    }
    if (!strcmp(a, "--out") || !strcmp(a, "--check") || !strcmp(a, "--api-docs")) {
      if (!v || !*v) { snprintf(err, errlen, "%s needs a %s", a, strcmp(a, "--api-docs") ? "directory" : "path or off"); return -EINVAL; }
      if (!strcmp(a, "--api-docs")) o->api_docs = v;
      else if (o->command != PK_CMD_CODEGEN) { snprintf(err, errlen, "%s belongs to pikku codegen", a); return -EINVAL; }
      else if (!strcmp(a, "--out")) o->out_dir = v;
      else o->check_dir = v;
      i++; continue;
    }
    if (!strcmp(a, "--log-format")) {
      if (v && !strcmp(v, "json")) o->log_format = PK_LOG_JSON;
      else if (v && !strcmp(v, "text")) o->log_format = PK_LOG_TEXT;
      else { snprintf(err, errlen, "--log-format must be text or json, got \"%s\"", v ? v : ""); return -EINVAL; }
      i++; continue;
    }
    if (!strcmp(a, "--jobs-db")) {
      if (!v || !*v) { snprintf(err, errlen, "--jobs-db needs a file path (or :memory:)"); return -EINVAL; }
      o->jobs_db = v; i++; continue;
    }
    if (!strcmp(a, "--sched")) {
      if (v && !strcmp(v, "batch")) o->sched_batch = 1;
      else if (v && !strcmp(v, "normal")) o->sched_batch = 0;
      else { snprintf(err, errlen, "--sched must be normal or batch, got \"%s\"", v ? v : ""); return -EINVAL; }
      i++; continue;
    }
    NUM("--port", 0, 65535, o->port)
    NUM("--workers", 1, 1024, o->workers)
    NUM("--max-header-size", 256, 1 << 24, o->limits.max_header)
    NUM("--max-body-size", 0, 1LL << 34, o->limits.max_body)
    NUM("--max-input-buffer", 1024, 1LL << 40, o->limits.max_input_buffer)
    NUM("--max-uri-size", 16, 1 << 24, o->limits.max_uri)
    NUM("--header-timeout-ms", 1, 86400000, o->limits.header_timeout_ms)
    NUM("--body-timeout-ms", 1, 86400000, o->limits.body_timeout_ms)
    NUM("--idle-timeout-ms", 1, 86400000, o->limits.idle_timeout_ms)
    NUM("--drain-timeout-ms", 1, 86400000, o->limits.drain_timeout_ms)
    NUM("--ws-max-message", 1, 1LL << 34, o->limits.ws_max_message)
    NUM("--ws-send-buffer", 1024, 1LL << 34, o->limits.ws_send_buffer)
    NUM("--ws-ping-ms", 10, 86400000, o->limits.ws_ping_ms)
    NUM("--worker-timeout-ms", 0, 86400000, o->limits.worker_timeout_ms)
    NUM("--call-timeout-ms", 0, 86400000, o->call_timeout_ms)
    NUM("--max-lua-memory", 0, 1LL << 44, o->max_lua_memory)
    NUM("--pid", 1, 1LL << 31, o->reload_pid)
#undef NUM
    if (a[0] == '-') { snprintf(err, errlen, "unknown option \"%s\" (try: pikku --help)", a); return -EINVAL; }
    if (o->app_dir && o->command == PK_CMD_QUEUES && !o->queue_action) {
      if (strcmp(a, "retry") && strcmp(a, "purge")) {
        snprintf(err, errlen, "pikku queues APP_DIR: unknown action \"%s\" (retry NAME or purge NAME)", a);
        return -EINVAL;
      }
      if (!v || v[0] == '-') { snprintf(err, errlen, "pikku queues APP_DIR %s needs a queue NAME", a); return -EINVAL; }
      o->queue_action = a;
      o->queue_name = v;
      i++;
      continue;
    }
    if (o->app_dir) { snprintf(err, errlen, "unexpected argument \"%s\": one APP_DIR only", a); return -EINVAL; }
    o->app_dir = a;
  }
  if (o->command == PK_CMD_RELOAD) {
    if (o->app_dir) { snprintf(err, errlen, "reload takes no APP_DIR: pikku reload --pid-file PATH (or --pid PID)"); return -EINVAL; }
    if (!o->pid_file && !o->reload_pid) {
      snprintf(err, errlen, "reload needs the server: --pid-file PATH (as given to serve or dev) or --pid PID");
      return -EINVAL;
    }
    return 0;
  }
  if (o->reload_pid) { snprintf(err, errlen, "--pid belongs to pikku reload"); return -EINVAL; }
  if (!o->app_dir) { snprintf(err, errlen, "%s needs an APP_DIR (a folder with app.lua)", cmd); return -EINVAL; }
  if (o->command == PK_CMD_CODEGEN && !o->out_dir && !o->check_dir) {
    snprintf(err, errlen, "codegen needs --out DIR (where to write) or --check OLD_DIR (what to compare with)");
    return -EINVAL;
  }
  if (o->api_docs && o->api_docs[0] != '/' && strcmp(o->api_docs, "off")) {
    snprintf(err, errlen, "--api-docs must be a path starting with '/' or off, got \"%s\"", o->api_docs);
    return -EINVAL;
  }
  if (o->command == PK_CMD_DEV && !o->workers) o->workers = 1;   /* one process to watch and read */
  char path[4096];
  struct stat st;
  if (stat(o->app_dir, &st) || !S_ISDIR(st.st_mode)) {
    snprintf(err, errlen, "app directory \"%s\" does not exist", o->app_dir);
    return -EINVAL;
  }
  snprintf(path, sizeof path, "%s/app.lua", o->app_dir);
  if (stat(path, &st)) { snprintf(err, errlen, "no app.lua in \"%s\"", o->app_dir); return -ENOENT; }
  return 0;
}
