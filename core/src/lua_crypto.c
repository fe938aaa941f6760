/* lua_crypto.c: the pikku.crypto_c module: SHA-256, HMAC-SHA256, PBKDF2, random bytes, base64url, hex, compare. */
#include "lua_modules.h"
#include <errno.h>
#include <lauxlib.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include "crypto.h"

/* Bounds on what Lua may ask for. Larger values are programmer errors (they raise), not inputs:
 * PBKDF2 output beyond 1 KiB or a 1 MiB random string is never what a caller meant. */
#define PBKDF2_MAX_LEN 1024
#define RANDOM_MAX_LEN (1 << 20)
/* Encodings up to this size are built on the C stack; larger ones in a Lua userdata the GC frees
 * even when a later Lua call raises. */
#define STACK_BUF 1024

/* An integer argument within [lo, hi]; anything else raises (a programmer error). */
static long check_int(lua_State *L, int arg, long lo, long hi) {
  lua_Number v = luaL_checknumber(L, arg);
  if (v != floor(v) || v < (lua_Number)lo || v > (lua_Number)hi)
    luaL_argerror(L, arg, lua_pushfstring(L, "integer from %d to %d expected", (int)lo, (int)hi));
  return (long)v;
}

/* nil, "what: <OpenSSL's reason>" for a failure inside libcrypto (a runtime failure). */
static int openssl_fail(lua_State *L, const char *what) {
  unsigned long e = ERR_get_error();
  char reason[256];
  ERR_error_string_n(e, reason, sizeof reason);
  ERR_clear_error();
  lua_pushnil(L);
  lua_pushfstring(L, "%s failed: %s", what, e ? reason : "unknown OpenSSL error");
  return 2;
}

/* A scratch buffer of n bytes: `stack` when it fits, else a userdata left on the Lua stack. */
static void *scratch(lua_State *L, char *stack, size_t n) {
  return n <= STACK_BUF ? stack : lua_newuserdata(L, n);
}

/* Per-state OpenSSL objects, fetched once when the module opens (an implicit fetch on every
 * call costs about a microsecond of an HMAC's 1.4) and freed by the userdata's __gc. The states
 * of one process run on one thread, each with its own copy, so the contexts are never shared. */
typedef struct {
  EVP_MD *md;           /* SHA-256 */
  EVP_MD_CTX *md_ctx;
  EVP_MAC_CTX *mac_ctx; /* HMAC with SHA-256 as its digest; rekeyed each call */
} crypto_ctx;

#define CTX(L) ((crypto_ctx *)lua_touserdata(L, lua_upvalueindex(1)))

static int l_sha256(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  crypto_ctx *c = CTX(L);
  unsigned char md[PK__SHA256_LEN];
  unsigned int mdlen = 0;
  if (!EVP_DigestInit_ex(c->md_ctx, c->md, NULL) || !EVP_DigestUpdate(c->md_ctx, s, n)
      || !EVP_DigestFinal_ex(c->md_ctx, md, &mdlen))
    return openssl_fail(L, "sha256");
  lua_pushlstring(L, (const char *)md, mdlen);
  return 1;
}

static int l_hmac_sha256(lua_State *L) {
  size_t kn, n, mdlen = 0;
  const char *key = luaL_checklstring(L, 1, &kn); /* never NULL: "" has a pointer too */
  const char *s = luaL_checklstring(L, 2, &n);
  crypto_ctx *c = CTX(L);
  unsigned char md[PK__SHA256_LEN];
  if (!EVP_MAC_init(c->mac_ctx, (const unsigned char *)key, kn, NULL)
      || !EVP_MAC_update(c->mac_ctx, (const unsigned char *)s, n)
      || !EVP_MAC_final(c->mac_ctx, md, &mdlen, sizeof md))
    return openssl_fail(L, "hmac_sha256");
  lua_pushlstring(L, (const char *)md, mdlen);
  return 1;
}

