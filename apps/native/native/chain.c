/* chain.c: native functions of the native app: a SHA-256 hash chain, and a function showing the rest of pikku.h (session, errors, log, publish). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pikku.h>

/* ---- SHA-256 (FIPS 180-4), small and plain ---- */

typedef struct { uint32_t h[8]; uint8_t buf[64]; uint64_t len; size_t n; } sha256;

static const uint32_t K[64] = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void block(sha256 *s, const uint8_t *p) {
  uint32_t w[64], a, b, c, d, e, f, g, h;
  for (int i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  a = s->h[0]; b = s->h[1]; c = s->h[2]; d = s->h[3]; e = s->h[4]; f = s->h[5]; g = s->h[6]; h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d; s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha256_init(sha256 *s) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, iv, sizeof iv);
  s->len = 0;
  s->n = 0;
}

static void sha256_update(sha256 *s, const uint8_t *p, size_t n) {
  s->len += n;
  while (n) {
    size_t take = 64 - s->n < n ? 64 - s->n : n;
    memcpy(s->buf + s->n, p, take);
    s->n += take; p += take; n -= take;
    if (s->n == 64) { block(s, s->buf); s->n = 0; }
  }
}

static void sha256_final(sha256 *s, uint8_t out[32]) {
  uint64_t bits = s->len * 8;
  uint8_t pad = 0x80, zero = 0, lenb[8];
  sha256_update(s, &pad, 1);
  while (s->n != 56) sha256_update(s, &zero, 1);
  for (int i = 0; i < 8; i++) lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha256_update(s, lenb, 8);
  for (int i = 0; i < 8; i++) { out[4 * i] = (uint8_t)(s->h[i] >> 24); out[4 * i + 1] = (uint8_t)(s->h[i] >> 16); out[4 * i + 2] = (uint8_t)(s->h[i] >> 8); out[4 * i + 3] = (uint8_t)s->h[i]; }
}

/* POST /native/chain {"seed": "...", "rounds": N}: h0 = SHA-256(seed), h(i+1) = SHA-256(hi) (the 32
 * bytes), answered as {"rounds": N, "hex": "<h(N) in hex>"}. The input schema in app.lua already
 * checked that seed is a string and rounds an integer from 1 to 1000000. */
int chain_sha256(pk_call *call) {
  size_t len;
  const char *seed = pk_string(call, PK_INPUT, "/seed", &len);
  int rounds = (int)pk_number(call, PK_INPUT, "/rounds", 1);
  uint8_t h[32];
  sha256 s;
  sha256_init(&s);
  sha256_update(&s, (const uint8_t *)seed, len);
  sha256_final(&s, h);
  for (int i = 1; i < rounds; i++) {
    if ((i & 0xffff) == 0 && pk_time_left_ms(call) < 0)   /* a long chain stops at its time limit */
      return pk_error(call, "ServiceUnavailable", "the chain ran out of time", NULL);
    sha256_init(&s);
    sha256_update(&s, h, 32);
    sha256_final(&s, h);
  }
  char hex[65];
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", h[i]);
  pk_out_object(call);
  pk_out_key(call, "rounds", 6);
  pk_out_integer(call, rounds);
  pk_out_key(call, "hex", 3);
  pk_out_string(call, hex, 64);
  pk_out_end(call);
  return PK_OK;
}

/* GET /native/greet/:name: reads the session (set by the middleware in app.lua), fails with a
 * payload, logs, publishes; answers {"greeting": "...", "user": ..., "tags": [...]}. */
int chain_greet(pk_call *call) {
  size_t nlen;
  const char *name = pk_string(call, PK_INPUT, "/name", &nlen);
  if (nlen > 0 && name[0] == '!')
    return pk_error(call, "UnprocessableContent", "a name may not start with !", "{\"field\":\"name\"}");
  const char *user = pk_string(call, PK_SESSION, "/user", NULL);
  char text[256];
  snprintf(text, sizeof text, "hello, %.*s", (int)(nlen > 200 ? 200 : nlen), name);
  pk_call_log(call, "info", text);
  char json[300];
  int n = snprintf(json, sizeof json, "{\"greeted\":\"%.*s\"}", (int)(nlen > 200 ? 200 : nlen), name);
  pk_publish(call, "greetings", json, (size_t)n);
  pk_out_object(call);
  pk_out_key(call, "greeting", 8);
  pk_out_string(call, text, strlen(text));
  pk_out_key(call, "user", 4);
  if (user) pk_out_string(call, user, strlen(user)); else pk_out_null(call);
  pk_out_key(call, "tags", 4);
  pk_out_array(call);
  for (size_t i = 0, k = pk_count(call, PK_INPUT, "/tags"); i < k; i++) {
    char ptr[32];
    snprintf(ptr, sizeof ptr, "/tags/%zu", i);
    size_t tlen;
    const char *t = pk_string(call, PK_INPUT, ptr, &tlen);
    if (t) pk_out_string(call, t, tlen);
  }
  pk_out_end(call);
  pk_out_end(call);
  return PK_OK;
}

/* GET /native/crash: a deliberate segfault (the crash-containment test and demo). */
int chain_crash(pk_call *call) {
  volatile int *p = (volatile int *)(uintptr_t)pk_number(call, PK_INPUT, "/address", 16);   /* unmapped */
  return *p;
}

/* GET /native/spin: a native loop that never ends (the time-limit test: native code cannot be
 * interrupted, so the worker answers its clients and is replaced). */
int chain_spin(pk_call *call) {
  (void)call;
  volatile unsigned long n = 0;
  for (;;) n++;
  return PK_OK;
}
