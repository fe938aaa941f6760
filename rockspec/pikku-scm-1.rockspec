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
pikku host (C + LuaJIT) loads. lua-cjson and pikku.core are provided by the host.
]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.1",
}
build = {
  type = "builtin",
  modules = {
    ["pikku"] = "lua/pikku/init.lua",
    ["pikku.errors"] = "lua/pikku/errors.lua",
    ["pikku.http"] = "lua/pikku/http.lua",
    ["pikku.runtime"] = "lua/pikku/runtime.lua",
  },
}
