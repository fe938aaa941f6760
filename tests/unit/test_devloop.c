/* test_devloop.c: unit tests of the developer loop's and the guards' C parts: the error page's file:line, the shared reload status, the memory ceiling, a native function's result builder and readers, the bytecode cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "call_guard.h"
#include "dev_page.h"
#include "host_state.h"
#include "lua_cache.h"
#include "mem_limit.h"
#include "native_func.h"
#include "reload_status.h"

/* ---- the error page's place ------------------------------------------------------------------ */

static void test_where(void **s) {
  char file[256];
  int line;
  assert_int_equal(pk__dev_page_where("/a/greetings.lua:14: '<eof>' expected (module 'g', required at /a/app.lua:3)",
                                      file, sizeof file, &line), 0);
  assert_string_equal(file, "/a/greetings.lua");
  assert_int_equal(line, 14);
  /* a compiler's "file:line:column: error" */
  assert_int_equal(pk__dev_page_where("/x/native/t.c: In function 'f':\n/x/native/t.c:9:12: error: nope", file,
                                      sizeof file, &line), 0);
  assert_string_equal(file, "/x/native/t.c");
  assert_int_equal(line, 9);
  assert_int_equal(pk__dev_page_where("no place at all: 12 things", file, sizeof file, &line), -1);
  assert_string_equal(file, "");
  assert_int_equal(line, 0);
}

/* ---- the shared reload status ---------------------------------------------------------------- */

static void test_reload_status(void **s) {
  assert_int_equal(pk__reload_status_init(2), 0);
  int loaded, failed;
  char err[PK__RELOAD_ERROR_MAX];
  pk__reload_status_report(1, 3, NULL);
  pk__reload_status_report(2, 4, "app.lua:2: boom");
  assert_int_equal(pk__reload_status_read(1, &loaded, &failed, err, sizeof err), 0);
  assert_int_equal(loaded, 3);
  assert_int_equal(failed, 0);
  assert_int_equal(pk__reload_status_read(2, &loaded, &failed, err, sizeof err), 0);
  assert_int_equal(failed, 4);
  assert_string_equal(err, "app.lua:2: boom");
  assert_int_equal(pk__reload_status_read(3, &loaded, &failed, NULL, 0), -ENOENT);
  pk__reload_status_report(9, 1, NULL);   /* out of range: ignored */
  unsigned before = pk__reload_status_error_seq();
  pk__reload_status_set_error("x.lua:1: bad");
  assert_int_equal(pk__reload_status_error_seq(), before + 1);
  assert_int_equal(pk__reload_status_error(err, sizeof err), before + 1);
  assert_string_equal(err, "x.lua:1: bad");
  char big[PK__RELOAD_ERROR_MAX * 2];
  memset(big, 'e', sizeof big - 1);
  big[sizeof big - 1] = 0;
  pk__reload_status_set_error(big);   /* cut to the page's size */
  pk__reload_status_error(err, sizeof err);
  assert_int_equal(strlen(err), PK__RELOAD_ERROR_MAX - 1);
}

/* ---- the memory ceiling ---------------------------------------------------------------------- */

static void test_memory_ceiling(void **s) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  pk__mem *m = pk__mem_attach(L, 32u << 20);
  assert_non_null(m);
  assert_ptr_equal(pk__mem_of(L), m);
  assert_true(m->used > 0);
  const char *grow = "local t = {} for i = 1, 1e8 do t[i] = ('x'):rep(64) .. i end";
  /* outside a call: the headroom (an eighth, 16 MiB at least) is allowed on top */
  pk__call->running = 0;
  assert_int_not_equal(luaL_dostring(L, grow), 0);
  assert_string_equal(lua_tostring(L, -1), "not enough memory");
  assert_true(m->peak > (32u << 20));
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  /* in a call: the ceiling itself; once refused, the rest of that call gets the headroom */
  pk__call->serial++;
  pk__call->running = 1;
  unsigned long refused = m->refused;
  m->peak = 0;
  assert_int_not_equal(luaL_dostring(L, grow), 0);
  assert_true(m->refused > refused);
  assert_true(m->peak <= (32u << 20) + (16u << 20));
  assert_int_equal(luaL_dostring(L, "local s = ('y'):rep(1024 * 1024) return #s"), 0);   /* the headroom */
  pk__call->running = 0;
  lua_settop(L, 0);
  lua_gc(L, LUA_GCCOLLECT, 0);
  assert_true(m->used < (8u << 20));   /* it was all garbage */
  pk__mem_close(L);   /* LuaJIT's own allocator put back, its arena freed (LeakSanitizer checks) */
}

