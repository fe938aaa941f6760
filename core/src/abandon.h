/* abandon.h: requests whose call is abandoned while it waits (client gone, time limit, drain), told to the runtime at the end of the turn. */
#ifndef PK_ABANDON_H
#define PK_ABANDON_H
#include <uv.h>
#include "host.h"

/* Queues "the call of request `handle` is abandoned" for h's runtime (h is pinned until then);
 * why: PK_ABANDON_GONE, _LIMIT or _DRAIN (host.h). Returns 0 or -ENOMEM (then the call just runs
 * to its end). */
int pk__abandon_later(pk__host *h, double handle, int why);
/* Tells the runtimes (pk__host_abandon) of the requests queued so far; end of the loop turn. */
void pk__abandon_flush(void);
/* True when the peer of a connection whose reading is paused (a call in flight) has closed or
 * reset it: nginx's test for a client gone while the upstream works (a peek, nothing consumed). */
int pk__peer_gone(uv_stream_t *s);
#endif
