/* test_ws_handshake.c: unit tests of ws_handshake.c and ws_deflate.c: the RFC 6455 example key, each refusal with its status, header lists and repeated lines, subprotocols, permessage-deflate offers and windows, the 101 bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>
#include "http_parser.h"
#include "ws_handshake.h"

#define S(lit) lit, sizeof lit - 1

/* A request as Chrome sends it, with the key from RFC 6455 section 1.3 (whose accept value is
 * s3pPLMBiTxaQ9kYGzzhZRbK+xOo=, as the RFC and Python's hashlib agree). */
static pk__ws_upgrade_req good(void) {
  pk__ws_upgrade_req r = {
    S("GET"), 1, 1,
    S("websocket"),
    S("Upgrade"),
    S("dGhlIHNhbXBsZSBub25jZQ=="),
    S("13"),
    NULL, 0,
  };
  return r;
}

static void expect_status(const pk__ws_upgrade_req *r, int status, const char *reason_part) {
  pk__ws_upgrade_res res;
  int rc = pk__ws_upgrade_check(r, NULL, &res);
  assert_int_equal(res.status, status);
  if (status == 101) { assert_int_equal(rc, 0); return; }
  assert_int_equal(rc, -EINVAL);
  assert_non_null(res.reason);
  if (!strstr(res.reason, reason_part)) fail_msg("reason \"%s\" lacks \"%s\"", res.reason, reason_part);
}