static int l_pbkdf2_sha256(lua_State *L) {
  size_t pn, sn;
  const char *pass = luaL_checklstring(L, 1, &pn);
  const char *salt = luaL_checklstring(L, 2, &sn);
  int iter = (int)check_int(L, 3, 1, 0x7fffffff);
  int len = (int)check_int(L, 4, 1, PBKDF2_MAX_LEN);
  luaL_argcheck(L, pn <= INT_MAX, 1, "password longer than 2 GiB");
  luaL_argcheck(L, sn <= INT_MAX, 2, "salt longer than 2 GiB");
  unsigned char out[PBKDF2_MAX_LEN];
  if (!PKCS5_PBKDF2_HMAC(pass, (int)pn, (const unsigned char *)salt, (int)sn, iter, EVP_sha256(), len, out))
    return openssl_fail(L, "pbkdf2_sha256");
  lua_pushlstring(L, (const char *)out, (size_t)len);
  OPENSSL_cleanse(out, (size_t)len);
  return 1;
}

static int l_random_bytes(lua_State *L) {
  int n = (int)check_int(L, 1, 0, RANDOM_MAX_LEN);
  char stack[STACK_BUF];
  unsigned char *buf = scratch(L, stack, (size_t)n);
  if (n > 0 && RAND_bytes(buf, n) != 1) return openssl_fail(L, "random_bytes");
  lua_pushlstring(L, (const char *)buf, (size_t)n);
  return 1;
}

static int l_b64url_encode(lua_State *L) {
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  char stack[STACK_BUF];
  char *out = scratch(L, stack, PK__B64URL_ENC_LEN(n));
  lua_pushlstring(L, out, pk__b64url_encode(s, n, out));
  return 1;
}

static int l_b64url_decode(lua_State *L) {
  size_t n, outlen;
  const char *s = luaL_checklstring(L, 1, &n);
  char stack[STACK_BUF];
  unsigned char *out = scratch(L, stack, PK__B64URL_DEC_MAX(n));
  if (pk__b64url_decode(s, n, out, &outlen) < 0) {
    lua_pushnil(L);
    lua_pushliteral(L, "invalid base64url");
    return 2;
  }
  lua_pushlstring(L, (const char *)out, outlen);
  return 1;
}

static int l_hex(lua_State *L) {
  static const char digits[] = "0123456789abcdef";
  size_t n;
  const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &n);
  char stack[STACK_BUF];
  char *out = scratch(L, stack, 2 * n);
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[s[i] >> 4];
    out[2 * i + 1] = digits[s[i] & 15];
  }
  lua_pushlstring(L, out, 2 * n);
  return 1;
}

static int l_equals(lua_State *L) {
  size_t an, bn;
  const char *a = luaL_checklstring(L, 1, &an);
  const char *b = luaL_checklstring(L, 2, &bn);
  lua_pushboolean(L, pk__ct_equals(a, an, b, bn));
  return 1;
}

static const luaL_Reg crypto_funcs[] = {
  {"sha256", l_sha256},
  {"hmac_sha256", l_hmac_sha256},
  {"pbkdf2_sha256", l_pbkdf2_sha256},
  {"random_bytes", l_random_bytes},
  {"b64url_encode", l_b64url_encode},
  {"b64url_decode", l_b64url_decode},
  {"hex", l_hex},
  {"equals", l_equals},
  {NULL, NULL},
};

static int ctx_gc(lua_State *L) {
  crypto_ctx *c = lua_touserdata(L, 1);
  EVP_MAC_CTX_free(c->mac_ctx);
  EVP_MD_CTX_free(c->md_ctx);
  EVP_MD_free(c->md);
  c->mac_ctx = NULL;
  c->md_ctx = NULL;
  c->md = NULL;
  return 0;
}

/* Fills c; 0 or -1 when OpenSSL could not provide SHA-256 or HMAC. */
static int ctx_init(crypto_ctx *c) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  c->md = EVP_MD_fetch(NULL, "SHA256", NULL);
  c->md_ctx = EVP_MD_CTX_new();
  c->mac_ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac); /* the context holds its own reference */
  if (!c->md || !c->md_ctx || !c->mac_ctx || !EVP_MAC_CTX_set_params(c->mac_ctx, params)) return -ENOSYS;
  return 0;
}

int luaopen_pikku_crypto_c(lua_State *L) {
  crypto_ctx *c = lua_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  lua_newtable(L);
  lua_pushcfunction(L, ctx_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  if (ctx_init(c) < 0) {
    ERR_clear_error();
    return luaL_error(L, "pikku.crypto_c: OpenSSL has no SHA-256 or HMAC (check the providers in openssl.cnf)");
  }
  lua_newtable(L);
  lua_pushvalue(L, -2);
  luaL_setfuncs(L, crypto_funcs, 1);
  return 1;
}
