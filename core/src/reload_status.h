/* reload_status.h: each worker's reload outcome and the last load error, in a page the master shares with its workers. */
#ifndef PK_RELOAD_STATUS_H
#define PK_RELOAD_STATUS_H
#include <stddef.h>

#define PK__RELOAD_ERROR_MAX 4096

/* Maps the page (the master, before the first fork); 0 or -ENOMEM. Without it every other call
 * is a no-op and the readers see nothing. */
int pk__reload_status_init(int nworkers);
/* A worker (id 1..n) says it runs generation gen now (err NULL), or failed to load it (err: the
 * load error, "file:line: message"). */
void pk__reload_status_report(int worker, int gen, const char *err);
/* What worker id last reported: the generation it runs and the last one it failed to load (0:
 * none), and that failure's message copied to err (errlen bytes at most). 0, or -ENOENT. */
int pk__reload_status_read(int worker, int *loaded, int *failed, char *err, size_t errlen);
/* The master: the app failed to load, or its native code to build (err), for the development
 * error page (dev_page.c); each call counts as a new error. */
void pk__reload_status_set_error(const char *err);
/* The number of the last error set (0: none yet), and its text copied to err. */
unsigned pk__reload_status_error(char *err, size_t errlen);
/* The current error's number, without copying it (cheap enough for every request). */
unsigned pk__reload_status_error_seq(void);
#endif
