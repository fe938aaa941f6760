/* hub.h: the cross-worker pub/sub hub: frame format (shared with hub_client.c) and the master side. */
#ifndef PK_HUB_H
#define PK_HUB_H
#include <stddef.h>
#include <stdint.h>
#include "buf.h"

/* A frame on a hub socket: uint32 big-endian length L, then L bytes: one type byte and the fields. */
#define PK_HUB_HEADER 4
#define PK_HUB_MAX_FRAME (8u * 1024 * 1024)        /* largest L accepted; larger is a protocol error */
#define PK_HUB_BACKLOG_MAX ((size_t)16 * 1024 * 1024) /* bytes queued for one slow reader */

enum {
  PK_HUB_PUBLISH = 1,      /* worker -> master -> the other workers: pub/sub (below) */
  /* background jobs and schedules (hub_jobs.h has their one layout; docs/hub.md the fields) */
  PK_HUB_JOB_ADD = 2,      /* worker -> master: add a job */
  PK_HUB_JOB_ADDED = 3,    /* master -> worker: the add is committed (or failed) */
  PK_HUB_JOB_GET = 4,      /* worker -> master: read a job */
  PK_HUB_JOB_INFO = 5,     /* master -> worker: the job read */
  PK_HUB_JOB_RUN = 6,      /* master -> worker: run this leased job */
  PK_HUB_JOB_RESULT = 7,   /* worker -> master: how a run ended */
  PK_HUB_JOB_PROGRESS = 8, /* worker -> master: wire.queue.update_progress */
  PK_HUB_TICK = 9,         /* master -> worker: run this schedule's tick */
  PK_HUB_TICK_DONE = 10,   /* worker -> master: the tick's run ended */
  PK_HUB_JOB_COUNTS = 11,  /* worker -> master: a queue's counts (answered by JOB_INFO) */
};

/* PUBLISH fields after the type byte (all big-endian): origin u32, seq u64, exclude f64 (IEEE 754
 * bits), topic length u32, topic bytes, then the data (the rest of the frame). */
#define PK_HUB_PUBLISH_FIXED (1 + 4 + 8 + 8 + 4)

