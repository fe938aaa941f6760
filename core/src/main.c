/* main.c: the `pikku` command: parses the command line and starts the master (serve, dev), or runs a command without serving (test, build, reload, codegen, routes, schedules, queues). */
#include <stdio.h>
#include <string.h>
#include "log.h"
#include "master.h"
#include "options.h"
#include "reload_cmd.h"
#include "queues_cmd.h"
#include "schedules_cmd.h"
#include "test_cmd.h"
#include "tool_cmd.h"

int main(int argc, char **argv) {
  static pk__options o;
  char err[512];
  if (pk__options_parse(&o, argc, argv, err, sizeof err)) {
    fprintf(stderr, "pikku: %s\n", err);
    return 2;
  }
  if (o.command == PK_CMD_HELP) { fputs(pk__usage, stdout); return 0; }
  if (o.command == PK_CMD_VERSION) { printf("pikku %s\n", PIKKU_VERSION); return 0; }
  if (o.command == PK_CMD_RELOAD) return pk__reload_cmd(&o);
  if (o.command == PK_CMD_BUILD) return pk__build_cmd(&o);
  if (o.command == PK_CMD_TEST) {
    pk__log_setup(o.log_format, 0, 1);
    return pk__test_run(&o);
  }
  if (o.command == PK_CMD_CODEGEN || o.command == PK_CMD_ROUTES) {
    pk__log_setup(o.log_format, 0, 1);
    return pk__tool_run(&o);
  }
  if (o.command == PK_CMD_SCHEDULES || o.command == PK_CMD_QUEUES) {
    pk__log_setup(o.log_format, 0, 0);
    return o.command == PK_CMD_SCHEDULES ? pk__schedules_run(&o) : pk__queues_run(&o);
  }
  pk__log_setup(o.log_format, o.access_log, 0);
  return pk__master_run(&o);
}
