/* test_ws_frame.c: unit tests of ws_frame.c: RFC 6455 section 5.7 examples, every rejection with its close code, any split of the input, encoders. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ws_frame.h"

/* ---- what the callbacks saw ---- */

enum { EV_MESSAGE = 'm', EV_PING = 'i', EV_PONG = 'o', EV_CLOSE = 'c' };
typedef struct ev { int kind, opcode, code; size_t len; char *data; const char *at; } ev;
#define MAX_EV 16
typedef struct outcome {
  ev ev[MAX_EV];
  int nev;
  int rc;            /* 0, or the error the feed ended with */
  int close_code;
  int stops;         /* PK__WS_STOP returns */
} outcome;

static outcome *cur;
static int stop_on_message;       /* on_message returns this */

static int record(int kind, int opcode, int code, const char *d, size_t n) {
  assert_non_null(d);
  assert_true(cur->nev < MAX_EV);
  ev *e = &cur->ev[cur->nev++];
  e->kind = kind; e->opcode = opcode; e->code = code; e->len = n; e->at = d;
  e->data = malloc(n + 1);
  memcpy(e->data, d, n);
  e->data[n] = 0;
  return 0;
}
static int on_message(pk__ws_parser *p, int op, const char *d, size_t n) { record(EV_MESSAGE, op, 0, d, n); return stop_on_message; }
static int on_ping(pk__ws_parser *p, const char *d, size_t n) { return record(EV_PING, 0, 0, d, n); }
static int on_pong(pk__ws_parser *p, const char *d, size_t n) { return record(EV_PONG, 0, 0, d, n); }
static int on_close(pk__ws_parser *p, int code, const char *d, size_t n) { return record(EV_CLOSE, 0, code, d, n); }
static const pk__ws_callbacks CB = { on_message, on_ping, on_pong, on_close };

static void outcome_free(outcome *o) {
  for (int i = 0; i < o->nev; i++) free(o->ev[i].data);
  memset(o, 0, sizeof *o);
}

/* ---- building client frames ---- */

static const uint8_t KEY[4] = { 0x37, 0xfa, 0x21, 0x3d };   /* the key of RFC 6455 section 5.7 */
#define WIRE_MAX (3 * 65536 + 4096)
static uint8_t W[WIRE_MAX];
static size_t WN;

static void raw(const void *b, size_t n) { assert_true(WN + n <= WIRE_MAX); memcpy(W + WN, b, n); WN += n; }
/* A frame with first byte b0 (FIN, RSV, opcode), masked with KEY, length in its shortest form. */
static void frame_masked(int b0, const void *payload, size_t len, int masked) {
  uint8_t h[14];
  size_t hn = pk__ws_frame_header(h, b0 & 0x0f, len, 0);
  h[0] = (uint8_t)b0;
  if (masked) { h[1] |= 0x80; memcpy(h + hn, KEY, 4); hn += 4; }
  raw(h, hn);
  assert_true(WN + len <= WIRE_MAX);
  if (masked) pk__ws_mask((char *)W + WN, payload, len, KEY, 0);
  else if (len) memcpy(W + WN, payload, len);
  WN += len;
}
static void frame(int b0, const void *payload, size_t len) { frame_masked(b0, payload, len, 1); }
static void frame_s(int b0, const char *s) { frame(b0, s, strlen(s)); }
static void close_frame(int code, const char *reason, size_t rlen) {
  uint8_t p[2 + 200];
  p[0] = (uint8_t)(code >> 8); p[1] = (uint8_t)code;
  memcpy(p + 2, reason, rlen);
  frame(0x88, p, 2 + rlen);
}

/* ---- feeding ---- */

/* Feeds W[0..WN) cut at the given positions; every chunk is copied to a heap block of exactly
 * its size, so ASan sees any read or write past a chunk. */
static void feed_cuts(outcome *o, uint64_t max, const size_t *cuts, size_t ncuts) {
  pk__ws_parser p;
  pk__ws_parser_init(&p, &CB, max, NULL);
  memset(o, 0, sizeof *o);
  cur = o;
  size_t start = 0;
  for (size_t c = 0; c <= ncuts && !o->rc; c++) {
    size_t end = c < ncuts ? cuts[c] : WN;
    size_t len = end - start;
    char *chunk = malloc(len ? len : 1);
    memcpy(chunk, W + start, len);
    size_t off = 0;
    for (;;) {
      size_t used;
      int rc = pk__ws_parser_feed(&p, chunk + off, len - off, &used);
      assert_true(used <= len - off);
      off += used;
      if (rc == PK__WS_STOP) { o->stops++; continue; }
      if (rc < 0) {
        o->rc = rc;
        o->close_code = p.close_code;
        assert_non_null(p.error);
        /* A failed parser stays failed. */
        assert_int_equal(pk__ws_parser_feed(&p, chunk, len, &used), rc);
        assert_int_equal(used, 0);
      } else {
        assert_int_equal(rc, 0);
        assert_int_equal(off, len);
      }
      break;
    }
    free(chunk);
    start = end;
  }
  pk__ws_parser_free(&p);
  cur = NULL;
}