/* Big-endian field helpers shared by the frame codecs (hub.c, hub_jobs.c). */
static inline void pk__hub_put32(char *p, uint32_t v) {
  p[0] = (char)(v >> 24); p[1] = (char)(v >> 16); p[2] = (char)(v >> 8); p[3] = (char)v;
}
static inline uint32_t pk__hub_get32(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void pk__hub_put64(char *p, uint64_t v) { pk__hub_put32(p, (uint32_t)(v >> 32)); pk__hub_put32(p + 4, (uint32_t)v); }
static inline uint64_t pk__hub_get64(const char *p) { return (uint64_t)pk__hub_get32(p) << 32 | pk__hub_get32(p + 4); }

typedef struct pk__hub_frame {
  const char *raw;      /* the whole frame, length prefix included (to forward unchanged) */
  size_t raw_len;
  int type;
  const char *body;     /* the bytes after the type byte */
  size_t body_len;
} pk__hub_frame;

typedef struct pk__hub_msg {
  uint32_t origin;      /* worker id of the publisher */
  uint64_t seq;         /* per origin, from 1 */
  double exclude;       /* channel id not to deliver to (0: none), passed on to every receiver */
  const char *topic;
  size_t tlen;
  const char *data;
  size_t dlen;
} pk__hub_msg;

/* Appends the PUBLISH frame for m to out. Returns 0, -ENAMETOOLONG (a topic over
 * PK__WS_MAX_TOPIC_LEN, ws_topics.h), -EMSGSIZE (over PK_HUB_MAX_FRAME) or -ENOMEM. */
int pk__hub_encode_publish(pk__buf *out, const pk__hub_msg *m);
/* Reads the fields of a PUBLISH frame; the pointers point into the frame. Returns 0 or -EPROTO
 * (also for a topic over PK__WS_MAX_TOPIC_LEN: such a frame is neither routed nor delivered). */
int pk__hub_parse_publish(const pk__hub_frame *f, pk__hub_msg *m);

/* Splits a byte stream into frames, however the bytes were cut by reads. */
typedef struct pk__hub_decoder {
  pk__buf buf;          /* private */
  size_t pos;           /* private: start of the first frame not yet returned */
  size_t max_frame;     /* read-only: PK_HUB_MAX_FRAME unless changed after init */
} pk__hub_decoder;

void pk__hub_decoder_init(pk__hub_decoder *d);
void pk__hub_decoder_free(pk__hub_decoder *d);
/* Room for at least want more bytes (*got: how many); commit the bytes read there. Both invalidate
 * the frames returned so far. space returns NULL on ENOMEM. */
char *pk__hub_decoder_space(pk__hub_decoder *d, size_t want, size_t *got);
void pk__hub_decoder_commit(pk__hub_decoder *d, size_t n);
/* Copies n bytes in (space + commit). Returns 0 or -ENOMEM. */
int pk__hub_decoder_feed(pk__hub_decoder *d, const void *p, size_t n);
/* 1: *f is the next frame (valid until the next space/feed); 0: need more bytes; -EPROTO: a bad
 * length (0, or over max_frame); the stream cannot be resynchronised after that. */
int pk__hub_decoder_next(pk__hub_decoder *d, pk__hub_frame *f);

/* Master side: one peer per worker slot, each a non-blocking stream socket. */
typedef struct pk__hub_peer {
  int fd;               /* read-only: -1 when the slot has no live worker */
  pk__hub_decoder in;   /* private */
  pk__buf out;          /* private: frames not yet written, from out_pos */
  size_t out_pos;       /* private */
  size_t front_left;    /* private: bytes left of a frame already partly written (never dropped) */
  uint64_t dropped;     /* read-only: frames dropped because the worker did not read */
} pk__hub_peer;

typedef struct pk__hub {
  pk__hub_peer *peers;  /* read-only */
  int npeers;           /* read-only */
  size_t backlog_max;   /* PK_HUB_BACKLOG_MAX unless changed after init */
  /* Called for every frame read that is not a PUBLISH (the job frames: jobs_master.c), with the
   * slot it came from; returns 0, or a negative errno that detaches the worker as a protocol
   * error. NULL: such frames are protocol errors. */
  int (*on_frame)(int from, const pk__hub_frame *f, void *ud);
  void *on_frame_ud;
} pk__hub;

/* Returns 0 or -ENOMEM. */
int pk__hub_init(pk__hub *h, int npeers);
void pk__hub_free(pk__hub *h);
/* Gives peer i the master's end of its socket pair (made non-blocking); any previous one is
 * detached first. */
void pk__hub_attach(pk__hub *h, int i, int fd);
/* Closes peer i's socket and drops what was queued for it or half read from it. */
void pk__hub_detach(pk__hub *h, int i);
/* In a child just forked: closes every peer's fd without touching the (copied) buffers. */
void pk__hub_close_fds(pk__hub *h);
/* Queues frame f, read from peer from, to every other attached peer (not back to its origin).
 * A peer whose backlog would exceed backlog_max loses its backlog first (logged). Returns the
 * number of peers it was queued for. Nothing is written yet: see pk__hub_flush. */
int pk__hub_route(pk__hub *h, int from, const pk__hub_frame *f);
/* Queues one frame (length prefix included) for peer i alone (a reply of the master's). Never
 * dropped for a slow reader, unlike PUBLISH. Returns 0, -EPIPE (no live worker there) or -ENOMEM. */
int pk__hub_send(pk__hub *h, int i, const char *raw, size_t len);
/* Reads what peer i sent (up to a fair budget) and routes every complete PUBLISH in it; other
 * frames go to on_frame.
 * Returns 0, -EPIPE at end of stream or on a socket error, -EPROTO on a bad frame. */
int pk__hub_read(pk__hub *h, int i);
/* Writes as much of peer i's backlog as the socket takes. Returns 0 or -EPIPE. */
int pk__hub_flush(pk__hub *h, int i);
/* Bytes queued for peer i. */
static inline size_t pk__hub_pending(const pk__hub *h, int i) {
  return h->peers[i].out.len - h->peers[i].out_pos;
}
#endif
