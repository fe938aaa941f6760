/* jobs_master.h: the master's jobs and schedules: owns the job store, fires each cron tick on one worker, leases jobs to workers. */
#ifndef PK_JOBS_MASTER_H
#define PK_JOBS_MASTER_H
#include <lua.h>
#include <stddef.h>
#include <stdint.h>
#include "hub.h"
#include "options.h"

/* At startup, with the app loaded in L: reads its schedules and queues, and opens the job store
 * when the app wires a queue worker or a schedule or the store exists already (recovering it:
 * active jobs back to waiting). Frames other than PUBLISH from hub go to this module from now on.
 * Returns 0, or a negative errno with err set (a store that cannot be opened: pikku serve exits 1). */
int pk__jobs_master_start(pk__hub *hub, int nworkers, const pk__options *o, lua_State *L, char *err,
                          size_t errlen);
/* After a successful reload, with the new code in L: the new schedules and queues. A schedule whose
 * expression and zone did not change keeps its next tick (none is lost or doubled). */
void pk__jobs_master_configure(lua_State *L);
/* Worker slot i is gone (its process died or its socket closed): its jobs go back to waiting at
 * once, its ticks stop counting as running. */
void pk__jobs_master_worker_gone(int slot);
/* Once per turn of the master's loop, after reading the hub and before writing it: fires due ticks,
 * times out attempts, hands runnable jobs to workers with room, commits the turn's store writes in
 * one transaction, then queues the replies (an ADD is answered only once it is committed). */
void pk__jobs_master_turn(void);
/* Milliseconds until the next tick, delayed job or time-out is due, at most cap (and at least 0). */
int pk__jobs_master_timeout(int cap);
/* The server is stopping: no tick or job is handed out any more; the ends of those running are
 * still recorded. */
void pk__jobs_master_drain(void);
void pk__jobs_master_stop(void);
#endif
