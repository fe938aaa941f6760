/* fuzz_pattern.c: libFuzzer target: schema patterns (ECMA-262 subset) translated, compiled and matched. */
#include <errno.h>
#include <regex.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "schema_internal.h"

/* input: "pattern\0subject" (no NUL: the whole input is the pattern, the subject is empty). The
 * translation must not crash for any pattern; what it accepts must compile as POSIX ERE; and when
 * the fast matcher takes a pattern it (its DFA, and the NFA it was built from) must agree with regexec (on subjects without a newline: a
 * ^ or $ inside a pattern matches next to one on regexec only, as docs/schemas.md says). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *in = (const char *)data;
  const char *nul = memchr(in, 0, size);
  size_t plen = nul ? (size_t)(nul - in) : size;
  const char *subject = nul ? nul + 1 : "";
  size_t slen = nul ? size - plen - 1 : 0;
  size_t cap = plen * 64 + 256;
  char *ere = malloc(cap);
  const char *why = NULL;
  int rc = pk__spattern_translate(in, plen, ere, cap, &why);
  if (rc == 0) {
    regex_t re;
    if (regcomp(&re, ere, REG_EXTENDED | REG_NOSUB) == 0) {
      char *s = malloc(slen + 1);
      memcpy(s, subject, slen);
      s[slen] = 0;
      int slow = regexec(&re, s, 0, NULL, 0) == 0;
      pk__sre *fast = malloc(sizeof *fast);
      if (pk__sre_compile(ere, fast) == 0 && !memchr(s, '\n', slen) && strlen(s) == slen) {
        int quick = pk__sre_match(fast, s, slen);
        if (quick != slow) __builtin_trap();
        fast->dfa_n = 0;   /* the NFA the DFA was built from must agree too */
        if (pk__sre_match(fast, s, slen) != slow) __builtin_trap();
      }
      free(fast);
      free(s);
      regfree(&re);
    }
  } else if (rc == -EINVAL && !why) {
    __builtin_trap();   /* a refusal always says why */
  }
  free(ere);
  return 0;
}
