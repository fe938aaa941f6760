/* test_hub_jobs.c: unit tests of the hub's job frames: round trips, bad frames, routing replies and dropping only publishes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "hub.h"
#include "hub_jobs.h"

static pk__job_frame frame(int type, const char *name, const char *key, const char *data) {
  pk__job_frame f = {.type = type, .name = name, .nlen = strlen(name), .key = key, .klen = strlen(key),
                     .data = data, .dlen = strlen(data)};
  return f;
}

static void assert_frame_equal(const pk__job_frame *a, const pk__job_frame *b) {
  assert_int_equal(a->type, b->type);
  assert_int_equal(a->req, b->req);
  assert_true(a->job == b->job);
  assert_int_equal(a->attempt, b->attempt);
  assert_int_equal(a->status, b->status);
  assert_int_equal(a->priority, b->priority);
  assert_true(a->ms == b->ms);
  assert_int_equal(a->flag, b->flag);
  assert_int_equal(a->nlen, b->nlen);
  assert_memory_equal(a->name, b->name, a->nlen);
  assert_int_equal(a->klen, b->klen);
  if (a->klen) assert_memory_equal(a->key, b->key, a->klen);
  assert_int_equal(a->dlen, b->dlen);
  if (a->dlen) assert_memory_equal(a->data, b->data, a->dlen);
}

static void test_round_trip(void **s) {
  pk__job_frame in[4];
  in[0] = frame(PK_HUB_JOB_ADD, "emails", "order-7", "{\"to\":\"a@b\"}");
  in[0].req = 7; in[0].priority = 2097152; in[0].ms = 1500;
  in[1] = frame(PK_HUB_JOB_RESULT, "", "", "Error: boom");
  in[1].job = 9007199254740993LL; in[1].attempt = 3; in[1].status = PK_OUTCOME_FAIL;
  in[2] = frame(PK_HUB_JOB_ADDED, "", "42", "");
  in[2].req = 0xffffffffu; in[2].status = -ENOSPC; in[2].flag = 1;
  in[3] = frame(PK_HUB_TICK, "daily-summary", "", "");
  in[3].ms = -5; in[3].flag = 1;
  pk__buf b; pk__buf_init(&b);
  for (int i = 0; i < 4; i++) assert_int_equal(pk__hub_encode_job(&b, &in[i]), 0);
  pk__hub_decoder d; pk__hub_decoder_init(&d);
  assert_int_equal(pk__hub_decoder_feed(&d, b.data, b.len), 0);
  for (int i = 0; i < 4; i++) {
    pk__hub_frame raw;
    assert_int_equal(pk__hub_decoder_next(&d, &raw), 1);
    assert_true(pk__hub_is_job_type(raw.type));
    pk__job_frame out;
    assert_int_equal(pk__hub_parse_job(&raw, &out), 0);
    assert_frame_equal(&out, &in[i]);
  }
  pk__hub_decoder_free(&d);
  pk__buf_free(&b);
}

static void test_bad_frames(void **s) {
  pk__buf b; pk__buf_init(&b);
  pk__job_frame f = frame(PK_HUB_PUBLISH, "x", "", "");
  assert_int_equal(pk__hub_encode_job(&b, &f), -EINVAL);   /* not a job frame */
  f.type = PK_HUB_JOB_GET;
  assert_int_equal(pk__hub_encode_job(&b, &f), 0);
  pk__hub_frame raw = {.raw = b.data, .raw_len = b.len, .type = b.data[4], .body = b.data + 5, .body_len = b.len - 5};
  pk__job_frame out;
  for (size_t cut = 1; cut <= raw.body_len; cut++) {   /* any shorter body is refused */
    pk__hub_frame shorter = raw;
    shorter.body_len = raw.body_len - cut;
    assert_int_equal(pk__hub_parse_job(&shorter, &out), -EPROTO);
  }
  /* a name length that runs past the end */
  pk__hub_put32(b.data + 4 + 1 + 37, 1000);
  assert_int_equal(pk__hub_parse_job(&raw, &out), -EPROTO);
  raw.type = 12;
  assert_int_equal(pk__hub_parse_job(&raw, &out), -EPROTO);
  char big[64];
  memset(big, 'a', sizeof big);
  f.data = big;
  f.dlen = PK_HUB_MAX_FRAME;
  assert_int_equal(pk__hub_encode_job(&b, &f), -EMSGSIZE);
  pk__buf_free(&b);
}

