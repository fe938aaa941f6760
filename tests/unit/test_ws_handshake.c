/* test_ws_handshake.c: unit tests of ws_handshake.c: the RFC 6455 example key, each refusal with its status, header lists, subprotocols, the 101 bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
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
  assert_string_equal(res.extra, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
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
    assert_string_equal(res.extra, "Sec-WebSocket-Version: 13\r\n");
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

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_rfc_example_accept),
    cmocka_unit_test(test_101_bytes),
    cmocka_unit_test(test_header_lists_and_case),
    cmocka_unit_test(test_refusals),
    cmocka_unit_test(test_version),
    cmocka_unit_test(test_bad_keys),
    cmocka_unit_test(test_subprotocols),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
