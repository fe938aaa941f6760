/* route_settings.h: what the core knows of a route beyond its kind: its body limit, a static route's directory, its metrics label. */
#ifndef PK_ROUTE_SETTINGS_H
#define PK_ROUTE_SETTINGS_H
#include <stdint.h>
#include "host.h"

struct pk__static_dir;

typedef struct pk__route_settings {
  uint64_t max_body;              /* read-only: the route's body limit in bytes; 0: --max-body-size */
  int raw_body;                   /* read-only: the body goes to the function as bytes (no multipart parsing) */
  struct pk__static_dir *dir;     /* read-only: a static route's directory (static_files.c), or NULL */
  char *label;                    /* read-only: "GET /todos/:id" for metrics, or NULL */
  int metric_slot;                /* private (metrics.c): the route's slot, -1 until looked up */
} pk__route_settings;

/* The settings of route `index`, or NULL when it has none. */
static inline pk__route_settings *pk__route_settings_of(const pk__host *h, int index) {
  return index > 0 && index < h->nsettings ? h->settings[index] : NULL;
}
/* The settings of route `index`, made (zeroed) when it has none yet; NULL when out of memory. */
pk__route_settings *pk__route_settings_get(pk__host *h, int index);
/* Frees every route's settings (pk__host_free). */
void pk__route_settings_free(pk__host *h);
#endif
