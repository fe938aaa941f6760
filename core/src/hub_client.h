/* hub_client.h: a worker's end of the hub: publish to the other workers, deliver what they publish. */
#ifndef PK_HUB_CLIENT_H
#define PK_HUB_CLIENT_H
#include <stddef.h>
#include <uv.h>
#include "buf.h"

/* Called for every message another worker published (set by the channel code; NULL: ignored).
 * topic and data are only valid during the call. */
extern void (*pk__hub_deliver)(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude);
/* Called once when the hub socket reaches its end or fails (the master is gone). NULL: ignored. */
extern void (*pk__hub_lost)(void);

/* Called for every frame from the master that is not a PUBLISH (the job frames: jobs_client.c);
 * the frame is only valid during the call. NULL: a protocol error (the hub is dropped). */
struct pk__hub_frame;
extern void (*pk__hub_on_frame)(const struct pk__hub_frame *f);

/* Reads and writes hub frames on fd (this worker's end of its socket pair to the master) in loop.
 * origin: this worker's id, put in every PUBLISH. Returns 0 or a negative libuv error. */
int pk__hub_client_start(uv_loop_t *loop, int fd, int origin);
/* Sends a PUBLISH to the master, which forwards it to every other worker; never blocks: the frame
 * is queued and written at the end of the loop turn (pk__hub_client_flush). The caller delivers to
 * its own subscribers itself. Returns 0 (also when there is no hub: `pikku test`), -ENAMETOOLONG
 * (a topic over PK__WS_MAX_TOPIC_LEN, ws_topics.h), -EMSGSIZE, -ENOBUFS (over 16 MiB already waits for the master; the message is dropped and logged) or -ENOMEM. */
int pk__hub_publish(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude);
/* The buffer of frames this loop turn sends, with room checked for a frame of len bytes (length
 * prefix included): append it there (it is written at the end of the turn). NULL with *rc set:
 * -ENOTCONN (no hub: `pikku test`, or the master is gone), -EMSGSIZE, -ENOBUFS (over 16 MiB
 * already waits for the master). */
pk__buf *pk__hub_client_outbox(size_t len, int *rc);
/* Writes the frames queued in this loop turn (one write). Called by the worker at each turn's end. */
void pk__hub_client_flush(void);
/* Closes the hub handle (its close callback runs in a later loop turn). */
void pk__hub_client_stop(void);
/* Bytes of publishes waiting for the master (queued, and in a write in flight): the backlog. */
size_t pk__hub_client_backlog(void);
/* 1 while started and not lost. */
int pk__hub_client_active(void);
#endif
