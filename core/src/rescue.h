/* rescue.h: a worker that is going down answers the clients it holds, from a signal handler (async-signal-safe). */
#ifndef PK_RESCUE_H
#define PK_RESCUE_H

/* The running call is over its time limit and could not be stopped (call_guard.c): logs it,
 * answers its request 503 (its channel message an error frame), every other request in flight or
 * being received 503 with Retry-After, closes every WebSocket with 1012 (Service Restart), answers
 * the connections waiting in the listen queue 503, and exits with PK__EXIT_OVERRUN. */
void pk__rescue_overrun(void) __attribute__((noreturn));
/* A fatal signal (sig, at address addr) in the running call (a native function's crash): logs
 * what ran (method, path or channel, function, request id), answers its request 502 (its channel
 * message an error frame), the others as pk__rescue_overrun does (WebSockets 1011), and returns:
 * the caller lets the signal kill the process. */
void pk__rescue_crash(int sig, void *addr);
#endif
