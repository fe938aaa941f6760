/* traceparent.c: the W3C Trace Context traceparent header, and the call id it gives a request. */
#include "traceparent.h"
#include <string.h>
#include "http_conn.h"
#include "http_response.h"

static int lower_hex(const char *s, size_t n) {
  int nonzero = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return -1;
    if (c != '0') nonzero = 1;
  }
  return nonzero;
}

int pk__traceparent_parse(const char *v, size_t n, char *trace_id, char *flags) {
  /* version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2 = 55 bytes */
  if (!v || n < 55) return 0;
  if (lower_hex(v, 2) < 0 || (v[0] == 'f' && v[1] == 'f')) return 0;
  int v00 = v[0] == '0' && v[1] == '0';
  if (v00 ? n != 55 : (n > 55 && v[55] != '-')) return 0;
  if (v[2] != '-' || v[35] != '-' || v[52] != '-') return 0;
  if (lower_hex(v + 3, PK__TRACE_ID_LEN) != 1 || lower_hex(v + 36, PK__SPAN_ID_LEN) != 1) return 0;
  if (lower_hex(v + 53, 2) < 0) return 0;
  memcpy(trace_id, v + 3, PK__TRACE_ID_LEN);
  trace_id[PK__TRACE_ID_LEN] = 0;
  if (flags) { flags[0] = v[53]; flags[1] = v[54]; flags[2] = 0; }
  return 1;
}

const char *pk__call_id(const char *xrid, size_t xn, const char *tp, size_t tn, char *gen, size_t *len) {
  if (!pk__request_id_valid(xrid, xn) && pk__traceparent_parse(tp, tn, gen, NULL)) {
    *len = PK__TRACE_ID_LEN;
    return gen;
  }
  return pk__error_id(xrid, xn, gen, len);
}
