/* json_number.h: JSON number text to a double, as strtod rounds it, without strtod for the common cases. */
#ifndef PK_JSON_NUMBER_H
#define PK_JSON_NUMBER_H
#include <stddef.h>

/* What pk__json_number found wrong (0: a number). */
enum {
  PK__JNUM_OK = 0,
  PK__JNUM_BAD = -1,        /* not a number where one must start */
  PK__JNUM_BAD_FRAC = -2,   /* no digit after '.' */
  PK__JNUM_BAD_EXP = -3,    /* no digit after the exponent's e or E (and sign) */
  PK__JNUM_RANGE = -4,      /* too large for a double (strtod gives infinity) */
  PK__JNUM_NOMEM = -5       /* a very long number could not be copied for strtod */
};

/* Reads the number at *pp (RFC 8259: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?; whatever
 * follows it is left for the caller) and stores in *v the double nearest to it, the value strtod
 * gives. *pp moves past the number, or to the offending byte when the result is not PK__JNUM_OK.
 * Up to 19 significant digits and a decimal exponent within +-22 cost one multiplication or
 * division (both operands exact, so the one rounding is the correct one); others go to strtod. */
int pk__json_number(const unsigned char **pp, const unsigned char *end, double *v);
#endif
