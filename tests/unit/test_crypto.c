/* test_crypto.c: unit tests of crypto.c (vectors, base64url, equals) and, through Lua, of jwt, cookie_session and password. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "crypto.h"
#include "host_state.h"

#define CASES_FILE PIKKU_LUA_DIR "/../tests/lua/auth_primitives_test.lua"

/* One state for the whole run, as a worker has; the Lua cases' table is kept in the registry. */
static lua_State *L;
static int cases_ref = LUA_NOREF;
static int lua_cases_run;

static lua_State *new_state(void) {
  lua_State *s = pk__lua_state_new();   /* the host's C modules in package.preload, as in a worker */
  lua_getglobal(s, "package");
  lua_pushstring(s, PIKKU_LUA_DIR "/?.lua;" PIKKU_LUA_DIR "/?/init.lua");
  lua_setfield(s, -2, "path");
  lua_pop(s, 1);
  return s;
}

static int traceback(lua_State *s) {
  luaL_traceback(s, s, lua_tostring(s, 1), 1);
  return 1;
}

/* Runs `return <expr>` with `c` bound to pikku.crypto_c and checks the string it returns. */
static void assert_lua_string(const char *expr, const char *want) {
  char chunk[512];
  snprintf(chunk, sizeof chunk, "local c = require 'pikku.crypto_c'; return %s", expr);
  if (luaL_dostring(L, chunk)) fail_msg("%s: %s", expr, lua_tostring(L, -1));
  assert_string_equal(lua_tostring(L, -1), want);
  lua_settop(L, 0);
}

/* ---- C-level and vector tests ---- */

static void test_preload_registers_module(void **state) {
  assert_int_equal(luaL_dostring(L, "return type(package.preload['pikku.crypto_c'])"), 0);
  assert_string_equal(lua_tostring(L, -1), "function");
  lua_settop(L, 0);
  assert_int_equal(luaL_dostring(L, "local c = require 'pikku.crypto_c'\n"
                                    "local n = 0 for _ in pairs(c) do n = n + 1 end return n"), 0);
  assert_int_equal(lua_tointeger(L, -1), 8);
  lua_settop(L, 0);
}