static void assert_same(const outcome *a, const outcome *b, const char *how) {
  if (a->rc != b->rc || a->close_code != b->close_code || a->nev != b->nev)
    fail_msg("%s: rc %d/%d close %d/%d events %d/%d", how, a->rc, b->rc, a->close_code, b->close_code, a->nev, b->nev);
  for (int i = 0; i < a->nev; i++) {
    const ev *x = &a->ev[i], *y = &b->ev[i];
    if (x->kind != y->kind || x->opcode != y->opcode || x->code != y->code || x->len != y->len ||
        memcmp(x->data, y->data, x->len) != 0)
      fail_msg("%s: event %d differs", how, i);
  }
}

static outcome R;           /* the outcome of feeding the whole input at once */
static uint64_t MAX = 1 << 20;

/* Feeds W whole into R, then byte at a time, cut in two at every position (for inputs up to
 * 2 KiB), and in random chunks: each must end exactly like the whole feed. */
static void run_all(void) {
  outcome o;
  outcome_free(&R);
  feed_cuts(&R, MAX, NULL, 0);
  size_t *cuts = malloc((WN + 1) * sizeof *cuts);
  for (size_t i = 1; i < WN; i++) cuts[i - 1] = i;
  feed_cuts(&o, MAX, cuts, WN ? WN - 1 : 0);
  assert_same(&R, &o, "byte at a time");
  outcome_free(&o);
  if (WN <= 2048) {
    for (size_t k = 1; k < WN; k++) {
      char how[64];
      feed_cuts(&o, MAX, &k, 1);
      snprintf(how, sizeof how, "cut at %zu", k);
      assert_same(&R, &o, how);
      outcome_free(&o);
    }
  }
  unsigned seed = 12345;
  for (int t = 0; t < 20; t++) {
    size_t n = 0, pos = 0;
    for (;;) {
      seed = seed * 1103515245u + 12345u;
      pos += 1 + (seed >> 16) % (t < 10 ? 7 : 3000);
      if (pos >= WN) break;
      cuts[n++] = pos;
    }
    feed_cuts(&o, MAX, cuts, n);
    assert_same(&R, &o, "random chunks");
    outcome_free(&o);
  }
  free(cuts);
}

static int setup(void **s) { WN = 0; MAX = 1 << 20; stop_on_message = 0; return 0; }
static int teardown(void **s) { outcome_free(&R); return 0; }

static void expect_message(int i, int opcode, const void *data, size_t len) {
  assert_true(i < R.nev);
  assert_int_equal(R.ev[i].kind, EV_MESSAGE);
  assert_int_equal(R.ev[i].opcode, opcode);
  assert_int_equal(R.ev[i].len, len);
  assert_memory_equal(R.ev[i].data, data, len);
}
static void expect_event(int i, int kind, const char *data) {
  assert_true(i < R.nev);
  assert_int_equal(R.ev[i].kind, kind);
  assert_int_equal(R.ev[i].len, strlen(data));
  assert_string_equal(R.ev[i].data, data);
}
static void expect_ok(int nev) {
  if (R.rc) fail_msg("failed with %d (close %d)", R.rc, R.close_code);
  assert_int_equal(R.nev, nev);
}
static void expect_error(int code) {
  assert_int_equal(R.rc, code == PK__WS_CLOSE_INTERNAL ? -ENOMEM : -EPROTO);
  assert_int_equal(R.close_code, code);
}

/* ---- RFC 6455 section 5.7 ---- */

static void test_rfc_unmasked_hello_refused(void **s) {
  raw("\x81\x05\x48\x65\x6c\x6c\x6f", 7);
  run_all();
  expect_error(1002);
  assert_int_equal(R.nev, 0);
  WN = 0;
  raw("\x89\x05\x48\x65\x6c\x6c\x6f", 7);                 /* the unmasked ping too */
  run_all();
  expect_error(1002);
}