static void test_rfc_example_accept(void **s) {
  char acc[PK__WS_ACCEPT_LEN + 1];
  assert_int_equal(pk__ws_accept_key(S("dGhlIHNhbXBsZSBub25jZQ=="), acc), 0);
  assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  pk__ws_upgrade_req r = good();
  pk__ws_upgrade_res res;
  assert_int_equal(pk__ws_upgrade_check(&r, NULL, &res), 0);
  assert_int_equal(res.status, 101);
  assert_string_equal(res.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert_null(res.protocol);
}

static void test_101_bytes(void **s) {
  pk__ws_upgrade_req r = good();
  pk__ws_upgrade_res res;
  pk__buf out;
  pk__buf_init(&out);
  assert_int_equal(pk__ws_upgrade_check(&r, NULL, &res), 0);
  assert_int_equal(pk__buf_append(&out, "x", 1), 0);   /* appends after what is there */
  assert_int_equal(pk__ws_upgrade_write(&out, &res), 0);
  const char want[] = "xHTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
  assert_int_equal(out.len, sizeof want - 1);
  assert_memory_equal(out.data, want, sizeof want - 1);
  pk__buf_free(&out);
}

static void test_header_lists_and_case(void **s) {
  pk__ws_upgrade_req r = good();
  /* Firefox sends "keep-alive, Upgrade"; tokens are case-insensitive, whitespace optional. */
  r.connection = "keep-alive, Upgrade"; r.connection_len = strlen(r.connection);
  expect_status(&r, 101, "");
  r.connection = "UPGRADE"; r.connection_len = 7;
  expect_status(&r, 101, "");
  r.connection = " ,\tupgrade\t, close"; r.connection_len = strlen(r.connection);
  expect_status(&r, 101, "");
  r.connection = "upgraded, keep-alive"; r.connection_len = strlen(r.connection);
  expect_status(&r, 400, "Connection");
  r.connection = "keep-alive"; r.connection_len = strlen(r.connection);
  expect_status(&r, 400, "Connection");
  r.connection = NULL; r.connection_len = 0;
  expect_status(&r, 400, "Connection");
  r = good();
  r.upgrade = "WebSocket"; r.upgrade_len = 9;
  expect_status(&r, 101, "");
  r.upgrade = "h2c, websocket"; r.upgrade_len = strlen(r.upgrade);
  expect_status(&r, 101, "");
  /* Whitespace around the key and version values is optional whitespace, not part of them. */
  r = good();
  r.key = " dGhlIHNhbXBsZSBub25jZQ==\t"; r.key_len = strlen(r.key);
  r.version = " 13 "; r.version_len = 4;
  pk__ws_upgrade_res res;
  assert_int_equal(pk__ws_upgrade_check(&r, NULL, &res), 0);
  assert_string_equal(res.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert_true(pk__ws_list_has(S("a, b ,c"), S("B")));
  assert_false(pk__ws_list_has(S(""), S("b")));
  assert_false(pk__ws_list_has(S("bb"), S("b")));
}

static void test_refusals(void **s) {
  pk__ws_upgrade_req r = good();
  r.method = "POST"; r.method_len = 4;
  expect_status(&r, 400, "GET");
  r = good();
  r.method = "get"; r.method_len = 3;                  /* methods are case-sensitive */
  expect_status(&r, 400, "GET");
  r = good();
  r.http_minor = 0;
  expect_status(&r, 400, "HTTP/1.1");
  r = good();
  r.upgrade = NULL; r.upgrade_len = 0;                 /* a plain GET to a WebSocket route */
  pk__ws_upgrade_res res;
  assert_int_equal(pk__ws_upgrade_check(&r, NULL, &res), -EINVAL);
  assert_int_equal(res.status, 426);
  /* Upgrade names the protocol; Connection is pk__response_write's (one header, test_http_response) */
  assert_string_equal(res.extra, "Upgrade: websocket\r\n");
  r.upgrade = "h2c"; r.upgrade_len = 3;
  expect_status(&r, 426, "Upgrade: websocket");
  r = good();
  r.key = NULL; r.key_len = 0;
  expect_status(&r, 400, "Sec-WebSocket-Key");
}

static void test_version(void **s) {
  static const char *bad[] = { "8", "12", "14", "13, 8", "", "013", "1 3" };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    pk__ws_upgrade_req r = good();
    r.version = bad[i]; r.version_len = strlen(bad[i]);
    pk__ws_upgrade_res res;
    assert_int_equal(pk__ws_upgrade_check(&r, NULL, &res), -EINVAL);
    assert_int_equal(res.status, 426);
    /* a 426 must carry Upgrade (RFC 9110 section 15.5.22) */
    assert_string_equal(res.extra, "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    assert_non_null(strstr(res.reason, "13"));
  }
  pk__ws_upgrade_req r = good();
  r.version = NULL; r.version_len = 0;
  expect_status(&r, 426, "Sec-WebSocket-Version 13");
}

static void test_bad_keys(void **s) {
  static const char *bad[] = {
    "",
    "dGhlIHNhbXBsZSBub25jZQ",          /* no padding */
    "dGhlIHNhbXBsZSBub25jZQ=",         /* 23 characters */
    "dGhlIHNhbXBsZSBub25jZQ===",
    "dGhlIHNhbXBsZSBub25j",            /* 15 bytes, padded differently */
    "dGhlIHNhbXBsZSBub25jZUE=",        /* 17 bytes */
    "dGhlIHNhbXBsZSBub25jZQAA",        /* 18 bytes */
    "dGhlIHNhbXBsZSBub25jZ-==",        /* base64url, not base64 */
    "dGhlIHNhbXBsZ SBub25jZQ=",        /* inner space */
    "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    pk__ws_upgrade_req r = good();
    r.key = bad[i]; r.key_len = strlen(bad[i]);
    expect_status(&r, 400, "16 bytes");
  }
  /* Any 16 bytes will do, '+' and '/' included. */
  pk__ws_upgrade_req r = good();
  r.key = "+/+/+/+/+/+/+/+/+/+/+w=="; r.key_len = 24;
  expect_status(&r, 101, "");
}

static void test_subprotocols(void **s) {
  static const char *const supported[] = { "graphql-ws", "chat", NULL };
  pk__ws_upgrade_req r = good();
  pk__ws_upgrade_res res;
  r.protocol = "superchat, chat, graphql-ws"; r.protocol_len = strlen(r.protocol);
  assert_int_equal(pk__ws_upgrade_check(&r, supported, &res), 0);
  assert_int_equal(res.protocol_len, 4);                /* the client's first that we speak */
  assert_memory_equal(res.protocol, "chat", 4);
  pk__buf out;
  pk__buf_init(&out);
  assert_int_equal(pk__ws_upgrade_write(&out, &res), 0);
  const char want[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n";
  assert_int_equal(out.len, sizeof want - 1);
  assert_memory_equal(out.data, want, sizeof want - 1);
  pk__buf_free(&out);
  r.protocol = "Chat, superchat"; r.protocol_len = strlen(r.protocol);   /* case-sensitive */
  assert_int_equal(pk__ws_upgrade_check(&r, supported, &res), 0);
  assert_null(res.protocol);
  r.protocol = "chat"; r.protocol_len = 4;
  assert_int_equal(pk__ws_upgrade_check(&r, NULL, &res), 0);              /* server speaks none */
  assert_null(res.protocol);
}

/* ---- a request as the server reads it: repeated lines (RFC 9110 section 5.3) -------------------- */

static pk__ws_upgrade_res got;
static int got_rc;
static char got_101[512];

static int on_upgrade(pk__http_parser *p, pk__request *r) {
  static const char *const supported[] = { "chat", NULL };
  pk__ws_upgrade_req q;
  pk__buf scratch, out;
  pk__buf_init(&scratch);
  pk__buf_init(&out);
  assert_int_equal(pk__ws_upgrade_req_from(&q, r, &scratch), 0);
  got_rc = pk__ws_upgrade_check(&q, supported, &got);
  got_101[0] = 0;
  if (got_rc == 0) {
    assert_int_equal(pk__ws_upgrade_write(&out, &got), 0);   /* res points into scratch: write first */
    assert_true(out.len < sizeof got_101);
    memcpy(got_101, out.data, out.len);
    got_101[out.len] = 0;
    got.protocol = NULL;
  }
  pk__buf_free(&out);
  pk__buf_free(&scratch);
  return 0;
}

/* Parses "GET /ws HTTP/1.1", Host and `headers` (lines ending "\r\n") and checks the upgrade. */
static int upgrade(const char *headers) {
  pk__limits lim;
  pk__http_parser p;
  char req[1024];
  size_t used;
  pk__limits_default(&lim);
  snprintf(req, sizeof req, "GET /ws HTTP/1.1\r\nHost: x\r\n%s\r\n", headers);
  pk__http_parser_init(&p, &lim, on_upgrade, NULL, NULL);
  got.status = 0;
  pk__http_parser_feed(&p, req, strlen(req), &used);
  pk__http_parser_free(&p);
  assert_int_not_equal(got.status, 0);
  return got.status;
}

#define UPG "Upgrade: websocket\r\n"
#define CONN "Connection: Upgrade\r\n"
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define VER "Sec-WebSocket-Version: 13\r\n"

static void test_repeated_lines(void **s) {
  assert_int_equal(upgrade(UPG CONN KEY VER), 101);
  assert_non_null(strstr(got_101, "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
  /* one list over several lines: each element counts, in any case */
  assert_int_equal(upgrade(UPG "Connection: keep-alive\r\nconnection: UPGRADE\r\n" KEY VER), 101);
  assert_int_equal(upgrade("Upgrade: h2c\r\nUpgrade: WebSocket\r\n" CONN KEY VER), 101);
  assert_int_equal(upgrade(UPG "Connection: keep-alive\r\nConnection: upgraded\r\n" KEY VER), 400);
  assert_int_equal(upgrade(UPG "Connection:\r\nConnection: Upgrade\r\n" KEY VER), 101);
  assert_int_equal(upgrade(UPG CONN KEY VER "Sec-WebSocket-Protocol: superchat\r\nSec-WebSocket-Protocol: chat\r\n"), 101);
  assert_non_null(strstr(got_101, "Sec-WebSocket-Protocol: chat\r\n"));
  /* Sec-WebSocket-Key and -Version MUST NOT appear more than once (RFC 6455 11.3.1, 11.3.5) */
  assert_int_equal(upgrade(UPG CONN KEY KEY VER), 400);
  assert_non_null(strstr(got.reason, "Sec-WebSocket-Key was sent more than once"));
  assert_int_equal(upgrade(UPG CONN KEY "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n" VER), 400);
  assert_int_equal(upgrade(UPG CONN KEY "Sec-WebSocket-Version: 8\r\n" VER), 400);
  assert_non_null(strstr(got.reason, "Sec-WebSocket-Version was sent more than once"));
  assert_int_equal(upgrade(UPG CONN KEY VER VER), 400);
  assert_int_equal(upgrade(UPG CONN KEY "Sec-WebSocket-Version: 13, 8\r\n"), 426);   /* one line, a list */
  /* offers over several lines are one list, tried in order */
  assert_int_equal(upgrade(UPG CONN KEY VER "Sec-WebSocket-Extensions: permessage-deflate; foo=bar\r\n"
                           "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=11\r\n"), 101);
  assert_non_null(strstr(got_101, "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                                  "client_no_context_takeover; server_max_window_bits=11\r\n\r\n"));
  assert_int_equal(got.deflate.window_bits, 11);
  assert_int_equal(upgrade(UPG CONN KEY VER), 101);
  assert_null(strstr(got_101, "Extensions"));
  assert_int_equal(got.deflate.window_bits, 0);
}

/* ---- permessage-deflate offers (RFC 7692 section 7.1) ------------------------------------------ */

static void test_deflate_offers(void **s) {
  static const struct { const char *offer; int bits; const char *response; } cases[] = {
    /* accepted: what the server answers (the base, then what it adds) */
    {"permessage-deflate", 15, ""},
    {"permessage-deflate; client_max_window_bits", 15, ""},                 /* Chrome, Firefox */
    {"PerMessage-Deflate ;Client_Max_Window_Bits = 9", 15, ""},
    {"permessage-deflate; server_max_window_bits=10", 10, "; server_max_window_bits=10"},
    {"permessage-deflate; server_max_window_bits=\"10\"", 10, "; server_max_window_bits=10"},
    {"permessage-deflate; server_max_window_bits=8", 8, "; server_max_window_bits=8"},
    {"permessage-deflate; server_max_window_bits=15; client_max_window_bits=15", 15, "; server_max_window_bits=15"},
    {"permessage-deflate; server_no_context_takeover; client_no_context_takeover", 15, ""},
    {"x-webkit-deflate-frame, permessage-deflate", 15, ""},                 /* other extensions skipped */
    {"foo; bar=\"a,b\", permessage-deflate; server_max_window_bits=9", 9, "; server_max_window_bits=9"},
    {" , permessage-deflate", 15, ""},
    /* the first acceptable offer wins; bad ones before it are skipped (declined) */
    {"permessage-deflate; foo=bar, permessage-deflate; server_max_window_bits=12", 12, "; server_max_window_bits=12"},
    {"permessage-deflate; server_max_window_bits=10, permessage-deflate", 10, "; server_max_window_bits=10"},
    {"permessage-deflate; server_max_window_bits=16, permessage-deflate", 15, ""},
    /* declined */
    {"permessage-deflate; foo=bar", 0, NULL},                               /* unknown parameter */
    {"permessage-deflate; foo", 0, NULL},
    {"permessage-deflate; server_no_context_takeover; server_no_context_takeover", 0, NULL},
    {"permessage-deflate; client_max_window_bits; client_max_window_bits=10", 0, NULL},
    {"permessage-deflate; server_max_window_bits=10; server_max_window_bits=10", 0, NULL},
    {"permessage-deflate; server_max_window_bits", 0, NULL},                /* needs a value */
    {"permessage-deflate; server_max_window_bits=7", 0, NULL},
    {"permessage-deflate; server_max_window_bits=16", 0, NULL},
    {"permessage-deflate; server_max_window_bits=010", 0, NULL},           /* leading zero */
    {"permessage-deflate; server_max_window_bits=1O", 0, NULL},
    {"permessage-deflate; server_max_window_bits=\"10", 0, NULL},           /* unclosed quote */
    {"permessage-deflate; server_max_window_bits=\"\"", 0, NULL},
    {"permessage-deflate; client_max_window_bits=0", 0, NULL},
    {"permessage-deflate; client_max_window_bits=\"abcdef\"", 0, NULL},
    {"permessage-deflate; server_no_context_takeover=1", 0, NULL},          /* takes no value */
    {"permessage-deflate; client_no_context_takeover=", 0, NULL},
    {"permessage-deflate;", 0, NULL},
    {"permessage-deflate x", 0, NULL},
    {"permessage-deflatex", 0, NULL},
    {"x-permessage-deflate", 0, NULL},
    {"", 0, NULL},
    {"foo; x=\"permessage-deflate, \\\"q\"", 0, NULL},                       /* inside a quoted value */
  };
  static const char base[] = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    pk__ws_deflate_params p;
    int ok = pk__ws_deflate_negotiate(cases[i].offer, strlen(cases[i].offer), &p);
    if (ok != (cases[i].bits != 0) || p.window_bits != cases[i].bits)
      fail_msg("offer \"%s\": accepted %d with %d bits, want %d bits", cases[i].offer, ok, p.window_bits,
               cases[i].bits);
    if (!ok) continue;
    char resp[PK__WS_DEFLATE_RESPONSE_MAX + 1], want[200];
    size_t n = pk__ws_deflate_response(&p, resp);
    resp[n] = 0;
    snprintf(want, sizeof want, "%s%s", base, cases[i].response);
    assert_string_equal(resp, want);
  }
  pk__ws_deflate_params p;
  assert_int_equal(pk__ws_deflate_negotiate(NULL, 0, &p), 0);
}

/* Inflates raw deflate data with a 2^bits window, one output byte at a time so that zlib checks
 * every distance against that window (with a big output buffer it reads back into the output and
 * would not notice). Returns the inflated length, or -1 for "invalid distance too far back". */
static long inflate_strict(const unsigned char *in, size_t len, int bits, unsigned char *out, size_t cap) {
  static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
  z_stream z;
  memset(&z, 0, sizeof z);
  assert_int_equal(inflateInit2(&z, -bits), Z_OK);
  size_t n = 0;
  for (int part = 0; part < 2; part++) {
    z.next_in = (Bytef *)(part ? tail : in);
    z.avail_in = (uInt)(part ? 4 : len);
    while (z.avail_in > 0 && n < cap) {
      z.next_out = out + n;
      z.avail_out = 1;
      int rc = inflate(&z, Z_SYNC_FLUSH);
      if (rc == Z_DATA_ERROR) { inflateEnd(&z); return -1; }
      n = (size_t)(z.next_out - out);
      if (rc == Z_BUF_ERROR && z.avail_out) break;
    }
  }
  inflateEnd(&z);
  return (long)n;
}

static void test_deflate_window(void **s) {
  /* 300 pseudo-random blocks, each repeated 200 to 1800 bytes later: a 2^15 window finds those
   * matches, a 2^8 or 2^10 one must not. */
  static unsigned char msg[120000], back[sizeof msg];
  uint32_t x = 12345;
  size_t n = 0;
  while (n + 2000 < sizeof msg) {
    size_t blk = n, gap = 200 + (x >> 8) % 1600;
    for (int i = 0; i < 24; i++) { x = x * 1103515245u + 12345u; msg[n++] = (unsigned char)(x >> 16); }
    for (size_t i = 0; i < gap; i++) { x = x * 1103515245u + 12345u; msg[n++] = (unsigned char)(x >> 16); }
    memcpy(msg + n, msg + blk, 24);
    n += 24;
  }
  pk__buf z;
  pk__buf_init(&z);
  for (int bits = 8; bits <= 15; bits++) {
    assert_int_equal(pk__ws_deflate_window((const char *)msg, n, bits, &z), 0);
    if (inflate_strict((unsigned char *)z.data, z.len, bits, back, sizeof back) != (long)n)
      fail_msg("a message deflated for a 2^%d window does not inflate with it", bits);
    assert_memory_equal(back, msg, n);
    pk__buf out;
    pk__buf_init(&out);
    assert_int_equal(pk__ws_inflate(z.data, z.len, sizeof msg, &out), 0);   /* the server's own inflate */
    assert_int_equal(out.len, n);
    pk__buf_free(&out);
  }
  /* the check above can fail: 2^15 output does not fit a 2^8 or 2^10 window */
  assert_int_equal(pk__ws_deflate_window((const char *)msg, n, 15, &z), 0);
  assert_int_equal(inflate_strict((unsigned char *)z.data, z.len, 8, back, sizeof back), -1);
  assert_int_equal(inflate_strict((unsigned char *)z.data, z.len, 10, back, sizeof back), -1);
  assert_int_equal(pk__ws_deflate_window("x", 1, 7, &z), -EINVAL);
  assert_int_equal(pk__ws_deflate_window("x", 1, 16, &z), -EINVAL);
  pk__buf_free(&z);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rfc_example_accept),
    cmocka_unit_test(test_101_bytes),
    cmocka_unit_test(test_header_lists_and_case),
    cmocka_unit_test(test_refusals),
    cmocka_unit_test(test_version),
    cmocka_unit_test(test_bad_keys),
    cmocka_unit_test(test_subprotocols),
    cmocka_unit_test(test_repeated_lines),
    cmocka_unit_test(test_deflate_offers),
    cmocka_unit_test(test_deflate_window),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
