/* test_hub.c: unit tests of the hub's frames, the master's routing and the worker's hub client. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>
#include "hub.h"
#include "hub_client.h"
#include "ws_topics.h"

static pk__hub_msg msg(uint32_t origin, uint64_t seq, double exclude, const char *topic, const char *data) {
  pk__hub_msg m = {origin, seq, exclude, topic, strlen(topic), data, strlen(data)};
  return m;
}

static void assert_msg_equal(const pk__hub_msg *a, const pk__hub_msg *b) {
  assert_int_equal(a->origin, b->origin);
  assert_true(a->seq == b->seq);
  assert_true(a->exclude == b->exclude);
  assert_int_equal(a->tlen, b->tlen);
  assert_memory_equal(a->topic, b->topic, a->tlen);
  assert_int_equal(a->dlen, b->dlen);
  if (a->dlen) assert_memory_equal(a->data, b->data, a->dlen);
}

static void test_round_trip(void **s) {
  pk__buf b; pk__buf_init(&b);
  pk__hub_msg in[3] = {msg(1, 1, 0, "todos", "{\"a\":1}"), msg(2, 9000000000ull, 42.5, "t", ""),
                       msg(7, 3, 1e300, "", "x")};
  for (int i = 0; i < 3; i++) assert_int_equal(pk__hub_encode_publish(&b, &in[i]), 0);
  /* length prefix: big-endian, counts type + fields */
  assert_int_equal((unsigned char)b.data[3], PK_HUB_PUBLISH_FIXED + 5 + 7);
  assert_int_equal(b.data[0] | b.data[1] | b.data[2], 0);
  assert_int_equal(b.data[4], PK_HUB_PUBLISH);
  pk__hub_decoder d; pk__hub_decoder_init(&d);
  assert_int_equal(pk__hub_decoder_feed(&d, b.data, b.len), 0);
  pk__hub_frame f;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(pk__hub_decoder_next(&d, &f), 1);
    assert_int_equal(f.type, PK_HUB_PUBLISH);
    pk__hub_msg m;
    assert_int_equal(pk__hub_parse_publish(&f, &m), 0);
    assert_msg_equal(&m, &in[i]);
  }
  assert_int_equal(pk__hub_decoder_next(&d, &f), 0);
  assert_int_equal(f.raw + f.raw_len, d.buf.data + d.buf.len);   /* the last frame ends the stream */
  pk__hub_decoder_free(&d);
  pk__buf_free(&b);
}

