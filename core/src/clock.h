/* clock.h: the core's one monotonic clock (CLOCK_MONOTONIC, the clock libuv's loop time runs on). */
#ifndef PK_CLOCK_H
#define PK_CLOCK_H
#include <stdint.h>
#include <uv.h>

/* Nanoseconds since an arbitrary point; the same in every process of the host (the master reads
 * the workers' heartbeats in it). */
static inline uint64_t pk__clock_ns(void) { return uv_hrtime(); }
static inline double pk__clock_ms(void) { return (double)uv_hrtime() / 1e6; }
#endif
