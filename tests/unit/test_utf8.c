/* test_utf8.c: unit tests of utf8.c: boundaries, every rejection class, exhaustive comparison with a reference decoder, and incremental (split) validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include "utf8.h"

/* A plain decoder straight from the definition (RFC 3629 section 3), to compare against. */
static int ref_valid(const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t len;
    uint32_t cp, min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (i + len > n) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return 0;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    i += len;
  }
  return 1;
}

/* Every way of feeding s: whole, byte at a time, and in two pieces split at each position. */
static int valid_by_feeding(const char *s, size_t n, size_t split) {
  pk__utf8_state st;
  pk__utf8_init(&st);
  if (pk__utf8_feed(&st, s, split)) return 0;
  if (pk__utf8_feed(&st, s + split, n - split)) return 0;
  return pk__utf8_complete(&st);
}
static int valid_bytewise(const char *s, size_t n) {
  pk__utf8_state st;
  pk__utf8_init(&st);
  for (size_t i = 0; i < n; i++)
    if (pk__utf8_feed(&st, s + i, 1)) return 0;
  return pk__utf8_complete(&st);
}
static void expect(const char *s, size_t n, int want) {
  assert_int_equal(pk__utf8_valid(s, n), want);
  assert_int_equal(ref_valid((const unsigned char *)s, n), want);
  assert_int_equal(valid_bytewise(s, n), want);
  for (size_t k = 0; k <= n; k++) assert_int_equal(valid_by_feeding(s, n, k), want);
}
#define OK(lit) expect(lit, sizeof lit - 1, 1)
#define BAD(lit) expect(lit, sizeof lit - 1, 0)

static void test_valid_boundaries(void **s) {
  OK("");
  OK("hello, world");
  OK("\x00");                                /* NUL is a code point like any other */
  OK("\x7f");
  OK("\xc2\x80");                            /* U+0080 */
  OK("\xdf\xbf");                            /* U+07FF */
  OK("\xe0\xa0\x80");                        /* U+0800 */
  OK("\xed\x9f\xbf");                        /* U+D7FF, last before the surrogates */
  OK("\xee\x80\x80");                        /* U+E000, first after them */
  OK("\xef\xbf\xbf");                        /* U+FFFF */
  OK("\xf0\x90\x80\x80");                    /* U+10000 */
  OK("\xf4\x8f\xbf\xbf");                    /* U+10FFFF */
  OK("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");   /* "kosme" in Greek */
  OK("{\"action\":\"create\",\"title\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}");
}

static void test_invalid_classes(void **s) {
  BAD("\x80");                               /* lone continuation */
  BAD("a\xbf");
  BAD("\xc0\x80");                           /* overlong NUL */
  BAD("\xc1\xbf");                           /* overlong U+007F */
  BAD("\xe0\x80\x80");                       /* overlong */
  BAD("\xe0\x9f\xbf");                       /* overlong U+07FF */
  BAD("\xf0\x80\x80\x80");                   /* overlong */
  BAD("\xf0\x8f\xbf\xbf");                   /* overlong U+FFFF */
  BAD("\xed\xa0\x80");                       /* U+D800 */
  BAD("\xed\xbf\xbf");                       /* U+DFFF */
  BAD("\xed\xa0\x80\xed\xb0\x80");           /* a surrogate pair spelled in UTF-8 (CESU-8) */
  BAD("\xf4\x90\x80\x80");                   /* U+110000 */
  BAD("\xf5\x80\x80\x80");
  BAD("\xf8\x88\x80\x80\x80");               /* old 5-byte form */
  BAD("\xfe");
  BAD("\xff");
  BAD("\xe2\x82");                           /* cut off at the end */
  BAD("\xf0\x9f\x98");
  BAD("\xc3");
  BAD("\xc3(");                              /* ASCII where a continuation belongs */
  BAD("\xe2\x28\xa1");
}

