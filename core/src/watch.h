/* watch.h: the master's watch over the app folder (--watch, pikku dev): inotify, debounced. */
#ifndef PK_WATCH_H
#define PK_WATCH_H

/* What a debounced change touched (bits). */
enum { PK_WATCH_LUA = 1, PK_WATCH_NATIVE = 2 };

/* Watches app_dir and every folder below it (but hidden ones and node_modules). 0, or a negative
 * errno (logged). */
int pk__watch_open(const char *app_dir);
/* The inotify descriptor to poll for POLLIN, -1 when not watching. */
int pk__watch_fd(void);
/* Closes it (in a worker after fork, and at exit). */
void pk__watch_close(void);
/* Reads what is pending on the descriptor (call when poll says POLLIN). */
void pk__watch_read(double now_ms);
/* How long poll may sleep (at most max_ms) so that a debounced change is not late. */
int pk__watch_timeout(double now_ms, int max_ms);
/* The changes seen, once things have been quiet for the debounce time: PK_WATCH_* bits, then
 * cleared; 0 while nothing is due. */
int pk__watch_due(double now_ms);
#endif
