/* test_json.c: unit tests of the JSON encoder and decoder (arrays, empty arrays, objects, escapes, numbers, errors). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>
#include "host_state.h"
#include "json_number.h"
#include "lj_view.h"
static lua_State *L;

static int setup(void **s) {
  L = pk__lua_state_new();   /* pikku.json_c and cjson.safe in package.preload, as in a worker */
  assert_int_equal(luaL_dostring(L, "package.path = '" PIKKU_LUA_DIR "/?.lua;' .. package.path; json = require 'pikku.json'"), 0);
  return 0;
}
static int teardown(void **s) { lua_close(L); return 0; }

/* Runs `return <expr>` and compares the string result. */
static void check(const char *expr, const char *want) {
  char code[1024];
  snprintf(code, sizeof code, "return %s", expr);
  if (luaL_dostring(L, code)) fail_msg("%s: %s", expr, lua_tostring(L, -1));
  if (want == NULL) {                  /* a boolean expression that must be true */
    if (!lua_toboolean(L, -1)) fail_msg("%s: false", expr);
    lua_settop(L, 0);
    return;
  }
  const char *got = lua_tostring(L, -1);
  if (!got || strcmp(got, want)) fail_msg("%s: got %s, want %s", expr, got ? got : "nil", want);
  lua_settop(L, 0);
}

static void test_scalars(void **s) {
  check("json.encode(1)", "1");
  check("json.encode(1.5)", "1.5");
  check("json.encode(12345678901)", "12345678901");
  check("json.encode(-0.25)", "-0.25");
  check("json.encode(true)", "true");
  check("json.encode(json.null)", "null");
  check("json.encode('a\"b\\n/')", "\"a\\\"b\\n/\"");
  check("json.encode(-42)", "-42");
  check("json.encode(1e300)", "1e+300");
  check("json.encode(-1e15)", "-1000000000000000");
  check("json.encode(9007199254740991)", "9007199254740991");
  check("json.encode(2^53)", "9007199254740992");
  check("json.encode(0.1)", "0.1");
  check("json.encode(1/3)", "0.3333333333333333");       /* numbers read back as the same double */
  check("json.decode(json.encode(3.3333333333333333e27)) == 3.3333333333333333e27", NULL);
  /* decimals written without printf (m / 10^k exactly): the same text %.15g gives */
  check("json.encode(87.5)", "87.5");
  check("json.encode(-2.25)", "-2.25");
  check("json.encode(0.0001)", "0.0001");
  check("json.encode(0.00012)", "0.00012");
  check("json.encode(9.999e-05)", "9.999e-05");
  check("json.encode(1e-5)", "1e-05");
  check("json.encode(100.01)", "100.01");
  check("json.encode(123456789012345.6)", "123456789012345.6");
  check("json.encode(999999999999999.9)", "999999999999999.9");
  check("json.encode(0.1 + 0.2)", "0.30000000000000004");
}

/* pk__json_number (json_number.c): the double strtod gives, for numbers on its fast path (mantissa
 * below 2^53, exponent within +-22) and off it. */
static void test_number_text(void **s) {
  static const char *const texts[] = {
    "0", "-0", "1", "87.5", "0.1", "0.30000000000000004", "123456789012345678", "9007199254740993",
    "1e22", "1e23", "1.7976931348623157e308", "2.2250738585072011e-308", "4.9e-324", "1e-400",
    "0.000000000000000000001", "123.456e-7", "-9.99E+21", "1234567890123456789012345678901234567890",
    "0.1000000000000000055511151231257827", "3.14159265358979323846264338327950288", "5e-22", "12e21",
  };
  for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
    const unsigned char *p = (const unsigned char *)texts[i], *end = p + strlen(texts[i]);
    double v = -1;
    assert_int_equal(pk__json_number(&p, end, &v), PK__JNUM_OK);
    assert_ptr_equal(p, end);
    double want = strtod(texts[i], NULL);
    if (memcmp(&v, &want, sizeof v)) fail_msg("%s: got %.17g, want %.17g", texts[i], v, want);
  }
  /* random decimals against strtod */
  unsigned long long x = 88172645463325252ull;
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    char t[64];
    int n = snprintf(t, sizeof t, "%s%llu.%llue%d", (x & 1) ? "-" : "", (x >> 8) % 100000000000ull,
                     (x >> 20) % 1000000ull, (int)((x >> 40) % 60) - 30);
    const unsigned char *p = (const unsigned char *)t, *end = p + n;
    double v = -1, want = strtod(t, NULL);
    assert_int_equal(pk__json_number(&p, end, &v), PK__JNUM_OK);
    if (memcmp(&v, &want, sizeof v)) fail_msg("%s: got %.17g, want %.17g", t, v, want);
  }
  /* what is not a number, and where it stops */
  const unsigned char *p = (const unsigned char *)"1.e5", *end = p + 4;
  double v;
  assert_int_equal(pk__json_number(&p, end, &v), PK__JNUM_BAD_FRAC);
  p = (const unsigned char *)"1e+", end = p + 3;
  assert_int_equal(pk__json_number(&p, end, &v), PK__JNUM_BAD_EXP);
  p = (const unsigned char *)"-x", end = p + 2;
  assert_int_equal(pk__json_number(&p, end, &v), PK__JNUM_BAD);
  p = (const unsigned char *)"1e400", end = p + 5;
  assert_int_equal(pk__json_number(&p, end, &v), PK__JNUM_RANGE);
  p = (const unsigned char *)"12,", end = p + 3;
  assert_int_equal(pk__json_number(&p, end, &v), PK__JNUM_OK);
  assert_int_equal(*p, ',');
}

