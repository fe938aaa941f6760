/* devloop.h: the master's side of the developer loop: --watch, the control socket of `pikku reload`, the pid file. */
#ifndef PK_DEVLOOP_H
#define PK_DEVLOOP_H
#include <poll.h>
#include <sys/types.h>
#include "options.h"

/* pikku dev, before the app loads: builds its native code that changed. 0, or 1 with the
 * compiler's errors printed. */
int pk__devloop_build(const pk__options *o);
/* Before the workers start: the control socket, the pid file (--pid-file), the watch (--watch),
 * the shared reload status for n workers. 0, or 1 when the server cannot start (printed). */
int pk__devloop_start(const pk__options *o, int nworkers);
/* In a worker just forked: closes the master's descriptors. */
void pk__devloop_child(void);
/* Descriptors for the master's poll (max at most); returns how many. */
int pk__devloop_pollfds(struct pollfd *pf, int max);
/* How long the master's poll may sleep (at most max_ms). */
int pk__devloop_timeout(int max_ms);
/* After poll (pf: the entries pk__devloop_pollfds filled): returns 1 when the app should reload
 * now (a client asked, or watched files changed and any native code built). */
int pk__devloop_serve(const struct pollfd *pf, int n, const pk__options *o);
/* The master reloaded (SIGHUP, a client, the watch): generation and its own load error or NULL;
 * pids: the workers asked to reload. */
void pk__devloop_reloaded(int generation, const char *error, const pid_t *pids, int n);
/* Every turn of the master's loop: answers clients whose reload is complete. */
void pk__devloop_tick(const pid_t *pids, int n);
/* At exit: removes the pid file, closes everything. */
void pk__devloop_stop(const pk__options *o);
#endif
