/* reload_cmd.h: `pikku reload --pid-file PATH | --pid PID` and `pikku build APP_DIR`, the commands that drive a running server or its native code. */
#ifndef PK_RELOAD_CMD_H
#define PK_RELOAD_CMD_H
#include "options.h"

/* Asks the master to reload and prints the outcome: 0 (reloaded), 1 (the load failed: the error
 * is printed; or no server answered). */
int pk__reload_cmd(const pk__options *o);
/* Builds APP_DIR/native (every library, stale or not): 0, or 1 with the compiler's errors printed. */
int pk__build_cmd(const pk__options *o);
#endif