static void test_rfc_masked_hello(void **s) {
  raw("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
  run_all();
  expect_ok(1);
  expect_message(0, PK__WS_OP_TEXT, "Hello", 5);
}

static void test_rfc_fragmented_hello(void **s) {
  frame_s(0x01, "Hel");
  frame_s(0x80, "lo");
  run_all();
  expect_ok(1);
  expect_message(0, PK__WS_OP_TEXT, "Hello", 5);
}

static void test_rfc_ping_and_pong(void **s) {
  frame_s(0x89, "Hello");
  raw("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);  /* the RFC's masked pong */
  frame(0x89, "", 0);
  run_all();
  expect_ok(3);
  expect_event(0, EV_PING, "Hello");
  expect_event(1, EV_PONG, "Hello");
  expect_event(2, EV_PING, "");
}

static void test_rfc_256_and_64k_binary(void **s) {
  static uint8_t big[65536];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7 + 3);
  frame(0x82, big, 256);
  assert_memory_equal(W, "\x82\xfe\x01\x00", 4);            /* 126 + 16-bit length */
  run_all();
  expect_ok(1);
  expect_message(0, PK__WS_OP_BINARY, big, 256);
  WN = 0;
  frame(0x82, big, 65536);
  assert_memory_equal(W, "\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00", 10);   /* 127 + 64-bit */
  run_all();
  expect_ok(1);
  expect_message(0, PK__WS_OP_BINARY, big, 65536);
}

/* ---- valid traffic ---- */

static void test_length_classes(void **s) {
  static const size_t lens[] = { 0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 65537 };
  static uint8_t buf[65537];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i ^ (i >> 8));
  for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
    WN = 0;
    frame(0x82, buf, lens[i]);
    frame(0x82, buf + 1, lens[i] ? lens[i] - 1 : 0);
    run_all();
    expect_ok(2);
    expect_message(0, PK__WS_OP_BINARY, buf, lens[i]);
    expect_message(1, PK__WS_OP_BINARY, buf + 1, lens[i] ? lens[i] - 1 : 0);
  }
}

static void test_empty_messages_and_fragments(void **s) {
  frame(0x81, "", 0);
  frame(0x82, "", 0);
  frame(0x01, "", 0);                                       /* empty fragments */
  frame(0x00, "", 0);
  frame_s(0x00, "a");
  frame(0x80, "", 0);
  run_all();
  expect_ok(3);
  expect_message(0, PK__WS_OP_TEXT, "", 0);
  expect_message(1, PK__WS_OP_BINARY, "", 0);
  expect_message(2, PK__WS_OP_TEXT, "a", 1);
}

static void test_many_fragments_binary(void **s) {
  static uint8_t buf[3000];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 13);
  frame(0x02, buf, 1000);
  frame(0x00, buf + 1000, 1);
  frame(0x00, buf + 1001, 999);
  frame(0x80, buf + 2000, 1000);
  run_all();
  expect_ok(1);
  expect_message(0, PK__WS_OP_BINARY, buf, 3000);
}

static void test_control_between_fragments(void **s) {
  frame_s(0x01, "Hel");
  frame_s(0x89, "are you there?");
  frame_s(0x00, "l");
  frame_s(0x8a, "pong");
  frame_s(0x89, "again");
  frame_s(0x80, "o");
  frame_s(0x81, "next");
  run_all();
  expect_ok(5);
  expect_event(0, EV_PING, "are you there?");               /* delivered at once, before the message */
  expect_event(1, EV_PONG, "pong");
  expect_event(2, EV_PING, "again");
  expect_message(3, PK__WS_OP_TEXT, "Hello", 5);
  expect_message(4, PK__WS_OP_TEXT, "next", 4);
}

static void test_utf8_across_fragments(void **s) {
  /* "κόσμε" with the fragments cut inside code points (2- and 3-byte ones) and a 4-byte emoji
   * cut over three fragments. */
  const char t[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf0\x9f\x98\x80";
  frame(0x01, t, 1);
  frame(0x00, t + 1, 2);
  frame(0x00, t + 3, 9);
  frame(0x00, t + 12, 1);
  frame(0x80, t + 13, 2);
  run_all();
  expect_ok(1);
  expect_message(0, PK__WS_OP_TEXT, t, sizeof t - 1);
}

static void test_close_frames(void **s) {
  close_frame(1000, "bye", 3);
  frame_s(0x81, "ignored after the close");
  raw("\xff\xff\xff", 3);                                   /* garbage after the close: ignored */
  run_all();
  expect_ok(1);
  assert_int_equal(R.ev[0].kind, EV_CLOSE);
  assert_int_equal(R.ev[0].code, 1000);
  assert_string_equal(R.ev[0].data, "bye");
  WN = 0;
  frame(0x88, "", 0);                                       /* no status code */
  run_all();
  expect_ok(1);
  assert_int_equal(R.ev[0].code, PK__WS_CLOSE_NO_STATUS);
  assert_int_equal(R.ev[0].len, 0);
  WN = 0;
  char reason[123];
  memset(reason, 'r', sizeof reason);
  frame_s(0x02, "unfinished");                              /* a close may cut a message short */
  close_frame(4999, reason, sizeof reason);
  run_all();
  expect_ok(1);
  assert_int_equal(R.ev[0].code, 4999);
  assert_int_equal(R.ev[0].len, 123);
  WN = 0;
  close_frame(1001, "\xc3\xa9t\xc3\xa9", 6);
  run_all();
  expect_ok(1);
  assert_string_equal(R.ev[0].data, "\xc3\xa9t\xc3\xa9");
}

static void test_close_codes(void **s) {
  for (int code = 0; code < 65536; code += code < 5100 ? 1 : 97) {
    WN = 0;
    close_frame(code, "", 0);
    outcome_free(&R);
    feed_cuts(&R, MAX, NULL, 0);
    int ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
    assert_int_equal(pk__ws_close_code_valid(code), ok);
    if (ok) {
      expect_ok(1);
      assert_int_equal(R.ev[0].code, code);
    } else {
      expect_error(1002);
    }
  }
  /* Every split for the named ones. */
  static const int bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535 };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    WN = 0;
    close_frame(bad[i], "x", 1);
    run_all();
    expect_error(1002);
  }
}