static void test_byte_by_byte(void **s) {
  pk__buf b; pk__buf_init(&b);
  char big[5000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (char)('a' + i % 26);
  big[sizeof big - 1] = 0;
  pk__hub_msg in[4] = {msg(1, 1, 0, "a", "one"), msg(1, 2, 5, "topic/with/slashes", big),
                       msg(1, 3, 0, "b", ""), msg(1, 4, 0, "c", "four")};
  for (int i = 0; i < 4; i++) assert_int_equal(pk__hub_encode_publish(&b, &in[i]), 0);
  pk__hub_decoder d; pk__hub_decoder_init(&d);
  int got = 0;
  for (size_t k = 0; k < b.len; k++) {
    assert_int_equal(pk__hub_decoder_feed(&d, b.data + k, 1), 0);
    pk__hub_frame f;
    int rc;
    while ((rc = pk__hub_decoder_next(&d, &f)) == 1) {
      pk__hub_msg m;
      assert_int_equal(pk__hub_parse_publish(&f, &m), 0);
      assert_true(got < 4);
      assert_msg_equal(&m, &in[got]);
      got++;
      assert_int_equal(k + 1 == b.len || got < 4, 1);
    }
    assert_int_equal(rc, 0);
  }
  assert_int_equal(got, 4);
  pk__hub_decoder_free(&d);
  pk__buf_free(&b);
}

static void test_bad_lengths(void **s) {
  pk__hub_decoder d; pk__hub_decoder_init(&d);
  pk__hub_frame f;
  static const char zero[] = {0, 0, 0, 0, 1};
  assert_int_equal(pk__hub_decoder_feed(&d, zero, sizeof zero), 0);
  assert_int_equal(pk__hub_decoder_next(&d, &f), -EPROTO);
  pk__hub_decoder_free(&d);

  pk__hub_decoder_init(&d);
  static const char huge[] = {(char)0xff, 0, 0, 0};   /* 4 GiB: never waited for */
  assert_int_equal(pk__hub_decoder_feed(&d, huge, 3), 0);
  assert_int_equal(pk__hub_decoder_next(&d, &f), 0);
  assert_int_equal(pk__hub_decoder_feed(&d, huge + 3, 1), 0);
  assert_int_equal(pk__hub_decoder_next(&d, &f), -EPROTO);
  pk__hub_decoder_free(&d);

  pk__hub_decoder_init(&d);
  d.max_frame = 100;
  char over[4 + 101] = {0, 0, 0, 101, PK_HUB_PUBLISH};
  assert_int_equal(pk__hub_decoder_feed(&d, over, sizeof over), 0);
  assert_int_equal(pk__hub_decoder_next(&d, &f), -EPROTO);
  pk__hub_decoder_free(&d);

  /* a PUBLISH too short for its fields, or whose topic runs past its end */
  pk__buf b; pk__buf_init(&b);
  pk__hub_msg m = msg(1, 1, 0, "topic", "data");
  assert_int_equal(pk__hub_encode_publish(&b, &m), 0);
  pk__hub_frame g = {b.data, b.len, PK_HUB_PUBLISH, b.data + 5, b.len - 5};
  pk__hub_msg out;
  assert_int_equal(pk__hub_parse_publish(&g, &out), 0);
  g.body_len = PK_HUB_PUBLISH_FIXED - 2;
  assert_int_equal(pk__hub_parse_publish(&g, &out), -EPROTO);
  g.body_len = b.len - 5;
  b.data[5 + 23] = 10;   /* topic length 10, but only 5 + 4 bytes follow */
  assert_int_equal(pk__hub_parse_publish(&g, &out), -EPROTO);
  g.type = 99;
  assert_int_equal(pk__hub_parse_publish(&g, &out), -EPROTO);
  pk__buf_free(&b);

  /* too big to encode */
  pk__buf_init(&b);
  m.dlen = PK_HUB_MAX_FRAME;
  assert_int_equal(pk__hub_encode_publish(&b, &m), -EMSGSIZE);
  assert_int_equal(b.len, 0);
  pk__buf_free(&b);
}

/* A topic name is at most PK__WS_MAX_TOPIC_LEN bytes: a longer one is neither encoded, nor
 * published by a worker, nor taken (so nor forwarded) by the master or a worker. */
static void test_topic_limit(void **s) {
  char topic[PK__WS_MAX_TOPIC_LEN + 2];
  memset(topic, 't', sizeof topic);
  topic[PK__WS_MAX_TOPIC_LEN] = 0;                       /* the longest: 256 bytes */
  pk__buf b; pk__buf_init(&b);
  pk__hub_msg m = msg(1, 1, 0, topic, "d");
  assert_int_equal(pk__hub_encode_publish(&b, &m), 0);
  pk__hub_frame f = {b.data, b.len, PK_HUB_PUBLISH, b.data + 5, b.len - 5};
  pk__hub_msg out;
  assert_int_equal(pk__hub_parse_publish(&f, &out), 0);
  assert_int_equal(out.tlen, PK__WS_MAX_TOPIC_LEN);
  assert_int_equal(out.dlen, 1);
  /* the same frame read with a 257-byte topic (its data byte taken as the topic's last) */
  b.data[5 + 23] = 1;                                     /* topic length 0x101 */
  assert_int_equal(pk__hub_parse_publish(&f, &out), -EPROTO);
  m.tlen = PK__WS_MAX_TOPIC_LEN + 1;
  size_t before = b.len;
  assert_int_equal(pk__hub_encode_publish(&b, &m), -ENAMETOOLONG);
  assert_int_equal(b.len, before);
  assert_int_equal(pk__hub_publish(topic, PK__WS_MAX_TOPIC_LEN + 1, "d", 1, 0), -ENAMETOOLONG);

  /* the master does not route it: the worker that sent it broke the protocol */
  pk__hub h;
  assert_int_equal(pk__hub_init(&h, 2), 0);
  int w[2][2];
  for (int i = 0; i < 2; i++) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, w[i]), 0);
    pk__hub_attach(&h, i, w[i][0]);
  }
  assert_int_equal(write(w[0][1], b.data, b.len), (ssize_t)b.len);
  assert_int_equal(pk__hub_read(&h, 0), -EPROTO);
  assert_int_equal(pk__hub_pending(&h, 1), 0);
  pk__hub_free(&h);
  for (int i = 0; i < 2; i++) close(w[i][1]);
  pk__buf_free(&b);
}

