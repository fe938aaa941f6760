/* abandon.h: requests whose client went away while their call waited, told to the runtime at the end of the turn. */
#ifndef PK_ABANDON_H
#define PK_ABANDON_H
#include <uv.h>
#include "host.h"

/* Queues "the client of request `handle` is gone" for h's runtime (h is pinned until then).
 * Returns 0 or -ENOMEM (then the call just runs to its end). */
int pk__abandon_later(pk__host *h, double handle);
/* Tells the runtimes (pk__host_abandon) of the requests queued so far; end of the loop turn. */
void pk__abandon_flush(void);
/* True when the peer of a connection whose reading is paused (a call in flight) has closed or
 * reset it: nginx's test for a client gone while the upstream works (a peek, nothing consumed). */
int pk__peer_gone(uv_stream_t *s);
#endif
