/* lj_view.h: read-only views of LuaJIT 2.1 (GC64) tables and strings, for hot loops that would
 * otherwise make several C API calls per table key; usable only where pk__ljv_usable says so. */
#ifndef PK_LJ_VIEW_H
#define PK_LJ_VIEW_H
#include <lua.h>
#include <stdint.h>

/*
 * Why: walking a table through the public API costs lua_next (which finds the previous key again
 * by hashing it), lua_type and lua_tolstring for the key and for the value, and lua_settop: about
 * 250 instructions per key before a byte is written. Reading the table's slots costs a few.
 *
 * What is read, as LuaJIT 2.1 lays it out in GC64 mode (the only mode on x86-64 and arm64; the
 * layout of lj_obj.h, unchanged since 2017 in both LuaJIT and OpenResty's branch):
 *   a value (TValue) is 8 bytes: a double, or a tag in its top 17 bits over a 47-bit pointer;
 *   a table (GCtab) has its array part (asize slots, keys 0..asize-1), its metatable and its hash
 *   part (hmask + 1 nodes of value, key, chain) at fixed offsets;
 *   a string (GCstr) has its length at byte 20 and its bytes right after its 24-byte header.
 * Only reads, never writes, and only while no Lua code runs and nothing is allocated (the
 * collector cannot move or free anything then: LuaJIT's collector does not move objects).
 *
 * Safety: pk__ljv_usable checks the layout once per process against the public API (a probe table
 * made with lua_createtable, read both ways, with every pointer compared before it is followed);
 * if anything differs, or this is not a 64-bit build against LuaJIT 2.1, it says no and callers
 * use the public API. PIKKU_LJ_VIEW=0 in the environment turns the views off.
 */

#include <luajit.h>

#if LUAJIT_VERSION_NUM == 20100 && UINTPTR_MAX == 0xffffffffffffffffu && \
    (defined(__x86_64__) || defined(__aarch64__)) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define PK_LJV_BUILT 1
#else
#define PK_LJV_BUILT 0
#endif

typedef uint64_t pk__ljv_tv;   /* a TValue */

typedef struct {
  uint64_t nextgc;
  uint8_t marked, gct, nomm;
  int8_t colo;
  uint32_t pad;
  uint64_t array;       /* pk__ljv_tv[asize] */
  uint64_t gclist;
  uint64_t metatable;   /* a GCtab, or 0 */
  uint64_t node;        /* pk__ljv_node[hmask + 1] */
  uint32_t asize, hmask;
  uint64_t freetop;
} pk__ljv_tab;

typedef struct { pk__ljv_tv val, key; uint64_t next; } pk__ljv_node;

typedef struct {
  uint64_t nextgc;
  uint8_t marked, gct, reserved, hashalg;
  uint32_t sid, hash, len;
} pk__ljv_str;

/* Type tags (a value's top 17 bits, sign-extended, as a 32-bit number); below NUM: a double. */
#define PK_LJV_NIL 0xffffffffu
#define PK_LJV_FALSE 0xfffffffeu
#define PK_LJV_TRUE 0xfffffffdu
#define PK_LJV_STR 0xfffffffbu
#define PK_LJV_TAB 0xfffffff4u
#define PK_LJV_NUM 0xfffffff2u
#define PK_LJV_GCT_TAB 11   /* the gct byte (the type tag, inverted) of a table */
#define PK_LJV_GCT_STR 4     /* and of a string */

static inline uint32_t pk__ljv_type(pk__ljv_tv v) { return (uint32_t)((int64_t)v >> 47); }
static inline void *pk__ljv_ptr(pk__ljv_tv v) { return (void *)(uintptr_t)(v & (((uint64_t)1 << 47) - 1)); }
static inline const pk__ljv_tv *pk__ljv_array(const pk__ljv_tab *t) { return (const pk__ljv_tv *)(uintptr_t)t->array; }
static inline const pk__ljv_node *pk__ljv_nodes(const pk__ljv_tab *t) { return (const pk__ljv_node *)(uintptr_t)t->node; }
static inline const char *pk__ljv_strdata(const pk__ljv_str *s) { return (const char *)(s + 1); }
static inline double pk__ljv_num(pk__ljv_tv v) { union { uint64_t u; double d; } x = {v}; return x.d; }

/* 1 when the views match this process's LuaJIT (checked on the first call, with L; then cached). */
int pk__ljv_usable(lua_State *L);
#endif
