/* request_target.c: the request target and Host rules (RFC 9112 section 3.2): which targets and Host values are served. */
#include "request_target.h"
#include <string.h>
#include <strings.h>
#include "ascii_case.h"

static int alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int hexdig(unsigned char c) { return digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static int unreserved(unsigned char c) { return alpha(c) || digit(c) || c == '-' || c == '.' || c == '_' || c == '~'; }
static int sub_delim(unsigned char c) { return c && strchr("!$&'()*+,;=", c) != NULL; }

/* The characters of a reg-name besides %HH: unreserved and sub-delims (one look-up each: every
 * request's Host goes through here). */
static const unsigned char reg_char[256] = {
  ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['0' ... '9'] = 1, ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1,
  ['!'] = 1, ['$'] = 1, ['&'] = 1, ['\''] = 1, ['('] = 1, [')'] = 1, ['*'] = 1, ['+'] = 1, [','] = 1,
  [';'] = 1, ['='] = 1,
};

/* reg-name (RFC 3986 section 3.2.2), not empty: unreserved, sub-delims and %HH. An IPv4
 * address is a reg-name too. */
static int reg_name_ok(const char *s, size_t n) {
  if (!n) return 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (reg_char[c]) continue;
    if (c != '%' || i + 2 >= n) return 0;
    if (!hexdig((unsigned char)s[i + 1]) || !hexdig((unsigned char)s[i + 2])) return 0;
    i += 2;
  }
  return 1;
}

/* The inside of "[...]": an IPv6 address (hex digits, ':' and '.' for an IPv4 tail, at least one
 * ':'), optionally with a zone "%25..." (RFC 6874), or an IPvFuture "v1.x". */
static int ip_literal_ok(const char *s, size_t n) {
  if (n >= 2 && (s[0] | 0x20) == 'v') {
    size_t i = 1;
    while (i < n && hexdig((unsigned char)s[i])) i++;
    if (i == 1 || i >= n - 1 || s[i] != '.') return 0;
    for (i++; i < n; i++)
      if (!unreserved((unsigned char)s[i]) && !sub_delim((unsigned char)s[i]) && s[i] != ':') return 0;
    return 1;
  }
  int colons = 0;
  size_t i = 0;
  for (; i < n && s[i] != '%'; i++) {
    if (s[i] == ':') colons++;
    else if (!hexdig((unsigned char)s[i]) && s[i] != '.') return 0;
  }
  if (colons < 2) return 0;
  if (i == n) return 1;
  if (n - i < 4 || s[i + 1] != '2' || s[i + 2] != '5') return 0;   /* "%25" then the zone */
  return reg_name_ok(s + i + 3, n - i - 3);
}

/* port = *DIGIT (RFC 3986); here at most 65535. Empty is allowed ("host:"). */
static int port_ok(const char *s, size_t n) {
  if (n > 5) return 0;
  long v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!digit((unsigned char)s[i])) return 0;
    v = v * 10 + (s[i] - '0');
  }
  return v <= 65535;
}

static int host_value_check(const char *v, size_t n);

/* The last value found valid (every request of a client names the same Host, nearly always):
 * the same bytes are valid again without the walk. A pure function of the bytes, so only a copy. */
static char last_ok[64];
static size_t last_ok_len;

int pk__host_value_ok(const char *v, size_t n) {
  if (n == last_ok_len && n && memcmp(v, last_ok, n) == 0) return 1;
  if (!host_value_check(v, n)) return 0;
  if (n <= sizeof last_ok) { memcpy(last_ok, v, n); last_ok_len = n; }
  return 1;
}

static int host_value_check(const char *v, size_t n) {
  if (!n) return 1;
  size_t hlen;
  if (v[0] == '[') {
    const char *close = memchr(v, ']', n);
    if (!close || !ip_literal_ok(v + 1, (size_t)(close - v - 1))) return 0;
    hlen = (size_t)(close - v) + 1;
  } else {
    const char *colon = memchr(v, ':', n);
    hlen = colon ? (size_t)(colon - v) : n;
    if (!reg_name_ok(v, hlen)) return 0;
  }
  if (hlen == n) return 1;
  return v[hlen] == ':' && port_ok(v + hlen + 1, n - hlen - 1);
}

static int scheme_is(const char *s, size_t n, const char *name) {
  return n == strlen(name) && pk__ascii_ieq(s, name, n);
}

const char *pk__target_origin(char *url, size_t ulen, const char **out, size_t *olen) {
  char *hash = ulen ? memchr(url, '#', ulen) : NULL;   /* a fragment is the client's business */
  if (hash) ulen = (size_t)(hash - url);
  if (ulen && url[0] != '/' && !(ulen == 1 && url[0] == '*')) {
    /* absolute-form: "http" / "https" "://" authority [ path ] [ "?" query ] */
    size_t i = 0;
    while (i < ulen && (alpha((unsigned char)url[i]) || digit((unsigned char)url[i]) || url[i] == '+' ||
                        url[i] == '-' || url[i] == '.'))
      i++;
    if (i + 3 > ulen || url[i] != ':' || url[i + 1] != '/' || url[i + 2] != '/' ||
        !(scheme_is(url, i, "http") || scheme_is(url, i, "https")))
      return "Bad request target";
    char *auth = url + i + 3, *end = url + ulen, *a = auth;
    while (a < end && *a != '/' && *a != '?') a++;
    size_t alen = (size_t)(a - auth);
    if (memchr(auth, '@', alen)) return "Userinfo in the request target";
    if (!alen || !pk__host_value_ok(auth, alen)) return "Bad authority in the request target";
    if (a == end || *a == '?') *--a = '/';   /* no path: "/" (RFC 9112 section 3.2.2) */
    ulen = (size_t)(end - a);
    url = a;
  }
  if (!ulen) return "Bad request target";
  const char *q = memchr(url, '?', ulen);
  size_t plen = q ? (size_t)(q - url) : ulen;
  for (size_t i = 0; i + 2 < plen; i++)
    if (url[i] == '%' && url[i + 1] == '0' && url[i + 2] == '0') return "NUL (%00) in the path";
  *out = url;
  *olen = ulen;
  return NULL;
}
