/* arrival.h: when a request's bytes arrived, also while the loop was held: the kernel's receive timestamp after a stall. */
#ifndef PK_ARRIVAL_H
#define PK_ARRIVAL_H
#include <stdint.h>
#include <uv.h>

/* Asks the kernel to timestamp what arrives on a listening socket (its connections inherit it). */
void pk__arrival_enable(uv_os_fd_t fd);
/* After a phase of a loop turn (the timers: prepare; the I/O callbacks: check): notes whether it
 * held the loop too long. */
void pk__arrival_turn_end(uv_loop_t *loop);
/* Monotonic nanoseconds at which the bytes waiting on s arrived: now, unless the loop was held
 * (this turn took more than PK__ARRIVAL_STALL_MS, or one did in the last PK__ARRIVAL_AFTER_MS), then the kernel's timestamp of
 * the first pending byte. Call it before the read. *now: the clock read (the same as the result unless the loop was held). */
uint64_t pk__arrival_ns(uv_stream_t *s, uint64_t *now_out);
#define PK__ARRIVAL_STALL_MS 5
#define PK__ARRIVAL_AFTER_MS 100
#endif
