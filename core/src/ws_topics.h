/* ws_topics.h: a worker's topic table (topic -> subscribed connections) and each WebSocket's channel data. */
#ifndef PK_WS_TOPICS_H
#define PK_WS_TOPICS_H
#include <stddef.h>
#include <stdint.h>
#include "ws_frame.h"

struct pk__conn;
struct pk__topic;

typedef struct pk__kv { char *key; char *value; size_t vlen; struct pk__kv *next; } pk__kv;

/* What a connection carries once it is a WebSocket. Lives in C: survives reloads of Lua. */
typedef struct pk__ws {
  double cid;                     /* read-only: the id Lua knows the connection by */
  pk__ws_parser parser;           /* private */
  pk__kv *kv;                     /* private: channel_set / channel_get */
  struct pk__topic **topics;      /* private: topics subscribed to */
  int ntopics, topics_cap;        /* private */
  int sse;                        /* read-only: a server-sent events stream, not a WebSocket */
  int deflate_bits;               /* private: permessage-deflate agreed: the server's window (8..15), else 0 */
  int close_sent;                 /* private: our close frame is queued */
  uint64_t close_sent_ms;         /* private: when (a client that never takes it is cut off) */
  int close_code;                 /* private: the code the connection closes with (for Lua) */
  int ping_out;                   /* private: a ping waits for its pong */
  int doomed;                     /* private: over its send limit, closed at the end of the turn */
  uint64_t last_seen_ms;          /* private: last frame from the client (SSE: last event sent) */
  uint64_t msg_start_ms;          /* private: when the client began the message still open (its
                                     first frame), for the completion deadline (ws_conn.c) */
  uint32_t msg_seen;              /* private: the parser's msg_begun then */
  int feeding;                    /* private: the parser runs (its callbacks may close) */
  size_t pong_at, pong_len;       /* private: the last pong queued: where it is in the conn's out */
  uint64_t pong_taken;            /* private: the conn's out_taken then (ws_conn.c on_ping) */
  size_t out_part;                /* private: bytes at the head of the conn's out that end a frame
                                     the kernel took the start of (ws_conn.c write_now) */
  uint64_t part_taken;            /* private: the conn's out_taken then (else out_part is 0) */
  uint64_t direct_turn;           /* private: the worker's turn in which a frame last went out
                                     directly (ws_conn.c send_direct) */
} pk__ws;

pk__ws *pk__ws_new(double cid);
/* Leaves every topic (the per-connection strings stay). */
void pk__ws_leave_topics(pk__ws *ws);
/* Frees the per-connection data and leaves every topic. */
void pk__ws_free(pk__ws *ws);
int pk__ws_kv_set(pk__ws *ws, const char *key, const char *value, size_t vlen);  /* value NULL: remove */
const char *pk__ws_kv_get(const pk__ws *ws, const char *key, size_t *vlen);

/* Topics. subscribe is idempotent; a connection holds at most PK__WS_MAX_TOPICS (then -E2BIG:
 * subscribing and leaving cost time in the number a connection holds). */
#define PK__WS_MAX_TOPICS 1024
#define PK__WS_STR(x) #x
#define PK__WS_XSTR(x) PK__WS_STR(x)
/* Why a subscribe over the limit is refused (the runtime makes it a 429). */
#define PK__WS_TOO_MANY_TOPICS \
  "a connection may subscribe to at most " PK__WS_XSTR(PK__WS_MAX_TOPICS) " topics (unsubscribe some first)"
/* A topic name is at most PK__WS_MAX_TOPIC_LEN bytes: a subscriber's topics are kept for as long
 * as it holds them, so a name is small. Longer: -ENAMETOOLONG from subscribe, unsubscribe and
 * publish (pk__channel_publish); the hub neither sends nor takes one (hub.c, hub_client.c). */
#define PK__WS_MAX_TOPIC_LEN 256
/* Why a topic name over the limit is refused (the runtime makes it a 400). */
#define PK__WS_TOPIC_TOO_LONG "a topic name may be at most " PK__WS_XSTR(PK__WS_MAX_TOPIC_LEN) " bytes"
int pk__topic_subscribe(struct pk__conn *c, pk__ws *ws, const char *topic, size_t len);
int pk__topic_unsubscribe(pk__ws *ws, const char *topic, size_t len);
/* Calls fn(conn, arg) for every subscriber of topic except the connection with exclude_cid (none
 * for a name over the limit). fn must not subscribe or unsubscribe. Returns the number of calls. */
int pk__topic_each(const char *topic, size_t len, double exclude_cid,
                   void (*fn)(struct pk__conn *, void *), void *arg);
#endif
