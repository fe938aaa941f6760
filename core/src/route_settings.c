/* route_settings.c: what the core knows of a route beyond its kind: its body limit, a static route's directory, its metrics label. */
#include "route_settings.h"
#include <stdlib.h>
#include <string.h>
#include "static_files.h"

pk__route_settings *pk__route_settings_get(pk__host *h, int index) {
  if (index <= 0) return NULL;
  if (index >= h->nsettings) {
    int n = h->nsettings ? h->nsettings : 16;
    while (n <= index) n *= 2;
    pk__route_settings **p = realloc(h->settings, sizeof *p * (size_t)n);
    if (!p) return NULL;
    memset(p + h->nsettings, 0, sizeof *p * (size_t)(n - h->nsettings));
    h->settings = p;
    h->nsettings = n;
  }
  if (!h->settings[index]) {
    pk__route_settings *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->metric_slot = -1;
    h->settings[index] = s;
  }
  return h->settings[index];
}

void pk__route_settings_free(pk__host *h) {
  for (int i = 0; i < h->nsettings; i++) {
    pk__route_settings *s = h->settings[i];
    if (!s) continue;
    pk__static_dir_free(s->dir);
    free(s->label);
    free(s);
  }
  free(h->settings);
  h->settings = NULL;
  h->nsettings = 0;
}