/* Every control byte is escaped (short forms where JSON has them), in long strings too, where the
 * output buffer must grow in the middle of a string. */
static void test_string_escapes(void **s) {
  check("json.encode('\\8\\12\\t\\r\\0\\1\\31\\127\\\\')", "\"\\b\\f\\t\\r\\u0000\\u0001\\u001f\177\\\\\"");
  check("json.encode(('\\1'):rep(1000)) == '\"' .. ('\\\\u0001'):rep(1000) .. '\"'", NULL);
  check("json.encode({s = ('a\"'):rep(5000)}) == '{\"s\":\"' .. ('a\\\\\"'):rep(5000) .. '\"}'", NULL);
  check("json.encode(('\\0'):rep(70000)):len()", "420002");
}

static void test_arrays_and_objects(void **s) {
  check("json.encode({1, 2, 3})", "[1,2,3]");
  check("json.encode(json.array())", "[]");
  check("json.encode({})", "{}");
  check("json.encode({a = json.array({})})", "{\"a\":[]}");
  check("json.encode({a = {b = {1}}})", "{\"a\":{\"b\":[1]}}");
  check("json.encode(json.array({{x = 1}}))", "[{\"x\":1}]");
  check("json.encode({[2] = 'b'})", "{\"2\":\"b\"}");
}

static void test_decode(void **s) {
  check("json.encode(json.decode(' {\"a\" : [1, 2.5, -3e2, true, false, null, \"x\"]} '))",
        "{\"a\":[1,2.5,-300,true,false,null,\"x\"]}");
  check("json.encode(json.decode('{\"tags\":[],\"o\":{}}').tags)", "[]");     /* [] stays [] */
  check("json.decode('{\"o\":{}}').o ~= nil and getmetatable(json.decode('[]')) == json.array_mt", NULL);
  check("getmetatable(json.decode(' { } ')) == json.object_mt and getmetatable(json.decode('{\"a\":1}')) == nil", NULL);
  check("json.encode(json.decode('{\"a\":{},\"b\":[]}').a)", "{}");
  check("json.decode('\"\\\\u00e9\\\\ud83d\\\\ude00\\\\n\\\\/\"')", "\xc3\xa9\xf0\x9f\x98\x80\n/");
  check("json.decode('12345678901234567890') == 12345678901234567890", NULL);
  check("select(2, json.decode('{\"a\":1,}'))", "expected a string key at byte 8");
  check("select(2, json.decode('[1 2]'))", "expected ',' or ']' at byte 4");
  check("select(2, json.decode('01'))", "unexpected data after the JSON value at byte 2");
  check("select(2, json.decode('1.'))", "bad number (a digit must follow '.') at the end of the input");
  check("select(2, json.decode('\"a\\tb\"'))", "control character in a string (escape it) at byte 3");
  check("select(2, json.decode('\"\\\\ud800\"'))", "lone UTF-16 surrogate in a \\u escape at byte 8");
  check("select(2, json.decode('\"abc'))", "unterminated string at the end of the input");
  /* RFC 8259 8.1: the text is UTF-8; well-formed multibyte strings pass (with and without escapes) */
  check("json.decode('\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"')", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  check("json.decode('\"\\\\n\xc3\xa9\"')", "\n\xc3\xa9");
  check("select(2, json.decode('\"ab\xff\"'))", "invalid UTF-8 in a string at byte 4");
  check("select(2, json.decode('[\"\xc3\"]'))", "invalid UTF-8 in a string at byte 3");          /* cut off */
  check("select(2, json.decode('\"\xc0\xaf\"'))", "invalid UTF-8 in a string at byte 2");       /* overlong */
  check("select(2, json.decode('\"\xed\xa0\x80\"'))", "invalid UTF-8 in a string at byte 2");  /* surrogate */
  check("select(2, json.decode('\"\xf4\x90\x80\x80\"'))", "invalid UTF-8 in a string at byte 2"); /* > U+10FFFF */
  check("select(2, json.decode('\"\\\\t\x80\"'))", "invalid UTF-8 in a string at byte 4");  /* after an escape */
  check("select(2, json.decode('nul'))", "unexpected character at byte 1");
  check("select(2, json.decode('1e999'))", "number out of range at byte 1");
  check("select(2, json.decode(''))", "expected a value at the end of the input");
  check("select(2, json.decode(('['):rep(1001)))", "nested too deeply at byte 1001");
  check("select(2, json.decode(42))", "JSON to decode must be a string");
}

