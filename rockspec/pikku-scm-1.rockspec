-- LuaRocks rockspec installing the Pikku for Lua modules (lua/pikku/*.lua).
rockspec_format = "3.0"
package = "pikku"
version = "scm-1"
source = {
  url = "git+file://.",
}
description = {
  summary = "Lua API of Pikku for Lua: functions wired to HTTP, run by the pikku C host",
  detailed = [[
The modules an app's app.lua requires (pikku, pikku.errors, ...) and the runtime the
pikku host (C + LuaJIT) loads. lua-cjson and the C modules (pikku.core, pikku.json_c,
pikku.schema_c, pikku.crypto_c) are provided by the host.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
build = {
  type = "builtin",
  modules = {
    ["pikku.api_docs"] = "lua/pikku/api_docs.lua",
    ["pikku.app_loader"] = "lua/pikku/app_loader.lua",
    ["pikku.builtin_services"] = "lua/pikku/builtin_services.lua",
    ["pikku.channel"] = "lua/pikku/channel.lua",
    ["pikku.channel_core"] = "lua/pikku/channel_core.lua",
    ["pikku.channel_fake"] = "lua/pikku/channel_fake.lua",
    ["pikku.channel_transport"] = "lua/pikku/channel_transport.lua",
    ["pikku.codegen"] = "lua/pikku/codegen/init.lua",
    ["pikku.codegen.check"] = "lua/pikku/codegen/check.lua",
    ["pikku.codegen.json_out"] = "lua/pikku/codegen/json_out.lua",
    ["pikku.codegen.lua_client"] = "lua/pikku/codegen/lua_client.lua",
    ["pikku.codegen.lua_runtime"] = "lua/pikku/codegen/lua_runtime.lua",
    ["pikku.codegen.names"] = "lua/pikku/codegen/names.lua",
    ["pikku.codegen.openapi"] = "lua/pikku/codegen/openapi.lua",
    ["pikku.codegen.routes_table"] = "lua/pikku/codegen/routes_table.lua",
    ["pikku.codegen.schema_out"] = "lua/pikku/codegen/schema_out.lua",
    ["pikku.codegen.ts_client"] = "lua/pikku/codegen/ts_client.lua",
    ["pikku.codegen.ts_runtime"] = "lua/pikku/codegen/ts_runtime.lua",
    ["pikku.codegen.ts_types"] = "lua/pikku/codegen/ts_types.lua",
    ["pikku.cookie_session"] = "lua/pikku/cookie_session.lua",
    ["pikku.cors"] = "lua/pikku/cors.lua",
    ["pikku.describe"] = "lua/pikku/describe.lua",
    ["pikku.errors"] = "lua/pikku/errors.lua",
    ["pikku.eventhub"] = "lua/pikku/eventhub.lua",
    ["pikku.fields"] = "lua/pikku/fields.lua",
    ["pikku.gc_headroom"] = "lua/pikku/gc_headroom.lua",
    ["pikku.host"] = "lua/pikku/host.lua",
    ["pikku.http"] = "lua/pikku/http.lua",
    ["pikku.http_stream"] = "lua/pikku/http_stream.lua",
    ["pikku"] = "lua/pikku/init.lua",
    ["pikku.inprocess"] = "lua/pikku/inprocess.lua",
    ["pikku.json"] = "lua/pikku/json.lua",
    ["pikku.jobs"] = "lua/pikku/jobs.lua",
    ["pikku.jobs_testing"] = "lua/pikku/jobs_testing.lua",
    ["pikku.jwt"] = "lua/pikku/jwt.lua",
    ["pikku.password"] = "lua/pikku/password.lua",
    ["pikku.pipeline"] = "lua/pikku/pipeline.lua",
    ["pikku.queue_service"] = "lua/pikku/queue_service.lua",
    ["pikku.request_data"] = "lua/pikku/request_data.lua",
    ["pikku.request_handle"] = "lua/pikku/request_handle.lua",
    ["pikku.runtime"] = "lua/pikku/runtime.lua",
    ["pikku.schema"] = "lua/pikku/schema.lua",
    ["pikku.http_client"] = "lua/pikku/http_client.lua",
    ["pikku.loop_guard"] = "lua/pikku/loop_guard.lua",
    ["pikku.call_guard"] = "lua/pikku/call_guard.lua",
    ["pikku.native"] = "lua/pikku/native.lua",
    ["pikku.outbound"] = "lua/pikku/outbound.lua",
    ["pikku.outbound_api"] = "lua/pikku/outbound_api.lua",
    ["pikku.pg"] = "lua/pikku/pg.lua",
    ["pikku.redis"] = "lua/pikku/redis.lua",
    ["pikku.secret_file"] = "lua/pikku/secret_file.lua",
    ["pikku.secrets"] = "lua/pikku/secrets.lua",
    ["pikku.socket"] = "lua/pikku/socket.lua",
    ["pikku.sqlite"] = "lua/pikku/sqlite.lua",
    ["pikku.static"] = "lua/pikku/static.lua",
    ["pikku.trace"] = "lua/pikku/trace.lua",
    ["pikku.testing"] = "lua/pikku/testing.lua",
    ["pikku.wire_jobs"] = "lua/pikku/wire_jobs.lua",
  },
}
