/* control.h: the master's control socket, where `pikku reload` asks for a reload and waits for its outcome. */
#ifndef PK_CONTROL_H
#define PK_CONTROL_H
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* The socket's name for a master's pid: an abstract unix socket (no file), "\0pikku-PID". Returns
 * the length of the address to give bind/connect. */
socklen_t pk__control_address(pid_t pid, void *sockaddr_un);
/* Opens this master's socket; 0 or a negative errno (then `pikku reload` cannot reach it; SIGHUP
 * still works). */
int pk__control_open(void);
/* Closes every descriptor of the control socket (in a worker after fork, and at exit). */
void pk__control_close(void);
/* Puts the descriptors to poll in pf (max entries at most); returns how many. */
int pk__control_pollfds(struct pollfd *pf, int max);
/* Handles what poll said about them (the n entries pk__control_pollfds filled); returns how
 * many reloads the clients asked for (the master then reloads and calls pk__control_begun). */
int pk__control_serve(const struct pollfd *pf, int n, double now_ms);
/* The reload the clients asked for began: its generation and the master's own load error (NULL
 * when it loaded). pids: the worker processes that were asked to reload, n of them (0: none in
 * that slot). */
void pk__control_begun(int generation, const char *master_error, const pid_t *pids, int n);
/* Answers the clients whose reload every worker has finished (or that waited too long). pids:
 * the worker processes now (a slot whose worker was replaced counts as finished: the new one runs
 * the master's code). */
void pk__control_check(const pid_t *pids, int n, double now_ms);
#endif