/* ---- a native function's call ----------------------------------------------------------------- */

static lua_State *NL;

/* The helpers native.lua gives pk_call, built here from pikku.json. */
static int native_setup(void **s) {
  NL = pk__lua_state_new();
  assert_int_equal(luaL_dostring(NL,
    "package.path = '" PIKKU_LUA_DIR "/?.lua;' .. package.path\n"
    "local json = require 'pikku.json'\n"
    "ctx = { encode = json.encode, decode = json.decode, null = json.null, array_mt = json.array_mt,\n"
    "        object_mt = json.object_mt, log = function(level, msg) logged = level .. ':' .. msg end,\n"
    "        publish = function(topic, text) published = topic .. '=' .. text return 3 end,\n"
    "        error = function(name, msg, payload) return name .. '|' .. tostring(msg) .. '|' .. tostring(payload) end }\n"
    "encode = json.encode\n"
    "input = json.decode('{\"s\":\"abc\",\"n\":2.5,\"b\":true,\"z\":null,\"rows\":[{\"id\":7},{\"id\":8}],\"a/b\":1,\"m\":{\"k\":1}}')\n"
    "session = { user = 'ann' }"), 0);
  return 0;
}
static int native_teardown(void **s) { lua_close(NL); return 0; }

static int (*current)(pk_call *);
static char ctype_seen[128];

static int tramp(lua_State *L) { return pk__native_call(L, current, 1, 2, 3); }