/* ---- rejections ---- */

static void test_reserved_bits(void **s) {
  static const int bits[] = { 0x40, 0x20, 0x10, 0x70 };
  for (size_t i = 0; i < 4; i++) {
    WN = 0;
    frame_s(0x81 | bits[i], "Hello");
    run_all();
    expect_error(1002);
    assert_int_equal(R.nev, 0);
    WN = 0;
    frame_s(0x89 | bits[i], "");                            /* on control frames too */
    run_all();
    expect_error(1002);
  }
}

static void test_unknown_opcodes(void **s) {
  static const int ops[] = { 3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf };
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
    WN = 0;
    frame_s(0x80 | ops[i], "x");
    run_all();
    expect_error(1002);
  }
}

static void test_bad_control_frames(void **s) {
  static char p[200];
  memset(p, 'p', sizeof p);
  frame(0x89, p, 126);                                      /* ping over 125 bytes */
  run_all();
  expect_error(1002);
  WN = 0;
  frame(0x89, p, 125);                                      /* 125 is fine */
  run_all();
  expect_ok(1);
  WN = 0;
  frame_s(0x09, "x");                                       /* FIN = 0 */
  run_all();
  expect_error(1002);
  WN = 0;
  frame_s(0x0a, "x");
  run_all();
  expect_error(1002);
  WN = 0;
  frame(0x88, "\x03", 1);                                   /* close with a 1-byte payload */
  run_all();
  expect_error(1002);
  WN = 0;
  close_frame(1000, "\xff", 1);                             /* reason not UTF-8 */
  run_all();
  expect_error(1007);
  WN = 0;
  close_frame(1000, "\xe2\x82", 2);                         /* reason cut in a code point */
  run_all();
  expect_error(1007);
}

/* A masked frame whose length is written in the 16-bit (form 126) or 64-bit (form 127) extended
 * form, whatever its size. */
static void frame_len_form(int b0, const void *payload, size_t len, int form) {
  uint8_t h[14];
  size_t hn = 2;
  h[0] = (uint8_t)b0;
  h[1] = (uint8_t)(0x80 | form);
  for (int i = form == 126 ? 1 : 7; i >= 0; i--) h[hn++] = (uint8_t)((uint64_t)len >> (8 * i));
  memcpy(h + hn, KEY, 4);
  raw(h, hn + 4);
  assert_true(WN + len <= WIRE_MAX);
  pk__ws_mask((char *)W + WN, payload, len, KEY, 0);
  WN += len;
}

/* docs/websocket.md: lengths not in their shortest form are accepted; for a control frame too,
 * as long as the payload is at most 125 bytes. */
static void test_control_frame_extended_length(void **s) {
  static char p[126];
  memset(p, 'p', sizeof p);
  p[124] = 'z';
  frame_len_form(0x89, p, 125, 126);                        /* a 125-byte ping, 16-bit form */
  frame_len_form(0x8a, "pong", 4, 127);                     /* a pong, 64-bit form */
  frame_len_form(0x89, "", 0, 126);
  uint8_t c[2 + 3] = { 0x03, 0xe8, 'b', 'y', 'e' };
  frame_len_form(0x88, c, sizeof c, 126);                   /* a close, 16-bit form */
  run_all();
  expect_ok(4);
  assert_int_equal(R.ev[0].kind, EV_PING);
  assert_int_equal(R.ev[0].len, 125);
  assert_memory_equal(R.ev[0].data, p, 125);
  expect_event(1, EV_PONG, "pong");
  expect_event(2, EV_PING, "");
  expect_event(3, EV_CLOSE, "bye");
  assert_int_equal(R.ev[3].code, 1000);
  WN = 0;
  frame_len_form(0x89, p, 126, 126);                        /* 126 bytes: too long, any form */
  run_all();
  expect_error(1002);
  assert_int_equal(R.nev, 0);
  WN = 0;
  raw("\x89\xff\x00\x00\x01\x00\x00\x00\x00\x00", 10);      /* 2^40: refused before the key */
  run_all();
  expect_error(1002);
}

static void test_fragment_order(void **s) {
  frame_s(0x80, "orphan");                                  /* continuation with nothing open */
  run_all();
  expect_error(1002);
  WN = 0;
  frame_s(0x00, "orphan");
  run_all();
  expect_error(1002);
  WN = 0;
  frame_s(0x01, "Hel");
  frame_s(0x81, "new message");                             /* new data frame mid-message */
  run_all();
  expect_error(1002);
  WN = 0;
  frame_s(0x02, "Hel");
  frame_s(0x01, "new fragmented message");
  run_all();
  expect_error(1002);
  WN = 0;
  frame_s(0x81, "whole");                                   /* after a whole message... */
  frame_s(0x80, "orphan");                                  /* ...nothing is open */
  run_all();
  expect_error(1002);
  assert_int_equal(R.nev, 1);
}

