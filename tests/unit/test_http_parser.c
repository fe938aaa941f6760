/* test_http_parser.c: unit tests of request building and limits (431, 413, 414, 400), split input, pausing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include "http_parser.h"

static int requests, continues, later;
static char last_body[256];
static char last_url[256];

static int on_req(pk__http_parser *p, pk__request *r) {
  requests++;
  memcpy(last_url, r->head.data, r->url_len);
  last_url[r->url_len] = 0;
  memcpy(last_body, r->body.data ? r->body.data : "", r->body.len);
  last_body[r->body.len] = 0;
  return later;
}

static void on_cont(pk__http_parser *p) { continues++; }

static pk__limits lim;
static pk__http_parser P;

static int setup(void **s) {
  pk__limits_default(&lim);
  lim.max_header = 512;
  lim.max_body = 64;
  lim.max_uri = 100;
  requests = continues = later = 0;
  pk__http_parser_init(&P, &lim, on_req, on_cont, NULL);
  return 0;
}
static int teardown(void **s) { pk__http_parser_free(&P); return 0; }

static int feed(const char *s, size_t *used) { return pk__http_parser_feed(&P, s, strlen(s), used); }

static void test_simple_and_headers(void **s) {
  size_t used;
  assert_int_equal(feed("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Thing: yes\r\n\r\n", &used), PK_FEED_OK);
  assert_int_equal(requests, 1);
  assert_string_equal(last_url, "/a?b=1");
  size_t n;
  const char *v = pk__request_header(&P.req, "x-thing", 7, &n);
  assert_non_null(v);
  assert_int_equal(n, 3);
  assert_memory_equal(v, "yes", 3);
  assert_true(P.req.keep_alive);
}

static void test_value_whitespace(void **s) {
  size_t used, n;
  assert_int_equal(feed("GET / HTTP/1.1\r\nHost: x\r\nX-A: \t two words \t \r\nX-B:   \r\n\r\n", &used), PK_FEED_OK);
  assert_int_equal(requests, 1);
  const char *v = pk__request_header(&P.req, "x-a", 3, &n);
  assert_non_null(v);
  assert_int_equal(n, 9);                    /* leading and trailing spaces/tabs are not the value */
  assert_memory_equal(v, "two words", 9);
  v = pk__request_header(&P.req, "x-b", 3, &n);
  assert_non_null(v);
  assert_int_equal(n, 0);
}

/* A method llhttp does not know is 501 when it is a well-formed token; other bytes are 400. */
static void test_unknown_method(void **s) {
  size_t used;
  const struct { const char *req; int status; } cases[] = {
    {"FOO / HTTP/1.1\r\nHost: x\r\n\r\n", 501},
    {"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n", 501},
    {"GET / HTTP/1.1\r\nHost: x\r\n\r\nFROB * HTTP/1.1\r\nHost: x\r\n\r\n", 501},   /* the second */
    {"NOT HTTP AT ALL\r\n\r\n", 400},
    {"G(T / HTTP/1.1\r\n\r\n", 400},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    teardown(s);
    setup(s);
    assert_int_equal(feed(cases[i].req, &used), PK_FEED_ERROR);
    assert_int_equal(P.error_status, cases[i].status);
  }
}

static void test_bare_lf(void **s) {
  size_t used;
  const char *bad[] = {
    "GET / HTTP/1.1\r\nHost: x\r\n\n",                 /* the head's last line */
    "GET / HTTP/1.1\nHost: x\r\n\r\n",                 /* the request line */
    "GET / HTTP/1.0\r\n\n",                             /* no headers at all */
    "GET / HTTP/1.1\r\nHost: x  \r\nA: b\t\r\n\n",     /* after trailing blanks */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    teardown(s);
    setup(s);
    assert_int_equal(feed(bad[i], &used), PK_FEED_ERROR);
    assert_int_equal(P.error_status, 400);
    assert_int_equal(requests, 0);
  }
  teardown(s);
  setup(s);
  assert_int_equal(feed("GET / HTTP/1.0\r\n\r\n", &used), PK_FEED_OK);   /* CRLF everywhere passes */
  assert_int_equal(requests, 1);
  teardown(s);
  setup(s);
  assert_int_equal(feed("GET / HTTP/1.1\r\nHost: x\r\nA:\r\n\r\n", &used), PK_FEED_OK);
  assert_int_equal(requests, 1);
}