static void test_ascii_fast_path_positions(void **s) {
  /* A bad byte, or a multi-byte sequence, at every offset around the 8-byte steps. */
  char buf[64];
  for (size_t pos = 0; pos < 40; pos++) {
    memset(buf, 'a', sizeof buf);
    buf[pos] = (char)0xff;
    assert_false(pk__utf8_valid(buf, 48));
    memset(buf, 'a', sizeof buf);
    memcpy(buf + pos, "\xe2\x82\xac", 3);
    assert_true(pk__utf8_valid(buf, 48));
    assert_false(pk__utf8_valid(buf, pos + 2));   /* the euro sign cut off */
    buf[pos + 1] = 'a';
    assert_false(pk__utf8_valid(buf, 48));
  }
}

static void test_exhaustive_up_to_three_bytes(void **s) {
  unsigned char b[3];
  for (unsigned a = 0; a < 256; a++) {
    b[0] = (unsigned char)a;
    assert_int_equal(pk__utf8_valid((char *)b, 1), ref_valid(b, 1));
    for (unsigned c = 0; c < 256; c++) {
      b[1] = (unsigned char)c;
      assert_int_equal(pk__utf8_valid((char *)b, 2), ref_valid(b, 2));
      for (unsigned d = 0; d < 256; d++) {
        b[2] = (unsigned char)d;
        if (pk__utf8_valid((char *)b, 3) != ref_valid(b, 3))
          fail_msg("%02x %02x %02x: got %d", a, c, d, pk__utf8_valid((char *)b, 3));
      }
    }
  }
}

static void test_four_byte_leads(void **s) {
  static const unsigned char tails[] = { 0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xff };
  unsigned char b[4];
  for (unsigned a = 0xc0; a < 256; a++)
    for (unsigned c = 0; c < 256; c++)
      for (size_t i = 0; i < sizeof tails; i++)
        for (size_t j = 0; j < sizeof tails; j++) {
          b[0] = (unsigned char)a; b[1] = (unsigned char)c; b[2] = tails[i]; b[3] = tails[j];
          if (pk__utf8_valid((char *)b, 4) != ref_valid(b, 4)) fail_msg("%02x %02x %02x %02x", a, c, b[2], b[3]);
        }
}

/* Feeding byte by byte, the first refused byte is the first one no valid text could continue
 * with; the message can be closed with 1007 there and then. */
static size_t first_refused(const char *s, size_t n) {
  pk__utf8_state st;
  pk__utf8_init(&st);
  for (size_t i = 0; i < n; i++)
    if (pk__utf8_feed(&st, s + i, 1) == -EILSEQ) return i;
  return n;
}

static void test_fails_early(void **s) {
  /* Autobahn 6.4.1's idea: valid Greek, then a surrogate's first two bytes, then more text. */
  const char t[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64";
  assert_int_equal(first_refused(t, sizeof t - 1), 12);   /* the A0 after ED */
  assert_int_equal(first_refused("\xf4\x90\x80\x80", 4), 1);
  assert_int_equal(first_refused("\xe0\x80\x80", 3), 1);
  assert_int_equal(first_refused("ab\xc0", 3), 2);
  assert_int_equal(first_refused("\xf5", 1), 0);
  /* A code point open at the end is not an error yet, only incomplete. */
  pk__utf8_state st;
  pk__utf8_init(&st);
  assert_int_equal(pk__utf8_feed(&st, "a\xf0\x9f", 3), 0);
  assert_false(pk__utf8_complete(&st));
  assert_int_equal(pk__utf8_feed(&st, "\x98", 1), 0);
  assert_false(pk__utf8_complete(&st));
  assert_int_equal(pk__utf8_feed(&st, "\x80z", 2), 0);
  assert_true(pk__utf8_complete(&st));
  assert_int_equal(pk__utf8_feed(&st, "", 0), 0);
  assert_true(pk__utf8_complete(&st));
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_valid_boundaries),
    cmocka_unit_test(test_invalid_classes),
    cmocka_unit_test(test_ascii_fast_path_positions),
    cmocka_unit_test(test_exhaustive_up_to_three_bytes),
    cmocka_unit_test(test_four_byte_leads),
    cmocka_unit_test(test_fails_early),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