/* Runs fn as a native function; returns its result encoded as JSON, or (raised = 1) the error. */
static const char *run(int (*fn)(pk_call *), int *raised) {
  static char out[2048];
  lua_State *L = NL;
  lua_settop(L, 0);
  current = fn;
  lua_pushcfunction(L, tramp);
  lua_getglobal(L, "input");
  lua_getglobal(L, "session");
  lua_getglobal(L, "ctx");
  ctype_seen[0] = 0;
  if (lua_pcall(L, 3, 2, 0)) {
    *raised = 1;
    snprintf(out, sizeof out, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    lua_settop(L, 0);
    return out;
  }
  *raised = 0;
  if (lua_isstring(L, -1)) snprintf(ctype_seen, sizeof ctype_seen, "%s", lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_getglobal(L, "encode");
  lua_insert(L, -2);
  lua_call(L, 1, 1);
  snprintf(out, sizeof out, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "(nil)");
  lua_settop(L, 0);
  return out;
}

static int f_read(pk_call *c) {
  size_t n;
  assert_string_equal(pk_string(c, PK_INPUT, "/s", &n), "abc");
  assert_int_equal(n, 3);
  assert_null(pk_string(c, PK_INPUT, "/n", NULL));
  assert_true(pk_number(c, PK_INPUT, "/n", 0) == 2.5);
  assert_true(pk_number(c, PK_INPUT, "/missing", -1) == -1);
  assert_int_equal(pk_boolean(c, PK_INPUT, "/b", 0), 1);
  assert_int_equal(pk_type(c, PK_INPUT, "/z"), PK_NULL);
  assert_int_equal(pk_type(c, PK_INPUT, "/rows"), PK_ARRAY);
  assert_int_equal(pk_type(c, PK_INPUT, "/m"), PK_OBJECT);
  assert_int_equal(pk_type(c, PK_INPUT, ""), PK_OBJECT);
  assert_int_equal(pk_type(c, PK_INPUT, "/nope"), PK_NONE);
  assert_int_equal(pk_count(c, PK_INPUT, "/rows"), 2);
  assert_int_equal(pk_count(c, PK_INPUT, "/m"), 1);
  assert_true(pk_number(c, PK_INPUT, "/rows/1/id", 0) == 8);
  assert_int_equal(pk_type(c, PK_INPUT, "/rows/2/id"), PK_NONE);
  assert_true(pk_number(c, PK_INPUT, "/a~1b", 0) == 1);   /* "~1" is "/" in a key */
  assert_string_equal(pk_key(c, PK_INPUT, "/m", 0, &n), "k");
  assert_null(pk_key(c, PK_INPUT, "/m", 1, NULL));
  assert_string_equal(pk_json(c, PK_INPUT, "/rows/0", &n), "{\"id\":7}");
  assert_string_equal(pk_string(c, PK_SESSION, "/user", NULL), "ann");
  return PK_OK;
}

static int f_build(pk_call *c) {
  pk_out_object(c);
  pk_out_key(c, "a", 1);
  pk_out_array(c);
  pk_out_integer(c, 1);
  pk_out_string(c, "two", 3);
  pk_out_null(c);
  pk_out_object(c);
  pk_out_end(c);
  pk_out_array(c);
  pk_out_end(c);
  pk_out_end(c);
  pk_out_key(c, "b", 1);
  pk_out_json(c, "{\"x\":[true]}", 12);
  pk_out_key(c, "c", 1);
  pk_out_boolean(c, 0);
  pk_out_end(c);
  return PK_OK;
}

static int f_misuse(pk_call *c) {
  pk_out_object(c);
  assert_int_equal(pk_out_number(c, 1), -EINVAL);   /* a value without its key */
  pk_out_end(c);
  return PK_OK;
}
static int f_unclosed(pk_call *c) { pk_out_array(c); return PK_OK; }
static int f_error(pk_call *c) { return pk_error(c, "NotFound", "no such row", "{\"id\":3}"); }
static int f_bad_rc(pk_call *c) { (void)c; return 7; }
static int f_nothing(pk_call *c) { (void)c; return PK_OK; }
static int f_bytes(pk_call *c) { return pk_out_bytes(c, "a,b\n1,2\n", 8, "text/csv"); }
static int f_log_publish(pk_call *c) {
  pk_call_log(c, "warn", "careful");
  assert_int_equal(pk_publish(c, "t", "{\"v\":1}", 7), 3);
  assert_true(pk_time_left_ms(c) > 1e9);   /* no call running here: no limit */
  pk_out_number(c, 1);
  return PK_OK;
}

static void test_native_read(void **s) {
  int raised;
  const char *r = run(f_read, &raised);
  assert_int_equal(raised, 0);
  assert_string_equal(r, "null");   /* no result */
}

static void test_native_build(void **s) {
  int raised;
  const char *built = run(f_build, &raised);
  assert_int_equal(raised, 0);
  char check[1024];   /* key order is the table's: compare as values */
  snprintf(check, sizeof check, "local json = require 'pikku.json' return json.equal(json.decode('%s'),"
           " json.decode('{\"a\":[1,\"two\",null,{},[]],\"b\":{\"x\":[true]},\"c\":false}'))", built);
  assert_int_equal(luaL_dostring(NL, check), 0);
  assert_true(lua_toboolean(NL, -1));
  lua_settop(NL, 0);
  assert_non_null(strstr(built, "[1,\"two\",null,{},[]]"));   /* {} and [] stay apart */
  const char *e = run(f_misuse, &raised);
  assert_int_equal(raised, 1);
  assert_string_equal(e, "InternalServerError|the native function built its result wrongly: a value inside an object"
                         " without pk_out_key before it|nil");
  e = run(f_unclosed, &raised);
  assert_true(raised && strstr(e, "was not closed"));
  assert_string_equal(run(f_error, &raised), "NotFound|no such row|{\"id\":3}");
  assert_int_equal(raised, 1);
  e = run(f_bad_rc, &raised);
  assert_true(raised && strstr(e, "returned 7 without pk_error"));
  assert_string_equal(run(f_nothing, &raised), "null");
  assert_string_equal(run(f_bytes, &raised), "\"a,b\\n1,2\\n\"");
  assert_string_equal(ctype_seen, "text/csv");
  assert_string_equal(run(f_log_publish, &raised), "1");
  assert_int_equal(luaL_dostring(NL, "return logged .. ' ' .. published"), 0);
  assert_string_equal(lua_tostring(NL, -1), "warn:careful t={\"v\":1}");
  lua_settop(NL, 0);
}

/* ---- the bytecode cache ---------------------------------------------------------------------- */

static void test_lua_cache(void **s) {
  char dir[] = "/tmp/pikku-cache-XXXXXX", app[] = "/tmp/pikku-cacheapp-XXXXXX";
  assert_non_null(mkdtemp(dir));
  assert_non_null(mkdtemp(app));
  char sub[300], path[300];
  snprintf(sub, sizeof sub, "%s/pikku", dir);
  mkdir(sub, 0755);
  snprintf(path, sizeof path, "%s/pikku/x.lua", dir);
  FILE *f = fopen(path, "w");
  fputs("return { v = 1 }\n", f);
  fclose(f);
  for (int round = 0; round < 3; round++) {
    if (round == 2) {   /* a changed file (its size changes) is read again */
      f = fopen(path, "w");
      fputs("return { v = 22 }\n", f);
      fclose(f);
    }
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    pk__lua_cache_install(L, app, dir);
    assert_int_equal(luaL_dostring(L, "return require('pikku.x').v"), 0);
    assert_int_equal(lua_tointeger(L, -1), round == 2 ? 22 : 1);
    lua_close(L);
  }
  /* a module the app folder holds itself is the app's */
  snprintf(sub, sizeof sub, "%s/pikku", app);
  mkdir(sub, 0755);
  char own[300];
  snprintf(own, sizeof own, "%s/pikku/x.lua", app);
  f = fopen(own, "w");
  fputs("return { v = 3 }\n", f);
  fclose(f);
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  lua_getglobal(L, "package");
  lua_pushfstring(L, "%s/?.lua;%s/?.lua", app, dir);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  pk__lua_cache_install(L, app, dir);
  assert_int_equal(luaL_dostring(L, "return require('pikku.x').v"), 0);
  assert_int_equal(lua_tointeger(L, -1), 3);
  /* a syntax error names the file */
  f = fopen(path, "w");
  fputs("return { = }\n", f);
  fclose(f);
  lua_close(L);
  L = luaL_newstate();
  luaL_openlibs(L);
  pk__lua_cache_install(L, app, dir);
  unlink(own);
  assert_int_not_equal(luaL_dostring(L, "return require('pikku.x')"), 0);
  assert_non_null(strstr(lua_tostring(L, -1), "pikku/x.lua:1:"));
  lua_close(L);
  unlink(path);
  rmdir(sub);
  snprintf(sub, sizeof sub, "%s/pikku", dir);
  rmdir(sub);
  rmdir(dir);
  rmdir(app);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_where),
    cmocka_unit_test(test_reload_status),
    cmocka_unit_test(test_memory_ceiling),
    cmocka_unit_test_setup_teardown(test_native_read, native_setup, native_teardown),
    cmocka_unit_test_setup_teardown(test_native_build, native_setup, native_teardown),
    cmocka_unit_test(test_lua_cache),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