static void test_errors(void **s) {
  check("select(2, json.encode(function() end))", "cannot encode a value of this type as JSON");
  check("select(2, json.encode(0/0))", "cannot encode NaN or infinity as JSON");
  check("(function() local t = {} t.self = t return select(2, json.encode(t)) end)()",
        "table nested more than 2000 levels deep (or a cycle) for JSON");
  /* what the decoder reads (up to 1000 levels) can be written back, even wrapped 1000 levels more */
  check("#json.encode({ { json.decode(('['):rep(1000) .. (']'):rep(1000)) } })", NULL);
  check("(function() local t = json.decode(('['):rep(1000) .. (']'):rep(1000)) for _ = 1, 1000 do t = { t } end"
        " return #json.encode(t) end)()", "4000");
  check("(function() local t = json.decode(('['):rep(1000) .. (']'):rep(1000)) for _ = 1, 1001 do t = { t } end"
        " return select(2, json.encode(t)) end)()", "table nested more than 2000 levels deep (or a cycle) for JSON");
  check("#json.encode(json.decode(('['):rep(1000) .. (']'):rep(1000)))", NULL);
  check("json.encode(json.decode(('['):rep(1000) .. (']'):rep(1000))) == ('['):rep(1000) .. (']'):rep(1000)", NULL);
}

/* JSON text is UTF-8: well-formed sequences pass as they are, each malformed byte is U+FFFD
 * (as Go's encoding/json does), so a response never carries invalid UTF-8. */
