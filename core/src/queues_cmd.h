/* queues_cmd.h: `pikku queues APP_DIR [retry NAME | purge NAME]`: the job store's queues, read and tended directly. */
#ifndef PK_QUEUES_CMD_H
#define PK_QUEUES_CMD_H
#include "options.h"

/* Prints every queue's counts and its failed jobs, or retries / purges one queue; returns the exit
 * code (1: the app does not load or the store cannot be opened). */
int pk__queues_run(const pk__options *o);
#endif
