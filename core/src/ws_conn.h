/* ws_conn.h: a connection in WebSocket (or server-sent events) mode, and delivery to topics. */
#ifndef PK_WS_CONN_H
#define PK_WS_CONN_H
#include <stddef.h>
#include "host.h"
#include "http_conn.h"
#include "router.h"
#include "worker.h"

/* Answers an upgrade on a channel route (101 or an error) and calls the app's channel_open. */
void pk__ws_upgrade(pk__conn *c, pk__request *r, pk__host *h, const pk__route_match *m,
                    const char *path, size_t plen, const char *query, size_t qlen);
/* Starts a server-sent events stream (200 text/event-stream, kept open) and calls channel_open. */
void pk__sse_open(pk__conn *c, pk__request *r, pk__host *h, const pk__route_match *m,
                  const char *path, size_t plen, const char *query, size_t qlen);
void pk__ws_feed(pk__conn *c, char *data, size_t len);
/* Queues one frame. Returns 0; -ENOBUFS when the client is over its send buffer (the connection
 * is then closed with 1008 at the end of the turn); -ENOTCONN when it is closing; -EINVAL for
 * binary on an event stream. */
int pk__ws_send(pk__conn *c, int opcode, const char *data, size_t len);
void pk__ws_close(pk__conn *c, int code, const char *reason, size_t rlen);
/* Called by pk__conn_close: leaves every topic and tells Lua at the end of the turn. */
void pk__ws_closed(pk__conn *c);
extern pk__ws *pk__ws_closing;   /* during channel_close: that connection's strings stay readable */
void pk__ws_sweep(pk__conn *c, uint64_t now_ms);
void pk__ws_end_of_turn(pk__worker *w);
/* Sends data to every local subscriber of topic but exclude_cid (what the hub delivers from the
 * other workers). */
void pk__channel_deliver(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude_cid);
/* Sends data to every local subscriber of topic but exclude_cid, and to the other workers. */
int pk__channel_publish(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude_cid);
/* (returns the local receivers; -ENAMETOOLONG for a topic over PK__WS_MAX_TOPIC_LEN, or the hub's
 * -ENOBUFS / -EMSGSIZE when it refused it: then no one got it) */
#endif
