/* tool_cmd.h: `pikku codegen` and `pikku routes`: the app loaded without serving, handed to pikku.codegen. */
#ifndef PK_TOOL_CMD_H
#define PK_TOOL_CMD_H
#include "options.h"

/* Loads the app (as `pikku test` does) and runs require("pikku.codegen").main(args); returns the
 * exit code it gives (0: done; 1: a failure or, with --check, a breaking change). */
int pk__tool_run(const pk__options *o);
#endif