static void test_length_top_bit(void **s) {
  raw("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x05", 10);
  raw(KEY, 4);
  raw("hello", 5);
  run_all();
  expect_error(1002);
  /* Refused as soon as the length is read: no mask key needed. */
  WN = 0;
  raw("\x82\xff\x80\x00\x00\x00\x00\x00\x00\x00", 10);
  run_all();
  expect_error(1002);
}

static void test_max_message_size(void **s) {
  static uint8_t buf[2048];
  memset(buf, 'b', sizeof buf);
  MAX = 1000;
  frame(0x82, buf, 1000);                                   /* exactly the limit */
  run_all();
  expect_ok(1);
  WN = 0;
  frame(0x82, buf, 1001);
  run_all();
  expect_error(1009);
  /* The header alone is enough: 4 bytes announcing 1001 bytes, no key, no payload. */
  WN = 0;
  raw("\x82\xfe\x03\xe9", 4);
  run_all();
  expect_error(1009);
  WN = 0;
  raw("\x82\xff\x00\x00\x00\x01\x00\x00\x00\x00", 10);     /* 4 GiB announced */
  run_all();
  expect_error(1009);
  /* Across fragments: 600 + 400 fits, a further byte does not, even with a ping between. */
  WN = 0;
  frame(0x02, buf, 600);
  frame(0x80, buf, 400);
  run_all();
  expect_ok(1);
  WN = 0;
  frame(0x02, buf, 600);
  frame(0x00, buf, 400);
  frame_s(0x89, "ping does not count");
  frame(0x80, buf, 1);
  run_all();
  expect_error(1009);
  assert_int_equal(R.nev, 1);
  expect_event(0, EV_PING, "ping does not count");
  /* The count starts again with each message. */
  WN = 0;
  for (int i = 0; i < 5; i++) frame(0x82, buf, 1000);
  run_all();
  expect_ok(5);
  /* Control frames are bounded by 125 bytes, not by the message limit. */
  MAX = 10;
  WN = 0;
  frame(0x89, buf, 100);
  run_all();
  expect_ok(1);
}

static void test_invalid_utf8(void **s) {
  frame_s(0x81, "ok \xc0\xaf");                            /* overlong '/' */
  run_all();
  expect_error(1007);
  WN = 0;
  frame_s(0x81, "\xed\xa0\x80");                           /* surrogate */
  run_all();
  expect_error(1007);
  WN = 0;
  frame_s(0x81, "cut \xe2\x82");                           /* ends inside a code point */
  run_all();
  expect_error(1007);
  WN = 0;
  frame_s(0x82, "\xff\xfe binary is not checked");
  run_all();
  expect_ok(1);
  /* Across fragments: the continuation's first byte cannot follow ED. */
  WN = 0;
  frame_s(0x01, "abc\xed");
  frame_s(0x80, "\xa0\x80");
  run_all();
  expect_error(1007);
  /* A message whose last fragment leaves a code point open. */
  WN = 0;
  frame_s(0x01, "abc");
  frame_s(0x00, "\xce");
  frame(0x80, "", 0);
  run_all();
  expect_error(1007);
}

static void test_utf8_refused_early(void **s) {
  /* A text frame announcing 1000 bytes whose first fragment bytes already cannot be UTF-8:
   * refused with 1007 without waiting for the rest (when it arrives split from the rest). */
  static char buf[1000];
  memset(buf, 'a', sizeof buf);
  memcpy(buf + 3, "\xf4\x90", 2);
  frame(0x81, buf, sizeof buf);
  WN = 4 + 4 + 10;                                          /* header, key, 10 payload bytes */
  size_t cut = 4 + 4 + 5;                                   /* and cut there: not in place */
  outcome o;
  feed_cuts(&o, MAX, &cut, 1);
  assert_int_equal(o.rc, -EPROTO);
  assert_int_equal(o.close_code, 1007);
  outcome_free(&o);
  /* In a fragmented message, too: fragment 1 is fine, fragment 2 announces 1000 bytes, and
   * 5 of them arrive. */
  WN = 0;
  frame_s(0x01, "fine");
  size_t start = WN;
  frame(0x80, buf, sizeof buf);
  WN = start + 4 + 4 + 5;
  feed_cuts(&o, MAX, NULL, 0);
  assert_int_equal(o.close_code, 1007);
  outcome_free(&o);
}

/* ---- the feed's contract ---- */

static void test_whole_frame_delivered_in_place(void **s) {
  frame_s(0x81, "in place");
  char *chunk = malloc(WN);
  memcpy(chunk, W, WN);
  pk__ws_parser p;
  pk__ws_parser_init(&p, &CB, MAX, NULL);
  outcome o;
  memset(&o, 0, sizeof o);
  cur = &o;
  size_t used;
  assert_int_equal(pk__ws_parser_feed(&p, chunk, WN, &used), 0);
  assert_int_equal(used, WN);
  assert_int_equal(o.nev, 1);
  assert_ptr_equal(o.ev[0].at, chunk + 6);                  /* no copy */
  assert_null(p.msg.data);                                  /* nothing allocated */
  pk__ws_parser_free(&p);
  outcome_free(&o);
  free(chunk);
  cur = NULL;
}