static void test_encode_utf8(void **s) {
  check("json.encode('\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80')", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  check("json.encode('a\xff" "b')", "\"a\xef\xbf\xbd" "b\"");
  check("json.encode('\xc3')", "\"\xef\xbf\xbd\"");                                  /* cut off */
  check("json.encode('\xc0\xaf')", "\"\xef\xbf\xbd\xef\xbf\xbd\"");                  /* overlong */
  check("json.encode('\xed\xa0\x80x')", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx\"");  /* surrogate */
  check("json.encode({['k\xff'] = '\\n\xe9'})", "{\"k\xef\xbf\xbd\":\"\\n\xef\xbf\xbd\"}");
}

/* encode reads tables through lj_view.h (json_encode_view.c) and falls back to the public API at
 * anything that way does not take: both must write the same bytes and give the same errors, for
 * every shape of table (holes, slot 0, keys in the hash part, markers, removed keys, cycles). */
static const char view_vs_public[] =
  "local jc = require 'pikku.json_c'\n"
  "math.randomseed(18)\n"
  "local rnd = math.random\n"
  "local keys = { 'a', 'b', 'name', 'k\\255', '\\195\\169', 'x y', '\"q\"', ('long'):rep(9), '', 'tags' }\n"
  "local odd = { 0/0, 1/0, -1/0, -0.0, 1e300, 2^53, 2^53 + 2, 0.1, 87.5, -3, 1e-7 }\n"
  "local gen\n"
  "local function fill(t, d) for i = 1, rnd(0, 5) do t[i] = gen(d + 1) end return t end\n"
  "local shapes = {\n"
  "  function() return rnd(-1000, 1000) end,\n"
  "  function() return rnd() * 1e6 - 5e5 end,\n"
  "  function() return keys[rnd(#keys)] end,\n"
  "  function() return rnd(2) == 1 end,\n"
  "  function() return odd[rnd(#odd)] end,\n"
  "  function() return json.null end,\n"
  "  function(d) return fill({}, d) end,\n"
  "  function(d) local t = {} for _ = 1, rnd(0, 6) do t[keys[rnd(#keys)]] = gen(d + 1) end return t end,\n"
  "  function(d) return setmetatable(fill({}, d), jc.array_mt) end,\n"
  "  function(d) return { gen(d + 1), nil, gen(d + 1) } end,\n"
  "  function(d) return { gen(d + 1), gen(d + 1), a = gen(d + 1) } end,\n"
  "  function(d) local t = fill({}, d) t[0] = gen(d + 1) return t end,\n"
  "  function(d) local t = {} t[3] = gen(d + 1) t[1] = gen(d + 1) t[2] = gen(d + 1) return t end,\n"
  "  function(d) local t = fill({}, d) t[#t + 2] = 1 return t end,\n"
  "  function() return { [1.5] = 1 } end,\n"
  "  function() return { f = print } end,\n"
  "  function(d) local t = { a = 1, b = gen(d + 1), c = 3 } t.a = nil return t end,\n"
  "  function(d) local t = fill({}, d) t[#t] = nil return t end,\n"
  "  function() return setmetatable({}, jc.object_mt) end,\n"
  "  function(d) return setmetatable({ a = gen(d + 1) }, jc.array_mt) end,\n"
  "  function() local t = {} t.self = t return t end,\n"
  "  function(d) local t = { gen(d + 1) } t.x = 1 t.x = nil return t end,\n"
  "}\n"
  "gen = function(d) if d > 4 then return shapes[rnd(6)](d) end return shapes[rnd(#shapes)](d) end\n"
  "local n, viewed = 0, 0\n"
  "for i = 1, 20000 do\n"
  "  local v = gen(0)\n"
  "  local a, ea = jc.encode(v)\n"
  "  local b, eb = jc._encode_public(v)\n"
  "  local c = jc._encode_view(v)\n"
  "  if a ~= b or ea ~= eb or (c and c ~= b) then\n"
  "    return -1, i .. ': ' .. tostring(a) .. ' / ' .. tostring(ea) .. ' against ' .. tostring(b) .. ' / ' .. tostring(eb) .. ', the views ' .. tostring(c)\n"
  "  end\n"
  "  if a then n = n + 1 end\n"
  "  if c then viewed = viewed + 1 end\n"
  "end\n"
  "return n, viewed\n";

static void test_view_same_as_public(void **s) {
  if (luaL_dostring(L, view_vs_public)) fail_msg("%s", lua_tostring(L, -1));
  if (lua_tonumber(L, -2) < 0) fail_msg("encode differs from the public way at value %s", lua_tostring(L, -1));
  int encoded = (int)lua_tonumber(L, -2), viewed = (int)lua_tonumber(L, -1);
  if (encoded < 5000) fail_msg("only %d values encoded: the generator is off", encoded);
  /* on the LuaJIT this project builds against (Debian 12's), the views take the common shapes */
  if (PK_LJV_BUILT && viewed < 2000) fail_msg("the views wrote only %d of %d values", viewed, encoded);
  lua_settop(L, 0);
  if (!PK_LJV_BUILT) return;
  check("(function() local jc = require 'pikku.json_c' local v = { name = 'x', tags = json.array({ 'a', 'b' }), n = 1.5, ok = true, o = {} }"
        " return jc._encode_view(v) == jc._encode_public(v) end)()", NULL);
  check("(require 'pikku.json_c')._encode_view(json.decode('{\"tags\":[\"a\",\"b\"],\"e\":[],\"n\":-2.25}'))", NULL);
  /* what it leaves to the public way */
  check("(function() local jc = require 'pikku.json_c' return not jc._encode_view({ [0] = 1 }) and not jc._encode_view({ 1, nil, 3 })"
        " and not jc._encode_view({ 1, a = 2 }) and not jc._encode_view({ x = 0/0 }) and not jc._encode_view({ json.null })"
        " and not jc._encode_view({ f = print }) end)()", NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_scalars, setup, teardown),
    cmocka_unit_test_setup_teardown(test_arrays_and_objects, setup, teardown),
    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
    cmocka_unit_test_setup_teardown(test_encode_utf8, setup, teardown),
    cmocka_unit_test_setup_teardown(test_string_escapes, setup, teardown),
    cmocka_unit_test_setup_teardown(test_decode, setup, teardown),
    cmocka_unit_test(test_number_text),
    cmocka_unit_test_setup_teardown(test_view_same_as_public, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
