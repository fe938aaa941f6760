/* schedules_cmd.h: `pikku schedules APP_DIR`: the app's schedules and their next run times. */
#ifndef PK_SCHEDULES_CMD_H
#define PK_SCHEDULES_CMD_H
#include "options.h"

/* Prints each schedule with its next five run times; returns the exit code (1: the app does not
 * load, or a schedule does not parse). */
int pk__schedules_run(const pk__options *o);
#endif