static void test_stop_and_resume(void **s) {
  frame_s(0x81, "one");
  size_t first = WN;
  frame_s(0x81, "two");
  frame_s(0x89, "p");
  frame_s(0x82, "three");
  stop_on_message = 1;
  static uint8_t in[64];                                    /* feeding unmasks in place: keep W */
  memcpy(in, W, WN);
  pk__ws_parser p;
  pk__ws_parser_init(&p, &CB, MAX, NULL);
  outcome o;
  memset(&o, 0, sizeof o);
  cur = &o;
  size_t used;
  assert_int_equal(pk__ws_parser_feed(&p, (char *)in, WN, &used), PK__WS_STOP);
  assert_int_equal(used, first);                            /* stopped right after "one" */
  assert_int_equal(o.nev, 1);
  size_t off = used;
  assert_int_equal(pk__ws_parser_feed(&p, (char *)in + off, WN - off, &used), PK__WS_STOP);
  off += used;
  assert_int_equal(o.nev, 2);
  assert_int_equal(pk__ws_parser_feed(&p, (char *)in + off, WN - off, &used), PK__WS_STOP);
  off += used;
  assert_int_equal(off, WN);
  assert_int_equal(o.nev, 4);                               /* the ping did not stop */
  assert_string_equal(o.ev[3].data, "three");
  assert_int_equal(pk__ws_parser_feed(&p, (char *)in + off, 0, &used), 0);
  pk__ws_parser_free(&p);
  outcome_free(&o);
  cur = NULL;
  /* Stopping changes nothing in what is delivered, at any split. */
  run_all();
  assert_int_equal(R.nev, 4);
}

static void test_big_buffer_released(void **s) {
  static uint8_t buf[PK__WS_KEEP_BUFFER + 10];
  memset(buf, 'z', sizeof buf);
  pk__ws_parser p;
  pk__ws_parser_init(&p, &CB, MAX, NULL);
  outcome o;
  memset(&o, 0, sizeof o);
  cur = &o;
  size_t used;
  frame(0x02, "small", 5);
  frame(0x80, "", 0);
  assert_int_equal(pk__ws_parser_feed(&p, (char *)W, WN, &used), 0);
  assert_non_null(p.msg.data);                              /* small buffers are kept */
  WN = 0;
  frame(0x02, buf, sizeof buf);
  frame(0x80, "", 0);
  assert_int_equal(pk__ws_parser_feed(&p, (char *)W, WN, &used), 0);
  assert_int_equal(o.nev, 2);
  assert_int_equal(o.ev[1].len, sizeof buf);
  assert_null(p.msg.data);                                  /* a big one is released */
  pk__ws_parser_free(&p);
  outcome_free(&o);
  cur = NULL;
}

/* ---- encoders and masking ---- */

static void test_frame_header(void **s) {
  uint8_t h[PK__WS_MAX_HEADER];
  assert_int_equal(pk__ws_frame_header(h, PK__WS_OP_TEXT, 5, 1), 2);
  assert_memory_equal(h, "\x81\x05", 2);                    /* RFC 5.7: unmasked "Hello" */
  assert_int_equal(pk__ws_frame_header(h, PK__WS_OP_TEXT, 0, 0), 2);
  assert_memory_equal(h, "\x01\x00", 2);
  assert_int_equal(pk__ws_frame_header(h, PK__WS_OP_CONT, 125, 1), 2);
  assert_memory_equal(h, "\x80\x7d", 2);
  assert_int_equal(pk__ws_frame_header(h, PK__WS_OP_BINARY, 126, 1), 4);
  assert_memory_equal(h, "\x82\x7e\x00\x7e", 4);
  assert_int_equal(pk__ws_frame_header(h, PK__WS_OP_BINARY, 256, 1), 4);
  assert_memory_equal(h, "\x82\x7e\x01\x00", 4);            /* RFC 5.7: 256 bytes */
  assert_int_equal(pk__ws_frame_header(h, PK__WS_OP_BINARY, 65535, 1), 4);
  assert_memory_equal(h, "\x82\x7e\xff\xff", 4);
  assert_int_equal(pk__ws_frame_header(h, PK__WS_OP_BINARY, 65536, 1), 10);
  assert_memory_equal(h, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);   /* RFC 5.7: 64 KiB */
  assert_int_equal(pk__ws_frame_header(h, PK__WS_OP_BINARY, 0x0102030405060708ULL, 0), 10);
  assert_memory_equal(h, "\x02\x7f\x01\x02\x03\x04\x05\x06\x07\x08", 10);
}

