/* clock.h: the core's one monotonic clock (CLOCK_MONOTONIC, the clock libuv's loop time runs on). */
#ifndef PK_CLOCK_H
#define PK_CLOCK_H
#include <stdint.h>
#include <time.h>
#include <uv.h>

/* Nanoseconds since an arbitrary point; the same in every process of the host (the master reads
 * the workers' heartbeats in it). */
static inline uint64_t pk__clock_ns(void) { return uv_hrtime(); }
static inline double pk__clock_ms(void) { return (double)uv_hrtime() / 1e6; }
/* Wall-clock milliseconds since the Unix epoch (CLOCK_REALTIME): for what outlives the process,
 * cron ticks and the run times of jobs kept in the job store. It may jump (NTP, a changed clock). */
static inline int64_t pk__wall_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
#endif
