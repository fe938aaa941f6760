/* lua_work.c: the pikku.work_c module: CPU-heavy work for a call on libuv's thread pool (PBKDF2). */
#include "lua_modules.h"
#include <lauxlib.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <uv.h>
#include "host.h"
#include "worker.h"

#define MAX_KEY 64

typedef struct work {
  uv_work_t req;
  pk__host *h;
  double token;
  int iterations, keylen, ok;
  size_t plen, slen;
  unsigned char key[MAX_KEY];
  char *pass, *salt;        /* copies, in the same allocation */
} work;

static void run(uv_work_t *req) {   /* on a pool thread: no Lua here */
  work *w = req->data;
  w->ok = PKCS5_PBKDF2_HMAC(w->pass, (int)w->plen, (const unsigned char *)w->salt, (int)w->slen,
                            w->iterations, EVP_sha256(), w->keylen, w->key) == 1;
}

static void done(uv_work_t *req, int status) {
  work *w = req->data;
  lua_State *L = w->h->L;
  if (status == 0 && w->ok) lua_pushlstring(L, (const char *)w->key, (size_t)w->keylen);
  else lua_pushboolean(L, 0);
  OPENSSL_cleanse(w->key, sizeof w->key);
  OPENSSL_cleanse(w->pass, w->plen);
  pk__host_resume(w->h, w->token, 1);   /* the key (or false) is what the call's yield returns */
  pk__host_unref(w->h);
  free(w);
}

/* work.pbkdf2_async(password, salt, iterations, keylen, token): derives the key on the thread
 * pool; when it is ready the core calls the runtime's resume(token, key), or resume(token, false)
 * when it failed. */
static int l_pbkdf2_async(lua_State *L) {
  if (!pk__W) return luaL_error(L, "pikku.work_c: not available while the app is loading");
  size_t plen, slen;
  const char *pass = luaL_checklstring(L, 1, &plen);
  const char *salt = luaL_checklstring(L, 2, &slen);
  lua_Integer iterations = luaL_checkinteger(L, 3), keylen = luaL_checkinteger(L, 4);
  double token = luaL_checknumber(L, 5);
  luaL_argcheck(L, iterations >= 1 && iterations <= INT_MAX, 3, "iterations out of range");
  luaL_argcheck(L, keylen >= 1 && keylen <= MAX_KEY, 4, "key length from 1 to 64");
  luaL_argcheck(L, plen < INT_MAX && slen < INT_MAX, 1, "longer than 2 GiB");
  work *w = malloc(sizeof *w + plen + slen);
  if (!w) return luaL_error(L, "out of memory");
  memset(w, 0, sizeof *w);
  w->pass = (char *)(w + 1);
  w->salt = w->pass + plen;
  memcpy(w->pass, pass, plen);
  memcpy(w->salt, salt, slen);
  w->plen = plen;
  w->slen = slen;
  w->iterations = (int)iterations;
  w->keylen = (int)keylen;
  w->token = token;
  w->h = pk__host_upvalue(L);
  w->req.data = w;
  if (uv_queue_work(pk__W->loop, &w->req, run, done)) {
    free(w);
    return luaL_error(L, "pbkdf2_async: cannot queue the work");
  }
  pk__host_ref(w->h);
  return 0;
}

int luaopen_pikku_work_c(lua_State *L) {
  pk__host *h = pk__host_of(L);
  if (!h) return luaL_error(L, "pikku.work_c: only inside the pikku host (a state made by pk__host_new)");
  lua_newtable(L);
  lua_pushlightuserdata(L, h);
  lua_pushcclosure(L, l_pbkdf2_async, 1);
  lua_setfield(L, -2, "pbkdf2_async");
  return 1;
}