static void test_close_and_pong_frames(void **s) {
  uint8_t f[2 + PK__WS_MAX_CONTROL];
  assert_int_equal(pk__ws_close_frame(f, 1000, "bye", 3), 7);
  assert_memory_equal(f, "\x88\x05\x03\xe8" "bye", 7);
  assert_int_equal(pk__ws_close_frame(f, 1009, NULL, 0), 4);
  assert_memory_equal(f, "\x88\x02\x03\xf1", 4);
  assert_int_equal(pk__ws_close_frame(f, PK__WS_CLOSE_NO_STATUS, "ignored", 7), 2);
  assert_memory_equal(f, "\x88\x00", 2);
  /* A reason over 123 bytes is cut, never inside a code point. */
  char reason[200];
  memset(reason, 'a', sizeof reason);
  assert_int_equal(pk__ws_close_frame(f, 1000, reason, sizeof reason), 2 + 125);
  assert_int_equal(f[1], 125);
  memcpy(reason + 121, "\xe2\x82\xac", 3);                  /* a euro sign over bytes 121..123 */
  assert_int_equal(pk__ws_close_frame(f, 1000, reason, sizeof reason), 4 + 121);
  assert_true(pk__utf8_valid((char *)f + 4, 121));
  memset(reason, 'a', sizeof reason);
  memcpy(reason + 120, "\xe2\x82\xac", 3);                  /* ends exactly at 123: kept */
  assert_int_equal(pk__ws_close_frame(f, 1000, reason, sizeof reason), 4 + 123);
  assert_true(pk__utf8_valid((char *)f + 4, 123));
  assert_int_equal(pk__ws_pong_frame(f, "Hello", 5), 7);
  assert_memory_equal(f, "\x8a\x05" "Hello", 7);            /* RFC 5.7's pong, unmasked */
  assert_int_equal(pk__ws_ping_frame(f, "", 0), 2);
  assert_memory_equal(f, "\x89\x00", 2);
  assert_int_equal(pk__ws_pong_frame(f, reason, 200), 2 + 125);
}

static void test_encoded_frames_parse_back(void **s) {
  /* The server's frames, masked as a client would, read back through the parser. */
  uint8_t f[2 + PK__WS_MAX_CONTROL];
  size_t n = pk__ws_close_frame(f, 4000, "done", 4);
  f[1] |= 0x80;
  raw(f, 2);
  raw(KEY, 4);
  pk__ws_mask((char *)W + WN, (char *)f + 2, n - 2, KEY, 0);
  WN += n - 2;
  run_all();
  expect_ok(1);
  assert_int_equal(R.ev[0].code, 4000);
  assert_string_equal(R.ev[0].data, "done");
}

static void test_mask_matches_bytewise(void **s) {
  char src[64 + 8], dst[64 + 8], want[64];
  for (size_t i = 0; i < sizeof src; i++) src[i] = (char)(i * 31 + 7);
  for (unsigned phase = 0; phase < 4; phase++)
    for (size_t off = 0; off < 8; off++)                    /* any alignment */
      for (size_t n = 0; n <= 64; n++) {
        for (size_t i = 0; i < n; i++) want[i] = (char)(src[off + i] ^ KEY[(phase + i) & 3]);
        assert_int_equal(pk__ws_mask(dst + off, src + off, n, KEY, phase), (phase + n) & 3);
        assert_memory_equal(dst + off, want, n);
        char inplace[64 + 8];
        memcpy(inplace, src, sizeof src);
        pk__ws_mask(inplace + off, inplace + off, n, KEY, phase);
        assert_memory_equal(inplace + off, want, n);
      }
}

/* ---- the input budget ---- */

static pk__input_budget B;

/* Feeds W[from, to) to p; returns the feed's result. */
static int feed_w(pk__ws_parser *p, size_t from, size_t to) {
  size_t used;
  int rc = pk__ws_parser_feed(p, (char *)W + from, to - from, &used);
  if (rc >= 0) assert_int_equal(used, to - from);
  return rc;
}

static void budget_parser(pk__ws_parser *p) {
  pk__ws_parser_init(p, &CB, MAX, NULL);
  p->budget = &B;
}

/* A buffered message holds its declared bytes so far; delivered in place, nothing; the share goes
 * back when the message is delivered; past the budget the feed fails with 1013. */
