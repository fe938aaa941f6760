/* test_cmd.h: `pikku test APP_DIR`: an app's tests run in one Lua state, without a transport. */
#ifndef PK_TEST_CMD_H
#define PK_TEST_CMD_H
#include "options.h"

/* Runs the app's tests; returns the exit code (0: all passed). */
int pk__test_run(const pk__options *o);
#endif
