/* json_number.c: JSON number text to a double: one exact multiplication or division when it can, strtod otherwise. */
#include "json_number.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* 10^0 .. 10^22: every one exact in a double */
static const double pow10_exact[] = {
  1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
  1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

#define MANTISSA_EXACT (1ull << 53)

static inline int digit(const unsigned char *p, const unsigned char *end) {
  return p < end && *p >= '0' && *p <= '9';
}

int pk__json_number(const unsigned char **pp, const unsigned char *end, double *v) {
  const unsigned char *p = *pp, *start = p;
  int neg = 0;
  if (p < end && *p == '-') { neg = 1; p++; }
  if (!digit(p, end)) { *pp = p; return PK__JNUM_BAD; }
  uint64_t m = 0;
  int sig = 0;          /* significant digits kept in m */
  int lost = 0;         /* a nonzero digit did not fit in m */
  long e10 = 0;         /* the value is m * 10^e10 (when nothing was lost) */
  if (*p == '0') p++;
  else {
    for (; digit(p, end); p++) {
      if (sig < 19) { m = m * 10 + (unsigned)(*p - '0'); sig++; }
      else { e10++; lost |= *p != '0'; }
    }
  }
  if (p < end && *p == '.') {
    p++;
    if (!digit(p, end)) { *pp = p; return PK__JNUM_BAD_FRAC; }
    for (; digit(p, end); p++) {
      if (sig < 19) {
        if (m || *p != '0') { m = m * 10 + (unsigned)(*p - '0'); sig++; }
        e10--;
      } else {
        lost |= *p != '0';
      }
    }
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    p++;
    int eneg = 0;
    if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    if (!digit(p, end)) { *pp = p; return PK__JNUM_BAD_EXP; }
    long x = 0;
    for (; digit(p, end); p++)
      if (x < 100000) x = x * 10 + (*p - '0');
    e10 += eneg ? -x : x;
  }
  *pp = p;
  if (!lost && m < MANTISSA_EXACT && e10 >= -22 && e10 <= 22) {
    double d = (double)m;
    d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
    *v = neg ? -d : d;
    return PK__JNUM_OK;
  }
  char tmp[64], *buf = tmp;
  size_t n = (size_t)(p - start);
  if (n >= sizeof tmp && !(buf = malloc(n + 1))) return PK__JNUM_NOMEM;
  memcpy(buf, start, n);
  buf[n] = '\0';
  double d = strtod(buf, NULL);
  if (buf != tmp) free(buf);
  if (isinf(d)) return PK__JNUM_RANGE;
  *v = d;
  return PK__JNUM_OK;
}
