/* pikku.h: the one public C header of the pikku host, for native extensions (FFI or Lua C modules). */
#ifndef PIKKU_H
#define PIKKU_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The host's version string, e.g. "0.1.0". */
const char *pk_version(void);

/* Monotonic time in milliseconds (the event loop's cached time when inside a worker). */
double pk_now_ms(void);

/* Writes one log line at level "info", "warn" or "error" in the format in force. */
void pk_log(const char *level, const char *message);

#ifdef __cplusplus
}
#endif
#endif
