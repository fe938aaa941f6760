/* traceparent.h: the W3C Trace Context traceparent header, and the call id it gives a request. */
#ifndef PK_TRACEPARENT_H
#define PK_TRACEPARENT_H
#include <stddef.h>

#define PK__TRACE_ID_LEN 32    /* hex digits of a trace-id */
#define PK__SPAN_ID_LEN 16     /* hex digits of a parent-id */

/* 1 when v (n bytes) is a valid traceparent (W3C Trace Context level 1: "00-" 32 lower-case hex
 * "-" 16 lower-case hex "-" 2 hex, neither id all zeros; a later version, not "ff", may add
 * "-..." fields after those four). Then trace_id (>= 33 bytes) gets the trace-id and flags (>= 3
 * bytes, may be NULL) the trace-flags, NUL-terminated. Else 0. */
int pk__traceparent_parse(const char *v, size_t n, char *trace_id, char *flags);

/* The errorId of a call: the client's X-Request-Id (xrid, xn bytes; NULL: none) when
 * pk__request_id_valid takes it, else the trace-id of a valid traceparent (tp, tn bytes), else a
 * new id. gen (>= 33 bytes) holds a trace-id or a new id; *len gets the id's length. */
const char *pk__call_id(const char *xrid, size_t xn, const char *tp, size_t tn, char *gen, size_t *len);
#endif