static void test_http10_chunked_closes(void **s) {
  size_t used;
  assert_int_equal(feed("POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3\r\nabc\r\n0\r\n\r\n", &used), PK_FEED_OK);
  assert_int_equal(requests, 1);
  assert_string_equal(last_body, "abc");
  assert_false(P.req.keep_alive);
}

static void test_split_input(void **s) {
  const char *msg = "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  size_t used;
  for (size_t i = 0; i < strlen(msg); i++) assert_int_equal(pk__http_parser_feed(&P, msg + i, 1, &used), PK_FEED_OK);
  assert_int_equal(requests, 1);
  assert_string_equal(last_body, "hello");
  size_t n;
  assert_non_null(pk__request_header(&P.req, "HOST", 4, &n));
}

/* obs-fold is refused (400), in one read and fed byte by byte; blanks after ": " are not a fold */
static int feed_bytes(const char *msg) {
  size_t used;
  for (size_t i = 0; i < strlen(msg); i++) {
    int rc = pk__http_parser_feed(&P, msg + i, 1, &used);
    if (rc != PK_FEED_OK) return rc;
  }
  return PK_FEED_OK;
}

static void test_obs_fold(void **s) {
  const char *te = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n";
  size_t used;
  assert_int_equal(feed(te, &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 400);
  assert_non_null(strstr(P.error_message, "obs-fold"));
  assert_int_equal(requests, 0);
  pk__http_parser_free(&P);
  pk__http_parser_init(&P, &lim, on_req, on_cont, NULL);
  assert_int_equal(feed_bytes(te), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 400);
  pk__http_parser_free(&P);
  pk__http_parser_init(&P, &lim, on_req, on_cont, NULL);
  assert_int_equal(feed("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 400);
  pk__http_parser_free(&P);
  pk__http_parser_init(&P, &lim, on_req, on_cont, NULL);
  assert_int_equal(feed_bytes("GET / HTTP/1.1\r\nHost: x\r\nX-A:   two  words \r\nX-B:\t\tc\r\n\r\n"), PK_FEED_OK);
  assert_int_equal(requests, 1);
  size_t n;
  const char *v = pk__request_header(&P.req, "x-b", 3, &n);
  assert_non_null(v);
  assert_int_equal(n, 1);
}

static void test_chunked(void **s) {
  size_t used;
  assert_int_equal(feed("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", &used), PK_FEED_OK);
  assert_string_equal(last_body, "abcde");
}

static void test_limits(void **s) {
  size_t used;
  char big[700];
  memset(big, 'a', sizeof big);
  big[sizeof big - 1] = 0;
  char req[1000];
  snprintf(req, sizeof req, "GET / HTTP/1.1\r\nX-Big: %s\r\n\r\n", big);
  assert_int_equal(feed(req, &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 431);
}

static void test_uri_limit(void **s) {
  size_t used;
  char req[400] = "GET /";
  memset(req + 5, 'u', 200);
  strcpy(req + 205, " HTTP/1.1\r\n\r\n");
  assert_int_equal(feed(req, &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 414);
}

static void test_body_limits(void **s) {
  size_t used;
  assert_int_equal(feed("POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 413);
}

static void test_chunked_body_limit(void **s) {
  size_t used;
  assert_int_equal(feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n", &used), PK_FEED_OK);
  char chunk[70];
  memset(chunk, 'z', 64);
  strcpy(chunk + 64, "\r\n");
  assert_int_equal(feed(chunk, &used), PK_FEED_OK);     /* exactly the limit */
  /* the next chunk's size line is enough: 413 before any of its bytes */
  assert_int_equal(feed("1\r\n", &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 413);
}

static void test_malformed(void **s) {
  size_t used;
  assert_int_equal(feed("GARBAGE\r\n\r\n", &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 400);
}

static void test_expect_continue(void **s) {
  size_t used;
  assert_int_equal(feed("POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", &used), PK_FEED_OK);
  assert_int_equal(continues, 1);
  assert_int_equal(feed("ok", &used), PK_FEED_OK);
  assert_string_equal(last_body, "ok");
}

static void test_pause_pipelined(void **s) {
  size_t used;
  later = 1;
  const char *two = "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n";
  assert_int_equal(feed(two, &used), PK_FEED_PAUSED);
  assert_int_equal(requests, 1);
  assert_string_equal(last_url, "/1");
  assert_int_equal(used, strlen("GET /1 HTTP/1.1\r\n\r\n"));
  later = 0;
  pk__http_parser_resume(&P);
  assert_int_equal(pk__http_parser_feed(&P, two + used, strlen(two) - used, &used), PK_FEED_OK);
  assert_int_equal(requests, 2);
  assert_string_equal(last_url, "/2");
}

static void test_http10(void **s) {
  size_t used;
  assert_int_equal(feed("GET / HTTP/1.0\r\n\r\n", &used), PK_FEED_OK);
  assert_false(P.req.keep_alive);
  assert_int_equal(P.req.http_minor, 0);
}

/* ---- the input budget ---- */

static pk__input_budget B;

static int feed_to(pk__http_parser *p, const char *s, size_t *used) { return pk__http_parser_feed(p, s, strlen(s), used); }

/* Content-Length is reserved whole when the head is complete, before any 100 Continue; the share
 * goes back once the request was handed on (even while it is being handled) and at free. */
static void test_budget_content_length(void **s) {
  size_t used;
  pk__input_budget_init(&B, 100);
  P.budget = &B;
  assert_int_equal(feed("POST / HTTP/1.1\r\nContent-Length: 60\r\n\r\nabc", &used), PK_FEED_OK);
  assert_int_equal(B.used, 60);
  pk__http_parser other;
  pk__http_parser_init(&other, &lim, on_req, on_cont, NULL);
  other.budget = &B;
  assert_int_equal(feed_to(&other, "POST / HTTP/1.1\r\nContent-Length: 41\r\nExpect: 100-continue\r\n\r\n", &used), PK_FEED_ERROR);
  assert_int_equal(other.error_status, 503);
  assert_int_equal(continues, 0);                       /* refused before the 100 Continue */
  assert_int_equal(B.used, 60);
  assert_int_equal(B.refused, 1);
  pk__http_parser_free(&other);
  pk__http_parser_init(&other, &lim, on_req, on_cont, NULL);
  other.budget = &B;
  assert_int_equal(feed_to(&other, "POST / HTTP/1.1\r\nContent-Length: 40\r\nExpect: 100-continue\r\n\r\n", &used), PK_FEED_OK);
  assert_int_equal(continues, 1);
  assert_int_equal(B.used, 100);                        /* exactly the budget */
  pk__http_parser_free(&other);                         /* gone mid-body: its share goes back */
  assert_int_equal(B.used, 60);
  char rest[58];
  memset(rest, 'r', 57);
  rest[57] = 0;
  later = 1;                                            /* handled later: the body was handed on */
  assert_int_equal(feed(rest, &used), PK_FEED_PAUSED);
  assert_int_equal(requests, 1);
  assert_int_equal(B.used, 0);
  assert_int_equal(P.req.body.len, 0);
  later = 0;
  pk__http_parser_resume(&P);
  /* pipelined, one after the other: each takes its share and gives it back */
  assert_int_equal(feed("POST / HTTP/1.1\r\nContent-Length: 60\r\n\r\n" "012345678901234567890123456789012345678901234567890123456789"
                        "POST / HTTP/1.1\r\nContent-Length: 60\r\n\r\n" "012345678901234567890123456789012345678901234567890123456789", &used), PK_FEED_OK);
  assert_int_equal(requests, 3);
  assert_int_equal(B.used, 0);
  assert_int_equal(P.reserved, 0);
}

/* A chunked body reserves each chunk by its announced size: over the budget, 503. */
static void test_budget_chunked(void **s) {
  size_t used;
  pk__input_budget_init(&B, 100);
  P.budget = &B;
  pk__http_parser other;
  pk__http_parser_init(&other, &lim, on_req, on_cont, NULL);
  other.budget = &B;
  assert_int_equal(feed_to(&other, "POST / HTTP/1.1\r\nContent-Length: 50\r\n\r\n", &used), PK_FEED_OK);
  assert_int_equal(feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n", &used), PK_FEED_OK);
  assert_int_equal(B.used, 82);
  assert_int_equal(feed("0123456789abcdef0123456789abcdef\r\n", &used), PK_FEED_OK);
  assert_int_equal(feed("10\r\n", &used), PK_FEED_OK);   /* 48 of the body: 98 */
  assert_int_equal(B.used, 98);
  assert_int_equal(feed("0123456789abcdef\r\n3\r\n", &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 503);
  assert_int_equal(B.used, 50);
  pk__http_parser_free(&other);
  assert_int_equal(B.used, 0);
}

/* Every error gives the share back at once (the connection lingers before it closes), and so
 * does dropping the body (a 408). */
static void test_budget_errors(void **s) {
  size_t used;
  pk__input_budget_init(&B, 1000);
  P.budget = &B;
  /* llhttp's own error: chunk data not followed by CRLF */
  assert_int_equal(feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcdXY", &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 400);
  assert_int_equal(B.used, 0);
  pk__http_parser_free(&P);
  /* 413 after a chunk was reserved */
  pk__http_parser_init(&P, &lim, on_req, on_cont, NULL);
  P.budget = &B;
  assert_int_equal(feed("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n30\r\n", &used), PK_FEED_OK);
  assert_int_equal(B.used, 48);
  assert_int_equal(feed("0123456789abcdef0123456789abcdef0123456789abcdef\r\n11\r\n", &used), PK_FEED_ERROR);
  assert_int_equal(P.error_status, 413);
  assert_int_equal(B.used, 0);
  pk__http_parser_free(&P);
  /* a stalled body dropped (the connection's 408) */
  pk__http_parser_init(&P, &lim, on_req, on_cont, NULL);
  P.budget = &B;
  assert_int_equal(feed("POST / HTTP/1.1\r\nContent-Length: 64\r\n\r\nabc", &used), PK_FEED_OK);
  assert_int_equal(B.used, 64);
  pk__http_parser_drop_body(&P);
  assert_int_equal(B.used, 0);
  assert_int_equal(P.reserved, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_simple_and_headers, setup, teardown),
    cmocka_unit_test_setup_teardown(test_value_whitespace, setup, teardown),
    cmocka_unit_test_setup_teardown(test_unknown_method, setup, teardown),
    cmocka_unit_test_setup_teardown(test_bare_lf, setup, teardown),
    cmocka_unit_test_setup_teardown(test_http10_chunked_closes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_split_input, setup, teardown),
    cmocka_unit_test_setup_teardown(test_obs_fold, setup, teardown),
    cmocka_unit_test_setup_teardown(test_chunked, setup, teardown),
    cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_uri_limit, setup, teardown),
    cmocka_unit_test_setup_teardown(test_body_limits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_chunked_body_limit, setup, teardown),
    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
    cmocka_unit_test_setup_teardown(test_expect_continue, setup, teardown),
    cmocka_unit_test_setup_teardown(test_pause_pipelined, setup, teardown),
    cmocka_unit_test_setup_teardown(test_http10, setup, teardown),
    cmocka_unit_test_setup_teardown(test_budget_content_length, setup, teardown),
    cmocka_unit_test_setup_teardown(test_budget_chunked, setup, teardown),
    cmocka_unit_test_setup_teardown(test_budget_errors, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
