/* master.h: the master process: loads the app, forks and supervises the workers, hosts the hub. */
#ifndef PK_MASTER_H
#define PK_MASTER_H
#include "options.h"

/* Serves o->app_dir until SIGTERM or SIGINT; returns the exit code (o->port is resolved). */
int pk__master_run(pk__options *o);
#endif