static void test_sha256_vectors(void **state) {
  assert_lua_string("c.hex(c.sha256('abc'))", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_lua_string("c.hex(c.sha256(''))", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_hmac_sha256_rfc4231(void **state) {
  /* test case 1: key = 20 x 0x0b, "Hi There"; test case 2: key "Jefe" */
  assert_lua_string("c.hex(c.hmac_sha256(string.rep('\\11', 20), 'Hi There'))",
                    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  assert_lua_string("c.hex(c.hmac_sha256('Jefe', 'what do ya want for nothing?'))",
                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  /* test case 6: a 131-byte key, longer than the block, is hashed first */
  assert_lua_string("c.hex(c.hmac_sha256(string.rep('\\170', 131), "
                    "'Test Using Larger Than Block-Size Key - Hash Key First'))",
                    "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  /* the context is rekeyed on every call: an empty key after a long one (checked with Node) */
  assert_lua_string("c.hex(c.hmac_sha256('', 'abc'))",
                    "fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091836351");
  assert_lua_string("c.hex(c.hmac_sha256('Jefe', 'what do ya want for nothing?'))",
                    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

static void test_pbkdf2_sha256_vectors(void **state) {
  assert_lua_string("c.hex(c.pbkdf2_sha256('password', 'salt', 1, 32))",
                    "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b");
  assert_lua_string("c.hex(c.pbkdf2_sha256('password', 'salt', 2, 32))",
                    "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43");
  assert_lua_string("c.hex(c.pbkdf2_sha256('password', 'salt', 4096, 32))",
                    "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
}

static void check_encode(const char *in, const char *want) {
  char out[64];
  size_t n = pk__b64url_encode((const unsigned char *)in, strlen(in), out);
  assert_int_equal(n, strlen(want));
  assert_int_equal(n, PK__B64URL_ENC_LEN(strlen(in)));
  assert_memory_equal(out, want, n);
}

static void test_b64url_encode(void **state) {
  check_encode("", "");
  check_encode("f", "Zg");
  check_encode("fo", "Zm8");
  check_encode("foo", "Zm9v");
  check_encode("foob", "Zm9vYg");
  check_encode("fooba", "Zm9vYmE");
  check_encode("foobar", "Zm9vYmFy");
  check_encode("\xfb\xff\xbf", "-_-_");
}

static void test_b64url_round_trip_all_lengths(void **state) {
  unsigned char in[300], back[PK__B64URL_DEC_MAX(400)];
  char enc[400];
  for (size_t i = 0; i < sizeof in; i++) in[i] = (unsigned char)(i * 37 + 11);
  for (size_t n = 0; n <= sizeof in; n++) {
    size_t e = pk__b64url_encode(in, n, enc), d = 999;
    assert_int_equal(pk__b64url_decode(enc, e, back, &d), 0);
    assert_int_equal(d, n);
    assert_memory_equal(back, in, n);
  }
}

static void check_decode(const char *in, int want_rc, const char *want) {
  unsigned char out[64];
  size_t n = 0;
  int rc = pk__b64url_decode(in, strlen(in), out, &n);
  if (rc != want_rc) fail_msg("decode \"%s\": rc %d, want %d", in, rc, want_rc);
  if (rc == 0) {
    assert_int_equal(n, strlen(want));
    assert_memory_equal(out, want, n);
  }
}

static void test_b64url_decode_accepts_and_rejects(void **state) {
  check_decode("Zm9vYmFy", 0, "foobar");
  check_decode("Zm9vYg", 0, "foob");   /* missing padding is fine */
  check_decode("Zm9vYg==", 0, "foob"); /* so is complete padding */
  check_decode("Zm9vYmE=", 0, "fooba");
  check_decode("", 0, "");
  check_decode("Zm9vYg=", -EINVAL, NULL);   /* incomplete padding */
  check_decode("Zm9vYmE==", -EINVAL, NULL); /* too much */
  check_decode("Zg===", -EINVAL, NULL);
  check_decode("====", -EINVAL, NULL);
  check_decode("A===", -EINVAL, NULL);
  check_decode("Zm=v", -EINVAL, NULL);      /* '=' inside */
  check_decode("Zm9vY", -EINVAL, NULL);     /* 4k+1 characters */
  check_decode("+/8=", -EINVAL, NULL);      /* standard base64 alphabet */
  check_decode("Zm9 v", -EINVAL, NULL);
  check_decode("Zm9v\xc3\xa9", -EINVAL, NULL);
  check_decode("Zh", -EINVAL, NULL);        /* unused bits set: "Zg" spelled twice */
  check_decode("Zm9", -EINVAL, NULL);       /* "Zm8" likewise */
  unsigned char out[8];
  size_t n;
  assert_int_equal(pk__b64url_decode("Zm\0v", 4, out, &n), -EINVAL); /* a NUL is not skipped */
}

static void test_ct_equals(void **state) {
  assert_true(pk__ct_equals("abc", 3, "abc", 3));
  assert_false(pk__ct_equals("abc", 3, "abd", 3));
  assert_false(pk__ct_equals("abc", 3, "xbc", 3));
  assert_false(pk__ct_equals("abc", 3, "abcd", 4));
  assert_false(pk__ct_equals("abcd", 4, "abc", 3));
  assert_true(pk__ct_equals("", 0, "", 0));
  assert_false(pk__ct_equals("", 0, "a", 1));
  assert_true(pk__ct_equals("a\0b", 3, "a\0b", 3));
  assert_false(pk__ct_equals("a\0b", 3, "a\0c", 3));
}

/* ---- the Lua cases, one cmocka test each ---- */

static void run_lua_case(void **state) {
  int i = (int)(intptr_t)*state;
  assert_int_equal(lua_gettop(L), 0);
  lua_pushcfunction(L, traceback);
  lua_rawgeti(L, LUA_REGISTRYINDEX, cases_ref);
  lua_rawgeti(L, -1, i);
  lua_getfield(L, -1, "fn");
  lua_remove(L, -2);
  lua_remove(L, -2);
  int rc = lua_pcall(L, 0, 0, 1);
  if (rc) {
    char msg[2048];
    snprintf(msg, sizeof msg, "%s", lua_tostring(L, -1));
    lua_settop(L, 0);
    fail_msg("%s", msg);
  }
  lua_settop(L, 0);
  lua_cases_run++;
}

/* Loads CASES_FILE; returns the number of cases, or -1 (with a message printed). */
static int load_cases(void) {
  lua_pushcfunction(L, traceback);
  if (luaL_loadfile(L, CASES_FILE) || lua_pcall(L, 0, 1, 1)) {
    fprintf(stderr, "loading %s failed: %s\n", CASES_FILE, lua_tostring(L, -1));
    lua_settop(L, 0);
    return -1;
  }
  int n = (int)lua_objlen(L, -1);
  cases_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_settop(L, 0);
  return n;
}

static int ncases;

static void test_every_lua_case_ran(void **state) {
  assert_true(ncases > 40);
  assert_int_equal(lua_cases_run, ncases);
}

int main(void) {
  static const struct CMUnitTest c_tests[] = {
    cmocka_unit_test(test_preload_registers_module),
    cmocka_unit_test(test_sha256_vectors),
    cmocka_unit_test(test_hmac_sha256_rfc4231),
    cmocka_unit_test(test_pbkdf2_sha256_vectors),
    cmocka_unit_test(test_b64url_encode),
    cmocka_unit_test(test_b64url_round_trip_all_lengths),
    cmocka_unit_test(test_b64url_decode_accepts_and_rejects),
    cmocka_unit_test(test_ct_equals),
  };
  size_t nc = sizeof c_tests / sizeof c_tests[0];
  L = new_state();
  ncases = load_cases();
  if (ncases < 0) { lua_close(L); return 1; }

  /* The Lua cases are known only at run time, so the test table is built here. */
  size_t total = nc + (size_t)ncases + 1;
  struct CMUnitTest *tests = calloc(total, sizeof *tests);
  char **names = calloc((size_t)ncases, sizeof *names);
  if (!tests || !names) return 1;
  memcpy(tests, c_tests, sizeof c_tests);
  for (int i = 1; i <= ncases; i++) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, cases_ref);
    lua_rawgeti(L, -1, i);
    lua_getfield(L, -1, "name");
    names[i - 1] = strdup(lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    lua_settop(L, 0);
    tests[nc + (size_t)i - 1] = (struct CMUnitTest){
      .name = names[i - 1], .test_func = run_lua_case, .initial_state = (void *)(intptr_t)i,
    };
  }
  tests[total - 1] = (struct CMUnitTest){ .name = "test_every_lua_case_ran", .test_func = test_every_lua_case_ran };

  int failed = _cmocka_run_group_tests("crypto", tests, total, NULL, NULL);

  for (int i = 0; i < ncases; i++) free(names[i]);
  free(names);
  free(tests);
  luaL_unref(L, LUA_REGISTRYINDEX, cases_ref);
  lua_close(L);
  return failed;
}