static void test_budget_messages(void **s) {
  static char big[100];
  memset(big, 'b', sizeof big);
  pk__input_budget_init(&B, 100);
  pk__ws_parser p, q;
  budget_parser(&p);
  budget_parser(&q);
  outcome o;
  memset(&o, 0, sizeof o);
  cur = &o;
  frame_s(0x01, "hello");                                   /* a first fragment */
  assert_int_equal(feed_w(&p, 0, WN), 0);
  assert_int_equal(B.used, 5);
  assert_true(p.msg_open);
  assert_int_equal(p.msg_begun, 1);
  WN = 0;
  frame(0x00, big, 50);
  assert_int_equal(feed_w(&p, 0, WN), 0);
  assert_int_equal(B.used, 55);
  WN = 0;
  frame(0x80, big, 10);
  assert_int_equal(feed_w(&p, 0, WN), 0);
  assert_int_equal(o.nev, 1);
  assert_int_equal(o.ev[0].len, 65);
  assert_int_equal(B.used, 0);
  assert_false(p.msg_open);
  /* whole in one feed: delivered in place, never held */
  WN = 0;
  frame(0x82, big, 90);
  assert_int_equal(feed_w(&p, 0, WN), 0);
  assert_int_equal(o.nev, 2);
  assert_int_equal(B.used, 0);
  assert_int_equal(p.msg_begun, 2);
  assert_false(p.msg_open);
  /* a frame split over feeds: its whole declared length is held from its first kept byte */
  WN = 0;
  frame(0x82, big, 80);
  size_t split = WN - 70;
  assert_int_equal(feed_w(&p, 0, split), 0);
  assert_int_equal(B.used, 80);
  assert_true(p.msg_open);
  /* another connection's fragment of 30 does not fit: 1013, and it holds nothing */
  size_t rest = WN;
  frame(0x02, big, 30);
  assert_int_equal(feed_w(&q, rest, WN), -ENOBUFS);
  assert_int_equal(q.close_code, PK__WS_CLOSE_TRY_AGAIN);
  assert_int_equal(B.used, 80);
  assert_int_equal(B.refused, 1);
  assert_int_equal(feed_w(&q, rest, WN), -ENOBUFS);          /* and stays failed */
  assert_int_equal(feed_w(&p, split, rest), 0);
  assert_int_equal(o.nev, 3);
  assert_int_equal(o.ev[2].len, 80);
  assert_int_equal(B.used, 0);
  /* a feed that ends right after a header keeps nothing: the payload then comes whole */
  WN = 0;
  frame(0x81, big, 1);
  assert_int_equal(feed_w(&p, 0, WN - 1), 0);
  assert_int_equal(B.used, 0);
  assert_int_equal(feed_w(&p, WN - 1, WN), 0);
  assert_int_equal(o.nev, 4);
  assert_int_equal(B.used, 0);
  assert_false(p.msg_open);
  pk__ws_parser_free(&p);
  pk__ws_parser_free(&q);
  outcome_free(&o);
  cur = NULL;
}

/* A failure, a close frame, pk__ws_parser_drop and pk__ws_parser_free give the share back. */
static void test_budget_released(void **s) {
  static char big[40];
  memset(big, 'c', sizeof big);
  pk__input_budget_init(&B, 1000);
  outcome o;
  memset(&o, 0, sizeof o);
  cur = &o;
  for (int how = 0; how < 4; how++) {
    pk__ws_parser p;
    budget_parser(&p);
    WN = 0;
    frame(0x02, big, 40);
    assert_int_equal(feed_w(&p, 0, WN), 0);
    assert_int_equal(B.used, 40);
    WN = 0;
    if (how == 0) {                                          /* a new message while one is open */
      frame(0x82, big, 1);
      assert_int_equal(feed_w(&p, 0, WN), -EPROTO);
    } else if (how == 1) {                                   /* the client closes */
      close_frame(1000, "", 0);
      assert_int_equal(feed_w(&p, 0, WN), 0);
      assert_false(p.msg_open);
    } else if (how == 2) {                                   /* the connection closes */
      pk__ws_parser_drop(&p);
      assert_false(p.msg_open);
      frame(0x80, big, 10);
      assert_int_equal(feed_w(&p, 0, WN), 0);                /* ignored from now on */
    }
    if (how < 3) assert_int_equal(B.used, 0);
    pk__ws_parser_free(&p);                                  /* how 3: gone with the message open */
    assert_int_equal(B.used, 0);
  }
  assert_int_equal(o.nev, 1);                                /* only the close frame */
  outcome_free(&o);
  cur = NULL;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
int main(void) {
  const struct CMUnitTest tests[] = {
    T(test_rfc_unmasked_hello_refused),
    T(test_rfc_masked_hello),
    T(test_rfc_fragmented_hello),
    T(test_rfc_ping_and_pong),
    T(test_rfc_256_and_64k_binary),
    T(test_length_classes),
    T(test_empty_messages_and_fragments),
    T(test_many_fragments_binary),
    T(test_control_between_fragments),
    T(test_utf8_across_fragments),
    T(test_close_frames),
    T(test_close_codes),
    T(test_reserved_bits),
    T(test_unknown_opcodes),
    T(test_bad_control_frames),
    T(test_control_frame_extended_length),
    T(test_fragment_order),
    T(test_length_top_bit),
    T(test_max_message_size),
    T(test_invalid_utf8),
    T(test_utf8_refused_early),
    T(test_whole_frame_delivered_in_place),
    T(test_stop_and_resume),
    T(test_big_buffer_released),
    T(test_frame_header),
    T(test_close_and_pong_frames),
    T(test_encoded_frames_parse_back),
    T(test_mask_matches_bytewise),
    T(test_budget_messages),
    T(test_budget_released),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