/* The master's side: frames that are not PUBLISH go to on_frame, with the slot; pk__hub_send
 * reaches one worker; a slow worker loses its queued publishes but never the master's own frames. */
static int seen_from = -1, seen_type = -1;
static int on_frame(int from, const pk__hub_frame *f, void *ud) {
  seen_from = from;
  seen_type = f->type;
  return f->type == 99 ? -EPROTO : 0;
}

static void test_master_dispatch_and_send(void **s) {
  pk__hub h;
  assert_int_equal(pk__hub_init(&h, 2), 0);
  h.on_frame = on_frame;
  int a[2], c[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
  pk__hub_attach(&h, 0, a[0]);
  pk__hub_attach(&h, 1, c[0]);
  pk__buf b; pk__buf_init(&b);
  pk__job_frame f = frame(PK_HUB_JOB_ADD, "q", "", "{}");
  assert_int_equal(pk__hub_encode_job(&b, &f), 0);
  assert_int_equal(write(c[1], b.data, b.len), (ssize_t)b.len);
  assert_int_equal(pk__hub_read(&h, 1), 0);
  assert_int_equal(seen_from, 1);
  assert_int_equal(seen_type, PK_HUB_JOB_ADD);
  /* a reply to worker 2 only */
  assert_int_equal(pk__hub_send(&h, 1, b.data, b.len), 0);
  assert_int_equal(pk__hub_pending(&h, 0), 0);
  assert_int_equal(pk__hub_pending(&h, 1), b.len);
  /* over the backlog bound, publishes go, the master's own frame stays */
  h.backlog_max = b.len + 40;
  pk__hub_msg m = {1, 1, 0, "t", 1, "0123456789012345678901234567890123456789", 40};
  pk__buf p; pk__buf_init(&p);
  assert_int_equal(pk__hub_encode_publish(&p, &m), 0);
  pk__hub_frame pf = {.raw = p.data, .raw_len = p.len, .type = PK_HUB_PUBLISH};
  assert_int_equal(pk__hub_route(&h, 0, &pf), 1);   /* over the bound: nothing to drop yet */
  assert_int_equal(pk__hub_pending(&h, 1), b.len + p.len);
  assert_int_equal(pk__hub_route(&h, 0, &pf), 1);   /* the first publish goes, the reply stays */
  assert_int_equal(pk__hub_pending(&h, 1), b.len + p.len);
  assert_int_equal(h.peers[1].dropped, 1);
  assert_int_equal(pk__hub_flush(&h, 1), 0);
  char got[256];
  assert_int_equal(read(c[1], got, sizeof got), (ssize_t)(b.len + p.len));
  assert_memory_equal(got, b.data, b.len);
  assert_memory_equal(got + b.len, p.data, p.len);
  /* an unknown type is a protocol error */
  char bad[5] = {0, 0, 0, 1, 99};
  assert_int_equal(write(a[1], bad, sizeof bad), 5);
  assert_int_equal(pk__hub_read(&h, 0), -EPROTO);
  assert_int_equal(pk__hub_send(&h, 5, b.data, b.len), -EPIPE);
  pk__hub_detach(&h, 1);
  assert_int_equal(pk__hub_send(&h, 1, b.data, b.len), -EPIPE);
  pk__buf_free(&p);
  pk__buf_free(&b);
  pk__hub_free(&h);
  close(a[1]);
  close(c[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_round_trip),
      cmocka_unit_test(test_bad_frames),
      cmocka_unit_test(test_master_dispatch_and_send),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
