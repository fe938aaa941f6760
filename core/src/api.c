/* api.c: the exported pk_ functions of core/include/pikku.h (native functions' own: native_func.c), each a thin door to the core. */
#include "pikku.h"
#include <time.h>
#include "call_guard.h"
#include "clock.h"
#include "http_conn.h"
#include "log.h"
#include "worker.h"

/* ---- for extension authors ---- */

const char *pk_version(void) { return PIKKU_VERSION; }

int pk_api_version(void) { return PK_API_VERSION; }

double pk_now_ms(void) { return pk__W ? (double)pk__worker_now_ms() : pk__clock_ms(); }

void pk_log(const char *level, const char *message) { pk__logf(level, "%s", message); }

/* ---- for the runtime's FFI path (lua/pikku/host.lua) ---- */

int pk_rt_respond(double handle, int status, const char *body, size_t blen, const char *ct, size_t ctlen,
                  const char *extra, size_t elen, const char *error_id, size_t idlen) {
  return pk__conn_respond(handle, status, body, blen, ct, ctlen, extra, elen, error_id, idlen);
}

const char *pk_rt_header(double handle, const char *name, size_t nlen, size_t *vlen) {
  pk__conn *c = pk__conn_from_handle(handle);
  return c ? pk__request_header_joined(&c->parser.req, name, nlen, vlen) : NULL;
}

double pk_rt_now_ms(void) { return pk__clock_ms(); }

double pk_rt_call_start_ms(void) {
  uint64_t t = pk__call_clock_ns;
  if (!t) return pk__clock_ms();
  pk__call_clock_ns = 0;
  return (double)t / 1e6;
}

double pk_rt_now_coarse_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double pk_rt_coarse_res_ms(void) {
  struct timespec ts;
  if (clock_getres(CLOCK_MONOTONIC_COARSE, &ts)) return 1e9;   /* none: the coarse clock never decides */
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
