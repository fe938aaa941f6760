/* fuzz_cron.c: libFuzzer target: any bytes as a cron expression, then next() five times in a zone, runs strictly increasing and each found again from just before it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cron.h"

static const char *const zone_names[] = {"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia"};
static pk__tz *zones[5];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* input: zone byte, 8 bytes of "after" (little-endian ms), then the expression */
  static int loaded;
  if (!loaded) {
    for (int i = 1; i < 5; i++) if (pk__tz_load(&zones[i], zone_names[i], NULL, 0)) zones[i] = NULL;
    loaded = 1;
  }
  if (size < 9) return 0;
  const pk__tz *tz = zones[data[0] % 5];
  uint64_t raw = 0;
  for (int i = 0; i < 8; i++) raw |= (uint64_t)data[1 + i] << (8 * i);
  int64_t after = (int64_t)raw;
  if (data[0] & 0x80)                         /* mostly: an instant between 1900 and 2200 */
    after = -2208988800000LL + (int64_t)(raw % (uint64_t)(9467107200000LL));
  char *expr = malloc(size - 9 + 1);
  memcpy(expr, data + 9, size - 9);
  expr[size - 9] = 0;
  pk__cron c;
  char err[96], iso[64];
  if (pk__cron_parse(&c, expr, err, sizeof err) == 0) {
    int64_t t = after;
    for (int k = 0; k < 5; k++) {
      int64_t n = pk__cron_next(&c, tz, t);
      if (n < 0) break;
      if (n <= t) __builtin_trap();
      if (pk__cron_next(&c, tz, n - 1) != n) __builtin_trap();
      pk__cron_format_iso(iso, sizeof iso, tz, n);
      t = n;
    }
  } else if (!err[0] || strlen(err) >= sizeof err) __builtin_trap();
  pk__cron_format_iso(iso, sizeof iso, tz, after);
  free(expr);
  return 0;
}