/* Reads every frame available on fd (non-blocking) into msgs; returns how many. */
static int drain_fd(int fd, pk__hub_decoder *d, pk__hub_msg *msgs, char bufs[][64], int max) {
  int n = 0;
  for (;;) {
    size_t room;
    char *p = pk__hub_decoder_space(d, 4096, &room);
    ssize_t r = recv(fd, p, room, MSG_DONTWAIT);
    if (r <= 0) break;
    pk__hub_decoder_commit(d, (size_t)r);
    pk__hub_frame f;
    while (pk__hub_decoder_next(d, &f) == 1) {
      assert_true(n < max);
      assert_int_equal(pk__hub_parse_publish(&f, &msgs[n]), 0);
      /* keep the topic: the decoder's buffer moves on the next read */
      assert_true(msgs[n].tlen < 64);
      memcpy(bufs[n], msgs[n].topic, msgs[n].tlen);
      bufs[n][msgs[n].tlen] = 0;
      msgs[n].topic = bufs[n];
      msgs[n].data = NULL;
      n++;
    }
  }
  return n;
}

/* Three workers: a publish by worker 1 reaches workers 2 and 3, in order, and not worker 1. */
static void test_route_to_others(void **s) {
  pk__hub h;
  assert_int_equal(pk__hub_init(&h, 3), 0);
  int w[3][2];
  for (int i = 0; i < 3; i++) {
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, w[i]), 0);
    pk__hub_attach(&h, i, w[i][0]);
  }
  /* worker 1 writes three frames, the last one split over two writes */
  pk__buf b; pk__buf_init(&b);
  char topic[8];
  for (int k = 0; k < 3; k++) {
    snprintf(topic, sizeof topic, "t%d", k);
    pk__hub_msg m = msg(1, (uint64_t)k + 1, 0, topic, "payload");
    assert_int_equal(pk__hub_encode_publish(&b, &m), 0);
  }
  assert_int_equal(write(w[0][1], b.data, b.len - 3), (ssize_t)(b.len - 3));
  assert_int_equal(pk__hub_read(&h, 0), 0);
  assert_int_equal(pk__hub_pending(&h, 0), 0);
  assert_true(pk__hub_pending(&h, 1) > 0);
  assert_int_equal(write(w[0][1], b.data + b.len - 3, 3), 3);
  assert_int_equal(pk__hub_read(&h, 0), 0);
  for (int i = 0; i < 3; i++) assert_int_equal(pk__hub_flush(&h, i), 0);
  for (int i = 1; i < 3; i++) {
    assert_int_equal(pk__hub_pending(&h, i), 0);
    pk__hub_decoder d; pk__hub_decoder_init(&d);
    pk__hub_msg got[4];
    char bufs[4][64];
    assert_int_equal(drain_fd(w[i][1], &d, got, bufs, 4), 3);
    for (int k = 0; k < 3; k++) {
      assert_int_equal(got[k].origin, 1);
      assert_int_equal(got[k].seq, (uint64_t)k + 1);
      snprintf(topic, sizeof topic, "t%d", k);
      assert_string_equal(got[k].topic, topic);
    }
    pk__hub_decoder_free(&d);
  }
  char c;
  assert_int_equal(recv(w[0][1], &c, 1, MSG_DONTWAIT), -1);   /* nothing back to the origin */

  /* a detached worker gets nothing; its end of stream reads as -EPIPE */
  pk__hub_detach(&h, 2);
  pk__hub_frame f = {b.data, 4 + (size_t)((unsigned char)b.data[3]), PK_HUB_PUBLISH, 0, 0};
  assert_int_equal(pk__hub_route(&h, 0, &f), 1);
  close(w[1][1]);
  assert_int_equal(pk__hub_flush(&h, 1) < 0 || pk__hub_read(&h, 1) == -EPIPE, 1);

  /* a malformed frame from a worker is an error */
  static const char bad[] = {0, 0, 0, 0};
  assert_int_equal(write(w[0][1], bad, sizeof bad), 4);
  assert_int_equal(pk__hub_read(&h, 0), -EPROTO);

  pk__hub_free(&h);
  for (int i = 0; i < 3; i++) if (i != 1) close(w[i][1]);
  pk__buf_free(&b);
}

