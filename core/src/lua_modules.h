/* lua_modules.h: the C modules Lua sees, one luaopen_* each; host_state.c's table registers them. */
#ifndef PK_LUA_MODULES_H
#define PK_LUA_MODULES_H
#include <lauxlib.h>
#include <lua.h>

int luaopen_pikku_core(lua_State *L);       /* pikku.core (lua_core.c): the worker, for the runtime */
int luaopen_pikku_work_c(lua_State *L);     /* pikku.work_c (lua_work.c): thread-pool work */
int luaopen_pikku_json_c(lua_State *L);     /* pikku.json_c (lua_json.c): JSON encode / decode */
int luaopen_pikku_respond_c(lua_State *L);  /* pikku.respond_c (lua_respond.c): a JSON answer without a Lua string */
int luaopen_pikku_schema_c(lua_State *L);   /* pikku.schema_c (lua_schema.c): JSON Schema validators */
int luaopen_pikku_crypto_c(lua_State *L);   /* pikku.crypto_c (lua_crypto.c): hashes, HMAC, random */
int luaopen_pikku_status_c(lua_State *L);   /* pikku.status_c (lua_status.c): HTTP statuses, error names */
int luaopen_pikku_outbound_c(lua_State *L); /* pikku.outbound_c (outbound.c): waiters for pooled resources */
int luaopen_pikku_http_c(lua_State *L);     /* pikku.http_c (lua_http_client.c): outbound HTTP on libcurl */
int luaopen_pikku_redis_c(lua_State *L);    /* pikku.redis_c (lua_redis.c): Redis connections on hiredis */
int luaopen_pikku_pg_c(lua_State *L);       /* pikku.pg_c (lua_pg.c): PostgreSQL connections on libpq */
int luaopen_pikku_socket_c(lua_State *L);   /* pikku.socket_c (lua_socket.c): TCP/TLS for cosocket drivers */
int luaopen_pikku_guard_c(lua_State *L);    /* pikku.guard_c (lua_guard.c): memory, worker replacement */
int luaopen_pikku_native_c(lua_State *L);   /* pikku.native_c (lua_native.c): app libraries, native functions */
int luaopen_pikku_jobs_c(lua_State *L);     /* pikku.jobs_c (lua_jobs.c): job requests to the master, cron checks */
int luaopen_pikku_job_store_c(lua_State *L); /* pikku.job_store_c (lua_job_store.c): pikku test's in-memory job store */
int luaopen_pikku_serve_c(lua_State *L);    /* pikku.serve_c (lua_serve.c): route settings, static directories */
int luaopen_pikku_stream_c(lua_State *L);   /* pikku.stream_c (lua_stream.c): streamed responses, files as answers */
/* lua-cjson (linked in statically; its package ships no header) */
int luaopen_cjson(lua_State *L);
int luaopen_cjson_safe(lua_State *L);

/* Puts each module of list (a table of them, ending in {NULL, NULL}) in package.preload: it opens
 * at its first require. */
static inline void pk__lua_preload(lua_State *L, const luaL_Reg *list) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "preload");
  for (const luaL_Reg *m = list; m->name; m++) {
    lua_pushcfunction(L, m->func);
    lua_setfield(L, -2, m->name);
  }
  lua_pop(L, 2);
}
#endif