/* A worker that does not read: its backlog is dropped at the bound, the frame it was in the
 * middle of receiving is kept whole, and newer frames follow. */
static void test_backlog_bound(void **s) {
  pk__hub h;
  assert_int_equal(pk__hub_init(&h, 2), 0);
  h.backlog_max = 64 * 1024;
  int w[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, w), 0);
  int small = 4096;
  setsockopt(w[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  setsockopt(w[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  pk__hub_attach(&h, 1, w[0]);
  h.peers[0].fd = 1000;   /* a stand-in origin: never read or written here */
  static char data[20000];
  memset(data, 'd', sizeof data - 1);
  pk__buf b; pk__buf_init(&b);
  uint64_t seq = 0;
  int routed = 0;
  /* first frame: bigger than the socket takes, so it is left half written */
  pk__hub_msg m = msg(1, ++seq, 0, "t", data);
  assert_int_equal(pk__hub_encode_publish(&b, &m), 0);
  pk__hub_frame f = {b.data, b.len, PK_HUB_PUBLISH, b.data + 5, b.len - 5};
  assert_int_equal(pk__hub_route(&h, 0, &f), 1);
  routed++;
  assert_int_equal(pk__hub_flush(&h, 1), 0);
  assert_true(pk__hub_pending(&h, 1) > 0 && h.peers[1].front_left > 0);
  size_t left = h.peers[1].front_left;
  /* more frames until the bound is crossed */
  while (h.peers[1].dropped == 0) {
    b.len = 0;
    m.seq = ++seq;
    assert_int_equal(pk__hub_encode_publish(&b, &m), 0);
    f.raw = b.data; f.raw_len = b.len;
    assert_int_equal(pk__hub_route(&h, 0, &f), 1);
    routed++;
    assert_true(pk__hub_pending(&h, 1) <= h.backlog_max);
  }
  assert_true(pk__hub_pending(&h, 1) == left + b.len);
  assert_int_equal(h.peers[1].dropped, (uint64_t)(routed - 2));
  /* the worker reads again: it gets frame 1 whole, then the newest one */
  pk__hub_decoder d; pk__hub_decoder_init(&d);
  pk__hub_msg got[8];
  char bufs[8][64];
  int n = 0;
  for (int spin = 0; spin < 1000 && n < 2; spin++) {
    assert_int_equal(pk__hub_flush(&h, 1), 0);
    n += drain_fd(w[1], &d, got + n, bufs + n, 8 - n);
  }
  assert_int_equal(n, 2);
  assert_int_equal(got[0].seq, 1);
  assert_int_equal(got[1].seq, seq);
  assert_int_equal(pk__hub_pending(&h, 1), 0);
  pk__hub_decoder_free(&d);
  h.peers[0].fd = -1;
  pk__hub_free(&h);
  close(w[1]);
  pk__buf_free(&b);
}

/* ---- the worker side, on a real loop ---- */

static struct { int delivered, lost; char last[64]; double exclude; } cb;

static void deliver(const char *topic, size_t tlen, const char *data, size_t dlen, double exclude) {
  cb.delivered++;
  snprintf(cb.last, sizeof cb.last, "%.*s=%.*s", (int)tlen, topic, (int)dlen, data);
  cb.exclude = exclude;
}
static void lost(void) { cb.lost++; }

static void run_a_bit(uv_loop_t *loop) {
  for (int i = 0; i < 20; i++) uv_run(loop, UV_RUN_NOWAIT);
}

static void test_client(void **s) {
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  memset(&cb, 0, sizeof cb);
  pk__hub_deliver = deliver;
  pk__hub_lost = lost;
  assert_int_equal(pk__hub_publish("t", 1, "x", 1, 0), 0);   /* no hub yet: a no-op */
  assert_int_equal(pk__hub_client_active(), 0);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(pk__hub_client_start(&loop, sv[0], 4), 0);
  assert_int_equal(pk__hub_client_active(), 1);

  /* publish: queued, written in one go at flush, numbered from 1 */
  assert_int_equal(pk__hub_publish("news", 4, "hello", 5, 12), 0);
  assert_int_equal(pk__hub_publish("news", 4, "again", 5, 0), 0);
  pk__hub_client_flush();
  run_a_bit(&loop);
  pk__hub_decoder d; pk__hub_decoder_init(&d);
  pk__hub_msg got[4];
  char bufs[4][64];
  assert_int_equal(drain_fd(sv[1], &d, got, bufs, 4), 2);
  assert_int_equal(got[0].origin, 4);
  assert_int_equal(got[0].seq, 1);
  assert_true(got[0].exclude == 12);
  assert_string_equal(got[0].topic, "news");
  assert_int_equal(got[1].seq, 2);

  /* delivery of what the master forwards, split over two writes */
  pk__buf b; pk__buf_init(&b);
  pk__hub_msg m = msg(2, 1, 77, "room", "hi");
  assert_int_equal(pk__hub_encode_publish(&b, &m), 0);
  m = msg(2, 2, 0, "room", "there");
  assert_int_equal(pk__hub_encode_publish(&b, &m), 0);
  assert_int_equal(write(sv[1], b.data, 7), 7);
  run_a_bit(&loop);
  assert_int_equal(cb.delivered, 0);
  assert_int_equal(write(sv[1], b.data + 7, b.len - 7), (ssize_t)(b.len - 7));
  run_a_bit(&loop);
  assert_int_equal(cb.delivered, 2);
  assert_string_equal(cb.last, "room=there");

  /* oversized publish */
  assert_int_equal(pk__hub_publish("t", 1, b.data, PK_HUB_MAX_FRAME, 0), -EMSGSIZE);

  /* the master goes away: lost once, then publishes are no-ops and the loop closes clean */
  close(sv[1]);
  run_a_bit(&loop);
  assert_int_equal(cb.lost, 1);
  assert_int_equal(pk__hub_client_active(), 0);
  assert_int_equal(pk__hub_publish("t", 1, "x", 1, 0), 0);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);

  /* start again, then stop: a clean close too */
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  assert_int_equal(pk__hub_client_start(&loop, sv[0], 1), 0);
  pk__hub_client_stop();
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
  assert_int_equal(cb.lost, 1);
  close(sv[1]);
  pk__hub_deliver = NULL;
  pk__hub_lost = NULL;
  pk__hub_decoder_free(&d);
  pk__buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_byte_by_byte),
      cmocka_unit_test(test_bad_lengths),
      cmocka_unit_test(test_topic_limit),
      cmocka_unit_test(test_route_to_others),
      cmocka_unit_test(test_backlog_bound),
      cmocka_unit_test(test_client),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
